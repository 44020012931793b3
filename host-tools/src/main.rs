//! `mote`: train, quantize, import, inspect and run int8 models for microcontrollers.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mote_tools::device::{self, bench, bench_suite, flash, qemu, update};
use mote_tools::intake::onnx::{self, InputLayout};
use mote_tools::intake::{data, float_tflite, import, reference, tflite};
use mote_tools::plot::Curve;
use mote_tools::quantize::calibrate::Method;
use mote_tools::train::model::FloatModel;
use mote_tools::train::spec::Spec;
use mote_tools::train::{eval, fit};
use mote_tools::{dump, inspect, io, plan, plot, quantize, run, sign, validate};

/// int8 inference for microcontrollers: from a trained (or imported) model to a blob that the
/// same runtime runs on the host and on the device.
#[derive(Parser)]
#[command(name = "mote", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a float model from a spec file (models/<name>/spec.toml).
    Train {
        /// The model's spec.
        spec: PathBuf,
        /// Where to write the float model [default: <name>.float.json next to the spec].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Quantize a trained float model to an int8 blob (post-training, per-channel weights,
    /// activation ranges calibrated on training samples).
    Quantize {
        /// The model's spec.
        spec: PathBuf,
        /// The float model [default: <name>.qat.json next to the spec if the spec asks for
        /// quantization-aware training, else <name>.float.json].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Where to write the blob [default: <name>.mote next to the spec].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Import a model as a blob with a planned arena: an int8 .tflite keeps its quantization
    /// exactly; a float model (ONNX, float .tflite) is quantized to int8 through calibration
    /// on `--calibration` samples; a QDQ ONNX model keeps its scales.
    Import {
        /// The model: .tflite (int8 or float) or .onnx (float or QDQ).
        model: PathBuf,
        /// Where to write the blob.
        #[arg(short, long)]
        output: PathBuf,
        /// Calibration samples for a float model: an NPY array of shape [samples, *input
        /// shape] (the model's own layout, e.g. NCHW for ONNX), float32 or float64.
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// How activation ranges are chosen from the calibration samples: minmax,
        /// moving-average, percentile[:P] (default 99.99) or mse.
        #[arg(long, default_value = "minmax", value_parser = parse_method)]
        method: Method,
        /// The shape of a graph input with dynamic dimensions, e.g. 1,3,32,32 (once per such
        /// input, in order).
        #[arg(long, value_parser = parse_shape)]
        input_shape: Vec<Shape>,
        /// Layout of the blob's image inputs: nhwc (the runtime's, no conversion on the device)
        /// or nchw (the ONNX model's, converted by a TRANSPOSE on the device).
        #[arg(long, value_enum, default_value = "nhwc")]
        input_layout: InputLayout,
        /// Also write the int8 model as a .tflite file (TFLM runs it too).
        #[arg(long)]
        emit_tflite: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for signing models: the private key (PKCS#8 PEM, keep it
    /// secret) and the public key next to it (`<name>.pub.pem`), which firmware is built with
    /// (`MOTE_PUBLIC_KEY`). Existing files are not overwritten.
    Keygen {
        /// Where to write the private key, e.g. `model-signing.pem`.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Sign a blob: a signed envelope with a model version (runtime/FORMAT.md). Firmware
    /// built with the public key runs only models signed with this key, and refuses one whose
    /// version is lower than the model it runs.
    Sign {
        /// The blob.
        blob: PathBuf,
        /// The private key (`mote keygen`, or `openssl genpkey -algorithm ed25519`).
        #[arg(long)]
        key: PathBuf,
        /// The model's version: increase it with every release.
        #[arg(long)]
        model_version: u32,
        /// Where to write the signed blob.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Compile a blob into Rust source for a firmware that runs this one model: validated
    /// now, so the device needs no decoder or validation code (mote without its `blob`
    /// feature). Defines `ARENA_BYTES` and `MODEL`; include it with `include!`. A build
    /// script can do the same with `mote::compile::build_script`.
    Compile {
        /// The blob.
        blob: PathBuf,
        /// Where to write the Rust source, e.g. `src/model.rs`.
        #[arg(short, long)]
        output: PathBuf,
        /// The firmware's target triple, e.g. `thumbv7em-none-eabihf`: the source then needs
        /// only that target's kernel paths (the features printed are that target's) and
        /// asserts it is built for it; without it, it builds for any target.
        #[arg(long)]
        target: Option<String>,
    },
    /// Compare an int8 blob with its float reference model on (labelled) data: top-1 accuracy
    /// of both, agreement, RMSE, L2 relative error, cosine, confusion matrix.
    Validate {
        /// The blob.
        blob: PathBuf,
        /// The float model the blob was imported from (.onnx or float .tflite).
        #[arg(long)]
        reference: PathBuf,
        /// Samples: an NPY array [samples, *input shape] in the model's own layout.
        #[arg(long)]
        data: PathBuf,
        /// Labels: an NPY array of one integer class per sample.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Also report each layer's quantization error (SQNR, dB).
        #[arg(long)]
        per_layer: bool,
        /// Write charts as SVG into this folder: confusion.svg (with --labels) and layers.svg
        /// (with --per-layer).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Run the blob on this QEMU board instead of the host (the per-layer report stays on
        /// the host).
        #[arg(long, value_enum)]
        board: Option<qemu::Board>,
        /// As given to `mote import`.
        #[arg(long, value_parser = parse_shape)]
        input_shape: Vec<Shape>,
        /// As given to `mote import`.
        #[arg(long, value_enum, default_value = "nhwc")]
        input_layout: InputLayout,
    },
    /// Compare the float model and the int8 blob on the held-out test split.
    Eval {
        /// The model's spec.
        spec: PathBuf,
        /// The float model [default: <name>.float.json next to the spec].
        #[arg(long)]
        model: Option<PathBuf>,
        /// The blob [default: <name>.mote next to the spec].
        #[arg(long)]
        blob: Option<PathBuf>,
    },
    /// Run a blob on the host over a batch of samples.
    Run {
        /// The blob.
        blob: PathBuf,
        /// Samples, one file per graph input in order (`-i a.bin b.bin` or `-i a.bin -i
        /// b.bin`): raw bytes in the input's type back to back, or .csv/.npy numbers
        /// (quantized at the boundary).
        #[arg(short, long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        /// Where to write the outputs, one file per graph output in order: raw bytes back to
        /// back, or real values for a .csv name.
        #[arg(short, long, num_args = 1.., required = true)]
        output: Vec<PathBuf>,
        /// Also write each operator's output for the first sample into this folder.
        #[arg(long)]
        dump_layers: Option<PathBuf>,
        /// Reset a recurrent model's state (LSTM, SVDF) before every N-th sample, starting
        /// each sequence of N afresh [default: never: the state carries across all samples,
        /// as on the device].
        #[arg(long, value_name = "N")]
        reset_every: Option<usize>,
    },
    /// Show a blob's layers, quantization, memory plan and sizes.
    Inspect {
        /// The blob.
        blob: PathBuf,
    },
    /// Run a blob on a QEMU board: builds (or reuses) the board's firmware, boots it with the
    /// blob in its model region and the samples in its input region, and writes the device's
    /// outputs in the same layout as `mote run`.
    Qemu {
        /// The blob.
        blob: PathBuf,
        /// The emulated board.
        #[arg(long, value_enum)]
        board: qemu::Board,
        /// Samples, one file per graph input, as for `mote run`.
        #[arg(short, long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        /// Where to write the device's outputs, one file per graph output, as for `mote run`.
        #[arg(short, long, num_args = 1.., required = true)]
        output: Vec<PathBuf>,
        /// Seconds one boot may take before QEMU is stopped.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Build the firmware with a static arena of exactly what this blob needs (read at
        /// build time, `MOTE_BLOB`), in its own target folder, instead of the default 256 KiB.
        #[arg(long)]
        arena_from_blob: bool,
        /// Build firmware that runs only models signed with this key's private half (an
        /// Ed25519 public key in PEM, from `mote keygen`); give a `mote sign`ed blob.
        #[arg(long, conflicts_with = "arena_from_blob")]
        public_key: Option<PathBuf>,
    },
    /// Write a kit's firmware, a model, or both into its flash: through a debug probe
    /// (probe-rs), or with --image into a file of the exact bytes. With --model alone only the
    /// model region is written and the firmware stays; every check runs before a byte is
    /// written.
    Flash {
        /// The board.
        #[arg(long, value_enum)]
        board: qemu::Board,
        /// A blob for the model region (slot A). Alone, only the model region is written.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write the firmware too when a model is given.
        #[arg(long, requires = "model")]
        with_firmware: bool,
        /// Samples for the runner firmware's input region, one file per graph input as for
        /// `mote run`: it runs them at boot and logs the outputs (boards whose input region is
        /// flash: microbit, nrf52840-dk, rp2040-pico, esp32c3-devkit).
        #[arg(short, long, num_args = 1.., requires = "model")]
        input: Vec<PathBuf>,
        /// The firmware, an ELF with mote's region symbols (`__model_start`...) [default: the
        /// board's runner from firmware/, built now].
        #[arg(long)]
        elf: Option<PathBuf>,
        /// Write the bytes into this file instead of through a probe: a raw image whose first
        /// byte goes at the address printed.
        #[arg(long)]
        image: Option<PathBuf>,
        /// The probe, as VID:PID or VID:PID:SERIAL, when several are connected.
        #[arg(long, conflicts_with = "image")]
        probe: Option<String>,
        /// After flashing, print the firmware's defmt log (RTT) until stopped with Ctrl-C.
        #[arg(long, conflicts_with = "image")]
        attach: bool,
    },
    /// Send a model to a device's field runner over a serial link: the device writes it into
    /// the slot that is not running, validates it (checksum, signature, version, arena) and
    /// stages it with one flash word; after the reset it tries it and keeps it once its first
    /// inference succeeds, or reverts to the model it ran. Power may fail at any point.
    Update {
        /// The model: a blob, or a signed envelope (`mote sign`) for a firmware with a key.
        model: PathBuf,
        /// The link: a serial port (e.g. /dev/ttyACM0), tcp:HOST:PORT or unix:PATH (QEMU's
        /// UART on a socket).
        #[arg(long)]
        port: String,
        /// Baud rate of a serial port.
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        /// Stage the model without resetting the device: it is tried at the next boot.
        #[arg(long)]
        no_reset: bool,
    },
    /// Write a firmware project for your own application on a kit: a cargo project depending
    /// on mote, the model in the chip's flash region, the arena sized from the blob at build
    /// time, the input from a stub sensor (embedded-hal I2C) to replace, the result on the
    /// kit's LED and in the defmt log (RTT).
    New {
        /// The project folder to create (its name is the package's).
        dir: PathBuf,
        /// The kit.
        #[arg(long, value_enum)]
        board: qemu::Board,
        /// The model, copied in as model.mote (it sizes the arena) [default: none; the arena
        /// is what the chip's RAM leaves].
        #[arg(long)]
        model: Option<PathBuf>,
        /// mote's runtime crate to depend on [default: this checkout's runtime/].
        #[arg(long)]
        mote_path: Option<PathBuf>,
    },
    /// Measure a blob on a QEMU board, deterministically: instructions per inference (QEMU's
    /// -icount), a per-layer profile, arena, peak stack and flash.
    Bench {
        /// The blob.
        blob: PathBuf,
        /// The emulated board.
        #[arg(long, value_enum)]
        board: qemu::Board,
        /// One sample, one file per graph input, as for `mote run` [default: deterministic
        /// pseudo-random values].
        #[arg(short, long, num_args = 1..)]
        input: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Seconds the QEMU run may take.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Build the model into the firmware (`mote compile`: no blob decoder on the device,
        /// only the model's operators) instead of running it on the runner that takes any.
        #[arg(long)]
        compiled: bool,
    },
    /// Run `mote bench` over the four MLPerf Tiny models and the bundled models on both QEMU
    /// boards and show the change against the committed results (bench/results.json).
    BenchSuite {
        /// Rewrite bench/results.json and the performance table in README.md.
        #[arg(long)]
        bless: bool,
        /// The MLPerf Tiny folder.
        #[arg(long, default_value = "tests/data/mlperf-tiny")]
        mlperf: PathBuf,
    },
    /// The whole job on a bundled model: train, quantize, evaluate, then run the blob on the
    /// host and on every QEMU board and check that every output byte matches.
    Demo {
        /// The model's spec.
        #[arg(default_value = "models/digits/spec.toml")]
        spec: PathBuf,
        /// Where to put the trained model and blob [default: a temporary folder].
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    fn run(self) -> Result<()> {
        match self {
            Command::Train { spec, output } => cmd_train(&spec, output),
            Command::Quantize {
                spec,
                model,
                output,
            } => cmd_quantize(&spec, model, output),
            Command::Import {
                model,
                output,
                calibration,
                method,
                input_shape,
                input_layout,
                emit_tflite,
            } => {
                let options = onnx_options(input_shape, input_layout);
                let float = FloatOptions {
                    calibration,
                    method,
                    options,
                    emit_tflite,
                };
                cmd_import(&model, &output, &float)
            }
            Command::Validate {
                blob,
                reference,
                data,
                labels,
                per_layer,
                plot,
                board,
                input_shape,
                input_layout,
            } => {
                let options = onnx_options(input_shape, input_layout);
                let files = ValidateFiles {
                    blob,
                    reference,
                    data,
                    labels,
                    plot,
                    board,
                };
                cmd_validate(&files, per_layer, &options)
            }
            Command::Eval { spec, model, blob } => cmd_eval(&spec, model, blob),
            Command::Keygen { output } => cmd_keygen(&output),
            Command::Sign {
                blob,
                key,
                model_version,
                output,
            } => cmd_sign(&blob, &key, model_version, &output),
            Command::Compile {
                blob,
                output,
                target,
            } => cmd_compile(&blob, &output, target.as_deref()),
            Command::Run {
                blob,
                input,
                output,
                dump_layers,
                reset_every,
            } => cmd_run(&blob, &input, &output, dump_layers.as_deref(), reset_every),
            Command::Inspect { blob } => {
                print!("{}", inspect::report(&read_blob(&blob)?)?);
                Ok(())
            }
            Command::Qemu {
                blob,
                board,
                input,
                output,
                timeout,
                arena_from_blob,
                public_key,
            } => {
                let firmware = match (public_key, arena_from_blob) {
                    (Some(key), _) => Firmware::Keyed(key),
                    (None, true) => Firmware::Arena(qemu::ArenaSize::FromBlob(blob.clone())),
                    (None, false) => Firmware::Arena(qemu::ArenaSize::FromEnvironment),
                };
                cmd_qemu(
                    &blob,
                    board,
                    &firmware,
                    &input,
                    &output,
                    Duration::from_secs(timeout),
                )
            }
            Command::Update {
                model,
                port,
                baud,
                no_reset,
            } => cmd_update(&model, &port, baud, no_reset),
            Command::Flash {
                board,
                model,
                with_firmware,
                input,
                elf,
                image,
                probe,
                attach,
            } => cmd_flash(
                board,
                model.as_deref(),
                &input,
                with_firmware || model.is_none(),
                elf.as_deref(),
                image.as_deref(),
                probe.as_deref(),
                attach,
            ),
            Command::New {
                dir,
                board,
                model,
                mote_path,
            } => {
                let blob = model.as_deref().map(read_file_blob).transpose()?;
                let runtime = mote_path.unwrap_or_else(device::scaffold::default_runtime);
                device::scaffold::create(&dir, board, blob.as_deref(), &runtime)?;
                let target = board.target();
                let name = dir.file_name().unwrap_or_default().to_string_lossy();
                println!("wrote {}: a firmware for the {board}. Next:", dir.display());
                println!("  cd {} && cargo build --release", dir.display());
                println!(
                    "  mote flash --board {board} --elf target/{target}/release/{name} \
                     --model model.mote --with-firmware --attach"
                );
                Ok(())
            }
            Command::Bench {
                blob,
                board,
                input,
                json,
                timeout,
                compiled,
            } => cmd_bench(&blob, board, &input, json, timeout, compiled),
            Command::BenchSuite { bless, mlperf } => cmd_bench_suite(bless, &mlperf),
            Command::Demo { spec, out_dir } => cmd_demo(&spec, out_dir),
        }
    }
}

/// A blob file as it is (a signed one in its envelope: `mote qemu` hands it to the device).
fn read_file_blob(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read blob {}", path.display()))
}

/// The blob a file holds, out of its signed envelope if it has one: what the host runs.
fn read_blob(path: &Path) -> Result<Vec<u8>> {
    read_file_blob(path).map(|bytes| sign::model_bytes(&bytes).to_vec())
}

fn cmd_keygen(private: &Path) -> Result<()> {
    let public = sign::public_key_path(private);
    for path in [private, public.as_path()] {
        if path.exists() {
            bail!(
                "{} exists: mote keygen does not overwrite a key (remove it or choose another \
                 name)",
                path.display()
            );
        }
    }
    let (private_pem, public_pem, raw) = sign::keygen()?;
    io::write_all_atomic(&[
        (private, private_pem.as_bytes()),
        (public.as_path(), public_pem.as_bytes()),
    ])?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "wrote {} (private: keep it secret) and {} (public key {hex}); build firmware that \
         verifies models with MOTE_PUBLIC_KEY={}",
        private.display(),
        public.display(),
        public.display()
    );
    Ok(())
}

fn cmd_sign(blob_path: &Path, key: &Path, model_version: u32, output: &Path) -> Result<()> {
    let blob = read_file_blob(blob_path)?;
    let pem = std::fs::read_to_string(key)
        .with_context(|| format!("cannot read the key {}", key.display()))?;
    let signed = sign::sign(&blob, &pem, model_version)
        .with_context(|| format!("cannot sign {}", blob_path.display()))?;
    io::write_atomic(output, &signed)?;
    println!(
        "wrote {} (model version {model_version}, {} bytes: the blob's {} and a 16-byte \
         header and 64-byte signature)",
        output.display(),
        signed.len(),
        blob.len()
    );
    Ok(())
}

fn cmd_compile(blob_path: &Path, output: &Path, target: Option<&str>) -> Result<()> {
    let blob = read_blob(blob_path)?;
    let source = mote::compile::rust_source(&blob, target)
        .with_context(|| format!("{} is not a valid model", blob_path.display()))?;
    let features = mote::compile::required_features(&blob, target)
        .with_context(|| format!("{} is not a valid model", blob_path.display()))?;
    io::write_atomic(output, source.as_bytes())?;
    println!(
        "wrote {} ({} bytes of Rust: the model's tables, ARENA_BYTES and MODEL)\n\
         the smallest mote for it ({}): default-features = false, features = {features:?}",
        output.display(),
        source.len(),
        target.unwrap_or("any target"),
    );
    Ok(())
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Loss and accuracy, training and validation, by epoch, as SVG.
fn learning_curves(name: &str, epochs: &[fit::Epoch]) -> Result<String> {
    let curve = |name: &str, value: &dyn Fn(&fit::Epoch) -> Option<f32>, percent: bool| Curve {
        name: name.to_string(),
        points: epochs
            .iter()
            .filter_map(|e| {
                let v = f64::from(value(e)?);
                Some((e.number as f64, if percent { 100.0 * v } else { v }))
            })
            .collect(),
    };
    plot::learning_curves_svg(
        &format!("{name}: training"),
        &[
            curve("training", &|e| Some(e.loss), false),
            curve("validation", &|e| e.validation.map(|v| v.0), false),
        ],
        &[
            curve("training", &|e| e.accuracy, true),
            curve("validation", &|e| e.validation.and_then(|v| v.1), true),
        ],
    )
}

/// One epoch's figures on a line.
fn epoch_summary(epoch: &fit::Epoch) -> String {
    let mut message = format!("loss {:.4}", epoch.loss);
    if let Some(a) = epoch.accuracy {
        message += &format!(", accuracy {:.2}%", 100.0 * a);
    }
    if let Some((loss, accuracy)) = epoch.validation {
        message += &format!("; validation loss {loss:.4}");
        if let Some(a) = accuracy {
            message += &format!(", accuracy {:.2}%", 100.0 * a);
        }
    }
    message
}

/// Shows an epoch on the bar and, as a line, above it (or alone, when the output is not a
/// terminal and the bar is hidden).
fn report_epoch(bar: &ProgressBar, what: &str, epoch: &fit::Epoch) {
    bar.set_message(epoch_summary(epoch));
    let line = format!("{what} epoch {:>3}: {}", epoch.number, epoch_summary(epoch));
    match bar.is_hidden() {
        true => println!("{line}"),
        false => bar.println(line),
    }
    bar.inc(1);
}

fn cmd_train(spec_path: &Path, output: Option<PathBuf>) -> Result<()> {
    let spec = Spec::load(spec_path)?;
    let train_set = data::train_split(&spec)?;
    let validation = data::split_of(&spec, data::Split::Validation)?;
    let bar = progress(spec.training.epochs, "training");
    let mut epochs = Vec::new();
    let model = fit::train(&spec, &train_set, validation.as_ref(), &mut |epoch| {
        report_epoch(&bar, "training", epoch);
        epochs.push(*epoch);
    })?;
    bar.finish();
    let path = output.unwrap_or_else(|| spec.float_model_path());
    let curves_path = path.with_file_name(format!("{}.curves.svg", spec.name));
    let curves = learning_curves(&spec.name, &epochs)?;
    io::write_atomic(&path, serde_json::to_string_pretty(&model)?.as_bytes())?;
    io::write_atomic(&curves_path, curves.as_bytes())?;
    let last = epochs.last().map_or(0, |e| e.number);
    let stopped = if last < spec.training.epochs {
        format!(", stopped early after epoch {last}")
    } else {
        String::new()
    };
    println!(
        "wrote {} ({} train samples{stopped}) and the learning curves {}",
        path.display(),
        train_set.len(),
        curves_path.display()
    );
    if spec.training.qat_epochs > 0 {
        let calibration = train_set.len().min(spec.quantization.calibration_samples);
        let samples: Vec<&[f32]> = (0..calibration).map(|i| train_set.sample(i).0).collect();
        let bar = progress(spec.training.qat_epochs, "QAT");
        let qat = fit::fine_tune(
            &spec,
            &model,
            &train_set,
            validation.as_ref(),
            &samples,
            &mut |epoch| report_epoch(&bar, "quantization-aware", epoch),
        )?;
        bar.finish();
        let qat_path = path.with_file_name(format!("{}.qat.json", spec.name));
        io::write_atomic(&qat_path, serde_json::to_string_pretty(&qat)?.as_bytes())?;
        println!(
            "wrote {} (quantization-aware, {} epochs)",
            qat_path.display(),
            spec.training.qat_epochs
        );
    }
    Ok(())
}

fn cmd_quantize(spec_path: &Path, model: Option<PathBuf>, output: Option<PathBuf>) -> Result<()> {
    let spec = Spec::load(spec_path)?;
    let model_path = model.unwrap_or_else(|| spec.blob_model_path());
    let float = FloatModel::load(&model_path)?;
    let samples = calibration_samples(&spec)?;
    let quantized = quantize::trained(&float, &samples.refs(), spec.quantization.float_io)?;
    let blob = quantized.blob;
    let path = output.unwrap_or_else(|| spec.blob_path());
    io::write_atomic(&path, &blob)?;
    if !quantized.layers.is_empty() {
        let chart = path.with_file_name(format!("{}.layers.svg", spec.name));
        let title = format!("{}: int8 against float, layer by layer", spec.name);
        io::write_atomic(
            &chart,
            plot::layers_svg(&quantized.layers, &title)?.as_bytes(),
        )?;
        println!("wrote the per-layer quantization error {}", chart.display());
    }
    let model = mote::Model::parse(&blob)?;
    println!(
        "wrote {} from {} ({} bytes, arena {} bytes, calibrated on {} samples)",
        path.display(),
        model_path.display(),
        blob.len(),
        model.arena_size(),
        samples.len()
    );
    Ok(())
}

/// The first `quantization.calibration_samples` training samples.
struct Calibration(data::Dataset, usize);

impl Calibration {
    fn refs(&self) -> Vec<&[f32]> {
        (0..self.1).map(|i| self.0.sample(i).0).collect()
    }

    fn len(&self) -> usize {
        self.1
    }
}

fn calibration_samples(spec: &Spec) -> Result<Calibration> {
    let train = data::train_split(spec)?;
    let n = spec.quantization.calibration_samples.min(train.len());
    Ok(Calibration(train, n))
}

fn cmd_eval(spec_path: &Path, model: Option<PathBuf>, blob: Option<PathBuf>) -> Result<()> {
    let spec = Spec::load(spec_path)?;
    let float = FloatModel::load(&model.unwrap_or_else(|| spec.float_model_path()))?;
    let blob_path = blob.unwrap_or_else(|| spec.blob_path());
    let blob = read_blob(&blob_path)?;
    let test = data::test_split(&spec)?;
    let c = eval::compare(&float, &blob, &test)?;
    println!("{} on {} test samples", spec.name, c.samples);
    let show = |what: &str, value: f64| match c.metric {
        "accuracy" => println!("  {what} accuracy  {:.2}%", 100.0 * value),
        metric => println!("  {what} {metric}  {value:.6}"),
    };
    show("float", c.float);
    if spec.training.qat_epochs > 0 {
        // The blob comes from the quantization-aware model: set post-training quantization of
        // the float model beside it.
        let samples = calibration_samples(&spec)?;
        let ptq = quantize::trained(&float, &samples.refs(), spec.quantization.float_io)?.blob;
        show(
            "post-training int8",
            eval::compare(&float, &ptq, &test)?.int8,
        );
        println!(
            "  int8 below: the blob, quantization-aware ({} epochs)",
            spec.training.qat_epochs
        );
    }
    show("int8 ", c.int8);
    if let Some(matrix) = &c.confusion {
        let recalls: Vec<String> = matrix
            .iter()
            .enumerate()
            .map(|(class, row)| {
                let name = test.labels.get(class).cloned().unwrap_or(class.to_string());
                let total = row.iter().sum::<usize>().max(1);
                format!("{name} {:.1}%", 100.0 * row[class] as f64 / total as f64)
            })
            .collect();
        println!("  int8 per class  {}", recalls.join(", "));
        // Speech Commands' convention: `_silence_` and `_unknown_` are fillers, not keywords.
        let keywords: Vec<usize> = (0..matrix.len())
            .filter(|&c| test.labels.get(c).is_some_and(|l| !l.starts_with('_')))
            .collect();
        if !keywords.is_empty() && keywords.len() < matrix.len() {
            let right: usize = keywords.iter().map(|&c| matrix[c][c]).sum();
            let total: usize = keywords
                .iter()
                .map(|&c| matrix[c].iter().sum::<usize>())
                .sum();
            println!(
                "  int8 accuracy on the keywords alone  {:.2}%",
                100.0 * right as f64 / total.max(1) as f64
            );
        }
        let path = blob_path.with_file_name(format!("{}.confusion.svg", spec.name));
        let title = format!("{}: int8 on the test split (rows: label)", spec.name);
        io::write_atomic(&path, plot::confusion_svg(matrix, &title)?.as_bytes())?;
        println!("  confusion matrix {}", path.display());
    }
    Ok(())
}

fn cmd_run(
    blob_path: &Path,
    input: &[PathBuf],
    output: &[PathBuf],
    dump: Option<&Path>,
    reset_every: Option<usize>,
) -> Result<()> {
    let blob = read_blob(blob_path)?;
    let model = mote::Model::parse(&blob)
        .with_context(|| format!("invalid blob {}", blob_path.display()))?;
    let io = run::io_defs(&model)?;
    let inputs = run::read_inputs(input, &io)?;
    let outputs = run::run_samples_resetting(&blob, &inputs, reset_every, &mut ())?;
    if let Some(dir) = dump {
        dump_layers(&blob, &inputs[..io.input_len()], dir)?;
    }
    run::write_outputs(output, &io, &outputs)?;
    println!(
        "ran {} samples; wrote {}",
        inputs.len() / io.input_len(),
        names(output)
    );
    Ok(())
}

/// Paths for a message.
fn names(paths: &[PathBuf]) -> String {
    let each: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    each.join(", ")
}

/// Writes `NNN_<OP>.bin` with operator NNN's output for one sample.
fn dump_layers(blob: &[u8], sample: &[u8], dir: &Path) -> Result<()> {
    let layers = dump::run_with_dump(blob, sample)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, name, bytes) in layers {
        io::write_atomic(&dir.join(format!("{i:03}_{name}.bin")), &bytes)?;
    }
    Ok(())
}

fn cmd_qemu(
    blob_path: &Path,
    board: qemu::Board,
    firmware: &Firmware,
    input: &[PathBuf],
    output: &[PathBuf],
    timeout: Duration,
) -> Result<()> {
    // The device gets the file as it is: a signed blob is verified there.
    let blob = read_file_blob(blob_path)?;
    let model = mote::Model::parse(sign::model_bytes(&blob))
        .with_context(|| format!("invalid blob {}", blob_path.display()))?;
    let io = run::io_defs(&model)?;
    let inputs = run::read_inputs(input, &io)?;
    let device = run_on_board(board, firmware, &blob, &inputs, timeout)?;
    run::write_outputs(output, &io, &device.outputs)?;
    print_device_figures(board, &device);
    println!("wrote {}", names(output));
    Ok(())
}

fn cmd_update(model: &Path, port: &str, baud: u32, no_reset: bool) -> Result<()> {
    let bytes = read_file_blob(model)?;
    let blob = sign::model_bytes(&bytes);
    mote::Model::parse(blob).with_context(|| format!("{} is not a valid blob", model.display()))?;
    let checksum = mote::format::declared_checksum(blob).context("no blob header")?;
    let mut device = update::Device::new(update::open(port, baud)?);
    match device.status()? {
        Some(running) => println!("running: {running}"),
        None => println!("running: no valid model"),
    }
    let bar = progress(bytes.len(), "sending");
    device.send_model(&bytes, |sent| bar.set_position(sent as u64))?;
    bar.finish();
    println!("staged: the next boot tries it");
    if no_reset {
        return Ok(());
    }
    device.reset()?;
    let running = device.booted(Duration::from_secs(30))?;
    println!("running: {running}");
    ensure!(
        running.checksum == checksum,
        "the device runs another model than {}: it was not kept",
        model.display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one per command-line option
fn cmd_flash(
    board: qemu::Board,
    model: Option<&Path>,
    input: &[PathBuf],
    firmware: bool,
    elf: Option<&Path>,
    image_path: Option<&Path>,
    probe: Option<&str>,
    attach: bool,
) -> Result<()> {
    let elf = match elf {
        Some(path) => path.to_path_buf(),
        None => qemu::build_firmware(board)?,
    };
    let elf_bytes =
        std::fs::read(&elf).with_context(|| format!("cannot read {}", elf.display()))?;
    // A signed blob goes into flash as it is: the firmware verifies it.
    let blob = model.map(read_file_blob).transpose()?;
    let samples = match (&blob, input.is_empty()) {
        (Some(blob), false) => {
            ensure!(
                board.input_in_flash(),
                "the {board} firmware's input region is RAM, not flash: --input cannot write it"
            );
            let model = mote::Model::parse(sign::model_bytes(blob)).context("invalid blob")?;
            Some(run::read_inputs(input, &run::io_defs(&model)?)?)
        }
        _ => None,
    };
    // A chip that boots an application image gets its firmware from the probe, which makes the
    // image from the ELF: the flash image holds the loader regions only.
    let app_image = (firmware && board.boots_app_image()).then_some(elf.as_path());
    if app_image.is_some() && image_path.is_some() {
        bail!(
            "the {board} boots an ESP-IDF application image, which the probe makes from the \
             ELF as it flashes: an image file for it holds the loader regions only (give \
             --model, and --input, without --with-firmware; or flash through the probe)"
        );
    }
    let contents = flash::Contents {
        firmware: firmware && app_image.is_none(),
        model: blob.as_deref(),
        samples: samples.as_deref(),
    };
    let image = if app_image.is_some() && blob.is_none() {
        qemu::regions(&elf_bytes)?;
        flash::FlashImage::default()
    } else {
        flash::image(&elf_bytes, contents)
            .with_context(|| format!("cannot flash {} to the {board}", elf.display()))?
    };
    let what = match (firmware, model, samples.is_some()) {
        (true, Some(_), true) => "the firmware, the model and the samples",
        (true, Some(_), false) => "the firmware and the model",
        (true, None, _) => "the firmware",
        (false, _, true) => "the model and the samples",
        (false, _, false) => "the model region",
    };
    match image_path {
        Some(path) => {
            io::write_atomic(path, &image.bytes)?;
            println!(
                "wrote {}: {what}, {} bytes for {:#010x}..{:#010x} of the {board}",
                path.display(),
                image.bytes.len(),
                image.base,
                image.end()
            );
        }
        None => {
            let chip = board.chip().with_context(|| {
                format!("the {board} is an emulator's board, not a kit: use mote qemu, or --image")
            })?;
            match app_image {
                Some(_) => println!(
                    "flashing {what} to the {board} (the firmware as an ESP-IDF application \
                     image)"
                ),
                None => println!(
                    "flashing {what} ({} bytes at {:#010x}) to the {board}",
                    image.bytes.len(),
                    image.base
                ),
            }
            device::probe::write(
                &chip,
                probe,
                &image,
                app_image,
                attach.then_some(&elf_bytes[..]),
            )?;
            println!("written and read back");
        }
    }
    Ok(())
}

/// Which firmware `mote qemu` builds.
enum Firmware {
    /// The default, or its arena sized from the blob.
    Arena(qemu::ArenaSize),
    /// One that runs only models signed with the key whose public half this PEM file holds.
    Keyed(PathBuf),
}

fn run_on_board(
    board: qemu::Board,
    firmware: &Firmware,
    blob: &[u8],
    inputs: &[u8],
    timeout: Duration,
) -> Result<qemu::DeviceRun> {
    ensure!(
        board.emulated(),
        "no emulator runs the {board}: flash it (mote flash --board {board})"
    );
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!("building the {board} firmware"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let elf = match firmware {
        Firmware::Arena(arena) => qemu::build_firmware_with(board, arena),
        Firmware::Keyed(key) => qemu::build_firmware_keyed(board, key),
    };
    spinner.set_message(format!("running on {board}"));
    let device = elf.and_then(|elf| {
        let image =
            std::fs::read(&elf).with_context(|| format!("cannot read {}", elf.display()))?;
        if let Some(misfit) = qemu::misfit(&qemu::regions(&image)?, blob) {
            return Err(Misfit(format!("the model does not fit the {board}: {misfit}")).into());
        }
        qemu::run(board, &elf, blob, inputs, timeout)
    });
    spinner.finish_and_clear();
    device
}

fn print_device_figures(board: qemu::Board, device: &qemu::DeviceRun) {
    let n = device.instructions.len().max(1) as u64;
    let total: u64 = device.instructions.iter().sum();
    let (min, max) = (
        device.instructions.iter().min().copied().unwrap_or(0),
        device.instructions.iter().max().copied().unwrap_or(0),
    );
    println!(
        "{board}: {} samples, {} instructions per inference (min {min}, max {max}), arena {} B, stack {} B",
        device.instructions.len(),
        total / n,
        device.arena_bytes,
        device.stack_bytes
    );
}

fn cmd_bench(
    blob_path: &Path,
    board: qemu::Board,
    input: &[PathBuf],
    json: bool,
    timeout: u64,
    compiled: bool,
) -> Result<()> {
    let blob = read_blob(blob_path)?;
    let model = mote::Model::parse(&blob)
        .with_context(|| format!("invalid blob {}", blob_path.display()))?;
    let sample = if input.is_empty() {
        None
    } else {
        let io = run::io_defs(&model)?;
        let inputs = run::read_inputs(input, &io)?;
        Some(inputs[..io.input_len().min(inputs.len())].to_vec())
    };
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!("building and running on {board}"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let report = bench::bench(
        &bench::model_name(blob_path),
        &blob,
        board,
        sample.as_deref(),
        Duration::from_secs(timeout),
        compiled.then_some(blob_path),
    );
    spinner.finish_and_clear();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn cmd_bench_suite(bless: bool, mlperf: &Path) -> Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let repo = std::fs::canonicalize(&repo).unwrap_or(repo);
    let sources = bench_suite::Sources {
        repo: repo.clone(),
        mlperf: mlperf.to_path_buf(),
    };
    let results_path = bench_suite::results_path(&repo);
    let committed: Vec<bench::Report> = match std::fs::read(&results_path) {
        Ok(bytes) => {
            serde_json::from_slice::<bench_suite::Results>(&bytes)
                .with_context(|| format!("cannot read {}", results_path.display()))?
                .results
        }
        Err(_) => Vec::new(),
    };
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let reports = bench_suite::run(&sources, |model, board| {
        spinner.set_message(format!("{model} on {board}"));
    });
    spinner.finish_and_clear();
    let reports = reports?;
    print!("{}", bench_suite::compare(&committed, &reports));
    let table = bench_suite::readme_table(&reports);
    if bless {
        let results = bench_suite::Results {
            note: bench_suite::NOTE.to_string(),
            results: reports,
        };
        let mut json = serde_json::to_string_pretty(&results)?;
        json.push('\n');
        if let Some(dir) = results_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        io::write_atomic(&results_path, json.as_bytes())?;
        let readme_path = repo.join("README.md");
        let readme = std::fs::read_to_string(&readme_path)
            .with_context(|| format!("cannot read {}", readme_path.display()))?;
        io::write_atomic(
            &readme_path,
            bench_suite::update_readme(&readme, &table)?.as_bytes(),
        )?;
        println!(
            "\nwrote {} and the table in {}",
            results_path.display(),
            readme_path.display()
        );
    } else {
        println!("\n{table}");
        println!("(--bless writes bench/results.json and this table into README.md)");
    }
    Ok(())
}

/// The most test samples the demo runs on each board: enough to compare thousands of output
/// bytes, few enough that a second of audio per sample stays quick under emulation.
const DEMO_DEVICE_SAMPLES: usize = 200;

fn cmd_demo(spec_path: &Path, out_dir: Option<PathBuf>) -> Result<()> {
    let spec = Spec::load(spec_path)?;
    let scratch = tempfile::tempdir()?;
    let dir = out_dir.unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let float_path = dir.join(format!("{}.float.json", spec.name));
    let blob_path = dir.join(format!("{}.mote", spec.name));
    let quantized_path = match spec.training.qat_epochs {
        0 => float_path.clone(),
        _ => dir.join(format!("{}.qat.json", spec.name)),
    };

    println!("== 1. train {} (float)", spec.name);
    cmd_train(spec_path, Some(float_path.clone()))?;
    println!("\n== 2. quantize to int8");
    cmd_quantize(spec_path, Some(quantized_path), Some(blob_path.clone()))?;
    println!("\n== 3. float vs int8 on the test split");
    cmd_eval(spec_path, Some(float_path), Some(blob_path.clone()))?;

    println!("\n== 4. the int8 blob on the host and on the QEMU boards");
    let blob = read_blob(&blob_path)?;
    let test = data::test_split(&spec)?;
    let inputs = eval::encode_inputs(&blob, &test)?;
    let samples = test.len().min(DEMO_DEVICE_SAMPLES);
    let inputs = &inputs[..inputs.len() / test.len().max(1) * samples];
    let host = run::run_samples(&blob, inputs, &mut ())?;
    println!("host: {samples} test samples, {} output bytes", host.len());
    for board in qemu::Board::EMULATED {
        let device = match run_on_board(
            board,
            &Firmware::Arena(qemu::ArenaSize::FromEnvironment),
            &blob,
            inputs,
            Duration::from_secs(300),
        ) {
            Err(e) if e.downcast_ref::<Misfit>().is_some() => {
                println!("{board}: skipped: {e}");
                continue;
            }
            run => run?,
        };
        print_device_figures(board, &device);
        if device.outputs != host {
            let first = device.outputs.iter().zip(&host).position(|(a, b)| a != b);
            bail!("{board} differs from the host (first differing output byte: {first:?})");
        }
        println!("{board}: all {} output bytes equal the host's", host.len());
    }
    println!("\n== 5. the blob");
    print!("{}", inspect::report(&blob)?);
    Ok(())
}

/// A model too large for a board's memory regions.
#[derive(Debug)]
struct Misfit(String);

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Misfit {}

/// What `mote import` needs for a float model.
struct FloatOptions {
    calibration: Option<PathBuf>,
    method: Method,
    options: onnx::Options,
    emit_tflite: Option<PathBuf>,
}

/// How `mote import` and `mote validate` read an ONNX model.
fn onnx_options(input_shape: Vec<Shape>, input_layout: InputLayout) -> onnx::Options {
    onnx::Options {
        input_shapes: input_shape.into_iter().map(|s| s.0).collect(),
        input_layout,
    }
}

/// A tensor shape on the command line: `1,3,32,32`.
#[derive(Debug, Clone)]
struct Shape(Vec<usize>);

fn parse_shape(s: &str) -> Result<Shape, String> {
    s.split(',')
        .map(|d| match d.trim().parse::<usize>() {
            Ok(d) if d > 0 => Ok(d),
            _ => Err(format!(
                "`{d}` in `{s}` is not a positive dimension (e.g. 1,3,32,32)"
            )),
        })
        .collect::<Result<_, _>>()
        .map(Shape)
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse().map_err(|e: anyhow::Error| e.to_string())
}

fn cmd_import(model_path: &Path, output: &Path, float: &FloatOptions) -> Result<()> {
    let bytes = std::fs::read(model_path)
        .with_context(|| format!("cannot read {}", model_path.display()))?;
    let int8_tflite = if reference::is_tflite(&bytes) {
        let model = tflite::read(&bytes)
            .with_context(|| format!("{} is not a valid .tflite model", model_path.display()))?;
        if float_tflite::is_float16(&model) {
            bail!(
                "{} holds float16 weights (a float16-quantized model), which mote does not \
                 read: export it as float32 (then import with --calibration) or as int8",
                model_path.display()
            );
        }
        !float_tflite::is_float(&model)
    } else {
        false
    };
    if !int8_tflite {
        return import_float(model_path, &bytes, output, float);
    }
    if float.calibration.is_some() {
        bail!(
            "{} is an int8 model: it keeps its own quantization, so --calibration does not apply",
            model_path.display()
        );
    }
    let model = tflite::read(&bytes)?;
    let consts = bumpalo::Bump::new();
    let mut graph = import::import(&model, &consts)
        .with_context(|| format!("cannot import {}", model_path.display()))?;
    let bound = plan::lower_bound(&graph)?;
    let blob = graph.to_blob()?;
    io::write_atomic(output, &blob)?;
    let parsed = mote::Model::parse(&blob)?;
    println!(
        "wrote {} ({} operators, blob {} bytes, arena {} bytes; the live tensors' peak is {bound})",
        output.display(),
        parsed.op_count(),
        blob.len(),
        parsed.arena_size(),
    );
    Ok(())
}

/// Reads an NPY array of float samples for `reference`'s single input.
fn read_samples(path: &Path, reference: &reference::Reference, what: &str) -> Result<data::Array> {
    let array = data::read_array(path)?;
    let want = reference
        .inputs
        .first()
        .map(|v| v.shape.clone())
        .unwrap_or_default();
    if reference.inputs.len() != 1 {
        bail!(
            "the model has {} inputs; {what} takes models with one",
            reference.inputs.len()
        );
    }
    if array.integer {
        bail!(
            "{}: {what} samples must be floating point (f4 or f8), as the float model takes \
             them; this array holds integers",
            path.display()
        );
    }
    if array.shape.len() < 2 || array.sample_len() != reference.input_len(0) {
        bail!(
            "{}: an array of shape {:?}, but the model's input is {want:?}: {what} samples must \
             be an array of shape [samples, {}] in the model's own layout",
            path.display(),
            array.shape,
            want.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(array)
}

fn import_float(
    model_path: &Path,
    bytes: &[u8],
    output: &Path,
    float: &FloatOptions,
) -> Result<()> {
    let reference = reference::from_bytes(bytes, &float.options)
        .with_context(|| format!("cannot import {}", model_path.display()))?;
    let has_own_scales = reference.graph.tensors.iter().any(|t| t.fixed.is_some());
    if float.calibration.is_none() && !has_own_scales {
        bail!(
            "{} is a float model: give calibration samples with --calibration samples.npy (an \
             array [samples, {}] in the model's own layout), from which mote chooses the int8 \
             ranges",
            model_path.display(),
            reference.inputs.first().map_or(String::new(), |v| v
                .shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
    let calibration = match &float.calibration {
        Some(path) => Some(read_samples(path, &reference, "calibration")?),
        None => None,
    };
    let originals: Vec<&[f32]> = calibration
        .as_ref()
        .map(|a| (0..a.samples()).map(|i| a.sample(i)).collect())
        .unwrap_or_default();
    let samples = originals
        .iter()
        .map(|x| reference.stored_input(0, x))
        .collect::<Result<Vec<_>>>()?;
    let per_sample: Vec<Vec<&[f32]>> = samples.iter().map(|s| vec![s.as_slice()]).collect();
    let imported = quantize::float_model(&reference.graph, &per_sample, float.method)
        .with_context(|| format!("cannot quantize {}", model_path.display()))?;
    // The per-layer error on (up to 64 of) the calibration samples, before anything is
    // written: a failure leaves no file behind.
    let layers = match originals.len() {
        0 => Vec::new(),
        n => validate::per_layer(
            &reference,
            &imported.blob,
            &imported.names,
            &originals[..n.min(64)],
        )?,
    };
    if let Some(path) = &float.emit_tflite {
        io::write_atomic(path, &imported.tflite)?;
    }
    io::write_atomic(output, &imported.blob)?;
    let parsed = mote::Model::parse(&imported.blob)?;
    println!(
        "wrote {} ({} operators, blob {} bytes, arena {} bytes; {})",
        output.display(),
        parsed.op_count(),
        imported.blob.len(),
        parsed.arena_size(),
        if samples.is_empty() {
            "quantization from the model's QDQ pairs".to_owned()
        } else {
            format!(
                "calibrated by {} on {} samples",
                float.method,
                samples.len()
            )
        }
    );
    if !layers.is_empty() {
        print_layers(&layers, "calibration samples");
    }
    Ok(())
}

fn print_layers(layers: &[validate::LayerError], on: &str) {
    println!("per-layer quantization error on the {on} (SQNR, higher is better):");
    for l in layers {
        println!("  {:>7.1} dB  {:<18} {}", l.sqnr_db, l.op, l.name);
    }
}

/// The files `mote validate` reads and writes.
struct ValidateFiles {
    blob: PathBuf,
    reference: PathBuf,
    data: PathBuf,
    labels: Option<PathBuf>,
    plot: Option<PathBuf>,
    board: Option<qemu::Board>,
}

fn cmd_validate(files: &ValidateFiles, per_layer: bool, options: &onnx::Options) -> Result<()> {
    let (blob_path, reference_path, data_path) = (&files.blob, &files.reference, &files.data);
    let blob = read_blob(blob_path)?;
    let reference = reference::load(reference_path, options)?;
    let array = read_samples(data_path, &reference, "validation")?;
    let labels = match &files.labels {
        Some(path) => {
            let l = data::read_array(path)?;
            if !l.integer || l.sample_len() != 1 || l.samples() != array.samples() {
                bail!(
                    "{}: labels must be an integer array of shape [{}] (one class per sample); \
                     it has shape {:?}",
                    path.display(),
                    array.samples(),
                    l.shape
                );
            }
            let classes = reference
                .graph
                .outputs
                .first()
                .map_or(0, |&t| reference.graph.tensors[t].element_count());
            let labels: Vec<usize> = l
                .values
                .iter()
                .map(|&v| usize::try_from(v as i64).ok().filter(|&c| c < classes))
                .collect::<Option<_>>()
                .with_context(|| {
                    format!(
                        "{}: labels must be classes 0 to {} (the model has {classes} outputs)",
                        path.display(),
                        classes.saturating_sub(1)
                    )
                })?;
            Some(labels)
        }
        None => None,
    };
    let samples: Vec<&[f32]> = (0..array.samples()).map(|i| array.sample(i)).collect();
    let report = match files.board {
        None => validate::compare(
            &reference,
            &blob,
            &samples,
            labels.as_deref(),
            validate::on_host(&blob),
        )?,
        Some(board) => {
            let on_board = |inputs: &[u8]| {
                let firmware = Firmware::Arena(qemu::ArenaSize::default());
                let device =
                    run_on_board(board, &firmware, &blob, inputs, Duration::from_secs(600))?;
                print_device_figures(board, &device);
                Ok(device.outputs)
            };
            validate::compare(&reference, &blob, &samples, labels.as_deref(), on_board)?
        }
    };
    println!(
        "{} (int8, {}) against {} (float) on {}:",
        blob_path.display(),
        files
            .board
            .map_or("on the host".to_owned(), |b| format!("on {b}")),
        reference_path.display(),
        data_path.display()
    );
    print!("{report}");
    let mut charts = Vec::new();
    if let (Some(dir), Some(confusion)) = (&files.plot, &report.confusion) {
        let title = format!("int8 confusion matrix, {} samples", report.samples);
        charts.push((
            dir.join("confusion.svg"),
            plot::confusion_svg(confusion, &title)?,
        ));
    }
    if per_layer {
        let names = validate::tensor_names(&reference, &blob)?;
        let layers = validate::per_layer(&reference, &blob, &names, &samples)?;
        print_layers(&layers, "validation samples");
        if let Some(dir) = &files.plot {
            let title = "quantization error per layer (validation samples)";
            charts.push((dir.join("layers.svg"), plot::layers_svg(&layers, title)?));
        }
    }
    if let Some(dir) = &files.plot {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (path, svg) in &charts {
            io::write_atomic(path, svg.as_bytes())?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
