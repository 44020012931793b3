//! SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM: operators whose state carries from one invocation
//! to the next.

use super::{Cx, operands_mut};
use crate::error::Error;
#[cfg(feature = "op-svdf")]
use crate::format::Svdf;
use crate::format::{DType, TensorDef};
#[cfg(feature = "op-lstm")]
use crate::format::{Lstm, Multiplier};
use crate::kernels::reference;
#[cfg(feature = "op-svdf")]
use crate::kernels::reference::SvdfParams;
#[cfg(feature = "op-lstm")]
use crate::kernels::reference::{LstmParams, LstmWeights};
use crate::kernels::{as_i8, as_i8_mut};

/// The sizes SVDF works with: batches, input size, filters, memory.
#[cfg(feature = "op-svdf")]
fn svdf_sizes(o: &Svdf<'_>, input: &TensorDef, state: &TensorDef) -> Option<[usize; 4]> {
    let [batch, input_size] = match input.shape[..] {
        [b, i] => [usize::from(b), usize::from(i)],
        _ => return None,
    };
    let filters = o.weights_feature.len().checked_div(input_size)?;
    let memory = (o.weights_time.len() / state.dtype.size()).checked_div(filters)?;
    Some([batch, input_size, filters, memory])
}

/// Int8 input `[batch, input_size]` and output `[batch, filters / rank]`; an int16 or int8
/// state of `batch * memory * filters` values, `weights_time` of its type; every weight and
/// bias the size the shapes give; valid multipliers.
#[cfg(feature = "op-svdf")]
pub(super) fn validate_svdf(cx: &Cx<'_, '_>, o: &Svdf<'_>) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I8)?;
    let output = cx.typed(o.output, DType::I8)?;
    let state = cx.tensor(o.state)?;
    cx.check_shape(matches!(state.dtype, DType::I16 | DType::I8))?;
    let [batch, input_size, filters, memory] =
        svdf_sizes(o, &input, &state).ok_or(cx.shape_err())?;
    let rank = usize::from(o.rank);
    cx.check_param(rank > 0 && filters > 0 && memory > 0 && filters.is_multiple_of(rank))?;
    let units = filters / rank;
    cx.check_shape(
        o.weights_feature.len() == filters * input_size
            && o.weights_time.len() == filters * memory * state.dtype.size()
            && o.bias.len() == 4 * units
            && state.elements() == Some(batch * memory * filters)
            && output.shape[..] == [batch as u16, units as u16][..]
            && usize::from(output.shape.first().copied().unwrap_or(0)) == batch,
    )?;
    cx.check_multiplier(o.feature_multiplier)?;
    cx.check_multiplier(o.output_multiplier)
}

#[cfg(feature = "op-svdf")]
pub(super) fn eval_svdf(cx: &Cx<'_, '_>, o: &Svdf<'_>, arena: &mut [u8]) -> Result<(), Error> {
    let (input, output, state) = (
        cx.tensor(o.input)?,
        cx.tensor(o.output)?,
        cx.tensor(o.state)?,
    );
    let [batch, input_size, filters, memory] =
        svdf_sizes(o, &input, &state).ok_or(cx.shape_err())?;
    let p = SvdfParams {
        batch,
        input_size,
        filters,
        memory,
        rank: usize::from(o.rank),
        input_zp: input.zero_point,
        state_zp: state.zero_point,
        output_zp: output.zero_point,
        feature: o.feature_multiplier,
        output: o.output_multiplier,
    };
    let ([out, s], [x]) = operands_mut(arena, [&output, &state], [&input])?;
    reference::svdf(
        &p,
        state.dtype == DType::I16,
        as_i8(x),
        as_i8(o.weights_feature),
        o.weights_time,
        o.bias,
        s,
        as_i8_mut(out),
    );
    Ok(())
}

/// The eleven multipliers of an LSTM record (`None` if the bytes are not eleven of them).
#[cfg(feature = "op-lstm")]
fn lstm_multipliers(o: &Lstm<'_>) -> Option<[Multiplier; 11]> {
    let (records, rest) = o.multipliers.as_chunks::<5>();
    if !rest.is_empty() || records.len() != 11 {
        return None;
    }
    let mut out = [Multiplier {
        multiplier: 0,
        shift: 0,
    }; 11];
    for (m, &[a, b, c, d, shift]) in out.iter_mut().zip(records) {
        *m = Multiplier {
            multiplier: i32::from_le_bytes([a, b, c, d]),
            shift: shift as i8,
        };
    }
    Some(out)
}

/// `[batch, steps, input_size]` of an LSTM's input, and its units (the hidden state per batch).
#[cfg(feature = "op-lstm")]
fn lstm_sizes(o: &Lstm<'_>, input: &TensorDef, hidden: &TensorDef) -> Option<[usize; 4]> {
    let [d0, d1, input_size] = match input.shape[..] {
        [a, b, c] => [a, b, c].map(usize::from),
        _ => return None,
    };
    let (batch, steps) = if o.time_major { (d1, d0) } else { (d0, d1) };
    let units = hidden.elements()?.checked_div(batch)?;
    Some([batch, steps, input_size, units])
}

/// Int8 input `[batch, steps, input]` (time-major: steps first) and output (the same first two
/// dimensions, then `units`); an int8 hidden and an int16 cell state of `batch * units`
/// values; weights and biases the sizes the shapes give; valid multipliers and cell scale.
#[cfg(feature = "op-lstm")]
pub(super) fn validate_lstm(cx: &Cx<'_, '_>, o: &Lstm<'_>) -> Result<(), Error> {
    // int8 activations (8x8->16), or int16 ones (16x8) with int64 biases.
    let dtype = cx.tensor(o.input)?.dtype;
    let wide = cfg!(feature = "int16") && dtype == DType::I16;
    let act = if wide { DType::I16 } else { DType::I8 };
    let input = cx.typed(o.input, act)?;
    let output = cx.typed(o.output, act)?;
    let hidden = cx.typed(o.hidden, act)?;
    let cell = cx.typed(o.cell, DType::I16)?;
    let [batch, steps, n, s] = lstm_sizes(o, &input, &hidden).ok_or(cx.shape_err())?;
    let out_ok = match (&input.shape[..], &output.shape[..]) {
        ([a, b, _], [c, d, e]) => a == c && b == d && usize::from(*e) == s,
        _ => false,
    };
    cx.check_shape(
        batch > 0
            && steps > 0
            && s > 0
            && out_ok
            && hidden.elements() == Some(batch * s)
            && cell.elements() == Some(batch * s)
            && o.input_weights.len() == 4 * s * n
            && o.recurrent_weights.len() == 4 * s * s
            && o.bias.len() == 4 * s * if wide { 8 } else { 4 },
    )?;
    let m = lstm_multipliers(o).ok_or(cx.param_err())?;
    for m in m.iter() {
        cx.check_multiplier(*m)?;
    }
    cx.check_param((-40..=16).contains(&o.cell_power))
}

#[cfg(feature = "op-lstm")]
pub(super) fn eval_lstm(cx: &Cx<'_, '_>, o: &Lstm<'_>, arena: &mut [u8]) -> Result<(), Error> {
    let (input, output) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (hidden, cell) = (cx.tensor(o.hidden)?, cx.tensor(o.cell)?);
    let [batch, steps, input_size, units] = lstm_sizes(o, &input, &hidden).ok_or(cx.shape_err())?;
    let [
        i0,
        i1,
        i2,
        i3,
        r0,
        r1,
        r2,
        r3,
        forget_cell,
        input_cell,
        output_hidden,
    ] = lstm_multipliers(o).ok_or(cx.param_err())?;
    let p = LstmParams {
        batch,
        steps,
        input_size,
        units,
        time_major: o.time_major,
        input_zp: input.zero_point,
        hidden_zp: hidden.zero_point,
        input_multipliers: [i0, i1, i2, i3],
        recurrent_multipliers: [r0, r1, r2, r3],
        forget_cell,
        input_cell,
        output_hidden,
        cell_tanh: o.cell_tanh,
        cell_power: i32::from(o.cell_power),
        cell_clip: o.cell_clip,
    };
    let w = LstmWeights {
        input: as_i8(o.input_weights),
        recurrent: as_i8(o.recurrent_weights),
        bias: o.bias,
    };
    let ([out, h, c], [x]) = operands_mut(arena, [&output, &hidden, &cell], [&input])?;
    if input.dtype == DType::I16 {
        let (x, h) = (x.as_chunks::<2>().0, h.as_chunks_mut::<2>().0);
        reference::lstm(&p, &w, x, h, c, out.as_chunks_mut::<2>().0);
    } else {
        reference::lstm(&p, &w, as_i8(x), as_i8_mut(h), c, as_i8_mut(out));
    }
    Ok(())
}
