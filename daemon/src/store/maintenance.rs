//! The daily maintenance job (storage.md §3.3, §3.4, §9): incremental vacuum, WAL checkpoint, auto_vacuum
//! conversion of drifted files, `PRAGMA optimize`. Its results are kept in cache.db for the health report.

use std::time::{Duration as StdDuration, Instant as Clock};

use serde::Serialize;

use super::cache::CacheRepository;
use super::health::keys;
use super::open::pragma_i64;
use super::values::{Instant, format_instant};
use super::{DbName, Result, SqlContext, Store};

/// Incremental vacuum never runs longer than this per database (storage.md §3.4).
const VACUUM_BUDGET: StdDuration = StdDuration::from_secs(60);
/// Pages freed per `incremental_vacuum` call.
const VACUUM_STEP_PAGES: i64 = 1000;

/// What maintenance did to one database.
#[derive(Debug, Clone, Serialize)]
pub struct DbMaintenance {
    pub name: DbName,
    pub pages_freed: i64,
    pub checkpoint: Checkpoint,
    /// `none`, `done <instant>` or `failed <message>`.
    pub auto_vacuum_conversion: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Checkpoint {
    pub busy: i64,
    pub log: i64,
    pub checkpointed: i64,
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` on one database.
pub fn checkpoint(store: &Store, name: DbName) -> Result<Checkpoint> {
    let conn = store.conn(name);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        Ok(Checkpoint { busy: r.get(0)?, log: r.get(1)?, checkpointed: r.get(2)? })
    })
    .ctx(conn, "wal_checkpoint")
}

/// Rewrites a file whose `auto_vacuum` drifted from its profile (`PRAGMA auto_vacuum = x; VACUUM`), if the
/// filesystem has room for twice the file. Returns the conversion state for health.
pub fn convert_auto_vacuum(store: &Store, name: DbName, now: Instant) -> Result<String> {
    let conn = store.conn(name);
    let path = name.spec().path_in(store.dir());
    let expected = name.spec().profile.auto_vacuum;
    if pragma_i64(conn, &path, "auto_vacuum")? == expected {
        return Ok("none".into());
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let free = rustix::fs::statvfs(store.dir()).map(|s| s.f_bavail * s.f_frsize).unwrap_or(0);
    if free < 2 * size {
        return Ok(format!("failed not enough free space ({free} B free, {} B needed)", 2 * size));
    }
    conn.pragma_update(None, "auto_vacuum", expected).ctx(conn, "auto_vacuum")?;
    conn.execute_batch("VACUUM").ctx(conn, "VACUUM")?;
    let actual = pragma_i64(conn, &path, "auto_vacuum")?;
    Ok(if actual == expected {
        format!("done {}", format_instant(now))
    } else {
        format!("failed auto_vacuum still {actual} after VACUUM")
    })
}

/// Frees pages of an INCREMENTAL database while any are free, for at most a minute. Returns pages freed.
fn incremental_vacuum(store: &Store, name: DbName) -> Result<i64> {
    let conn = store.conn(name);
    let path = name.spec().path_in(store.dir());
    if pragma_i64(conn, &path, "auto_vacuum")? != 2 {
        return Ok(0);
    }
    let started = Clock::now();
    let before = pragma_i64(conn, &path, "freelist_count")?;
    while pragma_i64(conn, &path, "freelist_count")? > 0 && started.elapsed() < VACUUM_BUDGET {
        conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"))
            .ctx(conn, "incremental_vacuum")?;
    }
    Ok(before - pragma_i64(conn, &path, "freelist_count")?)
}

/// Runs the maintenance work on every database and records the results for the health report.
pub fn run(store: &Store, now: Instant) -> Result<Vec<DbMaintenance>> {
    let mut done = Vec::new();
    for name in DbName::ALL {
        let pages_freed = incremental_vacuum(store, name)?;
        let conversion = convert_auto_vacuum(store, name, now)?;
        let checkpoint = checkpoint(store, name)?;
        store.conn(name).execute_batch("PRAGMA optimize").ctx(store.conn(name), "optimize")?;
        let cache = CacheRepository::new(store.conn(DbName::Cache));
        let at = format_instant(now);
        cache.put(
            &keys::checkpoint(name),
            &serde_json::json!({ "at": at, "busy": checkpoint.busy, "log": checkpoint.log, "checkpointed": checkpoint.checkpointed }).to_string(),
            None,
            None,
            now,
        )?;
        cache.put(
            &keys::incremental_vacuum(name),
            &serde_json::json!({ "at": at, "pages_freed": pages_freed }).to_string(),
            None,
            None,
            now,
        )?;
        cache.put(
            &keys::auto_vacuum_conversion(name),
            &serde_json::Value::String(conversion.clone()).to_string(),
            None,
            None,
            now,
        )?;
        done.push(DbMaintenance { name, pages_freed, checkpoint, auto_vacuum_conversion: conversion });
    }
    Ok(done)
}

/// `trader db vacuum <name>`: a full `VACUUM` by the operator.
pub fn vacuum(store: &Store, name: DbName) -> Result<(u64, u64)> {
    let path = name.spec().path_in(store.dir());
    let before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    store.conn(name).execute_batch("VACUUM").ctx(store.conn(name), "VACUUM")?;
    checkpoint(store, name)?;
    let after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok((before, after))
}
