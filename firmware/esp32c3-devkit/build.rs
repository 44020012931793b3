//! Adds the link scripts here, not in `.cargo/config.toml` rustflags, which a `RUSTFLAGS`
//! variable would silently replace: esp-hal's memory map (`linkall.x`), defmt's table, and
//! the board's region symbols (`memory/chip.x`).

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory/chip.x", out.join("mote-regions.x")).expect("cannot copy memory/chip.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory/chip.x");
    println!("cargo:rustc-link-arg=-Tlinkall.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    println!("cargo:rustc-link-arg=-Tmote-regions.x");
}
