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
/// `hybrid`: the "float" model is a dynamic-range one, whose TensorFlow outputs come from
/// activations quantized on the fly; mote computes it in exact float, so only the top-1
/// class must match TensorFlow's, not every value within 1e-4.
fn classifier(model: &str, calibration_samples: usize, hybrid: bool) {
    let dir = mlperf_dir().join(model);
    let graph = float_graph(&dir);
    let (s, zp) = input_quantization(&dir);
    let dequantize = |bytes: &[u8]| -> Vec<f32> {
        bytes
            .iter()
            .map(|&b| (f32::from(b as i8) - zp as f32) * s)
            .collect()
    };
    let inputs = read(&dir.join("random_inputs.bin"));
    let n_in = graph.tensors[graph.inputs[0]].element_count();
    let want = read_array(&dir.join("random_outputs_float_model.npy")).unwrap();

    // The float graph as mote reads it reproduces TensorFlow's float outputs.
    let mut float_out = Vec::new();
    for (i, x) in inputs.chunks_exact(n_in).enumerate() {
        let x = dequantize(x);
        let values = eval::run(&graph, &[&x]).unwrap();
        let got = values[graph.outputs[0]].clone().unwrap();
        let want = want.sample(i);
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        if hybrid {
            assert_eq!(top1(&got), top1(want), "{model} sample {i}: top-1 differs");
        } else {
            assert!(
                worst <= 1e-4,
                "{model} sample {i}: float output differs by {worst}"
            );
        }
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
    assert!(
        agree(&ours) >= agree(&official),
        "{model}: mote's int8 agrees less often with the float model than the converter's"
    );
}

#[test]
fn kws_dscnn() {
    classifier("kws_dscnn", 50, true);
}

#[test]
fn ic_resnet8() {
    classifier("ic_resnet8", 50, false);
}

#[test]
fn vww_mobilenetv1_025() {
    classifier("vww_mobilenetv1_025", 50, false);
}

/// The anomaly detector on its real log-mel windows: calibrated on the even windows, measured
/// on the odd ones, as the error of the reconstruction against the float model's.
#[test]
fn ad_fc_autoencoder() {
    let dir = mlperf_dir().join("ad_fc_autoencoder");
    let graph = float_graph(&dir);
    let windows: Vec<f32> = read(&dir.join("shipped_windows_float32.bin"))
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let windows: Vec<&[f32]> = windows.chunks_exact(640).collect();
    // TensorFlow's float outputs are those of the windows as the int8 model's input sees
    // them (quantized, then dequantized).
    let (s, zp) = input_quantization(&dir);
    let seen: Vec<f32> = read(&dir.join("shipped_inputs.bin"))
        .iter()
        .map(|&q| (f32::from(q as i8) - zp as f32) * s)
        .collect();
    let seen: Vec<&[f32]> = seen.chunks_exact(640).collect();
    let want = read_array(&dir.join("shipped_outputs_float_model.npy")).unwrap();
    for (i, w) in seen.iter().enumerate() {
        let got = eval::run(&graph, &[w]).unwrap()[graph.outputs[0]]
            .clone()
            .unwrap();
        let worst = got
            .iter()
            .zip(want.sample(i))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst <= 1e-4, "window {i}: float output differs by {worst}");
    }
    let calibration: Vec<Vec<&[f32]>> = windows.iter().step_by(2).map(|w| vec![*w]).collect();
    let official = read(&dir.join("shipped_outputs_tflm.bin"));
    let (os, ozp) = output_quantization(&dir);
    let official_error = |i: usize| -> f32 {
        official[i * 640..(i + 1) * 640]
            .iter()
            .zip(want.sample(i))
            .map(|(&q, f)| ((f32::from(q as i8) - ozp as f32) * os - f).powi(2))
            .sum::<f32>()
    };
    let converter: f32 = (1..windows.len()).step_by(2).map(official_error).sum();
    for method in [Method::MinMax, Method::Percentile(99.99), Method::Mse] {
        let imported = quantize::float_model(&graph, &calibration, method).unwrap();
        let model = mote::Model::parse(&imported.blob).unwrap();
        let input = model.tensor(model.inputs()[0]).unwrap();
        let output = model.tensor(model.outputs()[0]).unwrap();
        let mut ours = 0.0f32;
        for i in (1..windows.len()).step_by(2) {
            let q = mote_tools::run::encode_real(&input, seen[i]);
            let got = mote_tools::run::to_real(&output, &host_outputs(&imported.blob, &q));
            ours += got
                .iter()
                .zip(want.sample(i))
                .map(|(a, f)| (a - f).powi(2))
                .sum::<f32>();
        }
        let n = (windows.len() / 2 * 640) as f32;
        println!(
            "ad_fc_autoencoder, {method}: reconstruction RMSE against the float model on 98 \
             held-out windows: mote {:.4}, converter {:.4}",
            (ours / n).sqrt(),
            (converter / n).sqrt()
        );
        if method == Method::MinMax {
            assert!(
                ours <= converter,
                "mote's error {ours} above the converter's {converter}"
            );
        }
    }
}
