//! What drafting counts for `/metrics`.

use crate::model::{Draft, DraftState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static DRAFTS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_drafts_total",
        "Drafts created, by channel, locale, confidence level, initial state and generator",
        &["channel", "locale", "level", "state", "generator"]
    )
    .unwrap()
});

static FALLBACKS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_llm_fallbacks_total",
        "Drafts written by the extractive drafter because the LLM failed, by reason",
        &["reason"]
    )
    .unwrap()
});

static AUTO_SEND_RATIO: LazyLock<prometheus::Gauge> = LazyLock::new(|| {
    prometheus::register_gauge!(
        "replygate_auto_send_ratio",
        "Share of drafts auto-approved since this process started"
    )
    .unwrap()
});
/// CPU time of each stage that runs on an async worker (or, moved off, on
/// a blocking thread), against the 500 µs a worker may be held.
static STAGE_SECONDS: LazyLock<prometheus::HistogramVec> = LazyLock::new(|| {
    prometheus::register_histogram_vec!(
        "replygate_draft_stage_seconds",
        "Time of one drafting stage (I/O-free stages only), by stage",
        &["stage"],
        vec![
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05
        ]
    )
    .unwrap()
});

/// Times `f` as `stage`.
pub fn stage<T>(stage: &'static str, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    STAGE_SECONDS
        .with_label_values(&[stage])
        .observe(started.elapsed().as_secs_f64());
    out
}

static DRAFTED: AtomicU64 = AtomicU64::new(0);
static AUTO_SENT: AtomicU64 = AtomicU64::new(0);

/// A draft stored for the first time.
pub fn created(d: &Draft) {
    let auto = d.state == DraftState::AutoApproved;
    let total = DRAFTED.fetch_add(1, Relaxed) + 1;
    let sent = if auto {
        AUTO_SENT.fetch_add(1, Relaxed) + 1
    } else {
        AUTO_SENT.load(Relaxed)
    };
    AUTO_SEND_RATIO.set(sent as f64 / total as f64);
    DRAFTS
        .with_label_values(&[
            d.channel.as_str(),
            d.locale.as_str(),
            d.confidence.level.as_str(),
            d.state.as_str(),
            d.generator.as_str(),
        ])
        .inc();
}

/// The extractive drafter wrote a draft because the model failed (`kind`).
pub fn llm_fell_back(kind: &'static str) {
    FALLBACKS.with_label_values(&[kind]).inc();
}

static ESCALATIONS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_conversations_escalated_total",
        "Conversations sent to a person by a customer message, by cause (each sent one handoff notice)",
        &["cause"]
    )
    .unwrap()
});
static AUTO_SENT_WITH_A_PERSON: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    prometheus::register_int_counter!(
        "replygate_ai_auto_sent_in_person_owned_conversations_total",
        "AI replies sent without review in a conversation that was escalated or owned by an agent: must stay 0"
    )
    .unwrap()
});

/// What a new message did to its conversation: an escalation (with the
/// notice it sent), and the tripwire for an AI reply sent while a person
/// answers the conversation.
pub fn conversation(
    draft: &Draft,
    after: &crate::conversation::Ownership,
    notice: Option<&Draft>,
    cause: Option<crate::conversation::Cause>,
) {
    if notice.is_some() {
        let cause = cause.map_or("repeated_low_confidence", |c| c.as_str());
        ESCALATIONS.with_label_values(&[cause]).inc();
    }
    // Touched so the series exists (at 0) from the first draft on.
    let tripwire = &*AUTO_SENT_WITH_A_PERSON;
    if draft.state == DraftState::AutoApproved && after.state.with_a_person() {
        tripwire.inc();
        tracing::error!(draft_id = %draft.id, state = after.state.as_str(), "an AI reply was sent without review in a conversation a person answers");
    }
}
