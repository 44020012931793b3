//! AVERAGE_POOL_2D and MAX_POOL_2D: each output pixel reduces its in-bounds window, the
//! average four channels at a time in words of 16-bit sums, the maximum a block of channels
//! at a time.

use core::ops::Range;

use crate::format::Clamp;
use crate::kernels::reference::Geometry;

/// Channels reduced at once by MAX_POOL_2D.
const CHUNK: usize = 64;

/// AVERAGE_POOL_2D with the reference kernel's signature and results: four channels at a
/// time summed in one word per two ([`sum_quad`]), the other channels one at a time. With
/// `reference-kernels` the reference kernel; elsewhere shapes that validation refuses leave
/// the output as it was.
pub fn average_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    if !fits(geometry, input, output) {
        #[cfg(feature = "reference-kernels")]
        crate::kernels::reference::average_pool_2d(geometry, input, clamp, output);
        return;
    }
    let (in_w, c) = (geometry.in_w, geometry.in_c);
    for_each_window(geometry, input, output, |x, w, y_px| {
        let count = i32::try_from(w.rows.len() * w.cols.len()).unwrap_or(i32::MAX);
        // Round half away from zero, then clamp: TFLM's average.
        let finish = |sum: i32| {
            let half = count / 2;
            let rounded = if sum > 0 {
                sum.wrapping_add(half)
            } else {
                sum.wrapping_sub(half)
            };
            let avg = rounded.checked_div(count).unwrap_or(0);
            avg.max(i32::from(clamp.min)).min(i32::from(clamp.max)) as i8
        };
        let corner = (w.rows.start * in_w + w.cols.start) * c;
        let span = Span {
            rows: w.rows.len(),
            row_step: in_w * c,
            cols: w.cols.len(),
            col_step: c,
        };
        let (quads, rest) = y_px.as_chunks_mut::<4>();
        for (q, out) in quads.iter_mut().enumerate() {
            *out = sum_quad(x, corner + 4 * q, &span).map(finish);
        }
        let c0 = c - rest.len();
        for (i, out) in rest.iter_mut().enumerate() {
            let mut sum = 0i32;
            for iy in w.rows.clone() {
                for ix in w.cols.clone() {
                    let v = x.get((iy * in_w + ix) * c + c0 + i).copied().unwrap_or(0);
                    sum = sum.wrapping_add(i32::from(v));
                }
            }
            *out = finish(sum);
        }
    });
}

/// Positions of the input: `rows` of `cols`, `row_step` and `col_step` bytes apart.
struct Span {
    rows: usize,
    row_step: usize,
    cols: usize,
    col_step: usize,
}

/// The sums of four consecutive channels over `span` from `x[corner..]`: each word of four
/// values offset to unsigned bytes, channels 0 and 2 added into the 16-bit halves of one word
/// and channels 1 and 3 into another's, which are emptied into the sums every 256 positions
/// (before a half could overflow). Rows that follow each other in memory (a window as wide
/// as the image) are one run. A function of its own: inlined into the window loop, it took
/// KWS's pooling 18.9 k -> 20.7 k instructions on Cortex-M4.
#[inline(never)]
fn sum_quad(x: &[i8], corner: usize, span: &Span) -> [i32; 4] {
    const LANES: u32 = 0x00ff_00ff;
    let Span {
        rows,
        row_step,
        cols,
        col_step,
    } = *span;
    let (runs, run, run_step) = if cols * col_step == row_step {
        (1, rows * cols, 0)
    } else {
        (rows, cols, row_step)
    };
    let mut sums = [0i32; 4];
    if runs == 0 || run == 0 || x.len() < corner + (runs - 1) * run_step + (run - 1) * col_step + 4
    {
        return sums;
    }
    let (mut even, mut odd) = (0u32, 0u32);
    let mut empty = |even: &mut u32, odd: &mut u32| {
        let halves = [*even & 0xffff, *odd & 0xffff, *even >> 16, *odd >> 16];
        for (s, h) in sums.iter_mut().zip(halves) {
            *s = s.wrapping_add(h as i32);
        }
        (*even, *odd) = (0, 0);
    };
    // Positions since the halves were last emptied.
    let mut pending = 0;
    for r in 0..runs {
        let mut at = x.as_ptr().wrapping_add(corner + r * run_step);
        let mut left = run;
        while left > 0 {
            let n = left.min(256 - pending);
            for _ in 0..n {
                // SAFETY: the window's positions, 4 bytes each, lie in `x` (checked above).
                let w = u32::from_le(unsafe { at.cast::<u32>().read_unaligned() }) ^ 0x8080_8080;
                even = even.wrapping_add(w & LANES);
                odd = odd.wrapping_add((w >> 8) & LANES);
                at = at.wrapping_add(col_step);
            }
            (left, pending) = (left - n, pending + n);
            if pending == 256 {
                empty(&mut even, &mut odd);
                pending = 0;
            }
        }
    }
    empty(&mut even, &mut odd);
    // Each value was offset by 128.
    let count = (runs * run) as i32;
    sums.map(|s| s.wrapping_sub(count.wrapping_mul(128)))
}

/// MAX_POOL_2D with the reference kernel's signature and results; shapes as for
/// [`average_pool_2d`].
pub fn max_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    if !fits(geometry, input, output) {
        #[cfg(feature = "reference-kernels")]
        crate::kernels::reference::max_pool_2d(geometry, input, clamp, output);
        return;
    }
    let (in_w, c) = (geometry.in_w, geometry.in_c);
    let mut acc = [0i32; CHUNK];
    for_each_window(geometry, input, output, |x, w, y_px| {
        for (c0, out) in (0..).step_by(CHUNK).zip(y_px.chunks_mut(CHUNK)) {
            let acc = acc.get_mut(..out.len()).unwrap_or(&mut []);
            acc.fill(i32::from(i8::MIN));
            for iy in w.rows.clone() {
                for ix in w.cols.clone() {
                    let at = (iy * in_w + ix) * c + c0;
                    for (a, &v) in acc.iter_mut().zip(x.get(at..at + out.len()).unwrap_or(&[])) {
                        *a = (*a).max(i32::from(v));
                    }
                }
            }
            for (o, &a) in out.iter_mut().zip(acc.iter()) {
                *o = a.max(i32::from(clamp.min)).min(i32::from(clamp.max)) as i8;
            }
        }
    });
}

fn fits(g: &Geometry, input: &[i8], output: &[i8]) -> bool {
    !super::REFERENCE_ONLY && g.fits(input.len(), output.len()) && g.in_c == g.out_c
}

/// The input positions one output pixel pools: rows `rows`, columns `cols` (pools take no
/// dilation: each a contiguous range).
struct Window {
    rows: Range<usize>,
    cols: Range<usize>,
}

/// Runs `pixel(image, window, outputs)` for each output pixel of each batch.
#[inline(always)]
fn for_each_window(
    geometry: &Geometry,
    input: &[i8],
    output: &mut [i8],
    mut pixel: impl FnMut(&[i8], &Window, &mut [i8]),
) {
    let mut g = *geometry;
    g.window.dilation_h = 1;
    g.window.dilation_w = 1;
    let c = g.in_c;
    let image = g.in_h * g.in_w * c;
    let out_image = g.out_h * g.out_w * c;
    let range = |first: Option<(usize, usize)>, len: usize| {
        let start = first.map_or(0, |(_, i)| i);
        start..start + len
    };
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * c).enumerate() {
            let rows = g.rows(oy);
            let rows = range(rows.iter().next(), rows.len());
            for (ox, y_px) in y_row.chunks_exact_mut(c).enumerate() {
                let cols = g.cols(ox);
                let cols = range(cols.iter().next(), cols.len());
                pixel(
                    x,
                    &Window {
                        rows: rows.clone(),
                        cols,
                    },
                    y_px,
                );
            }
        }
    }
}
