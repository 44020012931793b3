//! Import of int8 TFLite models: a [`tflite::Model`] (read and verified by [`tflite::read`])
//! becomes a [`HostGraph`], with every parameter TensorFlow Lite Micro computes at prepare
//! time computed here the way TFLM computes it (the same float or double arithmetic, the same
//! rounding), so that the runtime's reference kernels give TFLM's outputs bit for bit.
//!
//! - One TFLite operator becomes exactly one [`Op`], in the same order: per-layer dumps line
//!   up with TFLite's operator indices.
//! - Activation tensors (no buffer data) become graph tensors and keep their TFLite names.
//! - Constant tensors (weights, biases) are borrowed from the model's buffers, never copied;
//!   computed constants (per-channel multipliers as i32 LE, shifts as i8) go into `consts`.
//! - Anything the runtime cannot reproduce exactly (an operator, an operator version, an
//!   option, a type) is an error naming the operator, its version and what is unsupported.
//!   Nothing is approximated. Where TFLM itself would silently ignore something (a weight zero
//!   point, different input and output quantization of a data-movement operator, an output
//!   quantization its kernel assumes), the model is refused rather than imported with TFLM's
//!   silently wrong meaning.

use std::fmt;

use anyhow::{Result, anyhow, bail, ensure};
use bumpalo::Bump;
use mote::format::{
    Add, Clamp, Concatenation, Conv2d, DType, DepthwiseConv2d, FullyConnected, HardSwish,
    LeakyRelu, MAX_IO, MAX_RANK, Mean, Mul, Multiplier, Op, Pad, Pool2d, Requant, Rescale,
    Sigmoidal, Softmax, TensorId, Unary, Window,
};

use crate::intake::tflite::schema::{
    ActivationFunctionType, BuiltinOperator as B, FullyConnectedOptionsWeightsFormat, Padding,
    TensorType,
};
use crate::intake::tflite::{self, Operator, Subgraph, Tensor};
use crate::plan::graph::HostGraph;
use crate::quantize::qmath::{frexp, quantize_multiplier};

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
    let any_int8 = sg
        .tensors
        .iter()
        .any(|t| t.data.is_none() && t.dtype == TensorType::INT8);
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
            TensorType::INT16 => {
                bail!("is INT16: int16 activations (16x8 quantization) are not supported")
            }
            TensorType::UINT8 => {
                bail!("is UINT8: legacy uint8 quantization is not supported; use int8")
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
        let t = op.outputs[0];
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
            B::RESHAPE
            | B::SQUEEZE
            | B::EXPAND_DIMS
            | B::RELU_N1_TO_1
            | B::LEAKY_RELU
            | B::HARD_SWISH
            | B::QUANTIZE => 1,
            B::CUSTOM => bail!("{cx}: custom operators are not supported"),
            _ => bail!("{cx}: this operator is not supported"),
        };
        ensure!(
            (1..=max_version).contains(&cx.version),
            "{cx}: version {} is not supported (at most {max_version}): it marks a variant \
             mote does not run (int16 activations, int4 or sparse weights, hybrid, grouped \
             convolution)",
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
            B::MEAN => self.mean(cx, op),
            _ => bail!("{cx}: this operator is not supported"),
        }
    }

    /// FULLY_CONNECTED (TFLM `CalculateOpDataFullyConnected`).
    fn fully_connected(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let opts = op.raw.builtin_options_as_fully_connected_options();
        let activation = opts.map_or(ActivationFunctionType::NONE, |o| {
            o.fused_activation_function()
        });
        if let Some(o) = opts {
            ensure!(
                o.weights_format() == FullyConnectedOptionsWeightsFormat::DEFAULT,
                "{cx}: weights format {:?} is not supported (only DEFAULT)",
                o.weights_format()
            );
            check_bias_type(cx, o.quantized_bias_type())?;
        }
        let input = self.input_i8(cx, op, 0)?;
        let weights = self.constant(cx, op, 1)?;
        let bias = self.optional_constant(cx, op, 2)?;
        let output = self.output_i8(cx, op)?;

        let [units, depth] = weights.shape[..] else {
            bail!(
                "{cx}: weights of shape {:?}; a [units, depth] matrix is needed",
                weights.shape
            )
        };
        let (units, depth) = (positive(cx, units, "units")?, positive(cx, depth, "depth")?);
        ensure!(
            output.shape.last() == Some(&units),
            "{cx}: output shape {:?} does not end in the {units} units of the weights",
            output.shape
        );
        ensure!(
            input.elements() % depth == 0 && output.elements() == input.elements() / depth * units,
            "{cx}: input shape {:?} and output shape {:?} do not fit weights [{units}, {depth}]",
            input.shape,
            output.shape
        );
        let w_bytes = int8_weights(cx, weights, units * depth, "weights")?;
        let wq = weight_quantization(cx, weights, units, 0)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, units)).transpose()?;

        let requant = if wq.len() > 1 {
            // Per-channel: `PopulateConvolutionQuantizationParams`' arithmetic, in double.
            let ms = wq
                .iter()
                .map(|&w| conv_multiplier(cx, input.scale, w, output.scale))
                .collect::<Result<Vec<_>>>()?;
            self.per_channel(&ms)
        } else {
            // `GetQuantizedConvolutionMultipler`: the bias check multiplies the scales in
            // double, the multiplier itself multiplies them in float.
            let w = wq[0];
            if let Some(b) = bias {
                let bias_scale = b
                    .quantization
                    .as_ref()
                    .and_then(|q| q.scale.first().copied())
                    .unwrap_or(0.0);
                let product = f64::from(input.scale) * f64::from(w);
                let diff = (product - f64::from(bias_scale)).abs();
                ensure!(
                    diff / f64::from(output.scale) <= 0.02,
                    "{cx}: the bias scale {bias_scale} is not input scale × weight scale \
                     ({product}); TFLM refuses this model"
                );
            }
            let product = f64::from(input.scale * w);
            ensure!(product >= 0.0, "{cx}: negative scales");
            Requant::PerTensor(multiplier(cx, product / f64::from(output.scale), "output")?)
        };
        Ok(Op::FullyConnected(FullyConnected {
            input: input.id,
            output: output.id,
            units: to_u16(cx, units, "units")?,
            weights: w_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }

    /// CONV_2D (TFLM `ConvPrepare` / `CalculateOpDataConv`).
    fn conv_2d(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_conv_2_doptions()
            .ok_or_else(|| anyhow!("{cx}: Conv2DOptions are missing"))?;
        check_bias_type(cx, o.quantized_bias_type())?;
        let input = self.input_i8(cx, op, 0)?;
        let filter = self.constant(cx, op, 1)?;
        let bias = self.optional_constant(cx, op, 2)?;
        let output = self.output_i8(cx, op)?;

        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        let [f_o, f_h, f_w, f_i] = filter.shape[..] else {
            bail!(
                "{cx}: filter of shape {:?}; [out_c, h, w, in_c] is needed",
                filter.shape
            )
        };
        let f_o = positive(cx, f_o, "filter output channels")?;
        let f_h = positive(cx, f_h, "filter height")?;
        let f_w = positive(cx, f_w, "filter width")?;
        let f_i = positive(cx, f_i, "filter input channels")?;
        ensure!(
            n == on && f_o == out_c,
            "{cx}: input {:?}, filter {:?} and output {:?} do not match",
            input.shape,
            filter.shape,
            output.shape
        );
        // A grouped convolution (CONV_2D v6) has a filter depth dividing the input depth;
        // TFLM's reference kernel and mote's run it, but the converter marks it v6.
        ensure!(
            f_i == in_c,
            "{cx}: filter depth {f_i} differs from input depth {in_c} (grouped convolution), \
             which is not supported"
        );
        let window = window(
            cx,
            o.padding(),
            [in_h, in_w],
            [out_h, out_w],
            [f_h, f_w],
            [o.stride_h(), o.stride_w()],
            [o.dilation_h_factor(), o.dilation_w_factor()],
        )?;
        let filter_bytes = int8_weights(cx, filter, f_o * f_h * f_w * f_i, "filter")?;
        let wq = weight_quantization(cx, filter, out_c, 0)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, out_c)).transpose()?;
        let requant = self.conv_requant(cx, &input, &wq, &output)?;
        Ok(Op::Conv2d(Conv2d {
            input: input.id,
            output: output.id,
            window,
            filter: filter_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        }))
    }

    /// `PopulateConvolutionQuantizationParams`: per channel, `input_scale * filter_scale /
    /// output_scale` in double. A single filter scale is broadcast (one multiplier).
    fn conv_requant(
        &self,
        cx: &OpCx,
        input: &Act,
        filter_scales: &[f32],
        output: &Act,
    ) -> Result<Requant<'a>> {
        let ms = filter_scales
            .iter()
            .map(|&w| conv_multiplier(cx, input.scale, w, output.scale))
            .collect::<Result<Vec<_>>>()?;
        Ok(match ms[..] {
            [m] => Requant::PerTensor(m),
            _ => self.per_channel(&ms),
        })
    }

    /// DEPTHWISE_CONV_2D (TFLM `DepthwiseConvPrepare`).
    fn depthwise_conv_2d(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_depthwise_conv_2_doptions()
            .ok_or_else(|| anyhow!("{cx}: DepthwiseConv2DOptions are missing"))?;
        let input = self.input_i8(cx, op, 0)?;
        let filter = self.constant(cx, op, 1)?;
        let bias = self.optional_constant(cx, op, 2)?;
        let output = self.output_i8(cx, op)?;

        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        let [1, f_h, f_w, f_c] = filter.shape[..] else {
            bail!(
                "{cx}: filter of shape {:?}; [1, h, w, out_c] is needed",
                filter.shape
            )
        };
        let f_h = positive(cx, f_h, "filter height")?;
        let f_w = positive(cx, f_w, "filter width")?;
        let f_c = positive(cx, f_c, "filter channels")?;
        let dm = o.depth_multiplier();
        ensure!(
            n == on && f_c == out_c,
            "{cx}: input {:?}, filter {:?} and output {:?} do not match",
            input.shape,
            filter.shape,
            output.shape
        );
        ensure!(
            usize::try_from(dm).is_ok_and(|dm| dm >= 1 && in_c * dm == out_c),
            "{cx}: depth_multiplier {dm} does not take {in_c} input channels to {out_c}"
        );
        let window = window(
            cx,
            o.padding(),
            [in_h, in_w],
            [out_h, out_w],
            [f_h, f_w],
            [o.stride_h(), o.stride_w()],
            [o.dilation_h_factor(), o.dilation_w_factor()],
        )?;
        let filter_bytes = int8_weights(cx, filter, f_h * f_w * f_c, "filter")?;
        let wq = weight_quantization(cx, filter, out_c, 3)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, out_c)).transpose()?;
        let requant = self.conv_requant(cx, &input, &wq, &output)?;
        Ok(Op::DepthwiseConv2d(DepthwiseConv2d {
            input: input.id,
            output: output.id,
            window,
            depth_multiplier: to_u16(cx, dm as usize, "depth_multiplier")?,
            filter: filter_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        }))
    }

    /// AVERAGE_POOL_2D and MAX_POOL_2D (TFLM `PoolingPrepare`).
    fn pool(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_pool_2_doptions()
            .ok_or_else(|| anyhow!("{cx}: Pool2DOptions are missing"))?;
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        ensure!(
            n == on && in_c == out_c,
            "{cx}: input {:?} and output {:?} do not match",
            input.shape,
            output.shape
        );
        // TFLM accepts scales within 1e-6 of each other and then ignores the output's; mote's
        // pools do not rescale either, so the two must be the same.
        same_quantization(cx, &input, &output)?;
        let filter = [
            positive(cx, o.filter_height(), "filter height")?,
            positive(cx, o.filter_width(), "filter width")?,
        ];
        let window = window(
            cx,
            o.padding(),
            [in_h, in_w],
            [out_h, out_w],
            filter,
            [o.stride_h(), o.stride_w()],
            [1, 1],
        )?;
        let pool = Pool2d {
            input: input.id,
            output: output.id,
            window,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        };
        Ok(if op.builtin == B::AVERAGE_POOL_2D {
            Op::AveragePool2d(pool)
        } else {
            Op::MaxPool2d(pool)
        })
    }

    /// ADD (TFLM `CalculateOpDataAdd`, int8: left shift 20).
    fn add(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_add_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        let a = self.input_i8(cx, op, 0)?;
        let b = self.input_i8(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        check_broadcast(cx, &a, &b, &output)?;
        const LEFT_SHIFT: u8 = 20;
        // `std::max` of the two float scales, widened, doubled.
        let twice_max = 2.0 * f64::from(a.scale.max(b.scale));
        let real1 = f64::from(a.scale) / twice_max;
        let real2 = f64::from(b.scale) / twice_max;
        let real_out = twice_max / (f64::from(1u32 << LEFT_SHIFT) * f64::from(output.scale));
        Ok(Op::Add(Add {
            input1: a.id,
            input2: b.id,
            output: output.id,
            left_shift: LEFT_SHIFT,
            input1_multiplier: smaller_than_one(cx, real1, "input 1")?,
            input2_multiplier: smaller_than_one(cx, real2, "input 2")?,
            output_multiplier: smaller_than_one(cx, real_out, "output")?,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }

    /// MUL (TFLM `CalculateOpDataMul`: the scale product in double).
    fn mul(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_mul_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        let a = self.input_i8(cx, op, 0)?;
        let b = self.input_i8(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        check_broadcast(cx, &a, &b, &output)?;
        let real = f64::from(a.scale) * f64::from(b.scale) / f64::from(output.scale);
        Ok(Op::Mul(Mul {
            input1: a.id,
            input2: b.id,
            output: output.id,
            output_multiplier: multiplier(cx, real, "output")?,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }

    /// RESHAPE, SQUEEZE, EXPAND_DIMS: the element order does not change, only the shape (the
    /// output tensor's static shape; a shape input is not read).
    fn reshape(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
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

    /// SOFTMAX (TFLM `CalculateSoftmaxParams`, int8 to int8).
    fn softmax(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let beta = op
            .raw
            .builtin_options_as_softmax_options()
            .ok_or_else(|| anyhow!("{cx}: SoftmaxOptions are missing"))?
            .beta();
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        ensure!(
            output.zero_point == -128 && output.scale == 1.0 / 256.0,
            "{cx}: output quantization (scale {}, zero point {}) is not TFLM's int8 softmax \
             output (scale 1/256, zero point -128)",
            output.scale,
            output.zero_point
        );
        // PreprocessSoftmaxScaling with kScaledDiffIntegerBits = 5.
        const SCALED_DIFF_INTEGER_BITS: i32 = 5;
        let real = (f64::from(beta)
            * f64::from(input.scale)
            * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS)))
        .min(f64::from(i32::MAX));
        ensure!(
            real > 1.0,
            "{cx}: beta {beta} × input scale {} is too small for TFLM's int8 softmax",
            input.scale
        );
        let m = multiplier(cx, real, "input")?;
        let left_shift = i32::from(m.shift);
        ensure!(left_shift >= 0, "{cx}: negative softmax input shift");
        // diff_min = -CalculateInputRadius(5, left_shift, 31).
        let radius = (f64::from((1 << SCALED_DIFF_INTEGER_BITS) - 1)
            * 2f64.powi(31 - SCALED_DIFF_INTEGER_BITS)
            / 2f64.powi(left_shift))
        .floor();
        Ok(Op::Softmax(Softmax {
            input: input.id,
            output: output.id,
            input_multiplier: m.multiplier,
            input_left_shift: left_shift,
            diff_min: -(radius as i32),
        }))
    }

    /// RELU, RELU6 and RELU_N1_TO_1 as a rescale and clamp.
    fn relu(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input and output differ in size"
        );
        if op.builtin == B::RELU6 {
            // TFLM's int8 RELU6 clamps the input bytes to [zero point, quantized 6] of the
            // *input* and ignores the output quantization (`Relu6Prepare`).
            same_quantization(cx, &input, &output)?;
            let six = float_to_int8(6.0, input.scale, input.zero_point);
            let zero = clamp_i8(i64::from(input.zero_point));
            return Ok(Op::Rescale(Rescale {
                input: input.id,
                output: output.id,
                multiplier: multiplier(cx, 1.0, "identity")?,
                clamp: Clamp {
                    min: zero,
                    max: six,
                },
            }));
        }
        // `CalculateReluOpData`: the scale ratio in double; the bounds `zero_point +
        // roundf(bound / scale)` in float. TFLM has no RELU_N1_TO_1; it is the same with
        // bounds -1 and 1.
        let (lo, hi) = if op.builtin == B::RELU {
            (0.0f32, None)
        } else {
            (-1.0f32, Some(1.0f32))
        };
        let real = f64::from(input.scale) / f64::from(output.scale);
        let bound = |f: f32| -> Result<i64> {
            let q = round_to_i32(f / output.scale)
                .ok_or_else(|| anyhow!("{cx}: the activation bound {f} overflows int32"))?;
            Ok(i64::from(output.zero_point) + i64::from(q))
        };
        let min = clamp_i8(bound(lo)?.max(-128));
        let max = match hi {
            Some(h) => clamp_i8(bound(h)?.min(127)),
            None => i8::MAX,
        };
        ensure!(min <= max, "{cx}: the activation range is empty");
        Ok(Op::Rescale(Rescale {
            input: input.id,
            output: output.id,
            multiplier: multiplier(cx, real, "output")?,
            clamp: Clamp { min, max },
        }))
    }

    /// QUANTIZE: float32 to int8, or int8 to int8 (`Requantize`).
    fn quantize(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input and output differ in size"
        );
        match input.dtype {
            DType::F32 => Ok(Op::Quantize(Unary {
                input: input.id,
                output: output.id,
            })),
            DType::I8 => {
                let real = f64::from(input.scale) / f64::from(output.scale);
                Ok(Op::Rescale(Rescale {
                    input: input.id,
                    output: output.id,
                    multiplier: multiplier(cx, real, "requantize")?,
                    clamp: Clamp::NONE,
                }))
            }
        }
    }

    /// DEQUANTIZE: int8 to float32.
    fn dequantize(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output(cx, op)?;
        ensure!(
            output.dtype == DType::F32,
            "{cx}: only dequantization to float32 is supported"
        );
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input and output differ in size"
        );
        Ok(Op::Dequantize(Unary {
            input: input.id,
            output: output.id,
        }))
    }

    /// LOGISTIC and TANH (TFLM `CalculateArithmeticOpDataLogistic` / TANH's
    /// `CalculateArithmeticOpData`, int8: `kInputIntegerBits = 4`).
    fn sigmoidal(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        // The kernels write a fixed output quantization; TFLM checks only LOGISTIC's zero
        // point, so a model with another output scale would be silently wrong there.
        let logistic = op.builtin == B::LOGISTIC;
        let (scale, zp) = if logistic {
            (1.0 / 256.0, -128)
        } else {
            (1.0 / 128.0, 0)
        };
        ensure!(
            output.scale == scale && output.zero_point == zp,
            "{cx}: output quantization (scale {}, zero point {}) is not the int8 kernel's \
             (scale {scale}, zero point {zp})",
            output.scale,
            output.zero_point
        );
        const INPUT_INTEGER_BITS: i32 = 4;
        let real = f64::from(input.scale) * f64::from(1u32 << (31 - INPUT_INTEGER_BITS));
        let (q, shift) = frexp(real);
        // No `q_fixed == 2^31` correction here in TFLM: that case overflows int32 there.
        let q_fixed = (q * 2f64.powi(31)).round();
        ensure!(
            q_fixed < 2f64.powi(31),
            "{cx}: input scale {} rounds to a multiplier TFLM overflows",
            input.scale
        );
        ensure!(
            (0..=31).contains(&shift),
            "{cx}: input scale {} is outside the range TFLM's int8 kernel handles",
            input.scale
        );
        let radius = (f64::from((1 << INPUT_INTEGER_BITS) - 1) * 2f64.powi(31 - INPUT_INTEGER_BITS)
            / 2f64.powi(shift))
        .floor() as i32;
        let params = Sigmoidal {
            input: input.id,
            output: output.id,
            input_range_radius: radius,
            input_multiplier: q_fixed as i32,
            input_left_shift: shift,
        };
        Ok(if logistic {
            Op::Logistic(params)
        } else {
            Op::Tanh(params)
        })
    }

    /// LEAKY_RELU (TFLM `CalculateOpDataLeakyRelu`). Current TFLM forms both ratios in
    /// double; older releases formed them in float, which moves some outputs by one (TFLM's
    /// recorded outputs decide: see the golden test).
    fn leaky_relu(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let alpha = op
            .raw
            .builtin_options_as_leaky_relu_options()
            .ok_or_else(|| anyhow!("{cx}: LeakyReluOptions are missing"))?
            .alpha();
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input and output shapes differ"
        );
        let (s_in, s_out) = (f64::from(input.scale), f64::from(output.scale));
        let alpha_real = s_in * f64::from(alpha) / s_out;
        let identity_real = s_in / s_out;
        Ok(Op::LeakyRelu(LeakyRelu {
            input: input.id,
            output: output.id,
            identity: multiplier(cx, identity_real, "identity")?,
            alpha: signed_multiplier(alpha_real).ok_or_else(|| {
                anyhow!("{cx}: alpha {alpha} gives a multiplier that cannot be represented")
            })?,
        }))
    }

    /// HARD_SWISH (TFLM `HardSwishPrepare`: the scale ratios in float, as every TFLM revision
    /// forms them, then Q31 multipliers rounded to Q15). TFLM's recorded outputs agree, though
    /// they do not tell this from double (one Q15 step apart in one golden case).
    fn hard_swish(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input and output shapes differ"
        );
        let hires_input_scale = (1.0f32 / 128.0) * input.scale;
        let reluish_scale = 3.0f32 / 32768.0;
        let out = multiplier(cx, f64::from(hires_input_scale / output.scale), "output")?;
        ensure!(
            out.shift <= 0,
            "{cx}: input scale / output scale is too large for TFLM's int8 HARD_SWISH"
        );
        let reluish = multiplier(cx, f64::from(hires_input_scale / reluish_scale), "relu-ish")?;
        Ok(Op::HardSwish(HardSwish {
            input: input.id,
            output: output.id,
            reluish_multiplier: downscale_to_i16(reluish.multiplier),
            reluish_exponent: reluish.shift,
            output_multiplier: downscale_to_i16(out.multiplier),
            output_exponent: out.shift,
        }))
    }

    /// CONCATENATION: a byte copy in TFLM, so every input must share the output's
    /// quantization (TFLM would ignore a difference).
    fn concatenation(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
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
            .map(|i| self.input_i8(cx, op, i))
            .collect::<Result<Vec<_>>>()?;
        let output = self.output_i8(cx, op)?;
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

    /// PAD and PADV2 (padding with the output zero point).
    fn pad(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let paddings = self.constant(cx, op, 1)?;
        let value = if op.builtin == B::PADV2 {
            self.optional_constant(cx, op, 2)?
        } else {
            None
        };
        let output = self.output_i8(cx, op)?;
        same_quantization(cx, &input, &output)?;
        if let Some(v) = value {
            let data = v.data.unwrap_or_default();
            let q = v.quantization.as_ref().and_then(|q| q.per_tensor());
            ensure!(
                v.dtype == TensorType::INT8
                    && data.len() == 1
                    && i32::from(data[0] as i8) == output.zero_point
                    && q.is_some_and(
                        |(s, z)| s == output.scale && z == i64::from(output.zero_point)
                    ),
                "{cx}: constant padding value other than the output zero point is not supported"
            );
        }
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
        let p: Vec<i32> = paddings
            .data
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
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
        Ok(Op::Pad(Pad {
            input: input.id,
            output: output.id,
            before,
            after,
        }))
    }

    /// MEAN over the spatial axes of an NHWC tensor (TFLM: `QuantizeMultiplier(input_scale /
    /// output_scale)` in double).
    fn mean(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let keep_dims = op
            .raw
            .builtin_options_as_reducer_options()
            .is_some_and(|o| o.keep_dims());
        let input = self.input_i8(cx, op, 0)?;
        let axes = self.constant(cx, op, 1)?;
        let output = self.output_i8(cx, op)?;
        let [n, _, _, c] = nhwc(cx, &input, "input")?;
        ensure!(
            axes.dtype == TensorType::INT32,
            "{cx}: axes must be int32, not {}",
            type_name(axes.dtype)
        );
        let mut axis: Vec<i32> = axes
            .data
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|b| {
                let a = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if a < 0 { a + 4 } else { a }
            })
            .collect();
        axis.sort_unstable();
        axis.dedup();
        ensure!(
            axis == [1, 2],
            "{cx}: only the mean over axes 1 and 2 (height and width) is supported"
        );
        let want: &[usize] = if keep_dims { &[n, 1, 1, c] } else { &[n, c] };
        ensure!(
            output.shape == want,
            "{cx}: output shape {:?}, expected {want:?}",
            output.shape
        );
        let real = f64::from(input.scale) / f64::from(output.scale);
        Ok(Op::Mean(Mean {
            input: input.id,
            output: output.id,
            multiplier: multiplier(cx, real, "output")?,
        }))
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

/// NumPy broadcasting of two inputs to the output shape, at most 4 dimensions.
fn check_broadcast(cx: &OpCx, a: &Act, b: &Act, out: &Act) -> Result<()> {
    let rank = a.shape.len().max(b.shape.len());
    let dim = |s: &[usize], d: usize| {
        let lead = rank - s.len();
        if d < lead { 1 } else { s[d - lead] }
    };
    let mut want = Vec::with_capacity(rank);
    for d in 0..rank {
        let (x, y) = (dim(&a.shape, d), dim(&b.shape, d));
        ensure!(
            x == y || x == 1 || y == 1,
            "{cx}: input shapes {:?} and {:?} do not broadcast",
            a.shape,
            b.shape
        );
        want.push(x.max(y));
    }
    ensure!(
        want.iter().product::<usize>() == out.elements()
            && out
                .shape
                .iter()
                .rev()
                .zip(want.iter().rev())
                .all(|(o, w)| o == w),
        "{cx}: output shape {:?} is not the broadcast of {:?} and {:?}",
        out.shape,
        a.shape,
        b.shape
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

/// Static dimensions of a tensor (a scalar has none): each at least 1, at most 4 of them.
fn dims(t: &Tensor<'_>) -> Result<Vec<usize>> {
    ensure!(
        t.shape.len() <= MAX_RANK,
        "has {} dimensions {:?}; at most {MAX_RANK} are supported",
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

/// The filter or weight scales: one, or one per output channel along `axis` (0 for CONV_2D
/// and FULLY_CONNECTED, 3 for DEPTHWISE_CONV_2D). All zero points must be 0: TFLM's int8
/// kernels ignore them.
fn weight_quantization(cx: &OpCx, t: &Tensor<'_>, channels: usize, axis: i32) -> Result<Vec<f32>> {
    let q = t
        .quantization
        .as_ref()
        .ok_or_else(|| anyhow!("{cx}: the weights have no quantization parameters"))?;
    ensure!(
        !q.has_details,
        "{cx}: the weights have custom quantization details, which are not supported"
    );
    ensure!(
        q.scale.iter().all(|s| s.is_finite() && *s >= 0.0),
        "{cx}: the weights have a negative or non-finite scale"
    );
    ensure!(
        q.zero_point.iter().all(|&z| z == 0),
        "{cx}: the weights have a non-zero zero point (asymmetric weights are not supported; \
         TFLM would ignore it)"
    );
    if q.scale.len() > 1 {
        ensure!(
            q.quantized_dimension == axis,
            "{cx}: per-channel weights along axis {}; only axis {axis} (output channels) is \
             supported",
            q.quantized_dimension
        );
        ensure!(
            q.scale.len() == channels,
            "{cx}: {} weight scales for {channels} output channels",
            q.scale.len()
        );
    }
    Ok(q.scale.clone())
}

/// The bytes of constant int8 weights with `elements` elements.
fn int8_weights<'a>(cx: &OpCx, t: &Tensor<'a>, elements: usize, what: &str) -> Result<&'a [u8]> {
    match t.dtype {
        TensorType::INT8 => {}
        TensorType::INT4 => bail!("{cx}: int4 {what} are not supported"),
        other => bail!(
            "{cx}: {what} of type {} are not supported (int8 only)",
            type_name(other)
        ),
    }
    let data = t.data.unwrap_or_default();
    ensure!(
        data.len() == elements && t.elements() == Some(elements),
        "{cx}: {what} hold {} bytes for {elements} elements",
        data.len()
    );
    Ok(data)
}

/// An int32 bias with one value per channel.
fn bias_data<'a>(cx: &OpCx, t: &Tensor<'a>, channels: usize) -> Result<&'a [u8]> {
    ensure!(
        t.dtype == TensorType::INT32,
        "{cx}: bias of type {} is not supported (int32 only)",
        type_name(t.dtype)
    );
    let data = t.data.unwrap_or_default();
    ensure!(
        data.len() == 4 * channels && t.elements() == Some(channels),
        "{cx}: bias of shape {:?} for {channels} channels",
        t.shape
    );
    Ok(data)
}

fn check_bias_type(cx: &OpCx, t: TensorType) -> Result<()> {
    ensure!(
        t == TensorType::FLOAT32 || t == TensorType::INT32,
        "{cx}: quantized_bias_type {} is not supported (int32 biases only)",
        type_name(t)
    );
    Ok(())
}

/// `QuantizeMultiplier(real)`, or an error naming what it is for.
fn multiplier(cx: &OpCx, real: f64, what: &str) -> Result<Multiplier> {
    quantize_multiplier(real)
        .ok_or_else(|| anyhow!("{cx}: the {what} multiplier {real} cannot be represented"))
}

/// `QuantizeMultiplierSmallerThanOneExp`: TFLM aborts unless `0 < real < 1`.
fn smaller_than_one(cx: &OpCx, real: f64, what: &str) -> Result<Multiplier> {
    ensure!(
        real > 0.0 && real < 1.0,
        "{cx}: the {what} multiplier {real} is not in (0, 1), which TFLM's int8 ADD requires"
    );
    multiplier(cx, real, what)
}

/// Convolution output multiplier for one channel: `input_scale * filter_scale /
/// output_scale`, each widened to double first.
fn conv_multiplier(cx: &OpCx, input: f32, filter: f32, output: f32) -> Result<Multiplier> {
    let real = f64::from(input) * f64::from(filter) / f64::from(output);
    multiplier(cx, real, "output")
}

/// `QuantizeMultiplier` for any sign (LEAKY_RELU's alpha may be negative): TFLM's code path
/// for a negative value, whose `q_fixed == 2^31` correction never applies.
fn signed_multiplier(real: f64) -> Option<Multiplier> {
    if real >= 0.0 {
        return quantize_multiplier(real);
    }
    if !real.is_finite() {
        return None;
    }
    let (q, shift) = frexp(real);
    let q_fixed = (q * 2f64.powi(31)).round() as i64;
    if shift < -31 {
        return Some(Multiplier::default());
    }
    if shift > 30 {
        return None;
    }
    Some(Multiplier {
        multiplier: i32::try_from(q_fixed).ok()?,
        shift: shift as i8,
    })
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`.
fn downscale_to_i16(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        i16::MAX
    } else {
        ((m + ROUNDING) >> 16) as i16
    }
}

/// C's `roundf` to an int32, `None` if out of range (TFLM checks this).
fn round_to_i32(x: f32) -> Option<i32> {
    let r = x.round();
    (r >= i32::MIN as f32 && r < 2f32.powi(31)).then_some(r as i32)
}

fn clamp_i8(v: i64) -> i8 {
    v.clamp(-128, 127) as i8
}

/// TFLM's `FloatToQuantizedType<int8_t>`: `round(value / scale) + zero_point`, clamped.
fn float_to_int8(value: f32, scale: f32, zero_point: i32) -> i8 {
    let q = f64::from((value / scale).round()) + f64::from(zero_point);
    clamp_i8(q.clamp(-1e6, 1e6) as i64)
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

/// TFLM's own outputs for single-operator models, recorded by the runtime's kernel authors
/// from the `tflite-micro` wheel; shared so that the importer's parameters are checked against
/// TFLM end to end, not only the kernels.
#[cfg(test)]
#[path = "../../../runtime/src/kernels/reference/goldens.rs"]
#[allow(dead_code, unreachable_pub)]
mod goldens;

#[cfg(test)]
mod tests {
    use super::goldens;
    use super::*;
    use crate::intake::tflite::schema::{self, BuiltinOptions};
    use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

    type Options = Box<dyn Fn(&mut FlatBufferBuilder<'static>) -> WIPOffset<UnionWIPOffset>>;

    struct TensorSpec {
        dtype: TensorType,
        shape: Vec<i32>,
        /// Scales, zero points, quantized dimension.
        quant: Option<(Vec<f32>, Vec<i64>, i32)>,
        data: Option<Vec<u8>>,
    }

    struct OpSpec {
        code: B,
        version: i32,
        inputs: Vec<i32>,
        outputs: Vec<i32>,
        options: Option<(BuiltinOptions, Options)>,
    }

    /// A tiny `.tflite` writer for synthetic models.
    #[derive(Default)]
    struct Builder {
        tensors: Vec<TensorSpec>,
        ops: Vec<OpSpec>,
        inputs: Vec<i32>,
        outputs: Vec<i32>,
    }

    impl Builder {
        fn tensor(&mut self, t: TensorSpec) -> i32 {
            self.tensors.push(t);
            self.tensors.len() as i32 - 1
        }

        /// An int8 activation.
        fn act(&mut self, shape: &[i32], scale: f32, zp: i64) -> i32 {
            self.tensor(TensorSpec {
                dtype: TensorType::INT8,
                shape: shape.to_vec(),
                quant: Some((vec![scale], vec![zp], 0)),
                data: None,
            })
        }

        fn op(
            &mut self,
            code: B,
            version: i32,
            inputs: &[i32],
            outputs: &[i32],
            options: Option<(BuiltinOptions, Options)>,
        ) {
            self.ops.push(OpSpec {
                code,
                version,
                inputs: inputs.to_vec(),
                outputs: outputs.to_vec(),
                options,
            });
        }

        fn build(&self) -> Vec<u8> {
            let mut fbb = FlatBufferBuilder::new();
            let mut buffers = vec![schema::Buffer::create(&mut fbb, &Default::default())];
            let mut tensors = Vec::new();
            for (i, t) in self.tensors.iter().enumerate() {
                let buffer = match &t.data {
                    Some(d) => {
                        let data = fbb.create_vector(d);
                        buffers.push(schema::Buffer::create(
                            &mut fbb,
                            &schema::BufferArgs {
                                data: Some(data),
                                ..Default::default()
                            },
                        ));
                        buffers.len() as u32 - 1
                    }
                    None => 0,
                };
                let quantization = t.quant.as_ref().map(|(s, z, d)| {
                    let scale = fbb.create_vector(s);
                    let zero_point = fbb.create_vector(z);
                    schema::QuantizationParameters::create(
                        &mut fbb,
                        &schema::QuantizationParametersArgs {
                            scale: Some(scale),
                            zero_point: Some(zero_point),
                            quantized_dimension: *d,
                            ..Default::default()
                        },
                    )
                });
                let shape = fbb.create_vector(&t.shape);
                let name = fbb.create_string(&format!("t{i}"));
                tensors.push(schema::Tensor::create(
                    &mut fbb,
                    &schema::TensorArgs {
                        shape: Some(shape),
                        type_: t.dtype,
                        buffer,
                        name: Some(name),
                        quantization,
                        ..Default::default()
                    },
                ));
            }
            let mut codes = Vec::new();
            let mut ops = Vec::new();
            for (i, o) in self.ops.iter().enumerate() {
                codes.push(schema::OperatorCode::create(
                    &mut fbb,
                    &schema::OperatorCodeArgs {
                        deprecated_builtin_code: o.code.0.min(127) as i8,
                        custom_code: None,
                        version: o.version,
                        builtin_code: o.code,
                    },
                ));
                let (options_type, options) = match &o.options {
                    Some((t, f)) => (*t, Some(f(&mut fbb))),
                    None => (BuiltinOptions::NONE, None),
                };
                let inputs = fbb.create_vector(&o.inputs);
                let outputs = fbb.create_vector(&o.outputs);
                ops.push(schema::Operator::create(
                    &mut fbb,
                    &schema::OperatorArgs {
                        opcode_index: i as u32,
                        inputs: Some(inputs),
                        outputs: Some(outputs),
                        builtin_options_type: options_type,
                        builtin_options: options,
                        ..Default::default()
                    },
                ));
            }
            let tensors = fbb.create_vector(&tensors);
            let operators = fbb.create_vector(&ops);
            let inputs = fbb.create_vector(&self.inputs);
            let outputs = fbb.create_vector(&self.outputs);
            let sg = schema::SubGraph::create(
                &mut fbb,
                &schema::SubGraphArgs {
                    tensors: Some(tensors),
                    inputs: Some(inputs),
                    outputs: Some(outputs),
                    operators: Some(operators),
                    ..Default::default()
                },
            );
            let subgraphs = fbb.create_vector(&[sg]);
            let codes = fbb.create_vector(&codes);
            let buffers = fbb.create_vector(&buffers);
            let model = schema::Model::create(
                &mut fbb,
                &schema::ModelArgs {
                    version: 3,
                    operator_codes: Some(codes),
                    subgraphs: Some(subgraphs),
                    buffers: Some(buffers),
                    ..Default::default()
                },
            );
            schema::finish_model_buffer(&mut fbb, model);
            fbb.finished_data().to_vec()
        }
    }

    fn fc_options(activation: ActivationFunctionType) -> Option<(BuiltinOptions, Options)> {
        Some((
            BuiltinOptions::FullyConnectedOptions,
            Box::new(move |fbb| {
                schema::FullyConnectedOptions::create(
                    fbb,
                    &schema::FullyConnectedOptionsArgs {
                        fused_activation_function: activation,
                        ..Default::default()
                    },
                )
                .as_union_value()
            }),
        ))
    }

    /// input [1, 4] (scale 0.5, zp -1) -> FULLY_CONNECTED (weights [3, 4], scale 0.25; bias
    /// scale 0.125) -> output [1, 3] (scale 1, zp 2).
    fn fc_model(
        input_type: TensorType,
        version: i32,
        activation: ActivationFunctionType,
        weight_quant: (Vec<f32>, Vec<i64>, i32),
    ) -> Builder {
        let mut b = Builder::default();
        let input = b.tensor(TensorSpec {
            dtype: input_type,
            shape: vec![1, 4],
            quant: Some((vec![0.5], vec![-1], 0)),
            data: None,
        });
        let weights: [i8; 12] = [1, 1, 1, 1, -1, -1, -1, -1, 2, 0, 0, -2];
        let w = b.tensor(TensorSpec {
            dtype: TensorType::INT8,
            shape: vec![3, 4],
            quant: Some(weight_quant),
            data: Some(weights.iter().map(|&x| x as u8).collect()),
        });
        let bias = b.tensor(TensorSpec {
            dtype: TensorType::INT32,
            shape: vec![3],
            quant: Some((vec![0.125], vec![0], 0)),
            data: Some([8i32, -8, 0].iter().flat_map(|x| x.to_le_bytes()).collect()),
        });
        let out = b.act(&[1, 3], 1.0, 2);
        b.op(
            B::FULLY_CONNECTED,
            version,
            &[input, w, bias],
            &[out],
            fc_options(activation),
        );
        b.inputs = vec![input];
        b.outputs = vec![out];
        b
    }

    fn per_tensor_weights() -> (Vec<f32>, Vec<i64>, i32) {
        (vec![0.25], vec![0], 0)
    }

    /// Imports `bytes`; the model and arena are leaked so that the ops can outlive the call.
    fn import_bytes(bytes: &[u8]) -> Result<Vec<Op<'static>>> {
        let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
        let model = Box::leak(Box::new(tflite::read(bytes)?));
        let consts = Box::leak(Box::new(Bump::new()));
        Ok(import(model, consts)?.ops)
    }

    fn import_error(b: &Builder) -> String {
        match import_bytes(&b.build()) {
            Ok(ops) => panic!("imported: {ops:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn fully_connected_runs_as_tflm_computes_it() {
        let bytes = fc_model(
            TensorType::INT8,
            4,
            ActivationFunctionType::RELU,
            per_tensor_weights(),
        )
        .build();
        let model = tflite::read(&bytes).unwrap();
        let consts = Bump::new();
        let mut graph = import(&model, &consts).unwrap();
        let Op::FullyConnected(fc) = &graph.ops[0] else {
            panic!("{:?}", graph.ops)
        };
        // 0.5 * 0.25 / 1 = 0.125 = 0.5 * 2^-2.
        assert_eq!(
            fc.requant,
            Requant::PerTensor(Multiplier {
                multiplier: 1 << 30,
                shift: -2
            })
        );
        // RELU: zero point + round(0 / scale) = 2.
        assert_eq!(fc.clamp, Clamp { min: 2, max: 127 });
        assert_eq!(graph.names, ["t0", "t3"]);
        let blob = graph.to_blob().unwrap();
        let m = mote::Model::parse(&blob).unwrap();
        let mut arena = vec![0u8; m.arena_size()];
        let mut it = mote::Interpreter::new(&m, &mut arena).unwrap();
        // x - zp = [0, 2, 4, 6]: rows give 12 + 8 = 20, -12 - 8 = -20, 0 - 12 = -12; times
        // 0.125 with TFLM's two roundings: 3, -3, -2; plus 2: 5, -1, 0; RELU at 2.
        it.set_input(0, &[(-1i8) as u8, 1, 3, 5]).unwrap();
        it.invoke().unwrap();
        assert_eq!(it.output(0).unwrap(), [5, 2, 2]);
    }

    #[test]
    fn unsupported_options_are_named_errors() {
        let tanh = fc_model(
            TensorType::INT8,
            4,
            ActivationFunctionType::TANH,
            per_tensor_weights(),
        );
        let e = import_error(&tanh);
        assert!(
            e.contains("operator 0 (FULLY_CONNECTED v4): fused activation TANH"),
            "{e}"
        );

        let v7 = fc_model(
            TensorType::INT8,
            7,
            ActivationFunctionType::NONE,
            per_tensor_weights(),
        );
        let e = import_error(&v7);
        assert!(e.contains("(FULLY_CONNECTED v7): version 7"), "{e}");

        let float = fc_model(
            TensorType::FLOAT32,
            1,
            ActivationFunctionType::NONE,
            per_tensor_weights(),
        );
        let e = import_error(&float);
        assert!(
            e.contains("this is a float model: quantize it to int8 first"),
            "{e}"
        );

        let int16 = fc_model(
            TensorType::INT16,
            4,
            ActivationFunctionType::NONE,
            per_tensor_weights(),
        );
        let e = import_error(&int16);
        assert!(e.contains("int16 activations"), "{e}");

        let axis1 = fc_model(
            TensorType::INT8,
            4,
            ActivationFunctionType::NONE,
            (vec![0.25; 4], vec![0; 4], 1),
        );
        let e = import_error(&axis1);
        assert!(e.contains("per-channel weights along axis 1"), "{e}");

        let asymmetric = fc_model(
            TensorType::INT8,
            4,
            ActivationFunctionType::NONE,
            (vec![0.25], vec![3], 0),
        );
        let e = import_error(&asymmetric);
        assert!(e.contains("non-zero zero point"), "{e}");
    }

    #[test]
    fn per_channel_fully_connected() {
        let b = fc_model(
            TensorType::INT8,
            4,
            ActivationFunctionType::NONE,
            (vec![0.25, 0.5, 1.0], vec![0; 3], 0),
        );
        let ops = import_bytes(&b.build()).unwrap();
        let Op::FullyConnected(fc) = &ops[0] else {
            panic!()
        };
        let ch = |c| fc.requant.channel(c);
        assert_eq!(fc.requant.channels(), Some(3));
        assert_eq!((ch(0).multiplier, ch(0).shift), (1 << 30, -2));
        assert_eq!((ch(1).multiplier, ch(1).shift), (1 << 30, -1));
        assert_eq!((ch(2).multiplier, ch(2).shift), (1 << 30, 0));
    }

    #[test]
    fn unsupported_operators_and_shapes() {
        let mut b = Builder::default();
        let x = b.act(&[1, 4], 0.5, 0);
        let y = b.act(&[1, 4], 0.5, 0);
        let z = b.act(&[1, 4], 0.5, 0);
        b.op(B::SUB, 2, &[x, y], &[z], None);
        b.inputs = vec![x, y];
        b.outputs = vec![z];
        let e = import_error(&b);
        assert!(
            e.contains("operator 0 (SUB v2): this operator is not supported"),
            "{e}"
        );

        let mut b = Builder::default();
        let x = b.act(&[1, 4], 0.5, 0);
        let y = b.act(&[1, 1, 1, 1, 4], 0.5, 0);
        b.op(B::RESHAPE, 1, &[x], &[y], None);
        b.inputs = vec![x];
        b.outputs = vec![y];
        let e = import_error(&b);
        assert!(
            e.contains("operator 0 (RESHAPE v1): output tensor 1 \"t1\" has 5 dimensions"),
            "{e}"
        );

        // TFLM's RELU6 ignores the output quantization: refused unless it equals the input's.
        let mut b = Builder::default();
        let x = b.act(&[4], 0.05, -10);
        let y = b.act(&[4], 0.025, -128);
        b.op(B::RELU6, 1, &[x], &[y], None);
        b.inputs = vec![x];
        b.outputs = vec![y];
        let e = import_error(&b);
        assert!(e.contains("(RELU6 v1): input quantization"), "{e}");
    }

    #[test]
    fn relu6_quantize_and_pad() {
        // float [2, 3] -> QUANTIZE (0.05, -10) -> RELU6 -> PAD [[1, 0], [0, 2]] -> DEQUANTIZE.
        let mut b = Builder::default();
        let f = b.tensor(TensorSpec {
            dtype: TensorType::FLOAT32,
            shape: vec![2, 3],
            quant: None,
            data: None,
        });
        let q = b.act(&[2, 3], 0.05, -10);
        let r = b.act(&[2, 3], 0.05, -10);
        let paddings = b.tensor(TensorSpec {
            dtype: TensorType::INT32,
            shape: vec![2, 2],
            quant: None,
            data: Some(
                [1i32, 0, 0, 2]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            ),
        });
        let p = b.act(&[3, 5], 0.05, -10);
        let out = b.tensor(TensorSpec {
            dtype: TensorType::FLOAT32,
            shape: vec![3, 5],
            quant: None,
            data: None,
        });
        b.op(B::QUANTIZE, 1, &[f], &[q], None);
        b.op(B::RELU6, 1, &[q], &[r], None);
        b.op(B::PAD, 2, &[r, paddings], &[p], None);
        b.op(B::DEQUANTIZE, 2, &[p], &[out], None);
        b.inputs = vec![f];
        b.outputs = vec![out];
        let ops = import_bytes(&b.build()).unwrap();
        assert!(matches!(ops[0], Op::Quantize(_)), "{ops:?}");
        let Op::Rescale(relu6) = &ops[1] else {
            panic!("{ops:?}")
        };
        // Input zero point -10 to -10 + round(6 / 0.05) = 110, scale unchanged.
        assert_eq!(relu6.clamp, Clamp { min: -10, max: 110 });
        assert_eq!(
            relu6.multiplier,
            Multiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        let Op::Pad(pad) = &ops[2] else {
            panic!("{ops:?}")
        };
        assert_eq!((pad.before, pad.after), ([1, 0, 0, 0], [0, 2, 0, 0]));
        assert!(matches!(ops[3], Op::Dequantize(_)), "{ops:?}");

        // End to end: quantize [-1, 0, 1, 5, 7, 0.05] to [-30, -10, 10, 90, 127, -9], RELU6
        // to [-10, 110], pad one row above and two columns right with -10, dequantize.
        let bytes = b.build();
        let model = tflite::read(&bytes).unwrap();
        let consts = Bump::new();
        let blob = import(&model, &consts).unwrap().to_blob().unwrap();
        let m = mote::Model::parse(&blob).unwrap();
        let mut arena = vec![0u8; m.arena_size()];
        let mut it = mote::Interpreter::new(&m, &mut arena).unwrap();
        let x: Vec<u8> = [-1.0f32, 0.0, 1.0, 5.0, 7.0, 0.05]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        it.set_input(0, &x).unwrap();
        it.invoke().unwrap();
        let y: Vec<f32> = it
            .output(0)
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let s = 0.05f32;
        #[rustfmt::skip]
        let want = [
            0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 1.0, 0.0, 0.0,
            5.0, 6.0, s, 0.0, 0.0,
        ];
        assert_eq!(y, want);
    }

    fn mlperf(model: &str) -> Vec<Op<'static>> {
        let path = format!(
            "{}/../tests/data/mlperf-tiny/{model}/model_int8.tflite",
            env!("CARGO_MANIFEST_DIR")
        );
        import_bytes(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// Parameters of the real models, against values computed independently (Python, from
    /// the scales in each `model_analysis.json`) with TFLM's formulas.
    #[test]
    fn mlperf_parameters_are_tflm_s() {
        // FULLY_CONNECTED multiplies input and weight scales in float: (1638001653, -8); the
        // same product in double would give (1638001719, -8).
        let ad = mlperf("ad_fc_autoencoder");
        let Op::FullyConnected(fc) = &ad[0] else {
            panic!()
        };
        assert_eq!(
            fc.requant,
            Requant::PerTensor(Multiplier {
                multiplier: 1_638_001_653,
                shift: -8
            })
        );

        let kws = mlperf("kws_dscnn");
        let Op::Softmax(s) = &kws[12] else { panic!() };
        assert_eq!(
            (s.input_multiplier, s.input_left_shift, s.diff_min),
            (1_242_899_200, 24, -124)
        );
        let Op::Conv2d(c) = &kws[0] else { panic!() };
        let (c0, c63) = (c.requant.channel(0), c.requant.channel(63));
        assert_eq!((c0.multiplier, c0.shift), (1_359_514_674, -6));
        assert_eq!((c63.multiplier, c63.shift), (1_683_081_220, -8));
        // 49x10 input, 10x4 filter, stride 2, SAME: 25x5 output, padding 4 above, 1 left.
        assert_eq!(
            c.window,
            Window {
                filter_h: 10,
                filter_w: 4,
                stride_h: 2,
                stride_w: 2,
                dilation_h: 1,
                dilation_w: 1,
                pad_top: 4,
                pad_left: 1,
            }
        );
        // RELU with output zero point -128.
        assert_eq!(c.clamp, Clamp::NONE);

        let ic = mlperf("ic_resnet8");
        let Op::Add(a) = &ic[3] else { panic!() };
        let m = |m: Multiplier| (m.multiplier, m.shift);
        assert_eq!(a.left_shift, 20);
        assert_eq!(m(a.input1_multiplier), (1_623_821_475, -2));
        assert_eq!(m(a.input2_multiplier), (1 << 30, 0));
        assert_eq!(m(a.output_multiplier), (1_098_017_566, -17));
    }

    /// Runs a one-operator model on `input` through import, blob and interpreter.
    fn run_single(b: &Builder, input: &[i8]) -> Vec<i8> {
        let bytes = b.build();
        let model = tflite::read(&bytes).unwrap();
        let consts = Bump::new();
        let blob = import(&model, &consts)
            .unwrap_or_else(|e| panic!("{e:#}"))
            .to_blob()
            .unwrap();
        let m = mote::Model::parse(&blob).unwrap();
        let mut arena = vec![0u8; m.arena_size()];
        let mut it = mote::Interpreter::new(&m, &mut arena).unwrap();
        let x: Vec<u8> = input.iter().map(|&v| v as u8).collect();
        it.set_input(0, &x).unwrap();
        it.invoke().unwrap();
        it.output(0).unwrap().iter().map(|&v| v as i8).collect()
    }

    /// `[in] -> op -> [out]` over all 256 int8 values.
    fn elementwise(
        code: B,
        version: i32,
        (in_scale, in_zp): (f32, i32),
        (out_scale, out_zp): (f32, i32),
        options: Option<(BuiltinOptions, Options)>,
    ) -> Builder {
        let mut b = Builder::default();
        let x = b.act(&[256], in_scale, i64::from(in_zp));
        let y = b.act(&[256], out_scale, i64::from(out_zp));
        b.op(code, version, &[x], &[y], options);
        b.inputs = vec![x];
        b.outputs = vec![y];
        b
    }

    fn all_int8() -> Vec<i8> {
        (-128..=127).collect()
    }

    #[test]
    fn single_operator_models_match_tflm_goldens() {
        for g in &goldens::LOGISTIC {
            let b = elementwise(B::LOGISTIC, 2, (g.scale, g.zp), (1.0 / 256.0, -128), None);
            assert_eq!(
                run_single(&b, &all_int8()),
                g.output,
                "LOGISTIC {}",
                g.scale
            );
        }
        for g in &goldens::TANH {
            let b = elementwise(B::TANH, 2, (g.scale, g.zp), (1.0 / 128.0, 0), None);
            assert_eq!(run_single(&b, &all_int8()), g.output, "TANH {}", g.scale);
        }
        for g in &goldens::LEAKY_RELU {
            let alpha = g.alpha;
            let options: Options = Box::new(move |fbb| {
                schema::LeakyReluOptions::create(fbb, &schema::LeakyReluOptionsArgs { alpha })
                    .as_union_value()
            });
            let b = elementwise(
                B::LEAKY_RELU,
                1,
                (g.input_scale, g.input_zp),
                (g.output_scale, g.output_zp),
                Some((BuiltinOptions::LeakyReluOptions, options)),
            );
            assert_eq!(run_single(&b, &all_int8()), g.output, "LEAKY_RELU {alpha}");
        }
        for g in &goldens::HARD_SWISH {
            let b = elementwise(
                B::HARD_SWISH,
                1,
                (g.input_scale, g.input_zp),
                (g.output_scale, g.output_zp),
                None,
            );
            assert_eq!(run_single(&b, &all_int8()), g.output, "HARD_SWISH");
        }
        for g in &goldens::MEAN {
            let mut b = Builder::default();
            let x = b.act(&[2, 3, 3, 4], g.input_scale, i64::from(g.input_zp));
            let axes = b.tensor(TensorSpec {
                dtype: TensorType::INT32,
                shape: vec![2],
                quant: None,
                data: Some([1i32, 2].iter().flat_map(|a| a.to_le_bytes()).collect()),
            });
            let y = b.act(&[2, 4], g.output_scale, i64::from(g.output_zp));
            let options: Options = Box::new(|fbb| {
                schema::ReducerOptions::create(
                    fbb,
                    &schema::ReducerOptionsArgs { keep_dims: false },
                )
                .as_union_value()
            });
            b.op(
                B::MEAN,
                2,
                &[x, axes],
                &[y],
                Some((BuiltinOptions::ReducerOptions, options)),
            );
            b.inputs = vec![x];
            b.outputs = vec![y];
            assert_eq!(run_single(&b, &g.input), g.output, "MEAN");
        }
    }
}
