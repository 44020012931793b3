//! The {board}'s start-up and result pin: the second-stage bootloader the boot ROM runs
//! first (from `rp2040-boot2`, for the Pico's flash), and the on-board LED on GPIO 25, driven
//! through the SIO's set and clear registers once the GPIO banks are out of reset (registers
//! from the RP2040 datasheet; swap in your HAL's pin if you use one: anything that implements
//! `embedded_hal::digital::OutputPin`).

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};

/// The second-stage bootloader, first in flash (`memory.x` places `.boot2`).
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// RESETS: RESET +0x0 (its atomic-clear alias at +0x3000), RESET_DONE +0x8.
const RESETS: usize = 0x4000_C000;
/// IO_BANK0 and PADS_BANK0, in RESET.
const GPIO_BANKS: u32 = (1 << 5) | (1 << 8);
/// IO_BANK0 GPIO25_CTRL: its FUNCSEL 5 hands the pin to the SIO.
const GPIO25_CTRL: usize = 0x4001_40CC;
/// SIO: GPIO_OUT_SET +0x14, GPIO_OUT_CLR +0x18, GPIO_OE_SET +0x24.
const SIO: usize = 0xD000_0000;
const PIN: u32 = 25;

/// The LED, its pin an output.
pub fn result_pin() -> Led {
    write(RESETS + 0x3000, GPIO_BANKS);
    while read(RESETS + 0x8) & GPIO_BANKS != GPIO_BANKS {}
    write(GPIO25_CTRL, 5);
    write(SIO + 0x24, 1 << PIN);
    Led
}

/// The on-board LED.
pub struct Led;

impl ErrorType for Led {
    type Error = Infallible;
}

impl OutputPin for Led {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(SIO + 0x18, 1 << PIN);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write(SIO + 0x14, 1 << PIN);
        Ok(())
    }
}

fn read(addr: usize) -> u32 {
    // SAFETY: the addresses above are this chip's RESETS, IO_BANK0 and SIO registers.
    unsafe { core::ptr::with_exposed_provenance::<u32>(addr).read_volatile() }
}

fn write(addr: usize, value: u32) {
    // SAFETY: the addresses above are this chip's RESETS, IO_BANK0 and SIO registers.
    unsafe { core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(value) }
}
