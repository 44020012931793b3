//! AVERAGE_POOL_2D and MAX_POOL_2D: the window, and input and output sharing one quantization.
//! TFLM prepares them in `tensorflow/lite/micro/kernels/pooling_common.cc`.

use anyhow::{Result, anyhow, ensure};
use mote::format::{DType, Op, Pool2d, Pool16};

use super::{
    Importer, OpCx, fused_clamp, fused_clamp16, nhwc, positive, same_quantization, window,
};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::BuiltinOperator as B;

impl<'m, 'a> Importer<'m, 'a> {
    /// AVERAGE_POOL_2D and MAX_POOL_2D (TFLM `PoolingPrepare`).
    pub(super) fn pool(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_pool_2_doptions()
            .ok_or_else(|| anyhow!("{cx}: Pool2DOptions are missing"))?;
        let input = self.input_8_or_16(cx, op, 0)?;
        let output = self.output_like(cx, op, &input)?;
        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        ensure!(
            n == on && in_c == out_c,
            "{cx}: input {:?} and output {:?} do not match",
            input.shape,
            output.shape
        );
        // TFLM accepts scales within 1e-6 of each other and then ignores the output's; mote's
        // pools do not rescale either, so the two must be the same.
        same_quantization(cx, &input, &output)?;
        let filter = [
            positive(cx, o.filter_height(), "filter height")?,
            positive(cx, o.filter_width(), "filter width")?,
        ];
        let window = window(
            cx,
            o.padding(),
            [in_h, in_w],
            [out_h, out_w],
            filter,
            [o.stride_h(), o.stride_w()],
            [1, 1],
        )?;
        if input.dtype == DType::I16 {
            let pool = Pool16 {
                input: input.id,
                output: output.id,
                window,
                clamp: fused_clamp16(cx, o.fused_activation_function(), &output)?,
            };
            return Ok(if op.builtin == B::AVERAGE_POOL_2D {
                Op::AveragePool16(pool)
            } else {
                Op::MaxPool16(pool)
            });
        }
        let pool = Pool2d {
            input: input.id,
            output: output.id,
            window,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        };
        Ok(if op.builtin == B::AVERAGE_POOL_2D {
            Op::AveragePool2d(pool)
        } else {
            Op::MaxPool2d(pool)
        })
    }
}
