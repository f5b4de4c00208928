//! Stage "generate": a reply written from the retrieved passages, by the
//! configured model when there is one and it answers, else by the extractive
//! drafter. Either way the result says what it was written from, what it
//! cites and which words are its own, for the checks that follow.

use super::confidence::{self, ModelSignals};
use super::llm::{LlmClient, LlmError};
use super::mask::MaskedRequest;
use super::retrieve::{Given, Retrieved};
use super::{extractive, metrics, phrases, pii, prompt};
use crate::config::Config;
use crate::knowledge::lang;
use crate::model::Citation;
use std::collections::HashSet;
use std::sync::LazyLock;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

/// A reply, with what it was written from.
pub struct Written<'r> {
    /// The reply as the customer reads it (personal data put back).
    pub body: String,
    pub citations: Vec<Citation>,
    /// The model's name, or the extractive drafter's.
    pub generator: String,
    /// The passages the writer was given.
    pub given: Vec<Given<'r>>,
    /// Which of `given` the reply cites (indexes).
    pub cited: Vec<usize>,
    /// The reply's own words: the model's as it wrote them (placeholders, no
    /// citation marks); the extractive drafter's without its fixed phrases
    /// (it quotes the best article).
    pub own_words: String,
    /// What the model said of its answer; `None` from the extractive drafter.
    pub model: Option<ModelSignals>,
    /// Why the extractive drafter wrote it although a model is configured.
    pub fallback: Option<LlmError>,
    /// The customer asked how to do something and the reply lacks the
    /// article's steps (the extractive drafter's judgement; never auto-sent).
    pub missing_steps: bool,
}

/// What the writer is told about the question besides its text.
#[derive(Debug, Clone, Copy)]
pub struct Brief {
    /// The customer asks how to do something.
    pub wants_steps: bool,
    /// Retrieval found something that may answer.
    pub answerable: bool,
}

impl Written<'_> {
    /// An instruction planted in a passage the writer was given, naming its
    /// article (articles retrieved but not given to the writer do not count).
    pub fn instruction_in_sources(&self) -> Option<String> {
        self.given.iter().find_map(|g| {
            g.facts[1]
                .injection
                .as_ref()
                .map(|marker| format!("{marker} (in article {})", g.hit.article_id))
        })
    }
}

/// Writes a reply in `locale`; reply text also goes to `deltas` as it is written.
pub async fn write<'r>(
    llm: Option<&LlmClient>,
    retrieved: &'r Retrieved,
    masked: &MaskedRequest,
    locale: &str,
    brief: Brief,
    config: &Config,
    deltas: Option<&mpsc::Sender<String>>,
) -> Written<'r> {
    let mut fallback = None;
    if let Some(llm) = llm {
        let given = retrieved.best_passages(config.llm.max_passages);
        match with_model(
            llm,
            locale,
            retrieved.analyzer_key(),
            &given,
            masked,
            deltas,
        )
        .await
        {
            Ok(d) => {
                return Written {
                    body: d.body,
                    citations: d.citations,
                    generator: llm.model().to_string(),
                    given,
                    cited: d.cited,
                    own_words: d.reply_masked,
                    model: Some(d.signals),
                    fallback: None,
                    missing_steps: false,
                };
            }
            Err(e) => {
                metrics::llm_fell_back(e.kind());
                tracing::warn!(
                    error = e.kind(),
                    detail = %e,
                    endpoint = %llm.endpoint(),
                    model = llm.model(),
                    "llm draft failed, using the extractive drafter"
                );
                fallback = Some(e);
            }
        }
    }
    let phrases = phrases::for_locale(locale);
    let ask = extractive::Ask {
        phrases,
        wants_steps: brief.wants_steps,
        answerable: brief.answerable,
        max_passages: config.retrieval.max_passages,
        max_chars: config.retrieval.max_reply_chars,
    };
    let g = metrics::stage("extractive", || {
        extractive::compose(&retrieved.articles, &ask)
    });
    if let Some(tx) = deltas {
        let _ = tx.send(g.body.clone()).await;
    }
    // What it quotes is what it was written from.
    let given: Vec<Given> = retrieved
        .best_article()
        .into_iter()
        .filter(|p| g.quoted.contains(&p.passage.ordinal))
        .collect();
    Written {
        cited: (0..given.len()).collect(),
        own_words: phrases.without_fixed_lines(&g.body),
        body: g.body,
        citations: g.citations,
        generator: g.generator,
        given,
        model: None,
        fallback,
        missing_steps: g.missing_steps,
    }
}

/// A reply from a curated answer of the answer memory: its text as agents
/// approved it, citing the articles it rests on (at the versions it was
/// approved on, which are the live ones: recall uses no other).
pub async fn from_memory<'r>(
    recall: &super::memory::Recall,
    retrieved: &'r Retrieved,
    knowledge: &crate::knowledge::Knowledge,
) -> Written<'r> {
    let sources = &recall.answer.sources;
    let given: Vec<Given<'r>> = retrieved
        .best_passages(usize::MAX)
        .into_iter()
        .filter(|g| sources.iter().any(|s| s.article_id == g.hit.article_id))
        .collect();
    let mut citations = Vec::with_capacity(sources.len());
    for s in sources {
        let hit = retrieved
            .articles
            .iter()
            .find(|h| h.article_id == s.article_id && !h.passages.is_empty());
        match hit {
            Some(hit) => citations.push(extractive::citation(hit, &hit.passages[0])),
            None => {
                if let Ok(a) = knowledge.get(&s.article_id).await {
                    citations.push(Citation {
                        article_id: a.id,
                        version: s.version,
                        title: a.title,
                        url: a.url,
                        snippet: extractive::clip(&a.body, 240),
                    });
                }
            }
        }
    }
    Written {
        body: recall.answer.reply.clone(),
        citations,
        generator: super::memory::GENERATOR.into(),
        cited: (0..given.len()).collect(),
        given,
        own_words: String::new(),
        model: None,
        fallback: None,
        missing_steps: false,
    }
}

/// A reply the model wrote, checked.
struct ModelDraft {
    body: String,
    citations: Vec<Citation>,
    signals: ModelSignals,
    reply_masked: String,
    cited: Vec<usize>,
}

/// Asks the model for a reply from `passages` and reads its answer.
async fn with_model(
    llm: &LlmClient,
    locale: &str,
    articles_analyzer: &'static str,
    passages: &[Given<'_>],
    masked: &MaskedRequest,
    deltas: Option<&mpsc::Sender<String>>,
) -> Result<ModelDraft, LlmError> {
    let prompt_passages: Vec<prompt::PromptPassage> = passages
        .iter()
        .map(|g| prompt::PromptPassage {
            title: g.hit.title.clone(),
            heading: g.passage.heading.clone(),
            text: extractive::clip(&g.passage.text, 1500),
            devices: g.hit.applies_to.devices(),
        })
        .collect();
    let schema = prompt::answer_schema(prompt_passages.len());
    let ask = |mode| {
        prompt::messages(
            locale,
            &prompt_passages,
            &masked.message,
            &masked.history,
            &masked.context,
            mode,
        )
    };

    let mut mode = llm.mode();
    let (mut content, mut logprobs) = match deltas {
        Some(tx) => {
            let mut stream = llm.stream(&ask(mode), &schema).await?;
            mode = llm.mode();
            let mut extractor = prompt::ReplyExtractor::new(mode);
            let mut cleaner = DeltaCleaner::new(&masked.table);
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
    let answer = match prompt::parse_answer(&content, mode) {
        Ok(a) => a,
        Err(first) => {
            // One more try before giving up on the model.
            tracing::warn!(error = %first, "llm answer unreadable, asking again");
            mode = llm.mode();
            let c = llm.complete(&ask(mode), &schema).await?;
            mode = llm.mode();
            (content, logprobs) = (c.content, c.logprobs);
            prompt::parse_answer(&content, mode).map_err(LlmError::Unparseable)?
        }
    };

    let n = passages.len() as i64;
    let mut cited: Vec<usize> = Vec::new();
    for c in &answer.citations {
        if (1..=n).contains(c) && !cited.contains(&((*c - 1) as usize)) {
            cited.push((*c - 1) as usize);
        }
    }
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

    let mut citations: Vec<Citation> = Vec::new();
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
        signals: ModelSignals {
            answerable: answer.answerable,
            self_rating: answer.self_rating,
            token_confidence,
            groundedness: grounded,
            citations_valid,
        },
    })
}

/// Cleans streamed reply text for display: drops "[n]" citation marks and
/// puts personal data back, holding back text inside an unfinished "[...]".
struct DeltaCleaner<'a> {
    masked: &'a pii::Masked,
    pending: String,
}

impl<'a> DeltaCleaner<'a> {
    fn new(masked: &'a pii::Masked) -> Self {
        DeltaCleaner {
            masked,
            pending: String::new(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_text_loses_citation_marks_and_gets_personal_data_back_even_when_split() {
        let masked = pii::mask("write to ana@example.com", "en");
        let mut cleaner = DeltaCleaner::new(&masked);
        let mut shown = Vec::new();
        for delta in ["We will write to [EMA", "IL_1] today [", "1]. Done [2"] {
            shown.push(cleaner.feed(delta));
        }
        // An unfinished "[" is held back until it is known not to be a mark.
        assert_eq!(shown[0], "We will write to ");
        assert!(shown.iter().all(|s| !s.contains('[')), "{shown:?}");
        shown.push(cleaner.finish());
        let all = shown.concat();
        assert!(
            all.starts_with("We will write to ana@example.com today"),
            "{all}"
        );
        assert!(!all.contains("[1]") && !all.contains("EMAIL"), "{all}");
        assert!(all.ends_with(". Done [2"), "{all}");
    }
}
