//! Row-major index arithmetic shared by the float evaluator and the ONNX constant folder.

use anyhow::Result;

use super::broadcast_shape;

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// `f` of every index of `shape`, in row-major order.
pub fn map_indices<T>(shape: &[usize], mut f: impl FnMut(&[usize]) -> T) -> Vec<T> {
    let total: usize = shape.iter().product();
    let mut idx = vec![0; shape.len()];
    let mut out = Vec::with_capacity(total);
    for _ in 0..total {
        out.push(f(&idx));
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Numpy-broadcast `f` of two row-major arrays.
///
/// # Errors
/// Shapes that do not broadcast.
pub fn broadcast<T: Copy, U>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    f: impl Fn(T, T) -> U,
) -> Result<Vec<U>> {
    let out = broadcast_shape(a_shape, b_shape)?;
    let view = |s: &[usize]| {
        let st = strides(s);
        let pad = out.len() - s.len();
        (0..out.len())
            .map(|d| {
                if d < pad || s[d - pad] == 1 {
                    0
                } else {
                    st[d - pad]
                }
            })
            .collect::<Vec<_>>()
    };
    let (sa, sb) = (view(a_shape), view(b_shape));
    Ok(map_indices(&out, |idx| {
        let (mut ia, mut ib) = (0, 0);
        for (d, &i) in idx.iter().enumerate() {
            ia += i * sa[d];
            ib += i * sb[d];
        }
        f(a[ia], b[ib])
    }))
}

/// `x` of `shape` with its dimensions permuted: output dimension `k` is input dimension
/// `perm[k]` (`perm` must be a permutation of the dimensions).
pub fn transpose<T: Copy>(x: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let st = strides(shape);
    let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    map_indices(&out, |idx| {
        x[idx
            .iter()
            .zip(perm)
            .map(|(&i, &p)| i * st[p])
            .sum::<usize>()]
    })
}
