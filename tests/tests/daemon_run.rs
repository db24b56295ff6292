//! `trader run` as a process: on demo data with the simulated MCU on a pty, its console, SIGTERM while jobs
//! write, SIGHUP with a changed configuration, and a configuration it must refuse.
#![cfg(not(target_arch = "aarch64"))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use display_engine::render;
use system_tests::{trader, trader_bin};
use trader::sim::{SimConfig, SimMcu};

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    sim: SimMcu,
    started: Instant,
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("trader.toml");
    let text = format!(
        "data_dir = \"{d}/data\"\nlog_level = \"info\"\n[link]\ndevice = \"{d}/mcu\"\n[console]\nsocket = \"{d}/console.sock\"\nsocket_group = \"\"\n{extra}",
        d = dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

impl Daemon {
    fn start(extra: &str) -> Daemon {
        Self::start_with(extra, &[])
    }

    fn start_with(extra: &str, env: &[(&str, &Path)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(trader(&["demo-data", "--data", data.to_str().unwrap()]).status.success());
        let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: proto::PROTOCOL_VERSION }).unwrap();
        let config = config(dir.path(), extra);
        let started = Instant::now();
        let child = Command::new(trader_bin())
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_path_buf())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Daemon { child, dir, sim, started }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("console.sock")
    }

    fn console(&self, command: &[&str]) -> (bool, String) {
        let socket = self.socket();
        let out = Command::new(trader_bin())
            .args(["console", "--socket", socket.to_str().unwrap()])
            .args(command)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn console_json(&self, command: &[&str]) -> serde_json::Value {
        let socket = self.socket();
        let out = Command::new(trader_bin())
            .args(["--json", "console", "--socket", socket.to_str().unwrap()])
            .args(command)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Wait until the simulated MCU shows a scene from the daemon (any non-default state); how long it took.
    fn first_scene(&self) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.sim.snapshot().state != proto::DisplayState::default() {
                return self.started.elapsed();
            }
            assert!(Instant::now() < deadline, "no scene reached the MCU");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn signal(&self, signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal).unwrap();
    }

    /// Wait for the exit; the status and how long it took.
    fn wait(&mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let since = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, since.elapsed());
            }
            if since.elapsed() > within {
                let _ = self.child.kill();
                panic!("trader run did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_for_console(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.console(&["help"]).0 {
            assert!(Instant::now() < deadline, "the console never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_daemon_shows_the_portfolio_on_the_mcu_and_answers_every_console_command() {
    let daemon = Daemon::start("");
    let took = daemon.first_scene();
    eprintln!("first scene acked by the simulated MCU {took:?} after spawning `trader run`");
    daemon.wait_for_console();
    for command in [
        &["help"][..],
        &["status"],
        &["health"],
        &["link"],
        &["db"],
        &["display"],
        &["gc", "--dry-run"],
        &["log", "20"],
    ] {
        let (ok, text) = daemon.console(command);
        assert!(ok && !text.trim().is_empty(), "{command:?} answered {ok}: {text}");
    }
    let (ok, text) = daemon.console(&["backup", "now"]);
    assert!(ok && text.contains("backup.daily done"), "{text}");
    let (ok, text) = daemon.console(&["frobnicate"]);
    assert!(!ok && text.contains("unknown command"), "{text}");

    let status = daemon.console_json(&["status"]);
    assert!(status["scene"].as_str().unwrap().contains("PORTFOLIO EUR"), "{status}");
    let link = daemon.console_json(&["link"]);
    assert_eq!(link["state"], "in_sync", "{link}");
    let dbs = daemon.console_json(&["db"]);
    assert_eq!(dbs.as_array().unwrap().len(), 8);

    // `display` is what the MCU shows: the same state (digest) and the same framebuffer, up to the ticker's
    // scroll phase between the two clocks (a few milliseconds).
    let display = daemon.console_json(&["display"]);
    let snapshot = daemon.sim.snapshot();
    assert_eq!(display["digest"].as_u64().unwrap(), snapshot.state.digest() as u64);
    let rows: Vec<String> =
        display["rows"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
    let elapsed = display["scene_elapsed_ms"].as_u64().unwrap() as u32;
    let matches = (elapsed.saturating_sub(300)..elapsed + 300).any(|e| {
        let frame = render::frame(&snapshot.state, e);
        frame
            .rows
            .iter()
            .map(|r| r.iter().map(|&l| if l > 0 { '#' } else { '.' }).collect::<String>())
            .collect::<Vec<_>>()
            == rows
    });
    assert!(matches, "the console's matrix is one the MCU shows:\n{}", rows.join("\n"));
}

#[test]
fn sigterm_while_jobs_write_exits_zero_quickly_with_every_database_intact_and_checkpointed() {
    let mut daemon = Daemon::start("");
    daemon.first_scene();
    // The catch-up backups of a fresh directory are running now.
    daemon.signal(rustix::process::Signal::TERM);
    let (status, took) = daemon.wait(Duration::from_secs(5));
    assert!(status.success(), "exit status {status}");
    eprintln!("stopped {took:?} after SIGTERM");
    let data = daemon.dir.path().join("data");
    for name in ["universe", "config", "ledger", "portfolio", "satellites", "agents", "history", "cache"] {
        let path = data.join(format!("{name}.db"));
        let wal = data.join(format!("{name}.db-wal"));
        assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true), "{name}.db-wal checkpointed");
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "{name}.db");
    }
    assert_eq!(
        daemon.sim.snapshot().state.scene,
        proto::Scene::Ticker { text: proto::text("TRADER STOPPED"), step_ms: 50 }
    );
}

#[test]
fn sighup_applies_a_changed_configuration_without_a_restart() {
    let daemon = Daemon::start("");
    daemon.first_scene();
    daemon.wait_for_console();
    let before = daemon.console_json(&["status"]);
    assert!(before["scene"].as_str().unwrap().contains("CASH EUR"));
    config(daemon.dir.path(), "[display]\nticker_show_cash = false\n");
    daemon.signal(rustix::process::Signal::HUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let scene = format!("{:?}", daemon.sim.snapshot().state.scene);
        if scene.contains("PORTFOLIO EUR") && !scene.contains("CASH") {
            break;
        }
        assert!(Instant::now() < deadline, "the reload never reached the MCU: {scene}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = daemon.console_json(&["status"]);
    assert!(after["uptime_seconds"].as_u64() >= before["uptime_seconds"].as_u64(), "the same process");
}

#[test]
fn a_configuration_with_an_unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "[display]\nticker_speeed_ms = 30\n");
    let out = Command::new(trader_bin()).args(["run", "--config", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `ticker_speeed_ms`") && stderr.contains("trader.toml"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // WATCHDOG_USEC as systemd sets it for WatchdogSec=: pings come at half the interval.
    let env = [("NOTIFY_SOCKET", socket_path.as_path()), ("WATCHDOG_USEC", Path::new("200000"))];
    let mut daemon = Daemon::start_with("", &env);
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    while !heard.iter().any(|m: &String| m == "READY=1") {
        let n = socket.recv(&mut buf).expect("READY=1 from the daemon");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    while !heard.iter().any(|m| m == "WATCHDOG=1") {
        let n = socket.recv(&mut buf).expect("WATCHDOG=1 from the daemon");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    daemon.signal(rustix::process::Signal::TERM);
    while !heard.iter().any(|m| m == "STOPPING=1") {
        let n = socket.recv(&mut buf).expect("STOPPING=1 from the daemon");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(daemon.wait(Duration::from_secs(5)).0.success(), "{heard:?}");
}

#[test]
fn the_console_also_answers_on_a_serial_tty() {
    let dir = tempfile::tempdir().unwrap();
    let tty = dir.path().join("gadget");
    let master = trader::sim::open_pty(&tty).unwrap();
    let daemon = Daemon::start(&format!("serial = \"{}\"\n", tty.display()));
    daemon.first_scene();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answer = Vec::new();
    let mut asked = Instant::now() - Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("\n.\n") {
        assert!(Instant::now() < deadline, "no answer on the serial console: {}", String::from_utf8_lossy(&answer));
        if asked.elapsed() > Duration::from_secs(2) {
            // The daemon opens the tty shortly after its start; ask again until it listens.
            let _ = rustix::io::write(&master, b"status\n");
            asked = Instant::now();
        }
        if let Ok(n @ 1..) = rustix::io::read(&master, &mut buf) {
            answer.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("trader 0.1.0 up") && text.contains("scene Ticker"), "{text}");
}

#[test]
fn the_allocation_view_reaches_the_mcu_when_configured() {
    let daemon = Daemon::start("[display]\nmode = \"allocation\"\n");
    daemon.first_scene();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let proto::Scene::Bars(bars) = daemon.sim.snapshot().state.scene {
            assert!(!bars.is_empty() && bars.iter().all(|b| b.current <= 8 && b.target <= 8), "{bars:?}");
            assert!(bars.iter().any(|b| b.current == 8 || b.target == 8), "scaled to the page's largest share");
            break;
        }
        assert!(Instant::now() < deadline, "no allocation page reached the MCU");
        std::thread::sleep(Duration::from_millis(20));
    }
}
