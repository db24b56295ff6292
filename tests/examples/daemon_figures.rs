//! The runtime figures of the closing note, measured on this machine:
//!   cargo build --release -p trader && cargo run --release -p system-tests --example daemon_figures
//! Starts `trader run` (target/release/trader, or the path given) on demo data with the simulated MCU, and
//! reports the time from spawn to the first scene the MCU acknowledged, the idle RSS and CPU after the start's
//! catch-up jobs, and the size of the stripped aarch64 release binary if it was built.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trader::sim::{SimConfig, SimMcu};

fn stat_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| root.join("target/release/trader"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let demo = Command::new(&bin).args(["demo-data", "--data", &format!("{d}/data")]).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let config = dir.path().join("trader.toml");
    std::fs::write(
        &config,
        format!("data_dir = \"{d}/data\"\n[link]\ndevice = \"{d}/mcu\"\n[console]\nsocket = \"{d}/console.sock\"\nsocket_group = \"\"\n"),
    )
    .unwrap();
    let sim = SimMcu::start(SimConfig { link: dir.path().join("mcu"), protocol: proto::PROTOCOL_VERSION }).unwrap();
    let start = Instant::now();
    let mut child =
        Command::new(&bin).args(["run", "--config", config.to_str().unwrap()]).stderr(Stdio::null()).spawn().unwrap();
    while sim.snapshot().state == proto::DisplayState::default() {
        assert!(start.elapsed() < Duration::from_secs(30), "no scene reached the MCU");
        std::thread::sleep(Duration::from_micros(500));
    }
    let first_scene = start.elapsed();
    // Let the catch-up jobs of a fresh directory finish, then measure the idle daemon.
    std::thread::sleep(Duration::from_secs(15));
    let pid = child.id();
    let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
    let (t0, c0) = (Instant::now(), stat_ticks(pid));
    std::thread::sleep(Duration::from_secs(30));
    let cpu = (stat_ticks(pid) - c0) as f64 / ticks_per_second / t0.elapsed().as_secs_f64() * 100.0;
    let rss = rss_kib(pid);
    rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    println!("time from start to the first scene acked by the simulated MCU: {} ms", first_scene.as_millis());
    println!("idle RSS: {:.1} MiB", rss as f64 / 1024.0);
    println!("idle CPU over 30 s: {cpu:.2} %");
    println!("exit after SIGTERM: {status}");
    let board = root.join("target/aarch64-unknown-linux-gnu/release/trader");
    match std::fs::metadata(&board) {
        Ok(m) => println!("stripped aarch64 release binary: {:.2} MiB ({} bytes)", m.len() as f64 / 1048576.0, m.len()),
        Err(_) => println!(
            "aarch64 release binary not built (cargo build --release -p trader --target aarch64-unknown-linux-gnu)"
        ),
    }
}
