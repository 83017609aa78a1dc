//! The project's ClickHouse schema and its migrations.
//!
//! Migrations are SQL files compiled into the binary, grouped by the component that
//! owns them (`cdr` here; rating and number-portability add their own sets) and
//! numbered per component. `migrate` applies the ones not yet recorded in
//! `{db}.schema_migrations`, in order, and records each with a checksum of its text:
//! - idempotent: every statement is `CREATE ... IF NOT EXISTS` (or `DROP ... IF
//!   EXISTS`, to recreate a view), so a run interrupted between a statement and its
//!   record is simply run again;
//! - safe to run twice or from two processes at once (the record table deduplicates);
//! - an applied migration whose text changed is an error, never silently re-applied;
//! - `{db}` and `{on_cluster}` placeholders take the database and, for a cluster, an
//!   `ON CLUSTER name` clause, so the same files serve a single server and a cluster;
//! - `ALTER TABLE {db}.t {on_cluster} ADD COLUMN IF NOT EXISTS name Type`, one column
//!   per statement, works on ClickHouse 18.16, which lacks the clause: `migrate` looks
//!   the column up in `system.columns` and runs the statement without the clause only
//!   when the column is missing.

use crate::store::ClickhouseConfig;
use sha2::{Digest, Sha256};

/// One schema change.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Owning component, e.g. `cdr`.
    pub component: &'static str,
    /// Position in the component's sequence, from 1.
    pub version: u32,
    /// Short description.
    pub name: &'static str,
    /// Statements separated by lines holding a single `;`.
    pub sql: &'static str,
}

/// The call-record schema: the `calls` table and the analyst views.
pub const CDR_MIGRATIONS: &[Migration] = &[
    Migration {
        component: "cdr",
        version: 1,
        name: "calls table",
        sql: include_str!("../migrations/0001_calls.sql"),
    },
    Migration {
        component: "cdr",
        version: 2,
        name: "analyst views",
        sql: include_str!("../migrations/0002_analyst_views.sql"),
    },
    Migration {
        component: "cdr",
        version: 3,
        name: "teams details",
        sql: include_str!("../migrations/0003_teams_details.sql"),
    },
    Migration {
        component: "cdr",
        version: 4,
        name: "end reason",
        sql: include_str!("../migrations/0004_end_reason.sql"),
    },
    Migration {
        component: "cdr",
        version: 5,
        name: "deduplicated view with every column",
        sql: include_str!("../migrations/0005_deduplicated_view_columns.sql"),
    },
];

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The server refused a statement.
    #[error("migration {component} {version} ({name}) failed: {source}")]
    Statement {
        /// Component of the failing migration.
        component: &'static str,
        /// Its version.
        version: u32,
        /// Its name.
        name: &'static str,
        /// The server's answer.
        source: clickhouse::error::Error,
    },
    /// A migration was changed after it had been applied.
    #[error("migration {component} {version} ({name}) was applied with checksum {applied} but the file now has {current}: write a new migration instead of editing an applied one")]
    Modified {
        /// Component of the migration.
        component: &'static str,
        /// Its version.
        version: u32,
        /// Its name.
        name: &'static str,
        /// Checksum recorded when it was applied.
        applied: String,
        /// Checksum of the text in this binary.
        current: String,
    },
    /// The bookkeeping queries failed (server unreachable, no rights).
    #[error("cannot read or record applied migrations: {0}")]
    Bookkeeping(#[from] clickhouse::error::Error),
}

/// What a `migrate` run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// `component version` of each migration applied now.
    pub applied: Vec<String>,
    /// How many were already in place.
    pub already_applied: usize,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct AppliedRow {
    component: String,
    version: u32,
    checksum: String,
}

#[derive(clickhouse::Row, serde::Serialize)]
struct RecordRow<'a> {
    component: &'a str,
    version: u32,
    name: &'a str,
    checksum: String,
}

/// Applies every migration of `sets` not yet applied to `config.database`, creating
/// the database and the bookkeeping table when needed.
///
/// # Errors
/// See [`MigrationError`]; migrations before the failing one stay applied.
pub async fn migrate(
    config: &ClickhouseConfig,
    sets: &[&[Migration]],
) -> Result<MigrationReport, MigrationError> {
    let on_cluster = config
        .cluster
        .as_ref()
        .map(|c| format!("ON CLUSTER {c}"))
        .unwrap_or_default();
    let db = &config.database;
    let server = config.client_without_database();
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS {db} {on_cluster}"))
        .execute()
        .await?;
    server
        .query(&format!(
            "CREATE TABLE IF NOT EXISTS {db}.schema_migrations {on_cluster} \
             (component String, version UInt32, name String, checksum String, \
              applied_at DateTime DEFAULT now()) \
             ENGINE = ReplacingMergeTree ORDER BY (component, version)"
        ))
        .execute()
        .await?;
    let applied: Vec<AppliedRow> = server
        .query(&format!(
            "SELECT component, version, any(checksum) FROM {db}.schema_migrations \
             GROUP BY component, version"
        ))
        .fetch_all()
        .await?;

    let mut report = MigrationReport::default();
    for migration in sets.iter().flat_map(|set| set.iter()) {
        let current = checksum(migration.sql);
        if let Some(done) = applied
            .iter()
            .find(|a| a.component == migration.component && a.version == migration.version)
        {
            if done.checksum != current {
                return Err(MigrationError::Modified {
                    component: migration.component,
                    version: migration.version,
                    name: migration.name,
                    applied: done.checksum.clone(),
                    current,
                });
            }
            report.already_applied += 1;
            continue;
        }
        for statement in statements(migration.sql) {
            let mut sql = statement
                .replace("{db}", db)
                .replace("{on_cluster}", &on_cluster);
            if let Some(add) = AddColumn::parse(&sql) {
                let present: u64 = server
                    .query(
                        "SELECT count() FROM system.columns \
                         WHERE database = ? AND table = ? AND name = ?",
                    )
                    .bind(db.as_str())
                    .bind(add.table)
                    .bind(add.column)
                    .fetch_one()
                    .await?;
                if present > 0 {
                    continue;
                }
                sql = add.without_clause;
            }
            server
                .query(&sql)
                .execute()
                .await
                .map_err(|source| MigrationError::Statement {
                    component: migration.component,
                    version: migration.version,
                    name: migration.name,
                    source,
                })?;
        }
        let mut insert = config
            .client()
            .insert::<RecordRow>("schema_migrations")
            .await?;
        insert
            .write(&RecordRow {
                component: migration.component,
                version: migration.version,
                name: migration.name,
                checksum: current,
            })
            .await?;
        insert.end().await?;
        report
            .applied
            .push(format!("{} {}", migration.component, migration.version));
    }
    Ok(report)
}

/// An `ALTER TABLE db.table ... ADD COLUMN IF NOT EXISTS column ...` statement.
#[derive(Debug, PartialEq, Eq)]
struct AddColumn<'a> {
    /// The table, without its database.
    table: &'a str,
    /// The column added.
    column: &'a str,
    /// The statement without `IF NOT EXISTS`, for servers that lack the clause.
    without_clause: String,
}

impl<'a> AddColumn<'a> {
    const CLAUSE: &'static str = "ADD COLUMN IF NOT EXISTS ";

    fn parse(sql: &'a str) -> Option<AddColumn<'a>> {
        let rest = sql.strip_prefix("ALTER TABLE ")?;
        let qualified = rest.split_whitespace().next()?;
        let table = qualified.rsplit('.').next()?;
        let at = sql.find(Self::CLAUSE)?;
        let column = sql[at + Self::CLAUSE.len()..].split_whitespace().next()?;
        Some(AddColumn {
            table,
            column,
            without_clause: format!(
                "{}ADD COLUMN {}",
                &sql[..at],
                &sql[at + Self::CLAUSE.len()..]
            ),
        })
    }
}

/// The statements of a migration: text between lines that hold only `;`, comments
/// and blank statements dropped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim() == ";" {
            out.push(std::mem::take(&mut current));
        } else if !line.trim_start().starts_with("--") {
            current.push_str(line);
            current.push('\n');
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_lone_semicolons_and_drop_comments() {
        let sql = "-- a comment\nCREATE TABLE a (x UInt8)\n;\n\nCREATE VIEW b AS SELECT 1\n;\n";
        assert_eq!(
            statements(sql),
            vec!["CREATE TABLE a (x UInt8)", "CREATE VIEW b AS SELECT 1"]
        );
    }

    #[test]
    fn shipped_migrations_are_numbered_in_order_and_idempotent() {
        for (i, m) in CDR_MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            for statement in statements(m.sql) {
                assert!(
                    statement.contains("IF NOT EXISTS")
                        || (statement.starts_with("DROP ") && statement.contains("IF EXISTS")),
                    "{} {}: a statement without IF NOT EXISTS cannot run twice: {statement}",
                    m.component,
                    m.version
                );
                assert!(statement.contains("{on_cluster}"), "{statement}");
                assert!(
                    statement.matches("ADD COLUMN").count() <= 1,
                    "one added column per statement, so that it can be looked up: {statement}"
                );
            }
        }
    }

    #[test]
    fn add_column_if_not_exists_is_recognised_and_rewritten() {
        let add = AddColumn::parse(
            "ALTER TABLE db.calls ON CLUSTER c ADD COLUMN IF NOT EXISTS teams_user String",
        )
        .unwrap();
        assert_eq!(add.table, "calls");
        assert_eq!(add.column, "teams_user");
        assert_eq!(
            add.without_clause,
            "ALTER TABLE db.calls ON CLUSTER c ADD COLUMN teams_user String"
        );
        assert_eq!(
            AddColumn::parse("CREATE TABLE IF NOT EXISTS db.x (a UInt8)"),
            None
        );
    }

    #[test]
    fn checksum_changes_with_the_text() {
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum("a").len(), 64);
    }
}
