//! DEPTHWISE_CONV_2D: TFLM's `reference_integer_ops::DepthwiseConvPerChannel`.

use super::conv::Geometry;
use crate::format::{Clamp, Requant};
use crate::kernels::bias_at;
use crate::kernels::fixed_point::{clamp_to_i8, requantize};

/// DEPTHWISE_CONV_2D over NHWC `input` with `filter` `[filter_h][filter_w][out_c]`, where
/// `out_c = in_c * depth_multiplier`: output channel `oc` reads input channel
/// `oc / depth_multiplier` (TFLM's `oc = ic * depth_multiplier + m`). As CONV_2D otherwise:
/// taps in the padding are skipped, optional bias, per-tensor or per-channel `requant`,
/// `+ output_zp`, clamp.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv_2d(
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
    let kw = usize::from(g.window.filter_w);
    let taps = usize::from(g.window.filter_h) * kw;
    if !g.fits(input.len(), output.len())
        || !g.out_c.is_multiple_of(g.in_c)
        || g.out_c.checked_mul(taps) != Some(filter.len())
    {
        return;
    }
    let multiplier = g.out_c / g.in_c;
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
                for (oc, out) in y_px.iter_mut().enumerate() {
                    let ic = oc / multiplier;
                    let mut acc = 0i32;
                    for (ky, iy) in rows.iter() {
                        for (kx, ix) in cols.iter() {
                            let xi = (iy * g.in_w + ix) * g.in_c + ic;
                            let fi = (ky * kw + kx) * g.out_c + oc;
                            if let (Some(&x), Some(&w)) = (x.get(xi), filter.get(fi)) {
                                acc = acc.wrapping_add(
                                    i32::from(w).wrapping_mul(i32::from(x).wrapping_sub(input_zp)),
                                );
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::format::Multiplier;
    use crate::kernels::fixed_point::multiply_by_quantized_multiplier;
    use crate::kernels::reference::conv::tests::{
        ONE, bias_bytes, fill, geometry, geometry_strategy, make_requant, requant_strategy, window,
    };
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn depth_multiplier_2_per_channel() {
        // 2x2 input, two channels: ch0 = [1,2,3,4], ch1 = [10,20,30,40] (row-major pixels).
        let input = [1i8, 10, 2, 20, 3, 30, 4, 40];
        // 2x2 filter, four output channels (oc = ic * 2 + m), layout [ky][kx][oc]:
        // oc0 all ones (ch0 sum 10), oc1 [1,0,0,-1] (1 - 4 = -3),
        // oc2 all ones (ch1 sum 100), oc3 [0,1,1,0] (20 + 30 = 50).
        let filter = [1i8, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, -1, 1, 0];
        // Multipliers 1.0, 1.0, 0.5, 0.25: 10, -3, 50, 12.5 -> 13.
        let shifts = [1u8, 1, 0, (-1i8) as u8];
        let multipliers: Vec<u8> = (0..4).flat_map(|_| (1i32 << 30).to_le_bytes()).collect();
        let req = Requant::PerChannel {
            multipliers: &multipliers,
            shifts: &shifts,
        };
        let g = geometry(
            [1, 2, 2, 2],
            [1, 1, 4],
            window((2, 2), (1, 1), (1, 1), (0, 0)),
        );
        let mut out = [0i8; 4];
        depthwise_conv_2d(&g, &input, 0, &filter, None, &req, 0, Clamp::NONE, &mut out);
        assert_eq!(out, [10, -3, 50, 13]);
    }

    #[test]
    fn same_padding_is_the_zero_point() {
        // 3x3 input of real 1s (q = 6, zero point 5), 3x3 filter of ones, SAME (pad 1):
        // each output counts its in-bounds taps (4 at corners, 6 at edges, 9 in the middle).
        let g = geometry(
            [1, 3, 3, 1],
            [3, 3, 1],
            window((3, 3), (1, 1), (1, 1), (1, 1)),
        );
        let mut out = [0i8; 9];
        let bias = bias_bytes(&[-1]);
        let one = Requant::PerTensor(ONE);
        depthwise_conv_2d(
            &g,
            &[6; 9],
            5,
            &[1; 9],
            Some(&bias),
            &one,
            0,
            Clamp::NONE,
            &mut out,
        );
        assert_eq!(out, [3, 5, 3, 5, 8, 5, 3, 5, 3]);
    }

    #[test]
    fn stride_2_dilation_2_and_saturation() {
        // 5x5 input v = 5y + x, 2x2 filter [[1,1],[1,1]] dilated by 2 (extent 3), stride 2,
        // VALID: outputs at (0,0),(0,2),(2,0),(2,2): v[y][x]+v[y][x+2]+v[y+2][x]+v[y+2][x+2]
        // = 4 (5y + x) + 24 -> 24, 32, 64, 72; times 2 saturates the last two at 100 (clamp).
        let input: Vec<i8> = (0..25).collect();
        let g = geometry(
            [1, 5, 5, 1],
            [2, 2, 1],
            window((2, 2), (2, 2), (2, 2), (0, 0)),
        );
        let two = Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: 2,
        });
        let mut out = [0i8; 4];
        let clamp = Clamp {
            min: -128,
            max: 100,
        };
        depthwise_conv_2d(&g, &input, 0, &[1; 4], None, &two, 0, clamp, &mut out);
        assert_eq!(out, [48, 64, 100, 100]);
        depthwise_conv_2d(&g, &input, 0, &[-1; 4], None, &two, 0, clamp, &mut out);
        assert_eq!(out, [-48, -64, -128, -128]);
    }

    #[allow(clippy::too_many_arguments)]
    fn naive_depthwise(
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
        let dm = g.out_c / g.in_c;
        let mut out = std::vec![0i8; g.batches * g.out_h * g.out_w * g.out_c];
        for b in 0..g.batches {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for ic in 0..g.in_c {
                        for m in 0..dm {
                            let oc = ic * dm + m;
                            let mut acc: i64 = 0;
                            for ky in 0..usize::from(w.filter_h) {
                                for kx in 0..usize::from(w.filter_w) {
                                    let iy = (oy * usize::from(w.stride_h)) as i64
                                        - i64::from(w.pad_top)
                                        + (ky * usize::from(w.dilation_h)) as i64;
                                    let ix = (ox * usize::from(w.stride_w)) as i64
                                        - i64::from(w.pad_left)
                                        + (kx * usize::from(w.dilation_w)) as i64;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= g.in_h as i64
                                        || ix >= g.in_w as i64
                                    {
                                        continue;
                                    }
                                    let xi = ((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                        * g.in_c
                                        + ic;
                                    let fi = (ky * usize::from(w.filter_w) + kx) * g.out_c + oc;
                                    acc += i64::from(filter[fi])
                                        * (i64::from(input[xi]) - i64::from(input_zp));
                                }
                            }
                            acc += bias.map_or(0, |b| i64::from(b[oc]));
                            let mm = mult(oc);
                            let v = multiply_by_quantized_multiplier(
                                i32::try_from(acc).unwrap(),
                                mm.multiplier,
                                i32::from(mm.shift),
                            );
                            let v = i64::from(v) + i64::from(output_zp);
                            out[((b * g.out_h + oy) * g.out_w + ox) * g.out_c + oc] =
                                v.max(i64::from(clamp.min)).min(i64::from(clamp.max)) as i8;
                        }
                    }
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_naive(
            (geo, dm) in geometry_strategy(4),
            pool in proptest::collection::vec(any::<i8>(), 1..64),
            fpool in proptest::collection::vec(-127i8..=127, 1..64),
            req in requant_strategy(16),
            bias in proptest::option::of(proptest::collection::vec(-5000i32..5000, 16)),
            input_zp in -128i32..=127,
            output_zp in -128i32..=127,
            (lo, hi) in (-128i8..=127, -128i8..=127),
        ) {
            let mut g = geo;
            g.out_c = g.in_c * dm;
            let taps = usize::from(g.window.filter_h) * usize::from(g.window.filter_w);
            let input = fill(&pool, g.batches * g.in_h * g.in_w * g.in_c);
            let filter = fill(&fpool, taps * g.out_c);
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
            depthwise_conv_2d(&g, &input, input_zp, &filter, bias_le.as_deref(), &requant, output_zp, clamp, &mut out);
            let expect = naive_depthwise(
                &g, &input, input_zp, &filter, bias.as_deref(),
                &|c| requant.channel(c), output_zp, clamp,
            );
            prop_assert_eq!(out, expect);
        }
    }
}
