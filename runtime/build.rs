//! Tells the kernels which architecture-specific micro-kernels the target can run. Stable Rust
//! does not expose Arm's `dsp` target feature to `cfg`, so the target name decides:
//! thumbv7em (Cortex-M4, M7) always has the DSP extension.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_arm_dsp)");
    println!("cargo::rerun-if-env-changed=TARGET");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") {
        println!("cargo::rustc-cfg=mote_arm_dsp");
    }
}
