//! The help center: articles (Markdown + front matter), the folder sync, the
//! knowledge RPCs' domain, and retrieval for drafting. The store holds the
//! articles; the tantivy index is a cache of them, updated in the same call
//! as the store so a change is searchable when the call returns. Changes
//! other replicas commit reach this index through `follow`.

pub mod index;
pub mod lang;
pub mod parse;
pub mod scoring;
mod segments;

use crate::config::{Config, Limits};
use crate::model::{Article, Millis, now_ms};
use crate::storage::{self, ArticleWrite, DynStore, StoreEvent};
use crate::validate;
pub use index::{ArticleHit, Hits, PassageHit};
use index::{Change, SearchIndex};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// How often `follow` compares every stored version with the index, in case
/// a change notification was lost.
const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// The audit trail's actor for changes made by the knowledge-folder sync.
pub const FOLDER_ACTOR: &str = "folder-sync";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    #[error("article {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    validate::invalid(field, message).into()
}

static INDEXED_ARTICLES: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "replygate_knowledge_passages",
        "Passages in the search index"
    )
    .unwrap()
});
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

/// An article as written by a content team, before it is versioned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArticleInput {
    pub id: String,
    pub locale: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub url: String,
}

/// What a folder sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Files that could not be loaded, each with "path:line: message".
    pub errors: Vec<String>,
}

/// Search results and the language they were searched in.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub locale: String,
    pub hits: Hits,
}

pub struct Knowledge {
    store: DynStore,
    index: Arc<SearchIndex>,
    /// Serializes writers so the index applies changes in the store's order.
    write_lock: tokio::sync::Mutex<()>,
    /// article id -> version in the index; changed only under `write_lock`.
    indexed: Mutex<HashMap<String, u64>>,
    limits: Limits,
    default_locale: String,
}

/// Lowercase ASCII slug of a title ("Change your number!" -> "change-your-number").
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(100).collect()
}

fn content_hash(a: &ArticleInput) -> String {
    crate::model::article_content_hash(&a.locale, &a.title, &a.body, &a.tags, &a.url)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'))
        && !id.starts_with('/')
        && !id.contains("..")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("index task panicked")
}

impl Knowledge {
    /// Opens the index under `index_dir` and brings it up to date with the store.
    pub async fn open(store: DynStore, index_dir: &Path, config: &Config) -> Result<Knowledge> {
        let dir = index_dir.to_path_buf();
        let scoring = scoring::Bm25::from(&config.retrieval);
        let (index, indexed) = blocking(move || {
            let mut index = SearchIndex::open(&dir)?;
            index.set_scoring(scoring);
            let indexed = index.indexed_versions()?;
            Ok::<_, index::IndexError>((index, indexed))
        })
        .await?;
        let knowledge = Knowledge {
            store,
            index: Arc::new(index),
            write_lock: tokio::sync::Mutex::new(()),
            indexed: Mutex::new(indexed),
            limits: config.limits.clone(),
            default_locale: config.default_locale.clone(),
        };
        knowledge.catch_up().await?;
        Ok(knowledge)
    }

    /// Re-indexes every article whose stored version differs from the indexed one.
    pub async fn catch_up(&self) -> Result<usize> {
        let _guard = self.write_lock.lock().await;
        let mut indexed = self.indexed_versions();
        let mut stale = HashSet::new();
        for (id, version) in self.store.article_versions().await? {
            if indexed.remove(&id) != Some(version) {
                stale.insert(id);
            }
        }
        let mut changes: Vec<Change> = indexed.into_keys().map(Change::Remove).collect();
        if stale.len() <= 64 {
            for id in &stale {
                // Deleted since we listed it: the next check removes it if indexed.
                if let Some(article) = self.store.get_article(id).await? {
                    changes.push(Change::Put(article));
                }
            }
        } else {
            let mut after = String::new();
            loop {
                let page = self.store.list_articles(None, &after, 500).await?;
                let Some(last) = page.last() else { break };
                after = last.id.clone();
                changes.extend(
                    page.into_iter()
                        .filter(|a| stale.contains(&a.id))
                        .map(Change::Put),
                );
            }
        }
        let n = changes.len();
        self.apply_to_index(changes).await?;
        if n > 0 {
            tracing::info!(changes = n, "search index caught up with the store");
        }
        Ok(n)
    }

    fn indexed_versions(&self) -> HashMap<String, u64> {
        self.indexed
            .lock()
            .expect("indexed versions poisoned")
            .clone()
    }

    /// Brings one article's index entry in line with the store.
    async fn refresh(&self, id: &str) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let stored = self.store.get_article(id).await?;
        let indexed = self
            .indexed
            .lock()
            .expect("indexed versions poisoned")
            .get(id)
            .copied();
        let change = match (stored, indexed) {
            (Some(article), v) if v != Some(article.version) => Change::Put(article),
            (None, Some(_)) => Change::Remove(id.to_string()),
            _ => return Ok(()),
        };
        self.apply_to_index(vec![change]).await
    }

    /// Keeps the index in step with changes committed elsewhere (another
    /// replica, or this one): an `ArticleChanged` re-reads that article; a
    /// `Resync` or a lagging receiver compares every version; and every
    /// `RECHECK_EVERY` a full comparison catches a lost notification.
    /// Returns on shutdown.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut events = self.store.subscribe();
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        loop {
            let result = tokio::select! {
                event = events.recv() => match event {
                    Ok(StoreEvent::ArticleChanged { id }) => self.refresh(&id).await,
                    Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.catch_up().await.map(drop)
                    }
                    Ok(_) => Ok(()),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = recheck.tick() => self.catch_up().await.map(drop),
                _ = shutdown.changed() => return,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "search index could not follow the store; retrying");
            }
        }
    }

    async fn apply_to_index(&self, changes: Vec<Change>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let index = self.index.clone();
        let changes = blocking(move || {
            index.apply(&changes)?;
            INDEXED_ARTICLES.set(index.num_passages() as i64);
            Ok::<_, index::IndexError>(changes)
        })
        .await?;
        let mut indexed = self.indexed.lock().expect("indexed versions poisoned");
        for change in changes {
            match change {
                Change::Put(article) => {
                    indexed.insert(article.id, article.version);
                }
                Change::Remove(id) => {
                    indexed.remove(&id);
                }
            }
        }
        Ok(())
    }

    /// Checks an article against the limits and fills in its defaults.
    pub fn validate(&self, mut a: ArticleInput) -> Result<ArticleInput> {
        let l = &self.limits;
        a.locale = validate::locale("article.locale", &a.locale)?;
        a.title = a.title.trim().to_string();
        validate::id("article.title", &a.title, l.max_title_chars, true)?;
        validate::document("article.body", &a.body, l.max_article_bytes)?;
        validate::count("article.tags", a.tags.len(), l.max_tags, "entries")?;
        for tag in &a.tags {
            validate::line("article.tags", tag, 64)
                .map_err(|e| invalid(e.field, format!("each tag {}", e.message)))?;
        }
        validate::line("article.url", &a.url, 2048)?;
        let web_link = a.url.starts_with("https://") || a.url.starts_with("http://");
        if !a.url.is_empty() && !web_link {
            return Err(invalid(
                "article.url",
                "must start with https:// or http://",
            ));
        }
        if a.id.trim().is_empty() {
            a.id = format!("{}/{}", a.locale, slugify(&a.title));
        }
        a.id = a.id.trim().to_string();
        if a.id.chars().count() > l.max_id_chars {
            return Err(invalid(
                "article.id",
                format!("must be at most {} characters", l.max_id_chars),
            ));
        }
        if !valid_id(&a.id) {
            return Err(invalid(
                "article.id",
                "may contain only letters, digits and - _ / . (no leading / or ..)",
            ));
        }
        Ok(a)
    }

    /// Creates or replaces an article; searchable when this returns.
    /// `editor` goes to the audit trail.
    pub async fn upsert(&self, input: ArticleInput, editor: &str) -> Result<Article> {
        let input = self.validate(input)?;
        let _guard = self.write_lock.lock().await;
        let written = self.put(input, "api", editor, now_ms()).await?;
        match written {
            ArticleWrite::Unchanged(article) => Ok(article),
            ArticleWrite::Created(article) | ArticleWrite::Updated(article) => {
                self.apply_to_index(vec![Change::Put(article.clone())])
                    .await?;
                Ok(article)
            }
        }
    }

    /// `actor`: who made the change, for the audit trail (an editor, or "folder").
    async fn put(
        &self,
        input: ArticleInput,
        source: &str,
        actor: &str,
        now: Millis,
    ) -> Result<ArticleWrite> {
        let article = Article {
            content_hash: content_hash(&input),
            id: input.id,
            locale: input.locale,
            title: input.title,
            body: input.body,
            tags: input.tags,
            url: input.url,
            version: 0,
            source: source.to_string(),
            updated_at: now,
        };
        Ok(self.store.put_article(article, actor).await?)
    }

    /// Deletes an article; returns the deleted version. `editor` goes to the audit trail.
    pub async fn delete(&self, id: &str, editor: &str) -> Result<u64> {
        self.check_id(id)?;
        let _guard = self.write_lock.lock().await;
        let version = self
            .store
            .delete_article(id, now_ms(), editor)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        self.apply_to_index(vec![Change::Remove(id.to_string())])
            .await?;
        Ok(version)
    }

    fn check_id(&self, id: &str) -> Result<()> {
        Ok(validate::id("id", id, self.limits.max_id_chars, true)?)
    }

    pub async fn get(&self, id: &str) -> Result<Article> {
        self.check_id(id)?;
        self.store
            .get_article(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// A page of live articles ordered by id; the token is the last id of the previous page.
    pub async fn list(
        &self,
        locale: Option<&str>,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Article>, String)> {
        let max = self.limits.max_page_size;
        validate::at_most("page_size", u64::from(page_size), u64::from(max))?;
        let size = if page_size == 0 {
            max.min(100)
        } else {
            page_size
        };
        let locale = locale.map(|l| validate::locale("locale", l)).transpose()?;
        if page_token.len() > self.limits.max_id_chars {
            return Err(invalid("page_token", "is not a token this server issued"));
        }
        let articles = self
            .store
            .list_articles(locale.as_deref(), page_token, size)
            .await?;
        let next = if articles.len() as u32 == size {
            articles.last().map(|a| a.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((articles, next))
    }

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

    /// Brings the stored articles in line with `dir` (`<locale>/<slug>.md`):
    /// new and changed files are written, articles whose files are gone are
    /// deleted; a file that fails to parse is reported and its stored version
    /// kept. Articles created through the API are left alone.
    pub async fn sync_folder(&self, dir: &Path) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        let files = {
            let dir = dir.to_path_buf();
            // Front matter and Markdown; anything longer fails validation
            // anyway, so it is never read whole.
            let max_bytes = (self.limits.max_article_bytes + parse::MAX_FRONT_MATTER_BYTES) as u64;
            blocking(move || collect_files(&dir, max_bytes)).await
        };
        // Replicas sharing a database take turns; the later ones find it done.
        let _sync_lock = self.store.lock_folder_sync().await?;
        let _guard = self.write_lock.lock().await;
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        let now = now_ms();
        for file in files {
            let shown = file
                .path
                .strip_prefix(dir)
                .unwrap_or(&file.path)
                .display()
                .to_string();
            let default_id = format!("{}/{}", file.locale, file.slug);
            seen.insert(default_id.clone());
            let text = match file.text {
                Ok(text) => text,
                Err(message) => {
                    report.errors.push(format!("{shown}:1: {message}"));
                    continue;
                }
            };
            let parsed = match parse::parse_file(&text) {
                Ok(p) => p,
                Err(e) => {
                    report
                        .errors
                        .push(format!("{shown}:{}: {}", e.line, e.message));
                    continue;
                }
            };
            let id = parsed.id.clone().unwrap_or(default_id);
            seen.insert(id.clone());
            let input = ArticleInput {
                id,
                locale: file.locale.clone(),
                title: parsed.title,
                body: parsed.body,
                tags: parsed.tags,
                url: parsed.url,
            };
            let input = match self.validate(input) {
                Ok(i) => i,
                Err(e) => {
                    report.errors.push(format!("{shown}:1: {e}"));
                    continue;
                }
            };
            match self.put(input, "folder", FOLDER_ACTOR, now).await? {
                ArticleWrite::Unchanged(_) => report.unchanged += 1,
                ArticleWrite::Created(article) => {
                    report.added += 1;
                    changes.push(Change::Put(article));
                }
                ArticleWrite::Updated(article) => {
                    report.updated += 1;
                    changes.push(Change::Put(article));
                }
            }
        }
        let mut after = String::new();
        loop {
            let page = self.store.list_articles(None, &after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for article in page {
                if article.source == "folder" && !seen.contains(&article.id) {
                    self.store
                        .delete_article(&article.id, now, FOLDER_ACTOR)
                        .await?;
                    changes.push(Change::Remove(article.id));
                    report.removed += 1;
                }
            }
        }
        self.apply_to_index(changes).await?;
        for error in &report.errors {
            tracing::warn!(file = %error, "knowledge file not loaded");
        }
        Ok(report)
    }

    pub fn default_locale(&self) -> &str {
        &self.default_locale
    }
}

struct KnowledgeFile {
    path: PathBuf,
    locale: String,
    slug: String,
    /// The file's text, or why it could not be read.
    text: Result<String, String>,
}

fn read_text(path: &Path, max_bytes: u64) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > max_bytes {
        return Err(format!("file is {size} bytes; at most {max_bytes}"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())
}

/// `<dir>/<locale>/**/<slug>.md` with their text (files over `max_bytes`
/// are not read), sorted; folders that are not locale tags are skipped.
fn collect_files(dir: &Path, max_bytes: u64) -> Vec<KnowledgeFile> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut locales: Vec<_> = entries.flatten().filter(|e| e.path().is_dir()).collect();
    locales.sort_by_key(|e| e.file_name());
    for entry in locales {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(locale) = lang::primary_tag(&name).filter(|l| *l == name.to_ascii_lowercase())
        else {
            continue;
        };
        let mut stack = vec![entry.path()];
        while let Some(folder) = stack.pop() {
            let Ok(items) = std::fs::read_dir(&folder) else {
                continue;
            };
            for item in items.flatten() {
                let path = item.path();
                let file_name = item.file_name().to_string_lossy().to_string();
                if file_name.starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "md") {
                    let rel = path
                        .strip_prefix(entry.path())
                        .unwrap_or(&path)
                        .with_extension("");
                    let slug = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().to_string())
                        .collect::<Vec<_>>()
                        .join("/");
                    let text = read_text(&path, max_bytes);
                    out.push(KnowledgeFile {
                        path,
                        locale: locale.clone(),
                        slug,
                        text,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_are_lowercase_ascii_words() {
        assert_eq!(
            slugify("Change your phone number!"),
            "change-your-phone-number"
        );
        assert_eq!(
            slugify("  Two-step   verification "),
            "two-step-verification"
        );
    }
}
