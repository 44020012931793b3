//! SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM: operators with state that carries from one
//! invocation to the next (TFLM's variable tensors), prepared as TFLM's `svdf_common.cc` and
//! `unidirectional_sequence_lstm.cc` prepare them.

use anyhow::{Result, anyhow, bail, ensure};
use mote::format::{DType, Lstm, Multiplier, Op, Svdf};

use super::{Act, Importer, OpCx, dims, multiplier, per_tensor, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{ActivationFunctionType, TensorType};

impl<'m, 'a> Importer<'m, 'a> {
    /// SVDF with int8 input and output (TFLM `PrepareSvdf`): int8 feature weights, time
    /// weights and state both int16 or both int8, an int32 bias of scale `state * time`
    /// (TFLM reads it unconditionally and checks that scale); the fused activation is ignored,
    /// as TFLM's integer kernel ignores it.
    pub(super) fn svdf(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let rank = op
            .raw
            .builtin_options_as_svdfoptions()
            .ok_or_else(|| anyhow!("{cx}: SVDFOptions are missing"))?
            .rank();
        ensure!(
            op.inputs.len() == 5,
            "{cx}: {} inputs; SVDF has 5",
            op.inputs.len()
        );
        let input = self.input_i8(cx, op, 0)?;
        let feature = self.constant(cx, op, 1)?;
        let time = self.constant(cx, op, 2)?;
        let bias = self.optional_constant(cx, op, 3)?.ok_or_else(|| {
            anyhow!("{cx}: an SVDF without a bias is not supported (TFLM crashes on it)")
        })?;
        let state = self.state(cx, op, 4)?;
        let output = self.output_i8(cx, op)?;
        let [batch, input_size] = input.shape[..] else {
            bail!(
                "{cx}: input shape {:?}; [batch, input_size] is needed",
                input.shape
            )
        };
        let (&[filters, fi], &[tf, memory]) = (&feature.shape[..], &time.shape[..]) else {
            bail!(
                "{cx}: weights of shapes {:?} and {:?}; [filters, input_size] and [filters, \
                 memory] are needed",
                feature.shape,
                time.shape
            )
        };
        let (filters, memory) = (filters as usize, memory as usize);
        let rank = usize::try_from(rank)
            .ok()
            .filter(|&r| r > 0 && filters % r == 0)
            .ok_or_else(|| anyhow!("{cx}: rank {rank} does not divide the {filters} filters"))?;
        ensure!(
            fi as usize == input_size && tf as usize == filters,
            "{cx}: weights of shapes {:?} and {:?} do not fit input {:?}",
            feature.shape,
            time.shape,
            input.shape
        );
        ensure!(
            feature.dtype == TensorType::INT8,
            "{cx}: feature weights of type {} (int8 needed)",
            type_name(feature.dtype)
        );
        let wide = match (time.dtype, state.dtype) {
            (TensorType::INT16, DType::I16) => true,
            (TensorType::INT8, DType::I8) => false,
            (t, s) => bail!(
                "{cx}: time weights of type {} with a {s:?} state; both int16 or both int8 are \
                 needed (TFLM reads the state as the weights' type)",
                type_name(t)
            ),
        };
        ensure!(
            state.shape == [batch, memory * filters],
            "{cx}: state shape {:?}; [{batch}, {}] is needed",
            state.shape,
            memory * filters
        );
        let units = filters / rank;
        ensure!(
            output.shape == [batch, units],
            "{cx}: output shape {:?}; [{batch}, {units}] is needed",
            output.shape
        );
        ensure!(
            bias.dtype == TensorType::INT32 && bias.elements() == Some(units),
            "{cx}: bias of type {} and shape {:?}; int32 [{units}] is needed",
            type_name(bias.dtype),
            bias.shape
        );
        let scale = |t: &crate::intake::tflite::Tensor<'_>, what: &str| {
            per_tensor(t)
                .map(|(s, _)| f64::from(s))
                .map_err(|e| anyhow!("{cx}: the {what} {e}"))
        };
        let (s_feature, s_time, s_bias) = (
            scale(feature, "feature weights")?,
            scale(time, "time weights")?,
            scale(bias, "bias")?,
        );
        let s_state = f64::from(state.scale);
        ensure!(
            (s_bias - s_state * s_time).abs() < 1e-5,
            "{cx}: the bias scale {s_bias} is not the state scale times the time weights' \
             ({}), as TFLM requires",
            s_state * s_time
        );
        let bytes = |t: &crate::intake::tflite::Tensor<'a>, n: usize| -> Result<&'a [u8]> {
            let data = t.data.unwrap_or_default();
            ensure!(
                data.len() == n,
                "{cx}: constant {} holds {} bytes, not {n}",
                t.name,
                data.len()
            );
            Ok(data)
        };
        let element = if wide { 2 } else { 1 };
        Ok(Op::Svdf(Svdf {
            input: input.id,
            output: output.id,
            state: state.id,
            rank: u16::try_from(rank)?,
            weights_feature: bytes(feature, filters * input_size)?,
            weights_time: bytes(time, filters * memory * element)?,
            bias: bytes(bias, 4 * units)?,
            feature_multiplier: multiplier(
                cx,
                f64::from(input.scale) * s_feature / s_state,
                "feature",
            )?,
            output_multiplier: multiplier(
                cx,
                s_state * s_time / f64::from(output.scale),
                "output",
            )?,
        }))
    }

    /// UNIDIRECTIONAL_SEQUENCE_LSTM, int8 (TFLM's 2023 kernel, `PrepareGateParametersInteger`):
    /// the standard LSTM only (TFLM refuses CIFG, peephole, projection and layer norm), int8
    /// per-tensor weights, int32 biases, an int8 hidden and an int16 cell state. The gate
    /// pre-activations are in Q3.12 whatever the converter's intermediates say (TFLM ignores
    /// them too).
    pub(super) fn lstm(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_unidirectional_sequence_lstmoptions()
            .ok_or_else(|| anyhow!("{cx}: UnidirectionalSequenceLSTMOptions are missing"))?;
        ensure!(
            op.inputs.len() == 24,
            "{cx}: {} inputs; the LSTM has 24",
            op.inputs.len()
        );
        let present = |i: usize| op.inputs.get(i).copied().flatten().is_some();
        for (inputs, what) in [
            (&[9, 10, 11][..], "peephole connections"),
            (&[16, 17][..], "a projection"),
            (&[20, 21, 22, 23][..], "layer normalization"),
        ] {
            ensure!(
                !inputs.iter().any(|&i| present(i)),
                "{cx}: an LSTM with {what} is not supported (TFLM refuses it too)"
            );
        }
        ensure!(
            present(1) && present(5),
            "{cx}: a CIFG LSTM (no input gate) is not supported (TFLM refuses it too)"
        );
        let input = self.input_8_or_16(cx, op, 0)?;
        let version_ok = match input.dtype {
            DType::I16 => cx.version == 5,
            _ => cx.version == 1,
        };
        ensure!(
            version_ok,
            "{cx}: version {} with {:?} input is a hybrid variant, which is not supported",
            cx.version,
            input.dtype
        );
        let hidden = self.state(cx, op, 18)?;
        let cell = self.state(cx, op, 19)?;
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            hidden.dtype == input.dtype && cell.dtype == DType::I16,
            "{cx}: input {:?}, hidden state {:?} and cell state {:?}; the hidden state of the \
             input's type and an int16 cell are needed",
            input.dtype,
            hidden.dtype,
            cell.dtype
        );
        // 8x8->16: int32 biases; 16x8: int64.
        let (bias_type, bias_size) = if input.dtype == DType::I16 {
            (TensorType::INT64, 8)
        } else {
            (TensorType::INT32, 4)
        };
        let [d0, d1, input_size] = input.shape[..] else {
            bail!(
                "{cx}: input shape {:?}; three dimensions are needed",
                input.shape
            )
        };
        let batch = if o.time_major() { d1 } else { d0 };
        let units = hidden.elements() / batch.max(1);
        ensure!(
            units > 0 && hidden.elements() == batch * units && cell.elements() == batch * units,
            "{cx}: states of {} and {} values for a batch of {batch}",
            hidden.elements(),
            cell.elements()
        );
        ensure!(
            output.shape == [d0, d1, units],
            "{cx}: output shape {:?}; [{d0}, {d1}, {units}] is needed",
            output.shape
        );
        // Gates in TFLite's order: input, forget, cell, output.
        let nl_in = 2f64.powi(-12);
        let mut input_weights = Vec::with_capacity(4 * units * input_size);
        let mut recurrent_weights = Vec::with_capacity(4 * units * units);
        let mut bias = Vec::with_capacity(4 * bias_size * units);
        let mut input_multipliers = [Multiplier {
            multiplier: 0,
            shift: 0,
        }; 4];
        let mut recurrent_multipliers = input_multipliers;
        for g in 0..4 {
            let (s_w, w) = self.lstm_weights(cx, op, 1 + g, units * input_size)?;
            let (s_r, r) = self.lstm_weights(cx, op, 5 + g, units * units)?;
            let b = self.constant(cx, op, 12 + g)?;
            ensure!(
                b.dtype == bias_type && b.elements() == Some(units),
                "{cx}: gate bias {g} of type {} and shape {:?}; {} [{units}] is needed",
                type_name(b.dtype),
                b.shape,
                type_name(bias_type)
            );
            input_weights.extend_from_slice(w);
            recurrent_weights.extend_from_slice(r);
            bias.extend_from_slice(b.data.unwrap_or_default());
            input_multipliers[g] =
                multiplier(cx, f64::from(input.scale) * s_w / nl_in, "input gate")?;
            recurrent_multipliers[g] =
                multiplier(cx, f64::from(hidden.scale) * s_r / nl_in, "recurrent gate")?;
        }
        // The inter-gate products, in double as TFLM's `CreateInterGateMulParams`.
        let (nl_out, s_cell) = (2f64.powi(-15), f64::from(cell.scale));
        let products = [
            multiplier(cx, nl_out * s_cell / s_cell, "forget")?,
            multiplier(cx, nl_out * nl_out / s_cell, "input")?,
            multiplier(cx, nl_out * nl_out / f64::from(hidden.scale), "output")?,
        ];
        let multiplier_bytes: Vec<u8> = input_multipliers
            .iter()
            .chain(&recurrent_multipliers)
            .chain(&products)
            .flat_map(|m| {
                let mut b = m.multiplier.to_le_bytes().to_vec();
                b.push(m.shift as u8);
                b
            })
            .collect();
        ensure!(
            bias.len() == 4 * bias_size * units,
            "{cx}: the gate biases hold too few bytes"
        );
        // TFLM's CheckedLog2, in float, its "is it a power of two" verdict ignored.
        let power = (cell.scale.ln() * (1.0f32 / 2f32.ln())).round() as i32;
        let clip = f64::from(o.cell_clip());
        let cell_clip =
            (o.cell_clip() > 0.0).then(|| (clip / s_cell).clamp(-32768.0, 32767.0) as i16);
        Ok(Op::Lstm(Lstm {
            input: input.id,
            output: output.id,
            hidden: hidden.id,
            cell: cell.id,
            time_major: o.time_major(),
            input_weights: self.consts.alloc_slice_copy(&input_weights),
            recurrent_weights: self.consts.alloc_slice_copy(&recurrent_weights),
            bias: self.consts.alloc_slice_copy(&bias),
            multipliers: self.consts.alloc_slice_copy(&multiplier_bytes),
            cell_tanh: o.fused_activation_function() == ActivationFunctionType::TANH,
            cell_power: i8::try_from(power)
                .map_err(|_| anyhow!("{cx}: cell state scale {} is out of range", cell.scale))?,
            cell_clip,
        }))
    }

    /// LSTM weights `i`: int8, per tensor, zero point 0 (TFLM's LSTM runs per-channel weights
    /// with uninitialised multipliers), `elements` of them; their scale and bytes.
    fn lstm_weights(
        &self,
        cx: &OpCx,
        op: &Operator<'_>,
        i: usize,
        elements: usize,
    ) -> Result<(f64, &'a [u8])> {
        let t = self.constant(cx, op, i)?;
        let (scale, zero_point) =
            per_tensor(t).map_err(|e| anyhow!("{cx}: LSTM weights {i} {e}"))?;
        let data = t.data.unwrap_or_default();
        ensure!(
            t.dtype == TensorType::INT8 && zero_point == 0 && data.len() == elements,
            "{cx}: LSTM weights {i} of type {}, zero point {zero_point}, {} bytes; int8 with \
             zero point 0 and {elements} values are needed",
            type_name(t.dtype),
            data.len()
        );
        Ok((f64::from(scale), data))
    }

    /// Input `i` of `op` as a state tensor (a TFLite variable tensor, int8 or int16), added to
    /// the graph; TFLM ignores any initial data, and so does mote (state starts reset).
    fn state(&mut self, cx: &OpCx, op: &Operator<'_>, i: usize) -> Result<Act> {
        let t = op
            .input(i)
            .map_err(|e| anyhow!("{cx}: {e} (the operator's state)"))?;
        if let Some(id) = self.ids[t] {
            return Ok(self.act(id));
        }
        let tensor = &self.sg.tensors[t];
        let what = self.tname(t);
        ensure!(
            tensor.is_variable,
            "{cx}: its state, {what}, is not a variable tensor"
        );
        let dtype = match tensor.dtype {
            TensorType::INT16 => DType::I16,
            TensorType::INT8 => DType::I8,
            other => bail!(
                "{cx}: its state, {what}, is {}; int8 or int16 is needed",
                type_name(other)
            ),
        };
        let shape = dims(tensor).map_err(|e| anyhow!("{cx}: its state, {what}, {e}"))?;
        let (scale, zero_point) =
            per_tensor(tensor).map_err(|e| anyhow!("{cx}: its state, {what}, {e}"))?;
        let name = if tensor.name.is_empty() {
            format!("tensor{t}")
        } else {
            tensor.name.to_owned()
        };
        let id = self
            .graph
            .add_tensor(name, dtype, &shape, scale, zero_point)?;
        self.ids[t] = Some(id);
        Ok(self.act(id))
    }
}
