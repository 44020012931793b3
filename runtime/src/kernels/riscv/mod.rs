//! RISC-V micro-kernels (RV32IM and up): no SIMD, so the work is register blocking. A block of
//! four output channels times two columns keeps eight accumulators and the eight values of a
//! group of both columns in registers: per group of four depth positions, 8 halfword and 16
//! byte loads feed 32 multiply-adds.
//!
//! The multiply-add is one assembly block (`mul` then `add`) so that the compiler keeps each
//! product next to its sum: left to itself, it hoists all 32 products of a group ahead of the
//! sums and spills them. Everything else is the portable code.

use super::optimized::gemm::{ChannelParams, OutputStage};
use super::portable;

// The channel loops are portable's: they call `arch::dot`, which on RISC-V is the one below.
pub use portable::{
    DepthwiseChunk, PACKED_ORDER, add_tabulated, depthwise_3x3_row, pack_groups, pair_channels,
    quad_channels, quad_rows, single_channels, widen,
};

/// RV32 keeps blocks of two columns: its `dot` is tuned for four channels times two.
pub const QUAD_COLUMNS: bool = false;

/// RV32 keeps [`depthwise_pixel`] for every depthwise convolution: the portable row path, whose
/// widened halves must be split again without SIMD, made KWS's 3x3 depthwise layers 9.33 ->
/// 12.65 instructions per MAC.
pub const DEPTHWISE_ROWS: bool = false;

/// `acc += a * b`, as one `mul` and one `add` the compiler keeps together.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
fn mac(acc: &mut i32, a: i32, b: i32) {
    // SAFETY: register-only arithmetic.
    unsafe {
        core::arch::asm!(
            "mul {t}, {a}, {b}",
            "add {acc}, {acc}, {t}",
            acc = inout(reg) *acc,
            a = in(reg) a,
            b = in(reg) b,
            t = out(reg) _,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// [`mac`] in Rust, for these kernels built on the host (`MOTE_RISCV_KERNELS=1`, for Miri).
#[cfg(not(target_arch = "riscv32"))]
#[inline(always)]
fn mac(acc: &mut i32, a: i32, b: i32) {
    *acc = acc.wrapping_add(a.wrapping_mul(b));
}

/// See `portable::dot`.
#[inline(always)]
pub fn dot<const R: usize, const C: usize>(
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
                let wv = [
                    i32::from(*p),
                    i32::from(*p.add(2)),
                    i32::from(*p.add(1)),
                    i32::from(*p.add(3)),
                ];
                for (s, xc) in sum.iter_mut().zip(&xv) {
                    for (&wj, &xj) in wv.iter().zip(xc) {
                        mac(s, wj, xj);
                    }
                }
                *row = p.add(4);
            }
            column = column.add(4 * C);
        }
    }
    *acc = sums;
}

/// See `portable::depthwise_pixel`: four channels at a time, each tap's four inputs and four
/// weights loaded once, the products kept next to their sums ([`mac`]).
///
/// # Safety
/// As `portable::depthwise_pixel`.
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
    let (filter, stride) = (chunk.filter_from(0), chunk.stride());
    let taps = x.len();
    let fits = fast
        && folded.len() >= n
        && params.len() >= n
        && taps
            .checked_sub(1)
            .and_then(|t| t.checked_mul(stride))
            .and_then(|t| t.checked_add(n))
            .is_some_and(|e| e <= filter.len());
    if !fits || taps == 0 {
        // SAFETY: the caller's contract.
        unsafe { portable::depthwise_pixel(chunk, x, folded, params, fast, stage, out) };
        return;
    }
    let finish = |a: i32, p: &ChannelParams| -> i8 {
        let r = p.quant.apply_fast(a);
        let v = if p.quant.right_minus_one() >= 0 {
            r + stage.zero_point
        } else {
            r.saturating_add(stage.zero_point)
        };
        v.max(i32::from(stage.clamp.min))
            .min(i32::from(stage.clamp.max)) as i8
    };
    let mut i = 0;
    while i < n {
        let lanes = (n - i).min(4);
        // SAFETY: channels i..i + lanes <= n of every tap's input (the caller's contract), of
        // the filter at every tap (t·stride + i + 3 < (taps - 1)·stride + n), of `folded`,
        // `params` and `out` (checked above). The weight pointer steps with `wrapping_add`:
        // after the last tap it points up to `stride` bytes past the filter, where `add` would
        // be undefined behaviour even though nothing is read there.
        unsafe {
            if lanes == 4 {
                let [mut a0, mut a1, mut a2, mut a3] = [
                    *folded.get_unchecked(i),
                    *folded.get_unchecked(i + 1),
                    *folded.get_unchecked(i + 2),
                    *folded.get_unchecked(i + 3),
                ];
                let mut w = filter.as_ptr().add(i);
                for &xt in x {
                    let xp = xt.add(i);
                    mac(&mut a0, i32::from(*w), i32::from(*xp));
                    mac(&mut a1, i32::from(*w.add(1)), i32::from(*xp.add(1)));
                    mac(&mut a2, i32::from(*w.add(2)), i32::from(*xp.add(2)));
                    mac(&mut a3, i32::from(*w.add(3)), i32::from(*xp.add(3)));
                    w = w.wrapping_add(stride);
                }
                let acc = [a0, a1, a2, a3];
                for (j, &a) in acc.iter().enumerate() {
                    *out.get_unchecked_mut(i + j) = finish(a, params.get_unchecked(i + j));
                }
            } else {
                for j in i..n {
                    let mut a = *folded.get_unchecked(j);
                    let mut w = filter.as_ptr().add(j);
                    for &xt in x {
                        mac(&mut a, i32::from(*w), i32::from(*xt.add(j)));
                        w = w.wrapping_add(stride);
                    }
                    *out.get_unchecked_mut(j) = finish(a, params.get_unchecked(j));
                }
            }
        }
        i += lanes;
    }
}

/// [`apply_fast`] in Rust, for these kernels built on the host (`MOTE_RISCV_KERNELS=1`).
#[cfg(not(target_arch = "riscv32"))]
#[inline(always)]
pub fn apply_fast(q: &super::optimized::requant::ChannelQuant, acc: i32) -> i32 {
    q.apply_fast_portable(acc)
}

/// See `ChannelQuant::apply_fast`: the 64-bit sum of the product (`mul`, `mulh`), the rounding
/// constant and the sign term in explicit carries, then the shift of its high word.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
pub fn apply_fast(q: &super::optimized::requant::ChannelQuant, acc: i32) -> i32 {
    if q.right_minus_one() < 0 {
        return q.apply_fast_portable(acc);
    }
    let r: i32;
    // SAFETY: register-only arithmetic.
    unsafe {
        core::arch::asm!(
            "mul {lo}, {a}, {m}",
            "mulh {hi}, {a}, {m}",
            "srai {s}, {a}, 31",
            "slli {t}, {s}, 31",
            "add {t}, {t}, {klo}",
            "sltu {c}, {t}, {klo}",
            "add {s}, {s}, {khi}",
            "add {s}, {s}, {c}",
            "add {lo}, {lo}, {t}",
            "sltu {c}, {lo}, {t}",
            "add {hi}, {hi}, {s}",
            "add {hi}, {hi}, {c}",
            "sra {hi}, {hi}, {e}",
            a = in(reg) acc,
            m = in(reg) q.multiplier,
            klo = in(reg) q.round_lo,
            khi = in(reg) q.round_hi,
            e = in(reg) q.shift,
            lo = out(reg) _,
            hi = out(reg) r,
            s = out(reg) _,
            t = out(reg) _,
            c = out(reg) _,
            options(pure, nomem, nostack),
        );
    }
    r
}
