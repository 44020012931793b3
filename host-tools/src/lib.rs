//! The host side of mote: training, quantization, import, memory planning, inspection and
//! running models on the host and in QEMU. The `mote` binary is a thin CLI over this.
// Only the flatc-generated TFLite reader uses `unsafe` (it allows it for itself).
#![deny(unsafe_code)]

pub mod bench;
pub mod bench_suite;
pub mod data;
pub mod dump;
pub mod eval;
pub mod graph;
pub mod import;
pub mod inspect;
pub mod io;
pub mod plan;
pub mod qemu;
pub mod qmath;
pub mod quantize;
pub mod run;
pub mod spec;
pub mod tflite;
#[cfg(feature = "train")]
pub mod train;
