//! Operators: for each, `validate` (run once by `Model::parse`: every shape, length and
//! parameter the kernel relies on) and `eval` (run by the interpreter: fetch the operands
//! from the arena and call the kernel). Kernels never see unvalidated data.

mod activations;
mod binary;
mod conv;
mod elementwise;
mod fully_connected;
mod pool;
mod shape;

use crate::error::Error;
use crate::format::{Clamp, DType, Multiplier, Op, Requant, TensorDef, TensorId};
use crate::kernels::Scratch;
use crate::model::Model;

/// What an operator's `validate` and `eval` can ask about the graph.
pub(crate) struct Cx<'m, 'a> {
    pub model: &'m Model<'a>,
    pub index: u16,
}

impl Cx<'_, '_> {
    pub fn tensor(&self, id: TensorId) -> Result<TensorDef, Error> {
        self.model.tensor(id)
    }

    pub fn shape_err(&self) -> Error {
        Error::ShapeMismatch { op: self.index }
    }

    pub fn param_err(&self) -> Error {
        Error::BadParameter { op: self.index }
    }

    /// `ok` or a shape error.
    pub fn check_shape(&self, ok: bool) -> Result<(), Error> {
        if ok { Ok(()) } else { Err(self.shape_err()) }
    }

    /// `ok` or a parameter error.
    pub fn check_param(&self, ok: bool) -> Result<(), Error> {
        if ok { Ok(()) } else { Err(self.param_err()) }
    }

    /// Tensor `id`, which must have type `dtype`.
    pub fn typed(&self, id: TensorId, dtype: DType) -> Result<TensorDef, Error> {
        let t = self.tensor(id)?;
        self.check_shape(t.dtype == dtype)?;
        Ok(t)
    }

    pub fn check_multiplier(&self, m: Multiplier) -> Result<(), Error> {
        self.check_param((-31..=30).contains(&m.shift))
    }

    pub fn check_clamp(&self, c: Clamp) -> Result<(), Error> {
        self.check_param(c.min <= c.max)
    }

    /// Per-channel parameters must cover exactly `channels` channels.
    pub fn check_requant(&self, r: &Requant<'_>, channels: usize) -> Result<(), Error> {
        match *r {
            Requant::PerTensor(m) => self.check_multiplier(m),
            Requant::PerChannel {
                multipliers,
                shifts,
            } => {
                self.check_param(shifts.len() == channels && multipliers.len() == 4 * channels)?;
                self.check_param(shifts.iter().all(|&s| (-31..=30).contains(&(s as i8))))
            }
        }
    }

    /// A bias, if present, holds one i32 per channel.
    pub fn check_bias(&self, bias: Option<&[u8]>, channels: usize) -> Result<(), Error> {
        self.check_param(bias.is_none_or(|b| b.len() == 4 * channels))
    }
}

pub(crate) fn validate(model: &Model<'_>, index: u16, op: &Op<'_>) -> Result<(), Error> {
    let cx = Cx { model, index };
    match op {
        Op::FullyConnected(o) => fully_connected::validate(&cx, o),
        Op::Conv2d(o) => conv::validate_conv(&cx, o),
        Op::DepthwiseConv2d(o) => conv::validate_depthwise(&cx, o),
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => pool::validate(&cx, o),
        Op::Add(o) => binary::validate_add(&cx, o),
        Op::Mul(o) => binary::validate_mul(&cx, o),
        Op::Rescale(o) => elementwise::validate_rescale(&cx, o),
        Op::Softmax(o) => elementwise::validate_softmax(&cx, o),
        Op::Reshape(o) => elementwise::validate_reshape(&cx, o),
        Op::Quantize(o) => elementwise::validate_quantize(&cx, o),
        Op::Dequantize(o) => elementwise::validate_dequantize(&cx, o),
        Op::Logistic(o) => activations::validate_logistic(&cx, o),
        Op::Tanh(o) => activations::validate_tanh(&cx, o),
        Op::LeakyRelu(o) => activations::validate_leaky_relu(&cx, o),
        Op::HardSwish(o) => activations::validate_hard_swish(&cx, o),
        Op::Concatenation(o) => shape::validate_concatenation(&cx, o),
        Op::Pad(o) => shape::validate_pad(&cx, o),
        Op::Mean(o) => shape::validate_mean(&cx, o),
    }
}

/// Bytes of scratch the kernel of validated operator `op` takes.
pub(crate) fn scratch(model: &Model<'_>, index: u16, op: &Op<'_>) -> Result<usize, Error> {
    let cx = Cx { model, index };
    match op {
        Op::FullyConnected(o) => fully_connected::scratch(&cx, o),
        Op::Conv2d(o) => conv::scratch_conv(&cx, o),
        Op::DepthwiseConv2d(o) => conv::scratch_depthwise(&cx, o),
        Op::Add(o) => binary::scratch_add(&cx, o),
        _ => Ok(0),
    }
}

/// Runs operator `op` over the tensors in `arena`, its kernel's working memory in `scratch`.
pub(crate) fn eval(
    model: &Model<'_>,
    index: u16,
    op: &Op<'_>,
    arena: &mut [u8],
    scratch: Scratch<'_>,
) -> Result<(), Error> {
    let cx = Cx { model, index };
    match op {
        Op::FullyConnected(o) => fully_connected::eval(&cx, o, arena, scratch),
        Op::Conv2d(o) => conv::eval_conv(&cx, o, arena, scratch),
        Op::DepthwiseConv2d(o) => conv::eval_depthwise(&cx, o, arena, scratch),
        Op::AveragePool2d(o) => pool::eval_average(&cx, o, arena),
        Op::MaxPool2d(o) => pool::eval_max(&cx, o, arena),
        Op::Add(o) => binary::eval_add(&cx, o, arena, scratch),
        Op::Mul(o) => binary::eval_mul(&cx, o, arena),
        Op::Rescale(o) => elementwise::eval_rescale(&cx, o, arena),
        Op::Softmax(o) => elementwise::eval_softmax(&cx, o, arena),
        Op::Reshape(o) => elementwise::eval_reshape(&cx, o, arena),
        Op::Quantize(o) => elementwise::eval_quantize(&cx, o, arena),
        Op::Dequantize(o) => elementwise::eval_dequantize(&cx, o, arena),
        Op::Logistic(o) => activations::eval_logistic(&cx, o, arena),
        Op::Tanh(o) => activations::eval_tanh(&cx, o, arena),
        Op::LeakyRelu(o) => activations::eval_leaky_relu(&cx, o, arena),
        Op::HardSwish(o) => activations::eval_hard_swish(&cx, o, arena),
        Op::Concatenation(o) => shape::eval_concatenation(&cx, o, arena),
        Op::Pad(o) => shape::eval_pad(&cx, o, arena),
        Op::Mean(o) => shape::eval_mean(&cx, o, arena),
    }
}

/// The operator's output bytes (mutable) and its `N` inputs' bytes, carved out of the arena.
/// The validated plan keeps an operator's output apart from its inputs; this re-checks it
/// (and the bounds) instead of trusting it, so a bad plan is an error, never aliasing.
pub(crate) fn operands<'b, const N: usize>(
    arena: &'b mut [u8],
    output: &TensorDef,
    inputs: [&TensorDef; N],
) -> Result<(&'b mut [u8], [&'b [u8]; N]), Error> {
    let bad = Error::BadPlan { tensor: 0 };
    let range = |t: &TensorDef| -> Result<(usize, usize), Error> {
        let start = t.offset as usize;
        Ok((
            start,
            start.checked_add(t.byte_len().ok_or(bad)?).ok_or(bad)?,
        ))
    };
    let (o0, o1) = range(output)?;
    if o1 > arena.len() {
        return Err(bad);
    }
    let (below, rest) = arena.split_at_mut(o0);
    let (out, above) = rest.split_at_mut(o1 - o0);
    let mut ins: [&[u8]; N] = [&[]; N];
    for (slot, t) in ins.iter_mut().zip(inputs) {
        let (i0, i1) = range(t)?;
        *slot = if i1 <= o0 {
            below.get(i0..i1)
        } else if i0 >= o1 {
            above.get(i0 - o1..i1 - o1)
        } else {
            None
        }
        .ok_or(bad)?;
    }
    Ok((out, ins))
}
