//! ADD and MUL, with broadcasting: the input and output multipliers. TFLM prepares them in
//! `add_common.cc` and `mul_common.cc` (`tensorflow/lite/micro/kernels/`).

use anyhow::{Result, ensure};
use mote::format::{Add, Mul, Multiplier, Op};

use super::{Act, Importer, OpCx, fused_clamp, multiplier};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::ActivationFunctionType;

impl<'m, 'a> Importer<'m, 'a> {
    /// ADD (TFLM `CalculateOpDataAdd`, int8: left shift 20).
    pub(super) fn add(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_add_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        let a = self.operand_i8(cx, op, 0)?;
        let b = self.operand_i8(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        check_broadcast(cx, &a, &b, &output)?;
        const LEFT_SHIFT: u8 = 20;
        // `std::max` of the two float scales, widened, doubled.
        let twice_max = 2.0 * f64::from(a.scale.max(b.scale));
        let real1 = f64::from(a.scale) / twice_max;
        let real2 = f64::from(b.scale) / twice_max;
        let real_out = twice_max / (f64::from(1u32 << LEFT_SHIFT) * f64::from(output.scale));
        Ok(Op::Add(Add {
            input1: a.id,
            input2: b.id,
            output: output.id,
            left_shift: LEFT_SHIFT,
            input1_multiplier: smaller_than_one(cx, real1, "input 1")?,
            input2_multiplier: smaller_than_one(cx, real2, "input 2")?,
            output_multiplier: smaller_than_one(cx, real_out, "output")?,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }

    /// MUL (TFLM `CalculateOpDataMul`: the scale product in double).
    pub(super) fn mul(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_mul_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        let a = self.operand_i8(cx, op, 0)?;
        let b = self.operand_i8(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        check_broadcast(cx, &a, &b, &output)?;
        let real = f64::from(a.scale) * f64::from(b.scale) / f64::from(output.scale);
        Ok(Op::Mul(Mul {
            input1: a.id,
            input2: b.id,
            output: output.id,
            output_multiplier: multiplier(cx, real, "output")?,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }
}

/// NumPy broadcasting of two inputs to the output shape, at most 4 dimensions.
fn check_broadcast(cx: &OpCx, a: &Act, b: &Act, out: &Act) -> Result<()> {
    let rank = a.shape.len().max(b.shape.len());
    let dim = |s: &[usize], d: usize| {
        let lead = rank - s.len();
        if d < lead { 1 } else { s[d - lead] }
    };
    let mut want = Vec::with_capacity(rank);
    for d in 0..rank {
        let (x, y) = (dim(&a.shape, d), dim(&b.shape, d));
        ensure!(
            x == y || x == 1 || y == 1,
            "{cx}: input shapes {:?} and {:?} do not broadcast",
            a.shape,
            b.shape
        );
        want.push(x.max(y));
    }
    ensure!(
        want.iter().product::<usize>() == out.elements()
            && out
                .shape
                .iter()
                .rev()
                .zip(want.iter().rev())
                .all(|(o, w)| o == w),
        "{cx}: output shape {:?} is not the broadcast of {:?} and {:?}",
        out.shape,
        a.shape,
        b.shape
    );
    Ok(())
}

/// `QuantizeMultiplierSmallerThanOneExp`: TFLM aborts unless `0 < real < 1`.
fn smaller_than_one(cx: &OpCx, real: f64, what: &str) -> Result<Multiplier> {
    ensure!(
        real > 0.0 && real < 1.0,
        "{cx}: the {what} multiplier {real} is not in (0, 1), which TFLM's int8 ADD requires"
    );
    multiplier(cx, real, what)
}
