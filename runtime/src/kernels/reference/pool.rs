//! AVERAGE_POOL_2D and MAX_POOL_2D: TFLM's `reference_integer_ops::AveragePool` and `MaxPool`.
//! Input and output share quantization, so values pass through unscaled. Only window
//! positions inside the input count (padding is neither averaged nor maxed); dilation is 1.

use super::conv::{Geometry, Taps};
use crate::format::Clamp;

/// How a pool reduces the in-bounds values of one window (`count` of them) to an output value.
trait Reduce {
    fn reduce(&self, values: impl Iterator<Item = i8>, count: usize) -> i8;
}

/// Runs `r` over every window and writes the results. Does nothing if `geometry` does not fit
/// the slices.
fn pool(geometry: &Geometry, input: &[i8], output: &mut [i8], r: impl Reduce) {
    let mut g = *geometry;
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
                let count = rows.len() * cols.len();
                for (ch, out) in y_px.iter_mut().enumerate() {
                    *out = r.reduce(window_values(x, &g, rows, cols, ch), count);
                }
            }
        }
    }
}

/// Input values of channel `ch` at the in-bounds window positions, row by row.
fn window_values<'x>(
    x: &'x [i8],
    g: &Geometry,
    rows: Taps,
    cols: Taps,
    ch: usize,
) -> impl Iterator<Item = i8> + 'x {
    let (w, c) = (g.in_w, g.in_c);
    rows.iter().flat_map(move |(_, iy)| {
        cols.iter()
            .filter_map(move |(_, ix)| x.get((iy * w + ix) * c + ch).copied())
    })
}

struct Average(Clamp);

impl Reduce for Average {
    fn reduce(&self, values: impl Iterator<Item = i8>, count: usize) -> i8 {
        let sum = values.fold(0i32, |acc, v| acc.wrapping_add(i32::from(v)));
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        let half = count / 2;
        let rounded = if sum > 0 {
            sum.wrapping_add(half)
        } else {
            sum.wrapping_sub(half)
        };
        let avg = rounded.checked_div(count).unwrap_or(0);
        avg.max(i32::from(self.0.min)).min(i32::from(self.0.max)) as i8
    }
}

struct Max(Clamp);

impl Reduce for Max {
    fn reduce(&self, values: impl Iterator<Item = i8>, _count: usize) -> i8 {
        values
            .fold(i8::MIN, i8::max)
            .max(self.0.min)
            .min(self.0.max)
    }
}

/// AVERAGE_POOL_2D: the sum of the in-bounds window values divided by their count, rounded
/// half away from zero (`(sum ± count/2) / count`, truncating), then clamped. A window with no
/// in-bounds position (TFLM fails the inference; validation rules it out) gives the clamp of 0.
pub fn average_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    pool(geometry, input, output, Average(clamp));
}

/// MAX_POOL_2D: the largest in-bounds window value (starting from -128), then clamped
/// (`max(min)` then `min(max)`, as TFLM).
pub fn max_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    pool(geometry, input, output, Max(clamp));
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::reference::conv::tests::{fill, geometry, window};
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn average_same_stride_2_counts_only_the_input() {
        // 3x3 input 1..9, 2x2 filter, stride 2, SAME: output 2x2, padding 0 top/left, 1
        // bottom/right. Windows: {1,2,4,5} = 12/4 = 3; {3,6} = 9/2 = 4.5 -> 5;
        // {7,8} = 15/2 = 7.5 -> 8; {9} = 9.
        let input: Vec<i8> = (1..=9).collect();
        let g = geometry(
            [1, 3, 3, 1],
            [2, 2, 1],
            window((2, 2), (2, 2), (1, 1), (0, 0)),
        );
        let mut out = [0i8; 4];
        average_pool_2d(&g, &input, Clamp::NONE, &mut out);
        assert_eq!(out, [3, 5, 8, 9]);
        // Ties round away from zero on the negative side too.
        let neg: Vec<i8> = input.iter().map(|v| -v).collect();
        average_pool_2d(&g, &neg, Clamp::NONE, &mut out);
        assert_eq!(out, [-3, -5, -8, -9]);
        average_pool_2d(&g, &neg, Clamp { min: -6, max: -4 }, &mut out);
        assert_eq!(out, [-4, -5, -6, -6]);
    }

    #[test]
    fn average_rounding() {
        // One 2x2 window per channel: sums 11 (2.75 -> 3), -11 (-3), 10 (2.5 -> 3),
        // -10 (-3), 9 (2.25 -> 2), -9 (-2), 0, 1 (0.25 -> 0).
        let sums = [
            [1i8, 2, 3, 5],
            [-1, -2, -3, -5],
            [1, 2, 3, 4],
            [-1, -2, -3, -4],
        ];
        let more = [
            [2i8, 2, 2, 3],
            [-2, -2, -2, -3],
            [5, -5, 1, -1],
            [0, 0, 1, 0],
        ];
        let channels: Vec<[i8; 4]> = sums.iter().chain(&more).copied().collect();
        // NHWC: pixel-major, channel-minor
        let input: Vec<i8> = (0..4)
            .flat_map(|p| channels.iter().map(move |c| c[p]))
            .collect();
        let g = geometry(
            [1, 2, 2, 8],
            [1, 1, 8],
            window((2, 2), (1, 1), (1, 1), (0, 0)),
        );
        let mut out = [0i8; 8];
        average_pool_2d(&g, &input, Clamp::NONE, &mut out);
        assert_eq!(out, [3, -3, 3, -3, 2, -2, 0, 0]);
    }

    #[test]
    fn max_ignores_padding_and_clamps() {
        // 3x3 input -1..-9, 3x3 filter, stride 2, SAME (pad 1): windows are rows/cols
        // {0,1} or {1,2}: maxima -1, -2, -4, -5 (padding would have given 0).
        let input: Vec<i8> = (1..=9).map(|v| -v).collect();
        let g = geometry(
            [1, 3, 3, 1],
            [2, 2, 1],
            window((3, 3), (2, 2), (1, 1), (1, 1)),
        );
        let mut out = [0i8; 4];
        max_pool_2d(&g, &input, Clamp::NONE, &mut out);
        assert_eq!(out, [-1, -2, -4, -5]);
        max_pool_2d(&g, &input, Clamp { min: -3, max: 127 }, &mut out);
        assert_eq!(out, [-1, -2, -3, -3]);
        max_pool_2d(&g, &input, Clamp { min: -128, max: -2 }, &mut out);
        assert_eq!(out, [-2, -2, -4, -5]);
    }

    #[test]
    fn global_average_with_batches() {
        // VALID 2x2 over 2x2, two batches, two channels.
        let input = [1i8, -1, 2, -2, 3, -3, 4, -4, 10, 0, 10, 0, 10, 0, 11, 1];
        let g = geometry(
            [2, 2, 2, 2],
            [1, 1, 2],
            window((2, 2), (1, 1), (1, 1), (0, 0)),
        );
        let mut out = [0i8; 4];
        average_pool_2d(&g, &input, Clamp::NONE, &mut out);
        // 10/4 = 2.5 -> 3; -10/4 -> -3; 41/4 = 10.25 -> 10; 1/4 -> 0
        assert_eq!(out, [3, -3, 10, 0]);
        max_pool_2d(&g, &input, Clamp::NONE, &mut out);
        assert_eq!(out, [4, -1, 11, 1]);
    }

    /// TFLM's loops: clipped window bounds, i64 sum.
    fn naive(g: &Geometry, input: &[i8], clamp: Clamp, average: bool) -> Vec<i8> {
        let w = g.window;
        let mut out = Vec::new();
        for b in 0..g.batches {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for c in 0..g.in_c {
                        let y0 = (oy * usize::from(w.stride_h)) as i64 - i64::from(w.pad_top);
                        let x0 = (ox * usize::from(w.stride_w)) as i64 - i64::from(w.pad_left);
                        let (mut sum, mut count, mut max) = (0i64, 0i64, i64::from(i8::MIN));
                        for fy in 0..i64::from(w.filter_h) {
                            for fx in 0..i64::from(w.filter_w) {
                                let (iy, ix) = (y0 + fy, x0 + fx);
                                if iy < 0 || ix < 0 || iy >= g.in_h as i64 || ix >= g.in_w as i64 {
                                    continue;
                                }
                                let v = i64::from(
                                    input[((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                        * g.in_c
                                        + c],
                                );
                                sum += v;
                                count += 1;
                                max = max.max(v);
                            }
                        }
                        assert!(count > 0);
                        let v = if !average {
                            max
                        } else if sum > 0 {
                            (sum + count / 2) / count
                        } else {
                            (sum - count / 2) / count
                        };
                        out.push(v.max(i64::from(clamp.min)).min(i64::from(clamp.max)) as i8);
                    }
                }
            }
        }
        out
    }

    /// TFLite's output size and padding for SAME or VALID.
    fn tflite_axis(size: usize, filter: u16, stride: u16, same: bool) -> Option<(usize, u16)> {
        let (f, s) = (usize::from(filter), usize::from(stride));
        if same {
            let out = size.div_ceil(s);
            let total = ((out - 1) * s + f).saturating_sub(size);
            Some((out, (total / 2) as u16))
        } else {
            (size >= f).then(|| ((size - f) / s + 1, 0))
        }
    }

    proptest! {
        #[test]
        fn matches_naive(
            (n, h, w, c) in (1usize..=2, 1usize..=7, 1usize..=7, 1usize..=3),
            (fh, fw, sh, sw) in (1u16..=4, 1u16..=4, 1u16..=3, 1u16..=3),
            same in any::<bool>(),
            pool in proptest::collection::vec(any::<i8>(), 1..64),
            (lo, hi) in (-128i8..=127, -128i8..=127),
        ) {
            let (Some((oh, pt)), Some((ow, pl))) =
                (tflite_axis(h, fh, sh, same), tflite_axis(w, fw, sw, same))
            else {
                return Ok(());
            };
            let g = geometry([n, h, w, c], [oh, ow, c], window((fh, fw), (sh, sw), (1, 1), (pt, pl)));
            let input = fill(&pool, n * h * w * c);
            let clamp = Clamp { min: lo.min(hi), max: lo.max(hi) };
            let mut out = std::vec![0i8; n * oh * ow * c];
            average_pool_2d(&g, &input, clamp, &mut out);
            prop_assert_eq!(&out, &naive(&g, &input, clamp, true));
            max_pool_2d(&g, &input, clamp, &mut out);
            prop_assert_eq!(&out, &naive(&g, &input, clamp, false));
        }
    }
}
