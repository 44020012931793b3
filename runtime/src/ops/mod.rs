//! Operators: for each, `validate` (run once by `Model::parse`: every shape, length and
//! parameter the kernel relies on) and `eval` (run by the interpreter: fetch the operands
//! from the arena and call the kernel). Kernels never see unvalidated data.
//!
//! Each operator (or family) is a cargo feature (`op-conv`, ..., all of them in `all-ops`, the
//! default): the dispatch below names them, as does the list of operator kinds in
//! `format.rs` (whose decoder skips the kinds left out), and a module is compiled only with
//! one of its operators. A blob with an operator the runtime was built without is refused
//! while its records are decoded or by `validate` ([`Error::UnsupportedOp`]).

// With operators left out, the helpers (and dispatch arguments) only they use are unused;
// without `blob`, so is validation (a compiled-in model was validated when it was built).
#![cfg_attr(
    any(not(feature = "all-ops"), not(feature = "blob")),
    allow(dead_code, unused_variables)
)]

#[cfg(feature = "op-activations")]
mod activations;
#[cfg(feature = "op-audio-frontend")]
mod audio;
#[cfg(any(
    feature = "op-add",
    feature = "op-mul",
    feature = "op-sub",
    feature = "op-maximum",
    feature = "op-squared-difference",
    feature = "op-prelu"
))]
mod binary;
// Also the window geometry of the pools.
#[cfg(any(
    feature = "op-conv",
    feature = "op-transpose-conv",
    feature = "int16",
    feature = "op-depthwise",
    feature = "op-average-pool",
    feature = "op-max-pool"
))]
mod conv;
#[cfg(any(
    feature = "op-rescale",
    feature = "op-softmax",
    feature = "op-reshape",
    feature = "op-quantize",
    feature = "op-abs",
    feature = "op-rsqrt",
    feature = "op-l2-normalization",
    feature = "op-log-softmax"
))]
mod elementwise;
#[cfg(any(feature = "op-fully-connected", feature = "op-fully-connected-rows"))]
mod fully_connected;
#[cfg(test)]
pub(crate) mod harness;
#[cfg(feature = "op-batch-matmul")]
mod matmul;
#[cfg(any(feature = "op-average-pool", feature = "op-max-pool"))]
mod pool;
#[cfg(any(feature = "op-svdf", feature = "op-lstm"))]
mod recurrent;
#[cfg(feature = "op-resize")]
mod resize;
#[cfg(any(
    feature = "op-concatenation",
    feature = "op-pad",
    feature = "op-mean",
    feature = "op-reduce",
    feature = "op-slice",
    feature = "op-gather",
    feature = "op-transpose",
    feature = "op-arg-min-max"
))]
mod shape;
#[cfg(feature = "int16")]
mod wide;

use crate::error::Error;
#[allow(unused_imports)] // not with every operator built in
use crate::format::ReduceKind;
use crate::format::{Clamp, Constant, DType, Multiplier, Op, Requant, TensorDef, TensorId};
#[allow(unused_imports)] // not with every operator built in
use crate::kernels::reference;
use crate::kernels::reference::Broadcast;
use crate::kernels::{KernelPath, Scratch};
use crate::model::Model;
use heapless::Vec as HVec;

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

    /// The broadcast of a binary operator's inputs of types `[input1, input2, output]`:
    /// shapes compatible by NumPy rules, the output's shape (padded with leading 1s) the
    /// broadcast shape.
    #[allow(dead_code)] // not with every operator built in
    pub fn broadcast(
        &self,
        [a, b, out]: [TensorId; 3],
        [ta, tb, tout]: [DType; 3],
    ) -> Result<Broadcast, Error> {
        let (a, b, out) = (
            self.typed(a, ta)?,
            self.typed(b, tb)?,
            self.typed(out, tout)?,
        );
        let bc = Broadcast::new(&a.shape, &b.shape).ok_or(self.shape_err())?;
        let want = Broadcast::new(&out.shape, &[1]).map(|o| o.dims());
        self.check_shape(Some(bc.dims()) == want && bc.len() == out.elements())?;
        Ok(bc)
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

    /// An operator that takes an optional kernel path needs that path built.
    pub fn check_path(&self, path: Option<KernelPath>) -> Result<(), Error> {
        match path {
            Some(p) if !p.built() => Err(Error::UnsupportedOp {
                op: self.index,
                name: p.name(),
            }),
            _ => Ok(()),
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
        #[cfg(feature = "op-fully-connected-rows")]
        Op::FullyConnected(o) => fully_connected::validate(&cx, o),
        #[cfg(feature = "op-fully-connected")]
        Op::FullyConnectedPaired(o) => fully_connected::validate_paired(&cx, o),
        #[cfg(feature = "op-conv")]
        Op::Conv2d(o) => conv::validate_conv(&cx, o),
        #[cfg(feature = "op-depthwise")]
        Op::DepthwiseConv2d(o) => conv::validate_depthwise(&cx, o),
        #[cfg(feature = "op-average-pool")]
        Op::AveragePool2d(o) => pool::validate(&cx, o),
        #[cfg(feature = "op-max-pool")]
        Op::MaxPool2d(o) => pool::validate(&cx, o),
        #[cfg(feature = "op-add")]
        Op::Add(o) => binary::validate_add(&cx, o),
        #[cfg(feature = "op-mul")]
        Op::Mul(o) => binary::validate_mul(&cx, o),
        #[cfg(feature = "op-rescale")]
        Op::Rescale(o) => elementwise::validate_rescale(&cx, o),
        #[cfg(feature = "op-softmax")]
        Op::Softmax(o) => elementwise::validate_softmax(&cx, o),
        #[cfg(feature = "op-reshape")]
        Op::Reshape(o) => elementwise::validate_reshape(&cx, o),
        #[cfg(feature = "op-quantize")]
        Op::Quantize(o) => elementwise::validate_quantize(&cx, o),
        #[cfg(feature = "op-quantize")]
        Op::Dequantize(o) => elementwise::validate_dequantize(&cx, o),
        #[cfg(feature = "op-activations")]
        Op::Logistic(o) => activations::validate_logistic(&cx, o),
        #[cfg(feature = "op-activations")]
        Op::Tanh(o) => activations::validate_tanh(&cx, o),
        #[cfg(feature = "op-activations")]
        Op::LeakyRelu(o) => activations::validate_leaky_relu(&cx, o),
        #[cfg(feature = "op-activations")]
        Op::HardSwish(o) => activations::validate_hard_swish(&cx, o),
        #[cfg(feature = "op-concatenation")]
        Op::Concatenation(o) => shape::validate_concatenation(&cx, o),
        #[cfg(feature = "op-pad")]
        Op::Pad(o) => shape::validate_pad(&cx, o),
        #[cfg(feature = "op-mean")]
        Op::Mean(o) => shape::validate_mean(&cx, o),
        #[cfg(feature = "op-transpose")]
        Op::Transpose(o) => shape::validate_transpose(&cx, o),
        #[cfg(feature = "op-rescale")]
        Op::Clip(o) => elementwise::validate_clip(&cx, o),
        Op::Constant(o) => validate_constant(&cx, o),
        #[cfg(feature = "op-sub")]
        Op::Sub(o) => binary::validate_add(&cx, o),
        #[cfg(feature = "op-maximum")]
        Op::Maximum(o) | Op::Minimum(o) => binary::validate_min_max(&cx, o),
        #[cfg(feature = "op-squared-difference")]
        Op::SquaredDifference(o) => binary::validate_squared_difference(&cx, o),
        #[cfg(feature = "op-mean")]
        Op::Reduce(o) if o.kind == ReduceKind::Mean => shape::validate_reduce(&cx, o),
        #[cfg(feature = "op-reduce")]
        Op::Reduce(o) if o.kind != ReduceKind::Mean => shape::validate_reduce(&cx, o),
        #[cfg(feature = "op-slice")]
        Op::StridedSlice(o) => shape::validate_strided_slice(&cx, o),
        #[cfg(feature = "op-gather")]
        Op::Gather(o) => shape::validate_gather(&cx, o),
        #[cfg(feature = "op-prelu")]
        Op::Prelu(o) => binary::validate_prelu(&cx, o),
        #[cfg(feature = "op-abs")]
        Op::Abs(o) => elementwise::validate_abs(&cx, o),
        #[cfg(feature = "op-rsqrt")]
        Op::Rsqrt(o) => elementwise::validate_rsqrt(&cx, o),
        #[cfg(feature = "op-l2-normalization")]
        Op::L2Normalization(o) => elementwise::validate_l2_normalization(&cx, o),
        #[cfg(feature = "op-log-softmax")]
        Op::LogSoftmax(o) => elementwise::validate_log_softmax(&cx, o),
        #[cfg(feature = "op-arg-min-max")]
        Op::ArgMinMax(o) => shape::validate_arg_min_max(&cx, o),
        #[cfg(feature = "op-transpose-conv")]
        Op::TransposeConv(o) => conv::validate_transpose_conv(&cx, o),
        #[cfg(feature = "op-resize")]
        Op::ResizeNearest(o) => resize::validate_nearest(&cx, o),
        #[cfg(feature = "op-resize")]
        Op::ResizeBilinear(o) => resize::validate_bilinear(&cx, o),
        #[cfg(feature = "op-batch-matmul")]
        Op::BatchMatMul(o) => matmul::validate(&cx, o),
        #[cfg(feature = "op-pad")]
        Op::PadWith(o) => shape::validate_pad(&cx, &o.pad),
        #[cfg(feature = "op-gather")]
        Op::GatherNd(o) => shape::validate_gather_nd(&cx, o),
        #[cfg(feature = "op-quantize")]
        Op::Requantize(o) => elementwise::validate_requantize(&cx, o),
        #[cfg(feature = "op-svdf")]
        Op::Svdf(o) => recurrent::validate_svdf(&cx, o),
        #[cfg(feature = "op-lstm")]
        Op::Lstm(o) => recurrent::validate_lstm(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-conv"))]
        Op::Conv2d16(o) => wide::validate_conv(&cx, o, false),
        #[cfg(all(feature = "int16", feature = "op-depthwise"))]
        Op::DepthwiseConv2d16(o) => wide::validate_conv(&cx, o, true),
        #[cfg(all(feature = "int16", feature = "op-fully-connected"))]
        Op::FullyConnected16(o) => wide::validate_fully_connected(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-average-pool"))]
        Op::AveragePool16(o) => wide::validate_pool(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-max-pool"))]
        Op::MaxPool16(o) => wide::validate_pool(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-add"))]
        Op::Add16(o) => wide::validate_add(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-sub"))]
        Op::Sub16(o) => wide::validate_add(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-mul"))]
        Op::Mul16(o) => wide::validate_mul(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-softmax"))]
        Op::Softmax16(o) => wide::validate_softmax(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-activations"))]
        Op::Logistic16(o) | Op::Tanh16(o) => wide::validate_sigmoidal(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-rescale"))]
        Op::Rescale16(o) => wide::validate_rescale(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-squared-difference"))]
        Op::SquaredDifference16(o) => wide::validate_squared_difference(&cx, o),
        #[cfg(all(feature = "int16", feature = "op-transpose-conv"))]
        Op::TransposeConv16(o) => wide::validate_transpose_conv(&cx, o),
        #[cfg(feature = "op-audio-frontend")]
        Op::AudioFrontend(o) => audio::validate(&cx, o),
        #[allow(unreachable_patterns)] // not with every operator built in
        _ => Err(unsupported(index, op)),
    }
}

/// A constant fills its output exactly (any element type: the bytes are copied).
fn validate_constant(cx: &Cx<'_, '_>, o: &Constant<'_>) -> Result<(), Error> {
    let out = cx.tensor(o.output)?;
    cx.check_param(out.byte_len() == Some(o.data.len()))
}

fn eval_constant(cx: &Cx<'_, '_>, o: &Constant<'_>, arena: &mut [u8]) -> Result<(), Error> {
    let (out, []) = operands(arena, &cx.tensor(o.output)?, [])?;
    let bytes = out
        .get_mut(..o.data.len())
        .ok_or(Error::BadPlan { tensor: o.output })?;
    bytes.copy_from_slice(o.data);
    Ok(())
}

/// Operator `index`, `op`, is of a kind this build leaves out.
fn unsupported(index: u16, op: &Op<'_>) -> Error {
    Error::UnsupportedOp {
        op: index,
        name: op.name(),
    }
}

/// The optional kernel path ([`KernelPath`]) validated operator `op` takes on a target with
/// `isa`'s micro-kernels, if any (for `mote::compile`, which makes the firmware's build
/// assert it has that path).
#[cfg(feature = "compile")]
#[cfg_attr(
    not(any(feature = "op-conv", feature = "op-depthwise")),
    allow(unused_variables)
)]
pub(crate) fn path(
    model: &Model<'_>,
    op: &Op<'_>,
    isa: crate::kernels::Isa,
) -> Result<Option<KernelPath>, Error> {
    Ok(match op {
        #[cfg(feature = "op-conv")]
        Op::Conv2d(o) => {
            let g = conv::geometry(&model.tensor(o.input)?, &model.tensor(o.output)?, o.window);
            conv::path_conv(&g, o, isa)
        }
        #[cfg(feature = "op-depthwise")]
        Op::DepthwiseConv2d(o) => {
            let g = conv::geometry(&model.tensor(o.input)?, &model.tensor(o.output)?, o.window);
            conv::path_depthwise(&g, o, isa)
        }
        _ => None,
    })
}

/// Whether validated operator `op` takes CONV_2D's blocks of two columns on a target with
/// `isa`'s micro-kernels (`op-conv-pairs`, for `mote::compile`).
#[cfg(feature = "compile")]
#[cfg_attr(not(feature = "op-conv"), allow(unused_variables))]
pub(crate) fn takes_conv_pairs(
    model: &Model<'_>,
    op: &Op<'_>,
    isa: crate::kernels::Isa,
) -> Result<bool, Error> {
    Ok(match op {
        #[cfg(feature = "op-conv")]
        Op::Conv2d(o) => {
            let g = conv::geometry(&model.tensor(o.input)?, &model.tensor(o.output)?, o.window);
            crate::kernels::optimized::conv::takes_pairs(&g, o.filter.len(), &o.requant, isa)
        }
        _ => false,
    })
}

/// Bytes of scratch the kernel of validated operator `op` takes.
pub(crate) fn scratch(model: &Model<'_>, index: u16, op: &Op<'_>) -> Result<usize, Error> {
    let cx = Cx { model, index };
    match op {
        #[cfg(feature = "op-fully-connected")]
        Op::FullyConnectedPaired(o) => fully_connected::scratch_paired(&cx, o),
        #[cfg(feature = "op-conv")]
        Op::Conv2d(o) => conv::scratch_conv(&cx, o),
        #[cfg(feature = "op-depthwise")]
        Op::DepthwiseConv2d(o) => conv::scratch_depthwise(&cx, o),
        #[cfg(feature = "op-add")]
        Op::Add(o) => binary::scratch_add(&cx, o),
        #[cfg(feature = "op-audio-frontend")]
        Op::AudioFrontend(o) => audio::scratch(&cx, o),
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
        #[cfg(feature = "op-fully-connected-rows")]
        Op::FullyConnected(o) => fully_connected::eval(&cx, o, arena),
        #[cfg(feature = "op-fully-connected")]
        Op::FullyConnectedPaired(o) => fully_connected::eval_paired(&cx, o, arena, scratch),
        #[cfg(feature = "op-conv")]
        Op::Conv2d(o) => conv::eval_conv(&cx, o, arena, scratch),
        #[cfg(feature = "op-depthwise")]
        Op::DepthwiseConv2d(o) => conv::eval_depthwise(&cx, o, arena, scratch),
        #[cfg(feature = "op-average-pool")]
        Op::AveragePool2d(o) => pool::eval_average(&cx, o, arena),
        #[cfg(feature = "op-max-pool")]
        Op::MaxPool2d(o) => pool::eval_max(&cx, o, arena),
        #[cfg(feature = "op-add")]
        Op::Add(o) => binary::eval_add(&cx, o, arena, scratch),
        #[cfg(feature = "op-mul")]
        Op::Mul(o) => binary::eval_mul(&cx, o, arena),
        #[cfg(feature = "op-rescale")]
        Op::Rescale(o) => elementwise::eval_rescale(&cx, o, arena),
        #[cfg(feature = "op-softmax")]
        Op::Softmax(o) => elementwise::eval_softmax(&cx, o, arena),
        #[cfg(feature = "op-reshape")]
        Op::Reshape(o) => elementwise::eval_reshape(&cx, o, arena),
        #[cfg(feature = "op-quantize")]
        Op::Quantize(o) => elementwise::eval_quantize(&cx, o, arena),
        #[cfg(feature = "op-quantize")]
        Op::Dequantize(o) => elementwise::eval_dequantize(&cx, o, arena),
        #[cfg(feature = "op-activations")]
        Op::Logistic(o) => activations::eval_logistic(&cx, o, arena),
        #[cfg(feature = "op-activations")]
        Op::Tanh(o) => activations::eval_tanh(&cx, o, arena),
        #[cfg(feature = "op-activations")]
        Op::LeakyRelu(o) => activations::eval_leaky_relu(&cx, o, arena),
        #[cfg(feature = "op-activations")]
        Op::HardSwish(o) => activations::eval_hard_swish(&cx, o, arena),
        #[cfg(feature = "op-concatenation")]
        Op::Concatenation(o) => shape::eval_concatenation(&cx, o, arena),
        #[cfg(feature = "op-pad")]
        Op::Pad(o) => shape::eval_pad(&cx, o, arena),
        #[cfg(feature = "op-mean")]
        Op::Mean(o) => shape::eval_mean(&cx, o, arena),
        #[cfg(feature = "op-transpose")]
        Op::Transpose(o) => shape::eval_transpose(&cx, o, arena),
        #[cfg(feature = "op-rescale")]
        Op::Clip(o) => elementwise::eval_clip(&cx, o, arena),
        Op::Constant(o) => eval_constant(&cx, o, arena),
        #[cfg(feature = "op-sub")]
        Op::Sub(o) => binary::eval_with_add_params(&cx, o, arena, reference::sub),
        #[cfg(feature = "op-maximum")]
        Op::Maximum(o) => binary::eval_min_max(&cx, o, arena, true),
        #[cfg(feature = "op-maximum")]
        Op::Minimum(o) => binary::eval_min_max(&cx, o, arena, false),
        #[cfg(feature = "op-squared-difference")]
        Op::SquaredDifference(o) => {
            binary::eval_with_add_params(&cx, o, arena, reference::squared_difference)
        }
        #[cfg(any(feature = "op-mean", feature = "op-reduce"))]
        Op::Reduce(o) => shape::eval_reduce(&cx, o, arena),
        #[cfg(feature = "op-slice")]
        Op::StridedSlice(o) => shape::eval_strided_slice(&cx, o, arena),
        #[cfg(feature = "op-gather")]
        Op::Gather(o) => shape::eval_gather(&cx, o, arena),
        #[cfg(feature = "op-prelu")]
        Op::Prelu(o) => binary::eval_prelu(&cx, o, arena),
        #[cfg(feature = "op-abs")]
        Op::Abs(o) => elementwise::eval_abs(&cx, o, arena),
        #[cfg(feature = "op-rsqrt")]
        Op::Rsqrt(o) => elementwise::eval_rsqrt(&cx, o, arena),
        #[cfg(feature = "op-l2-normalization")]
        Op::L2Normalization(o) => elementwise::eval_l2_normalization(&cx, o, arena),
        #[cfg(feature = "op-log-softmax")]
        Op::LogSoftmax(o) => elementwise::eval_log_softmax(&cx, o, arena),
        #[cfg(feature = "op-arg-min-max")]
        Op::ArgMinMax(o) => shape::eval_arg_min_max(&cx, o, arena),
        #[cfg(feature = "op-transpose-conv")]
        Op::TransposeConv(o) => conv::eval_transpose_conv(&cx, o, arena),
        #[cfg(feature = "op-resize")]
        Op::ResizeNearest(o) => resize::eval_nearest(&cx, o, arena),
        #[cfg(feature = "op-resize")]
        Op::ResizeBilinear(o) => resize::eval_bilinear(&cx, o, arena),
        #[cfg(feature = "op-batch-matmul")]
        Op::BatchMatMul(o) => matmul::eval(&cx, o, arena),
        #[cfg(feature = "op-pad")]
        Op::PadWith(o) => shape::eval_pad_with(&cx, &o.pad, i32::from(o.value), arena),
        #[cfg(feature = "op-gather")]
        Op::GatherNd(o) => shape::eval_gather_nd(&cx, o, arena),
        #[cfg(feature = "op-quantize")]
        Op::Requantize(o) => elementwise::eval_requantize(&cx, o, arena),
        #[cfg(feature = "op-svdf")]
        Op::Svdf(o) => recurrent::eval_svdf(&cx, o, arena),
        #[cfg(feature = "op-lstm")]
        Op::Lstm(o) => recurrent::eval_lstm(&cx, o, arena),
        #[cfg(all(feature = "int16", feature = "op-conv"))]
        Op::Conv2d16(o) => wide::eval_conv(&cx, o, false, arena),
        #[cfg(all(feature = "int16", feature = "op-depthwise"))]
        Op::DepthwiseConv2d16(o) => wide::eval_conv(&cx, o, true, arena),
        #[cfg(all(feature = "int16", feature = "op-fully-connected"))]
        Op::FullyConnected16(o) => wide::eval_fully_connected(&cx, o, arena),
        #[cfg(all(feature = "int16", feature = "op-average-pool"))]
        Op::AveragePool16(o) => wide::eval_pool(&cx, o, true, arena),
        #[cfg(all(feature = "int16", feature = "op-max-pool"))]
        Op::MaxPool16(o) => wide::eval_pool(&cx, o, false, arena),
        #[cfg(all(feature = "int16", feature = "op-add"))]
        Op::Add16(o) => wide::eval_add(&cx, o, false, arena),
        #[cfg(all(feature = "int16", feature = "op-sub"))]
        Op::Sub16(o) => wide::eval_add(&cx, o, true, arena),
        #[cfg(all(feature = "int16", feature = "op-mul"))]
        Op::Mul16(o) => wide::eval_mul(&cx, o, arena),
        #[cfg(all(feature = "int16", feature = "op-softmax"))]
        Op::Softmax16(o) => wide::eval_softmax(&cx, o, arena),
        #[cfg(all(feature = "int16", feature = "op-activations"))]
        Op::Logistic16(o) => wide::eval_sigmoidal(&cx, o, true, arena),
        #[cfg(all(feature = "int16", feature = "op-activations"))]
        Op::Tanh16(o) => wide::eval_sigmoidal(&cx, o, false, arena),
        #[cfg(all(feature = "int16", feature = "op-rescale"))]
        Op::Rescale16(o) => wide::eval_rescale(&cx, o, arena),
        #[cfg(all(feature = "int16", feature = "op-squared-difference"))]
        Op::SquaredDifference16(o) => wide::eval_squared_difference(&cx, o, arena),
        #[cfg(all(feature = "int16", feature = "op-transpose-conv"))]
        Op::TransposeConv16(o) => wide::eval_transpose_conv(&cx, o, arena),
        #[cfg(feature = "op-audio-frontend")]
        Op::AudioFrontend(o) => audio::eval(&cx, o, arena, scratch),
        // Unreachable: `validate` refused the blob.
        #[allow(unreachable_patterns)]
        _ => Err(unsupported(index, op)),
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

/// What [`operands_mut`] carves: the written tensors' bytes, then the inputs'.
#[allow(dead_code)] // not with every operator built in
type Carved<'b, const M: usize, const N: usize> = ([&'b mut [u8]; M], [&'b [u8]; N]);

/// The bytes of `M` tensors an operator writes (its output and the state it rewrites in
/// place) and of its `N` inputs, carved out of the arena: as [`operands`], every range is
/// checked, and the written ones must not overlap each other or any input.
#[allow(dead_code)] // not with every operator built in
pub(crate) fn operands_mut<'b, const M: usize, const N: usize>(
    arena: &'b mut [u8],
    written: [&TensorDef; M],
    inputs: [&TensorDef; N],
) -> Result<Carved<'b, M, N>, Error> {
    let bad = Error::BadPlan { tensor: 0 };
    let range = |t: &TensorDef| -> Result<(usize, usize), Error> {
        let start = t.offset as usize;
        Ok((
            start,
            start.checked_add(t.byte_len().ok_or(bad)?).ok_or(bad)?,
        ))
    };
    let mut spans = [(0usize, 0usize); M];
    for (span, t) in spans.iter_mut().zip(written) {
        *span = range(t)?;
    }
    let mut order: [usize; M] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| spans.get(i).map_or(0, |s| s.0));
    // Walk the arena from the start: each written range in turn, the gaps kept for inputs.
    let mut outs: [&'b mut [u8]; M] = core::array::from_fn(|_| <&mut [u8]>::default());
    let mut gaps: HVec<(usize, &'b [u8]), 8> = HVec::new();
    let (mut rest, mut at) = (arena, 0usize);
    for &i in &order {
        let (start, end) = spans.get(i).copied().ok_or(bad)?;
        let gap_len = start.checked_sub(at).ok_or(bad)?;
        let (gap, tail) = rest.split_at_mut_checked(gap_len).ok_or(bad)?;
        let (mine, tail) = tail.split_at_mut_checked(end - start).ok_or(bad)?;
        gaps.push((at, gap)).map_err(|_| bad)?;
        *outs.get_mut(i).ok_or(bad)? = mine;
        (rest, at) = (tail, end);
    }
    gaps.push((at, rest)).map_err(|_| bad)?;
    let mut ins: [&[u8]; N] = [&[]; N];
    for (slot, t) in ins.iter_mut().zip(inputs) {
        let (i0, i1) = range(t)?;
        *slot = gaps
            .iter()
            .find_map(|&(g0, gap)| gap.get(i0.checked_sub(g0)?..i1.checked_sub(g0)?))
            .ok_or(bad)?;
    }
    Ok((outs, ins))
}

#[cfg(test)]
mod tests {
    /// Built without MUL, the runtime refuses a blob with one, naming it (run with
    /// `cargo test -p mote --no-default-features`).
    #[cfg(not(feature = "op-mul"))]
    #[test]
    fn left_out_operator_is_refused() {
        use crate::error::Error;
        use crate::format::{Clamp, Mul, Multiplier, Op};
        let mul = Op::Mul(Mul {
            input1: 0,
            input2: 1,
            output: 2,
            output_multiplier: Multiplier {
                multiplier: 1 << 30,
                shift: 0,
            },
            clamp: Clamp::NONE,
        });
        let io: [super::harness::T<'_>; 3] = [(&[2], 0), (&[2], 0), (&[2], 0)];
        let refused = Err(Error::UnsupportedOp { op: 0, name: "MUL" });
        assert_eq!(super::harness::run(&io, mul, &[&[1, 2], &[3, 4]]), refused);
    }
}
