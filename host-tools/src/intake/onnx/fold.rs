//! Constant folding: Constant, Shape of a known shape, and the shape arithmetic exporters
//! emit around it (Gather, Unsqueeze, Squeeze, Concat, Cast, Reshape, Slice, Expand,
//! ConstantOfShape, Add, Sub, Mul, Div) when every input is a constant.

use anyhow::{Result, anyhow, bail, ensure};

use super::shape::{normalize_axis, reshape_target};
use super::{Attrs, Const, Reader, Value, tensor};
use crate::float::index::{broadcast, map_indices, strides, transpose};
use crate::float::{broadcast_shape, elements};
use crate::intake::onnx::proto::NodeProto;

/// Folds `node` if it is a constant computation; returns whether it did.
pub(super) fn try_fold(r: &mut Reader, node: &NodeProto, attrs: &Attrs<'_>) -> Result<bool> {
    let op = node.op_type();
    let folded = match op {
        "Constant" => Some(constant(attrs)?),
        "Shape" => {
            let shape = r.logical_shape(r.input(node, 0)?)?;
            let rank = i64::try_from(shape.len())?;
            let clip = |v: i64| {
                usize::try_from(if v < 0 { v + rank } else { v }.clamp(0, rank)).unwrap_or(0)
            };
            let (start, end) = (clip(attrs.int("start", 0)), clip(attrs.int("end", rank)));
            let dims: Vec<f64> = shape[start..end.max(start)]
                .iter()
                .map(|&d| d as f64)
                .collect();
            Some(Const::new(vec![dims.len()], dims))
        }
        _ => None,
    };
    if let Some(c) = folded {
        r.set(r.output(node)?, Value::Const(c));
        return Ok(true);
    }
    let inputs: Vec<Option<Const>> = node
        .input
        .iter()
        .map(|name| match name.as_str() {
            "" => Ok(None),
            n => match r.value(n)? {
                Value::Const(c) => Ok(Some(c.clone())),
                Value::Act { .. } => Err(anyhow!("computed")),
            },
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if inputs.is_empty() || inputs[0].is_none() {
        return Ok(false);
    }
    let c = |i: usize| -> Result<&Const> {
        inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| anyhow!("input {i} is missing"))
    };
    let x = c(0)?;
    let value = match op {
        "Identity" | "Dropout" => x.clone(),
        "Cast" => {
            let to = attrs.int("to", 1);
            // 1 float, 10 float16, 11 double, 16 bfloat16 keep fractions; integers truncate.
            let float = matches!(to, 1 | 10 | 11 | 16);
            Const {
                values: x
                    .values
                    .iter()
                    .map(|&v| if float { v } else { v.trunc() })
                    .collect(),
                ..x.clone()
            }
        }
        "Unsqueeze" | "Squeeze" | "Reshape" | "Flatten" => {
            let axes = match inputs.get(1).and_then(Option::as_ref) {
                Some(a) => Some(a.ints()?),
                None => attrs.ints("axes"),
            };
            let mut shape = x.shape.clone();
            match op {
                "Unsqueeze" => {
                    let axes = axes.ok_or_else(|| anyhow!("Unsqueeze needs axes"))?;
                    shape = unsqueeze(&shape, &axes)?;
                }
                "Squeeze" => shape = squeeze(&shape, axes.as_deref())?,
                "Reshape" => shape = reshape_target(&x.shape, &c(1)?.ints()?)?,
                _ => {
                    let axis = normalize_axis(attrs.int("axis", 1), shape.len() + 1)?;
                    shape = vec![
                        shape[..axis].iter().product(),
                        shape[axis..].iter().product(),
                    ];
                }
            }
            Const { shape, ..x.clone() }
        }
        "Concat" => {
            let parts: Vec<&Const> = inputs.iter().flatten().collect();
            let rank = x.shape.len().max(1);
            let axis = normalize_axis(attrs.int("axis", 0), rank)?;
            let shape_of = |p: &Const| {
                if p.shape.is_empty() {
                    vec![1]
                } else {
                    p.shape.clone()
                }
            };
            let mut shape = shape_of(x);
            for p in &parts {
                let s = shape_of(p);
                ensure!(
                    s.len() == shape.len()
                        && s.iter()
                            .zip(&shape)
                            .enumerate()
                            .all(|(a, (m, n))| a == axis || m == n),
                    "Concat of constants of shapes {:?} and {s:?} along axis {axis}",
                    x.shape
                );
            }
            shape[axis] = parts.iter().map(|p| shape_of(p)[axis]).sum();
            let outer: usize = shape[..axis].iter().product();
            let mut values = Vec::with_capacity(elements(&shape)?);
            for o in 0..outer {
                for p in &parts {
                    let chunk: usize = shape_of(p)[axis..].iter().product();
                    values.extend_from_slice(&p.values[o * chunk..(o + 1) * chunk]);
                }
            }
            Const::new(shape, values)
        }
        "Gather" => {
            let indices = c(1)?;
            let axis = normalize_axis(attrs.int("axis", 0), x.shape.len())?;
            let d = x.shape[axis];
            let outer: usize = x.shape[..axis].iter().product();
            let inner: usize = x.shape[axis + 1..].iter().product();
            let mut out_shape = x.shape[..axis].to_vec();
            out_shape.extend_from_slice(&indices.shape);
            out_shape.extend_from_slice(&x.shape[axis + 1..]);
            elements(&out_shape)?;
            let mut values = Vec::new();
            for o in 0..outer {
                for &i in &indices.ints()? {
                    let i = if i < 0 { i + i64::try_from(d)? } else { i };
                    let i = usize::try_from(i)
                        .ok()
                        .filter(|&i| i < d)
                        .ok_or_else(|| anyhow!("Gather index {i} out of range"))?;
                    values
                        .extend_from_slice(&x.values[(o * d + i) * inner..(o * d + i + 1) * inner]);
                }
            }
            let mut shape = x.shape[..axis].to_vec();
            shape.extend_from_slice(&indices.shape);
            shape.extend_from_slice(&x.shape[axis + 1..]);
            Const::new(shape, values)
        }
        "Slice" => {
            let (starts, ends) = (c(1)?.ints()?, c(2)?.ints()?);
            let rank = x.shape.len();
            let axes = match inputs.get(3).and_then(Option::as_ref) {
                Some(a) => a.ints()?,
                None => (0..i64::try_from(starts.len())?).collect(),
            };
            let steps = match inputs.get(4).and_then(Option::as_ref) {
                Some(s) => s.ints()?,
                None => vec![1; starts.len()],
            };
            ensure!(
                starts.len() == ends.len()
                    && axes.len() == starts.len()
                    && steps.len() == starts.len(),
                "starts, ends, axes and steps differ in length"
            );
            // The indices taken along each dimension (all of it unless sliced).
            let mut picks: Vec<Vec<usize>> = x.shape.iter().map(|&d| (0..d).collect()).collect();
            for k in 0..starts.len() {
                let axis = normalize_axis(axes[k], rank)?;
                picks[axis] = slice_indices(x.shape[axis], starts[k], ends[k], steps[k])?;
            }
            gather_box(x, &picks)?
        }
        "Transpose" => {
            let perm = transpose_perm(attrs, x.shape.len())?;
            Const::new(
                perm.iter().map(|&a| x.shape[a]).collect(),
                transpose(&x.values, &x.shape, &perm),
            )
        }
        "ConstantOfShape" => {
            let shape: Vec<usize> = x
                .ints()?
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<_, _>>()?;
            let fill = match attrs.get("value").and_then(|a| a.t.as_ref()) {
                Some(t) => tensor(t)?.values.first().copied().unwrap_or(0.0),
                None => 0.0,
            };
            {
                let n = elements(&shape)?;
                Const::new(shape, vec![fill; n])
            }
        }
        "Expand" => {
            let target: Vec<usize> = c(1)?
                .ints()?
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<_, _>>()?;
            let n = elements(&target)?;
            let zeros = Const::new(target, vec![0.0; n]);
            binary(x, &zeros, |a, _| a)?
        }
        "Add" => binary(x, c(1)?, |a, b| a + b)?,
        "Sub" => binary(x, c(1)?, |a, b| a - b)?,
        "Mul" => binary(x, c(1)?, |a, b| a * b)?,
        "Div" => binary(x, c(1)?, |a, b| a / b)?,
        "Neg" => Const {
            values: x.values.iter().map(|v| -v).collect(),
            ..x.clone()
        },
        _ => return Ok(false),
    };
    r.set(r.output(node)?, Value::Const(value));
    Ok(true)
}

/// The Constant operator's value.
fn constant(attrs: &Attrs<'_>) -> Result<Const> {
    if let Some(t) = attrs.get("value").and_then(|a| a.t.as_ref()) {
        return tensor(t);
    }
    if let Some(a) = attrs.get("value_float") {
        return Ok(Const::scalar(f64::from(a.f())));
    }
    if let Some(a) = attrs.get("value_int") {
        return Ok(Const::scalar(a.i() as f64));
    }
    if let Some(a) = attrs.get("value_floats") {
        return Ok(Const::new(
            vec![a.floats.len()],
            a.floats.iter().map(|&v| f64::from(v)).collect(),
        ));
    }
    if let Some(a) = attrs.get("value_ints") {
        return Ok(Const::new(
            vec![a.ints.len()],
            a.ints.iter().map(|&v| v as f64).collect(),
        ));
    }
    bail!("Constant without a supported value attribute")
}

/// Numpy-broadcast `f` of two constants.
fn binary(a: &Const, b: &Const, f: impl Fn(f64, f64) -> f64) -> Result<Const> {
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    elements(&shape)?;
    Ok(Const::new(
        shape,
        broadcast(&a.values, &a.shape, &b.values, &b.shape, f)?,
    ))
}

/// ONNX Slice's indices along a dimension of `d` (any step but 0; ends clamp as ONNX says).
fn slice_indices(d: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>> {
    ensure!(step != 0, "Slice step 0");
    if d == 0 {
        return Ok(Vec::new());
    }
    let d = i64::try_from(d)?;
    let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (start, end) = if step > 0 {
        (wrap(start).clamp(0, d), wrap(end).clamp(0, d))
    } else {
        (wrap(start).clamp(0, d - 1), wrap(end).clamp(-1, d - 1))
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < end) || (step < 0 && i > end) {
        out.push(usize::try_from(i)?);
        i = match i.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(out)
}

/// The values of `x` at the cartesian product of `picks` (one index list per dimension).
fn gather_box(x: &Const, picks: &[Vec<usize>]) -> Result<Const> {
    let shape: Vec<usize> = picks.iter().map(Vec::len).collect();
    elements(&shape)?;
    let st = strides(&x.shape);
    let values = map_indices(&shape, |idx| {
        x.values[idx
            .iter()
            .enumerate()
            .map(|(d, &i)| picks[d][i] * st[d])
            .sum::<usize>()]
    });
    Ok(Const::new(shape, values))
}

/// Transpose's `perm` (reversed dimensions without one), checked to order `rank` dimensions.
pub(super) fn transpose_perm(attrs: &Attrs<'_>, rank: usize) -> Result<Vec<usize>> {
    let perm: Vec<usize> = match attrs.ints("perm") {
        Some(p) => p
            .iter()
            .map(|&a| normalize_axis(a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).rev().collect(),
    };
    ensure!(
        is_permutation(&perm, rank),
        "perm {perm:?} for {rank} dimensions"
    );
    Ok(perm)
}

/// True if `perm` orders `rank` dimensions.
pub(super) fn is_permutation(perm: &[usize], rank: usize) -> bool {
    let mut seen = perm.to_vec();
    seen.sort_unstable();
    seen.iter().copied().eq(0..rank)
}

/// ONNX Unsqueeze: a dimension of 1 at each of `axes` (of the output's rank).
pub(super) fn unsqueeze(shape: &[usize], axes: &[i64]) -> Result<Vec<usize>> {
    let rank = shape.len() + axes.len();
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&a| normalize_axis(a, rank))
        .collect::<Result<_>>()?;
    axes.sort_unstable();
    ensure!(
        axes.windows(2).all(|w| w[0] != w[1]),
        "Unsqueeze axes {axes:?} repeat"
    );
    let mut out = shape.to_vec();
    for a in axes {
        out.insert(a, 1);
    }
    Ok(out)
}

/// ONNX Squeeze: the dimensions of 1 at `axes` removed (every 1 without axes).
pub(super) fn squeeze(shape: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>> {
    let rank = shape.len();
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| normalize_axis(a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).filter(|&a| shape[a] == 1).collect(),
    };
    ensure!(
        axes.iter().all(|&a| shape[a] == 1),
        "Squeeze of a dimension that is not 1 ({shape:?} at {axes:?})"
    );
    Ok(shape
        .iter()
        .enumerate()
        .filter(|(a, _)| !axes.contains(a))
        .map(|(_, &d)| d)
        .collect())
}
