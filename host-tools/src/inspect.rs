//! What a blob holds: a per-layer table, the memory plan and the totals.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use mote::format::{Op, Requant, TensorDef, TensorId};
use mote::{Model, format};

/// Multiply-accumulates of one operator (0 for those that do none).
pub fn macs(model: &Model<'_>, op: &Op<'_>) -> u64 {
    let elems = |id: TensorId| {
        model
            .tensor(id)
            .ok()
            .and_then(|t| t.elements())
            .unwrap_or(0) as u64
    };
    let last_dim = |id: TensorId| {
        model
            .tensor(id)
            .ok()
            .and_then(|t| t.shape.last().copied())
            .map_or(1, u64::from)
    };
    match op {
        Op::FullyConnected(o) => {
            elems(o.output) * (o.weights.len() as u64 / u64::from(o.units.max(1)))
        }
        Op::FullyConnectedPaired(o) => elems(o.output) * o.depth() as u64,
        Op::Conv2d(o) => {
            let per_out = o.filter.len() as u64 / last_dim(o.output).max(1);
            elems(o.output) * per_out
        }
        Op::TransposeConv(o) => {
            let per_in = o.filter.len() as u64 / last_dim(o.input).max(1);
            elems(o.input) * per_in
        }
        Op::DepthwiseConv2d(o) => {
            elems(o.output) * u64::from(o.window.filter_h) * u64::from(o.window.filter_w)
        }
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => {
            elems(o.output) * u64::from(o.window.filter_h) * u64::from(o.window.filter_w)
        }
        Op::Add(o) => elems(o.output),
        Op::Mul(o) => elems(o.output),
        Op::Mean(o) => elems(o.input),
        Op::Reduce(o) => elems(o.input),
        _ => 0,
    }
}

/// Bytes of constant data an operator carries (weights, bias, per-channel multipliers).
pub fn constant_bytes(op: &Op<'_>) -> usize {
    let requant = |r: &Requant<'_>| match r {
        Requant::PerTensor(_) => 0,
        Requant::PerChannel {
            multipliers,
            shifts,
        } => multipliers.len() + shifts.len(),
    };
    match op {
        Op::FullyConnected(o) => {
            o.weights.len() + o.bias.map_or(0, <[u8]>::len) + requant(&o.requant)
        }
        Op::FullyConnectedPaired(o) => {
            o.pairs.len() + o.bias.map_or(0, <[u8]>::len) + requant(&o.requant)
        }
        Op::Conv2d(o) | Op::TransposeConv(o) => {
            o.filter.len() + o.bias.map_or(0, <[u8]>::len) + requant(&o.requant)
        }
        Op::DepthwiseConv2d(o) => {
            o.filter.len() + o.bias.map_or(0, <[u8]>::len) + requant(&o.requant)
        }
        Op::Constant(o) => o.data.len(),
        _ => 0,
    }
}

fn shape(t: &TensorDef) -> String {
    let dims: Vec<String> = t.shape.iter().map(u16::to_string).collect();
    format!("{}{:?}", dims.join("x"), t.dtype).to_lowercase()
}

fn params(op: &Op<'_>) -> String {
    let requant = |r: &Requant<'_>| match r {
        Requant::PerTensor(m) => format!("m={} s={}", m.multiplier, m.shift),
        Requant::PerChannel { shifts, .. } => format!("per-channel x{}", shifts.len()),
    };
    let window = |w: &format::Window| {
        format!(
            "{}x{} /{}x{} pad {},{}{}",
            w.filter_h,
            w.filter_w,
            w.stride_h,
            w.stride_w,
            w.pad_top,
            w.pad_left,
            if w.dilation_h > 1 || w.dilation_w > 1 {
                format!(" dil {}x{}", w.dilation_h, w.dilation_w)
            } else {
                String::new()
            }
        )
    };
    let clamp = |c: &format::Clamp| {
        if *c == format::Clamp::NONE {
            String::new()
        } else {
            format!(" clamp [{},{}]", c.min, c.max)
        }
    };
    match op {
        Op::FullyConnected(o) => format!("{}{}", requant(&o.requant), clamp(&o.clamp)),
        Op::FullyConnectedPaired(o) => {
            format!("{}{} row pairs", requant(&o.requant), clamp(&o.clamp))
        }
        Op::Conv2d(o) | Op::TransposeConv(o) => format!(
            "{} {}{}",
            window(&o.window),
            requant(&o.requant),
            clamp(&o.clamp)
        ),
        Op::DepthwiseConv2d(o) => format!(
            "{} mult {} {}{}",
            window(&o.window),
            o.depth_multiplier,
            requant(&o.requant),
            clamp(&o.clamp)
        ),
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => {
            format!("{}{}", window(&o.window), clamp(&o.clamp))
        }
        Op::Add(o) => format!("shift {}{}", o.left_shift, clamp(&o.clamp)),
        Op::Mul(o) => format!(
            "m={} s={}{}",
            o.output_multiplier.multiplier,
            o.output_multiplier.shift,
            clamp(&o.clamp)
        ),
        Op::Softmax(o) => format!(
            "m={} shift {} diff_min {}",
            o.input_multiplier, o.input_left_shift, o.diff_min
        ),
        Op::Rescale(o) => format!(
            "m={} s={}{}",
            o.multiplier.multiplier,
            o.multiplier.shift,
            clamp(&o.clamp)
        ),
        Op::Concatenation(o) => format!("axis {}", o.axis),
        Op::Transpose(o) => format!("perm {:?}", o.perm),
        Op::Clip(o) => format!("clamp {}..={}", o.clamp.min, o.clamp.max),
        _ => String::new(),
    }
}

/// The report `mote inspect` prints.
pub fn report(blob: &[u8]) -> Result<String> {
    let model = Model::parse(blob).context("invalid blob")?;
    let mut out = String::new();
    let mut total_macs = 0u64;
    let mut weight_bytes = 0usize;
    writeln!(
        out,
        "{:>3}  {:<17} {:<24} {:<16} {:<22} {:>10}  params",
        "#", "op", "input", "output", "output quant", "MACs"
    )?;
    for (i, op) in model.ops().enumerate() {
        let op = op?;
        let mut first_input = None;
        op.for_each_input(|t| {
            first_input.get_or_insert(t);
        });
        let input = first_input.map(|t| model.tensor(t)).transpose()?;
        let output = model.tensor(op.output())?;
        let m = macs(&model, &op);
        total_macs += m;
        weight_bytes += constant_bytes(&op);
        let mut inputs = Vec::new();
        op.for_each_input(|t| inputs.push(t));
        let in_text = match (&input, inputs.len()) {
            (Some(t), 1) => shape(t),
            (Some(t), n) => format!("{} (+{})", shape(t), n - 1),
            (None, _) => String::new(),
        };
        writeln!(
            out,
            "{i:>3}  {:<17} {:<24} {:<16} {:<22} {:>10}  {}",
            op.name(),
            in_text,
            shape(&output),
            format!("s={:.6} zp={}", output.scale, output.zero_point),
            m,
            params(&op)
        )?;
    }
    writeln!(out, "\nmemory plan (arena offsets; live from op to op):")?;
    for id in 0..model.tensor_count() {
        let t = model.tensor(id)?;
        let role = if model.inputs().contains(&id) {
            " input"
        } else if model.outputs().contains(&id) {
            " output"
        } else {
            ""
        };
        writeln!(
            out,
            "  t{id:<3} {:>7} B at {:>7}  ops {:>3}..{:<3} {}{role}",
            t.byte_len().unwrap_or(0),
            t.offset,
            t.first_op,
            t.last_op,
            shape(&t)
        )?;
    }
    writeln!(out, "\ntotals:")?;
    writeln!(out, "  operators      {}", model.op_count())?;
    writeln!(out, "  MACs           {total_macs}")?;
    writeln!(out, "  weights bytes  {weight_bytes}")?;
    writeln!(
        out,
        "  arena bytes    {} (tensors {} + kernel scratch {})",
        model.arena_size(),
        model.tensor_bytes(),
        model.scratch_bytes()
    )?;
    writeln!(out, "  blob bytes     {}", blob.len())?;
    Ok(out)
}
