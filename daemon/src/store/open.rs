//! Profiles, schema versions and the opening procedure of storage.md §3–§4, shared by all eight databases.
//!
//! Each database module declares a [`DbSpec`]: its name, `application_id`, profile, embedded migrations and
//! table set. Everything that depends only on those facts lives here, once.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use super::StoreError;

/// Every connection waits this long for a lock before `SQLITE_BUSY` (storage.md §2).
pub const BUSY_TIMEOUT_MS: i64 = 5000;
/// SQLite checkpoints automatically every this many WAL pages (storage.md §3.1).
pub const WAL_AUTOCHECKPOINT: i64 = 1000;

/// The per-file settings of one database (storage.md §3.1). `journal_mode = WAL`, `foreign_keys = ON`,
/// `busy_timeout` and `wal_autocheckpoint` are the same for every profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// 0 NONE, 1 FULL, 2 INCREMENTAL; stored in the file.
    pub auto_vacuum: i64,
    /// 0 OFF, 1 NORMAL, 2 FULL; per connection.
    pub synchronous: i64,
    /// 0 DEFAULT, 2 MEMORY; per connection.
    pub temp_store: i64,
}

/// The ledger never shrinks and must survive power loss at every commit.
pub const LEDGER_PROFILE: Profile = Profile { auto_vacuum: 0, synchronous: 2, temp_store: 0 };
/// The cache is disposable: speed over durability, space back at each commit.
pub const CACHE_PROFILE: Profile = Profile { auto_vacuum: 1, synchronous: 0, temp_store: 2 };
/// SQLite's default page size.
pub const DEFAULT_PAGE_SIZE: i64 = 4096;

/// Universe, config, portfolio, satellites, agents and history.
pub const STANDARD_PROFILE: Profile = Profile { auto_vacuum: 2, synchronous: 1, temp_store: 2 };

/// Everything the store needs to know about one database file.
pub struct DbSpec {
    /// `ledger` for `ledger.db`.
    pub name: &'static str,
    /// Identifies the file (storage.md §3.1); a legacy file has 0.
    pub application_id: i32,
    pub profile: Profile,
    /// Page size of a new file, set with `auto_vacuum` before the first table. SQLite's 4096 everywhere except
    /// history.db, whose bulk price inserts and per-symbol range scans run a third faster on 16 KiB pages.
    pub page_size: i64,
    /// Migration N is `migrations[N - 1]`; embedded, never read from disk.
    pub migrations: &'static [M<'static>],
    /// The exact table set of the newest schema, without SQLite's internal `sqlite_*` tables.
    pub tables: &'static [&'static str],
}

impl DbSpec {
    pub fn file_name(&self) -> String {
        format!("{}.db", self.name)
    }

    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    /// The newest schema version this build knows.
    pub fn newest_version(&self) -> u32 {
        self.migrations.len() as u32
    }
}

impl std::fmt::Debug for DbSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSpec").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Whether opening may create a missing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    IfMissing,
    Never,
}

/// What happened while a database was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The file was created (or finished after an interrupted creation).
    pub created: bool,
    /// `user_version` before the migrations ran.
    pub version_before: u32,
    /// `user_version` now.
    pub version: u32,
    /// `auto_vacuum` as read back; differs from the profile when the file drifted (storage.md §3.3).
    pub auto_vacuum: i64,
    /// Tables that are not part of the contract (a warning, never fatal).
    pub unexpected_tables: Vec<String>,
}

impl OpenReport {
    pub fn auto_vacuum_drift(&self, spec: &DbSpec) -> bool {
        self.auto_vacuum != spec.profile.auto_vacuum
    }
}

/// An opened read-write connection with what the open found.
pub struct OpenedDb {
    pub conn: Connection,
    pub report: OpenReport,
}

pub(crate) fn sqlite_err<'a>(path: &'a Path, context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::from_sqlite(path, context, source)
}

/// Reads one integer PRAGMA.
pub fn pragma_i64(conn: &Connection, path: &Path, pragma: &'static str) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, pragma, |row| row.get(0)).map_err(sqlite_err(path, pragma))
}

fn pragma_text(conn: &Connection, path: &Path, pragma: &'static str) -> Result<String, StoreError> {
    conn.pragma_query_value(None, pragma, |row| row.get(0)).map_err(sqlite_err(path, pragma))
}

fn set_pragma(conn: &Connection, path: &Path, pragma: &'static str, value: i64) -> Result<(), StoreError> {
    conn.pragma_update(None, pragma, value).map_err(sqlite_err(path, pragma))
}

/// Number of schema objects (tables, indexes, triggers, views) in the file.
fn schema_object_count(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(sqlite_err(path, "reading the schema"))
}

/// The tables of a file, without SQLite's internal ones, sorted.
pub fn table_names(conn: &Connection, path: &Path) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .map_err(sqlite_err(path, "listing tables"))?;
    let names = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
        .map_err(sqlite_err(path, "listing tables"))?;
    Ok(names)
}

/// Compares a file's tables with the contract: (missing, unexpected).
pub fn table_diff(spec: &DbSpec, actual: &[String]) -> (Vec<String>, Vec<String>) {
    let missing = spec.tables.iter().filter(|t| !actual.iter().any(|a| a == *t)).map(|t| t.to_string()).collect();
    let unexpected = actual.iter().filter(|a| !spec.tables.contains(&a.as_str())).cloned().collect();
    (missing, unexpected)
}

/// Steps 3 and 4 of storage.md §3.2, for every connection: WAL, then the per-connection PRAGMAs in order.
fn apply_connection_profile(conn: &mut Connection, path: &Path, spec: &DbSpec) -> Result<(), StoreError> {
    let mode = pragma_text_update(conn, path, "journal_mode", "WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::JournalMode { path: path.to_owned(), got: mode });
    }
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS as u64)).map_err(sqlite_err(path, "busy_timeout"))?;
    set_pragma(conn, path, "synchronous", spec.profile.synchronous)?;
    set_pragma(conn, path, "foreign_keys", 1)?;
    set_pragma(conn, path, "temp_store", spec.profile.temp_store)?;
    set_pragma(conn, path, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
    // Writes always take the write lock up front: no lock upgrade can fail under WAL (storage.md §2).
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    Ok(())
}

fn pragma_text_update(conn: &Connection, path: &Path, pragma: &'static str, value: &str) -> Result<String, StoreError> {
    conn.pragma_update_and_check(None, pragma, value, |row| row.get(0)).map_err(sqlite_err(path, pragma))
}

/// The per-connection half of the read-back (storage.md §3.3): a mismatch is a bug, so it is fatal.
fn check_connection_profile(conn: &Connection, path: &Path, spec: &DbSpec) -> Result<(), StoreError> {
    let expected: [(&'static str, i64); 5] = [
        ("synchronous", spec.profile.synchronous),
        ("temp_store", spec.profile.temp_store),
        ("foreign_keys", 1),
        ("busy_timeout", BUSY_TIMEOUT_MS),
        ("wal_autocheckpoint", WAL_AUTOCHECKPOINT),
    ];
    for (pragma, value) in expected {
        let actual = pragma_i64(conn, path, pragma)?;
        if actual != value {
            return Err(StoreError::PragmaMismatch { path: path.to_owned(), pragma, expected: value, actual });
        }
    }
    let mode = pragma_text(conn, path, "journal_mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::JournalMode { path: path.to_owned(), got: mode });
    }
    Ok(())
}

/// Reads `application_id` and checks it names this database. Runs before anything can write to the file.
fn check_identity(conn: &Connection, path: &Path, spec: &DbSpec) -> Result<(), StoreError> {
    let id = pragma_i64(conn, path, "application_id")?;
    if id == i64::from(spec.application_id) {
        return Ok(());
    }
    Err(match id {
        0 => StoreError::LegacyFile { path: path.to_owned() },
        other => StoreError::WrongFile {
            path: path.to_owned(),
            expected: spec.name,
            found: super::DbName::from_application_id(other).map(|d| d.spec().name),
        },
    })
}

/// True if an opened file must still be created: a creation that was interrupted before migration 1 committed
/// (no schema objects, `application_id` 0, `user_version` 0).
fn is_unfinished(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    Ok(schema_object_count(conn, path)? == 0
        && pragma_i64(conn, path, "application_id")? == 0
        && pragma_i64(conn, path, "user_version")? == 0)
}

/// Creates an empty file with mode 0600: the databases hold personal financial data (storage.md §1).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Io { path: path.to_owned(), source })
}

/// Opens (or creates) one database's read-write connection following storage.md §3.2.
pub fn open_writer(dir: &Path, spec: &DbSpec, create: Create) -> Result<OpenedDb, StoreError> {
    let path = spec.path_in(dir);
    let path = path.as_path();
    // A file is new if it is missing, empty, or its creation was interrupted (storage.md §3.2); one connection
    // serves both the check and the open.
    let empty = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(source) => return Err(StoreError::Io { path: path.to_owned(), source }),
        Ok(meta) => meta.len() == 0,
    };
    if empty && create == Create::Never {
        return Err(StoreError::Missing { path: path.to_owned() });
    }
    if empty {
        create_private_file(path)?;
    }
    let mut conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(sqlite_err(path, "opening"))?;
    let new = empty || is_unfinished(&conn, path)?;
    if new && create == Create::Never {
        return Err(StoreError::Missing { path: path.to_owned() });
    }
    let newest = spec.newest_version();
    let version_before = if new {
        // Step 2, new file: auto_vacuum before the first table and before WAL, or it silently does nothing.
        set_pragma(&conn, path, "page_size", spec.page_size)?;
        set_pragma(&conn, path, "auto_vacuum", spec.profile.auto_vacuum)?;
        if pragma_i64(&conn, path, "auto_vacuum")? != spec.profile.auto_vacuum {
            // An interrupted creation left an initialised but empty file: rebuild it with the setting.
            conn.execute_batch("VACUUM").map_err(sqlite_err(path, "VACUUM"))?;
        }
        0
    } else {
        // Step 2, existing file: identity and version are read before anything can write to it.
        check_identity(&conn, path, spec)?;
        let version = pragma_i64(&conn, path, "user_version")? as u32;
        if version > newest {
            return Err(StoreError::NewerSchema { path: path.to_owned(), found: version, supported: newest });
        }
        version
    };
    apply_connection_profile(&mut conn, path, spec)?;
    run_migrations(&mut conn, path, spec, version_before)?;
    let version = pragma_i64(&conn, path, "user_version")? as u32;
    check_connection_profile(&conn, path, spec)?;
    let auto_vacuum = pragma_i64(&conn, path, "auto_vacuum")?;
    let (missing, unexpected_tables) = table_diff(spec, &table_names(&conn, path)?);
    if !missing.is_empty() {
        return Err(StoreError::MissingTables { path: path.to_owned(), tables: missing });
    }
    Ok(OpenedDb { conn, report: OpenReport { created: new, version_before, version, auto_vacuum, unexpected_tables } })
}

/// Runs migrations `from + 1 ..= newest`, each in its own `BEGIN IMMEDIATE` transaction together with its
/// `user_version` bump; a failure rolls that migration back and is reported with its number.
fn run_migrations(conn: &mut Connection, path: &Path, spec: &DbSpec, from: u32) -> Result<(), StoreError> {
    let migrations = Migrations::from_slice(spec.migrations);
    for version in from + 1..=spec.newest_version() {
        migrations.to_version(conn, version as usize).map_err(|e| StoreError::Migration {
            path: path.to_owned(),
            version,
            message: match e {
                rusqlite_migration::Error::RusqliteError { err, .. } => err.to_string(),
                other => other.to_string(),
            },
        })?;
    }
    Ok(())
}

/// Creates a database's schema on any connection (an in-memory one validates rows against the real constraints
/// without touching a file): every migration, no profile.
pub fn apply_schema(conn: &mut Connection, spec: &DbSpec) -> Result<(), StoreError> {
    let path = Path::new(":memory:");
    run_migrations(conn, path, spec, 0)?;
    set_pragma(conn, path, "foreign_keys", 1)
}

/// Opens an extra read connection (storage.md §2): same checks, `query_only = ON`.
pub fn open_reader(dir: &Path, spec: &DbSpec) -> Result<Connection, StoreError> {
    let path = spec.path_in(dir);
    let path = path.as_path();
    if !path.exists() {
        return Err(StoreError::Missing { path: path.to_owned() });
    }
    let mut conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(sqlite_err(path, "opening"))?;
    check_identity(&conn, path, spec)?;
    apply_connection_profile(&mut conn, path, spec)?;
    set_pragma(&conn, path, "query_only", 1)?;
    check_connection_profile(&conn, path, spec)?;
    Ok(conn)
}

/// `PRAGMA quick_check` (or `integrity_check`): every row SQLite returns.
pub fn check_rows(conn: &Connection, path: &Path, pragma: &'static str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}")).map_err(sqlite_err(path, pragma))?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sqlite_err(path, pragma))?;
    Ok(rows)
}

/// True when a check returned the single row `ok`.
pub fn is_ok(rows: &[String]) -> bool {
    rows.len() == 1 && rows[0] == "ok"
}
