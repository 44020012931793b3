//! Compiles the digits model in (validated now, on the host: `mote::compile`), and puts the
//! memory map where cortex-m-rt's link.x includes it (as ../common/link-cortex-m.rs does for
//! the boards, without defmt's link script: nothing here logs).

use std::{env, fs, path::PathBuf};

fn main() {
    mote::compile::build_script("../../models/digits/digits.mote", "digits.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory/qemu.x", out.join("memory.x")).expect("cannot copy memory/qemu.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory/qemu.x");
    println!("cargo:rustc-link-arg=--nmagic");
    println!("cargo:rustc-link-arg=-Tlink.x");
}
