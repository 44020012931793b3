//! RESHAPE, SQUEEZE, EXPAND_DIMS, CONCATENATION, PAD, PADV2 and TRANSPOSE: data movement, so
//! input and output share one quantization. TFLM prepares them in `reshape_common.cc`,
//! `squeeze.cc`, `expand_dims.cc`, `concatenation.cc`, `pad_common.cc` and `transpose.cc`
//! (`tensorflow/lite/micro/kernels/`).

use anyhow::{Result, anyhow, ensure};
use mote::format::{
    Concatenation, DType, MAX_IO, MAX_PERMUTE_RANK, MAX_RANK, MAX_TENSOR_RANK, Op, Pad, PadWith,
    TensorId, Transpose, Unary,
};

use super::{Importer, OpCx, activation_name, int_values, same_quantization, to_u16, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{ActivationFunctionType, BuiltinOperator as B, TensorType};

impl<'m, 'a> Importer<'m, 'a> {
    /// RESHAPE, SQUEEZE, EXPAND_DIMS: the element order does not change, only the shape (the
    /// output tensor's static shape; a shape input is not read).
    pub(super) fn reshape(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input shape {:?} and output shape {:?} differ in size",
            input.shape,
            output.shape
        );
        same_quantization(cx, &input, &output)?;
        Ok(Op::Reshape(Unary {
            input: input.id,
            output: output.id,
        }))
    }

    /// CONCATENATION: a byte copy in TFLM, so every input must share the output's
    /// quantization (TFLM would ignore a difference).
    pub(super) fn concatenation(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_concatenation_options()
            .ok_or_else(|| anyhow!("{cx}: ConcatenationOptions are missing"))?;
        ensure!(
            o.fused_activation_function() == ActivationFunctionType::NONE,
            "{cx}: fused activation {} is not supported (TFLM supports none)",
            activation_name(o.fused_activation_function())
        );
        ensure!(
            (1..=MAX_IO).contains(&op.inputs.len()),
            "{cx}: {} inputs; at most {MAX_IO} are supported",
            op.inputs.len()
        );
        let inputs = (0..op.inputs.len())
            .map(|i| self.input_8_or_16(cx, op, i))
            .collect::<Result<Vec<_>>>()?;
        let output = self.output_like(cx, op, &inputs[0])?;
        let rank = self.sg.tensors[op.outputs[0]].shape.len();
        let axis = i64::from(o.axis());
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        ensure!(
            (0..rank as i64).contains(&axis),
            "{cx}: axis {} is out of range for rank {rank}",
            o.axis()
        );
        let axis = axis as usize;
        let mut along = 0;
        for (i, a) in inputs.iter().enumerate() {
            same_quantization(cx, a, &output)?;
            let r = self.sg.tensors[op.inputs[i].unwrap_or(0)].shape.len();
            ensure!(
                r == rank
                    && a.shape
                        .iter()
                        .zip(&output.shape)
                        .enumerate()
                        .all(|(d, (x, y))| d == axis || x == y),
                "{cx}: input {i} shape {:?} does not fit output shape {:?} along axis {axis}",
                a.shape,
                output.shape
            );
            along += a.shape[axis];
        }
        ensure!(
            along == output.shape[axis],
            "{cx}: the inputs add up to {along} along axis {axis}, the output has {}",
            output.shape[axis]
        );
        Ok(Op::Concatenation(Concatenation {
            inputs: inputs.iter().map(|a| a.id).collect(),
            output: output.id,
            axis: axis as u8,
        }))
    }

    /// PACK (TFLM `pack.cc`: raw bytes, the inputs stacked along a new axis): each input is
    /// given the new axis by a RESHAPE (a copy), then a CONCATENATION stacks them.
    pub(super) fn pack(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let axis = op
            .raw
            .builtin_options_as_pack_options()
            .map_or(0, |o| o.axis());
        ensure!(
            (1..=MAX_IO).contains(&op.inputs.len()),
            "{cx}: {} inputs; at most {MAX_IO} are supported",
            op.inputs.len()
        );
        let inputs = (0..op.inputs.len())
            .map(|i| self.input_8_or_16(cx, op, i))
            .collect::<Result<Vec<_>>>()?;
        let output = self.output_like(cx, op, &inputs[0])?;
        let rank = output.shape.len();
        let axis = usize::try_from(if axis < 0 { axis + rank as i32 } else { axis })
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| anyhow!("{cx}: axis {axis} is out of range for rank {rank}"))?;
        ensure!(
            output.shape[axis] == inputs.len(),
            "{cx}: {} inputs stacked, but the output has {} along axis {axis}",
            inputs.len(),
            output.shape[axis]
        );
        let mut stacked = heapless::Vec::new();
        for (i, a) in inputs.iter().enumerate() {
            same_quantization(cx, a, &output)?;
            let mut shape = a.shape.clone();
            shape.insert(axis.min(shape.len()), 1);
            ensure!(
                shape
                    .iter()
                    .zip(&output.shape)
                    .enumerate()
                    .all(|(d, (x, y))| d == axis || x == y)
                    && shape.len() == rank,
                "{cx}: input {i} shape {:?} does not stack into output shape {:?}",
                a.shape,
                output.shape
            );
            let name = format!("{} (stacked)", self.graph.names[usize::from(a.id)]);
            let id = self
                .graph
                .add_tensor(name, DType::I8, &shape, a.scale, a.zero_point)?;
            self.graph.ops.push(Op::Reshape(Unary {
                input: a.id,
                output: id,
            }));
            stacked.push(id).ok();
        }
        Ok(Op::Concatenation(Concatenation {
            inputs: stacked,
            output: output.id,
            axis: axis as u8,
        }))
    }

    /// PAD and PADV2 (TFLM `PadPrepare`): PAD pads with the output zero point, PADV2 with its
    /// constant's raw int8 value, which must share the output's quantization.
    pub(super) fn pad(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let paddings = self.constant(cx, op, 1)?;
        let value = if op.builtin == B::PADV2 {
            self.optional_constant(cx, op, 2)?
        } else {
            None
        };
        let output = self.output_like(cx, op, &input)?;
        same_quantization(cx, &input, &output)?;
        let value = match value {
            None => None,
            Some(v) => {
                let data = v.data.unwrap_or_default();
                let q = v.quantization.as_ref().and_then(|q| q.per_tensor());
                ensure!(
                    v.dtype == TensorType::INT8
                        && data.len() == 1
                        && q.is_some_and(
                            |(s, z)| s == output.scale && z == i64::from(output.zero_point)
                        ),
                    "{cx}: the padding value must be one int8 quantized as the output (TFLM \
                     refuses anything else)"
                );
                Some(data[0] as i8).filter(|&v| i32::from(v) != output.zero_point)
            }
        };
        let rank = self.sg.tensors[op.outputs[0]].shape.len();
        let in_rank = self.sg.tensors[op.inputs[0].unwrap_or(0)].shape.len();
        ensure!(
            rank == in_rank && (1..=MAX_RANK).contains(&rank),
            "{cx}: input rank {in_rank} and output rank {rank}"
        );
        ensure!(
            paddings.dtype == TensorType::INT32 && paddings.elements() == Some(2 * rank),
            "{cx}: paddings must be an int32 [{rank}, 2] tensor (got {} of shape {:?})",
            type_name(paddings.dtype),
            paddings.shape
        );
        let p = int_values(cx, paddings, "paddings")?;
        ensure!(
            p.len() == 2 * rank,
            "{cx}: paddings data has the wrong size"
        );
        // `before[d]`/`after[d]` pad dimension `d` of the tensor (entries past its rank are 0).
        let mut before = [0u16; MAX_RANK];
        let mut after = [0u16; MAX_RANK];
        for d in 0..rank {
            let (b, a) = (p[2 * d], p[2 * d + 1]);
            ensure!(
                b >= 0 && a >= 0,
                "{cx}: negative padding ({b}, {a}) in dimension {d}"
            );
            ensure!(
                input.shape[d] + b as usize + a as usize == output.shape[d],
                "{cx}: dimension {d}: {} + {b} + {a} is not the output's {}",
                input.shape[d],
                output.shape[d]
            );
            before[d] = to_u16(cx, b as usize, "padding")?;
            after[d] = to_u16(cx, a as usize, "padding")?;
        }
        let pad = Pad {
            input: input.id,
            output: output.id,
            before,
            after,
        };
        Ok(match value {
            Some(value) => Op::PadWith(PadWith { pad, value }),
            None => Op::Pad(pad),
        })
    }

    /// TRANSPOSE (TFLM `TransposePrepare`): a constant int32 permutation; data movement, so
    /// input and output must share quantization (TFLM copies bytes).
    pub(super) fn transpose(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let perm_t = self.constant(cx, op, 1)?;
        let output = self.output_like(cx, op, &input)?;
        same_quantization(cx, &input, &output)?;
        let rank = input.shape.len();
        ensure!(
            (1..=MAX_TENSOR_RANK).contains(&rank) && output.shape.len() == rank,
            "{cx}: input rank {rank} and output rank {}; at most {MAX_TENSOR_RANK} dimensions \
             are supported",
            output.shape.len()
        );
        ensure!(
            perm_t.dtype == TensorType::INT32 && perm_t.elements() == Some(rank),
            "{cx}: the permutation must be an int32 vector of {rank} values (got {} of shape \
             {:?})",
            type_name(perm_t.dtype),
            perm_t.shape
        );
        let values = int_values(cx, perm_t, "permutation")?;
        let mut perm = Vec::with_capacity(rank);
        let mut seen = [false; MAX_TENSOR_RANK];
        for (d, &p) in values.iter().enumerate() {
            let p = usize::try_from(p)
                .ok()
                .filter(|&p| p < rank && !seen[p])
                .ok_or_else(|| anyhow!("{cx}: {values:?} is not a permutation of 0..{rank}"))?;
            seen[p] = true;
            ensure!(
                output.shape[d] == input.shape[p],
                "{cx}: output shape {:?} is not input shape {:?} permuted by {values:?}",
                output.shape,
                input.shape
            );
            perm.push(p);
        }
        transpose_record(cx, input.id, output.id, &input.shape, &perm)
    }
}

/// A [`Transpose`] record: the input seen as `dims` (at most six; leading 1s are added), its
/// dimensions permuted by `perm`.
pub(super) fn transpose_record<'a>(
    cx: &OpCx,
    input: TensorId,
    output: TensorId,
    dims: &[usize],
    perm: &[usize],
) -> Result<Op<'a>> {
    let lead = MAX_PERMUTE_RANK.checked_sub(dims.len()).ok_or_else(|| {
        anyhow!(
            "{cx}: {} dimensions; at most {MAX_PERMUTE_RANK} are supported",
            dims.len()
        )
    })?;
    let mut record = Transpose {
        input,
        output,
        dims: [1; MAX_PERMUTE_RANK],
        perm: core::array::from_fn(|d| d as u8),
    };
    for (d, (&n, &p)) in dims.iter().zip(perm).enumerate() {
        record.dims[lead + d] = to_u16(cx, n, "dimension")?;
        record.perm[lead + d] = (lead + p) as u8;
    }
    Ok(Op::Transpose(record))
}
