//! CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE and GATHER: pure data movement (TFLM's
//! `reference_ops::Concatenation`, `Pad`, `Transpose`, `StridedSlice`, `Gather`), generic over
//! the element (int8, or the two bytes of an int16).

/// Copies one CONCATENATION input into its place in the output.
///
/// Seen from the concatenation axis, the output is `outer` blocks of `stride` elements
/// (`stride = output_axis_dim * inner`, `inner` the product of the dimensions after the axis).
/// This input contributes `block = input_axis_dim * inner` elements to every block, at
/// `offset` (the previous inputs' `block`s summed). Its `k`-th block goes to
/// `output[k * stride + offset..][..block]`. Blocks that would not fit are skipped.
pub fn concatenation<T: Copy>(
    input: &[T],
    block: usize,
    stride: usize,
    offset: usize,
    output: &mut [T],
) {
    if block == 0 || stride == 0 {
        return;
    }
    for (src, dst) in input
        .chunks_exact(block)
        .zip(output.chunks_exact_mut(stride))
    {
        if let Some(dst) = offset
            .checked_add(block)
            .and_then(|end| dst.get_mut(offset..end))
        {
            dst.copy_from_slice(src);
        }
    }
}

/// PAD of a tensor seen as 4-D (`shape`, with leading 1s for lower ranks): `before[d]` and
/// `after[d]` elements of `value` around dimension `d`. The output, of dimensions
/// `before[d] + shape[d] + after[d]`, is written in full (row by row of the last dimension).
pub fn pad<T: Copy>(
    input: &[T],
    shape: [usize; 4],
    before: [usize; 4],
    after: [usize; 4],
    value: T,
    output: &mut [T],
) {
    let mut out = [0usize; 4];
    for (o, ((b, s), a)) in out.iter_mut().zip(before.iter().zip(&shape).zip(&after)) {
        *o = b.saturating_add(*s).saturating_add(*a);
    }
    let row = out[3];
    if row == 0 {
        return;
    }
    let (lead, depth) = (before[3], shape[3]);
    for (r, dst) in output.chunks_exact_mut(row).enumerate() {
        // Output row r is (i0, i1, i2) over the first three output dimensions.
        let i2 = r % out[2].max(1);
        let i1 = (r / out[2].max(1)) % out[1].max(1);
        let i0 = r / out[2].max(1) / out[1].max(1);
        // The matching input row, if the row is not padding.
        let inside = |i: usize, d: usize| {
            let (b, s) = (before.get(d)?, shape.get(d)?);
            i.checked_sub(*b).filter(|j| j < s)
        };
        let src = match (inside(i0, 0), inside(i1, 1), inside(i2, 2)) {
            (Some(j0), Some(j1), Some(j2)) => j0
                .checked_mul(shape[1])
                .and_then(|x| x.checked_add(j1)?.checked_mul(shape[2]))
                .and_then(|x| x.checked_add(j2)?.checked_mul(depth))
                .and_then(|start| input.get(start..start.checked_add(depth)?)),
            _ => None,
        };
        dst.fill(value);
        if let (Some(src), Some(mid)) = (
            src,
            lead.checked_add(depth)
                .and_then(|end| dst.get_mut(lead..end)),
        ) {
            mid.copy_from_slice(src);
        }
    }
}

/// Row-major element strides of a 4-D tensor (saturating: validation bounds the products).
pub(super) fn strides(dims: [usize; 4]) -> [usize; 4] {
    let [_, d1, d2, d3] = dims;
    let s1 = d2.saturating_mul(d3);
    [d1.saturating_mul(s1), s1, d3, 1]
}

/// TRANSPOSE of a tensor seen as the 6-D `dims` (leading 1s for lower ranks; DEPTH_TO_SPACE,
/// SPACE_TO_DEPTH and the batch/space shuffles are reshapes folded into `dims`): output
/// dimension `d` is input dimension `perm[d]`, and the output is written in row-major order.
/// An input index outside `input` (impossible after validation) ends the copy.
pub fn transpose<T: Copy>(input: &[T], dims: [usize; 6], perm: [usize; 6], output: &mut [T]) {
    // The input stride of each dimension, then the extent and stride of each output dimension.
    let mut strides = [0usize; 6];
    let mut step = 1usize;
    for (s, &n) in strides.iter_mut().zip(&dims).rev() {
        *s = step;
        step = step.saturating_mul(n);
    }
    let pick = |d: usize| -> Option<(usize, usize)> {
        let p = *perm.get(d)?;
        Some((*dims.get(p)?, *strides.get(p)?))
    };
    let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) =
        (pick(0), pick(1), pick(2), pick(3), pick(4), pick(5))
    else {
        return;
    };
    let mut out = output.iter_mut();
    for i0 in 0..a.0 {
        for i1 in 0..b.0 {
            for i2 in 0..c.0 {
                for i3 in 0..d.0 {
                    for i4 in 0..e.0 {
                        let row = i0 * a.1 + i1 * b.1 + i2 * c.1 + i3 * d.1 + i4 * e.1;
                        for i5 in 0..f.0 {
                            let (Some(o), Some(&v)) = (out.next(), input.get(row + i5 * f.1))
                            else {
                                return;
                            };
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// STRIDED_SLICE of a tensor seen as 4-D (`shape`): output element `(o0, o1, o2, o3)`, in
/// row-major order, is input element `begin[d] + o[d] * stride[d]` (TFLM's
/// `reference_ops::StridedSlice`, its begin, end and masks already resolved). An index outside
/// `input` (impossible after validation) ends the copy.
pub fn strided_slice<T: Copy>(
    input: &[T],
    shape: [usize; 4],
    begin: [i32; 4],
    stride: [i32; 4],
    count: [usize; 4],
    output: &mut [T],
) {
    let s = strides(shape).map(|s| s as i64);
    let at = |d: usize, k: usize| -> i64 {
        let (b, st) = (begin.get(d).copied(), stride.get(d).copied());
        (i64::from(b.unwrap_or(0)) + k as i64 * i64::from(st.unwrap_or(0)))
            * s.get(d).copied().unwrap_or(0)
    };
    let [c0, c1, c2, c3] = count;
    let mut out = output.iter_mut();
    for o0 in 0..c0 {
        for o1 in 0..c1 {
            for o2 in 0..c2 {
                let row = at(0, o0) + at(1, o1) + at(2, o2);
                for o3 in 0..c3 {
                    let value = usize::try_from(row + at(3, o3))
                        .ok()
                        .and_then(|k| input.get(k));
                    let (Some(o), Some(&v)) = (out.next(), value) else {
                        return;
                    };
                    *o = v;
                }
            }
        }
    }
}

/// GATHER along an axis of `along` elements with `inner` elements after it: for each outer
/// block of the input, the output takes the `inner`-element slices at `indices` (u16
/// little-endian), in order (TFLM's `Gather`, batch_dims 0). Slices out of range end the copy.
pub fn gather<T: Copy>(input: &[T], along: usize, inner: usize, indices: &[u8], output: &mut [T]) {
    let block = along.saturating_mul(inner);
    if inner == 0 || block == 0 {
        return;
    }
    let mut out = output.chunks_exact_mut(inner);
    for outer in input.chunks_exact(block) {
        for &k in indices.as_chunks::<2>().0 {
            let start = usize::from(u16::from_le_bytes(k)).saturating_mul(inner);
            let src = start
                .checked_add(inner)
                .and_then(|end| outer.get(start..end));
            let (Some(dst), Some(src)) = (out.next(), src) else {
                return;
            };
            dst.copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Index of `i` in a row-major tensor of dimensions `dims`.
    fn flat(dims: &[usize], i: &[usize]) -> usize {
        dims.iter().zip(i).fold(0, |acc, (&d, &x)| acc * d + x)
    }

    /// Every index of `dims`, in row-major order.
    fn indices(dims: &[usize]) -> Vec<Vec<usize>> {
        let mut all = std::vec![std::vec![]];
        for &d in dims {
            all = all
                .into_iter()
                .flat_map(|p| {
                    (0..d).map(move |x| {
                        let mut q = p.clone();
                        q.push(x);
                        q
                    })
                })
                .collect();
        }
        all
    }

    /// TRANSPOSE against the definition: output index `j` reads input index `i` with
    /// `i[perm[d]] = j[d]`.
    #[test]
    fn transpose_moves_every_element_where_the_permutation_says() {
        let perms = [
            [0, 1, 2, 3, 4, 5],
            [0, 1, 3, 2, 4, 5],
            [2, 4, 0, 1, 3, 5],
            [2, 3, 0, 4, 1, 5],
            [5, 4, 3, 2, 1, 0],
            [1, 0, 5, 2, 4, 3],
        ];
        for shape in [[1, 1, 2, 3, 4, 1], [2, 3, 1, 5, 2, 1], [3, 1, 4, 2, 2, 3]] {
            let input: Vec<i8> = (0..shape.iter().product::<usize>())
                .map(|v| (v as i32 - 60) as i8)
                .collect();
            for perm in perms {
                let out_dims: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
                let mut got = std::vec![0i8; input.len()];
                transpose(&input, shape, perm, &mut got);
                let want: Vec<i8> = indices(&out_dims)
                    .into_iter()
                    .map(|j| {
                        let mut i = [0usize; 6];
                        for d in 0..6 {
                            i[perm[d]] = j[d];
                        }
                        input[flat(&shape, &i)]
                    })
                    .collect();
                assert_eq!(got, want, "shape {shape:?} perm {perm:?}");
            }
        }
    }

    #[test]
    fn gather_takes_slices_in_index_order() {
        // [2, 3, 2]: gather indices 2, 0, 2 along axis 1.
        let input: Vec<i8> = (0..12).collect();
        let indices: Vec<u8> = [2u16, 0, 2].iter().flat_map(|k| k.to_le_bytes()).collect();
        let mut out = std::vec![0i8; 12];
        gather(&input, 3, 2, &indices, &mut out);
        assert_eq!(out, [4, 5, 0, 1, 4, 5, 10, 11, 6, 7, 10, 11]);
        // An index past the axis stops the copy instead of reading past the input.
        let mut out = std::vec![9i8; 4];
        gather(&input[..6], 3, 2, &[3, 0, 0, 0], &mut out);
        assert_eq!(out, [9, 9, 9, 9]);
    }

    /// Concatenation as the definition says, through `concatenation` input by input.
    fn concat(inputs: &[(Vec<usize>, Vec<i8>)], axis: usize) -> Vec<i8> {
        let mut out_dims = inputs[0].0.clone();
        out_dims[axis] = inputs.iter().map(|(d, _)| d[axis]).sum();
        let inner: usize = out_dims[axis + 1..].iter().product();
        let stride = out_dims[axis] * inner;
        let mut out = std::vec![0i8; out_dims.iter().product()];
        let mut offset = 0;
        for (dims, data) in inputs {
            let block = dims[axis] * inner;
            concatenation(data, block, stride, offset, &mut out);
            offset += block;
        }
        out
    }

    /// The naive definition: output element at index `i` comes from the input whose range
    /// along `axis` holds `i[axis]`.
    fn naive_concat(inputs: &[(Vec<usize>, Vec<i8>)], axis: usize) -> Vec<i8> {
        let mut out_dims = inputs[0].0.clone();
        out_dims[axis] = inputs.iter().map(|(d, _)| d[axis]).sum();
        indices(&out_dims)
            .into_iter()
            .map(|mut i| {
                for (dims, data) in inputs {
                    if i[axis] < dims[axis] {
                        return data[flat(dims, &i)];
                    }
                    i[axis] -= dims[axis];
                }
                unreachable!()
            })
            .collect()
    }

    fn naive_pad(
        input: &[i8],
        shape: [usize; 4],
        before: [usize; 4],
        after: [usize; 4],
        value: i8,
    ) -> Vec<i8> {
        let out: Vec<usize> = (0..4).map(|d| before[d] + shape[d] + after[d]).collect();
        indices(&out)
            .into_iter()
            .map(|i| {
                let j: Option<Vec<usize>> = (0..4)
                    .map(|d| i[d].checked_sub(before[d]).filter(|&x| x < shape[d]))
                    .collect();
                j.map_or(value, |j| input[flat(&shape, &j)])
            })
            .collect()
    }

    fn run_pad(
        input: &[i8],
        shape: [usize; 4],
        before: [usize; 4],
        after: [usize; 4],
        value: i8,
    ) -> Vec<i8> {
        let n: usize = (0..4).map(|d| before[d] + shape[d] + after[d]).product();
        let mut out = std::vec![99i8; n];
        pad(input, shape, before, after, value, &mut out);
        out
    }

    #[test]
    fn concat_along_each_axis() {
        // Two 2x2 blocks [[1, 2], [3, 4]] and [[5, 6], [7, 8]] with the other dims 1.
        let a = std::vec![1i8, 2, 3, 4];
        let b = std::vec![5i8, 6, 7, 8];
        let expect = [
            [1, 2, 3, 4, 5, 6, 7, 8], // axis 0: a then b
            [1, 2, 5, 6, 3, 4, 7, 8], // axis 1: rows interleave
            [1, 2, 5, 6, 3, 4, 7, 8],
            [1, 2, 5, 6, 3, 4, 7, 8],
        ];
        for axis in 0..4 {
            // Shape [2, 2] placed at dims (axis-1, axis) or (0, 1) for axis 0, rank 4.
            let mut dims = std::vec![1usize; 4];
            if axis == 0 {
                dims[0] = 2;
                dims[1] = 2;
            } else {
                dims[axis - 1] = 2;
                dims[axis] = 2;
            }
            let out = concat(
                &[(dims.clone(), a.clone()), (dims.clone(), b.clone())],
                axis,
            );
            assert_eq!(out, expect[axis], "axis {axis}");
        }
        // Axis 3 of NHWC with unequal channel counts: [1, 1, 2, 1] ++ [1, 1, 2, 2].
        let out = concat(
            &[
                (std::vec![1, 1, 2, 1], std::vec![1, 2]),
                (std::vec![1, 1, 2, 2], std::vec![3, 4, 5, 6]),
            ],
            3,
        );
        assert_eq!(out, [1, 3, 4, 2, 5, 6]);
    }

    #[test]
    fn concat_skips_what_does_not_fit() {
        let mut out = [0i8; 4];
        concatenation(&[1, 2, 3], 2, 2, 1, &mut out); // offset + block > stride
        assert_eq!(out, [0; 4]);
        concatenation(&[1, 2, 3], 0, 2, 0, &mut out);
        concatenation(&[1, 2, 3], 1, 0, 0, &mut out);
        concatenation(&[1, 2, 3], 1, 2, usize::MAX, &mut out);
        assert_eq!(out, [0; 4]);
    }

    #[test]
    fn pad_on_every_dimension() {
        let input: Vec<i8> = (1..=4).collect(); // [1, 1, 2, 2] or similar
        for d in 0..4 {
            let mut shape = [1usize; 4];
            shape[d] = 4;
            let mut before = [0; 4];
            let mut after = [0; 4];
            before[d] = 1;
            after[d] = 2;
            assert_eq!(
                run_pad(&input, shape, before, after, -7),
                [-7, 1, 2, 3, 4, -7, -7],
                "dim {d}"
            );
        }
        // 2x2 image, one pixel of padding around H and W, 1 channel.
        let out = run_pad(&input, [1, 2, 2, 1], [0, 1, 1, 0], [0, 1, 1, 0], 0);
        #[rustfmt::skip]
        assert_eq!(out, [
            0, 0, 0, 0,
            0, 1, 2, 0,
            0, 3, 4, 0,
            0, 0, 0, 0,
        ]);
        // Channel padding of an NHWC tensor.
        let out = run_pad(&input, [1, 1, 2, 2], [0, 0, 0, 1], [0, 0, 0, 0], 5);
        assert_eq!(out, [5, 1, 2, 5, 3, 4]);
        // No padding is a copy; padding around an empty tensor is all value.
        assert_eq!(run_pad(&input, [1, 1, 2, 2], [0; 4], [0; 4], 5), input);
        assert_eq!(run_pad(&[], [1, 0, 2, 2], [0, 1, 0, 0], [0; 4], 5), [5; 4]);
    }

    #[test]
    fn pad_with_short_buffers_does_not_panic() {
        let mut out = [0i8; 3];
        pad(&[1, 2], [1, 1, 2, 2], [1; 4], [1; 4], 0, &mut out);
        pad(&[], [usize::MAX; 4], [usize::MAX; 4], [1; 4], 0, &mut out);
        pad(&[1, 2, 3, 4], [1, 1, 1, 4], [0; 4], [0; 4], 0, &mut out);
    }

    fn dims4() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0usize..4, 4)
    }

    proptest! {
        #[test]
        fn concat_matches_naive(axis in 0usize..4, base in dims4(),
                                sizes in proptest::collection::vec(0usize..4, 1..=8),
                                seed: u8) {
            let inputs: Vec<(Vec<usize>, Vec<i8>)> = sizes
                .iter()
                .enumerate()
                .map(|(k, &s)| {
                    let mut d = base.clone();
                    d[axis] = s;
                    let n: usize = d.iter().product();
                    let data = (0..n).map(|x| (x as u8).wrapping_mul(31).wrapping_add(seed ^ k as u8) as i8).collect();
                    (d, data)
                })
                .collect();
            prop_assert_eq!(concat(&inputs, axis), naive_concat(&inputs, axis));
        }

        #[test]
        fn pad_matches_naive(shape in dims4(), before in dims4(), after in dims4(), value: i8) {
            let shape: [usize; 4] = shape.try_into().unwrap();
            let before: [usize; 4] = before.try_into().unwrap();
            let after: [usize; 4] = after.try_into().unwrap();
            let n: usize = shape.iter().product();
            let input: Vec<i8> = (0..n).map(|x| x as i8).collect();
            prop_assert_eq!(
                run_pad(&input, shape, before, after, value),
                naive_pad(&input, shape, before, after, value)
            );
        }
    }
}
