//! BATCH_MATMUL of int8 tensors (TFLM's `reference_ops::BatchMatMul` as its int8 kernel
//! calls it): `out[..., a, c] = requant(Σ_k (lhs[..., a, k] - zl) (rhs[..., k, c] - zr)) + zo`,
//! either operand read transposed, batch dimensions broadcast.

use crate::format::Multiplier;
use crate::kernels::fixed_point::{clamp_to_i8, requantize};

/// The shapes of one BATCH_MATMUL: up to two batch dimensions per operand (1 where absent or
/// broadcast) and the matrix sizes of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatMul {
    /// Batch dimensions of the left operand.
    pub lhs_batch: [usize; 2],
    /// Batch dimensions of the right operand.
    pub rhs_batch: [usize; 2],
    /// Rows of the product.
    pub rows: usize,
    /// The summed dimension.
    pub depth: usize,
    /// Columns of the product.
    pub cols: usize,
    /// The left operand is stored `[depth, rows]` (else `[rows, depth]`).
    pub adj_x: bool,
    /// The right operand is stored `[cols, depth]` (else `[depth, cols]`).
    pub adj_y: bool,
}

impl MatMul {
    /// The output's batch dimensions, or `None` where the operands' differ and neither is 1.
    pub fn out_batch(&self) -> Option<[usize; 2]> {
        let mut out = [1; 2];
        for ((o, &l), &r) in out.iter_mut().zip(&self.lhs_batch).zip(&self.rhs_batch) {
            *o = match (l, r) {
                _ if l == r => l,
                (1, _) => r,
                (_, 1) => l,
                _ => return None,
            };
        }
        Some(out)
    }
}

/// Quantization of a BATCH_MATMUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatMulParams {
    /// Zero point of the left operand.
    pub lhs_zp: i32,
    /// Zero point of the right operand.
    pub rhs_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// `scale_lhs * scale_rhs / scale_out`.
    pub multiplier: Multiplier,
}

/// The product, saturated to int8; slices of other sizes than `m` gives leave the output as it
/// was.
pub fn batch_matmul(m: &MatMul, lhs: &[i8], rhs: &[i8], p: &MatMulParams, output: &mut [i8]) {
    let (lhs_zp, rhs_zp) = (i64::from(p.lhs_zp), i64::from(p.rhs_zp));
    products(
        m,
        lhs,
        rhs,
        |x| i64::from(x) - lhs_zp,
        |y| i64::from(y) - rhs_zp,
        output,
        // TFLM sums in int32, wrapping: the exact sum narrowed the same way.
        |acc| {
            let v = requantize(acc as i32, p.multiplier).saturating_add(p.output_zp);
            clamp_to_i8(v, i8::MIN, i8::MAX)
        },
    );
}

/// BATCH_MATMUL of int16 operands (zero points 0, TFLM's `BatchMatMul<int16, int64>`): the
/// int64 product requantized by TFLM's int64 routine, saturated to int16.
pub fn batch_matmul_16(
    m: &MatMul,
    lhs: &[[u8; 2]],
    rhs: &[[u8; 2]],
    multiplier: Multiplier,
    output: &mut [[u8; 2]],
) {
    let value = |v: [u8; 2]| i64::from(i16::from_le_bytes(v));
    products(m, lhs, rhs, value, value, output, |acc| {
        let v = super::wide::requantize64(acc, multiplier).clamp(-32768, 32767);
        (v as i16).to_le_bytes()
    });
}

/// The batched product of `lhs` and `rhs` (elements read through `x` and `y`), each output
/// element `finish`ed from its exact int64 sum. Slices of other sizes than `m` gives leave the
/// output as it was.
fn products<X: Copy, Y: Copy, O>(
    m: &MatMul,
    lhs: &[X],
    rhs: &[Y],
    x: impl Fn(X) -> i64,
    y: impl Fn(Y) -> i64,
    output: &mut [O],
    finish: impl Fn(i64) -> O,
) {
    let Some(out_batch) = m.out_batch() else {
        return;
    };
    let size = |batch: [usize; 2], a: usize, b: usize| {
        batch
            .iter()
            .chain(&[a, b])
            .try_fold(1usize, |n, &d| n.checked_mul(d))
    };
    let (l_mat, r_mat) = (m.rows * m.depth, m.depth * m.cols);
    if size(m.lhs_batch, m.rows, m.depth) != Some(lhs.len())
        || size(m.rhs_batch, m.depth, m.cols) != Some(rhs.len())
        || size(out_batch, m.rows, m.cols) != Some(output.len())
    {
        return;
    }
    // A broadcast dimension (size 1) always reads index 0.
    let at = |[b0, b1]: [usize; 2], i0: usize, i1: usize| {
        i0.checked_rem(b0).unwrap_or(0) * b1 + i1.checked_rem(b1).unwrap_or(0)
    };
    let mut out = output.iter_mut();
    for i0 in 0..out_batch[0] {
        for i1 in 0..out_batch[1] {
            let l = lhs
                .get(at(m.lhs_batch, i0, i1) * l_mat..)
                .unwrap_or_default();
            let r = rhs
                .get(at(m.rhs_batch, i0, i1) * r_mat..)
                .unwrap_or_default();
            for a in 0..m.rows {
                for c in 0..m.cols {
                    let mut acc = 0i64;
                    for k in 0..m.depth {
                        let xi = if m.adj_x {
                            k * m.rows + a
                        } else {
                            a * m.depth + k
                        };
                        let yi = if m.adj_y {
                            c * m.depth + k
                        } else {
                            k * m.cols + c
                        };
                        if let (Some(&p), Some(&q)) = (l.get(xi), r.get(yi)) {
                            acc += x(p) * y(q);
                        }
                    }
                    if let Some(o) = out.next() {
                        *o = finish(acc);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// `[2, 2, 3] x [3, 2]` (the right operand broadcast over the batch), then the same with
    /// both operands stored transposed; equal scales and zero points 1, 0, 0.
    #[test]
    fn broadcast_and_transposed_operands() {
        let p = MatMulParams {
            lhs_zp: 1,
            rhs_zp: 0,
            output_zp: 0,
            multiplier: Multiplier {
                multiplier: 1 << 30,
                shift: 1,
            },
        };
        let lhs: Vec<i8> = (1..=12).collect(); // minus the zero point: 0..=11
        let rhs: [i8; 6] = [1, 0, 0, 1, 1, 1]; // rows (1, 0), (0, 1), (1, 1)
        let m = MatMul {
            lhs_batch: [1, 2],
            rhs_batch: [1, 1],
            rows: 2,
            depth: 3,
            cols: 2,
            adj_x: false,
            adj_y: false,
        };
        let mut out = [0i8; 8];
        batch_matmul(&m, &lhs, &rhs, &p, &mut out);
        // Row (a, b, c) times rhs is (a + c, b + c).
        assert_eq!(out, [2, 3, 8, 9, 14, 15, 20, 21]);
        let transpose = |x: &[i8], r: usize, c: usize| -> Vec<i8> {
            (0..c)
                .flat_map(|j| (0..r).map(move |i| x[i * c + j]))
                .collect()
        };
        let lhs_t: Vec<i8> = lhs.chunks(6).flat_map(|b| transpose(b, 2, 3)).collect();
        let t = MatMul {
            adj_x: true,
            adj_y: true,
            ..m
        };
        let mut again = [0i8; 8];
        batch_matmul(&t, &lhs_t, &transpose(&rhs, 3, 2), &p, &mut again);
        assert_eq!(again, out);
    }
}
