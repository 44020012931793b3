//! Signed models: an envelope around a blob that carries a monotonic model version and an
//! Ed25519 signature (RFC 8032) over both, so that a device built with a public key runs only
//! models its owner signed, and never an older one than it runs (see `FORMAT.md`, "Signed
//! envelope").
//!
//! [`Envelope::parse`] only reads the layout (no cryptography: a firmware without a key
//! unwraps envelopes too); [`Envelope::verify`] (feature `signed`) checks the signature with
//! `ed25519-dalek`, strictly (no malleable or small-order keys and signatures).

use core::fmt;

/// The envelope's first bytes.
pub const MAGIC: [u8; 4] = *b"MSIG";
/// The envelope layout this runtime reads.
pub const ENVELOPE_VERSION: u16 = 1;
/// Bytes before the blob: magic, envelope version, reserved, model version, blob length.
pub const HEADER_LEN: usize = 16;
/// Bytes of the Ed25519 signature after the blob.
pub const SIGNATURE_LEN: usize = 64;

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignedError {
    /// The bytes do not start with `MSIG`: an unsigned blob, or no model at all.
    NotSigned,
    /// Shorter than the header, the blob length it declares and the signature.
    Truncated,
    /// An envelope layout this runtime does not read.
    UnsupportedVersion(u16),
    /// The public key is not a valid Ed25519 point.
    BadKey,
    /// The signature does not verify: the model was not signed with this key, or it changed.
    BadSignature,
}

impl fmt::Display for SignedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SignedError::NotSigned => write!(f, "the model is not signed (no MSIG envelope)"),
            SignedError::Truncated => write!(f, "the signed envelope is truncated"),
            SignedError::UnsupportedVersion(v) => write!(
                f,
                "signed envelope version {v} is not supported (this runtime reads version \
                 {ENVELOPE_VERSION})"
            ),
            SignedError::BadKey => write!(f, "the public key is not a valid Ed25519 key"),
            SignedError::BadSignature => {
                write!(f, "the signature does not verify with this firmware's key")
            }
        }
    }
}

impl core::error::Error for SignedError {}

/// A signed envelope, borrowed from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The model version the signer gave it (a device refuses one lower than it runs).
    pub model_version: u32,
    /// The blob inside (not yet validated: give it to `Model::parse`).
    pub blob: &'a [u8],
    /// Header and blob: what the signature covers.
    signed: &'a [u8],
    signature: &'a [u8; SIGNATURE_LEN],
}

/// The header of an envelope around a blob of `blob_len` bytes.
pub fn header(model_version: u32, blob_len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let fields = [
        &MAGIC[..],
        &ENVELOPE_VERSION.to_le_bytes(),
        &[0, 0],
        &model_version.to_le_bytes(),
        &blob_len.to_le_bytes(),
    ];
    let mut at = 0;
    for field in fields {
        if let Some(dst) = h.get_mut(at..at + field.len()) {
            dst.copy_from_slice(field);
        }
        at += field.len();
    }
    h
}

impl<'a> Envelope<'a> {
    /// Reads an envelope at the start of `bytes` (anything after the signature, such as
    /// erased flash, is ignored).
    ///
    /// # Errors
    /// [`SignedError::NotSigned`] without the magic, [`SignedError::UnsupportedVersion`] for
    /// another layout, [`SignedError::Truncated`] when the bytes end early.
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>, SignedError> {
        let Some((head, _)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(if bytes.starts_with(&MAGIC) || bytes.len() < MAGIC.len() {
                SignedError::Truncated
            } else {
                SignedError::NotSigned
            });
        };
        let [m0, m1, m2, m3, v0, v1, _, _, a0, a1, a2, a3, l0, l1, l2, l3] = *head;
        if [m0, m1, m2, m3] != MAGIC {
            return Err(SignedError::NotSigned);
        }
        let version = u16::from_le_bytes([v0, v1]);
        if version != ENVELOPE_VERSION {
            return Err(SignedError::UnsupportedVersion(version));
        }
        let model_version = u32::from_le_bytes([a0, a1, a2, a3]);
        let blob_len = usize::try_from(u32::from_le_bytes([l0, l1, l2, l3]))
            .map_err(|_| SignedError::Truncated)?;
        let signed_len = HEADER_LEN
            .checked_add(blob_len)
            .ok_or(SignedError::Truncated)?;
        let signed = bytes.get(..signed_len).ok_or(SignedError::Truncated)?;
        let signature = bytes
            .get(signed_len..)
            .and_then(|rest| rest.first_chunk::<SIGNATURE_LEN>())
            .ok_or(SignedError::Truncated)?;
        let blob = signed.get(HEADER_LEN..).ok_or(SignedError::Truncated)?;
        Ok(Envelope {
            model_version,
            blob,
            signed,
            signature,
        })
    }

    /// Header and blob: the bytes the signature covers.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }

    /// Bytes of the whole envelope (header, blob, signature).
    pub fn envelope_len(&self) -> usize {
        self.signed.len() + SIGNATURE_LEN
    }

    /// Checks the signature with `public_key` (32 bytes, compressed Edwards point).
    ///
    /// # Errors
    /// [`SignedError::BadKey`] for a key that is not a valid point, [`SignedError::BadSignature`]
    /// when the signature does not verify strictly.
    #[cfg(feature = "signed")]
    pub fn verify(&self, public_key: &[u8; 32]) -> Result<(), SignedError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| SignedError::BadKey)?;
        let signature = ed25519_dalek::Signature::from_bytes(self.signature);
        key.verify_strict(self.signed, &signature)
            .map_err(|_| SignedError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(version: u32, blob: &[u8], signature: [u8; 64]) -> std::vec::Vec<u8> {
        let mut v = header(version, u32::try_from(blob.len()).unwrap()).to_vec();
        v.extend_from_slice(blob);
        v.extend_from_slice(&signature);
        v
    }

    extern crate std;

    #[test]
    fn layout_round_trips_and_trailing_bytes_are_ignored() {
        let mut bytes = envelope(7, b"blob bytes", [3; 64]);
        bytes.extend_from_slice(&[0xFF; 32]);
        let e = Envelope::parse(&bytes).unwrap();
        assert_eq!((e.model_version, e.blob), (7, &b"blob bytes"[..]));
        assert_eq!(e.signed_bytes().len(), HEADER_LEN + 10);
        assert_eq!(e.envelope_len(), HEADER_LEN + 10 + SIGNATURE_LEN);
    }

    #[cfg(feature = "signed")]
    #[test]
    fn signatures_verify_only_with_their_key_and_bytes() {
        use ed25519_dalek::{Signer, SigningKey};
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let mut bytes = header(3, 5).to_vec();
        bytes.extend_from_slice(b"hello");
        let signature = key.sign(&bytes).to_bytes();
        bytes.extend_from_slice(&signature);
        assert_eq!(Envelope::parse(&bytes).unwrap().verify(&public), Ok(()));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert_eq!(
            Envelope::parse(&bytes).unwrap().verify(&other),
            Err(SignedError::BadSignature)
        );
        // Any changed byte (version, blob, signature) breaks it.
        for at in [8, HEADER_LEN + 2, HEADER_LEN + 5 + 10] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            assert_eq!(
                Envelope::parse(&changed).unwrap().verify(&public),
                Err(SignedError::BadSignature),
                "byte {at}"
            );
        }
        // Not every 32 bytes are a point on the curve.
        let not_a_point = (2u8..)
            .map(|y| {
                let mut k = [0u8; 32];
                k[0] = y;
                k
            })
            .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
            .unwrap();
        assert_eq!(
            Envelope::parse(&bytes).unwrap().verify(&not_a_point),
            Err(SignedError::BadKey)
        );
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        let bytes = envelope(1, b"abc", [0; 64]);
        assert_eq!(Envelope::parse(b"MOTE...."), Err(SignedError::NotSigned));
        assert_eq!(
            Envelope::parse(b"MOTE and more bytes"),
            Err(SignedError::NotSigned)
        );
        assert_eq!(Envelope::parse(b"MS"), Err(SignedError::Truncated));
        for cut in 0..bytes.len() {
            assert!(Envelope::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut other = bytes.clone();
        other[4] = 2;
        assert_eq!(
            Envelope::parse(&other),
            Err(SignedError::UnsupportedVersion(2))
        );
        let mut long = bytes.clone();
        long[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Envelope::parse(&long), Err(SignedError::Truncated));
    }
}
