//! What a shipped micro:bit runs (`mote-microbit-field`, feature `field`): the model its slot
//! journal chooses, and model updates over the UART (P0.24 TX, P0.25 RX, 115200 baud; the
//! USB serial port of the board's interface chip). See `mote_firmware::field`.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use mote_firmware::field::{Field, serve};
use mote_microbit::{Microbit, Nvmc, Uart, feed_watchdog, start_watchdog, system_reset};

#[entry]
fn main() -> ! {
    start_watchdog();
    serve(
        Microbit::new(),
        Field {
            flash: Nvmc::new(),
            flash_base: Nvmc::BASE,
            serial: Uart::new(),
            reset: system_reset,
            feed: feed_watchdog,
        },
    )
}

/// A fault restarts the chip: during a new model's trial, the next boot reverts it.
#[exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    system_reset()
}

#[exception]
unsafe fn DefaultHandler(_irqn: i16) -> ! {
    system_reset()
}
