//! DEPTHWISE_CONV_2D with depth multiplier 1: for each output pixel, blocks of channels
//! accumulate over the filter taps. The input zero point is folded into the bias
//! (`bias - zp · Σ w`) for pixels whose window lies wholly inside the input; border pixels
//! subtract it per tap, which is TFLM's skipping of padded taps.
//!
//! Other depth multipliers take the reference kernel.

use super::gemm::{CHANNEL_CHUNK, ChannelParams, OutputStage, prepare};
use crate::format::{Clamp, Requant};
use crate::kernels::arch;
use crate::kernels::reference::{self, Geometry};

/// Most filter taps of the fast path (a 5x5 filter).
const MAX_TAPS: usize = 25;

/// DEPTHWISE_CONV_2D with the reference kernel's signature and results.
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
    let (kh, kw) = (
        usize::from(g.window.filter_h),
        usize::from(g.window.filter_w),
    );
    let taps = kh * kw;
    let fits = g.fits(input.len(), output.len())
        && g.in_c == g.out_c
        && g.out_c.checked_mul(taps) == Some(filter.len())
        && (1..=MAX_TAPS).contains(&taps);
    if !fits {
        reference::depthwise_conv_2d(
            g, input, input_zp, filter, bias, requant, output_zp, clamp, output,
        );
        return;
    }
    let stage = OutputStage {
        zero_point: output_zp,
        clamp,
    };
    let c = g.in_c;
    let image = g.in_h * g.in_w * c;
    let out_image = g.out_h * g.out_w * c;
    let mut params = [ChannelParams::new(None, requant, 0); CHANNEL_CHUNK];
    // Bias with the zero point folded in, for interior pixels.
    let mut folded = [0i32; CHANNEL_CHUNK];
    let mut offsets = [0usize; MAX_TAPS];
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        let mut c0 = 0;
        while c0 < c {
            let chunk = (c - c0).min(CHANNEL_CHUNK);
            prepare(&mut params, bias, requant, c0, chunk);
            for (i, (f, p)) in folded.iter_mut().zip(&params).take(chunk).enumerate() {
                let sum = filter
                    .iter()
                    .skip(c0 + i)
                    .step_by(c)
                    .fold(0i32, |s, &w| s.wrapping_add(i32::from(w)));
                *f = p.bias.wrapping_sub(sum.wrapping_mul(input_zp));
            }
            let params = params.get(..chunk).unwrap_or(&[]);
            let folded = folded.get(..chunk).unwrap_or(&[]);
            for oy in 0..g.out_h {
                let rows = g.rows(oy);
                for ox in 0..g.out_w {
                    let cols = g.cols(ox);
                    let at = (oy * g.out_w + ox) * c + c0;
                    let Some(out) = y.get_mut(at..at + chunk) else {
                        continue;
                    };
                    if rows.len() == kh && cols.len() == kw {
                        // Interior: every tap inside the input.
                        let mut n = 0;
                        for (_, iy) in rows.iter() {
                            for (_, ix) in cols.iter() {
                                if let Some(o) = offsets.get_mut(n) {
                                    *o = (iy * g.in_w + ix) * c + c0;
                                }
                                n += 1;
                            }
                        }
                        let offsets = offsets.get(..taps).unwrap_or(&[]);
                        arch::depthwise_pixel(
                            x,
                            offsets,
                            filter.get(c0..).unwrap_or(&[]),
                            c,
                            folded,
                            params,
                            stage,
                            out,
                        );
                    } else {
                        border_pixel(g, x, input_zp, filter, c0, params, stage, rows, cols, out);
                    }
                }
            }
            c0 += chunk;
        }
    }
}

/// A pixel whose window leaves the input: the in-bounds taps, each offset by the zero point.
#[allow(clippy::too_many_arguments)]
fn border_pixel(
    g: &Geometry,
    x: &[i8],
    input_zp: i32,
    filter: &[i8],
    c0: usize,
    params: &[ChannelParams],
    stage: OutputStage,
    rows: reference::Taps,
    cols: reference::Taps,
    out: &mut [i8],
) {
    let c = g.in_c;
    let kw = usize::from(g.window.filter_w);
    for (i, (o, p)) in out.iter_mut().zip(params).enumerate() {
        let mut acc = p.bias;
        for (ky, iy) in rows.iter() {
            for (kx, ix) in cols.iter() {
                let xi = (iy * g.in_w + ix) * c + c0 + i;
                let wi = (ky * kw + kx) * c + c0 + i;
                if let (Some(&xv), Some(&wv)) = (x.get(xi), filter.get(wi)) {
                    acc = acc.wrapping_add(i32::from(wv) * (i32::from(xv) - input_zp));
                }
            }
        }
        *o = p.output(acc, stage.zero_point, stage.clamp);
    }
}
