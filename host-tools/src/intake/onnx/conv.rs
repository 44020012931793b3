//! Conv, Gemm, MatMul, BatchNormalization, MaxPool, AveragePool and GlobalAveragePool.
//! One-dimensional convolutions and pools run as two-dimensional ones of height 1.

use anyhow::{Result, anyhow, bail, ensure};

use super::{Attrs, Const, Layout, Reader, Value};
use crate::float::{Fixed, Fused, Op, Padding, TensorIx, Window};
use crate::intake::onnx::proto::NodeProto;

/// A window's ONNX attributes, resolved against the input's spatial size.
struct Spatial {
    stride: [usize; 2],
    dilation: [usize; 2],
    /// ONNX's padding, `[top, left, bottom, right]`.
    pads: [usize; 4],
    /// The padding TFLite's SAME would choose.
    same_pads: [usize; 4],
}

impl Spatial {
    /// The TFLite window, and the padding to apply before it when the window cannot express
    /// ONNX's. `same_ok`: TFLite's SAME (padding left out of the window) computes what ONNX's
    /// padding does here (a convolution's zeros, a max, an average without the pads).
    fn window(&self, same_ok: bool) -> (Window, Option<[usize; 4]>) {
        let window = |padding| Window {
            padding,
            stride: self.stride,
            dilation: self.dilation,
        };
        if self.pads == [0; 4] {
            (window(Padding::Valid), None)
        } else if same_ok && self.pads == self.same_pads {
            (window(Padding::Same), None)
        } else {
            (window(Padding::Valid), Some(self.pads))
        }
    }
}

impl Reader {
    /// The node's input stored channels-last as 4-D `[n, h, w, c]` (a 1-D input gets height
    /// 1), with whether it was 1-D.
    fn image(&mut self, node: &NodeProto) -> Result<(TensorIx, bool)> {
        let x = self.input(node, 0)?;
        let t = self.channels_last(x)?;
        let shape = self.graph.tensors[t].shape.clone();
        match shape.len() {
            4 => Ok((t, false)),
            3 => {
                let flat = vec![shape[0], 1, shape[1], shape[2]];
                let t = self
                    .graph
                    .push(format!("{x}/2d"), Op::Reshape { shape: flat }, vec![t])?;
                Ok((t, true))
            }
            _ => bail!("input {x} of shape {shape:?}: 1-D or 2-D images are supported"),
        }
    }

    /// Stores a window operator's 4-D output under the node's output name (back to 3-D for a
    /// 1-D operator).
    fn set_image(&mut self, node: &NodeProto, t: TensorIx, one_d: bool) -> Result<()> {
        let out = self.output(node)?.to_owned();
        let t = if one_d {
            let s = self.graph.tensors[t].shape.clone();
            self.graph.push(
                format!("{out}/1d"),
                Op::Reshape {
                    shape: vec![s[0], s[2], s[3]],
                },
                vec![t],
            )?
        } else {
            t
        };
        self.set_act(&out, t, Layout::ChannelsLast);
        Ok(())
    }

    /// Resolves strides, dilations and pads for a window of `kernel` over input `t`.
    fn spatial(
        &self,
        attrs: &Attrs<'_>,
        t: TensorIx,
        kernel: [usize; 2],
        one_d: bool,
    ) -> Result<Spatial> {
        let two = |name: &str, default: usize| -> Result<[usize; 2]> {
            let v = attrs.ints(name).unwrap_or_default();
            let v: Vec<usize> = v
                .iter()
                .map(|&x| usize::try_from(x).map_err(|_| anyhow!("{name} {x}")))
                .collect::<Result<_>>()?;
            Ok(match (v.as_slice(), one_d) {
                ([], _) => [default, default],
                ([a], true) => [1, *a],
                ([a, b], false) => [*a, *b],
                _ => bail!(
                    "{name} {v:?} does not fit a {}-D window",
                    if one_d { 1 } else { 2 }
                ),
            })
        };
        let stride = two("strides", 1)?;
        let dilation = two("dilations", 1)?;
        ensure!(
            stride.iter().chain(&dilation).all(|&v| v > 0),
            "strides and dilations must be positive"
        );
        let shape = &self.graph.tensors[t].shape;
        let input = [shape[1], shape[2]];
        let same = Window {
            padding: Padding::Same,
            stride,
            dilation,
        };
        // TFLite's SAME split of the padding, [top, left, bottom, right].
        let mut same_pads = [0; 4];
        for axis in 0..2 {
            let (_, before, after) = same.pads(axis, input[axis], kernel[axis])?;
            same_pads[axis] = before;
            same_pads[axis + 2] = after;
        }
        let auto_pad = attrs.string("auto_pad").unwrap_or_default();
        let pads = match auto_pad.as_str() {
            "" | "NOTSET" => {
                let p = attrs.ints("pads").unwrap_or_default();
                let p: Vec<usize> = p
                    .iter()
                    .map(|&x| usize::try_from(x).map_err(|_| anyhow!("negative pad {x}")))
                    .collect::<Result<_>>()?;
                match (p.as_slice(), one_d) {
                    ([], _) => [0; 4],
                    ([b, e], true) => [0, *b, 0, *e],
                    ([t, l, b, r], false) => [*t, *l, *b, *r],
                    _ => bail!("pads {p:?} do not fit the window"),
                }
            }
            "SAME_UPPER" => same_pads,
            "VALID" => [0; 4],
            other => {
                bail!("auto_pad {other} is not supported (SAME_UPPER, VALID or explicit pads)")
            }
        };
        Ok(Spatial {
            stride,
            dilation,
            pads,
            same_pads,
        })
    }

    /// PAD (with zeros) before a VALID window, for pads TFLite's SAME would not choose.
    fn pad_image(&mut self, t: TensorIx, pads: [usize; 4], name: &str) -> Result<TensorIx> {
        let pads = vec![[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]];
        self.graph
            .push(format!("{name}/pad"), Op::Pad { pads, value: 0.0 }, vec![t])
    }

    pub(super) fn conv(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let w = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("the weights are missing"))?;
        let bias = self.const_input(node, 2)?;
        let (x, one_d) = self.image(node)?;
        let channels = self.graph.tensors[x].shape[3];
        let (o, per_group, kh, kw) = match (w.shape.as_slice(), one_d) {
            ([o, i, k], true) => (*o, *i, 1, *k),
            ([o, i, kh, kw], false) => (*o, *i, *kh, *kw),
            (s, _) => bail!("weights of shape {s:?} do not fit the input"),
        };
        let group = usize::try_from(attrs.int("group", 1)).unwrap_or(0);
        let (window, explicit) = self.spatial(attrs, x, [kh, kw], one_d)?.window(true);
        let name = self.output(node)?.to_owned();
        let x = match explicit {
            Some(p) => self.pad_image(x, p, &name)?,
            None => x,
        };
        let values = w.f32s();
        let at = |oc: usize, ic: usize, ky: usize, kx: usize| {
            values[((oc * per_group + ic) * kh + ky) * kw + kx]
        };
        let (op, filter_shape, filter) = if group == 1 {
            ensure!(
                per_group == channels,
                "weights for {per_group} input channels, the input has {channels}"
            );
            let mut f = Vec::with_capacity(values.len());
            for oc in 0..o {
                for ky in 0..kh {
                    for kx in 0..kw {
                        f.extend((0..channels).map(|ic| at(oc, ic, ky, kx)));
                    }
                }
            }
            (
                Op::Conv2d {
                    window,
                    fused: Fused::None,
                },
                vec![o, kh, kw, channels],
                f,
            )
        } else if group == channels && per_group == 1 && o % channels == 0 {
            let mut f = Vec::with_capacity(values.len());
            for ky in 0..kh {
                for kx in 0..kw {
                    f.extend((0..o).map(|oc| at(oc, 0, ky, kx)));
                }
            }
            (
                Op::DepthwiseConv2d {
                    window,
                    multiplier: o / channels,
                    fused: Fused::None,
                },
                vec![1, kh, kw, o],
                f,
            )
        } else {
            bail!(
                "grouped convolution ({group} groups of {per_group} of {channels} channels) is \
                 not supported: only ordinary (1 group) and depthwise convolutions"
            )
        };
        let inputs = self.filter_and_bias(&name, x, (filter_shape, filter), o, bias.as_ref())?;
        self.graph.tensors[inputs[1]].fixed = w.output_channel_scales(0);
        let t = self.graph.push(name.clone(), op, inputs)?;
        self.set_image(node, t, one_d)
    }

    /// ConvTranspose: TFLite's TRANSPOSE_CONV computes the full output; ONNX's pads (and
    /// output_padding) then crop it with a SLICE.
    pub(super) fn conv_transpose(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let w = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("the weights are missing"))?;
        let bias = self.const_input(node, 2)?;
        ensure!(
            attrs.int("group", 1) == 1,
            "grouped ConvTranspose is not supported"
        );
        ensure!(
            attrs.ints("output_shape").is_none(),
            "output_shape is not supported: give pads and output_padding"
        );
        let auto_pad = attrs.string("auto_pad").unwrap_or_default();
        ensure!(
            matches!(auto_pad.as_str(), "" | "NOTSET" | "VALID"),
            "auto_pad {auto_pad} is not supported (explicit pads or VALID)"
        );
        let (x, one_d) = self.image(node)?;
        let channels = self.graph.tensors[x].shape[3];
        let (c_in, o, kh, kw) = match (w.shape.as_slice(), one_d) {
            ([i, o, k], true) => (*i, *o, 1, *k),
            ([i, o, kh, kw], false) => (*i, *o, *kh, *kw),
            (s, _) => bail!("weights of shape {s:?} do not fit the input"),
        };
        ensure!(
            c_in == channels,
            "weights for {c_in} input channels, the input has {channels}"
        );
        let ints = |name: &str| -> Result<Vec<usize>> {
            attrs
                .ints(name)
                .unwrap_or_default()
                .iter()
                .map(|&x| usize::try_from(x).map_err(|_| anyhow!("{name} {x}")))
                .collect()
        };
        // Strides, dilations and output_padding: one per spatial dimension.
        let two = |name: &str, default: usize| -> Result<[usize; 2]> {
            Ok(match (ints(name)?.as_slice(), one_d) {
                ([], _) => [default, default],
                ([a], true) => [default, *a],
                ([a, b], false) => [*a, *b],
                (v, _) => bail!("{name} {v:?} does not fit the window"),
            })
        };
        ensure!(
            two("dilations", 1)? == [1, 1],
            "dilated ConvTranspose is not supported"
        );
        let stride = two("strides", 1)?;
        ensure!(stride.iter().all(|&s| s > 0), "strides must be positive");
        let pads: [usize; 4] = match (ints("pads")?.as_slice(), one_d) {
            ([], _) => [0; 4],
            ([b, e], true) => [0, *b, 0, *e],
            ([t, l, b, r], false) => [*t, *l, *b, *r],
            (p, _) => bail!("pads {p:?} do not fit the window"),
        };
        let extra = two("output_padding", 0)?;
        let name = self.output(node)?.to_owned();
        let values = w.f32s();
        // ONNX [c_in, o, kh, kw] to TFLite's [o, kh, kw, c_in].
        let mut filter = Vec::with_capacity(values.len());
        for oc in 0..o {
            for ky in 0..kh {
                for kx in 0..kw {
                    filter.extend((0..c_in).map(|ic| values[((ic * o + oc) * kh + ky) * kw + kx]));
                }
            }
        }
        let shape = vec![o, kh, kw, c_in];
        let inputs = self.filter_and_bias(&name, x, (shape, filter), o, bias.as_ref())?;
        let full = self.graph.push(
            format!("{name}/full"),
            Op::TransposeConv {
                stride,
                fused: Fused::None,
            },
            inputs,
        )?;
        let s = self.graph.tensors[full].shape.clone();
        let mut size = s.clone();
        for axis in 0..2 {
            let (before, after) = (pads[axis], pads[axis + 2]);
            ensure!(
                extra[axis] <= after,
                "output_padding {} beyond the end padding {after} is not supported",
                extra[axis]
            );
            size[axis + 1] = (s[axis + 1] + extra[axis])
                .checked_sub(before + after)
                .filter(|&n| n > 0)
                .ok_or_else(|| anyhow!("pads {pads:?} leave no output"))?;
        }
        let t = if size == s {
            full
        } else {
            let begin = vec![0, pads[0], pads[1], 0];
            self.graph
                .push(name, Op::Slice { begin, size }, vec![full])?
        };
        self.set_image(node, t, one_d)
    }

    /// A convolution's inputs: `x`, the filter constant and, if given, the bias constant with
    /// one value per output channel (`o` of them).
    fn filter_and_bias(
        &mut self,
        name: &str,
        x: TensorIx,
        (shape, filter): (Vec<usize>, Vec<f32>),
        o: usize,
        bias: Option<&Const>,
    ) -> Result<Vec<TensorIx>> {
        let filter = self.constant(&format!("{name}/filter"), shape, filter)?;
        let mut inputs = vec![x, filter];
        if let Some(b) = bias {
            ensure!(
                b.values.len() == o,
                "{} bias values for {o} channels",
                b.values.len()
            );
            inputs.push(self.constant(&format!("{name}/bias"), vec![o], b.f32s())?);
        }
        Ok(inputs)
    }

    /// FULLY_CONNECTED on `x` (plain) with weights `[units, depth]` and a bias.
    #[allow(clippy::too_many_arguments)]
    fn fully_connected(
        &mut self,
        node: &NodeProto,
        x: TensorIx,
        weights: Vec<f32>,
        units: usize,
        fixed: Option<Fixed>,
        bias: Option<Vec<f32>>,
        keep_dims: bool,
    ) -> Result<()> {
        let name = self.output(node)?.to_owned();
        let depth = weights.len() / units.max(1);
        let w = self.constant(&format!("{name}/weights"), vec![units, depth], weights)?;
        self.graph.tensors[w].fixed = fixed;
        let mut inputs = vec![x, w];
        if let Some(b) = bias {
            inputs.push(self.constant(&format!("{name}/bias"), vec![units], b)?);
        }
        let t = self.graph.push(
            name.clone(),
            Op::FullyConnected {
                keep_dims,
                fused: Fused::None,
            },
            inputs,
        )?;
        self.set_act(&name, t, Layout::Plain);
        Ok(())
    }

    pub(super) fn gemm(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        ensure!(attrs.int("transA", 0) == 0, "transA is not supported");
        let b = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("B must be a constant (weights)"))?;
        let [rows, cols] = b.shape[..] else {
            bail!("B of shape {:?} is not a matrix", b.shape)
        };
        let alpha = f64::from(attrs.float("alpha", 1.0));
        let beta = f64::from(attrs.float("beta", 1.0));
        let trans_b = attrs.int("transB", 0) != 0;
        let (units, depth) = if trans_b { (rows, cols) } else { (cols, rows) };
        let weights: Vec<f32> = (0..units)
            .flat_map(|u| (0..depth).map(move |d| (u, d)))
            .map(|(u, d)| {
                let v = if trans_b {
                    b.values[u * cols + d]
                } else {
                    b.values[d * cols + u]
                };
                (alpha * v) as f32
            })
            .collect();
        let bias = self
            .const_input(node, 2)?
            .map(|c| bias_of(&c, units, beta))
            .transpose()?;
        let x = self.plain(self.input(node, 0)?)?;
        let in_shape = &self.graph.tensors[x].shape;
        ensure!(
            in_shape.len() == 2 && in_shape[1] == depth,
            "input of shape {in_shape:?} for weights of depth {depth}"
        );
        // Scaled weights (alpha) no longer have the quantizer's scales.
        let fixed = if alpha == 1.0 {
            b.output_channel_scales(if trans_b { 0 } else { 1 })
        } else {
            None
        };
        self.fully_connected(node, x, weights, units, fixed, bias, false)
    }

    pub(super) fn matmul(&mut self, node: &NodeProto) -> Result<()> {
        let b = match self.value(self.input(node, 1)?)? {
            Value::Const(c) => c.clone(),
            Value::Act { .. } => bail!(
                "MatMul by a computed tensor is not supported: the second operand must be \
                 constant weights"
            ),
        };
        let [depth, units] = b.shape[..] else {
            bail!(
                "weights of shape {:?}: a [depth, units] matrix is needed",
                b.shape
            )
        };
        let values = &b.values;
        let weights: Vec<f32> = (0..units)
            .flat_map(|u| (0..depth).map(move |d| values[d * units + u] as f32))
            .collect();
        let x = self.plain(self.input(node, 0)?)?;
        let rank = self.graph.tensors[x].shape.len();
        let fixed = b.output_channel_scales(1);
        self.fully_connected(node, x, weights, units, fixed, None, rank > 2)
    }

    pub(super) fn batch_norm(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let eps = f64::from(attrs.float("epsilon", 1e-5));
        let param = |i: usize| -> Result<Vec<f64>> {
            Ok(self
                .const_input(node, i)?
                .ok_or_else(|| anyhow!("input {i} is missing"))?
                .values)
        };
        let (gamma, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
        let channels = gamma.len();
        ensure!(
            [&beta, &mean, &var].iter().all(|p| p.len() == channels),
            "scale, bias, mean and variance differ in length"
        );
        let scale: Vec<f64> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + eps).sqrt())
            .collect();
        let shift: Vec<f64> = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), k)| b - m * k)
            .collect();
        let x = self.input(node, 0)?;
        let out = self.output(node)?.to_owned();
        if self.fold_into_producer(x, &scale, &shift)? {
            return self.alias(&out, x);
        }
        // Not after a convolution: a per-channel MUL and ADD.
        let rank = self.logical_shape(x)?.len();
        let mut shape = vec![1; rank];
        if rank > 1 {
            shape[1] = scale.len();
        }
        let as_const = |v: &[f64]| Const::new(shape.clone(), v.to_vec());
        let scaled = format!("{out}/scaled");
        self.binary_with_const(
            &scaled,
            x,
            &as_const(&scale),
            Op::Mul { fused: Fused::None },
            false,
        )?;
        self.binary_with_const(
            &out,
            &scaled,
            &as_const(&shift),
            Op::Add { fused: Fused::None },
            false,
        )
    }

    /// Folds `y = x * scale + shift` (per output channel) into the convolution or
    /// FULLY_CONNECTED that computes `x`, if this is the only reader of `x` under any of its
    /// names (Identity and QDQ pairs alias one tensor) and no quantization of the source model
    /// is fixed on its weights or output. Returns whether it did.
    pub(super) fn fold_into_producer(
        &mut self,
        x: &str,
        scale: &[f64],
        shift: &[f64],
    ) -> Result<bool> {
        let Value::Act { t, layout } = self.value(x)?.clone() else {
            return Ok(false);
        };
        let reads: usize = self
            .values
            .iter()
            .filter(|(_, v)| matches!(v, Value::Act { t: u, .. } if *u == t))
            .map(|(name, _)| self.readers.get(name).copied().unwrap_or(0))
            .sum();
        let readers = reads.saturating_sub(self.passed_on.get(&t).copied().unwrap_or(0));
        let already_read = self.graph.nodes.iter().any(|n| n.inputs.contains(&t));
        let rank = self.graph.tensors[t].shape.len();
        // The channel must be the stored last dimension.
        let channel_last = layout == Layout::ChannelsLast || rank == 2;
        if readers != 1 || already_read || !channel_last || self.graph.tensors[t].fixed.is_some() {
            return Ok(false);
        }
        let Some(p) = self.graph.nodes.iter().rposition(|n| n.output == t) else {
            return Ok(false);
        };
        let node = &self.graph.nodes[p];
        let channels = scale.len();
        // Convolution and FULLY_CONNECTED weights lead with the output channel; depthwise
        // filters end with it.
        let leading = match node.op {
            Op::Conv2d {
                fused: Fused::None, ..
            }
            | Op::FullyConnected {
                fused: Fused::None, ..
            } => true,
            Op::DepthwiseConv2d {
                fused: Fused::None, ..
            } => false,
            _ => return Ok(false),
        };
        let (w, b) = (node.inputs[1], node.inputs.get(2).copied());
        if self.graph.tensors[t].shape.last() != Some(&channels)
            || self.graph.tensors[w].fixed.is_some()
        {
            return Ok(false);
        }
        let weights = self.graph.tensors[w]
            .data
            .as_mut()
            .ok_or_else(|| anyhow!("weights"))?;
        let per_channel = weights.len() / channels.max(1);
        for (i, v) in weights.iter_mut().enumerate() {
            let channel = if leading {
                i / per_channel
            } else {
                i % channels
            };
            *v = (f64::from(*v) * scale[channel]) as f32;
        }
        let old_bias: Vec<f64> = match b.and_then(|b| self.graph.tensors[b].data.as_ref()) {
            Some(d) => d.iter().map(|&v| f64::from(v)).collect(),
            None => vec![0.0; channels],
        };
        let bias: Vec<f32> = old_bias
            .iter()
            .zip(scale)
            .zip(shift)
            .map(|((b, k), s)| (b * k + s) as f32)
            .collect();
        match b {
            Some(b) => self.graph.tensors[b].data = Some(bias),
            None => {
                let name = format!("{}/bias", self.graph.tensors[t].name);
                let b = self.constant(&name, vec![channels], bias)?;
                self.graph.nodes[p].inputs.push(b);
            }
        }
        Ok(true)
    }

    pub(super) fn pool(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        ensure!(
            attrs.int("ceil_mode", 0) == 0,
            "ceil_mode 1 is not supported"
        );
        let kernel = attrs
            .ints("kernel_shape")
            .ok_or_else(|| anyhow!("kernel_shape is missing"))?;
        let (x, one_d) = self.image(node)?;
        let kernel: Vec<usize> = kernel
            .iter()
            .map(|&k| usize::try_from(k).map_err(|_| anyhow!("kernel_shape {kernel:?}")))
            .collect::<Result<_>>()?;
        let kernel = match (kernel.as_slice(), one_d) {
            ([k], true) => [1, *k],
            ([a, b], false) => [*a, *b],
            _ => bail!("kernel_shape {kernel:?} does not fit the input"),
        };
        let spatial = self.spatial(attrs, x, kernel, one_d)?;
        ensure!(
            spatial.dilation == [1, 1],
            "dilated pools are not supported"
        );
        let max = node.op_type() == "MaxPool";
        // ONNX's average counts padded zeros only with count_include_pad.
        let zeros_count = !max && attrs.int("count_include_pad", 0) != 0;
        let (window, explicit) = spatial.window(!zeros_count);
        let name = self.output(node)?.to_owned();
        let x = match explicit {
            None => x,
            Some(p) if zeros_count => self.pad_image(x, p, &name)?,
            Some(p) => bail!(
                "pads {p:?} are neither zero nor TFLite's SAME split {:?}, which a {} cannot \
                 express",
                spatial.same_pads,
                if max {
                    "MaxPool"
                } else {
                    "AveragePool without count_include_pad"
                }
            ),
        };
        let op = if max {
            Op::MaxPool {
                window,
                filter: kernel,
                fused: Fused::None,
            }
        } else {
            Op::AvgPool {
                window,
                filter: kernel,
                fused: Fused::None,
            }
        };
        let t = self.graph.push(name, op, vec![x])?;
        self.set_image(node, t, one_d)
    }

    pub(super) fn global_average_pool(&mut self, node: &NodeProto) -> Result<()> {
        let x = self.channels_last(self.input(node, 0)?)?;
        let rank = self.graph.tensors[x].shape.len();
        let name = self.output(node)?.to_owned();
        let t = self.graph.push(
            name.clone(),
            Op::Mean {
                axes: (1..rank - 1).collect(),
                keep_dims: true,
            },
            vec![x],
        )?;
        self.set_act(&name, t, Layout::ChannelsLast);
        Ok(())
    }
}

/// Gemm's C times beta, as one value per unit.
fn bias_of(c: &Const, units: usize, beta: f64) -> Result<Vec<f32>> {
    let n = c.values.len();
    ensure!(
        n == units || n == 1,
        "C of shape {:?} is not a bias for {units} units",
        c.shape
    );
    Ok((0..units)
        .map(|u| (beta * c.values[if n == 1 { 0 } else { u }]) as f32)
        .collect())
}
