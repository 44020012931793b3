//! Kernels: the layer math. `reference/` is the specification (portable, plain loops, TFLM's
//! rounding); architecture-specific kernels must equal it bit for bit.

pub mod fixed_point;
pub mod reference;

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
