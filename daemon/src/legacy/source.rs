//! Reading the legacy files (legacy-layout.md §1, §5): which files exist, byte copies that SQLite may touch,
//! tables read by column name, and the shape check of every column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::store::StoreError;
use crate::store::datadir::{header_application_id, sidecar};

/// Legacy database files at the top of the data directory (legacy-layout.md §1).
pub const LEGACY_FILES: [&str; 13] = [
    "config.db",
    "ledger.db",
    "state.db",
    "calculations.db",
    "snapshots.db",
    "dividends.db",
    "recommendations.db",
    "rates.db",
    "cache.db",
    "planner.db",
    "satellites.db",
    "trader.db",
    "trading.db",
];

/// Files the original's 8-database build may have left with application_id 0 (§5.4).
pub const GO_ERA_FILES: [&str; 4] = ["universe.db", "portfolio.db", "agents.db", "history.db"];

/// The tables each legacy file is known to hold (§1, §5.4); anything else is an unknown table.
pub fn known_tables(file: &str) -> &'static [&'static str] {
    const PLANNER: [&str; 5] = ["sequences", "evaluations", "best_result", "planner_configs", "planner_config_history"];
    match file {
        "config.db" => &[
            "securities",
            "stocks",
            "allocation_targets",
            "country_groups",
            "industry_groups",
            "settings",
            "recommendations",
            "schema_version",
            "sequences",
            "evaluations",
            "best_result",
            "planner_configs",
            "planner_config_history",
        ],
        "ledger.db" => &["trades", "cash_flows", "dividend_history", "schema_version"],
        "state.db" => &["positions", "scores", "portfolio_snapshots", "schema_version"],
        "calculations.db" => &["calculated_metrics", "scores", "schema_version"],
        "snapshots.db" => &["portfolio_snapshots", "schema_version"],
        "dividends.db" => &["dividend_history", "schema_version"],
        "recommendations.db" => &["recommendations", "schema_version"],
        "rates.db" => &["exchange_rates", "schema_version"],
        "cache.db" => &[
            "cache_entries",
            "yahoo_cache",
            "recommendation_cache",
            "analytics_cache",
            "exchange_rates",
            "schema_version",
            "recommendations",
        ],
        "planner.db" => &PLANNER,
        "satellites.db" => &[
            "buckets",
            "satellite_settings",
            "bucket_balances",
            "bucket_transactions",
            "allocation_settings",
            "satellite_regime_performance",
            "schema_version",
        ],
        _ if file.starts_with("history/") => &["daily_prices", "monthly_prices", "schema_version"],
        _ => &[],
    }
}

/// One legacy file found in the data directory.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyFile {
    /// Relative to the data directory: `config.db`, `history/AAPL_US.db`.
    pub path: String,
    pub bytes: u64,
    pub wal_bytes: u64,
    pub has_shm: bool,
}

/// The legacy files of `dir`, relative paths sorted; Go-era empty files included (they have application_id 0).
pub fn discover(dir: &Path) -> Result<Vec<LegacyFile>, StoreError> {
    let describe = |rel: String| -> LegacyFile {
        let path = dir.join(&rel);
        LegacyFile {
            bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            wal_bytes: std::fs::metadata(sidecar(&path, "-wal")).map(|m| m.len()).unwrap_or(0),
            has_shm: sidecar(&path, "-shm").exists(),
            path: rel,
        }
    };
    let mut found = Vec::new();
    for name in LEGACY_FILES {
        let path = dir.join(name);
        if path.is_file() && !is_new_format(&path) {
            found.push(describe(name.to_owned()));
        }
    }
    for name in GO_ERA_FILES {
        let path = dir.join(name);
        if path.is_file() && header_application_id(&path) == Some(0) {
            found.push(describe(name.to_owned()));
        }
    }
    let history = dir.join("history");
    if history.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&history)
            .map_err(|source| StoreError::Io { path: history.clone(), source })?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".db"))
            .collect();
        names.sort();
        found.extend(names.into_iter().map(|n| describe(format!("history/{n}"))));
    }
    Ok(found)
}

/// One of the eight new databases (its application_id is ours).
pub fn is_new_format(path: &Path) -> bool {
    header_application_id(path).is_some_and(|id| crate::store::DbName::from_application_id(i64::from(id)).is_some())
}

/// Byte-copies each file and its `-wal` (never `-shm`) from `from` into `to`, keeping relative paths.
pub fn copy_files(from: &Path, to: &Path, files: &[LegacyFile]) -> Result<(), StoreError> {
    for f in files {
        let source = from.join(&f.path);
        let target = to.join(&f.path);
        let parent = target.parent().expect("a relative path has a parent");
        crate::store::datadir::create_private_dir(parent)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        std::fs::copy(&source, &target).map_err(io(&source))?;
        let wal = sidecar(&source, "-wal");
        if wal.exists() {
            std::fs::copy(&wal, sidecar(&target, "-wal")).map_err(io(&wal))?;
        }
    }
    Ok(())
}

/// A legacy table read whole: its columns in file order and every row.
#[derive(Debug, Clone)]
pub struct Table {
    pub file: String,
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

static NULL: Value = Value::Null;

/// One row of a legacy table, read by column name.
#[derive(Clone, Copy)]
pub struct Record<'t> {
    pub table: &'t Table,
    pub index: usize,
}

impl<'t> Record<'t> {
    /// The value of a column; NULL when the file has no such column (an optional column of another shape).
    pub fn get(&self, column: &str) -> &'t Value {
        match self.table.columns.iter().position(|c| c == column) {
            Some(i) => &self.table.rows[self.index][i],
            None => &NULL,
        }
    }

    pub fn has(&self, column: &str) -> bool {
        self.table.columns.iter().any(|c| c == column)
    }
}

impl Table {
    /// The same table without rows (its rows are then chosen one by one).
    pub fn empty_like(&self) -> Table {
        Table { file: self.file.clone(), name: self.name.clone(), columns: self.columns.clone(), rows: Vec::new() }
    }

    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        (0..self.rows.len()).map(move |index| Record { table: self, index })
    }
}

/// The opened copies of the legacy files.
pub struct Sources {
    pub root: PathBuf,
    conns: BTreeMap<String, Connection>,
}

impl Sources {
    /// Opens every file (copies only: opening replays a WAL into the copy). A file SQLite cannot read is
    /// returned as an error message by name instead.
    pub fn open(root: &Path, files: &[LegacyFile]) -> (Sources, BTreeMap<String, String>) {
        let mut conns = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for f in files.iter().filter(|f| f.bytes > 0) {
            let path = root.join(&f.path);
            let opened = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
                .and_then(|c| c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map(|_| c));
            match opened {
                Ok(conn) => {
                    conns.insert(f.path.clone(), conn);
                }
                Err(e) => {
                    errors.insert(f.path.clone(), e.to_string());
                }
            }
        }
        (Sources { root: root.to_owned(), conns }, errors)
    }

    pub fn files(&self) -> impl Iterator<Item = &String> {
        self.conns.keys()
    }

    pub fn conn(&self, file: &str) -> Option<&Connection> {
        self.conns.get(file)
    }

    /// Tables of a file with their row counts (SQLite's internal tables left out).
    pub fn tables(&self, file: &str) -> Vec<(String, i64)> {
        let Some(conn) = self.conn(file) else { return Vec::new() };
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        names
            .into_iter()
            .map(|n| {
                let rows =
                    conn.query_row(&format!("SELECT count(*) FROM {}", quote(&n)), [], |r| r.get(0)).unwrap_or(0);
                (n, rows)
            })
            .collect()
    }

    /// A table's columns in file order; `None` when the file or the table is absent.
    pub fn columns(&self, file: &str, table: &str) -> Result<Option<Vec<String>>, StoreError> {
        let Some(conn) = self.conn(file) else { return Ok(None) };
        let err = |e| StoreError::from_sqlite(&self.root.join(file), "reading a legacy table", e);
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .and_then(|mut s| s.query_map([table], |r| r.get(0))?.collect())
            .map_err(err)?;
        Ok((!columns.is_empty()).then_some(columns))
    }

    /// How many values of a column are not NULL.
    pub fn non_null(&self, file: &str, table: &str, column: &str) -> Result<usize, StoreError> {
        let conn = self.conn(file).expect("an open file");
        let sql = format!("SELECT count(*) FROM {} WHERE {} IS NOT NULL", quote(table), quote(column));
        conn.query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| StoreError::from_sqlite(&self.root.join(file), "counting values", e))
    }

    /// Reads a whole table by column name; `None` when the file or the table is absent.
    pub fn read(&self, file: &str, table: &str) -> Result<Option<Table>, StoreError> {
        let Some(conn) = self.conn(file) else { return Ok(None) };
        let path = self.root.join(file);
        let err = |e: rusqlite::Error| StoreError::from_sqlite(&path, "reading a legacy table", e);
        let exists: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))
            .map_err(err)?;
        if exists == 0 {
            return Ok(None);
        }
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .and_then(|mut s| s.query_map([table], |r| r.get(0))?.collect())
            .map_err(err)?;
        // Identifiers come from the file's own schema and are quoted; every column is named, never `*`.
        let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let mut stmt = conn.prepare(&format!("SELECT {list} FROM {}", quote(table))).map_err(err)?;
        let n = columns.len();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>())
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(err)?;
        Ok(Some(Table { file: file.to_owned(), name: table.to_owned(), columns, rows }))
    }
}

/// Quotes an SQL identifier.
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The columns a mapping knows for one source table (legacy-layout.md §5.2).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
    /// Read for the report, not migrated.
    pub dropped: &'static [&'static str],
}

/// What the shape check found in one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShapeCheck {
    pub missing_required: Vec<String>,
    pub unknown_empty: Vec<String>,
    /// Unknown columns with their count of non-NULL values.
    pub unknown_with_data: Vec<(String, usize)>,
}

impl Shape {
    pub fn check(&self, table: &Table) -> ShapeCheck {
        let mut out = ShapeCheck::default();
        for column in self.required {
            if !table.columns.iter().any(|c| c == column) {
                out.missing_required.push(column.to_string());
            }
        }
        for (i, column) in table.columns.iter().enumerate() {
            let known = self.required.contains(&column.as_str())
                || self.optional.contains(&column.as_str())
                || self.dropped.contains(&column.as_str());
            if known {
                continue;
            }
            let non_null = table.rows.iter().filter(|r| r[i] != Value::Null).count();
            if non_null == 0 {
                out.unknown_empty.push(column.clone());
            } else {
                out.unknown_with_data.push((column.clone(), non_null));
            }
        }
        out
    }
}
