//! `mote validate`: an int8 blob against its float reference on (labelled) data, and the
//! per-layer quantization error that says which layer loses the accuracy.
//!
//! Both models see the same samples: the reference in f32 ([`eval::run`]), the blob through the
//! runtime on the host, its input quantized at the boundary as the device would.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Result, bail, ensure};
use bumpalo::Bump;
use mote::format::{Op, TensorDef};
use mote::{Interpreter, Model, Observer};

use crate::float::eval;
use crate::intake::reference::Reference;
use crate::quantize::{calibrate, to_tflite};
use crate::run::{self, encode_real, to_real};

/// Whole-model agreement between the int8 blob and the float reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Samples compared.
    pub samples: usize,
    /// Top-1 accuracy of the float reference and of the int8 blob, with labels.
    pub accuracy: Option<(f64, f64)>,
    /// Fraction of samples whose top-1 class is the same in both.
    pub agreement: f64,
    /// Root mean square error of the int8 outputs (dequantized) against the float ones.
    pub rmse: f64,
    /// `||int8 - float|| / ||float||` over all outputs.
    pub l2_relative: f64,
    /// Mean cosine similarity of each sample's int8 and float outputs.
    pub cosine: f64,
    /// Confusion matrix of the int8 blob: `[label][predicted]`, with labels.
    pub confusion: Option<Vec<Vec<usize>>>,
}

/// One layer's quantization error over the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerError {
    /// The tensor's name (the source model's).
    pub name: String,
    /// The operator that writes it.
    pub op: String,
    /// Signal-to-quantization-noise ratio in dB: `10 log10(sum f^2 / sum (q - f)^2)`.
    pub sqnr_db: f64,
}

fn top1(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Runs the reference on `samples` (each in the reference's own input layout) and the blob
/// through `run_int8` (all samples' encoded inputs back to back, to all outputs back to back:
/// the host runtime, or a board), and compares their first outputs; `labels` (one class per
/// sample) add accuracy and the confusion matrix.
///
/// # Errors
/// A model with several inputs or outputs, samples of the wrong size, a blob whose input or
/// output does not fit the reference's, or a run failing.
pub fn compare(
    reference: &Reference,
    blob: &[u8],
    samples: &[&[f32]],
    labels: Option<&[usize]>,
    run_int8: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<Report> {
    let model = Model::parse(blob)?;
    let io = run::io_defs(&model)?;
    let (input, output) = io.single()?;
    ensure!(
        reference.inputs.len() == 1,
        "the reference has {} inputs; validate takes models with one",
        reference.inputs.len()
    );
    let stored = &reference.graph.tensors[reference.graph.inputs[0]].shape;
    ensure!(
        input
            .shape
            .iter()
            .map(|&d| usize::from(d))
            .eq(stored.iter().copied()),
        "the blob's input is {:?} but the reference, read this way, takes {stored:?}: give the \
         --input-layout (and --input-shape) the blob was imported with",
        input.shape.as_slice()
    );
    if let Some(l) = labels {
        ensure!(
            l.len() == samples.len(),
            "{} labels for {} samples",
            l.len(),
            samples.len()
        );
    }
    let (mut float_out, mut encoded) = (Vec::new(), Vec::new());
    for sample in samples {
        let x = reference.stored_input(0, sample)?;
        let values = eval::run(&reference.graph, &[&x])?;
        float_out.push(
            values[reference.graph.outputs[0]]
                .clone()
                .unwrap_or_default(),
        );
        encoded.extend(encode_real(input, &x));
    }
    let results = run_int8(&encoded)?;
    let out_len = run::sample_len(output);
    ensure!(
        results.len() == out_len * samples.len(),
        "the int8 run returned {} bytes for {} samples of {out_len}",
        results.len(),
        samples.len()
    );
    let int8_out: Vec<Vec<f32>> = results
        .chunks_exact(out_len.max(1))
        .map(|q| to_real(output, q))
        .collect();
    if let (Some(f), Some(q)) = (float_out.first(), int8_out.first()) {
        ensure!(
            q.len() == f.len(),
            "the blob's output has {} values, the reference's {}",
            q.len(),
            f.len()
        );
    }
    Ok(report(&float_out, &int8_out, labels))
}

/// The host runtime as [`compare`]'s int8 runner. A recurrent model's state is reset before
/// every sample: each is a sequence of its own, as the float reference runs it.
///
/// # Errors
/// As [`run::run_samples`].
pub fn on_host(blob: &[u8]) -> impl FnOnce(&[u8]) -> Result<Vec<u8>> + '_ {
    move |inputs| run::run_samples_resetting(blob, inputs, Some(1), &mut ())
}

fn report(float_out: &[Vec<f32>], int8_out: &[Vec<f32>], labels: Option<&[usize]>) -> Report {
    let n = float_out.len();
    let (mut sq_err, mut sq_ref, mut count, mut cosine, mut agree) = (0.0, 0.0, 0usize, 0.0, 0);
    for (f, q) in float_out.iter().zip(int8_out) {
        let (mut dot, mut ff, mut qq) = (0.0f64, 0.0f64, 0.0f64);
        for (&a, &b) in f.iter().zip(q) {
            let (a, b) = (f64::from(a), f64::from(b));
            sq_err += (a - b).powi(2);
            sq_ref += a * a;
            dot += a * b;
            ff += a * a;
            qq += b * b;
            count += 1;
        }
        cosine += if ff > 0.0 && qq > 0.0 {
            dot / (ff.sqrt() * qq.sqrt())
        } else {
            f64::from(u8::from(ff == qq))
        };
        agree += usize::from(top1(f) == top1(q));
    }
    let classes = float_out.first().map_or(0, Vec::len);
    let (accuracy, confusion) = match labels {
        Some(labels) => {
            let classes = classes.max(labels.iter().max().map_or(0, |m| m + 1));
            let mut confusion = vec![vec![0; classes]; classes];
            let (mut right_f, mut right_q) = (0, 0);
            for ((f, q), &l) in float_out.iter().zip(int8_out).zip(labels) {
                right_f += usize::from(top1(f) == l);
                right_q += usize::from(top1(q) == l);
                confusion[l][top1(q)] += 1;
            }
            let frac = |k: usize| k as f64 / n.max(1) as f64;
            (Some((frac(right_f), frac(right_q))), Some(confusion))
        }
        None => (None, None),
    };
    Report {
        samples: n,
        accuracy,
        agreement: agree as f64 / n.max(1) as f64,
        rmse: (sq_err / count.max(1) as f64).sqrt(),
        l2_relative: if sq_ref > 0.0 {
            (sq_err / sq_ref).sqrt()
        } else {
            0.0
        },
        cosine: cosine / n.max(1) as f64,
        confusion,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "samples:                 {}", self.samples)?;
        if let Some((float, int8)) = self.accuracy {
            writeln!(
                f,
                "top-1 accuracy:          float {:.2}%   int8 {:.2}%   (change {:+.2} points)",
                100.0 * float,
                100.0 * int8,
                100.0 * (int8 - float)
            )?;
        }
        writeln!(f, "top-1 agreement:         {:.2}%", 100.0 * self.agreement)?;
        writeln!(f, "output RMSE:             {:.6}", self.rmse)?;
        writeln!(f, "output L2 relative error: {:.4}", self.l2_relative)?;
        writeln!(f, "output cosine:           {:.6}", self.cosine)?;
        if let Some(confusion) = &self.confusion {
            writeln!(
                f,
                "int8 confusion matrix (rows: label, columns: predicted):"
            )?;
            write!(f, "     ")?;
            for c in 0..confusion.len() {
                write!(f, "{c:>5}")?;
            }
            writeln!(f)?;
            for (label, row) in confusion.iter().enumerate() {
                write!(f, "{label:>5}")?;
                for v in row {
                    write!(f, "{v:>5}")?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// The source model's name of every blob tensor: the reference is written as an int8 model
/// again (with placeholder ranges: the structure does not depend on them) and imported, which
/// gives the tensors in the blob's order. The blob must have been imported from this
/// reference with the same options; its tensors' shapes are checked.
///
/// # Errors
/// A blob whose tensors do not match the reference's.
pub fn tensor_names(reference: &Reference, blob: &[u8]) -> Result<Vec<String>> {
    let graph = &reference.graph;
    let mut ranges: calibrate::Ranges = vec![None; graph.tensors.len()];
    for (t, tensor) in graph.tensors.iter().enumerate() {
        if tensor.data.is_none() {
            ranges[t] = Some((-1.0, 1.0));
        }
    }
    let bytes = to_tflite::write(graph, &ranges)?;
    let model = crate::intake::tflite::read(&bytes)?;
    let consts = Bump::new();
    let host = crate::intake::import::import(&model, &consts)?;
    let parsed = Model::parse(blob)?;
    let matches = usize::from(parsed.tensor_count()) == host.tensors.len()
        && host.tensors.iter().enumerate().all(|(i, def)| {
            u16::try_from(i)
                .ok()
                .and_then(|id| parsed.tensor(id).ok())
                .is_some_and(|t| t.shape == def.shape)
        });
    if !matches {
        bail!(
            "the blob's tensors are not those of this reference imported by mote: --per-layer \
             needs the blob `mote import` made from this very model (with the same \
             --input-layout and --input-shape)"
        );
    }
    Ok(host.names)
}

/// Collects each operator's output by tensor id.
#[derive(Default)]
struct Outputs {
    by_tensor: Vec<(u16, String, TensorDef, Vec<u8>)>,
}

impl Observer for Outputs {
    fn after(&mut self, _index: u16, op: &Op<'_>, def: &TensorDef, output: &[u8]) {
        self.by_tensor.push((
            op.output(),
            op.name().to_owned(),
            def.clone(),
            output.to_vec(),
        ));
    }
}

/// Per-layer SQNR of every blob tensor that has a float counterpart of the same name, over
/// `samples` (in the reference's own layout), in execution order.
///
/// # Errors
/// As [`compare`].
pub fn per_layer(
    reference: &Reference,
    blob: &[u8],
    names: &[String],
    samples: &[&[f32]],
) -> Result<Vec<LayerError>> {
    let model = Model::parse(blob)?;
    let io = run::io_defs(&model)?;
    let (input, _) = io.single()?;
    let float_ids: HashMap<&str, usize> = reference
        .graph
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| t.data.is_none())
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut arena = run::host_arena(&model)?;
    let mut interpreter = Interpreter::new(&model, &mut arena)?;
    // Per layer, in order: (name, op, signal power, noise power).
    let mut acc: Vec<(String, String, f64, f64)> = Vec::new();
    for sample in samples {
        let x = reference.stored_input(0, sample)?;
        let values = eval::run(&reference.graph, &[&x])?;
        interpreter.reset_state();
        interpreter.set_input(0, &encode_real(input, &x))?;
        let mut outputs = Outputs::default();
        interpreter.invoke_observed(&mut outputs)?;
        let mut k = 0;
        for (id, op, def, bytes) in outputs.by_tensor {
            let name = names.get(usize::from(id)).map_or("", String::as_str);
            let Some(f) = float_ids.get(name).and_then(|&t| values[t].as_ref()) else {
                continue;
            };
            let q = to_real(&def, &bytes);
            if q.len() != f.len() {
                continue;
            }
            let (s, e) = f.iter().zip(&q).fold((0.0, 0.0), |(s, e), (&a, &b)| {
                (s + f64::from(a).powi(2), e + f64::from(a - b).powi(2))
            });
            if acc.len() <= k {
                acc.push((name.to_owned(), op, 0.0, 0.0));
            }
            acc[k].2 += s;
            acc[k].3 += e;
            k += 1;
        }
    }
    Ok(acc
        .into_iter()
        .map(|(name, op, s, e)| LayerError {
            name,
            op,
            sqnr_db: if e > 0.0 {
                10.0 * (s / e).log10()
            } else {
                f64::INFINITY
            },
        })
        .collect())
}
