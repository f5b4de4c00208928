//! The store for several replicas: one PostgreSQL database shared by every
//! gateway process. The statements and the `Store` are in `sql/`; this module adds what
//! sharing needs:
//!
//! - Store events travel between replicas with `NOTIFY`, sent inside the
//!   transaction (so only committed changes are announced) on a channel named
//!   after the schema. A listener task turns other replicas' notifications
//!   into local events; when its connection drops it announces `Resync`, and
//!   subscribers re-read state (the delivery stream also polls by cursor).
//! - Delivery cursors come from an identity column, under a transaction-scoped
//!   advisory lock: a cursor is handed out only after the previous delivery's
//!   transaction ended, so readers never see cursor 7 before cursor 6 and a
//!   stream resuming "after 6" cannot skip one.
//! - The knowledge-folder sync takes a session advisory lock on a connection
//!   of its own, so one replica at a time applies it.
//! - Writes are group-committed (`group.rs`): each replica's writer runs the
//!   writes waiting for it in one transaction that locks the audit chain's
//!   head first, so replicas take turns group by group instead of write by
//!   write (every write appends to the one chain).

use super::group::{Session, Writer, Written};
use super::sql::{SqlBackend, SqlStore};
use super::{BoxFuture, Error, Result, StoreEvent, StoreLock, migrate};
use crate::config::DatabaseConfig;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::broadcast;

const OUTBOX_LOCK: i64 = 0x7265_706c_7967_0002;
const FOLDER_SYNC_LOCK: i64 = 0x7265_706c_7967_0003;

/// The PostgreSQL store.
pub type PgStore = SqlStore<PgBackend>;

/// One PostgreSQL database shared by every replica.
pub struct PgBackend {
    pool: PgPool,
    writer: Writer<PgConnection>,
    options: PgConnectOptions,
    events: broadcast::Sender<StoreEvent>,
    /// Where this store's notifications go: one channel per schema.
    channel: String,
    /// Tells this process's own notifications apart from other replicas'.
    origin: String,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl SqlStore<PgBackend> {
    /// Connects, applies migrations and starts listening for other replicas' changes.
    pub async fn open(url: &str, config: &DatabaseConfig) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Unavailable(format!("database_url: {e}")))?
            .application_name("replygate");
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections.min(config.max_connections))
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        {
            let mut conn = pool.acquire().await?;
            migrate::apply_postgres(&mut conn).await?;
        }
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let channel = format!("replygate.{schema}");
        let origin = crate::model::new_id();
        let (events, _) = broadcast::channel(1024);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(&channel).await?;
        let task = tokio::spawn(listen(
            listener,
            pool.clone(),
            origin.clone(),
            events.clone(),
        ));
        let store = SqlStore::new(PgBackend {
            writer: Writer::start(
                PgSession {
                    pool: pool.clone(),
                    conn: None,
                },
                "postgres",
            ),
            pool,
            options,
            events,
            channel,
            origin,
            listener: task,
        });
        store.chain_legacy_events().await?;
        Ok(store)
    }
}

impl SqlBackend for PgBackend {
    type Db = sqlx::Postgres;

    /// Runs `f` in the writer's next group, queues notifications for the
    /// events it returns (sent by PostgreSQL at commit), and answers once the
    /// group has committed; then tells this process's subscribers.
    async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Written<R>> + Send + 'static,
    {
        let (channel, origin) = (self.channel.clone(), self.origin.clone());
        let (value, events) = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let (value, events) = f(&mut *conn).await?;
                    publish(conn, &channel, &origin, &events).await?;
                    Ok((value, events))
                })
            })
            .await?;
        for event in events {
            // No receiver is fine: nobody is streaming right now.
            let _ = self.events.send(event);
        }
        Ok(value)
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// Held until the transaction ends; see the module comment.
    fn lock_outbox(tx: &mut PgConnection) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(OUTBOX_LOCK)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    /// The transcript's reads see one snapshot, as with SQLite.
    fn snapshot_reads(tx: &mut PgConnection) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    /// A session lock on a connection of its own, released when the guard
    /// drops (closing the connection ends the session and its locks).
    fn lock_folder_sync(&self) -> BoxFuture<'_, Result<StoreLock>> {
        Box::pin(async move {
            let mut conn = self.options.connect().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(FOLDER_SYNC_LOCK)
                .execute(&mut conn)
                .await?;
            Ok(StoreLock::new(FolderSyncLock(Some(conn))))
        })
    }

    fn events(&self) -> &broadcast::Sender<StoreEvent> {
        &self.events
    }
}

/// Queues one notification with every event of a write, a line each;
/// PostgreSQL sends it at commit.
async fn publish(
    tx: &mut PgConnection,
    channel: &str,
    origin: &str,
    events: &[StoreEvent],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let payload: Vec<String> = events.iter().map(|e| encode(origin, e)).collect();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload.join("\n"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A group's transaction on a pooled connection. Every group locks the audit
/// chain's head row first: groups of all replicas take turns, and no two can
/// deadlock over rows they touch in different orders. At most 32 writes per
/// group, as each savepoint is a subtransaction and PostgreSQL caches 64 per
/// transaction before every snapshot gets slower.
struct PgSession {
    pool: PgPool,
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl Session for PgSession {
    type Conn = PgConnection;
    const MAX_GROUP: usize = 32;

    fn begin(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            let began = async {
                sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
                sqlx::query("SELECT pos FROM audit_head WHERE id = 1 FOR UPDATE")
                    .execute(&mut *conn)
                    .await?;
                Ok::<_, sqlx::Error>(())
            }
            .await;
            match began {
                Ok(()) => {
                    self.conn = Some(conn);
                    Ok(())
                }
                Err(e) => {
                    // Whatever state it is in, this connection is not reused.
                    let _ = conn.close().await;
                    Err(e.into())
                }
            }
        })
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("the writer asks for the connection only inside a group")
    }

    fn exec(&mut self, sql: &'static str) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            sqlx::raw_sql(sql).execute(self.conn()).await?;
            Ok(())
        })
    }

    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            sqlx::raw_sql("COMMIT").execute(self.conn()).await?;
            self.conn = None;
            Ok(())
        })
    }

    fn abandon(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut conn) = self.conn.take()
                && sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_err()
            {
                let _ = conn.close().await;
            }
        })
    }
}

struct FolderSyncLock(Option<sqlx::PgConnection>);

impl Drop for FolderSyncLock {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Close politely when a runtime is around; dropping the socket
            // releases the lock all the same.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = conn.close().await;
                });
            }
        }
    }
}

/// `origin|kind|value`, with kind `d` (new delivery's cursor), `k` (acked
/// delivery's cursor), `q` (draft id), `a` (article id), `m` (curated answer
/// id) or `r` (resync).
fn encode(origin: &str, event: &StoreEvent) -> String {
    match event {
        StoreEvent::DeliveryCreated { cursor } => format!("{origin}|d|{cursor}"),
        StoreEvent::DeliveryAcked { cursor } => format!("{origin}|k|{cursor}"),
        StoreEvent::QueueChanged { draft_id } => format!("{origin}|q|{draft_id}"),
        StoreEvent::ArticleChanged { id } => format!("{origin}|a|{id}"),
        StoreEvent::MemoryChanged { id } => format!("{origin}|m|{id}"),
        StoreEvent::Resync => format!("{origin}|r|"),
    }
}

/// The event in a notification, and whether this process sent it.
fn decode(payload: &str, own_origin: &str) -> Option<(StoreEvent, bool)> {
    let (origin, rest) = payload.split_once('|')?;
    let (kind, value) = rest.split_once('|')?;
    let event = match kind {
        "d" => StoreEvent::DeliveryCreated {
            cursor: value.parse().ok()?,
        },
        "k" => StoreEvent::DeliveryAcked {
            cursor: value.parse().ok()?,
        },
        "q" => StoreEvent::QueueChanged {
            draft_id: value.to_string(),
        },
        "a" => StoreEvent::ArticleChanged {
            id: value.to_string(),
        },
        "m" => StoreEvent::MemoryChanged {
            id: value.to_string(),
        },
        "r" => StoreEvent::Resync,
        _ => return None,
    };
    Some((event, origin == own_origin))
}

/// Forwards other replicas' notifications until the store is dropped.
async fn listen(
    mut listener: PgListener,
    pool: PgPool,
    origin: String,
    events: broadcast::Sender<StoreEvent>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                for line in notification.payload().lines() {
                    match decode(line, &origin) {
                        Some((_, true)) => {} // announced locally already
                        Some((event, false)) => {
                            let _ = events.send(event);
                        }
                        None => tracing::warn!(
                            payload = line,
                            "ignoring a malformed store notification"
                        ),
                    }
                }
            }
            // The connection dropped and came back: anything sent meanwhile is lost.
            Ok(None) => {
                tracing::warn!("store notifications reconnected; subscribers re-read state");
                let _ = events.send(StoreEvent::Resync);
            }
            Err(e) => {
                tracing::warn!(error = %e, "store notifications unavailable; retrying");
                // Wait until the database answers again, then tell subscribers
                // to re-read what they may have missed.
                while sqlx::query("SELECT 1").execute(&pool).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                let _ = events.send(StoreEvent::Resync);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_round_trip_and_know_their_origin() {
        for event in [
            StoreEvent::DeliveryCreated { cursor: 42 },
            StoreEvent::DeliveryAcked { cursor: 7 },
            StoreEvent::QueueChanged {
                draft_id: "0192-x".into(),
            },
            StoreEvent::ArticleChanged {
                id: "en/a|b".into(),
            },
            StoreEvent::MemoryChanged {
                id: "0193-y".into(),
            },
            StoreEvent::Resync,
        ] {
            let payload = encode("me", &event);
            assert_eq!(decode(&payload, "me"), Some((event.clone(), true)));
            assert_eq!(decode(&payload, "other"), Some((event, false)));
        }
        assert_eq!(decode("garbage", "me"), None);
        assert_eq!(decode("x|d|not-a-number", "me"), None);
    }
}
