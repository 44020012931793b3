//! The TFLM corpus (`tests/data/tflm-corpus`, made by its `generate.py`: Keras models through
//! the TFLite converter, full-integer quantization, TFLM's outputs as goldens). Every model
//! that mote imports must give TFLM's outputs byte for byte on every sample; every model that
//! TFLM refuses, mote refuses too, unless listed in `BEYOND_TFLM`. The models mote refuses
//! although TFLM runs them are listed below with the reason: an operator that lands moves its
//! models out of that list (the test fails until the list says so), so the list is the state
//! of operator coverage.
//!
//! One model per operator family also runs on both QEMU boards, whose outputs must equal
//! TFLM's (and so the host's) byte for byte.
//! Run: `cargo test -p mote-tests --test corpus -- --nocapture` for the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mote_tests::compare;
use mote_tools::device::qemu::{self, Board};
use mote_tools::intake::{import, tflite};
use serde_json::Value;

/// Models TFLM runs that mote still refuses, with the operator or feature missing.
const REFUSED: &[(&str, &str)] = &[];

/// Models TFLM cannot run for want of a kernel, where mote has one (and TFLite's semantics).
const BEYOND_TFLM: &[&str] = &["relu_n1_to_1"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tflm-corpus")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Corpus models run on the boards: every operator family the corpus holds mote to TFLM on.
const ON_DEVICE: &[&str] = &[
    "nchw_transpose",      // TRANSPOSE
    "add_const_broadcast", // ADD, constant operands, broadcasting
    "mul_const_broadcast", // MUL
    "sub_const",           // SUB
    "maximum_minimum",     // MAXIMUM, MINIMUM, int8 QUANTIZE
    "squared_difference",  // SQUARED_DIFFERENCE, MEAN
    "reduce_sum_max",      // SUM, REDUCE_MAX
    "reduce_min",          // REDUCE_MIN
    "reduce_mean_axes",    // MEAN over other axes
    "relu6_requant",       // RELU6 as TFLM (raw clamp), CONCATENATION
    "conv1d_pool",         // Conv1D as CONV_2D and pools
    "multi_io",            // two inputs, two outputs
    "strided_slice_masks", // STRIDED_SLICE
    "slice_split",         // SLICE, SPLIT, SPLIT_V
    "pack_unpack",         // UNPACK, PACK
    "gather",              // GATHER
    "depth_space",         // DEPTH_TO_SPACE, SPACE_TO_DEPTH
    "dilated_conv",        // SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND around a convolution
    "prelu",               // PRELU
    "elementwise_unary",   // ABS, RSQRT
    "l2_norm",             // L2_NORMALIZATION
    "log_softmax",         // LOG_SOFTMAX
    "argmax_argmin",       // ARG_MAX, ARG_MIN: int32 outputs
    "transpose_conv",      // TRANSPOSE_CONV
    "resize",              // RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR
    "batch_matmul",        // BATCH_MATMUL
    "pad",                 // PAD, PADV2 with another value
    "gather_nd",           // GATHER_ND
    "io_uint8",            // uint8 graph input and output (QUANTIZE uint8 <-> int8)
    "transpose_rank5",     // five dimensions (TRANSPOSE, FULLY_CONNECTED, RESHAPE)
    "io_int16x8",          // int16 graph input and output, 16x8 CONV_2D, MEAN, FC
];

/// What mote made of one corpus model.
enum Outcome {
    /// Imported; every output of every sample equals TFLM's.
    Exact { samples: usize, ops: u16 },
    /// Refused at import, with mote's message.
    Refused(String),
}

fn run_model(entry: &Value, tflm_runs: bool) -> Outcome {
    let name = entry["name"].as_str().unwrap();
    let dir = dir();
    let bytes = read(&dir.join(format!("{name}.tflite")));
    let consts = bumpalo::Bump::new();
    let blob = tflite::read(&bytes).and_then(|m| import::import(&m, &consts)?.to_blob());
    let blob = match blob {
        Ok(b) => b,
        Err(e) => return Outcome::Refused(format!("{e:#}")),
    };
    let model = mote::Model::parse(&blob).unwrap();
    if !tflm_runs {
        return Outcome::Exact {
            samples: 0,
            ops: model.op_count(),
        };
    }
    let samples = entry["samples"].as_u64().unwrap() as usize;
    let skip: Vec<u64> = entry["tflm_arena_dependent_outputs"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let inputs: Vec<Vec<u8>> = (0..model.inputs().len())
        .map(|k| read(&dir.join(format!("{name}.in{k}.bin"))))
        .collect();
    let goldens: Vec<Vec<u8>> = (0..model.outputs().len())
        .map(|k| read(&dir.join(format!("{name}.out{k}.tflm.bin"))))
        .collect();
    let mut arena = vec![0u8; model.arena_size()];
    let mut interpreter = mote::Interpreter::new(&model, &mut arena).unwrap();
    for s in 0..samples {
        for (k, data) in inputs.iter().enumerate() {
            let n = data.len() / samples;
            interpreter.set_input(k, &data[s * n..(s + 1) * n]).unwrap();
        }
        interpreter.invoke().unwrap();
        for (k, golden) in goldens.iter().enumerate() {
            if skip.contains(&(k as u64)) {
                continue; // TFLM's output depends on its uninitialised arena (README)
            }
            let n = golden.len() / samples;
            let got = interpreter.output(k).unwrap();
            let want = &golden[s * n..(s + 1) * n];
            assert_eq!(
                got, want,
                "{name}: sample {s}, output {k} differs from TFLM"
            );
        }
    }
    Outcome::Exact {
        samples,
        ops: model.op_count(),
    }
}

#[test]
fn every_corpus_model_equals_tflm_or_is_refused_as_listed() {
    let manifest: Value =
        serde_json::from_slice(&read(&dir().join("manifest.json"))).expect("manifest.json");
    let expected: BTreeMap<&str, &str> = REFUSED.iter().copied().collect();
    let mut exact = Vec::new();
    let mut wrongly_refused = Vec::new();
    let mut now_imported = Vec::new();
    for entry in manifest.as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let tflm_runs = entry["tflm"] == "ok";
        match run_model(entry, tflm_runs) {
            Outcome::Exact { samples, ops } => {
                assert!(
                    tflm_runs || BEYOND_TFLM.contains(&name),
                    "{name}: TFLM refuses this model, mote imported it"
                );
                if tflm_runs {
                    println!("{name:<24} exact: {samples} samples, {ops} operators");
                    exact.push(name);
                } else {
                    println!("{name:<24} imported ({ops} operators); TFLM has no kernel for it");
                }
                if expected.contains_key(name) {
                    now_imported.push(name);
                }
            }
            Outcome::Refused(why) => {
                println!("{name:<24} refused: {why}");
                if tflm_runs && !expected.contains_key(name) {
                    wrongly_refused.push(format!("{name}: {why}"));
                }
            }
        }
    }
    let runs = manifest
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tflm"] == "ok");
    println!(
        "{} of the {} models TFLM runs equal it byte for byte",
        exact.len(),
        runs.count()
    );
    assert!(
        wrongly_refused.is_empty(),
        "TFLM runs these, mote refuses them: {wrongly_refused:#?}"
    );
    assert!(
        now_imported.is_empty(),
        "these now equal TFLM: take them out of REFUSED: {now_imported:?}"
    );
}

/// The samples of every input, and TFLM's outputs, as the firmware takes and writes them: per
/// sample, each input (or output) after the other.
fn interleaved(name: &str, files: &str, count: usize, samples: usize) -> Vec<u8> {
    let streams: Vec<Vec<u8>> = (0..count)
        .map(|k| read(&dir().join(files.replace("{k}", &k.to_string()).replace("{name}", name))))
        .collect();
    (0..samples)
        .flat_map(|s| {
            streams.iter().flat_map(move |data| {
                let n = data.len() / samples;
                data[s * n..(s + 1) * n].to_vec()
            })
        })
        .collect()
}

#[test]
fn operator_families_equal_tflm_on_the_boards() {
    let manifest: Value =
        serde_json::from_slice(&read(&dir().join("manifest.json"))).expect("manifest.json");
    for &name in ON_DEVICE {
        let entry = manifest
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the corpus"));
        let samples = entry["samples"].as_u64().unwrap() as usize;
        let (n_in, n_out) = (
            entry["inputs"].as_array().unwrap().len(),
            entry["outputs"].as_array().unwrap().len(),
        );
        let bytes = read(&dir().join(format!("{name}.tflite")));
        let consts = bumpalo::Bump::new();
        let tfl = tflite::read(&bytes).unwrap();
        let blob = import::import(&tfl, &consts).unwrap().to_blob().unwrap();
        let inputs = interleaved(name, "{name}.in{k}.bin", n_in, samples);
        let tflm = interleaved(name, "{name}.out{k}.tflm.bin", n_out, samples);
        for board in [Board::Mps2An386, Board::Riscv32Virt] {
            let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
            let run = qemu::run(
                board,
                &elf,
                &blob,
                &inputs,
                std::time::Duration::from_secs(120),
            )
            .unwrap_or_else(|e| panic!("{name} on {board}: {e:#}"));
            if let Err(m) = compare(&run.outputs, &tflm, tflm.len() / samples) {
                panic!("{name} on {board}: the device differs from TFLM: {m}");
            }
            println!("{name:<24} {board}: {samples} samples equal TFLM");
        }
    }
}

/// Untrusted blobs with every operator record the corpus yields: random bit flips in the
/// payload of each imported model, the checksum recomputed (a hostile or buggy writer), are
/// each refused by `Model::parse` or run (an invocation may fail, as RSQRT below its zero
/// point does) without a panic or an access outside the arena.
#[test]
fn corrupted_corpus_blobs_never_crash() {
    let manifest: Value =
        serde_json::from_slice(&read(&dir().join("manifest.json"))).expect("manifest.json");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut models, mut rejected, mut ran) = (0, 0, 0);
    for entry in manifest.as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let bytes = read(&dir().join(format!("{name}.tflite")));
        let consts = bumpalo::Bump::new();
        let Ok(good) = tflite::read(&bytes).and_then(|m| import::import(&m, &consts)?.to_blob())
        else {
            continue;
        };
        models += 1;
        for _ in 0..300 {
            let mut blob = good.clone();
            for _ in 0..1 + next() % 3 {
                let pos = mote::format::HEADER_LEN
                    + (next() as usize) % (blob.len() - mote::format::HEADER_LEN);
                blob[pos] ^= 1 << (next() % 8);
            }
            let crc = mote::format::crc32(&[&blob[..12], &blob[mote::format::HEADER_LEN..]]);
            blob[12..16].copy_from_slice(&crc.to_le_bytes());
            let Ok(model) = mote::Model::parse(&blob) else {
                rejected += 1;
                continue;
            };
            let mut arena = vec![0u8; model.arena_size()];
            let mut interpreter = mote::Interpreter::new(&model, &mut arena).unwrap();
            for k in 0..model.inputs().len() {
                interpreter.input(k).unwrap().fill(0x5a);
            }
            let _ = interpreter.invoke();
            ran += 1;
        }
    }
    println!("{models} models: {rejected} corrupted blobs refused, {ran} ran");
    assert!(models >= 30 && rejected > 0 && ran > 0);
}
