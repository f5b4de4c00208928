//! Records shared across modules: drafts, deliveries, audit events, customer
//! messages. Plain data, no behaviour beyond small helpers; the rules live in
//! `drafting`, `review` and `delivery`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; every stored timestamp uses it.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DraftState {
    PendingReview,
    Claimed,
    Approved,
    Rejected,
    AutoApproved,
    Superseded,
    Delivered,
}

impl DraftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftState::PendingReview => "PENDING_REVIEW",
            DraftState::Claimed => "CLAIMED",
            DraftState::Approved => "APPROVED",
            DraftState::Rejected => "REJECTED",
            DraftState::AutoApproved => "AUTO_APPROVED",
            DraftState::Superseded => "SUPERSEDED",
            DraftState::Delivered => "DELIVERED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PENDING_REVIEW" => DraftState::PendingReview,
            "CLAIMED" => DraftState::Claimed,
            "APPROVED" => DraftState::Approved,
            "REJECTED" => DraftState::Rejected,
            "AUTO_APPROVED" => DraftState::AutoApproved,
            "SUPERSEDED" => DraftState::Superseded,
            "DELIVERED" => DraftState::Delivered,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "LOW",
            Level::Medium => "MEDIUM",
            Level::High => "HIGH",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "LOW" => Level::Low,
            "MEDIUM" => Level::Medium,
            "HIGH" => Level::High,
            _ => return None,
        })
    }
}

/// One named signal behind a confidence score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub signal: String,
    pub value: f64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub score: f64,
    pub level: Level,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub article_id: String,
    pub version: u64,
    pub title: String,
    pub url: String,
    pub snippet: String,
}

/// A drafted reply and everything that happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub id: String,
    pub conversation_id: String,
    pub message_id: String,
    pub request_id: Option<String>,
    /// The platform that sent the message (its token's subject; empty without tokens).
    /// A request id is unique per caller and conversation.
    pub caller: String,
    pub channel: String,
    pub locale: String,
    pub body: String,
    pub disclosure: String,
    pub ai_generated: bool,
    pub human_reviewed: bool,
    pub generator: String,
    pub confidence: Confidence,
    pub citations: Vec<Citation>,
    pub state: DraftState,
    /// A policy (always-review topic, a request for a person, an injection
    /// attempt) sent it to a person: it is never superseded, and while it is
    /// open nothing else in its conversation is sent automatically.
    pub needs_person: bool,
    pub final_body: String,
    pub reviewed_by: String,
    pub claimed_by: String,
    pub claim_expires_at: Option<Millis>,
    pub reject_reason: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Bumped by every change; stores update a draft only at the revision it was read at.
    pub revision: i64,
    /// The customer's text this draft answers (filled in on reads).
    pub customer_message: String,
    /// The curated answer the draft was made from (generator "memory"); empty otherwise.
    pub curated_answer_id: String,
    /// When a person should have answered it by: its channel's customer-service
    /// window or first-response target, whichever ends first (None: neither).
    /// The review queue comes in this order.
    pub respond_by: Option<Millis>,
}

impl Draft {
    /// Whether the draft waits for an agent at `now` (pending, or a claim whose lease ran out).
    pub fn is_open_for_review(&self, now: Millis) -> bool {
        match self.state {
            DraftState::PendingReview => true,
            DraftState::Claimed => !self.claim_is_live(now),
            DraftState::Approved
            | DraftState::Rejected
            | DraftState::AutoApproved
            | DraftState::Superseded
            | DraftState::Delivered => false,
        }
    }

    pub fn claim_is_live(&self, now: Millis) -> bool {
        self.state == DraftState::Claimed && self.claim_expires_at.is_some_and(|t| t > now)
    }
}

/// A customer message as received.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMessage {
    pub id: String,
    pub conversation_id: String,
    pub text: String,
    pub locale: String,
    pub channel: String,
    pub context: BTreeMap<String, String>,
    pub received_at: Millis,
}

/// A reply ready to send to the customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub cursor: u64,
    pub draft_id: String,
    pub conversation_id: String,
    pub channel: String,
    pub locale: String,
    pub body: String,
    pub disclosure: String,
    pub text: String,
    pub ai_generated: bool,
    pub human_reviewed: bool,
    pub author: String,
    pub created_at: Millis,
    pub acked_at: Option<Millis>,
    /// The platform whose customer it is for (its draft's caller; read, not stored twice).
    pub caller: String,
    /// Who wrote the text, machine-readable.
    pub provenance: Provenance,
    /// For `ai_edited`: how much the agent changed, 0..1 (the word-level
    /// edit distance over the longer text's words); else 0.
    pub edit_ratio: f64,
    /// Sent after the channel's window closed: the platform sends this
    /// template instead of `text`.
    pub template: Option<Template>,
}

/// Who wrote a reply the customer receives: the machine-readable marking of
/// generated text beside the human-readable label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provenance {
    /// The AI wrote it and it was sent without review.
    #[default]
    AiAuto,
    /// The AI wrote it and an agent approved it as written.
    AiReviewed,
    /// The AI wrote it and an agent edited it before approving.
    AiEdited,
    /// An agent wrote it.
    Human,
    /// A fixed text of the desk's (the handoff notice).
    System,
}

impl Provenance {
    pub const ALL: [Provenance; 5] = [
        Provenance::AiAuto,
        Provenance::AiReviewed,
        Provenance::AiEdited,
        Provenance::Human,
        Provenance::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::AiAuto => "ai_auto",
            Provenance::AiReviewed => "ai_reviewed",
            Provenance::AiEdited => "ai_edited",
            Provenance::Human => "human",
            Provenance::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Provenance> {
        Provenance::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The provenance of a decided draft's final text, with the edit ratio.
    pub fn of(draft: &Draft) -> (Provenance, f64) {
        if draft.generator == HANDOFF_NOTICE {
            (Provenance::System, 0.0)
        } else if !draft.ai_generated {
            (Provenance::Human, 0.0)
        } else if !draft.human_reviewed {
            (Provenance::AiAuto, 0.0)
        } else if draft.final_body.trim() == draft.body.trim() {
            (Provenance::AiReviewed, 0.0)
        } else {
            (
                Provenance::AiEdited,
                edit_ratio(&draft.body, &draft.final_body),
            )
        }
    }
}

/// The generator of the handoff notice (a fixed text, not the AI's).
pub const HANDOFF_NOTICE: &str = "handoff_notice";

/// How much of `before` an edit changed: the word-level Levenshtein distance
/// over the longer text's word count, 0 (same words) to 1 (nothing kept).
pub fn edit_ratio(before: &str, after: &str) -> f64 {
    let a: Vec<&str> = before.split_whitespace().collect();
    let b: Vec<&str> = after.split_whitespace().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 0.0;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()] as f64 / longest as f64
}

/// Which AI-written replies of a conversation carry the AI label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisclosurePolicy {
    /// Every one.
    #[default]
    EveryAiMessage,
    /// Only the first of the conversation (later ones are marked by their
    /// provenance, not by the label).
    FirstAiMessage,
}

impl DisclosurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DisclosurePolicy::EveryAiMessage => "every_ai_message",
            DisclosurePolicy::FirstAiMessage => "first_ai_message",
        }
    }
}

/// How a delivery goes out: whether it carries the AI label (and why), and
/// the template to send instead when the channel's window has closed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labeling {
    pub policy: DisclosurePolicy,
    /// The conversation's customer was already given the label (first_ai_message only).
    pub already_given: bool,
    /// The channel's customer-service window closed before this reply: the
    /// platform must send this template instead of free text.
    pub template: Option<Template>,
}

/// A message template the platform sends in place of free text (WhatsApp's
/// approved templates), with its parameters filled in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub name: String,
    pub parameters: Vec<String>,
}

impl Template {
    /// The template with its parameters filled in for `draft`'s reply:
    /// "{reply}", "{locale}" and "{conversation_id}".
    pub fn filled(&self, draft: &Draft) -> Template {
        Template {
            name: self.name.clone(),
            parameters: self
                .parameters
                .iter()
                .map(|p| {
                    // The reply last, so its own text is never substituted.
                    p.replace("{locale}", &draft.locale)
                        .replace("{conversation_id}", &draft.conversation_id)
                        .replace("{reply}", &draft.final_body)
                })
                .collect(),
        }
    }
}

impl Labeling {
    fn labels(&self) -> bool {
        match self.policy {
            DisclosurePolicy::EveryAiMessage => true,
            DisclosurePolicy::FirstAiMessage => !self.already_given,
        }
    }
}

impl Delivery {
    /// The delivery a decided draft produces: its final text, labeled when
    /// AI wrote it (every time, or the first time: `labeling`).
    pub fn for_draft(draft: &Draft, author: &str, now: Millis) -> Delivery {
        Delivery::labeled(draft, author, now, &Labeling::default())
    }

    pub fn labeled(draft: &Draft, author: &str, now: Millis, labeling: &Labeling) -> Delivery {
        let (provenance, edit_ratio) = Provenance::of(draft);
        let disclosure = if draft.ai_generated && labeling.labels() {
            draft.disclosure.clone()
        } else {
            String::new()
        };
        let text = if disclosure.is_empty() {
            draft.final_body.clone()
        } else {
            format!("{}\n\n{}", draft.final_body, disclosure)
        };
        Delivery {
            cursor: 0,
            draft_id: draft.id.clone(),
            conversation_id: draft.conversation_id.clone(),
            channel: draft.channel.clone(),
            locale: draft.locale.clone(),
            body: draft.final_body.clone(),
            disclosure,
            text,
            ai_generated: draft.ai_generated,
            human_reviewed: draft.human_reviewed,
            author: author.to_string(),
            created_at: now,
            acked_at: None,
            caller: draft.caller.clone(),
            provenance,
            edit_ratio,
            template: labeling.template.as_ref().map(|t| t.filled(draft)),
        }
    }

    /// The audit event that records this delivery, with its provenance and
    /// the AI label given (the evidence of disclosure); the store seals it
    /// with the cursor it assigns and the delivery's digest.
    pub fn created_event(&self, draft: &Draft) -> AuditEvent {
        AuditEvent::new(
            "delivery_created",
            &self.author,
            draft,
            serde_json::json!({
                "provenance": self.provenance.as_str(),
                "edit_ratio": self.edit_ratio,
                "disclosure_given": self.disclosure,
                "requires_template": self.template.as_ref().map(|t| &t.name),
            }),
            self.created_at,
        )
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub seq: u64,
    pub at: Millis,
    pub kind: String,
    pub actor: String,
    pub conversation_id: String,
    pub draft_id: String,
    pub detail: serde_json::Value,
    /// Where the store put it in the hash chain (empty before it is written).
    pub chain: ChainLink,
}

/// An event's place in the tamper-evident audit chain (see `audit.rs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainLink {
    /// 1, 2, 3... in the order events were committed.
    pub position: u64,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    pub fn new(
        kind: &str,
        actor: &str,
        draft: &Draft,
        detail: serde_json::Value,
        at: Millis,
    ) -> Self {
        AuditEvent {
            seq: 0,
            at,
            kind: kind.to_string(),
            actor: actor.to_string(),
            conversation_id: draft.conversation_id.clone(),
            draft_id: draft.id.clone(),
            detail,
            chain: ChainLink::default(),
        }
    }

    /// The event that records a conversation's change of state (its
    /// history is read back from them, [`history`]).
    pub fn state_changed(
        conversation_id: &str,
        change: &crate::conversation::Change,
        owner: &str,
        at: Millis,
    ) -> Self {
        AuditEvent {
            seq: 0,
            at,
            kind: STATE_CHANGED.into(),
            actor: change.actor.clone(),
            conversation_id: conversation_id.to_string(),
            draft_id: String::new(),
            detail: serde_json::json!({
                "from": change.from.as_str(),
                "to": change.to.as_str(),
                "cause": change.cause,
                "owner": owner,
            }),
            chain: ChainLink::default(),
        }
    }

    /// An event about an article (no conversation or draft).
    pub fn about_article(kind: &str, actor: &str, detail: serde_json::Value, at: Millis) -> Self {
        AuditEvent {
            seq: 0,
            at,
            kind: kind.to_string(),
            actor: actor.to_string(),
            conversation_id: String::new(),
            draft_id: String::new(),
            detail,
            chain: ChainLink::default(),
        }
    }
}

/// Everything known about one conversation, for the transcript.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub conversation_id: String,
    /// The platform that opened the conversation (empty: opened without a token).
    pub platform: String,
    /// Who answers it now.
    pub ownership: crate::conversation::Ownership,
    pub messages: Vec<CustomerMessage>,
    pub drafts: Vec<Draft>,
    pub events: Vec<AuditEvent>,
    pub deliveries: Vec<Delivery>,
}

/// The audit kind of a conversation's change of state.
pub const STATE_CHANGED: &str = "conversation_state_changed";

/// A conversation's changes of state among its audit events, in order.
pub fn history(events: &[AuditEvent]) -> Vec<crate::conversation::HistoryEntry> {
    use crate::conversation::{HistoryEntry, State};
    events
        .iter()
        .filter(|e| e.kind == STATE_CHANGED)
        .filter_map(|e| {
            let text = |k: &str| e.detail.get(k).and_then(|v| v.as_str());
            Some(HistoryEntry {
                from: State::parse(text("from")?)?,
                to: State::parse(text("to")?)?,
                actor: e.actor.clone(),
                cause: text("cause")?.to_string(),
                owner: text("owner").unwrap_or_default().to_string(),
                at: e.at,
            })
        })
        .collect()
}

/// Whose customers' data a caller may read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Staff (agents, viewers, editors, admins), and every caller when the
    /// server runs without tokens.
    #[default]
    Everything,
    /// A platform's token: the conversations it opened (and those opened
    /// without a token, before tokens were configured).
    Platform(String),
}

impl Scope {
    /// Whether data written for `caller` (a platform subject, empty without tokens) is visible.
    pub fn sees(&self, caller: &str) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Platform(p) => caller.is_empty() || caller == p,
        }
    }
}

/// An article version a reply rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceVersion {
    pub article_id: String,
    pub version: u64,
}

/// Where a curated answer stands (beside whether its articles changed,
/// which is read off the live versions, not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CuratedState {
    /// Used for drafting while the article versions it rests on are live.
    Active,
    /// Switched off by an editor.
    Disabled,
    /// An agent rejected a draft made from it.
    Rejected,
    /// An agent's edit of a draft made from it replaced it.
    Superseded,
}

impl CuratedState {
    pub fn as_str(self) -> &'static str {
        match self {
            CuratedState::Active => "ACTIVE",
            CuratedState::Disabled => "DISABLED",
            CuratedState::Rejected => "REJECTED",
            CuratedState::Superseded => "SUPERSEDED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ACTIVE" => CuratedState::Active,
            "DISABLED" => CuratedState::Disabled,
            "REJECTED" => CuratedState::Rejected,
            "SUPERSEDED" => CuratedState::Superseded,
            _ => return None,
        })
    }
}

/// One question a curated answer was approved for.
#[derive(Debug, Clone, PartialEq)]
pub struct CuratedQuestion {
    /// The customer's words with personal data masked (`[EMAIL_1]`...).
    pub text: String,
    /// The draft whose decision filed it, and the agent who decided.
    pub draft_id: String,
    pub agent: String,
    pub at: Millis,
}

/// A reply agents approved, kept to answer the same question next time
/// (the answer memory).
#[derive(Debug, Clone, PartialEq)]
pub struct CuratedAnswer {
    pub id: String,
    pub locale: String,
    /// The reply as agents approved it (without the AI label).
    pub reply: String,
    /// The article versions it rests on (none: the agent's own words).
    pub sources: Vec<SourceVersion>,
    /// Every question it was approved for, oldest first.
    pub questions: Vec<CuratedQuestion>,
    /// Distinct agents who approved it, first first.
    pub approved_by: Vec<String>,
    pub rejections: u32,
    pub state: CuratedState,
    pub created_by: String,
    pub origin_draft_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub revision: i64,
}

/// The key curated replies are matched by: the reply with its whitespace
/// runs made one space, hashed.
pub fn reply_key(reply: &str) -> String {
    use sha2::{Digest, Sha256};
    let normalized = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// The author recorded for text the drafter wrote.
pub const AI_ACTOR: &str = "ai";

/// A help-center article as stored. Drafts cite it by `id` and `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub locale: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub url: String,
    pub version: u64,
    pub content_hash: String,
    /// "folder" (synced from the knowledge directory) or "api".
    pub source: String,
    pub updated_at: Millis,
    /// Which devices its steps are for (empty: every device).
    #[serde(default)]
    pub applies_to: crate::device::AppliesTo,
}

/// The hash of an article's content (what a new version must change), as
/// stored beside it and recorded in the audit trail.
pub fn article_content_hash(
    locale: &str,
    title: &str,
    body: &str,
    tags: &[String],
    url: &str,
    applies_to: &crate::device::AppliesTo,
) -> String {
    use sha2::{Digest, Sha256};
    // Articles for every device hash as they did before applies_to existed.
    let canonical = if applies_to.is_empty() {
        serde_json::json!([locale, title, body, tags, url])
    } else {
        serde_json::json!([locale, title, body, tags, url, applies_to])
    };
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Control characters text fields refuse: all but tab, newline and carriage return.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// "U+001B", or "U+0000 NUL", for error messages.
pub fn describe_char(c: char) -> String {
    if c == '\0' {
        "U+0000 NUL".into()
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Characters that show nothing: whitespace, controls, zero-width and
/// direction marks, soft hyphen, byte-order mark.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
}

/// RFC 3339 UTC form of a millisecond timestamp, always with milliseconds
/// ("2026-11-23T15:04:05.123Z").
pub fn rfc3339(ms: Millis) -> String {
    let t = prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    };
    let mut s = t.to_string();
    // prost-types writes no fraction for a whole second; this form keeps ".000".
    if t.nanos == 0 {
        s.insert_str(s.len() - 1, ".000");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_442_645_123), "2026-11-23T14:04:05.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_has_milliseconds_on_whole_seconds_and_before_1970() {
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(1_795_442_645_000), "2026-11-23T14:04:05.000Z");
        assert_eq!(rfc3339(1_795_442_645_020), "2026-11-23T14:04:05.020Z");
    }

    #[test]
    fn rfc3339_reads_back_as_the_same_instant() {
        for ms in [
            0,
            -1,
            999,
            1_000,
            951_782_400_000,
            1_795_442_645_123,
            -62_135_596_800_000,
        ] {
            let s = rfc3339(ms);
            let t: prost_types::Timestamp = s.parse().unwrap();
            assert_eq!(t.seconds * 1000 + i64::from(t.nanos) / 1_000_000, ms, "{s}");
        }
    }
}
