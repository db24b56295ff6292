//! Helpers shared by the store's integration tests: real database files in temporary directories.
#![allow(dead_code)]

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use rust_decimal::Decimal;
use trader::store::ledger::{Mode, Trade};
use trader::store::portfolio::Position;
use trader::store::values::parse_instant;
use trader::store::{Instant, OpenMode, Side, Store};

/// An instant from its stored spelling.
pub fn at(text: &str) -> Instant {
    parse_instant(text).unwrap()
}

/// A new data directory with the eight empty databases.
pub fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data"), OpenMode::Init).unwrap();
    (dir, store)
}

/// A connection of its own to one file, as an outside tool would open it.
pub fn outside(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn
}

/// A live broker trade.
pub fn trade(
    symbol: &str,
    side: Side,
    quantity: &str,
    price: &str,
    order_id: Option<&str>,
    executed_at: &str,
) -> Trade {
    Trade {
        symbol: symbol.into(),
        isin: None,
        side,
        quantity: quantity.parse::<Decimal>().unwrap(),
        price: price.parse::<Decimal>().unwrap(),
        currency: Some("EUR".into()),
        currency_rate: Some(Decimal::ONE),
        value_eur: None,
        commission: None,
        commission_currency: None,
        executed_at: at(executed_at),
        order_id: order_id.map(str::to_owned),
        source: "tradernet".into(),
        mode: Mode::Live,
        bucket_id: "core".into(),
        created_at: at(executed_at),
    }
}

/// SHA-256 of a file's bytes, hex.
pub fn file_hash(path: &Path) -> String {
    trader::store::backup::sha256_file(path).unwrap()
}

/// A position as the broker reports it.
pub fn position(symbol: &str, quantity: f64) -> Position {
    Position {
        symbol: symbol.into(),
        isin: None,
        quantity,
        avg_price: 30.0,
        current_price: Some(35.0),
        currency: "USD".into(),
        currency_rate: 1.1,
        market_value_eur: None,
        cost_basis_eur: None,
        unrealized_pnl: None,
        unrealized_pnl_pct: None,
        last_updated: None,
        first_bought_at: None,
        last_sold_at: None,
        bucket_id: "core".into(),
    }
}
