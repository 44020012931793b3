//! The one error type of the runtime: flat, `Copy`, named by the phase that found the problem.

use core::fmt;

/// Why a blob was refused or an inference could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The blob is shorter than its header or than the payload length the header declares.
    Truncated,
    /// The blob does not start with `MOTE`.
    BadMagic,
    /// The blob was written for another format version.
    UnsupportedVersion(u16),
    /// The checksum does not match: the blob is corrupt.
    BadChecksum,
    /// The payload does not decode as a graph (or has bytes after it).
    Malformed,
    /// A tensor record does not decode or describes an impossible tensor.
    BadTensor(u16),
    /// An operator record does not decode; the value is its index.
    BadOp(u16),
    /// Operator `op` is of a kind this build of the runtime leaves out (its cargo feature,
    /// `op-...`, is off).
    UnsupportedOp {
        /// Index of the operator.
        op: u16,
        /// Its kind, as TFLite spells it (see [`crate::format::Op::name`]).
        name: &'static str,
    },
    /// A tensor id is out of range; the value is the id.
    TensorOutOfRange(u16),
    /// Operator `op` is given tensors whose shapes, types or sizes do not fit it.
    ShapeMismatch {
        /// Index of the operator.
        op: u16,
    },
    /// Operator `op` has a parameter outside the range the kernel supports.
    BadParameter {
        /// Index of the operator.
        op: u16,
    },
    /// The memory plan is wrong: tensor `tensor` lies outside the arena, is live when it
    /// should not be, or overlaps another live tensor.
    BadPlan {
        /// The first tensor found at fault.
        tensor: u16,
    },
    /// More than [`crate::format::MAX_LIVE`] tensors are live while operator `op` runs.
    TooManyLive {
        /// Index of the operator.
        op: u16,
    },
    /// The arena given is smaller than the plan needs.
    ArenaTooSmall {
        /// Bytes the plan needs.
        needed: u32,
        /// Bytes given.
        available: u32,
    },
    /// An input or output index beyond the graph's inputs or outputs.
    NoSuchIo(u8),
    /// Operator `op` met an input outside its domain while running (RSQRT of a value below
    /// its zero point: TFLM fails the invocation too).
    OutOfDomain {
        /// Index of the operator.
        op: u16,
    },
    /// Data handed in does not have the tensor's byte length.
    WrongLength {
        /// Bytes expected.
        expected: u32,
        /// Bytes given.
        got: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => write!(f, "blob is truncated"),
            Error::BadMagic => write!(f, "not a mote blob (bad magic)"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "blob format version {v} is not supported (this runtime reads version {})",
                crate::format::FORMAT_VERSION
            ),
            Error::BadChecksum => write!(f, "blob checksum mismatch: the blob is corrupt"),
            Error::Malformed => write!(f, "blob payload is malformed"),
            Error::BadTensor(t) => write!(f, "tensor {t} is malformed"),
            Error::BadOp(i) => write!(f, "operator {i} is malformed"),
            Error::UnsupportedOp { op, name } => write!(
                f,
                "operator {op} is a {name}, which this build of the runtime leaves out \
                 (enable its `op-` cargo feature)"
            ),
            Error::TensorOutOfRange(t) => write!(f, "tensor id {t} is out of range"),
            Error::ShapeMismatch { op } => write!(f, "operator {op}: tensor shapes do not fit"),
            Error::BadParameter { op } => write!(f, "operator {op}: parameter out of range"),
            Error::BadPlan { tensor } => write!(f, "memory plan is invalid at tensor {tensor}"),
            Error::TooManyLive { op } => write!(
                f,
                "more than {} tensors are live at operator {op}",
                crate::format::MAX_LIVE
            ),
            Error::ArenaTooSmall { needed, available } => {
                write!(
                    f,
                    "arena too small: the model needs {needed} bytes, {available} given"
                )
            }
            Error::OutOfDomain { op } => write!(
                f,
                "operator {op}: an input is outside the operator's domain (RSQRT of a negative value)"
            ),
            Error::NoSuchIo(i) => write!(f, "no graph input/output number {i}"),
            Error::WrongLength { expected, got } => {
                write!(f, "wrong data length: expected {expected} bytes, got {got}")
            }
        }
    }
}

impl core::error::Error for Error {}
