//! The daemon's end of the MCU link: keeps the MCU showing exactly the desired [`DisplayState`].
//!
//! The desired state lives here, in the daemon (a `watch` channel the display composer writes). The link
//! sends only what changed, one command at a time, each acknowledged (stop-and-wait: the UART carries a few
//! small frames per minute, so pipelining would buy nothing and cost clarity). An ACK carries the digest of the
//! state the MCU now holds; when it differs from ours, or after a reconnect, an MCU reset (an unprompted hello
//! or a `NeedHello` NACK) or any other NACK, the whole state is sent again. A frame without an answer is
//! retransmitted up to `max_retries` times; then the port is closed and reopened, and
//! while the device cannot be opened at all, retries back off exponentially. Nothing here ever ends the daemon: only shutdown does.

mod connection;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use proto::{Command, DisplayState, FromMcu, NackReason, PROTOCOL_VERSION, Scene, ToMcu, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_serial::SerialPortBuilderExt;
use tracing::{error, info, warn};

pub use connection::Connection;
pub use stats::{LinkState, LinkStats, SharedStats};

/// How the link behaves; the defaults suit the UNO Q's UART at 115200 baud.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The serial device (`/dev/ttyHS1` on the board, or the udev alias `/dev/trader-mcu`).
    pub device: PathBuf,
    pub baud: u32,
    /// How long to wait for an answer. The longest frame takes 15 ms on the wire; the MCU answers at once.
    pub ack_timeout: Duration,
    /// Retransmissions of one frame before the port is reopened.
    pub max_retries: u32,
    /// A heartbeat after this much silence; it also re-checks the MCU's state digest.
    pub heartbeat: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How often to ask the MCU for its diagnostics (in place of a heartbeat).
    pub diagnostics_every: Duration,
    /// After a version mismatch, how long to wait before saying hello again.
    pub mismatch_retry: Duration,
    pub daemon_version: Version,
}

impl LinkConfig {
    pub fn new(device: impl Into<PathBuf>) -> Self {
        LinkConfig {
            device: device.into(),
            baud: 115_200,
            ack_timeout: Duration::from_millis(150),
            max_retries: 5,
            heartbeat: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            diagnostics_every: Duration::from_secs(60),
            mismatch_retry: Duration::from_secs(10),
            daemon_version: daemon_version(),
        }
    }
}

/// This daemon's version, as the hello carries it.
pub fn daemon_version() -> Version {
    let part = |s: &str| s.parse().unwrap_or(0);
    Version {
        major: part(env!("CARGO_PKG_VERSION_MAJOR")),
        minor: part(env!("CARGO_PKG_VERSION_MINOR")),
        patch: part(env!("CARGO_PKG_VERSION_PATCH")),
    }
}

/// Why a session over an open port ended.
#[derive(Debug)]
enum End {
    Io(std::io::Error),
    NoAnswer,
    McuReset,
    Refused(NackReason),
    VersionMismatch { theirs: u16 },
    Shutdown,
}

enum Answer {
    Acked(u32),
    Nacked(NackReason),
    /// The MCU's answer to our hello.
    Hello {
        protocol: u16,
        firmware: Version,
        reset: proto::ResetCause,
    },
}

/// What the daemon shows while it stops, so the matrix never pretends a stopped daemon is managing money.
const FAREWELL: &str = "TRADER STOPPED";

/// Run the link until `shutdown` turns true: open the device, keep the MCU in sync, reopen when it vanishes.
pub async fn run(
    config: LinkConfig,
    mut desired: watch::Receiver<DisplayState>,
    stats: SharedStats,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = config.backoff_min;
    let mut seq = 0u16;
    let mut reported_missing = false;
    while !*shutdown.borrow() {
        let port = match tokio_serial::new(config.device.to_string_lossy(), config.baud).open_native_async() {
            Ok(port) => port,
            Err(e) => {
                if !reported_missing {
                    warn!(device = %config.device.display(), "cannot open the MCU link: {e}; retrying with backoff");
                    reported_missing = true;
                }
                stats.update(|s| {
                    s.state = LinkState::Disconnected;
                    s.last_error = Some(format!("cannot open {}: {e}", config.device.display()));
                });
                if wait_or_shutdown(backoff, &mut shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(config.backoff_max);
                continue;
            }
        };
        reported_missing = false;
        backoff = config.backoff_min;
        info!(device = %config.device.display(), baud = config.baud, "MCU link open");
        stats.update(|s| s.connects += 1);
        let mut conn = Connection::new(port, stats.clone());
        loop {
            let end = session(&mut conn, &config, &mut desired, &stats, &mut seq, &mut shutdown).await;
            stats.update(|s| s.last_error = Some(format!("{end:?}")));
            match end {
                End::McuReset => {
                    info!("the MCU restarted; sending the whole display state again");
                    stats.update(|s| s.mcu_resets += 1);
                }
                End::Refused(reason) => warn!(?reason, "the MCU refused a command; sending the whole state again"),
                End::VersionMismatch { theirs } => {
                    error!(
                        "the MCU speaks link protocol v{theirs}, this daemon v{PROTOCOL_VERSION}: flash the firmware \
                         built with this trader (deploy/flash-mcu.sh); the MCU shows the mismatch on its matrix"
                    );
                    stats.set_state(LinkState::VersionMismatch);
                    if wait_or_shutdown(config.mismatch_retry, &mut shutdown).await {
                        return;
                    }
                }
                End::Shutdown => {
                    farewell(&mut conn, &config, &mut seq).await;
                    return;
                }
                End::Io(e) => {
                    warn!("the MCU link failed: {e}; reopening");
                    break;
                }
                End::NoAnswer => {
                    warn!(retries = config.max_retries, "the MCU does not answer; reopening the port");
                    break;
                }
            }
        }
        // The device was there: reopen soon. Backoff grows only while it cannot be opened at all.
        stats.set_state(LinkState::Disconnected);
        if wait_or_shutdown(config.backoff_min, &mut shutdown).await {
            return;
        }
    }
}

/// Sleep, unless shutdown comes first (then `true`).
async fn wait_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = stopped(shutdown) => return true,
    }
    *shutdown.borrow()
}

/// Resolves when shutdown is signalled (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Handshake, bring the MCU to the desired state, then keep it there until something breaks.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    config: &LinkConfig,
    desired: &mut watch::Receiver<DisplayState>,
    stats: &SharedStats,
    seq: &mut u16,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    stats.set_state(LinkState::Handshaking);
    if let Err(end) = handshake(conn, config, stats, seq).await {
        return end;
    }
    // What the MCU holds, as proven by its last ACK digest; `None` = unknown, send everything.
    let mut shown: Option<DisplayState> = None;
    // Ask for diagnostics at the first heartbeat of a session, then every `diagnostics_every`.
    let mut diagnostics_due = Instant::now();
    loop {
        if *shutdown.borrow() {
            return End::Shutdown;
        }
        let want = desired.borrow_and_update().clone();
        let commands = match &shown {
            Some(have) => changes(have, &want),
            None => {
                stats.update(|s| {
                    s.state = LinkState::Syncing;
                    s.resyncs += 1;
                });
                want.commands().to_vec()
            }
        };
        let mut digest = None;
        for command in commands {
            match acked(exchange(conn, config, stats, seq, command).await) {
                Ok(d) => digest = Some(d),
                Err(end) => return end,
            }
        }
        if let Some(d) = digest {
            if d == want.digest() {
                shown = Some(want);
                stats.set_state(LinkState::InSync);
            } else {
                warn!("the MCU's state digest differs from the daemon's; sending the whole state again");
                shown = None;
                continue;
            }
        }
        // In sync: wait for a change, a heartbeat time, an unprompted message, or shutdown.
        tokio::select! {
            changed = desired.changed() => {
                if changed.is_err() {
                    return End::Shutdown;
                }
            }
            _ = tokio::time::sleep(config.heartbeat) => {
                let command = if Instant::now() >= diagnostics_due {
                    diagnostics_due = Instant::now() + config.diagnostics_every;
                    Command::DiagnosticsRequest
                } else {
                    Command::Heartbeat
                };
                match acked(exchange(conn, config, stats, seq, command).await) {
                    Ok(d) => {
                        if shown.as_ref().map(DisplayState::digest) != Some(d) {
                            warn!("the MCU's state digest drifted; sending the whole state again");
                            shown = None;
                        }
                    }
                    Err(end) => return end,
                }
            }
            msg = conn.read_frame() => match msg {
                Ok(FromMcu::Hello { answering: None, .. }) => return End::McuReset,
                Ok(_) => {}
                Err(e) => return End::Io(e),
            },
            _ = stopped(shutdown) => return End::Shutdown,
        }
    }
}

/// Say hello (retransmitted like any command) and refuse an MCU that speaks another protocol version.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    config: &LinkConfig,
    stats: &SharedStats,
    seq: &mut u16,
) -> Result<(), End> {
    let hello = Command::Hello { protocol: PROTOCOL_VERSION, daemon: config.daemon_version };
    match exchange(conn, config, stats, seq, hello).await? {
        Answer::Hello { protocol, firmware, reset } => {
            let mcu = format!("firmware {firmware}, protocol v{protocol}, last reset {reset:?}");
            stats.update(|s| s.mcu = Some(mcu.clone()));
            if protocol != PROTOCOL_VERSION {
                return Err(End::VersionMismatch { theirs: protocol });
            }
            info!(mcu = %mcu, "MCU handshake done");
            Ok(())
        }
        Answer::Nacked(reason) => Err(End::Refused(reason)),
        // Never sent for a hello; an MCU that does is not in step with us: start over.
        Answer::Acked(_) => Err(End::McuReset),
    }
}

/// The state digest of an ACK; a `NeedHello` NACK means the MCU restarted, any other refusal ends the session.
fn acked(answer: Result<Answer, End>) -> Result<u32, End> {
    match answer? {
        Answer::Acked(digest) => Ok(digest),
        Answer::Nacked(NackReason::NeedHello) => Err(End::McuReset),
        Answer::Nacked(reason) => Err(End::Refused(reason)),
        // Only a hello is answered by a hello: an MCU that does so otherwise is not in step with us.
        Answer::Hello { .. } => Err(End::McuReset),
    }
}

/// Send one command and wait for its answer, retransmitting on silence or a `Damaged` NACK.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    config: &LinkConfig,
    stats: &SharedStats,
    seq: &mut u16,
    command: Command,
) -> Result<Answer, End> {
    *seq = seq.wrapping_add(1);
    let msg = ToMcu { seq: *seq, command };
    for attempt in 0..=config.max_retries {
        if attempt > 0 {
            tracing::debug!(seq = msg.seq, attempt, "retransmitting");
            stats.update(|s| s.retransmits += 1);
        }
        conn.write_frame(&msg).await.map_err(End::Io)?;
        let sent = Instant::now();
        let deadline = sent + config.ack_timeout;
        while let Ok(answer) = tokio::time::timeout_at(deadline, conn.read_frame()).await {
            match answer.map_err(End::Io)? {
                // The MCU saw a damaged frame — most likely ours: send it again now, not after the timeout.
                FromMcu::Nack { reason: NackReason::Damaged, .. } => break,
                FromMcu::Ack { seq, state } if seq == msg.seq => {
                    let rtt = sent.elapsed();
                    stats.update(|s| {
                        s.last_rtt = rtt;
                        s.max_rtt = s.max_rtt.max(rtt);
                    });
                    return Ok(Answer::Acked(state));
                }
                FromMcu::Nack { seq, reason } if seq == msg.seq => return Ok(Answer::Nacked(reason)),
                // Only the answer to this very hello counts; a late one to an earlier hello is ignored below.
                FromMcu::Hello { answering: Some(seq), protocol, firmware, reset, .. } if seq == msg.seq => {
                    return Ok(Answer::Hello { protocol, firmware, reset });
                }
                FromMcu::Hello { answering: None, .. } => return Err(End::McuReset),
                // A late answer to an earlier frame, or diagnostics: not what we wait for.
                other => tracing::debug!(?other, waiting_for = msg.seq, "ignored"),
            }
        }
    }
    Err(End::NoAnswer)
}

/// The commands that turn what the MCU shows into what we want, in the order a fresh MCU gets them.
fn changes(have: &DisplayState, want: &DisplayState) -> Vec<Command> {
    let all_have = have.commands();
    want.commands().into_iter().zip(all_have).filter(|(w, h)| w != h).map(|(w, _)| w).collect()
}

/// Best effort, one attempt: show that the daemon stopped.
async fn farewell<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Connection<S>, config: &LinkConfig, seq: &mut u16) {
    *seq = seq.wrapping_add(1);
    let scene = Scene::Ticker { text: proto::text(FAREWELL), step_ms: 50 };
    let msg = ToMcu { seq: *seq, command: Command::Scene(scene) };
    if conn.write_frame(&msg).await.is_ok() {
        let _ = tokio::time::timeout(config.ack_timeout, conn.read_frame()).await;
    }
}
