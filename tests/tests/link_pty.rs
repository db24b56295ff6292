//! The daemon's link against the simulated MCU over real ptys: the MCU shows what the daemon wants, through
//! byte corruption, unplugging, MCU resets and a version mismatch. (Path-based opening of a pty does not work
//! under qemu-user, hardware.md §7.6; these tests run natively.)
#![cfg(not(target_arch = "aarch64"))]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use display_engine::render;
use proto::{DisplayState, Indicator, Pattern, Rgb, Scene, text};
use tokio::sync::watch;
use trader::link::{self, LinkConfig, LinkState, SharedStats};
use trader::sim::{SimConfig, SimMcu};

fn ticker(s: &str) -> DisplayState {
    DisplayState {
        scene: Scene::Ticker { text: text(s), step_ms: 50 },
        led3: Indicator {
            colour: Rgb { r: 0, g: 255, b: 0 },
            pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: false },
        },
        led4: Indicator { colour: Rgb { r: 255, g: 165, b: 0 }, pattern: Pattern::Solid },
        brightness: 200,
    }
}

struct Daemon {
    desired: watch::Sender<DisplayState>,
    stop: watch::Sender<bool>,
    stats: SharedStats,
    task: tokio::task::JoinHandle<()>,
}

fn start_link(device: &Path, first: DisplayState) -> Daemon {
    let (desired, desired_rx) = watch::channel(first);
    let (stop, stop_rx) = watch::channel(false);
    let stats = SharedStats::default();
    let task = tokio::spawn(link::run(LinkConfig::new(device), desired_rx, stats.clone(), stop_rx));
    Daemon { desired, stop, stats, task }
}

/// Poll until the simulated MCU holds `want` and renders it, or `within` passes; returns how long it took.
async fn converges(sim: &SimMcu, want: &DisplayState, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let snap = sim.snapshot();
        if &snap.state == want {
            // The scene sent is the scene rendered: the MCU's framebuffer equals the daemon-side rendering of
            // the desired state at the same scroll position.
            assert_eq!(snap.shown.frame, render::frame(want, snap.scene_elapsed_ms), "framebuffer of {want:?}");
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "the MCU did not converge within {within:?}: it holds {:?}", snap.state);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_for_state(stats: &SharedStats, state: LinkState, within: Duration) {
    let start = Instant::now();
    while stats.snapshot().state != state {
        assert!(start.elapsed() < within, "link never reached {state:?}: {:?}", stats.snapshot());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scene_sent_is_the_scene_rendered_and_changes_follow() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: proto::PROTOCOL_VERSION }).unwrap();
    let daemon = start_link(sim.link_path(), ticker("PORTFOLIO EUR12,345 * CASH EUR675"));
    converges(&sim, &ticker("PORTFOLIO EUR12,345 * CASH EUR675"), Duration::from_secs(5)).await;
    wait_for_state(&daemon.stats, LinkState::InSync, Duration::from_secs(2)).await;
    let lit_after_a_while = {
        tokio::time::sleep(Duration::from_millis(400)).await;
        sim.snapshot().shown.frame.lit()
    };
    assert!(lit_after_a_while > 0, "the ticker scrolled into view");

    let mut next = ticker("BUY XIAO EUR855");
    next.scene = Scene::Error { text: text("FX USD MISSING") };
    daemon.desired.send(next.clone()).unwrap();
    converges(&sim, &next, Duration::from_secs(2)).await;
    // The first heartbeat of a session asks for the MCU's diagnostics.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let stats = daemon.stats.snapshot();
    assert_eq!((stats.crc_errors, stats.decode_errors), (0, 0));
    let mcu = stats.mcu_diagnostics.as_ref().expect("diagnostics after a heartbeat period");
    assert!(mcu.frames_received >= 5 && mcu.crc_errors == 0, "{mcu:?}");
    assert!(stats.max_rtt > Duration::ZERO && stats.max_rtt < Duration::from_millis(150), "{stats:?}");
    daemon.stop.send(true).unwrap();
    daemon.task.await.unwrap();
    let farewell = sim.snapshot().state.scene;
    assert_eq!(farewell, Scene::Ticker { text: text("TRADER STOPPED"), step_ms: 50 }, "the last scene says so");
}

/// A relay between two ptys that flips one bit in a byte with probability `per_million`/1e6.
struct Relay {
    per_million: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// The daemon opens `daemon_side`; the relay opens the simulated MCU's published path.
    fn start(daemon_side: &Path, mcu_path: &Path) -> Relay {
        let master = trader::sim::open_pty(daemon_side).unwrap();
        let mcu = std::fs::OpenOptions::new().read(true).write(true).open(mcu_path).unwrap();
        rustix::fs::fcntl_setfl(&mcu, rustix::fs::OFlags::NONBLOCK).unwrap();
        let per_million = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (rate, halt) = (Arc::clone(&per_million), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
            let mut buf = [0u8; 512];
            while !halt.load(Ordering::Relaxed) {
                for (from, to) in [(&master as &dyn std::os::fd::AsFd, &mcu as &dyn std::os::fd::AsFd), (&mcu, &master)]
                {
                    if let Ok(n @ 1..) = rustix::io::read(from.as_fd(), &mut buf) {
                        for byte in &mut buf[..n] {
                            if rng.random_range(0..1_000_000) < rate.load(Ordering::Relaxed) {
                                *byte ^= 1 << rng.random_range(0..8);
                            }
                        }
                        let _ = rustix::io::write(to.as_fd(), &buf[..n]);
                    }
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        Relay { per_million, stop, thread: Some(thread) }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_percent_of_bytes_corrupted_the_mcu_converges_within_a_second_after() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: proto::PROTOCOL_VERSION }).unwrap();
    let relay = Relay::start(&dir.path().join("daemon-side"), sim.link_path());
    let daemon = start_link(&dir.path().join("daemon-side"), ticker("START"));
    converges(&sim, &ticker("START"), Duration::from_secs(5)).await;

    relay.per_million.store(10_000, Ordering::Relaxed);
    let mut last = ticker("START");
    for i in 0..20 {
        last = ticker(&format!("PORTFOLIO EUR{},000 * CASH EUR{i} * SELL SAP EUR1,200", 10 + i));
        last.brightness = 100 + i as u8;
        daemon.desired.send(last.clone()).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    relay.per_million.store(0, Ordering::Relaxed);
    let took = converges(&sim, &last, Duration::from_secs(1)).await;
    let stats = daemon.stats.snapshot();
    assert!(stats.crc_errors + stats.decode_errors + stats.retransmits > 0, "the corruption was real: {stats:?}");
    eprintln!("converged {took:?} after the corruption stopped; {stats:?}; MCU {:?}", sim.diagnostics());
    daemon.stop.send(true).unwrap();
    daemon.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugging_the_device_keeps_the_daemon_running_and_replugging_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: proto::PROTOCOL_VERSION }).unwrap();
    let daemon = start_link(sim.link_path(), ticker("BEFORE"));
    converges(&sim, &ticker("BEFORE"), Duration::from_secs(5)).await;

    sim.disconnect();
    wait_for_state(&daemon.stats, LinkState::Disconnected, Duration::from_secs(3)).await;
    daemon.desired.send(ticker("WHILE AWAY")).unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!daemon.task.is_finished(), "the daemon's link keeps running without its device");

    sim.reconnect().unwrap();
    converges(&sim, &ticker("WHILE AWAY"), Duration::from_secs(8)).await;
    assert!(daemon.stats.snapshot().connects >= 2);

    // An MCU reset loses its state; the daemon notices (hello / NeedHello) and sends everything again.
    sim.reset();
    assert_eq!(sim.snapshot().state, DisplayState::default());
    converges(&sim, &ticker("WHILE AWAY"), Duration::from_secs(3)).await;
    assert!(daemon.stats.snapshot().mcu_resets >= 1);
    daemon.stop.send(true).unwrap();
    daemon.task.await.unwrap();
}

/// Log lines written by the link, captured for the assertion below.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_version_mismatch_is_logged_and_shown_and_nothing_crashes() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread, so the link's task logs through the subscriber set above.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let theirs = proto::PROTOCOL_VERSION + 1;
        let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: theirs }).unwrap();
        let daemon = start_link(sim.link_path(), ticker("NEVER SHOWN"));
        wait_for_state(&daemon.stats, LinkState::VersionMismatch, Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!daemon.task.is_finished());
        let shown = sim.snapshot().shown;
        assert_eq!(shown.led3, Rgb { r: 255, g: 0, b: 0 }, "LED3 red on the MCU");
        assert_eq!(shown.frame.rows[7], [255; 13], "the error scene's steady line");
        assert_ne!(sim.snapshot().state, ticker("NEVER SHOWN"));
        daemon.stop.send(true).unwrap();
        daemon.task.await.unwrap();
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let expected = format!(
        "the MCU speaks link protocol v{}, this daemon v{}",
        proto::PROTOCOL_VERSION + 1,
        proto::PROTOCOL_VERSION
    );
    assert!(text.contains("ERROR") && text.contains(&expected), "log:\n{text}");
}
