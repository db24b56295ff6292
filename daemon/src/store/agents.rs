//! `agents.db` — planner configurations and the planner's working data (storage.md §7.6): TOML configurations
//! with their history, candidate sequences, their evaluations, and the best result per portfolio state.

use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::M;

use super::open::{DEFAULT_PAGE_SIZE, DbSpec, STANDARD_PROFILE};
use super::values::{Instant, Ts};
use super::{Result, SqlContext, StoreError, collect_rows, write_tx};

const MIGRATION_1: &str = concat!(
    "PRAGMA application_id = 1096045062;
CREATE TABLE agent_configs (
  id          TEXT NOT NULL PRIMARY KEY CHECK (",
    non_empty!("id"),
    "),
  name        TEXT NOT NULL CHECK (",
    non_empty!("name"),
    "),
  description TEXT,
  toml_config TEXT NOT NULL CHECK (",
    non_empty!("toml_config"),
    "),
  bucket_id   TEXT,
  is_default  INTEGER NOT NULL DEFAULT 0 CHECK (",
    boolean!("is_default"),
    "),
  created_at  TEXT NOT NULL CHECK (",
    ts!("created_at"),
    "),
  updated_at  TEXT NOT NULL CHECK (",
    ts!("updated_at"),
    ")
) STRICT;
CREATE UNIQUE INDEX idx_agent_configs_default ON agent_configs(is_default) WHERE is_default = 1;
CREATE INDEX idx_agent_configs_bucket ON agent_configs(bucket_id) WHERE bucket_id IS NOT NULL;
CREATE INDEX idx_agent_configs_name ON agent_configs(name);

CREATE TABLE config_history (
  id              TEXT NOT NULL PRIMARY KEY CHECK (",
    non_empty!("id"),
    "),
  agent_config_id TEXT NOT NULL REFERENCES agent_configs(id) ON DELETE CASCADE,
  name            TEXT NOT NULL,
  toml_config     TEXT NOT NULL,
  change_note     TEXT,
  saved_at        TEXT NOT NULL CHECK (",
    ts!("saved_at"),
    ")
) STRICT;
CREATE INDEX idx_config_history_config ON config_history(agent_config_id, saved_at DESC);

CREATE TABLE sequences (
  portfolio_hash TEXT NOT NULL,
  sequence_hash  TEXT NOT NULL,
  priority       REAL NOT NULL,
  sequence_json  TEXT NOT NULL CHECK (json_valid(sequence_json)),
  depth          INTEGER NOT NULL CHECK (depth >= 1),
  pattern_type   TEXT,
  completed      INTEGER NOT NULL DEFAULT 0 CHECK (",
    boolean!("completed"),
    "),
  evaluated_at   TEXT CHECK (",
    ts!("evaluated_at"),
    "),
  created_at     TEXT NOT NULL CHECK (",
    ts!("created_at"),
    "),
  PRIMARY KEY (portfolio_hash, sequence_hash)
) STRICT;
CREATE INDEX idx_sequences_pending ON sequences(portfolio_hash, completed, priority DESC);
CREATE INDEX idx_sequences_created ON sequences(created_at);

CREATE TABLE evaluations (
  portfolio_hash             TEXT NOT NULL,
  sequence_hash              TEXT NOT NULL,
  end_score                  REAL NOT NULL,
  breakdown_json             TEXT NOT NULL CHECK (json_valid(breakdown_json)),
  end_cash                   REAL NOT NULL,
  end_context_positions_json TEXT NOT NULL CHECK (json_valid(end_context_positions_json)),
  div_score                  REAL NOT NULL,
  total_value                REAL NOT NULL,
  evaluated_at               TEXT NOT NULL CHECK (",
    ts!("evaluated_at"),
    "),
  PRIMARY KEY (portfolio_hash, sequence_hash),
  FOREIGN KEY (portfolio_hash, sequence_hash) REFERENCES sequences(portfolio_hash, sequence_hash) ON DELETE CASCADE
) STRICT;
CREATE INDEX idx_evaluations_score ON evaluations(portfolio_hash, end_score DESC);

CREATE TABLE best_result (
  portfolio_hash     TEXT NOT NULL PRIMARY KEY,
  best_sequence_hash TEXT NOT NULL,
  best_score         REAL NOT NULL,
  updated_at         TEXT NOT NULL CHECK (",
    ts!("updated_at"),
    ")
) STRICT;
"
);

pub static SPEC: DbSpec = DbSpec {
    name: "agents",
    application_id: 0x4154_5206,
    profile: STANDARD_PROFILE,
    page_size: DEFAULT_PAGE_SIZE,
    migrations: &[M::up(MIGRATION_1)],
    tables: &["agent_configs", "best_result", "config_history", "evaluations", "sequences"],
};

/// A planner configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentConfig {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub toml_config: String,
    /// The bucket it was made for; `None` = a template for any bucket.
    pub bucket_id: Option<String>,
    pub is_default: bool,
    pub created_at: Instant,
    pub updated_at: Instant,
}

/// A saved version of a configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConfigVersion {
    pub id: String,
    pub agent_config_id: String,
    pub name: String,
    pub toml_config: String,
    pub change_note: Option<String>,
    pub saved_at: Instant,
}

const CONFIG_COLUMNS: &str = "id, name, description, toml_config, bucket_id, is_default, created_at, updated_at";

fn config_from_row(r: &Row<'_>) -> rusqlite::Result<AgentConfig> {
    Ok(AgentConfig {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        toml_config: r.get(3)?,
        bucket_id: r.get(4)?,
        is_default: r.get(5)?,
        created_at: r.get::<_, Ts>(6)?.0,
        updated_at: r.get::<_, Ts>(7)?.0,
    })
}

/// Planner configurations and their history.
pub struct ConfigRepository<'c> {
    conn: &'c Connection,
}

impl<'c> ConfigRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        ConfigRepository { conn }
    }

    fn select(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<AgentConfig>> {
        collect_rows(
            self.conn,
            "reading agent configs",
            &format!("SELECT {CONFIG_COLUMNS} FROM agent_configs {filter}"),
            params,
            config_from_row,
        )
    }

    fn snapshot(conn: &Connection, config: &AgentConfig, note: &str, at: Instant) -> Result<()> {
        conn.execute(
            "INSERT INTO config_history (id, agent_config_id, name, toml_config, change_note, saved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![uuid::Uuid::new_v4().to_string(), config.id, config.name, config.toml_config, note, Ts(at)],
        )
        .ctx(conn, "saving config history")?;
        Ok(())
    }

    /// Inserts a configuration and its `created` history row; as default it takes over from the previous one.
    pub fn create(&self, config: &AgentConfig, is_default: bool) -> Result<()> {
        write_tx(self.conn, "creating an agent config", |conn| {
            if is_default {
                conn.execute("UPDATE agent_configs SET is_default = 0 WHERE is_default = 1", [])
                    .ctx(conn, "clearing the default")?;
            }
            conn.execute(
                &format!("INSERT INTO agent_configs ({CONFIG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    config.id,
                    config.name,
                    config.description,
                    config.toml_config,
                    config.bucket_id,
                    is_default,
                    Ts(config.created_at),
                    Ts(config.updated_at)
                ],
            )
            .ctx(conn, "creating an agent config")?;
            Self::snapshot(conn, config, "created", config.created_at)
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<AgentConfig>> {
        Ok(self.select("WHERE id = ?1", [id])?.pop())
    }
    /// The most recently updated configuration with this name.
    pub fn get_by_name(&self, name: &str) -> Result<Option<AgentConfig>> {
        Ok(self.select("WHERE name = ?1 ORDER BY updated_at DESC LIMIT 1", [name])?.pop())
    }
    pub fn default_config(&self) -> Result<Option<AgentConfig>> {
        Ok(self.select("WHERE is_default = 1", [])?.pop())
    }
    pub fn by_bucket(&self, bucket_id: &str) -> Result<Vec<AgentConfig>> {
        self.select("WHERE bucket_id = ?1 ORDER BY updated_at DESC", [bucket_id])
    }

    /// The configuration for a bucket: its `agent_id` if that row exists, else the newest made for the bucket,
    /// else the default. `None` means: fall back to the `planner_config` setting.
    pub fn for_bucket(&self, bucket_id: &str, agent_id: Option<&str>) -> Result<Option<AgentConfig>> {
        if let Some(found) = agent_id.map(|id| self.get(id)).transpose()?.flatten() {
            return Ok(Some(found));
        }
        if let Some(found) = self.by_bucket(bucket_id)?.into_iter().next() {
            return Ok(Some(found));
        }
        self.default_config()
    }

    /// Changes a configuration and saves the new version to its history, in one transaction.
    pub fn update(&self, id: &str, name: Option<&str>, toml: &str, note: &str, at: Instant) -> Result<bool> {
        write_tx(self.conn, "updating an agent config", |conn| {
            let Some(mut config) = ConfigRepository::new(conn).get(id)? else {
                return Ok(false);
            };
            if let Some(name) = name {
                config.name = name.to_owned();
            }
            config.toml_config = toml.to_owned();
            conn.execute(
                "UPDATE agent_configs SET name = ?2, toml_config = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, config.name, config.toml_config, Ts(at)],
            )
            .ctx(conn, "updating an agent config")?;
            Self::snapshot(conn, &config, note, at)?;
            Ok(true)
        })
    }

    /// Deletes a configuration; its history goes with it.
    pub fn delete(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM agent_configs WHERE id = ?1", [id])
            .ctx(self.conn, "deleting an agent config")?
            > 0)
    }

    /// The default first, then by name.
    pub fn list(&self) -> Result<Vec<AgentConfig>> {
        self.select("ORDER BY is_default DESC, name, id", [])
    }

    pub fn set_default(&self, id: &str, at: Instant) -> Result<()> {
        write_tx(self.conn, "setting the default agent config", |conn| {
            let Some(config) = ConfigRepository::new(conn).get(id)? else {
                return Err(StoreError::invalid(format!("agent config {id}"), "unknown"));
            };
            conn.execute("UPDATE agent_configs SET is_default = 0 WHERE is_default = 1", [])
                .ctx(conn, "clearing the default")?;
            conn.execute("UPDATE agent_configs SET is_default = 1, updated_at = ?2 WHERE id = ?1", params![id, Ts(at)])
                .ctx(conn, "setting the default")?;
            Self::snapshot(conn, &config, "set as default", at)
        })
    }

    /// Saved versions, newest first.
    pub fn history(&self, id: &str, limit: usize) -> Result<Vec<ConfigVersion>> {
        collect_rows(
            self.conn,
            "reading config history",
            "SELECT id, agent_config_id, name, toml_config, change_note, saved_at FROM config_history \
             WHERE agent_config_id = ?1 ORDER BY saved_at DESC, rowid DESC LIMIT ?2",
            params![id, limit as i64],
            |r| {
                Ok(ConfigVersion {
                    id: r.get(0)?,
                    agent_config_id: r.get(1)?,
                    name: r.get(2)?,
                    toml_config: r.get(3)?,
                    change_note: r.get(4)?,
                    saved_at: r.get::<_, Ts>(5)?.0,
                })
            },
        )
    }
}

/// A candidate action sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sequence {
    pub portfolio_hash: String,
    pub sequence_hash: String,
    pub priority: f64,
    pub sequence_json: String,
    pub depth: i64,
    pub pattern_type: Option<String>,
    pub completed: bool,
    pub evaluated_at: Option<Instant>,
    pub created_at: Instant,
}

/// The evaluation of a sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub portfolio_hash: String,
    pub sequence_hash: String,
    pub end_score: f64,
    pub breakdown_json: String,
    pub end_cash: f64,
    pub end_context_positions_json: String,
    pub div_score: f64,
    pub total_value: f64,
    pub evaluated_at: Instant,
}

/// The best sequence found for a portfolio state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BestResult {
    pub portfolio_hash: String,
    pub best_sequence_hash: String,
    pub best_score: f64,
    pub updated_at: Instant,
}

/// Rows pruned by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pruned {
    pub sequences: usize,
    pub best_results: usize,
}

const SEQUENCE_COLUMNS: &str =
    "portfolio_hash, sequence_hash, priority, sequence_json, depth, pattern_type, completed, evaluated_at, created_at";
const EVALUATION_COLUMNS: &str = "portfolio_hash, sequence_hash, end_score, breakdown_json, end_cash, \
     end_context_positions_json, div_score, total_value, evaluated_at";

fn sequence_from_row(r: &Row<'_>) -> rusqlite::Result<Sequence> {
    Ok(Sequence {
        portfolio_hash: r.get(0)?,
        sequence_hash: r.get(1)?,
        priority: r.get(2)?,
        sequence_json: r.get(3)?,
        depth: r.get(4)?,
        pattern_type: r.get(5)?,
        completed: r.get(6)?,
        evaluated_at: r.get::<_, Option<Ts>>(7)?.map(|t| t.0),
        created_at: r.get::<_, Ts>(8)?.0,
    })
}

fn evaluation_from_row(r: &Row<'_>) -> rusqlite::Result<Evaluation> {
    Ok(Evaluation {
        portfolio_hash: r.get(0)?,
        sequence_hash: r.get(1)?,
        end_score: r.get(2)?,
        breakdown_json: r.get(3)?,
        end_cash: r.get(4)?,
        end_context_positions_json: r.get(5)?,
        div_score: r.get(6)?,
        total_value: r.get(7)?,
        evaluated_at: r.get::<_, Ts>(8)?.0,
    })
}

/// The planner's sequences, evaluations and best results.
pub struct PlannerRepository<'c> {
    conn: &'c Connection,
}

impl<'c> PlannerRepository<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        PlannerRepository { conn }
    }

    fn sequences_where(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Sequence>> {
        collect_rows(
            self.conn,
            "reading sequences",
            &format!("SELECT {SEQUENCE_COLUMNS} FROM sequences {filter}"),
            params,
            sequence_from_row,
        )
    }

    fn evaluations_where(&self, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Evaluation>> {
        collect_rows(
            self.conn,
            "reading evaluations",
            &format!("SELECT {EVALUATION_COLUMNS} FROM evaluations {filter}"),
            params,
            evaluation_from_row,
        )
    }

    /// Inserts new sequences in one transaction; known ones are left as they are. Returns how many were new.
    pub fn insert_sequences(&self, batch: &[Sequence]) -> Result<usize> {
        write_tx(self.conn, "inserting sequences", |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "INSERT INTO sequences ({SEQUENCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING"
                ))
                .ctx(conn, "inserting sequences")?;
            let mut inserted = 0;
            for s in batch {
                inserted += stmt
                    .execute(params![
                        s.portfolio_hash,
                        s.sequence_hash,
                        s.priority,
                        s.sequence_json,
                        s.depth,
                        s.pattern_type,
                        s.completed,
                        s.evaluated_at.map(Ts),
                        Ts(s.created_at)
                    ])
                    .ctx(conn, "inserting sequences")?;
            }
            Ok(inserted)
        })
    }

    pub fn sequence(&self, portfolio_hash: &str, sequence_hash: &str) -> Result<Option<Sequence>> {
        Ok(self
            .sequences_where("WHERE portfolio_hash = ?1 AND sequence_hash = ?2", [portfolio_hash, sequence_hash])?
            .pop())
    }
    /// By priority, highest first.
    pub fn sequences(&self, portfolio_hash: &str) -> Result<Vec<Sequence>> {
        self.sequences_where("WHERE portfolio_hash = ?1 ORDER BY priority DESC, created_at", [portfolio_hash])
    }
    /// Not yet evaluated, highest priority first, then oldest.
    pub fn pending(&self, portfolio_hash: &str, limit: usize) -> Result<Vec<Sequence>> {
        self.sequences_where(
            "WHERE portfolio_hash = ?1 AND completed = 0 ORDER BY priority DESC, created_at LIMIT ?2",
            params![portfolio_hash, limit as i64],
        )
    }

    /// Stores an evaluation and marks its sequence completed, in one transaction.
    pub fn save_evaluation(&self, e: &Evaluation) -> Result<()> {
        write_tx(self.conn, "saving an evaluation", |conn| {
            conn.execute(
                &format!("INSERT OR REPLACE INTO evaluations ({EVALUATION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    e.portfolio_hash,
                    e.sequence_hash,
                    e.end_score,
                    e.breakdown_json,
                    e.end_cash,
                    e.end_context_positions_json,
                    e.div_score,
                    e.total_value,
                    Ts(e.evaluated_at)
                ],
            )
            .ctx(conn, "saving an evaluation")?;
            conn.execute(
                "UPDATE sequences SET completed = 1, evaluated_at = ?3 WHERE portfolio_hash = ?1 AND sequence_hash = ?2",
                params![e.portfolio_hash, e.sequence_hash, Ts(e.evaluated_at)],
            )
            .ctx(conn, "saving an evaluation")?;
            Ok(())
        })
    }

    pub fn evaluation(&self, portfolio_hash: &str, sequence_hash: &str) -> Result<Option<Evaluation>> {
        Ok(self
            .evaluations_where("WHERE portfolio_hash = ?1 AND sequence_hash = ?2", [portfolio_hash, sequence_hash])?
            .pop())
    }
    /// Best score first.
    pub fn evaluations(&self, portfolio_hash: &str) -> Result<Vec<Evaluation>> {
        self.evaluations_where("WHERE portfolio_hash = ?1 ORDER BY end_score DESC, sequence_hash", [portfolio_hash])
    }

    /// Records a candidate best result; it replaces only a lower score. Returns whether it became the best.
    pub fn offer_best(&self, portfolio_hash: &str, sequence_hash: &str, score: f64, at: Instant) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT INTO best_result (portfolio_hash, best_sequence_hash, best_score, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(portfolio_hash) DO UPDATE SET best_sequence_hash = excluded.best_sequence_hash, \
                 best_score = excluded.best_score, updated_at = excluded.updated_at WHERE best_result.best_score < excluded.best_score",
                params![portfolio_hash, sequence_hash, score, Ts(at)],
            )
            .ctx(self.conn, "offering a best result")?;
        Ok(n > 0)
    }

    pub fn best(&self, portfolio_hash: &str) -> Result<Option<BestResult>> {
        self.conn
            .query_row(
                "SELECT portfolio_hash, best_sequence_hash, best_score, updated_at FROM best_result WHERE portfolio_hash = ?1",
                [portfolio_hash],
                |r| {
                    Ok(BestResult {
                        portfolio_hash: r.get(0)?,
                        best_sequence_hash: r.get(1)?,
                        best_score: r.get(2)?,
                        updated_at: r.get::<_, Ts>(3)?.0,
                    })
                },
            )
            .optional()
            .ctx(self.conn, "reading the best result")
    }

    /// Forgets a portfolio state: its sequences (evaluations cascade) and its best result.
    pub fn delete_portfolio(&self, portfolio_hash: &str) -> Result<usize> {
        write_tx(self.conn, "deleting a portfolio state", |conn| {
            let sequences = conn
                .execute("DELETE FROM sequences WHERE portfolio_hash = ?1", [portfolio_hash])
                .ctx(conn, "deleting sequences")?;
            conn.execute("DELETE FROM best_result WHERE portfolio_hash = ?1", [portfolio_hash])
                .ctx(conn, "deleting the best result")?;
            Ok(sequences)
        })
    }

    /// Retention: sequences created and best results updated before `instant`.
    pub fn prune_before(&self, instant: Instant) -> Result<Pruned> {
        write_tx(self.conn, "pruning planner data", |conn| {
            Ok(Pruned {
                sequences: conn
                    .execute("DELETE FROM sequences WHERE created_at < ?1", [Ts(instant)])
                    .ctx(conn, "pruning sequences")?,
                best_results: conn
                    .execute("DELETE FROM best_result WHERE updated_at < ?1", [Ts(instant)])
                    .ctx(conn, "pruning best results")?,
            })
        })
    }

    fn count(&self, sql: &'static str, portfolio_hash: &str) -> Result<i64> {
        self.conn.query_row(sql, [portfolio_hash], |r| r.get(0)).ctx(self.conn, "counting planner rows")
    }
    pub fn count_sequences(&self, portfolio_hash: &str) -> Result<i64> {
        self.count("SELECT count(*) FROM sequences WHERE portfolio_hash = ?1", portfolio_hash)
    }
    pub fn count_pending(&self, portfolio_hash: &str) -> Result<i64> {
        self.count("SELECT count(*) FROM sequences WHERE portfolio_hash = ?1 AND completed = 0", portfolio_hash)
    }
    pub fn count_evaluations(&self, portfolio_hash: &str) -> Result<i64> {
        self.count("SELECT count(*) FROM evaluations WHERE portfolio_hash = ?1", portfolio_hash)
    }
}
