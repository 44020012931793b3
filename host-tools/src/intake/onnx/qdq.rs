//! QDQ models (onnxruntime's and PyTorch's quantizers): QuantizeLinear/DequantizeLinear pairs
//! around float operators. A pair on an activation fixes that tensor's int8 scale and zero
//! point ([`Fixed::Activation`]); DequantizeLinear of int8 weights gives their float values
//! and fixes their per-channel scales ([`Fixed::Weights`]), so mote's int8 model keeps the
//! quantizer's choices instead of calibrating its own.

use anyhow::{Result, anyhow, bail, ensure};

use super::{Attrs, Const, Reader, Value};
use crate::float::Fixed;
use crate::intake::onnx::proto::NodeProto;

impl Reader {
    /// Scale and zero point inputs as one value per slice (`len` slices, or one).
    fn qparams(&self, node: &NodeProto) -> Result<(Vec<f64>, Vec<f64>)> {
        let scale = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("the scale must be a constant"))?
            .values;
        let zero = match self.const_input(node, 2)? {
            Some(z) => z.values,
            None => vec![0.0; scale.len()],
        };
        ensure!(
            zero.len() == scale.len(),
            "{} scales but {} zero points",
            scale.len(),
            zero.len()
        );
        ensure!(scale.iter().all(|&s| s > 0.0), "scales must be positive");
        Ok((scale, zero))
    }

    /// The zero point's element type is uint8 if its values reach above 127 or it says so.
    fn zero_point_is_u8(&self, node: &NodeProto, zero: &[f64]) -> bool {
        zero.iter().any(|&z| z > 127.0)
            || node
                .input
                .get(2)
                .is_some_and(|n| n.contains("uint8") || n.ends_with("_u8"))
    }

    pub(super) fn quantize_linear(&mut self, node: &NodeProto, _attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let (scale, zero) = self.qparams(node)?;
        let ([s], [z]) = (scale.as_slice(), zero.as_slice()) else {
            bail!(
                "per-channel quantization of an activation is not supported (one scale per tensor)"
            )
        };
        // A uint8 activation is the int8 one shifted by 128: the same real values.
        let z = if self.zero_point_is_u8(node, &zero) {
            z - 128.0
        } else {
            *z
        };
        ensure!(
            (-128.0..=127.0).contains(&z),
            "zero point {z} does not fit int8"
        );
        let Value::Act { t, layout } = self.value(&x)?.clone() else {
            bail!(
                "QuantizeLinear of a constant: quantized weights are read through DequantizeLinear"
            )
        };
        let fixed = Fixed::Activation {
            scale: *s as f32,
            zero_point: z as i32,
        };
        let tensor = &mut self.graph.tensors[t];
        if tensor.fixed.as_ref().is_some_and(|f| *f != fixed) {
            bail!("{x} is quantized twice with different scales");
        }
        tensor.fixed = Some(fixed);
        // The pair's rounding and clamping is what int8 does anyway: the value passes on.
        self.set_act(self.output(node)?, t, layout);
        Ok(())
    }

    pub(super) fn dequantize_linear(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let out = self.output(node)?.to_owned();
        let q = match self.value(&x)?.clone() {
            // Of an activation: QuantizeLinear already fixed its quantization.
            act @ Value::Act { .. } => {
                self.set(&out, act);
                return Ok(());
            }
            Value::Const(c) => c,
        };
        let (scale, zero) = self.qparams(node)?;
        let rank = q.shape.len();
        let axis = if scale.len() == 1 {
            0
        } else {
            super::shape::normalize_axis(attrs.int("axis", 1), rank)?
        };
        ensure!(
            scale.len() == 1 || q.shape.get(axis) == Some(&scale.len()),
            "{} scales for shape {:?} along axis {axis}",
            scale.len(),
            q.shape
        );
        let inner: usize = q.shape.iter().skip(axis + 1).product();
        let channel = |i: usize| {
            if scale.len() == 1 {
                0
            } else {
                (i / inner) % scale.len()
            }
        };
        let values = q
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (v - zero[channel(i)]) * scale[channel(i)])
            .collect();
        // Symmetric int8 weights keep their scales; biases (int32) are re-derived from them.
        let symmetric = zero.iter().all(|&z| z == 0.0) && q.values.iter().all(|v| v.abs() <= 127.0);
        let fixed = (symmetric && rank >= 2).then(|| Fixed::Weights {
            scales: scale.iter().map(|&s| s as f32).collect(),
        });
        self.set(
            &out,
            Value::Const(Const {
                shape: q.shape,
                values,
                fixed,
            }),
        );
        Ok(())
    }
}
