//! The blob format: the one definition of what a `.mote` file holds.
//!
//! A blob is a fixed 16-byte [`Header`] followed by a postcard-encoded [`Graph`]. Constant data
//! (weights, biases, per-channel multipliers) is borrowed from the blob bytes, never copied.
//! `FORMAT.md` next to this crate documents the bytes; the host tools write blobs with
//! [`encode`] (feature `std`) and everything reads them through `Model::parse`.

use heapless::Vec as HVec;
use serde::{Deserialize, Serialize};

/// First four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"MOTE";
/// Version of the layout below; bumped on any incompatible change.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes in the fixed header that precedes the postcard payload.
pub const HEADER_LEN: usize = 16;
/// Most dimensions an operator record describes (PAD's paddings, a slice's begin and stride,
/// broadcasting, reductions): tensors of more dimensions go only to the operators of
/// [`Op::takes_any_rank`].
pub const MAX_RANK: usize = 4;
/// Most dimensions a tensor may have (TRANSPOSE of five dimensions, reshapes around it).
pub const MAX_TENSOR_RANK: usize = 5;
/// Most graph inputs, graph outputs or CONCATENATION inputs.
pub const MAX_IO: usize = 8;
/// Most activation tensors live at one time (while one operator runs). Validation checks the
/// memory plan in one pass over the operators against this many live tensors, so its time is
/// linear in the size of the graph; the host's planner refuses a graph that needs more.
pub const MAX_LIVE: usize = 64;
/// Each [`TensorDef`] sits in a slot of this many bytes in [`Graph::tensors`] (postcard bytes,
/// zero padded), so that tensor `i` is found without decoding tensors `0..i`. It is the largest
/// encoding a `TensorDef` can have; a unit test proves it.
pub const TENSOR_SLOT_LEN: usize = 34;

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = u16;

/// The fixed header: everything needed to check a blob before decoding it.
///
/// Bytes (all little-endian): `0..4` [`MAGIC`], `4..6` format version, `6..8` zero,
/// `8..12` payload length, `12..16` CRC-32 (IEEE) of bytes `0..12` followed by the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version the blob was written with.
    pub version: u16,
    /// Length in bytes of the postcard payload after the header.
    pub payload_len: u32,
    /// CRC-32 over header bytes `0..12` and the payload.
    pub checksum: u32,
}

impl Header {
    /// The header's 16 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.checksum.to_le_bytes());
        b
    }
}

/// The model: activation tensors, operators in execution order, and the memory plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph<'a> {
    /// Bytes of arena the memory plan needs: every activation tensor lies below this.
    pub arena_size: u32,
    /// Tensors the caller fills before `invoke`.
    pub inputs: HVec<TensorId, MAX_IO>,
    /// Tensors the caller reads after `invoke`.
    pub outputs: HVec<TensorId, MAX_IO>,
    /// Activation tensors: [`TensorDef`]s, each in a [`TENSOR_SLOT_LEN`]-byte slot.
    /// Constants are not tensors here: operators carry them (see [`Op`]).
    pub tensors: &'a [u8],
    /// Number of operators in [`Graph::ops`].
    pub op_count: u16,
    /// Postcard-encoded [`Op`]s back to back, in execution order.
    pub ops: &'a [u8],
}

/// Element type of an activation tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DType {
    /// Signed 8-bit, affine quantized: `real = scale * (q - zero_point)`.
    I8,
    /// IEEE-754 single, little-endian: only at the float boundary (QUANTIZE/DEQUANTIZE).
    F32,
    /// Signed 32-bit integers, little-endian, not quantized: indices (ARG_MAX, ARG_MIN).
    I32,
    /// Unsigned 8-bit, affine quantized: only at the graph boundary, into or out of QUANTIZE.
    U8,
    /// Signed 16-bit, little-endian, symmetric quantized (zero point 0): the activations of
    /// 16x8 models (int16 activations, int8 weights) and recurrent state.
    I16,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// An activation tensor: its type, shape, quantization and place in the memory plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorDef {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first (NHWC for images).
    pub shape: HVec<u16, MAX_TENSOR_RANK>,
    /// Quantization scale (1.0 for float tensors).
    pub scale: f32,
    /// Quantization zero point (0 for float tensors).
    pub zero_point: i32,
    /// Byte offset of the tensor in the arena.
    pub offset: u32,
    /// Index of the operator that writes the tensor (0 for graph inputs).
    pub first_op: u16,
    /// Index of the last operator that reads it (the last operator for graph outputs).
    pub last_op: u16,
}

impl TensorDef {
    /// Number of elements, or `None` if it overflows `usize`.
    pub fn elements(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(usize::from(d)))
    }

    /// Bytes the tensor occupies in the arena, or `None` on overflow.
    pub fn byte_len(&self) -> Option<usize> {
        self.elements()?.checked_mul(self.dtype.size())
    }
}

/// A fixed-point multiplier: `real ≈ multiplier * 2^(shift - 31)`, `multiplier` in `[2^30, 2^31)`
/// (or 0). Positive `shift` multiplies, negative divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Multiplier {
    /// Q31 mantissa.
    pub multiplier: i32,
    /// Power-of-two exponent.
    pub shift: i8,
}

/// How an accumulator is scaled to the output: one multiplier, or one per output channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requant<'a> {
    /// The same multiplier for every output channel.
    PerTensor(Multiplier),
    /// Per output channel: `multipliers` holds i32 little-endian, `shifts` holds i8.
    PerChannel {
        /// One little-endian i32 per output channel.
        multipliers: &'a [u8],
        /// One i8 per output channel.
        shifts: &'a [u8],
    },
}

impl Requant<'_> {
    /// Multiplier of output channel `c` (the single one for every channel when per tensor;
    /// zero past the end, which validation rules out).
    #[inline(always)]
    pub fn channel(&self, c: usize) -> Multiplier {
        match *self {
            Requant::PerTensor(m) => m,
            Requant::PerChannel {
                multipliers,
                shifts,
            } => Multiplier {
                multiplier: multipliers
                    .as_chunks::<4>()
                    .0
                    .get(c)
                    .map_or(0, |&w| i32::from_le_bytes(w)),
                shift: shifts.get(c).map_or(0, |&s| s as i8),
            },
        }
    }

    /// Number of channels the parameters cover (`None` when one multiplier serves all).
    pub fn channels(&self) -> Option<usize> {
        match self {
            Requant::PerTensor(_) => None,
            Requant::PerChannel { shifts, .. } => Some(shifts.len()),
        }
    }
}

/// Clamp of a fused activation on int16 values, in output quantized units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Clamp16 {
    /// Lowest output value.
    pub min: i16,
    /// Highest output value.
    pub max: i16,
}

impl Clamp16 {
    /// No activation: the whole int16 range.
    pub const NONE: Clamp16 = Clamp16 {
        min: i16::MIN,
        max: i16::MAX,
    };
}

/// Clamp of a fused activation, in output quantized units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Clamp {
    /// Lowest output value.
    pub min: i8,
    /// Highest output value.
    pub max: i8,
}

impl Clamp {
    /// No activation: the full int8 range.
    pub const NONE: Clamp = Clamp {
        min: i8::MIN,
        max: i8::MAX,
    };
}

/// Spatial parameters shared by convolutions and pools (TFLite semantics; padding already
/// resolved by the host from SAME/VALID into the top/left offsets TFLM computes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Window {
    /// Filter height.
    pub filter_h: u16,
    /// Filter width.
    pub filter_w: u16,
    /// Vertical stride.
    pub stride_h: u16,
    /// Horizontal stride.
    pub stride_w: u16,
    /// Vertical dilation (1 for pools).
    pub dilation_h: u16,
    /// Horizontal dilation (1 for pools).
    pub dilation_w: u16,
    /// Rows of implicit padding above the input.
    pub pad_top: u16,
    /// Columns of implicit padding left of the input.
    pub pad_left: u16,
}

/// FULLY_CONNECTED: `out = requant(in · Wᵀ + bias)`, weights `[units][depth]` int8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullyConnected<'a> {
    /// Input tensor (`batches * depth` elements).
    pub input: TensorId,
    /// Output tensor (`batches * units` elements).
    pub output: TensorId,
    /// Number of output units (rows of `weights`).
    pub units: u16,
    /// int8 weights, row-major `[units][depth]`, symmetric (zero point 0).
    pub weights: &'a [u8],
    /// Optional int32 little-endian bias, one per unit.
    pub bias: Option<&'a [u8]>,
    /// Accumulator to output scaling.
    pub requant: Requant<'a>,
    /// Fused activation.
    pub clamp: Clamp,
}

/// FULLY_CONNECTED with its weights stored as row pairs ([`Op::FullyConnectedPaired`]): the
/// host writes every int8 FULLY_CONNECTED this way ([`FullyConnected`]'s plain rows are what
/// older blobs hold; they run on the reference kernel).
///
/// Two rows share each halfword: the low byte of row `2p`'s weight is offset by 128, so the
/// halfword is exactly `w[2p][k] + 128 + 256·w[2p+1][k]`. A Cortex-M4 then multiplies two
/// rows by one column value in one `SMLAD` lane and takes the odd row alone out of the high
/// bytes (`SXTB16`): three instructions per four multiply-adds where plain rows take four,
/// and every load fetches eight weights (`LDM`) when `pairs` is word-aligned, which the
/// encoder sees to (`align`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedFullyConnected<'a> {
    /// Input tensor (`batches * depth` elements).
    pub input: TensorId,
    /// Output tensor (`batches * units` elements).
    pub output: TensorId,
    /// Number of output units (rows of the weights).
    pub units: u16,
    /// Zero to three bytes, never read, that put `pairs` at a multiple of four bytes from the
    /// blob's start.
    pub align: &'a [u8],
    /// int8 weights `[units][depth]` (symmetric) in `units.div_ceil(2)` pairs of rows, each
    /// `depth` columns of two bytes: `w[2p][k] + 128` (as u8), then `w[2p + 1][k]` (as i8).
    /// An odd last row is paired with a row of zeros.
    pub pairs: &'a [u8],
    /// Optional int32 little-endian bias, one per unit.
    pub bias: Option<&'a [u8]>,
    /// Accumulator to output scaling.
    pub requant: Requant<'a>,
    /// Fused activation.
    pub clamp: Clamp,
}

/// A value at a multiple of four bytes: the byte strings of compiled-in models
/// (`mote::compile`) are, as the host aligns a blob's row pairs.
#[repr(C, align(4))]
#[derive(Debug)]
pub struct Aligned<T>(pub T);

impl PairedFullyConnected<'_> {
    /// Columns of each row (`pairs` holds `units.div_ceil(2)` pairs of rows this long).
    pub fn depth(&self) -> usize {
        self.pairs.len() / (usize::from(self.units).div_ceil(2) * 2).max(1)
    }
}

/// CONV_2D over NHWC input, filter `[out_c][filter_h][filter_w][in_c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d<'a> {
    /// Input tensor, NHWC.
    pub input: TensorId,
    /// Output tensor, NHWC.
    pub output: TensorId,
    /// Filter geometry, strides, dilation and padding.
    pub window: Window,
    /// int8 filter, `[out_c][filter_h][filter_w][in_c]`, symmetric per channel.
    pub filter: &'a [u8],
    /// Optional int32 little-endian bias, one per output channel.
    pub bias: Option<&'a [u8]>,
    /// Accumulator to output scaling.
    pub requant: Requant<'a>,
    /// Fused activation.
    pub clamp: Clamp,
}

/// DEPTHWISE_CONV_2D over NHWC input, filter `[1][filter_h][filter_w][in_c * depth_multiplier]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthwiseConv2d<'a> {
    /// Input tensor, NHWC.
    pub input: TensorId,
    /// Output tensor, NHWC with `in_c * depth_multiplier` channels.
    pub output: TensorId,
    /// Filter geometry, strides, dilation and padding.
    pub window: Window,
    /// Output channels per input channel.
    pub depth_multiplier: u16,
    /// int8 filter, `[filter_h][filter_w][out_c]`, symmetric per channel.
    pub filter: &'a [u8],
    /// Optional int32 little-endian bias, one per output channel.
    pub bias: Option<&'a [u8]>,
    /// Accumulator to output scaling.
    pub requant: Requant<'a>,
    /// Fused activation.
    pub clamp: Clamp,
}

/// AVERAGE_POOL_2D / MAX_POOL_2D (input and output share quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2d {
    /// Input tensor, NHWC.
    pub input: TensorId,
    /// Output tensor, NHWC.
    pub output: TensorId,
    /// Pool geometry, strides and padding (dilation 1).
    pub window: Window,
    /// Fused activation.
    pub clamp: Clamp,
}

/// ADD with rescaling of both inputs to a common scale (TFLite's int8 scheme) and broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// First input.
    pub input1: TensorId,
    /// Second input.
    pub input2: TensorId,
    /// Output.
    pub output: TensorId,
    /// Left shift applied to both offset inputs before rescaling (20 for int8).
    pub left_shift: u8,
    /// Rescales input 1 to the common scale.
    pub input1_multiplier: Multiplier,
    /// Rescales input 2 to the common scale.
    pub input2_multiplier: Multiplier,
    /// Rescales the sum to the output scale.
    pub output_multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp,
}

/// Two inputs and an output, no parameters: MAXIMUM and MINIMUM (raw int8 comparison, as
/// TFLM's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Binary {
    /// First input.
    pub input1: TensorId,
    /// Second input.
    pub input2: TensorId,
    /// Output.
    pub output: TensorId,
}

/// MUL with one output rescaling and broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mul {
    /// First input.
    pub input1: TensorId,
    /// Second input.
    pub input2: TensorId,
    /// Output.
    pub output: TensorId,
    /// `scale1 * scale2 / scale_out`.
    pub output_multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp,
}

/// An operator with one input and one output and no parameters (RESHAPE, QUANTIZE from float,
/// DEQUANTIZE to float).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Unary {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
}

/// An elementwise int8 to int8 rescale followed by a clamp: RELU, RELU6, RELU_N1_TO_1, and
/// QUANTIZE between two int8 scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rescale {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// `scale_in / scale_out`.
    pub multiplier: Multiplier,
    /// Clamp in output units (the activation's range).
    pub clamp: Clamp,
}

/// SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128), TFLM's fixed-point algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Softmax {
    /// Input tensor; softmax runs over its last dimension.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// `beta * input_scale` as a Q31 multiplier (TFLite's `input_multiplier`).
    pub input_multiplier: i32,
    /// Its left shift (TFLite's `input_left_shift`).
    pub input_left_shift: i32,
    /// Smallest `input - max` that still contributes (TFLite's `diff_min`).
    pub diff_min: i32,
}

/// LOGISTIC and TANH: int8, TFLM's fixed-point algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sigmoidal {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// Inputs farther than this from the zero point saturate.
    pub input_range_radius: i32,
    /// Input rescale multiplier.
    pub input_multiplier: i32,
    /// Input rescale left shift.
    pub input_left_shift: i32,
}

/// LEAKY_RELU: two rescales, one for `x >= 0` and one (alpha folded in) for `x < 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LeakyRelu {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// `scale_in / scale_out`.
    pub identity: Multiplier,
    /// `alpha * scale_in / scale_out`.
    pub alpha: Multiplier,
}

/// HARD_SWISH: TFLite's int8 fixed-point parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HardSwish {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// Q15 multiplier of the "relu-ish" branch.
    pub reluish_multiplier: i16,
    /// Its exponent.
    pub reluish_exponent: i8,
    /// Q15 output multiplier.
    pub output_multiplier: i16,
    /// Its exponent.
    pub output_exponent: i8,
}

/// CONCATENATION along one axis; inputs and output share quantization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concatenation {
    /// Inputs, in order.
    pub inputs: HVec<TensorId, MAX_IO>,
    /// Output tensor.
    pub output: TensorId,
    /// Axis (non-negative, `< rank`).
    pub axis: u8,
}

/// PAD with the output zero point; `before[d]`/`after[d]` elements around dimension `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pad {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// Padding before each dimension.
    pub before: [u16; MAX_RANK],
    /// Padding after each dimension.
    pub after: [u16; MAX_RANK],
}

/// MEAN over the spatial axes (1 and 2) of an NHWC tensor, with rescaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mean {
    /// Input tensor, NHWC.
    pub input: TensorId,
    /// Output tensor, N11C or NC.
    pub output: TensorId,
    /// `scale_in / scale_out`.
    pub multiplier: Multiplier,
}

/// The most dimensions a [`Transpose`] sees its input in.
pub const MAX_PERMUTE_RANK: usize = 6;

/// TRANSPOSE, and the shuffles made of a reshape and a transpose (DEPTH_TO_SPACE,
/// SPACE_TO_DEPTH, the block shuffle of SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND): the input,
/// seen as the 6-D `dims`, has its dimensions permuted (output dimension `d` is `dims`
/// dimension `perm[d]`) and is written out in row-major order. Data movement: input and
/// output share quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transpose {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor, as many elements as the input.
    pub output: TensorId,
    /// How the input is seen, outermost dimension first; their product is its size.
    pub dims: [u16; MAX_PERMUTE_RANK],
    /// The permutation, outermost dimension first.
    pub perm: [u8; MAX_PERMUTE_RANK],
}

/// PRELU: `x` where it is at or above the zero point, `alpha * x` below it, `alpha` (an
/// activation or a CONSTANT) broadcast against the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prelu {
    /// Input tensor.
    pub input: TensorId,
    /// The slopes, int8, broadcast against the input.
    pub alpha: TensorId,
    /// Output tensor, of the broadcast shape.
    pub output: TensorId,
    /// `scale_in / scale_out`.
    pub positive: Multiplier,
    /// `scale_in * scale_alpha / scale_out`.
    pub negative: Multiplier,
}

/// A one-to-one operator with one multiplier: ABS (`scale_in / scale_out`) and RSQRT
/// (`1 / (sqrt(scale_in) * scale_out)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Scaled {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor, as many elements as the input.
    pub output: TensorId,
    /// The operator's multiplier.
    pub multiplier: Multiplier,
}

/// LOG_SOFTMAX over the last dimension, int8 in, int8 out (scale 1/16, zero point 127),
/// TFLM's fixed-point algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogSoftmax {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor, the input's shape.
    pub output: TensorId,
    /// Scales input differences into Q5.26 with `input_left_shift`.
    pub input_multiplier: i32,
    /// 1..=31.
    pub input_left_shift: i32,
    /// Scales the log of the sum of exponentials back to input units.
    pub reverse_scaling_divisor: i32,
    /// 0..=31.
    pub reverse_scaling_right_shift: i32,
    /// Differences below this are left out of the sum.
    pub diff_min: i32,
}

/// Raw int8 values clamped, whatever the quantization: TFLM's RELU6 (which clamps in the
/// input's units and ignores the output's quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Clip {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor, as many elements as the input.
    pub output: TensorId,
    /// The bounds, in the input's units.
    pub clamp: Clamp,
}

/// A constant the following operators read as an activation: its bytes are copied into the
/// output tensor (so that ADD, MUL and the other operators of two activations take constant
/// operands; it costs the constant's bytes of arena while it is live).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constant<'a> {
    /// Output tensor.
    pub output: TensorId,
    /// Its bytes, exactly the tensor's byte length.
    pub data: &'a [u8],
}

/// STRIDED_SLICE, SLICE, and each output of SPLIT, SPLIT_V and UNPACK: output element
/// `(o0, o1, o2, o3)` is input element `(begin[d] + o[d] * stride[d])` of the tensors seen as
/// 4-D (leading dimensions: begin 0, stride 1, count 1); raw bytes are copied, as TFLM does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StridedSlice {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor: `count`'s product of elements.
    pub output: TensorId,
    /// First index along each dimension.
    pub begin: [i32; MAX_RANK],
    /// Step along each dimension (not 0; negative walks backwards).
    pub stride: [i32; MAX_RANK],
    /// Elements taken along each dimension.
    pub count: [u16; MAX_RANK],
}

/// GATHER with constant indices: along `axis`, the output takes the input's slices at
/// `indices` (u16 little-endian), in order; raw bytes, as TFLM copies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gather<'a> {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor: the input's shape with `axis` replaced by the number of indices.
    pub output: TensorId,
    /// The dimension gathered along.
    pub axis: u8,
    /// Indices into that dimension, u16 little-endian.
    pub indices: &'a [u8],
}

/// GATHER_ND with constant indices: the input's leading `index_depth` dimensions seen as one
/// of rows (each row the rest of the tensor), the output takes the rows at `rows` (u16
/// little-endian), in order; raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherNd<'a> {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor: as many elements as the rows taken hold.
    pub output: TensorId,
    /// How many leading dimensions an index addresses (1 up to the input's rank).
    pub index_depth: u8,
    /// Row numbers, u16 little-endian.
    pub rows: &'a [u8],
}

/// What [`Reduce`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReduceKind {
    /// MEAN.
    Mean,
    /// SUM.
    Sum,
    /// REDUCE_MAX.
    Max,
    /// REDUCE_MIN.
    Min,
}

/// MEAN, SUM, REDUCE_MAX or REDUCE_MIN over any axes; the output holds the kept dimensions in
/// order (with or without the reduced ones as 1s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reduce {
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// What is computed.
    pub kind: ReduceKind,
    /// Bit `d` set: dimension `d` of the input is reduced.
    pub axes: u8,
    /// `scale_in / scale_out` (MEAN, SUM; the identity for MAX and MIN, whose input and output
    /// share quantization).
    pub multiplier: Multiplier,
}

/// ARG_MAX or ARG_MIN along one axis: int8 in, int32 indices out; the first index wins ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ArgMinMax {
    /// Input tensor, int8.
    pub input: TensorId,
    /// Output tensor, int32: the input's shape without `axis`.
    pub output: TensorId,
    /// The dimension searched.
    pub axis: u8,
    /// ARG_MAX (`true`) or ARG_MIN.
    pub max: bool,
}

/// RESIZE_NEAREST_NEIGHBOR of an NHWC tensor: output pixel `(y, x)` is input pixel
/// `(rows[y], cols[x])` (raw values; input and output share quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeNearest<'a> {
    /// Input tensor, NHWC.
    pub input: TensorId,
    /// Output tensor, NHWC: the input's batches and channels.
    pub output: TensorId,
    /// Source row of each output row, u16 little-endian (TFLM's float32 index arithmetic,
    /// done by the host tool).
    pub rows: &'a [u8],
    /// Source column of each output column, u16 little-endian.
    pub cols: &'a [u8],
}

/// RESIZE_BILINEAR of an NHWC int8 tensor in TFLM's 10-bit fixed point (raw values; input and
/// output share quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ResizeBilinear {
    /// Input tensor, NHWC.
    pub input: TensorId,
    /// Output tensor, NHWC: the input's batches and channels.
    pub output: TensorId,
    /// Input height over output height (or over one less of each, aligning corners), in
    /// units of 2^-10.
    pub scale_h: i32,
    /// The same for the width.
    pub scale_w: i32,
    /// Pixel centres at half-integer positions.
    pub half_pixel_centers: bool,
}

/// BATCH_MATMUL of two int8 tensors of at least two dimensions: the product of their last
/// two, either read transposed, the leading (batch) dimensions broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchMatMul {
    /// Left operand, `[..., rows, depth]` (`[..., depth, rows]` with `adj_x`).
    pub lhs: TensorId,
    /// Right operand, `[..., depth, cols]` (`[..., cols, depth]` with `adj_y`).
    pub rhs: TensorId,
    /// Output, `[broadcast batch..., rows, cols]`.
    pub output: TensorId,
    /// The left operand is transposed.
    pub adj_x: bool,
    /// The right operand is transposed.
    pub adj_y: bool,
    /// `scale_lhs * scale_rhs / scale_out`.
    pub multiplier: Multiplier,
}

/// PADV2 with a constant other than the zero point: PAD's record and the raw int8 value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PadWith {
    /// The padding, as PAD has it.
    pub pad: Pad,
    /// The value written into the padding (in the output's units).
    pub value: i8,
}

/// SVDF, int8 input and output (TFLM's integer kernel): a feature stage writes each filter's
/// newest activation into the state, a time stage weighs the last `memory` of them, and each
/// output unit sums `rank` filters. The state (int16, or int8, and `weights_time` of the same
/// type) persists from one invocation to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Svdf<'a> {
    /// Input, int8 `[batch, input_size]`.
    pub input: TensorId,
    /// Output, int8 `[batch, filters / rank]`.
    pub output: TensorId,
    /// State, `[batch, memory * filters]` (filter-major: each filter's `memory` values).
    pub state: TensorId,
    /// Filters summed into each output unit.
    pub rank: u16,
    /// int8 `[filters][input_size]`.
    pub weights_feature: &'a [u8],
    /// The state's type, little-endian, `[filters][memory]`.
    pub weights_time: &'a [u8],
    /// int32 little-endian, one per output unit.
    pub bias: &'a [u8],
    /// `scale_in * scale_feature / scale_state`.
    pub feature_multiplier: Multiplier,
    /// `scale_state * scale_time / scale_out`.
    pub output_multiplier: Multiplier,
}

/// UNIDIRECTIONAL_SEQUENCE_LSTM with int8 activations and an int16 cell state (TFLM's
/// 8x8->16 kernel: gates in Q3.12 through int16 sigmoid and tanh). The hidden state (int8,
/// the output's quantization) and the cell state persist from one invocation to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lstm<'a> {
    /// Input, int8 `[batch, steps, input_size]` (`[steps, batch, input_size]` time-major).
    pub input: TensorId,
    /// Output, int8: the input's first two dimensions, then `units`.
    pub output: TensorId,
    /// Hidden state, int8, `batch * units` values.
    pub hidden: TensorId,
    /// Cell state, int16, `batch * units` values, scale `2^cell_power`.
    pub cell: TensorId,
    /// The input's first dimension is time.
    pub time_major: bool,
    /// int8 `[4][units][input_size]`, gates input, forget, cell, output.
    pub input_weights: &'a [u8],
    /// int8 `[4][units][units]`.
    pub recurrent_weights: &'a [u8],
    /// int32 little-endian `[4][units]`.
    pub bias: &'a [u8],
    /// Eleven multipliers, each an i32 LE and an i8 shift ([`LSTM_MULTIPLIERS`] bytes, kept
    /// out of the record so that the `Op` every operator decodes into stays small): per gate
    /// the input stage (`scale_in * scale_weights / 2^-12`), per gate the recurrent stage
    /// (`scale_hidden * scale_recurrent / 2^-12`), then forget * cell (`2^-15`), input gate *
    /// cell gate (`2^-15 * 2^-15 / scale_cell`), output gate * tanh(cell) (`2^-15 * 2^-15 /
    /// scale_hidden`).
    pub multipliers: &'a [u8],
    /// The cell gate's activation is TANH (else none, as TFLM does for any other).
    pub cell_tanh: bool,
    /// log2 of the cell state's scale.
    pub cell_power: i8,
    /// The cell clip in cell units, if the model clips.
    pub cell_clip: Option<i16>,
}

/// CONV_2D or DEPTHWISE_CONV_2D with int16 activations and int8 weights (16x8): TFLM's
/// int64 accumulation, no zero points, an int64 bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv16<'a> {
    /// Input tensor, int16 NHWC.
    pub input: TensorId,
    /// Output tensor, int16 NHWC.
    pub output: TensorId,
    /// Filter geometry, strides, dilation and padding.
    pub window: Window,
    /// Output channels per input channel (DEPTHWISE_CONV_2D; 0 for CONV_2D).
    pub depth_multiplier: u16,
    /// int8 filter, laid out as the int8 record's (`[out_c][h][w][in_c]`, or `[h][w][out_c]`).
    pub filter: &'a [u8],
    /// Optional int64 little-endian bias, one per output channel.
    pub bias: Option<&'a [u8]>,
    /// Accumulator to output scaling (TFLM's int64 routine: shifts below 15).
    pub requant: Requant<'a>,
    /// Fused activation.
    pub clamp: Clamp16,
}

/// FULLY_CONNECTED with int16 activations and int8 weights (16x8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullyConnected16<'a> {
    /// Input tensor, int16 (`batches * depth` elements).
    pub input: TensorId,
    /// Output tensor, int16 (`batches * units` elements).
    pub output: TensorId,
    /// Output units (rows of `weights`).
    pub units: u16,
    /// int8 weights `[units][depth]`, symmetric.
    pub weights: &'a [u8],
    /// Optional int64 little-endian bias, one per unit.
    pub bias: Option<&'a [u8]>,
    /// Accumulator to output scaling (TFLM's int64 routine: shifts below 15).
    pub requant: Requant<'a>,
    /// Fused activation.
    pub clamp: Clamp16,
}

/// AVERAGE_POOL_2D or MAX_POOL_2D of int16 values (input and output share quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pool16 {
    /// Input tensor, int16 NHWC.
    pub input: TensorId,
    /// Output tensor, int16 NHWC.
    pub output: TensorId,
    /// Pool geometry, strides and padding (dilation 1).
    pub window: Window,
    /// Fused activation.
    pub clamp: Clamp16,
}

/// ADD or SUB of int16 tensors (TFLM's general path: left shift 15), with broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Add16 {
    /// First input.
    pub input1: TensorId,
    /// Second input.
    pub input2: TensorId,
    /// Output, of the broadcast shape.
    pub output: TensorId,
    /// `scale1 / (2 max(scale1, scale2))`.
    pub input1_multiplier: Multiplier,
    /// `scale2 / (2 max(scale1, scale2))`.
    pub input2_multiplier: Multiplier,
    /// `2 max(scale1, scale2) / (2^15 scale_out)`.
    pub output_multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp16,
}

/// MUL of int16 tensors (zero points 0), with broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mul16 {
    /// First input.
    pub input1: TensorId,
    /// Second input.
    pub input2: TensorId,
    /// Output, of the broadcast shape.
    pub output: TensorId,
    /// `scale1 * scale2 / scale_out`.
    pub multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp16,
}

/// LOGISTIC or TANH of int16 values (TFLM's int16 kernels; output scale 2^-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sigmoidal16 {
    /// Input tensor, int16.
    pub input: TensorId,
    /// Output tensor, int16.
    pub output: TensorId,
    /// Input scaling (0: the power-of-two case, `3 << shift`).
    pub input_multiplier: i32,
    /// Right shift of the scaled input.
    pub input_left_shift: u8,
}

/// RELU or RELU6 of int16 values: `x - zp_in` requantized, `+ zp_out`, clamped (RELU6: the
/// identity multiplier, TFLM's raw clamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rescale16 {
    /// Input tensor, int16.
    pub input: TensorId,
    /// Output tensor, int16, as many elements.
    pub output: TensorId,
    /// `scale_in / scale_out`.
    pub multiplier: Multiplier,
    /// The activation's range in output units.
    pub clamp: Clamp16,
}

/// Bytes of an LSTM's multipliers: eleven of (i32 LE, i8).
pub const LSTM_MULTIPLIERS: usize = 11 * 5;

/// Declares [`Op`] from one list of its kinds, each with TFLite's name and the build
/// condition (its `op-` feature) under which the runtime runs it, and writes its decoder by
/// hand rather than derived: a kind whose operator this build leaves out is not decoded, so
/// neither its decoder nor anything it alone uses reaches the image. Postcard numbers the
/// variants in the order listed, which `Kind` repeats.
macro_rules! operators {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($payload:ty) = $name:literal if [$($built:tt)*],
    )*) => {
        /// One operator, in execution order. Postcard numbers the variants: new operators go
        /// last, so older blobs keep decoding.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub enum Op<'a> {
            $( $(#[doc = $doc])* $variant($payload), )*
        }

        /// The operators' kinds, numbered as postcard numbers [`Op`]'s variants.
        #[derive(Debug, Clone, Copy)]
        enum Kind {
            $( $variant, )*
        }

        /// TFLite's name of each kind, by number.
        pub(crate) const KIND_NAMES: &[&str] = &[$( $name, )*];

        /// Whether this build runs each kind, by number.
        const KIND_BUILT: &[bool] = &[$( cfg!($($built)*), )*];

        /// The build condition of each kind, by number (`feature = "op-conv"`).
        #[cfg(feature = "compile")]
        pub(crate) const KIND_CONDITIONS: &[&str] = &[$( stringify!($($built)*), )*];

        impl Op<'_> {
            fn kind(&self) -> Kind {
                match self {
                    $( Op::$variant(_) => Kind::$variant, )*
                }
            }

            /// The operator's kind by number, as postcard numbers the variants.
            #[cfg(feature = "compile")]
            pub(crate) fn kind_number(&self) -> usize {
                self.kind() as usize
            }
        }

        /// Whether this build runs operator kind `kind` (by number, as postcard numbers
        /// [`Op`]'s variants): a compiled-in model asserts it for each of its operators, so a
        /// firmware built without one of them does not compile.
        #[allow(clippy::indexing_slicing)] // checked against the length
        pub const fn kind_built(kind: usize) -> bool {
            kind < KIND_BUILT.len() && KIND_BUILT[kind]
        }

        /// Postcard's encoding only (the variant by number).
        impl<'de: 'a, 'a> Deserialize<'de> for Op<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Variants<'a>(core::marker::PhantomData<Op<'a>>);
                impl<'de: 'a, 'a> serde::de::Visitor<'de> for Variants<'a> {
                    type Value = Op<'a>;

                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        f.write_str("an operator")
                    }

                    fn visit_enum<A: serde::de::EnumAccess<'de>>(
                        self,
                        data: A,
                    ) -> Result<Op<'a>, A::Error> {
                        use serde::de::VariantAccess;
                        let (number, variant): (u32, A::Variant) = data.variant()?;
                        $(
                            if cfg!($($built)*) && number == Kind::$variant as u32 {
                                return variant.newtype_variant().map(Op::$variant);
                            }
                        )*
                        Err(serde::de::Error::custom("an operator this build leaves out"))
                    }
                }
                deserializer.deserialize_enum("Op", &[], Variants(core::marker::PhantomData))
            }
        }
    };
}

/// TFLite's name of the operator kind an operator record starts with, if this build leaves
/// that kind out (a record that does not decode for that reason, not because it is damaged).
pub fn left_out(record: &[u8]) -> Option<&'static str> {
    let (number, _) = postcard::take_from_bytes::<u32>(record).ok()?;
    let number = usize::try_from(number).ok()?;
    match KIND_BUILT.get(number) {
        Some(false) => KIND_NAMES.get(number).copied(),
        _ => None,
    }
}

operators! {
    /// FULLY_CONNECTED.
    FullyConnected(FullyConnected<'a>) = "FULLY_CONNECTED" if [feature = "op-fully-connected-rows"],
    /// CONV_2D.
    Conv2d(Conv2d<'a>) = "CONV_2D" if [feature = "op-conv"],
    /// DEPTHWISE_CONV_2D.
    DepthwiseConv2d(DepthwiseConv2d<'a>) = "DEPTHWISE_CONV_2D" if [feature = "op-depthwise"],
    /// AVERAGE_POOL_2D.
    AveragePool2d(Pool2d) = "AVERAGE_POOL_2D" if [feature = "op-average-pool"],
    /// MAX_POOL_2D.
    MaxPool2d(Pool2d) = "MAX_POOL_2D" if [feature = "op-max-pool"],
    /// ADD.
    Add(Add) = "ADD" if [feature = "op-add"],
    /// MUL.
    Mul(Mul) = "MUL" if [feature = "op-mul"],
    /// RESHAPE: a copy, element count preserved.
    Reshape(Unary) = "RESHAPE" if [feature = "op-reshape"],
    /// SOFTMAX.
    Softmax(Softmax) = "SOFTMAX" if [feature = "op-softmax"],
    /// LOGISTIC.
    Logistic(Sigmoidal) = "LOGISTIC" if [feature = "op-activations"],
    /// TANH.
    Tanh(Sigmoidal) = "TANH" if [feature = "op-activations"],
    /// RELU, RELU6, RELU_N1_TO_1 and int8-to-int8 QUANTIZE.
    Rescale(Rescale) = "RESCALE" if [feature = "op-rescale"],
    /// LEAKY_RELU.
    LeakyRelu(LeakyRelu) = "LEAKY_RELU" if [feature = "op-activations"],
    /// HARD_SWISH.
    HardSwish(HardSwish) = "HARD_SWISH" if [feature = "op-activations"],
    /// CONCATENATION.
    Concatenation(Concatenation) = "CONCATENATION" if [feature = "op-concatenation"],
    /// PAD.
    Pad(Pad) = "PAD" if [feature = "op-pad"],
    /// MEAN.
    Mean(Mean) = "MEAN" if [feature = "op-mean"],
    /// QUANTIZE: float32 to int8 with the output tensor's scale and zero point.
    Quantize(Unary) = "QUANTIZE" if [feature = "op-quantize"],
    /// DEQUANTIZE: int8 to float32 with the input tensor's scale and zero point.
    Dequantize(Unary) = "DEQUANTIZE" if [feature = "op-quantize"],
    // New operators go last: postcard numbers the variants, so older blobs keep decoding.
    /// TRANSPOSE.
    Transpose(Transpose) = "TRANSPOSE" if [feature = "op-transpose"],
    /// RELU6 as TFLM computes it: a clamp of the raw values.
    Clip(Clip) = "RELU6" if [feature = "op-rescale"],
    /// A constant operand materialised in the arena.
    Constant(Constant<'a>) = "CONSTANT" if [all()],
    /// SUB: ADD's parameters, the second input subtracted.
    Sub(Add) = "SUB" if [feature = "op-sub"],
    /// MAXIMUM.
    Maximum(Binary) = "MAXIMUM" if [feature = "op-maximum"],
    /// MINIMUM.
    Minimum(Binary) = "MINIMUM" if [feature = "op-maximum"],
    /// SQUARED_DIFFERENCE: ADD's parameters (left shift 7, no clamp beyond int8), the output
    /// multiplier may exceed one.
    SquaredDifference(Add) = "SQUARED_DIFFERENCE" if [feature = "op-squared-difference"],
    /// MEAN (any axes), SUM, REDUCE_MAX, REDUCE_MIN.
    Reduce(Reduce) = "MEAN, SUM, REDUCE_MAX or REDUCE_MIN" if [any(feature = "op-mean", feature = "op-reduce")],
    /// STRIDED_SLICE, SLICE, one output of SPLIT, SPLIT_V or UNPACK.
    StridedSlice(StridedSlice) = "STRIDED_SLICE" if [feature = "op-slice"],
    /// GATHER with constant indices.
    Gather(Gather<'a>) = "GATHER" if [feature = "op-gather"],
    /// PRELU.
    Prelu(Prelu) = "PRELU" if [feature = "op-prelu"],
    /// ABS.
    Abs(Scaled) = "ABS" if [feature = "op-abs"],
    /// RSQRT.
    Rsqrt(Scaled) = "RSQRT" if [feature = "op-rsqrt"],
    /// L2_NORMALIZATION over the last dimension (output scale 1/128, zero point 0).
    L2Normalization(Unary) = "L2_NORMALIZATION" if [feature = "op-l2-normalization"],
    /// LOG_SOFTMAX over the last dimension.
    LogSoftmax(LogSoftmax) = "LOG_SOFTMAX" if [feature = "op-log-softmax"],
    /// ARG_MAX, ARG_MIN.
    ArgMinMax(ArgMinMax) = "ARG_MAX or ARG_MIN" if [feature = "op-arg-min-max"],
    /// TRANSPOSE_CONV: a CONV_2D record read the other way round (the input is the small
    /// side; filter `[out_c][filter_h][filter_w][in_c]`; the padding is derived from the
    /// output's size; dilation 1).
    TransposeConv(Conv2d<'a>) = "TRANSPOSE_CONV" if [feature = "op-transpose-conv"],
    /// RESIZE_NEAREST_NEIGHBOR.
    ResizeNearest(ResizeNearest<'a>) = "RESIZE_NEAREST_NEIGHBOR" if [feature = "op-resize"],
    /// RESIZE_BILINEAR.
    ResizeBilinear(ResizeBilinear) = "RESIZE_BILINEAR" if [feature = "op-resize"],
    /// BATCH_MATMUL.
    BatchMatMul(BatchMatMul) = "BATCH_MATMUL" if [feature = "op-batch-matmul"],
    /// PADV2 with another value than the zero point.
    PadWith(PadWith) = "PADV2" if [feature = "op-pad"],
    /// GATHER_ND with constant indices.
    GatherNd(GatherNd<'a>) = "GATHER_ND" if [feature = "op-gather"],
    /// QUANTIZE between uint8 and int8 (the converter's graph boundary for uint8 inputs and
    /// outputs): `x - zp_in` requantized by the multiplier (`scale_in / scale_out`), `+ zp_out`,
    /// saturated to the output's type.
    Requantize(Scaled) = "QUANTIZE" if [feature = "op-quantize"],
    /// SVDF (state carried across invocations).
    Svdf(Svdf<'a>) = "SVDF" if [feature = "op-svdf"],
    /// UNIDIRECTIONAL_SEQUENCE_LSTM (state carried across invocations).
    Lstm(Lstm<'a>) = "UNIDIRECTIONAL_SEQUENCE_LSTM" if [feature = "op-lstm"],
    /// CONV_2D, 16x8.
    Conv2d16(Conv16<'a>) = "CONV_2D" if [all(feature = "int16", feature = "op-conv")],
    /// DEPTHWISE_CONV_2D, 16x8.
    DepthwiseConv2d16(Conv16<'a>) = "DEPTHWISE_CONV_2D" if [all(feature = "int16", feature = "op-depthwise")],
    /// FULLY_CONNECTED, 16x8.
    FullyConnected16(FullyConnected16<'a>) = "FULLY_CONNECTED" if [all(feature = "int16", feature = "op-fully-connected")],
    /// AVERAGE_POOL_2D of int16.
    AveragePool16(Pool16) = "AVERAGE_POOL_2D" if [all(feature = "int16", feature = "op-average-pool")],
    /// MAX_POOL_2D of int16.
    MaxPool16(Pool16) = "MAX_POOL_2D" if [all(feature = "int16", feature = "op-max-pool")],
    /// ADD of int16.
    Add16(Add16) = "ADD" if [all(feature = "int16", feature = "op-add")],
    /// SUB of int16.
    Sub16(Add16) = "SUB" if [all(feature = "int16", feature = "op-sub")],
    /// MUL of int16.
    Mul16(Mul16) = "MUL" if [all(feature = "int16", feature = "op-mul")],
    /// SOFTMAX of int16 (output scale 2^-15): the multiplier scales `x - max` for the exp
    /// table (`scale_in * beta / (10 / 65535)`).
    Softmax16(Scaled) = "SOFTMAX" if [all(feature = "int16", feature = "op-softmax")],
    /// LOGISTIC of int16.
    Logistic16(Sigmoidal16) = "LOGISTIC" if [all(feature = "int16", feature = "op-activations")],
    /// TANH of int16.
    Tanh16(Sigmoidal16) = "TANH" if [all(feature = "int16", feature = "op-activations")],
    /// RELU, RELU6 of int16.
    Rescale16(Rescale16) = "RELU" if [all(feature = "int16", feature = "op-rescale")],
    /// SQUARED_DIFFERENCE of int16 (zero points 0, no left shift; the output multiplier may
    /// exceed one).
    SquaredDifference16(Add16) = "SQUARED_DIFFERENCE" if [all(feature = "int16", feature = "op-squared-difference")],
    /// TRANSPOSE_CONV, 16x8 (a CONV_2D record read the other way round, as TRANSPOSE_CONV's).
    TransposeConv16(Conv16<'a>) = "TRANSPOSE_CONV" if [all(feature = "int16", feature = "op-transpose-conv")],
    /// mote's audio front end: int16 PCM `[1, samples]` at 16 kHz to int8 log-mel features
    /// `[1, frames, 40, 1]` (`mote::kernels::reference::audio`).
    AudioFrontend(Unary) = "AUDIO_FRONTEND" if [feature = "op-audio-frontend"],
    /// FULLY_CONNECTED with its weights in row pairs.
    FullyConnectedPaired(PairedFullyConnected<'a>) = "FULLY_CONNECTED" if [feature = "op-fully-connected"],
}

impl Op<'_> {
    /// The operator's name as TFLite spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Reduce(o) => match o.kind {
                ReduceKind::Mean => "MEAN",
                ReduceKind::Sum => "SUM",
                ReduceKind::Max => "REDUCE_MAX",
                ReduceKind::Min => "REDUCE_MIN",
            },
            Op::ArgMinMax(o) if o.max => "ARG_MAX",
            Op::ArgMinMax(_) => "ARG_MIN",
            _ => KIND_NAMES.get(self.kind() as usize).copied().unwrap_or("?"),
        }
    }

    /// Calls `f` with every tensor the operator reads.
    pub fn for_each_input(&self, mut f: impl FnMut(TensorId)) {
        match self {
            Op::FullyConnected(o) => f(o.input),
            Op::FullyConnectedPaired(o) => f(o.input),
            Op::Conv2d(o) => f(o.input),
            Op::DepthwiseConv2d(o) => f(o.input),
            Op::AveragePool2d(o) | Op::MaxPool2d(o) => f(o.input),
            Op::Add(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::Mul(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::Reshape(o) | Op::Quantize(o) | Op::Dequantize(o) => f(o.input),
            Op::Softmax(o) => f(o.input),
            Op::Logistic(o) | Op::Tanh(o) => f(o.input),
            Op::Rescale(o) => f(o.input),
            Op::LeakyRelu(o) => f(o.input),
            Op::HardSwish(o) => f(o.input),
            Op::Concatenation(o) => o.inputs.iter().for_each(|&t| f(t)),
            Op::Pad(o) => f(o.input),
            Op::Mean(o) => f(o.input),
            Op::Transpose(o) => f(o.input),
            Op::Clip(o) => f(o.input),
            Op::Constant(_) => {}
            Op::Sub(o) | Op::SquaredDifference(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::Maximum(o) | Op::Minimum(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::Reduce(o) => f(o.input),
            Op::StridedSlice(o) => f(o.input),
            Op::Gather(o) => f(o.input),
            Op::Prelu(o) => {
                f(o.input);
                f(o.alpha)
            }
            Op::Abs(o) | Op::Rsqrt(o) => f(o.input),
            Op::L2Normalization(o) => f(o.input),
            Op::LogSoftmax(o) => f(o.input),
            Op::ArgMinMax(o) => f(o.input),
            Op::TransposeConv(o) => f(o.input),
            Op::ResizeNearest(o) => f(o.input),
            Op::ResizeBilinear(o) => f(o.input),
            Op::BatchMatMul(o) => {
                f(o.lhs);
                f(o.rhs)
            }
            Op::PadWith(o) => f(o.pad.input),
            Op::GatherNd(o) => f(o.input),
            Op::Requantize(o) => f(o.input),
            Op::Svdf(o) => f(o.input),
            Op::Lstm(o) => f(o.input),
            Op::Conv2d16(o) | Op::DepthwiseConv2d16(o) => f(o.input),
            Op::FullyConnected16(o) => f(o.input),
            Op::AveragePool16(o) | Op::MaxPool16(o) => f(o.input),
            Op::Add16(o) | Op::Sub16(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::Mul16(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::Softmax16(o) => f(o.input),
            Op::Logistic16(o) | Op::Tanh16(o) => f(o.input),
            Op::Rescale16(o) => f(o.input),
            Op::SquaredDifference16(o) => {
                f(o.input1);
                f(o.input2)
            }
            Op::TransposeConv16(o) => f(o.input),
            Op::AudioFrontend(o) => f(o.input),
        }
    }

    /// Whether the operator takes tensors of any rank (up to [`MAX_TENSOR_RANK`]): those that
    /// see their tensors as flat (RESHAPE, the elementwise rescales, FULLY_CONNECTED, the float
    /// boundary), through their own view (TRANSPOSE, the reductions) or broadcast over five
    /// dimensions (the binary operators). Every other operator's tensors have at most [`MAX_RANK`] dimensions.
    pub fn takes_any_rank(&self) -> bool {
        matches!(
            self,
            Op::Add(_)
                | Op::Sub(_)
                | Op::Mul(_)
                | Op::Maximum(_)
                | Op::Minimum(_)
                | Op::SquaredDifference(_)
                | Op::Prelu(_)
                | Op::Add16(_)
                | Op::Sub16(_)
                | Op::Mul16(_)
                | Op::SquaredDifference16(_)
                | Op::Reduce(_)
                | Op::Reshape(_)
                | Op::Transpose(_)
                | Op::Constant(_)
                | Op::Quantize(_)
                | Op::Dequantize(_)
                | Op::Requantize(_)
                | Op::Rescale(_)
                | Op::Rescale16(_)
                | Op::Clip(_)
                | Op::Abs(_)
                | Op::Rsqrt(_)
                | Op::FullyConnected(_)
                | Op::FullyConnectedPaired(_)
                | Op::FullyConnected16(_)
        )
    }

    /// Calls `f` with every state tensor the operator keeps from one invocation to the next
    /// (recurrent operators; TFLM's variable tensors): it reads and rewrites them in place.
    pub fn for_each_state(&self, mut f: impl FnMut(TensorId)) {
        match self {
            Op::Svdf(o) => f(o.state),
            Op::Lstm(o) => {
                f(o.hidden);
                f(o.cell)
            }
            _ => {}
        }
    }

    /// The tensor the operator writes (every operator has exactly one output).
    pub fn output(&self) -> TensorId {
        match self {
            Op::FullyConnected(o) => o.output,
            Op::FullyConnectedPaired(o) => o.output,
            Op::Conv2d(o) => o.output,
            Op::DepthwiseConv2d(o) => o.output,
            Op::AveragePool2d(o) | Op::MaxPool2d(o) => o.output,
            Op::Add(o) => o.output,
            Op::Mul(o) => o.output,
            Op::Reshape(o) | Op::Quantize(o) | Op::Dequantize(o) => o.output,
            Op::Softmax(o) => o.output,
            Op::Logistic(o) | Op::Tanh(o) => o.output,
            Op::Rescale(o) => o.output,
            Op::LeakyRelu(o) => o.output,
            Op::HardSwish(o) => o.output,
            Op::Concatenation(o) => o.output,
            Op::Pad(o) => o.output,
            Op::Mean(o) => o.output,
            Op::Transpose(o) => o.output,
            Op::Clip(o) => o.output,
            Op::Constant(o) => o.output,
            Op::Sub(o) | Op::SquaredDifference(o) => o.output,
            Op::Maximum(o) | Op::Minimum(o) => o.output,
            Op::Reduce(o) => o.output,
            Op::StridedSlice(o) => o.output,
            Op::Gather(o) => o.output,
            Op::Prelu(o) => o.output,
            Op::Abs(o) | Op::Rsqrt(o) => o.output,
            Op::L2Normalization(o) => o.output,
            Op::LogSoftmax(o) => o.output,
            Op::ArgMinMax(o) => o.output,
            Op::TransposeConv(o) => o.output,
            Op::ResizeNearest(o) => o.output,
            Op::ResizeBilinear(o) => o.output,
            Op::BatchMatMul(o) => o.output,
            Op::PadWith(o) => o.pad.output,
            Op::GatherNd(o) => o.output,
            Op::Requantize(o) => o.output,
            Op::Svdf(o) => o.output,
            Op::Lstm(o) => o.output,
            Op::Conv2d16(o) | Op::DepthwiseConv2d16(o) => o.output,
            Op::FullyConnected16(o) => o.output,
            Op::AveragePool16(o) | Op::MaxPool16(o) => o.output,
            Op::Add16(o) | Op::Sub16(o) => o.output,
            Op::Mul16(o) => o.output,
            Op::Softmax16(o) => o.output,
            Op::Logistic16(o) | Op::Tanh16(o) => o.output,
            Op::Rescale16(o) => o.output,
            Op::SquaredDifference16(o) => o.output,
            Op::TransposeConv16(o) => o.output,
            Op::AudioFrontend(o) => o.output,
        }
    }
}

/// The checksum a blob's header declares (unchecked): what identifies the model, e.g. in a
/// device's report of what it runs. `None` when the bytes are shorter than a header.
pub fn declared_checksum(blob: &[u8]) -> Option<u32> {
    let header: &[u8; HEADER_LEN] = blob.first_chunk()?;
    let [.., c0, c1, c2, c3] = *header;
    Some(u32::from_le_bytes([c0, c1, c2, c3]))
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`) of `parts` taken as one byte string.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            #[allow(clippy::indexing_slicing)] // i < 256, the table's length
            {
                table[i] = c;
            }
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            // A u8 index into a 256-entry table is always in range.
            #[allow(clippy::indexing_slicing)]
            let entry = TABLE[usize::from((crc as u8) ^ b)];
            crc = entry ^ (crc >> 8);
        }
    }
    !crc
}

#[cfg(any(test, feature = "std"))]
mod pairs_impl {
    extern crate std;
    use std::vec::Vec;

    /// The host's writer (and the tests') of [`super::PairedFullyConnected::pairs`]: int8
    /// weights `[units][depth]` (as bytes) in row pairs.
    pub fn pair_rows(weights: &[u8], depth: usize) -> Vec<u8> {
        let rows: Vec<&[u8]> = weights.chunks(depth.max(1)).collect();
        let mut pairs = Vec::with_capacity(rows.len().div_ceil(2) * 2 * depth);
        for pair in rows.chunks(2) {
            let [even, rest @ ..] = pair else { continue };
            let odd = rest.first();
            for (k, &w) in even.iter().enumerate() {
                pairs.push(w ^ 0x80); // w + 128 for an int8 w
                pairs.push(odd.and_then(|o| o.get(k)).copied().unwrap_or(0));
            }
        }
        pairs
    }
}
#[cfg(any(test, feature = "std"))]
pub use pairs_impl::pair_rows;

/// Host side: builds a blob from a graph whose sections are already encoded.
#[cfg(feature = "std")]
mod encode_impl {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Encodes tensor definitions into the slotted [`Graph::tensors`] section.
    ///
    /// # Errors
    /// If a definition does not fit its slot: only a five-dimensional shape can, when its
    /// dimensions, zero point and offset are all large (every definition of at most
    /// [`MAX_RANK`] dimensions fits).
    pub fn encode_tensors(tensors: &[TensorDef]) -> Result<Vec<u8>, postcard::Error> {
        let mut out = Vec::with_capacity(tensors.len() * TENSOR_SLOT_LEN);
        for t in tensors {
            let mut slot = [0u8; TENSOR_SLOT_LEN];
            postcard::to_slice(t, &mut slot)?;
            out.extend_from_slice(&slot);
        }
        Ok(out)
    }

    /// Encodes operators back to back into the [`Graph::ops`] section.
    ///
    /// # Errors
    /// Only if postcard cannot serialise (it always can into a `Vec`).
    pub fn encode_ops(ops: &[Op<'_>]) -> Result<Vec<u8>, postcard::Error> {
        let mut out = Vec::new();
        for op in ops {
            out.extend(postcard::to_stdvec(op)?);
        }
        Ok(out)
    }

    /// Serialises `graph` behind a [`Header`] with its checksum.
    ///
    /// # Errors
    /// Only if postcard cannot serialise, or the payload exceeds 4 GiB.
    pub fn encode(graph: &Graph<'_>) -> Result<Vec<u8>, postcard::Error> {
        let payload = postcard::to_stdvec(graph)?;
        let payload_len =
            u32::try_from(payload.len()).map_err(|_| postcard::Error::SerializeBufferFull)?;
        let mut header = Header {
            version: FORMAT_VERSION,
            payload_len,
            checksum: 0,
        }
        .to_bytes();
        let checksum = crc32(&[&header[..12], &payload]);
        header[12..16].copy_from_slice(&checksum.to_le_bytes());
        let mut blob = Vec::with_capacity(HEADER_LEN + payload.len());
        blob.extend_from_slice(&header);
        blob.extend(payload);
        Ok(blob)
    }
}
#[cfg(feature = "std")]
pub use encode_impl::{encode, encode_ops, encode_tensors};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    /// Every invocation decodes every operator record into an `Op` and moves it around, so
    /// the enum must stay as small as its largest convolution record: a big record (an LSTM's
    /// eleven multipliers) keeps its bulk in a borrowed byte string instead.
    #[test]
    fn op_stays_as_small_as_a_convolution_record() {
        let op = core::mem::size_of::<Op<'_>>();
        let largest_conv =
            core::mem::size_of::<Conv16<'_>>().max(core::mem::size_of::<Conv2d<'_>>());
        assert!(
            op <= largest_conv + 8,
            "Op is {op} bytes, a convolution {largest_conv}"
        );
    }

    #[test]
    fn largest_tensor_def_fills_its_slot_exactly() {
        // Five dimensions fit when their sizes are below 2^14 (2 bytes each).
        let five = TensorDef {
            dtype: DType::F32,
            shape: HVec::from_slice(&[16383; MAX_TENSOR_RANK]).unwrap(),
            scale: f32::MAX,
            zero_point: i32::MIN,
            offset: u32::MAX,
            first_op: u16::MAX,
            last_op: u16::MAX,
        };
        let mut buf = [0u8; 64];
        assert!(postcard::to_slice(&five, &mut buf).unwrap().len() <= TENSOR_SLOT_LEN);
        let big = TensorDef {
            dtype: DType::F32,
            shape: HVec::from_slice(&[u16::MAX; MAX_RANK]).unwrap(),
            scale: f32::MAX,
            zero_point: i32::MIN,
            offset: u32::MAX,
            first_op: u16::MAX,
            last_op: u16::MAX,
        };
        let mut buf = [0u8; 64];
        let used = postcard::to_slice(&big, &mut buf).unwrap().len();
        assert_eq!(used, TENSOR_SLOT_LEN);
    }

    /// The default build (every operator) decodes every kind.
    #[test]
    fn the_kind_tables_cover_every_operator() {
        if cfg!(feature = "all-ops") {
            assert!(KIND_BUILT.iter().all(|&built| built));
        }
    }

    #[test]
    fn byte_slices_round_trip_borrowed() {
        let fc = FullyConnected {
            input: 0,
            output: 1,
            units: 2,
            weights: &[1, 2, 3, 4],
            bias: Some(&[0; 8]),
            requant: Requant::PerTensor(Multiplier {
                multiplier: 1 << 30,
                shift: -3,
            }),
            clamp: Clamp::NONE,
        };
        let op = Op::FullyConnected(fc);
        let mut buf = [0u8; 64];
        let bytes = postcard::to_slice(&op, &mut buf).unwrap();
        let back = postcard::from_bytes::<Op<'_>>(bytes);
        // A build without the operator does not decode it, and says which it is.
        if cfg!(feature = "op-fully-connected-rows") {
            assert_eq!(back.unwrap(), op);
            assert_eq!(left_out(bytes), None);
        } else {
            assert!(back.is_err());
            assert_eq!(left_out(bytes), Some("FULLY_CONNECTED"));
        }
        assert_eq!(left_out(&[0x80]), None, "a truncated number");
        assert_eq!(left_out(&[200, 1]), None, "a kind that does not exist");
    }
}
