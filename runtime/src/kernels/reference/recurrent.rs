//! SVDF as TFLM's integer kernel computes it (`EvalIntegerSvdfReference`), its state int16 or
//! int8 (`W`-byte little-endian elements).

use crate::format::Multiplier;
use crate::kernels::fixed_point::{clamp_to_i8, requantize};

/// The shapes and quantization of one SVDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvdfParams {
    /// Batches.
    pub batch: usize,
    /// Input values per batch.
    pub input_size: usize,
    /// Filters.
    pub filters: usize,
    /// State values per filter.
    pub memory: usize,
    /// Filters per output unit.
    pub rank: usize,
    /// Zero points of the input, the state and the output.
    pub input_zp: i32,
    /// Zero point of the state.
    pub state_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// Feature stage to the state's scale.
    pub feature: Multiplier,
    /// Time stage to the output's scale.
    pub output: Multiplier,
}

/// One state element: int8 (`W = 1`) or int16 (`W = 2`), little-endian.
trait Element<const W: usize> {
    const MIN: i32;
    const MAX: i32;
    fn read(b: [u8; W]) -> i32;
    /// The value narrowed to the element type, wrapping.
    fn write(v: i32) -> [u8; W];
}

struct Narrow;

impl Element<1> for Narrow {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    fn read([b]: [u8; 1]) -> i32 {
        i32::from(b as i8)
    }
    fn write(v: i32) -> [u8; 1] {
        [v as u8]
    }
}

impl Element<2> for Narrow {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    fn read(b: [u8; 2]) -> i32 {
        i32::from(i16::from_le_bytes(b))
    }
    fn write(v: i32) -> [u8; 2] {
        (v as i16).to_le_bytes()
    }
}

/// One SVDF invocation with an int16 (`wide`) or int8 state and `weights_time` of that type.
/// Slices of other sizes than `p` gives leave everything as it was.
#[allow(clippy::too_many_arguments)]
pub fn svdf(
    p: &SvdfParams,
    wide: bool,
    input: &[i8],
    weights_feature: &[i8],
    weights_time: &[u8],
    bias: &[u8],
    state: &mut [u8],
    output: &mut [i8],
) {
    if wide {
        svdf_in::<2>(p, input, weights_feature, weights_time, bias, state, output);
    } else {
        svdf_in::<1>(p, input, weights_feature, weights_time, bias, state, output);
    }
}

fn svdf_in<const W: usize>(
    p: &SvdfParams,
    input: &[i8],
    weights_feature: &[i8],
    weights_time: &[u8],
    bias: &[u8],
    state: &mut [u8],
    output: &mut [i8],
) where
    Narrow: Element<W>,
{
    let (wt, _) = weights_time.as_chunks::<W>();
    let (bias, _) = bias.as_chunks::<4>();
    let units = p.filters / p.rank.max(1);
    let rows = p.batch * p.filters;
    if p.memory == 0
        || p.rank == 0
        || !p.filters.is_multiple_of(p.rank)
        || input.len() != p.batch * p.input_size
        || weights_feature.len() != p.filters * p.input_size
        || wt.len() != p.filters * p.memory
        || bias.len() != units
        || state.len() != rows * p.memory * W
        || output.len() != p.batch * units
    {
        return;
    }
    // 1. Every value moves one place towards the start of the flat buffer (TFLM's memmove);
    // the last column of each filter row is rewritten next.
    state.copy_within(W.., 0);
    let (state, _) = state.as_chunks_mut::<W>();
    // 2. Feature stage: clamped to the state's range, then the zero point added in the
    // state's type, wrapping (the order of the TFLM this matches).
    for (b, x) in input.chunks_exact(p.input_size).enumerate() {
        for (f, w) in weights_feature.chunks_exact(p.input_size).enumerate() {
            let dot = x.iter().zip(w).fold(0i32, |acc, (&x, &w)| {
                acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(x) - p.input_zp))
            });
            let v = requantize(dot, p.feature)
                .clamp(<Narrow as Element<W>>::MIN, <Narrow as Element<W>>::MAX);
            if let Some(slot) = state.get_mut((b * p.filters + f) * p.memory + p.memory - 1) {
                *slot = <Narrow as Element<W>>::write(v.wrapping_add(p.state_zp));
            }
        }
    }
    // 3, 4. Time stage, rank reduction, bias, requantization.
    let state = &*state;
    for (b, out) in output.chunks_exact_mut(units).enumerate() {
        for (u, (o, bias)) in out.iter_mut().zip(bias).enumerate() {
            let mut acc = i32::from_le_bytes(*bias);
            for f in u * p.rank..(u + 1) * p.rank {
                let at = f * p.memory;
                let s = state
                    .get((b * p.filters) * p.memory + at..)
                    .unwrap_or_default();
                for (&w, &s) in wt.get(at..at + p.memory).unwrap_or_default().iter().zip(s) {
                    let v = <Narrow as Element<W>>::read(s) - p.state_zp;
                    acc = acc.wrapping_add(<Narrow as Element<W>>::read(w).wrapping_mul(v));
                }
            }
            *o = clamp_to_i8(
                requantize(acc, p.output).saturating_add(p.output_zp),
                i8::MIN,
                i8::MAX,
            );
        }
    }
}
