//! The default store: one SQLite file under the data dir, WAL journal,
//! `synchronous = FULL` so an acknowledged write survives a crash or power
//! loss. Reads go through a small pool; writes through one connection owned
//! by the group-commit writer (`group.rs`; SQLite allows one writer anyway),
//! whose transactions begin IMMEDIATE so a lock held by another process is
//! waited for (busy_timeout) rather than failing a write halfway.
//! Checkpoints (copying the WAL back into the database file) run on a
//! connection of their own every `CHECKPOINT_EVERY`, so commits do not wait
//! for them; the writer checkpoints only if the WAL outgrows
//! `WRITER_CHECKPOINT_PAGES` (under unbroken load, when the background
//! checkpoints never catch up with the end of the WAL).
//! The statements and the `Store` are in `sql/` (`SqlStore<B>`); this is the backend.

use super::group::{Session, Writer, Written};
use super::sql::{Conn, SqlBackend, SqlStore};
use super::{BoxFuture, Error, Result, StoreEvent, StoreLock, migrate};
use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

/// How often the background connection checkpoints the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL pages (4 KiB) beyond which the writer checkpoints after a commit.
const WRITER_CHECKPOINT_PAGES: &str = "8192";

/// The SQLite store.
pub type SqliteStore = SqlStore<SqliteBackend>;

/// One SQLite file, owned by this process.
pub struct SqliteBackend {
    writer: Writer<SqliteConnection>,
    reader: SqlitePool,
    events: broadcast::Sender<StoreEvent>,
    checkpoints: Option<tokio::task::JoinHandle<()>>,
    /// The database file, locked for as long as this store is open (see [`SqliteStore::open`]).
    _lock: Option<std::fs::File>,
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        if let Some(c) = &self.checkpoints {
            c.abort();
        }
    }
}

/// How long opening waits for another holder of the file to let go (a
/// process restarting, a test reopening the data it just closed).
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Takes the file's exclusive lock (flock; SQLite's own locks are fcntl
/// locks and do not see it), waiting up to `LOCK_WAIT` for a holder that is
/// going away, or says which file another process holds.
async fn lock_exclusively(path: &Path) -> Result<std::fs::File> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match try_lock_exclusively(path) {
            Err(Error::Unavailable(message))
                if message.contains("in use") && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

fn try_lock_exclusively(path: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Unavailable(format!(
            "the database file {} is in use by another replygate process; SQLite serves one \
             process: stop the other one, give this one another data dir, or run several \
             replicas on PostgreSQL (database_url = \"postgres://...\")",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Unavailable(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

impl SqlStore<SqliteBackend> {
    /// Opens (creating if needed) the database file and applies migrations.
    /// One process at a time: the outbox's order, store events and the
    /// knowledge sync all assume that this process is the file's only
    /// writer, so a second process opening the file is refused, naming it.
    pub async fn open(path: &Path) -> Result<Self> {
        let lock = lock_exclusively(path).await?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let cannot_open =
            |e: sqlx::Error| Error::Unavailable(format!("cannot open {}: {e}", path.display()));
        let mut conn = options
            .clone()
            .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .connect()
            .await
            .map_err(cannot_open)?;
        migrate::apply_sqlite(&mut conn).await?;
        let checkpointer = options.connect().await.map_err(cannot_open)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let (events, _) = broadcast::channel(1024);
        let store = SqlStore::new(SqliteBackend {
            writer: Writer::start(SqliteSession { conn }, "sqlite"),
            reader,
            events,
            checkpoints: Some(tokio::spawn(checkpoint_periodically(checkpointer))),
            _lock: Some(lock),
        });
        store.chain_legacy_events().await?;
        Ok(store)
    }

    /// Opens the database for reading only, beside a server that may be
    /// running on it (for `replygate audit verify`): no lock, no migrations,
    /// and every write fails.
    pub async fn open_read_only(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Unavailable(format!(
                "no database at {}",
                path.display()
            )));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(10))
            .read_only(true);
        let cannot_open =
            |e: sqlx::Error| Error::Unavailable(format!("cannot open {}: {e}", path.display()));
        let conn = options.connect().await.map_err(cannot_open)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        let (events, _) = broadcast::channel(16);
        Ok(SqlStore::new(SqliteBackend {
            writer: Writer::start(SqliteSession { conn }, "sqlite-read-only"),
            reader,
            events,
            checkpoints: None,
            _lock: None,
        }))
    }
}

impl SqlBackend for SqliteBackend {
    type Db = sqlx::Sqlite;

    /// Runs `f` in the writer's next group and answers once the group has
    /// committed; then tells this process's subscribers.
    async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Written<R>> + Send + 'static,
    {
        let (value, events) = self.writer.write(f).await?;
        for event in events {
            // No receiver is fine: nobody is streaming right now.
            let _ = self.events.send(event);
        }
        Ok(value)
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Nothing to do: the single writer connection already commits in cursor order.
    fn lock_outbox(_tx: &mut Conn<sqlx::Sqlite>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Nothing to do: a reading transaction sees one snapshot from its first read.
    fn snapshot_reads(_tx: &mut Conn<sqlx::Sqlite>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// One process owns the file, and `Knowledge` serializes its own syncs.
    fn lock_folder_sync(&self) -> BoxFuture<'_, Result<StoreLock>> {
        Box::pin(async { Ok(StoreLock::none()) })
    }

    fn events(&self) -> &broadcast::Sender<StoreEvent> {
        &self.events
    }
}

/// Copies committed WAL pages into the database file, without blocking
/// the writer or readers (a passive checkpoint), until the store is dropped.
async fn checkpoint_periodically(mut conn: SqliteConnection) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::raw_sql("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %e, "wal checkpoint failed");
        }
    }
}

/// The writer's connection.
struct SqliteSession {
    conn: SqliteConnection,
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<()> {
    sqlx::raw_sql(sql).execute(conn).await?;
    Ok(())
}

impl Session for SqliteSession {
    type Conn = SqliteConnection;
    const MAX_GROUP: usize = 256;

    fn begin(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(exec(&mut self.conn, "BEGIN IMMEDIATE"))
    }

    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    fn exec(&mut self, sql: &'static str) -> BoxFuture<'_, Result<()>> {
        Box::pin(exec(&mut self.conn, sql))
    }

    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(exec(&mut self.conn, "COMMIT"))
    }

    fn abandon(&mut self) -> BoxFuture<'_, ()> {
        // SQLite may have rolled back already; make sure nothing stays open.
        Box::pin(async move {
            let _ = exec(&mut self.conn, "ROLLBACK").await;
        })
    }
}
