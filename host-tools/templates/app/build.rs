//! Puts the chip's memory map where the linker finds it, adds the link scripts, and sizes the
//! arena from `model.mote`: exactly what that model needs, known before the firmware is built.

use std::{env, fs, path::PathBuf};

/// The arena when there is no `model.mote`: {default_arena} bytes, what the chip's RAM leaves
/// after the stack.
const DEFAULT_ARENA_BYTES: usize = {default_arena};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("{memory_script}", out.join("{memory_script}")).expect("cannot copy {memory_script}");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory_script}");
    println!("cargo:rerun-if-changed=model.mote");
    for arg in [{link_args}] {
        println!("cargo:rustc-link-arg={arg}");
    }

    let (bytes, source) = match fs::read("model.mote") {
        Ok(file) => {
            // A signed blob (`mote sign`) is sized by the model inside.
            let blob = mote::signed::Envelope::parse(&file).map_or(&file[..], |e| e.blob);
            let model = mote::Model::parse(blob)
                .unwrap_or_else(|e| panic!("model.mote is not a valid mote blob: {e}"));
            (model.arena_size(), "what model.mote needs")
        }
        Err(_) => (DEFAULT_ARENA_BYTES, "the default: there is no model.mote"),
    };
    fs::write(
        out.join("arena.rs"),
        format!("/// Bytes of the arena: {source}.\nconst ARENA_BYTES: usize = {bytes};\n"),
    )
    .expect("cannot write arena.rs");
}
