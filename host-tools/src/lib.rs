//! The host side of mote: training, quantization, import, memory planning, inspection and
//! running models on the host and in QEMU. The `mote` binary is a thin CLI over this.
//!
//! The pipeline, one module per stage:
//! - [`intake`]: models and data from outside: int8 `.tflite` files imported as they are,
//!   float `.tflite` and ONNX files read into a [`float`] graph, and CSV/NPY data sets.
//! - [`float`]: a float model in NHWC with TFLite's operators, and its f32 evaluator.
//! - [`train`]: a model's spec, float training (feature `train`) and float versus int8
//!   evaluation.
//! - [`quantize`]: post-training quantization of a trained float model.
//! - [`plan`]: the host graph both front ends produce, its memory plan, and the blob.
//! - [`run`], [`dump`], [`inspect`]: a blob on the host: run it, dump every layer, show what it
//!   holds.
//! - [`validate`]: an int8 blob against its float reference, whole and layer by layer.
//! - [`sign`]: signed models: keys, envelopes.
//! - [`device`]: a blob on an emulated board: QEMU runs and benchmarks.
//! - [`io`]: atomic file writes, and [`plot`]: SVG charts, shared by all.
// Only the flatc-generated TFLite reader uses `unsafe` (it allows it for itself).
#![deny(unsafe_code)]

pub mod device;
pub mod dump;
pub mod float;
pub mod inspect;
pub mod intake;
pub mod io;
pub mod plan;
pub mod plot;
pub mod quantize;
pub mod run;
pub mod sign;
pub mod train;
pub mod validate;
