//! The tests that pin the storage contract (storage.md §13), against real files.

mod common;

use common::{at, file_hash, fresh_store, outside, trade};
use rusqlite::{Connection, params};
use rust_decimal::Decimal;
use trader::store::ledger::{IntentOutcome, Mode, OrderEventKind, OrderIntent, OrderSource, OrderType};
use trader::store::open::{Create, DEFAULT_PAGE_SIZE, DbSpec, STANDARD_PROFILE, open_writer};
use trader::store::{DbName, Layout, OpenMode, Side, Store, StoreError, health, maintenance};

fn reopen(store: Store) -> Store {
    let dir = store.dir().to_owned();
    drop(store);
    Store::open(&dir, OpenMode::Existing).unwrap()
}

#[test]
fn reopening_runs_no_ddl_and_keeps_every_version() {
    let (_dir, store) = fresh_store();
    let schema_cookies: Vec<i64> = DbName::ALL
        .iter()
        .map(|n| store.conn(*n).query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap())
        .collect();
    let store = reopen(store);
    for (name, cookie) in DbName::ALL.iter().zip(schema_cookies) {
        let report = store.report(*name);
        assert!(!report.created, "{name}");
        assert_eq!((report.version_before, report.version), (1, 1), "{name}");
        let now: i64 = store.conn(*name).query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(now, cookie, "{name}: DDL ran on reopen");
    }
}

#[test]
fn newer_user_version_is_refused() {
    let (_dir, store) = fresh_store();
    let dir = store.dir().to_owned();
    drop(store);
    let path = dir.join("portfolio.db");
    outside(&path).pragma_update(None, "user_version", 2).unwrap();
    let before = file_hash(&path);
    let err = Store::open(&dir, OpenMode::Existing).err().expect("refused");
    let message = err.to_string();
    assert!(matches!(err, StoreError::NewerSchema { found: 2, supported: 1, .. }), "{message}");
    assert!(message.contains("portfolio.db") && message.contains('2') && message.contains("up to 1"), "{message}");
    assert_eq!(file_hash(&path), before, "the refused file was changed");
}

#[test]
fn wrong_file_is_refused() {
    let (_dir, store) = fresh_store();
    let dir = store.dir().to_owned();
    drop(store);
    std::fs::copy(dir.join("ledger.db"), dir.join("config.db")).unwrap();
    let err = Store::open(&dir, OpenMode::Existing).err().expect("refused");
    assert!(matches!(err, StoreError::WrongFile { expected: "config", found: Some("ledger"), .. }), "{err}");
    assert!(err.to_string().contains("this is ledger.db"), "{err}");
}

#[test]
fn new_file_gets_profile_auto_vacuum() {
    let (_dir, store) = fresh_store();
    for name in DbName::ALL {
        let actual: i64 = store.conn(name).query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(actual, name.spec().profile.auto_vacuum, "{name}");
        let page_size: i64 = store.conn(name).query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(page_size, if name == DbName::History { 16384 } else { 4096 }, "{name}");
    }
}

#[test]
fn an_interrupted_creation_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for name in DbName::ALL {
        std::fs::write(data.join(format!("{name}.db")), b"").unwrap();
    }
    // One file got as far as WAL before the crash: initialised, no tables, auto_vacuum 0.
    Connection::open(data.join("history.db")).unwrap().pragma_update(None, "journal_mode", "WAL").unwrap();
    let store = Store::open(&data, OpenMode::Init).unwrap();
    let auto_vacuum: i64 = store.conn(DbName::History).query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
    assert_eq!(auto_vacuum, 2);
    assert!(DbName::ALL.iter().all(|n| store.report(*n).created));
}

static BROKEN_SPEC: DbSpec = DbSpec {
    name: "broken",
    application_id: 0x4154_52ff,
    profile: STANDARD_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[
        rusqlite_migration::M::up("PRAGMA application_id = 1096045311; CREATE TABLE kept (x INTEGER) STRICT;"),
        rusqlite_migration::M::up("CREATE TABLE half (x INTEGER) STRICT; INSERT INTO nowhere VALUES (1);"),
    ],
    tables: &["half", "kept"],
};

#[test]
fn migration_failure_rolls_back_and_refuses_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_writer(dir.path(), &BROKEN_SPEC, Create::IfMissing).err().expect("migration 2 fails");
    assert!(matches!(err, StoreError::Migration { version: 2, .. }), "{err}");
    assert!(err.to_string().contains("migration 2") && err.to_string().contains("nowhere"), "{err}");
    let conn = outside(&dir.path().join("broken.db"));
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1, "migration 1 committed, 2 rolled back");
    let half: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'half'", [], |r| r.get(0)).unwrap();
    assert_eq!(half, 0, "the failed migration left a table behind");
    // A second start fails the same way: errors are never skipped.
    assert!(open_writer(dir.path(), &BROKEN_SPEC, Create::IfMissing).is_err());
}

#[test]
fn decimal_columns_refuse_non_canonical_text_in_the_real_table() {
    let (_dir, store) = fresh_store();
    let conn = store.conn(DbName::Ledger);
    let insert = |quantity: &str| {
        conn.execute(
            "INSERT INTO trades (symbol, side, quantity, price, executed_at, created_at) \
             VALUES ('AAPL.US', 'BUY', ?1, '1', '2026-01-02T10:00:00Z', '2026-01-02T10:00:00Z')",
            [quantity],
        )
    };
    for bad in ["12.50", "1e-5", "-0", ".5", "+1", "0", "-3"] {
        assert!(insert(bad).is_err(), "quantity {bad} accepted");
    }
    insert("12.5").unwrap();
}

#[test]
fn timestamp_columns_refuse_naive_and_offset_instants() {
    let (_dir, store) = fresh_store();
    let conn = store.conn(DbName::Ledger);
    for bad in ["2026-01-02 10:00:00", "2026-01-02T10:00:00+01:00", "2026-01-02T10:00:00.5Z", "2026-02-30T10:00:00Z"] {
        let result = conn.execute(
            "INSERT INTO trades (symbol, side, quantity, price, executed_at, created_at) VALUES ('A.US', 'BUY', '1', '1', ?1, '2026-01-02T10:00:00Z')",
            [bad],
        );
        assert!(result.is_err(), "{bad} accepted");
    }
}

#[test]
fn ledger_rows_cannot_be_updated_or_deleted() {
    let (_dir, store) = fresh_store();
    store.trades().insert(&trade("AAPL.US", Side::Buy, "1", "100", Some("B1"), "2026-01-02T10:00:00Z")).unwrap();
    let intent = intent("rec-1", Mode::Live);
    store.orders().record_intent(&intent).unwrap();
    store
        .cash_flows()
        .insert(&trader::store::ledger::CashFlow {
            transaction_id: "T1".into(),
            type_doc_id: "337".into(),
            transaction_type: None,
            flow_type: trader::store::ledger::FlowType::Deposit,
            date: chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
            amount: Decimal::new(100, 0),
            currency: "EUR".into(),
            amount_eur: Decimal::new(100, 0),
            currency_rate: None,
            symbol: None,
            status: None,
            status_c: None,
            description: None,
            params_json: None,
            created_at: at("2026-01-02T10:00:00Z"),
        })
        .unwrap();
    let conn = store.conn(DbName::Ledger);
    for (table, column) in
        [("trades", "symbol"), ("cash_flows", "currency"), ("orders", "currency"), ("order_events", "detail")]
    {
        let update = conn.execute(&format!("UPDATE {table} SET {column} = 'USD'"), []);
        let delete = conn.execute(&format!("DELETE FROM {table}"), []);
        assert!(update.unwrap_err().to_string().contains("append-only"), "{table} update");
        assert!(delete.unwrap_err().to_string().contains("append-only"), "{table} delete");
    }
}

fn intent(recommendation: &str, mode: Mode) -> OrderIntent {
    OrderIntent {
        client_order_id: uuid::Uuid::new_v4().to_string(),
        recommendation_uuid: recommendation.into(),
        symbol: "AAPL.US".into(),
        side: Side::Buy,
        quantity: Decimal::new(3, 0),
        order_type: OrderType::Market,
        limit_price: None,
        expected_price: Decimal::new(18_512, 2),
        currency: "USD".into(),
        source: OrderSource::Plan,
        mode,
        created_at: at("2026-01-02T10:00:00Z"),
    }
}

#[test]
fn one_order_per_recommendation() {
    let (_dir, store) = fresh_store();
    let orders = store.orders();
    let first = intent("rec-42", Mode::Live);
    assert_eq!(orders.record_intent(&first).unwrap(), IntentOutcome::Inserted);
    let second = intent("rec-42", Mode::Live);
    match orders.record_intent(&second).unwrap() {
        IntentOutcome::Existing(state) => {
            assert_eq!(state.order.client_order_id, first.client_order_id);
            assert_eq!(state.newest_event.map(|e| e.event), Some(OrderEventKind::Submitted));
        }
        other => panic!("a second order was written: {other:?}"),
    }
    let count: i64 = store.conn(DbName::Ledger).query_row("SELECT count(*) FROM orders", [], |r| r.get(0)).unwrap();
    let events: i64 =
        store.conn(DbName::Ledger).query_row("SELECT count(*) FROM order_events", [], |r| r.get(0)).unwrap();
    assert_eq!((count, events), (1, 1));
}

#[test]
fn no_event_follows_a_final_one_and_research_orders_get_none() {
    let (_dir, store) = fresh_store();
    let orders = store.orders();
    let live = intent("rec-1", Mode::Live);
    orders.record_intent(&live).unwrap();
    orders
        .append_event(&live.client_order_id, OrderEventKind::Accepted, Some("BRK-1"), None, at("2026-01-02T10:00:05Z"))
        .unwrap();
    assert_eq!(orders.open().unwrap().len(), 1);
    orders
        .append_event(&live.client_order_id, OrderEventKind::Filled, Some("BRK-1"), None, at("2026-01-02T10:01:00Z"))
        .unwrap();
    assert!(orders.open().unwrap().is_empty());
    assert!(
        orders
            .append_event(
                &live.client_order_id,
                OrderEventKind::Unknown,
                None,
                Some("late"),
                at("2026-01-02T10:02:00Z")
            )
            .is_err()
    );
    assert_eq!(orders.by_broker_order_id("BRK-1").unwrap().unwrap().order.client_order_id, live.client_order_id);

    let research = intent("rec-2", Mode::Research);
    let mut simulated = trade("AAPL.US", Side::Buy, "3", "185.12", None, "2026-01-02T10:00:00Z");
    simulated.mode = Mode::Research;
    assert_eq!(orders.record_research(&research, &simulated).unwrap(), IntentOutcome::Inserted);
    assert!(
        orders
            .append_event(
                &research.client_order_id,
                OrderEventKind::Accepted,
                Some("X"),
                None,
                at("2026-01-02T10:00:00Z")
            )
            .is_err()
    );
    let research_trades = store.trades().history(10, trader::store::ledger::Modes::LiveAndResearch).unwrap();
    assert_eq!(research_trades.len(), 1);
    assert!(store.trades().history(10, trader::store::ledger::Modes::LiveOnly).unwrap().is_empty());
}

#[test]
fn core_bucket_exists_and_cannot_be_deleted() {
    let (_dir, store) = fresh_store();
    let core = store.buckets().core().unwrap();
    assert_eq!((core.id.as_str(), core.name.as_str()), ("core", "Core Portfolio"));
    assert!(store.buckets().delete("core").is_err());
    let raw = store.conn(DbName::Satellites).execute("DELETE FROM buckets WHERE id = 'core'", []);
    assert!(raw.unwrap_err().to_string().contains("core bucket"));
    assert_eq!(store.balances().allocation_settings().unwrap().len(), 8);
}

#[test]
fn every_balance_change_leaves_a_transaction_row() {
    let (_dir, store) = fresh_store();
    let balances = store.balances();
    let now = at("2026-01-02T10:00:00Z");
    let tx = |kind, amount: &str| trader::store::satellites::BucketTransaction {
        bucket_id: "core".into(),
        tx_type: kind,
        amount: amount.parse().unwrap(),
        currency: "EUR".into(),
        description: None,
        created_at: now,
    };
    use trader::store::satellites::TxType;
    assert_eq!(balances.adjust(&tx(TxType::Deposit, "1000.10")).unwrap(), "1000.1".parse::<Decimal>().unwrap());
    assert_eq!(balances.adjust(&tx(TxType::TradeBuy, "250.05")).unwrap(), "750.05".parse::<Decimal>().unwrap());
    balances.set_balance("core", "EUR", "700".parse().unwrap(), Some("broker says"), now).unwrap();
    let trail = balances.transactions("core", 10, 0, None).unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[0].amount, "-50.05".parse::<Decimal>().unwrap(), "the reallocation carries the signed difference");
    let replayed: Decimal = trail.iter().map(|t| t.tx_type.effect(t.amount)).sum();
    assert_eq!(replayed, balances.balance("core", "EUR").unwrap());
}

#[test]
fn drifted_auto_vacuum_is_reported_and_converted() {
    let (_dir, store) = fresh_store();
    let dir = store.dir().to_owned();
    drop(store);
    let path = dir.join("agents.db");
    let conn = outside(&path);
    conn.pragma_update(None, "auto_vacuum", 0).unwrap();
    conn.execute_batch("VACUUM").unwrap();
    drop(conn);

    let now = at("2026-01-02T10:00:00Z");
    let report = health::report(&dir, now);
    let agents = report.databases.iter().find(|d| d.name == DbName::Agents).unwrap();
    assert_eq!(agents.auto_vacuum_conversion, "pending");
    assert!(
        agents.reasons.iter().any(|r| r.contains("auto_vacuum=0, expected 2, conversion pending")),
        "{:?}",
        agents.reasons
    );

    let store = Store::open(&dir, OpenMode::Existing).expect("a drifted file still opens");
    let done = maintenance::run(&store, now).unwrap();
    let converted = done.iter().find(|d| d.name == DbName::Agents).unwrap();
    assert_eq!(converted.auto_vacuum_conversion, "done 2026-01-02T10:00:00Z");
    drop(store);
    let report = health::report(&dir, now);
    let agents = report.databases.iter().find(|d| d.name == DbName::Agents).unwrap();
    assert_eq!(agents.auto_vacuum_conversion, "none");
    assert!(agents.profile.iter().all(|p| !p.drift));
}

#[test]
fn each_database_holds_only_its_tables_and_health_flags_strangers() {
    let (_dir, store) = fresh_store();
    store.conn(DbName::Config).execute_batch("CREATE TABLE stranger (x INTEGER) STRICT").unwrap();
    let dir = store.dir().to_owned();
    drop(store);
    let report = health::report(&dir, at("2026-01-02T10:00:00Z"));
    for db in &report.databases {
        assert!(db.tables.missing.is_empty(), "{}", db.name);
        let expected: Vec<String> = if db.name == DbName::Config { vec!["stranger".into()] } else { vec![] };
        assert_eq!(db.tables.unexpected, expected, "{}", db.name);
    }
}

#[test]
fn the_layout_check_refuses_legacy_and_incomplete_directories() {
    let (_dir, store) = fresh_store();
    let dir = store.dir().to_owned();
    drop(store);
    std::fs::remove_file(dir.join("cache.db")).unwrap();
    assert_eq!(trader::store::DataDir::new(&dir).layout().unwrap(), Layout::CacheMissing);
    let store = Store::open(&dir, OpenMode::Existing).expect("cache.db is disposable and recreated");
    assert!(store.report(DbName::Cache).created);
    drop(store);

    std::fs::rename(dir.join("ledger.db"), dir.join("ledger.db.moved")).unwrap();
    let err = Store::open(&dir, OpenMode::Existing).err().expect("an incomplete directory is refused");
    assert!(err.to_string().contains("incomplete data directory, missing: ledger.db"), "{err}");
    assert!(!dir.join("ledger.db").exists(), "an empty ledger was created next to existing data");
    std::fs::rename(dir.join("ledger.db.moved"), dir.join("ledger.db")).unwrap();

    Connection::open(dir.join("state.db")).unwrap().execute_batch("CREATE TABLE positions (symbol TEXT)").unwrap();
    let err = Store::open(&dir, OpenMode::Existing).err().expect("legacy files are refused");
    assert!(err.to_string().contains("legacy data layout (state.db)"), "{err}");
}

#[test]
fn restored_securities_keep_their_data_and_first_creation() {
    let (_dir, store) = fresh_store();
    let securities = store.securities();
    let created = at("2025-01-01T00:00:00Z");
    securities.add(&trader::store::universe::Security::new("aapl.us ", "Apple", created)).unwrap();
    assert!(securities.add(&trader::store::universe::Security::new("AAPL.US", "Apple", created)).is_err());
    securities.mark_removed("AAPL.US", at("2026-01-01T00:00:00Z")).unwrap();
    securities.mark_removed("AAPL.US", at("2026-01-05T00:00:00Z")).unwrap();
    assert_eq!(securities.get("AAPL.US").unwrap().unwrap().removed_at, Some(at("2026-01-01T00:00:00Z")));
    assert!(securities.list_in_universe().unwrap().is_empty());
    let outcome = securities
        .add(&trader::store::universe::Security::new("AAPL.US", "Apple Inc.", at("2026-01-06T00:00:00Z")))
        .unwrap();
    assert_eq!(outcome, trader::store::universe::AddOutcome::Restored);
    let back = securities.get("AAPL.US").unwrap().unwrap();
    assert_eq!((back.name.as_str(), back.created_at, back.removed_at), ("Apple Inc.", created, None));
}

#[test]
fn prices_come_back_oldest_first_and_months_are_rebuilt() {
    let (_dir, store) = fresh_store();
    let bar = |d: u32, close: f64| trader::store::history::DailyBar {
        date: chrono::NaiveDate::from_ymd_opt(2026, 1, d).unwrap(),
        open: None,
        high: Some(close + 1.0),
        low: Some(close - 1.0),
        close,
        adjusted_close: None,
        volume: Some(10),
        source: "test".into(),
    };
    let prices = store.prices();
    prices.upsert_daily("SAP.EU", &[bar(5, 10.0), bar(2, 20.0), bar(6, 30.0)]).unwrap();
    let last_two: Vec<f64> = prices.last_daily("SAP.EU", 2).unwrap().iter().map(|b| b.close).collect();
    assert_eq!(last_two, vec![10.0, 30.0]);
    assert_eq!(prices.rebuild_monthly("SAP.EU").unwrap(), 1);
    let month = &prices.monthly("SAP.EU", 12).unwrap()[0];
    assert_eq!(
        (month.year_month.as_str(), month.avg_close, month.min_price, month.max_price),
        ("2026-01", 20.0, Some(9.0), Some(31.0))
    );
    let bad = store
        .conn(DbName::History)
        .execute("INSERT INTO daily_prices (symbol, date, close) VALUES ('SAP.EU', '2026-01-07', 0)", params![]);
    assert!(bad.is_err(), "a zero close was accepted");
}
