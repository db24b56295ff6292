//! Garbage collection with the 30-day grace period (storage.md §10.3), on real files.

mod common;

use chrono::NaiveDate;
use common::{at, file_hash, fresh_store, trade};
use trader::store::cache::{RecSource, RecStatus, Recommendation};
use trader::store::gc::{self, GcDatabases};
use trader::store::history::DailyBar;
use trader::store::portfolio::{Metric, Score};
use trader::store::universe::Security;
use trader::store::{DbName, Instant, Side, Store};

const SYMBOL: &str = "INTC.US";

/// A security with rows in every database GC touches, plus a trade and a dividend in the ledger.
fn seed(store: &Store, held: f64) {
    let created = at("2025-01-01T00:00:00Z");
    store.securities().add(&Security::new(SYMBOL, "Intel", created)).unwrap();
    let bars: Vec<DailyBar> = (1..=20)
        .map(|d| DailyBar {
            date: NaiveDate::from_ymd_opt(2025, 6, d).unwrap(),
            open: None,
            high: None,
            low: None,
            close: 30.0 + f64::from(d),
            adjusted_close: None,
            volume: None,
            source: "test".into(),
        })
        .collect();
    store.prices().upsert_daily(SYMBOL, &bars).unwrap();
    store.prices().rebuild_monthly(SYMBOL).unwrap();
    store.scores().replace(&Score { symbol: SYMBOL.into(), total_score: 0.4, ..Score::default() }, created).unwrap();
    store
        .scores()
        .put_metric(&Metric {
            symbol: SYMBOL.into(),
            metric: "RSI_14".into(),
            value: 41.0,
            calculated_at: created,
            expires_at: None,
            source: "calculated".into(),
        })
        .unwrap();
    store.positions().upsert(&common::position(SYMBOL, held)).unwrap();
    store
        .recommendations()
        .upsert(
            &Recommendation {
                uuid: String::new(),
                symbol: SYMBOL.into(),
                isin: None,
                name: "Intel".into(),
                side: Side::Sell,
                quantity: Some(1.0),
                estimated_price: Some(35.0),
                estimated_value: Some(31.8),
                currency: "USD".into(),
                reason: "removed".into(),
                country: None,
                industry: None,
                priority: Some(1.0),
                current_portfolio_score: None,
                new_portfolio_score: None,
                score_change: None,
                status: RecStatus::Pending,
                source: RecSource::Plan,
                attempts: 0,
                status_reason: None,
                order_id: None,
                portfolio_hash: "h1".into(),
                created_at: created,
                updated_at: created,
                executed_at: None,
                dismissed_at: None,
            },
            created,
        )
        .unwrap();
    store.cache().put("quote.INTC.US", "{}", None, Some(SYMBOL), created).unwrap();
    store.trades().insert(&trade(SYMBOL, Side::Buy, "5", "30", Some("B-INTC"), "2025-02-01T10:00:00Z")).unwrap();
}

fn rows(store: &Store, db: DbName, sql: &str) -> i64 {
    store.conn(db).query_row(sql, [SYMBOL], |r| r.get(0)).unwrap()
}

/// (daily, monthly, scores, metrics, positions, recommendations, cache rows, securities, trades)
fn census(store: &Store) -> [i64; 9] {
    [
        rows(store, DbName::History, "SELECT count(*) FROM daily_prices WHERE symbol = ?1"),
        rows(store, DbName::History, "SELECT count(*) FROM monthly_prices WHERE symbol = ?1"),
        rows(store, DbName::Portfolio, "SELECT count(*) FROM scores WHERE symbol = ?1"),
        rows(store, DbName::Portfolio, "SELECT count(*) FROM calculated_metrics WHERE symbol = ?1"),
        rows(store, DbName::Portfolio, "SELECT count(*) FROM positions WHERE symbol = ?1"),
        rows(store, DbName::Cache, "SELECT count(*) FROM recommendations WHERE symbol = ?1"),
        rows(store, DbName::Cache, "SELECT count(*) FROM cache_data WHERE symbol = ?1"),
        rows(store, DbName::Universe, "SELECT count(*) FROM securities WHERE symbol = ?1"),
        rows(store, DbName::Ledger, "SELECT count(*) FROM trades WHERE symbol = ?1"),
    ]
}

const ALL_THERE: [i64; 9] = [20, 1, 1, 1, 1, 1, 1, 1, 1];

fn run_gc(store: &Store, now: Instant) -> gc::GcReport {
    let dbs = GcDatabases::open(store.dir()).unwrap();
    gc::run(&dbs, now, false).unwrap()
}

#[test]
fn gc_keeps_rows_of_a_security_readded_within_grace() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let report = run_gc(&store, at("2026-01-20T00:00:00Z"));
    assert!(report.securities.is_empty(), "purged inside the grace period");
    store.securities().add(&Security::new(SYMBOL, "Intel", at("2026-01-25T00:00:00Z"))).unwrap();
    let report = run_gc(&store, at("2026-06-01T00:00:00Z"));
    assert!(report.securities.is_empty());
    assert_eq!(census(&store), ALL_THERE);
}

#[test]
fn gc_purges_after_grace_in_every_database_but_the_ledger() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let report = run_gc(&store, at("2026-01-31T00:00:01Z"));
    assert_eq!(report.securities.len(), 1);
    assert_eq!(report.securities[0].action, "purged");
    assert_eq!(census(&store), [0, 0, 0, 0, 0, 0, 0, 0, 1], "only the ledger keeps the trade");
    let log = store.securities().gc_log(Some(SYMBOL), 10).unwrap();
    let steps: Vec<(String, String, i64)> = log
        .iter()
        .rev()
        .map(|r| (r.entry.target.to_string(), r.entry.action.to_string(), r.entry.rows_deleted))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("history".into(), "purged".into(), 21),
            ("portfolio".into(), "purged".into(), 3),
            ("cache".into(), "purged".into(), 2),
            ("universe".into(), "purged".into(), 1),
        ]
    );
    assert!(log.iter().all(|r| r.entry.removed_at == at("2026-01-01T00:00:00Z")));
}

#[test]
fn gc_honours_the_grace_days_setting() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    store.settings().set("gc_grace_days", "7", None, at("2026-01-01T00:00:00Z")).unwrap();
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let report = run_gc(&store, at("2026-01-08T00:00:00Z"));
    assert_eq!((report.grace_days, report.securities.len()), (7, 1));
    assert!(store.settings().set("gc_grace_days", "0", None, at("2026-01-01T00:00:00Z")).is_err(), "0 days accepted");
}

#[test]
fn gc_refuses_a_held_security_and_reports_it() {
    let (_dir, store) = fresh_store();
    seed(&store, 12.0);
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let report = run_gc(&store, at("2026-03-01T00:00:00Z"));
    assert_eq!(report.securities[0].action, "refused_position");
    assert_eq!(census(&store), ALL_THERE);
    let log = store.securities().gc_log(Some(SYMBOL), 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].entry.target.as_str(), log[0].entry.action.as_str()), ("portfolio", "refused_position"));
    assert_eq!(log[0].entry.detail.as_deref(), Some("{\"quantity\":12.0}"));
    let health = trader::store::health::report(store.dir(), at("2026-03-01T00:00:00Z"));
    assert_eq!(health.gc.refused.len(), 1);
    assert_eq!(health.gc.refused[0].quantity, Some(12.0));
}

#[test]
fn gc_never_opens_the_ledger() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let dir = store.dir().to_owned();
    drop(store);
    // Were GC to open the ledger or satellites.db, it would fail on these files; they must stay as they are.
    let ledger = dir.join("ledger.db");
    std::fs::rename(&ledger, dir.join("ledger.db.real")).unwrap();
    std::fs::write(&ledger, b"not a database at all").unwrap();
    std::fs::rename(dir.join("satellites.db"), dir.join("satellites.db.real")).unwrap();
    let dbs = GcDatabases::open(&dir).unwrap();
    let report = gc::run(&dbs, at("2026-03-01T00:00:00Z"), false).unwrap();
    assert_eq!(report.securities[0].action, "purged");
    assert_eq!(std::fs::read(&ledger).unwrap(), b"not a database at all");
    assert!(!dir.join("ledger.db-wal").exists() && !dir.join("satellites.db").exists());
}

#[test]
fn gc_aborts_when_the_security_is_readded_mid_run() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let dbs = GcDatabases::open(store.dir()).unwrap();
    // The user re-adds the security the moment the history step is logged.
    dbs.universe
        .execute_batch(
            "CREATE TEMP TRIGGER readd AFTER INSERT ON main.gc_log WHEN NEW.target = 'history' \
             BEGIN UPDATE securities SET removed_at = NULL WHERE symbol = NEW.symbol; END",
        )
        .unwrap();
    let report = gc::run(&dbs, at("2026-03-01T00:00:00Z"), false).unwrap();
    assert_eq!(report.securities[0].action, "aborted_restored");
    let [daily, monthly, rest @ ..] = census(&store);
    assert_eq!((daily, monthly), (0, 0), "history was purged before the re-add");
    assert_eq!(rest, [1, 1, 1, 1, 1, 1, 1], "nothing after the re-add was touched");
    let actions: Vec<String> =
        store.securities().gc_log(Some(SYMBOL), 10).unwrap().iter().map(|r| r.entry.action.to_string()).collect();
    assert_eq!(actions, vec!["aborted_restored", "purged"]);
}

#[test]
fn gc_dry_run_changes_no_file() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    store.securities().mark_removed(SYMBOL, at("2026-01-01T00:00:00Z")).unwrap();
    let dir = store.dir().to_owned();
    drop(store);
    let hashes = |dir: &std::path::Path| DbName::ALL.map(|n| file_hash(&dir.join(format!("{n}.db"))));
    let before = hashes(&dir);
    {
        let dbs = GcDatabases::open(&dir).unwrap();
        let report = gc::run(&dbs, at("2026-03-01T00:00:00Z"), true).unwrap();
        assert_eq!(report.securities[0].action, "would_purge");
        assert!(report.securities[0].rows.contains(&("history.daily_prices".into(), 20)));
    }
    assert_eq!(hashes(&dir), before);
}

#[test]
fn orphans_are_deleted_only_on_request_and_never_from_the_ledger() {
    let (_dir, store) = fresh_store();
    seed(&store, 0.0);
    // The security row vanishes (as after an unresolved legacy history file): its rows are orphans.
    store.conn(DbName::Universe).execute("DELETE FROM securities WHERE symbol = ?1", [SYMBOL]).unwrap();
    let report = run_gc(&store, at("2026-03-01T00:00:00Z"));
    assert!(report.securities.is_empty());
    assert_eq!(census(&store), [20, 1, 1, 1, 1, 1, 1, 0, 1], "GC never deletes orphans on its own");
    let audit = trader::store::health::reference_audit(store.dir());
    assert!(audit.iter().any(|r| r.from.starts_with("history.") && r.count == 1));

    let dbs = GcDatabases::open(store.dir()).unwrap();
    let dry = gc::purge_orphans(&dbs, at("2026-03-01T00:00:00Z"), true).unwrap();
    assert_eq!(dry.orphans.len(), 1);
    assert_eq!(census(&store), [20, 1, 1, 1, 1, 1, 1, 0, 1]);
    gc::purge_orphans(&dbs, at("2026-03-01T00:00:00Z"), false).unwrap();
    assert_eq!(census(&store), [0, 0, 0, 0, 1, 0, 0, 0, 1], "positions and the ledger are kept");
}
