//! The one-shot migrator from the legacy 15+ file layout to the eight databases (legacy-layout.md).
//!
//! The pipeline: byte copies of the legacy files ([`source`]), the mapping of every destination by column name
//! ([`mapping`]), rows written into eight databases (validated by SQLite against the real schema), and an
//! independent verification by content digests and exact sums ([`verify`]).

pub mod convert;
pub mod mapping;
pub mod run;
pub mod source;
pub mod switch;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::store::open;
use crate::store::{DbName, OpenMode, Store, StoreError};
use mapping::{Dest, NotMigrated, Options, Plan, Problem};
use source::{LegacyFile, Sources};

/// Where the migrator reports its steps: a progress bar on a terminal, plain log lines otherwise.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// A progress reporter that says nothing.
pub fn quiet(_: &str) {}

/// The eight databases a plan is written into: in memory (to validate) or staged files.
pub struct Targets {
    conns: Vec<Connection>,
}

impl Targets {
    /// Eight in-memory databases with the real schemas: SQLite checks every row against the real constraints.
    pub fn in_memory() -> Result<Targets, StoreError> {
        let conns = DbName::ALL
            .iter()
            .map(|name| {
                let mut conn = Connection::open_in_memory()
                    .map_err(|e| StoreError::from_sqlite(Path::new(":memory:"), "opening", e))?;
                open::apply_schema(&mut conn, name.spec())?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Targets { conns })
    }

    /// The eight databases created in `dir` by the daemon's own open procedure (storage.md §3.2).
    pub fn staged(dir: &Path) -> Result<Targets, StoreError> {
        let conns = Store::open(dir, OpenMode::Init)?.into_connections();
        // A one-off bulk load: a 64 MiB page cache keeps the history transaction from spilling to the WAL half-way
        // (the daemon's own connections keep SQLite's default).
        for conn in &conns {
            conn.pragma_update(None, "cache_size", -65536)
                .map_err(|e| StoreError::from_sqlite(dir, "cache_size", e))?;
        }
        Ok(Targets { conns })
    }

    pub fn conn(&self, name: DbName) -> &Connection {
        &self.conns[name as usize]
    }

    /// Checkpoints and closes the staged files.
    pub fn close(self) -> Result<(), StoreError> {
        for (conn, name) in self.conns.into_iter().zip(DbName::ALL) {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).ok();
            conn.close().map_err(|(_, e)| StoreError::from_sqlite(Path::new(name.as_str()), "closing", e))?;
        }
        Ok(())
    }
}

fn sql_err(dest: &Dest) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::from_sqlite(Path::new(&format!("{}.db", dest.db)), "writing migrated rows", e)
}

/// The INSERT of a destination (an upsert on the primary key of a table seeded by migration 1).
fn insert_sql(dest: &Dest) -> String {
    let columns = dest.columns.join(", ");
    let params = (1..=dest.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let mut sql = format!("INSERT INTO {} ({columns}) VALUES ({params})", dest.table);
    if let Some(pk) = dest.upsert_on {
        let set: Vec<String> =
            dest.columns.iter().filter(|c| !pk.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
        sql.push_str(&format!(" ON CONFLICT({}) DO UPDATE SET {}", pk.join(", "), set.join(", ")));
    }
    sql
}

/// What writing a plan did.
#[derive(Debug, Default)]
pub struct Applied {
    pub inserted: BTreeMap<&'static str, usize>,
    /// Rows that arrived, per source `file:table`.
    pub by_source: BTreeMap<String, usize>,
    pub rejected: Vec<NotMigrated>,
    pub blocking: Vec<Problem>,
}

/// Writes a plan, one transaction per destination table, in the order universe … cache. A row SQLite refuses
/// (a CHECK, UNIQUE or NOT NULL of the real schema) is a rejection: blocking for a strict destination.
pub fn apply(plan: &Plan, targets: &Targets, t0: &str, progress: Progress<'_>) -> Result<Applied, StoreError> {
    // Seeded rows carry T0, so that the verification can expect them exactly.
    targets
        .conn(DbName::Satellites)
        .execute("UPDATE buckets SET created_at = ?1, updated_at = ?1 WHERE id = 'core'", [t0])
        .map_err(|e| StoreError::from_sqlite(Path::new("satellites.db"), "seeding", e))?;
    let mut applied = Applied::default();
    for (dest, rows) in &plan.rows {
        progress(&format!("writing {}.{} ({} rows)", dest.db, dest.table, rows.len()));
        let conn = targets.conn(dest.db);
        let tx = conn.unchecked_transaction().map_err(sql_err(dest))?;
        let mut inserted = 0;
        {
            let mut stmt = tx.prepare(&insert_sql(dest)).map_err(sql_err(dest))?;
            for row in rows {
                match stmt.execute(rusqlite::params_from_iter(row.values.iter())) {
                    Ok(_) => {
                        inserted += 1;
                        *applied.by_source.entry(format!("{}:{}", row.file, row.table)).or_insert(0) += 1;
                    }
                    Err(e @ rusqlite::Error::SqliteFailure(..)) => {
                        let detail = format!("{}.{}: {e}", dest.db, dest.table);
                        if dest.strict {
                            applied.blocking.push(Problem {
                                code: "REJECTED_CONSTRAINT".into(),
                                file: row.file.to_string(),
                                table: Some(row.table.to_string()),
                                column: None,
                                detail: format!("row {}: {detail}", row.key),
                            });
                        }
                        applied.rejected.push(NotMigrated {
                            file: row.file.to_string(),
                            table: row.table.to_string(),
                            key: row.key.clone(),
                            code: "REJECTED_CONSTRAINT".into(),
                            detail,
                            kept_key: None,
                        });
                    }
                    Err(e) => return Err(sql_err(dest)(e)),
                }
            }
        }
        tx.commit().map_err(sql_err(dest))?;
        applied.inserted.insert(dest.table, inserted);
    }
    Ok(applied)
}

/// Copies the legacy files of `data` into `work/sources`, opens them and maps them.
pub fn analyze(data: &Path, files: Vec<LegacyFile>, work: &Path, options: &Options) -> Result<Analysis, StoreError> {
    let copies = work.join("sources");
    crate::store::datadir::create_private_dir(&copies)?;
    source::copy_files(data, &copies, &files)?;
    analyze_copies(&copies, files, options, true)
}

/// Maps already-copied legacy files.
pub fn analyze_copies(
    copies: &Path,
    files: Vec<LegacyFile>,
    options: &Options,
    check_integrity: bool,
) -> Result<Analysis, StoreError> {
    let (sources, unreadable) = Sources::open(copies, &files);
    let mut plan = mapping::plan(&sources, options);
    for (file, error) in unreadable {
        if !file.starts_with("history/") {
            plan.blocking.push(Problem { code: "CORRUPT_FILE".into(), file, table: None, column: None, detail: error });
        } else {
            plan.warnings.push(Problem {
                code: "CORRUPT_HISTORY_FILE".into(),
                file,
                table: None,
                column: None,
                detail: error,
            });
        }
    }
    for mandatory in ["config.db", "ledger.db"] {
        if !files.iter().any(|f| f.path == mandatory) {
            plan.blocking.push(Problem {
                code: "MISSING_MANDATORY_FILE".into(),
                file: mandatory.into(),
                table: None,
                column: None,
                detail: "every legacy installation has it".into(),
            });
        }
    }
    let mut integrity = BTreeMap::new();
    // History files are checked by the backup itself (a corrupt one is only a warning); the others here.
    let skip_history = options.strict_only;
    for file in sources.files().filter(|f| check_integrity && !(skip_history && f.starts_with("history/"))) {
        let conn = sources.conn(file).expect("an open file");
        let rows =
            open::check_rows(conn, &copies.join(file), "integrity_check").unwrap_or_else(|e| vec![e.to_string()]);
        if !open::is_ok(&rows) {
            let code = if file.starts_with("history/") { "CORRUPT_HISTORY_FILE" } else { "CORRUPT_FILE" };
            let p =
                Problem { code: code.into(), file: file.clone(), table: None, column: None, detail: rows.join("; ") };
            if file.starts_with("history/") { plan.warnings.push(p) } else { plan.blocking.push(p) }
        }
        integrity.insert(file.clone(), rows);
    }
    let tables = plan
        .source_tables
        .iter()
        .map(|(file, listed)| {
            let listed = listed
                .iter()
                .cloned()
                .map(|(name, rows)| {
                    let columns = sources.columns(file, &name).ok().flatten().unwrap_or_default();
                    SourceTable { name, columns, rows }
                })
                .collect();
            (file.clone(), listed)
        })
        .collect();
    let float_totals = verify::legacy_totals(|file| sources.conn(file));
    Ok(Analysis { files, plan, integrity, tables, float_totals })
}

/// A legacy table as found: its columns in file order and its row count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceTable {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: i64,
}

/// The sources and what the mapping made of them.
pub struct Analysis {
    pub files: Vec<LegacyFile>,
    pub plan: Plan,
    pub integrity: BTreeMap<String, Vec<String>>,
    /// Per file: its tables.
    pub tables: BTreeMap<String, Vec<SourceTable>>,
    /// `table.column` → SQLite's `total(abs(x))` of the legacy values (the float cross-check).
    pub float_totals: BTreeMap<String, f64>,
}

/// Where a run works: a fresh directory beside the data directory.
pub fn default_work_dir(data: &Path, t0: &str) -> PathBuf {
    let name = data.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    data.with_file_name(format!("{name}.migration-work-{}", t0.replace(['-', ':'], "")))
}

/// The verification's expected rows: an independent pass that re-opens the source copies on fresh connections,
/// maps them again and validates the rows in memory (legacy-layout.md §9.8). Runs on its own thread beside the
/// build, which no longer reads the copies.
pub fn expected(
    copies: &Path,
    files: &[LegacyFile],
    options: &Options,
) -> Result<(Targets, Vec<verify::Summary>), StoreError> {
    let again = analyze_copies(copies, files.to_vec(), options, false)?;
    let memory = Targets::in_memory()?;
    apply(&again.plan, &memory, &options.t0, &quiet)?;
    drop(again);
    // The expected side is summarised here, on the verifier's own thread.
    let summaries = mapping::DESTINATIONS
        .iter()
        .map(|dest| {
            verify::summarize(memory.conn(dest.db), dest)
                .map_err(|e| StoreError::from_sqlite(Path::new(":memory:"), "summarising expected rows", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((memory, summaries))
}

impl Analysis {
    /// The report's description of every source file.
    pub fn source_files(&self) -> Vec<run::SourceFile> {
        self.files
            .iter()
            .map(|f| run::SourceFile {
                file: f.clone(),
                integrity_check: self.integrity.get(&f.path).cloned().unwrap_or_default(),
                tables: self.tables.get(&f.path).cloned().unwrap_or_default(),
            })
            .collect()
    }
}
