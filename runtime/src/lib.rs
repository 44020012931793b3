//! mote: an int8 inference runtime for microcontrollers.
#![no_std]
#![warn(missing_docs)]

pub mod format;
