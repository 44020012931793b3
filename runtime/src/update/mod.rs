//! Model updates in the field: the slot [`journal`] that makes switching models
//! power-fail-safe, and the framed [`Request`]/[`Reply`] protocol a firmware serves over a
//! serial link to receive a new model (`mote update` is the host side). See `FORMAT.md`,
//! "Field updates".
//!
//! A frame is a postcard-encoded message followed by its CRC-32 (little-endian), the whole
//! COBS-encoded and ended by a zero byte: a receiver that lost bytes resynchronises at the
//! next zero, and a damaged frame fails its CRC instead of being misread.

pub mod journal;

use serde::{Deserialize, Serialize};

pub use journal::{Boot, Journal, JournalError, Slot, State};

/// Most model bytes one [`Request::Write`] carries.
pub const CHUNK: usize = 256;
/// Most bytes of an encoded frame, its zero delimiter included: a [`Request::Write`] of
/// [`CHUNK`] bytes or a [`Reply`] with up to [`CHUNK`] bytes of output or text.
pub const MAX_FRAME: usize = cobs::max_encoding_length(CHUNK + 32 + 4) + 1;

/// What the host asks of the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// Which model runs: answered by [`Reply::Status`].
    Status,
    /// Receive a model of `len` bytes (a blob or a signed envelope) into the slot that is
    /// not running: the pages it will occupy are erased.
    Begin {
        /// Bytes of the model.
        len: u32,
    },
    /// Model bytes at `offset`, in order, each [`CHUNK`] bytes but the last.
    Write {
        /// Where `data` goes in the model.
        offset: u32,
        /// The bytes.
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// Validate the received model (checksum, signature, version, arena) and stage it: the
    /// next boot tries it, and keeps it once its first inference succeeds.
    Commit,
    /// Reboot (after [`Request::Commit`]: into the new model's trial).
    Reset,
}

/// What the device answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply<'a> {
    /// Sent once after every boot, unasked: what this boot runs.
    Booted(#[serde(borrow)] Status<'a>),
    /// The answer to [`Request::Status`].
    Status(#[serde(borrow)] Status<'a>),
    /// The request was carried out.
    Done,
    /// The request was refused, and why; nothing of the running model changed.
    Refused(&'a str),
}

/// The model a device runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status<'a> {
    /// Its slot.
    pub slot: Slot,
    /// How this boot chose it.
    pub boot: BootKind,
    /// Its model version (signed envelopes), if any.
    pub version: Option<u32>,
    /// The checksum of its blob (`FORMAT.md`: the header's CRC-32).
    pub checksum: u32,
    /// Its output for the first sample of the input region, or nothing if there is none.
    pub output: &'a [u8],
}

/// How a boot chose the model it runs (see [`Boot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BootKind {
    /// The active model.
    Active,
    /// A new model, confirmed by this boot's first inference.
    Confirmed,
    /// A new model on trial was given up, or did not validate: the active model runs.
    Reverted,
    /// The active slot does not validate: the other slot's model runs.
    Fallback,
}

/// Why a frame could not be made or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// The message does not fit the buffer.
    TooLong,
    /// Not valid COBS, or shorter than its CRC.
    Malformed,
    /// The CRC does not match: bytes were lost or damaged.
    Checksum,
    /// The CRC matches but the message is not one of this protocol's.
    Message,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::TooLong => "the message is longer than a frame",
            FrameError::Malformed => "a malformed frame (bad COBS, or shorter than its CRC)",
            FrameError::Checksum => "a frame failed its CRC (bytes lost or damaged on the link)",
            FrameError::Message => "a frame holds no message of this protocol",
        })
    }
}

impl core::error::Error for FrameError {}

/// Encodes `message` as a frame into `out`, using `scratch` for the unencoded bytes; returns
/// the frame, zero delimiter included.
///
/// # Errors
/// [`FrameError::TooLong`] when a buffer is too small.
pub fn encode<'o, T: Serialize>(
    message: &T,
    scratch: &mut [u8],
    out: &'o mut [u8],
) -> Result<&'o [u8], FrameError> {
    let len = postcard::to_slice(message, scratch)
        .map_err(|_| FrameError::TooLong)?
        .len();
    let crc = crate::format::crc32(&[scratch.get(..len).ok_or(FrameError::TooLong)?]);
    scratch
        .get_mut(len..len + 4)
        .ok_or(FrameError::TooLong)?
        .copy_from_slice(&crc.to_le_bytes());
    let body = scratch.get(..len + 4).ok_or(FrameError::TooLong)?;
    let n = cobs::try_encode(body, out).map_err(|_| FrameError::TooLong)?;
    *out.get_mut(n).ok_or(FrameError::TooLong)? = 0;
    out.get(..=n).ok_or(FrameError::TooLong)
}

/// Decodes a frame received into `frame` (without its zero delimiter), in place.
///
/// # Errors
/// See [`FrameError`].
pub fn decode<'a, T: Deserialize<'a>>(frame: &'a mut [u8]) -> Result<T, FrameError> {
    let n = cobs::decode_in_place(frame).map_err(|_| FrameError::Malformed)?;
    let body = frame.get(..n).ok_or(FrameError::Malformed)?;
    let (message, crc) = body.split_last_chunk::<4>().ok_or(FrameError::Malformed)?;
    if crate::format::crc32(&[message]) != u32::from_le_bytes(*crc) {
        return Err(FrameError::Checksum);
    }
    postcard::from_bytes(message).map_err(|_| FrameError::Message)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn round_trip(request: &Request<'_>) {
        let (mut scratch, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME]);
        let frame = encode(request, &mut scratch, &mut out).unwrap();
        assert_eq!(frame.last(), Some(&0));
        assert!(
            !frame[..frame.len() - 1].contains(&0),
            "COBS leaves one zero: the end"
        );
        let mut received = frame[..frame.len() - 1].to_vec();
        assert_eq!(&decode::<Request<'_>>(&mut received).unwrap(), request);
    }

    #[test]
    fn requests_survive_framing() {
        round_trip(&Request::Status);
        round_trip(&Request::Begin { len: 40_000 });
        let data: Vec<u8> = (0..CHUNK).map(|i| (i % 7) as u8).collect();
        round_trip(&Request::Write {
            offset: 1024,
            data: &data,
        });
        round_trip(&Request::Commit);
    }

    #[test]
    fn a_damaged_frame_is_refused_not_misread() {
        let (mut scratch, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME]);
        let data = [1, 2, 3, 4, 5];
        let frame = encode(
            &Request::Write {
                offset: 8,
                data: &data,
            },
            &mut scratch,
            &mut out,
        )
        .unwrap()
        .to_vec();
        for at in 0..frame.len() - 1 {
            for flip in [0x01, 0x80] {
                let mut damaged = frame[..frame.len() - 1].to_vec();
                damaged[at] ^= flip;
                assert!(
                    decode::<Request<'_>>(&mut damaged).is_err(),
                    "byte {at} ^ {flip:#x}"
                );
            }
        }
        assert_eq!(decode::<Request<'_>>(&mut []), Err(FrameError::Malformed));
    }

    #[test]
    fn a_write_of_a_whole_chunk_fits_a_frame() {
        let (mut scratch, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME]);
        let data = [0xAB; CHUNK];
        let request = Request::Write {
            offset: u32::MAX,
            data: &data,
        };
        assert!(encode(&request, &mut scratch, &mut out).is_ok());
        let reply = Reply::Status(Status {
            slot: Slot::B,
            boot: BootKind::Confirmed,
            version: Some(u32::MAX),
            checksum: u32::MAX,
            output: &data,
        });
        assert!(encode(&reply, &mut scratch, &mut out).is_ok());
    }
}
