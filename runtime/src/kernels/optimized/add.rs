//! ADD: when both inputs have the output's shape (no broadcasting) and there are enough
//! elements to pay for it, each input's rescaling (a function of an int8 value) is tabulated
//! once: 256 entries per input, exact. Then each element is two lookups, one exact
//! requantization ([`ChannelQuant`]) and a clamp.

use super::gemm::OutputStage;
use super::requant::ChannelQuant;
use crate::format::Multiplier;
use crate::kernels::reference::{self, AddParams, Broadcast};
use crate::kernels::{Scratch, arch, scratch_bytes};

/// Fewest elements for which the tables pay for themselves.
const TABLE_MIN: usize = 512;

/// Whether `n` elements take the tables.
fn tabulates(b: &Broadcast, n: usize) -> bool {
    b.len() == Some(n) && n >= TABLE_MIN
}

/// Bytes of scratch [`add`] takes for an output of `n` elements: the two tables, if it
/// tabulates.
pub fn scratch(b: &Broadcast, n: usize) -> usize {
    if tabulates(b, n) {
        scratch_bytes(&[256 * size_of::<i32>(), 256 * size_of::<i32>()])
    } else {
        0
    }
}

/// ADD with the reference kernel's signature and results, its tables in `scratch`
/// ([`scratch`] bytes; with less it takes the reference kernel).
pub fn add(
    b: &Broadcast,
    input1: &[i8],
    input2: &[i8],
    p: &AddParams,
    output: &mut [i8],
    mut scratch: Scratch<'_>,
) {
    let n = output.len();
    let tables =
        if !super::REFERENCE_ONLY && tabulates(b, n) && input1.len() == n && input2.len() == n {
            let mut table = || <&mut [i32; 256]>::try_from(scratch.take::<i32>(256)?).ok();
            table().zip(table())
        } else {
            None
        };
    let Some((t1, t2)) = tables else {
        reference::add(b, input1, input2, p, output);
        return;
    };
    let smaller_than_one = |m: Multiplier| {
        ChannelQuant::new(Multiplier {
            multiplier: m.multiplier,
            shift: m.shift.min(0),
        })
    };
    let tabulate = |t: &mut [i32; 256], zp: i32, m: Multiplier| {
        let q = smaller_than_one(m);
        for (v, slot) in (-128i32..=127).zip(t.iter_mut()) {
            *slot = q.apply(v.wrapping_sub(zp).wrapping_shl(u32::from(p.left_shift)));
        }
    };
    tabulate(t1, p.input1_zp, p.input1_multiplier);
    tabulate(t2, p.input2_zp, p.input2_multiplier);
    let (t1, t2): (&[i32; 256], &[i32; 256]) = (t1, t2);
    let out_q = smaller_than_one(p.output_multiplier);
    let (lo, hi) = (i32::from(p.clamp.min), i32::from(p.clamp.max));
    // A u8 index into a 256-entry table is always in range.
    #[allow(clippy::indexing_slicing)]
    let sum = |x: i8, y: i8| {
        t1[usize::from(x as u8 ^ 0x80)].wrapping_add(t2[usize::from(y as u8 ^ 0x80)])
    };
    if out_q.is_fast() && out_q.right_minus_one() >= 0 {
        let stage = OutputStage {
            zero_point: p.output_zp,
            clamp: p.clamp,
        };
        arch::add_tabulated([t1, t2], input1, input2, &out_q, stage, output);
    } else {
        for ((o, &x), &y) in output.iter_mut().zip(input1).zip(input2) {
            let v = out_q.apply(sum(x, y)).saturating_add(p.output_zp);
            *o = v.max(lo).min(hi) as i8;
        }
    }
}
