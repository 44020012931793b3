//! mote: an int8 inference runtime for microcontrollers.
//!
//! `no_std`, no allocation, no panics on any input: a blob (see `FORMAT.md`) is validated once
//! by [`Model::parse`], on the device or, for a model compiled into the firmware, by its build
//! script ([`Model::from_compiled`], `mote::compile`); an [`Interpreter`] then runs it in an
//! arena the caller owns.
//!
//! ```no_run
//! # fn run(blob: &[u8], sample: &[u8]) -> Result<(), mote::Error> {
//! let model = mote::Model::parse(blob)?;
//! let mut arena = [0u8; 4096];
//! let mut interpreter = mote::Interpreter::new(&model, &mut arena)?;
//! interpreter.set_input(0, sample)?;
//! interpreter.invoke()?;
//! let scores = interpreter.output(0)?;
//! # let _ = scores; Ok(()) }
//! ```
#![no_std]
#![warn(missing_docs)]
// No panic paths on data from a blob: every index, slice and unwrap is checked or proven by
// validation. Tests may panic; kernels that index on validated shapes say so locally.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![deny(clippy::missing_errors_doc)]

#[cfg(feature = "compile")]
pub mod compile;
mod error;
pub mod format;
mod interpreter;
pub mod kernels;
mod model;
mod ops;
#[cfg(feature = "profile")]
pub mod profile;
pub mod signed;
#[cfg(feature = "update")]
pub mod update;

pub use error::Error;
/// The fixed-capacity vectors of the format's types (compiled-in models build them).
pub use heapless;
pub use interpreter::{Interpreter, Observer};
pub use model::{Model, OpIter};
