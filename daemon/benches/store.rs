//! Speed of the store (issue figures): bulk insert of daily prices in one transaction (target ≥ 500,000 rows/s),
//! opening all eight databases warm (target < 20 ms), and the health report of a demo data directory
//! (target < 200 ms). Run with `cargo bench -p trader --bench store`.

use std::time::Duration;

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use trader::store::history::{DailyBar, PriceHistoryRepository};
use trader::store::values::parse_instant;
use trader::store::{DbName, OpenMode, Store, health, write_tx};

const SYMBOLS: usize = 40;
const DAYS: usize = 2_500;

fn bars() -> Vec<DailyBar> {
    let start = NaiveDate::from_ymd_opt(2016, 1, 4).unwrap();
    (0..DAYS)
        .map(|i| {
            let close = 100.0 + (i as f64 * 0.37).sin() * 10.0;
            DailyBar {
                date: start + chrono::Duration::days(i as i64),
                open: Some(close - 0.5),
                high: Some(close + 1.0),
                low: Some(close - 1.0),
                close,
                adjusted_close: Some(close * 0.98),
                volume: Some(1_000_000 + i as i64),
                source: "bench".into(),
            }
        })
        .collect()
}

fn bulk_insert(c: &mut Criterion) {
    let bars = bars();
    let mut group = c.benchmark_group("history");
    group.throughput(Throughput::Elements((SYMBOLS * DAYS) as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("insert 100k daily prices in one transaction", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(&dir.path().join("data"), OpenMode::Init).unwrap();
                (dir, store)
            },
            |(dir, store)| {
                write_tx(store.conn(DbName::History), "bench", |conn| {
                    let prices = PriceHistoryRepository::new(conn);
                    for s in 0..SYMBOLS {
                        prices.upsert_daily(&format!("SYM{s}.EU"), &bars)?;
                    }
                    Ok(())
                })
                .unwrap();
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn open_all(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Store::open(&data, OpenMode::Init).unwrap());
    c.bench_function("open all eight databases (warm)", |b| b.iter(|| Store::open(&data, OpenMode::Existing).unwrap()));
}

fn health_of_demo(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = parse_instant("2026-01-01T12:00:00Z").unwrap();
    {
        let store = Store::open(&data, OpenMode::Init).unwrap();
        trader::demo::fill(&store, 7, now, &|_| {}).unwrap();
    }
    let mut group = c.benchmark_group("health");
    group.sample_size(20);
    group.bench_function("health report of a demo data directory", |b| b.iter(|| health::report(&data, now)));
    group.finish();
}

criterion_group!(benches, bulk_insert, open_all, health_of_demo);
criterion_main!(benches);
