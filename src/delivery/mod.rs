//! The outbox as the platforms see it: replies ready to send, streamed in
//! commit order from a cursor (acknowledged ones skipped), pushed as they are
//! committed, and acknowledged one by one.

use crate::model::{AuditEvent, Delivery, Draft, now_ms};
use crate::storage::{self, DynStore, StoreEvent};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("delivery {0} not found")]
    NotFound(u64),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

static ACKED: LazyLock<prometheus::Histogram> = LazyLock::new(|| {
    prometheus::register_histogram!(
        "replygate_create_to_delivery_seconds",
        "Time from a customer message's draft being created to the platform acknowledging its delivery",
        vec![0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0]
    )
    .unwrap()
});

/// How often an idle stream re-reads the outbox even without a notification.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
const BATCH: u32 = 200;

pub struct Deliveries {
    store: DynStore,
}

impl Deliveries {
    pub fn new(store: DynStore) -> Deliveries {
        Deliveries { store }
    }

    /// Streams unacknowledged deliveries after `after_cursor`, then new ones
    /// as they commit, until the receiver is dropped or on shutdown.
    pub fn stream(
        &self,
        after_cursor: u64,
        channel: Option<String>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<mpsc::Receiver<Result<Delivery>>> {
        if let Some(c) = &channel
            && c.len() > 32
        {
            return Err(Error::Invalid {
                field: "channel",
                message: "must be at most 32 characters".into(),
            });
        }
        // Subscribe before the first read so nothing committed in between is missed.
        let mut events = self.store.subscribe();
        let store = self.store.clone();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut cursor = after_cursor;
            loop {
                let batch = match store
                    .deliveries_after(cursor, channel.as_deref(), BATCH)
                    .await
                {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                let full = batch.len() as u32 == BATCH;
                for d in batch {
                    cursor = d.cursor;
                    if tx.send(Ok(d)).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                // Wait for a new delivery, or poll as a safety net.
                let deadline = tokio::time::sleep(POLL_INTERVAL);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        e = events.recv() => match e {
                            Ok(StoreEvent::DeliveryCreated { .. } | StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Ok(_) => continue,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = &mut deadline => break,
                        _ = tx.closed() => return,
                        _ = shutdown.changed() => return,
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Acknowledges a delivery: the draft becomes DELIVERED. Acknowledging
    /// again changes nothing and reports `false`.
    pub async fn ack(&self, cursor: u64) -> Result<(bool, Draft)> {
        if cursor == 0 {
            return Err(Error::Invalid {
                field: "cursor",
                message: "is required (a delivery's cursor, 1 or more)".into(),
            });
        }
        let delivery = self
            .store
            .get_delivery(cursor)
            .await?
            .ok_or(Error::NotFound(cursor))?;
        let now = now_ms();
        let draft = self
            .store
            .get_draft(&delivery.draft_id)
            .await?
            .ok_or(Error::NotFound(cursor))?;
        let event = AuditEvent::new(
            "delivery_acked",
            "platform",
            &draft,
            serde_json::json!({ "cursor": cursor }),
            now,
        );
        let newly = self.store.ack_delivery(cursor, event, now).await?;
        let draft = self
            .store
            .get_draft(&delivery.draft_id)
            .await?
            .ok_or(Error::NotFound(cursor))?;
        if newly {
            ACKED.observe(((now - draft.created_at).max(0) as f64) / 1000.0);
        }
        Ok((newly, draft))
    }
}
