//! LOGISTIC and TANH, int8 in and out, as TFLM's `reference_integer_ops::Logistic` / `Tanh`
//! compute them: inputs beyond the range radius saturate; the rest are rescaled to Q4.27 and
//! go through gemmlowp's fixed-point `logistic` / `tanh`.
//!
//! Output quantization is implied: LOGISTIC writes scale 1/256 with zero point -128, TANH
//! writes scale 1/128 with zero point 0 (the converter gives those outputs exactly that).

use super::gemmlowp;
use crate::kernels::fixed_point::{multiply_by_quantized_multiplier, rounding_divide_by_pot};

/// Integer bits of the rescaled input (TFLM's `kInputIntegerBits`).
pub const SIGMOID_INPUT_INTEGER_BITS: u32 = 4;

/// The rescaled input of one element, or the saturated output for inputs past the radius.
#[inline(always)]
fn rescaled(
    x: i8,
    input_zp: i32,
    input_range_radius: i32,
    input_multiplier: i32,
    input_left_shift: i32,
) -> Result<i32, i8> {
    let input = i32::from(x).wrapping_sub(input_zp);
    if input <= input_range_radius.saturating_neg() {
        Err(i8::MIN)
    } else if input >= input_range_radius {
        Err(i8::MAX)
    } else {
        Ok(multiply_by_quantized_multiplier(
            input,
            input_multiplier,
            input_left_shift,
        ))
    }
}

/// LOGISTIC: `out = clamp(round(logistic(x) * 256) - 128)`.
pub fn logistic(
    input: &[i8],
    input_zp: i32,
    input_range_radius: i32,
    input_multiplier: i32,
    input_left_shift: i32,
    output: &mut [i8],
) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        *out = match rescaled(
            x,
            input_zp,
            input_range_radius,
            input_multiplier,
            input_left_shift,
        ) {
            Err(saturated) => saturated,
            Ok(q4) => {
                let q0 = gemmlowp::logistic(q4, SIGMOID_INPUT_INTEGER_BITS);
                // Q0.31 to Q?.8 (1/256 steps), then offset by the output zero point.
                let v = rounding_divide_by_pot(q0, 31 - 8).wrapping_sub(128);
                v.clamp(-128, 127) as i8
            }
        };
    }
}

/// TANH: `out = clamp(round(tanh(x) * 128))`.
pub fn tanh(
    input: &[i8],
    input_zp: i32,
    input_range_radius: i32,
    input_multiplier: i32,
    input_left_shift: i32,
    output: &mut [i8],
) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        *out = match rescaled(
            x,
            input_zp,
            input_range_radius,
            input_multiplier,
            input_left_shift,
        ) {
            Err(saturated) => saturated,
            Ok(q4) => {
                let q0 = gemmlowp::tanh(q4, SIGMOID_INPUT_INTEGER_BITS);
                rounding_divide_by_pot(q0, 31 - 7).clamp(-128, 127) as i8
            }
        };
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::{goldens, prepare};
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn run(f: fn(&[i8], i32, i32, i32, i32, &mut [i8]), xs: &[i8], scale: f32, zp: i32) -> Vec<i8> {
        let (radius, m, shift) = prepare::sigmoidal(scale);
        let mut out = std::vec![0i8; xs.len()];
        f(xs, zp, radius, m, shift, &mut out);
        out
    }

    fn all_inputs() -> Vec<i8> {
        (-128i32..=127).map(|x| x as i8).collect()
    }

    #[test]
    fn zero_maps_to_the_midpoint() {
        // Input scale 1/16, zero point 3: q = 3 is real 0.
        assert_eq!(run(logistic, &[3], 1.0 / 16.0, 3), [0]); // 0.5 * 256 - 128
        assert_eq!(run(tanh, &[3], 1.0 / 16.0, 3), [0]);
    }

    #[test]
    fn hand_computed_values() {
        // Scale 1/16, zero point 0: q = 16 is real 1, q = -32 real -2.
        // logistic(1) = 0.731059 -> 187.15 -> 187 - 128 = 59; logistic(-2) = 0.119203 ->
        // 30.52 -> 31 - 128 = -97. tanh(1) = 0.761594 -> 97.48 -> 97; tanh(-2) -> -123.41.
        assert_eq!(run(logistic, &[16, -32], 1.0 / 16.0, 0), [59, -97]);
        assert_eq!(run(tanh, &[16, -32], 1.0 / 16.0, 0), [97, -123]);
    }

    #[test]
    fn saturation_at_the_range_radius() {
        // Scale 1/16: radius 120 (real 7.5). At |x| >= radius the output saturates without
        // computing; just inside it the computed value is already at the rail.
        let (radius, _, _) = prepare::sigmoidal(1.0 / 16.0);
        assert_eq!(radius, 120);
        for zp in [0, -5] {
            let xs = [
                (zp + 119) as i8,
                (zp + 120) as i8,
                (zp + 127).min(127) as i8,
                (zp - 119) as i8,
                (zp - 120) as i8,
                -128,
            ];
            assert_eq!(
                run(logistic, &xs, 1.0 / 16.0, zp),
                [127, 127, 127, -128, -128, -128]
            );
            assert_eq!(
                run(tanh, &xs, 1.0 / 16.0, zp),
                [127, 127, 127, -128, -128, -128]
            );
        }
        // A zero radius saturates everything: 0 counts as "<= -radius".
        let mut out = [0i8; 3];
        logistic(&[-1, 0, 1], 0, 0, 1 << 30, 24, &mut out);
        assert_eq!(out, [-128, -128, 127]);
    }

    #[test]
    fn zero_point_shifts_the_curve() {
        let xs = all_inputs();
        let base = run(logistic, &xs, 0.05, 0);
        let shifted = run(logistic, &xs, 0.05, 10);
        // f(x) with zero point 10 equals f(x - 10) with zero point 0.
        for x in -118i32..=127 {
            assert_eq!(
                shifted[(x + 128) as usize],
                base[(x - 10 + 128) as usize],
                "x = {x}"
            );
        }
    }

    #[test]
    fn symmetry() {
        // logistic(-x) = 1 - logistic(x): out(-x) + out(x) is -1 or 0 (one LSB of rounding);
        // tanh is odd.
        let xs = all_inputs();
        for scale in [0.01f32, 0.0625, 0.3] {
            let l = run(logistic, &xs, scale, 0);
            let t = run(tanh, &xs, scale, 0);
            for x in 1..=127usize {
                let (p, n) = (128 + x, 128 - x);
                let s = i32::from(l[p]) + i32::from(l[n]);
                assert!((-2..=0).contains(&s), "logistic({x}) scale {scale}: {s}");
                let s = i32::from(t[p]) + i32::from(t[n]);
                assert!((-1..=0).contains(&s), "tanh({x}) scale {scale}: {s}");
            }
        }
    }

    #[test]
    fn extreme_parameters_do_not_panic() {
        let xs = all_inputs();
        let mut out = std::vec![0i8; xs.len()];
        for (radius, m, shift) in [
            (i32::MAX, i32::MAX, 31),
            (i32::MAX, i32::MIN, -31),
            (i32::MIN, 0, 0),
            (300, 1 << 30, 31),
        ] {
            for zp in [i32::MIN, 0, i32::MAX] {
                logistic(&xs, zp, radius, m, shift, &mut out);
                tanh(&xs, zp, radius, m, shift, &mut out);
            }
        }
    }

    #[test]
    fn matches_tflm_goldens() {
        let xs = all_inputs();
        for g in &goldens::LOGISTIC {
            assert_eq!(
                run(logistic, &xs, g.scale, g.zp),
                g.output,
                "logistic {}",
                g.scale
            );
        }
        for g in &goldens::TANH {
            assert_eq!(run(tanh, &xs, g.scale, g.zp), g.output, "tanh {}", g.scale);
        }
    }

    proptest! {
        /// Every input of a random quantization is within one output step of the real
        /// function.
        #[test]
        fn within_one_lsb_of_float(scale in 0.0005f32..1.0, zp in -128i32..=127) {
            let xs = all_inputs();
            let l = run(logistic, &xs, scale, zp);
            let t = run(tanh, &xs, scale, zp);
            for (i, &x) in xs.iter().enumerate() {
                let real = f64::from(scale) * f64::from(i32::from(x) - zp);
                let el = (1.0 / (1.0 + (-real).exp())) * 256.0 - 128.0;
                let et = real.tanh() * 128.0;
                prop_assert!((f64::from(l[i]) - el.clamp(-128.0, 127.0)).abs() <= 1.0,
                    "logistic x={} scale={} zp={}: {} vs {}", x, scale, zp, l[i], el);
                prop_assert!((f64::from(t[i]) - et.clamp(-128.0, 127.0)).abs() <= 1.0,
                    "tanh x={} scale={} zp={}: {} vs {}", x, scale, zp, t[i], et);
            }
        }
    }
}
