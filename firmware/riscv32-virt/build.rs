//! Puts the board's memory layout where the linker finds it and adds the link scripts here,
//! not in `.cargo/config.toml` rustflags, which a `RUSTFLAGS` variable would silently replace.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Copied as memory.x (riscv-rt's link.x does not include it: hence -Tmemory.x below);
    // kept in `memory/` so that the linker never picks up a stray memory.x from the package's
    // folder instead.
    fs::copy("memory/qemu.x", out.join("memory.x")).expect("cannot copy memory/qemu.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory/qemu.x");
    println!("cargo:rustc-link-arg=-Tmemory.x");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
}
