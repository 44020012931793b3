//! SOFTMAX int8 -> int8 exactly as TFLite's `reference_ops::Softmax` computes it with
//! gemmlowp fixed-point arithmetic (TFLM uses this kernel for int8 in and out).

use super::gemmlowp::{
    exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, rounding_half_sum, saturating_shl,
};
use crate::kernels::fixed_point::{
    multiply_by_quantized_multiplier, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul as mul,
};

/// Integer bits of the scaled input differences (TFLite's `kScaledDiffIntegerBits`).
pub const SCALED_DIFF_INTEGER_BITS: u32 = 5;
/// Integer bits of the sum of exponentials.
const ACCUMULATION_INTEGER_BITS: u32 = 12;

/// Softmax over rows of `depth` values. Output scale 1/256, zero point -128.
pub fn softmax(
    input: &[i8],
    input_multiplier: i32,
    input_left_shift: i32,
    diff_min: i32,
    depth: usize,
    output: &mut [i8],
) {
    if depth == 0 {
        return;
    }
    let scaled = |diff: i32| {
        // MultiplyByQuantizedMultiplierGreaterThanOne
        mul(
            diff.wrapping_shl(input_left_shift.clamp(0, 31) as u32),
            input_multiplier,
        )
    };
    for (row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().copied().max().map_or(0, i32::from);
        let mut sum_of_exps: i32 = 0; // Q12.19
        for &x in row {
            let diff = i32::from(x) - max;
            if diff >= diff_min {
                let e = exp_on_negative_values(scaled(diff), SCALED_DIFF_INTEGER_BITS);
                sum_of_exps =
                    sum_of_exps.wrapping_add(rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (reciprocal, bits_over_unit) = reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        for (&x, out) in row.iter().zip(out_row.iter_mut()) {
            let diff = i32::from(x) - max;
            *out = if diff >= diff_min {
                let e = exp_on_negative_values(scaled(diff), SCALED_DIFF_INTEGER_BITS);
                let exponent = (bits_over_unit + 31 - 8).clamp(0, 31) as u32;
                let unsat = rounding_divide_by_pot(mul(reciprocal, e), exponent);
                unsat.saturating_add(-128).clamp(-128, 127) as i8
            } else {
                -128
            };
        }
    }
}

/// 1 / x for x in fixed point with `integer_bits`, as a Q0.31 value and the number of bits
/// over unit (TFLite's `GetReciprocal`).
fn reciprocal(x: i32, integer_bits: u32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let bits_over_unit = integer_bits as i32 - headroom_plus_one as i32;
    let shifted_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_minus_one),
        bits_over_unit,
    )
}

/// The parameters of LOG_SOFTMAX, as TFLM's `LogSoftmaxPrepare` computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSoftmaxParams {
    /// Scales an input difference into Q5.26 (with `input_left_shift`).
    pub input_multiplier: i32,
    /// At least 1.
    pub input_left_shift: i32,
    /// Scales the log of the sum back to input units (with `reverse_scaling_right_shift`).
    pub reverse_scaling_divisor: i32,
    /// 0..=31.
    pub reverse_scaling_right_shift: i32,
    /// Differences below this contribute nothing.
    pub diff_min: i32,
}

/// LOG_SOFTMAX over rows of `depth` values (TFLM's `reference_ops::LogSoftmaxQuantized`):
/// `x - max - log(sum of exp)` in gemmlowp fixed point. Output scale 1/16, zero point 127.
pub fn log_softmax(input: &[i8], p: &LogSoftmaxParams, depth: usize, output: &mut [i8]) {
    if depth == 0 {
        return;
    }
    let scaled =
        |diff: i32| multiply_by_quantized_multiplier(diff, p.input_multiplier, p.input_left_shift);
    for (row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().copied().max().map_or(0, i32::from);
        let mut sum_of_exps: i32 = 0; // Q12.19
        for &x in row {
            let diff = i32::from(x) - max;
            if diff >= p.diff_min {
                let e = exp_on_negative_values(scaled(diff), SCALED_DIFF_INTEGER_BITS);
                sum_of_exps =
                    sum_of_exps.wrapping_add(rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS));
            }
        }
        let log_sum = log_of_sum(sum_of_exps); // Q5.26
        let cutoff = (p.diff_min - 1).max(multiply_by_quantized_multiplier(
            log_sum.wrapping_add(i32::MIN),
            p.reverse_scaling_divisor,
            -p.reverse_scaling_right_shift,
        ));
        for (&x, out) in row.iter().zip(out_row.iter_mut()) {
            let diff = i32::from(x) - max;
            *out = if diff > cutoff {
                // From Q5.26 to the output's Q4.3 (scale 1/16), offset by the zero point 127.
                let v = rounding_divide_by_pot(scaled(diff).wrapping_sub(log_sum), 31 - 5 - 4);
                v.saturating_add(127).clamp(-128, 127) as i8
            } else {
                -128
            };
        }
    }
}

/// log(z) for z >= 1, z in Q12.19 and the result in Q5.26 (gemmlowp's
/// `log_x_for_x_greater_than_or_equal_to_1_impl<5, 12>`): z is brought into [sqrt(1/2),
/// sqrt(2)) by a power of two, whose log is added to a rational approximation of the rest.
fn log_of_sum(z: i32) -> i32 {
    const LOG_2: i32 = 1_488_522_236;
    const SQRT_SQRT_HALF: i32 = 1_805_811_301;
    const SQRT_HALF: i32 = 1_518_500_250;
    const ONE_QUARTER: i32 = 536_870_912;
    const ALPHA_N: i32 = 117_049_297;
    const ALPHA_D: i32 = 127_690_142;
    const ALPHA_I: i32 = 1_057_819_769;
    const ALPHA_F: i32 = 638_450_708;
    const INPUT_INTEGER_BITS: i32 = ACCUMULATION_INTEGER_BITS as i32;
    // Powers of two in Q6.25, the accumulator's format.
    let power_of_two = |k: i32| saturating_shl(k, 25);
    let shifted_quarter = rounding_divide_by_pot(ONE_QUARTER, 6);
    let headroom_a = (z as u32).leading_zeros() as i32;
    let r_a = saturating_shl(
        mul(
            saturating_shl(z, (headroom_a - 1).clamp(0, 31) as u32),
            SQRT_HALF,
        ),
        1,
    );
    let adjust_a = power_of_two(INPUT_INTEGER_BITS - headroom_a).saturating_add(shifted_quarter);
    let z_b = mul(z, SQRT_HALF);
    let headroom_b = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b = saturating_shl(z, headroom_b.clamp(0, 31) as u32);
    let adjust_b = power_of_two(INPUT_INTEGER_BITS - headroom_b).saturating_sub(shifted_quarter);
    let r = r_a.min(r_b);
    let adjust = adjust_a.max(adjust_b);
    let p = rounding_half_sum(r, SQRT_SQRT_HALF);
    let q = r.wrapping_sub(SQRT_SQRT_HALF);
    let q = q.wrapping_add(q);
    let common_sq = mul(q, q);
    let numerator = mul(q, r).wrapping_add(mul(mul(q, common_sq), ALPHA_N));
    let denominator = mul(
        p,
        ALPHA_I
            .wrapping_add(q)
            .wrapping_add(mul(ALPHA_D, common_sq)),
    )
    .wrapping_add(mul(ALPHA_F, q));
    let ratio = one_over_one_plus_x_for_x_in_0_1(denominator);
    let log = mul(adjust, LOG_2).wrapping_add(mul(rounding_divide_by_pot(numerator, 6), ratio));
    saturating_shl(log, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float function the fixed-point code approximates.
    fn float_softmax(row: &[i8], beta_scale: f64) -> std::vec::Vec<f64> {
        extern crate std;
        let max = row.iter().copied().max().unwrap() as f64;
        let e: std::vec::Vec<f64> = row
            .iter()
            .map(|&x| ((x as f64 - max) * beta_scale).exp())
            .collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    extern crate std;

    #[test]
    fn close_to_float_softmax() {
        // input scale 0.1, beta 1: real multiplier 0.1 * 2^26, as PreprocessSoftmaxScaling gives.
        let real = 0.1f64 * (1u64 << 26) as f64;
        let (m, shift) = {
            let mut s = 0;
            let mut r = real;
            while r >= 1.0 {
                r /= 2.0;
                s += 1;
            }
            ((r * (1u64 << 31) as f64).round() as i32, s)
        };
        // diff_min = -floor((2^5-1) * 2^26 / 2^shift)
        let diff_min = -(((31u64 << 26) >> shift) as i32);
        let row = [10i8, 0, -20, 5, 127, -128, 100, 99];
        let mut out = [0i8; 8];
        softmax(&row, m, shift, diff_min, 8, &mut out);
        for (o, f) in out.iter().zip(float_softmax(&row, 0.1)) {
            let real = (*o as f64 + 128.0) / 256.0;
            assert!((real - f).abs() <= 1.0 / 256.0, "{real} vs {f}");
        }
    }

    #[test]
    fn exp_of_zero_is_one_and_reciprocal_of_one() {
        assert_eq!(
            exp_on_negative_values(0, SCALED_DIFF_INTEGER_BITS),
            i32::MAX
        );
        let (r, bits) = reciprocal(1 << 19, 12); // 1.0 in Q12.19
        assert_eq!(bits, 0);
        assert!((r as f64 / 2f64.powi(31) - 1.0).abs() < 1e-6);
    }
}
