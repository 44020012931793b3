//! The field runner (feature `field`): what a shipped firmware does with its models. At boot
//! it asks the slot journal (`mote::update::journal`) which model runs: the active one, a new
//! one on trial (confirmed once its first inference succeeds), or the active one again when a
//! trial never confirmed (the power went, the core faulted or the watchdog fired: the board's
//! fault handler resets). It runs the first sample of the input region, reports the model on
//! the serial link, then serves update requests there (`mote::update::Request`): a new model
//! is written into the slot that is not running, validated as at boot (checksum, signature,
//! version, arena), and staged with one journal word, the atomic switch. `mote update` is the
//! host side.

use embedded_io::{Read, ReadReady, Write};
use embedded_storage::nor_flash::NorFlash;
use mote::update::{self, Boot, BootKind, CHUNK, Journal, MAX_FRAME, Reply, Request, Slot, Status};
use mote::{Interpreter, Model};

use crate::{ARENA_BYTES, Board, Refusal, open_slot, take_arena};

/// What the field runner needs besides a [`Board`]: the chip's flash, a serial link, and a
/// way to restart the chip.
pub struct Field<F, S> {
    /// A flash driver whose offset 0 is at address `flash_base` and that covers the journal
    /// (`__journal_start..__journal_end`, two erase pages) and both model slots.
    pub flash: F,
    /// The address of the flash driver's offset 0.
    pub flash_base: usize,
    /// The link update requests arrive on.
    pub serial: S,
    /// Restarts the chip (a system reset).
    pub reset: fn() -> !,
    /// Feeds the watchdog the board started before calling [`serve`] (a no-op without one):
    /// called between the steps of a boot and while the link is idle, so that only a hang
    /// lets it fire, and a hang in a new model's trial is reverted like a fault.
    pub feed: fn(),
}

unsafe extern "C" {
    static __journal_start: u8;
}

/// The model this boot runs.
struct Running {
    model: Model<'static>,
    slot: Slot,
    version: Option<u32>,
    checksum: u32,
}

/// An update being received: its slot, length, and the bytes written so far.
struct Receiving {
    slot: Slot,
    len: u32,
    written: u32,
}

/// Runs the model the journal chooses and serves updates: see the module documentation.
pub fn serve<B: Board, F: NorFlash, S: Read + ReadReady + Write>(
    mut board: B,
    mut field: Field<F, S>,
) -> ! {
    let journal_at = (&raw const __journal_start)
        .expose_provenance()
        .wrapping_sub(field.flash_base) as u32;
    let mut journal = match Journal::open(&mut field.flash, journal_at) {
        Ok(journal) => journal,
        Err(e) => {
            defmt::error!("cannot read the slot journal: {}", defmt::Debug2Format(&e));
            crate::exit(crate::protocol::EXIT_MODEL_INVALID)
        }
    };
    let boot = journal.boot(&mut field.flash);
    defmt::info!(
        "mote field runner on {=str}: {}",
        B::NAME,
        defmt::Debug2Format(&boot)
    );
    let (running, kind) = match boot {
        Ok(Boot::Try(slot)) => {
            // Not older than the model it replaces.
            let floor = version_of(&board, slot.other());
            match open(&mut board, slot, floor) {
                Ok(model) => (Some(model), BootKind::Confirmed),
                Err(()) => {
                    let _ = journal.revert(&mut field.flash);
                    choose(&mut board, slot.other(), BootKind::Reverted)
                }
            }
        }
        Ok(Boot::Run(slot)) => choose(&mut board, slot, BootKind::Active),
        Ok(Boot::Reverted { run, .. }) => choose(&mut board, run, BootKind::Reverted),
        // The journal cannot be written: run what it says, without a trial.
        Err(_) => choose(&mut board, journal.state().active, BootKind::Active),
    };

    (field.feed)();
    let arena = take_arena();
    let mut output = [0u8; CHUNK];
    let mut output_len = 0;
    if let Some(running) = &running {
        match first_inference(&board, &running.model, arena, &mut output) {
            Ok(len) => output_len = len,
            // A new model that cannot run is given up; the restart runs the active one.
            Err(e) if kind == BootKind::Confirmed => {
                defmt::error!("the new model failed its first run: {}; reverting", e);
                let _ = journal.revert(&mut field.flash);
                (field.reset)()
            }
            Err(e) => defmt::warn!("the first sample did not run: {}", e),
        }
        // Reached only if the inference returned: a fault would have reset the chip, a hang
        // let the watchdog do it. (With no sample in the input region, validation was the
        // whole trial.)
        (field.feed)();
        if kind == BootKind::Confirmed {
            match journal.confirm(&mut field.flash) {
                Ok(()) => defmt::info!("the new model ran: confirmed"),
                Err(e) => defmt::error!("cannot confirm: {}", defmt::Debug2Format(&e)),
            }
        }
    }

    // The slot that runs is the active one from here on: after a fallback (the active slot
    // did not validate) or a confirmation that could not be written, an update must not go
    // into the slot that runs, nor a new model become active without a trial.
    if let Some(running) = &running
        && journal.state().active != running.slot
        && let Err(e) = journal.adopt(&mut field.flash, running.slot)
    {
        defmt::error!(
            "cannot record the running slot: {}",
            defmt::Debug2Format(&e)
        );
    }

    let mut link = Link::new(&mut field.serial, field.feed);
    let status = |output| status(running.as_ref(), kind, output);
    const NO_MODEL: Reply<'static> = Reply::Refused("no slot holds a valid model: send one");
    link.send(&status(&output[..output_len]).map_or(NO_MODEL, Reply::Booted));
    let running_slot = running.as_ref().map_or(journal.state().active, |r| r.slot);
    let mut receiving: Option<Receiving> = None;
    let mut text = heapless::String::<CHUNK>::new();
    loop {
        let mut frame = [0u8; MAX_FRAME];
        let reply = match link.receive(&mut frame) {
            Err(e) => {
                text.clear();
                let _ = core::fmt::write(&mut text, format_args!("{e}"));
                Reply::Refused(&text)
            }
            Ok(Request::Status) => status(&output[..output_len]).map_or(NO_MODEL, Reply::Status),
            Ok(Request::Reset) => {
                link.send(&Reply::Done);
                (field.reset)()
            }
            Ok(request) => {
                text.clear();
                match handle(
                    &mut board,
                    &mut field.flash,
                    field.flash_base,
                    &mut journal,
                    running_slot,
                    &mut receiving,
                    request,
                    &mut text,
                ) {
                    Ok(()) => Reply::Done,
                    Err(()) => Reply::Refused(&text),
                }
            }
        };
        link.send(&reply);
    }
}

/// What a boot report or a status reply says.
fn status<'a>(running: Option<&Running>, boot: BootKind, output: &'a [u8]) -> Option<Status<'a>> {
    running.map(|r| Status {
        slot: r.slot,
        boot,
        version: r.version,
        checksum: r.checksum,
        output,
    })
}

/// Carries out `Begin`, `Write` and `Commit`; on refusal, says why in `why`.
#[allow(clippy::too_many_arguments)]
fn handle<B: Board, F: NorFlash>(
    board: &mut B,
    flash: &mut F,
    flash_base: usize,
    journal: &mut Journal,
    running: Slot,
    receiving: &mut Option<Receiving>,
    request: Request<'_>,
    why: &mut heapless::String<CHUNK>,
) -> Result<(), ()> {
    use core::fmt::Write as _;
    let mut refuse = |args: core::fmt::Arguments<'_>| {
        let _ = why.write_fmt(args);
        defmt::warn!("update refused: {=str}", why.as_str());
        Err(())
    };
    match request {
        Request::Begin { len } => {
            // The slot that is not running: the running model stays whole until the switch.
            let slot = running.other();
            let region = slot_region(board, slot);
            if len == 0 || len as usize > region.len() {
                return refuse(format_args!(
                    "a model of {len} bytes: slot {slot:?} holds 1 to {} bytes",
                    region.len()
                ));
            }
            let start = address(region) - flash_base;
            let end = start + (len as usize).next_multiple_of(F::ERASE_SIZE);
            *receiving = None;
            // A model staged earlier in this slot and not yet tried is given up first: the
            // journal must never point at a slot being written.
            if journal.state().pending == Some(slot) && journal.revert(flash).is_err() {
                return refuse(format_args!("cannot write the slot journal"));
            }
            if flash.erase(start as u32, end as u32).is_err() {
                return refuse(format_args!("cannot erase slot {slot:?}"));
            }
            *receiving = Some(Receiving {
                slot,
                len,
                written: 0,
            });
            Ok(())
        }
        Request::Write { offset, data } => {
            let Some(update) = receiving.as_mut() else {
                return refuse(format_args!("a write before Begin"));
            };
            if offset != update.written {
                return refuse(format_args!(
                    "a write at offset {offset}; the next byte expected is {}",
                    update.written
                ));
            }
            let end = offset as usize + data.len();
            if data.len() > CHUNK || end > update.len as usize {
                return refuse(format_args!(
                    "a write past the model's {} bytes",
                    update.len
                ));
            }
            // Whole flash words: the last one of the model padded with erased bytes.
            let mut words = [0xFFu8; CHUNK];
            words[..data.len()].copy_from_slice(data);
            let padded = data.len().next_multiple_of(F::WRITE_SIZE);
            let at = address(slot_region(board, update.slot)) - flash_base + offset as usize;
            if flash.write(at as u32, &words[..padded]).is_err() {
                return refuse(format_args!("cannot write slot {:?}", update.slot));
            }
            update.written = end as u32;
            Ok(())
        }
        Request::Commit => {
            let Some(update) = receiving.take() else {
                return refuse(format_args!("a commit before Begin"));
            };
            if update.written != update.len {
                return refuse(format_args!(
                    "a commit after {} of {} bytes",
                    update.written, update.len
                ));
            }
            let floor = version_of(board, running);
            match check(board, update.slot, floor) {
                Ok(_) => {}
                Err(reason) => return refuse(format_args!("{reason}")),
            }
            if journal.stage(flash, update.slot).is_err() {
                return refuse(format_args!("cannot write the slot journal"));
            }
            defmt::info!("slot {} staged: the next boot tries it", update.slot);
            Ok(())
        }
        Request::Status | Request::Reset => Ok(()),
    }
}

/// Why a slot's model is not taken, as text for the host.
enum Rejection {
    Refused(Refusal),
    Arena(usize),
    Downgrade(u32, u32),
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Rejection::Refused(Refusal::Signature(e)) => write!(f, "{e}"),
            Rejection::Refused(Refusal::Model(e)) => write!(f, "{e}"),
            Rejection::Arena(needed) => write!(
                f,
                "the model needs {needed} bytes of arena, this firmware has {ARENA_BYTES}"
            ),
            Rejection::Downgrade(offered, running) => write!(
                f,
                "Downgrade: model version {offered} is older than the running {running}"
            ),
        }
    }
}

/// A slot's model if this firmware takes it: valid, signed when the firmware has a key, not
/// older than `floor` (when both carry versions and the firmware has a key), fitting the arena.
fn check<B: Board>(
    board: &mut B,
    slot: Slot,
    floor: Option<u32>,
) -> Result<(Model<'static>, Option<u32>), Rejection> {
    let (model, version) =
        open_slot(board, slot_name(slot), slot_region(board, slot)).map_err(Rejection::Refused)?;
    if model.arena_size() > ARENA_BYTES {
        return Err(Rejection::Arena(model.arena_size()));
    }
    if let (Some(_), Some(offered), Some(running)) = (crate::PUBLIC_KEY, version, floor)
        && offered < running
    {
        return Err(Rejection::Downgrade(offered, running));
    }
    Ok((model, version))
}

/// [`check`], logged, as the model to run.
fn open<B: Board>(board: &mut B, slot: Slot, floor: Option<u32>) -> Result<Running, ()> {
    match check(board, slot, floor) {
        Ok((model, version)) => Ok(Running {
            model,
            slot,
            version,
            checksum: checksum(slot_region(board, slot)),
        }),
        Err(reason) => {
            defmt::warn!(
                "{=str}: not run: {}",
                slot_name(slot),
                defmt::Display2Format(&reason)
            );
            Err(())
        }
    }
}

/// The model in `slot`, or failing that the other slot's (never neither while one is valid).
fn choose<B: Board>(board: &mut B, slot: Slot, kind: BootKind) -> (Option<Running>, BootKind) {
    if let Ok(running) = open(board, slot, None) {
        return (Some(running), kind);
    }
    match open(board, slot.other(), None) {
        Ok(running) => (Some(running), BootKind::Fallback),
        Err(()) => (None, kind),
    }
}

/// The model version in `slot`, if it holds a valid versioned model.
fn version_of<B: Board>(board: &B, slot: Slot) -> Option<u32> {
    let bytes = slot_region(board, slot);
    match mote::signed::Envelope::parse(bytes) {
        Ok(envelope) => Some(envelope.model_version),
        Err(_) => None,
    }
}

fn slot_region<B: Board>(board: &B, slot: Slot) -> &'static [u8] {
    match slot {
        Slot::A => board.model_region(),
        Slot::B => board.update_region(),
    }
}

fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::A => "slot A",
        Slot::B => "slot B",
    }
}

fn address(region: &[u8]) -> usize {
    region.as_ptr().expose_provenance()
}

/// The blob's header checksum (inside a signed envelope if there is one).
fn checksum(region: &'static [u8]) -> u32 {
    let blob = match mote::signed::Envelope::parse(region) {
        Ok(envelope) => envelope.blob,
        Err(_) => region,
    };
    mote::format::declared_checksum(blob).unwrap_or(0)
}

/// Runs the model on the first sample of the input region; returns its output's length in
/// `output` (its first [`CHUNK`] bytes; 0 when the region holds no sample for this model:
/// none, or one shorter than its inputs).
fn first_inference<B: Board>(
    board: &B,
    model: &Model<'static>,
    arena: &mut [u8],
    output: &mut [u8],
) -> Result<usize, mote::Error> {
    let mut interpreter = Interpreter::new(model, arena)?;
    let region = board.input_region();
    let declared = region
        .first_chunk::<4>()
        .map_or(0, |h| u32::from_le_bytes(*h) as usize);
    if declared == 0 || declared == u32::MAX as usize {
        return Ok(0); // no sample: erased flash, or an empty region
    }
    let Some(mut rest) = region.get(4..4usize.saturating_add(declared)) else {
        return Ok(0); // the region does not hold what its header declares: no sample
    };
    for (i, &id) in model.inputs().iter().enumerate() {
        let len = model.tensor(id)?.byte_len().unwrap_or(usize::MAX);
        // A sample shorter than this model's inputs is no sample for it (nothing runs).
        let Some((part, tail)) = rest.split_at_checked(len) else {
            return Ok(0);
        };
        interpreter.set_input(i, part)?;
        rest = tail;
    }
    interpreter.invoke()?;
    // The report carries as much of the output as a frame holds.
    let mut len = 0;
    for i in 0..model.outputs().len() {
        let out = interpreter.output(i)?;
        let room = output.len() - len;
        let n = out.len().min(room);
        if let (Some(to), Some(from)) = (output.get_mut(len..len + n), out.get(..n)) {
            to.copy_from_slice(from);
        }
        len += n;
    }
    Ok(len)
}

/// Frames over the serial link (see `mote::update`).
struct Link<'s, S> {
    serial: &'s mut S,
    /// Called while no byte is waiting (the watchdog).
    idle: fn(),
}

impl<'s, S: Read + ReadReady + Write> Link<'s, S> {
    fn new(serial: &'s mut S, idle: fn()) -> Self {
        Link { serial, idle }
    }

    /// Reads up to the next zero byte and decodes the frame; a frame longer than
    /// [`MAX_FRAME`] is skipped to its end and reported.
    fn receive<'f>(
        &mut self,
        frame: &'f mut [u8; MAX_FRAME],
    ) -> Result<Request<'f>, update::FrameError> {
        let mut len = 0;
        let mut overflow = false;
        loop {
            if !self.serial.read_ready().unwrap_or(true) {
                (self.idle)();
                continue;
            }
            let mut byte = [0u8];
            if self.serial.read(&mut byte).unwrap_or(0) == 0 {
                continue;
            }
            match (byte[0], frame.get_mut(len)) {
                (0, _) if len == 0 => {}
                (0, _) => break,
                (b, Some(slot)) => {
                    *slot = b;
                    len += 1;
                }
                (_, None) => overflow = true,
            }
        }
        if overflow {
            return Err(update::FrameError::TooLong);
        }
        update::decode(&mut frame[..len])
    }

    fn send(&mut self, reply: &Reply<'_>) {
        let (mut scratch, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME]);
        match update::encode(reply, &mut scratch, &mut out) {
            Ok(frame) => {
                // A zero first: the host drops whatever noise came before as an empty frame.
                let _ = self.serial.write_all(&[0]);
                let _ = self.serial.write_all(frame);
                let _ = self.serial.flush();
            }
            Err(e) => defmt::error!("cannot frame a reply: {}", e),
        }
    }
}
