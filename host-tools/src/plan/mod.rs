//! The offline memory planner: tensor lifetimes from the graph, then offsets packed into one
//! arena. Several placement strategies run and the smallest arena wins; TFLM's own (greedy by
//! size) is one of them, so the plan is never larger than TFLM's.
//!
//! The graph it plans, and writes as a blob, is [`graph::HostGraph`].

pub mod graph;

use anyhow::{Result, bail};
use mote::format::{MAX_LIVE, TensorId};

use crate::plan::graph::HostGraph;

/// Offsets are multiples of this (word access to int8 rows and f32 values).
const ALIGN: u32 = 4;

/// One tensor's needs: its size and the operators during which it must stay intact.
#[derive(Debug, Clone, Copy)]
struct Need {
    size: u32,
    first: u16,
    last: u16,
}

/// Fills in every tensor's lifetime and offset; returns the arena size in bytes.
pub fn plan(graph: &mut HostGraph<'_>) -> Result<u32> {
    let needs = lifetimes(graph)?;
    if let Some((op, live)) = live_counts(&needs)
        .into_iter()
        .enumerate()
        .find(|&(_, n)| n > MAX_LIVE)
    {
        bail!(
            "{live} tensors are live at operator {op}; the runtime checks plans of at most \
             {MAX_LIVE} live tensors"
        );
    }
    let offsets = best_placement(&needs, &producers(graph));
    let mut arena = 0;
    for ((t, need), offset) in graph.tensors.iter_mut().zip(&needs).zip(&offsets) {
        t.first_op = need.first;
        t.last_op = need.last;
        t.offset = *offset;
        arena = arena.max(offset + need.size);
    }
    Ok(arena)
}

/// The largest total size of tensors live at one operator: no plan can do better.
pub fn lower_bound(graph: &HostGraph<'_>) -> Result<u32> {
    Ok(floor(&lifetimes(graph)?))
}

/// Per operator, the sum of `value` over the tensors live there (a sweep over births and
/// deaths: linear in tensors and operators).
fn per_op(needs: &[Need], value: impl Fn(&Need) -> u64) -> Vec<u64> {
    let ops = needs
        .iter()
        .map(|n| usize::from(n.last) + 1)
        .max()
        .unwrap_or(0);
    let mut delta = vec![0i64; ops + 1];
    for n in needs {
        delta[usize::from(n.first)] += value(n) as i64;
        delta[usize::from(n.last) + 1] -= value(n) as i64;
    }
    let mut running = 0i64;
    delta[..ops]
        .iter()
        .map(|d| {
            running += d;
            running as u64
        })
        .collect()
}

fn floor(needs: &[Need]) -> u32 {
    let most = per_op(needs, |n| u64::from(n.size)).into_iter().max();
    most.unwrap_or(0).try_into().unwrap_or(u32::MAX)
}

fn live_counts(needs: &[Need]) -> Vec<usize> {
    per_op(needs, |_| 1)
        .into_iter()
        .map(|n| n as usize)
        .collect()
}

fn lifetimes(graph: &HostGraph<'_>) -> Result<Vec<Need>> {
    let Some(last_op) = graph.ops.len().checked_sub(1) else {
        bail!("the graph has no operators")
    };
    let last_op = u16::try_from(last_op)?;
    let mut needs = Vec::with_capacity(graph.tensors.len());
    for t in &graph.tensors {
        let Some(bytes) = t.byte_len() else {
            bail!("a tensor is larger than memory")
        };
        let size = u32::try_from(bytes)?.next_multiple_of(ALIGN);
        needs.push(Need {
            size,
            first: u16::MAX,
            last: 0,
        });
    }
    for &i in &graph.inputs {
        needs[usize::from(i)].first = 0;
    }
    for (index, op) in graph.ops.iter().enumerate() {
        let index = index as u16;
        let out = &mut needs[usize::from(op.output())];
        out.first = out.first.min(index);
        out.last = out.last.max(index);
        op.for_each_input(|t| needs[usize::from(t)].last = needs[usize::from(t)].last.max(index));
    }
    for &o in &graph.outputs {
        needs[usize::from(o)].last = last_op;
    }
    // State carries from one invocation to the next: its bytes are never shared.
    for op in &graph.ops {
        op.for_each_state(|t| {
            needs[usize::from(t)].first = 0;
            needs[usize::from(t)].last = last_op;
        });
    }
    if let Some(t) = needs.iter().position(|n| n.first == u16::MAX) {
        bail!(
            "tensor {t} ({}) is neither a graph input nor written by an operator",
            graph.names[t]
        );
    }
    Ok(needs)
}

/// For each tensor, the inputs of the operator that writes it.
fn producers(graph: &HostGraph<'_>) -> Vec<Vec<TensorId>> {
    let mut inputs = vec![Vec::new(); graph.tensors.len()];
    for op in &graph.ops {
        op.for_each_input(|t| inputs[usize::from(op.output())].push(t));
    }
    inputs
}

fn arena_of(needs: &[Need], offsets: &[u32]) -> u32 {
    needs
        .iter()
        .zip(offsets)
        .map(|(n, o)| o + n.size)
        .max()
        .unwrap_or(0)
}

fn best_placement(needs: &[Need], producers: &[Vec<TensorId>]) -> Vec<u32> {
    let mut by_size: Vec<usize> = (0..needs.len()).collect();
    by_size.sort_by_key(|&i| (std::cmp::Reverse(needs[i].size), needs[i].first));
    let mut by_birth: Vec<usize> = (0..needs.len()).collect();
    by_birth.sort_by_key(|&i| (needs[i].first, std::cmp::Reverse(needs[i].size)));

    let mut best = first_fit(needs, &by_size); // TFLM's greedy planner
    for candidate in [first_fit(needs, &by_birth)] {
        if arena_of(needs, &candidate) < arena_of(needs, &best) {
            best = candidate;
        }
    }
    // Two-ended placement inside a fixed budget: each output goes to the end of the arena
    // away from its operator's inputs, so a chain ping-pongs between the two ends. Try the
    // budgets from the lower bound up to the best found so far.
    let floor = floor(needs);
    let mut budget = floor;
    while budget < arena_of(needs, &best) {
        if let Some(p) = two_ended(needs, &by_birth, producers, budget) {
            best = p;
            break;
        }
        budget += (floor / 64).max(ALIGN).next_multiple_of(ALIGN);
    }
    best
}

/// Tensors placed so far, indexed by the operators they are live at, so that finding the
/// placed tensors live together with another costs its lifetime, not the whole graph.
struct Placement<'n> {
    needs: &'n [Need],
    offsets: Vec<u32>,
    placed: Vec<bool>,
    live_at: Vec<Vec<usize>>,
    /// `seen[p] == stamp` marks `p` as already collected by the current `busy` call.
    seen: Vec<u32>,
    stamp: u32,
}

impl<'n> Placement<'n> {
    fn new(needs: &'n [Need]) -> Self {
        let ops = needs
            .iter()
            .map(|n| usize::from(n.last) + 1)
            .max()
            .unwrap_or(0);
        Placement {
            needs,
            offsets: vec![0; needs.len()],
            placed: vec![false; needs.len()],
            live_at: vec![Vec::new(); ops],
            seen: vec![0; needs.len()],
            stamp: 0,
        }
    }

    fn place(&mut self, t: usize, offset: u32) {
        self.offsets[t] = offset;
        self.placed[t] = true;
        let n = self.needs[t];
        if n.size > 0 {
            for i in n.first..=n.last {
                self.live_at[usize::from(i)].push(t);
            }
        }
    }

    /// Busy intervals, sorted, of placed tensors live together with `t`.
    fn busy(&mut self, t: usize) -> Vec<(u32, u32)> {
        self.stamp += 1;
        let n = self.needs[t];
        let mut spans = Vec::new();
        for i in n.first..=n.last {
            for &p in &self.live_at[usize::from(i)] {
                if self.seen[p] != self.stamp {
                    self.seen[p] = self.stamp;
                    spans.push((self.offsets[p], self.offsets[p] + self.needs[p].size));
                }
            }
        }
        spans.sort_unstable();
        spans
    }

    fn lowest_free(&mut self, t: usize, budget: u32) -> Option<u32> {
        let size = self.needs[t].size;
        let mut candidate = 0u32;
        for (start, end) in self.busy(t) {
            if candidate + size <= start {
                break;
            }
            candidate = candidate.max(end);
        }
        (candidate + size <= budget).then_some(candidate)
    }

    fn highest_free(&mut self, t: usize, budget: u32) -> Option<u32> {
        let size = self.needs[t].size;
        let mut candidate = budget.checked_sub(size)? / ALIGN * ALIGN;
        let mut spans = self.busy(t);
        spans.sort_unstable_by_key(|&(_, end)| std::cmp::Reverse(end));
        for (start, end) in spans {
            if end <= candidate {
                break; // every remaining span ends lower still
            }
            if start < candidate + size {
                candidate = start.checked_sub(size)? / ALIGN * ALIGN;
            }
        }
        Some(candidate)
    }
}

/// Places tensors in `order`, each at the lowest offset where it overlaps no placed tensor
/// that is live at the same time.
fn first_fit(needs: &[Need], order: &[usize]) -> Vec<u32> {
    let mut p = Placement::new(needs);
    for &t in order {
        let offset = p.lowest_free(t, u32::MAX).unwrap_or(0);
        p.place(t, offset);
    }
    p.offsets
}

fn two_ended(
    needs: &[Need],
    order: &[usize],
    producers: &[Vec<TensorId>],
    budget: u32,
) -> Option<Vec<u32>> {
    let mut p = Placement::new(needs);
    for &t in order {
        // Where do this tensor's sources sit? Go to the other end.
        let sources_low = producers[t]
            .iter()
            .map(|&s| usize::from(s))
            .filter(|&s| p.placed[s])
            .max_by_key(|&s| needs[s].size)
            .is_none_or(|s| p.offsets[s] * 2 + needs[s].size < budget);
        let offset = if sources_low {
            p.highest_free(t, budget)
                .or_else(|| p.lowest_free(t, budget))?
        } else {
            p.lowest_free(t, budget)
                .or_else(|| p.highest_free(t, budget))?
        };
        p.place(t, offset);
    }
    Some(p.offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mote::format::{DType, Op, Unary};

    /// A chain of copies through tensors of the given sizes.
    fn chain(sizes: &[usize]) -> HostGraph<'static> {
        let mut g = HostGraph::default();
        for (i, &n) in sizes.iter().enumerate() {
            g.add_tensor(format!("t{i}"), DType::I8, &[n], 1.0, 0)
                .unwrap();
        }
        for i in 1..sizes.len() as u16 {
            g.ops.push(Op::Reshape(Unary {
                input: i - 1,
                output: i,
            }));
        }
        g.inputs.push(0);
        g.outputs.push(sizes.len() as u16 - 1);
        g
    }

    fn assert_no_overlap(g: &HostGraph<'_>) {
        for (a, ta) in g.tensors.iter().enumerate() {
            for tb in &g.tensors[a + 1..] {
                let live = ta.first_op <= tb.last_op && tb.first_op <= ta.last_op;
                let (a0, a1) = (ta.offset, ta.offset + ta.byte_len().unwrap() as u32);
                let (b0, b1) = (tb.offset, tb.offset + tb.byte_len().unwrap() as u32);
                assert!(!(live && a0 < b1 && b0 < a1), "{ta:?} overlaps {tb:?}");
            }
        }
    }

    #[test]
    fn a_chain_reaches_the_lower_bound_where_greedy_does_not() {
        // Growing then shrinking, like MobileNet: size-ordered first fit wastes space here.
        let sizes = [16, 24, 4, 32, 16, 12, 32];
        let mut g = chain(&sizes);
        let bound = lower_bound(&g).unwrap();
        let arena = plan(&mut g).unwrap();
        assert_eq!(arena, bound);
        assert_no_overlap(&g);
        let needs = lifetimes(&g).unwrap();
        let mut by_size: Vec<usize> = (0..needs.len()).collect();
        by_size.sort_by_key(|&i| (std::cmp::Reverse(needs[i].size), needs[i].first));
        assert!(arena_of(&needs, &first_fit(&needs, &by_size)) > bound);
    }

    #[test]
    fn lifetimes_follow_the_graph() {
        let mut g = chain(&[4, 8, 4]);
        plan(&mut g).unwrap();
        let spans: Vec<(u16, u16)> = g.tensors.iter().map(|t| (t.first_op, t.last_op)).collect();
        assert_eq!(spans, [(0, 0), (0, 1), (1, 1)]);
        assert_no_overlap(&g);
        assert!(g.tensors.iter().all(|t| t.offset % ALIGN == 0));
    }

    #[test]
    fn a_tensor_nobody_writes_is_an_error() {
        let mut g = chain(&[4, 4]);
        g.add_tensor("orphan", DType::I8, &[4], 1.0, 0).unwrap();
        assert!(plan(&mut g).unwrap_err().to_string().contains("orphan"));
    }
}
