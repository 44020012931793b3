//! A model on the host, between the front ends (quantize, import) and the blob: activation
//! tensors and operators in execution order. [`HostGraph::to_blob`] plans its memory and
//! writes it in the runtime's format, then parses the result with the runtime itself, so a
//! blob the host writes is a blob the device accepts.

use anyhow::{Context, Result, bail};
use mote::format::{self, DType, Graph, MAX_IO, Op, PairedFullyConnected, TensorDef, TensorId};

use crate::plan;

/// Activation tensors and operators; constants are borrowed (`'a`) by the operators.
#[derive(Debug, Clone, Default)]
pub struct HostGraph<'a> {
    /// Activation tensors; offsets and lifetimes are filled in by the planner.
    pub tensors: Vec<TensorDef>,
    /// A name for each tensor (for `inspect` and per-layer dumps; not stored in the blob).
    pub names: Vec<String>,
    /// Operators in execution order.
    pub ops: Vec<Op<'a>>,
    /// Graph inputs.
    pub inputs: Vec<TensorId>,
    /// Graph outputs.
    pub outputs: Vec<TensorId>,
}

impl<'a> HostGraph<'a> {
    /// Adds an activation tensor and returns its id.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        shape: &[usize],
        scale: f32,
        zero_point: i32,
    ) -> Result<TensorId> {
        let name = name.into();
        let id = TensorId::try_from(self.tensors.len()).context("more than 65535 tensors")?;
        if shape.len() > format::MAX_TENSOR_RANK {
            bail!(
                "tensor {name}: {} dimensions, at most {} are supported",
                shape.len(),
                format::MAX_TENSOR_RANK
            );
        }
        let mut dims = heapless::Vec::new();
        for &d in shape {
            let d = u16::try_from(d)
                .with_context(|| format!("tensor {name}: dimension {d} exceeds 65535"))?;
            dims.push(d).ok();
        }
        if dims.is_empty() {
            dims.push(1).ok(); // a scalar is stored as shape [1]
        }
        self.tensors.push(TensorDef {
            dtype,
            shape: dims,
            scale,
            zero_point,
            offset: 0,
            first_op: 0,
            last_op: 0,
        });
        self.names.push(name);
        Ok(id)
    }

    /// Plans memory (`plan::plan`) and encodes the blob; the blob is then parsed with the
    /// runtime, so any inconsistency surfaces here, on the host, with the runtime's error.
    /// FULLY_CONNECTED layers go out with their weights in row pairs
    /// (`Op::FullyConnectedPaired`), word-aligned in the blob.
    pub fn to_blob(&mut self) -> Result<Vec<u8>> {
        if self.inputs.len() > MAX_IO || self.outputs.len() > MAX_IO {
            bail!("the graph has more than {MAX_IO} inputs or outputs");
        }
        let arena_size = plan::plan(self)?;
        let tensors = format::encode_tensors(&self.tensors)?;
        let op_count = u16::try_from(self.ops.len()).context("more than 65535 operators")?;
        let pairs: Vec<Option<Vec<u8>>> = self.ops.iter().map(paired_weights).collect();
        let mut ops: Vec<Op<'_>> = self
            .ops
            .iter()
            .zip(&pairs)
            .map(|(op, pairs)| match (op, pairs) {
                (Op::FullyConnected(o), Some(pairs)) => {
                    Op::FullyConnectedPaired(PairedFullyConnected {
                        input: o.input,
                        output: o.output,
                        units: o.units,
                        align: &[],
                        pairs,
                        bias: o.bias,
                        requant: o.requant,
                        clamp: o.clamp,
                    })
                }
                _ => op.clone(),
            })
            .collect();
        // Each round aligns the first misaligned pairs; those before it stay where they are
        // (unless the operators' section grows a byte of length, hence the bound). Alignment
        // only decides whether the Cortex-M4 kernel loads eight weights at a time: a blob
        // still misaligned after the last round is as correct.
        let mut rounds = ops.len() + 4;
        loop {
            let encoded = format::encode_ops(&ops)?;
            let graph = Graph {
                arena_size,
                inputs: heapless::Vec::from_slice(&self.inputs).unwrap_or_default(),
                outputs: heapless::Vec::from_slice(&self.outputs).unwrap_or_default(),
                tensors: &tensors,
                op_count,
                ops: &encoded,
            };
            let blob = format::encode(&graph)?;
            let model = mote::Model::parse(&blob).map_err(|e| {
                anyhow::anyhow!("internal error: the blob written does not validate: {e}")
            })?;
            let misaligned = model.ops().enumerate().find_map(|(i, op)| match op {
                Ok(Op::FullyConnectedPaired(o)) => {
                    let offset = o.pairs.as_ptr() as usize - blob.as_ptr() as usize;
                    (!offset.is_multiple_of(4)).then(|| (i, o.align.len() + 4 - offset % 4))
                }
                _ => None,
            });
            let Some((i, align)) = misaligned.filter(|_| rounds > 0) else {
                return Ok(blob);
            };
            if let Some(Op::FullyConnectedPaired(o)) = ops.get_mut(i) {
                o.align = &[0; 3][..align % 4];
            }
            rounds -= 1;
        }
    }
}

/// The weights of a FULLY_CONNECTED in row pairs.
fn paired_weights(op: &Op<'_>) -> Option<Vec<u8>> {
    match op {
        Op::FullyConnected(o) if o.units > 0 => {
            let depth = o.weights.len() / usize::from(o.units);
            Some(format::pair_rows(o.weights, depth))
        }
        _ => None,
    }
}
