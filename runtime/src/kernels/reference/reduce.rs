//! MEAN, SUM, REDUCE_MAX and REDUCE_MIN over any axes of an int8 tensor of up to four
//! dimensions, as TFLM's reference kernels compute them (`reduce_common.cc`):
//!
//! - MEAN and SUM (`reference_ops::QuantizedMeanOrSum`): the int32 sum of the raw values over
//!   the reduced axes (wrapping, as TFLM's accumulator), minus `input_zp * count` in 64 bits
//!   narrowed to int32, scaled by `input_scale / output_scale` (MEAN with `1 / count` folded
//!   into the multiplier: no float, no division of the sum), plus the output zero point,
//!   saturated. TFLM takes this path whatever the axes and quantization (older releases had a
//!   special case for axes 1 and 2 and divided the raw sum when the quantization was equal;
//!   current ones do not).
//! - REDUCE_MAX and REDUCE_MIN (`ReduceGeneric`): the largest or smallest raw value; input and
//!   output share quantization.
//!
//! The outputs are the kept dimensions in row-major order: keep_dims only changes the output's
//! shape, not its bytes.
use crate::format::Multiplier;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;

/// `multiplier / count` as TFLM folds it in: `(multiplier, shift)` with the shift lowered by
/// `floor(log2(count))` (at most 32, and not below -31) and the mantissa divided by `count`
/// after being shifted up by as much.
pub fn mean_multiplier(multiplier: Multiplier, count: u64) -> (i32, i32) {
    let shift = i32::from(multiplier.shift);
    if count == 0 {
        return (multiplier.multiplier, shift);
    }
    let log2 = 63 - count.leading_zeros() as i32;
    let extra = log2.min(32).min(31 + shift).max(0);
    let scaled = (i64::from(multiplier.multiplier) << extra)
        .checked_div(i64::try_from(count).unwrap_or(i64::MAX))
        .unwrap_or(0);
    (scaled as i32, shift - extra)
}

/// What a reduction computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The mean, requantized by `multiplier` with `1 / count` folded in.
    Mean,
    /// The sum, requantized by `multiplier`.
    Sum,
    /// The largest raw value.
    Max,
    /// The smallest raw value.
    Min,
}

/// Reduces `input` (dimensions `dims`, leading 1s for lower ranks) over the dimensions marked
/// in `reduced` into `output` (the kept dimensions' product of values). `multiplier` is
/// `QuantizeMultiplier(input_scale / output_scale)` (unused by MAX and MIN). An empty input
/// gives TFLM's initial values: 0 for MEAN and SUM, -128 for MAX, 127 for MIN; dimensions
/// that do not describe `input` write nothing.
#[allow(clippy::too_many_arguments)]
pub fn reduce(
    input: &[i8],
    dims: [usize; 4],
    reduced: [bool; 4],
    kind: Reduction,
    input_zp: i32,
    multiplier: Multiplier,
    output_zp: i32,
    output: &mut [i8],
) {
    let initial = match kind {
        Reduction::Mean | Reduction::Sum => 0,
        Reduction::Max => i8::MIN,
        Reduction::Min => i8::MAX,
    };
    let count = dims
        .iter()
        .zip(&reduced)
        .filter(|&(_, &r)| r)
        .fold(1usize, |n, (&d, _)| n.saturating_mul(d));
    if dims.contains(&0) || count == 0 {
        output.fill(initial);
        return;
    }
    // The loops below walk `dims`: they must describe `input` (validation makes it so).
    let elements = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if elements != Some(input.len()) {
        return;
    }
    let [s0, s1, s2, s3] = super::shape::strides(dims);
    // Outer loops walk the kept dimensions (one output each), inner ones the reduced ones.
    let split = |reduce_here: bool| {
        let mut counts = [1usize; 4];
        for ((n, &d), &r) in counts.iter_mut().zip(&dims).zip(&reduced) {
            if r == reduce_here {
                *n = d;
            }
        }
        counts
    };
    let ([n0, n1, n2, n3], [r0, r1, r2, r3]) = (split(false), split(true));
    let (m, s) = match kind {
        Reduction::Mean => mean_multiplier(multiplier, count as u64),
        _ => (multiplier.multiplier, i32::from(multiplier.shift)),
    };
    // TFLM subtracts the zero point once per output, in 64 bits, then narrows to int32.
    let offset = i64::from(input_zp).wrapping_mul(count as i64);
    let mut out = output.iter_mut();
    for o0 in 0..n0 {
        for o1 in 0..n1 {
            for o2 in 0..n2 {
                for o3 in 0..n3 {
                    let base = o0 * s0 + o1 * s1 + o2 * s2 + o3 * s3;
                    let mut sum = 0i32;
                    let mut extreme = initial;
                    for i0 in 0..r0 {
                        for i1 in 0..r1 {
                            for i2 in 0..r2 {
                                let row = base + i0 * s0 + i1 * s1 + i2 * s2;
                                for i3 in 0..r3 {
                                    let x = input.get(row + i3 * s3).copied().unwrap_or(0);
                                    sum = sum.wrapping_add(i32::from(x));
                                    extreme = match kind {
                                        Reduction::Max => extreme.max(x),
                                        Reduction::Min => extreme.min(x),
                                        _ => extreme,
                                    };
                                }
                            }
                        }
                    }
                    let Some(o) = out.next() else {
                        return;
                    };
                    *o = match kind {
                        Reduction::Max | Reduction::Min => extreme,
                        Reduction::Mean | Reduction::Sum => {
                            let shifted = i64::from(sum).wrapping_sub(offset) as i32;
                            multiply_by_quantized_multiplier(shifted, m, s)
                                .saturating_add(output_zp)
                                .clamp(-128, 127) as i8
                        }
                    };
                }
            }
        }
    }
}

/// MEAN of `input` (NHWC, dimensions `[batches, height, width, depth]`) over height and width
/// into `output` (`batches * depth` values): [`reduce`] over axes 1 and 2.
pub fn mean(
    input: &[i8],
    dims: [usize; 4],
    input_zp: i32,
    multiplier: Multiplier,
    output_zp: i32,
    output: &mut [i8],
) {
    let hw = [false, true, true, false];
    reduce(
        input,
        dims,
        hw,
        Reduction::Mean,
        input_zp,
        multiplier,
        output_zp,
        output,
    );
}

/// ARG_MAX (`max`) or ARG_MIN of an int8 tensor seen as `[outer, n, inner]` along its middle
/// dimension (TFLM's `ArgMinMax`): the index of the first largest (smallest) raw value, as
/// little-endian int32. Slices of other lengths leave the output as it was.
pub fn arg_min_max(
    input: &[i8],
    outer: usize,
    n: usize,
    inner: usize,
    max: bool,
    output: &mut [u8],
) {
    let len = outer.checked_mul(n).and_then(|m| m.checked_mul(inner));
    if n == 0
        || len != Some(input.len())
        || outer.checked_mul(inner).and_then(|m| m.checked_mul(4)) != Some(output.len())
    {
        return;
    }
    let mut out = output.chunks_exact_mut(4);
    for block in input.chunks_exact(n * inner) {
        for i in 0..inner {
            let mut best = (0usize, block.get(i).copied().unwrap_or(0));
            for j in 1..n {
                let v = block.get(j * inner + i).copied().unwrap_or(0);
                if (max && v > best.1) || (!max && v < best.1) {
                    best = (j, v);
                }
            }
            if let Some(o) = out.next() {
                o.copy_from_slice(&(best.0 as i32).to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::{goldens, prepare};
    use super::*;

    /// ARG_MAX and ARG_MIN along the middle of `[2, 3, 2]`: the first index wins ties.
    #[test]
    fn arg_min_max_first_index_wins() {
        let x: [i8; 12] = [1, 5, 7, 5, 7, -2, -3, 0, -3, 0, 2, 0];
        let ints = |b: &[u8]| -> Vec<i32> {
            b.chunks(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let mut out = [0u8; 16];
        arg_min_max(&x, 2, 3, 2, true, &mut out);
        assert_eq!(ints(&out), [1, 0, 2, 0]);
        arg_min_max(&x, 2, 3, 2, false, &mut out);
        assert_eq!(ints(&out), [0, 2, 0, 0]);
    }
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Quantization of one side: `(scale, zero_point)`.
    type Q = (f32, i32);

    fn run(input: &[i8], dims: [usize; 4], (s_in, zp_in): Q, (s_out, zp_out): Q) -> Vec<i8> {
        let (multiplier, shift) = prepare::mean(s_in, s_out);
        let m = Multiplier {
            multiplier,
            shift: shift as i8,
        };
        let mut out = std::vec![99i8; dims[0] * dims[3]];
        mean(input, dims, zp_in, m, zp_out, &mut out);
        out
    }

    /// Independent transcription of TFLM's `QuantizedMeanOrSum` for this case, with explicit
    /// 4-D indexing and 64-bit sums.
    fn naive(input: &[i8], dims: [usize; 4], (s_in, zp_in): Q, (s_out, zp_out): Q) -> Vec<i8> {
        let (m0, s0) = prepare::mean(s_in, s_out);
        let [n, h, w, c] = dims;
        let mut out = Vec::new();
        for b in 0..n {
            for ch in 0..c {
                let mut sum = 0i64;
                for y in 0..h {
                    for x in 0..w {
                        sum += i64::from(input[((b * h + y) * w + x) * c + ch]);
                    }
                }
                let count = (h * w) as i64;
                if count == 0 {
                    out.push(0);
                    continue;
                }
                let mut shift = 0;
                while (2i64 << shift) <= count {
                    shift += 1;
                }
                let shift = shift.min(32).min(31 + s0);
                let m = ((i64::from(m0) << shift) / count) as i32;
                let v = multiply_by_quantized_multiplier(
                    (sum - i64::from(zp_in) * count) as i32,
                    m,
                    s0 - shift,
                ) + zp_out;
                out.push(v.clamp(-128, 127) as i8);
            }
        }
        out
    }

    #[test]
    fn same_quantization_rounds_the_mean() {
        // 1x2x2x2, scale 0.1 zp 0 on both sides: multiplier 1.0, so out = round(mean).
        // Channel 0 holds 1, 2, 3, 5 (11/4 = 2.75 -> 3); channel 1 holds -1, -2, -3, -4
        // (-10/4 = -2.5 -> -3, ties away from zero); channel sums cancel the zero point.
        let input = [1, -1, 2, -2, 3, -3, 5, -4];
        assert_eq!(run(&input, [1, 2, 2, 2], (0.1, 0), (0.1, 0)), [3, -3]);
        // With zero point 10 on both sides the same values mean 10 less: -7.25 -> -7 + 10.
        let input = [1, 2, 3, 5];
        assert_eq!(run(&input, [1, 2, 2, 1], (0.1, 10), (0.1, 10)), [3]);
    }

    #[test]
    fn rescaled_mean_rounds_and_offsets() {
        // Input scale 0.5 zp 1, output scale 0.25 zp -3: out = 2 * mean(q - 1) - 3.
        // Values q = 1, 2, 4, 4 -> q - 1 = 0, 1, 3, 3: mean 1.75 -> 3.5 -> 4 (ties away) -> 1.
        assert_eq!(run(&[1, 2, 4, 4], [1, 2, 2, 1], (0.5, 1), (0.25, -3)), [1]);
        // Two batches, three channels, a 1x3 window: means of (0, 3, 6) per channel -> 3, 4, 5
        // before rescale.
        let input = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            run(&input, [2, 1, 3, 3], (1.0, 0), (0.5, 10)),
            [16, 18, 20, 16, 18, 20]
        );
        // Saturation both ways.
        assert_eq!(
            run(&[100, -100, 100, -100], [1, 1, 2, 2], (1.0, 0), (0.1, 0)),
            [127, -128]
        );
    }

    /// The first case has equal input and output quantization: TFLM still rounds.
    #[test]
    fn matches_tflm_goldens() {
        for g in &goldens::MEAN {
            let qi = (g.input_scale, g.input_zp);
            let qo = (g.output_scale, g.output_zp);
            assert_eq!(run(&g.input, [2, 3, 3, 4], qi, qo), g.output);
        }
    }

    #[test]
    fn folded_multiplier() {
        let m = |multiplier, shift| Multiplier { multiplier, shift };
        // 0.5 / 4: the shift drops by 2, the mantissa stays.
        assert_eq!(mean_multiplier(m(1 << 30, 0), 4), (1 << 30, -2));
        // 1 / 3: log2 = 1, so 2^30 * 2 / 3 (truncated) with the shift lowered by 1.
        assert_eq!(mean_multiplier(m(1 << 30, 1), 3), (715_827_882, 0));
        // The shift never goes below -31: only one of log2(2^20) = 20 bits is taken.
        assert_eq!(mean_multiplier(m(1 << 30, -30), 1 << 20), (1 << 11, -31));
        // At most 32 bits are taken.
        assert_eq!(mean_multiplier(m(1 << 30, 1), 1 << 40), (1 << 22, -31));
    }

    #[test]
    fn empty_window_gives_zeros() {
        let q = (1.0, 5);
        assert_eq!(run(&[], [2, 0, 3, 2], q, q), [0; 4]);
        assert_eq!(run(&[], [1, 3, 0, 2], q, q), [0; 2]);
        assert_eq!(run(&[], [1, 3, 3, 0], q, q), []);
    }

    #[test]
    fn extreme_parameters_do_not_panic() {
        let input = [127i8; 64];
        let mut out = [0i8; 4];
        for multiplier in [i32::MIN, 0, i32::MAX] {
            for shift in [i8::MIN, -31, 0, 30, i8::MAX] {
                for zp in [i32::MIN, 0, i32::MAX] {
                    let m = Multiplier { multiplier, shift };
                    mean(&input, [1, 4, 4, 4], zp, m, zp, &mut out);
                    mean(&input, [1, usize::MAX, 2, 1], zp, m, zp, &mut out);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_naive(n in 1usize..3, h in 0usize..6, w in 0usize..6, c in 1usize..4,
                         s_in in 0.001f32..1.0, ratio in 0.05f32..20.0, same: bool,
                         zp_in in -128i32..=127, zp_out in -128i32..=127, seed: u8) {
            let dims = [n, h, w, c];
            let input: Vec<i8> = (0..n * h * w * c)
                .map(|x| (x as u8).wrapping_mul(97).wrapping_add(seed) as i8)
                .collect();
            let qi = (s_in, zp_in);
            let qo = if same { qi } else { (s_in * ratio, zp_out) };
            prop_assert_eq!(run(&input, dims, qi, qo), naive(&input, dims, qi, qo));
        }

        /// The result is within one step of the real mean.
        #[test]
        fn close_to_float(h in 1usize..8, w in 1usize..8, s_in in 0.001f32..1.0,
                          ratio in 0.25f32..4.0, zp_in in -128i32..=127,
                          zp_out in -128i32..=127, seed: u8) {
            let input: Vec<i8> = (0..h * w)
                .map(|x| (x as u8).wrapping_mul(97).wrapping_add(seed) as i8)
                .collect();
            let s_out = s_in * ratio;
            let out = run(&input, [1, h, w, 1], (s_in, zp_in), (s_out, zp_out));
            let real = input
                .iter()
                .map(|&q| f64::from(s_in) * f64::from(i32::from(q) - zp_in))
                .sum::<f64>()
                / (h * w) as f64;
            let expected = (real / f64::from(s_out) + f64::from(zp_out)).clamp(-128.0, 127.0);
            prop_assert!((f64::from(out[0]) - expected).abs() <= 1.0, "{} vs {}", out[0], expected);
        }
    }
}
