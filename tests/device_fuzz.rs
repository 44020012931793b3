//! Fuzzing the device code (seeds: digits, sine, KWS, and the MLPerf AD and IC models: every
//! optimized kernel family of the boards). The host fuzzers (`runtime/fuzz`) never execute what only the
//! boards run: the Cortex-M4 assembly kernels and the RV32 kernels, raw pointers included. Here
//! blobs mutated from real models (random payload bytes changed, the checksum fixed up so the
//! change reaches the decoder, validation and the kernels; now and then the header too) run on
//! the host, the oracle, and on the emulated boards, and both must agree: the same refusal (the
//! same error), or the same outputs byte for byte. A fault, a panic, a timeout or any
//! disagreement fails the test with the case that caused it.
//!
//! Coverage-free and random: each case is one boot of the firmware. CI runs a short campaign;
//! a long one: `MOTE_DEVICE_FUZZ_CASES=2000 cargo test --release -p mote-tests --test
//! device_fuzz -- --nocapture` (prints the executions and what they did).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use mote::format::HEADER_LEN;
use mote_tests::{device_error, mlperf_blob, read, recompute_checksum, repo};
use mote_tools::device::qemu::{self, Board, protocol};
use mote_tools::intake::data::SplitMix64;
use mote_tools::run;

const TIMEOUT: Duration = Duration::from_secs(30);
/// The default firmware's static arena (`firmware/common/build.rs`).
const FIRMWARE_ARENA: usize = 256 * 1024;

/// What a blob did with one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// `Model::parse` refused it; the error's name.
    Refused(String),
    /// Valid, but larger than the firmware's arena.
    ArenaTooBig,
    /// Valid, but the interpreter refused to run the sample; the error's name.
    Failed(String),
    /// The outputs.
    Outputs(Vec<u8>),
}

/// The name of an error as `Debug` (host) or defmt (device) prints it: up to `(`, ` ` or `{`.
fn error_name(text: &str) -> String {
    text.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}

/// The host's run of `blob` as the device sees it: at the start of a model slot of
/// `slot_len` bytes, the rest of it zeros (a header may declare a longer payload than the blob
/// has: the device then reads the zeros, and fails the checksum rather than the length).
fn on_host(blob: &[u8], slot_len: usize, sample: &[u8]) -> Outcome {
    let mut slot = blob.to_vec();
    slot.resize(slot_len.max(blob.len()), 0);
    let blob = &slot[..];
    let model = match mote::Model::parse(blob) {
        Err(e) => return Outcome::Refused(error_name(&format!("{e:?}"))),
        Ok(m) => m,
    };
    if model.arena_size() > FIRMWARE_ARENA {
        return Outcome::ArenaTooBig;
    }
    match run::run_samples(blob, sample, &mut ()) {
        Ok(outputs) => Outcome::Outputs(outputs),
        Err(e) => match e.downcast_ref::<mote::Error>() {
            Some(e) => Outcome::Failed(error_name(&format!("{e:?}"))),
            None => panic!("the host run failed outside the runtime: {e:#}"),
        },
    }
}

fn on_device(board: Board, elf: &std::path::Path, blob: &[u8], sample: &[u8]) -> Outcome {
    let err = match qemu::run(board, elf, blob, sample, TIMEOUT) {
        Ok(run) => return Outcome::Outputs(run.outputs),
        Err(err) => err,
    };
    let dev = device_error(&err);
    let after = |marker: &str| {
        dev.log
            .iter()
            .find_map(|l| {
                l.split_once(marker)
                    .map(|(_, rest)| error_name(rest.trim()))
            })
            .unwrap_or_else(|| panic!("{board}: no `{marker}` in the log: {err:#}"))
    };
    match dev.exit_code {
        Some(protocol::EXIT_MODEL_INVALID) => Outcome::Refused(after("holds no valid model:")),
        Some(protocol::EXIT_ARENA_TOO_SMALL) => Outcome::ArenaTooBig,
        Some(protocol::EXIT_INFERENCE_FAILED) => Outcome::Failed(after("inference failed:")),
        _ => panic!("{board}: the firmware crashed, hung or failed otherwise: {err:#}"),
    }
}

/// A mutation of `seed`: 1 to 4 random bytes of the payload set at random, the checksum fixed
/// up; one case in eight also changes a header byte and keeps the stale checksum.
fn mutate(seed: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
    let mut blob = seed.to_vec();
    let payload = blob.len() - HEADER_LEN;
    for _ in 0..1 + rng.below(4) {
        let at = HEADER_LEN + rng.below(payload);
        blob[at] = rng.next_u64() as u8;
    }
    recompute_checksum(&mut blob);
    if rng.below(8) == 0 {
        let at = rng.below(HEADER_LEN);
        blob[at] ^= 1 << rng.below(8);
    }
    blob
}

/// One sample of random bytes for `blob`'s inputs (4 bytes if it does not parse: the device
/// refuses it before reading them).
fn sample_for(blob: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
    let len = mote::Model::parse(blob)
        .ok()
        .and_then(|m| run::io_defs(&m).ok())
        .map_or(4, |io| io.input_len().max(1));
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn mutated_blobs_do_on_the_boards_what_they_do_on_the_host() {
    let cases: usize = std::env::var("MOTE_DEVICE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seeds = [
        read(&repo().join("models/digits/digits.mote")),
        read(&repo().join("models/sine/sine.mote")),
        read(&repo().join("models/kws_dscnn/kws_dscnn.mote")),
        mlperf_blob("ad_fc_autoencoder"),
        mlperf_blob("ic_resnet8"),
    ];
    for board in [Board::Mps2An386, Board::Riscv32Virt] {
        let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let slot_len = qemu::regions(&std::fs::read(&elf).unwrap())
            .unwrap()
            .model
            .1 as usize;
        let mut rng = SplitMix64::new(0x5eed ^ board as u64);
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        for case in 0..cases {
            let blob = mutate(&seeds[case % seeds.len()], &mut rng);
            let sample = sample_for(&blob, &mut rng);
            let host = on_host(&blob, slot_len, &sample);
            let device = on_device(board, &elf, &blob, &sample);
            assert_eq!(
                host, device,
                "{board}, case {case}: the host and the device disagree on blob {:02x?}",
                blob
            );
            let kind = match &host {
                Outcome::Refused(e) => format!("refused: {e}"),
                Outcome::ArenaTooBig => "arena too big".into(),
                Outcome::Failed(e) => format!("sample refused: {e}"),
                Outcome::Outputs(_) => "ran, outputs equal".into(),
            };
            *tally.entry(kind).or_default() += 1;
        }
        println!("{board}: {cases} executions, host and device agree on all: {tally:?}");
    }
}
