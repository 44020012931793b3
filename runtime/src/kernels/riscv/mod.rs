//! RISC-V micro-kernels (RV32IM and up): no SIMD, so the work is register blocking. A block of
//! four output channels times two columns keeps eight accumulators and the eight values of a
//! group of both columns in registers: per group of four depth positions, 8 halfword and 16
//! byte loads feed 32 multiply-adds.
//!
//! The multiply-add is one assembly block (`mul` then `add`) so that the compiler keeps each
//! product next to its sum: left to itself, it hoists all 32 products of a group ahead of the
//! sums and spills them. Everything else is the portable code.

use super::optimized::gemm::{self, ChannelParams, OutputStage};
use super::portable;

pub use portable::{DepthwiseChunk, PACKED_ORDER, depthwise_pixel, pack_groups};

/// Output channels per block with two columns.
const PAIR_CHANNELS: usize = 4;
/// Output channels per block with one column.
const SINGLE_CHANNELS: usize = 4;

/// See `portable::pair_channels`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn pair_channels(
    filter: &[i8],
    params: &[ChannelParams],
    fast: bool,
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    gemm::channels::<PAIR_CHANNELS, 2>(filter, params, fast, block, depth, stage, y, out_c, first);
}

/// See `portable::single_channels`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn single_channels(
    filter: &[i8],
    params: &[ChannelParams],
    fast: bool,
    block: &[i16],
    depth: usize,
    stage: OutputStage,
    y: &mut [i8],
    out_c: usize,
    first: usize,
) {
    gemm::channels::<SINGLE_CHANNELS, 1>(
        filter, params, fast, block, depth, stage, y, out_c, first,
    );
}

/// `acc += a * b`, as one `mul` and one `add` the compiler keeps together.
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
