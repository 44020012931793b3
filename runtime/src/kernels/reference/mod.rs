//! Portable reference kernels: TFLM's reference int8 kernels, written from the TFLite
//! semantics. Each takes validated shapes and parameters (the operator's `validate` proved
//! every length) and never fails.

mod elementwise;
mod fully_connected;
mod softmax;

pub use elementwise::{dequantize, quantize, rescale};
pub use fully_connected::fully_connected;
pub use softmax::softmax;
