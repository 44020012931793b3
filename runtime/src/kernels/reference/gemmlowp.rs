//! gemmlowp's fixed-point transcendental functions (`fixedpoint.h`), which TFLM's int8
//! SOFTMAX, LOGISTIC and TANH are built on. Values are raw `i32` fixed-point numbers; a
//! function's `integer_bits` says where the binary point of its input sits (Q`m`.`31-m`), and
//! every result is Q0.31. All arithmetic wraps or saturates exactly as gemmlowp's scalar path
//! does on the targets TFLM runs on, so no input can panic.

use crate::kernels::fixed_point::{
    divide_by_pot_toward_zero, rounding_divide_by_pot, saturating_rounding_doubling_high_mul as mul,
};

/// One in Q0.31 (not representable: gemmlowp uses the largest value).
pub const ONE_Q0: i32 = i32::MAX;
/// One half in Q0.31.
pub const ONE_HALF_Q0: i32 = 1 << 30;
/// One in Q2.29.
const ONE_Q2: i32 = 1 << 29;

/// `x * 2^exponent`, saturating (gemmlowp's `SaturatingRoundingMultiplyByPOT` for a
/// non-negative exponent; `exponent` is clamped to 31).
#[inline(always)]
pub fn saturating_shl(x: i32, exponent: u32) -> i32 {
    if exponent == 0 {
        return x;
    }
    let exponent = exponent.min(31);
    let threshold = (1i32 << (31 - exponent)).wrapping_sub(1);
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x.wrapping_shl(exponent)
    }
}

/// `(a + b) / 2` rounded half away from zero (`RoundingHalfSum`).
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    divide_by_pot_toward_zero(sum + if sum >= 0 { 1 } else { -1 }, 1) as i32
}

/// exp(a) for a in [-1/4, 0), Q0.31 in and out: a Taylor polynomial around -1/8.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    // x^4/24 + x^3/6 + x^2/2
    let tail = rounding_divide_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(tail)))
}

/// exp(a) for a <= 0 with `integer_bits` integer bits (at most 29), result in Q0.31
/// (`exp_on_negative_values`).
pub fn exp_on_negative_values(a: i32, integer_bits: u32) -> i32 {
    let integer_bits = integer_bits.min(29);
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(saturating_shl(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(-2^k) in Q0.31, applied for each bit k of the remainder the format has.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (k, multiplier) in BARREL {
        if integer_bits as i32 > k {
            let bit = (fractional_bits as i32 + k) as u32;
            if remainder & (1i32 << bit) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        // Below -32 the result underflows to zero.
        let clamp = -(1i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 { ONE_Q0 } else { result }
}

/// Newton-Raphson for 1 / (1 + a), a in Q0.31: the Q2.29 estimate of `1 / half_denominator`
/// after three iterations, where `half_denominator = (1 + a) / 2`.
fn reciprocal_of_half_denominator(a: i32) -> i32 {
    const C48_OVER_17: i32 = 1_515_870_810; // Q2.29
    const CNEG32_OVER_17: i32 = -1_010_580_540; // Q2.29
    let half_denominator = rounding_half_sum(a, ONE_Q0);
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(saturating_shl(mul(x, one_minus), 2));
    }
    x
}

/// 1 / (1 + a) for a in [0, 1), Q0.31 in and out (`one_over_one_plus_x_for_x_in_0_1`).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    // x (Q2.29) is 2 / (1 + a); reading it as Q1.30 halves it, then rescale to Q0.31.
    saturating_shl(reciprocal_of_half_denominator(a), 1)
}

/// (1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out
/// (`one_minus_x_over_one_plus_x_for_x_in_0_1`).
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    // 2 / (1 + a) - 1, from Q2.29 to Q0.31.
    saturating_shl(reciprocal_of_half_denominator(a).wrapping_sub(ONE_Q2), 2)
}

/// logistic(a) = 1 / (1 + exp(-a)) for `a` with `integer_bits` integer bits, Q0.31 result.
pub fn logistic(a: i32, integer_bits: u32) -> i32 {
    if a == 0 {
        return ONE_HALF_Q0;
    }
    let magnitude = if a > 0 { a } else { a.wrapping_neg() };
    let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        magnitude.wrapping_neg(),
        integer_bits,
    ));
    if a > 0 {
        positive
    } else {
        ONE_Q0.wrapping_sub(positive)
    }
}

/// tanh(a) for `a` with `integer_bits` integer bits (at most 28), Q0.31 result.
pub fn tanh(a: i32, integer_bits: u32) -> i32 {
    if a == 0 {
        return 0;
    }
    let negative = if a < 0 { a } else { a.wrapping_neg() };
    // tanh(|a|) = (1 - exp(-2|a|)) / (1 + exp(-2|a|)); the same raw value read with one more
    // integer bit is 2 * negative.
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        negative,
        integer_bits + 1,
    ));
    if a < 0 { t.wrapping_neg() } else { t }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    fn q(x: f64, integer_bits: u32) -> i32 {
        (x * f64::from(1u32 << (31 - integer_bits))).round() as i32
    }

    fn real_q0(raw: i32) -> f64 {
        f64::from(raw) / 2f64.powi(31)
    }

    #[test]
    fn named_points() {
        assert_eq!(exp_on_negative_values(0, 4), ONE_Q0);
        assert_eq!(logistic(0, 4), ONE_HALF_Q0);
        assert_eq!(tanh(0, 4), 0);
        // exp(-1) with 4 and 5 integer bits (the polynomial is good to about 2.5e-7).
        let e1 = (-1f64).exp();
        assert!((real_q0(exp_on_negative_values(q(-1.0, 4), 4)) - e1).abs() < 1e-6);
        assert!((real_q0(exp_on_negative_values(q(-1.0, 5), 5)) - e1).abs() < 1e-6);
        assert!((real_q0(one_over_one_plus_x_for_x_in_0_1(ONE_HALF_Q0)) - 2.0 / 3.0).abs() < 1e-8);
        assert!(
            (real_q0(one_minus_x_over_one_plus_x_for_x_in_0_1(ONE_HALF_Q0)) - 1.0 / 3.0).abs()
                < 1e-8
        );
        // Extremes do not overflow.
        let _ = logistic(i32::MIN, 4);
        let _ = tanh(i32::MIN, 4);
        let _ = exp_on_negative_values(i32::MIN, 29);
    }

    #[test]
    fn saturating_shl_saturates() {
        assert_eq!(saturating_shl(1 << 26, 4), 1 << 30);
        assert_eq!(saturating_shl(1 << 27, 4), i32::MAX);
        assert_eq!(saturating_shl(-(1 << 27), 4), i32::MIN);
        assert_eq!(saturating_shl(-5, 0), -5);
    }

    proptest! {
        #[test]
        fn close_to_float(x in -15.9f64..15.9) {
            let a = q(x, 4);
            prop_assert!((real_q0(logistic(a, 4)) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6);
            prop_assert!((real_q0(tanh(a, 4)) - x.tanh()).abs() < 1e-6);
            if x <= 0.0 {
                prop_assert!((real_q0(exp_on_negative_values(a, 4)) - x.exp()).abs() < 1e-6);
            }
        }
    }
}
