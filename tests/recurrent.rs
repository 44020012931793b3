//! The recurrent, stateful and 16x8 corpus (`tests/data/tflm-recurrent`, made by its
//! `generate.py`): int8 LSTMs (UNIDIRECTIONAL_SEQUENCE_LSTM) and SVDFs, whose state carries
//! from one invocation to the next, and models with int16 activations and int8 weights.
//! Every model mote imports must give TFLM's outputs byte for byte, invocation after
//! invocation, with one interpreter that is never reset (as the goldens were made), and again
//! with the state reset before each sample (the `tflm_reset` goldens). The models TFLM refuses
//! (int16 variants it has no kernel for), mote must refuse too. The models TFLM runs that mote
//! still refuses are listed with what they lack: a model that starts to pass must leave the list.
//! Run: `cargo test -p mote-tests --test recurrent -- --nocapture` for the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mote_tests::compare;
use mote_tools::device::qemu::{self, Board};
use mote_tools::intake::{import, tflite};
use serde_json::Value;

/// Models TFLM runs that mote still refuses, with what is missing.
const REFUSED: &[(&str, &str)] = &[];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tflm-recurrent")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs every invocation of every sample of `name` in one interpreter, its state reset before
/// each sample when `reset` is set, and compares each output with the golden file `suffix`.
fn check(name: &str, model: &mote::Model<'_>, invocations: usize, reset: bool, suffix: &str) {
    let inputs: Vec<Vec<u8>> = (0..model.inputs().len())
        .map(|k| read(&dir().join(format!("{name}.in{k}.bin"))))
        .collect();
    let goldens: Vec<Vec<u8>> = (0..model.outputs().len())
        .map(|k| read(&dir().join(format!("{name}.out{k}.{suffix}"))))
        .collect();
    let steps = inputs[0].len() / model.tensor(model.inputs()[0]).unwrap().byte_len().unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut interpreter = mote::Interpreter::new(model, &mut arena).unwrap();
    for step in 0..steps {
        if reset && step % invocations == 0 {
            interpreter.reset_state();
        }
        for (k, data) in inputs.iter().enumerate() {
            let n = data.len() / steps;
            interpreter
                .set_input(k, &data[step * n..(step + 1) * n])
                .unwrap();
        }
        interpreter.invoke().unwrap();
        for (k, golden) in goldens.iter().enumerate() {
            let n = golden.len() / steps;
            assert_eq!(
                interpreter.output(k).unwrap(),
                &golden[step * n..(step + 1) * n],
                "{name}: invocation {step}, output {k} differs from TFLM ({suffix})"
            );
        }
    }
}

#[test]
fn every_recurrent_and_16x8_model_equals_tflm_or_is_refused_as_listed() {
    let manifest: Value =
        serde_json::from_slice(&read(&dir().join("manifest.json"))).expect("manifest.json");
    let expected: BTreeMap<&str, &str> = REFUSED.iter().copied().collect();
    let (mut exact, mut wrongly_refused, mut now_imported) = (0, Vec::new(), Vec::new());
    let entries = manifest.as_array().unwrap();
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let bytes = read(&dir().join(format!("{name}.tflite")));
        let consts = bumpalo::Bump::new();
        let blob = tflite::read(&bytes).and_then(|m| import::import(&m, &consts)?.to_blob());
        let tflm_runs = entry["tflm"] == "ok";
        let blob = match blob {
            Ok(blob) => blob,
            Err(e) => {
                println!("{name:<22} refused: {e:#}");
                if tflm_runs && !expected.contains_key(name) {
                    wrongly_refused.push(format!("{name}: {e:#}"));
                }
                continue;
            }
        };
        assert!(
            tflm_runs,
            "{name}: TFLM refuses this model, mote imported it"
        );
        let model = mote::Model::parse(&blob).unwrap();
        let invocations = entry["invocations_per_sample"].as_u64().unwrap_or(1) as usize;
        check(name, &model, invocations, false, "tflm.bin");
        let carries = entry["outputs_depend_on_previous_samples"] == true;
        if carries {
            check(name, &model, invocations, true, "tflm_reset.bin");
        }
        println!(
            "{name:<22} exact: {} samples of {invocations} invocations{}",
            entry["samples"],
            if carries {
                ", state carried and reset"
            } else {
                ""
            }
        );
        exact += 1;
        if expected.contains_key(name) {
            now_imported.push(name);
        }
    }
    let runs = entries.iter().filter(|e| e["tflm"] == "ok").count();
    println!("{exact} of the {runs} models TFLM runs equal it byte for byte");
    assert!(
        wrongly_refused.is_empty(),
        "TFLM runs these, mote refuses them: {wrongly_refused:#?}"
    );
    assert!(
        now_imported.is_empty(),
        "these now equal TFLM: take them out of REFUSED: {now_imported:?}"
    );
}

/// Models run on both QEMU boards, every invocation in one boot (the firmware's interpreter,
/// like TFLM's, is never reset between samples): the device must equal TFLM byte for byte.
const ON_DEVICE: &[&str] = &[
    "svdf_kws_stack",    // two SVDFs (int16 state), FULLY_CONNECTED, SOFTMAX
    "svdf_int8_state",   // SVDF with an int8 state and TFLM's wrapping zero point
    "lstm_stacked_seq",  // two LSTMs, FULLY_CONNECTED
    "lstm_batch2",       // an LSTM over a batch of 2, STRIDED_SLICE
    "x16_cnn",           // 16x8: CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, FC, SOFTMAX
    "x16_residual",      // 16x8: CONV_2D, ADD
    "lstm16_time_major", // 16x8 LSTM, time-major, batch 2
];

#[test]
fn recurrent_models_equal_tflm_on_the_boards() {
    for name in ON_DEVICE {
        let bytes = read(&dir().join(format!("{name}.tflite")));
        let consts = bumpalo::Bump::new();
        let blob = tflite::read(&bytes)
            .and_then(|m| import::import(&m, &consts)?.to_blob())
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let model = mote::Model::parse(&blob).unwrap();
        assert_eq!(
            (model.inputs().len(), model.outputs().len()),
            (1, 1),
            "{name}"
        );
        let inputs = read(&dir().join(format!("{name}.in0.bin")));
        let tflm = read(&dir().join(format!("{name}.out0.tflm.bin")));
        let per_step = model
            .tensor(model.outputs()[0])
            .unwrap()
            .byte_len()
            .unwrap();
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
            if let Err(m) = compare(&run.outputs, &tflm, per_step) {
                panic!("{name} on {board}: the device differs from TFLM: {m}");
            }
            println!(
                "{name:<22} {board}: {} invocations equal TFLM",
                tflm.len() / per_step
            );
        }
    }
}
