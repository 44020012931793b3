//! Import of int8 TFLite models: a [`tflite::Model`] (read and verified by [`tflite::read`])
//! becomes a [`HostGraph`], with every parameter TensorFlow Lite Micro computes at prepare
//! time computed here the way TFLM computes it (the same float or double arithmetic, the same
//! rounding), so that the runtime's reference kernels give TFLM's outputs bit for bit.
//!
//! - One TFLite operator becomes one [`Op`], in the same order, except: a constant operand of a
//!   binary operator is a CONSTANT record just before it; SPLIT, SPLIT_V and UNPACK give one
//!   slice per output; PACK reshapes each input before its CONCATENATION; SPACE_TO_BATCH_ND
//!   pads before its block shuffle and BATCH_TO_SPACE_ND crops after it.
//! - Activation tensors (no buffer data) become graph tensors and keep their TFLite names.
//! - Constant tensors (weights, biases) are borrowed from the model's buffers, never copied;
//!   computed constants (per-channel multipliers as i32 LE, shifts as i8, index tables) go
//!   into `consts`.
//! - Anything the runtime cannot reproduce exactly (an operator, an operator version, an
//!   option, a type) is an error naming the operator, its version and what is unsupported.
//!   Nothing is approximated. Where TFLM silently ignores something in a way a converter
//!   never relies on (a weight zero point, different input and output quantization of a
//!   data-movement operator), the model is refused; where converters do write it (RELU6 with
//!   another output quantization, MAXIMUM and MINIMUM of raw values), mote computes what TFLM
//!   computes.
//!
//! One submodule per operator family, as in the runtime's `ops` and `kernels::reference`:
//! `conv` (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV), `pool`, `resize`,
//! `binary` (ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, PRELU, BATCH_MATMUL),
//! `activations` (also LOG_SOFTMAX, ABS, RSQRT, L2_NORMALIZATION), `quantize`, `shape`
//! (RESHAPE, CONCATENATION, PACK, PAD, TRANSPOSE), `space` (DEPTH_TO_SPACE, SPACE_TO_DEPTH,
//! SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND), `slice` (STRIDED_SLICE, SLICE, SPLIT, SPLIT_V,
//! UNPACK, GATHER, GATHER_ND) and `reduce` (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, ARG_MAX,
//! ARG_MIN). Each maps its TFLite operators to [`Op`]s; this module holds the driver, the
//! operator dispatch (`Importer::op`) and the helpers several families share.

mod activations;
mod binary;
mod conv;
mod pool;
mod quantize;
mod recurrent;
mod reduce;
mod resize;
mod shape;
mod slice;
mod space;
#[cfg(test)]
mod tests;

use std::fmt;

use anyhow::{Result, anyhow, bail, ensure};
use bumpalo::Bump;
use mote::format::{
    Clamp, Constant, DType, MAX_IO, MAX_RANK, MAX_TENSOR_RANK, Multiplier, Op, Requant, TensorId,
    Window,
};

use crate::intake::tflite::schema::{
    ActivationFunctionType, BuiltinOperator as B, Padding, TensorType,
};
use crate::intake::tflite::{self, Operator, Subgraph, Tensor};
use crate::plan::graph::HostGraph;
use crate::quantize::qmath::quantize_multiplier;

/// Imports the main subgraph of `model` (see the module documentation).
///
/// # Errors
/// For a float or partly float model, an unsupported operator, operator version, option or
/// tensor type, or a model that does not hold together (shapes, quantization).
pub fn import<'a>(model: &tflite::Model<'a>, consts: &'a Bump) -> Result<HostGraph<'a>> {
    let sg = model.main_subgraph();
    ensure!(
        !sg.inputs.is_empty() && !sg.outputs.is_empty(),
        "the model's main subgraph lists {} inputs and {} outputs; a model needs at least one \
         of each (was it exported with its signature?)",
        sg.inputs.len(),
        sg.outputs.len()
    );
    check_not_float(model, sg)?;
    let mut im = Importer {
        sg,
        consts,
        graph: HostGraph::default(),
        ids: vec![None; sg.tensors.len()],
    };
    for &t in &sg.inputs {
        ensure!(
            im.ids[t].is_none(),
            "tensor {} is listed twice as a graph input",
            im.tname(t)
        );
        let id = im
            .new_tensor(t)
            .map_err(|e| anyhow!("graph input {}: {e}", im.tname(t)))?;
        im.graph.inputs.push(id);
    }
    ensure!(
        im.graph.inputs.len() <= MAX_IO && sg.outputs.len() <= MAX_IO,
        "the model has {} inputs and {} outputs; at most {MAX_IO} of each are supported",
        im.graph.inputs.len(),
        sg.outputs.len()
    );
    for (index, op) in sg.operators.iter().enumerate() {
        let code = &model.operator_codes[op.opcode_index];
        let cx = OpCx {
            index,
            name: code.name().to_owned(),
            version: op.version,
        };
        let mapped = im.op(&cx, op)?;
        im.check_rank(&cx, &mapped)?;
        im.graph.ops.push(mapped);
    }
    ensure!(!im.graph.ops.is_empty(), "the model has no operators");
    for &t in &sg.outputs {
        let id = im.ids[t].ok_or_else(|| {
            anyhow!(
                "graph output {} is neither a graph input nor written by an operator",
                im.tname(t)
            )
        })?;
        im.graph.outputs.push(id);
    }
    Ok(im.graph)
}

/// Which operator an error is about: `operator 3 (CONV_2D v3)`.
struct OpCx {
    index: usize,
    name: String,
    version: i32,
}

impl fmt::Display for OpCx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operator {} ({} v{})",
            self.index, self.name, self.version
        )
    }
}

/// A float model has float activations in its compute operators (or no int8 activation at
/// all); a "hybrid" (dynamic-range) model has int8 weights with float activations. Neither is
/// what mote runs: say so once, up front, instead of failing on the first float tensor.
fn check_not_float(model: &tflite::Model<'_>, sg: &Subgraph<'_>) -> Result<()> {
    const FLOAT_MODEL: &str = "this is a float model: quantize it to int8 first";
    for (index, op) in sg.operators.iter().enumerate() {
        let compute = matches!(
            op.builtin,
            B::CONV_2D
                | B::DEPTHWISE_CONV_2D
                | B::FULLY_CONNECTED
                | B::ADD
                | B::MUL
                | B::AVERAGE_POOL_2D
                | B::MAX_POOL_2D
                | B::SOFTMAX
        );
        let float_input = op
            .inputs
            .first()
            .copied()
            .flatten()
            .is_some_and(|t| sg.tensors[t].dtype == TensorType::FLOAT32);
        if compute && float_input {
            let code = model.operator_codes[op.opcode_index].name();
            let weights_int8 = op
                .inputs
                .get(1)
                .copied()
                .flatten()
                .is_some_and(|t| sg.tensors[t].dtype == TensorType::INT8);
            if weights_int8 {
                bail!(
                    "{FLOAT_MODEL} (operator {index}, {code}, has int8 weights but float32 \
                     activations: a dynamic-range \"hybrid\" model; mote needs full int8 \
                     quantization, activations included)"
                );
            }
            bail!("{FLOAT_MODEL} (operator {index}, {code}, has float32 activations)");
        }
    }
    // State (variable tensors) may be int16 in int8 models: SVDF's, the LSTM cell's.
    let activations = || {
        sg.tensors
            .iter()
            .filter(|t| t.data.is_none() && !t.is_variable)
    };
    let any_int8 = activations().any(|t| matches!(t.dtype, TensorType::INT8 | TensorType::INT16));
    ensure!(any_int8, "{FLOAT_MODEL} (it has no int8 activation tensor)");
    Ok(())
}

/// Quantization of an activation tensor, as the graph holds it.
#[derive(Debug, Clone)]
struct Act {
    id: TensorId,
    dtype: DType,
    shape: Vec<usize>,
    scale: f32,
    zero_point: i32,
}

impl Act {
    fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    fn same_quantization(&self, other: &Act) -> bool {
        self.scale.to_bits() == other.scale.to_bits() && self.zero_point == other.zero_point
    }
}

struct Importer<'m, 'a> {
    sg: &'m Subgraph<'a>,
    consts: &'a Bump,
    graph: HostGraph<'a>,
    /// Graph tensor of each TFLite tensor, once it exists.
    ids: Vec<Option<TensorId>>,
}

impl<'m, 'a> Importer<'m, 'a> {
    /// `tensor 17 "name"`.
    fn tname(&self, t: usize) -> String {
        format!("tensor {t} \"{}\"", self.sg.tensors[t].name)
    }

    /// Adds TFLite tensor `t` (an int8 or float32 activation) to the graph.
    fn new_tensor(&mut self, t: usize) -> Result<TensorId> {
        let tensor = &self.sg.tensors[t];
        ensure!(
            tensor.data.is_none(),
            "is a constant, where an activation is needed"
        );
        ensure!(
            !tensor.is_variable,
            "is a variable tensor (operator state), which is not supported"
        );
        let shape = dims(tensor)?;
        let (dtype, scale, zero_point) = match tensor.dtype {
            TensorType::INT8 => {
                let (scale, zero_point) = per_tensor(tensor)?;
                (DType::I8, scale, zero_point)
            }
            TensorType::FLOAT32 => (DType::F32, 1.0, 0),
            // Indices (ARG_MAX, ARG_MIN); the operators that take int8 refuse it.
            TensorType::INT32 => (DType::I32, 1.0, 0),
            TensorType::INT16 => {
                let (scale, zero_point) = per_tensor(tensor)?;
                (DType::I16, scale, zero_point)
            }
            // At the graph boundary (QUANTIZE); the operators that take int8 refuse it.
            TensorType::UINT8 => {
                let (scale, zero_point) = per_tensor(tensor)?;
                (DType::U8, scale, zero_point)
            }
            other => bail!(
                "has type {}: only int8 activations are supported (float32 only at the graph \
                 boundary)",
                type_name(other)
            ),
        };
        let name = if tensor.name.is_empty() {
            format!("tensor{t}")
        } else {
            tensor.name.to_owned()
        };
        let id = self
            .graph
            .add_tensor(name, dtype, &shape, scale, zero_point)?;
        self.ids[t] = Some(id);
        Ok(id)
    }

    fn act(&self, id: TensorId) -> Act {
        let def = &self.graph.tensors[usize::from(id)];
        Act {
            id,
            dtype: def.dtype,
            shape: def.shape.iter().map(|&d| usize::from(d)).collect(),
            scale: def.scale,
            zero_point: def.zero_point,
        }
    }

    /// Activation input `i` of `op`, already in the graph.
    fn input(&self, cx: &OpCx, op: &Operator<'_>, i: usize) -> Result<Act> {
        let t = op
            .input(i)
            .map_err(|e| anyhow!("{cx}: {e} (the operator needs it)"))?;
        let tensor = &self.sg.tensors[t];
        if tensor.data.is_some() {
            bail!(
                "{cx}: input {i} ({}) is a constant; only activation inputs are supported here",
                self.tname(t)
            );
        }
        let id = self.ids[t].ok_or_else(|| {
            anyhow!(
                "{cx}: input {i} ({}) is read before any operator writes it and is not a graph \
                 input",
                self.tname(t)
            )
        })?;
        Ok(self.act(id))
    }

    /// Int8 input `i`, an activation or a constant. A constant becomes a CONSTANT operator,
    /// run just before this one, that copies its bytes into a tensor of its own: operators of
    /// two activations take constant operands (a bias, normalisation constants) that way, at
    /// the cost of the constant's bytes of arena while this operator runs.
    fn operand_i8(&mut self, cx: &OpCx, op: &Operator<'_>, i: usize) -> Result<Act> {
        let t = op
            .input(i)
            .map_err(|e| anyhow!("{cx}: {e} (the operator needs it)"))?;
        let tensor = &self.sg.tensors[t];
        let Some(data) = tensor.data else {
            return self.input_8_or_16(cx, op, i);
        };
        let what = || format!("{cx}: constant input {i} ({})", self.tname(t));
        let (dtype, size) = match tensor.dtype {
            TensorType::INT8 => (DType::I8, 1),
            TensorType::INT16 => (DType::I16, 2),
            other => bail!(
                "{} is {}: only int8 (or, with int16 activations, int16) constants are \
                 supported here",
                what(),
                type_name(other)
            ),
        };
        let mut shape = dims(tensor).map_err(|e| anyhow!("{} {e}", what()))?;
        if shape.is_empty() {
            shape.push(1); // a scalar (the converter may leave the shape out)
        }
        let (scale, zero_point) = per_tensor(tensor).map_err(|e| anyhow!("{} {e}", what()))?;
        ensure!(
            data.len() == size * shape.iter().product::<usize>(),
            "{} holds {} bytes for shape {shape:?}",
            what(),
            data.len()
        );
        let name = format!("{} (constant)", tensor.name);
        let id = self
            .graph
            .add_tensor(name, dtype, &shape, scale, zero_point)?;
        self.graph
            .ops
            .push(Op::Constant(Constant { output: id, data }));
        Ok(self.act(id))
    }

    /// An int8 activation input.
    fn input_i8(&self, cx: &OpCx, op: &Operator<'_>, i: usize) -> Result<Act> {
        let a = self.input(cx, op, i)?;
        expect_i8(cx, &a, &format!("input {i}"))?;
        Ok(a)
    }

    /// The operator's single output, added to the graph.
    fn output(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Act> {
        ensure!(
            op.outputs.len() == 1,
            "{cx}: has {} outputs; only single-output operators are supported",
            op.outputs.len()
        );
        self.output_at(cx, op, 0)
    }

    /// Output `k` of an operator of several (each becomes a mote operator of its own).
    fn output_at(&mut self, cx: &OpCx, op: &Operator<'_>, k: usize) -> Result<Act> {
        let t = *op
            .outputs
            .get(k)
            .ok_or_else(|| anyhow!("{cx}: has no output {k}"))?;
        if self.ids[t].is_some() {
            bail!(
                "{cx}: output {} is already written by an earlier operator or is a graph input",
                self.tname(t)
            );
        }
        let id = self
            .new_tensor(t)
            .map_err(|e| anyhow!("{cx}: output {} {e}", self.tname(t)))?;
        Ok(self.act(id))
    }

    fn output_i8(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Act> {
        let a = self.output(cx, op)?;
        expect_i8(cx, &a, "the output")?;
        Ok(a)
    }

    /// Only the operators that see their tensors as flat (or through their own view) take
    /// tensors of five dimensions; the runtime checks the same ([`Op::takes_any_rank`]).
    fn check_rank(&self, cx: &OpCx, op: &Op<'_>) -> Result<()> {
        if op.takes_any_rank() {
            return Ok(());
        }
        let mut deep = None;
        let mut check = |id: TensorId| {
            let t = &self.graph.tensors[usize::from(id)];
            if t.shape.len() > MAX_RANK && deep.is_none() {
                deep = Some((id, t.shape.clone()));
            }
        };
        op.for_each_input(&mut check);
        check(op.output());
        match deep {
            Some((id, shape)) => bail!(
                "{cx}: tensor {} has {} dimensions {:?}; this operator takes at most {MAX_RANK} \
                 (RESHAPE, TRANSPOSE, FULLY_CONNECTED and the elementwise rescales take five)",
                self.graph.names[usize::from(id)],
                shape.len(),
                shape.as_slice()
            ),
            None => Ok(()),
        }
    }

    /// Activation input `i` of `op`, int8 or int16 (16x8).
    fn input_8_or_16(&self, cx: &OpCx, op: &Operator<'_>, i: usize) -> Result<Act> {
        let a = self.input(cx, op, i)?;
        if a.dtype != DType::I16 {
            expect_i8(cx, &a, &format!("input {i}"))?;
        }
        Ok(a)
    }

    /// The output of `op`, of `input`'s type (int8, or int16 for 16x8).
    fn output_like(&mut self, cx: &OpCx, op: &Operator<'_>, input: &Act) -> Result<Act> {
        let out = self.output(cx, op)?;
        ensure!(
            out.dtype == input.dtype,
            "{cx}: the output is {:?}, the input {:?}; they must be the same",
            out.dtype,
            input.dtype
        );
        Ok(out)
    }

    /// Constant input `i` (weights, bias, shape or axis data).
    fn constant(&self, cx: &OpCx, op: &Operator<'_>, i: usize) -> Result<&'m Tensor<'a>> {
        let t = op
            .input(i)
            .map_err(|e| anyhow!("{cx}: {e} (the operator needs it)"))?;
        let tensor = &self.sg.tensors[t];
        ensure!(
            tensor.data.is_some(),
            "{cx}: input {i} ({}) must be a constant; computed weights, shapes or axes are not \
             supported",
            self.tname(t)
        );
        ensure!(
            !tensor.is_sparse,
            "{cx}: input {i} ({}) is stored sparse, which is not supported",
            self.tname(t)
        );
        Ok(tensor)
    }

    /// Optional constant input `i` (a bias): `None` if absent or omitted (-1).
    fn optional_constant(
        &self,
        cx: &OpCx,
        op: &Operator<'_>,
        i: usize,
    ) -> Result<Option<&'m Tensor<'a>>> {
        match op.inputs.get(i).copied().flatten() {
            None => Ok(None),
            Some(_) => self.constant(cx, op, i).map(Some),
        }
    }

    /// Per-channel multipliers into `consts`: i32 LE multipliers and i8 shifts.
    fn per_channel(&self, ms: &[Multiplier]) -> Requant<'a> {
        let mut mults = Vec::with_capacity(ms.len() * 4);
        let mut shifts = Vec::with_capacity(ms.len());
        for m in ms {
            mults.extend_from_slice(&m.multiplier.to_le_bytes());
            shifts.push(m.shift as u8);
        }
        Requant::PerChannel {
            multipliers: self.consts.alloc_slice_copy(&mults),
            shifts: self.consts.alloc_slice_copy(&shifts),
        }
    }

    fn op(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let max_version = match op.builtin {
            B::CONV_2D | B::DEPTHWISE_CONV_2D => 3,
            // 4 int8, 5 keep_num_dims, 6 without bias; 7+ are int16, sparse, int4 or hybrid.
            B::FULLY_CONNECTED => 6,
            B::MUL => 3,
            B::ADD
            | B::AVERAGE_POOL_2D
            | B::MAX_POOL_2D
            | B::SOFTMAX
            | B::RELU
            | B::RELU6
            | B::LOGISTIC
            | B::TANH
            | B::CONCATENATION
            | B::PAD
            | B::PADV2
            | B::MEAN
            | B::DEQUANTIZE => 2,
            B::RESHAPE | B::SQUEEZE | B::EXPAND_DIMS | B::RELU_N1_TO_1 | B::HARD_SWISH => 1,
            // 1 float to int8, 2 requantizing and int16; the types are checked below.
            B::QUANTIZE => 2,
            // 1 int8, 2 int16.
            B::LEAKY_RELU => 2,
            // 2 int8, 4 more than four dimensions (refused by shape below), 5 int16, 6 int4.
            B::TRANSPOSE => 4,
            // 2 int8; later versions are int16 or more than four dimensions.
            B::SUB | B::MAXIMUM | B::MINIMUM | B::SQUARED_DIFFERENCE => 2,
            B::SUM | B::REDUCE_MAX | B::REDUCE_MIN => 2,
            // 2 int8; later versions are int16, more dimensions, or bool and string.
            B::STRIDED_SLICE | B::SLICE | B::SPLIT | B::SPLIT_V | B::UNPACK | B::PACK => 2,
            B::GATHER => 2,
            // 1 float and int8; later versions add int16 and more.
            B::GATHER_ND => 1,
            // 2 int8; later versions are int16.
            B::DEPTH_TO_SPACE | B::SPACE_TO_DEPTH => 2,
            // 2 int8, 3 three-dimensional input; 4 is int16.
            B::SPACE_TO_BATCH_ND | B::BATCH_TO_SPACE_ND => 3,
            // PRELU 1 (int8 included); the others 2 int8, later versions int16.
            B::PRELU => 1,
            B::ABS | B::RSQRT | B::LOG_SOFTMAX | B::L2_NORMALIZATION => 2,
            // 2 int8; 3 is int16.
            B::ARG_MAX | B::ARG_MIN => 2,
            // 2 int8, 3 per-channel int8 (and int16 activations, refused by type), 4 with a
            // fused activation, 5 int4 filters.
            B::TRANSPOSE_CONV => 4,
            // 2 int8, 3 half_pixel_centers; 4 is int16.
            B::RESIZE_NEAREST_NEIGHBOR | B::RESIZE_BILINEAR => 3,
            // 2 int8; later versions are int16 or hybrid.
            B::BATCH_MATMUL => 2,
            // 1 float, 2 hybrid, 3 full integer (int8), 4 int8 with int8 state.
            B::SVDF => 4,
            // 1 float and int8, 5 int16 (16x8); 2-4 are hybrid variants, refused below.
            B::UNIDIRECTIONAL_SEQUENCE_LSTM => 5,
            B::NEG | B::EXP | B::LOG | B::SQRT => bail!(
                "{cx}: TFLM runs this operator on float32 only (an int8 model fails there), so \
                 mote refuses it too"
            ),
            B::CUSTOM => bail!("{cx}: custom operators are not supported"),
            _ => bail!("{cx}: this operator is not supported"),
        };
        ensure!(
            (1..=max_version).contains(&cx.version),
            "{cx}: version {} is not supported (at most {max_version}): it marks a variant \
             mote does not run (int4 or sparse weights, hybrid quantization, grouped \
             convolution, slices of five dimensions)",
            cx.version
        );
        match op.builtin {
            B::FULLY_CONNECTED => self.fully_connected(cx, op),
            B::CONV_2D => self.conv_2d(cx, op),
            B::DEPTHWISE_CONV_2D => self.depthwise_conv_2d(cx, op),
            B::AVERAGE_POOL_2D | B::MAX_POOL_2D => self.pool(cx, op),
            B::ADD => self.add(cx, op),
            B::MUL => self.mul(cx, op),
            B::RESHAPE | B::SQUEEZE | B::EXPAND_DIMS => self.reshape(cx, op),
            B::SOFTMAX => self.softmax(cx, op),
            B::RELU | B::RELU6 | B::RELU_N1_TO_1 => self.relu(cx, op),
            B::QUANTIZE => self.quantize(cx, op),
            B::DEQUANTIZE => self.dequantize(cx, op),
            B::LOGISTIC | B::TANH => self.sigmoidal(cx, op),
            B::LEAKY_RELU => self.leaky_relu(cx, op),
            B::HARD_SWISH => self.hard_swish(cx, op),
            B::CONCATENATION => self.concatenation(cx, op),
            B::PAD | B::PADV2 => self.pad(cx, op),
            B::MEAN | B::SUM | B::REDUCE_MAX | B::REDUCE_MIN => self.reduce(cx, op),
            B::STRIDED_SLICE => self.strided_slice(cx, op),
            B::SLICE => self.slice(cx, op),
            B::SPLIT | B::SPLIT_V | B::UNPACK => self.split(cx, op),
            B::PACK => self.pack(cx, op),
            B::GATHER => self.gather(cx, op),
            B::GATHER_ND => self.gather_nd(cx, op),
            B::TRANSPOSE => self.transpose(cx, op),
            B::DEPTH_TO_SPACE | B::SPACE_TO_DEPTH => self.depth_space(cx, op),
            B::SPACE_TO_BATCH_ND => self.space_to_batch(cx, op),
            B::BATCH_TO_SPACE_ND => self.batch_to_space(cx, op),
            B::PRELU => self.prelu(cx, op),
            B::ABS => self.abs(cx, op),
            B::RSQRT => self.rsqrt(cx, op),
            B::L2_NORMALIZATION => self.l2_normalization(cx, op),
            B::LOG_SOFTMAX => self.log_softmax(cx, op),
            B::ARG_MAX | B::ARG_MIN => self.arg_min_max(cx, op),
            B::TRANSPOSE_CONV => self.transpose_conv(cx, op),
            B::RESIZE_NEAREST_NEIGHBOR | B::RESIZE_BILINEAR => self.resize(cx, op),
            B::BATCH_MATMUL => self.batch_matmul(cx, op),
            B::SVDF => self.svdf(cx, op),
            B::UNIDIRECTIONAL_SEQUENCE_LSTM => self.lstm(cx, op),
            B::SUB => self.sub(cx, op),
            B::SQUARED_DIFFERENCE => self.squared_difference(cx, op),
            B::MAXIMUM | B::MINIMUM => self.maximum_minimum(cx, op),
            _ => bail!("{cx}: this operator is not supported"),
        }
    }
}

/// An int8 activation, or an error saying what it is instead.
fn expect_i8(cx: &OpCx, a: &Act, role: &str) -> Result<()> {
    match a.dtype {
        DType::I8 => Ok(()),
        DType::F32 => bail!(
            "{cx}: {role} is float32: this is a (partly) float model: quantize it to int8 first \
             (float32 is supported only at the graph boundary, into QUANTIZE and out of \
             DEQUANTIZE)"
        ),
        DType::I32 => bail!("{cx}: {role} is int32, where int8 is needed"),
        DType::I16 => {
            bail!("{cx}: {role} is int16 (16x8 quantization), which this operator does not take")
        }
        DType::U8 => bail!(
            "{cx}: {role} is uint8: uint8 is supported only at the graph boundary, into and out \
             of QUANTIZE"
        ),
    }
}

/// Same scale (bit for bit) and zero point.
fn same_quantization(cx: &OpCx, a: &Act, b: &Act) -> Result<()> {
    ensure!(
        a.same_quantization(b),
        "{cx}: input quantization (scale {}, zero point {}) differs from output quantization \
         (scale {}, zero point {}); this operator does not rescale",
        a.scale,
        a.zero_point,
        b.scale,
        b.zero_point
    );
    Ok(())
}

/// The 4 dimensions of an NHWC activation.
fn nhwc(cx: &OpCx, a: &Act, role: &str) -> Result<[usize; 4]> {
    match a.shape[..] {
        [n, h, w, c] => Ok([n, h, w, c]),
        _ => bail!("{cx}: {role} of shape {:?}; NHWC (4-D) is needed", a.shape),
    }
}

/// A dimension or option that must be at least 1.
fn positive(cx: &OpCx, v: i32, what: &str) -> Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| anyhow!("{cx}: {what} is {v}; at least 1 is needed"))
}

fn to_u16(cx: &OpCx, v: usize, what: &str) -> Result<u16> {
    u16::try_from(v).map_err(|_| anyhow!("{cx}: {what} {v} exceeds 65535"))
}

/// Static dimensions of a tensor (a scalar has none): each at least 1, at most five of them.
fn dims(t: &Tensor<'_>) -> Result<Vec<usize>> {
    ensure!(
        t.shape.len() <= MAX_TENSOR_RANK,
        "has {} dimensions {:?}; at most {MAX_TENSOR_RANK} are supported",
        t.shape.len(),
        t.shape
    );
    t.shape
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .ok()
                .filter(|&d| d >= 1)
                .ok_or_else(|| anyhow!("has dimension {d} in shape {:?}", t.shape))
        })
        .collect()
}

/// An activation's per-tensor int8 quantization.
fn per_tensor(t: &Tensor<'_>) -> Result<(f32, i32)> {
    let q = t
        .quantization
        .as_ref()
        .ok_or_else(|| anyhow!("is int8 without quantization parameters"))?;
    ensure!(
        !q.has_details,
        "has custom quantization details, which are not supported"
    );
    let (scale, zp) = q.per_tensor().ok_or_else(|| {
        anyhow!(
            "has {} scales: per-channel quantized activations are not supported",
            q.scale.len()
        )
    })?;
    ensure!(
        scale.is_finite() && scale > 0.0,
        "has quantization scale {scale}"
    );
    ensure!(
        (-128..=127).contains(&zp),
        "has zero point {zp}, outside int8"
    );
    Ok((scale, zp as i32))
}

/// `QuantizeMultiplier(real)`, or an error naming what it is for.
fn multiplier(cx: &OpCx, real: f64, what: &str) -> Result<Multiplier> {
    quantize_multiplier(real)
        .ok_or_else(|| anyhow!("{cx}: the {what} multiplier {real} cannot be represented"))
}

/// C's `roundf` to an int32, `None` if out of range (TFLM checks this).
fn round_to_i32(x: f32) -> Option<i32> {
    let r = x.round();
    (r >= i32::MIN as f32 && r < 2f32.powi(31)).then_some(r as i32)
}

fn clamp_i8(v: i64) -> i8 {
    v.clamp(-128, 127) as i8
}

/// [`fused_clamp`] for an int16 output (16x8).
fn fused_clamp16(
    cx: &OpCx,
    activation: ActivationFunctionType,
    output: &Act,
) -> Result<mote::format::Clamp16> {
    let quantize = |f: f32| -> Result<i64> {
        let q = round_to_i32(f / output.scale).ok_or_else(|| {
            anyhow!("{cx}: the fused activation bound {f} overflows int32 in output units")
        })?;
        Ok(i64::from(output.zero_point) + i64::from(q))
    };
    let (lo, hi) = (i64::from(i16::MIN), i64::from(i16::MAX));
    let (min, max) = match activation {
        ActivationFunctionType::NONE => (lo, hi),
        ActivationFunctionType::RELU => (quantize(0.0)?.max(lo), hi),
        ActivationFunctionType::RELU6 => (quantize(0.0)?.max(lo), quantize(6.0)?.min(hi)),
        ActivationFunctionType::RELU_N1_TO_1 => (quantize(-1.0)?.max(lo), quantize(1.0)?.min(hi)),
        other => bail!(
            "{cx}: fused activation {} is not supported (TFLM would ignore it)",
            activation_name(other)
        ),
    };
    ensure!(
        min <= max,
        "{cx}: the fused activation's range [{min}, {max}] is empty in output units"
    );
    Ok(mote::format::Clamp16 {
        min: min as i16,
        max: max as i16,
    })
}

/// `CalculateActivationRangeQuantized`: the fused activation's clamp in output units.
fn fused_clamp(cx: &OpCx, activation: ActivationFunctionType, output: &Act) -> Result<Clamp> {
    let quantize = |f: f32| -> Result<i64> {
        let q = round_to_i32(f / output.scale).ok_or_else(|| {
            anyhow!("{cx}: the fused activation bound {f} overflows int32 in output units")
        })?;
        Ok(i64::from(output.zero_point) + i64::from(q))
    };
    let (min, max) = match activation {
        ActivationFunctionType::NONE => (-128, 127),
        ActivationFunctionType::RELU => (quantize(0.0)?.max(-128), 127),
        ActivationFunctionType::RELU6 => (quantize(0.0)?.max(-128), quantize(6.0)?.min(127)),
        ActivationFunctionType::RELU_N1_TO_1 => {
            (quantize(-1.0)?.max(-128), quantize(1.0)?.min(127))
        }
        other => bail!(
            "{cx}: fused activation {} is not supported (TFLM would ignore it)",
            activation_name(other)
        ),
    };
    ensure!(
        min <= max,
        "{cx}: the fused activation's range [{min}, {max}] is empty in output units"
    );
    Ok(Clamp {
        min: clamp_i8(min),
        max: clamp_i8(max),
    })
}

/// The window of a convolution or pool: TFLite's `ComputePaddingHeightWidth` (output size from
/// SAME/VALID, padding before = total / 2), checked against the output tensor's size.
#[allow(clippy::too_many_arguments)]
fn window(
    cx: &OpCx,
    padding: Padding,
    input: [usize; 2],
    output: [usize; 2],
    filter: [usize; 2],
    stride: [i32; 2],
    dilation: [i32; 2],
) -> Result<Window> {
    let mut pads = [0u16; 2];
    for axis in 0..2 {
        let name = ["height", "width"][axis];
        let s = positive(cx, stride[axis], &format!("stride ({name})"))?;
        let d = positive(cx, dilation[axis], &format!("dilation ({name})"))?;
        let (n, f) = (input[axis], filter[axis]);
        let extent = (f - 1) * d + 1;
        let out = match padding {
            Padding::SAME => n.div_ceil(s),
            Padding::VALID => {
                ensure!(
                    n >= extent,
                    "{cx}: the filter extent {extent} exceeds the input {name} {n} (VALID)"
                );
                (n - extent) / s + 1
            }
            other => bail!("{cx}: padding {other:?} is not supported"),
        };
        ensure!(
            out == output[axis],
            "{cx}: output {name} {} is not the {out} that {} padding gives",
            output[axis],
            if padding == Padding::SAME {
                "SAME"
            } else {
                "VALID"
            }
        );
        let total = ((out - 1) * s + extent).saturating_sub(n);
        pads[axis] = to_u16(cx, total / 2, "padding")?;
    }
    Ok(Window {
        filter_h: to_u16(cx, filter[0], "filter height")?,
        filter_w: to_u16(cx, filter[1], "filter width")?,
        stride_h: to_u16(cx, stride[0] as usize, "stride")?,
        stride_w: to_u16(cx, stride[1] as usize, "stride")?,
        dilation_h: to_u16(cx, dilation[0] as usize, "dilation")?,
        dilation_w: to_u16(cx, dilation[1] as usize, "dilation")?,
        pad_top: pads[0],
        pad_left: pads[1],
    })
}

fn type_name(t: TensorType) -> &'static str {
    t.variant_name().unwrap_or("UNKNOWN")
}

fn activation_name(a: ActivationFunctionType) -> &'static str {
    a.variant_name().unwrap_or("UNKNOWN")
}

/// The values of a constant int32 (or int64) index tensor.
fn int_values(cx: &OpCx, t: &Tensor<'_>, what: &str) -> Result<Vec<i32>> {
    let data = t.data.unwrap_or_default();
    match t.dtype {
        TensorType::INT32 => Ok(data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        TensorType::INT64 => data
            .chunks_exact(8)
            .map(|c| {
                let v = i64::from_le_bytes(c.try_into().unwrap_or_default());
                i32::try_from(v).map_err(|_| anyhow!("{cx}: {what} value {v} out of range"))
            })
            .collect(),
        other => bail!(
            "{cx}: {what} must be int32 or int64, not {}",
            type_name(other)
        ),
    }
}
