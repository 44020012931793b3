//! The {board}'s result pin: {led}, the kit's user LED, driven through its port's BSRR
//! register (registers from the chip's reference manual; swap in your HAL's pin if you use
//! one: anything that implements `embedded_hal::digital::OutputPin`).

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};

/// RCC register that enables the GPIO port's clock, and the port's bit in it.
const RCC_GPIO_ENABLE: (usize, u32) = ({rcc_enable}, {rcc_bit});
/// The GPIO port: MODER at +0x00, BSRR at +0x18.
const PORT: usize = {port};
/// The pin in the port.
const PIN: u32 = {pin};

/// The LED, set up as a push-pull output.
pub fn result_pin() -> Led {
    set_bits(RCC_GPIO_ENABLE.0, 1 << RCC_GPIO_ENABLE.1);
    let moder = read(PORT) & !(0b11 << (2 * PIN));
    write(PORT, moder | (0b01 << (2 * PIN)));
    Led
}

/// The user LED.
pub struct Led;

impl ErrorType for Led {
    type Error = Infallible;
}

impl OutputPin for Led {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(PORT + 0x18, 1 << (PIN + 16));
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write(PORT + 0x18, 1 << PIN);
        Ok(())
    }
}

fn read(addr: usize) -> u32 {
    // SAFETY: the addresses above are this chip's GPIO and RCC registers.
    unsafe { core::ptr::with_exposed_provenance::<u32>(addr).read_volatile() }
}

fn write(addr: usize, value: u32) {
    // SAFETY: the addresses above are this chip's GPIO and RCC registers.
    unsafe { core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(value) }
}

fn set_bits(addr: usize, mask: u32) {
    write(addr, read(addr) | mask);
}
