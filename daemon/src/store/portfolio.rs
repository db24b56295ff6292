//! `portfolio.db` — the current portfolio (storage.md §7.4): positions copied from the broker, scores, cached
//! metrics and daily snapshots. Everything but the snapshots can be rebuilt from the broker and `history.db`.

use chrono::{Duration, NaiveDate};
use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::M;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::ledger::{Modes, TradeRepository};
use super::open::{DEFAULT_PAGE_SIZE, DbSpec, STANDARD_PROFILE};
use super::values::{Day, Instant, Side, Ts, normalize_symbol};
use super::{Result, SqlContext, collect_rows, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045060;
CREATE TABLE positions (
  symbol             TEXT NOT NULL PRIMARY KEY CHECK (",
    sym!("symbol"),
    "),
  isin               TEXT,
  quantity           REAL NOT NULL,
  avg_price          REAL NOT NULL CHECK (avg_price >= 0),
  current_price      REAL CHECK (current_price > 0),
  currency           TEXT NOT NULL DEFAULT 'EUR' CHECK (",
    cur!("currency"),
    "),
  currency_rate      REAL NOT NULL DEFAULT 1.0 CHECK (currency_rate > 0),
  market_value_eur   REAL,
  cost_basis_eur     REAL,
  unrealized_pnl     REAL,
  unrealized_pnl_pct REAL,
  last_updated       TEXT CHECK (",
    ts!("last_updated"),
    "),
  first_bought_at    TEXT CHECK (",
    ts!("first_bought_at"),
    "),
  last_sold_at       TEXT CHECK (",
    ts!("last_sold_at"),
    "),
  bucket_id          TEXT NOT NULL DEFAULT 'core'
) STRICT;
CREATE INDEX idx_positions_bucket ON positions(bucket_id);
CREATE INDEX idx_positions_isin ON positions(isin) WHERE isin IS NOT NULL;

CREATE TABLE scores (
  symbol                TEXT NOT NULL PRIMARY KEY CHECK (",
    sym!("symbol"),
    "),
  total_score           REAL NOT NULL CHECK (total_score BETWEEN 0 AND 1),
  long_term_score       REAL CHECK (long_term_score BETWEEN 0 AND 1),
  fundamentals_score    REAL CHECK (fundamentals_score BETWEEN 0 AND 1),
  opportunity_score     REAL CHECK (opportunity_score BETWEEN 0 AND 1),
  dividends_score       REAL CHECK (dividends_score BETWEEN 0 AND 1),
  short_term_score      REAL CHECK (short_term_score BETWEEN 0 AND 1),
  technicals_score      REAL CHECK (technicals_score BETWEEN 0 AND 1),
  opinion_score         REAL CHECK (opinion_score BETWEEN 0 AND 1),
  diversification_score REAL CHECK (diversification_score BETWEEN 0 AND 1),
  quality_score         REAL CHECK (quality_score BETWEEN 0 AND 1),
  sub_scores            TEXT CHECK (sub_scores IS NULL OR json_valid(sub_scores)),
  cagr_5y REAL, cagr_10y REAL, sharpe REAL, sortino REAL, max_drawdown REAL, volatility REAL, rsi_14 REAL,
  ema_200 REAL, bollinger_position REAL, below_52w_high REAL, momentum REAL, dividend_yield REAL,
  five_year_avg_dividend_yield REAL, payout_ratio REAL, financial_strength REAL, consistency_score REAL,
  dividend_consistency REAL,
  defaulted_inputs      TEXT,
  history_days          INTEGER CHECK (history_days >= 0),
  history_months        INTEGER CHECK (history_months >= 0),
  price_date            TEXT CHECK (",
    date!("price_date"),
    "),
  calculated_at         TEXT NOT NULL CHECK (",
    ts!("calculated_at"),
    ")
) STRICT;
CREATE INDEX idx_scores_total ON scores(total_score DESC);

CREATE TABLE calculated_metrics (
  symbol        TEXT NOT NULL CHECK (",
    sym!("symbol"),
    "),
  metric        TEXT NOT NULL CHECK (",
    non_empty!("metric"),
    "),
  value         REAL NOT NULL,
  calculated_at TEXT NOT NULL CHECK (",
    ts!("calculated_at"),
    "),
  expires_at    TEXT CHECK (",
    ts!("expires_at"),
    "),
  source        TEXT NOT NULL DEFAULT 'calculated' CHECK (",
    non_empty!("source"),
    "),
  PRIMARY KEY (symbol, metric)
) STRICT;
CREATE INDEX idx_metrics_expires ON calculated_metrics(expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE portfolio_snapshots (
  date            TEXT NOT NULL PRIMARY KEY CHECK (",
    date!("date"),
    "),
  total_value     REAL NOT NULL,
  cash_balance    REAL NOT NULL,
  invested_value  REAL,
  unrealized_pnl  REAL,
  geo_eu_pct      REAL,
  geo_asia_pct    REAL,
  geo_us_pct      REAL,
  position_count  INTEGER CHECK (position_count >= 0),
  annual_turnover REAL,
  created_at      TEXT NOT NULL CHECK (",
    ts!("created_at"),
    ")
) STRICT;
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "portfolio",
    application_id: 0x4154_5204,
    profile: STANDARD_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["calculated_metrics", "portfolio_snapshots", "positions", "scores"],
};

/// A position as the broker reports it, with its last valuation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Position {
    pub symbol: String,
    pub isin: Option<String>,
    pub quantity: f64,
    pub avg_price: f64,
    pub current_price: Option<f64>,
    pub currency: String,
    /// Units of `currency` per 1 EUR at the last valuation.
    pub currency_rate: f64,
    pub market_value_eur: Option<f64>,
    pub cost_basis_eur: Option<f64>,
    pub unrealized_pnl: Option<f64>,
    pub unrealized_pnl_pct: Option<f64>,
    pub last_updated: Option<Instant>,
    pub first_bought_at: Option<Instant>,
    pub last_sold_at: Option<Instant>,
    pub bucket_id: String,
}

const POSITION_COLUMNS: &str = "symbol, isin, quantity, avg_price, current_price, currency, currency_rate, \
     market_value_eur, cost_basis_eur, unrealized_pnl, unrealized_pnl_pct, last_updated, first_bought_at, last_sold_at, bucket_id";

fn opt_ts(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Instant>> {
    Ok(row.get::<_, Option<Ts>>(i)?.map(|t| t.0))
}

fn position_from_row(row: &Row<'_>) -> rusqlite::Result<Position> {
    Ok(Position {
        symbol: row.get(0)?,
        isin: row.get(1)?,
        quantity: row.get(2)?,
        avg_price: row.get(3)?,
        current_price: row.get(4)?,
        currency: row.get(5)?,
        currency_rate: row.get(6)?,
        market_value_eur: row.get(7)?,
        cost_basis_eur: row.get(8)?,
        unrealized_pnl: row.get(9)?,
        unrealized_pnl_pct: row.get(10)?,
        last_updated: opt_ts(row, 11)?,
        first_bought_at: opt_ts(row, 12)?,
        last_sold_at: opt_ts(row, 13)?,
        bucket_id: row.get(14)?,
    })
}

/// Positions: the broker's holdings.
pub struct PositionRepository<'c> {
    conn: &'c Connection,
}

impl<'c> PositionRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        PositionRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Position>> {
        collect_rows(
            self.conn,
            "reading positions",
            &format!("SELECT {POSITION_COLUMNS} FROM positions {filter}"),
            params,
            position_from_row,
        )
    }

    pub fn all(&self) -> Result<Vec<Position>> {
        self.select("ORDER BY symbol", [])
    }
    pub fn get(&self, symbol: &str) -> Result<Option<Position>> {
        Ok(self.select("WHERE symbol = ?1", [normalize_symbol(symbol)])?.pop())
    }
    pub fn get_by_isin(&self, isin: &str) -> Result<Option<Position>> {
        Ok(self.select("WHERE isin = ?1 ORDER BY symbol LIMIT 1", [isin])?.pop())
    }
    /// ISIN-shaped identifiers are looked up as ISINs first, anything else as a symbol.
    pub fn get_by_identifier(&self, identifier: &str) -> Result<Option<Position>> {
        let id = identifier.trim().to_uppercase();
        if super::universe::looks_like_isin(&id)
            && let Some(found) = self.get_by_isin(&id)?
        {
            return Ok(Some(found));
        }
        self.get(&id)
    }
    pub fn count(&self) -> Result<i64> {
        self.conn.query_row("SELECT count(*) FROM positions", [], |r| r.get(0)).ctx(self.conn, "counting positions")
    }
    /// Σ market value (EUR) of the positions that have one.
    pub fn total_value_eur(&self) -> Result<f64> {
        Ok(self.all()?.iter().filter_map(|p| p.market_value_eur).sum())
    }

    pub fn upsert(&self, p: &Position) -> Result<()> {
        self.conn
            .execute(
                &format!(
                    "INSERT INTO positions ({POSITION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                     ON CONFLICT(symbol) DO UPDATE SET isin = excluded.isin, quantity = excluded.quantity, \
                     avg_price = excluded.avg_price, current_price = excluded.current_price, currency = excluded.currency, \
                     currency_rate = excluded.currency_rate, market_value_eur = excluded.market_value_eur, \
                     cost_basis_eur = excluded.cost_basis_eur, unrealized_pnl = excluded.unrealized_pnl, \
                     unrealized_pnl_pct = excluded.unrealized_pnl_pct, last_updated = excluded.last_updated, \
                     first_bought_at = excluded.first_bought_at, last_sold_at = excluded.last_sold_at, \
                     bucket_id = excluded.bucket_id"
                ),
                params![
                    normalize_symbol(&p.symbol),
                    p.isin,
                    p.quantity,
                    p.avg_price,
                    p.current_price,
                    p.currency,
                    p.currency_rate,
                    p.market_value_eur,
                    p.cost_basis_eur,
                    p.unrealized_pnl,
                    p.unrealized_pnl_pct,
                    p.last_updated.map(Ts),
                    p.first_bought_at.map(Ts),
                    p.last_sold_at.map(Ts),
                    p.bucket_id,
                ],
            )
            .ctx(self.conn, "writing a position")?;
        Ok(())
    }

    /// The broker's view replaces ours in one transaction: reported positions are upserted, others deleted.
    pub fn replace_all(&self, positions: &[Position]) -> Result<()> {
        write_tx(self.conn, "replacing positions", |conn| {
            let repo = PositionRepository::new(conn);
            let keep: Vec<String> = positions.iter().map(|p| normalize_symbol(&p.symbol)).collect();
            for p in positions {
                repo.upsert(p)?;
            }
            for existing in repo.all()? {
                if !keep.contains(&existing.symbol) {
                    repo.delete(&existing.symbol)?;
                }
            }
            Ok(())
        })
    }

    pub fn delete(&self, symbol: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM positions WHERE symbol = ?1", [normalize_symbol(symbol)])
            .ctx(self.conn, "deleting a position")?;
        Ok(n > 0)
    }

    /// Revalues a position at `price` (in its currency) and `rate` (units per EUR).
    pub fn update_price(&self, symbol: &str, price: f64, rate: f64, at: Instant) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE positions SET current_price = ?2, currency_rate = ?3, market_value_eur = quantity * ?2 / ?3, \
                 unrealized_pnl = (?2 - avg_price) * quantity / ?3, \
                 unrealized_pnl_pct = CASE WHEN avg_price = 0 THEN NULL ELSE (?2 - avg_price) / avg_price END, \
                 last_updated = ?4 WHERE symbol = ?1",
                params![normalize_symbol(symbol), price, rate, Ts(at)],
            )
            .ctx(self.conn, "revaluing a position")?;
        Ok(n > 0)
    }

    pub fn set_last_sold_at(&self, symbol: &str, at: Instant) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE positions SET last_sold_at = ?2 WHERE symbol = ?1",
                params![normalize_symbol(symbol), Ts(at)],
            )
            .ctx(self.conn, "writing last_sold_at")?;
        Ok(n > 0)
    }

    /// The held quantity (GC refuses to purge a held security).
    pub fn quantity(&self, symbol: &str) -> Result<Option<f64>> {
        self.conn
            .query_row("SELECT quantity FROM positions WHERE symbol = ?1", [normalize_symbol(symbol)], |r| r.get(0))
            .optional()
            .ctx(self.conn, "reading a quantity")
    }

    /// Deletes the position only if its quantity is zero (GC).
    pub fn delete_if_zero(&self, symbol: &str) -> Result<usize> {
        self.conn
            .execute("DELETE FROM positions WHERE symbol = ?1 AND quantity = 0", [normalize_symbol(symbol)])
            .ctx(self.conn, "deleting a position")
    }
}

/// A security's score (portfolio.md §5.4).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Score {
    pub symbol: String,
    pub total_score: f64,
    pub long_term_score: Option<f64>,
    pub fundamentals_score: Option<f64>,
    pub opportunity_score: Option<f64>,
    pub dividends_score: Option<f64>,
    pub short_term_score: Option<f64>,
    pub technicals_score: Option<f64>,
    pub opinion_score: Option<f64>,
    pub diversification_score: Option<f64>,
    pub quality_score: Option<f64>,
    /// JSON object group → component → value.
    pub sub_scores: Option<String>,
    pub cagr_5y: Option<f64>,
    pub cagr_10y: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub volatility: Option<f64>,
    pub rsi_14: Option<f64>,
    pub ema_200: Option<f64>,
    pub bollinger_position: Option<f64>,
    pub below_52w_high: Option<f64>,
    pub momentum: Option<f64>,
    pub dividend_yield: Option<f64>,
    pub five_year_avg_dividend_yield: Option<f64>,
    pub payout_ratio: Option<f64>,
    pub financial_strength: Option<f64>,
    pub consistency_score: Option<f64>,
    pub dividend_consistency: Option<f64>,
    pub defaulted_inputs: Option<String>,
    pub history_days: Option<i64>,
    pub history_months: Option<i64>,
    pub price_date: Option<NaiveDate>,
    pub calculated_at: Option<Instant>,
}

/// Declares the score columns once: the SELECT list, the row mapping and the INSERT all come from it.
macro_rules! score_columns {
    ($($field:ident),+ $(,)?) => {
        const SCORE_FLOAT_COLUMNS: &[&str] = &[$(stringify!($field)),+];

        fn score_floats(s: &Score) -> Vec<Option<f64>> {
            vec![$(s.$field),+]
        }

        fn set_score_floats(s: &mut Score, values: &[Option<f64>]) {
            let mut it = values.iter();
            $(s.$field = *it.next().expect("one value per column");)+
        }
    };
}

score_columns!(
    long_term_score,
    fundamentals_score,
    opportunity_score,
    dividends_score,
    short_term_score,
    technicals_score,
    opinion_score,
    diversification_score,
    quality_score,
    cagr_5y,
    cagr_10y,
    sharpe,
    sortino,
    max_drawdown,
    volatility,
    rsi_14,
    ema_200,
    bollinger_position,
    below_52w_high,
    momentum,
    dividend_yield,
    five_year_avg_dividend_yield,
    payout_ratio,
    financial_strength,
    consistency_score,
    dividend_consistency
);

fn score_column_list() -> String {
    let mut cols = vec!["symbol", "total_score"];
    cols.extend_from_slice(SCORE_FLOAT_COLUMNS);
    cols.extend_from_slice(&[
        "sub_scores",
        "defaulted_inputs",
        "history_days",
        "history_months",
        "price_date",
        "calculated_at",
    ]);
    cols.join(", ")
}

fn score_from_row(row: &Row<'_>) -> rusqlite::Result<Score> {
    let n = SCORE_FLOAT_COLUMNS.len();
    let floats = (0..n).map(|i| row.get::<_, Option<f64>>(2 + i)).collect::<rusqlite::Result<Vec<_>>>()?;
    let mut score = Score {
        symbol: row.get(0)?,
        total_score: row.get(1)?,
        sub_scores: row.get(2 + n)?,
        defaulted_inputs: row.get(3 + n)?,
        history_days: row.get(4 + n)?,
        history_months: row.get(5 + n)?,
        price_date: row.get::<_, Option<Day>>(6 + n)?.map(|d| d.0),
        calculated_at: opt_ts(row, 7 + n)?,
        ..Score::default()
    };
    set_score_floats(&mut score, &floats);
    Ok(score)
}

/// A cached metric with its expiry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metric {
    pub symbol: String,
    pub metric: String,
    pub value: f64,
    pub calculated_at: Instant,
    pub expires_at: Option<Instant>,
    pub source: String,
}

/// Rows GC deleted from portfolio.db for one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ScorePurge {
    pub scores: usize,
    pub calculated_metrics: usize,
}

/// Scores and cached metrics.
pub struct ScoreRepository<'c> {
    conn: &'c Connection,
}

impl<'c> ScoreRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        ScoreRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Score>> {
        collect_rows(
            self.conn,
            "reading scores",
            &format!("SELECT {} FROM scores {filter}", score_column_list()),
            params,
            score_from_row,
        )
    }

    pub fn get(&self, symbol: &str) -> Result<Option<Score>> {
        Ok(self.select("WHERE symbol = ?1", [normalize_symbol(symbol)])?.pop())
    }
    pub fn all(&self) -> Result<Vec<Score>> {
        self.select("ORDER BY symbol", [])
    }
    pub fn top(&self, limit: usize) -> Result<Vec<Score>> {
        self.select("ORDER BY total_score DESC, symbol LIMIT ?1", [limit as i64])
    }

    /// Replaces a security's score row (every column named).
    pub fn replace(&self, score: &Score, at: Instant) -> Result<()> {
        let columns = score_column_list();
        let placeholders = (1..=columns.split(", ").count()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut values: Vec<rusqlite::types::Value> =
            vec![normalize_symbol(&score.symbol).into(), score.total_score.into()];
        values.extend(score_floats(score).into_iter().map(rusqlite::types::Value::from));
        values.push(score.sub_scores.clone().into());
        values.push(score.defaulted_inputs.clone().into());
        values.push(score.history_days.into());
        values.push(score.history_months.into());
        values.push(score.price_date.map(|d| d.format("%Y-%m-%d").to_string()).into());
        values.push(super::values::format_instant(score.calculated_at.unwrap_or(at)).into());
        self.conn
            .execute(
                &format!("INSERT OR REPLACE INTO scores ({columns}) VALUES ({placeholders})"),
                rusqlite::params_from_iter(values),
            )
            .ctx(self.conn, "writing a score")?;
        Ok(())
    }

    pub fn delete(&self, symbol: &str) -> Result<usize> {
        self.conn
            .execute("DELETE FROM scores WHERE symbol = ?1", [normalize_symbol(symbol)])
            .ctx(self.conn, "deleting a score")
    }
    pub fn delete_all(&self) -> Result<usize> {
        self.conn.execute("DELETE FROM scores", []).ctx(self.conn, "deleting scores")
    }

    pub fn put_metric(&self, m: &Metric) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO calculated_metrics (symbol, metric, value, calculated_at, expires_at, source) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(symbol, metric) DO UPDATE SET value = excluded.value, \
                 calculated_at = excluded.calculated_at, expires_at = excluded.expires_at, source = excluded.source",
                params![
                    normalize_symbol(&m.symbol),
                    m.metric,
                    m.value,
                    Ts(m.calculated_at),
                    m.expires_at.map(Ts),
                    m.source
                ],
            )
            .ctx(self.conn, "writing a metric")?;
        Ok(())
    }

    fn metrics_where(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Metric>> {
        collect_rows(
            self.conn,
            "reading metrics",
            &format!(
                "SELECT symbol, metric, value, calculated_at, expires_at, source FROM calculated_metrics {filter}"
            ),
            params,
            |r| {
                Ok(Metric {
                    symbol: r.get(0)?,
                    metric: r.get(1)?,
                    value: r.get(2)?,
                    calculated_at: r.get::<_, Ts>(3)?.0,
                    expires_at: opt_ts(r, 4)?,
                    source: r.get(5)?,
                })
            },
        )
    }

    /// A symbol's unexpired metrics.
    pub fn metrics(&self, symbol: &str, now: Instant) -> Result<Vec<Metric>> {
        self.metrics_where(
            "WHERE symbol = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY metric",
            params![normalize_symbol(symbol), Ts(now)],
        )
    }

    pub fn metric(&self, symbol: &str, metric: &str, now: Instant) -> Result<Option<Metric>> {
        Ok(self
            .metrics_where(
                "WHERE symbol = ?1 AND metric = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                params![normalize_symbol(symbol), metric, Ts(now)],
            )?
            .pop())
    }

    pub fn delete_expired_metrics(&self, now: Instant) -> Result<usize> {
        self.conn
            .execute("DELETE FROM calculated_metrics WHERE expires_at IS NOT NULL AND expires_at <= ?1", [Ts(now)])
            .ctx(self.conn, "deleting expired metrics")
    }

    /// GC: a symbol's scores and metrics in one transaction.
    pub fn purge_symbol(&self, symbol: &str) -> Result<ScorePurge> {
        let symbol = normalize_symbol(symbol);
        write_tx(self.conn, "purging scores", |conn| {
            Ok(ScorePurge {
                scores: conn.execute("DELETE FROM scores WHERE symbol = ?1", [&symbol]).ctx(conn, "purging scores")?,
                calculated_metrics: conn
                    .execute("DELETE FROM calculated_metrics WHERE symbol = ?1", [&symbol])
                    .ctx(conn, "purging metrics")?,
            })
        })
    }
}

/// One day's portfolio totals (portfolio.md §10.1).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub date: NaiveDate,
    pub total_value: f64,
    pub cash_balance: f64,
    pub invested_value: Option<f64>,
    pub unrealized_pnl: Option<f64>,
    pub geo_eu_pct: Option<f64>,
    pub geo_asia_pct: Option<f64>,
    pub geo_us_pct: Option<f64>,
    pub position_count: Option<i64>,
    pub annual_turnover: Option<f64>,
    pub created_at: Instant,
}

const SNAPSHOT_COLUMNS: &str = "date, total_value, cash_balance, invested_value, unrealized_pnl, geo_eu_pct, geo_asia_pct, \
     geo_us_pct, position_count, annual_turnover, created_at";

fn snapshot_from_row(row: &Row<'_>) -> rusqlite::Result<Snapshot> {
    Ok(Snapshot {
        date: row.get::<_, Day>(0)?.0,
        total_value: row.get(1)?,
        cash_balance: row.get(2)?,
        invested_value: row.get(3)?,
        unrealized_pnl: row.get(4)?,
        geo_eu_pct: row.get(5)?,
        geo_asia_pct: row.get(6)?,
        geo_us_pct: row.get(7)?,
        position_count: row.get(8)?,
        annual_turnover: row.get(9)?,
        created_at: row.get::<_, Ts>(10)?.0,
    })
}

/// Daily snapshots.
pub struct PortfolioRepository<'c> {
    conn: &'c Connection,
}

impl<'c> PortfolioRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        PortfolioRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Snapshot>> {
        collect_rows(
            self.conn,
            "reading snapshots",
            &format!("SELECT {SNAPSHOT_COLUMNS} FROM portfolio_snapshots {filter}"),
            params,
            snapshot_from_row,
        )
    }

    /// One row per date: a second snapshot of the same date replaces the first.
    pub fn upsert(&self, s: &Snapshot) -> Result<()> {
        self.conn
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO portfolio_snapshots ({SNAPSHOT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                params![
                    Day(s.date),
                    s.total_value,
                    s.cash_balance,
                    s.invested_value,
                    s.unrealized_pnl,
                    s.geo_eu_pct,
                    s.geo_asia_pct,
                    s.geo_us_pct,
                    s.position_count,
                    s.annual_turnover,
                    Ts(s.created_at)
                ],
            )
            .ctx(self.conn, "writing a snapshot")?;
        Ok(())
    }

    pub fn get(&self, date: NaiveDate) -> Result<Option<Snapshot>> {
        Ok(self.select("WHERE date = ?1", [Day(date)])?.pop())
    }
    pub fn latest(&self) -> Result<Option<Snapshot>> {
        Ok(self.select("ORDER BY date DESC LIMIT 1", [])?.pop())
    }
    /// The newest `days` snapshots, oldest first.
    pub fn history(&self, days: usize) -> Result<Vec<Snapshot>> {
        let mut rows = self.select("ORDER BY date DESC LIMIT ?1", [days as i64])?;
        rows.reverse();
        Ok(rows)
    }
    pub fn range(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<Snapshot>> {
        self.select("WHERE date BETWEEN ?1 AND ?2 ORDER BY date", params![Day(start), Day(end)])
    }
    pub fn latest_cash_balance(&self) -> Result<Option<f64>> {
        Ok(self.latest()?.map(|s| s.cash_balance))
    }
    /// Change of `total_value` between the newest snapshot and the newest one at least `days` older.
    pub fn value_change(&self, days: i64) -> Result<Option<f64>> {
        let Some(latest) = self.latest()? else {
            return Ok(None);
        };
        let before =
            self.select("WHERE date <= ?1 ORDER BY date DESC LIMIT 1", [Day(latest.date - Duration::days(days))])?;
        Ok(before.first().map(|b| latest.total_value - b.total_value))
    }
    pub fn delete_before(&self, date: NaiveDate) -> Result<usize> {
        self.conn
            .execute("DELETE FROM portfolio_snapshots WHERE date < ?1", [Day(date)])
            .ctx(self.conn, "deleting snapshots")
    }
    pub fn set_annual_turnover(&self, date: NaiveDate, value: f64) -> Result<bool> {
        let n = self
            .conn
            .execute("UPDATE portfolio_snapshots SET annual_turnover = ?2 WHERE date = ?1", params![Day(date), value])
            .ctx(self.conn, "writing turnover")?;
        Ok(n > 0)
    }
}

/// How worrying a turnover is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnoverStatus {
    Normal,
    Warning,
    Critical,
}

/// Turnover: half the traded EUR volume over the mean portfolio value; `None` without a positive mean.
pub fn turnover_ratio(buys_eur: f64, sells_eur: f64, mean_value_eur: f64) -> Option<f64> {
    (mean_value_eur > 0.0).then(|| (buys_eur + sells_eur) / 2.0 / mean_value_eur)
}

/// Annual turnover from the ledger's trades and this database's snapshots, combined in Rust.
pub struct TurnoverTracker<'c> {
    trades: TradeRepository<'c>,
    snapshots: PortfolioRepository<'c>,
}

impl<'c> TurnoverTracker<'c> {
    pub fn new(trades: TradeRepository<'c>, snapshots: PortfolioRepository<'c>) -> Self {
        TurnoverTracker { trades, snapshots }
    }

    /// (Σ buy EUR + Σ sell EUR) / 2 ÷ mean snapshot value over the 365 days up to `end_date`; live trades only.
    /// `None` without snapshots (or without a positive mean value).
    pub fn annual_turnover(&self, end_date: NaiveDate) -> Result<Option<f64>> {
        let start = end_date - Duration::days(365);
        let snapshots = self.snapshots.range(start, end_date)?;
        if snapshots.is_empty() {
            return Ok(None);
        }
        let mean = snapshots.iter().map(|s| s.total_value).sum::<f64>() / snapshots.len() as f64;
        if mean <= 0.0 {
            return Ok(None);
        }
        let from = start.succ_opt().unwrap_or(start).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let to = end_date.and_hms_opt(23, 59, 59).expect("end of day").and_utc();
        let (mut buys, mut sells) = (Decimal::ZERO, Decimal::ZERO);
        for t in self.trades.range(from, to, Modes::LiveOnly)? {
            let value = t.value_eur.unwrap_or_default();
            match t.side {
                Side::Buy => buys += value,
                Side::Sell => sells += value,
            }
        }
        Ok(turnover_ratio(buys.to_f64().unwrap_or(0.0), sells.to_f64().unwrap_or(0.0), mean))
    }

    /// normal < 0.50 ≤ warning < 1.00 ≤ critical.
    pub fn status(turnover: f64) -> TurnoverStatus {
        if turnover >= 1.0 {
            TurnoverStatus::Critical
        } else if turnover >= 0.5 {
            TurnoverStatus::Warning
        } else {
            TurnoverStatus::Normal
        }
    }
}
