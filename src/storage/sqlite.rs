//! The default store: one SQLite file under the data dir, WAL journal,
//! `synchronous = FULL` so an acknowledged write survives a crash or power
//! loss. Reads go through a small pool; writes through one connection owned
//! by a writer task (SQLite allows one writer anyway), which commits in
//! groups: every write waiting when a transaction starts joins it, each in a
//! savepoint of its own, and one COMMIT (one fsync) makes the whole group
//! durable before any of its callers is answered. A write that fails rolls
//! back to its savepoint and leaves the others in. Callers that give up
//! (a timeout) do not interrupt the writer: their write still commits or not
//! as a whole, and a retry with the same request id finds it.
//! The statements are in `sql.rs`.

use super::{BoxFuture, migrate, sql::sql_store};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Writes one transaction may carry; more wait for the next.
const MAX_GROUP: usize = 256;
/// Writes waiting for the writer before callers are made to wait to queue.
const QUEUE: usize = 4096;

/// Called once the group's fate is known: `None` committed, `Some` failed.
type Outcome = Box<dyn FnOnce(Option<&Error>) + Send>;
/// One caller's write: runs on the writer's connection (`None`: no transaction
/// could be begun), says whether it succeeded, and how to answer its caller.
type Job = Box<
    dyn for<'c> FnOnce(Option<&'c mut SqliteConnection>) -> BoxFuture<'c, (bool, Outcome)> + Send,
>;

pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
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
        let mut writer = options
            .connect()
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        migrate::apply_sqlite(&mut writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run_writer(writer, queue));
        let (events, _) = broadcast::channel(1024);
        let store = SqliteStore {
            jobs,
            reader,
            events,
        };
        store.chain_legacy_events().await?;
        Ok(store)
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// Runs `f` in the writer's current group transaction and answers once
    /// the group has committed; then tells this process's subscribers.
    async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(R, Vec<StoreEvent>)>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<(R, Vec<StoreEvent>)>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = match conn {
                    Some(conn) => Some(f(conn).await),
                    None => None,
                };
                let ok = matches!(result, Some(Ok(_)));
                let outcome: Outcome = Box::new(move |group: Option<&Error>| {
                    let _ = answer.send(match (result, group) {
                        (Some(Err(e)), _) => Err(e),
                        (_, Some(e)) => Err(e.clone()),
                        (Some(Ok(value)), None) => Ok(value),
                        (None, None) => Err(Error::Internal("write was not run".into())),
                    });
                });
                (ok, outcome)
            })
        });
        let stopped = || Error::Unavailable("the database writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        let (value, events) = answered.await.map_err(|_| stopped())??;
        self.announce(events);
        Ok(value)
    }

    /// Nothing to do: the single writer connection already commits in cursor order.
    async fn lock_outbox(_tx: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }

    /// Nothing to do: a reading transaction sees one snapshot from its first read.
    async fn snapshot_reads(_tx: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }

    /// One process owns the file, and `Knowledge` serializes its own syncs.
    async fn lock_folder_sync_impl(&self) -> Result<StoreLock> {
        Ok(StoreLock::none())
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<()> {
    sqlx::raw_sql(sql).execute(conn).await?;
    Ok(())
}

/// The writer task: takes the next write, begins a transaction (`BEGIN
/// IMMEDIATE` waits for a lock another process holds, up to busy_timeout),
/// runs it and every write that arrived meanwhile, each in a savepoint, then
/// commits them together and answers their callers. Ends when the store is dropped.
async fn run_writer(mut conn: SqliteConnection, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE").await {
            let (_, outcome) = first(None).await;
            outcome(Some(&e));
            continue;
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let outcome = match exec(&mut conn, "SAVEPOINT write").await {
                Err(e) => {
                    let (_, outcome) = job(None).await;
                    Box::new(move |_: Option<&Error>| outcome(Some(&e))) as Outcome
                }
                Ok(()) => {
                    let (ok, outcome) = job(Some(&mut conn)).await;
                    let closed = match ok {
                        true => exec(&mut conn, "RELEASE write").await,
                        false => match exec(&mut conn, "ROLLBACK TO write").await {
                            Ok(()) => exec(&mut conn, "RELEASE write").await,
                            Err(e) => Err(e),
                        },
                    };
                    match closed {
                        Ok(()) => outcome,
                        // The savepoint cannot be closed: fail this write, and the
                        // group with it, rather than commit half of it.
                        Err(e) => {
                            tracing::error!(error = %e, "cannot close a write's savepoint");
                            let _ = exec(&mut conn, "ROLLBACK").await;
                            outcomes.push(Box::new(move |_: Option<&Error>| outcome(Some(&e))));
                            break;
                        }
                    }
                }
            };
            outcomes.push(outcome);
            if outcomes.len() < MAX_GROUP {
                next = queue.try_recv().ok();
            }
        }
        let committed = match exec(&mut conn, "COMMIT").await {
            Ok(()) => None,
            Err(e) => {
                // SQLite may already have rolled back; make sure nothing stays open.
                let _ = exec(&mut conn, "ROLLBACK").await;
                tracing::warn!(error = %e, writes = outcomes.len(), "group commit failed");
                Some(e)
            }
        };
        GROUP_SIZE.observe(outcomes.len() as f64);
        for outcome in outcomes {
            outcome(committed.as_ref());
        }
    }
    let _ = conn.close().await;
}

static GROUP_SIZE: std::sync::LazyLock<prometheus::Histogram> = std::sync::LazyLock::new(|| {
    prometheus::register_histogram!(
        "replygate_sqlite_group_commit_writes",
        "Writes made durable by one SQLite commit (one fsync)",
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    )
    .unwrap()
});

sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
