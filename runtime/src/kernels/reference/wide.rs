//! 16x8: int16 activations (symmetric, zero point 0 from the converter) with int8 weights and
//! int64 biases, as TFLM's reference kernels compute them. Activations are little-endian
//! `[u8; 2]` elements, so the arena needs no alignment.
//!
//! The accumulators of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED are int64 and go
//! through TFLM's int64 `MultiplyByQuantizedMultiplier` ([`requantize64`]), a single rounding
//! with a 16-bit multiplier, not the int32 routine's double rounding.

use super::conv::{Geometry, Taps};
use super::recurrent::{logistic16, tanh16};
use crate::format::{Clamp16, Multiplier, Requant};
use crate::kernels::fixed_point::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_smaller_than_one_exp,
    requantize,
};

/// An int16 activation.
pub type I16 = [u8; 2];

#[inline(always)]
fn get(x: I16) -> i32 {
    i32::from(i16::from_le_bytes(x))
}

#[inline(always)]
fn put(v: i32, clamp: Clamp16) -> I16 {
    (v.clamp(i32::from(clamp.min), i32::from(clamp.max)) as i16).to_le_bytes()
}

/// TFLM's int64 `MultiplyByQuantizedMultiplier`: the multiplier reduced to 16 bits (saturating
/// at `0x7FFF`), one rounding (half up) at `15 - shift` bits. Validation keeps `shift` below
/// 15.
pub fn requantize64(x: i64, m: Multiplier) -> i32 {
    let reduced = if m.multiplier < 0x7FFF_0000 {
        (m.multiplier.wrapping_add(1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total = (15 - i32::from(m.shift)).clamp(1, 63) as u32;
    let r = x
        .wrapping_mul(i64::from(reduced))
        .wrapping_add(1i64 << (total - 1));
    (r >> total) as i32
}

/// Bias `c` of an int64 little-endian bias (0 without one).
fn bias64(bias: Option<&[u8]>, c: usize) -> i64 {
    bias.and_then(|b| b.as_chunks::<8>().0.get(c))
        .map_or(0, |&b| i64::from_le_bytes(b))
}

/// CONV_2D 16x8 (TFLM's `ConvPerChannel<int64>`): no zero points anywhere, the int64 sum plus
/// the bias requantized per channel, clamped. `filter` is `[out_c][h][w][filter_c]`,
/// `filter_c` dividing `in_c` (groups).
#[allow(clippy::too_many_arguments)]
pub fn conv_2d_16(
    g: &Geometry,
    input: &[I16],
    filter: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    clamp: Clamp16,
    output: &mut [I16],
) {
    let (kh, kw) = (
        usize::from(g.window.filter_h),
        usize::from(g.window.filter_w),
    );
    let Some(per_channel) = g.out_c.checked_mul(kh * kw).filter(|&n| n > 0) else {
        return;
    };
    if !g.fits(input.len(), output.len()) || !filter.len().is_multiple_of(per_channel) {
        return;
    }
    let filter_c = filter.len() / per_channel;
    if filter_c == 0
        || !g.in_c.is_multiple_of(filter_c)
        || !g.out_c.is_multiple_of(g.in_c / filter_c)
    {
        return;
    }
    let per_group = g.out_c / (g.in_c / filter_c);
    let image = g.in_h * g.in_w * g.in_c;
    let out_image = g.out_h * g.out_w * g.out_c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * g.out_c).enumerate() {
            let rows = g.rows(oy);
            for (ox, y_px) in y_row.chunks_exact_mut(g.out_c).enumerate() {
                let cols = g.cols(ox);
                for (oc, (out, f)) in y_px
                    .iter_mut()
                    .zip(filter.chunks_exact(kh * kw * filter_c))
                    .enumerate()
                {
                    let c0 = oc / per_group * filter_c;
                    let mut acc = 0i64;
                    for (ky, iy) in rows.iter() {
                        for (kx, ix) in cols.iter() {
                            let xi = (iy * g.in_w + ix) * g.in_c + c0;
                            let fi = (ky * kw + kx) * filter_c;
                            if let (Some(x), Some(w)) =
                                (x.get(xi..xi + filter_c), f.get(fi..fi + filter_c))
                            {
                                acc += dot16(x, w);
                            }
                        }
                    }
                    let acc = acc.wrapping_add(bias64(bias, oc));
                    *out = put(requantize64(acc, requant.channel(oc)), clamp);
                }
            }
        }
    }
}

/// `Σ w · x` of int16 values and int8 weights (each product fits i32; the sum is i64).
fn dot16(x: &[I16], w: &[i8]) -> i64 {
    x.iter()
        .zip(w)
        .map(|(&x, &w)| i64::from(get(x) * i32::from(w)))
        .sum()
}

/// TRANSPOSE_CONV 16x8 (TFLM's `TransposeConv<int64>`): the int8 kernel's gathering with no
/// zero points, an int64 bias, TFLM's int64 requantization.
pub fn transpose_conv_16(
    g: &Geometry,
    input: &[I16],
    filter: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    clamp: Clamp16,
    output: &mut [I16],
) {
    super::conv::gather_transposed(
        g,
        input,
        filter,
        |x| i64::from(get(x)),
        output,
        |acc, oc| {
            let acc = acc.wrapping_add(bias64(bias, oc));
            put(requantize64(acc, requant.channel(oc)), clamp)
        },
    );
}

/// DEPTHWISE_CONV_2D 16x8 (TFLM's `DepthwiseConvPerChannel`, int16): output channel
/// `ic * multiplier + m` from input channel `ic`, filter `[h][w][out_c]`; no zero points.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv_2d_16(
    g: &Geometry,
    depth_multiplier: usize,
    input: &[I16],
    filter: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    clamp: Clamp16,
    output: &mut [I16],
) {
    let (kh, kw) = (
        usize::from(g.window.filter_h),
        usize::from(g.window.filter_w),
    );
    if !g.fits(input.len(), output.len())
        || g.in_c * depth_multiplier != g.out_c
        || filter.len() != kh * kw * g.out_c
    {
        return;
    }
    let image = g.in_h * g.in_w * g.in_c;
    let out_image = g.out_h * g.out_w * g.out_c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * g.out_c).enumerate() {
            let rows: Taps = g.rows(oy);
            for (ox, y_px) in y_row.chunks_exact_mut(g.out_c).enumerate() {
                let cols = g.cols(ox);
                for (oc, out) in y_px.iter_mut().enumerate() {
                    let ic = oc / depth_multiplier.max(1);
                    let mut acc = 0i64;
                    for (ky, iy) in rows.iter() {
                        for (kx, ix) in cols.iter() {
                            let xv = x.get((iy * g.in_w + ix) * g.in_c + ic).copied();
                            let wv = filter.get((ky * kw + kx) * g.out_c + oc).copied();
                            if let (Some(xv), Some(wv)) = (xv, wv) {
                                acc += i64::from(get(xv) * i32::from(wv));
                            }
                        }
                    }
                    let acc = acc.wrapping_add(bias64(bias, oc));
                    *out = put(requantize64(acc, requant.channel(oc)), clamp);
                }
            }
        }
    }
}

/// FULLY_CONNECTED 16x8 (TFLM's int16 `FullyConnected` with an int64 or no bias): per batch
/// row of `depth` inputs and per unit, `Σ w · (x - input_zp)` in int64 plus the bias,
/// requantized (per channel or per tensor), `+ output_zp`, clamped. Weights symmetric.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_16(
    input: &[I16],
    input_zp: i32,
    weights: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp16,
    depth: usize,
    output: &mut [I16],
) {
    if depth == 0 || weights.is_empty() || !weights.len().is_multiple_of(depth) {
        return;
    }
    let units = weights.len() / depth;
    for (x, y) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        for (u, (out, w)) in y.iter_mut().zip(weights.chunks_exact(depth)).enumerate() {
            let acc: i64 = x
                .iter()
                .zip(w)
                .map(|(&x, &w)| i64::from(i32::from(w) * (get(x) - input_zp)))
                .sum();
            let acc = acc.wrapping_add(bias64(bias, u));
            *out = put(
                requantize64(acc, requant.channel(u)).saturating_add(output_zp),
                clamp,
            );
        }
    }
}

/// AVERAGE_POOL_2D (`average`) or MAX_POOL_2D of int16 values: the in-bounds window values'
/// rounded mean or their maximum, clamped; no rescaling (TFLM's int16 pools).
pub fn pool_16(g: &Geometry, average: bool, input: &[I16], clamp: Clamp16, output: &mut [I16]) {
    let mut g = *g;
    g.window.dilation_h = 1;
    g.window.dilation_w = 1;
    if !g.fits(input.len(), output.len()) || g.in_c != g.out_c {
        return;
    }
    let c = g.in_c;
    let image = g.in_h * g.in_w * c;
    let out_image = g.out_h * g.out_w * c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * c).enumerate() {
            let rows = g.rows(oy);
            for (ox, y_px) in y_row.chunks_exact_mut(c).enumerate() {
                let cols = g.cols(ox);
                let count = (rows.len() * cols.len()) as i32;
                for (ch, out) in y_px.iter_mut().enumerate() {
                    let values = rows.iter().flat_map(|(_, iy)| {
                        cols.iter()
                            .filter_map(move |(_, ix)| x.get((iy * g.in_w + ix) * c + ch).copied())
                    });
                    let v = if average {
                        let sum = values.fold(0i32, |acc, v| acc.wrapping_add(get(v)));
                        let half = count / 2;
                        let rounded = if sum > 0 { sum + half } else { sum - half };
                        rounded.checked_div(count).unwrap_or(0)
                    } else {
                        values.fold(i32::from(i16::MIN), |m, v| m.max(get(v)))
                    };
                    *out = put(v, clamp);
                }
            }
        }
    }
}

/// LOGISTIC (`logistic`) or TANH of int16 values, output scale 2^-15 (TFLM's int16 kernels).
pub fn sigmoidal_16(
    logistic: bool,
    multiplier: i32,
    shift: u32,
    input: &[I16],
    output: &mut [I16],
) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        let x = i16::from_le_bytes(x);
        let y = if logistic {
            logistic16(x, multiplier, shift)
        } else {
            tanh16(x, multiplier, shift)
        };
        *out = y.to_le_bytes();
    }
}

/// RELU / RELU6 of int16 (`x - input_zp` requantized, `+ output_zp`, clamped) and LEAKY_RELU
/// (the `alpha` multiplier below the zero point, saturated to int16).
pub fn rescale_16(
    input: &[I16],
    input_zp: i32,
    (positive, negative): (Multiplier, Multiplier),
    output_zp: i32,
    clamp: Clamp16,
    output: &mut [I16],
) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        let v = get(x) - input_zp;
        let m = if v >= 0 { positive } else { negative };
        *out = put(requantize(v, m).saturating_add(output_zp), clamp);
    }
}

/// The quantization of an int16 ADD or SUB (TFLM's general path, left shift 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Add16Params {
    /// Zero points of the inputs and the output.
    pub input1_zp: i32,
    /// Zero point of input 2.
    pub input2_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// Input 1 to the common scale (below one).
    pub input1_multiplier: Multiplier,
    /// Input 2 to the common scale (below one).
    pub input2_multiplier: Multiplier,
    /// The common scale to the output (below one).
    pub output_multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp16,
    /// SUB instead of ADD.
    pub subtract: bool,
}

/// ADD or SUB of one int16 pair (TFLM's `AddFunc` with a left shift of 15).
pub fn add_16(x: I16, y: I16, p: &Add16Params) -> I16 {
    let scaled = |v: I16, zp: i32, m: Multiplier| {
        let shifted = (get(v) - zp).wrapping_shl(15);
        smaller_than_one(shifted, m)
    };
    let a = scaled(x, p.input1_zp, p.input1_multiplier);
    let b = scaled(y, p.input2_zp, p.input2_multiplier);
    let raw = if p.subtract {
        a.wrapping_sub(b)
    } else {
        a.wrapping_add(b)
    };
    let out = smaller_than_one(raw, p.output_multiplier);
    put(out.saturating_add(p.output_zp), p.clamp)
}

fn smaller_than_one(x: i32, m: Multiplier) -> i32 {
    multiply_by_quantized_multiplier_smaller_than_one_exp(x, m.multiplier, i32::from(m.shift))
}

/// SQUARED_DIFFERENCE of one int16 pair (TFLM's int16 path: no left shift): both on the
/// common scale, the difference squared, requantized, saturated.
pub fn squared_difference_16(x: I16, y: I16, p: &Add16Params) -> I16 {
    let a = smaller_than_one(get(x), p.input1_multiplier);
    let b = smaller_than_one(get(y), p.input2_multiplier);
    let d = a.wrapping_sub(b);
    put(requantize(d.wrapping_mul(d), p.output_multiplier), p.clamp)
}

/// ABS of int16 (zero points 0): `|x|` requantized (the identity when the scales are equal),
/// saturated, so -32768 gives 32767.
pub fn abs_16(input: &[I16], m: Multiplier, output: &mut [I16]) {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        *out = put(requantize(get(x).abs(), m), Clamp16::NONE);
    }
}

/// RSQRT of int16 (zero points 0), TFLM's int8 algorithm on int16 values: 0 gives 32767; a
/// negative input stops here with `false` (TFLM fails the invocation).
pub fn rsqrt_16(input: &[I16], m: Multiplier, output: &mut [I16]) -> bool {
    for (&x, out) in input.iter().zip(output.iter_mut()) {
        let v = get(x);
        if v < 0 {
            return false;
        }
        *out = if v == 0 {
            i16::MAX.to_le_bytes()
        } else {
            let (inv, shift) = super::elementwise::inv_sqrt_multiplier(v);
            let data = multiply_by_quantized_multiplier(1, inv, shift + 20);
            let scaled =
                multiply_by_quantized_multiplier(data, m.multiplier, i32::from(m.shift) - 20);
            put(scaled, Clamp16::NONE)
        };
    }
    true
}

/// MUL of one int16 pair (zero points 0): the product requantized, clamped.
pub fn mul_16(x: I16, y: I16, m: Multiplier, clamp: Clamp16) -> I16 {
    put(requantize(get(x) * get(y), m), clamp)
}

/// SOFTMAX of int16 rows of `depth` (TFLM's `SoftmaxInt16`): exp and 1/(1+x) from TFLM's
/// two 513-entry tables, output scale 2^-15, zero point 0.
pub fn softmax_16(input: &[I16], multiplier: Multiplier, depth: usize, output: &mut [I16]) {
    if depth == 0 {
        return;
    }
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().map(|&v| get(v)).max().unwrap_or(0);
        let mut sum = 0i32;
        for (&x, o) in row.iter().zip(out.iter_mut()) {
            let d = requantize(get(x) - max, multiplier);
            let e = lut_lookup(
                d.saturating_add(32767).clamp(-32768, 32767) as i16,
                &EXP_LUT,
            );
            *o = e.to_le_bytes();
            sum = sum.wrapping_add(i32::from(e));
        }
        let headroom = (sum as u32).leading_zeros();
        let shifted = (((i64::from(sum) << headroom.saturating_sub(1)) + (1 << 13)) >> 14) as i32;
        let recip = lut_lookup(
            shifted
                .wrapping_sub(1 << 15)
                .wrapping_sub(1 << 16)
                .clamp(-32768, 32767) as i16,
            &ONE_OVER_ONE_PLUS_X_LUT,
        );
        let right = 31u32.saturating_sub(headroom).min(62);
        for o in out.iter_mut() {
            let e = i64::from(get(*o));
            let v = if right == 0 {
                e * i64::from(recip)
            } else {
                (e * i64::from(recip) + (1i64 << (right - 1))) >> right
            };
            *o = (v.clamp(0, 32767) as i16).to_le_bytes();
        }
    }
}

/// TFLM's `LUTLookup` of an int16 value in a 513-entry table.
fn lut_lookup(v: i16, lut: &[i16; 513]) -> i16 {
    let index = (256 + (i32::from(v) >> 7)) as usize;
    let offset = i32::from(v) & 0x7F;
    let base = lut.get(index).copied().map_or(0, i32::from);
    let next = lut.get(index + 1).copied().map_or(0, i32::from);
    let slope = (next - base) as i16;
    (base + ((i32::from(slope) * offset + 64) >> 7)) as i16
}

/// MEAN of int16 values over the `reduced` dimensions of a tensor seen as 4-D `dims`
/// (TFLM's `QuantizedMeanOrSum<int16_t>`: int32 sum, the zero point removed once per output,
/// `1 / count` folded into the multiplier).
#[allow(clippy::too_many_arguments)]
pub fn mean_16(
    input: &[I16],
    dims: [usize; 4],
    reduced: [bool; 4],
    input_zp: i32,
    multiplier: Multiplier,
    output_zp: i32,
    output: &mut [I16],
) {
    let count = dims
        .iter()
        .zip(&reduced)
        .filter(|&(_, &r)| r)
        .fold(1usize, |n, (&d, _)| n.saturating_mul(d));
    let elements = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if count == 0 || elements != Some(input.len()) {
        return;
    }
    let (m, s) = super::reduce::mean_multiplier(multiplier, count as u64);
    let offset = i64::from(input_zp).wrapping_mul(count as i64);
    let [s0, s1, s2, s3] = super::shape::strides(dims);
    let pick = |keep: bool| {
        core::array::from_fn::<usize, 4, _>(|d| {
            if reduced.get(d).copied().unwrap_or(false) != keep {
                dims.get(d).copied().unwrap_or(1)
            } else {
                1
            }
        })
    };
    let ([n0, n1, n2, n3], [r0, r1, r2, r3]) = (pick(true), pick(false));
    let mut out = output.iter_mut();
    for o0 in 0..n0 {
        for o1 in 0..n1 {
            for o2 in 0..n2 {
                for o3 in 0..n3 {
                    let base = o0 * s0 + o1 * s1 + o2 * s2 + o3 * s3;
                    let mut sum = 0i32;
                    for i0 in 0..r0 {
                        for i1 in 0..r1 {
                            for i2 in 0..r2 {
                                for i3 in 0..r3 {
                                    let at = base + i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3;
                                    sum = sum.wrapping_add(input.get(at).copied().map_or(0, get));
                                }
                            }
                        }
                    }
                    let shifted = (i64::from(sum) - offset) as i32;
                    let v = crate::kernels::fixed_point::multiply_by_quantized_multiplier(
                        shifted, m, s,
                    );
                    if let Some(o) = out.next() {
                        *o = put(v.saturating_add(output_zp), Clamp16::NONE);
                    }
                }
            }
        }
    }
}

/// Float to int16 (TFLM's `AffineQuantize` on x86: `roundf`, then a conversion that gives
/// `i32::MIN` for NaN and out-of-range values, then the zero point, then the int16 clamp).
pub fn quantize_16(input: &[u8], scale: f32, zero_point: i32, output: &mut [I16]) {
    for (&x, out) in input.as_chunks::<4>().0.iter().zip(output.iter_mut()) {
        let v = round_to_i32_or_min(f32::from_le_bytes(x) / scale);
        *out = put(v.wrapping_add(zero_point), Clamp16::NONE);
    }
}

/// C's `roundf` converted as x86's `cvttss2si` converts: `i32::MIN` for NaN and anything
/// outside the i32 range.
fn round_to_i32_or_min(x: f32) -> i32 {
    if x.is_nan() || x.abs() >= 2_147_483_648.0 {
        return i32::MIN;
    }
    // |x| < 2^31: the truncation fits i64, and `x - t` is exact in f32.
    let t = x as i64;
    let frac = x - t as f32;
    let r = if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    };
    i32::try_from(r).unwrap_or(i32::MIN)
}

/// int16 to float: `scale * (x - zero_point)` in double, rounded once to float.
pub fn dequantize_16(input: &[I16], scale: f32, zero_point: i32, output: &mut [u8]) {
    for (&q, out) in input.iter().zip(output.chunks_exact_mut(4)) {
        let v = (f64::from(scale) * f64::from(get(q) - zero_point)) as f32;
        out.copy_from_slice(&v.to_le_bytes());
    }
}

/// `gen_lut(expf, -10, 0)` of TFLM's int16 SOFTMAX (its values, computed once with glibc).
#[rustfmt::skip]
static EXP_LUT: [i16; 513] = include!("luts/softmax_exp.in");

/// `gen_lut(1 / (1 + x), 0, 1)` of TFLM's int16 SOFTMAX.
#[rustfmt::skip]
static ONE_OVER_ONE_PLUS_X_LUT: [i16; 513] = include!("luts/softmax_one_over_one_plus_x.in");
