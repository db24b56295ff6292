//! `trader demo`: the whole display chain on one machine, no board needed. A temporary data directory gets the
//! demo portfolio; the display is composed from it exactly as the daemon does; the link sends it over a real
//! pty to the simulated MCU, which runs the firmware's display engine; its matrix is drawn in the terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::sync::watch;

use crate::cli::DemoRunArgs;
use crate::display::{self, TickerSettings};
use crate::link::{self, LinkConfig, LinkStats, SharedStats};
use crate::sim::{SimConfig, SimMcu, render_terminal, text_rows};
use crate::store::values::Clock;
use crate::store::{OpenMode, Store};

/// How long the demo shows the "syncing" activity before the ticker, so both LED3 states are seen.
const SYNC_SHOWN: Duration = Duration::from_secs(2);
/// Terminal frame rate: smooth enough for a 50 ms scroll step.
const FRAME: Duration = Duration::from_millis(40);

#[derive(Serialize)]
struct DemoReport {
    ticker: String,
    /// The simulated MCU's state digest equalled the daemon's desired one when the demo stopped.
    in_sync: bool,
    link: LinkStats,
    matrix: String,
}

pub fn run(json: bool, args: &DemoRunArgs, clock: &dyn Clock) -> anyhow::Result<std::process::ExitCode> {
    let dir = tempfile::Builder::new().prefix("trader-demo-").tempdir().context("creating a temporary directory")?;
    let data = dir.path().join("data");
    let store = Store::open(&data, OpenMode::Init)?;
    crate::demo::fill(&store, args.seed, clock.now(), &|_| {})?;
    let inputs = display::inputs_from_store(&store, TickerSettings::default(), clock.now())?;
    let syncing = display::DisplayInputs { activity: Some("SYNCING".into()), sync_in_progress: true, ..inputs.clone() };
    let ticker = display::ticker_text(&inputs);
    let desired = display::compose(&inputs);

    let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: proto::PROTOCOL_VERSION })
        .context("starting the simulated MCU on a pty")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let terminal = std::io::stdout().is_terminal() && !json;
    let report = runtime.block_on(async {
        let (desired_tx, desired_rx) = watch::channel(display::compose(&syncing));
        let (stop_tx, stop_rx) = watch::channel(false);
        let stats = SharedStats::default();
        let link = tokio::spawn(link::run(LinkConfig::new(sim.link_path()), desired_rx, stats.clone(), stop_rx));
        if terminal {
            print!("\x1b[2J\x1b[?25l");
        }
        let started = tokio::time::Instant::now();
        let end = args.seconds.map(|s| started + Duration::from_secs(s));
        let mut frames = tokio::time::interval(FRAME);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = frames.tick() => {}
                _ = &mut ctrl_c => break,
            }
            if started.elapsed() >= SYNC_SHOWN && desired_tx.borrow().scene != desired.scene {
                desired_tx.send_replace(desired.clone());
            }
            if terminal {
                let link = stats.snapshot();
                print!(
                    "\x1b[Htrader demo — simulated UNO Q on {}  (Ctrl-C to stop)\x1b[K\n\n{}\n link {:?}, {} frames, rtt {} µs\x1b[K\n",
                    sim.link_path().display(),
                    render_terminal(&sim.snapshot().shown),
                    link.state,
                    link.frames_sent,
                    link.last_rtt.as_micros(),
                );
                let _ = std::io::stdout().flush();
            }
            if end.is_some_and(|end| tokio::time::Instant::now() >= end) {
                break;
            }
        }
        let snapshot = sim.snapshot();
        let in_sync = snapshot.state.digest() == desired_tx.borrow().digest();
        stop_tx.send_replace(true);
        let _ = link.await;
        if terminal {
            println!("\x1b[?25h");
        }
        DemoReport { ticker, in_sync, link: stats.snapshot(), matrix: text_rows(&snapshot.shown.frame).join("\n") + "\n" }
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !terminal {
        println!("ticker: {}", report.ticker);
        println!("display in sync: {}", if report.in_sync { "yes" } else { "no" });
        print!("{}", report.matrix);
        println!(
            "link: {} frames sent, {} received, {} retransmits, {} CRC errors",
            report.link.frames_sent, report.link.frames_received, report.link.retransmits, report.link.crc_errors
        );
    }
    Ok(if report.in_sync { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}
