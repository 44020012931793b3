//! mote's runner on the Netduino Plus 2 (STM32F405RG, Cortex-M4F, 1 MiB flash, 192 KiB RAM),
//! the same image on the kit and on QEMU's `netduinoplus2`. It boots from flash with the
//! clocks as reset leaves them (16 MHz HSI); `../memory/chip.x` has the memory map.
//!
//! Instructions are counted with TIM2, the chip's 32-bit general-purpose timer, free-running
//! with no prescaler. QEMU clocks its timer model at 1 GHz of virtual time, and `-icount
//! shift=0` makes every guest instruction 1 ns, so there one tick is one instruction, exactly.
//! On the kit it counts timer ticks (16 MHz at reset): a time, not an instruction count.
#![no_std]
#![no_main]

use cortex_m as _; // its critical-section implementation (single core), which defmt needs
use cortex_m_rt::entry;
use mote_firmware::hw::{self, RegisterPin, Ticks};

/// RCC: AHB1ENR (GPIO clocks) and APB1ENR (TIM2's clock).
const RCC_AHB1ENR: usize = 0x4002_3830;
const RCC_APB1ENR: usize = 0x4002_3840;
/// TIM2: CR1 +0x00, CNT +0x24, PSC +0x28, ARR +0x2C, EGR +0x14.
const TIM2: usize = 0x4000_0000;
/// GPIOA: MODER +0x00, BSRR +0x18. The kit's user LED is PA10.
const GPIOA: usize = 0x4002_0000;
const LED: u32 = 10;
unsafe extern "C" {
    static _stack_end: u8;
    static _stack_start: u8;
}

struct Netduino {
    ticks: Ticks,
    pin: RegisterPin,
}

impl Netduino {
    fn new() -> Self {
        hw::set_bits(RCC_AHB1ENR, 1 << 0); // GPIOA clock
        hw::set_bits(RCC_APB1ENR, 1 << 0); // TIM2 clock
        hw::set_bits(GPIOA, 0b01 << (2 * LED)); // PA10: output
        hw::write(TIM2 + 0x28, 0); // PSC: count every timer clock
        hw::write(TIM2 + 0x2C, u32::MAX); // ARR: the full 32 bits
        hw::write(TIM2 + 0x14, 1); // EGR.UG: load PSC and ARR now
        hw::write(TIM2, 1); // CR1.CEN: count up
        Netduino {
            ticks: Ticks::up(32, hw::read(TIM2 + 0x24)),
            pin: RegisterPin {
                set: (GPIOA + 0x18, 1 << LED),
                clear: (GPIOA + 0x18, 1 << (LED + 16)),
            },
        }
    }
}

impl mote_firmware::Board for Netduino {
    const NAME: &'static str = "netduinoplus2 (STM32F405, Cortex-M4F)";
    type ResultPin = RegisterPin;

    fn stack(&self) -> core::ops::Range<usize> {
        (&raw const _stack_end).expose_provenance()..(&raw const _stack_start).expose_provenance()
    }

    fn instructions(&mut self) -> u64 {
        self.ticks.update(hw::read(TIM2 + 0x24))
    }

    fn result_pin(&mut self) -> &mut RegisterPin {
        &mut self.pin
    }
}

#[entry]
fn main() -> ! {
    mote_firmware::run(Netduino::new())
}

mote_firmware::cortex_m_fault_handlers!(CFSR);
