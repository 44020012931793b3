//! RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of NHWC tensors (TFLM
//! `resize_nearest_neighbor.cc`, `resize_bilinear.cc`): a constant int32 size, raw values
//! moved or interpolated (input and output share quantization).

use anyhow::{Result, anyhow, bail, ensure};
use mote::format::{DType, Op, ResizeBilinear, ResizeNearest};

use super::{Importer, OpCx, int_values, nhwc, same_quantization, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{BuiltinOperator as B, TensorType};

impl<'m, 'a> Importer<'m, 'a> {
    /// Both resizes: the output must be `[n, size[0], size[1], c]` (TFLM writes that many
    /// elements whatever the output tensor says).
    pub(super) fn resize(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let (align_corners, half_pixel_centers) = if op.builtin == B::RESIZE_BILINEAR {
            let o = op
                .raw
                .builtin_options_as_resize_bilinear_options()
                .ok_or_else(|| anyhow!("{cx}: ResizeBilinearOptions are missing"))?;
            (o.align_corners(), o.half_pixel_centers())
        } else {
            let o = op
                .raw
                .builtin_options_as_resize_nearest_neighbor_options()
                .ok_or_else(|| anyhow!("{cx}: ResizeNearestNeighborOptions are missing"))?;
            (o.align_corners(), o.half_pixel_centers())
        };
        let input = self.input_8_or_16(cx, op, 0)?;
        let size = self.constant(cx, op, 1)?;
        let output = self.output_like(cx, op, &input)?;
        ensure!(
            input.dtype == DType::I8 || op.builtin == B::RESIZE_NEAREST_NEIGHBOR,
            "{cx}: RESIZE_BILINEAR of int16 is not supported (TFLM fails it: float or int8 only)"
        );
        same_quantization(cx, &input, &output)?;
        ensure!(
            size.dtype == TensorType::INT32 && size.elements() == Some(2),
            "{cx}: the size must be two int32 values (got {} of shape {:?})",
            type_name(size.dtype),
            size.shape
        );
        let [n, h, w, c] = nhwc(cx, &input, "input")?;
        let v = int_values(cx, size, "size")?;
        let (oh, ow) = match (usize::try_from(v[0]), usize::try_from(v[1])) {
            (Ok(oh), Ok(ow)) if oh > 0 && ow > 0 => (oh, ow),
            _ => bail!("{cx}: size {v:?} must be positive"),
        };
        ensure!(
            output.shape == [n, oh, ow, c],
            "{cx}: output shape {:?} is not [{n}, {oh}, {ow}, {c}], what the size gives",
            output.shape
        );
        if op.builtin == B::RESIZE_NEAREST_NEIGHBOR {
            let table = |out: usize, size: usize| -> Vec<u8> {
                (0..out)
                    .flat_map(|v| {
                        let i = nearest(v, size, out, align_corners, half_pixel_centers);
                        (i as u16).to_le_bytes()
                    })
                    .collect()
            };
            return Ok(Op::ResizeNearest(ResizeNearest {
                input: input.id,
                output: output.id,
                rows: self.consts.alloc_slice_copy(&table(oh, h)),
                cols: self.consts.alloc_slice_copy(&table(ow, w)),
            }));
        }
        ensure!(
            !(align_corners && half_pixel_centers),
            "{cx}: align_corners and half_pixel_centers together (TFLM refuses them)"
        );
        Ok(Op::ResizeBilinear(ResizeBilinear {
            input: input.id,
            output: output.id,
            scale_h: bilinear_scale(h, oh, align_corners),
            scale_w: bilinear_scale(w, ow, align_corners),
            half_pixel_centers,
        }))
    }
}

/// The source index of output index `v` (TFLM's `GetNearestNeighbor`), in float32 exactly as
/// TFLM computes it: exact rational arithmetic picks other indices for some sizes.
fn nearest(v: usize, size: usize, out: usize, align_corners: bool, half_pixel: bool) -> usize {
    let scale = if align_corners && out > 1 {
        (size - 1) as f32 / (out - 1) as f32
    } else {
        size as f32 / out as f32
    };
    let offset = if half_pixel { 0.5f32 } else { 0.0 };
    let p = (v as f32 + offset) * scale;
    let i = if align_corners { p.round() } else { p.floor() } as i64;
    i.min(size as i64 - 1).max(0) as usize
}

/// TFLM's 10-bit RESIZE_BILINEAR scale: `size / out` rounded to nearest, or `(size - 1) /
/// (out - 1)` when aligning corners.
fn bilinear_scale(size: usize, out: usize, align_corners: bool) -> i32 {
    let (size, out) = if align_corners && out > 1 {
        (size as i64 - 1, out as i64 - 1)
    } else {
        (size as i64, out as i64)
    };
    ((1024 * size + out / 2) / out) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where float32 and exact arithmetic part: TFLM's float32 picks row 0 for output 41 of
    /// 2 -> 82 (41 * (2 / 82) rounds just below 1), and so must mote.
    #[test]
    fn nearest_indices_follow_float32() {
        assert_eq!(nearest(41, 2, 82, false, false), 0);
        assert_eq!(nearest(42, 2, 82, false, false), 1);
        // align_corners rounds; half_pixel_centers clamps at both ends.
        assert_eq!(nearest(1, 3, 5, true, false), 1);
        assert_eq!(nearest(4, 3, 5, false, true), 2);
    }

    #[test]
    fn bilinear_scales_match_tflm() {
        assert_eq!(bilinear_scale(4, 8, false), 512);
        assert_eq!(bilinear_scale(3, 5, false), 614); // (3072 + 2) / 5
        assert_eq!(bilinear_scale(3, 5, true), 512); // 2048 / 4
        assert_eq!(bilinear_scale(3, 1, true), 3072);
    }
}
