//! Portable micro-kernels: the inner loops of the optimized kernels in plain Rust, for every
//! target without a dedicated module (the host, Armv6-M, RISC-V without its own tuning). An
//! architecture module provides the same items with the same meaning.
//!
//! Operands: weights are int8 rows as stored in the blob; activations are "packed columns":
//! int8 values minus their zero point as i16, in groups of four stored in the order
//! `v0, v2, v1, v3` (the order in which Arm's `SXTB16` splits a word of four int8 weights into
//! two pairs of halfwords, so a `SMLAD` multiplies matching elements).

use super::optimized::gemm::{ChannelParams, OutputStage};

/// Output channels per call of [`dot`] with a block of two columns.
pub const PAIR_CHANNELS: usize = 2;
/// Output channels per call of [`dot`] with a single column.
pub const SINGLE_CHANNELS: usize = 2;

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
/// do not specialise.
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
    #[allow(clippy::indexing_slicing, clippy::needless_range_loop)] // in bounds: checked above
    for g in 0..groups {
        let k = 4 * g;
        for r in 0..R {
            let (w0, w1, w2, w3) = (
                i32::from(w[r][k]),
                i32::from(w[r][k + 1]),
                i32::from(w[r][k + 2]),
                i32::from(w[r][k + 3]),
            );
            for c in 0..C {
                let at = (g * C + c) * 4;
                let s = w0 * i32::from(x[at])
                    + w2 * i32::from(x[at + 1])
                    + w1 * i32::from(x[at + 2])
                    + w3 * i32::from(x[at + 3]);
                acc[r][c] = acc[r][c].wrapping_add(s);
            }
        }
    }
}

/// Packs four int8 values minus `zero_point` (an int8 value) into `out` in packed order.
#[inline(always)]
pub fn pack4(v: [i8; 4], zero_point: i32, out: &mut [i16; 4]) {
    let d = |x: i8| (i32::from(x) - zero_point) as i16;
    *out = [d(v[0]), d(v[2]), d(v[1]), d(v[3])];
}

/// One interior pixel of a depthwise convolution with depth multiplier 1, for a block of
/// `out.len()` channels: `out[i] = stage(folded[i] + Σ_t filter[t·stride + i] · x[offsets[t] + i])`
/// (the input zero point is folded into `folded`). Does nothing if a slice is too short.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn depthwise_pixel(
    x: &[i8],
    offsets: &[usize],
    filter: &[i8],
    stride: usize,
    folded: &[i32],
    params: &[ChannelParams],
    stage: OutputStage,
    out: &mut [i8],
) {
    let n = out.len();
    let taps = offsets.len();
    let fits = folded.len() >= n
        && params.len() >= n
        && offsets
            .iter()
            .all(|&o| o.checked_add(n).is_some_and(|e| e <= x.len()))
        && taps
            .checked_sub(1)
            .and_then(|t| t.checked_mul(stride))
            .and_then(|t| t.checked_add(n))
            .is_some_and(|e| e <= filter.len());
    if !fits || taps == 0 {
        return;
    }
    let mut i = 0;
    while i + 4 <= n {
        let mut acc = [0i32; 4];
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + j < n <= folded.len() (checked above).
            *a = unsafe { *folded.get_unchecked(i + j) };
        }
        for (t, &off) in offsets.iter().enumerate() {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: off + i + j < off + n <= x.len() and t·stride + i + j <
                // (taps - 1)·stride + n <= filter.len() (checked above).
                let (xv, wv) = unsafe {
                    (
                        *x.get_unchecked(off + i + j),
                        *filter.get_unchecked(t * stride + i + j),
                    )
                };
                *a = a.wrapping_add(i32::from(wv) * i32::from(xv));
            }
        }
        for (j, &a) in acc.iter().enumerate() {
            // SAFETY: i + j < n <= params.len(), out.len() (checked above).
            unsafe {
                *out.get_unchecked_mut(i + j) =
                    params
                        .get_unchecked(i + j)
                        .output(a, stage.zero_point, stage.clamp);
            }
        }
        i += 4;
    }
    while i < n {
        // SAFETY: as above, with j = 0.
        unsafe {
            let mut a = *folded.get_unchecked(i);
            for (t, &off) in offsets.iter().enumerate() {
                let xv = *x.get_unchecked(off + i);
                let wv = *filter.get_unchecked(t * stride + i);
                a = a.wrapping_add(i32::from(wv) * i32::from(xv));
            }
            *out.get_unchecked_mut(i) =
                params
                    .get_unchecked(i)
                    .output(a, stage.zero_point, stage.clamp);
        }
        i += 1;
    }
}
