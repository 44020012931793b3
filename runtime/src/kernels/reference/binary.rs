//! ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and PRELU, int8, with NumPy/TFLite
//! broadcasting over up to five dimensions: TFLM's
//! `reference_integer_ops::AddFunc` and `MulElementwise` applied through
//! `BroadcastBinaryFunction6DSlow` / `BroadcastMul6DSlow` (the same element pairs as the
//! plain elementwise loop when both shapes are equal).

use crate::format::{Clamp, MAX_TENSOR_RANK, Multiplier};

/// Dimensions a broadcast walks (TFLM's loop takes up to six; mote's tensors have five).
const RANK: usize = MAX_TENSOR_RANK;
use crate::kernels::fixed_point::{
    clamp_to_i8, multiply_by_quantized_multiplier_smaller_than_one_exp, requantize,
};

/// How the two inputs of a broadcasting binary operator map onto its output: shapes aligned
/// on the right, padded with leading 1s to five dimensions; along each dimension both inputs
/// have the output's size, or one of them has size 1 and is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    dims: [usize; RANK],
    strides1: [usize; RANK],
    strides2: [usize; RANK],
}

impl Broadcast {
    /// The broadcast of two shapes (outermost dimension first), or `None` if they have more
    /// than five dimensions or a dimension where they differ and neither is 1.
    pub fn new(shape1: &[u16], shape2: &[u16]) -> Option<Broadcast> {
        let (a, b) = (extend(shape1)?, extend(shape2)?);
        let mut dims = [1; RANK];
        for ((d, &a), &b) in dims.iter_mut().zip(&a).zip(&b) {
            *d = match (a, b) {
                _ if a == b => a,
                (1, _) => b,
                (_, 1) => a,
                _ => return None,
            };
        }
        Some(Broadcast {
            dims,
            strides1: strides(&a)?,
            strides2: strides(&b)?,
        })
    }

    /// The output's dimensions, padded with leading 1s to five.
    pub fn dims(&self) -> [usize; RANK] {
        self.dims
    }

    /// Elements of the output.
    pub fn len(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// Whether the output has no elements.
    pub fn is_empty(&self) -> bool {
        self.dims.contains(&0)
    }

    /// Elements input `strides` (1 or 2) must have: the product of the dimensions it does not
    /// repeat.
    fn input_len(&self, strides: &[usize; RANK]) -> Option<usize> {
        self.dims
            .iter()
            .zip(strides)
            .try_fold(1usize, |n, (&d, &s)| {
                n.checked_mul(if s == 0 { 1 } else { d })
            })
    }

    /// Calls `f` on every pair of input values in output order and writes the results, or
    /// does nothing if the slices do not have the lengths the shapes give.
    pub(crate) fn map<A: Copy, B: Copy, T>(
        &self,
        input1: &[A],
        input2: &[B],
        output: &mut [T],
        f: impl Fn(A, B) -> T,
    ) {
        let n = self.len();
        if n != Some(output.len())
            || self.input_len(&self.strides1) != Some(input1.len())
            || self.input_len(&self.strides2) != Some(input2.len())
        {
            return;
        }
        if input1.len() == output.len() && input2.len() == output.len() {
            // No broadcasting: both inputs are laid out as the output.
            for ((o, &x), &y) in output.iter_mut().zip(input1).zip(input2) {
                *o = f(x, y);
            }
            return;
        }
        let [d0, d1, d2, d3, d4] = self.dims;
        let (s1, s2) = (self.strides1, self.strides2);
        let mut out = output.iter_mut();
        for i0 in 0..d0 {
            for i1 in 0..d1 {
                for i2 in 0..d2 {
                    for i3 in 0..d3 {
                        // In bounds: each index is below its dimension, so the offsets stay
                        // below the input lengths checked above.
                        let base1 = i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3];
                        let base2 = i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3];
                        for i4 in 0..d4 {
                            let x = input1.get(base1 + i4 * s1[4]);
                            let y = input2.get(base2 + i4 * s2[4]);
                            if let (Some(o), Some(&x), Some(&y)) = (out.next(), x, y) {
                                *o = f(x, y);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `shape` padded with leading 1s to five dimensions.
fn extend(shape: &[u16]) -> Option<[usize; RANK]> {
    let pad = RANK.checked_sub(shape.len())?;
    let mut dims = [1; RANK];
    for (d, &s) in dims.iter_mut().skip(pad).zip(shape) {
        *d = usize::from(s);
    }
    Some(dims)
}

/// Row-major element strides of `dims`, 0 along dimensions of size 1 (TFLite's `NdArrayDesc`).
fn strides(dims: &[usize; RANK]) -> Option<[usize; RANK]> {
    let mut strides = [0; RANK];
    let mut step = 1usize;
    for (s, &d) in strides.iter_mut().zip(dims).rev() {
        *s = if d == 1 { 0 } else { step };
        step = step.checked_mul(d)?;
    }
    Some(strides)
}

/// Quantization parameters of int8 ADD (TFLite's `ArithmeticParams` for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// Zero point of input 1.
    pub input1_zp: i32,
    /// Zero point of input 2.
    pub input2_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// Left shift of both offset inputs (20 for int8).
    pub left_shift: u8,
    /// Input 1 to the common scale (shift ≤ 0).
    pub input1_multiplier: Multiplier,
    /// Input 2 to the common scale (shift ≤ 0).
    pub input2_multiplier: Multiplier,
    /// Sum to the output scale (shift ≤ 0).
    pub output_multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp,
}

/// ADD: each input offset by its zero point, shifted left by `left_shift`, scaled to the
/// common scale; the sum scaled to the output, `+ output_zp`, clamped. All scalings are
/// `MultiplyByQuantizedMultiplierSmallerThanOneExp`. Sums wrap as TFLM's i32 does (a
/// `left_shift` of at most 22 keeps them exact).
pub fn add(b: &Broadcast, input1: &[i8], input2: &[i8], p: &AddParams, output: &mut [i8]) {
    combine(b, input1, input2, p, output, i32::wrapping_add);
}

/// SUB: ADD's arithmetic with the second scaled input subtracted (TFLM prepares SUB exactly as
/// ADD; `SubElementwise`).
pub fn sub(b: &Broadcast, input1: &[i8], input2: &[i8], p: &AddParams, output: &mut [i8]) {
    combine(b, input1, input2, p, output, i32::wrapping_sub);
}

/// ADD or SUB: `op` joins the two inputs on the common scale.
fn combine(
    b: &Broadcast,
    input1: &[i8],
    input2: &[i8],
    p: &AddParams,
    output: &mut [i8],
    op: fn(i32, i32) -> i32,
) {
    b.map(input1, input2, output, |x, y| {
        let joined = op(
            to_common_scale(x, p.input1_zp, p.left_shift, p.input1_multiplier),
            to_common_scale(y, p.input2_zp, p.left_shift, p.input2_multiplier),
        );
        let out = multiply_by_quantized_multiplier_smaller_than_one_exp(
            joined,
            p.output_multiplier.multiplier,
            i32::from(p.output_multiplier.shift),
        );
        clamp_to_i8(out.saturating_add(p.output_zp), p.clamp.min, p.clamp.max)
    });
}

/// `x - zp`, shifted left, scaled by a multiplier below one: an input of ADD, SUB or
/// SQUARED_DIFFERENCE on the operator's common scale.
fn to_common_scale(x: i8, zp: i32, left_shift: u8, m: Multiplier) -> i32 {
    let shifted = i32::from(x)
        .wrapping_sub(zp)
        .wrapping_shl(u32::from(left_shift));
    multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, m.multiplier, i32::from(m.shift))
}

/// MAXIMUM: the larger raw value of each pair (TFLM compares the int8 values themselves,
/// whatever the quantization).
pub fn maximum(b: &Broadcast, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    b.map(input1, input2, output, |x, y| x.max(y));
}

/// MINIMUM: the smaller raw value of each pair.
pub fn minimum(b: &Broadcast, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    b.map(input1, input2, output, |x, y| x.min(y));
}

/// SQUARED_DIFFERENCE (TFLM's int8 kernel): both inputs on the common scale as for ADD (left
/// shift 7), their difference squared in i32, requantized to the output
/// (`MultiplyByQuantizedMultiplier`, which may scale up), `+ output_zp`, saturated.
pub fn squared_difference(
    b: &Broadcast,
    input1: &[i8],
    input2: &[i8],
    p: &AddParams,
    output: &mut [i8],
) {
    b.map(input1, input2, output, |x, y| {
        let d = to_common_scale(x, p.input1_zp, p.left_shift, p.input1_multiplier).wrapping_sub(
            to_common_scale(y, p.input2_zp, p.left_shift, p.input2_multiplier),
        );
        let out = requantize(d.wrapping_mul(d), p.output_multiplier);
        clamp_to_i8(out.saturating_add(p.output_zp), p.clamp.min, p.clamp.max)
    });
}

/// Quantization parameters of int8 MUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParams {
    /// Zero point of input 1.
    pub input1_zp: i32,
    /// Zero point of input 2.
    pub input2_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// `scale1 * scale2 / scale_out`.
    pub output_multiplier: Multiplier,
    /// Fused activation.
    pub clamp: Clamp,
}

/// MUL: `(x1 - zp1) * (x2 - zp2)`, requantized (`MultiplyByQuantizedMultiplier`),
/// `+ output_zp`, clamped.
pub fn mul(b: &Broadcast, input1: &[i8], input2: &[i8], p: &MulParams, output: &mut [i8]) {
    b.map(input1, input2, output, |x, y| {
        let product = i32::from(x)
            .wrapping_sub(p.input1_zp)
            .wrapping_mul(i32::from(y).wrapping_sub(p.input2_zp));
        let out = requantize(product, p.output_multiplier);
        clamp_to_i8(out.saturating_add(p.output_zp), p.clamp.min, p.clamp.max)
    });
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::reference::conv::tests::fill;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn m(multiplier: i32, shift: i8) -> Multiplier {
        Multiplier { multiplier, shift }
    }

    /// All scales equal: inputs to the common scale 2s by 0.5 each, the sum back by
    /// 2s / (2^20 s) = 2^-19, so the output is exactly `(x1 - zp1) + (x2 - zp2) + zp_out`.
    fn plain_add(zp1: i32, zp2: i32, zp_out: i32) -> AddParams {
        AddParams {
            input1_zp: zp1,
            input2_zp: zp2,
            output_zp: zp_out,
            left_shift: 20,
            input1_multiplier: m(1 << 30, 0),
            input2_multiplier: m(1 << 30, 0),
            output_multiplier: m(1 << 30, -18),
            clamp: Clamp::NONE,
        }
    }

    #[test]
    fn broadcast_shapes() {
        let b = Broadcast::new(&[1, 2, 2, 3], &[1, 1, 1, 3]).unwrap();
        assert_eq!(b.dims(), [1, 1, 2, 2, 3]);
        let b = Broadcast::new(&[3], &[2, 1]).unwrap();
        assert_eq!(b.dims(), [1, 1, 1, 2, 3]);
        assert_eq!(b.len(), Some(6));
        assert_eq!(Broadcast::new(&[2, 3], &[3, 2]), None);
        let b = Broadcast::new(&[2, 1, 1, 1, 1], &[3]).unwrap();
        assert_eq!(b.dims(), [2, 1, 1, 1, 3]);
        assert_eq!(Broadcast::new(&[1, 1, 1, 1, 1, 1], &[1]), None);
        assert!(Broadcast::new(&[0, 3], &[1, 3]).unwrap().is_empty());
    }

    #[test]
    fn add_rescales_both_inputs() {
        // Scales: input1 0.5 (zp 0), input2 0.25 (zp 2), output 0.5 (zp -3). TFLite: common
        // scale 2 * 0.5 = 1; input multipliers 0.5 (2^30, 0) and 0.25 (2^30, -1); output
        // 1 / (2^20 * 0.5) = 2^-19 (2^30, -18).
        let p = AddParams {
            input1_zp: 0,
            input2_zp: 2,
            output_zp: -3,
            left_shift: 20,
            input1_multiplier: m(1 << 30, 0),
            input2_multiplier: m(1 << 30, -1),
            output_multiplier: m(1 << 30, -18),
            clamp: Clamp::NONE,
        };
        let b = Broadcast::new(&[4], &[4]).unwrap();
        let mut out = [0i8; 4];
        // real: 10*0.5 + 6*0.25 = 6.5 -> 13; 1*0.5 - 1*0.25 = 0.25 -> 0.5 -> 1 (tie, away);
        // -1*0.5 - 1*0.25 = -0.75 -> -1.5 -> -2; 127*0.5 + 125*0.25 = 94.75 -> 189.5 -> 190,
        // which saturates after the zero point.
        add(&b, &[10, 1, -1, 127], &[8, 1, 1, 127], &p, &mut out);
        assert_eq!(out, [13 - 3, 1 - 3, -2 - 3, 127]);
        let relu = AddParams {
            clamp: Clamp { min: -3, max: 5 },
            ..p
        };
        add(&b, &[10, 1, -1, 127], &[8, 1, 1, 127], &relu, &mut out);
        assert_eq!(out, [5, -2, -3, 5]);
    }

    #[test]
    fn add_broadcasts_channels_over_an_image() {
        // [1,2,2,3] + [1,1,1,3]: the second input is added to every pixel.
        let x: Vec<i8> = (0..12).collect();
        let b = Broadcast::new(&[1, 2, 2, 3], &[1, 1, 1, 3]).unwrap();
        let mut out = [0i8; 12];
        add(&b, &x, &[100, 0, -100], &plain_add(0, 0, 0), &mut out);
        assert_eq!(out, [100, 1, -98, 103, 4, -95, 106, 7, -92, 109, 10, -89]);
        // The operands swapped, with zero points.
        let b = Broadcast::new(&[1, 1, 1, 3], &[1, 2, 2, 3]).unwrap();
        add(&b, &[101, 1, -99], &x, &plain_add(1, 0, 5), &mut out);
        assert_eq!(out, [105, 6, -93, 108, 9, -90, 111, 12, -87, 114, 15, -84]);
    }

    #[test]
    fn add_scalar_and_rows_columns() {
        // A scalar [1] against [2,3]; then a column [2,1] against a row [3].
        let mut out = [0i8; 6];
        let b = Broadcast::new(&[1], &[2, 3]).unwrap();
        add(&b, &[7], &[0, 1, 2, 3, 4, 5], &plain_add(0, 0, 0), &mut out);
        assert_eq!(out, [7, 8, 9, 10, 11, 12]);
        let b = Broadcast::new(&[2, 1], &[3]).unwrap();
        add(&b, &[10, 20], &[1, 2, 3], &plain_add(0, 0, 0), &mut out);
        assert_eq!(out, [11, 12, 13, 21, 22, 23]);
    }

    #[test]
    fn mul_requantizes_and_broadcasts() {
        // Output multiplier 1/16 (2^30, -3); zero points 2, -2, 1.
        let p = MulParams {
            input1_zp: 2,
            input2_zp: -2,
            output_zp: 1,
            output_multiplier: m(1 << 30, -3),
            clamp: Clamp::NONE,
        };
        let b = Broadcast::new(&[4], &[1]).unwrap();
        let mut out = [0i8; 4];
        // (10-2) * (1+2) = 24 -> 1.5 -> 2; -6 * 3 = -18 -> -1.125 -> -1;
        // -8 * 3 = -24 -> -1.5 -> -2; 125 * 3 = 375: 375/2 = 187.5 -> 188 in the high
        // multiply, then 188/8 = 23.5 -> 24 (TFLM's two-step rounding; 375/16 = 23.4); all + 1.
        mul(&b, &[10, -4, -6, 127], &[1], &p, &mut out);
        assert_eq!(out, [3, 0, -1, 25]);
        // Saturation: multiplier 1.0 (2^30, 1), 125 * 127.
        let big = MulParams {
            output_multiplier: m(1 << 30, 1),
            ..p
        };
        mul(&b, &[127, -128, 2, 3], &[125], &big, &mut out);
        // 125 * 127 -> 127; -130 * 127 -> -128; 0 * 127 = 0 (+1); 1 * 127 -> 127
        assert_eq!(out, [127, -128, 1, 127]);
        let clamped = MulParams {
            clamp: Clamp { min: 0, max: 50 },
            ..big
        };
        mul(&b, &[127, -128, 2, 3], &[125], &clamped, &mut out);
        assert_eq!(out, [50, 0, 1, 50]);
    }

    #[test]
    fn wrong_lengths_write_nothing() {
        let b = Broadcast::new(&[2, 2], &[2]).unwrap();
        let mut out = [9i8; 4];
        add(&b, &[1; 4], &[1; 4], &plain_add(0, 0, 0), &mut out);
        add(&b, &[1; 3], &[1; 2], &plain_add(0, 0, 0), &mut out);
        add(&b, &[1; 4], &[1; 2], &plain_add(0, 0, 0), &mut out[..3]);
        assert_eq!(out, [9; 4]);
    }

    /// A random pair of broadcastable shapes of rank up to 5.
    fn shapes() -> impl Strategy<Value = (Vec<u16>, Vec<u16>)> {
        (
            proptest::collection::vec(1u16..=3, 5),
            proptest::collection::vec(any::<(bool, bool)>(), 5),
            0usize..=5,
            0usize..=5,
        )
            .prop_map(|(dims, ones, r1, r2)| {
                let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<u16> {
                    (0..5).map(|i| if keep(i) { dims[i] } else { 1 }).collect()
                };
                let a = pick(&|i| !ones[i].0);
                let b = pick(&|i| !ones[i].1);
                (a[5 - r1..].to_vec(), b[5 - r2..].to_vec())
            })
    }

    /// Element `index` of the output, read from an input of `shape` by NumPy rules.
    fn read(input: &[i8], shape: &[u16], out_dims: [usize; 5], mut index: usize) -> i8 {
        let mut coords = [0usize; 5];
        for d in (0..5).rev() {
            coords[d] = index % out_dims[d];
            index /= out_dims[d];
        }
        let full: Vec<usize> = core::iter::repeat_n(1, 5 - shape.len())
            .chain(shape.iter().map(|&d| usize::from(d)))
            .collect();
        let mut offset = 0;
        for d in 0..5 {
            let c = if full[d] == 1 { 0 } else { coords[d] };
            offset = offset * full[d] + c;
        }
        input[offset]
    }

    fn elements(shape: &[u16]) -> usize {
        shape.iter().map(|&d| usize::from(d)).product()
    }

    proptest! {
        #[test]
        fn add_matches_naive(
            (s1, s2) in shapes(),
            (p1, p2) in (proptest::collection::vec(any::<i8>(), 1..40), proptest::collection::vec(any::<i8>(), 1..40)),
            (zp1, zp2, zpo) in (-128i32..=127, -128i32..=127, -128i32..=127),
            left_shift in 0u8..=22,
            (m1, m2, mo) in ((1i32 << 30)..i32::MAX, (1i32 << 30)..i32::MAX, (1i32 << 30)..i32::MAX),
            (sh1, sh2, sho) in (-8i8..=0, -8i8..=0, -31i8..=0),
            (lo, hi) in (-128i8..=127, -128i8..=127),
        ) {
            let b = Broadcast::new(&s1, &s2).unwrap();
            let (x, y) = (fill(&p1, elements(&s1)), fill(&p2, elements(&s2)));
            let p = AddParams {
                input1_zp: zp1, input2_zp: zp2, output_zp: zpo, left_shift,
                input1_multiplier: m(m1, sh1), input2_multiplier: m(m2, sh2),
                output_multiplier: m(mo, sho),
                clamp: Clamp { min: lo.min(hi), max: lo.max(hi) },
            };
            let n = b.len().unwrap();
            let mut out = std::vec![0i8; n];
            add(&b, &x, &y, &p, &mut out);
            let scale = |v: i8, zp: i32, mult: Multiplier| -> i64 {
                let shifted = (i64::from(v) - i64::from(zp)) << left_shift;
                i64::from(multiply_by_quantized_multiplier_smaller_than_one_exp(
                    i32::try_from(shifted).unwrap(), mult.multiplier, i32::from(mult.shift)))
            };
            let expect: Vec<i8> = (0..n).map(|i| {
                let (a, c) = (read(&x, &s1, b.dims(), i), read(&y, &s2, b.dims(), i));
                let sum = scale(a, zp1, p.input1_multiplier) + scale(c, zp2, p.input2_multiplier);
                let v = i64::from(multiply_by_quantized_multiplier_smaller_than_one_exp(
                    i32::try_from(sum).unwrap(), mo, i32::from(sho))) + i64::from(zpo);
                v.clamp(i64::from(p.clamp.min), i64::from(p.clamp.max)) as i8
            }).collect();
            prop_assert_eq!(out, expect);
        }

        #[test]
        fn mul_matches_naive(
            (s1, s2) in shapes(),
            (p1, p2) in (proptest::collection::vec(any::<i8>(), 1..40), proptest::collection::vec(any::<i8>(), 1..40)),
            (zp1, zp2, zpo) in (-128i32..=127, -128i32..=127, -128i32..=127),
            mult in (1i32 << 30)..i32::MAX,
            shift in -20i8..=4,
            (lo, hi) in (-128i8..=127, -128i8..=127),
        ) {
            let b = Broadcast::new(&s1, &s2).unwrap();
            let (x, y) = (fill(&p1, elements(&s1)), fill(&p2, elements(&s2)));
            let p = MulParams {
                input1_zp: zp1, input2_zp: zp2, output_zp: zpo,
                output_multiplier: m(mult, shift),
                clamp: Clamp { min: lo.min(hi), max: lo.max(hi) },
            };
            let n = b.len().unwrap();
            let mut out = std::vec![0i8; n];
            mul(&b, &x, &y, &p, &mut out);
            let expect: Vec<i8> = (0..n).map(|i| {
                let (a, c) = (read(&x, &s1, b.dims(), i), read(&y, &s2, b.dims(), i));
                let prod = (i64::from(a) - i64::from(zp1)) * (i64::from(c) - i64::from(zp2));
                let v = i64::from(crate::kernels::fixed_point::multiply_by_quantized_multiplier(
                    i32::try_from(prod).unwrap(), mult, i32::from(shift))) + i64::from(zpo);
                v.clamp(i64::from(p.clamp.min), i64::from(p.clamp.max)) as i8
            }).collect();
            prop_assert_eq!(out, expect);
        }
    }
}

/// Quantization parameters of int8 PRELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreluParams {
    /// Zero point of the input.
    pub input_zp: i32,
    /// Zero point of alpha.
    pub alpha_zp: i32,
    /// Zero point of the output.
    pub output_zp: i32,
    /// `scale_in / scale_out`, for inputs at or above the zero point.
    pub positive: Multiplier,
    /// `scale_in * scale_alpha / scale_out`, for the inputs below it.
    pub negative: Multiplier,
}

/// PRELU of int16 with an int8 alpha (TFLM's 16x8 PRELU): as the int8 kernel, saturated to
/// int16.
pub fn prelu_16(
    b: &Broadcast,
    input: &[[u8; 2]],
    alpha: &[i8],
    p: &PreluParams,
    output: &mut [[u8; 2]],
) {
    b.map(input, alpha, output, |x, a| {
        let v = i32::from(i16::from_le_bytes(x)) - p.input_zp;
        let out = if v >= 0 {
            requantize(v, p.positive)
        } else {
            requantize(v.wrapping_mul(i32::from(a) - p.alpha_zp), p.negative)
        };
        (out.saturating_add(p.output_zp).clamp(-32768, 32767) as i16).to_le_bytes()
    });
}

/// PRELU (TFLM's `BroadcastPrelu4DSlow`): `x - zp` requantized by `positive` where it is not
/// negative, else `(x - zp) * (alpha - alpha_zp)` requantized by `negative`; `+ output_zp`,
/// saturated. `alpha` broadcasts against the input like a second operand.
pub fn prelu(b: &Broadcast, input: &[i8], alpha: &[i8], p: &PreluParams, output: &mut [i8]) {
    b.map(input, alpha, output, |x, a| {
        let v = i32::from(x) - p.input_zp;
        let out = if v >= 0 {
            requantize(v, p.positive)
        } else {
            requantize(v.wrapping_mul(i32::from(a) - p.alpha_zp), p.negative)
        };
        clamp_to_i8(out.saturating_add(p.output_zp), i8::MIN, i8::MAX)
    });
}
