//! ONNX import (`tests/data/onnx`, made by its `make_fixtures.py` from PyTorch models): the
//! float graph as mote reads it (NCHW converted to NHWC) must give onnxruntime's outputs
//! within 1e-4 relative error on every fixture, which proves the layout conversion; the
//! models then quantize through calibration and run as blobs.
//!
//! Run: `cargo test -p mote-tests --test onnx_import -- --nocapture`.

use std::path::PathBuf;

use mote_tests::repo;
use mote_tools::float::{Graph, eval};
use mote_tools::intake::data::{Array, read_array};
use mote_tools::intake::onnx::{self, InputLayout, Options};
use mote_tools::intake::reference::{self, Reference};
use mote_tools::quantize::{self, calibrate::Method};
use mote_tools::{run, validate};

fn dir() -> PathBuf {
    repo().join("tests/data/onnx")
}

fn read(name: &str, options: &Options) -> anyhow::Result<Graph> {
    let bytes = std::fs::read(dir().join(format!("{name}.onnx")))?;
    Ok(onnx::read(&bytes, options)?.graph)
}

/// Runs `graph` on inputs of 0.5 everywhere: a graph that reads must also run (or fail with an
/// error), never panic.
fn run_on_halves(g: &Graph) -> anyhow::Result<eval::Values> {
    let inputs: Vec<Vec<f32>> = g
        .inputs
        .iter()
        .map(|&t| vec![0.5; g.tensors[t].element_count()])
        .collect();
    let refs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    eval::run(g, &refs)
}

/// Worst relative error (against the largest reference magnitude) over all samples.
fn float_error(name: &str, graph: &Graph, layout: InputLayout) -> f32 {
    let inputs = read_array(&dir().join(format!("{name}_inputs.npy"))).unwrap();
    let want = read_array(&dir().join(format!("{name}_outputs_ort.npy"))).unwrap();
    let mut worst = 0.0f32;
    for i in 0..inputs.samples() {
        let x = inputs.sample(i);
        // The fixtures are NCHW; a channels-last blob input takes them transposed.
        let shape = &inputs.shape[1..];
        let x = if layout == InputLayout::Nhwc
            && shape.len() >= 2
            && graph.tensors[graph.inputs[0]].shape[1..] != *shape
        {
            let (c, spatial): (usize, usize) = (shape[0], shape[1..].iter().product());
            (0..x.len()).map(|k| x[(k % c) * spatial + k / c]).collect()
        } else {
            x.to_vec()
        };
        let values = eval::run(graph, &[&x]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let got = values[graph.outputs[0]].as_ref().unwrap();
        let want = want.sample(i);
        assert_eq!(got.len(), want.len(), "{name}: output size");
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let err = got
            .iter()
            .zip(want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
            / scale;
        worst = worst.max(err);
    }
    worst
}

const FLOAT_FIXTURES: [&str; 10] = [
    "mlp",
    "digits_cnn",
    "dscnn",
    "resnet",
    "conv1d",
    "mobile_block",
    "ops_mix",
    "keras_cnn",
    "decoder",
    "lstm",
];

#[test]
fn float_graphs_match_onnxruntime() {
    for name in FLOAT_FIXTURES {
        for layout in [InputLayout::Nhwc, InputLayout::Nchw] {
            let options = Options {
                input_layout: layout,
                ..Options::default()
            };
            let graph = read(name, &options).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let err = float_error(name, &graph, layout);
            println!(
                "{name} ({layout:?} input): {} operators, worst relative error {err:.2e}",
                graph.nodes.len()
            );
            assert!(
                err <= 1e-4,
                "{name}: relative error {err} against onnxruntime"
            );
        }
    }
}

fn load(name: &str) -> Reference {
    reference::load(&dir().join(format!("{name}.onnx")), &Options::default())
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// Calibrates `reference` on the samples of `calibration` and returns the blob.
fn quantize_with(reference: &Reference, calibration: &Array, method: Method) -> Vec<u8> {
    let stored: Vec<Vec<f32>> = (0..calibration.samples())
        .map(|i| reference.stored_input(0, calibration.sample(i)).unwrap())
        .collect();
    let samples: Vec<Vec<&[f32]>> = stored.iter().map(|s| vec![s.as_slice()]).collect();
    quantize::float_model(&reference.graph, &samples, method)
        .unwrap()
        .blob
}

fn samples(a: &Array) -> Vec<&[f32]> {
    (0..a.samples()).map(|i| a.sample(i)).collect()
}

/// The accuracy bar: the PyTorch digits CNN loses at most 0.5 points from float to
/// int8, on the 360 test images, calibrated on 200 training images.
#[test]
fn digits_cnn_int8_keeps_its_accuracy() {
    let reference = load("digits_cnn");
    let calibration = read_array(&dir().join("digits_calibration.npy")).unwrap();
    let x = read_array(&dir().join("digits_test_x.npy")).unwrap();
    let y = read_array(&dir().join("digits_test_y.npy")).unwrap();
    let labels: Vec<usize> = y.values.iter().map(|&v| v as usize).collect();
    for method in [
        Method::MinMax,
        Method::MovingAverage,
        Method::Percentile(99.99),
        Method::Mse,
    ] {
        let blob = quantize_with(&reference, &calibration, method);
        let report = validate::compare(
            &reference,
            &blob,
            &samples(&x),
            Some(&labels),
            validate::on_host(&blob),
        )
        .unwrap();
        let (float, int8) = report.accuracy.unwrap();
        println!(
            "digits_cnn, {method}: float {:.2}%, int8 {:.2}%, agreement {:.2}%",
            100.0 * float,
            100.0 * int8,
            100.0 * report.agreement
        );
        assert!(float >= 0.95, "the float model's accuracy {float}");
        assert!(
            int8 >= float - 0.005,
            "{method}: int8 {int8} against float {float}"
        );
    }
}

/// Every float fixture quantizes, and its int8 outputs stay close to the float ones.
#[test]
fn every_fixture_quantizes_close_to_float() {
    for name in FLOAT_FIXTURES {
        let reference = load(name);
        let inputs = read_array(&dir().join(format!("{name}_inputs.npy"))).unwrap();
        let blob = quantize_with(&reference, &inputs, Method::MinMax);
        let report = validate::compare(
            &reference,
            &blob,
            &samples(&inputs),
            None,
            validate::on_host(&blob),
        )
        .unwrap();
        println!(
            "{name}: agreement {:.1}%, cosine {:.5}, L2 relative {:.4}",
            100.0 * report.agreement,
            report.cosine,
            report.l2_relative
        );
        assert!(
            report.cosine >= 0.99 && report.agreement >= 0.9,
            "{name}: {report}"
        );
    }
}

/// A QDQ model keeps onnxruntime's quantization: the blob's input is the QDQ input's
/// quantization, and its outputs stay within two output steps of onnxruntime's QDQ outputs.
#[test]
fn qdq_model_keeps_its_scales() {
    let reference = load("digits_cnn_qdq");
    let imported = quantize::float_model(&reference.graph, &[], Method::MinMax).unwrap();
    let model = mote::Model::parse(&imported.blob).unwrap();
    let input = model.tensor(model.inputs()[0]).unwrap();
    assert_eq!((input.scale, input.zero_point), (1.0 / 255.0, -128));
    let output = model.tensor(model.outputs()[0]).unwrap();
    let inputs = read_array(&dir().join("digits_cnn_qdq_inputs.npy")).unwrap();
    let want = read_array(&dir().join("digits_cnn_qdq_outputs_ort.npy")).unwrap();
    let mut worst = 0.0f32;
    for i in 0..inputs.samples() {
        let x = reference.stored_input(0, inputs.sample(i)).unwrap();
        let encoded = run::encode_real(&input, &x);
        let got = run::to_real(&output, &mote_tests::host_outputs(&imported.blob, &encoded));
        for (a, b) in got.iter().zip(want.sample(i)) {
            worst = worst.max((a - b).abs() / output.scale);
        }
    }
    println!("digits_cnn_qdq: worst difference from onnxruntime {worst} output steps");
    assert!(
        worst <= 2.0,
        "{worst} output steps from onnxruntime's QDQ outputs"
    );
}

fn read_err(name: &str, options: &Options) -> String {
    format!(
        "{:#}",
        read(name, options).expect_err("the import should fail")
    )
}

/// What mote cannot import is refused with the node, its type and what to do.
#[test]
fn refusals_name_the_node_and_the_fix() {
    let err = read_err("gru", &Options::default());
    assert!(
        err.contains("\"/gru/GRU\" (GRU)") && err.contains("GRU is not supported"),
        "{err}"
    );

    let err = read_err("mlp_dynamic", &Options::default());
    assert!(
        err.contains("dynamic dimensions [?, 1, 8, 8]") && err.contains("--input-shape 1,1,8,8"),
        "{err}"
    );
    let wrong = Options {
        input_shapes: vec![vec![1, 1, 8, 9]],
        ..Options::default()
    };
    let err = read_err("mlp_dynamic", &wrong);
    assert!(
        err.contains("does not fit input input's declared shape [?, 1, 8, 8]"),
        "{err}"
    );
    let given = Options {
        input_shapes: vec![vec![1, 1, 8, 8]],
        ..Options::default()
    };
    assert!(read("mlp_dynamic", &given).is_ok());

    let err = format!(
        "{:#}",
        onnx::read(b"this is no model", &Options::default()).unwrap_err()
    );
    assert!(err.contains("not an ONNX model"), "{err}");
    let int8 =
        std::fs::read(repo().join("tests/data/mlperf-tiny/kws_dscnn/model_int8.tflite")).unwrap();
    let err = format!(
        "{:#}",
        reference::from_bytes(&int8, &Options::default()).unwrap_err()
    );
    assert!(err.contains("int8 .tflite model, not a float one"), "{err}");
}

/// Corrupted ONNX files (bytes flipped, files cut short) are refused or read, never a panic;
/// what reads also runs.
#[test]
fn corrupted_models_never_panic() {
    let (mut refused, mut read_ok) = (0, 0);
    for name in FLOAT_FIXTURES.iter().chain(&["digits_cnn_qdq", "gru"]) {
        let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).unwrap();
        let mut rng = mote_tools::intake::data::SplitMix64::new(3);
        for k in 0..300 {
            let mut b = bytes.clone();
            if k % 6 == 0 {
                b.truncate(rng.below(bytes.len()));
            } else {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            match onnx::read(&b, &Options::default()) {
                Err(_) => refused += 1,
                Ok(model) => {
                    read_ok += 1;
                    let _ = run_on_halves(&model.graph);
                }
            }
        }
    }
    println!("corrupted ONNX models: {refused} refused, {read_ok} read and run");
    assert!(refused > 0 && read_ok > 0);
}

/// Every layer of the quantized LSTM, the whole sequence included (not only the last step
/// the classifier reads), stays close to the float model.
#[test]
fn lstm_every_step_stays_close() {
    let reference = load("lstm");
    let inputs = read_array(&dir().join("lstm_inputs.npy")).unwrap();
    let stored: Vec<Vec<f32>> = (0..inputs.samples())
        .map(|i| reference.stored_input(0, inputs.sample(i)).unwrap())
        .collect();
    let per_sample: Vec<Vec<&[f32]>> = stored.iter().map(|s| vec![s.as_slice()]).collect();
    let imported = quantize::float_model(&reference.graph, &per_sample, Method::MinMax).unwrap();
    let layers = validate::per_layer(
        &reference,
        &imported.blob,
        &imported.names,
        &samples(&inputs),
    )
    .unwrap();
    for l in &layers {
        println!("lstm: {:.1} dB {} {}", l.sqnr_db, l.op, l.name);
    }
    assert!(
        layers
            .iter()
            .any(|l| l.op == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    );
    assert!(layers.iter().all(|l| l.sqnr_db >= 30.0), "{layers:?}");
}

/// Hand-made hostile models (`tests/data/onnx/hostile`, from `make_hostile.py`): overflowing
/// attributes, huge or empty shapes, inconsistent weights. Each is refused with an error (or,
/// where it is valid ONNX, read and run), never a panic or an unbounded allocation.
#[test]
fn hostile_models_are_refused() {
    let dir = dir().join("hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        match onnx::read(&bytes, &Options::default()) {
            Err(e) => println!("{name}: refused: {e:#}"),
            Ok(model) => {
                let g = &model.graph;
                let run = run_on_halves(g);
                println!(
                    "{name}: read, {} operators; run: {:?}",
                    g.nodes.len(),
                    run.is_ok()
                );
                assert!(
                    name.starts_with("slice_const"),
                    "{name} should have been refused"
                );
            }
        }
    }
}
