//! What goes into a board's flash: the firmware's loadable segments at their load addresses,
//! a blob in the model region, samples in a flash input region, any of them, checked before a
//! byte is written. [`image`] makes the bytes; `mote flash --image` writes them to a file, and the tests boot that file in
//! QEMU ([`super::qemu::run_flash_image`]), so the layout a probe would write is proven
//! without hardware.

use anyhow::{Context, Result, bail, ensure};
use object::read::elf::{ElfFile32, ProgramHeader};
use object::{Endianness, elf};

use super::qemu::{self, Regions};

/// Bytes to write at `base` and up, as one file: the gaps between the parts are `0xFF`, what
/// erased flash reads as. A probe writes only the parts, so a gap (slot B, say) keeps what it
/// holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlashImage {
    /// The address of the first byte.
    pub base: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// What is written, as address and length: the firmware's segments, the blob, the samples.
    pub parts: Vec<(u64, usize)>,
    /// Where the blob is in it, and its length, when the image holds a model.
    pub model: Option<(u64, usize)>,
}

impl FlashImage {
    /// The bytes of each part, at its address.
    pub fn parts(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.parts.iter().map(|&(addr, len)| {
            let at = (addr - self.base) as usize;
            (addr, &self.bytes[at..at + len])
        })
    }
}

impl FlashImage {
    /// One past the last address written.
    pub fn end(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }
}

/// What goes into the flash.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contents<'a> {
    /// The firmware's loadable segments.
    pub firmware: bool,
    /// A blob for the model region (slot A).
    pub model: Option<&'a [u8]>,
    /// Samples for the input region (the runner's, with its byte-count header added), on a
    /// board whose input region is flash ([`qemu::Board::input_in_flash`]).
    pub samples: Option<&'a [u8]>,
}

/// The flash image of `contents` for the firmware `elf`.
///
/// # Errors
/// When the ELF is not a 32-bit firmware with mote's region symbols, when the blob does not
/// parse, is larger than the model region or needs more arena than the firmware has, when the
/// samples overflow the input region, when the firmware's segments overlap the model region,
/// or when there is nothing to write.
pub fn image(elf_bytes: &[u8], contents: Contents<'_>) -> Result<FlashImage> {
    let Contents {
        firmware,
        model: blob,
        samples,
    } = contents;
    let regions = qemu::regions(elf_bytes)?;
    let mut parts: Vec<(u64, Vec<u8>)> = Vec::new();
    if firmware {
        ensure!(
            !is_app_image(elf_bytes),
            "the firmware boots as an ESP-IDF application image (it has an esp_app_desc): its \
             segments are bus addresses, not flash offsets, and the probe makes the image as it \
             flashes; an image file can hold its loader regions only"
        );
        for (addr, bytes) in segments(elf_bytes)? {
            let model = regions.model.0..regions.model.0 + regions.model.1;
            let end = addr + bytes.len() as u64;
            ensure!(
                end <= model.start || addr >= model.end,
                "the firmware's segment at {addr:#010x}..{end:#010x} overlaps the model region \
                 {:#010x}..{:#010x}: its linker script is wrong",
                model.start,
                model.end
            );
            parts.push((addr, bytes));
        }
        ensure!(!parts.is_empty(), "the firmware ELF has no loadable bytes");
    }
    if let Some(blob) = blob {
        check_blob(&regions, blob)?;
        parts.push((regions.model.0, blob.to_vec()));
        // Erased, the slot journal makes slot A the active one: a probe writing a model is
        // the recovery path, whatever the journal said.
        if let Some((start, len)) = regions.journal {
            parts.push((start, vec![0xFF; len as usize]));
        }
    }
    let model = blob.map(|b| (regions.model.0, b.len()));
    if let Some(samples) = samples {
        let count = u32::try_from(samples.len()).context("more than 4 GiB of samples")?;
        let mut region = count.to_le_bytes().to_vec();
        region.extend_from_slice(samples);
        ensure!(
            region.len() as u64 <= regions.input.1,
            "the samples and their header are {} bytes; the firmware's input region holds {}",
            region.len(),
            regions.input.1
        );
        parts.push((regions.input.0, region));
    }
    let Some(base) = parts.iter().map(|(addr, _)| *addr).min() else {
        bail!("nothing to write: neither the firmware nor a model");
    };
    let end = parts
        .iter()
        .map(|(addr, bytes)| addr + bytes.len() as u64)
        .max()
        .unwrap_or(base);
    let mut bytes = vec![0xFF; usize::try_from(end - base).context("image too large")?];
    let mut written = Vec::with_capacity(parts.len());
    for (addr, part) in parts {
        let at = (addr - base) as usize;
        bytes[at..at + part.len()].copy_from_slice(&part);
        written.push((addr, part.len()));
    }
    Ok(FlashImage {
        base,
        bytes,
        parts: written,
        model,
    })
}

/// Whether the ELF is an ESP-IDF application (esp-hal's firmware for the ESP32 chips), which
/// the chip's bootloader loads from an application image, not from raw segments.
fn is_app_image(elf_bytes: &[u8]) -> bool {
    use object::{Object, ObjectSymbol};
    object::File::parse(elf_bytes)
        .is_ok_and(|file| file.symbols().any(|s| s.name() == Ok("esp_app_desc")))
}

/// A blob for the model region: valid, and fitting the region and the firmware's arena.
fn check_blob(regions: &Regions, blob: &[u8]) -> Result<()> {
    mote::Model::parse(crate::sign::model_bytes(blob)).context("the blob is not a valid model")?;
    if let Some(misfit) = qemu::misfit(regions, blob) {
        bail!("the model does not fit this firmware: {misfit}");
    }
    Ok(())
}

/// The loadable segments of a 32-bit ELF at their physical (load) addresses: what a flash
/// programmer writes. Segments without file bytes (`.bss`) are skipped.
fn segments(elf_bytes: &[u8]) -> Result<Vec<(u64, Vec<u8>)>> {
    let file = ElfFile32::<Endianness>::parse(elf_bytes)
        .context("the firmware is not a 32-bit ELF file")?;
    let endian = file.endian();
    let mut out = Vec::new();
    for header in file.elf_program_headers() {
        if header.p_type(endian) != elf::PT_LOAD || header.p_filesz(endian) == 0 {
            continue;
        }
        let data = header
            .data(endian, elf_bytes)
            .ok()
            .context("a loadable segment lies outside the ELF file")?;
        out.push((u64::from(header.p_paddr(endian)), data.to_vec()));
    }
    Ok(out)
}
