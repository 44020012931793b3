//! SVDF as TFLM's integer kernel computes it (`EvalIntegerSvdfReference`), its state int16 or
//! int8 (`W`-byte little-endian elements), and UNIDIRECTIONAL_SEQUENCE_LSTM as TFLM's 2023
//! integer kernel computes it (int8 activations, int16 cell state, int16 gates through the
//! sigmoid table).

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

/// sigmoid(i / 24) in Q0.16 for i in 0..256 (TFLM's `sigmoid_table_uint16`), which its int16
/// LOGISTIC and TANH interpolate.
const SIGMOID_TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// The table's entries `k` and `k + 1` (`k` below 255).
fn table_pair(k: u32) -> (u32, u32) {
    let at = |i: u32| SIGMOID_TABLE.get(i as usize).copied().map_or(0, u32::from);
    (at(k), at(k + 1))
}

/// `x * multiplier` rounded right by `shift` (TFLM's int16 activations' input scaling; a zero
/// multiplier means `3 << shift`, no shift).
fn scale_input(x: i16, multiplier: i32, shift: u32) -> i32 {
    let (multiplier, shift) = if multiplier == 0 {
        (3i32.wrapping_shl(shift), 0)
    } else {
        (multiplier, shift.min(31))
    };
    let round = if shift > 0 { 1i32 << (shift - 1) } else { 0 };
    i32::from(x).wrapping_mul(multiplier).wrapping_add(round) >> shift
}

/// LOGISTIC of an int16 value, output in Q0.15 (TFLM's `reference_integer_ops::Logistic`).
pub fn logistic16(x: i16, multiplier: i32, shift: u32) -> i16 {
    let v = scale_input(x, multiplier, shift);
    let a = v.unsigned_abs();
    let top = a >> 9;
    let r = if top >= 255 {
        0x7FFF << 10
    } else {
        let (lo, hi) = table_pair(top);
        (lo << 9).wrapping_add((a & 0x1FF).wrapping_mul(hi.wrapping_sub(lo)))
    };
    let r = if v >= 0 {
        r.wrapping_add(1 << 9)
    } else {
        (1u32 << 25).wrapping_sub(r).wrapping_add((1 << 9) - 1)
    };
    (r >> 10) as i16
}

/// TANH of an int16 value, output in Q0.15 (TFLM's `reference_integer_ops::Tanh`).
pub fn tanh16(x: i16, multiplier: i32, shift: u32) -> i16 {
    let v = scale_input(x, multiplier, shift);
    let a = v.unsigned_abs();
    let top = a >> 8;
    let r = if top >= 255 {
        0xFFFF << 8
    } else {
        let (lo, hi) = table_pair(top);
        (lo << 8).wrapping_add((a & 0xFF).wrapping_mul(hi.wrapping_sub(lo))) as i32
    };
    let r = if v >= 0 {
        r.wrapping_sub(1 << 23).wrapping_add(1 << 7)
    } else {
        r.wrapping_neg().wrapping_add((1 << 23) + (1 << 7) - 1)
    };
    (r >> 8) as i16
}

/// The shapes and quantization of one UNIDIRECTIONAL_SEQUENCE_LSTM, int8 (TFLM's 8x8->16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmParams {
    /// Batches.
    pub batch: usize,
    /// Time steps.
    pub steps: usize,
    /// Input values per step.
    pub input_size: usize,
    /// Units (hidden and cell state per batch).
    pub units: usize,
    /// The input is `[steps, batch, input]` (else `[batch, steps, input]`).
    pub time_major: bool,
    /// Zero points of the input and of the hidden state (= the output's).
    pub input_zp: i32,
    /// Zero point of the hidden state.
    pub hidden_zp: i32,
    /// Per gate (input, forget, cell, output): input stage to Q3.12.
    pub input_multipliers: [Multiplier; 4],
    /// Per gate: recurrent stage to Q3.12.
    pub recurrent_multipliers: [Multiplier; 4],
    /// forget * cell, input * cell gate, and output * tanh(cell) to their scales.
    pub forget_cell: Multiplier,
    /// input gate * cell gate to the cell's scale.
    pub input_cell: Multiplier,
    /// output gate * tanh(cell) to the hidden state's scale.
    pub output_hidden: Multiplier,
    /// The cell gate applies TANH (any other activation: none at all, as in TFLM).
    pub cell_tanh: bool,
    /// log2 of the cell state's scale.
    pub cell_power: i32,
    /// Cell clip in cell units, if clipping.
    pub cell_clip: Option<i16>,
}

/// The weights of one LSTM, gate order input, forget, cell, output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmWeights<'w> {
    /// int8 `[4][units][input_size]`.
    pub input: &'w [i8],
    /// int8 `[4][units][units]`.
    pub recurrent: &'w [i8],
    /// Little-endian `[4][units]`: int32 (int8 activations) or int64 (int16 activations).
    pub bias: &'w [u8],
}

/// An LSTM activation: int8, its gate sums in int32 through the int32 requantization (TFLM's
/// 8x8->16), or int16, its gate sums in int64 through the int64 one (16x8).
pub trait LstmActivation: Copy {
    /// Bytes of a bias value.
    const BIAS: usize;
    /// The value range.
    const RANGE: (i32, i32);
    /// The value.
    fn get(self) -> i32;
    /// `v`, already in range.
    fn put(v: i32) -> Self;
    /// One gate stage: `Σ w (v - zp) + bias`, requantized to Q3.12 and saturated to int16.
    fn stage(weights: &[i8], v: &[Self], zp: i32, bias: i64, m: Multiplier) -> i32;
}

impl LstmActivation for i8 {
    const BIAS: usize = 4;
    const RANGE: (i32, i32) = (i8::MIN as i32, i8::MAX as i32);
    fn get(self) -> i32 {
        i32::from(self)
    }
    fn put(v: i32) -> Self {
        v as i8
    }
    fn stage(weights: &[i8], v: &[Self], zp: i32, bias: i64, m: Multiplier) -> i32 {
        let dot = weights.iter().zip(v).fold(0i32, |acc, (&w, &v)| {
            acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(v) - zp))
        });
        requantize(dot.wrapping_add(bias as i32), m).clamp(-32768, 32767)
    }
}

impl LstmActivation for [u8; 2] {
    const BIAS: usize = 8;
    const RANGE: (i32, i32) = (i16::MIN as i32, i16::MAX as i32);
    fn get(self) -> i32 {
        i32::from(i16::from_le_bytes(self))
    }
    fn put(v: i32) -> Self {
        (v as i16).to_le_bytes()
    }
    fn stage(weights: &[i8], v: &[Self], zp: i32, bias: i64, m: Multiplier) -> i32 {
        let dot: i64 = weights
            .iter()
            .zip(v)
            .map(|(&w, &v)| i64::from(i32::from(w) * (v.get() - zp)))
            .sum();
        super::wide::requantize64(dot.wrapping_add(bias), m).clamp(-32768, 32767)
    }
}

/// One invocation of an LSTM over every time step (TFLM's `EvalLstm` with its 2023
/// `LstmStep`): per row, the four gates from the input and the old hidden state, the cell
/// updated in place, the new hidden state written to the output row and then into the state.
/// Slices of other sizes than `p` gives leave everything as it was.
pub fn lstm<A: LstmActivation>(
    p: &LstmParams,
    w: &LstmWeights<'_>,
    input: &[A],
    hidden: &mut [A],
    cell: &mut [u8],
    output: &mut [A],
) {
    let (s, n) = (p.units, p.input_size);
    let (cells, _) = cell.as_chunks_mut::<2>();
    let rows = p.batch * p.steps;
    if s == 0
        || n == 0
        || input.len() != rows * n
        || output.len() != rows * s
        || hidden.len() != p.batch * s
        || cells.len() != p.batch * s
        || w.input.len() != 4 * s * n
        || w.recurrent.len() != 4 * s * s
        || w.bias.len() != 4 * s * A::BIAS
    {
        return;
    }
    for step in 0..rows {
        // (time step, batch row) of this row in the input and output, whatever the layout.
        let (t, b) = if p.time_major {
            (step / p.batch, step % p.batch)
        } else {
            (step % p.steps, step / p.steps)
        };
        let at = if p.time_major {
            t * p.batch + b
        } else {
            b * p.steps + t
        };
        let (Some(x), Some(out), Some(h), Some(c)) = (
            input.get(at * n..(at + 1) * n),
            output.get_mut(at * s..(at + 1) * s),
            hidden.get_mut(b * s..(b + 1) * s),
            cells.get_mut(b * s..(b + 1) * s),
        ) else {
            return;
        };
        lstm_row(p, w, x, h, c, out);
        h.copy_from_slice(out);
    }
}

/// Bias `row` of a little-endian int32 or int64 bias table.
fn bias_at(bias: &[u8], row: usize, width: usize) -> i64 {
    match bias.get(row * width..(row + 1) * width) {
        Some(&[a, b, c, d]) => i64::from(i32::from_le_bytes([a, b, c, d])),
        Some(&[a, b, c, d, e, f, g, h]) => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => 0,
    }
}

/// One step of one row: the new hidden state into `out` (the old one stays in `h` until the
/// caller copies it over, since every unit's gates read it).
fn lstm_row<A: LstmActivation>(
    p: &LstmParams,
    w: &LstmWeights<'_>,
    x: &[A],
    h: &[A],
    c: &mut [[u8; 2]],
    out: &mut [A],
) {
    let (s, n) = (p.units, p.input_size);
    let none = Multiplier {
        multiplier: 0,
        shift: 0,
    };
    let clamp16 = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    for (unit, (o, cell)) in out.iter_mut().zip(c.iter_mut()).enumerate() {
        // Gate g's pre-activation in Q3.12: both stages saturated to int16, then their sum.
        let gate = |g: usize| {
            let row = g * s + unit;
            let wx = w.input.get(row * n..(row + 1) * n).unwrap_or_default();
            let wh = w.recurrent.get(row * s..(row + 1) * s).unwrap_or_default();
            let mx = p.input_multipliers.get(g).copied().unwrap_or(none);
            let mh = p.recurrent_multipliers.get(g).copied().unwrap_or(none);
            let a = A::stage(wx, x, p.input_zp, bias_at(w.bias, row, A::BIAS), mx);
            let r = A::stage(wh, h, p.hidden_zp, 0, mh);
            clamp16(a + r) as i16
        };
        let forget = logistic16(gate(1), 0, 0);
        let input = logistic16(gate(0), 0, 0);
        let candidate = if p.cell_tanh {
            tanh16(gate(2), 3, 0)
        } else {
            gate(2)
        };
        let old = i32::from(i16::from_le_bytes(*cell));
        let kept = clamp16(requantize(i32::from(forget) * old, p.forget_cell));
        let added = clamp16(requantize(
            i32::from(input) * i32::from(candidate),
            p.input_cell,
        ));
        let mut new = clamp16(kept + added) as i16;
        if let Some(clip) = p.cell_clip {
            new = new.min(clip).max(clip.wrapping_neg());
        }
        *cell = new.to_le_bytes();
        let output_gate = logistic16(gate(3), 0, 0);
        // TFLM's LSTM tanh of the cell: its scale 2^power brought to Q3.12.
        let shift = 12 + p.cell_power;
        let squashed = if shift >= 0 {
            tanh16(new, 3i32.wrapping_shl(shift.unsigned_abs().min(28)), 0)
        } else {
            tanh16(new, 3, shift.unsigned_abs())
        };
        let v = requantize(
            i32::from(squashed) * i32::from(output_gate),
            p.output_hidden,
        );
        let (lo, hi) = A::RANGE;
        *o = A::put(v.saturating_add(p.hidden_zp).clamp(lo, hi));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The int16 activations at their fixed points and limits: sigmoid(0) is one half in
    /// Q0.15, tanh(0) is 0, both are (anti)symmetric and approach their limits.
    #[test]
    fn int16_sigmoid_and_tanh() {
        assert_eq!(logistic16(0, 0, 0), 16384);
        assert_eq!(tanh16(0, 3, 0), 0);
        // Q3.12 inputs reach +-8: sigmoid(8) = 0.99966, tanh(8) = 0.9999998.
        assert!((32750..32767).contains(&logistic16(i16::MAX, 0, 0)));
        assert!((0..20).contains(&logistic16(i16::MIN, 0, 0)));
        assert!(tanh16(i16::MAX, 3, 0) >= 32760 && tanh16(i16::MIN, 3, 0) <= -32760);
        for x in [-20000i16, -4096, -7, 7, 4096, 20000] {
            assert_eq!(
                i32::from(tanh16(x, 3, 0)),
                -i32::from(tanh16(-x, 3, 0)),
                "tanh({x})"
            );
            let sum = i32::from(logistic16(x, 0, 0)) + i32::from(logistic16(-x, 0, 0));
            assert!(
                (32767..=32768).contains(&sum),
                "sigmoid({x}) + sigmoid({}) = {sum}",
                -x
            );
        }
    }
}
