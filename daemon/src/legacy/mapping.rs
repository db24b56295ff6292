//! The mapping of legacy-layout.md §7: every destination table with its sources in precedence order, the merge
//! key, and the conversion of every column — by name, never by position. The result is a [`Plan`]: candidate
//! rows per destination (in storage.md column order) and a code for every source row that will not arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use rusqlite::types::Value;
use serde::Serialize;

use super::convert::{self, Converted, Counters, Rejection, blank, boolean, cur, dec, int, real, sym, ts, txt};
use super::source::{Record, Shape, Sources, Table, known_tables};
use crate::store::DbName;

/// A problem found in the sources: blocking (the run cannot go on) or a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: String,
    pub file: String,
    pub table: Option<String>,
    pub column: Option<String>,
    pub detail: String,
}

/// A source row that does not arrive in a destination, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotMigrated {
    pub file: String,
    pub table: String,
    pub key: String,
    pub code: String,
    pub detail: String,
    pub kept_key: Option<String>,
}

/// A row on its way to a destination.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// In the destination's column order.
    pub values: Vec<Value>,
    /// Shared by every row of a source table.
    pub file: Rc<str>,
    pub table: Rc<str>,
    pub key: String,
    /// Precedence among candidates with the same merge key (larger wins where a rule compares it).
    pub rank: String,
}

/// A destination table and how its rows are written.
#[derive(Debug, Clone, Copy)]
pub struct Dest {
    pub db: DbName,
    pub table: &'static str,
    /// storage.md column order.
    pub columns: &'static [&'static str],
    /// `[strict]`: a rejected row is blocking. `[lenient]`: a documented drop.
    pub strict: bool,
    /// Primary-key columns of a table seeded by migration 1 (legacy rows update the seeded ones).
    pub upsert_on: Option<&'static [&'static str]>,
}

/// One history file and what became of it (legacy-layout.md §4).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryFile {
    pub stem: String,
    pub resolution: String,
    pub symbol: String,
    pub daily_rows: usize,
    pub monthly_rows: usize,
    pub status: String,
    pub candidates: Vec<String>,
}

/// Everything the mapping decided.
#[derive(Debug, Default)]
pub struct Plan {
    pub rows: Vec<(Dest, Vec<Candidate>)>,
    pub not_migrated: Vec<NotMigrated>,
    pub blocking: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub counters: Counters,
    pub history_files: Vec<HistoryFile>,
    /// Rows read per `file:table`.
    pub rows_read: BTreeMap<String, usize>,
    /// Old → new ids of renumbered dividends.
    pub id_remaps: Vec<(String, i64, i64)>,
    /// Per file: its tables and their row counts, as listed once by the table check.
    pub source_tables: BTreeMap<String, Vec<(String, i64)>>,
    /// Broker credentials found in `settings`: key → value (never printed).
    pub credentials: BTreeMap<String, String>,
}

/// Inputs of a run that are not in the sources.
#[derive(Debug, Clone)]
pub struct Options {
    /// `T0`, the run's start instant (`YYYY-MM-DDTHH:MM:SSZ`).
    pub t0: String,
    pub accept_unknown_columns: bool,
    /// The credentials file that legacy broker credentials move into (configuration key `credentials_file`);
    /// `None` = systemd credentials only.
    pub credentials_file: Option<std::path::PathBuf>,
    /// Preflight of a real run: convert only the `[strict]` destinations (whose rejections block); the lenient
    /// ones are still read and shape-checked.
    pub strict_only: bool,
}

fn text(v: Option<String>) -> Value {
    v.map(Value::Text).unwrap_or(Value::Null)
}
fn real_v(v: Option<f64>) -> Value {
    v.map(Value::Real).unwrap_or(Value::Null)
}
fn int_v(v: Option<i64>) -> Value {
    v.map(Value::Integer).unwrap_or(Value::Null)
}
fn bool_v(b: bool) -> Value {
    Value::Integer(i64::from(b))
}
fn as_text(v: &Value) -> Value {
    text(convert::txt(v).ok().flatten())
}
/// A REAL kept as is (rejected when not a number).
fn keep_real(v: &Value) -> Converted<Value> {
    real(v).map(real_v)
}
/// `ts` or reject when NULL.
fn ts_required(v: &Value, c: &mut Counters) -> Converted<Value> {
    ts(v, c)?.map(Value::Text).ok_or_else(|| Rejection::new("TIMESTAMP", "NULL"))
}
fn ts_opt(v: &Value, c: &mut Counters) -> Converted<Value> {
    ts(v, c).map(text)
}
fn nz_text(v: Option<String>, default: &str, c: &mut Counters) -> Value {
    Value::Text(v.unwrap_or_else(|| {
        c.bump("defaults_applied");
        default.to_owned()
    }))
}
fn nz_real(v: Option<f64>, default: f64, c: &mut Counters) -> Value {
    Value::Real(v.unwrap_or_else(|| {
        c.bump("defaults_applied");
        default
    }))
}
/// A REAL where `<= 0` means "no value" (counted).
fn positive_or_null(v: &Value, c: &mut Counters) -> Converted<Value> {
    Ok(match real(v)? {
        Some(x) if x <= 0.0 => {
            c.bump("non_positive_to_null");
            Value::Null
        }
        other => real_v(other),
    })
}
fn key_of(rec: &Record<'_>, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| match rec.get(c) {
            Value::Null => "NULL".to_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Real(r) => convert::shortest(*r),
            Value::Text(t) => t.clone(),
            Value::Blob(b) => format!("<{} bytes>", b.len()),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `[strict]`: a rejected row blocks the migration.
const STRICT: bool = true;
/// `[lenient]`: a rejected row is a documented drop; the daemon rebuilds the data.
const LENIENT: bool = false;

const fn dest(db: DbName, table: &'static str, strict: bool, columns: &'static [&'static str]) -> Dest {
    Dest { db, table, columns, strict, upsert_on: None }
}

const SECURITIES: Dest = dest(
    DbName::Universe,
    "securities",
    STRICT,
    &[
        "symbol",
        "yahoo_symbol",
        "isin",
        "name",
        "product_type",
        "industry",
        "country",
        "fullExchangeName",
        "priority_multiplier",
        "min_lot",
        "allow_buy",
        "allow_sell",
        "currency",
        "last_synced",
        "min_portfolio_target",
        "max_portfolio_target",
        "bucket_id",
        "removed_at",
        "created_at",
        "updated_at",
    ],
);
const COUNTRY_GROUPS: Dest =
    dest(DbName::Universe, "country_groups", STRICT, &["group_name", "country_name", "created_at", "updated_at"]);
const INDUSTRY_GROUPS: Dest =
    dest(DbName::Universe, "industry_groups", STRICT, &["group_name", "industry_name", "created_at", "updated_at"]);
const SETTINGS: Dest = dest(DbName::Config, "settings", STRICT, &["key", "value", "description", "updated_at"]);
const ALLOCATION_TARGETS: Dest = dest(
    DbName::Config,
    "allocation_targets",
    STRICT,
    &["id", "type", "name", "target_pct", "created_at", "updated_at"],
);
const TRADES: Dest = dest(
    DbName::Ledger,
    "trades",
    STRICT,
    &[
        "id",
        "symbol",
        "isin",
        "side",
        "quantity",
        "price",
        "currency",
        "currency_rate",
        "value_eur",
        "commission",
        "commission_currency",
        "executed_at",
        "order_id",
        "source",
        "mode",
        "bucket_id",
        "created_at",
    ],
);
const CASH_FLOWS: Dest = dest(
    DbName::Ledger,
    "cash_flows",
    STRICT,
    &[
        "id",
        "transaction_id",
        "type_doc_id",
        "transaction_type",
        "flow_type",
        "date",
        "amount",
        "currency",
        "amount_eur",
        "currency_rate",
        "symbol",
        "status",
        "status_c",
        "description",
        "params_json",
        "created_at",
    ],
);
const DIVIDENDS: Dest = dest(
    DbName::Ledger,
    "dividend_history",
    STRICT,
    &[
        "id",
        "symbol",
        "isin",
        "cash_flow_id",
        "amount",
        "currency",
        "amount_eur",
        "currency_rate",
        "payment_date",
        "reinvested",
        "reinvested_at",
        "reinvested_quantity",
        "pending_bonus",
        "bonus_cleared",
        "cleared_at",
        "created_at",
    ],
);
const POSITIONS: Dest = dest(
    DbName::Portfolio,
    "positions",
    LENIENT,
    &[
        "symbol",
        "isin",
        "quantity",
        "avg_price",
        "current_price",
        "currency",
        "currency_rate",
        "market_value_eur",
        "cost_basis_eur",
        "unrealized_pnl",
        "unrealized_pnl_pct",
        "last_updated",
        "first_bought_at",
        "last_sold_at",
        "bucket_id",
    ],
);
const SCORES: Dest = dest(
    DbName::Portfolio,
    "scores",
    LENIENT,
    &[
        "symbol",
        "total_score",
        "long_term_score",
        "fundamentals_score",
        "opportunity_score",
        "dividends_score",
        "short_term_score",
        "technicals_score",
        "opinion_score",
        "diversification_score",
        "quality_score",
        "sub_scores",
        "cagr_5y",
        "cagr_10y",
        "sharpe",
        "sortino",
        "max_drawdown",
        "volatility",
        "rsi_14",
        "ema_200",
        "bollinger_position",
        "below_52w_high",
        "momentum",
        "dividend_yield",
        "five_year_avg_dividend_yield",
        "payout_ratio",
        "financial_strength",
        "consistency_score",
        "dividend_consistency",
        "defaulted_inputs",
        "history_days",
        "history_months",
        "price_date",
        "calculated_at",
    ],
);
const METRICS: Dest = dest(
    DbName::Portfolio,
    "calculated_metrics",
    LENIENT,
    &["symbol", "metric", "value", "calculated_at", "expires_at", "source"],
);
const SNAPSHOTS: Dest = dest(
    DbName::Portfolio,
    "portfolio_snapshots",
    STRICT,
    &[
        "date",
        "total_value",
        "cash_balance",
        "invested_value",
        "unrealized_pnl",
        "geo_eu_pct",
        "geo_asia_pct",
        "geo_us_pct",
        "position_count",
        "annual_turnover",
        "created_at",
    ],
);
const BUCKETS: Dest = Dest {
    upsert_on: Some(&["id"]),
    ..dest(
        DbName::Satellites,
        "buckets",
        STRICT,
        &[
            "id",
            "name",
            "type",
            "notes",
            "target_pct",
            "min_pct",
            "max_pct",
            "consecutive_losses",
            "max_consecutive_losses",
            "high_water_mark",
            "high_water_mark_date",
            "loss_streak_paused_at",
            "status",
            "agent_id",
            "created_at",
            "updated_at",
        ],
    )
};
const SATELLITE_SETTINGS: Dest = dest(
    DbName::Satellites,
    "satellite_settings",
    STRICT,
    &[
        "satellite_id",
        "preset",
        "risk_appetite",
        "hold_duration",
        "entry_style",
        "position_spread",
        "profit_taking",
        "trailing_stops",
        "follow_regime",
        "auto_harvest",
        "pause_high_volatility",
        "dividend_handling",
        "risk_free_rate",
        "sortino_mar",
        "evaluation_period_days",
        "volatility_window",
    ],
);
const BUCKET_BALANCES: Dest =
    dest(DbName::Satellites, "bucket_balances", STRICT, &["bucket_id", "currency", "balance", "last_updated"]);
const BUCKET_TRANSACTIONS: Dest = dest(
    DbName::Satellites,
    "bucket_transactions",
    STRICT,
    &["id", "bucket_id", "type", "amount", "currency", "description", "created_at"],
);
const ALLOCATION_SETTINGS: Dest = Dest {
    upsert_on: Some(&["key"]),
    ..dest(DbName::Satellites, "allocation_settings", STRICT, &["key", "value", "description"])
};
const AGENT_CONFIGS: Dest = dest(
    DbName::Agents,
    "agent_configs",
    STRICT,
    &["id", "name", "description", "toml_config", "bucket_id", "is_default", "created_at", "updated_at"],
);
const CONFIG_HISTORY: Dest = dest(
    DbName::Agents,
    "config_history",
    STRICT,
    &["id", "agent_config_id", "name", "toml_config", "change_note", "saved_at"],
);
const SEQUENCES: Dest = dest(
    DbName::Agents,
    "sequences",
    LENIENT,
    &[
        "portfolio_hash",
        "sequence_hash",
        "priority",
        "sequence_json",
        "depth",
        "pattern_type",
        "completed",
        "evaluated_at",
        "created_at",
    ],
);
const EVALUATIONS: Dest = dest(
    DbName::Agents,
    "evaluations",
    LENIENT,
    &[
        "portfolio_hash",
        "sequence_hash",
        "end_score",
        "breakdown_json",
        "end_cash",
        "end_context_positions_json",
        "div_score",
        "total_value",
        "evaluated_at",
    ],
);
const BEST_RESULT: Dest =
    dest(DbName::Agents, "best_result", LENIENT, &["portfolio_hash", "best_sequence_hash", "best_score", "updated_at"]);
const DAILY_PRICES: Dest = dest(
    DbName::History,
    "daily_prices",
    LENIENT,
    &["symbol", "date", "open", "high", "low", "close", "adjusted_close", "volume", "source"],
);
const MONTHLY_PRICES: Dest = dest(
    DbName::History,
    "monthly_prices",
    LENIENT,
    &["symbol", "year_month", "avg_close", "avg_adj_close", "min_price", "max_price", "source"],
);
const EXCHANGE_RATES: Dest =
    dest(DbName::History, "exchange_rates", LENIENT, &["from_currency", "to_currency", "date", "rate", "source"]);
const RECOMMENDATIONS: Dest = dest(
    DbName::Cache,
    "recommendations",
    LENIENT,
    &[
        "uuid",
        "symbol",
        "isin",
        "name",
        "side",
        "quantity",
        "estimated_price",
        "estimated_value",
        "currency",
        "reason",
        "country",
        "industry",
        "priority",
        "current_portfolio_score",
        "new_portfolio_score",
        "score_change",
        "status",
        "source",
        "attempts",
        "status_reason",
        "order_id",
        "portfolio_hash",
        "created_at",
        "updated_at",
        "executed_at",
        "dismissed_at",
    ],
);

/// Every destination, in the order they are built (universe … cache). Destinations without a source
/// (gc_log, orders, order_events, cache_data) start empty.
pub const DESTINATIONS: [Dest; 26] = [
    SECURITIES,
    COUNTRY_GROUPS,
    INDUSTRY_GROUPS,
    SETTINGS,
    ALLOCATION_TARGETS,
    TRADES,
    CASH_FLOWS,
    DIVIDENDS,
    POSITIONS,
    SCORES,
    METRICS,
    SNAPSHOTS,
    BUCKETS,
    SATELLITE_SETTINGS,
    BUCKET_BALANCES,
    BUCKET_TRANSACTIONS,
    ALLOCATION_SETTINGS,
    AGENT_CONFIGS,
    CONFIG_HISTORY,
    SEQUENCES,
    EVALUATIONS,
    BEST_RESULT,
    DAILY_PRICES,
    MONTHLY_PRICES,
    EXCHANGE_RATES,
    RECOMMENDATIONS,
];

/// The mapping at work: sources, options and the plan being built.
struct Mapper<'a> {
    sources: &'a Sources,
    options: &'a Options,
    plan: Plan,
    rows: BTreeMap<&'static str, Vec<Candidate>>,
}

type MapFn<'f> = dyn Fn(&Record<'_>, &mut Counters) -> Converted<Vec<Value>> + 'f;

impl<'a> Mapper<'a> {
    /// Reads a source table and checks its shape; `None` if absent or unusable (a blocking problem was noted).
    fn table(&mut self, file: &str, table: &str, shape: &Shape) -> Option<Table> {
        let read = match self.sources.read(file, table) {
            Ok(Some(t)) => t,
            Ok(None) => return None,
            Err(e) => {
                self.plan.blocking.push(problem("UNREADABLE_TABLE", file, Some(table), None, e.to_string()));
                return None;
            }
        };
        self.plan.rows_read.insert(format!("{file}:{table}"), read.rows.len());
        let check = shape.check(&read);
        self.report_shape(file, table, &read.columns, &check);
        check.missing_required.is_empty().then_some(read)
    }

    /// Notes the problems a shape check found.
    fn report_shape(&mut self, file: &str, table: &str, columns: &[String], check: &super::source::ShapeCheck) {
        for column in &check.missing_required {
            self.plan.blocking.push(problem(
                "UNSUPPORTED_SHAPE",
                file,
                Some(table),
                Some(column),
                format!("required column `{column}` is missing (columns: {})", columns.join(", ")),
            ));
        }
        for column in &check.unknown_empty {
            self.plan.warnings.push(problem(
                "UNKNOWN_COLUMN_EMPTY",
                file,
                Some(table),
                Some(column),
                "every value is NULL",
            ));
        }
        for (column, n) in &check.unknown_with_data {
            let p = problem("UNKNOWN_COLUMN_DATA", file, Some(table), Some(column), format!("{n} non-NULL value(s)"));
            if self.options.accept_unknown_columns {
                self.plan.warnings.push(p);
            } else {
                self.plan.blocking.push(p);
            }
        }
    }

    /// The shape check of a table from its column list and SQL counts, without reading its rows.
    fn shape_only(&mut self, file: &str, table: &str, shape: &Shape) {
        let Ok(Some(columns)) = self.sources.columns(file, table) else { return };
        let probe = Table { file: file.to_owned(), name: table.to_owned(), columns: columns.clone(), rows: Vec::new() };
        let mut check = shape.check(&probe);
        check.unknown_empty.clear();
        for column in &columns {
            let known = shape.required.contains(&column.as_str())
                || shape.optional.contains(&column.as_str())
                || shape.dropped.contains(&column.as_str());
            if !known {
                match self.sources.non_null(file, table, column) {
                    Ok(0) => check.unknown_empty.push(column.clone()),
                    Ok(n) => check.unknown_with_data.push((column.clone(), n)),
                    Err(e) => self.plan.blocking.push(problem(
                        "UNREADABLE_TABLE",
                        file,
                        Some(table),
                        Some(column),
                        e.to_string(),
                    )),
                }
            }
        }
        self.report_shape(file, table, &columns, &check);
    }

    fn drop_row(&mut self, file: &str, table: &str, key: String, code: &str, detail: String, kept_key: Option<String>) {
        self.plan.not_migrated.push(NotMigrated {
            file: file.to_owned(),
            table: table.to_owned(),
            key,
            code: code.to_owned(),
            detail,
            kept_key,
        });
    }

    /// Converts every row of a table; a failed conversion is a rejection (blocking for a strict destination).
    fn convert(&mut self, dest: &Dest, table: &Table, key_columns: &[&str], map: &MapFn<'_>) -> Vec<Candidate> {
        self.convert_ranked(dest, table, key_columns, &|_| String::new(), map)
    }

    /// As [`Mapper::convert`], with each candidate's precedence rank taken from its source row.
    fn convert_ranked(
        &mut self,
        dest: &Dest,
        table: &Table,
        key_columns: &[&str],
        rank: &dyn Fn(&Record<'_>) -> String,
        map: &MapFn<'_>,
    ) -> Vec<Candidate> {
        if self.options.strict_only && !dest.strict {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(table.rows.len());
        let (file, name): (Rc<str>, Rc<str>) = (table.file.as_str().into(), table.name.as_str().into());
        for rec in table.records() {
            let key = key_of(&rec, key_columns);
            match map(&rec, &mut self.plan.counters) {
                Ok(values) => {
                    debug_assert_eq!(values.len(), dest.columns.len(), "{}", dest.table);
                    out.push(Candidate { values, file: file.clone(), table: name.clone(), key, rank: rank(&rec) });
                }
                Err(rejection) => self.reject(dest, &table.file, &table.name, key, rejection),
            }
        }
        out
    }

    fn reject(&mut self, dest: &Dest, file: &str, table: &str, key: String, rejection: Rejection) {
        let code = format!("REJECTED_{}", rejection.rule);
        if dest.strict {
            self.plan.blocking.push(problem(
                &code,
                file,
                Some(table),
                None,
                format!("{}.{} row {key}: {}", dest.db, dest.table, rejection.detail),
            ));
        }
        self.drop_row(file, table, key, &code, rejection.detail, None);
    }

    fn push(&mut self, dest: &Dest, rows: Vec<Candidate>) {
        self.rows.entry(dest.table).or_default().extend(rows);
    }

    /// Counts a whole table as not migrated by design.
    /// Counts a whole table of `rows` rows as not migrated by design (its rows are never read).
    fn by_design(&mut self, file: &str, table: &str, rows: i64, code: &str) {
        self.plan.rows_read.insert(format!("{file}:{table}"), rows as usize);
        for i in 0..rows {
            self.drop_row(file, table, format!("row {}", i + 1), code, String::new(), None);
        }
    }

    /// Keeps, for each merge key, the best candidate; the others are dropped with `code`.
    fn merge(
        &mut self,
        candidates: Vec<Candidate>,
        key: impl Fn(&Candidate) -> String,
        better: impl Fn(&Candidate, &Candidate) -> bool,
        code: &str,
    ) -> Vec<Candidate> {
        let mut index: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(candidates.len());
        let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let k = key(&candidate);
            let Some(&slot) = index.get(&k) else {
                index.insert(k, kept.len());
                kept.push(candidate);
                continue;
            };
            let loser =
                if better(&candidate, &kept[slot]) { std::mem::replace(&mut kept[slot], candidate) } else { candidate };
            let winner = &kept[slot];
            let kept_key = format!("{}:{} {}", winner.file, winner.table, winner.key);
            self.drop_row(&loser.file, &loser.table, loser.key.clone(), code, format!("merge key {k}"), Some(kept_key));
        }
        kept
    }
}

fn problem(code: &str, file: &str, table: Option<&str>, column: Option<&str>, detail: impl Into<String>) -> Problem {
    Problem {
        code: code.to_owned(),
        file: file.to_owned(),
        table: table.map(str::to_owned),
        column: column.map(str::to_owned),
        detail: detail.into(),
    }
}

/// A merge key from some values of a candidate (NULL, numbers and text spelled apart).
fn vkey(values: &[&Value]) -> String {
    let mut key = String::new();
    for v in values {
        match v {
            Value::Null => key.push('\u{0}'),
            Value::Integer(i) => key.push_str(&i.to_string()),
            Value::Real(r) => key.push_str(&r.to_bits().to_string()),
            Value::Text(t) => key.push_str(t),
            Value::Blob(b) => key.push_str(&format!("{b:?}")),
        }
        key.push('\u{1}');
    }
    key
}

fn value_text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

/// Column index of a destination column.
fn col(dest: &Dest, column: &str) -> usize {
    dest.columns.iter().position(|c| *c == column).expect("a destination column")
}

/// True when `a`'s column is newer than `b`'s (NULL counts as oldest; ties are not newer).
fn newer(a: &Candidate, b: &Candidate, index: usize) -> bool {
    value_text(&a.values[index]) > value_text(&b.values[index])
}

/// Runs the whole mapping over the sources.
pub fn plan(sources: &Sources, options: &Options) -> Plan {
    let mut m = Mapper { sources, options, plan: Plan::default(), rows: BTreeMap::new() };
    check_tables(&mut m);
    universe(&mut m);
    config(&mut m);
    ledger(&mut m);
    portfolio(&mut m);
    satellites(&mut m);
    agents(&mut m);
    history(&mut m);
    cache(&mut m);
    let Mapper { mut plan, mut rows, .. } = m;
    plan.rows = DESTINATIONS.iter().map(|d| (*d, rows.remove(d.table).unwrap_or_default())).collect();
    plan
}

/// Unknown tables (§5.3), ephemeral caches and `schema_version` rows (§7.9).
/// Tables the original's 8-database build created in every file (legacy-layout.md §5.4).
fn is_new_schema_table(table: &str) -> bool {
    DbName::ALL.iter().any(|n| n.spec().tables.contains(&table))
}

fn check_tables(m: &mut Mapper<'_>) {
    let files: Vec<String> = m.sources.files().cloned().collect();
    let mut go_era = false;
    for file in files {
        let known = known_tables(&file);
        let tables = m.sources.tables(&file);
        m.plan.source_tables.insert(file.clone(), tables.clone());
        if super::source::GO_ERA_FILES.contains(&file.as_str()) {
            let rows: i64 = tables.iter().map(|(_, n)| n).sum();
            go_era = true;
            if rows == 0 {
                m.plan.warnings.push(problem("GO_ERA_EMPTY_FILE", &file, None, None, "no rows in any table; archived"));
                continue;
            }
        }
        for (table, rows) in tables {
            if table == "schema_version" {
                m.by_design(&file, "schema_version", rows, "SCHEMA_VERSION");
            } else if ["cache_entries", "yahoo_cache", "recommendation_cache", "analytics_cache"]
                .contains(&table.as_str())
                && file == "cache.db"
            {
                m.by_design(&file, &table, rows, "EPHEMERAL_CACHE");
            } else if table == "satellite_regime_performance" {
                m.by_design(&file, &table, rows, "DEAD_TABLE");
            } else if !known.contains(&table.as_str()) {
                if rows == 0 {
                    go_era |= is_new_schema_table(&table);
                    m.plan.warnings.push(problem("EXTRA_EMPTY_TABLE", &file, Some(&table), None, "no rows; ignored"));
                } else {
                    m.plan.blocking.push(problem(
                        "UNKNOWN_TABLE_DATA",
                        &file,
                        Some(&table),
                        None,
                        format!("{rows} row(s)"),
                    ));
                }
            }
        }
    }
    if go_era || m.sources.conn("satellites.db").is_some_and(|c| has_column(c, "buckets", "agent_id")) {
        m.plan.warnings.push(problem(
            "GO_ERA_START_DETECTED",
            "satellites.db",
            Some("bucket_balances"),
            None,
            "the original's 8-database build ran here: bucket balances may have been reset at each start; \
             compare them with the broker after migration",
        ));
    }
}

fn has_column(conn: &rusqlite::Connection, table: &str, column: &str) -> bool {
    conn.query_row("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| {
        r.get::<_, i64>(0)
    })
    .is_ok_and(|n| n > 0)
}

const SECURITY_SHAPE: Shape = Shape {
    required: &["symbol", "name", "created_at", "updated_at"],
    optional: &[
        "yahoo_symbol",
        "isin",
        "product_type",
        "industry",
        "country",
        "fullExchangeName",
        "priority_multiplier",
        "min_lot",
        "active",
        "allow_buy",
        "allow_sell",
        "currency",
        "last_synced",
        "min_portfolio_target",
        "max_portfolio_target",
        "bucket_id",
    ],
    dropped: &["geography"],
};

fn universe(m: &mut Mapper<'_>) {
    let t0 = m.options.t0.clone();
    let table =
        m.table("config.db", "securities", &SECURITY_SHAPE).or_else(|| m.table("config.db", "stocks", &SECURITY_SHAPE));
    if let Some(table) = table {
        let mut kept = table.empty_like();
        for rec in table.records() {
            let symbol = sym(rec.get("symbol")).unwrap_or_default();
            let product = blank(rec.get("product_type")).map(|p| p.to_uppercase());
            if symbol.starts_with("CASH:") || product.as_deref() == Some("CASH") {
                m.drop_row(&table.file, &table.name, symbol, "CASH_PSEUDO_SECURITY", String::new(), None);
            } else {
                kept.rows.push(table.rows[rec.index].clone());
            }
        }
        let rows = m.convert(&SECURITIES, &kept, &["symbol"], &|r, c| {
            let product = blank(r.get("product_type")).map(|p| p.to_uppercase());
            let active = boolean(r.get("active"), true)?;
            Ok(vec![
                text(sym(r.get("symbol"))),
                text(blank(r.get("yahoo_symbol"))),
                text(blank(r.get("isin")).map(|s| s.to_uppercase())),
                as_text(r.get("name")),
                nz_text(product, "UNKNOWN", c),
                as_text(r.get("industry")),
                as_text(r.get("country")),
                as_text(r.get("fullExchangeName")),
                nz_real(real(r.get("priority_multiplier"))?, 1.0, c),
                Value::Integer(int(r.get("min_lot"))?.unwrap_or(1)),
                bool_v(boolean(r.get("allow_buy"), true)?),
                bool_v(boolean(r.get("allow_sell"), false)?),
                text(cur(r.get("currency"))),
                ts_opt(r.get("last_synced"), c)?,
                keep_real(r.get("min_portfolio_target"))?,
                keep_real(r.get("max_portfolio_target"))?,
                nz_text(blank(r.get("bucket_id")), "core", c),
                if active { Value::Null } else { Value::Text(t0.clone()) },
                ts_required(r.get("created_at"), c)?,
                ts_required(r.get("updated_at"), c)?,
            ])
        });
        m.push(&SECURITIES, rows);
    }
    const COUNTRY: Shape = Shape {
        required: &["group_name", "country_name", "created_at", "updated_at"],
        optional: &[],
        dropped: &["id"],
    };
    const INDUSTRY: Shape = Shape {
        required: &["group_name", "industry_name", "created_at", "updated_at"],
        optional: &[],
        dropped: &["id"],
    };
    for (dest, member, shape) in
        [(COUNTRY_GROUPS, "country_name", COUNTRY), (INDUSTRY_GROUPS, "industry_name", INDUSTRY)]
    {
        if let Some(table) = m.table("config.db", dest.table, &shape) {
            let rows = m.convert(&dest, &table, &["group_name", member], &|r, c| {
                Ok(vec![
                    as_text(r.get("group_name")),
                    as_text(r.get(member)),
                    ts_required(r.get("created_at"), c)?,
                    ts_required(r.get("updated_at"), c)?,
                ])
            });
            m.push(&dest, rows);
        }
    }
}

/// Keys whose values are broker credentials: never copied into config.db (legacy-layout.md §7.2).
pub fn is_credential_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["_api_key", "_secret", "_password", "_token"].iter().any(|s| k.ends_with(s))
}

fn config(m: &mut Mapper<'_>) {
    let t0 = m.options.t0.clone();
    let shape = Shape { required: &["key", "value"], optional: &["description", "updated_at"], dropped: &[] };
    if let Some(table) = m.table("config.db", "settings", &shape) {
        let mut kept = table.empty_like();
        for rec in table.records() {
            let key = convert::txt(rec.get("key")).ok().flatten().unwrap_or_default();
            if is_credential_key(&key) {
                let lower = key.to_ascii_lowercase();
                if lower == "tradernet_api_key" || lower == "tradernet_api_secret" {
                    if let Some(value) = convert::txt(rec.get("value")).ok().flatten() {
                        m.plan.credentials.insert(lower, value);
                    }
                    m.drop_row(
                        "config.db",
                        "settings",
                        key,
                        "CREDENTIAL_MOVED",
                        "moved to the credentials file".into(),
                        None,
                    );
                } else {
                    m.drop_row(
                        "config.db",
                        "settings",
                        key,
                        "CREDENTIAL_DROPPED",
                        "kept only in the backup".into(),
                        None,
                    );
                }
                continue;
            }
            kept.rows.push(table.rows[rec.index].clone());
        }
        let rows = m.convert(&SETTINGS, &kept, &["key"], &|r, c| {
            Ok(vec![
                as_text(r.get("key")),
                text(txt(r.get("value"))?),
                as_text(r.get("description")),
                ts(r.get("updated_at"), c)?.map(Value::Text).unwrap_or_else(|| nz_text(None, &t0, c)),
            ])
        });
        m.push(&SETTINGS, rows);
    }
    let shape = Shape {
        required: &["id", "type", "name", "target_pct", "created_at", "updated_at"],
        optional: &[],
        dropped: &[],
    };
    if let Some(table) = m.table("config.db", "allocation_targets", &shape) {
        let rows = m.convert(&ALLOCATION_TARGETS, &table, &["id"], &|r, c| {
            Ok(vec![
                Value::Integer(int(r.get("id"))?.ok_or_else(|| Rejection::new("INTEGER", "NULL id"))?),
                as_text(r.get("type")),
                as_text(r.get("name")),
                keep_real(r.get("target_pct"))?,
                ts_required(r.get("created_at"), c)?,
                ts_required(r.get("updated_at"), c)?,
            ])
        });
        m.push(&ALLOCATION_TARGETS, rows);
    }
}

/// `dec` that must not be NULL.
fn dec_required(v: &Value, c: &mut Counters) -> Converted<String> {
    dec(v, c)?.ok_or_else(|| Rejection::new("DECIMAL", "NULL"))
}

fn side(v: &Value) -> Converted<Value> {
    match blank(v).map(|s| s.to_uppercase()).as_deref() {
        Some(s @ ("BUY" | "SELL")) => Ok(Value::Text(s.to_owned())),
        _ => Err(Rejection::new("SIDE", format!("{v:?}"))),
    }
}

/// (flow_type, sign rule) of a legacy `transaction_type` (legacy-layout.md §7.3): `+` as recorded but positive
/// expected, `-` stored negative, `=` as recorded.
fn flow_type(transaction_type: Option<&str>) -> (&'static str, char) {
    match transaction_type.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        Some("deposit" | "refill" | "transfer_in") => ("deposit", '+'),
        Some("withdrawal" | "transfer_out") => ("withdrawal", '-'),
        Some("dividend" | "coupon") => ("dividend", '+'),
        Some("interest") => ("interest", '+'),
        Some("tax") => ("tax", '-'),
        Some("trading_fee" | "withdrawal_fee" | "structured_product_fee" | "fee" | "commission") => ("fee", '-'),
        Some("structured_product_purchase") => ("trade", '-'),
        Some("maturity" | "partial_maturity") => ("other", '+'),
        _ => ("other", '='),
    }
}

fn signed(amount: String, rule: char, c: &mut Counters) -> String {
    match rule {
        '-' if !amount.starts_with('-') && amount != "0" => {
            c.bump("signs_applied");
            format!("-{amount}")
        }
        _ => amount,
    }
}

const DIVIDEND_SHAPE: Shape = Shape {
    required: &["id", "symbol", "amount", "currency", "amount_eur", "payment_date", "created_at"],
    optional: &[
        "isin",
        "cash_flow_id",
        "reinvested",
        "reinvested_at",
        "reinvested_quantity",
        "pending_bonus",
        "bonus_cleared",
        "cleared_at",
    ],
    dropped: &[],
};

fn ledger(m: &mut Mapper<'_>) {
    let shape = Shape {
        required: &["id", "symbol", "side", "quantity", "price", "executed_at", "created_at"],
        optional: &["isin", "order_id", "currency", "currency_rate", "value_eur", "source", "bucket_id", "mode"],
        dropped: &[],
    };
    if let Some(table) = m.table("ledger.db", "trades", &shape) {
        let rows = m.convert(&TRADES, &table, &["id"], &|r, c| {
            let quantity = dec_required(r.get("quantity"), c)?;
            if quantity.starts_with('-') || quantity == "0" {
                return Err(Rejection::new("QUANTITY", format!("quantity {quantity} is not positive")));
            }
            let price = dec_required(r.get("price"), c)?;
            if price.starts_with('-') {
                return Err(Rejection::new("PRICE", format!("price {price} is negative")));
            }
            let rate = match dec(r.get("currency_rate"), c)? {
                Some(z) if z == "0" => {
                    c.bump("zero_rate_to_null");
                    None
                }
                other => other,
            };
            let mode = nz_text(blank(r.get("mode")), "live", c);
            Ok(vec![
                Value::Integer(int(r.get("id"))?.ok_or_else(|| Rejection::new("INTEGER", "NULL id"))?),
                text(sym(r.get("symbol"))),
                text(blank(r.get("isin")).map(|s| s.to_uppercase())),
                side(r.get("side"))?,
                Value::Text(quantity),
                Value::Text(price),
                text(cur(r.get("currency"))),
                text(rate),
                text(dec(r.get("value_eur"), c)?),
                Value::Null,
                Value::Null,
                ts_required(r.get("executed_at"), c)?,
                text(blank(r.get("order_id"))),
                nz_text(blank(r.get("source")), "tradernet", c),
                mode,
                nz_text(blank(r.get("bucket_id")), "core", c),
                ts_required(r.get("created_at"), c)?,
            ])
        });
        m.push(&TRADES, rows);
    }
    let shape = Shape {
        required: &["id", "transaction_id", "type_doc_id", "date", "amount", "currency", "amount_eur", "created_at"],
        optional: &["transaction_type", "status", "status_c", "description", "params_json"],
        dropped: &[],
    };
    let mut flow_ids = BTreeSet::new();
    if let Some(table) = m.table("ledger.db", "cash_flows", &shape) {
        let rows = m.convert(&CASH_FLOWS, &table, &["id"], &|r, c| {
            let transaction_type = convert::txt(r.get("transaction_type")).ok().flatten();
            let (flow, rule) = flow_type(transaction_type.as_deref());
            let amount = signed(dec_required(r.get("amount"), c)?, rule, c);
            let amount_eur = signed(dec_required(r.get("amount_eur"), c)?, rule, c);
            Ok(vec![
                Value::Integer(int(r.get("id"))?.ok_or_else(|| Rejection::new("INTEGER", "NULL id"))?),
                text(txt(r.get("transaction_id"))?),
                text(txt(r.get("type_doc_id"))?),
                text(transaction_type),
                Value::Text(flow.to_owned()),
                text(convert::date(r.get("date"), c)?),
                Value::Text(amount),
                text(cur(r.get("currency"))),
                Value::Text(amount_eur),
                Value::Null,
                Value::Null,
                as_text(r.get("status")),
                int_v(int(r.get("status_c"))?),
                as_text(r.get("description")),
                as_text(r.get("params_json")),
                ts_required(r.get("created_at"), c)?,
            ])
        });
        for row in &rows {
            let (flow, rule) = flow_type(value_text(&row.values[3]));
            let _ = flow;
            if rule == '+' && value_text(&row.values[6]).is_some_and(|a| a.starts_with('-')) {
                m.plan.warnings.push(problem(
                    "NEGATIVE_INFLOW",
                    &row.file,
                    Some(&row.table),
                    None,
                    format!("id {}", row.key),
                ));
            }
            if let Value::Integer(id) = row.values[0] {
                flow_ids.insert(id);
            }
        }
        m.push(&CASH_FLOWS, rows);
    }
    dividends(m, &flow_ids);
}

fn dividends(m: &mut Mapper<'_>, flow_ids: &BTreeSet<i64>) {
    let mut all: Vec<Candidate> = Vec::new();
    for file in ["dividends.db", "ledger.db"] {
        if let Some(table) = m.table(file, "dividend_history", &DIVIDEND_SHAPE) {
            let mut rows = m.convert(&DIVIDENDS, &table, &["id"], &|r, c| {
                Ok(vec![
                    Value::Integer(int(r.get("id"))?.ok_or_else(|| Rejection::new("INTEGER", "NULL id"))?),
                    text(sym(r.get("symbol"))),
                    text(blank(r.get("isin")).map(|s| s.to_uppercase())),
                    int_v(int(r.get("cash_flow_id"))?),
                    Value::Text(dec_required(r.get("amount"), c)?),
                    text(cur(r.get("currency"))),
                    Value::Text(dec_required(r.get("amount_eur"), c)?),
                    Value::Null,
                    text(convert::date(r.get("payment_date"), c)?),
                    bool_v(boolean(r.get("reinvested"), false)?),
                    ts_opt(r.get("reinvested_at"), c)?,
                    text(dec(r.get("reinvested_quantity"), c)?),
                    Value::Text(dec(r.get("pending_bonus"), c)?.unwrap_or_else(|| "0".into())),
                    bool_v(boolean(r.get("bonus_cleared"), false)?),
                    ts_opt(r.get("cleared_at"), c)?,
                    ts_required(r.get("created_at"), c)?,
                ])
            });
            // Within one source the lower id wins; the first source's rows keep precedence by coming first.
            rows.sort_by_key(|c| match c.values[0] {
                Value::Integer(i) => i,
                _ => 0,
            });
            all.extend(rows);
        }
    }
    let first_file = all.first().map(|c| c.file.clone());
    let key = |c: &Candidate| match &c.values[3] {
        Value::Integer(id) => format!("cash_flow:{id}"),
        _ => format!(
            "{}|{}|{}|{}",
            value_text(&c.values[1]).unwrap_or(""),
            value_text(&c.values[8]).unwrap_or(""),
            value_text(&c.values[5]).unwrap_or(""),
            value_text(&c.values[4]).unwrap_or("")
        ),
    };
    // The earlier candidate (higher-precedence source, then lower id) always wins.
    let mut kept = m.merge(all, key, |_, _| false, "DUPLICATE_MERGED");
    // Rows of the first source keep their ids; the others are renumbered after the largest kept id.
    let mut next = kept
        .iter()
        .filter(|c| Some(&c.file) == first_file.as_ref())
        .filter_map(|c| if let Value::Integer(i) = c.values[0] { Some(i) } else { None })
        .max()
        .unwrap_or(0);
    for c in kept.iter_mut().filter(|c| Some(&c.file) != first_file.as_ref()) {
        if let Value::Integer(old) = c.values[0] {
            next += 1;
            m.plan.id_remaps.push((format!("{}:dividend_history", c.file), old, next));
            c.values[0] = Value::Integer(next);
        }
    }
    for c in kept.iter_mut() {
        if let Value::Integer(flow) = c.values[3]
            && !flow_ids.contains(&flow)
        {
            m.plan.warnings.push(problem(
                "DANGLING_CASH_FLOW_ID",
                &c.file,
                Some(&c.table),
                Some("cash_flow_id"),
                format!("row {}: cash flow {flow} does not exist; set to NULL", c.key),
            ));
            c.values[3] = Value::Null;
        }
    }
    m.push(&DIVIDENDS, kept);
}

fn portfolio(m: &mut Mapper<'_>) {
    let shape = Shape { required: &["symbol", "quantity", "avg_price"], optional: POSITIONS.columns, dropped: &[] };
    if let Some(table) = m.table("state.db", "positions", &shape) {
        let mut kept = table.empty_like();
        for rec in table.records() {
            let symbol = sym(rec.get("symbol")).unwrap_or_default();
            if symbol.starts_with("CASH:") {
                m.drop_row("state.db", "positions", symbol, "CASH_PSEUDO_SECURITY", String::new(), None);
            } else {
                kept.rows.push(table.rows[rec.index].clone());
            }
        }
        let rows = m.convert(&POSITIONS, &kept, &["symbol"], &|r, c| {
            Ok(vec![
                text(sym(r.get("symbol"))),
                text(blank(r.get("isin")).map(|s| s.to_uppercase())),
                keep_real(r.get("quantity"))?,
                keep_real(r.get("avg_price"))?,
                positive_or_null(r.get("current_price"), c)?,
                nz_text(cur(r.get("currency")), "EUR", c),
                nz_real(real(r.get("currency_rate"))?, 1.0, c),
                keep_real(r.get("market_value_eur"))?,
                keep_real(r.get("cost_basis_eur"))?,
                keep_real(r.get("unrealized_pnl"))?,
                keep_real(r.get("unrealized_pnl_pct"))?,
                ts_opt(r.get("last_updated"), c)?,
                ts_opt(r.get("first_bought_at"), c)?,
                ts_opt(r.get("last_sold_at"), c)?,
                nz_text(blank(r.get("bucket_id")), "core", c),
            ])
        });
        m.push(&POSITIONS, rows);
    }
    scores(m);
    let shape = Shape {
        required: &["symbol", "metric", "value", "calculated_at"],
        optional: METRICS.columns,
        dropped: &["isin"],
    };
    if let Some(table) = m.table("calculations.db", "calculated_metrics", &shape) {
        let rows = m.convert(&METRICS, &table, &["symbol", "metric"], &|r, c| {
            Ok(vec![
                text(sym(r.get("symbol"))),
                as_text(r.get("metric")),
                keep_real(r.get("value"))?,
                ts_required(r.get("calculated_at"), c)?,
                ts_opt(r.get("expires_at"), c)?,
                nz_text(blank(r.get("source")), "calculated", c),
            ])
        });
        m.push(&METRICS, rows);
    }
    let shape = Shape {
        required: &["date", "total_value", "cash_balance", "created_at"],
        optional: SNAPSHOTS.columns,
        dropped: &[],
    };
    let mut all = Vec::new();
    for file in ["snapshots.db", "state.db"] {
        if let Some(table) = m.table(file, "portfolio_snapshots", &shape) {
            all.extend(m.convert(&SNAPSHOTS, &table, &["date"], &|r, c| {
                Ok(vec![
                    text(convert::date(r.get("date"), c)?),
                    keep_real(r.get("total_value"))?,
                    keep_real(r.get("cash_balance"))?,
                    keep_real(r.get("invested_value"))?,
                    keep_real(r.get("unrealized_pnl"))?,
                    keep_real(r.get("geo_eu_pct"))?,
                    keep_real(r.get("geo_asia_pct"))?,
                    keep_real(r.get("geo_us_pct"))?,
                    int_v(int(r.get("position_count"))?),
                    keep_real(r.get("annual_turnover"))?,
                    ts_required(r.get("created_at"), c)?,
                ])
            }));
        }
    }
    let created = col(&SNAPSHOTS, "created_at");
    let kept = m.merge(all, |c| vkey(&[&c.values[0]]), |a, b| newer(a, b, created), "SUPERSEDED");
    m.push(&SNAPSHOTS, kept);
}

const SCORE_SHAPE: Shape = Shape {
    required: &["symbol"],
    optional: &[
        "total_score",
        "quality_score",
        "opportunity_score",
        "analyst_score",
        "allocation_fit_score",
        "cagr_score",
        "consistency_score",
        "financial_strength_score",
        "sharpe_score",
        "drawdown_score",
        "dividend_bonus",
        "rsi",
        "ema_200",
        "below_52w_high_pct",
        "sell_score",
        "history_years",
        "calculated_at",
    ],
    dropped: &["isin"],
};

/// The legacy sub-scores kept as JSON, in this order.
const LEGACY_SUB_SCORES: [&str; 7] = [
    "cagr_score",
    "sharpe_score",
    "drawdown_score",
    "dividend_bonus",
    "below_52w_high_pct",
    "sell_score",
    "history_years",
];

fn scores(m: &mut Mapper<'_>) {
    let mut all = Vec::new();
    for file in ["calculations.db", "state.db"] {
        if let Some(table) = m.table(file, "scores", &SCORE_SHAPE) {
            all.extend(m.convert(&SCORES, &table, &["symbol"], &|r, c| {
                let total =
                    real(r.get("total_score"))?.ok_or_else(|| Rejection::new("SCORE", "total_score is NULL"))?;
                if !(0.0..=1.0).contains(&total) {
                    return Err(Rejection::new("SCORE", format!("total_score {total} is outside [0, 1]")));
                }
                let mut legacy = serde_json::Map::new();
                for name in LEGACY_SUB_SCORES {
                    if let Some(x) = real(r.get(name))? {
                        legacy.insert(name.to_owned(), serde_json::json!(x));
                    }
                }
                let sub_scores = (!legacy.is_empty()).then(|| serde_json::json!({ "legacy": legacy }).to_string());
                let mut values = vec![Value::Null; SCORES.columns.len()];
                let mut set = |column: &str, v: Value| values[col(&SCORES, column)] = v;
                set("symbol", text(sym(r.get("symbol"))));
                set("total_score", Value::Real(total));
                set("quality_score", keep_real(r.get("quality_score"))?);
                set("opportunity_score", keep_real(r.get("opportunity_score"))?);
                set("opinion_score", keep_real(r.get("analyst_score"))?);
                set("diversification_score", keep_real(r.get("allocation_fit_score"))?);
                set("financial_strength", keep_real(r.get("financial_strength_score"))?);
                set("consistency_score", keep_real(r.get("consistency_score"))?);
                set("rsi_14", keep_real(r.get("rsi"))?);
                set("ema_200", keep_real(r.get("ema_200"))?);
                set("sub_scores", text(sub_scores));
                set("calculated_at", ts_required(r.get("calculated_at"), c)?);
                Ok(values)
            }));
        }
    }
    let at = col(&SCORES, "calculated_at");
    let kept = m.merge(all, |c| vkey(&[&c.values[0]]), |a, b| newer(a, b, at), "SUPERSEDED");
    m.push(&SCORES, kept);
}

/// Where a legacy table's columns are exactly its destination's, the destination's column list is the shape's
/// optional list (the required ones are in it too, which the check allows).
fn satellites(m: &mut Mapper<'_>) {
    let file = "satellites.db";
    let shape = Shape {
        required: &["id", "name", "type", "created_at", "updated_at"],
        optional: BUCKETS.columns,
        dropped: &[],
    };
    if let Some(table) = m.table(file, "buckets", &shape) {
        let rows = m.convert(&BUCKETS, &table, &["id"], &|r, c| {
            Ok(vec![
                as_text(r.get("id")),
                as_text(r.get("name")),
                as_text(r.get("type")),
                as_text(r.get("notes")),
                keep_real(r.get("target_pct"))?,
                keep_real(r.get("min_pct"))?,
                keep_real(r.get("max_pct"))?,
                Value::Integer(int(r.get("consecutive_losses"))?.unwrap_or(0)),
                Value::Integer(int(r.get("max_consecutive_losses"))?.unwrap_or(5)),
                nz_real(real(r.get("high_water_mark"))?, 0.0, c),
                ts_opt(r.get("high_water_mark_date"), c)?,
                ts_opt(r.get("loss_streak_paused_at"), c)?,
                nz_text(blank(r.get("status")), "active", c),
                text(blank(r.get("agent_id"))),
                ts_required(r.get("created_at"), c)?,
                ts_required(r.get("updated_at"), c)?,
            ])
        });
        m.push(&BUCKETS, rows);
    }
    let shape = Shape { required: &["satellite_id"], optional: SATELLITE_SETTINGS.columns, dropped: &[] };
    if let Some(table) = m.table(file, "satellite_settings", &shape) {
        let rows = m.convert(&SATELLITE_SETTINGS, &table, &["satellite_id"], &|r, c| {
            let slider = |name: &str, c: &mut Counters| -> Converted<Value> { Ok(nz_real(real(r.get(name))?, 0.5, c)) };
            Ok(vec![
                as_text(r.get("satellite_id")),
                as_text(r.get("preset")),
                slider("risk_appetite", c)?,
                slider("hold_duration", c)?,
                slider("entry_style", c)?,
                slider("position_spread", c)?,
                slider("profit_taking", c)?,
                bool_v(boolean(r.get("trailing_stops"), false)?),
                bool_v(boolean(r.get("follow_regime"), false)?),
                bool_v(boolean(r.get("auto_harvest"), false)?),
                bool_v(boolean(r.get("pause_high_volatility"), false)?),
                nz_text(blank(r.get("dividend_handling")), "reinvest_same", c),
                nz_real(real(r.get("risk_free_rate"))?, 0.035, c),
                nz_real(real(r.get("sortino_mar"))?, 0.05, c),
                Value::Integer(int(r.get("evaluation_period_days"))?.unwrap_or(90)),
                Value::Integer(int(r.get("volatility_window"))?.unwrap_or(60)),
            ])
        });
        m.push(&SATELLITE_SETTINGS, rows);
    }
    let shape = Shape { required: &["bucket_id", "currency", "balance", "last_updated"], optional: &[], dropped: &[] };
    if let Some(table) = m.table(file, "bucket_balances", &shape) {
        let rows = m.convert(&BUCKET_BALANCES, &table, &["bucket_id", "currency"], &|r, c| {
            Ok(vec![
                as_text(r.get("bucket_id")),
                text(cur(r.get("currency"))),
                Value::Text(dec_required(r.get("balance"), c)?),
                ts_required(r.get("last_updated"), c)?,
            ])
        });
        m.push(&BUCKET_BALANCES, rows);
    }
    let shape = Shape {
        required: &["id", "bucket_id", "type", "amount", "currency", "created_at"],
        optional: BUCKET_TRANSACTIONS.columns,
        dropped: &[],
    };
    if let Some(table) = m.table(file, "bucket_transactions", &shape) {
        let rows = m.convert(&BUCKET_TRANSACTIONS, &table, &["id"], &|r, c| {
            Ok(vec![
                Value::Integer(int(r.get("id"))?.ok_or_else(|| Rejection::new("INTEGER", "NULL id"))?),
                as_text(r.get("bucket_id")),
                as_text(r.get("type")),
                Value::Text(dec_required(r.get("amount"), c)?),
                text(cur(r.get("currency"))),
                as_text(r.get("description")),
                ts_required(r.get("created_at"), c)?,
            ])
        });
        m.push(&BUCKET_TRANSACTIONS, rows);
    }
    let shape = Shape { required: &["key", "value"], optional: &["description"], dropped: &[] };
    if let Some(table) = m.table(file, "allocation_settings", &shape) {
        let rows = m.convert(&ALLOCATION_SETTINGS, &table, &["key"], &|r, _| {
            Ok(vec![as_text(r.get("key")), keep_real(r.get("value"))?, as_text(r.get("description"))])
        });
        m.push(&ALLOCATION_SETTINGS, rows);
    }
}

fn json_valid(v: &Value, what: &str) -> Converted<Value> {
    let t = convert::txt(v)?.ok_or_else(|| Rejection::new("JSON", format!("{what} is NULL")))?;
    serde_json::from_str::<serde_json::Value>(&t).map_err(|e| Rejection::new("JSON", format!("{what}: {e}")))?;
    Ok(Value::Text(t))
}

fn agents(m: &mut Mapper<'_>) {
    let pk_merge = |m: &mut Mapper<'_>, dest: &Dest, all: Vec<Candidate>, key_cols: &[usize]| {
        let kept = m.merge(
            all,
            |c| vkey(&key_cols.iter().map(|i| &c.values[*i]).collect::<Vec<_>>()),
            |_, _| false,
            "SUPERSEDED",
        );
        m.push(dest, kept);
    };
    let files = ["planner.db", "config.db"];
    let mut configs = Vec::new();
    let shape = Shape {
        required: &["id", "name", "toml_config", "created_at", "updated_at"],
        optional: &["bucket_id"],
        dropped: &[],
    };
    for file in files {
        if let Some(table) = m.table(file, "planner_configs", &shape) {
            configs.extend(m.convert(&AGENT_CONFIGS, &table, &["id"], &|r, c| {
                Ok(vec![
                    as_text(r.get("id")),
                    as_text(r.get("name")),
                    Value::Null,
                    as_text(r.get("toml_config")),
                    text(blank(r.get("bucket_id"))),
                    Value::Integer(0),
                    ts_required(r.get("created_at"), c)?,
                    ts_required(r.get("updated_at"), c)?,
                ])
            }));
        }
    }
    let config_ids: BTreeSet<String> =
        configs.iter().filter_map(|c| value_text(&c.values[0]).map(str::to_owned)).collect();
    pk_merge(m, &AGENT_CONFIGS, configs, &[0]);
    let shape = Shape {
        required: &["id", "planner_config_id", "name", "toml_config", "saved_at"],
        optional: &[],
        dropped: &[],
    };
    let mut history = Vec::new();
    for file in files {
        if let Some(table) = m.table(file, "planner_config_history", &shape) {
            for c in m.convert(&CONFIG_HISTORY, &table, &["id"], &|r, c| {
                Ok(vec![
                    as_text(r.get("id")),
                    as_text(r.get("planner_config_id")),
                    as_text(r.get("name")),
                    as_text(r.get("toml_config")),
                    Value::Null,
                    ts_required(r.get("saved_at"), c)?,
                ])
            }) {
                if value_text(&c.values[1]).is_some_and(|id| config_ids.contains(id)) {
                    history.push(c);
                } else {
                    m.drop_row(
                        &c.file,
                        &c.table,
                        c.key.clone(),
                        "ORPHAN_HISTORY",
                        "its configuration does not exist".into(),
                        None,
                    );
                }
            }
        }
    }
    pk_merge(m, &CONFIG_HISTORY, history, &[0]);
    let shape = Shape {
        required: &["portfolio_hash", "sequence_hash", "priority", "sequence_json", "depth", "created_at"],
        optional: SEQUENCES.columns,
        dropped: &[],
    };
    let mut sequences = Vec::new();
    for file in files {
        if let Some(table) = m.table(file, "sequences", &shape) {
            sequences.extend(m.convert(&SEQUENCES, &table, &["portfolio_hash", "sequence_hash"], &|r, c| {
                Ok(vec![
                    as_text(r.get("portfolio_hash")),
                    as_text(r.get("sequence_hash")),
                    keep_real(r.get("priority"))?,
                    json_valid(r.get("sequence_json"), "sequence_json")?,
                    int_v(int(r.get("depth"))?),
                    as_text(r.get("pattern_type")),
                    bool_v(boolean(r.get("completed"), false)?),
                    ts_opt(r.get("evaluated_at"), c)?,
                    ts_required(r.get("created_at"), c)?,
                ])
            }));
        }
    }
    let sequence_keys: BTreeSet<(String, String)> = sequences
        .iter()
        .map(|c| (value_text(&c.values[0]).unwrap_or("").to_owned(), value_text(&c.values[1]).unwrap_or("").to_owned()))
        .collect();
    pk_merge(m, &SEQUENCES, sequences, &[0, 1]);
    let shape = Shape {
        required: &[
            "portfolio_hash",
            "sequence_hash",
            "end_score",
            "breakdown_json",
            "end_cash",
            "end_context_positions_json",
            "div_score",
            "total_value",
            "evaluated_at",
        ],
        optional: &[],
        dropped: &[],
    };
    let mut evaluations = Vec::new();
    for file in files {
        if let Some(table) = m.table(file, "evaluations", &shape) {
            for c in m.convert(&EVALUATIONS, &table, &["portfolio_hash", "sequence_hash"], &|r, c| {
                Ok(vec![
                    as_text(r.get("portfolio_hash")),
                    as_text(r.get("sequence_hash")),
                    keep_real(r.get("end_score"))?,
                    json_valid(r.get("breakdown_json"), "breakdown_json")?,
                    keep_real(r.get("end_cash"))?,
                    json_valid(r.get("end_context_positions_json"), "end_context_positions_json")?,
                    keep_real(r.get("div_score"))?,
                    keep_real(r.get("total_value"))?,
                    ts_required(r.get("evaluated_at"), c)?,
                ])
            }) {
                let key = (
                    value_text(&c.values[0]).unwrap_or("").to_owned(),
                    value_text(&c.values[1]).unwrap_or("").to_owned(),
                );
                if sequence_keys.contains(&key) {
                    evaluations.push(c);
                } else {
                    m.drop_row(
                        &c.file,
                        &c.table,
                        c.key.clone(),
                        "ORPHAN_EVALUATION",
                        "its sequence does not exist".into(),
                        None,
                    );
                }
            }
        }
    }
    pk_merge(m, &EVALUATIONS, evaluations, &[0, 1]);
    let shape = Shape {
        required: &["portfolio_hash", "best_sequence_hash", "best_score", "updated_at"],
        optional: &[],
        dropped: &[],
    };
    let mut best = Vec::new();
    for file in files {
        if let Some(table) = m.table(file, "best_result", &shape) {
            best.extend(m.convert(&BEST_RESULT, &table, &["portfolio_hash"], &|r, c| {
                Ok(vec![
                    as_text(r.get("portfolio_hash")),
                    as_text(r.get("best_sequence_hash")),
                    keep_real(r.get("best_score"))?,
                    ts_required(r.get("updated_at"), c)?,
                ])
            }));
        }
    }
    pk_merge(m, &BEST_RESULT, best, &[0]);
}

/// `norm(x)`: upper case, `.` and `-` as `_` (legacy-layout.md §4.2).
fn norm(x: &str) -> String {
    x.trim().to_uppercase().replace(['.', '-'], "_")
}

fn looks_like_isin(stem: &str) -> bool {
    crate::store::universe::looks_like_isin(stem)
}

/// Resolves a history file stem to a symbol against the securities being migrated.
fn resolve(stem: &str, securities: &[(String, Option<String>)]) -> (String, &'static str, Vec<String>) {
    if looks_like_isin(stem) {
        let by_isin: Vec<&String> =
            securities.iter().filter(|(_, isin)| isin.as_deref() == Some(stem)).map(|(s, _)| s).collect();
        if by_isin.len() == 1 {
            return (by_isin[0].clone(), "isin", Vec::new());
        }
    }
    let matches: Vec<String> =
        securities.iter().filter(|(s, _)| norm(s) == norm(stem)).map(|(s, _)| s.clone()).collect();
    match matches.len() {
        1 => (matches[0].clone(), "symbol", Vec::new()),
        0 => (stem.trim().to_uppercase(), "unresolved", Vec::new()),
        _ => (stem.trim().to_uppercase(), "ambiguous", matches),
    }
}

fn history(m: &mut Mapper<'_>) {
    let securities: Vec<(String, Option<String>)> = m
        .rows
        .get("securities")
        .map(|rows| {
            rows.iter()
                .map(|c| {
                    (value_text(&c.values[0]).unwrap_or("").to_owned(), value_text(&c.values[2]).map(str::to_owned))
                })
                .collect()
        })
        .unwrap_or_default();
    let files: Vec<String> = m.sources.files().filter(|f| f.starts_with("history/")).cloned().collect();
    let mut daily = Vec::new();
    let mut monthly = Vec::new();
    for file in files {
        let stem = file.trim_start_matches("history/").trim_end_matches(".db").to_owned();
        let (symbol, resolution, candidates) = resolve(&stem, &securities);
        match resolution {
            "unresolved" => m.plan.warnings.push(problem(
                "UNRESOLVED_HISTORY_FILE",
                &file,
                None,
                None,
                format!("rows kept under {symbol}"),
            )),
            "ambiguous" => m.plan.warnings.push(problem(
                "AMBIGUOUS_HISTORY_FILE",
                &file,
                None,
                None,
                format!("candidates {}; rows kept under {symbol}", candidates.join(", ")),
            )),
            _ => {}
        }
        let isin_named = resolution == "isin";
        let shape = Shape {
            required: &["date", "close_price"],
            optional: &["open_price", "high_price", "low_price", "volume", "source"],
            dropped: &["created_at"],
        };
        let mut entry = HistoryFile {
            stem: stem.clone(),
            resolution: resolution.to_owned(),
            symbol: symbol.clone(),
            daily_rows: 0,
            monthly_rows: 0,
            status: "migrated".into(),
            candidates,
        };
        let sym_v = Value::Text(symbol.clone());
        if m.options.strict_only {
            // Preflight: history is lenient, so only its shape is checked, without reading its rows.
            m.shape_only(&file, "daily_prices", &shape);
            m.shape_only(&file, "monthly_prices", &MONTHLY_SHAPE);
            m.plan.history_files.push(entry);
            continue;
        }
        if let Some(table) = m.table(&file, "daily_prices", &shape) {
            entry.daily_rows = table.rows.len();
            let rank = |r: &Record<'_>| ts_rank(isin_named, r.get("created_at"));
            daily.extend(m.convert_ranked(&DAILY_PRICES, &table, &["date"], &rank, &|r, c| {
                let close = real(r.get("close_price"))?.ok_or_else(|| Rejection::new("PRICE", "close is NULL"))?;
                if close <= 0.0 {
                    return Err(Rejection::new("PRICE", format!("close {close}")));
                }
                let volume = match int(r.get("volume"))? {
                    Some(v) if v < 0 => None,
                    other => other,
                };
                Ok(vec![
                    sym_v.clone(),
                    text(convert::date(r.get("date"), c)?),
                    positive_or_null(r.get("open_price"), c)?,
                    positive_or_null(r.get("high_price"), c)?,
                    positive_or_null(r.get("low_price"), c)?,
                    Value::Real(close),
                    Value::Null,
                    int_v(volume),
                    nz_text(blank(r.get("source")), "yahoo", c),
                ])
            }));
        }
        if let Some(table) = m.table(&file, "monthly_prices", &MONTHLY_SHAPE) {
            entry.monthly_rows = table.rows.len();
            let rank = |r: &Record<'_>| ts_rank(isin_named, r.get("created_at"));
            monthly.extend(m.convert_ranked(&MONTHLY_PRICES, &table, &["year_month"], &rank, &|r, c| {
                let avg = real(r.get("avg_close"))?.ok_or_else(|| Rejection::new("PRICE", "avg_close is NULL"))?;
                if avg <= 0.0 {
                    return Err(Rejection::new("PRICE", format!("avg_close {avg}")));
                }
                let ym = convert::txt(r.get("year_month"))?.unwrap_or_default();
                if chrono::NaiveDate::parse_from_str(&format!("{ym}-01"), "%Y-%m-%d").is_err() || ym.len() != 7 {
                    return Err(Rejection::new("YEAR_MONTH", ym));
                }
                Ok(vec![
                    sym_v.clone(),
                    Value::Text(ym),
                    Value::Real(avg),
                    positive_or_null(r.get("avg_adj_close"), c)?,
                    positive_or_null(r.get("min_price"), c)?,
                    positive_or_null(r.get("max_price"), c)?,
                    nz_text(blank(r.get("source")), "calculated", c),
                ])
            }));
        }
        if entry.daily_rows == 0 && entry.monthly_rows == 0 {
            entry.status = "EMPTY_FILE".into();
        }
        m.plan.history_files.push(entry);
    }
    // Files resolving to one symbol are unioned; an identical row collapses, a conflict goes to the ISIN-named
    // file, else to the newer created_at (both carried in the candidate key after the row's own key).
    // Only symbols fed by several files can collide; the others go straight through.
    let mut files_per_symbol: BTreeMap<String, usize> = BTreeMap::new();
    for f in &m.plan.history_files {
        *files_per_symbol.entry(f.symbol.clone()).or_insert(0) += 1;
    }
    for (dest, rows) in [(DAILY_PRICES, daily), (MONTHLY_PRICES, monthly)] {
        let (shared, single): (Vec<Candidate>, Vec<Candidate>) = rows
            .into_iter()
            .partition(|c| value_text(&c.values[0]).is_some_and(|s| files_per_symbol.get(s).copied().unwrap_or(0) > 1));
        let kept = m.merge(
            shared,
            |c| vkey(&[&c.values[0], &c.values[1]]),
            |a, b| history_rank(a) > history_rank(b),
            "SUPERSEDED",
        );
        m.push(&dest, single);
        m.push(&dest, kept);
    }
    rates(m);
}

const MONTHLY_SHAPE: Shape = Shape {
    required: &["year_month", "avg_close"],
    optional: &["avg_adj_close", "min_price", "max_price", "source"],
    dropped: &["created_at"],
};

/// A history row's raw precedence: ISIN-named files first, then its `created_at` as written (parsed only when
/// two files collide, which is rare).
fn ts_rank(isin_named: bool, created: &Value) -> String {
    format!("{}{}", u8::from(isin_named), convert::txt(created).ok().flatten().unwrap_or_default())
}

/// The comparable precedence of a history row: the ISIN flag, then `ts(created_at)`.
fn history_rank(c: &Candidate) -> (bool, String) {
    let (flag, created) = c.rank.split_at(1);
    (flag == "1", ts(&Value::Text(created.to_owned()), &mut Counters::default()).ok().flatten().unwrap_or_default())
}

fn rates(m: &mut Mapper<'_>) {
    let shape = Shape {
        required: &["from_currency", "to_currency", "rate", "fetched_at"],
        optional: &[],
        dropped: &["expires_at"],
    };
    let mut all = Vec::new();
    for file in ["rates.db", "cache.db"] {
        if let Some(table) = m.table(file, "exchange_rates", &shape) {
            let rank =
                |r: &Record<'_>| ts(r.get("fetched_at"), &mut Counters::default()).ok().flatten().unwrap_or_default();
            all.extend(m.convert_ranked(&EXCHANGE_RATES, &table, &["from_currency", "to_currency"], &rank, &|r, c| {
                let rate = real(r.get("rate"))?.ok_or_else(|| Rejection::new("RATE", "NULL"))?;
                if rate <= 0.0 {
                    return Err(Rejection::new("RATE", format!("{rate}")));
                }
                let fetched = ts_required(r.get("fetched_at"), c)?;
                let day = value_text(&fetched).map(|t| t[..10].to_owned());
                Ok(vec![
                    text(cur(r.get("from_currency"))),
                    text(cur(r.get("to_currency"))),
                    text(day),
                    Value::Real(rate),
                    Value::Text("legacy".into()),
                ])
            }));
        }
    }
    let kept =
        m.merge(all, |c| vkey(&[&c.values[0], &c.values[1], &c.values[2]]), |a, b| a.rank > b.rank, "SUPERSEDED");
    m.push(&EXCHANGE_RATES, kept);
}

fn cache(m: &mut Mapper<'_>) {
    let shape = Shape {
        required: &["uuid", "symbol", "name", "side", "reason", "created_at", "updated_at"],
        optional: &[
            "isin",
            "quantity",
            "estimated_price",
            "estimated_value",
            "amount",
            "currency",
            "country",
            "geography",
            "industry",
            "priority",
            "current_portfolio_score",
            "new_portfolio_score",
            "score_change",
            "status",
            "portfolio_hash",
            "executed_at",
            "dismissed_at",
        ],
        dropped: &[],
    };
    let mut all = Vec::new();
    for file in ["recommendations.db", "config.db", "cache.db"] {
        if let Some(table) = m.table(file, "recommendations", &shape) {
            all.extend(m.convert(&RECOMMENDATIONS, &table, &["uuid"], &|r, c| {
                let legacy_status = blank(r.get("status"));
                let status = match legacy_status.as_deref() {
                    Some("pending") | None => "expired",
                    Some("rejected") => "dismissed",
                    Some("executed") => "executed",
                    Some("dismissed") => "dismissed",
                    Some("expired") => "expired",
                    Some(other) => return Err(Rejection::new("STATUS", other.to_owned())),
                };
                let estimated_value = match real(r.get("estimated_value"))? {
                    Some(v) => Some(v),
                    None => real(r.get("amount"))?,
                };
                let country = blank(r.get("country")).or_else(|| blank(r.get("geography")));
                let created_at = ts_required(r.get("created_at"), c)?;
                let updated_at = ts_required(r.get("updated_at"), c)?;
                let executed_at = ts_opt(r.get("executed_at"), c)?;
                let dismissed_at = ts_opt(r.get("dismissed_at"), c)?;
                if !matches!(legacy_status.as_deref(), Some("rejected" | "executed" | "dismissed" | "expired")) {
                    c.bump("pending_expired");
                }
                Ok(vec![
                    as_text(r.get("uuid")),
                    text(sym(r.get("symbol"))),
                    text(blank(r.get("isin")).map(|s| s.to_uppercase())),
                    as_text(r.get("name")),
                    side(r.get("side"))?,
                    positive_or_null(r.get("quantity"), c)?,
                    positive_or_null(r.get("estimated_price"), c)?,
                    real_v(estimated_value),
                    nz_text(cur(r.get("currency")), "EUR", c),
                    as_text(r.get("reason")),
                    text(country),
                    as_text(r.get("industry")),
                    keep_real(r.get("priority"))?,
                    keep_real(r.get("current_portfolio_score"))?,
                    keep_real(r.get("new_portfolio_score"))?,
                    keep_real(r.get("score_change"))?,
                    Value::Text(status.to_owned()),
                    Value::Text("plan".into()),
                    Value::Integer(0),
                    Value::Null,
                    Value::Null,
                    Value::Text(convert::txt(r.get("portfolio_hash"))?.unwrap_or_default()),
                    created_at,
                    updated_at,
                    executed_at,
                    dismissed_at,
                ])
            }));
        }
    }
    let (updated, created) = (col(&RECOMMENDATIONS, "updated_at"), col(&RECOMMENDATIONS, "created_at"));
    let better = |a: &Candidate, b: &Candidate| {
        (value_text(&a.values[updated]), value_text(&a.values[created]))
            > (value_text(&b.values[updated]), value_text(&b.values[created]))
    };
    let kept =
        m.merge(all, |c| vkey(&[&c.values[1], &c.values[4], &c.values[9], &c.values[21]]), better, "DUPLICATE_MERGED");
    let kept = m.merge(kept, |c| vkey(&[&c.values[0]]), better, "DUPLICATE_UUID");
    m.push(&RECOMMENDATIONS, kept);
}
