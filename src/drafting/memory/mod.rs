//! The answer memory: replies agents approved, filed with the questions they
//! answered, and reused when a customer asks the same thing again.
//!
//! - **Learning** (`learn.rs`): every decision that leaves a reply (approve,
//!   approve with an edit, reject with a replacement) files it as a curated
//!   answer with the customer's question (personal data masked) and the
//!   article versions it rests on, in the decision's own transaction. One
//!   answer gathers every question and every agent it was approved for.
//! - **Recall** ([`Memory::recall`]): a question close to a curated one
//!   (semantically with an embedder, else by its analyzed terms), in the
//!   same language, is answered from it. An answer is left out while an
//!   article it rests on is not at the version it was approved on (until an
//!   agent approves it again), once an agent rejected a draft made from it,
//!   and when an editor disabled it.
//!
//! The curated answers live in the store; this process keeps each one's
//! question vectors (or terms) in memory, refreshed on the store's
//! `MemoryChanged` events (other replicas' included) and re-read in full on
//! a resync and every minute.

mod learn;
mod manage;

pub use learn::{Decision, sources_of};
pub use manage::{Error, Listed};

use crate::embedding::{Embedder, Side};
use crate::knowledge::{Knowledge, dense, lang};
use crate::model::{CuratedAnswer, CuratedState};
use crate::storage::{self, DynStore, MemoryWrite, StoreEvent};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The generator name of drafts made from a curated answer.
pub const GENERATOR: &str = "memory";

static CURATED: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "replygate_memory_answers",
        "Curated answers in the answer memory that drafting may use (active, their articles unchanged)"
    )
    .unwrap()
});

static RECALLS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_memory_recalls_total",
        "Questions looked up in the answer memory, by outcome (answered, none)",
        &["outcome"]
    )
    .unwrap()
});

/// How often every curated answer is re-read, in case an event was lost.
const RELOAD_EVERY: Duration = Duration::from_secs(60);
/// Curated answers read per page.
const PAGE: u32 = 500;

/// Questions that have nothing to do with one another, in the languages
/// drafting knows: under a given model, their typical cosine is what
/// "unrelated" means, so similarities read alike across models.
const UNRELATED: &[&str] = &[
    "How do I change my phone number?",
    "What time does the store open on Sunday?",
    "My payment was charged twice",
    "Can I send a video longer than five minutes?",
    "Como faço backup das conversas?",
    "Qual é a previsão do tempo para amanhã?",
    "Esqueci meu PIN de verificação",
    "Come blocco un contatto?",
    "Quanto costa la spedizione in Italia?",
    "Il mio telefono non riceve il codice SMS",
    "Where do I see who read my message in a group?",
    "I want to delete my account forever",
];

/// A curated answer as recall reads it.
struct Entry {
    answer: Arc<CuratedAnswer>,
    /// [`crate::model::reply_key`] of its reply.
    reply_key: String,
    /// Per question: its vector (with an embedder) and its distinct terms, sorted.
    vectors: Vec<Vec<f32>>,
    terms: Vec<Vec<String>>,
}

/// A curated answer close enough to answer a question.
#[derive(Debug, Clone)]
pub struct Recall {
    pub answer: Arc<CuratedAnswer>,
    /// How close the question is to the closest of the answer's questions, 0..1.
    pub similarity: f64,
    /// The similarity was semantic (an embedder's), not lexical.
    pub semantic: bool,
    /// Distinct agents behind this answer and any other close answer that
    /// rests on the same article (independent approvals that agree).
    pub agreeing_agents: usize,
    /// Close answers that rest on another article (disagreement).
    pub disagreeing: usize,
}

pub struct Memory {
    store: DynStore,
    knowledge: Arc<Knowledge>,
    embedder: Option<Arc<dyn Embedder>>,
    /// The cosine of unrelated questions under the embedder.
    baseline: f32,
    config: crate::config::MemoryConfig,
    limits: crate::config::Limits,
    entries: Arc<RwLock<HashMap<String, Entry>>>,
}

/// Distinct analyzed terms of `text` in the language of `locale`, sorted.
fn question_terms(text: &str, locale: &str) -> Vec<String> {
    let stripped = super::pii::strip_placeholders(text);
    let set: BTreeSet<String> = lang::analyze(lang::analyzer_key(locale), &stripped)
        .into_iter()
        .collect();
    set.into_iter().collect()
}

/// F1 of two sorted term sets.
fn term_overlap(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.iter().filter(|t| b.binary_search(t).is_ok()).count() as f64;
    2.0 * shared / (a.len() + b.len()) as f64
}

/// The key a curated question's vector is stored under (beside passages',
/// in the same table): questions are embedded on the query side.
fn question_key(text: &str) -> String {
    dense::content_hash(&format!("query\n{text}"))
}

impl Memory {
    /// Reads every curated answer and makes its questions' vectors (stored
    /// ones are reused); with an embedder, first measures what unrelated
    /// questions look like to it.
    pub async fn open(
        store: DynStore,
        knowledge: Arc<Knowledge>,
        config: &crate::config::Config,
    ) -> storage::Result<Memory> {
        let embedder = knowledge.embedder();
        let baseline = match &embedder {
            Some(e) => baseline_of(e.as_ref()).await,
            None => 0.0,
        };
        let memory = Memory {
            store,
            knowledge,
            embedder,
            baseline,
            config: config.memory.clone(),
            limits: config.limits.clone(),
            entries: Arc::new(RwLock::new(HashMap::new())),
        };
        memory.reload().await?;
        Ok(memory)
    }

    /// Re-reads every curated answer, keeping the entries of those that did not change.
    pub async fn reload(&self) -> storage::Result<()> {
        let mut after = String::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self.store.curated_answers(None, &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let full = page.len() < PAGE as usize;
            for a in page {
                seen.insert(a.id.clone());
                let unchanged = self
                    .entries
                    .read()
                    .expect("memory poisoned")
                    .get(&a.id)
                    .is_some_and(|e| e.answer.revision == a.revision);
                if !unchanged {
                    self.put(a).await?;
                }
            }
            if full {
                break;
            }
        }
        self.entries
            .write()
            .expect("memory poisoned")
            .retain(|id, _| seen.contains(id));
        self.count();
        Ok(())
    }

    /// Re-reads one curated answer (written or deleted, by any replica).
    pub async fn refresh(&self, id: &str) -> storage::Result<()> {
        match self.store.curated_answer(id).await? {
            Some(a) => self.put(a).await?,
            None => {
                self.entries.write().expect("memory poisoned").remove(id);
            }
        }
        self.count();
        Ok(())
    }

    /// The curated answers `writes` change once written: those they name,
    /// and the one a `Learn` joins (the active answer with its reply).
    pub fn touched(&self, writes: &[MemoryWrite]) -> Vec<String> {
        let entries = self.entries.read().expect("memory poisoned");
        let mut ids = Vec::new();
        for w in writes {
            match w {
                MemoryWrite::Learn { answer, .. } => {
                    ids.push(answer.id.clone());
                    let key = crate::model::reply_key(&answer.reply);
                    ids.extend(
                        entries
                            .values()
                            .filter(|e| {
                                e.answer.locale == answer.locale
                                    && e.answer.state == CuratedState::Active
                                    && e.reply_key == key
                            })
                            .map(|e| e.answer.id.clone()),
                    );
                }
                MemoryWrite::Reject { answer_id } | MemoryWrite::Supersede { answer_id } => {
                    ids.push(answer_id.clone())
                }
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }

    fn count(&self) {
        let usable = self
            .entries
            .read()
            .expect("memory poisoned")
            .values()
            .filter(|e| self.usable(&e.answer))
            .count();
        CURATED.set(usable as i64);
    }

    /// Makes the entry of `answer`: its questions' terms, and their vectors
    /// (read from the store, or embedded and stored).
    async fn put(&self, answer: CuratedAnswer) -> storage::Result<()> {
        let terms = answer
            .questions
            .iter()
            .map(|q| question_terms(&q.text, &answer.locale))
            .collect();
        let vectors = match &self.embedder {
            Some(e) => self.question_vectors(e.as_ref(), &answer).await?,
            None => Vec::new(),
        };
        let id = answer.id.clone();
        let entry = Entry {
            reply_key: crate::model::reply_key(&answer.reply),
            answer: Arc::new(answer),
            vectors,
            terms,
        };
        self.entries
            .write()
            .expect("memory poisoned")
            .insert(id, entry);
        Ok(())
    }

    async fn question_vectors(
        &self,
        embedder: &dyn Embedder,
        answer: &CuratedAnswer,
    ) -> storage::Result<Vec<Vec<f32>>> {
        let keys: Vec<String> = answer
            .questions
            .iter()
            .map(|q| question_key(&q.text))
            .collect();
        let mut known: HashMap<String, Vec<f32>> = self
            .store
            .vectors(embedder.id(), &keys)
            .await?
            .into_iter()
            .collect();
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !known.contains_key(&keys[i]))
            .collect();
        if !missing.is_empty() {
            let texts: Vec<String> = missing
                .iter()
                .map(|&i| super::pii::strip_placeholders(&answer.questions[i].text))
                .collect();
            match embedder.embed(Side::Query, &texts).await {
                Ok(vectors) => {
                    let rows: Vec<(String, Vec<f32>)> = missing
                        .iter()
                        .map(|&i| keys[i].clone())
                        .zip(vectors)
                        .collect();
                    self.store
                        .put_vectors(embedder.id(), rows.clone(), crate::model::now_ms())
                        .await?;
                    known.extend(rows);
                }
                // Recall then matches this answer's questions by their terms.
                Err(e) => tracing::warn!(error = %e, "curated questions not embedded"),
            }
        }
        Ok(keys
            .iter()
            .map(|k| known.get(k).cloned().unwrap_or_default())
            .collect())
    }

    /// Whether drafting may use the answer now: active, and every article it
    /// rests on still at the version it was approved on.
    pub fn usable(&self, a: &CuratedAnswer) -> bool {
        a.state == CuratedState::Active && self.is_current(a)
    }

    /// Every article the answer rests on is live at the version it was approved on.
    pub fn is_current(&self, a: &CuratedAnswer) -> bool {
        a.sources
            .iter()
            .all(|s| self.knowledge.live_version(&s.article_id) == Some(s.version))
    }

    /// The usable curated answer of `locale` closest to the question, if one
    /// is close enough; `vector` is the question's (None: by terms).
    pub fn recall(&self, query: &str, vector: Option<&[f32]>, locale: &str) -> Option<Recall> {
        if !self.config.enabled {
            return None;
        }
        let semantic = vector.is_some_and(|v| !v.is_empty());
        let threshold = match semantic {
            true => self.config.min_similarity,
            false => self.config.min_term_overlap,
        };
        let found = self.closest(query, vector, locale, threshold);
        RECALLS
            .with_label_values(&[if found.is_some() { "answered" } else { "none" }])
            .inc();
        found
    }

    /// The usable curated answer closest to the question however far it is
    /// (for evaluation: how close the memory came).
    pub fn nearest(&self, query: &str, vector: Option<&[f32]>, locale: &str) -> Option<Recall> {
        self.closest(query, vector, locale, 0.0)
    }

    fn closest(
        &self,
        query: &str,
        vector: Option<&[f32]>,
        locale: &str,
        threshold: f64,
    ) -> Option<Recall> {
        let terms = question_terms(query, locale);
        let semantic = vector.is_some_and(|v| !v.is_empty());
        let baseline = f64::from(self.baseline);
        let entries = self.entries.read().expect("memory poisoned");
        // Every usable answer of the locale that is close enough, with its similarity.
        let mut close: Vec<(&Entry, f64)> = entries
            .values()
            .filter(|e| e.answer.locale == locale && self.usable(&e.answer))
            .filter_map(|e| {
                let by_terms = || e.terms.iter().map(|t| term_overlap(&terms, t));
                let best = match vector {
                    Some(v) if semantic && e.vectors.iter().any(|q| !q.is_empty()) => e
                        .vectors
                        .iter()
                        .filter(|q| q.len() == v.len())
                        .map(|q| {
                            let cos = f64::from(crate::embedding::dot(v, q));
                            ((cos - baseline) / (1.0 - baseline)).clamp(0.0, 1.0)
                        })
                        .fold(0.0, f64::max),
                    _ => by_terms().fold(0.0, f64::max),
                };
                (best >= threshold).then_some((e, best))
            })
            .collect();
        close.sort_by(|(a, x), (b, y)| {
            y.total_cmp(x)
                .then_with(|| b.answer.approved_by.len().cmp(&a.answer.approved_by.len()))
                .then_with(|| b.answer.updated_at.cmp(&a.answer.updated_at))
        });
        let &(best, similarity) = close.first()?;
        // Two answers agree when they are the same reply, or rest on the same
        // article; replies in the agents' own words (resting on no article)
        // agree only with themselves.
        let rests_on = |a: &CuratedAnswer| a.sources.first().map(|s| s.article_id.clone());
        let agree = |e: &Entry| {
            e.reply_key == best.reply_key
                || rests_on(&best.answer).is_some_and(|a| rests_on(&e.answer) == Some(a))
        };
        let mut agents: BTreeSet<&str> = BTreeSet::new();
        let mut disagreeing = 0;
        for (e, _) in &close {
            if agree(e) {
                agents.extend(e.answer.approved_by.iter().map(String::as_str));
            } else {
                disagreeing += 1;
            }
        }
        Some(Recall {
            answer: best.answer.clone(),
            similarity,
            semantic,
            agreeing_agents: agents.len(),
            disagreeing,
        })
    }

    /// Follows the store's events until `shutdown`: one answer re-read on
    /// `MemoryChanged`, all of them on a resync and every minute.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut events = self.store.subscribe();
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.tick().await;
        loop {
            let result = tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => self.reload().await,
                event = events.recv() => match event {
                    Ok(StoreEvent::MemoryChanged { id }) => self.refresh(&id).await,
                    Ok(StoreEvent::ArticleChanged { .. }) => {
                        // Answers resting on it may have become stale.
                        self.count();
                        Ok(())
                    }
                    Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.reload().await
                    }
                    Ok(StoreEvent::DeliveryCreated { .. }
                        | StoreEvent::DeliveryAcked { .. }
                        | StoreEvent::QueueChanged { .. }) => Ok(()),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "answer memory not refreshed; trying again on the next change");
            }
        }
    }
}

/// The mean cosine between the unrelated questions under `embedder` (0 when
/// it cannot embed them: similarities are then raw cosines).
async fn baseline_of(embedder: &dyn Embedder) -> f32 {
    let texts: Vec<String> = UNRELATED.iter().map(|t| t.to_string()).collect();
    let vectors = match embedder.embed(Side::Query, &texts).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "could not calibrate the answer memory");
            return 0.0;
        }
    };
    let mut sum = 0.0;
    let mut n = 0;
    for (i, a) in vectors.iter().enumerate() {
        for b in &vectors[i + 1..] {
            sum += crate::embedding::dot(a, b);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f32).clamp(0.0, 0.95)
    }
}

#[cfg(test)]
mod tests;
