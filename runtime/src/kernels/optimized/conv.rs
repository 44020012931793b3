//! CONV_2D as a blocked matrix product: the receptive fields of four (or two) output pixels
//! are packed into a block of as many columns (im2col: values minus the input zero point as
//! i16, zeros in the padding, which is exactly TFLM's skipping of padded taps), then every
//! filter runs over the block through the architecture's dot kernel.
//!
//! Grouped convolutions take the reference kernel.

use super::gemm::{
    self, CHANNEL_CHUNK, ChannelParams, OutputStage, block_len, pack_values, pack_zeros,
};
use crate::format::{Clamp, Requant};
use crate::kernels::reference::{self, Geometry};
use crate::kernels::{Scratch, arch, scratch_bytes};

/// Columns of the blocks for `pixels` output pixels (or batches): pairs when there are two.
pub(super) fn block_cols(pixels: usize) -> usize {
    if pixels >= 2 { 2 } else { 1 }
}

/// Deepest receptive field packed four columns at a time (a block of 4 KB); deeper ones take
/// blocks of two. Four columns of IC's 576-value receptive fields would add 2.3 KB to its
/// arena (its scratch is set by that layer; its other layers are at most 288 deep).
const QUAD_MAX_DEPTH: usize = 512;

/// Columns of CONV_2D's widest block for `pixels` output pixels of `depth` values: four where
/// the architecture takes blocks of four (`arch::QUAD_COLUMNS`; the scratch is the same on
/// every architecture, so that the arena is).
fn widest_block(pixels: usize, depth: usize) -> usize {
    if pixels >= 4 && depth <= QUAD_MAX_DEPTH {
        4
    } else {
        block_cols(pixels)
    }
}

/// Bytes of scratch [`conv_2d`] takes for `g` and a filter of `filter_len` weights: a block
/// of packed columns and the parameters of a chunk of channels.
pub fn scratch(g: &Geometry, filter_len: usize) -> usize {
    let depth = filter_len.checked_div(g.out_c).unwrap_or(0);
    let pixels = g.out_h.saturating_mul(g.out_w);
    scratch_bytes(&[
        block_len(depth, widest_block(pixels, depth)).saturating_mul(2),
        g.out_c.min(CHANNEL_CHUNK) * size_of::<ChannelParams>(),
    ])
}

/// CONV_2D with the reference kernel's signature and results, its working memory in
/// `scratch` ([`scratch`] bytes; with less it takes the reference kernel).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
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
    mut scratch: Scratch<'_>,
) {
    let g = geometry;
    let taps = usize::from(g.window.filter_h) * usize::from(g.window.filter_w);
    let depth = taps.saturating_mul(g.in_c);
    let pixels = g.out_h * g.out_w;
    let widest = widest_block(pixels, depth);
    let fits = !super::REFERENCE_ONLY
        && g.fits(input.len(), output.len())
        && Some(filter.len()) == depth.checked_mul(g.out_c)
        && depth > 0;
    let buffers = if fits {
        scratch
            .take::<i16>(block_len(depth, widest))
            .zip(scratch.take::<ChannelParams>(g.out_c.min(CHANNEL_CHUNK)))
    } else {
        None
    };
    let Some((packed, params)) = buffers else {
        reference::conv_2d(
            g, input, input_zp, filter, bias, requant, output_zp, clamp, output,
        );
        return;
    };
    let stage = OutputStage {
        zero_point: output_zp,
        clamp,
    };
    let image = g.in_h * g.in_w * g.in_c;
    // A 1x1 filter with unit strides and no padding reads each pixel's own values: with whole
    // groups of channels, they go straight to the packer.
    let w = g.window;
    let pointwise = (w.filter_h, w.filter_w, w.stride_h, w.stride_w) == (1, 1, 1, 1)
        && (w.pad_top, w.pad_left) == (0, 0)
        && (g.out_h, g.out_w) == (g.in_h, g.in_w)
        && g.in_c.is_multiple_of(4);
    // A first layer's few input channels: each field gathered whole ([`pack_shallow`]).
    let shallow =
        g.in_c <= arch::SHALLOW_CHANNELS && depth <= STAGED_MAX_DEPTH && w.dilation_w == 1;
    let out_image = g.out_h * g.out_w * g.out_c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        let mut c0 = 0;
        while c0 < g.out_c {
            let chunk = (g.out_c - c0).min(params.len());
            let quant = gemm::prepare(params, bias, requant, c0, chunk);
            let params = params.get(..chunk).unwrap_or(&[]);
            // Blocks of four for whole groups only (the assembly reads rows group by group),
            // and multipliers that are not negative (left shifts are fine).
            let quad = arch::QUAD_COLUMNS
                && widest == 4
                && depth.is_multiple_of(4)
                && (quant.is_fast() || params.iter().all(|p| !p.quant.slow()));
            // From the chunk's first row to the end of the filter: a row's last partial group
            // may be read whole where the next row follows (its padding in the columns is 0).
            let filter = filter.get(c0 * depth..).unwrap_or(&[]);
            let mut p = 0;
            while p < pixels {
                let cols = if quad && p + 4 <= pixels {
                    4
                } else if p + 2 <= pixels {
                    2
                } else {
                    1
                };
                let block = packed.get_mut(..block_len(depth, cols)).unwrap_or(&mut []);
                for c in 0..cols {
                    // A pointwise pixel's receptive field is its own input values, whole groups.
                    let at = (p + c) * g.in_c;
                    match x.get(at..at + g.in_c).filter(|_| pointwise) {
                        Some(v) => arch::pack_groups(
                            block.get_mut(4 * c..).unwrap_or(&mut []),
                            cols,
                            v,
                            input_zp,
                        ),
                        None if shallow => pack_shallow(g, x, input_zp, p + c, block, cols, c),
                        None => pack_pixel(g, x, input_zp, p + c, block, cols, c),
                    }
                    gemm::pad_tail(block, cols, c, depth);
                }
                let y = y.get_mut(p * g.out_c..).unwrap_or(&mut []);
                if cols == 4 {
                    arch::quad_channels(filter, params, quant, block, depth, stage, y, g.out_c, c0);
                } else if cols == 2 {
                    arch::pair_channels(filter, params, quant, block, depth, stage, y, g.out_c, c0);
                } else {
                    arch::single_channels(
                        filter, params, quant, block, depth, stage, y, g.out_c, c0,
                    );
                }
                p += cols;
            }
            c0 += chunk;
        }
    }
}

/// Deepest receptive field [`pack_shallow`] gathers whole before packing it.
const STAGED_MAX_DEPTH: usize = 64;

/// The input position (row, column) of the first tap of output pixel `p` (raster order),
/// negative in the padding.
#[inline(always)]
fn field_origin(g: &Geometry, p: usize) -> (isize, isize) {
    let w = g.window;
    let (oy, ox) = (p / g.out_w, p % g.out_w);
    (
        (oy * usize::from(w.stride_h)) as isize - w.pad_top as isize,
        (ox * usize::from(w.stride_w)) as isize - w.pad_left as isize,
    )
}

/// Packs the receptive field of output pixel `p` (raster order) into column `c` of `block`.
#[inline(always)]
fn pack_pixel(
    g: &Geometry,
    x: &[i8],
    input_zp: i32,
    p: usize,
    block: &mut [i16],
    cols: usize,
    c: usize,
) {
    let w = g.window;
    let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
    let row_len = kw * g.in_c;
    let (y0, x0) = field_origin(g, p);
    let (dh, dw) = (usize::from(w.dilation_h), usize::from(w.dilation_w));
    for ky in 0..kh {
        let iy = y0 + (ky * dh) as isize;
        let k = ky * row_len;
        if iy < 0 || iy >= g.in_h as isize {
            pack_zeros(block, cols, c, k, row_len);
            continue;
        }
        let row = iy as usize * g.in_w;
        // The whole filter row inside the input with no dilation: one contiguous run.
        let last = x0 + ((kw - 1) * dw) as isize;
        if dw == 1 && x0 >= 0 && last < g.in_w as isize {
            let start = (row + x0 as usize) * g.in_c;
            if let Some(v) = x.get(start..start + row_len) {
                pack_values(block, cols, c, k, v, input_zp);
            }
            continue;
        }
        for kx in 0..kw {
            let ix = x0 + (kx * dw) as isize;
            let k = k + kx * g.in_c;
            if ix < 0 || ix >= g.in_w as isize {
                pack_zeros(block, cols, c, k, g.in_c);
            } else {
                let start = (row + ix as usize) * g.in_c;
                if let Some(v) = x.get(start..start + g.in_c) {
                    pack_values(block, cols, c, k, v, input_zp);
                }
            }
        }
    }
}

/// [`pack_pixel`] for a shallow field (a first layer's few input channels, no column
/// dilation): gathered whole, the zero point in the padding, then packed in one pass rather
/// than a call per filter row or tap (KWS's first layer on Cortex-M4: 594 k -> 530 k
/// instructions). A function of its own, so that the deeper fields' loop keeps its registers
/// (inlined, it cost IC's other layers 0.5%).
#[inline(never)]
fn pack_shallow(
    g: &Geometry,
    x: &[i8],
    input_zp: i32,
    p: usize,
    block: &mut [i16],
    cols: usize,
    c: usize,
) {
    let w = g.window;
    let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
    let row_len = kw * g.in_c;
    let (y0, x0) = field_origin(g, p);
    let mut staged = [input_zp as i8; STAGED_MAX_DEPTH];
    // The filter columns inside the input: `first..end`.
    let first = (-x0).clamp(0, kw as isize) as usize;
    let end = (g.in_w as isize - x0).clamp(first as isize, kw as isize) as usize;
    let run = (end - first) * g.in_c;
    for ky in 0..kh {
        let iy = y0 + (ky * usize::from(w.dilation_h)) as isize;
        if iy < 0 || iy >= g.in_h as isize || run == 0 {
            continue;
        }
        let start = (iy as usize * g.in_w + (x0 + first as isize) as usize) * g.in_c;
        let k = ky * row_len + first * g.in_c;
        if let (Some(dst), Some(src)) = (staged.get_mut(k..k + run), x.get(start..start + run)) {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v;
            }
        }
    }
    // Whole groups: the zero points past the field pack as the zeros of its last group.
    let groups = (kh * row_len).div_ceil(4);
    let end = 4 * c + (groups.max(1) - 1) * 4 * cols + 4;
    if let (Some(dst), Some(field)) = (block.get_mut(4 * c..end), staged.get(..4 * groups)) {
        arch::pack_groups(dst, cols, field, input_zp);
    }
}
