//! Operators that map each element (or each row) on its own: rescaling, clipping, the float
//! boundary, ABS, RSQRT and L2_NORMALIZATION.

use super::gemmlowp::saturating_shl;
use crate::format::{Clamp, DType, Multiplier};
use crate::kernels::fixed_point::{
    clamp_to_i8, multiply_by_quantized_multiplier, requantize, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul as mul,
};

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

/// TFLM's `Requantize` between integer types (QUANTIZE uint8 <-> int8, and int16 <-> int8 or
/// int16): each element read in its type (uint8, int8, or little-endian int16),
/// `x - input_zp` requantized, `+ output_zp`, saturated to the output type. (TFLM's shortcut
/// for uint8 <-> int8 at equal scales, flipping the top bit, gives the same bytes.) Other
/// types leave the output as it was.
pub fn requantize_bytes(
    input: &[u8],
    (from, input_zp): (DType, i32),
    multiplier: Multiplier,
    (to, output_zp): (DType, i32),
    output: &mut [u8],
) {
    let (Some(lo), Some(hi)) = (range(to).map(|r| r.0), range(to).map(|r| r.1)) else {
        return;
    };
    let (wi, wo) = (from.size(), to.size());
    for (x, out) in input.chunks_exact(wi).zip(output.chunks_exact_mut(wo)) {
        let x = match (from, x) {
            (DType::U8, &[b]) => i32::from(b),
            (DType::I8, &[b]) => i32::from(b as i8),
            (DType::I16, &[a, b]) => i32::from(i16::from_le_bytes([a, b])),
            _ => return,
        };
        let v = requantize(x - input_zp, multiplier)
            .saturating_add(output_zp)
            .clamp(lo, hi);
        match out {
            [o] => *o = v as u8,
            [a, b] => [*a, *b] = (v as i16).to_le_bytes(),
            _ => return,
        }
    }
}

/// The values an integer type holds.
fn range(t: DType) -> Option<(i32, i32)> {
    match t {
        DType::U8 => Some((0, 255)),
        DType::I8 => Some((-128, 127)),
        DType::I16 => Some((-32768, 32767)),
        DType::F32 | DType::I32 => None,
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

/// ABS (TFLM `AbsEvalQuantized`): `|x - input_zp|` requantized, `+ output_zp`, saturated. With
/// equal scales TFLM skips the requantization; the importer then gives the identity multiplier
/// (`2^30`, shift 1), exact for the values 0..=255 this sees.
pub fn abs(input: &[i8], input_zp: i32, m: Multiplier, output_zp: i32, output: &mut [i8]) {
    for (&x, o) in input.iter().zip(output.iter_mut()) {
        let v = (i32::from(x) - input_zp).abs();
        *o = clamp_to_i8(requantize(v, m).saturating_add(output_zp), i8::MIN, i8::MAX);
    }
}

/// RSQRT (TFLM `RsqrtEval`): `1 / sqrt(x - input_zp)` in 2^20 units, requantized by `m` with
/// 20 taken off its shift, `+ output_zp`, saturated; an input at the zero point gives raw 127.
/// Returns `false` at the first input below the zero point (TFLM fails the invocation there),
/// the outputs before it written.
pub fn rsqrt(
    input: &[i8],
    input_zp: i32,
    m: Multiplier,
    output_zp: i32,
    output: &mut [i8],
) -> bool {
    for (&x, o) in input.iter().zip(output.iter_mut()) {
        let v = i32::from(x) - input_zp;
        if v < 0 {
            return false;
        }
        *o = if v == 0 {
            i8::MAX
        } else {
            let (inv, shift) = inv_sqrt_multiplier(v);
            let data = multiply_by_quantized_multiplier(1, inv, shift + 20);
            let out = multiply_by_quantized_multiplier(data, m.multiplier, i32::from(m.shift) - 20);
            clamp_to_i8(out.saturating_add(output_zp), i8::MIN, i8::MAX)
        };
    }
    true
}

/// L2_NORMALIZATION (TFLM `reference_integer_ops::L2Normalization`) over rows of `depth`:
/// each `x - input_zp` times `1 / sqrt(sum of their squares)`, in units of 1/128 with zero
/// point 0 whatever the output tensor says (TFLM never reads its quantization), saturated.
pub fn l2_normalization(input: &[i8], input_zp: i32, depth: usize, output: &mut [i8]) {
    if depth == 0 {
        return;
    }
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let centred = |x: i8| i32::from(x) - input_zp;
        let squares = row
            .iter()
            .fold(0i32, |acc, &x| acc.wrapping_add(centred(x) * centred(x)));
        let (inv, shift) = inv_sqrt_multiplier(squares);
        for (&x, o) in row.iter().zip(out.iter_mut()) {
            let v = multiply_by_quantized_multiplier(centred(x), inv, shift + 7);
            *o = clamp_to_i8(v, i8::MIN, i8::MAX);
        }
    }
}

/// `1 / sqrt(x)` as a multiplier and a (non-positive) shift, `x` an integer: TFLM's
/// `GetInvSqrtQuantizedMultiplierExp` with `reverse_shift = -1`, five Newton-Raphson steps in
/// Q3.28. `x <= 1` gives `(i32::MAX, 0)`.
pub fn inv_sqrt_multiplier(x: i32) -> (i32, i32) {
    const HALF_THREE: i32 = (1 << 28) + (1 << 27); // 1.5 in Q3.28
    const SQRT_HALF: i32 = 1_518_500_250; // sqrt(2) / 2 in Q0.31
    if x <= 1 {
        return (i32::MAX, 0);
    }
    let (mut x, mut shift) = (x, 11i32);
    while x >= 1 << 29 {
        x /= 4;
        shift += 1;
    }
    // Normalise into [2^27, 2^29), two bits at a time.
    let pairs = ((x as u32).leading_zeros() as i32 - 1) / 2 - 1;
    shift -= pairs;
    x = x.wrapping_shl((2 * pairs).clamp(0, 31) as u32);
    let half_x = rounding_divide_by_pot(x >> 1, 1);
    let mut y: i32 = 1 << 28; // one in Q3.28
    for _ in 0..5 {
        let y3 = saturating_shl(mul(mul(y, y), y), 6);
        y = saturating_shl(mul(HALF_THREE, y).wrapping_sub(mul(half_x, y3)), 3);
    }
    let mut inv = mul(y, SQRT_HALF);
    if shift < 0 {
        inv = inv.wrapping_shl(shift.unsigned_abs().min(31));
        shift = 0;
    }
    (inv, -shift)
}

#[cfg(test)]
mod tests {

    /// TFLM's `GetInvSqrtQuantizedMultiplierExp` values, read from the wheel's TFLM.
    #[test]
    fn inv_sqrt_multiplier_matches_tflm() {
        for (x, want) in [
            (0, (i32::MAX, 0)),
            (1, (i32::MAX, 0)),
            (2, (1_518_498_372, 0)),
            (3, (1_239_850_284, 0)),
            (100, (214_748_363, 0)),
            (1000, (271_637_587, -2)),
            (65025, (269_488_147, -5)),
            (1 << 29, (379_624_593, -12)),
        ] {
            assert_eq!(inv_sqrt_multiplier(x), want, "x = {x}");
        }
    }

    /// RSQRT: raw 127 at the zero point, the domain error below it (earlier outputs kept).
    #[test]
    fn rsqrt_edges() {
        let m = Multiplier {
            multiplier: 1_836_693_381,
            shift: 11,
        };
        let mut out = [0i8; 3];
        assert!(rsqrt(&[-128, -127, 127], -128, m, -128, &mut out));
        assert_eq!(out[0], 127);
        assert!(out[1] > out[2], "1/sqrt falls: {out:?}");
        let mut out = [5i8; 3];
        assert!(!rsqrt(&[-100, -129i16 as i8, -100], -99, m, -128, &mut out));
        assert_eq!(out, [5, 5, 5]);
    }

    /// L2: a row of zero points is all 0; a lone unit is saturated (TFLM's acc <= 1 case).
    #[test]
    fn l2_normalization_edges() {
        let mut out = [9i8; 6];
        l2_normalization(&[3, 3, 3, 3, 4, 3], 3, 3, &mut out);
        assert_eq!(out, [0, 0, 0, 0, 127, 0]);
        l2_normalization(&[-3, 0, 4, 0, 0, 0], 0, 3, &mut out);
        // (-3, 0, 4) / 5 in units of 1/128.
        assert_eq!(&out[..3], &[-77, 0, 102]);
    }

    use super::*;

    /// uint8 to int8 and back with equal scales is TFLM's top-bit flip; another scale
    /// requantizes and saturates to the output type, int16 included.
    #[test]
    fn requantize_between_uint8_and_int8() {
        let one = Multiplier {
            multiplier: 1 << 30,
            shift: 1,
        };
        let bytes: [u8; 4] = [0, 127, 128, 255];
        let mut out = [0u8; 4];
        requantize_bytes(&bytes, (DType::U8, 128), one, (DType::I8, 0), &mut out);
        assert_eq!(out, bytes.map(|b| b ^ 0x80));
        let back = out;
        requantize_bytes(&back, (DType::I8, 0), one, (DType::U8, 128), &mut out);
        assert_eq!(out, bytes);
        let double = Multiplier {
            multiplier: 1 << 30,
            shift: 2,
        };
        requantize_bytes(&bytes, (DType::U8, 100), double, (DType::I8, -10), &mut out);
        assert_eq!(out.map(|b| b as i8), [-128, 44, 46, 127]);
        // int8 to int16 and back at a quarter of the scale.
        let mut wide = [0u8; 8];
        let quarter = Multiplier {
            multiplier: 1 << 30,
            shift: 3,
        };
        requantize_bytes(
            &[0x80, 0xff, 0, 0x7f],
            (DType::I8, 0),
            quarter,
            (DType::I16, 0),
            &mut wide,
        );
        let values: [i16; 4] =
            core::array::from_fn(|k| i16::from_le_bytes([wide[2 * k], wide[2 * k + 1]]));
        assert_eq!(values, [-512, -4, 0, 508]);
    }

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
