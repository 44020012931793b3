//! The keyword spotter of `models/kws_speech` from raw sound on the boards: one unseen-voice
//! clip of each class (`models/kws_speech/samples/`, from the test split) through the blob,
//! AUDIO_FRONTEND first, on the host and on the Cortex-M4F and RISC-V QEMU boards. Every output
//! byte of the boards equals the host's, and the host recognises the clips. Prints the
//! instructions per second of audio.
//!
//! Needs QEMU and the embedded targets; `cargo test -p mote-tests --test kws_speech --
//! --nocapture`.
#![forbid(unsafe_code)]

use std::time::Duration;

use mote_tests::repo;
use mote_tools::device::qemu::{self, Board};
use mote_tools::run;

/// The classes in the model's order (its training folders, sorted).
const LABELS: [&str; 12] = [
    "_silence_",
    "_unknown_",
    "down",
    "go",
    "left",
    "no",
    "off",
    "on",
    "right",
    "stop",
    "up",
    "yes",
];

#[test]
fn the_boards_spot_the_hosts_keywords_from_raw_sound() {
    let dir = repo().join("models/kws_speech");
    let blob = std::fs::read(dir.join("kws_speech.mote")).unwrap();
    let model = mote::Model::parse(&blob).unwrap();
    let io = run::io_defs(&model).unwrap();
    let mut inputs = Vec::new();
    for label in LABELS {
        let clip = dir.join("samples").join(format!("{label}.wav"));
        inputs.extend(run::read_inputs(&[clip], &io).unwrap());
    }
    assert_eq!(inputs.len(), LABELS.len() * 32_000, "one second per clip");
    let host = run::run_samples(&blob, &inputs, &mut ()).unwrap();
    let predicted: Vec<&str> = host
        .chunks(LABELS.len())
        .map(|scores| {
            let best = (0..scores.len())
                .max_by_key(|&i| (scores[i] as i8, std::cmp::Reverse(i)))
                .unwrap();
            LABELS[best]
        })
        .collect();
    let right = predicted
        .iter()
        .zip(LABELS)
        .filter(|(p, l)| **p == *l)
        .count();
    println!(
        "host: {right} of {} clips recognised: {predicted:?}",
        LABELS.len()
    );
    assert!(
        right >= 10,
        "the host recognises {right} of 12: {predicted:?}"
    );

    for board in [Board::Mps2An386, Board::Riscv32Virt] {
        let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let run = qemu::run(board, &elf, &blob, &inputs, Duration::from_secs(300))
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        assert_eq!(
            run.outputs, host,
            "{board}: the scores differ from the host's"
        );
        let mean = run.instructions.iter().sum::<u64>() / run.instructions.len() as u64;
        println!(
            "{board}: all {} clips' scores equal the host's; {:.2} M instructions per second \
             of audio (front end and model); arena {} bytes",
            run.instructions.len(),
            mean as f64 / 1e6,
            run.arena_bytes
        );
    }
}
