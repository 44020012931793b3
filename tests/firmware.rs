//! What the firmware does with the blobs it is given, on the QEMU boards:
//! - its static arena can be sized from a blob when it is built (`MOTE_BLOB`): exactly that
//!   model's arena, and a model that needs more is refused at boot with the number it needs;
//! - safe model update: slot A holds the last good model, slot B an update that runs only if it
//!   validates; a rejected update is logged with the reason and slot A's model runs;
//! - signed models: firmware built with a public key runs only models signed with it, verifies
//!   before it parses, refuses an update older than the model it runs, and says which of
//!   these it was; firmware without a key runs signed models unverified;
//! - corrupted blobs (truncated, bit flips in header and payload, wrong version, wrong magic,
//!   damaged graphs with a valid checksum) end the run with the model-error status and a log
//!   line naming the error: never a panic, a fault or a timeout.
//!
//! Needs QEMU and the embedded targets (`.ci/install-deps.sh`). The arena-sized firmware is
//! built in its own target folder (`firmware/target/arena-<bytes>`), away from the default one.
#![forbid(unsafe_code)]

use std::time::Duration;

use mote::format::HEADER_LEN;
use mote_tests::{
    bundled, compare, device_error, first_fc_weights, host_outputs, output_len, recompute_checksum,
    repo,
};
use mote_tools::device::qemu::{self, ArenaSize, Board, Slot, protocol};

const TIMEOUT: Duration = Duration::from_secs(60);
const BOARDS: [Board; 2] = [Board::Mps2An386, Board::Riscv32Virt];

fn read(path: &str) -> Vec<u8> {
    mote_tests::read(&repo().join(path))
}

/// Digits with one weight changed (checksum recomputed): a valid model that computes
/// something else, as a retrained model would.
fn retrained_digits(digits: &[u8], inputs: &[u8]) -> Vec<u8> {
    let host = host_outputs(digits, inputs);
    for at in first_fc_weights(digits) {
        let mut blob = digits.to_vec();
        blob[at] = blob[at].wrapping_add(0x40);
        recompute_checksum(&mut blob);
        if host_outputs(&blob, inputs) != host {
            return blob;
        }
    }
    panic!("no weight change alters the outputs")
}

// ---- the arena, sized from a blob at build time ----

#[test]
fn firmware_built_for_a_blob_has_exactly_its_arena_and_refuses_a_larger_model() {
    let digits_path = repo().join("models/digits/digits.mote");
    let (digits, inputs) = bundled("digits", 10);
    let needed = mote::Model::parse(&digits).unwrap().arena_size();
    let kws = read("models/kws_dscnn/kws_dscnn.mote");
    let kws_model = mote::Model::parse(&kws).unwrap();
    let kws_needs = kws_model.arena_size();
    // 16,000 B of tensors (as TFLM's planner) and 2,215 B of kernel scratch (the depthwise
    // line path's: its parameters, biases and ring of widened lines).
    assert_eq!((kws_model.tensor_bytes(), kws_needs), (16_000, 18_215));
    for board in BOARDS {
        let elf = qemu::build_firmware_with(board, &ArenaSize::FromBlob(digits_path.clone()))
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        assert!(
            elf.to_string_lossy().contains(&format!("arena-{needed}")),
            "{}",
            elf.display()
        );
        let run = qemu::run(board, &elf, &digits, &inputs, TIMEOUT)
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        assert_eq!(
            (run.arena_capacity, run.arena_bytes),
            (needed, needed),
            "{board}"
        );
        assert_eq!(
            compare(&run.outputs, &host_outputs(&digits, &inputs), 10),
            Ok(())
        );
        let size = qemu::image_size(&std::fs::read(&elf).unwrap()).unwrap();
        println!(
            "{board}: firmware for digits: static arena {} bytes, image text {} data {} bss {}",
            run.arena_capacity, size.text, size.data, size.bss
        );

        let err = qemu::run(board, &elf, &kws, &[0; 490], TIMEOUT).unwrap_err();
        let dev = device_error(&err);
        assert_eq!(
            dev.exit_code,
            Some(protocol::EXIT_ARENA_TOO_SMALL),
            "{board}: {err:#}"
        );
        let wanted = format!("needs {kws_needs} bytes of arena, this firmware has {needed}");
        assert!(
            dev.log.iter().any(|l| l.contains(&wanted)),
            "{board}: {err:#}"
        );
        assert!(
            dev.log
                .iter()
                .any(|l| l.contains(&format!("MOTE_ARENA_BYTES={kws_needs}"))),
            "{board}: {err:#}"
        );
    }
}

// ---- safe model update: slot A (last good), slot B (update) ----

#[test]
fn a_corrupt_update_is_rejected_and_the_last_good_model_runs() {
    let (digits, inputs) = bundled("digits", 20);
    let update = retrained_digits(&digits, &inputs);
    let (good, new) = (
        host_outputs(&digits, &inputs),
        host_outputs(&update, &inputs),
    );
    let out_len = output_len(&digits);
    let mut corrupt = update.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x04; // a payload byte: the checksum no longer matches
    let mut truncated = update.clone();
    truncated.truncate(update.len() / 2);
    let mut other_version = update.clone();
    other_version[4] = 9;
    for board in BOARDS {
        let elf = qemu::build_firmware(board).unwrap();
        for (what, blob, reason) in [
            ("a corrupt update", &corrupt, "BadChecksum"),
            ("a truncated update", &truncated, "BadChecksum"),
            (
                "an update of another version",
                &other_version,
                "UnsupportedVersion(9)",
            ),
        ] {
            let run = qemu::run_with_update(board, &elf, &digits, blob, &inputs, TIMEOUT)
                .unwrap_or_else(|e| panic!("{board}, {what}: {e:#}"));
            assert_eq!(run.slot, Slot::LastGood, "{board}, {what}");
            assert_eq!(
                compare(&run.outputs, &good, out_len),
                Ok(()),
                "{board}, {what}: not slot A's outputs"
            );
            assert!(compare(&run.outputs, &new, out_len).is_err());
            assert!(
                run.log.iter().any(|l| l.contains("update rejected")
                    && l.contains(reason)
                    && l.contains("running the last good model in slot A")),
                "{board}, {what}: {:#?}",
                run.log
            );
        }
    }
}

#[test]
fn a_valid_update_runs_instead_of_the_last_good_model() {
    let (digits, inputs) = bundled("digits", 20);
    let update = retrained_digits(&digits, &inputs);
    let (good, new) = (
        host_outputs(&digits, &inputs),
        host_outputs(&update, &inputs),
    );
    let out_len = output_len(&digits);
    for board in BOARDS {
        let elf = qemu::build_firmware(board).unwrap();
        let run = qemu::run_with_update(board, &elf, &digits, &update, &inputs, TIMEOUT)
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        assert_eq!(run.slot, Slot::Update, "{board}");
        assert_eq!(compare(&run.outputs, &new, out_len), Ok(()), "{board}");
        assert!(compare(&run.outputs, &good, out_len).is_err());
        assert!(
            run.log
                .iter()
                .any(|l| l.contains("slot B: the update validated")),
            "{board}: {:#?}",
            run.log
        );

        // Without an update, slot A runs and says nothing about slot B.
        let plain = qemu::run(board, &elf, &digits, &inputs, TIMEOUT).unwrap();
        assert_eq!(plain.slot, Slot::LastGood);
        assert_eq!(compare(&plain.outputs, &good, out_len), Ok(()));
        assert!(!plain.log.iter().any(|l| l.contains("slot B")), "{board}");

        // A valid update does not need slot A at all; with both slots bad, the run fails
        // with the model-error status and both reasons in the log.
        let mut broken = digits.clone();
        broken[20] ^= 1;
        let run = qemu::run_with_update(board, &elf, &broken, &update, &inputs, TIMEOUT).unwrap();
        assert_eq!(
            (run.slot, compare(&run.outputs, &new, out_len)),
            (Slot::Update, Ok(()))
        );
        let mut bad_update = update.clone();
        bad_update[0] = b'X';
        let err =
            qemu::run_with_update(board, &elf, &broken, &bad_update, &inputs, TIMEOUT).unwrap_err();
        let dev = device_error(&err);
        assert_eq!(dev.exit_code, Some(protocol::EXIT_MODEL_INVALID), "{err:#}");
        for says in [
            "update rejected: BadMagic",
            "slot A holds no valid model: BadChecksum",
        ] {
            assert!(dev.log.iter().any(|l| l.contains(says)), "{says}: {err:#}");
        }
    }
}

#[test]
fn an_update_larger_than_the_arena_is_rejected() {
    let digits_path = repo().join("models/digits/digits.mote");
    let (digits, inputs) = bundled("digits", 10);
    let kws = read("models/kws_dscnn/kws_dscnn.mote");
    let (needed, kws_needs) = (
        mote::Model::parse(&digits).unwrap().arena_size(),
        mote::Model::parse(&kws).unwrap().arena_size(),
    );
    let board = Board::Riscv32Virt;
    let elf = qemu::build_firmware_with(board, &ArenaSize::FromBlob(digits_path)).unwrap();
    let run = qemu::run_with_update(board, &elf, &digits, &kws, &inputs, TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(run.slot, Slot::LastGood);
    assert_eq!(
        compare(&run.outputs, &host_outputs(&digits, &inputs), 10),
        Ok(())
    );
    let says =
        format!("update rejected: it needs {kws_needs} bytes of arena, this firmware has {needed}");
    assert!(
        run.log.iter().any(|l| l.contains(&says)),
        "{says:?} in {:#?}",
        run.log
    );
}

// ---- corrupted blobs ----

/// xorshift64: reproducible positions.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Twenty corruptions of `blob`, named: truncations, wrong magic and versions, bit flips in
/// the header and the payload (checksum left stale), and payload damage with the checksum
/// recomputed that the host rejects (graph faults).
fn corruptions(blob: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for len in [
        3,
        HEADER_LEN - 1,
        HEADER_LEN,
        blob.len() / 2,
        blob.len() - 1,
    ] {
        out.push((format!("truncated to {len} bytes"), blob[..len].to_vec()));
    }
    let mut magic = blob.to_vec();
    magic[..4].copy_from_slice(b"ETOM");
    out.push(("wrong magic".into(), magic));
    for version in [0u16, 2, 0xFFFF] {
        let mut b = blob.to_vec();
        b[4..6].copy_from_slice(&version.to_le_bytes());
        out.push((format!("version {version}"), b));
    }
    // Header fields: magic, version, reserved, payload length, checksum.
    for (byte, bit) in [(1, 5), (5, 0), (7, 3), (10, 6), (14, 2)] {
        let mut b = blob.to_vec();
        b[byte] ^= 1 << bit;
        out.push((format!("header byte {byte} bit {bit} flipped"), b));
    }
    let mut rng = Rng(0x6d6f_7465_2d71_656d);
    for _ in 0..4 {
        let (at, bit) = (
            HEADER_LEN + rng.below(blob.len() - HEADER_LEN),
            rng.below(8),
        );
        let mut b = blob.to_vec();
        b[at] ^= 1 << bit;
        out.push((format!("payload byte {at} bit {bit} flipped"), b));
    }
    let mut graph_faults = 0;
    while graph_faults < 2 {
        let at = HEADER_LEN + rng.below(blob.len() - HEADER_LEN);
        let mut b = blob.to_vec();
        b[at] ^= 0x80;
        recompute_checksum(&mut b);
        if mote::Model::parse(&b).is_err() {
            out.push((format!("payload byte {at} damaged, checksum recomputed"), b));
            graph_faults += 1;
        }
    }
    out
}

#[test]
fn corrupted_blobs_are_model_errors_on_the_device() {
    let (digits, inputs) = bundled("digits", 2);
    let cases = corruptions(&digits);
    assert_eq!(cases.len(), 20);
    for board in BOARDS {
        let elf = qemu::build_firmware(board).unwrap();
        let image = std::fs::read(&elf).unwrap();
        let region = qemu::regions(&image).unwrap().model.1 as usize;
        for (what, blob) in &cases {
            // The device sees the blob followed by the rest of its region, zeros in QEMU: a
            // truncated blob shows as a checksum mismatch or a header fault there.
            let mut seen = blob.clone();
            seen.resize(region, 0);
            let expected = mote::Model::parse(&seen).expect_err("the host rejects it");
            let err = qemu::run(board, &elf, blob, &inputs, Duration::from_secs(20))
                .expect_err("the device rejects it");
            let dev = device_error(&err);
            assert!(!dev.timed_out, "{board}, {what}: {err:#}");
            assert_eq!(
                dev.exit_code,
                Some(protocol::EXIT_MODEL_INVALID),
                "{board}, {what}: {err:#}"
            );
            let says = format!("slot A holds no valid model: {expected:?}");
            assert!(
                dev.log.iter().any(|l| l.contains(&says)),
                "{board}, {what}: expected {says:?} in the log: {err:#}"
            );
            println!("{board}: {what}: {expected:?}");
        }
    }
}

// ---- signed models ----

fn key(name: &str) -> String {
    String::from_utf8(read(&format!("tests/data/keys/{name}"))).unwrap()
}

fn signed(blob: &[u8], key_name: &str, version: u32) -> Vec<u8> {
    mote_tools::sign::sign(blob, &key(key_name), version).unwrap()
}

#[test]
fn firmware_with_a_key_runs_only_signed_models_and_refuses_downgrades() {
    let (digits, inputs) = bundled("digits", 8);
    let update = retrained_digits(&digits, &inputs);
    let (good, new) = (
        host_outputs(&digits, &inputs),
        host_outputs(&update, &inputs),
    );
    let out_len = output_len(&digits);
    let public = repo().join("tests/data/keys/test-signing.pub.pem");
    let a_v2 = signed(&digits, "test-signing.pem", 2);
    for board in BOARDS {
        let elf =
            qemu::build_firmware_keyed(board, &public).unwrap_or_else(|e| panic!("{board}: {e:#}"));
        // A signed model runs, verified first; the log gives the cost.
        let run = qemu::run(board, &elf, &a_v2, &inputs, TIMEOUT)
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        assert_eq!(compare(&run.outputs, &good, out_len), Ok(()), "{board}");
        let verified = run
            .log
            .iter()
            .find(|l| l.contains("slot A: signature verified in"))
            .unwrap_or_else(|| panic!("{board}: {:#?}", run.log));
        println!("{board}: {verified}");

        // Updates: a newer signed one runs; older, unsigned, foreign or altered ones do not.
        let newer = signed(&update, "test-signing.pem", 3);
        let run = qemu::run_with_update(board, &elf, &a_v2, &newer, &inputs, TIMEOUT).unwrap();
        assert_eq!(
            (run.slot, compare(&run.outputs, &new, out_len)),
            (Slot::Update, Ok(())),
            "{board}"
        );
        let mut altered = newer.clone();
        let last = altered.len() - 70; // a byte of the blob, before the signature
        altered[last] ^= 1;
        for (what, update, says) in [
            (
                "an older version",
                signed(&update, "test-signing.pem", 1),
                "Downgrade: model version 1 is older than the running 2",
            ),
            (
                "an unsigned update",
                update.clone(),
                "update rejected: NotSigned",
            ),
            (
                "another key's signature",
                signed(&update, "other-signing.pem", 3),
                "update rejected: BadSignature",
            ),
            (
                "an altered update",
                altered,
                "update rejected: BadSignature",
            ),
        ] {
            let run = qemu::run_with_update(board, &elf, &a_v2, &update, &inputs, TIMEOUT)
                .unwrap_or_else(|e| panic!("{board}, {what}: {e:#}"));
            assert_eq!(run.slot, Slot::LastGood, "{board}, {what}");
            assert_eq!(
                compare(&run.outputs, &good, out_len),
                Ok(()),
                "{board}, {what}"
            );
            assert!(
                run.log.iter().any(|l| l.contains(says)),
                "{board}, {what}: {:#?}",
                run.log
            );
        }

        // An unsigned or foreign model in slot A is refused outright.
        for (what, blob, says) in [
            (
                "unsigned",
                digits.clone(),
                "slot A holds no valid model: NotSigned",
            ),
            (
                "signed with another key",
                signed(&digits, "other-signing.pem", 2),
                "slot A holds no valid model: BadSignature",
            ),
        ] {
            let err = qemu::run(board, &elf, &blob, &inputs, TIMEOUT).unwrap_err();
            let dev = device_error(&err);
            assert_eq!(
                dev.exit_code,
                Some(protocol::EXIT_MODEL_INVALID),
                "{what}: {err:#}"
            );
            assert!(dev.log.iter().any(|l| l.contains(says)), "{what}: {err:#}");
        }

        // Firmware without a key runs a signed model as it is (unverified).
        let plain = qemu::build_firmware(board).unwrap();
        let run = qemu::run(board, &plain, &a_v2, &inputs, TIMEOUT).unwrap();
        assert_eq!(compare(&run.outputs, &good, out_len), Ok(()), "{board}");
    }
}
