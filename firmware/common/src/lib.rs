//! The board-agnostic part of mote's firmware: it runs the model found in the board's model
//! region over the samples found in its input region and hands the results to the host.
//!
//! A board package supplies a [`Board`] (where the regions are, how to count instructions,
//! which pin shows an inference in progress) and calls [`run`]; everything else is here: model
//! checks, the static arena, stack measurement, logging, results, panics and exit statuses.
//!
//! Logs are `defmt` frames on semihosting stdout (decoded on the host). Results go back as
//! semihosting *files* in QEMU's working directory (see [`protocol`]): raw bytes that the host
//! reads without decoding anything, on a channel separate from stdout so they can never corrupt
//! a defmt frame, and that stay exact even if the log is lost. The other option, defmt-encoded
//! byte slices, would tie the results to the log decoder and print every output byte as text.
//! That is what a kit without an emulator gets (feature `rtt`): the log over RTT, and each
//! result as a log line, since there is no host to write files on.
#![no_std]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

/// The field runner: journal-chosen models and updates over a serial link.
#[cfg(feature = "field")]
pub mod field;
/// Registers, wide counters and pins for the board packages.
pub mod hw;
/// The contract with the host: exit statuses, the input region, the result files.
pub mod protocol;

use core::sync::atomic::{AtomicBool, Ordering};

#[cfg(not(any(feature = "semihosting", feature = "rtt")))]
compile_error!("mote-firmware needs a transport: feature `semihosting` (QEMU) or `rtt` (a kit)");
#[cfg(not(any(feature = "blob", feature = "compiled")))]
compile_error!(
    "mote-firmware needs a model: feature `blob` (the model region) or `compiled` (MOTE_BLOB)"
);

// The global defmt logger: semihosting in QEMU, RTT on a kit without an emulator.
#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(all(feature = "semihosting", not(feature = "rtt")))]
use defmt_semihosting as _;
use embedded_hal::digital::OutputPin;
#[cfg(not(feature = "compiled"))]
use mote::signed::{Envelope, SignedError};
use mote::{Interpreter, Model};

/// The channel results go back on: semihosting files, or the defmt log.
mod host;
use host::{create, write};

use protocol::*;

mod arena {
    include!(concat!(env!("OUT_DIR"), "/arena.rs"));
}
pub use arena::ARENA_BYTES;

mod key {
    include!(concat!(env!("OUT_DIR"), "/public_key.rs"));
}
pub use key::PUBLIC_KEY;

/// The model built in (feature `compiled`): `MODEL`, from the blob MOTE_BLOB named (its
/// `ARENA_BYTES` is the arena's, which `arena.rs` has already).
#[cfg(feature = "compiled")]
#[allow(dead_code)]
mod compiled {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

/// What the runner needs from a board. Keep implementations thin: regions from linker
/// symbols, a counter, a pin.
pub trait Board {
    /// Name for the log.
    const NAME: &'static str;
    /// Pin driven high for the duration of each `invoke` (for a logic analyser or an energy
    /// monitor on real hardware; a dummy pin where there is none).
    type ResultPin: OutputPin;

    /// The model region, slot A: the last good model (a blob, possibly followed by padding).
    /// By default `__model_start..__model_end` of the board's linker script.
    fn model_region(&self) -> &'static [u8] {
        linker_region(&raw const __model_start, &raw const __model_end)
    }
    /// The update region, slot B: a new model, run instead of slot A once it validates (see
    /// [`protocol::SLOT_UPDATE`]). By default `__update_start..__update_end`.
    fn update_region(&self) -> &'static [u8] {
        linker_region(&raw const __update_start, &raw const __update_end)
    }
    /// The input region (see [`protocol::INPUT_HEADER_LEN`]). By default
    /// `__input_start..__input_end`.
    fn input_region(&self) -> &'static [u8] {
        linker_region(&raw const __input_start, &raw const __input_end)
    }
    /// The stack: the range it may grow over, `bottom..top`.
    fn stack(&self) -> core::ops::Range<usize>;
    /// Instructions retired so far, as a monotonic 64-bit count.
    fn instructions(&mut self) -> u64;
    /// The result pin.
    fn result_pin(&mut self) -> &mut Self::ResultPin;

    /// Ends the program with `code` as the host's exit status (semihosting `SYS_EXIT`).
    fn exit(&mut self, code: i32) -> ! {
        exit(code)
    }
}

/// Ends the program: `code` becomes QEMU's exit status (with RTT: the log's last line).
pub fn exit(code: i32) -> ! {
    host::exit(code)
}

/// Reports a CPU fault at `pc` and exits with [`protocol::EXIT_FAULT`]. For the boards'
/// HardFault / exception handlers; `register` names the cause register whose `value` is given.
pub fn fault(what: &str, pc: usize, register: &str, value: usize) -> ! {
    defmt::error!(
        "{=str} at pc {=usize:#010x} ({=str} {=usize:#x})",
        what,
        pc,
        register,
        value
    );
    exit(EXIT_FAULT)
}

/// The exception handlers of a Cortex-M board (in its `main.rs`, which depends on
/// cortex-m-rt): a HardFault reports the faulting PC and the fault status, an unexpected
/// exception its number, both through [`fault`]. `CFSR` reads the Configurable Fault Status
/// Register (Armv7-M); `xPSR` the stacked program status register, all Armv6-M has.
#[macro_export]
macro_rules! cortex_m_fault_handlers {
    (CFSR) => {
        $crate::cortex_m_fault_handlers!(@handlers "CFSR", |_frame: &cortex_m_rt::ExceptionFrame| {
            $crate::hw::read(0xE000_ED28) as usize
        });
    };
    (xPSR) => {
        $crate::cortex_m_fault_handlers!(@handlers "xPSR", |frame: &cortex_m_rt::ExceptionFrame| {
            frame.xpsr() as usize
        });
    };
    (@handlers $register:literal, $status:expr) => {
        #[cortex_m_rt::exception]
        unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::fault("HardFault", frame.pc() as usize, $register, ($status)(frame))
        }

        #[cortex_m_rt::exception]
        unsafe fn DefaultHandler(irqn: i16) -> ! {
            $crate::fault("unexpected exception", 0, "IRQn", irqn as usize)
        }
    };
}

// The regions every board's linker script reserves for the host's loader (`protocol.rs`).
unsafe extern "C" {
    static __model_start: u8;
    static __model_end: u8;
    static __update_start: u8;
    static __update_end: u8;
    static __input_start: u8;
    static __input_end: u8;
}

/// One of the loader regions above, between two linker symbols.
fn linker_region(start: *const u8, end: *const u8) -> &'static [u8] {
    // SAFETY: the linker script reserves the region for the host's loader, which fills it
    // before the program starts; nothing in the program writes it.
    unsafe { static_region(start.expose_provenance(), end.expose_provenance()) }
}

/// A byte region the linker script reserves, e.g. `__model_start..__model_end`.
///
/// # Safety
/// `start..end` must be memory that stays readable for the whole program and that nothing in
/// the program writes (the host fills it before the program starts).
pub unsafe fn static_region(start: usize, end: usize) -> &'static [u8] {
    let len = end.saturating_sub(start);
    // SAFETY: the caller guarantees the range is readable, never written, and lives forever.
    unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance(start), len) }
}

#[repr(C, align(16))]
struct Arena([u8; ARENA_BYTES]);

/// Exported as `MOTE_ARENA`: the host reads the firmware's arena size from that symbol
/// (`mote flash` and `mote qemu` refuse a model that needs more).
#[unsafe(export_name = "MOTE_ARENA")]
static mut ARENA: Arena = Arena([0; ARENA_BYTES]);
static ARENA_TAKEN: AtomicBool = AtomicBool::new(false);

/// The static arena; panics if asked twice.
fn take_arena() -> &'static mut [u8] {
    // Load + store inside a critical section: Armv6-M has no compare-and-swap.
    let taken = critical_section::with(|_| {
        let taken = ARENA_TAKEN.load(Ordering::Relaxed);
        ARENA_TAKEN.store(true, Ordering::Relaxed);
        taken
    });
    assert!(!taken, "the arena is handed out once");
    // SAFETY: the flag above hands the arena out once, so this is the only reference to it.
    unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 }
}

/// Runs the model over every sample and exits: see the crate documentation.
pub fn run<B: Board>(mut board: B) -> ! {
    let stack = board.stack();
    let floor = paint_stack(&stack);
    defmt::info!(
        "mote on {=str}: static arena {=usize} bytes, stack {=usize} bytes",
        B::NAME,
        ARENA_BYTES,
        stack.len()
    );
    // From here on, the stack is measured over `floor..top`.
    let stack = floor..stack.end;
    let code = match session(&mut board, &stack) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    };
    board.exit(code)
}

/// The body of [`run`], in its own frame below the one that painted the stack.
#[inline(never)]
fn session<B: Board>(board: &mut B, stack: &core::ops::Range<usize>) -> Result<(), i32> {
    self_test(board.input_region());
    let (model, slot) = choose_model(board)?;
    let needed = model.arena_size();
    if needed > ARENA_BYTES {
        defmt::error!(
            "the model needs {=usize} bytes of arena, this firmware has {=usize}: \
             rebuild it with MOTE_ARENA_BYTES={=usize}",
            needed,
            ARENA_BYTES,
            needed
        );
        return Err(EXIT_ARENA_TOO_SMALL);
    }
    let mut interpreter = Interpreter::new(&model, take_arena()).map_err(|e| {
        defmt::error!("cannot bind the arena: {}", e);
        EXIT_ARENA_TOO_SMALL
    })?;
    let in_len = io_len(&model, model.inputs())?;
    let out_len = io_len(&model, model.outputs())?;
    let data = samples(board.input_region(), in_len)?;
    let count = data.len() / in_len;
    defmt::info!(
        "model: {=u16} operators, arena {=usize} bytes; {=usize} samples of {=usize} bytes, \
         {=usize} output bytes each",
        model.op_count(),
        needed,
        count,
        in_len,
        out_len
    );

    let mut outputs = create(OUTPUTS_FILE)?;
    let mut counts = create(INSTRUCTIONS_FILE)?;
    let (mut least, mut most, mut total) = (u64::MAX, 0u64, 0u64);
    for (index, sample) in data.chunks_exact(in_len).enumerate() {
        let mut rest = sample;
        for (i, &id) in model.inputs().iter().enumerate() {
            let len = tensor_len(&model, id)?;
            let (part, tail) = rest.split_at(len);
            interpreter.set_input(i, part).map_err(inference_failed)?;
            rest = tail;
        }
        // A pin that cannot be driven must not stop the measurement: its result is ignored.
        let _ = board.result_pin().set_high();
        let start = board.instructions();
        let result = interpreter.invoke();
        let end = board.instructions();
        let _ = board.result_pin().set_low();
        result.map_err(inference_failed)?;
        let spent = end.wrapping_sub(start);
        for i in 0..model.outputs().len() {
            let out = interpreter.output(i).map_err(inference_failed)?;
            write(&mut outputs, out)?;
        }
        write(&mut counts, &spent.to_le_bytes())?;
        defmt::debug!("sample {=usize}: {=u64} instructions", index, spent);
        least = least.min(spent);
        most = most.max(spent);
        total = total.saturating_add(spent);
    }
    defmt::info!(
        "{=usize} inferences; instructions per inference: min {=u64}, mean {=u64}, max {=u64}",
        count,
        least,
        total / count as u64,
        most
    );
    if let Some(first) = data.chunks_exact(in_len).next() {
        profile(board, &mut interpreter, &model, first)?;
    }

    let stack_used = stack_used(stack);
    defmt::info!(
        "arena: {=usize} of {=usize} bytes; stack: {=usize} bytes",
        needed,
        ARENA_BYTES,
        stack_used
    );
    if stack_used >= stack.len() {
        defmt::warn!(
            "the stack went below its {=usize} measured bytes: the figure is a lower bound, \
             and the stack may have overwritten static data",
            stack.len()
        );
    }
    let mut summary = [0u8; SUMMARY_LEN];
    for (word, value) in summary.chunks_exact_mut(4).zip([
        count as u32,
        needed as u32,
        ARENA_BYTES as u32,
        stack_used as u32,
        slot,
    ]) {
        word.copy_from_slice(&value.to_le_bytes());
    }
    let mut file = create(SUMMARY_FILE)?;
    write(&mut file, &summary)
}

/// Runs `sample` once more with a per-operator profiler and writes the instructions each
/// operator took to [`PROFILE_FILE`] (see `mote bench`). The counter is read just before and
/// just after each operator, so the figures include no interpreter bookkeeping.
fn profile<B: Board>(
    board: &mut B,
    interpreter: &mut Interpreter<'_, '_>,
    model: &Model<'_>,
    sample: &[u8],
) -> Result<(), i32> {
    let mut rest = sample;
    for (i, &id) in model.inputs().iter().enumerate() {
        let len = tensor_len(model, id)?;
        let (part, tail) = rest.split_at(len);
        interpreter.set_input(i, part).map_err(inference_failed)?;
        rest = tail;
    }
    let mut profiler = mote::profile::Profiler::<_, PROFILE_CAPACITY>::new(|| board.instructions());
    interpreter
        .invoke_observed(&mut profiler)
        .map_err(inference_failed)?;
    if profiler.dropped() > 0 {
        defmt::warn!(
            "profile: {=u16} operators past the first {=usize} are not profiled",
            profiler.dropped(),
            PROFILE_CAPACITY
        );
    }
    let mut file = create(PROFILE_FILE)?;
    for spent in profiler.counts() {
        write(&mut file, &spent.to_le_bytes())?;
    }
    Ok(())
}

/// Why a slot's model is not run.
#[cfg(not(feature = "compiled"))]
enum Refusal {
    /// The signed envelope is missing, malformed, or does not verify with [`PUBLIC_KEY`].
    Signature(SignedError),
    /// The blob does not validate.
    Model(mote::Error),
}

#[cfg(not(feature = "compiled"))]
impl defmt::Format for Refusal {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Refusal::Signature(e) => defmt::write!(f, "{}", e),
            Refusal::Model(e) => defmt::write!(f, "{}", e),
        }
    }
}

/// A slot's model as this firmware takes it, with its model version. With a [`PUBLIC_KEY`]:
/// only a signed envelope whose signature verifies, before anything of the model is parsed
/// (the instructions the check took are logged). Without one: a plain blob, or a signed one
/// taken unverified.
#[cfg(not(feature = "compiled"))]
fn open_slot<B: Board>(
    board: &mut B,
    name: &str,
    bytes: &'static [u8],
) -> Result<(Model<'static>, Option<u32>), Refusal> {
    let (blob, version) = match (PUBLIC_KEY, Envelope::parse(bytes)) {
        (Some(key), envelope) => {
            let envelope = envelope.map_err(Refusal::Signature)?;
            let before = board.instructions();
            envelope.verify(&key).map_err(Refusal::Signature)?;
            defmt::info!(
                "{=str}: signature verified in {=u64} instructions (model version {=u32})",
                name,
                board.instructions() - before,
                envelope.model_version
            );
            (envelope.blob, Some(envelope.model_version))
        }
        (None, Ok(envelope)) => (envelope.blob, Some(envelope.model_version)),
        (None, Err(_)) => (bytes, None),
    };
    let model = Model::parse(blob).map_err(Refusal::Model)?;
    Ok((model, version))
}

/// The model to run and its slot: the update (slot B) if there is one that validates, fits the
/// static arena and (with a [`PUBLIC_KEY`]) is signed and not older than slot A's, else the
/// last good model (slot A). Validate before switching: a rejected update is logged with the
/// reason and never runs. A board with flash would now copy an accepted update over slot A
/// and erase slot B; in QEMU the summary reports the slot instead.
///
/// Slot A is not version-checked: writing it directly (over a probe) is the recovery path
/// that can install an older model, and it still must be signed.
#[cfg(not(feature = "compiled"))]
fn choose_model<B: Board>(board: &mut B) -> Result<(Model<'static>, u32), i32> {
    let last_good = open_slot(board, "slot A", board.model_region());
    let running = match &last_good {
        Ok((_, version)) => *version,
        Err(_) => None,
    };
    let update = board.update_region();
    if !is_blank(update) {
        match open_slot(board, "slot B", update) {
            Ok((model, _)) if model.arena_size() > ARENA_BYTES => defmt::warn!(
                "slot B: update rejected: it needs {=usize} bytes of arena, this firmware has \
                 {=usize}; running the last good model in slot A",
                model.arena_size(),
                ARENA_BYTES
            ),
            Ok((_, Some(offered)))
                if PUBLIC_KEY.is_some() && running.is_some_and(|r| offered < r) =>
            {
                defmt::warn!(
                    "slot B: update rejected: Downgrade: model version {=u32} is older than the \
                     running {=u32}; running the last good model in slot A",
                    offered,
                    running.unwrap_or(0)
                )
            }
            Ok((model, _)) => {
                defmt::info!(
                    "slot B: the update validated ({=u16} operators): running it",
                    model.op_count()
                );
                return Ok((model, SLOT_UPDATE));
            }
            Err(e) => defmt::warn!(
                "slot B: update rejected: {}; running the last good model in slot A",
                e
            ),
        }
    }
    let (model, _) = last_good.map_err(|e| {
        defmt::error!("slot A holds no valid model: {}", e);
        EXIT_MODEL_INVALID
    })?;
    Ok((model, SLOT_LAST_GOOD))
}

/// Whether a slot holds nothing: no bytes, or a header of all `0x00` (memory nobody wrote) or
/// all `0xFF` (erased flash).
#[cfg(not(feature = "compiled"))]
fn is_blank(slot: &[u8]) -> bool {
    let head = &slot[..slot.len().min(mote::format::HEADER_LEN)];
    head.iter().all(|&b| b == 0) || head.iter().all(|&b| b == 0xFF)
}

/// The model built in, run as slot A: the model region and the update slot are not read.
#[cfg(feature = "compiled")]
fn choose_model<B: Board>(_: &mut B) -> Result<(Model<'static>, u32), i32> {
    defmt::info!("the model compiled into this firmware");
    Ok((compiled::MODEL.clone(), SLOT_LAST_GOOD))
}

/// Fails on purpose when the input region asks for it (see [`protocol::SELF_TEST_PANIC`]).
fn self_test(region: &[u8]) {
    let Some(head) = region.first_chunk::<INPUT_HEADER_LEN>() else {
        return;
    };
    match u32::from_le_bytes(*head) {
        SELF_TEST_PANIC => panic!("self-test panic, as the input region asked"),
        SELF_TEST_FAULT => {
            defmt::info!("self-test: executing an undefined instruction");
            undefined_instruction()
        }
        _ => {}
    }
}

/// Traps to the board's fault handler. The one architecture-specific line of this crate.
fn undefined_instruction() -> ! {
    // SAFETY: a permanently undefined instruction: the CPU takes the fault before anything
    // else happens, and the board's handler exits.
    unsafe {
        #[cfg(target_arch = "arm")]
        core::arch::asm!("udf #0", options(noreturn));
        #[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
        core::arch::asm!("unimp", options(noreturn));
    }
}

fn inference_failed(e: mote::Error) -> i32 {
    defmt::error!("inference failed: {}", e);
    EXIT_INFERENCE_FAILED
}

/// Bytes of one sample of the tensors `ids`, back to back.
fn io_len(model: &Model<'_>, ids: &[u16]) -> Result<usize, i32> {
    let mut total = 0usize;
    for &id in ids {
        total = total.saturating_add(tensor_len(model, id)?);
    }
    if total == 0 {
        defmt::error!("the model's inputs or outputs are empty");
        return Err(EXIT_MODEL_INVALID);
    }
    Ok(total)
}

fn tensor_len(model: &Model<'_>, id: u16) -> Result<usize, i32> {
    model
        .tensor(id)
        .ok()
        .and_then(|t| t.byte_len())
        .ok_or_else(|| {
            defmt::error!("tensor {=u16} has no byte length", id);
            EXIT_MODEL_INVALID
        })
}

/// The samples in the input region, validated against the sample size.
fn samples(region: &'static [u8], sample_len: usize) -> Result<&'static [u8], i32> {
    let Some((head, rest)) = region.split_first_chunk::<INPUT_HEADER_LEN>() else {
        defmt::error!("the input region is smaller than its header");
        return Err(EXIT_BAD_INPUT);
    };
    let declared = u32::from_le_bytes(*head) as usize;
    if declared > rest.len() {
        defmt::error!(
            "the input region declares {=usize} bytes but holds at most {=usize}",
            declared,
            rest.len()
        );
        return Err(EXIT_BAD_INPUT);
    }
    if declared == 0 || !declared.is_multiple_of(sample_len) {
        defmt::error!(
            "the input region holds {=usize} bytes: not a whole, non-zero number of \
             {=usize}-byte samples",
            declared,
            sample_len
        );
        return Err(EXIT_BAD_INPUT);
    }
    Ok(&rest[..declared])
}

/// Word written over the free stack at start; the lowest word that no longer holds it at the
/// end marks the deepest the stack went.
const PAINT: u32 = 0x6d6f_7465; // "mote"
/// Bytes left unpainted just below the painting frame (its own locals and spills).
const RED_ZONE: usize = 256;
/// The stack is painted and measured over at most its top this many bytes: more than any
/// microcontroller's stack, and painting all of QEMU's megabytes would cost ~10 ms a boot.
const PAINT_WINDOW: usize = 256 * 1024;

/// Paints the free part of `stack`, from at most [`PAINT_WINDOW`] below its top up to just
/// below the current frame, and returns the lowest painted address.
#[inline(never)]
fn paint_stack(stack: &core::ops::Range<usize>) -> usize {
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    let end = here.saturating_sub(RED_ZONE).min(stack.end) & !3;
    let floor = (stack.start.max(stack.end.saturating_sub(PAINT_WINDOW)) + 3) & !3;
    let mut at = floor;
    while at < end {
        // SAFETY: `at` is a word of the stack region below the live frames: no Rust object
        // lives there yet, and nothing reads it before it is repainted by real use.
        unsafe { core::ptr::with_exposed_provenance_mut::<u32>(at).write_volatile(PAINT) };
        at += 4;
    }
    floor
}

/// Bytes of `stack` used at the deepest point since [`paint_stack`].
fn stack_used(stack: &core::ops::Range<usize>) -> usize {
    let mut at = (stack.start + 3) & !3;
    // SAFETY: reads words of the stack region below the live frames (see `paint_stack`).
    while at < stack.end
        && unsafe { core::ptr::with_exposed_provenance::<u32>(at).read_volatile() } == PAINT
    {
        at += 4;
    }
    stack.end - at
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // A panic while logging the panic (the logger is not reentrant) exits at once.
    if !PANICKING.load(Ordering::Relaxed) {
        PANICKING.store(true, Ordering::Relaxed);
        defmt::error!("panic: {}", defmt::Display2Format(info));
    }
    exit(EXIT_PANIC)
}
