//! Float model versus int8 blob on the held-out test split, side by side.

use anyhow::{Result, bail};
use mote::Model;
use mote::format::DType;

use crate::intake::audio::{CLIP_SAMPLES, read_clip};
use crate::intake::data::Dataset;
use crate::run::{io_defs, run_samples, to_real};
use crate::train::model::{FloatModel, Forward};
use crate::train::spec::Task;

/// One metric measured on both models.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// "accuracy" (classification, 0..1) or "mse" (regression).
    pub metric: &'static str,
    /// The float model's value.
    pub float: f64,
    /// The int8 blob's value.
    pub int8: f64,
    /// Test samples.
    pub samples: usize,
    /// The int8 blob's `[label][predicted]` counts (classification).
    pub confusion: Option<Vec<Vec<usize>>>,
}

/// The test samples as the blob's input bytes: f32 for a float input, quantized at the
/// boundary by the runtime's own QUANTIZE kernel for an int8 input, or, for a blob that takes
/// sound, the clips the features came from.
pub fn encode_inputs(blob: &[u8], test: &Dataset) -> Result<Vec<u8>> {
    let model = Model::parse(blob)?;
    let io = io_defs(&model)?;
    let (input, _) = io.single()?;
    if input.dtype == DType::I16 && !test.clips.is_empty() {
        let mut pcm = Vec::with_capacity(test.len() * CLIP_SAMPLES * 2);
        for clip in &test.clips {
            pcm.extend(read_clip(clip)?.iter().flat_map(|s| s.to_le_bytes()));
        }
        return Ok(pcm);
    }
    if input.elements() != Some(test.features) {
        bail!(
            "the blob takes {:?} inputs but the data has {} features",
            input.shape,
            test.features
        );
    }
    let floats: Vec<u8> = test.x.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(match input.dtype {
        DType::F32 => floats,
        DType::I32 | DType::U8 | DType::I16 => bail!(
            "the blob takes {:?} inputs; evaluation feeds int8 or float32 (or sound from WAV clips)",
            input.dtype
        ),
        DType::I8 => {
            let mut q = vec![0i8; test.x.len()];
            mote::kernels::reference::quantize(&floats, input.scale, input.zero_point, &mut q);
            q.into_iter().map(|v| v as u8).collect()
        }
    })
}

/// Evaluates both models on `test`.
pub fn compare(float: &FloatModel, blob: &[u8], test: &Dataset) -> Result<Comparison> {
    if test.is_empty() {
        bail!("the test split is empty: raise `data.test_fraction`");
    }
    let model = Model::parse(blob)?;
    let io = io_defs(&model)?;
    let (_, output) = io.single()?;
    let outputs = run_samples(blob, &encode_inputs(blob, test)?, &mut ())?;
    let int8_out = to_real(output, &outputs);
    let per_sample = int8_out.len() / test.len();
    let forward = Forward::new(float)?;
    let float_out = (0..test.len())
        .map(|i| forward.logits(test.sample(i).0))
        .collect::<Result<Vec<_>>>()?;
    let mut confusion = None;
    let (metric, f, q) = match float.task {
        Task::Classification => {
            let label = |i: usize| test.sample(i).1[0] as usize;
            let f = (0..test.len())
                .filter(|&i| argmax(&float_out[i]) == label(i))
                .count();
            let mut matrix = vec![vec![0usize; per_sample]; per_sample];
            for (i, o) in int8_out.chunks(per_sample).enumerate() {
                if let Some(cell) = matrix.get_mut(label(i)).and_then(|r| r.get_mut(argmax(o))) {
                    *cell += 1;
                }
            }
            let q = (0..per_sample).map(|c| matrix[c][c]).sum::<usize>();
            confusion = Some(matrix);
            (
                "accuracy",
                f as f64 / test.len() as f64,
                q as f64 / test.len() as f64,
            )
        }
        Task::Regression => {
            let mse = |pred: &mut dyn Iterator<Item = f32>| {
                let err: f64 = pred
                    .zip(&test.y)
                    .map(|(p, y)| f64::from(p - y).powi(2))
                    .sum();
                err / test.y.len() as f64
            };
            (
                "mse",
                mse(&mut float_out.iter().flatten().copied()),
                mse(&mut int8_out.iter().copied()),
            )
        }
    };
    Ok(Comparison {
        metric,
        float: f,
        int8: q,
        samples: test.len(),
        confusion,
    })
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}
