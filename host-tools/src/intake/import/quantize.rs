//! QUANTIZE and DEQUANTIZE: float32 to int8 at the graph input, int8 to int8 (a rescale), and
//! int8 to float32 at the graph output. TFLM prepares them in `quantize_common.cc` and
//! `dequantize_common.cc` (`tensorflow/lite/micro/kernels/`).

use anyhow::{Result, bail, ensure};
use mote::format::{Clamp, DType, Op, Rescale, Scaled, Unary};

use super::{Importer, OpCx, multiplier};
use crate::intake::tflite::Operator;

impl<'m, 'a> Importer<'m, 'a> {
    /// QUANTIZE: float32 to int8, or int8 to int8 (`Requantize`).
    pub(super) fn quantize(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input(cx, op, 0)?;
        let output = self.output(cx, op)?;
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input and output differ in size"
        );
        // TFLM `PrepareQuantizeReference`: `scale_in / scale_out` in double.
        let requantize = || {
            multiplier(
                cx,
                f64::from(input.scale) / f64::from(output.scale),
                "requantize",
            )
        };
        match (input.dtype, output.dtype) {
            (DType::F32, DType::I8 | DType::I16) => Ok(Op::Quantize(Unary {
                input: input.id,
                output: output.id,
            })),
            (DType::I8, DType::I8) => Ok(Op::Rescale(Rescale {
                input: input.id,
                output: output.id,
                multiplier: requantize()?,
                clamp: Clamp::NONE,
            })),
            (DType::U8, DType::I8)
            | (DType::I8, DType::U8)
            | (DType::I16, DType::I8 | DType::I16)
            | (DType::I8, DType::I16) => Ok(Op::Requantize(Scaled {
                input: input.id,
                output: output.id,
                multiplier: requantize()?,
            })),
            (from, to) => bail!(
                "{cx}: QUANTIZE from {from:?} to {to:?} is not supported (float32, uint8, int8 or \
                 int16 to int8; float32, int8 or int16 to int16; int8 to uint8)"
            ),
        }
    }

    /// DEQUANTIZE: int8 (or int16) to float32.
    pub(super) fn dequantize(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let output = self.output(cx, op)?;
        ensure!(
            output.dtype == DType::F32,
            "{cx}: only dequantization to float32 is supported"
        );
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input and output differ in size"
        );
        Ok(Op::Dequantize(Unary {
            input: input.id,
            output: output.id,
        }))
    }
}
