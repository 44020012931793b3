//! Float models through mote's own calibration: the four float MLPerf Tiny models
//! (`model_float32.tflite`) read into a float graph, which must reproduce TensorFlow's float
//! outputs, then quantized by mote and compared, against the float outputs, with the official
//! int8 models the TFLite converter made from the same float models.
//!
//! Run: `cargo test -p mote-tests --test float_import -- --nocapture` (prints the table the
//! README quotes).

use std::path::Path;

use mote_tests::{host_outputs, mlperf_dir, read};
use mote_tools::float::{Graph, eval};
use mote_tools::intake::data::{SplitMix64, read_array};
use mote_tools::intake::{float_tflite, tflite};
use mote_tools::quantize::{self, calibrate::Method};

/// The input's int8 quantization, from the model's manifest.
fn input_quantization(dir: &Path) -> (f32, i32) {
    let m: serde_json::Value = serde_json::from_slice(&read(&dir.join("manifest.json"))).unwrap();
    let q = &m["input"]["quant"];
    (
        q["scale"][0].as_f64().unwrap() as f32,
        q["zero_point"][0].as_i64().unwrap() as i32,
    )
}

fn output_quantization(dir: &Path) -> (f32, i32) {
    let m: serde_json::Value = serde_json::from_slice(&read(&dir.join("manifest.json"))).unwrap();
    let q = &m["output"]["quant"];
    (
        q["scale"][0].as_f64().unwrap() as f32,
        q["zero_point"][0].as_i64().unwrap() as i32,
    )
}

fn float_graph(dir: &Path) -> Graph {
    let bytes = read(&dir.join("model_float32.tflite"));
    let model = tflite::read(&bytes).unwrap();
    assert!(float_tflite::is_float(&model));
    float_tflite::read(&model).unwrap()
}

fn top1(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Agreement of top-1 with the float outputs, for mote's quantization and the converter's.
///
/// `tolerance`: the largest difference from TensorFlow's float outputs (a dynamic-range
/// model's reference quantizes activations on the fly, so mote's exact float differs more).
fn classifier(model: &str, calibration_samples: usize, tolerance: f32) {
    let dir = mlperf_dir().join(model);
    let graph = float_graph(&dir);
    let (s, zp) = input_quantization(&dir);
    let dequantize = |bytes: &[u8]| -> Vec<f32> {
        bytes.iter().map(|&b| (f32::from(b as i8) - zp as f32) * s).collect()
    };
    let inputs = read(&dir.join("random_inputs.bin"));
    let n_in = graph.tensors[graph.inputs[0]].elements();
    let want = read_array(&dir.join("random_outputs_float_model.npy")).unwrap();

    // The float graph as mote reads it reproduces TensorFlow's float outputs.
    let mut float_out = Vec::new();
    for (i, x) in inputs.chunks_exact(n_in).enumerate() {
        let x = dequantize(x);
        let values = eval::run(&graph, &[&x]).unwrap();
        let got = values[graph.outputs[0]].clone().unwrap();
        let want = want.sample(i);
        let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(
            worst <= tolerance,
            "{model} sample {i}: float output differs by {worst}"
        );
        float_out.push(got);
    }

    // Calibration on other random inputs of the same distribution.
    let mut rng = SplitMix64::new(7);
    let calib: Vec<Vec<f32>> = (0..calibration_samples)
        .map(|_| {
            let bytes: Vec<u8> = (0..n_in).map(|_| rng.next_u64() as u8).collect();
            dequantize(&bytes)
        })
        .collect();
    let samples: Vec<Vec<&[f32]>> = calib.iter().map(|x| vec![x.as_slice()]).collect();
    let imported = quantize::float_model(&graph, &samples, Method::MinMax).unwrap();
    let ours = host_outputs(&imported.blob, &inputs);
    let official = read(&dir.join("random_outputs_tflm.bin"));
    let classes = float_out[0].len();
    let agree = |out: &[u8]| {
        out.chunks_exact(classes)
            .zip(&float_out)
            .filter(|(q, f)| {
                let q: Vec<f32> = q.iter().map(|&b| f32::from(b as i8)).collect();
                top1(&q) == top1(f)
            })
            .count()
    };
    let (os, ozp) = output_quantization(&dir);
    let rmse = |out: &[u8]| {
        let sq: f32 = out
            .iter()
            .zip(float_out.iter().flatten())
            .map(|(&q, f)| ((f32::from(q as i8) - ozp as f32) * os - f).powi(2))
            .sum();
        (sq / out.len() as f32).sqrt()
    };
    let mut classes_seen: Vec<usize> = float_out.iter().map(|f| top1(f)).collect();
    classes_seen.sort_unstable();
    classes_seen.dedup();
    println!(
        "{model}: on {} random inputs ({} distinct float top-1 classes): top-1 agreement with \
         float mote {} converter {}; output RMSE vs float mote {:.5} converter {:.5}",
        float_out.len(),
        classes_seen.len(),
        agree(&ours),
        agree(&official),
        rmse(&ours),
        rmse(&official)
    );
}

#[test]
fn kws_dscnn() {
    classifier("kws_dscnn", 50, 5e-2);
}

#[test]
fn ic_resnet8() {
    classifier("ic_resnet8", 50, 1e-4);
}

#[test]
fn vww_mobilenetv1_025() {
    classifier("vww_mobilenetv1_025", 50, 1e-4);
}
