//! The diagnostics console: a line protocol on a Unix socket (and optionally a serial tty). One command per line;
//! the answer's lines follow, then a line holding only `.` — or `.!` when the answer reports a failure (an answer
//! line that starts with `.` gets another `.` in front, as in SMTP). A command prefixed with `json ` answers with one JSON document instead of text.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tracing::{info, warn};

use super::config::Config;
use super::jobs::Job;
use super::logging::Recent;
use super::storage::Storage;
use crate::link::SharedStats;
use crate::store::health;
use proto::DisplayState;

/// The commands and what they answer, as `help` prints them.
pub const HELP: &str = "\
help              this list
status            version, uptime, data directory, link, jobs, what the display shows
health            the health report of every database (as `trader health`)
link              link counters and the MCU's own diagnostics
db                size, WAL size and schema version of each database
display           the matrix as the MCU shows it now, in text, with both LEDs
gc --dry-run      what garbage collection would purge now
backup now [KIND] make a backup set now (daily unless KIND is hourly, weekly or monthly) and wait for it
log [N]           the last N log lines (default 50)
quit              close the connection
Prefix any command with `json ` for a JSON answer.";

/// What the display shows and since when (the ticker's scroll position follows from it).
#[derive(Clone)]
pub struct Shown {
    pub state: DisplayState,
    pub since: std::time::Instant,
}

/// Everything the console reads.
#[derive(Clone)]
pub struct ConsoleState {
    pub storage: Storage,
    pub link: SharedStats,
    pub shown: Arc<Mutex<Shown>>,
    pub recent: Recent,
    pub config: watch::Receiver<Arc<Config>>,
    pub started: std::time::Instant,
}

/// An answer: text for people, or a JSON document; `ok` = false makes `trader console` exit 1.
struct Answer {
    ok: bool,
    text: String,
    json: serde_json::Value,
}

fn answer<T: Serialize>(value: &T, text: String) -> Answer {
    Answer { ok: true, text, json: serde_json::to_value(value).unwrap_or_default() }
}

fn failure(message: String) -> Answer {
    Answer { ok: false, text: format!("error: {message}"), json: serde_json::json!({ "error": message }) }
}

impl ConsoleState {
    async fn command(&self, line: &str) -> Option<Answer> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let gone = || failure("the storage worker is stopping".into());
        Some(match words.as_slice() {
            [] => return None,
            ["quit"] | ["exit"] => return None,
            ["help"] => answer(&HELP.lines().collect::<Vec<_>>(), HELP.to_owned()),
            ["status"] => self.status(),
            ["health"] => match self.storage.health().await {
                Some(report) => {
                    let text = health::render(&report);
                    Answer { ok: report.healthy(), ..answer(&report, text) }
                }
                None => gone(),
            },
            ["link"] => {
                let stats = self.link.snapshot();
                let mut text = format!(
                    "state {:?}, MCU {}\nframes sent {} received {}, bytes sent {} received {}\n\
                     CRC errors {}, decode errors {}, retransmits {}, resyncs {}, connects {}, MCU resets {}\n\
                     round trip last {} µs, max {} µs",
                    stats.state,
                    stats.mcu.as_deref().unwrap_or("unknown"),
                    stats.frames_sent,
                    stats.frames_received,
                    stats.bytes_sent,
                    stats.bytes_received,
                    stats.crc_errors,
                    stats.decode_errors,
                    stats.retransmits,
                    stats.resyncs,
                    stats.connects,
                    stats.mcu_resets,
                    stats.last_rtt.as_micros(),
                    stats.max_rtt.as_micros(),
                );
                if let Some(d) = &stats.mcu_diagnostics {
                    text.push_str(&format!(
                        "\nMCU: firmware {}, up {} s, {} frames, {} CRC errors, {} decode errors, {} overflows, \
                         {} resets (last: {:?})",
                        d.firmware,
                        d.uptime_ms / 1000,
                        d.frames_received,
                        d.crc_errors,
                        d.decode_errors,
                        d.overflows,
                        d.resets,
                        d.last_reset
                    ));
                }
                if let Some(e) = &stats.last_error {
                    text.push_str(&format!("\nlast problem: {e}"));
                }
                answer(&stats, text)
            }
            ["db"] => match self.storage.databases().await {
                Some(dbs) => {
                    let text = dbs
                        .iter()
                        .map(|d| {
                            format!(
                                "{:<11} {:>12} B  wal {:>10} B  version {}",
                                d.name.as_str(),
                                d.bytes,
                                d.wal_bytes,
                                d.user_version
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    answer(&dbs, text)
                }
                None => gone(),
            },
            ["display"] => self.display(),
            ["gc", "--dry-run"] => match self.storage.gc_dry_run().await {
                Some(Ok(report)) => {
                    let text = format!(
                        "GC dry run: grace {} days, cutoff {}; {} securities; {} warnings",
                        report.grace_days,
                        report.cutoff,
                        report.securities.len(),
                        report.warnings.len()
                    );
                    answer(&report, text)
                }
                Some(Err(e)) => failure(e),
                None => gone(),
            },
            ["backup", "now", rest @ ..] => self.backup_now(rest.first().copied().unwrap_or("daily")).await,
            ["log"] => self.log(50),
            ["log", n] => match n.parse() {
                Ok(n) => self.log(n),
                Err(_) => failure(format!("log {n}: not a number of lines")),
            },
            _ => failure(format!("unknown command '{line}'; `help` lists the commands")),
        })
    }

    fn status(&self) -> Answer {
        let link = self.link.snapshot();
        let reports: Vec<_> =
            self.storage.reports.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner()).state.clone();
        let config = self.config.borrow().clone();
        let status = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "data_dir": config.data_dir,
            "link": { "device": config.link.device, "state": link.state, "mcu": link.mcu },
            "jobs_busy": self.storage.busy().iter().map(|j| j.name()).collect::<Vec<_>>(),
            "last_jobs": reports,
            "scene": format!("{:?}", shown.scene),
        });
        let mut text = format!(
            "trader {} up {} s, data {}\nlink {:?} on {} ({})\n",
            env!("CARGO_PKG_VERSION"),
            self.started.elapsed().as_secs(),
            config.data_dir.display(),
            link.state,
            config.link.device.display(),
            link.mcu.as_deref().unwrap_or("no MCU hello yet"),
        );
        for r in &reports {
            text.push_str(&format!(
                "job {:<15} {} {} ({:.1} s): {}\n",
                r.job.name(),
                crate::store::values::format_instant(r.started_at),
                if r.ok { "ok" } else { "FAILED" },
                r.seconds,
                r.summary
            ));
        }
        text.push_str(&format!("scene {:?}", shown.scene));
        answer(&status, text)
    }

    fn display(&self) -> Answer {
        let shown = self.shown.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let elapsed = shown.since.elapsed().as_millis() as u32;
        let frame = display_engine::render::frame(&shown.state, elapsed);
        let rows = crate::sim::text_rows(&frame);
        let json = serde_json::json!({
            "digest": shown.state.digest(),
            "scene_elapsed_ms": elapsed,
            "rows": rows,
            "levels": frame.rows,
            "led3": format!("{:?}", shown.state.led3),
            "led4": format!("{:?}", shown.state.led4),
            "scene": format!("{:?}", shown.state.scene),
        });
        let text = format!("{}\nLED3 {:?}\nLED4 {:?}", rows.join("\n"), shown.state.led3, shown.state.led4);
        Answer { ok: true, text, json }
    }

    async fn backup_now(&self, kind: &str) -> Answer {
        let job = match kind {
            "hourly" => Job::HourlyBackup,
            "daily" => Job::DailyBackup,
            "weekly" => Job::WeeklyBackup,
            "monthly" => Job::MonthlyBackup,
            other => return failure(format!("backup now {other}: the kinds are hourly, daily, weekly, monthly")),
        };
        let asked = chrono::Utc::now() - chrono::Duration::seconds(1);
        let finished = self.storage.finished.clone();
        let notified = finished.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.storage.enqueue(job) {
            return failure(format!("a {} run is already queued or running", job.name()));
        }
        loop {
            let report = self.storage.reports.lock().unwrap_or_else(|e| e.into_inner()).get(&job).cloned();
            if let Some(report) = report.filter(|r| r.started_at >= asked) {
                let text = format!("{} {}: {}", job.name(), if report.ok { "done" } else { "FAILED" }, report.summary);
                return Answer { ok: report.ok, ..answer(&report, text) };
            }
            if tokio::time::timeout(Duration::from_secs(600), notified.as_mut()).await.is_err() {
                return failure(format!("{} did not finish within 10 minutes", job.name()));
            }
            notified.set(finished.notified());
            notified.as_mut().enable();
        }
    }

    fn log(&self, n: usize) -> Answer {
        let lines = self.recent.lines(n);
        answer(&lines, lines.join("\n"))
    }
}

/// Serve one connection (a socket client or the serial tty) until it closes or sends `quit`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, state: ConsoleState) -> std::io::Result<()> {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut lines = BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        let (json, command) = match line.strip_prefix("json ") {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let Some(answer) = state.command(command).await else {
            if command.is_empty() {
                continue;
            }
            break;
        };
        let body = if json { answer.json.to_string() } else { answer.text };
        let mut out = String::new();
        for l in body.lines() {
            if l.starts_with('.') {
                out.push('.');
            }
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(if answer.ok { ".\n" } else { ".!\n" });
        writer.write_all(out.as_bytes()).await?;
        writer.flush().await?;
    }
    Ok(())
}

/// Listen on the Unix socket (mode 0660, group `group` when it exists) until shutdown.
pub async fn listen(
    path: &Path,
    group: &str,
    state: ConsoleState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if !group.is_empty() {
        match group_id(group) {
            Some(gid) => {
                if let Err(e) = rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid))) {
                    warn!(group, "cannot give the console socket to its group: {e}");
                }
            }
            None => warn!(group, "console group not found; the socket keeps the daemon's group"),
        }
    }
    info!(socket = %path.display(), "console listening");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, state).await {
                        warn!("console connection: {e}");
                    }
                });
            }
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// Serve the console on a serial tty, reopening it when it goes away (a USB gadget comes and goes).
pub async fn serial(device: std::path::PathBuf, baud: u32, state: ConsoleState, mut shutdown: watch::Receiver<bool>) {
    use tokio_serial::SerialPortBuilderExt;
    while !*shutdown.borrow() {
        match tokio_serial::new(device.to_string_lossy(), baud).open_native_async() {
            Ok(port) => {
                info!(device = %device.display(), "serial console open");
                tokio::select! {
                    result = serve(port, state.clone()) => if let Err(e) = result { warn!("serial console: {e}") },
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
            Err(e) => warn!(device = %device.display(), "serial console unavailable: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// The numeric id of a group, from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2)?.parse().ok())
}
