//! Retrieval: searching the index in the query's language, off the async
//! runtime, timed in `replygate_retrieval_seconds`.

use super::index::{self, Hits};
use super::{Knowledge, Result, blocking, hybrid, lang};
use crate::device::Device;
use crate::validate;
use std::sync::LazyLock;
use std::time::Instant;

static SEARCH_SECONDS: LazyLock<prometheus::Histogram> = LazyLock::new(|| {
    prometheus::register_histogram!(
        "replygate_retrieval_seconds",
        "Time to search the knowledge index",
        vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0
        ]
    )
    .unwrap()
});

/// Articles lexical search hands to the hybrid ranking, at least.
const LEXICAL_CANDIDATES: usize = 10;

/// Search results and the language they were searched in.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub locale: String,
    pub hits: Hits,
    /// With embeddings: what the semantic side says of the question.
    pub semantic: Option<hybrid::Evidence>,
}

impl Knowledge {
    /// Searches in the query's language (the hint when the text is unclear),
    /// falling back to the default locale when that language has no articles.
    /// `limit` 0 means 5.
    pub async fn search(
        &self,
        query: &str,
        locale_hint: Option<&str>,
        limit: u32,
    ) -> Result<SearchResults> {
        let l = &self.limits;
        validate::prose("query", query, l.max_query_bytes, true)?;
        validate::at_most("limit", u64::from(limit), u64::from(l.max_search_limit))?;
        let limit = if limit == 0 { 5 } else { limit as usize };
        let hint = locale_hint
            .map(|h| validate::locale("locale", h))
            .transpose()?;
        let detection = lang::detect(query, hint.as_deref(), &self.default_locale);
        self.search_in(query, &detection.locale, limit).await
    }

    /// Searches the articles of `locale` (or of the default locale when it
    /// has none); with embeddings, semantically too, in that locale and the
    /// default one, and ranks by both (see [`super::hybrid`]).
    pub async fn search_in(
        &self,
        query: &str,
        locale: &str,
        limit: usize,
    ) -> Result<SearchResults> {
        let vector = self.embed_query(query).await;
        self.search_with(query, vector, locale, limit, &Device::default())
            .await
    }

    /// Like [`Knowledge::search_in`], with the question's vector already
    /// made ([`Knowledge::embed_query`]; None: lexically only).
    /// Articles for other devices than `device` (as far as it is known) are
    /// passed over.
    pub async fn search_with(
        &self,
        query: &str,
        vector: Option<Vec<f32>>,
        locale: &str,
        limit: usize,
        device: &Device,
    ) -> Result<SearchResults> {
        let device = device.clone();
        let started = Instant::now();
        let index = self.index.clone();
        let dense = self
            .semantic
            .as_ref()
            .filter(|s| s.is_ready())
            .map(|s| s.dense.clone());
        let query = query.to_string();
        let locale = locale.to_string();
        let default = self.default_locale.clone();
        let fusion = self.fusion;
        let results = blocking(move || {
            let locale = if index.passages_in(&locale)? == 0 {
                default.clone()
            } else {
                locale
            };
            let filtering = index.has_device_rules() && device != Device::default();
            let (Some(dense), Some(vector)) = (dense, vector) else {
                let mut hits = if filtering {
                    let mut hits = index.search(&query, &locale, limit.max(LEXICAL_CANDIDATES))?;
                    hits.articles.retain(|h| index.fits(&h.article_id, &device));
                    hits.articles.truncate(limit);
                    hits
                } else {
                    index.search(&query, &locale, limit)?
                };
                if let Some(best) = hits.articles.first_mut() {
                    complete_best(&index, best)?;
                }
                return Ok::<_, index::IndexError>(SearchResults {
                    locale,
                    hits,
                    semantic: None,
                });
            };
            let mut lexical = index.search(&query, &locale, limit.max(LEXICAL_CANDIDATES))?;
            let mut near = dense.search(&vector, usize::MAX, |l| l == locale || l == default);
            if filtering {
                lexical
                    .articles
                    .retain(|h| index.fits(&h.article_id, &device));
                near.retain(|h| index.fits(&h.article_id, &device));
            }
            let ranked: Vec<hybrid::Lexical> = lexical
                .articles
                .iter()
                .map(|h| (h.article_id.clone(), h.score, h.coverage))
                .collect();
            let mut by_id: std::collections::HashMap<String, index::ArticleHit> = lexical
                .articles
                .into_iter()
                .map(|h| (h.article_id.clone(), h))
                .collect();
            let mut articles: Vec<index::ArticleHit> = Vec::with_capacity(limit);
            let fused = hybrid::fuse(&ranked, &near, &locale, fusion);
            let semantic = hybrid::Evidence::of(&ranked, &near, &fused);
            for f in fused {
                if articles.len() == limit {
                    break;
                }
                let hit = match by_id.remove(&f.article_id) {
                    Some(hit) => Some(hit),
                    None => match f.dense {
                        Some((_, ordinal)) => index.article_hit(&f.article_id, ordinal)?,
                        None => None,
                    },
                };
                if let Some(mut hit) = hit {
                    hit.cosine = f.dense.map(|(cosine, _)| cosine);
                    articles.push(hit);
                }
            }
            if let Some(best) = articles.first_mut() {
                complete_best(&index, best)?;
                let cosines = dense.passage_cosines(&best.article_id, &vector);
                for p in &mut best.passages {
                    p.cosine = cosines
                        .iter()
                        .find(|(o, _)| *o == p.ordinal)
                        .map(|(_, c)| *c);
                }
            }
            Ok(SearchResults {
                locale,
                hits: Hits {
                    articles,
                    query_terms: lexical.query_terms,
                },
                semantic: Some(semantic),
            })
        })
        .await?;
        SEARCH_SECONDS.observe(started.elapsed().as_secs_f64());
        Ok(results)
    }
}

/// Gives the best article all its passages: those the question's words
/// found first, as ranked, then the others in the article's order (score 0),
/// so that a drafter can quote the section that answers even when it
/// shares no word with the question (the steps under "Steps to change your
/// number" for "how do I switch to my new SIM?").
fn complete_best(
    index: &super::index::SearchIndex,
    best: &mut super::index::ArticleHit,
) -> std::result::Result<(), index::IndexError> {
    let Some(first) = best.passages.first().map(|p| p.ordinal) else {
        return Ok(());
    };
    let Some(all) = index.article_hit(&best.article_id, first)? else {
        return Ok(());
    };
    let mut rest: Vec<index::PassageHit> = all
        .passages
        .into_iter()
        .filter(|p| !best.passages.iter().any(|b| b.ordinal == p.ordinal))
        .collect();
    rest.sort_by_key(|p| p.ordinal);
    best.passages.extend(rest);
    Ok(())
}
