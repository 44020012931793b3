//! The audio front end: 16 kHz int16 PCM to int8 log-mel features, the input of a keyword
//! spotter. Frames of 30 ms every 20 ms, a Hann window, a 512-point FFT, the power spectrum, 40
//! triangular mel filters from 125 Hz to 7.5 kHz, log2, int8.
//!
//! Integers only, so host and device compute the same bytes on any core, FPU or not. The
//! tables (window, twiddles, filters, log2) are computed by `const fn`s from basic `f64`
//! operations, which are exactly rounded everywhere, so every build has the same tables; the
//! tests hold them to `std`'s functions.
//!
//! A feature is `round(5·log2(E + 1)) - 128`, clamped to int8, where `E` is a mel channel's
//! energy: its filter's weighted sum of `|X_k|^2 / 2^16`, `X` the FFT of the windowed samples
//! times 64. An int8 step is 0.2 in log2 (0.6 dB); silence is -128, a full-scale signal
//! below 92. The features of a model's input tensor have scale [`FEATURE_SCALE`] and zero
//! point [`FEATURE_ZERO_POINT`].

/// Samples per second of the PCM input.
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples per frame (30 ms).
pub const WINDOW: usize = 480;
/// Samples between frame starts (20 ms).
pub const STRIDE: usize = 320;
/// FFT points.
pub const FFT: usize = 512;
/// Mel channels: features per frame.
pub const CHANNELS: usize = 40;
/// The filters' span, in Hz.
pub const LOWER_HZ: f64 = 125.0;
/// See [`LOWER_HZ`].
pub const UPPER_HZ: f64 = 7_500.0;
/// Scale of the int8 features: log2 units per step.
pub const FEATURE_SCALE: f32 = 0.2;
/// Zero point of the int8 features: log2(E + 1) = 0.
pub const FEATURE_ZERO_POINT: i32 = -128;
/// `i32` values of scratch the front end takes (the FFT's real and imaginary parts).
pub const SCRATCH_I32: usize = 2 * FFT;

/// Bins of the power spectrum (DC to Nyquist).
const BINS: usize = FFT / 2 + 1;
/// Windowed samples are shifted up this far before the FFT: with 480 samples of at most
/// 2^15, no value of any stage exceeds 480·2^21 < 2^30.
const HEADROOM: u32 = 6;
/// log2(E + 1) is computed with this many fraction bits.
const LOG_FRACTION: u32 = 16;
/// Steps of an int8 feature per log2 unit (1 / [`FEATURE_SCALE`]).
const STEPS_PER_LOG2: i64 = 5;

/// Frames in `samples` samples: every whole window, one each [`STRIDE`].
pub const fn frames(samples: usize) -> usize {
    if samples < WINDOW {
        0
    } else {
        1 + (samples - WINDOW) / STRIDE
    }
}

/// Features of `pcm` (little-endian int16 samples, as the arena holds them) into `out`
/// (`frames(pcm.len())` rows of [`CHANNELS`]), with `fft` as working memory ([`SCRATCH_I32`]
/// values). Lengths are the caller's to check: rows that do not fit `out` are not computed.
pub fn log_mel(pcm: &[[u8; 2]], out: &mut [i8], fft: &mut [i32]) {
    let Some((re, rest)) = fft.split_at_mut_checked(FFT) else {
        return;
    };
    let Some(im) = rest.get_mut(..FFT) else {
        return;
    };
    for (frame, row) in out
        .chunks_exact_mut(CHANNELS)
        .enumerate()
        .take(frames(pcm.len()))
    {
        let start = frame * STRIDE;
        let Some(samples) = pcm.get(start..start + WINDOW) else {
            return;
        };
        window(samples, re, im);
        transform(re, im);
        filter(re, im, row);
    }
}

/// The windowed frame, shifted up by [`HEADROOM`], zero-padded to [`FFT`] points.
fn window(samples: &[[u8; 2]], re: &mut [i32], im: &mut [i32]) {
    for (n, (r, i)) in re.iter_mut().zip(im.iter_mut()).enumerate() {
        let x = match (samples.get(n), HANN.get(n)) {
            (Some(&s), Some(&w)) => {
                (i32::from(i16::from_le_bytes(s)) * i32::from(w) + (1 << 14)) >> 15
            }
            _ => 0,
        };
        *r = x << HEADROOM;
        *i = 0;
    }
}

/// In-place radix-2 decimation-in-time FFT of [`FFT`] points, twiddles in Q15, products
/// rounded to nearest.
fn transform(re: &mut [i32], im: &mut [i32]) {
    if re.len() != FFT || im.len() != FFT {
        return;
    }
    let bits = FFT.trailing_zeros();
    for i in 0..FFT {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut half = 1;
    while half < FFT {
        let step = FFT / (2 * half);
        for (re, im) in re
            .chunks_exact_mut(2 * half)
            .zip(im.chunks_exact_mut(2 * half))
        {
            let ((re_a, re_b), (im_a, im_b)) = (re.split_at_mut(half), im.split_at_mut(half));
            let twiddles = COS.iter().step_by(step).zip(SIN.iter().step_by(step));
            let pairs = re_a.iter_mut().zip(im_a).zip(re_b.iter_mut().zip(im_b));
            for (((ar, ai), (br, bi)), (&cos, &sin)) in pairs.zip(twiddles) {
                // b·e^(-iθ): (br·cos + bi·sin, bi·cos - br·sin).
                let (cos, sin) = (i32::from(cos), i32::from(sin));
                let tr = rotate(*br, *bi, cos, sin);
                let ti = rotate(*bi, *br, cos, -sin);
                (*br, *bi) = (ar.wrapping_sub(tr), ai.wrapping_sub(ti));
                (*ar, *ai) = (ar.wrapping_add(tr), ai.wrapping_add(ti));
            }
        }
        half *= 2;
    }
}

/// `(x·c + y·s + 2^14) >> 15` for |x|, |y| < 2^30 and Q15 `c`, `s`, exactly, in 32-bit
/// arithmetic (a 64-bit product is a library call on Armv6-M): each operand split into its
/// high part and its low 15 bits, the high products exact multiples of 2^15.
fn rotate(x: i32, y: i32, c: i32, s: i32) -> i32 {
    let high = (x >> 15)
        .wrapping_mul(c)
        .wrapping_add((y >> 15).wrapping_mul(s));
    // At most 2·32767² + 2^14 < 2^31.
    let low = ((x & 0x7FFF) * c + (y & 0x7FFF) * s + (1 << 14)) >> 15;
    high.wrapping_add(low)
}

/// The mel channels' energies of one transformed frame, as int8 features.
fn filter(re: &[i32], im: &[i32], row: &mut [i8]) {
    let mut energy = [0u64; CHANNELS];
    let bins = re.iter().zip(im).zip(BAND.iter().zip(&WEIGHT));
    for ((&r, &i), (&band, &rising)) in bins {
        let band = usize::from(band);
        let (r, i) = (i64::from(r), i64::from(i));
        // At most 2^60 (|X| < 2^30); in units of 2^16 for the weighted sums.
        let power = ((r * r + i * i) as u64) >> 16;
        let rising = u64::from(rising);
        if let Some(e) = energy.get_mut(band) {
            *e = e.saturating_add(power * rising);
        }
        if let Some(e) = band.checked_sub(1).and_then(|b| energy.get_mut(b)) {
            *e = e.saturating_add(power * ((1 << 15) - rising));
        }
    }
    for (feature, &e) in row.iter_mut().zip(&energy) {
        let log = i64::from(log2_q16((e >> 15).saturating_add(1)));
        let steps = (log * STEPS_PER_LOG2 + (1 << (LOG_FRACTION - 1))) >> LOG_FRACTION;
        *feature = (steps + i64::from(FEATURE_ZERO_POINT)).clamp(-128, 127) as i8;
    }
}

/// log2(x) for x >= 1, with [`LOG_FRACTION`] fraction bits: the leading one's position, then
/// the next bits' log2(1 + f) interpolated in [`LOG2_TABLE`].
fn log2_q16(x: u64) -> u32 {
    let x = x.max(1);
    let whole = 63 - x.leading_zeros();
    // The 32 bits after the leading one: the fraction f of x = 2^whole·(1 + f).
    let f = ((x << (63 - whole)) << 1 >> 32) as u32;
    let index = (f >> (32 - LOG2_BITS)) as usize;
    let within = u64::from(f & ((1 << (32 - LOG2_BITS)) - 1));
    let (lo, hi) = match (LOG2_TABLE.get(index), LOG2_TABLE.get(index + 1)) {
        (Some(&lo), Some(&hi)) => (u64::from(lo), u64::from(hi)),
        _ => (0, 0), // unreachable: the index has LOG2_BITS bits
    };
    let interpolated = lo + (((hi - lo) * within) >> (32 - LOG2_BITS));
    (whole << LOG_FRACTION) + interpolated as u32
}

/// Intervals of the log2 table.
const LOG2_BITS: u32 = 6;

// The tables, computed when the runtime is compiled: an index out of bounds there is a build
// error, not a panic, hence the indexing.

/// Periodic Hann window, Q15.
#[allow(clippy::indexing_slicing)]
static HANN: [i16; WINDOW] = {
    let mut w = [0i16; WINDOW];
    let mut n = 0;
    while n < WINDOW {
        let x = 0.5 - 0.5 * cos(2.0 * PI * n as f64 / WINDOW as f64);
        w[n] = round(x * 32767.0) as i16;
        n += 1;
    }
    w
};

/// cos(2πk/FFT), Q15, for k below FFT/2.
static COS: [i16; FFT / 2] = twiddles(0.0);
/// sin(2πk/FFT), Q15, for k below FFT/2.
static SIN: [i16; FFT / 2] = twiddles(PI / 2.0);

/// Each bin's band: the filter whose rising edge it is on (and the falling edge of the one
/// below); `u8::MAX` outside the filters' span.
static BAND: [u8; BINS] = filterbank().0;
/// Each bin's weight in its band's rising filter, Q15 (the falling one gets the rest).
static WEIGHT: [u16; BINS] = filterbank().1;

/// log2(1 + i/64) for i = 0..=64, with [`LOG_FRACTION`] fraction bits.
#[allow(clippy::indexing_slicing)]
static LOG2_TABLE: [u32; (1 << LOG2_BITS) + 1] = {
    let mut t = [0u32; (1 << LOG2_BITS) + 1];
    let mut i = 0;
    while i < t.len() {
        let x = 1.0 + i as f64 / (1 << LOG2_BITS) as f64;
        t[i] = round(ln(x) / LN_2 * (1u32 << LOG_FRACTION) as f64) as u32;
        i += 1;
    }
    t
};

#[allow(clippy::indexing_slicing)]
const fn twiddles(phase: f64) -> [i16; FFT / 2] {
    let mut t = [0i16; FFT / 2];
    let mut k = 0;
    while k < FFT / 2 {
        let x = cos(2.0 * PI * k as f64 / FFT as f64 - phase);
        t[k] = round(x * 32767.0) as i16;
        k += 1;
    }
    t
}

#[allow(clippy::indexing_slicing)]
const fn filterbank() -> ([u8; BINS], [u16; BINS]) {
    let (mut band, mut weight) = ([u8::MAX; BINS], [0u16; BINS]);
    let (lo, hi) = (mel(LOWER_HZ), mel(UPPER_HZ));
    let spacing = (hi - lo) / (CHANNELS + 1) as f64;
    let mut bin = 0;
    while bin < BINS {
        let m = mel(bin as f64 * SAMPLE_RATE as f64 / FFT as f64);
        if m >= lo && m < hi {
            let position = (m - lo) / spacing;
            let edge = position as usize; // floor: position >= 0
            band[bin] = edge as u8;
            weight[bin] = round((position - edge as f64) * 32768.0) as u16;
        }
        bin += 1;
    }
    (band, weight)
}

const PI: f64 = core::f64::consts::PI;
const LN_2: f64 = core::f64::consts::LN_2;

/// The mel scale (HTK's).
const fn mel(hz: f64) -> f64 {
    1127.0 * ln(1.0 + hz / 700.0)
}

/// Nearest integer, halves away from zero.
const fn round(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        -((-x + 0.5) as i64)
    }
}

/// cos(x) for |x| <= 2π: the Taylor series about 0 after reduction to [-π, π].
const fn cos(x: f64) -> f64 {
    let x = if x > PI {
        x - 2.0 * PI
    } else if x < -PI {
        x + 2.0 * PI
    } else {
        x
    };
    let (mut term, mut sum, mut n) = (1.0, 1.0, 0);
    while n < 40 {
        term = -term * x * x / (((2 * n + 1) * (2 * n + 2)) as f64);
        sum += term;
        n += 1;
    }
    sum
}

/// ln(x) for x > 0: x = m·2^e with m in [1, 2), ln(m) = 2·atanh((m - 1)/(m + 1)).
const fn ln(x: f64) -> f64 {
    let (mut m, mut e) = (x, 0);
    while m >= 2.0 {
        m /= 2.0;
        e += 1;
    }
    while m < 1.0 {
        m *= 2.0;
        e -= 1;
    }
    let y = (m - 1.0) / (m + 1.0);
    let (mut power, mut sum, mut k) = (y, 0.0, 0);
    while k < 40 {
        sum += power / (2 * k + 1) as f64;
        power *= y * y;
        k += 1;
    }
    e as f64 * LN_2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn tables_equal_std_functions() {
        for (n, &w) in HANN.iter().enumerate() {
            let x = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / WINDOW as f64).cos();
            assert!(
                (f64::from(w) - x * 32767.0).abs() <= 0.5 + 1e-9,
                "window {n}"
            );
        }
        for k in 0..FFT / 2 {
            let angle = 2.0 * std::f64::consts::PI * k as f64 / FFT as f64;
            assert!((f64::from(COS[k]) - angle.cos() * 32767.0).abs() <= 0.5 + 1e-9);
            assert!((f64::from(SIN[k]) - angle.sin() * 32767.0).abs() <= 0.5 + 1e-9);
        }
        for (i, &l) in LOG2_TABLE.iter().enumerate() {
            let x = (1.0 + i as f64 / 64.0).log2() * 65536.0;
            assert!((f64::from(l) - x).abs() <= 0.5 + 1e-9, "log2 {i}");
        }
        for x in [1u64, 2, 3, 1000, 12_345_678, 1 << 40, u64::MAX / 3] {
            let exact = (x as f64).log2() * 65536.0;
            let got = f64::from(log2_q16(x));
            assert!((got - exact).abs() < 2.0, "log2({x}): {got} vs {exact}");
        }
    }

    #[test]
    fn the_32_bit_rotation_equals_the_64_bit_one() {
        let mut seed = 0x9E37_79B9u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let edges = [-(1 << 30) + 1, -(1 << 15), -1, 0, 1, 32_767, (1 << 30) - 1];
        for k in 0..FFT / 2 {
            for _ in 0..64 {
                let (c, s) = (i32::from(COS[k]), -i32::from(SIN[k]));
                let x = (next() as i32) >> 2;
                let y = edges[next() as usize % edges.len()];
                for (x, y) in [(x, y), (y, x)] {
                    let wide =
                        (i64::from(x) * i64::from(c) + i64::from(y) * i64::from(s) + (1 << 14))
                            >> 15;
                    assert_eq!(i64::from(rotate(x, y, c, s)), wide, "{x} {y} {c} {s}");
                }
            }
        }
    }

    #[test]
    fn the_filters_cover_the_span_in_order() {
        let hz = |bin: usize| bin as f64 * f64::from(SAMPLE_RATE) / FFT as f64;
        let used: Vec<usize> = (0..BINS).filter(|&b| BAND[b] != u8::MAX).collect();
        assert!(hz(used[0]) >= LOWER_HZ && hz(used[0] - 1) < LOWER_HZ);
        assert!(hz(*used.last().unwrap()) < UPPER_HZ);
        // Bands never go down, and every channel gets a rising and a falling edge.
        assert!(used.windows(2).all(|w| BAND[w[0]] <= BAND[w[1]]));
        assert_eq!(usize::from(BAND[*used.last().unwrap()]), CHANNELS);
        for c in 0..CHANNELS {
            assert!(
                used.iter().any(|&b| usize::from(BAND[b]) == c),
                "channel {c}"
            );
        }
    }

    fn features(pcm: &[i16]) -> Vec<i8> {
        let bytes: Vec<[u8; 2]> = pcm.iter().map(|s| s.to_le_bytes()).collect();
        let mut out = vec![0i8; frames(pcm.len()) * CHANNELS];
        let mut fft = vec![0i32; SCRATCH_I32];
        log_mel(&bytes, &mut out, &mut fft);
        out
    }

    fn tone(hz: f64, amplitude: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|n| {
                let t = n as f64 / f64::from(SAMPLE_RATE);
                (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16
            })
            .collect()
    }

    /// The features of a float log-mel front end (f64 FFT, the same window and filters).
    fn float_features(pcm: &[i16]) -> Vec<f64> {
        let mut out = Vec::new();
        for f in 0..frames(pcm.len()) {
            let frame = &pcm[f * STRIDE..f * STRIDE + WINDOW];
            let mut power = vec![0.0; BINS];
            for (k, p) in power.iter_mut().enumerate() {
                let (mut re, mut im) = (0.0, 0.0);
                for (n, &s) in frame.iter().enumerate() {
                    let w =
                        0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / WINDOW as f64).cos();
                    let x = f64::from(s) * w * 64.0;
                    let a = -2.0 * std::f64::consts::PI * (k * n) as f64 / FFT as f64;
                    re += x * a.cos();
                    im += x * a.sin();
                }
                *p = re * re + im * im;
            }
            let mut energy = [0.0f64; CHANNELS];
            for b in 0..BINS {
                let band = usize::from(BAND[b]);
                if band > CHANNELS {
                    continue;
                }
                let rising = f64::from(WEIGHT[b]) / 32768.0;
                if band < CHANNELS {
                    energy[band] += power[b] * rising;
                }
                if band > 0 {
                    energy[band - 1] += power[b] * (1.0 - rising);
                }
            }
            out.extend(
                energy
                    .iter()
                    .map(|e| (5.0 * (e / 65536.0 + 1.0).log2() - 128.0).clamp(-128.0, 127.0)),
            );
        }
        out
    }

    #[test]
    fn silence_is_the_lowest_feature_and_frames_are_counted() {
        assert_eq!(frames(WINDOW - 1), 0);
        assert_eq!(frames(16_000), 49);
        assert!(features(&vec![0; 16_000]).iter().all(|&f| f == -128));
    }

    #[test]
    fn a_tone_lights_its_channel() {
        // 1 kHz: its peak channel is the one whose filter peaks nearest 1 kHz.
        let out = features(&tone(1_000.0, 8_000.0, 16_000));
        let spacing = (mel(UPPER_HZ) - mel(LOWER_HZ)) / (CHANNELS + 1) as f64;
        let expected = ((mel(1_000.0) - mel(LOWER_HZ)) / spacing).round() as usize - 1;
        for row in out.chunks(CHANNELS) {
            let peak = (0..CHANNELS).max_by_key(|&c| row[c]).unwrap();
            assert!(
                peak.abs_diff(expected) <= 1,
                "peak {peak}, expected {expected}"
            );
            assert!(row[peak] > row[0] + 40 && row[peak] > row[CHANNELS - 1] + 40);
        }
    }

    #[test]
    fn features_equal_a_float_front_end_within_a_step() {
        // A chirp with noise: every channel sees energy.
        let mut seed = 7u32;
        let pcm: Vec<i16> = (0..3_200)
            .map(|n| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let t = n as f64 / 16_000.0;
                let chirp =
                    6_000.0 * (2.0 * std::f64::consts::PI * (200.0 + 1_500.0 * t) * t * 4.0).sin();
                (chirp + f64::from((seed % 2001) as i32 - 1000)).round() as i16
            })
            .collect();
        let fixed = features(&pcm);
        let float = float_features(&pcm);
        let mut worst = 0.0f64;
        for (&q, &f) in fixed.iter().zip(&float) {
            worst = worst.max((f64::from(q) - f).abs());
        }
        std::eprintln!("largest difference from the float front end: {worst:.3} steps");
        assert!(worst <= 1.0, "largest difference {worst} steps");
    }

    #[test]
    fn full_scale_input_does_not_overflow() {
        let square: Vec<i16> = (0..16_000)
            .map(|n| if n % 16 < 8 { i16::MAX } else { i16::MIN })
            .collect();
        let out = features(&square);
        assert!(
            out.iter().all(|&f| f > -128 && f < 127),
            "{:?}",
            &out[..CHANNELS]
        );
        let extreme: Vec<i16> = (0..16_000)
            .map(|n| if n % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect();
        features(&extreme);
    }
}
