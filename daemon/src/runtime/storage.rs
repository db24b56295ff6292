//! The storage worker: one thread owns the eight databases and does all storage work serially — scheduled
//! jobs, the display's reads, the console's questions — so SQLite never blocks the async threads and there is
//! one writer path (architecture.md, runtime model). At most one instance of a job is queued or running; a job
//! that comes due while its previous run is still queued or running is skipped.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::jobs::Job;
use crate::display::{DisplayInputs, TickerSettings};
use crate::store::cache::CacheRepository;
use crate::store::gc::{self, GcDatabases};
use crate::store::health::{self, HealthReport};
use crate::store::values::{Clock, format_instant, parse_instant};
use crate::store::{DbName, Instant, Store, backup, maintenance};

/// How one run of a job went.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub job: Job,
    pub started_at: Instant,
    pub seconds: f64,
    pub ok: bool,
    pub summary: String,
}

/// Size and version of one database, for the console's `db`.
#[derive(Debug, Clone, Serialize)]
pub struct DbInfo {
    pub name: DbName,
    pub bytes: u64,
    pub wal_bytes: u64,
    pub user_version: u32,
}

enum Request {
    Run(Job),
    Inputs(TickerSettings, oneshot::Sender<crate::store::Result<DisplayInputs>>),
    Health(oneshot::Sender<HealthReport>),
    Databases(oneshot::Sender<Vec<DbInfo>>),
    GcDryRun(oneshot::Sender<Result<gc::GcReport, String>>),
    LastSuccess(oneshot::Sender<BTreeMap<Job, Instant>>),
    Stop,
}

/// The handle every task holds to ask the worker for something.
#[derive(Clone)]
pub struct Storage {
    tx: mpsc::UnboundedSender<Request>,
    busy: Arc<Mutex<HashSet<Job>>>,
    /// The last report of each job, for the console's `status`.
    pub reports: Arc<Mutex<BTreeMap<Job, JobReport>>>,
    /// Told after every finished job (the display recomposes).
    pub finished: Arc<tokio::sync::Notify>,
}

impl Storage {
    /// Start the worker thread; it owns `store` until [`Storage::stop`].
    pub fn spawn(data: PathBuf, store: Store, clock: Arc<dyn Clock>) -> (Storage, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let storage = Storage {
            tx,
            busy: Arc::default(),
            reports: Arc::default(),
            finished: Arc::new(tokio::sync::Notify::new()),
        };
        let worker = storage.clone();
        let thread = std::thread::Builder::new()
            .name("storage".into())
            .spawn(move || worker.serve(rx, data, store, clock.as_ref()))
            .expect("spawning the storage thread");
        (storage, thread)
    }

    /// Queue `job` unless an instance is already queued or running; `false` = skipped.
    pub fn enqueue(&self, job: Job) -> bool {
        if !self.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(job) {
            info!(job = job.name(), "skipped: the previous run is still queued or running");
            return false;
        }
        self.tx.send(Request::Run(job)).is_ok()
    }

    /// The jobs queued or running now.
    pub fn busy(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = self.busy.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        jobs.sort();
        jobs
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).ok()?;
        answer.await.ok()
    }

    pub async fn display_inputs(&self, ticker: TickerSettings) -> Option<crate::store::Result<DisplayInputs>> {
        self.ask(|r| Request::Inputs(ticker, r)).await
    }

    pub async fn health(&self) -> Option<HealthReport> {
        self.ask(Request::Health).await
    }

    pub async fn databases(&self) -> Option<Vec<DbInfo>> {
        self.ask(Request::Databases).await
    }

    pub async fn gc_dry_run(&self) -> Option<Result<gc::GcReport, String>> {
        self.ask(Request::GcDryRun).await
    }

    pub async fn last_success(&self) -> Option<BTreeMap<Job, Instant>> {
        self.ask(Request::LastSuccess).await
    }

    /// Finish the request in progress, then stop; the worker checkpoints every database before it exits.
    pub fn stop(&self) {
        let _ = self.tx.send(Request::Stop);
    }

    fn serve(&self, mut rx: mpsc::UnboundedReceiver<Request>, data: PathBuf, store: Store, clock: &dyn Clock) {
        while let Some(request) = rx.blocking_recv() {
            match request {
                Request::Run(job) => {
                    let report = run_job(job, &data, &store, clock);
                    self.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&job);
                    self.reports.lock().unwrap_or_else(|e| e.into_inner()).insert(job, report);
                    self.finished.notify_waiters();
                }
                Request::Inputs(ticker, reply) => {
                    let _ = reply.send(crate::display::inputs_from_store(&store, ticker, clock.now()));
                }
                Request::Health(reply) => {
                    let _ = reply.send(health::report(&data, clock.now()));
                }
                Request::Databases(reply) => {
                    let _ = reply.send(databases(&data, &store));
                }
                Request::GcDryRun(reply) => {
                    let report = GcDatabases::open(&data)
                        .and_then(|dbs| gc::run(&dbs, clock.now(), true))
                        .map_err(|e| e.to_string());
                    let _ = reply.send(report);
                }
                Request::LastSuccess(reply) => {
                    let _ = reply.send(last_successes(&data, &store, clock.now()));
                }
                Request::Stop => break,
            }
        }
        if let Err(e) = store.checkpoint_all() {
            warn!("checkpointing at shutdown failed: {e}");
        }
    }
}

/// Sizes from the files, the schema version as the store read it when it opened them.
fn databases(data: &std::path::Path, store: &Store) -> Vec<DbInfo> {
    let dir = crate::store::DataDir::new(data);
    DbName::ALL
        .into_iter()
        .map(|name| {
            let path = dir.db_path(name);
            DbInfo {
                name,
                bytes: health::file_len(&path),
                wal_bytes: health::file_len(&crate::store::datadir::sidecar(&path, "-wal")),
                user_version: store.report(name).version,
            }
        })
        .collect()
}

fn last_success_key(job: Job) -> String {
    format!("job.{}.last_success", job.name())
}

/// When each job last succeeded: backups from their newest set, the others from cache.db.
fn last_successes(data: &std::path::Path, store: &Store, now: Instant) -> BTreeMap<Job, Instant> {
    let sets = backup::latest_sets(data);
    let cache = CacheRepository::new(store.conn(DbName::Cache));
    Job::ALL
        .into_iter()
        .filter_map(|job| {
            let at = match job.backup_kind() {
                Some(kind) => sets.get(&kind).map(|s| s.created_at),
                None => cache.get(&last_success_key(job), now).ok().flatten().and_then(|v| parse_instant(&v).ok()),
            };
            at.map(|at| (job, at))
        })
        .collect()
}

fn run_job(job: Job, data: &std::path::Path, store: &Store, clock: &dyn Clock) -> JobReport {
    let started_at = clock.now();
    let timer = std::time::Instant::now();
    info!(job = job.name(), "job started");
    let outcome: Result<String, String> = match (job, job.backup_kind()) {
        (_, Some(kind)) => backup::make_set(data, kind, started_at, &|_| {})
            .map(|r| format!("{} ({} files)", r.path.display(), r.manifest.files.len()))
            .map_err(|e| e.to_string()),
        (Job::Scoring, None) => crate::engine::runs::score_universe(store, started_at)
            .map(|r| format!("{} scored, {} unscored", r.scored.len(), r.unscored.len()))
            .map_err(|e| e.to_string()),
        (Job::Gc, None) => GcDatabases::open(data)
            .and_then(|dbs| gc::run(&dbs, started_at, false))
            .map(|r| format!("{} securities examined, {} warnings", r.securities.len(), r.warnings.len()))
            .map_err(|e| e.to_string()),
        _ => maintenance::run(store, started_at).map_err(|e| e.to_string()).and_then(|_| {
            let report = health::report(data, started_at);
            if report.healthy() {
                Ok(format!("healthy ({:?})", report.status))
            } else {
                Err(format!("health critical: {}", report.reasons.join("; ")))
            }
        }),
    };
    let ok = outcome.is_ok();
    if ok && job.backup_kind().is_none() {
        let cache = CacheRepository::new(store.conn(DbName::Cache));
        if let Err(e) = cache.put(&last_success_key(job), &format_instant(started_at), None, None, started_at) {
            warn!(job = job.name(), "recording the job's success failed: {e}");
        }
    }
    let summary = outcome.unwrap_or_else(|e| e);
    if ok {
        info!(job = job.name(), %summary, "job done");
    } else {
        warn!(job = job.name(), %summary, "job failed");
    }
    JobReport { job, started_at, seconds: timer.elapsed().as_secs_f64(), ok, summary }
}
