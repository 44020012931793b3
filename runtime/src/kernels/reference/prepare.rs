//! Test-only: the prepare-time parameter computations of TFLM's kernels, in host float
//! arithmetic, so kernel tests start from the same parameters a converted model carries.
//! The importer must compute exactly these (see each function).

extern crate std;

/// C's `frexp` for finite values: `x = m * 2^e` with `|m|` in `[0.5, 1)` (0 gives `(0, 0)`).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (mut m, mut e) = (x, 0);
    while m.abs() >= 1.0 {
        m /= 2.0;
        e += 1;
    }
    while m.abs() < 0.5 {
        m *= 2.0;
        e -= 1;
    }
    (m, e)
}

/// TFLite's `QuantizeMultiplier`: `(multiplier, shift)` with `real ≈ multiplier * 2^(shift-31)`.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * 2f64.powi(31)).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`.
pub fn downscale_to_i16(m: i32) -> i16 {
    if m >= i32::MAX - (1 << 15) {
        i16::MAX
    } else {
        ((m + (1 << 15)) >> 16) as i16
    }
}

/// LOGISTIC / TANH int8 (`kInputIntegerBits = 4`): `(input_range_radius, input_multiplier,
/// input_left_shift)`.
pub fn sigmoidal(input_scale: f32) -> (i32, i32, i32) {
    const INPUT_INTEGER_BITS: i32 = 4;
    let real = f64::from(input_scale) * f64::from(1u32 << (31 - INPUT_INTEGER_BITS));
    let (q, shift) = frexp(real);
    let multiplier = (q * 2f64.powi(31)).round() as i32;
    // CalculateInputRadius(4, shift, 31)
    let max_input_rescaled = f64::from((1 << INPUT_INTEGER_BITS) - 1)
        * 2f64.powi(31 - INPUT_INTEGER_BITS)
        / 2f64.powi(shift);
    (max_input_rescaled.floor() as i32, multiplier, shift)
}

/// LEAKY_RELU int8: `(identity, alpha)` as `(multiplier, shift)` pairs. Current TFLM forms
/// both ratios in double (older releases divided in f32 first; the results differ in the last
/// bit for some scales, which can move an output by one).
pub fn leaky_relu(input_scale: f32, output_scale: f32, alpha: f32) -> ((i32, i32), (i32, i32)) {
    let (s_in, s_out) = (f64::from(input_scale), f64::from(output_scale));
    (
        quantize_multiplier(s_in / s_out),
        quantize_multiplier(s_in * f64::from(alpha) / s_out),
    )
}

/// HARD_SWISH int8: `(reluish_multiplier, reluish_exponent, output_multiplier,
/// output_exponent)`, the ratios in double as current TFLM forms them.
pub fn hard_swish(input_scale: f32, output_scale: f32) -> (i16, i32, i16, i32) {
    let hires_input_scale = f64::from(input_scale) / 128.0;
    let reluish_scale = 3.0 / 32768.0;
    let (om, oe) = quantize_multiplier(hires_input_scale / f64::from(output_scale));
    let (rm, re) = quantize_multiplier(hires_input_scale / reluish_scale);
    (downscale_to_i16(rm), re, downscale_to_i16(om), oe)
}

/// MEAN int8: `QuantizeMultiplier(input_scale / output_scale)` (in double).
pub fn mean(input_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(f64::from(input_scale) / f64::from(output_scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-0.75), (-0.75, 0));
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(downscale_to_i16(1 << 30), 1 << 14);
        assert_eq!(downscale_to_i16(i32::MAX), i16::MAX);
        // Input scale 1/16: 2^-4 * 2^27 = 2^23 = 0.5 * 2^24; radius 15 * 2^27 / 2^24 = 120.
        assert_eq!(sigmoidal(1.0 / 16.0), (120, 1 << 30, 24));
    }
}
