//! 16x8 operators: int16 activations with int8 weights (TFLM's int16 kernels). Activations
//! are read as little-endian pairs of bytes, so the arena needs no alignment.

use super::conv::{check_geometry, geometry};
use super::{Cx, operands};
use crate::error::Error;
use crate::format::{
    Add16, Clamp16, Conv16, DType, FullyConnected16, LeakyRelu, Mul16, Multiplier, Pool16, Requant,
    Rescale16, Scaled, Sigmoidal16, TensorDef,
};
use crate::kernels::as_i8;
use crate::kernels::reference::{self, Add16Params, Broadcast, I16};

/// Arena bytes as int16 elements.
pub(super) fn as_i16(bytes: &[u8]) -> &[I16] {
    bytes.as_chunks::<2>().0
}

/// Arena bytes as mutable int16 elements.
pub(super) fn as_i16_mut(bytes: &mut [u8]) -> &mut [I16] {
    bytes.as_chunks_mut::<2>().0
}

/// TFLM's int64 requantization shifts by `15 - shift`: shifts from -31 to 14.
fn check_requant16(cx: &Cx<'_, '_>, r: &Requant<'_>, channels: usize) -> Result<(), Error> {
    cx.check_requant(r, channels)?;
    let ok = match *r {
        Requant::PerTensor(m) => m.shift < 15,
        Requant::PerChannel { shifts, .. } => shifts.iter().all(|&s| (s as i8) < 15),
    };
    cx.check_param(ok)
}

fn check_clamp16(cx: &Cx<'_, '_>, c: Clamp16) -> Result<(), Error> {
    cx.check_param(c.min <= c.max)
}

/// An int64 bias, if present, holds one value per channel.
fn check_bias64(cx: &Cx<'_, '_>, bias: Option<&[u8]>, channels: usize) -> Result<(), Error> {
    cx.check_param(bias.is_none_or(|b| b.len() == 8 * channels))
}

/// CONV_2D and DEPTHWISE_CONV_2D 16x8: int16 NHWC input and output, a SAME or VALID window,
/// the filter, bias and requantization the channels need.
pub(super) fn validate_conv(cx: &Cx<'_, '_>, o: &Conv16<'_>, depthwise: bool) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I16)?;
    let output = cx.typed(o.output, DType::I16)?;
    let g = check_geometry(cx, &input, &output, o.window)?;
    let taps = usize::from(o.window.filter_h) * usize::from(o.window.filter_w);
    if depthwise {
        let m = usize::from(o.depth_multiplier);
        cx.check_param(m > 0)?;
        cx.check_shape(g.in_c * m == g.out_c && o.filter.len() == taps * g.out_c)?;
    } else {
        let per_channel = g.out_c.checked_mul(taps).ok_or(cx.param_err())?;
        cx.check_param(!o.filter.is_empty() && o.filter.len().is_multiple_of(per_channel))?;
        let filter_c = o.filter.len() / per_channel;
        cx.check_shape(
            g.in_c.is_multiple_of(filter_c) && g.out_c.is_multiple_of(g.in_c / filter_c),
        )?;
    }
    check_bias64(cx, o.bias, g.out_c)?;
    check_requant16(cx, &o.requant, g.out_c)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_conv(
    cx: &Cx<'_, '_>,
    o: &Conv16<'_>,
    depthwise: bool,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (input, output) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let g = geometry(&input, &output, o.window);
    let (out, [x]) = operands(arena, &output, [&input])?;
    let (x, out, filter) = (as_i16(x), as_i16_mut(out), as_i8(o.filter));
    if depthwise {
        let m = usize::from(o.depth_multiplier);
        reference::depthwise_conv_2d_16(&g, m, x, filter, o.bias, &o.requant, o.clamp, out);
    } else {
        reference::conv_2d_16(&g, x, filter, o.bias, &o.requant, o.clamp, out);
    }
    Ok(())
}

/// FULLY_CONNECTED 16x8: int16 in and out, `units` rows of weights of the input's depth.
pub(super) fn validate_fully_connected(
    cx: &Cx<'_, '_>,
    o: &FullyConnected16<'_>,
) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I16)?;
    let output = cx.typed(o.output, DType::I16)?;
    let units = usize::from(o.units);
    cx.check_param(units > 0 && !o.weights.is_empty() && o.weights.len().is_multiple_of(units))?;
    let depth = o.weights.len() / units;
    let n_in = input.elements().ok_or(cx.shape_err())?;
    cx.check_shape(n_in % depth == 0 && output.elements() == Some(n_in / depth * units))?;
    check_bias64(cx, o.bias, units)?;
    check_requant16(cx, &o.requant, units)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_fully_connected(
    cx: &Cx<'_, '_>,
    o: &FullyConnected16<'_>,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (input, output) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let depth = o.weights.len() / usize::from(o.units).max(1);
    let (out, [x]) = operands(arena, &output, [&input])?;
    reference::fully_connected_16(
        as_i16(x),
        input.zero_point,
        as_i8(o.weights),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        depth,
        as_i16_mut(out),
    );
    Ok(())
}

/// The int16 pools: input and output share quantization and channels; dilation 1.
pub(super) fn validate_pool(cx: &Cx<'_, '_>, o: &Pool16) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I16)?;
    let output = cx.typed(o.output, DType::I16)?;
    cx.check_param(
        input.zero_point == output.zero_point
            && input.scale.to_bits() == output.scale.to_bits()
            && o.window.dilation_h == 1
            && o.window.dilation_w == 1,
    )?;
    let g = check_geometry(cx, &input, &output, o.window)?;
    cx.check_shape(g.in_c == g.out_c)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_pool(
    cx: &Cx<'_, '_>,
    o: &Pool16,
    average: bool,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (input, output) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let g = geometry(&input, &output, o.window);
    let (out, [x]) = operands(arena, &output, [&input])?;
    reference::pool_16(&g, average, as_i16(x), o.clamp, as_i16_mut(out));
    Ok(())
}

/// The three int16 tensors of a broadcasting operator and their broadcast.
fn broadcast16(cx: &Cx<'_, '_>, a: u16, b: u16, out: u16) -> Result<Broadcast, Error> {
    cx.broadcast([a, b, out], [DType::I16; 3])
}

fn check_below_one(cx: &Cx<'_, '_>, m: Multiplier) -> Result<(), Error> {
    cx.check_multiplier(m)?;
    cx.check_param(m.shift <= 0)
}

pub(super) fn validate_add(cx: &Cx<'_, '_>, o: &Add16) -> Result<(), Error> {
    broadcast16(cx, o.input1, o.input2, o.output)?;
    check_below_one(cx, o.input1_multiplier)?;
    check_below_one(cx, o.input2_multiplier)?;
    check_below_one(cx, o.output_multiplier)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_add(
    cx: &Cx<'_, '_>,
    o: &Add16,
    subtract: bool,
    arena: &mut [u8],
) -> Result<(), Error> {
    let bc = broadcast16(cx, o.input1, o.input2, o.output)?;
    let (a, b, output) = (
        cx.tensor(o.input1)?,
        cx.tensor(o.input2)?,
        cx.tensor(o.output)?,
    );
    let p = Add16Params {
        input1_zp: a.zero_point,
        input2_zp: b.zero_point,
        output_zp: output.zero_point,
        input1_multiplier: o.input1_multiplier,
        input2_multiplier: o.input2_multiplier,
        output_multiplier: o.output_multiplier,
        clamp: o.clamp,
        subtract,
    };
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    bc.map(as_i16(x), as_i16(y), as_i16_mut(out), |x, y| {
        reference::add_16(x, y, &p)
    });
    Ok(())
}

/// MUL of int16: zero points 0 (TFLM refuses others).
pub(super) fn validate_mul(cx: &Cx<'_, '_>, o: &Mul16) -> Result<(), Error> {
    broadcast16(cx, o.input1, o.input2, o.output)?;
    let zero = |t: u16| cx.tensor(t).map(|d| d.zero_point == 0);
    cx.check_param(zero(o.input1)? && zero(o.input2)? && zero(o.output)?)?;
    cx.check_multiplier(o.multiplier)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_mul(cx: &Cx<'_, '_>, o: &Mul16, arena: &mut [u8]) -> Result<(), Error> {
    let bc = broadcast16(cx, o.input1, o.input2, o.output)?;
    let (a, b, output) = (
        cx.tensor(o.input1)?,
        cx.tensor(o.input2)?,
        cx.tensor(o.output)?,
    );
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    let (m, clamp) = (o.multiplier, o.clamp);
    bc.map(as_i16(x), as_i16(y), as_i16_mut(out), |x, y| {
        reference::mul_16(x, y, m, clamp)
    });
    Ok(())
}

/// Int16 in and out of the same element count.
fn same_size16(cx: &Cx<'_, '_>, input: u16, output: u16) -> Result<(TensorDef, TensorDef), Error> {
    let i = cx.typed(input, DType::I16)?;
    let out = cx.typed(output, DType::I16)?;
    cx.check_shape(i.elements().is_some() && i.elements() == out.elements())?;
    Ok((i, out))
}

/// SOFTMAX of int16: the same shape, the output zero point 0.
pub(super) fn validate_softmax(cx: &Cx<'_, '_>, o: &Scaled) -> Result<(), Error> {
    let (i, out) = same_size16(cx, o.input, o.output)?;
    cx.check_shape(i.shape == out.shape)?;
    cx.check_param(out.zero_point == 0)?;
    cx.check_multiplier(o.multiplier)
}

pub(super) fn eval_softmax(cx: &Cx<'_, '_>, o: &Scaled, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let depth = i.shape.last().map_or(1, |&d| usize::from(d));
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::softmax_16(as_i16(x), o.multiplier, depth, as_i16_mut(out));
    Ok(())
}

/// LOGISTIC and TANH of int16: zero points 0, a shift within 31.
pub(super) fn validate_sigmoidal(cx: &Cx<'_, '_>, o: &Sigmoidal16) -> Result<(), Error> {
    let (i, out) = same_size16(cx, o.input, o.output)?;
    cx.check_param(i.zero_point == 0 && out.zero_point == 0 && o.input_left_shift <= 31)
}

pub(super) fn eval_sigmoidal(
    cx: &Cx<'_, '_>,
    o: &Sigmoidal16,
    logistic: bool,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let shift = u32::from(o.input_left_shift);
    reference::sigmoidal_16(
        logistic,
        o.input_multiplier,
        shift,
        as_i16(x),
        as_i16_mut(out),
    );
    Ok(())
}

/// RELU and RELU6 of int16: as many elements, a valid multiplier and clamp.
pub(super) fn validate_rescale(cx: &Cx<'_, '_>, o: &Rescale16) -> Result<(), Error> {
    same_size16(cx, o.input, o.output)?;
    cx.check_multiplier(o.multiplier)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_rescale(cx: &Cx<'_, '_>, o: &Rescale16, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let m = (o.multiplier, o.multiplier);
    reference::rescale_16(
        as_i16(x),
        i.zero_point,
        m,
        out_t.zero_point,
        o.clamp,
        as_i16_mut(out),
    );
    Ok(())
}

/// LEAKY_RELU of int16 (its int8 record, int16 tensors): the same shape, valid multipliers.
pub(super) fn validate_leaky_relu(cx: &Cx<'_, '_>, o: &LeakyRelu) -> Result<(), Error> {
    let (i, out) = same_size16(cx, o.input, o.output)?;
    cx.check_shape(i.shape == out.shape)?;
    cx.check_multiplier(o.identity)?;
    cx.check_multiplier(o.alpha)
}

pub(super) fn eval_leaky_relu(
    cx: &Cx<'_, '_>,
    o: &LeakyRelu,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let m = (o.identity, o.alpha);
    reference::rescale_16(
        as_i16(x),
        i.zero_point,
        m,
        out_t.zero_point,
        Clamp16::NONE,
        as_i16_mut(out),
    );
    Ok(())
}

/// SQUARED_DIFFERENCE of int16: zero points 0, input multipliers below one.
pub(super) fn validate_squared_difference(cx: &Cx<'_, '_>, o: &Add16) -> Result<(), Error> {
    broadcast16(cx, o.input1, o.input2, o.output)?;
    let zero = |t: u16| cx.tensor(t).map(|d| d.zero_point == 0);
    cx.check_param(zero(o.input1)? && zero(o.input2)? && zero(o.output)?)?;
    check_below_one(cx, o.input1_multiplier)?;
    check_below_one(cx, o.input2_multiplier)?;
    cx.check_multiplier(o.output_multiplier)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_squared_difference(
    cx: &Cx<'_, '_>,
    o: &Add16,
    arena: &mut [u8],
) -> Result<(), Error> {
    let bc = broadcast16(cx, o.input1, o.input2, o.output)?;
    let (a, b, output) = (
        cx.tensor(o.input1)?,
        cx.tensor(o.input2)?,
        cx.tensor(o.output)?,
    );
    let p = Add16Params {
        input1_zp: 0,
        input2_zp: 0,
        output_zp: 0,
        input1_multiplier: o.input1_multiplier,
        input2_multiplier: o.input2_multiplier,
        output_multiplier: o.output_multiplier,
        clamp: o.clamp,
        subtract: true,
    };
    let (out, [x, y]) = operands(arena, &output, [&a, &b])?;
    let f = |x, y| reference::squared_difference_16(x, y, &p);
    bc.map(as_i16(x), as_i16(y), as_i16_mut(out), f);
    Ok(())
}

/// TRANSPOSE_CONV 16x8: the int8 record's checks on int16 tensors, an int64 bias.
pub(super) fn validate_transpose_conv(cx: &Cx<'_, '_>, o: &Conv16<'_>) -> Result<(), Error> {
    let out_c =
        super::conv::check_transposed(cx, o.input, o.output, DType::I16, o.window, o.filter)?;
    check_bias64(cx, o.bias, out_c)?;
    check_requant16(cx, &o.requant, out_c)?;
    check_clamp16(cx, o.clamp)
}

pub(super) fn eval_transpose_conv(
    cx: &Cx<'_, '_>,
    o: &Conv16<'_>,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (input, output) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let g = geometry(&input, &output, o.window);
    let (out, [x]) = operands(arena, &output, [&input])?;
    let (x, out, filter) = (as_i16(x), as_i16_mut(out), as_i8(o.filter));
    reference::transpose_conv_16(&g, x, filter, o.bias, &o.requant, o.clamp, out);
    Ok(())
}
