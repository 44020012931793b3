//! A trained float model as `mote train` writes it (`<name>.float.json`): the inference layers
//! of the spec (dropout gone, batch norms folded into their convolutions) with their weights,
//! and the float [`Graph`] it stands for, which calibration, quantization and evaluation share
//! with the ONNX and float-TFLite importers.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use mote::kernels::reference::audio;

use crate::float::{Fixed, Fused, Graph, Op, Padding as FloatPadding, TensorIx, Window};
use crate::train::arch::{self, Shape, Step, StepKind};
use crate::train::spec::{Activation, LEAKY_RELU_SLOPE, Layer, Task};

/// A trained float model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatModel {
    /// Model name.
    pub name: String,
    /// Task it was trained for (classification ends in SOFTMAX).
    pub task: Task,
    /// The shape of one sample, as in the spec.
    pub input: Vec<usize>,
    /// Inference layers in order.
    pub layers: Vec<TrainedLayer>,
    /// What turns the device's raw input into the model's input, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_end: Option<FrontEnd>,
}

/// A front end the blob runs before the model's first layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontEnd {
    /// AUDIO_FRONTEND: one second of 16 kHz int16 PCM to int8 log-mel features, whose
    /// quantization is the front end's (so the model's input is fixed to it, not calibrated).
    LogMel,
}

/// One layer with its parameters, in TFLite's layouts (see [`StepKind::parameter_shapes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedLayer {
    #[serde(flatten)]
    pub layer: Layer,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bias: Vec<f32>,
}

/// A multilayer perceptron, for the dedicated MLP quantizer (which can give the blob float
/// input and output).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub task: Task,
    /// Input features.
    pub inputs: usize,
    pub layers: Vec<DenseLayer>,
}

impl Mlp {
    /// Runs the MLP on one sample, calling `observe(layer, activations)` after each layer
    /// (calibration records the ranges).
    pub fn forward(&self, x: &[f32], mut observe: impl FnMut(usize, &[f32])) -> Vec<f32> {
        let mut cur = x.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            let depth = cur.len();
            let next: Vec<f32> = layer
                .weights
                .chunks_exact(depth)
                .zip(&layer.bias)
                .map(|(row, b)| {
                    let sum = row.iter().zip(&cur).map(|(w, v)| w * v).sum::<f32>() + b;
                    layer.activation.apply(sum)
                })
                .collect();
            observe(i, &next);
            cur = next;
        }
        cur
    }
}

/// A dense layer of a multilayer perceptron.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Row-major `[units][inputs]` (the TFLite FULLY_CONNECTED layout).
    pub weights: Vec<f32>,
    /// One per unit.
    pub bias: Vec<f32>,
    /// Output units.
    pub units: usize,
    /// Activation fused into the layer.
    pub activation: Fused,
}

impl FloatModel {
    /// The layers resolved over the input shape.
    ///
    /// # Errors
    /// A layer that does not fit the one before.
    pub fn steps(&self) -> Result<Vec<Step>> {
        let layers: Vec<Layer> = self.layers.iter().map(|l| l.layer.clone()).collect();
        arch::resolve(&layers, Shape::from_input(&self.input)?)
    }

    /// Values per sample.
    pub fn features(&self) -> usize {
        self.input.iter().product()
    }

    /// Reads and checks a float model written by `mote train`.
    ///
    /// # Errors
    /// An unreadable file, or layers and weights that do not fit together.
    pub fn load(path: &Path) -> Result<FloatModel> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read float model {} (run `mote train` first)",
                path.display()
            )
        })?;
        let model: FloatModel = serde_json::from_str(&text)
            .with_context(|| format!("invalid float model {}", path.display()))?;
        model
            .check()
            .with_context(|| format!("invalid float model {}", path.display()))?;
        Ok(model)
    }

    fn check(&self) -> Result<()> {
        for (i, (step, layer)) in self.steps()?.iter().zip(&self.layers).enumerate() {
            let (weights, bias) = step.kind.parameter_shapes().unwrap_or_default();
            let weights: usize = if bias == 0 {
                0
            } else {
                weights.iter().product()
            };
            ensure!(
                layer.weights.len() == weights && layer.bias.len() == bias,
                "layer {} has {} weights and {} biases; it needs {weights} and {bias}",
                i + 1,
                layer.weights.len(),
                layer.bias.len()
            );
            ensure!(
                !matches!(step.kind, StepKind::BatchNorm { .. }),
                "layer {} is a batch_norm, which training folds into its convolution",
                i + 1
            );
        }
        Ok(())
    }

    /// The model as a multilayer perceptron (dense layers with fused activations over a flat
    /// input), if it is one: what the MLP quantizer takes.
    pub fn mlp(&self) -> Option<Mlp> {
        let [inputs] = self.input[..] else {
            return None;
        };
        let layers = self
            .layers
            .iter()
            .map(|l| match l.layer {
                Layer::Dense { units, activation } => Some(DenseLayer {
                    weights: l.weights.clone(),
                    bias: l.bias.clone(),
                    units,
                    activation: activation.fused()?,
                }),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Mlp {
            task: self.task,
            inputs,
            layers,
        })
    }

    /// The float graph of the model: one TFLite operator per layer (activations fused where
    /// the operator can), then SOFTMAX for classification.
    ///
    /// # Errors
    /// A model that [`FloatModel::load`] would refuse.
    pub fn graph(&self) -> Result<Graph> {
        self.check()?;
        let mut g = Graph::default();
        let input = Shape::from_input(&self.input)?;
        let mut x = g.activation("input", input.with_batch());
        if self.front_end == Some(FrontEnd::LogMel) {
            g.tensors[x].fixed = Some(Fixed::Activation {
                scale: audio::FEATURE_SCALE,
                zero_point: audio::FEATURE_ZERO_POINT,
            });
        }
        g.inputs.push(x);
        // Each layer's output tensor (the input first), for additions.
        let mut outputs = vec![x];
        for (i, (step, layer)) in self.steps()?.iter().zip(&self.layers).enumerate() {
            let name = format!("{}_{}", arch::kind_name(&layer.layer), i + 1);
            let params = |g: &mut Graph| -> Result<Vec<TensorIx>> {
                let (shape, units) = step.kind.parameter_shapes().unwrap_or_default();
                let w = g.constant(format!("{name}/weights"), shape, layer.weights.clone())?;
                let b = g.constant(format!("{name}/bias"), vec![units], layer.bias.clone())?;
                Ok(vec![x, w, b])
            };
            let activation;
            (x, activation) = match step.kind {
                StepKind::Dense { activation, .. } => {
                    let fused = activation.fused().unwrap_or_default();
                    let op = Op::FullyConnected {
                        keep_dims: false,
                        fused,
                    };
                    let inputs = params(&mut g)?;
                    (g.push(&name, op, inputs)?, activation)
                }
                StepKind::Conv {
                    window,
                    in_channels,
                    out_channels,
                    depthwise,
                    activation,
                    ..
                } => {
                    let fused = activation.fused().unwrap_or_default();
                    let op = if depthwise {
                        Op::DepthwiseConv2d {
                            window,
                            multiplier: out_channels / in_channels,
                            fused,
                        }
                    } else {
                        Op::Conv2d { window, fused }
                    };
                    let inputs = params(&mut g)?;
                    (g.push(&name, op, inputs)?, activation)
                }
                StepKind::Pool { max, size, stride } => {
                    let window = Window {
                        padding: FloatPadding::Valid,
                        stride,
                        dilation: [1, 1],
                    };
                    let fused = Fused::None;
                    let op = if max {
                        Op::MaxPool {
                            window,
                            filter: size,
                            fused,
                        }
                    } else {
                        Op::AvgPool {
                            window,
                            filter: size,
                            fused,
                        }
                    };
                    (g.push(&name, op, vec![x])?, Activation::None)
                }
                StepKind::GlobalAvgPool => {
                    let op = Op::Mean {
                        axes: vec![1, 2],
                        keep_dims: false,
                    };
                    (g.push(&name, op, vec![x])?, Activation::None)
                }
                StepKind::Flatten => {
                    let op = Op::Reshape {
                        shape: step.output.with_batch(),
                    };
                    (g.push(&name, op, vec![x])?, Activation::None)
                }
                StepKind::Add { from, activation } => {
                    let fused = activation.fused().unwrap_or_default();
                    let inputs = vec![x, outputs[from]];
                    (g.push(&name, Op::Add { fused }, inputs)?, activation)
                }
                StepKind::Dropout(_) => {
                    outputs.push(x);
                    continue;
                }
                StepKind::BatchNorm { .. } => bail!("internal error: an unfolded batch_norm"),
            };
            let unfused = match activation {
                Activation::LeakyRelu => Some(Op::LeakyRelu {
                    alpha: LEAKY_RELU_SLOPE,
                }),
                Activation::HardSwish => Some(Op::HardSwish),
                Activation::Sigmoid => Some(Op::Logistic),
                Activation::Tanh => Some(Op::Tanh),
                Activation::None | Activation::Relu | Activation::Relu6 => None,
            };
            if let Some(op) = unfused {
                x = g.push(format!("{name}/activation"), op, vec![x])?;
            }
            outputs.push(x);
        }
        if self.task == Task::Classification {
            x = g.push("softmax", Op::Softmax { beta: 1.0 }, vec![x])?;
        }
        g.outputs.push(x);
        Ok(g)
    }
}

/// Runs a model's graph on samples: the float side of evaluation and of the layer tests.
pub struct Forward {
    graph: Graph,
    /// The value before SOFTMAX for classification (its logits): what accuracy needs, and
    /// what the trainer's loss saw.
    logits: TensorIx,
}

impl Forward {
    /// Builds the graph once.
    ///
    /// # Errors
    /// As [`FloatModel::graph`].
    pub fn new(model: &FloatModel) -> Result<Forward> {
        let graph = model.graph()?;
        let last = graph.outputs.first().copied().unwrap_or_default();
        let logits = match graph.nodes.last() {
            Some(n) if matches!(n.op, Op::Softmax { .. }) => n.inputs[0],
            _ => last,
        };
        Ok(Forward { graph, logits })
    }

    /// The graph (for quantization).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The logits (classification) or predictions (regression) of one sample.
    ///
    /// # Errors
    /// A sample of the wrong length.
    pub fn logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        let mut values = crate::float::eval::run(&self.graph, &[x])?;
        values
            .get_mut(self.logits)
            .and_then(Option::take)
            .context("internal error: the graph computed no output")
    }
}
