//! Optimized kernels: the same results as `reference/`, bit for bit, with less work per MAC.
//! Portable drivers (blocking, packing, border handling, per-channel parameters prepared once)
//! around the architecture's micro-kernels (`kernels::arch`: `cortex_m/`, or `portable/`).
//! Shapes a fast path does not cover take the reference kernel.
//!
//! The shared property suite (`suite.rs`) runs every kernel here against the reference.

/// Built with the `reference-kernels` feature, every kernel here takes its reference path
/// (the optimized code is then never reached, and the compiler drops it).
const REFERENCE_ONLY: bool = cfg!(feature = "reference-kernels");

mod add;
pub(crate) mod conv;
pub(crate) mod depthwise;
mod fully_connected;
pub(crate) mod gemm;
mod pool;
pub(crate) mod requant;
// With `reference-kernels` the suite would compare the reference with itself.
#[cfg(all(test, not(feature = "reference-kernels")))]
mod suite;

pub use add::add;
pub use conv::conv_2d;
pub use depthwise::depthwise_conv_2d;
pub use fully_connected::fully_connected_paired;
pub use pool::{average_pool_2d, max_pool_2d};

/// Bytes of scratch each kernel with working memory takes (see [`crate::kernels::Scratch`]);
/// the arena holds the largest of them, whichever kernels the runtime is built with.
pub mod scratch {
    pub use super::add::scratch as add;
    pub use super::conv::scratch as conv_2d;
    pub use super::depthwise::scratch as depthwise_conv_2d;
    pub use super::fully_connected::scratch_paired as fully_connected_paired;
}
