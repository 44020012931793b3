//! SVDF: operators with state that carries from one invocation to the next (TFLM's variable
//! tensors), prepared as TFLM's `svdf_common.cc` prepares them.

use anyhow::{Result, anyhow, bail, ensure};
use mote::format::{DType, Op, Svdf};

use super::{Act, Importer, OpCx, dims, multiplier, per_tensor, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::TensorType;

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
