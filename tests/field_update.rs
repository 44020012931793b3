//! Field updates on the micro:bit (nRF51822) in QEMU, over its UART, with power cuts.
//!
//! The field runner (`firmware/microbit`, program `mote-microbit-field`) keeps two model
//! slots and a journal in the chip's flash, written by its own flash driver (NVMC). These
//! tests send models with the host's side of the protocol (`mote update`), and cut the power
//! at the flash operations of an update: QEMU's GDB stub stops the chip just before a page
//! erase or a word write, the flash is read out, and a fresh QEMU boots from what was read,
//! as a chip would after the power came back. Flash changes only at those operations, so a
//! cut before each of them stands for every instant in between. The chip's own resets (after
//! an update, or on a fault) are taken the same way: QEMU would reload its original image on
//! a reset, a chip keeps its flash.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mote::update::{BootKind, Slot};
use mote_tests::{bundled, host_outputs, read, repo, sample_len};
use mote_tools::device::flash;
use mote_tools::device::qemu::{Board, build_field_firmware};
use mote_tools::device::update::{Device, Running};

/// The nRF51822's flash: 256 KiB at address 0.
const FLASH_BYTES: usize = 0x4_0000;

/// The firmware, built with the test key, and the two models, signed with it: the digits
/// MLP (model version 1) in slot A, the sine model (version 2) as the update.
struct Setup {
    /// The field runner's ELF.
    elf: Vec<u8>,
    symbols: Symbols,
    old: Model,
    new: Model,
    /// The flash as a probe leaves it: firmware, the old model in slot A, one sample.
    flash: Vec<u8>,
}

struct Model {
    blob: Vec<u8>,
    checksum: u32,
    /// Its output for the input region's first sample, computed on the host.
    output: Vec<u8>,
}

/// Where the breakpoints go: the flash driver's two operations and the reset.
struct Symbols {
    erase_page: u32,
    write_word: u32,
    system_reset: u32,
    /// The lowest address the stack may reach.
    stack_end: u32,
    journal: std::ops::Range<u32>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let elf = build_field_firmware(Board::Microbit, Some(&keys().join("test-signing.pub.pem")))
            .expect("building the field runner");
        let elf_bytes = read(&elf);
        let (old_blob, sample) = bundled("digits", 1);
        let new_blob = read(&repo().join("models/sine/sine.mote"));
        let model = |blob: Vec<u8>, version| Model {
            checksum: mote::format::declared_checksum(&blob).unwrap(),
            output: host_outputs(&blob, &sample[..sample_len(&blob)]),
            blob: signed(&blob, version),
        };
        let image = flash::image(
            &elf_bytes,
            flash::Contents {
                firmware: true,
                model: Some(&signed(&old_blob, 1)),
                samples: Some(&sample),
            },
        )
        .expect("the flash image");
        assert_eq!(image.base, 0);
        let mut flash = image.bytes.clone();
        flash.resize(FLASH_BYTES, 0xFF);
        Setup {
            symbols: symbols(&elf_bytes),
            elf: elf_bytes.clone(),
            old: model(old_blob, 1),
            new: model(new_blob, 2),
            flash,
        }
    })
}

/// The test keys (`tests/data/keys`).
fn keys() -> std::path::PathBuf {
    repo().join("tests/data/keys")
}

/// `blob` signed with the test key (the firmware's) as model version `version`.
fn signed(blob: &[u8], version: u32) -> Vec<u8> {
    signed_with("test-signing.pem", blob, version)
}

fn signed_with(key: &str, blob: &[u8], version: u32) -> Vec<u8> {
    let pem = std::fs::read_to_string(keys().join(key)).unwrap();
    mote_tools::sign::sign(blob, &pem, version).unwrap()
}

fn symbols(elf: &[u8]) -> Symbols {
    use mote_tools::device::qemu::{regions, symbols};
    let all = symbols(elf).expect("the ELF's symbols");
    let find = |name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a & !1)
            .unwrap_or_else(|| panic!("the field runner has no symbol {name}"))
    };
    let (start, len) = regions(elf).unwrap().journal.expect("a journal region");
    Symbols {
        erase_page: find("nvmc_erase_page"),
        write_word: find("nvmc_write_word"),
        system_reset: find("system_reset"),
        stack_end: find("_stack_end"),
        journal: start as u32..(start + len) as u32,
    }
}

/// A flash operation the chip was stopped before, or its reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Erase(u32),
    Write(u32),
    Reset,
}

/// A micro:bit in QEMU, booted from a flash image, with its UART and GDB stub on sockets.
struct Chip {
    qemu: Child,
    gdb: Gdb,
    /// The breakpoint the core is stopped at, if any.
    stopped_at: Option<u32>,
    _dir: tempfile::TempDir,
}

impl Drop for Chip {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

impl Chip {
    /// Powers up with `flash`; the chip waits for [`Chip::run`]. Returns the host's end of
    /// the UART too.
    fn boot(flash: &[u8], stops: bool) -> (Chip, Device<UnixStream>) {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("flash.bin");
        std::fs::write(&image, flash).unwrap();
        let (uart, gdb) = (dir.path().join("uart"), dir.path().join("gdb"));
        let qemu = Command::new("qemu-system-arm")
            .args([
                "-machine",
                "microbit",
                "-m",
                "1M",
                "-nographic",
                "-monitor",
                "none",
            ])
            .args(["-icount", "shift=0,sleep=off", "-S"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=uart,path={},server=on,wait=off",
                uart.display()
            ))
            .args(["-serial", "chardev:uart"])
            .arg("-gdb")
            .arg(format!("unix:{},server=on,wait=off", gdb.display()))
            .arg("-device")
            .arg(format!(
                "loader,file={},addr=0,force-raw=on",
                image.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-system-arm");
        let uart = connect(&uart);
        let mut chip = Chip {
            qemu,
            gdb: Gdb::new(connect(&gdb)),
            stopped_at: None,
            _dir: dir,
        };
        if stops {
            let s = &setup().symbols;
            for at in [s.erase_page, s.write_word, s.system_reset] {
                chip.gdb.command(&format!("Z0,{at:x},2"), "OK");
            }
        }
        (chip, Device::new(Box::new(uart)))
    }

    /// Runs until the next flash operation or reset; `None` if `done` fires first (the
    /// chip is then stopped where it was).
    fn run(&mut self, done: &mpsc::Receiver<()>) -> Option<Event> {
        // Off the breakpoint it stopped at: GDB's way, out, one step, back in.
        if let Some(at) = self.stopped_at.take() {
            self.gdb.command(&format!("z0,{at:x},2"), "OK");
            let reply = self.gdb.command_reply("s");
            assert!(reply.starts_with('T') || reply.starts_with('S'), "{reply}");
            self.gdb.command(&format!("Z0,{at:x},2"), "OK");
        }
        self.gdb.send("c");
        loop {
            if let Some(reply) = self.gdb.receive(Duration::from_millis(50)) {
                assert!(reply.starts_with('T') || reply.starts_with('S'), "{reply}");
                return Some(self.event());
            }
            if done.try_recv().is_ok() {
                self.gdb.interrupt();
                return None;
            }
        }
    }

    fn event(&mut self) -> Event {
        let s = &setup().symbols;
        let pc = self.gdb.register(15) & !1;
        self.stopped_at = Some(pc);
        match pc {
            _ if pc == s.erase_page => Event::Erase(self.gdb.register(0)),
            _ if pc == s.write_word => Event::Write(self.gdb.register(0)),
            _ if pc == s.system_reset => Event::Reset,
            _ => panic!("stopped at {pc:#x}, no breakpoint of ours"),
        }
    }

    /// The flash as it is now: what the chip holds when the power goes.
    fn flash(&mut self) -> Vec<u8> {
        self.memory(0, FLASH_BYTES as u32)
    }

    /// `len` bytes of memory from `at`.
    fn memory(&mut self, at: u32, len: u32) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len as usize);
        for chunk in (at..at + len).step_by(1024) {
            let hex = self
                .gdb
                .command_reply(&format!("m{chunk:x},{:x}", (at + len - chunk).min(1024)));
            bytes.extend((0..hex.len()).step_by(2).map(|i| {
                u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|_| panic!("m: {hex}"))
            }));
        }
        assert_eq!(bytes.len(), len as usize);
        bytes
    }

    /// Makes the core fault: its program counter into memory that does not exist.
    fn fault(&mut self) {
        self.gdb.command("Pf=000000f0", "OK");
    }
}

fn connect(path: &Path) -> UnixStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return stream,
            Err(e) if Instant::now() > deadline => panic!("{}: {e}", path.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The GDB remote serial protocol, as much of it as these tests need.
struct Gdb {
    stream: UnixStream,
    buffer: Vec<u8>,
}

impl Gdb {
    fn new(stream: UnixStream) -> Self {
        let mut gdb = Gdb {
            stream,
            buffer: Vec::new(),
        };
        let stop = gdb.command_reply("?");
        assert!(stop.starts_with('T') || stop.starts_with('S'), "{stop}");
        gdb
    }

    fn send(&mut self, packet: &str) {
        let sum = packet.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        write!(self.stream, "${packet}#{sum:02x}").unwrap();
    }

    fn interrupt(&mut self) {
        self.stream.write_all(&[3]).unwrap();
        let reply = self
            .receive(Duration::from_secs(10))
            .expect("a stop after the interrupt");
        assert!(reply.starts_with('T') || reply.starts_with('S'), "{reply}");
    }

    /// The next packet, acknowledged; `None` if none comes within `timeout`.
    fn receive(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(start) = self.buffer.iter().position(|&b| b == b'$')
                && let Some(hash) = self.buffer[start..].iter().position(|&b| b == b'#')
                && self.buffer.len() >= start + hash + 3
            {
                let packet =
                    String::from_utf8_lossy(&self.buffer[start + 1..start + hash]).into_owned();
                self.buffer.drain(..start + hash + 3);
                self.stream.write_all(b"+").unwrap();
                return Some(packet);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("QEMU closed the GDB connection"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("GDB: {e}"),
            }
        }
    }

    fn command_reply(&mut self, packet: &str) -> String {
        self.send(packet);
        self.receive(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no reply to {packet}"))
    }

    fn command(&mut self, packet: &str, expected: &str) {
        let reply = self.command_reply(packet);
        assert_eq!(reply, expected, "{packet}");
    }

    fn register(&mut self, n: u32) -> u32 {
        let hex = self.command_reply(&format!("p{n:x}"));
        u32::from_le_bytes(
            (0..4)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        )
    }
}

/// What a boot from `flash` runs, as the chip reports it on its UART.
fn boot_report(flash: &[u8]) -> Running {
    let (mut chip, mut device) = Chip::boot(flash, false);
    chip.gdb.send("c");
    device
        .booted(Duration::from_secs(20))
        .expect("a boot report")
}

/// Where an update stops: after `cut` flash operations (a power cut), or never.
enum Plan {
    Complete,
    CutBefore(usize),
    /// A fault just before the journal's confirmation, the first inference done.
    FaultBeforeConfirm,
}

/// Sends the new model to a chip booted from `flash`, resets into its trial, and lets the
/// trial run, stopping at every flash operation. Returns the flash as the plan leaves it
/// and the operations seen.
fn update(flash: &[u8], plan: Plan) -> (Vec<u8>, Vec<Event>) {
    let s = setup();
    let mut events = Vec::new();
    let mut flash = flash.to_vec();
    // Boot 1 receives the model; boot 2 tries it.
    for boot in 0..2 {
        let (mut chip, mut device) = Chip::boot(&flash, true);
        let (done, finished) = mpsc::channel();
        let blob = s.new.blob.clone();
        let host = std::thread::spawn(move || {
            let result = device
                .booted(Duration::from_secs(20))
                .and_then(|_| match boot {
                    0 => device
                        .send_model(&blob, |_| {})
                        .and_then(|()| device.reset()),
                    _ => Ok(()),
                });
            let _ = done.send(());
            result
        });
        let mut journal_words = 0;
        loop {
            let event = chip.run(&finished);
            let at = events.len();
            if let Some(Event::Write(addr)) = event
                && s.symbols.journal.contains(&addr)
            {
                journal_words += 1;
            }
            match (&plan, event) {
                (Plan::CutBefore(cut), Some(_)) if *cut == at => return (chip.flash(), events),
                // The trial boot's journal words: the trial's start, then its confirmation.
                (Plan::FaultBeforeConfirm, Some(Event::Write(_)))
                    if boot == 1 && journal_words == 2 =>
                {
                    chip.fault();
                }
                _ => {}
            }
            match event {
                Some(Event::Reset) => {
                    events.push(Event::Reset);
                    flash = chip.flash();
                    break;
                }
                Some(event) => events.push(event),
                None => {
                    flash = chip.flash();
                    break;
                }
            }
        }
        drop(chip);
        let _ = host.join().unwrap();
        if !matches!(events.last(), Some(Event::Reset)) && boot == 0 {
            panic!("the first boot ended without a reset: {events:?}");
        }
    }
    (flash, events)
}

fn assert_runs(report: &Running, model: &Model, slot: Slot, what: &str) {
    assert_eq!(
        (report.slot, report.checksum, &report.output),
        (slot, model.checksum, &model.output),
        "{what}: {report}"
    );
}

#[test]
fn an_update_over_the_uart_is_tried_confirmed_and_kept() {
    let s = setup();
    let first = boot_report(&s.flash);
    assert_runs(&first, &s.old, Slot::A, "a fresh chip");
    assert_eq!(first.boot, BootKind::Active);

    let (flash, events) = update(&s.flash, Plan::Complete);
    let report = boot_report(&flash);
    assert_runs(&report, &s.new, Slot::B, "after the update");
    assert_eq!(report.boot, BootKind::Active, "confirmed by the trial boot");
    let journal_writes = events
        .iter()
        .filter(|e| matches!(e, Event::Write(a) if s.symbols.journal.contains(a)))
        .count();
    println!(
        "an update of {} bytes: {} flash operations, {journal_writes} of them journal words",
        s.new.blob.len(),
        events.len() - 1
    );
    // Power cycles change nothing now.
    assert_runs(
        &boot_report(&flash),
        &s.new,
        Slot::B,
        "a second power cycle",
    );

    // The recovery path: a probe writing a model into slot A (`mote flash --model`: only the
    // image's parts) erases the journal too, so slot A runs again, whatever it said.
    let probe = flash::image(
        &s.elf,
        flash::Contents {
            model: Some(&s.old.blob),
            ..Default::default()
        },
    )
    .unwrap();
    let mut reflashed = flash.clone();
    for (addr, bytes) in probe.parts() {
        reflashed[addr as usize..addr as usize + bytes.len()].copy_from_slice(bytes);
    }
    let report = boot_report(&reflashed);
    assert_runs(&report, &s.old, Slot::A, "after a probe wrote slot A");
    assert_eq!(report.boot, BootKind::Active);
}

#[test]
fn a_model_that_faults_in_its_trial_is_reverted() {
    let s = setup();
    let (flash, _) = update(&s.flash, Plan::FaultBeforeConfirm);
    let report = boot_report(&flash);
    assert_runs(&report, &s.old, Slot::A, "after a fault in the trial");
    assert_eq!(report.boot, BootKind::Reverted);
    let again = boot_report(&flash);
    assert_runs(&again, &s.old, Slot::A, "the boot after");
}

#[test]
fn a_valid_model_runs_when_the_active_slot_is_damaged_and_becomes_the_active_one() {
    let s = setup();
    let regions = mote_tools::device::qemu::regions(&s.elf).unwrap();
    let (a, b) = (regions.model.0 as usize, regions.update.0 as usize);
    let mut flash = s.flash.clone();
    flash[b..b + s.new.blob.len()].copy_from_slice(&s.new.blob);
    flash[a + 40] ^= 0x01; // slot A's signature no longer verifies
    let (mut chip, mut device) = Chip::boot(&flash, false);
    chip.gdb.send("c");
    let report = device.booted(Duration::from_secs(20)).unwrap();
    assert_runs(&report, &s.new, Slot::B, "with slot A damaged");
    assert_eq!(report.boot, BootKind::Fallback);
    // Recorded as the active slot: an update now goes into slot A, never into slot B.
    let err = device
        .send_model(&vec![0u8; 64 * 1024], |_| {})
        .unwrap_err();
    assert!(format!("{err:#}").contains("slot A holds 1 to"), "{err:#}");
    chip.gdb.interrupt();
    let again = boot_report(&chip.flash());
    assert_runs(&again, &s.new, Slot::B, "the boot after");
    assert_eq!(again.boot, BootKind::Active);
}

/// The keyed runner's deepest stack (Ed25519 verification at boot) leaves room above its
/// statics: RAM starts zeroed in QEMU, so the lowest word written below the stack's top is
/// as deep as the stack went.
#[test]
fn the_stack_stays_clear_of_the_statics() {
    const RAM_END: u32 = 0x2000_4000; // 16 KiB at 0x2000_0000
    let s = setup();
    let (mut chip, mut device) = Chip::boot(&s.flash, false);
    chip.gdb.send("c");
    device.booted(Duration::from_secs(20)).unwrap();
    chip.gdb.interrupt();
    let bottom = s.symbols.stack_end;
    let stack = chip.memory(bottom, RAM_END - bottom);
    let untouched = stack.iter().take_while(|&&b| b == 0).count();
    let used = stack.len() - untouched;
    println!("stack: {used} of {} bytes", stack.len());
    assert!(
        untouched >= 1024,
        "{untouched} bytes of stack left of {}",
        stack.len()
    );
}

#[test]
fn bad_updates_are_refused_and_the_model_keeps_running() {
    let s = setup();
    let (mut chip, mut device) = Chip::boot(&s.flash, false);
    chip.gdb.send("c");
    device.booted(Duration::from_secs(20)).unwrap();
    let (unsigned_digits, _) = bundled("digits", 1);
    let mut corrupt = s.new.blob.clone();
    corrupt[40] ^= 0x40;
    let refusals = [
        (corrupt, "signature does not verify"),
        (unsigned_digits.clone(), "not signed"),
        (
            signed_with("other-signing.pem", &unsigned_digits, 3),
            "signature does not verify",
        ),
        (
            signed(&unsigned_digits, 0),
            "Downgrade: model version 0 is older than the running 1",
        ),
        (vec![0u8; 64 * 1024], "slot B holds 1 to"),
    ];
    for (model, why) in refusals {
        let err = device.send_model(&model, |_| {}).unwrap_err();
        assert!(format!("{err:#}").contains(why), "{err:#}, not {why:?}");
    }
    let status = device.status().unwrap().expect("a model runs");
    assert_runs(&status, &s.old, Slot::A, "after the refusals");

    // A staged model is given up when another update starts: the journal never points at a
    // slot being written. Here the second one is refused, so the next boot runs slot A as
    // the active model, with no trial to revert.
    device.send_model(&s.new.blob, |_| {}).unwrap();
    let unsigned_sine = read(&repo().join("models/sine/sine.mote"));
    assert!(device.send_model(&unsigned_sine, |_| {}).is_err());
    chip.gdb.interrupt();
    let report = boot_report(&chip.flash());
    assert_runs(
        &report,
        &s.old,
        Slot::A,
        "after a staged update was overwritten",
    );
    assert_eq!(report.boot, BootKind::Active);
}

#[test]
fn power_cuts_during_an_update_leave_the_old_or_the_new_model() {
    let s = setup();
    let (_, events) = update(&s.flash, Plan::Complete);
    // Every erase, the first word of every page, every journal word, the reset, and a sample
    // of the other word writes (all of them with MOTE_EVERY_CUT=1).
    let every = std::env::var_os("MOTE_EVERY_CUT").is_some();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let cuts: Vec<usize> = (0..events.len())
        .filter(|&i| match events[i] {
            Event::Erase(_) | Event::Reset => true,
            Event::Write(a) if a.is_multiple_of(1024) || s.symbols.journal.contains(&a) => true,
            Event::Write(_) => {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                every || seed.is_multiple_of(16)
            }
        })
        .chain([events.len()])
        .collect();
    let (mut old, mut new) = (0, 0);
    for &cut in &cuts {
        let (flash, _) = update(&s.flash, Plan::CutBefore(cut));
        let report = boot_report(&flash);
        let what = format!(
            "power cut before operation {cut} of {} ({:?})",
            events.len(),
            events.get(cut)
        );
        if report.slot == Slot::A {
            assert_runs(&report, &s.old, Slot::A, &what);
            old += 1;
        } else {
            assert_runs(&report, &s.new, Slot::B, &what);
            new += 1;
        }
    }
    println!(
        "{} power cuts in an update of {} flash operations: {old} boots ran the old model, {new} the new one",
        cuts.len(),
        events.len()
    );
    assert!(old > 0 && new > 0);
}
