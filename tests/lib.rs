//! Shared helpers for the integration tests: the bundled and MLPerf Tiny models with their
//! inputs, host reference outputs, the byte-for-byte comparison and deliberate corruptions.
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use mote::format::{self, Op};
use mote_tools::device::qemu::DeviceError;
use mote_tools::intake::{data, import, tflite};
use mote_tools::run;
use mote_tools::train::{eval, spec::Spec};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The MLPerf Tiny reference data (`tests/data/mlperf-tiny`, see its README).
pub fn mlperf_dir() -> PathBuf {
    repo().join("tests/data/mlperf-tiny")
}

/// The four MLPerf Tiny models, by folder name.
pub const MLPERF_MODELS: [&str; 4] = [
    "ad_fc_autoencoder",
    "ic_resnet8",
    "kws_dscnn",
    "vww_mobilenetv1_025",
];

/// Reads a file or panics with its path.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A bundled model's blob and the first `samples` samples of its test split, encoded for the
/// blob's input (as `mote eval` and `mote demo` do).
pub fn bundled(name: &str, samples: usize) -> (Vec<u8>, Vec<u8>) {
    let dir = repo().join("models").join(name);
    let spec = Spec::load(&dir.join("spec.toml")).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let blob = read(&spec.blob_path());
    let all = data::load(&spec).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let (_, test) = data::split(&all, spec.data.test_fraction, spec.data.split_seed);
    let inputs = eval::encode_inputs(&blob, &test).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let len = sample_len(&blob);
    let n = samples.min(inputs.len() / len);
    (blob, inputs[..n * len].to_vec())
}

/// An MLPerf Tiny model's `model_int8.tflite`, imported into a blob as `mote import` does.
pub fn mlperf_blob(model: &str) -> Vec<u8> {
    let bytes = read(&mlperf_dir().join(model).join("model_int8.tflite"));
    let tfl = tflite::read(&bytes).unwrap_or_else(|e| panic!("{model}: {e:#}"));
    let consts = bumpalo::Bump::new();
    let mut graph = import::import(&tfl, &consts).unwrap_or_else(|e| panic!("{model}: {e:#}"));
    graph.to_blob().unwrap_or_else(|e| panic!("{model}: {e:#}"))
}

/// An MLPerf Tiny input set (`random` or `shipped`): the inputs and TFLM's outputs, if the
/// model has that set.
pub fn mlperf_set(model: &str, set: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let dir = mlperf_dir().join(model);
    let inputs = std::fs::read(dir.join(format!("{set}_inputs.bin"))).ok()?;
    Some((inputs, read(&dir.join(format!("{set}_outputs_tflm.bin")))))
}

/// Bytes of one sample's inputs (every graph input's, in order).
pub fn sample_len(blob: &[u8]) -> usize {
    let model = mote::Model::parse(blob).expect("a valid blob");
    run::io_defs(&model)
        .expect("tensor definitions")
        .input_len()
}

/// Bytes of one sample's outputs (every graph output's, in order).
pub fn output_len(blob: &[u8]) -> usize {
    let model = mote::Model::parse(blob).expect("a valid blob");
    run::io_defs(&model)
        .expect("tensor definitions")
        .output_len()
}

/// Every sample's outputs on the host, through the same runtime the firmware links.
pub fn host_outputs(blob: &[u8], inputs: &[u8]) -> Vec<u8> {
    run::run_samples(blob, inputs, &mut ()).expect("the host runs the blob")
}

/// Where two output streams first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The streams have different lengths.
    Length {
        /// Bytes produced.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// Some sample's bytes differ.
    Bytes {
        /// The first differing sample.
        sample: usize,
        /// The first differing byte within that sample.
        byte: usize,
        /// The byte produced.
        got: u8,
        /// The byte expected.
        want: u8,
        /// How many samples differ in all.
        samples_differing: usize,
        /// Samples compared.
        samples: usize,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Mismatch::Length { got, want } => {
                write!(f, "{got} output bytes where {want} were expected")
            }
            Mismatch::Bytes {
                sample,
                byte,
                got,
                want,
                samples_differing,
                samples,
            } => write!(
                f,
                "{samples_differing} of {samples} samples differ; the first is sample {sample}, \
                 output byte {byte}: {got:#04x} where {want:#04x} was expected"
            ),
        }
    }
}

/// Compares two output streams of `sample_len`-byte samples, byte for byte.
///
/// # Errors
/// The first difference, and how many samples differ.
pub fn compare(got: &[u8], want: &[u8], sample_len: usize) -> Result<(), Mismatch> {
    assert!(sample_len > 0, "empty samples");
    if got.len() != want.len() || !got.len().is_multiple_of(sample_len) {
        return Err(Mismatch::Length {
            got: got.len(),
            want: want.len(),
        });
    }
    let mut first = None;
    let mut samples_differing = 0;
    for (sample, (g, w)) in got
        .chunks_exact(sample_len)
        .zip(want.chunks_exact(sample_len))
        .enumerate()
    {
        if let Some(byte) = g.iter().zip(w).position(|(a, b)| a != b) {
            samples_differing += 1;
            first.get_or_insert((sample, byte, g[byte], w[byte]));
        }
    }
    let samples = want.len() / sample_len;
    match first {
        None => Ok(()),
        Some((sample, byte, got, want)) => Err(Mismatch::Bytes {
            sample,
            byte,
            got,
            want,
            samples_differing,
            samples,
        }),
    }
}

/// Stores a fresh checksum in the blob's header, so that a deliberately changed payload still
/// passes the checksum and loads.
pub fn recompute_checksum(blob: &mut [u8]) {
    let crc = format::crc32(&[&blob[..12], &blob[format::HEADER_LEN..]]);
    blob[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// Where the first FULLY_CONNECTED operator's weights lie in the blob (they are borrowed from
/// it, never copied).
pub fn first_fc_weights(blob: &[u8]) -> Range<usize> {
    let model = mote::Model::parse(blob).expect("a valid blob");
    for op in model.ops() {
        let weights = match op.expect("a validated operator") {
            Op::FullyConnected(fc) => fc.weights,
            Op::FullyConnectedPaired(fc) => fc.pairs,
            _ => continue,
        };
        let start = weights.as_ptr() as usize - blob.as_ptr() as usize;
        return start..start + weights.len();
    }
    panic!("the blob has no FULLY_CONNECTED operator")
}

/// The [`DeviceError`] inside a failed device run.
pub fn device_error(err: &anyhow::Error) -> &DeviceError {
    err.downcast_ref::<DeviceError>()
        .unwrap_or_else(|| panic!("not a device error: {err:#}"))
}

/// Mean, min and max of per-inference instruction counts.
pub fn instruction_figures(counts: &[u64]) -> (u64, u64, u64) {
    let n = counts.len().max(1) as u64;
    (
        counts.iter().sum::<u64>() / n,
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    )
}
