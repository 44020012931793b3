//! AVERAGE_POOL_2D and MAX_POOL_2D: each output pixel reduces its in-bounds window a block of
//! channels at a time, contiguous input rows in the inner loop.

use crate::format::Clamp;
use crate::kernels::reference::{self, Geometry};

/// Channels reduced at once.
const CHUNK: usize = 64;

/// AVERAGE_POOL_2D with the reference kernel's signature and results.
pub fn average_pool_2d(geometry: &Geometry, input: &[i8], clamp: Clamp, output: &mut [i8]) {
    if !fits(geometry, input, output) {
        reference::average_pool_2d(geometry, input, clamp, output);
        return;
    }
    pool(
        geometry,
        input,
        output,
        |acc: &mut [i32], row: &[i8]| {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(i32::from(v));
            }
        },
        0,
        |sum, count| {
            let half = count / 2;
            let rounded = if sum > 0 {
                sum.wrapping_add(half)
            } else {
                sum.wrapping_sub(half)
            };
            let avg = rounded.checked_div(count).unwrap_or(0);
            avg.max(i32::from(clamp.min)).min(i32::from(clamp.max)) as i8
        },
    );
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
