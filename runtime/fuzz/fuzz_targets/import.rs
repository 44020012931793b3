//! The .tflite importer on arbitrary bytes: read (flatbuffers verification), import, plan and
//! encode. Every step must return an error or a blob the runtime accepts; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = mote_tools::intake::tflite::read(data) else { return };
    let consts = bumpalo::Bump::new();
    let Ok(mut graph) = mote_tools::intake::import::import(&model, &consts) else { return };
    if let Ok(blob) = graph.to_blob() {
        // `to_blob` already parsed it with the runtime; a second look costs nothing.
        assert!(mote::Model::parse(&blob).is_ok());
    }
});
