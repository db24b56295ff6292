//! The real legacy sample (../shared/fixtures/legacy-sample) migrates with exactly the numbers of
//! legacy-layout.md §8, checked against an independent recomputation from the legacy files.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use rusqlite::Connection;
use rust_decimal::Decimal;
use system_tests::{describe, file_hashes, trader};

/// Counts and REAL sums read straight from a legacy file, with no code of the migrator.
fn legacy(dir: &Path, file: &str) -> Connection {
    Connection::open(dir.join(file)).unwrap()
}

fn count(conn: &Connection, sql: &str) -> usize {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize
}

/// Σ of a REAL column as exact decimals of each value's shortest round-trip text.
fn exact_sum(conn: &Connection, sql: &str) -> Decimal {
    let mut stmt = conn.prepare(sql).unwrap();
    let values: Vec<f64> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    values.iter().map(|v| Decimal::from_str(&format!("{v}")).unwrap()).sum()
}

#[test]
fn the_legacy_sample_migrates_with_the_documented_numbers() {
    let Some(sample) = system_tests::legacy_sample() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    system_tests::copy_tree(&sample, &data);
    let before = file_hashes(&data);
    let reports = tmp.path().join("reports");
    let out = trader(&[
        "migrate",
        "--dry-run",
        "--json",
        "--data",
        data.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
        "--now",
        "2026-01-10T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(file_hashes(&data), before, "the dry run changed the legacy files");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["byte_identical"], true);
    assert!(reports.join("report.json").is_file() && reports.join("summary.txt").is_file());

    let rows: BTreeMap<String, u64> = report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["ok"], true, "{}", d["table"]);
            assert_eq!(d["expected_digest"], d["actual_digest"], "{}", d["table"]);
            (d["table"].as_str().unwrap().to_owned(), d["actual_rows"].as_u64().unwrap())
        })
        .collect();
    let expected: [(&str, u64); 26] = [
        ("securities", 67),
        ("country_groups", 0),
        ("industry_groups", 0),
        ("settings", 37),
        ("allocation_targets", 49),
        ("trades", 184),
        ("cash_flows", 3449),
        ("dividend_history", 1),
        ("positions", 10),
        ("scores", 33),
        ("calculated_metrics", 746),
        ("portfolio_snapshots", 6),
        ("buckets", 1),
        ("satellite_settings", 0),
        ("bucket_balances", 1),
        ("bucket_transactions", 0),
        ("allocation_settings", 8),
        ("agent_configs", 0),
        ("config_history", 0),
        ("sequences", 0),
        ("evaluations", 0),
        ("best_result", 0),
        ("daily_prices", 8324),
        ("monthly_prices", 3815),
        ("exchange_rates", 0),
        ("recommendations", 9),
    ];
    for (table, n) in expected {
        assert_eq!(rows[table], n, "{table}");
    }

    // Independent recomputation from the legacy files themselves.
    let l = legacy(&data, "ledger.db");
    assert_eq!(rows["trades"] as usize, count(&l, "SELECT count(*) FROM trades"));
    assert_eq!(rows["cash_flows"] as usize, count(&l, "SELECT count(*) FROM cash_flows"));
    let c = legacy(&data, "config.db");
    assert_eq!(rows["securities"] as usize, count(&c, "SELECT count(*) FROM securities"));
    assert_eq!(rows["settings"] as usize, count(&c, "SELECT count(*) FROM settings"));
    let history_daily: usize = std::fs::read_dir(data.join("history"))
        .unwrap()
        .flatten()
        .map(|e| {
            let conn = Connection::open(e.path()).unwrap();
            let tables = count(&conn, "SELECT count(*) FROM sqlite_schema WHERE name = 'daily_prices'");
            if tables == 1 { count(&conn, "SELECT count(*) FROM daily_prices") } else { 0 }
        })
        .sum();
    assert_eq!(rows["daily_prices"] as usize, history_daily);

    let sums = |table: &str| -> BTreeMap<String, String> {
        let d = report["destinations"].as_array().unwrap().iter().find(|d| d["table"] == table).unwrap();
        d["decimal_sums"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["column"].as_str().unwrap().to_owned(), s["actual"].as_str().unwrap().to_owned()))
            .collect()
    };
    for table in ["trades", "cash_flows", "bucket_balances"] {
        let d = report["destinations"].as_array().unwrap().iter().find(|d| d["table"] == table).unwrap();
        let checks = d["float_checks"].as_array().unwrap();
        assert!(!checks.is_empty() && checks.iter().all(|c| c["ok"] == true), "{table}: {checks:?}");
    }
    let trades = sums("trades");
    assert_eq!(trades["quantity"], "3745");
    assert_eq!(trades["price"], "13092.5738");
    assert_eq!(Decimal::from_str(&trades["price"]).unwrap(), exact_sum(&l, "SELECT price FROM trades"));
    let flows = sums("cash_flows");
    assert_eq!(flows["amount"], "367748.8954035948966948948");
    assert_eq!(flows["amount_eur"], "331753.2341448000999999998");
    // The signed sum equals the inflows minus the outflows of the legacy magnitudes.
    let outflow_types = "('withdrawal','transfer_out','tax','trading_fee','withdrawal_fee','structured_product_fee','fee','commission','structured_product_purchase')";
    let inflows = exact_sum(
        &l,
        &format!("SELECT amount FROM cash_flows WHERE lower(coalesce(transaction_type,'')) NOT IN {outflow_types}"),
    );
    let outflows =
        exact_sum(&l, &format!("SELECT amount FROM cash_flows WHERE lower(transaction_type) IN {outflow_types}"));
    assert_eq!(Decimal::from_str(&flows["amount"]).unwrap(), inflows - outflows);

    let mut drops: BTreeMap<String, usize> = BTreeMap::new();
    for d in report["not_migrated"].as_array().unwrap() {
        *drops.entry(d["code"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    let expected_drops: BTreeMap<String, usize> =
        [("EPHEMERAL_CACHE", 177), ("SCHEMA_VERSION", 70), ("REJECTED_TIMESTAMP", 1), ("SUPERSEDED", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    assert_eq!(drops, expected_drops);
    let rejected =
        report["not_migrated"].as_array().unwrap().iter().find(|d| d["code"] == "REJECTED_TIMESTAMP").unwrap();
    assert_eq!((rejected["file"].as_str(), rejected["key"].as_str()), (Some("recommendations.db"), Some("u1")));
    assert!(report["accounting"].as_array().unwrap().iter().all(|a| a["balanced"] == true));
    let empty = report["history_files"].as_array().unwrap().iter().filter(|h| h["status"] == "EMPTY_FILE").count();
    assert_eq!(empty, 6);
    assert!(report["history_files"].as_array().unwrap().iter().all(|h| h["resolution"] == "symbol"));
    assert_eq!(report["conversions"]["pending_expired"], 7);
    assert!(report["blocking"].as_array().unwrap().is_empty(), "{}", report["blocking"]);
}

/// Runs `trader migrate <mode>` on a damaged copy of the sample and checks the refusal: exit 1, the problem named,
/// the data directory byte-identical, the work directory gone.
fn refused(damage: impl Fn(&Path), mode: &str, extra: &[&str], expect: &[&str]) -> serde_json::Value {
    let sample = system_tests::legacy_sample().expect("checked by the caller");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    system_tests::copy_tree(&sample, &data);
    damage(&data);
    let before = file_hashes(&data);
    let work = tmp.path().join("work");
    let mut args =
        vec!["migrate", mode, "--json", "--data", data.to_str().unwrap(), "--work-dir", work.to_str().unwrap()];
    args.extend_from_slice(extra);
    let reports = tmp.path().join("reports");
    args.extend(["--report-dir", reports.to_str().unwrap()]);
    let out = trader(&args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for needle in expect {
        assert!(text.contains(needle), "`{needle}` not in the report:\n{text}");
    }
    assert_eq!(file_hashes(&data), before, "a refused run changed the data directory");
    assert!(!work.exists(), "the work directory was left behind");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_corrupt_legacy_file_is_blocking_and_named() {
    if system_tests::legacy_sample().is_none() {
        return;
    }
    let report = refused(
        |d| std::fs::write(d.join("state.db"), b"garbage, not SQLite").unwrap(),
        "--verify-only",
        &[],
        &["CORRUPT_FILE", "state.db"],
    );
    assert_eq!(report["outcome"], "failed");
}

#[test]
fn a_missing_mandatory_file_is_blocking() {
    if system_tests::legacy_sample().is_none() {
        return;
    }
    refused(
        |d| std::fs::remove_file(d.join("ledger.db")).unwrap(),
        "--dry-run",
        &[],
        &["MISSING_MANDATORY_FILE", "ledger.db"],
    );
}

#[test]
fn an_unrecognised_shape_names_file_table_and_column() {
    if system_tests::legacy_sample().is_none() {
        return;
    }
    let damage = |d: &Path| {
        legacy(d, "ledger.db").execute_batch("ALTER TABLE trades RENAME COLUMN price TO prix").unwrap();
    };
    let report = refused(damage, "--dry-run", &[], &["UNSUPPORTED_SHAPE", "UNKNOWN_COLUMN_DATA"]);
    let shape = report["blocking"].as_array().unwrap().iter().find(|b| b["code"] == "UNSUPPORTED_SHAPE").unwrap();
    assert_eq!(
        (shape["file"].as_str(), shape["table"].as_str(), shape["column"].as_str()),
        (Some("ledger.db"), Some("trades"), Some("price"))
    );
}

#[test]
fn an_unknown_column_with_data_blocks_unless_accepted() {
    let Some(sample) = system_tests::legacy_sample() else { return };
    let damage = |d: &Path| {
        legacy(d, "state.db")
            .execute_batch("ALTER TABLE positions ADD COLUMN note TEXT; UPDATE positions SET note = 'mine'")
            .unwrap();
    };
    let report = refused(damage, "--verify-only", &[], &["UNKNOWN_COLUMN_DATA", "positions", "note"]);
    let problem = &report["blocking"][0];
    assert_eq!((problem["file"].as_str(), problem["column"].as_str()), (Some("state.db"), Some("note")));

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    system_tests::copy_tree(&sample, &data);
    damage(&data);
    let reports = tmp.path().join("reports");
    let out = trader(&[
        "migrate",
        "--dry-run",
        "--accept-unknown-columns",
        "--data",
        data.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning UNKNOWN_COLUMN_DATA: state.db positions"));
}
