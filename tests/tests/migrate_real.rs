//! The real migration of the legacy sample: idempotence, rollback to the byte, and convergence after a SIGKILL-
//! like abort at every phase boundary and inside the switch-over.

use std::path::Path;
use std::process::Command;

use system_tests::{content_digest, describe, file_hashes, trader, trader_bin};

const NEW: [&str; 8] = ["universe", "config", "ledger", "portfolio", "satellites", "agents", "history", "cache"];
const NOW: &str = "2026-01-10T00:00:00Z";

fn migrate(data: &Path, abort_at: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(trader_bin());
    cmd.args(["migrate", "--data", data.to_str().unwrap(), "--now", NOW]);
    if let Some(point) = abort_at {
        cmd.env(trader::legacy::switch::ABORT_HOOK_ENV, point);
    }
    cmd.output().unwrap()
}

fn new_digests(data: &Path) -> Vec<String> {
    NEW.iter().map(|n| content_digest(&data.join(format!("{n}.db")))).collect()
}

/// Content digests of the legacy files wherever they are now (in place, or archived by the switch-over).
fn legacy_digests(data: &Path, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let here = data.join(n);
            if here.exists() && !trader::legacy::source::is_new_format(&here) {
                return content_digest(&here);
            }
            let archive = std::fs::read_dir(data.join("archive"))
                .unwrap()
                .flatten()
                .find(|e| e.file_name().to_string_lossy().starts_with("legacy_"))
                .unwrap()
                .path();
            content_digest(&archive.join(n))
        })
        .collect()
}

#[test]
fn migrate_is_idempotent_and_rollback_restores_the_legacy_files() {
    let Some(sample) = system_tests::legacy_sample() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    system_tests::copy_tree(&sample, &data);
    let out = migrate(&data, None);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(data.join("MIGRATED_FROM_LEGACY.json").is_file());
    let health = trader(&["health", "--data", data.to_str().unwrap()]);
    assert!(health.status.success(), "{}", describe(&health));

    let before = file_hashes(&data);
    let again = migrate(&data, None);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already_migrated"));
    assert_eq!(file_hashes(&data), before, "a second migrate changed something");

    let rollback = trader(&["migrate", "rollback", "--data", data.to_str().unwrap()]);
    assert!(rollback.status.success(), "{}", describe(&rollback));
    let manifest_path =
        std::fs::read_dir(data.join("backups")).unwrap().flatten().next().unwrap().path().join("manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(manifest_path).unwrap()).unwrap();
    for f in manifest["files"].as_array().unwrap() {
        let path = data.join(f["path"].as_str().unwrap());
        assert_eq!(
            trader::store::backup::sha256_file(&path).unwrap(),
            f["backup_sha256"].as_str().unwrap(),
            "{}",
            path.display()
        );
        assert!(!Path::new(&format!("{}-wal", path.display())).exists());
    }
    for name in ["ledger.db", "config.db", "state.db"] {
        assert_eq!(
            content_digest(&data.join(name)),
            content_digest(&sample.join(name)),
            "{name}: content differs from the original"
        );
    }
    assert!(!data.join("universe.db").exists());
    let backup = std::fs::read_dir(data.join("backups")).unwrap().flatten().next().unwrap().path();
    let record = std::fs::read_dir(&backup)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("rollback_"));
    assert!(record.is_some_and(|r| r.path().join("report.json").is_file()), "the rollback left no report");
    let twice = trader(&["migrate", "rollback", "--data", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&twice.stdout).contains("already rolled back"), "{}", describe(&twice));
}

#[test]
fn an_interrupted_migration_converges_to_the_uninterrupted_result() {
    let Some(sample) = system_tests::legacy_sample() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    system_tests::copy_tree(&sample, &reference);
    assert!(migrate(&reference, None).status.success());
    let expected = new_digests(&reference);
    let legacy_names: Vec<String> =
        ["config.db", "ledger.db", "state.db", "calculations.db", "history/AAPL_US.db"].map(String::from).to_vec();
    let original_legacy = legacy_digests(&sample, &legacy_names);

    for point in ["after-backup", "after-build", "after-verify", "move-1", "move-9", "move-18"] {
        let data = tmp.path().join(point);
        system_tests::copy_tree(&sample, &data);
        let crashed = migrate(&data, Some(point));
        assert!(!crashed.status.success(), "{point}: the hook did not abort: {}", describe(&crashed));
        assert_eq!(legacy_digests(&data, &legacy_names), original_legacy, "{point}: a legacy file was modified");
        if point.starts_with("move-") {
            let refused = trader(&["health", "--data", data.to_str().unwrap()]);
            assert!(!refused.status.success(), "{point}: health passed during a switch-over");
        }
        let rerun = migrate(&data, None);
        assert!(rerun.status.success(), "{point}: {}", describe(&rerun));
        assert_eq!(new_digests(&data), expected, "{point}: the result differs from an uninterrupted run");
        assert!(!data.join("migration-journal.json").exists());
    }
}
