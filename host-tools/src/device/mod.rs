//! A blob on an emulated microcontroller: [`qemu`] builds a board's firmware and runs the blob
//! in QEMU, [`bench`] measures what a model costs there, [`bench_suite`] does so for the
//! reference models against the committed results.

pub mod bench;
pub mod bench_suite;
pub mod qemu;
