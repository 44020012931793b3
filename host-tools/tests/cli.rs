//! The `mote` CLI end to end on the bundled models: train -> quantize -> eval -> run, in a
//! scratch copy of each model folder, asserting accuracy and byte-for-byte reproducibility.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn mote(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args)
        .output()
        .expect("cannot start mote")
}

/// Runs `mote` and returns its stdout, failing the test with its stderr on a non-zero exit.
fn mote_ok(args: &[&str]) -> String {
    let out = mote(args);
    assert!(
        out.status.success(),
        "mote {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `mote`, expects failure, and returns its stderr.
fn mote_err(args: &[&str]) -> String {
    let out = mote(args);
    assert!(!out.status.success(), "mote {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// A scratch copy of `models/<name>` with only its spec and data.
fn scratch_model(name: &str, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let spec = dir.path().join("spec.toml");
    (dir, spec)
}

/// The number after `label` in `text` (e.g. "int8  accuracy  98.61%").
fn figure(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label} in {text}"));
    line.rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The bundled CNN retrains to its committed blob byte for byte, and beats the MLP on the same
/// split with fewer parameters.
#[test]
fn digits_cnn_retrains_to_its_blob_and_beats_the_mlp() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let spec = models.join("digits_cnn/spec.toml");
    let dir = tempfile::tempdir().unwrap();
    let (float, blob) = (
        dir.path().join("cnn.float.json"),
        dir.path().join("cnn.mote"),
    );
    mote_ok(&["train", s(&spec), "-o", s(&float)]);
    mote_ok(&["quantize", s(&spec), "--model", s(&float), "-o", s(&blob)]);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        std::fs::read(models.join("digits_cnn/digits_cnn.mote")).unwrap(),
        "retraining models/digits_cnn gives another blob"
    );
    let cnn = mote_ok(&["eval", s(&spec), "--model", s(&float), "--blob", s(&blob)]);
    // The MLP's committed blob, evaluated from a copy: eval writes its chart beside the blob.
    let mlp_blob = dir.path().join("mlp.mote");
    std::fs::copy(models.join("digits/digits.mote"), &mlp_blob).unwrap();
    let mlp = mote_ok(&[
        "eval",
        s(&models.join("digits/spec.toml")),
        "--blob",
        s(&mlp_blob),
    ]);
    let (cnn_int8, mlp_int8) = (
        figure(&cnn, "int8  accuracy"),
        figure(&mlp, "int8  accuracy"),
    );
    assert!(
        cnn_int8 >= mlp_int8,
        "CNN int8 {cnn_int8}% < MLP int8 {mlp_int8}%"
    );
    let parameters = |path: &Path| -> usize {
        let model: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        model["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                ["weights", "bias"]
                    .iter()
                    .map(|k| l[k].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            })
            .sum()
    };
    let (cnn_params, mlp_params) = (
        parameters(&float),
        parameters(&models.join("digits/digits.float.json")),
    );
    assert!(
        cnn_params < mlp_params,
        "CNN {cnn_params} parameters, MLP {mlp_params}"
    );
}

#[test]
fn digits_train_quantize_eval_run() {
    let (dir, spec) = scratch_model("digits", &["spec.toml", "digits.csv"]);
    let spec = s(&spec);
    mote_ok(&["train", spec]);
    mote_ok(&["quantize", spec]);
    let report = mote_ok(&["eval", spec]);
    let (float, int8) = (
        figure(&report, "float accuracy"),
        figure(&report, "int8  accuracy"),
    );
    assert!(int8 >= 95.0, "int8 accuracy {int8}% < 95%\n{report}");
    assert!(
        float - int8 <= 1.5,
        "int8 {int8}% is more than 1.5 points below float {float}%"
    );

    // The same spec and seed give the same blob, byte for byte.
    let blob = dir.path().join("digits.mote");
    let again = dir.path().join("again.mote");
    let float_again = dir.path().join("again.float.json");
    mote_ok(&["train", spec, "-o", s(&float_again)]);
    mote_ok(&[
        "quantize",
        spec,
        "--model",
        s(&float_again),
        "-o",
        s(&again),
    ]);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // Float CSV input is quantized at the boundary; the raw int8 run of the same samples,
    // quantized the same way, gives the same bytes; and runs repeat exactly.
    let csv = dir.path().join("in.csv");
    let rows: Vec<String> = std::fs::read_to_string(dir.path().join("digits.csv"))
        .unwrap()
        .lines()
        .take(20)
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    std::fs::write(&csv, rows.join("\n")).unwrap();
    let (out1, out2) = (dir.path().join("o1.bin"), dir.path().join("o2.bin"));
    mote_ok(&["run", s(&blob), "--input", s(&csv), "--output", s(&out1)]);
    mote_ok(&["run", s(&blob), "--input", s(&csv), "--output", s(&out2)]);
    let outputs = std::fs::read(&out1).unwrap();
    assert_eq!(outputs.len(), 20 * 10);
    assert_eq!(outputs, std::fs::read(&out2).unwrap());
    // Softmax outputs of each sample sum to about 1 (256 in units of 1/256, zero point -128).
    for row in outputs.chunks(10) {
        let sum: i32 = row.iter().map(|&q| i32::from(q as i8) + 128).sum();
        assert!((240..=270).contains(&sum), "softmax row sums to {sum}/256");
    }

    // Per-layer dumps: one file per operator, the last equal to the first sample's output.
    let dump = dir.path().join("layers");
    mote_ok(&[
        "run",
        s(&blob),
        "--input",
        s(&csv),
        "--output",
        s(&out2),
        "--dump-layers",
        s(&dump),
    ]);
    let mut files: Vec<_> = std::fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    assert_eq!(std::fs::read(&files[2]).unwrap(), outputs[..10]);

    let inspect = mote_ok(&["inspect", s(&blob)]);
    assert!(
        inspect.contains("FULLY_CONNECTED") && inspect.contains("SOFTMAX"),
        "{inspect}"
    );
    assert!(inspect.contains("arena bytes"), "{inspect}");
}

#[test]
fn sine_regression_with_float_io() {
    let (dir, spec) = scratch_model("sine", &["spec.toml", "sine.csv"]);
    let spec = s(&spec);
    mote_ok(&["train", spec]);
    mote_ok(&["quantize", spec]);
    let report = mote_ok(&["eval", spec]);
    let (float, int8) = (figure(&report, "float mse"), figure(&report, "int8  mse"));
    assert!(float < 0.01, "float mse {float}\n{report}");
    assert!(int8 < 0.01, "int8 mse {int8}\n{report}");

    // Float in, float out: x = pi/2 should give about 1.
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "1.5707964\n4.712389\n").unwrap();
    let out = dir.path().join("y.csv");
    mote_ok(&[
        "run",
        s(&dir.path().join("sine.mote")),
        "--input",
        s(&csv),
        "--output",
        s(&out),
    ]);
    let ys: Vec<f32> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        (ys[0] - 1.0).abs() < 0.15 && (ys[1] + 1.0).abs() < 0.15,
        "sin -> {ys:?}"
    );
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blob = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits/digits.mote");
    let out = dir.path().join("out.bin");

    // A truncated blob.
    let bad = dir.path().join("bad.mote");
    let bytes = std::fs::read(&blob).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let input = dir.path().join("in.bin");
    std::fs::write(&input, [0u8; 64]).unwrap();
    let err = mote_err(&["run", s(&bad), "--input", s(&input), "--output", s(&out)]);
    assert!(err.contains("truncated"), "{err}");

    // Input that is not a whole number of samples.
    std::fs::write(&input, [0u8; 65]).unwrap();
    let err = mote_err(&["run", s(&blob), "--input", s(&input), "--output", s(&out)]);
    assert!(err.contains("whole number of samples"), "{err}");

    // A CSV with a ragged row.
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "1,2,3\n1,2\n").unwrap();
    let err = mote_err(&["run", s(&blob), "--input", s(&csv), "--output", s(&out)]);
    assert!(err.contains("line 2"), "{err}");

    // An output folder that does not exist.
    std::fs::write(&input, [0u8; 64]).unwrap();
    let nowhere = dir.path().join("missing/out.bin");
    let err = mote_err(&[
        "run",
        s(&blob),
        "--input",
        s(&input),
        "--output",
        s(&nowhere),
    ]);
    assert!(err.contains("cannot write"), "{err}");

    assert!(!out.exists(), "a failed run left an output file");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !["bad.mote", "in.bin", "in.csv"].contains(&n.as_str()))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

/// A model with two inputs and two outputs: `mote run` takes one file per input and writes
/// one per output, each TFLM's to the byte; a wrong number of files is an error that writes
/// nothing, and so is an output that cannot be written (the other is not written either).
#[test]
fn several_inputs_and_outputs_one_file_each() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tflm-corpus");
    let file = |name: &str| corpus.join(format!("multi_io.{name}"));
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("multi.mote");
    mote_ok(&["import", s(&file("tflite")), "-o", s(&blob)]);
    let (in0, in1) = (file("in0.bin"), file("in1.bin"));
    let (out0, out1) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    let said = mote_ok(&[
        "run",
        s(&blob),
        "-i",
        s(&in0),
        s(&in1),
        "-o",
        s(&out0),
        s(&out1),
    ]);
    assert!(said.contains("ran 8 samples"), "{said}");
    assert_eq!(
        std::fs::read(&out0).unwrap(),
        std::fs::read(file("out0.tflm.bin")).unwrap()
    );
    assert_eq!(
        std::fs::read(&out1).unwrap(),
        std::fs::read(file("out1.tflm.bin")).unwrap()
    );
    std::fs::remove_file(&out0).unwrap();
    std::fs::remove_file(&out1).unwrap();

    let err = mote_err(&["run", s(&blob), "-i", s(&in0), "-o", s(&out0), s(&out1)]);
    assert!(
        err.contains("1 input files for a model with 2 inputs"),
        "{err}"
    );
    let err = mote_err(&["run", s(&blob), "-i", s(&in0), s(&in1), "-o", s(&out0)]);
    assert!(
        err.contains("1 output files for a model with 2 outputs"),
        "{err}"
    );
    // Inputs with different numbers of samples.
    let short = dir.path().join("short.bin");
    let bytes = std::fs::read(&in1).unwrap();
    std::fs::write(&short, &bytes[..bytes.len() / 2]).unwrap();
    let err = mote_err(&[
        "run",
        s(&blob),
        "-i",
        s(&in0),
        s(&short),
        "-o",
        s(&out0),
        s(&out1),
    ]);
    assert!(
        err.contains("every input file needs the same number"),
        "{err}"
    );
    let nowhere = dir.path().join("missing/b.bin");
    let err = mote_err(&[
        "run",
        s(&blob),
        "-i",
        s(&in0),
        s(&in1),
        "-o",
        s(&out0),
        s(&nowhere),
    ]);
    assert!(err.contains("cannot write"), "{err}");
    assert!(
        !out0.exists() && !out1.exists(),
        "a failed run left an output file"
    );
}

/// A recurrent model (two SVDFs): `mote run` carries the state from each sample to the next,
/// as the device does, and `--reset-every 6` starts each sequence of 6 afresh: both equal
/// TFLM's outputs (its interpreter never reset, and reset before each sequence).
#[test]
fn state_carries_across_samples_unless_reset() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tflm-recurrent");
    let file = |name: &str| corpus.join(format!("svdf_kws_stack.{name}"));
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("svdf.mote");
    mote_ok(&["import", s(&file("tflite")), "-o", s(&blob)]);
    let out = dir.path().join("out.bin");
    let said = mote_ok(&["run", s(&blob), "-i", s(&file("in0.bin")), "-o", s(&out)]);
    assert!(said.contains("ran 36 samples"), "{said}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(file("out0.tflm.bin")).unwrap()
    );
    mote_ok(&[
        "run",
        s(&blob),
        "-i",
        s(&file("in0.bin")),
        "-o",
        s(&out),
        "--reset-every",
        "6",
    ]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(file("out0.tflm_reset.bin")).unwrap()
    );
}

#[test]
fn kws_imports_to_the_committed_blob_and_matches_tflm() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws_dscnn");
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("kws.mote");
    mote_ok(&["import", s(&model.join("kws_dscnn.tflite")), "-o", s(&blob)]);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        std::fs::read(model.join("kws_dscnn.mote")).unwrap()
    );
    let out = dir.path().join("out.bin");
    mote_ok(&[
        "run",
        s(&blob),
        "--input",
        s(&model.join("yes_mfcc.bin")),
        "--output",
        s(&out),
    ]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(model.join("yes_mfcc_tflm.bin")).unwrap()
    );
    // Compiled into Rust, with the smallest build of mote that runs it (no general paths).
    let source = dir.path().join("kws.rs");
    let said = mote_ok(&["compile", s(&blob), "-o", s(&source)]);
    let features = |pairs: &str| {
        format!(
            r#"features = ["op-average-pool", "op-conv", {pairs}"op-depthwise", "op-fully-connected", "op-reshape", "op-softmax"]"#
        )
    };
    // RV32's blocks of three leave two of KWS's 125 pixels over; Cortex-M4's of four, one.
    let pairs = features(r#""op-conv-pairs", "#);
    let any = format!("(any target): default-features = false, {pairs}");
    assert!(said.contains(&any), "{said}");
    let m4 = [
        "compile",
        s(&blob),
        "-o",
        s(&source),
        "--target",
        "thumbv7em-none-eabihf",
    ];
    let said = mote_ok(&m4);
    assert!(said.contains(&features("")), "{said}");
    let rust = std::fs::read_to_string(&source).unwrap();
    assert!(rust.contains("pub static MODEL"));
    // Compiled for Cortex-M4's kernel paths: it refuses to build for another target.
    assert!(rust.contains("Isa::HERE.is(mote::kernels::Isa::ArmDsp)"));
}

#[test]
fn bad_models_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mote");
    // A float model.
    let float = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/mlperf-tiny/kws_dscnn/model_float32.tflite");
    let err = mote_err(&["import", s(&float), "-o", s(&out)]);
    assert!(
        err.contains("float model") && err.contains("--calibration samples.npy"),
        "{err}"
    );
    // A truncated .tflite.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws_dscnn/kws_dscnn.tflite");
    let bytes = std::fs::read(model).unwrap();
    let cut = dir.path().join("cut.tflite");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let err = mote_err(&["import", s(&cut), "-o", s(&out)]);
    assert!(err.contains("not a valid .tflite"), "{err}");
    assert!(!out.exists());
}

/// An NPY file of the given dtype descriptor, shape (Python tuple syntax) and raw data.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn npy_inputs_by_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let blob = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits/digits.mote");
    let out = dir.path().join("out.bin");
    // int8 NPY: taken as already quantized, so it equals the raw run of the same bytes.
    let raw: Vec<u8> = (0..128u8).map(|i| i.wrapping_mul(37)).collect();
    let (npy_path, raw_path) = (dir.path().join("x.npy"), dir.path().join("x.bin"));
    std::fs::write(&npy_path, npy("|i1", "(2, 64)", &raw)).unwrap();
    std::fs::write(&raw_path, &raw).unwrap();
    let out2 = dir.path().join("out2.bin");
    mote_ok(&[
        "run",
        s(&blob),
        "--input",
        s(&npy_path),
        "--output",
        s(&out),
    ]);
    mote_ok(&[
        "run",
        s(&blob),
        "--input",
        s(&raw_path),
        "--output",
        s(&out2),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    std::fs::remove_file(&out).unwrap();

    // A complex dtype is refused with the dtype named; nothing is written.
    std::fs::write(&npy_path, npy("<c8", "(2, 64)", &[0; 2 * 64 * 8])).unwrap();
    let err = mote_err(&[
        "run",
        s(&blob),
        "--input",
        s(&npy_path),
        "--output",
        s(&out),
    ]);
    assert!(err.contains("unsupported dtype"), "{err}");
    // A 1-D array is 64 samples of one value: refused, the sizes named.
    std::fs::write(&npy_path, npy("<f4", "(64,)", &[0; 256])).unwrap();
    let err = mote_err(&[
        "run",
        s(&blob),
        "--input",
        s(&npy_path),
        "--output",
        s(&out),
    ]);
    assert!(
        err.contains("each sample has 1 values, but the input takes 64"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn training_data_errors_name_the_line() {
    let (dir, spec) = scratch_model("digits", &["spec.toml", "digits.csv"]);
    let csv = dir.path().join("digits.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("1,2,3\n");
    std::fs::write(&csv, text).unwrap();
    let err = mote_err(&["train", s(&spec)]);
    assert!(
        err.contains("line 1798") && err.contains("columns"),
        "{err}"
    );
    assert!(!dir.path().join("digits.float.json").exists());
}

/// `mote qemu --arena-from-blob` builds the firmware with a static arena of exactly what the
/// blob needs (read at build time, in a target folder of its own) and runs the blob on it,
/// computing what `mote run` computes on the host.
#[test]
fn qemu_with_the_arena_sized_from_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let blob = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sine/sine.mote");
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "1.5707964\n4.712389\n0.5\n").unwrap();
    let (device, host) = (dir.path().join("device.bin"), dir.path().join("host.bin"));
    mote_ok(&[
        "qemu",
        s(&blob),
        "--board",
        "riscv32-virt",
        "--arena-from-blob",
        "--input",
        s(&csv),
        "--output",
        s(&device),
    ]);
    mote_ok(&["run", s(&blob), "--input", s(&csv), "--output", s(&host)]);
    assert_eq!(
        std::fs::read(&device).unwrap(),
        std::fs::read(&host).unwrap()
    );

    let arena = mote::Model::parse(&std::fs::read(&blob).unwrap())
        .unwrap()
        .arena_size();
    let elf = mote_tools::device::qemu::firmware_dir().join(format!(
        "target/arena-{arena}/riscv32imac-unknown-none-elf/release/mote-riscv32-virt"
    ));
    let image = std::fs::read(&elf).unwrap_or_else(|e| panic!("{}: {e}", elf.display()));
    let size = mote_tools::device::qemu::image_size(&image).unwrap();
    // The default arena alone is 256 KiB of bss; this one is the blob's few bytes.
    assert!(
        size.bss < 1024,
        "bss {} with a {arena}-byte arena",
        size.bss
    );
}

/// PyTorch's path: a float ONNX model imported with calibration samples, validated against its
/// float self on labelled data, run on NCHW samples; bad calibration data and unsupported
/// operators are refused with what to fix, and nothing is written.
#[test]
fn onnx_import_calibrate_validate() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/onnx");
    let (model, calibration) = (
        data.join("digits_cnn.onnx"),
        data.join("digits_calibration.npy"),
    );
    let (test_x, test_y) = (
        data.join("digits_test_x.npy"),
        data.join("digits_test_y.npy"),
    );
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("digits_cnn.mote");
    let tfl = dir.path().join("digits_cnn.tflite");
    let text = mote_ok(&[
        "import",
        s(&model),
        "--calibration",
        s(&calibration),
        "--method",
        "mse",
        "-o",
        s(&blob),
        "--emit-tflite",
        s(&tfl),
    ]);
    assert!(text.contains("calibrated by mse on 200 samples"), "{text}");
    assert!(text.contains("dB  CONV_2D"), "{text}");
    assert!(std::fs::read(&tfl).unwrap()[4..8] == *b"TFL3");

    let report = mote_ok(&[
        "validate",
        s(&blob),
        "--reference",
        s(&model),
        "--data",
        s(&test_x),
        "--labels",
        s(&test_y),
        "--per-layer",
    ]);
    assert!(report.contains("samples:                 360"), "{report}");
    assert!(
        report.contains("confusion matrix") && report.contains("FULLY_CONNECTED"),
        "{report}"
    );
    let agreement = figure(&report, "top-1 agreement");
    assert!(agreement >= 99.0, "{report}");

    // The same comparison with the blob on a QEMU board.
    let inputs = data.join("digits_cnn_inputs.npy");
    let on_board = mote_ok(&[
        "validate",
        s(&blob),
        "--reference",
        s(&model),
        "--data",
        s(&inputs),
        "--board",
        "mps2-an386",
    ]);
    assert!(on_board.contains("(int8, on mps2-an386)"), "{on_board}");
    assert!(figure(&on_board, "top-1 agreement") >= 99.0, "{on_board}");

    // The blob takes NHWC samples; with one channel that is the NCHW file as it is.
    let out = dir.path().join("out.csv");
    mote_ok(&["run", s(&blob), "-i", s(&test_x), "-o", s(&out)]);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 360);

    let other = dir.path().join("other.mote");
    let wrong_shape = data.join("conv1d_inputs.npy");
    let err = mote_err(&[
        "import",
        s(&model),
        "--calibration",
        s(&wrong_shape),
        "-o",
        s(&other),
    ]);
    assert!(
        err.contains("[32, 4, 32]") && err.contains("[samples, 1, 1, 8, 8]"),
        "{err}"
    );
    let err = mote_err(&[
        "import",
        s(&model),
        "--calibration",
        s(&test_y),
        "-o",
        s(&other),
    ]);
    assert!(err.contains("must be floating point"), "{err}");
    let err = mote_err(&[
        "import",
        s(&data.join("gru.onnx")),
        "--calibration",
        s(&data.join("gru_inputs.npy")),
        "-o",
        s(&other),
    ]);
    assert!(err.contains("(GRU)"), "{err}");
    let err = mote_err(&[
        "import",
        s(&model),
        "--calibration",
        s(&calibration),
        "--method",
        "best",
        "-o",
        s(&other),
    ]);
    assert!(err.contains("unknown calibration method `best`"), "{err}");
    assert!(!other.exists());
}

/// Signing: `mote keygen` writes a key pair (and never overwrites one), `mote sign` wraps a blob
/// in a signed envelope that the host tools run as the blob inside, and bad keys or inputs are
/// refused with nothing written.
#[test]
fn keygen_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("release.pem");
    let text = mote_ok(&["keygen", "-o", s(&key)]);
    let public = dir.path().join("release.pub.pem");
    assert!(
        text.contains("MOTE_PUBLIC_KEY=") && public.exists(),
        "{text}"
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let err = mote_err(&["keygen", "-o", s(&key)]);
    assert!(err.contains("does not overwrite a key"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pem);

    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits");
    let blob = models.join("digits.mote");
    let signed = dir.path().join("digits.signed.mote");
    let text = mote_ok(&[
        "sign",
        s(&blob),
        "--key",
        s(&key),
        "--model-version",
        "7",
        "-o",
        s(&signed),
    ]);
    assert!(text.contains("model version 7"), "{text}");
    let bytes = std::fs::read(&signed).unwrap();
    let (version, inside) =
        mote_tools::sign::verify(&bytes, &std::fs::read_to_string(&public).unwrap()).unwrap();
    assert_eq!((version, inside), (7, &std::fs::read(&blob).unwrap()[..]));

    // The host runs a signed blob as the blob inside.
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, vec!["0"; 64].join(",") + "\n").unwrap();
    let (plain_out, signed_out) = (dir.path().join("p.bin"), dir.path().join("s.bin"));
    mote_ok(&["run", s(&blob), "-i", s(&csv), "-o", s(&plain_out)]);
    mote_ok(&["run", s(&signed), "-i", s(&csv), "-o", s(&signed_out)]);
    assert_eq!(
        std::fs::read(plain_out).unwrap(),
        std::fs::read(signed_out).unwrap()
    );

    let other = dir.path().join("other.mote");
    for (args, says) in [
        (
            vec!["sign", s(&signed), "--key", s(&key)],
            "already in a signed envelope",
        ),
        (
            vec!["sign", s(&blob), "--key", s(&public)],
            "not an Ed25519 private key",
        ),
        (vec!["sign", s(&csv), "--key", s(&key)], "does not validate"),
    ] {
        let mut args = args;
        args.extend(["--model-version", "1", "-o", s(&other)]);
        let err = mote_err(&args);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!other.exists());
    }
}

/// `mote flash --image`: the exact bytes a probe would write (here firmware and model), which
/// boot in QEMU's model of the chip and compute what the host does; the model region alone
/// starts at the firmware's model symbol. Every refusal happens before a file exists.
#[test]
fn flash_image_boots_and_bad_flashes_are_refused() {
    use mote_tools::device::{flash, qemu};
    let dir = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let digits = models.join("digits/digits.mote");
    let board = qemu::Board::Netduinoplus2;
    let elf = qemu::build_firmware(board).unwrap();
    let elf_bytes = std::fs::read(&elf).unwrap();

    let both = dir.path().join("both.bin");
    let said = mote_ok(&[
        "flash",
        "--board",
        "netduinoplus2",
        "--model",
        s(&digits),
        "--with-firmware",
        "--image",
        s(&both),
    ]);
    let blob = std::fs::read(&digits).unwrap();
    let end = format!("0x08000000..{:#010x}", 0x0804_0000 + blob.len());
    assert!(said.contains(&end), "{said}");
    let image = flash::image(
        &elf_bytes,
        flash::Contents {
            firmware: true,
            model: Some(&blob),
            samples: None,
        },
    )
    .unwrap();
    assert_eq!(std::fs::read(&both).unwrap(), image.bytes);
    // A probe writes the parts only: the firmware's segments and the blob, not the gap.
    assert_eq!(image.parts.last(), Some(&(0x0804_0000, blob.len())));
    let written: usize = image.parts.iter().map(|p| p.1).sum();
    assert!(written < image.bytes.len(), "{:?}", image.parts);
    let inputs: Vec<u8> = (0..64 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let run = qemu::run_flash_image(board, &elf, &image, &inputs, Duration::from_secs(60)).unwrap();
    assert_eq!(
        run.outputs,
        mote_tools::run::run_samples(&blob, &inputs, &mut ()).unwrap()
    );

    // The runner's samples too, on a board whose input region is flash: the image alone boots
    // and runs them.
    let samples = dir.path().join("samples.bin");
    std::fs::write(&samples, &inputs).unwrap();
    let with_inputs = dir.path().join("microbit.bin");
    mote_ok(&[
        "flash",
        "--board",
        "microbit",
        "--model",
        s(&digits),
        "--with-firmware",
        "--input",
        s(&samples),
        "--image",
        s(&with_inputs),
    ]);
    let microbit = qemu::build_firmware(qemu::Board::Microbit).unwrap();
    let bytes = std::fs::read(&with_inputs).unwrap();
    let image = flash::FlashImage {
        base: 0,
        parts: vec![(0, bytes.len())],
        bytes,
        model: Some((0x28000, blob.len())),
    };
    let run = qemu::run_flash_image(
        qemu::Board::Microbit,
        &microbit,
        &image,
        &[],
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(run.instructions.len(), 3);
    assert_eq!(
        run.outputs,
        mote_tools::run::run_samples(&blob, &inputs, &mut ()).unwrap()
    );
    let err = mote_err(&[
        "flash",
        "--board",
        "netduinoplus2",
        "--model",
        s(&digits),
        "--input",
        s(&samples),
        "--image",
        s(&dir.path().join("no.bin")),
    ]);
    assert!(err.contains("input region is RAM"), "{err}");

    let model_only = dir.path().join("model.bin");
    let said = mote_ok(&[
        "flash",
        "--board",
        "netduinoplus2",
        "--model",
        s(&digits),
        "--image",
        s(&model_only),
    ]);
    assert!(said.contains("the model region"), "{said}");
    assert!(said.contains("0x08040000"), "{said}");
    assert_eq!(std::fs::read(&model_only).unwrap(), blob);

    // Refusals, with what to fix; no file is left.
    let out = dir.path().join("refused.bin");
    let ad = dir.path().join("ad.mote");
    mote_ok(&[
        "import",
        s(&Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/mlperf-tiny/ad_fc_autoencoder/model_int8.tflite")),
        "-o",
        s(&ad),
    ]);
    let kws = models.join("kws_dscnn/kws_dscnn.mote");
    for (args, says) in [
        (
            vec!["--board", "microbit", "--model", s(&ad)],
            "the blob is 271512 bytes of flash; the firmware's model region holds 40960",
        ),
        (
            vec!["--board", "microbit", "--model", s(&kws)],
            "the model needs 18215 bytes of arena (RAM); the firmware's arena has 8192",
        ),
        (
            vec![
                "--board",
                "netduinoplus2",
                "--model",
                s(&digits),
                "--elf",
                env!("CARGO_BIN_EXE_mote"),
            ],
            "has no symbol __model_start: is it a mote firmware?",
        ),
        (
            vec![
                "--board",
                "netduinoplus2",
                "--model",
                s(&models.join("digits/digits.csv")),
            ],
            "not a valid",
        ),
    ] {
        let mut args = [vec!["flash"], args, vec!["--image", s(&out)]].concat();
        let err = mote_err(&args);
        assert!(err.contains(says), "mote {args:?}: {err}");
        assert!(!out.exists(), "mote {args:?} left {}", out.display());
        // Through a probe, the same checks come first.
        args.truncate(args.len() - 2);
        let err = mote_err(&args);
        assert!(err.contains(says), "mote {args:?}: {err}");
    }

    // No probe on this machine, and QEMU's own boards have no chip to flash.
    let err = mote_err(&["flash", "--board", "netduinoplus2", "--model", s(&digits)]);
    assert!(err.contains("no debug probe found"), "{err}");
    let err = mote_err(&["flash", "--board", "mps2-an386", "--model", s(&digits)]);
    assert!(err.contains("not a kit"), "{err}");
    let err = mote_err(&[
        "flash",
        "--board",
        "microbit",
        "--model",
        s(&digits),
        "--probe",
        "nonsense",
    ]);
    assert!(err.contains("--probe nonsense"), "{err}");
}

/// `mote new` for every kit: the project builds (its own cargo project, depending on this
/// checkout's runtime), its ELF has the model region and the arena the blob sized, and `mote
/// flash` takes it as the firmware. Refusals leave no folder.
#[test]
fn new_projects_build_for_every_kit() {
    use mote_tools::device::{flash, qemu};
    let dir = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let digits = models.join("digits/digits.mote");
    let blob = std::fs::read(&digits).unwrap();
    let needed = mote::Model::parse(&blob).unwrap().arena_size() as u64;
    // One target folder for every project, kept between runs like the runner's.
    let target_dir = qemu::firmware_dir().join("target/apps");
    for board in qemu::Board::KITS {
        let project = dir.path().join(format!("app-{board}"));
        let said = mote_ok(&[
            "new",
            s(&project),
            "--board",
            board.name(),
            "--model",
            s(&digits),
        ]);
        assert!(said.contains("cargo build --release"), "{said}");
        let built = Command::new("cargo")
            .args(["build", "--release", "--quiet"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{board}: the new project does not build:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let elf = target_dir
            .join(board.target())
            .join("release")
            .join(format!("app-{board}"));
        let elf_bytes = std::fs::read(&elf).unwrap();
        let regions = qemu::regions(&elf_bytes).unwrap();
        let runner =
            qemu::regions(&std::fs::read(qemu::build_firmware(board).unwrap()).unwrap()).unwrap();
        assert_eq!(
            regions.model, runner.model,
            "{board}: the model region moved"
        );
        assert!(
            (needed..needed + 16).contains(&regions.arena),
            "{board}: arena {} for a model that needs {needed}",
            regions.arena
        );
        let out = dir.path().join(format!("{board}.bin"));
        if board.boots_app_image() {
            // The probe makes the firmware's application image: a file holds the model region.
            let err = mote_err(&[
                "flash",
                "--board",
                board.name(),
                "--elf",
                s(&elf),
                "--model",
                s(&digits),
                "--with-firmware",
                "--image",
                s(&out),
            ]);
            assert!(err.contains("ESP-IDF application image"), "{err}");
            assert!(!out.exists(), "{board}: a refused image was written");
            mote_ok(&[
                "flash",
                "--board",
                board.name(),
                "--elf",
                s(&elf),
                "--model",
                s(&digits),
                "--image",
                s(&out),
            ]);
            let image = flash::image(
                &elf_bytes,
                flash::Contents {
                    model: Some(&blob),
                    ..flash::Contents::default()
                },
            )
            .unwrap();
            assert_eq!((image.base, &image.bytes), (regions.model.0, &blob));
            assert_eq!(std::fs::read(&out).unwrap(), image.bytes);
            continue;
        }
        let image = flash::image(
            &elf_bytes,
            flash::Contents {
                firmware: true,
                model: Some(&blob),
                samples: None,
            },
        )
        .unwrap();
        assert_eq!(
            image.base,
            regions.model.0 & !0xFFFFF,
            "{board}: flash starts elsewhere"
        );
        mote_ok(&[
            "flash",
            "--board",
            board.name(),
            "--elf",
            s(&elf),
            "--model",
            s(&digits),
            "--with-firmware",
            "--image",
            s(&out),
        ]);
        assert_eq!(std::fs::read(&out).unwrap(), image.bytes);
    }

    let kws = models.join("kws_dscnn/kws_dscnn.mote");
    let refused = dir.path().join("refused");
    for (args, says) in [
        (
            vec!["--board", "microbit", "--model", s(&kws)],
            "18215 bytes of arena",
        ),
        (vec!["--board", "mps2-an386"], "not a kit"),
        (
            vec!["--board", "microbit", "--mote-path", s(&models)],
            "not mote's runtime",
        ),
    ] {
        let args = [vec!["new", s(&refused)], args].concat();
        let err = mote_err(&args);
        assert!(err.contains(says), "mote {args:?}: {err}");
        assert!(!refused.exists(), "mote {args:?} left a folder");
    }
    let err = mote_err(&["new", s(dir.path()), "--board", "microbit"]);
    assert!(err.contains("exists"), "{err}");
}

/// Writes a one-second 16 kHz clip: a tone of `hz` (0: noise only) at `amplitude`, starting at
/// `phase`, over light noise from `seed`.
fn clip(path: &Path, hz: f64, amplitude: f64, phase: f64, seed: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut state = seed.max(1);
    for n in 0..16_000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = f64::from(state % 2001) / 1000.0 - 1.0;
        let t = f64::from(n) / 16_000.0;
        let tone = (std::f64::consts::TAU * hz * t + phase).sin();
        let v = 32_767.0 * (amplitude * tone * f64::from(u8::from(hz > 0.0)) + 0.02 * noise);
        w.write_sample(v.clamp(-32_768.0, 32_767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// A spec over a WAV folder trains on the runtime's own front-end features and gives a blob
/// that takes the sound: AUDIO_FRONTEND first, int16 PCM in, its int8 accuracy measured on the
/// clips themselves. A clip of another rate is refused naming the file.
#[test]
fn a_wav_folder_trains_a_model_that_takes_sound() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let classes = [("high", 2_500.0), ("low", 400.0), ("quiet", 0.0)];
    for (split, count) in [("train", 24), ("validation", 4), ("test", 8)] {
        for (c, (label, hz)) in classes.iter().enumerate() {
            for k in 0..count {
                let seed = (c * 1000 + k) as u32 + if split == "test" { 500 } else { 0 };
                let amplitude = 0.05 + 0.4 * f64::from(seed % 7) / 7.0;
                let path = data.join(split).join(label).join(format!("{k}.wav"));
                clip(&path, *hz, amplitude, f64::from(seed % 5), seed);
            }
        }
    }
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        r#"
name = "tones"
task = "classification"
layers = [
    { kind = "conv2d", filters = 4, kernel = [10, 4], stride = 2 },
    { kind = "batch_norm", activation = "relu" },
    { kind = "avg_pool", size = [25, 1] },
    { kind = "flatten" },
    { kind = "dense", units = 3 },
]
[data]
wav_dir = "data"
classes = 3
[training]
epochs = 8
batch_size = 8
learning_rate = 0.01
seed = 1
qat_epochs = 2
"#,
    )
    .unwrap();
    mote_ok(&["train", s(&spec)]);
    mote_ok(&["quantize", s(&spec)]);
    let report = mote_ok(&["eval", s(&spec)]);
    assert!(report.contains("on 24 test samples"), "{report}");
    // The blob is the quantization-aware model's; post-training quantization is set beside it.
    let int8 = figure(&report, "int8  accuracy");
    let ptq = figure(&report, "post-training int8 accuracy");
    assert!(
        int8 >= 90.0 && ptq >= 80.0,
        "int8 accuracy {int8}%\n{report}"
    );
    for written in [
        "tones.float.json",
        "tones.qat.json",
        "tones.curves.svg",
        "tones.confusion.svg",
    ] {
        assert!(dir.path().join(written).is_file(), "{written} missing");
    }
    let blob = dir.path().join("tones.mote");
    let layers = mote_ok(&["inspect", s(&blob)]);
    let first = layers
        .lines()
        .find(|l| l.trim_start().starts_with("0 "))
        .unwrap();
    assert!(
        first.contains("AUDIO_FRONTEND") && first.contains("1x16000i16"),
        "{first}"
    );
    // A clip runs through `mote run` as the device would take it.
    let out = dir.path().join("out.bin");
    let wav = data.join("test/low/0.wav");
    mote_ok(&["run", s(&blob), "--input", s(&wav), "--output", s(&out)]);
    assert_eq!(std::fs::read(&out).unwrap().len(), 3);

    // An 8 kHz clip in the data: refused, naming it and the conversion.
    let bad = data.join("train/low/bad.wav");
    let spec8k = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&bad, spec8k).unwrap();
    w.write_sample(0i16).unwrap();
    w.finalize().unwrap();
    let err = mote_err(&["train", s(&spec), "-o", s(&dir.path().join("x.json"))]);
    assert!(err.contains("bad.wav") && err.contains("16000 Hz"), "{err}");
    assert!(!dir.path().join("x.json").exists());
}

/// A residual block and input noise, from an NPZ archive (`x` as 8x8x1 images, `y` labels),
/// through the commands a user runs: the int8 blob has its ADD and classifies the test digits
/// (97.49% measured; models/digits_cnn, without a residual, 99.44%).
#[test]
fn a_residual_cnn_trains_from_an_npz_archive() {
    use std::io::Write as _;
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let rows = std::fs::read_to_string(models.join("digits/digits.csv")).unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for row in rows.lines() {
        let cells: Vec<f32> = row.split(',').map(|c| c.trim().parse().unwrap()).collect();
        x.extend(cells[..64].iter().flat_map(|v| v.to_le_bytes()));
        y.extend((cells[64] as i64).to_le_bytes());
    }
    let n = y.len() / 8;
    let dir = tempfile::tempdir().unwrap();
    let mut zip =
        zip::ZipWriter::new(std::fs::File::create(dir.path().join("digits.npz")).unwrap());
    for (name, bytes) in [
        ("x.npy", npy("<f4", &format!("({n}, 8, 8, 1)"), &x)),
        ("y.npy", npy("<i8", &format!("({n},)"), &y)),
    ] {
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(name, options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        r#"name = "residual"
task = "classification"
input = [8, 8, 1]
layers = [
    { kind = "conv2d", filters = 12, kernel = 3, activation = "relu" },
    { kind = "depthwise_conv2d", kernel = 3 },
    { kind = "batch_norm", activation = "relu" },
    { kind = "conv2d", filters = 12, kernel = 1 },
    { kind = "batch_norm" },
    { kind = "add", from = 1, activation = "relu" },
    { kind = "max_pool", size = 2 },
    { kind = "flatten" },
    { kind = "dense", units = 10 },
]
[data]
file = "digits.npz"
classes = 10
test_fraction = 0.2
split_seed = 1
[training]
epochs = 30
batch_size = 32
learning_rate = 0.003
seed = 1
schedule = "cosine"
noise = 0.1
"#,
    )
    .unwrap();
    mote_ok(&["train", s(&spec)]);
    mote_ok(&["quantize", s(&spec)]);
    let report = mote_ok(&["eval", s(&spec)]);
    let int8 = figure(&report, "int8  accuracy");
    assert!(int8 >= 96.0, "int8 accuracy {int8}%\n{report}");
    let layers = mote_ok(&["inspect", s(&dir.path().join("residual.mote"))]);
    assert!(layers.contains(" ADD "), "{layers}");
}
