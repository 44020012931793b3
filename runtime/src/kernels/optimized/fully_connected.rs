//! FULLY_CONNECTED: a matrix product whose columns are the batches. A block of (up to two)
//! batches is packed once, then every chunk of weight rows runs over it through the
//! architecture's dot kernel.

use super::conv::block_cols;
use super::gemm::{self, ChannelParams, OutputStage, block_len, pack_values};
use crate::format::{Clamp, Requant};
use crate::kernels::{Scratch, arch, reference, scratch_bytes};

/// Output units whose parameters are prepared at once: few, so that the scratch of a wide
/// layer stays small (a fully connected layer packs its input once, whatever the chunk).
const UNIT_CHUNK: usize = 16;

/// Bytes of scratch [`fully_connected`] takes for `batches` inputs of `depth` values and
/// `units` outputs: a block of packed batches and the parameters of a chunk of units.
pub fn scratch(batches: usize, depth: usize, units: usize) -> usize {
    scratch_bytes(&[
        block_len(depth, block_cols(batches)).saturating_mul(2),
        units.min(UNIT_CHUNK) * size_of::<ChannelParams>(),
    ])
}

/// FULLY_CONNECTED with the reference kernel's signature and results, its working memory in
/// `scratch` ([`scratch`] bytes; with less it takes the reference kernel).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
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
    mut scratch: Scratch<'_>,
) {
    let units = weights.len().checked_div(depth).unwrap_or(0);
    let batches = input.len().checked_div(depth).unwrap_or(0);
    let fits =
        !super::REFERENCE_ONLY && units > 0 && batches > 0 && output.len() >= batches * units;
    let cols = block_cols(batches);
    let buffers = if fits {
        scratch
            .take::<i16>(block_len(depth, cols))
            .zip(scratch.take::<ChannelParams>(units.min(UNIT_CHUNK)))
    } else {
        None
    };
    let Some((packed, params)) = buffers else {
        reference::fully_connected(
            input, input_zp, weights, bias, requant, output_zp, clamp, depth, output,
        );
        return;
    };
    let stage = OutputStage {
        zero_point: output_zp,
        clamp,
    };
    let mut b = 0;
    while b < batches {
        let cols = if b + 2 <= batches { cols } else { 1 };
        let block = packed.get_mut(..block_len(depth, cols)).unwrap_or(&mut []);
        for c in 0..cols {
            let x = input
                .get((b + c) * depth..(b + c + 1) * depth)
                .unwrap_or(&[]);
            pack_values(block, cols, c, 0, x, input_zp);
            gemm::pad_tail(block, cols, c, depth);
        }
        let y = output.get_mut(b * units..).unwrap_or(&mut []);
        let mut u0 = if cols == 1 {
            let y = y.get_mut(..units).unwrap_or(&mut []);
            arch::quad_rows(weights, bias, requant, block, depth, stage, y)
        } else {
            0
        };
        while u0 < units {
            let chunk = (units - u0).min(params.len());
            let quant = gemm::prepare(params, bias, requant, u0, chunk);
            let params = params.get(..chunk).unwrap_or(&[]);
            // From the chunk's first row on: a row's last partial group may be read whole
            // where the next row follows (its padding in the block is 0).
            let rows = weights.get(u0 * depth..).unwrap_or(&[]);
            if cols == 2 {
                arch::pair_channels(rows, params, quant, block, depth, stage, y, units, u0);
            } else {
                arch::single_channels(rows, params, quant, block, depth, stage, y, units, u0);
            }
            u0 += chunk;
        }
        b += cols;
    }
}
