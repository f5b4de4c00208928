//! Per-segment tables a search needs for every scored passage: which article
//! it belongs to (id and grouping key) and its locale. Built once per segment
//! from the `article_id` and `locale` fast fields by a tantivy [`Warmer`]
//! when the reader loads a new generation, and dropped with the segments;
//! reading fast-field dictionaries during a search costs far more.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocId, Searcher, SearcherGeneration, SegmentReader, TantivyError, Warmer};

/// No article or locale recorded for a document.
const NONE: u32 = u32::MAX;

/// The articles and locales of one segment's documents.
#[derive(Debug, Default)]
pub struct SegmentArticles {
    /// Per document: its article's index in `keys` and `ids`.
    article: Vec<u32>,
    keys: Vec<u64>,
    ids: Vec<Arc<str>>,
    /// Per document: its locale's index in `locales`.
    locale: Vec<u32>,
    locales: Vec<Box<str>>,
}

impl SegmentArticles {
    fn build(segment: &SegmentReader) -> tantivy::Result<SegmentArticles> {
        let (article, ids) = ordinals(segment, "article_id")?;
        let ids: Vec<Arc<str>> = ids.into_iter().map(Arc::from).collect();
        let (locale, locales) = ordinals(segment, "locale")?;
        let keys = ids.iter().map(|id| article_key(id)).collect();
        Ok(SegmentArticles {
            article,
            keys,
            ids,
            locale,
            locales,
        })
    }

    /// The grouping key of the document's article.
    pub fn key(&self, doc: DocId) -> Option<u64> {
        self.article_index(doc).map(|i| self.keys[i])
    }

    /// The document's article id.
    pub fn id(&self, doc: DocId) -> Option<Arc<str>> {
        self.article_index(doc).map(|i| self.ids[i].clone())
    }

    fn article_index(&self, doc: DocId) -> Option<usize> {
        match self.article.get(doc as usize) {
            Some(&i) if i != NONE => Some(i as usize),
            _ => None,
        }
    }

    /// The locale's index for [`SegmentArticles::locale_of`], or None when no
    /// document of the segment has that locale.
    pub fn locale_index(&self, locale: &str) -> Option<u32> {
        self.locales
            .iter()
            .position(|l| &**l == locale)
            .map(|i| i as u32)
    }

    pub fn locale_of(&self, doc: DocId) -> u32 {
        self.locale.get(doc as usize).copied().unwrap_or(NONE)
    }
}

/// Per document the ordinal of its value in a string fast field, and the values by ordinal.
fn ordinals(segment: &SegmentReader, field: &str) -> tantivy::Result<(Vec<u32>, Vec<Box<str>>)> {
    let max_doc = segment.max_doc();
    let Some(column) = segment.fast_fields().str(field)? else {
        return Ok((vec![NONE; max_doc as usize], vec![]));
    };
    let values = dictionary(&column)?;
    let per_doc = (0..max_doc)
        .map(|doc| {
            column
                .term_ords(doc)
                .next()
                .and_then(|ord| u32::try_from(ord).ok())
                .unwrap_or(NONE)
        })
        .collect();
    Ok((per_doc, values))
}

fn dictionary(column: &StrColumn) -> tantivy::Result<Vec<Box<str>>> {
    let mut out = Vec::with_capacity(column.num_terms());
    let mut stream = column.dictionary().stream()?;
    while stream.advance() {
        let value = std::str::from_utf8(stream.key())
            .map_err(|e| TantivyError::InternalError(format!("fast field is not UTF-8: {e}")))?;
        out.push(value.into());
    }
    Ok(out)
}

/// The grouping key of an article id: the first 8 bytes of its SHA-256
/// (two ids colliding is negligible at any help center's size).
fn article_key(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

/// The tables of every live segment.
#[derive(Default)]
pub struct SegmentCache {
    by_segment: RwLock<HashMap<SegmentId, Arc<SegmentArticles>>>,
}

impl SegmentCache {
    /// The tables of a segment, built now if the warmer has not.
    pub fn get(&self, segment: &SegmentReader) -> tantivy::Result<Arc<SegmentArticles>> {
        let id = segment.segment_id();
        if let Some(found) = self.read().get(&id) {
            return Ok(found.clone());
        }
        let built = Arc::new(SegmentArticles::build(segment)?);
        self.write().insert(id, built.clone());
        Ok(built)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SegmentId, Arc<SegmentArticles>>> {
        self.by_segment
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SegmentId, Arc<SegmentArticles>>> {
        self.by_segment
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Warmer for SegmentCache {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for segment in searcher.segment_readers() {
            self.get(segment)?;
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        self.write().retain(|id, _| {
            live_generations
                .iter()
                .any(|g| g.segments().contains_key(id))
        });
    }
}
