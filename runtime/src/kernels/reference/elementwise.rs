use crate::format::{Clamp, Multiplier};
use crate::kernels::fixed_point::{clamp_to_i8, requantize};

/// `out = clamp(requant(x - input_zp) + output_zp)`: TFLM's `ReluQuantized` (RELU, RELU6,
/// RELU_N1_TO_1) and `Requantize` (int8-to-int8 QUANTIZE) are both this.
pub fn rescale(
    input: &[i8],
    input_zp: i32,
    multiplier: Multiplier,
    output_zp: i32,
    clamp: Clamp,
    output: &mut [i8],
) {
    for (x, out) in input.iter().zip(output.iter_mut()) {
        let v = requantize(i32::from(*x) - input_zp, multiplier);
        *out = clamp_to_i8(v.saturating_add(output_zp), clamp.min, clamp.max);
    }
}

/// `out = clamp(x)` on the raw values: TFLM's `Relu6Quantized`, which ignores quantization.
pub fn clip(input: &[i8], clamp: Clamp, output: &mut [i8]) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        *out = x.max(clamp.min).min(clamp.max);
    }
}

/// Float to int8 (TFLite's `AffineQuantize`): `clamp(round(x / scale) + zero_point)`, rounding
/// half away from zero like C's `round`. `input` is little-endian f32 bytes.
pub fn quantize(input: &[u8], scale: f32, zero_point: i32, output: &mut [i8]) {
    for (&x, out) in input.as_chunks::<4>().0.iter().zip(output.iter_mut()) {
        let x = f32::from_le_bytes(x);
        let q = round_half_away(x / scale).saturating_add(zero_point);
        *out = clamp_to_i8(q, i8::MIN, i8::MAX);
    }
}

/// int8 to float (TFLite's `Dequantize`): `scale * (q - zero_point)`, computed in double as
/// TFLite does, written as little-endian f32 bytes.
pub fn dequantize(input: &[i8], scale: f32, zero_point: i32, output: &mut [u8]) {
    for (q, out) in input.iter().zip(output.chunks_exact_mut(4)) {
        let v = (f64::from(scale) * f64::from(i32::from(*q) - zero_point)) as f32;
        out.copy_from_slice(&v.to_le_bytes());
    }
}

/// C's `round` to an i32 (saturating; NaN gives 0). Exact: `x - trunc(x)` is exact in f32,
/// unlike `x + 0.5`, which rounds 0.49999997 up (micromath's `round` does that, so it is not
/// used here).
fn round_half_away(x: f32) -> i32 {
    let t = x as i32; // truncates toward zero, saturates
    let frac = x - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_matches_c_round() {
        for &(x, r) in &[
            (0.5f32, 1),
            (-0.5, -1),
            (0.499_999_97, 0),
            (-0.499_999_97, 0),
            (1.5, 2),
            (2.5, 3),
            (-2.5, -3),
            (8_388_609.0, 8_388_609),
            (1e20, i32::MAX),
            (-1e20, i32::MIN),
            (f32::NAN, 0),
        ] {
            assert_eq!(round_half_away(x), r, "round({x})");
        }
    }

    #[test]
    fn quantize_then_dequantize() {
        let xs: [f32; 5] = [0.0, 0.25, -1.0, 100.0, -100.0];
        let bytes: [u8; 20] = {
            let mut b = [0u8; 20];
            for (c, x) in b.chunks_exact_mut(4).zip(xs) {
                c.copy_from_slice(&x.to_le_bytes());
            }
            b
        };
        let mut q = [0i8; 5];
        quantize(&bytes, 0.1, -3, &mut q);
        assert_eq!(q, [-3, 0, -13, 127, -128]); // 0.25/0.1 = 2.5 -> 3 (tie away), 3-3 = 0
        let mut f = [0u8; 20];
        dequantize(&q, 0.1, -3, &mut f);
        let back: [f32; 5] = core::array::from_fn(|i| {
            f32::from_le_bytes([f[4 * i], f[4 * i + 1], f[4 * i + 2], f[4 * i + 3]])
        });
        assert_eq!(back, [0.0, 0.3, -1.0, 13.0, -12.5]);
    }

    #[test]
    fn relu6_as_rescale() {
        // scale_in = scale_out: multiplier 0.5 * 2^1.
        let m = Multiplier {
            multiplier: 1 << 30,
            shift: 1,
        };
        let mut out = [0i8; 4];
        rescale(
            &[-128, -5, 10, 127],
            -5,
            m,
            -5,
            Clamp { min: -5, max: 55 },
            &mut out,
        );
        assert_eq!(out, [-5, -5, 10, 55]);
    }
}
