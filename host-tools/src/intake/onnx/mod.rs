//! ONNX models (as `torch.onnx.export` and tf2onnx write them) read into a float [`Graph`].
//!
//! ONNX is channels-first (NCHW), mote's kernels are channels-last (NHWC). Every activation
//! keeps its ONNX ("logical") dimensions and a [`Layout`] that says how they are stored: a
//! channels-first tensor feeding a convolution is stored channels-last, and each operator
//! works on whichever layout it meets — convolutions and pools want channels-last, operators
//! that see the element order (Flatten, Reshape, Transpose, Squeeze) want the logical order,
//! and axis-taking operators (Concat, Softmax, ReduceMean, Pad, Slice) map their axes. A
//! conversion between the two is one TRANSPOSE, or a free RESHAPE when the dimensions that
//! move are all 1 (after a global pool). This keeps the flatten order before a Gemm right
//! whatever the layout (the classic source of silently wrong results).
//!
//! Constant subgraphs (Shape, Gather, Unsqueeze, Concat, Cast, ... on known shapes) are folded
//! as they are met; BatchNormalization after a convolution is folded into its weights; QDQ
//! pairs become fixed quantizations ([`Fixed`]).
//!
//! One submodule per operator family: `conv` (Conv, ConvTranspose, Gemm, MatMul,
//! BatchNormalization, pools), `elementwise` (activations and broadcasting arithmetic),
//! `shape` (Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Pad, Slice, Split,
//! Softmax, ReduceMean, Gather), `recurrent` (LSTM), `fold` (constant folding) and `qdq`
//! (QuantizeLinear, DequantizeLinear).

mod conv;
mod elementwise;
mod fold;
#[allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms, unreachable_pub)]
#[rustfmt::skip]
mod proto;
mod qdq;
mod recurrent;
mod shape;

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail, ensure};
use prost::Message;

use crate::float::{Fixed, Graph, Op, TensorIx};
use proto::{AttributeProto, NodeProto, TensorProto, tensor_proto::DataType};

/// How the blob's image inputs are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InputLayout {
    /// Channels-last (NHWC), the runtime's layout: no conversion runs on the device.
    #[default]
    Nhwc,
    /// The ONNX model's own (NCHW): a TRANSPOSE at the input converts on the device.
    Nchw,
}

/// What the reader needs beyond the file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Shapes for the graph inputs (in order) whose ONNX shape has dynamic dimensions.
    pub input_shapes: Vec<Vec<usize>>,
    /// Layout of image inputs at the blob's boundary.
    pub input_layout: InputLayout,
}

/// How an activation's logical (ONNX) dimensions are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Layout {
    /// In ONNX's order.
    Plain,
    /// Logical `[n, c, s1, .., sk]` stored as `[n, s1, .., sk, c]`.
    ChannelsLast,
}

/// A constant: ONNX shape and values (integers are exact in f64 up to 2^53).
#[derive(Debug, Clone, PartialEq)]
struct Const {
    shape: Vec<usize>,
    values: Vec<f64>,
    /// A fixed weight quantization from a QDQ model's DequantizeLinear.
    fixed: Option<Fixed>,
    /// The file stored it as uint8 (a QDQ zero point of a uint8 activation).
    uint8: bool,
}

impl Const {
    fn new(shape: Vec<usize>, values: Vec<f64>) -> Const {
        Const {
            shape,
            values,
            fixed: None,
            uint8: false,
        }
    }

    fn scalar(v: f64) -> Const {
        Const::new(Vec::new(), vec![v])
    }

    /// The values as integers; the exporters' "to the end" sentinels (near `i64::MIN` or
    /// `i64::MAX`, not exact in f64) saturate, which keeps their meaning.
    fn ints(&self) -> Result<Vec<i64>> {
        self.values
            .iter()
            .map(|&v| {
                ensure!(v.fract() == 0.0, "{v} is not an integer");
                Ok(v as i64)
            })
            .collect()
    }

    fn f32s(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }

    /// The fixed weight scales, if they are per tensor or run along `output_axis` of this
    /// tensor (the weights' output channel), re-labelled for the float graph (axis 0 there).
    fn output_channel_scales(&self, output_axis: usize) -> Option<Fixed> {
        match &self.fixed {
            Some(Fixed::Weights { scales, axis }) if scales.len() == 1 || *axis == output_axis => {
                Some(Fixed::Weights {
                    scales: scales.clone(),
                    axis: 0,
                })
            }
            _ => None,
        }
    }
}

/// An ONNX value: a constant, or an activation of the float graph.
#[derive(Debug, Clone)]
enum Value {
    Const(Const),
    Act { t: TensorIx, layout: Layout },
}

/// An ONNX model read into a float graph.
#[derive(Debug, Clone)]
pub struct Model {
    /// The float graph, channels-last where the kernels want it.
    pub graph: Graph,
    /// For each graph input, whether it is stored channels-last (its samples, given in ONNX's
    /// channels-first order, must be transposed to feed the graph or the blob).
    pub channels_last: Vec<bool>,
}

/// Reads an ONNX model's main graph.
///
/// # Errors
/// Bytes that are not an ONNX model, an operator or attribute mote does not support (the
/// message names the node and its type), dynamic dimensions without `input_shapes`, or
/// external tensor data.
pub fn read(bytes: &[u8], options: &Options) -> Result<Model> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| anyhow!("not an ONNX model (protobuf decoding failed: {e})"))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("not an ONNX model: it has no graph"))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain().is_empty() || o.domain() == "ai.onnx")
        .map(|o| o.version())
        .ok_or_else(|| anyhow!("the model imports no ai.onnx operator set"))?;
    ensure!(
        opset >= 7,
        "operator set {opset} is too old: export with opset 13 or later"
    );
    let mut r = Reader {
        graph: Graph::default(),
        values: HashMap::new(),
        opset,
        readers: HashMap::new(),
        converted: HashMap::new(),
        passed_on: HashMap::new(),
    };
    for node in &graph.node {
        for i in &node.input {
            *r.readers.entry(i.clone()).or_insert(0) += 1;
        }
    }
    for o in &graph.output {
        *r.readers.entry(o.name().to_owned()).or_insert(0) += 1;
    }
    for init in &graph.initializer {
        let c = tensor(init).with_context(|| format!("initializer {}", init.name()))?;
        r.values.insert(init.name().to_owned(), Value::Const(c));
    }
    let mut shapes = options.input_shapes.iter();
    let mut channels_last = Vec::new();
    for input in &graph.input {
        if r.values.contains_key(input.name()) {
            continue; // an initializer listed as an input (older exporters)
        }
        let shape = input_shape(input, &mut shapes)?;
        let channels_first = options.input_layout == InputLayout::Nhwc
            && feeds_channels_first_op(graph, input.name())
            && shape.len() >= 3;
        let layout = if channels_first {
            Layout::ChannelsLast
        } else {
            Layout::Plain
        };
        let stored = match layout {
            Layout::Plain => shape,
            Layout::ChannelsLast => to_channels_last(&shape),
        };
        let t = r.graph.activation(input.name(), stored);
        r.graph.inputs.push(t);
        channels_last.push(channels_first);
        r.values
            .insert(input.name().to_owned(), Value::Act { t, layout });
    }
    ensure!(
        !r.graph.inputs.is_empty(),
        "the model has no non-constant input"
    );
    for (index, node) in graph.node.iter().enumerate() {
        let what = || format!("node {index} \"{}\" ({})", node.name(), node.op_type());
        ensure!(
            node.domain().is_empty() || node.domain() == "ai.onnx",
            "{}: operators of domain \"{}\" are not supported",
            what(),
            node.domain()
        );
        r.node(node).with_context(what)?;
    }
    for output in &graph.output {
        let t = match r.values.get(output.name()) {
            Some(Value::Act { .. }) => r.plain(output.name())?,
            Some(Value::Const(_)) => bail!("graph output {} is a constant", output.name()),
            None => bail!("graph output {} is not computed by any node", output.name()),
        };
        r.graph.outputs.push(t);
    }
    r.graph.remove_unused();
    r.graph.fuse_activations();
    r.graph.merge_reshapes();
    Ok(Model {
        graph: r.graph,
        channels_last,
    })
}

/// True if a node that wants channels-last (a convolution or pool) reads `name`, directly
/// or through QDQ pairs.
fn feeds_channels_first_op(graph: &proto::GraphProto, name: &str) -> bool {
    fn feeds(graph: &proto::GraphProto, name: &str, depth: usize) -> bool {
        graph
            .node
            .iter()
            .filter(|n| n.input.first().is_some_and(|i| i == name))
            .any(|n| match n.op_type() {
                "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" | "GlobalAveragePool"
                | "BatchNormalization" => true,
                "QuantizeLinear" | "DequantizeLinear" if depth < 4 => {
                    n.output.first().is_some_and(|o| feeds(graph, o, depth + 1))
                }
                _ => false,
            })
    }
    feeds(graph, name, 0)
}

/// The static shape of a graph input, or for one with dynamic dimensions the next shape the
/// user gave.
fn input_shape<'s>(
    input: &proto::ValueInfoProto,
    given: &mut impl Iterator<Item = &'s Vec<usize>>,
) -> Result<Vec<usize>> {
    use proto::tensor_shape_proto::dimension::Value as Dim;
    use proto::type_proto::Value as Type;
    let Some(Type::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        bail!("graph input {} is not a tensor", input.name());
    };
    ensure!(
        t.elem_type() == DataType::Float as i32,
        "graph input {} is not float32 (element type {})",
        input.name(),
        t.elem_type()
    );
    let dims = t
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    let declared: Vec<Option<usize>> = dims
        .iter()
        .map(|d| match &d.value {
            Some(Dim::DimValue(v)) => usize::try_from(*v).ok().filter(|&v| v > 0),
            _ => None,
        })
        .collect();
    let dynamic = declared.iter().any(Option::is_none);
    if let Some(given) = dynamic.then(|| given.next()).flatten() {
        crate::float::elements(given)?;
        ensure!(
            given.len() == declared.len()
                && given
                    .iter()
                    .zip(&declared)
                    .all(|(g, d)| d.is_none_or(|d| d == *g)),
            "--input-shape {given:?} does not fit input {}'s declared shape {}",
            input.name(),
            describe(&declared)
        );
        return Ok(given.clone());
    }
    let shape = declared
        .iter()
        .map(|d| {
            d.ok_or_else(|| {
                anyhow!(
                    "graph input {} has dynamic dimensions {}: give its shape with \
                     --input-shape (e.g. --input-shape {})",
                    input.name(),
                    describe(&declared),
                    declared
                        .iter()
                        .map(|d| d.unwrap_or(1).to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    crate::float::elements(&shape).map_err(|e| anyhow!("graph input {}: {e}", input.name()))?;
    Ok(shape)
}

fn describe(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".to_owned(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The values of an ONNX tensor.
fn tensor(t: &TensorProto) -> Result<Const> {
    ensure!(
        t.external_data.is_empty(),
        "tensor {} keeps its data in an external file, which is not supported: save the \
         model with its weights inside",
        t.name()
    );
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| anyhow!("dimension {d}")))
        .collect::<Result<Vec<_>>>()?;
    let n = crate::float::elements(&shape).map_err(|e| anyhow!("tensor {}: {e}", t.name()))?;
    let raw = t.raw_data.as_deref();
    let from_raw = |size: usize, f: &dyn Fn(&[u8]) -> f64| -> Option<Vec<f64>> {
        raw.filter(|r| !r.is_empty())
            .map(|r| r.chunks_exact(size).map(f).collect())
    };
    let dt = t.data_type();
    let values: Vec<f64> = if dt == DataType::Float as i32 {
        from_raw(4, &|c| {
            f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        })
        .unwrap_or_else(|| t.float_data.iter().map(|&v| f64::from(v)).collect())
    } else if dt == DataType::Double as i32 {
        from_raw(8, &|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
            .unwrap_or_else(|| t.double_data.clone())
    } else if dt == DataType::Int64 as i32 {
        from_raw(8, &|c| {
            i64::from_le_bytes(c.try_into().unwrap_or_default()) as f64
        })
        .unwrap_or_else(|| t.int64_data.iter().map(|&v| v as f64).collect())
    } else if dt == DataType::Int32 as i32 {
        from_raw(4, &|c| {
            f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        })
        .unwrap_or_else(|| t.int32_data.iter().map(|&v| f64::from(v)).collect())
    } else if dt == DataType::Int8 as i32 {
        from_raw(1, &|c| f64::from(c[0] as i8))
            .unwrap_or_else(|| t.int32_data.iter().map(|&v| f64::from(v)).collect())
    } else if dt == DataType::Uint8 as i32 || dt == DataType::Bool as i32 {
        from_raw(1, &|c| f64::from(c[0]))
            .unwrap_or_else(|| t.int32_data.iter().map(|&v| f64::from(v)).collect())
    } else {
        bail!(
            "tensor {} has element type {dt}; float, double and integer tensors are supported",
            t.name()
        )
    };
    ensure!(
        values.len() == n,
        "tensor {} holds {} values for shape {shape:?}",
        t.name(),
        values.len()
    );
    Ok(Const {
        uint8: dt == DataType::Uint8 as i32,
        ..Const::new(shape, values)
    })
}

/// Logical `[n, c, s..]` to stored `[n, s.., c]`.
fn to_channels_last(logical: &[usize]) -> Vec<usize> {
    let mut s = logical.to_vec();
    if s.len() >= 3 {
        let c = s.remove(1);
        s.push(c);
    }
    s
}

/// Where each logical dimension of a channels-last tensor of `rank` is stored.
fn stored_axis(rank: usize, logical: usize) -> usize {
    match logical {
        0 => 0,
        1 => rank - 1,
        a => a - 1,
    }
}

/// A node's attributes, by name.
struct Attrs<'n>(&'n [AttributeProto]);

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name() == name)
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, AttributeProto::i)
    }

    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, AttributeProto::f)
    }

    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(a.s()).into_owned())
    }
}

struct Reader {
    graph: Graph,
    values: HashMap<String, Value>,
    opset: i64,
    /// How many nodes (and graph outputs) read each value.
    readers: HashMap<String, usize>,
    /// Activations already converted to the other layout, by value name and target layout.
    converted: HashMap<(String, Layout), TensorIx>,
    /// Per float tensor, how many reads of its names only passed it on under another name
    /// (Identity, a QDQ pair, a folded BatchNormalization): not uses of the value.
    passed_on: HashMap<TensorIx, usize>,
}

impl Reader {
    fn value(&self, name: &str) -> Result<&Value> {
        self.values
            .get(name)
            .ok_or_else(|| anyhow!("input {name} is not computed before this node"))
    }

    /// Input `i` of `node`, which must be present.
    fn input<'n>(&self, node: &'n NodeProto, i: usize) -> Result<&'n str> {
        node.input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("input {i} is missing"))
    }

    /// Input `i` of `node` as a constant (`None` if absent).
    fn const_input(&self, node: &NodeProto, i: usize) -> Result<Option<Const>> {
        match node.input.get(i).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => match self.value(name)? {
                Value::Const(c) => Ok(Some(c.clone())),
                Value::Act { .. } => {
                    bail!("input {i} ({name}) must be a constant (computed from the weights)")
                }
            },
        }
    }

    fn is_const(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Const(_)))
    }

    /// The logical (ONNX) shape of a value.
    fn logical_shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(match self.value(name)? {
            Value::Const(c) => c.shape.clone(),
            Value::Act { t, layout } => {
                let stored = &self.graph.tensors[*t].shape;
                match layout {
                    Layout::Plain => stored.clone(),
                    Layout::ChannelsLast => {
                        let mut s = stored.clone();
                        if let Some(c) = s.pop() {
                            s.insert(1, c);
                        }
                        s
                    }
                }
            }
        })
    }

    fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_owned(), value);
    }

    fn set_act(&mut self, name: &str, t: TensorIx, layout: Layout) {
        self.set(name, Value::Act { t, layout });
    }

    /// Names `from`'s value `out` too: the node that does this only passes it on.
    fn alias(&mut self, out: &str, from: &str) -> Result<()> {
        let v = self.value(from)?.clone();
        if let Value::Act { t, .. } = v {
            *self.passed_on.entry(t).or_insert(0) += 1;
        }
        self.set(out, v);
        Ok(())
    }

    /// A float-graph constant of the given stored shape and values.
    fn constant(&mut self, name: &str, shape: Vec<usize>, values: Vec<f32>) -> Result<TensorIx> {
        self.graph.constant(name, shape, values)
    }

    /// Activation `name` in the logical order (converting a channels-last one).
    fn plain(&mut self, name: &str) -> Result<TensorIx> {
        let Value::Act { t, layout } = self.value(name)?.clone() else {
            bail!("{name} must be computed, not a constant, here");
        };
        if layout == Layout::Plain {
            return Ok(t);
        }
        if let Some(&t) = self.converted.get(&(name.to_owned(), Layout::Plain)) {
            return Ok(t);
        }
        let rank = self.graph.tensors[t].shape.len();
        let perm: Vec<usize> = (0..rank).map(|a| stored_axis(rank, a)).collect();
        let logical = self.logical_shape(name)?;
        let t = self.relayout(t, perm, logical, &format!("{name}/nchw"))?;
        self.converted.insert((name.to_owned(), Layout::Plain), t);
        Ok(t)
    }

    /// Activation `name` stored channels-last (converting a plain one).
    fn channels_last(&mut self, name: &str) -> Result<TensorIx> {
        let Value::Act { t, layout } = self.value(name)?.clone() else {
            bail!("{name} must be computed, not a constant, here");
        };
        if layout == Layout::ChannelsLast {
            return Ok(t);
        }
        if let Some(&t) = self.converted.get(&(name.to_owned(), Layout::ChannelsLast)) {
            return Ok(t);
        }
        let logical = self.graph.tensors[t].shape.clone();
        let rank = logical.len();
        ensure!(
            rank >= 3,
            "{name} of shape {logical:?} has no channel dimension to move"
        );
        // Stored dimension j holds logical dimension perm[j]: [0, 2, .., rank-1, 1].
        let mut perm: Vec<usize> = (0..rank).filter(|&a| a != 1).collect();
        perm.push(1);
        let t = self.relayout(t, perm, to_channels_last(&logical), &format!("{name}/nhwc"))?;
        self.converted
            .insert((name.to_owned(), Layout::ChannelsLast), t);
        Ok(t)
    }

    /// TRANSPOSE `t` by `perm`, or RESHAPE it when only dimensions of 1 move, or nothing for
    /// the identity.
    fn relayout(
        &mut self,
        t: TensorIx,
        perm: Vec<usize>,
        shape: Vec<usize>,
        name: &str,
    ) -> Result<TensorIx> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(t);
        }
        let stored = &self.graph.tensors[t].shape;
        let order: Vec<usize> = perm.iter().copied().filter(|&p| stored[p] != 1).collect();
        if order.windows(2).all(|w| w[0] < w[1]) {
            return self.graph.push(name, Op::Reshape { shape }, vec![t]);
        }
        self.graph.push(name, Op::Transpose { perm }, vec![t])
    }

    /// Constant `c` broadcast against an activation of logical rank `rank` stored in `layout`:
    /// its shape padded to `rank` and, for channels-last, its dimensions moved the same way.
    fn broadcast_const(
        &mut self,
        name: &str,
        c: &Const,
        rank: usize,
        layout: Layout,
    ) -> Result<TensorIx> {
        let values = c.f32s();
        if layout == Layout::Plain {
            return self.constant(name, c.shape.clone(), values);
        }
        ensure!(
            c.shape.len() <= rank,
            "constant {name} has more dimensions than its operand"
        );
        let mut logical = vec![1; rank - c.shape.len()];
        logical.extend_from_slice(&c.shape);
        let stored = to_channels_last(&logical);
        // Move the channel dimension's values to the end.
        let (c_dim, inner): (usize, usize) = (logical[1], logical[2..].iter().product());
        let outer = logical[0];
        let mut out = vec![0.0; values.len()];
        for o in 0..outer {
            for ch in 0..c_dim {
                for i in 0..inner {
                    out[(o * inner + i) * c_dim + ch] = values[(o * c_dim + ch) * inner + i];
                }
            }
        }
        self.constant(name, stored, out)
    }

    fn node(&mut self, node: &NodeProto) -> Result<()> {
        let attrs = Attrs(&node.attribute);
        if fold::try_fold(self, node, &attrs)? {
            return Ok(());
        }
        match node.op_type() {
            "Conv" => self.conv(node, &attrs),
            "ConvTranspose" => self.conv_transpose(node, &attrs),
            "Gemm" => self.gemm(node, &attrs),
            "MatMul" => self.matmul(node),
            "BatchNormalization" => self.batch_norm(node, &attrs),
            "MaxPool" | "AveragePool" => self.pool(node, &attrs),
            "GlobalAveragePool" => self.global_average_pool(node),
            "Relu" | "Sigmoid" | "Tanh" | "HardSwish" | "LeakyRelu" | "Clip" | "HardSigmoid" => {
                self.activation(node, &attrs)
            }
            "PRelu" => self.prelu(node),
            "Add" | "Sub" | "Mul" | "Div" => self.binary(node),
            "Flatten" => self.flatten(node, &attrs),
            "Reshape" => self.reshape(node),
            "Squeeze" | "Unsqueeze" => self.squeeze(node, &attrs),
            "Transpose" => self.transpose(node, &attrs),
            "Concat" => self.concat(node, &attrs),
            "Softmax" => self.softmax(node, &attrs),
            "ReduceMean" => self.reduce_mean(node, &attrs),
            "Pad" => self.pad(node, &attrs),
            "Slice" => self.slice(node),
            "Split" => self.split(node, &attrs),
            "Gather" => self.gather(node, &attrs),
            "Identity" | "Dropout" => {
                let out = self.output(node)?.to_owned();
                self.alias(&out, self.input(node, 0)?)
            }
            "QuantizeLinear" => self.quantize_linear(node, &attrs),
            "DequantizeLinear" => self.dequantize_linear(node, &attrs),
            "LSTM" => self.lstm(node, &attrs),
            "GRU" | "RNN" => bail!(
                "{} is not supported: mote's recurrent operators are LSTM and SVDF (use an \
                 LSTM, or unroll the recurrence)",
                node.op_type()
            ),
            other => bail!("operator {other} is not supported"),
        }
    }

    /// The node's single output name.
    fn output<'n>(&self, node: &'n NodeProto) -> Result<&'n str> {
        node.output
            .first()
            .map(String::as_str)
            .ok_or_else(|| anyhow!("the node has no output"))
    }
}
