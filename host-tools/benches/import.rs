//! How long importing a float model takes: the MLPerf Tiny ResNet-8 (`model_float32.tflite`,
//! 12.5 M MACs per inference) read, calibrated on 500 samples by each method, written as int8
//! and imported as a blob, the samples split over the available cores. The samples are seeded
//! pseudo-random images (the time does not depend on their content).
//!
//! Run: `cargo bench -p mote-tools --bench import`.

use std::path::Path;
use std::time::Instant;

use mote_tools::intake::data::SplitMix64;
use mote_tools::intake::reference;
use mote_tools::quantize::{self, calibrate::Method};

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/mlperf-tiny/ic_resnet8/model_float32.tflite");
    let started = Instant::now();
    let reference = reference::load(&path, &Default::default()).expect("the float ResNet-8 reads");
    let read = started.elapsed();
    let len = reference.input_len(0);
    let mut rng = SplitMix64::new(1);
    let samples: Vec<Vec<f32>> = (0..500)
        .map(|_| (0..len).map(|_| rng.unit_f32() * 2.0 - 1.0).collect())
        .collect();
    let per_sample: Vec<Vec<&[f32]>> = samples.iter().map(|s| vec![s.as_slice()]).collect();
    println!("ResNet-8 float model read in {:.3} s", read.as_secs_f64());
    for method in [
        Method::MinMax,
        Method::MovingAverage,
        Method::Percentile(99.99),
        Method::Mse,
    ] {
        let started = Instant::now();
        let imported = quantize::float_model(&reference.graph, &per_sample, method)
            .expect("the float ResNet-8 quantizes");
        println!(
            "calibrated ({method}) on {} samples, written and imported in {:.2} s (blob {} bytes)",
            samples.len(),
            started.elapsed().as_secs_f64(),
            imported.blob.len()
        );
    }
}
