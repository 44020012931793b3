//! A float model on the host, between the float front ends (ONNX, float `.tflite`) and
//! quantization: tensors in NHWC (TFLite's layout, the runtime's), operators with TFLite's
//! semantics (SAME/VALID windows, fused ReLU/ReLU6), so that every operator here maps to one
//! int8 TFLite operator the importer already knows ([`crate::quantize::to_tflite`]).
//!
//! [`Graph::push`] infers and checks each output's shape as operators are added; [`eval`]
//! runs the graph in f32, for calibration, validation and the layout tests against
//! onnxruntime.

pub mod eval;
pub mod index;

use anyhow::{Result, bail, ensure};

/// Index of a tensor in [`Graph::tensors`].
pub type TensorIx = usize;

/// The most elements a tensor of a float model may have (64 MiB of f32): far beyond any
/// microcontroller model, and a bound that keeps a corrupt file from asking for terabytes.
pub const MAX_ELEMENTS: usize = 1 << 24;

/// The largest stride, dilation or filter side (the runtime stores them as 16 bits).
pub const MAX_WINDOW: usize = 65535;

/// The number of elements of `shape`, if it is at most [`MAX_ELEMENTS`].
///
/// # Errors
/// A shape with more elements.
pub fn elements(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| anyhow::anyhow!("shape {shape:?} has more than {MAX_ELEMENTS} elements"))
}

/// A tensor: an activation (no data) or a constant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// A name for messages and per-layer reports (the source model's, where it has one).
    pub name: String,
    /// Dimensions (NHWC for images, `[batch, features]` for vectors).
    pub shape: Vec<usize>,
    /// The values of a constant, row-major.
    pub data: Option<Vec<f32>>,
    /// A quantization the source model fixed (a QDQ model's scale and zero point): calibration
    /// keeps it instead of measuring a range.
    pub fixed: Option<Fixed>,
}

/// A quantization fixed by the source model.
#[derive(Debug, Clone, PartialEq)]
pub enum Fixed {
    /// An activation's per-tensor int8 scale and zero point.
    Activation { scale: f32, zero_point: i32 },
    /// Symmetric int8 weights: one scale for all, or one per slice along `axis` of the
    /// source model's tensor. In a [`Graph`], `axis` is the weights' output channel: the
    /// readers keep only scales that run along it.
    Weights { scales: Vec<f32>, axis: usize },
}

impl Tensor {
    /// Number of elements (every tensor of a [`Graph`] has at most [`MAX_ELEMENTS`]).
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A fused output activation, as TFLite fuses them into its compute operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fused {
    #[default]
    None,
    Relu,
    Relu6,
}

impl Fused {
    /// Applies the activation to one value.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Fused::None => x,
            Fused::Relu => x.max(0.0),
            Fused::Relu6 => x.clamp(0.0, 6.0),
        }
    }
}

/// TFLite's window paddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, padding split with the smaller half before.
    Same,
    /// No padding.
    Valid,
}

/// A convolution's or pool's window along height and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
}

impl Window {
    /// Output size along `axis` (0 height, 1 width) and the padding before, for an input of
    /// `input` and a filter of `filter` (TFLite's `ComputePaddingHeightWidth`).
    ///
    /// # Errors
    /// A zero or oversized stride, dilation or filter, an empty input, or (VALID) a window
    /// larger than the input.
    pub fn out_and_pad(&self, axis: usize, input: usize, filter: usize) -> Result<(usize, usize)> {
        self.pads(axis, input, filter)
            .map(|(out, before, _)| (out, before))
    }

    /// Output size along `axis` and the padding before and after it.
    ///
    /// # Errors
    /// As [`Window::out_and_pad`].
    pub fn pads(&self, axis: usize, input: usize, filter: usize) -> Result<(usize, usize, usize)> {
        let (s, d) = (self.stride[axis], self.dilation[axis]);
        ensure!(
            (1..=MAX_WINDOW).contains(&s)
                && (1..=MAX_WINDOW).contains(&d)
                && (1..=MAX_WINDOW).contains(&filter)
                && input > 0,
            "stride {s}, dilation {d} and filter {filter} must be 1 to {MAX_WINDOW}, over an \
             input of at least 1"
        );
        let extent = (filter - 1) * d + 1;
        Ok(match self.padding {
            Padding::Same => {
                let out = input.div_ceil(s);
                let total = ((out - 1) * s + extent).saturating_sub(input);
                (out, total / 2, total - total / 2)
            }
            Padding::Valid => {
                ensure!(
                    input >= extent,
                    "the window's extent {extent} exceeds the input's {input}"
                );
                ((input - extent) / s + 1, 0, 0)
            }
        })
    }
}

/// The float operators: each is one int8 TFLite operator (plus its fused activation).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Inputs: x `[n, h, w, c]`, filter `[o, kh, kw, c]`, bias `[o]` (optional).
    Conv2d {
        window: Window,
        fused: Fused,
    },
    /// Inputs: x `[n, h, w, c]`, filter `[1, kh, kw, c * multiplier]`, bias (optional).
    DepthwiseConv2d {
        window: Window,
        multiplier: usize,
        fused: Fused,
    },
    /// The transpose of a VALID convolution (the full output, `(in - 1) * stride + kernel`):
    /// inputs x `[n, h, w, c]`, filter `[o, kh, kw, c]`, bias `[o]` (optional).
    TransposeConv {
        stride: [usize; 2],
        fused: Fused,
    },
    /// A time-major LSTM (TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM: no peepholes, projection or
    /// clipping; sigmoid gates, tanh cell) over x `[time, batch, in]`, giving every step's
    /// hidden state `[time, batch, units]`. Inputs, gates in TFLite's order (input, forget,
    /// cell, output): x; four input weights `[units, in]`; four recurrent weights
    /// `[units, units]`; four biases `[units]`; then the hidden and cell state tensors
    /// `[batch, units]`, activations no operator writes: a run fills them with every step's
    /// states, so calibration sees their ranges. Each run starts from zero states.
    Lstm,
    /// Inputs: x (flattened to `[rows, depth]`), weights `[units, depth]`, bias (optional).
    /// The output keeps x's leading dimensions when `keep_dims`, else is `[rows, units]`.
    FullyConnected {
        keep_dims: bool,
        fused: Fused,
    },
    MaxPool {
        window: Window,
        filter: [usize; 2],
        fused: Fused,
    },
    /// Averages over the window's cells inside the input (SAME padding excluded).
    AvgPool {
        window: Window,
        filter: [usize; 2],
        fused: Fused,
    },
    /// Numpy-broadcasting binary operators.
    Add {
        fused: Fused,
    },
    Sub {
        fused: Fused,
    },
    Mul {
        fused: Fused,
    },
    /// Mean over `axes`.
    Mean {
        axes: Vec<usize>,
        keep_dims: bool,
    },
    /// To the shape given (same element count).
    Reshape {
        shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Concat {
        axis: usize,
    },
    /// Softmax over the last dimension.
    Softmax {
        beta: f32,
    },
    /// Constant padding: `[before, after]` per dimension.
    Pad {
        pads: Vec<[usize; 2]>,
        value: f32,
    },
    /// A box of the input: `begin` and `size` per dimension.
    Slice {
        begin: Vec<usize>,
        size: Vec<usize>,
    },
    Relu,
    Relu6,
    LeakyRelu {
        alpha: f32,
    },
    /// Inputs: x, slope (constant, broadcast to x).
    Prelu,
    Logistic,
    Tanh,
    HardSwish,
}

impl Op {
    /// TFLite's name for the operator, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "CONV_2D",
            Op::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            Op::TransposeConv { .. } => "TRANSPOSE_CONV",
            Op::Lstm => "UNIDIRECTIONAL_SEQUENCE_LSTM",
            Op::FullyConnected { .. } => "FULLY_CONNECTED",
            Op::MaxPool { .. } => "MAX_POOL_2D",
            Op::AvgPool { .. } => "AVERAGE_POOL_2D",
            Op::Add { .. } => "ADD",
            Op::Sub { .. } => "SUB",
            Op::Mul { .. } => "MUL",
            Op::Mean { .. } => "MEAN",
            Op::Reshape { .. } => "RESHAPE",
            Op::Transpose { .. } => "TRANSPOSE",
            Op::Concat { .. } => "CONCATENATION",
            Op::Softmax { .. } => "SOFTMAX",
            Op::Pad { .. } => "PADV2",
            Op::Slice { .. } => "SLICE",
            Op::Relu => "RELU",
            Op::Relu6 => "RELU6",
            Op::LeakyRelu { .. } => "LEAKY_RELU",
            Op::Prelu => "PRELU",
            Op::Logistic => "LOGISTIC",
            Op::Tanh => "TANH",
            Op::HardSwish => "HARD_SWISH",
        }
    }

    /// The fused activation of operators that have one.
    pub fn fused(&self) -> Option<Fused> {
        self.clone().fused_mut().copied()
    }

    /// The fused activation slot of operators that have one.
    pub fn fused_mut(&mut self) -> Option<&mut Fused> {
        match self {
            Op::Conv2d { fused, .. }
            | Op::DepthwiseConv2d { fused, .. }
            | Op::TransposeConv { fused, .. }
            | Op::FullyConnected { fused, .. }
            | Op::MaxPool { fused, .. }
            | Op::AvgPool { fused, .. }
            | Op::Add { fused }
            | Op::Sub { fused }
            | Op::Mul { fused } => Some(fused),
            _ => None,
        }
    }

    /// Operators whose int8 form cannot rescale (TFLM copies or compares bytes, or averages
    /// without a multiplier): their output must share the input's quantization.
    pub fn keeps_quantization(&self) -> bool {
        matches!(
            self,
            Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Concat { .. }
                | Op::Pad { .. }
                | Op::Slice { .. }
                | Op::MaxPool { .. }
                | Op::AvgPool { .. }
        )
    }
}

/// One operator with its input and output tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<TensorIx>,
    pub output: TensorIx,
}

/// A float model: tensors, operators in execution order, inputs and outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorIx>,
    pub outputs: Vec<TensorIx>,
}

impl Graph {
    /// Adds an activation tensor (a graph input, or an output [`Graph::push`] makes).
    pub fn activation(&mut self, name: impl Into<String>, shape: Vec<usize>) -> TensorIx {
        self.tensors.push(Tensor {
            name: name.into(),
            shape,
            data: None,
            fixed: None,
        });
        self.tensors.len() - 1
    }

    /// Adds a constant.
    pub fn constant(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> Result<TensorIx> {
        let name = name.into();
        ensure!(
            elements(&shape)? == data.len(),
            "constant {name}: {} values for shape {shape:?}",
            data.len()
        );
        self.tensors.push(Tensor {
            name,
            shape,
            data: Some(data),
            fixed: None,
        });
        Ok(self.tensors.len() - 1)
    }

    /// The constant data of tensor `t`, if it is one.
    pub fn data(&self, t: TensorIx) -> Option<&[f32]> {
        self.tensors.get(t).and_then(|t| t.data.as_deref())
    }

    /// Appends `op` on `inputs`, with a new output tensor named `name` whose shape is inferred
    /// (and every input checked); returns the output.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<TensorIx>,
    ) -> Result<TensorIx> {
        let name = name.into();
        let shape = self
            .infer(&op, &inputs)
            .and_then(|s| elements(&s).map(|_| s))
            .map_err(|e| anyhow::anyhow!("{} {name}: {e}", op.name()))?;
        let output = self.activation(name, shape);
        self.nodes.push(Node { op, inputs, output });
        Ok(output)
    }

    fn shape(&self, t: TensorIx) -> Result<&[usize]> {
        match self.tensors.get(t) {
            Some(t) => Ok(&t.shape),
            None => bail!("no tensor {t}"),
        }
    }

    fn infer(&self, op: &Op, inputs: &[TensorIx]) -> Result<Vec<usize>> {
        let arity = match op {
            Op::Conv2d { .. }
            | Op::DepthwiseConv2d { .. }
            | Op::TransposeConv { .. }
            | Op::FullyConnected { .. } => 2..=3,
            Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } | Op::Prelu => 2..=2,
            Op::Concat { .. } => 1..=usize::MAX,
            Op::Lstm => 15..=15,
            _ => 1..=1,
        };
        ensure!(
            arity.contains(&inputs.len()),
            "{} inputs is not what the operator takes",
            inputs.len()
        );
        let x = self.shape(inputs[0])?.to_vec();
        let weights = |i: usize| -> Result<&[usize]> {
            let t = inputs[i];
            ensure!(self.data(t).is_some(), "input {i} must be a constant");
            self.shape(t)
        };
        let check_bias = |units: usize| -> Result<()> {
            if inputs.len() == 3 {
                let b = weights(2)?;
                ensure!(
                    b.iter().product::<usize>() == units,
                    "bias of shape {b:?} for {units} output channels"
                );
            }
            Ok(())
        };
        Ok(match op {
            Op::Conv2d { window, .. } => {
                let [n, h, w, c] = x[..] else {
                    bail!("input of shape {x:?}; [n, h, w, c] is needed")
                };
                let [o, kh, kw, kc] = weights(1)?[..] else {
                    bail!("filter must be [o, kh, kw, c]")
                };
                ensure!(kc == c, "filter depth {kc} for {c} input channels");
                check_bias(o)?;
                vec![
                    n,
                    window.out_and_pad(0, h, kh)?.0,
                    window.out_and_pad(1, w, kw)?.0,
                    o,
                ]
            }
            Op::Lstm => {
                let [time, batch, width] = x[..] else {
                    bail!("input of shape {x:?}; [time, batch, in] is needed")
                };
                let units = weights(1)?.first().copied().unwrap_or(0);
                for (i, want) in [
                    (1..5, vec![units, width]),
                    (5..9, vec![units, units]),
                    (9..13, vec![units]),
                ]
                .into_iter()
                .flat_map(|(r, w)| r.map(move |i| (i, w.clone())))
                {
                    ensure!(weights(i)? == want, "input {i} must be {want:?}");
                }
                for i in [13, 14] {
                    let state = self.shape(inputs[i])?;
                    ensure!(
                        state == [batch, units] && self.data(inputs[i]).is_none(),
                        "state {i} must be a [{batch}, {units}] activation"
                    );
                }
                vec![time, batch, units]
            }
            Op::TransposeConv { stride, .. } => {
                let [n, h, w, c] = x[..] else {
                    bail!("input of shape {x:?}; [n, h, w, c] is needed")
                };
                let [o, kh, kw, kc] = weights(1)?[..] else {
                    bail!("filter must be [o, kh, kw, c]")
                };
                ensure!(kc == c, "filter depth {kc} for {c} input channels");
                ensure!(
                    stride.iter().all(|s| (1..=MAX_WINDOW).contains(s)) && h > 0 && w > 0,
                    "strides {stride:?} must be 1 to {MAX_WINDOW}, over a non-empty input"
                );
                check_bias(o)?;
                vec![n, (h - 1) * stride[0] + kh, (w - 1) * stride[1] + kw, o]
            }
            Op::DepthwiseConv2d {
                window, multiplier, ..
            } => {
                let [n, h, w, c] = x[..] else {
                    bail!("input of shape {x:?}; [n, h, w, c] is needed")
                };
                let [1, kh, kw, o] = weights(1)?[..] else {
                    bail!("filter must be [1, kh, kw, c * multiplier]")
                };
                ensure!(o == c * multiplier, "filter depth {o} for {c} channels");
                check_bias(o)?;
                vec![
                    n,
                    window.out_and_pad(0, h, kh)?.0,
                    window.out_and_pad(1, w, kw)?.0,
                    o,
                ]
            }
            Op::FullyConnected { keep_dims, .. } => {
                let [units, depth] = weights(1)?[..] else {
                    bail!("weights must be [units, depth]")
                };
                let total: usize = x.iter().product();
                ensure!(
                    depth > 0 && total.is_multiple_of(depth),
                    "input of shape {x:?} is not rows of the weights' {depth}"
                );
                check_bias(units)?;
                if *keep_dims {
                    ensure!(
                        x.last() == Some(&depth),
                        "input {x:?} does not end in {depth}"
                    );
                    let mut s = x.clone();
                    *s.last_mut().unwrap_or(&mut 0) = units;
                    s
                } else {
                    vec![total / depth, units]
                }
            }
            Op::MaxPool { window, filter, .. } | Op::AvgPool { window, filter, .. } => {
                let [n, h, w, c] = x[..] else {
                    bail!("input of shape {x:?}; [n, h, w, c] is needed")
                };
                vec![
                    n,
                    window.out_and_pad(0, h, filter[0])?.0,
                    window.out_and_pad(1, w, filter[1])?.0,
                    c,
                ]
            }
            Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. } => {
                broadcast_shape(&x, self.shape(inputs[1])?)?
            }
            Op::Prelu => {
                let slope = weights(1)?;
                ensure!(
                    broadcast_shape(&x, slope)? == x,
                    "slope {slope:?} does not broadcast to {x:?}"
                );
                x
            }
            Op::Mean { axes, keep_dims } => {
                ensure!(axes.iter().all(|&a| a < x.len()), "axes {axes:?} for {x:?}");
                ensure!(
                    axes.iter().enumerate().all(|(i, a)| !axes[..i].contains(a)),
                    "axes {axes:?} repeat"
                );
                x.iter()
                    .enumerate()
                    .filter_map(|(i, &d)| match (axes.contains(&i), keep_dims) {
                        (false, _) => Some(d),
                        (true, true) => Some(1),
                        (true, false) => None,
                    })
                    .collect()
            }
            Op::Reshape { shape } => {
                ensure!(
                    shape.iter().product::<usize>() == x.iter().product::<usize>(),
                    "{x:?} cannot be reshaped to {shape:?}"
                );
                shape.clone()
            }
            Op::Transpose { perm } => {
                let mut seen = perm.clone();
                seen.sort_unstable();
                ensure!(
                    seen == (0..x.len()).collect::<Vec<_>>(),
                    "permutation {perm:?} for {x:?}"
                );
                perm.iter().map(|&p| x[p]).collect()
            }
            Op::Concat { axis } => {
                ensure!(*axis < x.len(), "axis {axis} for {x:?}");
                let mut out = x.clone();
                out[*axis] = 0;
                for &t in inputs {
                    let s = self.shape(t)?;
                    ensure!(
                        s.len() == x.len()
                            && s.iter()
                                .zip(&x)
                                .enumerate()
                                .all(|(i, (a, b))| i == *axis || a == b),
                        "input {s:?} does not fit {x:?} along axis {axis}"
                    );
                    out[*axis] += s[*axis];
                }
                out
            }
            Op::Pad { pads, .. } => {
                ensure!(pads.len() == x.len(), "{} pads for {x:?}", pads.len());
                x.iter()
                    .zip(pads)
                    .map(|(d, [a, b])| {
                        d.checked_add(*a)
                            .and_then(|n| n.checked_add(*b))
                            .ok_or_else(|| anyhow::anyhow!("pads {pads:?} overflow"))
                    })
                    .collect::<Result<_>>()?
            }
            Op::Slice { begin, size } => {
                ensure!(
                    begin.len() == x.len()
                        && size.len() == x.len()
                        && (0..x.len()).all(|i| {
                            size[i] > 0 && begin[i].checked_add(size[i]).is_some_and(|e| e <= x[i])
                        }),
                    "slice {begin:?}+{size:?} of {x:?}"
                );
                size.clone()
            }
            Op::Softmax { .. }
            | Op::Relu
            | Op::Relu6
            | Op::LeakyRelu { .. }
            | Op::Logistic
            | Op::Tanh
            | Op::HardSwish => x,
        })
    }

    /// How many operators read each tensor (graph outputs count as a reader).
    pub fn readers(&self) -> Vec<usize> {
        let mut n = vec![0; self.tensors.len()];
        for node in &self.nodes {
            for &t in &node.inputs {
                n[t] += 1;
            }
        }
        for &t in &self.outputs {
            n[t] += 1;
        }
        n
    }

    /// Folds a RELU or RELU6 into the operator before it when that operator has a fused slot
    /// and nothing else reads its output: the int8 graph then clamps once, at no cost.
    pub fn fuse_activations(&mut self) {
        let mut i = 1;
        while i < self.nodes.len() {
            let fused = match self.nodes[i].op {
                Op::Relu => Fused::Relu,
                Op::Relu6 => Fused::Relu6,
                _ => {
                    i += 1;
                    continue;
                }
            };
            let x = self.nodes[i].inputs[0];
            let readers = self.readers();
            let producer = self.nodes[..i].iter().rposition(|n| n.output == x);
            let foldable = producer.filter(|&p| {
                readers[x] == 1 && self.nodes[p].op.clone().fused_mut() == Some(&mut Fused::None)
            });
            match foldable {
                Some(p) => {
                    let y = self.nodes[i].output;
                    if let Some(f) = self.nodes[p].op.fused_mut() {
                        *f = fused;
                    }
                    // The producer now writes the activation's output tensor directly.
                    self.nodes[p].output = y;
                    self.nodes.remove(i);
                }
                None => i += 1,
            }
        }
    }

    /// Removes operators whose output nothing reads (an exporter's unused outputs).
    pub fn remove_unused(&mut self) {
        loop {
            let readers = self.readers();
            let before = self.nodes.len();
            self.nodes.retain(|n| readers[n.output] > 0);
            if self.nodes.len() == before {
                return;
            }
        }
    }

    /// Merges a RESHAPE into the RESHAPE before it when nothing else reads the first one's
    /// output (layout conversions followed by a Flatten or Squeeze): one copy instead of two.
    pub fn merge_reshapes(&mut self) {
        let mut i = 1;
        while i < self.nodes.len() {
            let x = self.nodes[i].inputs[0];
            let readers = self.readers();
            let producer = self.nodes[..i].iter().rposition(|n| n.output == x);
            match (producer, &self.nodes[i].op) {
                (Some(p), Op::Reshape { .. })
                    if readers[x] == 1 && matches!(self.nodes[p].op, Op::Reshape { .. }) =>
                {
                    let merged = self.nodes.remove(i);
                    self.nodes[p].op = merged.op;
                    self.nodes[p].output = merged.output;
                }
                _ => i += 1,
            }
        }
    }
}

/// Numpy's broadcast of two shapes (aligned at the right).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= rank {
            s[i + s.len() - rank]
        } else {
            1
        }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => bail!("shapes {a:?} and {b:?} do not broadcast ({x} against {y})"),
        })
        .collect()
}
