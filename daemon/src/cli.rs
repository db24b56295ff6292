//! The `trader` command line: what each command does, its options, and its exit codes
//! (0 success, 1 a failed check or operation, 2 bad usage).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::demo;
use crate::store::backup::{self, BackupKind};
use crate::store::gc::{self, GcDatabases};
use crate::store::values::{Clock, FixedClock, SystemClock, format_instant, parse_instant};
use crate::store::{DataDir, DbName, Layout, OpenMode, Store, StoreError, health, maintenance};

/// Where the databases live on the board: systemd's StateDirectory for the `trader` service.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/trader";

#[derive(Debug, Parser)]
#[command(
    name = "trader",
    version,
    about = "Arduino Trader: an autonomous manager of a long-term portfolio, running on an Arduino UNO Q.",
    long_about = "Arduino Trader keeps a personal long-term portfolio in eight SQLite databases (universe, config, \
ledger, portfolio, satellites, agents, history, cache), plans and executes trades, and shows the portfolio's \
state on the board's LED matrix.\n\nEvery command that touches data works on one data directory (--data, or \
TRADER_DATA, default /var/lib/trader). Commands that change data refuse to run while the daemon holds the \
directory's lock.\n\nExit codes: 0 success, 1 a failed check or operation, 2 bad usage.",
    after_help = "Examples:\n  trader demo                           watch the display of a demo portfolio on a simulated MCU\n  trader demo-data --data /tmp/demo     fill a new directory with a demo portfolio\n  \
trader health --data /tmp/demo        check every database (exit 1 when one is critical)\n  \
trader backup --kind daily            make a backup set of all databases but the cache\n  \
trader restore /var/lib/trader/backups/daily/20260101T010700Z"
)]
pub struct Cli {
    /// The data directory that holds the eight databases.
    #[arg(long, global = true, env = "TRADER_DATA", default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data: PathBuf,

    /// Print machine-readable JSON on standard output instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Act as if the time were this UTC instant (2026-01-03T20:39:49Z); for tests and for replaying a run.
    #[arg(long, global = true, hide = true, value_name = "INSTANT", value_parser = parse_now)]
    pub now: Option<crate::store::Instant>,

    #[command(subcommand)]
    pub command: Command,
}

fn parse_now(text: &str) -> Result<crate::store::Instant, String> {
    parse_instant(text).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: storage jobs on schedule, the display on the MCU, the console. Stops cleanly on
    /// SIGTERM/SIGINT (exit 0); SIGHUP reloads the configuration. Under systemd: Type=notify, watchdog, journald.
    Run(RunArgs),
    /// Talk to the running daemon's console: one COMMAND and its answer, or an interactive session with line
    /// editing and history when no COMMAND is given (`help` lists the commands).
    Console(ConsoleArgs),
    /// The portfolio now: value, cash, allocation against the country-group and industry-group targets,
    /// concentration alerts and the pending recommendations, valued at the stored prices and rates.
    Status,
    /// Today's snapshot (value, invested, cash, unrealised P&L, turnover) and the analytics of the last year of
    /// snapshots: annual return, volatility, Sharpe, Sortino, max drawdown, Calmar. `--write` stores the snapshot.
    Snapshot(SnapshotArgs),
    /// The security scores (portfolio.md §5), best first. `--refresh` scores the universe from its price
    /// history now and stores the result (the daemon does it daily at 04:30).
    Scores(ScoresArgs),
    /// See it work: a temporary data directory with the demo portfolio, the display composed from it, sent over
    /// a pty to a simulated MCU (the firmware's own display engine) whose matrix and LEDs are drawn here.
    /// Runs until Ctrl-C (or --seconds); ignores --data.
    Demo(DemoRunArgs),
    /// Create the eight empty databases (a no-op on a complete directory; refuses damaged or foreign files).
    Init,
    /// Create a data directory filled with a realistic demo portfolio (25 securities, 3 years of prices,
    /// trades, deposits, dividends, groups and targets).
    DemoData(DemoArgs),
    /// Check every database: integrity_check (full output), quick_check, foreign keys, schema version, profile
    /// drift, sizes, backups. Exits 1 when any database is critical; warnings alone exit 0.
    Health,
    /// Make a backup set through SQLite's online backup API (or verify one: `trader backup verify`).
    Backup(BackupArgs),
    /// Restore a backup set into the data directory (offline: refuses while the daemon runs). The replaced files
    /// are moved to archive/pre_restore_<time>/, never deleted.
    Restore(RestoreArgs),
    /// Purge the data of securities removed more than gc_grace_days (default 30) ago. The ledger is never touched;
    /// a held security is never purged.
    Gc(GcArgs),
    /// Migrate the legacy 15+ file layout of the data directory into the eight databases. `--verify-only`
    /// checks and predicts, `--dry-run` migrates into a throw-away staging directory and verifies it (both leave
    /// the data directory byte-identical); without either, the real run backs the legacy files up, builds and
    /// verifies the new databases, and switches over (`trader migrate rollback` undoes it).
    Migrate(MigrateArgs),
    /// Add, remove and list securities of the universe.
    #[command(subcommand)]
    Security(SecurityCommand),
    /// Work on single databases.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Store today's snapshot in portfolio.db (refused while the daemon holds the data directory).
    #[arg(long)]
    pub write: bool,
    /// The analytics window in days.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
}

#[derive(Debug, Args)]
pub struct ScoresArgs {
    /// Score the universe now and store the scores (refused while the daemon holds the data directory).
    #[arg(long)]
    pub refresh: bool,
    /// Show at most this many securities.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (every key and its default: deploy/trader.toml.example). Its data_dir is used,
    /// not --data.
    #[arg(long, default_value = crate::runtime::config::DEFAULT_CONFIG, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// The daemon's console socket.
    #[arg(long, default_value = "/run/trader/console.sock", value_name = "PATH")]
    pub socket: PathBuf,
    /// The command to send (status, health, link, db, display, gc --dry-run, backup now, log N, help).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoRunArgs {
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
    /// Seed of the demo portfolio.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the random generator: the same seed and date give the same portfolio.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl From<KindArg> for BackupKind {
    fn from(kind: KindArg) -> BackupKind {
        match kind {
            KindArg::Hourly => BackupKind::Hourly,
            KindArg::Daily => BackupKind::Daily,
            KindArg::Weekly => BackupKind::Weekly,
            KindArg::Monthly => BackupKind::Monthly,
        }
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    /// Which set to make: hourly holds the ledger; the others hold every database but the cache.
    #[arg(long, value_enum, default_value = "daily")]
    pub kind: KindArg,
    #[command(subcommand)]
    pub action: Option<BackupAction>,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Re-check a set's SHA-256 sums and integrity (default: the newest daily set).
    Verify {
        /// A set directory, e.g. <data>/backups/daily/20260101T010700Z.
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The set directory to restore, e.g. <data>/backups/daily/20260101T010700Z.
    pub backup_dir: PathBuf,
    /// Restore only these databases (comma-separated names such as ledger,config).
    #[arg(long, value_delimiter = ',', value_parser = parse_db_name)]
    pub only: Option<Vec<DbName>>,
}

fn parse_db_name(text: &str) -> Result<DbName, String> {
    DbName::from_name(text).ok_or_else(|| {
        format!("`{text}` is not a database; choose from {}", DbName::ALL.map(|d| d.as_str()).join(", "))
    })
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Report what would be purged and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Instead, delete rows whose symbol has no security at all (orphans), from history, portfolio and cache.
    #[arg(long)]
    pub orphans: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,
    /// Read and check the legacy files, predict the result, write nothing in the data directory.
    #[arg(long, conflicts_with = "dry_run")]
    pub verify_only: bool,
    /// Migrate into a staging directory, verify it completely, then discard it.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept columns the migrator does not know even when they hold data (their values stay in the archive).
    #[arg(long)]
    pub accept_unknown_columns: bool,
    /// The broker credentials file that legacy `tradernet_api_key`/`tradernet_api_secret` settings move into
    /// (the configuration key `credentials_file`; an empty value means systemd credentials only).
    #[arg(long, value_name = "FILE", default_value = "/etc/trader/credentials.toml")]
    pub credentials_file: String,
    /// Where copies and staging go (default: a new directory beside the data directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Where report.json, summary.txt and migration.log go (default: <parent of data>/migration-reports/…).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Put the legacy files back: undo an unfinished switch-over, or restore them from the migration backup
    /// (the new databases are moved to archive/rolled_back_<time>/, never deleted).
    Rollback {
        /// The backup set to restore (default: the newest <data>/backups/migration_*).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// List the securities (removed ones too with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Take a security out of the universe; its data is purged by GC after the grace period.
    Remove { symbol: String },
    /// Bring a removed security back before GC purged it; nothing was lost.
    Restore { symbol: String },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Run the daily maintenance now: incremental vacuum, WAL checkpoint, auto_vacuum conversion, optimize.
    Maintain,
    /// Rebuild one database with VACUUM (offline).
    Vacuum {
        #[arg(value_parser = parse_db_name)]
        name: DbName,
    },
}

/// A failure the user must act on; printed as `error: …` and exit code 1.
#[derive(Debug)]
pub struct Failure(pub String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure(e.to_string())
    }
}

type Outcome = Result<ExitCode, Failure>;

/// Parses the arguments, runs the command, and turns every error into a message and an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon installs its own logging (journald, the console's recent lines, reloadable level).
    if !matches!(cli.command, Command::Run(_)) {
        init_logging();
    }
    let clock: Box<dyn Clock> = match cli.now {
        Some(at) => Box::new(FixedClock::new(at)),
        None => Box::new(SystemClock),
    };
    match run(&cli, clock.as_ref()) {
        Ok(code) => code,
        Err(Failure(message)) => {
            if cli.json {
                println!("{}", serde_json::json!({ "error": message }));
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).expect("reports serialise"));
    } else {
        print!("{}", text());
    }
}

/// A progress bar on a terminal; hidden when standard error is not one.
fn progress(len: u64, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {wide_msg:.dim}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

pub fn run(cli: &Cli, clock: &dyn Clock) -> Outcome {
    let data = cli.data.as_path();
    match &cli.command {
        Command::Run(args) => Ok(crate::runtime::run(&args.config)),
        Command::Console(args) => crate::runtime::client::run(args, cli.json).map_err(|e| Failure(format!("{e:#}"))),
        Command::Demo(args) => crate::showcase::run(cli.json, args, clock).map_err(|e| Failure(format!("{e:#}"))),
        Command::Scores(args) => scores(cli, data, args, clock),
        Command::Snapshot(args) => snapshot(cli, data, args, clock),
        Command::Status => {
            if DataDir::new(data).layout()? != Layout::Complete {
                return Err(Failure(format!(
                    "{}: not a complete data directory (see `trader health`)",
                    data.display()
                )));
            }
            let store = Store::open(data, OpenMode::Existing)?;
            let status = crate::engine::status::status(&store, clock.now(), 10).map_err(|e| Failure(e.to_string()))?;
            print(cli.json, &status, || crate::engine::status::render(&status));
            Ok(ExitCode::SUCCESS)
        }
        Command::Init => init(cli, data),
        Command::DemoData(args) => demo_data(cli, data, args, clock),
        Command::Health => health_cmd(cli, data, clock),
        Command::Backup(args) => match &args.action {
            Some(BackupAction::Verify { dir }) => backup_verify(cli, data, dir.as_deref()),
            None => backup_make(cli, data, args.kind.into(), clock),
        },
        Command::Restore(args) => restore(cli, data, args, clock),
        Command::Gc(args) => gc_cmd(cli, data, args, clock),
        Command::Migrate(args) => migrate(cli, data, args, clock),
        Command::Security(cmd) => security(cli, data, cmd, clock),
        Command::Db(DbCommand::Maintain) => {
            let _lock = DataDir::new(data).lock()?;
            let store = Store::open(data, OpenMode::Existing)?;
            let done = maintenance::run(&store, clock.now())?;
            print(cli.json, &done, || {
                done.iter()
                    .map(|d| {
                        format!(
                            "{:<11} freed {} pages, checkpointed {}, auto_vacuum conversion {}\n",
                            d.name.as_str(),
                            d.pages_freed,
                            d.checkpoint.checkpointed,
                            d.auto_vacuum_conversion
                        )
                    })
                    .collect()
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Db(DbCommand::Vacuum { name }) => {
            let _lock = DataDir::new(data).lock()?;
            let store = Store::open(data, OpenMode::Existing)?;
            let (before, after) = maintenance::vacuum(&store, *name)?;
            print(cli.json, &serde_json::json!({ "db": name, "bytes_before": before, "bytes_after": after }), || {
                format!("{name}.db: {before} → {after} bytes\n")
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn snapshot(cli: &Cli, data: &Path, args: &SnapshotArgs, clock: &dyn Clock) -> Outcome {
    let dir = DataDir::new(data);
    if dir.layout()? != Layout::Complete {
        return Err(Failure(format!("{}: not a complete data directory (see `trader health`)", data.display())));
    }
    let _lock = if args.write { Some(dir.lock()?) } else { None };
    let store = Store::open(data, OpenMode::Existing)?;
    let now = clock.now();
    let today = now.with_timezone(&chrono::Local).date_naive();
    let engine = |e: crate::engine::runs::EngineError| Failure(e.to_string());
    let snapshot = crate::engine::runs::snapshot(&store, today, now, args.write).map_err(engine)?;
    let analytics = crate::engine::runs::analytics(&store, today, args.days).map_err(engine)?;
    let report = serde_json::json!({ "snapshot": snapshot, "written": args.write, "analytics": analytics });
    print(cli.json, &report, || {
        let pct = |x: Option<f64>| x.map(|v| format!("{:.2}%", 100.0 * v)).unwrap_or_else(|| "absent".into());
        let num = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "absent".into());
        let p = &analytics.performance;
        format!(
            "snapshot {}{}: total €{:.2}, invested €{:.2}, cash €{:.2}, unrealised P&L €{:.2}, {} positions, turnover {}\n\
             analytics {} … {} ({} weekday snapshots, {} returns): annual return {}, volatility {}, Sharpe {}, \
             Sortino {}, max drawdown {}, Calmar {}\n",
            snapshot.date,
            if args.write { " (stored)" } else { "" },
            snapshot.total_value,
            snapshot.invested_value.unwrap_or(0.0),
            snapshot.cash_balance,
            snapshot.unrealized_pnl.unwrap_or(0.0),
            snapshot.position_count.unwrap_or(0),
            analytics.turnover.map(|(t, s)| format!("{t:.2} ({s:?})")).unwrap_or_else(|| "absent".into()),
            analytics.start,
            analytics.end,
            analytics.snapshots,
            analytics.returns,
            pct(Some(p.annual_return)),
            pct(Some(p.volatility)),
            num(p.sharpe),
            num(p.sortino),
            pct(p.max_drawdown),
            num(p.calmar),
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn scores(cli: &Cli, data: &Path, args: &ScoresArgs, clock: &dyn Clock) -> Outcome {
    let dir = DataDir::new(data);
    if dir.layout()? != Layout::Complete {
        return Err(Failure(format!("{}: not a complete data directory (see `trader health`)", data.display())));
    }
    let _lock = if args.refresh { Some(dir.lock()?) } else { None };
    let store = Store::open(data, OpenMode::Existing)?;
    let mut unscored = Vec::new();
    if args.refresh {
        let run = crate::engine::runs::score_universe(&store, clock.now()).map_err(|e| Failure(e.to_string()))?;
        unscored = run.unscored;
    }
    let rows = store.scores().top(args.limit)?;
    let report = serde_json::json!({ "scores": rows, "unscored": unscored });
    print(cli.json, &report, || {
        let mut text = format!(
            "{:<14} {:>6}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}  defaults\n",
            "symbol", "total", "long", "fund", "opp", "div", "short", "tech", "opin", "div'n"
        );
        let g = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
        for r in &rows {
            text.push_str(&format!(
                "{:<14} {:>6.4}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}  {}\n",
                r.symbol,
                r.total_score,
                g(r.long_term_score),
                g(r.fundamentals_score),
                g(r.opportunity_score),
                g(r.dividends_score),
                g(r.short_term_score),
                g(r.technicals_score),
                g(r.opinion_score),
                g(r.diversification_score),
                r.defaulted_inputs.as_deref().unwrap_or("")
            ));
        }
        if rows.is_empty() {
            text.push_str("no scores yet: `trader scores --refresh` computes them\n");
        }
        for symbol in &unscored {
            text.push_str(&format!("{symbol}: unscored (fewer than 50 daily closes or 12 monthly averages)\n"));
        }
        text
    });
    Ok(ExitCode::SUCCESS)
}

fn init(cli: &Cli, data: &Path) -> Outcome {
    let _lock = DataDir::new(data).lock()?;
    let store = Store::open(data, OpenMode::Init)?;
    let created: Vec<DbName> = DbName::ALL.into_iter().filter(|n| store.report(*n).created).collect();
    let report = serde_json::json!({ "data_dir": data, "created": created });
    print(cli.json, &report, || {
        if created.is_empty() {
            format!("{}: all eight databases exist and pass quick_check; nothing to do\n", data.display())
        } else {
            format!(
                "{}: created {}\n",
                data.display(),
                created.iter().map(|n| format!("{n}.db")).collect::<Vec<_>>().join(", ")
            )
        }
    });
    Ok(ExitCode::SUCCESS)
}

fn demo_data(cli: &Cli, data: &Path, args: &DemoArgs, clock: &dyn Clock) -> Outcome {
    let dir = DataDir::new(data);
    if dir.layout()? != Layout::Fresh {
        return Err(Failure(format!(
            "{} already holds databases; demo data goes into a new directory (choose another --data)",
            data.display()
        )));
    }
    let _lock = dir.lock()?;
    let store = Store::open(data, OpenMode::Init)?;
    let bar = progress(38, "demo data");
    let summary = demo::fill(&store, args.seed, clock.now(), &|step| {
        bar.set_message(step.to_owned());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    store.checkpoint_all()?;
    print(cli.json, &summary, || {
        format!(
            "{}: {} securities, {} daily prices, {} FX rates, {} trades, {} cash flows, {} dividends, {} snapshots, {} positions, cash €{}\n",
            data.display(),
            summary.securities,
            summary.daily_prices,
            summary.exchange_rates,
            summary.trades,
            summary.cash_flows,
            summary.dividends,
            summary.snapshots,
            summary.positions,
            summary.cash_eur
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn health_cmd(cli: &Cli, data: &Path, clock: &dyn Clock) -> Outcome {
    if !data.is_dir() {
        return Err(Failure(format!("{}: no such data directory", data.display())));
    }
    let report = health::report(data, clock.now());
    print(cli.json, &report, || health::render(&report));
    Ok(if report.healthy() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn backup_make(cli: &Cli, data: &Path, kind: BackupKind, clock: &dyn Clock) -> Outcome {
    let now = clock.now();
    if DataDir::new(data).layout()? != Layout::Complete {
        return Err(Failure(format!(
            "{}: not a complete data directory; nothing to back up (see `trader health`)",
            data.display()
        )));
    }
    let bar = progress(kind.databases().len() as u64, kind.as_str());
    let result = backup::make_set(data, kind, now, &|name| {
        bar.set_message(format!("{name}.db"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            print(cli.json, &report, || {
                let mut text = format!(
                    "{} backup: {} ({} files, integrity ok)\n",
                    kind,
                    report.path.display(),
                    report.manifest.files.len()
                );
                for old in &report.deleted {
                    text.push_str(&format!("  retention removed {}\n", old.display()));
                }
                text
            });
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            record_backup_error(data, kind, now, &e.to_string());
            Err(Failure(format!("{kind} backup failed (older sets are kept): {e}")))
        }
    }
}

/// Keeps a failed backup's message for the health report; best effort.
fn record_backup_error(data: &Path, kind: BackupKind, now: crate::store::Instant, error: &str) {
    if let Ok(opened) = crate::store::open::open_writer(data, DbName::Cache.spec(), crate::store::Create::Never) {
        let value = serde_json::json!({ "at": format_instant(now), "error": error }).to_string();
        let _ = crate::store::cache::CacheRepository::new(&opened.conn).put(
            &health::keys::backup_error(kind.as_str()),
            &value,
            None,
            None,
            now,
        );
    }
}

fn backup_verify(cli: &Cli, data: &Path, dir: Option<&Path>) -> Outcome {
    let set = match dir {
        Some(dir) => dir.to_owned(),
        None => backup::sets(data, BackupKind::Daily)
            .pop()
            .map(|s| s.path)
            .ok_or_else(|| Failure(format!("{}: no daily backup set to verify", data.display())))?,
    };
    let report = backup::verify_set(&set)?;
    print(cli.json, &report, || {
        let mut text = String::new();
        for f in &report.files {
            let state = if f.problems.is_empty() { "ok".to_owned() } else { f.problems.join("; ") };
            text.push_str(&format!("  {:<11} {state}\n", f.db));
        }
        text.push_str(&format!("{}: {}\n", set.display(), if report.ok { "verified" } else { "FAILED" }));
        text
    });
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn restore(cli: &Cli, data: &Path, args: &RestoreArgs, clock: &dyn Clock) -> Outcome {
    let _lock = DataDir::new(data).lock()?;
    let report = backup::restore(data, &args.backup_dir, args.only.as_deref(), clock.now())?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    print(cli.json, &report, || {
        format!(
            "restored {} from {}; the replaced files are in {}\n",
            report.restored.iter().map(|n| format!("{n}.db")).collect::<Vec<_>>().join(", "),
            args.backup_dir.display(),
            report.archived_to.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn gc_cmd(cli: &Cli, data: &Path, args: &GcArgs, clock: &dyn Clock) -> Outcome {
    let dir = DataDir::new(data);
    match dir.layout()? {
        Layout::Complete | Layout::CacheMissing => {}
        other => return Err(other.refusal(data).into()),
    }
    // A dry run only reads; it still refuses to race a running daemon's writes only when it would write.
    let _lock = if args.dry_run { None } else { Some(dir.lock()?) };
    let dbs = GcDatabases::open(data)?;
    let now = clock.now();
    if args.orphans {
        let report = gc::purge_orphans(&dbs, now, args.dry_run)?;
        print(cli.json, &report, || {
            let verb = if args.dry_run { "would delete" } else { "deleted" };
            let mut text = String::new();
            for (symbol, rows) in &report.orphans {
                let rows: Vec<String> = rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
                text.push_str(&format!("  {symbol}: {verb} {}\n", rows.join(", ")));
            }
            text.push_str(&format!("{} orphan symbol(s)\n", report.orphans.len()));
            text
        });
        return Ok(ExitCode::SUCCESS);
    }
    let report = gc::run(&dbs, now, args.dry_run)?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    print(cli.json, &report, || {
        let mut text = format!(
            "GC at {} (grace {} days: removed on or before {}){}\n",
            format_instant(report.run_at),
            report.grace_days,
            format_instant(report.cutoff),
            if report.dry_run { ", dry run: nothing changed" } else { "" }
        );
        for s in &report.securities {
            let rows: Vec<String> = s.rows.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t} {n}")).collect();
            text.push_str(&format!(
                "  {:<14} {:<17} {}{}\n",
                s.symbol,
                s.action,
                rows.join(", "),
                s.detail.as_deref().map(|d| format!(" {d}")).unwrap_or_default()
            ));
        }
        let r = &report.retention;
        text.push_str(&format!(
            "retention: {} expired cache rows, {} finished recommendations, {} expired metrics, {} planner sequences, {} best results\n",
            r.expired_cache_rows, r.finished_recommendations, r.expired_metrics, r.planner_sequences, r.planner_best_results
        ));
        text
    });
    let refused = report.securities.iter().any(|s| s.action == "error");
    Ok(if refused { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn security(cli: &Cli, data: &Path, cmd: &SecurityCommand, clock: &dyn Clock) -> Outcome {
    let store = Store::open(data, OpenMode::Existing)?;
    let securities = store.securities();
    match cmd {
        SecurityCommand::List { all } => {
            let list = securities.list_all(*all)?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|s| {
                        let removed =
                            s.removed_at.map(|at| format!("  removed {}", format_instant(at))).unwrap_or_default();
                        format!(
                            "{:<14} {:<4} {:<40}{removed}\n",
                            s.symbol,
                            s.currency.as_deref().unwrap_or("-"),
                            s.name
                        )
                    })
                    .collect()
            });
        }
        SecurityCommand::Remove { symbol } => {
            if !securities.mark_removed(symbol, clock.now())? {
                return Err(Failure(format!("no security `{symbol}` in universe.db")));
            }
            let grace = gc::grace_days(store.conn(DbName::Config)).0;
            print(cli.json, &serde_json::json!({ "removed": symbol, "grace_days": grace }), || {
                format!("{symbol} removed; its data is purged by GC after {grace} days unless you restore it\n")
            });
        }
        SecurityCommand::Restore { symbol } => {
            if !securities.restore(symbol, clock.now())? {
                return Err(Failure(format!(
                    "`{symbol}` is not a removed security (already purged, or never removed)"
                )));
            }
            print(cli.json, &serde_json::json!({ "restored": symbol }), || {
                format!("{symbol} is back in the universe\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports the migrator's steps: a spinner with the current step on a terminal, one log line per step otherwise.
struct StepReporter(Option<ProgressBar>);

impl StepReporter {
    fn report(&self, step: &str) {
        match &self.0 {
            Some(bar) => bar.set_message(step.to_owned()),
            None => eprintln!("{} migrate: {step}", format_instant(chrono::Utc::now())),
        }
    }
    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn step_reporter() -> StepReporter {
    if !std::io::stderr().is_terminal() {
        return StepReporter(None);
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}").expect("template"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    StepReporter(Some(bar))
}

fn migrate(cli: &Cli, data: &Path, args: &MigrateArgs, clock: &dyn Clock) -> Outcome {
    use crate::legacy::run::{self, Mode};
    let data = std::path::absolute(data).map_err(|e| Failure(format!("{}: {e}", data.display())))?;
    if let Some(MigrateAction::Rollback { from }) = &args.action {
        let said = crate::legacy::switch::rollback(&data, from.as_deref(), clock.now())?;
        print(cli.json, &serde_json::json!({ "outcome": "rolled_back", "message": said }), || format!("{said}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let mode = match (args.verify_only, args.dry_run) {
        (true, _) => Mode::VerifyOnly,
        (_, true) => Mode::DryRun,
        _ => Mode::Migrate,
    };
    let now = clock.now();
    let t0 = format_instant(now);
    let options = crate::legacy::mapping::Options {
        t0: t0.clone(),
        accept_unknown_columns: args.accept_unknown_columns,
        credentials_file: Some(PathBuf::from(&args.credentials_file)).filter(|p| !p.as_os_str().is_empty()),
        strict_only: false,
    };
    let bar = step_reporter();
    let progress = |step: &str| bar.report(step);
    if mode == Mode::Migrate {
        let report = crate::legacy::switch::migrate(&data, &options, now, &progress)?;
        bar.finish();
        print(cli.json, &report, || report.summary());
        return Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    // verify-only and dry-run lock the directory only if the lock file exists, and never create it.
    let lock_file = data.join(".lock");
    let _lock = if lock_file.exists() { Some(DataDir::new(&data).lock()?) } else { None };
    let work = args.work_dir.clone().unwrap_or_else(|| crate::legacy::default_work_dir(&data, &t0));
    let mut report = run::run(&data, mode, &options, &work, &progress)?;
    bar.finish();
    let stamp = backup::dir_stamp(now);
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        let kind = if mode == Mode::VerifyOnly { "verify-only" } else { "dry-run" };
        data.parent().unwrap_or(Path::new("/")).join("migration-reports").join(format!("{kind}_{stamp}"))
    });
    report.report_dir = Some(report_dir.clone());
    crate::legacy::run::write_report(&report, &report_dir)?;
    print(cli.json, &report, || report.summary());
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
