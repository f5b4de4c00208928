//! The console's pages, as HTML written with maud: checked at compile time,
//! every value escaped. Each page works without the script; the script
//! (`assets/console.js`) adds live updates, shortcuts, the diff and the
//! side panel.

use super::session::{CSRF_FIELD, Who};
use super::words;
use crate::audit::Verdict;
use crate::conversation::State;
use crate::insights::Stats;
use crate::model::{Article, Delivery, Draft, DraftState, Millis, Provenance, Transcript, rfc3339};
use crate::review::ReasonCode;
use crate::storage::ConversationSummary;
use maud::{DOCTYPE, Markup, html};

/// Keyboard shortcuts, as the help lists them and the script binds them
/// (`data-key` on the control).
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("j / k", "next / previous draft in the queue"),
    ("Enter", "open the selected draft"),
    ("c", "claim the draft"),
    ("a", "approve as written"),
    ("e", "edit, then Ctrl+Enter to approve the edit"),
    ("r", "reject with a reason"),
    ("w", "write your own reply instead"),
    ("l", "release the claim"),
    (
        "t / h / x",
        "on a conversation: take it over, hand it back to the AI, resolve it",
    ),
    ("g q", "go to the queue"),
    ("/", "find a conversation"),
    ("Esc", "close the side panel"),
    ("?", "show these shortcuts"),
];

/// What an action did, said on the page it leads to. A fixed set, named
/// in the URL by code (`?done=approved`), so a crafted link cannot make
/// the console say anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Approved,
    ApprovedEdit,
    Rejected,
    Replaced,
    TakenOver,
    HandedBack,
    Resolved,
}

impl Notice {
    const ALL: [Notice; 7] = [
        Notice::Approved,
        Notice::ApprovedEdit,
        Notice::Rejected,
        Notice::Replaced,
        Notice::TakenOver,
        Notice::HandedBack,
        Notice::Resolved,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Notice::Approved => "approved",
            Notice::ApprovedEdit => "approved_edit",
            Notice::Rejected => "rejected",
            Notice::Replaced => "replaced",
            Notice::TakenOver => "taken_over",
            Notice::HandedBack => "handed_back",
            Notice::Resolved => "resolved",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Notice::Approved => "Approved: it is on its way to the customer.",
            Notice::ApprovedEdit => "Approved with your edit: it is on its way to the customer.",
            Notice::Rejected => "Rejected: nothing was sent.",
            Notice::Replaced => "Rejected; your reply is on its way to the customer.",
            Notice::TakenOver => "You own this conversation now.",
            Notice::HandedBack => "Handed back: the AI answers the next message.",
            Notice::Resolved => "Resolved.",
        }
    }

    pub fn parse(code: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.code() == code)
    }
}

/// An id as one URL path segment (ids are free text: a `/`, `?` or `..`
/// in one must not lead a link or a form anywhere else).
pub fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn ago(now: Millis, at: Millis) -> String {
    let s = ((now - at) / 1000).max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86400, (s % 86400) / 3600),
    }
}

fn due(now: Millis, at: Millis) -> String {
    if at <= now {
        format!("overdue by {}", ago(now, at))
    } else {
        format!("in {}", ago(at, now))
    }
}

fn state_words(s: State) -> &'static str {
    match s {
        State::AiActive => "AI answering",
        State::Escalated => "Escalated: waiting for a person",
        State::HumanOwned => "Owned by a person",
        State::Resolved => "Resolved",
    }
}

fn provenance_words(p: Provenance) -> &'static str {
    match p {
        Provenance::AiAuto => "AI, sent without review",
        Provenance::AiReviewed => "AI, reviewed by a person",
        Provenance::AiEdited => "AI, edited by a person",
        Provenance::Human => "Written by a person",
        Provenance::System => "Desk notice",
    }
}

fn draft_state_words(s: DraftState) -> &'static str {
    match s {
        DraftState::PendingReview => "waiting for an agent",
        DraftState::Claimed => "claimed",
        DraftState::Approved => "approved",
        DraftState::Rejected => "rejected",
        DraftState::AutoApproved => "sent on its own",
        DraftState::Superseded => "superseded by a newer message",
        DraftState::Delivered => "delivered",
    }
}

fn csrf(who: &Who) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(who.csrf); }
}

/// Every page's frame: header, navigation, notice, the shortcuts dialog.
pub fn layout(title: &str, who: Option<&Who>, notice: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · replygate" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { "replygate" }
                    @if let Some(who) = who {
                        nav aria-label="Sections" {
                            a href="/console" { "Queue" }
                            a href="/console/conversations" { "Conversations" }
                            a href="/console/manager" { "Managers" }
                        }
                        form.find method="get" action="/console/conversations" role="search" {
                            label for="find-id" { "Conversation" }
                            input #find-id name="id" type="search" placeholder="conversation id" data-key="/";
                        }
                        span.who { "Signed in as " strong { (who.subject) } " (" (who.roles_text()) ")" }
                        form method="post" action="/console/logout" {
                            (csrf(who))
                            button type="submit" { "Sign out" }
                        }
                        button.help-button type="button" data-help aria-haspopup="dialog" { "Shortcuts (?)" }
                    }
                }
                main #main {
                    @if let Some(n) = notice {
                        p.notice role="status" { (n) }
                    }
                    (body)
                }
                dialog #help aria-labelledby="help-title" {
                    h2 #help-title { "Keyboard shortcuts" }
                    dl.shortcuts {
                        @for (key, what) in SHORTCUTS {
                            dt { kbd { (key) } }
                            dd { (what) }
                        }
                    }
                    form method="dialog" { button { "Close" } }
                }
                aside #panel hidden aria-label="Article" aria-live="polite" {}
            }
        }
    }
}

pub fn login(wants_token: bool, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        None,
        html! {
            section.login {
                h1 { "Sign in to the console" }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/console/login" {
                    @if wants_token {
                        label for="secret" { "Your token" }
                        input #secret name="secret" type="password" autocomplete="current-password" required autofocus;
                        p.hint { "The token your admin created for you with " code { "replygate token create" } "." }
                    } @else {
                        label for="secret" { "Your name" }
                        input #secret name="secret" type="text" autocomplete="username" required autofocus maxlength="128";
                        p.hint { "This server has no tokens configured (protected mode): it trusts this machine, and records your decisions under this name." }
                    }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// What the queue page filters on (from its query string).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct QueueQuery {
    pub channel: String,
    pub locale: String,
    pub level: String,
    pub reason: String,
    /// What the action that led here did (a [`Notice`] code).
    pub done: String,
}

impl QueueQuery {
    pub fn matches(&self, d: &Draft) -> bool {
        (self.level.is_empty() || d.confidence.level.as_str() == self.level)
            && (self.reason.is_empty()
                || d.confidence
                    .reasons
                    .iter()
                    .any(|r| r.signal == self.reason && r.value > 0.0))
    }

    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("channel", &self.channel),
            ("locale", &self.locale),
            ("level", &self.level),
            ("reason", &self.reason),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", path_segment(v)));
            }
        }
        parts.join("&")
    }
}

fn select(name: &str, label: &str, current: &str, options: &[String]) -> Markup {
    html! {
        label for=(format!("f-{name}")) { (label) }
        select id=(format!("f-{name}")) name=(name) {
            option value="" selected[current.is_empty()] { "all" }
            @for o in options {
                option value=(o) selected[o == current] { (o) }
            }
        }
    }
}

/// The queue page: filters, then the live section.
pub fn queue(who: &Who, q: &QueueQuery, all: &[Draft], limit: usize, now: Millis) -> Markup {
    let mut channels: Vec<String> = all.iter().map(|d| d.channel.clone()).collect();
    let mut locales: Vec<String> = all.iter().map(|d| d.locale.clone()).collect();
    let mut reasons: Vec<String> = all
        .iter()
        .flat_map(|d| d.confidence.reasons.iter())
        .filter(|r| {
            r.value > 0.0
                && (r.signal.starts_with("policy_")
                    || r.signal.starts_with("reply_")
                    || r.signal == "incomplete_steps"
                    || r.signal == "locale_fallback"
                    || r.signal == "conversation_waits_for_person")
        })
        .map(|r| r.signal.clone())
        .collect();
    for v in [&mut channels, &mut locales, &mut reasons] {
        v.sort();
        v.dedup();
    }
    for (v, cur) in [
        (&mut channels, &q.channel),
        (&mut locales, &q.locale),
        (&mut reasons, &q.reason),
    ] {
        if !cur.is_empty() && !v.contains(cur) {
            v.push(cur.clone());
        }
    }
    let levels = ["HIGH", "MEDIUM", "LOW"].map(String::from);
    let notice = Notice::parse(&q.done).map(Notice::text);
    layout(
        "Review queue",
        Some(who),
        notice,
        html! {
            h1 { "Review queue" }
            form.filters method="get" action="/console" aria-label="Filter the queue" {
                (select("channel", "Channel", &q.channel, &channels))
                (select("locale", "Language", &q.locale, &locales))
                (select("level", "Level", &q.level, &levels))
                (select("reason", "Reason", &q.reason, &reasons))
                button type="submit" { "Filter" }
            }
            (queue_live(q, all, limit, now))
        },
    )
}

/// The part of the queue the script refreshes when the queue changes.
pub fn queue_live(q: &QueueQuery, all: &[Draft], limit: usize, now: Millis) -> Markup {
    let shown: Vec<&Draft> = all.iter().filter(|d| q.matches(d)).collect();
    let held = shown.iter().filter(|d| d.claim_is_live(now)).count();
    let oldest = shown.iter().map(|d| d.created_at).min();
    let live = format!("/console/queue?{}", q.query_string());
    html! {
        section #queue data-live=(live) aria-live="polite" aria-label="Pending drafts" {
            p.counts {
                span data-count="pending" { strong { (shown.len()) } " waiting" }
                " · " span { strong { (held) } " held by an agent" }
                " · " span { "oldest: " strong { (oldest.map_or("none".to_string(), |t| ago(now, t))) } }
                @for level in ["HIGH", "MEDIUM", "LOW"] {
                    " · " span { (level) ": " (shown.iter().filter(|d| d.confidence.level.as_str() == level).count()) }
                }
                @if all.len() >= limit {
                    " · " strong { "only the first " (limit) " are listed: filter to see the others" }
                }
            }
            div.table-wrap {
                table.queue {
                    thead {
                        tr {
                            th scope="col" { "Due" }
                            th scope="col" { "Waiting" }
                            th scope="col" { "Level" }
                            th scope="col" { "Lang" }
                            th scope="col" { "Channel" }
                            th scope="col" { "Customer wrote" }
                            th scope="col" { "Held by" }
                        }
                    }
                    tbody {
                        @for d in &shown {
                            tr data-draft=(d.id) data-row {
                                td { (d.respond_by.map_or("–".to_string(), |t| due(now, t))) }
                                td { (ago(now, d.created_at)) }
                                td { span class=(format!("level level-{}", d.confidence.level.as_str().to_lowercase())) { (d.confidence.level.as_str()) } }
                                td { (d.locale) }
                                td { (d.channel) }
                                td.message { a href=(format!("/console/drafts/{}", path_segment(&d.id))) { (truncate(&d.customer_message, 120)) } }
                                td {
                                    @if d.claim_is_live(now) { span.held { (d.claimed_by) } } @else { "–" }
                                }
                            }
                        }
                        @if shown.is_empty() {
                            tr { td colspan="7" { "Nothing waits for an agent." } }
                        }
                    }
                }
            }
        }
    }
}

fn truncate(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(chars).collect();
        t.push('…');
        t
    }
}

/// A conversation's events in time order: what the customer wrote and what they were sent.
fn timeline(t: &Transcript, public: bool) -> Markup {
    enum Item<'a> {
        Message(&'a crate::model::CustomerMessage),
        Sent(&'a Delivery),
        Rejected(&'a Draft),
    }
    let mut items: Vec<(Millis, Item)> = t
        .messages
        .iter()
        .map(|m| (m.received_at, Item::Message(m)))
        .chain(t.deliveries.iter().map(|d| (d.created_at, Item::Sent(d))))
        .collect();
    if !public {
        items.extend(
            t.drafts
                .iter()
                .filter(|d| d.state == DraftState::Rejected && !d.reject_reason.is_empty())
                .map(|d| (d.updated_at, Item::Rejected(d))),
        );
    }
    items.sort_by_key(|(at, _)| *at);
    html! {
        ol.timeline {
            @for (at, item) in &items {
                @match item {
                    Item::Message(m) => {
                        li.customer {
                            p.meta { "Customer · " time datetime=(rfc3339(*at)) { (rfc3339(*at)) } }
                            p.text { (m.text) }
                        }
                    }
                    Item::Sent(d) => {
                        li.sent data-provenance=(d.provenance.as_str()) {
                            p.meta {
                                (provenance_words(d.provenance))
                                @if !public && !d.author.is_empty() { " · " (d.author) }
                                " · " time datetime=(rfc3339(*at)) { (rfc3339(*at)) }
                            }
                            p.text { (d.body) }
                            @if !d.disclosure.is_empty() {
                                p.disclosure { (d.disclosure) }
                            }
                            p.reviewed {
                                @if d.human_reviewed { "A person reviewed this reply." }
                                @else if d.ai_generated { "Written by AI; no person reviewed it." }
                            }
                        }
                    }
                    Item::Rejected(d) => {
                        li.rejected {
                            p.meta { "Draft rejected by " (d.reviewed_by) " · " (rfc3339(*at)) }
                            p.text {
                                @if let Some(code) = ReasonCode::of(&d.reject_reason) {
                                    span.reason-code { (code.label()) } " "
                                }
                                (d.reject_reason)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What the agent needs to decide on one draft.
pub struct ReviewView<'a> {
    pub draft: &'a Draft,
    pub transcript: &'a Transcript,
    /// What approving it as written sends (body, label, template).
    pub preview: &'a Delivery,
    pub now: Millis,
    pub lease_seconds: u32,
    pub error: Option<&'a str>,
}

pub fn review(who: &Who, v: &ReviewView) -> Markup {
    let d = v.draft;
    let may_act = who.may("Review/Approve");
    let message = v.transcript.messages.iter().find(|m| m.id == d.message_id);
    let codes = ReasonCode::ALL;
    layout(
        "Review a draft",
        Some(who),
        None,
        html! {
            div.review {
                section.conversation aria-label="The conversation" {
                    h1 { "Draft for conversation " a href=(format!("/console/conversations/{}", path_segment(&d.conversation_id))) { (d.conversation_id) } }
                    p { (d.channel) " · " (d.locale) " · created " (ago(v.now, d.created_at)) " ago"
                        @if let Some(t) = d.respond_by { " · due " (due(v.now, t)) } }
                    h2 { "The customer wrote" }
                    blockquote.customer-message { (d.customer_message) }
                    @if let Some(m) = message {
                        @if !m.context.is_empty() {
                            h2 { "Device" }
                            dl.context {
                                @for (k, val) in &m.context { dt { (k) } dd { (val) } }
                            }
                        }
                    }
                    h2 { "The conversation so far" }
                    (timeline(v.transcript, false))
                }
                section.decision aria-label="The draft" {
                    @if let Some(e) = v.error {
                        p.error role="alert" { (e) }
                    }
                    (status(who, d, v.now))
                    h2 { "Confidence: " span class=(format!("level level-{}", d.confidence.level.as_str().to_lowercase())) { (d.confidence.level.as_str()) } " (" (format!("{:.2}", d.confidence.score)) ")" }
                    p { (words::level(d.confidence.level)) }
                    ul.explain {
                        @for s in words::explain(&d.confidence) { li { (s) } }
                    }
                    details.reasons {
                        summary { "Every signal (" (d.confidence.reasons.len()) ")" }
                        table {
                            thead { tr { th scope="col" { "Signal" } th scope="col" { "Value" } th scope="col" { "What it measures" } } }
                            tbody {
                                @for r in &d.confidence.reasons {
                                    tr { td { code { (r.signal) } } td { (format!("{:.3}", r.value)) } td { (r.detail) } }
                                }
                            }
                        }
                    }
                    h2 { "Sources" }
                    @if d.citations.is_empty() { p { "No article was cited." } }
                    ul.citations {
                        @for c in &d.citations {
                            li {
                                a href=(format!("/console/articles/{}?version={}", path_segment(&c.article_id), c.version)) data-panel {
                                    (c.title) " (version " (c.version) ")"
                                }
                                p.snippet { (c.snippet) }
                            }
                        }
                    }
                    h2 { "What the customer will see" }
                    div.preview #preview data-disclosure=(v.preview.disclosure) {
                        p.text #preview-body { (v.preview.body) }
                        @if !v.preview.disclosure.is_empty() {
                            p.disclosure { (v.preview.disclosure) }
                        }
                    }
                    @if let Some(t) = &v.preview.template {
                        p.warning { "The channel's window has closed: the platform sends the template " code { (t.name) } " instead." }
                    }
                    @if may_act && d.is_open_for_review(v.now) || may_act && d.claim_is_live(v.now) && d.claimed_by == who.subject {
                        (actions(who, d, v, &codes))
                    } @else if !may_act {
                        p.hint { "You can see this draft but not act on it: your roles are " (who.roles_text()) "." }
                    }
                }
            }
        },
    )
}

fn actions(who: &Who, d: &Draft, v: &ReviewView, codes: &[ReasonCode]) -> Markup {
    let base = format!("/console/drafts/{}", path_segment(&d.id));
    let mine = d.claim_is_live(v.now) && d.claimed_by == who.subject;
    html! {
        div.actions {
            @if !mine {
                form method="post" action=(format!("{base}/claim")) {
                    (csrf(who))
                    input type="hidden" name="lease_seconds" value=(v.lease_seconds);
                    button type="submit" data-key="c" { "Claim " kbd { "c" } }
                }
            } @else {
                form method="post" action=(format!("{base}/release")) {
                    (csrf(who))
                    button type="submit" data-key="l" { "Release " kbd { "l" } }
                }
            }
            form method="post" action=(format!("{base}/approve")) {
                (csrf(who))
                button type="submit" data-key="a" { "Approve as written " kbd { "a" } }
            }
        }
        form.edit method="post" action=(format!("{base}/approve")) {
            (csrf(who))
            label for="edited_body" { "Edit the reply " kbd { "e" } }
            textarea #edited_body name="edited_body" rows="8" data-key="e" data-original=(d.body) data-submit-on-ctrl-enter { (d.body) }
            div.diff #edit-diff aria-live="polite" aria-label="Changes against the draft" {}
            button type="submit" { "Approve with my edit " kbd { "Ctrl+Enter" } }
        }
        form.reject method="post" action=(format!("{base}/reject")) {
            (csrf(who))
            fieldset {
                legend { "Reject " kbd { "r" } }
                label for="reason_code" { "Why" }
                select #reason_code name="reason_code" required data-key="r" {
                    @for c in codes { option value=(c.as_str()) { (c.label()) } }
                }
                label for="reason" { "Note (optional)" }
                input #reason name="reason" type="text" maxlength="500";
                label for="replacement_body" { "Your own reply instead (optional) " kbd { "w" } }
                textarea #replacement_body name="replacement_body" rows="5" data-key="w" {}
                p.hint { "With your own reply the customer receives it as written by a person; without one, nothing is sent." }
                button type="submit" { "Reject" }
            }
        }
    }
}

/// The part of the review view that changes under the agent: state, holder, lease.
pub fn status(who: &Who, d: &Draft, now: Millis) -> Markup {
    let live = format!("/console/drafts/{}/status", path_segment(&d.id));
    html! {
        div.status #status data-live=(live) aria-live="polite" {
            @if d.claim_is_live(now) {
                @if d.claimed_by == who.subject {
                    p.mine { "You hold this draft: "
                        span data-countdown=(d.claim_expires_at.unwrap_or(now)) { (ago(d.claim_expires_at.unwrap_or(now), now)) } " left on your lease." }
                } @else {
                    p.held role="alert" { "Held by " strong { (d.claimed_by) } " for "
                        span data-countdown=(d.claim_expires_at.unwrap_or(now)) { (ago(d.claim_expires_at.unwrap_or(now), now)) }
                        ": you cannot act on it until they release it or the lease runs out." }
                }
            } @else {
                p { "State: " strong { (draft_state_words(d.state)) }
                    @if !d.reviewed_by.is_empty() { " by " (d.reviewed_by) } }
            }
        }
    }
}

pub fn article(a: &Article, cited_version: Option<u64>) -> Markup {
    html! {
        article.article-text {
            button type="button" data-close-panel aria-label="Close" { "×" }
            h2 { (a.title) }
            p.meta {
                (a.locale) " · version " (a.version) " · "
                // Only web addresses become links: an article's url is an editor's text.
                @if a.url.starts_with("https://") || a.url.starts_with("http://") {
                    a href=(a.url) rel="noopener noreferrer" { (a.url) }
                } @else {
                    (a.url)
                }
            }
            @if let Some(v) = cited_version.filter(|v| *v != a.version) {
                p.warning { "The draft used version " (v) "; the article changed since. The cited passage is shown with the draft." }
            }
            pre.body { (a.body) }
        }
    }
}

pub fn find_conversation(who: &Who, error: Option<&str>) -> Markup {
    layout(
        "Conversations",
        Some(who),
        None,
        html! {
            h1 { "Find a conversation" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="get" action="/console/conversations" {
                label for="conv-id" { "Conversation id" }
                input #conv-id name="id" type="search" required;
                button type="submit" { "Open" }
            }
        },
    )
}

pub fn audit_words(verdict: &Verdict, conversation_id: &str) -> (bool, String) {
    match verdict {
        Verdict::Intact { events, .. } => (
            true,
            format!(
                "The audit chain holds ({events} events): every record of this conversation is what it recorded."
            ),
        ),
        Verdict::Broken { position, .. } => (
            false,
            format!(
                "The audit chain is broken at position {position}: run `replygate audit verify` for the details."
            ),
        ),
        Verdict::Altered { record, reason, .. } => {
            if record.contains(&format!("(conversation {conversation_id})")) {
                (
                    false,
                    format!(
                        "A record of this conversation was changed after the fact: {record} {reason}."
                    ),
                )
            } else {
                // Another conversation's record: say so, not whose or what.
                (
                    false,
                    "The chain holds, but a record of another conversation was changed after the fact: run `replygate audit verify`.".to_string(),
                )
            }
        }
    }
}

pub fn conversation(
    who: &Who,
    t: &Transcript,
    audit: (bool, String),
    now: Millis,
    notice: Option<&str>,
) -> Markup {
    let o = &t.ownership;
    let may_act = who.may("Review/TakeOver");
    let base = format!(
        "/console/conversations/{}",
        path_segment(&t.conversation_id)
    );
    let history = crate::model::history(&t.events);
    layout(
        "Conversation",
        Some(who),
        notice,
        html! {
            h1 { "Conversation " (t.conversation_id) }
            div.conv-head {
                p.state data-state=(o.state.as_str()) {
                    strong { (state_words(o.state)) }
                    @if !o.owner.is_empty() { " · owner: " strong { (o.owner) } }
                    " · since " (ago(now, o.since)) " ago"
                }
                p class=(if audit.0 { "audit ok" } else { "audit bad" }) { (audit.1) }
                @if may_act {
                    div.actions {
                        form method="post" action=(format!("{base}/take-over")) { (csrf(who)) button type="submit" data-key="t" { "Take over " kbd { "t" } } }
                        form method="post" action=(format!("{base}/hand-back")) { (csrf(who)) button type="submit" data-key="h" { "Hand back to the AI " kbd { "h" } } }
                        form method="post" action=(format!("{base}/resolve")) { (csrf(who)) button type="submit" data-key="x" { "Resolve " kbd { "x" } } }
                    }
                }
            }
            div.review {
                section aria-label="Transcript" {
                    h2 { "Transcript" }
                    div #transcript data-live=(format!("{base}/transcript")) {
                        (timeline(t, false))
                    }
                }
                section aria-label="Drafts and history" {
                    h2 { "Drafts" }
                    ul.drafts {
                        @for d in &t.drafts {
                            li { a href=(format!("/console/drafts/{}", path_segment(&d.id))) { (d.generator) " · " (d.confidence.level.as_str()) " · " (draft_state_words(d.state)) } }
                        }
                    }
                    h2 { "Who answered, over time" }
                    ol.history {
                        @for h in &history {
                            li { (rfc3339(h.at)) ": " (h.from.as_str()) " → " (h.to.as_str()) " (" (h.cause) @if !h.actor.is_empty() { ", " (h.actor) } ")" }
                        }
                    }
                }
            }
        },
    )
}

pub fn transcript_fragment(t: &Transcript) -> Markup {
    timeline(t, false)
}

/// The managers' page.
pub struct ManagerView<'a> {
    pub in_progress: &'a [ConversationSummary],
    pub today: &'a Stats,
    /// Hourly windows, oldest first.
    pub hours: &'a [Stats],
    pub queue_depth: u64,
    pub oldest_pending: Option<Millis>,
    /// The last `replygate eval` run's summary, if one was recorded.
    pub eval: Option<&'a serde_json::Value>,
    pub now: Millis,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A small bar chart of one figure over the hours, as inline SVG.
fn chart(label: &str, values: &[f64], fmt: fn(f64) -> String) -> Markup {
    let max = values.iter().cloned().fold(0.0, f64::max).max(1e-9);
    let w = 12.0;
    let h = 40.0;
    let width = values.len() as f64 * w;
    html! {
        figure.chart {
            svg width=(width) height=(h) viewBox=(format!("0 0 {width} {h}")) role="img" aria-label=(format!("{label}, last {} hours", values.len())) {
                rect.baseline x="0" y=(h - 1.0) width=(width) height="1" {}
                @for (i, v) in values.iter().enumerate() {
                    @let bh = (v / max * (h - 2.0)).max(if *v > 0.0 { 1.0 } else { 0.0 });
                    rect x=(i as f64 * w + 1.0) y=(h - bh) width=(w - 2.0) height=(bh) {
                        title { (fmt(*v)) }
                    }
                }
            }
            figcaption { (label) ": " (values.last().map_or(String::new(), |v| fmt(*v))) " in the last hour" }
        }
    }
}

pub fn manager(who: &Who, v: &ManagerView) -> Markup {
    let s = v.today;
    layout(
        "Managers",
        Some(who),
        None,
        html! {
            h1 { "The desk now" }
            section aria-label="Desk figures, last 24 hours" {
                h2 { "Last 24 hours" }
                dl.figures {
                    dt { "Auto-sent" } dd { (percent(s.auto_send_rate)) " of " (s.drafts) " drafts" }
                    dt { "Queue depth" } dd { (v.queue_depth) }
                    dt { "Oldest pending" } dd { (v.oldest_pending.map_or("none".into(), |t| ago(v.now, t))) }
                    dt { "Median time to approve" } dd { (format!("{:.0} s", s.median_seconds_to_approve)) }
                    dt { "Approved / edited" } dd { (s.approved) " / " (s.edited) " (" (percent(s.edit_rate)) " edited)" }
                    dt { "Rejected / replaced" } dd { (s.rejected) " / " (s.replaced) }
                }
                @if !s.rejections_by_reason.is_empty() {
                    h3 { "Rejections by reason" }
                    ul { @for (code, n) in &s.rejections_by_reason { li { (code) ": " (n) } } }
                }
                div.charts {
                    (chart("Drafts", &v.hours.iter().map(|h| h.drafts as f64).collect::<Vec<_>>(), |x| format!("{x:.0}")))
                    (chart("Auto-send rate", &v.hours.iter().map(|h| h.auto_send_rate).collect::<Vec<_>>(), percent))
                    (chart("Edits", &v.hours.iter().map(|h| h.edited as f64).collect::<Vec<_>>(), |x| format!("{x:.0}")))
                    (chart("Rejections", &v.hours.iter().map(|h| (h.rejected + h.replaced) as f64).collect::<Vec<_>>(), |x| format!("{x:.0}")))
                }
                h3 { "Per agent" }
                table {
                    thead { tr { th scope="col" { "Agent" } th scope="col" { "Approved" } th scope="col" { "Edited" } th scope="col" { "Rejected" } th scope="col" { "Replaced" } th scope="col" { "Median to decide" } } }
                    tbody {
                        @for a in &s.agents {
                            tr { td { (a.agent) } td { (a.approved) } td { (a.edited) } td { (a.rejected) } td { (a.replaced) } td { (format!("{:.0} s", a.median_seconds_to_decide)) } }
                        }
                    }
                }
            }
            section aria-label="Conversations in progress" #in-progress data-live="/console/manager/in-progress" {
                (in_progress(v.in_progress, v.now))
            }
            section aria-label="Routing quality" {
                h2 { "Routing quality (last eval)" }
                @match v.eval {
                    Some(e) => {
                        dl.figures {
                            @for key in ["file", "recorded_at", "questions", "top1", "top3", "auto_sent", "precision", "precision_lower_95", "coverage", "out_of_scope_leakage"] {
                                @if let Some(val) = e.get(key) {
                                    dt { (key) } dd { (val.to_string().trim_matches('"')) }
                                }
                            }
                        }
                    }
                    None => p { "No eval run recorded: run " code { "replygate eval --questions FILE.jsonl" } " against this data dir." }
                }
            }
        },
    )
}

pub fn in_progress(list: &[ConversationSummary], now: Millis) -> Markup {
    html! {
        h2 { "In progress (" (list.len()) ")" }
        table {
            thead { tr { th scope="col" { "Conversation" } th scope="col" { "Channel" } th scope="col" { "State" } th scope="col" { "Held by" } th scope="col" { "Lasted" } th scope="col" { "In this state" } } }
            tbody {
                @for c in list {
                    tr {
                        td { a href=(format!("/console/conversations/{}", path_segment(&c.id))) { (c.id) } }
                        td { (c.channel) }
                        td { (state_words(c.state)) }
                        td { @if c.owner.is_empty() { "–" } @else { (c.owner) } }
                        td { (ago(now, c.created_at)) }
                        td { (ago(now, c.state_since)) }
                    }
                }
            }
        }
    }
}

/// The customer's own record, from a transcript link: what they wrote and
/// what they were sent, with every AI label and whether a person reviewed it.
pub fn customer_record(t: &Transcript) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                link rel="icon" href="data:,";
                title { "Your conversation" }
                link rel="stylesheet" href="/transcript/assets/record.css";
            }
            body.record {
                main {
                    h1 { "Your conversation" }
                    p { "This is the record of what you wrote and what you were sent. Replies written by AI say so; each reply says whether a person reviewed it." }
                    (timeline(t, true))
                }
            }
        }
    }
}

pub fn link_not_valid() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; link rel="icon" href="data:,"; title { "Link not valid" } link rel="stylesheet" href="/transcript/assets/record.css"; }
            body.record { main { h1 { "This link is not valid" } p { "It may have expired or been withdrawn. Ask for a new one." } } }
        }
    }
}

/// An error page inside the console.
pub fn error(who: Option<&Who>, message: &str) -> Markup {
    layout(
        "Error",
        who,
        None,
        html! { h1 { "Something is not right" } p.error role="alert" { (message) } p { a href="/console" { "Back to the queue" } } },
    )
}
