//! The firmware's image sizes are a committed file, `firmware/sizes.txt`, that a diff can show:
//! this test builds every board's firmware (default arena, as
//! `mote_tools::device::qemu::build_firmware` builds it) and fails with the differences and the
//! command that updates the file after an intended change:
//!
//! ```sh
//! MOTE_BLESS=1 cargo test -p mote-tests --test firmware_size
//! ```
//!
//! The sizes do not depend on where the repository is checked out (CI clones elsewhere): the
//! build remaps the source paths that panic locations would otherwise embed, and its rustc
//! wrapper keeps the runtime's absolute path out of the symbol hashes (see `firmware/README.md`).
//! One test checks that no image holds the checkout's path. An ignored one copies the
//! repository to a temporary folder and builds every board there from scratch (1-2 minutes;
//! run it after changing the build setup):
//! `cargo test -p mote-tests --test firmware_size -- --ignored`.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mote_tests::{bundled, host_outputs, repo};
use mote_tools::device::bench;
use mote_tools::device::qemu::{self, ArenaSize, BareDigits, Board};

const BLESS: &str = "MOTE_BLESS=1 cargo test -p mote-tests --test firmware_size";

fn sizes_file() -> PathBuf {
    repo().join("firmware/sizes.txt")
}

/// The sizes file's text for the firmware built from the `firmware/` folder `root`.
fn measure(root: &Path) -> String {
    for var in ["MOTE_ARENA_BYTES", "MOTE_BLOB"] {
        assert!(
            std::env::var_os(var).is_none(),
            "{var} is set: it changes the arena and so the sizes; unset it for this test"
        );
    }
    let mut text = String::from(
        "# Firmware image sizes in bytes: text = code and read-only data (flash), data =\n\
         # initialised data (flash and RAM), bss = zeroed RAM, the static arena included\n\
         # (256 KiB; on a kit, what its RAM leaves: MOTE_DEFAULT_ARENA_BYTES in its .cargo/config.toml).\n\
         # Release builds as mote_tools::device::qemu::build_firmware makes them (default arena);\n\
         # bare-digits: the digits MLP alone on a bare Cortex-M4 (firmware/bare-digits, opt-level z),\n\
         # compiled in, reference kernels; bare-optimized: the same with the optimized kernels;\n\
         # bare-blob: the blob parsed and validated at boot, reference kernels.\n\
         # Checked by `cargo test -p mote-tests --test firmware_size`; after an intended change:\n",
    );
    let _ = writeln!(text, "#   {BLESS}");
    let _ = writeln!(
        text,
        "{:<14}{:>9}{:>9}{:>9}",
        "board", "text", "data", "bss"
    );
    for board in Board::ALL {
        let elf = qemu::build_firmware_in(root, board, &ArenaSize::FromEnvironment)
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let image = std::fs::read(&elf).unwrap();
        let size = qemu::image_size(&image).unwrap();
        let _ = writeln!(
            text,
            "{:<14}{:>9}{:>9}{:>9}",
            board.name(),
            size.text,
            size.data,
            size.bss
        );
    }
    for build in BareDigits::ALL {
        let elf = qemu::build_bare_digits(root, build).unwrap_or_else(|e| panic!("{e:#}"));
        let size = qemu::image_size(&std::fs::read(&elf).unwrap()).unwrap();
        let _ = writeln!(
            text,
            "{:<14}{:>9}{:>9}{:>9}",
            build.name(),
            size.text,
            size.data,
            size.bss
        );
    }
    text
}

/// The data lines (`board text data bss`) of a sizes file, without comments.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// A readable account of how `actual` differs from `expected`: one line per board that
/// changed, with the change per column.
fn differences(expected: &str, actual: &str) -> Option<String> {
    let (want, got) = (rows(expected), rows(actual));
    if want == got {
        return None;
    }
    let mut report = String::new();
    let header = got.first().cloned().unwrap_or_default();
    let find = |table: &[Vec<String>], board: &str| table.iter().find(|r| r[0] == board).cloned();
    let mut boards: Vec<String> = want.iter().skip(1).map(|r| r[0].clone()).collect();
    for row in got.iter().skip(1) {
        if !boards.contains(&row[0]) {
            boards.push(row[0].clone());
        }
    }
    for board in boards {
        match (find(&want, &board), find(&got, &board)) {
            (Some(w), Some(g)) if w == g => {}
            (Some(w), Some(g)) => {
                let _ = writeln!(report, "- {}", w.join(" "));
                let _ = writeln!(report, "+ {}", g.join(" "));
                let changes: Vec<String> = header
                    .iter()
                    .zip(w.iter().zip(&g))
                    .skip(1)
                    .filter(|(_, (a, b))| a != b)
                    .map(|(column, (a, b))| {
                        let delta = b.parse::<i64>().unwrap_or(0) - a.parse::<i64>().unwrap_or(0);
                        format!("{column} {delta:+}")
                    })
                    .collect();
                let _ = writeln!(report, "  {board}: {}", changes.join(", "));
            }
            (Some(w), None) => {
                let _ = writeln!(report, "- {} (no longer built)", w.join(" "));
            }
            (None, Some(g)) => {
                let _ = writeln!(report, "+ {} (not in the file)", g.join(" "));
            }
            (None, None) => {}
        }
    }
    if want.first() != got.first() {
        let _ = writeln!(report, "columns: {:?} now {:?}", want.first(), got.first());
    }
    Some(report)
}

#[test]
fn firmware_sizes_match_the_committed_file() {
    let actual = measure(&repo().join("firmware"));
    print!("{actual}");
    let path = sizes_file();
    if std::env::var_os("MOTE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(report) = differences(&expected, &actual) {
        panic!(
            "the firmware sizes differ from {}:\n{report}\nIf the change is intended, update \
             the file and commit it:\n    {BLESS}",
            path.display()
        );
    }
}

/// The smallest application (`firmware/bare-digits`: the digits MLP, two operators, no
/// runner) computes on the board what the host computes, sample by sample, in each build.
#[test]
fn the_bare_digits_application_computes_what_the_host_does() {
    let (blob, inputs) = bundled("digits", 8);
    let expected = host_outputs(&blob, &inputs);
    for build in BareDigits::ALL {
        let elf = qemu::build_bare_digits(&repo().join("firmware"), build)
            .unwrap_or_else(|e| panic!("{e:#}"));
        for (i, (sample, want)) in inputs.chunks(64).zip(expected.chunks(10)).enumerate() {
            let got = qemu::run_bare_digits(&elf, sample, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("sample {i}: {e:#}"));
            assert_eq!(got, want, "sample {i} ({})", build.name());
        }
    }
}

/// Issue 15's target for the smallest application, blob included: at most 10 KB of text.
#[test]
fn the_compiled_digits_application_fits_in_10_kb() {
    let elf = qemu::build_bare_digits(&repo().join("firmware"), BareDigits::Compiled)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let size = qemu::image_size(&std::fs::read(&elf).unwrap()).unwrap();
    assert!(
        size.text + size.data <= 10 * 1024,
        "bare-digits is {} B of flash, more than 10 KB",
        size.text + size.data
    );
}

/// The size goal of issue 15, measured on the firmware `mote bench --compiled` builds: the
/// KWS model compiled into the runner (only its operators, no blob decoder or validation).
/// It must compute TFLM's outputs, and its runtime code (as `mote bench` attributes it) must
/// not grow past what it is now (raised from 46,920 and 32,656 B by the depthwise line path,
/// which took KWS from 4.23 to 3.85 M instructions on Cortex-M4, then by 2,380 and 2,100 B by
/// the convolution's faster packing, padded rows and loops, which took VWW from 13.58 to
/// 11.99 M, IC from 16.04 to 14.61 M and KWS to 3.64 M; lowered by 630 and 370 B with the
/// row pairs of FULLY_CONNECTED and the reference requantization out of line; RV32 raised by
/// 4,722 B by the four-by-three convolution block, which took IC from 45.17 to 42.57 M
/// instructions, KWS from 11.23 to 10.78 M and VWW from 35.45 to 33.60 M, and by 818 B by the
/// sliding depthwise lines, KWS to 10.65 M and VWW to 33.41 M; lowered by 11,630 and 8,784 B
/// by the channel tails through one generic loop and the reference convolutions behind
/// features of their own (`kernels::KernelPath`), with no change to KWS's instructions; lowered
/// by 10,160 and 5,010 B by the convolutions' general paths and blocks of two pixels behind
/// features of their own, `kernels::KernelPath` and `op-conv-pairs`, which KWS does not take
/// on Cortex-M4, KWS 3.632 -> 3.630 M instructions there). The issue's target is lower (20 KB
/// on Cortex-M4, 24 KB on RV32IMAC); lower these limits as the code shrinks.
#[test]
fn the_compiled_kws_firmware_is_exact_and_its_runtime_code_held() {
    let path = repo().join("models/kws_dscnn/kws_dscnn.mote");
    let blob = mote_tests::read(&path);
    let (inputs, tflm) = mote_tests::mlperf_set("kws_dscnn", "random").unwrap();
    let (len, out_len) = (mote_tests::sample_len(&blob), mote_tests::output_len(&blob));
    let (inputs, tflm) = (&inputs[..3 * len], &tflm[..3 * out_len]);
    for (board, limit) in [(Board::Mps2An386, 30_398), (Board::Riscv32Virt, 31_168)] {
        let elf = qemu::build_firmware_with(board, &ArenaSize::Compiled(path.clone()))
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let (runtime, _) = bench::runtime_text(&std::fs::read(&elf).unwrap()).unwrap();
        let run = qemu::run(board, &elf, &blob, inputs, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        assert_eq!(run.outputs, tflm, "{board}: the outputs differ from TFLM's");
        println!("{board}: runtime code {runtime} B (limit {limit} B)");
        assert!(
            runtime <= limit,
            "{board}: {runtime} B of runtime code, more than the {limit} B it was"
        );
    }
}

#[test]
fn differences_name_the_board_and_the_columns() {
    let file = "# c\nboard text data bss\nmps2-an386 100 0 64\nriscv32-virt 90 4 64\n";
    assert_eq!(differences(file, file), None);
    let changed = "board text data bss\nmps2-an386 108 0 64\nriscv32-virt 90 4 64\n";
    let report = differences(file, changed).unwrap();
    assert!(report.contains("- mps2-an386 100 0 64"), "{report}");
    assert!(report.contains("+ mps2-an386 108 0 64"), "{report}");
    assert!(report.contains("mps2-an386: text +8"), "{report}");
    assert!(!report.contains("riscv32-virt"), "{report}");
    assert!(differences(file, "board text data bss\n").is_some());
}

/// Panic locations name source files; built as the host tools build it, an image holds no
/// path of this checkout or of cargo's home, so its size is the same wherever it is built.
#[test]
fn firmware_images_hold_no_checkout_path() {
    let checkout = std::fs::canonicalize(repo()).unwrap();
    let mut needles = vec![checkout.display().to_string()];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        needles.push(PathBuf::from(home).display().to_string());
    }
    for board in Board::ALL {
        let elf = qemu::build_firmware(board).unwrap();
        let image = std::fs::read(&elf).unwrap();
        for needle in &needles {
            assert!(
                !image.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{board}: {} holds the path {needle}",
                elf.display()
            );
        }
        // The remapped form is there: the check above looks at the right bytes.
        assert!(
            image.windows(9).any(|w| w == b"mote/runt"),
            "{board}: no remapped runtime path in the image"
        );
    }
}

/// Copies the repository's tracked files (as they are in the working tree) to a temporary
/// folder, builds every board there from scratch and compares the sizes with this checkout's.
#[test]
#[ignore = "builds every board from scratch in a copy of the repository (1-2 minutes)"]
fn sizes_are_the_same_when_built_in_another_folder() {
    let here = std::fs::canonicalize(repo()).unwrap();
    let copy = tempfile::Builder::new()
        .prefix("mote-elsewhere-")
        .tempdir()
        .unwrap();
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&here)
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files failed");
    for name in listed.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let (from, to) = (here.join(name), copy.path().join(name));
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    let started = std::time::Instant::now();
    let elsewhere = measure(&copy.path().join("firmware"));
    println!(
        "built in {} in {:.0?}:\n{elsewhere}",
        copy.path().display(),
        started.elapsed()
    );
    let here_sizes = measure(&here.join("firmware"));
    assert_eq!(differences(&here_sizes, &elsewhere), None, "{elsewhere}");
}
