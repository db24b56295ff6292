//! `history.db` — dated market data (storage.md §7.7): daily and monthly prices per symbol and FX rates. It
//! replaces the legacy per-symbol files. All three tables are `WITHOUT ROWID`, keyed by symbol and date.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::M;

use super::open::{DbSpec, STANDARD_PROFILE};

/// 16 KiB pages: fewer B-tree splits while years of prices are inserted, fewer reads per symbol range.
const HISTORY_PAGE_SIZE: i64 = 16384;
use super::values::{Day, Instant, normalize_symbol};
use super::{Result, SqlContext, StoreError, collect_rows, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045063;
CREATE TABLE daily_prices (
  symbol         TEXT NOT NULL CHECK (",
    sym!("symbol"),
    "),
  date           TEXT NOT NULL CHECK (",
    date!("date"),
    "),
  open           REAL CHECK (open > 0),
  high           REAL CHECK (high > 0),
  low            REAL CHECK (low > 0),
  close          REAL NOT NULL CHECK (close > 0),
  adjusted_close REAL CHECK (adjusted_close > 0),
  volume         INTEGER CHECK (volume >= 0),
  source         TEXT NOT NULL DEFAULT 'yahoo' CHECK (",
    non_empty!("source"),
    "),
  PRIMARY KEY (symbol, date)
) STRICT, WITHOUT ROWID;

CREATE TABLE monthly_prices (
  symbol        TEXT NOT NULL CHECK (",
    sym!("symbol"),
    "),
  year_month    TEXT NOT NULL CHECK (",
    year_month!("year_month"),
    "),
  avg_close     REAL NOT NULL CHECK (avg_close > 0),
  avg_adj_close REAL CHECK (avg_adj_close > 0),
  min_price     REAL CHECK (min_price > 0),
  max_price     REAL CHECK (max_price > 0),
  source        TEXT NOT NULL DEFAULT 'calculated' CHECK (",
    non_empty!("source"),
    "),
  PRIMARY KEY (symbol, year_month)
) STRICT, WITHOUT ROWID;

CREATE TABLE exchange_rates (
  from_currency TEXT NOT NULL CHECK (",
    cur!("from_currency"),
    "),
  to_currency   TEXT NOT NULL CHECK (",
    cur!("to_currency"),
    "),
  date          TEXT NOT NULL CHECK (",
    date!("date"),
    "),
  rate          REAL NOT NULL CHECK (rate > 0),
  source        TEXT NOT NULL CHECK (",
    non_empty!("source"),
    "),
  PRIMARY KEY (from_currency, to_currency, date),
  CHECK (from_currency <> to_currency)
) STRICT, WITHOUT ROWID;
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "history",
    application_id: 0x4154_5207,
    profile: STANDARD_PROFILE,
    page_size: HISTORY_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["daily_prices", "exchange_rates", "monthly_prices"],
};

/// One trading day of a security.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DailyBar {
    pub date: NaiveDate,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    /// Split-adjusted close: the engine's price series.
    pub close: f64,
    pub adjusted_close: Option<f64>,
    pub volume: Option<i64>,
    pub source: String,
}

/// One month derived from the daily bars.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonthlyBar {
    /// `YYYY-MM`.
    pub year_month: String,
    pub avg_close: f64,
    pub avg_adj_close: Option<f64>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    pub source: String,
}

/// Rows GC deleted from history.db for one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct HistoryPurge {
    pub daily_prices: usize,
    pub monthly_prices: usize,
}

const DAILY_COLUMNS: &str = "date, open, high, low, close, adjusted_close, volume, source";

fn daily_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DailyBar> {
    Ok(DailyBar {
        date: r.get::<_, Day>(0)?.0,
        open: r.get(1)?,
        high: r.get(2)?,
        low: r.get(3)?,
        close: r.get(4)?,
        adjusted_close: r.get(5)?,
        volume: r.get(6)?,
        source: r.get(7)?,
    })
}

/// Daily and monthly prices.
pub struct PriceHistoryRepository<'c> {
    conn: &'c Connection,
}

impl<'c> PriceHistoryRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        PriceHistoryRepository { conn }
    }

    /// Inserts or updates bars of one symbol in one transaction. Returns the number of bars written.
    pub fn upsert_daily(&self, symbol: &str, bars: &[DailyBar]) -> Result<usize> {
        let symbol = normalize_symbol(symbol);
        write_tx(self.conn, "writing daily prices", |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "INSERT INTO daily_prices (symbol, {DAILY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT(symbol, date) DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low, \
                     close = excluded.close, adjusted_close = excluded.adjusted_close, volume = excluded.volume, \
                     source = excluded.source"
                ))
                .ctx(conn, "writing daily prices")?;
            for b in bars {
                stmt.execute(params![
                    symbol,
                    Day(b.date),
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.adjusted_close,
                    b.volume,
                    b.source
                ])
                .ctx(conn, "writing daily prices")?;
            }
            Ok(bars.len())
        })
    }

    /// Bars dated in `[from, to]`, oldest first (portfolio.md §4.0).
    pub fn daily(&self, symbol: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<DailyBar>> {
        collect_rows(
            self.conn,
            "reading daily prices",
            &format!(
                "SELECT {DAILY_COLUMNS} FROM daily_prices WHERE symbol = ?1 AND date BETWEEN ?2 AND ?3 ORDER BY date"
            ),
            params![normalize_symbol(symbol), Day(from), Day(to)],
            daily_from_row,
        )
    }

    /// The newest `n` bars, oldest first.
    pub fn last_daily(&self, symbol: &str, n: usize) -> Result<Vec<DailyBar>> {
        let mut bars = collect_rows(
            self.conn,
            "reading daily prices",
            &format!("SELECT {DAILY_COLUMNS} FROM daily_prices WHERE symbol = ?1 ORDER BY date DESC LIMIT ?2"),
            params![normalize_symbol(symbol), n as i64],
            daily_from_row,
        )?;
        bars.reverse();
        Ok(bars)
    }

    /// The newest close and its date.
    pub fn latest_close(&self, symbol: &str) -> Result<Option<(NaiveDate, f64)>> {
        self.conn
            .query_row(
                "SELECT date, close FROM daily_prices WHERE symbol = ?1 ORDER BY date DESC LIMIT 1",
                [normalize_symbol(symbol)],
                |r| Ok((r.get::<_, Day>(0)?.0, r.get(1)?)),
            )
            .optional()
            .ctx(self.conn, "reading the latest close")
    }

    /// Closes of several symbols on one date (symbols without a bar that day are absent).
    pub fn closes_on(&self, date: NaiveDate, symbols: &[String]) -> Result<BTreeMap<String, f64>> {
        let mut closes = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT close FROM daily_prices WHERE symbol = ?1 AND date = ?2")
            .ctx(self.conn, "reading closes")?;
        for symbol in symbols {
            let symbol = normalize_symbol(symbol);
            if let Some(close) =
                stmt.query_row(params![symbol, Day(date)], |r| r.get(0)).optional().ctx(self.conn, "reading closes")?
            {
                closes.insert(symbol, close);
            }
        }
        Ok(closes)
    }

    /// Recomputes every month of a symbol from its daily bars, in one transaction: mean close, mean adjusted
    /// close, lowest low (or close), highest high (or close). Returns the number of months.
    pub fn rebuild_monthly(&self, symbol: &str) -> Result<usize> {
        let symbol = normalize_symbol(symbol);
        write_tx(self.conn, "rebuilding monthly prices", |conn| {
            conn.execute("DELETE FROM monthly_prices WHERE symbol = ?1", [&symbol])
                .ctx(conn, "rebuilding monthly prices")?;
            conn.execute(
                "INSERT INTO monthly_prices (symbol, year_month, avg_close, avg_adj_close, min_price, max_price, source) \
                 SELECT symbol, substr(date, 1, 7), avg(close), avg(adjusted_close), min(coalesce(low, close)), \
                 max(coalesce(high, close)), 'calculated' FROM daily_prices WHERE symbol = ?1 GROUP BY substr(date, 1, 7)",
                [&symbol],
            )
            .ctx(conn, "rebuilding monthly prices")
        })
    }

    /// The newest `last_n` months, oldest first.
    pub fn monthly(&self, symbol: &str, last_n: usize) -> Result<Vec<MonthlyBar>> {
        let mut months = collect_rows(
            self.conn,
            "reading monthly prices",
            "SELECT year_month, avg_close, avg_adj_close, min_price, max_price, source FROM monthly_prices \
             WHERE symbol = ?1 ORDER BY year_month DESC LIMIT ?2",
            params![normalize_symbol(symbol), last_n as i64],
            |r| {
                Ok(MonthlyBar {
                    year_month: r.get(0)?,
                    avg_close: r.get(1)?,
                    avg_adj_close: r.get(2)?,
                    min_price: r.get(3)?,
                    max_price: r.get(4)?,
                    source: r.get(5)?,
                })
            },
        )?;
        months.reverse();
        Ok(months)
    }

    pub fn has_monthly(&self, symbol: &str) -> Result<bool> {
        let found = self
            .conn
            .query_row("SELECT 1 FROM monthly_prices WHERE symbol = ?1 LIMIT 1", [normalize_symbol(symbol)], |_| Ok(()))
            .optional()
            .ctx(self.conn, "reading monthly prices")?;
        Ok(found.is_some())
    }

    /// Every symbol with daily or monthly prices.
    pub fn symbols(&self) -> Result<Vec<String>> {
        collect_rows(
            self.conn,
            "listing price symbols",
            "SELECT DISTINCT symbol FROM daily_prices UNION SELECT DISTINCT symbol FROM monthly_prices ORDER BY 1",
            [],
            |r| r.get(0),
        )
    }

    /// GC: a symbol's daily and monthly prices, in one transaction.
    pub fn purge_symbol(&self, symbol: &str) -> Result<HistoryPurge> {
        let symbol = normalize_symbol(symbol);
        write_tx(self.conn, "purging prices", |conn| {
            Ok(HistoryPurge {
                daily_prices: conn
                    .execute("DELETE FROM daily_prices WHERE symbol = ?1", [&symbol])
                    .ctx(conn, "purging prices")?,
                monthly_prices: conn
                    .execute("DELETE FROM monthly_prices WHERE symbol = ?1", [&symbol])
                    .ctx(conn, "purging prices")?,
            })
        })
    }
}

/// One observed FX rate: units of `to` per 1 `from`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExchangeRate {
    pub from_currency: String,
    pub to_currency: String,
    pub date: NaiveDate,
    pub rate: f64,
    pub source: String,
}

/// FX rates by day.
pub struct ExchangeRateRepository<'c> {
    conn: &'c Connection,
}

impl<'c> ExchangeRateRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        ExchangeRateRepository { conn }
    }

    pub fn upsert(&self, from: &str, to: &str, date: NaiveDate, rate: f64, source: &str) -> Result<()> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(StoreError::invalid(
                format!("rate {from}→{to} on {date}"),
                format!("{rate} is not a positive number"),
            ));
        }
        self.conn
            .execute(
                "INSERT INTO exchange_rates (from_currency, to_currency, date, rate, source) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(from_currency, to_currency, date) DO UPDATE SET rate = excluded.rate, source = excluded.source",
                params![from, to, Day(date), rate, source],
            )
            .ctx(self.conn, "writing an exchange rate")?;
        Ok(())
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<ExchangeRate>> {
        collect_rows(
            self.conn,
            "reading exchange rates",
            &format!("SELECT from_currency, to_currency, date, rate, source FROM exchange_rates {filter}"),
            params,
            |r| {
                Ok(ExchangeRate {
                    from_currency: r.get(0)?,
                    to_currency: r.get(1)?,
                    date: r.get::<_, Day>(2)?.0,
                    rate: r.get(3)?,
                    source: r.get(4)?,
                })
            },
        )
    }

    /// The newest rate if its date is not older than `max_age` before `now` (dates count from their start).
    pub fn latest(
        &self,
        from: &str,
        to: &str,
        max_age: chrono::Duration,
        now: Instant,
    ) -> Result<Option<ExchangeRate>> {
        let oldest = (now - max_age).date_naive();
        Ok(self
            .select(
                "WHERE from_currency = ?1 AND to_currency = ?2 AND date >= ?3 ORDER BY date DESC LIMIT 1",
                params![from, to, Day(oldest)],
            )?
            .pop())
    }

    pub fn on_or_before(&self, from: &str, to: &str, date: NaiveDate) -> Result<Option<ExchangeRate>> {
        Ok(self
            .select(
                "WHERE from_currency = ?1 AND to_currency = ?2 AND date <= ?3 ORDER BY date DESC LIMIT 1",
                params![from, to, Day(date)],
            )?
            .pop())
    }

    pub fn range(&self, from: &str, to: &str, start: NaiveDate, end: NaiveDate) -> Result<Vec<ExchangeRate>> {
        self.select(
            "WHERE from_currency = ?1 AND to_currency = ?2 AND date BETWEEN ?3 AND ?4 ORDER BY date",
            params![from, to, Day(start), Day(end)],
        )
    }
}
