//! `satellites.db` — buckets and their cash (storage.md §7.5). Cash balances per (bucket, currency) live here
//! and only here; every change of a balance appends a row to the append-only `bucket_transactions` trail.

use std::collections::BTreeMap;

use chrono::Duration;
use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::M;
use rust_decimal::Decimal;

use super::open::{DEFAULT_PAGE_SIZE, DbSpec, STANDARD_PROFILE};
use super::values::{Dec, Instant, Ts, text_enum};
use super::{Result, SqlContext, StoreError, Stored, collect_rows, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045061;
CREATE TABLE buckets (
  id                     TEXT NOT NULL PRIMARY KEY CHECK (", non_empty!("id"), "),
  name                   TEXT NOT NULL CHECK (", non_empty!("name"), "),
  type                   TEXT NOT NULL CHECK (type IN ('core','satellite')),
  notes                  TEXT,
  target_pct             REAL CHECK (target_pct BETWEEN 0 AND 1),
  min_pct                REAL CHECK (min_pct BETWEEN 0 AND 1),
  max_pct                REAL CHECK (max_pct BETWEEN 0 AND 1),
  consecutive_losses     INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_losses >= 0),
  max_consecutive_losses INTEGER NOT NULL DEFAULT 5 CHECK (max_consecutive_losses >= 1),
  high_water_mark        REAL NOT NULL DEFAULT 0 CHECK (high_water_mark >= 0),
  high_water_mark_date   TEXT CHECK (", ts!("high_water_mark_date"), "),
  loss_streak_paused_at  TEXT CHECK (", ts!("loss_streak_paused_at"), "),
  status                 TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('research','accumulating','active','hibernating','paused','retired')),
  agent_id               TEXT,
  created_at             TEXT NOT NULL CHECK (", ts!("created_at"), "),
  updated_at             TEXT NOT NULL CHECK (", ts!("updated_at"), "),
  CHECK ((id = 'core') = (type = 'core'))
) STRICT;
CREATE TRIGGER buckets_keep_core BEFORE DELETE ON buckets WHEN OLD.id = 'core'
  BEGIN SELECT RAISE(ABORT, 'the core bucket cannot be deleted'); END;

CREATE TABLE satellite_settings (
  satellite_id           TEXT NOT NULL PRIMARY KEY REFERENCES buckets(id) ON DELETE CASCADE,
  preset                 TEXT,
  risk_appetite          REAL NOT NULL DEFAULT 0.5 CHECK (risk_appetite BETWEEN 0 AND 1),
  hold_duration          REAL NOT NULL DEFAULT 0.5 CHECK (hold_duration BETWEEN 0 AND 1),
  entry_style            REAL NOT NULL DEFAULT 0.5 CHECK (entry_style BETWEEN 0 AND 1),
  position_spread        REAL NOT NULL DEFAULT 0.5 CHECK (position_spread BETWEEN 0 AND 1),
  profit_taking          REAL NOT NULL DEFAULT 0.5 CHECK (profit_taking BETWEEN 0 AND 1),
  trailing_stops         INTEGER NOT NULL DEFAULT 0 CHECK (", boolean!("trailing_stops"), "),
  follow_regime          INTEGER NOT NULL DEFAULT 0 CHECK (", boolean!("follow_regime"), "),
  auto_harvest           INTEGER NOT NULL DEFAULT 0 CHECK (", boolean!("auto_harvest"), "),
  pause_high_volatility  INTEGER NOT NULL DEFAULT 0 CHECK (", boolean!("pause_high_volatility"), "),
  dividend_handling      TEXT NOT NULL DEFAULT 'reinvest_same' CHECK (dividend_handling IN ('reinvest_same','send_to_core','accumulate_cash')),
  risk_free_rate         REAL NOT NULL DEFAULT 0.035,
  sortino_mar            REAL NOT NULL DEFAULT 0.05,
  evaluation_period_days INTEGER NOT NULL DEFAULT 90 CHECK (evaluation_period_days > 0),
  volatility_window      INTEGER NOT NULL DEFAULT 60 CHECK (volatility_window > 0)
) STRICT;

CREATE TABLE bucket_balances (
  bucket_id    TEXT NOT NULL REFERENCES buckets(id),
  currency     TEXT NOT NULL CHECK (", cur!("currency"), "),
  balance      TEXT NOT NULL DEFAULT '0' CHECK (", dec!("balance"), "),
  last_updated TEXT NOT NULL CHECK (", ts!("last_updated"), "),
  PRIMARY KEY (bucket_id, currency)
) STRICT;

CREATE TABLE bucket_transactions (
  id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  bucket_id   TEXT NOT NULL REFERENCES buckets(id),
  type        TEXT NOT NULL CHECK (type IN ('deposit','reallocation','trade_buy','trade_sell','dividend','transfer_in','transfer_out')),
  amount      TEXT NOT NULL CHECK (", dec!("amount"), "),
  currency    TEXT NOT NULL CHECK (", cur!("currency"), "),
  description TEXT,
  created_at  TEXT NOT NULL CHECK (", ts!("created_at"), ")
) STRICT;
CREATE INDEX idx_bucket_tx_bucket ON bucket_transactions(bucket_id, created_at);
CREATE INDEX idx_bucket_tx_type ON bucket_transactions(type, created_at);
",
    append_only!("satellites", "bucket_transactions"),
    "
CREATE TABLE allocation_settings (
  key         TEXT NOT NULL PRIMARY KEY CHECK (", non_empty!("key"), "),
  value       REAL NOT NULL,
  description TEXT
) STRICT;

INSERT INTO buckets (id, name, type, status, created_at, updated_at)
  VALUES ('core', 'Core Portfolio', 'core', 'active', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
INSERT INTO allocation_settings (key, value, description) VALUES
  ('satellite_budget_pct', 0.0, 'share of the portfolio given to satellites'),
  ('satellite_min_pct', 0.02, 'smallest satellite share'),
  ('satellite_max_pct', 0.15, 'largest satellite share'),
  ('evaluation_months', 3, 'months between satellite evaluations'),
  ('reallocation_dampening', 0.5, 'how slowly shares move towards performance'),
  ('default_risk_free_rate', 0.035, 'risk-free rate for satellite metrics'),
  ('default_sortino_mar', 0.05, 'minimum acceptable return for the Sortino ratio'),
  ('default_evaluation_days', 90, 'evaluation window in days');
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "satellites",
    application_id: 0x4154_5205,
    profile: STANDARD_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["allocation_settings", "bucket_balances", "bucket_transactions", "buckets", "satellite_settings"],
};

/// The bucket that always exists.
pub const CORE: &str = "core";

text_enum! {
    pub enum BucketType { Core => "core", Satellite => "satellite" }
}

text_enum! {
    pub enum BucketStatus {
        Research => "research", Accumulating => "accumulating", Active => "active", Hibernating => "hibernating",
        Paused => "paused", Retired => "retired",
    }
}

text_enum! {
    /// Kinds of balance change. All but `Reallocation` carry a magnitude; reallocations are signed.
    pub enum TxType {
        Deposit => "deposit", Reallocation => "reallocation", TradeBuy => "trade_buy", TradeSell => "trade_sell",
        Dividend => "dividend", TransferIn => "transfer_in", TransferOut => "transfer_out",
    }
}

impl TxType {
    /// The change a transaction of `amount` makes to the balance.
    pub fn effect(self, amount: Decimal) -> Decimal {
        match self {
            TxType::Deposit | TxType::TransferIn | TxType::TradeSell | TxType::Dividend | TxType::Reallocation => {
                amount
            }
            TxType::TradeBuy | TxType::TransferOut => -amount,
        }
    }
}

text_enum! {
    pub enum DividendHandling { ReinvestSame => "reinvest_same", SendToCore => "send_to_core", AccumulateCash => "accumulate_cash" }
}

/// A bucket: the core portfolio or a satellite.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bucket {
    pub id: String,
    pub name: String,
    pub bucket_type: BucketType,
    pub notes: Option<String>,
    pub target_pct: Option<f64>,
    pub min_pct: Option<f64>,
    pub max_pct: Option<f64>,
    pub consecutive_losses: i64,
    pub max_consecutive_losses: i64,
    pub high_water_mark: f64,
    pub high_water_mark_date: Option<Instant>,
    pub loss_streak_paused_at: Option<Instant>,
    pub status: BucketStatus,
    pub agent_id: Option<String>,
    pub created_at: Instant,
    pub updated_at: Instant,
}

impl Bucket {
    /// A new satellite with the schema's defaults.
    pub fn satellite(id: &str, name: &str, at: Instant) -> Bucket {
        Bucket {
            id: id.to_owned(),
            name: name.to_owned(),
            bucket_type: BucketType::Satellite,
            notes: None,
            target_pct: None,
            min_pct: None,
            max_pct: None,
            consecutive_losses: 0,
            max_consecutive_losses: 5,
            high_water_mark: 0.0,
            high_water_mark_date: None,
            loss_streak_paused_at: None,
            status: BucketStatus::Research,
            agent_id: None,
            created_at: at,
            updated_at: at,
        }
    }
}

/// A typed change to a bucket; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct BucketPatch {
    pub name: Option<String>,
    pub notes: Option<Option<String>>,
    pub target_pct: Option<Option<f64>>,
    pub min_pct: Option<Option<f64>>,
    pub max_pct: Option<Option<f64>>,
    pub max_consecutive_losses: Option<i64>,
}

const BUCKET_COLUMNS: &str = "id, name, type, notes, target_pct, min_pct, max_pct, consecutive_losses, \
     max_consecutive_losses, high_water_mark, high_water_mark_date, loss_streak_paused_at, status, agent_id, created_at, updated_at";

fn bucket_from_row(row: &Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        id: row.get(0)?,
        name: row.get(1)?,
        bucket_type: row.get(2)?,
        notes: row.get(3)?,
        target_pct: row.get(4)?,
        min_pct: row.get(5)?,
        max_pct: row.get(6)?,
        consecutive_losses: row.get(7)?,
        max_consecutive_losses: row.get(8)?,
        high_water_mark: row.get(9)?,
        high_water_mark_date: row.get::<_, Option<Ts>>(10)?.map(|t| t.0),
        loss_streak_paused_at: row.get::<_, Option<Ts>>(11)?.map(|t| t.0),
        status: row.get(12)?,
        agent_id: row.get(13)?,
        created_at: row.get::<_, Ts>(14)?.0,
        updated_at: row.get::<_, Ts>(15)?.0,
    })
}

/// A satellite's strategy settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SatelliteSettings {
    pub satellite_id: String,
    pub preset: Option<String>,
    pub risk_appetite: f64,
    pub hold_duration: f64,
    pub entry_style: f64,
    pub position_spread: f64,
    pub profit_taking: f64,
    pub trailing_stops: bool,
    pub follow_regime: bool,
    pub auto_harvest: bool,
    pub pause_high_volatility: bool,
    pub dividend_handling: DividendHandling,
    pub risk_free_rate: f64,
    pub sortino_mar: f64,
    pub evaluation_period_days: i64,
    pub volatility_window: i64,
}

impl SatelliteSettings {
    /// The schema's defaults for a satellite.
    pub fn defaults(satellite_id: &str) -> SatelliteSettings {
        SatelliteSettings {
            satellite_id: satellite_id.to_owned(),
            preset: None,
            risk_appetite: 0.5,
            hold_duration: 0.5,
            entry_style: 0.5,
            position_spread: 0.5,
            profit_taking: 0.5,
            trailing_stops: false,
            follow_regime: false,
            auto_harvest: false,
            pause_high_volatility: false,
            dividend_handling: DividendHandling::ReinvestSame,
            risk_free_rate: 0.035,
            sortino_mar: 0.05,
            evaluation_period_days: 90,
            volatility_window: 60,
        }
    }
}

const SETTINGS_COLUMNS: &str = "satellite_id, preset, risk_appetite, hold_duration, entry_style, position_spread, \
     profit_taking, trailing_stops, follow_regime, auto_harvest, pause_high_volatility, dividend_handling, risk_free_rate, \
     sortino_mar, evaluation_period_days, volatility_window";

/// Buckets and their settings.
pub struct BucketRepository<'c> {
    conn: &'c Connection,
}

impl<'c> BucketRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        BucketRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Bucket>> {
        collect_rows(
            self.conn,
            "reading buckets",
            &format!("SELECT {BUCKET_COLUMNS} FROM buckets {filter}"),
            params,
            bucket_from_row,
        )
    }

    pub fn get(&self, id: &str) -> Result<Option<Bucket>> {
        Ok(self.select("WHERE id = ?1", [id])?.pop())
    }
    /// Core first, then satellites by id.
    pub fn all(&self) -> Result<Vec<Bucket>> {
        self.select("ORDER BY id <> 'core', id", [])
    }
    /// Buckets that take part in planning (not retired or paused).
    pub fn active(&self) -> Result<Vec<Bucket>> {
        self.select("WHERE status NOT IN ('retired','paused') ORDER BY id <> 'core', id", [])
    }
    pub fn by_type(&self, bucket_type: BucketType) -> Result<Vec<Bucket>> {
        self.select("WHERE type = ?1 ORDER BY id", [bucket_type])
    }
    pub fn by_status(&self, status: BucketStatus) -> Result<Vec<Bucket>> {
        self.select("WHERE status = ?1 ORDER BY id", [status])
    }
    pub fn satellites(&self) -> Result<Vec<Bucket>> {
        self.by_type(BucketType::Satellite)
    }
    pub fn core(&self) -> Result<Bucket> {
        self.get(CORE)?.ok_or_else(|| StoreError::invalid("satellites.db", "the core bucket is missing"))
    }

    /// Creates a satellite (the core bucket exists from migration 1).
    pub fn create(&self, b: &Bucket) -> Result<()> {
        if b.bucket_type != BucketType::Satellite || b.id == CORE {
            return Err(StoreError::invalid(format!("bucket {}", b.id), "only satellites can be created"));
        }
        self.conn
            .execute(
                &format!(
                    "INSERT INTO buckets ({BUCKET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ),
                params![
                    b.id,
                    b.name,
                    b.bucket_type,
                    b.notes,
                    b.target_pct,
                    b.min_pct,
                    b.max_pct,
                    b.consecutive_losses,
                    b.max_consecutive_losses,
                    b.high_water_mark,
                    b.high_water_mark_date.map(Ts),
                    b.loss_streak_paused_at.map(Ts),
                    b.status,
                    b.agent_id,
                    Ts(b.created_at),
                    Ts(b.updated_at),
                ],
            )
            .ctx(self.conn, "creating a bucket")?;
        Ok(())
    }

    pub fn update(&self, id: &str, patch: &BucketPatch, at: Instant) -> Result<bool> {
        write_tx(self.conn, "updating a bucket", |conn| {
            let Some(mut b) = BucketRepository::new(conn).get(id)? else {
                return Ok(false);
            };
            let p = patch.clone();
            if let Some(v) = p.name {
                b.name = v;
            }
            if let Some(v) = p.notes {
                b.notes = v;
            }
            if let Some(v) = p.target_pct {
                b.target_pct = v;
            }
            if let Some(v) = p.min_pct {
                b.min_pct = v;
            }
            if let Some(v) = p.max_pct {
                b.max_pct = v;
            }
            if let Some(v) = p.max_consecutive_losses {
                b.max_consecutive_losses = v;
            }
            conn.execute(
                "UPDATE buckets SET name = ?2, notes = ?3, target_pct = ?4, min_pct = ?5, max_pct = ?6, \
                 max_consecutive_losses = ?7, updated_at = ?8 WHERE id = ?1",
                params![id, b.name, b.notes, b.target_pct, b.min_pct, b.max_pct, b.max_consecutive_losses, Ts(at)],
            )
            .ctx(conn, "updating a bucket")?;
            Ok(true)
        })
    }

    fn touch(&self, sql: &str, params: impl rusqlite::Params, context: &'static str) -> Result<bool> {
        Ok(self.conn.execute(sql, params).ctx(self.conn, context)? > 0)
    }

    pub fn set_status(&self, id: &str, status: BucketStatus, at: Instant) -> Result<bool> {
        self.touch(
            "UPDATE buckets SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, status, Ts(at)],
            "setting a status",
        )
    }

    /// Counts one more loss; returns the new streak.
    pub fn increment_losses(&self, id: &str, at: Instant) -> Result<i64> {
        self.conn
            .query_row(
                "UPDATE buckets SET consecutive_losses = consecutive_losses + 1, updated_at = ?2 WHERE id = ?1 \
                 RETURNING consecutive_losses",
                params![id, Ts(at)],
                |r| r.get(0),
            )
            .ctx(self.conn, "counting a loss")
    }

    pub fn reset_losses(&self, id: &str, at: Instant) -> Result<bool> {
        self.touch(
            "UPDATE buckets SET consecutive_losses = 0, updated_at = ?2 WHERE id = ?1",
            params![id, Ts(at)],
            "resetting losses",
        )
    }

    /// Raises the high-water mark; a lower value changes nothing.
    pub fn raise_high_water_mark(&self, id: &str, value: f64, at: Instant) -> Result<bool> {
        self.touch(
            "UPDATE buckets SET high_water_mark = ?2, high_water_mark_date = ?3, updated_at = ?3 \
             WHERE id = ?1 AND high_water_mark < ?2",
            params![id, value, Ts(at)],
            "raising the high-water mark",
        )
    }

    pub fn set_agent(&self, id: &str, agent_id: Option<&str>, at: Instant) -> Result<bool> {
        self.touch(
            "UPDATE buckets SET agent_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, agent_id, Ts(at)],
            "setting an agent",
        )
    }

    /// Deletes a satellite that never held cash; the core bucket and buckets with history are retired instead.
    pub fn delete(&self, id: &str) -> Result<bool> {
        if id == CORE {
            return Err(StoreError::invalid("bucket core", "the core bucket cannot be deleted"));
        }
        write_tx(self.conn, "deleting a bucket", |conn| {
            let history: i64 = conn
                .query_row("SELECT count(*) FROM bucket_transactions WHERE bucket_id = ?1", [id], |r| r.get(0))
                .ctx(conn, "deleting a bucket")?;
            let balances = BalanceRepository::new(conn).balances(id)?;
            if history > 0 || balances.values().any(|b| !b.is_zero()) {
                return Err(StoreError::invalid(format!("bucket {id}"), "has cash history; retire it instead"));
            }
            conn.execute("DELETE FROM bucket_balances WHERE bucket_id = ?1", [id]).ctx(conn, "deleting a bucket")?;
            Ok(conn.execute("DELETE FROM buckets WHERE id = ?1", [id]).ctx(conn, "deleting a bucket")? > 0)
        })
    }

    pub fn settings(&self, id: &str) -> Result<Option<SatelliteSettings>> {
        self.conn
            .query_row(
                &format!("SELECT {SETTINGS_COLUMNS} FROM satellite_settings WHERE satellite_id = ?1"),
                [id],
                |r| {
                    Ok(SatelliteSettings {
                        satellite_id: r.get(0)?,
                        preset: r.get(1)?,
                        risk_appetite: r.get(2)?,
                        hold_duration: r.get(3)?,
                        entry_style: r.get(4)?,
                        position_spread: r.get(5)?,
                        profit_taking: r.get(6)?,
                        trailing_stops: r.get(7)?,
                        follow_regime: r.get(8)?,
                        auto_harvest: r.get(9)?,
                        pause_high_volatility: r.get(10)?,
                        dividend_handling: r.get(11)?,
                        risk_free_rate: r.get(12)?,
                        sortino_mar: r.get(13)?,
                        evaluation_period_days: r.get(14)?,
                        volatility_window: r.get(15)?,
                    })
                },
            )
            .optional()
            .ctx(self.conn, "reading satellite settings")
    }

    pub fn save_settings(&self, s: &SatelliteSettings) -> Result<()> {
        self.conn
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO satellite_settings ({SETTINGS_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ),
                params![
                    s.satellite_id,
                    s.preset,
                    s.risk_appetite,
                    s.hold_duration,
                    s.entry_style,
                    s.position_spread,
                    s.profit_taking,
                    s.trailing_stops,
                    s.follow_regime,
                    s.auto_harvest,
                    s.pause_high_volatility,
                    s.dividend_handling,
                    s.risk_free_rate,
                    s.sortino_mar,
                    s.evaluation_period_days,
                    s.volatility_window,
                ],
            )
            .ctx(self.conn, "saving satellite settings")?;
        Ok(())
    }

    pub fn delete_settings(&self, id: &str) -> Result<bool> {
        self.touch("DELETE FROM satellite_settings WHERE satellite_id = ?1", [id], "deleting satellite settings")
    }
}

/// One row of the balance trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BucketTransaction {
    pub bucket_id: String,
    pub tx_type: TxType,
    pub amount: Decimal,
    pub currency: String,
    pub description: Option<String>,
    pub created_at: Instant,
}

/// Cash per bucket and currency, and its audit trail.
pub struct BalanceRepository<'c> {
    conn: &'c Connection,
}

impl<'c> BalanceRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        BalanceRepository { conn }
    }

    /// A missing row is a zero balance.
    pub fn balance(&self, bucket: &str, currency: &str) -> Result<Decimal> {
        let found: Option<Dec> = self
            .conn
            .query_row(
                "SELECT balance FROM bucket_balances WHERE bucket_id = ?1 AND currency = ?2",
                [bucket, currency],
                |r| r.get(0),
            )
            .optional()
            .ctx(self.conn, "reading a balance")?;
        Ok(found.map(|d| d.0).unwrap_or_default())
    }

    /// Currency → balance of one bucket.
    pub fn balances(&self, bucket: &str) -> Result<BTreeMap<String, Decimal>> {
        let rows = collect_rows(
            self.conn,
            "reading balances",
            "SELECT currency, balance FROM bucket_balances WHERE bucket_id = ?1 ORDER BY currency",
            [bucket],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Dec>(1)?.0)),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Bucket → balance in one currency.
    pub fn balances_by_currency(&self, currency: &str) -> Result<BTreeMap<String, Decimal>> {
        let rows = collect_rows(
            self.conn,
            "reading balances",
            "SELECT bucket_id, balance FROM bucket_balances WHERE currency = ?1 ORDER BY bucket_id",
            [currency],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Dec>(1)?.0)),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Σ over all buckets of one currency, exact.
    pub fn total(&self, currency: &str) -> Result<Decimal> {
        Ok(self.balances_by_currency(currency)?.values().sum())
    }

    pub fn currencies(&self) -> Result<Vec<String>> {
        collect_rows(
            self.conn,
            "reading balances",
            "SELECT DISTINCT currency FROM bucket_balances ORDER BY currency",
            [],
            |r| r.get(0),
        )
    }

    fn write_balance(conn: &Connection, bucket: &str, currency: &str, balance: Decimal, at: Instant) -> Result<()> {
        conn.execute(
            "INSERT INTO bucket_balances (bucket_id, currency, balance, last_updated) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(bucket_id, currency) DO UPDATE SET balance = excluded.balance, last_updated = excluded.last_updated",
            params![bucket, currency, Dec(balance), Ts(at)],
        )
        .ctx(conn, "writing a balance")?;
        Ok(())
    }

    fn append(conn: &Connection, t: &BucketTransaction) -> Result<i64> {
        conn.execute(
            "INSERT INTO bucket_transactions (bucket_id, type, amount, currency, description, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![t.bucket_id, t.tx_type, Dec(t.amount), t.currency, t.description, Ts(t.created_at)],
        )
        .ctx(conn, "appending a bucket transaction")?;
        Ok(conn.last_insert_rowid())
    }

    /// Applies one transaction to its balance and records it, in one transaction. Returns the new balance.
    pub fn adjust(&self, t: &BucketTransaction) -> Result<Decimal> {
        if t.tx_type != TxType::Reallocation && t.amount.is_sign_negative() {
            return Err(StoreError::invalid(
                format!("{} of {}", t.tx_type, t.amount),
                "amounts are magnitudes; the type gives the sign",
            ));
        }
        write_tx(self.conn, "adjusting a balance", |conn| {
            let new_balance =
                BalanceRepository::new(conn).balance(&t.bucket_id, &t.currency)? + t.tx_type.effect(t.amount);
            Self::write_balance(conn, &t.bucket_id, &t.currency, new_balance, t.created_at)?;
            Self::append(conn, t)?;
            Ok(new_balance)
        })
    }

    /// Sets a balance; the trail gets a `reallocation` row with the signed difference.
    pub fn set_balance(
        &self,
        bucket: &str,
        currency: &str,
        amount: Decimal,
        description: Option<&str>,
        at: Instant,
    ) -> Result<()> {
        write_tx(self.conn, "setting a balance", |conn| {
            let old = BalanceRepository::new(conn).balance(bucket, currency)?;
            Self::write_balance(conn, bucket, currency, amount, at)?;
            Self::append(
                conn,
                &BucketTransaction {
                    bucket_id: bucket.to_owned(),
                    tx_type: TxType::Reallocation,
                    amount: amount - old,
                    currency: currency.to_owned(),
                    description: description.map(str::to_owned),
                    created_at: at,
                },
            )?;
            Ok(())
        })
    }

    /// Moves cash between buckets: `transfer_out` + `transfer_in` in one transaction.
    pub fn transfer(
        &self,
        from: &str,
        to: &str,
        currency: &str,
        amount: Decimal,
        description: Option<&str>,
        at: Instant,
    ) -> Result<()> {
        let leg = |bucket: &str, tx_type| BucketTransaction {
            bucket_id: bucket.to_owned(),
            tx_type,
            amount,
            currency: currency.to_owned(),
            description: description.map(str::to_owned),
            created_at: at,
        };
        write_tx(self.conn, "transferring cash", |conn| {
            let repo = BalanceRepository::new(conn);
            repo.adjust(&leg(from, TxType::TransferOut))?;
            repo.adjust(&leg(to, TxType::TransferIn))?;
            Ok(())
        })
    }

    fn transactions_where(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Stored<BucketTransaction>>> {
        collect_rows(
            self.conn,
            "reading bucket transactions",
            &format!(
                "SELECT id, bucket_id, type, amount, currency, description, created_at FROM bucket_transactions {filter}"
            ),
            params,
            |r| {
                Ok(Stored {
                    id: r.get(0)?,
                    row: BucketTransaction {
                        bucket_id: r.get(1)?,
                        tx_type: r.get(2)?,
                        amount: r.get::<_, Dec>(3)?.0,
                        currency: r.get(4)?,
                        description: r.get(5)?,
                        created_at: r.get::<_, Ts>(6)?.0,
                    },
                })
            },
        )
    }

    /// A bucket's trail, newest first, optionally of one type.
    pub fn transactions(
        &self,
        bucket: &str,
        limit: usize,
        offset: usize,
        tx_type: Option<TxType>,
    ) -> Result<Vec<Stored<BucketTransaction>>> {
        self.transactions_where(
            "WHERE bucket_id = ?1 AND (?2 IS NULL OR type = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4",
            params![bucket, tx_type, limit as i64, offset as i64],
        )
    }

    pub fn recent_transactions(&self, bucket: &str, days: i64, now: Instant) -> Result<Vec<Stored<BucketTransaction>>> {
        self.transactions_where(
            "WHERE bucket_id = ?1 AND created_at >= ?2 ORDER BY id DESC",
            params![bucket, Ts(now - Duration::days(days))],
        )
    }

    pub fn allocation_setting(&self, key: &str) -> Result<Option<f64>> {
        self.conn
            .query_row("SELECT value FROM allocation_settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .ctx(self.conn, "reading an allocation setting")
    }

    pub fn set_allocation_setting(&self, key: &str, value: f64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO allocation_settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .ctx(self.conn, "writing an allocation setting")?;
        Ok(())
    }

    pub fn allocation_settings(&self) -> Result<BTreeMap<String, f64>> {
        let rows = collect_rows(
            self.conn,
            "reading allocation settings",
            "SELECT key, value FROM allocation_settings ORDER BY key",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }
}
