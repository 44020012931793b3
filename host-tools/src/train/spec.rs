//! A model's declarative spec (`models/<name>/spec.toml`) and the float model it trains into.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// What `mote train`, `quantize` and `eval` read: architecture, data and training settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Model name; also the stem of the files written next to the spec.
    pub name: String,
    /// Classification (argmax accuracy) or regression (error).
    pub task: Task,
    /// Hidden and output layers, in order; the input width comes from the data.
    pub layers: Vec<LayerSpec>,
    /// Where the samples come from and how they are split.
    pub data: DataSpec,
    /// Optimiser settings.
    pub training: TrainingSpec,
    /// Post-training quantization settings.
    #[serde(default)]
    pub quantization: QuantizationSpec,
    /// Folder of the spec file: relative paths in it are resolved against this.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// One of `classes` labels; the last layer has one unit per class and is followed by softmax.
    Classification,
    /// Real-valued targets; the last layer has one unit per target.
    Regression,
}

/// One dense layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Output units.
    pub units: usize,
    /// Activation after the layer.
    #[serde(default)]
    pub activation: Activation,
}

/// Activation functions the int8 runtime can fuse into a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
}

/// Data set: one table of samples, split deterministically into train and test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// CSV (no header; features then targets) or NPY (2-D float or integer array, same layout).
    pub file: PathBuf,
    /// How many trailing columns are targets (1 label column for classification).
    #[serde(default = "one")]
    pub target_columns: usize,
    /// Number of classes (classification only).
    pub classes: Option<usize>,
    /// Fraction of samples held out for testing.
    pub test_fraction: f64,
    /// Seed of the shuffle that makes the split.
    pub split_seed: u64,
}

fn one() -> usize {
    1
}

/// Training hyper-parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Seeds initialisation and batch order: the same seed gives the same weights.
    pub seed: u64,
}

/// Post-training quantization settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizationSpec {
    /// How many training samples calibrate the activation ranges.
    #[serde(default = "default_calibration_samples")]
    pub calibration_samples: usize,
    /// Give the int8 graph a float input and output (QUANTIZE and DEQUANTIZE at its edges)
    /// instead of int8 ones.
    #[serde(default)]
    pub float_io: bool,
}

fn default_calibration_samples() -> usize {
    500
}

impl Default for QuantizationSpec {
    fn default() -> Self {
        QuantizationSpec {
            calibration_samples: default_calibration_samples(),
            float_io: false,
        }
    }
}

impl Spec {
    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read spec {}", path.display()))?;
        let mut spec: Spec =
            toml::from_str(&text).with_context(|| format!("invalid spec {}", path.display()))?;
        spec.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        spec.check()
            .with_context(|| format!("invalid spec {}", path.display()))?;
        Ok(spec)
    }

    fn check(&self) -> Result<()> {
        if self.layers.is_empty() {
            bail!("`layers` is empty: give at least the output layer");
        }
        if let Some(l) = self
            .layers
            .iter()
            .find(|l| l.units == 0 || l.units > usize::from(u16::MAX))
        {
            bail!("a layer has {} units; it must have 1 to 65535", l.units);
        }
        if !(0.0..1.0).contains(&self.data.test_fraction) {
            bail!("`data.test_fraction` must be in [0, 1)");
        }
        if self.training.epochs == 0 || self.training.batch_size == 0 {
            bail!("`training.epochs` and `training.batch_size` must be positive");
        }
        let last = self.layers.last().map_or(0, |l| l.units);
        match (self.task, self.data.classes) {
            (Task::Classification, Some(c)) if c == last && self.data.target_columns == 1 => {}
            (Task::Classification, _) => bail!(
                "classification needs `data.classes` equal to the last layer's units ({last}) \
                 and one target column"
            ),
            (Task::Regression, _) if self.data.target_columns == last => {}
            (Task::Regression, _) => bail!(
                "regression needs the last layer's units ({last}) to equal `data.target_columns`"
            ),
        }
        Ok(())
    }

    /// Resolves a path written in the spec against the spec's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.dir.join(path)
    }

    /// Default path of the trained float model.
    pub fn float_model_path(&self) -> PathBuf {
        self.dir.join(format!("{}.float.json", self.name))
    }

    /// Default path of the int8 blob.
    pub fn blob_path(&self) -> PathBuf {
        self.dir.join(format!("{}.mote", self.name))
    }
}

/// A trained float model: a stack of dense layers. Written by `mote train` as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatModel {
    /// Model name.
    pub name: String,
    /// Task it was trained for.
    pub task: Task,
    /// Input features.
    pub inputs: usize,
    /// Dense layers in order.
    pub layers: Vec<DenseLayer>,
}

/// One trained dense layer: `y = act(W x + b)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    /// Row-major `[units][inputs]` (the TFLite FULLY_CONNECTED layout).
    pub weights: Vec<f32>,
    /// One per unit.
    pub bias: Vec<f32>,
    /// Output units.
    pub units: usize,
    /// Activation after the layer.
    pub activation: Activation,
}

impl FloatModel {
    /// Runs the float model on one sample (used for calibration and the float side of eval).
    /// Calls `observe(layer, activations)` after each layer so calibration can record ranges.
    pub fn forward(&self, x: &[f32], mut observe: impl FnMut(usize, &[f32])) -> Vec<f32> {
        let mut cur = x.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            let depth = cur.len();
            let mut next: Vec<f32> = layer
                .weights
                .chunks_exact(depth)
                .zip(&layer.bias)
                .map(|(row, b)| row.iter().zip(&cur).map(|(w, v)| w * v).sum::<f32>() + b)
                .collect();
            for v in &mut next {
                *v = match layer.activation {
                    Activation::None => *v,
                    Activation::Relu => v.max(0.0),
                    Activation::Relu6 => v.clamp(0.0, 6.0),
                };
            }
            observe(i, &next);
            cur = next;
        }
        cur
    }

    /// Reads a float model written by `mote train`.
    pub fn load(path: &Path) -> Result<FloatModel> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read float model {} (run `mote train` first)",
                path.display()
            )
        })?;
        let model: FloatModel = serde_json::from_str(&text)
            .with_context(|| format!("invalid float model {}", path.display()))?;
        let mut width = model.inputs;
        for (i, l) in model.layers.iter().enumerate() {
            if l.weights.len() != l.units * width || l.bias.len() != l.units {
                bail!(
                    "invalid float model {}: layer {i} has wrong sizes",
                    path.display()
                );
            }
            width = l.units;
        }
        Ok(model)
    }
}
