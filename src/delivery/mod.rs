//! The outbox as the platforms see it: replies ready to send, streamed in
//! commit order from a cursor (acknowledged ones skipped), pushed as they are
//! committed, and acknowledged one by one. Streams in a consumer group share
//! the deliveries instead: each goes to one stream at a time, under a lease.
//! A platform's token sees only its own customers' deliveries.

use crate::config::DeliveryConfig;
use crate::model::{AuditEvent, Delivery, Draft, Scope, new_id, now_ms};
use crate::storage::{self, DeliveryLease, DynStore, StoreEvent};
use crate::validate;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
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
/// How often a consumer-group stream looks for leases that ran out.
const GROUP_POLL_INTERVAL: Duration = Duration::from_millis(500);
const BATCH: u32 = 200;
/// Cursors are stored as signed 64-bit integers.
const MAX_CURSOR: u64 = i64::MAX as u64;

/// What a platform asks `StreamDeliveries` for.
#[derive(Debug, Clone, Default)]
pub struct StreamRequest {
    pub after_cursor: u64,
    pub channel: Option<String>,
    /// Join this consumer group: each delivery goes to one of its streams at a time.
    pub group: Option<String>,
    /// With a group: the lease length asked for (0: the configured default).
    pub lease_seconds: u32,
}

pub struct Deliveries {
    store: DynStore,
    config: DeliveryConfig,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    validate::invalid(field, message).into()
}

fn check_cursor(field: &'static str, cursor: u64) -> Result<()> {
    Ok(validate::at_most(field, cursor, MAX_CURSOR)?)
}

fn valid_group(group: &str) -> bool {
    (1..=64).contains(&group.len())
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Deliveries {
    pub fn new(store: DynStore, config: DeliveryConfig) -> Deliveries {
        Deliveries { store, config }
    }

    /// Streams unacknowledged deliveries after `after_cursor` that `scope`
    /// may see, then new ones as they commit, until the receiver is dropped
    /// or on shutdown. In a consumer group, each delivery is leased to one
    /// stream of the group at a time (see [`crate::storage::DeliveryLease`]).
    pub fn stream(
        &self,
        request: StreamRequest,
        scope: Scope,
        shutdown: watch::Receiver<bool>,
    ) -> Result<mpsc::Receiver<Result<Delivery>>> {
        check_cursor("after_cursor", request.after_cursor)?;
        let request = StreamRequest {
            channel: request
                .channel
                .as_deref()
                .map(validate::channel)
                .transpose()?,
            ..request
        };
        let lease_seconds = match request.lease_seconds {
            0 => self.config.lease_seconds,
            n if n > self.config.max_lease_seconds => {
                return Err(invalid(
                    "lease_seconds",
                    format!(
                        "must be at most {} (delivery.max_lease_seconds)",
                        self.config.max_lease_seconds
                    ),
                ));
            }
            n => n,
        };
        let group = match request.group.as_deref() {
            None | Some("") => None,
            Some(g) if !valid_group(g) => {
                return Err(invalid(
                    "consumer_group",
                    "must be 1 to 64 characters of A-Z, a-z, 0-9, _ . and -",
                ));
            }
            // Platforms' groups are their own: two platforms naming a group
            // alike do not take each other's deliveries.
            Some(g) => Some(match &scope {
                Scope::Everything => g.to_string(),
                Scope::Platform(p) => format!("{p}/{g}"),
            }),
        };
        // Subscribe before the first read so nothing committed in between is missed.
        let events = self.store.subscribe();
        let (tx, rx) = mpsc::channel(64);
        let store = self.store.clone();
        match group {
            None => {
                tokio::spawn(follow(store, request, scope, events, tx, shutdown));
            }
            Some(group) => {
                let lease = DeliveryLease {
                    group,
                    holder: new_id(),
                    after_cursor: request.after_cursor,
                    channel: request.channel,
                    platform: match scope {
                        Scope::Everything => None,
                        Scope::Platform(p) => Some(p),
                    },
                    max_in_flight: self.config.max_in_flight,
                    now: 0,
                    until: 0,
                };
                let lease_ms = i64::from(lease_seconds) * 1000;
                tokio::spawn(follow_group(store, lease, lease_ms, events, tx, shutdown));
            }
        }
        Ok(rx)
    }

    /// Acknowledges a delivery: the draft becomes DELIVERED. Acknowledging
    /// again changes nothing and reports `false`.
    pub async fn ack(&self, cursor: u64, scope: &Scope) -> Result<(bool, Draft)> {
        if cursor == 0 {
            return Err(invalid(
                "cursor",
                "is required (a delivery's cursor, 1 or more)",
            ));
        }
        check_cursor("cursor", cursor)?;
        let delivery = self
            .store
            .get_delivery(cursor)
            .await?
            .filter(|d| scope.sees(&d.caller))
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

/// Every unacknowledged delivery after the cursor, then each new one.
async fn follow(
    store: DynStore,
    request: StreamRequest,
    scope: Scope,
    mut events: broadcast::Receiver<StoreEvent>,
    tx: mpsc::Sender<Result<Delivery>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut cursor = request.after_cursor;
    loop {
        let batch = match store
            .deliveries_after(cursor, request.channel.as_deref(), BATCH)
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
            if !scope.sees(&d.caller) {
                continue;
            }
            if tx.send(Ok(d)).await.is_err() {
                return;
            }
        }
        if full {
            continue;
        }
        // Wait for a new delivery, or poll as a safety net.
        let woke = wait(&mut events, POLL_INTERVAL, &tx, &mut shutdown, |e| {
            matches!(e, StoreEvent::DeliveryCreated { .. })
        })
        .await;
        if !woke {
            return;
        }
    }
}

/// Deliveries leased to this stream as the group frees them: new ones,
/// ones whose lease ran out elsewhere, more as this stream acks.
async fn follow_group(
    store: DynStore,
    mut lease: DeliveryLease,
    lease_ms: i64,
    mut events: broadcast::Receiver<StoreEvent>,
    tx: mpsc::Sender<Result<Delivery>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        lease.now = now_ms();
        lease.until = lease.now + lease_ms;
        let batch = match store.lease_deliveries(&lease).await {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        };
        let got = batch.len();
        for d in batch {
            if tx.send(Ok(d)).await.is_err() {
                return;
            }
        }
        if got > 0 {
            continue;
        }
        let woke = wait(&mut events, GROUP_POLL_INTERVAL, &tx, &mut shutdown, |e| {
            matches!(
                e,
                StoreEvent::DeliveryCreated { .. } | StoreEvent::DeliveryAcked { .. }
            )
        })
        .await;
        if !woke {
            return;
        }
    }
}

/// Waits for an event `wakes` accepts (or a resync), or `poll`; false when
/// the stream should end.
async fn wait(
    events: &mut broadcast::Receiver<StoreEvent>,
    poll: Duration,
    tx: &mpsc::Sender<Result<Delivery>>,
    shutdown: &mut watch::Receiver<bool>,
    wakes: impl Fn(&StoreEvent) -> bool,
) -> bool {
    let deadline = tokio::time::sleep(poll);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Ok(e) if wakes(&e) => return true,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Closed) => return false,
            },
            _ = &mut deadline => return true,
            _ = tx.closed() => return false,
            _ = shutdown.changed() => return false,
        }
    }
}
