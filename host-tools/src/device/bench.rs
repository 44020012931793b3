//! `mote bench`: what a model costs on an emulated board, deterministically.
//!
//! The blob runs on the board's firmware in QEMU with `-icount` (see [`qemu`](super::qemu)):
//! instructions per inference (exact, identical from run to run), each operator's share
//! (the firmware profiles the first sample a second time with `mote::profile`), the arena
//! from the memory plan, the peak stack (painted), and flash: the firmware's code, the part of
//! it that is the runtime, the blob, and the raw weights and biases the blob carries.
//!
//! QEMU counts instructions, not cycles: the figures compare code, not silicon.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mote::Model;
use mote::format::{DType, Op, Requant};
use object::{Object, ObjectSymbol, SymbolKind};
use serde::{Deserialize, Serialize};

use crate::device::qemu::{self, ArenaSize, Board};
use crate::inspect::macs;

/// One operator of a profiled inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Position in execution order.
    pub index: u16,
    /// The operator's TFLite name.
    pub op: String,
    /// Output shape, e.g. `1x32x32x16`.
    pub shape: String,
    /// Multiply-accumulates (0 for operators without).
    pub macs: u64,
    /// Instructions the operator took.
    pub instructions: u64,
}

/// Flash figures, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// The firmware image's code and read-only data (`.text` + `.rodata`, vector table).
    pub firmware_text: u64,
    /// The part of it in functions of the runtime crate and the crates it decodes blobs with
    /// (`mote`, `postcard`, `serde`, `heapless`), by symbol size.
    pub runtime_text: u64,
    /// Of which the kernels (`mote::kernels`).
    pub kernels_text: u64,
    /// The blob.
    pub blob: u64,
    /// The constant data the blob carries that any format must: weights and biases.
    pub weights_and_biases: u64,
    /// Per-channel requantization parameters (multipliers and shifts).
    pub requant_params: u64,
}

impl Flash {
    /// How much larger the blob is than its weights and biases, as a fraction.
    pub fn blob_overhead(&self) -> f64 {
        if self.weights_and_biases == 0 {
            return 0.0;
        }
        self.blob as f64 / self.weights_and_biases as f64 - 1.0
    }
}

/// What `mote bench` measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The model's name.
    pub model: String,
    /// The board.
    pub board: String,
    /// Whether the model was compiled into the firmware (`mote bench --compiled`), rather than
    /// run from the model region by the runner that takes any model.
    #[serde(default)]
    pub compiled: bool,
    /// Guest instructions of one inference (not profiled).
    pub instructions: u64,
    /// Multiply-accumulates of one inference.
    pub macs: u64,
    /// Arena bytes (the memory plan).
    pub arena_bytes: u64,
    /// Peak stack bytes of the whole firmware run (painted).
    pub stack_bytes: u64,
    /// Flash figures.
    pub flash: Flash,
    /// The profiled inference, operator by operator.
    pub layers: Vec<Layer>,
}

impl Report {
    /// Instructions per multiply-accumulate (0 without MACs).
    pub fn per_mac(&self) -> f64 {
        ratio(self.instructions, self.macs)
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let profiled: u64 = self.layers.iter().map(|l| l.instructions).sum();
        let _ = writeln!(
            out,
            "{} on {}{}: {} instructions per inference, {} MACs, {:.2} instructions/MAC",
            self.model,
            self.board,
            if self.compiled { " (compiled in)" } else { "" },
            group(self.instructions),
            group(self.macs),
            self.per_mac()
        );
        let _ = writeln!(
            out,
            "\n{:>3}  {:<18} {:<14} {:>11} {:>13} {:>9} {:>7}",
            "#", "op", "output", "MACs", "instructions", "instr/MAC", "share"
        );
        for l in &self.layers {
            let per_mac = if l.macs > 0 {
                format!("{:.2}", ratio(l.instructions, l.macs))
            } else {
                "-".to_string()
            };
            let _ = writeln!(
                out,
                "{:>3}  {:<18} {:<14} {:>11} {:>13} {:>9} {:>6.1}%",
                l.index,
                l.op,
                l.shape,
                group(l.macs),
                group(l.instructions),
                per_mac,
                100.0 * ratio(l.instructions, profiled)
            );
        }
        let overhead = self.instructions.saturating_sub(profiled);
        let _ = writeln!(
            out,
            "     (operators {}, interpreter between operators {})",
            group(profiled),
            group(overhead)
        );
        let f = &self.flash;
        let _ = writeln!(out, "\nmemory:");
        let _ = writeln!(out, "  arena            {:>9} B", group(self.arena_bytes));
        let _ = writeln!(
            out,
            "  peak stack       {:>9} B  (the whole firmware run)",
            group(self.stack_bytes)
        );
        let _ = writeln!(out, "flash:");
        let _ = writeln!(
            out,
            "  firmware code    {:>9} B  (text + rodata)",
            group(f.firmware_text)
        );
        let _ = writeln!(
            out,
            "  runtime code     {:>9} B  (mote, postcard, serde, heapless symbols; kernels {} B)",
            group(f.runtime_text),
            group(f.kernels_text)
        );
        let _ = writeln!(
            out,
            "  blob             {:>9} B  ({:+.2}% over the {} B of weights and biases; \
             per-channel requantization {} B)",
            group(f.blob),
            100.0 * f.blob_overhead(),
            group(f.weights_and_biases),
            group(f.requant_params)
        );
        let _ = writeln!(out, "\nQEMU counts instructions, not cycles (-icount).");
        if let Ok(board) = self.board.parse::<Board>() {
            let _ = writeln!(out, "Counter on {board}: {}.", board.counter());
        }
        out
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The weights-and-biases and requantization-parameter bytes of a model.
pub fn constant_sizes(model: &Model<'_>) -> Result<(u64, u64)> {
    let requant = |r: &Requant<'_>| match r {
        Requant::PerTensor(_) => 0,
        Requant::PerChannel {
            multipliers,
            shifts,
        } => (multipliers.len() + shifts.len()) as u64,
    };
    let (mut weights, mut params) = (0u64, 0u64);
    for op in model.ops() {
        let (w, b, r) = match op? {
            Op::FullyConnected(o) => (o.weights.len(), o.bias, requant(&o.requant)),
            Op::FullyConnectedPaired(o) => (o.pairs.len(), o.bias, requant(&o.requant)),
            Op::Conv2d(o) | Op::TransposeConv(o) => (o.filter.len(), o.bias, requant(&o.requant)),
            Op::DepthwiseConv2d(o) => (o.filter.len(), o.bias, requant(&o.requant)),
            _ => continue,
        };
        weights += (w + b.map_or(0, <[u8]>::len)) as u64;
        params += r;
    }
    Ok((weights, params))
}

/// A deterministic sample for `model`: pseudo-random int8 values, or floats in `[-1, 1)`.
pub fn default_sample(model: &Model<'_>) -> Result<Vec<u8>> {
    let mut state = 0x6d6f_7465u32; // "mote"
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut sample = Vec::new();
    for &id in model.inputs() {
        let t = model.tensor(id)?;
        let n = t.elements().context("input size overflows")?;
        for _ in 0..n {
            match t.dtype {
                DType::I8 | DType::U8 => sample.push(next() as u8),
                DType::I16 => sample.extend_from_slice(&(next() as i16).to_le_bytes()),
                DType::I32 => sample.extend_from_slice(&(next() as u8 as i32).to_le_bytes()),
                DType::F32 => {
                    let v = (next() >> 8) as f32 / (1u32 << 23) as f32 - 1.0;
                    sample.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    Ok(sample)
}

/// Bytes of code in the firmware `elf` that belong to the runtime, and to its kernels.
pub fn runtime_text(elf: &[u8]) -> Result<(u64, u64)> {
    let file = object::File::parse(elf).context("the firmware is not an ELF file")?;
    let (mut runtime, mut kernels) = (0u64, 0u64);
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text || symbol.size() == 0 {
            continue;
        }
        let Ok(name) = symbol.name() else { continue };
        let name = format!("{:#}", rustc_demangle::demangle(name));
        let name = name.trim_start_matches('<');
        let is_runtime = [
            "mote::",
            "postcard::",
            "serde::",
            "serde_core::",
            "heapless::",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        if is_runtime {
            runtime += symbol.size();
            if name.starts_with("mote::kernels::") {
                kernels += symbol.size();
            }
        }
    }
    Ok((runtime, kernels))
}

/// Runs `blob` (named `name`) on `board` over `input` (one sample; a deterministic one if
/// `None`) and measures it, on the runner that takes any model or, if `compiled` is the
/// blob's file, on firmware with that model built in ([`ArenaSize::Compiled`]).
pub fn bench(
    name: &str,
    blob: &[u8],
    board: Board,
    input: Option<&[u8]>,
    timeout: Duration,
    compiled: Option<&Path>,
) -> Result<Report> {
    let model = Model::parse(blob).context("invalid blob")?;
    let sample = match input {
        Some(s) => s.to_vec(),
        None => default_sample(&model)?,
    };
    let elf = match compiled {
        Some(path) => qemu::build_firmware_with(board, &ArenaSize::Compiled(path.to_path_buf()))?,
        None => qemu::build_firmware(board)?,
    };
    let device = qemu::run(board, &elf, blob, &sample, timeout)?;
    ensure!(
        device.instructions.len() == 1,
        "the input holds {} samples; bench takes one",
        device.instructions.len()
    );
    let image = std::fs::read(&elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let size = qemu::image_size(&image)?;
    let (runtime, kernels) = runtime_text(&image)?;
    let (weights_and_biases, requant_params) = constant_sizes(&model)?;
    let mut layers = Vec::new();
    for ((index, op), &instructions) in (0u16..).zip(model.ops()).zip(&device.profile) {
        let op = op?;
        let out = model.tensor(op.output())?;
        let dims: Vec<String> = out.shape.iter().map(u16::to_string).collect();
        layers.push(Layer {
            index,
            op: op.name().to_string(),
            shape: dims.join("x"),
            macs: macs(&model, &op),
            instructions,
        });
    }
    ensure!(
        layers.len() == usize::from(model.op_count()),
        "the firmware profiled {} of {} operators",
        layers.len(),
        model.op_count()
    );
    Ok(Report {
        model: name.to_string(),
        board: board.name().to_string(),
        compiled: compiled.is_some(),
        instructions: device.instructions[0],
        macs: layers.iter().map(|l| l.macs).sum(),
        arena_bytes: model.arena_size() as u64,
        stack_bytes: device.stack_bytes as u64,
        flash: Flash {
            firmware_text: size.text,
            runtime_text: runtime,
            kernels_text: kernels,
            blob: blob.len() as u64,
            weights_and_biases,
            requant_params,
        },
        layers,
    })
}

/// The model name `mote bench` reports for a blob file: its file stem.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(12_534_400), "12,534,400");
    }

    fn digits() -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits/digits.mote");
        std::fs::read(path).unwrap()
    }

    #[test]
    fn constants_and_sample_of_a_bundled_model() {
        let blob = digits();
        let model = Model::parse(&blob).unwrap();
        // 64-32-10 MLP: weights 64·32 + 32·10, biases 4·(32 + 10), per-channel requantization
        // (5 bytes a channel).
        let (weights, params) = constant_sizes(&model).unwrap();
        assert_eq!(weights, (64 * 32 + 32 * 10 + 4 * (32 + 10)) as u64);
        assert_eq!(params, 5 * (32 + 10));
        let sample = default_sample(&model).unwrap();
        let input = model.tensor(model.inputs()[0]).unwrap();
        assert_eq!(sample.len(), input.byte_len().unwrap());
        assert_eq!(sample, default_sample(&model).unwrap(), "deterministic");
    }

    #[test]
    fn flash_overhead() {
        let f = Flash {
            firmware_text: 0,
            runtime_text: 0,
            kernels_text: 0,
            blob: 105,
            weights_and_biases: 100,
            requant_params: 0,
        };
        assert!((f.blob_overhead() - 0.05).abs() < 1e-12);
    }
}
