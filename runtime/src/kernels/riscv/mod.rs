//! RISC-V micro-kernels (RV32IM and up): no SIMD, so the work is register blocking. A block of
//! four output channels times three columns keeps twelve accumulators in registers: per depth
//! position, 3 halfword and 4 byte loads feed 12 multiply-adds (2.71 instructions per MAC in
//! the loop, against 2.94 for four channels times two columns).
//!
//! Those blocks (CONV_2D's chunks of four channels, over three columns or the last two) are
//! assembly loops, [`dot_4x3`] and [`dot_4x2`]: they need 24 and 25 registers, and how LLVM
//! allocated them in Rust moved with code elsewhere in the firmware (three spills per group,
//! +2% on the MLPerf models, after an unrelated change). Elsewhere the multiply-add is one
//! assembly block (`mul` then `add`) so that the compiler keeps each product next to its sum:
//! left to itself, it hoists all 32 products of a group ahead of the sums and spills them.
//! Everything else is the portable code.

use super::optimized::depthwise::{Line3x3, LineChannel};
use super::optimized::gemm::{self, ChannelParams, OutputStage, Requantization};
use super::portable;

// The channel loops are portable's: they call `arch::dot`, which on RISC-V is the one below.
pub use portable::{
    DepthwiseChunk, PACKED_ORDER, add_tabulated, dot_pairs, pack_groups, pair_channels,
    paired_rows, single_channels, widen_column, widen_pairs,
};

/// See `portable::WIDE_COLUMNS`: three, for [`dot_4x3`] (IC's 3x3 layers of 16 channels 3.65
/// -> 3.39 instructions per MAC against blocks of two; IC 45.17 -> 42.57 M in all).
pub const WIDE_COLUMNS: usize = 3;

/// See `portable::WIDE_MIN_DEPTH`: over four groups (1x1 layers of depth 8 and 16, VWW's
/// layers 2 and 4 and IC's 6, took 1-3% more in blocks of three than of two).
pub const WIDE_MIN_DEPTH: usize = 17;

/// See `portable::wide_channels`: four channels at a time ([`dot_4x3`]) where every channel
/// takes the fast requantization (the MLPerf Tiny models' every layer); otherwise one at a
/// time, in little code.
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
    if quant.is_fast() {
        gemm::channels_as::<4, WIDE_COLUMNS, true>(
            filter, params, block, depth, stage, y, out_c, first,
        );
    } else {
        gemm::channels_as::<1, WIDE_COLUMNS, false>(
            filter, params, block, depth, stage, y, out_c, first,
        );
    }
}

/// See `portable::DEPTHWISE_LINES` (on RV32 the portable line kernel, KWS's 3x3 depthwise
/// layers 9.33 -> 8.17 instructions per MAC against the pixel loop).
pub const DEPTHWISE_LINES: bool = true;

/// See `portable::DEPTHWISE_LINES_FROM`: on RV32 the pixel loop is faster for VWW's lines of
/// 6 and 3 outputs (its 6x6 layers 9.7 against 10.6 instructions per MAC).
pub const DEPTHWISE_LINES_FROM: usize = 8;

/// See `portable::SHALLOW_CHANNELS`: on RV32 only one channel, where each filter tap is one
/// value (KWS's first layer 1.41 -> 1.38 M); with three, IC's and VWW's first layers took 3%
/// and 6% more than tap by tap.
pub const SHALLOW_CHANNELS: usize = 1;

/// See `portable::ROW_COPY`: RV32IMAC has no unaligned word loads (a copy is byte by byte),
/// so only rows of a word (KWS's first layer's, of one channel) take it.
pub const ROW_COPY: usize = 4;

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
    // Four rows times three columns only ever take the assembly: no Rust loop for them.
    #[cfg(target_arch = "riscv32")]
    if let (4, 3, [w0, w1, w2, w3]) = (R, C, &w[..]) {
        if groups > 0 {
            // SAFETY: with R = 4 and C = 3 the two array types are the same; the rows and the
            // block hold `groups` groups (checked above).
            unsafe {
                let acc = &mut *(acc as *mut [[i32; C]; R]).cast::<[[i32; 3]; 4]>();
                let rows = [w0, w1, w2, w3].map(|w| w.as_ptr());
                dot_4x3(acc, rows, x.as_ptr(), groups);
            }
        }
        return;
    }
    #[cfg(target_arch = "riscv32")]
    if let (4, 2, true, Some(first)) = (R, C, groups > 0, w.first()) {
        // CONV_2D's rows of a chunk lie `depth` bytes apart: one pointer and the distance.
        let base = first.as_ptr();
        let stride = w
            .get(1)
            .map_or(0, |w| (w.as_ptr() as usize).wrapping_sub(base as usize));
        let even = w.iter().enumerate().all(|(r, w)| {
            w.as_ptr() as usize == (base as usize).wrapping_add(r.wrapping_mul(stride))
        });
        if even {
            // SAFETY: with R = 4 and C = 2 the two array types are the same; the rows and the
            // block hold `groups` groups (checked above), row `r` starting `r·stride` bytes
            // after row 0.
            unsafe {
                let acc = &mut *(acc as *mut [[i32; C]; R]).cast::<[[i32; 2]; 4]>();
                dot_4x2(acc, base, stride, x.as_ptr(), groups);
            }
            return;
        }
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

/// One row of a depth position of [`dot_4x3`]: the row's weight (byte `$o` of its group at
/// `$p`) times the three columns' values, into the row's three sums.
#[cfg(target_arch = "riscv32")]
#[rustfmt::skip]
macro_rules! row_4x3 {
    ($o:literal, $p:literal, $a0:literal, $a1:literal, $a2:literal) => {
        concat!(
            "lb {w}, ", $o, "({", $p, "})\n",
            "mul {t}, {w}, {x0}\n",
            "add {", $a0, "}, {", $a0, "}, {t}\n",
            "mul {t}, {w}, {x1}\n",
            "add {", $a1, "}, {", $a1, "}, {t}\n",
            "mul {w}, {w}, {x2}\n",
            "add {", $a2, "}, {", $a2, "}, {w}\n",
        )
    };
}

/// One depth position of a group of [`dot_4x3`]: the three columns' values (halfwords at
/// `$x0`, `$x1`, `$x2` of the block's group), then the four rows' weights at `$o`, the
/// position's byte in the packed order.
#[cfg(target_arch = "riscv32")]
#[rustfmt::skip]
macro_rules! depth_4x3 {
    ($x0:literal, $x1:literal, $x2:literal, $o:literal) => {
        concat!(
            "lh {x0}, ", $x0, "({col})\n",
            "lh {x1}, ", $x1, "({col})\n",
            "lh {x2}, ", $x2, "({col})\n",
            row_4x3!($o, "p0", "a00", "a01", "a02"),
            row_4x3!($o, "p1", "a10", "a11", "a12"),
            row_4x3!($o, "p2", "a20", "a21", "a22"),
            row_4x3!($o, "p3", "a30", "a31", "a32"),
        )
    };
}

/// [`dot`] for four rows times a block of three columns, in assembly: twelve sums, a depth
/// position's three column values, a weight and a product in registers (24 of the 26 inline
/// assembly may use, with the sums' address). Per group: 12 halfword and 16 byte loads, 48
/// multiply-adds, 6 pointer steps and the branch, 130 instructions. (The same loads and
/// stores of the sums in [`dot_4x2`], at 26 registers, made the compiler spill around it:
/// IC's layer 6 758 -> 814 k instructions.)
///
/// # Safety
/// `rows[r] .. + 4·groups` and `column .. + 12·groups` are readable; `groups > 0`.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
unsafe fn dot_4x3(
    acc: &mut [[i32; 3]; 4],
    rows: [*const i8; 4],
    column: *const i16,
    groups: usize,
) {
    // SAFETY: reads only what the caller guarantees, and `acc`; `groups > 0`, so the loop
    // ends when `col` reaches `end`.
    unsafe {
        let end = column.add(12 * groups);
        core::arch::asm!(
            // The sums from memory and back: as twelve register operands, the compiler moved
            // each through the stack twice around the loop.
            "lw {a00}, 0({acc})",
            "lw {a01}, 4({acc})",
            "lw {a02}, 8({acc})",
            "lw {a10}, 12({acc})",
            "lw {a11}, 16({acc})",
            "lw {a12}, 20({acc})",
            "lw {a20}, 24({acc})",
            "lw {a21}, 28({acc})",
            "lw {a22}, 32({acc})",
            "lw {a30}, 36({acc})",
            "lw {a31}, 40({acc})",
            "lw {a32}, 44({acc})",
            "2:",
            // A group of each column is four halfwords (slots 0..3 hold the group's values
            // 0, 2, 1, 3): slot s of column c at byte 8c + 2s.
            depth_4x3!("0", "8", "16", "0"),
            depth_4x3!("2", "10", "18", "2"),
            depth_4x3!("4", "12", "20", "1"),
            depth_4x3!("6", "14", "22", "3"),
            "addi {col}, {col}, 24",
            "addi {p0}, {p0}, 4",
            "addi {p1}, {p1}, 4",
            "addi {p2}, {p2}, 4",
            "addi {p3}, {p3}, 4",
            "bne {col}, {end}, 2b",
            "sw {a00}, 0({acc})",
            "sw {a01}, 4({acc})",
            "sw {a02}, 8({acc})",
            "sw {a10}, 12({acc})",
            "sw {a11}, 16({acc})",
            "sw {a12}, 20({acc})",
            "sw {a20}, 24({acc})",
            "sw {a21}, 28({acc})",
            "sw {a22}, 32({acc})",
            "sw {a30}, 36({acc})",
            "sw {a31}, 40({acc})",
            "sw {a32}, 44({acc})",
            acc = in(reg) acc.as_mut_ptr(),
            a00 = out(reg) _,
            a01 = out(reg) _,
            a02 = out(reg) _,
            a10 = out(reg) _,
            a11 = out(reg) _,
            a12 = out(reg) _,
            a20 = out(reg) _,
            a21 = out(reg) _,
            a22 = out(reg) _,
            a30 = out(reg) _,
            a31 = out(reg) _,
            a32 = out(reg) _,
            col = inout(reg) column => _,
            p0 = inout(reg) rows[0] => _,
            p1 = inout(reg) rows[1] => _,
            p2 = inout(reg) rows[2] => _,
            p3 = inout(reg) rows[3] => _,
            end = in(reg) end,
            x0 = out(reg) _,
            x1 = out(reg) _,
            x2 = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            options(nostack),
        );
    }
}

/// [`dot`] for four rows `stride` bytes apart times a block of two columns, in assembly: the
/// eight sums, the group's eight column values and four weights stay in registers (25 of the
/// 26 inline assembly may use), so no register allocation elsewhere can make it spill.
///
/// # Safety
/// `rows + r·stride .. + 4·groups` (r < 4) and `column .. + 8·groups` are readable; `groups > 0`.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
unsafe fn dot_4x2(
    acc: &mut [[i32; 2]; 4],
    rows: *const i8,
    stride: usize,
    column: *const i16,
    groups: usize,
) {
    let [
        [mut a00, mut a01],
        [mut a10, mut a11],
        [mut a20, mut a21],
        [mut a30, mut a31],
    ] = *acc;
    // From row 3 of one group to row 0 of the next.
    let back = 4usize.wrapping_sub(3usize.wrapping_mul(stride));
    // SAFETY: reads only what the caller guarantees; `groups > 0`, so the loop ends when
    // `col` reaches `end`.
    unsafe {
        let end = column.add(8 * groups);
        core::arch::asm!(
            "2:",
            // The group of both columns: four halfwords each, in the packed order.
            "lh {x0}, 0({col})",
            "lh {x1}, 2({col})",
            "lh {x2}, 4({col})",
            "lh {x3}, 6({col})",
            "lh {y0}, 8({col})",
            "lh {y1}, 10({col})",
            "lh {y2}, 12({col})",
            "lh {y3}, 14({col})",
            "addi {col}, {col}, 16",
            // Row 0: four weights (in the packed order), times both columns.
            "lb {w0}, 0({p})",
            "lb {w1}, 2({p})",
            "lb {w2}, 1({p})",
            "lb {w3}, 3({p})",
            "mul {t}, {w0}, {x0}",
            "add {a00}, {a00}, {t}",
            "mul {w0}, {w0}, {y0}",
            "add {a01}, {a01}, {w0}",
            "mul {t}, {w1}, {x1}",
            "add {a00}, {a00}, {t}",
            "mul {w1}, {w1}, {y1}",
            "add {a01}, {a01}, {w1}",
            "mul {t}, {w2}, {x2}",
            "add {a00}, {a00}, {t}",
            "mul {w2}, {w2}, {y2}",
            "add {a01}, {a01}, {w2}",
            "mul {t}, {w3}, {x3}",
            "add {a00}, {a00}, {t}",
            "mul {w3}, {w3}, {y3}",
            "add {a01}, {a01}, {w3}",
            "add {p}, {p}, {stride}",
            // Row 1: four weights (in the packed order), times both columns.
            "lb {w0}, 0({p})",
            "lb {w1}, 2({p})",
            "lb {w2}, 1({p})",
            "lb {w3}, 3({p})",
            "mul {t}, {w0}, {x0}",
            "add {a10}, {a10}, {t}",
            "mul {w0}, {w0}, {y0}",
            "add {a11}, {a11}, {w0}",
            "mul {t}, {w1}, {x1}",
            "add {a10}, {a10}, {t}",
            "mul {w1}, {w1}, {y1}",
            "add {a11}, {a11}, {w1}",
            "mul {t}, {w2}, {x2}",
            "add {a10}, {a10}, {t}",
            "mul {w2}, {w2}, {y2}",
            "add {a11}, {a11}, {w2}",
            "mul {t}, {w3}, {x3}",
            "add {a10}, {a10}, {t}",
            "mul {w3}, {w3}, {y3}",
            "add {a11}, {a11}, {w3}",
            "add {p}, {p}, {stride}",
            // Row 2: four weights (in the packed order), times both columns.
            "lb {w0}, 0({p})",
            "lb {w1}, 2({p})",
            "lb {w2}, 1({p})",
            "lb {w3}, 3({p})",
            "mul {t}, {w0}, {x0}",
            "add {a20}, {a20}, {t}",
            "mul {w0}, {w0}, {y0}",
            "add {a21}, {a21}, {w0}",
            "mul {t}, {w1}, {x1}",
            "add {a20}, {a20}, {t}",
            "mul {w1}, {w1}, {y1}",
            "add {a21}, {a21}, {w1}",
            "mul {t}, {w2}, {x2}",
            "add {a20}, {a20}, {t}",
            "mul {w2}, {w2}, {y2}",
            "add {a21}, {a21}, {w2}",
            "mul {t}, {w3}, {x3}",
            "add {a20}, {a20}, {t}",
            "mul {w3}, {w3}, {y3}",
            "add {a21}, {a21}, {w3}",
            "add {p}, {p}, {stride}",
            // Row 3: four weights (in the packed order), times both columns.
            "lb {w0}, 0({p})",
            "lb {w1}, 2({p})",
            "lb {w2}, 1({p})",
            "lb {w3}, 3({p})",
            "mul {t}, {w0}, {x0}",
            "add {a30}, {a30}, {t}",
            "mul {w0}, {w0}, {y0}",
            "add {a31}, {a31}, {w0}",
            "mul {t}, {w1}, {x1}",
            "add {a30}, {a30}, {t}",
            "mul {w1}, {w1}, {y1}",
            "add {a31}, {a31}, {w1}",
            "mul {t}, {w2}, {x2}",
            "add {a30}, {a30}, {t}",
            "mul {w2}, {w2}, {y2}",
            "add {a31}, {a31}, {w2}",
            "mul {t}, {w3}, {x3}",
            "add {a30}, {a30}, {t}",
            "mul {w3}, {w3}, {y3}",
            "add {a31}, {a31}, {w3}",
            "add {p}, {p}, {back}",
            "bne {col}, {end}, 2b",
            a00 = inout(reg) a00,
            a01 = inout(reg) a01,
            a10 = inout(reg) a10,
            a11 = inout(reg) a11,
            a20 = inout(reg) a20,
            a21 = inout(reg) a21,
            a30 = inout(reg) a30,
            a31 = inout(reg) a31,
            col = inout(reg) column => _,
            p = inout(reg) rows => _,
            stride = in(reg) stride,
            back = in(reg) back,
            end = in(reg) end,
            x0 = out(reg) _,
            x1 = out(reg) _,
            x2 = out(reg) _,
            x3 = out(reg) _,
            y0 = out(reg) _,
            y1 = out(reg) _,
            y2 = out(reg) _,
            y3 = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            t = out(reg) _,
            options(readonly, nostack),
        );
    }
    *acc = [[a00, a01], [a10, a11], [a20, a21], [a30, a31]];
}

/// See `portable::depthwise_3x3_line`. Along lines of stride 1 the window slides: input
/// position `j` of the three lines gives the column sums `P_a(j) = Σ_r k[r][a]·line_r[j]`
/// (`a` = 0, 1, 2) and output `i` is `P_0(i) + P_1(i + 1) + P_2(i + 2)`, so each output
/// loads three values rather than nine.
///
/// # Safety
/// As `portable::depthwise_3x3_line`.
pub unsafe fn depthwise_3x3_line(line: &Line3x3) {
    if line.stride != 1 {
        // SAFETY: the caller's contract.
        return unsafe { portable::depthwise_3x3_line(line) };
    }
    let channel_bytes = line.along_bytes + line.next_channel;
    for (k, channel) in line.channels.iter().enumerate() {
        let rows = line.lines.map(|l| l.wrapping_byte_add(k * channel_bytes));
        // SAFETY: the caller's contract, for channel `k`.
        unsafe { sliding_line_channel(line, channel, rows, line.out.wrapping_add(k)) };
    }
}

/// One channel of [`depthwise_3x3_line`] at stride 1.
///
/// # Safety
/// Positions `0..n + 2` of each of `rows` are readable (`n` the outputs, `along_bytes / 2`)
/// and the `n` outputs from `out`, `line.out_step` apart, writable.
#[inline(never)]
unsafe fn sliding_line_channel(
    line: &Line3x3,
    channel: &LineChannel,
    rows: [*const i16; 3],
    out: *mut i8,
) {
    let n = line.along_bytes / 2;
    if n == 0 {
        return;
    }
    let [low, high] = line.clamp.map(|b| i32::from(b as u8 as i8));
    let [w0, w1, w2, w3, w4] = channel.weights.map(portable::halves);
    let (k00, k01, k02, k10, k11, k12, k20, k21, k22) =
        (w0.0, w0.1, w3.0, w1.0, w1.1, w3.1, w2.0, w2.1, w4.0);
    let [r0, r1, r2] = rows;
    // SAFETY (every call): j < n + 2 (the caller's contract).
    let columns = |j: usize| -> [i32; 3] {
        let [x0, x1, x2] = unsafe { [*r0.add(j), *r1.add(j), *r2.add(j)] }.map(i32::from);
        [
            x0 * k00 + x1 * k10 + x2 * k20,
            x0 * k01 + x1 * k11 + x2 * k21,
            x0 * k02 + x1 * k12 + x2 * k22,
        ]
    };
    // `next`: output j - 1's sum so far (P_0 of j - 1 and P_1 of j, with the bias), `last`
    // output j's (P_0 of j, with the bias), entering position j + 1.
    let [p0, _, _] = columns(0);
    let [q0, q1, _] = columns(1);
    let mut next = channel.folded.wrapping_add(p0).wrapping_add(q1);
    let mut last = channel.folded.wrapping_add(q0);
    let mut out = out;
    for j in 2..n + 2 {
        let [p0, p1, p2] = columns(j);
        let acc = next.wrapping_add(p2);
        next = last.wrapping_add(p1);
        last = channel.folded.wrapping_add(p0);
        // The bounds are int8 values: clamping to them saturates to int8 too.
        let v = channel.quant.apply_fast(acc).max(low).min(high);
        // SAFETY: output j - 2 < n (the caller's contract).
        unsafe { *out = v as i8 };
        out = out.wrapping_add(line.out_step);
    }
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
