//! Money is exact: decimals go in and come out as the same numbers, stored as canonical text.

mod common;

use std::str::FromStr;

use common::{fresh_store, trade};
use rust_decimal::Decimal;
use trader::store::ledger::Modes;
use trader::store::{DbName, Side};

#[test]
fn ten_thousand_trades_sum_exactly() {
    let (_dir, store) = fresh_store();
    let prices = ["0.1", "1234.565", "0.2", "99999.99", "0.0000001", "12.5", "3.14159265358979"];
    let mut expected = Decimal::ZERO;
    let conn = store.conn(DbName::Ledger);
    trader::store::write_tx(conn, "test", |tx| {
        let trades = trader::store::ledger::TradeRepository::new(tx);
        for i in 0..10_000 {
            let price = prices[i % prices.len()];
            expected += Decimal::from_str(price).unwrap();
            let t = trade("SAP.EU", Side::Buy, "1", price, Some(&format!("O{i}")), "2026-01-02T10:00:00Z");
            assert!(trades.insert(&t)?.is_new());
        }
        Ok(())
    })
    .unwrap();
    let stored = store.trades().history(20_000, Modes::LiveOnly).unwrap();
    assert_eq!(stored.len(), 10_000);
    let sum: Decimal = stored.iter().map(|t| t.price).sum();
    assert_eq!(sum, expected);
    // The same sum by Python's decimal module, computed independently of rust_decimal.
    assert_eq!(sum.to_string(), "144686943.98945212622012");
    // The text in the file is the canonical spelling, and 0.1 + 0.2 is not 0.30000000000000004 anywhere.
    let texts: Vec<String> = {
        let mut stmt = conn.prepare("SELECT DISTINCT price FROM trades ORDER BY price").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let mut canonical: Vec<&str> = prices.to_vec();
    canonical.sort();
    assert_eq!(texts, canonical);
}

#[test]
fn a_duplicate_broker_order_is_not_recorded_twice() {
    let (_dir, store) = fresh_store();
    let t = trade("SAP.EU", Side::Buy, "1.5", "120.25", Some("BRK-7"), "2026-01-02T10:00:00Z");
    let first = store.trades().insert(&t).unwrap();
    let second = store.trades().insert(&t).unwrap();
    assert!(first.is_new());
    assert_eq!(second, trader::store::Inserted::Duplicate(first.id()));
}

#[test]
fn trailing_zeros_are_normalised_before_they_reach_the_file() {
    let (_dir, store) = fresh_store();
    let mut t = trade("SAP.EU", Side::Buy, "2.500", "120.50", Some("Z"), "2026-01-02T10:00:00Z");
    t.value_eur = Some(trader::store::ledger::value_eur(t.quantity, t.price, Decimal::from_str("1.0850").unwrap()));
    store.trades().insert(&t).unwrap();
    let (q, p, v): (String, String, String) = store
        .conn(DbName::Ledger)
        .query_row("SELECT quantity, price, value_eur FROM trades", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    // 2.5 × 120.5 ÷ 1.085 = 277.649769…, rounded half away from zero to cents.
    assert_eq!((q.as_str(), p.as_str(), v.as_str()), ("2.5", "120.5", "277.65"));
}
