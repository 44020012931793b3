//! Float `.tflite` models (as Keras and the TFLite converter write them without quantization)
//! read into a float [`Graph`]: the layout is already NHWC and the operators already TFLite's,
//! so each operator maps to one [`Op`].

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::float::{Fused, Graph, Op, Padding, TensorIx, Window};
use crate::intake::tflite::schema::{
    ActivationFunctionType, BuiltinOperator as B, Padding as TfPadding, TensorType,
};
use crate::intake::tflite::{self, Operator, Subgraph};

/// True if the model holds float16 weights (a float16-quantized model: DEQUANTIZE of float16
/// constants), which neither reader takes.
pub fn is_float16(model: &tflite::Model<'_>) -> bool {
    model
        .main_subgraph()
        .tensors
        .iter()
        .any(|t| t.dtype == TensorType::FLOAT16)
}

/// True if the model's compute operators take float32 activations (a model for this reader
/// rather than the int8 importer).
pub fn is_float(model: &tflite::Model<'_>) -> bool {
    let sg = model.main_subgraph();
    sg.inputs
        .iter()
        .all(|&t| sg.tensors[t].dtype == TensorType::FLOAT32)
        && !sg
            .operators
            .iter()
            .any(|op| matches!(op.builtin, B::QUANTIZE | B::DEQUANTIZE))
}

/// Reads the main subgraph of a float `.tflite` model.
///
/// # Errors
/// An operator, option or tensor type the float graph does not have, named with the
/// operator's index.
pub fn read(model: &tflite::Model<'_>) -> Result<Graph> {
    let sg = model.main_subgraph();
    let mut reader = Reader {
        sg,
        graph: Graph::default(),
        ids: vec![None; sg.tensors.len()],
    };
    for &t in &sg.inputs {
        let tensor = &sg.tensors[t];
        ensure!(
            tensor.dtype == TensorType::FLOAT32,
            "graph input \"{}\" is not float32",
            tensor.name
        );
        let shape = dims(&tensor.shape)?;
        crate::float::elements(&shape)
            .map_err(|e| anyhow!("graph input \"{}\": {e}", tensor.name))?;
        ensure!(
            shape.iter().all(|&d| d > 0),
            "graph input \"{}\" has an empty dimension: {shape:?}",
            tensor.name
        );
        let id = reader.graph.activation(tensor.name, shape);
        reader.ids[t] = Some(id);
        reader.graph.inputs.push(id);
    }
    for (index, op) in sg.operators.iter().enumerate() {
        let name = model.operator_codes[op.opcode_index].name().to_owned();
        reader
            .op(op)
            .with_context(|| format!("operator {index} ({name})"))?;
    }
    for &t in &sg.outputs {
        let id = reader.ids[t].ok_or_else(|| {
            anyhow!(
                "graph output \"{}\" is not written by any operator",
                sg.tensors[t].name
            )
        })?;
        reader.graph.outputs.push(id);
    }
    Ok(reader.graph)
}

/// The float values of an int8 constant with per-tensor or per-channel scales.
fn dequantize(tensor: &tflite::Tensor<'_>) -> Result<Vec<f32>> {
    let q = tensor
        .quantization
        .as_ref()
        .filter(|q| !q.scale.is_empty() && !q.has_details)
        .ok_or_else(|| anyhow!("int8 constant \"{}\" has no scale", tensor.name))?;
    let shape = dims(&tensor.shape)?;
    let data = tensor.data.unwrap_or_default();
    ensure!(
        crate::float::elements(&shape)? == data.len(),
        "int8 constant \"{}\" holds {} bytes for shape {shape:?}",
        tensor.name,
        data.len()
    );
    let axis = usize::try_from(q.quantized_dimension).unwrap_or(0);
    let channels = q.scale.len();
    let inner: usize = shape.iter().skip(axis + 1).product();
    ensure!(
        channels == 1 || shape.get(axis) == Some(&channels),
        "int8 constant \"{}\": {channels} scales for shape {shape:?}",
        tensor.name
    );
    Ok(data
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let c = if channels == 1 {
                0
            } else {
                (i / inner) % channels
            };
            let zp = q.zero_point.get(c).copied().unwrap_or(0) as f32;
            (f32::from(b as i8) - zp) * q.scale[c]
        })
        .collect())
}

fn dims(shape: &[i32]) -> Result<Vec<usize>> {
    shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| anyhow!("dimension {d} in {shape:?}")))
        .collect()
}

struct Reader<'m, 'a> {
    sg: &'m Subgraph<'a>,
    graph: Graph,
    ids: Vec<Option<TensorIx>>,
}

impl Reader<'_, '_> {
    /// Input `i` of `op`: an activation already in the graph, or a float32 constant added now.
    fn input(&mut self, op: &Operator<'_>, i: usize) -> Result<TensorIx> {
        let t = op.input(i)?;
        if let Some(id) = self.ids[t] {
            return Ok(id);
        }
        let tensor = &self.sg.tensors[t];
        let Some(data) = tensor.data else {
            bail!(
                "input {i} (\"{}\") is read before it is written",
                tensor.name
            )
        };
        let values = match tensor.dtype {
            TensorType::FLOAT32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            // Dynamic-range ("hybrid") models keep int8 weights for float compute: read
            // them as the float values they stand for.
            TensorType::INT8 => dequantize(tensor)?,
            other => bail!(
                "constant \"{}\" is {other:?}; float32 (or int8 dynamic-range) weights are needed",
                tensor.name
            ),
        };
        let id = self
            .graph
            .constant(tensor.name, dims(&tensor.shape)?, values)?;
        self.ids[t] = Some(id);
        Ok(id)
    }

    /// Integer values of constant input `i` (axes, paddings).
    fn ints(&self, op: &Operator<'_>, i: usize) -> Result<Vec<i64>> {
        let tensor = &self.sg.tensors[op.input(i)?];
        let data = tensor
            .data
            .ok_or_else(|| anyhow!("input {i} must be a constant"))?;
        Ok(match tensor.dtype {
            TensorType::INT32 => data
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            TensorType::INT64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
            other => bail!("input {i} is {other:?}; int32 or int64 is needed"),
        })
    }

    fn op(&mut self, op: &Operator<'_>) -> Result<()> {
        ensure!(
            op.outputs.len() == 1,
            "only single-output operators are read"
        );
        let out_t = op.outputs[0];
        let out_tensor = &self.sg.tensors[out_t];
        ensure!(
            out_tensor.dtype == TensorType::FLOAT32,
            "output \"{}\" is {:?}; this reader takes float32 models",
            out_tensor.name,
            out_tensor.dtype
        );
        let out_shape = dims(&out_tensor.shape)?;
        let raw = &op.raw;
        let x = self.input(op, 0)?;
        let rank = self.graph.tensors[x].shape.len();
        let axis = |a: i64| -> Result<usize> {
            let r = i64::try_from(rank).unwrap_or(0);
            let a = if a < 0 { a + r } else { a };
            usize::try_from(a)
                .ok()
                .filter(|&a| a < rank)
                .ok_or_else(|| anyhow!("axis {a} for rank {rank}"))
        };
        let (new_op, inputs) = match op.builtin {
            B::CONV_2D => {
                let o = raw
                    .builtin_options_as_conv_2_doptions()
                    .ok_or_else(|| anyhow!("options missing"))?;
                let window = window(
                    o.padding(),
                    [o.stride_h(), o.stride_w()],
                    [o.dilation_h_factor(), o.dilation_w_factor()],
                )?;
                let fused = fused(o.fused_activation_function())?;
                (Op::Conv2d { window, fused }, self.weighted(op, x)?)
            }
            B::DEPTHWISE_CONV_2D => {
                let o = raw
                    .builtin_options_as_depthwise_conv_2_doptions()
                    .ok_or_else(|| anyhow!("options missing"))?;
                let window = window(
                    o.padding(),
                    [o.stride_h(), o.stride_w()],
                    [o.dilation_h_factor(), o.dilation_w_factor()],
                )?;
                let fused = fused(o.fused_activation_function())?;
                let channels = self.graph.tensors[x].shape.last().copied().unwrap_or(1);
                let inputs = self.weighted(op, x)?;
                let depth = self.graph.tensors[inputs[1]]
                    .shape
                    .last()
                    .copied()
                    .unwrap_or(0);
                ensure!(
                    channels > 0 && depth % channels == 0,
                    "filter depth {depth} for {channels} channels"
                );
                let multiplier = depth / channels;
                (
                    Op::DepthwiseConv2d {
                        window,
                        multiplier,
                        fused,
                    },
                    inputs,
                )
            }
            B::FULLY_CONNECTED => {
                let o = raw.builtin_options_as_fully_connected_options();
                let fused = fused(o.map_or(ActivationFunctionType::NONE, |o| {
                    o.fused_activation_function()
                }))?;
                let keep_dims = o.is_some_and(|o| o.keep_num_dims());
                (
                    Op::FullyConnected { keep_dims, fused },
                    self.weighted(op, x)?,
                )
            }
            B::AVERAGE_POOL_2D | B::MAX_POOL_2D => {
                let o = raw
                    .builtin_options_as_pool_2_doptions()
                    .ok_or_else(|| anyhow!("options missing"))?;
                let window = window(o.padding(), [o.stride_h(), o.stride_w()], [1, 1])?;
                let filter = [
                    usize::try_from(o.filter_height())?,
                    usize::try_from(o.filter_width())?,
                ];
                let fused = fused(o.fused_activation_function())?;
                let pool = if op.builtin == B::MAX_POOL_2D {
                    Op::MaxPool {
                        window,
                        filter,
                        fused,
                    }
                } else {
                    Op::AvgPool {
                        window,
                        filter,
                        fused,
                    }
                };
                (pool, vec![x])
            }
            B::ADD | B::SUB | B::MUL => {
                let act = match op.builtin {
                    B::ADD => raw
                        .builtin_options_as_add_options()
                        .map(|o| o.fused_activation_function()),
                    B::SUB => raw
                        .builtin_options_as_sub_options()
                        .map(|o| o.fused_activation_function()),
                    _ => raw
                        .builtin_options_as_mul_options()
                        .map(|o| o.fused_activation_function()),
                };
                let fused = fused(act.unwrap_or(ActivationFunctionType::NONE))?;
                let y = self.input(op, 1)?;
                let binary = match op.builtin {
                    B::ADD => Op::Add { fused },
                    B::SUB => Op::Sub { fused },
                    _ => Op::Mul { fused },
                };
                (binary, vec![x, y])
            }
            B::RESHAPE | B::SQUEEZE | B::EXPAND_DIMS => (
                Op::Reshape {
                    shape: out_shape.clone(),
                },
                vec![x],
            ),
            B::SOFTMAX => {
                let beta = raw
                    .builtin_options_as_softmax_options()
                    .map_or(1.0, |o| o.beta());
                (Op::Softmax { beta }, vec![x])
            }
            B::MEAN => {
                let axes = self
                    .ints(op, 1)?
                    .into_iter()
                    .map(axis)
                    .collect::<Result<_>>()?;
                let keep_dims = raw
                    .builtin_options_as_reducer_options()
                    .is_some_and(|o| o.keep_dims());
                (Op::Mean { axes, keep_dims }, vec![x])
            }
            B::CONCATENATION => {
                let o = raw
                    .builtin_options_as_concatenation_options()
                    .ok_or_else(|| anyhow!("options missing"))?;
                ensure!(
                    o.fused_activation_function() == ActivationFunctionType::NONE,
                    "a fused activation on CONCATENATION is not supported"
                );
                let inputs = (0..op.inputs.len())
                    .map(|i| self.input(op, i))
                    .collect::<Result<_>>()?;
                (
                    Op::Concat {
                        axis: axis(i64::from(o.axis()))?,
                    },
                    inputs,
                )
            }
            B::PAD | B::PADV2 => {
                ensure!(
                    op.builtin == B::PAD,
                    "PADV2 is not supported in float models"
                );
                let p = self.ints(op, 1)?;
                ensure!(p.len() == 2 * rank, "{} paddings for rank {rank}", p.len());
                let pads = p
                    .chunks_exact(2)
                    .map(|c| Ok([usize::try_from(c[0])?, usize::try_from(c[1])?]))
                    .collect::<Result<_>>()?;
                (Op::Pad { pads, value: 0.0 }, vec![x])
            }
            B::TRANSPOSE => {
                let perm = self
                    .ints(op, 1)?
                    .into_iter()
                    .map(axis)
                    .collect::<Result<_>>()?;
                (Op::Transpose { perm }, vec![x])
            }
            B::RELU => (Op::Relu, vec![x]),
            B::RELU6 => (Op::Relu6, vec![x]),
            B::LOGISTIC => (Op::Logistic, vec![x]),
            B::TANH => (Op::Tanh, vec![x]),
            B::HARD_SWISH => (Op::HardSwish, vec![x]),
            B::LEAKY_RELU => {
                let alpha = raw
                    .builtin_options_as_leaky_relu_options()
                    .map_or(0.2, |o| o.alpha());
                (Op::LeakyRelu { alpha }, vec![x])
            }
            other => bail!(
                "{} is not supported in float models",
                other.variant_name().unwrap_or("this operator")
            ),
        };
        let id = self.graph.push(out_tensor.name, new_op, inputs)?;
        ensure!(
            self.graph.tensors[id].shape == out_shape,
            "the output's shape is {out_shape:?} in the file but {:?} by the operator's arithmetic",
            self.graph.tensors[id].shape
        );
        self.ids[out_t] = Some(id);
        Ok(())
    }

    /// x, weights and the optional bias of a convolution or FULLY_CONNECTED.
    fn weighted(&mut self, op: &Operator<'_>, x: TensorIx) -> Result<Vec<TensorIx>> {
        let mut inputs = vec![x, self.input(op, 1)?];
        if op.inputs.get(2).copied().flatten().is_some() {
            inputs.push(self.input(op, 2)?);
        }
        Ok(inputs)
    }
}

fn window(padding: TfPadding, stride: [i32; 2], dilation: [i32; 2]) -> Result<Window> {
    let positive = |v: i32| usize::try_from(v).ok().filter(|&v| v > 0);
    let to2 = |v: [i32; 2]| -> Result<[usize; 2]> {
        match (positive(v[0]), positive(v[1])) {
            (Some(a), Some(b)) => Ok([a, b]),
            _ => bail!("stride or dilation {v:?} must be positive"),
        }
    };
    Ok(Window {
        padding: match padding {
            TfPadding::SAME => Padding::Same,
            TfPadding::VALID => Padding::Valid,
            other => bail!("padding {other:?} is not supported"),
        },
        stride: to2(stride)?,
        dilation: to2(dilation)?,
    })
}

fn fused(a: ActivationFunctionType) -> Result<Fused> {
    Ok(match a {
        ActivationFunctionType::NONE => Fused::None,
        ActivationFunctionType::RELU => Fused::Relu,
        ActivationFunctionType::RELU6 => Fused::Relu6,
        other => bail!("fused activation {other:?} is not supported"),
    })
}
