//! MEAN, SUM, REDUCE_MAX and REDUCE_MIN over any axes of a tensor of up to four dimensions,
//! and ARG_MAX, ARG_MIN along one. TFLM prepares them in
//! `tensorflow/lite/micro/kernels/reduce_common.cc` and `arg_min_max.cc`.

use anyhow::{Result, anyhow, ensure};
use mote::format::{ArgMinMax, DType, MAX_RANK, Multiplier, Op, Reduce, ReduceKind};

use super::{Importer, OpCx, int_values, multiplier, same_quantization, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{BuiltinOperator as B, TensorType};

impl<'m, 'a> Importer<'m, 'a> {
    /// ARG_MAX and ARG_MIN (TFLM `ArgMinMaxEval`): a constant int32 axis and an int32 output
    /// (TFLM fails its invocations otherwise); raw values compared, the first index wins ties.
    pub(super) fn arg_min_max(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let axis_t = self.constant(cx, op, 1)?;
        let out_type = op
            .outputs
            .first()
            .map(|&t| self.sg.tensors[t].dtype)
            .ok_or_else(|| anyhow!("{cx}: no output"))?;
        ensure!(
            out_type == TensorType::INT32,
            "{cx}: the output is {}; TFLM supports only int32 indices (tf.argmax writes int64 \
             unless given output_type=tf.int32)",
            type_name(out_type)
        );
        ensure!(
            axis_t.dtype == TensorType::INT32 && axis_t.elements() == Some(1),
            "{cx}: the axis must be one int32 value (got {} of shape {:?})",
            type_name(axis_t.dtype),
            axis_t.shape
        );
        let output = self.output(cx, op)?;
        ensure!(output.dtype == DType::I32, "{cx}: the output must be int32");
        let rank = input.shape.len();
        let a = int_values(cx, axis_t, "axis")?[0];
        let axis = usize::try_from(if a < 0 { a + rank as i32 } else { a })
            .ok()
            .filter(|&d| d < rank)
            .ok_or_else(|| anyhow!("{cx}: axis {a} is out of range for rank {rank}"))?;
        let mut kept = input.shape.clone();
        kept.remove(axis);
        ensure!(
            output.shape == kept,
            "{cx}: output shape {:?} is not input shape {:?} without axis {axis}",
            output.shape,
            input.shape
        );
        Ok(Op::ArgMinMax(ArgMinMax {
            input: input.id,
            output: output.id,
            axis: axis as u8,
            max: op.builtin == B::ARG_MAX,
        }))
    }

    /// MEAN and SUM (TFLM: `QuantizeMultiplier(input_scale / output_scale)` in double), and
    /// REDUCE_MAX and REDUCE_MIN (input and output must share quantization: TFLM refuses them
    /// otherwise, at its first invoke). keep_dims only shapes the output.
    pub(super) fn reduce(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let axes = self.constant(cx, op, 1)?;
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            input.dtype == DType::I8 || op.builtin == B::MEAN,
            "{cx}: this reduction of int16 values is not supported yet (MEAN is)"
        );
        let rank = input.shape.len();
        ensure!(
            axes.dtype == TensorType::INT32,
            "{cx}: axes must be int32, not {}",
            type_name(axes.dtype)
        );
        // Negative axes count from the end; repeats count once (TFLM's `ResolveAxis`).
        let mut mask = 0u8;
        for a in int_values(cx, axes, "axes")? {
            let axis = usize::try_from(if a < 0 { a + rank as i32 } else { a })
                .ok()
                .filter(|&d| d < rank)
                .ok_or_else(|| {
                    anyhow!("{cx}: axis {a} is outside the input's {rank} dimensions")
                })?;
            mask |= 1 << axis;
        }
        // The runtime merges neighbouring dimensions both kept or both reduced: at most four
        // such runs remain (five dimensions alternating kept and reduced do not).
        let runs = 1
            + (1..rank)
                .filter(|&d| (mask >> d) & 1 != (mask >> (d - 1)) & 1)
                .count();
        ensure!(
            runs <= MAX_RANK,
            "{cx}: reducing axes {mask:#b} of {:?} alternates five times; at most four \
             alternating runs of dimensions are supported",
            input.shape
        );
        let kept: usize = (0..rank)
            .filter(|d| mask & (1 << d) == 0)
            .map(|d| input.shape[d])
            .product();
        ensure!(
            output.elements() == kept,
            "{cx}: output shape {:?} does not hold the kept dimensions of {:?}",
            output.shape,
            input.shape
        );
        let kind = match op.builtin {
            B::MEAN => ReduceKind::Mean,
            B::SUM => ReduceKind::Sum,
            B::REDUCE_MAX => ReduceKind::Max,
            _ => ReduceKind::Min,
        };
        let multiplier = match kind {
            ReduceKind::Mean | ReduceKind::Sum => {
                let real = f64::from(input.scale) / f64::from(output.scale);
                multiplier(cx, real, "output")?
            }
            ReduceKind::Max | ReduceKind::Min => {
                same_quantization(cx, &input, &output)?;
                Multiplier {
                    multiplier: 1 << 30,
                    shift: 1,
                }
            }
        };
        Ok(Op::Reduce(Reduce {
            input: input.id,
            output: output.id,
            kind,
            axes: mask,
            multiplier,
        }))
    }
}
