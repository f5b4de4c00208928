//! The built-in drafter: quotes the best article's most relevant passages in
//! the reply's language, with a greeting and a link. No LLM needed.

use super::phrases::Phrases;
use crate::knowledge::{ArticleHit, PassageHit};
use crate::model::Citation;

pub const GENERATOR: &str = "extractive";
const SNIPPET_CHARS: usize = 240;

/// A reply and the articles it is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub body: String,
    pub citations: Vec<Citation>,
    pub generator: String,
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

/// Composes a reply from the best article, or a holding reply when nothing matched.
pub fn compose(
    hits: &[ArticleHit],
    phrases: &Phrases,
    max_passages: usize,
    max_chars: usize,
) -> Generated {
    let Some(best) = hits.first() else {
        return Generated {
            body: format!("{}\n\n{}", phrases.greeting, phrases.no_answer),
            citations: vec![],
            generator: GENERATOR.into(),
        };
    };
    // The highest-scoring passages, quoted in the article's own order.
    let mut chosen: Vec<&PassageHit> = best.passages.iter().take(max_passages).collect();
    chosen.sort_by_key(|p| p.ordinal);
    let mut budget = max_chars;
    let mut quoted = Vec::new();
    for p in chosen {
        if budget < 80 {
            break;
        }
        let mut text = String::new();
        if !p.heading.is_empty() && !p.text.starts_with(&p.heading) {
            text.push_str(&p.heading);
            text.push('\n');
        }
        text.push_str(&p.text);
        let text = clip(&text, budget);
        budget = budget.saturating_sub(text.chars().count());
        quoted.push(text);
    }
    let link = if best.url.is_empty() {
        format!("\"{}\"", best.title)
    } else {
        format!("{} — {}", best.title, best.url)
    };
    let body = format!(
        "{}\n\n{}\n\n{}\n\n{} {}",
        phrases.greeting,
        phrases.lead_in,
        quoted.join("\n\n"),
        phrases.more_info,
        link
    );
    Generated {
        body,
        citations: vec![citation(best, &best.passages[0])],
        generator: GENERATOR.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drafting::phrases::for_locale;

    fn hit() -> ArticleHit {
        ArticleHit {
            article_id: "en/backup".into(),
            version: 3,
            locale: "en".into(),
            title: "Back up your chats".into(),
            url: "https://help.example/en/backup".into(),
            score: 5.0,
            passages: vec![
                PassageHit {
                    heading: "Steps".into(),
                    text: "1. Open Settings.\n2. Tap Back up.".into(),
                    ordinal: 2,
                    score: 5.0,
                },
                PassageHit {
                    heading: String::new(),
                    text: "Backups keep your chats safe.".into(),
                    ordinal: 0,
                    score: 3.0,
                },
            ],
            coverage: 1.0,
            cosine: None,
        }
    }

    #[test]
    fn reply_greets_quotes_the_steps_and_links_the_article() {
        let g = compose(&[hit()], for_locale("en"), 2, 1200);
        assert!(g.body.starts_with("Hi"));
        assert!(g.body.contains("1. Open Settings.\n2. Tap Back up."));
        assert!(g.body.contains("https://help.example/en/backup"));
        // article order: the intro comes before the steps
        assert!(g.body.find("Backups keep").unwrap() < g.body.find("1. Open").unwrap());
        assert_eq!(g.citations.len(), 1);
        assert_eq!(g.citations[0].version, 3);
        assert_eq!(g.generator, "extractive");
    }

    #[test]
    fn nothing_found_gives_a_holding_reply_without_citations() {
        let g = compose(&[], for_locale("it"), 2, 1200);
        assert!(g.body.starts_with("Ciao"));
        assert!(g.citations.is_empty());
    }

    #[test]
    fn clip_prefers_line_ends() {
        assert_eq!(clip("one line\nsecond line that is long", 15), "one line");
        assert_eq!(clip("short", 15), "short");
    }
}
