//! Activation ranges of a float [`Graph`] from calibration samples.
//!
//! Every method first runs the samples through [`eval::run`]; `percentile` and `mse` then run
//! them once more into a histogram per tensor (2048 bins over the observed range), so memory
//! stays at one sample's activations per core whatever the number of samples. The samples are
//! split over the cores, and the results combined in sample order: the ranges do not depend on
//! the machine.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};

use crate::float::{Graph, Op, TensorIx, eval};

/// How a tensor's range is chosen from what calibration observed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The smallest and largest value seen.
    MinMax,
    /// Each sample's min and max, averaged exponentially (weight 0.01 on the newest), as
    /// PyTorch's `MovingAverageMinMaxObserver`: outliers of a few samples count less.
    MovingAverage,
    /// The given percentile of the values (and its mirror below), e.g. 99.99.
    Percentile(f32),
    /// The range, shrunk from min/max, that minimises the int8 rounding and clipping error
    /// over the observed values (mean squared error).
    Mse,
}

impl FromStr for Method {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Method> {
        Ok(match s {
            "minmax" => Method::MinMax,
            "moving-average" => Method::MovingAverage,
            "mse" => Method::Mse,
            _ => match s.strip_prefix("percentile") {
                Some(p) => {
                    let p = p.trim_start_matches([':', '=']);
                    let p = if p.is_empty() { 99.99 } else { p.parse()? };
                    if !(50.0..=100.0).contains(&p) {
                        bail!("percentile {p} must be between 50 and 100");
                    }
                    Method::Percentile(p)
                }
                None => bail!(
                    "unknown calibration method `{s}`: use minmax, moving-average, \
                     percentile[:P] (default 99.99) or mse"
                ),
            },
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::MovingAverage => write!(f, "moving-average"),
            Method::Percentile(p) => write!(f, "percentile:{p}"),
            Method::Mse => write!(f, "mse"),
        }
    }
}

/// The chosen `(min, max)` of every activation tensor (graph inputs included); `None` for
/// constants.
pub type Ranges = Vec<Option<(f32, f32)>>;

const BINS: usize = 2048;

/// Observes `samples` (one slice per graph input each) and picks every activation's range.
///
/// # Errors
/// No samples, a sample of the wrong size, or a non-finite activation (the float model
/// overflows on the calibration data).
pub fn calibrate(graph: &Graph, samples: &[Vec<&[f32]>], method: Method) -> Result<Ranges> {
    if samples.is_empty() {
        bail!("no calibration samples");
    }
    let n = graph.tensors.len();
    // Each sample's range per tensor, computed on every core, then folded in sample order
    // (the moving average depends on it): the same result on any machine.
    let per_sample = in_parallel(samples, |chunk| {
        chunk
            .iter()
            .map(|sample| {
                let values = eval::run(graph, sample)?;
                Ok(values.iter().map(|v| v.as_deref().map(min_max)).collect())
            })
            .collect::<Result<Vec<Ranges>>>()
    })?;
    let mut seen: Ranges = vec![None; n];
    let mut moving: Ranges = vec![None; n];
    for ranges in per_sample.iter().flatten() {
        for (t, range) in ranges.iter().enumerate() {
            let Some((lo, hi)) = *range else { continue };
            if !(lo.is_finite() && hi.is_finite()) {
                bail!(
                    "tensor {} takes a non-finite value on the calibration data",
                    graph.tensors[t].name
                );
            }
            let s = seen[t].get_or_insert((lo, hi));
            *s = (s.0.min(lo), s.1.max(hi));
            let m = moving[t].get_or_insert((lo, hi));
            *m = (m.0 + 0.01 * (lo - m.0), m.1 + 0.01 * (hi - m.1));
        }
    }
    let histograms = match method {
        Method::MinMax => return Ok(seen),
        Method::MovingAverage => return Ok(moving),
        Method::Percentile(_) | Method::Mse => histograms(graph, samples, &seen)?,
    };
    Ok(seen
        .iter()
        .zip(&histograms)
        .map(|(range, hist)| {
            let (&(lo, hi), Some(hist)) = (range.as_ref()?, hist) else {
                return *range;
            };
            Some(match method {
                Method::Percentile(p) => percentile_range(hist, lo, hi, p),
                _ => mse_range(hist, lo, hi),
            })
        })
        .collect())
}

fn min_max(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn bin_of(x: f32, lo: f32, hi: f32) -> usize {
    let t = ((x - lo) / (hi - lo) * BINS as f32) as usize;
    t.min(BINS - 1)
}

fn bin_center(b: usize, lo: f32, hi: f32) -> f32 {
    lo + (b as f32 + 0.5) * (hi - lo) / BINS as f32
}

fn histograms(
    graph: &Graph,
    samples: &[Vec<&[f32]>],
    seen: &Ranges,
) -> Result<Vec<Option<Vec<u64>>>> {
    let empty: Vec<Option<Vec<u64>>> = seen
        .iter()
        .map(|r| r.filter(|(lo, hi)| hi > lo).map(|_| vec![0; BINS]))
        .collect();
    // One histogram set per core, summed: counts do not depend on the order.
    let partial = in_parallel(samples, |chunk| {
        let mut hists = empty.clone();
        for sample in chunk {
            let values = eval::run(graph, sample)?;
            for (t, v) in values.iter().enumerate() {
                if let (Some(v), Some(h), Some((lo, hi))) = (v, &mut hists[t], seen[t]) {
                    for &x in v {
                        h[bin_of(x, lo, hi)] += 1;
                    }
                }
            }
        }
        Ok(hists)
    })?;
    let mut hists = empty;
    for part in partial {
        for (total, h) in hists.iter_mut().zip(part) {
            if let (Some(total), Some(h)) = (total, h) {
                total.iter_mut().zip(h).for_each(|(a, b)| *a += b);
            }
        }
    }
    Ok(hists)
}

/// `work` over `samples` split into one contiguous chunk per available core, on scoped
/// threads; the results in chunk order.
fn in_parallel<'s, T: Send>(
    samples: &'s [Vec<&'s [f32]>],
    work: impl Fn(&'s [Vec<&'s [f32]>]) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = samples.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = samples
            .chunks(chunk)
            .map(|c| scope.spawn(|| work(c)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a calibration thread panicked"))?
            })
            .collect()
    })
}

/// The values at percentile `p` and `100 - p` of the histogram.
fn percentile_range(hist: &[u64], lo: f32, hi: f32, p: f32) -> (f32, f32) {
    let total: u64 = hist.iter().sum();
    let cut = ((1.0 - f64::from(p) / 100.0) * total as f64) as u64;
    let walk = |bins: &mut dyn Iterator<Item = (usize, &u64)>| {
        let mut acc = 0;
        for (b, &c) in bins {
            acc += c;
            if acc > cut {
                return b;
            }
        }
        0
    };
    let first = walk(&mut hist.iter().enumerate());
    let last = walk(&mut hist.iter().enumerate().rev());
    let width = (hi - lo) / BINS as f32;
    (lo + first as f32 * width, lo + (last + 1) as f32 * width)
}

/// The candidate range `[lo * t, hi * t]`, t in (0, 1], of least squared int8 error over the
/// histogram's values (clipping outside, rounding inside).
fn mse_range(hist: &[u64], lo: f32, hi: f32) -> (f32, f32) {
    let error = |(a, b): (f32, f32)| -> f64 {
        let q = super::QParams::from_range(a, b);
        hist.iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(bin, &c)| {
                let x = bin_center(bin, lo, hi);
                let level = ((x / q.scale).round() + q.zero_point as f32).clamp(-128.0, 127.0);
                let back = (level - q.zero_point as f32) * q.scale;
                c as f64 * f64::from(back - x).powi(2)
            })
            .sum()
    };
    (1..=100)
        .map(|i| {
            let t = i as f32 / 100.0;
            let range = (lo * t, hi * t);
            (error(range), range)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or((lo, hi), |(_, range)| range)
}

/// Groups of tensors that must share one quantization (an operator that only moves bytes
/// cannot rescale), as a representative per tensor.
pub fn tied(graph: &Graph) -> Vec<TensorIx> {
    let mut parent: Vec<TensorIx> = (0..graph.tensors.len()).collect();
    fn root(parent: &mut [TensorIx], mut t: TensorIx) -> TensorIx {
        while parent[t] != t {
            parent[t] = parent[parent[t]];
            t = parent[t];
        }
        t
    }
    for node in &graph.nodes {
        if !node.op.keeps_quantization() {
            continue;
        }
        let moved = match node.op {
            Op::Concat { .. } => &node.inputs[..],
            _ => &node.inputs[..1],
        };
        for &i in moved {
            if graph.tensors[i].data.is_none() {
                let (a, b) = (root(&mut parent, i), root(&mut parent, node.output));
                parent[a] = b;
            }
        }
    }
    (0..parent.len()).map(|t| root(&mut parent, t)).collect()
}

/// Widens the ranges of tied tensors to their union.
pub fn unify(graph: &Graph, ranges: &mut Ranges) {
    let group = tied(graph);
    let mut union: Vec<Option<(f32, f32)>> = vec![None; ranges.len()];
    for (t, r) in ranges.iter().enumerate() {
        if let Some((lo, hi)) = *r {
            let u = union[group[t]].get_or_insert((lo, hi));
            *u = (u.0.min(lo), u.1.max(hi));
        }
    }
    for (t, r) in ranges.iter_mut().enumerate() {
        if r.is_some() {
            *r = union[group[t]];
        }
    }
}
