//! Reading one article's passages back from the index, for an article that
//! semantic search found and lexical search did not.

use super::{ArticleHit, PassageHit, Result, SearchIndex};
use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

/// Passages of a semantic-only hit handed on: its best, then the next ones in article order.
const PASSAGES: usize = 3;

impl SearchIndex {
    /// The article `article_id` as a hit whose best passage is `best_ordinal`
    /// (lexical score 0 and no coverage: no query term matched it); None when
    /// it is not indexed.
    pub fn article_hit(&self, article_id: &str, best_ordinal: u64) -> Result<Option<ArticleHit>> {
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(f.article_id, article_id),
            IndexRecordOption::Basic,
        );
        let mut docs: Vec<TantivyDocument> = searcher
            .search(&query, &DocSetCollector)?
            .into_iter()
            .map(|address| searcher.doc(address))
            .collect::<tantivy::Result<_>>()?;
        let text = |doc: &TantivyDocument, field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let ordinal = |doc: &TantivyDocument| {
            doc.get_first(f.ordinal)
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
        };
        // The best passage first, then the ones after it, then the ones before.
        docs.sort_by_key(|d| {
            let o = ordinal(d);
            (o < best_ordinal, o)
        });
        let Some(first) = docs.first() else {
            return Ok(None);
        };
        let hit = ArticleHit {
            article_id: text(first, f.article_id),
            version: first
                .get_first(f.version)
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            locale: text(first, f.locale),
            title: text(first, f.title),
            url: text(first, f.url),
            score: 0.0,
            passages: docs
                .iter()
                .take(PASSAGES)
                .map(|d| PassageHit {
                    heading: text(d, f.heading),
                    text: text(d, f.text),
                    ordinal: ordinal(d),
                    score: 0.0,
                    cosine: None,
                })
                .collect(),
            coverage: 0.0,
            applies_to: super::applies_to_of(&text(first, f.applies_to)),
            cosine: None,
        };
        Ok(Some(hit))
    }
}
