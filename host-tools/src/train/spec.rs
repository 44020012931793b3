//! A model's declarative spec (`models/<name>/spec.toml`): layers, data, training settings.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use mote::kernels::reference::audio::{self, CHANNELS};

use crate::float::Fused;
use crate::intake::audio::CLIP_SAMPLES;
use crate::train::arch::{self, Shape, Step};

/// What `mote train`, `quantize` and `eval` read: architecture, data and training settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Model name; also the stem of the files written next to the spec.
    pub name: String,
    /// Classification (argmax accuracy) or regression (error).
    pub task: Task,
    /// The shape of one sample: `[height, width, channels]`, `[time, channels]` or
    /// `[features]`; by default the data's feature count, flat.
    #[serde(default)]
    pub input: Option<Vec<usize>>,
    /// Hidden and output layers, in order.
    pub layers: Vec<Layer>,
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

/// One layer of the spec, tagged by `kind`. Windows (`kernel`, `stride`, `dilation`, `size`)
/// are one number (the same along both axes of an image, along time for a `[T, C]` input) or
/// `[height, width]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    /// A fully connected layer over a flat input.
    Dense {
        units: usize,
        #[serde(default)]
        activation: Activation,
    },
    /// A 2-D convolution over an `[H, W, C]` input.
    Conv2d {
        filters: usize,
        kernel: Extent,
        #[serde(default)]
        stride: Extent,
        #[serde(default)]
        dilation: Extent,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        activation: Activation,
    },
    /// A convolution along time over a `[T, C]` input.
    Conv1d {
        filters: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default = "one")]
        dilation: usize,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        activation: Activation,
    },
    /// One filter per input channel (`multiplier` of them).
    DepthwiseConv2d {
        kernel: Extent,
        #[serde(default)]
        stride: Extent,
        #[serde(default)]
        dilation: Extent,
        #[serde(default)]
        padding: Padding,
        #[serde(default = "one")]
        multiplier: usize,
        #[serde(default)]
        activation: Activation,
    },
    /// The largest value of each window (no padding; `stride` defaults to `size`).
    MaxPool {
        size: Extent,
        stride: Option<Extent>,
    },
    /// The mean of each window (no padding; `stride` defaults to `size`).
    AvgPool {
        size: Extent,
        stride: Option<Extent>,
    },
    /// The mean of each channel over the whole image: `[H, W, C]` to `[C]`.
    GlobalAvgPool,
    /// `[H, W, C]` to `[H * W * C]`, channels fastest.
    Flatten,
    /// Zeroes a fraction `rate` of the values while training; nothing at inference.
    Dropout { rate: f32 },
    /// Normalises each channel of the convolution before it (which must have no activation),
    /// then applies `activation`; folded into that convolution's weights at export.
    BatchNorm {
        #[serde(default)]
        activation: Activation,
    },
    /// A residual connection: adds the output of layer `from` (counting from 1; 0 is the
    /// model's input) to the previous layer's, then applies `activation`. The two branches
    /// must have the same shape; `from` may not be a convolution whose batch_norm is folded
    /// into it (take the batch_norm's output).
    Add {
        from: usize,
        #[serde(default)]
        activation: Activation,
    },
}

/// A window's extent: one number for every axis, or `[height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Extent {
    Same(usize),
    Pair([usize; 2]),
}

impl Default for Extent {
    fn default() -> Self {
        Extent::Same(1)
    }
}

impl Extent {
    /// `[height, width]`; over a `[T, C]` input (`time_only`) one number spans time alone.
    pub fn pair(self, time_only: bool) -> [usize; 2] {
        match self {
            Extent::Same(n) if time_only => [n, 1],
            Extent::Same(n) => [n, n],
            Extent::Pair(p) => p,
        }
    }
}

/// TensorFlow's window paddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Output size `ceil(input / stride)`, zeros around the input.
    #[default]
    Same,
    /// No padding: only windows that fit.
    Valid,
}

/// Activations after a layer: ReLU and ReLU6 fuse into the layer's int8 operator, the others
/// become an operator of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// x for x > 0, else 0.01 x (PyTorch's default slope).
    LeakyRelu,
    /// x * relu6(x + 3) / 6.
    HardSwish,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// tanh(x).
    Tanh,
}

/// The slope of `leaky_relu` below zero.
pub const LEAKY_RELU_SLOPE: f32 = 0.01;

impl Activation {
    /// The activation as a fused one, if the int8 operators can fuse it.
    pub fn fused(self) -> Option<Fused> {
        match self {
            Activation::None => Some(Fused::None),
            Activation::Relu => Some(Fused::Relu),
            Activation::Relu6 => Some(Fused::Relu6),
            _ => None,
        }
    }
}

/// Data set: one table of samples, split deterministically into train and test, or a folder
/// of labelled sound clips already split.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// CSV (no header; features then targets) or NPY (2-D float or integer array, same layout).
    pub file: Option<PathBuf>,
    /// A folder of 16 kHz mono 16-bit WAV clips, `train/`, `validation/` and `test/`, each with
    /// one folder per class (`<label>/<clip>.wav`). The model learns the features the runtime's
    /// AUDIO_FRONTEND computes, and its blob starts with that operator: it takes the sound.
    pub wav_dir: Option<PathBuf>,
    /// How many trailing columns are targets (1 label column for classification).
    #[serde(default = "one")]
    pub target_columns: usize,
    /// Number of classes (classification only).
    pub classes: Option<usize>,
    /// Fraction of a table's samples held out for testing.
    #[serde(default)]
    pub test_fraction: f64,
    /// Seed of the shuffle that splits a table.
    #[serde(default)]
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
    /// Fraction of a table's training samples held out to validate each epoch (a WAV folder
    /// validates on its `validation/` clips).
    #[serde(default)]
    pub validation_fraction: f64,
    /// Stop after this many epochs without a better validation score and keep the best
    /// epoch's weights (needs validation data).
    pub patience: Option<usize>,
    /// The learning rate over the epochs.
    #[serde(default)]
    pub schedule: Schedule,
    /// How each class's samples weigh in the loss.
    #[serde(default)]
    pub class_weights: ClassWeights,
    /// Shift each training sample by a random number of cells up to `[rows, columns]` either
    /// way, zeros shifted in (time frames and mel bands for sound, so `[4, 0]` moves a word
    /// by up to 80 ms); image and time-series inputs only.
    pub shift: Option<[usize; 2]>,
    /// Add Gaussian noise of this standard deviation to every value of each training sample,
    /// in the input's units (for sound, the log-mel features, whose steps are
    /// `FEATURE_SCALE` apart), drawn anew each epoch.
    pub noise: Option<f32>,
    /// Epochs of quantization-aware fine-tuning after training (at a tenth of the learning
    /// rate); 0 for post-training quantization alone.
    #[serde(default)]
    pub qat_epochs: usize,
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `learning_rate` throughout.
    #[default]
    Constant,
    /// From `learning_rate` down to zero along half a cosine.
    Cosine,
}

impl Schedule {
    /// The rate of epoch `epoch` (from 1) of `epochs`.
    pub fn rate(self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let t = (epoch - 1) as f64 / epochs.max(1) as f64;
                0.5 * base * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// Class weights of the classification loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeights {
    /// Every sample counts the same.
    #[default]
    None,
    /// Each class counts the same: a sample of class `c` weighs `n / (classes * n_c)`.
    Balanced,
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
        if !(0.0..1.0).contains(&self.data.test_fraction) {
            bail!("`data.test_fraction` must be in [0, 1)");
        }
        if self.training.epochs == 0 || self.training.batch_size == 0 {
            bail!("`training.epochs` and `training.batch_size` must be positive");
        }
        match (&self.data.file, &self.data.wav_dir) {
            (Some(_), None) => {}
            (None, Some(_)) if self.task == Task::Classification => {}
            (None, Some(_)) => bail!("`data.wav_dir` is for classification"),
            _ => bail!(
                "give `data.file` (a CSV or NPY table) or `data.wav_dir` (WAV clips), one of them"
            ),
        }
        if self.task == Task::Classification && self.data.target_columns != 1 {
            bail!("classification needs one target column (the class label)");
        }
        if self
            .training
            .noise
            .is_some_and(|sigma| !(sigma.is_finite() && sigma > 0.0))
        {
            bail!("`training.noise` must be a positive standard deviation");
        }
        if !(0.0..1.0).contains(&self.training.validation_fraction) {
            bail!("`training.validation_fraction` must be in [0, 1)");
        }
        if let Some(input) = &self.input {
            let steps = self.steps(Shape::from_input(input)?.elements())?;
            if self.training.shift.is_some()
                && !matches!(steps.first(), Some(s) if matches!(s.input, Shape::Image(_)))
            {
                bail!("`training.shift` needs an image or time-series `input`");
            }
        }
        Ok(())
    }

    /// The layers resolved over samples of `features` values: checks that the input shape
    /// holds them and that the last layer gives one value per class or target.
    ///
    /// # Errors
    /// Any of those not holding, or a layer that does not fit (see [`arch::resolve`]).
    pub fn steps(&self, features: usize) -> Result<Vec<Step>> {
        let shape = self.input_shape(features);
        let input = Shape::from_input(&shape)?;
        ensure!(
            input.elements() == features,
            "`input` {shape:?} holds {} values but the data has {features} features per sample",
            input.elements()
        );
        let steps = arch::resolve(&self.layers, input)?;
        let output = steps.last().map_or(input, |s| s.output);
        let wanted = match self.task {
            Task::Classification => self.data.classes.unwrap_or(0),
            Task::Regression => self.data.target_columns,
        };
        match (self.task, output) {
            (_, Shape::Flat(n)) if n == wanted => {}
            (Task::Classification, _) => bail!(
                "classification needs `data.classes` equal to the last layer's units; the \
                 model ends in {output:?} and `data.classes` is {wanted}"
            ),
            (Task::Regression, _) => bail!(
                "regression needs the last layer's units to equal `data.target_columns`; the \
                 model ends in {output:?} and `data.target_columns` is {wanted}"
            ),
        }
        Ok(steps)
    }

    /// The shape of one sample: `input`, or else the front end's features for sound, or the
    /// data's `features` values, flat.
    pub fn input_shape(&self, features: usize) -> Vec<usize> {
        match (&self.input, &self.data.wav_dir) {
            (Some(shape), _) => shape.clone(),
            (None, Some(_)) => vec![audio::frames(CLIP_SAMPLES), CHANNELS, 1],
            (None, None) => vec![features],
        }
    }

    /// Resolves a path written in the spec against the spec's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.dir.join(path)
    }

    /// Default path of the trained float model.
    pub fn float_model_path(&self) -> PathBuf {
        self.dir.join(format!("{}.float.json", self.name))
    }

    /// Default path of the quantization-aware model.
    pub fn qat_model_path(&self) -> PathBuf {
        self.dir.join(format!("{}.qat.json", self.name))
    }

    /// The float model `mote quantize` takes by default: the quantization-aware one if the
    /// spec asks for it.
    pub fn blob_model_path(&self) -> PathBuf {
        match self.training.qat_epochs {
            0 => self.float_model_path(),
            _ => self.qat_model_path(),
        }
    }

    /// Default path of the int8 blob.
    pub fn blob_path(&self) -> PathBuf {
        self.dir.join(format!("{}.mote", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_err(body: &str) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("spec.toml");
        let text = format!(
            "name = \"t\"\ntask = \"classification\"\n{body}\n[training]\nepochs = 1\n\
             batch_size = 1\nlearning_rate = 0.01\nseed = 1\n"
        );
        std::fs::write(&path, text).expect("write");
        let err = format!("{:#}", Spec::load(&path).expect_err(body));
        assert!(err.contains("spec.toml"), "names the file: {err}");
        err
    }

    #[test]
    fn bad_specs_say_where_and_what() {
        let data = "[data]\nfile = \"d.csv\"\nclasses = 3";
        for (layers, expected) in [
            (
                r#"layers = [{ kind = "conv3d", filters = 2 }]"#,
                "unknown variant `conv3d`",
            ),
            (
                r#"input = [8, 8, 1]
layers = [{ kind = "conv2d", filter = 2, kernel = 3 }]"#,
                "unknown field `filter`",
            ),
            (
                r#"input = [8, 8, 1]
layers = [{ kind = "dense", units = 3 }]"#,
                "layer 1 (dense): its input is an image",
            ),
            (
                r#"input = [8, 8, 1]
layers = [{ kind = "flatten" }, { kind = "dense", units = 4 }]"#,
                "`data.classes` is 3",
            ),
            (
                r#"input = [8, 8, 1]
layers = [{ kind = "dense", units = 3 }, { kind = "flatten" }]"#,
                "layer 1 (dense)",
            ),
        ] {
            let err = load_err(&format!("{layers}\n{data}"));
            assert!(err.contains(expected), "{layers}: {err}");
        }
        let err = load_err(
            "layers = [{ kind = \"dense\", units = 3 }]\n[data]\nfile = \"d.csv\"\n\
             wav_dir = \"w\"\nclasses = 3",
        );
        assert!(err.contains("one of them"), "{err}");
        // toml names the line of the layer list and what is wrong.
        let err = load_err(
            "layers = [\n  { kind = \"dense\", units = \"many\" },\n]\n[data]\nfile = \"d.csv\"\nclasses = 3",
        );
        assert!(
            err.contains("line 3") && err.contains("expected usize"),
            "{err}"
        );
    }
}
