//! The built-in drafter: quotes the sections of the best article that
//! answer the question, in the reply's language, with a greeting and a link.
//! No LLM needed.
//!
//! Which sections: each passage of the best article is rated by how well it
//! matches the question, by its words (its BM25 score against the best
//! passage's) and, with embeddings, by its meaning (its cosine, placed
//! between the article's least and most similar passages). A question that
//! asks how to do something gets the article's steps (a numbered list),
//! quoted whole; a second section joins only when it matches nearly as well
//! as the first, and sections come in the article's order. Nothing is
//! quoted from any other article. When retrieval found nothing that may
//! answer, the reply is the holding reply in the customer's language.

use super::phrases::Phrases;
use crate::knowledge::{ArticleHit, PassageHit};
use crate::model::Citation;
use std::sync::LazyLock;

pub const GENERATOR: &str = "extractive";
const SNIPPET_CHARS: usize = 240;

/// How much a section with steps gains when the question asks how to do something.
const STEPS_BONUS: f64 = 0.5;
/// How much an article's untitled opening loses beside its titled sections:
/// it says what the article is about, rarely what to do.
const INTRO_PENALTY: f64 = 0.2;
/// A second section is quoted only when it matches at least this share as
/// well as the first.
const SECOND_AT_LEAST: f64 = 0.6;

/// What the drafter is asked to write.
pub struct Ask<'a> {
    pub phrases: &'a Phrases,
    /// The customer asks how to do something: the reply needs the steps.
    pub wants_steps: bool,
    /// Retrieval found something that may answer; else the holding reply.
    pub answerable: bool,
    pub max_passages: usize,
    pub max_chars: usize,
}

/// A reply and the articles it is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub body: String,
    pub citations: Vec<Citation>,
    pub generator: String,
    /// The ordinals of the best article's passages it quotes, in order.
    pub quoted: Vec<u64>,
    /// The customer asked how to do something, the article has steps, and
    /// the reply does not carry them whole.
    pub missing_steps: bool,
}

/// Cuts `text` to at most `max` characters at a line or sentence end when there is one.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    let cut = head
        .rfind('\n')
        .or_else(|| head.rfind(". ").map(|i| i + 1))
        .filter(|&i| i > max / 3);
    match cut {
        Some(i) => head[..i].trim_end().to_string(),
        None => format!("{}…", head.trim_end()),
    }
}

pub fn citation(hit: &ArticleHit, passage: &PassageHit) -> Citation {
    Citation {
        article_id: hit.article_id.clone(),
        version: hit.version,
        title: hit.title.clone(),
        url: hit.url.clone(),
        snippet: clip(&passage.text, SNIPPET_CHARS),
    }
}

/// A numbered list of at least two items: the steps of a task.
pub fn has_steps(text: &str) -> bool {
    static ITEM: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?m)^\s*\d{1,2}[.)]\s+\S").unwrap());
    ITEM.find_iter(text).nth(1).is_some()
}

/// The passage as quoted: its heading (unless its text starts with it), then its text.
fn quoted_text(p: &PassageHit) -> String {
    if p.heading.is_empty() || p.text.starts_with(&p.heading) {
        p.text.clone()
    } else {
        format!("{}\n{}", p.heading, p.text)
    }
}

/// How well each passage matches the question, 0..1 (see the module comment).
fn relevance(passages: &[PassageHit]) -> Vec<f64> {
    let best_score = passages.iter().map(|p| p.score).fold(0.0f32, f32::max);
    let cosines: Vec<f32> = passages.iter().filter_map(|p| p.cosine).collect();
    let (lo, hi) = cosines
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &c| (lo.min(c), hi.max(c)));
    let by_meaning = cosines.len() == passages.len() && cosines.len() > 1 && hi > lo;
    passages
        .iter()
        .map(|p| {
            let words = if best_score > 0.0 {
                f64::from(p.score / best_score)
            } else {
                0.0
            };
            match (by_meaning, p.cosine) {
                (true, Some(c)) => 0.5 * words + 0.5 * f64::from((c - lo) / (hi - lo)),
                _ => words,
            }
        })
        .collect()
}

/// The passages to quote (indexes into `passages`), best first.
fn choose(passages: &[PassageHit], wants_steps: bool, max: usize) -> Vec<usize> {
    if passages.is_empty() || max == 0 {
        return Vec::new();
    }
    let relevance = relevance(passages);
    let steps: Vec<bool> = passages.iter().map(|p| has_steps(&p.text)).collect();
    let titled = passages.iter().any(|p| !p.heading.is_empty());
    let rating = |i: usize| {
        let p = &passages[i];
        let mut r = relevance[i];
        if wants_steps && steps[i] {
            r += STEPS_BONUS;
        }
        if titled && p.heading.is_empty() && p.ordinal == 0 {
            r -= INTRO_PENALTY;
        }
        r
    };
    let mut order: Vec<usize> = (0..passages.len()).collect();
    order.sort_by(|&a, &b| rating(b).total_cmp(&rating(a)).then(a.cmp(&b)));
    let first = order[0];
    let mut chosen = vec![first];
    if max > 1
        && let Some(&second) = order[1..]
            .iter()
            .find(|&&i| relevance[i] >= SECOND_AT_LEAST * relevance[first] && relevance[i] > 0.0)
    {
        chosen.push(second);
    }
    chosen
}

/// Composes a reply from the best article, or the holding reply when
/// nothing matched or retrieval found nothing that may answer.
pub fn compose(hits: &[ArticleHit], ask: &Ask) -> Generated {
    let holding = || Generated {
        body: format!("{}\n\n{}", ask.phrases.greeting, ask.phrases.no_answer),
        citations: vec![],
        generator: GENERATOR.into(),
        quoted: vec![],
        missing_steps: false,
    };
    let Some(best) = hits.first().filter(|_| ask.answerable) else {
        return holding();
    };
    let mut chosen = choose(&best.passages, ask.wants_steps, ask.max_passages);
    // The citation's snippet is the section that matched best.
    let Some(&cited) = chosen.first() else {
        return holding();
    };
    // A second section that does not fit whole is left out rather than cut.
    let whole: usize = chosen
        .iter()
        .map(|&i| quoted_text(&best.passages[i]).chars().count())
        .sum();
    if whole > ask.max_chars {
        chosen.truncate(1);
    }
    chosen.sort_by_key(|&i| best.passages[i].ordinal);
    let mut quoted = Vec::new();
    let mut steps_whole = false;
    for &i in &chosen {
        let p = &best.passages[i];
        let text = quoted_text(p);
        let clipped = clip(&text, ask.max_chars);
        if has_steps(&p.text) && clipped == text {
            steps_whole = true;
        }
        quoted.push(clipped);
    }
    let article_has_steps = best.passages.iter().any(|p| has_steps(&p.text));
    let link = if best.url.is_empty() {
        format!("\"{}\"", best.title)
    } else {
        format!("{} — {}", best.title, best.url)
    };
    // An article for some devices only says which, before its steps.
    let lead_in = match best.applies_to.devices() {
        Some(device) => format!(
            "{}\n\n{}",
            ask.phrases.lead_in,
            ask.phrases.device_line.replace("{device}", &device)
        ),
        None => ask.phrases.lead_in.clone(),
    };
    let body = format!(
        "{}\n\n{}\n\n{}\n\n{} {}",
        ask.phrases.greeting,
        lead_in,
        quoted.join("\n\n"),
        ask.phrases.more_info,
        link
    );
    Generated {
        body,
        citations: vec![citation(best, &best.passages[cited])],
        generator: GENERATOR.into(),
        quoted: chosen.iter().map(|&i| best.passages[i].ordinal).collect(),
        missing_steps: ask.wants_steps && article_has_steps && !steps_whole,
    }
}

#[cfg(test)]
mod tests;
