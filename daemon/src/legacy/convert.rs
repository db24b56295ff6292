//! The conversion rules of legacy-layout.md §6: pure functions from a legacy SQLite value to the value the new
//! schema stores. Both the build and the verification use them; every application is counted.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};
use rusqlite::types::Value;
use rust_decimal::Decimal;

use crate::store::values::{canonical_decimal, format_instant};

/// Why a value could not be converted; becomes `REJECTED_<RULE>` or a blocking rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `TIMESTAMP`, `DATE`, `DECIMAL`, `INTEGER`, `BOOLEAN`, `TEXT`, or a rule of the mapping (`SIDE`, `RANGE`, …).
    pub rule: &'static str,
    pub detail: String,
}

impl Rejection {
    pub fn new(rule: &'static str, detail: impl Into<String>) -> Rejection {
        Rejection { rule, detail: detail.into() }
    }
}

pub type Converted<T> = Result<T, Rejection>;

/// Counts of the conversions applied (the report's `conversions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters(pub BTreeMap<&'static str, u64>);

impl Counters {
    pub fn bump(&mut self, what: &'static str) {
        *self.0.entry(what).or_insert(0) += 1;
    }
    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            *self.0.entry(k).or_insert(0) += v;
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => format!("{r}"),
        Value::Text(t) => format!("'{t}'"),
        Value::Blob(b) => format!("<{} byte blob>", b.len()),
    }
}

/// `ts(x)`: every legacy timestamp shape (F1–F8) to `YYYY-MM-DDTHH:MM:SSZ`. Values without a zone are taken as
/// UTC; fractions are truncated; `''` is NULL.
pub fn ts(v: &Value, c: &mut Counters) -> Converted<Option<String>> {
    let text = match v {
        Value::Null => return Ok(None),
        Value::Integer(i) => return unix(*i as f64, v, c).map(Some),
        Value::Real(r) => return unix(*r, v, c).map(Some),
        Value::Text(t) => t.trim(),
        Value::Blob(_) => return Err(Rejection::new("TIMESTAMP", describe(v))),
    };
    if text.is_empty() {
        return Ok(None);
    }
    parse_ts(text, c).map(Some).ok_or_else(|| Rejection::new("TIMESTAMP", describe(v)))
}

/// F8: Unix seconds, or milliseconds from 10¹¹ on.
fn unix(value: f64, v: &Value, c: &mut Counters) -> Converted<String> {
    if !value.is_finite() {
        return Err(Rejection::new("TIMESTAMP", describe(v)));
    }
    let seconds = if value.abs() >= 1e11 { value / 1000.0 } else { value };
    if seconds.fract() != 0.0 {
        c.bump("subseconds_truncated");
    }
    let at =
        DateTime::from_timestamp(seconds.trunc() as i64, 0).ok_or_else(|| Rejection::new("TIMESTAMP", describe(v)))?;
    c.bump("unix_time_converted");
    Ok(format_instant(at))
}

/// Reads `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0u32, |acc, d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
}

/// `YYYY-MM-DD` at the start of `b`, validated as a calendar date.
fn leading_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)
}

/// The common naive shapes F1–F4 without chrono's format machinery: `YYYY-MM-DD[T ]HH:MM:SS[.f…]`.
/// Returns the canonical instant and whether a non-zero fraction was cut.
fn fast_naive(text: &str) -> Option<(String, bool)> {
    let b = text.as_bytes();
    let day = leading_date(b)?;
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    let fraction = &b[19..];
    let cut = match fraction.split_first() {
        None => false,
        Some((b'.', rest)) if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => {
            rest.iter().any(|d| *d != b'0')
        }
        _ => return None,
    };
    let at = day.and_hms_opt(h, m, s)?;
    Some((format_instant(at.and_utc()), cut))
}

fn parse_ts(text: &str, c: &mut Counters) -> Option<String> {
    if let Some((canonical, cut)) = fast_naive(text) {
        if cut {
            c.bump("subseconds_truncated");
        }
        c.bump("naive_ts_as_utc");
        return Some(canonical);
    }
    let zoned = |at: DateTime<chrono::FixedOffset>, c: &mut Counters| {
        if at.nanosecond() != 0 {
            c.bump("subseconds_truncated");
        }
        if at.offset().local_minus_utc() != 0 {
            c.bump("offset_converted_to_utc");
        }
        format_instant(at.with_timezone(&chrono::Utc))
    };
    // F6: RFC 3339 with Z or an offset (±HH:MM or ±HHMM).
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(zoned(at, c));
    }
    if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(zoned(at, c));
    }
    // F7: Go's `2026-01-03 20:39:49.1 +0200 EET m=+0.000000001`: the zone name and monotonic part are ignored.
    let go = text.split(" m=").next().unwrap_or(text);
    let mut parts = go.split(' ');
    if let (Some(date), Some(time), Some(offset)) = (parts.next(), parts.next(), parts.next())
        && (offset.starts_with('+') || offset.starts_with('-'))
        && let Ok(at) = DateTime::parse_from_str(&format!("{date} {time} {offset}"), "%Y-%m-%d %H:%M:%S%.f %z")
    {
        return Some(zoned(at, c));
    }
    // F1–F4: naive, taken as UTC.
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            if at.nanosecond() != 0 {
                c.bump("subseconds_truncated");
            }
            c.bump("naive_ts_as_utc");
            return Some(format_instant(at.and_utc()));
        }
    }
    // F5: a date alone.
    if text.len() == 10
        && let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
    {
        c.bump("date_as_midnight_utc");
        return Some(format_instant(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()));
    }
    None
}

/// `date(x)`: a calendar date `YYYY-MM-DD`; a timestamp gives its date part as written (no zone shift).
pub fn date(v: &Value, c: &mut Counters) -> Converted<Option<String>> {
    let text = match v {
        Value::Null => return Ok(None),
        Value::Text(t) => t.trim().to_owned(),
        Value::Integer(_) | Value::Real(_) => {
            return ts(v, c).map(|t| t.map(|t| t[..10].to_owned()));
        }
        Value::Blob(_) => return Err(Rejection::new("DATE", describe(v))),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() == 10 && leading_date(text.as_bytes()).is_some() {
        return Ok(Some(text));
    }
    let day = leading_date(text.as_bytes());
    match day {
        Some(day) if text.len() == 10 || parse_ts(&text, &mut Counters::default()).is_some() => {
            if text.len() > 10 {
                c.bump("timestamp_as_date");
            }
            Ok(Some(day.format("%Y-%m-%d").to_string()))
        }
        _ => Err(Rejection::new("DATE", describe(v))),
    }
}

/// The shortest decimal text that parses back to the same double; Rust's `{}` never uses an exponent.
pub fn shortest(r: f64) -> String {
    format!("{r}")
}

/// `dec(x)`: a legacy number (REAL, INTEGER or numeric TEXT) to canonical decimal text.
pub fn dec(v: &Value, c: &mut Counters) -> Converted<Option<String>> {
    let reject = || Rejection::new("DECIMAL", describe(v));
    let value = match v {
        Value::Null => return Ok(None),
        Value::Integer(i) => Decimal::from(*i),
        Value::Real(r) => {
            if !r.is_finite() {
                return Err(reject());
            }
            c.bump("real_to_decimal");
            Decimal::from_str_exact(&shortest(*r)).map_err(|_| reject())?
        }
        Value::Text(t) => {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            let parsed = if t.contains(['e', 'E']) { Decimal::from_scientific(t) } else { Decimal::from_str_exact(t) };
            parsed.map_err(|_| reject())?
        }
        Value::Blob(_) => return Err(reject()),
    };
    Ok(Some(canonical_decimal(value)))
}

/// `int(x)`: INTEGER, an integral REAL, or the text of an integer.
pub fn int(v: &Value) -> Converted<Option<i64>> {
    match v {
        Value::Null => Ok(None),
        Value::Integer(i) => Ok(Some(*i)),
        Value::Real(r) if r.fract() == 0.0 && r.is_finite() && r.abs() < 9.2e18 => Ok(Some(*r as i64)),
        Value::Text(t) if t.trim().parse::<i64>().is_ok() => Ok(t.trim().parse().ok()),
        Value::Text(t) if t.trim().is_empty() => Ok(None),
        _ => Err(Rejection::new("INTEGER", describe(v))),
    }
}

/// `txt(x)`: TEXT kept, INTEGER as digits, REAL as its shortest round-trip decimal.
pub fn txt(v: &Value) -> Converted<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::Text(t) => Ok(Some(t.clone())),
        Value::Integer(i) => Ok(Some(i.to_string())),
        Value::Real(r) if r.is_finite() => Ok(Some(shortest(*r))),
        _ => Err(Rejection::new("TEXT", describe(v))),
    }
}

/// `bool(x, d)`: 0/1 as INTEGER, REAL or text; NULL gives the default.
pub fn boolean(v: &Value, default: bool) -> Converted<bool> {
    match v {
        Value::Null => Ok(default),
        Value::Integer(0) => Ok(false),
        Value::Integer(1) => Ok(true),
        Value::Real(r) if *r == 0.0 => Ok(false),
        Value::Real(r) if *r == 1.0 => Ok(true),
        Value::Text(t) if t.trim() == "0" => Ok(false),
        Value::Text(t) if t.trim() == "1" => Ok(true),
        _ => Err(Rejection::new("BOOLEAN", describe(v))),
    }
}

/// A text column read as text (`''` kept): NULL stays NULL, numbers are spelled.
fn text_of(v: &Value) -> Option<String> {
    txt(v).ok().flatten()
}

/// `sym(x)`: trim, upper case.
pub fn sym(v: &Value) -> Option<String> {
    text_of(v).map(|t| t.trim().to_uppercase())
}

/// `cur(x)`: trim, upper case, `''` → NULL.
pub fn cur(v: &Value) -> Option<String> {
    blank(v).map(|t| t.to_uppercase())
}

/// `blank(x)`: trim, `''` → NULL.
pub fn blank(v: &Value) -> Option<String> {
    text_of(v).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A REAL column taken as is (INTEGER widened); text or blobs are rejected.
pub fn real(v: &Value) -> Converted<Option<f64>> {
    match v {
        Value::Null => Ok(None),
        Value::Real(r) => Ok(Some(*r)),
        Value::Integer(i) => Ok(Some(*i as f64)),
        Value::Text(t) => t.trim().parse::<f64>().map(Some).map_err(|_| Rejection::new("REAL", describe(v))),
        Value::Blob(_) => Err(Rejection::new("REAL", describe(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn ts_of(v: Value) -> Option<String> {
        ts(&v, &mut Counters::default()).unwrap()
    }

    #[test]
    fn every_legacy_timestamp_shape_becomes_utc_whole_seconds() {
        let cases = [
            ("2025-12-24T15:22:47.324361", "2025-12-24T15:22:47Z"),
            ("2025-11-01T00:00:00", "2025-11-01T00:00:00Z"),
            ("2024-05-14T16:30:06.000", "2024-05-14T16:30:06Z"),
            ("2025-12-24 16:16:23", "2025-12-24T16:16:23Z"),
            ("2025-12-30", "2025-12-30T00:00:00Z"),
            ("2026-01-03T20:39:49+02:00", "2026-01-03T18:39:49Z"),
            ("2026-01-03T20:39:49.999Z", "2026-01-03T20:39:49Z"),
            ("2026-01-03T20:39:49+0200", "2026-01-03T18:39:49Z"),
            ("2026-01-03 20:39:49.1 +0200 EET", "2026-01-03T18:39:49Z"),
            ("2026-01-03 20:39:49.1 +0200 EET m=+0.000000001", "2026-01-03T18:39:49Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(ts_of(t(input)).as_deref(), Some(expected), "{input}");
        }
        assert_eq!(ts_of(Value::Integer(1767472789)).as_deref(), Some("2026-01-03T20:39:49Z"));
        assert_eq!(ts_of(Value::Integer(1767472789123)).as_deref(), Some("2026-01-03T20:39:49Z"));
        assert_eq!(ts_of(Value::Real(1767472789.7)).as_deref(), Some("2026-01-03T20:39:49Z"));
        assert_eq!(ts_of(t("")), None);
        assert_eq!(ts_of(Value::Null), None);
        for bad in ["t", "2026-02-30T00:00:00", "yesterday", "2026-01-03T25:00:00"] {
            assert!(ts(&t(bad), &mut Counters::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_keep_the_calendar_day_as_written() {
        let mut c = Counters::default();
        assert_eq!(date(&t("2025-12-30"), &mut c).unwrap().as_deref(), Some("2025-12-30"));
        assert_eq!(date(&t("2025-12-30T23:30:00+05:00"), &mut c).unwrap().as_deref(), Some("2025-12-30"));
        assert!(date(&t("2025-13-01"), &mut c).is_err());
        assert!(date(&t("2025-12-30xyz"), &mut c).is_err());
    }

    #[test]
    fn decimals_are_the_shortest_round_trip_in_canonical_form() {
        let mut c = Counters::default();
        let d = |v: Value| dec(&v, &mut Counters::default()).unwrap();
        assert_eq!(d(Value::Real(0.1)).as_deref(), Some("0.1"));
        assert_eq!(d(Value::Real(2.0300000000000002)).as_deref(), Some("2.0300000000000002"));
        assert_eq!(d(Value::Real(297.0)).as_deref(), Some("297"));
        assert_eq!(d(Value::Real(-0.0)).as_deref(), Some("0"));
        assert_eq!(d(Value::Real(1e-7)).as_deref(), Some("0.0000001"));
        assert_eq!(d(Value::Integer(-42)).as_deref(), Some("-42"));
        assert_eq!(d(t("1.50e2")).as_deref(), Some("150"));
        assert_eq!(d(t(" 12.50 ")).as_deref(), Some("12.5"));
        assert!(dec(&Value::Real(f64::NAN), &mut c).is_err());
        assert!(dec(&Value::Real(1e40), &mut c).is_err());
        assert!(dec(&t("abc"), &mut c).is_err());
    }

    #[test]
    fn integers_booleans_and_texts() {
        assert_eq!(int(&Value::Real(3.0)).unwrap(), Some(3));
        assert!(int(&Value::Real(3.5)).is_err());
        assert_eq!(int(&t("17")).unwrap(), Some(17));
        assert!(boolean(&t("yes"), false).is_err());
        assert!(boolean(&Value::Null, true).unwrap());
        assert_eq!(txt(&Value::Integer(337)).unwrap().as_deref(), Some("337"));
        assert_eq!(cur(&t(" eur ")).as_deref(), Some("EUR"));
        assert_eq!(cur(&t("  ")), None);
        assert_eq!(sym(&t(" novo-b.co")).as_deref(), Some("NOVO-B.CO"));
    }

    proptest! {
        #[test]
        fn every_finite_real_in_range_converts_and_parses_back(x in -1e15f64..1e15) {
            let text = dec(&Value::Real(x), &mut Counters::default()).unwrap().unwrap();
            prop_assert_eq!(text.parse::<f64>().unwrap(), if x == 0.0 { 0.0 } else { x });
            prop_assert!(crate::store::values::parse_canonical_decimal(&text).is_ok());
        }
    }
}
