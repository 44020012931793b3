//! Tells the kernels which architecture-specific micro-kernels the target can run. Stable Rust
//! does not expose Arm's `dsp` target feature to `cfg`, so the target name decides:
//! thumbv7em (Cortex-M4, M7) always has the DSP extension. RISC-V targets get `mote_riscv`;
//! `MOTE_RISCV_KERNELS=1` selects the RISC-V kernels on any target (their two assembly helpers
//! then in Rust), so that Miri can check their pointer arithmetic on the host.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_arm_dsp)");
    println!("cargo::rustc-check-cfg=cfg(mote_riscv)");
    println!("cargo::rerun-if-env-changed=TARGET");
    println!("cargo::rerun-if-env-changed=MOTE_RISCV_KERNELS");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") {
        println!("cargo::rustc-cfg=mote_arm_dsp");
    } else if target.starts_with("riscv32")
        || std::env::var("MOTE_RISCV_KERNELS").is_ok_and(|v| v == "1")
    {
        println!("cargo::rustc-cfg=mote_riscv");
    }
}
