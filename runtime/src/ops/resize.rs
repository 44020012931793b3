//! RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{DType, ResizeBilinear, ResizeNearest, TensorDef, TensorId};
use crate::kernels::reference::{self, Resize};
use crate::kernels::{as_i8, as_i8_mut};

/// Rank-4 input and output of one type (int8; int16 when `wide`) with the same quantization,
/// batches and channels and no dimension of 0.
fn check_resize(
    cx: &Cx<'_, '_>,
    input: TensorId,
    output: TensorId,
    wide: bool,
) -> Result<Resize, Error> {
    let dtype = if wide { DType::I16 } else { DType::I8 };
    let i = cx.typed(input, dtype)?;
    let o = cx.typed(output, dtype)?;
    cx.check_param(i.scale.to_bits() == o.scale.to_bits() && i.zero_point == o.zero_point)?;
    let r = sizes(&i, &o).ok_or(cx.shape_err())?;
    let ([n, .., c], [on, .., oc]) = (r.input, r.output);
    cx.check_shape(n == on && c == oc && r.input.iter().chain(&r.output).all(|&d| d > 0))?;
    Ok(r)
}

fn sizes(i: &TensorDef, o: &TensorDef) -> Option<Resize> {
    let dims = |t: &TensorDef| match t.shape[..] {
        [n, h, w, c] => Some([n, h, w, c].map(usize::from)),
        _ => None,
    };
    Some(Resize {
        input: dims(i)?,
        output: dims(o)?,
    })
}

/// One u16 source index per output row and column, each inside the input.
/// int8, or int16 (16x8: TFLM moves int16 values too).
pub(super) fn validate_nearest(cx: &Cx<'_, '_>, o: &ResizeNearest<'_>) -> Result<(), Error> {
    let wide = cfg!(feature = "int16") && cx.tensor(o.input)?.dtype == DType::I16;
    let r = check_resize(cx, o.input, o.output, wide)?;
    let ([_, h, w, _], [_, oh, ow, _]) = (r.input, r.output);
    let inside = |table: &[u8], n: usize, size: usize| {
        let (indices, rest) = table.as_chunks::<2>();
        rest.is_empty()
            && indices.len() == n
            && indices
                .iter()
                .all(|&b| usize::from(u16::from_le_bytes(b)) < size)
    };
    cx.check_param(inside(o.rows, oh, h) && inside(o.cols, ow, w))
}

pub(super) fn eval_nearest(
    cx: &Cx<'_, '_>,
    o: &ResizeNearest<'_>,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let r = sizes(&i, &out_t).ok_or(cx.shape_err())?;
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    if i.dtype == DType::I16 {
        let (x, out) = (x.as_chunks::<2>().0, out.as_chunks_mut::<2>().0);
        reference::resize_nearest(&r, x, o.rows, o.cols, out);
    } else {
        reference::resize_nearest(&r, as_i8(x), o.rows, o.cols, as_i8_mut(out));
    }
    Ok(())
}

/// Positive scales small enough that every scaled position fits in an i32, as in TFLM.
pub(super) fn validate_bilinear(cx: &Cx<'_, '_>, o: &ResizeBilinear) -> Result<(), Error> {
    let r = check_resize(cx, o.input, o.output, false)?;
    let ([_, h, w, _], [_, oh, ow, _]) = (r.input, r.output);
    let fits = |scale: i32, size: usize, out: usize| {
        scale > 0
            && i64::from(scale) <= 1024 * (size as i64 + 1)
            && (out as i64 + 1) * i64::from(scale) + 1024 < i64::from(i32::MAX)
    };
    cx.check_param(fits(o.scale_h, h, oh) && fits(o.scale_w, w, ow))
}

pub(super) fn eval_bilinear(
    cx: &Cx<'_, '_>,
    o: &ResizeBilinear,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let r = sizes(&i, &out_t).ok_or(cx.shape_err())?;
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::resize_bilinear(
        &r,
        as_i8(x),
        o.scale_h,
        o.scale_w,
        o.half_pixel_centers,
        as_i8_mut(out),
    );
    Ok(())
}
