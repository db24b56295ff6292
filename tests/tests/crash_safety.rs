//! A process appending to the ledger is killed with SIGKILL at 50 random moments; after every kill each id it
//! printed (after its commit) is in ledger.db and the file passes integrity_check.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rusqlite::Connection;
use system_tests::{describe, trader};

#[test]
fn every_committed_trade_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = trader(&["init", "--data", data.to_str().unwrap()]);
    assert!(init.status.success(), "{}", describe(&init));

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill moments from seed {seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut printed_total = 0usize;
    for round in 0..50 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger_appender"))
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Anywhere from before the first commit to well into a stream of commits.
        std::thread::sleep(Duration::from_micros(rng.random_range(500..60_000)));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(stderr.is_empty() && status.code().is_none(), "round {round}: the appender failed by itself: {stderr}");
        let ids: Vec<i64> = stdout.lines().map(|l| l.parse().unwrap()).collect();
        printed_total += ids.len();

        let ledger = Connection::open(data.join("ledger.db")).unwrap();
        let integrity: String = ledger.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        let mut present = ledger.prepare("SELECT 1 FROM trades WHERE id = ?1").unwrap();
        for id in &ids {
            assert!(present.exists([id]).unwrap(), "round {round}: trade {id} was printed after commit but is gone");
        }
    }
    assert!(printed_total > 50, "the appender hardly ran ({printed_total} commits in 50 rounds)");
    eprintln!("{printed_total} committed trades survived 50 kills");
    let health = trader(&["health", "--data", data.to_str().unwrap()]);
    assert!(health.status.success(), "{}", describe(&health));
}
