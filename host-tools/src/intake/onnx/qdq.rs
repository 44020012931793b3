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
    /// Scale and zero point inputs as one value per slice (or one), and whether the zero
    /// point is uint8 (its element type; ONNX's default, when absent, is uint8 zero).
    fn qparams(&self, node: &NodeProto) -> Result<(Vec<f64>, Vec<f64>, bool)> {
        let scale = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("the scale must be a constant"))?
            .values;
        let (zero, uint8) = match self.const_input(node, 2)? {
            Some(z) => (z.values, z.uint8),
            None => (vec![0.0; scale.len()], true),
        };
        ensure!(
            zero.len() == scale.len(),
            "{} scales but {} zero points",
            scale.len(),
            zero.len()
        );
        ensure!(
            scale.iter().all(|&s| s > 0.0 && s.is_finite()),
            "scales must be positive"
        );
        Ok((scale, zero, uint8))
    }

    pub(super) fn quantize_linear(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let out = self.output(node)?.to_owned();
        let (scale, zero, uint8) = self.qparams(node)?;
        let t = match self.value(&x)?.clone() {
            Value::Act { t, .. } => t,
            // Float weights quantized in the graph (quantization-aware training exports): the
            // quantized values, for the DequantizeLinear that follows.
            Value::Const(c) => {
                let rank = c.shape.len();
                let axis = match scale.len() {
                    1 => 0,
                    _ => super::shape::normalize_axis(attrs.int("axis", 1), rank)?,
                };
                let (lo, hi) = if uint8 { (0.0, 255.0) } else { (-128.0, 127.0) };
                let values = per_slice(&c, &scale, axis)?
                    .map(|(v, k)| ((v / scale[k]).round() + zero[k]).clamp(lo, hi))
                    .collect();
                let q = Const {
                    uint8,
                    ..Const::new(c.shape.clone(), values)
                };
                self.set(&out, Value::Const(q));
                return Ok(());
            }
        };
        let ([s], [z]) = (scale.as_slice(), zero.as_slice()) else {
            bail!(
                "per-channel quantization of an activation is not supported (one scale per tensor)"
            )
        };
        // A uint8 activation is the int8 one shifted by 128: the same real values.
        let z = if uint8 { z - 128.0 } else { *z };
        ensure!(
            (-128.0..=127.0).contains(&z),
            "zero point {z} does not fit int8"
        );
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
        self.alias(&out, &x)
    }

    pub(super) fn dequantize_linear(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let out = self.output(node)?.to_owned();
        let q = match self.value(&x)?.clone() {
            // Of an activation: QuantizeLinear already fixed its quantization.
            Value::Act { .. } => return self.alias(&out, &x),
            Value::Const(c) => c,
        };
        let (scale, zero, _) = self.qparams(node)?;
        let rank = q.shape.len();
        let axis = match scale.len() {
            1 => 0,
            _ => super::shape::normalize_axis(attrs.int("axis", 1), rank)?,
        };
        let values = per_slice(&q, &scale, axis)?
            .map(|(v, k)| (v - zero[k]) * scale[k])
            .collect();
        // Symmetric int8 weights keep their scales; biases (int32) are re-derived from them.
        let symmetric =
            !q.uint8 && zero.iter().all(|&z| z == 0.0) && q.values.iter().all(|v| v.abs() <= 127.0);
        let fixed = (symmetric && rank >= 2).then(|| Fixed::Weights {
            axis,
            scales: scale.iter().map(|&s| s as f32).collect(),
        });
        self.set(
            &out,
            Value::Const(Const {
                fixed,
                ..Const::new(q.shape, values)
            }),
        );
        Ok(())
    }
}

/// Each value of `c` with the index of its slice along `axis` (0 for a single scale).
fn per_slice<'c>(
    c: &'c Const,
    scale: &[f64],
    axis: usize,
) -> Result<impl Iterator<Item = (f64, usize)> + 'c> {
    let n = scale.len();
    ensure!(
        n == 1 || c.shape.get(axis) == Some(&n),
        "{n} scales for shape {:?} along axis {axis}",
        c.shape
    );
    let inner: usize = c.shape.iter().skip(axis + 1).product();
    Ok(c.values
        .iter()
        .enumerate()
        .map(move |(i, &v)| (v, if n == 1 { 0 } else { (i / inner.max(1)) % n })))
}
