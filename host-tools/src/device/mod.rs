//! A blob on a microcontroller: [`qemu`] builds a board's firmware and runs the blob in QEMU,
//! [`flash`] lays out what goes into a board's flash and [`probe`] writes it into a kit,
//! [`update`] sends a model to a device's field runner over a serial link,
//! [`scaffold`] writes a firmware project for the user's own application on a kit,
//! [`bench`] measures what a model costs
//! on a board, [`bench_suite`] does so for the reference models against the committed results.

pub mod bench;
pub mod bench_suite;
pub mod flash;
#[cfg(feature = "probe")]
pub mod probe;
pub mod qemu;
pub mod scaffold;
pub mod update;
