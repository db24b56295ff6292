//! `config.db` — the user's configuration (storage.md §7.2): settings that override the defaults held here in
//! code, and allocation targets for country and industry groups.

use std::collections::BTreeMap;
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::M;
use rust_decimal::Decimal;

use super::open::{DEFAULT_PAGE_SIZE, DbSpec, STANDARD_PROFILE};
use super::values::{Instant, Ts, text_enum};
use super::{Result, SqlContext, StoreError};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045058;
CREATE TABLE settings (
  key         TEXT NOT NULL PRIMARY KEY CHECK (",
    non_empty!("key"),
    "),
  value       TEXT NOT NULL,
  description TEXT,
  updated_at  TEXT NOT NULL CHECK (",
    ts!("updated_at"),
    ")
) STRICT;

CREATE TABLE allocation_targets (
  id         INTEGER NOT NULL PRIMARY KEY,
  type       TEXT NOT NULL CHECK (type IN ('country_group','industry_group','country','industry','geography')),
  name       TEXT NOT NULL CHECK (",
    non_empty!("name"),
    "),
  target_pct REAL NOT NULL CHECK (target_pct BETWEEN -1 AND 1),
  created_at TEXT NOT NULL CHECK (",
    ts!("created_at"),
    "),
  updated_at TEXT NOT NULL CHECK (",
    ts!("updated_at"),
    "),
  UNIQUE (type, name)
) STRICT;
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "config",
    application_id: 0x4154_5202,
    profile: STANDARD_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["allocation_targets", "settings"],
};

/// What values a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingKind {
    Bool,
    Integer {
        min: i64,
        max: i64,
    },
    Number {
        min: f64,
        max: f64,
    },
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// Local time of day `HH:MM`.
    TimeOfDay,
    /// Free text (a zone name, a preset name or a path).
    Text,
}

/// A setting the daemon knows: key, default (as stored text), accepted values, and what it is for.
#[derive(Debug, Clone, Copy)]
pub struct SettingDef {
    pub key: &'static str,
    pub default: &'static str,
    pub kind: SettingKind,
    pub about: &'static str,
}

const fn def(key: &'static str, default: &'static str, kind: SettingKind, about: &'static str) -> SettingDef {
    SettingDef { key, default, kind, about }
}

use SettingKind::{Bool, Choice, Integer, Number, Text, TimeOfDay};

/// Every key the daemon reads from `settings`, with its default (portfolio.md Appendix A, storage.md §7.2).
/// Writes of other keys are refused; rows the migrator copied under other keys are kept and ignored.
pub const KNOWN_SETTINGS: &[SettingDef] = &[
    // storage.md §10: how long a removed security's data is kept before GC purges it.
    def("gc_grace_days", "30", Integer { min: 1, max: 3650 }, "days between removing a security and purging its data"),
    def("trading_mode", "research", Choice(&["research", "live"]), "research simulates trades; live places orders"),
    def("trading_paused", "false", Bool, "blocks the order gateway in live mode"),
    def("timezone", "UTC", Text, "device time zone for schedules"),
    def("broker_timezone", "Europe/Athens", Text, "zone of the broker's naive timestamps"),
    def("transaction_cost_fixed_eur", "2", Number { min: 0.0, max: 1000.0 }, "fixed commission per trade, EUR"),
    def("transaction_cost_percent", "0.002", Number { min: 0.0, max: 0.1 }, "variable commission, fraction"),
    def("max_cost_ratio", "0.01", Number { min: 0.0, max: 1.0 }, "largest acceptable commission share of a trade"),
    def("fx_max_age_hours", "96", Integer { min: 1, max: 8760 }, "oldest stored FX rate used for valuation"),
    def("min_cash_reserve_eur", "500", Number { min: 0.0, max: 1e9 }, "cash the planner never spends"),
    def("min_currency_reserve_eur", "5", Number { min: 0.0, max: 1e9 }, "cash kept per currency"),
    def("target_annual_return", "0.11", Number { min: -1.0, max: 10.0 }, "scoring: target yearly return"),
    def("market_avg_pe", "22", Number { min: 0.0, max: 1000.0 }, "scoring: market average P/E"),
    def("score_risk_free_rate", "0.02", Number { min: -1.0, max: 1.0 }, "scoring: risk-free rate"),
    def("planner_config", "default", Text, "built-in planner preset or a TOML file"),
    def("recommendation_ttl_hours", "24", Integer { min: 1, max: 8760 }, "pending recommendations expire after"),
    def("execution_min_interval_minutes", "30", Integer { min: 1, max: 10080 }, "minimum time between executions"),
    def("max_price_drift", "0.05", Number { min: 0.0, max: 1.0 }, "largest price move since the decision"),
    def("max_orders_per_day", "10", Integer { min: 0, max: 1000 }, "order limit per day"),
    def("caps_enforcement_min_total_eur", "10000", Number { min: 0.0, max: 1e12 }, "portfolio size before caps apply"),
    def("drip_enabled", "true", Bool, "reinvest dividends"),
    def("drip_min_yield", "0.03", Number { min: 0.0, max: 1.0 }, "minimum yield for reinvestment"),
    def("risk_free_rate", "0.035", Number { min: -1.0, max: 1.0 }, "analytics: risk-free rate"),
    def("sortino_mar", "0.05", Number { min: -1.0, max: 1.0 }, "analytics: minimum acceptable return"),
    def("ticker_show_value", "true", Bool, "ticker shows the portfolio value"),
    def("ticker_show_cash", "true", Bool, "ticker shows cash"),
    def("ticker_show_actions", "true", Bool, "ticker shows the next actions"),
    def("ticker_show_amounts", "true", Bool, "ticker shows amounts of actions"),
    def("ticker_max_actions", "3", Integer { min: 0, max: 20 }, "actions shown on the ticker"),
    def("ticker_speed_ms", "50", Integer { min: 10, max: 1000 }, "ticker scroll step"),
    def("display_mode", "ticker", Choice(&["ticker", "allocation"]), "what the matrix shows"),
    def("error_display_minutes", "60", Integer { min: 1, max: 10080 }, "how long an error stays on the display"),
    def("job_time_health", "04:00", TimeOfDay, "daily health job"),
    def("job_time_scoring", "04:30", TimeOfDay, "daily scoring job"),
    def("job_time_drip", "10:00", TimeOfDay, "daily dividend reinvestment job"),
    def("job_time_snapshot", "23:15", TimeOfDay, "daily snapshot job"),
    def("job_time_gc", "00:10", TimeOfDay, "daily garbage collection"),
];

/// The definition of a known key.
pub fn setting_def(key: &str) -> Option<&'static SettingDef> {
    KNOWN_SETTINGS.iter().find(|d| d.key == key)
}

/// Checks a value against its key's kind; the error names the key and says what is accepted.
pub fn validate_setting(key: &str, value: &str) -> Result<()> {
    let Some(def) = setting_def(key) else {
        return Err(StoreError::invalid(format!("setting `{key}`"), "unknown key (see `trader settings --help`)"));
    };
    let bad =
        |expected: String| Err(StoreError::invalid(format!("setting `{key}`"), format!("`{value}` is not {expected}")));
    match def.kind {
        Bool => {
            if parse_bool(value).is_none() {
                return bad("true or false".into());
            }
        }
        Integer { min, max } => match value.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => {}
            _ => return bad(format!("a whole number from {min} to {max}")),
        },
        Number { min, max } => match value.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => {}
            _ => return bad(format!("a number from {min} to {max}")),
        },
        Choice(words) => {
            if !words.contains(&value) {
                return bad(format!("one of {}", words.join(", ")));
            }
        }
        TimeOfDay => {
            if chrono::NaiveTime::parse_from_str(value, "%H:%M").is_err() || value.len() != 5 {
                return bad("a time of day HH:MM".into());
            }
        }
        Text => {
            if value.trim().is_empty() {
                return bad("a non-empty text".into());
            }
        }
    }
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// One row of `settings`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    pub updated_at: Instant,
}

/// Settings: overrides of the defaults in [`KNOWN_SETTINGS`].
pub struct SettingsRepository<'c> {
    conn: &'c Connection,
}

impl<'c> SettingsRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        SettingsRepository { conn }
    }

    /// The stored value, if the key is overridden.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .ctx(self.conn, "reading a setting")
    }

    pub fn all(&self) -> Result<Vec<Setting>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, value, description, updated_at FROM settings ORDER BY key")
            .ctx(self.conn, "reading settings")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Setting {
                    key: r.get(0)?,
                    value: r.get(1)?,
                    description: r.get(2)?,
                    updated_at: r.get::<_, Ts>(3)?.0,
                })
            })
            .ctx(self.conn, "reading settings")?;
        rows.collect::<rusqlite::Result<Vec<_>>>().ctx(self.conn, "reading settings")
    }

    /// Upserts a known key with a valid value; a `None` description keeps the stored one.
    pub fn set(&self, key: &str, value: &str, description: Option<&str>, at: Instant) -> Result<()> {
        validate_setting(key, value)?;
        self.conn
            .execute(
                "INSERT INTO settings (key, value, description, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
                 description = coalesce(excluded.description, settings.description), updated_at = excluded.updated_at",
                params![key, value, description, Ts(at)],
            )
            .ctx(self.conn, "writing a setting")?;
        Ok(())
    }

    /// Removes an override; the default applies again.
    pub fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM settings WHERE key = ?1", [key]).ctx(self.conn, "deleting a setting")? > 0)
    }

    /// Reads a typed value; a missing key gives `default`, an unparseable one gives `default` and a warning.
    fn typed<T: FromStr>(&self, key: &str, default: T, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
        match self.get(key)? {
            None => Ok(default),
            Some(text) => Ok(parse(&text).unwrap_or_else(|| {
                tracing::warn!(key, value = %text, "setting has an unparseable value; using the default");
                default
            })),
        }
    }

    pub fn get_f64(&self, key: &str, default: f64) -> Result<f64> {
        self.typed(key, default, |t| t.trim().parse().ok().filter(|v: &f64| v.is_finite()))
    }
    pub fn get_i64(&self, key: &str, default: i64) -> Result<i64> {
        self.typed(key, default, |t| t.trim().parse().ok())
    }
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        self.typed(key, default, parse_bool)
    }
    pub fn get_decimal(&self, key: &str, default: Decimal) -> Result<Decimal> {
        self.typed(key, default, |t| Decimal::from_str_exact(t.trim()).ok())
    }
}

text_enum! {
    /// What an allocation target applies to. The engine uses the group types; the others are legacy rows.
    pub enum TargetType {
        CountryGroup => "country_group",
        IndustryGroup => "industry_group",
        Country => "country",
        Industry => "industry",
        Geography => "geography",
    }
}

/// Target shares `w / Σw` of group weights (portfolio.md §6.1); negative legacy weights count as 0, and when the
/// weights sum to 0 there are no targets of that kind (an empty map).
pub fn normalise_weights(mut weights: BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    weights.values_mut().for_each(|w| *w = w.max(0.0));
    let sum: f64 = weights.values().sum();
    if sum <= 0.0 {
        return BTreeMap::new();
    }
    weights.values_mut().for_each(|w| *w /= sum);
    weights
}

/// Allocation targets per group.
pub struct AllocationRepository<'c> {
    conn: &'c Connection,
}

impl<'c> AllocationRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        AllocationRepository { conn }
    }

    /// Every target as `type:name` → weight.
    pub fn all(&self) -> Result<BTreeMap<String, f64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT type, name, target_pct FROM allocation_targets ORDER BY type, name")
            .ctx(self.conn, "reading allocation targets")?;
        let rows = stmt
            .query_map([], |r| Ok((format!("{}:{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get(2)?)))
            .ctx(self.conn, "reading allocation targets")?;
        rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().ctx(self.conn, "reading allocation targets")
    }

    /// Targets of one type: name → weight, as stored.
    pub fn by_type(&self, kind: TargetType) -> Result<BTreeMap<String, f64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, target_pct FROM allocation_targets WHERE type = ?1 ORDER BY name")
            .ctx(self.conn, "reading allocation targets")?;
        let rows =
            stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?))).ctx(self.conn, "reading allocation targets")?;
        rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().ctx(self.conn, "reading allocation targets")
    }

    /// Group weights normalised to target shares (see [`normalise_weights`]).
    pub fn group_targets(&self, kind: TargetType) -> Result<BTreeMap<String, f64>> {
        Ok(normalise_weights(self.by_type(kind)?))
    }

    /// Sets a weight; the engine accepts only weights from 0 to 1 (portfolio.md §6.1).
    pub fn upsert(&self, kind: TargetType, name: &str, target: f64, at: Instant) -> Result<()> {
        if !(0.0..=1.0).contains(&target) {
            return Err(StoreError::invalid(
                format!("target {kind}:{name}"),
                format!("{target} is not between 0 and 1"),
            ));
        }
        self.conn
            .execute(
                "INSERT INTO allocation_targets (type, name, target_pct, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) \
                 ON CONFLICT(type, name) DO UPDATE SET target_pct = excluded.target_pct, updated_at = excluded.updated_at",
                params![kind, name, target, Ts(at)],
            )
            .ctx(self.conn, "writing an allocation target")?;
        Ok(())
    }

    pub fn delete(&self, kind: TargetType, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM allocation_targets WHERE type = ?1 AND name = ?2", params![kind, name])
            .ctx(self.conn, "deleting an allocation target")?;
        Ok(n > 0)
    }
}
