//! Helpers for the system tests: the real `trader` binary, real data directories, and digests of what the
//! databases hold; `legacy_fixture` builds legacy data directories.

pub mod firmware_image;
pub mod legacy_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::sync::OnceLock;

use rusqlite::{Connection, OpenFlags};

/// The `trader` command line of this build. Integration tests of this package get it from cargo, freshly built
/// (see `src/bin/trader_cli.rs`).
pub fn trader_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
        profile_dir.join("trader_cli")
    })
}

/// Runs `trader` with these arguments.
pub fn trader(args: &[&str]) -> Output {
    Command::new(trader_bin()).args(args).env_remove("TRADER_DATA").output().expect("running trader")
}

/// Standard output and error of a run, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// An order-independent digest of every row of every table of a database file (hex SHA-256), read through
/// a connection of its own. The connection is read-write (it writes nothing) so that closing it removes the
/// `-wal`/`-shm` files a read-only connection would leave behind.
pub fn content_digest(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).expect("opening for a digest");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    let mut hasher = Sha256::new();
    for table in tables {
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .unwrap()
            .query_map([&table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let list = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let mut rows: Vec<String> = conn
            .prepare(&format!("SELECT {list} FROM \"{table}\""))
            .unwrap()
            .query_map([], |r| {
                Ok((0..columns.len())
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("\u{1f}"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        hasher.update(table.as_bytes());
        for row in rows {
            hasher.update(row.as_bytes());
            hasher.update(b"\n");
        }
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of every file under `dir` (sub-directories such as `history/` included) whose name ends with `.db`,
/// `-wal` or `-shm`, by relative path.
pub fn file_hashes(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".db") || name.ends_with("-wal") || name.ends_with("-shm") {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, trader::store::backup::sha256_file(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `../shared/fixtures/legacy-sample`, if present (a user's fresh clone has no `../shared`).
pub fn legacy_sample() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/legacy-sample");
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!("NOTICE: {} is absent; skipping a test of the legacy sample", path.display());
        None
    }
}

/// Copies a directory tree, making the copies writable (the shared fixtures are read-only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let mut perms = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms).unwrap();
        }
    }
}
