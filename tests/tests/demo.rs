//! `trader demo`, the README's first command, end to end: demo data, display composition, the link over a
//! real pty, the simulated MCU. Off a terminal it reports instead of drawing.

use std::process::Command;

#[test]
fn the_demo_shows_the_portfolio_ticker_in_sync_on_the_simulated_mcu() {
    let out = Command::new(system_tests::trader_bin()).args(["demo", "--seconds", "4", "--json"]).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticker = report["ticker"].as_str().unwrap();
    assert!(ticker.starts_with("PORTFOLIO EUR") && ticker.contains(" * CASH EUR"), "{ticker}");
    assert_eq!(report["in_sync"], true);
    assert_eq!(report["link"]["state"], "in_sync");
    assert_eq!(report["link"]["crc_errors"], 0);
    assert_eq!(report["matrix"].as_str().unwrap().lines().count(), 8);
}
