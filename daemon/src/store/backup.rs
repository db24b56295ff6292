//! Backups and restore (storage.md §12): sets made through SQLite's online backup API, each copy
//! integrity-checked and listed with its SHA-256 in a manifest; retention by kind; offline restore.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{Duration, Months, NaiveDateTime};
use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::datadir::{create_private_dir, fsync_dir, sidecar};
use super::open::{self, check_rows, is_ok, sqlite_err};
use super::values::{Instant, format_instant};
use super::{DataDir, DbName, StoreError, io_error};

/// The kinds of backup set, each with its databases and retention (storage.md §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    /// Taken before a destructive schema migration; kept until the operator deletes it.
    PreMigration,
}

/// Every database but the disposable cache, which comes last in [`DbName::ALL`].
const ALL_BUT_CACHE: &[DbName] = match DbName::ALL.as_slice().split_last() {
    Some((DbName::Cache, rest)) => rest,
    _ => panic!("cache.db must be the last of DbName::ALL"),
};

impl BackupKind {
    /// The kinds the scheduler makes.
    pub const SCHEDULED: [BackupKind; 4] =
        [BackupKind::Hourly, BackupKind::Daily, BackupKind::Weekly, BackupKind::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Hourly => "hourly",
            BackupKind::Daily => "daily",
            BackupKind::Weekly => "weekly",
            BackupKind::Monthly => "monthly",
            BackupKind::PreMigration => "pre-migration",
        }
    }

    pub fn parse(text: &str) -> Option<BackupKind> {
        [BackupKind::Hourly, BackupKind::Daily, BackupKind::Weekly, BackupKind::Monthly, BackupKind::PreMigration]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    /// The ledger changes with every trade, so it alone is also saved hourly. cache.db is never backed up.
    pub fn databases(self) -> &'static [DbName] {
        match self {
            BackupKind::Hourly => &[DbName::Ledger],
            _ => ALL_BUT_CACHE,
        }
    }

    /// The oldest set still kept at `now`; `None` = kept until deleted by the operator.
    fn keep_after(self, now: Instant) -> Option<Instant> {
        match self {
            BackupKind::Hourly => Some(now - Duration::hours(24)),
            BackupKind::Daily => Some(now - Duration::days(30)),
            BackupKind::Weekly => Some(now - Duration::weeks(12)),
            BackupKind::Monthly => now.checked_sub_months(Months::new(12)),
            BackupKind::PreMigration => None,
        }
    }
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub db: String,
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub user_version: u32,
    pub application_id: i64,
    pub page_count: i64,
    pub integrity: String,
}

/// `manifest.json` of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: BackupKind,
    pub created_at: String,
    pub daemon_version: String,
    pub files: Vec<ManifestFile>,
}

/// A set found on disk.
#[derive(Debug, Clone)]
pub struct SetInfo {
    pub kind: BackupKind,
    pub path: PathBuf,
    /// From the directory name (never from mtime).
    pub created_at: Instant,
}

/// What making a set did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub kind: BackupKind,
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Sets removed by retention afterwards.
    pub deleted: Vec<PathBuf>,
}

/// The stamp used in set and archive directory names.
pub fn dir_stamp(at: Instant) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Parses a set directory name: a stamp, optionally followed by `-N` (two sets in one second).
fn parse_set_name(name: &str) -> Option<Instant> {
    let stamp = name.split_once('-').map(|(s, n)| n.parse::<u32>().ok().map(|_| s)).unwrap_or(Some(name))?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc())
}

/// The sets of one kind, oldest first. Directories whose names do not parse, and unfinished ones, are ignored.
pub fn sets(data: &Path, kind: BackupKind) -> Vec<SetInfo> {
    let root = DataDir::new(data).backups().join(kind.as_str());
    let Ok(entries) = fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut found: Vec<(Instant, String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let at = parse_set_name(&name)?;
            let path = e.path();
            path.join("manifest.json").is_file().then_some((at, name, path))
        })
        .collect();
    found.sort_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
    found.into_iter().map(|(created_at, _, path)| SetInfo { kind, path, created_at }).collect()
}

/// The newest successful set of each scheduled kind.
pub fn latest_sets(data: &Path) -> BTreeMap<BackupKind, SetInfo> {
    BackupKind::SCHEDULED.into_iter().filter_map(|k| sets(data, k).pop().map(|s| (k, s))).collect()
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, StoreError> {
    let io = |source| StoreError::Io { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Copies one database through the online backup API into `target`, makes the copy a self-contained
/// rollback-journal file, checks it, and describes it for the manifest.
fn copy_database(data: &Path, name: DbName, target: &Path) -> Result<ManifestFile, StoreError> {
    let source = open::open_reader(data, name.spec())?;
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(target).map_err(io_error(target))?;
    let mut copy = Connection::open(target).map_err(sqlite_err(target, "opening the copy"))?;
    {
        let backup = Backup::new(&source, &mut copy).map_err(sqlite_err(target, "starting the backup"))?;
        // All pages in one step: under WAL the step reads one snapshot without blocking writers, and a single
        // step cannot be restarted by concurrent writes the way a paced backup can.
        match backup.step(-1).map_err(sqlite_err(target, "copying pages"))? {
            StepResult::Done => {}
            other => {
                return Err(StoreError::invalid(
                    format!("backup of {name}.db"),
                    format!("did not finish in one step ({other:?})"),
                ));
            }
        }
    }
    let mode: String = copy
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(sqlite_err(target, "journal_mode"))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StoreError::JournalMode { path: target.to_owned(), got: mode });
    }
    let integrity = check_rows(&copy, target, "integrity_check")?;
    if !is_ok(&integrity) {
        return Err(StoreError::QuickCheck { path: target.to_owned(), rows: integrity });
    }
    let user_version = open::pragma_i64(&copy, target, "user_version")? as u32;
    let application_id = open::pragma_i64(&copy, target, "application_id")?;
    let page_count = open::pragma_i64(&copy, target, "page_count")?;
    copy.close().map_err(|(_, e)| StoreError::from_sqlite(target, "closing the copy", e))?;
    File::open(target).and_then(|f| f.sync_all()).map_err(io_error(target))?;
    Ok(ManifestFile {
        db: name.as_str().to_owned(),
        file: name.spec().file_name(),
        bytes: fs::metadata(target).map_err(io_error(target))?.len(),
        sha256: sha256_file(target)?,
        user_version,
        application_id,
        page_count,
        integrity: "ok".into(),
    })
}

/// Makes one backup set of `kind` (storage.md §12.2), then applies retention.
pub fn make_set(
    data: &Path,
    kind: BackupKind,
    now: Instant,
    progress: &dyn Fn(DbName),
) -> Result<BackupReport, StoreError> {
    make_set_of(data, kind, kind.databases(), now, progress)
}

/// Makes a set of chosen databases (a `pre-migration` set holds the one being migrated).
pub fn make_set_of(
    data: &Path,
    kind: BackupKind,
    databases: &[DbName],
    now: Instant,
    progress: &dyn Fn(DbName),
) -> Result<BackupReport, StoreError> {
    let kind_dir = DataDir::new(data).backups().join(kind.as_str());
    create_private_dir(&kind_dir)?;
    remove_partials(&kind_dir)?;
    let stamp = dir_stamp(now);
    let final_dir = (0..)
        .map(|n| kind_dir.join(if n == 0 { stamp.clone() } else { format!("{stamp}-{n}") }))
        .find(|p| !p.exists() && !with_partial(p).exists())
        .expect("an unused name");
    let partial = with_partial(&final_dir);
    let result = (|| {
        create_private_dir(&partial)?;
        let mut files = Vec::new();
        for &name in databases {
            progress(name);
            files.push(copy_database(data, name, &partial.join(name.spec().file_name()))?);
        }
        let manifest = Manifest {
            kind,
            created_at: format_instant(now),
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            files,
        };
        let manifest_path = partial.join("manifest.json");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&manifest_path)
            .map_err(io_error(&manifest_path))?;
        file.write_all(serde_json::to_string_pretty(&manifest).expect("manifest serialises").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_error(&manifest_path))?;
        fsync_dir(&partial)?;
        fs::rename(&partial, &final_dir).map_err(io_error(&final_dir))?;
        fsync_dir(&kind_dir)?;
        Ok(manifest)
    })();
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let deleted = apply_retention(data, kind, now)?;
    Ok(BackupReport { kind, path: final_dir, manifest, deleted })
}

fn with_partial(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Removes `.partial` directories left by crashed runs.
fn remove_partials(kind_dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(kind_dir).map_err(io_error(kind_dir))?.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".partial") {
            fs::remove_dir_all(entry.path()).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

/// Deletes sets older than the kind's retention, by the stamp in their names. The newest set is always kept.
pub fn apply_retention(data: &Path, kind: BackupKind, now: Instant) -> Result<Vec<PathBuf>, StoreError> {
    let Some(keep_after) = kind.keep_after(now) else {
        return Ok(Vec::new());
    };
    let mut all = sets(data, kind);
    all.pop(); // the newest successful set is never deleted
    let mut deleted = Vec::new();
    for set in all.into_iter().filter(|s| s.created_at < keep_after) {
        fs::remove_dir_all(&set.path).map_err(io_error(&set.path))?;
        deleted.push(set.path);
    }
    Ok(deleted)
}

/// One file's verification.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub db: String,
    pub sha256_matches: bool,
    pub integrity: Vec<String>,
    pub problems: Vec<String>,
}

/// The result of verifying a set.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub path: PathBuf,
    pub files: Vec<FileCheck>,
    pub ok: bool,
}

pub fn read_manifest(set: &Path) -> Result<Manifest, StoreError> {
    let path = set.join("manifest.json");
    let text = fs::read_to_string(&path).map_err(io_error(&path))?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::invalid(path.display().to_string(), format!("not a valid manifest: {e}")))
}

/// Re-runs SHA-256 and `integrity_check` on every file of a set and checks identity and version.
pub fn verify_set(set: &Path) -> Result<VerifyReport, StoreError> {
    let manifest = read_manifest(set)?;
    let mut files = Vec::new();
    for entry in &manifest.files {
        let path = set.join(&entry.file);
        let mut check =
            FileCheck { db: entry.db.clone(), sha256_matches: false, integrity: Vec::new(), problems: Vec::new() };
        match DbName::from_name(&entry.db) {
            Some(name) if name.spec().file_name() == entry.file => {
                if entry.application_id != i64::from(name.spec().application_id) {
                    check.problems.push(format!("application_id {} is not {}.db's", entry.application_id, name));
                }
                if entry.user_version > name.spec().newest_version() {
                    check.problems.push(format!(
                        "schema version {} is newer than this build's {}",
                        entry.user_version,
                        name.spec().newest_version()
                    ));
                }
            }
            _ => check.problems.push(format!("`{}` ({}) is not one of the eight databases", entry.db, entry.file)),
        }
        match sha256_file(&path) {
            Ok(sum) => {
                check.sha256_matches = sum == entry.sha256;
                if !check.sha256_matches {
                    check.problems.push(format!("{}: SHA-256 differs from the manifest", path.display()));
                }
            }
            Err(e) => check.problems.push(e.to_string()),
        }
        if check.problems.is_empty() {
            // A read-only look at a copy: integrity_check never writes, and the copy is in rollback-journal mode.
            match Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(sqlite_err(&path, "opening"))
                .and_then(|c| {
                    let id = open::pragma_i64(&c, &path, "application_id")?;
                    if id != entry.application_id {
                        return Err(StoreError::invalid(
                            path.display().to_string(),
                            "application_id differs from the manifest",
                        ));
                    }
                    check_rows(&c, &path, "integrity_check")
                }) {
                Ok(rows) => {
                    if !is_ok(&rows) {
                        check.problems.push(format!("{}: integrity_check: {}", path.display(), rows.join("; ")));
                    }
                    check.integrity = rows;
                }
                Err(e) => check.problems.push(e.to_string()),
            }
        }
        files.push(check);
    }
    let ok = files.iter().all(|f| f.problems.is_empty()) && !files.is_empty();
    Ok(VerifyReport { path: set.to_owned(), files, ok })
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub restored: Vec<DbName>,
    /// Where the replaced files were moved.
    pub archived_to: PathBuf,
    pub warnings: Vec<String>,
}

/// The `-wal` and `-shm` files beside a database.
fn sidecars(path: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| sidecar(path, suffix))
}

/// Restores a verified set into the data directory, offline (storage.md §12.4). The caller holds the lock.
pub fn restore(data: &Path, set: &Path, only: Option<&[DbName]>, now: Instant) -> Result<RestoreReport, StoreError> {
    let verified = verify_set(set)?;
    if !verified.ok {
        let problems: Vec<String> = verified.files.iter().flat_map(|f| f.problems.clone()).collect();
        return Err(StoreError::invalid(
            format!("backup set {}", set.display()),
            if problems.is_empty() { "holds no files".to_owned() } else { problems.join("; ") },
        ));
    }
    let manifest = read_manifest(set)?;
    let in_set: Vec<DbName> = manifest.files.iter().filter_map(|f| DbName::from_name(&f.db)).collect();
    let chosen: Vec<DbName> = match only {
        Some(names) => {
            if let Some(missing) = names.iter().find(|n| !in_set.contains(n)) {
                return Err(StoreError::invalid(
                    format!("backup set {}", set.display()),
                    format!("holds no {missing}.db"),
                ));
            }
            names.to_vec()
        }
        None => in_set.clone(),
    };
    let data_dir = DataDir::new(data);
    let archive = data_dir.archive().join(format!("pre_restore_{}", dir_stamp(now)));
    create_private_dir(&archive)?;
    for &name in &chosen {
        let target = name.spec().path_in(data);
        for path in std::iter::once(target.clone()).chain(sidecars(&target)) {
            if path.exists() {
                let moved = archive.join(path.file_name().expect("a file name"));
                fs::rename(&path, &moved).map_err(io_error(&path))?;
            }
        }
        let tmp = data.join(format!("{}.restore-tmp", name.spec().file_name()));
        let source = set.join(name.spec().file_name());
        {
            let mut from = File::open(&source).map_err(io_error(&source))?;
            let mut to = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io_error(&tmp))?;
            std::io::copy(&mut from, &mut to).and_then(|_| to.sync_all()).map_err(io_error(&tmp))?;
        }
        fs::rename(&tmp, &target).map_err(io_error(&target))?;
        // A stale WAL beside a restored file would be replayed onto it.
        for stale in sidecars(&target) {
            if stale.exists() {
                fs::remove_file(&stale).map_err(io_error(&stale))?;
            }
        }
    }
    fsync_dir(data)?;
    fsync_dir(&archive)?;
    // The copies are rollback-journal files: the normal open procedure turns WAL back on and runs every check
    // now, so a problem shows here rather than at the daemon's next start.
    for &name in &chosen {
        open::open_writer(data, name.spec(), open::Create::Never)?;
    }
    let mut warnings = Vec::new();
    if chosen.len() < DbName::ALL.len() - 1 {
        warnings.push(format!(
            "restored only {}: references between databases may now dangle; the next maintenance run reports them",
            chosen.iter().map(|n| format!("{n}.db")).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(RestoreReport { restored: chosen, archived_to: archive, warnings })
}
