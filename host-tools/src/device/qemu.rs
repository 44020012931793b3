//! Running a blob on an emulated microcontroller: builds the board's firmware (`firmware/`,
//! its own cargo workspace), loads the blob and the samples into the regions its linker
//! script reserves, boots it in QEMU under a timeout, decodes its defmt log and collects what
//! it hands back.
//!
//! The contract with the firmware (exit statuses, the input region, the result files) is one
//! file, `firmware/common/src/protocol.rs`, compiled into both sides: see [`protocol`].
//! Where to load the blob and the samples is read from the ELF's symbols (`__model_start`,
//! `__update_start`, `__input_start` and their `_end`s, set in the board's `memory/qemu.x`),
//! so a board's memory map is written down once.
//!
//! The firmware has two model slots: A, the last good model ([`run`] places the blob there),
//! and B, an update ([`run_with_update`]). The update runs only if it validates; otherwise the
//! firmware logs why and runs slot A. [`DeviceRun::slot`] says which one ran.
//!
//! Instruction counts are deterministic: QEMU runs with `-icount`; the MPS2 boards count with
//! TIMER0 (5 instructions a tick at `shift=3`, so a count is a multiple of 5), RISC-V with
//! `minstret`, the kits with their own timers ([`Board::counter`] says how exactly). They
//! count instructions, not cycles.
//!
//! [`Board`] also lists the kits no emulator runs (nRF52840 DK, Pico, ESP32-C3): their firmware is built
//! and flashed ([`super::flash`]), never booted here.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind};

use super::flash::FlashImage;

/// The firmware/host contract: exit statuses and their meanings, the input region's header, the
/// result files. Shared verbatim with the firmware (`mote_firmware::protocol`).
pub mod protocol {
    include!("../../../firmware/common/src/protocol.rs");
}

/// A board the firmware supports: QEMU's own, its models of real kits, and kits without an
/// emulator ([`Board::emulated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Board {
    /// Arm MPS2 AN386: Cortex-M4F (thumbv7em-none-eabihf), `qemu-system-arm`.
    #[value(name = "mps2-an386")]
    Mps2An386,
    /// QEMU's RISC-V `virt` machine, RV32IMAC (riscv32imac-unknown-none-elf).
    #[value(name = "riscv32-virt")]
    Riscv32Virt,
    /// Arm MPS2 AN385: Cortex-M3, running Armv6-M code (thumbv6m-none-eabi).
    #[value(name = "mps2-an385")]
    Mps2An385,
    /// Netduino Plus 2: STM32F405 (Cortex-M4F, 1 MiB flash, 192 KiB RAM), QEMU `netduinoplus2`.
    #[value(name = "netduinoplus2")]
    Netduinoplus2,
    /// B-L475E-IOT01A Discovery kit: STM32L475 (Cortex-M4F, 1 MiB flash, 128 KiB RAM), QEMU
    /// `b-l475e-iot01a`.
    #[value(name = "b-l475e-iot01a")]
    BL475eIot01a,
    /// BBC micro:bit v1: nRF51822 (Cortex-M0, 256 KiB flash, 16 KiB RAM), QEMU `microbit`.
    #[value(name = "microbit")]
    Microbit,
    /// nRF52840 DK: nRF52840 (Cortex-M4F, 1 MiB flash, 256 KiB RAM). No emulator: `mote flash`.
    #[value(name = "nrf52840-dk")]
    Nrf52840Dk,
    /// Raspberry Pi Pico: RP2040 (Cortex-M0+, 2 MiB flash, 264 KiB RAM). No emulator: `mote flash`.
    #[value(name = "rp2040-pico")]
    Rp2040Pico,
    /// ESP32-C3-DevKitM-1: ESP32-C3 (RV32IMC, 4 MiB flash, 400 KiB RAM). No emulator: `mote
    /// flash`, through the chip's USB-JTAG.
    #[value(name = "esp32c3-devkit")]
    Esp32c3Devkit,
}

impl Board {
    /// Every board with a firmware package.
    pub const ALL: [Board; 9] = [
        Board::Mps2An386,
        Board::Riscv32Virt,
        Board::Mps2An385,
        Board::Netduinoplus2,
        Board::BL475eIot01a,
        Board::Microbit,
        Board::Nrf52840Dk,
        Board::Rp2040Pico,
        Board::Esp32c3Devkit,
    ];

    /// The boards whose firmware can build one model in ([`ArenaSize::Compiled`]).
    pub const COMPILES_MODELS: [Board; 2] = [Board::Mps2An386, Board::Riscv32Virt];

    /// The boards QEMU runs: its own, and its models of real kits.
    pub const EMULATED: [Board; 6] = [
        Board::Mps2An386,
        Board::Riscv32Virt,
        Board::Mps2An385,
        Board::Netduinoplus2,
        Board::BL475eIot01a,
        Board::Microbit,
    ];

    /// The development kits, emulated or not: `mote flash` and `mote new` take them.
    pub const KITS: [Board; 6] = [
        Board::Netduinoplus2,
        Board::BL475eIot01a,
        Board::Microbit,
        Board::Nrf52840Dk,
        Board::Rp2040Pico,
        Board::Esp32c3Devkit,
    ];

    /// The kit's microcontroller, for flashing through a probe; `None` for QEMU's own boards.
    pub fn chip(self) -> Option<Chip> {
        // STM32: DBGMCU_IDCODE's DEV_ID (RM0090, RM0351). nRF51: FICR CODEPAGESIZE, 1 KiB
        // (the nRF52 parts, micro:bit v2 included, have 4 KiB pages).
        match self {
            Board::Netduinoplus2 => Some(Chip {
                name: "STM32F405RGTx",
                id: (0xE004_2000, 0xFFF, &[0x413]),
                flash_mapped: true,
            }),
            Board::BL475eIot01a => Some(Chip {
                name: "STM32L475VGTx",
                id: (0xE004_2000, 0xFFF, &[0x415]),
                flash_mapped: true,
            }),
            Board::Microbit => Some(Chip {
                name: "nRF51822_xxAA",
                id: (0x1000_0010, u32::MAX, &[1024]),
                flash_mapped: true,
            }),
            // FICR INFO.PART.
            Board::Nrf52840Dk => Some(Chip {
                name: "nRF52840_xxAA",
                id: (0x1000_0100, u32::MAX, &[0x52840]),
                flash_mapped: true,
            }),
            // SYSINFO CHIP_ID: PART 0x0002, MANUFACTURER 0x927 (the revision above them varies).
            Board::Rp2040Pico => Some(Chip {
                name: "RP2040",
                id: (0x4000_0000, 0x0FFF_FFFF, &[0x0000_2927]),
                flash_mapped: true,
            }),
            // The ROM's chip-detect word, one per silicon revision (ECO1-2, ECO3, ECO6, ECO7),
            // as espflash and probe-rs list them.
            Board::Esp32c3Devkit => Some(Chip {
                name: "esp32c3",
                id: (
                    0x4000_1000,
                    u32::MAX,
                    &[0x6921_506F, 0x1B31_506F, 0x4881_606F, 0x4361_606F],
                ),
                flash_mapped: false,
            }),
            Board::Mps2An386 | Board::Riscv32Virt | Board::Mps2An385 => None,
        }
    }

    /// How the firmware counts instructions on this board, and how exactly (see each board's
    /// `src/main.rs`).
    pub fn counter(self) -> &'static str {
        match self {
            Board::Mps2An386 | Board::Mps2An385 => "CMSDK TIMER0, exact to 5 instructions",
            Board::Riscv32Virt => "minstret, exact",
            Board::Netduinoplus2 => "TIM2, exact (one tick an instruction in QEMU)",
            Board::BL475eIot01a => "SysTick at the reset clock, exact to 125 instructions",
            Board::Microbit => "TIMER0 at 16 MHz, exact to 63 instructions",
            Board::Nrf52840Dk => "DWT CYCCNT: core clock cycles, not instructions",
            Board::Rp2040Pico => "the 1 MHz timer: microseconds, not instructions",
            Board::Esp32c3Devkit => "the core's performance counter (mpccr): instructions",
        }
    }

    /// The board's name: its folder under `firmware/` and its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Board::Mps2An386 => "mps2-an386",
            Board::Riscv32Virt => "riscv32-virt",
            Board::Mps2An385 => "mps2-an385",
            Board::Netduinoplus2 => "netduinoplus2",
            Board::BL475eIot01a => "b-l475e-iot01a",
            Board::Microbit => "microbit",
            Board::Nrf52840Dk => "nrf52840-dk",
            Board::Rp2040Pico => "rp2040-pico",
            Board::Esp32c3Devkit => "esp32c3-devkit",
        }
    }

    /// The Rust target the firmware is built for (as in its `.cargo/config.toml`).
    pub fn target(self) -> &'static str {
        match self {
            Board::Mps2An386 => "thumbv7em-none-eabihf",
            Board::Riscv32Virt => "riscv32imac-unknown-none-elf",
            Board::Mps2An385 | Board::Microbit | Board::Rp2040Pico => "thumbv6m-none-eabi",
            Board::Netduinoplus2 | Board::BL475eIot01a | Board::Nrf52840Dk => {
                "thumbv7em-none-eabihf"
            }
            Board::Esp32c3Devkit => "riscv32imc-unknown-none-elf",
        }
    }

    /// Whether the chip boots its firmware as an ESP-IDF application image, which the probe
    /// makes from the ELF as it flashes (the ESP32-C3's ROM and bootloader read no raw
    /// segments): `mote flash --image` then writes the loader regions only.
    pub fn boots_app_image(self) -> bool {
        self == Board::Esp32c3Devkit
    }

    /// Whether the firmware's input region is flash, which `mote flash --input` can write (the
    /// STM32 kits' is their second RAM, which only QEMU's loader fills).
    pub fn input_in_flash(self) -> bool {
        matches!(
            self,
            Board::Microbit | Board::Nrf52840Dk | Board::Rp2040Pico | Board::Esp32c3Devkit
        )
    }

    /// Whether QEMU runs this board.
    pub fn emulated(self) -> bool {
        Board::EMULATED.contains(&self)
    }

    /// QEMU and the machine options, before the image and the loaders; `None` for a board
    /// without an emulator.
    fn qemu(self) -> Option<Command> {
        let (program, args): (&str, &[&str]) = match self {
            // shift=3 is what the firmware's TIMER0 conversion (5 instructions a tick) assumes.
            Board::Mps2An386 => (
                "qemu-system-arm",
                &[
                    "-machine",
                    "mps2-an386",
                    "-cpu",
                    "cortex-m4",
                    "-icount",
                    "shift=3,sleep=off",
                ],
            ),
            Board::Mps2An385 => (
                "qemu-system-arm",
                &[
                    "-machine",
                    "mps2-an385",
                    "-cpu",
                    "cortex-m3",
                    "-icount",
                    "shift=3,sleep=off",
                ],
            ),
            // minstret is exact under any shift; 0 is the fastest to emulate.
            Board::Riscv32Virt => (
                "qemu-system-riscv32",
                &[
                    "-machine",
                    "virt",
                    "-bios",
                    "none",
                    "-icount",
                    "shift=0,sleep=off",
                ],
            ),
            // The chips: each shift makes the firmware's timer tick a whole or known number of
            // instructions (see each board's `src/main.rs`). `-m` only bounds what `-device
            // loader` may write (QEMU takes the machine's RAM size as the limit, which is 0 or
            // 16 KiB here); the chips' memories stay as they are.
            Board::Netduinoplus2 => (
                "qemu-system-arm",
                &[
                    "-machine",
                    "netduinoplus2",
                    "-m",
                    "1M",
                    "-icount",
                    "shift=0,sleep=off",
                ],
            ),
            Board::BL475eIot01a => (
                "qemu-system-arm",
                &[
                    "-machine",
                    "b-l475e-iot01a",
                    "-m",
                    "1M",
                    "-icount",
                    "shift=1,sleep=off",
                ],
            ),
            Board::Microbit => (
                "qemu-system-arm",
                &[
                    "-machine",
                    "microbit",
                    "-m",
                    "1M",
                    "-icount",
                    "shift=0,sleep=off",
                ],
            ),
            Board::Nrf52840Dk | Board::Rp2040Pico | Board::Esp32c3Devkit => return None,
        };
        let mut cmd = Command::new(program);
        cmd.args(args).args([
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
        ]);
        Some(cmd)
    }
}

/// A kit's microcontroller, as a debug probe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chip {
    /// probe-rs's name for it (its memory map and flash algorithm).
    pub name: &'static str,
    /// Its identification register: address, the bits that identify, and what they may read
    /// (one value per silicon revision that differs).
    pub id: (u64, u32, &'static [u32]),
    /// Whether its flash is in the core's address space after a reset, so that it can be read
    /// back through the core (the ESP32-C3's is behind a cache MMU: the probe's flash loader
    /// verifies it instead).
    pub flash_mapped: bool,
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Board {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Board::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Board::ALL.iter().map(|b| b.name()).collect();
                anyhow!("unknown board {s:?}; the boards are {}", names.join(", "))
            })
    }
}

/// The `firmware/` folder: `MOTE_FIRMWARE_DIR` if set, else the one in this source tree.
pub fn firmware_dir() -> PathBuf {
    std::env::var_os("MOTE_FIRMWARE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware"))
}

/// How the firmware's static arena is sized when it is built (see `firmware/common/build.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ArenaSize {
    /// As the environment says: `MOTE_BLOB` or `MOTE_ARENA_BYTES` if set, else the firmware's
    /// default (256 KiB). Built in `firmware/target`.
    #[default]
    FromEnvironment,
    /// Exactly this many bytes (`MOTE_ARENA_BYTES`).
    Bytes(usize),
    /// Exactly what this blob needs, read by the firmware's build script (`MOTE_BLOB`): the
    /// arena is known before the firmware is built, and a larger model is refused at boot.
    FromBlob(PathBuf),
    /// This blob compiled into the firmware (feature `compiled`, `MOTE_BLOB`): the arena it
    /// needs, only its operators, no blob decoder or validation on the device, and the model
    /// region unread. Only the boards of [`Board::COMPILES_MODELS`].
    Compiled(PathBuf),
}

/// Builds the board's firmware (`cargo build --release` in `firmware/<board>/`, quietly; cargo
/// makes it a no-op when nothing changed) and returns the ELF's path. The arena is sized as the
/// environment says: [`ArenaSize::FromEnvironment`].
pub fn build_firmware(board: Board) -> Result<PathBuf> {
    build_firmware_with(board, &ArenaSize::FromEnvironment)
}

/// Builds the board's firmware with its static arena sized as `arena` says, and returns the
/// ELF's path.
///
/// The build gets a clean environment for what would change it behind the firmware's back:
/// `RUSTFLAGS` and friends (they would replace the target's settings) and the target dir.
/// [`ArenaSize::FromEnvironment`] builds in `firmware/target` and passes `MOTE_BLOB` and
/// `MOTE_ARENA_BYTES` through; a fixed size builds in `firmware/target/arena-<bytes>`, so that
/// switching between sizes rebuilds nothing and leaves the default build alone.
///
/// The image does not depend on where the repository or the registry lives, so
/// `firmware/sizes.txt` holds on any clone. Source paths are remapped (`--remap-path-prefix`:
/// the checkout to `mote`, `CARGO_HOME` to `cargo`) for the panic locations, and
/// `firmware/rustc-wrapper.sh` (as `RUSTC_WRAPPER`, replacing any other) gives every crate a
/// `-C metadata` that does not hash the runtime's absolute path into the symbol names.
pub fn build_firmware_with(board: Board, arena: &ArenaSize) -> Result<PathBuf> {
    build_firmware_in(&firmware_dir(), board, arena)
}

/// Builds the board's firmware so that it runs only models signed with the Ed25519 key whose
/// public half is the PEM file `public_key` (`MOTE_PUBLIC_KEY`), in `firmware/target/keyed`,
/// and returns the ELF's path.
pub fn build_firmware_keyed(board: Board, public_key: &Path) -> Result<PathBuf> {
    let key = std::fs::canonicalize(public_key)
        .with_context(|| format!("cannot find the public key {}", public_key.display()))?;
    let pem = std::fs::read_to_string(&key)
        .with_context(|| format!("cannot read the public key {}", key.display()))?;
    crate::sign::public_key_from_pem(&pem)
        .with_context(|| format!("{} is no Ed25519 public key", key.display()))?;
    build(
        &firmware_dir(),
        board,
        &ArenaSize::FromEnvironment,
        Some(&key),
        false,
    )
}

/// Builds the board's field runner (`mote-<board>-field`: the model its slot journal chooses,
/// updates over its UART; see `mote_firmware::field`), with the Ed25519 public key
/// `public_key` if given, and returns the ELF's path. Only the micro:bit has one.
pub fn build_field_firmware(board: Board, public_key: Option<&Path>) -> Result<PathBuf> {
    let key = public_key
        .map(|key| {
            std::fs::canonicalize(key)
                .with_context(|| format!("cannot find the public key {}", key.display()))
        })
        .transpose()?;
    build(
        &firmware_dir(),
        board,
        &ArenaSize::FromEnvironment,
        key.as_deref(),
        true,
    )
}

/// [`build_firmware_with`] from the `firmware/` folder `root` of some checkout (its own
/// `target/`), e.g. a copy of the repository elsewhere.
pub fn build_firmware_in(root: &Path, board: Board, arena: &ArenaSize) -> Result<PathBuf> {
    build(root, board, arena, None, false)
}

fn build(
    root: &Path,
    board: Board,
    arena: &ArenaSize,
    key: Option<&Path>,
    field: bool,
) -> Result<PathBuf> {
    let dir = root.join(board.name());
    ensure!(
        dir.join("Cargo.toml").is_file(),
        "no firmware for {board} in {}",
        dir.display()
    );
    let mut cmd = Command::new("cargo");
    match key {
        Some(key) => cmd.env("MOTE_PUBLIC_KEY", key),
        None => cmd.env_remove("MOTE_PUBLIC_KEY"),
    };
    let mut features = None;
    let target_dir = match (arena, key) {
        (_, Some(_)) if field => root.join("target").join("field-keyed"),
        (_, None) if field => root.join("target").join("field"),
        (_, Some(_)) => root.join("target").join("keyed"),
        (ArenaSize::FromEnvironment, None) => root.join("target"),
        (ArenaSize::Bytes(bytes), None) => {
            cmd.env("MOTE_ARENA_BYTES", bytes.to_string())
                .env_remove("MOTE_BLOB");
            root.join("target").join(format!("arena-{bytes}"))
        }
        (ArenaSize::FromBlob(path), None) => {
            let (path, blob) = blob_file(path)?;
            let model = mote::Model::parse(crate::sign::model_bytes(&blob))
                .with_context(|| format!("{} is not a valid blob", path.display()))?;
            cmd.env("MOTE_BLOB", &path).env_remove("MOTE_ARENA_BYTES");
            root.join("target")
                .join(format!("arena-{}", model.arena_size()))
        }
        (ArenaSize::Compiled(path), None) => {
            ensure!(
                Board::COMPILES_MODELS.contains(&board),
                "the {board} firmware cannot build a model in; these can: {}",
                Board::COMPILES_MODELS.map(Board::name).join(", ")
            );
            let (path, blob) = blob_file(path)?;
            let model = crate::sign::model_bytes(&blob);
            let operators = mote::compile::required_features(model, Some(board.target()))
                .with_context(|| format!("{} is not a valid blob", path.display()))?;
            let mut list = vec!["compiled".to_string()];
            list.extend(operators.iter().map(|op| format!("mote/{op}")));
            features = Some(list.join(","));
            cmd.env("MOTE_BLOB", &path).env_remove("MOTE_ARENA_BYTES");
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            root.join("target").join(format!("compiled-{stem}"))
        }
    };
    cmd.args(["build", "--release", "--quiet"]);
    if let Some(features) = features {
        cmd.args(["--no-default-features", "--features", &features]);
    }
    if field {
        // The field runner verifies signatures on the nRF51's 16 KiB of RAM: Ed25519 takes
        // 11 KB of stack there (measured), which leaves 2 KiB for the arena.
        cmd.args(["--no-default-features", "--features", "field"])
            .env("MOTE_DEFAULT_ARENA_BYTES", "2048");
    }
    run_firmware_cargo(cmd, root, &dir, &target_dir)
        .with_context(|| format!("building the {board} firmware failed"))?;
    let elf = target_dir
        .join(board.target())
        .join("release")
        .join(format!(
            "mote-{}{}",
            board.name(),
            if field { "-field" } else { "" }
        ));
    ensure!(
        elf.is_file(),
        "the firmware build left no ELF at {}",
        elf.display()
    );
    Ok(elf)
}

/// The blob file `path` names, by its absolute path (the firmware's build script reads it),
/// and its bytes.
fn blob_file(path: &Path) -> Result<(PathBuf, Vec<u8>)> {
    let path = std::fs::canonicalize(path)
        .with_context(|| format!("cannot find the blob {}", path.display()))?;
    let blob =
        std::fs::read(&path).with_context(|| format!("cannot read the blob {}", path.display()))?;
    Ok((path, blob))
}

/// How `bare-digits` is built: its sizes row in `firmware/sizes.txt` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareDigits {
    /// The model compiled in (`mote::compile`), the reference kernels: the default build.
    Compiled,
    /// The model compiled in, the optimized kernels.
    Optimized,
    /// The blob parsed and validated at boot (`include_bytes!`), the reference kernels.
    Blob,
}

impl BareDigits {
    /// Every build, in the order of the sizes file.
    pub const ALL: [BareDigits; 3] = [
        BareDigits::Compiled,
        BareDigits::Optimized,
        BareDigits::Blob,
    ];

    /// Its row in `firmware/sizes.txt`.
    pub fn name(self) -> &'static str {
        match self {
            BareDigits::Compiled => "bare-digits",
            BareDigits::Optimized => "bare-optimized",
            BareDigits::Blob => "bare-blob",
        }
    }
}

/// The smallest application, `bare-digits` in the `firmware/` folder `root`: the digits MLP
/// on a bare Cortex-M4 (QEMU's `mps2-an386` memory map; it reads one sample where
/// [`BARE_DIGITS_INPUT`] says, prints the scores in hex through semihosting and exits 0),
/// built for size (`--profile size`) with the boards' path remapping, as `build` says.
/// Returns the ELF's path.
///
/// # Errors
/// A failed build, with cargo's messages.
pub fn build_bare_digits(root: &Path, build: BareDigits) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--profile", "size", "--quiet"]);
    match build {
        BareDigits::Compiled => {}
        BareDigits::Optimized => {
            cmd.arg("--no-default-features");
        }
        BareDigits::Blob => {
            cmd.args(["--features", "blob"]);
        }
    }
    // One target folder each: the three builds do not rebuild one another.
    let target_dir = match build {
        BareDigits::Compiled => root.join("target"),
        other => root.join("target").join(other.name()),
    };
    run_firmware_cargo(cmd, root, &root.join("bare-digits"), &target_dir)
        .context("building the bare-digits application failed")?;
    let elf = target_dir.join("thumbv7em-none-eabihf/size/mote-bare-digits");
    ensure!(elf.is_file(), "the build left no ELF at {}", elf.display());
    Ok(elf)
}

/// Where `bare-digits` reads its sample (its `memory/qemu.x`).
pub const BARE_DIGITS_INPUT: u64 = 0x0028_0000;

/// Runs the `bare-digits` application ([`build_bare_digits`]) on one 64-byte sample in QEMU's
/// `mps2-an386` and returns the scores it printed.
///
/// # Errors
/// QEMU missing, a timeout, a non-zero exit (the application's error or panic) or output that
/// is not one line of hex bytes.
pub fn run_bare_digits(elf: &Path, sample: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir().context("cannot create a folder for the QEMU run")?;
    let file = dir.path().join("sample.bin");
    std::fs::write(&file, sample).context("cannot write the sample file")?;
    let mut cmd = Board::Mps2An386
        .qemu()
        .context("no emulator for mps2-an386")?;
    cmd.arg("-kernel")
        .arg(elf)
        .arg("-device")
        .arg(loader(&file, BARE_DIGITS_INPUT));
    let exited = run_with_timeout(cmd, timeout).context("cannot run QEMU (.ci/install-deps.sh)")?;
    // QEMU writes the semihosting console to its standard error.
    let console = String::from_utf8_lossy(&exited.stderr);
    ensure!(
        !exited.timed_out && exited.code == Some(0),
        "bare-digits did not exit 0 (exit {:?}{}): {console}",
        exited.code,
        if exited.timed_out { ", timed out" } else { "" },
    );
    let hex = console.trim();
    ensure!(
        hex.len().is_multiple_of(2),
        "bare-digits printed `{hex}`, not hex bytes"
    );
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(hex.get(i..i + 2).unwrap_or(""), 16)
                .with_context(|| format!("bare-digits printed `{hex}`, not hex bytes"))
        })
        .collect()
}

/// Runs a firmware build (`cmd`: `cargo build ...`) in `dir` of the `firmware/` folder `root`,
/// into `target_dir`, with the flags that keep the image the same wherever it is built.
fn run_firmware_cargo(mut cmd: Command, root: &Path, dir: &Path, target_dir: &Path) -> Result<()> {
    let output = cmd
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", remap_path_flags(root)?)
        .env("RUSTC_WRAPPER", root.join("rustc-wrapper.sh"))
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .output()
        .context("cannot run cargo to build the firmware")?;
    ensure!(
        output.status.success(),
        "{}:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// `CARGO_ENCODED_RUSTFLAGS` that take the checkout's and cargo's home folders out of the
/// image: `--remap-path-prefix` for the folder holding `firmware/` (the runtime is a path
/// dependency outside the firmware workspace, so rustc sees its absolute path) and for
/// `CARGO_HOME` (the registry sources). The boards set no rustflags of their own: their link
/// arguments come from their `build.rs`.
fn remap_path_flags(firmware: &Path) -> Result<String> {
    let checkout = std::fs::canonicalize(firmware.join(".."))
        .with_context(|| format!("cannot resolve {}/..", firmware.display()))?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let mut flags = vec![format!("--remap-path-prefix={}=mote", checkout.display())];
    if let Some(home) = cargo_home {
        let home = std::fs::canonicalize(&home).unwrap_or(home);
        flags.push(format!("--remap-path-prefix={}=cargo", home.display()));
    }
    ensure!(
        flags.iter().all(|f| !f.contains('\x1f')),
        "a path contains the 0x1f separator of CARGO_ENCODED_RUSTFLAGS"
    );
    Ok(flags.join("\x1f"))
}

/// What a run on the device produced.
#[derive(Debug, Clone)]
pub struct DeviceRun {
    /// Every sample's outputs back to back (each sample: every graph output in order), as
    /// `mote run` lays them out.
    pub outputs: Vec<u8>,
    /// Guest instructions retired by each `invoke`, one per sample.
    pub instructions: Vec<u64>,
    /// Arena bytes the model uses (its memory plan).
    pub arena_bytes: usize,
    /// Bytes of the firmware's static arena (the most a model may use).
    pub arena_capacity: usize,
    /// Peak stack use over the whole run, measured by painting the stack.
    pub stack_bytes: usize,
    /// Instructions each operator took on the first sample (of the first boot), in execution
    /// order, from a second, profiled run of it (see `protocol::PROFILE_FILE`).
    pub profile: Vec<u64>,
    /// The model slot that ran: the update if it validated, else the last good model.
    pub slot: Slot,
    /// The firmware's decoded defmt log, one line per message (`LEVEL message`).
    pub log: Vec<String>,
    /// Wall-clock time of the QEMU process: boot, every inference and the result transfer.
    pub wall_time: Duration,
}

/// One of the firmware's two model slots (see `protocol::SLOT_UPDATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Slot A, the model region: the last good model.
    LastGood,
    /// Slot B, the update region: a new model that validated.
    Update,
}

/// Why a device run failed: the firmware's exit status (with its meaning) or a timeout, and
/// the decoded log. Returned inside the `anyhow::Error` of [`run`]; `downcast_ref` to inspect.
#[derive(Debug, Clone)]
pub struct DeviceError {
    /// The board.
    pub board: Board,
    /// The exit status, or `None` when QEMU was killed (timeout) or died of a signal.
    pub exit_code: Option<i32>,
    /// The run exceeded its timeout and was killed.
    pub timed_out: bool,
    /// The firmware's decoded defmt log.
    pub log: Vec<String>,
    /// What QEMU itself printed on stderr.
    pub stderr: String,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.timed_out, self.exit_code) {
            (true, _) => write!(f, "the {} run timed out", self.board)?,
            (false, Some(code)) => write!(
                f,
                "the {} firmware exited with status {code}: {}",
                self.board,
                protocol::exit_meaning(code)
            )?,
            (false, None) => write!(f, "QEMU for {} was killed by a signal", self.board)?,
        }
        if !self.log.is_empty() {
            write!(f, "\ndevice log:")?;
            for line in &self.log {
                write!(f, "\n  {line}")?;
            }
        }
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            write!(f, "\nQEMU stderr:\n{stderr}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeviceError {}

/// Where the board's firmware expects the blob and the samples, from the ELF's symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// Address and size of the model region (slot A, the last good model).
    pub model: (u64, u64),
    /// Address and size of the update region (slot B).
    pub update: (u64, u64),
    /// Address and size of the input region (header included).
    pub input: (u64, u64),
    /// Bytes of the firmware's static arena (the symbol `MOTE_ARENA`): the most a model may
    /// use.
    pub arena: u64,
    /// Address and size of the slot journal (`__journal_start..__journal_end`), on a board
    /// whose field runner keeps one: which slot runs.
    pub journal: Option<(u64, u64)>,
}

/// The named symbols of a firmware ELF, with their addresses.
///
/// # Errors
/// The bytes are not an ELF file.
pub fn symbols(elf: &[u8]) -> Result<Vec<(String, u32)>> {
    let file = object::File::parse(elf).context("the firmware is not an ELF file")?;
    Ok(file
        .symbols()
        .filter_map(|s| Some((s.name().ok()?.to_string(), u32::try_from(s.address()).ok()?)))
        .collect())
}

/// Reads the model and input regions and the arena's size from a firmware ELF.
pub fn regions(elf: &[u8]) -> Result<Regions> {
    let file = object::File::parse(elf).context("the firmware is not an ELF file")?;
    let symbol = |name: &str| -> Result<u64> {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .map(|s| s.address())
            .ok_or_else(|| anyhow!("the firmware ELF has no symbol {name}: is it a mote firmware?"))
    };
    let region = |start: &str, end: &str| -> Result<(u64, u64)> {
        let (a, b) = (symbol(start)?, symbol(end)?);
        ensure!(b > a, "the firmware's {start}..{end} is empty");
        Ok((a, b - a))
    };
    let (model, update, input) = (
        region("__model_start", "__model_end")?,
        region("__update_start", "__update_end")?,
        region("__input_start", "__input_end")?,
    );
    let arena = file
        .symbols()
        .find(|s| s.name() == Ok("MOTE_ARENA"))
        .map(|s| s.size())
        .context("the firmware ELF has no symbol MOTE_ARENA (its static arena)")?;
    let journal = region("__journal_start", "__journal_end").ok();
    Ok(Regions {
        model,
        update,
        input,
        arena,
        journal,
    })
}

/// Why a model cannot run on a board's firmware, with the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// The blob is larger than the firmware's model region (flash).
    Flash {
        /// Bytes of the blob.
        needed: u64,
        /// Bytes of the model region.
        available: u64,
    },
    /// The model needs more arena than the firmware's static arena (RAM).
    Arena {
        /// Bytes the model's memory plan needs.
        needed: u64,
        /// Bytes of the firmware's arena.
        available: u64,
    },
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Misfit::Flash { needed, available } => write!(
                f,
                "the blob is {needed} bytes of flash; the firmware's model region holds {available}"
            ),
            Misfit::Arena { needed, available } => write!(
                f,
                "the model needs {needed} bytes of arena (RAM); the firmware's arena has {available}"
            ),
        }
    }
}

/// Whether `blob` fits the firmware whose regions are `regions`: `None` if it does (or if it
/// does not parse: the firmware refuses that itself, with the reason), else the first thing
/// that does not fit.
pub fn misfit(regions: &Regions, blob: &[u8]) -> Option<Misfit> {
    if blob.len() as u64 > regions.model.1 {
        return Some(Misfit::Flash {
            needed: blob.len() as u64,
            available: regions.model.1,
        });
    }
    let model = mote::Model::parse(crate::sign::model_bytes(blob)).ok()?;
    let needed = model.arena_size() as u64;
    (needed > regions.arena).then_some(Misfit::Arena {
        needed,
        available: regions.arena,
    })
}

/// Sizes of a firmware image, as `size` reports them (Berkeley format), except that the
/// `.stack` and `.heap` pseudo-sections of riscv-rt (reserved regions, not data) are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    /// Code and read-only data (flash).
    pub text: u64,
    /// Initialised writable data (flash and RAM).
    pub data: u64,
    /// Zero-initialised and uninitialised data (RAM), the static arena included.
    pub bss: u64,
}

/// Measures a firmware ELF.
pub fn image_size(elf: &[u8]) -> Result<ImageSize> {
    let file = object::File::parse(elf).context("the firmware is not an ELF file")?;
    let mut size = ImageSize {
        text: 0,
        data: 0,
        bss: 0,
    };
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        // esp-hal's `*_dummy` sections reserve bus addresses that alias the code and data
        // already counted (the ESP32-C3's shared MMU pages and SRAM), no memory of their own.
        if matches!(name, ".stack" | ".heap") || name.ends_with("_dummy") {
            continue;
        }
        match section.kind() {
            SectionKind::Text | SectionKind::ReadOnlyData | SectionKind::ReadOnlyString => {
                size.text += section.size()
            }
            SectionKind::Data => size.data += section.size(),
            SectionKind::UninitializedData => size.bss += section.size(),
            _ => {}
        }
    }
    Ok(size)
}

/// Runs `blob` over `inputs` (samples back to back, as for `mote run`) on `board`, with the
/// firmware `elf` ([`build_firmware`]). Each QEMU boot is killed after `timeout`.
///
/// Inputs larger than the firmware's input region are split into batches of whole samples
/// (the sample size is read from the blob), one boot each; the results are joined as if from
/// one run (the stack figure is the largest of the boots, the wall time their sum).
///
/// # Errors
/// A [`DeviceError`] (exit status and its meaning, or timeout, with the decoded log) when the
/// firmware does not exit 0; other errors when QEMU cannot start, the blob does not fit the
/// firmware's model region, or the results are incomplete.
pub fn run(
    board: Board,
    elf: &Path,
    blob: &[u8],
    inputs: &[u8],
    timeout: Duration,
) -> Result<DeviceRun> {
    run_with_update(board, elf, blob, &[], inputs, timeout)
}

/// [`run`] with `last_good` in slot A and `update` in slot B (empty: no update). The firmware
/// runs the update if it validates (parses and fits the arena), else it logs why not and runs
/// the last good model; [`DeviceRun::slot`] says which ran. The sample size for batching is
/// read from the update if it parses, else from the last good model.
pub fn run_with_update(
    board: Board,
    elf: &Path,
    last_good: &[u8],
    update: &[u8],
    inputs: &[u8],
    timeout: Duration,
) -> Result<DeviceRun> {
    let sample = sample_len(update).or_else(|_| sample_len(last_good));
    boots(
        board,
        elf,
        Contents::Slots([last_good, update]),
        sample,
        inputs,
        timeout,
    )
}

/// [`run`] from a flash image ([`super::flash::image`], as `mote flash --image` writes it):
/// QEMU gets no ELF to load, only `image` at its address, and boots from it as the chip does
/// from its flash. `elf` is the firmware inside the image, read for its regions and its log
/// format. The image must hold a model (the sample size is read from it). Empty `inputs`:
/// the image holds the samples too (`mote flash --input`), and nothing else is loaded.
pub fn run_flash_image(
    board: Board,
    elf: &Path,
    image: &FlashImage,
    inputs: &[u8],
    timeout: Duration,
) -> Result<DeviceRun> {
    let regions =
        regions(&std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?)?;
    let model = regions
        .model
        .0
        .checked_sub(image.base)
        .and_then(|at| image.bytes.get(at as usize..))
        .context("the image does not reach the model region")?;
    boots(
        board,
        elf,
        Contents::Flash(image),
        sample_len(model),
        inputs,
        timeout,
    )
}

/// What QEMU puts in the board's memory besides the samples.
#[derive(Clone, Copy)]
enum Contents<'a> {
    /// The firmware ELF (`-kernel`), the last good model in slot A and the update in slot B
    /// (empty: none).
    Slots([&'a [u8]; 2]),
    /// A flash image, firmware and model, written where a probe would write it.
    Flash(&'a FlashImage),
}

/// Boots the firmware as often as it takes to run every sample: inputs larger than the
/// input region are split into batches of whole samples (`sample` bytes each), one boot each.
fn boots(
    board: Board,
    elf: &Path,
    contents: Contents<'_>,
    sample: Result<usize>,
    inputs: &[u8],
    timeout: Duration,
) -> Result<DeviceRun> {
    let image = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let regions = regions(&image)?;
    let room = regions
        .input
        .1
        .saturating_sub(protocol::INPUT_HEADER_LEN as u64) as usize;
    if inputs.is_empty() && matches!(contents, Contents::Flash(_)) {
        return boot(board, elf, &image, &regions, contents, &[], timeout);
    }
    if inputs.len() <= room {
        return boot(
            board,
            elf,
            &image,
            &regions,
            contents,
            &input_region(inputs)?,
            timeout,
        );
    }
    let sample = sample.context(
        "the inputs exceed the firmware's input region and the blob's sample size is unknown",
    )?;
    let per_boot = room / sample * sample;
    ensure!(
        per_boot > 0,
        "one sample is {sample} bytes; the {board} firmware's input region holds {room}"
    );
    let mut all: Option<DeviceRun> = None;
    for batch in inputs.chunks(per_boot) {
        let run = boot(
            board,
            elf,
            &image,
            &regions,
            contents,
            &input_region(batch)?,
            timeout,
        )?;
        match all.as_mut() {
            None => all = Some(run),
            Some(all) => {
                all.outputs.extend(run.outputs);
                all.instructions.extend(run.instructions);
                all.stack_bytes = all.stack_bytes.max(run.stack_bytes);
                all.log.extend(run.log);
                all.wall_time += run.wall_time;
            }
        }
    }
    all.context("no inputs")
}

/// A deliberate failure of the firmware, to prove the handling of its worst exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTest {
    /// The firmware panics: exit status [`protocol::EXIT_PANIC`].
    Panic,
    /// The firmware executes an undefined instruction: [`protocol::EXIT_FAULT`].
    Fault,
}

/// Boots the firmware with an input region that asks it to fail as `test` says (see
/// [`protocol::SELF_TEST_PANIC`]); the result is the [`DeviceError`] that [`run`] would give.
pub fn self_test(board: Board, elf: &Path, test: SelfTest, timeout: Duration) -> Result<DeviceRun> {
    let image = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let regions = regions(&image)?;
    let code = match test {
        SelfTest::Panic => protocol::SELF_TEST_PANIC,
        SelfTest::Fault => protocol::SELF_TEST_FAULT,
    };
    boot(
        board,
        elf,
        &image,
        &regions,
        Contents::Slots([&[], &[]]),
        &code.to_le_bytes(),
        timeout,
    )
}

/// Bytes of one sample of the blob's inputs (inside its envelope if it is signed), if the
/// blob parses.
fn sample_len(blob: &[u8]) -> Result<usize> {
    let model = mote::Model::parse(crate::sign::model_bytes(blob))?;
    let mut total = 0;
    for &id in model.inputs() {
        total += model
            .tensor(id)?
            .byte_len()
            .context("input size overflows")?;
    }
    ensure!(total > 0, "the model's inputs are empty");
    Ok(total)
}

/// The input region's bytes: the byte count, then the samples.
fn input_region(inputs: &[u8]) -> Result<Vec<u8>> {
    let count = u32::try_from(inputs.len()).context("more than 4 GiB of inputs")?;
    let mut region = Vec::with_capacity(protocol::INPUT_HEADER_LEN + inputs.len());
    region.extend_from_slice(&count.to_le_bytes());
    region.extend_from_slice(inputs);
    Ok(region)
}

/// One QEMU boot with `contents` and the input `region` loaded.
fn boot(
    board: Board,
    elf: &Path,
    image: &[u8],
    regions: &Regions,
    contents: Contents<'_>,
    region: &[u8],
    timeout: Duration,
) -> Result<DeviceRun> {
    let places = [
        ("model region (slot A)", regions.model, "model.bin"),
        ("update region (slot B)", regions.update, "update.bin"),
    ];
    let slots = match contents {
        Contents::Slots(slots) => slots,
        Contents::Flash(_) => [&[][..], &[][..]],
    };
    for (blob, (what, (_, size), _)) in slots.iter().zip(places) {
        ensure!(
            blob.len() as u64 <= size,
            "the blob is {} bytes; the {board} firmware's {what} holds {size}",
            blob.len(),
        );
    }
    ensure!(
        region.len() as u64 <= regions.input.1,
        "the input region overflows"
    );
    let dir = tempfile::tempdir().context("cannot create a folder for the QEMU run")?;
    let input_file = dir.path().join("input.bin");
    std::fs::write(&input_file, region).context("cannot write the input region file")?;
    // An empty region: the flash image holds the samples (`mote flash --input`).
    let load_inputs = !region.is_empty();

    let mut cmd = board
        .qemu()
        .with_context(|| format!("no emulator runs the {board}: flash it (mote flash)"))?;
    match contents {
        Contents::Slots(_) => {
            cmd.arg("-kernel").arg(elf);
        }
        Contents::Flash(flash) => {
            let file = dir.path().join("flash.bin");
            std::fs::write(&file, &flash.bytes).context("cannot write the flash image file")?;
            cmd.arg("-device").arg(loader(&file, flash.base));
        }
    }
    for (blob, (what, (addr, _), name)) in slots.iter().zip(places) {
        // QEMU's loader refuses an empty file; an empty slot reads as zeros: no model in slot
        // A (a model error), no update in slot B.
        if !blob.is_empty() {
            let file = dir.path().join(name);
            std::fs::write(&file, blob).with_context(|| format!("cannot write the {what} file"))?;
            cmd.arg("-device").arg(loader(&file, addr));
        }
    }
    if load_inputs {
        cmd.arg("-device").arg(loader(&input_file, regions.input.0));
    }
    // Semihosting opens the result files relative to QEMU's working directory.
    cmd.current_dir(dir.path());
    let started = Instant::now();
    let exited = run_with_timeout(cmd, timeout).with_context(|| {
        format!("cannot run QEMU for {board} (is it installed? .ci/install-deps.sh)")
    })?;
    let wall_time = started.elapsed();
    let log = decode_log(image, &exited.stdout);

    if exited.timed_out || exited.code != Some(protocol::EXIT_OK) {
        return Err(DeviceError {
            board,
            exit_code: exited.code,
            timed_out: exited.timed_out,
            log,
            stderr: String::from_utf8_lossy(&exited.stderr).into_owned(),
        }
        .into());
    }

    let read = |name: &std::ffi::CStr| -> Result<Vec<u8>> {
        let name = name.to_str().expect("protocol file names are ASCII");
        std::fs::read(dir.path().join(name))
            .with_context(|| format!("the {board} firmware exited 0 but left no {name}"))
    };
    let summary = read(protocol::SUMMARY_FILE)?;
    ensure!(
        summary.len() == protocol::SUMMARY_LEN,
        "the summary is {} bytes, not {}",
        summary.len(),
        protocol::SUMMARY_LEN
    );
    let word = |i: usize| {
        u32::from_le_bytes([
            summary[i * 4],
            summary[i * 4 + 1],
            summary[i * 4 + 2],
            summary[i * 4 + 3],
        ]) as usize
    };
    let (samples, arena_bytes, arena_capacity, stack_bytes) = (word(0), word(1), word(2), word(3));
    let slot = match word(4) as u32 {
        protocol::SLOT_LAST_GOOD => Slot::LastGood,
        protocol::SLOT_UPDATE => Slot::Update,
        other => bail!("the summary names model slot {other}, which does not exist"),
    };
    let instructions: Vec<u64> = read(protocol::INSTRUCTIONS_FILE)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let outputs = read(protocol::OUTPUTS_FILE)?;
    let profile: Vec<u64> = read(protocol::PROFILE_FILE)?
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    ensure!(
        instructions.len() == samples && samples > 0 && outputs.len() % samples == 0,
        "incomplete results: {samples} samples, {} instruction counts, {} output bytes",
        instructions.len(),
        outputs.len()
    );
    Ok(DeviceRun {
        outputs,
        instructions,
        arena_bytes,
        arena_capacity,
        stack_bytes,
        profile,
        slot,
        log,
        wall_time,
    })
}

fn loader(file: &Path, addr: u64) -> String {
    format!("loader,file={},addr={addr:#x},force-raw=on", file.display())
}

struct Exited {
    code: Option<i32>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `cmd` to completion or until `timeout`, collecting its output.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Exited> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait()? {
            break (Some(status), false);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok(Exited {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Decodes the firmware's defmt stream with the ELF's format table, one line per frame.
/// Never fails: what cannot be decoded becomes a line saying so.
pub fn decode_log(elf: &[u8], stream: &[u8]) -> Vec<String> {
    let table = match defmt_decoder::Table::parse(elf) {
        Ok(Some(table)) => table,
        Ok(None) => {
            return vec![format!(
                "<no defmt table in the ELF; {} log bytes>",
                stream.len()
            )];
        }
        Err(e) => return vec![format!("<cannot read the defmt table: {e}>")],
    };
    let mut lines = Vec::new();
    let mut decoder = table.new_stream_decoder();
    decoder.received(stream);
    loop {
        match decoder.decode() {
            Ok(frame) => {
                let level = frame
                    .level()
                    .map_or("", |l| l.as_str())
                    .to_ascii_uppercase();
                lines.push(format!("{level:<5} {}", frame.display_message()));
            }
            Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
            Err(defmt_decoder::DecodeError::Malformed) => {
                lines.push("<malformed defmt frame>".to_string());
                if !table.encoding().can_recover() {
                    break;
                }
            }
        }
    }
    lines
}
