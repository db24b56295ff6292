//! How values are spelled in the databases: canonical decimal text for money (storage.md §5.2), fixed-width
//! UTC instants and calendar dates (§5.3), and the clock that produces instants.
//!
//! Every write of a decimal, instant or date goes through one of the formatters here, so the CHECK
//! constraints in the schemas and the readers in Rust can never disagree about a spelling.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rust_decimal::Decimal;

/// An instant as the databases store it: UTC, whole seconds.
pub type Instant = DateTime<Utc>;

/// The one formatter of decimal columns: `normalize()`, zero as `"0"`, never an exponent.
pub fn canonical_decimal(value: Decimal) -> String {
    let normal = value.normalize();
    if normal.is_zero() { "0".to_owned() } else { normal.to_string() }
}

/// Persisted EUR amounts are rounded to cents, half away from zero (portfolio.md §3.1): the one place that does.
pub fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// Why a text is not a canonical decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalTextError {
    #[error("`{0}` is not a decimal number that fits rust_decimal")]
    Unparseable(String),
    #[error("`{text}` is not in canonical form (expected `{canonical}`)")]
    NotCanonical { text: String, canonical: String },
}

/// Parses a decimal column. The text must be exactly what [`canonical_decimal`] writes.
pub fn parse_canonical_decimal(text: &str) -> Result<Decimal, DecimalTextError> {
    let value = Decimal::from_str_exact(text).map_err(|_| DecimalTextError::Unparseable(text.to_owned()))?;
    let canonical = canonical_decimal(value);
    if canonical == text { Ok(value) } else { Err(DecimalTextError::NotCanonical { text: text.to_owned(), canonical }) }
}

/// A decimal bound to or read from a `DEC*` column. Binds as canonical text, never as a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec(pub Decimal);

impl ToSql for Dec {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(canonical_decimal(self.0)))
    }
}

impl FromSql for Dec {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        parse_canonical_decimal(text).map(Dec).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// The one formatter of `TS` columns: `2026-01-03T20:39:49Z`. Written by hand: chrono's format strings are
/// parsed on every call, and the migrator formats millions of instants.
pub fn format_instant(at: Instant) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Why a text is not a stored instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an instant of the form 2026-01-03T20:39:49Z")]
pub struct InstantTextError(pub String);

/// Parses a `TS` column (or a user's `--now`): exactly `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_instant(text: &str) -> Result<Instant, InstantTextError> {
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .map_err(|_| InstantTextError(text.to_owned()))?
        .and_utc();
    if format_instant(parsed) == text { Ok(parsed) } else { Err(InstantTextError(text.to_owned())) }
}

/// An instant bound to or read from a `TS` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub Instant);

impl ToSql for Ts {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(format_instant(self.0)))
    }
}

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        parse_instant(value.as_str()?).map(Ts).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// A calendar date bound to or read from a `DATE` column (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub NaiveDate);

/// The one formatter of `DATE` columns. Written by hand: chrono's format machinery is the slowest part of
/// a bulk price insert.
pub fn format_date(date: NaiveDate) -> String {
    use chrono::Datelike;
    let (y, m, d) = (date.year().clamp(0, 9999) as u32, date.month(), date.day());
    let digit = |n: u32| char::from(b'0' + n as u8);
    let mut out = String::with_capacity(10);
    out.extend([digit(y / 1000), digit(y / 100 % 10), digit(y / 10 % 10), digit(y % 10), '-']);
    out.extend([digit(m / 10), digit(m % 10), '-', digit(d / 10), digit(d % 10)]);
    out
}

impl ToSql for Day {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(format_date(self.0)))
    }
}

impl FromSql for Day {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map(Day).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// BUY or SELL, spelled in upper case everywhere (portfolio.md §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "BUY" => Ok(Side::Buy),
            "SELL" => Ok(Side::Sell),
            other => Err(format!("`{other}` is not BUY or SELL")),
        }
    }
}

/// Declares a closed set of text values stored in a column with an `IN (...)` CHECK, with its SQL spelling,
/// `FromStr`, `Display` and rusqlite conversions. One declaration per enum keeps the Rust and SQL spellings together.
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("`{}` is not a valid {}", other, stringify!($name))),
                }
            }
        }

        impl ::rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> ::rusqlite::Result<::rusqlite::types::ToSqlOutput<'_>> {
                Ok(::rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl ::rusqlite::types::FromSql for $name {
            fn column_result(
                value: ::rusqlite::types::ValueRef<'_>,
            ) -> ::rusqlite::types::FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e: String| {
                    ::rusqlite::types::FromSqlError::Other(e.into())
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

impl ToSql for Side {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Side {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

/// Normalises a broker symbol the way the `SYM` check expects: trimmed, upper case.
pub fn normalize_symbol(symbol: &str) -> String {
    symbol.trim().to_uppercase()
}

/// Where instants come from. Injected everywhere so that tests (and `trader gc --now`) can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The wall clock, truncated to whole seconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Utc::now().trunc_subsecs(0)
    }
}

/// A clock that stands still until it is moved; for tests and for replaying a run at a given instant.
#[derive(Debug)]
pub struct FixedClock(Mutex<Instant>);

impl FixedClock {
    pub fn new(at: Instant) -> Self {
        FixedClock(Mutex::new(at.trunc_subsecs(0)))
    }

    pub fn set(&self, at: Instant) {
        *self.0.lock().expect("clock lock") = at.trunc_subsecs(0);
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Instant {
        *self.0.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonical_decimal_drops_trailing_zeros_and_negative_zero() {
        let cases = [("12.50", "12.5"), ("-0", "0"), ("0.000", "0"), ("100", "100"), ("-2.760", "-2.76")];
        for (input, expected) in cases {
            assert_eq!(canonical_decimal(Decimal::from_str(input).unwrap()), expected, "{input}");
        }
    }

    #[test]
    fn non_canonical_text_is_refused_by_the_reader() {
        for text in ["12.50", ".5", "-0", "+1", "1e-5", "01", " 1", "1."] {
            assert!(parse_canonical_decimal(text).is_err(), "{text} accepted");
        }
        assert_eq!(parse_canonical_decimal("2.0300000000000002").unwrap().to_string(), "2.0300000000000002");
    }

    #[test]
    fn dates_are_spelled_yyyy_mm_dd() {
        for (y, m, d, text) in [(2026, 1, 3, "2026-01-03"), (999, 12, 31, "0999-12-31"), (2016, 10, 9, "2016-10-09")] {
            assert_eq!(format_date(NaiveDate::from_ymd_opt(y, m, d).unwrap()), text);
        }
    }

    #[test]
    fn instants_round_trip_and_reject_other_spellings() {
        let at = parse_instant("2026-01-03T20:39:49Z").unwrap();
        assert_eq!(format_instant(at), "2026-01-03T20:39:49Z");
        for text in
            ["2026-01-03 20:39:49", "2026-01-03T20:39:49+00:00", "2026-01-03T20:39:49.5Z", "2026-02-30T00:00:00Z"]
        {
            assert!(parse_instant(text).is_err(), "{text} accepted");
        }
    }

    proptest! {
        #[test]
        fn every_decimal_survives_its_canonical_text(mantissa in any::<i64>(), scale in 0u32..=18) {
            let value = Decimal::new(mantissa, scale);
            let text = canonical_decimal(value);
            prop_assert_eq!(parse_canonical_decimal(&text).unwrap(), value);
            prop_assert!(!text.contains('e') && !text.contains('E'));
        }
    }
}
