//! What CONV_2D and FULLY_CONNECTED share: blocks of packed columns, per-channel output
//! parameters, and the product of weight rows by a block of columns with its output stage.
//!
//! A block holds `C` columns (output pixels, or batches) of `depth` values each, interleaved
//! group by group: group `g` (four values, the last one possibly partial) of column `c` is the
//! four i16 at `(g·C + c)·4`, in the architecture's packed order. One load instruction can then
//! fetch a group of every column of the block.

use super::requant::ChannelQuant;
use crate::format::{Clamp, Requant};
use crate::kernels::{Plain, arch};

/// Output channels whose parameters are prepared at once.
pub const CHANNEL_CHUNK: usize = 64;

/// i16 values a block of `cols` columns of `depth` values takes.
#[inline(always)]
pub fn block_len(depth: usize, cols: usize) -> usize {
    depth.div_ceil(4) * 4 * cols
}

/// Position of logical element `k` of column `c` in a block of `cols` columns.
#[inline(always)]
pub fn packed_index(k: usize, c: usize, cols: usize) -> usize {
    #[allow(clippy::indexing_slicing)] // k & 3 < 4
    let j = arch::PACKED_ORDER[k & 3];
    ((k >> 2) * cols + c) * 4 + j
}

/// Writes `values - zero_point` into column `c` of the block `data` (of `cols` columns) from
/// logical position `k` on. Whole groups go through the architecture's packer.
#[inline(always)]
pub fn pack_values(data: &mut [i16], cols: usize, c: usize, k: usize, values: &[i8], zp: i32) {
    let stride = 4 * cols;
    let mut base = (k >> 2) * stride + 4 * c;
    let mut j = k & 3;
    let mut rest = values;
    // A leading partial group.
    while j != 0 {
        let Some((&v, tail)) = rest.split_first() else {
            return;
        };
        put(data, base, j, v, zp);
        rest = tail;
        j = (j + 1) & 3;
        if j == 0 {
            base += stride;
        }
    }
    let groups = rest.len() / 4;
    if groups > 0 {
        let end = base + (groups - 1) * stride + 4;
        if let Some(dst) = data.get_mut(base..end) {
            arch::pack_groups(dst, cols, rest, zp);
        }
        base += groups * stride;
        rest = rest.get(4 * groups..).unwrap_or(&[]);
    }
    for (j, &v) in rest.iter().enumerate() {
        put(data, base, j, v, zp);
    }
}

/// Stores `v - zp` as element `j` of the group at `base`.
#[inline(always)]
fn put(data: &mut [i16], base: usize, j: usize, v: i8, zp: i32) {
    #[allow(clippy::indexing_slicing)] // j < 4
    let at = base + arch::PACKED_ORDER[j & 3];
    if let Some(slot) = data.get_mut(at) {
        *slot = (i32::from(v) - zp) as i16;
    }
}

/// Zeros the positions of column `c` past `depth` in its last group, so that a whole-group
/// product over them adds nothing whatever weights it reads there.
#[inline(always)]
pub fn pad_tail(data: &mut [i16], cols: usize, c: usize, depth: usize) {
    let tail = depth % 4;
    if tail != 0 {
        pack_zeros(data, cols, c, depth, 4 - tail);
    }
}

/// Zeros logical positions `k..k + len` of column `c` (padding: the zero point).
#[inline(always)]
pub fn pack_zeros(data: &mut [i16], cols: usize, c: usize, k: usize, len: usize) {
    let stride = 4 * cols;
    // Whole groups (a padded tap of a multiple of four channels): a group of zeros at a time.
    if (k | len) & 3 == 0 {
        let first = (k >> 2) * stride + 4 * c;
        for g in 0..len / 4 {
            let at = first + g * stride;
            if let Some(group) = data.get_mut(at..at + 4) {
                group.fill(0);
            }
        }
        return;
    }
    let (mut g, mut j) = ((k >> 2) * stride + 4 * c, k & 3);
    for _ in 0..len {
        #[allow(clippy::indexing_slicing)] // j < 4
        if let Some(slot) = data.get_mut(g + arch::PACKED_ORDER[j]) {
            *slot = 0;
        }
        j += 1;
        if j == 4 {
            j = 0;
            g += stride;
        }
    }
}

/// One output channel's bias and requantization. The layout is fixed (`repr(C)`): the
/// requantization's four words, then the bias at 16 (assembly kernels read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct ChannelParams {
    /// Accumulator to output scaling.
    pub quant: ChannelQuant,
    /// Initial accumulator: the bias.
    pub bias: i32,
}

// SAFETY: five 32-bit integers (`repr(C)`, no padding): every bit pattern is valid.
unsafe impl Plain for ChannelParams {}

/// Right shifts (`e`, as `e - 1`) below which [`ChannelParams::with_zero_point`] is exact:
/// the rounded high word (below 2^30 + 2^(e-2)) plus the zero point times 2^(e-1) stays
/// below 2^31.
pub const FOLD_MAX_SHIFT: i32 = 22;

impl ChannelParams {
    /// Whether [`ChannelParams::with_zero_point`] is exact for this channel: fast, with a
    /// right shift `e` such that `e - 1 < FOLD_MAX_SHIFT`.
    #[inline(always)]
    pub fn folds_zero_point(&self) -> bool {
        self.quant.is_fast() && (0..FOLD_MAX_SHIFT).contains(&self.quant.right_minus_one())
    }

    /// `self` with the output zero point added to its requantization's rounding constant, so
    /// that the requantized value includes it: the high word gains `zp·2^(e-1)`, which the
    /// shift by `e - 1` turns into `zp` exactly (where [`ChannelParams::folds_zero_point`]).
    #[inline(always)]
    pub fn with_zero_point(self, zero_point: i32) -> ChannelParams {
        let mut quant = self.quant;
        quant.round_hi = quant
            .round_hi
            .wrapping_add(zero_point.wrapping_shl(quant.right_minus_one() as u32));
        ChannelParams { quant, ..self }
    }

    /// Requantizes `acc`, adds the output zero point and clamps: the reference's output stage.
    #[inline(always)]
    pub fn output(&self, acc: i32, output_zp: i32, clamp: Clamp) -> i8 {
        let v = self.quant.apply(acc).saturating_add(output_zp);
        v.max(i32::from(clamp.min)).min(i32::from(clamp.max)) as i8
    }
}

/// How every channel of a chunk requantizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requantization {
    /// Some channel needs the reference function.
    Reference,
    /// Every channel takes [`ChannelQuant::apply_fast`].
    Fast,
    /// Every channel takes [`ChannelQuant::apply_fast`] with a right shift of at least 1.
    FastShifted,
}

impl Requantization {
    /// Whether every channel takes [`ChannelQuant::apply_fast`].
    #[inline(always)]
    pub fn is_fast(self) -> bool {
        self != Requantization::Reference
    }
}

/// Fills `params[..chunk]` with the parameters of channels `c0..c0 + chunk` (one
/// requantization shared by all when it is per tensor), and says how they requantize.
#[inline(always)]
pub fn prepare(
    params: &mut [ChannelParams],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    c0: usize,
    chunk: usize,
) -> Requantization {
    let params = params.iter_mut().take(chunk);
    let biases = bias
        .map(|b| b.as_chunks::<4>().0)
        .and_then(|b| b.get(c0..))
        .unwrap_or(&[]);
    let bias_of = |i: usize| biases.get(i).map_or(0, |&w| i32::from_le_bytes(w));
    let class = |q: &ChannelQuant| {
        if !q.is_fast() {
            Requantization::Reference
        } else if q.right_minus_one() >= 0 {
            Requantization::FastShifted
        } else {
            Requantization::Fast
        }
    };
    match *requant {
        Requant::PerTensor(m) => {
            let quant = ChannelQuant::new(m);
            for (i, p) in params.enumerate() {
                *p = ChannelParams {
                    quant,
                    bias: bias_of(i),
                };
            }
            class(&quant)
        }
        Requant::PerChannel { .. } => {
            let mut least = Requantization::FastShifted;
            for (i, p) in params.enumerate() {
                let quant = ChannelQuant::new(requant.channel(c0 + i));
                least = match (least, class(&quant)) {
                    (Requantization::Reference, _) | (_, Requantization::Reference) => {
                        Requantization::Reference
                    }
                    (Requantization::Fast, _) | (_, Requantization::Fast) => Requantization::Fast,
                    _ => Requantization::FastShifted,
                };
                *p = ChannelParams {
                    quant,
                    bias: bias_of(i),
                };
            }
            least
        }
    }
}

/// The output stage of a layer.
#[derive(Debug, Clone, Copy)]
pub struct OutputStage {
    /// Output zero point.
    pub zero_point: i32,
    /// Fused activation.
    pub clamp: Clamp,
}

/// Every channel of a chunk (`filter` rows of `depth` weights, `params`) times a block of `C`
/// columns (`block`): `R` channels at a time through the architecture's dot kernel, then one
/// at a time. Output `(c, channel i of the chunk)` goes to `y[c·out_c + first + i]`. The
/// generic form of the architectures' `pair_channels` and `single_channels`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn channels<const R: usize, const C: usize>(
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
    if !fits::<C>(filter, params, block, depth, y, out_c, first) {
        return;
    }
    if quant.is_fast() {
        rows::<R, C, true>(filter, params, block, depth, stage, y, out_c, first);
    } else {
        // Channels with a left shift (rare): one row at a time, for less code.
        rows::<1, C, false>(filter, params, block, depth, stage, y, out_c, first);
    }
}

/// [`channels`] with the output stage in one form only, for less code: `FAST` where every
/// channel takes the fast requantization (`Requantization::is_fast`), the reference's
/// otherwise (which is right for every channel).
#[inline(always)]
#[allow(clippy::too_many_arguments, dead_code)] // RISC-V's wide blocks call it
pub fn channels_as<const R: usize, const C: usize, const FAST: bool>(
    filter: &[i8],
    params: &[ChannelParams],
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    if fits::<C>(filter, params, block, depth, y, out_c, first) {
        rows::<R, C, FAST>(filter, params, block, depth, stage, y, out_c, first);
    }
}

/// Whether the rows, block and outputs of [`channels`] are as long as it needs.
#[inline(always)]
fn fits<const C: usize>(
    filter: &[i8],
    params: &[ChannelParams],
    block: &[i16],
    depth: usize,
    y: &[i8],
    out_c: usize,
    first: usize,
) -> bool {
    let n = params.len();
    depth > 0
        && filter.len() >= n * depth
        && first + n <= out_c
        && y.len() >= (C - 1) * out_c + first + n
        && block.len() >= block_len(depth, C)
}

/// [`channels`] once the bounds are checked.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows<const R: usize, const C: usize, const FAST: bool>(
    filter: &[i8],
    params: &[ChannelParams],
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    let (blocks, rest) = params.as_chunks::<R>();
    let y = y.as_mut_ptr();
    let w = filter.as_ptr();
    // Rows read as whole groups (into the next row) where the filter goes on that far.
    let whole = depth.div_ceil(4) * 4;
    let extended = |last_row: usize| last_row * depth + whole <= filter.len();
    // SAFETY (every block below): rows `i .. i + R` of `depth` weights lie in `filter` (and
    // `whole` bytes from a row's start where `extended` says so), and outputs
    // `k·out_c + first + i + r` (k < C, i + r < n, first + n <= out_c) in `y` (checked by
    // `channels`).
    let row = |i: usize, len: usize| unsafe { core::slice::from_raw_parts(w.add(i * depth), len) };
    let mut i = 0;
    for p in blocks {
        let len = if extended(i + R - 1) { whole } else { depth };
        let w: [&[i8]; R] = core::array::from_fn(|r| row(i + r, len));
        let acc = product::<R, C>(w, p.each_ref(), block, len);
        for (r, (sums, p)) in acc.iter().zip(p).enumerate() {
            for (k, &a) in sums.iter().enumerate() {
                // SAFETY: see above.
                unsafe { *y.add(k * out_c + first + i + r) = output::<FAST>(p, a, stage) };
            }
        }
        i += R;
    }
    for p in rest {
        let len = if extended(i) { whole } else { depth };
        let acc = product::<1, C>([row(i, len)], [p], block, len);
        for (k, &a) in acc[0].iter().enumerate() {
            // SAFETY: see above.
            unsafe { *y.add(k * out_c + first + i) = output::<FAST>(p, a, stage) };
        }
        i += 1;
    }
}

/// The output stage, with the fast requantization when every channel allows it.
#[inline(always)]
fn output<const FAST: bool>(p: &ChannelParams, acc: i32, stage: OutputStage) -> i8 {
    if FAST {
        let r = p.quant.apply_fast(acc);
        // With a right shift |r| < 2^30, and the zero point is an int8 value: no overflow.
        let v = if p.quant.right_minus_one() >= 0 {
            r + stage.zero_point
        } else {
            r.saturating_add(stage.zero_point)
        };
        v.max(i32::from(stage.clamp.min))
            .min(i32::from(stage.clamp.max)) as i8
    } else {
        p.output(acc, stage.zero_point, stage.clamp)
    }
}

/// Bias plus `R` weight rows times the `C` columns of `block`.
#[inline(always)]
fn product<const R: usize, const C: usize>(
    w: [&[i8]; R],
    params: [&ChannelParams; R],
    block: &[i16],
    depth: usize,
) -> [[i32; C]; R] {
    let mut acc = [[0i32; C]; R];
    for (row, p) in acc.iter_mut().zip(params) {
        *row = [p.bias; C];
    }
    let groups = depth / 4;
    arch::dot::<R, C>(&mut acc, w, block, groups);
    let tail = depth % 4;
    if tail != 0 {
        let k0 = 4 * groups;
        for (row, w) in acc.iter_mut().zip(w) {
            for (c, a) in row.iter_mut().enumerate() {
                for k in k0..k0 + tail {
                    if let (Some(&w), Some(&x)) = (w.get(k), block.get(packed_index(k, c, C))) {
                        *a = a.wrapping_add(i32::from(w) * i32::from(x));
                    }
                }
            }
        }
    }
    acc
}
