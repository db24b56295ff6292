//! The engine's commands for people on the demo portfolio: `trader status` and `trader scores`.

use system_tests::trader;

fn demo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    assert!(trader(&["demo-data", "--data", &data]).status.success());
    (dir, data)
}

#[test]
fn status_shows_value_cash_and_allocation_against_targets() {
    let (_dir, data) = demo();
    let out = trader(&["status", "--data", &data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("portfolio EUR") && text.contains("cash EUR"), "{text}");
    assert!(text.contains("country groups") && text.contains("industry groups"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&trader(&["--json", "status", "--data", &data]).stdout).unwrap();
    let total: f64 = json["valuation"]["total_eur"].as_str().unwrap().parse().unwrap();
    let invested: f64 = json["valuation"]["invested_eur"].as_str().unwrap().parse().unwrap();
    let cash: f64 = json["valuation"]["cash_eur"].as_str().unwrap().parse().unwrap();
    assert!(total > 0.0 && (total - invested - cash).abs() < 1e-6);
    let shares: f64 = json["countries"].as_array().unwrap().iter().map(|g| g["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "country shares of invested value add up to 1: {shares}");
}

#[test]
fn scores_are_refreshed_stored_and_listed_best_first() {
    let (_dir, data) = demo();
    let before: serde_json::Value =
        serde_json::from_slice(&trader(&["--json", "scores", "--data", &data]).stdout).unwrap();
    assert!(before["scores"].as_array().unwrap().is_empty());
    let out = trader(&["--json", "scores", "--refresh", "--data", &data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let totals: Vec<f64> =
        after["scores"].as_array().unwrap().iter().map(|s| s["total_score"].as_f64().unwrap()).collect();
    assert!(totals.len() >= 20);
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "best first: {totals:?}");
    let listed = trader(&["scores", "--data", &data, "--limit", "3"]);
    assert_eq!(String::from_utf8(listed.stdout).unwrap().lines().count(), 4, "a header and three rows");
}

#[test]
fn snapshot_reports_analytics_and_stores_the_day_when_asked() {
    let (_dir, data) = demo();
    let out = trader(&["--json", "snapshot", "--data", &data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["written"], false);
    assert!(report["analytics"]["returns"].as_u64().unwrap() > 200, "a year of weekday snapshots: {report}");
    let sharpe = report["analytics"]["performance"]["sharpe"].as_f64();
    assert!(sharpe.is_some_and(f64::is_finite), "{report}");
    let total = report["snapshot"]["total_value"].as_f64().unwrap();
    let written = trader(&["--json", "snapshot", "--write", "--data", &data]);
    let written: serde_json::Value = serde_json::from_slice(&written.stdout).unwrap();
    assert_eq!(written["written"], true);
    assert_eq!(written["snapshot"]["total_value"].as_f64().unwrap(), total);
    let status: serde_json::Value =
        serde_json::from_slice(&trader(&["--json", "status", "--data", &data]).stdout).unwrap();
    let valued: f64 = status["valuation"]["total_eur"].as_str().unwrap().parse().unwrap();
    assert!((valued - total).abs() < 0.01, "the stored snapshot is today's valuation");
}
