//! The audio front end (AUDIO_FRONTEND: 16 kHz int16 PCM to int8 log-mel features) computes
//! the same bytes on the boards as on the host: Cortex-M4F, RISC-V RV32IMAC, Cortex-M3 and
//! the micro:bit's Cortex-M0, over silence, tones, a chirp in noise, speech-like harmonics and
//! full-scale extremes. The features a model is trained on (the host's) are then the ones the
//! device computes. Prints the instructions per second of audio. WAV files are read as such a
//! model's input, and other formats are refused with what to do.
//!
//! Needs QEMU and the embedded targets; `cargo test -p mote-tests --test audio_frontend --
//! --nocapture`.
#![forbid(unsafe_code)]

use std::time::Duration;

use heapless::Vec as HVec;
use mote::format::{self, DType, Graph, Op, TensorDef, Unary};
use mote::kernels::reference::audio::{self, CHANNELS, FEATURE_ZERO_POINT};
use mote_tools::device::qemu::{self, Board};

/// One second of audio on the boards with room for it; the micro:bit's 16 KiB of RAM and
/// input flash take a tenth of a second (4 frames).
const BOARDS: [(Board, usize); 4] = [
    (Board::Mps2An386, 16_000),
    (Board::Riscv32Virt, 16_000),
    (Board::Mps2An385, 16_000),
    (Board::Microbit, 1_600),
];

fn tensor(dtype: DType, shape: &[u16], scale: f32, zero_point: i32, offset: u32) -> TensorDef {
    TensorDef {
        dtype,
        shape: HVec::from_slice(shape).unwrap(),
        scale,
        zero_point,
        offset,
        first_op: 0,
        last_op: 0,
    }
}

/// A blob with the front end alone, for `samples` samples.
fn front_end(samples: usize) -> Vec<u8> {
    let frames = audio::frames(samples) as u16;
    let pcm = tensor(DType::I16, &[1, samples as u16], 1.0 / 32768.0, 0, 0);
    let features = tensor(
        DType::I8,
        &[1, frames, CHANNELS as u16, 1],
        audio::FEATURE_SCALE,
        FEATURE_ZERO_POINT,
        pcm.byte_len().unwrap() as u32,
    );
    let arena = features.offset + features.byte_len().unwrap() as u32;
    let table = format::encode_tensors(&[pcm, features]).unwrap();
    let op = Op::AudioFrontend(Unary {
        input: 0,
        output: 1,
    });
    let ops = format::encode_ops(&[op]).unwrap();
    let graph = Graph {
        arena_size: arena,
        inputs: HVec::from_slice(&[0]).unwrap(),
        outputs: HVec::from_slice(&[1]).unwrap(),
        tensors: &table,
        op_count: 1,
        ops: &ops,
    };
    let blob = format::encode(&graph).unwrap();
    mote::Model::parse(&blob).unwrap();
    blob
}

/// Test signals of `samples` samples each, as little-endian int16 bytes back to back.
fn signals(samples: usize) -> Vec<u8> {
    let mut seed = 0x2545_F491u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        f64::from(seed % 65_536) / 32_768.0 - 1.0
    };
    let tau = 2.0 * std::f64::consts::PI;
    let mut out = Vec::new();
    for kind in 0..5 {
        for n in 0..samples {
            let t = n as f64 / f64::from(audio::SAMPLE_RATE);
            let x = match kind {
                0 => 0.0,
                1 => 9_000.0 * (tau * 440.0 * t).sin() + 3_000.0 * (tau * 3_300.0 * t).sin(),
                2 => 7_000.0 * (tau * (100.0 + 3_000.0 * t) * t).sin() + 1_500.0 * noise(),
                // A vowel-like buzz: harmonics of 140 Hz under two formants.
                3 => (1..40)
                    .map(|h| {
                        let f = 140.0 * f64::from(h);
                        let formants = (-((f - 700.0) / 150.0).powi(2)).exp()
                            + 0.6 * (-((f - 1_200.0) / 200.0).powi(2)).exp();
                        2_500.0 * formants * (tau * f * t).sin()
                    })
                    .sum::<f64>(),
                _ => {
                    if n % 7 < 3 {
                        32_767.0
                    } else {
                        -32_768.0
                    }
                }
            };
            out.extend_from_slice(&(x.round() as i16).to_le_bytes());
        }
    }
    out
}

/// Every sample's features on the host, as `mote run` computes them.
fn host(blob: &[u8], inputs: &[u8]) -> Vec<u8> {
    mote_tools::run::run_samples(blob, inputs, &mut ()).unwrap()
}

#[test]
fn the_boards_compute_the_hosts_features() {
    for (board, samples) in BOARDS {
        let blob = front_end(samples);
        let inputs = signals(samples);
        let want = host(&blob, &inputs);
        // The signals are not all alike: silence is the floor, the others are not.
        let rows = audio::frames(samples) * CHANNELS;
        assert!(want[..rows].iter().all(|&f| f as i8 == -128));
        assert!(
            want.chunks(rows)
                .skip(1)
                .all(|s| s.iter().any(|&f| f as i8 > -60))
        );
        let elf = qemu::build_firmware(board).unwrap_or_else(|e| panic!("{board}: {e:#}"));
        let run = qemu::run(board, &elf, &blob, &inputs, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{board}: {e:#}"));
        if let Some(at) = run.outputs.iter().zip(&want).position(|(a, b)| a != b) {
            panic!(
                "{board}: feature {at} (frame {}, channel {}) is {} on the device, {} on the host",
                at % rows / CHANNELS,
                at % CHANNELS,
                run.outputs[at] as i8,
                want[at] as i8
            );
        }
        assert_eq!(run.outputs.len(), want.len(), "{board}");
        let mean = run.instructions.iter().sum::<u64>() / run.instructions.len() as u64;
        let per_second = mean as f64 * f64::from(audio::SAMPLE_RATE) / samples as f64;
        println!(
            "{board}: {} inferences equal the host; {mean} instructions per {samples} samples, \
             {:.2} M per second of audio; arena {} bytes",
            run.instructions.len(),
            per_second / 1e6,
            run.arena_bytes
        );
    }
}

fn write_wav(path: &std::path::Path, rate: u32, channels: u16, bits: u16, samples: usize) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..samples * usize::from(channels) {
        let x = (f64::from(n as u32) * 0.3).sin() * 5_000.0;
        if bits == 16 {
            writer.write_sample(x as i16).unwrap();
        } else {
            writer.write_sample(x as i32).unwrap();
        }
    }
    writer.finalize().unwrap();
}

#[test]
fn wav_files_are_inputs_and_other_formats_are_refused() {
    use mote_tools::run;
    let dir = tempfile::tempdir().unwrap();
    let blob = front_end(16_000);
    let model = mote::Model::parse(&blob).unwrap();
    let io = run::io_defs(&model).unwrap();
    // Two seconds: two samples, read as the model's int16 input.
    let good = dir.path().join("speech.wav");
    write_wav(&good, 16_000, 1, 16, 32_000);
    let bytes = run::read_inputs(std::slice::from_ref(&good), &io).unwrap();
    assert_eq!(bytes.len(), 64_000);
    let first = i16::from_le_bytes([bytes[2], bytes[3]]);
    assert_eq!(first, (0.3f64.sin() * 5_000.0) as i16);
    let features = host(&blob, &bytes);
    assert_eq!(features.len(), 2 * 49 * CHANNELS);
    assert!(
        features.iter().any(|&f| f as i8 > -60),
        "a tone is not silence"
    );
    for (name, rate, channels, bits, samples, says) in [
        ("cd.wav", 44_100, 1, 16, 44_100, "44100 Hz"),
        ("stereo.wav", 16_000, 2, 16, 16_000, "2 channel(s)"),
        ("deep.wav", 16_000, 1, 24, 16_000, "24-bit"),
        (
            "short.wav",
            16_000,
            1,
            16,
            12_000,
            "not a whole number of samples",
        ),
    ] {
        let path = dir.path().join(name);
        write_wav(&path, rate, channels, bits, samples);
        let err = format!("{:#}", run::read_inputs(&[path], &io).unwrap_err());
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    let damaged = dir.path().join("damaged.wav");
    std::fs::write(&damaged, &std::fs::read(&good).unwrap()[..3_000]).unwrap();
    let err = format!("{:#}", run::read_inputs(&[damaged], &io).unwrap_err());
    assert!(err.contains("damaged.wav"), "{err}");
    let not_wav = dir.path().join("noise.wav");
    std::fs::write(&not_wav, b"RIFF? no").unwrap();
    let err = format!("{:#}", run::read_inputs(&[not_wav], &io).unwrap_err());
    assert!(err.contains("not a readable WAV file"), "{err}");
    // An int8 input takes no sound.
    let digits = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/digits/digits.mote"
    ))
    .unwrap();
    let digits = mote::Model::parse(&digits).unwrap();
    let err = format!(
        "{:#}",
        run::read_inputs(&[good], &run::io_defs(&digits).unwrap()).unwrap_err()
    );
    assert!(err.contains("int16 PCM input"), "{err}");
}
