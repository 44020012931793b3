//! Operators that see the element order or take axes: Flatten, Reshape, Squeeze, Unsqueeze,
//! Transpose, Concat, Softmax, ReduceMean, Pad, Slice, Split and Gather (of one index).
//! The first group works on the logical order; the axis-taking ones map their axes onto a
//! channels-last input instead of converting it.

use anyhow::{Result, anyhow, bail, ensure};

use super::fold::{squeeze, transpose_perm, unsqueeze};
use super::{Attrs, Layout, Reader, stored_axis};
use crate::float::Op;
use crate::intake::onnx::proto::NodeProto;

/// `axis` (negative counts from the end) as an index into `rank` dimensions.
pub(super) fn normalize_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = i64::try_from(rank)?;
    let a = if axis < 0 { axis + r } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank)
        .ok_or_else(|| anyhow!("axis {axis} is out of range for {rank} dimensions"))
}

impl Reader {
    /// Integer operand `i` (an input from opset 13 on) or attribute `attr` (before).
    fn ints_operand(
        &self,
        node: &NodeProto,
        i: usize,
        attr: &Attrs<'_>,
        name: &str,
    ) -> Result<Option<Vec<i64>>> {
        match self.const_input(node, i)? {
            Some(c) => Ok(Some(c.ints()?)),
            None => Ok(attr.ints(name)),
        }
    }

    /// Reshapes activation `x` (in the logical order) to `shape` under the node's output.
    fn reshape_to(&mut self, node: &NodeProto, shape: Vec<usize>) -> Result<()> {
        let x = self.plain(self.input(node, 0)?)?;
        let out = self.output(node)?.to_owned();
        let t = self
            .graph
            .push(out.clone(), Op::Reshape { shape }, vec![x])?;
        self.set_act(&out, t, Layout::Plain);
        Ok(())
    }

    pub(super) fn flatten(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let shape = self.logical_shape(self.input(node, 0)?)?;
        let axis = attrs.int("axis", 1);
        let axis = if axis == i64::try_from(shape.len())? {
            shape.len()
        } else {
            normalize_axis(axis, shape.len())?
        };
        let outer = shape[..axis].iter().product();
        self.reshape_to(node, vec![outer, shape[axis..].iter().product()])
    }

    pub(super) fn reshape(&mut self, node: &NodeProto) -> Result<()> {
        let input = self.logical_shape(self.input(node, 0)?)?;
        let target = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("the target shape must be a constant"))?
            .ints()?;
        let shape = reshape_target(&input, &target)?;
        self.reshape_to(node, shape)
    }

    pub(super) fn squeeze(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let shape = self.logical_shape(self.input(node, 0)?)?;
        let axes = self.ints_operand(node, 1, attrs, "axes")?;
        let shape = if node.op_type() == "Squeeze" {
            squeeze(&shape, axes.as_deref())?
        } else {
            unsqueeze(
                &shape,
                &axes.ok_or_else(|| anyhow!("Unsqueeze needs axes"))?,
            )?
        };
        self.reshape_to(node, shape)
    }

    pub(super) fn transpose(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let (t, layout) = self.act(&x)?;
        let logical = self.logical_shape(&x)?;
        let rank = logical.len();
        let perm = transpose_perm(attrs, rank)?;
        let out = self.output(node)?.to_owned();
        // NHWC data transposed to NCHW (tf2onnx's input) is this very tensor, stored
        // channels-last: no operator at all.
        let to_channels_first = (0..rank).map(|k| stored_axis(rank, k));
        if layout == Layout::Plain && rank >= 3 && perm.iter().copied().eq(to_channels_first) {
            self.set_act(&out, t, Layout::ChannelsLast);
            return Ok(());
        }
        // One TRANSPOSE from the stored order straight to the permuted logical order.
        let stored_perm: Vec<usize> = match layout {
            Layout::Plain => perm.clone(),
            Layout::ChannelsLast => perm.iter().map(|&a| stored_axis(rank, a)).collect(),
        };
        let shape = perm.iter().map(|&a| logical[a]).collect();
        let y = self.relayout(t, stored_perm, shape, &out)?;
        self.set_act(&out, y, Layout::Plain);
        Ok(())
    }

    pub(super) fn concat(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let names: Vec<String> = node
            .input
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect();
        ensure!(!names.is_empty(), "Concat of nothing");
        ensure!(
            names.iter().all(|n| !self.is_const(n)),
            "Concat of a constant and computed tensors is not supported"
        );
        let rank = self.logical_shape(&names[0])?.len();
        let axis = normalize_axis(attrs.int("axis", 0), rank)?;
        let mut channels_last = rank >= 3;
        for n in &names {
            let (_, layout) = self.act(n)?;
            channels_last &= layout == Layout::ChannelsLast;
        }
        let (inputs, axis, layout) = if channels_last {
            (
                names
                    .iter()
                    .map(|n| self.act(n).map(|a| a.0))
                    .collect::<Result<Vec<_>>>()?,
                stored_axis(rank, axis),
                Layout::ChannelsLast,
            )
        } else {
            (
                names
                    .iter()
                    .map(|n| self.plain(n))
                    .collect::<Result<Vec<_>>>()?,
                axis,
                Layout::Plain,
            )
        };
        let out = self.output(node)?.to_owned();
        let y = self.graph.push(out.clone(), Op::Concat { axis }, inputs)?;
        self.set_act(&out, y, layout);
        Ok(())
    }

    pub(super) fn softmax(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let (_, layout) = self.act(&x)?;
        let rank = self.logical_shape(&x)?.len();
        let default = if self.opset >= 13 { -1 } else { 1 };
        let axis = normalize_axis(attrs.int("axis", default), rank)?;
        // Before opset 13, Softmax flattened the dimensions from `axis` on: the same only
        // for the last one.
        ensure!(
            self.opset >= 13 || axis == rank - 1,
            "Softmax (opset {}) over dimensions {axis}.. of {rank} is not supported: only the \
             last",
            self.opset
        );
        let out = self.output(node)?.to_owned();
        // TFLite's SOFTMAX runs over the stored last dimension.
        if layout == Layout::ChannelsLast && stored_axis(rank, axis) == rank - 1 {
            return self.unary(&out, &x, Op::Softmax { beta: 1.0 });
        }
        ensure!(
            axis == rank - 1,
            "Softmax over axis {axis} of {rank} dimensions is not supported: only the channel \
             or the last axis"
        );
        let t = self.plain(&x)?;
        let y = self
            .graph
            .push(out.clone(), Op::Softmax { beta: 1.0 }, vec![t])?;
        self.set_act(&out, y, Layout::Plain);
        Ok(())
    }

    pub(super) fn reduce_mean(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let (t, layout) = self.act(&x)?;
        let rank = self.logical_shape(&x)?.len();
        let axes: Vec<usize> = match self.ints_operand(node, 1, attrs, "axes")? {
            Some(a) if !a.is_empty() => a
                .iter()
                .map(|&a| normalize_axis(a, rank))
                .collect::<Result<_>>()?,
            _ => (0..rank).collect(),
        };
        let keep_dims = attrs.int("keepdims", 1) != 0;
        let out = self.output(node)?.to_owned();
        let (t, axes, layout) = match layout {
            Layout::ChannelsLast => {
                let stored: Vec<usize> = axes.iter().map(|&a| stored_axis(rank, a)).collect();
                // Without kept dimensions, what remains must already be in logical order.
                let remaining: Vec<usize> = (0..rank)
                    .map(|j| {
                        if j == 0 {
                            0
                        } else if j == rank - 1 {
                            1
                        } else {
                            j + 1
                        }
                    })
                    .filter(|a| !axes.contains(a))
                    .collect();
                if keep_dims {
                    (t, stored, Layout::ChannelsLast)
                } else if remaining.windows(2).all(|w| w[0] < w[1]) {
                    (t, stored, Layout::Plain)
                } else {
                    (self.plain(&x)?, axes, Layout::Plain)
                }
            }
            Layout::Plain => (t, axes, Layout::Plain),
        };
        let y = self
            .graph
            .push(out.clone(), Op::Mean { axes, keep_dims }, vec![t])?;
        self.set_act(&out, y, layout);
        Ok(())
    }

    pub(super) fn pad(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let mode = attrs.string("mode").unwrap_or_else(|| "constant".into());
        ensure!(
            mode == "constant",
            "Pad mode {mode} is not supported (only constant)"
        );
        let x = self.input(node, 0)?.to_owned();
        let (t, layout) = self.act(&x)?;
        let rank = self.logical_shape(&x)?.len();
        let pads = self
            .ints_operand(node, 1, attrs, "pads")?
            .ok_or_else(|| anyhow!("pads are missing"))?;
        ensure!(
            pads.len() == 2 * rank && pads.iter().all(|&p| p >= 0),
            "pads {pads:?} for {rank} dimensions (negative pads are not supported)"
        );
        ensure!(
            node.input.get(3).is_none_or(String::is_empty),
            "Pad over chosen axes is not supported"
        );
        let value = match self.const_input(node, 2)? {
            Some(c) => c.values.first().copied().unwrap_or(0.0) as f32,
            None => attrs.float("value", 0.0),
        };
        let mut stored = vec![[0usize; 2]; rank];
        for a in 0..rank {
            let s = match layout {
                Layout::Plain => a,
                Layout::ChannelsLast => stored_axis(rank, a),
            };
            stored[s] = [usize::try_from(pads[a])?, usize::try_from(pads[a + rank])?];
        }
        let out = self.output(node)?.to_owned();
        let y = self.graph.push(
            out.clone(),
            Op::Pad {
                pads: stored,
                value,
            },
            vec![t],
        )?;
        self.set_act(&out, y, layout);
        Ok(())
    }

    /// A box of `x`, `(axis, begin, size)` along each given logical axis and whole along the
    /// others, written to `out` in `x`'s layout: one SLICE.
    fn slice_box(&mut self, x: &str, out: &str, ranges: &[(usize, usize, usize)]) -> Result<()> {
        let (t, layout) = self.act(x)?;
        let stored = self.graph.tensors[t].shape.clone();
        let rank = stored.len();
        let mut begin = vec![0; rank];
        let mut size = stored;
        for &(axis, b, n) in ranges {
            let s = match layout {
                Layout::Plain => axis,
                Layout::ChannelsLast => stored_axis(rank, axis),
            };
            begin[s] = b;
            size[s] = n;
        }
        let y = self.graph.push(out, Op::Slice { begin, size }, vec![t])?;
        self.set_act(out, y, layout);
        Ok(())
    }

    pub(super) fn slice(&mut self, node: &NodeProto) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let shape = self.logical_shape(&x)?;
        let rank = shape.len();
        let get = |i: usize| -> Result<Option<Vec<i64>>> {
            self.const_input(node, i)?.map(|c| c.ints()).transpose()
        };
        let starts = get(1)?.ok_or_else(|| anyhow!("starts must be a constant"))?;
        let ends = get(2)?.ok_or_else(|| anyhow!("ends must be a constant"))?;
        let axes =
            get(3)?.unwrap_or_else(|| (0..i64::try_from(starts.len()).unwrap_or(0)).collect());
        let steps = get(4)?.unwrap_or_else(|| vec![1; starts.len()]);
        ensure!(
            steps.iter().all(|&s| s == 1),
            "Slice steps {steps:?}: only step 1 is supported"
        );
        ensure!(
            starts.len() == ends.len() && axes.len() == starts.len(),
            "starts, ends and axes differ in length"
        );
        let mut ranges = Vec::with_capacity(starts.len());
        for ((&st, &en), &ax) in starts.iter().zip(&ends).zip(&axes) {
            let axis = normalize_axis(ax, rank)?;
            let d = i64::try_from(shape[axis])?;
            let clamp = |v: i64| (if v < 0 { v.saturating_add(d) } else { v }).clamp(0, d);
            let (b, e) = (clamp(st), clamp(en));
            ensure!(e > b, "Slice of nothing along axis {axis}");
            ranges.push((axis, usize::try_from(b)?, usize::try_from(e - b)?));
        }
        let out = self.output(node)?.to_owned();
        self.slice_box(&x, &out, &ranges)
    }

    pub(super) fn split(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let shape = self.logical_shape(&x)?;
        let axis = normalize_axis(attrs.int("axis", 0), shape.len())?;
        let outputs = node.output.len();
        let sizes: Vec<usize> = match self.ints_operand(node, 1, attrs, "split")? {
            Some(s) => s
                .iter()
                .map(|&v| usize::try_from(v).map_err(|_| anyhow!("split sizes {s:?}")))
                .collect::<Result<_>>()?,
            None => {
                let n = shape[axis].div_ceil(outputs.max(1));
                (0..outputs)
                    .map(|i| n.min(shape[axis].saturating_sub(i * n)))
                    .collect()
            }
        };
        ensure!(
            sizes.len() == outputs
                && sizes
                    .iter()
                    .try_fold(0usize, |a, &b| a.checked_add(b))
                    .is_some_and(|sum| sum == shape[axis]),
            "split sizes {sizes:?} do not divide {} into {outputs} outputs",
            shape[axis]
        );
        let mut begin = 0;
        for (out, &size) in node.output.iter().zip(&sizes) {
            self.slice_box(&x, out, &[(axis, begin, size)])?;
            begin += size;
        }
        Ok(())
    }

    /// Gather of one constant index along an axis of an activation: a slice, then the axis
    /// dropped (a scalar index) or kept (a one-element index list).
    pub(super) fn gather(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let x = self.input(node, 0)?.to_owned();
        let indices = self
            .const_input(node, 1)?
            .ok_or_else(|| anyhow!("Gather with computed indices is not supported"))?;
        let shape = self.logical_shape(&x)?;
        let axis = normalize_axis(attrs.int("axis", 0), shape.len())?;
        let [index] = indices.ints()?[..] else {
            bail!(
                "Gather of {} indices from a computed tensor is not supported (only one)",
                indices.values.len()
            )
        };
        let d = i64::try_from(shape[axis])?;
        let index = if index < 0 { index + d } else { index };
        ensure!(
            (0..d).contains(&index),
            "index {index} out of range for {d}"
        );
        let out = self.output(node)?.to_owned();
        let sliced = format!("{out}/slice");
        self.slice_box(&x, &sliced, &[(axis, usize::try_from(index)?, 1)])?;
        let mut new_shape = shape;
        // The axis is replaced by the indices' shape: dropped for a scalar index.
        new_shape.splice(axis..=axis, indices.shape.iter().copied());
        let t = self.plain(&sliced)?;
        let y = self
            .graph
            .push(out.clone(), Op::Reshape { shape: new_shape }, vec![t])?;
        self.set_act(&out, y, Layout::Plain);
        Ok(())
    }
}

/// ONNX Reshape's target: 0 copies the input's dimension, -1 takes what is left.
pub(super) fn reshape_target(input: &[usize], target: &[i64]) -> Result<Vec<usize>> {
    let total = crate::float::elements(input)?;
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        shape.push(match d {
            0 => *input
                .get(i)
                .ok_or_else(|| anyhow!("0 copies dimension {i}, which the input lacks"))?,
            -1 => {
                ensure!(
                    infer.is_none(),
                    "more than one -1 in the target shape {target:?}"
                );
                infer = Some(i);
                1
            }
            d => usize::try_from(d).map_err(|_| anyhow!("dimension {d} in the target shape"))?,
        });
    }
    let known = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| anyhow!("the target shape {target:?} overflows"))?;
    if let Some(i) = infer {
        ensure!(
            known > 0 && total.is_multiple_of(known),
            "{input:?} cannot be reshaped to {target:?}"
        );
        shape[i] = total / known;
    }
    ensure!(
        shape.iter().product::<usize>() == total,
        "{input:?} cannot be reshaped to {target:?}"
    );
    Ok(shape)
}
