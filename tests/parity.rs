//! Host-vs-device parity: the firmware computes on the QEMU boards exactly what the runtime
//! computes on the host, byte for byte, for the bundled models (digits, sine: on every board)
//! and the four MLPerf Tiny models (imported from their `.tflite` at test time, on every
//! sample of `random_inputs.bin` and `shipped_inputs.bin`: on every board but mps2-an385),
//! and for MLPerf also exactly what TensorFlow Lite Micro computed (`*_outputs_tflm.bin`).
//! The kits boot from the flash image `mote flash --image` writes. A model that does not fit
//! a kit's flash or RAM is refused with the numbers; which ones do not fit is asserted
//! ([`DOES_NOT_FIT`]).
//!
//! The harness can fail: a blob with one weight byte changed (checksum recomputed, so it still
//! loads) and an input with one byte changed each make the comparison report the mismatch.
//!
//! Needs QEMU and the embedded targets (`.ci/install-deps.sh`); builds the firmware on first
//! use. The figures (instructions per inference per model and board) are printed: run
//! `cargo test -p mote-tests --test parity -- --nocapture --test-threads 1` to read them.
#![forbid(unsafe_code)]

use std::time::Duration;

use mote_tests::{
    Mismatch, bundled, compare, first_fc_weights, host_outputs, instruction_figures, mlperf_blob,
    mlperf_set, output_len, recompute_checksum, sample_len,
};
use mote_tools::device::flash;
use mote_tools::device::qemu::{self, Board, DeviceRun};

const TIMEOUT: Duration = Duration::from_secs(120);
/// The boards the MLPerf Tiny models run on: all but mps2-an385, whose Armv6-M code is the
/// micro:bit's too.
const MLPERF_BOARDS: [Board; 5] = [
    Board::Mps2An386,
    Board::Riscv32Virt,
    Board::Netduinoplus2,
    Board::BL475eIot01a,
    Board::Microbit,
];
/// The models a board's firmware cannot hold, and what is short. Asserted both ways: a model
/// listed here must be refused for that reason, and every other one must run.
const DOES_NOT_FIT: [(&str, Board, Short); 4] = [
    ("ad_fc_autoencoder", Board::Microbit, Short::Flash),
    ("ic_resnet8", Board::Microbit, Short::Flash),
    ("kws_dscnn", Board::Microbit, Short::Arena),
    ("vww_mobilenetv1_025", Board::Microbit, Short::Flash),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Short {
    Flash,
    Arena,
}
/// Test samples of the bundled models.
const SAMPLES: usize = 50;

/// Runs `blob` over `inputs` on `board` and prints the figures. A kit boots from the flash
/// image `mote flash --image` would write (firmware and model), as the chip boots from its
/// flash; QEMU's own boards get the ELF and the blob loaded into the model region.
fn device_run(board: Board, name: &str, blob: &[u8], inputs: &[u8]) -> DeviceRun {
    let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
    let run = match board.chip() {
        Some(_) => {
            let image = flash::image(
                &std::fs::read(&elf).unwrap(),
                flash::Contents {
                    firmware: true,
                    model: Some(blob),
                    samples: None,
                },
            )
            .unwrap_or_else(|e| panic!("{name} on {board}: {e:#}"));
            qemu::run_flash_image(board, &elf, &image, inputs, TIMEOUT)
        }
        None => qemu::run(board, &elf, blob, inputs, TIMEOUT),
    }
    .unwrap_or_else(|e| panic!("{name} on {board}: {e:#}"));
    let (mean, min, max) = instruction_figures(&run.instructions);
    println!(
        "{name:<20} {:<13} {:>4} samples  instructions/inference {mean:>11} \
         (min {min}, max {max})  arena {} B  stack {} B  QEMU {:.2} s",
        board.name(),
        run.instructions.len(),
        run.arena_bytes,
        run.stack_bytes,
        run.wall_time.as_secs_f64()
    );
    run
}

/// The device's outputs equal each of `expected` (named: "the host", "TFLM") on every board
/// of `boards`.
fn device_matches(
    name: &str,
    boards: &[Board],
    blob: &[u8],
    inputs: &[u8],
    expected: &[(&str, &[u8])],
) {
    let out_len = output_len(blob);
    for &board in boards {
        if !fits(board, name, blob) {
            continue;
        }
        let run = device_run(board, name, blob, inputs);
        for (whose, want) in expected {
            if let Err(mismatch) = compare(&run.outputs, want, out_len) {
                panic!("{name} on {board}: the device differs from {whose}: {mismatch}");
            }
        }
        assert_eq!(run.instructions.len(), inputs.len() / sample_len(blob));
    }
}

/// Whether `blob` fits `board`'s firmware, as [`DOES_NOT_FIT`] says it must; a refusal is
/// printed with its numbers.
fn fits(board: Board, name: &str, blob: &[u8]) -> bool {
    let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
    let regions = qemu::regions(&std::fs::read(elf).unwrap()).unwrap();
    let misfit = qemu::misfit(&regions, blob);
    let expected = DOES_NOT_FIT
        .iter()
        .find(|(model, b, _)| *model == name && *b == board)
        .map(|&(_, _, short)| short);
    match (misfit, expected) {
        (None, None) => true,
        (Some(misfit), Some(short)) => {
            let (needed, available) = match (misfit, short) {
                (qemu::Misfit::Flash { needed, available }, Short::Flash)
                | (qemu::Misfit::Arena { needed, available }, Short::Arena) => (needed, available),
                _ => panic!("{name} on {board}: refused for another reason: {misfit}"),
            };
            assert!(needed > available, "{name} on {board}: {misfit}");
            println!("{name:<20} {:<13} does not fit: {misfit}", board.name());
            false
        }
        (Some(misfit), None) => panic!("{name} no longer fits {board}: {misfit}"),
        (None, Some(short)) => panic!("{name} fits {board}, yet is listed as short of {short:?}"),
    }
}

fn bundled_model_matches_host(name: &str) {
    let (blob, inputs) = bundled(name, SAMPLES);
    assert_eq!(
        inputs.len(),
        SAMPLES * sample_len(&blob),
        "{name}: test samples"
    );
    let host = host_outputs(&blob, &inputs);
    device_matches(
        name,
        &Board::EMULATED,
        &blob,
        &inputs,
        &[("the host", &host)],
    );
}

/// Every sample of both input sets, on the host (against TFLM) and on the boards (against
/// the host and TFLM).
fn mlperf_model_matches_host_and_tflm(model: &str) {
    let blob = mlperf_blob(model);
    let out_len = output_len(&blob);
    let (mut inputs, mut tflm) = (Vec::new(), Vec::new());
    for set in ["random", "shipped"] {
        let Some((x, want)) = mlperf_set(model, set) else {
            continue;
        };
        let host = host_outputs(&blob, &x);
        if let Err(mismatch) = compare(&host, &want, out_len) {
            panic!("{model} {set}: the host differs from TFLM: {mismatch}");
        }
        inputs.extend(x);
        tflm.extend(want);
    }
    assert!(!inputs.is_empty(), "{model}: no input sets");
    let host = host_outputs(&blob, &inputs);
    device_matches(
        model,
        &MLPERF_BOARDS,
        &blob,
        &inputs,
        &[("the host", &host), ("TFLM", &tflm)],
    );
}

/// The kits no emulator runs hold every model: each blob fits their firmware's model region
/// and arena, as read from the ELFs CI builds.
#[test]
fn the_kits_without_an_emulator_hold_every_model() {
    let mut blobs: Vec<(&str, Vec<u8>)> = ["digits", "sine"]
        .into_iter()
        .map(|name| (name, bundled(name, 1).0))
        .collect();
    for model in [
        "ad_fc_autoencoder",
        "ic_resnet8",
        "kws_dscnn",
        "vww_mobilenetv1_025",
    ] {
        blobs.push((model, mlperf_blob(model)));
    }
    for board in Board::KITS.into_iter().filter(|b| !b.emulated()) {
        let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let regions = qemu::regions(&std::fs::read(elf).unwrap()).unwrap();
        for (name, blob) in &blobs {
            assert_eq!(qemu::misfit(&regions, blob), None, "{name} on {board}");
        }
    }
}

#[test]
fn digits_matches_host_on_every_board() {
    bundled_model_matches_host("digits");
}

#[test]
fn sine_matches_host_on_every_board() {
    bundled_model_matches_host("sine");
}

#[test]
fn ad_fc_autoencoder_matches_host_and_tflm() {
    mlperf_model_matches_host_and_tflm("ad_fc_autoencoder");
}

#[test]
fn ic_resnet8_matches_host_and_tflm() {
    mlperf_model_matches_host_and_tflm("ic_resnet8");
}

#[test]
fn kws_dscnn_matches_host_and_tflm() {
    mlperf_model_matches_host_and_tflm("kws_dscnn");
}

#[test]
fn vww_mobilenetv1_025_matches_host_and_tflm() {
    mlperf_model_matches_host_and_tflm("vww_mobilenetv1_025");
}

/// The first byte of `range` in `bytes` whose change (`+0x40`) alters the host's outputs, and
/// the changed copy. Searching keeps the test honest: the change must matter on the host, so a
/// device that ignored it would be caught by the comparison.
fn change_that_matters(
    bytes: &[u8],
    range: std::ops::Range<usize>,
    outputs_of: impl Fn(&[u8]) -> Option<Vec<u8>>,
    reference: &[u8],
) -> (usize, Vec<u8>) {
    for at in range {
        let mut changed = bytes.to_vec();
        changed[at] = changed[at].wrapping_add(0x40);
        if outputs_of(&changed).is_some_and(|out| out != reference) {
            return (at, changed);
        }
    }
    panic!("no byte in the range changes the outputs")
}

#[test]
fn a_wrong_blob_is_reported_as_a_mismatch() {
    let (blob, inputs) = bundled("digits", SAMPLES);
    let host = host_outputs(&blob, &inputs);
    let weights = first_fc_weights(&blob);
    let (at, wrong) = change_that_matters(
        &blob,
        weights,
        |b| {
            let mut b = b.to_vec();
            recompute_checksum(&mut b);
            mote_tools::run::run_samples(&b, &inputs, &mut ()).ok()
        },
        &host,
    );
    let mut wrong = wrong;
    recompute_checksum(&mut wrong);
    assert_ne!(wrong, blob);
    mote::Model::parse(&wrong).expect("the changed blob still loads");
    for board in Board::EMULATED {
        let run = device_run(board, "digits, weight changed", &wrong, &inputs);
        let mismatch = compare(&run.outputs, &host, output_len(&blob))
            .expect_err("a changed weight must show as a mismatch");
        assert!(
            matches!(mismatch, Mismatch::Bytes { .. }),
            "{board}: {mismatch}"
        );
        println!("{board}: weight byte {at} changed: {mismatch}");
    }
}

#[test]
fn a_wrong_input_is_reported_as_a_mismatch() {
    let (blob, inputs) = bundled("digits", SAMPLES);
    let host = host_outputs(&blob, &inputs);
    let len = sample_len(&blob);
    // A byte of sample 7.
    let (at, wrong) = change_that_matters(
        &inputs,
        7 * len..8 * len,
        |x| mote_tools::run::run_samples(&blob, x, &mut ()).ok(),
        &host,
    );
    for board in Board::EMULATED {
        let run = device_run(board, "digits, input changed", &blob, &wrong);
        let mismatch = compare(&run.outputs, &host, output_len(&blob))
            .expect_err("a changed input must show as a mismatch");
        let Mismatch::Bytes {
            sample,
            samples_differing,
            ..
        } = mismatch
        else {
            panic!("{board}: {mismatch}");
        };
        assert_eq!((sample, samples_differing), (7, 1), "{board}: {mismatch}");
        println!("{board}: input byte {at} changed: {mismatch}");
    }
}

#[test]
fn compare_names_the_first_difference() {
    assert_eq!(compare(&[1, 2, 3, 4], &[1, 2, 3, 4], 2), Ok(()));
    assert_eq!(
        compare(&[1, 2, 3, 5, 0, 6], &[1, 2, 3, 4, 5, 6], 2),
        Err(Mismatch::Bytes {
            sample: 1,
            byte: 1,
            got: 5,
            want: 4,
            samples_differing: 2,
            samples: 3
        })
    );
    assert_eq!(
        compare(&[1, 2], &[1, 2, 3, 4], 2),
        Err(Mismatch::Length { got: 2, want: 4 })
    );
}
