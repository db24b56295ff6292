//! The health report (storage.md §11): per database its identity, version, profile drift, sizes, the full
//! output of SQLite's checks, its table set and its backups; globally free space, GC and the reference audit.
//!
//! A broken file never stops the report: each database is examined on its own connection and whatever fails
//! is reported as that database's `critical` reason, naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::Duration;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::backup::{self, BackupKind};
use super::open::{self, BUSY_TIMEOUT_MS, WAL_AUTOCHECKPOINT};
use super::values::{Instant, format_instant};
use super::{DbName, StoreError};

/// Where the maintenance job leaves its results for the report (cache.db `cache_data`, no expiry).
pub mod keys {
    use super::DbName;

    pub fn checkpoint(db: DbName) -> String {
        format!("storage.checkpoint.{db}")
    }
    pub fn incremental_vacuum(db: DbName) -> String {
        format!("storage.incremental_vacuum.{db}")
    }
    pub fn auto_vacuum_conversion(db: DbName) -> String {
        format!("storage.auto_vacuum_conversion.{db}")
    }
    pub fn backup_error(kind: &str) -> String {
        format!("storage.backup_error.{kind}")
    }
}

/// A `-wal` larger than this means checkpoints are not keeping up.
const WAL_WARNING_BYTES: u64 = 64 * 1024 * 1024;
/// After maintenance, more free pages than this share of the file is worth a warning.
const FREELIST_WARNING_SHARE: f64 = 0.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Serialize)]
pub struct Expected<T> {
    pub expected: T,
    pub actual: Option<T>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileRow {
    pub pragma: &'static str,
    pub expected: String,
    pub actual: Option<String>,
    /// `file` (stored in the database) or `connection`.
    pub scope: &'static str,
    pub drift: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckRun {
    pub ran_at: Instant,
    pub rows: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FkViolation {
    pub table: String,
    pub rowid: Option<i64>,
    pub parent: String,
    pub fkid: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FkCheck {
    pub ran_at: Instant,
    pub violations: Vec<FkViolation>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableSet {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupStatus {
    pub last_ok_at: Option<Instant>,
    pub last_ok_path: Option<PathBuf>,
    pub last_error_at: Option<Instant>,
    pub last_error: Option<String>,
}

/// The report of one database.
#[derive(Debug, Clone, Serialize)]
pub struct DbHealth {
    pub name: DbName,
    pub path: PathBuf,
    pub file_bytes: u64,
    pub wal_bytes: u64,
    pub shm_bytes: u64,
    pub application_id: Expected<i64>,
    pub user_version: Expected<u32>,
    pub page_size: Option<i64>,
    pub page_count: Option<i64>,
    pub freelist_count: Option<i64>,
    pub profile: Vec<ProfileRow>,
    pub auto_vacuum_conversion: String,
    pub quick_check: Option<CheckRun>,
    pub integrity_check: Option<CheckRun>,
    pub foreign_key_check: Option<FkCheck>,
    pub tables: TableSet,
    pub last_checkpoint: Option<serde_json::Value>,
    pub last_incremental_vacuum: Option<serde_json::Value>,
    pub backups: BTreeMap<String, BackupStatus>,
    pub status: Status,
    pub reasons: Vec<String>,
}

impl DbHealth {
    fn new(name: DbName, path: PathBuf) -> DbHealth {
        DbHealth {
            name,
            path,
            file_bytes: 0,
            wal_bytes: 0,
            shm_bytes: 0,
            application_id: Expected { expected: i64::from(name.spec().application_id), actual: None },
            user_version: Expected { expected: name.spec().newest_version(), actual: None },
            page_size: None,
            page_count: None,
            freelist_count: None,
            profile: Vec::new(),
            auto_vacuum_conversion: "none".into(),
            quick_check: None,
            integrity_check: None,
            foreign_key_check: None,
            tables: TableSet::default(),
            last_checkpoint: None,
            last_incremental_vacuum: None,
            backups: BTreeMap::new(),
            status: Status::Ok,
            reasons: Vec::new(),
        }
    }

    fn flag(&mut self, status: Status, reason: impl Into<String>) {
        self.status = self.status.max(status);
        self.reasons.push(reason.into());
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingPurge {
    pub symbol: String,
    pub purge_due_at: Instant,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusedPurge {
    pub symbol: String,
    pub quantity: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcSummary {
    pub last_run_at: Option<Instant>,
    /// Securities purged in the last run.
    pub purged: i64,
    pub pending: Vec<PendingPurge>,
    pub refused: Vec<RefusedPurge>,
}

/// One row of the reference audit (storage.md §6): dangling values of a logical reference.
#[derive(Debug, Clone, Serialize)]
pub struct DanglingReference {
    pub from: &'static str,
    pub to: &'static str,
    /// Distinct values that have no target.
    pub count: usize,
    /// Up to ten of them.
    pub examples: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub generated_at: Instant,
    pub data_dir: PathBuf,
    pub databases: Vec<DbHealth>,
    pub free_bytes: Option<u64>,
    pub total_db_bytes: u64,
    pub gc: GcSummary,
    pub references: Vec<DanglingReference>,
    pub cache_recreated: bool,
    pub status: Status,
    pub reasons: Vec<String>,
}

impl HealthReport {
    /// Healthy when nothing is critical (warnings are printed but count as healthy).
    pub fn healthy(&self) -> bool {
        self.status != Status::Critical
    }
}

/// Size of a file, 0 when it is missing.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Examines every database of `dir`. Runs `quick_check`, `integrity_check` and `foreign_key_check` itself.
pub fn report(dir: &Path, now: Instant) -> HealthReport {
    let mut databases: Vec<DbHealth> = DbName::ALL.into_iter().map(|name| examine(dir, name, now)).collect();
    let backups = backup::latest_sets(dir);
    let cache = open_quietly(dir, DbName::Cache);
    for db in &mut databases {
        add_backups(db, &backups, cache.as_ref(), now);
        if let Some(cache) = &cache {
            add_maintenance(db, cache);
        }
    }
    let total_db_bytes: u64 = databases.iter().map(|d| d.file_bytes + d.wal_bytes).sum();
    let free_bytes = rustix::fs::statvfs(dir).ok().map(|s| s.f_bavail * s.f_frsize);
    let mut status = databases.iter().map(|d| d.status).max().unwrap_or(Status::Ok);
    let mut reasons = Vec::new();
    if let Some(free) = free_bytes
        && free < 2 * total_db_bytes
    {
        status = Status::Critical;
        reasons.push(format!("only {free} bytes free on the data filesystem; backups need 2 × {total_db_bytes}"));
    }
    let gc = gc_summary(dir);
    if !gc.refused.is_empty() {
        status = status.max(Status::Warning);
        reasons.push(format!(
            "GC refused to purge held securities: {}",
            gc.refused.iter().map(|r| r.symbol.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let references = reference_audit(dir);
    for r in references.iter().filter(|r| r.count > 0) {
        status = status.max(Status::Warning);
        reasons.push(format!("{} dangling reference(s) from {} to {}", r.count, r.from, r.to));
    }
    HealthReport {
        generated_at: now,
        data_dir: dir.to_owned(),
        databases,
        free_bytes,
        total_db_bytes,
        gc,
        references,
        cache_recreated: false,
        status,
        reasons,
    }
}

/// Opens an existing database for reading without any of the open procedure's checks; `None` if it cannot.
fn open_quietly(dir: &Path, name: DbName) -> Option<Connection> {
    let path = name.spec().path_in(dir);
    if !path.exists() {
        return None;
    }
    let conn =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).ok()?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS as u64)).ok()?;
    conn.pragma_update(None, "query_only", 1).ok()?;
    let id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).ok()?;
    (id == i64::from(name.spec().application_id)).then_some(conn)
}

fn examine(dir: &Path, name: DbName, now: Instant) -> DbHealth {
    let spec = name.spec();
    let path = spec.path_in(dir);
    let mut h = DbHealth::new(name, path.clone());
    h.file_bytes = file_len(&path);
    h.wal_bytes = file_len(&super::datadir::sidecar(&path, "-wal"));
    h.shm_bytes = file_len(&super::datadir::sidecar(&path, "-shm"));
    if !path.exists() {
        h.flag(Status::Critical, format!("{} is missing", path.display()));
        return h;
    }
    if h.file_bytes == 0 {
        h.flag(Status::Critical, format!("{} is empty", path.display()));
        return h;
    }
    if let Err(e) = examine_file(&mut h, &path, now) {
        h.flag(Status::Critical, e.to_string());
    }
    if h.wal_bytes > WAL_WARNING_BYTES {
        h.flag(Status::Warning, format!("-wal is {} bytes (> 64 MiB): checkpoints are not keeping up", h.wal_bytes));
    }
    h
}

fn examine_file(h: &mut DbHealth, path: &Path, now: Instant) -> Result<(), StoreError> {
    let spec = h.name.spec();
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::from_sqlite(path, "opening", e))?;
    let app_id = open::pragma_i64(&conn, path, "application_id")?;
    h.application_id.actual = Some(app_id);
    if app_id != h.application_id.expected {
        let what = match DbName::from_application_id(app_id) {
            Some(other) => format!("this is {other}.db"),
            None if app_id == 0 => "application_id 0: a legacy file or not ours".to_owned(),
            None => format!("unknown application_id {app_id}"),
        };
        h.flag(Status::Critical, format!("{}: wrong file ({what})", path.display()));
        return Ok(());
    }
    let version = open::pragma_i64(&conn, path, "user_version")? as u32;
    h.user_version.actual = Some(version);
    if version > spec.newest_version() {
        h.flag(
            Status::Critical,
            format!(
                "{}: schema version {version} is newer than this build's {}",
                path.display(),
                spec.newest_version()
            ),
        );
    } else if version < spec.newest_version() {
        h.flag(Status::Warning, format!("{}: schema version {version}; the next start migrates it", path.display()));
    }
    // The per-connection settings are applied as the daemon applies them, then everything is read back.
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS as u64))
        .map_err(|e| StoreError::from_sqlite(path, "busy_timeout", e))?;
    for (pragma, value) in [
        ("synchronous", spec.profile.synchronous),
        ("foreign_keys", 1),
        ("temp_store", spec.profile.temp_store),
        ("wal_autocheckpoint", WAL_AUTOCHECKPOINT),
        ("query_only", 1),
    ] {
        conn.pragma_update(None, pragma, value).map_err(|e| StoreError::from_sqlite(path, "setting pragmas", e))?;
    }
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .map_err(|e| StoreError::from_sqlite(path, "journal_mode", e))?;
    let mut rows = vec![ProfileRow {
        pragma: "journal_mode",
        expected: "wal".into(),
        drift: !journal.eq_ignore_ascii_case("wal"),
        actual: Some(journal.to_lowercase()),
        scope: "file",
    }];
    for (pragma, expected, scope) in [
        ("auto_vacuum", spec.profile.auto_vacuum, "file"),
        ("synchronous", spec.profile.synchronous, "connection"),
        ("temp_store", spec.profile.temp_store, "connection"),
        ("foreign_keys", 1, "connection"),
        ("busy_timeout", BUSY_TIMEOUT_MS, "connection"),
        ("wal_autocheckpoint", WAL_AUTOCHECKPOINT, "connection"),
    ] {
        let actual = open::pragma_i64(&conn, path, pragma)?;
        rows.push(ProfileRow {
            pragma,
            expected: expected.to_string(),
            actual: Some(actual.to_string()),
            scope,
            drift: actual != expected,
        });
    }
    for row in rows.iter().filter(|r| r.drift) {
        let actual = row.actual.clone().unwrap_or_default();
        if row.pragma == "auto_vacuum" {
            h.auto_vacuum_conversion = "pending".into();
            h.flag(Status::Warning, format!("auto_vacuum={actual}, expected {}, conversion pending", row.expected));
        } else {
            h.flag(Status::Critical, format!("{}={actual}, expected {}", row.pragma, row.expected));
        }
    }
    h.profile = rows;
    h.page_size = Some(open::pragma_i64(&conn, path, "page_size")?);
    let page_count = open::pragma_i64(&conn, path, "page_count")?;
    let freelist = open::pragma_i64(&conn, path, "freelist_count")?;
    h.page_count = Some(page_count);
    h.freelist_count = Some(freelist);
    if page_count > 0 && freelist as f64 > FREELIST_WARNING_SHARE * page_count as f64 && spec.profile.auto_vacuum != 1 {
        h.flag(Status::Warning, format!("{freelist} of {page_count} pages are free (> 25 %)"));
    }

    let quick = open::check_rows(&conn, path, "quick_check")?;
    if !open::is_ok(&quick) {
        h.flag(Status::Critical, format!("{}: quick_check: {}", path.display(), quick.join("; ")));
    }
    h.quick_check = Some(CheckRun { ran_at: now, rows: quick });
    let integrity = open::check_rows(&conn, path, "integrity_check")?;
    if !open::is_ok(&integrity) {
        h.flag(Status::Critical, format!("{}: integrity_check: {}", path.display(), integrity.join("; ")));
    }
    h.integrity_check = Some(CheckRun { ran_at: now, rows: integrity });
    let violations = foreign_key_violations(&conn, path)?;
    if !violations.is_empty() {
        h.flag(Status::Critical, format!("{} foreign-key violation(s)", violations.len()));
    }
    h.foreign_key_check = Some(FkCheck { ran_at: now, violations });

    let (missing, unexpected) = open::table_diff(spec, &open::table_names(&conn, path)?);
    if !missing.is_empty() {
        h.flag(Status::Critical, format!("tables missing: {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        h.flag(Status::Warning, format!("unexpected tables: {}", unexpected.join(", ")));
    }
    h.tables = TableSet { missing, unexpected };
    Ok(())
}

fn foreign_key_violations(conn: &Connection, path: &Path) -> Result<Vec<FkViolation>, StoreError> {
    let mut stmt =
        conn.prepare("PRAGMA foreign_key_check").map_err(|e| StoreError::from_sqlite(path, "foreign_key_check", e))?;
    let rows = stmt
        .query_map([], |r| Ok(FkViolation { table: r.get(0)?, rowid: r.get(1)?, parent: r.get(2)?, fkid: r.get(3)? }))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StoreError::from_sqlite(path, "foreign_key_check", e))?;
    Ok(rows)
}

fn cached_json(cache: &Connection, key: &str) -> Option<serde_json::Value> {
    let text: String =
        cache.query_row("SELECT value FROM cache_data WHERE cache_key = ?1", [key], |r| r.get(0)).ok()?;
    serde_json::from_str(&text).ok()
}

fn add_maintenance(h: &mut DbHealth, cache: &Connection) {
    h.last_checkpoint = cached_json(cache, &keys::checkpoint(h.name));
    h.last_incremental_vacuum = cached_json(cache, &keys::incremental_vacuum(h.name));
    if let Some(serde_json::Value::String(state)) = cached_json(cache, &keys::auto_vacuum_conversion(h.name))
        && h.auto_vacuum_conversion == "pending"
        && state.starts_with("failed")
    {
        h.auto_vacuum_conversion = state;
    }
}

fn add_backups(
    h: &mut DbHealth,
    sets: &BTreeMap<BackupKind, backup::SetInfo>,
    cache: Option<&Connection>,
    now: Instant,
) {
    for kind in BackupKind::SCHEDULED {
        if !kind.databases().contains(&h.name) {
            continue;
        }
        let mut status = BackupStatus::default();
        if let Some(set) = sets.get(&kind) {
            status.last_ok_at = Some(set.created_at);
            status.last_ok_path = Some(set.path.clone());
        }
        if let Some(error) = cache.and_then(|c| cached_json(c, &keys::backup_error(kind.as_str()))) {
            status.last_error_at =
                error.get("at").and_then(|v| v.as_str()).and_then(|t| super::values::parse_instant(t).ok());
            status.last_error = error.get("error").and_then(|v| v.as_str()).map(str::to_owned);
        }
        let newer_error = match (status.last_error_at, status.last_ok_at) {
            (Some(err), Some(ok)) => err > ok,
            (Some(_), None) => true,
            _ => false,
        };
        if newer_error {
            h.flag(
                Status::Warning,
                format!("the last {kind} backup failed: {}", status.last_error.clone().unwrap_or_default()),
            );
        }
        match (kind, status.last_ok_at) {
            (BackupKind::Daily, None) => h.flag(Status::Warning, "no daily backup yet"),
            (BackupKind::Daily, Some(at)) if now - at > Duration::hours(48) => h.flag(
                Status::Critical,
                format!("newest daily backup is from {} (older than 48 h)", format_instant(at)),
            ),
            (BackupKind::Hourly, None) => h.flag(Status::Warning, "no hourly ledger backup yet"),
            (BackupKind::Hourly, Some(at)) if now - at > Duration::hours(2) => h.flag(
                Status::Warning,
                format!("newest hourly ledger backup is from {} (older than 2 h)", format_instant(at)),
            ),
            _ => {}
        }
        h.backups.insert(kind.as_str().to_owned(), status);
    }
}

fn gc_summary(dir: &Path) -> GcSummary {
    let mut summary = GcSummary::default();
    let Some(universe) = open_quietly(dir, DbName::Universe) else {
        return summary;
    };
    let grace =
        open_quietly(dir, DbName::Config).map(|c| super::gc::grace_days(&c).0).unwrap_or(super::gc::DEFAULT_GRACE_DAYS);
    let last_run: Option<String> =
        universe.query_row("SELECT max(run_at) FROM gc_log", [], |r| r.get(0)).ok().flatten();
    if let Some(run_at) = last_run {
        summary.last_run_at = super::values::parse_instant(&run_at).ok();
        summary.purged = universe
            .query_row(
                "SELECT count(*) FROM gc_log WHERE run_at = ?1 AND target = 'universe' AND action = 'purged'",
                [&run_at],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if let Ok(mut stmt) = universe.prepare(
            "SELECT symbol, detail FROM gc_log WHERE run_at = ?1 AND action = 'refused_position' ORDER BY symbol",
        ) {
            summary.refused = stmt
                .query_map([&run_at], |r| {
                    let detail: Option<String> = r.get(1)?;
                    let quantity = detail
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                        .and_then(|v| v.get("quantity").and_then(|q| q.as_f64()));
                    Ok(RefusedPurge { symbol: r.get(0)?, quantity })
                })
                .and_then(|rows| rows.collect())
                .unwrap_or_default();
        }
    }
    if let Ok(mut stmt) =
        universe.prepare("SELECT symbol, removed_at FROM securities WHERE removed_at IS NOT NULL ORDER BY removed_at")
    {
        summary.pending = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, super::Ts>(1)?.0)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .unwrap_or_default()
            .into_iter()
            .map(|(symbol, removed_at)| PendingPurge { symbol, purge_due_at: removed_at + Duration::days(grace) })
            .collect();
    }
    summary
}

fn distinct(conn: &Connection, sql: &str) -> BTreeSet<String> {
    conn.prepare(sql)
        .and_then(|mut stmt| stmt.query_map([], |r| r.get::<_, String>(0)).and_then(|rows| rows.collect()))
        .unwrap_or_default()
}

/// What a logical reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Securities,
    Buckets,
    AgentConfigs,
}

impl Target {
    fn describe(self) -> &'static str {
        match self {
            Target::Securities => "universe.securities.symbol",
            Target::Buckets => "satellites.buckets.id",
            Target::AgentConfigs => "agents.agent_configs.id",
        }
    }
    fn source(self) -> (DbName, &'static str) {
        match self {
            Target::Securities => (DbName::Universe, "SELECT symbol FROM securities"),
            Target::Buckets => (DbName::Satellites, "SELECT id FROM buckets"),
            Target::AgentConfigs => (DbName::Agents, "SELECT id FROM agent_configs"),
        }
    }
}

/// The references of storage.md §6 whose dangling values are warnings: (from, its database, its values, to).
/// Ledger symbols and order uuids are left out: after a purge they are expected to dangle.
const REFERENCES: [(&str, DbName, &str, Target); 10] = [
    ("universe.securities.bucket_id", DbName::Universe, "SELECT DISTINCT bucket_id FROM securities", Target::Buckets),
    ("portfolio.positions.symbol", DbName::Portfolio, "SELECT DISTINCT symbol FROM positions", Target::Securities),
    ("portfolio.positions.bucket_id", DbName::Portfolio, "SELECT DISTINCT bucket_id FROM positions", Target::Buckets),
    (
        "portfolio.scores.symbol, portfolio.calculated_metrics.symbol",
        DbName::Portfolio,
        "SELECT DISTINCT symbol FROM scores UNION SELECT symbol FROM calculated_metrics",
        Target::Securities,
    ),
    (
        "history.daily_prices.symbol, history.monthly_prices.symbol",
        DbName::History,
        "SELECT DISTINCT symbol FROM daily_prices UNION SELECT symbol FROM monthly_prices",
        Target::Securities,
    ),
    (
        "cache.recommendations.symbol",
        DbName::Cache,
        "SELECT DISTINCT symbol FROM recommendations WHERE source <> 'emergency'",
        Target::Securities,
    ),
    (
        "cache.cache_data.symbol",
        DbName::Cache,
        "SELECT DISTINCT symbol FROM cache_data WHERE symbol IS NOT NULL",
        Target::Securities,
    ),
    ("ledger.trades.bucket_id", DbName::Ledger, "SELECT DISTINCT bucket_id FROM trades", Target::Buckets),
    (
        "satellites.buckets.agent_id",
        DbName::Satellites,
        "SELECT DISTINCT agent_id FROM buckets WHERE agent_id IS NOT NULL",
        Target::AgentConfigs,
    ),
    (
        "agents.agent_configs.bucket_id",
        DbName::Agents,
        "SELECT DISTINCT bucket_id FROM agent_configs WHERE bucket_id IS NOT NULL",
        Target::Buckets,
    ),
];

/// Counts values of one database that name a row of another that does not exist (storage.md §6). Each
/// database is read on its own; the sets are compared in Rust.
pub fn reference_audit(dir: &Path) -> Vec<DanglingReference> {
    let conns: BTreeMap<DbName, Connection> =
        DbName::ALL.into_iter().filter_map(|name| open_quietly(dir, name).map(|c| (name, c))).collect();
    let read = |db: DbName, sql: &str| conns.get(&db).map(|c| distinct(c, sql));
    let mut targets: BTreeMap<Target, Option<BTreeSet<String>>> = BTreeMap::new();
    REFERENCES
        .into_iter()
        .filter_map(|(from, db, sql, to)| {
            let known = targets.entry(to).or_insert_with(|| {
                let (target_db, target_sql) = to.source();
                read(target_db, target_sql)
            });
            let known = known.as_ref()?;
            let values = read(db, sql)?;
            let dangling: Vec<String> = values.difference(known).cloned().collect();
            Some(DanglingReference {
                from,
                to: to.describe(),
                count: dangling.len(),
                examples: dangling.into_iter().take(10).collect(),
            })
        })
        .collect()
}

/// Renders the report for a person.
pub fn render(report: &HealthReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mark = |s: Status| match s {
        Status::Ok => "ok      ",
        Status::Warning => "WARNING ",
        Status::Critical => "CRITICAL",
    };
    let _ = writeln!(out, "data directory {}", report.data_dir.display());
    for db in &report.databases {
        let _ = writeln!(
            out,
            "  {} {:<11} v{} {:>10} B  wal {:>9} B  {} free of {} pages",
            mark(db.status),
            db.name.as_str(),
            db.user_version.actual.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
            db.file_bytes,
            db.wal_bytes,
            db.freelist_count.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
            db.page_count.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
        );
        for reason in &db.reasons {
            let _ = writeln!(out, "           - {reason}");
        }
        if let Some(check) = &db.integrity_check
            && !open::is_ok(&check.rows)
        {
            for row in &check.rows {
                let _ = writeln!(out, "             integrity: {row}");
            }
        }
    }
    if let Some(free) = report.free_bytes {
        let _ = writeln!(out, "  free space {free} B for {} B of databases", report.total_db_bytes);
    }
    if !report.gc.pending.is_empty() {
        let pending: Vec<String> = report
            .gc
            .pending
            .iter()
            .map(|p| format!("{} (due {})", p.symbol, format_instant(p.purge_due_at)))
            .collect();
        let _ = writeln!(out, "  GC pending: {}", pending.join(", "));
    }
    for reason in &report.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    let _ = writeln!(out, "status: {}", mark(report.status).trim().to_lowercase());
    out
}
