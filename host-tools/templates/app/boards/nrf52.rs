//! The {board}'s result pin: LED1 (P0.13, lit when the pin is driven low), through the GPIO's
//! OUTSET/OUTCLR registers (from the nRF52840 product specification; swap in your HAL's pin if
//! you use one: anything that implements `embedded_hal::digital::OutputPin`).

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};

/// GPIO port 0: OUTSET +0x508, OUTCLR +0x50C, DIRSET +0x518.
const GPIO: usize = 0x5000_0000;
const PIN: u32 = 13;

/// The LED, off, its pin an output.
pub fn result_pin() -> Led {
    write(GPIO + 0x508, 1 << PIN);
    write(GPIO + 0x518, 1 << PIN);
    Led
}

/// LED1. `set_high` lights it.
pub struct Led;

impl ErrorType for Led {
    type Error = Infallible;
}

impl OutputPin for Led {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(GPIO + 0x508, 1 << PIN);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write(GPIO + 0x50C, 1 << PIN);
        Ok(())
    }
}

fn write(addr: usize, value: u32) {
    // SAFETY: GPIO's registers on this chip.
    unsafe { core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(value) }
}
