//! The nRF51's flash controller (NVMC) and UART, for the field runner.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use mote_firmware::hw;

/// NVMC: READY +0x400, CONFIG +0x504 (0 read, 1 write, 2 erase), ERASEPAGE +0x508.
const NVMC: usize = 0x4001_E000;
/// UART0: TASKS_STARTRX +0x000, TASKS_STARTTX +0x008, EVENTS_RXDRDY +0x108,
/// EVENTS_TXDRDY +0x11C, ENABLE +0x500, PSELTXD +0x50C, PSELRXD +0x514, RXD +0x518,
/// TXD +0x51C, BAUDRATE +0x524.
const UART0: usize = 0x4000_2000;
/// WDT: TASKS_START +0x000, CRV +0x504, CONFIG +0x50C, RR[0] +0x600.
const WDT: usize = 0x4001_0000;
/// The reload request value RR[0] takes.
const RELOAD: u32 = 0x6E52_4635;
/// GPIO: OUTSET +0x508, DIRSET +0x518.
const GPIO: usize = 0x5000_0000;
const TX_PIN: u32 = 24;
const RX_PIN: u32 = 25;

unsafe extern "C" {
    static __journal_start: u8;
}

/// The part of the flash the firmware writes: from the slot journal to the end of the flash
/// (journal, slot A, slot B, input region). Offsets count from [`Nvmc::BASE`]; the firmware
/// below it is out of reach.
pub struct Nvmc;

/// Why a flash operation was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvmcError {
    /// Outside the writable part of the flash.
    OutOfBounds,
    /// Not on a word (write) or page (erase) boundary.
    NotAligned,
}

impl NorFlashError for NvmcError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            NvmcError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            NvmcError::NotAligned => NorFlashErrorKind::NotAligned,
        }
    }
}

impl Nvmc {
    /// The address of offset 0: the slot journal.
    pub const BASE: usize = 0x0002_7800;
    /// The end of the nRF51822-QFAA's 256 KiB of flash.
    const END: usize = 0x0004_0000;

    /// The flash controller, idle in read mode.
    pub fn new() -> Self {
        // The linker script and this driver must agree on where the journal is.
        assert_eq!((&raw const __journal_start).expose_provenance(), Self::BASE);
        Nvmc
    }

    fn range(offset: u32, len: usize, align: usize) -> Result<usize, NvmcError> {
        let start = Self::BASE + offset as usize;
        if len > Self::END - Self::BASE || offset as usize > Self::END - Self::BASE - len {
            return Err(NvmcError::OutOfBounds);
        }
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(NvmcError::NotAligned);
        }
        Ok(start)
    }
}

impl Default for Nvmc {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorType for Nvmc {
    type Error = NvmcError;
}

impl ReadNorFlash for Nvmc {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NvmcError> {
        let start = Self::range(offset, bytes.len(), 1)?;
        for (i, byte) in bytes.iter_mut().enumerate() {
            // Volatile: the flash controller changes this memory behind the compiler's back.
            // SAFETY: the range is flash (checked above), memory-mapped and always readable.
            *byte = unsafe { core::ptr::with_exposed_provenance::<u8>(start + i).read_volatile() };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        Self::END - Self::BASE
    }
}

impl NorFlash for Nvmc {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 1024;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NvmcError> {
        let len = to.checked_sub(from).ok_or(NvmcError::OutOfBounds)? as usize;
        let start = Self::range(from, len, Self::ERASE_SIZE)?;
        for page in (start..start + len).step_by(Self::ERASE_SIZE) {
            nvmc_erase_page(page);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NvmcError> {
        let start = Self::range(offset, bytes.len(), Self::WRITE_SIZE)?;
        for (i, word) in bytes.chunks_exact(4).enumerate() {
            let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            nvmc_write_word(start + 4 * i, value);
        }
        Ok(())
    }
}

/// Erases the flash page at `address`. Its own symbol: the power-cut tests stop here.
#[inline(never)]
#[unsafe(export_name = "nvmc_erase_page")]
fn nvmc_erase_page(address: usize) {
    hw::write(NVMC + 0x504, 2);
    hw::write(NVMC + 0x508, address as u32);
    wait_ready();
    hw::write(NVMC + 0x504, 0);
}

/// Programs the flash word at `address`. Its own symbol: the power-cut tests stop here.
#[inline(never)]
#[unsafe(export_name = "nvmc_write_word")]
fn nvmc_write_word(address: usize, value: u32) {
    hw::write(NVMC + 0x504, 1);
    hw::write(address, value);
    wait_ready();
    hw::write(NVMC + 0x504, 0);
}

fn wait_ready() {
    while hw::read(NVMC + 0x400) & 1 == 0 {}
}

/// Restarts the chip (SYSRESETREQ). Its own symbol: the power-cut tests take it as the
/// moment the chip restarts.
#[inline(never)]
#[unsafe(export_name = "system_reset")]
pub fn system_reset() -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

/// Starts the watchdog: a reset if [`feed_watchdog`] is not called for 60 s. Generous: a boot
/// may check up to three Ed25519 signatures on a core without a 64-bit multiply, at 16 MHz,
/// before it feeds. It keeps counting while the core sleeps
/// and pauses while a debugger halts it. Once started, nothing but a reset stops it. QEMU
/// does not model the nRF51's watchdog: there the writes do nothing.
pub fn start_watchdog() {
    hw::write(WDT + 0x504, 60 * 32_768); // CRV: 60 s of the 32.768 kHz clock
    hw::write(WDT + 0x50C, 1); // CONFIG: run while sleeping, pause while halted
    hw::write(WDT, 1); // TASKS_START
}

/// Reloads the watchdog's counter.
pub fn feed_watchdog() {
    hw::write(WDT + 0x600, RELOAD);
}

/// UART0 at 115200 baud, polled; reads block until a byte arrives.
pub struct Uart;

impl Uart {
    /// Routes UART0 to the board's USB serial pins and starts it.
    pub fn new() -> Self {
        hw::write(GPIO + 0x508, 1 << TX_PIN); // OUTSET: TX idles high
        hw::write(GPIO + 0x518, 1 << TX_PIN); // DIRSET
        hw::write(UART0 + 0x50C, TX_PIN);
        hw::write(UART0 + 0x514, RX_PIN);
        hw::write(UART0 + 0x524, 0x01D7_E000); // 115200 baud
        hw::write(UART0 + 0x500, 4); // ENABLE
        hw::write(UART0, 1); // TASKS_STARTRX
        hw::write(UART0 + 0x008, 1); // TASKS_STARTTX
        Uart
    }
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some(first) = buf.first_mut() else {
            return Ok(0);
        };
        while hw::read(UART0 + 0x108) == 0 {}
        hw::write(UART0 + 0x108, 0);
        *first = hw::read(UART0 + 0x518) as u8;
        Ok(1)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(hw::read(UART0 + 0x108) != 0)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        for &byte in buf {
            hw::write(UART0 + 0x51C, u32::from(byte));
            while hw::read(UART0 + 0x11C) == 0 {}
            hw::write(UART0 + 0x11C, 0);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
