//! Models: parsed and validated from untrusted blob bytes (feature `blob`), or compiled into
//! the firmware from a blob validated when it was built (`mote::compile`).

use crate::error::Error;
#[cfg(feature = "blob")]
use crate::format::{
    DType, FORMAT_VERSION, Graph, HEADER_LEN, MAGIC, MAX_LIVE, MAX_RANK, TENSOR_SLOT_LEN, crc32,
};
use crate::format::{MAX_IO, Op, TensorDef, TensorId};
#[cfg(feature = "blob")]
use crate::ops;
use heapless::Vec as HVec;

/// A validated model. Everything the interpreter later reads from it (tensor records,
/// operator records, constant slices) was checked by [`Model::parse`], on the device or,
/// for a compiled-in model ([`Model::from_compiled`]), when the firmware was built.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    tables: Tables<'a>,
    inputs: HVec<TensorId, MAX_IO>,
    outputs: HVec<TensorId, MAX_IO>,
    /// Bytes of arena the memory plan gives the tensors.
    tensor_bytes: u32,
    tensor_count: u16,
    op_count: u16,
    /// Bytes of kernel scratch past the tensors: the most any operator takes.
    scratch: u32,
}

/// Where the tensor and operator records are: still postcard-encoded in a blob, or decoded
/// ahead of time into Rust statics. Without the `blob` feature only the second exists, and no
/// decoder reaches the image.
#[derive(Debug, Clone)]
enum Tables<'a> {
    #[cfg(feature = "blob")]
    Encoded { tensors: &'a [u8], ops: &'a [u8] },
    Decoded {
        tensors: &'a [TensorDef],
        ops: &'a [Op<'a>],
    },
}

impl<'a> Model<'a> {
    /// A model compiled into the firmware: no parsing, no validation on the device. The
    /// arguments are the tables and sizes of a parsed model: the tensors indexed by
    /// [`TensorId`], the operators in execution order, the graph's inputs and outputs,
    /// [`Model::tensor_bytes`] and [`Model::scratch_bytes`].
    ///
    /// # Safety
    /// They must be what `mote::compile` wrote from a blob that [`Model::parse`] accepted,
    /// unchanged: the kernels rely on the shapes, lengths and memory plan it checked.
    pub const unsafe fn from_compiled(
        tensors: &'a [TensorDef],
        ops: &'a [Op<'a>],
        inputs: HVec<TensorId, MAX_IO>,
        outputs: HVec<TensorId, MAX_IO>,
        tensor_bytes: u32,
        scratch_bytes: u32,
    ) -> Self {
        Model {
            tables: Tables::Decoded { tensors, ops },
            inputs,
            outputs,
            tensor_bytes,
            tensor_count: tensors.len() as u16,
            op_count: ops.len() as u16,
            scratch: scratch_bytes,
        }
    }

    /// Checks the header and checksum, decodes the graph and validates every tensor, operator
    /// and the memory plan. Bytes after the payload are ignored (a flash region is usually
    /// larger than the blob in it).
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::BadMagic`], [`Error::UnsupportedVersion`] and
    /// [`Error::BadChecksum`] for a damaged container; [`Error::Malformed`], [`Error::BadTensor`],
    /// [`Error::BadOp`], [`Error::TensorOutOfRange`], [`Error::ShapeMismatch`],
    /// [`Error::BadParameter`] and [`Error::BadPlan`] for a graph that does not hold together;
    /// [`Error::UnsupportedOp`] for an operator whose `op-` feature this build leaves out.
    #[cfg(feature = "blob")]
    pub fn parse(blob: &'a [u8]) -> Result<Self, Error> {
        let header: &[u8; HEADER_LEN] = blob.first_chunk().ok_or(Error::Truncated)?;
        let [
            m0,
            m1,
            m2,
            m3,
            v0,
            v1,
            r0,
            r1,
            l0,
            l1,
            l2,
            l3,
            c0,
            c1,
            c2,
            c3,
        ] = *header;
        if [m0, m1, m2, m3] != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = u16::from_le_bytes([v0, v1]);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let payload_len = u32::from_le_bytes([l0, l1, l2, l3]);
        let checksum = u32::from_le_bytes([c0, c1, c2, c3]);
        let end = usize::try_from(payload_len)
            .ok()
            .and_then(|n| n.checked_add(HEADER_LEN))
            .ok_or(Error::Truncated)?;
        let payload = blob.get(HEADER_LEN..end).ok_or(Error::Truncated)?;
        let covered = [m0, m1, m2, m3, v0, v1, r0, r1, l0, l1, l2, l3];
        if crc32(&[&covered, payload]) != checksum || [r0, r1] != [0, 0] {
            return Err(Error::BadChecksum);
        }
        let (graph, rest): (Graph<'a>, _) =
            postcard::take_from_bytes(payload).map_err(|_| Error::Malformed)?;
        if !rest.is_empty() || graph.tensors.len() % TENSOR_SLOT_LEN != 0 {
            return Err(Error::Malformed);
        }
        let tensor_count =
            u16::try_from(graph.tensors.len() / TENSOR_SLOT_LEN).map_err(|_| Error::Malformed)?;
        let mut model = Model {
            tables: Tables::Encoded {
                tensors: graph.tensors,
                ops: graph.ops,
            },
            inputs: graph.inputs,
            outputs: graph.outputs,
            tensor_bytes: graph.arena_size,
            tensor_count,
            op_count: graph.op_count,
            scratch: 0,
        };
        model.scratch = model.validate()?;
        Ok(model)
    }

    /// Bytes of arena the model needs: its tensors, then the kernels' scratch.
    pub fn arena_size(&self) -> usize {
        self.tensor_bytes() + self.scratch_bytes()
    }

    /// Bytes at the start of the arena that the memory plan gives the tensors.
    pub fn tensor_bytes(&self) -> usize {
        self.tensor_bytes as usize
    }

    /// Bytes past the tensors that kernels use as working memory, one operator at a time.
    pub fn scratch_bytes(&self) -> usize {
        self.scratch as usize
    }

    /// Number of activation tensors.
    pub fn tensor_count(&self) -> u16 {
        self.tensor_count
    }

    /// Number of operators.
    pub fn op_count(&self) -> u16 {
        self.op_count
    }

    /// Ids of the graph's inputs.
    pub fn inputs(&self) -> &[TensorId] {
        &self.inputs
    }

    /// Ids of the graph's outputs.
    pub fn outputs(&self) -> &[TensorId] {
        &self.outputs
    }

    /// The definition of tensor `id`.
    ///
    /// # Errors
    /// [`Error::TensorOutOfRange`] for an id past the table; [`Error::BadTensor`] if its
    /// record does not decode (impossible after `parse`).
    pub fn tensor(&self, id: TensorId) -> Result<TensorDef, Error> {
        match self.tables {
            #[cfg(feature = "blob")]
            Tables::Encoded { tensors, .. } => {
                let start = usize::from(id) * TENSOR_SLOT_LEN;
                let slot = tensors
                    .get(start..start + TENSOR_SLOT_LEN)
                    .ok_or(Error::TensorOutOfRange(id))?;
                postcard::take_from_bytes(slot)
                    .map(|(t, _)| t)
                    .map_err(|_| Error::BadTensor(id))
            }
            Tables::Decoded { tensors, .. } => tensors
                .get(usize::from(id))
                .cloned()
                .ok_or(Error::TensorOutOfRange(id)),
        }
    }

    /// The operators in execution order.
    pub fn ops(&self) -> OpIter<'a> {
        let records = match self.tables {
            #[cfg(feature = "blob")]
            Tables::Encoded { ops, .. } => Records::Encoded(ops),
            Tables::Decoded { ops, .. } => Records::Decoded(ops),
        };
        OpIter {
            records,
            index: 0,
            count: self.op_count,
        }
    }

    /// Runs `f` on each operator in execution order, stopping at its first error. Unlike
    /// [`Model::ops`], it reads a compiled-in model's operators in place (no copies, so no
    /// copying code for every operator kind in the image).
    pub(crate) fn for_each_op(
        &self,
        mut f: impl FnMut(u16, &Op<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self.tables {
            #[cfg(feature = "blob")]
            Tables::Encoded { .. } => {
                for (index, op) in (0u16..).zip(self.ops()) {
                    f(index, &op?)?;
                }
            }
            Tables::Decoded { ops, .. } => {
                for (index, op) in (0u16..).zip(ops) {
                    f(index, op)?;
                }
            }
        }
        Ok(())
    }

    /// Validates everything; returns the bytes of scratch the operators need.
    #[cfg(feature = "blob")]
    fn validate(&self) -> Result<u32, Error> {
        let arena = u64::from(self.tensor_bytes);
        let last_op = self.op_count.checked_sub(1).ok_or(Error::Malformed)?;
        for id in 0..self.tensor_count {
            let t = self.tensor(id)?;
            let len = t.byte_len().ok_or(Error::BadTensor(id))? as u64;
            let zero_point_fits = t.dtype != DType::I8 || i8::try_from(t.zero_point).is_ok();
            if !t.scale.is_finite() || t.shape.is_empty() || !zero_point_fits {
                return Err(Error::BadTensor(id));
            }
            if u64::from(t.offset) + len > arena || t.first_op > t.last_op || t.last_op > last_op {
                return Err(Error::BadPlan { tensor: id });
            }
        }
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return Err(Error::Malformed);
        }
        for (i, &id) in self.inputs.iter().enumerate() {
            let repeated = self.inputs.iter().take(i).any(|&other| other == id);
            if self.tensor(id)?.first_op != 0 || repeated {
                return Err(Error::BadPlan { tensor: id });
            }
        }
        for &id in self.outputs.iter() {
            if self.tensor(id)?.last_op != last_op {
                return Err(Error::BadPlan { tensor: id });
            }
        }
        let mut ops = self.ops();
        let mut scratch = 0u32;
        let mut states = 0usize;
        for index in 0..self.op_count {
            let op = ops.next().ok_or(Error::BadOp(index))??;
            self.validate_lifetimes(index, &op)?;
            self.validate_rank(index, &op)?;
            let mut state_result = Ok(());
            op.for_each_state(|id| {
                states += 1;
                if state_result.is_ok() {
                    state_result = self.validate_state(id, last_op);
                }
            });
            state_result?;
            ops::validate(self, index, &op)?;
            // The whole arena's size must be a u32, as the plan's is.
            let needs = u32::try_from(ops::scratch(self, index, &op)?)
                .ok()
                .filter(|&n| n.checked_add(self.tensor_bytes).is_some())
                .ok_or(Error::BadParameter { op: index })?;
            scratch = scratch.max(needs);
        }
        if !ops.records.is_empty() {
            return Err(Error::Malformed);
        }
        // Every tensor that is neither a graph input nor state is written by exactly one
        // operator (the one its `first_op` names), so there must be as many as operators.
        let produced = usize::from(self.tensor_count).checked_sub(self.inputs.len() + states);
        if produced != Some(usize::from(self.op_count)) {
            return Err(Error::Malformed);
        }
        self.validate_no_overlap()?;
        Ok(scratch)
    }

    #[cfg(feature = "blob")]
    /// Tensors of more than [`MAX_RANK`] dimensions go only to operators that take any rank.
    fn validate_rank(&self, index: u16, op: &Op<'_>) -> Result<(), Error> {
        if op.takes_any_rank() {
            return Ok(());
        }
        let mut deep = false;
        let mut check = |id: TensorId| {
            deep |= self.tensor(id).is_ok_and(|t| t.shape.len() > MAX_RANK);
        };
        op.for_each_input(&mut check);
        op.for_each_state(&mut check);
        check(op.output());
        if deep {
            return Err(Error::ShapeMismatch { op: index });
        }
        Ok(())
    }

    #[cfg(feature = "blob")]
    /// A state tensor lives through the whole graph (so the plan gives it bytes of its own)
    /// and is neither a graph input nor a graph output.
    fn validate_state(&self, id: TensorId, last_op: u16) -> Result<(), Error> {
        let t = self.tensor(id)?;
        let io = self.inputs.contains(&id) || self.outputs.contains(&id);
        if t.first_op != 0 || t.last_op != last_op || io {
            return Err(Error::BadPlan { tensor: id });
        }
        Ok(())
    }

    #[cfg(feature = "blob")]
    /// Each operand must be live while the operator runs; its output is born there.
    fn validate_lifetimes(&self, index: u16, op: &Op<'_>) -> Result<(), Error> {
        let mut result = Ok(());
        op.for_each_input(|id| {
            let live = match self.tensor(id) {
                Ok(t) => {
                    let is_input = self.inputs.contains(&id);
                    t.first_op <= index && index <= t.last_op && (is_input || t.first_op < index)
                }
                Err(_) => false,
            };
            if !live && result.is_ok() {
                result = Err(Error::BadPlan { tensor: id });
            }
        });
        result?;
        let out = op.output();
        if self.tensor(out)?.first_op != index || self.inputs.contains(&out) {
            return Err(Error::BadPlan { tensor: out });
        }
        Ok(())
    }

    #[cfg(feature = "blob")]
    /// No two tensors that are live at the same time share a byte of the arena.
    ///
    /// Every tensor is born either as a graph input (before operator 0) or as the output of
    /// the operator its `first_op` names (`validate_lifetimes` holds each operator to that).
    /// Two tensors are live together exactly when the later-born one is born while the other
    /// is still live, so checking each tensor at its birth against the tensors live then (at
    /// most [`MAX_LIVE`]) checks every pair: linear in the graph's size, no allocation.
    fn validate_no_overlap(&self) -> Result<(), Error> {
        let mut live: HVec<Live, MAX_LIVE> = HVec::new();
        let mut born = |id: TensorId, now: u16| -> Result<(), Error> {
            let t = self.tensor(id)?;
            let (start, end) = span(&t);
            live.retain(|l| l.last_op >= now);
            if live.iter().any(|l| start < l.end && l.start < end) {
                return Err(Error::BadPlan { tensor: id });
            }
            let entry = Live {
                last_op: t.last_op,
                start,
                end,
            };
            live.push(entry).map_err(|_| Error::TooManyLive { op: now })
        };
        for &id in self.inputs.iter() {
            born(id, 0)?;
        }
        for op in self.ops() {
            let mut result = Ok(());
            op?.for_each_state(|id| {
                if result.is_ok() {
                    result = born(id, 0);
                }
            });
            result?;
        }
        for (index, op) in (0..self.op_count).zip(self.ops()) {
            born(op?.output(), index)?;
        }
        Ok(())
    }
}

/// A live tensor during the overlap check: until when, and where.
#[cfg(feature = "blob")]
#[derive(Debug, Clone, Copy)]
struct Live {
    last_op: u16,
    start: u64,
    end: u64,
}

/// Arena byte range of a validated tensor.
#[cfg(feature = "blob")]
fn span(t: &TensorDef) -> (u64, u64) {
    let start = u64::from(t.offset);
    (start, start + t.byte_len().unwrap_or(0) as u64)
}

/// The operators in execution order, decoded one after another from a blob or read from a
/// compiled-in table.
#[derive(Debug, Clone)]
pub struct OpIter<'a> {
    records: Records<'a>,
    index: u16,
    count: u16,
}

#[derive(Debug, Clone)]
enum Records<'a> {
    #[cfg(feature = "blob")]
    Encoded(&'a [u8]),
    Decoded(&'a [Op<'a>]),
}

#[cfg(feature = "blob")]
impl Records<'_> {
    /// Whether every record has been read (a blob's operator section holds nothing more).
    fn is_empty(&self) -> bool {
        match self {
            Records::Encoded(bytes) => bytes.is_empty(),
            Records::Decoded(_) => true,
        }
    }
}

impl<'a> Iterator for OpIter<'a> {
    type Item = Result<Op<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let index = self.index;
        self.index += 1;
        match self.records {
            #[cfg(feature = "blob")]
            Records::Encoded(bytes) => match postcard::take_from_bytes::<Op<'a>>(bytes) {
                Ok((op, rest)) => {
                    self.records = Records::Encoded(rest);
                    Some(Ok(op))
                }
                Err(_) => {
                    self.count = index; // stop after the first bad record
                    Some(Err(match crate::format::left_out(bytes) {
                        Some(name) => Error::UnsupportedOp { op: index, name },
                        None => Error::BadOp(index),
                    }))
                }
            },
            Records::Decoded(ops) => Some(
                ops.get(usize::from(index))
                    .cloned()
                    .ok_or(Error::BadOp(index)),
            ),
        }
    }
}
