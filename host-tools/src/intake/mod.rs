//! Models and data from outside: [`tflite`] reads and verifies a `.tflite` file, [`import`]
//! turns its int8 graph into a [`HostGraph`](crate::plan::graph::HostGraph); float models
//! ([`onnx`], [`float_tflite`]) become a [`float`](crate::float) graph, with [`reference`]
//! choosing the reader by content; [`data`] loads CSV and NPY data, [`audio`] WAV clips and
//! their features.

pub mod audio;
pub mod data;
pub mod float_tflite;
pub mod import;
pub mod onnx;
pub mod reference;
pub mod tflite;
