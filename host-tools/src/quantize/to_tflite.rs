//! A calibrated float [`Graph`] written as an int8 `.tflite` model, in the form TensorFlow's
//! converter gives full-integer models: per-channel symmetric int8 weights, int32 biases at
//! `input_scale * weight_scale`, asymmetric int8 activations, SOFTMAX and LOGISTIC outputs at
//! 1/256 (zero point -128), TANH at 1/128. The importer then computes every prepare-time
//! parameter exactly as for a converted model, so the float path reuses all of its checks and
//! arithmetic, and the intermediate file can be run by TFLM itself (`mote import --emit-tflite`).

use anyhow::{Result, anyhow, bail, ensure};
use flatbuffers::{FlatBufferBuilder, WIPOffset};

use super::QParams;
use super::calibrate::{Ranges, tied};
use crate::float::{Fixed, Fused, Graph, Op, Padding, TensorIx, Window};
use crate::intake::tflite::schema::{
    self as tfl, ActivationFunctionType, BuiltinOperator as B, BuiltinOptions, TensorType,
};

/// Writes the int8 `.tflite` bytes of `graph` with the activation `ranges` of calibration.
///
/// # Errors
/// A tensor without a range, or a graph the int8 form cannot hold (a shape over `i32`).
pub fn write(graph: &Graph, ranges: &Ranges) -> Result<Vec<u8>> {
    let quant = activation_quantization(graph, ranges)?;
    let mut w = Writer {
        graph,
        quant: &quant,
        fbb: FlatBufferBuilder::new(),
        buffers: Vec::new(),
        tensors: Vec::new(),
        codes: Vec::new(),
        operators: Vec::new(),
        ids: vec![None; graph.tensors.len()],
        ranges,
    };
    let empty = tfl::Buffer::create(&mut w.fbb, &tfl::BufferArgs::default());
    w.buffers.push(empty);
    let inputs = graph
        .inputs
        .iter()
        .map(|&t| w.activation(t))
        .collect::<Result<Vec<_>>>()?;
    for node in &graph.nodes {
        w.node(node).map_err(|e| {
            anyhow!(
                "{} {}: {e}",
                node.op.name(),
                graph.tensors[node.output].name
            )
        })?;
    }
    let outputs = graph
        .outputs
        .iter()
        .map(|&t| w.activation(t))
        .collect::<Result<Vec<_>>>()?;
    w.finish(&inputs, &outputs)
}

/// Each activation's int8 quantization. Tensors an operator only copies between (see
/// [`tied`]) share one: the quantization fixed on any of them (by a QDQ pair of the source
/// model, or by SOFTMAX, LOGISTIC and TANH, whose outputs TFLM fixes at 1/256 and 1/128), else
/// the union of their calibrated ranges. A group where two such fixed quantizations differ,
/// or where a fixed output meets another computed tensor (a CONCATENATION of a LOGISTIC and a
/// convolution), cannot be expressed and is refused.
fn activation_quantization(graph: &Graph, ranges: &Ranges) -> Result<Vec<Option<QParams>>> {
    let group = tied(graph);
    let n = graph.tensors.len();
    // A fixed quantization per group, with the tensor that fixes it (for messages).
    let mut fixed: Vec<Option<(QParams, TensorIx)>> = vec![None; n];
    let mut fix = |t: TensorIx, q: QParams| -> Result<()> {
        match fixed[group[t]] {
            Some((other, u)) if other != q => bail!(
                "tensors {} and {} must share one int8 quantization (an operator between them \
                 only copies bytes), but the model fixes them differently ({} and {})",
                graph.tensors[u].name,
                graph.tensors[t].name,
                describe(other),
                describe(q)
            ),
            _ => fixed[group[t]] = Some((q, t)),
        }
        Ok(())
    };
    for (t, tensor) in graph.tensors.iter().enumerate() {
        if let Some(Fixed::Activation { scale, zero_point }) = tensor.fixed {
            fix(t, QParams { scale, zero_point })?;
        }
    }
    // Tensors computed by an operator that rescales (or graph inputs and state): more than
    // one in a group means values from different sources share the group's quantization.
    let mut computed = vec![0usize; n];
    let copies: Vec<TensorIx> = graph
        .nodes
        .iter()
        .filter(|node| node.op.keeps_quantization())
        .map(|node| node.output)
        .collect();
    for (t, tensor) in graph.tensors.iter().enumerate() {
        if tensor.data.is_none() && !copies.contains(&t) {
            computed[group[t]] += 1;
        }
    }
    for node in &graph.nodes {
        let (scale, zero_point) = match node.op {
            Op::Softmax { .. } | Op::Logistic => (1.0 / 256.0, -128),
            Op::Tanh => (1.0 / 128.0, 0),
            _ => continue,
        };
        let t = node.output;
        ensure!(
            computed[group[t]] == 1,
            "the output of {} {} is copied together with other computed values (a \
             CONCATENATION, PAD or pool of several sources), but TFLM fixes it at {}: not \
             supported",
            node.op.name(),
            graph.tensors[t].name,
            describe(QParams { scale, zero_point })
        );
        fix(t, QParams { scale, zero_point })?;
    }
    let mut by_group: Vec<Option<QParams>> = fixed.iter().map(|f| f.map(|(q, _)| q)).collect();
    for (t, tensor) in graph.tensors.iter().enumerate() {
        if let (None, Some((lo, hi))) = (tensor.data.as_ref(), ranges.get(t).copied().flatten()) {
            by_group[group[t]].get_or_insert(QParams::from_range(lo, hi));
        }
    }
    Ok(group.iter().map(|&g| by_group[g]).collect())
}

fn describe(q: QParams) -> String {
    format!("scale {} zero point {}", q.scale, q.zero_point)
}

struct Writer<'g, 'q> {
    graph: &'g Graph,
    quant: &'q [Option<QParams>],
    fbb: FlatBufferBuilder<'static>,
    buffers: Vec<WIPOffset<tfl::Buffer<'static>>>,
    tensors: Vec<WIPOffset<tfl::Tensor<'static>>>,
    codes: Vec<(B, i32)>,
    operators: Vec<WIPOffset<tfl::Operator<'static>>>,
    /// The int8 tensor of each activation, once written.
    ids: Vec<Option<i32>>,
    /// Calibrated ranges (the LSTM's int16 cell state is sized from its range).
    ranges: &'q Ranges,
}

/// A tensor's quantization as the schema stores it.
struct Quant {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    axis: i32,
}

impl Quant {
    fn per_tensor(q: QParams) -> Quant {
        Quant {
            scales: vec![q.scale],
            zero_points: vec![i64::from(q.zero_point)],
            axis: 0,
        }
    }
}

impl Writer<'_, '_> {
    fn tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: TensorType,
        data: Option<&[u8]>,
        quant: Option<Quant>,
    ) -> Result<i32> {
        self.tensor_of(name, shape, dtype, data, quant, false)
    }

    /// [`Writer::tensor`], or a variable tensor (operator state) with `is_variable`.
    fn tensor_of(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: TensorType,
        data: Option<&[u8]>,
        quant: Option<Quant>,
        is_variable: bool,
    ) -> Result<i32> {
        let dims = shape
            .iter()
            .map(|&d| i32::try_from(d).map_err(|_| anyhow!("dimension {d} of {name}")))
            .collect::<Result<Vec<_>>>()?;
        let buffer = match data {
            Some(bytes) => {
                let v = self.fbb.create_vector(bytes);
                let b = tfl::Buffer::create(
                    &mut self.fbb,
                    &tfl::BufferArgs {
                        data: Some(v),
                        ..Default::default()
                    },
                );
                self.buffers.push(b);
                u32::try_from(self.buffers.len() - 1)?
            }
            None => 0,
        };
        let quantization = quant.map(|q| {
            let scale = Some(self.fbb.create_vector(&q.scales));
            let zero_point = Some(self.fbb.create_vector(&q.zero_points));
            tfl::QuantizationParameters::create(
                &mut self.fbb,
                &tfl::QuantizationParametersArgs {
                    scale,
                    zero_point,
                    quantized_dimension: q.axis,
                    ..Default::default()
                },
            )
        });
        let shape = Some(self.fbb.create_vector(&dims));
        let name = Some(self.fbb.create_string(name));
        let t = tfl::Tensor::create(
            &mut self.fbb,
            &tfl::TensorArgs {
                shape,
                type_: dtype,
                buffer,
                name,
                quantization,
                is_variable,
                ..Default::default()
            },
        );
        self.tensors.push(t);
        Ok(i32::try_from(self.tensors.len() - 1)?)
    }

    /// The int8 tensor of activation `t` (written on first use).
    fn activation(&mut self, t: TensorIx) -> Result<i32> {
        if let Some(id) = self.ids[t] {
            return Ok(id);
        }
        let tensor = &self.graph.tensors[t];
        let q = self.quant[t].ok_or_else(|| {
            anyhow!(
                "tensor {} has no quantization: give calibration samples (--calibration); only \
                 QDQ models carry every activation's scale themselves",
                tensor.name
            )
        })?;
        let id = self.tensor(
            &tensor.name,
            &tensor.shape,
            TensorType::INT8,
            None,
            Some(Quant::per_tensor(q)),
        )?;
        self.ids[t] = Some(id);
        Ok(id)
    }

    /// An input that is an activation, or a constant quantized per-tensor over its own range.
    fn operand(&mut self, t: TensorIx) -> Result<i32> {
        self.operand_as(t, None)
    }

    /// [`Writer::operand`], a constant quantized as `like` if given (a CONCATENATION's
    /// constant input, which must share the output's quantization).
    fn operand_as(&mut self, t: TensorIx, like: Option<QParams>) -> Result<i32> {
        let tensor = &self.graph.tensors[t];
        let Some(data) = &tensor.data else {
            return self.activation(t);
        };
        let (lo, hi) = data
            .iter()
            .fold((0.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let q = like.unwrap_or_else(|| QParams::from_range(lo, hi));
        let bytes: Vec<u8> = data.iter().map(|&x| quantize(x, q) as u8).collect();
        self.tensor(
            &tensor.name,
            &tensor.shape,
            TensorType::INT8,
            Some(&bytes),
            Some(Quant::per_tensor(q)),
        )
    }

    /// Symmetric int8 weights, one scale per slice along `axis`, and the int32 bias at
    /// `input_scale * weight_scale`; returns (weights, bias) tensors.
    fn weights(&mut self, node_inputs: &[TensorIx], axis: usize) -> Result<(i32, Option<i32>)> {
        let g = self.graph;
        let x_scale = self.quant[node_inputs[0]]
            .ok_or_else(|| anyhow!("the input has no range"))?
            .scale;
        let w = &g.tensors[node_inputs[1]];
        let data = w
            .data
            .as_deref()
            .ok_or_else(|| anyhow!("weights must be constant"))?;
        let channels = w.shape[axis];
        let inner: usize = w.shape[axis + 1..].iter().product();
        let bias_values = match node_inputs.get(2) {
            None => None,
            Some(&b) => {
                let t = &g.tensors[b];
                let values = t
                    .data
                    .as_deref()
                    .ok_or_else(|| anyhow!("bias must be constant"))?;
                ensure!(
                    values.len() == channels,
                    "{} bias values for {channels} channels",
                    values.len()
                );
                Some((t, values))
            }
        };
        let mut scales: Vec<f32> = match &w.fixed {
            Some(Fixed::Weights { scales, .. }) if scales.len() == channels => scales.clone(),
            Some(Fixed::Weights { scales, .. }) if scales.len() == 1 => vec![scales[0]; channels],
            _ => {
                let mut max = vec![0.0f32; channels];
                for (i, &v) in data.iter().enumerate() {
                    let c = (i / inner) % channels;
                    max[c] = max[c].max(v.abs());
                }
                let mut scales: Vec<f32> = max
                    .iter()
                    .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
                    .collect();
                // A channel of (nearly) zero weights has a tiny scale, at which its bias
                // would not fit int32: widen the scale (the weights round to zero either way).
                if let Some((_, values)) = bias_values {
                    for (s, &b) in scales.iter_mut().zip(values) {
                        let least = f64::from(b.abs()) / f64::from(x_scale) / f64::from(1u32 << 30);
                        *s = s.max(least as f32);
                    }
                }
                scales
            }
        };
        scales
            .iter_mut()
            .for_each(|s| *s = s.max(f32::MIN_POSITIVE));
        let bytes: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = scales[(i / inner) % channels];
                (v / s).round().clamp(-127.0, 127.0) as i8 as u8
            })
            .collect();
        let quant = Quant {
            zero_points: vec![0; scales.len()],
            scales: scales.clone(),
            axis: i32::try_from(axis)?,
        };
        let weights = self.tensor(
            &w.name,
            &w.shape,
            TensorType::INT8,
            Some(&bytes),
            Some(quant),
        )?;
        let bias = match bias_values {
            None => None,
            Some((t, values)) => {
                let bias_scales: Vec<f32> = scales.iter().map(|s| x_scale * s).collect();
                let bytes = int32_bias(&t.name, values, &bias_scales)?;
                let quant = Quant {
                    zero_points: vec![0; channels],
                    scales: bias_scales,
                    axis: 0,
                };
                Some(self.tensor(
                    &t.name,
                    &[channels],
                    TensorType::INT32,
                    Some(&bytes),
                    Some(quant),
                )?)
            }
        };
        Ok((weights, bias))
    }

    /// The 24 inputs of an int8 UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's full-integer scheme):
    /// per-tensor symmetric int8 weights, int32 biases at `input_scale * weight_scale`, an
    /// int8 hidden state quantized as the output, an int16 cell state at the power of two that
    /// covers its calibrated range; no peepholes, projection or layer normalization (-1).
    fn lstm_inputs(&mut self, node: &crate::float::Node, x: i32) -> Result<Vec<i32>> {
        let g = self.graph;
        let x_scale = self.quant[node.inputs[0]]
            .ok_or_else(|| anyhow!("the input has no range"))?
            .scale;
        let mut inputs = vec![x];
        let mut gate_scales = [0.0f32; 4];
        for i in 1..9 {
            let w = &g.tensors[node.inputs[i]];
            let data = w
                .data
                .as_deref()
                .ok_or_else(|| anyhow!("weights must be constant"))?;
            let max = data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            let bytes: Vec<u8> = data
                .iter()
                .map(|&v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8)
                .collect();
            let q = Quant::per_tensor(QParams {
                scale,
                zero_point: 0,
            });
            inputs.push(self.tensor(&w.name, &w.shape, TensorType::INT8, Some(&bytes), Some(q))?);
            if i < 5 {
                gate_scales[i - 1] = scale;
            }
        }
        inputs.extend([-1; 3]);
        for (gate, &w_scale) in gate_scales.iter().enumerate() {
            let b = &g.tensors[node.inputs[9 + gate]];
            let data = b
                .data
                .as_deref()
                .ok_or_else(|| anyhow!("biases must be constant"))?;
            let scale = x_scale * w_scale;
            let bytes = int32_bias(&b.name, data, &vec![scale; data.len()])?;
            let q = Quant::per_tensor(QParams {
                scale,
                zero_point: 0,
            });
            inputs.push(self.tensor(
                &b.name,
                &b.shape,
                TensorType::INT32,
                Some(&bytes),
                Some(q),
            )?);
        }
        inputs.extend([-1; 2]);
        let (h, c) = (node.inputs[13], node.inputs[14]);
        let hq = self.quant[node.output].ok_or_else(|| anyhow!("the output has no range"))?;
        let h = &g.tensors[h];
        inputs.push(self.tensor_of(
            &h.name,
            &h.shape,
            TensorType::INT8,
            None,
            Some(Quant::per_tensor(hq)),
            true,
        )?);
        let (lo, hi) = self
            .ranges
            .get(c)
            .copied()
            .flatten()
            .ok_or_else(|| anyhow!("the cell state has no range"))?;
        let cell_scale =
            2f32.powi(lo.abs().max(hi.abs()).max(f32::MIN_POSITIVE).log2().ceil() as i32 - 15);
        let c = &g.tensors[c];
        let cq = Quant::per_tensor(QParams {
            scale: cell_scale,
            zero_point: 0,
        });
        inputs.push(self.tensor_of(&c.name, &c.shape, TensorType::INT16, None, Some(cq), true)?);
        inputs.extend([-1; 4]);
        Ok(inputs)
    }

    fn ints(&mut self, name: &str, values: &[usize], shape: &[usize]) -> Result<i32> {
        let bytes: Vec<u8> = values
            .iter()
            .map(|&v| i32::try_from(v).map(i32::to_le_bytes))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        self.tensor(name, shape, TensorType::INT32, Some(&bytes), None)
    }

    fn node(&mut self, node: &crate::float::Node) -> Result<()> {
        let out_name = self.graph.tensors[node.output].name.clone();
        let like = match node.op {
            Op::Concat { .. } => self.quant[node.output],
            _ => None,
        };
        let x = self.operand_as(node.inputs[0], like)?;
        let fbb = &mut self.fbb;
        let act = |f: Fused| match f {
            Fused::None => ActivationFunctionType::NONE,
            Fused::Relu => ActivationFunctionType::RELU,
            Fused::Relu6 => ActivationFunctionType::RELU6,
        };
        let padding = |w: &Window| match w.padding {
            Padding::Same => tfl::Padding::SAME,
            Padding::Valid => tfl::Padding::VALID,
        };
        let mut inputs = vec![x];
        let (code, version, options_type, options) = match &node.op {
            Op::Conv2d { window, fused } => {
                let o = tfl::Conv2DOptions::create(
                    fbb,
                    &tfl::Conv2DOptionsArgs {
                        padding: padding(window),
                        stride_h: i32::try_from(window.stride[0])?,
                        stride_w: i32::try_from(window.stride[1])?,
                        dilation_h_factor: i32::try_from(window.dilation[0])?,
                        dilation_w_factor: i32::try_from(window.dilation[1])?,
                        fused_activation_function: act(*fused),
                        ..Default::default()
                    },
                );
                let (w, b) = self.weights(&node.inputs, 0)?;
                inputs.push(w);
                inputs.extend(b);
                (
                    B::CONV_2D,
                    3,
                    BuiltinOptions::Conv2DOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::DepthwiseConv2d {
                window,
                multiplier,
                fused,
            } => {
                let o = tfl::DepthwiseConv2DOptions::create(
                    fbb,
                    &tfl::DepthwiseConv2DOptionsArgs {
                        padding: padding(window),
                        stride_h: i32::try_from(window.stride[0])?,
                        stride_w: i32::try_from(window.stride[1])?,
                        dilation_h_factor: i32::try_from(window.dilation[0])?,
                        dilation_w_factor: i32::try_from(window.dilation[1])?,
                        depth_multiplier: i32::try_from(*multiplier)?,
                        fused_activation_function: act(*fused),
                    },
                );
                let (w, b) = self.weights(&node.inputs, 3)?;
                inputs.push(w);
                inputs.extend(b);
                (
                    B::DEPTHWISE_CONV_2D,
                    3,
                    BuiltinOptions::DepthwiseConv2DOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::TransposeConv { stride, fused } => {
                let o = tfl::TransposeConvOptions::create(
                    fbb,
                    &tfl::TransposeConvOptionsArgs {
                        padding: tfl::Padding::VALID,
                        stride_h: i32::try_from(stride[0])?,
                        stride_w: i32::try_from(stride[1])?,
                        fused_activation_function: act(*fused),
                        ..Default::default()
                    },
                );
                // TFLite's order: output shape, weights, input, bias.
                let shape = self.graph.tensors[node.output].shape.clone();
                let out_shape = self.ints(&format!("{out_name}/shape"), &shape, &[shape.len()])?;
                let (w, b) = self.weights(&node.inputs, 0)?;
                inputs = vec![out_shape, w, x];
                inputs.extend(b);
                let version = if *fused == Fused::None { 3 } else { 4 };
                (
                    B::TRANSPOSE_CONV,
                    version,
                    BuiltinOptions::TransposeConvOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::Lstm => {
                let o = tfl::UnidirectionalSequenceLSTMOptions::create(
                    fbb,
                    &tfl::UnidirectionalSequenceLSTMOptionsArgs {
                        fused_activation_function: ActivationFunctionType::TANH,
                        time_major: true,
                        ..Default::default()
                    },
                );
                inputs = self.lstm_inputs(node, x)?;
                (
                    B::UNIDIRECTIONAL_SEQUENCE_LSTM,
                    1,
                    BuiltinOptions::UnidirectionalSequenceLSTMOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::FullyConnected { keep_dims, fused } => {
                let o = tfl::FullyConnectedOptions::create(
                    fbb,
                    &tfl::FullyConnectedOptionsArgs {
                        fused_activation_function: act(*fused),
                        keep_num_dims: *keep_dims,
                        ..Default::default()
                    },
                );
                let (w, b) = self.weights(&node.inputs, 0)?;
                inputs.push(w);
                inputs.extend(b);
                (
                    B::FULLY_CONNECTED,
                    if *keep_dims { 5 } else { 4 },
                    BuiltinOptions::FullyConnectedOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::MaxPool {
                window,
                filter,
                fused,
            }
            | Op::AvgPool {
                window,
                filter,
                fused,
            } => {
                ensure!(window.dilation == [1, 1], "pools have no dilation");
                let o = tfl::Pool2DOptions::create(
                    fbb,
                    &tfl::Pool2DOptionsArgs {
                        padding: padding(window),
                        stride_h: i32::try_from(window.stride[0])?,
                        stride_w: i32::try_from(window.stride[1])?,
                        filter_height: i32::try_from(filter[0])?,
                        filter_width: i32::try_from(filter[1])?,
                        fused_activation_function: act(*fused),
                    },
                );
                let code = if matches!(node.op, Op::MaxPool { .. }) {
                    B::MAX_POOL_2D
                } else {
                    B::AVERAGE_POOL_2D
                };
                (
                    code,
                    2,
                    BuiltinOptions::Pool2DOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::Add { fused } | Op::Sub { fused } | Op::Mul { fused } => {
                let f = act(*fused);
                let (code, options_type, o) = match node.op {
                    Op::Add { .. } => (
                        B::ADD,
                        BuiltinOptions::AddOptions,
                        tfl::AddOptions::create(
                            fbb,
                            &tfl::AddOptionsArgs {
                                fused_activation_function: f,
                                ..Default::default()
                            },
                        )
                        .as_union_value(),
                    ),
                    Op::Sub { .. } => (
                        B::SUB,
                        BuiltinOptions::SubOptions,
                        tfl::SubOptions::create(
                            fbb,
                            &tfl::SubOptionsArgs {
                                fused_activation_function: f,
                                ..Default::default()
                            },
                        )
                        .as_union_value(),
                    ),
                    _ => (
                        B::MUL,
                        BuiltinOptions::MulOptions,
                        tfl::MulOptions::create(
                            fbb,
                            &tfl::MulOptionsArgs {
                                fused_activation_function: f,
                            },
                        )
                        .as_union_value(),
                    ),
                };
                inputs.push(self.operand(node.inputs[1])?);
                (code, 2, options_type, Some(o))
            }
            Op::Prelu => {
                inputs.push(self.operand(node.inputs[1])?);
                (B::PRELU, 1, BuiltinOptions::NONE, None)
            }
            Op::Mean { axes, keep_dims } => {
                let o = tfl::ReducerOptions::create(
                    fbb,
                    &tfl::ReducerOptionsArgs {
                        keep_dims: *keep_dims,
                    },
                );
                inputs.push(self.ints(&format!("{out_name}/axes"), axes, &[axes.len()])?);
                (
                    B::MEAN,
                    2,
                    BuiltinOptions::ReducerOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::Reshape { shape } => {
                inputs.push(self.ints(&format!("{out_name}/shape"), shape, &[shape.len()])?);
                (B::RESHAPE, 1, BuiltinOptions::NONE, None)
            }
            Op::Transpose { perm } => {
                inputs.push(self.ints(&format!("{out_name}/perm"), perm, &[perm.len()])?);
                (B::TRANSPOSE, 2, BuiltinOptions::NONE, None)
            }
            Op::Concat { axis } => {
                let o = tfl::ConcatenationOptions::create(
                    fbb,
                    &tfl::ConcatenationOptionsArgs {
                        axis: i32::try_from(*axis)?,
                        ..Default::default()
                    },
                );
                for &t in &node.inputs[1..] {
                    inputs.push(self.operand_as(t, like)?);
                }
                (
                    B::CONCATENATION,
                    2,
                    BuiltinOptions::ConcatenationOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::Softmax { beta } => {
                let o = tfl::SoftmaxOptions::create(fbb, &tfl::SoftmaxOptionsArgs { beta: *beta });
                (
                    B::SOFTMAX,
                    2,
                    BuiltinOptions::SoftmaxOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::Pad { pads, value } => {
                let flat: Vec<usize> = pads.iter().flatten().copied().collect();
                inputs.push(self.ints(&format!("{out_name}/pads"), &flat, &[pads.len(), 2])?);
                if *value == 0.0 {
                    (B::PAD, 2, BuiltinOptions::NONE, None)
                } else {
                    let q = self.quant[node.inputs[0]]
                        .ok_or_else(|| anyhow!("the input has no range"))?;
                    let v = [quantize(*value, q) as u8];
                    let t = self.tensor(
                        &format!("{out_name}/value"),
                        &[],
                        TensorType::INT8,
                        Some(&v),
                        Some(Quant::per_tensor(q)),
                    )?;
                    inputs.push(t);
                    (B::PADV2, 2, BuiltinOptions::NONE, None)
                }
            }
            Op::Slice { begin, size } => {
                inputs.push(self.ints(&format!("{out_name}/begin"), begin, &[begin.len()])?);
                inputs.push(self.ints(&format!("{out_name}/size"), size, &[size.len()])?);
                (B::SLICE, 2, BuiltinOptions::NONE, None)
            }
            Op::Relu => (B::RELU, 2, BuiltinOptions::NONE, None),
            Op::Relu6 => (B::RELU6, 2, BuiltinOptions::NONE, None),
            Op::LeakyRelu { alpha } => {
                let o = tfl::LeakyReluOptions::create(
                    fbb,
                    &tfl::LeakyReluOptionsArgs { alpha: *alpha },
                );
                (
                    B::LEAKY_RELU,
                    2,
                    BuiltinOptions::LeakyReluOptions,
                    Some(o.as_union_value()),
                )
            }
            Op::Logistic => (B::LOGISTIC, 2, BuiltinOptions::NONE, None),
            Op::Tanh => (B::TANH, 2, BuiltinOptions::NONE, None),
            Op::HardSwish => (B::HARD_SWISH, 1, BuiltinOptions::NONE, None),
        };
        let output = self.activation(node.output)?;
        let opcode_index = match self.codes.iter().position(|&c| c == (code, version)) {
            Some(i) => i,
            None => {
                self.codes.push((code, version));
                self.codes.len() - 1
            }
        };
        let inputs = Some(self.fbb.create_vector(&inputs));
        let outputs = Some(self.fbb.create_vector(&[output]));
        let op = tfl::Operator::create(
            &mut self.fbb,
            &tfl::OperatorArgs {
                opcode_index: u32::try_from(opcode_index)?,
                inputs,
                outputs,
                builtin_options_type: options_type,
                builtin_options: options,
                ..Default::default()
            },
        );
        self.operators.push(op);
        Ok(())
    }

    fn finish(mut self, inputs: &[i32], outputs: &[i32]) -> Result<Vec<u8>> {
        let codes: Vec<_> = self
            .codes
            .iter()
            .map(|&(code, version)| {
                let deprecated = i8::try_from(code.0).unwrap_or(127);
                tfl::OperatorCode::create(
                    &mut self.fbb,
                    &tfl::OperatorCodeArgs {
                        deprecated_builtin_code: deprecated,
                        builtin_code: code,
                        version,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let sg_tensors = Some(self.fbb.create_vector(&self.tensors));
        let sg_inputs = Some(self.fbb.create_vector(inputs));
        let sg_outputs = Some(self.fbb.create_vector(outputs));
        let sg_operators = Some(self.fbb.create_vector(&self.operators));
        let subgraph = tfl::SubGraph::create(
            &mut self.fbb,
            &tfl::SubGraphArgs {
                tensors: sg_tensors,
                inputs: sg_inputs,
                outputs: sg_outputs,
                operators: sg_operators,
                ..Default::default()
            },
        );
        let operator_codes = Some(self.fbb.create_vector(&codes));
        let subgraphs = Some(self.fbb.create_vector(&[subgraph]));
        let buffers = Some(self.fbb.create_vector(&self.buffers));
        let description = Some(self.fbb.create_string("mote: quantized from a float model"));
        let model = tfl::Model::create(
            &mut self.fbb,
            &tfl::ModelArgs {
                version: 3,
                operator_codes,
                subgraphs,
                description,
                buffers,
                ..Default::default()
            },
        );
        tfl::finish_model_buffer(&mut self.fbb, model);
        if self.fbb.finished_data().len() > i32::MAX as usize {
            bail!("the model exceeds the 2 GB a flatbuffer holds");
        }
        Ok(self.fbb.finished_data().to_vec())
    }
}

/// Biases as int32 at the given scales (one per value), little-endian.
///
/// # Errors
/// A bias that does not fit int32 at its scale (input and weight scales so small that the
/// bias would wrap).
fn int32_bias(name: &str, values: &[f32], scales: &[f32]) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(4 * values.len());
    for (c, (&v, &s)) in values.iter().zip(scales).enumerate() {
        let q = (f64::from(v) / f64::from(s)).round();
        ensure!(
            q.abs() <= f64::from(i32::MAX),
            "bias {name} channel {c}: {v} at scale {s} (input scale x weight scale) does not \
             fit int32; the calibration range of the input is too narrow for these weights"
        );
        bytes.extend_from_slice(&(q as i32).to_le_bytes());
    }
    Ok(bytes)
}

/// `round(x / scale) + zero_point`, saturated to int8.
fn quantize(x: f32, q: QParams) -> i8 {
    ((x / q.scale).round() + q.zero_point as f32).clamp(-128.0, 127.0) as i8
}
