//! Operators that map each element (or each row, for SOFTMAX, LOG_SOFTMAX and
//! L2_NORMALIZATION) of one input to the output.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{Clip, DType, LogSoftmax, Rescale, Scaled, Softmax, TensorDef, Unary};
use crate::kernels::{as_i8, as_i8_mut, reference};

/// Input and output of a one-to-one operator: the given types and the same element count.
fn same_size(
    cx: &Cx<'_, '_>,
    o: &Unary,
    input: DType,
    output: DType,
) -> Result<(TensorDef, TensorDef), Error> {
    let i = cx.typed(o.input, input)?;
    let out = cx.typed(o.output, output)?;
    cx.check_shape(i.elements().is_some() && i.elements() == out.elements())?;
    Ok((i, out))
}

pub(super) fn validate_rescale(cx: &Cx<'_, '_>, o: &Rescale) -> Result<(), Error> {
    same_size(
        cx,
        &Unary {
            input: o.input,
            output: o.output,
        },
        DType::I8,
        DType::I8,
    )?;
    cx.check_multiplier(o.multiplier)?;
    cx.check_clamp(o.clamp)
}

pub(super) fn eval_rescale(cx: &Cx<'_, '_>, o: &Rescale, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::rescale(
        as_i8(x),
        i.zero_point,
        o.multiplier,
        out_t.zero_point,
        o.clamp,
        as_i8_mut(out),
    );
    Ok(())
}

/// RELU6 as TFLM computes it: int8 in and out, as many elements, the bounds in order.
pub(super) fn validate_clip(cx: &Cx<'_, '_>, o: &Clip) -> Result<(), Error> {
    let io = Unary {
        input: o.input,
        output: o.output,
    };
    same_size(cx, &io, DType::I8, DType::I8)?;
    cx.check_clamp(o.clamp)
}

pub(super) fn eval_clip(cx: &Cx<'_, '_>, o: &Clip, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::clip(as_i8(x), o.clamp, as_i8_mut(out));
    Ok(())
}

pub(super) fn validate_softmax(cx: &Cx<'_, '_>, o: &Softmax) -> Result<(), Error> {
    let (i, out) = same_size(
        cx,
        &Unary {
            input: o.input,
            output: o.output,
        },
        DType::I8,
        DType::I8,
    )?;
    cx.check_shape(i.shape == out.shape)?;
    cx.check_param((0..=31).contains(&o.input_left_shift) && o.diff_min <= 0)
}

pub(super) fn eval_softmax(cx: &Cx<'_, '_>, o: &Softmax, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let depth = i.shape.last().map_or(1, |&d| usize::from(d));
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::softmax(
        as_i8(x),
        o.input_multiplier,
        o.input_left_shift,
        o.diff_min,
        depth,
        as_i8_mut(out),
    );
    Ok(())
}

pub(super) fn validate_reshape(cx: &Cx<'_, '_>, o: &Unary) -> Result<(), Error> {
    let i = cx.tensor(o.input)?;
    same_size(cx, o, i.dtype, i.dtype).map(|_| ())
}

pub(super) fn eval_reshape(cx: &Cx<'_, '_>, o: &Unary, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    out.copy_from_slice(x);
    Ok(())
}

/// Float32 to int8, or to int16 (16x8).
pub(super) fn validate_quantize(cx: &Cx<'_, '_>, o: &Unary) -> Result<(), Error> {
    let wide = cfg!(feature = "int16") && cx.tensor(o.output)?.dtype == DType::I16;
    let to = if wide { DType::I16 } else { DType::I8 };
    let (_, out) = same_size(cx, o, DType::F32, to)?;
    cx.check_param(out.scale > 0.0)
}

pub(super) fn eval_quantize(cx: &Cx<'_, '_>, o: &Unary, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    #[cfg(feature = "int16")]
    if out_t.dtype == DType::I16 {
        let out = super::wide::as_i16_mut(out);
        reference::quantize_16(x, out_t.scale, out_t.zero_point, out);
        return Ok(());
    }
    reference::quantize(x, out_t.scale, out_t.zero_point, as_i8_mut(out));
    Ok(())
}

/// Int8, or int16 (16x8), to float32.
pub(super) fn validate_dequantize(cx: &Cx<'_, '_>, o: &Unary) -> Result<(), Error> {
    let wide = cfg!(feature = "int16") && cx.tensor(o.input)?.dtype == DType::I16;
    let from = if wide { DType::I16 } else { DType::I8 };
    same_size(cx, o, from, DType::F32).map(|_| ())
}

pub(super) fn eval_dequantize(cx: &Cx<'_, '_>, o: &Unary, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    #[cfg(feature = "int16")]
    if i.dtype == DType::I16 {
        reference::dequantize_16(super::wide::as_i16(x), i.scale, i.zero_point, out);
        return Ok(());
    }
    reference::dequantize(as_i8(x), i.scale, i.zero_point, out);
    Ok(())
}

/// ABS and RSQRT: int8 in and out (or int16 with zero points 0, 16x8), as many elements.
/// RSQRT's multiplier is applied with 20 taken off its shift, which must stay a valid shift.
fn validate_scaled(cx: &Cx<'_, '_>, o: &Scaled) -> Result<(), Error> {
    let io = Unary {
        input: o.input,
        output: o.output,
    };
    let wide = cfg!(feature = "int16") && cx.tensor(o.input)?.dtype == DType::I16;
    let t = if wide { DType::I16 } else { DType::I8 };
    let (i, out) = same_size(cx, &io, t, t)?;
    cx.check_param(!wide || (i.zero_point == 0 && out.zero_point == 0))?;
    cx.check_multiplier(o.multiplier)
}

pub(super) fn validate_abs(cx: &Cx<'_, '_>, o: &Scaled) -> Result<(), Error> {
    validate_scaled(cx, o)
}

pub(super) fn eval_abs(cx: &Cx<'_, '_>, o: &Scaled, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    #[cfg(feature = "int16")]
    if i.dtype == DType::I16 {
        let out = out.as_chunks_mut::<2>().0;
        reference::abs_16(x.as_chunks::<2>().0, o.multiplier, out);
        return Ok(());
    }
    reference::abs(
        as_i8(x),
        i.zero_point,
        o.multiplier,
        out_t.zero_point,
        as_i8_mut(out),
    );
    Ok(())
}

pub(super) fn validate_rsqrt(cx: &Cx<'_, '_>, o: &Scaled) -> Result<(), Error> {
    validate_scaled(cx, o)?;
    cx.check_param(o.multiplier.shift >= -11)
}

/// Fails with [`Error::OutOfDomain`] on an input below the zero point, as TFLM does.
pub(super) fn eval_rsqrt(cx: &Cx<'_, '_>, o: &Scaled, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let m = o.multiplier;
    let done = if cfg!(feature = "int16") && i.dtype == DType::I16 {
        wide_rsqrt(x, m, out)
    } else {
        reference::rsqrt(as_i8(x), i.zero_point, m, out_t.zero_point, as_i8_mut(out))
    };
    if done {
        Ok(())
    } else {
        Err(Error::OutOfDomain { op: cx.index })
    }
}

/// Int8 in and out of the same shape, at least one dimension.
pub(super) fn validate_l2_normalization(cx: &Cx<'_, '_>, o: &Unary) -> Result<(), Error> {
    let (i, out) = same_size(cx, o, DType::I8, DType::I8)?;
    cx.check_shape(i.shape == out.shape && !i.shape.is_empty())
}

pub(super) fn eval_l2_normalization(
    cx: &Cx<'_, '_>,
    o: &Unary,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let depth = i.shape.last().map_or(1, |&d| usize::from(d));
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::l2_normalization(as_i8(x), i.zero_point, depth, as_i8_mut(out));
    Ok(())
}

/// Int8 in and out of the same shape; the output quantized as the kernel writes it (scale
/// 1/16, zero point 127); shifts in the kernel's ranges.
pub(super) fn validate_log_softmax(cx: &Cx<'_, '_>, o: &LogSoftmax) -> Result<(), Error> {
    let io = Unary {
        input: o.input,
        output: o.output,
    };
    let (i, out) = same_size(cx, &io, DType::I8, DType::I8)?;
    cx.check_shape(i.shape == out.shape)?;
    cx.check_param(
        out.scale.to_bits() == 0.0625f32.to_bits()
            && out.zero_point == 127
            && (1..=31).contains(&o.input_left_shift)
            && (0..=31).contains(&o.reverse_scaling_right_shift)
            && o.diff_min <= 0,
    )
}

pub(super) fn eval_log_softmax(
    cx: &Cx<'_, '_>,
    o: &LogSoftmax,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let depth = i.shape.last().map_or(1, |&d| usize::from(d));
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let p = reference::LogSoftmaxParams {
        input_multiplier: o.input_multiplier,
        input_left_shift: o.input_left_shift,
        reverse_scaling_divisor: o.reverse_scaling_divisor,
        reverse_scaling_right_shift: o.reverse_scaling_right_shift,
        diff_min: o.diff_min,
    };
    reference::log_softmax(as_i8(x), &p, depth, as_i8_mut(out));
    Ok(())
}

/// QUANTIZE between integer types: uint8 and int8 either way, int16 to int8 or int16, int8
/// to int16; as many elements, a valid multiplier.
pub(super) fn validate_requantize(cx: &Cx<'_, '_>, o: &Scaled) -> Result<(), Error> {
    let (i, out) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let types = matches!(
        (i.dtype, out.dtype),
        (DType::U8, DType::I8) | (DType::I8, DType::U8)
    ) || cfg!(feature = "int16")
        && matches!(
            (i.dtype, out.dtype),
            (DType::I16, DType::I8 | DType::I16) | (DType::I8, DType::I16)
        );
    cx.check_shape(types && i.elements().is_some() && i.elements() == out.elements())?;
    cx.check_multiplier(o.multiplier)
}

pub(super) fn eval_requantize(cx: &Cx<'_, '_>, o: &Scaled, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::requantize_bytes(
        x,
        (i.dtype, i.zero_point),
        o.multiplier,
        (out_t.dtype, out_t.zero_point),
        out,
    );
    Ok(())
}

/// RSQRT of int16 (16x8); `false` at a negative input.
#[cfg(feature = "int16")]
fn wide_rsqrt(x: &[u8], m: crate::format::Multiplier, out: &mut [u8]) -> bool {
    reference::rsqrt_16(x.as_chunks::<2>().0, m, out.as_chunks_mut::<2>().0)
}

#[cfg(not(feature = "int16"))]
fn wide_rsqrt(_: &[u8], _: crate::format::Multiplier, _: &mut [u8]) -> bool {
    false
}
