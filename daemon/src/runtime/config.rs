//! The daemon's configuration: one TOML file (`/etc/trader/trader.toml` on the board). Every key has a
//! default and is documented in `deploy/trader.toml.example`; an unknown key or a bad value is refused with the
//! key named, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// Where the board's configuration lives.
pub const DEFAULT_CONFIG: &str = "/etc/trader/trader.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The directory of the eight databases.
    pub data_dir: PathBuf,
    /// A tracing filter: `info`, `debug`, `trader::link=debug,info`, …
    pub log_level: String,
    pub link: LinkSection,
    pub display: DisplaySection,
    pub jobs: JobsSection,
    pub console: ConsoleSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSection {
    /// The MCU's serial device; empty = no MCU (the display is still composed, for the console).
    pub device: PathBuf,
    pub baud: u32,
    pub ack_timeout_ms: u64,
    pub max_retries: u32,
    pub heartbeat_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplaySection {
    /// `ticker` (default) or `allocation` (bars per group against targets, pages turning every 10 s).
    pub mode: crate::display::DisplayMode,
    /// How often the display is recomposed from the databases (also after every job).
    pub refresh_seconds: u64,
    pub ticker_show_value: bool,
    pub ticker_show_cash: bool,
    pub ticker_show_actions: bool,
    pub ticker_show_amounts: bool,
    pub ticker_max_actions: usize,
    pub ticker_speed_ms: u16,
}

/// Local times of the storage jobs (storage.md §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSection {
    /// Minute of every hour for the hourly ledger backup.
    pub hourly_backup_minute: u32,
    pub daily_backup_at: String,
    /// Sunday, at this time.
    pub weekly_backup_at: String,
    /// The 1st of the month, at this time.
    pub monthly_backup_at: String,
    pub gc_at: String,
    /// The daily health and maintenance job.
    pub maintenance_at: String,
    /// The daily scoring run (portfolio.md §1.1, job 2).
    pub scoring_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSection {
    /// The console's Unix socket (mode 0660).
    pub socket: PathBuf,
    /// Group that may use the socket; empty = the daemon's own group.
    pub socket_group: String,
    /// A serial tty that also serves the console (e.g. the USB gadget `/dev/ttyGS0`); empty = none.
    pub serial: PathBuf,
    pub serial_baud: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(crate::cli::DEFAULT_DATA_DIR),
            log_level: "info".into(),
            link: LinkSection::default(),
            display: DisplaySection::default(),
            jobs: JobsSection::default(),
            console: ConsoleSection::default(),
        }
    }
}

impl Default for LinkSection {
    fn default() -> Self {
        LinkSection {
            device: "/dev/ttyHS1".into(),
            baud: 115_200,
            ack_timeout_ms: 150,
            max_retries: 5,
            heartbeat_ms: 1000,
        }
    }
}

impl Default for DisplaySection {
    fn default() -> Self {
        let t = crate::display::TickerSettings::default();
        DisplaySection {
            mode: crate::display::DisplayMode::Ticker,
            refresh_seconds: 10,
            ticker_show_value: t.show_value,
            ticker_show_cash: t.show_cash,
            ticker_show_actions: t.show_actions,
            ticker_show_amounts: t.show_amounts,
            ticker_max_actions: t.max_actions,
            ticker_speed_ms: t.speed_ms,
        }
    }
}

impl Default for JobsSection {
    fn default() -> Self {
        JobsSection {
            hourly_backup_minute: 7,
            daily_backup_at: "01:07".into(),
            weekly_backup_at: "01:17".into(),
            monthly_backup_at: "01:27".into(),
            gc_at: "00:10".into(),
            maintenance_at: "04:00".into(),
            scoring_at: "04:30".into(),
        }
    }
}

impl Default for ConsoleSection {
    fn default() -> Self {
        ConsoleSection {
            socket: "/run/trader/console.sock".into(),
            socket_group: "trader".into(),
            serial: PathBuf::new(),
            serial_baud: 115_200,
        }
    }
}

/// Baud rates both ends support; the UNO Q runs 115200 until a board test proves more (hardware.md §2.2).
const BAUDS: [u32; 6] = [9_600, 19_200, 38_400, 57_600, 115_200, 230_400];

/// A configuration that cannot be used: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl Config {
    /// Read and check `path`. A missing file is an error too: the daemon never runs on guessed settings.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let fail = |message: String| ConfigError { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let config: Config = toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_owned()))?;
        config.validate().map_err(fail)?;
        Ok(config)
    }

    /// Every value in range; the message starts with the key.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, value: &dyn std::fmt::Display, why: &str| Err(format!("{key} = {value}: {why}"));
        if self.data_dir.as_os_str().is_empty() || self.data_dir.is_relative() {
            return bad("data_dir", &self.data_dir.display(), "must be an absolute path");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return bad("log_level", &self.log_level, "not a log filter (error, warn, info, debug, trace, …)");
        }
        if !BAUDS.contains(&self.link.baud) {
            return bad("link.baud", &self.link.baud, &format!("must be one of {BAUDS:?}"));
        }
        if !(20..=5_000).contains(&self.link.ack_timeout_ms) {
            return bad("link.ack_timeout_ms", &self.link.ack_timeout_ms, "must be 20 … 5000");
        }
        if self.link.max_retries > 50 {
            return bad("link.max_retries", &self.link.max_retries, "must be 0 … 50");
        }
        if !(100..=(proto::DAEMON_SILENT_MS as u64 / 2)).contains(&self.link.heartbeat_ms) {
            return bad(
                "link.heartbeat_ms",
                &self.link.heartbeat_ms,
                "must be 100 … 2500 (the MCU shows NO LINK after 5 s)",
            );
        }
        if !(1..=3_600).contains(&self.display.refresh_seconds) {
            return bad("display.refresh_seconds", &self.display.refresh_seconds, "must be 1 … 3600");
        }
        if self.display.ticker_max_actions > 10 {
            return bad("display.ticker_max_actions", &self.display.ticker_max_actions, "must be 0 … 10");
        }
        if !(10..=1_000).contains(&self.display.ticker_speed_ms) {
            return bad("display.ticker_speed_ms", &self.display.ticker_speed_ms, "must be 10 … 1000");
        }
        if self.jobs.hourly_backup_minute > 59 {
            return bad("jobs.hourly_backup_minute", &self.jobs.hourly_backup_minute, "must be 0 … 59");
        }
        for (key, value) in [
            ("jobs.daily_backup_at", &self.jobs.daily_backup_at),
            ("jobs.weekly_backup_at", &self.jobs.weekly_backup_at),
            ("jobs.monthly_backup_at", &self.jobs.monthly_backup_at),
            ("jobs.gc_at", &self.jobs.gc_at),
            ("jobs.maintenance_at", &self.jobs.maintenance_at),
            ("jobs.scoring_at", &self.jobs.scoring_at),
        ] {
            if parse_time(value).is_none() {
                return bad(key, &format!("{value:?}"), "must be a local time HH:MM");
            }
        }
        if !self.console.serial.as_os_str().is_empty() && !BAUDS.contains(&self.console.serial_baud) {
            return bad("console.serial_baud", &self.console.serial_baud, &format!("must be one of {BAUDS:?}"));
        }
        Ok(())
    }

    pub fn ticker(&self) -> crate::display::TickerSettings {
        let d = &self.display;
        crate::display::TickerSettings {
            show_value: d.ticker_show_value,
            show_cash: d.ticker_show_cash,
            show_actions: d.ticker_show_actions,
            show_amounts: d.ticker_show_amounts,
            max_actions: d.ticker_max_actions,
            speed_ms: d.ticker_speed_ms,
        }
    }

    /// The link's settings, or `None` when no device is configured.
    pub fn link(&self) -> Option<crate::link::LinkConfig> {
        if self.link.device.as_os_str().is_empty() {
            return None;
        }
        let mut link = crate::link::LinkConfig::new(&self.link.device);
        link.baud = self.link.baud;
        link.ack_timeout = Duration::from_millis(self.link.ack_timeout_ms);
        link.max_retries = self.link.max_retries;
        link.heartbeat = Duration::from_millis(self.link.heartbeat_ms);
        Some(link)
    }
}

/// `HH:MM`, 24-hour.
pub fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok().filter(|_| text.len() == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trader.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    #[test]
    fn the_example_file_documents_exactly_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/trader.toml.example");
        let config = Config::load(&example).unwrap();
        assert_eq!(config, Config::default(), "every key of the example carries its default");
        // Every key the program knows appears in the example (uncommented), so none is undocumented.
        let example: toml::Table = toml::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
        let defaults: toml::Table = toml::Table::try_from(Config::default()).unwrap();
        let keys = |t: &toml::Table| -> Vec<String> {
            t.iter()
                .flat_map(|(k, v)| match v {
                    toml::Value::Table(sub) => sub.keys().map(|s| format!("{k}.{s}")).collect(),
                    _ => vec![k.clone()],
                })
                .collect()
        };
        assert_eq!(keys(&example), keys(&defaults));
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = load("[link]\nbaud = 115200\nbuad = 9600\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `buad`") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn a_bad_value_is_refused_with_its_key() {
        let err = load("[link]\nbaud = 12345\n").unwrap_err().to_string();
        assert!(err.contains("link.baud = 12345"), "{err}");
        let err = load("[jobs]\ngc_at = \"25:10\"\n").unwrap_err().to_string();
        assert!(err.contains("jobs.gc_at"), "{err}");
        let err = load("[display]\nticker_speed_ms = \"fast\"\n").unwrap_err().to_string();
        assert!(err.contains("ticker_speed_ms") || err.contains("invalid type"), "{err}");
    }

    #[test]
    fn a_partial_file_takes_defaults_for_the_rest() {
        let config = load("data_dir = \"/srv/trader\"\n[display]\nticker_max_actions = 1\n").unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/trader"));
        assert_eq!(config.display.ticker_max_actions, 1);
        assert_eq!(config.link, LinkSection::default());
    }
}
