//! Speed of the engine (issue figures): scoring 65 securities with 10 years of daily prices each from
//! history.db, scores written back (target < 50 ms), and the EUR valuation of the demo portfolio (target
//! < 5 ms). Run with `cargo bench -p trader --bench engine`.

use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use trader::engine::runs;
use trader::store::history::DailyBar;
use trader::store::universe::Security;
use trader::store::values::parse_instant;
use trader::store::{OpenMode, Store};

const SECURITIES: usize = 65;
const DAYS: usize = 2_520;

fn scoring(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data"), OpenMode::Init).unwrap();
    let now = parse_instant("2026-01-02T12:00:00Z").unwrap();
    let start = NaiveDate::from_ymd_opt(2016, 1, 4).unwrap();
    for s in 0..SECURITIES {
        let symbol = format!("SYM{s}.EU");
        store.securities().add(&Security::new(&symbol, &format!("Security {s}"), now)).unwrap();
        let bars: Vec<DailyBar> = (0..DAYS)
            .map(|i| {
                let close = 50.0 + s as f64 + i as f64 * 0.02 + (i as f64 * 0.05 + s as f64).sin() * 3.0;
                DailyBar {
                    date: start + chrono::Duration::days(i as i64),
                    open: None,
                    high: None,
                    low: None,
                    close,
                    adjusted_close: None,
                    volume: None,
                    source: "bench".into(),
                }
            })
            .collect();
        store.prices().upsert_daily(&symbol, &bars).unwrap();
        store.prices().rebuild_monthly(&symbol).unwrap();
    }
    assert_eq!(runs::score_universe(&store, now).unwrap().scored.len(), SECURITIES);
    let mut group = c.benchmark_group("engine");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("score 65 securities (10 years of daily prices each), read and write", |b| {
        b.iter(|| runs::score_universe(&store, now).unwrap())
    });
    group.finish();
}

fn valuation(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data"), OpenMode::Init).unwrap();
    let now = parse_instant("2026-01-02T12:00:00Z").unwrap();
    trader::demo::fill(&store, 7, now, &|_| {}).unwrap();
    c.bench_function("value the demo portfolio in EUR", |b| b.iter(|| runs::value_portfolio(&store, now).unwrap()));
}

criterion_group!(benches, scoring, valuation);
criterion_main!(benches);
