//! Signed models on the host: `mote keygen` (an Ed25519 key pair, PEM files OpenSSL reads
//! too), `mote sign` (a blob in the signed envelope of `runtime/FORMAT.md`), and unwrapping
//! envelopes where the host runs or inspects a blob.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use mote::signed::{self, Envelope, SignedError};

/// The blob a file holds: inside its signed envelope if it has one (the signature is not
/// checked here: the device checks it), else the bytes as they are.
pub fn model_bytes(bytes: &[u8]) -> &[u8] {
    match Envelope::parse(bytes) {
        Ok(envelope) => envelope.blob,
        Err(_) => bytes,
    }
}

/// Where `mote keygen` puts the public key of the private key at `private`: `<name>.pub.pem`.
pub fn public_key_path(private: &Path) -> PathBuf {
    let stem = private
        .file_stem()
        .map_or_else(|| "key".into(), |s| s.to_string_lossy().into_owned());
    private.with_file_name(format!("{stem}.pub.pem"))
}

/// A new key pair from the operating system's random source: the private key as PKCS#8 PEM,
/// the public key as SubjectPublicKeyInfo PEM, and its 32 raw bytes.
///
/// # Errors
/// No random source, or encoding failing.
pub fn keygen() -> Result<(String, String, [u8; 32])> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no random source for the key: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    // PKCS#8 v1 (the private key alone), the form every OpenSSL reads.
    let private = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|e| anyhow!("cannot encode the private key: {e}"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow!("cannot encode the public key: {e}"))?;
    Ok((private.to_string(), public, key.verifying_key().to_bytes()))
}

/// The 32 bytes of a public key in SubjectPublicKeyInfo PEM (as `mote keygen` or
/// `openssl pkey -pubout` write it).
///
/// # Errors
/// Text that is not an Ed25519 public key.
pub fn public_key_from_pem(pem: &str) -> Result<[u8; 32]> {
    let key = VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| anyhow!("not an Ed25519 public key in PEM ({e})"))?;
    Ok(key.to_bytes())
}

/// `blob` in a signed envelope of `model_version`, signed with the PKCS#8 PEM private key
/// `key_pem`.
///
/// # Errors
/// A key that is not an Ed25519 private key, a blob that is already signed or does not
/// validate, or one too large for the envelope.
pub fn sign(blob: &[u8], key_pem: &str, model_version: u32) -> Result<Vec<u8>> {
    match Envelope::parse(blob) {
        Err(SignedError::NotSigned) => {}
        _ => bail!("the blob is already in a signed envelope: sign the plain blob"),
    }
    mote::Model::parse(blob).context("the blob does not validate, so it is not signed")?;
    let key = SigningKey::from_pkcs8_pem(key_pem)
        .map_err(|e| anyhow!("not an Ed25519 private key in PKCS#8 PEM ({e})"))?;
    let len = u32::try_from(blob.len()).context("the blob exceeds 4 GiB")?;
    let mut out = signed::header(model_version, len).to_vec();
    out.extend_from_slice(blob);
    let signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    ensure!(
        Envelope::parse(&out).is_ok_and(|e| e.blob == blob),
        "the envelope does not read back"
    );
    Ok(out)
}

/// Checks `bytes` (a signed envelope) against the public key PEM `public_pem`: its version
/// and the blob inside.
///
/// # Errors
/// Not an envelope, a bad key, or a signature that does not verify.
pub fn verify<'a>(bytes: &'a [u8], public_pem: &str) -> Result<(u32, &'a [u8])> {
    let key = public_key_from_pem(public_pem)?;
    let envelope = Envelope::parse(bytes)?;
    envelope.verify(&key)?;
    Ok((envelope.model_version, envelope.blob))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/digits/digits.mote"
        ))
        .unwrap()
    }

    #[test]
    fn signed_blobs_verify_and_unwrap() {
        let (private, public, raw) = keygen().unwrap();
        assert_eq!(public_key_from_pem(&public).unwrap(), raw);
        let blob = blob();
        let signed = sign(&blob, &private, 42).unwrap();
        assert_eq!(model_bytes(&signed), &blob[..]);
        assert_eq!(model_bytes(&blob), &blob[..]);
        assert_eq!(verify(&signed, &public).unwrap(), (42, &blob[..]));
        let (_, other, _) = keygen().unwrap();
        let err = format!("{:#}", verify(&signed, &other).unwrap_err());
        assert!(err.contains("does not verify"), "{err}");
        let err = format!("{:#}", sign(&signed, &private, 1).unwrap_err());
        assert!(err.contains("already in a signed envelope"), "{err}");
        let err = format!("{:#}", sign(&blob[..10], &private, 1).unwrap_err());
        assert!(err.contains("does not validate"), "{err}");
        let err = format!("{:#}", sign(&blob, &public, 1).unwrap_err());
        assert!(err.contains("not an Ed25519 private key"), "{err}");
    }
}
