//! The {board}'s result pin: the top-left LED of the 5x5 matrix, row 1 (P0.13) driven high
//! with column 1 (P0.04) held low, through the GPIO's OUTSET/OUTCLR registers (from the nRF51
//! reference manual; swap in your HAL's pin if you use one: anything that implements
//! `embedded_hal::digital::OutputPin`).

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};

/// GPIO: OUTSET +0x508, OUTCLR +0x50C, DIRSET +0x518.
const GPIO: usize = 0x5000_0000;
const ROW: u32 = 13;
const COLUMN: u32 = 4;

/// The LED, its row and column set up as outputs.
pub fn result_pin() -> Led {
    write(GPIO + 0x518, (1 << ROW) | (1 << COLUMN));
    write(GPIO + 0x50C, (1 << ROW) | (1 << COLUMN));
    Led
}

/// The matrix LED at row 1, column 1.
pub struct Led;

impl ErrorType for Led {
    type Error = Infallible;
}

impl OutputPin for Led {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(GPIO + 0x50C, 1 << ROW);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write(GPIO + 0x508, 1 << ROW);
        Ok(())
    }
}

fn write(addr: usize, value: u32) {
    // SAFETY: GPIO's registers on this chip.
    unsafe { core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(value) }
}
