//! The read side of the index: a query's terms are scored over the passages
//! of its language ([`crate::knowledge::scoring`]), the passages grouped into
//! articles by the fast-field article key, and stored passages read only for
//! the articles returned; [`SearchIndex::rank`] reads none.

use super::{
    ArticleHit, Hits, LangFields, PassageHit, RankedArticle, Ranking, Result, SearchIndex,
};
use crate::knowledge::lang;
use crate::knowledge::scoring::{self, Candidate, Scored};
use crate::knowledge::segments::SegmentArticles;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use tantivy::postings::Postings;
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, DocSet, Searcher, TantivyDocument, Term};

impl SearchIndex {
    /// The query's distinct analyzed terms and the fields of its language.
    pub(super) fn analyze(&self, query: &str, locale: &str) -> (Vec<String>, LangFields) {
        let key = lang::analyzer_key(locale);
        let mut terms: Vec<String> = Vec::new();
        for t in lang::analyze(key, query) {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        (terms, self.fields.by_lang[key])
    }

    /// Scores the passages; `first` of the best are read before any other.
    fn score(
        &self,
        searcher: &Searcher,
        terms: &[String],
        lf: LangFields,
        first: usize,
    ) -> Result<Scored> {
        Ok(scoring::score(
            searcher,
            [lf.title, lf.body, lf.article],
            terms,
            &self.scoring,
            first,
        )?)
    }

    /// Passages kept apart as the likely best when grouping into `limit`
    /// articles: long articles have several.
    fn first_read(limit: usize, window: usize) -> usize {
        2 * (limit + window)
    }

    /// The article tables of every segment of the searcher, in segment order.
    fn tables(&self, searcher: &Searcher) -> Result<Vec<Arc<SegmentArticles>>> {
        Ok(searcher
            .segment_readers()
            .iter()
            .map(|segment| self.segments.get(segment))
            .collect::<tantivy::Result<_>>()?)
    }

    /// The best `limit` articles of `locale` among the scored passages, each
    /// with its best passage. With `window` > 0 at least that many passages
    /// are read, and the returned articles' other passages among them are kept.
    fn group(
        &self,
        searcher: &Searcher,
        tables: &[Arc<SegmentArticles>],
        scored: &mut Scored,
        locale: &str,
        limit: usize,
        window: usize,
    ) -> Vec<Group> {
        // Supported languages have fields of their own; the generic analyzer's
        // fields are shared by every other locale, so those are checked.
        let check_locale = lang::analyzer_key(locale) == lang::GENERIC;
        let wanted: Vec<Option<Option<u32>>> = tables
            .iter()
            .map(|t| check_locale.then(|| t.locale_index(locale)))
            .collect();
        let segments = searcher.segment_readers();
        let mut groups: Vec<Group> = Vec::with_capacity(limit.min(1024));
        let mut read = 0usize;
        let mut by_key: HashMap<u64, usize, BuildHasherDefault<KeyHasher>> =
            HashMap::with_capacity_and_hasher(limit.min(1024), Default::default());
        scored.best_first(limit + window, |c| {
            let table = &tables[c.segment as usize];
            let alive = segments[c.segment as usize]
                .alive_bitset()
                .is_none_or(|alive| alive.is_alive(c.doc));
            let in_locale = match wanted[c.segment as usize] {
                None => true,
                Some(wanted) => wanted == Some(table.locale_of(c.doc)),
            };
            // Every passage has an article; one without is skipped like a deleted one.
            let Some(key) = table.key(c.doc).filter(|_| alive && in_locale) else {
                return true;
            };
            read += 1;
            match by_key.get(&key) {
                Some(&i) if window > 0 => groups[i].others.push(*c),
                Some(_) => {}
                None if groups.len() < limit => {
                    by_key.insert(key, groups.len());
                    groups.push(Group {
                        best: *c,
                        others: vec![],
                    });
                }
                None => {}
            }
            // Enough once `limit` articles are found and `window` passages read.
            groups.len() < limit || read < window
        });
        groups
    }

    /// The best articles for `query` among the articles of `locale`, ids and
    /// scores only: nothing is read from the document store.
    pub fn rank(&self, query: &str, locale: &str, limit: usize) -> Result<Ranking> {
        let (query_terms, lf) = self.analyze(query, locale);
        if query_terms.is_empty() || limit == 0 {
            return Ok(Ranking {
                articles: vec![],
                query_terms,
            });
        }
        let searcher = self.reader.searcher();
        let mut scored = self.score(&searcher, &query_terms, lf, Self::first_read(limit, 0))?;
        let tables = self.tables(&searcher)?;
        let groups = self.group(&searcher, &tables, &mut scored, locale, limit, 0);
        let articles = groups
            .into_iter()
            .map(|g| RankedArticle {
                article_id: tables[g.best.segment as usize]
                    .id(g.best.doc)
                    .unwrap_or_else(|| Arc::from("")),
                score: g.best.score,
            })
            .collect();
        Ok(Ranking {
            articles,
            query_terms,
        })
    }

    /// The best articles for `query` among the articles of `locale`, with
    /// their best passages and the coverage of the query.
    pub fn search(&self, query: &str, locale: &str, limit: usize) -> Result<Hits> {
        let (query_terms, lf) = self.analyze(query, locale);
        let key = lang::analyzer_key(locale);
        if query_terms.is_empty() || limit == 0 {
            return Ok(Hits {
                articles: vec![],
                query_terms,
            });
        }
        let searcher = self.reader.searcher();
        // Passages read beyond the first of each article: the runners-up of the
        // returned articles are kept for the drafters.
        let window = limit * 2 + 8;
        let first = Self::first_read(limit, window);
        let mut scored = self.score(&searcher, &query_terms, lf, first)?;
        let tables = self.tables(&searcher)?;
        let groups = self.group(&searcher, &tables, &mut scored, locale, limit, window);

        // IDF per query term over this locale's passages, for coverage.
        let n = searcher
            .doc_freq(&Term::from_field_text(self.fields.locale, locale))?
            .max(1) as f64;
        let idf: Vec<f64> = scored
            .doc_freq
            .iter()
            .map(|df| {
                let df = df[0].max(df[1]) as f64;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        let idf_total: f64 = idf.iter().sum();

        let mut articles = Vec::with_capacity(groups.len());
        for g in groups {
            let doc: TantivyDocument = searcher.doc(DocAddress::new(g.best.segment, g.best.doc))?;
            let text_of = |doc: &TantivyDocument, field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let passage_of = |doc: &TantivyDocument, score| PassageHit {
                heading: text_of(doc, self.fields.heading),
                text: text_of(doc, self.fields.text),
                ordinal: doc
                    .get_first(self.fields.ordinal)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                score,
                cosine: None,
            };
            let tags = lang::analyze(key, &text_of(&doc, self.fields.tags));
            let mut covered = 0.0;
            for (t, term) in query_terms.iter().enumerate() {
                let in_tags = tags.iter().filter(|x| *x == term).count() as u32;
                let in_title = term_freq(&searcher, &scored, lf.title, 0, t, &g.best)?;
                let in_body = term_freq(&searcher, &scored, lf.body, 1, t, &g.best)?;
                // The body field ends with the article's tags; those do not count.
                if in_title > 0 || in_body > in_tags {
                    covered += idf[t];
                }
            }
            let mut passages = vec![passage_of(&doc, g.best.score)];
            for c in &g.others {
                let other: TantivyDocument = searcher.doc(DocAddress::new(c.segment, c.doc))?;
                passages.push(passage_of(&other, c.score));
            }
            articles.push(ArticleHit {
                article_id: text_of(&doc, self.fields.article_id),
                version: doc
                    .get_first(self.fields.version)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                locale: text_of(&doc, self.fields.locale),
                title: text_of(&doc, self.fields.title),
                url: text_of(&doc, self.fields.url),
                applies_to: super::applies_to_of(&text_of(&doc, self.fields.applies_to)),
                score: g.best.score,
                passages,
                coverage: if idf_total > 0.0 {
                    covered / idf_total
                } else {
                    0.0
                },
                cosine: None,
            });
        }
        Ok(Hits {
            articles,
            query_terms,
        })
    }
}

/// Hashes article keys, which are already uniformly distributed, as themselves.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// An article among the scored passages.
struct Group {
    best: Candidate,
    /// Its other passages among those read, best first (full searches only).
    others: Vec<Candidate>,
}

/// How often query term `term` occurs in field `field` (index `slot` in the
/// scored fields) of the candidate passage.
fn term_freq(
    searcher: &Searcher,
    scored: &Scored,
    field: Field,
    slot: usize,
    term: usize,
    c: &Candidate,
) -> Result<u32> {
    let Some(p) = scored
        .postings
        .iter()
        .find(|p| p.segment == c.segment && p.field == slot && p.term == term)
    else {
        return Ok(0);
    };
    let inverted = searcher.segment_readers()[c.segment as usize].inverted_index(field)?;
    let mut postings =
        inverted.read_postings_from_terminfo(&p.info, IndexRecordOption::WithFreqs)?;
    // `seek` only moves forward: a list starting after the passage misses it.
    Ok(
        if postings.doc() <= c.doc && postings.seek(c.doc) == c.doc {
            postings.term_freq()
        } else {
            0
        },
    )
}
