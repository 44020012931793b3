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
            let acc = requantize(acc.wrapping_add(bias_at(bias, unit)), requant.channel(unit));
            *out = clamp_to_i8(acc.saturating_add(output_zp), clamp.min, clamp.max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Multiplier;

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
}
