//! The `trader` binary on real data directories: init, health, backup and restore, GC, bad input.

use std::path::PathBuf;
use std::process::Command;

use system_tests::{content_digest, describe, file_hashes, trader, trader_bin};

const EIGHT: [&str; 8] = ["universe", "config", "ledger", "portfolio", "satellites", "agents", "history", "cache"];

struct DataDir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl DataDir {
    fn new() -> DataDir {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data");
        DataDir { _tmp: tmp, path }
    }
    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
    fn db(&self, name: &str) -> PathBuf {
        self.path.join(format!("{name}.db"))
    }
    /// Runs `trader` with `--data` set to this directory.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--data", self.arg()]);
        trader(&all)
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "trader {args:?}: {}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    }
    fn digests(&self) -> Vec<String> {
        EIGHT.iter().filter(|n| **n != "cache").map(|n| content_digest(&self.db(n))).collect()
    }
}

#[test]
fn init_makes_eight_databases_an_independent_reader_agrees_with() {
    let data = DataDir::new();
    data.ok(&["init"]);
    let mut names: Vec<String> = std::fs::read_dir(&data.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db"))
        .collect();
    names.sort();
    let mut expected: Vec<String> = EIGHT.iter().map(|n| format!("{n}.db")).collect();
    expected.sort();
    assert_eq!(names, expected);

    // Python's sqlite3 module reads the files with no code of ours involved.
    let script = r#"
import sqlite3, sys, json
out = {}
for name in sys.argv[2:]:
    c = sqlite3.connect(f"{sys.argv[1]}/{name}.db")
    q = lambda p: c.execute(f"PRAGMA {p}").fetchall()
    out[name] = {
        "journal_mode": q("journal_mode")[0][0],
        "auto_vacuum": q("auto_vacuum")[0][0],
        "user_version": q("user_version")[0][0],
        "integrity_check": [r[0] for r in q("integrity_check")],
        "tables": sorted(r[0] for r in c.execute("SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%'")),
    }
print(json.dumps(out))
"#;
    let python = Command::new("python3").arg("-c").arg(script).arg(&data.path).args(EIGHT).output();
    let Some(python) = python.ok().filter(|o| o.status.success()) else {
        eprintln!("NOTICE: python3 with sqlite3 is not available; skipping the independent check");
        return;
    };
    let seen: serde_json::Value = serde_json::from_slice(&python.stdout).unwrap();
    for name in EIGHT {
        let db = &seen[name];
        let auto_vacuum = match name {
            "ledger" => 0,
            "cache" => 1,
            _ => 2,
        };
        assert_eq!(db["journal_mode"], "wal", "{name}");
        assert_eq!(db["auto_vacuum"], auto_vacuum, "{name}");
        assert!(db["user_version"].as_i64().unwrap() >= 1, "{name}");
        assert_eq!(db["integrity_check"], serde_json::json!(["ok"]), "{name}");
        let spec = trader::store::DbName::from_name(name).unwrap().spec();
        assert_eq!(db["tables"], serde_json::json!(spec.tables), "{name}: only its own tables");
    }
}

#[test]
fn a_second_init_changes_nothing() {
    let data = DataDir::new();
    data.ok(&["init"]);
    let before = file_hashes(&data.path);
    let second = data.ok(&["init"]);
    assert!(second.contains("nothing to do"), "{second}");
    assert_eq!(file_hashes(&data.path), before);
}

#[test]
fn damaged_files_are_named_by_health_and_refused_by_init() {
    let data = DataDir::new();
    data.ok(&["init"]);
    data.ok(&["backup", "--kind", "daily"]);
    std::fs::write(data.db("history"), b"this is not a database, it is a shopping list").unwrap();
    let ledger = std::fs::read(data.db("ledger")).unwrap();
    std::fs::write(data.db("ledger"), &ledger[..ledger.len() / 3]).unwrap();
    let before = file_hashes(&data.path);

    let health = data.run(&["health"]);
    assert_eq!(health.status.code(), Some(1), "{}", describe(&health));
    let text = String::from_utf8_lossy(&health.stdout);
    assert!(text.contains("history.db") && text.contains("not a SQLite database"), "{text}");
    assert!(text.contains("ledger.db"), "{text}");

    let init = data.run(&["init"]);
    assert_eq!(init.status.code(), Some(1), "{}", describe(&init));
    let err = String::from_utf8_lossy(&init.stderr);
    assert!(err.contains("history.db") || err.contains("ledger.db"), "{err}");
    assert_eq!(file_hashes(&data.path), before, "a refused init changed the directory");
}

#[test]
fn a_newer_schema_is_refused_naming_the_file_and_both_versions() {
    let data = DataDir::new();
    data.ok(&["init"]);
    rusqlite::Connection::open(data.db("satellites")).unwrap().pragma_update(None, "user_version", 7).unwrap();
    let out = data.run(&["security", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("satellites.db") && err.contains("schema version 7") && err.contains("up to 1"), "{err}");
}

#[test]
fn bad_usage_exits_2_and_help_teaches() {
    let out = trader(&["backup", "--kind", "yearly"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = trader(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    let help = trader(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["init", "demo-data", "health", "backup", "restore", "gc", "--data", "Exit codes"] {
        assert!(text.contains(word), "--help does not mention {word}:\n{text}");
    }
}

#[test]
fn health_json_reports_every_database() {
    let data = DataDir::new();
    data.ok(&["demo-data", "--seed", "3"]);
    let json: serde_json::Value = serde_json::from_str(&data.ok(&["health", "--json"])).unwrap();
    let dbs = json["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 8);
    for db in dbs {
        assert_eq!(db["integrity_check"]["rows"], serde_json::json!(["ok"]), "{}", db["name"]);
        assert!(db["file_bytes"].as_u64().unwrap() > 0);
    }
    assert_eq!(json["status"], "warning", "a new directory has no backups yet");
    assert_eq!(json["gc"]["pending"][0]["symbol"], "INTC.US");
}

#[test]
fn backup_then_damage_then_restore_gives_back_the_same_content() {
    let data = DataDir::new();
    data.ok(&["demo-data"]);
    let original = data.digests();
    let made: serde_json::Value = serde_json::from_str(&data.ok(&["backup", "--json"])).unwrap();
    let set = PathBuf::from(made["path"].as_str().unwrap());

    std::fs::write(data.db("ledger"), b"ransom note").unwrap();
    std::fs::remove_file(data.db("history")).unwrap();
    rusqlite::Connection::open(data.db("config")).unwrap().execute("DELETE FROM settings", []).unwrap();
    assert_eq!(data.run(&["health"]).status.code(), Some(1));

    // Not while the daemon (anyone holding the lock) runs.
    let lock = std::fs::File::open(data.path.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let refused = data.run(&["restore", set.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("daemon is running"), "{}", describe(&refused));
    drop(lock);

    data.ok(&["restore", set.to_str().unwrap()]);
    assert_eq!(data.digests(), original);
    for name in EIGHT {
        assert!(!data.path.join(format!("{name}.db-wal")).exists() || name == "cache");
    }
    let health = data.run(&["health"]);
    assert!(health.status.success(), "{}", describe(&health));
    data.ok(&["backup", "verify", set.to_str().unwrap()]);
}

fn symbol_rows(data: &DataDir, db: &str, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(data.db(db)).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table} WHERE symbol = 'INTC.US'"), [], |r| r.get(0)).unwrap()
}

/// The demo removes INTC.US ten days before its end; thirty days of grace put the purge 20 days later.
fn demo_with_a_removed_security() -> DataDir {
    let data = DataDir::new();
    data.ok(&["demo-data", "--now", "2026-01-01T12:00:00Z"]);
    assert!(symbol_rows(&data, "history", "daily_prices") > 700);
    data
}

#[test]
fn gc_waits_for_the_grace_period_then_purges_all_but_the_ledger() {
    let data = demo_with_a_removed_security();
    let ledger_before = content_digest(&data.db("ledger"));
    data.ok(&["gc", "--now", "2026-01-20T00:00:00Z"]);
    assert!(symbol_rows(&data, "history", "daily_prices") > 700, "purged inside the grace period");
    let hashes = file_hashes(&data.path);
    let dry = data.ok(&["gc", "--dry-run", "--now", "2026-02-01T00:00:00Z"]);
    assert!(dry.contains("would_purge") && dry.contains("INTC.US"), "{dry}");
    assert_eq!(file_hashes(&data.path), hashes, "--dry-run changed a file");

    let report: serde_json::Value =
        serde_json::from_str(&data.ok(&["gc", "--json", "--now", "2026-02-01T00:00:00Z"])).unwrap();
    assert_eq!(report["securities"][0]["action"], "purged");
    assert_eq!(symbol_rows(&data, "history", "daily_prices"), 0);
    assert_eq!(symbol_rows(&data, "history", "monthly_prices"), 0);
    assert_eq!(symbol_rows(&data, "universe", "securities"), 0);
    assert_eq!(content_digest(&data.db("ledger")), ledger_before, "GC touched the ledger");
    let log: i64 = rusqlite::Connection::open(data.db("universe"))
        .unwrap()
        .query_row("SELECT count(*) FROM gc_log WHERE symbol = 'INTC.US' AND action = 'purged'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(log, 4, "one gc_log row per database step");
}

#[test]
fn gc_killed_between_databases_is_finished_by_the_next_run() {
    let reference = demo_with_a_removed_security();
    reference.ok(&["gc", "--now", "2026-02-01T00:00:00Z"]);
    for step in ["history", "portfolio", "cache"] {
        let data = demo_with_a_removed_security();
        let crashed = Command::new(trader_bin())
            .args(["gc", "--data", data.arg(), "--now", "2026-02-01T00:00:00Z"])
            .env(trader::store::gc::ABORT_HOOK_ENV, step)
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "the hook did not abort after {step}: {}", describe(&crashed));
        assert_eq!(symbol_rows(&data, "history", "daily_prices"), 0, "{step}: history committed before the crash");
        assert_eq!(symbol_rows(&data, "universe", "securities"), 1, "{step}: the security row goes last");
        data.ok(&["gc", "--now", "2026-02-01T00:00:01Z"]);
        assert_eq!(symbol_rows(&data, "universe", "securities"), 0, "{step}: the rerun finished the purge");
        for (db, table) in [("portfolio", "scores"), ("cache", "recommendations"), ("history", "monthly_prices")] {
            assert_eq!(symbol_rows(&data, db, table), 0, "{step}: {db}.{table}");
        }
        for db in ["history", "portfolio", "cache", "ledger"] {
            assert_eq!(
                content_digest(&data.db(db)),
                content_digest(&reference.db(db)),
                "{step}: {db} differs from a clean run"
            );
        }
    }
}

#[test]
fn demo_data_refuses_a_directory_with_data() {
    let data = DataDir::new();
    data.ok(&["init"]);
    let before = file_hashes(&data.path);
    let out = data.run(&["demo-data"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds databases"));
    assert_eq!(file_hashes(&data.path), before);
}
