//! SOFTMAX, LOG_SOFTMAX, RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH,
//! ABS, RSQRT and L2_NORMALIZATION: elementwise (or row-wise) operators and their fixed-point
//! parameters. TFLM prepares them in `softmax_common.cc`, `log_softmax.cc`,
//! `activations_common.cc` (RELU, RELU6), `logistic_common.cc`, `tanh.cc`,
//! `leaky_relu_common.cc`, `hard_swish_common.cc`, `elementwise.cc` (ABS, RSQRT) and
//! `l2norm.cc` (`tensorflow/lite/micro/kernels/`).

use anyhow::{Result, anyhow, bail, ensure};
use mote::format::{
    Clamp, Clamp16, Clip, DType, HardSwish, LeakyRelu, LogSoftmax, Multiplier, Op, Rescale,
    Rescale16, Scaled, Sigmoidal, Sigmoidal16, Softmax, Unary,
};

use super::{Act, Importer, OpCx, activation_name, clamp_i8, multiplier, round_to_i32};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{ActivationFunctionType, BuiltinOperator as B};
use crate::quantize::qmath::{frexp, quantize_multiplier};

impl<'m, 'a> Importer<'m, 'a> {
    /// SOFTMAX (TFLM `CalculateSoftmaxParams`, int8 to int8).
    pub(super) fn softmax(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let beta = op
            .raw
            .builtin_options_as_softmax_options()
            .ok_or_else(|| anyhow!("{cx}: SoftmaxOptions are missing"))?
            .beta();
        let input = self.input_8_or_16(cx, op, 0)?;
        if input.dtype == DType::I16 {
            return self.softmax16(cx, op, beta, input);
        }
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        ensure!(
            output.zero_point == -128 && output.scale == 1.0 / 256.0,
            "{cx}: output quantization (scale {}, zero point {}) is not TFLM's int8 softmax \
             output (scale 1/256, zero point -128)",
            output.scale,
            output.zero_point
        );
        // PreprocessSoftmaxScaling with kScaledDiffIntegerBits = 5.
        const SCALED_DIFF_INTEGER_BITS: i32 = 5;
        let real = (f64::from(beta)
            * f64::from(input.scale)
            * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS)))
        .min(f64::from(i32::MAX));
        ensure!(
            real > 1.0,
            "{cx}: beta {beta} × input scale {} is too small for TFLM's int8 softmax",
            input.scale
        );
        let m = multiplier(cx, real, "input")?;
        let left_shift = i32::from(m.shift);
        ensure!(left_shift >= 0, "{cx}: negative softmax input shift");
        // diff_min = -CalculateInputRadius(5, left_shift, 31).
        let radius = (f64::from((1 << SCALED_DIFF_INTEGER_BITS) - 1)
            * 2f64.powi(31 - SCALED_DIFF_INTEGER_BITS)
            / 2f64.powi(left_shift))
        .floor();
        Ok(Op::Softmax(Softmax {
            input: input.id,
            output: output.id,
            input_multiplier: m.multiplier,
            input_left_shift: left_shift,
            diff_min: -(radius as i32),
        }))
    }

    /// RELU and RELU6 of int16 (TFLM `CalculateReluOpData`, `Relu6Prepare`): RELU needs zero
    /// points 0 and requantizes; RELU6 clamps the raw values to the input's quantized 0 and 6.
    fn relu16(&mut self, cx: &OpCx, op: &Operator<'_>, input: Act) -> Result<Op<'a>> {
        let output = self.output_like(cx, op, &input)?;
        same_size(cx, &input, &output)?;
        let (multiplier, clamp) = match op.builtin {
            B::RELU => {
                ensure!(
                    input.zero_point == 0 && output.zero_point == 0,
                    "{cx}: int16 RELU needs zero points 0 (TFLM refuses others)"
                );
                let real = f64::from(input.scale) / f64::from(output.scale);
                let clamp = Clamp16 {
                    min: 0,
                    max: i16::MAX,
                };
                (multiplier(cx, real, "output")?, clamp)
            }
            B::RELU6 => {
                ensure!(
                    input.zero_point == output.zero_point,
                    "{cx}: int16 RELU6 with zero points {} and {} is not supported",
                    input.zero_point,
                    output.zero_point
                );
                let six = (f64::from((6.0f32 / input.scale).round()) + f64::from(input.zero_point))
                    .clamp(-32768.0, 32767.0) as i16;
                let clamp = Clamp16 {
                    min: input.zero_point as i16,
                    max: six,
                };
                // The identity: the raw values pass, then the clamp.
                (
                    Multiplier {
                        multiplier: 1 << 30,
                        shift: 1,
                    },
                    clamp,
                )
            }
            _ => bail!("{cx}: RELU_N1_TO_1 of int16 is not supported (TFLM has none)"),
        };
        Ok(Op::Rescale16(Rescale16 {
            input: input.id,
            output: output.id,
            multiplier,
            clamp,
        }))
    }

    /// LOGISTIC and TANH of int16 (TFLM `CalculateArithmeticOpDataLogistic` and tanh.cc's
    /// `CalculateArithmeticOpData`): zero points 0, output scale 2^-15; a power-of-two input
    /// scale (2^-12, or 2^-11 for TANH) scales by 3 and a shift, any other by a truncated
    /// 15-bit multiplier.
    fn sigmoidal16(&mut self, cx: &OpCx, op: &Operator<'_>, input: Act) -> Result<Op<'a>> {
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        let logistic = op.builtin == B::LOGISTIC;
        ensure!(
            input.zero_point == 0
                && output.zero_point == 0
                && checked_log2(output.scale) == Some(-15),
            "{cx}: int16 LOGISTIC and TANH need zero points 0 and an output scale of 2^-15 \
             (TFLM refuses others)"
        );
        let pot = checked_log2(input.scale)
            .map(|l| 12 + l)
            .filter(|&s| s == 0 || (!logistic && s == 1));
        let (input_multiplier, input_left_shift) = match pot {
            Some(shift) => (0, shift as u8),
            None => {
                let mut m = f64::from(input.scale) * 4096.0 * 3.0;
                let mut shift = 0u8;
                while m <= 32767.0 / 2.0 && shift <= 30 {
                    shift += 1;
                    m *= 2.0;
                }
                (m as i32, shift)
            }
        };
        let params = Sigmoidal16 {
            input: input.id,
            output: output.id,
            input_multiplier,
            input_left_shift,
        };
        Ok(if logistic {
            Op::Logistic16(params)
        } else {
            Op::Tanh16(params)
        })
    }

    /// SOFTMAX of int16 (TFLM `CalculateSoftmaxParams`): the output scale 1/32768 and zero
    /// point 0; the multiplier `scale_in * beta / (10 / 65535)` feeds TFLM's exp table.
    fn softmax16(&mut self, cx: &OpCx, op: &Operator<'_>, beta: f32, input: Act) -> Result<Op<'a>> {
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        ensure!(
            output.zero_point == 0 && (output.scale - 1.0 / 32768.0).abs() <= 0.001 / 32768.0,
            "{cx}: output quantization (scale {}, zero point {}) is not TFLM's int16 softmax \
             output (scale 1/32768, zero point 0)",
            output.scale,
            output.zero_point
        );
        let real = f64::from(input.scale) * f64::from(beta) / (10.0 / 65535.0);
        Ok(Op::Softmax16(Scaled {
            input: input.id,
            output: output.id,
            multiplier: multiplier(cx, real, "input")?,
        }))
    }

    /// LOG_SOFTMAX (TFLM `LogSoftmaxPrepare`): the output must be quantized as TFLM's kernel
    /// writes it (scale 1/16, zero point 127), and the input scale above 2^-26 (TFLM aborts).
    pub(super) fn log_softmax(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        ensure!(
            output.scale.to_bits() == 0.0625f32.to_bits() && output.zero_point == 127,
            "{cx}: output quantization (scale {}, zero point {}) is not TFLM's int8 log-softmax \
             output (scale 1/16, zero point 127)",
            output.scale,
            output.zero_point
        );
        // PreprocessLogSoftmaxScalingExp with beta 1 and kScaledDiffIntegerBits = 5.
        let real = (f64::from(input.scale) * f64::from(1u32 << 26)).min(f64::from(i32::MAX));
        ensure!(
            real > 1.0,
            "{cx}: input scale {} is too small for TFLM's int8 log-softmax (at most 2^-26 \
             aborts TFLM)",
            input.scale
        );
        let m = multiplier(cx, real, "input")?;
        let left_shift = i32::from(m.shift);
        ensure!(
            left_shift >= 1,
            "{cx}: log-softmax input shift {left_shift} below 1"
        );
        let divisor = f64::from(1u32 << (31 - left_shift)) / f64::from(m.multiplier);
        let reverse = multiplier(cx, divisor, "reverse scaling")?;
        ensure!(
            reverse.shift <= 0,
            "{cx}: log-softmax reverse scaling {divisor} is not below one"
        );
        Ok(Op::LogSoftmax(LogSoftmax {
            input: input.id,
            output: output.id,
            input_multiplier: m.multiplier,
            input_left_shift: left_shift,
            reverse_scaling_divisor: reverse.multiplier,
            reverse_scaling_right_shift: -i32::from(reverse.shift),
            // -CalculateInputRadius(5, left_shift, 31)
            diff_min: -((31i64 << 26) >> left_shift) as i32,
        }))
    }

    /// ABS (TFLM `PrepareAbsRsqrt`): requantized only when the scales differ as float32; the
    /// identity multiplier (2^30, shift 1) otherwise, exact for the magnitudes 0..=255.
    pub(super) fn abs(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let output = self.output_like(cx, op, &input)?;
        same_size(cx, &input, &output)?;
        ensure!(
            input.dtype == DType::I8 || (input.zero_point == 0 && output.zero_point == 0),
            "{cx}: int16 ABS and RSQRT need zero points 0 (TFLM refuses others)"
        );
        let m = if input.scale == output.scale {
            Multiplier {
                multiplier: 1 << 30,
                shift: 1,
            }
        } else {
            multiplier(
                cx,
                f64::from(input.scale) / f64::from(output.scale),
                "output",
            )?
        };
        Ok(Op::Abs(Scaled {
            input: input.id,
            output: output.id,
            multiplier: m,
        }))
    }

    /// RSQRT (TFLM `PrepareAbsRsqrt`): the multiplier `1 / (sqrt(scale_in) * scale_out)` in
    /// double. An input below its zero point fails the invocation, in TFLM and in mote.
    pub(super) fn rsqrt(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        let output = self.output_like(cx, op, &input)?;
        same_size(cx, &input, &output)?;
        ensure!(
            input.dtype == DType::I8 || (input.zero_point == 0 && output.zero_point == 0),
            "{cx}: int16 ABS and RSQRT need zero points 0 (TFLM refuses others)"
        );
        let real = 1.0 / (f64::from(input.scale).sqrt() * f64::from(output.scale));
        let m = multiplier(cx, real, "output")?;
        ensure!(
            m.shift >= -11,
            "{cx}: the RSQRT multiplier {real} is too small (TFLM would shift right by more \
             than 31)"
        );
        Ok(Op::Rsqrt(Scaled {
            input: input.id,
            output: output.id,
            multiplier: m,
        }))
    }

    /// L2_NORMALIZATION (TFLM `L2NormPrepare`): no fused activation. TFLM writes the output in
    /// scale 1/128, zero point 0 whatever the output tensor declares, and so does mote.
    pub(super) fn l2_normalization(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_l2_norm_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        ensure!(
            activation == ActivationFunctionType::NONE,
            "{cx}: fused activation {} is not supported (TFLM supports none)",
            activation_name(activation)
        );
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape && !input.shape.is_empty(),
            "{cx}: input shape {:?} and output shape {:?} must be equal and not scalar",
            input.shape,
            output.shape
        );
        Ok(Op::L2Normalization(Unary {
            input: input.id,
            output: output.id,
        }))
    }

    /// RELU, RELU6 and RELU_N1_TO_1 as a rescale and clamp.
    pub(super) fn relu(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        if input.dtype == DType::I16 {
            return self.relu16(cx, op, input);
        }
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.elements() == output.elements(),
            "{cx}: input and output differ in size"
        );
        if op.builtin == B::RELU6 {
            // TFLM's int8 RELU6 clamps the input bytes to [zero point, quantized 6] of the
            // *input* and ignores the output quantization (`Relu6Prepare`): the raw bytes pass
            // through, whatever the output's scale and zero point say they mean.
            let six = float_to_int8(6.0, input.scale, input.zero_point);
            let zero = clamp_i8(i64::from(input.zero_point));
            return Ok(Op::Clip(Clip {
                input: input.id,
                output: output.id,
                clamp: Clamp {
                    min: zero,
                    max: six,
                },
            }));
        }
        // `CalculateReluOpData`: the scale ratio in double; the bounds `zero_point +
        // roundf(bound / scale)` in float. TFLM has no RELU_N1_TO_1; it is the same with
        // bounds -1 and 1.
        let (lo, hi) = if op.builtin == B::RELU {
            (0.0f32, None)
        } else {
            (-1.0f32, Some(1.0f32))
        };
        let real = f64::from(input.scale) / f64::from(output.scale);
        let bound = |f: f32| -> Result<i64> {
            let q = round_to_i32(f / output.scale)
                .ok_or_else(|| anyhow!("{cx}: the activation bound {f} overflows int32"))?;
            Ok(i64::from(output.zero_point) + i64::from(q))
        };
        let min = clamp_i8(bound(lo)?.max(-128));
        let max = match hi {
            Some(h) => clamp_i8(bound(h)?.min(127)),
            None => i8::MAX,
        };
        ensure!(min <= max, "{cx}: the activation range is empty");
        Ok(Op::Rescale(Rescale {
            input: input.id,
            output: output.id,
            multiplier: multiplier(cx, real, "output")?,
            clamp: Clamp { min, max },
        }))
    }

    /// LOGISTIC and TANH (TFLM `CalculateArithmeticOpDataLogistic` / TANH's
    /// `CalculateArithmeticOpData`, int8: `kInputIntegerBits = 4`).
    pub(super) fn sigmoidal(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_8_or_16(cx, op, 0)?;
        if input.dtype == DType::I16 {
            return self.sigmoidal16(cx, op, input);
        }
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input shape {:?} differs from output shape {:?}",
            input.shape,
            output.shape
        );
        // The kernels write a fixed output quantization; TFLM checks only LOGISTIC's zero
        // point, so a model with another output scale would be silently wrong there.
        let logistic = op.builtin == B::LOGISTIC;
        let (scale, zp) = if logistic {
            (1.0 / 256.0, -128)
        } else {
            (1.0 / 128.0, 0)
        };
        ensure!(
            output.scale == scale && output.zero_point == zp,
            "{cx}: output quantization (scale {}, zero point {}) is not the int8 kernel's \
             (scale {scale}, zero point {zp})",
            output.scale,
            output.zero_point
        );
        const INPUT_INTEGER_BITS: i32 = 4;
        let real = f64::from(input.scale) * f64::from(1u32 << (31 - INPUT_INTEGER_BITS));
        let (q, shift) = frexp(real);
        // No `q_fixed == 2^31` correction here in TFLM: that case overflows int32 there.
        let q_fixed = (q * 2f64.powi(31)).round();
        ensure!(
            q_fixed < 2f64.powi(31),
            "{cx}: input scale {} rounds to a multiplier TFLM overflows",
            input.scale
        );
        ensure!(
            (0..=31).contains(&shift),
            "{cx}: input scale {} is outside the range TFLM's int8 kernel handles",
            input.scale
        );
        let radius = (f64::from((1 << INPUT_INTEGER_BITS) - 1) * 2f64.powi(31 - INPUT_INTEGER_BITS)
            / 2f64.powi(shift))
        .floor() as i32;
        let params = Sigmoidal {
            input: input.id,
            output: output.id,
            input_range_radius: radius,
            input_multiplier: q_fixed as i32,
            input_left_shift: shift,
        };
        Ok(if logistic {
            Op::Logistic(params)
        } else {
            Op::Tanh(params)
        })
    }

    /// LEAKY_RELU (TFLM `CalculateOpDataLeakyRelu`). Current TFLM forms both ratios in
    /// double; older releases formed them in float, which moves some outputs by one (TFLM's
    /// recorded outputs decide: see the golden test).
    pub(super) fn leaky_relu(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let alpha = op
            .raw
            .builtin_options_as_leaky_relu_options()
            .ok_or_else(|| anyhow!("{cx}: LeakyReluOptions are missing"))?
            .alpha();
        let input = self.input_8_or_16(cx, op, 0)?;
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input and output shapes differ"
        );
        let (s_in, s_out) = (f64::from(input.scale), f64::from(output.scale));
        let alpha_real = s_in * f64::from(alpha) / s_out;
        let identity_real = s_in / s_out;
        Ok(Op::LeakyRelu(LeakyRelu {
            input: input.id,
            output: output.id,
            identity: multiplier(cx, identity_real, "identity")?,
            alpha: signed_multiplier(alpha_real).ok_or_else(|| {
                anyhow!("{cx}: alpha {alpha} gives a multiplier that cannot be represented")
            })?,
        }))
    }

    /// HARD_SWISH (TFLM `HardSwishPrepare`: the scale ratios in float, as every TFLM revision
    /// forms them, then Q31 multipliers rounded to Q15). TFLM's recorded outputs agree, though
    /// they do not tell this from double (one Q15 step apart in one golden case).
    pub(super) fn hard_swish(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        ensure!(
            input.shape == output.shape,
            "{cx}: input and output shapes differ"
        );
        let hires_input_scale = (1.0f32 / 128.0) * input.scale;
        let reluish_scale = 3.0f32 / 32768.0;
        let out = multiplier(cx, f64::from(hires_input_scale / output.scale), "output")?;
        ensure!(
            out.shift <= 0,
            "{cx}: input scale / output scale is too large for TFLM's int8 HARD_SWISH"
        );
        let reluish = multiplier(cx, f64::from(hires_input_scale / reluish_scale), "relu-ish")?;
        Ok(Op::HardSwish(HardSwish {
            input: input.id,
            output: output.id,
            reluish_multiplier: downscale_to_i16(reluish.multiplier),
            reluish_exponent: reluish.shift,
            output_multiplier: downscale_to_i16(out.multiplier),
            output_exponent: out.shift,
        }))
    }
}

/// `QuantizeMultiplier` for any sign (LEAKY_RELU's alpha may be negative): TFLM's code path
/// for a negative value, whose `q_fixed == 2^31` correction never applies.
fn signed_multiplier(real: f64) -> Option<Multiplier> {
    if real >= 0.0 {
        return quantize_multiplier(real);
    }
    if !real.is_finite() {
        return None;
    }
    let (q, shift) = frexp(real);
    let q_fixed = (q * 2f64.powi(31)).round() as i64;
    if shift < -31 {
        return Some(Multiplier::default());
    }
    if shift > 30 {
        return None;
    }
    Some(Multiplier {
        multiplier: i32::try_from(q_fixed).ok()?,
        shift: shift as i8,
    })
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`.
fn downscale_to_i16(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        i16::MAX
    } else {
        ((m + ROUNDING) >> 16) as i16
    }
}

/// TFLM's `FloatToQuantizedType<int8_t>`: `round(value / scale) + zero_point`, clamped.
fn float_to_int8(value: f32, scale: f32, zero_point: i32) -> i8 {
    let q = f64::from((value / scale).round()) + f64::from(zero_point);
    clamp_i8(q.clamp(-1e6, 1e6) as i64)
}

/// Input and output of a one-to-one operator hold as many elements.
fn same_size(cx: &OpCx, input: &Act, output: &Act) -> Result<()> {
    ensure!(
        input.elements() == output.elements(),
        "{cx}: input shape {:?} and output shape {:?} differ in size",
        input.shape,
        output.shape
    );
    Ok(())
}

/// TFLM's `CheckedLog2` in float: `log2(x)` rounded, if within 1e-3 of an integer.
fn checked_log2(x: f32) -> Option<i32> {
    let l = x.ln() * (1.0f32 / 2f32.ln());
    let r = l.round();
    ((l - r).abs() < 1e-3).then_some(r as i32)
}
