//! Numbered migrations, embedded in the binary and applied in order at start-up.
//! Each backend has its own folder under `migrations/`.

use sqlx::{Connection, Executor};

/// (version, name, sql)
pub(crate) type Migration = (i64, &'static str, &'static str);

pub(crate) const SQLITE: &[Migration] = &[(
    1,
    "init",
    include_str!("../../migrations/sqlite/0001_init.sql"),
)];

/// Applies the migrations `conn` has not seen, each in its own transaction.
pub(crate) async fn apply_sqlite(
    conn: &mut sqlx::SqliteConnection,
    migrations: &[Migration],
) -> Result<(), sqlx::Error> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .await?;
    for (version, name, sql) in migrations {
        let mut tx = conn.begin().await?;
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_none() {
            tx.execute(*sql).await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            )
            .bind(version)
            .bind(name)
            .bind(crate::model::now_ms())
            .execute(&mut *tx)
            .await?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit().await?;
    }
    Ok(())
}
