//! Articles one at a time: the rules an article must meet (validation, the
//! id and slug rules) and create / read / list / delete, each change written
//! to the store and then to the index.

use super::index::Change;
use super::{ArticleInput, Error, Knowledge, Result, invalid};
use crate::model::{Article, Millis, now_ms};
use crate::storage::ArticleWrite;
use crate::validate;

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
    crate::model::article_content_hash(&a.locale, &a.title, &a.body, &a.tags, &a.url, &a.applies_to)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'))
        && !id.starts_with('/')
        && !id.contains("..")
}

impl Knowledge {
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
        a.applies_to = std::mem::take(&mut a.applies_to)
            .checked()
            .map_err(|m| invalid("article.applies_to", m))?;
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

    /// Writes one validated article to the store (not to the index).
    /// `actor`: who made the change, for the audit trail (an editor, or "folder").
    pub(super) async fn put(
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
            applies_to: input.applies_to,
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
