//! mote's runner on the nRF52840 DK (nRF52840, Cortex-M4F, 1 MiB flash, 256 KiB RAM). No
//! emulator models this chip: the image is built in CI and flashed by users (`mote flash`);
//! the log and the results go over RTT (`mote flash --attach` prints them). `../memory/chip.x`
//! has the memory map. The chip's HAL drives LED1 as the result pin: it is active low, so it
//! is dark while an inference runs. The core's DWT cycle counter counts: on this board the
//! "instructions" in the log are core clock cycles (64 MHz).
#![no_std]
#![no_main]

use cortex_m::peripheral::{DWT, Peripherals as CorePeripherals};
use cortex_m_rt::entry;
use mote_firmware::hw::Ticks;
use nrf52840_hal::gpio::{Level, Output, Pin, PushPull, p0};
use nrf52840_hal::pac;

unsafe extern "C" {
    static _stack_end: u8;
    static _stack_start: u8;
}

struct Dk {
    ticks: Ticks,
    led: Pin<Output<PushPull>>,
}

impl mote_firmware::Board for Dk {
    const NAME: &'static str = "nrf52840-dk (nRF52840, Cortex-M4F)";
    type ResultPin = Pin<Output<PushPull>>;

    fn stack(&self) -> core::ops::Range<usize> {
        (&raw const _stack_end).expose_provenance()..(&raw const _stack_start).expose_provenance()
    }

    /// Core clock cycles (DWT CYCCNT).
    fn instructions(&mut self) -> u64 {
        self.ticks.update(DWT::cycle_count())
    }

    fn result_pin(&mut self) -> &mut Self::ResultPin {
        &mut self.led
    }
}

#[entry]
fn main() -> ! {
    let (Some(mut core), Some(chip)) = (CorePeripherals::take(), pac::Peripherals::take()) else {
        mote_firmware::exit(mote_firmware::protocol::EXIT_PANIC)
    };
    core.DCB.enable_trace();
    core.DWT.enable_cycle_counter();
    let port0 = p0::Parts::new(chip.P0);
    let led = port0.p0_13.into_push_pull_output(Level::High).degrade();
    mote_firmware::run(Dk {
        ticks: Ticks::up(32, DWT::cycle_count()),
        led,
    })
}

mote_firmware::cortex_m_fault_handlers!(CFSR);
