//! `cache.db` — disposable operational data (storage.md §7.8): recommendations and a key/value cache with
//! expiry. Losing this file loses no user data; orders in flight are in the ledger's order journal.

use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::M;

use super::open::{CACHE_PROFILE, DEFAULT_PAGE_SIZE, DbSpec};
use super::values::{Instant, Side, Ts, normalize_symbol, text_enum};
use super::{Result, SqlContext, StoreError, collect_rows, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045064;
CREATE TABLE recommendations (
  uuid                    TEXT NOT NULL PRIMARY KEY CHECK (", non_empty!("uuid"), "),
  symbol                  TEXT NOT NULL CHECK (", sym!("symbol"), "),
  isin                    TEXT,
  name                    TEXT NOT NULL,
  side                    TEXT NOT NULL CHECK (side IN ('BUY','SELL')),
  quantity                REAL CHECK (quantity > 0),
  estimated_price         REAL CHECK (estimated_price > 0),
  estimated_value         REAL,
  currency                TEXT NOT NULL DEFAULT 'EUR' CHECK (", cur!("currency"), "),
  reason                  TEXT NOT NULL,
  country                 TEXT,
  industry                TEXT,
  priority                REAL,
  current_portfolio_score REAL,
  new_portfolio_score     REAL,
  score_change            REAL,
  status                  TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','submitted','executed','failed','dismissed','expired')),
  source                  TEXT NOT NULL DEFAULT 'plan' CHECK (source IN ('plan','drip','emergency')),
  attempts                INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  status_reason           TEXT,
  order_id                TEXT,
  portfolio_hash          TEXT NOT NULL DEFAULT '',
  created_at              TEXT NOT NULL CHECK (", ts!("created_at"), "),
  updated_at              TEXT NOT NULL CHECK (", ts!("updated_at"), "),
  executed_at             TEXT CHECK (", ts!("executed_at"), "),
  dismissed_at            TEXT CHECK (", ts!("dismissed_at"), "),
  CHECK (status <> 'pending' OR (quantity IS NOT NULL AND estimated_price IS NOT NULL AND estimated_value IS NOT NULL AND priority IS NOT NULL)),
  UNIQUE (symbol, side, reason, portfolio_hash)
) STRICT;
CREATE INDEX idx_rec_pending ON recommendations(priority, created_at) WHERE status = 'pending';
CREATE INDEX idx_rec_portfolio ON recommendations(portfolio_hash, status);

CREATE TABLE cache_data (
  cache_key  TEXT NOT NULL PRIMARY KEY CHECK (", non_empty!("cache_key"), "),
  symbol     TEXT CHECK (", sym!("symbol"), "),
  value      TEXT NOT NULL,
  expires_at TEXT CHECK (", ts!("expires_at"), "),
  created_at TEXT NOT NULL CHECK (", ts!("created_at"), ")
) STRICT;
CREATE INDEX idx_cache_expires ON cache_data(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX idx_cache_symbol ON cache_data(symbol) WHERE symbol IS NOT NULL;
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "cache",
    application_id: 0x4154_5208,
    profile: CACHE_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["cache_data", "recommendations"],
};

text_enum! {
    /// A recommendation's life cycle (portfolio.md §7.10, §8.4); the ledger's order journal wins.
    pub enum RecStatus {
        Pending => "pending", Submitted => "submitted", Executed => "executed", Failed => "failed",
        Dismissed => "dismissed", Expired => "expired",
    }
}

text_enum! {
    /// What created a recommendation; emergency rows execute first, then DRIP, then the plan.
    pub enum RecSource { Plan => "plan", Drip => "drip", Emergency => "emergency" }
}

/// A planned trade.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    pub uuid: String,
    pub symbol: String,
    pub isin: Option<String>,
    pub name: String,
    pub side: Side,
    pub quantity: Option<f64>,
    pub estimated_price: Option<f64>,
    pub estimated_value: Option<f64>,
    pub currency: String,
    pub reason: String,
    pub country: Option<String>,
    pub industry: Option<String>,
    /// Lower executes earlier.
    pub priority: Option<f64>,
    pub current_portfolio_score: Option<f64>,
    pub new_portfolio_score: Option<f64>,
    pub score_change: Option<f64>,
    pub status: RecStatus,
    pub source: RecSource,
    pub attempts: i64,
    pub status_reason: Option<String>,
    pub order_id: Option<String>,
    pub portfolio_hash: String,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub executed_at: Option<Instant>,
    pub dismissed_at: Option<Instant>,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RecUpsert {
    Inserted(String),
    /// A pending row with the same key was refreshed.
    Updated(String),
    /// A row with the same key is past pending; it was left unchanged.
    Existing(RecStatus),
}

const REC_COLUMNS: &str = "uuid, symbol, isin, name, side, quantity, estimated_price, estimated_value, currency, reason, \
     country, industry, priority, current_portfolio_score, new_portfolio_score, score_change, status, source, attempts, \
     status_reason, order_id, portfolio_hash, created_at, updated_at, executed_at, dismissed_at";

fn rec_from_row(r: &Row<'_>) -> rusqlite::Result<Recommendation> {
    Ok(Recommendation {
        uuid: r.get(0)?,
        symbol: r.get(1)?,
        isin: r.get(2)?,
        name: r.get(3)?,
        side: r.get(4)?,
        quantity: r.get(5)?,
        estimated_price: r.get(6)?,
        estimated_value: r.get(7)?,
        currency: r.get(8)?,
        reason: r.get(9)?,
        country: r.get(10)?,
        industry: r.get(11)?,
        priority: r.get(12)?,
        current_portfolio_score: r.get(13)?,
        new_portfolio_score: r.get(14)?,
        score_change: r.get(15)?,
        status: r.get(16)?,
        source: r.get(17)?,
        attempts: r.get(18)?,
        status_reason: r.get(19)?,
        order_id: r.get(20)?,
        portfolio_hash: r.get(21)?,
        created_at: r.get::<_, Ts>(22)?.0,
        updated_at: r.get::<_, Ts>(23)?.0,
        executed_at: r.get::<_, Option<Ts>>(24)?.map(|t| t.0),
        dismissed_at: r.get::<_, Option<Ts>>(25)?.map(|t| t.0),
    })
}

/// Recommendations and their life cycle.
pub struct RecommendationRepository<'c> {
    conn: &'c Connection,
}

impl<'c> RecommendationRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        RecommendationRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Recommendation>> {
        collect_rows(
            self.conn,
            "reading recommendations",
            &format!("SELECT {REC_COLUMNS} FROM recommendations {filter}"),
            params,
            rec_from_row,
        )
    }

    pub fn get(&self, uuid: &str) -> Result<Option<Recommendation>> {
        Ok(self.select("WHERE uuid = ?1", [uuid])?.pop())
    }

    /// Keyed on (symbol, side, reason, portfolio hash): a pending row is refreshed, a row past pending is left
    /// as it is, and a new key gets a new UUID v4 in status pending.
    pub fn upsert(&self, rec: &Recommendation, at: Instant) -> Result<RecUpsert> {
        let symbol = normalize_symbol(&rec.symbol);
        write_tx(self.conn, "writing a recommendation", |conn| {
            let repo = RecommendationRepository::new(conn);
            let existing = repo
                .select(
                    "WHERE symbol = ?1 AND side = ?2 AND reason = ?3 AND portfolio_hash = ?4",
                    params![symbol, rec.side, rec.reason, rec.portfolio_hash],
                )?
                .pop();
            match existing {
                Some(found) if found.status != RecStatus::Pending => Ok(RecUpsert::Existing(found.status)),
                Some(found) => {
                    conn.execute(
                        "UPDATE recommendations SET name = ?2, quantity = ?3, estimated_price = ?4, estimated_value = ?5, \
                         currency = ?6, priority = ?7, current_portfolio_score = ?8, new_portfolio_score = ?9, \
                         score_change = ?10, updated_at = ?11 WHERE uuid = ?1",
                        params![
                            found.uuid,
                            rec.name,
                            rec.quantity,
                            rec.estimated_price,
                            rec.estimated_value,
                            rec.currency,
                            rec.priority,
                            rec.current_portfolio_score,
                            rec.new_portfolio_score,
                            rec.score_change,
                            Ts(at)
                        ],
                    )
                    .ctx(conn, "refreshing a recommendation")?;
                    Ok(RecUpsert::Updated(found.uuid))
                }
                None => {
                    let uuid = uuid::Uuid::new_v4().to_string();
                    conn.execute(
                        &format!(
                            "INSERT INTO recommendations ({REC_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
                             ?13, ?14, ?15, ?16, 'pending', ?17, 0, NULL, NULL, ?18, ?19, ?19, NULL, NULL)"
                        ),
                        params![
                            uuid,
                            symbol,
                            rec.isin,
                            rec.name,
                            rec.side,
                            rec.quantity,
                            rec.estimated_price,
                            rec.estimated_value,
                            rec.currency,
                            rec.reason,
                            rec.country,
                            rec.industry,
                            rec.priority,
                            rec.current_portfolio_score,
                            rec.new_portfolio_score,
                            rec.score_change,
                            rec.source,
                            rec.portfolio_hash,
                            Ts(at)
                        ],
                    )
                    .ctx(conn, "inserting a recommendation")?;
                    Ok(RecUpsert::Inserted(uuid))
                }
            }
        })
    }

    pub fn find_pending(&self, symbol: &str, side: Side, portfolio_hash: &str) -> Result<Option<Recommendation>> {
        Ok(self
            .select(
                "WHERE symbol = ?1 AND side = ?2 AND portfolio_hash = ?3 AND status = 'pending' ORDER BY priority LIMIT 1",
                params![normalize_symbol(symbol), side, portfolio_hash],
            )?
            .pop())
    }

    /// Pending rows in execution order: emergency, DRIP, plan; then priority, then age.
    pub fn pending(&self, limit: usize) -> Result<Vec<Recommendation>> {
        self.select(
            "WHERE status = 'pending' ORDER BY CASE source WHEN 'emergency' THEN 0 WHEN 'drip' THEN 1 ELSE 2 END, \
             priority, created_at LIMIT ?1",
            [limit as i64],
        )
    }

    /// Moves a row from one status to another; returns false when it was not in `from`.
    fn transition(&self, uuid: &str, from: &[RecStatus], set: &str, params: &[&dyn rusqlite::ToSql]) -> Result<bool> {
        let allowed = from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&uuid];
        all.extend_from_slice(params);
        let n = self
            .conn
            .execute(
                &format!("UPDATE recommendations SET {set} WHERE uuid = ?1 AND status IN ({allowed})"),
                all.as_slice(),
            )
            .ctx(self.conn, "changing a recommendation's status")?;
        Ok(n > 0)
    }

    /// `pending` → `submitted`, before the broker call.
    pub fn mark_submitted(&self, uuid: &str, at: Instant) -> Result<bool> {
        self.transition(uuid, &[RecStatus::Pending], "status = 'submitted', updated_at = ?2", &[&Ts(at)])
    }

    pub fn record_order_ack(&self, uuid: &str, order_id: &str, at: Instant) -> Result<bool> {
        Ok(self
            .conn
            .execute(
                "UPDATE recommendations SET order_id = ?2, updated_at = ?3 WHERE uuid = ?1",
                params![uuid, order_id, Ts(at)],
            )
            .ctx(self.conn, "recording an order ack")?
            > 0)
    }

    /// From `pending` (a research trade) or `submitted` (a live order).
    pub fn mark_executed(&self, uuid: &str, at: Instant) -> Result<bool> {
        self.transition(
            uuid,
            &[RecStatus::Pending, RecStatus::Submitted],
            "status = 'executed', executed_at = ?2, updated_at = ?2",
            &[&Ts(at)],
        )
    }

    /// Only from `submitted`.
    pub fn mark_failed(&self, uuid: &str, reason: &str, at: Instant) -> Result<bool> {
        self.transition(
            uuid,
            &[RecStatus::Submitted],
            "status = 'failed', status_reason = ?2, updated_at = ?3",
            &[&reason, &Ts(at)],
        )
    }

    /// A transient check failure: one more attempt, and why.
    pub fn record_attempt(&self, uuid: &str, reason: &str, at: Instant) -> Result<bool> {
        Ok(self
            .conn
            .execute(
                "UPDATE recommendations SET attempts = attempts + 1, status_reason = ?2, updated_at = ?3 WHERE uuid = ?1",
                params![uuid, reason, Ts(at)],
            )
            .ctx(self.conn, "recording an attempt")?
            > 0)
    }

    pub fn dismiss(&self, uuid: &str, reason: &str, at: Instant) -> Result<bool> {
        self.transition(
            uuid,
            &[RecStatus::Pending],
            "status = 'dismissed', status_reason = ?2, dismissed_at = ?3, updated_at = ?3",
            &[&reason, &Ts(at)],
        )
    }

    pub fn dismiss_for_portfolio(&self, portfolio_hash: &str, at: Instant) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE recommendations SET status = 'dismissed', dismissed_at = ?2, updated_at = ?2 \
                 WHERE portfolio_hash = ?1 AND status = 'pending'",
                params![portfolio_hash, Ts(at)],
            )
            .ctx(self.conn, "dismissing recommendations")
    }

    /// Rows handed to the broker whose outcome is not yet known.
    pub fn submitted(&self) -> Result<Vec<Recommendation>> {
        self.select("WHERE status = 'submitted' ORDER BY updated_at", [])
    }

    /// Pending plan rows of other portfolio states are superseded.
    pub fn expire_other_hashes(&self, current_hash: &str, at: Instant) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE recommendations SET status = 'expired', updated_at = ?2 \
                 WHERE status = 'pending' AND source = 'plan' AND portfolio_hash <> ?1",
                params![current_hash, Ts(at)],
            )
            .ctx(self.conn, "expiring recommendations")
    }

    /// Pending rows created before `now − ttl` expire.
    pub fn expire_older_than(&self, ttl: chrono::Duration, now: Instant) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE recommendations SET status = 'expired', updated_at = ?2 WHERE status = 'pending' AND created_at < ?1",
                params![Ts(now - ttl), Ts(now)],
            )
            .ctx(self.conn, "expiring recommendations")
    }

    /// (pending buys, pending sells).
    pub fn count_pending_by_side(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE side = 'BUY'), count(*) FILTER (WHERE side = 'SELL') FROM recommendations \
                 WHERE status = 'pending'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(self.conn, "counting recommendations")
    }

    /// GC: every recommendation of a symbol, whatever its status.
    pub fn purge_symbol(&self, symbol: &str) -> Result<usize> {
        self.conn
            .execute("DELETE FROM recommendations WHERE symbol = ?1", [normalize_symbol(symbol)])
            .ctx(self.conn, "purging recommendations")
    }

    /// Retention: finished rows last updated before `instant`.
    pub fn delete_finished_before(&self, instant: Instant) -> Result<usize> {
        self.conn
            .execute(
                "DELETE FROM recommendations WHERE status IN ('executed','failed','dismissed','expired') AND updated_at < ?1",
                [Ts(instant)],
            )
            .ctx(self.conn, "deleting finished recommendations")
    }
}

/// The key/value cache.
pub struct CacheRepository<'c> {
    conn: &'c Connection,
}

impl<'c> CacheRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        CacheRepository { conn }
    }

    /// The value unless it has expired.
    pub fn get(&self, key: &str, now: Instant) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT value FROM cache_data WHERE cache_key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                params![key, Ts(now)],
                |r| r.get(0),
            )
            .optional()
            .ctx(self.conn, "reading the cache")
    }

    pub fn put(
        &self,
        key: &str,
        value: &str,
        expires_at: Option<Instant>,
        symbol: Option<&str>,
        now: Instant,
    ) -> Result<()> {
        if key.is_empty() {
            return Err(StoreError::invalid("cache key", "must not be empty"));
        }
        self.conn
            .execute(
                "INSERT INTO cache_data (cache_key, symbol, value, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(cache_key) DO UPDATE SET symbol = excluded.symbol, value = excluded.value, \
                 expires_at = excluded.expires_at, created_at = excluded.created_at",
                params![key, symbol.map(normalize_symbol), value, expires_at.map(Ts), Ts(now)],
            )
            .ctx(self.conn, "writing the cache")?;
        Ok(())
    }

    pub fn delete(&self, key: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM cache_data WHERE cache_key = ?1", [key])
            .ctx(self.conn, "deleting from the cache")?
            > 0)
    }

    pub fn delete_expired(&self, now: Instant) -> Result<usize> {
        self.conn
            .execute("DELETE FROM cache_data WHERE expires_at IS NOT NULL AND expires_at <= ?1", [Ts(now)])
            .ctx(self.conn, "deleting expired cache rows")
    }

    pub fn purge_symbol(&self, symbol: &str) -> Result<usize> {
        self.conn
            .execute("DELETE FROM cache_data WHERE symbol = ?1", [normalize_symbol(symbol)])
            .ctx(self.conn, "purging cache rows")
    }

    pub fn clear(&self) -> Result<usize> {
        self.conn.execute("DELETE FROM cache_data", []).ctx(self.conn, "clearing the cache")
    }
}
