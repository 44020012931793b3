//! The firmware computes, on every QEMU board, exactly what the runtime computes on the host,
//! byte for byte; its instruction counts are deterministic; and the harness can fail: a
//! corrupted blob or a torn sample makes the device exit with the status that says so.
//!
//! Needs QEMU and the embedded targets (`.ci/install-deps.sh`); builds the firmware on first
//! use (`firmware/target`, about a minute per board from scratch).
#![forbid(unsafe_code)]

use std::time::Duration;

use mote::format::{Clamp, DType, FullyConnected, Op, Requant, Softmax};
use mote_tools::device::qemu::{self, Board, DeviceError, SelfTest, protocol};
use mote_tools::plan::graph::HostGraph;
use mote_tools::quantize::qmath::quantize_multiplier;

const TIMEOUT: Duration = Duration::from_secs(60);
const DEPTH: usize = 64;
const UNITS: usize = 16;

/// xorshift64*: reproducible test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// FULLY_CONNECTED (64 -> 16, random int8 weights and int32 biases) + SOFTMAX.
fn blob() -> Vec<u8> {
    let mut rng = Rng(0x6d6f_7465);
    let weights = rng.bytes(DEPTH * UNITS);
    let bias: Vec<u8> = (0..UNITS)
        .flat_map(|_| ((rng.next() % 4001) as i32 - 2000).to_le_bytes())
        .collect();
    let (in_scale, w_scale, logit_scale) = (0.05f64, 0.02f64, 0.2f64);

    let mut g = HostGraph::default();
    let x = g
        .add_tensor("x", DType::I8, &[1, DEPTH], in_scale as f32, 3)
        .unwrap();
    let logits = g
        .add_tensor("logits", DType::I8, &[1, UNITS], logit_scale as f32, -5)
        .unwrap();
    let probs = g
        .add_tensor("probs", DType::I8, &[1, UNITS], 1.0 / 256.0, -128)
        .unwrap();
    let requant = quantize_multiplier(in_scale * w_scale / logit_scale).unwrap();
    // TFLM's softmax parameters for beta = 1 (kScaledDiffIntegerBits = 5), as `import` does.
    let softmax = quantize_multiplier(logit_scale * f64::from(1u32 << 26)).unwrap();
    let radius = (31.0 * 2f64.powi(26) / 2f64.powi(i32::from(softmax.shift))).floor();
    g.ops = vec![
        Op::FullyConnected(FullyConnected {
            input: x,
            output: logits,
            units: UNITS as u16,
            weights: &weights,
            bias: Some(&bias),
            requant: Requant::PerTensor(requant),
            clamp: Clamp::NONE,
        }),
        Op::Softmax(Softmax {
            input: logits,
            output: probs,
            input_multiplier: softmax.multiplier,
            input_left_shift: i32::from(softmax.shift),
            diff_min: -(radius as i32),
        }),
    ];
    g.inputs = vec![x];
    g.outputs = vec![probs];
    g.to_blob().unwrap()
}

/// A single FULLY_CONNECTED with a wide input: `batches` rows of `WIDE` int8 values to one
/// unit each. Its samples are large (batches × 60000 bytes), and so is its arena.
fn wide_blob(batches: usize) -> Vec<u8> {
    let weights = Rng(3).bytes(WIDE);
    let mut g = HostGraph::default();
    let x = g
        .add_tensor("x", DType::I8, &[batches, WIDE], 0.05, 0)
        .unwrap();
    let y = g.add_tensor("y", DType::I8, &[batches, 1], 4.0, 0).unwrap();
    g.ops = vec![Op::FullyConnected(FullyConnected {
        input: x,
        output: y,
        units: 1,
        weights: &weights,
        bias: None,
        requant: Requant::PerTensor(quantize_multiplier(0.05 * 0.02 / 4.0).unwrap()),
        clamp: Clamp::NONE,
    })];
    g.inputs = vec![x];
    g.outputs = vec![y];
    g.to_blob().unwrap()
}

const WIDE: usize = 60_000;

/// The outputs of every sample, computed on the host by the same runtime.
fn host_outputs(blob: &[u8], inputs: &[u8]) -> Vec<u8> {
    let model = mote::Model::parse(blob).unwrap();
    let sample = model.tensor(model.inputs()[0]).unwrap().byte_len().unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut interpreter = mote::Interpreter::new(&model, &mut arena).unwrap();
    let mut out = Vec::new();
    for sample in inputs.chunks_exact(sample) {
        interpreter.set_input(0, sample).unwrap();
        interpreter.invoke().unwrap();
        out.extend_from_slice(interpreter.output(0).unwrap());
    }
    out
}

fn device_error(err: &anyhow::Error) -> &DeviceError {
    err.downcast_ref::<DeviceError>()
        .unwrap_or_else(|| panic!("not a device error: {err:#}"))
}

fn device_matches_host(board: Board) {
    let elf = qemu::build_firmware(board).unwrap();
    let image = std::fs::read(&elf).unwrap();
    let blob = blob();
    let inputs = Rng(board as u64 + 7).bytes(DEPTH * 5);
    let expected = host_outputs(&blob, &inputs);

    let run = qemu::run(board, &elf, &blob, &inputs, TIMEOUT).unwrap();
    assert_eq!(
        run.outputs, expected,
        "{board}: device outputs differ from the host's"
    );
    assert_eq!(run.instructions.len(), 5);
    assert!(
        run.instructions.iter().all(|&n| n > 1000),
        "{:?}",
        run.instructions
    );
    assert_eq!(
        run.arena_bytes,
        mote::Model::parse(&blob).unwrap().arena_size()
    );
    assert!(
        run.stack_bytes > 0 && run.stack_bytes < 64 * 1024,
        "{}",
        run.stack_bytes
    );
    assert!(
        run.log.iter().any(|l| l.contains("inferences")),
        "{:#?}",
        run.log
    );

    // Deterministic: the same run retires the same instructions.
    let again = qemu::run(board, &elf, &blob, &inputs, TIMEOUT).unwrap();
    assert_eq!(
        again.instructions, run.instructions,
        "{board}: counts are not deterministic"
    );

    let size = qemu::image_size(&image).unwrap();
    eprintln!(
        "{board}: instructions per inference {:?}; arena {} of {} bytes; stack {} bytes; \
         image text {} data {} bss {}; QEMU run {:?}\n  {}",
        run.instructions,
        run.arena_bytes,
        run.arena_capacity,
        run.stack_bytes,
        size.text,
        size.data,
        size.bss,
        run.wall_time,
        run.log.join("\n  ")
    );
}

#[test]
fn mps2_an386_matches_host() {
    device_matches_host(Board::Mps2An386);
}

#[test]
fn riscv32_virt_matches_host() {
    device_matches_host(Board::Riscv32Virt);
}

#[test]
fn mps2_an385_matches_host() {
    device_matches_host(Board::Mps2An385);
}

#[test]
fn netduinoplus2_matches_host() {
    device_matches_host(Board::Netduinoplus2);
}

#[test]
fn b_l475e_iot01a_matches_host() {
    device_matches_host(Board::BL475eIot01a);
}

#[test]
fn microbit_matches_host() {
    device_matches_host(Board::Microbit);
}

/// The STM32 kits count with their own timers (TIM2, SysTick), converted to instructions;
/// mps2-an386 runs the same Cortex-M4 code and counts with QEMU's exact TIMER0. The counts
/// must agree to within the timers' resolution and the few instructions of board code that
/// differ, which proves each conversion (a wrong `-icount` shift would be off by 2x or more).
#[test]
fn stm32_timers_count_the_instructions_of_the_generic_m4() {
    let blob = blob();
    let inputs = Rng(11).bytes(DEPTH * 3);
    let count = |board| {
        let elf = qemu::build_firmware(board).unwrap();
        qemu::run(board, &elf, &blob, &inputs, TIMEOUT)
            .unwrap()
            .instructions
    };
    let reference = count(Board::Mps2An386);
    // TIM2 ticks once an instruction; SysTick once every 125 (see the boards' main.rs).
    for (board, resolution) in [(Board::Netduinoplus2, 1), (Board::BL475eIot01a, 125)] {
        for (got, want) in count(board).into_iter().zip(&reference) {
            assert!(
                got.abs_diff(*want) <= resolution + 50,
                "{board}: {got} instructions, mps2-an386 {want}"
            );
        }
    }
}

#[test]
fn corrupted_blob_is_a_model_error_on_the_device() {
    let mut blob = blob();
    let last = blob.len() - 1;
    blob[last] ^= 0x40; // a payload byte: the checksum no longer matches
    let inputs = Rng(1).bytes(DEPTH * 2);
    for board in [Board::Mps2An386, Board::Riscv32Virt] {
        let elf = qemu::build_firmware(board).unwrap();
        let err = qemu::run(board, &elf, &blob, &inputs, TIMEOUT).unwrap_err();
        let dev = device_error(&err);
        assert_eq!(dev.exit_code, Some(protocol::EXIT_MODEL_INVALID), "{err:#}");
        assert!(dev.log.iter().any(|l| l.contains("BadChecksum")), "{err:#}");
        assert!(
            err.to_string().contains("rejected by Model::parse"),
            "{err:#}"
        );
    }
}

#[test]
fn torn_sample_is_an_input_error_on_the_device() {
    let board = Board::Riscv32Virt;
    let elf = qemu::build_firmware(board).unwrap();
    let inputs = Rng(2).bytes(DEPTH * 3 / 2);
    let err = qemu::run(board, &elf, &blob(), &inputs, TIMEOUT).unwrap_err();
    assert_eq!(
        device_error(&err).exit_code,
        Some(protocol::EXIT_BAD_INPUT),
        "{err:#}"
    );
}

#[test]
fn model_larger_than_the_arena_is_refused_with_the_size_it_needs() {
    let board = Board::Mps2An386;
    let elf = qemu::build_firmware(board).unwrap();
    let blob = wide_blob(5);
    let needed = mote::Model::parse(&blob).unwrap().arena_size();
    let err = qemu::run(board, &elf, &blob, &[0; 16], TIMEOUT).unwrap_err();
    let dev = device_error(&err);
    assert_eq!(
        dev.exit_code,
        Some(protocol::EXIT_ARENA_TOO_SMALL),
        "{err:#}"
    );
    assert!(
        dev.log
            .iter()
            .any(|l| l.contains(&format!("MOTE_ARENA_BYTES={needed}"))),
        "{err:#}"
    );
}

#[test]
fn inputs_larger_than_the_region_run_in_batches() {
    let board = Board::Riscv32Virt;
    let elf = qemu::build_firmware(board).unwrap();
    let blob = wide_blob(1);
    let inputs = Rng(4).bytes(WIDE * 40); // 2.4 MB: more than the 2 MiB input region
    let run = qemu::run(board, &elf, &blob, &inputs, TIMEOUT).unwrap();
    assert_eq!(run.outputs, host_outputs(&blob, &inputs));
    assert_eq!(run.instructions.len(), 40);
    let boots = run.log.iter().filter(|l| l.contains("mote on")).count();
    assert_eq!(boots, 2, "{:#?}", run.log);
}

#[test]
fn panics_and_faults_exit_with_their_own_status() {
    for board in Board::EMULATED {
        let elf = qemu::build_firmware(board).unwrap();
        for (test, code, says) in [
            (SelfTest::Panic, protocol::EXIT_PANIC, "panic"),
            (SelfTest::Fault, protocol::EXIT_FAULT, "pc"),
        ] {
            let err = qemu::self_test(board, &elf, test, TIMEOUT).unwrap_err();
            let dev = device_error(&err);
            assert_eq!(dev.exit_code, Some(code), "{board} {test:?}: {err:#}");
            assert!(
                dev.log.iter().any(|l| l.contains(says)),
                "{board} {test:?}: {err:#}"
            );
        }
    }
}

#[test]
fn a_run_past_its_timeout_is_killed() {
    let board = Board::Riscv32Virt;
    let elf = qemu::build_firmware(board).unwrap();
    let inputs = Rng(5).bytes(DEPTH);
    let err = qemu::run(board, &elf, &blob(), &inputs, Duration::from_millis(1)).unwrap_err();
    let dev = device_error(&err);
    assert!(dev.timed_out && dev.exit_code.is_none(), "{err:#}");
}

#[test]
fn boards_parse_from_their_names() {
    for board in Board::ALL {
        assert_eq!(board.name().parse::<Board>().unwrap(), board);
    }
    assert!("mps2".parse::<Board>().is_err());
}
