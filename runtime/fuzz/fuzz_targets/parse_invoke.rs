//! Parse, then run every operator on arbitrary input values: whatever passes validation must
//! run to completion without panicking, overflowing or reading out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

/// Larger plans are valid but only slow the fuzzer down.
const MAX_ARENA: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let blob = common::with_valid_checksum(data);
    let Ok(model) = mote::Model::parse(&blob) else { return };
    if model.arena_size() > MAX_ARENA {
        return;
    }
    let mut arena = vec![0u8; model.arena_size()];
    let Ok(mut interpreter) = mote::Interpreter::new(&model, &mut arena) else { return };
    for i in 0..model.inputs().len() {
        if let Ok(input) = interpreter.input(i) {
            // Input values from the blob's own bytes: varied, and stable for a given case.
            for (k, byte) in input.iter_mut().enumerate() {
                *byte = data.get(k % data.len().max(1)).copied().unwrap_or(0);
            }
        }
    }
    let _ = interpreter.invoke();
});
