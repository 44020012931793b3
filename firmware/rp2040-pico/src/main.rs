//! mote's runner on the Raspberry Pi Pico (RP2040, Cortex-M0+, 2 MiB flash, 264 KiB RAM), on
//! core 0. No emulator models this chip: the image is built in CI and flashed by users (`mote
//! flash`); the log and the results go over RTT (`mote flash --attach` prints them).
//! `../memory/chip.x` has the memory map, with the second-stage bootloader in front. The HAL
//! starts the crystal and the PLLs (125 MHz) and drives the on-board LED (GPIO 25) as the result
//! pin. The Cortex-M0+ has no cycle counter, so the chip's 64-bit microsecond timer counts: on
//! this board the "instructions" in the log are microseconds.
#![no_std]
#![no_main]

use rp2040_hal::gpio::bank0::Gpio25;
use rp2040_hal::gpio::{FunctionSioOutput, Pin, PullDown};
use rp2040_hal::{Clock as _, Sio, Timer, Watchdog, clocks, pac};

/// The second-stage bootloader for the Pico's W25Q080-class flash.
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XOSC_HZ: u32 = 12_000_000;

unsafe extern "C" {
    static _stack_end: u8;
    static _stack_start: u8;
}

type Led = Pin<Gpio25, FunctionSioOutput, PullDown>;

struct Pico {
    timer: Timer,
    led: Led,
}

impl mote_firmware::Board for Pico {
    const NAME: &'static str = "rp2040-pico (RP2040, Cortex-M0+)";
    type ResultPin = Led;

    fn stack(&self) -> core::ops::Range<usize> {
        (&raw const _stack_end).expose_provenance()..(&raw const _stack_start).expose_provenance()
    }

    /// Microseconds (the timer never wraps in practice: 64 bits).
    fn instructions(&mut self) -> u64 {
        self.timer.get_counter().ticks()
    }

    fn result_pin(&mut self) -> &mut Led {
        &mut self.led
    }
}

#[rp2040_hal::entry]
fn main() -> ! {
    let Some(mut chip) = pac::Peripherals::take() else {
        mote_firmware::exit(mote_firmware::protocol::EXIT_PANIC)
    };
    let mut watchdog = Watchdog::new(chip.WATCHDOG);
    let Ok(clocks) = clocks::init_clocks_and_plls(
        XOSC_HZ,
        chip.XOSC,
        chip.CLOCKS,
        chip.PLL_SYS,
        chip.PLL_USB,
        &mut chip.RESETS,
        &mut watchdog,
    ) else {
        mote_firmware::exit(mote_firmware::protocol::EXIT_PANIC)
    };
    defmt::info!("system clock {=u32} Hz", clocks.system_clock.freq().to_Hz());
    let timer = Timer::new(chip.TIMER, &mut chip.RESETS, &clocks);
    let sio = Sio::new(chip.SIO);
    let pins = rp2040_hal::gpio::Pins::new(
        chip.IO_BANK0,
        chip.PADS_BANK0,
        sio.gpio_bank0,
        &mut chip.RESETS,
    );
    let led = pins.gpio25.into_push_pull_output();
    mote_firmware::run(Pico { timer, led })
}

mote_firmware::cortex_m_fault_handlers!(xPSR);
