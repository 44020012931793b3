//! `mote new`: a firmware project for the user's own application on a kit. A cargo project
//! that depends on this checkout's runtime, with the chip's memory map (the model in its own
//! flash region, as the runner firmware has it), the arena sized from the blob at build time,
//! the input read through `embedded-hal` (a stub sensor the user replaces), the result on the
//! kit's LED and in the defmt log over RTT. The templates are in `host-tools/templates/app/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use super::qemu::Board;

/// The board-specific parts of a project.
struct KitFiles {
    /// The chip's memory map, the runner firmware's own.
    memory: &'static str,
    /// `src/board.rs`: the result pin (with the core family's part, [`Platform`]).
    board_rs: &'static str,
    /// The runner's `.cargo/config.toml`, for its default arena.
    runner_config: &'static str,
    /// Substitutions for `board_rs`.
    pin: &'static [(&'static str, &'static str)],
    /// Dependencies the board's start-up needs, as `Cargo.toml` lines.
    dependencies: &'static str,
    /// How the program starts, where its model region is, how it waits.
    platform: Platform,
}

/// What kits of one core family share.
struct Platform {
    /// The rest of `src/board.rs`: start-up, model region, pause, halt.
    board_rs: &'static str,
    /// Its dependencies, as `Cargo.toml` lines.
    dependencies: &'static str,
    /// The memory map's file: the linker finds it by this name in the project and in build.rs's
    /// output folder.
    memory_script: &'static str,
    /// The linker's arguments, as Rust string literals.
    link_args: &'static str,
}

/// cortex-m-rt's start-up and link script, which includes `memory.x`.
const CORTEX_M: Platform = Platform {
    board_rs: include_str!("../../templates/app/platforms/cortex_m.rs"),
    dependencies: "panic-probe = { version = \"1.0\", features = [\"print-defmt\"] }\n\
                   cortex-m = { version = \"0.7.7\", features = [\"critical-section-single-core\"] }\n\
                   cortex-m-rt = \"0.7.5\"\n",
    memory_script: "memory.x",
    link_args: "\"--nmagic\", \"-Tlink.x\", \"-Tdefmt.x\"",
};

/// esp-hal's start-up and memory map (its own `memory.x`, which a file of that name in the
/// project would hide from the linker); the model region's symbols go in a script of their own.
const ESP32C3: Platform = Platform {
    // One kit of this family: its own file (`boards/esp32c3.rs`) has it all.
    board_rs: "",
    dependencies: "# The chip's HAL (start-up, clocks, GPIO, critical sections) and the app descriptor the\n\
                   # ESP-IDF bootloader checks.\n\
                   esp-hal = { version = \"1.2\", features = [\"esp32c3\"] }\n\
                   esp-bootloader-esp-idf = { version = \"0.6\", features = [\"esp32c3\"] }\n",
    memory_script: "mote-regions.x",
    link_args: "\"-Tlinkall.x\", \"-Tdefmt.x\", \"-Tmote-regions.x\"",
};

fn kit_files(board: Board) -> Option<KitFiles> {
    const STM32: &str = include_str!("../../templates/app/boards/stm32.rs");
    match board {
        Board::Netduinoplus2 => Some(KitFiles {
            memory: include_str!("../../../firmware/netduinoplus2/memory/chip.x"),
            board_rs: STM32,
            runner_config: include_str!("../../../firmware/netduinoplus2/.cargo/config.toml"),
            pin: &[
                ("{led}", "PA10"),
                ("{rcc_enable}", "0x4002_3830"),
                ("{rcc_bit}", "0"),
                ("{port}", "0x4002_0000"),
                ("{pin}", "10"),
            ],
            dependencies: "",
            platform: CORTEX_M,
        }),
        Board::BL475eIot01a => Some(KitFiles {
            memory: include_str!("../../../firmware/b-l475e-iot01a/memory/chip.x"),
            board_rs: STM32,
            runner_config: include_str!("../../../firmware/b-l475e-iot01a/.cargo/config.toml"),
            pin: &[
                ("{led}", "PB14 (LD2)"),
                ("{rcc_enable}", "0x4002_104C"),
                ("{rcc_bit}", "1"),
                ("{port}", "0x4800_0400"),
                ("{pin}", "14"),
            ],
            dependencies: "",
            platform: CORTEX_M,
        }),
        Board::Microbit => Some(KitFiles {
            memory: include_str!("../../../firmware/microbit/memory/chip.x"),
            board_rs: include_str!("../../templates/app/boards/nrf51.rs"),
            runner_config: include_str!("../../../firmware/microbit/.cargo/config.toml"),
            pin: &[],
            dependencies: "",
            platform: CORTEX_M,
        }),
        Board::Nrf52840Dk => Some(KitFiles {
            memory: include_str!("../../../firmware/nrf52840-dk/memory/chip.x"),
            board_rs: include_str!("../../templates/app/boards/nrf52.rs"),
            runner_config: include_str!("../../../firmware/nrf52840-dk/.cargo/config.toml"),
            pin: &[],
            dependencies: "",
            platform: CORTEX_M,
        }),
        Board::Rp2040Pico => Some(KitFiles {
            memory: include_str!("../../../firmware/rp2040-pico/memory/chip.x"),
            board_rs: include_str!("../../templates/app/boards/rp2040.rs"),
            runner_config: include_str!("../../../firmware/rp2040-pico/.cargo/config.toml"),
            pin: &[],
            dependencies: "# The second-stage bootloader for the Pico's flash (src/board.rs).\nrp2040-boot2 = \"0.3\"\n",
            platform: CORTEX_M,
        }),
        Board::Esp32c3Devkit => Some(KitFiles {
            memory: include_str!("../../../firmware/esp32c3-devkit/memory/chip.x"),
            board_rs: include_str!("../../templates/app/boards/esp32c3.rs"),
            runner_config: include_str!("../../../firmware/esp32c3-devkit/.cargo/config.toml"),
            pin: &[],
            dependencies: "",
            platform: ESP32C3,
        }),
        Board::Mps2An386 | Board::Riscv32Virt | Board::Mps2An385 => None,
    }
}

/// The default arena of the board's runner firmware (`MOTE_DEFAULT_ARENA_BYTES` in its
/// `.cargo/config.toml`): what the chip's RAM leaves after the stack.
pub fn default_arena(board: Board) -> Option<usize> {
    let config = kit_files(board)?.runner_config;
    let line = config
        .lines()
        .find(|l| l.trim_start().starts_with("MOTE_DEFAULT_ARENA_BYTES"))?;
    line.split('"').nth(1)?.parse().ok()
}

/// The runtime crate of this checkout, which a new project depends on by path.
pub fn default_runtime() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime")
}

/// Writes a new project for `board` into `dir` (which must not exist), with `blob` as its
/// `model.mote` when given, depending on the runtime at `runtime`. All or nothing: the files
/// are written into a temporary folder next to `dir`, which is renamed at the end.
pub fn create(dir: &Path, board: Board, blob: Option<&[u8]>, runtime: &Path) -> Result<()> {
    let Some(kit) = kit_files(board) else {
        bail!("the {board} is an emulator's board, not a kit: mote new makes projects for kits");
    };
    ensure!(
        !dir.exists(),
        "{} exists: mote new writes a new folder (remove it or choose another name)",
        dir.display()
    );
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the project folder needs a name")?;
    ensure!(
        name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{name:?} cannot name a cargo package: use letters, digits, '-' and '_', starting \
         with a letter"
    );
    let runtime = std::fs::canonicalize(runtime)
        .with_context(|| format!("cannot find mote's runtime at {}", runtime.display()))?;
    ensure!(
        std::fs::read_to_string(runtime.join("Cargo.toml"))
            .is_ok_and(|t| t.contains("name = \"mote\"")),
        "{} is not mote's runtime crate (pass --mote-path <checkout>/runtime)",
        runtime.display()
    );
    let arena = default_arena(board).context("the board's runner has no default arena")?;
    if let Some(blob) = blob {
        let model = mote::Model::parse(crate::sign::model_bytes(blob))
            .context("the model is not a valid blob")?;
        ensure!(
            model.arena_size() <= arena,
            "the model needs {} bytes of arena; the {board}'s RAM leaves {arena}",
            model.arena_size()
        );
    }

    let runtime_path = runtime.display().to_string();
    let opt_level = if board == Board::Microbit {
        "\"z\" # 256 KiB of flash"
    } else {
        "3"
    };
    let chip = board.chip().map_or("", |c| c.name);
    let arena_text = arena.to_string();
    let common: [(&str, &str); 8] = [
        ("{name}", name),
        ("{board}", board.name()),
        ("{chip}", chip),
        ("{runtime}", &runtime_path),
        ("{target}", board.target()),
        ("{opt_level}", opt_level),
        ("{default_arena}", &arena_text),
        ("{memory_script}", kit.platform.memory_script),
    ];
    let fill = |template: &str, extra: &[(&str, &str)]| {
        let mut text = template.to_string();
        for (key, value) in common.iter().chain(extra) {
            text = text.replace(key, value);
        }
        text
    };
    let files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            fill(
                include_str!("../../templates/app/Cargo.toml"),
                &[(
                    "{board_dependencies}",
                    &format!("{}{}", kit.platform.dependencies, kit.dependencies),
                )],
            ),
        ),
        (
            "build.rs",
            fill(
                include_str!("../../templates/app/build.rs"),
                &[("{link_args}", kit.platform.link_args)],
            ),
        ),
        (
            ".cargo/config.toml",
            fill(include_str!("../../templates/app/.cargo/config.toml"), &[]),
        ),
        (
            "src/main.rs",
            fill(include_str!("../../templates/app/src/main.rs"), &[]),
        ),
        (
            "src/sensor.rs",
            fill(include_str!("../../templates/app/src/sensor.rs"), &[]),
        ),
        (
            "src/board.rs",
            fill(
                &format!("{}{}", kit.board_rs, kit.platform.board_rs),
                kit.pin,
            ),
        ),
        (kit.platform.memory_script, kit.memory.to_string()),
        (
            "README.md",
            fill(include_str!("../../templates/app/README.md"), &[]),
        ),
    ];

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".mote-new-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    for (path, text) in &files {
        let path = staging.path().join(path);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(blob) = blob {
        std::fs::write(staging.path().join("model.mote"), blob)?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).with_context(|| {
        let _ = std::fs::remove_dir_all(&staged);
        format!("cannot create {}", dir.display())
    })?;
    Ok(())
}
