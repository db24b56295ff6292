//! `ledger.db` — the financial audit trail (storage.md §7.3): trades, cash flows, dividends, and the order
//! journal. Append-only: triggers refuse updates and deletes, and no repository offers them. Every amount is
//! an exact decimal stored as canonical text. GC never opens this file.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::M;
use rust_decimal::Decimal;

use super::open::{DEFAULT_PAGE_SIZE, DbSpec, LEDGER_PROFILE};
use super::values::{Day, Dec, Instant, Side, Ts, normalize_symbol, text_enum};
use super::{Inserted, Result, SqlContext, StoreError, Stored, collect_rows, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045059;
CREATE TABLE trades (
  id                  INTEGER NOT NULL PRIMARY KEY,
  symbol              TEXT NOT NULL CHECK (", sym!("symbol"), "),
  isin                TEXT,
  side                TEXT NOT NULL CHECK (side IN ('BUY','SELL')),
  quantity            TEXT NOT NULL CHECK (", dec_pos!("quantity"), "),
  price               TEXT NOT NULL CHECK (", dec_nonneg!("price"), "),
  currency            TEXT CHECK (", cur!("currency"), "),
  currency_rate       TEXT CHECK (", dec_pos!("currency_rate"), "),
  value_eur           TEXT CHECK (", dec_nonneg!("value_eur"), "),
  commission          TEXT CHECK (", dec_nonneg!("commission"), "),
  commission_currency TEXT CHECK (", cur!("commission_currency"), "),
  executed_at         TEXT NOT NULL CHECK (", ts!("executed_at"), "),
  order_id            TEXT CHECK (", non_empty!("order_id"), "),
  source              TEXT NOT NULL DEFAULT 'tradernet' CHECK (", non_empty!("source"), "),
  mode                TEXT NOT NULL DEFAULT 'live' CHECK (mode IN ('live','research')),
  bucket_id           TEXT NOT NULL DEFAULT 'core',
  created_at          TEXT NOT NULL CHECK (", ts!("created_at"), "),
  UNIQUE (order_id)
) STRICT;
CREATE INDEX idx_trades_symbol_executed ON trades(symbol, executed_at);
CREATE INDEX idx_trades_executed ON trades(executed_at);
CREATE INDEX idx_trades_bucket_executed ON trades(bucket_id, executed_at);
CREATE INDEX idx_trades_isin ON trades(isin) WHERE isin IS NOT NULL;
",
    append_only!("ledger", "trades"),
    "
CREATE TABLE cash_flows (
  id               INTEGER NOT NULL PRIMARY KEY,
  transaction_id   TEXT NOT NULL CHECK (", non_empty!("transaction_id"), "),
  type_doc_id      TEXT NOT NULL CHECK (", non_empty!("type_doc_id"), "),
  transaction_type TEXT,
  flow_type        TEXT NOT NULL CHECK (flow_type IN ('deposit','withdrawal','dividend','tax','fee','interest','fx','trade','other')),
  date             TEXT NOT NULL CHECK (", date!("date"), "),
  amount           TEXT NOT NULL CHECK (", dec!("amount"), "),
  currency         TEXT NOT NULL CHECK (", cur!("currency"), "),
  amount_eur       TEXT NOT NULL CHECK (", dec!("amount_eur"), "),
  currency_rate    TEXT CHECK (", dec_pos!("currency_rate"), "),
  symbol           TEXT CHECK (", sym!("symbol"), "),
  status           TEXT,
  status_c         INTEGER,
  description      TEXT,
  params_json      TEXT,
  created_at       TEXT NOT NULL CHECK (", ts!("created_at"), "),
  UNIQUE (transaction_id)
) STRICT;
CREATE INDEX idx_cash_flows_date ON cash_flows(date);
CREATE INDEX idx_cash_flows_type_date ON cash_flows(flow_type, date);
",
    append_only!("ledger", "cash_flows"),
    "
CREATE TABLE dividend_history (
  id                  INTEGER NOT NULL PRIMARY KEY,
  symbol              TEXT NOT NULL CHECK (", sym!("symbol"), "),
  isin                TEXT,
  cash_flow_id        INTEGER REFERENCES cash_flows(id),
  amount              TEXT NOT NULL CHECK (", dec!("amount"), "),
  currency            TEXT NOT NULL CHECK (", cur!("currency"), "),
  amount_eur          TEXT NOT NULL CHECK (", dec!("amount_eur"), "),
  currency_rate       TEXT CHECK (", dec_pos!("currency_rate"), "),
  payment_date        TEXT NOT NULL CHECK (", date!("payment_date"), "),
  reinvested          INTEGER NOT NULL DEFAULT 0 CHECK (", boolean!("reinvested"), "),
  reinvested_at       TEXT CHECK (", ts!("reinvested_at"), "),
  reinvested_quantity TEXT CHECK (", dec_nonneg!("reinvested_quantity"), "),
  pending_bonus       TEXT NOT NULL DEFAULT '0' CHECK (", dec_nonneg!("pending_bonus"), "),
  bonus_cleared       INTEGER NOT NULL DEFAULT 0 CHECK (", boolean!("bonus_cleared"), "),
  cleared_at          TEXT CHECK (", ts!("cleared_at"), "),
  created_at          TEXT NOT NULL CHECK (", ts!("created_at"), "),
  UNIQUE (cash_flow_id)
) STRICT;
CREATE INDEX idx_dividend_symbol ON dividend_history(symbol, payment_date);
CREATE INDEX idx_dividend_payment ON dividend_history(payment_date);
CREATE INDEX idx_dividend_unreinvested ON dividend_history(payment_date) WHERE reinvested = 0;
CREATE INDEX idx_dividend_pending ON dividend_history(symbol) WHERE bonus_cleared = 0 AND pending_bonus <> '0';
CREATE TRIGGER dividend_history_no_delete BEFORE DELETE ON dividend_history
  BEGIN SELECT RAISE(ABORT, 'ledger.dividend_history rows are never deleted'); END;
CREATE TRIGGER dividend_history_immutable BEFORE UPDATE OF id, symbol, isin, cash_flow_id, amount, currency, amount_eur,
  currency_rate, payment_date, created_at ON dividend_history
  BEGIN SELECT RAISE(ABORT, 'ledger.dividend_history: only the reinvestment columns change'); END;

CREATE TABLE orders (
  client_order_id     TEXT NOT NULL PRIMARY KEY CHECK (", non_empty!("client_order_id"), "),
  recommendation_uuid TEXT NOT NULL CHECK (", non_empty!("recommendation_uuid"), "),
  symbol              TEXT NOT NULL CHECK (", sym!("symbol"), "),
  side                TEXT NOT NULL CHECK (side IN ('BUY','SELL')),
  quantity            TEXT NOT NULL CHECK (", dec_pos!("quantity"), "),
  order_type          TEXT NOT NULL DEFAULT 'market' CHECK (order_type IN ('market','limit')),
  limit_price         TEXT CHECK (", dec_pos!("limit_price"), "),
  expected_price      TEXT NOT NULL CHECK (", dec_pos!("expected_price"), "),
  currency            TEXT NOT NULL CHECK (", cur!("currency"), "),
  source              TEXT NOT NULL CHECK (source IN ('plan','drip','emergency')),
  mode                TEXT NOT NULL CHECK (mode IN ('live','research')),
  created_at          TEXT NOT NULL CHECK (", ts!("created_at"), "),
  UNIQUE (recommendation_uuid),
  CHECK ((order_type = 'limit') = (limit_price IS NOT NULL))
) STRICT;
CREATE INDEX idx_orders_symbol ON orders(symbol, created_at);
CREATE INDEX idx_orders_created ON orders(created_at);
",
    append_only!("ledger", "orders"),
    "
CREATE TABLE order_events (
  id              INTEGER NOT NULL PRIMARY KEY,
  client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
  event           TEXT NOT NULL CHECK (event IN ('submitted','accepted','rejected','filled','unknown','reconciled')),
  broker_order_id TEXT CHECK (", non_empty!("broker_order_id"), "),
  detail          TEXT,
  created_at      TEXT NOT NULL CHECK (", ts!("created_at"), "),
  CHECK (event <> 'accepted' OR broker_order_id IS NOT NULL),
  CHECK (event <> 'rejected' OR detail IS NOT NULL)
) STRICT;
CREATE INDEX idx_order_events_order ON order_events(client_order_id, id);
CREATE INDEX idx_order_events_broker ON order_events(broker_order_id) WHERE broker_order_id IS NOT NULL;
",
    append_only!("ledger", "order_events"),
);

pub static SPEC: DbSpec = DbSpec {
    name: "ledger",
    application_id: 0x4154_5203,
    profile: LEDGER_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["cash_flows", "dividend_history", "order_events", "orders", "trades"],
};

text_enum! {
    /// `research` rows are simulated (portfolio.md §1.2).
    pub enum Mode { Live => "live", Research => "research" }
}

/// Which modes a read includes: reports read live rows only; research-mode safety checks read both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    LiveOnly,
    LiveAndResearch,
}

impl Modes {
    /// Bound as `?` in `(mode = 'live' OR ? = 1)`.
    fn includes_research(self) -> bool {
        self == Modes::LiveAndResearch
    }
}

text_enum! {
    /// Normalised cash-flow type (portfolio.md §2.1).
    pub enum FlowType {
        Deposit => "deposit", Withdrawal => "withdrawal", Dividend => "dividend", Tax => "tax", Fee => "fee",
        Interest => "interest", Fx => "fx", Trade => "trade", Other => "other",
    }
}

text_enum! {
    pub enum OrderType { Market => "market", Limit => "limit" }
}

text_enum! {
    /// The job that created an order intent.
    pub enum OrderSource { Plan => "plan", Drip => "drip", Emergency => "emergency" }
}

text_enum! {
    /// An order's outcome events (storage.md §7.3).
    pub enum OrderEventKind {
        Submitted => "submitted", Accepted => "accepted", Rejected => "rejected", Filled => "filled",
        Unknown => "unknown", Reconciled => "reconciled",
    }
}

impl OrderEventKind {
    /// No event follows a final one.
    pub fn is_final(self) -> bool {
        matches!(self, OrderEventKind::Rejected | OrderEventKind::Filled | OrderEventKind::Reconciled)
    }
}

/// One broker order's execution (fills aggregated by the caller).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trade {
    pub symbol: String,
    pub isin: Option<String>,
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
    pub currency: Option<String>,
    /// Units of `currency` per 1 EUR used for `value_eur`.
    pub currency_rate: Option<Decimal>,
    /// `quantity × price ÷ currency_rate`, in cents.
    pub value_eur: Option<Decimal>,
    pub commission: Option<Decimal>,
    pub commission_currency: Option<String>,
    pub executed_at: Instant,
    /// Broker order id, the dedup key.
    pub order_id: Option<String>,
    pub source: String,
    pub mode: Mode,
    pub bucket_id: String,
    pub created_at: Instant,
}

/// EUR value of a trade, rounded to cents half away from zero (portfolio.md §3.1).
pub fn value_eur(quantity: Decimal, price: Decimal, rate: Decimal) -> Decimal {
    super::values::cents(quantity * price / rate)
}

const TRADE_COLUMNS: &str = "id, symbol, isin, side, quantity, price, currency, currency_rate, value_eur, commission, \
     commission_currency, executed_at, order_id, source, mode, bucket_id, created_at";

fn opt_dec(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Decimal>> {
    Ok(row.get::<_, Option<Dec>>(i)?.map(|d| d.0))
}

fn trade_from_row(row: &Row<'_>) -> rusqlite::Result<Stored<Trade>> {
    Ok(Stored {
        id: row.get(0)?,
        row: Trade {
            symbol: row.get(1)?,
            isin: row.get(2)?,
            side: row.get(3)?,
            quantity: row.get::<_, Dec>(4)?.0,
            price: row.get::<_, Dec>(5)?.0,
            currency: row.get(6)?,
            currency_rate: opt_dec(row, 7)?,
            value_eur: opt_dec(row, 8)?,
            commission: opt_dec(row, 9)?,
            commission_currency: row.get(10)?,
            executed_at: row.get::<_, Ts>(11)?.0,
            order_id: row.get(12)?,
            source: row.get(13)?,
            mode: row.get(14)?,
            bucket_id: row.get(15)?,
            created_at: row.get::<_, Ts>(16)?.0,
        },
    })
}

/// Per symbol: the first buy and the last sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TradeDates {
    pub first_buy: Option<Instant>,
    pub last_sell: Option<Instant>,
}

/// Trades: the broker's executions and research trades.
pub struct TradeRepository<'c> {
    conn: &'c Connection,
}

impl<'c> TradeRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        TradeRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Stored<Trade>>> {
        collect_rows(
            self.conn,
            "reading trades",
            &format!("SELECT {TRADE_COLUMNS} FROM trades {filter}"),
            params,
            trade_from_row,
        )
    }

    /// Appends a trade; a broker order id that is already recorded writes nothing and returns the existing id.
    pub fn insert(&self, t: &Trade) -> Result<Inserted> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO trades (symbol, isin, side, quantity, price, currency, currency_rate, value_eur, commission, \
                 commission_currency, executed_at, order_id, source, mode, bucket_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
                 ON CONFLICT(order_id) DO NOTHING",
                params![
                    normalize_symbol(&t.symbol),
                    t.isin,
                    t.side,
                    Dec(t.quantity),
                    Dec(t.price),
                    t.currency,
                    t.currency_rate.map(Dec),
                    t.value_eur.map(Dec),
                    t.commission.map(Dec),
                    t.commission_currency,
                    Ts(t.executed_at),
                    t.order_id,
                    t.source,
                    t.mode,
                    t.bucket_id,
                    Ts(t.created_at),
                ],
            )
            .ctx(self.conn, "inserting a trade")?;
        if changed == 1 {
            return Ok(Inserted::New(self.conn.last_insert_rowid()));
        }
        let existing = t.order_id.as_deref().and_then(|id| self.get_by_order_id(id).transpose()).transpose()?;
        existing
            .map(|found| Inserted::Duplicate(found.id))
            .ok_or_else(|| StoreError::invalid("trade", "insert ignored without a duplicate order_id"))
    }

    pub fn get(&self, id: i64) -> Result<Option<Stored<Trade>>> {
        Ok(self.select("WHERE id = ?1", [id])?.pop())
    }

    pub fn get_by_order_id(&self, order_id: &str) -> Result<Option<Stored<Trade>>> {
        Ok(self.select("WHERE order_id = ?1", [order_id])?.pop())
    }

    pub fn exists(&self, order_id: &str) -> Result<bool> {
        Ok(self.get_by_order_id(order_id)?.is_some())
    }

    /// The newest `limit` trades, newest first.
    pub fn history(&self, limit: usize, modes: Modes) -> Result<Vec<Stored<Trade>>> {
        self.select(
            "WHERE (mode = 'live' OR ?1) ORDER BY executed_at DESC, id DESC LIMIT ?2",
            params![modes.includes_research(), limit as i64],
        )
    }

    /// Trades executed in `[start, end]`, oldest first.
    pub fn range(&self, start: Instant, end: Instant, modes: Modes) -> Result<Vec<Stored<Trade>>> {
        self.select(
            "WHERE executed_at BETWEEN ?1 AND ?2 AND (mode = 'live' OR ?3) ORDER BY executed_at, id",
            params![Ts(start), Ts(end), modes.includes_research()],
        )
    }

    /// A symbol's newest `limit` trades, newest first.
    pub fn by_symbol(&self, symbol: &str, limit: usize, modes: Modes) -> Result<Vec<Stored<Trade>>> {
        self.select(
            "WHERE symbol = ?1 AND (mode = 'live' OR ?2) ORDER BY executed_at DESC, id DESC LIMIT ?3",
            params![normalize_symbol(symbol), modes.includes_research(), limit as i64],
        )
    }

    pub fn by_isin(&self, isin: &str, modes: Modes) -> Result<Vec<Stored<Trade>>> {
        self.select(
            "WHERE isin = ?1 AND (mode = 'live' OR ?2) ORDER BY executed_at DESC, id DESC",
            params![isin, modes.includes_research()],
        )
    }

    fn symbols_traded_since(&self, side: Side, since: Instant, modes: Modes) -> Result<BTreeSet<String>> {
        let rows = collect_rows(
            self.conn,
            "reading trades",
            "SELECT DISTINCT symbol FROM trades WHERE side = ?1 AND executed_at >= ?2 AND (mode = 'live' OR ?3)",
            params![side, Ts(since), modes.includes_research()],
            |r| r.get(0),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Symbols bought in the last `days` days.
    pub fn recently_bought(&self, days: i64, now: Instant, modes: Modes) -> Result<BTreeSet<String>> {
        self.symbols_traded_since(Side::Buy, now - Duration::days(days), modes)
    }

    /// Symbols sold in the last `days` days.
    pub fn recently_sold(&self, days: i64, now: Instant, modes: Modes) -> Result<BTreeSet<String>> {
        self.symbols_traded_since(Side::Sell, now - Duration::days(days), modes)
    }

    pub fn has_recent_sell(&self, symbol: &str, hours: i64, now: Instant, modes: Modes) -> Result<bool> {
        let found = self.select(
            "WHERE symbol = ?1 AND side = 'SELL' AND executed_at >= ?2 AND (mode = 'live' OR ?3) LIMIT 1",
            params![normalize_symbol(symbol), Ts(now - Duration::hours(hours)), modes.includes_research()],
        )?;
        Ok(!found.is_empty())
    }

    fn edge(&self, symbol: &str, side: Option<Side>, newest: bool, modes: Modes) -> Result<Option<Stored<Trade>>> {
        let order = if newest { "DESC" } else { "ASC" };
        let side_filter = match side {
            Some(Side::Buy) => "AND side = 'BUY'",
            Some(Side::Sell) => "AND side = 'SELL'",
            None => "",
        };
        Ok(self
            .select(
                &format!(
                    "WHERE symbol = ?1 {side_filter} AND (mode = 'live' OR ?2) ORDER BY executed_at {order}, id {order} LIMIT 1"
                ),
                params![normalize_symbol(symbol), modes.includes_research()],
            )?
            .pop())
    }

    pub fn first_buy(&self, symbol: &str, modes: Modes) -> Result<Option<Stored<Trade>>> {
        self.edge(symbol, Some(Side::Buy), false, modes)
    }
    pub fn last_buy(&self, symbol: &str, modes: Modes) -> Result<Option<Stored<Trade>>> {
        self.edge(symbol, Some(Side::Buy), true, modes)
    }
    pub fn last_sell(&self, symbol: &str, modes: Modes) -> Result<Option<Stored<Trade>>> {
        self.edge(symbol, Some(Side::Sell), true, modes)
    }
    pub fn last_transaction(&self, symbol: &str, modes: Modes) -> Result<Option<Stored<Trade>>> {
        self.edge(symbol, None, true, modes)
    }

    /// Per symbol: first buy and last sell.
    pub fn trade_dates(&self, modes: Modes) -> Result<BTreeMap<String, TradeDates>> {
        let rows = collect_rows(
            self.conn,
            "reading trade dates",
            "SELECT symbol, min(CASE WHEN side = 'BUY' THEN executed_at END), max(CASE WHEN side = 'SELL' THEN executed_at END) \
             FROM trades WHERE (mode = 'live' OR ?1) GROUP BY symbol",
            [modes.includes_research()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    TradeDates {
                        first_buy: r.get::<_, Option<Ts>>(1)?.map(|t| t.0),
                        last_sell: r.get::<_, Option<Ts>>(2)?.map(|t| t.0),
                    },
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Trades executed at or after `since` (today's or this week's count).
    pub fn count_since(&self, since: Instant, modes: Modes) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM trades WHERE executed_at >= ?1 AND (mode = 'live' OR ?2)",
                params![Ts(since), modes.includes_research()],
                |r| r.get(0),
            )
            .ctx(self.conn, "counting trades")
    }

    pub fn last_trade_at(&self, modes: Modes) -> Result<Option<Instant>> {
        let at: Option<Ts> = self
            .conn
            .query_row(
                "SELECT max(executed_at) FROM trades WHERE (mode = 'live' OR ?1)",
                [modes.includes_research()],
                |r| r.get(0),
            )
            .ctx(self.conn, "reading the last trade")?;
        Ok(at.map(|t| t.0))
    }

    /// Replays the trades into per-day holdings: for each UTC date from `start` to `end`, the quantity of each
    /// symbol held at the end of that day (symbols with zero quantity left out).
    pub fn position_history(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        modes: Modes,
    ) -> Result<Vec<(NaiveDate, BTreeMap<String, Decimal>)>> {
        let end_instant = end.succ_opt().unwrap_or(end).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let trades = self.select(
            "WHERE executed_at < ?1 AND (mode = 'live' OR ?2) ORDER BY executed_at, id",
            params![Ts(end_instant), modes.includes_research()],
        )?;
        let mut held: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut next = trades.iter().peekable();
        let mut days = Vec::new();
        let mut day = start;
        while day <= end {
            while let Some(t) = next.next_if(|t| t.executed_at.date_naive() <= day) {
                let q = held.entry(t.symbol.clone()).or_default();
                match t.side {
                    Side::Buy => *q += t.quantity,
                    Side::Sell => *q -= t.quantity,
                }
            }
            days.push((day, held.iter().filter(|(_, q)| !q.is_zero()).map(|(s, q)| (s.clone(), *q)).collect()));
            day = day.succ_opt().expect("date in range");
        }
        Ok(days)
    }

    pub fn by_bucket_since(&self, bucket_id: &str, since: Instant, modes: Modes) -> Result<Vec<Stored<Trade>>> {
        self.select(
            "WHERE bucket_id = ?1 AND executed_at >= ?2 AND (mode = 'live' OR ?3) ORDER BY executed_at, id",
            params![bucket_id, Ts(since), modes.includes_research()],
        )
    }
}

/// A cash movement at the broker.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CashFlow {
    /// Broker id or a stable synthetic id; the dedup key.
    pub transaction_id: String,
    pub type_doc_id: String,
    pub transaction_type: Option<String>,
    pub flow_type: FlowType,
    pub date: NaiveDate,
    /// Signed: positive into the account.
    pub amount: Decimal,
    pub currency: String,
    pub amount_eur: Decimal,
    pub currency_rate: Option<Decimal>,
    pub symbol: Option<String>,
    pub status: Option<String>,
    pub status_c: Option<i64>,
    pub description: Option<String>,
    pub params_json: Option<String>,
    pub created_at: Instant,
}

const CASH_FLOW_COLUMNS: &str = "id, transaction_id, type_doc_id, transaction_type, flow_type, date, amount, currency, \
     amount_eur, currency_rate, symbol, status, status_c, description, params_json, created_at";

fn cash_flow_from_row(row: &Row<'_>) -> rusqlite::Result<Stored<CashFlow>> {
    Ok(Stored {
        id: row.get(0)?,
        row: CashFlow {
            transaction_id: row.get(1)?,
            type_doc_id: row.get(2)?,
            transaction_type: row.get(3)?,
            flow_type: row.get(4)?,
            date: row.get::<_, Day>(5)?.0,
            amount: row.get::<_, Dec>(6)?.0,
            currency: row.get(7)?,
            amount_eur: row.get::<_, Dec>(8)?.0,
            currency_rate: opt_dec(row, 9)?,
            symbol: row.get(10)?,
            status: row.get(11)?,
            status_c: row.get(12)?,
            description: row.get(13)?,
            params_json: row.get(14)?,
            created_at: row.get::<_, Ts>(15)?.0,
        },
    })
}

/// An inclusive date range.
pub type DateRange = (NaiveDate, NaiveDate);

/// Cash flows: deposits, withdrawals, dividends, taxes, fees…
pub struct CashFlowRepository<'c> {
    conn: &'c Connection,
}

impl<'c> CashFlowRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        CashFlowRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Stored<CashFlow>>> {
        collect_rows(
            self.conn,
            "reading cash flows",
            &format!("SELECT {CASH_FLOW_COLUMNS} FROM cash_flows {filter}"),
            params,
            cash_flow_from_row,
        )
    }

    /// Appends a flow; a known `transaction_id` writes nothing and returns the existing id.
    pub fn insert(&self, f: &CashFlow) -> Result<Inserted> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO cash_flows (transaction_id, type_doc_id, transaction_type, flow_type, date, amount, currency, \
                 amount_eur, currency_rate, symbol, status, status_c, description, params_json, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT(transaction_id) DO NOTHING",
                params![
                    f.transaction_id,
                    f.type_doc_id,
                    f.transaction_type,
                    f.flow_type,
                    Day(f.date),
                    Dec(f.amount),
                    f.currency,
                    Dec(f.amount_eur),
                    f.currency_rate.map(Dec),
                    f.symbol.as_deref().map(normalize_symbol),
                    f.status,
                    f.status_c,
                    f.description,
                    f.params_json,
                    Ts(f.created_at),
                ],
            )
            .ctx(self.conn, "inserting a cash flow")?;
        if changed == 1 {
            return Ok(Inserted::New(self.conn.last_insert_rowid()));
        }
        let existing = self.get_by_transaction_id(&f.transaction_id)?;
        existing
            .map(|found| Inserted::Duplicate(found.id))
            .ok_or_else(|| StoreError::invalid("cash flow", "insert ignored without a duplicate transaction_id"))
    }

    /// Appends many flows in one transaction; returns how many were new.
    pub fn insert_batch(&self, flows: &[CashFlow]) -> Result<usize> {
        write_tx(self.conn, "inserting cash flows", |conn| {
            let repo = CashFlowRepository::new(conn);
            let mut inserted = 0;
            for flow in flows {
                inserted += usize::from(repo.insert(flow)?.is_new());
            }
            Ok(inserted)
        })
    }

    pub fn get_by_transaction_id(&self, transaction_id: &str) -> Result<Option<Stored<CashFlow>>> {
        Ok(self.select("WHERE transaction_id = ?1", [transaction_id])?.pop())
    }

    pub fn exists(&self, transaction_id: &str) -> Result<bool> {
        Ok(self.get_by_transaction_id(transaction_id)?.is_some())
    }

    /// The newest `limit` flows, by date descending.
    pub fn list(&self, limit: usize) -> Result<Vec<Stored<CashFlow>>> {
        self.select("ORDER BY date DESC, id DESC LIMIT ?1", [limit as i64])
    }

    /// Flows dated in `[start, end]`, oldest first.
    pub fn by_date_range(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<Stored<CashFlow>>> {
        self.select("WHERE date BETWEEN ?1 AND ?2 ORDER BY date, id", params![Day(start), Day(end)])
    }

    pub fn by_flow_type(&self, flow_type: FlowType, range: Option<DateRange>) -> Result<Vec<Stored<CashFlow>>> {
        let (start, end) = range.unzip();
        self.select(
            "WHERE flow_type = ?1 AND (?2 IS NULL OR date >= ?2) AND (?3 IS NULL OR date <= ?3) ORDER BY date, id",
            params![flow_type, start.map(Day), end.map(Day)],
        )
    }

    /// Exact EUR sum of the given flow types (summed in Rust, never in SQL).
    pub fn sum_eur(&self, flow_types: &[FlowType], range: Option<DateRange>) -> Result<Decimal> {
        let mut sum = Decimal::ZERO;
        for flow_type in flow_types {
            sum += self.by_flow_type(*flow_type, range)?.iter().map(|f| f.amount_eur).sum::<Decimal>();
        }
        Ok(sum)
    }

    /// Running EUR balance at the end of each date that has flows in `[start, end]`, starting from `initial`.
    pub fn balance_history(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        initial: Decimal,
    ) -> Result<Vec<(NaiveDate, Decimal)>> {
        let mut balance = initial;
        let mut days: Vec<(NaiveDate, Decimal)> = Vec::new();
        for flow in self.by_date_range(start, end)? {
            balance += flow.amount_eur;
            match days.last_mut() {
                Some((day, value)) if *day == flow.date => *value = balance,
                _ => days.push((flow.date, balance)),
            }
        }
        Ok(days)
    }
}

/// A dividend and its reinvestment state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dividend {
    pub symbol: String,
    pub isin: Option<String>,
    /// The cash flow that paid it; at most one dividend per flow.
    pub cash_flow_id: Option<i64>,
    pub amount: Decimal,
    pub currency: String,
    pub amount_eur: Decimal,
    pub currency_rate: Option<Decimal>,
    pub payment_date: NaiveDate,
    pub reinvested: bool,
    pub reinvested_at: Option<Instant>,
    pub reinvested_quantity: Option<Decimal>,
    /// EUR not reinvested because too small; an expected-return bonus until cleared.
    pub pending_bonus: Decimal,
    pub bonus_cleared: bool,
    pub cleared_at: Option<Instant>,
    pub created_at: Instant,
}

impl Dividend {
    /// A newly paid dividend, not reinvested.
    #[allow(clippy::too_many_arguments)]
    pub fn paid(
        symbol: &str,
        cash_flow_id: Option<i64>,
        amount: Decimal,
        currency: &str,
        amount_eur: Decimal,
        currency_rate: Option<Decimal>,
        payment_date: NaiveDate,
        at: Instant,
    ) -> Dividend {
        Dividend {
            symbol: normalize_symbol(symbol),
            isin: None,
            cash_flow_id,
            amount,
            currency: currency.to_owned(),
            amount_eur,
            currency_rate,
            payment_date,
            reinvested: false,
            reinvested_at: None,
            reinvested_quantity: None,
            pending_bonus: Decimal::ZERO,
            bonus_cleared: false,
            cleared_at: None,
            created_at: at,
        }
    }
}

const DIVIDEND_COLUMNS: &str = "id, symbol, isin, cash_flow_id, amount, currency, amount_eur, currency_rate, payment_date, \
     reinvested, reinvested_at, reinvested_quantity, pending_bonus, bonus_cleared, cleared_at, created_at";

fn dividend_from_row(row: &Row<'_>) -> rusqlite::Result<Stored<Dividend>> {
    Ok(Stored {
        id: row.get(0)?,
        row: Dividend {
            symbol: row.get(1)?,
            isin: row.get(2)?,
            cash_flow_id: row.get(3)?,
            amount: row.get::<_, Dec>(4)?.0,
            currency: row.get(5)?,
            amount_eur: row.get::<_, Dec>(6)?.0,
            currency_rate: opt_dec(row, 7)?,
            payment_date: row.get::<_, Day>(8)?.0,
            reinvested: row.get(9)?,
            reinvested_at: row.get::<_, Option<Ts>>(10)?.map(|t| t.0),
            reinvested_quantity: opt_dec(row, 11)?,
            pending_bonus: row.get::<_, Dec>(12)?.0,
            bonus_cleared: row.get(13)?,
            cleared_at: row.get::<_, Option<Ts>>(14)?.map(|t| t.0),
            created_at: row.get::<_, Ts>(15)?.0,
        },
    })
}

/// Per-symbol dividend totals in EUR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DividendTotals {
    pub count: i64,
    pub total_eur: Decimal,
    pub reinvested_eur: Decimal,
}

/// Dividends and DRIP state.
pub struct DividendRepository<'c> {
    conn: &'c Connection,
}

impl<'c> DividendRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        DividendRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Stored<Dividend>>> {
        collect_rows(
            self.conn,
            "reading dividends",
            &format!("SELECT {DIVIDEND_COLUMNS} FROM dividend_history {filter}"),
            params,
            dividend_from_row,
        )
    }

    /// Records a dividend; a second one for the same cash flow writes nothing.
    pub fn insert(&self, d: &Dividend) -> Result<Inserted> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO dividend_history (symbol, isin, cash_flow_id, amount, currency, amount_eur, currency_rate, \
                 payment_date, reinvested, reinvested_at, reinvested_quantity, pending_bonus, bonus_cleared, cleared_at, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT(cash_flow_id) DO NOTHING",
                params![
                    normalize_symbol(&d.symbol),
                    d.isin,
                    d.cash_flow_id,
                    Dec(d.amount),
                    d.currency,
                    Dec(d.amount_eur),
                    d.currency_rate.map(Dec),
                    Day(d.payment_date),
                    d.reinvested,
                    d.reinvested_at.map(Ts),
                    d.reinvested_quantity.map(Dec),
                    Dec(d.pending_bonus),
                    d.bonus_cleared,
                    d.cleared_at.map(Ts),
                    Ts(d.created_at),
                ],
            )
            .ctx(self.conn, "inserting a dividend")?;
        if changed == 1 {
            return Ok(Inserted::New(self.conn.last_insert_rowid()));
        }
        let existing = d.cash_flow_id.map(|id| self.get_by_cash_flow(id)).transpose()?.flatten();
        existing
            .map(|found| Inserted::Duplicate(found.id))
            .ok_or_else(|| StoreError::invalid("dividend", "insert ignored without a duplicate cash_flow_id"))
    }

    pub fn get(&self, id: i64) -> Result<Option<Stored<Dividend>>> {
        Ok(self.select("WHERE id = ?1", [id])?.pop())
    }
    pub fn get_by_cash_flow(&self, cash_flow_id: i64) -> Result<Option<Stored<Dividend>>> {
        Ok(self.select("WHERE cash_flow_id = ?1", [cash_flow_id])?.pop())
    }
    pub fn exists_for_cash_flow(&self, cash_flow_id: i64) -> Result<bool> {
        Ok(self.get_by_cash_flow(cash_flow_id)?.is_some())
    }
    pub fn by_symbol(&self, symbol: &str) -> Result<Vec<Stored<Dividend>>> {
        self.select("WHERE symbol = ?1 ORDER BY payment_date DESC, id DESC", [normalize_symbol(symbol)])
    }
    pub fn by_isin(&self, isin: &str) -> Result<Vec<Stored<Dividend>>> {
        self.select("WHERE isin = ?1 ORDER BY payment_date DESC, id DESC", [isin])
    }
    pub fn list(&self, limit: usize) -> Result<Vec<Stored<Dividend>>> {
        self.select("ORDER BY payment_date DESC, id DESC LIMIT ?1", [limit as i64])
    }

    /// Dividends neither reinvested nor pooled, worth at least `min_eur`, oldest first.
    pub fn unreinvested(&self, min_eur: Decimal) -> Result<Vec<Stored<Dividend>>> {
        let rows = self.select("WHERE reinvested = 0 AND bonus_cleared = 0 ORDER BY payment_date, id", [])?;
        Ok(rows.into_iter().filter(|d| d.amount_eur >= min_eur).collect())
    }

    /// Symbol → Σ pending bonus (EUR) over uncleared rows.
    pub fn pending_bonuses(&self) -> Result<BTreeMap<String, Decimal>> {
        let rows = self.select("WHERE bonus_cleared = 0 AND pending_bonus <> '0'", [])?;
        let mut sums = BTreeMap::new();
        for d in rows {
            *sums.entry(d.row.symbol).or_insert(Decimal::ZERO) += d.row.pending_bonus;
        }
        Ok(sums)
    }

    pub fn pending_bonus(&self, symbol: &str) -> Result<Decimal> {
        Ok(self.pending_bonuses()?.get(&normalize_symbol(symbol)).copied().unwrap_or_default())
    }

    /// Records a reinvestment; the pending bonus is spent with it.
    pub fn mark_reinvested(&self, id: i64, quantity: Decimal, at: Instant) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE dividend_history SET reinvested = 1, reinvested_at = ?2, reinvested_quantity = ?3, pending_bonus = '0' \
                 WHERE id = ?1",
                params![id, Ts(at), Dec(quantity)],
            )
            .ctx(self.conn, "marking a dividend reinvested")?;
        Ok(n > 0)
    }

    pub fn set_pending_bonus(&self, id: i64, eur: Decimal) -> Result<bool> {
        let n = self
            .conn
            .execute("UPDATE dividend_history SET pending_bonus = ?2 WHERE id = ?1", params![id, Dec(eur)])
            .ctx(self.conn, "setting a pending bonus")?;
        Ok(n > 0)
    }

    /// Clears every pending bonus of a symbol; returns how many rows changed.
    pub fn clear_bonus(&self, symbol: &str, at: Instant) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE dividend_history SET bonus_cleared = 1, cleared_at = ?2 WHERE symbol = ?1 AND bonus_cleared = 0",
                params![normalize_symbol(symbol), Ts(at)],
            )
            .ctx(self.conn, "clearing bonuses")
    }

    pub fn totals_by_symbol(&self) -> Result<BTreeMap<String, DividendTotals>> {
        let mut totals: BTreeMap<String, DividendTotals> = BTreeMap::new();
        for d in self.select("ORDER BY id", [])? {
            let t = totals.entry(d.row.symbol.clone()).or_default();
            t.count += 1;
            t.total_eur += d.amount_eur;
            if d.reinvested {
                t.reinvested_eur += d.amount_eur;
            }
        }
        Ok(totals)
    }

    /// EUR reinvested in total.
    pub fn total_reinvested(&self) -> Result<Decimal> {
        Ok(self.select("WHERE reinvested = 1", [])?.iter().map(|d| d.amount_eur).sum())
    }

    /// Reinvested EUR ÷ all dividend EUR (0 when there are none).
    pub fn reinvestment_rate(&self) -> Result<Decimal> {
        let all: Decimal = self.select("ORDER BY id", [])?.iter().map(|d| d.amount_eur).sum();
        if all.is_zero() { Ok(Decimal::ZERO) } else { Ok(self.total_reinvested()? / all) }
    }
}

/// An order the daemon decided to place, written before any broker call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderIntent {
    pub client_order_id: String,
    pub recommendation_uuid: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    pub order_type: OrderType,
    pub limit_price: Option<Decimal>,
    pub expected_price: Decimal,
    pub currency: String,
    pub source: OrderSource,
    pub mode: Mode,
    pub created_at: Instant,
}

/// One outcome event of a live order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderEvent {
    pub id: i64,
    pub client_order_id: String,
    pub event: OrderEventKind,
    pub broker_order_id: Option<String>,
    pub detail: Option<String>,
    pub created_at: Instant,
}

/// An order with its newest event (none for a research order).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderState {
    pub order: OrderIntent,
    pub newest_event: Option<OrderEvent>,
}

impl OrderState {
    /// Live and not yet final.
    pub fn is_open(&self) -> bool {
        self.order.mode == Mode::Live && self.newest_event.as_ref().is_some_and(|e| !e.event.is_final())
    }
}

/// What recording an intent did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum IntentOutcome {
    Inserted,
    /// The recommendation already has an order; nothing was written.
    Existing(Box<OrderState>),
}

const ORDER_COLUMNS: &str = "client_order_id, recommendation_uuid, symbol, side, quantity, order_type, limit_price, \
     expected_price, currency, source, mode, created_at";
const EVENT_COLUMNS: &str = "id, client_order_id, event, broker_order_id, detail, created_at";

fn order_from_row(row: &Row<'_>) -> rusqlite::Result<OrderIntent> {
    Ok(OrderIntent {
        client_order_id: row.get(0)?,
        recommendation_uuid: row.get(1)?,
        symbol: row.get(2)?,
        side: row.get(3)?,
        quantity: row.get::<_, Dec>(4)?.0,
        order_type: row.get(5)?,
        limit_price: opt_dec(row, 6)?,
        expected_price: row.get::<_, Dec>(7)?.0,
        currency: row.get(8)?,
        source: row.get(9)?,
        mode: row.get(10)?,
        created_at: row.get::<_, Ts>(11)?.0,
    })
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<OrderEvent> {
    Ok(OrderEvent {
        id: row.get(0)?,
        client_order_id: row.get(1)?,
        event: row.get(2)?,
        broker_order_id: row.get(3)?,
        detail: row.get(4)?,
        created_at: row.get::<_, Ts>(5)?.0,
    })
}

/// The order journal: intents and their outcome events.
pub struct OrderRepository<'c> {
    conn: &'c Connection,
}

impl<'c> OrderRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        OrderRepository { conn }
    }

    fn orders(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<OrderIntent>> {
        collect_rows(
            self.conn,
            "reading orders",
            &format!("SELECT {ORDER_COLUMNS} FROM orders {filter}"),
            params,
            order_from_row,
        )
    }

    fn with_newest_event(&self, order: OrderIntent) -> Result<OrderState> {
        let newest_event = collect_rows(
            self.conn,
            "reading order events",
            &format!("SELECT {EVENT_COLUMNS} FROM order_events WHERE client_order_id = ?1 ORDER BY id DESC LIMIT 1"),
            [&order.client_order_id],
            event_from_row,
        )?
        .pop();
        Ok(OrderState { order, newest_event })
    }

    fn insert_intent(&self, intent: &OrderIntent) -> Result<bool> {
        let changed = self
            .conn
            .execute(
                &format!(
                    "INSERT INTO orders ({ORDER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                     ON CONFLICT(recommendation_uuid) DO NOTHING"
                ),
                params![
                    intent.client_order_id,
                    intent.recommendation_uuid,
                    normalize_symbol(&intent.symbol),
                    intent.side,
                    Dec(intent.quantity),
                    intent.order_type,
                    intent.limit_price.map(Dec),
                    Dec(intent.expected_price),
                    intent.currency,
                    intent.source,
                    intent.mode,
                    Ts(intent.created_at),
                ],
            )
            .ctx(self.conn, "recording an order intent")?;
        Ok(changed == 1)
    }

    fn existing(&self, recommendation_uuid: &str) -> Result<IntentOutcome> {
        let state = self
            .for_recommendation(recommendation_uuid)?
            .ok_or_else(|| StoreError::invalid("order", "intent ignored but no order for its recommendation"))?;
        Ok(IntentOutcome::Existing(Box::new(state)))
    }

    /// Records a live intent with its `submitted` event in one transaction, before the broker call. A
    /// recommendation that already has an order gets nothing new: it is never sent twice.
    pub fn record_intent(&self, intent: &OrderIntent) -> Result<IntentOutcome> {
        if intent.mode != Mode::Live {
            return Err(StoreError::invalid("order intent", "record_intent takes live intents; use record_research"));
        }
        write_tx(self.conn, "recording an order intent", |conn| {
            let repo = OrderRepository::new(conn);
            if !repo.insert_intent(intent)? {
                return repo.existing(&intent.recommendation_uuid);
            }
            repo.insert_event(&intent.client_order_id, OrderEventKind::Submitted, None, None, intent.created_at)?;
            Ok(IntentOutcome::Inserted)
        })
    }

    /// Records a research intent together with its simulated trade in one transaction.
    pub fn record_research(&self, intent: &OrderIntent, trade: &Trade) -> Result<IntentOutcome> {
        if intent.mode != Mode::Research || trade.mode != Mode::Research {
            return Err(StoreError::invalid("research order", "intent and trade must both be in research mode"));
        }
        write_tx(self.conn, "recording a research order", |conn| {
            let repo = OrderRepository::new(conn);
            if !repo.insert_intent(intent)? {
                return repo.existing(&intent.recommendation_uuid);
            }
            TradeRepository::new(conn).insert(trade)?;
            Ok(IntentOutcome::Inserted)
        })
    }

    fn insert_event(
        &self,
        client_order_id: &str,
        event: OrderEventKind,
        broker_order_id: Option<&str>,
        detail: Option<&str>,
        at: Instant,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO order_events (client_order_id, event, broker_order_id, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![client_order_id, event, broker_order_id, detail, Ts(at)],
            )
            .ctx(self.conn, "appending an order event")?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Appends an outcome. Refused for research orders and after a final event. Called inside the caller's
    /// transaction when the event is `filled` (with the trade and its cash flows).
    pub fn append_event(
        &self,
        client_order_id: &str,
        event: OrderEventKind,
        broker_order_id: Option<&str>,
        detail: Option<&str>,
        at: Instant,
    ) -> Result<i64> {
        write_tx(self.conn, "appending an order event", |conn| {
            let repo = OrderRepository::new(conn);
            let state = repo
                .get(client_order_id)?
                .ok_or_else(|| StoreError::invalid(format!("order {client_order_id}"), "unknown order"))?;
            if state.order.mode == Mode::Research {
                return Err(StoreError::invalid(format!("order {client_order_id}"), "research orders get no events"));
            }
            if let Some(last) = state.newest_event.as_ref().filter(|e| e.event.is_final()) {
                return Err(StoreError::invalid(
                    format!("order {client_order_id}"),
                    format!("already final ({}); no event may follow", last.event),
                ));
            }
            repo.insert_event(client_order_id, event, broker_order_id, detail, at)
        })
    }

    pub fn get(&self, client_order_id: &str) -> Result<Option<OrderState>> {
        self.orders("WHERE client_order_id = ?1", [client_order_id])?
            .pop()
            .map(|o| self.with_newest_event(o))
            .transpose()
    }

    /// The order for a recommendation and its newest event, if any.
    pub fn for_recommendation(&self, recommendation_uuid: &str) -> Result<Option<OrderState>> {
        self.orders("WHERE recommendation_uuid = ?1", [recommendation_uuid])?
            .pop()
            .map(|o| self.with_newest_event(o))
            .transpose()
    }

    pub fn by_broker_order_id(&self, broker_order_id: &str) -> Result<Option<OrderState>> {
        self.orders(
            "WHERE client_order_id IN (SELECT client_order_id FROM order_events WHERE broker_order_id = ?1) LIMIT 1",
            [broker_order_id],
        )?
        .pop()
        .map(|o| self.with_newest_event(o))
        .transpose()
    }

    fn open_where(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<OrderState>> {
        let mut open = Vec::new();
        for order in self.orders(filter, params)? {
            let state = self.with_newest_event(order)?;
            if state.is_open() {
                open.push(state);
            }
        }
        Ok(open)
    }

    /// Live orders whose newest event is not final, oldest first: what a reconciling sync works through.
    pub fn open(&self) -> Result<Vec<OrderState>> {
        self.open_where("WHERE mode = 'live' ORDER BY created_at, client_order_id", [])
    }

    pub fn open_for_symbol(&self, symbol: &str) -> Result<Vec<OrderState>> {
        self.open_where(
            "WHERE mode = 'live' AND symbol = ?1 ORDER BY created_at, client_order_id",
            [normalize_symbol(symbol)],
        )
    }

    /// An order's events, oldest first.
    pub fn events(&self, client_order_id: &str) -> Result<Vec<OrderEvent>> {
        collect_rows(
            self.conn,
            "reading order events",
            &format!("SELECT {EVENT_COLUMNS} FROM order_events WHERE client_order_id = ?1 ORDER BY id"),
            [client_order_id],
            event_from_row,
        )
    }

    pub fn count_since(&self, since: Instant, modes: Modes) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM orders WHERE created_at >= ?1 AND (mode = 'live' OR ?2)",
                params![Ts(since), modes.includes_research()],
                |r| r.get(0),
            )
            .ctx(self.conn, "counting orders")
    }

    /// The newest `limit` orders, newest first, with their newest events.
    pub fn history(&self, limit: usize, modes: Modes) -> Result<Vec<OrderState>> {
        self.orders(
            "WHERE (mode = 'live' OR ?1) ORDER BY created_at DESC, client_order_id DESC LIMIT ?2",
            params![modes.includes_research(), limit as i64],
        )?
        .into_iter()
        .map(|o| self.with_newest_event(o))
        .collect()
    }
}

/// Looks up whether an id exists; used by tests and the crash-safety check.
pub fn trade_exists(conn: &Connection, id: i64) -> Result<bool> {
    conn.query_row("SELECT 1 FROM trades WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
        .ctx(conn, "reading trades")
}
