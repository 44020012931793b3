//! SVDF: operators whose state carries from one invocation to the next.

use super::{Cx, operands_mut};
use crate::error::Error;
use crate::format::{DType, Svdf, TensorDef};
use crate::kernels::reference::{self, SvdfParams};
use crate::kernels::{as_i8, as_i8_mut};

/// The sizes SVDF works with: batches, input size, filters, memory.
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
