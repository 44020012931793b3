use super::{Cx, operands};
use crate::error::Error;
use crate::format::{self, Clamp, DType, Requant, TensorId};
use crate::kernels::{self, as_i8, as_i8_mut};

#[cfg(feature = "op-fully-connected-rows")]
pub(super) fn validate(cx: &Cx<'_, '_>, o: &format::FullyConnected<'_>) -> Result<(), Error> {
    let units = usize::from(o.units);
    cx.check_param(units > 0 && o.weights.len().is_multiple_of(units) && !o.weights.is_empty())?;
    let depth = o.weights.len() / units;
    let layer = (o.input, o.output, units, depth);
    validate_layer(cx, layer, o.bias, &o.requant, o.clamp)
}

#[cfg(feature = "op-fully-connected")]
pub(super) fn validate_paired(
    cx: &Cx<'_, '_>,
    o: &format::PairedFullyConnected<'_>,
) -> Result<(), Error> {
    let units = usize::from(o.units);
    let rows = units.div_ceil(2) * 2;
    cx.check_param(o.align.len() < 4)?;
    cx.check_param(units > 0 && o.pairs.len().is_multiple_of(rows) && !o.pairs.is_empty())?;
    let layer = (o.input, o.output, units, o.depth());
    validate_layer(cx, layer, o.bias, &o.requant, o.clamp)
}

/// What both layouts share: int8 tensors of `units` outputs per `depth` inputs, the biases,
/// the requantization and the clamp.
fn validate_layer(
    cx: &Cx<'_, '_>,
    (input, output, units, depth): (TensorId, TensorId, usize, usize),
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    clamp: Clamp,
) -> Result<(), Error> {
    let input = cx.typed(input, DType::I8)?;
    let output = cx.typed(output, DType::I8)?;
    let n_in = input.elements().ok_or(cx.shape_err())?;
    cx.check_shape(n_in % depth == 0)?;
    cx.check_shape(output.elements() == Some(n_in / depth * units))?;
    cx.check_bias(bias, units)?;
    cx.check_requant(requant, units)?;
    cx.check_clamp(clamp)
}

#[cfg(feature = "op-fully-connected")]
pub(super) fn scratch_paired(
    _cx: &Cx<'_, '_>,
    o: &format::PairedFullyConnected<'_>,
) -> Result<usize, Error> {
    Ok(kernels::scratch::fully_connected_paired(o.depth()))
}

/// Plain rows: what blobs written before the row pairs hold. The reference kernel.
#[cfg(feature = "op-fully-connected-rows")]
pub(super) fn eval(
    cx: &Cx<'_, '_>,
    o: &format::FullyConnected<'_>,
    arena: &mut [u8],
) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    let depth = o.weights.len() / usize::from(o.units).max(1);
    kernels::reference::fully_connected(
        as_i8(x),
        input.zero_point,
        as_i8(o.weights),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        depth,
        as_i8_mut(out),
    );
    Ok(())
}

#[cfg(feature = "op-fully-connected")]
pub(super) fn eval_paired(
    cx: &Cx<'_, '_>,
    o: &format::PairedFullyConnected<'_>,
    arena: &mut [u8],
    scratch: kernels::Scratch<'_>,
) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    kernels::fully_connected_paired(
        as_i8(x),
        input.zero_point,
        o.pairs,
        usize::from(o.units),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        as_i8_mut(out),
        scratch,
    );
    Ok(())
}
