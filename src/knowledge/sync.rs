//! The knowledge-folder sync: `<dir>/<locale>/**/<slug>.md` files brought
//! into the store and the index; articles whose files are gone are deleted.

use super::index::Change;
use super::{ArticleInput, Knowledge, Result, blocking, lang, parse};
use crate::model::now_ms;
use crate::storage::ArticleWrite;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The audit trail's actor for changes made by the knowledge-folder sync.
pub const FOLDER_ACTOR: &str = "folder-sync";

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

impl Knowledge {
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
                applies_to: parsed.applies_to,
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
