//! mote's runner on the Arm MPS2 AN385 (Cortex-M3), built for Armv6-M (thumbv6m: QEMU's M3
//! runs it; a thumbv7em image faults there). The board code is shared with mps2-an386.
#![no_std]
#![no_main]

const NAME: &str = "mps2-an385 (Cortex-M3, Armv6-M code)";

#[path = "../../mps2-an386/src/mps2.rs"]
mod mps2;
