//! The opening procedure and the profile of every database (storage.md §3–§4, §13).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use trader::store::{DbName, OpenMode, Store};

/// Reads one PRAGMA through a connection of its own, as an outside tool would.
fn outside_pragma(path: &Path, pragma: &str) -> String {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
}

fn tables(path: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn init_creates_eight_files_with_their_profiles_and_only_their_tables() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Store::open(&data, OpenMode::Init).unwrap());
    for name in DbName::ALL {
        let path = data.join(format!("{name}.db"));
        let expected_auto_vacuum = match name {
            DbName::Ledger => "0",
            DbName::Cache => "1",
            _ => "2",
        };
        assert_eq!(outside_pragma(&path, "journal_mode"), "wal", "{name}");
        assert_eq!(outside_pragma(&path, "auto_vacuum"), expected_auto_vacuum, "{name}");
        assert_eq!(outside_pragma(&path, "user_version"), "1", "{name}");
        assert_eq!(outside_pragma(&path, "integrity_check"), "ok", "{name}");
        assert_eq!(outside_pragma(&path, "application_id"), name.spec().application_id.to_string(), "{name}");
        let expected: Vec<String> = name.spec().tables.iter().map(|t| t.to_string()).collect();
        assert_eq!(tables(&path), expected, "{name}");
    }
}
