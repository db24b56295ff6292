//! The migrator on the production-size legacy directory (65 securities × 20 years of daily prices): the real
//! run end to end — preflight, backup through the online backup API, staged build, verification, switch-over
//! (target < 3 s) — and the history throughput it implies (target ≥ 500,000 rows/s).
//! Run with `cargo bench -p system-tests --bench migrate` (needs ../shared/fixtures/legacy-schema).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use system_tests::legacy_fixture::{Builder, Lineage, production};
use trader::legacy::mapping::Options;
use trader::store::values::parse_instant;

fn migrate_production(c: &mut Criterion) {
    let fixture = tempfile::tempdir().unwrap();
    let Some(mut b) = Builder::new(&fixture.path().join("legacy"), Lineage::Fresh) else { return };
    let daily = production(&mut b);
    let legacy = b.finish();
    let t0 = "2026-01-10T00:00:00Z";
    let options = Options { t0: t0.into(), accept_unknown_columns: false, credentials_file: None, strict_only: false };
    let mut group = c.benchmark_group("migrate");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(daily as u64));
    group.bench_function(format!("production-size real run ({daily} daily prices)"), |bench| {
        bench.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                system_tests::copy_tree(&legacy, &dir.path().join("data"));
                dir
            },
            |dir| {
                let report = trader::legacy::switch::migrate(
                    &dir.path().join("data"),
                    &options,
                    parse_instant(t0).unwrap(),
                    &trader::legacy::quiet,
                )
                .unwrap();
                assert!(report.ok(), "{}", report.summary());
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, migrate_production);
criterion_main!(benches);
