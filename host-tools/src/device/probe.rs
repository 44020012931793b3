//! Writing a [`FlashImage`] into a kit through a debug probe, with probe-rs as a library: find
//! the probe, attach to the board's chip, check that the chip is the board's, program, read
//! every byte back, and check the model's checksum in what was read. Every check that needs
//! no hardware ([`choose`], [`check_chip`]) is a plain function, tested without a probe.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use probe_rs::flashing::{DownloadOptions, Format, IdfOptions};
use probe_rs::probe::DebugProbeSelector;
use probe_rs::probe::list::Lister;
use probe_rs::{MemoryInterface, Permissions};

use super::flash::FlashImage;
use super::qemu::Chip;

/// A connected probe, as the user names it with `--probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeId {
    /// What the probe calls itself (e.g. "STLink V2-1").
    pub name: String,
    /// `VID:PID` or `VID:PID:SERIAL`, in hex, as `--probe` takes it.
    pub selector: String,
}

/// Which of the connected `probes` to use: the only one, or the one `--probe` matched
/// (`chosen`: the list is already filtered by it).
pub fn choose(probes: &[ProbeId], chosen: Option<&str>) -> Result<usize> {
    match (probes.len(), chosen) {
        (1, _) => Ok(0),
        (0, None) => bail!(
            "no debug probe found: connect the kit's probe (ST-LINK, DAPLink, the ESP32-C3's \
             USB-JTAG) over USB; on Linux your user needs access to it (probe-rs's udev rules), \
             or write a file with --image"
        ),
        (0, Some(selector)) => bail!("no connected probe matches --probe {selector}"),
        (n, _) => {
            let list: Vec<String> = probes
                .iter()
                .map(|p| format!("  --probe {}  ({})", p.selector, p.name))
                .collect();
            bail!(
                "{n} debug probes are connected and none chosen; pick one:\n{}",
                list.join("\n")
            )
        }
    }
}

/// Whether the chip the probe reached is `chip`: `id` is what its identification register
/// ([`Chip::id`]) read.
pub fn check_chip(chip: &Chip, id: u32) -> Result<()> {
    let (_, mask, expected) = chip.id;
    ensure!(
        expected.contains(&(id & mask)),
        "the probe reached a chip whose identification reads {:#x}, not the {} this board \
         has ({}): is the right kit connected, or the right --board given?",
        id & mask,
        chip.name,
        expected
            .iter()
            .map(|e| format!("{e:#x}"))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    Ok(())
}

/// The ESP32-C3 runner's flash partitions (its `partitions.csv`): the application, then
/// mote's loader regions, at the offsets of its `memory/chip.x`.
const ESP32C3_PARTITIONS: &str = include_str!("../../../firmware/esp32c3-devkit/partitions.csv");

/// Programs `image` into the chip through the probe `selector` names (or the only one), reads
/// it back, checks the model's checksum when the image holds one, and resets the chip.
/// `app_image` is a firmware ELF the probe writes as an ESP-IDF application image, with the
/// second-stage bootloader and the partition table (chips that boot one:
/// [`super::qemu::Board::boots_app_image`]). With `attach` (the firmware's ELF), it then prints
/// the firmware's defmt log from RTT until the process is stopped.
pub fn write(
    chip: &Chip,
    selector: Option<&str>,
    image: &FlashImage,
    app_image: Option<&std::path::Path>,
    attach: Option<&[u8]>,
) -> Result<()> {
    let parsed = selector
        .map(|s| {
            s.parse::<DebugProbeSelector>()
                .with_context(|| format!("--probe {s}: expected VID:PID or VID:PID:SERIAL in hex"))
        })
        .transpose()?;
    let probes = Lister::new().list(parsed.as_ref());
    let ids: Vec<ProbeId> = probes
        .iter()
        .map(|p| ProbeId {
            name: p.identifier.clone(),
            selector: match &p.serial_number {
                Some(serial) => format!("{:04x}:{:04x}:{serial}", p.vendor_id, p.product_id),
                None => format!("{:04x}:{:04x}", p.vendor_id, p.product_id),
            },
        })
        .collect();
    let info = &probes[choose(&ids, selector)?];
    let probe = info
        .open()
        .with_context(|| format!("cannot open the probe {info}"))?;
    let mut session = probe
        .attach(chip.name, Permissions::default())
        .with_context(|| format!("cannot attach to the {} through {info}", chip.name))?;
    let id = session
        .core(0)?
        .read_word_32(chip.id.0)
        .context("cannot read the chip's identification register")?;
    check_chip(chip, id)?;

    let mut loader = session.target().flash_loader();
    if let Some(elf) = app_image {
        // The image format reads the partition table from a file, as it loads the image.
        let table = tempfile::NamedTempFile::new()
            .and_then(|t| std::fs::write(t.path(), ESP32C3_PARTITIONS).map(|()| t))
            .context("cannot write the partition table to a temporary file")?;
        let options = IdfOptions {
            partition_table: Some(table.path().to_path_buf()),
            ..IdfOptions::default()
        };
        let mut file = std::fs::File::open(elf)
            .with_context(|| format!("cannot read the firmware {}", elf.display()))?;
        loader
            .load_image(&mut session, &mut file, Format::Idf(options), None)
            .context("cannot make an ESP-IDF application image of the firmware")?;
    }
    for (addr, bytes) in image.parts() {
        loader
            .add_data(addr, bytes)
            .with_context(|| format!("{addr:#010x}: the image does not lie in the chip's flash"))?;
    }
    let mut options = DownloadOptions::default();
    // A flash outside the core's address space is read back by the loader's own algorithm.
    options.verify = !chip.flash_mapped;
    loader
        .commit(&mut session, options)
        .context("programming the flash failed")?;

    let mut core = session.core(0)?;
    for (addr, bytes) in image.parts().filter(|_| chip.flash_mapped) {
        let mut back = vec![0; bytes.len()];
        core.read_8(addr, &mut back)
            .context("cannot read the flash back")?;
        if let Some(at) = back.iter().zip(bytes).position(|(a, b)| a != b) {
            bail!(
                "the flash reads back {:#04x} at {:#010x} where {:#04x} was written",
                back[at],
                addr + at as u64,
                bytes[at]
            );
        }
        if image.model == Some((addr, bytes.len())) {
            mote::Model::parse(crate::sign::model_bytes(&back))
                .context("the model read back from flash does not validate")?;
        }
    }
    core.reset_and_halt(Duration::from_secs(1))
        .and_then(|_| core.run())
        .context("cannot restart the chip")?;
    match attach {
        Some(elf) => stream_log(&mut core, elf),
        None => Ok(()),
    }
}

/// Prints the firmware's defmt log, read from its RTT up channel 0, until the process stops.
fn stream_log(core: &mut probe_rs::Core<'_>, elf: &[u8]) -> Result<()> {
    use object::{Object, ObjectSymbol};
    let file = object::File::parse(elf).context("the firmware is not an ELF file")?;
    let control_block = file
        .symbols()
        .find(|s| s.name() == Ok("_SEGGER_RTT"))
        .map(|s| s.address())
        .context(
            "the firmware has no RTT control block (_SEGGER_RTT): does it log with defmt-rtt?",
        )?;
    let table = defmt_decoder::Table::parse(elf)
        .context("cannot read the firmware's defmt table")?
        .context("the firmware has no defmt table")?;
    // The firmware sets the control block up as it starts: try for a second.
    let mut rtt = None;
    for _ in 0..100 {
        match probe_rs::rtt::Rtt::attach_at(core, control_block) {
            Ok(found) => {
                rtt = Some(found);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut rtt = rtt.context("the firmware's RTT control block never appeared")?;
    let channel = rtt
        .up_channel(0)
        .context("the firmware's RTT has no up channel")?;
    let mut decoder = table.new_stream_decoder();
    let mut buffer = [0u8; 1024];
    println!("log of the firmware (stop with Ctrl-C):");
    loop {
        let read = channel
            .read(core, &mut buffer)
            .context("cannot read the RTT channel")?;
        if read == 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        decoder.received(&buffer[..read]);
        loop {
            match decoder.decode() {
                Ok(frame) => println!("{}", frame.display(false)),
                Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
                Err(defmt_decoder::DecodeError::Malformed) => {
                    println!("<malformed defmt frame>");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::qemu::Board;

    fn probe(name: &str, selector: &str) -> ProbeId {
        ProbeId {
            name: name.into(),
            selector: selector.into(),
        }
    }

    #[test]
    fn one_probe_is_taken_none_or_several_are_explained() {
        let stlink = probe("STLink V2-1", "0483:374b:066DFF");
        let daplink = probe("DAPLink CMSIS-DAP", "0d28:0204:9900");
        assert_eq!(choose(std::slice::from_ref(&stlink), None).unwrap(), 0);
        assert_eq!(
            choose(std::slice::from_ref(&daplink), Some("0d28:0204")).unwrap(),
            0
        );
        let none = choose(&[], None).unwrap_err().to_string();
        assert!(none.contains("no debug probe found"), "{none}");
        let unmatched = choose(&[], Some("1366:0101")).unwrap_err().to_string();
        assert!(unmatched.contains("--probe 1366:0101"), "{unmatched}");
        let several = choose(&[stlink, daplink], None).unwrap_err().to_string();
        assert!(several.contains("2 debug probes"), "{several}");
        assert!(
            several.contains("--probe 0483:374b:066DFF  (STLink V2-1)"),
            "{several}"
        );
        assert!(several.contains("--probe 0d28:0204:9900"), "{several}");
    }

    #[test]
    fn the_esp32c3_partition_table_holds_the_runners_regions() {
        let table = esp_idf_part::PartitionTable::try_from_str(ESP32C3_PARTITIONS).unwrap();
        let memory = include_str!("../../../firmware/esp32c3-devkit/memory/chip.x");
        let symbol = |name: &str| -> u32 {
            let line = memory
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in chip.x"));
            let value = line.split('=').nth(1).unwrap().split(';').next().unwrap();
            u32::from_str_radix(value.trim().trim_start_matches("0x"), 16).unwrap()
        };
        for (name, start, end) in [
            ("mote_a", "__model_start", "__model_end"),
            ("mote_b", "__update_start", "__update_end"),
            ("mote_input", "__input_start", "__input_end"),
        ] {
            let partition = table.find(name).unwrap();
            let (offset, size) = (partition.offset(), partition.size());
            assert_eq!(
                (offset, offset + size),
                (symbol(start), symbol(end)),
                "{name}"
            );
        }
        let app = table.find("factory").unwrap();
        assert!(app.offset() + app.size() <= symbol("__mote_flash_start"));
        assert_eq!(symbol("__mote_flash_end"), symbol("__input_end"));
    }

    #[test]
    fn a_chip_that_is_not_the_boards_is_refused() {
        let f405 = Board::Netduinoplus2.chip().unwrap();
        // DBGMCU_IDCODE: revision in the upper half, DEV_ID in the low 12 bits.
        check_chip(&f405, 0x1007_6413).unwrap();
        let l475 = check_chip(&f405, 0x1007_6415).unwrap_err().to_string();
        assert!(
            l475.contains("0x415") && l475.contains("STM32F405RGTx"),
            "{l475}"
        );
        let microbit = Board::Microbit.chip().unwrap();
        check_chip(&microbit, 1024).unwrap();
        // micro:bit v2, an nRF52833: 4 KiB pages.
        assert!(check_chip(&microbit, 4096).is_err());
        // ESP32-C3: one chip-detect word per silicon revision; an ESP32-C6's is not one.
        let c3 = Board::Esp32c3Devkit.chip().unwrap();
        check_chip(&c3, 0x1B31_506F).unwrap();
        check_chip(&c3, 0x4361_606F).unwrap();
        let c6 = check_chip(&c3, 0x2CE0_806F).unwrap_err().to_string();
        assert!(
            c6.contains("0x2ce0806f") && c6.contains("0x6921506f or 0x1b31506f"),
            "{c6}"
        );
        assert!(Board::Mps2An386.chip().is_none());
    }
}
