//! `Model::parse` on arbitrary bytes: as given (container checks), and with the checksum fixed
//! up (everything behind it); and the signed envelope's reader. They must return, never panic
//! or read out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let _ = mote::Model::parse(data);
    if let Ok(envelope) = mote::signed::Envelope::parse(data) {
        let _ = mote::Model::parse(envelope.blob);
    }
    if let Ok(model) = mote::Model::parse(&common::with_valid_checksum(data)) {
        for op in model.ops() {
            let _ = op;
        }
    }
});
