//! Running a blob on the host, sample by sample, through the very runtime the device runs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mote::format::{DType, TensorDef};
use mote::{Interpreter, Model, Observer};

/// The graph's first input and output definitions.
pub fn io_defs(model: &Model<'_>) -> Result<(TensorDef, TensorDef)> {
    let input = model.tensor(model.inputs()[0])?;
    let output = model.tensor(model.outputs()[0])?;
    if model.inputs().len() != 1 || model.outputs().len() != 1 {
        bail!("models with several inputs or outputs are not supported by this command yet");
    }
    Ok((input, output))
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

/// Runs every sample in `inputs` (back to back, each the input tensor's byte length) and
/// returns the outputs back to back. `observer` sees every operator of every sample.
pub fn run_samples(blob: &[u8], inputs: &[u8], observer: &mut impl Observer) -> Result<Vec<u8>> {
    let model = Model::parse(blob).context("invalid blob")?;
    let (input, output) = io_defs(&model)?;
    let (in_len, out_len) = (sample_len(&input), sample_len(&output));
    if in_len == 0 || inputs.is_empty() || !inputs.len().is_multiple_of(in_len) {
        bail!(
            "the input data is {} bytes, not a whole number of samples of {in_len} bytes \
             (input shape {:?}, {:?})",
            inputs.len(),
            input.shape,
            input.dtype
        );
    }
    let mut arena = host_arena(&model)?;
    let mut interpreter = Interpreter::new(&model, &mut arena)?;
    let mut outputs = Vec::with_capacity(inputs.len() / in_len * out_len);
    for sample in inputs.chunks_exact(in_len) {
        interpreter.set_input(0, sample)?;
        interpreter.invoke_observed(observer)?;
        outputs.extend_from_slice(interpreter.output(0)?);
    }
    Ok(outputs)
}

/// Reads input samples for tensor `def` from a file:
/// - `.csv` / `.npy`: numbers, one sample per row (or any layout whose size is a whole number
///   of samples); real values are quantized at the boundary with the tensor's own scale and zero
///   point by the runtime's QUANTIZE kernel, so the host does what the device would. An int8
///   `.npy` for an int8 input is taken as already quantized.
/// - anything else: raw bytes in the tensor's type (int8, or little-endian f32), samples back to
///   back (the layout of the MLPerf Tiny `*_inputs.bin` files).
pub fn read_inputs(path: &Path, def: &TensorDef) -> Result<Vec<u8>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = match ext.as_str() {
        "csv" | "npy" => {
            let m = crate::intake::data::read_matrix(path)?;
            match (def.dtype, m.int8) {
                (DType::I8, Some(raw)) => raw.iter().map(|&v| v as u8).collect(),
                (DType::I8, None) => {
                    let floats: Vec<u8> = m.cells.iter().flat_map(|v| v.to_le_bytes()).collect();
                    let mut q = vec![0i8; m.cells.len()];
                    mote::kernels::reference::quantize(&floats, def.scale, def.zero_point, &mut q);
                    q.iter().map(|&v| v as u8).collect()
                }
                (DType::F32, _) => m.cells.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }
        }
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

/// Real values of output bytes in the tensor's type (dequantized for int8).
pub fn to_real(def: &TensorDef, bytes: &[u8]) -> Vec<f32> {
    match def.dtype {
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

/// Writes outputs: `.csv` gets real values, one sample per row; anything else raw bytes.
pub fn write_outputs(path: &Path, def: &TensorDef, bytes: &[u8]) -> Result<()> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        return crate::io::write_atomic(path, bytes);
    }
    let per_sample = def.elements().unwrap_or(1).max(1);
    let mut text = String::new();
    for row in to_real(def, bytes).chunks(per_sample) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    crate::io::write_atomic(path, text.as_bytes())
}
