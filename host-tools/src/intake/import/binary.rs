//! ADD, SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM, PRELU and BATCH_MATMUL, with
//! broadcasting and constant operands: the input and output multipliers. TFLM prepares them in
//! `add_common.cc`, `sub_common.cc`, `mul_common.cc`, `squared_difference.cc`,
//! `maximum_minimum.cc`, `prelu_common.cc` and `batch_matmul.cc`
//! (`tensorflow/lite/micro/kernels/`).

use anyhow::{Result, anyhow, ensure};
use mote::format::{
    Add, Add16, BatchMatMul, Binary, Clamp, Clamp16, DType, Mul, Mul16, Multiplier, Op, Prelu,
};

use super::{Act, Importer, OpCx, fused_clamp, fused_clamp16, multiplier};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{ActivationFunctionType, BuiltinOperator as B};

impl<'m, 'a> Importer<'m, 'a> {
    /// ADD (TFLM `CalculateOpDataAdd`, int8: left shift 20).
    pub(super) fn add(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_add_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        self.add_or_sub(cx, op, activation, false)
    }

    /// SUB (TFLM `CalculateOpDataSub`: ADD's arithmetic, in double as ADD's).
    pub(super) fn sub(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_sub_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        self.add_or_sub(cx, op, activation, true)
    }

    /// ADD or SUB: int8 with a left shift of 20, or int16 (16x8) with 15 (TFLM's general
    /// path, which it always takes for int16).
    fn add_or_sub(
        &mut self,
        cx: &OpCx,
        op: &Operator<'_>,
        activation: ActivationFunctionType,
        subtract: bool,
    ) -> Result<Op<'a>> {
        let (a, b, output) = self.binary_operands(cx, op)?;
        let wide = output.dtype == DType::I16;
        let left_shift: u8 = if wide { 15 } else { 20 };
        let common = CommonScale::new(cx, &a, &b)?;
        let real_out = common.twice_max / (f64::from(1u32 << left_shift) * f64::from(output.scale));
        if wide {
            let add = Add16 {
                input1: a.id,
                input2: b.id,
                output: output.id,
                input1_multiplier: common.input1,
                input2_multiplier: common.input2,
                output_multiplier: smaller_than_one(cx, real_out, "output")?,
                clamp: fused_clamp16(cx, activation, &output)?,
            };
            return Ok(if subtract {
                Op::Sub16(add)
            } else {
                Op::Add16(add)
            });
        }
        const LEFT_SHIFT: u8 = 20;
        let add = Add {
            input1: a.id,
            input2: b.id,
            output: output.id,
            left_shift: LEFT_SHIFT,
            input1_multiplier: common.input1,
            input2_multiplier: common.input2,
            output_multiplier: smaller_than_one(cx, real_out, "output")?,
            clamp: fused_clamp(cx, activation, &output)?,
        };
        Ok(if subtract { Op::Sub(add) } else { Op::Add(add) })
    }

    /// SQUARED_DIFFERENCE (TFLM `squared_difference.cc`, int8: left shift 7, the output
    /// multiplier `twice_max² / (2^14 · output_scale)` by the general `QuantizeMultiplier`).
    pub(super) fn squared_difference(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let (a, b, output) = self.binary_operands(cx, op)?;
        let common = CommonScale::new(cx, &a, &b)?;
        if output.dtype == DType::I16 {
            // int16: zero points 0, no left shift (TFLM `squared_difference.cc`).
            ensure!(
                a.zero_point == 0 && b.zero_point == 0 && output.zero_point == 0,
                "{cx}: int16 SQUARED_DIFFERENCE needs zero points 0 (TFLM refuses others)"
            );
            let real_out = common.twice_max * common.twice_max / f64::from(output.scale);
            return Ok(Op::SquaredDifference16(Add16 {
                input1: a.id,
                input2: b.id,
                output: output.id,
                input1_multiplier: common.input1,
                input2_multiplier: common.input2,
                output_multiplier: multiplier(cx, real_out, "output")?,
                clamp: Clamp16::NONE,
            }));
        }
        const LEFT_SHIFT: u8 = 7;
        let real_out = common.twice_max * common.twice_max
            / (f64::from(1u32 << (2 * LEFT_SHIFT)) * f64::from(output.scale));
        Ok(Op::SquaredDifference(Add {
            input1: a.id,
            input2: b.id,
            output: output.id,
            left_shift: LEFT_SHIFT,
            input1_multiplier: common.input1,
            input2_multiplier: common.input2,
            output_multiplier: multiplier(cx, real_out, "output")?,
            clamp: Clamp::NONE,
        }))
    }

    /// MAXIMUM and MINIMUM: TFLM compares the raw int8 values (it has no prepare step and
    /// looks at no quantization), and so does mote.
    pub(super) fn maximum_minimum(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let (a, b, output) = self.binary_operands(cx, op)?;
        let o = Binary {
            input1: a.id,
            input2: b.id,
            output: output.id,
        };
        Ok(if op.builtin == B::MAXIMUM {
            Op::Maximum(o)
        } else {
            Op::Minimum(o)
        })
    }

    /// PRELU (TFLM `CalculatePreluParams`: both multipliers in double, the second as
    /// `(scale_in * scale_alpha) / scale_out`); alpha, usually a constant, broadcasts.
    pub(super) fn prelu(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let (input, alpha, output) = if self.input_8_or_16(cx, op, 0)?.dtype == DType::I16 {
            // 16x8: int16 input and output, an int8 alpha (TFLM refuses an int16 one).
            let input = self.input_8_or_16(cx, op, 0)?;
            let alpha = self.operand_i8(cx, op, 1)?;
            let output = self.output_like(cx, op, &input)?;
            ensure!(
                alpha.dtype == DType::I8,
                "{cx}: an int16 PRELU needs an int8 alpha (TFLM refuses others)"
            );
            check_broadcast(cx, &input, &alpha, &output)?;
            (input, alpha, output)
        } else {
            self.binary_operands(cx, op)?
        };
        let (s_in, s_alpha, s_out) = (
            f64::from(input.scale),
            f64::from(alpha.scale),
            f64::from(output.scale),
        );
        Ok(Op::Prelu(Prelu {
            input: input.id,
            alpha: alpha.id,
            output: output.id,
            positive: multiplier(cx, s_in / s_out, "identity")?,
            negative: multiplier(cx, s_in * s_alpha / s_out, "alpha")?,
        }))
    }

    /// BATCH_MATMUL (TFLM `BatchMatMulPrepare`: one multiplier, `(scale_lhs * scale_rhs) /
    /// scale_out` in double); either operand may be a constant; batch dimensions broadcast.
    pub(super) fn batch_matmul(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let o = op
            .raw
            .builtin_options_as_batch_mat_mul_options()
            .ok_or_else(|| anyhow!("{cx}: BatchMatMulOptions are missing"))?;
        let lhs = self.operand_i8(cx, op, 0)?;
        let rhs = self.operand_i8(cx, op, 1)?;
        let output = self.output_like(cx, op, &lhs)?;
        ensure!(
            rhs.dtype == lhs.dtype,
            "{cx}: operands of types {:?} and {:?} (TFLM needs one type)",
            lhs.dtype,
            rhs.dtype
        );
        ensure!(
            lhs.dtype == DType::I8
                || (lhs.zero_point == 0 && rhs.zero_point == 0 && output.zero_point == 0),
            "{cx}: int16 BATCH_MATMUL needs zero points 0 (TFLM refuses others)"
        );
        let (l, r) = (&lhs.shape, &rhs.shape);
        ensure!(
            l.len() >= 2 && r.len() >= 2,
            "{cx}: operands of shapes {l:?} and {r:?}; both need at least two dimensions"
        );
        let (lm, rm) = (&l[l.len() - 2..], &r[r.len() - 2..]);
        let (rows, depth) = if o.adj_x() {
            (lm[1], lm[0])
        } else {
            (lm[0], lm[1])
        };
        let (rhs_depth, cols) = if o.adj_y() {
            (rm[1], rm[0])
        } else {
            (rm[0], rm[1])
        };
        ensure!(
            depth == rhs_depth,
            "{cx}: the left operand {l:?} sums over {depth} values, the right {r:?} over \
             {rhs_depth} (adj_x {}, adj_y {})",
            o.adj_x(),
            o.adj_y()
        );
        let (lb, rb) = (&l[..l.len() - 2], &r[..r.len() - 2]);
        let rank = lb.len().max(rb.len());
        let pad = |b: &[usize]| -> Vec<usize> {
            let mut v = vec![1; rank - b.len()];
            v.extend_from_slice(b);
            v
        };
        let mut want = Vec::with_capacity(rank + 2);
        for (a, b) in pad(lb).into_iter().zip(pad(rb)) {
            ensure!(
                a == b || a == 1 || b == 1,
                "{cx}: batch dimensions of {l:?} and {r:?} do not broadcast"
            );
            want.push(a.max(b));
        }
        want.extend([rows, cols]);
        ensure!(
            output.shape == want,
            "{cx}: output shape {:?} is not the product's {want:?}",
            output.shape
        );
        let real = f64::from(lhs.scale) * f64::from(rhs.scale) / f64::from(output.scale);
        Ok(Op::BatchMatMul(BatchMatMul {
            lhs: lhs.id,
            rhs: rhs.id,
            output: output.id,
            adj_x: o.adj_x(),
            adj_y: o.adj_y(),
            multiplier: multiplier(cx, real, "output")?,
        }))
    }

    /// The two int8 operands (activations or constants) and the output of a broadcasting
    /// binary operator.
    fn binary_operands(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<(Act, Act, Act)> {
        let a = self.operand_i8(cx, op, 0)?;
        let b = self.operand_i8(cx, op, 1)?;
        let output = self.output_like(cx, op, &a)?;
        ensure!(
            b.dtype == a.dtype,
            "{cx}: inputs of types {:?} and {:?}",
            a.dtype,
            b.dtype
        );
        let int16_ok = matches!(
            op.builtin,
            B::ADD | B::SUB | B::MUL | B::MAXIMUM | B::MINIMUM | B::SQUARED_DIFFERENCE
        );
        ensure!(
            a.dtype == DType::I8 || int16_ok,
            "{cx}: this operator with int16 activations is not supported yet"
        );
        check_broadcast(cx, &a, &b, &output)?;
        Ok((a, b, output))
    }

    /// MUL (TFLM `CalculateOpDataMul`: the scale product in double).
    pub(super) fn mul(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let activation = op
            .raw
            .builtin_options_as_mul_options()
            .map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
        let (a, b, output) = self.binary_operands(cx, op)?;
        let real = f64::from(a.scale) * f64::from(b.scale) / f64::from(output.scale);
        if output.dtype == DType::I16 {
            ensure!(
                a.zero_point == 0 && b.zero_point == 0 && output.zero_point == 0,
                "{cx}: int16 MUL needs zero points 0 (TFLM refuses others)"
            );
            return Ok(Op::Mul16(Mul16 {
                input1: a.id,
                input2: b.id,
                output: output.id,
                multiplier: multiplier(cx, real, "output")?,
                clamp: fused_clamp16(cx, activation, &output)?,
            }));
        }
        Ok(Op::Mul(Mul {
            input1: a.id,
            input2: b.id,
            output: output.id,
            output_multiplier: multiplier(cx, real, "output")?,
            clamp: fused_clamp(cx, activation, &output)?,
        }))
    }
}

/// Both inputs of ADD, SUB or SQUARED_DIFFERENCE on one scale, twice the larger input scale
/// (`std::max` of the float scales, widened, doubled): the multipliers that take them there.
struct CommonScale {
    twice_max: f64,
    input1: Multiplier,
    input2: Multiplier,
}

impl CommonScale {
    fn new(cx: &OpCx, a: &Act, b: &Act) -> Result<Self> {
        let twice_max = 2.0 * f64::from(a.scale.max(b.scale));
        Ok(CommonScale {
            twice_max,
            input1: smaller_than_one(cx, f64::from(a.scale) / twice_max, "input 1")?,
            input2: smaller_than_one(cx, f64::from(b.scale) / twice_max, "input 2")?,
        })
    }
}

/// NumPy broadcasting of two inputs to the output shape, at most 4 dimensions.
fn check_broadcast(cx: &OpCx, a: &Act, b: &Act, out: &Act) -> Result<()> {
    let rank = a.shape.len().max(b.shape.len());
    let dim = |s: &[usize], d: usize| {
        let lead = rank - s.len();
        if d < lead { 1 } else { s[d - lead] }
    };
    let mut want = Vec::with_capacity(rank);
    for d in 0..rank {
        let (x, y) = (dim(&a.shape, d), dim(&b.shape, d));
        ensure!(
            x == y || x == 1 || y == 1,
            "{cx}: input shapes {:?} and {:?} do not broadcast",
            a.shape,
            b.shape
        );
        want.push(x.max(y));
    }
    ensure!(
        want.iter().product::<usize>() == out.elements()
            && out
                .shape
                .iter()
                .rev()
                .zip(want.iter().rev())
                .all(|(o, w)| o == w),
        "{cx}: output shape {:?} is not the broadcast of {:?} and {:?}",
        out.shape,
        a.shape,
        b.shape
    );
    Ok(())
}

/// `QuantizeMultiplierSmallerThanOneExp`: TFLM aborts unless `0 < real < 1`.
fn smaller_than_one(cx: &OpCx, real: f64, what: &str) -> Result<Multiplier> {
    ensure!(
        real > 0.0 && real < 1.0,
        "{cx}: the {what} multiplier {real} is not in (0, 1), which TFLM's int8 kernel requires"
    );
    multiplier(cx, real, what)
}
