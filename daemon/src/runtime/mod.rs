//! `trader run`: the long-running daemon. One tokio runtime; the storage worker owns the databases; the
//! scheduler queues the storage jobs; the display composer turns the databases into the desired display state,
//! which the link keeps the MCU showing; the console answers questions. One shutdown path: SIGTERM or SIGINT
//! → the job in flight finishes, the link sends its last scene, every WAL is checkpointed, exit 0. SIGHUP
//! reloads the configuration file.

pub mod client;
pub mod config;
pub mod console;
pub mod jobs;
pub mod logging;
pub mod notify;
pub mod storage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::display;
use crate::link::{self, SharedStats};
use crate::store::values::{Clock, SystemClock};
use crate::store::{DataDir, Layout, OpenMode, Store};
use config::Config;
use console::{ConsoleState, Shown};
use jobs::Job;
use storage::Storage;

/// How long shutdown waits for the link's last scene and the job in flight before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Run the daemon with the configuration at `config_path` until SIGTERM/SIGINT.
pub fn run(config_path: &Path) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (level, recent) = match logging::init(&config.log_level) {
        Ok(installed) => installed,
        Err(e) => {
            eprintln!("error: logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon(config, config_path.to_owned(), level, recent)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn daemon(
    config: Config,
    config_path: PathBuf,
    level: logging::LevelHandle,
    recent: logging::Recent,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let data = config.data_dir.clone();
    let dir = DataDir::new(&data);
    let mode = match dir.layout()? {
        Layout::Fresh => OpenMode::Init,
        _ => OpenMode::Checked,
    };
    // One daemon per data directory; CLI commands that change data refuse while we hold it.
    let _lock = dir.lock().with_context(|| format!("locking {}", data.display()))?;
    let store = Store::open(&data, mode).with_context(|| format!("opening the databases in {}", data.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (storage, worker) = Storage::spawn(data.clone(), store, clock);

    let mut signals =
        signal_hook_tokio::Signals::new([SIGTERM, SIGINT, SIGHUP]).context("installing signal handlers")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let stats = SharedStats::default();
    let first = Shown { state: proto::DisplayState::default(), since: std::time::Instant::now() };
    let shown = Arc::new(Mutex::new(first));
    let (desired_tx, desired_rx) = watch::channel(compose(&storage, &config_rx.borrow(), &[]).await);
    update_shown(&shown, &desired_rx.borrow());

    let mut link = spawn_link(&config_rx.borrow(), desired_rx.clone(), stats.clone());
    let composer =
        tokio::spawn(composer(storage.clone(), config_rx.clone(), desired_tx, shown.clone(), stop_rx.clone()));
    let scheduler = tokio::spawn(scheduler(storage.clone(), config_rx.clone(), stop_rx.clone()));
    let console_state = ConsoleState {
        storage: storage.clone(),
        link: stats.clone(),
        shown,
        recent,
        config: config_rx.clone(),
        started,
    };
    let socket = config_rx.borrow().console.socket.clone();
    let group = config_rx.borrow().console.socket_group.clone();
    let console = {
        let (state, stop) = (console_state.clone(), stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = console::listen(&socket, &group, state, stop).await {
                error!(socket = %socket.display(), "the console cannot listen: {e}");
            }
        })
    };
    let serial_console = {
        let c = config_rx.borrow();
        (!c.console.serial.as_os_str().is_empty()).then(|| {
            tokio::spawn(console::serial(
                c.console.serial.clone(),
                c.console.serial_baud,
                console_state,
                stop_rx.clone(),
            ))
        })
    };

    // Catch up what was missed while the daemon was down (storage.md §9): once each, after the start checks.
    if let Some(last) = storage.last_success().await {
        let now = chrono::Utc::now();
        for job in Job::ALL {
            if last.get(&job).is_none_or(|at| now - *at > job.period()) {
                info!(job = job.name(), "catching up a missed run");
                storage.enqueue(job);
            }
        }
    }
    let watchdog = notify::watchdog_interval().map(|every| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                notify::notify("WATCHDOG=1");
            }
        })
    });
    notify::notify("READY=1");
    info!(data = %data.display(), config = %config_path.display(), "trader running");

    while let Some(signal) = signals.next().await {
        if signal != SIGHUP {
            info!(signal, "shutting down");
            break;
        }
        notify::notify("RELOADING=1");
        match Config::load(&config_path) {
            Ok(new) => {
                let old = config_tx.borrow().clone();
                if new.data_dir != old.data_dir || new.console != old.console {
                    warn!("data_dir and [console] changes take effect at the next start");
                }
                if let Err(e) = level.set(&new.log_level) {
                    warn!("log_level: {e}");
                }
                if new.link != old.link {
                    info!("link settings changed; reopening the link");
                    link.stop().await;
                    link = spawn_link(&new, desired_rx.clone(), stats.clone());
                }
                config_tx.send_replace(Arc::new(new));
                info!(config = %config_path.display(), "configuration reloaded");
            }
            Err(e) => error!("reload refused, keeping the running configuration: {e}"),
        }
        notify::notify("READY=1");
    }

    notify::notify("STOPPING=1");
    stop_tx.send_replace(true);
    if let Some(w) = watchdog {
        w.abort();
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let _ = composer.await;
        let _ = scheduler.await;
        let _ = console.await;
        if let Some(s) = serial_console {
            let _ = s.await;
        }
    })
    .await;
    link.stop().await;
    // The worker finishes the request in progress (a job's transaction), checkpoints, and ends.
    storage.stop();
    tokio::task::spawn_blocking(move || worker.join()).await.ok();
    info!("stopped");
    Ok(())
}

/// The running link and its own stop switch (a configuration change restarts it alone).
struct LinkTask {
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LinkTask {
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send_replace(true);
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
        }
    }
}

fn spawn_link(config: &Config, desired: watch::Receiver<proto::DisplayState>, stats: SharedStats) -> LinkTask {
    let Some(link_config) = config.link() else {
        info!("no MCU device configured; the display is composed for the console only");
        return LinkTask { stop: None, task: None };
    };
    let (stop, stop_rx) = watch::channel(false);
    LinkTask { stop: Some(stop), task: Some(tokio::spawn(link::run(link_config, desired, stats, stop_rx))) }
}

fn update_shown(shown: &Mutex<Shown>, state: &proto::DisplayState) {
    let mut shown = shown.lock().unwrap_or_else(|e| e.into_inner());
    if shown.state.scene != state.scene {
        shown.since = std::time::Instant::now();
    }
    shown.state = state.clone();
}

/// The display state from the databases and the jobs' outcomes.
async fn compose(storage: &Storage, config: &Config, failed: &[Job]) -> proto::DisplayState {
    let mut inputs = match storage.display_inputs(config.ticker()).await {
        Some(Ok(inputs)) => inputs,
        Some(Err(e)) => {
            warn!("reading the display's inputs failed: {e}");
            display::DisplayInputs { errors: vec!["DB READ FAILED".into()], ..Default::default() }
        }
        None => display::DisplayInputs::default(),
    };
    inputs.mode = config.display.mode;
    inputs.page = (chrono::Utc::now().timestamp() / ALLOCATION_PAGE_SECONDS) as usize;
    for job in failed {
        inputs.errors.push(match job {
            Job::Maintenance => "DB INTEGRITY FAILURE".into(),
            other => format!("{} FAILED", other.name().replace('.', " ").to_uppercase()),
        });
    }
    display::compose(&inputs)
}

/// The allocation view turns its pages this often (portfolio.md §12.4).
const ALLOCATION_PAGE_SECONDS: i64 = 10;

/// Recompose every `display.refresh_seconds` (at least every 10 s in the allocation view, so its pages turn),
/// after every job, and after a reload.
async fn composer(
    storage: Storage,
    mut config: watch::Receiver<Arc<Config>>,
    desired: watch::Sender<proto::DisplayState>,
    shown: Arc<Mutex<Shown>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let display = config.borrow().display.clone();
        let mut refresh = Duration::from_secs(display.refresh_seconds);
        if display.mode == display::DisplayMode::Allocation {
            refresh = refresh.min(Duration::from_secs(ALLOCATION_PAGE_SECONDS as u64));
        }
        let finished = storage.finished.clone();
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            _ = finished.notified() => {}
            _ = config.changed() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let failed: Vec<Job> = storage
            .reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|r| !r.ok)
            .map(|r| r.job)
            .collect();
        let current = config.borrow().clone();
        let state = compose(&storage, &current, &failed).await;
        update_shown(&shown, &state);
        desired.send_if_modified(|old| {
            let changed = *old != state;
            *old = state;
            changed
        });
    }
}

/// Queue each job at its local time. Checked every 20 s against the wall clock, so a clock step or a
/// suspended board cannot make it sleep past a job; a changed schedule applies from the next check.
async fn scheduler(storage: Storage, mut config: watch::Receiver<Arc<Config>>, mut stop: watch::Receiver<bool>) {
    let local_now = || chrono::Local::now().naive_local();
    let plan = |c: &Config| -> Vec<(Job, chrono::NaiveDateTime)> {
        Job::ALL.into_iter().map(|job| (job, job.next_due(&c.jobs, local_now()))).collect()
    };
    let mut due = plan(&config.borrow());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(20)) => {}
            _ = config.changed() => {
                due = plan(&config.borrow());
                continue;
            }
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = chrono::Utc::now();
        let jobs = config.borrow().jobs.clone();
        for (job, at) in due.iter_mut() {
            if jobs::local_instant(*at) <= now {
                storage.enqueue(*job);
                *at = job.next_due(&jobs, local_now());
            }
        }
    }
}
