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

use super::optimized::depthwise::{Line3x3, LineChannel};
use super::optimized::gemm::{self, ChannelParams, OutputStage, Requantization};
use super::optimized::requant::ChannelQuant;
use super::portable;
use crate::format::{Clamp, Requant};

// Depthwise convolutions the line path (`depthwise_3x3_line`) does not take are few (other
// filters, dilations and strides, no right shift): the portable pixel loop serves them.
pub use portable::{DepthwiseChunk, PACKED_ORDER, depthwise_pixel};

/// The output stage of the assembly loops, as assembly text: requantizes accumulator `$acc`
/// with the multiplier in r2, the rounding constant in r3:r4 and the shift in r5 (a
/// [`ChannelQuant`] as one `LDM` loads it), with `$lo` for the low word: the 64-bit sum
/// starts at the rounding constant plus the sign term (`ADDS`/`ADC`), takes the product
/// (`SMLAL`), and its high word shifted is [`ChannelQuant::apply_fast`]'s value. Then it
/// adds the zero point `$zp`, saturates to int8, applies `$clamp` (text working on `lr`) and
/// stores the byte with `strb lr, $store`. Uses `lr`.
macro_rules! requantize_store {
    ($acc:literal, $lo:literal, $zp:literal, $store:literal, $clamp:expr) => {
        concat!(
            "asr lr, ",
            $acc,
            ", #31\n",
            "adds ",
            $lo,
            ", r3, lr, lsl #31\n",
            "adc lr, r4, lr\n",
            "smlal ",
            $lo,
            ", lr, ",
            $acc,
            ", r2\n",
            "asr lr, lr, r5\n",
            "add lr, lr, ",
            $zp,
            "\n",
            "ssat lr, #8, lr\n",
            $clamp,
            "strb lr, ",
            $store,
            "\n",
        )
    };
}

/// The group loop of the block kernels, as assembly text: `$odd` (one group) if the count at
/// `[sp, #16]` is not zero, then `$pair` (two groups) as many times as the count at
/// `[sp, #12]` says, counting in r8.
macro_rules! group_loop {
    ($odd:expr, $pair:expr $(,)?) => {
        concat!(
            "ldr r8, [sp, #16]\n",
            "cmp r8, #0\n",
            "beq 3f\n",
            $odd,
            "3:\n",
            "ldr r8, [sp, #12]\n",
            "cmp r8, #0\n",
            "beq 5f\n",
            "4:\n",
            $pair,
            "subs r8, r8, #1\n",
            "bne 4b\n",
            "5:\n",
        )
    };
}

/// The group loop of the two-column kernel, as assembly text: `$one` (one group) as many
/// times as the count at `[sp, #16]` says, then `$four` (four groups) as many times as the
/// count at `[sp, #12]` says, counting in r8. (Four groups a turn rather than two: a loop
/// branch per 64 multiply-accumulates.)
macro_rules! group_loop_by_four {
    ($one:expr, $four:expr $(,)?) => {
        concat!(
            "ldr r8, [sp, #16]\n",
            "cmp r8, #0\n",
            "beq 3f\n",
            "2:\n",
            $one,
            "subs r8, r8, #1\n",
            "bne 2b\n",
            "3:\n",
            "ldr r8, [sp, #12]\n",
            "cmp r8, #0\n",
            "beq 5f\n",
            "4:\n",
            $four,
            "subs r8, r8, #1\n",
            "bne 4b\n",
            "5:\n",
        )
    };
}

/// See `portable::pair_channels`: channel pairs over both columns in assembly
/// ([`pair_block_loop`]), the rest through the generic loop.
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
    let n = params.len();
    let groups = depth / 4;
    let fits = quant.is_fast()
        && groups > 0
        && filter.len() >= n * depth
        && block.len() >= gemm::block_len(depth, 2)
        && block.as_ptr().cast::<u32>().is_aligned()
        && first + n <= out_c
        && y.len() >= out_c + first + n;
    // Channel pairs through the assembly loop: rows whose last group can be read whole (or
    // no partial group), channels with a right shift.
    let tail = depth % 4;
    let mut asm_channels = n / 2 * 2;
    if tail != 0 {
        asm_channels = asm_channels.min(whole_rows(filter, depth) / 2 * 2);
    }
    if !fits || quant != Requantization::FastShifted {
        asm_channels = 0;
    }
    let (params, filter, first) = if asm_channels > 0 {
        let (head, rest) = params.split_at(asm_channels);
        let g = depth.div_ceil(4);
        let ctx = PairCtx {
            params: head.as_ptr(),
            w: filter.as_ptr(),
            x: block.as_ptr(),
            quads: (g / 4) as u32,
            rest: (g % 4) as u32,
            // SAFETY: first + n <= out_c <= y.len() (checked above).
            y: unsafe { y.as_mut_ptr().add(first) },
            out_c: out_c as u32,
            zp: stage.zero_point,
            params_end: head.as_ptr_range().end,
            w_step: (2 * depth) as i32 - (4 * g) as i32,
            depth: depth as u32,
            min: i32::from(stage.clamp.min),
            max: i32::from(stage.clamp.max),
        };
        // SAFETY: `head` holds whole pairs of fast, shifted channels whose rows (read in
        // whole groups) lie in `filter`, the block holds `g` aligned groups of two columns
        // (zero past `depth`), and `y` the outputs (all checked above).
        unsafe {
            if stage.clamp == Clamp::NONE {
                pair_block_loop::<false>(&ctx);
            } else {
                pair_block_loop::<true>(&ctx);
            }
        }
        (
            rest,
            filter.get(asm_channels * depth..).unwrap_or(&[]),
            first + asm_channels,
        )
    } else {
        (params, filter, first)
    };
    // The rest (an odd channel, rows whose last group cannot be read whole, channels
    // without a right shift, or all if the bounds do not fit): rare, the generic loop.
    if !params.is_empty() {
        gemm::channels::<1, 2>(filter, params, quant, block, depth, stage, y, out_c, first);
    }
}

/// See `portable::WIDE_COLUMNS`: four.
pub const WIDE_COLUMNS: usize = 4;

/// See `portable::WIDE_MIN_DEPTH`: every depth.
pub const WIDE_MIN_DEPTH: usize = 0;

/// See `portable::wide_channels`: one channel at a time over the four columns, the whole
/// channel loop in assembly ([`quad_block_loop`]) when no channel needs the reference
/// requantization and `depth` is a whole number of groups (as the driver calls it);
/// otherwise a plain loop (which the driver never takes: kept small, for the flash of the
/// 256 KiB boards).
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
    let n = params.len();
    let groups = depth / 4;
    // Left shifts too: every multiplier non-negative.
    let fits = (quant.is_fast() || params.iter().all(|p| !p.quant.slow()))
        && groups > 0
        && depth.is_multiple_of(4)
        && filter.len() >= n * depth
        && block.len() >= gemm::block_len(depth, 4)
        && block.as_ptr().cast::<u32>().is_aligned()
        && first + n <= out_c
        && y.len() >= 3 * out_c + first + n;
    if !fits {
        for (i, (p, row)) in params
            .iter()
            .zip(filter.chunks_exact(depth.max(1)))
            .enumerate()
        {
            for k in 0..4 {
                let acc = row.iter().enumerate().fold(p.bias, |a, (j, &w)| {
                    let x = block.get(gemm::packed_index(j, k, 4)).copied().unwrap_or(0);
                    a.wrapping_add(i32::from(w) * i32::from(x))
                });
                if let Some(o) = y.get_mut(k * out_c + first + i) {
                    *o = p.output(acc, stage.zero_point, stage.clamp);
                }
            }
        }
        return;
    }
    let ctx = QuadBlockCtx {
        params: params.as_ptr(),
        w: filter.as_ptr(),
        x: block.as_ptr(),
        turns: groups.div_ceil(4) as u32,
        skip: ((4 - groups % 4) % 4) as u32,
        // SAFETY: first + n <= out_c <= y.len() (checked above).
        y: unsafe { y.as_mut_ptr().add(first) },
        out_c: out_c as u32,
        zp: stage.zero_point,
        params_end: params.as_ptr_range().end,
        min: i32::from(stage.clamp.min),
        max: i32::from(stage.clamp.max),
        clamps: u32::from(stage.clamp != Clamp::NONE),
        // Channels whose shift word is below this take the path without a zero point:
        // those with a right shift (`e - 1` in the low byte, no left shift: below 255; no
        // shift at all is 255) when there is none to add.
        fast_below: if stage.zero_point == 0 { 255 } else { 0 },
    };
    // SAFETY: `params` holds channels with non-negative multipliers whose rows of whole groups
    // lie in `filter`, the block holds `groups` aligned groups of four columns, and `y` the outputs
    // of the four columns (all checked above).
    unsafe { quad_block_loop(&ctx) };
}

/// What [`quad_block_loop`] needs, laid out as it copies it to its stack frame.
#[repr(C)]
struct QuadBlockCtx {
    params: *const ChannelParams,
    w: *const i8,
    x: *const i16,
    /// Turns of the loop of four groups, and the groups its first turn skips (the depth's
    /// groups are `4·turns - skip`).
    turns: u32,
    skip: u32,
    y: *mut i8,
    out_c: u32,
    zp: i32,
    params_end: *const ChannelParams,
    min: i32,
    max: i32,
    /// Whether `min..=max` is narrower than int8 (non-zero) or not.
    clamps: u32,
    /// Channels whose shift word (`ChannelQuant::shift`) is below this requantize without
    /// adding `zp`: 255 (every channel with a right shift) where `zp` is 0, else 0.
    fast_below: u32,
}

const _: () = assert!(core::mem::size_of::<QuadBlockCtx>() == 52);

/// One output channel times the four columns of a block at a time, the whole channel loop in
/// assembly: per group of four depth positions one `LDR` and two `SXTB16` of weights, two
/// `LDM` of the four columns and eight `SMLAD` (13 instructions for 16 MACs; the two-column
/// loop takes 15); then the `SMLAL` requantization of the four outputs with the channel's
/// parameters loaded once (with a right shift, without, or with a left shift), and the
/// activation's bounds unless they are int8's own. Where the output zero point is 0 (the
/// driver folds it into the rounding constants, [`ChannelParams::with_zero_point`]),
/// channels with a right shift skip its addition: an instruction less per output. Needs
/// fourteen registers: `r6` and `r7` are saved and restored.
///
/// # Safety
/// `ctx` describes: `params..params_end`, a non-empty run of channels with non-negative
/// multipliers; their consecutive rows of `4·(4·turns - skip)` weights from `w` (`skip < 4`,
/// `turns > 0`); an aligned
/// block of four columns of as many groups from `x`; for channel `i`, writable outputs at
/// `y + i + k·out_c` (k < 4).
#[inline(always)]
unsafe fn quad_block_loop(ctx: &QuadBlockCtx) {
    macro_rules! group {
        () => {
            concat!(
                "ldr lr, [r1], #4\n",
                "sxtb16 r6, lr, ror #8\n",
                "sxtb16 lr, lr\n",
                "ldm r7!, {{r2, r3, r4, r5}}\n",
                "smlad r9, lr, r2, r9\n",
                "smlad r9, r6, r3, r9\n",
                "smlad r10, lr, r4, r10\n",
                "smlad r10, r6, r5, r10\n",
                "ldm r7!, {{r2, r3, r4, r5}}\n",
                "smlad r11, lr, r2, r11\n",
                "smlad r11, r6, r3, r11\n",
                "smlad r12, lr, r4, r12\n",
                "smlad r12, r6, r5, r12\n",
            )
        };
    }
    // Accumulator `$a` requantized (quantization in r2..r5; `$zp`, the zero point's addition
    // or nothing), saturated to int8, back into `$a`.
    macro_rules! requantize {
        ($a:literal, $zp:expr) => {
            concat!(
                "asr lr, ",
                $a,
                ", #31\n",
                "adds r6, r3, lr, lsl #31\n",
                "adc lr, r4, lr\n",
                "smlal r6, lr, ",
                $a,
                ", r2\n",
                "asr lr, lr, r5\n",
                $zp,
                "ssat ",
                $a,
                ", #8, lr\n",
            )
        };
    }
    // The four accumulators, r9..r12.
    macro_rules! requantize_four {
        ($zp:expr) => {
            concat!(
                requantize!("r9", $zp),
                requantize!("r10", $zp),
                requantize!("r11", $zp),
                requantize!("r12", $zp),
            )
        };
    }
    // The same without a right shift (`e - 1 < 0` in r5's low byte): the accumulator shifted
    // left by r5's second byte (wrapping, as TFLM's), the 64-bit sum from the rounding
    // constant alone, its bits 31..63, then the zero point (r8) added with saturation.
    macro_rules! requantize_unshifted {
        ($a:literal) => {
            concat!(
                "lsl ",
                $a,
                ", ",
                $a,
                ", r7\n",
                "mov r6, r3\n",
                "mov lr, r4\n",
                "smlal r6, lr, ",
                $a,
                ", r2\n",
                "lsl lr, lr, #1\n",
                "orr lr, lr, r6, lsr #31\n",
                "qadd lr, lr, r8\n",
                "ssat ",
                $a,
                ", #8, lr\n",
            )
        };
    }
    // `$a` clamped to [r2, r3].
    macro_rules! clamp {
        ($a:literal) => {
            concat!(
                "cmp ", $a, ", r2\n", "it lt\n", "movlt ", $a, ", r2\n", "cmp ", $a, ", r3\n",
                "it gt\n", "movgt ", $a, ", r3\n",
            )
        };
    }
    // SAFETY: the caller's contract; r6 and r7 are restored before the block ends.
    unsafe {
        core::arch::asm!(
            "push {{r6, r7}}",
            "sub sp, sp, #56",
            "ldm r0!, {{r2, r3, r4, r5, r8, r9, r10, r11, r12, lr}}",
            "stm sp, {{r2, r3, r4, r5, r8, r9, r10, r11, r12, lr}}",
            "ldm r0, {{r2, r3, r4}}",
            "add r6, sp, #40",
            "stm r6, {{r2, r3, r4}}",
            // The loop's entry (in the frame where `skip` was): `skip` groups into its first
            // turn, each group's code being the same bytes (a Thumb address: bit 0 set). The
            // groups are 48 bytes: a multiple of 4, so that both labels are word-aligned, as
            // `adr` needs (the on-device tests take every `skip`).
            "adr r6, 4f",
            "adr lr, 11f",
            "sub lr, lr, r6",
            "ldr r2, [sp, #16]",
            "mla r6, r2, lr, r6",
            "orr r6, r6, #1",
            "str r6, [sp, #16]",
            "ldr r1, [sp, #4]",
            // r0: the current channel's parameters, through the whole loop.
            "ldr r0, [sp, #0]",
            "1:",
            "ldr r9, [r0, #16]",
            "mov r10, r9",
            "mov r11, r9",
            "mov r12, r9",
            "ldr r7, [sp, #8]",
            // Four groups a turn, entered part way into the first (a loop branch per 64
            // multiply-accumulates, and none per remaining group).
            "ldrd r8, lr, [sp, #12]",
            "bx lr",
            // Word-aligned, which `adr` needs of its targets.
            ".p2align 2",
            "4:",
            group!(),
            "11:",
            group!(),
            group!(),
            group!(),
            "subs r8, r8, #1",
            "bne 4b",
            "ldm r0, {{r2, r3, r4, r5}}",
            "ldr r6, [sp, #48]",
            "cmp r5, r6",
            "bhs 7f",
            requantize_four!(""),
            "8:",
            "ldr r2, [sp, #44]",
            "cbz r2, 6f",
            "ldrd r2, r3, [sp, #36]",
            clamp!("r9"),
            clamp!("r10"),
            clamp!("r11"),
            clamp!("r12"),
            "6:",
            "ldrd r7, r2, [sp, #20]",
            "strb r10, [r7, r2]",
            "add r3, r7, r2, lsl #1",
            "strb r11, [r3]",
            "strb r12, [r3, r2]",
            "strb r9, [r7], #1",
            "str r7, [sp, #20]",
            "add r0, r0, #20",
            "ldr r6, [sp, #32]",
            "cmp r0, r6",
            "bne 1b",
            "b 9f",
            // A zero point to add, or no right shift.
            "7:",
            "ldr r8, [sp, #28]",
            "tst r5, #0x80",
            "bne 10f",
            requantize_four!("add lr, lr, r8\n"),
            "b 8b",
            "10:",
            "ubfx r7, r5, #8, #8",
            requantize_unshifted!("r9"),
            requantize_unshifted!("r10"),
            requantize_unshifted!("r11"),
            requantize_unshifted!("r12"),
            "b 8b",
            "9:",
            "add sp, sp, #56",
            "pop {{r6, r7}}",
            inout("r0") ctx as *const QuadBlockCtx => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        );
    }
}

/// What [`pair_block_loop`] needs, laid out as it copies it to its stack frame.
#[repr(C)]
struct PairCtx {
    params: *const ChannelParams,
    w: *const i8,
    x: *const i16,
    /// Groups of the depth: four at a time, then the rest one at a time.
    quads: u32,
    rest: u32,
    y: *mut i8,
    out_c: u32,
    zp: i32,
    params_end: *const ChannelParams,
    w_step: i32,
    depth: u32,
    min: i32,
    max: i32,
}

const _: () = assert!(core::mem::size_of::<ChannelParams>() == 20);
const _: () = assert!(core::mem::offset_of!(ChannelParams, bias) == 16);
const _: () = assert!(core::mem::size_of::<PairCtx>() == 52);

/// Two output channels times the two columns of a block at a time, the whole channel loop in
/// assembly: per group of four depth positions one `LDM` for both columns, one `LDR` and two
/// `SXTB16` per channel, eight `SMLAD`; then four outputs through the `SMLAL` requantization.
/// Needs fourteen registers: `r6` and `r7`, which inline assembly may not name as operands,
/// are saved on entry and restored on exit.
///
/// # Safety
/// `ctx` describes: `params..params_end`, a non-empty whole number of pairs of fast channels
/// with a right shift; their rows of `depth` weights from `w`, readable in `quads·4 + rest`
/// whole groups each; an aligned block of two columns of as many groups from `x`; for channel
/// `i`, writable outputs at `y + i` and `y + out_c + i`. `w_step = 2·depth - 4·groups`.
#[inline(always)]
unsafe fn pair_block_loop<const CLAMP: bool>(ctx: &PairCtx) {
    macro_rules! group {
        () => {
            concat!(
                "ldm r7!, {{r2, r3, r4, r5}}\n",
                "ldr lr, [r1, r6]\n",
                "sxtb16 r0, lr, ror #8\n",
                "sxtb16 lr, lr\n",
                "smlad r11, lr, r2, r11\n",
                "smlad r11, r0, r3, r11\n",
                "smlad r12, lr, r4, r12\n",
                "smlad r12, r0, r5, r12\n",
                "ldr lr, [r1], #4\n",
                "sxtb16 r0, lr, ror #8\n",
                "sxtb16 lr, lr\n",
                "smlad r9, lr, r2, r9\n",
                "smlad r9, r0, r3, r9\n",
                "smlad r10, lr, r4, r10\n",
                "smlad r10, r0, r5, r10\n",
            )
        };
    }
    macro_rules! body {
        ($clamp:expr) => {
            core::arch::asm!(
                "push {{r6, r7}}",
                "sub sp, sp, #52",
                "ldm r0!, {{r2, r3, r4, r5, r8, r9, r10, r11, r12, lr}}",
                "stm sp, {{r2, r3, r4, r5, r8, r9, r10, r11, r12, lr}}",
                "ldm r0, {{r2, r3, r4}}",
                "add r6, sp, #40",
                "stm r6, {{r2, r3, r4}}",
                "ldr r0, [sp, #0]",
                "ldr r1, [sp, #4]",
                "1:",
                "ldr r9, [r0, #16]",
                "ldr r11, [r0, #36]",
                "mov r10, r9",
                "mov r12, r11",
                "str r0, [sp, #0]",
                "ldr r7, [sp, #8]",
                "ldr r6, [sp, #40]",
                group_loop_by_four!(group!(), concat!(group!(), group!(), group!(), group!())),
                "ldr r0, [sp, #0]",
                "ldr r8, [sp, #28]",
                "ldr r7, [sp, #20]",
                "ldm r0, {{r2, r3, r4, r5}}",
                requantize_store!("r9", "r6", "r8", "[r7]", $clamp),
                "ldr r9, [sp, #24]",
                requantize_store!("r10", "r6", "r8", "[r7, r9]", $clamp),
                "add r0, r0, #20",
                "ldm r0, {{r2, r3, r4, r5}}",
                "add r7, r7, #1",
                requantize_store!("r11", "r6", "r8", "[r7]", $clamp),
                requantize_store!("r12", "r6", "r8", "[r7, r9]", $clamp),
                "add r7, r7, #1",
                "str r7, [sp, #20]",
                "add r0, r0, #20",
                "ldr r6, [sp, #36]",
                "add r1, r1, r6",
                "ldr r6, [sp, #32]",
                "cmp r0, r6",
                "bne 1b",
                "add sp, sp, #52",
                "pop {{r6, r7}}",
                inout("r0") ctx as *const PairCtx => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            )
        };
    }
    // SAFETY: the caller's contract; r6 and r7 are restored before the block ends.
    unsafe {
        if CLAMP {
            body!(concat!(
                "ldr r6, [sp, #44]\n",
                "cmp lr, r6\n",
                "it lt\n",
                "movlt lr, r6\n",
                "ldr r6, [sp, #48]\n",
                "cmp lr, r6\n",
                "it gt\n",
                "movgt lr, r6\n",
            ));
        } else {
            body!("");
        }
    }
}

/// What [`single_block_loop`] needs, laid out as it copies it to its stack frame.
#[repr(C)]
struct SingleCtx {
    params: *const ChannelParams,
    w: *const i8,
    x: *const i16,
    pairs: u32,
    odd: u32,
    y: *mut i8,
    zp: i32,
    params_end: *const ChannelParams,
    w_step: i32,
    depth: u32,
    min: i32,
    max: i32,
}

const _: () = assert!(core::mem::size_of::<SingleCtx>() == 48);

/// Two output channels times one column at a time (FULLY_CONNECTED), the channel loop in
/// assembly: per two groups one `LDM` of the column, per channel and group one `LDR` and two
/// `SXTB16` of weights and two `SMLAD`; then the `SMLAL` requantization.
///
/// # Safety
/// As [`pair_block_loop`], with one column of `pairs·2 + odd` groups and outputs `y + i`.
#[inline(always)]
unsafe fn single_block_loop<const CLAMP: bool>(ctx: &SingleCtx) {
    macro_rules! row {
        ($offset:literal, $acc:literal, $a:literal, $b:literal) => {
            concat!(
                "ldr lr, [r1",
                $offset,
                "\n",
                "sxtb16 r0, lr, ror #8\n",
                "sxtb16 lr, lr\n",
                "smlad ",
                $acc,
                ", lr, ",
                $a,
                ", ",
                $acc,
                "\n",
                "smlad ",
                $acc,
                ", r0, ",
                $b,
                ", ",
                $acc,
                "\n",
            )
        };
    }
    macro_rules! body {
        ($clamp:expr) => {
            core::arch::asm!(
                "push {{r6, r7}}",
                "sub sp, sp, #48",
                "ldm r0!, {{r2, r3, r4, r5, r8, r9, r10, r11, r12, lr}}",
                "stm sp, {{r2, r3, r4, r5, r8, r9, r10, r11, r12, lr}}",
                "ldm r0, {{r2, r3}}",
                "add r6, sp, #40",
                "stm r6, {{r2, r3}}",
                "ldr r0, [sp, #0]",
                "ldr r1, [sp, #4]",
                "1:",
                "ldr r9, [r0, #16]",
                "ldr r10, [r0, #36]",
                "str r0, [sp, #0]",
                "ldr r7, [sp, #8]",
                "ldr r6, [sp, #36]",
                group_loop!(
                    concat!(
                        "ldrd r2, r3, [r7], #8\n",
                        row!(", r6]", "r10", "r2", "r3"),
                        row!("], #4", "r9", "r2", "r3"),
                    ),
                    concat!(
                        "ldm r7!, {{r2, r3, r4, r5}}\n",
                        row!(", r6]", "r10", "r2", "r3"),
                        row!("], #4", "r9", "r2", "r3"),
                        row!(", r6]", "r10", "r4", "r5"),
                        row!("], #4", "r9", "r4", "r5"),
                    ),
                ),
                "ldr r0, [sp, #0]",
                "ldr r8, [sp, #24]",
                "ldr r7, [sp, #20]",
                "ldm r0, {{r2, r3, r4, r5}}",
                requantize_store!("r9", "r6", "r8", "[r7]", $clamp),
                "add r0, r0, #20",
                "ldm r0, {{r2, r3, r4, r5}}",
                requantize_store!("r10", "r6", "r8", "[r7, #1]", $clamp),
                "add r7, r7, #2",
                "str r7, [sp, #20]",
                "add r0, r0, #20",
                "ldr r6, [sp, #32]",
                "add r1, r1, r6",
                "ldr r6, [sp, #28]",
                "cmp r0, r6",
                "bne 1b",
                "add sp, sp, #48",
                "pop {{r6, r7}}",
                inout("r0") ctx as *const SingleCtx => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            )
        };
    }
    // SAFETY: the caller's contract; r6 and r7 are restored before the block ends.
    unsafe {
        if CLAMP {
            body!(concat!(
                "ldr r6, [sp, #40]\n",
                "cmp lr, r6\n",
                "it lt\n",
                "movlt lr, r6\n",
                "ldr r6, [sp, #44]\n",
                "cmp lr, r6\n",
                "it gt\n",
                "movgt lr, r6\n",
            ));
        } else {
            body!("");
        }
    }
}

/// Biases of rows without one.
static NO_BIAS: [i32; 2] = [0; 2];

/// See `portable::widen_column`: four values per `LDR`, split by `SXTB16`, put back in order
/// by `PKHBT`/`PKHTB`, less the zero point two at a time (`SSUB16`, exact: the differences fit
/// 16 bits) and summed two at a time (`SMLAD` by ones); the rest one by one.
pub fn widen_column(column: &mut [i16], x: &[i8], zero_point: i32) -> i32 {
    let len = x.len().min(column.len());
    let quads = if column.as_ptr().cast::<u32>().is_aligned() {
        len / 4
    } else {
        0
    };
    let mut sum = 0i32;
    if quads > 0 {
        let zero_points = (zero_point & 0xffff) | zero_point << 16;
        // SAFETY: `quads` words of `x` (any alignment: `LDR` allows it) and `quads` double
        // words of the aligned `column` are in bounds.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {a}, [{src}], #4",
                "sxtb16 {b}, {a}",
                "sxtb16 {a}, {a}, ror #8",
                "pkhbt {c}, {b}, {a}, lsl #16",
                "pkhtb {a}, {a}, {b}, asr #16",
                "ssub16 {c}, {c}, {zp}",
                "ssub16 {a}, {a}, {zp}",
                "smlad {sum}, {c}, {ones}, {sum}",
                "smlad {sum}, {a}, {ones}, {sum}",
                "strd {c}, {a}, [{dst}], #8",
                "subs {n}, {n}, #1",
                "bne 2b",
                src = inout(reg) x.as_ptr() => _,
                dst = inout(reg) column.as_mut_ptr() => _,
                n = inout(reg) quads => _,
                sum = inout(reg) sum,
                zp = in(reg) zero_points,
                ones = in(reg) 0x0001_0001u32,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                options(nostack),
            );
        }
    }
    let done = 4 * quads;
    let tail = column.get_mut(done..len).unwrap_or(&mut []);
    sum.wrapping_add(portable::widen_column(
        tail,
        x.get(done..).unwrap_or(&[]),
        zero_point,
    ))
}

/// See `portable::dot_pairs`: each pair as in [`paired_rows`] but without its output stage
/// (per four columns an `LDRD` of the column and one of the pair, then per word `SMLAD`,
/// `SXTB16`, `SMLAD`), where the columns come in whole groups of four and the pair is
/// aligned; else the portable loop. What per-channel layers and odd last rows take.
pub fn dot_pairs<const P: usize>(pairs: [&[u8]; P], column: &[i16]) -> [[i32; 2]; P] {
    pairs.map(|pair| dot_pair(pair, column))
}

/// One pair of [`dot_pairs`] (out of line: one copy whatever `P`).
#[inline(never)]
fn dot_pair(pair: &[u8], column: &[i16]) -> [i32; 2] {
    let n = column.len();
    let fits = n > 0
        && n.is_multiple_of(4)
        && pair.len() >= 2 * n
        && pair.as_ptr().cast::<u32>().is_aligned()
        && column.as_ptr().cast::<u32>().is_aligned();
    if !fits {
        let [sums] = portable::dot_pairs([pair], column);
        return sums;
    }
    let (mut even, mut odd) = (0i32, 0i32);
    // SAFETY: `n` (a multiple of 4) values of the aligned column and `2n` bytes of the
    // aligned pair are in bounds; each turn reads four of each and advances past them.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldrd {x0}, {x1}, [{x}], #8",
            "ldrd {w0}, {w1}, [{w}], #8",
            "smlad {even}, {w0}, {x0}, {even}",
            "sxtb16 {w0}, {w0}, ror #8",
            "smlad {odd}, {w0}, {x0}, {odd}",
            "smlad {even}, {w1}, {x1}, {even}",
            "sxtb16 {w1}, {w1}, ror #8",
            "smlad {odd}, {w1}, {x1}, {odd}",
            "subs {n}, {n}, #1",
            "bne 2b",
            x = inout(reg) column.as_ptr() => _,
            w = inout(reg) pair.as_ptr() => _,
            n = inout(reg) n / 4 => _,
            even = inout(reg) even,
            odd = inout(reg) odd,
            x0 = out(reg) _,
            x1 = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            options(nostack, readonly),
        );
    }
    // The even row's sum took the odd row's weights 256 times over (the high bytes).
    [even.wrapping_sub(odd.wrapping_shl(8)), odd]
}

/// What [`paired_rows_loop`] needs, laid out as it copies it to its stack frame (offsets in
/// the assembly).
#[repr(C)]
struct PairedRowsCtx {
    /// 0: the first pair of rows.
    w: *const u8,
    /// 4: the widened column.
    x: *const i16,
    /// 8: turns of the loop of four eight-column steps, 12: the steps its first turn skips
    /// (a row's steps are `4·turns - skip`; the loop replaces it with its entry's address).
    turns: u32,
    skip: u32,
    /// 16: biases of the next pair, 20: bytes to step past them (0: no bias, the pointer
    /// reads zeros).
    bias: *const u8,
    bias_step: u32,
    /// 24: pairs of rows to compute, 28: the even rows' initial accumulator (`-128·Σx`).
    pairs: u32,
    offset: i32,
    /// 32..48: the per-tensor requantization ([`ChannelQuant`], right shift at least 1).
    quant: ChannelQuant,
    /// 48: output zero point, 52: the next output.
    zp: i32,
    y: *mut i8,
}

const _: () = assert!(core::mem::size_of::<PairedRowsCtx>() == 56);

/// FULLY_CONNECTED over one widened column (`x - zp`, summing to `sum`) with its weights in
/// row pairs (`Op::FullyConnectedPaired`) and a per-tensor requantization: each halfword of
/// a pair is `w_even + 128 + 256·w_odd`, so one `SMLAD` adds both rows' products of two
/// columns to the even row's sum and an `SXTB16` of the high bytes gives the odd row alone:
/// three instructions per four multiply-adds, and one `LDM` per eight columns of weights and
/// of the column. Returns how many rows from the first it computed into `y` (every pair's
/// two; 0 where it does not apply, and the caller computes the rest).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn paired_rows(
    pairs: &[u8],
    depth: usize,
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    column: &[i16],
    sum: i32,
    stage: OutputStage,
    y: &mut [i8],
) -> usize {
    let Requant::PerTensor(m) = *requant else {
        return 0;
    };
    let quant = ChannelQuant::new(m);
    let rows = y.len() / 2 * 2;
    // A clamp within int8's range (ReLU6, say) takes the caller's loop: one loop here, for
    // the common case (no clamp, or ReLU at the zero point -128).
    let fits = quant.is_fast()
        && quant.right_minus_one() >= 0
        && stage.clamp == Clamp::NONE
        && depth > 0
        && depth.is_multiple_of(8)
        && rows > 0
        && pairs.len() >= rows * depth
        && pairs.as_ptr().cast::<u32>().is_aligned()
        && column.len() >= depth
        && column.as_ptr().cast::<u32>().is_aligned()
        && bias.is_none_or(|b| b.len() >= 4 * rows);
    if !fits {
        return 0;
    }
    let steps = depth / 8;
    let (bias, bias_step) = match bias {
        Some(b) => (b.as_ptr(), 8),
        None => (NO_BIAS.as_ptr().cast::<u8>(), 0),
    };
    let ctx = PairedRowsCtx {
        w: pairs.as_ptr(),
        x: column.as_ptr(),
        turns: steps.div_ceil(4) as u32,
        skip: ((4 - steps % 4) % 4) as u32,
        bias,
        bias_step,
        pairs: (rows / 2) as u32,
        offset: sum.wrapping_mul(-128),
        quant,
        zp: stage.zero_point,
        y: y.as_mut_ptr(),
    };
    // SAFETY: `rows / 2` aligned pairs of `depth` (a multiple of 8) columns, their biases (8
    // bytes per pair, or the zeros), `depth` values of the aligned column and `rows` outputs
    // are in bounds (checked above); the requantization is fast with a right shift, as the
    // loop's output stage requires.
    unsafe { paired_rows_loop(&ctx) };
    rows
}

/// The loop of [`paired_rows`]: per eight columns an `LDM` of the column (r2-r5) and one of
/// the pair's weights (r6-r9), then per word `SMLAD` (both rows, into r10), `SXTB16` (the odd
/// row's bytes) and `SMLAD` (the odd row, into r11); four such steps a turn, entered part way
/// into the first. The pairs follow each other, so r1 runs on from one to the next. At the
/// end the even row's sum loses `256·` the odd row's.
///
/// # Safety
/// `ctx` describes weights, biases, column and outputs in bounds, as [`paired_rows`] checks.
#[inline(always)]
unsafe fn paired_rows_loop(ctx: &PairedRowsCtx) {
    // Eight columns of one pair: 56 bytes (wide `LDM`s), the same for every step, so that
    // the entry into a turn is a multiple of it.
    macro_rules! step {
        () => {
            concat!(
                "ldm.w r0!, {{r2, r3, r4, r5}}\n",
                "ldm.w r1!, {{r6, r7, r8, r9}}\n",
                "smlad r10, r6, r2, r10\n",
                "sxtb16 r6, r6, ror #8\n",
                "smlad r11, r6, r2, r11\n",
                "smlad r10, r7, r3, r10\n",
                "sxtb16 r7, r7, ror #8\n",
                "smlad r11, r7, r3, r11\n",
                "smlad r10, r8, r4, r10\n",
                "sxtb16 r8, r8, ror #8\n",
                "smlad r11, r8, r4, r11\n",
                "smlad r10, r9, r5, r10\n",
                "sxtb16 r9, r9, ror #8\n",
                "smlad r11, r9, r5, r11\n",
            )
        };
    }
    // SAFETY: the caller's contract; r6 and r7 are restored before the block ends.
    unsafe {
        core::arch::asm!(
            "push {{r6, r7}}",
            "sub sp, sp, #56",
            "ldm r0!, {{r1, r2, r3, r4, r5, r6, r7, r8}}",
            "stm sp, {{r1, r2, r3, r4, r5, r6, r7, r8}}",
            "ldm r0, {{r1, r2, r3, r4, r5, r6}}",
            "add r0, sp, #32",
            "stm r0, {{r1, r2, r3, r4, r5, r6}}",
            // The loop's entry (in the frame where `skip` was): `skip` steps into its
            // first turn (a Thumb address: bit 0 set).
            "adr r6, 4f",
            "adr lr, 11f",
            "sub lr, lr, r6",
            "ldr r2, [sp, #12]",
            "mla r6, r2, lr, r6",
            "orr r6, r6, #1",
            "str r6, [sp, #12]",
            "ldr r1, [sp, #0]",
            "1:",
            "ldr r0, [sp, #4]",
            "ldr r10, [sp, #28]",
            "ldr lr, [sp, #16]",
            "ldr r2, [lr]",
            "ldr r11, [lr, #4]",
            "ldr r3, [sp, #20]",
            "add lr, lr, r3",
            "str lr, [sp, #16]",
            "add r10, r10, r2",
            "add r10, r10, r11, lsl #8",
            "ldrd r12, lr, [sp, #8]",
            "bx lr",
            // Word-aligned, which `adr` needs of its targets.
            ".p2align 2",
            "4:",
            step!(),
            "11:",
            step!(),
            step!(),
            step!(),
            "subs r12, r12, #1",
            "bne 4b",
            "sub r10, r10, r11, lsl #8",
            "add r0, sp, #32",
            "ldm r0, {{r2, r3, r4, r5, r6, r7}}",
            requantize_store!("r10", "r0", "r6", "[r7], #1", ""),
            requantize_store!("r11", "r0", "r6", "[r7], #1", ""),
            "str r7, [sp, #52]",
            "ldr r0, [sp, #24]",
            "subs r0, r0, #1",
            "str r0, [sp, #24]",
            "bne 1b",
            "add sp, sp, #56",
            "pop {{r6, r7}}",
            inout("r0") ctx as *const PairedRowsCtx => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        )
    }
}

/// Rows of `depth` weights at the start of `filter` whose last partial group can be read as a
/// whole group of four (the filter goes on past them).
#[inline(always)]
fn whole_rows(filter: &[i8], depth: usize) -> usize {
    filter.len().saturating_sub(depth.div_ceil(4) * 4 - depth) / depth.max(1)
}

/// See `portable::single_channels`: channel pairs over the column in assembly
/// ([`single_block_loop`]), the rest through the generic loop (as in [`pair_channels`]).
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
    let n = params.len();
    let groups = depth / 4;
    let fits = quant.is_fast()
        && groups > 0
        && filter.len() >= n * depth
        && block.len() >= gemm::block_len(depth, 1)
        && block.as_ptr().cast::<u32>().is_aligned()
        && first + n <= out_c
        && y.len() >= first + n;
    // Channel pairs through the assembly loop, as in `pair_channels`.
    let tail = depth % 4;
    let mut asm_channels = n / 2 * 2;
    if tail != 0 {
        asm_channels = asm_channels.min(whole_rows(filter, depth) / 2 * 2);
    }
    if !fits || quant != Requantization::FastShifted {
        asm_channels = 0;
    }
    let (params, filter, first) = if asm_channels > 0 {
        let (head, rest) = params.split_at(asm_channels);
        let g = depth.div_ceil(4);
        let ctx = SingleCtx {
            params: head.as_ptr(),
            w: filter.as_ptr(),
            x: block.as_ptr(),
            pairs: (g / 2) as u32,
            odd: (g % 2) as u32,
            // SAFETY: first + n <= y.len() (checked above).
            y: unsafe { y.as_mut_ptr().add(first) },
            zp: stage.zero_point,
            params_end: head.as_ptr_range().end,
            w_step: (2 * depth) as i32 - (4 * g) as i32,
            depth: depth as u32,
            min: i32::from(stage.clamp.min),
            max: i32::from(stage.clamp.max),
        };
        // SAFETY: as for `pair_block_loop`, with one column.
        unsafe {
            if stage.clamp == Clamp::NONE {
                single_block_loop::<false>(&ctx);
            } else {
                single_block_loop::<true>(&ctx);
            }
        }
        (
            rest,
            filter.get(asm_channels * depth..).unwrap_or(&[]),
            first + asm_channels,
        )
    } else {
        (params, filter, first)
    };
    // The rest: as in `pair_channels`.
    if !params.is_empty() {
        gemm::channels::<2, 1>(filter, params, quant, block, depth, stage, y, out_c, first);
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

/// See `portable::pack_groups`: a word of four values at a time, widened (`SXTB16`), the zero
/// point subtracted from both halves (`SSUB16`), stored as a double word.
#[inline(always)]
pub fn pack_groups(dst: &mut [i16], cols: usize, src: &[i8], zero_point: i32) {
    let groups = src.len() / 4;
    let fits = groups > 0
        && matches!(cols, 1 | 2 | 4)
        && dst.len() + 4 * cols >= 4 * cols * groups + 4
        && dst.as_ptr().cast::<u64>().is_aligned();
    if !fits {
        pack_groups_unaligned(dst, cols, src, zero_point);
        return;
    }
    let zp = (zero_point as u32 & 0xffff) | (zero_point as u32) << 16;
    macro_rules! pack {
        ($step:literal) => {
            // SAFETY: reads 4·groups bytes of `src` and writes `groups` aligned double words
            // `$step` bytes apart from the start of `dst` (lengths checked above).
            unsafe {
                core::arch::asm!(
                    "2:",
                    "ldr {lo}, [{s}], #4",
                    "sxtb16 {hi}, {lo}, ror #8",
                    "sxtb16 {lo}, {lo}",
                    "ssub16 {lo}, {lo}, {zp}",
                    "ssub16 {hi}, {hi}, {zp}",
                    concat!("strd {lo}, {hi}, [{d}], #", $step),
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    s = inout(reg) src.as_ptr() => _,
                    d = inout(reg) dst.as_mut_ptr() => _,
                    n = inout(reg) groups => _,
                    zp = in(reg) zp,
                    lo = out(reg) _,
                    hi = out(reg) _,
                    options(nostack),
                );
            }
        };
    }
    match cols {
        1 => pack!("8"),
        2 => pack!("16"),
        _ => pack!("32"),
    }
}

/// [`pack_groups`] where its assembly does not apply (a block the kernels never pass): out of
/// line, so that the many places the packer is inlined carry only the assembly.
#[cold]
#[inline(never)]
fn pack_groups_unaligned(dst: &mut [i16], cols: usize, src: &[i8], zero_point: i32) {
    portable::pack_groups(dst, cols, src, zero_point);
}

/// See `ChannelQuant::apply_fast`.
#[inline(always)]
pub fn apply_fast(q: &super::optimized::requant::ChannelQuant, acc: i32) -> i32 {
    q.apply_fast_portable(acc)
}

/// See `portable::DEPTHWISE_LINES`.
pub const DEPTHWISE_LINES: bool = true;

/// See `portable::DEPTHWISE_LINES_FROM`.
pub const DEPTHWISE_LINES_FROM: usize = 1;

/// See `portable::SHALLOW_CHANNELS`.
pub const SHALLOW_CHANNELS: usize = 3;

/// See `portable::ROW_COPY`.
pub const ROW_COPY: usize = 16;

const _: () = assert!(core::mem::size_of::<LineChannel>() == 40);
const _: () = assert!(core::mem::offset_of!(LineChannel, quant) == 24);
const _: () = assert!(core::mem::offset_of!(Line3x3, out) == 160);
const _: () = assert!(core::mem::offset_of!(Line3x3, out_step) == 164);
const _: () = assert!(core::mem::offset_of!(Line3x3, quads_bytes) == 168);
const _: () = assert!(core::mem::offset_of!(Line3x3, along_bytes) == 172);
const _: () = assert!(core::mem::offset_of!(Line3x3, clamps) == 176);
const _: () = assert!(core::mem::offset_of!(Line3x3, clamp) == 180);
const _: () = assert!(core::mem::offset_of!(Line3x3, lines) == 188);
const _: () = assert!(core::mem::offset_of!(Line3x3, next_channel) == 200);
const _: () = assert!(core::mem::offset_of!(Line3x3, stride) == 204);
const _: () = assert!(core::mem::offset_of!(Line3x3, rewind) == 208);

/// See `portable::depthwise_3x3_line`: the whole line of four channels in assembly, one
/// channel after another. A frame on the stack holds the current channel's parameters and
/// the line's scalars, so that `SP` addresses them and the three line pointers, four
/// accumulators, five weight words and two temporaries fill the other registers.
///
/// Four outputs at a time: per line, with stride 1 one `LDRD` of positions 0-3 and three `LDR`
/// of positions 1-2, 3-4 and 4-5 (unaligned, as Armv7-M allows), with stride 2 two `LDRD` of
/// positions 0-7 and an `LDRSH` of position 8; eight multiply-accumulates, four of them dual
/// (`SMLAD`: two taps of one output). Then the `SMLAL` requantization of each output (six
/// instructions, the zero point folded in) and four byte stores. Of the remaining outputs, two
/// at once where there are, then one at a time.
///
/// # Safety
/// As `portable::depthwise_3x3_line`; `line.lines` are word-aligned, as are `quads_bytes`
/// and `next_channel`; the stride is 1 or 2.
pub unsafe fn depthwise_3x3_line(line: &Line3x3) {
    // Four outputs' taps from the line at `$p` (advanced by four positions), with the weights
    // `$k` (two taps) and half `$h` ("b" or "t") of `$k2` (the third); stride 1.
    macro_rules! quad {
        ($p:literal, $k:literal, $k2:literal, $h:literal) => {
            concat!(
                "ldrd r12, lr, [",
                $p,
                "], #8\n",
                "smlad r0, r12, ",
                $k,
                ", r0\n",
                "smlab",
                $h,
                " r0, lr, ",
                $k2,
                ", r0\n",
                "smlat",
                $h,
                " r6, lr, ",
                $k2,
                ", r6\n",
                "smlad r7, lr, ",
                $k,
                ", r7\n",
                "ldr r12, [",
                $p,
                ", #-6]\n",
                "smlad r6, r12, ",
                $k,
                ", r6\n",
                "ldr r12, [",
                $p,
                "]\n",
                "smlab",
                $h,
                " r7, r12, ",
                $k2,
                ", r7\n",
                "smlat",
                $h,
                " r8, r12, ",
                $k2,
                ", r8\n",
                "ldr r12, [",
                $p,
                ", #-2]\n",
                "smlad r8, r12, ",
                $k,
                ", r8\n",
            )
        };
    }
    // As `quad!` with stride 2 (the line advanced by eight positions).
    macro_rules! quad2 {
        ($p:literal, $k:literal, $k2:literal, $h:literal) => {
            concat!(
                "ldrd r12, lr, [",
                $p,
                "], #16\n",
                "smlad r0, r12, ",
                $k,
                ", r0\n",
                "smlab",
                $h,
                " r0, lr, ",
                $k2,
                ", r0\n",
                "smlad r6, lr, ",
                $k,
                ", r6\n",
                "ldrd r12, lr, [",
                $p,
                ", #-8]\n",
                "smlab",
                $h,
                " r6, r12, ",
                $k2,
                ", r6\n",
                "smlad r7, r12, ",
                $k,
                ", r7\n",
                "smlab",
                $h,
                " r7, lr, ",
                $k2,
                ", r7\n",
                "smlad r8, lr, ",
                $k,
                ", r8\n",
                "ldrsh r12, [",
                $p,
                "]\n",
                "smlab",
                $h,
                " r8, r12, ",
                $k2,
                ", r8\n",
            )
        };
    }
    // Two outputs' taps from the line at `$p` (advanced by two positions); stride 1.
    macro_rules! pair {
        ($p:literal, $k:literal, $k2:literal, $h:literal) => {
            concat!(
                "ldrd r12, lr, [",
                $p,
                "], #4\n",
                "smlad r0, r12, ",
                $k,
                ", r0\n",
                "smlab",
                $h,
                " r0, lr, ",
                $k2,
                ", r0\n",
                "smlat",
                $h,
                " r6, lr, ",
                $k2,
                ", r6\n",
                "ldr r12, [",
                $p,
                ", #-2]\n",
                "smlad r6, r12, ",
                $k,
                ", r6\n",
            )
        };
    }
    // As `pair!` with stride 2 (the line advanced by four positions).
    macro_rules! pair2 {
        ($p:literal, $k:literal, $k2:literal, $h:literal) => {
            concat!(
                "ldrd r12, lr, [",
                $p,
                "], #8\n",
                "smlad r0, r12, ",
                $k,
                ", r0\n",
                "smlab",
                $h,
                " r0, lr, ",
                $k2,
                ", r0\n",
                "smlad r6, lr, ",
                $k,
                ", r6\n",
                "ldrsh r12, [",
                $p,
                "]\n",
                "smlab",
                $h,
                " r6, r12, ",
                $k2,
                ", r6\n",
            )
        };
    }
    // One output's taps from the line at `$p` (advanced by `$s` positions).
    macro_rules! single {
        ($p:literal, $k:literal, $k2:literal, $h:literal, $s:literal) => {
            concat!(
                "ldr r12, [",
                $p,
                "], #(2 * ",
                $s,
                ")\n",
                "ldrsh lr, [",
                $p,
                ", #(4 - 2 * ",
                $s,
                ")]\n",
                "smlad r0, r12, ",
                $k,
                ", r0\n",
                "smlab",
                $h,
                " r0, lr, ",
                $k2,
                ", r0\n",
            )
        };
    }
    // Accumulator `$a` requantized (the multiplier in r1, the rounding constant in r2:r3, the
    // shift in r4, the zero point folded in) and saturated to int8, back into `$a`.
    macro_rules! requantize {
        ($a:literal) => {
            concat!(
                "asr r5, ",
                $a,
                ", #31\n",
                "adds r12, r2, r5, lsl #31\n",
                "adc lr, r3, r5\n",
                "smlal r12, lr, ",
                $a,
                ", r1\n",
                "asr lr, lr, r4\n",
                "ssat ",
                $a,
                ", #8, lr\n",
            )
        };
    }
    // `$a` clamped to the bounds in r1 (low) and r2 (high).
    macro_rules! clamp {
        ($a:literal) => {
            concat!(
                "ssub8 r3, ",
                $a,
                ", r1\n",
                "sel ",
                $a,
                ", ",
                $a,
                ", r1\n",
                "ssub8 r3, r2, ",
                $a,
                "\n",
                "sel ",
                $a,
                ", ",
                $a,
                ", r2\n",
            )
        };
    }
    // The four accumulators of a block requantized, clamped and stored; back to `$loop` while
    // blocks remain.
    macro_rules! quad_out {
        ($loop:literal) => {
            concat!(
                "ldrd r1, r2, [sp, #36]\n",
                "ldrd r3, r4, [sp, #44]\n",
                requantize!("r0"),
                requantize!("r6"),
                requantize!("r7"),
                requantize!("r8"),
                "ldr r1, [sp, #64]\n",
                "cbz r1, 2f\n",
                "ldrd r1, r2, [sp, #68]\n",
                clamp!("r0"),
                clamp!("r6"),
                clamp!("r7"),
                clamp!("r8"),
                "2:\n",
                "ldrd r1, r2, [sp, #52]\n",
                "strb r0, [r1]\n",
                "strb r6, [r1, r2]\n",
                "add r1, r1, r2, lsl #1\n",
                "strb r7, [r1]\n",
                "strb r8, [r1, r2]\n",
                "add r1, r1, r2, lsl #1\n",
                "str r1, [sp, #52]\n",
                "ldr r1, [sp, #60]\n",
                "cmp r9, r1\n",
                "bne ",
                $loop,
                "\n",
            )
        };
    }
    // The two accumulators of a pair requantized, clamped and stored.
    macro_rules! pair_out {
        () => {
            concat!(
                "ldrd r1, r2, [sp, #36]\n",
                "ldrd r3, r4, [sp, #44]\n",
                requantize!("r0"),
                requantize!("r6"),
                "ldr r1, [sp, #64]\n",
                "cbz r1, 2f\n",
                "ldrd r1, r2, [sp, #68]\n",
                clamp!("r0"),
                clamp!("r6"),
                "2:\n",
                "ldrd r1, r2, [sp, #52]\n",
                "strb r0, [r1]\n",
                "strb r6, [r1, r2]\n",
                "add r1, r1, r2, lsl #1\n",
                "str r1, [sp, #52]\n",
            )
        };
    }
    // The accumulator of a single output requantized, clamped and stored; back to `$loop`
    // while outputs remain.
    macro_rules! single_out {
        ($loop:literal) => {
            concat!(
                "ldrd r1, r2, [sp, #36]\n",
                "ldrd r3, r4, [sp, #44]\n",
                requantize!("r0"),
                "ldr r1, [sp, #64]\n",
                "cbz r1, 2f\n",
                "ldrd r1, r2, [sp, #68]\n",
                clamp!("r0"),
                "2:\n",
                "ldrd r1, r2, [sp, #52]\n",
                "strb r0, [r1]\n",
                "add r1, r1, r2\n",
                "str r1, [sp, #52]\n",
                "ldr r1, [sp, #76]\n",
                "cmp r9, r1\n",
                "bne ",
                $loop,
                "\n",
            )
        };
    }
    // SAFETY: the caller's contract; the stack and r6, r7 are restored before the block ends.
    unsafe {
        core::arch::asm!(
            "push {{r6, r7}}",
            // The frame: [sp, #0..24] the channel's folded bias and weights, #24..36 the bias
            // again (one `LDM` sets all four accumulators), #36..52 its requantization; #52 its
            // next output; #56 the output step; #60 and #76 the first line's pointer past the
            // blocks of four and past the line; #64..76 `clamps` and `clamp`; #80 `line`; #84
            // the next channel's `LineChannel`; #88 the end of the channels; #92 the bytes
            // from past a channel's last output to the next channel's first; #96 the stride;
            // #100 `quads_bytes`, #104 `along_bytes`, #108 `next_channel`.
            "sub sp, sp, #112",
            "str r0, [sp, #80]",
            "ldr r1, [r0, #164]",
            "str r1, [sp, #56]",
            "ldr r1, [r0, #176]",
            "ldrd r2, r3, [r0, #180]",
            "str r1, [sp, #64]",
            "strd r2, r3, [sp, #68]",
            "ldr r1, [r0, #160]",
            "str r1, [sp, #52]",
            "ldr r1, [r0, #204]",
            "str r1, [sp, #96]",
            "ldrd r1, r2, [r0, #168]",
            "strd r1, r2, [sp, #100]",
            "ldr r1, [r0, #208]",
            "str r1, [sp, #92]",
            "ldr r1, [r0, #200]",
            "str r1, [sp, #108]",
            "add r1, r0, #160",
            "str r1, [sp, #88]",
            "add r1, r0, #188",
            "ldm r1, {{r9, r10, r11}}",
            "7:",
            "ldm r0!, {{r1, r2, r3, r4, r5, r6, r7, r8, r12, lr}}",
            "stm sp, {{r1, r2, r3, r4, r5, r6}}",
            "str r0, [sp, #84]",
            "add r0, sp, #36",
            "stm r0, {{r7, r8, r12, lr}}",
            "str r1, [sp, #24]",
            "strd r1, r1, [sp, #28]",
            "ldrd r1, r2, [sp, #100]",
            "add r1, r9, r1",
            "add r2, r9, r2",
            "str r1, [sp, #60]",
            "str r2, [sp, #76]",
            "cmp r9, r1",
            "beq 3f",
            "ldr r1, [sp, #96]",
            "cmp r1, #2",
            "beq 12f",
            "1:",
            "ldm sp, {{r0, r1, r2, r3, r4, r5, r6, r7, r8}}",
            quad!("r9", "r1", "r4", "b"),
            quad!("r10", "r2", "r4", "t"),
            quad!("r11", "r3", "r5", "b"),
            quad_out!("1b"),
            "b 3f",
            "12:",
            "ldm sp, {{r0, r1, r2, r3, r4, r5, r6, r7, r8}}",
            quad2!("r9", "r1", "r4", "b"),
            quad2!("r10", "r2", "r4", "t"),
            quad2!("r11", "r3", "r5", "b"),
            quad_out!("12b"),
            // Two outputs where at least two remain (4·stride bytes of a line).
            "3:",
            "ldr r1, [sp, #76]",
            "subs r1, r1, r9",
            "beq 5f",
            "ldr r2, [sp, #96]",
            "cmp r1, r2, lsl #2",
            "blo 8f",
            "cmp r2, #2",
            "beq 16f",
            "ldm sp, {{r0, r1, r2, r3, r4, r5, r6}}",
            pair!("r9", "r1", "r4", "b"),
            pair!("r10", "r2", "r4", "t"),
            pair!("r11", "r3", "r5", "b"),
            pair_out!(),
            "b 6f",
            "16:",
            "ldm sp, {{r0, r1, r2, r3, r4, r5, r6}}",
            pair2!("r9", "r1", "r4", "b"),
            pair2!("r10", "r2", "r4", "t"),
            pair2!("r11", "r3", "r5", "b"),
            pair_out!(),
            // Then one at a time (the stride in r2 where coming from the test above).
            "6:",
            "ldr r1, [sp, #76]",
            "cmp r9, r1",
            "beq 5f",
            "ldr r2, [sp, #96]",
            "8:",
            "cmp r2, #2",
            "beq 14f",
            "4:",
            "ldm sp, {{r0, r1, r2, r3, r4, r5}}",
            single!("r9", "r1", "r4", "b", "1"),
            single!("r10", "r2", "r4", "t", "1"),
            single!("r11", "r3", "r5", "b", "1"),
            single_out!("4b"),
            "b 5f",
            "14:",
            "ldm sp, {{r0, r1, r2, r3, r4, r5}}",
            single!("r9", "r1", "r4", "b", "2"),
            single!("r10", "r2", "r4", "t", "2"),
            single!("r11", "r3", "r5", "b", "2"),
            single_out!("14b"),
            "5:",
            // The next channel: its lines, its first output.
            "ldr r1, [sp, #108]",
            "add r9, r9, r1",
            "add r10, r10, r1",
            "add r11, r11, r1",
            "ldr r1, [sp, #52]",
            "ldr r2, [sp, #92]",
            "subs r1, r1, r2",
            "str r1, [sp, #52]",
            "ldr r0, [sp, #84]",
            "ldr r1, [sp, #88]",
            "cmp r0, r1",
            "bne 7b",
            "add sp, sp, #112",
            "pop {{r6, r7}}",
            inout("r0") core::ptr::from_ref(line) => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        );
    }
}

/// See `portable::widen_pairs`: two positions at a time, their words split by `SXTB16` into
/// halfword pairs of channels 0 and 2, and 1 and 3, and those regrouped by channel (`PKHBT`,
/// `PKHTB`) into one word per channel (stored unaligned where the line's positions are odd).
///
/// # Safety
/// As `portable::widen_pairs`.
pub unsafe fn widen_pairs(src: *const i8, step: usize, dst: *mut i16, lane: usize, pairs: usize) {
    if pairs == 0 {
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        core::arch::asm!(
            "1:",
            "ldr r9, [r0]",
            "ldr r10, [r0, r1]",
            "add r0, r0, r1, lsl #1",
            "sxtb16 r11, r9",
            "sxtb16 r9, r9, ror #8",
            "sxtb16 r12, r10",
            "sxtb16 r10, r10, ror #8",
            "pkhbt lr, r11, r12, lsl #16",
            "pkhtb r11, r12, r11, asr #16",
            "pkhbt r12, r9, r10, lsl #16",
            "pkhtb r9, r10, r9, asr #16",
            "str r12, [r2, r3]",
            "str r11, [r2, r5]",
            "str r9, [r2, r8]",
            "str lr, [r2], #4",
            "cmp r2, r4",
            "bne 1b",
            inout("r0") src => _,
            in("r1") step,
            inout("r2") dst => _,
            in("r3") 2 * lane,
            in("r4") dst.wrapping_add(2 * pairs),
            in("r5") 4 * lane,
            in("r8") 6 * lane,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
            options(nostack),
        );
    }
}

/// See `portable::add_tabulated`: one element in 13 instructions (`LDRSB` of both inputs, two
/// table loads at the signed index, the `SMLAL` requantization with the zero point folded into
/// the rounding constant, `SSAT`, `STRB`) where the activation is int8's own range and the
/// right shift is at most `FOLD_MAX_SHIFT`; the portable loop otherwise.
pub fn add_tabulated(
    tables: [&[i32; 256]; 2],
    x: &[i8],
    y: &[i8],
    q: &ChannelQuant,
    stage: OutputStage,
    out: &mut [i8],
) {
    let n = out.len();
    let shift = q.right_minus_one();
    let fits = q.is_fast()
        && (0..gemm::FOLD_MAX_SHIFT).contains(&shift)
        && stage.clamp == Clamp::NONE
        && x.len() >= n
        && y.len() >= n
        && n > 0;
    if !fits {
        portable::add_tabulated(tables, x, y, q, stage, out);
        return;
    }
    // The zero point in the rounding constant's high word (see `ChannelParams::with_zero_point`).
    let round_hi = q
        .round_hi
        .wrapping_add(stage.zero_point.wrapping_shl(shift as u32));
    let [t1, t2] = tables.map(|t| t.as_ptr().wrapping_add(128));
    // SAFETY: reads `n` bytes of `x` and `y` and writes `n` of `out` (lengths checked above);
    // a sign-extended byte `v` indexes entry `v + 128` of a 256-entry table. r6 and r7 are
    // restored before the block ends.
    unsafe {
        core::arch::asm!(
            "push {{r6, r7}}",
            "1:",
            "ldrsb r12, [r0], #1",
            "ldrsb lr, [r1], #1",
            "ldr r12, [r4, r12, lsl #2]",
            "ldr lr, [r5, lr, lsl #2]",
            "add r12, r12, lr",
            "asr lr, r12, #31",
            "adds r6, r9, lr, lsl #31",
            "adc r7, r10, lr",
            "smlal r6, r7, r12, r8",
            "asr r7, r7, r11",
            "ssat r7, #8, r7",
            "strb r7, [r2], #1",
            "cmp r2, r3",
            "bne 1b",
            "pop {{r6, r7}}",
            inout("r0") x.as_ptr() => _,
            inout("r1") y.as_ptr() => _,
            inout("r2") out.as_mut_ptr() => _,
            in("r3") out.as_mut_ptr().wrapping_add(n),
            in("r4") t1,
            in("r5") t2,
            in("r8") q.multiplier,
            in("r9") q.round_lo,
            in("r10") round_hi,
            in("r11") q.shift,
            out("r12") _,
            out("lr") _,
        );
    }
}
