//! Stage "retrieve": the articles that may answer the question, best first,
//! each with what drafting knows of its passages (line terms, planted
//! instructions, what a reply written from them may say).
//!
//! Semantic retrieval and the answer memory join the pipeline here: they
//! bring more candidates and signals into [`Retrieved`], and the stages after
//! this one read only [`Retrieved`].

use super::confidence::LineMatch;
use super::passages::{ArticleFacts, FactsCache, PassageFacts};
use super::policy::Policy;
use crate::knowledge::{self, ArticleHit, Knowledge, PassageHit, SearchResults, lang};

/// What retrieval found for one question.
pub struct Retrieved {
    /// The articles' language (the customer's, or the default one when no
    /// article is written in the customer's).
    pub locale: String,
    /// The articles, best first.
    pub articles: Vec<ArticleHit>,
    /// The question's distinct analyzed terms.
    pub query_terms: Vec<String>,
    /// What drafting knows of each article, in the order of `articles`.
    pub facts: Vec<ArticleFacts>,
    /// With embeddings: what the semantic side says of the question.
    pub semantic: Option<crate::knowledge::hybrid::Evidence>,
}

/// A retrieved passage handed to a writer, with its article and what
/// drafting knows of its terms (the article title's, then its own).
#[derive(Clone, Copy)]
pub struct Given<'a> {
    pub hit: &'a ArticleHit,
    pub passage: &'a PassageHit,
    pub facts: [&'a PassageFacts; 2],
}

/// What retrieval looks for: the masked question, its embedding (if any),
/// its language, and the device the customer writes from.
pub struct Question<'a> {
    pub text: &'a str,
    pub vector: Option<Vec<f32>>,
    pub locale: &'a str,
    pub device: crate::device::Device,
}

/// Searches the help center in `locale` for `query` (masked; `vector` its
/// embedding, if any) and reads the facts of what it finds.
pub async fn retrieve(
    knowledge: &Knowledge,
    facts: &FactsCache,
    policy: &Policy,
    question: Question<'_>,
    top_articles: usize,
) -> Result<Retrieved, knowledge::Error> {
    let SearchResults {
        locale,
        hits,
        semantic,
    } = knowledge
        .search_with(
            question.text,
            question.vector,
            question.locale,
            top_articles,
            &question.device,
        )
        .await?;
    let facts = super::metrics::stage("facts", || {
        hits.articles
            .iter()
            .map(|hit| facts.article(hit, &hit.locale, policy))
            .collect()
    });
    Ok(Retrieved {
        locale,
        articles: hits.articles,
        query_terms: hits.query_terms,
        facts,
        semantic,
    })
}

impl Retrieved {
    /// The analyzer of the articles' language.
    pub fn analyzer_key(&self) -> &'static str {
        lang::analyzer_key(&self.locale)
    }

    /// The closest line (see [`LineMatch`]) of the article at `rank` (0:
    /// the best), among the passages the question's words found.
    pub fn closest_line(&self, rank: usize) -> LineMatch {
        let (Some(facts), Some(hit)) = (self.facts.get(rank), self.articles.get(rank)) else {
            return LineMatch::default();
        };
        facts.closest_line(&self.query_terms, |i| {
            hit.passages.get(i).is_some_and(|p| p.score > 0.0)
        })
    }

    /// The ids of the retrieved articles, best first.
    pub fn article_ids(&self) -> Vec<String> {
        self.articles.iter().map(|h| h.article_id.clone()).collect()
    }

    /// The best passages of all the articles, by score, at most `max`.
    pub fn best_passages(&self, max: usize) -> Vec<Given<'_>> {
        let mut given: Vec<Given> = self
            .articles
            .iter()
            .zip(&self.facts)
            .flat_map(|(hit, facts)| given_of(hit, facts))
            .collect();
        given.sort_by(|a, b| b.passage.score.total_cmp(&a.passage.score));
        given.truncate(max);
        given
    }

    /// Every passage retrieved of the best article, in retrieval order.
    pub fn best_article(&self) -> Vec<Given<'_>> {
        match (self.articles.first(), self.facts.first()) {
            (Some(hit), Some(facts)) => given_of(hit, facts).collect(),
            _ => Vec::new(),
        }
    }
}

fn given_of<'a>(
    hit: &'a ArticleHit,
    facts: &'a ArticleFacts,
) -> impl Iterator<Item = Given<'a>> + 'a {
    hit.passages
        .iter()
        .zip(&facts.passages)
        .map(move |(passage, pf)| Given {
            hit,
            passage,
            facts: [&*facts.title, &**pf],
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicyConfig;

    fn passage(ordinal: u64, score: f32, text: &str) -> PassageHit {
        PassageHit {
            ordinal,
            heading: String::new(),
            text: text.into(),
            score,
            cosine: None,
        }
    }

    fn article(id: &str, passages: Vec<PassageHit>) -> ArticleHit {
        ArticleHit {
            article_id: id.into(),
            version: 1,
            title: format!("Backups {id}"),
            url: String::new(),
            applies_to: Default::default(),
            locale: "en".into(),
            score: passages.iter().map(|p| p.score).fold(0.0, f32::max),
            passages,
            coverage: 0.5,
            cosine: None,
        }
    }

    fn retrieved(articles: Vec<ArticleHit>) -> Retrieved {
        let cache = FactsCache::default();
        let policy = Policy::new(&PolicyConfig::default());
        let facts = articles
            .iter()
            .map(|a| cache.article(a, "en", &policy))
            .collect();
        Retrieved {
            locale: "en".into(),
            query_terms: vec!["backup".into(), "restor".into()],
            articles,
            facts,
            semantic: None,
        }
    }

    #[test]
    fn the_best_passages_come_from_every_article_by_score() {
        let r = retrieved(vec![
            article("a", vec![passage(0, 3.0, "one"), passage(1, 1.0, "two")]),
            article("b", vec![passage(0, 2.0, "three")]),
        ]);
        let best: Vec<(&str, u64)> = r
            .best_passages(2)
            .iter()
            .map(|g| (g.hit.article_id.as_str(), g.passage.ordinal))
            .collect();
        assert_eq!(best, vec![("a", 0), ("b", 0)]);
        assert_eq!(r.best_article().len(), 2);
        assert_eq!(r.article_ids(), vec!["a", "b"]);
    }

    #[test]
    fn each_given_passage_carries_its_own_facts_and_its_title_s() {
        let r = retrieved(vec![article(
            "a",
            vec![passage(0, 1.0, "Restore a backup from the cloud")],
        )]);
        let given = r.best_article();
        let title_terms = given[0].facts[0].lines.concat();
        let passage_terms = given[0].facts[1].lines.concat();
        assert!(
            title_terms.iter().any(|t| t.starts_with("backup")),
            "{title_terms:?}"
        );
        assert!(
            passage_terms.iter().any(|t| t.starts_with("restor")),
            "{passage_terms:?}"
        );
        assert!(r.closest_line(0).recall > 0.0);
        assert_eq!(r.closest_line(5), LineMatch::default());
    }

    #[test]
    fn nothing_retrieved_gives_nothing_to_write_from() {
        let r = retrieved(vec![]);
        assert!(r.best_article().is_empty());
        assert!(r.best_passages(4).is_empty());
    }
}
