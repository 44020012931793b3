//! mote's test and benchmark runner on the BBC micro:bit v1: runs the model in the model
//! region over the samples in the input region, results over semihosting (see the library's
//! documentation).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_microbit::Microbit;

#[entry]
fn main() -> ! {
    mote_firmware::run(Microbit::new())
}

mote_firmware::cortex_m_fault_handlers!(xPSR);
