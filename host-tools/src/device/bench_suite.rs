//! `mote bench-suite`: [`bench`](super::bench) over the four MLPerf Tiny models and the bundled
//! models on both QEMU boards, and the MLPerf models once more compiled into the firmware,
//! compared with the committed results (`bench/results.json`); `--bless` rewrites them and the
//! performance table in `README.md`.
//!
//! Speed is measured here, deterministically, not in timed tests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::device::bench::{self, Report, group};
use crate::device::qemu::Board;
use crate::intake::{import, tflite};

/// The boards the suite measures.
pub const BOARDS: [Board; 2] = [Board::Mps2An386, Board::Riscv32Virt];

/// The MLPerf Tiny models, in the order the tables list them.
pub const MLPERF: [&str; 4] = [
    "ic_resnet8",
    "kws_dscnn",
    "vww_mobilenetv1_025",
    "ad_fc_autoencoder",
];

/// The bundled models (`models/<name>/<name>.mote`).
pub const BUNDLED: [&str; 2] = ["digits", "sine"];

/// TensorFlow Lite Micro on the same emulated boards, from issue 6: instructions per inference
/// and arena bytes used.
#[derive(Debug, Clone, Copy)]
pub struct Tflm {
    /// The model.
    pub model: &'static str,
    /// Cortex-M4, TFLM's reference kernels.
    pub m4_reference: u64,
    /// Cortex-M4, TFLM with CMSIS-NN.
    pub m4_cmsis_nn: u64,
    /// RV32IMAC, TFLM's reference kernels.
    pub rv32_reference: u64,
    /// TFLM's arena use.
    pub arena: u64,
}

/// The reference figures (gcc -O2; `qemu-system-arm -machine mps2-an386 -icount shift=3` with
/// TIMER0, `qemu-system-riscv32 -machine virt` with `minstret`).
pub const TFLM: [Tflm; 4] = [
    Tflm {
        model: "ic_resnet8",
        m4_reference: 107_500_000,
        m4_cmsis_nn: 29_860_000,
        rv32_reference: 125_500_000,
        arena: 54_996,
    },
    Tflm {
        model: "kws_dscnn",
        m4_reference: 43_100_000,
        m4_cmsis_nn: 7_700_000,
        rv32_reference: 44_300_000,
        arena: 22_820,
    },
    Tflm {
        model: "vww_mobilenetv1_025",
        m4_reference: 100_500_000,
        m4_cmsis_nn: 24_100_000,
        rv32_reference: 109_900_000,
        arena: 100_708,
    },
    Tflm {
        model: "ad_fc_autoencoder",
        m4_reference: 1_950_000,
        m4_cmsis_nn: 583_000,
        rv32_reference: 2_480_000,
        arena: 2_580,
    },
];

/// The committed results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// What the file is and how to regenerate it.
    pub note: String,
    /// One report per model and board.
    pub results: Vec<Report>,
}

/// Where the suite's inputs are.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The repository (for `models/`).
    pub repo: PathBuf,
    /// The MLPerf Tiny folder (`<model>/model_int8.tflite`, `<model>/random_inputs.bin`).
    pub mlperf: PathBuf,
}

/// A suite model: its blob and the sample it runs on (`None`: the bench default).
pub fn model(sources: &Sources, name: &str) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    if MLPERF.contains(&name) {
        let dir = sources.mlperf.join(name);
        let path = dir.join("model_int8.tflite");
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let tfl = tflite::read(&bytes)?;
        let consts = bumpalo::Bump::new();
        let blob = import::import(&tfl, &consts)?.to_blob()?;
        let parsed = mote::Model::parse(&blob)?;
        let len = parsed
            .tensor(parsed.inputs()[0])?
            .byte_len()
            .context("input size")?;
        let inputs = dir.join("random_inputs.bin");
        let inputs =
            std::fs::read(&inputs).with_context(|| format!("cannot read {}", inputs.display()))?;
        let sample = inputs
            .get(..len)
            .context("no sample in random_inputs.bin")?;
        Ok((blob, Some(sample.to_vec())))
    } else {
        let path = sources.repo.join(format!("models/{name}/{name}.mote"));
        let blob =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok((blob, None))
    }
}

/// Runs the whole suite, reporting progress through `progress(model, board)`.
pub fn run(sources: &Sources, mut progress: impl FnMut(&str, Board)) -> Result<Vec<Report>> {
    let mut reports = Vec::new();
    // The compiled builds read the blob from a file; one per model, at a fixed path, so that
    // each model's firmware builds incrementally from run to run.
    let blobs = std::env::temp_dir().join("mote-bench-suite");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    for name in MLPERF.iter().chain(&BUNDLED) {
        let (blob, sample) = model(sources, name)?;
        let path = blobs.join(format!("{name}.mote"));
        if MLPERF.contains(name) {
            std::fs::write(&path, &blob)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        for board in BOARDS {
            progress(name, board);
            let builds = if MLPERF.contains(name) {
                vec![None, Some(path.as_path())]
            } else {
                vec![None]
            };
            for compiled in builds {
                let report = bench::bench(
                    name,
                    &blob,
                    board,
                    sample.as_deref(),
                    Duration::from_secs(600),
                    compiled,
                )
                .with_context(|| format!("{name} on {board}"))?;
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

/// The note at the top of the results file.
pub const NOTE: &str = "mote bench-suite: guest instructions per inference on QEMU with -icount \
    (instructions, not cycles), per-layer profiles, memory and flash. Regenerate with \
    `cargo mote bench-suite --bless`.";

fn find<'r>(reports: &'r [Report], model: &str, board: &str, compiled: bool) -> Option<&'r Report> {
    reports
        .iter()
        .find(|r| r.model == model && r.board == board && r.compiled == compiled)
}

fn change(old: u64, new: u64) -> String {
    if old == new {
        "=".to_string()
    } else if old == 0 {
        "new".to_string()
    } else {
        format!("{:+.2}%", 100.0 * (new as f64 / old as f64 - 1.0))
    }
}

/// The suite's figures against the committed ones, one line per model and board.
pub fn compare(old: &[Report], new: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<24} {:>13} {:>13} {:>9} {:>7} {:>8} {:>8} {:>8} {:>9}",
        "model",
        "board",
        "committed",
        "now",
        "change",
        "/MAC",
        "arena",
        "stack",
        "blob+%",
        "runtime"
    );
    for r in new {
        let before = find(old, &r.model, &r.board, r.compiled);
        let committed = before.map_or("-".to_string(), |b| group(b.instructions));
        let delta = before.map_or("new".to_string(), |b| {
            change(b.instructions, r.instructions)
        });
        let _ = writeln!(
            out,
            "{:<20} {:<24} {:>13} {:>13} {:>9} {:>7.2} {:>8} {:>8} {:>7.2}% {:>9}",
            r.model,
            if r.compiled {
                format!("{} (compiled)", r.board)
            } else {
                r.board.clone()
            },
            committed,
            group(r.instructions),
            delta,
            r.per_mac(),
            group(r.arena_bytes),
            group(r.stack_bytes),
            100.0 * r.flash.blob_overhead(),
            group(r.flash.runtime_text),
        );
        if let Some(b) = before {
            for (l, lb) in r.layers.iter().zip(&b.layers) {
                let moved = l.instructions.abs_diff(lb.instructions);
                if moved * 100 > b.instructions.max(1) {
                    let _ = writeln!(
                        out,
                        "    op {:>3} {:<18} {:>13} -> {:>13} ({})",
                        l.index,
                        l.op,
                        group(lb.instructions),
                        group(l.instructions),
                        change(lb.instructions, l.instructions)
                    );
                }
            }
        }
    }
    out
}

/// `12_534_400` as `12.53 M`, `19_615` as `19.6 k`.
fn millions(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.2} M", n as f64 / 1e6)
    } else {
        format!("{:.1} k", n as f64 / 1e3)
    }
}

/// The README's performance table (Markdown), generated from the suite's reports.
pub fn readme_table(reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| model | MACs | Cortex-M4: mote | TFLM + CMSIS-NN | mote / CMSIS-NN | RV32IMAC: mote | TFLM reference | arena: mote | TFLM | blob over weights + biases | runtime code, model compiled in: M4 / RV32 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for name in MLPERF.iter().chain(&BUNDLED) {
        let m4 = find(reports, name, Board::Mps2An386.name(), false);
        let rv = find(reports, name, Board::Riscv32Virt.name(), false);
        let Some(any) = m4.or(rv) else { continue };
        let tflm = TFLM.iter().find(|t| t.model == *name);
        let cell = |r: Option<&Report>| {
            r.map_or("-".to_string(), |r| {
                format!("{} ({:.2}/MAC)", millions(r.instructions), r.per_mac())
            })
        };
        let per_mac = |n: u64| n as f64 / any.macs.max(1) as f64;
        let (cmsis, ratio, rv_ref, arena) = match tflm {
            Some(t) => (
                format!(
                    "{} ({:.2}/MAC)",
                    millions(t.m4_cmsis_nn),
                    per_mac(t.m4_cmsis_nn)
                ),
                m4.map_or("-".to_string(), |r| {
                    format!("{:.2}x", r.instructions as f64 / t.m4_cmsis_nn as f64)
                }),
                format!(
                    "{} ({:.1}/MAC)",
                    millions(t.rv32_reference),
                    per_mac(t.rv32_reference)
                ),
                group(t.arena),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let compiled = |board: Board| {
            find(reports, name, board.name(), true).map_or("-".to_string(), |r| {
                format!("{} B", group(r.flash.runtime_text))
            })
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {cmsis} | {ratio} | {} | {rv_ref} | {} | {arena} | {:+.1}% | {} / {} |",
            millions(any.macs),
            cell(m4),
            cell(rv),
            group(any.arena_bytes),
            100.0 * any.flash.blob_overhead(),
            compiled(Board::Mps2An386),
            compiled(Board::Riscv32Virt),
        );
    }
    let mut flash = Vec::new();
    for board in BOARDS {
        if let Some(r) = reports
            .iter()
            .find(|r| r.board == board.name() && !r.compiled)
        {
            flash.push(format!(
                "{board} {} B (of which kernels {} B; whole firmware {} B)",
                group(r.flash.runtime_text),
                group(r.flash.kernels_text),
                group(r.flash.firmware_text)
            ));
        }
    }
    let stack = reports.iter().map(|r| r.stack_bytes).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "\nRuntime code (the `mote`, `postcard`, `serde` and `heapless` functions in the \
         firmware) of the runners, which take any model, every operator included: {}. With the \
         model compiled in (`mote bench --compiled`: only its operators, no blob decoder), the \
         last column. Peak stack of the whole firmware run: at most {} B.",
        flash.join("; "),
        group(stack)
    );
    out
}

/// Markers around the generated table in `README.md`.
pub const README_BEGIN: &str =
    "<!-- bench-suite: begin (generated by `cargo mote bench-suite --bless`) -->";
/// See [`README_BEGIN`].
pub const README_END: &str = "<!-- bench-suite: end -->";

/// `readme` with the text between the markers replaced by `table`.
pub fn update_readme(readme: &str, table: &str) -> Result<String> {
    let (Some(begin), Some(end)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
        bail!("README.md has no bench-suite markers");
    };
    if end < begin {
        bail!("README.md's bench-suite markers are out of order");
    }
    Ok(format!(
        "{}{README_BEGIN}\n{table}{}",
        &readme[..begin],
        &readme[end..]
    ))
}

/// The results file's path in `repo`.
pub fn results_path(repo: &Path) -> PathBuf {
    repo.join("bench/results.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::bench::{Flash, Layer};

    fn report(model: &str, board: &str, instructions: u64) -> Report {
        Report {
            model: model.into(),
            board: board.into(),
            compiled: false,
            instructions,
            macs: 1000,
            arena_bytes: 768,
            stack_bytes: 2000,
            flash: Flash {
                firmware_text: 50_000,
                runtime_text: 30_000,
                kernels_text: 10_000,
                blob: 1050,
                weights_and_biases: 1000,
                requant_params: 0,
            },
            layers: vec![Layer {
                index: 0,
                op: "FULLY_CONNECTED".into(),
                shape: "1x8".into(),
                macs: 1000,
                instructions,
            }],
        }
    }

    #[test]
    fn compares_with_the_committed_figures() {
        let old = [report("ad_fc_autoencoder", "mps2-an386", 2000)];
        let new = [report("ad_fc_autoencoder", "mps2-an386", 1500)];
        let text = compare(&old, &new);
        assert!(text.contains("2,000"), "{text}");
        assert!(text.contains("-25.00%"), "{text}");
        assert!(text.contains("op   0 FULLY_CONNECTED"), "{text}");
        assert!(compare(&new, &new).contains(" = "));
    }

    #[test]
    fn table_goes_between_the_markers() {
        let reports = [
            report("ad_fc_autoencoder", "mps2-an386", 437_000),
            report("ad_fc_autoencoder", "riscv32-virt", 900_000),
        ];
        let table = readme_table(&reports);
        assert!(table.contains("| ad_fc_autoencoder |"), "{table}");
        assert!(table.contains("0.75x"), "{table}");
        let readme = format!("intro\n{README_BEGIN}\nold\n{README_END}\noutro\n");
        let updated = update_readme(&readme, &table).unwrap();
        assert!(updated.starts_with("intro\n"));
        assert!(updated.ends_with(&format!("{README_END}\noutro\n")));
        assert!(!updated.contains("old"));
        assert!(update_readme("no markers", &table).is_err());
    }
}
