//! Puts the board's memory layout where the linker finds it and adds the link scripts here,
//! not in `.cargo/config.toml` rustflags, which a `RUSTFLAGS` variable would silently replace.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Copied under the name the runtime crate's link.x includes; kept in `memory/` so that
    // the linker never picks up a stray memory.x from the package's folder instead.
    fs::copy("memory/chip.x", out.join("memory.x")).expect("cannot copy memory/chip.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory/chip.x");
    println!("cargo:rustc-link-arg=--nmagic");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
}
