//! STRIDED_SLICE, SLICE, SPLIT, SPLIT_V and UNPACK: each output is a strided slice of the
//! input (one mote operator per output), with begin, end, masks and sizes resolved here as
//! TFLM resolves them (`strided_slice_common.cc` with `strided_slice_logic.h`, `slice.cc`,
//! `split.cc`, `split_v.cc`, `unpack.cc` in `tensorflow/lite/micro/kernels/`); and GATHER and
//! GATHER_ND by constant indices (`gather.cc`, `gather_nd.cc`). Raw bytes move, as in TFLM.

use anyhow::{Result, anyhow, ensure};
use mote::format::{Gather, GatherNd, MAX_RANK, Op, StridedSlice};

use super::{Act, Importer, OpCx, int_values, same_quantization, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{BuiltinOperator as B, TensorType};

/// One dimension of a slice: first index, step, elements taken.
#[derive(Debug, Clone, Copy)]
pub(super) struct Axis {
    pub(super) begin: i32,
    pub(super) stride: i32,
    pub(super) count: usize,
}

impl<'m, 'a> Importer<'m, 'a> {
    /// STRIDED_SLICE (TFLM: at most four dimensions; the ellipsis and new-axis masks and the
    /// `offset` option are ignored, as TFLM ignores them).
    pub(super) fn strided_slice(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let rank = input.shape.len();
        let begin = int_values(cx, self.constant(cx, op, 1)?, "begin")?;
        let end = int_values(cx, self.constant(cx, op, 2)?, "end")?;
        let strides = int_values(cx, self.constant(cx, op, 3)?, "strides")?;
        ensure!(
            begin.len() >= rank && end.len() >= rank && strides.len() >= rank,
            "{cx}: begin, end and strides need {rank} values each"
        );
        let opts = op.raw.builtin_options_as_strided_slice_options();
        let mask = |f: fn(&crate::intake::tflite::schema::StridedSliceOptions<'_>) -> i32| {
            opts.map_or(0, |o| f(&o))
        };
        let (begin_mask, end_mask, shrink) = (
            mask(|o| o.begin_mask()),
            mask(|o| o.end_mask()),
            mask(|o| o.shrink_axis_mask()),
        );
        let output = self.output_like(cx, op, &input)?;
        let mut axes = Vec::with_capacity(rank);
        let mut kept = Vec::with_capacity(rank);
        for d in 0..rank {
            let n = input.shape[d] as i64;
            let stride = strides[d];
            ensure!(stride != 0, "{cx}: stride 0 in dimension {d}");
            let bit = |m: i32| m & (1 << d) != 0;
            let clamp = |v: i64| {
                if stride > 0 {
                    v.clamp(0, n)
                } else {
                    v.clamp(-1, n - 1)
                }
            };
            // `StridedSliceStartForAxis` and `StridedSliceEndForAxis`.
            let start = if bit(begin_mask) {
                if stride > 0 { 0 } else { n - 1 }
            } else {
                let b = i64::from(begin[d]);
                clamp(if b < 0 { b + n } else { b })
            };
            let stop = if bit(shrink) {
                if start >= n { start } else { start + 1 }
            } else if bit(end_mask) {
                if stride > 0 { n } else { -1 }
            } else {
                let e = i64::from(end[d]);
                clamp(if e < 0 { e + n } else { e })
            };
            let span = if stride > 0 {
                stop - start
            } else {
                start - stop
            };
            let step = i64::from(stride).abs();
            let count = if span > 0 {
                (span + step - 1) / step
            } else {
                0
            } as usize;
            if !bit(shrink) {
                kept.push(count);
            }
            axes.push(Axis {
                begin: i32::try_from(start.max(0))?,
                stride,
                count,
            });
        }
        ensure!(
            kept == output.shape || (kept.is_empty() && output.shape == [1]),
            "{cx}: output shape {:?}, but the slice takes {kept:?}",
            output.shape
        );
        self.slice_op(cx, &input, &output, &axes)
    }

    /// SLICE: `begin` and `size` (-1: to the end), int32 or int64.
    pub(super) fn slice(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let begin = int_values(cx, self.constant(cx, op, 1)?, "begin")?;
        let size = int_values(cx, self.constant(cx, op, 2)?, "size")?;
        let output = self.output_like(cx, op, &input)?;
        let rank = input.shape.len();
        ensure!(
            begin.len() == rank && size.len() == rank,
            "{cx}: begin and size need {rank} values each"
        );
        let mut axes = Vec::with_capacity(rank);
        for d in 0..rank {
            let n = input.shape[d];
            let b = usize::try_from(begin[d]).ok().filter(|&b| b < n);
            let b = b.ok_or_else(|| anyhow!("{cx}: begin {} outside dimension {d}", begin[d]))?;
            let count = if size[d] == -1 {
                n - b
            } else {
                usize::try_from(size[d])
                    .ok()
                    .filter(|&s| b + s <= n)
                    .ok_or_else(|| anyhow!("{cx}: size {} past dimension {d}", size[d]))?
            };
            axes.push(Axis {
                begin: b as i32,
                stride: 1,
                count,
            });
        }
        let taken: Vec<usize> = axes.iter().map(|a| a.count).collect();
        ensure!(
            taken == output.shape,
            "{cx}: output shape {:?}, but the slice takes {taken:?}",
            output.shape
        );
        self.slice_op(cx, &input, &output, &axes)
    }

    /// SPLIT (axis, then input), SPLIT_V (input, sizes, axis) and UNPACK (input; axis option):
    /// one slice per output, in order; every output but the last is pushed here.
    pub(super) fn split(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let (input, axis) = match op.builtin {
            B::SPLIT => {
                let axis = int_values(cx, self.constant(cx, op, 0)?, "axis")?;
                (
                    self.input_8_or_16(cx, op, 1)?,
                    axis.first().copied().unwrap_or(0),
                )
            }
            B::SPLIT_V => {
                let axis = int_values(cx, self.constant(cx, op, 2)?, "axis")?;
                (
                    self.input_8_or_16(cx, op, 0)?,
                    axis.first().copied().unwrap_or(0),
                )
            }
            _ => {
                let axis = op
                    .raw
                    .builtin_options_as_unpack_options()
                    .map_or(0, |o| o.axis());
                (self.input_8_or_16(cx, op, 0)?, axis)
            }
        };
        let rank = input.shape.len();
        let axis = usize::try_from(if axis < 0 { axis + rank as i32 } else { axis })
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| anyhow!("{cx}: axis {axis} outside the input's {rank} dimensions"))?;
        let n = input.shape[axis];
        let k = op.outputs.len();
        ensure!(k >= 1, "{cx}: no outputs");
        // Elements of the axis each output takes.
        let sizes: Vec<usize> = match op.builtin {
            B::SPLIT_V => {
                let given = int_values(cx, self.constant(cx, op, 1)?, "size_splits")?;
                ensure!(
                    given.len() == k,
                    "{cx}: {} sizes for {k} outputs",
                    given.len()
                );
                let known: i64 = given.iter().filter(|&&s| s >= 0).map(|&s| s as i64).sum();
                let unknown = given.iter().filter(|&&s| s == -1).count();
                ensure!(
                    given.iter().all(|&s| s >= -1) && unknown <= 1 && known <= n as i64,
                    "{cx}: sizes {given:?} do not split {n}"
                );
                given
                    .iter()
                    .map(|&s| {
                        if s == -1 {
                            n - known as usize
                        } else {
                            s as usize
                        }
                    })
                    .collect()
            }
            B::SPLIT => {
                ensure!(n % k == 0, "{cx}: {n} does not split into {k} equal parts");
                vec![n / k; k]
            }
            _ => {
                ensure!(k == n, "{cx}: unpacks {n} values into {k} outputs");
                vec![1; k]
            }
        };
        ensure!(
            sizes.iter().sum::<usize>() == n,
            "{cx}: sizes {sizes:?} do not add up to {n}"
        );
        let mut first = 0usize;
        let mut last = None;
        for (j, &size) in sizes.iter().enumerate() {
            let output = self.output_at(cx, op, j)?;
            ensure!(
                output.dtype == input.dtype,
                "{cx}: output {j} is {:?}, the input {:?}",
                output.dtype,
                input.dtype
            );
            let axes: Vec<Axis> = (0..rank)
                .map(|d| Axis {
                    begin: if d == axis { first as i32 } else { 0 },
                    stride: 1,
                    count: if d == axis { size } else { input.shape[d] },
                })
                .collect();
            ensure!(size > 0, "{cx}: output {j} takes nothing");
            let slice = self.slice_op(cx, &input, &output, &axes)?;
            if let Some(previous) = last.replace(slice) {
                self.graph.ops.push(previous);
            }
            first += size;
        }
        last.ok_or_else(|| anyhow!("{cx}: no outputs"))
    }

    /// GATHER of an activation by constant indices (TFLM `gather.cc`, batch_dims 0: negative
    /// or out-of-range indices are an error there, and here).
    pub(super) fn gather(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let indices = int_values(cx, self.constant(cx, op, 1)?, "indices")?;
        let output = self.output_i8(cx, op)?;
        let opts = op.raw.builtin_options_as_gather_options();
        ensure!(
            opts.is_none_or(|o| o.batch_dims() == 0),
            "{cx}: batch_dims other than 0 is not supported"
        );
        let rank = input.shape.len();
        let axis = opts.map_or(0, |o| o.axis());
        let axis = usize::try_from(if axis < 0 { axis + rank as i32 } else { axis })
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| anyhow!("{cx}: axis {axis} outside the input's {rank} dimensions"))?;
        let mut bytes = Vec::with_capacity(2 * indices.len());
        for &k in &indices {
            let k = u16::try_from(k)
                .ok()
                .filter(|&k| usize::from(k) < input.shape[axis])
                .ok_or_else(|| anyhow!("{cx}: index {k} outside dimension {axis}"))?;
            bytes.extend_from_slice(&k.to_le_bytes());
        }
        let outer: usize = input.shape[..axis].iter().product();
        let inner: usize = input.shape[axis + 1..].iter().product();
        ensure!(
            !indices.is_empty() && output.elements() == outer * indices.len() * inner,
            "{cx}: output shape {:?} does not hold {} indices of {:?} along axis {axis}",
            output.shape,
            indices.len(),
            input.shape
        );
        Ok(Op::Gather(Gather {
            input: input.id,
            output: output.id,
            axis: axis as u8,
            indices: self.consts.alloc_slice_copy(&bytes),
        }))
    }

    /// GATHER_ND with constant int32 indices (TFLM `gather_nd.cc`): each index addresses the
    /// input's leading dimensions; TFLM checks only that the flat offset it gives lies inside
    /// the input, so mote accepts the same indices (and refuses the ones TFLM fails on).
    pub(super) fn gather_nd(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let indices_t = self.constant(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        same_quantization(cx, &input, &output)?;
        ensure!(
            indices_t.dtype == TensorType::INT32 && !indices_t.shape.is_empty(),
            "{cx}: indices must be an int32 tensor of at least one dimension (TFLM refuses {})",
            type_name(indices_t.dtype)
        );
        let depth = *indices_t.shape.last().unwrap_or(&0) as usize;
        let rank = input.shape.len();
        ensure!(
            (1..=rank).contains(&depth),
            "{cx}: indices of {depth} values for an input of {rank} dimensions"
        );
        let indices = int_values(cx, indices_t, "indices")?;
        let row: usize = input.shape[depth..].iter().product();
        let flat = input.elements();
        let mut rows = Vec::with_capacity(2 * indices.len() / depth);
        for index in indices.chunks_exact(depth) {
            // The flat offset, as TFLM computes it: Σ index[j] * (elements after dimension j).
            let offset: i64 = index
                .iter()
                .enumerate()
                .map(|(j, &k)| i64::from(k) * input.shape[j + 1..].iter().product::<usize>() as i64)
                .sum();
            ensure!(
                offset >= 0 && offset as usize + row <= flat,
                "{cx}: index {index:?} lies outside the input {:?} (TFLM fails there)",
                input.shape
            );
            let r = u16::try_from(offset as usize / row.max(1))
                .map_err(|_| anyhow!("{cx}: row {} exceeds 65535", offset as usize / row))?;
            rows.extend_from_slice(&r.to_le_bytes());
        }
        let taken = rows.len() / 2;
        ensure!(
            taken > 0 && output.elements() == taken * row,
            "{cx}: output shape {:?} does not hold {taken} slices of {row} elements",
            output.shape
        );
        Ok(Op::GatherNd(GatherNd {
            input: input.id,
            output: output.id,
            index_depth: depth as u8,
            rows: self.consts.alloc_slice_copy(&rows),
        }))
    }

    /// The slice as a mote operator, right-aligned into four dimensions.
    pub(super) fn slice_op(
        &self,
        cx: &OpCx,
        input: &Act,
        output: &Act,
        axes: &[Axis],
    ) -> Result<Op<'a>> {
        ensure!(
            axes.len() <= MAX_RANK,
            "{cx}: more than {MAX_RANK} dimensions"
        );
        let taken: usize = axes.iter().map(|a| a.count).product();
        ensure!(
            taken > 0 && taken == output.elements(),
            "{cx}: output shape {:?} does not hold the {taken} elements taken",
            output.shape
        );
        let lead = MAX_RANK - axes.len();
        let mut o = StridedSlice {
            input: input.id,
            output: output.id,
            begin: [0; MAX_RANK],
            stride: [1; MAX_RANK],
            count: [1; MAX_RANK],
        };
        for (d, a) in axes.iter().enumerate() {
            o.begin[lead + d] = a.begin;
            o.stride[lead + d] = a.stride;
            o.count[lead + d] = u16::try_from(a.count)?;
        }
        Ok(Op::StridedSlice(o))
    }
}
