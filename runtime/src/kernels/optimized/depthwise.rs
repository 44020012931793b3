//! DEPTHWISE_CONV_2D with depth multiplier 1: for each output pixel, blocks of channels
//! accumulate over the filter taps. The input zero point is folded into the bias
//! (`bias - zp · Σ w`), and taps in the padding read a row of zero points instead of the
//! input, which contributes exactly what TFLM's skipping of padded taps leaves out: every
//! pixel takes the same path.
//!
//! 3x3 filters (dilation 1, channels in groups of four, stride 1 or 2 along the longer output
//! axis, every channel of a chunk requantized with a right shift) take the line path where
//! the architecture has one (`arch::DEPTHWISE_LINES`, [`lines_3x3`]): each channel's input
//! lines are widened once into a ring of three (zero points in the padding), one channel
//! after another, so that neighbouring positions of one channel share a word and a dual
//! multiply-accumulate takes two taps; the lines run along the longer output axis.
//!
//! Other depth multipliers, and filters of more than 25 taps, take the reference kernel. The
//! loop over output pixels, for the shapes the line path does not take, is built with
//! `op-depthwise-general` ([`general`]).

use super::gemm::{CHANNEL_CHUNK, ChannelParams, OutputStage, Requantization, prepare};
use super::requant::ChannelQuant;
use crate::format::{Clamp, Requant};
use crate::kernels::reference::Geometry;
use crate::kernels::{Isa, KernelPath, Scratch, arch, scratch_bytes};

/// Most filter taps of the fast path (a 5x5 filter).
pub const MAX_TAPS: usize = 25;

/// Bytes of scratch [`depthwise_conv_2d`] takes: the parameters and the folded biases of a
/// whole chunk of channels, and for a 3x3 filter the ring of widened lines (on every
/// architecture, so that the arena is the same size everywhere). As arrays of fixed size
/// the chunk's bounds are known to the compiler, which then keeps the chunk loop tighter (on
/// Cortex-M4, 7% fewer instructions than slices as long as the layer's chunk).
pub fn scratch(g: &Geometry) -> usize {
    scratch_bytes(&[
        CHANNEL_CHUNK * size_of::<ChannelParams>(),
        CHANNEL_CHUNK * size_of::<i32>(),
        ring_bytes(g),
    ])
}

/// Bytes of the ring of [`lines_3x3`], 0 where the line path does not apply.
fn ring_bytes(g: &Geometry) -> usize {
    Lines::of(g).map_or(0, |l| l.ring_halfwords().saturating_mul(size_of::<i16>()))
}

/// Lines in the ring of [`lines_3x3`]: those of one 3x3 window.
const RING_ROWS: usize = 3;

/// Whether [`depthwise_conv_2d`] computes `g` itself: a channel multiplier of 1 and at most
/// [`MAX_TAPS`] taps (other shapes take the reference kernel).
pub fn handles(g: &Geometry) -> bool {
    let taps = usize::from(g.window.filter_h) * usize::from(g.window.filter_w);
    g.in_c == g.out_c && (1..=MAX_TAPS).contains(&taps)
}

/// Whether a DEPTHWISE_CONV_2D over `g` that [`handles`] takes the loop over output pixels
/// for some of its channels on a target with `isa`'s micro-kernels
/// ([`KernelPath::DepthwiseGeneral`]): all but 3x3 lines (as long as the line path takes
/// there) whose every channel folds the output zero point into its requantization.
#[cfg_attr(not(feature = "op-depthwise"), allow(dead_code))]
pub fn general(g: &Geometry, requant: &Requant<'_>, isa: Isa) -> bool {
    let lines = Lines::of(g).is_some_and(|l| l.along >= isa.depthwise_lines_from());
    let folds = |c| {
        let quant = ChannelQuant::new(requant.channel(c));
        ChannelParams { quant, bias: 0 }.folds_zero_point()
    };
    !(lines && (0..g.out_c).all(folds))
}

/// DEPTHWISE_CONV_2D with the reference kernel's signature and results, its working memory
/// in `scratch` ([`scratch`] bytes). A channel multiplier above 1, a filter of more than
/// `MAX_TAPS` (25) taps, or too little scratch take the reference kernel in a build with
/// `op-depthwise-multiplier` (or `reference-kernels`) and leave the output as it was in
/// others, where validation refuses such a model (see `optimized::conv_2d`). So do the
/// channels of the shapes of `KernelPath::DepthwiseGeneral` in a build without
/// `op-depthwise-general`.
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
        && handles(g)
        && g.out_c.checked_mul(taps) == Some(filter.len());
    let buffers = if fits {
        let params = scratch.take::<ChannelParams>(CHANNEL_CHUNK);
        let folded = scratch.take::<i32>(CHANNEL_CHUNK);
        params
            .and_then(|p| <&mut [ChannelParams; CHANNEL_CHUNK]>::try_from(p).ok())
            .zip(folded.and_then(|f| <&mut [i32; CHANNEL_CHUNK]>::try_from(f).ok()))
    } else {
        None
    };
    // The ring of widened lines, where the line path applies (else empty).
    let ring = match ring_bytes(g) {
        0 => None,
        bytes if arch::DEPTHWISE_LINES => scratch.take::<i32>(bytes / size_of::<i32>()),
        _ => None,
    };
    let Some((params, folded)) = buffers else {
        #[cfg(any(feature = "op-depthwise-multiplier", feature = "reference-kernels"))]
        crate::kernels::reference::depthwise_conv_2d(
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
            let lines =
                Lines::of(g).filter(|l| !ring.is_empty() && l.along >= arch::DEPTHWISE_LINES_FROM);
            if let Some(lines) = lines.filter(|_| {
                requantization == Requantization::FastShifted
                    && params.iter().all(ChannelParams::folds_zero_point)
                    && chunk.is_multiple_of(4)
            }) {
                let chunk = Chunk { c0, params, folded };
                lines_3x3(g, &lines, x, input_zp, filter, &chunk, stage, y, ring);
                c0 += chunk.params.len();
                continue;
            }
            if !KernelPath::DepthwiseGeneral.built() {
                // Validation refused what comes here ([`general`]).
                c0 += chunk;
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

/// The line path's geometry ([`lines_3x3`]): a 3x3 filter with dilation 1, a whole number of
/// groups of four channels, oriented so that lines run along the longer output axis (KWS's
/// 25x5 outputs: five lines of 25, not 25 of 5), with a stride of 1 or 2 along it; one line
/// of outputs per position across.
#[derive(Debug)]
struct Lines {
    /// Outputs along a line, and lines.
    along: usize,
    across: usize,
    /// The strides along and across.
    stride: usize,
    stride_across: usize,
    /// Input positions along and across, and the padding before the first of each.
    along_in: usize,
    across_in: usize,
    pad_along: usize,
    pad_across: usize,
    /// Bytes from one input position to the next, along and across.
    in_along: usize,
    in_across: usize,
    /// Bytes from one output position to the next, along and across.
    out_along: usize,
    out_across: usize,
    /// Whether lines run along the height: filter tap `(a, r)` is then tap `a` along line `r`.
    transposed: bool,
    /// Positions of a widened line: those the outputs read and one more past a stride of 2
    /// (its blocks of four read a word), rounded up to even so that every line starts on a
    /// word.
    positions: usize,
}

impl Lines {
    fn of(g: &Geometry) -> Option<Lines> {
        let w = g.window;
        let transposed = g.out_h > g.out_w;
        let (stride, stride_across) = if transposed {
            (w.stride_h, w.stride_w)
        } else {
            (w.stride_w, w.stride_h)
        };
        let applies = (w.filter_h, w.filter_w) == (3, 3)
            && (w.dilation_h, w.dilation_w) == (1, 1)
            && (1..=2).contains(&stride)
            && stride_across >= 1
            && g.in_c == g.out_c
            && g.in_c.is_multiple_of(4);
        if !applies {
            return None;
        }
        let (stride, stride_across) = (usize::from(stride), usize::from(stride_across));
        let c = g.in_c;
        let (row, out_row) = (g.in_w.checked_mul(c)?, g.out_w.checked_mul(c)?);
        let (pad_top, pad_left) = (usize::from(w.pad_top), usize::from(w.pad_left));
        let along = g.out_h.max(g.out_w);
        let positions = along.checked_mul(stride)?.checked_add(3)? & !1;
        Some(if transposed {
            Lines {
                along,
                across: g.out_w,
                stride,
                stride_across,
                along_in: g.in_h,
                across_in: g.in_w,
                pad_along: pad_top,
                pad_across: pad_left,
                in_along: row,
                in_across: c,
                out_along: out_row,
                out_across: c,
                transposed,
                positions,
            }
        } else {
            Lines {
                along,
                across: g.out_h,
                stride,
                stride_across,
                along_in: g.in_w,
                across_in: g.in_h,
                pad_along: pad_left,
                pad_across: pad_top,
                in_along: c,
                in_across: row,
                out_along: c,
                out_across: out_row,
                transposed,
                positions,
            }
        })
    }

    /// Halfwords of the ring: three lines of each of four channels.
    fn ring_halfwords(&self) -> usize {
        self.positions.saturating_mul(4 * RING_ROWS)
    }
}

/// One channel of a [`Line3x3`]; the layout is fixed (`repr(C)`) because assembly reads it.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct LineChannel {
    /// The bias with the input zero point folded in.
    pub folded: i32,
    /// The nine taps as 16-bit halves: `(k[r][0], k[r][1])` for lines `r` = 0, 1, 2, then
    /// `(k[0][2], k[1][2])` and `(k[2][2], 0)` (`k[r][a]`: line `r`, position `a` along it).
    pub weights: [u32; 5],
    /// The requantization, fast with a right shift, the output zero point folded in
    /// ([`ChannelParams::with_zero_point`]).
    pub quant: ChannelQuant,
}

/// What a line of outputs of four channels of the line path needs
/// (`arch::depthwise_3x3_line`); the layout is fixed (`repr(C)`) because assembly reads it.
#[derive(Debug)]
#[repr(C)]
pub struct Line3x3 {
    pub channels: [LineChannel; 4],
    /// Channel 0's first output; bytes from one output to the next along the line.
    pub out: *mut i8,
    pub out_step: usize,
    /// Bytes of a widened line that the outputs in blocks of four step over (8 per block and
    /// unit of stride), and that all of them do (2 per output and unit of stride).
    pub quads_bytes: usize,
    pub along_bytes: usize,
    /// Whether `clamp` is narrower than int8 (non-zero) or not (zero).
    pub clamps: u32,
    /// The activation's bounds, each in the four bytes of a word.
    pub clamp: [u32; 2],
    /// Channel 0's three widened input lines, at the first output's first tap: output `i`
    /// reads positions `s·i..s·i + 3` of each (`s` the stride).
    pub lines: [*const i16; 3],
    /// Bytes from a channel's lines once past its outputs (`along_bytes` on) to the next
    /// channel's lines.
    pub next_channel: usize,
    /// The stride along the line: 1 or 2.
    pub stride: usize,
    /// Bytes from past a channel's last output back to the next channel's first.
    pub rewind: usize,
}

/// One image's chunk of channels through the line path ([`Lines`]): for each group of four
/// channels, each input line that lines of outputs read is widened once ([`widen_line`]) into
/// a ring of three lines per channel; then each channel's line of outputs reads the three
/// lines ([`arch::depthwise_3x3_line`]). Every channel fast with a right shift below
/// [`FOLD_MAX_SHIFT`](super::gemm::FOLD_MAX_SHIFT).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lines_3x3(
    g: &Geometry,
    lines: &Lines,
    x: &[i8],
    input_zp: i32,
    filter: &[i8],
    chunk: &Chunk<'_>,
    stage: OutputStage,
    y: &mut [i8],
    ring: &mut [i32],
) {
    let c = g.in_c;
    let p = lines.positions;
    // SAFETY: i16 has no invalid bit patterns and a smaller alignment than i32; the view
    // borrows `ring` exclusively.
    let ring =
        unsafe { core::slice::from_raw_parts_mut(ring.as_mut_ptr().cast::<i16>(), 2 * ring.len()) };
    let Some(ring) = ring.get_mut(..lines.ring_halfwords()) else {
        return;
    };
    // Every output (the last at `(out_h·out_w - 1)·c + ch + 3`) lies in `y`.
    if lines.along == 0 || g.out_h * g.out_w * c > y.len() || chunk.c0 + chunk.params.len() > c {
        return;
    }
    let padding = i16::from(input_zp as i8);
    let bytes = |b: i8| u32::from_ne_bytes([b as u8; 4]);
    let clamp = [bytes(stage.clamp.min), bytes(stage.clamp.max)];
    let clamps = u32::from(stage.clamp != Clamp::NONE);
    let groups = chunk
        .params
        .as_chunks::<4>()
        .0
        .iter()
        .zip(chunk.folded.as_chunks::<4>().0);
    for (q, (params, folded)) in groups.enumerate() {
        let ch = chunk.c0 + 4 * q;
        // The nine taps of the four channels, filter tap `t` (row-major) at `taps[t]`.
        let mut taps = [[0i8; 4]; 9];
        for (t, tap) in taps.iter_mut().enumerate() {
            if let Some(word) = filter.get(t * c + ch..).and_then(|b| b.first_chunk::<4>()) {
                *tap = *word;
            }
        }
        if lines.transposed {
            // Line r is filter column r: tap (r, a) is filter tap (a, r).
            let t = taps;
            taps = [t[0], t[3], t[6], t[1], t[4], t[7], t[2], t[5], t[8]];
        }
        let weights: [[u32; 5]; 4] = core::array::from_fn(|lane| {
            let k = taps.map(|tap| u32::from(tap.get(lane).map_or(0, |&v| i16::from(v) as u16)));
            [
                k[0] | k[1] << 16,
                k[3] | k[4] << 16,
                k[6] | k[7] << 16,
                k[2] | k[5] << 16,
                k[8],
            ]
        });
        let quants = params.map(|p| p.with_zero_point(stage.zero_point).quant);
        let mut channels = quants.map(|quant| LineChannel {
            folded: 0,
            weights: [0; 5],
            quant,
        });
        for ((channel, weights), &folded) in channels.iter_mut().zip(weights).zip(folded) {
            (channel.weights, channel.folded) = (weights, folded);
        }
        let mut line = Line3x3 {
            channels,
            out: core::ptr::null_mut(),
            out_step: lines.out_along,
            quads_bytes: lines.along / 4 * 8 * lines.stride,
            along_bytes: lines.along * 2 * lines.stride,
            clamps,
            clamp,
            lines: [core::ptr::null(); 3],
            next_channel: RING_ROWS * p * 2 - lines.along * 2 * lines.stride,
            stride: lines.stride,
            rewind: lines.along * lines.out_along - 1,
        };
        // Lines are numbered from the first padding line; those below `ready` are widened,
        // line `n` into slot `n % 3` of each channel's three. Positions outside the image are
        // the zero point in every slot, and never written again.
        if q == 0 {
            ring.fill(padding);
        }
        let mut ready = 0;
        for o in 0..lines.across {
            let top = o * lines.stride_across;
            for n in ready.max(top)..top + RING_ROWS {
                widen_line(ring, lines, n, x, ch, padding);
            }
            ready = top + RING_ROWS;
            line.out = y.as_mut_ptr().wrapping_add(o * lines.out_across + ch);
            let first = ring.as_ptr();
            line.lines = core::array::from_fn(|r| first.wrapping_add((top + r) % RING_ROWS * p));
            // SAFETY: output `i < along` of channel `k < 4` reads positions `s·i..s·i + 3`
            // (`s` the stride; with 2, blocks of four read one more) of three lines of
            // `positions >= s·along + 2` halfwords `k·3·positions` past
            // `lines` in `ring`, and writes byte `o·out_across + i·out_along + ch + k` of `y`
            // (checked above).
            unsafe { arch::depthwise_3x3_line(&line) };
        }
    }
}

/// Widens line `n` (counted from the first padding line) of channels `ch..ch + 4` into slot
/// `n % 3` of each channel's three lines in `ring`: its positions in the image, or the zero
/// point where the whole line is outside it (the positions before and after the image hold
/// the zero point from the start).
#[inline(always)]
fn widen_line(ring: &mut [i16], lines: &Lines, n: usize, x: &[i8], ch: usize, padding: i16) {
    let p = lines.positions;
    let lane = RING_ROWS * p;
    let slot = n % RING_ROWS * p;
    let across = n.wrapping_sub(lines.pad_across);
    let before = lines.pad_along.min(p);
    let inside = lines.along_in.min(p - before);
    let start = across.wrapping_mul(lines.in_across).wrapping_add(ch);
    let in_bounds = across < lines.across_in
        && inside > 0
        && start + (inside - 1) * lines.in_along + 4 <= x.len();
    if ring.len() < 4 * lane || before + inside > p {
        return;
    }
    let line = ring.as_mut_ptr().wrapping_add(slot + before);
    if !in_bounds {
        // The positions before and after the image are padding already ([`lines_3x3`]).
        for j in 0..inside {
            // SAFETY: position `before + j < p` of slot `slot` of each of the four channels
            // lies in `ring` (at least `4·lane` halfwords).
            unsafe {
                let dst = line.add(j);
                for k in 0..4 {
                    dst.add(k * lane).write(padding);
                }
            }
        }
        return;
    }
    // Channel k's position `before + i` lies `k·lane` halfwords past channel 0's.
    let src = x.as_ptr().wrapping_add(start);
    // SAFETY: positions `start + i·in_along` for i < inside, 4 bytes each, lie in `x`
    // (checked above); position `before + i < p` of slot `slot` of each of the four channels
    // lies in `ring` (at least `4·lane` halfwords).
    unsafe {
        arch::widen_pairs(src, lines.in_along, line, lane, inside / 2);
        if inside % 2 == 1 {
            let [v0, v1, v2, v3] = src
                .add((inside - 1) * lines.in_along)
                .cast::<[i8; 4]>()
                .read_unaligned();
            let dst = line.add(inside - 1);
            dst.write(v0.into());
            dst.add(lane).write(v1.into());
            dst.add(2 * lane).write(v2.into());
            dst.add(3 * lane).write(v3.into());
        }
    }
}
