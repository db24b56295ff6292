//! Verification of a migration by content (legacy-layout.md §9.8): order-independent digests of every row,
//! exact decimal sums, and an accounting identity for every source table.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::mapping::{DESTINATIONS, Dest, NotMigrated};
use crate::store::values::parse_canonical_decimal;

/// Encodes one value as §9.8 says, appending to `out`.
fn encode_value(v: rusqlite::types::ValueRef<'_>, out: &mut Vec<u8>) {
    use rusqlite::types::ValueRef;
    use std::io::Write;
    match v {
        ValueRef::Null => out.push(b'N'),
        ValueRef::Integer(i) => {
            let _ = write!(out, "I{i};");
        }
        ValueRef::Real(r) => {
            let _ = write!(out, "R{:016x}", r.to_bits());
        }
        ValueRef::Text(t) => {
            let _ = write!(out, "T{}:", t.len());
            out.extend_from_slice(t);
        }
        ValueRef::Blob(b) => {
            let _ = write!(out, "B{}:", b.len());
            out.extend_from_slice(b);
        }
    }
}

/// A table's row count, digest and decimal sums (a sum is an error when a value is not canonical).
pub type Summary = (usize, String, Vec<Result<Decimal, String>>);

/// Row count, digest and decimal sums of a table, streamed from the database without keeping its rows.
pub fn summarize(conn: &rusqlite::Connection, dest: &Dest) -> rusqlite::Result<Summary> {
    let decimal_at: Vec<usize> =
        decimal_columns(dest).iter().map(|c| dest.columns.iter().position(|x| x == c).expect("a column")).collect();
    let mut sums: Vec<Result<Decimal, String>> = vec![Ok(Decimal::ZERO); decimal_at.len()];
    let mut stmt = conn.prepare(&format!("SELECT {} FROM {}", dest.columns.join(", "), dest.table))?;
    let mut rows = stmt.query([])?;
    let mut hashes: Vec<[u8; 32]> = Vec::new();
    let mut buf = Vec::with_capacity(256);
    while let Some(row) = rows.next()? {
        buf.clear();
        for i in 0..dest.columns.len() {
            encode_value(row.get_ref(i)?, &mut buf);
        }
        let mut h = Sha256::new();
        h.update(dest.table.as_bytes());
        h.update([0u8]);
        h.update(&buf);
        hashes.push(h.finalize().into());
        for (slot, &i) in decimal_at.iter().enumerate() {
            if let (Ok(sum), rusqlite::types::ValueRef::Text(t)) = (&mut sums[slot], row.get_ref(i)?) {
                let text = std::str::from_utf8(t).unwrap_or("");
                match parse_canonical_decimal(text) {
                    Ok(d) => *sum += d,
                    Err(e) => sums[slot] = Err(format!("{}.{}: {e}", dest.table, dest.columns[i])),
                }
            }
        }
    }
    hashes.sort();
    let mut h = Sha256::new();
    for hash in &hashes {
        h.update(hash);
    }
    Ok((hashes.len(), hex(&h.finalize()), sums))
}

/// Compares a destination in two databases by streamed summaries; only a mismatch reads the rows to list them.
pub fn compare_tables(
    dest: &Dest,
    expected: &rusqlite::Connection,
    expected_summary: &Summary,
    actual: &rusqlite::Connection,
) -> rusqlite::Result<TableCheck> {
    let (en, ed, es) = expected_summary.clone();
    let (an, ad, sums) = summarize(actual, dest)?;
    let sums_ok = es.iter().zip(&sums).all(|(x, y)| x.is_ok() && x == y);
    if en == an && ed == ad && sums_ok {
        let render =
            |s: &Result<Decimal, String>| s.as_ref().map(|d| d.normalize().to_string()).unwrap_or_else(|e| e.clone());
        let decimal_sums = decimal_columns(dest)
            .iter()
            .zip(es.iter().zip(&sums))
            .map(|(c, (x, y))| DecimalSum { column: c.to_string(), expected: render(x), actual: render(y) })
            .collect();
        return Ok(TableCheck {
            db: dest.db.to_string(),
            table: dest.table.to_owned(),
            expected_rows: en,
            actual_rows: an,
            expected_digest: ed,
            actual_digest: ad,
            decimal_sums,
            only_expected: Vec::new(),
            only_actual: Vec::new(),
            float_checks: Vec::new(),
            ok: true,
        });
    }
    let read = |conn: &rusqlite::Connection| -> rusqlite::Result<Vec<Vec<Value>>> {
        let mut stmt = conn.prepare(&format!("SELECT {} FROM {}", dest.columns.join(", "), dest.table))?;
        let n = dest.columns.len();
        let rows =
            stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>())?;
        rows.collect()
    };
    Ok(compare(dest, &read(expected)?, &read(actual)?))
}

/// Encodes a row as §9.8 says: NULL `N`; INTEGER `I<digits>;`; REAL `R<16 hex of the bits>`; TEXT `T<len>:<bytes>`.
pub fn encode_row(row: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in row {
        encode_value(v.into(), &mut out);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn row_hash(table: &str, row: &[Value]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(table.as_bytes());
    h.update([0u8]);
    h.update(encode_row(row));
    h.finalize().into()
}

/// SHA-256 of the sorted row hashes: independent of order, sensitive to multiplicity.
pub fn digest(table: &str, rows: &[Vec<Value>]) -> String {
    let mut hashes: Vec<[u8; 32]> = rows.iter().map(|r| row_hash(table, r)).collect();
    hashes.sort();
    let mut h = Sha256::new();
    for hash in hashes {
        h.update(hash);
    }
    hex(&h.finalize())
}

/// Decimal columns of the destinations (storage.md §5.2): summed exactly on both sides.
pub fn decimal_columns(dest: &Dest) -> &'static [&'static str] {
    match dest.table {
        "trades" => &["quantity", "price", "currency_rate", "value_eur", "commission"],
        "cash_flows" => &["amount", "amount_eur", "currency_rate"],
        "dividend_history" => &["amount", "amount_eur", "currency_rate", "reinvested_quantity", "pending_bonus"],
        "bucket_balances" => &["balance"],
        "bucket_transactions" => &["amount"],
        _ => &[],
    }
}

/// The exact sum of a decimal column; `Err` names a value that is not canonical.
pub fn decimal_sum(dest: &Dest, column: &str, rows: &[Vec<Value>]) -> Result<Decimal, String> {
    let i = dest.columns.iter().position(|c| *c == column).expect("a decimal column of the destination");
    let mut sum = Decimal::ZERO;
    for row in rows {
        if let Value::Text(t) = &row[i] {
            sum += parse_canonical_decimal(t).map_err(|e| format!("{}.{column}: {e}", dest.table))?;
        }
    }
    Ok(sum)
}

#[derive(Debug, Clone, Serialize)]
pub struct DecimalSum {
    pub column: String,
    pub expected: String,
    pub actual: String,
}

/// The comparison of one destination table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    pub db: String,
    pub table: String,
    pub expected_rows: usize,
    pub actual_rows: usize,
    pub expected_digest: String,
    pub actual_digest: String,
    pub decimal_sums: Vec<DecimalSum>,
    /// Up to 100 rows (encoded) present only on one side.
    pub only_expected: Vec<String>,
    pub only_actual: Vec<String>,
    /// §9.8 step 4: Σ|x| of the raw legacy REALs against Σ|x| of the migrated decimals.
    pub float_checks: Vec<FloatCheck>,
    pub ok: bool,
}

/// One float cross-check of a decimal column.
#[derive(Debug, Clone, Serialize)]
pub struct FloatCheck {
    pub column: String,
    pub legacy_total: f64,
    pub migrated_total: f64,
    pub ok: bool,
}

/// Single-source ledger and bucket columns whose every legacy row is migrated (strict destinations): the
/// float cross-check compares SQLite's `total(abs(x))` over the legacy table with the migrated decimals.
pub const FLOAT_CHECKED: [(&str, &str, &str, &[&str]); 4] = [
    ("ledger.db", "trades", "trades", &["quantity", "price", "currency_rate", "value_eur"]),
    ("ledger.db", "cash_flows", "cash_flows", &["amount", "amount_eur"]),
    ("satellites.db", "bucket_balances", "bucket_balances", &["balance"]),
    ("satellites.db", "bucket_transactions", "bucket_transactions", &["amount"]),
];

/// Σ|x| of a destination's decimal column, as a float.
fn migrated_abs_total(conn: &rusqlite::Connection, table: &str, column: &str) -> rusqlite::Result<f64> {
    let mut stmt = conn.prepare(&format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL"))?;
    let mut rows = stmt.query([])?;
    let mut sum = Decimal::ZERO;
    while let Some(row) = rows.next()? {
        if let Ok(d) = parse_canonical_decimal(&row.get::<_, String>(0)?) {
            sum += d.abs();
        }
    }
    Ok(rust_decimal::prelude::ToPrimitive::to_f64(&sum).unwrap_or(f64::NAN))
}

/// Adds the float cross-checks of one destination (legacy totals from [`legacy_totals`]).
pub fn add_float_checks(
    check: &mut TableCheck,
    actual: &rusqlite::Connection,
    legacy: &BTreeMap<String, f64>,
) -> rusqlite::Result<()> {
    for (_, _, table, columns) in FLOAT_CHECKED.iter().filter(|(_, _, t, _)| *t == check.table) {
        for column in *columns {
            let Some(&legacy_total) = legacy.get(&format!("{table}.{column}")) else { continue };
            let migrated_total = migrated_abs_total(actual, table, column)?;
            let ok = (legacy_total - migrated_total).abs() <= 1e-9 * legacy_total + 1e-6;
            check.ok &= ok;
            check.float_checks.push(FloatCheck { column: column.to_string(), legacy_total, migrated_total, ok });
        }
    }
    Ok(())
}

/// SQLite's `total(abs(x))` of the raw legacy values of the float-checked columns, read from the source copies.
pub fn legacy_totals<'c>(conn_of: impl Fn(&str) -> Option<&'c rusqlite::Connection>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (file, legacy_table, table, columns) in FLOAT_CHECKED {
        let Some(conn) = conn_of(file) else { continue };
        for column in columns {
            let sql = format!(
                "SELECT total(abs({})) FROM {}",
                super::source::quote(column),
                super::source::quote(legacy_table)
            );
            if let Ok(total) = conn.query_row(&sql, [], |r| r.get::<_, f64>(0)) {
                out.insert(format!("{table}.{column}"), total);
            }
        }
    }
    out
}

fn show(row: &[Value]) -> String {
    row.iter()
        .map(|v| match v {
            Value::Null => "NULL".into(),
            Value::Integer(i) => i.to_string(),
            Value::Real(r) => format!("{r}"),
            Value::Text(t) => t.clone(),
            Value::Blob(b) => format!("<{} bytes>", b.len()),
        })
        .take(3)
        .collect::<Vec<_>>()
        .join("|")
}

/// Compares expected and actual rows of one destination.
pub fn compare(dest: &Dest, expected: &[Vec<Value>], actual: &[Vec<Value>]) -> TableCheck {
    let (e, a) = (digest(dest.table, expected), digest(dest.table, actual));
    let mut sums = Vec::new();
    let mut sums_ok = true;
    for column in decimal_columns(dest) {
        let (x, y) = (decimal_sum(dest, column, expected), decimal_sum(dest, column, actual));
        let render =
            |s: &Result<Decimal, String>| s.as_ref().map(|d| d.normalize().to_string()).unwrap_or_else(|e| e.clone());
        sums_ok &= x.is_ok() && x == y;
        sums.push(DecimalSum { column: column.to_string(), expected: render(&x), actual: render(&y) });
    }
    let (mut only_e, mut only_a) = (Vec::new(), Vec::new());
    if e != a {
        let count = |rows: &[Vec<Value>]| {
            let mut m: BTreeMap<Vec<u8>, (usize, String)> = BTreeMap::new();
            for r in rows {
                m.entry(encode_row(r)).or_insert((0, show(r))).0 += 1;
            }
            m
        };
        let (ce, ca) = (count(expected), count(actual));
        only_e = ce
            .iter()
            .filter(|(k, (n, _))| ca.get(*k).map(|x| x.0) != Some(*n))
            .map(|(_, (_, s))| s.clone())
            .take(100)
            .collect();
        only_a = ca
            .iter()
            .filter(|(k, (n, _))| ce.get(*k).map(|x| x.0) != Some(*n))
            .map(|(_, (_, s))| s.clone())
            .take(100)
            .collect();
    }
    TableCheck {
        db: dest.db.to_string(),
        table: dest.table.to_owned(),
        expected_rows: expected.len(),
        actual_rows: actual.len(),
        ok: e == a && expected.len() == actual.len() && sums_ok,
        expected_digest: e,
        actual_digest: a,
        decimal_sums: sums,
        only_expected: only_e,
        only_actual: only_a,
        float_checks: Vec::new(),
    }
}

/// One source table's accounting: rows read = migrated + every code of the rows that were not.
#[derive(Debug, Clone, Serialize)]
pub struct Accounting {
    pub source: String,
    pub read: usize,
    pub migrated: usize,
    pub not_migrated: BTreeMap<String, usize>,
    pub balanced: bool,
}

/// Builds the accounting of every source table from what was read, what arrived, and what did not.
pub fn accounting(
    read: &BTreeMap<String, usize>,
    migrated: &BTreeMap<String, usize>,
    not_migrated: &[NotMigrated],
) -> Vec<Accounting> {
    read.iter()
        .map(|(source, n)| {
            let mut codes: BTreeMap<String, usize> = BTreeMap::new();
            for d in not_migrated.iter().filter(|d| format!("{}:{}", d.file, d.table) == *source) {
                *codes.entry(d.code.clone()).or_insert(0) += 1;
            }
            let arrived = migrated.get(source).copied().unwrap_or(0);
            let balanced = *n == arrived + codes.values().sum::<usize>();
            Accounting { source: source.clone(), read: *n, migrated: arrived, not_migrated: codes, balanced }
        })
        .collect()
}

/// All destinations, for callers that walk them.
pub fn destinations() -> &'static [Dest] {
    &DESTINATIONS
}
