//! The smallest application of mote, as a new user writes it: the bundled digits MLP compiled
//! into the image (build.rs: `mote::compile`; with the `blob` feature, the blob itself, parsed
//! at boot), an arena of the size the model needs, one inference. It reads one 64-byte sample
//! from where QEMU's `-device loader` puts it, prints the ten scores in hex through
//! semihosting and exits 0 (any error exits 1). `tests/firmware_size.rs` builds it, holds its
//! size and checks the scores against the host's.
#![no_std]
#![no_main]

use core::arch::asm;

/// `MODEL` and `ARENA_BYTES`, written by build.rs.
#[cfg_attr(feature = "blob", allow(dead_code))]
mod digits {
    include!(concat!(env!("OUT_DIR"), "/digits.rs"));
}

const SAMPLE_BYTES: usize = 64;

unsafe extern "C" {
    static __input_start: [u8; SAMPLE_BYTES];
}

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: the linker script reserves the region, QEMU's loader writes it before reset
    // and nothing writes it afterwards.
    let sample: &[u8] = unsafe { &*core::ptr::addr_of!(__input_start) };
    match infer(sample) {
        Ok(()) => exit(true),
        Err(_) => exit(false),
    }
}

fn infer(sample: &[u8]) -> Result<(), mote::Error> {
    let mut arena = [0u8; digits::ARENA_BYTES];
    #[cfg(not(feature = "blob"))]
    let model = &digits::MODEL;
    #[cfg(feature = "blob")]
    let model = &mote::Model::parse(include_bytes!("../../../models/digits/digits.mote"))?;
    let mut interpreter = mote::Interpreter::new(model, &mut arena)?;
    interpreter.set_input(0, sample)?;
    interpreter.invoke()?;
    for &byte in interpreter.output(0)? {
        for nibble in [byte >> 4, byte & 15] {
            write_char(b"0123456789abcdef"[usize::from(nibble)]);
        }
    }
    write_char(b'\n');
    Ok(())
}

/// Arm semihosting: operation in r0, argument in r1, `bkpt 0xab`.
fn semihost(operation: u32, argument: u32) {
    // SAFETY: QEMU (`-semihosting-config enable=on`) handles the breakpoint; the operations
    // used read at most the one byte `argument` points to.
    unsafe { asm!("bkpt 0xab", inout("r0") operation => _, in("r1") argument, options(nostack)) }
}

/// SYS_WRITEC: one character to the console.
fn write_char(c: u8) {
    semihost(0x03, core::ptr::addr_of!(c) as u32);
}

/// SYS_EXIT: ADP_Stopped_ApplicationExit (QEMU exits 0) or RunTimeErrorUnknown (exits 1).
fn exit(success: bool) -> ! {
    semihost(0x18, if success { 0x2_0026 } else { 0x2_0023 });
    // Not reached under QEMU; a debugger without semihosting stops here.
    loop {
        // SAFETY: waits for an interrupt; touches no memory.
        unsafe { asm!("wfi", options(nomem, nostack)) }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}
