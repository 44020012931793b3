//! Prepare-time quantization math shared by `quantize` and `import`, computed exactly as
//! TFLite/TFLM's `QuantizeMultiplier` does (double precision, C `round`, the same edge cases).

use mote::format::Multiplier;

/// `frexp`: `x = mantissa * 2^exponent` with `|mantissa|` in [0.5, 1) (0 for 0, and the
/// value itself for infinities and NaN).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let mantissa = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (mantissa, biased - 1022)
}

/// TFLite's `QuantizeMultiplier`: `real ≈ multiplier * 2^(shift - 31)`, multiplier in
/// [2^30, 2^31). Multipliers too small to represent (shift < -31) flush to zero, as TFLite
/// does. Returns `None` for a negative, non-finite or too large (shift > 30) value.
pub fn quantize_multiplier(real: f64) -> Option<Multiplier> {
    if real == 0.0 {
        return Some(Multiplier {
            multiplier: 0,
            shift: 0,
        });
    }
    if !(real.is_finite() && real > 0.0) {
        return None;
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Some(Multiplier {
            multiplier: 0,
            shift: 0,
        });
    }
    if shift > 30 {
        return None;
    }
    Some(Multiplier {
        multiplier: i32::try_from(q_fixed).ok()?,
        shift: shift as i8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(3.0), (0.75, 2));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
    }

    #[test]
    fn multipliers_like_tflite() {
        assert_eq!(
            quantize_multiplier(0.5),
            Some(Multiplier {
                multiplier: 1 << 30,
                shift: 0
            })
        );
        assert_eq!(
            quantize_multiplier(1.0),
            Some(Multiplier {
                multiplier: 1 << 30,
                shift: 1
            })
        );
        assert_eq!(
            quantize_multiplier(0.25),
            Some(Multiplier {
                multiplier: 1 << 30,
                shift: -1
            })
        );
        // Rounds up to 2^31: halved, shift incremented.
        let just_below_one = 1.0 - 1e-12;
        assert_eq!(
            quantize_multiplier(just_below_one),
            Some(Multiplier {
                multiplier: 1 << 30,
                shift: 1
            })
        );
        assert_eq!(
            quantize_multiplier(1e-12),
            Some(Multiplier {
                multiplier: 0,
                shift: 0
            })
        );
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
    }
}
