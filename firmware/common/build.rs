//! Sizes the static arena: `MOTE_ARENA_BYTES` (decimal, or hex with `0x`; `_` separators
//! allowed) if set when the firmware is built, else [`DEFAULT_ARENA_BYTES`].
//!
//! Example: `MOTE_ARENA_BYTES=300000 cargo build --release` in a board's folder. The linker
//! refuses a value that does not fit the board's RAM.

use std::{env, fs, path::PathBuf};

/// Large enough for each MLPerf Tiny model (the largest, visual wake words, plans to well under
/// this) with room for a less tight memory plan; the QEMU boards have 4 MiB or more of RAM.
const DEFAULT_ARENA_BYTES: usize = 256 * 1024;

fn main() {
    println!("cargo:rerun-if-env-changed=MOTE_ARENA_BYTES");
    let bytes = match env::var("MOTE_ARENA_BYTES") {
        Ok(text) => parse(&text).unwrap_or_else(|| {
            panic!("MOTE_ARENA_BYTES={text:?} is not a byte count (decimal, or hex with 0x)")
        }),
        Err(env::VarError::NotPresent) => DEFAULT_ARENA_BYTES,
        Err(e) => panic!("MOTE_ARENA_BYTES: {e}"),
    };
    assert!(bytes > 0, "MOTE_ARENA_BYTES must be at least 1");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(
        out.join("arena.rs"),
        format!(
            "/// Bytes in the static arena (build-time `MOTE_ARENA_BYTES`, default {DEFAULT_ARENA_BYTES}).\n\
             pub const ARENA_BYTES: usize = {bytes};\n"
        ),
    )
    .expect("cannot write arena.rs in OUT_DIR");
}

fn parse(text: &str) -> Option<usize> {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
