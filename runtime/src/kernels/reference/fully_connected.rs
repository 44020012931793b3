use crate::format::{Clamp, Requant};
use crate::kernels::bias_at;
use crate::kernels::fixed_point::{clamp_to_i8, requantize};

/// FULLY_CONNECTED: for each batch row of `input` (`depth` values) and each of the `units`
/// rows of `weights`, `out = clamp(requant(Σ w·(x - input_zp) + bias) + output_zp)`.
/// Weights are symmetric (zero point 0), as TFLite's int8 scheme requires.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    input: &[i8],
    input_zp: i32,
    weights: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp,
    depth: usize,
    output: &mut [i8],
) {
    if depth == 0 {
        return;
    }
    let units = weights.len() / depth;
    if units == 0 {
        return;
    }
    for (x, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        for (unit, (w, out)) in weights
            .chunks_exact(depth)
            .zip(out_row.iter_mut())
            .enumerate()
        {
            let acc = w.iter().zip(x).fold(0i32, |acc, (&w, &x)| {
                acc.wrapping_add(i32::from(w) * (i32::from(x) - input_zp))
            });
            *out = requantized(acc, unit, bias, requant, output_zp, clamp);
        }
    }
}

/// Output `unit` from its accumulator: bias, requantization, zero point, clamp (one copy for
/// both kernels).
#[inline(never)]
pub(crate) fn requantized(
    acc: i32,
    unit: usize,
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp,
) -> i8 {
    let acc = requantize(acc.wrapping_add(bias_at(bias, unit)), requant.channel(unit));
    clamp_to_i8(acc.saturating_add(output_zp), clamp.min, clamp.max)
}

/// FULLY_CONNECTED with its `units` rows of weights in pairs (`Op::FullyConnectedPaired`:
/// pairs of `depth` columns of two bytes, the even row's weight plus 128, then the odd
/// row's): the same results as [`fully_connected`] over those rows.
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
) {
    let depth = pairs.len() / (units.div_ceil(2) * 2).max(1);
    if depth == 0 || units == 0 {
        return;
    }
    for (x, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        for (p, (pair, outs)) in pairs
            .chunks_exact(2 * depth)
            .zip(out_row.chunks_mut(2))
            .enumerate()
        {
            let mut acc = [0i32; 2];
            for (&[even, odd], &x) in pair.as_chunks::<2>().0.iter().zip(x) {
                let x = i32::from(x) - input_zp;
                acc[0] = acc[0].wrapping_add((i32::from(even) - 128) * x);
                acc[1] = acc[1].wrapping_add(i32::from(odd as i8) * x);
            }
            for (i, (out, acc)) in outs.iter_mut().zip(acc).enumerate() {
                *out = requantized(acc, 2 * p + i, bias, requant, output_zp, clamp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::format::Multiplier;
    use std::vec::Vec;

    #[test]
    fn hand_computed_example() {
        // Two batches, depth 3, two units; multiplier 0.5 (2^30, shift 0).
        let input = [1i8, 2, 3, -1, 0, 1];
        let weights = [1i8, 1, 1, 2, 0, -2];
        let bias = [10i32.to_le_bytes(), (-4i32).to_le_bytes()].concat();
        let req = Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: 0,
        });
        let mut out = [0i8; 4];
        // input_zp = 1 -> x - zp = [0,1,2], [-2,-1,0]
        fully_connected(
            &input,
            1,
            &weights,
            Some(&bias),
            &req,
            5,
            Clamp::NONE,
            3,
            &mut out,
        );
        // batch0: unit0 = 0+1+2+10 = 13 -> 6.5 -> 7 (+5) = 12; unit1 = 0+0-4-4 = -8 -> -4 (+5) = 1
        // batch1: unit0 = -3+10 = 7 -> 3.5 -> 4 (+5) = 9; unit1 = -4+0-0-4 = -8 -> -4 + 5 = 1
        assert_eq!(out, [12, 1, 9, 1]);
    }

    #[test]
    fn saturates_and_clamps() {
        let input = [127i8; 4];
        let weights = [127i8; 4];
        let req = Requant::PerTensor(Multiplier {
            multiplier: i32::MAX,
            shift: 4,
        });
        let mut out = [0i8; 1];
        fully_connected(
            &input,
            -128,
            &weights,
            None,
            &req,
            0,
            Clamp::NONE,
            4,
            &mut out,
        );
        assert_eq!(out, [127]);
        let relu = Clamp { min: -10, max: 20 };
        fully_connected(&input, -128, &weights, None, &req, 0, relu, 4, &mut out);
        assert_eq!(out, [20]);
    }

    #[test]
    fn paired_rows_give_the_rows_results() {
        // Three units (the last pair's odd row is zeros), depth 3, two batches; -128 and 127.
        let input = [1i8, 2, 3, -1, 0, 1];
        let weights = [1i8, 1, 1, 2, 0, -2, -128, 127, 5];
        let pairs = [
            0x81, 2, 0x81, 0, 0x81, 0xfe, // rows 0 and 1: 1 + 128 (u8), then 2 (i8), ...
            0x00, 0, 0xff, 0, 0x85, 0, // row 2 (-128 -> 0, 127 -> 255) and a row of zeros
        ];
        let bytes: Vec<u8> = weights.iter().map(|&w| w as u8).collect();
        assert_eq!(crate::format::pair_rows(&bytes, 3), pairs);
        let bias = [10i32, -4, 7].map(i32::to_le_bytes).concat();
        let req = Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: 0,
        });
        let (mut rows, mut paired) = ([0i8; 6], [0i8; 6]);
        fully_connected(
            &input,
            1,
            &weights,
            Some(&bias),
            &req,
            5,
            Clamp::NONE,
            3,
            &mut rows,
        );
        fully_connected_paired(
            &input,
            1,
            &pairs,
            3,
            Some(&bias),
            &req,
            5,
            Clamp::NONE,
            &mut paired,
        );
        assert_eq!(paired, rows);
        // Unit 2: batch 0, 0·-128 + 1·127 + 2·5 + 7 = 144 -> 72 (+5) = 77; batch 1,
        // -2·-128 - 1·127 + 0·5 + 7 = 136 -> 68 (+5) = 73.
        assert_eq!(rows, [12, 1, 77, 9, 1, 73]);
    }
}
