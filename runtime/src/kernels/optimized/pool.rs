//! AVERAGE_POOL_2D and MAX_POOL_2D: each output pixel reduces its in-bounds window a block of
//! channels at a time, contiguous input rows in the inner loop.

use crate::format::Clamp;
use crate::kernels::reference::{self, Geometry};

/// Channels reduced at once.
const CHUNK: usize = 64;

/// AVERAGE_POOL_2D with the reference kernel's signature and results: four channels at a
/// time summed in one word per two ([`sum_quad`]), the other channels one at a time.
pub fn average_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    if !fits(geometry, input, output) {
        reference::average_pool_2d(geometry, input, clamp, output);
        return;
    }
    let mut g = *geometry;
    g.window.dilation_h = 1;
    g.window.dilation_w = 1;
    let c = g.in_c;
    let image = g.in_h * g.in_w * c;
    let out_image = g.out_h * g.out_w * c;
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * c).enumerate() {
            let rows = g.rows(oy);
            for (ox, y_px) in y_row.chunks_exact_mut(c).enumerate() {
                let cols = g.cols(ox);
                let count = i32::try_from(rows.len() * cols.len()).unwrap_or(i32::MAX);
                let first_row = rows.iter().next().map_or(0, |(_, iy)| iy);
                let first_col = cols.iter().next().map_or(0, |(_, ix)| ix);
                let corner = (first_row * g.in_w + first_col) * c;
                let window = Window {
                    rows: rows.len(),
                    row_step: g.in_w * c,
                    cols: cols.len(),
                    col_step: c,
                };
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
                let (quads, rest) = y_px.as_chunks_mut::<4>();
                for (q, out) in quads.iter_mut().enumerate() {
                    *out = sum_quad(x, corner + 4 * q, &window).map(finish);
                }
                let c0 = c - rest.len();
                for (i, out) in rest.iter_mut().enumerate() {
                    let mut sum = 0i32;
                    for (_, iy) in rows.iter() {
                        for (_, ix) in cols.iter() {
                            let v = x.get((iy * g.in_w + ix) * c + c0 + i).copied().unwrap_or(0);
                            sum = sum.wrapping_add(i32::from(v));
                        }
                    }
                    *out = finish(sum);
                }
            }
        }
    }
}

/// A pooling window's positions: `rows` of `cols`, `row_step` and `col_step` bytes apart.
struct Window {
    rows: usize,
    row_step: usize,
    cols: usize,
    col_step: usize,
}

/// The sums of four consecutive channels over `window` from `x[corner..]`: each word of four
/// values offset to unsigned bytes, channels 0 and 2 added into the 16-bit halves of one word
/// and channels 1 and 3 into another's, which are emptied into the sums every 256 positions
/// (before a half could overflow). Rows that follow each other in memory (a window as wide
/// as the image) are one run.
#[inline(always)]
fn sum_quad(x: &[i8], corner: usize, window: &Window) -> [i32; 4] {
    const LANES: u32 = 0x00ff_00ff;
    let Window {
        rows,
        row_step,
        cols,
        col_step,
    } = *window;
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

/// MAX_POOL_2D with the reference kernel's signature and results.
pub fn max_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    if !fits(geometry, input, output) {
        reference::max_pool_2d(geometry, input, clamp, output);
        return;
    }
    pool(
        geometry,
        input,
        output,
        |acc: &mut [i32], row: &[i8]| {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = (*a).max(i32::from(v));
            }
        },
        i32::from(i8::MIN),
        |max, _| max.max(i32::from(clamp.min)).min(i32::from(clamp.max)) as i8,
    );
}

fn fits(g: &Geometry, input: &[i8], output: &[i8]) -> bool {
    !super::REFERENCE_ONLY && g.fits(input.len(), output.len()) && g.in_c == g.out_c
}

/// Runs `add` over every in-bounds window row segment of each output pixel (starting from
/// `init`), then `finish(acc, count)`.
#[inline(always)]
fn pool(
    geometry: &Geometry,
    input: &[i8],
    output: &mut [i8],
    add: impl Fn(&mut [i32], &[i8]),
    init: i32,
    finish: impl Fn(i32, i32) -> i8,
) {
    let mut g = *geometry;
    g.window.dilation_h = 1;
    g.window.dilation_w = 1;
    let c = g.in_c;
    let image = g.in_h * g.in_w * c;
    let out_image = g.out_h * g.out_w * c;
    let mut acc = [0i32; CHUNK];
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        for (oy, y_row) in y.chunks_exact_mut(g.out_w * c).enumerate() {
            let rows = g.rows(oy);
            for (ox, y_px) in y_row.chunks_exact_mut(c).enumerate() {
                let cols = g.cols(ox);
                let count = i32::try_from(rows.len() * cols.len()).unwrap_or(i32::MAX);
                for (c0, out) in (0..).step_by(CHUNK).zip(y_px.chunks_mut(CHUNK)) {
                    let acc = acc.get_mut(..out.len()).unwrap_or(&mut []);
                    acc.fill(init);
                    for (_, iy) in rows.iter() {
                        for (_, ix) in cols.iter() {
                            let at = (iy * g.in_w + ix) * c + c0;
                            if let Some(row) = x.get(at..at + out.len()) {
                                add(acc, row);
                            }
                        }
                    }
                    for (o, &a) in out.iter_mut().zip(acc.iter()) {
                        *o = finish(a, count);
                    }
                }
            }
        }
    }
}
