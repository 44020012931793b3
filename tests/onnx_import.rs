//! ONNX import (`tests/data/onnx`, made by its `make_fixtures.py` from PyTorch models): the
//! float graph as mote reads it (NCHW converted to NHWC) must give onnxruntime's outputs
//! within 1e-4 relative error on every fixture, which proves the layout conversion; the
//! models then quantize through calibration and run as blobs.
//!
//! Run: `cargo test -p mote-tests --test onnx_import -- --nocapture`.

use std::path::PathBuf;

use mote_tests::repo;
use mote_tools::float::{Graph, eval};
use mote_tools::intake::data::read_array;
use mote_tools::intake::onnx::{self, InputLayout, Options};

fn dir() -> PathBuf {
    repo().join("tests/data/onnx")
}

fn read(name: &str, options: &Options) -> anyhow::Result<Graph> {
    let bytes = std::fs::read(dir().join(format!("{name}.onnx")))?;
    Ok(onnx::read(&bytes, options)?.graph)
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
        let x = if layout == InputLayout::Nhwc && shape.len() >= 2 && graph.tensors[graph.inputs[0]].shape[1..] != *shape {
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
        let err = got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
        worst = worst.max(err);
    }
    worst
}

const FLOAT_FIXTURES: [&str; 6] = ["mlp", "digits_cnn", "dscnn", "resnet", "conv1d", "mobile_block"];

#[test]
fn float_graphs_match_onnxruntime() {
    for name in FLOAT_FIXTURES {
        for layout in [InputLayout::Nhwc, InputLayout::Nchw] {
            let options = Options { input_layout: layout, ..Options::default() };
            let graph = read(name, &options).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let err = float_error(name, &graph, layout);
            println!("{name} ({layout:?} input): {} operators, worst relative error {err:.2e}", graph.nodes.len());
            assert!(err <= 1e-4, "{name}: relative error {err} against onnxruntime");
        }
    }
}
