//! Bit-exactness against TensorFlow Lite Micro on the four MLPerf Tiny reference models
//! (`tests/data/mlperf-tiny`, see its README): each int8 `.tflite` is imported, planned and
//! run by the runtime on the host, on every sample of `random_inputs.bin` and
//! `shipped_inputs.bin`, and the outputs must equal TFLM's (`*_outputs_tflm.bin`) byte for
//! byte. The tensors' part of the arena must be no larger than TFLM's activation arena, and
//! the whole arena (tensors and kernel scratch) no larger than TFLM's whole arena on the
//! Cortex-M4 (the reference figures, CMSIS-NN scratch and TFLM's structs included).
//!
//! On a mismatch the test compares every layer of sample 0 with TFLM's intermediates and
//! names the first layer that differs. Run: `cargo test -p mote-tests --test mlperf -- --nocapture`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mote_tools::dump;
use mote_tools::intake::{import, tflite};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mlperf-tiny");

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Imports `model`, checks its arena against TFLM's (`tflm_activations`: its planner's
/// activation arena; `tflm_arena`: its whole arena used on the Cortex-M4) and every sample
/// against TFLM's outputs.
fn check(model: &str, tflm_activations: usize, tflm_arena: usize) {
    let dir = Path::new(DIR).join(model);
    let bytes = read(&dir.join("model_int8.tflite"));
    let tfl = tflite::read(&bytes).unwrap_or_else(|e| panic!("{model}: {e:#}"));
    let consts = bumpalo::Bump::new();
    let mut graph = import::import(&tfl, &consts).unwrap_or_else(|e| panic!("{model}: {e:#}"));
    let blob = graph.to_blob().unwrap_or_else(|e| panic!("{model}: {e:#}"));
    let parsed = mote::Model::parse(&blob).unwrap();
    let arena_size = parsed.arena_size();
    let tensors = parsed.tensor_bytes();
    println!(
        "{model}: {} ops, arena {arena_size} B = tensors {tensors} B + scratch {} B \
         (TFLM {tflm_arena} B, activations {tflm_activations} B), blob {} B",
        parsed.op_count(),
        parsed.scratch_bytes(),
        blob.len()
    );
    assert!(
        tensors <= tflm_activations,
        "{model}: tensors take {tensors} B, more than TFLM's {tflm_activations} B"
    );
    assert!(
        arena_size <= tflm_arena,
        "{model}: arena {arena_size} B is larger than TFLM's {tflm_arena} B"
    );

    let in_len = parsed
        .tensor(parsed.inputs()[0])
        .unwrap()
        .byte_len()
        .unwrap();
    let out_len = parsed
        .tensor(parsed.outputs()[0])
        .unwrap()
        .byte_len()
        .unwrap();
    let mut arena = vec![0u8; arena_size];
    let mut sets = 0;
    for set in ["random", "shipped"] {
        let Ok(inputs) = std::fs::read(dir.join(format!("{set}_inputs.bin"))) else {
            continue;
        };
        sets += 1;
        let golden = read(&dir.join(format!("{set}_outputs_tflm.bin")));
        assert_eq!(inputs.len() % in_len, 0, "{model} {set}: input file size");
        let samples = inputs.len() / in_len;
        assert_eq!(
            golden.len(),
            samples * out_len,
            "{model} {set}: golden size"
        );

        let mut interpreter = mote::Interpreter::new(&parsed, &mut arena).unwrap();
        let mut differing = Vec::new();
        for (k, (x, want)) in inputs
            .chunks_exact(in_len)
            .zip(golden.chunks_exact(out_len))
            .enumerate()
        {
            interpreter.set_input(0, x).unwrap();
            interpreter.invoke().unwrap();
            let got = interpreter.output(0).unwrap();
            if got != want {
                let max = got
                    .iter()
                    .zip(want)
                    .map(|(&a, &b)| (i32::from(a as i8) - i32::from(b as i8)).abs())
                    .max()
                    .unwrap_or(0);
                differing.push((k, max));
            }
        }
        println!("{model} {set}: {samples} samples");
        if !differing.is_empty() {
            let report = layer_report(&dir, set, &tfl, &blob, &inputs[..in_len]);
            panic!(
                "{model} {set}: {} of {samples} samples differ from TFLM (sample, max |diff| \
                 LSB): {differing:?}\nsample 0 layer by layer:\n{report}",
                differing.len()
            );
        }
    }
    assert!(sets > 0, "{model}: no input files");
}

/// Each layer of sample 0 against TFLM's intermediates (`intermediates_<set>0_tflm/tNNN_*.bin`,
/// NNN the TFLite tensor index of the operator's output).
fn layer_report(
    dir: &Path,
    set: &str,
    tfl: &tflite::Model<'_>,
    blob: &[u8],
    input: &[u8],
) -> String {
    let inter = dir.join(format!("intermediates_{set}0_tflm"));
    let layers = match dump::run_with_dump(blob, input) {
        Ok(l) => l,
        Err(e) => return format!("  (no dump: {e:#})"),
    };
    let sg = tfl.main_subgraph();
    let mut report = String::new();
    let mut first = None;
    for (index, name, out) in layers {
        let tensor = sg.operators[usize::from(index)].outputs[0];
        let Some(file) = find_intermediate(&inter, tensor) else {
            let _ = writeln!(
                report,
                "  op {index:3} {name:18} t{tensor:03}: no TFLM file"
            );
            continue;
        };
        let want = read(&file);
        let (n, max) = if want.len() == out.len() {
            out.iter()
                .zip(&want)
                .map(|(&a, &b)| (i32::from(a as i8) - i32::from(b as i8)).abs())
                .filter(|&d| d > 0)
                .fold((0, 0), |(n, m), d| (n + 1, m.max(d)))
        } else {
            (out.len().max(want.len()), -1)
        };
        if n > 0 && first.is_none() {
            first = Some(index);
        }
        let _ = writeln!(
            report,
            "  op {index:3} {name:18} t{tensor:03}: {n} of {} bytes differ (max {max} LSB)",
            out.len()
        );
    }
    let _ = writeln!(report, "  first differing op: {first:?}");
    report
}

fn find_intermediate(dir: &Path, tensor: usize) -> Option<PathBuf> {
    let prefix = format!("t{tensor:03}_");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".bin"))
        })
}

#[test]
fn ic_resnet8_matches_tflm() {
    check("ic_resnet8", 49_152, 54_996);
}

#[test]
fn kws_dscnn_matches_tflm() {
    check("kws_dscnn", 16_000, 22_820);
}

#[test]
fn vww_mobilenetv1_025_matches_tflm() {
    check("vww_mobilenetv1_025", 73_728, 100_708);
}

#[test]
fn ad_fc_autoencoder_matches_tflm() {
    check("ad_fc_autoencoder", 768, 2_580);
}
