//! The {board}'s start-up, model region and result pin. esp-hal starts the chip; the result pin
//! is GPIO3 (header J1; the kit's RGB LED is a WS2812, not a plain pin). The model region is
//! flash outside the CPU's address space: `mote-regions.x` names its flash offset, where `mote flash`
//! writes, and [`start`] maps it onto the data bus through the cache's MMU, as the ESP-IDF
//! bootloader maps the application.

use esp_hal::gpio::{Level, Output, OutputConfig};

pub use esp_hal::main as entry;

esp_bootloader_esp_idf::esp_app_desc!();

unsafe extern "C" {
    static __mote_flash_start: u8;
    static __mote_flash_end: u8;
    static __mote_bus_start: u8;
    static __model_start: u8;
    static __model_end: u8;
    // The chip's ROM (linked by esp-hal).
    fn Cache_Suspend_ICache() -> u32;
    fn Cache_Resume_ICache(autoload: u32);
    fn Cache_Invalidate_Addr(addr: u32, size: u32);
    fn Cache_Dbus_MMU_Set(ext_ram: u32, vaddr: u32, paddr: u32, psize: u32, num: u32, fixed: u32)
    -> i32;
}

/// The MMU's page, in KiB as the ROM takes it.
const MMU_PAGE_KIB: u32 = 64;
/// Milliseconds between two inferences.
const PERIOD_MS: u64 = 500;

/// Starts the chip (160 MHz), maps the model region, and returns the result pin.
pub fn start() -> Output<'static> {
    let chip = esp_hal::init(esp_hal::Config::default().with_cpu_clock(esp_hal::clock::CpuClock::max()));
    if !map_regions() {
        defmt::error!("the ROM did not map the model's flash onto the data bus");
        halt()
    }
    Output::new(chip.GPIO3, Level::Low, OutputConfig::default())
}

/// The model region, where `mote flash --model` writes, as [`start`] mapped it.
pub fn model_region() -> &'static [u8] {
    let flash = addr(&raw const __mote_flash_start);
    let bus = addr(&raw const __mote_bus_start);
    let (start, end) = (addr(&raw const __model_start), addr(&raw const __model_end));
    // SAFETY: `start` mapped this flash onto the data bus, read-only to the program; `mote
    // flash` writes it, and it lives as long as the program.
    unsafe {
        core::slice::from_raw_parts(core::ptr::with_exposed_provenance(start - flash + bus), end - start)
    }
}

/// Waits between two inferences.
pub fn pause() {
    let start = esp_hal::time::Instant::now();
    while start.elapsed() < esp_hal::time::Duration::from_millis(PERIOD_MS) {}
}

/// Stops for good (a debugger can still attach).
pub fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    halt()
}

fn addr(symbol: *const u8) -> usize {
    symbol.expose_provenance()
}

/// Maps the loader regions' flash at `__mote_bus_start` (MMU entries the application does not
/// use): cache suspended, entries set by the ROM, cache resumed, the range invalidated. Runs
/// from RAM, since flash is unreadable while the cache is suspended.
#[esp_hal::ram]
fn map_regions() -> bool {
    let flash = addr(&raw const __mote_flash_start) as u32;
    let pages = (addr(&raw const __mote_flash_end) as u32 - flash).div_ceil(MMU_PAGE_KIB * 1024);
    let bus = addr(&raw const __mote_bus_start) as u32;
    // SAFETY: ROM functions with their documented arguments (flash, not PSRAM: ext_ram 0;
    // consecutive pages: fixed 0); the entries they set belong to no mapping yet, and nothing
    // runs from flash until the cache resumes, interrupts masked (MIE, mstatus bit 3).
    unsafe {
        // No interrupt while flash is unreadable: a handler there would fault. (Inline, so
        // it stays in RAM with this function.)
        let mstatus: u32;
        core::arch::asm!("csrrci {0}, mstatus, 8", out(reg) mstatus);
        let autoload = Cache_Suspend_ICache();
        let refused = Cache_Dbus_MMU_Set(0, bus, flash, MMU_PAGE_KIB, pages, 0);
        Cache_Resume_ICache(autoload);
        if mstatus & 8 != 0 {
            core::arch::asm!("csrsi mstatus, 8");
        }
        // No line of these addresses should be cached, but the bootloader borrows MMU entries.
        Cache_Invalidate_Addr(bus, pages * MMU_PAGE_KIB * 1024);
        refused == 0
    }
}
