//! Portable micro-kernels: the inner loops of the optimized kernels in plain Rust, for every
//! target without a dedicated module (the host, Armv6-M, RISC-V without its own tuning). An
//! architecture module provides the same items with the same meaning.
//!
//! Operands: weights are int8 rows as stored in the blob; activations are "packed columns":
//! int8 values minus their zero point as i16, in groups of four stored in the order
//! `v0, v2, v1, v3` (the order in which Arm's `SXTB16` splits a word of four int8 weights into
//! two pairs of halfwords, so a `SMLAD` multiplies matching elements).

use super::optimized::depthwise::{Line3x3, LineChannel};
use super::optimized::gemm::{self, ChannelParams, OutputStage, Requantization};

/// Output channels per call of [`dot`] with a block of two columns (a 4x2 block of
/// accumulators: eight registers).
pub const PAIR_CHANNELS: usize = 4;
/// Output channels per call of [`dot`] with a single column.
pub const SINGLE_CHANNELS: usize = 4;

/// Every channel of a chunk times a block of two packed columns (two output pixels): see
/// `gemm::channels`. `fast` says every channel's requantization takes the fast form.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn pair_channels(
    filter: &[i8],
    params: &[ChannelParams],
    quant: Requantization,
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    gemm::channels::<PAIR_CHANNELS, 2>(filter, params, quant, block, depth, stage, y, out_c, first);
}

/// Columns of CONV_2D's wide blocks (more than two; [`wide_channels`]), packed where no
/// channel of a chunk needs the reference requantization; blocks of two otherwise.
pub const WIDE_COLUMNS: usize = 4;

/// Shallowest receptive field packed in wide blocks (shallower ones take blocks of two).
pub const WIDE_MIN_DEPTH: usize = 0;

/// Every channel of a chunk times a block of [`WIDE_COLUMNS`] packed columns: see
/// [`pair_channels`].
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn wide_channels(
    filter: &[i8],
    params: &[ChannelParams],
    quant: Requantization,
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    gemm::channels::<WIDE_ROWS, WIDE_COLUMNS>(
        filter, params, quant, block, depth, stage, y, out_c, first,
    );
}

/// Output channels per call of [`dot`] with a wide block (eight accumulators).
pub const WIDE_ROWS: usize = 2;

/// Every channel of a chunk times one packed column: see [`pair_channels`].
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn single_channels(
    filter: &[i8],
    params: &[ChannelParams],
    quant: Requantization,
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    gemm::channels::<SINGLE_CHANNELS, 1>(
        filter, params, quant, block, depth, stage, y, out_c, first,
    );
}

/// Writes `x - zero_point` into `column` and returns their sum.
#[inline(always)]
pub fn widen_column(column: &mut [i16], x: &[i8], zero_point: i32) -> i32 {
    let mut sum = 0i32;
    for (c, &v) in column.iter_mut().zip(x) {
        let v = i32::from(v) - zero_point;
        *c = v as i16;
        sum += v;
    }
    sum
}

/// For each of `P` pairs of rows, the sums of both rows' weights (the even row's as stored,
/// with its `+128`) times `column`: four columns a turn, each column value loaded once for
/// the `2·P` rows.
#[inline(always)]
pub fn dot_pairs<const P: usize>(pairs: [&[u8]; P], column: &[i16]) -> [[i32; 2]; P] {
    let mut acc = [[0i32; 2]; P];
    let n = column.len();
    if pairs.iter().any(|p| p.len() < 2 * n) {
        return acc;
    }
    let mut w = pairs.map(<[u8]>::as_ptr);
    let mut x = column.as_ptr();
    // One column `j` from the pointers on.
    let column_at = |acc: &mut [[i32; 2]; P], w: &[*const u8; P], x: *const i16, j: usize| {
        // SAFETY: the callers keep `j` within the `n` columns of every pair (`2n` bytes) and
        // of `column` (checked above).
        unsafe {
            let v = i32::from(*x.add(j));
            for (a, &p) in acc.iter_mut().zip(w) {
                a[0] = a[0].wrapping_add(i32::from(*p.add(2 * j)) * v);
                a[1] = a[1].wrapping_add(i32::from(*p.add(2 * j + 1) as i8) * v);
            }
        }
    };
    for _ in 0..n / 4 {
        for j in 0..4 {
            column_at(&mut acc, &w, x, j);
        }
        // SAFETY: four columns further, still within (or just past) each slice.
        unsafe {
            x = x.add(4);
            w = w.map(|p| p.add(8));
        }
    }
    for j in 0..n % 4 {
        column_at(&mut acc, &w, x, j);
    }
    acc
}

/// Rows of weights in pairs (`Op::FullyConnectedPaired`) an architecture computes its own way
/// before the portable loop takes the rest: none here.
#[allow(clippy::too_many_arguments)]
pub fn paired_rows(
    _pairs: &[u8],
    _depth: usize,
    _bias: Option<&[u8]>,
    _requant: &crate::format::Requant<'_>,
    _column: &[i16],
    _sum: i32,
    _stage: OutputStage,
    _y: &mut [i8],
) -> usize {
    0
}

/// Position of element `j` of a group of four in a packed group.
pub const PACKED_ORDER: [usize; 4] = [0, 2, 1, 3];

/// `acc[r][c] += Σ_k w[r][k] · x_c[k]` over the first `groups` groups of four: `w[r]` holds
/// at least `4 * groups` int8 weights, `x` is a block of `C` packed columns (group `g` of
/// column `c` at `(g·C + c)·4`). Wrapping i32 arithmetic, as TFLM's accumulators.
#[inline(always)]
pub fn dot<const R: usize, const C: usize>(
    acc: &mut [[i32; C]; R],
    w: [&[i8]; R],
    x: &[i16],
    groups: usize,
) {
    dot_generic(acc, w, x, groups);
}

/// The definition of [`dot`], also the fallback of architecture modules for block shapes they
/// do not specialise. Register blocking: each group of four weights of each row is loaded
/// once for the `C` columns, each group of each column once for the `R` rows.
#[inline(always)]
pub fn dot_generic<const R: usize, const C: usize>(
    acc: &mut [[i32; C]; R],
    w: [&[i8]; R],
    x: &[i16],
    groups: usize,
) {
    if w.iter().any(|w| w.len() < 4 * groups) || x.len() < 4 * C * groups {
        return;
    }
    let mut rows = w.map(<[i8]>::as_ptr);
    let mut column = x.as_ptr();
    let mut sums = *acc;
    for _ in 0..groups {
        // SAFETY: `groups` groups of every row and of the block are in bounds (checked
        // above); each iteration reads one group and advances past it.
        unsafe {
            let xv: [[i32; 4]; C] = core::array::from_fn(|c| {
                core::array::from_fn(|j| i32::from(*column.add(4 * c + j)))
            });
            for (row, sum) in rows.iter_mut().zip(sums.iter_mut()) {
                let p = *row;
                let (w0, w1, w2, w3) = (
                    i32::from(*p),
                    i32::from(*p.add(1)),
                    i32::from(*p.add(2)),
                    i32::from(*p.add(3)),
                );
                for (s, xc) in sum.iter_mut().zip(&xv) {
                    *s = s
                        .wrapping_add(w0 * xc[0])
                        .wrapping_add(w2 * xc[1])
                        .wrapping_add(w1 * xc[2])
                        .wrapping_add(w3 * xc[3]);
                }
                *row = p.add(4);
            }
            column = column.add(4 * C);
        }
    }
    *acc = sums;
}

/// Packs `src` (whole groups of four int8 values) minus `zero_point` into consecutive groups of
/// column 0 of `dst`, a block of `cols` columns starting at that column's first group.
#[inline(always)]
pub fn pack_groups(dst: &mut [i16], cols: usize, src: &[i8], zero_point: i32) {
    let stride = 4 * cols;
    for (g, v) in src.as_chunks::<4>().0.iter().enumerate() {
        if let Some(out) = dst
            .get_mut(g * stride..g * stride + 4)
            .and_then(|o| o.first_chunk_mut::<4>())
        {
            pack4(*v, zero_point, out);
        }
    }
}

/// Packs four int8 values minus `zero_point` (an int8 value) into `out` in packed order.
#[inline(always)]
pub fn pack4(v: [i8; 4], zero_point: i32, out: &mut [i16; 4]) {
    let d = |x: i8| (i32::from(x) - zero_point) as i16;
    *out = [d(v[0]), d(v[2]), d(v[1]), d(v[3])];
}

/// What a depthwise pixel needs of the filter for a chunk of channels: here, the filter
/// itself (tap `t`, channel `c0 + i` at `t·stride + c0 + i`).
#[derive(Debug)]
pub struct DepthwiseChunk<'f> {
    filter: &'f [i8],
    stride: usize,
}

#[cfg_attr(not(any(mote_arm_dsp, mote_riscv)), allow(dead_code))] // the architecture kernels' tails use these
impl<'f> DepthwiseChunk<'f> {
    /// The filter from channel `i` of the chunk on.
    #[inline(always)]
    pub fn filter_from(&self, i: usize) -> &'f [i8] {
        self.filter.get(i..).unwrap_or(&[])
    }

    /// Bytes from one tap to the next.
    #[inline(always)]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The chunk of channels `c0..c0 + chunk` of a `[taps][stride]` filter.
    #[inline(always)]
    pub fn new(filter: &'f [i8], stride: usize, c0: usize, chunk: usize, taps: usize) -> Self {
        let _ = (chunk, taps);
        DepthwiseChunk {
            filter: filter.get(c0..).unwrap_or(&[]),
            stride,
        }
    }
}

/// One output pixel of a depthwise convolution with depth multiplier 1, for a chunk of
/// `out.len()` channels: `out[i] = stage(folded[i] + Σ_t w[t][i] · x[t][i])`, where `x[t]`
/// points to the input at tap `t` from the chunk's first channel on (to zero points for a
/// tap in the padding) and `folded` is the bias with the zero point folded in. Does nothing
/// if a slice is too short.
///
/// # Safety
/// Each pointer of `x` addresses `out.len()` readable bytes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub unsafe fn depthwise_pixel(
    chunk: &DepthwiseChunk<'_>,
    x: &[*const i8],
    folded: &[i32],
    params: &[ChannelParams],
    fast: bool,
    stage: OutputStage,
    out: &mut [i8],
) {
    let n = out.len();
    let (filter, stride) = (chunk.filter, chunk.stride);
    let taps = x.len();
    let fits = folded.len() >= n
        && params.len() >= n
        && taps
            .checked_sub(1)
            .and_then(|t| t.checked_mul(stride))
            .and_then(|t| t.checked_add(n))
            .is_some_and(|e| e <= filter.len());
    if !fits || taps == 0 {
        return;
    }
    let finish = |a: i32, p: &ChannelParams| -> i8 {
        if fast {
            let v = p.quant.apply_fast(a).saturating_add(stage.zero_point);
            v.max(i32::from(stage.clamp.min))
                .min(i32::from(stage.clamp.max)) as i8
        } else {
            p.output(a, stage.zero_point, stage.clamp)
        }
    };
    for i in 0..n {
        // SAFETY: i < n: within every tap's input (the caller's contract), and t·stride + i
        // < (taps - 1)·stride + n <= filter.len(), folded, params and out (checked above).
        unsafe {
            let mut a = *folded.get_unchecked(i);
            for (t, &xt) in x.iter().enumerate() {
                let xv = *xt.add(i);
                let wv = *filter.get_unchecked(t * stride + i);
                a = a.wrapping_add(i32::from(wv) * i32::from(xv));
            }
            *out.get_unchecked_mut(i) = finish(a, params.get_unchecked(i));
        }
    }
}

/// See `ChannelQuant::apply_fast`.
#[inline(always)]
pub fn apply_fast(q: &super::optimized::requant::ChannelQuant, acc: i32) -> i32 {
    q.apply_fast_portable(acc)
}

/// The low and high 16-bit halves of a word, as numbers.
#[inline(always)]
pub(super) fn halves(v: u32) -> (i32, i32) {
    (i32::from(v as i16), i32::from((v >> 16) as i16))
}

/// Whether the optimized depthwise kernel takes its line path (`optimized::depthwise`'s
/// `lines_3x3`) where it applies: [`depthwise_3x3_line`].
pub const DEPTHWISE_LINES: bool = true;

/// The fewest outputs along a line for which the line path is taken (shorter lines take the
/// pixel loop).
pub const DEPTHWISE_LINES_FROM: usize = 1;

/// Most input channels of a convolution whose receptive fields `optimized::conv` gathers whole
/// before packing them (`pack_shallow`): a first layer's.
pub const SHALLOW_CHANNELS: usize = 3;

/// Bytes a shallow field's row is gathered in, one fixed-size copy (`optimized::conv`'s
/// `gather_rows`): rows up to this long take it. Unaligned words are cheap here (Cortex-M3,
/// the host); on Armv6-M a copy is byte by byte, which only first layers pay.
pub const ROW_COPY: usize = 16;

/// Widens `2·pairs` positions of four channels: the four int8 values at `src + i·step` to
/// the halfwords at `dst + i` of four lines `lane` halfwords apart.
///
/// # Safety
/// Those bytes are readable and those halfwords writable.
#[inline(always)]
pub unsafe fn widen_pairs(src: *const i8, step: usize, dst: *mut i16, lane: usize, pairs: usize) {
    let (mut src, mut dst) = (src, dst);
    for _ in 0..2 * pairs {
        // SAFETY: the caller's contract.
        unsafe {
            let [v0, v1, v2, v3] = src.cast::<[i8; 4]>().read_unaligned();
            dst.write(v0.into());
            dst.add(lane).write(v1.into());
            dst.add(2 * lane).write(v2.into());
            dst.add(3 * lane).write(v3.into());
        }
        src = src.wrapping_add(step);
        dst = dst.wrapping_add(1);
    }
}

/// A line of outputs of four channels of a 3x3 depthwise convolution with stride `s`
/// (`line.stride`): channel `k`'s output `i` (for `i` below `line.along_bytes / 2s`) is the
/// requantized sum of its folded bias and the products of its taps `k[r][a]` (see
/// `LineChannel::weights`) with position `s·i + a` of its widened line `r`
/// (`k·(line.along_bytes + line.next_channel)` bytes past `line.lines[r]`), clamped, written
/// at `line.out + k + i·line.out_step`.
///
/// # Safety
/// Positions `0..s·n + 2` of each line are readable (`n` the outputs) and the outputs
/// writable.
pub unsafe fn depthwise_3x3_line(line: &Line3x3) {
    let channel_bytes = line.along_bytes + line.next_channel;
    for (k, channel) in line.channels.iter().enumerate() {
        let rows = line.lines.map(|l| l.wrapping_byte_add(k * channel_bytes));
        // SAFETY: the caller's contract, for channel `k`.
        unsafe { depthwise_3x3_line_channel(line, channel, rows, line.out.wrapping_add(k)) };
    }
}

/// One channel of [`depthwise_3x3_line`]: a function of its own, so that its nine taps and
/// the line pointers stay in registers.
///
/// # Safety
/// As [`depthwise_3x3_line`], for the channel's lines `rows` and first output `out`.
#[inline(never)]
unsafe fn depthwise_3x3_line_channel(
    line: &Line3x3,
    channel: &LineChannel,
    rows: [*const i16; 3],
    out: *mut i8,
) {
    let s = line.stride.max(1);
    let n = line.along_bytes / (2 * s);
    let [low, high] = line.clamp.map(|b| i32::from(b as u8 as i8));
    let [w0, w1, w2, w3, w4] = channel.weights.map(halves);
    let (k00, k01, k02, k10, k11, k12, k20, k21, k22) =
        (w0.0, w0.1, w3.0, w1.0, w1.1, w3.1, w2.0, w2.1, w4.0);
    let [mut r0, mut r1, mut r2] = rows;
    let mut out = out;
    for _ in 0..n {
        // SAFETY: positions `s·i..s·i + 3` of each line for output i < n (the caller's
        // contract).
        let [a0, a1, a2, b0, b1, b2, c0, c1, c2] = unsafe {
            [
                *r0,
                *r0.add(1),
                *r0.add(2),
                *r1,
                *r1.add(1),
                *r1.add(2),
                *r2,
                *r2.add(1),
                *r2.add(2),
            ]
        }
        .map(i32::from);
        let acc = channel
            .folded
            .wrapping_add(a0 * k00 + a1 * k01 + a2 * k02)
            .wrapping_add(b0 * k10 + b1 * k11 + b2 * k12)
            .wrapping_add(c0 * k20 + c1 * k21 + c2 * k22);
        // The bounds are int8 values: clamping to them saturates to int8 too.
        let v = channel.quant.apply_fast(acc).max(low).min(high);
        // SAFETY: this output (the caller's contract).
        unsafe { *out = v as i8 };
        out = out.wrapping_add(line.out_step);
        (r0, r1, r2) = (r0.wrapping_add(s), r1.wrapping_add(s), r2.wrapping_add(s));
    }
}

/// ADD's elements through its two tables (`t[v]`: input `v - 128`'s rescaled value, see
/// `optimized::add`): `out = clamp(q(t1[x] + t2[y]) + zero_point)`, where `q` is fast with a
/// right shift of at least 1 (so `|q(·)| < 2^30` and adding the zero point cannot overflow).
#[inline(always)]
pub fn add_tabulated(
    [t1, t2]: [&[i32; 256]; 2],
    x: &[i8],
    y: &[i8],
    q: &super::optimized::requant::ChannelQuant,
    stage: OutputStage,
    out: &mut [i8],
) {
    let (lo, hi) = (i32::from(stage.clamp.min), i32::from(stage.clamp.max));
    // A u8 index into a 256-entry table is always in range.
    #[allow(clippy::indexing_slicing)]
    for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
        let sum = t1[usize::from(a as u8 ^ 0x80)].wrapping_add(t2[usize::from(b as u8 ^ 0x80)]);
        let v = q.apply_fast(sum) + stage.zero_point;
        *o = v.max(lo).min(hi) as i8;
    }
}
