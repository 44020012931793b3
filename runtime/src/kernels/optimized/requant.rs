//! Requantization with TFLM's two-step rounding, exactly, in one 64-bit multiply-add and
//! two shifts.
//!
//! TFLM computes `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << l, m), e)`. For
//! every `x` and every multiplier except `i32::MIN` (which the fast path refuses):
//!
//! * the high multiply is `floor((a·m + 2^30) / 2^31)` with `a = x << l` (wrapping): its
//!   nudge `1 - 2^30` for negative products, with C's truncating division, is the same floor;
//! * the rounding divide of `y` by `2^e` (ties away from zero) is
//!   `floor((y + 2^(e-1) - [y < 0]) / 2^e)` for `e >= 1`;
//! * `floor(floor(p / 2^31) + c) / 2^e) = floor((p + c·2^31) / 2^(31+e))` for integer `c`,
//!   so both roundings fold into one: `r = (a·m + 2^30 + 2^(30+e) - [y < 0]·2^31) >> (31+e)`,
//!   that is the high word of the 64-bit sum shifted right by `e - 1`.
//!
//! `[y < 0]` may be replaced by `[a < 0]` when `m >= 0`: they differ only when
//! `-2^30 <= a·m < 0` (or `m = 0`), where `y = 0` and both forms give 0. So with the rounding
//! constant and the sign term in the accumulator's initial value, the whole requantization is
//! one signed multiply-accumulate long (`SMLAL` on Arm) and a shift. Negative multipliers
//! (which TFLite never produces: scales are positive) take the reference function. The unit
//! tests check all of this against the reference.

use crate::format::Multiplier;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;

/// One output channel's requantization, prepared for [`ChannelQuant::apply`]: four words,
/// whose layout is fixed (`repr(C)`) because assembly kernels read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct ChannelQuant {
    /// The Q31 multiplier.
    pub multiplier: i32,
    /// Low word of the rounding constant `2^30 + 2^(30+e)` (or `2^30` when `e = 0`).
    pub round_lo: u32,
    /// High word of the rounding constant.
    pub round_hi: i32,
    /// Bits 0..8: `e - 1` as an i8 (`-1` when `e = 0`), so that an Arm shift by this register
    /// (which reads its low byte) shifts by `e - 1`; bits 8..16: the left shift; bit 16: the
    /// reference function must be used (a negative multiplier).
    pub shift: i32,
}

impl ChannelQuant {
    /// Prepares `m` (a multiplier with a shift in `-31..=30`, as validation guarantees; other
    /// shifts are clamped as the reference clamps them).
    #[inline(always)]
    pub fn new(m: Multiplier) -> ChannelQuant {
        let shift = i32::from(m.shift);
        let left = if shift > 0 { shift.min(31) as u32 } else { 0 };
        let right = if shift > 0 {
            0
        } else {
            shift.unsigned_abs().min(31)
        };
        // round = 2^30 + 2^(30+right) (right >= 1), in words: cheap on 32-bit targets.
        let (round_lo, round_hi) = match right {
            0 => (1u32 << 30, 0i32),
            1 => (3u32 << 30, 0),
            r => (1 << 30, 1i32 << (r - 2)),
        };
        let right_minus_one = (right as i32 - 1) as u8 as i32;
        ChannelQuant {
            multiplier: m.multiplier,
            round_lo,
            round_hi,
            shift: right_minus_one | (left << 8) as i32 | i32::from(m.multiplier < 0) << 16,
        }
    }

    /// `e - 1` for a right shift `e >= 1`; `-1` when `e = 0`.
    #[inline(always)]
    pub fn right_minus_one(&self) -> i32 {
        i32::from(self.shift as i8)
    }

    /// The left shift (the positive part of the shift).
    #[inline(always)]
    pub fn left(&self) -> u32 {
        (self.shift >> 8) as u32 & 0xff
    }

    /// Whether the reference function must be used (a negative multiplier).
    #[inline(always)]
    pub fn slow(&self) -> bool {
        self.shift & 1 << 16 != 0
    }

    /// The rounding constant.
    #[inline(always)]
    pub fn round(&self) -> i64 {
        (i64::from(self.round_hi) << 32) | i64::from(self.round_lo)
    }

    /// `multiply_by_quantized_multiplier(acc, multiplier, shift)`, bit for bit.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i32 {
        if self.slow() {
            return self.reference(acc);
        }
        let a = acc.wrapping_shl(self.left());
        let product = i64::from(a) * i64::from(self.multiplier);
        if self.right_minus_one() < 0 {
            return ((product + self.round()) >> 31) as i32;
        }
        // [y < 0] as [a < 0]: the multiplier is not negative here.
        let sum = product + self.round() + (i64::from(a >> 31) << 31);
        ((sum >> 32) as i32) >> self.right_minus_one()
    }

    /// Whether [`ChannelQuant::apply_fast`] applies: a non-negative multiplier and no left
    /// shift (TFLite's multipliers below one).
    #[inline(always)]
    pub fn is_fast(&self) -> bool {
        self.shift >> 8 == 0
    }

    /// [`ChannelQuant::apply`] for a channel that [`ChannelQuant::is_fast`]: one multiply-add
    /// into a 64-bit sum whose initial value holds the rounding and the sign term, then a
    /// shift of its high word (for a right shift of at least 1; without one, the rounded
    /// high multiply alone).
    #[inline(always)]
    pub fn apply_fast(&self, acc: i32) -> i32 {
        crate::kernels::arch::apply_fast(self, acc)
    }

    /// [`ChannelQuant::apply_fast`] in plain Rust (the architectures' default).
    #[inline(always)]
    pub fn apply_fast_portable(&self, acc: i32) -> i32 {
        let product = i64::from(acc) * i64::from(self.multiplier);
        if self.right_minus_one() < 0 {
            return ((product + self.round()) >> 31) as i32;
        }
        // The sign term: 2^31 less for a negative accumulator.
        let round = self.round() - (i64::from(acc >> 31) & (1 << 31));
        (((product + round) >> 32) as i32) >> (self.right_minus_one() & 31)
    }

    #[cold]
    fn reference(&self, acc: i32) -> i32 {
        let shift = if self.right_minus_one() < 0 {
            self.left() as i32
        } else {
            -(self.right_minus_one() + 1)
        };
        multiply_by_quantized_multiplier(acc, self.multiplier, shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(acc: i32, multiplier: i32, shift: i8) {
        let q = ChannelQuant::new(Multiplier { multiplier, shift });
        assert_eq!(
            q.apply(acc),
            multiply_by_quantized_multiplier(acc, multiplier, i32::from(shift)),
            "acc {acc} multiplier {multiplier} shift {shift}"
        );
    }

    #[test]
    fn named_edge_cases() {
        let accs = [
            0,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            (1 << 30) - 1,
            12345,
            -12345,
        ];
        let mults = [
            0,
            1,
            -1,
            1 << 30,
            (1 << 30) + 1,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            1_552_512_742,
        ];
        for &acc in &accs {
            for &m in &mults {
                for shift in -31..=30 {
                    check(acc, m, shift);
                }
            }
        }
    }

    /// Ties at every rounding step: products of exactly `k·2^30` and remainders of exactly
    /// half the divisor.
    #[test]
    fn rounding_ties() {
        for shift in -31i8..=0 {
            for acc in -40..=40 {
                check(acc, 1 << 30, shift);
                check(acc << 8, 1 << 30, shift);
                check(acc, (1 << 30) + 1, shift);
                check(acc, (1 << 30) - 1, shift);
            }
        }
    }

    proptest! {
        #[test]
        fn matches_the_reference(acc: i32, multiplier: i32, shift in -31i8..=30) {
            check(acc, multiplier, shift);
        }

        #[test]
        fn fast_form_matches_where_it_applies(acc: i32, multiplier in 0..=i32::MAX, shift in -31i8..=0) {
            let q = ChannelQuant::new(Multiplier { multiplier, shift });
            prop_assert!(q.is_fast());
            prop_assert_eq!(
                q.apply_fast(acc),
                multiply_by_quantized_multiplier(acc, multiplier, i32::from(shift))
            );
        }

        #[test]
        fn matches_the_reference_on_realistic_values(
            acc in -(1i32 << 22)..(1 << 22),
            multiplier in (1i32 << 30)..i32::MAX,
            shift in -20i8..=2,
        ) {
            check(acc, multiplier, shift);
        }
    }
}
