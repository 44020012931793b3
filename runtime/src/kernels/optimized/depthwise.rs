//! DEPTHWISE_CONV_2D with depth multiplier 1: for each output pixel, blocks of channels
//! accumulate over the filter taps. The input zero point is folded into the bias
//! (`bias - zp · Σ w`), and taps in the padding read a row of zero points instead of the
//! input, which contributes exactly what TFLM's skipping of padded taps leaves out: every
//! pixel takes the same path.
//!
//! Other depth multipliers, and filters of more than 25 taps, take the reference kernel.

use super::gemm::{CHANNEL_CHUNK, ChannelParams, OutputStage, prepare};
use crate::format::{Clamp, Requant};
use crate::kernels::reference::{self, Geometry};
use crate::kernels::{Scratch, arch, scratch_bytes};

/// Most filter taps of the fast path (a 5x5 filter).
pub const MAX_TAPS: usize = 25;

/// Bytes of scratch [`depthwise_conv_2d`] takes (for any geometry): the parameters and the
/// folded biases of a whole chunk of channels. As arrays of fixed size their bounds are known
/// to the compiler, which then keeps the chunk loop tighter (on Cortex-M4, 7% fewer
/// instructions than slices as long as the layer's chunk).
pub fn scratch(_: &Geometry) -> usize {
    scratch_bytes(&[
        CHANNEL_CHUNK * size_of::<ChannelParams>(),
        CHANNEL_CHUNK * size_of::<i32>(),
    ])
}

/// DEPTHWISE_CONV_2D with the reference kernel's signature and results, its working memory
/// in `scratch` ([`scratch`] bytes; with less it takes the reference kernel).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
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
    mut scratch: Scratch<'_>,
) {
    let g = geometry;
    let w = g.window;
    let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
    let taps = kh * kw;
    let fits = !super::REFERENCE_ONLY
        && g.fits(input.len(), output.len())
        && g.in_c == g.out_c
        && g.out_c.checked_mul(taps) == Some(filter.len())
        && (1..=MAX_TAPS).contains(&taps);
    let buffers = if fits {
        let params = scratch.take::<ChannelParams>(CHANNEL_CHUNK);
        let folded = scratch.take::<i32>(CHANNEL_CHUNK);
        params
            .and_then(|p| <&mut [ChannelParams; CHANNEL_CHUNK]>::try_from(p).ok())
            .zip(folded.and_then(|f| <&mut [i32; CHANNEL_CHUNK]>::try_from(f).ok()))
    } else {
        None
    };
    let Some((params, folded)) = buffers else {
        reference::depthwise_conv_2d(
            g, input, input_zp, filter, bias, requant, output_zp, clamp, output,
        );
        return;
    };
    let stage = OutputStage {
        zero_point: output_zp,
        clamp,
    };
    run(
        g, input, input_zp, filter, bias, requant, stage, output, params, folded,
    );
}

/// [`depthwise_conv_2d`] once its scratch is carved: a function of its own, so that the
/// compiler knows (from the reference arguments) that the outputs alias neither the
/// parameters nor the folded biases, and keeps them in registers across stores.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn run(
    g: &Geometry,
    input: &[i8],
    input_zp: i32,
    filter: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    stage: OutputStage,
    output: &mut [i8],
    params: &mut [ChannelParams; CHANNEL_CHUNK],
    folded: &mut [i32; CHANNEL_CHUNK],
) {
    let w = g.window;
    let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
    let taps = kh * kw;
    let c = g.in_c;
    let image = g.in_h * g.in_w * c;
    let out_image = g.out_h * g.out_w * c;
    // What taps in the padding read: the zero point (an int8 value, validated).
    let zero_points = [input_zp as i8; CHANNEL_CHUNK];
    let (sh, sw) = (usize::from(w.stride_h), usize::from(w.stride_w));
    let (dh, dw) = (usize::from(w.dilation_h), usize::from(w.dilation_w));
    // Each tap's offset from the first, in input bytes, for pixels whose window is inside.
    let mut offsets = [0usize; MAX_TAPS];
    for (t, o) in offsets.iter_mut().enumerate().take(taps) {
        *o = ((t / kw) * dh * g.in_w + (t % kw) * dw) * c;
    }
    let last = offsets.get(taps - 1).copied().unwrap_or(0);
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        let mut c0 = 0;
        while c0 < c {
            let chunk = (c - c0).min(CHANNEL_CHUNK);
            let fast = prepare(params, bias, requant, c0, chunk).is_fast();
            // bias - zp · Σ w, wrapping as TFLM's accumulator does.
            for (i, (f, p)) in folded.iter_mut().zip(params.iter()).take(chunk).enumerate() {
                let sum = filter
                    .iter()
                    .skip(c0 + i)
                    .step_by(c)
                    .fold(0i32, |s, &w| s.wrapping_add(i32::from(w)));
                *f = p.bias.wrapping_sub(sum.wrapping_mul(input_zp));
            }
            let params = params.get(..chunk).unwrap_or(&[]);
            let folded = folded.get(..chunk).unwrap_or(&[]);
            let pad = zero_points.get(..chunk).unwrap_or(&[]);
            let span = last + chunk;
            let prepared = arch::DepthwiseChunk::new(filter, c, c0, chunk, taps);
            let mut inputs = [core::ptr::null::<i8>(); MAX_TAPS];
            for oy in 0..g.out_h {
                let y0 = (oy * sh) as isize - w.pad_top as isize;
                let rows_inside = y0 >= 0 && y0 + (((kh - 1) * dh) as isize) < g.in_h as isize;
                for ox in 0..g.out_w {
                    let x0 = (ox * sw) as isize - w.pad_left as isize;
                    let at = (oy * g.out_w + ox) * c + c0;
                    let Some(out) = y.get_mut(at..at + chunk) else {
                        continue;
                    };
                    let inside =
                        rows_inside && x0 >= 0 && x0 + (((kw - 1) * dw) as isize) < g.in_w as isize;
                    let base = if inside {
                        let start = (y0 as usize * g.in_w + x0 as usize) * c + c0;
                        x.get(start..).filter(|b| b.len() >= span)
                    } else {
                        None
                    };
                    match base {
                        Some(base) => {
                            // Interior: every tap at its fixed offset from the first.
                            for (p, &o) in inputs.iter_mut().zip(&offsets) {
                                *p = base.as_ptr().wrapping_add(o);
                            }
                        }
                        None => {
                            // Border: taps in the padding read the zero points.
                            let mut t = 0;
                            for ky in 0..kh {
                                let iy = y0 + (ky * dh) as isize;
                                let row_inside = iy >= 0 && iy < g.in_h as isize;
                                for kx in 0..kw {
                                    let ix = x0 + (kx * dw) as isize;
                                    let slot = if row_inside && ix >= 0 && ix < g.in_w as isize {
                                        let at = (iy as usize * g.in_w + ix as usize) * c + c0;
                                        x.get(at..at + chunk).unwrap_or(pad)
                                    } else {
                                        pad
                                    };
                                    if let Some(p) = inputs.get_mut(t) {
                                        *p = slot.as_ptr();
                                    }
                                    t += 1;
                                }
                            }
                        }
                    }
                    // SAFETY: each of the first `taps` pointers addresses `chunk` bytes: the
                    // interior's lie in `base` (`span` bytes from the first tap), the
                    // border's in a slice of `chunk` bytes (the input's or `pad`).
                    unsafe {
                        arch::depthwise_pixel(
                            &prepared,
                            inputs.get(..taps).unwrap_or(&[]),
                            folded,
                            params,
                            fast,
                            stage,
                            out,
                        );
                    }
                }
            }
            c0 += chunk;
        }
    }
}
