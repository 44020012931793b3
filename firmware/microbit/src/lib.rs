//! The BBC micro:bit v1 (nRF51822, Cortex-M0, 256 KiB flash, 16 KiB RAM) for mote's
//! runners: the board (regions, counter, pin), and for the field runner the chip's flash
//! controller (NVMC) and UART. The same image runs on the board and on QEMU's `microbit`;
//! `../memory/chip.x` has the memory map. Two programs: `mote-microbit` (`src/main.rs`, the
//! test and benchmark runner: samples in, results out over semihosting) and
//! `mote-microbit-field` (`src/bin/field.rs`, feature `field`: what a shipped device runs,
//! updated over its UART).
//!
//! Instructions are counted with TIMER0, the chip's own timer, at its full 16 MHz (62.5 ns a
//! tick; the Cortex-M0 of the nRF51 has no SysTick). `-icount shift=0` makes every guest
//! instruction 1 ns in QEMU, so a tick is 62.5 instructions there: counts are exact to 63
//! instructions. On the board it counts 16 MHz ticks, which are core clock cycles.
#![no_std]

use cortex_m as _; // its critical-section implementation (single core), which defmt needs
use mote_firmware::hw::{self, RegisterPin, Ticks};

#[cfg(feature = "field")]
mod field;
#[cfg(feature = "field")]
pub use field::{Nvmc, Uart, feed_watchdog, start_watchdog, system_reset};

/// TIMER0: TASKS_START +0x000, TASKS_CAPTURE[0] +0x040, MODE +0x504, BITMODE +0x508,
/// PRESCALER +0x510, CC[0] +0x540.
const TIMER0: usize = 0x4000_8000;
/// GPIO: OUTSET +0x508, OUTCLR +0x50C, DIRSET +0x518. P0.13 is row 1 of the LED matrix.
const GPIO: usize = 0x5000_0000;
const LED: u32 = 13;

unsafe extern "C" {
    static _stack_end: u8;
    static _stack_start: u8;
}

/// The board, as [`mote_firmware::Board`].
pub struct Microbit {
    ticks: Ticks,
    pin: RegisterPin,
}

impl Microbit {
    /// Starts the counter and makes the LED row an output.
    pub fn new() -> Self {
        hw::write(GPIO + 0x518, 1 << LED); // DIRSET: P0.13 is an output
        hw::write(TIMER0 + 0x504, 0); // MODE: timer
        hw::write(TIMER0 + 0x508, 3); // BITMODE: 32 bits
        hw::write(TIMER0 + 0x510, 0); // PRESCALER: 16 MHz
        hw::write(TIMER0, 1); // TASKS_START
        Microbit {
            ticks: Ticks::up(32, capture()),
            pin: RegisterPin {
                set: (GPIO + 0x508, 1 << LED),
                clear: (GPIO + 0x50C, 1 << LED),
            },
        }
    }
}

impl Default for Microbit {
    fn default() -> Self {
        Self::new()
    }
}

/// TIMER0's count now: a capture task copies it into CC[0].
fn capture() -> u32 {
    hw::write(TIMER0 + 0x040, 1);
    hw::read(TIMER0 + 0x540)
}

impl mote_firmware::Board for Microbit {
    const NAME: &'static str = "microbit (nRF51822, Cortex-M0)";
    type ResultPin = RegisterPin;

    fn stack(&self) -> core::ops::Range<usize> {
        (&raw const _stack_end).expose_provenance()..(&raw const _stack_start).expose_provenance()
    }

    /// 62.5 instructions a tick in QEMU (see the crate documentation).
    fn instructions(&mut self) -> u64 {
        self.ticks.update(capture()) * 125 / 2
    }

    fn result_pin(&mut self) -> &mut RegisterPin {
        &mut self.pin
    }
}
