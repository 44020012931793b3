//! CONCATENATION, PAD, TRANSPOSE (and the block shuffles), slices, gathers, the reductions and
//! ARG_MAX / ARG_MIN: operators that move, select or reduce int8 data along dimensions.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{
    ArgMinMax, Concatenation, DType, Gather, GatherNd, MAX_PERMUTE_RANK, MAX_RANK, Mean, Pad,
    Reduce, ReduceKind, StridedSlice, TensorDef, TensorId, Transpose,
};
use crate::kernels::{as_i8, as_i8_mut, reference};
use heapless::Vec as HVec;

/// A tensor data-movement operators take: int8, or int16 (16x8) when built with `int16`.
fn movable(cx: &Cx<'_, '_>, id: TensorId) -> Result<TensorDef, Error> {
    let t = cx.tensor(id)?;
    let wide = cfg!(feature = "int16") && t.dtype == DType::I16;
    cx.check_shape(t.dtype == DType::I8 || wide)?;
    Ok(t)
}

/// Runs `$body` with `$x` and `$out` as slices of int8 elements, or of int16 ones (two bytes
/// each) when `$def` is int16: data movement is the same for both.
macro_rules! by_width {
    ($def:expr, $x:ident, $out:ident, $body:expr) => {
        if $def.dtype == DType::I16 {
            let ($x, $out) = ($x.as_chunks::<2>().0, $out.as_chunks_mut::<2>().0);
            $body
        } else {
            let ($x, $out) = (as_i8($x), as_i8_mut($out));
            $body
        }
    };
}

/// The same scale and zero point (TFLite's int8 spec requires it of CONCATENATION and PAD
/// inputs and outputs; TFLM then copies bytes).
fn same_quantization(a: &TensorDef, b: &TensorDef) -> bool {
    a.scale.to_bits() == b.scale.to_bits() && a.zero_point == b.zero_point
}

/// Product of `dims` as usize (saturating; validation proved the products that matter fit).
fn product(dims: &[u16]) -> usize {
    dims.iter()
        .fold(1usize, |n, &d| n.saturating_mul(usize::from(d)))
}

/// Inputs and output int8 with the same quantization and rank, `axis < rank`, every dimension
/// but the axis equal, and the axis dimensions adding up to the output's.
pub(super) fn validate_concatenation(cx: &Cx<'_, '_>, o: &Concatenation) -> Result<(), Error> {
    let out = movable(cx, o.output)?;
    let axis = usize::from(o.axis);
    cx.check_param(!o.inputs.is_empty() && axis < out.shape.len())?;
    let mut total = 0u32;
    for &id in o.inputs.iter() {
        let t = cx.typed(id, out.dtype)?;
        cx.check_param(same_quantization(&t, &out))?;
        cx.check_shape(t.shape.len() == out.shape.len())?;
        for (d, (&a, &b)) in t.shape.iter().zip(out.shape.iter()).enumerate() {
            cx.check_shape(d == axis || a == b)?;
        }
        total += t.shape.get(axis).map_or(0, |&d| u32::from(d));
    }
    cx.check_shape(Some(total) == out.shape.get(axis).map(|&d| u32::from(d)))
}

/// One input at a time: each is copied into its slots of every outer block of the output.
pub(super) fn eval_concatenation(
    cx: &Cx<'_, '_>,
    o: &Concatenation,
    arena: &mut [u8],
) -> Result<(), Error> {
    let out_t = cx.tensor(o.output)?;
    let axis = usize::from(o.axis);
    let inner = product(out_t.shape.get(axis + 1..).unwrap_or(&[]));
    let stride = out_t
        .shape
        .get(axis)
        .map_or(0, |&d| usize::from(d).saturating_mul(inner));
    let mut offset = 0usize;
    for &id in o.inputs.iter() {
        let t = cx.tensor(id)?;
        let block = t
            .shape
            .get(axis)
            .map_or(0, |&d| usize::from(d).saturating_mul(inner));
        let (out, [x]) = operands(arena, &out_t, [&t])?;
        by_width!(
            t,
            x,
            out,
            reference::concatenation(x, block, stride, offset, out)
        );
        offset = offset.saturating_add(block);
    }
    Ok(())
}

/// Input and output int8 with the same quantization and rank; no padding past the rank; each
/// output dimension is the input's plus its padding.
pub(super) fn validate_pad(cx: &Cx<'_, '_>, o: &Pad) -> Result<(), Error> {
    let i = movable(cx, o.input)?;
    let out = cx.typed(o.output, i.dtype)?;
    cx.check_param(same_quantization(&i, &out))?;
    let rank = i.shape.len();
    cx.check_shape(out.shape.len() == rank)?;
    for (d, (&before, &after)) in o.before.iter().zip(&o.after).enumerate() {
        let (before, after) = (u32::from(before), u32::from(after));
        match (i.shape.get(d), out.shape.get(d)) {
            (Some(&a), Some(&b)) => {
                cx.check_shape(u32::from(a) + before + after == u32::from(b))?
            }
            _ => cx.check_param(before == 0 && after == 0)?,
        }
    }
    Ok(())
}

/// The tensor's dimensions and paddings right-aligned into 4-D (leading 1s and 0s).
fn extend<T: Copy>(values: &[T], fill: T) -> [T; MAX_RANK] {
    let mut out = [fill; MAX_RANK];
    let skip = MAX_RANK.saturating_sub(values.len());
    for (slot, &v) in out.iter_mut().skip(skip).zip(values) {
        *slot = v;
    }
    out
}

/// PAD: padding with the output zero point.
pub(super) fn eval_pad(cx: &Cx<'_, '_>, o: &Pad, arena: &mut [u8]) -> Result<(), Error> {
    let zero_point = cx.tensor(o.output)?.zero_point;
    eval_pad_with(cx, o, zero_point, arena)
}

/// PAD or PADV2: padding with `value`.
pub(super) fn eval_pad_with(
    cx: &Cx<'_, '_>,
    o: &Pad,
    value: i32,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let rank = i.shape.len().min(MAX_RANK);
    let dims: [u16; MAX_RANK] = extend(&i.shape, 1);
    let before: [u16; MAX_RANK] = extend(o.before.get(..rank).unwrap_or_default(), 0);
    let after: [u16; MAX_RANK] = extend(o.after.get(..rank).unwrap_or_default(), 0);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let (dims, before, after) = (
        dims.map(usize::from),
        before.map(usize::from),
        after.map(usize::from),
    );
    if i.dtype == DType::I16 {
        let (x, out) = (x.as_chunks::<2>().0, out.as_chunks_mut::<2>().0);
        let value = (value as i16).to_le_bytes();
        reference::pad(x, dims, before, after, value, out);
    } else {
        reference::pad(as_i8(x), dims, before, after, value as i8, as_i8_mut(out));
    }
    Ok(())
}

/// MEAN over H and W of an int8 NHWC input into N11C (keep_dims) or NC, with a multiplier
/// (`input_scale / output_scale`) whose shift leaves room for folding in `1 / (H * W)`.
pub(super) fn validate_mean(cx: &Cx<'_, '_>, o: &Mean) -> Result<(), Error> {
    let i = cx.typed(o.input, DType::I8)?;
    let out = cx.typed(o.output, DType::I8)?;
    let [n, _, _, c] = match i.shape[..] {
        [n, h, w, c] => [n, h, w, c],
        _ => return Err(cx.shape_err()),
    };
    cx.check_shape(out.shape[..] == [n, 1, 1, c] || out.shape[..] == [n, c])?;
    cx.check_multiplier(o.multiplier)?;
    cx.check_param(o.multiplier.multiplier >= 0)
}

pub(super) fn eval_mean(cx: &Cx<'_, '_>, o: &Mean, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let dims: [u16; MAX_RANK] = extend(&i.shape, 1);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::mean(
        as_i8(x),
        dims.map(usize::from),
        i.zero_point,
        o.multiplier,
        out_t.zero_point,
        as_i8_mut(out),
    );
    Ok(())
}

/// The input of a reduction as the kernels walk it, four dimensions: neighbouring dimensions
/// that are both reduced or both kept merge into one (the same elements in the same order),
/// and leading 1s fill up. `None` if five dimensions alternate kept and reduced.
fn reduction_view(shape: &[u16], axes: u8) -> Option<([usize; MAX_RANK], [bool; MAX_RANK])> {
    let mut runs: HVec<(usize, bool), MAX_RANK> = HVec::new();
    for (d, &n) in shape.iter().enumerate() {
        let reduced = axes & (1 << d) != 0;
        match runs.last_mut() {
            Some((size, r)) if *r == reduced => *size = size.checked_mul(usize::from(n))?,
            _ => runs.push((usize::from(n), reduced)).ok()?,
        }
    }
    let lead = MAX_RANK - runs.len();
    let mut dims = [1; MAX_RANK];
    let mut reduced = [false; MAX_RANK];
    for (k, &(n, r)) in runs.iter().enumerate() {
        *dims.get_mut(lead + k)? = n;
        *reduced.get_mut(lead + k)? = r;
    }
    Some((dims, reduced))
}

/// Input and output int8; the axes within the input's rank (up to five dimensions, not all
/// five alternating kept and reduced); as many outputs as the kept dimensions hold; MAX and MIN keep the quantization (TFLM refuses them otherwise), MEAN and
/// SUM have a valid multiplier.
pub(super) fn validate_reduce(cx: &Cx<'_, '_>, o: &Reduce) -> Result<(), Error> {
    // int8, or int16 for MEAN (16x8).
    let dtype = cx.tensor(o.input)?.dtype;
    let wide = cfg!(feature = "int16") && dtype == DType::I16 && o.kind == ReduceKind::Mean;
    let dtype = if wide { DType::I16 } else { DType::I8 };
    let i = cx.typed(o.input, dtype)?;
    let out = cx.typed(o.output, dtype)?;
    let rank = i.shape.len();
    cx.check_param(u32::from(o.axes) < 1 << rank)?;
    cx.check_shape(reduction_view(&i.shape, o.axes).is_some())?;
    let kept = i
        .shape
        .iter()
        .enumerate()
        .filter(|&(d, _)| o.axes & (1 << d) == 0)
        .try_fold(1usize, |n, (_, &d)| n.checked_mul(usize::from(d)));
    cx.check_shape(kept.is_some() && kept == out.elements())?;
    match o.kind {
        ReduceKind::Max | ReduceKind::Min => cx.check_param(same_quantization(&i, &out)),
        ReduceKind::Mean | ReduceKind::Sum => cx.check_multiplier(o.multiplier),
    }
}

pub(super) fn eval_reduce(cx: &Cx<'_, '_>, o: &Reduce, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (dims, reduced) = reduction_view(&i.shape, o.axes).ok_or(cx.shape_err())?;
    let kind = match o.kind {
        ReduceKind::Mean => reference::Reduction::Mean,
        ReduceKind::Sum => reference::Reduction::Sum,
        ReduceKind::Max => reference::Reduction::Max,
        ReduceKind::Min => reference::Reduction::Min,
    };
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    #[cfg(feature = "int16")]
    if i.dtype == DType::I16 {
        reference::mean_16(
            super::wide::as_i16(x),
            dims,
            reduced,
            i.zero_point,
            o.multiplier,
            out_t.zero_point,
            super::wide::as_i16_mut(out),
        );
        return Ok(());
    }
    reference::reduce(
        as_i8(x),
        dims,
        reduced,
        kind,
        i.zero_point,
        o.multiplier,
        out_t.zero_point,
        as_i8_mut(out),
    );
    Ok(())
}

/// Input and output int8 with the same quantization and as many elements as `dims` holds;
/// `perm` a permutation of the six dimensions. For a plain TRANSPOSE the importer writes the
/// input's shape as `dims`; the output tensor's shape is not compared with the permuted
/// `dims`, since a folded reshape may regroup it (only its size matters to memory safety).
pub(super) fn validate_transpose(cx: &Cx<'_, '_>, o: &Transpose) -> Result<(), Error> {
    let i = movable(cx, o.input)?;
    let out = cx.typed(o.output, i.dtype)?;
    cx.check_param(same_quantization(&i, &out))?;
    let mut seen = [false; MAX_PERMUTE_RANK];
    for &p in &o.perm {
        let fresh = seen
            .get_mut(usize::from(p))
            .map(|s| !core::mem::replace(s, true));
        cx.check_param(fresh == Some(true))?;
    }
    let size = o
        .dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::from(d)));
    cx.check_shape(size.is_some() && size == i.elements() && size == out.elements())
}

pub(super) fn eval_transpose(
    cx: &Cx<'_, '_>,
    o: &Transpose,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let (dims, perm) = (o.dims.map(usize::from), o.perm.map(usize::from));
    by_width!(i, x, out, reference::transpose(x, dims, perm, out));
    Ok(())
}

/// Input and output int8, the input of at most four dimensions; along each (seen as 4-D) a
/// non-zero stride and, where anything is taken, a first and a last index inside the
/// dimension; the output holds exactly the elements taken. The quantization is not looked at:
/// TFLM copies the raw bytes.
pub(super) fn validate_strided_slice(cx: &Cx<'_, '_>, o: &StridedSlice) -> Result<(), Error> {
    let i = movable(cx, o.input)?;
    let out = cx.typed(o.output, i.dtype)?;
    let dims: [u16; MAX_RANK] = extend(&i.shape, 1);
    let mut taken = 1usize;
    for (((&n, &begin), &stride), &count) in dims.iter().zip(&o.begin).zip(&o.stride).zip(&o.count)
    {
        let inside = |index: i64| (0..i64::from(n)).contains(&index);
        let last = i64::from(begin) + (i64::from(count) - 1) * i64::from(stride);
        cx.check_param(stride != 0 && (count == 0 || (inside(begin.into()) && inside(last))))?;
        taken = taken.saturating_mul(usize::from(count));
    }
    cx.check_shape(out.elements() == Some(taken))
}

pub(super) fn eval_strided_slice(
    cx: &Cx<'_, '_>,
    o: &StridedSlice,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let dims: [u16; MAX_RANK] = extend(&i.shape, 1);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    let (dims, count) = (dims.map(usize::from), o.count.map(usize::from));
    by_width!(
        i,
        x,
        out,
        reference::strided_slice(x, dims, o.begin, o.stride, count, out)
    );
    Ok(())
}

/// The input seen around the gather axis: elements before it (outer), along it, after it.
fn around_axis(t: &TensorDef, axis: usize) -> (usize, usize, usize) {
    let dims = &t.shape;
    let before = product(dims.get(..axis).unwrap_or(&[]));
    let along = dims.get(axis).map_or(0, |&d| usize::from(d));
    (before, along, product(dims.get(axis + 1..).unwrap_or(&[])))
}

/// Input and output int8; the axis inside the input; every index inside the axis; the
/// output holds `outer * indices * inner` elements (the quantization is not looked at: TFLM
/// copies raw bytes).
pub(super) fn validate_gather(cx: &Cx<'_, '_>, o: &Gather<'_>) -> Result<(), Error> {
    let i = cx.typed(o.input, DType::I8)?;
    let out = cx.typed(o.output, DType::I8)?;
    let axis = usize::from(o.axis);
    cx.check_param(
        axis < i.shape.len() && o.indices.len().is_multiple_of(2) && !o.indices.is_empty(),
    )?;
    let (outer, along, inner) = around_axis(&i, axis);
    let (indices, _) = o.indices.as_chunks::<2>();
    cx.check_param(
        indices
            .iter()
            .all(|&k| usize::from(u16::from_le_bytes(k)) < along),
    )?;
    let taken = outer
        .checked_mul(indices.len())
        .and_then(|n| n.checked_mul(inner));
    cx.check_shape(taken.is_some() && out.elements() == taken)
}

pub(super) fn eval_gather(cx: &Cx<'_, '_>, o: &Gather<'_>, arena: &mut [u8]) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (_, along, inner) = around_axis(&i, usize::from(o.axis));
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::gather(as_i8(x), along, inner, o.indices, as_i8_mut(out));
    Ok(())
}

/// The rows of a GATHER_ND input: how many, and the elements of each.
fn gather_nd_rows(i: &TensorDef, depth: u8) -> (usize, usize) {
    let depth = usize::from(depth).min(i.shape.len());
    let (lead, rest) = i.shape.split_at(depth);
    let size = |d: &[u16]| d.iter().map(|&n| usize::from(n)).product::<usize>();
    (size(lead), size(rest))
}

/// Int8 in and out; an index depth within the input's rank; every row inside the input; the
/// output exactly the rows taken.
pub(super) fn validate_gather_nd(cx: &Cx<'_, '_>, o: &GatherNd<'_>) -> Result<(), Error> {
    let i = cx.typed(o.input, DType::I8)?;
    let out = cx.typed(o.output, DType::I8)?;
    let (rows, rest) = o.rows.as_chunks::<2>();
    cx.check_param(
        (1..=i.shape.len()).contains(&usize::from(o.index_depth))
            && rest.is_empty()
            && !rows.is_empty(),
    )?;
    let (count, row) = gather_nd_rows(&i, o.index_depth);
    cx.check_param(
        rows.iter()
            .all(|&k| usize::from(u16::from_le_bytes(k)) < count),
    )?;
    cx.check_shape(
        rows.len()
            .checked_mul(row)
            .is_some_and(|n| out.elements() == Some(n)),
    )
}

pub(super) fn eval_gather_nd(
    cx: &Cx<'_, '_>,
    o: &GatherNd<'_>,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (count, row) = gather_nd_rows(&i, o.index_depth);
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::gather(as_i8(x), count, row, o.rows, as_i8_mut(out));
    Ok(())
}

/// Int8 in, int32 out with the input's elements less the searched dimension's (at least one).
pub(super) fn validate_arg_min_max(cx: &Cx<'_, '_>, o: &ArgMinMax) -> Result<(), Error> {
    let i = cx.typed(o.input, DType::I8)?;
    let out = cx.typed(o.output, DType::I32)?;
    let n = i.shape.get(usize::from(o.axis)).copied().unwrap_or(0);
    cx.check_param(n > 0)?;
    let kept = i.elements().map(|e| e / usize::from(n));
    cx.check_shape(kept.is_some() && kept == out.elements())
}

pub(super) fn eval_arg_min_max(
    cx: &Cx<'_, '_>,
    o: &ArgMinMax,
    arena: &mut [u8],
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let axis = usize::from(o.axis);
    let size = |dims: &[u16]| dims.iter().map(|&d| usize::from(d)).product::<usize>();
    let outer = size(i.shape.get(..axis).unwrap_or_default());
    let n = i.shape.get(axis).map_or(0, |&d| usize::from(d));
    let inner = size(i.shape.get(axis + 1..).unwrap_or_default());
    let (out, [x]) = operands(arena, &out_t, [&i])?;
    reference::arg_min_max(as_i8(x), outer, n, inner, o.max, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::harness::{T, run};
    use crate::error::Error;
    use crate::format::{Concatenation, Mean, Multiplier, Op, Pad};

    const SHAPE_ERR: Error = Error::ShapeMismatch { op: 0 };
    const PARAM_ERR: Error = Error::BadParameter { op: 0 };

    fn concat(n: u16, axis: u8) -> Op<'static> {
        Op::Concatenation(Concatenation {
            inputs: (0..n).collect(),
            output: n,
            axis,
        })
    }

    #[test]
    fn concatenation_runs() {
        let io: [T<'_>; 3] = [(&[1, 2], 0), (&[1, 3], 0), (&[1, 5], 0)];
        let out = run(&io, concat(2, 1), &[&[1, 2], &[3, 4, 5]]);
        assert_eq!(out, Ok(std::vec![1, 2, 3, 4, 5]));
        let io: [T<'_>; 3] = [(&[2, 2], 0), (&[2, 1], 0), (&[2, 3], 0)];
        let out = run(&io, concat(2, 1), &[&[1, 2, 3, 4], &[5, 6]]);
        assert_eq!(out, Ok(std::vec![1, 2, 5, 3, 4, 6]));
        let io: [T<'_>; 3] = [(&[1, 2], 0), (&[2, 2], 0), (&[3, 2], 0)];
        let out = run(&io, concat(2, 0), &[&[1, 2], &[3, 4, 5, 6]]);
        assert_eq!(out, Ok(std::vec![1, 2, 3, 4, 5, 6]));
        // Eight inputs along the channels of NHWC.
        let mut io: std::vec::Vec<T<'_>> = std::vec![(&[1, 1, 2, 1][..], 5); 8];
        io.push((&[1, 1, 2, 8], 5));
        let ins: std::vec::Vec<[i8; 2]> = (0..8).map(|k| [k, 10 + k]).collect();
        let refs: std::vec::Vec<&[i8]> = ins.iter().map(|x| &x[..]).collect();
        let out = run(&io, concat(8, 3), &refs);
        assert_eq!(
            out,
            Ok(std::vec![
                0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17
            ])
        );
    }

    #[test]
    fn concatenation_rejects() {
        let x: [&[i8]; 2] = [&[0; 2], &[0; 3]];
        let ok: [T<'_>; 3] = [(&[1, 2], 0), (&[1, 3], 0), (&[1, 5], 0)];
        assert_eq!(run(&ok, concat(2, 2), &x), Err(PARAM_ERR)); // axis past the rank
        let zp: [T<'_>; 3] = [(&[1, 2], 0), (&[1, 3], 1), (&[1, 5], 0)];
        assert_eq!(run(&zp, concat(2, 1), &x), Err(PARAM_ERR));
        let sum: [T<'_>; 3] = [(&[1, 2], 0), (&[1, 3], 0), (&[1, 6], 0)];
        assert_eq!(run(&sum, concat(2, 1), &x), Err(SHAPE_ERR));
        let other: [T<'_>; 3] = [(&[1, 2], 0), (&[1, 3], 0), (&[2, 5], 0)];
        assert_eq!(run(&other, concat(2, 1), &x), Err(SHAPE_ERR));
        let rank: [T<'_>; 3] = [(&[1, 2], 0), (&[1, 3, 1], 0), (&[1, 5], 0)];
        assert_eq!(run(&rank, concat(2, 1), &x), Err(SHAPE_ERR));
    }

    fn pad(before: [u16; 4], after: [u16; 4]) -> Op<'static> {
        Op::Pad(Pad {
            input: 0,
            output: 1,
            before,
            after,
        })
    }

    #[test]
    fn pad_runs_with_the_zero_point() {
        let io: [T<'_>; 2] = [(&[1, 2, 2, 1], 3), (&[1, 4, 3, 1], 3)];
        let out = run(&io, pad([0, 1, 0, 0], [0, 1, 1, 0]), &[&[1, 2, 4, 5]]);
        #[rustfmt::skip]
        assert_eq!(out, Ok(std::vec![
            3, 3, 3,
            1, 2, 3,
            4, 5, 3,
            3, 3, 3,
        ]));
        // Rank 2: the paddings are the tensor's first two dimensions.
        let io: [T<'_>; 2] = [(&[2, 2], -1), (&[3, 3], -1)];
        let out = run(&io, pad([1, 0, 0, 0], [0, 1, 0, 0]), &[&[1, 2, 4, 5]]);
        assert_eq!(out, Ok(std::vec![-1, -1, -1, 1, 2, -1, 4, 5, -1]));
    }

    #[test]
    fn pad_rejects() {
        let x: [&[i8]; 1] = [&[0; 4]];
        let io: [T<'_>; 2] = [(&[2, 2], 0), (&[3, 3], 0)];
        assert_eq!(
            run(&io, pad([1, 0, 1, 0], [0, 1, 0, 0]), &x),
            Err(PARAM_ERR)
        );
        assert_eq!(
            run(&io, pad([1, 0, 0, 0], [0, 0, 0, 0]), &x),
            Err(SHAPE_ERR)
        );
        let zp: [T<'_>; 2] = [(&[2, 2], 0), (&[3, 3], 1)];
        assert_eq!(
            run(&zp, pad([1, 0, 0, 0], [0, 1, 0, 0]), &x),
            Err(PARAM_ERR)
        );
        let rank: [T<'_>; 2] = [(&[2, 2], 0), (&[3, 3, 1], 0)];
        assert_eq!(
            run(&rank, pad([1, 0, 0, 0], [0, 1, 0, 0]), &x),
            Err(SHAPE_ERR)
        );
    }

    fn transpose(dims: [u16; 6], perm: [u8; 6]) -> Op<'static> {
        Op::Transpose(crate::format::Transpose {
            input: 0,
            output: 1,
            dims,
            perm,
        })
    }

    #[test]
    fn transpose_runs_nchw_to_nhwc_and_rejects() {
        // [1, 2, 3, 2] NCHW to NHWC [1, 3, 2, 2]: output (h, w, c) = input (c, h, w).
        let x: std::vec::Vec<i8> = (0..12).collect();
        let io: [T<'_>; 2] = [(&[1, 2, 3, 2], 5), (&[1, 3, 2, 2], 5)];
        let nchw = [1, 1, 1, 2, 3, 2];
        let out = run(&io, transpose(nchw, [0, 1, 2, 4, 5, 3]), &[&x]).unwrap();
        assert_eq!(out, [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]);
        // DEPTH_TO_SPACE with block 2 of [1, 1, 1, 4] is [1, 2, 2, 1]: the same bytes, and
        // SPACE_TO_DEPTH of [1, 2, 2, 1] likewise (the dims view is what differs).
        let io: [T<'_>; 2] = [(&[1, 1, 1, 4], 0), (&[1, 2, 2, 1], 0)];
        let d2s = [1, 1, 1, 2, 2, 1];
        let out = run(&io, transpose(d2s, [0, 1, 3, 2, 4, 5]), &[&x[..4]]).unwrap();
        assert_eq!(out, [0, 1, 2, 3]);
        // [1, 2, 2, 2, 1, 1] with its second and third dimensions swapped.
        let io: [T<'_>; 2] = [(&[1, 4, 2, 1], 0), (&[1, 2, 2, 2], 0)];
        let s2d = [1, 2, 2, 2, 1, 1];
        let out = run(&io, transpose(s2d, [0, 2, 1, 3, 4, 5]), &[&x[..8]]).unwrap();
        assert_eq!(out, [0, 1, 4, 5, 2, 3, 6, 7]);
        // not a permutation; dims of another size than the tensors; another quantization
        let io: [T<'_>; 2] = [(&[2, 3], 0), (&[3, 2], 0)];
        let flat = [1, 1, 1, 1, 2, 3];
        assert_eq!(
            run(&io, transpose(flat, [0, 1, 2, 3, 5, 5]), &[&x[..6]]),
            Err(PARAM_ERR)
        );
        assert_eq!(
            run(&io, transpose(flat, [0, 1, 2, 3, 5, 6]), &[&x[..6]]),
            Err(PARAM_ERR)
        );
        assert_eq!(
            run(
                &io,
                transpose([1, 1, 1, 1, 2, 4], [0, 1, 2, 3, 5, 4]),
                &[&x[..6]]
            ),
            Err(SHAPE_ERR)
        );
        let io: [T<'_>; 2] = [(&[2, 3], 0), (&[3, 2], 1)];
        assert_eq!(
            run(&io, transpose(flat, [0, 1, 2, 3, 5, 4]), &[&x[..6]]),
            Err(PARAM_ERR)
        );
    }

    fn reduce(kind: crate::format::ReduceKind, axes: u8) -> Op<'static> {
        Op::Reduce(crate::format::Reduce {
            input: 0,
            output: 1,
            kind,
            axes,
            multiplier: Multiplier {
                multiplier: 1 << 30,
                shift: 1,
            },
        })
    }

    #[test]
    fn reductions_over_any_axes() {
        use crate::format::ReduceKind::{Max, Mean, Min, Sum};
        // [2, 3]: rows 1 2 3 / 4 5 9, zero point 1.
        let x: [i8; 6] = [1, 2, 3, 4, 5, 9];
        let rows: [T<'_>; 2] = [(&[2, 3], 1), (&[2], 1)];
        let cols: [T<'_>; 2] = [(&[2, 3], 1), (&[1, 3], 1)];
        assert_eq!(run(&rows, reduce(Max, 0b10), &[&x]), Ok(std::vec![3, 9]));
        assert_eq!(run(&cols, reduce(Min, 0b01), &[&x]), Ok(std::vec![1, 2, 3]));
        // Sums of x - 1 plus 1: 3 + 1, 15 + 1; means (x - 1) / n + 1 rounded: 2, 6.
        assert_eq!(run(&rows, reduce(Sum, 0b10), &[&x]), Ok(std::vec![4, 16]));
        assert_eq!(run(&rows, reduce(Mean, 0b10), &[&x]), Ok(std::vec![2, 6]));
        let all: [T<'_>; 2] = [(&[2, 3], 1), (&[1], 1)];
        assert_eq!(run(&all, reduce(Sum, 0b11), &[&x]), Ok(std::vec![19]));
        // an axis past the rank; the wrong output size; MAX with another quantization
        assert_eq!(run(&rows, reduce(Sum, 0b100), &[&x]), Err(PARAM_ERR));
        assert_eq!(run(&rows, reduce(Sum, 0b01), &[&x]), Err(SHAPE_ERR));
        let requant: [T<'_>; 2] = [(&[2, 3], 1), (&[2], 0)];
        assert_eq!(run(&requant, reduce(Max, 0b10), &[&x]), Err(PARAM_ERR));
    }

    fn slice(begin: [i32; 4], stride: [i32; 4], count: [u16; 4]) -> Op<'static> {
        Op::StridedSlice(crate::format::StridedSlice {
            input: 0,
            output: 1,
            begin,
            stride,
            count,
        })
    }

    #[test]
    fn strided_slices_run_and_reject() {
        // [3, 4]: rows 0..4, 4..8, 8..12. Every other column of rows 2 and 1, backwards.
        let x: std::vec::Vec<i8> = (0..12).collect();
        let io: [T<'_>; 2] = [(&[3, 4], 0), (&[2, 2], 3)];
        let op = slice([0, 0, 2, 1], [1, 1, -1, 2], [1, 1, 2, 2]);
        assert_eq!(run(&io, op, &[&x]), Ok(std::vec![9, 11, 5, 7]));
        // past the dimension at either end; a zero stride; the wrong output size
        let past = slice([0, 0, 2, 1], [1, 1, 1, 2], [1, 1, 2, 2]);
        assert_eq!(run(&io, past, &[&x]), Err(PARAM_ERR));
        let before = slice([0, 0, 0, 1], [1, 1, -1, 2], [1, 1, 2, 2]);
        assert_eq!(run(&io, before, &[&x]), Err(PARAM_ERR));
        let zero = slice([0, 0, 2, 1], [1, 1, 0, 2], [1, 1, 2, 2]);
        assert_eq!(run(&io, zero, &[&x]), Err(PARAM_ERR));
        let io: [T<'_>; 2] = [(&[3, 4], 0), (&[3], 3)];
        assert_eq!(
            run(&io, slice([0, 0, 2, 1], [1, 1, -1, 2], [1, 1, 2, 2]), &[&x]),
            Err(SHAPE_ERR)
        );
    }

    fn mean(multiplier: i32, shift: i8) -> Op<'static> {
        Op::Mean(Mean {
            input: 0,
            output: 1,
            multiplier: Multiplier { multiplier, shift },
        })
    }

    #[test]
    fn mean_runs_with_keep_dims_either_way() {
        // Same scale (multiplier 1.0 = 2^30 * 2^1); zero points 1 in, -2 out. Channel 0
        // holds 1, 2, 3, 5 (mean of q - 1: 1.75 -> 2), channel 1 -1, -2, -3, -4 (-3.5 -> -4).
        let x = [1, -1, 2, -2, 3, -3, 5, -4];
        for out_shape in [&[1u16, 1, 1, 2][..], &[1, 2]] {
            let io: [T<'_>; 2] = [(&[1, 2, 2, 2], 1), (out_shape, -2)];
            assert_eq!(run(&io, mean(1 << 30, 1), &[&x]), Ok(std::vec![0, -6]));
        }
    }

    #[test]
    fn mean_rejects() {
        let x: [&[i8]; 1] = [&[0; 8]];
        let io: [T<'_>; 2] = [(&[1, 2, 2, 2], 0), (&[1, 2], 0)];
        assert_eq!(run(&io, mean(-1, 1), &x), Err(PARAM_ERR));
        assert_eq!(run(&io, mean(1 << 30, 31), &x), Err(PARAM_ERR));
        for (i, o) in [
            (&[1u16, 2, 2, 2][..], &[1u16, 1, 2][..]),
            (&[1, 2, 2, 2], &[2, 2]),
            (&[1, 2, 2, 2], &[1, 1, 2, 2]),
            (&[2, 2, 2], &[2, 2]),
        ] {
            let io: [T<'_>; 2] = [(i, 0), (o, 0)];
            assert_eq!(
                run(&io, mean(1 << 30, 1), &x),
                Err(SHAPE_ERR),
                "{i:?} -> {o:?}"
            );
        }
    }
}
