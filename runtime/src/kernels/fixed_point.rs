//! Integer-only requantization, rounding exactly as TFLM's reference kernels do
//! (gemmlowp's two-step rounding: a rounding doubling high multiply, then a rounding
//! right shift). Every kernel scales its accumulators through these functions.

use crate::format::Multiplier;

/// `round(a * b / 2^31)`, ties away from zero, saturating the one overflow case
/// (`i32::MIN * i32::MIN`). gemmlowp's `SaturatingRoundingDoublingHighMul`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // |ab + nudge| < 2^62, so the quotient fits in i32 except for the case handled above.
    // C++ division truncates toward zero, as Rust's does.
    divide_by_pot_toward_zero(ab + nudge, 31) as i32
}

/// `x / 2^exponent` truncated toward zero (C++'s and Rust's `/`), as shifts: at opt-level "z"
/// LLVM would call the 64-bit division routine (1 KB of flash) for the `/` itself.
#[inline(always)]
pub fn divide_by_pot_toward_zero(x: i64, exponent: u32) -> i64 {
    let toward_zero = (x >> 63) & ((1i64 << exponent) - 1);
    (x + toward_zero) >> exponent
}

/// `x / 2^exponent` rounded to nearest, ties away from zero. gemmlowp's `RoundingDivideByPOT`.
/// `exponent` is taken modulo 32 range-wise: values above 31 are clamped to 31.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let exponent = exponent.min(31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `x * multiplier * 2^(shift - 31)` with TFLM's rounding (`MultiplyByQuantizedMultiplier`).
/// A positive shift is applied before the multiply (wrapping, as the C++ int32 multiply does
/// on every target TFLM runs on), a negative one as a rounding shift after it.
///
/// Out of line: inlined, LLVM unrolled its 64-bit arithmetic into every reference loop (18 KB
/// of the Cortex-M4 runner); the optimized kernels requantize through `ChannelQuant`.
#[inline(never)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift.min(31) as u32 } else { 0 };
    let right = if shift > 0 { 0 } else { shift.unsigned_abs() };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_shl(left), multiplier),
        right,
    )
}

/// [`multiply_by_quantized_multiplier`] with a stored [`Multiplier`].
#[inline(always)]
pub fn requantize(x: i32, m: Multiplier) -> i32 {
    multiply_by_quantized_multiplier(x, m.multiplier, i32::from(m.shift))
}

/// `MultiplyByQuantizedMultiplierSmallerThanOneExp`: multiplier with a non-positive shift.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        left_shift.min(0).unsigned_abs(),
    )
}

/// Clamps to `[min, max]` and narrows to int8 (never panics, even for `min > max`).
#[inline(always)]
pub fn clamp_to_i8(x: i32, min: i8, max: i8) -> i8 {
    x.max(i32::from(min)).min(i32::from(max)) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, in 128-bit arithmetic with exact rational rounding.
    fn reference_high_mul(a: i32, b: i32) -> i32 {
        let p = i128::from(a) * i128::from(b) * 2; // doubling
        let d = 1i128 << 32;
        let q = if p >= 0 {
            (p + d / 2) / d
        } else {
            -((-p + d / 2) / d)
        };
        q.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
    }

    fn reference_divide_by_pot(x: i32, e: u32) -> i32 {
        let d = 1i64 << e;
        let x = i64::from(x);
        // round half away from zero
        let q = if x >= 0 {
            (x + d / 2) / d
        } else {
            -((-x + d / 2) / d)
        };
        q as i32
    }

    proptest! {
        #[test]
        fn shifts_divide_as_division_does(x in any::<i64>(), exponent in 0u32..63) {
            prop_assert_eq!(divide_by_pot_toward_zero(x, exponent), x / (1i64 << exponent));
        }
    }

    #[test]
    fn named_edge_cases() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX),
            i32::MAX - 1
        );
        // Ties: 3 * 2^30 / 2^31 = 1.5 -> 2; -1.5 -> -2.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 29), 1); // 0.75 -> 1
        assert_eq!(rounding_divide_by_pot(3, 1), 2);
        assert_eq!(rounding_divide_by_pot(-3, 1), -2);
        assert_eq!(rounding_divide_by_pot(5, 2), 1); // 1.25
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 tie away
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        // 1000 * 0.5 (multiplier 2^30, shift 0)
        assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, 0), 500);
        // 1000 * 0.5 * 2^-3 = 62.5 -> 63 (two-step rounding: 500 then /8 = 62.5 -> 63)
        assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, -3), 63);
        assert_eq!(multiply_by_quantized_multiplier(-1000, 1 << 30, -3), -63);
        // Positive shift: 100 * 0.5 * 4 = 200
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 2), 200);
    }

    /// The two-step rounding differs from one exact rounding: this pins TFLM's behaviour.
    #[test]
    fn double_rounding_is_kept() {
        // x*m/2^31 = 2.5 + tiny -> 3 after the high mul? choose x so the first step rounds up
        // and the second step then rounds a tie away from zero.
        let m = (1i64 << 30) as i32 + 1; // just over 0.5
        let x = 5; // 5 * 0.5000000005 = 2.5000000023 -> high mul gives 3
        assert_eq!(saturating_rounding_doubling_high_mul(x, m), 3);
        // ... then /2 = 1.5 -> 2, where exact rounding of 1.25 would give 1.
        assert_eq!(multiply_by_quantized_multiplier(x, m, -1), 2);
    }

    proptest! {
        #[test]
        fn high_mul_matches_wide_reference(a: i32, b: i32) {
            prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), reference_high_mul(a, b));
        }

        #[test]
        fn divide_by_pot_matches_wide_reference(x: i32, e in 0u32..=31) {
            prop_assert_eq!(rounding_divide_by_pot(x, e), reference_divide_by_pot(x, e));
        }

        #[test]
        fn requantize_is_the_composition(x in -(1i32 << 24)..(1 << 24), m in (1i32 << 30)..i32::MAX, s in -31i32..=7) {
            let left = s.max(0) as u32;
            let expected = reference_divide_by_pot(reference_high_mul(x << left, m), (-s).max(0) as u32);
            prop_assert_eq!(multiply_by_quantized_multiplier(x, m, s), expected);
        }
    }
}
