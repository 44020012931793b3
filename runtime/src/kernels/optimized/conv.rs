//! CONV_2D as a blocked matrix product: the receptive fields of a few output pixels (four on
//! Arm, three on RISC-V, else two or one) are packed into a block of as many columns (im2col:
//! values minus the input zero point as i16, zeros in the padding, which is exactly TFLM's
//! skipping of padded taps), then every filter runs over the block through the architecture's
//! dot kernel.
//!
//! Grouped convolutions take the reference kernel, in builds with `op-conv-grouped` ([`handles`]).
//! Fields other than a pointwise pixel's or a first layer's few channels are packed tap by
//! tap, in builds with `op-conv-general` ([`general`]).

use super::gemm::{
    self, CHANNEL_CHUNK, ChannelParams, OutputStage, Requantization, block_len, pack_values,
    pack_zeros,
};
use crate::format::{Clamp, Requant};
use crate::kernels::reference::Geometry;
use crate::kernels::{Isa, KernelPath, Scratch, arch, scratch_bytes};

/// Columns of the blocks for `pixels` output pixels (or batches): pairs when there are two.
pub(super) fn block_cols(pixels: usize) -> usize {
    if pixels >= 2 { 2 } else { 1 }
}

/// Whether this build has blocks of two columns (`op-conv-pairs`): without them, the pixels
/// the widest blocks leave over take blocks of one ([`takes_pairs`]).
const PAIRS: bool = cfg!(feature = "op-conv-pairs");

/// Deepest receptive field packed four columns at a time (a block of 4 KB); deeper ones take
/// blocks of two. Four columns of IC's 576-value receptive fields would add 2.3 KB to its
/// arena (its scratch is set by that layer; its other layers are at most 288 deep).
const QUAD_MAX_DEPTH: usize = 512;

/// Columns of CONV_2D's widest block for `pixels` output pixels of `depth` values, as scratch
/// is sized: four (the most any architecture's `arch::WIDE_COLUMNS` takes; the scratch is the
/// same on every architecture, so that the arena is).
fn widest_block(pixels: usize, depth: usize) -> usize {
    if pixels >= 4 && depth <= QUAD_MAX_DEPTH {
        4
    } else {
        block_cols(pixels)
    }
}

/// Bytes of scratch [`conv_2d`] takes for `g` and a filter of `filter_len` weights: a block
/// of packed columns, the parameters of a chunk of channels and, for blocks of four over a
/// depth that is not whole groups, the chunk's weight rows padded to whole groups.
pub fn scratch(g: &Geometry, filter_len: usize) -> usize {
    let depth = filter_len.checked_div(g.out_c).unwrap_or(0);
    let pixels = g.out_h.saturating_mul(g.out_w);
    let widest = widest_block(pixels, depth);
    scratch_bytes(&[
        block_len(depth, widest).saturating_mul(2),
        g.out_c.min(CHANNEL_CHUNK) * size_of::<ChannelParams>(),
        padded_rows_len(g.out_c.min(CHANNEL_CHUNK), depth, widest),
    ])
}

/// Bytes of a chunk of `channels` weight rows of `depth` padded to whole groups where blocks
/// of `widest` columns need them: four columns take rows of whole groups only (the assembly
/// reads a chunk's rows as one run of groups), and a first layer's depth is often 27.
fn padded_rows_len(channels: usize, depth: usize, widest: usize) -> usize {
    if widest == 4 && !depth.is_multiple_of(4) {
        channels * depth.next_multiple_of(4)
    } else {
        0
    }
}

/// Whether [`conv_2d`] computes `g` with a filter of `filter_len` weights itself: a filter
/// over every input channel (a grouped convolution takes the reference kernel).
pub fn handles(g: &Geometry, filter_len: usize) -> bool {
    let taps = usize::from(g.window.filter_h) * usize::from(g.window.filter_w);
    let depth = taps.saturating_mul(g.in_c);
    depth > 0 && Some(filter_len) == depth.checked_mul(g.out_c)
}

/// Whether a 1x1 filter with unit strides and no padding reads each pixel's own values, whole
/// groups of channels: they go straight to the packer.
#[inline(always)]
fn pointwise(g: &Geometry) -> bool {
    let w = g.window;
    (w.filter_h, w.filter_w, w.stride_h, w.stride_w) == (1, 1, 1, 1)
        && (w.pad_top, w.pad_left) == (0, 0)
        && (g.out_h, g.out_w) == (g.in_h, g.in_w)
        && g.in_c.is_multiple_of(4)
}

/// Whether a first layer's fields of `depth` values, over at most `channels` input channels,
/// are gathered whole ([`pack_shallow`]).
#[inline(always)]
fn shallow(g: &Geometry, depth: usize, channels: usize) -> bool {
    g.in_c <= channels && depth <= STAGED_MAX_DEPTH && g.window.dilation_w == 1
}

/// Whether a CONV_2D over `g` packs its fields tap by tap on a target with `isa`'s
/// micro-kernels ([`KernelPath::ConvGeneral`]): neither pointwise nor a first layer's few
/// channels.
pub fn general(g: &Geometry, isa: Isa) -> bool {
    let taps = usize::from(g.window.filter_h) * usize::from(g.window.filter_w);
    !pointwise(g) && !shallow(g, taps.saturating_mul(g.in_c), isa.shallow_channels())
}

/// Whether a CONV_2D over `g` with a filter of `filter_len` weights and `requant` takes
/// blocks of two columns on a target with `isa`'s micro-kernels (if the build has them): for
/// the one or two pixels its widest blocks leave over, or for every pixel where it takes no
/// wide blocks (a field deeper than [`QUAD_MAX_DEPTH`], a chunk of channels whose
/// requantization the wide blocks do not take).
#[cfg(all(feature = "compile", feature = "op-conv"))]
pub fn takes_pairs(g: &Geometry, filter_len: usize, requant: &Requant<'_>, isa: Isa) -> bool {
    if !handles(g, filter_len) {
        return false; // the reference kernel's
    }
    let (columns, min_depth) = isa.wide_blocks();
    let depth = filter_len.checked_div(g.out_c).unwrap_or(0);
    let pixels = g.out_h.saturating_mul(g.out_w);
    let slow = |c| super::requant::ChannelQuant::new(requant.channel(c)).slow();
    let wide = widest_block(pixels, depth) == 4 && depth >= min_depth && !(0..g.out_c).any(slow);
    if wide {
        pixels % columns >= 2
    } else {
        pixels >= 2
    }
}

/// CONV_2D with the reference kernel's signature and results, its working memory in
/// `scratch` ([`scratch`] bytes). A grouped convolution, or too little scratch, takes the
/// reference kernel in a build with `op-conv-grouped` (or `reference-kernels`) and leaves the
/// output as it was in others, where the interpreter never asks for either: validation
/// refuses grouped convolutions there, and the plan gives every kernel its scratch. So do
/// the shapes of `KernelPath::ConvGeneral` in a build without `op-conv-general`.
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
        && handles(g, filter.len())
        && (KernelPath::ConvGeneral.built() || !general(g, Isa::HERE));
    let chunk_len = g.out_c.min(CHANNEL_CHUNK);
    let buffers = if fits {
        scratch
            .take::<i16>(block_len(depth, widest))
            .zip(scratch.take::<ChannelParams>(chunk_len))
            .zip(scratch.take::<i8>(padded_rows_len(chunk_len, depth, widest)))
    } else {
        None
    };
    let Some(((packed, params), padded)) = buffers else {
        #[cfg(any(feature = "op-conv-grouped", feature = "reference-kernels"))]
        crate::kernels::reference::conv_2d(
            g, input, input_zp, filter, bias, requant, output_zp, clamp, output,
        );
        return;
    };
    let stage = OutputStage {
        zero_point: output_zp,
        clamp,
    };
    let image = g.in_h * g.in_w * g.in_c;
    let pointwise = pointwise(g);
    let shallow = shallow(g, depth, arch::SHALLOW_CHANNELS);
    let out_image = g.out_h * g.out_w * g.out_c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        let mut c0 = 0;
        while c0 < g.out_c {
            let chunk = (g.out_c - c0).min(params.len());
            let quant = gemm::prepare(params, bias, requant, c0, chunk);
            let params = params.get_mut(..chunk).unwrap_or(&mut []);
            // The output zero point folded into each channel's rounding constant where every
            // channel allows it: the kernels then add 0 (Cortex-M4's four-column loop none).
            let mut stage = stage;
            if quant == Requantization::FastShifted
                && params.iter().all(ChannelParams::folds_zero_point)
            {
                for p in params.iter_mut() {
                    *p = p.with_zero_point(stage.zero_point);
                }
                stage.zero_point = 0;
            }
            let params = &*params;
            // Wide blocks where every multiplier is not negative (left shifts are fine), over
            // rows of whole groups: the filter's, or the chunk's padded into scratch.
            #[allow(clippy::absurd_extreme_comparisons)] // WIDE_MIN_DEPTH is 0 on most
            let wide = widest == 4
                && depth >= arch::WIDE_MIN_DEPTH
                && (quant.is_fast() || params.iter().all(|p| !p.quant.slow()));
            let rows = filter.get(c0 * depth..).unwrap_or(&[]);
            let (rows, row_len) = if wide && !padded.is_empty() {
                let whole = depth.next_multiple_of(4);
                for (to, from) in padded.chunks_exact_mut(whole).zip(rows.chunks(depth)) {
                    let (row, tail) = to.split_at_mut(depth.min(whole));
                    for (w, &v) in row.iter_mut().zip(from) {
                        *w = v;
                    }
                    tail.fill(0);
                }
                (&*padded, whole)
            } else {
                // From the chunk's first row to the end of the filter: a row's last partial
                // group may be read whole where the next row follows (its padding in the
                // columns is 0).
                (rows, depth)
            };
            let wide = wide && row_len.is_multiple_of(4);
            let mut p = 0;
            while p < pixels {
                let cols = if wide && p + arch::WIDE_COLUMNS <= pixels {
                    arch::WIDE_COLUMNS
                } else if PAIRS && p + 2 <= pixels {
                    2
                } else {
                    1
                };
                let block = packed.get_mut(..block_len(depth, cols)).unwrap_or(&mut []);
                if shallow {
                    pack_shallow(g, x, input_zp, p, block, cols);
                    for c in 0..cols {
                        gemm::pad_tail(block, cols, c, depth);
                    }
                } else if pointwise {
                    // A pointwise pixel's receptive field is its own input values, whole
                    // groups.
                    for c in 0..cols {
                        let at = (p + c) * g.in_c;
                        if let Some(v) = x.get(at..at + g.in_c) {
                            let column = block.get_mut(4 * c..).unwrap_or(&mut []);
                            arch::pack_groups(column, cols, v, input_zp);
                        }
                    }
                } else if KernelPath::ConvGeneral.built() {
                    // (`fits` keeps these shapes out of builds without it; the test lets the
                    // compiler leave `pack_pixel` out of them.)
                    for c in 0..cols {
                        pack_pixel(g, x, input_zp, p + c, block, cols, c);
                        gemm::pad_tail(block, cols, c, depth);
                    }
                }
                let y = y.get_mut(p * g.out_c..).unwrap_or(&mut []);
                if cols == arch::WIDE_COLUMNS {
                    arch::wide_channels(rows, params, quant, block, row_len, stage, y, g.out_c, c0);
                } else if cols == 2 {
                    arch::pair_channels(rows, params, quant, block, row_len, stage, y, g.out_c, c0);
                } else {
                    arch::single_channels(
                        rows, params, quant, block, row_len, stage, y, g.out_c, c0,
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

/// Bytes of each row copy of [`gather_rows`] (`arch::ROW_COPY`).
const ROW_COPY: usize = arch::ROW_COPY;

/// Where [`pack_shallow`] gathers a field: room for a row's copy past the deepest.
type Staged = [i8; STAGED_MAX_DEPTH + ROW_COPY];

/// Copies `rows` runs of [`ROW_COPY`] bytes, `stride` apart in `x` from `start`, to
/// `staged`, `row_len` apart, if both are that long; says whether it did. A fixed size is a
/// few word moves where the architecture allows unaligned ones, rather than a `memcpy` call;
/// what a row's copy carries past it lands where the next row or the last group's tail goes,
/// and the tail is zeroed in the block.
#[inline(always)]
fn gather_rows(
    staged: &mut Staged,
    x: &[i8],
    start: usize,
    stride: usize,
    row_len: usize,
    rows: usize,
) -> bool {
    let Some(last) = rows.checked_sub(1) else {
        return true;
    };
    let src = x.get(start..start.saturating_add(last * stride + ROW_COPY));
    let dst = staged.get_mut(..last * row_len + ROW_COPY);
    let (Some(src), Some(dst)) = (src, dst) else {
        return false;
    };
    let (mut from, mut to) = (src.as_ptr(), dst.as_mut_ptr());
    for _ in 0..rows {
        // SAFETY: row r's copy starts r·stride into `src` and r·row_len into `dst`, at most
        // ROW_COPY bytes from the end of each (the slices above); `staged` is not the input.
        unsafe { core::ptr::copy_nonoverlapping(from, to, ROW_COPY) };
        (from, to) = (from.wrapping_add(stride), to.wrapping_add(row_len));
    }
    true
}

/// Packs the `cols` fields of a block inside the image, the first at `start` in `x` and each
/// next `step` bytes on, of `rows` rows `stride` apart and `row_len <= ROW_COPY` bytes long,
/// into `block` through `staged` ([`gather_rows`]); false (nothing written) where a copy
/// would read past the input.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pack_inside(
    staged: &mut Staged,
    x: &[i8],
    start: usize,
    step: usize,
    stride: usize,
    rows: usize,
    row_len: usize,
    input_zp: i32,
    block: &mut [i16],
    cols: usize,
) -> bool {
    let reach = (cols - 1) * step + rows.saturating_sub(1) * stride + ROW_COPY;
    if start.saturating_add(reach) > x.len() {
        return false;
    }
    for c in 0..cols {
        gather_rows(staged, x, start + c * step, stride, row_len, rows);
        pack_staged(staged, rows * row_len, input_zp, block, cols, c);
    }
    true
}

/// Packs the first `depth` values of `staged` into column `c` of `block` (of `cols` columns)
/// as whole groups. Past the field lie the zero points of the padding or what the row copies
/// carried there, which the caller zeroes in the block ([`gemm::pad_tail`]).
#[inline(always)]
fn pack_staged(
    staged: &Staged,
    depth: usize,
    input_zp: i32,
    block: &mut [i16],
    cols: usize,
    c: usize,
) {
    let groups = depth.div_ceil(4);
    let end = 4 * c + (groups.max(1) - 1) * 4 * cols + 4;
    if let (Some(dst), Some(field)) = (block.get_mut(4 * c..end), staged.get(..4 * groups)) {
        arch::pack_groups(dst, cols, field, input_zp);
    }
}

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
    // A field inside the image whose rows are whole groups: each row straight to the packer
    // (IC's 3x3 layers: 65 instructions of bookkeeping per row through the general loop).
    let last_row = y0 + (kh.saturating_sub(1) * dh) as isize;
    if g.in_c.is_multiple_of(4)
        && dw == 1
        && y0 >= 0
        && x0 >= 0
        && last_row < g.in_h as isize
        && x0 + kw as isize <= g.in_w as isize
    {
        let stride = dh * g.in_w * g.in_c;
        let start = (y0 as usize * g.in_w + x0 as usize) * g.in_c;
        let end = start + (last_row - y0) as usize * g.in_w * g.in_c + row_len;
        let row_step = row_len * cols;
        let rows = x.get(start..end).unwrap_or(&[]).chunks(stride);
        for (r, row) in rows.enumerate() {
            let column = block.get_mut(4 * c + r * row_step..).unwrap_or(&mut []);
            arch::pack_groups(column, cols, row.get(..row_len).unwrap_or(&[]), input_zp);
        }
        return;
    }
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

/// [`pack_pixel`] for the `cols` shallow fields of output pixels `p..` (a first layer's few
/// input channels, no column dilation): each gathered whole into `staged`, the zero point in
/// the padding, then packed in one pass rather than a call per filter row or tap (KWS's first
/// layer on Cortex-M4: 594 k -> 530 k instructions). A field inside the image is gathered in
/// fixed-size row copies ([`gather_rows`]; VWW's first layer lost 0.36 M instructions of
/// `memcpy` calls). A function of its own, so that the deeper fields' loop keeps its
/// registers (inlined, it cost IC's other layers 0.5%), and for a whole block, so that the
/// geometry is worked out once per block.
#[inline(never)]
fn pack_shallow(g: &Geometry, x: &[i8], input_zp: i32, p: usize, block: &mut [i16], cols: usize) {
    let mut staged: Staged = [0; STAGED_MAX_DEPTH + ROW_COPY];
    let staged = &mut staged;
    let w = g.window;
    let (kh, kw) = (usize::from(w.filter_h), usize::from(w.filter_w));
    let dh = usize::from(w.dilation_h);
    let (in_h, in_w) = (g.in_h as isize, g.in_w as isize);
    let row_len = kw * g.in_c;
    let stride = dh * g.in_w * g.in_c;
    let last_row = (kh.saturating_sub(1) * dh) as isize;
    // A whole block inside the image along one output row (most of a first layer's): its
    // fields `stride_w·in_c` bytes apart, without the padding's bookkeeping.
    let ((y0, x0), (y1, x1)) = (field_origin(g, p), field_origin(g, p + cols - 1));
    if y0 == y1 && y0 >= 0 && y0 + last_row < in_h && x0 >= 0 && x1 + kw as isize <= in_w {
        let start = (y0 as usize * g.in_w + x0 as usize) * g.in_c;
        let step = usize::from(w.stride_w) * g.in_c;
        if row_len <= ROW_COPY
            && pack_inside(
                staged, x, start, step, stride, kh, row_len, input_zp, block, cols,
            )
        {
            return;
        }
    }
    for c in 0..cols {
        let (y0, x0) = field_origin(g, p + c);
        // The filter columns inside the input: `first..end`.
        let first = (-x0).clamp(0, kw as isize) as usize;
        let end = (in_w - x0).clamp(first as isize, kw as isize) as usize;
        let run = (end - first) * g.in_c;
        let inside = run == row_len && y0 >= 0 && y0 + last_row < in_h;
        // Inside, row by row in fixed sizes: what a row's copy carries past it lands where
        // the next row or the last group's tail goes, and the tail is zeroed in the block.
        let start = (y0.max(0) as usize * g.in_w + x0.max(0) as usize) * g.in_c;
        let gathered =
            inside && run <= ROW_COPY && gather_rows(staged, x, start, stride, row_len, kh);
        if !gathered {
            if !inside {
                staged.fill(input_zp as i8);
            }
            for ky in 0..kh {
                let iy = y0 + (ky * dh) as isize;
                if iy < 0 || iy >= in_h || run == 0 {
                    continue;
                }
                let start = (iy as usize * g.in_w + (x0 + first as isize) as usize) * g.in_c;
                let k = ky * row_len + first * g.in_c;
                let dst = staged.get_mut(k..k + run).unwrap_or(&mut []);
                for (d, &v) in dst.iter_mut().zip(x.get(start..).unwrap_or(&[])) {
                    *d = v;
                }
            }
        }
        pack_staged(staged, kh * row_len, input_zp, block, cols, c);
    }
}
