//! The data directory (storage.md §1): what it holds, what a start finds in it (§1.1), and the lock that
//! keeps offline commands away from a running daemon.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{DbName, StoreError};

/// Files and folders of the legacy layout that never exist in the new one (legacy-layout.md §1).
const LEGACY_ONLY: [&str; 10] = [
    "state.db",
    "calculations.db",
    "snapshots.db",
    "dividends.db",
    "planner.db",
    "recommendations.db",
    "rates.db",
    "trader.db",
    "trading.db",
    "history",
];

/// Written by the migrator's switch-over while it moves files (legacy-layout.md §9.6).
pub const MIGRATION_JOURNAL: &str = "migration-journal.json";

/// What a data directory holds, as far as starting the daemon is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// None of the eight files and nothing legacy: a fresh install.
    Fresh,
    /// All eight files.
    Complete,
    /// All but the disposable `cache.db`.
    CacheMissing,
    /// Some of the eight are missing: never create an empty ledger next to existing data.
    Incomplete { missing: Vec<String> },
    /// Legacy files are present.
    Legacy { files: Vec<String> },
    /// A migration switch-over was interrupted.
    MigrationIncomplete,
}

impl Layout {
    /// The error a command gives when it cannot work on this layout.
    pub fn refusal(&self, dir: &Path) -> StoreError {
        let message = match self {
            Layout::MigrationIncomplete => {
                "migration switch-over incomplete — re-run `trader migrate` or `trader migrate rollback`".to_owned()
            }
            Layout::Legacy { files } => format!(
                "legacy data layout ({}) — run `trader migrate --verify-only`, then `trader migrate`",
                files.join(", ")
            ),
            Layout::Incomplete { missing } => {
                format!(
                    "incomplete data directory, missing: {}; restore them from a backup (`trader restore`)",
                    missing.join(", ")
                )
            }
            Layout::Fresh => "no databases here; run `trader init`".to_owned(),
            Layout::Complete | Layout::CacheMissing => "the data directory is complete".to_owned(),
        };
        StoreError::Layout { path: dir.to_owned(), message }
    }
}

/// A data directory and the files it holds.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self, name: DbName) -> PathBuf {
        name.spec().path_in(&self.root)
    }

    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }

    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }

    /// Creates the directory (mode 0700) if it does not exist.
    pub fn create_dir(&self) -> Result<(), StoreError> {
        create_private_dir(&self.root)
    }

    /// Classifies the directory (storage.md §1.1). `backups/`, `archive/` and the migration marker are ignored.
    pub fn layout(&self) -> Result<Layout, StoreError> {
        if !self.root.exists() {
            return Ok(Layout::Fresh);
        }
        if self.root.join(MIGRATION_JOURNAL).exists() {
            return Ok(Layout::MigrationIncomplete);
        }
        let mut legacy: Vec<String> =
            LEGACY_ONLY.iter().filter(|f| self.root.join(f).exists()).map(|f| f.to_string()).collect();
        let mut missing = Vec::new();
        for name in DbName::ALL {
            let path = self.db_path(name);
            match fs::metadata(&path) {
                Err(_) => missing.push(name.spec().file_name()),
                Ok(meta) if meta.len() > 0 && is_legacy_database(&path) => legacy.push(name.spec().file_name()),
                Ok(_) => {}
            }
        }
        Ok(if !legacy.is_empty() {
            Layout::Legacy { files: legacy }
        } else if missing.len() == DbName::ALL.len() {
            Layout::Fresh
        } else if missing.is_empty() {
            Layout::Complete
        } else if missing == [DbName::Cache.spec().file_name()] {
            Layout::CacheMissing
        } else {
            Layout::Incomplete { missing }
        })
    }

    /// Takes the directory's lock without waiting; fails with "daemon is running" when it is held.
    pub fn lock(&self) -> Result<DirLock, StoreError> {
        self.create_dir()?;
        let path = self.root.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Io { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path: self.root.clone() }),
            Err(fs::TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
        }
    }
}

/// Holds `<data>/.lock` until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// The application_id in a SQLite file header; `None` for an empty or non-SQLite file. Reading the header never
/// creates `-wal`/`-shm` files, as even a read-only SQLite open of a WAL database does.
pub fn header_application_id(path: &Path) -> Option<u32> {
    let mut header = [0u8; 100];
    File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header)).ok()?;
    (&header[..16] == b"SQLite format 3\0")
        .then(|| u32::from_be_bytes([header[68], header[69], header[70], header[71]]))
}

/// The `-wal` or `-shm` file beside a database.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A file named like one of the eight whose `application_id` is 0 and that holds tables is a legacy file. Only
/// a file with id 0 is opened, read-only and immutable, to see whether it holds tables.
fn is_legacy_database(path: &Path) -> bool {
    if header_application_id(path) != Some(0) {
        return false;
    }
    let uri = format!("file:{}?immutable=1", path.display());
    let Ok(conn) = Connection::open_with_flags(uri, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI)
    else {
        return false;
    };
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| r.get(0)).unwrap_or(0);
    tables > 0
}

/// Creates a directory (and its parents) with mode 0700.
pub fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StoreError::Io { path: path.to_owned(), source })
}

/// Flushes a directory's entries (after a rename or a new file) to disk.
pub fn fsync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path).and_then(|dir| dir.sync_all()).map_err(|source| StoreError::Io { path: path.to_owned(), source })
}
