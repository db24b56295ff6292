//! `trader migrate --verify-only | --dry-run` (legacy-layout.md §9.2–§9.4, §9.9): the state of the data
//! directory, the run on byte copies, the verification, and the report — with the data directory left
//! byte-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::mapping::{DESTINATIONS, HistoryFile, NotMigrated, Options, Problem};
use super::source::{self, LegacyFile};
use super::verify::{self, Accounting, TableCheck};
use super::{Targets, analyze, apply};
use crate::store::backup::{dir_stamp, sha256_file};
use crate::store::datadir::{MIGRATION_JOURNAL, create_private_dir};
use crate::store::values::format_instant;
use crate::store::{DbName, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    VerifyOnly,
    DryRun,
    Migrate,
}

/// What the data directory holds (legacy-layout.md §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Legacy,
    Migrated,
    New,
    Empty,
    Interrupted,
    Mixed,
}

pub fn state_of(data: &Path) -> Result<(State, Vec<LegacyFile>), StoreError> {
    if data.join(MIGRATION_JOURNAL).exists() {
        return Ok((State::Interrupted, Vec::new()));
    }
    let legacy = if data.is_dir() { source::discover(data)? } else { Vec::new() };
    let new_files = DbName::ALL.iter().filter(|n| source::is_new_format(&n.spec().path_in(data))).count();
    let state = match (legacy.is_empty(), new_files) {
        (false, 0) => State::Legacy,
        (false, _) => State::Mixed,
        (true, 8) if data.join("MIGRATED_FROM_LEGACY.json").exists() => State::Migrated,
        (true, 8) => State::New,
        (true, _) => State::Empty,
    };
    Ok((state, legacy))
}

/// Size and SHA-256 of every file under the data directory (legacy files with their `-wal`/`-shm`).
pub(crate) fn fingerprint(data: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![data.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(sum) = sha256_file(&path) {
                let rel = path.strip_prefix(data).unwrap_or(&path).to_string_lossy().into_owned();
                out.insert(rel, sum);
            }
        }
    }
    out
}

/// Processes other than this one with a file under `data` open (the legacy programs take no lock of ours).
pub fn open_by_others(data: &Path) -> Vec<String> {
    let root = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_owned());
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return found };
    for proc in procs.flatten() {
        let pid = proc.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && target.starts_with(&root)
            {
                found.push(format!("pid {pid}: {}", target.display()));
            }
        }
    }
    found
}

/// The preconditions of §9.2 that the lock cannot express: no other process has a file of `data` open, and the
/// filesystem of `space_on` has room for twice the legacy files plus 64 MiB.
pub fn preconditions(data: &Path, space_on: &Path, files: &[LegacyFile]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let open = open_by_others(data);
    if !open.is_empty() {
        problems.push(Problem {
            code: "FILES_IN_USE".into(),
            file: data.display().to_string(),
            table: None,
            column: None,
            detail: format!("stop these first: {}", open.join("; ")),
        });
    }
    let legacy: u64 = files.iter().map(|f| f.bytes + f.wal_bytes).sum();
    let needed = 2 * legacy + 64 * 1024 * 1024;
    let probe = space_on.ancestors().find(|p| p.exists()).unwrap_or(space_on);
    if let Ok(stat) = rustix::fs::statvfs(probe)
        && stat.f_bavail * stat.f_frsize < needed
    {
        problems.push(Problem {
            code: "NOT_ENOUGH_SPACE".into(),
            file: probe.display().to_string(),
            table: None,
            column: None,
            detail: format!("{} bytes free, {needed} needed", stat.f_bavail * stat.f_frsize),
        });
    }
    problems
}

/// The blocking problems of moving legacy broker credentials (legacy-layout.md §7.2), without writing anything.
pub fn credential_problems(credentials: &BTreeMap<String, String>, options: &Options, data: &Path) -> Vec<Problem> {
    use std::os::unix::fs::MetadataExt;
    let wanted: BTreeMap<String, String> = credentials
        .iter()
        .filter(|(k, _)| crate::credentials::KEYS.iter().any(|(_, legacy)| legacy == k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let problem = |code: &str, detail: String| Problem {
        code: code.into(),
        file: "config.db".into(),
        table: Some("settings".into()),
        column: None,
        detail,
    };
    let Some(path) = &options.credentials_file else {
        return vec![problem(
            "CREDENTIALS_FILE_UNSET",
            "legacy broker credentials need a credentials file; set --credentials-file (configuration key credentials_file)".into(),
        )];
    };
    let owner = std::fs::metadata(data).map(|m| m.uid()).unwrap_or(0);
    match crate::credentials::plan(path, owner, &wanted) {
        Ok(_) => Vec::new(),
        Err(conflict) => vec![problem("CREDENTIALS_FILE_CONFLICT", conflict.to_string())],
    }
}

/// The report of a run (legacy-layout.md §9.9).
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub migrator_version: String,
    pub mode: Mode,
    pub run_id: String,
    #[serde(rename = "T0")]
    pub t0: String,
    pub data_dir: PathBuf,
    pub state_found: State,
    /// `ok`, `failed`, `refused`, `already_migrated`, `nothing_to_do`.
    pub outcome: String,
    pub sources: Vec<SourceFile>,
    pub history_files: Vec<HistoryFile>,
    pub destinations: Vec<TableCheck>,
    pub accounting: Vec<Accounting>,
    pub not_migrated: Vec<NotMigrated>,
    pub conversions: BTreeMap<&'static str, u64>,
    pub id_remaps: Vec<(String, i64, i64)>,
    pub warnings: Vec<Problem>,
    pub blocking: Vec<Problem>,
    pub credentials_to_move: Vec<String>,
    pub byte_identical: Option<bool>,
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceFile {
    #[serde(flatten)]
    pub file: LegacyFile,
    pub integrity_check: Vec<String>,
    pub tables: Vec<super::SourceTable>,
}

impl MigrationReport {
    /// The report of a real run (its details are filled by the caller).
    pub fn for_real_run(data: &Path, t0: &str, state: State) -> MigrationReport {
        MigrationReport::new(Mode::Migrate, data, t0, state)
    }

    pub(crate) fn new(mode: Mode, data: &Path, t0: &str, state: State) -> MigrationReport {
        MigrationReport {
            migrator_version: env!("CARGO_PKG_VERSION").into(),
            mode,
            run_id: format!(
                "{}-{}",
                dir_stamp(crate::store::values::parse_instant(t0).expect("T0")),
                std::process::id()
            ),
            t0: t0.to_owned(),
            data_dir: data.to_owned(),
            state_found: state,
            outcome: String::new(),
            sources: Vec::new(),
            history_files: Vec::new(),
            destinations: Vec::new(),
            accounting: Vec::new(),
            not_migrated: Vec::new(),
            conversions: BTreeMap::new(),
            id_remaps: Vec::new(),
            warnings: Vec::new(),
            blocking: Vec::new(),
            credentials_to_move: Vec::new(),
            byte_identical: None,
            report_dir: None,
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self.outcome.as_str(), "ok" | "already_migrated" | "nothing_to_do")
    }

    /// Counts of rows not migrated, by code.
    pub fn drops_by_code(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for d in &self.not_migrated {
            *out.entry(d.code.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// The human summary (`summary.txt`).
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "trader migrate ({:?}) of {}: {}", self.mode, self.data_dir.display(), self.outcome);
        let _ = writeln!(s, "state found: {:?}; T0 {}", self.state_found, self.t0);
        if !self.destinations.is_empty() {
            let _ = writeln!(s, "destinations:");
            for d in &self.destinations {
                let mark = if d.ok { "ok " } else { "MISMATCH" };
                let _ = writeln!(s, "  {mark} {:<11} {:<22} {:>7} rows", d.db, d.table, d.actual_rows);
            }
        }
        let drops = self.drops_by_code();
        if !drops.is_empty() {
            let _ = writeln!(
                s,
                "not migrated: {}",
                drops.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning {}: {} {} {}", w.code, w.file, w.table.as_deref().unwrap_or(""), w.detail);
        }
        for b in &self.blocking {
            let column = b.column.as_deref().map(|c| format!(" column {c}")).unwrap_or_default();
            let _ = writeln!(
                s,
                "BLOCKING {}: {} {}{column}: {}",
                b.code,
                b.file,
                b.table.as_deref().unwrap_or(""),
                b.detail
            );
        }
        if let Some(same) = self.byte_identical {
            let _ = writeln!(s, "data directory byte-identical afterwards: {same}");
        }
        let _ = writeln!(
            s,
            "next: {}",
            match (self.outcome.as_str(), self.mode) {
                ("ok", Mode::VerifyOnly) => "run `trader migrate --dry-run`, then `trader migrate`",
                ("ok", Mode::DryRun) => "run `trader migrate`",
                ("ok", Mode::Migrate) => "start the daemon; `trader migrate rollback` restores the legacy files",
                ("already_migrated" | "nothing_to_do", _) => "nothing",
                _ => "fix the blocking problems above and run again",
            }
        );
        s
    }
}

/// Runs verify-only or dry-run. `work` holds copies and staging and is removed at the end.
pub fn run(
    data: &Path,
    mode: Mode,
    options: &Options,
    work: &Path,
    progress: super::Progress<'_>,
) -> Result<MigrationReport, StoreError> {
    let (state, files) = state_of(data)?;
    let mut report = MigrationReport::new(mode, data, &options.t0, state);
    if state == State::Legacy {
        let problems = preconditions(data, work, &files);
        if !problems.is_empty() {
            report.blocking = problems;
            report.outcome = "refused".into();
            return Ok(report);
        }
    }
    match state {
        State::Legacy => {}
        State::Migrated => {
            report.outcome = "already_migrated".into();
            return Ok(report);
        }
        State::New | State::Empty => {
            report.outcome = "nothing_to_do".into();
            return Ok(report);
        }
        State::Interrupted | State::Mixed => {
            report.outcome = "refused".into();
            report.blocking.push(Problem {
                code: if state == State::Mixed { "MIXED_STATE".into() } else { "INTERRUPTED".into() },
                file: data.display().to_string(),
                table: None,
                column: None,
                detail: "legacy and new files side by side, or an unfinished switch-over: inspect before migrating"
                    .into(),
            });
            return Ok(report);
        }
    }
    let before = fingerprint(data);
    if work.exists() {
        return Err(StoreError::invalid(work.display().to_string(), "the work directory already exists"));
    }
    create_private_dir(work)?;
    let result = run_in(data, files, mode, options, work, &mut report, progress);
    let removed = std::fs::remove_dir_all(work);
    result?;
    removed.map_err(|source| StoreError::Io { path: work.to_owned(), source })?;
    report.byte_identical = Some(fingerprint(data) == before);
    if report.byte_identical == Some(false) {
        report.blocking.push(Problem {
            code: "DATA_DIR_CHANGED".into(),
            file: data.display().to_string(),
            table: None,
            column: None,
            detail: "a file changed during a run that must not write".into(),
        });
    }
    report.outcome = if report.blocking.is_empty()
        && report.destinations.iter().all(|d| d.ok)
        && report.accounting.iter().all(|a| a.balanced)
    {
        "ok".into()
    } else {
        "failed".into()
    };
    Ok(report)
}

fn run_in(
    data: &Path,
    files: Vec<LegacyFile>,
    mode: Mode,
    options: &Options,
    work: &Path,
    report: &mut MigrationReport,
    progress: super::Progress<'_>,
) -> Result<(), StoreError> {
    progress("copying and reading the legacy files");
    let analysis = analyze(data, files, work, options)?;
    let plan = &analysis.plan;
    report.sources = analysis.source_files();
    report.history_files = plan.history_files.clone();
    report.warnings = plan.warnings.clone();
    report.blocking = plan.blocking.clone();
    report.conversions = plan.counters.0.clone();
    report.id_remaps = plan.id_remaps.clone();
    report.credentials_to_move = plan.credentials.keys().cloned().collect();
    report.blocking.extend(credential_problems(&plan.credentials, options, data));

    // The build: into memory for verify-only, into staged files for a dry run.
    let staging = work.join("staging");
    let targets = match mode {
        Mode::VerifyOnly => Targets::in_memory()?,
        Mode::DryRun | Mode::Migrate => Targets::staged(&staging)?,
    };
    // The build and the verification's independent pass run side by side (one core each).
    let (applied, expected) = std::thread::scope(|scope| {
        let verifier = scope.spawn(|| super::expected(&work.join("sources"), &analysis.files, options));
        let applied = apply(plan, &targets, &options.t0, progress);
        (applied, verifier.join().expect("the verification thread panicked"))
    });
    let (applied, expected) = (applied?, expected?);
    report.blocking.extend(applied.blocking.iter().cloned());
    let mut not_migrated = plan.not_migrated.clone();
    not_migrated.extend(applied.rejected.iter().cloned());
    report.accounting = verify::accounting(&plan.rows_read, &applied.by_source, &not_migrated);
    report.not_migrated = not_migrated;
    for (i, dest) in DESTINATIONS.iter().enumerate() {
        let check = verify::compare_tables(dest, expected.0.conn(dest.db), &expected.1[i], targets.conn(dest.db))
            .map_err(|e| StoreError::from_sqlite(Path::new(&format!("{}.db", dest.db)), "verifying", e))?;
        let mut check = check;
        verify::add_float_checks(&mut check, targets.conn(dest.db), &analysis.float_totals)
            .map_err(|e| StoreError::from_sqlite(Path::new(&format!("{}.db", dest.db)), "float cross-check", e))?;
        report.destinations.push(check);
    }
    if mode != Mode::VerifyOnly {
        targets.close()?;
        let health =
            crate::store::health::report(&staging, crate::store::values::parse_instant(&options.t0).expect("T0"));
        for db in health.databases.iter().filter(|d| d.status == crate::store::health::Status::Critical) {
            report.blocking.push(Problem {
                code: "STAGED_DATABASE_CHECK".into(),
                file: format!("{}.db", db.name),
                table: None,
                column: None,
                detail: db.reasons.join("; "),
            });
        }
    }
    Ok(())
}

/// Writes `report.json`, `summary.txt` and `migration.log` into `dir`.
pub fn write_report(report: &MigrationReport, dir: &Path) -> Result<(), StoreError> {
    create_private_dir(dir)?;
    let io = |path: PathBuf| move |source| StoreError::Io { path: path.clone(), source };
    let json = dir.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(report).expect("report serialises"))
        .map_err(io(json.clone()))?;
    let summary = dir.join("summary.txt");
    std::fs::write(&summary, report.summary()).map_err(io(summary.clone()))?;
    let mut log = String::new();
    let at = format_instant(chrono::Utc::now());
    let line = |level: &str, p: &Problem| {
        format!("{at} {level} verify {} {} {} {}\n", p.code, p.file, p.table.as_deref().unwrap_or(""), p.detail)
    };
    for w in &report.warnings {
        log.push_str(&line("WARN", w));
    }
    for b in &report.blocking {
        log.push_str(&line("ERROR", b));
    }
    log.push_str(&format!("{at} INFO finish outcome {}\n", report.outcome));
    let log_path = dir.join("migration.log");
    std::fs::write(&log_path, log).map_err(io(log_path.clone()))?;
    Ok(())
}
