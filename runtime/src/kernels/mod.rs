//! Kernels: the layer math. `reference/` is the specification (portable, plain loops, TFLM's
//! rounding); `optimized/` computes the same bits with less work, through the micro-kernels of
//! the target's architecture (`cortex_m/` with the DSP extension, `riscv/`, otherwise
//! `portable/`). The operators call the optimized kernels, which take the reference path
//! throughout when the crate is built with the `reference-kernels` feature.

pub mod fixed_point;
pub mod optimized;
pub mod reference;

// The one place that picks an architecture: `build.rs` sets `mote_arm_dsp` for Arm targets
// with the DSP extension (thumbv7em) and `mote_riscv` for RISC-V (or on request on the host,
// for Miri).
#[cfg(mote_arm_dsp)]
#[path = "cortex_m/mod.rs"]
pub(crate) mod arch;
#[cfg(all(not(mote_arm_dsp), mote_riscv))]
#[path = "riscv/mod.rs"]
pub(crate) mod arch;
#[cfg(not(any(mote_arm_dsp, mote_riscv)))]
#[path = "portable/mod.rs"]
pub(crate) mod arch;
/// The portable micro-kernels, also on targets that have their own (their fallbacks).
#[cfg(any(mote_arm_dsp, mote_riscv))]
#[allow(dead_code)] // the architecture module uses only some of them
pub(crate) mod portable;

pub use optimized::{
    add, average_pool_2d, conv_2d, depthwise_conv_2d, fully_connected_paired, max_pool_2d, scratch,
};

/// Kernel code a build can leave out, each part behind a cargo feature of its own, so that a
/// firmware whose models do not need it carries none of it: the reference convolutions for
/// the shapes the optimized kernels leave to them, and the optimized kernels' general paths
/// for shapes other than the common fast ones. `Model::parse` refuses an operator whose path
/// is not built (naming the feature), and a compiled-in model (`mote::compile`) that needs
/// one does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    /// CONV_2D whose filter covers part of the input channels (groups): the reference kernel.
    GroupedConv,
    /// DEPTHWISE_CONV_2D with a channel multiplier above 1, or a filter of more than 25 taps:
    /// the reference kernel.
    DepthwiseMultiplier,
    /// CONV_2D other than a pointwise one (1x1, unit strides, no padding, channels in groups
    /// of four) or a first layer's few input channels (up to three on Arm, one on RISC-V):
    /// the receptive field packed tap by tap.
    ConvGeneral,
    /// DEPTHWISE_CONV_2D other than 3x3 lines (of at least 8 outputs on RISC-V) whose every
    /// channel folds the output zero point: the loop over output pixels.
    DepthwiseGeneral,
}

impl KernelPath {
    /// Whether this build has the path.
    pub const fn built(self) -> bool {
        match self {
            KernelPath::GroupedConv => cfg!(feature = "op-conv-grouped"),
            KernelPath::DepthwiseMultiplier => cfg!(feature = "op-depthwise-multiplier"),
            KernelPath::ConvGeneral => cfg!(feature = "op-conv-general"),
            KernelPath::DepthwiseGeneral => cfg!(feature = "op-depthwise-general"),
        }
    }

    /// The cargo feature that builds it.
    pub const fn feature(self) -> &'static str {
        match self {
            KernelPath::GroupedConv => "op-conv-grouped",
            KernelPath::DepthwiseMultiplier => "op-depthwise-multiplier",
            KernelPath::ConvGeneral => "op-conv-general",
            KernelPath::DepthwiseGeneral => "op-depthwise-general",
        }
    }

    /// The shape and its feature, as an error message names them.
    pub const fn name(self) -> &'static str {
        match self {
            KernelPath::GroupedConv => "grouped CONV_2D (op-conv-grouped)",
            KernelPath::DepthwiseMultiplier => {
                "DEPTHWISE_CONV_2D with a channel multiplier or over 25 taps \
                 (op-depthwise-multiplier)"
            }
            KernelPath::ConvGeneral => {
                "CONV_2D other than pointwise or a first layer's few channels (op-conv-general)"
            }
            KernelPath::DepthwiseGeneral => {
                "DEPTHWISE_CONV_2D other than 3x3 lines (op-depthwise-general)"
            }
        }
    }
}

/// The micro-kernels a target builds with (`build.rs` picks them from the target's name), and
/// the kernel paths they choose by shape: the compile step runs on the host and names the
/// features of a firmware's target ([`KernelPath`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Arm with the DSP extension (thumbv7em: Cortex-M4, M7).
    ArmDsp,
    /// RISC-V (riscv32).
    Riscv,
    /// Everything else: the portable micro-kernels.
    Portable,
}

impl Isa {
    /// This build's micro-kernels.
    pub const HERE: Isa = if cfg!(mote_arm_dsp) {
        Isa::ArmDsp
    } else if cfg!(mote_riscv) {
        Isa::Riscv
    } else {
        Isa::Portable
    };

    /// The micro-kernels of the target named `triple`, as `build.rs` picks them.
    pub fn of_target(triple: &str) -> Isa {
        if triple.starts_with("thumbv7em") {
            Isa::ArmDsp
        } else if triple.starts_with("riscv32") {
            Isa::Riscv
        } else {
            Isa::Portable
        }
    }

    /// Whether `self` is `other` (for the compile-time checks of a compiled-in model).
    pub const fn is(self, other: Isa) -> bool {
        self as u8 == other as u8
    }

    /// Columns of CONV_2D's widest blocks on this target, and the least depth they take
    /// (`arch::WIDE_COLUMNS`, `arch::WIDE_MIN_DEPTH`).
    pub(crate) const fn wide_blocks(self) -> (usize, usize) {
        match self {
            Isa::ArmDsp | Isa::Portable => (4, 0),
            Isa::Riscv => (3, 17),
        }
    }

    /// Most input channels of the fields CONV_2D gathers whole (`arch::SHALLOW_CHANNELS`).
    pub(crate) const fn shallow_channels(self) -> usize {
        match self {
            Isa::ArmDsp | Isa::Portable => 3,
            Isa::Riscv => 1,
        }
    }

    /// Outputs along a line from which DEPTHWISE_CONV_2D takes the 3x3 line path
    /// (`arch::DEPTHWISE_LINES_FROM`).
    pub(crate) const fn depthwise_lines_from(self) -> usize {
        match self {
            Isa::ArmDsp | Isa::Portable => 1,
            Isa::Riscv => 8,
        }
    }
}

// The table above agrees with this build's architecture module (each target's build checks
// its own row).
const _: () = {
    let here = Isa::HERE;
    assert!(
        here.wide_blocks().0 == arch::WIDE_COLUMNS
            && here.wide_blocks().1 == arch::WIDE_MIN_DEPTH
            && here.shallow_channels() == arch::SHALLOW_CHANNELS
            && here.depthwise_lines_from() == arch::DEPTHWISE_LINES_FROM
            && arch::DEPTHWISE_LINES
    );
};

/// Working memory of one kernel call: the arena's bytes past the tensors, whose size
/// [`scratch`] computes from the operator's shapes (so the arena's size is known before the
/// firmware is built). Its contents are whatever the previous operator left: a kernel reads
/// only what it wrote there.
#[derive(Debug)]
pub struct Scratch<'s> {
    bytes: &'s mut [u8],
}

/// Alignment of every piece of scratch (double-word loads).
pub const SCRATCH_ALIGN: usize = 8;

/// Values any bit pattern is a valid instance of, which scratch can hold.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes is a valid `Self`, and its alignment is at
/// most [`SCRATCH_ALIGN`].
pub unsafe trait Plain: Copy {}
// SAFETY: integers of at most 8 bytes.
unsafe impl Plain for i8 {}
// SAFETY: as above.
unsafe impl Plain for i16 {}
// SAFETY: as above.
unsafe impl Plain for i32 {}

impl<'s> Scratch<'s> {
    /// Scratch over `bytes`.
    pub fn new(bytes: &'s mut [u8]) -> Self {
        Scratch { bytes }
    }

    /// Splits off `n` values of `T` at the next multiple of [`SCRATCH_ALIGN`], or `None` (and
    /// nothing is taken) if there is not room for them.
    pub fn take<T: Plain>(&mut self, n: usize) -> Option<&'s mut [T]> {
        let bytes = core::mem::take(&mut self.bytes);
        let pad = bytes.as_ptr().align_offset(SCRATCH_ALIGN);
        let len = n.checked_mul(size_of::<T>())?;
        let Some(end) = pad.checked_add(len).filter(|&e| e <= bytes.len()) else {
            self.bytes = bytes;
            return None;
        };
        let (head, rest) = bytes.split_at_mut(end);
        self.bytes = rest;
        let head = head.get_mut(pad..)?;
        // SAFETY: `head` holds `n·size_of::<T>()` bytes at an address aligned for `T` (a
        // multiple of SCRATCH_ALIGN, at least T's alignment), any bit pattern is a `T`
        // (`Plain`), and the exclusive borrow moves into the result.
        Some(unsafe { core::slice::from_raw_parts_mut(head.as_mut_ptr().cast::<T>(), n) })
    }
}

/// Bytes of scratch that pieces of `sizes` bytes take (each at an aligned start, whatever
/// the alignment of the scratch itself).
pub fn scratch_bytes(sizes: &[usize]) -> usize {
    let total = sizes.iter().fold(0usize, |t, s| {
        t.saturating_add(s.saturating_add(SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN)
    });
    if total == 0 {
        0
    } else {
        total.saturating_add(SCRATCH_ALIGN - 1)
    }
}

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
