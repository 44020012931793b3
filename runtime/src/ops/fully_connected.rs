use super::{Cx, operands};
use crate::error::Error;
use crate::format::{DType, FullyConnected};
use crate::kernels::{self, Scratch, as_i8, as_i8_mut};

pub(super) fn validate(cx: &Cx<'_, '_>, o: &FullyConnected<'_>) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I8)?;
    let output = cx.typed(o.output, DType::I8)?;
    let units = usize::from(o.units);
    cx.check_param(units > 0 && o.weights.len().is_multiple_of(units) && !o.weights.is_empty())?;
    let depth = o.weights.len() / units;
    let n_in = input.elements().ok_or(cx.shape_err())?;
    cx.check_shape(n_in % depth == 0)?;
    cx.check_shape(output.elements() == Some(n_in / depth * units))?;
    cx.check_bias(o.bias, units)?;
    cx.check_requant(&o.requant, units)?;
    cx.check_clamp(o.clamp)
}

pub(super) fn scratch(cx: &Cx<'_, '_>, o: &FullyConnected<'_>) -> Result<usize, Error> {
    let units = usize::from(o.units).max(1);
    let depth = o.weights.len() / units;
    let batches = cx.tensor(o.input)?.elements().unwrap_or(0) / depth.max(1);
    Ok(kernels::scratch::fully_connected(batches, depth, units))
}

pub(super) fn eval(
    cx: &Cx<'_, '_>,
    o: &FullyConnected<'_>,
    arena: &mut [u8],
    scratch: Scratch<'_>,
) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    let depth = o.weights.len() / usize::from(o.units).max(1);
    kernels::fully_connected(
        as_i8(x),
        input.zero_point,
        as_i8(o.weights),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        depth,
        as_i8_mut(out),
        scratch,
    );
    Ok(())
}
