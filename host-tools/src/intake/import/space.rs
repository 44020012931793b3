//! DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND: block shuffles
//! of NHWC tensors (TFLM `depth_to_space.cc`, `space_to_depth.cc`, `space_to_batch_nd.cc`,
//! `batch_to_space_nd.cc`). Each is a reshape and a transpose, so each becomes a
//! [`Transpose`](mote::format::Transpose) record that sees its input as six dimensions; the
//! padding of SPACE_TO_BATCH_ND is a PAD record before it (TFLM pads with the output zero
//! point, as PAD does) and the cropping of BATCH_TO_SPACE_ND a STRIDED_SLICE after it. The
//! converter writes the pair around a dilated convolution.

use anyhow::{Result, anyhow, ensure};
use mote::format::{DType, MAX_RANK, Op, Pad, TensorId};

use super::shape::transpose_record;
use super::slice::Axis;
use super::{Act, Importer, OpCx, int_values, same_quantization, to_u16, type_name};
use crate::intake::tflite::Operator;
use crate::intake::tflite::schema::{BuiltinOperator as B, TensorType};

/// The view `[n, h, bh, w, bw, c]` of a blocked NHWC tensor, permuted to the depth order
/// `[n, h, w, bh, bw, c]` (SPACE_TO_DEPTH) or back (DEPTH_TO_SPACE): the same swap.
const SWAP_BLOCK_AND_SPACE: [usize; 6] = [0, 1, 3, 2, 4, 5];

impl<'m, 'a> Importer<'m, 'a> {
    /// DEPTH_TO_SPACE and SPACE_TO_DEPTH, 4-D NHWC with a square block: output element
    /// `[n, h * b + bh, w * b + bw, c]` of DEPTH_TO_SPACE is input element
    /// `[n, h, w, (bh * b + bw) * C + c]`, and SPACE_TO_DEPTH is the inverse.
    pub(super) fn depth_space(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        same_quantization(cx, &input, &output)?;
        let to_space = op.builtin == B::DEPTH_TO_SPACE;
        let block = if to_space {
            op.raw
                .builtin_options_as_depth_to_space_options()
                .map(|o| o.block_size())
        } else {
            op.raw
                .builtin_options_as_space_to_depth_options()
                .map(|o| o.block_size())
        }
        .ok_or_else(|| anyhow!("{cx}: the block size option is missing"))?;
        let b = usize::try_from(block)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| anyhow!("{cx}: block size {block} must be positive"))?;
        let [n, h, w, c] = nhwc(cx, &input)?;
        let (view, want) = if to_space {
            ensure!(
                c % (b * b) == 0,
                "{cx}: depth {c} is not a multiple of the block size {b} squared"
            );
            let c = c / (b * b);
            ([n, h, w, b, b, c], [n, h * b, w * b, c])
        } else {
            ensure!(
                h % b == 0 && w % b == 0,
                "{cx}: height {h} and width {w} are not multiples of the block size {b}"
            );
            ([n, h / b, b, w / b, b, c], [n, h / b, w / b, c * b * b])
        };
        expect_shape(cx, &output, &want)?;
        transpose_record(cx, input.id, output.id, &view, &SWAP_BLOCK_AND_SPACE)
    }

    /// SPACE_TO_BATCH_ND of a 4-D NHWC (or 3-D NHC) tensor: padded with the zero point, then
    /// output element `[(sh * bw + sw) * N + n, oh, ow, c]` is padded element
    /// `[n, oh * bh + sh, ow * bw + sw, c]`.
    pub(super) fn space_to_batch(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        same_quantization(cx, &input, &output)?;
        let [n, h, w, c] = nhwc(cx, &input)?;
        let [bh, bw] = self.block_shape(cx, op, input.shape.len())?;
        let [[top, bottom], [left, right]] = self.block_margins(cx, op, input.shape.len())?;
        let (ph, pw) = (h + top + bottom, w + left + right);
        ensure!(
            ph % bh == 0 && pw % bw == 0,
            "{cx}: the padded height {ph} and width {pw} are not multiples of the block {bh}x{bw}"
        );
        expect_shape(cx, &output, &[n * bh * bw, ph / bh, pw / bw, c])?;
        let view = [n, ph / bh, bh, pw / bw, bw, c];
        let shuffle = [2, 4, 0, 1, 3, 5];
        if top + bottom + left + right == 0 {
            return transpose_record(cx, input.id, output.id, &view, &shuffle);
        }
        let padded = self.intermediate(&input, "padded", [n, ph, pw, c])?;
        let margin = |v: usize| to_u16(cx, v, "padding");
        let mut before = [0u16; MAX_RANK];
        let mut after = [0u16; MAX_RANK];
        // Indexed by the tensor's dimensions: height is 1, width (absent in 3-D, 0) is 2.
        (before[1], after[1], before[2], after[2]) =
            (margin(top)?, margin(bottom)?, margin(left)?, margin(right)?);
        self.graph.ops.push(Op::Pad(Pad {
            input: input.id,
            output: padded,
            before,
            after,
        }));
        transpose_record(cx, padded, output.id, &view, &shuffle)
    }

    /// BATCH_TO_SPACE_ND of a 4-D NHWC (or 3-D NHC) tensor, the inverse shuffle: uncropped
    /// element `[n, h * bh + sh, w * bw + sw, c]` is input element
    /// `[(sh * bw + sw) * N + n, h, w, c]`; then the crops are cut off.
    pub(super) fn batch_to_space(&mut self, cx: &OpCx, op: &Operator<'_>) -> Result<Op<'a>> {
        let input = self.input_i8(cx, op, 0)?;
        let output = self.output_i8(cx, op)?;
        same_quantization(cx, &input, &output)?;
        let [batch, h, w, c] = nhwc(cx, &input)?;
        let [bh, bw] = self.block_shape(cx, op, input.shape.len())?;
        let [[top, bottom], [left, right]] = self.block_margins(cx, op, input.shape.len())?;
        ensure!(
            batch % (bh * bw) == 0,
            "{cx}: batch {batch} is not a multiple of the block {bh}x{bw}"
        );
        let n = batch / (bh * bw);
        let (uh, uw) = (h * bh, w * bw);
        ensure!(
            top + bottom < uh && left + right < uw,
            "{cx}: crops ({top}, {bottom}) and ({left}, {right}) leave nothing of {uh}x{uw}"
        );
        expect_shape(cx, &output, &[n, uh - top - bottom, uw - left - right, c])?;
        let view = [bh, bw, n, h, w, c];
        let shuffle = [2, 3, 0, 4, 1, 5];
        if top + bottom + left + right == 0 {
            return transpose_record(cx, input.id, output.id, &view, &shuffle);
        }
        let uncropped = self.intermediate(&input, "uncropped", [n, uh, uw, c])?;
        let shuffled = transpose_record(cx, input.id, uncropped, &view, &shuffle)?;
        self.graph.ops.push(shuffled);
        let whole = |count| Axis {
            begin: 0,
            stride: 1,
            count,
        };
        let cut = |begin: usize, count| Axis {
            begin: begin as i32,
            stride: 1,
            count,
        };
        let uncropped = Act {
            id: uncropped,
            shape: like_input(&input, [n, uh, uw, c]),
            ..input.clone()
        };
        let mut axes = vec![whole(n), cut(top, uh - top - bottom)];
        if input.shape.len() == 4 {
            axes.push(cut(left, uw - left - right));
        }
        axes.push(whole(c));
        self.slice_op(cx, &uncropped, &output, &axes)
    }

    /// The block shape, `[bh, bw]` (`[b, 1]` for a 3-D input): positive int32 constants.
    fn block_shape(&self, cx: &OpCx, op: &Operator<'_>, rank: usize) -> Result<[usize; 2]> {
        let t = self.constant(cx, op, 1)?;
        let spatial = rank - 2;
        ensure!(
            t.dtype == TensorType::INT32 && t.elements() == Some(spatial),
            "{cx}: the block shape must be an int32 vector of {spatial} values (got {} of shape \
             {:?})",
            type_name(t.dtype),
            t.shape
        );
        let v = int_values(cx, t, "block shape")?;
        let positive = |k: usize| {
            v.get(k).map_or(Ok(1), |&b| {
                usize::try_from(b)
                    .ok()
                    .filter(|&b| b > 0)
                    .ok_or_else(|| anyhow!("{cx}: block shape {v:?} must be positive"))
            })
        };
        Ok([positive(0)?, positive(1)?])
    }

    /// The paddings (SPACE_TO_BATCH_ND) or crops (BATCH_TO_SPACE_ND), `[[top, bottom], [left,
    /// right]]`: non-negative int32 constants of shape `[spatial dimensions, 2]`.
    fn block_margins(&self, cx: &OpCx, op: &Operator<'_>, rank: usize) -> Result<[[usize; 2]; 2]> {
        let t = self.constant(cx, op, 2)?;
        let spatial = rank - 2;
        ensure!(
            t.dtype == TensorType::INT32 && t.elements() == Some(2 * spatial),
            "{cx}: paddings and crops must be an int32 [{spatial}, 2] tensor (got {} of shape \
             {:?})",
            type_name(t.dtype),
            t.shape
        );
        let v = int_values(cx, t, "paddings")?;
        let at = |k: usize| {
            v.get(k).map_or(Ok(0), |&m| {
                usize::try_from(m)
                    .map_err(|_| anyhow!("{cx}: paddings and crops {v:?} must not be negative"))
            })
        };
        Ok([[at(0)?, at(1)?], [at(2)?, at(3)?]])
    }

    /// A new int8 tensor between two records, of `like`'s rank and quantization.
    fn intermediate(&mut self, like: &Act, what: &str, nhwc: [usize; 4]) -> Result<TensorId> {
        let name = format!("{} ({what})", self.graph.names[usize::from(like.id)]);
        let shape = like_input(like, nhwc);
        self.graph
            .add_tensor(name, DType::I8, &shape, like.scale, like.zero_point)
    }
}

/// An NHWC shape in `a`'s rank: 3-D inputs have no width (it is 1).
fn like_input(a: &Act, [n, h, w, c]: [usize; 4]) -> Vec<usize> {
    if a.shape.len() == 3 {
        vec![n, h, c]
    } else {
        vec![n, h, w, c]
    }
}

/// The input as NHWC: 4-D as it is, 3-D `[n, h, c]` with a width of 1.
fn nhwc(cx: &OpCx, a: &Act) -> Result<[usize; 4]> {
    match a.shape[..] {
        [n, h, w, c] => Ok([n, h, w, c]),
        [n, h, c] => Ok([n, h, 1, c]),
        _ => Err(anyhow!(
            "{cx}: input shape {:?}; three or four dimensions (NHC or NHWC) are supported",
            a.shape
        )),
    }
}

/// The output's shape, given as NHWC, compared with the one computed (a 3-D output has no W).
fn expect_shape(cx: &OpCx, output: &Act, want: &[usize; 4]) -> Result<()> {
    let [n, h, w, c] = *want;
    let matches = match output.shape[..] {
        [a, b, d, e] => [a, b, d, e] == [n, h, w, c],
        [a, b, e] => w == 1 && [a, b, e] == [n, h, c],
        _ => false,
    };
    ensure!(
        matches,
        "{cx}: output shape {:?}; the operator makes {want:?}",
        output.shape
    );
    Ok(())
}
