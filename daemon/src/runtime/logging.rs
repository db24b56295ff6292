//! Logs: to journald with structured fields when systemd runs us (journald's socket exists and our stderr is
//! its stream), human-readable on stderr otherwise; the last lines also stay in memory for the console's `log`.
//! The level filter can be replaced at runtime (SIGHUP).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// How many recent lines the console can show.
const RECENT_LINES: usize = 500;

/// The recent log lines, newest last.
#[derive(Clone, Default)]
pub struct Recent(Arc<Mutex<VecDeque<String>>>);

impl Recent {
    pub fn lines(&self, n: usize) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().skip(lines.len().saturating_sub(n)).cloned().collect()
    }
}

impl std::io::Write for Recent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for line in String::from_utf8_lossy(buf).lines().filter(|l| !l.is_empty()) {
            if lines.len() == RECENT_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Changes the level filter of the running daemon.
pub struct LevelHandle(reload::Handle<EnvFilter, Registry>);

impl LevelHandle {
    pub fn set(&self, filter: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// Install the daemon's logging; `Err` when a subscriber is already installed (tests).
pub fn init(filter: &str) -> Result<(LevelHandle, Recent), String> {
    let (level, handle) = reload::Layer::new(EnvFilter::try_new(filter).map_err(|e| e.to_string())?);
    let recent = Recent::default();
    let memory = {
        let recent = recent.clone();
        tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || recent.clone())
    };
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let journald = under_systemd.then(tracing_journald::layer).and_then(Result::ok);
    let stderr = journald.is_none().then(|| {
        use std::io::IsTerminal;
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).boxed()
    });
    tracing_subscriber::registry()
        .with(level)
        .with(memory)
        .with(journald)
        .with(stderr)
        .try_init()
        .map_err(|e| e.to_string())?;
    Ok((LevelHandle(handle), recent))
}
