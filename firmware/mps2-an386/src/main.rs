//! mote's runner on the Arm MPS2 AN386 (Cortex-M4F) in QEMU: everything but the board's
//! addresses lives in `mote-firmware`; see `../memory/qemu.x` for the memory map.
#![no_std]
#![no_main]

const NAME: &str = "mps2-an386 (Cortex-M4F)";

mod mps2;
