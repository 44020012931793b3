//! MEAN over the spatial axes of an NHWC tensor. TFLM prepares it in
//! `tensorflow/lite/micro/kernels/reduce_common.cc`.

use anyhow::{Result, ensure};
use mote::format::{Mean, Op};

use super::{Importer, OpCx, multiplier, nhwc, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::TensorType;

impl<'m, 'a> Importer<'m, 'a> {
    /// MEAN over the spatial axes of an NHWC tensor (TFLM: `QuantizeMultiplier(input_scale /
    /// output_scale)` in double).
    pub(super) fn mean(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let keep_dims = op
            .raw
            .builtin_options_as_reducer_options()
            .is_some_and(|o| o.keep_dims());
        let input = self.input_i8(cx, op, 0)?;
        let axes = self.constant(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        let [n, _, _, c] = nhwc(cx, &input, "input")?;
        ensure!(
            axes.dtype == TensorType::INT32,
            "{cx}: axes must be int32, not {}",
            type_name(axes.dtype)
        );
        let mut axis: Vec<i32> = axes
            .data
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|b| {
                let a = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if a < 0 { a + 4 } else { a }
            })
            .collect();
        axis.sort_unstable();
        axis.dedup();
        ensure!(
            axis == [1, 2],
            "{cx}: only the mean over axes 1 and 2 (height and width) is supported"
        );
        let want: &[usize] = if keep_dims { &[n, 1, 1, c] } else { &[n, c] };
        ensure!(
            output.shape == want,
            "{cx}: output shape {:?}, expected {want:?}",
            output.shape
        );
        let real = f64::from(input.scale) / f64::from(output.scale);
        Ok(Op::Mean(Mean {
            input: input.id,
            output: output.id,
            multiplier: multiplier(cx, real, "output")?,
        }))
    }
}
