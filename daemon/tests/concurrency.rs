//! Four writer tasks and four readers on ledger.db and portfolio.db at once never see "database is locked":
//! writes go through each database's one writer thread, reads through read connections, with busy_timeout.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{fresh_store, position, trade};
use trader::store::portfolio::PositionRepository;
use trader::store::worker::AsyncDb;
use trader::store::{DbName, Side};

/// How long the load runs; the acceptance asks for 10 s (`TRADER_CONCURRENCY_SECS` shortens it locally).
fn duration() -> Duration {
    Duration::from_secs(std::env::var("TRADER_CONCURRENCY_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_and_four_readers_never_see_a_locked_database() {
    let (_dir, store) = fresh_store();
    let dir = store.dir().to_owned();
    drop(store);
    let ledger = Arc::new(AsyncDb::open(&dir, DbName::Ledger).unwrap());
    let portfolio = Arc::new(AsyncDb::open(&dir, DbName::Portfolio).unwrap());
    let errors = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let trades = Arc::new(AtomicU64::new(0));
    let deadline = tokio::time::Instant::now() + duration();
    let record = |result: Result<(), String>, counter: &AtomicU64, errors: &AtomicU64| match result {
        Ok(()) => {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            eprintln!("error: {e}");
            errors.fetch_add(1, Ordering::Relaxed);
        }
    };

    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let (ledger, portfolio, errors, writes, trades) =
            (ledger.clone(), portfolio.clone(), errors.clone(), writes.clone(), trades.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let id = format!("W{w}-{n}");
                let is_trade = w % 2 == 0;
                let result = if is_trade {
                    ledger
                        .writer
                        .call(move |conn| {
                            let t = trade("SAP.EU", Side::Buy, "1", "10.5", Some(&id), "2026-01-02T10:00:00Z");
                            trader::store::ledger::TradeRepository::new(conn).insert(&t).map(|_| ())
                        })
                        .await
                } else {
                    portfolio
                        .writer
                        .call(move |conn| {
                            PositionRepository::new(conn).upsert(&position(&format!("S{}.EU", n % 50), n as f64))
                        })
                        .await
                };
                let result = result.and_then(|r| r).map_err(|e| e.to_string());
                if is_trade && result.is_ok() {
                    trades.fetch_add(1, Ordering::Relaxed);
                }
                record(result, &writes, &errors);
            }
        }));
    }
    for r in 0..4u64 {
        let (ledger, portfolio, errors, reads) = (ledger.clone(), portfolio.clone(), errors.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            let mut last_count = 0i64;
            while tokio::time::Instant::now() < deadline {
                let result = if r % 2 == 0 {
                    let count = ledger
                        .readers
                        .read(|conn| conn.query_row("SELECT count(*) FROM trades", [], |row| row.get::<_, i64>(0)))
                        .await;
                    count.map_err(|e| e.to_string()).and_then(|c| {
                        // Readers see a growing, consistent ledger.
                        if c < last_count {
                            Err(format!("count went back from {last_count} to {c}"))
                        } else {
                            last_count = c;
                            Ok(())
                        }
                    })
                } else {
                    portfolio
                        .readers
                        .read(|conn| {
                            PositionRepository::new(conn).total_value_eur().map(|_| ()).map_err(|e| e.to_string())
                        })
                        .await
                };
                record(result, &reads, &errors);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (errors, writes, reads) =
        (errors.load(Ordering::Relaxed), writes.load(Ordering::Relaxed), reads.load(Ordering::Relaxed));
    eprintln!("{writes} writes and {reads} reads in {:?}", duration());
    assert_eq!(errors, 0);
    assert!(writes > 100 && reads > 100, "the load did not run: {writes} writes, {reads} reads");
    let stored =
        ledger.readers.read(|c| c.query_row("SELECT count(*) FROM trades", [], |r| r.get::<_, i64>(0))).await.unwrap();
    assert_eq!(stored as u64, trades.load(Ordering::Relaxed), "every acknowledged trade is stored");
}
