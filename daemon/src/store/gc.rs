//! Garbage collection with a grace period (storage.md §10). Removing a security never deletes its data at
//! once; `gc_grace_days` later, GC purges its derived data database by database, each step its own
//! transaction, the `securities` row last, so a crash anywhere is finished by the next run. The ledger and
//! satellites.db are never opened.

use std::path::Path;

use chrono::Duration;
use rusqlite::Connection;
use serde::Serialize;

use super::cache::{CacheRepository, RecommendationRepository};
use super::history::PriceHistoryRepository;
use super::open::{self, Create};
use super::portfolio::{PositionRepository, ScoreRepository};
use super::universe::{GcAction, GcLogEntry, GcTarget, SecurityRepository};
use super::values::Instant;
use super::{DbName, Result, SqlContext, collect_rows, write_tx};

/// storage.md §10: a removed security's data is kept this many days unless `gc_grace_days` says otherwise.
pub const DEFAULT_GRACE_DAYS: i64 = 30;
/// Finished recommendations are kept this long (storage.md §9).
const RECOMMENDATION_RETENTION_DAYS: i64 = 30;
/// Planner sequences and best results are kept this long (storage.md §9).
const PLANNER_RETENTION_DAYS: i64 = 90;

/// Test hook: `TRADER_TEST_ABORT_GC_AFTER=<history|portfolio|cache>` aborts the process right after that step
/// commits, to prove that a crash between two databases is finished by the next run.
pub const ABORT_HOOK_ENV: &str = "TRADER_TEST_ABORT_GC_AFTER";

/// Reads `gc_grace_days` from config.db: (days, warning). An invalid value gives 30 and a warning.
pub fn grace_days(config: &Connection) -> (i64, Option<String>) {
    let value: Option<String> =
        config.query_row("SELECT value FROM settings WHERE key = 'gc_grace_days'", [], |r| r.get(0)).ok();
    match value {
        None => (DEFAULT_GRACE_DAYS, None),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => (days, None),
            _ => {
                (DEFAULT_GRACE_DAYS, Some(format!("gc_grace_days `{text}` is not 1–3650; using {DEFAULT_GRACE_DAYS}")))
            }
        },
    }
}

/// The databases GC works on, and only those.
pub struct GcDatabases {
    pub universe: Connection,
    pub portfolio: Connection,
    pub history: Connection,
    pub cache: Connection,
    pub agents: Connection,
    pub config: Connection,
}

impl GcDatabases {
    /// Opens the five databases GC writes (and config.db for the grace period); never the ledger or satellites.
    pub fn open(dir: &Path) -> Result<GcDatabases> {
        let writer = |name: DbName| open::open_writer(dir, name.spec(), Create::Never).map(|o| o.conn);
        Ok(GcDatabases {
            universe: writer(DbName::Universe)?,
            portfolio: writer(DbName::Portfolio)?,
            history: writer(DbName::History)?,
            cache: writer(DbName::Cache)?,
            agents: writer(DbName::Agents)?,
            config: open::open_reader(dir, DbName::Config.spec())?,
        })
    }
}

/// What GC did (or, in a dry run, would do) to one security.
#[derive(Debug, Clone, Serialize)]
pub struct SymbolOutcome {
    pub symbol: String,
    pub removed_at: Instant,
    /// `purged`, `refused_position`, `aborted_restored`, `error`, or `would_purge` in a dry run.
    pub action: String,
    /// Rows per `db.table`.
    pub rows: Vec<(String, usize)>,
    pub detail: Option<String>,
}

/// Rows deleted by retention.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Retention {
    pub expired_cache_rows: usize,
    pub finished_recommendations: usize,
    pub expired_metrics: usize,
    pub planner_sequences: usize,
    pub planner_best_results: usize,
}

/// A GC run's report.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub run_at: Instant,
    pub dry_run: bool,
    pub grace_days: i64,
    pub cutoff: Instant,
    pub warnings: Vec<String>,
    pub securities: Vec<SymbolOutcome>,
    pub retention: Retention,
}

fn count(conn: &Connection, sql: &'static str, symbol: &str) -> Result<usize> {
    let n: i64 = conn.query_row(sql, [symbol], |r| r.get(0)).ctx(conn, "counting rows")?;
    Ok(n as usize)
}

fn maybe_abort_after(target: GcTarget) {
    if std::env::var(ABORT_HOOK_ENV).is_ok_and(|v| v == target.as_str()) {
        eprintln!("{ABORT_HOOK_ENV}: aborting after the {target} step");
        std::process::abort();
    }
}

/// Runs GC at `now` (storage.md §10.2), then the retention rules of §9. A dry run writes nothing.
pub fn run(dbs: &GcDatabases, now: Instant, dry_run: bool) -> Result<GcReport> {
    let (grace, warning) = grace_days(&dbs.config);
    let cutoff = now - Duration::days(grace);
    let securities = SecurityRepository::new(&dbs.universe);
    let mut report = GcReport {
        run_at: now,
        dry_run,
        grace_days: grace,
        cutoff,
        warnings: warning.into_iter().collect(),
        securities: Vec::new(),
        retention: Retention::default(),
    };
    for (symbol, removed_at) in securities.gc_candidates(cutoff)? {
        let outcome = if dry_run {
            preview(dbs, &symbol, removed_at)?
        } else {
            purge_one(dbs, &symbol, removed_at, cutoff, now).unwrap_or_else(|e| {
                let message = e.to_string();
                let _ = securities.append_gc_log(&log(
                    now,
                    &symbol,
                    removed_at,
                    GcTarget::Universe,
                    GcAction::Error,
                    0,
                    Some(message.clone()),
                ));
                SymbolOutcome {
                    symbol: symbol.clone(),
                    removed_at,
                    action: "error".into(),
                    rows: Vec::new(),
                    detail: Some(message),
                }
            })
        };
        report.securities.push(outcome);
    }
    report.retention = retention(dbs, now, dry_run)?;
    Ok(report)
}

fn log(
    run_at: Instant,
    symbol: &str,
    removed_at: Instant,
    target: GcTarget,
    action: GcAction,
    rows: usize,
    detail: Option<String>,
) -> GcLogEntry {
    GcLogEntry {
        run_at,
        symbol: symbol.to_owned(),
        removed_at,
        target,
        action,
        rows_deleted: rows as i64,
        detail,
        logged_at: run_at,
    }
}

/// A held position refuses the purge: its quantity, if not zero.
fn held_quantity(dbs: &GcDatabases, symbol: &str) -> Result<Option<f64>> {
    Ok(PositionRepository::new(&dbs.portfolio).quantity(symbol)?.filter(|q| *q != 0.0))
}

fn preview(dbs: &GcDatabases, symbol: &str, removed_at: Instant) -> Result<SymbolOutcome> {
    if let Some(q) = held_quantity(dbs, symbol)? {
        return Ok(SymbolOutcome {
            symbol: symbol.to_owned(),
            removed_at,
            action: "refused_position".into(),
            rows: Vec::new(),
            detail: Some(format!("{{\"quantity\": {q}}}")),
        });
    }
    let rows = vec![
        (
            "history.daily_prices".to_owned(),
            count(&dbs.history, "SELECT count(*) FROM daily_prices WHERE symbol = ?1", symbol)?,
        ),
        (
            "history.monthly_prices".to_owned(),
            count(&dbs.history, "SELECT count(*) FROM monthly_prices WHERE symbol = ?1", symbol)?,
        ),
        (
            "portfolio.scores".to_owned(),
            count(&dbs.portfolio, "SELECT count(*) FROM scores WHERE symbol = ?1", symbol)?,
        ),
        (
            "portfolio.calculated_metrics".to_owned(),
            count(&dbs.portfolio, "SELECT count(*) FROM calculated_metrics WHERE symbol = ?1", symbol)?,
        ),
        (
            "portfolio.positions".to_owned(),
            count(&dbs.portfolio, "SELECT count(*) FROM positions WHERE symbol = ?1 AND quantity = 0", symbol)?,
        ),
        (
            "cache.recommendations".to_owned(),
            count(&dbs.cache, "SELECT count(*) FROM recommendations WHERE symbol = ?1", symbol)?,
        ),
        (
            "cache.cache_data".to_owned(),
            count(&dbs.cache, "SELECT count(*) FROM cache_data WHERE symbol = ?1", symbol)?,
        ),
        ("universe.securities".to_owned(), 1),
    ];
    Ok(SymbolOutcome { symbol: symbol.to_owned(), removed_at, action: "would_purge".into(), rows, detail: None })
}

/// Steps 3.1–3.6 of §10.2 for one security.
fn purge_one(
    dbs: &GcDatabases,
    symbol: &str,
    removed_at: Instant,
    cutoff: Instant,
    now: Instant,
) -> Result<SymbolOutcome> {
    let securities = SecurityRepository::new(&dbs.universe);
    let mut outcome = SymbolOutcome {
        symbol: symbol.to_owned(),
        removed_at,
        action: "purged".into(),
        rows: Vec::new(),
        detail: None,
    };
    if let Some(q) = held_quantity(dbs, symbol)? {
        let detail = serde_json::json!({ "quantity": q }).to_string();
        securities.append_gc_log(&log(
            now,
            symbol,
            removed_at,
            GcTarget::Portfolio,
            GcAction::RefusedPosition,
            0,
            Some(detail.clone()),
        ))?;
        outcome.action = "refused_position".into();
        outcome.detail = Some(detail);
        return Ok(outcome);
    }
    // Before each step: the user may have re-added the security meanwhile.
    let still_removed = || -> Result<bool> { Ok(securities.removed_at(symbol)?.is_some_and(|at| at <= cutoff)) };
    let aborted = |outcome: &mut SymbolOutcome| -> Result<()> {
        securities.append_gc_log(&log(
            now,
            symbol,
            removed_at,
            GcTarget::Universe,
            GcAction::AbortedRestored,
            0,
            None,
        ))?;
        outcome.action = "aborted_restored".into();
        Ok(())
    };

    if !still_removed()? {
        aborted(&mut outcome)?;
        return Ok(outcome);
    }
    let history = PriceHistoryRepository::new(&dbs.history).purge_symbol(symbol)?;
    let detail = serde_json::to_string(&history).expect("counts serialise");
    let n = history.daily_prices + history.monthly_prices;
    securities.append_gc_log(&log(now, symbol, removed_at, GcTarget::History, GcAction::Purged, n, Some(detail)))?;
    outcome.rows.push(("history.daily_prices".into(), history.daily_prices));
    outcome.rows.push(("history.monthly_prices".into(), history.monthly_prices));
    maybe_abort_after(GcTarget::History);

    if !still_removed()? {
        aborted(&mut outcome)?;
        return Ok(outcome);
    }
    let (scores, positions) = write_tx(&dbs.portfolio, "purging portfolio rows", |conn| {
        Ok((ScoreRepository::new(conn).purge_symbol(symbol)?, PositionRepository::new(conn).delete_if_zero(symbol)?))
    })?;
    let detail = serde_json::json!({ "scores": scores.scores, "calculated_metrics": scores.calculated_metrics, "positions": positions });
    let n = scores.scores + scores.calculated_metrics + positions;
    securities.append_gc_log(&log(
        now,
        symbol,
        removed_at,
        GcTarget::Portfolio,
        GcAction::Purged,
        n,
        Some(detail.to_string()),
    ))?;
    outcome.rows.push(("portfolio.scores".into(), scores.scores));
    outcome.rows.push(("portfolio.calculated_metrics".into(), scores.calculated_metrics));
    outcome.rows.push(("portfolio.positions".into(), positions));
    maybe_abort_after(GcTarget::Portfolio);

    if !still_removed()? {
        aborted(&mut outcome)?;
        return Ok(outcome);
    }
    let (recommendations, cache_rows) = write_tx(&dbs.cache, "purging cache rows", |conn| {
        Ok((
            RecommendationRepository::new(conn).purge_symbol(symbol)?,
            CacheRepository::new(conn).purge_symbol(symbol)?,
        ))
    })?;
    let detail = serde_json::json!({ "recommendations": recommendations, "cache_data": cache_rows });
    securities.append_gc_log(&log(
        now,
        symbol,
        removed_at,
        GcTarget::Cache,
        GcAction::Purged,
        recommendations + cache_rows,
        Some(detail.to_string()),
    ))?;
    outcome.rows.push(("cache.recommendations".into(), recommendations));
    outcome.rows.push(("cache.cache_data".into(), cache_rows));
    maybe_abort_after(GcTarget::Cache);

    let purged = securities.purge(
        symbol,
        cutoff,
        &log(now, symbol, removed_at, GcTarget::Universe, GcAction::Purged, 1, None),
    )?;
    if purged {
        outcome.rows.push(("universe.securities".into(), 1));
    } else {
        aborted(&mut outcome)?;
    }
    Ok(outcome)
}

fn retention(dbs: &GcDatabases, now: Instant, dry_run: bool) -> Result<Retention> {
    let finished_before = now - Duration::days(RECOMMENDATION_RETENTION_DAYS);
    let planner_before = now - Duration::days(PLANNER_RETENTION_DAYS);
    if dry_run {
        let n = |conn: &Connection, sql: &'static str, at: Instant| -> Result<usize> {
            let v: i64 = conn.query_row(sql, [super::Ts(at)], |r| r.get(0)).ctx(conn, "counting rows")?;
            Ok(v as usize)
        };
        return Ok(Retention {
            expired_cache_rows: n(
                &dbs.cache,
                "SELECT count(*) FROM cache_data WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                now,
            )?,
            finished_recommendations: n(
                &dbs.cache,
                "SELECT count(*) FROM recommendations WHERE status IN ('executed','failed','dismissed','expired') AND updated_at < ?1",
                finished_before,
            )?,
            expired_metrics: n(
                &dbs.portfolio,
                "SELECT count(*) FROM calculated_metrics WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                now,
            )?,
            planner_sequences: n(&dbs.agents, "SELECT count(*) FROM sequences WHERE created_at < ?1", planner_before)?,
            planner_best_results: n(
                &dbs.agents,
                "SELECT count(*) FROM best_result WHERE updated_at < ?1",
                planner_before,
            )?,
        });
    }
    let pruned = super::agents::PlannerRepository::new(&dbs.agents).prune_before(planner_before)?;
    Ok(Retention {
        expired_cache_rows: CacheRepository::new(&dbs.cache).delete_expired(now)?,
        finished_recommendations: RecommendationRepository::new(&dbs.cache).delete_finished_before(finished_before)?,
        expired_metrics: ScoreRepository::new(&dbs.portfolio).delete_expired_metrics(now)?,
        planner_sequences: pruned.sequences,
        planner_best_results: pruned.best_results,
    })
}

/// Rows of history, portfolio and cache whose symbol has no `securities` row at all.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanReport {
    pub run_at: Instant,
    pub dry_run: bool,
    /// symbol → rows per `db.table`.
    pub orphans: Vec<(String, Vec<(String, usize)>)>,
}

/// Tables that may hold orphans, with fixed SQL (no identifier is ever interpolated): (database, table).
const ORPHAN_TABLES: [(DbName, &str); 6] = [
    (DbName::History, "daily_prices"),
    (DbName::History, "monthly_prices"),
    (DbName::Portfolio, "scores"),
    (DbName::Portfolio, "calculated_metrics"),
    (DbName::Cache, "recommendations"),
    (DbName::Cache, "cache_data"),
];

/// (distinct symbols, rows of one symbol, delete the rows of one symbol) for a table of [`ORPHAN_TABLES`].
fn orphan_sql(table: &str) -> (&'static str, &'static str, &'static str) {
    match table {
        "daily_prices" => (
            "SELECT DISTINCT symbol FROM daily_prices",
            "SELECT count(*) FROM daily_prices WHERE symbol = ?1",
            "DELETE FROM daily_prices WHERE symbol = ?1",
        ),
        "monthly_prices" => (
            "SELECT DISTINCT symbol FROM monthly_prices",
            "SELECT count(*) FROM monthly_prices WHERE symbol = ?1",
            "DELETE FROM monthly_prices WHERE symbol = ?1",
        ),
        "scores" => (
            "SELECT DISTINCT symbol FROM scores",
            "SELECT count(*) FROM scores WHERE symbol = ?1",
            "DELETE FROM scores WHERE symbol = ?1",
        ),
        "calculated_metrics" => (
            "SELECT DISTINCT symbol FROM calculated_metrics",
            "SELECT count(*) FROM calculated_metrics WHERE symbol = ?1",
            "DELETE FROM calculated_metrics WHERE symbol = ?1",
        ),
        "recommendations" => (
            "SELECT DISTINCT symbol FROM recommendations",
            "SELECT count(*) FROM recommendations WHERE symbol = ?1",
            "DELETE FROM recommendations WHERE symbol = ?1",
        ),
        _ => (
            "SELECT DISTINCT symbol FROM cache_data WHERE symbol IS NOT NULL",
            "SELECT count(*) FROM cache_data WHERE symbol = ?1",
            "DELETE FROM cache_data WHERE symbol = ?1",
        ),
    }
}

/// `trader gc --orphans`: deletes orphan rows explicitly (never ledger rows, never positions), logging each
/// database's deletion to `gc_log` with `removed_at` = the run instant (storage.md §10.4).
pub fn purge_orphans(dbs: &GcDatabases, now: Instant, dry_run: bool) -> Result<OrphanReport> {
    let known: std::collections::BTreeSet<String> =
        collect_rows(&dbs.universe, "reading securities", "SELECT symbol FROM securities", [], |r| r.get(0))?
            .into_iter()
            .collect();
    let conn_of = |db: DbName| match db {
        DbName::History => &dbs.history,
        DbName::Portfolio => &dbs.portfolio,
        _ => &dbs.cache,
    };
    let mut per_symbol: std::collections::BTreeMap<String, Vec<(String, usize)>> = Default::default();
    for (db, table) in ORPHAN_TABLES {
        let conn = conn_of(db);
        let (select, count_sql, delete) = orphan_sql(table);
        for symbol in collect_rows(conn, "finding orphans", select, [], |r| r.get::<_, String>(0))? {
            if known.contains(&symbol) {
                continue;
            }
            let n = if dry_run {
                conn.query_row(count_sql, [&symbol], |r| r.get::<_, i64>(0)).ctx(conn, "counting orphans")? as usize
            } else {
                conn.execute(delete, [&symbol]).ctx(conn, "deleting orphans")?
            };
            per_symbol.entry(symbol).or_default().push((format!("{db}.{table}"), n));
        }
    }
    if !dry_run {
        let securities = SecurityRepository::new(&dbs.universe);
        for (symbol, rows) in &per_symbol {
            for target in [GcTarget::History, GcTarget::Portfolio, GcTarget::Cache] {
                let prefix = format!("{target}.");
                let n: usize = rows.iter().filter(|(t, _)| t.starts_with(&prefix)).map(|(_, n)| n).sum();
                if n > 0 {
                    let detail = serde_json::json!({ "orphans": rows.iter().filter(|(t, _)| t.starts_with(&prefix)).collect::<Vec<_>>() });
                    securities.append_gc_log(&log(
                        now,
                        symbol,
                        now,
                        target,
                        GcAction::Purged,
                        n,
                        Some(detail.to_string()),
                    ))?;
                }
            }
        }
    }
    Ok(OrphanReport { run_at: now, dry_run, orphans: per_symbol.into_iter().collect() })
}
