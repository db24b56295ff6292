//! The CHECK macros of storage.md §5.1, expanded to the exact SQL the contract gives, so each schema can say
//! `CHECK (dec!("amount"))` instead of repeating a 300-character expression. Every expansion is true for NULL:
//! nullability is controlled by `NOT NULL` alone.
//!
//! They expand to string literals, so migrations stay `&'static str` built with `concat!`.

/// `BOOL`: 0 or 1.
macro_rules! boolean {
    ($c:literal) => {
        concat!($c, " IN (0, 1)")
    };
}

/// `TS`: an instant, RFC 3339 UTC, whole seconds, `Z`. The `'+0 days'` modifier makes SQLite normalise the
/// value, so impossible dates and `T24:00:00Z` are rejected.
macro_rules! ts {
    ($c:literal) => {
        concat!("strftime('%Y-%m-%dT%H:%M:%SZ', ", $c, ", '+0 days') IS ", $c)
    };
}

/// `DATE`: a calendar date `YYYY-MM-DD`.
macro_rules! date {
    ($c:literal) => {
        concat!("date(", $c, ", '+0 days') IS ", $c)
    };
}

/// `YM`: a month `YYYY-MM`.
macro_rules! year_month {
    ($c:literal) => {
        concat!("date(", $c, " || '-01', '+0 days') IS ", $c, " || '-01'")
    };
}

/// `DEC`: canonical decimal text (storage.md §5.2).
macro_rules! dec {
    ($c:literal) => {
        concat!(
            $c,
            " NOT GLOB '*[^0-9.-]*' AND (",
            $c,
            " GLOB '[0-9]*' OR ",
            $c,
            " GLOB '-[0-9]*') AND ",
            $c,
            " NOT GLOB '?*-*' AND ",
            $c,
            " NOT GLOB '*.*.*' AND ",
            $c,
            " NOT GLOB '*.' AND ",
            $c,
            " NOT GLOB '*.*0' AND ",
            $c,
            " NOT GLOB '0[0-9]*' AND ",
            $c,
            " NOT GLOB '-0[0-9]*' AND ",
            $c,
            " <> '-0' AND length(",
            $c,
            ") <= 40"
        )
    };
}

/// `DEC0+`: canonical decimal, not negative.
macro_rules! dec_nonneg {
    ($c:literal) => {
        concat!(dec!($c), " AND ", $c, " NOT GLOB '-*'")
    };
}

/// `DEC+`: canonical decimal, positive.
macro_rules! dec_pos {
    ($c:literal) => {
        concat!(dec_nonneg!($c), " AND ", $c, " <> '0'")
    };
}

/// `CUR`: a three-letter upper-case currency code.
macro_rules! cur {
    ($c:literal) => {
        concat!($c, " GLOB '[A-Z][A-Z][A-Z]'")
    };
}

/// `SYM`: a broker symbol, trimmed and upper case; cash is never a security.
macro_rules! sym {
    ($c:literal) => {
        concat!($c, " <> '' AND ", $c, " = upper(trim(", $c, ")) AND ", $c, " NOT GLOB 'CASH:*'")
    };
}

/// `NE`: non-empty text.
macro_rules! non_empty {
    ($c:literal) => {
        concat!($c, " <> ''")
    };
}

/// The trigger pair that makes a table append-only (`<table>_no_update`, `<table>_no_delete`).
macro_rules! append_only {
    ($db:literal, $t:literal) => {
        concat!(
            "CREATE TRIGGER ",
            $t,
            "_no_update BEFORE UPDATE ON ",
            $t,
            " BEGIN SELECT RAISE(ABORT, '",
            $db,
            ".",
            $t,
            " is append-only'); END;\n",
            "CREATE TRIGGER ",
            $t,
            "_no_delete BEFORE DELETE ON ",
            $t,
            " BEGIN SELECT RAISE(ABORT, '",
            $db,
            ".",
            $t,
            " is append-only'); END;\n"
        )
    };
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    fn passes(check: &str, value: &str) -> bool {
        let conn = Connection::open_in_memory().unwrap();
        let sql = format!("SELECT ({check}) IS NOT 0 FROM (SELECT ?1 AS v)");
        conn.query_row(&sql, [value], |r| r.get(0)).unwrap()
    }

    #[test]
    fn decimal_check_rejects_non_canonical() {
        for bad in ["12.50", "1e-5", "-0", ".5", "+1", "01", "1.", "1.2.3", "1-2", "", "-", " 1"] {
            assert!(!passes(dec!("v"), bad), "{bad:?} accepted");
        }
        for good in ["0", "12", "0.1", "-2.76", "2.0300000000000002", "-0.5", "1000"] {
            assert!(passes(dec!("v"), good), "{good:?} rejected");
        }
        assert!(!passes(dec_nonneg!("v"), "-1"));
        assert!(passes(dec_nonneg!("v"), "0"));
        assert!(!passes(dec_pos!("v"), "0"));
        assert!(passes(dec_pos!("v"), "0.01"));
    }

    #[test]
    fn timestamp_check_rejects_naive_and_offsets() {
        assert!(passes(ts!("v"), "2026-01-03T20:39:49Z"));
        for bad in [
            "2026-01-03 20:39:49",
            "2026-01-03T20:39:49",
            "2026-01-03T20:39:49+00:00",
            "2026-01-03T20:39:49.123Z",
            "2026-02-30T00:00:00Z",
            "2026-01-03T24:00:00Z",
            "2026-01-03",
        ] {
            assert!(!passes(ts!("v"), bad), "{bad:?} accepted");
        }
        assert!(passes(date!("v"), "2026-02-28"));
        assert!(!passes(date!("v"), "2026-02-30"));
        assert!(passes(year_month!("v"), "2026-02"));
        assert!(!passes(year_month!("v"), "2026-13"));
    }

    #[test]
    fn symbol_check_wants_trimmed_upper_case_and_no_cash() {
        assert!(passes(sym!("v"), "AAPL.US"));
        for bad in ["aapl.us", " AAPL.US", "CASH:EUR:core", ""] {
            assert!(!passes(sym!("v"), bad), "{bad:?} accepted");
        }
    }
}
