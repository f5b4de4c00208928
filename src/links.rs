//! Transcript links: a platform asks for a signed, expiring link to a
//! read-only page of one conversation, for its customer. A link reads
//! `/transcript/<id>.<expires>.<signature>`; it opens only while it is
//! unexpired, unrevoked, its signature (over id, conversation and expiry,
//! with the database's key) holds and its record agrees. Anything else opens
//! nothing, and says nothing about why.

use crate::config::Config;
use crate::model::{Millis, Scope, now_ms};
use crate::signing::Signer;
use crate::storage::{self, DynStore, TranscriptLink};
use crate::validate;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Shortest and longest link life, and the life of a link asked for with none.
pub const MIN_TTL_SECONDS: u64 = 1;
pub const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;
pub const DEFAULT_TTL_SECONDS: u64 = 7 * 24 * 3600;
const KEY_NAME: &str = "transcript_links";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A link handed out.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub id: String,
    pub url: String,
    pub expires_at: Millis,
}

pub struct Links {
    store: DynStore,
    config: Arc<Config>,
    signer: OnceCell<Signer>,
}

fn message(id: &str, conversation_id: &str, expires_at: Millis) -> String {
    format!("transcript-link\n{id}\n{conversation_id}\n{expires_at}")
}

impl Links {
    pub fn new(store: DynStore, config: Arc<Config>) -> Links {
        Links {
            store,
            config,
            signer: OnceCell::new(),
        }
    }

    async fn signer(&self) -> Result<&Signer> {
        Ok(self
            .signer
            .get_or_try_init(|| Signer::load(&self.store, KEY_NAME))
            .await?)
    }

    /// Where links point: `[console] public_url`, or this server's HTTP address.
    fn base_url(&self) -> String {
        let configured = self.config.console.public_url.trim_end_matches('/');
        if configured.is_empty() {
            format!("http://{}", self.config.http_addr)
        } else {
            configured.to_string()
        }
    }

    /// A link to the conversation for `ttl_seconds` (0: seven days), if `scope` may see it.
    pub async fn create(
        &self,
        conversation_id: &str,
        ttl_seconds: u64,
        created_by: &str,
        scope: &Scope,
    ) -> Result<Issued> {
        self.visible(conversation_id, scope).await?;
        let ttl = if ttl_seconds == 0 {
            DEFAULT_TTL_SECONDS
        } else {
            ttl_seconds
        };
        if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err(validate::invalid(
                "ttl_seconds",
                format!(
                    "must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS} (30 days), or 0 for {DEFAULT_TTL_SECONDS}"
                ),
            )
            .into());
        }
        let now = now_ms();
        let link = TranscriptLink {
            id: crate::model::new_id(),
            conversation_id: conversation_id.to_string(),
            created_by: created_by.to_string(),
            created_at: now,
            expires_at: now + (ttl as i64) * 1000,
            revoked_at: None,
        };
        let signature =
            self.signer()
                .await?
                .sign(&message(&link.id, &link.conversation_id, link.expires_at));
        self.store.insert_transcript_link(&link).await?;
        tracing::info!(link = %link.id, conversation = %conversation_id, by = %created_by, "transcript link created");
        Ok(Issued {
            url: format!(
                "{}/transcript/{}.{}.{signature}",
                self.base_url(),
                link.id,
                link.expires_at
            ),
            id: link.id,
            expires_at: link.expires_at,
        })
    }

    /// The conversation a presented link opens, or None (expired, revoked,
    /// altered, unknown: the same to the holder).
    pub async fn open(&self, token: &str) -> Result<Option<String>> {
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(expires), Some(signature)) = (parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let Ok(expires_at) = expires.parse::<Millis>() else {
            return Ok(None);
        };
        // Only the link as issued opens: no other spelling of the same expiry or signature.
        let lower_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if expires != expires_at.to_string() || !lower_hex(signature) {
            return Ok(None);
        }
        if id.len() > 64 || expires_at <= now_ms() {
            return Ok(None);
        }
        let Some(link) = self.store.transcript_link(id).await? else {
            return Ok(None);
        };
        let signed = self.signer().await?.verify(
            &message(&link.id, &link.conversation_id, expires_at),
            signature,
        );
        let open = signed && link.expires_at == expires_at && link.revoked_at.is_none();
        Ok(open.then_some(link.conversation_id))
    }

    /// Ends a link before it expires; false when it was revoked before.
    pub async fn revoke(&self, link_id: &str, scope: &Scope) -> Result<bool> {
        validate::id("link_id", link_id, self.config.limits.max_id_chars, true)?;
        let Some(link) = self.store.transcript_link(link_id).await? else {
            return Err(Error::NotFound(format!("transcript link {link_id:?}")));
        };
        self.visible(&link.conversation_id, scope)
            .await
            .map_err(|_| Error::NotFound(format!("transcript link {link_id:?}")))?;
        Ok(self.store.revoke_transcript_link(link_id, now_ms()).await?)
    }

    async fn visible(&self, conversation_id: &str, scope: &Scope) -> Result<()> {
        validate::id(
            "conversation_id",
            conversation_id,
            self.config.limits.max_id_chars,
            true,
        )?;
        match self.store.transcript(conversation_id).await? {
            Some(t) if scope.sees(&t.platform) => Ok(()),
            _ => Err(Error::NotFound(format!("conversation {conversation_id:?}"))),
        }
    }
}
