//! The default store: one SQLite file under the data dir, WAL journal,
//! `synchronous = FULL` so an acknowledged write survives a crash or power
//! loss. All writes go through a single connection (SQLite allows one writer
//! anyway), reads through a small pool. The statements are in `sql.rs`.

use super::{migrate, sql::sql_store};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    events: broadcast::Sender<StoreEvent>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        {
            let mut conn = writer.acquire().await?;
            migrate::apply_sqlite(&mut conn).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let (events, _) = broadcast::channel(1024);
        let store = SqliteStore {
            writer,
            reader,
            events,
        };
        store.chain_legacy_events().await?;
        Ok(store)
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// `BEGIN IMMEDIATE`: the write lock is taken first, so a lock held by
    /// another process is waited for (busy_timeout) instead of failing the
    /// transaction halfway when it upgrades from reading to writing.
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Nothing to do: the single writer connection already commits in cursor order.
    async fn lock_outbox(_tx: &mut Transaction<'_, sqlx::Sqlite>) -> Result<()> {
        Ok(())
    }

    /// Nothing to do: a reading transaction sees one snapshot from its first read.
    async fn snapshot_reads(_tx: &mut Transaction<'_, sqlx::Sqlite>) -> Result<()> {
        Ok(())
    }

    /// No other process shares this file: `announce` after the commit is enough.
    async fn publish(
        &self,
        _tx: &mut Transaction<'_, sqlx::Sqlite>,
        _events: &[StoreEvent],
    ) -> Result<()> {
        Ok(())
    }

    /// One process owns the file, and `Knowledge` serializes its own syncs.
    async fn lock_folder_sync_impl(&self) -> Result<StoreLock> {
        Ok(StoreLock::none())
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
