//! Drafting: a customer message in, a labeled, scored, routed draft out,
//! stored with its audit events (and its delivery when it goes out now) in
//! one transaction. The pipeline runs these stages, each in its own module:
//!
//! | stage    | module        | what it does |
//! |----------|---------------|--------------|
//! | validate | `request`     | the request against the configured limits |
//! | detect   | `knowledge::lang` | the customer's language |
//! | policy   | [`policy`]    | topics that need a person, asking for one, planted instructions |
//! | mask     | [`mask`]      | personal data out of everything that may reach retrieval or a model |
//! | retrieve | [`retrieve`]  | the articles and passages that may answer, with their facts |
//! | generate | [`generate`]  | the reply, by the model ([`llm`], [`prompt`]) or the [`extractive`] drafter |
//! | check    | [`checks`]    | the reply against what it was written from |
//! | score    | [`route`], [`confidence`] | how sure the draft is |
//! | route    | [`route`]     | sent now, or held for a person |
//! | record   | [`record`]    | the records the store writes |
//!
//! Semantic retrieval and an answer memory join at "retrieve": they add
//! candidates and signals to [`retrieve::Retrieved`], which is all the later
//! stages read.

pub mod checks;
pub mod confidence;
pub mod context;
pub mod extractive;
pub mod generate;
pub mod intent;
pub mod llm;
pub mod mask;
pub mod memory;
mod metrics;
mod passages;
pub mod phrases;
pub mod pii;
pub mod policy;
pub mod prompt;
pub mod record;
mod request;
pub mod retrieve;
pub mod route;

pub use request::{DraftRequest, Role, Turn};

use crate::config::Config;
use crate::knowledge::{self, Knowledge, lang};
use crate::model::{Confidence, Draft, DraftState, Scope, now_ms};
use crate::storage::{self, DynStore};
use crate::validate;
use llm::LlmClient;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    /// A draft (or, with `what`, another record) that does not exist or is not the caller's.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error(transparent)]
    Knowledge(#[from] knowledge::Error),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Requests with more text than this (message, history and context) are
/// read on a blocking thread: reading grows with the text, and the largest
/// request the limits allow (an 8 KiB message with 50 turns of history) would
/// hold an async worker for milliseconds. Below it, reading takes tens of
/// microseconds (`replygate bench`, "Drafting stages"), less than the hop.
const READ_INLINE_BYTES: usize = 4 * 1024;

/// A confidence by retrieval alone below this says nothing retrieved
/// answers the question: the extractive draft is then the holding reply, not
/// a quote of an article that is more likely wrong than right. Measured on
/// the tuning file (`eval --json`, `retrieval_score` against whether the
/// first article is the expected one), lexically and with e5: in every band
/// below 0.3 the first article is right for at most 41% of the questions
/// (mostly about 20%), from 0.3 to 0.5 for about half; the held-out file
/// agrees (docs/EVALUATION.md, "When nothing answers").
const NOTHING_ANSWERS_BELOW: f64 = 0.3;

/// The request as the later stages read it.
struct Read {
    locale: String,
    flags: policy::Flags,
    masked: mask::MaskedRequest,
}

/// Stages "detect", "policy" and "mask".
fn read(policy: &policy::Policy, default_locale: &str, r: &DraftRequest) -> Read {
    let detection = metrics::stage("detect", || {
        lang::detect(
            &r.message,
            lang::primary_tag(&r.locale).as_deref(),
            default_locale,
        )
    });
    let flags = metrics::stage("policy", || policy.check_request(r));
    let masked = metrics::stage("mask", || mask::mask(r, &detection.locale));
    Read {
        locale: detection.locale,
        flags,
        masked,
    }
}

/// A reply written and scored, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub locale: String,
    pub channel: String,
    pub body: String,
    pub disclosure: String,
    pub citations: Vec<crate::model::Citation>,
    pub generator: String,
    pub confidence: Confidence,
    pub state: DraftState,
    /// A policy flag sends it to review whatever its confidence.
    pub forced_review: bool,
    /// Retrieved article ids, best first.
    pub retrieved: Vec<String>,
    /// The curated answer it was made from (generator "memory"), else empty.
    pub curated_answer_id: String,
    /// For evaluation: the closest usable curated answer, however far.
    pub nearest_memory: Option<NearestMemory>,
    /// For evaluation: the score by retrieval alone, before anything is
    /// written (what decides whether anything answers); None for a draft
    /// from the answer memory.
    pub retrieval_score: Option<f64>,
    /// What the message does to its conversation's state.
    pub handoff: Handoff,
    /// Whether its delivery carries the AI label (set when it is recorded).
    pub labeling: crate::model::Labeling,
    /// How soon a person should answer it if it waits for review, in ms
    /// (its channel's window or first-response target; set when recorded).
    pub respond_within: Option<i64>,
}

/// What a message brings to its conversation's state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    /// What in it sends the conversation to a person.
    pub cause: Option<crate::conversation::Cause>,
    pub rules: crate::conversation::Rules,
    /// The notice the customer gets if it does, in their language.
    pub notice: String,
}

/// How close the answer memory came to a question (see [`Composed`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NearestMemory {
    pub similarity: f64,
    /// The article the answer rests on first (None: the agent's own words).
    pub rests_on: Option<String>,
    pub agreeing_agents: usize,
    pub disagreeing: usize,
}

pub struct Drafter {
    store: DynStore,
    knowledge: Arc<Knowledge>,
    policy: Arc<policy::Policy>,
    /// What retrieved passages say besides their score, per article version.
    facts: passages::FactsCache,
    config: Arc<Config>,
    llm: Option<Arc<LlmClient>>,
    memory: Arc<memory::Memory>,
}

impl Drafter {
    /// The drafter; with `config.llm` set, drafts are written by that model.
    pub fn new(
        store: DynStore,
        knowledge: Arc<Knowledge>,
        memory: Arc<memory::Memory>,
        config: Arc<Config>,
    ) -> std::result::Result<Drafter, String> {
        let llm = match config.llm.enabled() {
            true => Some(Arc::new(LlmClient::new(&config.llm)?)),
            false => None,
        };
        if let Some(l) = &llm {
            tracing::info!(model = l.model(), "drafting with an llm");
        }
        Ok(Drafter {
            policy: Arc::new(policy::Policy::new(&config.policy)),
            facts: passages::FactsCache::default(),
            store,
            knowledge,
            config,
            llm,
            memory,
        })
    }

    /// The answer memory drafts are made from when a question was answered before.
    pub fn memory(&self) -> &Arc<memory::Memory> {
        &self.memory
    }

    /// Checks a request against the configured limits.
    pub fn validate(&self, r: &DraftRequest) -> Result<()> {
        request::validate(r, &self.config.limits)
    }

    /// Writes and scores a reply without storing anything (also used by evaluation).
    pub async fn compose(&self, r: &DraftRequest) -> Result<Composed> {
        self.compose_streaming(r, None).await
    }

    /// Like [`Drafter::compose`]; reply text is also sent to `deltas` as it is written.
    pub async fn compose_streaming(
        &self,
        r: &DraftRequest,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<Composed> {
        let channel = self.checked(r)?;
        self.compose_checked(r, channel, deltas).await
    }

    /// Stage "validate": the request against the limits; its routing channel.
    fn checked(&self, r: &DraftRequest) -> Result<String> {
        metrics::stage("validate", || {
            self.validate(r)?;
            Ok(validate::channel(&r.channel)?)
        })
    }

    /// The stages after "validate", for a request that passed it.
    async fn compose_checked(
        &self,
        r: &DraftRequest,
        channel: String,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<Composed> {
        let Read {
            locale,
            mut flags,
            masked,
        } = if r.text_bytes() <= READ_INLINE_BYTES {
            read(&self.policy, self.knowledge.default_locale(), r)
        } else {
            let (policy, default_locale, r) = (
                self.policy.clone(),
                self.knowledge.default_locale().to_string(),
                r.clone(),
            );
            tokio::task::spawn_blocking(move || read(&policy, &default_locale, &r))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        };
        let query = masked.query();
        // Embedded once: for the answer memory and for retrieval.
        let vector = self.knowledge.embed_query(&query).await;
        let recall = metrics::stage("memory", || {
            self.memory.recall(&query, vector.as_deref(), &locale)
        });
        let nearest_memory = self
            .memory
            .nearest(&query, vector.as_deref(), &locale)
            .map(|r| NearestMemory {
                similarity: r.similarity,
                rests_on: r.answer.sources.first().map(|s| s.article_id.clone()),
                agreeing_agents: r.agreeing_agents,
                disagreeing: r.disagreeing,
            });
        let retrieved = retrieve::retrieve(
            &self.knowledge,
            &self.facts,
            &self.policy,
            retrieve::Question {
                text: &query,
                vector,
                locale: &locale,
                device: crate::device::Device::from_context(&r.context),
            },
            self.config.retrieval.top_articles,
        )
        .await?;
        let thresholds = self.config.routing.for_channel(&channel);
        if let Some(recall) = recall {
            // Agents approved this reply for a close question: it is their
            // text, so the reply checks (written for a model's words) do not
            // apply; the policy flags and the thresholds do.
            let written = generate::from_memory(&recall, &retrieved, &self.knowledge).await;
            if let Some(tx) = deltas {
                let _ = tx.send(written.body.clone()).await;
            }
            let (confidence, state) = metrics::stage("score_route", || {
                let mut confidence = route::score_memory(&recall, &retrieved, &flags, thresholds);
                let state = route::route(&mut confidence, &flags, &[], thresholds);
                (confidence, state)
            });
            return Ok(Composed {
                forced_review: flags.forces_review(),
                retrieved: retrieved.article_ids(),
                disclosure: phrases::for_locale(&locale).disclosure_ai.to_string(),
                body: written.body,
                citations: written.citations,
                generator: written.generator,
                confidence,
                state,
                curated_answer_id: recall.answer.id.clone(),
                nearest_memory,
                retrieval_score: None,
                labeling: Default::default(),
                respond_within: None,
                handoff: self.handoff(&flags, &channel, &locale),
                locale,
                channel,
            });
        }
        // Whether anything retrieved may answer, by the retrieval signals
        // alone: below this, the extractive drafter writes the holding reply.
        let before_writing = route::score(&retrieved, &flags, &locale, None, thresholds);
        let brief = generate::Brief {
            wants_steps: intent::asks_for_steps(&masked.message),
            answerable: before_writing.score >= NOTHING_ANSWERS_BELOW,
        };
        let written = generate::write(
            self.llm.as_deref(),
            &retrieved,
            &masked,
            &locale,
            brief,
            &self.config,
            deltas,
        )
        .await;
        // Instructions planted in an article reach the writer as passages: a
        // draft written from such an article is never sent without review.
        if flags.injection.is_none() {
            flags.injection = written.instruction_in_sources();
        }
        let findings = metrics::stage("check", || check_written(&written, &masked, &retrieved));
        let (confidence, state) = metrics::stage("score_route", || {
            let mut confidence =
                route::score(&retrieved, &flags, &locale, Some(&written), thresholds);
            let state = route::route(&mut confidence, &flags, &findings, thresholds);
            (confidence, state)
        });
        Ok(Composed {
            forced_review: flags.forces_review(),
            retrieved: retrieved.article_ids(),
            disclosure: phrases::for_locale(&locale).disclosure_ai.to_string(),
            body: written.body,
            citations: written.citations,
            generator: written.generator,
            confidence,
            state,
            curated_answer_id: String::new(),
            nearest_memory,
            retrieval_score: Some(before_writing.score),
            labeling: Default::default(),
            respond_within: None,
            handoff: self.handoff(&flags, &channel, &locale),
            locale,
            channel,
        })
    }

    /// What a message with `flags` brings to its conversation.
    fn handoff(&self, flags: &policy::Flags, channel: &str, locale: &str) -> Handoff {
        Handoff {
            cause: flags.escalation(),
            rules: crate::conversation::Rules {
                escalate_after_low: self.config.handoff.escalate_after_low,
            },
            notice: self
                .config
                .handoff_notice(channel, locale)
                .unwrap_or(&phrases::for_locale(locale).handoff_notice)
                .to_string(),
        }
    }

    /// Drafts a reply to one customer message and stores it durably; the same
    /// request id returns the same draft.
    pub async fn create(&self, r: DraftRequest) -> Result<Draft> {
        self.create_streaming(r, None).await
    }

    /// Like [`Drafter::create`], sending the reply's text to `deltas` as it is written.
    pub async fn create_streaming(
        &self,
        r: DraftRequest,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> Result<Draft> {
        let channel = self.checked(&r)?;
        if !r.request_id.is_empty() {
            let key = storage::RequestKey {
                caller: r.caller.clone(),
                conversation_id: r.conversation_id.clone(),
                request_id: r.request_id.clone(),
            };
            if let Some(existing) = self.store.find_draft_by_request(&key).await? {
                return Ok(existing);
            }
        }
        let mut composed = self.compose_checked(&r, channel, deltas).await?;
        // The customer just wrote: the window is open whatever it is.
        composed.labeling = labeling(
            &self.config,
            &*self.store,
            &r.conversation_id,
            &composed.channel,
        )
        .await?;
        composed.respond_within = self.config.channel_rules(&composed.channel).respond_by(0);
        let cause = composed.handoff.cause;
        let created = self
            .store
            .create_draft(record::new_draft(&r, composed, now_ms()))
            .await?;
        let d = &created.draft;
        if created.created {
            metrics::created(d);
            if let Some(after) = &created.conversation {
                metrics::conversation(d, after, created.notice.as_ref(), cause);
            }
            // No conversation id: platforms often use the customer's phone number as one.
            tracing::info!(draft_id = %d.id, level = d.confidence.level.as_str(), state = d.state.as_str(), superseded = created.superseded.len(), "draft created");
        }
        Ok(created.draft)
    }

    /// One draft, if `scope` may see it (else as if it did not exist).
    pub async fn get(&self, id: &str, scope: &Scope) -> Result<Draft> {
        validate::id("draft_id", id, self.config.limits.max_id_chars, true)?;
        self.store
            .get_draft(id)
            .await?
            .filter(|d| scope.sees(&d.caller))
            .ok_or_else(|| Error::NotFound {
                what: "draft",
                id: id.to_string(),
            })
    }
}

/// Whether an AI reply in `conversation_id` on `channel` carries the AI
/// label: always, or (policy first_ai_message) until the customer was given
/// it. A reply to a message just received is inside any window.
pub async fn labeling(
    config: &Config,
    store: &dyn storage::Store,
    conversation_id: &str,
    channel: &str,
) -> Result<crate::model::Labeling, storage::Error> {
    let policy = config.disclosure_policy(channel);
    let already_given = match policy {
        crate::model::DisclosurePolicy::EveryAiMessage => false,
        crate::model::DisclosurePolicy::FirstAiMessage => {
            store.ai_label_given(conversation_id).await?
        }
    };
    Ok(crate::model::Labeling {
        policy,
        already_given,
        template: None,
    })
}

/// How a reply decided at `now` goes out: labeled as [`labeling`] says, and
/// as the channel's template when its customer-service window (from the
/// customer's last message) has closed.
pub async fn sending(
    config: &Config,
    store: &dyn storage::Store,
    conversation_id: &str,
    channel: &str,
    now: crate::model::Millis,
) -> Result<crate::model::Labeling, storage::Error> {
    let labeling = labeling(config, store, conversation_id, channel).await?;
    let rules = config.channel_rules(channel);
    let template = match rules.window_ms {
        Some(window) => {
            let last = store.last_customer_message_at(conversation_id).await?;
            last.is_some_and(|at| now > at.saturating_add(window))
                .then(|| crate::model::Template {
                    name: rules.template.name.clone(),
                    parameters: rules.template.parameters.clone(),
                })
        }
        None => None,
    };
    Ok(crate::model::Labeling {
        template,
        ..labeling
    })
}

/// Stage "check": the written reply against what it was written from, the
/// customer's own words and the retrieved articles' addresses.
fn check_written(
    written: &generate::Written<'_>,
    masked: &mask::MaskedRequest,
    retrieved: &retrieve::Retrieved,
) -> Vec<checks::Finding> {
    fn terms<'g>(gs: impl Iterator<Item = &'g retrieve::Given<'g>>) -> HashSet<&'g str> {
        gs.flat_map(|g| g.facts)
            .flat_map(|f| f.lines.iter().flatten())
            .map(String::as_str)
            .collect()
    }
    let given = &written.given;
    // Each line's terms are sorted.
    let given_has = |t: &str| {
        given
            .iter()
            .flat_map(|g| g.facts)
            .flat_map(|f| &f.lines)
            .any(|line| line.binary_search_by(|x| x.as_str().cmp(t)).is_ok())
    };
    let cited_terms = terms(written.cited.iter().filter_map(|i| given.get(*i)));
    let mut findings = Vec::new();
    if written.missing_steps {
        findings.push(checks::Finding {
            signal: "incomplete_steps",
            detail: "the customer asks how to do something and the reply lacks the article's steps"
                .into(),
        });
    }
    let evidence = checks::Evidence {
        given: given
            .iter()
            .flat_map(|g| g.facts)
            .map(|f| &f.source)
            .collect(),
        given_has: &given_has,
        cited_terms: &cited_terms,
        customer: masked.customer_words(),
        urls: retrieved.articles.iter().map(|h| h.url.as_str()).collect(),
        analyzer_key: retrieved.analyzer_key(),
    };
    findings.extend(checks::check(&written.own_words, &evidence));
    findings
}
