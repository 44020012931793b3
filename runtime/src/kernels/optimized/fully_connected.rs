//! FULLY_CONNECTED: a 1x1 convolution whose pixels are the batches.

use super::conv::conv_2d;
use crate::format::{Clamp, Requant, Window};
use crate::kernels::reference::Geometry;

/// FULLY_CONNECTED with the reference kernel's signature and results.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    input: &[i8],
    input_zp: i32,
    weights: &[i8],
    bias: Option<&[u8]>,
    requant: &Requant<'_>,
    output_zp: i32,
    clamp: Clamp,
    depth: usize,
    output: &mut [i8],
) {
    let units = weights.len().checked_div(depth).unwrap_or(0);
    let batches = input.len().checked_div(depth).unwrap_or(0);
    if units == 0 || batches == 0 {
        return;
    }
    let geometry = Geometry {
        batches: 1,
        in_h: 1,
        in_w: batches,
        in_c: depth,
        out_h: 1,
        out_w: batches,
        out_c: units,
        window: Window {
            filter_h: 1,
            filter_w: 1,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
        },
    };
    let input = input.get(..batches * depth).unwrap_or(&[]);
    let output = match output.get_mut(..batches * units) {
        Some(o) => o,
        None => return,
    };
    conv_2d(
        &geometry, input, input_zp, weights, bias, requant, output_zp, clamp, output,
    );
}
