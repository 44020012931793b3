//! FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV: int8 weights, int32 biases
//! (int64 with int16 activations, 16x8) and per-tensor or per-channel output multipliers. TFLM prepares them in `fully_connected_common.cc`,
//! `conv_common.cc` and `depthwise_conv_common.cc` (`tensorflow/lite/micro/kernels/`), with
//! `PopulateConvolutionQuantizationParams` from `tensorflow/lite/kernels/kernel_util.cc`.

use anyhow::{Result, anyhow, bail, ensure};
use mote::format::{
    Conv2d, Conv16, DType, DepthwiseConv2d, FullyConnected, FullyConnected16, Multiplier, Op,
    Requant,
};

use super::{
    Act, Importer, OpCx, fused_clamp, fused_clamp16, multiplier, nhwc, positive, to_u16, type_name,
    window,
};
use crate::intake::tflite::schema::{
    ActivationFunctionType, FullyConnectedOptionsWeightsFormat, TensorType,
};
use crate::intake::tflite::{Operator, Tensor};

impl<'m, 'a> Importer<'m, 'a> {
    /// FULLY_CONNECTED (TFLM `CalculateOpDataFullyConnected`).
    pub(super) fn fully_connected(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let opts = op.raw.builtin_options_as_fully_connected_options();
        let activation = opts.map_or(ActivationFunctionType::NONE, |o| {
            o.fused_activation_function()
        });
        if let Some(o) = opts {
            ensure!(
                o.weights_format() == FullyConnectedOptionsWeightsFormat::DEFAULT,
                "{cx}: weights format {:?} is not supported (only DEFAULT)",
                o.weights_format()
            );
            check_bias_type(cx, o.quantized_bias_type())?;
        }
        let input = self.input_8_or_16(cx, op, 0)?;
        let weights = self.constant(cx, op, 1)?;
        let bias = self.optional_constant(cx, op, 2)?;
        let output = self.output_like(cx, op, &input)?;
        let wide = input.dtype == DType::I16;

        let [units, depth] = weights.shape[..] else {
            bail!(
                "{cx}: weights of shape {:?}; a [units, depth] matrix is needed",
                weights.shape
            )
        };
        let (units, depth) = (positive(cx, units, "units")?, positive(cx, depth, "depth")?);
        ensure!(
            output.shape.last() == Some(&units),
            "{cx}: output shape {:?} does not end in the {units} units of the weights",
            output.shape
        );
        ensure!(
            input.elements() % depth == 0 && output.elements() == input.elements() / depth * units,
            "{cx}: input shape {:?} and output shape {:?} do not fit weights [{units}, {depth}]",
            input.shape,
            output.shape
        );
        let w_bytes = int8_weights(cx, weights, units * depth, "weights")?;
        let wq = weight_quantization(cx, weights, units, 0)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, units, wide)).transpose()?;

        let requant = if wq.len() > 1 {
            // Per-channel: `PopulateConvolutionQuantizationParams`' arithmetic, in double.
            let ms = wq
                .iter()
                .map(|&w| conv_multiplier(cx, input.scale, w, output.scale))
                .collect::<Result<Vec<_>>>()?;
            self.per_channel(&ms)
        } else {
            // `GetQuantizedConvolutionMultipler`: the bias check multiplies the scales in
            // double, the multiplier itself multiplies them in float.
            let w = wq[0];
            if let Some(b) = bias {
                let bias_scale = b
                    .quantization
                    .as_ref()
                    .and_then(|q| q.scale.first().copied())
                    .unwrap_or(0.0);
                let product = f64::from(input.scale) * f64::from(w);
                let diff = (product - f64::from(bias_scale)).abs();
                ensure!(
                    diff / f64::from(output.scale) <= 0.02,
                    "{cx}: the bias scale {bias_scale} is not input scale × weight scale \
                     ({product}); TFLM refuses this model"
                );
            }
            let product = f64::from(input.scale * w);
            ensure!(product >= 0.0, "{cx}: negative scales");
            Requant::PerTensor(multiplier(cx, product / f64::from(output.scale), "output")?)
        };
        if wide {
            return Ok(Op::FullyConnected16(FullyConnected16 {
                input: input.id,
                output: output.id,
                units: to_u16(cx, units, "units")?,
                weights: w_bytes,
                bias: bias_bytes,
                requant: check_shift16(cx, requant)?,
                clamp: fused_clamp16(cx, activation, &output)?,
            }));
        }
        Ok(Op::FullyConnected(FullyConnected {
            input: input.id,
            output: output.id,
            units: to_u16(cx, units, "units")?,
            weights: w_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }

    /// CONV_2D (TFLM `ConvPrepare` / `CalculateOpDataConv`).
    pub(super) fn conv_2d(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_conv_2_doptions()
            .ok_or_else(|| anyhow!("{cx}: Conv2DOptions are missing"))?;
        check_bias_type(cx, o.quantized_bias_type())?;
        let input = self.input_8_or_16(cx, op, 0)?;
        let filter = self.constant(cx, op, 1)?;
        let bias = self.optional_constant(cx, op, 2)?;
        let output = self.output_like(cx, op, &input)?;
        let wide = input.dtype == DType::I16;

        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        let [f_o, f_h, f_w, f_i] = filter.shape[..] else {
            bail!(
                "{cx}: filter of shape {:?}; [out_c, h, w, in_c] is needed",
                filter.shape
            )
        };
        let f_o = positive(cx, f_o, "filter output channels")?;
        let f_h = positive(cx, f_h, "filter height")?;
        let f_w = positive(cx, f_w, "filter width")?;
        let f_i = positive(cx, f_i, "filter input channels")?;
        ensure!(
            n == on && f_o == out_c,
            "{cx}: input {:?}, filter {:?} and output {:?} do not match",
            input.shape,
            filter.shape,
            output.shape
        );
        // A grouped convolution (CONV_2D v6) has a filter depth dividing the input depth;
        // TFLM's reference kernel and mote's run it, but the converter marks it v6.
        ensure!(
            f_i == in_c,
            "{cx}: filter depth {f_i} differs from input depth {in_c} (grouped convolution), \
             which is not supported"
        );
        let window = window(
            cx,
            o.padding(),
            [in_h, in_w],
            [out_h, out_w],
            [f_h, f_w],
            [o.stride_h(), o.stride_w()],
            [o.dilation_h_factor(), o.dilation_w_factor()],
        )?;
        let filter_bytes = int8_weights(cx, filter, f_o * f_h * f_w * f_i, "filter")?;
        let wq = weight_quantization(cx, filter, out_c, 0)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, out_c, wide)).transpose()?;
        let requant = self.conv_requant(cx, &input, &wq, &output)?;
        if wide {
            return Ok(Op::Conv2d16(Conv16 {
                input: input.id,
                output: output.id,
                window,
                depth_multiplier: 0,
                filter: filter_bytes,
                bias: bias_bytes,
                requant: check_shift16(cx, requant)?,
                clamp: fused_clamp16(cx, o.fused_activation_function(), &output)?,
            }));
        }
        Ok(Op::Conv2d(Conv2d {
            input: input.id,
            output: output.id,
            window,
            filter: filter_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        }))
    }

    /// TRANSPOSE_CONV (TFLM `TransposeConvPrepare`): the output-shape input is not read (the
    /// output tensor's shape rules), the padding is what a CONV_2D from the output's size
    /// back to the input's would have, the fused activation applies (the wheel's TFLM applies
    /// it), per-channel multipliers as CONV_2D's.
    pub(super) fn transpose_conv(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_transpose_conv_options()
            .ok_or_else(|| anyhow!("{cx}: TransposeConvOptions are missing"))?;
        let filter = self.constant(cx, op, 1)?;
        let input = self.input_8_or_16(cx, op, 2)?;
        let bias = self.optional_constant(cx, op, 3)?;
        let output = self.output_like(cx, op, &input)?;
        let wide = input.dtype == DType::I16;
        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        let [f_o, f_h, f_w, f_i] = filter.shape[..] else {
            bail!(
                "{cx}: filter of shape {:?}; [out_c, h, w, in_c] is needed",
                filter.shape
            )
        };
        let f_o = positive(cx, f_o, "filter output channels")?;
        let f_h = positive(cx, f_h, "filter height")?;
        let f_w = positive(cx, f_w, "filter width")?;
        let f_i = positive(cx, f_i, "filter input channels")?;
        ensure!(
            n == on && f_o == out_c && f_i == in_c,
            "{cx}: input {:?}, filter {:?} and output {:?} do not match",
            input.shape,
            filter.shape,
            output.shape
        );
        // The convolution this one transposes runs from the output back to the input.
        let window = window(
            cx,
            o.padding(),
            [out_h, out_w],
            [in_h, in_w],
            [f_h, f_w],
            [o.stride_h(), o.stride_w()],
            [1, 1],
        )
        .map_err(|e| anyhow!("{e} (seen as the convolution from the output back to the input)"))?;
        let filter_bytes = int8_weights(cx, filter, out_c * f_h * f_w * in_c, "filter")?;
        let wq = weight_quantization(cx, filter, out_c, 0)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, out_c, wide)).transpose()?;
        let requant = self.conv_requant(cx, &input, &wq, &output)?;
        if wide {
            // 16x8: TFLM's int64 path, no zero points.
            return Ok(Op::TransposeConv16(Conv16 {
                input: input.id,
                output: output.id,
                window,
                depth_multiplier: 0,
                filter: filter_bytes,
                bias: bias_bytes,
                requant: check_shift16(cx, requant)?,
                clamp: fused_clamp16(cx, o.fused_activation_function(), &output)?,
            }));
        }
        Ok(Op::TransposeConv(Conv2d {
            input: input.id,
            output: output.id,
            window,
            filter: filter_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        }))
    }

    /// `PopulateConvolutionQuantizationParams`: per channel, `input_scale * filter_scale /
    /// output_scale` in double. A single filter scale is broadcast (one multiplier).
    fn conv_requant(
        &self,
        cx: &OpCx,
        input: &Act,
        filter_scales: &[f32],
        output: &Act,
    ) -> Result<Requant<'a>> {
        let ms = filter_scales
            .iter()
            .map(|&w| conv_multiplier(cx, input.scale, w, output.scale))
            .collect::<Result<Vec<_>>>()?;
        Ok(match ms[..] {
            [m] => Requant::PerTensor(m),
            _ => self.per_channel(&ms),
        })
    }

    /// DEPTHWISE_CONV_2D (TFLM `DepthwiseConvPrepare`).
    pub(super) fn depthwise_conv_2d(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_depthwise_conv_2_doptions()
            .ok_or_else(|| anyhow!("{cx}: DepthwiseConv2DOptions are missing"))?;
        let input = self.input_8_or_16(cx, op, 0)?;
        let filter = self.constant(cx, op, 1)?;
        let bias = self.optional_constant(cx, op, 2)?;
        let output = self.output_like(cx, op, &input)?;
        let wide = input.dtype == DType::I16;

        let [n, in_h, in_w, in_c] = nhwc(cx, &input, "input")?;
        let [on, out_h, out_w, out_c] = nhwc(cx, &output, "output")?;
        let [1, f_h, f_w, f_c] = filter.shape[..] else {
            bail!(
                "{cx}: filter of shape {:?}; [1, h, w, out_c] is needed",
                filter.shape
            )
        };
        let f_h = positive(cx, f_h, "filter height")?;
        let f_w = positive(cx, f_w, "filter width")?;
        let f_c = positive(cx, f_c, "filter channels")?;
        let dm = o.depth_multiplier();
        ensure!(
            n == on && f_c == out_c,
            "{cx}: input {:?}, filter {:?} and output {:?} do not match",
            input.shape,
            filter.shape,
            output.shape
        );
        ensure!(
            usize::try_from(dm).is_ok_and(|dm| dm >= 1 && in_c * dm == out_c),
            "{cx}: depth_multiplier {dm} does not take {in_c} input channels to {out_c}"
        );
        let window = window(
            cx,
            o.padding(),
            [in_h, in_w],
            [out_h, out_w],
            [f_h, f_w],
            [o.stride_h(), o.stride_w()],
            [o.dilation_h_factor(), o.dilation_w_factor()],
        )?;
        let filter_bytes = int8_weights(cx, filter, f_h * f_w * f_c, "filter")?;
        let wq = weight_quantization(cx, filter, out_c, 3)?;
        let bias_bytes = bias.map(|b| bias_data(cx, b, out_c, wide)).transpose()?;
        let requant = self.conv_requant(cx, &input, &wq, &output)?;
        if wide {
            return Ok(Op::DepthwiseConv2d16(Conv16 {
                input: input.id,
                output: output.id,
                window,
                depth_multiplier: to_u16(cx, dm as usize, "depth_multiplier")?,
                filter: filter_bytes,
                bias: bias_bytes,
                requant: check_shift16(cx, requant)?,
                clamp: fused_clamp16(cx, o.fused_activation_function(), &output)?,
            }));
        }
        Ok(Op::DepthwiseConv2d(DepthwiseConv2d {
            input: input.id,
            output: output.id,
            window,
            depth_multiplier: to_u16(cx, dm as usize, "depth_multiplier")?,
            filter: filter_bytes,
            bias: bias_bytes,
            requant,
            clamp: fused_clamp(cx, o.fused_activation_function(), &output)?,
        }))
    }
}

/// The filter or weight scales: one, or one per output channel along `axis` (0 for CONV_2D
/// and FULLY_CONNECTED, 3 for DEPTHWISE_CONV_2D). All zero points must be 0: TFLM's int8
/// kernels ignore them.
fn weight_quantization(cx: &OpCx, t: &Tensor<'_>, channels: usize, axis: i32) -> Result<Vec<f32>> {
    let q = t
        .quantization
        .as_ref()
        .ok_or_else(|| anyhow!("{cx}: the weights have no quantization parameters"))?;
    ensure!(
        !q.has_details,
        "{cx}: the weights have custom quantization details, which are not supported"
    );
    ensure!(
        q.scale.iter().all(|s| s.is_finite() && *s >= 0.0),
        "{cx}: the weights have a negative or non-finite scale"
    );
    ensure!(
        q.zero_point.iter().all(|&z| z == 0),
        "{cx}: the weights have a non-zero zero point (asymmetric weights are not supported; \
         TFLM would ignore it)"
    );
    if q.scale.len() > 1 {
        ensure!(
            q.quantized_dimension == axis,
            "{cx}: per-channel weights along axis {}; only axis {axis} (output channels) is \
             supported",
            q.quantized_dimension
        );
        ensure!(
            q.scale.len() == channels,
            "{cx}: {} weight scales for {channels} output channels",
            q.scale.len()
        );
    }
    Ok(q.scale.clone())
}

/// The bytes of constant int8 weights with `elements` elements.
fn int8_weights<'a>(cx: &OpCx, t: &Tensor<'a>, elements: usize, what: &str) -> Result<&'a [u8]> {
    match t.dtype {
        TensorType::INT8 => {}
        TensorType::INT4 => bail!("{cx}: int4 {what} are not supported"),
        other => bail!(
            "{cx}: {what} of type {} are not supported (int8 only)",
            type_name(other)
        ),
    }
    let data = t.data.unwrap_or_default();
    ensure!(
        data.len() == elements && t.elements() == Some(elements),
        "{cx}: {what} hold {} bytes for {elements} elements",
        data.len()
    );
    Ok(data)
}

/// A bias with one value per channel: int32, or int64 for int16 activations (16x8; TFLM's
/// int32-bias 16x8 paths are not taken: the converter writes int64).
fn bias_data<'a>(cx: &OpCx, t: &Tensor<'a>, channels: usize, wide: bool) -> Result<&'a [u8]> {
    let (want, size) = if wide {
        (TensorType::INT64, 8)
    } else {
        (TensorType::INT32, 4)
    };
    ensure!(
        t.dtype == want,
        "{cx}: bias of type {} is not supported ({} only)",
        type_name(t.dtype),
        type_name(want)
    );
    let data = t.data.unwrap_or_default();
    ensure!(
        data.len() == size * channels && t.elements() == Some(channels),
        "{cx}: bias of shape {:?} for {channels} channels",
        t.shape
    );
    Ok(data)
}

/// 16x8 requantization goes through TFLM's int64 routine, which shifts by `15 - shift`: the
/// shift must stay below 15 (an effective scale below 2^14).
fn check_shift16<'a>(cx: &OpCx, r: Requant<'a>) -> Result<Requant<'a>> {
    let ok = match r {
        Requant::PerTensor(m) => m.shift < 15,
        Requant::PerChannel { shifts, .. } => shifts.iter().all(|&s| (s as i8) < 15),
    };
    ensure!(
        ok,
        "{cx}: an output scale 2^14 times the input's is beyond TFLM's 16x8 kernels"
    );
    Ok(r)
}

fn check_bias_type(cx: &OpCx, t: TensorType) -> Result<()> {
    ensure!(
        matches!(
            t,
            TensorType::FLOAT32 | TensorType::INT32 | TensorType::INT64
        ),
        "{cx}: quantized_bias_type {} is not supported (int32 biases, int64 for 16x8)",
        type_name(t)
    );
    Ok(())
}

/// Convolution output multiplier for one channel: `input_scale * filter_scale /
/// output_scale`, each widened to double first.
fn conv_multiplier(cx: &OpCx, input: f32, filter: f32, output: f32) -> Result<Multiplier> {
    let real = f64::from(input) * f64::from(filter) / f64::from(output);
    multiplier(cx, real, "output")
}
