//! mote's runner on the B-L475E-IOT01A Discovery kit (STM32L475VG, Cortex-M4F, 1 MiB flash,
//! 128 KiB RAM), the same image on the kit and on QEMU's `b-l475e-iot01a`. It boots from flash
//! with the clocks as reset leaves them (4 MHz MSI); `../memory/chip.x` has the memory map.
//!
//! Instructions are counted with SysTick on the core clock (QEMU does not model the chip's
//! timers). At 4 MHz a tick is 250 ns; `-icount shift=1` makes every guest instruction 2 ns,
//! so in QEMU a tick is 125 instructions, exactly: counts are multiples of 125. On the kit
//! it counts core clock cycles. SysTick is 24 bits wide: it must be read at least every
//! 2^24 ticks (2.1e9 instructions in QEMU), which the runner does, once per operator.
#![no_std]
#![no_main]

use cortex_m as _; // its critical-section implementation (single core), which defmt needs
use cortex_m_rt::entry;
use mote_firmware::hw::{self, RegisterPin, Ticks};

/// RCC AHB2ENR: the GPIO clocks.
const RCC_AHB2ENR: usize = 0x4002_104C;
/// SysTick: CSR +0x0 (enable, clock source), RVR +0x4 (reload), CVR +0x8 (current value).
const SYST: usize = 0xE000_E010;
/// Guest instructions per SysTick tick in QEMU: 250 ns at 4 MHz over 2 ns per instruction
/// (`-icount shift=1`, which the host's runner passes).
const INSTRUCTIONS_PER_TICK: u64 = 125;
/// GPIOB: MODER +0x00, BSRR +0x18. The kit's green user LED (LD2) is PB14.
const GPIOB: usize = 0x4800_0400;
const LED: u32 = 14;
unsafe extern "C" {
    static _stack_end: u8;
    static _stack_start: u8;
}

struct Discovery {
    ticks: Ticks,
    pin: RegisterPin,
}

impl Discovery {
    fn new() -> Self {
        hw::set_bits(RCC_AHB2ENR, 1 << 1); // GPIOB clock
        // PB14: output (MODER resets to analog, 0b11, on this chip).
        let moder = hw::read(GPIOB) & !(0b11 << (2 * LED));
        hw::write(GPIOB, moder | 0b01 << (2 * LED));
        hw::write(SYST + 0x4, 0x00FF_FFFF); // RVR: the full 24 bits
        hw::write(SYST + 0x8, 0); // CVR: any write clears it
        hw::write(SYST, 0b101); // CSR: enable, core clock, no interrupt
        Discovery {
            ticks: Ticks::down(24, hw::read(SYST + 0x8)),
            pin: RegisterPin {
                set: (GPIOB + 0x18, 1 << LED),
                clear: (GPIOB + 0x18, 1 << (LED + 16)),
            },
        }
    }
}

impl mote_firmware::Board for Discovery {
    const NAME: &'static str = "b-l475e-iot01a (STM32L475, Cortex-M4F)";
    type ResultPin = RegisterPin;

    fn stack(&self) -> core::ops::Range<usize> {
        (&raw const _stack_end).expose_provenance()..(&raw const _stack_start).expose_provenance()
    }

    fn instructions(&mut self) -> u64 {
        self.ticks.update(hw::read(SYST + 0x8)) * INSTRUCTIONS_PER_TICK
    }

    fn result_pin(&mut self) -> &mut RegisterPin {
        &mut self.pin
    }
}

#[entry]
fn main() -> ! {
    mote_firmware::run(Discovery::new())
}

mote_firmware::cortex_m_fault_handlers!(CFSR);
