//! Running a blob on the host, sample by sample, through the very runtime the device runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mote::format::{DType, TensorDef};
use mote::{Interpreter, Model, Observer};

/// The graph's inputs and outputs, in order. A sample is every input's bytes in this order,
/// back to back, and its result every output's: the layout of the firmware's input region
/// and result file too.
#[derive(Debug, Clone)]
pub struct Io {
    /// The graph inputs.
    pub inputs: Vec<TensorDef>,
    /// The graph outputs.
    pub outputs: Vec<TensorDef>,
}

impl Io {
    /// Bytes of one sample's inputs.
    pub fn input_len(&self) -> usize {
        self.inputs.iter().map(sample_len).sum()
    }

    /// Bytes of one sample's outputs.
    pub fn output_len(&self) -> usize {
        self.outputs.iter().map(sample_len).sum()
    }

    /// The only input and output, for commands made for single-input, single-output models.
    pub fn single(&self) -> Result<(&TensorDef, &TensorDef)> {
        match (&self.inputs[..], &self.outputs[..]) {
            ([input], [output]) => Ok((input, output)),
            _ => bail!(
                "the model has {} inputs and {} outputs; this command takes models with one of                  each",
                self.inputs.len(),
                self.outputs.len()
            ),
        }
    }
}

/// The graph's input and output definitions.
pub fn io_defs(model: &Model<'_>) -> Result<Io> {
    let defs = |ids: &[u16]| -> Result<Vec<TensorDef>> {
        Ok(ids
            .iter()
            .map(|&id| model.tensor(id))
            .collect::<Result<_, _>>()?)
    };
    Ok(Io {
        inputs: defs(model.inputs())?,
        outputs: defs(model.outputs())?,
    })
}

/// The most arena the host tools allocate for a blob: far more than any microcontroller has,
/// so a blob that asks for more is hostile or broken, not a model to run.
pub const MAX_HOST_ARENA: usize = 1 << 30;

/// A zeroed arena of the size `model` asks for, allocated fallibly: a blob may declare any
/// size up to 4 GiB, and the process must answer with an error, not abort.
pub fn host_arena(model: &Model<'_>) -> Result<Vec<u8>> {
    let size = model.arena_size();
    if size > MAX_HOST_ARENA {
        bail!(
            "the blob asks for an arena of {size} bytes, more than the {MAX_HOST_ARENA} bytes the \
             host tools allocate (no microcontroller has that much RAM): the blob is broken"
        );
    }
    let mut arena = Vec::new();
    arena
        .try_reserve_exact(size)
        .with_context(|| format!("cannot allocate the blob's arena of {size} bytes"))?;
    arena.resize(size, 0);
    Ok(arena)
}

/// Bytes of one sample of `def`.
pub fn sample_len(def: &TensorDef) -> usize {
    def.byte_len().unwrap_or(0)
}

/// Runs every sample in `inputs` (back to back, each every input's bytes in order, as [`Io`]
/// says) and returns the results back to back. `observer` sees every operator of every sample.
/// One interpreter runs them all, so a recurrent model's state carries from each sample to the
/// next, as on the device.
pub fn run_samples(blob: &[u8], inputs: &[u8], observer: &mut impl Observer) -> Result<Vec<u8>> {
    run_samples_resetting(blob, inputs, None, observer)
}

/// [`run_samples`], with the state reset before every `reset_every`-th sample (before each
/// sequence of that many), if given.
pub fn run_samples_resetting(
    blob: &[u8],
    inputs: &[u8],
    reset_every: Option<usize>,
    observer: &mut impl Observer,
) -> Result<Vec<u8>> {
    let model = Model::parse(blob).context("invalid blob")?;
    let io = io_defs(&model)?;
    let (in_len, out_len) = (io.input_len(), io.output_len());
    if in_len == 0 || inputs.is_empty() || !inputs.len().is_multiple_of(in_len) {
        bail!(
            "the input data is {} bytes, not a whole number of samples of {in_len} bytes \
             (inputs {})",
            inputs.len(),
            describe(&io.inputs)
        );
    }
    let mut arena = host_arena(&model)?;
    let mut interpreter = Interpreter::new(&model, &mut arena)?;
    let mut outputs = Vec::with_capacity(inputs.len() / in_len * out_len);
    for (index, sample) in inputs.chunks_exact(in_len).enumerate() {
        if reset_every.is_some_and(|n| n > 0 && index % n == 0) {
            interpreter.reset_state();
        }
        let mut rest = sample;
        for (i, def) in io.inputs.iter().enumerate() {
            let (part, tail) = rest.split_at(sample_len(def));
            interpreter.set_input(i, part)?;
            rest = tail;
        }
        interpreter.invoke_observed(observer)?;
        for k in 0..io.outputs.len() {
            outputs.extend_from_slice(interpreter.output(k)?);
        }
    }
    Ok(outputs)
}

/// Shapes and types, for messages.
fn describe(defs: &[TensorDef]) -> String {
    let each: Vec<String> = defs
        .iter()
        .map(|d| format!("{:?} {:?}", d.shape.as_slice(), d.dtype))
        .collect();
    each.join(", ")
}

/// Reads every input's samples, one file per graph input in order (see [`read_input`]), and
/// interleaves them into samples as [`Io`] lays them out.
pub fn read_inputs(paths: &[PathBuf], io: &Io) -> Result<Vec<u8>> {
    if paths.len() != io.inputs.len() {
        bail!(
            "{} input files for a model with {} inputs ({}): give one file per input, in order",
            paths.len(),
            io.inputs.len(),
            describe(&io.inputs)
        );
    }
    let mut per_input = Vec::with_capacity(paths.len());
    for (path, def) in paths.iter().zip(&io.inputs) {
        per_input.push((read_input(path, def)?, sample_len(def)));
    }
    let samples = per_input[0].0.len() / per_input[0].1;
    for ((bytes, len), path) in per_input.iter().zip(paths) {
        if bytes.len() / len != samples {
            bail!(
                "{} holds {} samples, {} holds {samples}: every input file needs the same \
                 number",
                path.display(),
                bytes.len() / len,
                paths[0].display()
            );
        }
    }
    let mut interleaved = Vec::with_capacity(samples * io.input_len());
    for s in 0..samples {
        for (bytes, len) in &per_input {
            interleaved.extend_from_slice(&bytes[s * len..][..*len]);
        }
    }
    Ok(interleaved)
}

/// Reads input samples for tensor `def` from a file:
/// - `.csv` / `.npy`: numbers, one sample per row (or any layout whose size is a whole number
///   of samples); real values are quantized at the boundary with the tensor's own scale and zero
///   point by the runtime's QUANTIZE kernel, so the host does what the device would. An int8
///   `.npy` for an int8 input is taken as already quantized.
/// - `.wav`: 16 kHz mono 16-bit PCM for an int16 `[1, samples]` input (a model that takes raw
///   sound through AUDIO_FRONTEND), one sample per `samples` of audio.
/// - anything else: raw bytes in the tensor's type (int8, or little-endian f32), samples back to
///   back (the layout of the MLPerf Tiny `*_inputs.bin` files).
pub fn read_input(path: &Path, def: &TensorDef) -> Result<Vec<u8>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = match ext.as_str() {
        "csv" | "npy" => {
            let m = crate::intake::data::read_matrix(path)?;
            let want: usize = def.shape.iter().map(|&d| usize::from(d)).product();
            if m.cols != want {
                bail!(
                    "{}: each sample has {} values, but the input takes {want} (shape {:?}): \
                     give one sample per row (CSV) or per entry of the first dimension (NPY)",
                    path.display(),
                    m.cols,
                    def.shape.as_slice()
                );
            }
            match (def.dtype, m.int8) {
                (DType::I8, Some(raw)) => raw.iter().map(|&v| v as u8).collect(),
                _ => encode_real(def, &m.cells),
            }
        }
        "wav" => read_wav(path, def)?,
        _ => {
            std::fs::read(path).with_context(|| format!("cannot read input {}", path.display()))?
        }
    };
    let len = sample_len(def);
    if bytes.is_empty() || len == 0 || !bytes.len().is_multiple_of(len) {
        bail!(
            "{}: {} bytes of input is not a whole number of samples of {len} bytes \
             (shape {:?}, {:?}); check the file against the model's input",
            path.display(),
            bytes.len(),
            def.shape.as_slice(),
            def.dtype
        );
    }
    Ok(bytes)
}

/// The PCM of a WAV file for an int16 input, as little-endian bytes.
pub fn read_wav(path: &Path, def: &TensorDef) -> Result<Vec<u8>> {
    if def.dtype != DType::I16 {
        bail!(
            "{}: a WAV file feeds an int16 PCM input (a model that takes sound through \
             AUDIO_FRONTEND); this input is {:?} of shape {:?}",
            path.display(),
            def.dtype,
            def.shape.as_slice()
        );
    }
    let pcm = crate::intake::audio::read_pcm(path)?;
    Ok(pcm.iter().flat_map(|s| s.to_le_bytes()).collect())
}

/// Real values encoded in the tensor's type: quantized at the boundary with the tensor's own
/// scale and zero point (int8 by the runtime's QUANTIZE kernel, so the host does what the
/// device would), f32 as is.
pub fn encode_real(def: &TensorDef, values: &[f32]) -> Vec<u8> {
    match def.dtype {
        DType::I8 => {
            let floats: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let mut q = vec![0i8; values.len()];
            mote::kernels::reference::quantize(&floats, def.scale, def.zero_point, &mut q);
            q.iter().map(|&v| v as u8).collect()
        }
        DType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I16 => values
            .iter()
            .flat_map(|&v| {
                let q = (v / def.scale).round() as i32 + def.zero_point;
                (q.clamp(-32768, 32767) as i16).to_le_bytes()
            })
            .collect(),
        DType::U8 => values
            .iter()
            .map(|&v| ((v / def.scale).round() as i32 + def.zero_point).clamp(0, 255) as u8)
            .collect(),
        DType::I32 => values
            .iter()
            .flat_map(|&v| (v as i32).to_le_bytes())
            .collect(),
    }
}

/// Real values of output bytes in the tensor's type (dequantized for int8; int32 as is).
pub fn to_real(def: &TensorDef, bytes: &[u8]) -> Vec<f32> {
    match def.dtype {
        DType::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
        DType::I16 => bytes
            .chunks_exact(2)
            .map(|c| {
                def.scale * (i32::from(i16::from_le_bytes([c[0], c[1]])) - def.zero_point) as f32
            })
            .collect(),
        DType::U8 => bytes
            .iter()
            .map(|&q| def.scale * (i32::from(q) - def.zero_point) as f32)
            .collect(),
        DType::I8 => bytes
            .iter()
            .map(|&q| def.scale * (i32::from(q as i8) - def.zero_point) as f32)
            .collect(),
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

/// Writes the results of `mote run` or `mote qemu` (samples back to back, as [`Io`] lays them
/// out), one file per graph output in order: `.csv` gets real values, one sample per row;
/// anything else raw bytes. Nothing is written unless every file can be.
pub fn write_outputs(paths: &[PathBuf], io: &Io, results: &[u8]) -> Result<()> {
    if paths.len() != io.outputs.len() {
        bail!(
            "{} output files for a model with {} outputs ({}): give one file per output, in order",
            paths.len(),
            io.outputs.len(),
            describe(&io.outputs)
        );
    }
    let mut per_output = vec![Vec::new(); io.outputs.len()];
    for sample in results.chunks_exact(io.output_len().max(1)) {
        let mut rest = sample;
        for (bytes, def) in per_output.iter_mut().zip(&io.outputs) {
            let (part, tail) = rest.split_at(sample_len(def));
            bytes.extend_from_slice(part);
            rest = tail;
        }
    }
    let contents: Vec<Vec<u8>> = paths
        .iter()
        .zip(&io.outputs)
        .zip(per_output)
        .map(|((path, def), bytes)| render_output(path, def, bytes))
        .collect();
    let files: Vec<(&Path, &[u8])> = paths
        .iter()
        .map(PathBuf::as_path)
        .zip(contents.iter().map(Vec::as_slice))
        .collect();
    crate::io::write_all_atomic(&files)
}

/// One output's file: real values as CSV rows (one sample each) for a `.csv` name, else the
/// raw bytes.
fn render_output(path: &Path, def: &TensorDef, bytes: Vec<u8>) -> Vec<u8> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        return bytes;
    }
    let per_sample = def.elements().unwrap_or(1).max(1);
    let mut text = String::new();
    for row in to_real(def, &bytes).chunks(per_sample) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text.into_bytes()
}
