//! Agents' review of drafts that were not confident enough: the queue,
//! claims with leases, approve / edit / reject / replace, release, and a
//! live view of the queue. Rules are in `transitions`; each decision is
//! applied by the store only if the draft did not change since it was read,
//! so the database (not this process) decides races.

mod agent_label;
pub mod reason_code;
pub mod transitions;
pub use reason_code::ReasonCode;

use crate::config::Config;
use crate::conversation::{Act, Ownership};
use crate::drafting::memory::{Decision, Memory};
use crate::model::{AuditEvent, Draft, DraftState, Millis, now_ms};
use crate::storage::{self, ConversationChange, DraftChange, DynStore, PendingFilter, StoreEvent};
use crate::validate;
use agent_label::{AgentLabels, MAX_AGENT_LABELS};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use transitions::Transition;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    #[error("draft {0} not found")]
    NotFound(String),
    #[error("draft is claimed by {holder} until {expires_at} (unix ms)")]
    ClaimedByOther { holder: String, expires_at: Millis },
    #[error("cannot {action} a draft in state {}", .state.as_str())]
    IllegalState {
        action: &'static str,
        state: DraftState,
    },
    #[error("the draft kept changing; try again")]
    Contended,
    #[error("conversation {0} not found")]
    ConversationNotFound(String),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an agent's act on a conversation left.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub ownership: Ownership,
    /// Undecided drafts it closed.
    pub closed: Vec<String>,
}

static DECISIONS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_review_actions_total",
        "Review actions by kind (claim, release, approve, edit, reject, replace) and agent (agents past a bound count as \"other\")",
        &["action", "agent"]
    )
    .unwrap()
});
/// The agents with a series of their own in `DECISIONS`.
static AGENT_LABELS: LazyLock<AgentLabels> = LazyLock::new(|| AgentLabels::new(MAX_AGENT_LABELS));
static CREATE_TO_DECISION: LazyLock<prometheus::Histogram> = LazyLock::new(|| {
    prometheus::register_histogram!(
        "replygate_review_decision_seconds",
        "Time from a draft's creation to an agent's decision",
        vec![
            1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0
        ]
    )
    .unwrap()
});
static CLAIM_TO_DECISION: LazyLock<prometheus::Histogram> = LazyLock::new(|| {
    prometheus::register_histogram!(
        "replygate_review_claim_to_decision_seconds",
        "Time from an agent's claim (or its last renewal) to that agent's decision",
        vec![
            1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0
        ]
    )
    .unwrap()
});

static WINDOW_MISSED: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_replies_after_window_total",
        "Replies decided after their channel's customer-service window closed (sent as the channel's template), by channel",
        &["channel"]
    )
    .unwrap()
});
static RESPONSE_TARGET_BREACHED: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_response_target_breached_total",
        "Drafts decided after their respond_by (the channel's window or first-response target), by channel",
        &["channel"]
    )
    .unwrap()
});

static QUEUE_DEPTH: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "replygate_review_queue_depth",
        "Drafts waiting for an agent"
    )
    .unwrap()
});
static OLDEST_PENDING: LazyLock<prometheus::Gauge> = LazyLock::new(|| {
    prometheus::register_gauge!(
        "replygate_review_oldest_pending_seconds",
        "Age of the oldest draft waiting for an agent"
    )
    .unwrap()
});

static LIVE_ARTICLES: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!("replygate_knowledge_articles", "Live help-center articles")
        .unwrap()
});

/// How a draft relates to the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEventKind {
    Snapshot,
    Added,
    Claimed,
    Removed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueEvent {
    pub kind: QueueEventKind,
    pub draft: Draft,
}

#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub channel: Option<String>,
    pub locale: Option<String>,
}

impl QueueFilter {
    /// The filter a request names, where an empty channel or locale means any.
    pub fn of(channel: &str, locale: &str) -> QueueFilter {
        let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
        QueueFilter {
            channel: given(channel),
            locale: given(locale),
        }
    }

    /// The filter with its channel named as drafts store it (the channel rule).
    fn checked(&self) -> Result<QueueFilter> {
        Ok(QueueFilter {
            channel: self.channel.as_deref().map(validate::channel).transpose()?,
            locale: self.locale.clone(),
        })
    }

    fn matches(&self, d: &Draft) -> bool {
        self.channel.as_ref().is_none_or(|c| *c == d.channel)
            && self.locale.as_ref().is_none_or(|l| *l == d.locale)
    }
}

pub struct Review {
    store: DynStore,
    config: Arc<Config>,
    /// Learns from every decision that leaves a reply.
    memory: Arc<Memory>,
}

/// Attempts at a compare-and-swap before giving up on a hot draft.
const MAX_ATTEMPTS: usize = 5;

impl Review {
    pub fn new(store: DynStore, config: Arc<Config>, memory: Arc<Memory>) -> Review {
        Review {
            store,
            config,
            memory,
        }
    }

    fn check_draft_id(&self, id: &str) -> Result<()> {
        Ok(validate::id(
            "draft_id",
            id,
            self.config.limits.max_id_chars,
            true,
        )?)
    }

    /// Agents' text follows the rules of customers' text.
    fn check_text(&self, field: &'static str, text: &str, max: usize) -> Result<()> {
        Ok(validate::prose(field, text, max, true)?)
    }

    /// Reads the draft, computes the transition and applies it (with what a
    /// `decision` teaches the answer memory), retrying when another writer
    /// changed the draft in between.
    async fn decide(
        &self,
        id: &str,
        action: &str,
        agent: &str,
        decision: Option<Decision>,
        f: impl Fn(&Draft, Millis) -> Result<Transition>,
    ) -> Result<Draft> {
        // Claiming or deciding a draft makes the agent the conversation's
        // owner (refused when another agent owns it); releasing it leaves
        // the conversation waiting for a person again.
        let conversation = Some(if action == "release" {
            Act::Release {
                agent: agent.to_string(),
            }
        } else {
            Act::Review {
                agent: agent.to_string(),
            }
        });
        self.check_draft_id(id)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .store
                .get_draft(id)
                .await?
                .ok_or_else(|| Error::NotFound(id.to_string()))?;
            let now = now_ms();
            let t = f(&current, now)?;
            let memory = match decision {
                Some(decision) => {
                    self.memory
                        .lessons(&current, &t.draft, decision, agent, now)
                        .await
                }
                None => Vec::new(),
            };
            let touched = self.memory.touched(&memory);
            let late = t.delivery.as_ref().is_some_and(|d| d.template.is_some());
            let change = DraftChange {
                expected_revision: current.revision,
                draft: t.draft,
                events: t.events,
                delivery: t.delivery,
                memory,
                conversation: conversation.clone(),
            };
            match self.store.apply_draft_change(change).await {
                Ok(draft) => {
                    // This replica's memory sees the lesson before the next
                    // question; the other replicas' on the store's event.
                    for id in &touched {
                        if let Err(e) = self.memory.refresh(id).await {
                            tracing::warn!(error = %e, "answer memory not refreshed after a decision");
                        }
                    }
                    DECISIONS
                        .with_label_values(&[action, AGENT_LABELS.label(agent)])
                        .inc();
                    if matches!(draft.state, DraftState::Approved | DraftState::Rejected) {
                        if draft.respond_by.is_some_and(|by| now > by) {
                            RESPONSE_TARGET_BREACHED
                                .with_label_values(&[draft.channel.as_str()])
                                .inc();
                        }
                        if late {
                            WINDOW_MISSED
                                .with_label_values(&[draft.channel.as_str()])
                                .inc();
                        }
                        let seconds = |since: Millis| ((now - since).max(0) as f64) / 1000.0;
                        CREATE_TO_DECISION.observe(seconds(draft.created_at));
                        // A claimed draft changes only by its claim (or a renewal) until decided.
                        if current.state == DraftState::Claimed && current.claimed_by == agent {
                            CLAIM_TO_DECISION.observe(seconds(current.updated_at));
                        }
                    }
                    tracing::info!(draft_id = %draft.id, agent, action, state = draft.state.as_str(), "review action");
                    return Ok(draft);
                }
                Err(storage::Error::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended)
    }

    pub async fn claim(&self, id: &str, agent: &str, lease_seconds: u32) -> Result<Draft> {
        let r = &self.config.review;
        validate::at_most(
            "lease_seconds",
            u64::from(lease_seconds),
            u64::from(r.max_lease_seconds),
        )?;
        let lease = if lease_seconds == 0 {
            r.lease_seconds
        } else {
            lease_seconds
        };
        self.decide(id, "claim", agent, None, |d, now| {
            transitions::claim(d, agent, i64::from(lease) * 1000, now)
        })
        .await
    }

    pub async fn release(&self, id: &str, agent: &str) -> Result<Draft> {
        self.decide(id, "release", agent, None, |d, now| {
            transitions::release(d, agent, now)
        })
        .await
    }

    pub async fn approve(&self, id: &str, agent: &str, edited_body: Option<&str>) -> Result<Draft> {
        if let Some(text) = edited_body {
            self.check_text("edited_body", text, self.config.limits.max_reply_bytes)?;
        }
        let action = if edited_body.is_some() {
            "edit"
        } else {
            "approve"
        };
        let decision = match edited_body {
            Some(_) => Decision::Edited,
            None => Decision::Approved,
        };
        let labeling = self.sending(id).await?;
        self.decide(id, action, agent, Some(decision), |d, now| {
            transitions::approve(d, agent, edited_body, &labeling, now)
        })
        .await
    }

    /// How a reply to draft `id` goes out now: labeled as its channel's
    /// policy says, as its template when the channel's window closed.
    async fn sending(&self, id: &str) -> Result<crate::model::Labeling> {
        self.check_draft_id(id)?;
        // The conversation and channel of a draft never change: read once.
        let draft = self
            .store
            .get_draft(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(crate::drafting::sending(
            &self.config,
            &*self.store,
            &draft.conversation_id,
            &draft.channel,
            now_ms(),
        )
        .await?)
    }

    pub async fn reject(
        &self,
        id: &str,
        agent: &str,
        reason: &str,
        replacement: Option<&str>,
    ) -> Result<Draft> {
        self.check_text("reason", reason, self.config.limits.max_reason_bytes)?;
        if let Some(text) = replacement {
            self.check_text("replacement_body", text, self.config.limits.max_reply_bytes)?;
        }
        let action = if replacement.is_some() {
            "replace"
        } else {
            "reject"
        };
        let decision = Decision::Rejected {
            replaced: replacement.is_some(),
        };
        let labeling = self.sending(id).await?;
        self.decide(id, action, agent, Some(decision), |d, now| {
            transitions::reject(d, agent, reason.trim(), replacement, &labeling, now)
        })
        .await
    }

    pub async fn list_pending(&self, filter: &QueueFilter, limit: u32) -> Result<Vec<Draft>> {
        let max = self.config.limits.max_page_size;
        validate::at_most("limit", u64::from(limit), u64::from(max))?;
        let filter = filter.checked()?;
        let f = PendingFilter {
            channel: filter.channel,
            locale: filter.locale.clone(),
            limit: if limit == 0 { max } else { limit },
        };
        Ok(self.store.list_open_drafts(&f, now_ms()).await?)
    }

    /// Updates the queue gauges (depth, oldest pending age) and the live-article count from the store.
    pub async fn refresh_gauges(&self) -> Result<()> {
        let now = now_ms();
        let g = self.store.gauges(now).await?;
        QUEUE_DEPTH.set(g.queue_depth as i64);
        OLDEST_PENDING.set(
            g.oldest_pending
                .map(|t| ((now - t).max(0) as f64) / 1000.0)
                .unwrap_or(0.0),
        );
        LIVE_ARTICLES.set(g.live_articles as i64);
        Ok(())
    }

    /// An agent takes the conversation over: they own it (its new
    /// messages become drafts for them) until they hand it back or resolve it.
    pub async fn take_over(&self, conversation_id: &str, agent: &str) -> Result<Changed> {
        self.act_on_conversation(
            conversation_id,
            "take_over",
            Act::TakeOver {
                agent: agent.to_string(),
            },
        )
        .await
    }

    /// A supervisor gives the conversation to `agent`, whoever owns it (an
    /// owner who left, a conversation stuck with them); the caller checks
    /// the supervisor's right to.
    pub async fn reassign(
        &self,
        conversation_id: &str,
        agent: &str,
        supervisor: &str,
    ) -> Result<Changed> {
        validate::id("reassign_to", agent, self.config.limits.max_id_chars, true)?;
        self.act_on_conversation(
            conversation_id,
            "reassign",
            Act::Reassign {
                agent: agent.to_string(),
                by: supervisor.to_string(),
            },
        )
        .await
    }

    /// The owner (or, while it waits for a person, any agent) gives the
    /// conversation back to the AI: RESOLVED, its undecided drafts closed,
    /// and the next customer message answered by the AI again.
    pub async fn hand_back(&self, conversation_id: &str, agent: &str) -> Result<Changed> {
        self.act_on_conversation(
            conversation_id,
            "hand_back",
            Act::HandBack {
                agent: agent.to_string(),
            },
        )
        .await
    }

    /// Like [`Review::hand_back`], recorded as resolved (the customer's
    /// matter is settled).
    pub async fn resolve(&self, conversation_id: &str, agent: &str) -> Result<Changed> {
        self.act_on_conversation(
            conversation_id,
            "resolve",
            Act::Resolve {
                agent: agent.to_string(),
            },
        )
        .await
    }

    async fn act_on_conversation(
        &self,
        conversation_id: &str,
        action: &'static str,
        act: Act,
    ) -> Result<Changed> {
        validate::id(
            "conversation_id",
            conversation_id,
            self.config.limits.max_id_chars,
            true,
        )?;
        let agent = match &act {
            Act::Reassign { by, .. } => by.clone(),
            Act::TakeOver { agent } | Act::HandBack { agent } | Act::Resolve { agent } => {
                agent.clone()
            }
            Act::Review { agent } | Act::Release { agent } => agent.clone(),
            Act::Message { .. } => String::new(),
        };
        let now = now_ms();
        let closed_event = AuditEvent {
            seq: 0,
            at: now,
            kind: "draft_superseded".into(),
            actor: agent.clone(),
            conversation_id: conversation_id.to_string(),
            draft_id: String::new(),
            detail: serde_json::json!({ "by": action }),
            chain: Default::default(),
        };
        let changed = self
            .store
            .change_conversation(ConversationChange {
                conversation_id: conversation_id.to_string(),
                act,
                now,
                close: crate::drafting::record::closing(closed_event),
            })
            .await
            .map_err(|e| match e {
                storage::Error::NotFound(_) => {
                    Error::ConversationNotFound(conversation_id.to_string())
                }
                e @ (storage::Error::Conflict
                | storage::Error::Duplicate(_)
                | storage::Error::Unavailable(_)
                | storage::Error::Internal(_)
                | storage::Error::Corrupt(_)
                | storage::Error::OtherPlatform(_)
                | storage::Error::Refused(_)) => e.into(),
            })?;
        if changed.changed {
            DECISIONS
                .with_label_values(&[action, AGENT_LABELS.label(&agent)])
                .inc();
            tracing::info!(
                agent,
                action,
                state = changed.ownership.state.as_str(),
                closed = changed.closed.len(),
                "conversation action"
            );
        }
        Ok(Changed {
            ownership: changed.ownership,
            closed: changed.closed,
        })
    }

    /// Returns expired claims to the queue; returns how many.
    pub async fn sweep_expired_claims(&self) -> Result<usize> {
        let expired = self.store.list_expired_claims(now_ms(), 100).await?;
        let mut n = 0;
        for d in expired {
            let Some(t) = transitions::expire(&d, now_ms()) else {
                continue;
            };
            let change = DraftChange {
                expected_revision: d.revision,
                draft: t.draft,
                events: t.events,
                delivery: None,
                memory: Vec::new(),
                // A lapsed claim is a release: another agent may take the conversation.
                conversation: Some(Act::Release {
                    agent: d.claimed_by.clone(),
                }),
            };
            match self.store.apply_draft_change(change).await {
                Ok(_) => n += 1,
                Err(storage::Error::Conflict) => {} // someone acted on it meanwhile
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    /// Runs the expiry sweep until `shutdown` turns true.
    pub async fn run_sweeper(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.config.review.sweep_interval_ms.max(50),
        ));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.sweep_expired_claims().await {
                        tracing::warn!(error = %e, "claim sweep failed");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// The queue as it changes: first a snapshot of the open drafts, then
    /// one event per change. Ends when the receiver is dropped or on shutdown.
    pub async fn watch(
        &self,
        filter: QueueFilter,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<mpsc::Receiver<Result<QueueEvent>>> {
        let filter = filter.checked()?;
        let mut events = self.store.subscribe();
        let snapshot = self.list_pending(&filter, 0).await?;
        let (tx, rx) = mpsc::channel(64);
        let store = self.store.clone();
        let review = Review {
            store: self.store.clone(),
            config: self.config.clone(),
            memory: self.memory.clone(),
        };
        tokio::spawn(async move {
            for draft in snapshot {
                let kind = if draft.claim_is_live(now_ms()) {
                    QueueEventKind::Claimed
                } else {
                    QueueEventKind::Snapshot
                };
                if tx.send(Ok(QueueEvent { kind, draft })).await.is_err() {
                    return;
                }
            }
            loop {
                let event = tokio::select! {
                    e = events.recv() => e,
                    _ = tx.closed() => return,
                    _ = shutdown.changed() => return,
                };
                let draft_id = match event {
                    Ok(StoreEvent::QueueChanged { draft_id }) => draft_id,
                    // Changes may have been missed: send the open drafts again.
                    Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        let open = match review.list_pending(&filter, 0).await {
                            Ok(open) => open,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        for draft in open {
                            let kind = if draft.claim_is_live(now_ms()) {
                                QueueEventKind::Claimed
                            } else {
                                QueueEventKind::Snapshot
                            };
                            if tx.send(Ok(QueueEvent { kind, draft })).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let draft = match store.get_draft(&draft_id).await {
                    Ok(Some(d)) => d,
                    Ok(None) => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                if !filter.matches(&draft) {
                    continue;
                }
                let now = now_ms();
                let kind = if draft.claim_is_live(now) {
                    QueueEventKind::Claimed
                } else if draft.is_open_for_review(now) {
                    QueueEventKind::Added
                } else if draft.state == DraftState::AutoApproved {
                    continue; // never was in the queue
                } else {
                    QueueEventKind::Removed
                };
                if tx.send(Ok(QueueEvent { kind, draft })).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
