
// What every Cortex-M kit shares: cortex-m-rt's start-up, the model region between the
// linker symbols of memory.x, a busy-wait between inferences, and panic-probe.

pub use cortex_m_rt::entry;
use panic_probe as _;

/// Core clock cycles between two inferences.
const PERIOD_CYCLES: u32 = 4_000_000;

// The model region, from memory.x; `mote flash` reads these symbols too.
unsafe extern "C" {
    static __model_start: u8;
    static __model_end: u8;
}

/// Starts the kit: its result pin.
pub fn start() -> Led {
    result_pin()
}

/// The model region, where `mote flash --model` writes.
pub fn model_region() -> &'static [u8] {
    let start = (&raw const __model_start).expose_provenance();
    let end = (&raw const __model_end).expose_provenance();
    // SAFETY: memory.x reserves start..end for the model, which `mote flash` writes; nothing
    // in the program writes it, and flash lives as long as the program.
    unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance(start), end - start) }
}

/// Waits between two inferences.
pub fn pause() {
    cortex_m::asm::delay(PERIOD_CYCLES);
}

/// Stops for good (a debugger can still attach).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
