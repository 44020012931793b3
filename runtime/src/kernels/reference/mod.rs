//! Portable reference kernels: TFLM's reference int8 kernels, written from the TFLite
//! semantics. Each takes validated shapes and parameters (the operator's `validate` proved
//! every length) and never fails.

mod activations;
#[cfg(any(test, feature = "op-audio-frontend"))]
pub mod audio;
mod binary;
mod conv;
mod depthwise_conv;
mod elementwise;
mod fully_connected;
mod gemmlowp;
#[cfg(test)]
mod goldens;
mod matmul;
mod pool;
#[cfg(test)]
mod prepare;
mod recurrent;
mod reduce;
mod resize;
mod shape;
mod sigmoid;
mod softmax;
mod wide;

pub use activations::{HardSwishParams, hard_swish, leaky_relu};
pub use binary::{
    AddParams, Broadcast, MulParams, PreluParams, add, maximum, minimum, mul, prelu, prelu_16,
    squared_difference, sub,
};
pub use conv::{Geometry, conv_2d, transpose_conv};
pub use depthwise_conv::depthwise_conv_2d;
pub use elementwise::{
    abs, clip, dequantize, inv_sqrt_multiplier, l2_normalization, quantize, requantize_bytes,
    rescale, rsqrt,
};
pub(crate) use fully_connected::requantized as fully_connected_output;
pub use fully_connected::{fully_connected, fully_connected_paired};
pub use matmul::{MatMul, MatMulParams, batch_matmul, batch_matmul_16};
pub use pool::{average_pool_2d, max_pool_2d};
pub use recurrent::{
    LstmActivation, LstmParams, LstmWeights, SvdfParams, logistic16, lstm, svdf, tanh16,
};
pub use reduce::{Reduction, arg_min_max, mean, reduce};
pub use resize::{Resize, resize_bilinear, resize_nearest};
pub use shape::{concatenation, gather, pad, strided_slice, transpose};
pub use sigmoid::{logistic, tanh};
pub use softmax::{LogSoftmaxParams, log_softmax, softmax};
pub use wide::{
    Add16Params, I16, abs_16, add_16, conv_2d_16, depthwise_conv_2d_16, dequantize_16,
    fully_connected_16, mean_16, mul_16, pool_16, quantize_16, requantize64, rescale_16, rsqrt_16,
    sigmoidal_16, softmax_16, squared_difference_16, transpose_conv_16,
};
