//! AVERAGE_POOL_2D and MAX_POOL_2D.

use super::conv::{check_geometry, geometry};
use super::{Cx, operands};
use crate::error::Error;
use crate::format::{DType, Pool2d};
use crate::kernels::{self, as_i8, as_i8_mut};

/// Both pools: int8 NHWC input and output with the same quantization (TFLite requires it; the
/// kernels do not rescale) and the same channels, a SAME or VALID window of dilation 1.
pub(super) fn validate(cx: &Cx<'_, '_>, o: &Pool2d) -> Result<(), Error> {
    let input = cx.typed(o.input, DType::I8)?;
    let output = cx.typed(o.output, DType::I8)?;
    cx.check_param(
        input.zero_point == output.zero_point
            && input.scale.to_bits() == output.scale.to_bits()
            && o.window.dilation_h == 1
            && o.window.dilation_w == 1,
    )?;
    let g = check_geometry(cx, &input, &output, o.window)?;
    cx.check_shape(g.in_c == g.out_c)?;
    cx.check_clamp(o.clamp)
}

pub(super) fn eval_average(cx: &Cx<'_, '_>, o: &Pool2d, arena: &mut [u8]) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    let g = geometry(&input, &output, o.window);
    kernels::average_pool_2d(&g, as_i8(x), o.clamp, as_i8_mut(out));
    Ok(())
}

pub(super) fn eval_max(cx: &Cx<'_, '_>, o: &Pool2d, arena: &mut [u8]) -> Result<(), Error> {
    let input = cx.tensor(o.input)?;
    let output = cx.tensor(o.output)?;
    let (out, [x]) = operands(arena, &output, [&input])?;
    let g = geometry(&input, &output, o.window);
    kernels::max_pool_2d(&g, as_i8(x), o.clamp, as_i8_mut(out));
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::harness::{T, run};
    use crate::error::Error;
    use crate::format::{Clamp, Op, Pool2d, Window};
    use std::vec::Vec;

    fn pool(f: u16, s: u16, d: u16, p: u16) -> Pool2d {
        Pool2d {
            input: 0,
            output: 1,
            window: Window {
                filter_h: f,
                filter_w: f,
                stride_h: s,
                stride_w: s,
                dilation_h: d,
                dilation_w: d,
                pad_top: p,
                pad_left: p,
            },
            clamp: Clamp::NONE,
        }
    }

    #[test]
    fn pools_run() {
        let input: Vec<i8> = (1..=9).collect();
        let io: [T<'_>; 2] = [(&[1, 3, 3, 1], 3), (&[1, 2, 2, 1], 3)];
        let avg = Op::AveragePool2d(pool(2, 2, 1, 0));
        assert_eq!(run(&io, avg, &[&input]), Ok(std::vec![3, 5, 8, 9]));
        let max = Op::MaxPool2d(pool(3, 2, 1, 1));
        assert_eq!(run(&io, max, &[&input]), Ok(std::vec![5, 6, 8, 9]));
        // Global average, VALID.
        let io: [T<'_>; 2] = [(&[1, 3, 3, 1], 0), (&[1, 1, 1, 1], 0)];
        let avg = Op::AveragePool2d(pool(3, 3, 1, 0));
        assert_eq!(run(&io, avg, &[&input]), Ok(std::vec![5]));
    }

    #[test]
    fn pools_reject() {
        let input = [0i8; 9];
        let param = Err(Error::BadParameter { op: 0 });
        let shape = Err(Error::ShapeMismatch { op: 0 });
        let io: [T<'_>; 2] = [(&[1, 3, 3, 1], 0), (&[1, 2, 2, 1], 0)];
        // quantization differs; dilation; padding not SAME's
        let other_zp: [T<'_>; 2] = [(&[1, 3, 3, 1], 0), (&[1, 2, 2, 1], 1)];
        assert_eq!(
            run(&other_zp, Op::MaxPool2d(pool(2, 2, 1, 0)), &[&input]),
            param
        );
        assert_eq!(run(&io, Op::MaxPool2d(pool(2, 2, 2, 0)), &[&input]), param);
        assert_eq!(
            run(&io, Op::AveragePool2d(pool(2, 2, 1, 1)), &[&input]),
            param
        );
        // channels differ; output size wrong
        let chans: [T<'_>; 2] = [(&[1, 3, 3, 1], 0), (&[1, 2, 2, 2], 0)];
        assert_eq!(
            run(&chans, Op::AveragePool2d(pool(2, 2, 1, 0)), &[&input]),
            shape
        );
        let size: [T<'_>; 2] = [(&[1, 3, 3, 1], 0), (&[1, 3, 3, 1], 0)];
        assert_eq!(
            run(&size, Op::AveragePool2d(pool(2, 2, 1, 0)), &[&input]),
            shape
        );
    }
}
