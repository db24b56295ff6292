//! The simulated MCU: the firmware's own display engine ([`display_engine::Link`]) on the master side of a
//! real pty, with the slave's path published as a symlink the daemon opens like `/dev/ttyHS1`. It renders the
//! matrix in the terminal (Unicode blocks, levels as shades) for `trader demo` and `sim-mcu`, and lets tests
//! pull the plug ([`SimMcu::disconnect`]), plug it back ([`SimMcu::reconnect`]) or reset the MCU.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use display_engine::link::Shown;
use display_engine::{Link, LinkConfig};
use proto::frame::{self, FROM_MCU_MAX_FRAME};
use proto::{DisplayState, FromMcu, ResetCause};
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

/// How the simulated MCU presents itself.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to publish the pty's slave (a symlink, replaced if it exists).
    pub link: PathBuf,
    /// The protocol version the simulated firmware speaks (tests set another to provoke a mismatch).
    pub protocol: u16,
}

/// What the simulated MCU shows and holds at one instant.
#[derive(Debug, Clone)]
pub struct SimSnapshot {
    pub shown: Shown,
    pub state: DisplayState,
    /// How long the current scene has been shown (the ticker's scroll position follows from it).
    pub scene_elapsed_ms: u32,
    pub synced: bool,
    pub now_ms: u32,
}

struct Mcu {
    link: Link,
    master: Option<OwnedFd>,
}

struct Shared {
    config: SimConfig,
    mcu: Mutex<Mcu>,
    stop: AtomicBool,
    epoch: std::time::Instant,
}

impl Shared {
    fn now_ms(&self) -> u32 {
        self.epoch.elapsed().as_millis() as u32
    }

    fn lock(&self) -> MutexGuard<'_, Mcu> {
        self.mcu.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulated MCU; dropping it stops it and removes the symlink.
pub struct SimMcu {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SimMcu {
    /// Create the pty, publish its path, say hello, and start answering.
    pub fn start(config: SimConfig) -> std::io::Result<SimMcu> {
        let epoch = std::time::Instant::now();
        let link = Link::new(config_of(config.protocol, ResetCause::PowerOn, 0), 0);
        let master = open_pty(&config.link)?;
        let shared = Arc::new(Shared {
            config,
            mcu: Mutex::new(Mcu { link, master: Some(master) }),
            stop: AtomicBool::new(false),
            epoch,
        });
        send_hello(&mut shared.lock());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("sim-mcu".into()).spawn(move || serve(&worker))?;
        Ok(SimMcu { shared, thread: Some(thread) })
    }

    pub fn link_path(&self) -> &Path {
        &self.shared.config.link
    }

    /// What the MCU shows now.
    pub fn snapshot(&self) -> SimSnapshot {
        let now_ms = self.shared.now_ms();
        let mcu = self.shared.lock();
        SimSnapshot {
            shown: mcu.link.shown(now_ms),
            state: mcu.link.state().clone(),
            scene_elapsed_ms: now_ms.wrapping_sub(mcu.link.scene_since_ms()),
            synced: mcu.link.synced(),
            now_ms,
        }
    }

    /// The MCU's counters (what a diagnostics request would answer).
    pub fn diagnostics(&self) -> proto::Diagnostics {
        let now = self.shared.now_ms();
        self.shared.lock().link.diagnostics(now)
    }

    /// Pull the plug: close the pty (the daemon's reads fail) and remove the published path.
    pub fn disconnect(&self) {
        self.shared.lock().master = None;
        let _ = std::fs::remove_file(&self.shared.config.link);
    }

    /// Plug back in: a new pty at the same published path, and a hello.
    pub fn reconnect(&self) -> std::io::Result<()> {
        let master = open_pty(&self.shared.config.link)?;
        let mut mcu = self.shared.lock();
        mcu.master = Some(master);
        send_hello(&mut mcu);
        Ok(())
    }

    /// Reset the MCU: its state is gone, it says hello and refuses everything until the daemon answers.
    pub fn reset(&self) {
        let mut mcu = self.shared.lock();
        let resets = mcu.link.diagnostics(0).resets.wrapping_add(1);
        mcu.link =
            Link::new(config_of(self.shared.config.protocol, ResetCause::Software, resets), self.shared.now_ms());
        send_hello(&mut mcu);
    }
}

impl Drop for SimMcu {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.disconnect();
    }
}

fn config_of(protocol: u16, reset: ResetCause, resets: u16) -> LinkConfig {
    LinkConfig { protocol, ..LinkConfig::uno_q(reset, resets) }
}

/// A pty master, its slave in raw mode (nothing echoes, no line editing), published at `link`; reads and
/// writes on the master do not block.
pub fn open_pty(link: &Path) -> std::io::Result<OwnedFd> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave_path = rustix::pty::ptsname(&master, Vec::new())?;
    let slave =
        rustix::fs::open(slave_path.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
    let mut termios = rustix::termios::tcgetattr(&slave)?;
    termios.make_raw();
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &termios)?;
    drop(slave);
    rustix::fs::fcntl_setfl(&master, OFlags::NONBLOCK)?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(slave_path.as_bytes()), link)?;
    Ok(master)
}

fn send_hello(mcu: &mut Mcu) {
    let hello = mcu.link.hello(None);
    write_answer(mcu.master.as_ref(), &hello);
}

fn write_answer(master: Option<&OwnedFd>, msg: &FromMcu) {
    let Some(master) = master else { return };
    let mut buf = [0u8; FROM_MCU_MAX_FRAME];
    if let Ok(bytes) = frame::encode(msg, &mut buf) {
        // A full pty buffer drops the answer, like a UART would lose it: the daemon retransmits.
        let _ = rustix::io::write(master, bytes);
    }
}

/// The MCU's main loop: read what arrived, let the engine answer. 2 ms between polls keeps the round trip
/// well under the daemon's ACK timeout without spinning.
fn serve(shared: &Shared) {
    let mut buf = [0u8; 1024];
    while !shared.stop.load(Ordering::Relaxed) {
        {
            let mut mcu = shared.lock();
            let Mcu { link, master } = &mut *mcu;
            if let Some(fd) = master.as_ref() {
                // EAGAIN = nothing yet; EIO = no one has the slave open (the daemon is away).
                if let Ok(n @ 1..) = rustix::io::read(fd, &mut buf) {
                    let now = shared.now_ms();
                    link.receive(&buf[..n], now, |answer| write_answer(Some(fd), answer));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The matrix and both LEDs as terminal text: two characters per pixel (square-ish), levels as shades, the
/// LEDs as coloured dots in 24-bit ANSI colour.
pub fn render_terminal(shown: &Shown) -> String {
    let mut out = String::new();
    let shade = |level: u8| match level {
        0 => "  ",
        1..=63 => "░░",
        64..=127 => "▒▒",
        128..=191 => "▓▓",
        _ => "██",
    };
    let dot = |c: proto::Rgb| format!("\x1b[38;2;{};{};{}m●\x1b[0m", c.r, c.g, c.b);
    out.push_str(&format!("┌{}┐\n", "─".repeat(2 * display_engine::WIDTH)));
    for row in &shown.frame.rows {
        out.push('│');
        row.iter().for_each(|&l| out.push_str(shade(l)));
        out.push_str("│\n");
    }
    out.push_str(&format!("└{}┘\n", "─".repeat(2 * display_engine::WIDTH)));
    out.push_str(&format!(" LED3 {}   LED4 {}\n", dot(shown.led3), dot(shown.led4)));
    out
}

/// The matrix as plain rows, `#` lit and `.` dark, for logs, the console and non-terminal output.
pub fn text_rows(frame: &display_engine::Framebuffer) -> Vec<String> {
    frame.rows.iter().map(|r| r.iter().map(|&l| if l > 0 { '#' } else { '.' }).collect()).collect()
}
