//! The migrator on built legacy directories: both column orders, adversarial content, production size.

use std::collections::BTreeMap;
use std::path::Path;

use system_tests::legacy_fixture::{
    Builder, Lineage, NULL, history_file, i, minimal, production, r, security, t, weekdays,
};
use system_tests::{describe, file_hashes, trader};

fn dry_run(data: &Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let reports = data.with_file_name("reports");
    let mut args = vec![
        "migrate",
        "--dry-run",
        "--json",
        "--data",
        data.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    args.extend_from_slice(&["--now", "2026-01-10T00:00:00Z"]);
    args.extend_from_slice(extra);
    let before = file_hashes(data);
    let out = trader(&args);
    assert_eq!(file_hashes(data), before, "a dry run changed the legacy directory");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    (out.status.success(), report)
}

fn destination<'r>(report: &'r serde_json::Value, table: &str) -> &'r serde_json::Value {
    report["destinations"].as_array().unwrap().iter().find(|d| d["table"] == table).unwrap()
}

fn drops(report: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for d in report["not_migrated"].as_array().unwrap() {
        *out.entry(d["code"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    out
}

/// Rows in most tables, using only columns both lineages have.
fn typical(b: &mut Builder) {
    minimal(b);
    security(b, "SAP.EU", None, "SAP SE", false);
    for (n, (side, q, p)) in [("BUY", 3.0, 185.12), ("SELL", 1.5, 190.005)].into_iter().enumerate() {
        b.insert(
            "ledger.db",
            "trades",
            &[
                ("id", i(n as i64 + 1)),
                ("symbol", t("aapl.us ")),
                ("side", t(side)),
                ("quantity", r(q)),
                ("price", r(p)),
                ("executed_at", t("2024-05-14T16:30:06.000")),
                ("order_id", t(&format!("B{n}"))),
                ("isin", t("us0378331005")),
                ("mode", NULL),
                ("created_at", t("2025-12-24 16:16:23")),
            ],
        );
    }
    b.insert(
        "ledger.db",
        "cash_flows",
        &[
            ("id", i(7)),
            ("transaction_id", i(61731014)),
            ("type_doc_id", i(337)),
            ("transaction_type", t("withdrawal")),
            ("date", t("2025-12-30")),
            ("amount", r(250.5)),
            ("currency", t("eur")),
            ("amount_eur", r(250.5)),
            ("created_at", t("2025-12-24 16:16:23")),
        ],
    );
    b.insert(
        "state.db",
        "positions",
        &[
            ("symbol", t("AAPL.US")),
            ("quantity", r(1.5)),
            ("avg_price", r(185.12)),
            ("current_price", r(0.0)),
            ("currency", t("USD")),
            ("currency_rate", r(1.08)),
            ("isin", t("US0378331005")),
            ("last_updated", t("2026-01-03T20:39:49+02:00")),
        ],
    );
    b.insert(
        "state.db",
        "portfolio_snapshots",
        &[
            ("date", t("2025-12-29")),
            ("total_value", r(1000.0)),
            ("cash_balance", r(100.0)),
            ("annual_turnover", r(0.1)),
            ("created_at", t("2025-12-29 23:15:00")),
        ],
    );
    b.insert(
        "calculations.db",
        "scores",
        &[
            ("symbol", t("AAPL.US")),
            ("isin", t("US0378331005")),
            ("total_score", r(0.7)),
            ("analyst_score", r(0.5)),
            ("cagr_score", r(0.8)),
            ("calculated_at", t("2025-12-24T15:22:47.324361")),
        ],
    );
    b.insert(
        "calculations.db",
        "calculated_metrics",
        &[
            ("symbol", t("AAPL.US")),
            ("isin", t("US0378331005")),
            ("metric", t("RSI_14")),
            ("value", r(41.5)),
            ("calculated_at", t("2025-12-24T15:22:47")),
        ],
    );
    b.insert(
        "config.db",
        "recommendations",
        &[
            ("uuid", t("r1")),
            ("symbol", t("AAPL.US")),
            ("name", t("Apple")),
            ("side", t("buy")),
            ("amount", r(500.0)),
            ("quantity", i(2)),
            ("estimated_price", r(185.0)),
            ("reason", t("underweight")),
            ("country", t("United States")),
            ("status", t("pending")),
            ("portfolio_hash", t("61068c15")),
            ("created_at", t("2025-12-24T15:22:47")),
            ("updated_at", t("2025-12-24T15:22:47")),
        ],
    );
    let days = weekdays(chrono::NaiveDate::from_ymd_opt(2025, 11, 3).unwrap(), 30);
    history_file(b, "AAPL_US", &days, 180.0);
}

#[test]
fn both_column_orders_give_the_same_destination_content() {
    let tmp = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for lineage in [Lineage::Fresh, Lineage::Upgrade] {
        let Some(mut b) = Builder::new(&tmp.path().join(format!("{lineage:?}/data")), lineage) else { return };
        typical(&mut b);
        let data = b.finish();
        let (ok, report) = dry_run(&data, &[]);
        assert!(ok, "{lineage:?}: {}", report["blocking"]);
        let per_table: BTreeMap<String, String> = report["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["table"].as_str().unwrap().to_owned(), d["actual_digest"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(destination(&report, "trades")["actual_rows"], 2);
        assert_eq!(destination(&report, "positions")["actual_rows"], 1);
        assert_eq!(destination(&report, "recommendations")["actual_rows"], 1);
        assert_eq!(destination(&report, "daily_prices")["actual_rows"], 30);
        digests.push(per_table);
    }
    assert_eq!(digests[0], digests[1], "the column order of the legacy files changed what was migrated");
}

#[test]
fn adversarial_content_is_kept_merged_or_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut b) = Builder::new(&tmp.path().join("data"), Lineage::Upgrade) else { return };
    minimal(&mut b);
    // Unicode, quotes and a newline in text; NULLs wherever allowed.
    security(&mut b, "NOVO-B.CO", None, "Novo Nordisk \"B\"\nÆØÅ — 株式会社 'quoted'", true);
    b.insert(
        "config.db",
        "securities",
        &[
            ("symbol", t("XIAO.1810.AS")),
            ("name", t("Xiaomi")),
            ("created_at", t("2024-01-02")),
            ("updated_at", t("2024-01-02")),
        ],
    );
    // A dividend in both dividend files (same cash flow) and one only in ledger.db.
    for (file, id) in [("dividends.db", 5), ("ledger.db", 5), ("ledger.db", 9)] {
        b.insert(
            file,
            "dividend_history",
            &[
                ("id", i(id)),
                ("symbol", t("AAPL.US")),
                ("cash_flow_id", if id == 9 { NULL } else { i(1) }),
                ("amount", r(1.5)),
                ("currency", t("USD")),
                ("amount_eur", r(1.4)),
                ("payment_date", t(if id == 9 { "2025-06-01" } else { "2025-03-01" })),
                ("created_at", t("2025-03-01 10:00:00")),
            ],
        );
    }
    b.insert(
        "ledger.db",
        "cash_flows",
        &[
            ("id", i(1)),
            ("transaction_id", t("corp_action_dividend_1")),
            ("type_doc_id", t("corp_dividend")),
            ("transaction_type", t("dividend")),
            ("date", t("2025-03-01")),
            ("amount", r(1.5)),
            ("currency", t("USD")),
            ("amount_eur", r(1.4)),
            ("created_at", t("2025-03-01 10:00:00")),
        ],
    );
    // The same recommendation in two sources; the newer update wins.
    for (file, updated, reason) in
        [("config.db", "2025-12-24T10:00:00", "old"), ("recommendations.db", "2025-12-25T10:00:00", "new")]
    {
        b.insert(
            file,
            "recommendations",
            &[
                ("uuid", t(&format!("u-{reason}"))),
                ("symbol", t("AAPL.US")),
                ("name", t(reason)),
                ("side", t("SELL")),
                ("reason", t("rebalance")),
                ("status", t("executed")),
                ("portfolio_hash", t("h")),
                ("created_at", t("2025-12-24T09:00:00")),
                ("updated_at", t(updated)),
            ],
        );
    }
    // History: an ISIN-named and a symbol-named file of one security, a lossy name, an orphan, an empty file.
    let days = weekdays(chrono::NaiveDate::from_ymd_opt(2025, 11, 3).unwrap(), 10);
    history_file(&mut b, "US0378331005", &days, 180.0);
    history_file(&mut b, "AAPL_US", &days[5..], 170.0);
    history_file(&mut b, "NOVO_B_CO", &days, 700.0);
    history_file(&mut b, "XIAO_1810_AS", &days[..3], 20.0);
    history_file(&mut b, "GONE_US", &days, 5.0);
    b.db("history/EMPTY_EU.db");
    // An unknown column that holds nothing: a warning only.
    b.exec("config.db", "ALTER TABLE settings ADD COLUMN scratch TEXT");
    let data = b.finish();

    let (ok, report) = dry_run(&data, &[]);
    assert!(ok, "{}", report["blocking"]);
    let codes = drops(&report);
    assert_eq!(codes.get("DUPLICATE_MERGED"), Some(&2), "{codes:?}");
    // Five daily rows and the one shared month of the symbol-named AAPL file lose to the ISIN-named file.
    assert_eq!(codes.get("SUPERSEDED"), Some(&6), "{codes:?}");
    let superseded = report["not_migrated"].as_array().unwrap().iter().filter(|d| d["code"] == "SUPERSEDED");
    assert!(superseded.into_iter().all(|d| d["file"] == "history/AAPL_US.db"), "the ISIN-named file must win");
    assert_eq!(destination(&report, "dividend_history")["actual_rows"], 2);
    let remap = &report["id_remaps"][0];
    assert_eq!(
        (remap[1].as_i64(), remap[2].as_i64()),
        (Some(9), Some(6)),
        "ledger.db's dividend follows dividends.db's ids"
    );
    assert_eq!(destination(&report, "recommendations")["actual_rows"], 1);
    let merged = report["not_migrated"].as_array().unwrap().iter().find(|d| d["table"] == "recommendations").unwrap();
    assert_eq!(merged["key"], "u-old");
    let files: BTreeMap<String, (String, String)> = report["history_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["stem"].as_str().unwrap().to_owned(),
                (h["resolution"].as_str().unwrap().to_owned(), h["symbol"].as_str().unwrap().to_owned()),
            )
        })
        .collect();
    assert_eq!(files["US0378331005"], ("isin".into(), "AAPL.US".into()));
    assert_eq!(files["AAPL_US"], ("symbol".into(), "AAPL.US".into()));
    assert_eq!(files["NOVO_B_CO"], ("symbol".into(), "NOVO-B.CO".into()));
    assert_eq!(files["XIAO_1810_AS"], ("symbol".into(), "XIAO.1810.AS".into()));
    assert_eq!(files["GONE_US"], ("unresolved".into(), "GONE_US".into()));
    let warnings: Vec<&str> =
        report["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(
        warnings.contains(&"UNRESOLVED_HISTORY_FILE") && warnings.contains(&"UNKNOWN_COLUMN_EMPTY"),
        "{warnings:?}"
    );
    // 10 ISIN-file days + 5 symbol-file days of which 5 collide (the ISIN file wins) + 10 + 3 + 10 orphan rows.
    assert_eq!(destination(&report, "daily_prices")["actual_rows"], 33);
    assert_eq!(report["outcome"], "ok");
}

#[test]
fn a_production_size_directory_migrates_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut b) = Builder::new(&tmp.path().join("data"), Lineage::Fresh) else { return };
    let daily = production(&mut b);
    let data = b.finish();
    let started = std::time::Instant::now();
    let (ok, report) = dry_run(&data, &[]);
    eprintln!(
        "production-size dry run: {daily} daily rows in {:?} (debug build; see the benchmark)",
        started.elapsed()
    );
    assert!(ok, "{}", report["blocking"]);
    assert_eq!(destination(&report, "daily_prices")["actual_rows"].as_u64(), Some(daily as u64));
    assert_eq!(destination(&report, "securities")["actual_rows"], 65);
    assert_eq!(destination(&report, "trades")["actual_rows"], 2000);
    assert_eq!(destination(&report, "cash_flows")["actual_rows"], 5000);
    assert!(report["history_files"].as_array().unwrap().iter().all(|h| h["resolution"] != "unresolved"));
}

#[test]
fn traces_of_the_original_8_database_build_are_archived_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut b) = Builder::new(&tmp.path().join("data"), Lineage::Upgrade) else { return };
    minimal(&mut b);
    b.exec("ledger.db", "CREATE TABLE orders (client_order_id TEXT PRIMARY KEY)");
    b.exec("satellites.db", "ALTER TABLE buckets ADD COLUMN agent_id TEXT");
    let data = b.finish();
    // An empty universe.db left by the original (application_id 0).
    rusqlite::Connection::open(data.join("universe.db"))
        .unwrap()
        .execute_batch("CREATE TABLE securities (symbol TEXT)")
        .unwrap();

    let (ok, report) = dry_run(&data, &[]);
    assert!(ok, "{}", report["blocking"]);
    let warnings: Vec<&str> =
        report["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    for code in ["GO_ERA_EMPTY_FILE", "GO_ERA_START_DETECTED", "EXTRA_EMPTY_TABLE"] {
        assert!(warnings.contains(&code), "{code} missing from {warnings:?}");
    }
    let out = trader(&["migrate", "--data", data.to_str().unwrap(), "--now", "2026-01-10T00:00:00Z"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(trader::legacy::source::is_new_format(&data.join("universe.db")));
    let archive = std::fs::read_dir(data.join("archive")).unwrap().flatten().next().unwrap().path();
    assert!(archive.join("universe.db").is_file(), "the Go-era file was not archived");
}

#[test]
fn a_legacy_file_held_open_by_another_process_refuses_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut b) = Builder::new(&tmp.path().join("data"), Lineage::Upgrade) else { return };
    minimal(&mut b);
    let data = b.finish();
    let mut holder = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3< '{}'; sleep 30", data.join("config.db").display()))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (ok, report) = dry_run(&data, &[]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(!ok);
    let problem = &report["blocking"][0];
    assert_eq!(problem["code"], "FILES_IN_USE");
    assert!(problem["detail"].as_str().unwrap().contains("config.db"), "{problem}");
}

#[test]
fn broker_credentials_move_to_their_file_and_are_never_printed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut b) = Builder::new(&tmp.path().join("data"), Lineage::Upgrade) else { return };
    minimal(&mut b);
    for (key, value) in [
        ("tradernet_api_key", "KEY-SECRET-1"),
        ("tradernet_api_secret", "SECRET-SECRET-2"),
        ("yahoo_api_token", "TOKEN-3"),
    ] {
        b.insert(
            "config.db",
            "settings",
            &[("key", t(key)), ("value", t(value)), ("updated_at", t("2025-12-24 16:16:23"))],
        );
    }
    let data = b.finish();
    let secrets = ["KEY-SECRET-1", "SECRET-SECRET-2", "TOKEN-3"];
    let credentials = tmp.path().join("etc/credentials.toml");

    let unset = trader(&["migrate", "--dry-run", "--data", data.to_str().unwrap(), "--credentials-file", ""]);
    assert_eq!(unset.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unset.stdout).contains("CREDENTIALS_FILE_UNSET"));

    let out = trader(&[
        "migrate",
        "--json",
        "--data",
        data.to_str().unwrap(),
        "--credentials-file",
        credentials.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut written = String::new();
    for entry in std::fs::read_dir(report["report_dir"].as_str().unwrap()).unwrap().flatten() {
        if entry.path().is_file() && entry.file_name() != "manifest.json" {
            written.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    for secret in secrets {
        assert!(!printed.contains(secret) && !written.contains(secret), "{secret} was printed or written to a report");
    }
    let codes = drops(&report);
    assert_eq!((codes.get("CREDENTIAL_MOVED"), codes.get("CREDENTIAL_DROPPED")), (Some(&2), Some(&1)));
    let file = std::fs::read_to_string(&credentials).unwrap();
    assert!(
        file.contains("[tradernet]")
            && file.contains("KEY-SECRET-1")
            && file.contains("SECRET-SECRET-2")
            && !file.contains("TOKEN-3")
    );
    assert_eq!(std::fs::metadata(&credentials).unwrap().permissions().mode() & 0o777, 0o600);
    let config = rusqlite::Connection::open(data.join("config.db")).unwrap();
    let leaked: i64 = config
        .query_row("SELECT count(*) FROM settings WHERE value LIKE '%SECRET%' OR value LIKE '%TOKEN%'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(leaked, 0, "a credential landed in config.db");
}
