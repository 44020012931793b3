//! The build script of every Cortex-M board (`build = "../common/link-cortex-m.rs"` in its
//! Cargo.toml): puts the board's memory map where cortex-m-rt's link.x includes it and adds the
//! link scripts here, not in `.cargo/config.toml` rustflags, which a `RUSTFLAGS` variable would
//! silently replace. The map is `memory/chip.x` on a kit (its chip's), `memory/qemu.x` on
//! QEMU's own boards.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = ["memory/chip.x", "memory/qemu.x"]
        .into_iter()
        .find(|m| fs::metadata(m).is_ok())
        .expect("the board has no memory/chip.x or memory/qemu.x");
    // Copied under the name link.x includes; kept in `memory/` so that the linker never picks
    // up a stray memory.x from the package's folder instead.
    fs::copy(map, out.join("memory.x")).unwrap_or_else(|e| panic!("cannot copy {map}: {e}"));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
    println!("cargo:rustc-link-arg=--nmagic");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
}
