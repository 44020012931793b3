//! FULLY_CONNECTED with its weights in row pairs (`Op::FullyConnectedPaired`, what the host
//! writes for every int8 layer): each batch widened once (`x - zp`, and its sum), then the
//! pairs of rows through the architecture's loop (on Cortex-M4 the whole layer in assembly
//! for a per-tensor requantization) and the rest through [`pairs_from`]. Blobs written before
//! the pairs, with plain rows, take the reference kernel.

use super::gemm::OutputStage;
use crate::format::{Clamp, Requant};
use crate::kernels::{Scratch, arch, reference, scratch_bytes};

/// Bytes of scratch [`fully_connected_paired`] takes for inputs of `depth` values: one
/// widened input.
pub fn scratch_paired(depth: usize) -> usize {
    scratch_bytes(&[depth.saturating_mul(2)])
}

/// FULLY_CONNECTED over `units` rows of weights in pairs (`Op::FullyConnectedPaired`), with
/// [`reference::fully_connected_paired`]'s signature and results, its working memory in
/// `scratch` ([`scratch_paired`] bytes). Too little scratch, or an empty layer, takes the
/// reference kernel in a build with `reference-kernels` and leaves the output as it was in
/// others (the plan gives every kernel its scratch).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn fully_connected_paired(
    input: &[i8],
    input_zp: i32,
    pairs: &[u8],
    units: usize,
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp,
    output: &mut [i8],
    mut scratch: Scratch<'_>,
) {
    let depth = pairs.len() / (units.div_ceil(2) * 2).max(1);
    let batches = input.len().checked_div(depth).unwrap_or(0);
    let fits = !super::REFERENCE_ONLY && depth > 0 && units > 0 && output.len() >= batches * units;
    let column = if fits {
        scratch.take::<i16>(depth)
    } else {
        None
    };
    let Some(column) = column else {
        #[cfg(feature = "reference-kernels")]
        reference::fully_connected_paired(
            input, input_zp, pairs, units, bias, requant, output_zp, clamp, output,
        );
        return;
    };
    let stage = OutputStage {
        zero_point: output_zp,
        clamp,
    };
    for (x, y) in input
        .chunks_exact(depth.max(1))
        .zip(output.chunks_exact_mut(units.max(1)))
    {
        let sum = arch::widen_column(column, x, input_zp);
        let done = arch::paired_rows(pairs, depth, bias, requant, column, sum, stage, y);
        pairs_from(done, pairs, depth, bias, requant, column, sum, stage, y);
    }
}

/// Rows `first..` (`first` even) of weights in pairs times the widened `column` (whose sum is
/// `sum`), into `y`: two pairs at a time, so that each column value serves four rows (a last
/// pair alone is computed twice over). The even rows' `+128` comes off once per row, as
/// `128·sum`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pairs_from(
    first: usize,
    pairs: &[u8],
    depth: usize,
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    column: &[i16],
    sum: i32,
    stage: OutputStage,
    y: &mut [i8],
) {
    let column = column.get(..depth).unwrap_or(&[]);
    let pair_bytes = 2 * depth;
    let mut unit = first;
    while unit < y.len() {
        let pair = |unit: usize| pairs.get(unit * depth..).and_then(|p| p.get(..pair_bytes));
        let (Some(pair0), next) = (pair(unit), pair(unit + 2)) else {
            return;
        };
        let [a, b] = arch::dot_pairs([pair0, next.unwrap_or(pair0)], column);
        let offset = sum.wrapping_mul(128);
        let sums = [
            a[0].wrapping_sub(offset),
            a[1],
            b[0].wrapping_sub(offset),
            b[1],
        ];
        let OutputStage { zero_point, clamp } = stage;
        for (i, (acc, out)) in sums.into_iter().zip(y.iter_mut().skip(unit)).enumerate() {
            *out =
                reference::fully_connected_output(acc, unit + i, bias, requant, zero_point, clamp);
        }
        unit += 4;
    }
}
