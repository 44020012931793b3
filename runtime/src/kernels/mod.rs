//! Kernels: the layer math. `reference/` is the specification (portable, plain loops, TFLM's
//! rounding); `optimized/` computes the same bits with less work, through the micro-kernels of
//! the target's architecture (`cortex_m/` with the DSP extension, `riscv/`, otherwise
//! `portable/`). The
//! operators call the functions below, which take the optimized kernels unless the crate is
//! built with the `reference-kernels` feature.

pub mod fixed_point;
pub mod optimized;
pub mod reference;

// The one place that picks an architecture: `build.rs` sets `mote_arm_dsp` for Arm targets
// with the DSP extension (thumbv7em); RISC-V is `target_arch = "riscv32"`.
#[cfg(mote_arm_dsp)]
#[path = "cortex_m/mod.rs"]
pub(crate) mod arch;
#[cfg(all(not(mote_arm_dsp), target_arch = "riscv32"))]
#[path = "riscv/mod.rs"]
pub(crate) mod arch;
#[cfg(not(any(mote_arm_dsp, target_arch = "riscv32")))]
#[path = "portable/mod.rs"]
pub(crate) mod arch;
/// The portable micro-kernels, also on targets that have their own (their fallbacks).
#[cfg(any(mote_arm_dsp, target_arch = "riscv32"))]
#[allow(dead_code)] // the architecture module uses only some of them
pub(crate) mod portable;

#[cfg(not(feature = "reference-kernels"))]
pub use optimized::{
    add, average_pool_2d, conv_2d, depthwise_conv_2d, fully_connected, max_pool_2d,
};
#[cfg(feature = "reference-kernels")]
pub use reference::{
    add, average_pool_2d, conv_2d, depthwise_conv_2d, fully_connected, max_pool_2d,
};

/// Views bytes as int8 values.
#[inline(always)]
pub fn as_i8(bytes: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity (every bit pattern).
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) }
}

/// Views bytes as mutable int8 values.
#[inline(always)]
pub fn as_i8_mut(bytes: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `as_i8`; the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<i8>(), bytes.len()) }
}

/// Bias of channel `c` from little-endian i32 bytes (0 without bias or out of range).
#[inline(always)]
pub fn bias_at(bias: Option<&[u8]>, c: usize) -> i32 {
    bias.and_then(|b| b.as_chunks::<4>().0.get(c))
        .map_or(0, |&w| i32::from_le_bytes(w))
}
