//! Where the results go and how the program ends. In QEMU (feature `semihosting`): files in
//! QEMU's working directory and the host's exit status. On a kit without an emulator
//! (feature `rtt`): lines of the defmt log over RTT, which `mote flash --attach` prints, and a
//! last line with the exit status, after which the core waits.

use core::ffi::CStr;

#[cfg(not(feature = "rtt"))]
use crate::protocol::EXIT_HOST_IO;
#[cfg(feature = "rtt")]
use crate::protocol::exit_meaning;

/// One result file (or its lines in the log).
pub struct Sink {
    name: &'static CStr,
    #[cfg(not(feature = "rtt"))]
    file: semihosting::fs::File,
}

/// Opens the result file `name` on the host.
#[cfg(not(feature = "rtt"))]
pub fn create(name: &'static CStr) -> Result<Sink, i32> {
    match semihosting::fs::File::create(name) {
        Ok(file) => Ok(Sink { name, file }),
        Err(_) => {
            defmt::error!(
                "cannot create {=str} on the host",
                name.to_str().unwrap_or("?")
            );
            Err(EXIT_HOST_IO)
        }
    }
}

/// Appends `bytes` to the result file.
#[cfg(not(feature = "rtt"))]
pub fn write(sink: &mut Sink, bytes: &[u8]) -> Result<(), i32> {
    use semihosting::io::Write as _;
    sink.file.write_all(bytes).map_err(|_| {
        defmt::error!(
            "cannot write {=str} on the host",
            sink.name.to_str().unwrap_or("?")
        );
        EXIT_HOST_IO
    })
}

/// Ends the program with `code` as QEMU's exit status (semihosting `SYS_EXIT`).
#[cfg(not(feature = "rtt"))]
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
}

/// A result "file" that is lines of the log.
#[cfg(feature = "rtt")]
pub fn create(name: &'static CStr) -> Result<Sink, i32> {
    Ok(Sink { name })
}

/// Logs `bytes` as one line, named by its file.
#[cfg(feature = "rtt")]
pub fn write(sink: &mut Sink, bytes: &[u8]) -> Result<(), i32> {
    defmt::info!(
        "{=str}: {=[u8]:02x}",
        sink.name.to_str().unwrap_or("?"),
        bytes
    );
    Ok(())
}

/// Logs the exit status and its meaning, then waits: a kit has no host to return to.
#[cfg(feature = "rtt")]
pub fn exit(code: i32) -> ! {
    defmt::info!("exit status {=i32}: {=str}", code, exit_meaning(code));
    loop {
        core::hint::spin_loop();
    }
}
