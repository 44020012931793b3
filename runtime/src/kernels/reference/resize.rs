//! RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of NHWC int8 tensors, as TFLM computes them
//! (`reference_ops::ResizeNearestNeighbor`, `reference_ops::ResizeBilinearInteger`): raw values,
//! the quantization untouched.

/// The NHWC sizes of a resize: `[batches, height, width, channels]` in and out (the same
/// batches and channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    /// Input `[n, h, w, c]`.
    pub input: [usize; 4],
    /// Output `[n, h, w, c]`.
    pub output: [usize; 4],
}

impl Resize {
    /// Whether the slices have the sizes the shapes give, batches and channels agree and no
    /// dimension is 0 (the kernels do nothing otherwise, which validation rules out).
    fn fits(&self, input: usize, output: usize) -> bool {
        let [n, h, w, c] = self.input;
        let [on, oh, ow, oc] = self.output;
        let size = |d: [usize; 4]| d.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        n == on
            && c == oc
            && self.input.iter().chain(&self.output).all(|&d| d > 0)
            && size([n, h, w, c]) == Some(input)
            && size([on, oh, ow, oc]) == Some(output)
    }
}

/// RESIZE_NEAREST_NEIGHBOR: output pixel `(y, x)` is input pixel `(rows[y], cols[x])`, the
/// source indices little-endian u16, precomputed with TFLM's float32 arithmetic.
pub fn resize_nearest<T: Copy>(
    r: &Resize,
    input: &[T],
    rows: &[u8],
    cols: &[u8],
    output: &mut [T],
) {
    let [_, h, w, c] = r.input;
    let [_, oh, ow, _] = r.output;
    let (rows, cols) = (rows.as_chunks::<2>().0, cols.as_chunks::<2>().0);
    if !r.fits(input.len(), output.len()) || rows.len() != oh || cols.len() != ow {
        return;
    }
    let index = |&b: &[u8; 2]| usize::from(u16::from_le_bytes(b));
    let mut out = output.chunks_exact_mut(c);
    for image in input.chunks_exact(h * w * c) {
        for row in rows.iter().map(index) {
            for col in cols.iter().map(index) {
                let at = (row * w + col) * c;
                if let (Some(o), Some(px)) = (out.next(), image.get(at..at + c)) {
                    o.copy_from_slice(px);
                }
            }
        }
    }
}

/// One axis of RESIZE_BILINEAR in 10-bit fixed point: the scaled source position and the two
/// source indices it lies between (`ComputeInterpolationValuesInteger`).
fn interpolate(v: usize, scale: i32, size: usize, half_pixel_centers: bool) -> (i32, usize, usize) {
    let scaled = if half_pixel_centers {
        (v as i32)
            .wrapping_mul(scale)
            .wrapping_add(scale / 2)
            .wrapping_sub(1 << 9)
    } else {
        (v as i32).wrapping_mul(scale)
    };
    let last = size.saturating_sub(1) as i32;
    let lower = (scaled / (1 << 10)).max(0);
    let upper = (scaled.saturating_add((1 << 10) - 1) / (1 << 10)).min(last);
    (scaled, lower as usize, upper.max(0) as usize)
}

/// RESIZE_BILINEAR of int8 values: the four neighbours weighted in 10-bit fixed point, the sum
/// (i64) rounded half away from zero at 2^20. `scale_h`, `scale_w` are TFLM's 10-bit scales
/// (input over output size, or over `size - 1` with `align_corners`).
pub fn resize_bilinear(
    r: &Resize,
    input: &[i8],
    scale_h: i32,
    scale_w: i32,
    half_pixel_centers: bool,
    output: &mut [i8],
) {
    let [_, h, w, c] = r.input;
    let [_, oh, ow, _] = r.output;
    if !r.fits(input.len(), output.len()) {
        return;
    }
    let mut out = output.chunks_exact_mut(c);
    for image in input.chunks_exact(h * w * c) {
        let px = |y: usize, x: usize| image.get((y * w + x) * c..(y * w + x + 1) * c);
        for y in 0..oh {
            let (sy, y0, y1) = interpolate(y, scale_h, h, half_pixel_centers);
            let fy = i64::from(sy) - 1024 * y0 as i64;
            for x in 0..ow {
                let (sx, x0, x1) = interpolate(x, scale_w, w, half_pixel_centers);
                let fx = i64::from(sx) - 1024 * x0 as i64;
                let (Some(o), Some(a), Some(b), Some(d), Some(e)) =
                    (out.next(), px(y0, x0), px(y1, x0), px(y0, x1), px(y1, x1))
                else {
                    return;
                };
                for (k, o) in o.iter_mut().enumerate() {
                    let v = |p: &[i8]| i64::from(p.get(k).copied().unwrap_or(0));
                    let sum = v(a) * (1024 - fy) * (1024 - fx)
                        + v(b) * fy * (1024 - fx)
                        + v(d) * (1024 - fy) * fx
                        + v(e) * fy * fx;
                    let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                    *o = ((sum + round) / (1 << 20)).clamp(-128, 127) as i8;
                }
            }
        }
    }
}
