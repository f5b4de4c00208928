//! The drafting pipeline: validate a customer message, detect its language,
//! run the policy checks, retrieve passages, write a reply (extractive
//! drafter), score confidence, route it, and store it with its audit events
//! and delivery in one transaction.

pub mod checks;
pub mod confidence;
pub mod extractive;
pub mod llm;
mod passages;
pub mod phrases;
pub mod pii;
pub mod policy;
pub mod prompt;
mod request;

pub use request::{DraftRequest, Role, Turn};
use request::{check_id, normalize_channel};

use crate::config::Config;
use crate::knowledge::{self, ArticleHit, Knowledge, PassageHit, lang};
use crate::model::{
    AI_ACTOR, AuditEvent, Confidence, CustomerMessage, Delivery, Draft, DraftState, Scope, new_id,
    now_ms,
};
use crate::storage::{self, DynStore, NewDraft};
use crate::validate;
use llm::{LlmClient, LlmError};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

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
static DRAFTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static AUTO_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count_for_ratio(auto: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    let total = DRAFTED.fetch_add(1, Relaxed) + 1;
    let sent = if auto {
        AUTO_SENT.fetch_add(1, Relaxed) + 1
    } else {
        AUTO_SENT.load(Relaxed)
    };
    AUTO_SEND_RATIO.set(sent as f64 / total as f64);
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
}

pub struct Drafter {
    store: DynStore,
    knowledge: Arc<Knowledge>,
    policy: policy::Policy,
    /// What retrieved passages say besides their score, per article version.
    facts: passages::FactsCache,
    config: Arc<Config>,
    llm: Option<Arc<LlmClient>>,
}

/// A reply the LLM wrote, checked.
struct ModelDraft {
    body: String,
    citations: Vec<crate::model::Citation>,
    signals: confidence::ModelSignals,
    /// The reply as the model wrote it (placeholders, no citation marks).
    reply_masked: String,
    /// Which of the given passages it cites (indexes).
    cited: Vec<usize>,
}

/// Who wrote a reply.
enum Written {
    /// The model (named), checked.
    Model(ModelDraft, String),
    /// The extractive drafter, when there is no model or it failed.
    Extractive(extractive::Generated),
}

/// A retrieved passage handed to a writer, with its article and what
/// drafting knows of its terms (the article title's, then its own).
#[derive(Clone, Copy)]
struct Given<'a> {
    hit: &'a ArticleHit,
    passage: &'a PassageHit,
    facts: [&'a passages::PassageFacts; 2],
}

/// The passages of `hits`, best first, at most `max`.
fn best_passages<'a>(
    hits: &'a [ArticleHit],
    facts: &'a [passages::ArticleFacts],
    max: usize,
) -> Vec<Given<'a>> {
    let mut given: Vec<Given> = hits
        .iter()
        .zip(facts)
        .flat_map(|(h, f)| {
            h.passages
                .iter()
                .zip(&f.passages)
                .map(move |(p, pf)| Given {
                    hit: h,
                    passage: p,
                    facts: [&*f.title, &**pf],
                })
        })
        .collect();
    given.sort_by(|a, b| b.passage.score.total_cmp(&a.passage.score));
    given.truncate(max);
    given
}

/// Cleans streamed reply text for display: drops "[n]" citation marks and
/// puts personal data back, holding back text inside an unfinished "[...]".
struct DeltaCleaner<'a> {
    masked: &'a pii::Masked,
    pending: String,
}

impl DeltaCleaner<'_> {
    fn feed(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let cut = match self.pending.rfind('[') {
            Some(i) if !self.pending[i..].contains(']') && self.pending.len() - i < 24 => i,
            _ => self.pending.len(),
        };
        let ready: String = self.pending.drain(..cut).collect();
        pii::unmask(&prompt::strip_citation_marks(&ready), self.masked)
    }

    fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        pii::unmask(&prompt::strip_citation_marks(&rest), self.masked)
    }
}

impl Drafter {
    /// The drafter; with `config.llm` set, drafts are written by that model.
    pub fn new(
        store: DynStore,
        knowledge: Arc<Knowledge>,
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
            policy: policy::Policy::new(&config.policy),
            facts: passages::FactsCache::default(),
            store,
            knowledge,
            config,
            llm,
        })
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
        self.validate(r)?;
        let channel = normalize_channel(&r.channel)?;
        let hint = lang::primary_tag(&r.locale);
        let detection = lang::detect(&r.message, hint.as_deref(), self.knowledge.default_locale());
        let mut flags = self.policy.check(&r.message);
        // Every text the caller supplies may carry instructions, not only the message.
        if flags.injection.is_none() {
            flags.injection = self.injection_outside_the_message(r);
        }
        // Personal data is masked before retrieval and before anything could leave for the LLM.
        let history: Vec<&str> = r.history.iter().map(|t| t.text.as_str()).collect();
        let context: Vec<(&str, &str)> = r
            .context
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let region_hint = if r.locale.is_empty() {
            detection.locale.as_str()
        } else {
            r.locale.as_str()
        };
        let masked = pii::mask_request(&r.message, &history, &context, region_hint);
        let retrieval = &self.config.retrieval;
        // Placeholders are not words the customer used: "[EMAIL_1]" must not retrieve articles about e-mail.
        let query = pii::strip_placeholders(&masked.message);
        let found = self
            .knowledge
            .search_in(&query, &detection.locale, retrieval.top_articles)
            .await?;
        let facts: Vec<passages::ArticleFacts> = found
            .hits
            .articles
            .iter()
            .map(|hit| self.facts.article(hit, &found.locale, &self.policy))
            .collect();
        let closest = |i: usize| {
            facts.get(i).map_or_else(Default::default, |f| {
                f.closest_line(&found.hits.query_terms)
            })
        };
        let (line, runner_up_line) = (closest(0), closest(1));
        let thresholds = self.config.routing.for_channel(&channel);
        let phrases = phrases::for_locale(&detection.locale);
        let articles_analyzer = lang::analyzer_key(&found.locale);

        let mut fallback: Option<LlmError> = None;
        let mut by_model = None;
        let llm_given = best_passages(&found.hits.articles, &facts, self.config.llm.max_passages);
        if let Some(llm) = &self.llm {
            match self
                .write_with_llm(
                    llm,
                    &detection.locale,
                    articles_analyzer,
                    &llm_given,
                    &masked,
                    r,
                    deltas,
                )
                .await
            {
                Ok(d) => by_model = Some((d, llm.model().to_string())),
                Err(e) => {
                    FALLBACKS.with_label_values(&[e.kind()]).inc();
                    tracing::warn!(
                        error = e.kind(),
                        "llm draft failed, using the extractive drafter"
                    );
                    fallback = Some(e);
                }
            }
        }
        let written = match by_model {
            Some((d, model)) => Written::Model(d, model),
            None => Written::Extractive(extractive::compose(
                &found.hits.articles,
                phrases,
                retrieval.max_passages,
                retrieval.max_reply_chars,
            )),
        };
        // What the reply was written from, what it cites, and its own words
        // (the model's before personal data is put back; the extractive
        // drafter's without its fixed phrases: it quotes the best article).
        let extractive_given: Vec<Given> = match (found.hits.articles.first(), facts.first()) {
            (Some(best), Some(f)) => best
                .passages
                .iter()
                .zip(&f.passages)
                .map(|(p, pf)| Given {
                    hit: best,
                    passage: p,
                    facts: [&*f.title, &**pf],
                })
                .collect(),
            _ => Vec::new(),
        };
        let (given, cited, own_words): (&[Given], Vec<usize>, String) = match &written {
            Written::Model(d, _) => (&llm_given, d.cited.clone(), d.reply_masked.clone()),
            Written::Extractive(g) => (
                &extractive_given,
                (0..extractive_given.len()).collect(),
                phrases.without_fixed_lines(&g.body),
            ),
        };
        // Instructions planted in an article reach the writer as passages: a
        // draft written from such an article is never sent without review
        // (articles retrieved but not given to the writer do not count).
        if flags.injection.is_none() {
            flags.injection = given.iter().find_map(|g| {
                g.facts[1]
                    .injection
                    .as_ref()
                    .map(|marker| format!("{marker} (in article {})", g.hit.article_id))
            });
        }
        // The customer's own words (earlier replies of ours are no source for a number).
        let customer: Vec<&str> = std::iter::once(masked.message.as_str())
            .chain(
                r.history
                    .iter()
                    .zip(&masked.history)
                    .filter(|(t, _)| t.role == Role::Customer)
                    .map(|(_, m)| m.as_str()),
            )
            .collect();
        let findings = self.check_reply(
            &own_words,
            given,
            &cited,
            customer,
            &found.hits.articles,
            articles_analyzer,
        );
        let signals = confidence::Signals {
            hits: &found.hits.articles,
            query_terms: found.hits.query_terms.len(),
            flags: flags.clone(),
            locale_fallback: found.locale != detection.locale,
            line,
            runner_up_line,
        };
        let (body, citations, generator, mut confidence) = match written {
            Written::Model(d, model) => {
                let c = confidence::assess_with_model(&signals, &d.signals, thresholds);
                (d.body, d.citations, model, c)
            }
            Written::Extractive(g) => {
                if let Some(tx) = deltas {
                    let _ = tx.send(g.body.clone()).await;
                }
                (
                    g.body,
                    g.citations,
                    g.generator,
                    confidence::assess(&signals, thresholds),
                )
            }
        };
        if let Some(e) = &fallback {
            let signal = if matches!(e, LlmError::Unparseable(_)) {
                "llm_unparseable"
            } else {
                "llm_unavailable"
            };
            confidence.reasons.push(crate::model::Reason {
                signal: signal.into(),
                value: 1.0,
                detail: format!("the extractive drafter wrote this draft: {}", e.kind()),
            });
        }
        let held_by_checks = !findings.is_empty();
        confidence::hold(&mut confidence, &findings, thresholds);
        let state = if confidence::auto_send(&confidence, &flags) && !held_by_checks {
            DraftState::AutoApproved
        } else {
            DraftState::PendingReview
        };
        let retrieved = found
            .hits
            .articles
            .iter()
            .map(|h| h.article_id.clone())
            .collect();
        Ok(Composed {
            forced_review: flags.forces_review(),
            retrieved,
            disclosure: phrases.disclosure_ai.to_string(),
            locale: detection.locale,
            channel,
            body,
            citations,
            generator,
            confidence,
            state,
        })
    }

    /// Asks the model for a reply from the best passages and checks it.
    #[allow(clippy::too_many_arguments)]
    async fn write_with_llm(
        &self,
        llm: &LlmClient,
        locale: &str,
        articles_analyzer: &'static str,
        passages: &[Given<'_>],
        masked: &pii::MaskedRequest,
        r: &DraftRequest,
        deltas: Option<&mpsc::Sender<String>>,
    ) -> std::result::Result<ModelDraft, LlmError> {
        let prompt_passages: Vec<prompt::PromptPassage> = passages
            .iter()
            .map(|g| prompt::PromptPassage {
                title: g.hit.title.clone(),
                heading: g.passage.heading.clone(),
                text: extractive::clip(&g.passage.text, 1500),
            })
            .collect();
        let history: Vec<(bool, String)> = r
            .history
            .iter()
            .zip(&masked.history)
            .map(|(t, m)| (t.role == Role::Customer, m.clone()))
            .collect();
        let context = &masked.context;
        let schema = prompt::answer_schema(prompt_passages.len());
        let ask = |mode| {
            prompt::messages(
                locale,
                &prompt_passages,
                &masked.message,
                &history,
                context,
                mode,
            )
        };

        let mut mode = llm.mode();
        let mut content_and_logprobs = match deltas {
            Some(tx) => {
                let mut stream = llm.stream(&ask(mode), &schema).await?;
                mode = llm.mode();
                let mut extractor = prompt::ReplyExtractor::new(mode);
                let mut cleaner = DeltaCleaner {
                    masked: &masked.table,
                    pending: String::new(),
                };
                let mut content = String::new();
                while let Some(delta) = stream.next().await {
                    let delta = delta?;
                    content.push_str(&delta);
                    let shown = cleaner.feed(&extractor.feed(&delta));
                    if !shown.is_empty() {
                        let _ = tx.send(shown).await;
                    }
                }
                let rest = cleaner.finish();
                if !rest.is_empty() {
                    let _ = tx.send(rest).await;
                }
                (content, Vec::new())
            }
            None => {
                let c = llm.complete(&ask(mode), &schema).await?;
                mode = llm.mode();
                (c.content, c.logprobs)
            }
        };
        let answer = match prompt::parse_answer(&content_and_logprobs.0, mode) {
            Ok(a) => a,
            Err(first) => {
                // One more try before giving up on the model.
                tracing::warn!(error = %first, "llm answer unreadable, asking again");
                mode = llm.mode();
                let c = llm.complete(&ask(mode), &schema).await?;
                mode = llm.mode();
                content_and_logprobs = (c.content, c.logprobs);
                prompt::parse_answer(&content_and_logprobs.0, mode)
                    .map_err(LlmError::Unparseable)?
            }
        };
        let logprobs = content_and_logprobs.1;

        let n = passages.len() as i64;
        let cited: Vec<usize> = {
            let mut seen = Vec::new();
            for c in &answer.citations {
                if (1..=n).contains(c) && !seen.contains(&((*c - 1) as usize)) {
                    seen.push((*c - 1) as usize);
                }
            }
            seen
        };
        let citations_valid =
            !answer.citations.is_empty() && answer.citations.iter().all(|c| (1..=n).contains(c));
        let reply_masked = prompt::strip_citation_marks(&answer.reply);

        // Groundedness: the reply's content words against the cited passages.
        static PLACEHOLDER: LazyLock<regex::Regex> =
            LazyLock::new(|| regex::Regex::new(r"\[[A-Z]+_\d+\]").unwrap());
        let mut analyzer = lang::analyzer(articles_analyzer);
        let reply_terms = lang::terms(&mut analyzer, &PLACEHOLDER.replace_all(&reply_masked, " "));
        // The terms of the cited passages, with their headings and titles.
        let source_terms: HashSet<&str> = cited
            .iter()
            .flat_map(|i| passages[*i].facts)
            .flat_map(|f| f.lines.iter().flatten())
            .map(String::as_str)
            .collect();
        let grounded = confidence::groundedness(&reply_terms, &source_terms);
        let token_confidence = (!logprobs.is_empty())
            .then(|| (logprobs.iter().sum::<f64>() / logprobs.len() as f64).exp());

        let mut citations: Vec<crate::model::Citation> = Vec::new();
        for i in &cited {
            let g = passages[*i];
            if !citations.iter().any(|c| c.article_id == g.hit.article_id) {
                citations.push(extractive::citation(g.hit, g.passage));
            }
        }
        let mut body = pii::unmask(reply_masked.trim(), &masked.table);
        if let Some(first) = citations.first().filter(|c| !c.url.is_empty()) {
            body.push_str(&format!(
                "\n\n{} {} — {}",
                phrases::for_locale(locale).more_info,
                first.title,
                first.url
            ));
        }
        Ok(ModelDraft {
            reply_masked: reply_masked.trim().to_string(),
            cited,
            body,
            citations,
            signals: confidence::ModelSignals {
                answerable: answer.answerable,
                self_rating: answer.self_rating,
                token_confidence,
                groundedness: grounded,
                citations_valid,
            },
        })
    }

    /// An attempt to instruct the assistant in the history or the context
    /// (keys and values), naming where it is.
    fn injection_outside_the_message(&self, r: &DraftRequest) -> Option<String> {
        let turns = r
            .history
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("history turn {}", i + 1), t.text.as_str()));
        let context = r.context.iter().flat_map(|(k, v)| {
            [
                (format!("context key {k:?}"), k.as_str()),
                (format!("context value of {k:?}"), v.as_str()),
            ]
        });
        turns.chain(context).find_map(|(place, text)| {
            self.policy
                .check(text)
                .injection
                .map(|marker| format!("{marker} (in the {place})"))
        })
    }

    /// Checks a written reply against what it was written from (see `checks`).
    #[allow(clippy::too_many_arguments)]
    fn check_reply(
        &self,
        own_words: &str,
        given: &[Given<'_>],
        cited: &[usize],
        customer: Vec<&str>,
        hits: &[ArticleHit],
        analyzer_key: &'static str,
    ) -> Vec<checks::Finding> {
        fn terms<'g>(gs: impl Iterator<Item = &'g Given<'g>>) -> HashSet<&'g str> {
            gs.flat_map(|g| g.facts)
                .flat_map(|f| f.lines.iter().flatten())
                .map(String::as_str)
                .collect()
        }
        let given_terms = terms(given.iter());
        let cited_terms = terms(cited.iter().filter_map(|i| given.get(*i)));
        let evidence = checks::Evidence {
            given: given
                .iter()
                .flat_map(|g| g.facts)
                .map(|f| &f.source)
                .collect(),
            given_terms: &given_terms,
            cited_terms: &cited_terms,
            customer,
            urls: hits.iter().map(|h| h.url.as_str()).collect(),
            analyzer_key,
        };
        checks::check(own_words, &evidence)
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
        self.validate(&r)?;
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
        let composed = self.compose_streaming(&r, deltas).await?;
        let now = now_ms();
        let message = CustomerMessage {
            id: new_id(),
            conversation_id: r.conversation_id.clone(),
            text: r.message.clone(),
            locale: composed.locale.clone(),
            channel: composed.channel.clone(),
            context: r.context.clone(),
            received_at: now,
        };
        let draft = Draft {
            id: new_id(),
            conversation_id: r.conversation_id.clone(),
            message_id: message.id.clone(),
            request_id: (!r.request_id.is_empty()).then(|| r.request_id.clone()),
            caller: r.caller.clone(),
            channel: composed.channel.clone(),
            locale: composed.locale.clone(),
            final_body: composed.body.clone(),
            body: composed.body,
            disclosure: composed.disclosure,
            ai_generated: true,
            human_reviewed: false,
            generator: composed.generator,
            confidence: composed.confidence,
            citations: composed.citations,
            state: composed.state,
            needs_person: composed.forced_review,
            reviewed_by: String::new(),
            claimed_by: String::new(),
            claim_expires_at: None,
            reject_reason: String::new(),
            created_at: now,
            updated_at: now,
            revision: 0,
            customer_message: r.message.clone(),
        };
        let mut events = vec![
            AuditEvent::new(
                "message_received",
                "platform",
                &draft,
                serde_json::json!({ "message_id": message.id, "channel": draft.channel, "locale": draft.locale }),
                now,
            ),
            AuditEvent::new(
                "draft_created",
                AI_ACTOR,
                &draft,
                serde_json::json!({
                    "generator": draft.generator,
                    "score": draft.confidence.score,
                    "level": draft.confidence.level.as_str(),
                    "citations": draft.citations.iter().map(|c| format!("{}@{}", c.article_id, c.version)).collect::<Vec<_>>(),
                }),
                now,
            ),
        ];
        let if_held = held(&draft, &events);
        let delivery = (draft.state == DraftState::AutoApproved).then(|| {
            events.push(AuditEvent::new(
                "draft_auto_approved",
                AI_ACTOR,
                &draft,
                serde_json::json!({ "level": draft.confidence.level.as_str() }),
                now,
            ));
            Delivery::for_draft(&draft, AI_ACTOR, now)
        });
        let created = self
            .store
            .create_draft(NewDraft {
                message,
                draft,
                events,
                delivery,
                if_held: Some(if_held),
            })
            .await?;
        let d = &created.draft;
        if created.created {
            count_for_ratio(d.state == DraftState::AutoApproved);
            DRAFTS
                .with_label_values(&[
                    d.channel.as_str(),
                    d.locale.as_str(),
                    d.confidence.level.as_str(),
                    d.state.as_str(),
                    d.generator.as_str(),
                ])
                .inc();
            // No conversation id: platforms often use the customer's phone number as one.
            tracing::info!(draft_id = %d.id, level = d.confidence.level.as_str(), state = d.state.as_str(), superseded = created.superseded.len(), "draft created");
        }
        Ok(created.draft)
    }

    /// One draft, if `scope` may see it (else as if it did not exist).
    pub async fn get(&self, id: &str, scope: &Scope) -> Result<Draft> {
        check_id("draft_id", id, self.config.limits.max_id_chars, true)?;
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

/// The new draft as written while its conversation waits for a person: held
/// for review, whatever its confidence, with a reason saying why.
fn held(draft: &Draft, events: &[AuditEvent]) -> storage::HeldDraft {
    let mut held = draft.clone();
    held.state = DraftState::PendingReview;
    held.confidence.reasons.push(crate::model::Reason {
        signal: "conversation_waits_for_person".into(),
        value: 1.0,
        detail: "an earlier message of this conversation waits for a person; nothing in it is sent automatically until an agent decides it".into(),
    });
    storage::HeldDraft {
        draft: held,
        events: events.to_vec(),
    }
}
