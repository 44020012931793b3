//! Post-training full-integer quantization of a trained float model (TFLite's int8 scheme):
//! per-channel symmetric int8 weights, int32 bias, asymmetric int8 activations whose ranges
//! come from a calibration set, and every requantization multiplier precomputed.
//!
//! [`qmath`] holds the prepare-time multiplier math, which the importer shares.

pub mod calibrate;
pub mod qmath;
pub mod to_tflite;

use anyhow::{Context, Result, bail};
use bumpalo::Bump;
use mote::format::{
    Clamp, DType, FullyConnected, Multiplier, Op, Requant, Softmax, TensorId, Unary,
};

use crate::float::Fused;
use crate::plan::graph::HostGraph;
use crate::quantize::qmath::quantize_multiplier;
use mote::kernels::reference::audio;

use crate::intake::audio::CLIP_SAMPLES;
use crate::train::model::{DenseLayer, FloatModel, Forward, FrontEnd, Mlp};
use crate::train::spec::Task;

/// Integer bits of SOFTMAX's scaled input differences (TFLite's `kScaledDiffIntegerBits`).
const SOFTMAX_DIFF_INTEGER_BITS: i32 = 5;

/// An affine int8 quantization: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// Step between two int8 values.
    pub scale: f32,
    /// The int8 value that stands for 0.0.
    pub zero_point: i32,
}

impl QParams {
    /// TFLite's asymmetric int8 parameters for a range, widened to contain 0 so that zero
    /// (padding, ReLU's floor) is exact.
    pub fn from_range(min: f32, max: f32) -> QParams {
        let (min, max) = (min.min(0.0), max.max(0.0));
        if max - min <= f32::MIN_POSITIVE {
            return QParams {
                scale: 1.0,
                zero_point: 0,
            };
        }
        let scale = (max - min) / 255.0;
        let zero_point = (-128.0 - f64::from(min) / f64::from(scale))
            .round()
            .clamp(-128.0, 127.0);
        QParams {
            scale,
            zero_point: zero_point as i32,
        }
    }
}

/// Observed min/max of each layer's output (and of the input) over calibration samples.
#[derive(Debug, Clone)]
pub struct Ranges {
    input: (f32, f32),
    layers: Vec<(f32, f32)>,
}

/// Runs the float model on `samples` and records the ranges every activation takes.
pub fn calibrate<'s>(model: &Mlp, samples: impl Iterator<Item = &'s [f32]>) -> Ranges {
    let widen = |r: &mut (f32, f32), v: &[f32]| {
        for &x in v {
            r.0 = r.0.min(x);
            r.1 = r.1.max(x);
        }
    };
    let mut ranges = Ranges {
        input: (0.0, 0.0),
        layers: vec![(0.0, 0.0); model.layers.len()],
    };
    for x in samples {
        widen(&mut ranges.input, x);
        model.forward(x, |i, out| widen(&mut ranges.layers[i], out));
    }
    ranges
}

/// Builds the int8 graph of `model`: one FULLY_CONNECTED per layer (activation fused), then
/// SOFTMAX for classification. With `float_io` the graph takes and returns f32 through
/// QUANTIZE/DEQUANTIZE; otherwise its input and output are int8.
pub fn quantize<'a>(
    model: &Mlp,
    ranges: &Ranges,
    float_io: bool,
    consts: &'a Bump,
) -> Result<HostGraph<'a>> {
    if ranges.layers.len() != model.layers.len() {
        bail!("calibration ranges do not match the model");
    }
    let mut g = HostGraph::default();
    let input_q = QParams::from_range(ranges.input.0, ranges.input.1);
    let mut x = g.add_tensor(
        "input",
        DType::I8,
        &[1, model.inputs],
        input_q.scale,
        input_q.zero_point,
    )?;
    if float_io {
        let f = g.add_tensor("input_f32", DType::F32, &[1, model.inputs], 1.0, 0)?;
        g.inputs.push(f);
        g.ops.push(Op::Quantize(Unary {
            input: f,
            output: x,
        }));
    } else {
        g.inputs.push(x);
    }
    let mut x_q = input_q;
    for (i, (layer, &(lo, hi))) in model.layers.iter().zip(&ranges.layers).enumerate() {
        let out_q = QParams::from_range(lo, hi);
        let y = g.add_tensor(
            format!("dense_{i}"),
            DType::I8,
            &[1, layer.units],
            out_q.scale,
            out_q.zero_point,
        )?;
        let op = dense(layer, x, y, x_q, out_q, consts).with_context(|| format!("layer {i}"))?;
        g.ops.push(op);
        (x, x_q) = (y, out_q);
    }
    match model.task {
        Task::Classification => {
            let units = model.layers.last().map_or(0, |l| l.units);
            let y = g.add_tensor("softmax", DType::I8, &[1, units], 1.0 / 256.0, -128)?;
            g.ops
                .push(Op::Softmax(softmax_params(x, y, x_q.scale, 1.0)?));
            x = y;
        }
        Task::Regression => {}
    }
    if float_io {
        let shape: Vec<usize> = g.tensors[usize::from(x)]
            .shape
            .iter()
            .map(|&d| usize::from(d))
            .collect();
        let f = g.add_tensor("output_f32", DType::F32, &shape, 1.0, 0)?;
        g.ops.push(Op::Dequantize(Unary {
            input: x,
            output: f,
        }));
        x = f;
    }
    g.outputs.push(x);
    Ok(g)
}

/// One dense layer as FULLY_CONNECTED with per-channel weights.
fn dense<'a>(
    layer: &DenseLayer,
    input: TensorId,
    output: TensorId,
    in_q: QParams,
    out_q: QParams,
    consts: &'a Bump,
) -> Result<Op<'a>> {
    let depth = layer.weights.len() / layer.units.max(1);
    let mut weights = Vec::with_capacity(layer.weights.len());
    let mut bias = Vec::with_capacity(4 * layer.units);
    let mut multipliers = Vec::with_capacity(4 * layer.units);
    let mut shifts = Vec::with_capacity(layer.units);
    for (row, &b) in layer.weights.chunks_exact(depth).zip(&layer.bias) {
        let max_abs = row.iter().fold(0f32, |m, w| m.max(w.abs()));
        let w_scale = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
        weights.extend(
            row.iter()
                .map(|w| (w / w_scale).round().clamp(-127.0, 127.0) as i8 as u8),
        );
        let bias_scale = f64::from(in_q.scale) * f64::from(w_scale);
        let q_bias = (f64::from(b) / bias_scale).round();
        if q_bias.abs() > f64::from(i32::MAX) {
            bail!("a bias does not fit int32 at scale {bias_scale}");
        }
        bias.extend((q_bias as i32).to_le_bytes());
        let m = quantize_multiplier(bias_scale / f64::from(out_q.scale))
            .context("requantization multiplier out of range")?;
        multipliers.extend(m.multiplier.to_le_bytes());
        shifts.push(m.shift as u8);
    }
    Ok(Op::FullyConnected(FullyConnected {
        input,
        output,
        units: u16::try_from(layer.units)?,
        weights: consts.alloc_slice_copy(&weights),
        bias: Some(consts.alloc_slice_copy(&bias)),
        requant: Requant::PerChannel {
            multipliers: consts.alloc_slice_copy(&multipliers),
            shifts: consts.alloc_slice_copy(&shifts),
        },
        clamp: activation_clamp(layer.activation, out_q),
    }))
}

/// TFLite's `CalculateActivationRangeQuantized`: the activation's real range in output units.
pub fn activation_clamp(activation: Fused, q: QParams) -> Clamp {
    let quant = |x: f32| q.zero_point + (x / q.scale).round() as i32;
    let (lo, hi) = match activation {
        Fused::None => (i32::from(i8::MIN), i32::from(i8::MAX)),
        Fused::Relu => (quant(0.0), i32::from(i8::MAX)),
        Fused::Relu6 => (quant(0.0), quant(6.0)),
    };
    Clamp {
        min: lo.clamp(-128, 127) as i8,
        max: hi.clamp(-128, 127) as i8,
    }
}

/// SOFTMAX parameters as TFLite's `PreprocessSoftmaxScaling` and `CalculateInputRadius`.
pub fn softmax_params(
    input: TensorId,
    output: TensorId,
    input_scale: f32,
    beta: f64,
) -> Result<Softmax> {
    let max_real = f64::from(i32::MAX);
    let real =
        (beta * f64::from(input_scale) * f64::from(1u32 << (31 - SOFTMAX_DIFF_INTEGER_BITS)))
            .min(max_real);
    let m: Multiplier = quantize_multiplier(real).context("softmax input scale out of range")?;
    if m.shift < 0 {
        bail!("softmax input scale {input_scale} is too small");
    }
    let shift = i32::from(m.shift);
    let radius = f64::from((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1)
        * (1u64 << (31 - SOFTMAX_DIFF_INTEGER_BITS)) as f64
        / (1u64 << shift) as f64;
    Ok(Softmax {
        input,
        output,
        input_multiplier: m.multiplier,
        input_left_shift: shift,
        diff_min: -(radius.floor() as i32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_zero_and_map_ends() {
        let q = QParams::from_range(0.0, 2.55);
        assert_eq!(q.zero_point, -128);
        assert!((q.scale - 0.01).abs() < 1e-7);
        let q = QParams::from_range(-1.0, 1.0);
        // -128 + 1 / (2 / 255) = -0.5, rounded half away from zero.
        assert_eq!(q.zero_point, -1);
    }

    #[test]
    fn relu6_clamp() {
        let q = QParams {
            scale: 0.05,
            zero_point: -128,
        };
        assert_eq!(
            activation_clamp(Fused::Relu6, q),
            Clamp { min: -128, max: -8 }
        );
        assert_eq!(
            activation_clamp(Fused::Relu, q),
            Clamp {
                min: -128,
                max: 127
            }
        );
    }
}

/// A trained model quantized, with what quantization did to each layer.
#[derive(Debug, Clone)]
pub struct Trained {
    pub blob: Vec<u8>,
    /// Each int8 layer's output against the float graph's over the calibration samples, in
    /// execution order (empty for a multilayer perceptron, which has no float graph here).
    pub layers: Vec<crate::validate::LayerError>,
}

/// Quantizes a model `mote train` wrote, calibrating on `samples`: a multilayer perceptron
/// through [`quantize`] (which can give the blob float input and output), any other model
/// through its float graph ([`float_model`], the importers' path).
///
/// # Errors
/// `float_io` for a model other than an MLP, or quantization failing.
pub fn trained(model: &FloatModel, samples: &[&[f32]], float_io: bool) -> Result<Trained> {
    if samples.is_empty() {
        bail!("no calibration samples: the training split is empty");
    }
    if let Some(mlp) = model.mlp() {
        let ranges = calibrate(&mlp, samples.iter().copied());
        let consts = Bump::new();
        let blob = quantize(&mlp, &ranges, float_io, &consts)?.to_blob()?;
        return Ok(Trained {
            blob,
            layers: Vec::new(),
        });
    }
    if float_io {
        bail!(
            "`quantization.float_io` is available for multilayer perceptrons only; this model \
             takes and gives int8 (drop the setting)"
        );
    }
    let forward = Forward::new(model)?;
    let graph = forward.graph();
    let per_sample: Vec<Vec<&[f32]>> = samples.iter().map(|&s| vec![s]).collect();
    // The layers' errors are measured on the graph alone (features in, for a front end).
    let analysed = float_model(graph, &per_sample, calibrate::Method::MinMax)?;
    let blob = match model.front_end {
        None => analysed.blob.clone(),
        Some(front_end) => with_front_end(&analysed, front_end)?,
    };
    let reference = crate::intake::reference::Reference {
        graph: graph.clone(),
        inputs: vec![crate::intake::reference::InputView {
            shape: graph.tensors[graph.inputs[0]].shape.clone(),
            channels_last: false,
        }],
    };
    let layers = crate::validate::per_layer(&reference, &analysed.blob, &analysed.names, samples)?;
    Ok(Trained { blob, layers })
}

/// Makes the graph take one second of 16 kHz int16 sound through AUDIO_FRONTEND, whose output
/// becomes the graph's input tensor (which must hold the front end's features, quantized as it
/// quantizes them).
fn prepend_log_mel(host: &mut HostGraph) -> Result<()> {
    let [features] = host.inputs[..] else {
        bail!("the audio front end needs a model with one input");
    };
    let frames = audio::frames(CLIP_SAMPLES);
    let t = &host.tensors[usize::from(features)];
    let shape: Vec<usize> = t.shape.iter().map(|&d| usize::from(d)).collect();
    if t.dtype != DType::I8
        || t.scale != audio::FEATURE_SCALE
        || t.zero_point != audio::FEATURE_ZERO_POINT
        || shape != [1, frames, audio::CHANNELS, 1]
    {
        bail!(
            "the audio front end gives int8 [1, {frames}, {}, 1] at scale {} zero point {}; the \
             model's input is {:?} {shape:?} at scale {} zero point {}",
            audio::CHANNELS,
            audio::FEATURE_SCALE,
            audio::FEATURE_ZERO_POINT,
            t.dtype,
            t.scale,
            t.zero_point
        );
    }
    let pcm = host.add_tensor("pcm", DType::I16, &[1, CLIP_SAMPLES], 1.0 / 32768.0, 0)?;
    host.ops.insert(
        0,
        Op::AudioFrontend(Unary {
            input: pcm,
            output: features,
        }),
    );
    host.inputs = vec![pcm];
    Ok(())
}

/// A float model quantized through calibration: the int8 `.tflite` bytes it was written as,
/// and the blob imported from them.
#[derive(Debug, Clone)]
pub struct FloatImport {
    /// The intermediate int8 `.tflite` model (TFLM runs it too).
    pub tflite: Vec<u8>,
    /// The blob, planned and checked by the runtime's parser.
    pub blob: Vec<u8>,
    /// The activation ranges calibration chose, per float tensor.
    pub ranges: calibrate::Ranges,
    /// The source model's name of every blob tensor, by id.
    pub names: Vec<String>,
}

/// Calibrates `graph` on `samples` (one slice per graph input each), writes it as an int8
/// `.tflite` model and imports that as a blob. Without samples, every activation must carry a
/// quantization fixed by the source model (a QDQ model).
///
/// # Errors
/// Calibration, writing or import failing (each says why).
pub fn float_model(
    graph: &crate::float::Graph,
    samples: &[Vec<&[f32]>],
    method: calibrate::Method,
) -> Result<FloatImport> {
    let mut ranges = if samples.is_empty() {
        vec![None; graph.tensors.len()]
    } else {
        calibrate::calibrate(graph, samples, method)?
    };
    calibrate::unify(graph, &mut ranges);
    let tflite = to_tflite::write(graph, &ranges)?;
    let (blob, names) = import_written(&tflite, |_| Ok(()))?;
    Ok(FloatImport {
        tflite,
        blob,
        ranges,
        names,
    })
}

/// The blob of `import` with `front_end` run before its graph (whose input the front end's
/// output becomes): the same int8 model, imported again, without calibrating again.
///
/// # Errors
/// A graph input the front end's output cannot be.
pub fn with_front_end(import: &FloatImport, front_end: FrontEnd) -> Result<Vec<u8>> {
    import_written(&import.tflite, |host| match front_end {
        FrontEnd::LogMel => prepend_log_mel(host),
    })
    .map(|(blob, _)| blob)
}

/// Imports the int8 `.tflite` written from a float graph, lets `edit` change the host graph,
/// and plans it into a blob; also returns the tensors' names.
fn import_written(
    tflite: &[u8],
    edit: impl FnOnce(&mut HostGraph) -> Result<()>,
) -> Result<(Vec<u8>, Vec<String>)> {
    let model = crate::intake::tflite::read(tflite)
        .context("the int8 model written from the float graph does not read back")?;
    let consts = Bump::new();
    let mut host = crate::intake::import::import(&model, &consts)
        .context("the int8 model written from the float graph does not import")?;
    edit(&mut host)?;
    let blob = host.to_blob()?;
    Ok((blob, host.names))
}
