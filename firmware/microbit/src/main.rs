//! mote's test and benchmark runner on the BBC micro:bit v1: runs the model in the model
//! region over the samples in the input region, results over semihosting (see the library's
//! documentation).
#![no_std]
#![no_main]

use cortex_m_rt::{ExceptionFrame, entry, exception};
use mote_microbit::Microbit;

#[entry]
fn main() -> ! {
    mote_firmware::run(Microbit::new())
}

/// Armv6-M has no fault status registers: the program status register says what it can.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    mote_firmware::fault(
        "HardFault",
        frame.pc() as usize,
        "xPSR",
        frame.xpsr() as usize,
    )
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) -> ! {
    mote_firmware::fault("unexpected exception", 0, "IRQn", irqn as usize)
}
