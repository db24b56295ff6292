//! Backups, retention and restore (storage.md §12), on real files.

mod common;

use chrono::Duration;
use common::{at, fresh_store, outside, trade};
use trader::store::backup::{self, BackupKind};
use trader::store::{DbName, OpenMode, Side, Store};

fn no_progress(_: DbName) {}

#[test]
fn backup_never_fails_when_target_exists() {
    let (_dir, store) = fresh_store();
    let now = at("2026-01-02T01:07:00Z");
    let first = backup::make_set(store.dir(), BackupKind::Daily, now, &no_progress).unwrap();
    let second = backup::make_set(store.dir(), BackupKind::Daily, now, &no_progress).unwrap();
    let third = backup::make_set(store.dir(), BackupKind::Daily, now, &no_progress).unwrap();
    let names: Vec<String> =
        [&first, &second, &third].iter().map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["20260102T010700Z", "20260102T010700Z-1", "20260102T010700Z-2"]);
    assert_eq!(first.manifest.files.len(), 7, "every database but the cache");
    assert!(first.manifest.files.iter().all(|f| f.integrity == "ok" && f.db != "cache"));
}

#[test]
fn a_set_is_self_contained_checked_and_verifiable() {
    let (_dir, store) = fresh_store();
    store.trades().insert(&trade("SAP.EU", Side::Buy, "2", "120.5", Some("O1"), "2026-01-02T10:00:00Z")).unwrap();
    let report = backup::make_set(store.dir(), BackupKind::Hourly, at("2026-01-02T11:07:00Z"), &no_progress).unwrap();
    assert_eq!(report.manifest.files.len(), 1);
    let copy = report.path.join("ledger.db");
    let conn = outside(&copy);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "a backup copy is a single self-contained file");
    let quantity: String = conn.query_row("SELECT quantity FROM trades", [], |r| r.get(0)).unwrap();
    assert_eq!(quantity, "2");
    drop(conn);
    assert!(backup::verify_set(&report.path).unwrap().ok);

    // Flip one byte in the copy: verification names the file.
    let mut bytes = std::fs::read(&copy).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&copy, bytes).unwrap();
    let verified = backup::verify_set(&report.path).unwrap();
    assert!(!verified.ok);
    assert!(verified.files[0].problems[0].contains("ledger.db: SHA-256 differs"), "{:?}", verified.files[0].problems);
}

#[test]
fn retention_keeps_the_newest_set_and_ignores_foreign_names() {
    let (_dir, store) = fresh_store();
    let start = at("2026-01-01T01:07:00Z");
    for day in 0..40 {
        backup::make_set(store.dir(), BackupKind::Daily, start + Duration::days(day), &no_progress).unwrap();
    }
    let kept = backup::sets(store.dir(), BackupKind::Daily);
    assert_eq!(kept.len(), 31, "30 days back from the newest, inclusive");
    assert_eq!(kept.last().unwrap().created_at, start + Duration::days(39));
    let foreign = store.dir().join("backups/daily/keep-me");
    std::fs::create_dir(&foreign).unwrap();
    // A long downtime: the newest set is far older than its retention, yet kept.
    let report = backup::apply_retention(store.dir(), BackupKind::Daily, start + Duration::days(400)).unwrap();
    assert_eq!(report.len(), 30);
    assert_eq!(backup::sets(store.dir(), BackupKind::Daily).len(), 1);
    assert!(foreign.exists(), "a directory whose name does not parse was deleted");
}

#[test]
fn leftovers_of_a_crashed_run_are_removed() {
    let (_dir, store) = fresh_store();
    let partial = store.dir().join("backups/weekly/20260101T011700Z.partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("ledger.db"), b"half").unwrap();
    backup::make_set(store.dir(), BackupKind::Weekly, at("2026-01-04T01:17:00Z"), &no_progress).unwrap();
    assert!(!partial.exists());
    assert_eq!(backup::sets(store.dir(), BackupKind::Weekly).len(), 1);
}

#[test]
fn restore_removes_stale_wal_and_shm() {
    let (_dir, store) = fresh_store();
    store.trades().insert(&trade("SAP.EU", Side::Buy, "1", "100", Some("before"), "2026-01-02T10:00:00Z")).unwrap();
    let set = backup::make_set(store.dir(), BackupKind::Daily, at("2026-01-02T11:00:00Z"), &no_progress).unwrap();
    store.trades().insert(&trade("SAP.EU", Side::Buy, "1", "100", Some("after"), "2026-01-02T12:00:00Z")).unwrap();
    let dir = store.dir().to_owned();
    // Keep the WAL holding the later write, and put it back beside the file after the clean close, as a crash
    // would leave it: replayed onto the restored copy, it would bring the later write back.
    let wal = std::fs::read(dir.join("ledger.db-wal")).unwrap();
    let shm = std::fs::read(dir.join("ledger.db-shm")).unwrap();
    assert!(!wal.is_empty());
    drop(store);
    std::fs::write(dir.join("ledger.db-wal"), &wal).unwrap();
    std::fs::write(dir.join("ledger.db-shm"), &shm).unwrap();
    let report = backup::restore(&dir, &set.path, Some(&[DbName::Ledger]), at("2026-01-03T00:00:00Z")).unwrap();
    assert!(!dir.join("ledger.db-wal").exists() && !dir.join("ledger.db-shm").exists());
    assert_eq!(std::fs::read(report.archived_to.join("ledger.db-wal")).unwrap(), wal, "the stale WAL is archived");
    assert_eq!(report.restored, vec![DbName::Ledger]);
    assert!(report.archived_to.join("ledger.db").exists(), "the replaced file is archived, not deleted");
    assert!(!report.warnings.is_empty(), "a partial restore warns about dangling references");
    let store = Store::open(&dir, OpenMode::Existing).unwrap();
    assert!(store.trades().get_by_order_id("before").unwrap().is_some());
    assert!(store.trades().get_by_order_id("after").unwrap().is_none());
}

#[test]
fn restore_refuses_a_damaged_set_and_changes_nothing() {
    let (_dir, store) = fresh_store();
    let set = backup::make_set(store.dir(), BackupKind::Daily, at("2026-01-02T11:00:00Z"), &no_progress).unwrap();
    let dir = store.dir().to_owned();
    drop(store);
    std::fs::write(set.path.join("config.db"), b"garbage").unwrap();
    let before = std::fs::read(dir.join("config.db")).unwrap();
    let err = backup::restore(&dir, &set.path, None, at("2026-01-03T00:00:00Z")).unwrap_err();
    assert!(err.to_string().contains("config.db"), "{err}");
    assert_eq!(std::fs::read(dir.join("config.db")).unwrap(), before);
    assert!(!dir.join("archive").exists());
}
