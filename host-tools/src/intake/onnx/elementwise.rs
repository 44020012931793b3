//! Activations (Relu, Clip, LeakyRelu, PRelu, Sigmoid, Tanh, HardSwish, HardSigmoid) and
//! broadcasting arithmetic (Add, Sub, Mul, Div by a constant).

use anyhow::{Result, anyhow, bail, ensure};

use super::{Attrs, Const, Layout, Reader, Value};
use crate::float::{Fused, Op, TensorIx};
use crate::intake::onnx::proto::NodeProto;

impl Reader {
    /// Activation `name`, as stored, with its layout.
    pub(super) fn act(&self, name: &str) -> Result<(TensorIx, Layout)> {
        match self.value(name)? {
            Value::Act { t, layout } => Ok((*t, *layout)),
            Value::Const(_) => bail!("{name} must be computed, not a constant, here"),
        }
    }

    /// `op` on one activation; the output keeps the input's layout.
    pub(super) fn unary(&mut self, out: &str, x: &str, op: Op) -> Result<()> {
        let (t, layout) = self.act(x)?;
        let y = self.graph.push(out, op, vec![t])?;
        self.set_act(out, y, layout);
        Ok(())
    }

    pub(super) fn activation(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let out = self.output(node)?.to_owned();
        let op = match node.op_type() {
            "Relu" => Op::Relu,
            "Sigmoid" => Op::Logistic,
            "Tanh" => Op::Tanh,
            "HardSwish" => Op::HardSwish,
            "LeakyRelu" => Op::LeakyRelu {
                alpha: attrs.float("alpha", 0.01),
            },
            "Clip" => {
                let bound = |i: usize, attr: &str| -> Result<Option<f64>> {
                    Ok(match self.const_input(node, i)? {
                        Some(c) => c.values.first().copied(),
                        None => attrs.get(attr).map(|a| f64::from(a.f())),
                    })
                };
                match (bound(1, "min")?, bound(2, "max")?) {
                    (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => Op::Relu6,
                    (Some(0.0), None) => Op::Relu,
                    (lo, hi) => bail!(
                        "Clip to [{}, {}] is not supported: only [0, 6] (ReLU6) and [0, inf) \
                         (ReLU)",
                        lo.map_or("-inf".into(), |v| v.to_string()),
                        hi.map_or("inf".into(), |v| v.to_string())
                    ),
                }
            }
            "HardSigmoid" => {
                // clamp(alpha x + beta, 0, 1) = relu6(6 alpha x + 6 beta) / 6: three int8
                // operators TFLite has.
                let alpha = f64::from(attrs.float("alpha", 0.2));
                let beta = f64::from(attrs.float("beta", 0.5));
                let scaled = format!("{out}/scaled");
                let shifted = format!("{out}/relu6");
                self.binary_with_const(
                    &scaled,
                    &x,
                    &Const::scalar(6.0 * alpha),
                    Op::Mul { fused: Fused::None },
                    false,
                )?;
                self.binary_with_const(
                    &shifted,
                    &scaled,
                    &Const::scalar(6.0 * beta),
                    Op::Add {
                        fused: Fused::Relu6,
                    },
                    false,
                )?;
                return self.binary_with_const(
                    &out,
                    &shifted,
                    &Const::scalar(1.0 / 6.0),
                    Op::Mul { fused: Fused::None },
                    false,
                );
            }
            other => bail!("operator {other} is not an activation"),
        };
        self.unary(&out, &x, op)
    }

    pub(super) fn prelu(&mut self, node: &NodeProto) -> Result<()> {
        let slope = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("the slope must be a constant"))?;
        let x = self.input(node, 0)?.to_owned();
        let out = self.output(node)?.to_owned();
        self.binary_with_const(&out, &x, &slope, Op::Prelu, false)
    }

    pub(super) fn binary(&mut self, node: &NodeProto) -> Result<()> {
        let (a, b) = (
            self.input(node, 0)?.to_owned(),
            self.input(node, 1)?.to_owned(),
        );
        let out = self.output(node)?.to_owned();
        let none = Fused::None;
        let op = match node.op_type() {
            "Add" => Op::Add { fused: none },
            "Sub" => Op::Sub { fused: none },
            "Mul" | "Div" => Op::Mul { fused: none },
            other => bail!("operator {other} is not arithmetic"),
        };
        let divide = node.op_type() == "Div";
        match (self.value(&a)?.clone(), self.value(&b)?.clone()) {
            (Value::Act { .. }, Value::Const(mut c)) => {
                if divide {
                    ensure!(c.values.iter().all(|&v| v != 0.0), "division by zero");
                    c.values.iter_mut().for_each(|v| *v = 1.0 / *v);
                }
                // A per-channel affine step after a convolution or FULLY_CONNECTED (a bias
                // added by hand, a scale) folds into its weights and bias.
                if let Some(v) = self.per_channel(&a, &c)? {
                    let ones = vec![1.0; v.len()];
                    let (scale, shift) = match op {
                        Op::Add { .. } => (ones, v),
                        Op::Sub { .. } => (ones, v.iter().map(|x| -x).collect()),
                        _ => (v.clone(), vec![0.0; v.len()]),
                    };
                    if self.fold_into_producer(&a, &scale, &shift)? {
                        return self.alias(&out, &a);
                    }
                }
                self.binary_with_const(&out, &a, &c, op, false)
            }
            (Value::Const(c), Value::Act { .. }) => {
                ensure!(
                    !divide,
                    "dividing a constant by a computed tensor is not supported"
                );
                self.binary_with_const(&out, &b, &c, op, true)
            }
            (Value::Act { layout: la, .. }, Value::Act { layout: lb, .. }) => {
                ensure!(
                    !divide,
                    "Div of two computed tensors is not supported (only by a constant)"
                );
                let (ra, rb) = (self.logical_shape(&a)?.len(), self.logical_shape(&b)?.len());
                let channels_last = (la == Layout::ChannelsLast || lb == Layout::ChannelsLast)
                    && ra == rb
                    && ra >= 3;
                let (ta, tb, layout) = if channels_last {
                    (
                        self.channels_last(&a)?,
                        self.channels_last(&b)?,
                        Layout::ChannelsLast,
                    )
                } else {
                    (self.plain(&a)?, self.plain(&b)?, Layout::Plain)
                };
                let y = self.graph.push(out.clone(), op, vec![ta, tb])?;
                self.set_act(&out, y, layout);
                Ok(())
            }
            (Value::Const(_), Value::Const(_)) => {
                bail!("arithmetic on two constants was not folded")
            }
        }
    }

    /// The values of constant `c`, one per channel of activation `x`, if `c` varies along
    /// that channel only (or not at all): the channel is the stored last dimension.
    fn per_channel(&self, x: &str, c: &Const) -> Result<Option<Vec<f64>>> {
        let (t, layout) = self.act(x)?;
        let logical = self.logical_shape(x)?;
        let rank = logical.len();
        let channels = *self.graph.tensors[t].shape.last().unwrap_or(&0);
        if c.shape.len() > rank || channels == 0 {
            return Ok(None);
        }
        let mut padded = vec![1; rank - c.shape.len()];
        padded.extend_from_slice(&c.shape);
        let channel_axis = match layout {
            Layout::ChannelsLast => 1,
            Layout::Plain => rank - 1,
        };
        let only_channel = padded
            .iter()
            .enumerate()
            .all(|(a, &d)| d == 1 || (a == channel_axis && d == channels));
        Ok(match (only_channel, c.values.as_slice()) {
            (false, _) => None,
            (true, [v]) => Some(vec![*v; channels]),
            (true, v) => Some(v.to_vec()),
        })
    }

    /// `op` of activation `x` and constant `c` (broadcast in `x`'s layout), written to `out`.
    pub(super) fn binary_with_const(
        &mut self,
        out: &str,
        x: &str,
        c: &Const,
        op: Op,
        const_first: bool,
    ) -> Result<()> {
        let (t, layout) = self.act(x)?;
        let rank = self.logical_shape(x)?.len();
        let (t, layout) = if c.shape.len() > rank {
            (self.plain(x)?, Layout::Plain)
        } else {
            (t, layout)
        };
        let ct = self.broadcast_const(&format!("{out}/operand"), c, rank, layout)?;
        let inputs = if const_first {
            vec![ct, t]
        } else {
            vec![t, ct]
        };
        let y = self.graph.push(out, op, inputs)?;
        self.set_act(out, y, layout);
        Ok(())
    }
}
