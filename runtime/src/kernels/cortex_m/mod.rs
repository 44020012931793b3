//! Cortex-M micro-kernels with the DSP extension (thumbv7em: Cortex-M4, M7): dual 16-bit
//! multiply-accumulates (`SMLAD`) on weights widened two at a time (`SXTB16`).
//!
//! A weight word `w0 w1 w2 w3` widens to the halfword pairs `(w0, w2)` and `(w1, w3)`; packed
//! columns hold their values in that order (see `PACKED_ORDER`), so one `SMLAD` multiplies two
//! matching pairs. A block of two columns keeps one group of both columns in four consecutive
//! words, which one `LDM` fetches.
//!
//! The loops are written in assembly so that the register use is fixed: eleven of the twelve
//! registers inline assembly may use on Thumb (`r6` and `r7` are reserved). Shapes not
//! specialised here use the portable kernels.

use super::optimized::gemm::{ChannelParams, OutputStage};
use super::portable;

pub use portable::PACKED_ORDER;

/// One output channel at a time over a block of two columns.
pub const PAIR_CHANNELS: usize = 1;
/// Two output channels at a time over a single column.
pub const SINGLE_CHANNELS: usize = 2;

/// See `portable::dot`.
#[inline(always)]
pub fn dot<const R: usize, const C: usize>(
    acc: &mut [[i32; C]; R],
    w: [&[i8]; R],
    x: &[i16],
    groups: usize,
) {
    let fits = w.iter().all(|w| w.len() >= 4 * groups)
        && x.len() >= 4 * C * groups
        && x.as_ptr().cast::<u32>().is_aligned();
    if !fits || groups == 0 {
        portable::dot_generic(acc, w, x, groups);
        return;
    }
    match (R, C) {
        (1, 2) => {
            // SAFETY: R == 1 and C == 2, so the types are the same.
            let acc = unsafe { &mut *(acc as *mut [[i32; C]; R]).cast::<[i32; 2]>() };
            if let Some(w) = w.first() {
                // SAFETY: `w` holds 4·groups bytes, `x` 8·groups aligned i16 (checked above).
                unsafe { dot_1x2(acc, w.as_ptr(), x.as_ptr(), groups) }
            }
        }
        (2, 1) => {
            // SAFETY: R == 2 and C == 1, so the types are the same.
            let acc = unsafe { &mut *(acc as *mut [[i32; C]; R]).cast::<[i32; 2]>() };
            if let [w0, w1, ..] = w.as_slice() {
                // SAFETY: both rows hold 4·groups bytes, `x` 4·groups aligned i16.
                unsafe { dot_2x1(acc, w0.as_ptr(), w1.as_ptr(), x.as_ptr(), groups) }
            }
        }
        (1, 1) => {
            // SAFETY: R == C == 1, so the types are the same.
            let acc = unsafe { &mut *(acc as *mut [[i32; C]; R]).cast::<[i32; 1]>() };
            if let Some(w) = w.first() {
                // SAFETY: `w` holds 4·groups bytes, `x` 4·groups aligned i16.
                unsafe { dot_1x1(acc, w.as_ptr(), x.as_ptr(), groups) }
            }
        }
        _ => portable::dot_generic(acc, w, x, groups),
    }
}

/// One weight row times a block of two columns.
///
/// # Safety
/// `w` points to `4·groups` readable bytes, `x` to `8·groups` readable, 4-byte aligned i16;
/// `groups > 0`.
#[inline(always)]
unsafe fn dot_1x2(acc: &mut [i32; 2], w: *const i8, x: *const i16, groups: usize) {
    let [mut a0, mut a1] = *acc;
    let (mut w, mut x) = (w, x);
    let pairs = groups / 2;
    if pairs > 0 {
        // SAFETY: reads 2·pairs groups of `w` and `x`, within what the caller guarantees.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldm {x}!, {{r2, r3, r4, r5}}",
                "ldr {wa}, [{w}], #4",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a0}, {wa}, r2, {a0}",
                "smlad {a0}, {wb}, r3, {a0}",
                "smlad {a1}, {wa}, r4, {a1}",
                "smlad {a1}, {wb}, r5, {a1}",
                "ldm {x}!, {{r2, r3, r4, r5}}",
                "ldr {wa}, [{w}], #4",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a0}, {wa}, r2, {a0}",
                "smlad {a0}, {wb}, r3, {a0}",
                "smlad {a1}, {wa}, r4, {a1}",
                "smlad {a1}, {wb}, r5, {a1}",
                "subs {n}, {n}, #1",
                "bne 2b",
                x = inout(reg) x,
                w = inout(reg) w,
                n = inout(reg) pairs => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                wa = out(reg) _,
                wb = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack, readonly),
            );
        }
    }
    if groups % 2 == 1 {
        // SAFETY: the last group, within what the caller guarantees.
        unsafe {
            core::arch::asm!(
                "ldm {x}, {{r2, r3, r4, r5}}",
                "ldr {wa}, [{w}]",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a0}, {wa}, r2, {a0}",
                "smlad {a0}, {wb}, r3, {a0}",
                "smlad {a1}, {wa}, r4, {a1}",
                "smlad {a1}, {wb}, r5, {a1}",
                x = in(reg) x,
                w = in(reg) w,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                wa = out(reg) _,
                wb = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack, readonly),
            );
        }
    }
    *acc = [a0, a1];
}

/// Two weight rows times one column.
///
/// # Safety
/// `w0` and `w1` point to `4·groups` readable bytes each, `x` to `4·groups` readable, 4-byte
/// aligned i16; `groups > 0`.
#[inline(always)]
unsafe fn dot_2x1(acc: &mut [i32; 2], w0: *const i8, w1: *const i8, x: *const i16, groups: usize) {
    let [mut a0, mut a1] = *acc;
    let (mut w, mut x) = (w0, x);
    // Row 1's word is at a fixed distance from row 0's.
    let offset = (w1 as usize).wrapping_sub(w0 as usize);
    let pairs = groups / 2;
    if pairs > 0 {
        // SAFETY: reads 2·pairs groups of both rows and of `x`, within what the caller
        // guarantees.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldm {x}!, {{r2, r3, r4, r5}}",
                "ldr {wa}, [{w}, {off}]",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a1}, {wa}, r2, {a1}",
                "smlad {a1}, {wb}, r3, {a1}",
                "ldr {wa}, [{w}], #4",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a0}, {wa}, r2, {a0}",
                "smlad {a0}, {wb}, r3, {a0}",
                "ldr {wa}, [{w}, {off}]",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a1}, {wa}, r4, {a1}",
                "smlad {a1}, {wb}, r5, {a1}",
                "ldr {wa}, [{w}], #4",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a0}, {wa}, r4, {a0}",
                "smlad {a0}, {wb}, r5, {a0}",
                "subs {n}, {n}, #1",
                "bne 2b",
                x = inout(reg) x,
                w = inout(reg) w,
                off = in(reg) offset,
                n = inout(reg) pairs => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                wa = out(reg) _,
                wb = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack, readonly),
            );
        }
    }
    if groups % 2 == 1 {
        // SAFETY: the last group, within what the caller guarantees.
        unsafe {
            core::arch::asm!(
                "ldrd r2, r3, [{x}]",
                "ldr {wa}, [{w}, {off}]",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a1}, {wa}, r2, {a1}",
                "smlad {a1}, {wb}, r3, {a1}",
                "ldr {wa}, [{w}]",
                "sxtb16 {wb}, {wa}, ror #8",
                "sxtb16 {wa}, {wa}",
                "smlad {a0}, {wa}, r2, {a0}",
                "smlad {a0}, {wb}, r3, {a0}",
                x = in(reg) x,
                w = in(reg) w,
                off = in(reg) offset,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                wa = out(reg) _,
                wb = out(reg) _,
                out("r2") _,
                out("r3") _,
                options(nostack, readonly),
            );
        }
    }
    *acc = [a0, a1];
}

/// One weight row times one column.
///
/// # Safety
/// `w` points to `4·groups` readable bytes, `x` to `4·groups` readable, 4-byte aligned i16;
/// `groups > 0`.
#[inline(always)]
unsafe fn dot_1x1(acc: &mut [i32; 1], w: *const i8, x: *const i16, groups: usize) {
    let [mut a0] = *acc;
    // SAFETY: reads `groups` groups of `w` and `x`, as the caller guarantees.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldrd r2, r3, [{x}], #8",
            "ldr {wa}, [{w}], #4",
            "sxtb16 {wb}, {wa}, ror #8",
            "sxtb16 {wa}, {wa}",
            "smlad {a0}, {wa}, r2, {a0}",
            "smlad {a0}, {wb}, r3, {a0}",
            "subs {n}, {n}, #1",
            "bne 2b",
            x = inout(reg) x => _,
            w = inout(reg) w => _,
            n = inout(reg) groups => _,
            a0 = inout(reg) a0,
            wa = out(reg) _,
            wb = out(reg) _,
            out("r2") _,
            out("r3") _,
            options(nostack, readonly),
        );
    }
    *acc = [a0];
}

/// See `portable::pack4`: `SXTB16` splits the word, `SSUB16` subtracts the zero point from
/// both halves.
#[inline(always)]
pub fn pack4(v: [i8; 4], zero_point: i32, out: &mut [i16; 4]) {
    let word = u32::from_le_bytes(v.map(|b| b as u8));
    let zp = (zero_point as u32 & 0xffff) | (zero_point as u32) << 16;
    let (lo, hi): (u32, u32);
    // SAFETY: register-only arithmetic.
    unsafe {
        core::arch::asm!(
            "sxtb16 {hi}, {w}, ror #8",
            "sxtb16 {lo}, {w}",
            "ssub16 {lo}, {lo}, {zp}",
            "ssub16 {hi}, {hi}, {zp}",
            w = in(reg) word,
            zp = in(reg) zp,
            lo = out(reg) lo,
            hi = out(reg) hi,
            options(pure, nomem, nostack),
        );
    }
    *out = [lo as i16, (lo >> 16) as i16, hi as i16, (hi >> 16) as i16];
}

/// See `portable::depthwise_pixel`.
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
    portable::depthwise_pixel(x, offsets, filter, stride, folded, params, stage, out);
}
