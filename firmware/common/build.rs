//! Sizes the static arena, in this order:
//! 1. `MOTE_BLOB`: the path of a `.mote` blob. The arena is exactly what that model needs
//!    (`Model::parse(blob)?.arena_size()`), so the firmware's RAM is known before it runs.
//!    Relative paths are taken from the folder cargo was started in (`PWD`).
//! 2. `MOTE_ARENA_BYTES`: decimal, or hex with `0x`; `_` separators allowed.
//! 3. `MOTE_DEFAULT_ARENA_BYTES`: the board's default, set in its `.cargo/config.toml`
//!    (`[env]`) to what its RAM leaves after the stack.
//! 4. [`DEFAULT_ARENA_BYTES`].
//!
//! Setting both variables is an error.
//!
//! With the feature `compiled`, `MOTE_BLOB` is required: its model is compiled into the
//! firmware (`model.rs`, by `mote::compile`: validated here, no decoder on the device).
//!
//! `MOTE_PUBLIC_KEY`, the path of an Ed25519 public key in PEM (`mote keygen` writes
//! `<name>.pub.pem`; `openssl pkey -pubout` writes the same), builds firmware that runs only
//! signed models (see `choose_model` in `src/lib.rs`); without it, the firmware runs plain
//! blobs and takes signed ones unverified. Examples, in a board's folder:
//! `MOTE_BLOB=$PWD/../../models/digits/digits.mote cargo build --release`, or
//! `MOTE_ARENA_BYTES=300000 cargo build --release`. The linker refuses an arena that does not
//! fit the board's RAM.

use std::{env, fs, path::PathBuf};

/// Large enough for each MLPerf Tiny model (the largest, visual wake words, plans to well under
/// this) with room for a less tight memory plan; the QEMU boards have 4 MiB or more of RAM.
const DEFAULT_ARENA_BYTES: usize = 256 * 1024;

fn main() {
    public_key();
    if env::var_os("CARGO_FEATURE_COMPILED").is_some() {
        compiled_model();
    }
    println!("cargo:rerun-if-env-changed=MOTE_BLOB");
    println!("cargo:rerun-if-env-changed=MOTE_ARENA_BYTES");
    println!("cargo:rerun-if-env-changed=MOTE_DEFAULT_ARENA_BYTES");
    let blob = var("MOTE_BLOB");
    let bytes = var("MOTE_ARENA_BYTES");
    let (bytes, source) = match (blob, bytes) {
        (Some(_), Some(_)) => {
            panic!("MOTE_BLOB and MOTE_ARENA_BYTES are both set: the arena is sized by one")
        }
        (Some(path), None) => {
            let path = resolve(&path);
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = fs::read(&path)
                .unwrap_or_else(|e| panic!("MOTE_BLOB: cannot read {}: {e}", path.display()));
            // A signed blob sizes the arena by the model inside.
            let blob = mote::signed::Envelope::parse(&bytes).map_or(&bytes[..], |e| e.blob);
            let model = mote::Model::parse(blob).unwrap_or_else(|e| {
                panic!("MOTE_BLOB: {} is not a valid blob: {e}", path.display())
            });
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            (model.arena_size(), format!("what MOTE_BLOB {name} needs"))
        }
        (None, Some(text)) => {
            let bytes = parse(&text).unwrap_or_else(|| {
                panic!("MOTE_ARENA_BYTES={text:?} is not a byte count (decimal, or hex with 0x)")
            });
            assert!(bytes > 0, "MOTE_ARENA_BYTES must be at least 1");
            (bytes, "MOTE_ARENA_BYTES".to_string())
        }
        (None, None) => match var("MOTE_DEFAULT_ARENA_BYTES") {
            Some(text) => {
                let bytes = parse(&text).unwrap_or_else(|| {
                    panic!("MOTE_DEFAULT_ARENA_BYTES={text:?} is not a byte count")
                });
                (bytes, "the board's default".to_string())
            }
            None => (DEFAULT_ARENA_BYTES, "the default".to_string()),
        },
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(
        out.join("arena.rs"),
        format!(
            "/// Bytes in the static arena: {source}. Set at build time by `MOTE_BLOB` (a blob's \
             need), `MOTE_ARENA_BYTES`, or the board's default.\n\
             pub const ARENA_BYTES: usize = {bytes};\n"
        ),
    )
    .expect("cannot write arena.rs in OUT_DIR");
}

/// Writes `model.rs`: the blob of `MOTE_BLOB`, compiled in.
fn compiled_model() {
    let path = var("MOTE_BLOB").unwrap_or_else(|| {
        panic!("the feature `compiled` compiles in the blob MOTE_BLOB names: set MOTE_BLOB")
    });
    let path = resolve(&path);
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(message) = mote::compile::write_model(&path, &out.join("model.rs")) {
        panic!("MOTE_BLOB: {message}");
    }
}

/// The variable's value; unset and empty are the same.
fn var(name: &str) -> Option<String> {
    match env::var(name) {
        Ok(text) if text.trim().is_empty() => None,
        Ok(text) => Some(text),
        Err(env::VarError::NotPresent) => None,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// Cargo runs build scripts in the package's folder: a relative path is taken from where
/// cargo was started instead, as the shell's `PWD` says.
fn resolve(path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        return path;
    }
    match env::var_os("PWD") {
        Some(dir) => PathBuf::from(dir).join(path),
        None => panic!(
            "MOTE_BLOB={} is relative and PWD is unset: give an absolute path",
            path.display()
        ),
    }
}

fn parse(text: &str) -> Option<usize> {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Writes `public_key.rs`: the key of `MOTE_PUBLIC_KEY`, or none.
fn public_key() {
    println!("cargo:rerun-if-env-changed=MOTE_PUBLIC_KEY");
    let key = var("MOTE_PUBLIC_KEY").map(|path| {
        let path = resolve(&path);
        println!("cargo:rerun-if-changed={}", path.display());
        let pem = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("MOTE_PUBLIC_KEY: cannot read {}: {e}", path.display()));
        ed25519_public_key(&pem).unwrap_or_else(|| {
            panic!(
                "MOTE_PUBLIC_KEY: {} is not an Ed25519 public key in PEM (mote keygen writes \
                 one as <name>.pub.pem)",
                path.display()
            )
        })
    });
    let value = match key {
        Some(bytes) => format!("Some({bytes:?})"),
        None => "None".to_string(),
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(
        out.join("public_key.rs"),
        format!(
            "/// The Ed25519 key models must be signed with (`MOTE_PUBLIC_KEY` at build time), \
             or none: then plain blobs run.\n\
             pub const PUBLIC_KEY: Option<[u8; 32]> = {value};\n"
        ),
    )
    .expect("cannot write public_key.rs in OUT_DIR");
}

/// The 32 key bytes of an Ed25519 SubjectPublicKeyInfo in PEM: a fixed 12-byte DER prefix
/// (SEQUENCE, the algorithm id 1.3.101.112, a BIT STRING of 33 bytes) and the key.
fn ed25519_public_key(pem: &str) -> Option<[u8; 32]> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PUBLIC KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64(body.trim())?;
    let key = der.strip_prefix(&PREFIX[..])?;
    key.try_into().ok()
}

/// Standard base64 (with padding) to bytes.
fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}
