//! `universe.db` — the investment universe (storage.md §7.1): securities the daemon knows, the user's country
//! and industry groups, and the audit trail of garbage collection.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::M;

use super::open::{DEFAULT_PAGE_SIZE, DbSpec, STANDARD_PROFILE};
use super::values::{Instant, Ts, normalize_symbol, text_enum};
use super::{Result, SqlContext, StoreError, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045057;
CREATE TABLE securities (
  symbol               TEXT NOT NULL PRIMARY KEY CHECK (", sym!("symbol"), "),
  yahoo_symbol         TEXT,
  isin                 TEXT,
  name                 TEXT NOT NULL CHECK (", non_empty!("name"), "),
  product_type         TEXT NOT NULL DEFAULT 'UNKNOWN' CHECK (product_type IN ('EQUITY','ETF','ETC','MUTUALFUND','UNKNOWN')),
  industry             TEXT,
  country              TEXT,
  fullExchangeName     TEXT,
  priority_multiplier  REAL NOT NULL DEFAULT 1.0 CHECK (priority_multiplier > 0),
  min_lot              INTEGER NOT NULL DEFAULT 1 CHECK (min_lot >= 1),
  allow_buy            INTEGER NOT NULL DEFAULT 1 CHECK (", boolean!("allow_buy"), "),
  allow_sell           INTEGER NOT NULL DEFAULT 1 CHECK (", boolean!("allow_sell"), "),
  currency             TEXT CHECK (", cur!("currency"), "),
  last_synced          TEXT CHECK (", ts!("last_synced"), "),
  min_portfolio_target REAL CHECK (min_portfolio_target BETWEEN 0 AND 100),
  max_portfolio_target REAL CHECK (max_portfolio_target BETWEEN 0 AND 100),
  bucket_id            TEXT NOT NULL DEFAULT 'core',
  removed_at           TEXT CHECK (", ts!("removed_at"), "),
  created_at           TEXT NOT NULL CHECK (", ts!("created_at"), "),
  updated_at           TEXT NOT NULL CHECK (", ts!("updated_at"), ")
) STRICT;
CREATE INDEX idx_securities_isin ON securities(isin) WHERE isin IS NOT NULL;
CREATE INDEX idx_securities_bucket ON securities(bucket_id);
CREATE INDEX idx_securities_removed ON securities(removed_at) WHERE removed_at IS NOT NULL;

CREATE TABLE country_groups (
  group_name   TEXT NOT NULL CHECK (", non_empty!("group_name"), "),
  country_name TEXT NOT NULL CHECK (", non_empty!("country_name"), "),
  created_at   TEXT NOT NULL CHECK (", ts!("created_at"), "),
  updated_at   TEXT NOT NULL CHECK (", ts!("updated_at"), "),
  PRIMARY KEY (group_name, country_name)
) STRICT;

CREATE TABLE industry_groups (
  group_name    TEXT NOT NULL CHECK (", non_empty!("group_name"), "),
  industry_name TEXT NOT NULL CHECK (", non_empty!("industry_name"), "),
  created_at    TEXT NOT NULL CHECK (", ts!("created_at"), "),
  updated_at    TEXT NOT NULL CHECK (", ts!("updated_at"), "),
  PRIMARY KEY (group_name, industry_name)
) STRICT;

CREATE TABLE gc_log (
  id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  run_at       TEXT NOT NULL CHECK (", ts!("run_at"), "),
  symbol       TEXT NOT NULL CHECK (", sym!("symbol"), "),
  removed_at   TEXT NOT NULL CHECK (", ts!("removed_at"), "),
  target       TEXT NOT NULL CHECK (target IN ('history','portfolio','cache','universe')),
  action       TEXT NOT NULL CHECK (action IN ('purged','refused_position','aborted_restored','error')),
  rows_deleted INTEGER NOT NULL DEFAULT 0 CHECK (rows_deleted >= 0),
  detail       TEXT,
  logged_at    TEXT NOT NULL CHECK (", ts!("logged_at"), ")
) STRICT;
CREATE INDEX idx_gc_log_symbol ON gc_log(symbol, logged_at);
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "universe",
    application_id: 0x4154_5201,
    profile: STANDARD_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["country_groups", "gc_log", "industry_groups", "securities"],
};

/// Marks a group that exists but has no members (the PK needs a member row).
pub const EMPTY_GROUP_MARKER: &str = "__EMPTY__";

text_enum! {
    /// What kind of instrument a security is; `Unknown` until market data says (not buyable meanwhile).
    pub enum ProductType { Equity => "EQUITY", Etf => "ETF", Etc => "ETC", MutualFund => "MUTUALFUND", Unknown => "UNKNOWN" }
}

text_enum! {
    /// The database a GC step worked on.
    pub enum GcTarget { History => "history", Portfolio => "portfolio", Cache => "cache", Universe => "universe" }
}

text_enum! {
    /// What a GC step did.
    pub enum GcAction { Purged => "purged", RefusedPosition => "refused_position", AbortedRestored => "aborted_restored", Error => "error" }
}

/// One row of `securities`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Security {
    pub symbol: String,
    pub yahoo_symbol: Option<String>,
    pub isin: Option<String>,
    pub name: String,
    pub product_type: ProductType,
    pub industry: Option<String>,
    pub country: Option<String>,
    pub full_exchange_name: Option<String>,
    pub priority_multiplier: f64,
    pub min_lot: i64,
    pub allow_buy: bool,
    pub allow_sell: bool,
    pub currency: Option<String>,
    pub last_synced: Option<Instant>,
    pub min_portfolio_target: Option<f64>,
    pub max_portfolio_target: Option<f64>,
    pub bucket_id: String,
    /// `None` = in the universe; `Some` = removed, waiting for GC.
    pub removed_at: Option<Instant>,
    pub created_at: Instant,
    pub updated_at: Instant,
}

/// The industries of a security's `industry` column: comma-separated, trimmed, empty parts ignored.
pub fn split_industries(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl Security {
    /// A security with the schema's defaults, as the user adds it.
    pub fn new(symbol: &str, name: &str, at: Instant) -> Security {
        Security {
            symbol: normalize_symbol(symbol),
            yahoo_symbol: None,
            isin: None,
            name: name.to_owned(),
            product_type: ProductType::Unknown,
            industry: None,
            country: None,
            full_exchange_name: None,
            priority_multiplier: 1.0,
            min_lot: 1,
            allow_buy: true,
            allow_sell: true,
            currency: None,
            last_synced: None,
            min_portfolio_target: None,
            max_portfolio_target: None,
            bucket_id: "core".to_owned(),
            removed_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    pub fn in_universe(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// A typed change to a security; `None` leaves a column as it is. Nullable columns take `Some(None)` to clear.
#[derive(Debug, Clone, Default)]
pub struct SecurityPatch {
    pub yahoo_symbol: Option<Option<String>>,
    pub isin: Option<Option<String>>,
    pub name: Option<String>,
    pub product_type: Option<ProductType>,
    pub industry: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub full_exchange_name: Option<Option<String>>,
    pub priority_multiplier: Option<f64>,
    pub min_lot: Option<i64>,
    pub allow_buy: Option<bool>,
    pub allow_sell: Option<bool>,
    pub currency: Option<Option<String>>,
    pub last_synced: Option<Option<Instant>>,
    pub min_portfolio_target: Option<Option<f64>>,
    pub max_portfolio_target: Option<Option<f64>>,
    pub bucket_id: Option<String>,
}

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Inserted,
    /// The symbol was removed but not yet purged: it is back, with all its data.
    Restored,
}

/// A row of `gc_log` to append.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GcLogEntry {
    pub run_at: Instant,
    pub symbol: String,
    pub removed_at: Instant,
    pub target: GcTarget,
    pub action: GcAction,
    pub rows_deleted: i64,
    pub detail: Option<String>,
    pub logged_at: Instant,
}

/// A row of `gc_log` as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GcLogRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: GcLogEntry,
}

const SECURITY_COLUMNS: &str = "symbol, yahoo_symbol, isin, name, product_type, industry, country, fullExchangeName, \
     priority_multiplier, min_lot, allow_buy, allow_sell, currency, last_synced, min_portfolio_target, \
     max_portfolio_target, bucket_id, removed_at, created_at, updated_at";

fn security_from_row(row: &Row<'_>) -> rusqlite::Result<Security> {
    Ok(Security {
        symbol: row.get(0)?,
        yahoo_symbol: row.get(1)?,
        isin: row.get(2)?,
        name: row.get(3)?,
        product_type: row.get(4)?,
        industry: row.get(5)?,
        country: row.get(6)?,
        full_exchange_name: row.get(7)?,
        priority_multiplier: row.get(8)?,
        min_lot: row.get(9)?,
        allow_buy: row.get(10)?,
        allow_sell: row.get(11)?,
        currency: row.get(12)?,
        last_synced: row.get::<_, Option<Ts>>(13)?.map(|t| t.0),
        min_portfolio_target: row.get(14)?,
        max_portfolio_target: row.get(15)?,
        bucket_id: row.get(16)?,
        removed_at: row.get::<_, Option<Ts>>(17)?.map(|t| t.0),
        created_at: row.get::<_, Ts>(18)?.0,
        updated_at: row.get::<_, Ts>(19)?.0,
    })
}

/// Does `text` look like an ISIN (two letters, nine alphanumerics, one check digit)?
pub fn looks_like_isin(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 12
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..11].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[11].is_ascii_digit()
}

/// Securities: add, change, remove (with a grace period) and restore.
pub struct SecurityRepository<'c> {
    conn: &'c Connection,
}

impl<'c> SecurityRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        SecurityRepository { conn }
    }

    fn query(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Security>> {
        let sql = format!("SELECT {SECURITY_COLUMNS} FROM securities {filter}");
        let mut stmt = self.conn.prepare_cached(&sql).ctx(self.conn, "reading securities")?;
        let rows = stmt.query_map(params, security_from_row).ctx(self.conn, "reading securities")?;
        rows.collect::<rusqlite::Result<Vec<_>>>().ctx(self.conn, "reading securities")
    }

    /// The security, removed or not (check [`Security::in_universe`]). The symbol is normalised first.
    pub fn get(&self, symbol: &str) -> Result<Option<Security>> {
        Ok(self.query("WHERE symbol = ?1", [normalize_symbol(symbol)])?.pop())
    }

    /// By ISIN: the in-universe row first, then by symbol.
    pub fn get_by_isin(&self, isin: &str) -> Result<Option<Security>> {
        Ok(self
            .query("WHERE isin = ?1 ORDER BY removed_at IS NOT NULL, symbol LIMIT 1", [isin.trim().to_uppercase()])?
            .pop())
    }

    /// An ISIN-shaped identifier is looked up as an ISIN first; anything else as a symbol.
    pub fn get_by_identifier(&self, identifier: &str) -> Result<Option<Security>> {
        let id = identifier.trim().to_uppercase();
        if looks_like_isin(&id)
            && let Some(found) = self.get_by_isin(&id)?
        {
            return Ok(Some(found));
        }
        self.get(&id)
    }

    pub fn list_in_universe(&self) -> Result<Vec<Security>> {
        self.query("WHERE removed_at IS NULL ORDER BY symbol", [])
    }

    pub fn list_all(&self, include_removed: bool) -> Result<Vec<Security>> {
        if include_removed { self.query("ORDER BY symbol", []) } else { self.list_in_universe() }
    }

    pub fn list_by_bucket(&self, bucket_id: &str, in_universe_only: bool) -> Result<Vec<Security>> {
        if in_universe_only {
            self.query("WHERE bucket_id = ?1 AND removed_at IS NULL ORDER BY symbol", [bucket_id])
        } else {
            self.query("WHERE bucket_id = ?1 ORDER BY symbol", [bucket_id])
        }
    }

    /// Inserts a security. A symbol that was removed but not purged is restored with the given fields and keeps
    /// all its data (and its first `created_at`); a symbol already in the universe is refused.
    pub fn add(&self, security: &Security) -> Result<AddOutcome> {
        let symbol = normalize_symbol(&security.symbol);
        write_tx(self.conn, "adding a security", |tx| {
            let outcome = match SecurityRepository::new(tx).get(&symbol)? {
                Some(existing) if existing.in_universe() => {
                    return Err(StoreError::invalid(format!("security {symbol}"), "already in the universe"));
                }
                Some(_) => AddOutcome::Restored,
                None => AddOutcome::Inserted,
            };
            save(tx, &Security { symbol, removed_at: None, ..security.clone() })?;
            Ok(outcome)
        })
    }

    /// Applies a typed patch and sets `updated_at`. Returns false when the symbol is unknown.
    pub fn update(&self, symbol: &str, patch: &SecurityPatch, at: Instant) -> Result<bool> {
        let symbol = normalize_symbol(symbol);
        write_tx(self.conn, "updating a security", |tx| {
            let Some(mut s) = SecurityRepository::new(tx).get(&symbol)? else {
                return Ok(false);
            };
            let p = patch.clone();
            macro_rules! apply {
                ($($field:ident),+) => { $(if let Some(v) = p.$field { s.$field = v; })+ };
            }
            apply!(
                yahoo_symbol,
                isin,
                name,
                product_type,
                industry,
                country,
                full_exchange_name,
                priority_multiplier,
                min_lot,
                allow_buy,
                allow_sell,
                currency,
                last_synced,
                min_portfolio_target,
                max_portfolio_target,
                bucket_id
            );
            s.updated_at = at;
            save(tx, &s)?;
            Ok(true)
        })
    }

    /// Takes a security out of the universe; its data stays until GC (storage.md §10). Idempotent: a second call
    /// keeps the earlier instant. Returns false when the symbol is unknown.
    pub fn mark_removed(&self, symbol: &str, at: Instant) -> Result<bool> {
        let symbol = normalize_symbol(symbol);
        let known = self
            .conn
            .execute(
                "UPDATE securities SET removed_at = coalesce(removed_at, ?2), updated_at = ?2 WHERE symbol = ?1",
                params![symbol, Ts(at)],
            )
            .ctx(self.conn, "removing a security")?;
        Ok(known > 0)
    }

    /// Brings a removed (not yet purged) security back. Returns false when it is unknown or was not removed.
    pub fn restore(&self, symbol: &str, at: Instant) -> Result<bool> {
        let changed = self
            .conn
            .execute(
                "UPDATE securities SET removed_at = NULL, updated_at = ?2 WHERE symbol = ?1 AND removed_at IS NOT NULL",
                params![normalize_symbol(symbol), Ts(at)],
            )
            .ctx(self.conn, "restoring a security")?;
        Ok(changed > 0)
    }

    /// Symbols removed at or before `cutoff`, in symbol order, with their `removed_at`.
    pub fn gc_candidates(&self, cutoff: Instant) -> Result<Vec<(String, Instant)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT symbol, removed_at FROM securities WHERE removed_at IS NOT NULL AND removed_at <= ?1 ORDER BY symbol",
            )
            .ctx(self.conn, "finding GC candidates")?;
        let rows = stmt
            .query_map([Ts(cutoff)], |r| Ok((r.get(0)?, r.get::<_, Ts>(1)?.0)))
            .ctx(self.conn, "finding GC candidates")?;
        rows.collect::<rusqlite::Result<Vec<_>>>().ctx(self.conn, "finding GC candidates")
    }

    /// The `removed_at` of a symbol now (`None`: in the universe or unknown).
    pub fn removed_at(&self, symbol: &str) -> Result<Option<Instant>> {
        let found: Option<Option<Ts>> = self
            .conn
            .query_row("SELECT removed_at FROM securities WHERE symbol = ?1", [normalize_symbol(symbol)], |r| r.get(0))
            .optional()
            .ctx(self.conn, "reading removed_at")?;
        Ok(found.flatten().map(|t| t.0))
    }

    /// Deletes the security only if it is still removed at or before `cutoff`, and appends the final `gc_log` row,
    /// in one transaction. Returns whether the row was deleted.
    pub fn purge(&self, symbol: &str, cutoff: Instant, log_entry: &GcLogEntry) -> Result<bool> {
        write_tx(self.conn, "purging a security", |tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM securities WHERE symbol = ?1 AND removed_at IS NOT NULL AND removed_at <= ?2",
                    params![normalize_symbol(symbol), Ts(cutoff)],
                )
                .ctx(tx, "purging a security")?;
            if deleted > 0 {
                let entry = GcLogEntry { rows_deleted: deleted as i64, ..log_entry.clone() };
                insert_gc_log(tx, &entry)?;
            }
            Ok(deleted > 0)
        })
    }

    pub fn append_gc_log(&self, entry: &GcLogEntry) -> Result<i64> {
        insert_gc_log(self.conn, entry)
    }

    /// The newest `gc_log` rows (of one symbol if given), newest first.
    pub fn gc_log(&self, symbol: Option<&str>, limit: usize) -> Result<Vec<GcLogRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, run_at, symbol, removed_at, target, action, rows_deleted, detail, logged_at FROM gc_log \
                 WHERE ?1 IS NULL OR symbol = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .ctx(self.conn, "reading gc_log")?;
        let rows = stmt
            .query_map(params![symbol.map(normalize_symbol), limit as i64], |r| {
                Ok(GcLogRow {
                    id: r.get(0)?,
                    entry: GcLogEntry {
                        run_at: r.get::<_, Ts>(1)?.0,
                        symbol: r.get(2)?,
                        removed_at: r.get::<_, Ts>(3)?.0,
                        target: r.get(4)?,
                        action: r.get(5)?,
                        rows_deleted: r.get(6)?,
                        detail: r.get(7)?,
                        logged_at: r.get::<_, Ts>(8)?.0,
                    },
                })
            })
            .ctx(self.conn, "reading gc_log")?;
        rows.collect::<rusqlite::Result<Vec<_>>>().ctx(self.conn, "reading gc_log")
    }
}

/// Writes every column of a security: a new row, or an existing one (whose first `created_at` is kept).
fn save(conn: &Connection, s: &Security) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO securities ({SECURITY_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
             ON CONFLICT(symbol) DO UPDATE SET yahoo_symbol = excluded.yahoo_symbol, isin = excluded.isin, \
             name = excluded.name, product_type = excluded.product_type, industry = excluded.industry, \
             country = excluded.country, fullExchangeName = excluded.fullExchangeName, \
             priority_multiplier = excluded.priority_multiplier, min_lot = excluded.min_lot, \
             allow_buy = excluded.allow_buy, allow_sell = excluded.allow_sell, currency = excluded.currency, \
             last_synced = excluded.last_synced, min_portfolio_target = excluded.min_portfolio_target, \
             max_portfolio_target = excluded.max_portfolio_target, bucket_id = excluded.bucket_id, \
             removed_at = excluded.removed_at, updated_at = excluded.updated_at"
        ),
        params![
            s.symbol,
            s.yahoo_symbol,
            s.isin,
            s.name,
            s.product_type,
            s.industry,
            s.country,
            s.full_exchange_name,
            s.priority_multiplier,
            s.min_lot,
            s.allow_buy,
            s.allow_sell,
            s.currency,
            s.last_synced.map(Ts),
            s.min_portfolio_target,
            s.max_portfolio_target,
            s.bucket_id,
            s.removed_at.map(Ts),
            Ts(s.created_at),
            Ts(s.updated_at),
        ],
    )
    .ctx(conn, "writing a security")?;
    Ok(())
}

fn insert_gc_log(conn: &Connection, e: &GcLogEntry) -> Result<i64> {
    conn.execute(
        "INSERT INTO gc_log (run_at, symbol, removed_at, target, action, rows_deleted, detail, logged_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            Ts(e.run_at),
            e.symbol,
            Ts(e.removed_at),
            e.target,
            e.action,
            e.rows_deleted,
            e.detail,
            Ts(e.logged_at)
        ],
    )
    .ctx(conn, "appending to gc_log")?;
    Ok(conn.last_insert_rowid())
}

/// Which of the two group tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    Country,
    Industry,
}

impl GroupKind {
    /// Fixed SQL per kind: table and column names are never interpolated from input.
    fn select(self) -> &'static str {
        match self {
            GroupKind::Country => {
                "SELECT group_name, country_name FROM country_groups ORDER BY group_name, country_name"
            }
            GroupKind::Industry => {
                "SELECT group_name, industry_name FROM industry_groups ORDER BY group_name, industry_name"
            }
        }
    }
    fn delete(self) -> &'static str {
        match self {
            GroupKind::Country => "DELETE FROM country_groups WHERE group_name = ?1",
            GroupKind::Industry => "DELETE FROM industry_groups WHERE group_name = ?1",
        }
    }
    fn insert(self) -> &'static str {
        match self {
            GroupKind::Country => {
                "INSERT INTO country_groups (group_name, country_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)"
            }
            GroupKind::Industry => {
                "INSERT INTO industry_groups (group_name, industry_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)"
            }
        }
    }
}

/// The user's country and industry groups (group → members).
pub struct GroupingRepository<'c> {
    conn: &'c Connection,
}

impl<'c> GroupingRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        GroupingRepository { conn }
    }

    fn groups(&self, kind: GroupKind) -> Result<BTreeMap<String, Vec<String>>> {
        let mut stmt = self.conn.prepare_cached(kind.select()).ctx(self.conn, "reading groups")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .ctx(self.conn, "reading groups")?;
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            let (group, member) = row.ctx(self.conn, "reading groups")?;
            let members = groups.entry(group).or_default();
            if member != EMPTY_GROUP_MARKER {
                members.push(member);
            }
        }
        Ok(groups)
    }

    fn set_group(&self, kind: GroupKind, group: &str, members: &[String], at: Instant) -> Result<()> {
        if group.trim().is_empty() {
            return Err(StoreError::invalid("group name", "must not be empty"));
        }
        let mut unique: BTreeSet<&str> = members.iter().map(|m| m.trim()).filter(|m| !m.is_empty()).collect();
        if unique.is_empty() {
            unique.insert(EMPTY_GROUP_MARKER);
        }
        write_tx(self.conn, "saving a group", |tx| {
            tx.execute(kind.delete(), [group]).ctx(tx, "saving a group")?;
            let mut insert = tx.prepare_cached(kind.insert()).ctx(tx, "saving a group")?;
            for member in unique {
                insert.execute(params![group, member, Ts(at)]).ctx(tx, "saving a group")?;
            }
            Ok(())
        })
    }

    fn delete_group(&self, kind: GroupKind, group: &str) -> Result<usize> {
        self.conn.execute(kind.delete(), [group]).ctx(self.conn, "deleting a group")
    }

    /// Country groups with their members; empty groups are kept, the marker hidden.
    pub fn country_groups(&self) -> Result<BTreeMap<String, Vec<String>>> {
        self.groups(GroupKind::Country)
    }
    pub fn industry_groups(&self) -> Result<BTreeMap<String, Vec<String>>> {
        self.groups(GroupKind::Industry)
    }
    /// Replaces a group's members in one transaction (an empty list keeps the group with the marker).
    pub fn set_country_group(&self, group: &str, members: &[String], at: Instant) -> Result<()> {
        self.set_group(GroupKind::Country, group, members, at)
    }
    pub fn set_industry_group(&self, group: &str, members: &[String], at: Instant) -> Result<()> {
        self.set_group(GroupKind::Industry, group, members, at)
    }
    pub fn delete_country_group(&self, group: &str) -> Result<usize> {
        self.delete_group(GroupKind::Country, group)
    }
    pub fn delete_industry_group(&self, group: &str) -> Result<usize> {
        self.delete_group(GroupKind::Industry, group)
    }

    /// Distinct countries of in-universe securities.
    pub fn available_countries(&self) -> Result<Vec<String>> {
        self.distinct_values("SELECT DISTINCT country FROM securities WHERE removed_at IS NULL AND country IS NOT NULL")
    }

    /// Distinct industries of in-universe securities (the column holds comma-separated lists).
    pub fn available_industries(&self) -> Result<Vec<String>> {
        self.distinct_values(
            "SELECT DISTINCT industry FROM securities WHERE removed_at IS NULL AND industry IS NOT NULL",
        )
    }

    fn distinct_values(&self, sql: &'static str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(sql).ctx(self.conn, "reading securities")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ctx(self.conn, "reading securities")?;
        let mut values = BTreeSet::new();
        for row in rows {
            values.extend(split_industries(&row.ctx(self.conn, "reading securities")?).map(str::to_owned));
        }
        Ok(values.into_iter().collect())
    }
}
