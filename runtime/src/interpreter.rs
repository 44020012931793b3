//! Running a validated model over a caller-provided arena.

use crate::error::Error;
use crate::format::{DType, Op, TensorDef, TensorId};
use crate::kernels::Scratch;
use crate::model::Model;
use crate::ops;

/// Watches an inference operator by operator: per-layer dumps and profiles hook in here.
/// Every method does nothing by default, and `()` observes nothing, so `invoke` pays nothing.
pub trait Observer {
    /// Whether [`Observer::after`] wants the output: when `false` the interpreter does not
    /// look the output tensor up, so an observer that only counts (a profiler) adds nothing
    /// to the operators it measures.
    const WANTS_OUTPUT: bool = true;

    /// Called before operator `index` runs.
    fn before(&mut self, index: u16, op: &Op<'_>) {
        let _ = (index, op);
    }
    /// Called as soon as operator `index` has run, before anything else happens.
    fn ran(&mut self, index: u16) {
        let _ = index;
    }
    /// Called after operator `index` wrote `output` (the bytes of tensor `def`); only when
    /// [`Observer::WANTS_OUTPUT`].
    fn after(&mut self, index: u16, op: &Op<'_>, def: &TensorDef, output: &[u8]) {
        let _ = (index, op, def, output);
    }
}

impl Observer for () {
    const WANTS_OUTPUT: bool = false;
}

/// Runs a [`Model`] in an arena the caller owns: no heap, no state beyond two references.
#[derive(Debug)]
pub struct Interpreter<'m, 'a> {
    model: &'m Model<'a>,
    arena: &'m mut [u8],
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Binds `model` to `arena`, which must hold at least [`Model::arena_size`] bytes: the
    /// tensors as the memory plan places them, then the kernels' scratch.
    ///
    /// # Errors
    /// [`Error::ArenaTooSmall`] with the size the model needs.
    pub fn new(model: &'m Model<'a>, arena: &'m mut [u8]) -> Result<Self, Error> {
        if arena.len() < model.arena_size() {
            return Err(Error::ArenaTooSmall {
                needed: model.arena_size() as u32,
                available: u32::try_from(arena.len()).unwrap_or(u32::MAX),
            });
        }
        let mut interpreter = Interpreter { model, arena };
        interpreter.reset_state();
        Ok(interpreter)
    }

    /// Puts every state tensor back where a new interpreter starts (recurrent operators' state,
    /// TFLM's variable tensors: int8 ones to their zero point, others to 0). State otherwise
    /// carries from one [`Interpreter::invoke`] to the next, as in TFLM; a new interpreter, as
    /// for a newly installed model, always starts from reset state.
    pub fn reset_state(&mut self) {
        let (model, arena) = (self.model, &mut *self.arena);
        // Only a blob's undecodable record can fail here, and `parse` ruled that out.
        let _ = model.for_each_op(|_, op| {
            op.for_each_state(|id| {
                let Ok(def) = model.tensor(id) else {
                    return;
                };
                let fill = if def.dtype == DType::I8 {
                    def.zero_point as u8
                } else {
                    0
                };
                if let Some(bytes) = byte_range(&def).ok().and_then(|r| arena.get_mut(r)) {
                    bytes.fill(fill);
                }
            });
            Ok(())
        });
    }

    /// The model being run.
    pub fn model(&self) -> &'m Model<'a> {
        self.model
    }

    /// The bytes of graph input `index`, to fill before [`Interpreter::invoke`] (int8 values,
    /// or little-endian f32 for a float input).
    ///
    /// # Errors
    /// [`Error::NoSuchIo`] if the graph has no such input.
    pub fn input(&mut self, index: usize) -> Result<&mut [u8], Error> {
        let def = self.io_def(self.model.inputs(), index)?;
        let range = byte_range(&def)?;
        self.arena
            .get_mut(range)
            .ok_or(Error::BadPlan { tensor: 0 })
    }

    /// Copies `data` into graph input `index`.
    ///
    /// # Errors
    /// [`Error::NoSuchIo`], or [`Error::WrongLength`] if `data` is not the input's byte length.
    pub fn set_input(&mut self, index: usize, data: &[u8]) -> Result<(), Error> {
        let dst = self.input(index)?;
        if dst.len() != data.len() {
            return Err(Error::WrongLength {
                expected: dst.len() as u32,
                got: data.len() as u32,
            });
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    /// The bytes of graph output `index`, valid after [`Interpreter::invoke`].
    ///
    /// # Errors
    /// [`Error::NoSuchIo`] if the graph has no such output.
    pub fn output(&self, index: usize) -> Result<&[u8], Error> {
        let def = self.io_def(self.model.outputs(), index)?;
        self.arena
            .get(byte_range(&def)?)
            .ok_or(Error::BadPlan { tensor: 0 })
    }

    /// Runs every operator once.
    ///
    /// # Errors
    /// Only what validation already ruled out; kept as a `Result` so that a runtime built
    /// without an operator reports [`Error::UnsupportedOp`] instead of stopping.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_observed(&mut ())
    }

    /// [`Interpreter::invoke`], telling `observer` about each operator.
    ///
    /// # Errors
    /// As [`Interpreter::invoke`].
    pub fn invoke_observed<O: Observer>(&mut self, observer: &mut O) -> Result<(), Error> {
        let (model, arena) = (self.model, &mut *self.arena);
        model.for_each_op(|index, op| {
            observer.before(index, op);
            let (tensors, scratch) = arena
                .split_at_mut_checked(model.tensor_bytes())
                .ok_or(Error::BadPlan { tensor: 0 })?;
            ops::eval(model, index, op, tensors, Scratch::new(scratch))?;
            observer.ran(index);
            if O::WANTS_OUTPUT {
                let def = model.tensor(op.output())?;
                let out = arena
                    .get(byte_range(&def)?)
                    .ok_or(Error::BadPlan { tensor: 0 })?;
                observer.after(index, op, &def, out);
            }
            Ok(())
        })
    }

    fn io_def(&self, ids: &[TensorId], index: usize) -> Result<TensorDef, Error> {
        let id = ids.get(index).ok_or(Error::NoSuchIo(index as u8))?;
        self.model.tensor(*id)
    }
}

fn byte_range(def: &TensorDef) -> Result<core::ops::Range<usize>, Error> {
    let start = def.offset as usize;
    let len = def.byte_len().ok_or(Error::BadPlan { tensor: 0 })?;
    Ok(start..start.saturating_add(len))
}
