//! Float training of the spec's MLP with burn (Flex CPU backend + autodiff), reproducibly.

use anyhow::{Result, bail, ensure};
use burn::module::Param;
use burn::nn::Linear;
use burn::nn::loss::{CrossEntropyLoss, MseLoss, Reduction};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::intake::data::{Dataset, SplitMix64};
use crate::train::spec::{Activation, DenseLayer, FloatModel, Spec, Task};

/// Trains the spec's dense stack on `train` and returns the float weights.
///
/// Calls `on_epoch(epoch, mean_loss)` after each pass (epochs count from 1). Features are used
/// raw, without normalisation, so the int8 model sees exactly what the float model saw.
/// Bit-reproducible: weights are initialised and batches ordered by our own seeded PRNG rather
/// than burn's global RNG (shared by all threads), and the Flex backend (built without rayon)
/// computes every step in a fixed order.
pub fn train(
    spec: &Spec,
    train: &Dataset,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<FloatModel> {
    check_data(spec, train)?;
    let device = Device::flex().autodiff();
    let mut rng = SplitMix64::new(spec.training.seed);
    let activations: Vec<Activation> = spec.layers.iter().map(|l| l.activation).collect();
    let mut layers: Vec<Linear> = Vec::with_capacity(spec.layers.len());
    let mut width = train.features;
    for layer in &spec.layers {
        layers.push(init_linear(width, layer.units, &mut rng, &device));
        width = layer.units;
    }

    let mut optimizer = AdamConfig::new().init();
    let cross_entropy = CrossEntropyLoss::new(None, &device);
    let batch_size = spec.training.batch_size.min(train.len());
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=spec.training.epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0f64;
        for batch in order.chunks(batch_size) {
            let (x, y) = gather(train, batch);
            let x =
                Tensor::<2>::from_data(TensorData::new(x, [batch.len(), train.features]), &device);
            let output = forward(&layers, &activations, x);
            let loss = match spec.task {
                Task::Classification => {
                    // Labels were checked to be whole numbers in 0..classes when loading.
                    let labels: Vec<i64> = y.iter().map(|&v| v as i64).collect();
                    let labels = Tensor::<1, Int>::from_data(
                        TensorData::new(labels, [batch.len()]),
                        &device,
                    );
                    cross_entropy.forward(output, labels)
                }
                Task::Regression => {
                    let y = Tensor::<2>::from_data(
                        TensorData::new(y, [batch.len(), train.targets]),
                        &device,
                    );
                    MseLoss::new().forward(output, y, Reduction::Mean)
                }
            };
            let value: f32 = loss.clone().into_scalar();
            if !value.is_finite() {
                bail!(
                    "training diverged in epoch {epoch} (loss is {value}); lower \
                     `training.learning_rate` or scale the input features"
                );
            }
            loss_sum += f64::from(value) * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &layers);
            layers = optimizer.step(spec.training.learning_rate, layers, grads);
        }
        on_epoch(epoch, (loss_sum / train.len() as f64) as f32);
    }
    to_float_model(spec, train.features, &layers, &activations)
}

fn check_data(spec: &Spec, train: &Dataset) -> Result<()> {
    ensure!(
        !train.is_empty(),
        "the training set is empty: add samples to `{}`",
        spec.data.file.display()
    );
    let expected_targets = match spec.task {
        Task::Classification => 1,
        Task::Regression => spec.layers.last().map_or(0, |l| l.units),
    };
    ensure!(
        train.targets == expected_targets,
        "the data has {} target column(s) but the model needs {expected_targets}",
        train.targets
    );
    Ok(())
}

/// A dense layer with PyTorch's default initialisation, U(-1/sqrt(inputs), 1/sqrt(inputs)) for
/// weights and bias (what burn's `LinearConfig` does too), drawn from our seeded PRNG.
fn init_linear(inputs: usize, units: usize, rng: &mut SplitMix64, device: &Device) -> Linear {
    let bound = 1.0 / (inputs as f32).sqrt();
    let mut uniform = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.unit_f32() * 2.0 - 1.0) * bound)
            .collect()
    };
    // burn's Linear computes `x W + b` with W stored as [inputs, units].
    let weight = uniform(inputs * units);
    let bias = uniform(units);
    Linear {
        weight: Param::from_data(TensorData::new(weight, [inputs, units]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [units]), device)),
    }
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

/// The MLP's logits (classification) or predictions (regression); softmax is left to inference.
fn forward(layers: &[Linear], activations: &[Activation], mut x: Tensor<2>) -> Tensor<2> {
    for (layer, activation) in layers.iter().zip(activations) {
        x = layer.forward(x);
        x = match activation {
            Activation::None => x,
            Activation::Relu => relu(x),
            Activation::Relu6 => x.clamp(0.0, 6.0),
        };
    }
    x
}

/// Copies the weights out, transposed to the `[units][inputs]` layout of `DenseLayer`.
fn to_float_model(
    spec: &Spec,
    inputs: usize,
    layers: &[Linear],
    activations: &[Activation],
) -> Result<FloatModel> {
    let mut out = Vec::with_capacity(layers.len());
    let mut width = inputs;
    for (layer, &activation) in layers.iter().zip(activations) {
        let [d_in, units] = layer.weight.val().dims();
        ensure!(
            d_in == width,
            "internal error: layer input width {d_in}, expected {width}"
        );
        let w = read_f32(layer.weight.val())?;
        let weights = (0..units * d_in)
            .map(|i| w[(i % d_in) * units + i / d_in])
            .collect();
        let bias = match &layer.bias {
            Some(b) => read_f32(b.val())?,
            None => vec![0.0; units],
        };
        out.push(DenseLayer {
            weights,
            bias,
            units,
            activation,
        });
        width = units;
    }
    Ok(FloatModel {
        name: spec.name.clone(),
        task: spec.task,
        inputs,
        layers: out,
    })
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
        let a = train(&spec, &train_set, &mut |_, l| losses.push(l)).expect("train");
        let b = train(&spec, &train_set, &mut |_, _| {}).expect("train");
        assert_eq!(a, b);
        assert_eq!(losses.len(), 3);
        assert!(losses[2] < losses[0], "loss decreases: {losses:?}");
        let dims: Vec<(usize, usize)> = a
            .layers
            .iter()
            .map(|l| (l.units, l.weights.len()))
            .collect();
        assert_eq!(dims, [(16, 16), (16, 256), (1, 16)]);
    }

    #[test]
    fn digits_reach_float_accuracy() {
        let spec = model_spec("digits");
        let ds = data::load(&spec).expect("digits data");
        let (train_set, test_set) = data::split(&ds, spec.data.test_fraction, spec.data.split_seed);
        let model = train(&spec, &train_set, &mut |_, _| {}).expect("train");
        let correct = (0..test_set.len())
            .filter(|&i| {
                let (x, y) = test_set.sample(i);
                let out = model.forward(x, |_, _| {});
                let best = (0..out.len()).max_by(|&a, &b| out[a].total_cmp(&out[b]));
                best == Some(y[0] as usize)
            })
            .count();
        let accuracy = correct as f64 / test_set.len() as f64;
        assert!(accuracy >= 0.95, "float test accuracy {accuracy}");
    }
}
