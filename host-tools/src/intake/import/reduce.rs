//! MEAN, SUM, REDUCE_MAX and REDUCE_MIN over any axes of a tensor of up to four dimensions.
//! TFLM prepares them in `tensorflow/lite/micro/kernels/reduce_common.cc`.

use anyhow::{Result, anyhow, ensure};
use mote::format::{Multiplier, Op, Reduce, ReduceKind};

use super::{Importer, OpCx, int_values, multiplier, same_quantization, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{BuiltinOperator as B, TensorType};

impl<'m, 'a> Importer<'m, 'a> {
    /// MEAN and SUM (TFLM: `QuantizeMultiplier(input_scale / output_scale)` in double), and
    /// REDUCE_MAX and REDUCE_MIN (input and output must share quantization: TFLM refuses them
    /// otherwise, at its first invoke). keep_dims only shapes the output.
    pub(super) fn reduce(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let axes = self.constant(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
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
