//! ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and PRELU with broadcasting.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{Add, Binary, DType, Mul, Multiplier, Prelu, TensorDef, TensorId};
use crate::kernels::reference::{self, AddParams, Broadcast, MulParams, PreluParams};
use crate::kernels::{self, Scratch, as_i8, as_i8_mut};

/// Largest ADD `left_shift`: with it, `(x - zp) << left_shift` and the sum of two such
/// values (scaled down by multipliers below 1) stay inside i32, as TFLite's 20 does.
const MAX_LEFT_SHIFT: u8 = 22;

/// The three int8 tensors of a binary operator broadcast ([`Cx::broadcast`]).
fn check_operands(
    cx: &Cx<'_, '_>,
    input1: TensorId,
    input2: TensorId,
    output: TensorId,
) -> Result<(), Error> {
    cx.broadcast([input1, input2, output], [DType::I8; 3])
        .map(|_| ())
}

/// The broadcast of two validated inputs.
fn broadcast(cx: &Cx<'_, '_>, a: &TensorDef, b: &TensorDef) -> Result<Broadcast, Error> {
    Broadcast::new(&a.shape, &b.shape).ok_or(cx.shape_err())
}

/// A `MultiplyByQuantizedMultiplierSmallerThanOneExp` multiplier: shift in `-31..=0`.
fn check_smaller_than_one(cx: &Cx<'_, '_>, m: Multiplier) -> Result<(), Error> {
    cx.check_multiplier(m)?;
    cx.check_param(m.shift <= 0)
}

pub(super) fn validate_add(cx: &Cx<'_, '_>, o: &Add) -> Result<(), Error> {
    check_operands(cx, o.input1, o.input2, o.output)?;
    cx.check_param(o.left_shift <= MAX_LEFT_SHIFT)?;
    check_smaller_than_one(cx, o.input1_multiplier)?;
    check_smaller_than_one(cx, o.input2_multiplier)?;
    check_smaller_than_one(cx, o.output_multiplier)?;
    cx.check_clamp(o.clamp)
}

pub(super) fn scratch_add(cx: &Cx<'_, '_>, o: &Add) -> Result<usize, Error> {
    let (a, b) = (cx.tensor(o.input1)?, cx.tensor(o.input2)?);
    let n = cx.tensor(o.output)?.elements().unwrap_or(0);
    Ok(kernels::scratch::add(&broadcast(cx, &a, &b)?, n))
}

pub(super) fn eval_add(
    cx: &Cx<'_, '_>,
    o: &Add,
    arena: &mut [u8],
    scratch: Scratch<'_>,
) -> Result<(), Error> {
    let (a, b) = (cx.tensor(o.input1)?, cx.tensor(o.input2)?);
    let output = cx.tensor(o.output)?;
    let bc = broadcast(cx, &a, &b)?;
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    let p = add_params(o, &a, &b, &output);
    kernels::add(&bc, as_i8(x), as_i8(y), &p, as_i8_mut(out), scratch);
    Ok(())
}

/// The kernel parameters of ADD, SUB and SQUARED_DIFFERENCE.
fn add_params(o: &Add, a: &TensorDef, b: &TensorDef, output: &TensorDef) -> AddParams {
    AddParams {
        input1_zp: a.zero_point,
        input2_zp: b.zero_point,
        output_zp: output.zero_point,
        left_shift: o.left_shift,
        input1_multiplier: o.input1_multiplier,
        input2_multiplier: o.input2_multiplier,
        output_multiplier: o.output_multiplier,
        clamp: o.clamp,
    }
}

/// SUB and SQUARED_DIFFERENCE: the reference kernel `f` over ADD's parameters.
pub(super) fn eval_with_add_params(
    cx: &Cx<'_, '_>,
    o: &Add,
    arena: &mut [u8],
    f: fn(&Broadcast, &[i8], &[i8], &AddParams, &mut [i8]),
) -> Result<(), Error> {
    let (a, b) = (cx.tensor(o.input1)?, cx.tensor(o.input2)?);
    let output = cx.tensor(o.output)?;
    let bc = broadcast(cx, &a, &b)?;
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    let p = add_params(o, &a, &b, &output);
    f(&bc, as_i8(x), as_i8(y), &p, as_i8_mut(out));
    Ok(())
}

/// SQUARED_DIFFERENCE: as ADD's checks, but the output multiplier may scale up (the squared
/// difference of two scaled inputs is requantized with `MultiplyByQuantizedMultiplier`) and
/// the left shift is at most 7, which keeps the square inside i32.
pub(super) fn validate_squared_difference(cx: &Cx<'_, '_>, o: &Add) -> Result<(), Error> {
    check_operands(cx, o.input1, o.input2, o.output)?;
    cx.check_param(o.left_shift <= 7)?;
    check_smaller_than_one(cx, o.input1_multiplier)?;
    check_smaller_than_one(cx, o.input2_multiplier)?;
    cx.check_multiplier(o.output_multiplier)?;
    cx.check_clamp(o.clamp)
}

/// MAXIMUM and MINIMUM: three tensors of one type, int8 or (16x8) int16, that broadcast (the
/// quantization is not looked at, as TFLM does not).
pub(super) fn validate_min_max(cx: &Cx<'_, '_>, o: &Binary) -> Result<(), Error> {
    let wide = cfg!(feature = "int16") && cx.tensor(o.output)?.dtype == DType::I16;
    let t = if wide { DType::I16 } else { DType::I8 };
    cx.broadcast([o.input1, o.input2, o.output], [t; 3])
        .map(|_| ())
}

/// MAXIMUM (`max`) or MINIMUM of the raw values, as TFLM compares them.
pub(super) fn eval_min_max(
    cx: &Cx<'_, '_>,
    o: &Binary,
    arena: &mut [u8],
    max: bool,
) -> Result<(), Error> {
    let (a, b) = (cx.tensor(o.input1)?, cx.tensor(o.input2)?);
    let output = cx.tensor(o.output)?;
    let bc = broadcast(cx, &a, &b)?;
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    if output.dtype == DType::I16 {
        let pick = |x: [u8; 2], y: [u8; 2]| {
            let (p, q) = (i16::from_le_bytes(x), i16::from_le_bytes(y));
            (if max { p.max(q) } else { p.min(q) }).to_le_bytes()
        };
        let (x, y) = (x.as_chunks::<2>().0, y.as_chunks::<2>().0);
        bc.map(x, y, out.as_chunks_mut::<2>().0, pick);
    } else if max {
        reference::maximum(&bc, as_i8(x), as_i8(y), as_i8_mut(out));
    } else {
        reference::minimum(&bc, as_i8(x), as_i8(y), as_i8_mut(out));
    }
    Ok(())
}

/// PRELU: input and alpha broadcast like the operands of a binary operator.
/// PRELU: int8 throughout, or (16x8) int16 input and output with an int8 alpha.
pub(super) fn validate_prelu(cx: &Cx<'_, '_>, o: &Prelu) -> Result<(), Error> {
    let wide = cfg!(feature = "int16") && cx.tensor(o.input)?.dtype == DType::I16;
    let t = if wide { DType::I16 } else { DType::I8 };
    cx.broadcast([o.input, o.alpha, o.output], [t, DType::I8, t])?;
    cx.check_multiplier(o.positive)?;
    cx.check_multiplier(o.negative)
}

pub(super) fn eval_prelu(cx: &Cx<'_, '_>, o: &Prelu, arena: &mut [u8]) -> Result<(), Error> {
    let (i, a) = (cx.tensor(o.input)?, cx.tensor(o.alpha)?);
    let output = cx.tensor(o.output)?;
    let bc = broadcast(cx, &i, &a)?;
    let (out, [x, alpha]) = operands(arena, &output, [&i, &a])?;
    let p = PreluParams {
        input_zp: i.zero_point,
        alpha_zp: a.zero_point,
        output_zp: output.zero_point,
        positive: o.positive,
        negative: o.negative,
    };
    if i.dtype == DType::I16 {
        let (x, out) = (x.as_chunks::<2>().0, out.as_chunks_mut::<2>().0);
        reference::prelu_16(&bc, x, as_i8(alpha), &p, out);
    } else {
        reference::prelu(&bc, as_i8(x), as_i8(alpha), &p, as_i8_mut(out));
    }
    Ok(())
}

pub(super) fn validate_mul(cx: &Cx<'_, '_>, o: &Mul) -> Result<(), Error> {
    check_operands(cx, o.input1, o.input2, o.output)?;
    cx.check_multiplier(o.output_multiplier)?;
    cx.check_clamp(o.clamp)
}

pub(super) fn eval_mul(cx: &Cx<'_, '_>, o: &Mul, arena: &mut [u8]) -> Result<(), Error> {
    let (a, b) = (cx.tensor(o.input1)?, cx.tensor(o.input2)?);
    let output = cx.tensor(o.output)?;
    let bc = broadcast(cx, &a, &b)?;
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    let p = MulParams {
        input1_zp: a.zero_point,
        input2_zp: b.zero_point,
        output_zp: output.zero_point,
        output_multiplier: o.output_multiplier,
        clamp: o.clamp,
    };
    reference::mul(&bc, as_i8(x), as_i8(y), &p, as_i8_mut(out));
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::harness::{T, run};
    use crate::error::Error;
    use crate::format::{Add, Binary, Clamp, Mul, Multiplier, Op, Prelu, Scaled};
    use std::vec::Vec;

    fn m(multiplier: i32, shift: i8) -> Multiplier {
        Multiplier { multiplier, shift }
    }

    /// PRELU with a per-channel alpha broadcast over rows (every scale 0.5: the identity for
    /// `x >= zp`, `x * alpha / 2` below), and its shape check.
    #[test]
    fn prelu_broadcasts_alpha_and_rejects_bad_shapes() {
        let op = Op::Prelu(Prelu {
            input: 0,
            alpha: 1,
            output: 2,
            positive: m(1 << 30, 1),
            negative: m(1 << 30, 0),
        });
        let io: [T<'_>; 3] = [(&[1, 2, 2], 1), (&[2], 0), (&[1, 2, 2], -1)];
        let out = run(&io, op.clone(), &[&[7, -5, 1, -9], &[2, -4]]).unwrap();
        // (x - 1) where x >= 1, else (x - 1) * alpha / 2; then + (-1).
        assert_eq!(out, [5, 11, -1, 19]);
        let io: [T<'_>; 3] = [(&[1, 2, 2], 1), (&[3], 0), (&[1, 2, 2], -1)];
        assert_eq!(
            run(&io, op, &[&[0; 4], &[0; 3]]),
            Err(Error::ShapeMismatch { op: 0 })
        );
    }

    /// RSQRT below the zero point fails the invocation, as in TFLM.
    #[test]
    fn rsqrt_below_the_zero_point_is_an_error() {
        let op = Op::Rsqrt(Scaled {
            input: 0,
            output: 1,
            multiplier: m(1 << 30, 0),
        });
        let io: [T<'_>; 2] = [(&[3], 0), (&[3], 0)];
        assert!(run(&io, op.clone(), &[&[4, 1, 0]]).is_ok());
        assert_eq!(
            run(&io, op, &[&[4, -1, 0]]),
            Err(Error::OutOfDomain { op: 0 })
        );
    }

    /// Equal scales: the output is `(x1 - zp1) + (x2 - zp2) + zp_out`.
    fn add(left_shift: u8, output_shift: i8) -> Op<'static> {
        Op::Add(Add {
            input1: 0,
            input2: 1,
            output: 2,
            left_shift,
            input1_multiplier: m(1 << 30, 0),
            input2_multiplier: m(1 << 30, 0),
            output_multiplier: m(1 << 30, output_shift),
            clamp: Clamp::NONE,
        })
    }

    fn mul() -> Op<'static> {
        Op::Mul(Mul {
            input1: 0,
            input2: 1,
            output: 2,
            output_multiplier: m(1 << 30, 1),
            clamp: Clamp::NONE,
        })
    }

    #[test]
    fn add_and_mul_broadcast() {
        let x: Vec<i8> = (0..12).collect();
        let io: [T<'_>; 3] = [(&[1, 2, 2, 3], 0), (&[3], 1), (&[1, 2, 2, 3], -1)];
        let out = run(&io, add(20, -18), &[&x, &[101, 1, -99]]);
        assert_eq!(
            out,
            Ok(std::vec![99, 0, -99, 102, 3, -96, 105, 6, -93, 108, 9, -90])
        );
        let io: [T<'_>; 3] = [(&[1], 2), (&[2, 3], 0), (&[2, 3], 0)];
        let out = run(&io, mul(), &[&[5], &[0, 1, 2, -3, 50, -50]]);
        assert_eq!(out, Ok(std::vec![0, 3, 6, -9, 127, -128]));
    }

    #[test]
    fn sub_min_max_and_squared_difference_run_and_reject() {
        let io: [T<'_>; 3] = [(&[1, 4], 0), (&[4], 0), (&[1, 4], 0)];
        let (x, y): ([i8; 4], [i8; 4]) = ([10, -5, 127, 0], [3, 3, -128, 0]);
        let binary = Binary {
            input1: 0,
            input2: 1,
            output: 2,
        };
        assert_eq!(
            run(&io, Op::Maximum(binary), &[&x, &y]),
            Ok(std::vec![10, 3, 127, 0])
        );
        assert_eq!(
            run(&io, Op::Minimum(binary), &[&x, &y]),
            Ok(std::vec![3, -5, -128, 0])
        );
        let Op::Add(params) = add(20, -18) else {
            unreachable!()
        };
        assert_eq!(
            run(&io, Op::Sub(params), &[&x, &y]),
            Ok(std::vec![7, -8, 127, 0])
        );
        // (x - y)² at equal scales: each side 2^7 / 2 (the common scale), the square back by
        // 2^-12.
        let sq = Add {
            left_shift: 7,
            output_multiplier: m(1 << 30, -11),
            ..params
        };
        assert_eq!(
            run(&io, Op::SquaredDifference(sq), &[&x, &y]),
            Ok(std::vec![49, 64, 127, 0])
        );
        let param = Err(Error::BadParameter { op: 0 });
        let too_far = Add {
            left_shift: 8,
            ..sq
        };
        assert_eq!(run(&io, Op::SquaredDifference(too_far), &[&x, &y]), param);
        let io: [T<'_>; 3] = [(&[1, 4], 0), (&[3], 0), (&[1, 4], 0)];
        let shape = Err(Error::ShapeMismatch { op: 0 });
        assert_eq!(run(&io, Op::Maximum(binary), &[&x, &y[..3]]), shape);
    }

    #[test]
    fn add_and_mul_reject() {
        let shape = Err(Error::ShapeMismatch { op: 0 });
        let param = Err(Error::BadParameter { op: 0 });
        let (a, b) = ([0i8; 6], [0i8; 6]);
        // incompatible shapes; output not the broadcast shape
        let io: [T<'_>; 3] = [(&[2, 3], 0), (&[3, 2], 0), (&[2, 3], 0)];
        assert_eq!(run(&io, add(20, -18), &[&a, &b]), shape);
        let io: [T<'_>; 3] = [(&[2, 3], 0), (&[1, 3], 0), (&[6], 0)];
        assert_eq!(run(&io, mul(), &[&a, &b[..3]]), shape);
        let io: [T<'_>; 3] = [(&[2, 3], 0), (&[1, 3], 0), (&[2, 3], 0)];
        assert!(run(&io, add(20, -18), &[&a, &b[..3]]).is_ok());
        // left shift too large; a multiplier above one
        assert_eq!(run(&io, add(23, -18), &[&a, &b[..3]]), param);
        assert_eq!(run(&io, add(20, 1), &[&a, &b[..3]]), param);
        // zero point outside int8: refused with the tensor
        let io: [T<'_>; 3] = [(&[2, 3], 0), (&[1, 3], -129), (&[2, 3], 0)];
        assert_eq!(run(&io, mul(), &[&a, &b[..3]]), Err(Error::BadTensor(1)));
    }
}
