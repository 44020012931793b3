//! LOGISTIC, TANH, LEAKY_RELU and HARD_SWISH: int8 elementwise activations with their own
//! fixed-point parameters (see `kernels::reference::{sigmoid, activations}`).

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{DType, HardSwish, LeakyRelu, Sigmoidal, TensorDef, TensorId};
use crate::kernels::{as_i8, as_i8_mut, reference};

/// int8 input and output of the same shape (TFLM's `MatchingFlatSize`; the converter gives
/// activations their input's shape).
fn same_shape(
    cx: &Cx<'_, '_>,
    input: TensorId,
    output: TensorId,
) -> Result<(TensorDef, TensorDef), Error> {
    let i = cx.typed(input, DType::I8)?;
    let o = cx.typed(output, DType::I8)?;
    cx.check_shape(i.shape == o.shape)?;
    Ok((i, o))
}

/// LOGISTIC and TANH: a non-negative radius and multiplier, and a shift TFLM's prepare can
/// produce (the frexp exponent of `input_scale * 2^27`).
fn validate_sigmoidal(cx: &Cx<'_, '_>, o: &Sigmoidal) -> Result<TensorDef, Error> {
    let (_, out) = same_shape(cx, o.input, o.output)?;
    cx.check_param(
        o.input_range_radius >= 0
            && o.input_multiplier >= 0
            && (-31..=31).contains(&o.input_left_shift),
    )?;
    Ok(out)
}

/// LOGISTIC writes zero point -128 (scale 1/256); TFLM refuses any other output zero point.
pub(super) fn validate_logistic(cx: &Cx<'_, '_>, o: &Sigmoidal) -> Result<(), Error> {
    let out = validate_sigmoidal(cx, o)?;
    cx.check_param(out.zero_point == -128)
}

/// TANH writes scale 1/128, zero point 0; TFLM does not check the output tensor, nor do we.
pub(super) fn validate_tanh(cx: &Cx<'_, '_>, o: &Sigmoidal) -> Result<(), Error> {
    validate_sigmoidal(cx, o).map(|_| ())
}

pub(super) fn eval_logistic(cx: &Cx<'_, '_>, o: &Sigmoidal, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::logistic(
        as_i8(x),
        i.zero_point,
        o.input_range_radius,
        o.input_multiplier,
        o.input_left_shift,
        as_i8_mut(out),
    );
    Ok(())
}

pub(super) fn eval_tanh(cx: &Cx<'_, '_>, o: &Sigmoidal, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::tanh(
        as_i8(x),
        i.zero_point,
        o.input_range_radius,
        o.input_multiplier,
        o.input_left_shift,
        as_i8_mut(out),
    );
    Ok(())
}

pub(super) fn validate_leaky_relu(cx: &Cx<'_, '_>, o: &LeakyRelu) -> Result<(), Error> {
    #[cfg(feature = "int16")]
    if cx.tensor(o.input)?.dtype == DType::I16 {
        return super::wide::validate_leaky_relu(cx, o);
    }
    same_shape(cx, o.input, o.output)?;
    // A negative alpha gives a negative multiplier: allowed, as in TFLM.
    cx.check_multiplier(o.identity)?;
    cx.check_multiplier(o.alpha)
}

pub(super) fn eval_leaky_relu(
    cx: &Cx<'_, '_>,
    o: &LeakyRelu,
    arena: &mut [u8],
) -> Result<(), Error> {
    #[cfg(feature = "int16")]
    if cx.tensor(o.input)?.dtype == DType::I16 {
        return super::wide::eval_leaky_relu(cx, o, arena);
    }
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::leaky_relu(
        as_i8(x),
        i.zero_point,
        o.identity,
        o.alpha,
        out_t.zero_point,
        as_i8_mut(out),
    );
    Ok(())
}

/// HARD_SWISH: non-negative Q15 multipliers (TFLM's down-scaling of a non-negative Q31 one),
/// an output exponent of at most 0 (TFLM refuses a positive one) and exponents that keep every
/// shift below 32.
pub(super) fn validate_hard_swish(cx: &Cx<'_, '_>, o: &HardSwish) -> Result<(), Error> {
    same_shape(cx, o.input, o.output)?;
    cx.check_param(
        o.reluish_multiplier >= 0
            && o.output_multiplier >= 0
            && (-31..=0).contains(&o.output_exponent)
            && (-31..=31).contains(&o.reluish_exponent),
    )
}

pub(super) fn eval_hard_swish(
    cx: &Cx<'_, '_>,
    o: &HardSwish,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let params = reference::HardSwishParams {
        input_zp: i.zero_point,
        output_zp: out_t.zero_point,
        reluish_multiplier: o.reluish_multiplier,
        reluish_exponent: i32::from(o.reluish_exponent),
        output_multiplier: o.output_multiplier,
        output_exponent: i32::from(o.output_exponent),
    };
    reference::hard_swish(as_i8(x), &params, as_i8_mut(out));
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::harness::{T, run};
    use crate::error::Error;
    use crate::format::{HardSwish, LeakyRelu, Multiplier, Op, Sigmoidal};

    const SHAPE_ERR: Error = Error::ShapeMismatch { op: 0 };
    const PARAM_ERR: Error = Error::BadParameter { op: 0 };

    /// TFLM's parameters for input scale 0.5 (the harness's): 0.5 * 2^27 = 0.5 * 2^27, so
    /// multiplier 2^30, shift 27 and radius floor(15 * 2^27 / 2^27) = 15.
    fn sigmoidal(radius: i32, shift: i32) -> Sigmoidal {
        Sigmoidal {
            input: 0,
            output: 1,
            input_range_radius: radius,
            input_multiplier: 1 << 30,
            input_left_shift: shift,
        }
    }

    #[test]
    fn logistic_and_tanh_run() {
        let xs = [-16i8, -1, 0, 1, 15];
        let io: [T<'_>; 2] = [(&[1, 5], 0), (&[1, 5], -128)];
        // logistic(-0.5) * 256 = 96.6 -> 97 - 128; logistic(0.5) * 256 = 159.4 -> 159 - 128.
        let out = run(&io, Op::Logistic(sigmoidal(15, 27)), &[&xs]);
        assert_eq!(out, Ok(std::vec![-128, -31, 0, 31, 127]));
        // tanh(0.5) * 128 = 59.2.
        let io: [T<'_>; 2] = [(&[1, 5], 0), (&[1, 5], 0)];
        let out = run(&io, Op::Tanh(sigmoidal(15, 27)), &[&xs]);
        assert_eq!(out, Ok(std::vec![-128, -59, 0, 59, 127]));
    }

    #[test]
    fn logistic_and_tanh_reject() {
        let xs = [0i8; 5];
        let io: [T<'_>; 2] = [(&[1, 5], 0), (&[1, 5], -128)];
        // LOGISTIC's output zero point must be -128 (TANH's is not checked, as in TFLM).
        let zp: [T<'_>; 2] = [(&[1, 5], 0), (&[1, 5], 0)];
        assert_eq!(
            run(&zp, Op::Logistic(sigmoidal(15, 27)), &[&xs]),
            Err(PARAM_ERR)
        );
        assert!(run(&zp, Op::Tanh(sigmoidal(15, 27)), &[&xs]).is_ok());
        let shape: [T<'_>; 2] = [(&[1, 5], 0), (&[5, 1], -128)];
        assert_eq!(
            run(&shape, Op::Logistic(sigmoidal(15, 27)), &[&xs]),
            Err(SHAPE_ERR)
        );
        for bad in [sigmoidal(-1, 27), sigmoidal(15, 32), sigmoidal(15, -32)] {
            assert_eq!(run(&io, Op::Logistic(bad), &[&xs]), Err(PARAM_ERR));
            assert_eq!(run(&io, Op::Tanh(bad), &[&xs]), Err(PARAM_ERR));
        }
        let negative = Sigmoidal {
            input_multiplier: -1,
            ..sigmoidal(15, 27)
        };
        assert_eq!(run(&io, Op::Tanh(negative), &[&xs]), Err(PARAM_ERR));
    }

    fn leaky(identity_shift: i8, alpha_shift: i8) -> Op<'static> {
        Op::LeakyRelu(LeakyRelu {
            input: 0,
            output: 1,
            identity: Multiplier {
                multiplier: 1 << 30,
                shift: identity_shift,
            },
            alpha: Multiplier {
                multiplier: 1 << 30,
                shift: alpha_shift,
            },
        })
    }

    #[test]
    fn leaky_relu_runs_and_rejects() {
        // Same scale, alpha 0.25; zero points 2 in, -1 out.
        let io: [T<'_>; 2] = [(&[4], 2), (&[4], -1)];
        let out = run(&io, leaky(1, -1), &[&[-6, 1, 2, 7]]);
        assert_eq!(out, Ok(std::vec![-3, -1, -1, 4]));
        assert_eq!(run(&io, leaky(31, -1), &[&[0; 4]]), Err(PARAM_ERR));
        assert_eq!(run(&io, leaky(1, -32), &[&[0; 4]]), Err(PARAM_ERR));
        let shape: [T<'_>; 2] = [(&[4], 2), (&[2, 2], -1)];
        assert_eq!(run(&shape, leaky(1, -1), &[&[0; 4]]), Err(SHAPE_ERR));
    }

    /// Input and output scale 0.5: hires scale 2^-8, so the output multiplier is 2^-7 (Q15
    /// 2^14, exponent -6) and the relu-ish one 2^-8 / (3 / 32768) = 42.67 (Q15 21845,
    /// exponent 6).
    fn hard_swish(output_exponent: i8, reluish_multiplier: i16) -> Op<'static> {
        Op::HardSwish(HardSwish {
            input: 0,
            output: 1,
            reluish_multiplier,
            reluish_exponent: 6,
            output_multiplier: 1 << 14,
            output_exponent,
        })
    }

    #[test]
    fn hard_swish_runs_and_rejects() {
        // Reals -4, -1, 0, 1, 4 (q = 2x): hard swish -0, -0.333, 0, 0.667, 4.
        let io: [T<'_>; 2] = [(&[5], 0), (&[5], 0)];
        let out = run(&io, hard_swish(-6, 21845), &[&[-8, -2, 0, 2, 8]]);
        assert_eq!(out, Ok(std::vec![0, -1, 0, 1, 8]));
        assert_eq!(run(&io, hard_swish(1, 21845), &[&[0; 5]]), Err(PARAM_ERR));
        assert_eq!(run(&io, hard_swish(-6, -1), &[&[0; 5]]), Err(PARAM_ERR));
        let shape: [T<'_>; 2] = [(&[5], 0), (&[1, 5], 0)];
        assert_eq!(
            run(&shape, hard_swish(-6, 21845), &[&[0; 5]]),
            Err(SHAPE_ERR)
        );
    }
}
