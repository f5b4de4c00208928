//! Editors' view of the answer memory: list, read, disable, enable
//! (re-approve as it stands) and delete curated answers. Every change is
//! recorded in the audit chain and reaches every replica's memory.

use super::Memory;
use crate::model::{AuditEvent, CuratedAnswer, CuratedState, SourceVersion, now_ms};
use crate::storage::{self, CuratedChange};
use crate::validate;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    #[error("curated answer {0} not found")]
    NotFound(String),
    #[error("the curated answer kept changing; try again")]
    Contended,
    #[error(transparent)]
    Store(storage::Error),
}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Self {
        match e {
            storage::Error::Conflict => Error::Contended,
            storage::Error::NotFound(_)
            | storage::Error::Duplicate(_)
            | storage::Error::Unavailable(_)
            | storage::Error::Internal(_)
            | storage::Error::Corrupt(_)
            | storage::Error::OtherPlatform(_)
            | storage::Error::Refused(_) => Error::Store(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A curated answer with where it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub answer: CuratedAnswer,
    /// The live version of each source, in order (None: deleted).
    pub live_versions: Vec<Option<u64>>,
    /// Drafting uses it now.
    pub in_use: bool,
    /// An article it rests on changed or was deleted since approval.
    pub stale: bool,
}

/// Attempts at a guarded change before giving up on a hot answer.
const MAX_ATTEMPTS: usize = 5;

impl Memory {
    fn listed(&self, answer: CuratedAnswer) -> Listed {
        let live_versions: Vec<Option<u64>> = answer
            .sources
            .iter()
            .map(|s| self.knowledge.live_version(&s.article_id))
            .collect();
        let stale = !self.is_current(&answer);
        Listed {
            in_use: self.config.enabled && self.usable(&answer),
            stale,
            live_versions,
            answer,
        }
    }

    fn check_id(&self, id: &str) -> Result<()> {
        Ok(validate::id("id", id, self.limits.max_id_chars, true)?)
    }

    /// A page of curated answers ordered by id, optionally of one locale and
    /// state; the token is the last id of the previous page.
    pub async fn list(
        &self,
        locale: Option<&str>,
        state: Option<CuratedState>,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Listed>, String)> {
        let max = self.limits.max_page_size;
        validate::at_most("page_size", u64::from(page_size), u64::from(max))?;
        let size = if page_size == 0 {
            max.min(100)
        } else {
            page_size
        };
        let locale = locale.map(|l| validate::locale("locale", l)).transpose()?;
        if page_token.len() > self.limits.max_id_chars {
            return Err(
                validate::invalid("page_token", "is not a token this server issued").into(),
            );
        }
        let mut out = Vec::new();
        let mut after = page_token.to_string();
        // A state filter skips rows: read on until the page is full or the rows end.
        loop {
            let page = self
                .store
                .curated_answers(locale.as_deref(), &after, size)
                .await?;
            let ended = (page.len() as u32) < size;
            if let Some(last) = page.last() {
                after = last.id.clone();
            }
            for a in page {
                if out.len() as u32 == size {
                    break;
                }
                if state.is_none_or(|s| s == a.state) {
                    out.push(self.listed(a));
                }
            }
            if ended || out.len() as u32 == size {
                let next = match (ended, out.last()) {
                    (false, Some(last)) => last.answer.id.clone(),
                    _ => String::new(),
                };
                return Ok((out, next));
            }
        }
    }

    pub async fn get(&self, id: &str) -> Result<Listed> {
        self.check_id(id)?;
        let a = self
            .store
            .curated_answer(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(self.listed(a))
    }

    /// Stops drafting from it.
    pub async fn disable(&self, id: &str, editor: &str) -> Result<Listed> {
        self.change(id, editor, "memory_disabled", |a| {
            a.state = CuratedState::Disabled;
        })
        .await
    }

    /// Re-approves it as it stands: ACTIVE, resting on its articles' live
    /// versions (a source deleted since is dropped).
    pub async fn enable(&self, id: &str, editor: &str) -> Result<Listed> {
        let live: Vec<(String, Option<u64>)> = self
            .get(id)
            .await?
            .answer
            .sources
            .iter()
            .map(|s| {
                (
                    s.article_id.clone(),
                    self.knowledge.live_version(&s.article_id),
                )
            })
            .collect();
        self.change(id, editor, "memory_enabled", move |a| {
            a.state = CuratedState::Active;
            a.sources = live
                .iter()
                .filter_map(|(id, v)| {
                    v.map(|version| SourceVersion {
                        article_id: id.clone(),
                        version,
                    })
                })
                .collect();
        })
        .await
    }

    pub async fn delete(&self, id: &str, editor: &str) -> Result<()> {
        self.check_id(id)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .store
                .curated_answer(id)
                .await?
                .ok_or_else(|| Error::NotFound(id.to_string()))?;
            let change = CuratedChange {
                id: id.to_string(),
                expected_revision: current.revision,
                to: None,
                event: event("memory_deleted", editor, &current),
            };
            match self.store.change_curated_answer(change).await {
                Ok(_) => {
                    self.refresh(id).await?;
                    return Ok(());
                }
                Err(storage::Error::Conflict) => continue,
                Err(storage::Error::NotFound(_)) => return Err(Error::NotFound(id.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended)
    }

    /// Reads the answer, changes it with `f` and writes it if nobody changed it meanwhile.
    async fn change(
        &self,
        id: &str,
        editor: &str,
        kind: &str,
        f: impl Fn(&mut CuratedAnswer),
    ) -> Result<Listed> {
        self.check_id(id)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .store
                .curated_answer(id)
                .await?
                .ok_or_else(|| Error::NotFound(id.to_string()))?;
            let mut next = current.clone();
            f(&mut next);
            let change = CuratedChange {
                id: id.to_string(),
                expected_revision: current.revision,
                event: event(kind, editor, &next),
                to: Some(next),
            };
            match self.store.change_curated_answer(change).await {
                Ok(Some(stored)) => {
                    self.refresh(id).await?;
                    tracing::info!(answer_id = %id, editor, kind, "curated answer changed");
                    return Ok(self.listed(stored));
                }
                Ok(None) | Err(storage::Error::NotFound(_)) => {
                    return Err(Error::NotFound(id.to_string()));
                }
                Err(storage::Error::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended)
    }
}

fn event(kind: &str, editor: &str, a: &CuratedAnswer) -> AuditEvent {
    AuditEvent::about_article(
        kind,
        editor,
        serde_json::json!({
            "answer_id": a.id,
            "state": a.state.as_str(),
            "sources": a.sources,
        }),
        now_ms(),
    )
}
