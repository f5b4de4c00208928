//! Numbered migrations, embedded in the binary and applied in order at
//! start-up by sqlx's migrator, which records each in `_sqlx_migrations`
//! with its checksum and refuses a database whose applied migration no
//! longer matches its file. Each backend has its own folder under
//! `migrations/`, with the same numbers for the same changes.
//!
//! Why `Migrator::with_migrations` over `include_str!` rather than the
//! `sqlx::migrate!` macro: the result is the same embedded, checksummed
//! migrator, without sqlx's `macros` feature and its proc-macro build.
//!
//! Databases made before sqlx's migrator kept their own table,
//! `schema_migrations`: the versions it lists are marked applied in
//! `_sqlx_migrations` (not run again) the first time the new code opens them.

use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};
use sqlx::{Connection, Executor, SqlSafeStr};
use std::borrow::Cow;

/// (version, name, sql)
type Source = (i64, &'static str, &'static str);

const SQLITE: &[Source] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "audit_chain",
        include_str!("../../migrations/sqlite/0002_audit_chain.sql"),
    ),
    (
        3,
        "scopes_holds_leases",
        include_str!("../../migrations/sqlite/0003_scopes_holds_leases.sql"),
    ),
    (
        4,
        "passage_vectors",
        include_str!("../../migrations/sqlite/0004_passage_vectors.sql"),
    ),
    (
        5,
        "answer_memory",
        include_str!("../../migrations/sqlite/0005_answer_memory.sql"),
    ),
    (
        6,
        "conversation_state",
        include_str!("../../migrations/sqlite/0006_conversation_state.sql"),
    ),
    (
        7,
        "provenance",
        include_str!("../../migrations/sqlite/0007_provenance.sql"),
    ),
    (
        8,
        "channel_rules",
        include_str!("../../migrations/sqlite/0008_channel_rules.sql"),
    ),
    (
        9,
        "erasure",
        include_str!("../../migrations/sqlite/0009_erasure.sql"),
    ),
    (
        10,
        "applies_to",
        include_str!("../../migrations/sqlite/0010_applies_to.sql"),
    ),
    (
        11,
        "console",
        include_str!("../../migrations/sqlite/0011_console.sql"),
    ),
];

const POSTGRES: &[Source] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "audit_chain",
        include_str!("../../migrations/postgres/0002_audit_chain.sql"),
    ),
    (
        3,
        "scopes_holds_leases",
        include_str!("../../migrations/postgres/0003_scopes_holds_leases.sql"),
    ),
    (
        4,
        "passage_vectors",
        include_str!("../../migrations/postgres/0004_passage_vectors.sql"),
    ),
    (
        5,
        "answer_memory",
        include_str!("../../migrations/postgres/0005_answer_memory.sql"),
    ),
    (
        6,
        "conversation_state",
        include_str!("../../migrations/postgres/0006_conversation_state.sql"),
    ),
    (
        7,
        "provenance",
        include_str!("../../migrations/postgres/0007_provenance.sql"),
    ),
    (
        8,
        "channel_rules",
        include_str!("../../migrations/postgres/0008_channel_rules.sql"),
    ),
    (
        9,
        "erasure",
        include_str!("../../migrations/postgres/0009_erasure.sql"),
    ),
    (
        10,
        "applies_to",
        include_str!("../../migrations/postgres/0010_applies_to.sql"),
    ),
    (
        11,
        "console",
        include_str!("../../migrations/postgres/0011_console.sql"),
    ),
];

fn migrator(sources: &[Source]) -> Migrator {
    let mut migrator = Migrator::with_migrations(
        sources
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    // Each caller below takes the lock itself, around adopting the old table too.
    migrator.set_locking(false);
    migrator
}

/// SQLite changes some tables by rebuilding them (it cannot drop a column's
/// UNIQUE), which needs foreign keys off: they are turned off for the
/// migrations (the pragma does nothing inside a transaction), and each
/// migration runs inside a transaction of ours that checks them before it
/// commits, so none is left dangling. (sqlx's own transaction becomes a
/// savepoint inside ours.) One process holds the file, so no lock is needed.
pub(crate) async fn apply_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<(), MigrateError> {
    conn.execute("PRAGMA foreign_keys = OFF").await?;
    let applied = apply_sqlite_migrations(conn).await;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    applied
}

async fn apply_sqlite_migrations(conn: &mut sqlx::SqliteConnection) -> Result<(), MigrateError> {
    let migrator = migrator(SQLITE);
    let legacy: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if legacy.is_some() {
        let highest: Option<i64> = sqlx::query_scalar(LEGACY_HIGHEST)
            .fetch_one(&mut *conn)
            .await?;
        adopt_legacy(conn, &migrator, highest).await?;
    }
    for m in migrator.iter() {
        let mut tx = conn.begin().await?;
        migrator
            .run_direct(Some(m.version), &mut *tx, false)
            .await?;
        let dangling: Option<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some((table,)) = dangling {
            return Err(MigrateError::ExecuteMigration(
                sqlx::Error::Protocol(format!(
                    "it would leave a dangling reference in table {table}"
                )),
                m.version,
            ));
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Replicas starting together take turns on sqlx's lock: the first applies,
/// the others wait and then find nothing left to do.
pub(crate) async fn apply_postgres(conn: &mut sqlx::PgConnection) -> Result<(), MigrateError> {
    let migrator = migrator(POSTGRES);
    conn.lock().await?;
    let applied = async {
        let legacy: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('schema_migrations')::text")
                .fetch_one(&mut *conn)
                .await?;
        if legacy.is_some() {
            let highest: Option<i64> = sqlx::query_scalar(LEGACY_HIGHEST)
                .fetch_one(&mut *conn)
                .await?;
            adopt_legacy(&mut *conn, &migrator, highest).await?;
        }
        migrator.run_direct(None, &mut *conn, false).await
    }
    .await;
    conn.unlock().await?;
    applied
}

const LEGACY_HIGHEST: &str = "SELECT MAX(version) FROM schema_migrations";

/// Marks the versions the old runner recorded in `schema_migrations` as
/// applied in sqlx's table, without running them again. It applied them in
/// order, so they are 1 to its `highest`.
async fn adopt_legacy<C: Migrate>(
    conn: &mut C,
    migrator: &Migrator,
    highest: Option<i64>,
) -> Result<(), MigrateError> {
    if let Some(highest) = highest {
        migrator.run_direct(Some(highest), conn, true).await?;
    }
    Ok(())
}
