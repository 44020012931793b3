//! CONV_2D, and the window geometry it shares with DEPTHWISE_CONV_2D and the pools.
//!
//! Semantics of TFLM's `reference_integer_ops::ConvPerChannel`: for every output position and
//! channel, `acc = Σ filter · (input - input_zp)` over the filter taps that land inside the
//! input (taps in the padding are skipped, which is padding with the input zero point),
//! `acc += bias`, then `requant`, `+ output_zp`, clamp. The accumulator is an i32 that wraps
//! as TFLM's does on its targets.

use crate::format::{Clamp, Requant, Window};
use crate::kernels::bias_at;
use crate::kernels::fixed_point::{clamp_to_i8, requantize};

/// Shapes of a 2-D convolution or pool over NHWC tensors, as the operator validated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Batches (input and output).
    pub batches: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Filter size, strides, dilation and padding.
    pub window: Window,
}

impl Geometry {
    /// Whether every dimension is at least 1 and the slices have exactly the NHWC sizes, the
    /// one condition under which the kernels' index arithmetic stays inside the slices (every
    /// kernel checks it on entry and does nothing otherwise, which validation rules out).
    pub(crate) fn fits(&self, input_len: usize, output_len: usize) -> bool {
        let dims = [
            self.batches,
            self.in_h,
            self.in_w,
            self.in_c,
            self.out_h,
            self.out_w,
            self.out_c,
        ];
        let product = |d: [usize; 4]| d.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        dims.iter().all(|&d| d > 0)
            && product([self.batches, self.in_h, self.in_w, self.in_c]) == Some(input_len)
            && product([self.batches, self.out_h, self.out_w, self.out_c]) == Some(output_len)
    }

    /// Filter rows that fall inside the input for output row `out_y`.
    pub(crate) fn rows(&self, out_y: usize) -> Taps {
        let w = &self.window;
        Taps::new(
            out_y,
            w.stride_h,
            w.pad_top,
            w.dilation_h,
            w.filter_h,
            self.in_h,
        )
    }

    /// Filter columns that fall inside the input for output column `out_x`.
    pub(crate) fn cols(&self, out_x: usize) -> Taps {
        let w = &self.window;
        Taps::new(
            out_x,
            w.stride_w,
            w.pad_left,
            w.dilation_w,
            w.filter_w,
            self.in_w,
        )
    }
}

/// The taps `first..end` of one filter axis whose input coordinate
/// `out * stride - pad + tap * dilation` lies in `0..size`; `start` is the coordinate of tap
/// `first`, and each further tap is `step` further on. Exactly TFLM's `is_point_inside_image`
/// test, computed once per output row or column instead of once per tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taps {
    first: usize,
    end: usize,
    start: usize,
    step: usize,
}

impl Taps {
    const EMPTY: Taps = Taps {
        first: 0,
        end: 0,
        start: 0,
        step: 1,
    };

    fn new(out: usize, stride: u16, pad: u16, dilation: u16, taps: u16, size: usize) -> Taps {
        let (Ok(out), Ok(size)) = (i64::try_from(out), i64::try_from(size)) else {
            return Taps::EMPTY;
        };
        let step = i64::from(dilation.max(1));
        // |origin| < 2^48: out and size come from u16 dimensions.
        let origin = out.saturating_mul(i64::from(stride)) - i64::from(pad);
        // First tap at or after coordinate 0, one past the last tap at or before `size - 1`.
        let first = if origin >= 0 {
            0
        } else {
            (-origin + step - 1) / step
        };
        let end = if origin >= size {
            0
        } else {
            ((size - 1).saturating_sub(origin) / step).saturating_add(1)
        }
        .min(i64::from(taps));
        if first >= end {
            return Taps::EMPTY;
        }
        // All of these lie in 0..=max(size, taps), so they fit usize.
        Taps {
            first: first as usize,
            end: end as usize,
            start: (origin + first * step) as usize,
            step: step as usize,
        }
    }

    /// Number of taps inside the input.
    pub(crate) fn len(&self) -> usize {
        self.end - self.first
    }

    /// `(tap, input coordinate)` for every tap inside the input.
    pub(crate) fn iter(self) -> impl Iterator<Item = (usize, usize)> {
        (self.first..self.end)
            .zip(0..)
            .map(move |(tap, i)| (tap, self.start + i * self.step))
    }
}

/// `Σ w · (x - input_zp)` in wrapping i32 arithmetic (TFLM's `acc += filter * (input + offset)`).
#[inline(always)]
pub(crate) fn dot(x: &[i8], w: &[i8], input_zp: i32) -> i32 {
    x.iter().zip(w).fold(0i32, |acc, (&x, &w)| {
        acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(x).wrapping_sub(input_zp)))
    })
}

/// CONV_2D over NHWC `input` with `filter` `[out_c][filter_h][filter_w][filter_c]`, where
/// `filter_c = filter.len() / (out_c * filter_h * filter_w)` divides `in_c`: grouped
/// convolution with `in_c / filter_c` groups (1 for an ordinary convolution), output channel
/// `oc` reading input channels `group * filter_c ..` of group `oc / (out_c / groups)`.
/// Bias (little-endian i32, one per output channel) is optional; `requant` is per tensor or per
/// output channel.
#[allow(clippy::too_many_arguments)]
pub fn conv_2d(
    geometry: &Geometry,
    input: &[i8],
    input_zp: i32,
    filter: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp,
    output: &mut [i8],
) {
    let g = geometry;
    let (kh, kw) = (
        usize::from(g.window.filter_h),
        usize::from(g.window.filter_w),
    );
    let taps = kh * kw; // < 2^32: no overflow even where usize is 32 bits
    let Some(per_channel) = g.out_c.checked_mul(taps).filter(|&n| n > 0) else {
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
                    .zip(filter.chunks_exact(taps * filter_c))
                    .enumerate()
                {
                    let c0 = oc / per_group * filter_c;
                    let mut acc = 0i32;
                    for (ky, iy) in rows.iter() {
                        for (kx, ix) in cols.iter() {
                            let xi = (iy * g.in_w + ix) * g.in_c + c0;
                            let fi = (ky * kw + kx) * filter_c;
                            if let (Some(x), Some(w)) =
                                (x.get(xi..xi + filter_c), f.get(fi..fi + filter_c))
                            {
                                acc = acc.wrapping_add(dot(x, w, input_zp));
                            }
                        }
                    }
                    let acc = requantize(acc.wrapping_add(bias_at(bias, oc)), requant.channel(oc));
                    *out = clamp_to_i8(acc.saturating_add(output_zp), clamp.min, clamp.max);
                }
            }
        }
    }
}

/// TRANSPOSE_CONV (TFLM's `reference_integer_ops::TransposeConv`) over NHWC `input` (the
/// small side) into NHWC `output`, filter `[out_c][filter_h][filter_w][in_c]`: input pixel
/// `(iy, ix)` spreads over output rows `iy * stride_h - pad_top + ky` and columns likewise.
/// TFLM scatters into an int32 buffer the output's size; this gathers the same products for
/// each output element instead (the same wrapping sum, no buffer), then adds the bias,
/// requantizes per channel, adds `output_zp` and clamps.
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv(
    geometry: &Geometry,
    input: &[i8],
    input_zp: i32,
    filter: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp,
    output: &mut [i8],
) {
    let zp = i64::from(input_zp);
    gather_transposed(
        geometry,
        input,
        filter,
        |x| i64::from(x) - zp,
        output,
        |acc, oc| {
            // TFLM sums in int32, wrapping: the exact sum narrowed the same way.
            let acc = (acc as i32).wrapping_add(bias_at(bias, oc));
            let v = requantize(acc, requant.channel(oc)).saturating_add(output_zp);
            clamp_to_i8(v, clamp.min, clamp.max)
        },
    );
}

/// The sums of a TRANSPOSE_CONV, gathered per output element (input values read through
/// `value`, exact in int64), each `finish`ed with its output channel. Slices of other sizes than
/// `g` gives leave the output as it was.
pub(crate) fn gather_transposed<X: Copy, O>(
    g: &Geometry,
    input: &[X],
    filter: &[i8],
    value: impl Fn(X) -> i64,
    output: &mut [O],
    finish: impl Fn(i64, usize) -> O,
) {
    let w = g.window;
    let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
    let (sh, sw) = (usize::from(w.stride_h), usize::from(w.stride_w));
    let (pad_h, pad_w) = (usize::from(w.pad_top), usize::from(w.pad_left));
    if !g.fits(input.len(), output.len())
        || sh == 0
        || sw == 0
        || Some(filter.len())
            != g.out_c
                .checked_mul(kh * kw)
                .and_then(|n| n.checked_mul(g.in_c))
    {
        return;
    }
    // The input index `o + pad - k` lands on, if it is a whole stride step inside the input.
    let source = |o: usize, pad: usize, k: usize, stride: usize, size: usize| {
        let t = (o + pad).checked_sub(k)?;
        (t % stride == 0 && t / stride < size).then_some(t / stride)
    };
    let image = g.in_h * g.in_w * g.in_c;
    let out_image = g.out_h * g.out_w * g.out_c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * g.out_c).enumerate() {
            for (ox, y_px) in y_row.chunks_exact_mut(g.out_c).enumerate() {
                for (oc, (out, f)) in y_px
                    .iter_mut()
                    .zip(filter.chunks_exact(kh * kw * g.in_c))
                    .enumerate()
                {
                    let mut acc = 0i64;
                    for ky in 0..kh {
                        let Some(iy) = source(oy, pad_h, ky, sh, g.in_h) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = source(ox, pad_w, kx, sw, g.in_w) else {
                                continue;
                            };
                            let xi = (iy * g.in_w + ix) * g.in_c;
                            let fi = (ky * kw + kx) * g.in_c;
                            if let (Some(x), Some(w)) =
                                (x.get(xi..xi + g.in_c), f.get(fi..fi + g.in_c))
                            {
                                for (&x, &w) in x.iter().zip(w) {
                                    acc += value(x) * i64::from(w);
                                }
                            }
                        }
                    }
                    *out = finish(acc, oc);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    use crate::format::Multiplier;
    use crate::kernels::fixed_point::multiply_by_quantized_multiplier;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// TFLM's TRANSPOSE_CONV loop as written: scatter every input pixel into an int32
    /// buffer the output's size, then requantize (per tensor here) and clamp.
    fn transpose_conv_scatter(g: &Geometry, x: &[i8], zp: i32, f: &[i8], out_zp: i32) -> Vec<i8> {
        let w = g.window;
        let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
        let mut acc = std::vec![0i32; g.batches * g.out_h * g.out_w * g.out_c];
        for b in 0..g.batches {
            for iy in 0..g.in_h {
                for ix in 0..g.in_w {
                    for ic in 0..g.in_c {
                        let v = i32::from(x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + ic]) - zp;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let oy = (iy * usize::from(w.stride_h) + ky) as i64
                                    - i64::from(w.pad_top);
                                let ox = (ix * usize::from(w.stride_w) + kx) as i64
                                    - i64::from(w.pad_left);
                                if oy < 0 || ox < 0 || oy >= g.out_h as i64 || ox >= g.out_w as i64
                                {
                                    continue;
                                }
                                for oc in 0..g.out_c {
                                    let wv = i32::from(f[((oc * kh + ky) * kw + kx) * g.in_c + ic]);
                                    let at = ((b * g.out_h + oy as usize) * g.out_w + ox as usize)
                                        * g.out_c
                                        + oc;
                                    acc[at] = acc[at].wrapping_add(v * wv);
                                }
                            }
                        }
                    }
                }
            }
        }
        acc.iter()
            .map(|&a| clamp_to_i8(requantize(a, ONE).saturating_add(out_zp), -128, 127))
            .collect()
    }

    proptest! {
        /// The gathering kernel equals TFLM's scattering loop, SAME and VALID, strides 1-3.
        #[test]
        fn transpose_conv_equals_the_scatter_loop(
            (in_h, in_w, in_c, out_c) in (1usize..5, 1usize..5, 1usize..4, 1usize..4),
            (kh, kw, sh, sw) in (1u16..4, 1u16..4, 1u16..4, 1u16..4),
            same in any::<bool>(),
            seed in any::<u64>(),
        ) {
            // The forward convolution runs from the output back to the input.
            let axis = |n: usize, k: u16, s: u16| -> (usize, u16) {
                let (k, s) = (usize::from(k), usize::from(s));
                let out = if same { n * s } else { (n - 1) * s + k };
                let total = ((n - 1) * s + k).saturating_sub(out);
                (out, (total / 2) as u16)
            };
            let ((out_h, pad_top), (out_w, pad_left)) = (axis(in_h, kh, sh), axis(in_w, kw, sw));
            let g = Geometry {
                batches: 1, in_h, in_w, in_c, out_h, out_w, out_c,
                window: Window {
                    filter_h: kh, filter_w: kw, stride_h: sh, stride_w: sw,
                    dilation_h: 1, dilation_w: 1, pad_top, pad_left,
                },
            };
            let mut state = seed | 1;
            let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state as i8 };
            let x: Vec<i8> = (0..in_h * in_w * in_c).map(|_| next()).collect();
            let f: Vec<i8> = (0..out_c * usize::from(kh * kw) * in_c).map(|_| next()).collect();
            let mut got = std::vec![0i8; out_h * out_w * out_c];
            let requant = Requant::PerTensor(ONE);
            transpose_conv(&g, &x, -3, &f, None, &requant, 5, Clamp::NONE, &mut got);
            prop_assert_eq!(got, transpose_conv_scatter(&g, &x, -3, &f, 5));
        }
    }

    /// `real 1.0`: `2^30 * 2^(1 - 31)`.
    pub(crate) const ONE: Multiplier = Multiplier {
        multiplier: 1 << 30,
        shift: 1,
    };

    pub(crate) fn window(f: (u16, u16), s: (u16, u16), d: (u16, u16), p: (u16, u16)) -> Window {
        Window {
            filter_h: f.0,
            filter_w: f.1,
            stride_h: s.0,
            stride_w: s.1,
            dilation_h: d.0,
            dilation_w: d.1,
            pad_top: p.0,
            pad_left: p.1,
        }
    }

    pub(crate) fn geometry(input: [usize; 4], out: [usize; 3], window: Window) -> Geometry {
        Geometry {
            batches: input[0],
            in_h: input[1],
            in_w: input[2],
            in_c: input[3],
            out_h: out[0],
            out_w: out[1],
            out_c: out[2],
            window,
        }
    }

    pub(crate) fn bias_bytes(bias: &[i32]) -> Vec<u8> {
        bias.iter().flat_map(|b| b.to_le_bytes()).collect()
    }

    #[test]
    fn taps_match_the_per_tap_bounds_test() {
        for out in 0..6 {
            for stride in 1..4u16 {
                for pad in 0..5u16 {
                    for dil in 1..4u16 {
                        for n in 1..5u16 {
                            for size in 0..7 {
                                let t = Taps::new(out, stride, pad, dil, n, size);
                                let expect: Vec<(usize, usize)> = (0..n)
                                    .filter_map(|k| {
                                        let c = (out * usize::from(stride)) as i64 - i64::from(pad)
                                            + i64::from(k * dil);
                                        (c >= 0 && c < size as i64)
                                            .then_some((usize::from(k), c as usize))
                                    })
                                    .collect();
                                assert_eq!(t.iter().collect::<Vec<_>>(), expect);
                                assert_eq!(t.len(), expect.len());
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn same_padding_stride_2_odd_size() {
        // 5x5 input, real values v = 5y + x (q = v - 3, zero point -3); 3x3 filter of ones,
        // stride 2, SAME: output 3x3, padding 1 on each side. Each output sums the in-bounds
        // part of its window (padding is real zero): rows {0,1},{1,2,3},{3,4} likewise columns.
        // Sums: 12 27 24 / 63 108 81 / 72 117 84. Then +1 bias, * 0.5 (ties away), -10.
        let input: Vec<i8> = (0..25).map(|v| v - 3).collect();
        let g = geometry(
            [1, 5, 5, 1],
            [3, 3, 1],
            window((3, 3), (2, 2), (1, 1), (1, 1)),
        );
        let half = Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: 0,
        });
        let mut out = [0i8; 9];
        let bias = bias_bytes(&[1]);
        conv_2d(
            &g,
            &input,
            -3,
            &[1; 9],
            Some(&bias),
            &half,
            -10,
            Clamp::NONE,
            &mut out,
        );
        assert_eq!(out, [-3, 4, 3, 22, 45, 31, 27, 49, 33]);
    }

    #[test]
    fn dilation() {
        // 4x4 input v = 4y + x, 2x2 filter [[1,2],[3,4]] with dilation 2 (extent 3), VALID:
        // out(y,x) = v[y][x] + 2 v[y][x+2] + 3 v[y+2][x] + 4 v[y+2][x+2] = 10 (4y + x) + 68.
        let input: Vec<i8> = (0..16).collect();
        let g = geometry(
            [1, 4, 4, 1],
            [2, 2, 1],
            window((2, 2), (1, 1), (2, 2), (0, 0)),
        );
        let mut out = [0i8; 4];
        let one = Requant::PerTensor(ONE);
        conv_2d(
            &g,
            &input,
            0,
            &[1, 2, 3, 4],
            None,
            &one,
            0,
            Clamp::NONE,
            &mut out,
        );
        assert_eq!(out, [68, 78, 108, 118]);
    }

    #[test]
    fn per_channel_requant_bias_saturation_and_clamp() {
        // One pixel, two input channels [3, -2]; four 1x1 filters.
        let input = [3i8, -2];
        let filter = [1i8, 1, 2, -1, 127, 127, -127, 127];
        // accumulators: 1, 8, 127, -635; biases 0, 100, 0, 0
        let bias = bias_bytes(&[0, 100, 0, 0]);
        let m = |multiplier: i32, shift: i8| Multiplier { multiplier, shift };
        let ms = [m(1 << 30, 1), m(1 << 30, -1), m(1 << 30, 8), m(1 << 30, 1)];
        let multipliers: Vec<u8> = ms.iter().flat_map(|m| m.multiplier.to_le_bytes()).collect();
        let shifts: Vec<u8> = ms.iter().map(|m| m.shift as u8).collect();
        let req = Requant::PerChannel {
            multipliers: &multipliers,
            shifts: &shifts,
        };
        let g = geometry(
            [1, 1, 1, 2],
            [1, 1, 4],
            window((1, 1), (1, 1), (1, 1), (0, 0)),
        );
        let mut out = [0i8; 4];
        // 1 * 1.0 = 1; 108 * 0.25 = 27; 127 * 128 saturates; -635 saturates; all + 5
        conv_2d(
            &g,
            &input,
            0,
            &filter,
            Some(&bias),
            &req,
            5,
            Clamp::NONE,
            &mut out,
        );
        assert_eq!(out, [6, 32, 127, -128]);
        let clamp = Clamp { min: 5, max: 100 };
        conv_2d(
            &g,
            &input,
            0,
            &filter,
            Some(&bias),
            &req,
            5,
            clamp,
            &mut out,
        );
        assert_eq!(out, [6, 32, 100, 5]);
    }

    #[test]
    fn grouped() {
        // Four input channels, filter depth 2: two groups of one output channel each.
        let g = geometry(
            [1, 1, 1, 4],
            [1, 1, 2],
            window((1, 1), (1, 1), (1, 1), (0, 0)),
        );
        let mut out = [0i8; 2];
        let one = Requant::PerTensor(ONE);
        conv_2d(
            &g,
            &[1, 2, 3, 4],
            0,
            &[1, 1, 1, -1],
            None,
            &one,
            0,
            Clamp::NONE,
            &mut out,
        );
        assert_eq!(out, [3, -1]);
    }

    #[test]
    fn inconsistent_shapes_write_nothing() {
        let g = geometry(
            [1, 2, 2, 1],
            [1, 1, 1],
            window((2, 2), (1, 1), (1, 1), (0, 0)),
        );
        let mut out = [7i8; 1];
        let one = Requant::PerTensor(ONE);
        // input too short, filter of the wrong size, zero-sized filter
        conv_2d(
            &g,
            &[1; 3],
            0,
            &[1; 4],
            None,
            &one,
            0,
            Clamp::NONE,
            &mut out,
        );
        conv_2d(
            &g,
            &[1; 4],
            0,
            &[1; 3],
            None,
            &one,
            0,
            Clamp::NONE,
            &mut out,
        );
        let g0 = geometry(
            [1, 2, 2, 1],
            [1, 1, 1],
            window((0, 2), (1, 1), (1, 1), (0, 0)),
        );
        conv_2d(&g0, &[1; 4], 0, &[], None, &one, 0, Clamp::NONE, &mut out);
        assert_eq!(out, [7]);
    }

    /// Random requantization: per tensor or per channel, multipliers in `[2^30, 2^31)`.
    pub(crate) fn requant_strategy(
        channels: usize,
    ) -> impl Strategy<Value = (Vec<i32>, Vec<i8>, bool)> {
        (
            proptest::collection::vec((1i32 << 30)..i32::MAX, channels),
            proptest::collection::vec(-12i8..=2, channels),
            any::<bool>(),
        )
    }

    /// A requant built from the strategy's values, with the bytes it borrows.
    pub(crate) fn make_requant(
        (ms, ss, per_channel): &(Vec<i32>, Vec<i8>, bool),
    ) -> (Vec<u8>, Vec<u8>, Option<Multiplier>) {
        let bytes = ms.iter().flat_map(|m| m.to_le_bytes()).collect();
        let shifts = ss.iter().map(|&s| s as u8).collect();
        let single = (!per_channel).then_some(Multiplier {
            multiplier: ms[0],
            shift: ss[0],
        });
        (bytes, shifts, single)
    }

    /// Input/output of a random test: values cycled from a random pool.
    pub(crate) fn fill(pool: &[i8], n: usize) -> Vec<i8> {
        pool.iter().copied().cycle().take(n).collect()
    }

    /// The definition: TFLM's loops, one tap at a time, i64 accumulator.
    #[allow(clippy::too_many_arguments)]
    fn naive_conv(
        g: &Geometry,
        input: &[i8],
        input_zp: i32,
        filter: &[i8],
        bias: Option<&[i32]>,
        mult: &dyn Fn(usize) -> Multiplier,
        output_zp: i32,
        clamp: Clamp,
    ) -> Vec<i8> {
        let w = g.window;
        let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
        let fc = filter.len() / (g.out_c * kh * kw);
        let groups = g.in_c / fc;
        let per_group = g.out_c / groups;
        let mut out = Vec::new();
        for b in 0..g.batches {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for oc in 0..g.out_c {
                        let group = oc / per_group;
                        let mut acc: i64 = 0;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * usize::from(w.stride_h)) as i64
                                    - i64::from(w.pad_top)
                                    + (ky * usize::from(w.dilation_h)) as i64;
                                let ix = (ox * usize::from(w.stride_w)) as i64
                                    - i64::from(w.pad_left)
                                    + (kx * usize::from(w.dilation_w)) as i64;
                                if iy < 0 || ix < 0 || iy >= g.in_h as i64 || ix >= g.in_w as i64 {
                                    continue;
                                }
                                for ic in 0..fc {
                                    let xi = ((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                        * g.in_c
                                        + group * fc
                                        + ic;
                                    let fi = ((oc * kh + ky) * kw + kx) * fc + ic;
                                    acc += i64::from(filter[fi])
                                        * (i64::from(input[xi]) - i64::from(input_zp));
                                }
                            }
                        }
                        acc += bias.map_or(0, |b| i64::from(b[oc]));
                        let m = mult(oc);
                        let v = multiply_by_quantized_multiplier(
                            i32::try_from(acc).unwrap(),
                            m.multiplier,
                            i32::from(m.shift),
                        );
                        let v = i64::from(v) + i64::from(output_zp);
                        out.push(v.max(i64::from(clamp.min)).min(i64::from(clamp.max)) as i8);
                    }
                }
            }
        }
        out
    }

    /// Random geometry: any strides, dilations, padding smaller than the filter extent, and
    /// output sizes (windows wholly in the padding included: they give just the bias).
    pub(crate) fn geometry_strategy(max_c: usize) -> impl Strategy<Value = (Geometry, usize)> {
        (
            (1usize..=2, 1usize..=6, 1usize..=6, 1usize..=max_c),
            (1u16..=3, 1u16..=3, 1u16..=3, 1u16..=3, 1u16..=3, 1u16..=3),
            (1usize..=5, 1usize..=5, 1usize..=4),
            (0u16..8, 0u16..8),
        )
            .prop_map(
                |((n, h, w, c), (fh, fw, sh, sw, dh, dw), (oh, ow, k), (pt, pl))| {
                    let pt = pt % ((fh - 1) * dh + 1);
                    let pl = pl % ((fw - 1) * dw + 1);
                    let win = window((fh, fw), (sh, sw), (dh, dw), (pt, pl));
                    (geometry([n, h, w, c], [oh, ow, 0], win), k)
                },
            )
    }

    proptest! {
        #[test]
        fn matches_naive(
            (geo, k) in geometry_strategy(4),
            groups_pick in 0usize..4,
            pool in proptest::collection::vec(any::<i8>(), 1..64),
            fpool in proptest::collection::vec(-127i8..=127, 1..64),
            req in requant_strategy(8),
            bias in proptest::option::of(proptest::collection::vec(-5000i32..5000, 8)),
            input_zp in -128i32..=127,
            output_zp in -128i32..=127,
            (lo, hi) in (-128i8..=127, -128i8..=127),
        ) {
            // Groups: a divisor of in_c; out_c a multiple of it.
            let divisors: Vec<usize> = (1..=geo.in_c).filter(|d| geo.in_c % d == 0).collect();
            let groups = divisors[groups_pick % divisors.len()];
            let mut g = geo;
            g.out_c = groups * k.min(8 / groups).max(1);
            let fc = g.in_c / groups;
            let taps = usize::from(g.window.filter_h) * usize::from(g.window.filter_w);
            let input = fill(&pool, g.batches * g.in_h * g.in_w * g.in_c);
            let filter = fill(&fpool, g.out_c * taps * fc);
            let (mbytes, sbytes, single) = make_requant(&req);
            let requant = match single {
                Some(m) => Requant::PerTensor(m),
                None => Requant::PerChannel {
                    multipliers: &mbytes[..4 * g.out_c],
                    shifts: &sbytes[..g.out_c],
                },
            };
            let bias = bias.map(|b| b[..g.out_c].to_vec());
            let bias_le = bias.as_ref().map(|b| bias_bytes(b));
            let clamp = Clamp { min: lo.min(hi), max: lo.max(hi) };
            let mut out = std::vec![0i8; g.batches * g.out_h * g.out_w * g.out_c];
            conv_2d(&g, &input, input_zp, &filter, bias_le.as_deref(), &requant, output_zp, clamp, &mut out);
            let expect = naive_conv(
                &g, &input, input_zp, &filter, bias.as_deref(),
                &|c| requant.channel(c), output_zp, clamp,
            );
            prop_assert_eq!(out, expect);
        }
    }
}
