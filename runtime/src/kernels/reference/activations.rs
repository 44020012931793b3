//! LEAKY_RELU and HARD_SWISH, int8 in and out, as TFLM's reference kernels compute them
//! (`reference_ops::QuantizeLeakyRelu` and `reference_ops::HardSwish`).

use crate::format::Multiplier;
use crate::kernels::fixed_point::requantize;

/// LEAKY_RELU: `x - input_zp` is rescaled by `identity` when non-negative and by `alpha`
/// (which has alpha folded in) when negative, then offset and clamped to int8.
pub fn leaky_relu(
    input: &[i8],
    input_zp: i32,
    identity: Multiplier,
    alpha: Multiplier,
    output_zp: i32,
    output: &mut [i8],
) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        let v = i32::from(x).wrapping_sub(input_zp);
        let m = if v >= 0 { identity } else { alpha };
        *out = requantize(v, m).saturating_add(output_zp).clamp(-128, 127) as i8;
    }
}

/// The HARD_SWISH parameters TFLM computes at prepare time (see `format::HardSwish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardSwishParams {
    /// Zero point of the input.
    pub input_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// Q15 multiplier from the input scale / 128 to the "relu-ish" scale (3 / 32768).
    pub reluish_multiplier: i16,
    /// Its exponent (either sign).
    pub reluish_exponent: i32,
    /// Q15 multiplier from the input scale / 128 to the output scale.
    pub output_multiplier: i16,
    /// Its exponent (at most 0).
    pub output_exponent: i32,
}

/// gemmlowp's 16-bit `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^15)`, ties away
/// from zero, `-1 * -1` saturated.
#[inline(always)]
fn rounding_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// TFLite's 16-bit `SaturatingDoublingHighMul`: as above but truncating toward zero.
#[inline(always)]
fn doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// TFLite's 16-bit `SaturatingLeftShift` (`amount` clamped to 31).
#[inline(always)]
fn saturating_shl_i16(x: i16, amount: i32) -> i16 {
    (i64::from(x) << amount.clamp(0, 31)).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// gemmlowp's `RoundingDivideByPOT` instantiated for int16, including what its int16
/// arithmetic does for exponents of 16 and more (`exponent` clamped to 0..=31).
#[inline(always)]
fn rounding_divide_by_pot_i16(x: i16, exponent: i32) -> i16 {
    let exponent = exponent.clamp(0, 31) as u32;
    let mask = ((1i64 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (i32::from(mask >> 1) + i32::from(x < 0)) as i16;
    ((i32::from(x) >> exponent) + i32::from(remainder > threshold)) as i16
}

/// HARD_SWISH: `x * relu6(x + 3) / 6` in TFLM's 16-bit fixed point.
pub fn hard_swish(input: &[i8], p: &HardSwishParams, output: &mut [i8]) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        // C++ computes in int and stores to int16_t: truncate the same way.
        let value = i32::from(x).wrapping_sub(p.input_zp) as i16;
        let hires = value.wrapping_mul(1 << 7);
        let preshift_output = rounding_doubling_high_mul_i16(hires, p.output_multiplier);
        // The input on a scale where 3.0 is 32768, saturated: [-3, 3] maps onto [-1, 1].
        let mut reluish = hires;
        if p.reluish_exponent > 0 {
            reluish = saturating_shl_i16(reluish, p.reluish_exponent - 1);
        }
        reluish = rounding_doubling_high_mul_i16(reluish, p.reluish_multiplier);
        if p.reluish_exponent > 0 {
            reluish = saturating_shl_i16(reluish, 1);
        }
        if p.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot_i16(reluish, p.reluish_exponent.saturating_neg());
        }
        // [-1, 1] to [0, 1].
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = doubling_high_mul_i16(reluish, preshift_output);
        let v = rounding_divide_by_pot_i16(preshift, p.output_exponent.saturating_neg());
        let v = (i32::from(v).wrapping_add(p.output_zp)) as i16;
        *out = v.clamp(-128, 127) as i8;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::{goldens, prepare};
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn mult((multiplier, shift): (i32, i32)) -> Multiplier {
        Multiplier {
            multiplier,
            shift: shift as i8,
        }
    }

    fn all_inputs() -> Vec<i8> {
        (-128i32..=127).map(|x| x as i8).collect()
    }

    fn leaky(xs: &[i8], s_in: f32, zp_in: i32, s_out: f32, zp_out: i32, alpha: f32) -> Vec<i8> {
        let (id, al) = prepare::leaky_relu(s_in, s_out, alpha);
        let mut out = std::vec![0i8; xs.len()];
        leaky_relu(xs, zp_in, mult(id), mult(al), zp_out, &mut out);
        out
    }

    fn params(s_in: f32, zp_in: i32, s_out: f32, zp_out: i32) -> HardSwishParams {
        let (rm, re, om, oe) = prepare::hard_swish(s_in, s_out);
        HardSwishParams {
            input_zp: zp_in,
            output_zp: zp_out,
            reluish_multiplier: rm,
            reluish_exponent: re,
            output_multiplier: om,
            output_exponent: oe,
        }
    }

    fn swish(xs: &[i8], s_in: f32, zp_in: i32, s_out: f32, zp_out: i32) -> Vec<i8> {
        let mut out = std::vec![0i8; xs.len()];
        hard_swish(xs, &params(s_in, zp_in, s_out, zp_out), &mut out);
        out
    }

    #[test]
    fn leaky_relu_hand_computed() {
        // Same scale, alpha 0.25 (exact): identity 1.0, alpha multiplier 0.25.
        let out = leaky(&[-128, -9, -8, -1, 0, 1, 100, 127], 0.5, 0, 0.5, 0, 0.25);
        // -9 * 0.25 = -2.25 -> -2; -1 * 0.25 = -0.25 -> 0.
        assert_eq!(out, [-32, -2, -2, 0, 0, 1, 100, 127]);
        // Zero points move the kink: input zp -10, output zp 5, output scale doubled.
        // q = -10 is real 0 -> 5; q = 10 is +20 * 0.5 = 10 -> 15; q = -30 is -20 * 0.25 *
        // 0.5 = -2.5 -> -3 (away from zero) -> 2.
        let out = leaky(&[-10, 10, -30, 127], 1.0, -10, 2.0, 5, 0.25);
        assert_eq!(out, [5, 15, 2, 74]);
    }

    #[test]
    fn leaky_relu_saturates_and_takes_any_alpha_sign() {
        // Output scale a quarter of the input's: large values clamp.
        let out = leaky(&[127, -128], 1.0, 0, 0.25, 0, 0.5);
        assert_eq!(out, [127, -128]);
        // Negative alpha (a negative multiplier) flips negative inputs.
        let out = leaky(&[-10, 10], 1.0, 0, 1.0, 0, -0.5);
        assert_eq!(out, [5, 10]);
    }

    #[test]
    fn hard_swish_hand_computed() {
        // Input and output scale 1/16 (3.0 is q = 48), zero points 0:
        // x <= -3 gives 0; x >= 3 gives x; x = 1 (q 16): 1 * 4 / 6 = 0.6667 -> q 10.67 -> 11;
        // x = -1 (q -16): -1 * 2 / 6 = -0.3333 -> q -5.33 -> -5.
        let out = swish(
            &[-128, -48, -16, 0, 16, 48, 127],
            1.0 / 16.0,
            0,
            1.0 / 16.0,
            0,
        );
        assert_eq!(out, [0, 0, -5, 0, 11, 48, 127]);
    }

    #[test]
    fn hard_swish_zero_points() {
        // Output zero point is added after the math; input zero point shifts the curve.
        let xs = all_inputs();
        let base = swish(&xs, 0.05, 0, 0.04, -100);
        let shifted = swish(&xs, 0.05, 7, 0.04, -100);
        for x in -121i32..=127 {
            assert_eq!(shifted[(x + 128) as usize], base[(x - 7 + 128) as usize]);
        }
        // Real 0 maps to the output zero point.
        assert_eq!(swish(&[7], 0.05, 7, 0.04, -100), [-100]);
    }

    /// These cases are ones where forming the ratios in f32 instead of double (as older TFLM
    /// did) changes an output.
    #[test]
    fn matches_tflm_goldens() {
        let xs = all_inputs();
        for g in &goldens::LEAKY_RELU {
            let out = leaky(
                &xs,
                g.input_scale,
                g.input_zp,
                g.output_scale,
                g.output_zp,
                g.alpha,
            );
            assert_eq!(out, g.output, "leaky relu alpha {}", g.alpha);
        }
        for g in &goldens::HARD_SWISH {
            let out = swish(&xs, g.input_scale, g.input_zp, g.output_scale, g.output_zp);
            assert_eq!(
                out, g.output,
                "hard swish {} {}",
                g.input_scale, g.output_scale
            );
        }
    }

    #[test]
    fn int16_helpers_match_their_definitions() {
        assert_eq!(rounding_doubling_high_mul_i16(i16::MIN, i16::MIN), i16::MAX);
        assert_eq!(rounding_doubling_high_mul_i16(3, 1 << 14), 2); // 1.5 -> 2
        assert_eq!(rounding_doubling_high_mul_i16(-3, 1 << 14), -1); // ties go up
        assert_eq!(doubling_high_mul_i16(3, 1 << 14), 1); // 1.5 -> 1
        assert_eq!(doubling_high_mul_i16(-3, 1 << 14), -1);
        assert_eq!(saturating_shl_i16(300, 7), i16::MAX);
        assert_eq!(saturating_shl_i16(-300, 7), i16::MIN);
        assert_eq!(saturating_shl_i16(3, 2), 12);
        assert_eq!(rounding_divide_by_pot_i16(6, 2), 2);
        assert_eq!(rounding_divide_by_pot_i16(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot_i16(5, 2), 1);
        assert_eq!(rounding_divide_by_pot_i16(i16::MIN, 15), -1);
        // int16 instantiation with exponent >= 16: the mask truncates to -1.
        assert_eq!(rounding_divide_by_pot_i16(0, 16), 1);
        assert_eq!(rounding_divide_by_pot_i16(-5, 20), -1);
    }

    #[test]
    fn extreme_parameters_do_not_panic() {
        let xs = all_inputs();
        let mut out = std::vec![0i8; xs.len()];
        for re in [-31, -16, -1, 0, 1, 15, 31, i32::MIN, i32::MAX] {
            for oe in [-31, -16, 0, i32::MIN, i32::MAX] {
                for zp in [i32::MIN, 0, i32::MAX] {
                    let p = HardSwishParams {
                        input_zp: zp,
                        output_zp: zp,
                        reluish_multiplier: i16::MIN,
                        reluish_exponent: re,
                        output_multiplier: i16::MIN,
                        output_exponent: oe,
                    };
                    hard_swish(&xs, &p, &mut out);
                }
            }
        }
        let m = Multiplier {
            multiplier: i32::MIN,
            shift: 30,
        };
        leaky_relu(&xs, i32::MIN, m, m, i32::MAX, &mut out);
    }

    proptest! {
        #[test]
        fn leaky_relu_within_one_lsb(s_in in 0.001f32..1.0, ratio in 0.1f32..10.0,
                                     zp_in in -128i32..=127, zp_out in -128i32..=127,
                                     alpha in -2.0f32..2.0) {
            let s_out = s_in * ratio;
            let xs = all_inputs();
            let out = leaky(&xs, s_in, zp_in, s_out, zp_out, alpha);
            for (&x, &o) in xs.iter().zip(&out) {
                let real = f64::from(s_in) * f64::from(i32::from(x) - zp_in);
                let y = if real >= 0.0 { real } else { real * f64::from(alpha) };
                let expected = (y / f64::from(s_out) + f64::from(zp_out)).clamp(-128.0, 127.0);
                prop_assert!((f64::from(o) - expected).abs() <= 1.0, "x={} {} vs {}", x, o, expected);
            }
        }

        /// Realistic quantizations: the output range about the input range (TFLM's output
        /// exponent is then well below 0, so its truncating multiply costs well under a step).
        #[test]
        fn hard_swish_within_one_lsb(s_in in 0.002f32..0.5, ratio in 0.25f32..4.0,
                                     zp_in in -128i32..=127, zp_out in -128i32..=127) {
            let s_out = s_in * ratio;
            let xs = all_inputs();
            let out = swish(&xs, s_in, zp_in, s_out, zp_out);
            for (&x, &o) in xs.iter().zip(&out) {
                let r = f64::from(s_in) * f64::from(i32::from(x) - zp_in);
                let y = r * (r + 3.0).clamp(0.0, 6.0) / 6.0;
                let expected = (y / f64::from(s_out) + f64::from(zp_out)).clamp(-128.0, 127.0);
                prop_assert!((f64::from(o) - expected).abs() <= 1.0,
                    "x={} s_in={} s_out={} zp_in={} zp_out={}: {} vs {}",
                    x, s_in, s_out, zp_in, zp_out, o, expected);
            }
        }
    }
}
