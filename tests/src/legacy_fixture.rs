//! Builders of legacy data directories for the migrator's tests and benchmark: the exact legacy DDL of either
//! lineage (../shared/fixtures/legacy-schema, read at run time), rows inserted by column name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::types::Value;

/// Which column order the files get (legacy-schema/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lineage {
    /// Created by the final schema code.
    Fresh,
    /// Brought forward by `ALTER TABLE … ADD COLUMN` (the real sample's order).
    Upgrade,
}

/// `../shared/fixtures/legacy-schema`, if present.
pub fn schema_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/legacy-schema");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("NOTICE: {} is absent; skipping a test that builds legacy fixtures", dir.display());
        None
    }
}

/// A legacy data directory being built.
pub struct Builder {
    pub dir: PathBuf,
    schema: PathBuf,
    lineage: Lineage,
    conns: BTreeMap<String, Connection>,
}

/// A value for a legacy column.
pub fn t(s: &str) -> Value {
    Value::Text(s.to_owned())
}
pub fn r(x: f64) -> Value {
    Value::Real(x)
}
pub fn i(x: i64) -> Value {
    Value::Integer(x)
}
pub const NULL: Value = Value::Null;

impl Builder {
    pub fn new(dir: &Path, lineage: Lineage) -> Option<Builder> {
        let schema = schema_dir()?;
        std::fs::create_dir_all(dir.join("history")).unwrap();
        Some(Builder { dir: dir.to_owned(), schema, lineage, conns: BTreeMap::new() })
    }

    /// The DDL file of a legacy database.
    fn ddl(&self, file: &str) -> PathBuf {
        if file.starts_with("history/") {
            return self.schema.join("common/history.sql");
        }
        let stem = file.trim_end_matches(".db");
        let lineage = match self.lineage {
            Lineage::Fresh => "fresh",
            Lineage::Upgrade => "upgrade",
        };
        let specific = self.schema.join(lineage).join(format!("{stem}.sql"));
        if specific.is_file() { specific } else { self.schema.join("common").join(format!("{stem}.sql")) }
    }

    /// The connection of a legacy file, created with its exact DDL (in WAL, as the original ran) on first use.
    pub fn db(&mut self, file: &str) -> &Connection {
        if !self.conns.contains_key(file) {
            let conn = Connection::open(self.dir.join(file)).unwrap();
            // The original never enabled foreign keys; the bundled SQLite would.
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF").unwrap();
            let ddl = std::fs::read_to_string(self.ddl(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            conn.execute_batch(&ddl).unwrap_or_else(|e| panic!("{file}: {e}"));
            conn.execute_batch("BEGIN").unwrap();
            self.conns.insert(file.to_owned(), conn);
        }
        &self.conns[file]
    }

    /// Inserts one row by column name.
    pub fn insert(&mut self, file: &str, table: &str, row: &[(&str, Value)]) {
        let columns = row.iter().map(|(c, _)| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let params = (1..=row.len()).map(|n| format!("?{n}")).collect::<Vec<_>>().join(", ");
        let sql = format!("INSERT INTO \"{table}\" ({columns}) VALUES ({params})");
        let conn = self.db(file);
        let mut stmt = conn.prepare_cached(&sql).unwrap_or_else(|e| panic!("{file} {table}: {e}"));
        stmt.execute(rusqlite::params_from_iter(row.iter().map(|(_, v)| v)))
            .unwrap_or_else(|e| panic!("{file} {table}: {e}"));
    }

    /// Runs raw SQL on a file (to damage it or change its shape).
    pub fn exec(&mut self, file: &str, sql: &str) {
        self.db(file).execute_batch(sql).unwrap_or_else(|e| panic!("{file}: {e}"));
    }

    /// Commits and closes every file.
    pub fn finish(self) -> PathBuf {
        for (_, conn) in self.conns {
            conn.execute_batch("COMMIT").unwrap();
            conn.close().unwrap();
        }
        self.dir
    }
}

/// The mandatory minimum of a legacy installation: config.db and ledger.db with a security each way.
pub fn minimal(b: &mut Builder) {
    security(b, "AAPL.US", Some("US0378331005"), "Apple Inc.", true);
    b.insert(
        "config.db",
        "settings",
        &[("key", t("min_cash_reserve_eur")), ("value", t("500")), ("updated_at", t("2025-12-24T15:22:47.324361"))],
    );
    b.db("ledger.db");
}

/// A security row (the `securities` table of config.db).
pub fn security(b: &mut Builder, symbol: &str, isin: Option<&str>, name: &str, active: bool) {
    b.insert(
        "config.db",
        "securities",
        &[
            ("symbol", t(symbol)),
            ("isin", isin.map(t).unwrap_or(NULL)),
            ("name", t(name)),
            ("active", i(i64::from(active))),
            ("currency", t("EUR")),
            ("created_at", t("2024-01-02T10:00:00.123456")),
            ("updated_at", t("2025-12-24 16:16:23")),
        ],
    );
}

/// Weekdays from `start`, `n` of them.
pub fn weekdays(start: chrono::NaiveDate, n: usize) -> Vec<chrono::NaiveDate> {
    use chrono::Datelike;
    start.iter_days().filter(|d| d.weekday().num_days_from_monday() < 5).take(n).collect()
}

/// Daily and monthly prices in one history file.
pub fn history_file(b: &mut Builder, stem: &str, days: &[chrono::NaiveDate], base: f64) {
    let file = format!("history/{stem}.db");
    let mut months: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (n, day) in days.iter().enumerate() {
        let close = base * (1.0 + 0.0003 * n as f64) + (n % 7) as f64 * 0.01;
        months.entry(day.format("%Y-%m").to_string()).or_default().push(close);
        b.insert(
            &file,
            "daily_prices",
            &[
                ("date", t(&day.format("%Y-%m-%d").to_string())),
                ("open_price", r(close * 0.99)),
                ("high_price", r(close * 1.01)),
                ("low_price", r(close * 0.98)),
                ("close_price", r(close)),
                ("volume", i(100_000 + n as i64)),
                ("created_at", t("2025-12-24 16:16:23")),
            ],
        );
    }
    for (month, closes) in months {
        let avg = closes.iter().sum::<f64>() / closes.len() as f64;
        b.insert(
            &file,
            "monthly_prices",
            &[
                ("year_month", t(&month)),
                ("avg_close", r(avg)),
                ("avg_adj_close", r(avg)),
                ("created_at", t("2025-12-24 16:16:23")),
            ],
        );
    }
}

/// The production-size directory of the issue: 65 securities × 20 years of daily prices (half of the history
/// files named by ISIN), with trades, cash flows, positions, scores and snapshots. Returns the daily row count.
pub fn production(b: &mut Builder) -> usize {
    let days = weekdays(chrono::NaiveDate::from_ymd_opt(2006, 1, 2).unwrap(), 20 * 261);
    for n in 0..65 {
        let symbol = format!("SYM{n}.EU");
        let isin = (n % 2 == 0).then(|| format!("DE{:09}{}", 100_000 + n, n % 10));
        security(b, &symbol, isin.as_deref(), &format!("Security number {n}"), n % 13 != 0);
        let stem = isin.clone().unwrap_or_else(|| symbol.replace(['.', '-'], "_"));
        history_file(b, &stem, &days, 10.0 + n as f64);
    }
    for n in 0..2000i64 {
        b.insert(
            "ledger.db",
            "trades",
            &[
                ("id", i(n + 1)),
                ("symbol", t(&format!("SYM{}.EU", n % 65))),
                ("side", t(if n % 5 == 4 { "SELL" } else { "BUY" })),
                ("quantity", r(1.0 + (n % 17) as f64)),
                ("price", r(10.0 + (n % 100) as f64 * 0.1 + 0.0001)),
                ("executed_at", t(&format!("2024-{:02}-{:02}T10:00:00.000", n % 12 + 1, n % 28 + 1))),
                ("order_id", t(&format!("O{n}"))),
                ("created_at", t("2025-12-24 16:16:23")),
            ],
        );
    }
    for n in 0..5000i64 {
        let kinds = ["dividend", "trading_fee", "withdrawal", "coupon", "type_269"];
        b.insert(
            "ledger.db",
            "cash_flows",
            &[
                ("id", i(n + 1)),
                ("transaction_id", t(&format!("T{n}"))),
                ("type_doc_id", if n % 2 == 0 { i(337) } else { t("corp_dividend") }),
                ("transaction_type", t(kinds[n as usize % kinds.len()])),
                ("date", t(&format!("2025-{:02}-{:02}", n % 12 + 1, n % 28 + 1))),
                ("amount", r(0.1 + (n % 1000) as f64 * 0.37)),
                ("currency", t("EUR")),
                ("amount_eur", r(0.1 + (n % 1000) as f64 * 0.37)),
                ("created_at", t("2025-12-24 16:16:23")),
            ],
        );
    }
    days.len() * 65
}
