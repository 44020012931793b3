//! `mote update`: sends a model to a device's field runner over a serial link (a board's
//! serial port, or QEMU's UART on a socket), with the framed protocol of `mote::update`. The
//! device writes it into the slot that is not running, validates it and stages it with one
//! flash word; after the reset it tries the model and keeps it once its first inference
//! succeeds, or reverts to the one it ran.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mote::update::{self, BootKind, CHUNK, MAX_FRAME, Reply, Request, Slot};

/// A serial link: a port, a TCP or a Unix socket.
pub trait Link: Read + Write + Send {
    /// Bounds each read; `None` blocks.
    fn set_timeout(&mut self, timeout: Duration) -> Result<()>;
}

impl Link for std::net::TcpStream {
    fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        Ok(self.set_read_timeout(Some(timeout))?)
    }
}

impl Link for std::os::unix::net::UnixStream {
    fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        Ok(self.set_read_timeout(Some(timeout))?)
    }
}

impl Link for Box<dyn serialport::SerialPort> {
    fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        Ok(serialport::SerialPort::set_timeout(self.as_mut(), timeout)?)
    }
}

/// Opens `port`: `tcp:HOST:PORT`, `unix:PATH`, or a serial device (e.g. `/dev/ttyACM0`) at
/// `baud`.
pub fn open(port: &str, baud: u32) -> Result<Box<dyn Link>> {
    if let Some(address) = port.strip_prefix("tcp:") {
        let stream = std::net::TcpStream::connect(address)
            .with_context(|| format!("cannot connect to {address}"))?;
        return Ok(Box::new(stream));
    }
    if let Some(path) = port.strip_prefix("unix:") {
        let stream = std::os::unix::net::UnixStream::connect(path)
            .with_context(|| format!("cannot connect to the socket {path}"))?;
        return Ok(Box::new(stream));
    }
    let port = serialport::new(port, baud)
        .timeout(Duration::from_secs(1))
        .open()
        .with_context(|| format!("cannot open the serial port {port}"))?;
    Ok(Box::new(port))
}

/// What a device runs, as its field runner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The slot.
    pub slot: Slot,
    /// How the boot chose it.
    pub boot: BootKind,
    /// Its model version, if signed.
    pub version: Option<u32>,
    /// Its blob's checksum.
    pub checksum: u32,
    /// Its output for the first sample of the input region.
    pub output: Vec<u8>,
}

impl std::fmt::Display for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "slot {:?}, blob checksum {:#010x}",
            self.slot, self.checksum
        )?;
        if let Some(version) = self.version {
            write!(f, ", model version {version}")?;
        }
        write!(
            f,
            " ({})",
            match self.boot {
                BootKind::Active => "the active model",
                BootKind::Confirmed => "a new model, confirmed by its first inference",
                BootKind::Reverted => "the active model again: the new one was reverted",
                BootKind::Fallback => "the other slot: the active one does not validate",
            }
        )
    }
}

/// A reply, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Booted(Running),
    Status(Running),
    Done,
    Refused(String),
}

/// The host's end of the link to a field runner.
pub struct Device<L: Link + ?Sized> {
    link: Box<L>,
    /// Bytes received past the last frame.
    pending: Vec<u8>,
    /// The latest boot report seen.
    booted: Option<Running>,
}

impl<L: Link + ?Sized> Device<L> {
    /// Talks over `link`.
    pub fn new(link: Box<L>) -> Self {
        Device {
            link,
            pending: Vec::new(),
            booted: None,
        }
    }

    /// Waits up to `timeout` for the device's report of its next boot.
    ///
    /// # Errors
    /// Nothing arrives in time, or the link fails.
    pub fn booted(&mut self, timeout: Duration) -> Result<Running> {
        if let Some(running) = self.booted.take() {
            return Ok(running);
        }
        match self.receive(Instant::now() + timeout)? {
            Answer::Booted(running) => Ok(running),
            Answer::Refused(why) => bail!("the device runs no model: {why}"),
            other => bail!("the device sent {other:?} where a boot report was due"),
        }
    }

    /// What the device runs now: `None` when no slot holds a valid model (it waits for one).
    ///
    /// # Errors
    /// The device does not answer, or answers out of turn.
    pub fn status(&mut self) -> Result<Option<Running>> {
        match self.request(&Request::Status)? {
            Answer::Status(running) => Ok(Some(running)),
            Answer::Refused(_) => Ok(None),
            other => bail!("the device answered {other:?} to a status request"),
        }
    }

    /// Sends `model` (a blob or a signed envelope) and has the device validate and stage it;
    /// `progress` is called with the bytes sent so far.
    ///
    /// # Errors
    /// The device refuses (its reason is in the message), or the link fails.
    pub fn send_model(&mut self, model: &[u8], mut progress: impl FnMut(usize)) -> Result<()> {
        let len = u32::try_from(model.len()).context("the model exceeds 4 GiB")?;
        self.expect_done(&Request::Begin { len }, "receiving the model")?;
        for (i, data) in model.chunks(CHUNK).enumerate() {
            let offset = (i * CHUNK) as u32;
            self.expect_done(&Request::Write { offset, data }, "writing the model")?;
            progress(offset as usize + data.len());
        }
        self.expect_done(&Request::Commit, "the model")
    }

    /// Restarts the device.
    ///
    /// # Errors
    /// The device does not acknowledge.
    pub fn reset(&mut self) -> Result<()> {
        // Only a report sent after this reset says what runs now.
        self.booted = None;
        self.expect_done(&Request::Reset, "resetting")
    }

    fn expect_done(&mut self, request: &Request<'_>, what: &str) -> Result<()> {
        match self.request(request)? {
            Answer::Done => Ok(()),
            Answer::Refused(why) => bail!("the device refused {what}: {why}"),
            other => bail!("the device answered {other:?} while {what}"),
        }
    }

    /// Sends `request` and returns its answer. A boot report met on the way is kept for
    /// [`Device::booted`]: the device restarted, and the request may have been lost while it
    /// booted, so a status request is sent again; any other fails (the update restarts).
    fn request(&mut self, request: &Request<'_>) -> Result<Answer> {
        let (mut scratch, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME + 1]);
        // A zero first: the device drops whatever noise came before as an empty frame.
        let len = update::encode(request, &mut scratch, &mut out[1..])?.len();
        let frame = &out[..=len];
        for attempt in 0..2 {
            self.link
                .write_all(frame)
                .and_then(|()| self.link.flush())
                .context("cannot send to the device")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            match self.receive(deadline)? {
                Answer::Booted(running) => {
                    self.booted = Some(running);
                    ensure!(
                        attempt == 0 && *request == Request::Status,
                        "the device restarted during the request: send the model again"
                    );
                }
                answer => return Ok(answer),
            }
        }
        bail!("the device restarted twice during a status request")
    }

    /// The next frame that decodes. Others (noise, bytes lost on the link) are skipped: the
    /// next zero byte starts afresh; the last such error is named if nothing else arrives.
    fn receive(&mut self, deadline: Instant) -> Result<Answer> {
        let mut skipped: Option<update::FrameError> = None;
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == 0) {
                let mut frame: Vec<u8> = self.pending.drain(..=end).collect();
                frame.pop();
                if frame.is_empty() {
                    continue;
                }
                let reply: Reply<'_> = match update::decode(&mut frame) {
                    Ok(reply) => reply,
                    Err(e) => {
                        skipped = Some(e);
                        continue;
                    }
                };
                return Ok(match reply {
                    Reply::Booted(s) => Answer::Booted(running(s)),
                    Reply::Status(s) => Answer::Status(running(s)),
                    Reply::Done => Answer::Done,
                    Reply::Refused(why) => Answer::Refused(why.to_string()),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                match skipped {
                    Some(e) => bail!("the device did not answer in time (it sent {e})"),
                    None => bail!("the device did not answer in time"),
                }
            }
            self.link.set_timeout(left)?;
            let mut buf = [0u8; 512];
            match self.link.read(&mut buf) {
                Ok(0) => bail!("the device closed the link"),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => return Err(e).context("cannot read from the device"),
            }
        }
    }
}

fn running(status: update::Status<'_>) -> Running {
    Running {
        slot: status.slot,
        boot: status.boot,
        version: status.version,
        checksum: status.checksum,
        output: status.output.to_vec(),
    }
}
