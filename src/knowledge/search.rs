//! Retrieval: searching the index in the query's language, off the async
//! runtime, timed in `replygate_retrieval_seconds`.

use super::index::{self, Hits};
use super::{Knowledge, Result, blocking, lang};
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

/// Search results and the language they were searched in.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub locale: String,
    pub hits: Hits,
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

    /// Searches the articles of `locale` (or of the default locale when it has none).
    pub async fn search_in(
        &self,
        query: &str,
        locale: &str,
        limit: usize,
    ) -> Result<SearchResults> {
        let index = self.index.clone();
        let query = query.to_string();
        let locale = locale.to_string();
        let default = self.default_locale.clone();
        let started = Instant::now();
        let results = blocking(move || {
            let locale = if index.passages_in(&locale)? == 0 {
                default
            } else {
                locale
            };
            let hits = index.search(&query, &locale, limit)?;
            Ok::<_, index::IndexError>(SearchResults { locale, hits })
        })
        .await?;
        SEARCH_SECONDS.observe(started.elapsed().as_secs_f64());
        Ok(results)
    }
}
