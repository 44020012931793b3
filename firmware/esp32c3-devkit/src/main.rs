//! mote's runner on the ESP32-C3-DevKitM-1 (ESP32-C3, RV32IMC at 160 MHz, 4 MiB of flash,
//! 400 KiB of SRAM). No emulator in Debian's QEMU models this chip: the image is built in CI and
//! flashed by users (`mote flash`); the log and the results go over RTT through the chip's
//! built-in USB-JTAG (`mote flash --attach` prints them). esp-hal starts the chip; the loader
//! regions are flash the firmware maps onto its data bus at boot (`../memory/chip.x`). The
//! core's performance counter counts retired instructions, exactly, as `minstret` does on the
//! `riscv32-virt` board. The result pin is GPIO3, on header J1 (the kit's RGB LED is a WS2812).
#![no_std]
#![no_main]

use esp_hal::clock::CpuClock;
use esp_hal::gpio::{Level, Output, OutputConfig};
use mote_firmware::hw::Ticks;

esp_bootloader_esp_idf::esp_app_desc!();

unsafe extern "C" {
    static _stack_start: u8;
    // esp-hal's stack guard word, watched by the debug assist unit: painting stops above it.
    static __stack_chk_guard: u32;
    static __mote_flash_start: u8;
    static __mote_flash_end: u8;
    static __mote_bus_start: u8;
    static __model_start: u8;
    static __model_end: u8;
    static __update_start: u8;
    static __update_end: u8;
    static __input_start: u8;
    static __input_end: u8;
    // The chip's ROM (esp32c3.rom.ld, linked by esp-hal).
    fn Cache_Suspend_ICache() -> u32;
    fn Cache_Resume_ICache(autoload: u32);
    fn Cache_Invalidate_Addr(addr: u32, size: u32);
    fn Cache_Dbus_MMU_Set(
        ext_ram: u32,
        vaddr: u32,
        paddr: u32,
        psize: u32,
        num: u32,
        fixed: u32,
    ) -> i32;
}

/// The MMU's page, in KiB as the ROM takes it.
const MMU_PAGE_KIB: u32 = 64;

struct DevKit {
    ticks: Ticks,
    pin: Output<'static>,
    /// Where the loader regions' flash appears on the data bus, less its flash offset.
    bus_offset: usize,
}

impl DevKit {
    /// A loader region between two linker symbols (flash offsets), as mapped.
    fn region(&self, start: *const u8, end: *const u8) -> &'static [u8] {
        let (start, end) = (addr(start), addr(end));
        // SAFETY: `map_regions` put the flash behind these symbols on the data bus, read-only
        // to the program; the host writes it before the program starts.
        unsafe { mote_firmware::static_region(start + self.bus_offset, end + self.bus_offset) }
    }
}

impl mote_firmware::Board for DevKit {
    const NAME: &'static str = "esp32c3-devkit (ESP32-C3, RV32IMC)";
    type ResultPin = Output<'static>;

    fn model_region(&self) -> &'static [u8] {
        self.region(&raw const __model_start, &raw const __model_end)
    }

    fn update_region(&self) -> &'static [u8] {
        self.region(&raw const __update_start, &raw const __update_end)
    }

    fn input_region(&self) -> &'static [u8] {
        self.region(&raw const __input_start, &raw const __input_end)
    }

    fn stack(&self) -> core::ops::Range<usize> {
        let guard = (&raw const __stack_chk_guard).expose_provenance();
        guard + size_of::<u32>()..addr(&raw const _stack_start)
    }

    /// The performance counter (`mpccr`), counting retired instructions.
    fn instructions(&mut self) -> u64 {
        self.ticks.update(performance_counter())
    }

    fn result_pin(&mut self) -> &mut Output<'static> {
        &mut self.pin
    }
}

fn addr(symbol: *const u8) -> usize {
    symbol.expose_provenance()
}

/// The custom CSR `mpccr` (0x7E2): what `mpcer` selects, counted while `mpcmr` enables it.
fn performance_counter() -> u32 {
    let value: u32;
    // SAFETY: reading a counter CSR has no side effect.
    unsafe { core::arch::asm!("csrr {0}, 0x7E2", out(reg) value) };
    value
}

/// Counts retired instructions from now on (TRM, "Performance Counter": `mpcer` 0x7E0 event
/// bit 1 INST; `mpcmr` 0x7E1 bit 0 enables, bit 1 clear: the counter wraps, not saturates).
fn start_counting_instructions() {
    // SAFETY: machine-mode writes to the core's own counter configuration.
    unsafe {
        core::arch::asm!("csrw 0x7E0, {0}", in(reg) 1u32 << 1);
        core::arch::asm!("csrw 0x7E2, zero");
        core::arch::asm!("csrw 0x7E1, {0}", in(reg) 1u32);
    }
}

/// Maps the loader regions' flash onto the data bus, where the ESP-IDF bootloader maps none
/// (it maps the application below 4 MiB), as that bootloader maps its own: cache suspended,
/// entries set by the ROM, cache resumed, the range invalidated. Runs from RAM, since flash is
/// unreadable while the cache is suspended. Returns the offset from flash offset to bus
/// address, or `None` if the ROM refused the mapping.
#[esp_hal::ram]
fn map_regions() -> Option<usize> {
    let flash = addr(&raw const __mote_flash_start) as u32;
    let pages = (addr(&raw const __mote_flash_end) as u32 - flash).div_ceil(MMU_PAGE_KIB * 1024);
    let bus = addr(&raw const __mote_bus_start) as u32;
    // SAFETY: ROM functions with their documented arguments (flash, not PSRAM: ext_ram 0;
    // consecutive pages: fixed 0); the entries they set belong to no mapping yet, and nothing
    // runs from flash until the cache resumes, interrupts masked (MIE, mstatus bit 3).
    let refused = unsafe {
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
        refused
    };
    (refused == 0).then(|| (bus - flash) as usize)
}

#[esp_hal::main]
fn main() -> ! {
    let chip = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    let pin = Output::new(chip.GPIO3, Level::Low, OutputConfig::default());
    let Some(bus_offset) = map_regions() else {
        defmt::error!("the ROM did not map the model's flash onto the data bus");
        mote_firmware::exit(mote_firmware::protocol::EXIT_PANIC)
    };
    start_counting_instructions();
    mote_firmware::run(DevKit {
        ticks: Ticks::up(32, performance_counter()),
        pin,
        bus_offset,
    })
}
