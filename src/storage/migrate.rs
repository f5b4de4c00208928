//! Numbered migrations, embedded in the binary and applied in order at
//! start-up, each in its own transaction. Each backend has its own folder
//! under `migrations/`, with the same numbers for the same changes.

use sqlx::{Connection, Executor};

/// (version, name, sql)
type Migration = (i64, &'static str, &'static str);

const SQLITE: &[Migration] = &[
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
];

const POSTGRES: &[Migration] = &[
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
];

/// Any number that no other advisory-lock user of the database picks.
pub(crate) const MIGRATION_LOCK: i64 = 0x7265_706c_7967_0001;

const TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// SQLite changes some tables by rebuilding them (it cannot drop a column's
/// UNIQUE), which needs foreign keys off: they are turned off for the
/// migrations (the pragma does nothing inside a transaction) and every
/// migration checks them before it commits, so none is left dangling.
pub(crate) async fn apply_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    conn.execute(TRACKING_TABLE).await?;
    conn.execute("PRAGMA foreign_keys = OFF").await?;
    let applied = apply_sqlite_migrations(conn).await;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    applied
}

async fn apply_sqlite_migrations(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    for (version, name, sql) in SQLITE {
        let mut tx = conn.begin().await?;
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_none() {
            tx.execute(*sql).await?;
            let dangling: Option<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((table,)) = dangling {
                return Err(sqlx::Error::Protocol(format!(
                    "migration {version} ({name}) would leave a dangling reference in table {table}"
                )));
            }
            record(&mut tx, *version, name).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Replicas starting together take turns: the first applies, the others
/// wait on the lock and then find nothing left to do.
pub(crate) async fn apply_postgres(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    for (version, name, sql) in POSTGRES {
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        tx.execute(TRACKING_TABLE).await?;
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_none() {
            tx.execute(*sql).await?;
            record(&mut tx, *version, name).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

async fn record<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    version: i64,
    name: &str,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
        .bind(version)
        .bind(name)
        .bind(crate::model::now_ms())
        .execute(&mut **tx)
        .await?;
    tracing::info!(version, name, "applied migration");
    Ok(())
}
