//! Small pieces every board package needs and no HAL gives the same way on each chip:
//! register access, a 64-bit count from a narrow hardware counter, and a pin made of set and
//! clear registers. Boards stay a page of addresses and constants.

use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, OutputPin};

/// Reads the 32-bit memory-mapped register at `addr`.
pub fn read(addr: usize) -> u32 {
    // SAFETY: boards pass the address of one of their memory-mapped registers, which is
    // always readable and has no read side effects the runner relies on.
    unsafe { core::ptr::with_exposed_provenance::<u32>(addr).read_volatile() }
}

/// Writes the 32-bit memory-mapped register at `addr`.
pub fn write(addr: usize, value: u32) {
    // SAFETY: boards pass the address of one of their memory-mapped registers.
    unsafe { core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(value) }
}

/// Sets the bits of `mask` in the register at `addr` (read-modify-write).
pub fn set_bits(addr: usize, mask: u32) {
    write(addr, read(addr) | mask);
}

/// A free-running hardware counter of `bits` bits (up or down), extended to 64 bits. Right as
/// long as it is read at least once per wrap of the hardware counter.
pub struct Ticks {
    last: u32,
    total: u64,
    mask: u32,
    down: bool,
}

impl Ticks {
    /// A counter that counts up, `bits` wide, whose value is now `now`.
    pub const fn up(bits: u32, now: u32) -> Self {
        Ticks::new(bits, now, false)
    }

    /// A counter that counts down, `bits` wide, whose value is now `now`.
    pub const fn down(bits: u32, now: u32) -> Self {
        Ticks::new(bits, now, true)
    }

    const fn new(bits: u32, now: u32, down: bool) -> Self {
        let mask = if bits >= 32 {
            u32::MAX
        } else {
            (1 << bits) - 1
        };
        Ticks {
            last: now & mask,
            total: 0,
            mask,
            down,
        }
    }

    /// Ticks since the counter was made, given the counter's value `now`.
    pub fn update(&mut self, now: u32) -> u64 {
        let now = now & self.mask;
        let elapsed = if self.down {
            self.last.wrapping_sub(now)
        } else {
            now.wrapping_sub(self.last)
        } & self.mask;
        self.total += u64::from(elapsed);
        self.last = now;
        self.total
    }
}

/// A GPIO output driven through two write-only registers, one that sets pins and one that
/// clears them (STM32 `BSRR`, whose upper half clears; nRF `OUTSET`/`OUTCLR`). Writes touch
/// only this pin, so no read-modify-write races the rest of the port.
pub struct RegisterPin {
    /// Register and value that drive the pin high.
    pub set: (usize, u32),
    /// Register and value that drive the pin low.
    pub clear: (usize, u32),
}

impl ErrorType for RegisterPin {
    type Error = Infallible;
}

impl OutputPin for RegisterPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write(self.clear.0, self.clear.1);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write(self.set.0, self.set.1);
        Ok(())
    }
}

/// A result pin for a board without one: does nothing.
pub struct NoPin;

impl ErrorType for NoPin {
    type Error = Infallible;
}

impl OutputPin for NoPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
