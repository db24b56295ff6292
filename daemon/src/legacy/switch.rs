//! The real migration (legacy-layout.md §9.5–§9.7): backup through the online backup API with a manifest,
//! staged build on the same filesystem, verification, the journaled switch-over, and rollback.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use super::mapping::{DESTINATIONS, Options, Problem};
use super::run::{MigrationReport, Mode, State, state_of};
use super::source::{LegacyFile, Sources};
use super::{Targets, apply, verify};
use crate::store::backup::{dir_stamp, sha256_file};
use crate::store::datadir::{MIGRATION_JOURNAL, create_private_dir, fsync_dir, sidecar};
use crate::store::open::{check_rows, is_ok};
use crate::store::values::{Instant, format_instant};
use crate::store::{DataDir, DbName, OpenMode, Store, StoreError, io_error};

/// Test hook: `TRADER_TEST_ABORT_MIGRATION_AT=<after-backup|after-build|after-verify|move-N>` aborts the process
/// there, to prove that every interruption converges.
pub const ABORT_HOOK_ENV: &str = "TRADER_TEST_ABORT_MIGRATION_AT";

fn abort_at(point: &str) {
    if std::env::var(ABORT_HOOK_ENV).is_ok_and(|v| v == point) {
        eprintln!("{ABORT_HOOK_ENV}: aborting at {point}");
        std::process::abort();
    }
}

fn optional_sha(path: &Path) -> Result<Option<String>, StoreError> {
    if path.exists() { sha256_file(path).map(Some) } else { Ok(None) }
}

/// One file of the migration backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    pub path: String,
    pub original_bytes: u64,
    pub original_sha256: String,
    pub original_wal_bytes: u64,
    pub original_wal_sha256: Option<String>,
    pub backup_bytes: u64,
    pub backup_sha256: String,
    pub integrity: Vec<String>,
}

/// `B/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    pub run_id: String,
    pub created_at: String,
    pub files: Vec<BackupFile>,
}

fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let tmp = sidecar(path, ".tmp");
    let text = serde_json::to_string_pretty(value).expect("serialisable");
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp).map_err(io_error(&tmp))?;
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io_error(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_error(path))?;
    fsync_dir(path.parent().expect("a directory"))
}

/// Phase 2: every legacy file through the online backup API into `B`, self-contained and checked.
/// Backs up one legacy file (phase 2): the online backup API from a read-only connection into `B`, a
/// self-contained rollback-journal copy, its integrity check, and the hashes of original and copy.
fn backup_file(data: &Path, f: &LegacyFile, dir: &Path) -> Result<BackupFile, StoreError> {
    let original = data.join(&f.path);
    let target = dir.join(&f.path);
    create_private_dir(target.parent().expect("a parent"))?;
    let original_sha256 = sha256_file(&original)?;
    let wal = sidecar(&original, "-wal");
    let original_wal_sha256 = optional_sha(&wal)?;
    let integrity = if f.bytes == 0 {
        fs::write(&target, b"").map_err(io_error(&target))?;
        vec!["ok".to_owned()]
    } else {
        let from = Connection::open_with_flags(&original, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::from_sqlite(&original, "opening for the backup", e))?;
        let mut to =
            Connection::open(&target).map_err(|e| StoreError::from_sqlite(&target, "creating the backup copy", e))?;
        Backup::new(&from, &mut to)
            .and_then(|b| b.step(-1).map(|_| ()))
            .map_err(|e| StoreError::from_sqlite(&original, "online backup", e))?;
        to.pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| StoreError::from_sqlite(&target, "journal_mode", e))?;
        let rows = check_rows(&to, &target, "integrity_check")?;
        if !is_ok(&rows) && !f.path.starts_with("history/") {
            return Err(StoreError::QuickCheck { path: original.clone(), rows });
        }
        rows
    };
    Ok(BackupFile {
        path: f.path.clone(),
        original_bytes: f.bytes,
        original_sha256,
        original_wal_bytes: f.wal_bytes,
        original_wal_sha256,
        backup_bytes: fs::metadata(&target).map_err(io_error(&target))?.len(),
        backup_sha256: sha256_file(&target)?,
        integrity,
    })
}

fn backup(
    data: &Path,
    files: &[LegacyFile],
    dir: &Path,
    run_id: &str,
    t0: &str,
    progress: super::Progress<'_>,
) -> Result<BackupManifest, StoreError> {
    let mut out = Vec::with_capacity(files.len());
    for (n, f) in files.iter().enumerate() {
        progress(&format!("backup {}/{}: {}", n + 1, files.len(), f.path));
        out.push(backup_file(data, f, dir)?);
    }
    let manifest = BackupManifest { run_id: run_id.to_owned(), created_at: t0.to_owned(), files: out };
    write_json_atomically(&dir.join("manifest.json"), &manifest)?;
    Ok(manifest)
}

/// One move of the switch-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub op: String,
    pub from: PathBuf,
    pub to: PathBuf,
    pub done: bool,
}

/// `D/migration-journal.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    #[serde(rename = "T0")]
    pub t0: String,
    pub backup_dir: PathBuf,
    pub staging_dir: PathBuf,
    pub archive_dir: PathBuf,
    pub phase: String,
    pub steps: Vec<Step>,
}

/// The moves of a switch-over: legacy files out to the archive, staged databases in.
fn plan_moves(data: &Path, files: &[LegacyFile], staging: &Path, archive: &Path) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut legacy: Vec<String> =
        files.iter().filter(|f| !f.path.starts_with("history/")).map(|f| f.path.clone()).collect();
    if data.join("history").is_dir() {
        legacy.push("history".into());
    }
    for rel in legacy {
        for suffix in ["", "-wal", "-shm"] {
            let from = data.join(format!("{rel}{suffix}"));
            if from.exists() || suffix.is_empty() {
                steps.push(Step { op: "move".into(), from, to: archive.join(format!("{rel}{suffix}")), done: false });
            }
        }
    }
    for name in DbName::ALL {
        let file = name.spec().file_name();
        steps.push(Step { op: "move".into(), from: staging.join(&file), to: data.join(&file), done: false });
    }
    steps
}

/// Carries out the journal's remaining moves; a step whose source and target both exist stops the run.
fn run_journal(data: &Path, journal: &mut Journal) -> Result<(), StoreError> {
    let path = data.join(MIGRATION_JOURNAL);
    for i in 0..journal.steps.len() {
        if journal.steps[i].done {
            continue;
        }
        let step = journal.steps[i].clone();
        match (step.from.exists(), step.to.exists()) {
            (true, false) => {
                create_private_dir(step.to.parent().expect("a parent"))?;
                fs::rename(&step.from, &step.to).map_err(io_error(&step.from))?;
                fsync_dir(step.from.parent().expect("a parent"))?;
                fsync_dir(step.to.parent().expect("a parent"))?;
            }
            (false, true) | (false, false) => {}
            (true, true) => {
                return Err(StoreError::invalid(
                    format!("switch-over step {}", i + 1),
                    format!("both {} and {} exist: inspect them, then re-run", step.from.display(), step.to.display()),
                ));
            }
        }
        journal.steps[i].done = true;
        write_json_atomically(&path, journal)?;
        abort_at(&format!("move-{}", i + 1));
    }
    write_json_atomically(
        &data.join("MIGRATED_FROM_LEGACY.json"),
        &serde_json::json!({
            "run_id": journal.run_id,
            "migrated_at": journal.t0,
            "backup_dir": journal.backup_dir,
            "archive_dir": journal.archive_dir,
            "report": journal.backup_dir.join("report.json"),
        }),
    )?;
    fs::remove_file(&path).map_err(io_error(&path))?;
    fsync_dir(data)
}

/// Removes a staging directory left by a crashed run (recognised by its marker).
fn remove_stale_staging(data: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(data).map_err(io_error(data))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".migration-staging-") && entry.path().join("STAGING").is_file() {
            fs::remove_dir_all(entry.path()).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

/// The real run (legacy-layout.md §9.5).
pub fn migrate(
    data: &Path,
    options: &Options,
    now: Instant,
    progress: super::Progress<'_>,
) -> Result<MigrationReport, StoreError> {
    let (state, files) = state_of(data)?;
    if state == State::Interrupted {
        let path = data.join(MIGRATION_JOURNAL);
        let mut journal: Journal = serde_json::from_str(&fs::read_to_string(&path).map_err(io_error(&path))?)
            .map_err(|e| StoreError::invalid(path.display().to_string(), e.to_string()))?;
        let _lock = DataDir::new(data).lock()?;
        run_journal(data, &mut journal)?;
        let mut report = finish(data, &journal)?;
        report.state_found = State::Interrupted;
        return Ok(report);
    }
    // Preflight: the blocking checks on copies in a work directory, before anything is written in D.
    progress("preflight: checking the legacy files on copies");
    let mut credentials = std::collections::BTreeMap::new();
    let mut report = preflight(data, &files, options, state, &mut credentials)?;
    if state != State::Legacy || !report.blocking.is_empty() {
        report.outcome = match state {
            State::Migrated => "already_migrated",
            State::New | State::Empty => "nothing_to_do",
            State::Legacy => "failed",
            _ => "refused",
        }
        .into();
        return Ok(report);
    }
    let _lock = DataDir::new(data).lock()?;
    remove_stale_staging(data)?;
    let stamp = dir_stamp(now);
    let backup_dir = DataDir::new(data).backups().join(format!("migration_{stamp}"));
    create_private_dir(&backup_dir)?;
    progress("backing up the legacy files");
    backup(data, &files, &backup_dir, &report.run_id, &options.t0, progress)?;
    abort_at("after-backup");

    let staging = data.join(format!(".migration-staging-{stamp}"));
    create_private_dir(&staging)?;
    fs::write(staging.join("STAGING"), report.run_id.as_bytes()).map_err(io_error(&staging))?;
    // The build reads only the backup copies; the verification's independent pass runs beside it.
    let built = std::thread::scope(|scope| {
        let verifier = scope.spawn(|| super::expected(&backup_dir, &files, options));
        let build = (|| {
            let (sources, _) = Sources::open(&backup_dir, &files);
            let plan = super::mapping::plan(&sources, options);
            let float_totals = verify::legacy_totals(|file| sources.conn(file));
            drop(sources);
            let targets = Targets::staged(&staging)?;
            let applied = apply(&plan, &targets, &options.t0, progress)?;
            abort_at("after-build");
            Ok::<_, StoreError>((plan, applied, targets, float_totals))
        })();
        (build, verifier.join().expect("the verification thread panicked"))
    });
    let checks = match built {
        (Ok((plan, applied, targets, float_totals)), Ok(expected)) => {
            let mut checks = Vec::new();
            for (i, dest) in DESTINATIONS.iter().enumerate() {
                let db_err = |e| StoreError::from_sqlite(Path::new(&format!("{}.db", dest.db)), "verifying", e);
                let mut check =
                    verify::compare_tables(dest, expected.0.conn(dest.db), &expected.1[i], targets.conn(dest.db))
                        .map_err(db_err)?;
                verify::add_float_checks(&mut check, targets.conn(dest.db), &float_totals).map_err(db_err)?;
                checks.push(check);
            }
            targets.close()?;
            let mut not_migrated = plan.not_migrated.clone();
            not_migrated.extend(applied.rejected.iter().cloned());
            report.accounting = verify::accounting(&plan.rows_read, &applied.by_source, &not_migrated);
            report.not_migrated = not_migrated;
            report.history_files = plan.history_files.clone();
            report.conversions = plan.counters.0.clone();
            report.id_remaps = plan.id_remaps.clone();
            report.blocking.extend(applied.blocking.iter().cloned());
            checks
        }
        (Err(e), _) | (_, Err(e)) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if !checks.iter().all(|c| c.ok) || !report.blocking.is_empty() || !report.accounting.iter().all(|a| a.balanced) {
        let _ = fs::remove_dir_all(&staging);
        report.destinations = checks;
        report.outcome = "failed".into();
        return Ok(report);
    }
    abort_at("after-verify");
    // Verification passed: the credentials move into their file before the switch-over.
    if let Some(path) = &options.credentials_file
        && !credentials.is_empty()
    {
        use std::os::unix::fs::MetadataExt;
        let owner = fs::metadata(data).map(|m| m.uid()).unwrap_or(0);
        if let Err(conflict) = crate::credentials::merge(path, owner, &credentials) {
            let _ = fs::remove_dir_all(&staging);
            report.outcome = "failed".into();
            report.blocking.push(Problem {
                code: "CREDENTIALS_FILE_CONFLICT".into(),
                file: "config.db".into(),
                table: Some("settings".into()),
                column: None,
                detail: conflict.to_string(),
            });
            return Ok(report);
        }
    }

    let archive = DataDir::new(data).archive().join(format!("legacy_{stamp}"));
    let mut journal = Journal {
        run_id: report.run_id.clone(),
        t0: options.t0.clone(),
        backup_dir: backup_dir.clone(),
        staging_dir: staging.clone(),
        archive_dir: archive.clone(),
        phase: "switch-over".into(),
        steps: plan_moves(data, &files, &staging, &archive),
    };
    write_json_atomically(&data.join(MIGRATION_JOURNAL), &journal)?;
    progress("switch-over");
    run_journal(data, &mut journal)?;
    finish(data, &journal)?;
    report.destinations = checks;
    report.outcome = "ok".into();
    report.report_dir = Some(backup_dir.clone());
    super::run::write_report(&report, &backup_dir)?;
    Ok(report)
}

/// Phase 1: the blocking checks of verify-only on byte copies in a work directory beside `D` (only the strict
/// destinations are converted); `D` must be byte-identical afterwards.
fn preflight(
    data: &Path,
    files: &[LegacyFile],
    options: &Options,
    state: State,
    credentials: &mut std::collections::BTreeMap<String, String>,
) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport::new(Mode::Migrate, data, &options.t0, state);
    if state == State::Mixed {
        report.blocking.push(Problem {
            code: "MIXED_STATE".into(),
            file: data.display().to_string(),
            table: None,
            column: None,
            detail: "legacy files and new databases side by side: inspect them before migrating".into(),
        });
    }
    if state != State::Legacy {
        return Ok(report);
    }
    report.blocking.extend(super::run::preconditions(data, data, files));
    if !report.blocking.is_empty() {
        return Ok(report);
    }
    let before = super::run::fingerprint(data);
    let work = super::default_work_dir(data, &options.t0);
    create_private_dir(&work)?;
    let strict = Options { strict_only: true, ..options.clone() };
    let checked = (|| {
        let analysis = super::analyze(data, files.to_vec(), &work, &strict)?;
        let applied = apply(&analysis.plan, &Targets::in_memory()?, &options.t0, &super::quiet)?;
        Ok::<_, StoreError>((analysis, applied))
    })();
    let removed = fs::remove_dir_all(&work);
    let (analysis, applied) = checked?;
    removed.map_err(io_error(&work))?;
    report.sources = analysis.source_files();
    report.warnings = analysis.plan.warnings.clone();
    report.blocking = analysis.plan.blocking.clone();
    report.blocking.extend(applied.blocking);
    report.credentials_to_move = analysis.plan.credentials.keys().cloned().collect();
    report.blocking.extend(super::run::credential_problems(&analysis.plan.credentials, options, data));
    credentials.clone_from(&analysis.plan.credentials);
    if super::run::fingerprint(data) != before {
        report.blocking.push(Problem {
            code: "DATA_DIR_CHANGED".into(),
            file: data.display().to_string(),
            table: None,
            column: None,
            detail: "a legacy file changed during the preflight; is a legacy program still running?".into(),
        });
    }
    Ok(report)
}

/// Phase 6: the eight files in place pass the daemon's open checks; the staging directory goes.
fn finish(data: &Path, journal: &Journal) -> Result<MigrationReport, StoreError> {
    drop(Store::open(data, OpenMode::Checked)?);
    if journal.staging_dir.exists() {
        fs::remove_dir_all(&journal.staging_dir).map_err(io_error(&journal.staging_dir))?;
    }
    let (state, _) = state_of(data)?;
    let mut report = MigrationReport::for_real_run(data, &journal.t0, state);
    report.outcome = "ok".into();
    report.report_dir = Some(journal.backup_dir.clone());
    Ok(report)
}

/// `trader migrate rollback` (legacy-layout.md §9.7). Returns what it did.
pub fn rollback(data: &Path, from: Option<&Path>, now: Instant) -> Result<String, StoreError> {
    let _lock = DataDir::new(data).lock()?;
    let journal_path = data.join(MIGRATION_JOURNAL);
    if journal_path.exists() {
        let journal: Journal =
            serde_json::from_str(&fs::read_to_string(&journal_path).map_err(io_error(&journal_path))?)
                .map_err(|e| StoreError::invalid(journal_path.display().to_string(), e.to_string()))?;
        for step in journal.steps.iter().rev().filter(|s| s.done) {
            if step.to.exists() && !step.from.exists() {
                fs::rename(&step.to, &step.from).map_err(io_error(&step.to))?;
            }
        }
        if journal.staging_dir.exists() {
            fs::remove_dir_all(&journal.staging_dir).map_err(io_error(&journal.staging_dir))?;
        }
        fs::remove_file(&journal_path).map_err(io_error(&journal_path))?;
        fsync_dir(data)?;
        return Ok("the unfinished switch-over was undone; the legacy files are back".into());
    }
    let backup_dir = match from {
        Some(dir) => dir.to_owned(),
        None => {
            let mut found: Vec<PathBuf> = fs::read_dir(DataDir::new(data).backups())
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("migration_")))
                        .filter(|p| p.join("manifest.json").is_file())
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found
                .pop()
                .ok_or_else(|| StoreError::invalid(data.display().to_string(), "no migration backup to roll back to"))?
        }
    };
    let manifest_path = backup_dir.join("manifest.json");
    let manifest: BackupManifest =
        serde_json::from_str(&fs::read_to_string(&manifest_path).map_err(io_error(&manifest_path))?)
            .map_err(|e| StoreError::invalid(manifest_path.display().to_string(), e.to_string()))?;
    for f in &manifest.files {
        let copy = backup_dir.join(&f.path);
        if sha256_file(&copy)? != f.backup_sha256 {
            return Err(StoreError::invalid(
                copy.display().to_string(),
                "SHA-256 differs from the manifest; nothing changed",
            ));
        }
    }
    let (state, _) = state_of(data)?;
    if state == State::Legacy
        && manifest.files.iter().all(|f| sha256_file(&data.join(&f.path)).is_ok_and(|s| s == f.backup_sha256))
    {
        return Ok("already rolled back".into());
    }
    let aside = DataDir::new(data).archive().join(format!("rolled_back_{}", dir_stamp(now)));
    create_private_dir(&aside)?;
    for name in DbName::ALL {
        let main = name.spec().path_in(data);
        for path in [main.clone(), sidecar(&main, "-wal"), sidecar(&main, "-shm")] {
            if path.exists() {
                fs::rename(&path, aside.join(path.file_name().expect("a name"))).map_err(io_error(&path))?;
            }
        }
    }
    let marker = data.join("MIGRATED_FROM_LEGACY.json");
    if marker.exists() {
        fs::rename(&marker, aside.join("MIGRATED_FROM_LEGACY.json")).map_err(io_error(&marker))?;
    }
    for f in &manifest.files {
        let target = data.join(&f.path);
        create_private_dir(target.parent().expect("a parent"))?;
        let tmp = sidecar(&target, ".rollback-tmp");
        fs::copy(backup_dir.join(&f.path), &tmp).map_err(io_error(&tmp))?;
        fs::File::open(&tmp).and_then(|file| file.sync_all()).map_err(io_error(&tmp))?;
        fs::rename(&tmp, &target).map_err(io_error(&target))?;
        for stale in [sidecar(&target, "-wal"), sidecar(&target, "-shm")] {
            if stale.exists() {
                fs::remove_file(&stale).map_err(io_error(&stale))?;
            }
        }
        if sha256_file(&target)? != f.backup_sha256 {
            return Err(StoreError::invalid(target.display().to_string(), "restored file differs from the backup"));
        }
    }
    fsync_dir(data)?;
    let said = format!(
        "legacy files restored from {}; the new databases were moved to {} ({})",
        backup_dir.display(),
        aside.display(),
        format_instant(now)
    );
    // The rollback leaves its own record beside the backup it restored.
    let record = backup_dir.join(format!("rollback_{}", dir_stamp(now)));
    create_private_dir(&record)?;
    let restored: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    write_json_atomically(
        &record.join("report.json"),
        &serde_json::json!({
            "outcome": "rolled_back",
            "at": format_instant(now),
            "backup_dir": backup_dir,
            "moved_aside_to": aside,
            "restored": restored,
        }),
    )?;
    let log = format!("{} INFO rollback {said}\n", format_instant(now));
    fs::write(record.join("migration.log"), &log).map_err(io_error(&record))?;
    fs::write(record.join("summary.txt"), format!("{said}\n")).map_err(io_error(&record))?;
    Ok(said)
}
