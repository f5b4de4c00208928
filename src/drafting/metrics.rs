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
