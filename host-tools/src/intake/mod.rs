//! Models and data from outside: [`tflite`] reads and verifies a `.tflite` file, [`import`]
//! turns its int8 graph into a [`HostGraph`](crate::plan::graph::HostGraph), [`data`] loads a
//! model's CSV or NPY data set.

pub mod data;
pub mod float_tflite;
pub mod import;
pub mod tflite;
