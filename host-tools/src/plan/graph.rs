//! A model on the host, between the front ends (quantize, import) and the blob: activation
//! tensors and operators in execution order. [`HostGraph::to_blob`] plans its memory and
//! writes it in the runtime's format, then parses the result with the runtime itself, so a
//! blob the host writes is a blob the device accepts.

use anyhow::{Context, Result, bail};
use mote::format::{self, DType, Graph, MAX_IO, Op, TensorDef, TensorId};

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
    pub fn to_blob(&mut self) -> Result<Vec<u8>> {
        if self.inputs.len() > MAX_IO || self.outputs.len() > MAX_IO {
            bail!("the graph has more than {MAX_IO} inputs or outputs");
        }
        let arena_size = plan::plan(self)?;
        let tensors = format::encode_tensors(&self.tensors)?;
        let ops = format::encode_ops(&self.ops)?;
        let graph = Graph {
            arena_size,
            inputs: heapless::Vec::from_slice(&self.inputs).unwrap_or_default(),
            outputs: heapless::Vec::from_slice(&self.outputs).unwrap_or_default(),
            tensors: &tensors,
            op_count: u16::try_from(self.ops.len()).context("more than 65535 operators")?,
            ops: &ops,
        };
        let blob = format::encode(&graph)?;
        mote::Model::parse(&blob).map_err(|e| {
            anyhow::anyhow!("internal error: the blob written does not validate: {e}")
        })?;
        Ok(blob)
    }
}
