//! A child process for the crash-safety test: appends trades to `<data>/ledger.db` one transaction at a time
//! and prints each trade's id only after its commit returned. It runs until it is killed.

use std::io::Write;

use rust_decimal::Decimal;
use trader::store::ledger::{Mode, Trade, TradeRepository};
use trader::store::open::{Create, open_writer};
use trader::store::{Clock, DbName, Side, SystemClock};

fn main() -> anyhow::Result<()> {
    let data = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: ledger_appender DATA_DIR"))?;
    let ledger = open_writer(std::path::Path::new(&data), DbName::Ledger.spec(), Create::Never)?.conn;
    let trades = TradeRepository::new(&ledger);
    let mut out = std::io::stdout().lock();
    let pid = std::process::id();
    for n in 0u64.. {
        let now = SystemClock.now();
        let trade = Trade {
            symbol: "SAP.EU".into(),
            isin: None,
            side: Side::Buy,
            quantity: Decimal::new(n as i64 % 97 + 1, 1),
            price: Decimal::new(1_234_565, 3),
            currency: Some("EUR".into()),
            currency_rate: Some(Decimal::ONE),
            value_eur: None,
            commission: None,
            commission_currency: None,
            executed_at: now,
            order_id: Some(format!("P{pid}-{n}")),
            source: "manual".into(),
            mode: Mode::Live,
            bucket_id: "core".into(),
            created_at: now,
        };
        let id = trades.insert(&trade)?.id();
        writeln!(out, "{id}")?;
        out.flush()?;
    }
    Ok(())
}
