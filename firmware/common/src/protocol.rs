// The contract between the firmware and the host that runs it (`mote qemu`): exit statuses,
// the layout of the input region and the files the firmware writes. This one file is compiled
// into the firmware (`mote_firmware::protocol`) and, with `include!`, into the host tools
// (`mote_tools::device::qemu`), so the two sides cannot disagree. It must stay plain `core`
// items with outer doc comments only (`include!` does not accept inner attributes).

/// Exit status: every sample ran, every result reached the host.
pub const EXIT_OK: i32 = 0;
/// Exit status: the model region does not hold a valid blob (`Model::parse` refused it; the
/// log names the runtime error). A region the host did not fill reads as zeros: `BadMagic`.
pub const EXIT_MODEL_INVALID: i32 = 2;
/// Exit status: the model needs more arena than the firmware's static arena (the log gives
/// both numbers); rebuild with `MOTE_ARENA_BYTES` set to at least the number needed.
pub const EXIT_ARENA_TOO_SMALL: i32 = 3;
/// Exit status: the input region is malformed: its byte count exceeds the region or is not a
/// whole number of samples, or there are no samples.
pub const EXIT_BAD_INPUT: i32 = 4;
/// Exit status: the runtime refused to run a sample (set_input / invoke / output failed).
pub const EXIT_INFERENCE_FAILED: i32 = 5;
/// Exit status: a semihosting file operation towards the host failed.
pub const EXIT_HOST_IO: i32 = 6;
/// Exit status: the firmware panicked (the log has the message and location).
pub const EXIT_PANIC: i32 = 101;
/// Exit status: a CPU fault (Cortex-M HardFault, RISC-V exception); the log has the PC.
pub const EXIT_FAULT: i32 = 102;

/// What an exit status of the firmware means, for error messages on the host.
pub const fn exit_meaning(code: i32) -> &'static str {
    match code {
        EXIT_OK => "success",
        1 => "QEMU itself failed (bad arguments or files; see its stderr) or an unexpected exit(1)",
        EXIT_MODEL_INVALID => "the model blob was rejected by Model::parse",
        EXIT_ARENA_TOO_SMALL => {
            "the model needs a larger arena than the firmware has (rebuild with MOTE_ARENA_BYTES)"
        }
        EXIT_BAD_INPUT => "the input region is malformed (byte count vs. sample size)",
        EXIT_INFERENCE_FAILED => "the runtime refused to run a sample",
        EXIT_HOST_IO => "a semihosting file operation failed",
        EXIT_PANIC => "the firmware panicked",
        EXIT_FAULT => "the CPU faulted (HardFault / RISC-V exception)",
        _ => "unknown exit status",
    }
}

/// Input region layout: a little-endian `u32` byte count, then that many bytes of samples back
/// to back. A sample is every graph input's bytes, in input order (one input: its tensor).
pub const INPUT_HEADER_LEN: usize = 4;

/// Input-region byte counts that make the firmware fail on purpose, before it looks at the
/// model: a panic, and an undefined instruction (a CPU fault). They exceed every input region,
/// so no real run can send them; the host's tests use them to prove that a panic and a fault
/// end the run with [`EXIT_PANIC`] and [`EXIT_FAULT`].
pub const SELF_TEST_PANIC: u32 = 0xFFFF_FF01;
/// See [`SELF_TEST_PANIC`].
pub const SELF_TEST_FAULT: u32 = 0xFFFF_FF02;

/// File the firmware creates in QEMU's working directory: every sample's outputs back to back
/// (a sample's outputs: every graph output's bytes in output order), as `mote run` writes them.
pub const OUTPUTS_FILE: &core::ffi::CStr = c"mote-outputs.bin";
/// File of one little-endian `u64` per sample: guest instructions retired by `invoke`.
pub const INSTRUCTIONS_FILE: &core::ffi::CStr = c"mote-instructions.bin";
/// File of one little-endian `u64` per operator, in execution order: the instructions each
/// operator of the first sample took, from a second, profiled run of that sample
/// (`mote::profile::Profiler`). At most [`PROFILE_CAPACITY`] operators.
pub const PROFILE_FILE: &core::ffi::CStr = c"mote-profile.bin";
/// Most operators [`PROFILE_FILE`] covers.
pub const PROFILE_CAPACITY: usize = 256;
/// File written last, so its presence means the run completed: [`SUMMARY_LEN`] bytes,
/// little-endian `u32`s: samples run, arena bytes the model uses, static arena bytes the
/// firmware has, peak stack bytes, the slot whose model ran ([`SLOT_LAST_GOOD`] or
/// [`SLOT_UPDATE`]).
pub const SUMMARY_FILE: &core::ffi::CStr = c"mote-summary.bin";
/// Bytes in [`SUMMARY_FILE`].
pub const SUMMARY_LEN: usize = 20;

/// Model slot A, the model region (`__model_start..__model_end`): the last good model.
pub const SLOT_LAST_GOOD: u32 = 0;
/// Model slot B, the update region (`__update_start..__update_end`): a new model. It runs
/// instead of slot A only if it passes `Model::parse` and fits the static arena; otherwise the
/// firmware logs why it was rejected and runs slot A. A slot B whose first 16 bytes are all
/// `0x00` (QEMU memory the host did not fill) or all `0xFF` (erased flash) holds no update.
pub const SLOT_UPDATE: u32 = 1;
