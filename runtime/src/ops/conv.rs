//! CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, and the window geometry checks the pools
//! share.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{Conv2d, DType, DepthwiseConv2d, TensorDef, TensorId, Window};
use crate::kernels;
use crate::kernels::optimized::{conv, depthwise};
use crate::kernels::reference::Geometry;
use crate::kernels::{Isa, KernelPath};
use crate::kernels::{Scratch, as_i8, as_i8_mut};

/// NHWC dimensions of a rank-4 tensor.
fn nhwc(t: &TensorDef) -> Option<[usize; 4]> {
    match t.shape[..] {
        [n, h, w, c] => Some([n, h, w, c].map(usize::from)),
        _ => None,
    }
}

/// The geometry of `input` and `output` (zeros for a tensor that is not rank 4, which
/// validation rules out).
pub(super) fn geometry(input: &TensorDef, output: &TensorDef, window: Window) -> Geometry {
    let [batches, in_h, in_w, in_c] = nhwc(input).unwrap_or_default();
    let [_, out_h, out_w, out_c] = nhwc(output).unwrap_or_default();
    Geometry {
        batches,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        window,
    }
}

/// Checks a window over NHWC `input` giving NHWC `output`: both rank 4 with no zero
/// dimension and the same batches; filter, strides and dilations at least 1; and along each
/// spatial axis the output size and leading padding are those TFLite derives for SAME or for
/// VALID padding. So every output window overlaps the input (SAME pads less than the filter
/// extent), which the average pool needs, and the kernels' coordinates stay small.
pub(super) fn check_geometry(
    cx: &Cx<'_, '_>,
    input: &TensorDef,
    output: &TensorDef,
    w: Window,
) -> Result<Geometry, Error> {
    let i = nhwc(input).ok_or(cx.shape_err())?;
    let o = nhwc(output).ok_or(cx.shape_err())?;
    cx.check_shape(i.iter().chain(&o).all(|&d| d > 0) && i[0] == o[0])?;
    cx.check_param(
        [
            w.filter_h,
            w.filter_w,
            w.stride_h,
            w.stride_w,
            w.dilation_h,
            w.dilation_w,
        ]
        .iter()
        .all(|&v| v > 0),
    )?;
    for (size, out, filter, stride, dilation, pad) in [
        (i[1], o[1], w.filter_h, w.stride_h, w.dilation_h, w.pad_top),
        (i[2], o[2], w.filter_w, w.stride_w, w.dilation_w, w.pad_left),
    ] {
        let axis = Axis::new(size, filter, stride, dilation);
        cx.check_shape(out == axis.same_out || out == axis.valid_out)?;
        let same = out == axis.same_out && u64::from(pad) == axis.same_pad;
        let valid = out == axis.valid_out && pad == 0;
        cx.check_param(same || valid)?;
    }
    Ok(geometry(input, output, w))
}

/// TFLite's output size and padding along one axis (`ComputeOutSize`, `ComputePadding`).
struct Axis {
    same_out: usize,
    same_pad: u64,
    /// 0 when the filter extent exceeds the input (TFLite has no output then).
    valid_out: usize,
}

impl Axis {
    /// `size` is a u16 dimension and the rest are at least 1: nothing here overflows u64.
    fn new(size: usize, filter: u16, stride: u16, dilation: u16) -> Axis {
        let (n, s) = (size as u64, u64::from(stride.max(1)));
        let extent = (u64::from(filter.max(1)) - 1) * u64::from(dilation.max(1)) + 1;
        let same_out = n.div_ceil(s);
        let same_pad = ((same_out.saturating_sub(1)) * s + extent).saturating_sub(n) / 2;
        let valid_out = if n >= extent { (n - extent) / s + 1 } else { 0 };
        Axis {
            same_out: same_out as usize,
            same_pad,
            valid_out: valid_out as usize,
        }
    }
}

pub(super) fn validate_conv(cx: &Cx<'_, '_>, o: &Conv2d<'_>) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I8)?;
    let output = cx.typed(o.output, DType::I8)?;
    let g = check_geometry(cx, &input, &output, o.window)?;
    let taps = usize::from(o.window.filter_h) * usize::from(o.window.filter_w);
    let per_channel = g.out_c.checked_mul(taps).ok_or(cx.param_err())?;
    cx.check_param(!o.filter.is_empty() && o.filter.len().is_multiple_of(per_channel))?;
    // Filter depth: the input depth, or a divisor of it for a grouped convolution whose
    // groups each produce the same number of output channels.
    let filter_c = o.filter.len() / per_channel;
    cx.check_shape(g.in_c.is_multiple_of(filter_c) && g.out_c.is_multiple_of(g.in_c / filter_c))?;
    cx.check_path(path_conv(&g, o, Isa::HERE))?;
    cx.check_bias(o.bias, g.out_c)?;
    cx.check_requant(&o.requant, g.out_c)?;
    cx.check_clamp(o.clamp)
}

/// The optional kernel path a CONV_2D over `g` takes on a target with `isa`'s micro-kernels,
/// if any.
pub(super) fn path_conv(g: &Geometry, o: &Conv2d<'_>, isa: Isa) -> Option<KernelPath> {
    if !conv::handles(g, o.filter.len()) {
        Some(KernelPath::GroupedConv)
    } else {
        conv::general(g, isa).then_some(KernelPath::ConvGeneral)
    }
}

/// The optional kernel path a DEPTHWISE_CONV_2D over `g` takes on a target with `isa`'s
/// micro-kernels, if any (its requantization validated).
pub(super) fn path_depthwise(
    g: &Geometry,
    o: &DepthwiseConv2d<'_>,
    isa: Isa,
) -> Option<KernelPath> {
    if !depthwise::handles(g) {
        Some(KernelPath::DepthwiseMultiplier)
    } else {
        depthwise::general(g, &o.requant, isa).then_some(KernelPath::DepthwiseGeneral)
    }
}

pub(super) fn scratch_conv(cx: &Cx<'_, '_>, o: &Conv2d<'_>) -> Result<usize, Error> {
    let g = geometry(&cx.tensor(o.input)?, &cx.tensor(o.output)?, o.window);
    Ok(kernels::scratch::conv_2d(&g, o.filter.len()))
}

pub(super) fn eval_conv(
    cx: &Cx<'_, '_>,
    o: &Conv2d<'_>,
    arena: &mut [u8],
    scratch: Scratch<'_>,
) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    kernels::conv_2d(
        &geometry(&input, &output, o.window),
        as_i8(x),
        input.zero_point,
        as_i8(o.filter),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        as_i8_mut(out),
        scratch,
    );
    Ok(())
}

pub(super) fn validate_depthwise(cx: &Cx<'_, '_>, o: &DepthwiseConv2d<'_>) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I8)?;
    let output = cx.typed(o.output, DType::I8)?;
    let g = check_geometry(cx, &input, &output, o.window)?;
    cx.check_param(o.depth_multiplier > 0)?;
    cx.check_shape(g.in_c.checked_mul(usize::from(o.depth_multiplier)) == Some(g.out_c))?;
    let taps = usize::from(o.window.filter_h) * usize::from(o.window.filter_w);
    cx.check_param(g.out_c.checked_mul(taps) == Some(o.filter.len()))?;
    cx.check_bias(o.bias, g.out_c)?;
    cx.check_requant(&o.requant, g.out_c)?;
    cx.check_path(path_depthwise(&g, o, Isa::HERE))?;
    cx.check_clamp(o.clamp)
}

pub(super) fn scratch_depthwise(cx: &Cx<'_, '_>, o: &DepthwiseConv2d<'_>) -> Result<usize, Error> {
    let g = geometry(&cx.tensor(o.input)?, &cx.tensor(o.output)?, o.window);
    Ok(kernels::scratch::depthwise_conv_2d(&g))
}

pub(super) fn eval_depthwise(
    cx: &Cx<'_, '_>,
    o: &DepthwiseConv2d<'_>,
    arena: &mut [u8],
    scratch: Scratch<'_>,
) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    kernels::depthwise_conv_2d(
        &geometry(&input, &output, o.window),
        as_i8(x),
        input.zero_point,
        as_i8(o.filter),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        as_i8_mut(out),
        scratch,
    );
    Ok(())
}

/// TRANSPOSE_CONV: rank-4 int8 input and output with the same batches, strides and filter
/// sizes at least 1, dilation 1, the filter `[out_c][h][w][in_c]`, padding below the filter
/// size (what TFLite derives from the output size), bias and requantization per channel.
pub(super) fn validate_transpose_conv(cx: &Cx<'_, '_>, o: &Conv2d<'_>) -> Result<(), Error> {
    let out_c = check_transposed(cx, o.input, o.output, DType::I8, o.window, o.filter)?;
    cx.check_bias(o.bias, out_c)?;
    cx.check_requant(&o.requant, out_c)?;
    cx.check_clamp(o.clamp)
}

/// A TRANSPOSE_CONV's tensors (rank 4, of `dtype`, the same batches, no dimension of 0), window
/// and filter `[out_c][h][w][in_c]`; the output channels.
pub(super) fn check_transposed(
    cx: &Cx<'_, '_>,
    input: TensorId,
    output: TensorId,
    dtype: DType,
    w: Window,
    filter: &[u8],
) -> Result<usize, Error> {
    let i = nhwc(&cx.typed(input, dtype)?).ok_or(cx.shape_err())?;
    let out = nhwc(&cx.typed(output, dtype)?).ok_or(cx.shape_err())?;
    cx.check_shape(i.iter().chain(&out).all(|&d| d > 0) && i[0] == out[0])?;
    cx.check_param(
        w.filter_h > 0
            && w.filter_w > 0
            && w.stride_h > 0
            && w.stride_w > 0
            && w.dilation_h == 1
            && w.dilation_w == 1
            && w.pad_top < w.filter_h
            && w.pad_left < w.filter_w,
    )?;
    let taps = usize::from(w.filter_h) * usize::from(w.filter_w);
    let size = out[3].checked_mul(taps).and_then(|n| n.checked_mul(i[3]));
    cx.check_shape(size == Some(filter.len()))?;
    Ok(out[3])
}

pub(super) fn eval_transpose_conv(
    cx: &Cx<'_, '_>,
    o: &Conv2d<'_>,
    arena: &mut [u8],
) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    kernels::reference::transpose_conv(
        &geometry(&input, &output, o.window),
        as_i8(x),
        input.zero_point,
        as_i8(o.filter),
        o.bias,
        &o.requant,
        output.zero_point,
        o.clamp,
        as_i8_mut(out),
    );
    Ok(())
}
#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::harness::run;
    use crate::error::Error;
    use crate::format::{Clamp, Conv2d, DepthwiseConv2d, Multiplier, Op, Requant, Window};
    use crate::kernels::{Isa, KernelPath};
    use std::vec::Vec;

    const HALF: Requant<'static> = Requant::PerTensor(Multiplier {
        multiplier: 1 << 30,
        shift: 0,
    });
    const SHAPE_ERR: Error = Error::ShapeMismatch { op: 0 };
    const PARAM_ERR: Error = Error::BadParameter { op: 0 };

    fn window(f: u16, s: u16, d: u16, p: u16) -> Window {
        Window {
            filter_h: f,
            filter_w: f,
            stride_h: s,
            stride_w: s,
            dilation_h: d,
            dilation_w: d,
            pad_top: p,
            pad_left: p,
        }
    }

    /// The kernel test's 5x5 SAME stride-2 convolution, through a blob.
    fn conv<'a>(
        window: Window,
        filter: &'a [u8],
        bias: Option<&'a [u8]>,
        requant: Requant<'a>,
    ) -> Op<'a> {
        Op::Conv2d(Conv2d {
            input: 0,
            output: 1,
            window,
            filter,
            bias,
            requant,
            clamp: Clamp::NONE,
        })
    }

    #[test]
    fn conv_runs_with_tensor_zero_points() {
        let input: Vec<i8> = (0..25).map(|v| v - 3).collect();
        let bias = 1i32.to_le_bytes();
        let op = conv(window(3, 2, 1, 1), &[1; 9], Some(&bias), HALF);
        let out = run(&[(&[1, 5, 5, 1], -3), (&[1, 3, 3, 1], -10)], op, &[&input]);
        assert_eq!(out, Ok(std::vec![-3, 4, 3, 22, 45, 31, 27, 49, 33]));
    }

    #[test]
    fn conv_accepts_tflite_geometries() {
        // KWS's first layer: 49x10, 10x4 filter, stride 2, SAME -> 25x5, padding 4 and 1.
        let w = Window {
            filter_h: 10,
            filter_w: 4,
            stride_h: 2,
            stride_w: 2,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 4,
            pad_left: 1,
        };
        let filter = [1u8; 2 * 10 * 4];
        let op = conv(w, &filter, None, HALF);
        let shapes: [super::super::harness::T<'_>; 2] = [(&[1, 49, 10, 1], 0), (&[1, 25, 5, 2], 0)];
        assert!(run(&shapes, op, &[&[0; 490]]).is_ok());
        // Dilated columns take the general packer: refused by name in builds without it.
        let general = KernelPath::ConvGeneral;
        let accepted = |out: Result<Vec<i8>, Error>| match out {
            Ok(_) => general.built(),
            Err(e) => {
                !general.built()
                    && e == Error::UnsupportedOp {
                        op: 0,
                        name: general.name(),
                    }
            }
        };
        // VALID with dilation 2: 7x7, 3x3 filter (extent 5) -> 3x3.
        let op = conv(window(3, 1, 2, 0), &[1; 9], None, HALF);
        assert!(accepted(run(
            &[(&[1, 7, 7, 1], 0), (&[1, 3, 3, 1], 0)],
            op,
            &[&[0; 49]]
        )));
        // SAME with dilation 2: 7x7 -> 7x7, padding 2.
        let op = conv(window(3, 1, 2, 2), &[1; 9], None, HALF);
        assert!(accepted(run(
            &[(&[1, 7, 7, 1], 0), (&[1, 7, 7, 1], 0)],
            op,
            &[&[0; 49]]
        )));
    }

    #[test]
    fn conv_rejects_what_the_kernel_cannot_run() {
        let io: [super::super::harness::T<'_>; 2] = [(&[1, 5, 5, 1], 0), (&[1, 3, 3, 1], 0)];
        let ok = window(3, 2, 1, 1);
        let check = |tensors: &[super::super::harness::T<'_>], op: Op<'_>, err: Error| {
            assert_eq!(run(tensors, op, &[&[0; 25]]), Err(err));
        };
        // output size neither SAME's nor VALID's; padding not SAME's for the SAME size
        check(
            &[(&[1, 5, 5, 1], 0), (&[1, 4, 4, 1], 0)],
            conv(ok, &[1; 9], None, HALF),
            SHAPE_ERR,
        );
        check(
            &io,
            conv(window(3, 2, 1, 0), &[1; 9], None, HALF),
            PARAM_ERR,
        );
        check(
            &io,
            conv(window(3, 2, 1, 2), &[1; 9], None, HALF),
            PARAM_ERR,
        );
        // zero stride, filter or dilation
        check(
            &io,
            conv(window(3, 0, 1, 1), &[1; 9], None, HALF),
            PARAM_ERR,
        );
        check(&io, conv(window(0, 2, 1, 1), &[], None, HALF), PARAM_ERR);
        check(
            &io,
            conv(window(3, 2, 0, 1), &[1; 9], None, HALF),
            PARAM_ERR,
        );
        // filter not a whole number of [out_c][3][3] filters; empty
        check(&io, conv(ok, &[1; 10], None, HALF), PARAM_ERR);
        check(&io, conv(ok, &[], None, HALF), PARAM_ERR);
        // filter depth 2 does not divide input depth 3
        let io3: [super::super::harness::T<'_>; 2] = [(&[1, 5, 5, 3], 0), (&[1, 3, 3, 1], 0)];
        assert_eq!(
            run(&io3, conv(ok, &[1; 18], None, HALF), &[&[0; 75]]),
            Err(SHAPE_ERR)
        );
        // bias and per-channel requant must cover the one output channel
        check(&io, conv(ok, &[1; 9], Some(&[0; 8]), HALF), PARAM_ERR);
        let per_channel = Requant::PerChannel {
            multipliers: &[0; 8],
            shifts: &[0; 2],
        };
        check(&io, conv(ok, &[1; 9], None, per_channel), PARAM_ERR);
        let bad_shift = Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: 31,
        });
        check(&io, conv(ok, &[1; 9], None, bad_shift), PARAM_ERR);
        // zero point outside int8 (refused with the tensor); rank 3; batches differ; clamp inverted
        check(
            &[(&[1, 5, 5, 1], 200), (&[1, 3, 3, 1], 0)],
            conv(ok, &[1; 9], None, HALF),
            Error::BadTensor(0),
        );
        check(
            &[(&[5, 5, 1], 0), (&[1, 3, 3, 1], 0)],
            conv(ok, &[1; 9], None, HALF),
            SHAPE_ERR,
        );
        assert_eq!(
            run(
                &[(&[1, 5, 5, 1], 0), (&[2, 3, 3, 1], 0)],
                conv(ok, &[1; 9], None, HALF),
                &[&[0; 25]]
            ),
            Err(SHAPE_ERR)
        );
        let inverted = Op::Conv2d(Conv2d {
            input: 0,
            output: 1,
            window: ok,
            filter: &[1; 9],
            bias: None,
            requant: HALF,
            clamp: Clamp { min: 1, max: 0 },
        });
        check(&io, inverted, PARAM_ERR);
    }

    #[test]
    fn grouped_conv_runs_where_built_and_is_refused_elsewhere() {
        // Two groups of one channel, 1x1: output channel g is (2·input g + bias g) · 0.5.
        let input = [3i8, -5];
        let bias: Vec<u8> = [0i32, -2].iter().flat_map(|b| b.to_le_bytes()).collect();
        let op = conv(window(1, 1, 1, 0), &[2, 2], Some(&bias), HALF);
        let io: [super::super::harness::T<'_>; 2] = [(&[1, 1, 1, 2], 0), (&[1, 1, 1, 2], 0)];
        let path = KernelPath::GroupedConv;
        assert_eq!(
            run(&io, op, &[&input]),
            if path.built() {
                Ok(std::vec![3, -6])
            } else {
                Err(Error::UnsupportedOp {
                    op: 0,
                    name: path.name(),
                })
            }
        );
    }

    fn depthwise(multiplier: u16, filter: &[u8]) -> Op<'_> {
        Op::DepthwiseConv2d(DepthwiseConv2d {
            input: 0,
            output: 1,
            window: window(2, 1, 1, 0),
            depth_multiplier: multiplier,
            filter,
            bias: None,
            requant: Requant::PerTensor(Multiplier {
                multiplier: 1 << 30,
                shift: 1,
            }),
            clamp: Clamp::NONE,
        })
    }

    #[test]
    fn depthwise_runs_and_checks_the_multiplier() {
        // The kernel test's depth multiplier 2 example, per tensor 1.0: 10, -3, 100, 50.
        let input = [1i8, 10, 2, 20, 3, 30, 4, 40];
        let filter = [1u8, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, (-1i8) as u8, 1, 0];
        let io: [super::super::harness::T<'_>; 2] = [(&[1, 2, 2, 2], 0), (&[1, 1, 1, 4], 0)];
        // The reference kernel's shape: run where the build has it, refused by name elsewhere.
        let path = KernelPath::DepthwiseMultiplier;
        assert_eq!(
            run(&io, depthwise(2, &filter), &[&input]),
            if path.built() {
                Ok(std::vec![10, -3, 100, 50])
            } else {
                Err(Error::UnsupportedOp {
                    op: 0,
                    name: path.name(),
                })
            }
        );
        assert_eq!(run(&io, depthwise(1, &filter), &[&input]), Err(SHAPE_ERR));
        assert_eq!(run(&io, depthwise(0, &filter), &[&input]), Err(PARAM_ERR));
        assert_eq!(
            run(&io, depthwise(2, &filter[..12]), &[&input]),
            Err(PARAM_ERR)
        );
    }

    /// 3x3 lines whose channels fold the output zero point take the line path (on RISC-V from
    /// 8 outputs on); the rest take the loop over pixels, which builds without
    /// `op-depthwise-general` refuse by name.
    #[test]
    fn depthwise_lines_run_everywhere_and_other_shapes_where_built() {
        use crate::kernels::optimized::depthwise::general;
        use crate::kernels::reference::{Geometry, depthwise_conv_2d};
        let quarter = Requant::PerTensor(Multiplier {
            multiplier: 1 << 30,
            shift: -1,
        });
        let filter: Vec<u8> = (0..36).map(|i| (i * 7 % 19) as u8).collect();
        let weights: Vec<i8> = filter.iter().map(|&w| w as i8).collect();
        // (outputs along the line, requantization, whether Arm and RISC-V take the pixel loop)
        for (along, requant, pixels) in [
            (8u16, quarter, [false, false]),
            (7, quarter, [false, true]),
            (8, HALF, [true, true]), // no right shift: the zero point does not fold
        ] {
            let len = usize::from(along) * 4;
            let input: Vec<i8> = (0..len).map(|i| (i * 29 % 256) as i8).collect();
            let op = Op::DepthwiseConv2d(DepthwiseConv2d {
                input: 0,
                output: 1,
                window: window(3, 1, 1, 1),
                depth_multiplier: 1,
                filter: &filter,
                bias: None,
                requant,
                clamp: Clamp::NONE,
            });
            let io: [super::super::harness::T<'_>; 2] =
                [(&[1, 1, along, 4], 5), (&[1, 1, along, 4], -3)];
            let g = Geometry {
                batches: 1,
                in_h: 1,
                in_w: len / 4,
                in_c: 4,
                out_h: 1,
                out_w: len / 4,
                out_c: 4,
                window: window(3, 1, 1, 1),
            };
            let takes = [Isa::ArmDsp, Isa::Riscv].map(|isa| general(&g, &requant, isa));
            assert_eq!(takes, pixels, "{along}");
            let mut want = std::vec![0i8; len];
            let (x, w) = (&input, &weights);
            depthwise_conv_2d(&g, x, 5, w, None, &requant, -3, Clamp::NONE, &mut want);
            let path = KernelPath::DepthwiseGeneral;
            let expected = if path.built() || !general(&g, &requant, Isa::HERE) {
                Ok(want)
            } else {
                Err(Error::UnsupportedOp {
                    op: 0,
                    name: path.name(),
                })
            };
            assert_eq!(run(&io, op, &[&input]), expected, "{along}");
        }
    }
}
