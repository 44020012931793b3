//! DEPTHWISE_CONV_2D with depth multiplier 1: for each output pixel, blocks of channels
//! accumulate over the filter taps. The input zero point is folded into the bias
//! (`bias - zp · Σ w`), and taps in the padding read a row of zero points instead of the
//! input, which contributes exactly what TFLM's skipping of padded taps leaves out: every
//! pixel takes the same path.
//!
//! 3x3 filters (dilation 1, any stride, channels in groups of four, every channel of a chunk
//! requantized with a right shift) take a row path where the architecture has one
//! (`arch::DEPTHWISE_ROWS`): for each group of four channels, the input rows a row of outputs
//! reads are widened once into a ring of three rows (zero points in the padding), and each
//! output pixel reads its nine taps from there at fixed offsets ([`rows_3x3`]).
//!
//! Other depth multipliers, and filters of more than 25 taps, take the reference kernel.

use super::gemm::{CHANNEL_CHUNK, ChannelParams, OutputStage, Requantization, prepare};
use crate::format::{Clamp, Requant};
use crate::kernels::reference::{self, Geometry};
use crate::kernels::{Scratch, arch, scratch_bytes};

/// Most filter taps of the fast path (a 5x5 filter).
pub const MAX_TAPS: usize = 25;

/// Bytes of scratch [`depthwise_conv_2d`] takes: the parameters and the folded biases of a
/// whole chunk of channels, and for a 3x3 filter the ring of widened rows (on every
/// architecture, so that the arena is the same size everywhere). As arrays of fixed size
/// the chunk's bounds are known to the compiler, which then keeps the chunk loop tighter (on
/// Cortex-M4, 7% fewer instructions than slices as long as the layer's chunk).
pub fn scratch(g: &Geometry) -> usize {
    scratch_bytes(&[
        CHANNEL_CHUNK * size_of::<ChannelParams>(),
        CHANNEL_CHUNK * size_of::<i32>(),
        ring_row_words(g)
            .unwrap_or(0)
            .saturating_mul(RING_ROWS * size_of::<i32>()),
    ])
}

/// Rows in the ring of [`rows_3x3`]: those of one 3x3 window.
const RING_ROWS: usize = 3;

/// Words of one widened row of [`rows_3x3`] (two per input position that a row of outputs
/// reads, padding included), or `None` where the row path does not apply to the geometry.
fn ring_row_words(g: &Geometry) -> Option<usize> {
    let w = g.window;
    let applies = (w.filter_h, w.filter_w) == (3, 3)
        && (w.dilation_h, w.dilation_w) == (1, 1)
        && g.in_c == g.out_c
        && g.in_c.is_multiple_of(4);
    let positions = g
        .out_w
        .checked_sub(1)?
        .checked_mul(usize::from(w.stride_w))?
        .checked_add(3)?;
    applies.then(|| positions.checked_mul(2)).flatten()
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
    // The ring of widened rows, where the row path applies (else empty).
    let ring = match ring_row_words(g) {
        Some(words) if arch::DEPTHWISE_ROWS => scratch.take::<i32>(words.saturating_mul(RING_ROWS)),
        _ => None,
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
    let ring = ring.unwrap_or(&mut []);
    run(
        g, input, input_zp, filter, bias, requant, stage, output, params, folded, ring,
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
    ring: &mut [i32],
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
            let requantization = prepare(params, bias, requant, c0, chunk);
            let fast = requantization.is_fast();
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
            if requantization == Requantization::FastShifted
                && params
                    .iter()
                    .all(|p| p.quant.right_minus_one() < FOLD_MAX_SHIFT)
                && chunk.is_multiple_of(4)
                && !ring.is_empty()
            {
                let chunk = Chunk { c0, params, folded };
                rows_3x3(g, x, input_zp, filter, &chunk, stage, y, ring);
                c0 += chunk.params.len();
                continue;
            }
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

/// A chunk of channels of [`run`]: the first, and the prepared parameters and folded biases
/// of each.
struct Chunk<'a> {
    c0: usize,
    params: &'a [ChannelParams],
    folded: &'a [i32],
}

/// What a row of output pixels of the row path needs (`arch::depthwise_3x3_row`); the layout
/// is fixed (`repr(C)`) because assembly reads it.
#[derive(Debug)]
#[repr(C)]
pub struct Row3x3 {
    /// Each filter row's first widened input position for the current pixel.
    pub rows: [*const u32; 3],
    /// The nine taps' weights, widened.
    pub weights: *const [u32; 2],
    /// The four channels' biases with the input zero point folded in.
    pub folded: [i32; 4],
    /// The four channels' requantization, the output zero point folded in ([`fold_zero_point`]).
    pub params: *const ChannelParams,
    /// Whether `clamp` is narrower than int8 (non-zero) or not (zero).
    pub clamps: u32,
    /// The current pixel's four outputs.
    pub out: *mut i8,
    /// Bytes from one output pixel to the next.
    pub out_step: usize,
    /// Bytes from one pixel's widened inputs to the next's.
    pub in_step: usize,
    /// The row's end: `out` past its last pixel.
    pub end: *mut i8,
    /// The activation's bounds, each in the four bytes of a word.
    pub clamp: [u32; 2],
}

/// Right shifts (`e`, as `e - 1`) below which [`fold_zero_point`] is exact: the rounded high
/// word (below 2^30 + 2^(e-2)) plus the zero point times 2^(e-1) stays below 2^31.
pub(crate) const FOLD_MAX_SHIFT: i32 = 22;

/// `p` with the output zero point added to its requantization's rounding constant, so that
/// the requantized value includes it: the high word gains `zp·2^(e-1)`, which the shift by
/// `e - 1` turns into `zp` exactly (for a right shift `e` with `e - 1 < FOLD_MAX_SHIFT`).
#[inline(always)]
fn fold_zero_point(p: ChannelParams, zero_point: i32) -> ChannelParams {
    let mut quant = p.quant;
    quant.round_hi = quant
        .round_hi
        .wrapping_add(zero_point.wrapping_shl(quant.right_minus_one() as u32));
    ChannelParams { quant, ..p }
}

/// One image's chunk of channels through the row path: a 3x3 filter, dilation 1, a whole
/// number of groups of four channels, every channel fast with a right shift below
/// [`FOLD_MAX_SHIFT`]. For each group, each input row a row of outputs reads is widened
/// ([`arch::widen`]) once into `ring` (three rows of [`ring_row_words`], zero points in the
/// padding); then each row of outputs takes its taps at fixed offsets there
/// ([`arch::depthwise_3x3_row`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_3x3(
    g: &Geometry,
    x: &[i8],
    input_zp: i32,
    filter: &[i8],
    chunk: &Chunk<'_>,
    stage: OutputStage,
    y: &mut [i8],
    ring: &mut [i32],
) {
    let w = g.window;
    let c = g.in_c;
    let (sh, sw) = (usize::from(w.stride_h), usize::from(w.stride_w));
    let (pad_top, pad_left) = (usize::from(w.pad_top), usize::from(w.pad_left));
    let Some(row_words) = ring_row_words(g).filter(|&n| n.saturating_mul(RING_ROWS) <= ring.len())
    else {
        return;
    };
    // Every output pixel's four bytes lie in `y` (checked once, for the last).
    if g.out_w == 0 || g.out_h * g.out_w * c > y.len() || chunk.c0 + chunk.params.len() > c {
        return;
    }
    let padding = arch::widen(u32::from_ne_bytes([input_zp as i8 as u8; 4])).map(|v| v as i32);
    // The input positions of a row: those left of the image, inside it, right of it.
    let left = pad_left.min(row_words / 2);
    let inside = g.in_w.min(row_words / 2 - left);
    let bytes = |b: i8| u32::from_ne_bytes([b as u8; 4]);
    let groups = chunk
        .params
        .as_chunks::<4>()
        .0
        .iter()
        .zip(chunk.folded.as_chunks::<4>().0);
    for (q, (params, folded)) in groups.enumerate() {
        let ch = chunk.c0 + 4 * q;
        let mut weights = [[0u32; 2]; 9];
        for (t, tap) in weights.iter_mut().enumerate() {
            if let Some(word) = filter.get(t * c + ch..).and_then(|b| b.first_chunk::<4>()) {
                *tap = arch::widen(u32::from_le_bytes(word.map(|v| v as u8)));
            }
        }
        let quants = params.map(|p| fold_zero_point(p, stage.zero_point));
        let mut row = Row3x3 {
            rows: [core::ptr::null(); 3],
            weights: weights.as_ptr(),
            folded: *folded,
            params: quants.as_ptr(),
            clamps: u32::from(stage.clamp != Clamp::NONE),
            out: core::ptr::null_mut(),
            out_step: c,
            in_step: 2 * sw * size_of::<u32>(),
            end: core::ptr::null_mut(),
            clamp: [bytes(stage.clamp.min), bytes(stage.clamp.max)],
        };
        // Rows are numbered from the first padding row (`iy + pad_top`). Rows below `ready`
        // are widened; `slots` holds the offsets of the last three, oldest first.
        let mut ready = 0;
        let mut slots = [0, row_words, 2 * row_words];
        for oy in 0..g.out_h {
            let first = oy * sh;
            for r in ready.max(first)..first + RING_ROWS {
                slots.rotate_left(1);
                let Some(slot) = ring.get_mut(slots[2]..slots[2] + row_words) else {
                    return;
                };
                widen_row(
                    slot,
                    x,
                    r.wrapping_sub(pad_top),
                    ch,
                    g,
                    left,
                    inside,
                    padding,
                );
            }
            ready = first + RING_ROWS;
            let ring_start = ring.as_ptr().cast::<u32>();
            row.rows = slots.map(|at| ring_start.wrapping_add(at));
            row.out = y.as_mut_ptr().wrapping_add(oy * g.out_w * c + ch);
            row.end = row.out.wrapping_add(g.out_w * c);
            // SAFETY: pixel `ox` reads positions `ox·sw..ox·sw + 3` of each of the three ring
            // rows, which hold `(out_w - 1)·sw + 3` positions (`row_words` checked above);
            // it writes bytes `(oy·out_w + ox)·c + ch..+ 4` of `y` (checked above).
            unsafe { arch::depthwise_3x3_row(&mut row) };
        }
    }
}

/// Widens input row `iy` (channels `ch..ch + 4` of each position) into `slot`, two words per
/// position: `left` positions of padding, `inside` of the image, padding after; the whole
/// row is padding when `iy` is outside the image.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn widen_row(
    slot: &mut [i32],
    x: &[i8],
    iy: usize,
    ch: usize,
    g: &Geometry,
    left: usize,
    inside: usize,
    padding: [i32; 2],
) {
    let c = g.in_c;
    let (slot, _) = slot.as_chunks_mut::<2>();
    let start = iy.wrapping_mul(g.in_w).wrapping_mul(c).wrapping_add(ch);
    let in_bounds = iy < g.in_h
        && inside > 0
        && start + (inside - 1) * c + 4 <= x.len()
        && left + inside <= slot.len();
    if !in_bounds {
        slot.fill(padding);
        return;
    }
    let (before, rest) = slot.split_at_mut(left);
    let (image, after) = rest.split_at_mut(inside);
    before.fill(padding);
    after.fill(padding);
    let mut p = x.as_ptr().wrapping_add(start);
    for pair in image {
        // SAFETY: positions `start + k·c` for k < inside, 4 bytes each, lie in `x` (checked
        // above).
        let word = unsafe { p.cast::<[u8; 4]>().read_unaligned() };
        *pair = arch::widen(u32::from_le_bytes(word)).map(|v| v as i32);
        p = p.wrapping_add(c);
    }
}
