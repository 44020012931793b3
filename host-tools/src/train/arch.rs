//! A spec's layers resolved against its input shape: every layer's input and output shape and
//! the sizes of its parameters, checked once here for the trainer and the exporter alike.

use anyhow::{Context, Result, bail, ensure};

use crate::float::{Padding as FloatPadding, Window};
use crate::train::spec::{Activation, Extent, Layer, Padding};

/// The most units, filters or channels a layer may have (the runtime stores them as 16 bits).
const MAX_WIDTH: usize = 65535;

/// A tensor's shape between layers, batch left out. A `[T, C]` input is the image `[T, 1, C]`,
/// which is how the int8 graph holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Flat(usize),
    /// Height, width, channels.
    Image([usize; 3]),
}

impl Shape {
    /// The shape of one sample as the spec's `input` gives it.
    pub fn from_input(input: &[usize]) -> Result<Shape> {
        ensure!(
            input.iter().all(|&d| d > 0),
            "`input` {input:?} has an empty dimension"
        );
        crate::float::elements(input)?;
        Ok(match *input {
            [n] => Shape::Flat(n),
            [t, c] => Shape::Image([t, 1, c]),
            [h, w, c] => Shape::Image([h, w, c]),
            _ => bail!(
                "`input` {input:?} must be [features], [time, channels] or [height, width, channels]"
            ),
        })
    }

    /// Values per sample.
    pub fn elements(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image([h, w, c]) => h.saturating_mul(w).saturating_mul(c),
        }
    }

    /// The graph tensor's shape, batch of 1 included.
    pub fn with_batch(self) -> Vec<usize> {
        match self {
            Shape::Flat(n) => vec![1, n],
            Shape::Image([h, w, c]) => vec![1, h, w, c],
        }
    }
}

/// A resolved layer: what it computes and between which shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    pub input: Shape,
    pub output: Shape,
}

/// What a layer computes, with every size known.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Dense {
        inputs: usize,
        units: usize,
        activation: Activation,
    },
    /// A convolution; `depthwise` ones have one group per input channel.
    Conv {
        window: Window,
        kernel: [usize; 2],
        in_channels: usize,
        out_channels: usize,
        depthwise: bool,
        activation: Activation,
    },
    Pool {
        max: bool,
        size: [usize; 2],
        stride: [usize; 2],
    },
    GlobalAvgPool,
    Flatten,
    Dropout(f32),
    BatchNorm {
        channels: usize,
        activation: Activation,
    },
    /// Adds the output of step `from` (from 1; 0 is the input) to the previous step's.
    Add {
        from: usize,
        activation: Activation,
    },
}

impl StepKind {
    /// The shapes of the layer's weights and bias (empty for layers without parameters), in
    /// the layouts of TFLite's operators: dense `[units, inputs]`, convolution
    /// `[out, kh, kw, in]`, depthwise `[1, kh, kw, out]`. A batch norm has none here: it is
    /// folded into its convolution.
    pub fn parameter_shapes(&self) -> Option<(Vec<usize>, usize)> {
        match *self {
            StepKind::Dense { inputs, units, .. } => Some((vec![units, inputs], units)),
            StepKind::Conv {
                kernel: [kh, kw],
                in_channels,
                out_channels,
                depthwise,
                ..
            } => Some(if depthwise {
                (vec![1, kh, kw, out_channels], out_channels)
            } else {
                (vec![out_channels, kh, kw, in_channels], out_channels)
            }),
            _ => None,
        }
    }
}

/// Resolves `layers` over an input of shape `input`.
///
/// # Errors
/// A layer that does not fit the shape before it (naming the layer by its position).
pub fn resolve(layers: &[Layer], input: Shape) -> Result<Vec<Step>> {
    let time_only = matches!(input, Shape::Image([_, 1, _]));
    let mut shape = input;
    let mut steps: Vec<Step> = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let kind = step(layer, shape, time_only, steps.last())
            .and_then(|kind| match kind {
                StepKind::Add { from, .. } => {
                    add(layers, input, &steps, from, shape).map(|()| kind)
                }
                _ => Ok(kind),
            })
            .with_context(|| format!("layer {} ({})", i + 1, kind_name(layer)))?;
        let output = output_shape(&kind, shape)
            .with_context(|| format!("layer {} ({})", i + 1, kind_name(layer)))?;
        steps.push(Step {
            kind,
            input: shape,
            output,
        });
        shape = output;
    }
    Ok(steps)
}

/// Checks that layer `from` (0: the input) is an earlier layer whose output, like the
/// previous layer's (`shape`), exists in the int8 graph with that shape.
fn add(layers: &[Layer], input: Shape, earlier: &[Step], from: usize, shape: Shape) -> Result<()> {
    let branch = match from {
        0 => input,
        _ => {
            earlier
                .get(from - 1)
                .with_context(|| {
                    format!(
                        "`from` is {from}; it must name an earlier layer (1 to {}) or be 0 for \
                         the model's input",
                        earlier.len()
                    )
                })?
                .output
        }
    };
    ensure!(
        !matches!(layers.get(from), Some(Layer::BatchNorm { .. })),
        "`from` is {from}, a convolution whose batch_norm is folded into it: its own output \
         does not exist at inference; take the batch_norm's (`from = {}`)",
        from + 1
    );
    ensure!(
        branch == shape,
        "the branch from {} is {branch:?} and the previous layer's output {shape:?}; the two \
         must have the same shape",
        match from {
            0 => "the input".to_string(),
            _ => format!("layer {from}"),
        }
    );
    Ok(())
}

/// The spec's name of a layer kind.
pub fn kind_name(layer: &Layer) -> &'static str {
    match layer {
        Layer::Dense { .. } => "dense",
        Layer::Conv2d { .. } => "conv2d",
        Layer::Conv1d { .. } => "conv1d",
        Layer::DepthwiseConv2d { .. } => "depthwise_conv2d",
        Layer::MaxPool { .. } => "max_pool",
        Layer::AvgPool { .. } => "avg_pool",
        Layer::GlobalAvgPool => "global_avg_pool",
        Layer::Flatten => "flatten",
        Layer::Dropout { .. } => "dropout",
        Layer::BatchNorm { .. } => "batch_norm",
        Layer::Add { .. } => "add",
    }
}

fn image(shape: Shape) -> Result<[usize; 3]> {
    match shape {
        Shape::Image(hwc) => Ok(hwc),
        Shape::Flat(n) => bail!(
            "its input is flat ({n} values); it needs [height, width, channels] or \
             [time, channels]: set `input`, and put it before any flatten"
        ),
    }
}

fn width(what: &str, n: usize) -> Result<usize> {
    ensure!(
        (1..=MAX_WIDTH).contains(&n),
        "{what} is {n}; it must be 1 to {MAX_WIDTH}"
    );
    Ok(n)
}

fn window(padding: Padding, stride: [usize; 2], dilation: [usize; 2]) -> Window {
    Window {
        padding: match padding {
            Padding::Same => FloatPadding::Same,
            Padding::Valid => FloatPadding::Valid,
        },
        stride,
        dilation,
    }
}

fn step(layer: &Layer, shape: Shape, time_only: bool, before: Option<&Step>) -> Result<StepKind> {
    let pair = |e: Extent| e.pair(time_only);
    Ok(match *layer {
        Layer::Dense { units, activation } => match shape {
            Shape::Flat(inputs) => StepKind::Dense {
                inputs,
                units: width("`units`", units)?,
                activation,
            },
            Shape::Image(_) => {
                bail!("its input is an image; put flatten or global_avg_pool before a dense layer")
            }
        },
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            dilation,
            padding,
            activation,
        } => StepKind::Conv {
            window: window(padding, pair(stride), pair(dilation)),
            kernel: pair(kernel),
            in_channels: image(shape)?[2],
            out_channels: width("`filters`", filters)?,
            depthwise: false,
            activation,
        },
        Layer::Conv1d {
            filters,
            kernel,
            stride,
            dilation,
            padding,
            activation,
        } => {
            let [_, w, c] = image(shape)?;
            ensure!(
                w == 1,
                "conv1d needs a [time, channels] input; this one is an image (use conv2d)"
            );
            StepKind::Conv {
                window: window(padding, [stride, 1], [dilation, 1]),
                kernel: [kernel, 1],
                in_channels: c,
                out_channels: width("`filters`", filters)?,
                depthwise: false,
                activation,
            }
        }
        Layer::DepthwiseConv2d {
            kernel,
            stride,
            dilation,
            padding,
            multiplier,
            activation,
        } => {
            let c = image(shape)?[2];
            StepKind::Conv {
                window: window(padding, pair(stride), pair(dilation)),
                kernel: pair(kernel),
                in_channels: c,
                out_channels: width("channels times `multiplier`", c.saturating_mul(multiplier))?,
                depthwise: true,
                activation,
            }
        }
        Layer::MaxPool { size, stride } | Layer::AvgPool { size, stride } => {
            image(shape)?;
            let size = pair(size);
            StepKind::Pool {
                max: matches!(layer, Layer::MaxPool { .. }),
                size,
                stride: stride.map_or(size, pair),
            }
        }
        Layer::GlobalAvgPool => {
            image(shape)?;
            StepKind::GlobalAvgPool
        }
        Layer::Flatten => {
            image(shape)?;
            StepKind::Flatten
        }
        Layer::Dropout { rate } => {
            ensure!(
                (0.0..1.0).contains(&rate),
                "`rate` is {rate}; it must be in [0, 1)"
            );
            StepKind::Dropout(rate)
        }
        // What it adds is checked by `add`, which sees the earlier layers.
        Layer::Add { from, activation } => StepKind::Add { from, activation },
        Layer::BatchNorm { activation } => {
            let channels = image(shape)?[2];
            ensure!(
                matches!(
                    before,
                    Some(Step {
                        kind: StepKind::Conv {
                            activation: Activation::None,
                            ..
                        },
                        ..
                    })
                ),
                "batch_norm must follow a convolution without an activation (it is folded \
                 into that convolution); give the activation to the batch_norm"
            );
            StepKind::BatchNorm {
                channels,
                activation,
            }
        }
    })
}

fn output_shape(kind: &StepKind, shape: Shape) -> Result<Shape> {
    Ok(match (kind, shape) {
        (StepKind::Dense { units, .. }, _) => Shape::Flat(*units),
        (
            StepKind::Conv {
                window,
                kernel,
                out_channels,
                ..
            },
            Shape::Image([h, w, _]),
        ) => Shape::Image([
            window.out_and_pad(0, h, kernel[0])?.0,
            window.out_and_pad(1, w, kernel[1])?.0,
            *out_channels,
        ]),
        (StepKind::Pool { size, stride, .. }, Shape::Image([h, w, c])) => {
            let valid = window(Padding::Valid, *stride, [1, 1]);
            Shape::Image([
                valid.out_and_pad(0, h, size[0])?.0,
                valid.out_and_pad(1, w, size[1])?.0,
                c,
            ])
        }
        (StepKind::GlobalAvgPool, Shape::Image([_, _, c])) => Shape::Flat(c),
        (StepKind::Flatten, s) => Shape::Flat(s.elements()),
        (StepKind::Dropout(_) | StepKind::BatchNorm { .. } | StepKind::Add { .. }, s) => s,
        (_, Shape::Flat(_)) => bail!("internal error: a window over a flat input"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(toml_layers: &str) -> Vec<Layer> {
        #[derive(serde::Deserialize)]
        struct L {
            layers: Vec<Layer>,
        }
        toml::from_str::<L>(&format!("layers = {toml_layers}"))
            .expect("layers parse")
            .layers
    }

    #[test]
    fn a_small_cnn_resolves_with_tflite_shapes() {
        let l = layers(
            r#"[
            { kind = "conv2d", filters = 8, kernel = 3, activation = "relu" },
            { kind = "batch_norm" },
            { kind = "depthwise_conv2d", kernel = [3, 3], stride = 2, padding = "valid" },
            { kind = "max_pool", size = 2 },
            { kind = "flatten" },
            { kind = "dense", units = 10 },
        ]"#,
        );
        // batch_norm after a convolution with an activation is refused.
        let err = resolve(&l, Shape::Image([8, 8, 1])).expect_err("bn after relu");
        assert!(
            format!("{err:#}").contains("layer 2 (batch_norm)"),
            "{err:#}"
        );

        let mut l = l;
        l.remove(1);
        let steps = resolve(&l, Shape::Image([8, 8, 1])).expect("resolves");
        let outputs: Vec<Shape> = steps.iter().map(|s| s.output).collect();
        assert_eq!(
            outputs,
            [
                Shape::Image([8, 8, 8]),
                Shape::Image([3, 3, 8]),
                Shape::Image([1, 1, 8]),
                Shape::Flat(8),
                Shape::Flat(10)
            ]
        );
        assert_eq!(
            steps[1].kind.parameter_shapes(),
            Some((vec![1, 3, 3, 8], 8))
        );
    }

    #[test]
    fn mismatched_layers_name_the_layer_and_the_fix() {
        let cases = [
            (
                r#"[{ kind = "conv2d", filters = 4, kernel = 3 }]"#,
                Shape::Flat(64),
                "layer 1 (conv2d): its input is flat",
            ),
            (
                r#"[{ kind = "dense", units = 4 }]"#,
                Shape::Image([8, 8, 1]),
                "put flatten or global_avg_pool",
            ),
            (
                r#"[{ kind = "conv1d", filters = 4, kernel = 3 }]"#,
                Shape::Image([8, 8, 1]),
                "conv1d needs a [time, channels] input",
            ),
            (
                r#"[{ kind = "max_pool", size = 9 }]"#,
                Shape::Image([8, 8, 1]),
                "exceeds the input",
            ),
            (
                r#"[{ kind = "dropout", rate = 1.5 }]"#,
                Shape::Flat(3),
                "must be in [0, 1)",
            ),
            (
                r#"[{ kind = "dense", units = 0 }]"#,
                Shape::Flat(3),
                "`units` is 0",
            ),
            (
                r#"[{ kind = "dense", units = 3 }, { kind = "add", from = 2 }]"#,
                Shape::Flat(3),
                "layer 2 (add): `from` is 2; it must name an earlier layer (1 to 1)",
            ),
            (
                r#"[{ kind = "dense", units = 4 }, { kind = "add", from = 0 }]"#,
                Shape::Flat(3),
                "the branch from the input is Flat(3) and the previous layer's output Flat(4)",
            ),
            (
                r#"[{ kind = "conv2d", filters = 1, kernel = 3 }, { kind = "batch_norm" },
                    { kind = "add", from = 1 }]"#,
                Shape::Image([8, 8, 1]),
                "take the batch_norm's (`from = 2`)",
            ),
        ];
        let huge = Shape::from_input(&[1 << 40, 1 << 40, 1]).expect_err("huge input");
        assert!(format!("{huge:#}").contains("elements"), "{huge:#}");
        let zero = r#"[{ kind = "depthwise_conv2d", kernel = 3, multiplier = 0 }]"#;
        let err = resolve(&layers(zero), Shape::Image([8, 8, 2])).expect_err("multiplier 0");
        assert!(format!("{err:#}").contains("`multiplier` is 0"), "{err:#}");
        for (spec, input, expected) in cases {
            let err = resolve(&layers(spec), input).expect_err(spec);
            assert!(format!("{err:#}").contains(expected), "{spec}: {err:#}");
        }
    }

    #[test]
    fn a_time_series_input_takes_one_number_windows_along_time() {
        let l = layers(
            r#"[
            { kind = "conv1d", filters = 6, kernel = 5, stride = 2 },
            { kind = "max_pool", size = 2 },
            { kind = "global_avg_pool" },
        ]"#,
        );
        let input = Shape::from_input(&[49, 10]).expect("shape");
        let steps = resolve(&l, input).expect("resolves");
        assert_eq!(steps[0].output, Shape::Image([25, 1, 6]));
        assert_eq!(steps[1].output, Shape::Image([12, 1, 6]));
        assert_eq!(steps[2].output, Shape::Flat(6));
    }
}
