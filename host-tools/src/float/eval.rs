//! Runs a float [`Graph`] in f32, one sample at a time, with TFLite's float semantics.

use anyhow::{Result, anyhow, bail, ensure};

use super::index::{broadcast as binary, map_indices, strides, transpose};
use super::{Fused, Graph, Op, Window};

/// The value of every tensor after a run (constants and unused tensors are `None`).
pub type Values = Vec<Option<Vec<f32>>>;

/// Runs `graph` on one sample (one slice per graph input, in order) and returns every
/// activation's value.
///
/// # Errors
/// An input of the wrong length, or a graph that reads a tensor before it is written.
pub fn run(graph: &Graph, inputs: &[&[f32]]) -> Result<Values> {
    ensure!(
        inputs.len() == graph.inputs.len(),
        "{} inputs given, the model takes {}",
        inputs.len(),
        graph.inputs.len()
    );
    let mut values: Values = vec![None; graph.tensors.len()];
    for (&t, x) in graph.inputs.iter().zip(inputs) {
        let tensor = &graph.tensors[t];
        ensure!(
            x.len() == tensor.element_count(),
            "input {} takes {} values (shape {:?}), {} given",
            tensor.name,
            tensor.element_count(),
            tensor.shape,
            x.len()
        );
        values[t] = Some(x.to_vec());
    }
    for node in &graph.nodes {
        let get = |i: usize| -> Result<&[f32]> {
            let t = node.inputs[i];
            graph.data(t).or(values[t].as_deref()).ok_or_else(|| {
                anyhow!(
                    "{} reads {} before it is written",
                    node.op.name(),
                    graph.tensors[t].name
                )
            })
        };
        let shape = |i: usize| graph.tensors[node.inputs[i]].shape.as_slice();
        let out_shape = graph.tensors[node.output].shape.as_slice();
        let bias = |units: usize| -> Result<Vec<f32>> {
            Ok(match node.inputs.get(2) {
                Some(_) => get(2)?.to_vec(),
                None => vec![0.0; units],
            })
        };
        if node.op == Op::Lstm {
            let [time, batch, width] = shape(0)[..] else {
                bail!("LSTM input of shape {:?}", shape(0))
            };
            let params = (1..13).map(get).collect::<Result<Vec<_>>>()?;
            let (y, hs, cs) = lstm(get(0)?, [time, batch, width], &params);
            values[node.inputs[13]] = Some(hs);
            values[node.inputs[14]] = Some(cs);
            values[node.output] = Some(y);
            continue;
        }
        let mut y = match &node.op {
            Op::Conv2d { window, .. } | Op::DepthwiseConv2d { window, .. } => {
                let multiplier = match node.op {
                    Op::DepthwiseConv2d { multiplier, .. } => Some(multiplier),
                    _ => None,
                };
                conv(
                    get(0)?,
                    shape(0),
                    get(1)?,
                    shape(1),
                    &bias(out_shape[3])?,
                    out_shape,
                    window,
                    multiplier,
                )?
            }
            Op::TransposeConv { stride, .. } => transpose_conv(
                get(0)?,
                shape(0),
                get(1)?,
                shape(1),
                &bias(out_shape[3])?,
                out_shape,
                *stride,
            ),
            Op::Lstm => bail!("the LSTM runs above"),
            Op::FullyConnected { .. } => {
                let (w, [units, depth]) = (get(1)?, [shape(1)[0], shape(1)[1]]);
                let b = bias(units)?;
                get(0)?
                    .chunks_exact(depth)
                    .flat_map(|row| {
                        w.chunks_exact(depth).zip(&b).map(move |(wr, bi)| {
                            bi + row.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>()
                        })
                    })
                    .collect()
            }
            Op::MaxPool { window, filter, .. } => {
                pool(get(0)?, shape(0), out_shape, window, *filter, true)?
            }
            Op::AvgPool { window, filter, .. } => {
                pool(get(0)?, shape(0), out_shape, window, *filter, false)?
            }
            Op::Add { .. } => binary(get(0)?, shape(0), get(1)?, shape(1), |a, b| a + b)?,
            Op::Sub { .. } => binary(get(0)?, shape(0), get(1)?, shape(1), |a, b| a - b)?,
            Op::Mul { .. } => binary(get(0)?, shape(0), get(1)?, shape(1), |a, b| a * b)?,
            Op::Prelu => binary(get(0)?, shape(0), get(1)?, shape(1), |a, s| {
                if a >= 0.0 { a } else { a * s }
            })?,
            Op::Mean { axes, .. } => mean(get(0)?, shape(0), axes),
            Op::Reshape { .. } => get(0)?.to_vec(),
            Op::Transpose { perm } => transpose(get(0)?, shape(0), perm),
            Op::Concat { axis } => {
                let outer: usize = out_shape[..*axis].iter().product();
                let mut y = Vec::with_capacity(out_shape.iter().product());
                let parts = (0..node.inputs.len())
                    .map(|i| Ok((get(i)?, shape(i)[*axis..].iter().product::<usize>())))
                    .collect::<Result<Vec<_>>>()?;
                for o in 0..outer {
                    for &(x, chunk) in &parts {
                        y.extend_from_slice(&x[o * chunk..(o + 1) * chunk]);
                    }
                }
                y
            }
            Op::Pad { pads, value } => {
                let x = get(0)?;
                let in_strides = strides(shape(0));
                map_indices(out_shape, |idx| {
                    let mut at = 0;
                    for (d, (&i, [before, _])) in idx.iter().zip(pads).enumerate() {
                        if i < *before || i - before >= shape(0)[d] {
                            return *value;
                        }
                        at += (i - before) * in_strides[d];
                    }
                    x[at]
                })
            }
            Op::Slice { begin, .. } => {
                let x = get(0)?;
                let in_strides = strides(shape(0));
                map_indices(out_shape, |idx| {
                    idx.iter()
                        .zip(begin)
                        .zip(&in_strides)
                        .map(|((i, b), s)| (i + b) * s)
                        .sum::<usize>()
                })
                .into_iter()
                .map(|at| x[at])
                .collect()
            }
            Op::Softmax { beta } => {
                let depth = *shape(0).last().unwrap_or(&1);
                let mut y = get(0)?.to_vec();
                for row in y.chunks_exact_mut(depth.max(1)) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for v in row.iter_mut() {
                        *v = ((*v - max) * beta).exp();
                        sum += *v;
                    }
                    row.iter_mut().for_each(|v| *v /= sum);
                }
                y
            }
            Op::Relu => unary(get(0)?, |x| x.max(0.0)),
            Op::Relu6 => unary(get(0)?, |x| x.clamp(0.0, 6.0)),
            Op::LeakyRelu { alpha } => unary(get(0)?, |x| if x >= 0.0 { x } else { alpha * x }),
            Op::Logistic => unary(get(0)?, |x| 1.0 / (1.0 + (-x).exp())),
            Op::Tanh => unary(get(0)?, f32::tanh),
            Op::HardSwish => unary(get(0)?, |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0),
        };
        let fused = node.op.fused().unwrap_or(Fused::None);
        if fused != Fused::None {
            y.iter_mut().for_each(|v| *v = fused.apply(*v));
        }
        values[node.output] = Some(y);
    }
    Ok(values)
}

fn unary(x: &[f32], f: impl Fn(f32) -> f32) -> Vec<f32> {
    x.iter().map(|&v| f(v)).collect()
}

fn mean(x: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f32> {
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
        .collect();
    let out_strides = strides(&kept);
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    let mut sums = vec![0.0f64; kept.iter().product()];
    let mut k = 0;
    map_indices(shape, |idx| {
        let at: usize = idx
            .iter()
            .zip(&kept)
            .zip(&out_strides)
            .map(|((&i, &n), &s)| if n == 1 { 0 } else { i * s })
            .sum();
        sums[at] += f64::from(x[k]);
        k += 1;
    });
    sums.iter().map(|&s| (s / count as f64) as f32).collect()
}

/// CONV_2D (`multiplier` None) or DEPTHWISE_CONV_2D, NHWC, TFLite's window.
#[allow(clippy::too_many_arguments)]
fn conv(
    x: &[f32],
    xs: &[usize],
    filter: &[f32],
    fs: &[usize],
    bias: &[f32],
    out: &[usize],
    window: &Window,
    multiplier: Option<usize>,
) -> Result<Vec<f32>> {
    let (h, w, c) = (xs[1], xs[2], xs[3]);
    let (kh, kw) = (fs[1], fs[2]);
    let (_, pad_h) = window.out_and_pad(0, h, kh)?;
    let (_, pad_w) = window.out_and_pad(1, w, kw)?;
    let (oh, ow, oc) = (out[1], out[2], out[3]);
    let mut y = vec![0.0; out.iter().product()];
    let mut at = 0;
    for n in 0..out[0] {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let mut acc = bias[o];
                    for ky in 0..kh {
                        let iy =
                            (oy * window.stride[0] + ky * window.dilation[0]).wrapping_sub(pad_h);
                        if iy >= h {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * window.stride[1] + kx * window.dilation[1])
                                .wrapping_sub(pad_w);
                            if ix >= w {
                                continue;
                            }
                            let px = ((n * h + iy) * w + ix) * c;
                            match multiplier {
                                None => {
                                    let f = ((o * kh + ky) * kw + kx) * c;
                                    acc += x[px..px + c]
                                        .iter()
                                        .zip(&filter[f..f + c])
                                        .map(|(a, b)| a * b)
                                        .sum::<f32>();
                                }
                                Some(m) => {
                                    acc += x[px + o / m] * filter[(ky * kw + kx) * oc + o];
                                }
                            }
                        }
                    }
                    y[at] = acc;
                    at += 1;
                }
            }
        }
    }
    Ok(y)
}

/// MAX_POOL_2D or AVERAGE_POOL_2D (padding excluded from the average), NHWC.
fn pool(
    x: &[f32],
    xs: &[usize],
    out: &[usize],
    window: &Window,
    filter: [usize; 2],
    max: bool,
) -> Result<Vec<f32>> {
    let (h, w, c) = (xs[1], xs[2], xs[3]);
    let (_, pad_h) = window.out_and_pad(0, h, filter[0])?;
    let (_, pad_w) = window.out_and_pad(1, w, filter[1])?;
    let mut y = Vec::with_capacity(out.iter().product());
    for n in 0..out[0] {
        for oy in 0..out[1] {
            for ox in 0..out[2] {
                for ch in 0..c {
                    let (mut acc, mut count) = (if max { f32::NEG_INFINITY } else { 0.0 }, 0);
                    for ky in 0..filter[0] {
                        let iy = (oy * window.stride[0] + ky).wrapping_sub(pad_h);
                        for kx in 0..filter[1] {
                            let ix = (ox * window.stride[1] + kx).wrapping_sub(pad_w);
                            if iy < h && ix < w {
                                let v = x[((n * h + iy) * w + ix) * c + ch];
                                acc = if max { acc.max(v) } else { acc + v };
                                count += 1;
                            }
                        }
                    }
                    y.push(if max { acc } else { acc / count.max(1) as f32 });
                }
            }
        }
    }
    Ok(y)
}

/// TRANSPOSE_CONV without padding: every input pixel scatters its filter-weighted copy.
fn transpose_conv(
    x: &[f32],
    xs: &[usize],
    filter: &[f32],
    fs: &[usize],
    bias: &[f32],
    out: &[usize],
    stride: [usize; 2],
) -> Vec<f32> {
    let (h, w, c) = (xs[1], xs[2], xs[3]);
    let (kh, kw) = (fs[1], fs[2]);
    let (oh, ow, oc) = (out[1], out[2], out[3]);
    let mut y: Vec<f32> = (0..out.iter().product::<usize>())
        .map(|i| bias[i % oc])
        .collect();
    for n in 0..out[0] {
        for iy in 0..h {
            for ix in 0..w {
                let px = ((n * h + iy) * w + ix) * c;
                let pixel = &x[px..px + c];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let (oy, ox) = (iy * stride[0] + ky, ix * stride[1] + kx);
                        let at = ((n * oh + oy) * ow + ox) * oc;
                        for o in 0..oc {
                            let f = ((o * kh + ky) * kw + kx) * c;
                            y[at + o] += pixel
                                .iter()
                                .zip(&filter[f..f + c])
                                .map(|(a, b)| a * b)
                                .sum::<f32>();
                        }
                    }
                }
            }
        }
    }
    y
}

/// The LSTM of [`Op::Lstm`] from zero states; returns every step's hidden states (the output),
/// and the hidden and cell states of every step (for calibration).
fn lstm(
    x: &[f32],
    [time, batch, width]: [usize; 3],
    p: &[&[f32]],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let units = p[8].len();
    let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
    let (mut h, mut c) = (vec![0.0f32; batch * units], vec![0.0f32; batch * units]);
    let (mut out, mut cells) = (Vec::new(), Vec::new());
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for t in 0..time {
        let mut next_h = vec![0.0; batch * units];
        for b in 0..batch {
            let xt = &x[(t * batch + b) * width..][..width];
            let ht = &h[b * units..][..units];
            let gate = |g: usize, u: usize| {
                dot(&p[g][u * width..][..width], xt)
                    + dot(&p[4 + g][u * units..][..units], ht)
                    + p[8 + g][u]
            };
            for u in 0..units {
                let (i, f) = (sigmoid(gate(0, u)), sigmoid(gate(1, u)));
                let (g, o) = (gate(2, u).tanh(), sigmoid(gate(3, u)));
                let cell = &mut c[b * units + u];
                *cell = f * *cell + i * g;
                next_h[b * units + u] = o * cell.tanh();
            }
        }
        h = next_h;
        out.extend_from_slice(&h);
        cells.extend_from_slice(&c);
    }
    (out.clone(), out, cells)
}
