//! The broker credentials file (portfolio.md §2): TOML, mode 0600, owned by the service user, exactly one table
//! `[tradernet]` with `api_key` and `api_secret`. The migrator moves legacy credentials into it
//! (legacy-layout.md §7.2); values are never printed or logged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The keys the file may hold, and the legacy `settings` keys they come from.
pub const KEYS: [(&str, &str); 2] = [("api_key", "tradernet_api_key"), ("api_secret", "tradernet_api_secret")];

/// Why the credentials cannot be merged into the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct Conflict {
    pub path: String,
    pub reason: String,
}

fn conflict(path: &Path, reason: impl Into<String>) -> Conflict {
    Conflict { path: path.display().to_string(), reason: reason.into() }
}

/// Reads an existing file the way the daemon would, refusing what the daemon refuses.
fn read(path: &Path, owner: u32) -> Result<BTreeMap<String, String>, Conflict> {
    let meta = fs::metadata(path).map_err(|e| conflict(path, e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(conflict(path, format!("mode {mode:o} lets group or others read it; the daemon would refuse it")));
    }
    if meta.uid() != owner {
        return Err(conflict(path, format!("owned by uid {}, not the data directory's owner {owner}", meta.uid())));
    }
    let text = fs::read_to_string(path).map_err(|e| conflict(path, e.to_string()))?;
    let doc: toml::Table =
        text.parse().map_err(|e: toml::de::Error| conflict(path, format!("not valid TOML: {}", e.message())))?;
    let mut values = BTreeMap::new();
    for (table, content) in &doc {
        let toml::Value::Table(inner) = content else {
            return Err(conflict(path, format!("`{table}` is not a table")));
        };
        if table != "tradernet" {
            return Err(conflict(path, format!("unexpected table [{table}]")));
        }
        for (key, value) in inner {
            if !KEYS.iter().any(|(k, _)| k == key) {
                return Err(conflict(path, format!("unexpected key tradernet.{key}")));
            }
            let toml::Value::String(s) = value else {
                return Err(conflict(path, format!("tradernet.{key} is not a string")));
            };
            values.insert(key.clone(), s.clone());
        }
    }
    Ok(values)
}

/// What merging the legacy credentials into the file would do: the keys it adds. A key the file holds with another
/// value, or a file the daemon would refuse, is a conflict. Writes nothing.
pub fn plan(path: &Path, owner: u32, legacy: &BTreeMap<String, String>) -> Result<Vec<String>, Conflict> {
    let existing = if path.exists() { read(path, owner)? } else { BTreeMap::new() };
    let mut added = Vec::new();
    for (key, legacy_key) in KEYS {
        let Some(value) = legacy.get(legacy_key) else { continue };
        match existing.get(key) {
            Some(v) if v == value => {}
            Some(_) => return Err(conflict(path, format!("tradernet.{key} already holds a different value"))),
            None => added.push(key.to_owned()),
        }
    }
    Ok(added)
}

/// Merges the legacy credentials into the file through a temp file and a rename. A new file gets mode 0600 and the
/// data directory's owner; an existing one keeps its mode, owner and keys.
pub fn merge(path: &Path, owner: u32, legacy: &BTreeMap<String, String>) -> Result<Vec<String>, Conflict> {
    let added = plan(path, owner, legacy)?;
    if added.is_empty() {
        return Ok(added);
    }
    let mut values = if path.exists() { read(path, owner)? } else { BTreeMap::new() };
    for (key, legacy_key) in KEYS {
        if let Some(value) = legacy.get(legacy_key) {
            values.entry(key.to_owned()).or_insert_with(|| value.clone());
        }
    }
    let mut doc = toml::Table::new();
    doc.insert(
        "tradernet".into(),
        toml::Value::Table(values.into_iter().map(|(k, v)| (k, toml::Value::String(v))).collect()),
    );
    let text = toml::to_string(&doc).map_err(|e| conflict(path, e.to_string()))?;
    let mode = fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0o600);
    let tmp = path.with_extension("toml.migrate-tmp");
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::chown(&tmp, Some(owner), None)?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| conflict(path, e.to_string()))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy() -> BTreeMap<String, String> {
        [("tradernet_api_key", "K-123"), ("tradernet_api_secret", "S-456")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    }

    fn me() -> u32 {
        rustix::process::getuid().as_raw()
    }

    #[test]
    fn a_new_file_is_private_and_holds_exactly_the_tradernet_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        assert_eq!(merge(&path, me(), &legacy()).unwrap(), ["api_key", "api_secret"]);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let back = read(&path, me()).unwrap();
        assert_eq!(back.get("api_key").map(String::as_str), Some("K-123"));
        assert!(merge(&path, me(), &legacy()).unwrap().is_empty(), "the same values again change nothing");
    }

    #[test]
    fn a_different_value_or_a_readable_file_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        fs::write(&path, "[tradernet]\napi_key = \"other\"\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = plan(&path, me(), &legacy()).unwrap_err();
        assert!(err.reason.contains("different value") && !err.to_string().contains("K-123"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(plan(&path, me(), &legacy()).unwrap_err().reason.contains("group or others"));
    }
}
