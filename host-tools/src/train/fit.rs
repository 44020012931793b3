//! Float training of a spec's layers with burn (Flex CPU backend + autodiff), reproducibly.
//!
//! The network is held in burn's NCHW layout; the export turns every parameter into TFLite's
//! NHWC layouts (see [`StepKind::parameter_shapes`]) and folds batch norms into their
//! convolutions, so the float model written equals, up to float rounding, the network trained.

use anyhow::{Context, Result, bail, ensure};
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig, MseLoss, Reduction};
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::intake::data::{Dataset, SplitMix64};
use crate::quantize::QParams;
use crate::train::arch::{Shape, Step, StepKind};
use crate::train::model::{FloatModel, FrontEnd, TrainedLayer};
use crate::train::spec::{Activation, ClassWeights, LEAKY_RELU_SLOPE, Layer, Spec, Task};

/// What one epoch did, for progress reports and learning curves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    /// Counting from 1.
    pub number: usize,
    /// The learning rate it used.
    pub learning_rate: f64,
    /// Mean training loss.
    pub loss: f32,
    /// Training accuracy (classification), measured on the batches as they were trained.
    pub accuracy: Option<f32>,
    /// Loss and accuracy (classification) on the validation data, if there is any.
    pub validation: Option<(f32, Option<f32>)>,
}

/// The trainable parameters, by kind, in layer order.
#[derive(Module, Debug, Default)]
struct Net {
    convs: Vec<Conv2d>,
    denses: Vec<Linear>,
    norms: Vec<BatchNorm>,
}

/// Trains the spec's layers on `train` and returns the float model.
///
/// Validates on `validation` after each epoch if given (and stops early when the spec's
/// `patience` runs out, keeping the best epoch), then calls `on_epoch`. Features are used raw,
/// without normalisation, so the int8 model sees exactly what the float model saw.
/// Bit-reproducible: weights are initialised, batches ordered, samples shifted and dropout
/// masks drawn by our own seeded PRNG rather than burn's global RNG (shared by all threads),
/// and the Flex backend (built without rayon) computes every step in a fixed order.
///
/// # Errors
/// Data that does not fit the spec, or a diverging loss.
pub fn train(
    spec: &Spec,
    train: &Dataset,
    validation: Option<&Dataset>,
    on_epoch: &mut dyn FnMut(&Epoch),
) -> Result<FloatModel> {
    let (steps, net) = fit(spec, train, validation, on_epoch)?;
    float_model(spec, &steps, &net)
}

/// The float model of a network trained from `spec`.
fn float_model(spec: &Spec, steps: &[Step], net: &Net) -> Result<FloatModel> {
    Ok(FloatModel {
        name: spec.name.clone(),
        task: spec.task,
        input: spec.input_shape(steps.first().map_or(0, |s| s.input.elements())),
        layers: export(&spec.layers, steps, net)?,
        front_end: spec.data.wav_dir.as_ref().map(|_| FrontEnd::LogMel),
    })
}

/// Quantization-aware training: fine-tunes a trained float model for `training.qat_epochs`
/// with its input, activations and weights on int8 grids in the forward pass (the ranges
/// calibrated once on `calibration`, as post-training quantization would) and gradients passed
/// straight through, at a tenth of the learning rate. The result is again a float model, for
/// the same quantizer.
///
/// # Errors
/// As [`train`], or a model that does not fit the spec's data.
pub fn fine_tune(
    spec: &Spec,
    model: &FloatModel,
    train: &Dataset,
    validation: Option<&Dataset>,
    calibration: &[&[f32]],
    on_epoch: &mut dyn FnMut(&Epoch),
) -> Result<FloatModel> {
    let steps = model.steps()?;
    ensure!(
        steps.first().map(|s| s.input.elements()) == Some(train.features),
        "the float model takes {} values per sample; the data has {}",
        model.features(),
        train.features
    );
    let device = Device::flex().autodiff();
    let net = from_model(model, &steps, &device)?;
    let fake = calibrate(model, &steps, &net, calibration)?;
    let schedule = Epochs {
        count: spec.training.qat_epochs,
        learning_rate: spec.training.learning_rate / 10.0,
        rng: SplitMix64::new(spec.training.seed.wrapping_add(1)),
    };
    let net = run_epochs(
        spec,
        &steps,
        net,
        train,
        validation,
        Some(&fake),
        schedule,
        on_epoch,
    )?;
    Ok(FloatModel {
        layers: export(
            &model
                .layers
                .iter()
                .map(|l| l.layer.clone())
                .collect::<Vec<_>>(),
            &steps,
            &net,
        )?,
        ..model.clone()
    })
}

/// The int8 grids of a model: its input's (the front end's, or the calibration samples'
/// range), and those of the outputs the int8 graph quantizes, from the ranges the float
/// network takes on `calibration`.
fn calibrate(
    model: &FloatModel,
    steps: &[Step],
    net: &Net,
    calibration: &[&[f32]],
) -> Result<FakeQuant> {
    ensure!(!calibration.is_empty(), "no calibration samples");
    let features = calibration[0].len();
    let x: Vec<f32> = calibration.concat();
    let input = match model.front_end {
        Some(FrontEnd::LogMel) => QParams {
            scale: mote::kernels::reference::audio::FEATURE_SCALE,
            zero_point: mote::kernels::reference::audio::FEATURE_ZERO_POINT,
        },
        None => {
            let (lo, hi) = x
                .iter()
                .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            QParams::from_range(lo, hi)
        }
    };
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); steps.len()];
    let device = Device::flex();
    let valid = net.valid();
    for batch in x.chunks(256 * features) {
        let rows = batch.len() / features;
        let x = Tensor::<2>::from_data(TensorData::new(batch.to_vec(), [rows, features]), &device);
        let pass = Pass {
            ranges: Some(&mut ranges),
            ..Pass::default()
        };
        forward(&valid, steps, x, pass);
    }
    let outputs = steps
        .iter()
        .zip(&ranges)
        .map(|(step, &(lo, hi))| {
            matches!(
                step.kind,
                StepKind::Dense { .. }
                    | StepKind::Conv { .. }
                    | StepKind::GlobalAvgPool
                    | StepKind::Add { .. }
            )
            .then(|| QParams::from_range(lo, hi))
        })
        .collect();
    Ok(FakeQuant { input, outputs })
}

/// The training loop of [`train`]: the resolved layers and the trained network.
fn fit(
    spec: &Spec,
    train: &Dataset,
    validation: Option<&Dataset>,
    on_epoch: &mut dyn FnMut(&Epoch),
) -> Result<(Vec<Step>, Net)> {
    ensure!(
        !train.is_empty(),
        "the training set is empty: add samples to the spec's data"
    );
    let steps = spec.steps(train.features)?;
    let expected_targets = match spec.task {
        Task::Classification => 1,
        Task::Regression => spec.data.target_columns,
    };
    ensure!(
        train.targets == expected_targets,
        "the data has {} target column(s) but the model needs {expected_targets}",
        train.targets
    );
    if spec.task == Task::Classification {
        let counts = class_counts(spec, train);
        if let Some(empty) = counts.iter().position(|&c| c == 0) {
            bail!(
                "class {empty} has no training samples: give it some, or lower `data.classes` \
                 ({} now) and renumber the labels",
                counts.len()
            );
        }
    }
    let device = Device::flex().autodiff();
    let mut rng = SplitMix64::new(spec.training.seed);
    let net = init(&steps, &mut rng, &device);
    let schedule = Epochs {
        count: spec.training.epochs,
        learning_rate: spec.training.learning_rate,
        // Initialisation drew from the seed's stream; training goes on from where it ended.
        rng,
    };
    let net = run_epochs(
        spec, &steps, net, train, validation, None, schedule, on_epoch,
    )?;
    Ok((steps, net))
}

/// How many epochs, from which learning rate (the spec's schedule shapes it), with which PRNG
/// for batch order, shifts and dropout.
struct Epochs {
    count: usize,
    learning_rate: f64,
    rng: SplitMix64,
}

/// Trains `net` for the given epochs: Adam, the spec's batch size, schedule, class weights,
/// shifts, noise and early stopping; `fake` puts the forward pass on int8 grids.
#[allow(clippy::too_many_arguments)]
fn run_epochs(
    spec: &Spec,
    steps: &[Step],
    mut net: Net,
    train: &Dataset,
    validation: Option<&Dataset>,
    fake: Option<&FakeQuant>,
    epochs: Epochs,
    on_epoch: &mut dyn FnMut(&Epoch),
) -> Result<Net> {
    let validation = validation.filter(|v| !v.is_empty());
    ensure!(
        spec.training.patience.is_none() || validation.is_some(),
        "`training.patience` needs validation data: set `training.validation_fraction` (or give \
         a WAV folder a `validation/` folder)"
    );
    let shift = match (spec.training.shift, steps.first().map(|s| s.input)) {
        (Some(shift), Some(Shape::Image(hwc))) => Some((shift, hwc)),
        (Some(_), _) => bail!("`training.shift` needs an image or time-series `input`"),
        (None, _) => None,
    };
    let device = Device::flex().autodiff();
    let mut rng = epochs.rng;
    let mut optimizer = AdamConfig::new().init();
    let weights = class_weights(spec, train);
    let cross_entropy = loss_function(weights.clone(), &device);
    let batch_size = spec.training.batch_size.min(train.len());
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best: Option<(f32, usize, Net)> = None;
    for number in 1..=epochs.count {
        let learning_rate = spec
            .training
            .schedule
            .rate(epochs.learning_rate, number, epochs.count);
        rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in order.chunks(batch_size) {
            let (mut x, y) = gather(train, batch);
            if let Some((limit, hwc)) = shift {
                for sample in x.chunks_mut(train.features) {
                    shift_sample(sample, hwc, limit, &mut rng);
                }
            }
            if let Some(sigma) = spec.training.noise {
                for v in &mut x {
                    *v += sigma * rng.normal_f32();
                }
            }
            let x =
                Tensor::<2>::from_data(TensorData::new(x, [batch.len(), train.features]), &device);
            let pass = Pass {
                dropout: Some(&mut rng),
                fake,
                ranges: None,
            };
            let output = forward(&net, steps, x, pass);
            let (loss, hits) = loss_of(spec, &cross_entropy, output, &y, &device)?;
            correct += hits;
            let value: f32 = loss.clone().into_scalar();
            if !value.is_finite() {
                bail!(
                    "training diverged in epoch {number} (loss is {value}); lower \
                     `training.learning_rate` or scale the input features"
                );
            }
            loss_sum += f64::from(value) * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(learning_rate, net, grads);
        }
        let validation = validation
            .map(|v| validate(spec, steps, &net, fake, weights.clone(), v))
            .transpose()?;
        on_epoch(&Epoch {
            number,
            learning_rate,
            loss: (loss_sum / train.len() as f64) as f32,
            accuracy: (spec.task == Task::Classification)
                .then(|| correct as f32 / train.len() as f32),
            validation,
        });
        if let (Some(patience), Some((loss, accuracy))) = (spec.training.patience, validation) {
            // Higher is better: accuracy for classifiers, the negated loss otherwise.
            let score = accuracy.unwrap_or(-loss);
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, number, net.clone()));
            } else if best
                .as_ref()
                .is_some_and(|(_, at, _)| number - at >= patience)
            {
                break;
            }
        }
    }
    Ok(best.map_or(net, |(_, _, net)| net))
}

/// How many samples of `data` each class has.
fn class_counts(spec: &Spec, data: &Dataset) -> Vec<usize> {
    let mut counts = vec![0usize; spec.data.classes.unwrap_or(0)];
    for &y in &data.y {
        if let Some(c) = counts.get_mut(y as usize) {
            *c += 1;
        }
    }
    counts
}

/// The weight of each class in the loss, as the spec asks, from the training data's counts.
fn class_weights(spec: &Spec, train: &Dataset) -> Option<Vec<f32>> {
    match spec.training.class_weights {
        ClassWeights::Balanced if spec.task == Task::Classification => {
            let counts = class_counts(spec, train);
            let (n, classes) = (train.len() as f32, counts.len() as f32);
            Some(
                counts
                    .iter()
                    .map(|&c| {
                        if c == 0 {
                            0.0
                        } else {
                            n / (classes * c as f32)
                        }
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// The classification loss on `device`, classes weighted by `weights`.
fn loss_function(weights: Option<Vec<f32>>, device: &Device) -> CrossEntropyLoss {
    CrossEntropyLossConfig::new()
        .with_weights(weights)
        .init(device)
}

/// A batch's loss and, for classification, how many samples it got right.
fn loss_of(
    spec: &Spec,
    cross_entropy: &CrossEntropyLoss,
    output: Tensor<2>,
    y: &[f32],
    device: &Device,
) -> Result<(Tensor<1>, usize)> {
    let [rows, _] = output.dims();
    Ok(match spec.task {
        Task::Classification => {
            // Labels were checked to be whole numbers in 0..classes when loading.
            let labels: Vec<i64> = y.iter().map(|&v| v as i64).collect();
            let hits = predictions(&output)?
                .iter()
                .zip(&labels)
                .filter(|(p, l)| **p as i64 == **l)
                .count();
            let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [rows]), device);
            (cross_entropy.forward(output, labels), hits)
        }
        Task::Regression => {
            let targets = y.len() / rows.max(1);
            let y = Tensor::<2>::from_data(TensorData::new(y.to_vec(), [rows, targets]), device);
            (MseLoss::new().forward(output, y, Reduction::Mean), 0)
        }
    })
}

/// Mean loss and accuracy (classification) of the network as it is, on `data`.
fn validate(
    spec: &Spec,
    steps: &[Step],
    net: &Net,
    fake: Option<&FakeQuant>,
    weights: Option<Vec<f32>>,
    data: &Dataset,
) -> Result<(f32, Option<f32>)> {
    let device = Device::flex();
    let net = net.valid();
    // The training data's class weights: validation measures the loss that training minimises.
    let cross_entropy = loss_function(weights, &device);
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let order: Vec<usize> = (0..data.len()).collect();
    for batch in order.chunks(256) {
        let (x, y) = gather(data, batch);
        let x = Tensor::<2>::from_data(TensorData::new(x, [batch.len(), data.features]), &device);
        let pass = Pass {
            fake,
            ..Pass::default()
        };
        let output = forward(&net, steps, x, pass);
        let (loss, hits) = loss_of(spec, &cross_entropy, output, &y, &device)?;
        let value: f32 = loss.into_scalar();
        loss_sum += f64::from(value) * batch.len() as f64;
        correct += hits;
    }
    let n = data.len() as f64;
    Ok((
        (loss_sum / n) as f32,
        (spec.task == Task::Classification).then(|| (correct as f64 / n) as f32),
    ))
}

/// Moves one HWC sample by a random offset of up to `limit` cells along each axis, zeros
/// filling what comes in.
fn shift_sample(x: &mut [f32], [h, w, c]: [usize; 3], limit: [usize; 2], rng: &mut SplitMix64) {
    let mut offset = |limit: usize| rng.below(2 * limit + 1) as isize - limit as isize;
    let (dy, dx) = (offset(limit[0]), offset(limit[1]));
    if (dy, dx) == (0, 0) {
        return;
    }
    let source = x.to_vec();
    for y in 0..h {
        for col in 0..w {
            let (sy, sx) = (y as isize - dy, col as isize - dx);
            let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
            for ch in 0..c {
                x[(y * w + col) * c + ch] = if inside {
                    source[((sy as usize) * w + sx as usize) * c + ch]
                } else {
                    0.0
                };
            }
        }
    }
}

/// Uniform initialisation as PyTorch's defaults do it for linear and convolution layers:
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and bias, drawn from our seeded PRNG.
fn init(steps: &[Step], rng: &mut SplitMix64, device: &Device) -> Net {
    let mut net = Net::default();
    let mut uniform = |n: usize, fan_in: usize| -> Vec<f32> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        (0..n)
            .map(|_| (rng.unit_f32() * 2.0 - 1.0) * bound)
            .collect()
    };
    for step in steps {
        match step.kind {
            StepKind::Dense { inputs, units, .. } => {
                // burn's Linear computes `x W + b` with W stored as [inputs, units].
                let weight = uniform(inputs * units, inputs);
                let bias = uniform(units, inputs);
                net.denses.push(linear_module(weight, bias, device));
            }
            StepKind::Conv {
                kernel: [kh, kw],
                in_channels,
                out_channels,
                depthwise,
                ..
            } => {
                let fan_in = if depthwise { 1 } else { in_channels } * kh * kw;
                let weight = uniform(out_channels * fan_in, fan_in);
                let bias = uniform(out_channels, fan_in);
                net.convs.push(conv_module(step, weight, bias, device));
            }
            StepKind::BatchNorm { channels, .. } => {
                net.norms.push(BatchNormConfig::new(channels).init(device));
            }
            _ => {}
        }
    }
    net
}

fn gather(ds: &Dataset, batch: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut x = Vec::with_capacity(batch.len() * ds.features);
    let mut y = Vec::with_capacity(batch.len() * ds.targets);
    for &i in batch {
        let (xi, yi) = ds.sample(i);
        x.extend_from_slice(xi);
        y.extend_from_slice(yi);
    }
    (x, y)
}

/// What a forward pass does besides computing: dropout (training), fake quantization
/// (quantization-aware training), recording each step's output range (calibration).
#[derive(Default)]
struct Pass<'a> {
    dropout: Option<&'a mut SplitMix64>,
    fake: Option<&'a FakeQuant>,
    ranges: Option<&'a mut Vec<(f32, f32)>>,
}

/// The int8 grids of quantization-aware training: the model's input, and each step's output
/// that the int8 graph quantizes (convolutions, dense layers and global pools); weights are
/// rounded per output channel, symmetrically, as the quantizer will.
pub(crate) struct FakeQuant {
    pub input: QParams,
    pub outputs: Vec<Option<QParams>>,
}

/// `x` on the int8 grid `q` in the forward pass; the gradient passes through unchanged (the
/// straight-through estimator).
fn fake_activation<const D: usize>(x: Tensor<D>, q: QParams) -> Tensor<D> {
    let (scale, zero_point) = (f64::from(q.scale), f64::from(q.zero_point));
    let on_grid = x
        .clone()
        .div_scalar(scale)
        .round()
        .add_scalar(zero_point)
        .clamp(-128.0, 127.0)
        .sub_scalar(zero_point)
        .mul_scalar(scale);
    x.clone() + (on_grid - x).detach()
}

/// Weights rounded to symmetric int8 with one scale per slice along `axis` (the output
/// channel), straight-through.
fn fake_weights<const D: usize>(w: Tensor<D>, axis: usize) -> Tensor<D> {
    let mut max_abs = w.clone().abs();
    for d in (0..D).filter(|&d| d != axis) {
        max_abs = max_abs.max_dim(d);
    }
    let scale = max_abs.clamp_min(1e-12).div_scalar(127.0).detach();
    let on_grid = (w.clone() / scale.clone()).round().clamp(-127.0, 127.0) * scale;
    w.clone() + (on_grid - w).detach()
}

/// The network's logits (classification) or predictions (regression) for a batch of flat
/// samples; softmax is left to inference.
fn forward(net: &Net, steps: &[Step], x: Tensor<2>, mut pass: Pass) -> Tensor<2> {
    let [n, _] = x.dims();
    let (mut convs, mut denses, mut norms) =
        (net.convs.iter(), net.denses.iter(), net.norms.iter());
    let mut image: Option<Tensor<4>> = None;
    let x = match pass.fake {
        Some(f) => fake_activation(x, f.input),
        None => x,
    };
    let mut flat = Some(x);
    if let Some(Step {
        input: Shape::Image([h, w, c]),
        ..
    }) = steps.first()
    {
        // Samples are stored HWC, burn convolves NCHW.
        image = flat
            .take()
            .map(|x| x.reshape([n, *h, *w, *c]).permute([0, 3, 1, 2]));
    }
    // Every step's output (the input first), for residual additions.
    let mut outputs = vec![(image.clone(), flat.clone())];
    for (i, step) in steps.iter().enumerate() {
        match (&step.kind, image.take(), flat.take()) {
            (StepKind::Dense { activation, .. }, _, Some(x)) => {
                let layer = denses.next().expect("one Linear per dense step");
                let y = match pass.fake {
                    // burn's Linear weights are [inputs, units]: units are axis 1.
                    Some(_) => burn::tensor::module::linear(
                        x,
                        fake_weights(layer.weight.val(), 1),
                        layer.bias.as_ref().map(|b| b.val()),
                    ),
                    None => layer.forward(x),
                };
                flat = Some(activate(y, *activation));
            }
            (StepKind::Conv { activation, .. }, Some(x), _) => {
                let layer = convs.next().expect("one Conv2d per convolution step");
                let y = match (pass.fake, &layer.padding) {
                    (Some(_), PaddingConfig2d::Explicit(top, left, bottom, right)) => conv2d(
                        x,
                        fake_weights(layer.weight.val(), 0),
                        layer.bias.as_ref().map(|b| b.val()),
                        ConvOptions::new_with_padding(
                            layer.stride,
                            [(*top, *bottom), (*left, *right)],
                            layer.dilation,
                            layer.groups,
                        ),
                    ),
                    _ => layer.forward(x),
                };
                image = Some(activate(y, *activation));
            }
            (StepKind::BatchNorm { activation, .. }, Some(x), _) => {
                let layer = norms.next().expect("one BatchNorm per batch_norm step");
                image = Some(activate(layer.forward(x), *activation));
            }
            (StepKind::Pool { max, size, stride }, Some(x), _) => {
                image = Some(if *max {
                    MaxPool2dConfig::new(*size)
                        .with_strides(*stride)
                        .init()
                        .forward(x)
                } else {
                    AvgPool2dConfig::new(*size)
                        .with_strides(*stride)
                        .init()
                        .forward(x)
                });
            }
            (StepKind::GlobalAvgPool, Some(x), _) => {
                let [n, c, _, _] = x.dims();
                flat = Some(x.mean_dim(3).mean_dim(2).reshape([n, c]));
            }
            (StepKind::Flatten, Some(x), _) => {
                // Flatten in HWC order, as the int8 graph's RESHAPE of an NHWC tensor does.
                let [n, c, h, w] = x.dims();
                flat = Some(x.permute([0, 2, 3, 1]).reshape([n, h * w * c]));
            }
            (StepKind::Add { from, activation }, image_x, flat_x) => {
                let (branch_image, branch_flat) = outputs[*from].clone();
                image = image_x
                    .zip(branch_image)
                    .map(|(a, b)| activate(a + b, *activation));
                flat = flat_x
                    .zip(branch_flat)
                    .map(|(a, b)| activate(a + b, *activation));
            }
            (StepKind::Dropout(rate), image_x, flat_x) => {
                let keep = 1.0 - rate;
                let mut mask = |dims: Vec<usize>, device: &Device| -> Option<Tensor<1>> {
                    let rng = pass.dropout.as_deref_mut()?;
                    let count = dims.iter().product();
                    let values: Vec<f32> = (0..count)
                        .map(|_| {
                            if rng.unit_f32() < keep {
                                1.0 / keep
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    Some(Tensor::from_data(TensorData::new(values, [count]), device))
                };
                image = image_x.map(|x| match mask(x.dims().to_vec(), &x.device()) {
                    Some(m) => x.clone() * m.reshape(x.dims()),
                    None => x,
                });
                flat = flat_x.map(|x| match mask(x.dims().to_vec(), &x.device()) {
                    Some(m) => x.clone() * m.reshape(x.dims()),
                    None => x,
                });
            }
            _ => unreachable!("resolve checked every step's input shape"),
        }
        if let Some(ranges) = pass.ranges.as_deref_mut() {
            let range = match (&image, &flat) {
                (Some(x), _) => (x.clone().min().into_scalar(), x.clone().max().into_scalar()),
                (_, Some(x)) => (x.clone().min().into_scalar(), x.clone().max().into_scalar()),
                _ => (0.0, 0.0),
            };
            if let Some(r) = ranges.get_mut(i) {
                *r = (r.0.min(range.0), r.1.max(range.1));
            }
        }
        if let Some(q) = pass.fake.and_then(|f| f.outputs.get(i).copied().flatten()) {
            image = image.map(|x| fake_activation(x, q));
            flat = flat.map(|x| fake_activation(x, q));
        }
        outputs.push((image.clone(), flat.clone()));
    }
    flat.expect("resolve ends a model in a flat output")
}

fn activate<const D: usize>(x: Tensor<D>, a: Activation) -> Tensor<D> {
    match a {
        Activation::None => x,
        Activation::Relu => activation::relu(x),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::LeakyRelu => activation::leaky_relu(x, f64::from(LEAKY_RELU_SLOPE)),
        Activation::HardSwish => activation::hard_swish(x),
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::Tanh => activation::tanh(x),
    }
}

/// The index of each row's largest logit.
fn predictions(output: &Tensor<2>) -> Result<Vec<usize>> {
    let [_, classes] = output.dims();
    Ok(read_f32(output.clone())?
        .chunks(classes.max(1))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
        })
        .collect())
}

/// The float model: parameters in TFLite's layouts, dropout dropped, each batch norm folded
/// into the convolution before it (`w * s`, `(b - mean) * s + beta` with
/// `s = gamma / sqrt(var + eps)`), which then takes the batch norm's activation.
fn export(spec_layers: &[Layer], steps: &[Step], net: &Net) -> Result<Vec<TrainedLayer>> {
    let (mut convs, mut denses, mut norms) =
        (net.convs.iter(), net.denses.iter(), net.norms.iter());
    let mut layers: Vec<TrainedLayer> = Vec::with_capacity(steps.len());
    // The exported layer that computes each step's output (0: the input), for additions:
    // dropout passes its input on, a batch norm's output is its folded convolution's.
    let mut computed_by: Vec<usize> = vec![0];
    for (step, layer) in steps.iter().zip(spec_layers) {
        let mut trained = TrainedLayer {
            layer: layer.clone(),
            weights: Vec::new(),
            bias: Vec::new(),
        };
        match step.kind {
            StepKind::Dense { inputs, units, .. } => {
                let d = denses.next().expect("one Linear per dense step");
                let w = read_f32(d.weight.val())?;
                trained.weights = (0..units * inputs)
                    .map(|i| w[(i % inputs) * units + i / inputs])
                    .collect();
                trained.bias = bias(&d.bias, units)?;
            }
            StepKind::Conv {
                kernel: [kh, kw],
                in_channels,
                out_channels,
                depthwise,
                ..
            } => {
                let c = convs.next().expect("one Conv2d per convolution step");
                let w = read_f32(c.weight.val())?;
                // burn: [out][in / groups][kh][kw]; TFLite: [out][kh][kw][in] or, depthwise,
                // [1][kh][kw][out].
                let per_group = if depthwise { 1 } else { in_channels };
                let burn_at = |o: usize, i: usize, y: usize, x: usize| {
                    w[((o * per_group + i) * kh + y) * kw + x]
                };
                trained.weights = if depthwise {
                    (0..kh * kw * out_channels)
                        .map(|j| {
                            let (yx, o) = (j / out_channels, j % out_channels);
                            burn_at(o, 0, yx / kw, yx % kw)
                        })
                        .collect()
                } else {
                    (0..out_channels * kh * kw * in_channels)
                        .map(|j| {
                            let (o, rest) =
                                (j / (kh * kw * in_channels), j % (kh * kw * in_channels));
                            let (yx, i) = (rest / in_channels, rest % in_channels);
                            burn_at(o, i, yx / kw, yx % kw)
                        })
                        .collect()
                };
                trained.bias = bias(&c.bias, out_channels)?;
            }
            StepKind::BatchNorm { activation, .. } => {
                let n = norms.next().expect("one BatchNorm per batch_norm step");
                let gamma = read_f32(n.gamma.val())?;
                let beta = read_f32(n.beta.val())?;
                let mean = read_f32(n.running_mean.value_sync())?;
                let var = read_f32(n.running_var.value_sync())?;
                let Some(conv) = layers.last_mut() else {
                    bail!("internal error: a batch_norm first");
                };
                let channels = conv.bias.len();
                for (o, b) in conv.bias.iter_mut().enumerate() {
                    let s = gamma[o] / (var[o] + n.epsilon as f32).sqrt();
                    *b = (*b - mean[o]) * s + beta[o];
                }
                // The output channel is the fastest axis of both TFLite filter layouts'
                // reads here: [out][..] for conv, [..][out] for depthwise.
                let depthwise = matches!(conv.layer, Layer::DepthwiseConv2d { .. });
                let per_out = conv.weights.len() / channels.max(1);
                for (j, w) in conv.weights.iter_mut().enumerate() {
                    let o = if depthwise { j % channels } else { j / per_out };
                    *w *= gamma[o] / (var[o] + n.epsilon as f32).sqrt();
                }
                set_activation(&mut conv.layer, activation);
                computed_by.push(layers.len());
                continue;
            }
            StepKind::Dropout(_) => {
                computed_by.push(computed_by.last().copied().unwrap_or(0));
                continue;
            }
            StepKind::Add { from, activation } => {
                // resolve refuses a convolution whose batch norm is folded into it.
                let from = computed_by.get(from).copied();
                let from = from.context("internal error: an addition from a later layer")?;
                trained.layer = Layer::Add { from, activation };
            }
            _ => {}
        }
        layers.push(trained);
        computed_by.push(layers.len());
    }
    Ok(layers)
}

/// The network of a trained float model (the inverse of [`export`] for models without batch
/// norms, which export folds away).
fn from_model(model: &FloatModel, steps: &[Step], device: &Device) -> Result<Net> {
    let mut net = Net::default();
    for (step, layer) in steps.iter().zip(&model.layers) {
        let (w, b) = (&layer.weights, layer.bias.clone());
        match step.kind {
            StepKind::Dense { inputs, units, .. } => {
                let weight: Vec<f32> = (0..inputs * units)
                    .map(|j| w[(j % units) * inputs + j / units])
                    .collect();
                net.denses.push(linear_module(weight, b, device));
            }
            StepKind::Conv {
                kernel: [kh, kw],
                in_channels,
                out_channels,
                depthwise,
                ..
            } => {
                let per_group = if depthwise { 1 } else { in_channels };
                // burn's [out][in / groups][kh][kw] from TFLite's [out][kh][kw][in] or, depthwise,
                // [1][kh][kw][out].
                let weight: Vec<f32> = (0..out_channels * per_group * kh * kw)
                    .map(|j| {
                        let (o, rest) = (j / (per_group * kh * kw), j % (per_group * kh * kw));
                        let (i, yx) = (rest / (kh * kw), rest % (kh * kw));
                        if depthwise {
                            w[yx * out_channels + o]
                        } else {
                            w[(o * kh * kw + yx) * in_channels + i]
                        }
                    })
                    .collect();
                net.convs.push(conv_module(step, weight, b, device));
            }
            StepKind::BatchNorm { .. } => bail!("internal error: an unfolded batch_norm"),
            _ => {}
        }
    }
    Ok(net)
}

/// A dense layer's burn module: `weight` is burn's `[inputs, units]`, `bias` has `units`.
fn linear_module(weight: Vec<f32>, bias: Vec<f32>, device: &Device) -> Linear {
    let units = bias.len();
    let inputs = weight.len() / units.max(1);
    Linear {
        weight: Param::from_data(TensorData::new(weight, [inputs, units]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [units]), device)),
    }
}

/// A convolution step's burn module with the given parameters (burn's layout), TFLite's SAME
/// padding made explicit (the odd cell goes after).
fn conv_module(step: &Step, weight: Vec<f32>, bias: Vec<f32>, device: &Device) -> Conv2d {
    let StepKind::Conv {
        window,
        kernel: [kh, kw],
        in_channels,
        out_channels,
        depthwise,
        ..
    } = step.kind
    else {
        unreachable!("conv_module takes convolution steps");
    };
    let (groups, per_group) = if depthwise {
        (in_channels, 1)
    } else {
        (1, in_channels)
    };
    let [ih, iw, _] = match step.input {
        Shape::Image(hwc) => hwc,
        Shape::Flat(_) => unreachable!("resolve puts convolutions on images"),
    };
    let pads = |axis, size, k| window.pads(axis, size, k).unwrap_or_default();
    let (_, top, bottom) = pads(0, ih, kh);
    let (_, left, right) = pads(1, iw, kw);
    Conv2d {
        weight: Param::from_data(
            TensorData::new(weight, [out_channels, per_group, kh, kw]),
            device,
        ),
        bias: Some(Param::from_data(
            TensorData::new(bias, [out_channels]),
            device,
        )),
        stride: window.stride,
        kernel_size: [kh, kw],
        dilation: window.dilation,
        groups,
        padding: PaddingConfig2d::Explicit(top, left, bottom, right),
    }
}

fn set_activation(layer: &mut Layer, to: Activation) {
    match layer {
        Layer::Dense { activation, .. }
        | Layer::Conv2d { activation, .. }
        | Layer::Conv1d { activation, .. }
        | Layer::DepthwiseConv2d { activation, .. }
        | Layer::BatchNorm { activation } => *activation = to,
        _ => {}
    }
}

fn bias(b: &Option<Param<Tensor<1>>>, units: usize) -> Result<Vec<f32>> {
    match b {
        Some(b) => read_f32(b.val()),
        None => Ok(vec![0.0; units]),
    }
}

fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read trained weights: {e:?}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::intake::data;
    use crate::train::model::Forward;

    fn model_spec(name: &str) -> Spec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name)
            .join("spec.toml");
        Spec::load(&path).expect("bundled spec loads")
    }

    #[test]
    fn sine_training_is_bit_reproducible() {
        let mut spec = model_spec("sine");
        // Reproducibility does not need a converged model: a few epochs keep the test quick.
        spec.training.epochs = 3;
        let ds = data::load(&spec).expect("sine data");
        let (train_set, _) = data::split(&ds, spec.data.test_fraction, spec.data.split_seed);
        let mut losses = Vec::new();
        let a = train(&spec, &train_set, None, &mut |e| losses.push(e.loss)).expect("train");
        let b = train(&spec, &train_set, None, &mut |_| {}).expect("train");
        assert_eq!(a, b);
        assert_eq!(losses.len(), 3);
        assert!(losses[2] < losses[0], "loss decreases: {losses:?}");
        let dims: Vec<usize> = a.layers.iter().map(|l| l.weights.len()).collect();
        assert_eq!(dims, [16, 256, 16]);
    }

    /// Convolutions, batch norms and dropout masks train to the same weights every time.
    #[test]
    fn cnn_training_is_bit_reproducible() {
        let mut spec = model_spec("digits_cnn");
        spec.training.epochs = 2;
        spec.layers.insert(3, Layer::Dropout { rate: 0.25 });
        let ds = data::load(&spec).expect("digits data");
        let (train_set, _) = data::split(&ds, spec.data.test_fraction, spec.data.split_seed);
        let a = train(&spec, &train_set, None, &mut |_| {}).expect("train");
        let b = train(&spec, &train_set, None, &mut |_| {}).expect("train");
        assert_eq!(a, b);
        // Dropout and the three batch norms are gone from the exported model.
        assert_eq!(a.layers.len(), spec.layers.len() - 4);
        // Noise is drawn from the seed too.
        spec.training.noise = Some(0.1);
        let noisy = train(&spec, &train_set, None, &mut |_| {}).expect("train");
        assert_eq!(
            noisy,
            train(&spec, &train_set, None, &mut |_| {}).expect("train")
        );
        assert_ne!(noisy, a);
    }

    /// A spec of `layers` over `input`, classifying into `classes`, with seeded random data.
    fn random_case(input: &str, layers: &str, classes: usize, samples: usize) -> (Spec, Dataset) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("spec.toml");
        std::fs::write(
            &path,
            format!(
                "name = \"t\"\ntask = \"classification\"\ninput = {input}\nlayers = {layers}\n\
                 [data]\nfile = \"unused.csv\"\nclasses = {classes}\n\
                 [training]\nepochs = 2\nbatch_size = 16\nlearning_rate = 0.01\nseed = 3\n"
            ),
        )
        .expect("write spec");
        let spec = Spec::load(&path).expect("spec");
        let features = Shape::from_input(&spec.input.clone().expect("input"))
            .expect("shape")
            .elements();
        let mut rng = SplitMix64::new(11);
        let data = Dataset {
            features,
            targets: 1,
            x: (0..samples * features)
                .map(|_| rng.unit_f32() * 4.0 - 1.0)
                .collect(),
            y: (0..samples).map(|_| rng.below(classes) as f32).collect(),
            clips: Vec::new(),
            labels: Vec::new(),
        };
        (spec, data)
    }

    #[test]
    fn a_class_without_training_samples_is_refused() {
        let (spec, mut data) = random_case("[4]", r#"[{ kind = "dense", units = 3 }]"#, 3, 20);
        for y in &mut data.y {
            *y = if *y == 2.0 { 0.0 } else { *y };
        }
        let err = format!(
            "{:#}",
            train(&spec, &data, None, &mut |_| {}).expect_err("empty")
        );
        assert!(err.contains("class 2 has no training samples"), "{err}");
    }

    /// Every layer kind, activation and window option: burn's network, the exported float
    /// graph and the int8 blob compute the same function (the blob within quantization error).
    #[test]
    fn every_layer_exports_to_its_float_and_int8_forms() {
        let cases = [
            (
                "[12, 10, 2]",
                r#"[
                { kind = "conv2d", filters = 4, kernel = 3, stride = 2 },
                { kind = "batch_norm", activation = "hard_swish" },
                { kind = "depthwise_conv2d", kernel = [3, 2], dilation = [2, 1], padding = "valid", multiplier = 2, activation = "relu6" },
                { kind = "avg_pool", size = 2, stride = 1 },
                { kind = "conv2d", filters = 6, kernel = 1, activation = "sigmoid" },
                { kind = "global_avg_pool" },
                { kind = "dense", units = 5, activation = "tanh" },
                { kind = "dense", units = 3, activation = "leaky_relu" },
                { kind = "dense", units = 3 },
            ]"#,
            ),
            (
                "[20, 3]",
                r#"[
                { kind = "conv1d", filters = 4, kernel = 5, stride = 2, activation = "relu" },
                { kind = "max_pool", size = 2 },
                { kind = "dropout", rate = 0.3 },
                { kind = "flatten" },
                { kind = "dense", units = 3 },
            ]"#,
            ),
            // Residual additions: from a layer, from a dropout (the batch norm's folded
            // convolution), from the input; flat and image branches.
            (
                "[8, 8, 4]",
                r#"[
                { kind = "conv2d", filters = 4, kernel = 3, activation = "relu" },
                { kind = "conv2d", filters = 4, kernel = 3 },
                { kind = "batch_norm" },
                { kind = "dropout", rate = 0.2 },
                { kind = "add", from = 1, activation = "relu" },
                { kind = "depthwise_conv2d", kernel = 3 },
                { kind = "add", from = 4, activation = "hard_swish" },
                { kind = "add", from = 0 },
                { kind = "global_avg_pool" },
                { kind = "dense", units = 6, activation = "relu" },
                { kind = "dense", units = 6 },
                { kind = "add", from = 10, activation = "relu6" },
                { kind = "dense", units = 3 },
            ]"#,
            ),
        ];
        for (input, layers) in cases {
            let (spec, data) = random_case(input, layers, 3, 96);
            let (steps, net) = fit(&spec, &data, None, &mut |_| {}).expect("fit");
            let model = float_model(&spec, &steps, &net).expect("export");
            let forward = Forward::new(&model).expect("graph");
            let n = 32;
            let x = Tensor::<2>::from_data(
                TensorData::new(data.x[..n * data.features].to_vec(), [n, data.features]),
                &Device::flex(),
            );
            let burn_out =
                read_f32(super::forward(&net.valid(), &steps, x, Pass::default())).expect("read");
            let calibration: Vec<&[f32]> = (0..data.len()).map(|i| data.sample(i).0).collect();
            let blob = crate::quantize::trained(&model, &calibration, false)
                .expect("quantize")
                .blob;
            let sub = Dataset {
                x: data.x[..n * data.features].to_vec(),
                y: data.y[..n].to_vec(),
                ..data.clone()
            };
            let int8 = crate::run::run_samples(
                &blob,
                &crate::train::eval::encode_inputs(&blob, &sub).expect("inputs"),
                &mut (),
            )
            .expect("run");
            // The network on the int8 grids quantization-aware training uses.
            let device = Device::flex();
            let folded_steps = model.steps().expect("steps");
            let folded = from_model(&model, &folded_steps, &device).expect("net");
            let fake = calibrate(&model, &folded_steps, &folded, &calibration).expect("grids");
            let x =
                Tensor::<2>::from_data(TensorData::new(sub.x.clone(), [n, data.features]), &device);
            let pass = Pass {
                fake: Some(&fake),
                ..Pass::default()
            };
            let fake_out = read_f32(super::forward(&folded, &folded_steps, x, pass)).expect("read");
            let (mut worst, mut worst_fake) = (0f32, 0f32);
            for i in 0..n {
                let logits = forward.logits(data.sample(i).0).expect("forward");
                let theirs = &burn_out[i * 3..(i + 1) * 3];
                for (a, b) in logits.iter().zip(theirs) {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                        "{input}: {logits:?} vs {theirs:?}"
                    );
                }
                // Softmax in float against the blob's int8 probabilities (1/256 steps).
                let q = |j: usize| (f32::from(int8[i * 3 + j] as i8) + 128.0) / 256.0;
                for (j, p) in softmax(&logits).iter().enumerate() {
                    worst = worst.max((p - q(j)).abs());
                }
                for (j, p) in softmax(&fake_out[i * 3..(i + 1) * 3]).iter().enumerate() {
                    worst_fake = worst_fake.max((p - q(j)).abs());
                }
            }
            eprintln!("{input}: int8 vs float {worst}, vs fake-quantized {worst_fake}");
            assert!(
                worst <= 0.02,
                "{input}: int8 probabilities off by up to {worst}"
            );
            assert!(
                worst_fake <= 0.01,
                "{input}: fake quantization off the int8 probabilities by up to {worst_fake}"
            );
        }
    }

    fn softmax(logits: &[f32]) -> Vec<f32> {
        let max = logits.iter().fold(f32::MIN, |m, &v| m.max(v));
        let sum: f32 = logits.iter().map(|v| (v - max).exp()).sum();
        logits.iter().map(|l| (l - max).exp() / sum).collect()
    }

    fn committed_model(name: &str) -> FloatModel {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(name)
            .join(format!("{name}.float.json"));
        FloatModel::load(&path).expect("committed float model")
    }

    /// `from_model` reads the TFLite layouts `export` writes: the round trip is exact.
    #[test]
    fn a_float_model_reads_back_into_the_network_it_came_from() {
        let model = committed_model("digits_cnn");
        let steps = model.steps().expect("steps");
        let net = from_model(&model, &steps, &Device::flex()).expect("net");
        let layers: Vec<Layer> = model.layers.iter().map(|l| l.layer.clone()).collect();
        assert_eq!(export(&layers, &steps, &net).expect("export"), model.layers);
    }

    /// Fake quantization models the int8 blob: the quantization-aware network's predictions
    /// (on its int8 grids) are the blob's on nearly every test sample, and fine-tuning is
    /// reproducible.
    #[test]
    fn fake_quantization_predicts_what_the_blob_computes() {
        let mut spec = model_spec("digits_cnn");
        spec.training.qat_epochs = 1;
        let model = committed_model("digits_cnn");
        let ds = data::load(&spec).expect("digits data");
        let (train_set, test_set) = data::split(&ds, spec.data.test_fraction, spec.data.split_seed);
        let calibration: Vec<&[f32]> = (0..500).map(|i| train_set.sample(i).0).collect();
        let qat = fine_tune(&spec, &model, &train_set, None, &calibration, &mut |_| {})
            .expect("fine-tune");
        let again = fine_tune(&spec, &model, &train_set, None, &calibration, &mut |_| {})
            .expect("fine-tune");
        assert_eq!(qat, again);
        assert_ne!(qat, model, "fine-tuning changed the weights");

        let blob = crate::quantize::trained(&qat, &calibration, false)
            .expect("quantize")
            .blob;
        let int8 = crate::run::run_samples(
            &blob,
            &crate::train::eval::encode_inputs(&blob, &test_set).expect("inputs"),
            &mut (),
        )
        .expect("run");
        let steps = qat.steps().expect("steps");
        let device = Device::flex();
        let net = from_model(&qat, &steps, &device).expect("net");
        let fake = calibrate(&qat, &steps, &net, &calibration).expect("grids");
        let x = Tensor::<2>::from_data(
            TensorData::new(test_set.x.clone(), [test_set.len(), test_set.features]),
            &device,
        );
        let pass = Pass {
            fake: Some(&fake),
            ..Pass::default()
        };
        let predicted = predictions(&forward(&net, &steps, x, pass)).expect("predictions");
        let agree = int8
            .chunks(10)
            .zip(&predicted)
            .filter(|(scores, p)| {
                let best = (0..10).max_by_key(|&i| (scores[i] as i8, std::cmp::Reverse(i)));
                best == Some(**p)
            })
            .count();
        assert!(
            agree * 100 >= test_set.len() * 98,
            "fake quantization agrees with the blob on {agree} of {} samples",
            test_set.len()
        );
    }

    fn accuracy(model: &FloatModel, test: &Dataset) -> f64 {
        let forward = Forward::new(model).expect("graph");
        let correct = (0..test.len())
            .filter(|&i| {
                let (x, y) = test.sample(i);
                let out = forward.logits(x).expect("forward");
                let best = (0..out.len()).max_by(|&a, &b| out[a].total_cmp(&out[b]));
                best == Some(y[0] as usize)
            })
            .count();
        correct as f64 / test.len() as f64
    }

    #[test]
    fn digits_reach_float_accuracy() {
        let spec = model_spec("digits");
        let ds = data::load(&spec).expect("digits data");
        let (train_set, test_set) = data::split(&ds, spec.data.test_fraction, spec.data.split_seed);
        let model = train(&spec, &train_set, None, &mut |_| {}).expect("train");
        let accuracy = accuracy(&model, &test_set);
        assert!(accuracy >= 0.95, "float test accuracy {accuracy}");
    }

    /// The exported model (NHWC layouts, folded batch norm) computes what burn's network
    /// computed, sample by sample: a wrong layout or fold would differ by far more than float
    /// rounding.
    #[test]
    fn export_matches_the_trained_network() {
        let mut spec = model_spec("digits_cnn");
        spec.training.epochs = 2;
        spec.layers.insert(3, Layer::Dropout { rate: 0.25 });
        assert!(
            spec.layers
                .iter()
                .any(|l| matches!(l, Layer::BatchNorm { .. })),
            "the test covers batch-norm folding"
        );
        let ds = data::load(&spec).expect("digits data");
        let (train_set, test_set) = data::split(&ds, spec.data.test_fraction, spec.data.split_seed);
        let (steps, net) = fit(&spec, &train_set, None, &mut |_| {}).expect("fit");
        let model = float_model(&spec, &steps, &net).expect("export");
        let forward = Forward::new(&model).expect("graph");
        let n = 16;
        let x = Tensor::<2>::from_data(
            TensorData::new(
                test_set.x[..n * test_set.features].to_vec(),
                [n, test_set.features],
            ),
            &Device::flex(),
        );
        let burn_out =
            read_f32(super::forward(&net.valid(), &steps, x, Pass::default())).expect("read");
        let classes = burn_out.len() / n;
        for i in 0..n {
            let ours = forward.logits(test_set.sample(i).0).expect("forward");
            let theirs = &burn_out[i * classes..(i + 1) * classes];
            for (a, b) in ours.iter().zip(theirs) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "sample {i}: {ours:?} vs {theirs:?}"
                );
            }
        }
    }
}
