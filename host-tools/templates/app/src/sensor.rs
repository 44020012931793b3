//! The model's input: one sample per read, as the model's quantized input bytes.
//!
//! A stub to replace. [`StubBus`] stands in for an I2C bus and answers every read with a
//! slowly changing pattern. Put your HAL's I2C in its place (any `embedded_hal::i2c::I2c`:
//! the same trait, so nothing else changes), and set your sensor's address and register. The
//! bytes must be quantized as the model's input is (`mote inspect model.mote` gives its scale
//! and zero point); an SPI sensor or an ADC reads through `embedded_hal::spi::SpiDevice` or
//! your HAL's ADC in the same place.

use core::convert::Infallible;

use embedded_hal::i2c::{ErrorType, I2c, Operation};

/// The sensor's 7-bit I2C address.
pub const ADDRESS: u8 = 0x48;
/// The register its samples are read from.
pub const DATA_REGISTER: u8 = 0x00;

/// A sensor on an I2C bus.
pub struct Sensor<B> {
    bus: B,
}

impl<B: I2c> Sensor<B> {
    /// The sensor on `bus`.
    pub fn new(bus: B) -> Self {
        Sensor { bus }
    }

    /// Fills `sample` (the model's input tensor) with one reading.
    pub fn read(&mut self, sample: &mut [u8]) -> Result<(), B::Error> {
        self.bus.write_read(ADDRESS, &[DATA_REGISTER], sample)
    }
}

/// A pretend I2C bus: reads return a pattern that shifts a little every time.
#[derive(Default)]
pub struct StubBus {
    round: u8,
}

impl ErrorType for StubBus {
    type Error = Infallible;
}

impl I2c for StubBus {
    fn transaction(&mut self, _address: u8, operations: &mut [Operation<'_>]) -> Result<(), Infallible> {
        for operation in operations {
            if let Operation::Read(buffer) = operation {
                for (i, byte) in buffer.iter_mut().enumerate() {
                    *byte = (i as u8).wrapping_mul(7).wrapping_add(self.round);
                }
            }
        }
        self.round = self.round.wrapping_add(1);
        Ok(())
    }
}
