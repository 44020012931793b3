//! A float model from a file, whatever its format (ONNX, or a float `.tflite`), with how its
//! inputs' samples map onto the float graph: the reference that `mote import` calibrates and
//! `mote validate` compares against.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use crate::float::Graph;
use crate::intake::{float_tflite, onnx, tflite};

/// A float model and the layout of its inputs.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The float graph (NHWC where the kernels want it).
    pub graph: Graph,
    /// For each graph input, its shape as the user's data has it (the model's own layout),
    /// and whether the graph stores it channels-last.
    pub inputs: Vec<InputView>,
}

/// A graph input as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputView {
    /// Shape in the model's own layout (ONNX: channels-first).
    pub shape: Vec<usize>,
    /// The graph stores it channels-last: samples are transposed on the way in.
    pub channels_last: bool,
}

/// True if `bytes` look like a `.tflite` flatbuffer.
pub fn is_tflite(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[4..8] == b"TFL3"
}

/// Reads a float reference: ONNX (by content: anything that is not a `.tflite`) or a float
/// `.tflite`.
///
/// # Errors
/// An unreadable file, an int8 `.tflite` (it is no float reference), or what the readers
/// refuse.
pub fn load(path: &Path, options: &onnx::Options) -> Result<Reference> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    from_bytes(&bytes, options).with_context(|| format!("cannot read {}", path.display()))
}

/// [`load`] from the file's bytes.
///
/// # Errors
/// As [`load`].
pub fn from_bytes(bytes: &[u8], options: &onnx::Options) -> Result<Reference> {
    if is_tflite(bytes) {
        let model = tflite::read(bytes)?;
        if !float_tflite::is_float(&model) {
            bail!(
                "this is an int8 .tflite model, not a float one: import it without --calibration"
            );
        }
        let graph = float_tflite::read(&model)?;
        let inputs = graph
            .inputs
            .iter()
            .map(|&t| InputView {
                shape: graph.tensors[t].shape.clone(),
                channels_last: false,
            })
            .collect();
        return Ok(Reference { graph, inputs });
    }
    let model = onnx::read(bytes, options)?;
    let inputs = model
        .graph
        .inputs
        .iter()
        .zip(&model.channels_last)
        .map(|(&t, &cl)| {
            let mut shape = model.graph.tensors[t].shape.clone();
            if cl && shape.len() >= 3 {
                let c = shape.remove(shape.len() - 1);
                shape.insert(1, c);
            }
            InputView {
                shape,
                channels_last: cl,
            }
        })
        .collect();
    Ok(Reference {
        graph: model.graph,
        inputs,
    })
}

impl Reference {
    /// Values per sample of input `i` (its whole shape, batch of one included).
    pub fn input_len(&self, i: usize) -> usize {
        self.inputs.get(i).map_or(0, |v| v.shape.iter().product())
    }

    /// One sample of input `i`, in the model's own layout, as the graph stores it.
    ///
    /// # Errors
    /// A sample of the wrong size.
    pub fn stored_input(&self, i: usize, sample: &[f32]) -> Result<Vec<f32>> {
        let view = &self.inputs[i];
        ensure!(
            sample.len() == self.input_len(i),
            "a sample of {} values for input {i}, which takes {} (shape {:?})",
            sample.len(),
            self.input_len(i),
            view.shape
        );
        if !view.channels_last {
            return Ok(sample.to_vec());
        }
        // [n, c, s..] -> [n, s.., c], batch by batch.
        let (c, spatial): (usize, usize) = (view.shape[1], view.shape[2..].iter().product());
        let per_batch = c * spatial;
        Ok((0..sample.len())
            .map(|k| {
                let (b, r) = (k / per_batch, k % per_batch);
                sample[b * per_batch + (r % c) * spatial + r / c]
            })
            .collect())
    }
}
