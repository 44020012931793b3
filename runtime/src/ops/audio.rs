//! AUDIO_FRONTEND: 16 kHz int16 PCM to int8 log-mel features (the kernel's module documents
//! the computation), so that a keyword spotter's blob takes raw sound.

use super::{Cx, operands};
use crate::error::Error;
use crate::format::{DType, Unary};
use crate::kernels::reference::audio::{self, CHANNELS, FEATURE_ZERO_POINT, SCRATCH_I32};
use crate::kernels::{Scratch, as_i8_mut};

/// Input `[1, samples]` of int16 (zero point 0), output `[1, frames, 40, 1]` of int8 with the
/// features' zero point, at least one frame.
pub(super) fn validate(cx: &Cx<'_, '_>, o: &Unary) -> Result<(), Error> {
    let (i, out) = (
        cx.typed(o.input, DType::I16)?,
        cx.typed(o.output, DType::I8)?,
    );
    let samples = match i.shape.as_slice() {
        [1, n] => usize::from(*n),
        _ => return Err(cx.shape_err()),
    };
    let frames = audio::frames(samples);
    cx.check_shape(frames > 0 && out.shape.as_slice() == [1, frames as u16, CHANNELS as u16, 1])?;
    cx.check_param(i.zero_point == 0 && out.zero_point == FEATURE_ZERO_POINT)
}

pub(super) fn scratch(_cx: &Cx<'_, '_>, _o: &Unary) -> Result<usize, Error> {
    Ok(crate::kernels::scratch_bytes(&[
        SCRATCH_I32 * size_of::<i32>()
    ]))
}

pub(super) fn eval(
    cx: &Cx<'_, '_>,
    o: &Unary,
    arena: &mut [u8],
    mut scratch: Scratch<'_>,
) -> Result<(), Error> {
    let (i, out_t) = (cx.tensor(o.input)?, cx.tensor(o.output)?);
    let (out, [pcm]) = operands(arena, &out_t, [&i])?;
    let fft = scratch
        .take::<i32>(SCRATCH_I32)
        .ok_or(Error::BadPlan { tensor: o.output })?;
    audio::log_mel(pcm.as_chunks::<2>().0, as_i8_mut(out), fft);
    Ok(())
}
