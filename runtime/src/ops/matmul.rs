//! BATCH_MATMUL.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{BatchMatMul, DType, TensorDef};
use crate::kernels::reference::{self, MatMul, MatMulParams};
use crate::kernels::{as_i8, as_i8_mut};

/// The product's shapes: each operand's last two dimensions as a matrix, the ones before
/// (at most two) as its batch.
fn shapes(o: &BatchMatMul, lhs: &TensorDef, rhs: &TensorDef) -> Option<MatMul> {
    let split = |t: &TensorDef| -> Option<([usize; 2], [usize; 2])> {
        let dims = t.shape.iter().map(|&d| usize::from(d));
        let mut padded = [1usize; 4];
        let lead = 4usize.checked_sub(t.shape.len())?;
        for (slot, d) in padded.iter_mut().skip(lead).zip(dims) {
            *slot = d;
        }
        let [b0, b1, m0, m1] = padded;
        (t.shape.len() >= 2).then_some(([b0, b1], [m0, m1]))
    };
    let (lhs_batch, [l0, l1]) = split(lhs)?;
    let (rhs_batch, [r0, r1]) = split(rhs)?;
    let (rows, depth) = if o.adj_x { (l1, l0) } else { (l0, l1) };
    let (rhs_depth, cols) = if o.adj_y { (r1, r0) } else { (r0, r1) };
    (depth == rhs_depth).then_some(MatMul {
        lhs_batch,
        rhs_batch,
        rows,
        depth,
        cols,
        adj_x: o.adj_x,
        adj_y: o.adj_y,
    })
}

/// Int8 operands of two to four dimensions whose batches broadcast and whose inner sizes
/// agree; the output `[batch..., rows, cols]` (leading 1s aside).
pub(super) fn validate(cx: &Cx<'_, '_>, o: &BatchMatMul) -> Result<(), Error> {
    // int8, or int16 with zero points 0 (16x8).
    let wide = cfg!(feature = "int16") && cx.tensor(o.lhs)?.dtype == DType::I16;
    let t = if wide { DType::I16 } else { DType::I8 };
    let lhs = cx.typed(o.lhs, t)?;
    let rhs = cx.typed(o.rhs, t)?;
    let out = cx.typed(o.output, t)?;
    cx.check_param(
        !wide
            || lhs.zero_point == 0
                && rhs.zero_point == 0
                && out.zero_point == 0
                && o.multiplier.shift < 15,
    )?;
    let m = shapes(o, &lhs, &rhs).ok_or(cx.shape_err())?;
    let batch = m.out_batch().ok_or(cx.shape_err())?;
    let want = [batch[0], batch[1], m.rows, m.cols];
    let rank = out.shape.len();
    let lead = want.len().checked_sub(rank).ok_or(cx.shape_err())?;
    let matches = want
        .iter()
        .skip(lead)
        .zip(&out.shape)
        .all(|(&w, &d)| w == usize::from(d))
        && want.iter().take(lead).all(|&w| w == 1);
    cx.check_shape(rank >= 2 && matches && m.depth > 0)?;
    cx.check_multiplier(o.multiplier)
}

pub(super) fn eval(cx: &Cx<'_, '_>, o: &BatchMatMul, arena: &mut [u8]) -> Result<(), Error> {
    let (lhs, rhs) = (cx.tensor(o.lhs)?, cx.tensor(o.rhs)?);
    let out_t = cx.tensor(o.output)?;
    let m = shapes(o, &lhs, &rhs).ok_or(cx.shape_err())?;
    let (out, [x, y]) = operands(arena, &out_t, [&lhs, &rhs])?;
    if lhs.dtype == DType::I16 {
        let (x, y) = (x.as_chunks::<2>().0, y.as_chunks::<2>().0);
        reference::batch_matmul_16(&m, x, y, o.multiplier, out.as_chunks_mut::<2>().0);
        return Ok(());
    }
    let p = MatMulParams {
        lhs_zp: lhs.zero_point,
        rhs_zp: rhs.zero_point,
        output_zp: out_t.zero_point,
        multiplier: o.multiplier,
    };
    reference::batch_matmul(&m, as_i8(x), as_i8(y), &p, as_i8_mut(out));
    Ok(())
}
