// The MPS2 board support shared by mps2-an386 and mps2-an385 (`#[path]`-included by both):
// linker-symbol regions, TIMER0 as the instruction counter, FPGAIO LED0 as the result pin,
// fault handlers. The including crate defines `NAME`.

use core::convert::Infallible;

// Linked for its critical-section implementation (single core), which defmt needs.
use cortex_m as _;

use cortex_m_rt::entry;
use embedded_hal::digital::{ErrorType, OutputPin};
use mote_firmware::hw::{Ticks, read, write};

/// CMSDK APB timer 0: CTRL +0 (bit 0 enable), VALUE +4 (counts down), RELOAD +8.
const TIMER0: usize = 0x4000_0000;
/// FPGA I/O block: LED0 register at +0, one bit per user LED.
const FPGAIO_LED0: usize = 0x4002_8000;
/// Guest instructions per TIMER0 tick when QEMU runs with `-icount shift=3`: the timer ticks
/// at 25 MHz (40 ns) and each instruction takes 2^3 ns of virtual time. The host's runner
/// (`mote_tools::device::qemu`) and `.cargo/config.toml` pass that shift.
const INSTRUCTIONS_PER_TICK: u64 = 40 >> 3;

unsafe extern "C" {
    static _stack_end: u8;
    static _stack_start: u8;
}

/// An MPS2 board in QEMU.
pub struct Mps2 {
    /// TIMER0's ticks so far, wraps of the 32-bit timer included.
    ticks: Ticks,
    pin: Led0,
}

impl Mps2 {
    fn new() -> Self {
        write(TIMER0 + 0x8, u32::MAX); // RELOAD: a full 2^32-tick period, so wrapping_sub works
        write(TIMER0 + 0x4, u32::MAX); // VALUE
        write(TIMER0, 1); // CTRL: enable, no interrupt
        Mps2 {
            ticks: Ticks::down(32, read(TIMER0 + 0x4)),
            pin: Led0,
        }
    }
}

impl mote_firmware::Board for Mps2 {
    const NAME: &'static str = crate::NAME;
    type ResultPin = Led0;

    fn stack(&self) -> core::ops::Range<usize> {
        addr(&raw const _stack_end)..addr(&raw const _stack_start)
    }

    /// Right as long as reads are less than 2^32 ticks (21e9 instructions) apart.
    fn instructions(&mut self) -> u64 {
        self.ticks.update(read(TIMER0 + 0x4)) * INSTRUCTIONS_PER_TICK
    }

    fn result_pin(&mut self) -> &mut Led0 {
        &mut self.pin
    }
}

fn addr(symbol: *const u8) -> usize {
    symbol.expose_provenance()
}

/// User LED 0 of the FPGA I/O block: the result pin.
pub struct Led0;

impl ErrorType for Led0 {
    type Error = Infallible;
}

impl OutputPin for Led0 {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(FPGAIO_LED0, read(FPGAIO_LED0) & !1);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write(FPGAIO_LED0, read(FPGAIO_LED0) | 1);
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    mote_firmware::run(Mps2::new())
}

mote_firmware::cortex_m_fault_handlers!(CFSR);
