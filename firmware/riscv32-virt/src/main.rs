//! mote's runner on QEMU's RISC-V `virt` machine (RV32IMAC, machine mode): everything but the
//! board's addresses lives in `mote-firmware`; see `../memory/qemu.x` for the memory map.
#![no_std]
#![no_main]

use mote_firmware::hw::NoPin;

unsafe extern "C" {
    static __estack: u8;
    static __sstack: u8;
}

/// The `virt` machine. It has no GPIO: the result pin does nothing.
struct Virt {
    pin: NoPin,
}

impl mote_firmware::Board for Virt {
    const NAME: &'static str = "riscv32-virt (RV32IMAC)";
    type ResultPin = NoPin;

    fn stack(&self) -> core::ops::Range<usize> {
        // riscv-rt's `.stack`: from `__estack` (lowest address) up to `__sstack` (the top).
        addr(&raw const __estack)..addr(&raw const __sstack)
    }

    /// `minstret`: exact under QEMU's `-icount` (host time without it).
    fn instructions(&mut self) -> u64 {
        riscv::register::minstret::read64()
    }

    fn result_pin(&mut self) -> &mut NoPin {
        &mut self.pin
    }
}

fn addr(symbol: *const u8) -> usize {
    symbol.expose_provenance()
}

#[riscv_rt::entry]
fn main() -> ! {
    mote_firmware::run(Virt { pin: NoPin })
}

#[unsafe(export_name = "ExceptionHandler")]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    let cause = riscv::register::mcause::read().bits();
    mote_firmware::fault("exception", riscv::register::mepc::read(), "mcause", cause)
}

#[unsafe(export_name = "DefaultHandler")]
fn default_handler() -> ! {
    let cause = riscv::register::mcause::read().bits();
    mote_firmware::fault(
        "unexpected interrupt",
        riscv::register::mepc::read(),
        "mcause",
        cause,
    )
}
