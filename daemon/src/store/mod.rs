//! The eight SQLite databases of storage.md: one module per database (its migrations, profile and
//! repositories), the opening procedure they share, and the data directory that holds them.

#[macro_use]
mod checks;
pub mod datadir;
pub mod open;
pub mod values;
pub mod worker;

pub mod agents;
pub mod cache;
pub mod config;
pub mod history;
pub mod ledger;
pub mod portfolio;
pub mod satellites;
pub mod universe;

pub mod backup;
pub mod gc;
pub mod health;
pub mod maintenance;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use datadir::{DataDir, DirLock, Layout};
pub use open::{Create, DbSpec, OpenReport};
pub use values::{Clock, Day, Dec, FixedClock, Instant, Side, SystemClock, Ts};

/// The eight databases, in the order storage.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbName {
    Universe,
    Config,
    Ledger,
    Portfolio,
    Satellites,
    Agents,
    History,
    Cache,
}

impl DbName {
    pub const ALL: [DbName; 8] = [
        DbName::Universe,
        DbName::Config,
        DbName::Ledger,
        DbName::Portfolio,
        DbName::Satellites,
        DbName::Agents,
        DbName::History,
        DbName::Cache,
    ];

    pub fn spec(self) -> &'static DbSpec {
        match self {
            DbName::Universe => &universe::SPEC,
            DbName::Config => &config::SPEC,
            DbName::Ledger => &ledger::SPEC,
            DbName::Portfolio => &portfolio::SPEC,
            DbName::Satellites => &satellites::SPEC,
            DbName::Agents => &agents::SPEC,
            DbName::History => &history::SPEC,
            DbName::Cache => &cache::SPEC,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    pub fn from_application_id(id: i64) -> Option<DbName> {
        DbName::ALL.into_iter().find(|d| i64::from(d.spec().application_id) == id)
    }

    pub fn from_name(name: &str) -> Option<DbName> {
        let name = name.strip_suffix(".db").unwrap_or(name);
        DbName::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

impl std::fmt::Display for DbName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in the store, written for the person who reads it: which file, what failed,
/// and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {context}: {source}", path.display())]
    Sqlite { path: PathBuf, context: &'static str, source: rusqlite::Error },
    #[error("{}: not a SQLite database, or a damaged one ({detail}); restore it from a backup (`trader restore`)", path.display())]
    NotADatabase { path: PathBuf, detail: String },
    #[error("{}: missing or empty (an interrupted `trader init`? run it again; else restore a backup)", path.display())]
    Missing { path: PathBuf },
    #[error("{}: not a database of this daemon (application_id 0: a legacy file?); run `trader migrate --verify-only`", path.display())]
    LegacyFile { path: PathBuf },
    #[error("{}: wrong file: this is {} (expected {expected}.db)", path.display(), found.map(|n| format!("{n}.db")).unwrap_or_else(|| "an unknown database".into()))]
    WrongFile { path: PathBuf, expected: &'static str, found: Option<&'static str> },
    #[error("{}: has schema version {found}; this build supports up to {supported}. Install a newer build or restore a backup made by this build.", path.display())]
    NewerSchema { path: PathBuf, found: u32, supported: u32 },
    #[error("{}: migration {version} failed and was rolled back: {message}", path.display())]
    Migration { path: PathBuf, version: u32, message: String },
    #[error("{}: journal_mode is `{got}`, expected `wal`", path.display())]
    JournalMode { path: PathBuf, got: String },
    #[error("{}: PRAGMA {pragma} reads {actual}, expected {expected}", path.display())]
    PragmaMismatch { path: PathBuf, pragma: &'static str, expected: i64, actual: i64 },
    #[error("{}: tables missing: {}", path.display(), tables.join(", "))]
    MissingTables { path: PathBuf, tables: Vec<String> },
    #[error("{}: quick_check failed: {}", path.display(), rows.join("; "))]
    QuickCheck { path: PathBuf, rows: Vec<String> },
    #[error("{}: {message}", path.display())]
    Layout { path: PathBuf, message: String },
    #[error("{}: the daemon is running (or another trader command holds {}); stop it first", path.display(), path.join(".lock").display())]
    Locked { path: PathBuf },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

impl StoreError {
    /// Wraps a SQLite error, recognising a file that is not (or no longer) a database.
    pub fn from_sqlite(path: &Path, context: &'static str, source: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match source.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => {
                StoreError::NotADatabase { path: path.to_owned(), detail: source.to_string() }
            }
            _ => StoreError::Sqlite { path: path.to_owned(), context, source },
        }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> StoreError {
        StoreError::Invalid { what: what.into(), message: message.into() }
    }
}

/// Turns an I/O error on `path` into a [`StoreError`] that names the file.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// Turns a SQLite error inside a repository into a [`StoreError`] that names the database.
pub(crate) trait SqlContext<T> {
    fn ctx(self, conn: &Connection, context: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, conn: &Connection, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| {
            let path = conn.path().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(":memory:"));
            StoreError::from_sqlite(&path, context, e)
        })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Runs `f` inside one `BEGIN IMMEDIATE` transaction on `conn` and commits; any error rolls back. When `conn` is
/// already inside a transaction (a caller composing several repositories), `f` simply joins it.
pub fn write_tx<T>(conn: &Connection, context: &'static str, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    if !conn.is_autocommit() {
        return f(conn);
    }
    let tx = conn.unchecked_transaction().ctx(conn, context)?;
    let value = f(&tx)?;
    tx.commit().ctx(conn, context)?;
    Ok(value)
}

/// A row with the id the database gave it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stored<T> {
    pub id: i64,
    #[serde(flatten)]
    pub row: T,
}

impl<T> std::ops::Deref for Stored<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.row
    }
}

/// The result of an insert that deduplicates on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Inserted {
    /// A new row with this id.
    New(i64),
    /// The key was already there; nothing was written. The existing row's id.
    Duplicate(i64),
}

impl Inserted {
    pub fn id(self) -> i64 {
        match self {
            Inserted::New(id) | Inserted::Duplicate(id) => id,
        }
    }
    pub fn is_new(self) -> bool {
        matches!(self, Inserted::New(_))
    }
}

/// Collects a query's mapped rows, naming the database in any error.
pub(crate) fn collect_rows<T>(
    conn: &Connection,
    context: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).ctx(conn, context)?;
    let rows = stmt.query_map(params, map).ctx(conn, context)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().ctx(conn, context)
}

/// The eight read-write connections of one data directory, opened by the procedure of storage.md §3.2.
pub struct Store {
    dir: PathBuf,
    conns: Vec<Connection>,
    reports: Vec<OpenReport>,
}

/// How [`Store::open`] treats the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `trader init`: create missing files (all eight, or only `cache.db`), quick-check existing ones.
    Init,
    /// Everyday commands: all eight must exist (a missing `cache.db` is recreated); no full-file check, so a
    /// command stays quick however large the history grows.
    Existing,
    /// The daemon's start and the migrator's final check: as `Existing`, plus `quick_check` of every file
    /// (storage.md §3.2 step 7).
    Checked,
}

impl Store {
    /// Opens all eight databases after checking the directory's layout (storage.md §1.1).
    pub fn open(dir: &Path, mode: OpenMode) -> Result<Store> {
        let data = DataDir::new(dir);
        let layout = data.layout()?;
        match (&layout, mode) {
            (Layout::Fresh, OpenMode::Init) => data.create_dir()?,
            (Layout::Fresh, OpenMode::Existing | OpenMode::Checked) => {
                return Err(StoreError::Layout {
                    path: dir.to_owned(),
                    message: "no databases here; create them with `trader init` (or fill them with `trader demo-data`)"
                        .into(),
                });
            }
            (Layout::Complete | Layout::CacheMissing, _) => {}
            (other, _) => return Err(other.refusal(dir)),
        }
        let mut conns = Vec::with_capacity(8);
        let mut reports = Vec::with_capacity(8);
        for name in DbName::ALL {
            let spec = name.spec();
            // `init` finishes an interrupted creation; everyday commands only recreate the disposable cache.
            let create =
                if mode == OpenMode::Init || name == DbName::Cache { Create::IfMissing } else { Create::Never };
            let opened = open::open_writer(dir, spec, create)?;
            if mode != OpenMode::Existing && !opened.report.created {
                let path = spec.path_in(dir);
                let rows = open::check_rows(&opened.conn, &path, "quick_check")?;
                if !open::is_ok(&rows) {
                    return Err(StoreError::QuickCheck { path, rows });
                }
            }
            conns.push(opened.conn);
            reports.push(opened.report);
        }
        Ok(Store { dir: dir.to_owned(), conns, reports })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The eight connections, in [`DbName::ALL`] order, for code that owns them from here on.
    pub fn into_connections(self) -> Vec<Connection> {
        self.conns
    }

    pub fn conn(&self, name: DbName) -> &Connection {
        &self.conns[name as usize]
    }

    pub fn report(&self, name: DbName) -> &OpenReport {
        &self.reports[name as usize]
    }

    pub fn securities(&self) -> universe::SecurityRepository<'_> {
        universe::SecurityRepository::new(self.conn(DbName::Universe))
    }
    pub fn groupings(&self) -> universe::GroupingRepository<'_> {
        universe::GroupingRepository::new(self.conn(DbName::Universe))
    }
    pub fn settings(&self) -> config::SettingsRepository<'_> {
        config::SettingsRepository::new(self.conn(DbName::Config))
    }
    pub fn allocations(&self) -> config::AllocationRepository<'_> {
        config::AllocationRepository::new(self.conn(DbName::Config))
    }
    pub fn trades(&self) -> ledger::TradeRepository<'_> {
        ledger::TradeRepository::new(self.conn(DbName::Ledger))
    }
    pub fn cash_flows(&self) -> ledger::CashFlowRepository<'_> {
        ledger::CashFlowRepository::new(self.conn(DbName::Ledger))
    }
    pub fn dividends(&self) -> ledger::DividendRepository<'_> {
        ledger::DividendRepository::new(self.conn(DbName::Ledger))
    }
    pub fn orders(&self) -> ledger::OrderRepository<'_> {
        ledger::OrderRepository::new(self.conn(DbName::Ledger))
    }
    pub fn positions(&self) -> portfolio::PositionRepository<'_> {
        portfolio::PositionRepository::new(self.conn(DbName::Portfolio))
    }
    pub fn scores(&self) -> portfolio::ScoreRepository<'_> {
        portfolio::ScoreRepository::new(self.conn(DbName::Portfolio))
    }
    pub fn snapshots(&self) -> portfolio::PortfolioRepository<'_> {
        portfolio::PortfolioRepository::new(self.conn(DbName::Portfolio))
    }
    pub fn turnover(&self) -> portfolio::TurnoverTracker<'_> {
        portfolio::TurnoverTracker::new(self.trades(), self.snapshots())
    }
    pub fn buckets(&self) -> satellites::BucketRepository<'_> {
        satellites::BucketRepository::new(self.conn(DbName::Satellites))
    }
    pub fn balances(&self) -> satellites::BalanceRepository<'_> {
        satellites::BalanceRepository::new(self.conn(DbName::Satellites))
    }
    pub fn agent_configs(&self) -> agents::ConfigRepository<'_> {
        agents::ConfigRepository::new(self.conn(DbName::Agents))
    }
    pub fn planner(&self) -> agents::PlannerRepository<'_> {
        agents::PlannerRepository::new(self.conn(DbName::Agents))
    }
    pub fn prices(&self) -> history::PriceHistoryRepository<'_> {
        history::PriceHistoryRepository::new(self.conn(DbName::History))
    }
    pub fn exchange_rates(&self) -> history::ExchangeRateRepository<'_> {
        history::ExchangeRateRepository::new(self.conn(DbName::History))
    }
    pub fn recommendations(&self) -> cache::RecommendationRepository<'_> {
        cache::RecommendationRepository::new(self.conn(DbName::Cache))
    }
    pub fn cache(&self) -> cache::CacheRepository<'_> {
        cache::CacheRepository::new(self.conn(DbName::Cache))
    }

    /// Checkpoints every WAL into its database (clean shutdown, storage.md §3.4).
    pub fn checkpoint_all(&self) -> Result<()> {
        for name in DbName::ALL {
            self.conn(name)
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .ctx(self.conn(name), "wal_checkpoint")?;
        }
        Ok(())
    }
}
