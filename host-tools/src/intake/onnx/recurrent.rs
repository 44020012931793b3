//! LSTM: one forward layer with ONNX's default activations (sigmoid gates, tanh cell and
//! output), no peepholes, clipping or coupled input-forget gate, zero initial states — what
//! TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM computes. GRU and RNN have no mote operator.

use anyhow::{Result, anyhow, bail, ensure};

use super::{Attrs, Layout, Reader};
use crate::float::Op;
use crate::intake::onnx::proto::NodeProto;

impl Reader {
    pub(super) fn lstm(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<()> {
        let direction = attrs
            .string("direction")
            .unwrap_or_else(|| "forward".into());
        ensure!(
            direction == "forward",
            "a {direction} LSTM is not supported (only forward)"
        );
        ensure!(
            attrs.get("clip").is_none(),
            "a clipped LSTM is not supported"
        );
        ensure!(
            attrs.int("input_forget", 0) == 0,
            "a coupled input-forget gate is not supported"
        );
        if let Some(a) = attrs.get("activations") {
            let names: Vec<String> = a
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            ensure!(
                names
                    .iter()
                    .map(String::as_str)
                    .eq(["Sigmoid", "Tanh", "Tanh"]),
                "activations {names:?} are not supported (only Sigmoid, Tanh, Tanh)"
            );
        }
        let batch_major = attrs.int("layout", 0) != 0;
        let weight = |i: usize, what: &str| -> Result<super::Const> {
            self.const_input(node, i)?
                .ok_or_else(|| anyhow!("the {what} must be constants"))
        };
        let (w, r) = (weight(1, "input weights")?, weight(2, "recurrent weights")?);
        let b = self.const_input(node, 3)?;
        for (i, what) in [(5, "initial hidden state"), (6, "initial cell state")] {
            if let Some(c) = self.const_input(node, i)? {
                ensure!(
                    c.values.iter().all(|&v| v == 0.0),
                    "a non-zero {what} is not supported (mote's LSTM starts from zeros)"
                );
            }
        }
        ensure!(
            node.input.get(7).is_none_or(String::is_empty),
            "peephole connections are not supported"
        );
        let [1, four_units, width] = w.shape[..] else {
            bail!(
                "input weights of shape {:?}: one direction [1, 4 * hidden, in] is needed",
                w.shape
            )
        };
        let units = four_units / 4;
        ensure!(
            units * 4 == four_units && r.shape == [1, four_units, units],
            "recurrent weights of shape {:?} for {units} units",
            r.shape
        );
        // The sequence lengths may only say "the whole sequence".
        let x = self.input(node, 0)?.to_owned();
        let mut xt = self.plain(&x)?;
        let shape = self.graph.tensors[xt].shape.clone();
        let [d0, d1, in_width] = shape[..] else {
            bail!("input of shape {shape:?}: [time, batch, in] is needed")
        };
        ensure!(
            in_width == width,
            "input width {in_width} for weights of {width}"
        );
        let (time, batch) = if batch_major { (d1, d0) } else { (d0, d1) };
        if let Some(lens) = self.const_input(node, 4)? {
            ensure!(
                lens.values.iter().all(|&l| l == time as f64),
                "sequence lengths {:?} shorter than the sequence are not supported",
                lens.values
            );
        } else {
            ensure!(
                node.input.get(4).is_none_or(String::is_empty),
                "computed sequence lengths are not supported"
            );
        }
        let out = node.output.first().cloned().unwrap_or_default();
        if batch_major {
            xt = self.graph.push(
                format!("{out}/time_major"),
                Op::Transpose {
                    perm: vec![1, 0, 2],
                },
                vec![xt],
            )?;
        }
        // ONNX's gate order is input, output, forget, cell; TFLite's input, forget, cell,
        // output. Biases are ONNX's input and recurrent halves, summed.
        let onnx_gate = [0, 2, 3, 1];
        let mut inputs = vec![xt];
        for (matrix, cols, what) in [(&w, width, "input"), (&r, units, "recurrent")] {
            for (g, &og) in onnx_gate.iter().enumerate() {
                let values = matrix.values[og * units * cols..(og + 1) * units * cols]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                let name = format!("{out}/{what}_weights_{g}");
                inputs.push(self.constant(&name, vec![units, cols], values)?);
            }
        }
        for (g, &og) in onnx_gate.iter().enumerate() {
            let values = match &b {
                Some(b) => {
                    ensure!(b.values.len() == 8 * units, "bias of shape {:?}", b.shape);
                    (0..units)
                        .map(|u| (b.values[og * units + u] + b.values[(4 + og) * units + u]) as f32)
                        .collect()
                }
                None => vec![0.0; units],
            };
            inputs.push(self.constant(&format!("{out}/bias_{g}"), vec![units], values)?);
        }
        inputs.push(
            self.graph
                .activation(format!("{out}/hidden_state"), vec![batch, units]),
        );
        inputs.push(
            self.graph
                .activation(format!("{out}/cell_state"), vec![batch, units]),
        );
        let y = self
            .graph
            .push(format!("{out}/sequence"), Op::Lstm, inputs)?;
        // Y is [time, directions, batch, hidden] (layout 1: [batch, time, directions, hidden]).
        let y = if batch_major {
            let t = self.graph.push(
                format!("{out}/batch_major"),
                Op::Transpose {
                    perm: vec![1, 0, 2],
                },
                vec![y],
            )?;
            self.graph.push(
                out.clone(),
                Op::Reshape {
                    shape: vec![batch, time, 1, units],
                },
                vec![t],
            )?
        } else {
            self.graph.push(
                out.clone(),
                Op::Reshape {
                    shape: vec![time, 1, batch, units],
                },
                vec![y],
            )?
        };
        if !out.is_empty() {
            self.set_act(&out, y, Layout::Plain);
        }
        // Y_h, the last step's hidden state, is a slice of Y; Y_c has no counterpart.
        let read = |i: usize| {
            node.output
                .get(i)
                .filter(|n| !n.is_empty() && self.readers.get(*n).is_some_and(|&r| r > 0))
                .cloned()
        };
        let (y_h, y_c) = (read(1), read(2));
        if let Some(y_h) = &y_h {
            let seq = y;
            let (begin, size) = if batch_major {
                (vec![0, time - 1, 0, 0], vec![batch, 1, 1, units])
            } else {
                (vec![time - 1, 0, 0, 0], vec![1, 1, batch, units])
            };
            let last =
                self.graph
                    .push(format!("{y_h}/slice"), Op::Slice { begin, size }, vec![seq])?;
            let shape = if batch_major {
                vec![batch, 1, units]
            } else {
                vec![1, batch, units]
            };
            let t = self
                .graph
                .push(y_h.clone(), Op::Reshape { shape }, vec![last])?;
            self.set_act(y_h, t, Layout::Plain);
        }
        ensure!(
            y_c.is_none(),
            "the final cell state (Y_c) is read, which mote's LSTM does not expose"
        );
        Ok(())
    }
}
