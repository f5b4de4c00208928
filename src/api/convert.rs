//! Domain records <-> protobuf messages.

use super::pb;
use crate::drafting::memory::Listed;
use crate::knowledge::{ArticleInput, SearchResults};
use crate::model::{
    Article, AuditEvent, Citation, CuratedState, CustomerMessage, Delivery, Draft, DraftState,
    Level, Millis, Transcript,
};
use crate::review::{QueueEvent, QueueEventKind};

pub fn timestamp(ms: Millis) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    })
}

fn state(s: DraftState) -> pb::DraftState {
    match s {
        DraftState::PendingReview => pb::DraftState::PendingReview,
        DraftState::Claimed => pb::DraftState::Claimed,
        DraftState::Approved => pb::DraftState::Approved,
        DraftState::Rejected => pb::DraftState::Rejected,
        DraftState::AutoApproved => pb::DraftState::AutoApproved,
        DraftState::Superseded => pb::DraftState::Superseded,
        DraftState::Delivered => pb::DraftState::Delivered,
    }
}

fn level(l: Level) -> pb::ConfidenceLevel {
    match l {
        Level::Low => pb::ConfidenceLevel::Low,
        Level::Medium => pb::ConfidenceLevel::Medium,
        Level::High => pb::ConfidenceLevel::High,
    }
}

fn citation(c: Citation) -> pb::Citation {
    pb::Citation {
        article_id: c.article_id,
        version: c.version,
        title: c.title,
        url: c.url,
        snippet: c.snippet,
    }
}

pub fn provenance(p: crate::model::Provenance) -> pb::Provenance {
    use crate::model::Provenance;
    match p {
        Provenance::AiAuto => pb::Provenance::AiAuto,
        Provenance::AiReviewed => pb::Provenance::AiReviewed,
        Provenance::AiEdited => pb::Provenance::AiEdited,
        Provenance::Human => pb::Provenance::Human,
        Provenance::System => pb::Provenance::System,
    }
}

pub fn draft(d: Draft) -> pb::Draft {
    // Who wrote what is (or was) delivered; nothing yet while it waits.
    let delivers = match d.state {
        DraftState::AutoApproved | DraftState::Approved | DraftState::Delivered => true,
        DraftState::Rejected => !d.final_body.is_empty(),
        DraftState::PendingReview | DraftState::Claimed | DraftState::Superseded => false,
    };
    let (written_by, edit_ratio) = if delivers {
        let (p, r) = crate::model::Provenance::of(&d);
        (provenance(p), r)
    } else {
        (pb::Provenance::Unspecified, 0.0)
    };
    pb::Draft {
        provenance: written_by as i32,
        edit_ratio,
        id: d.id,
        conversation_id: d.conversation_id,
        body: d.body,
        locale: d.locale,
        ai_generated: d.ai_generated,
        disclosure: d.disclosure,
        confidence: Some(pb::Confidence {
            score: d.confidence.score,
            level: level(d.confidence.level) as i32,
            reasons: d
                .confidence
                .reasons
                .into_iter()
                .map(|r| pb::Reason {
                    signal: r.signal,
                    value: r.value,
                    detail: r.detail,
                })
                .collect(),
        }),
        citations: d.citations.into_iter().map(citation).collect(),
        state: state(d.state) as i32,
        generator: d.generator,
        final_body: d.final_body,
        reviewed_by: d.reviewed_by,
        created_at: timestamp(d.created_at),
        updated_at: timestamp(d.updated_at),
        channel: d.channel,
        request_id: d.request_id.unwrap_or_default(),
        human_reviewed: d.human_reviewed,
        claimed_by: d.claimed_by,
        claim_expires_at: d.claim_expires_at.and_then(timestamp),
        reject_reason: d.reject_reason,
        customer_message: d.customer_message,
        needs_person: d.needs_person,
        curated_answer_id: d.curated_answer_id,
        respond_by: d.respond_by.and_then(timestamp),
    }
}

pub fn delivery(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        cursor: d.cursor,
        draft_id: d.draft_id,
        conversation_id: d.conversation_id,
        channel: d.channel,
        locale: d.locale,
        body: d.body,
        disclosure: d.disclosure,
        text: d.text,
        ai_generated: d.ai_generated,
        human_reviewed: d.human_reviewed,
        author: d.author,
        created_at: timestamp(d.created_at),
        provenance: provenance(d.provenance) as i32,
        edit_ratio: d.edit_ratio,
        requires_template: d.template.is_some(),
        template_name: d
            .template
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        template_parameters: d.template.map(|t| t.parameters).unwrap_or_default(),
    }
}

fn event(e: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        seq: e.seq,
        at: timestamp(e.at),
        kind: e.kind,
        actor: e.actor,
        conversation_id: e.conversation_id,
        draft_id: e.draft_id,
        detail: e.detail.to_string(),
        chain_position: e.chain.position,
        prev_hash: e.chain.prev_hash,
        hash: e.chain.hash,
    }
}

fn message(m: CustomerMessage) -> pb::CustomerMessage {
    pb::CustomerMessage {
        id: m.id,
        text: m.text,
        locale: m.locale,
        channel: m.channel,
        context: m.context.into_iter().collect(),
        received_at: timestamp(m.received_at),
    }
}

pub fn conversation_state(s: crate::conversation::State) -> pb::ConversationState {
    use crate::conversation::State;
    match s {
        State::AiActive => pb::ConversationState::AiActive,
        State::Escalated => pb::ConversationState::Escalated,
        State::HumanOwned => pb::ConversationState::HumanOwned,
        State::Resolved => pb::ConversationState::Resolved,
    }
}

pub fn conversation(t: Transcript) -> pb::Conversation {
    let history = crate::model::history(&t.events)
        .into_iter()
        .map(|h| pb::StateChange {
            from: conversation_state(h.from) as i32,
            to: conversation_state(h.to) as i32,
            actor: h.actor,
            cause: h.cause,
            owner: h.owner,
            at: timestamp(h.at),
        })
        .collect();
    pb::Conversation {
        id: t.conversation_id,
        messages: t.messages.into_iter().map(message).collect(),
        drafts: t.drafts.into_iter().map(draft).collect(),
        events: t.events.into_iter().map(event).collect(),
        deliveries: t.deliveries.into_iter().map(delivery).collect(),
        state: conversation_state(t.ownership.state) as i32,
        owner: t.ownership.owner,
        state_since: timestamp(t.ownership.since),
        history,
    }
}

pub fn ownership(conversation_id: &str, c: crate::review::Changed) -> pb::ConversationOwnership {
    pb::ConversationOwnership {
        conversation_id: conversation_id.to_string(),
        state: conversation_state(c.ownership.state) as i32,
        owner: c.ownership.owner,
        state_since: timestamp(c.ownership.since),
        closed_draft_ids: c.closed,
    }
}

pub fn queue_event(e: QueueEvent) -> pb::QueueEvent {
    let kind = match e.kind {
        QueueEventKind::Snapshot => pb::queue_event::Kind::Snapshot,
        QueueEventKind::Added => pb::queue_event::Kind::Added,
        QueueEventKind::Claimed => pb::queue_event::Kind::Claimed,
        QueueEventKind::Removed => pb::queue_event::Kind::Removed,
    };
    pb::QueueEvent {
        kind: kind as i32,
        draft: Some(draft(e.draft)),
    }
}

pub fn article(a: Article) -> pb::Article {
    pb::Article {
        id: a.id,
        locale: a.locale,
        title: a.title,
        body: a.body,
        tags: a.tags,
        url: a.url,
        version: a.version,
        content_hash: a.content_hash,
        updated_at: timestamp(a.updated_at),
        source: a.source,
        applies_to: (!a.applies_to.is_empty()).then_some(pb::AppliesTo {
            os: a.applies_to.os,
            app_version: a.applies_to.app_version,
        }),
    }
}

pub fn article_input(a: pb::Article) -> ArticleInput {
    ArticleInput {
        id: a.id,
        locale: a.locale,
        title: a.title,
        body: a.body,
        tags: a.tags,
        url: a.url,
        applies_to: a
            .applies_to
            .map(|t| crate::device::AppliesTo {
                os: t.os,
                app_version: t.app_version,
            })
            .unwrap_or_default(),
    }
}

pub fn search_response(r: SearchResults) -> pb::SearchResponse {
    pb::SearchResponse {
        hits: r
            .hits
            .articles
            .into_iter()
            .map(|h| {
                let best = h.passages.into_iter().next();
                pb::SearchHit {
                    article_id: h.article_id,
                    version: h.version,
                    title: h.title,
                    url: h.url,
                    heading: best.as_ref().map(|p| p.heading.clone()).unwrap_or_default(),
                    snippet: best
                        .map(|p| crate::drafting::extractive::clip(&p.text, 240))
                        .unwrap_or_default(),
                    score: h.score,
                    locale: h.locale,
                }
            })
            .collect(),
        locale: r.locale,
    }
}

pub fn millis(t: prost_types::Timestamp) -> Millis {
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos) / 1_000_000)
}

pub fn stats(s: crate::insights::Stats) -> pb::StatsResponse {
    pb::StatsResponse {
        from: timestamp(s.from),
        to: timestamp(s.to),
        conversations: s.conversations,
        drafts: s.drafts,
        auto_approved: s.auto_approved,
        pending: s.pending,
        approved: s.approved,
        edited: s.edited,
        rejected: s.rejected,
        replaced: s.replaced,
        superseded: s.superseded,
        delivered: s.delivered,
        auto_send_rate: s.auto_send_rate,
        edit_rate: s.edit_rate,
        median_seconds_to_approve: s.median_seconds_to_approve,
        low: s.low,
        medium: s.medium,
        high: s.high,
        agents: s
            .agents
            .into_iter()
            .map(|a| pb::AgentStats {
                agent: a.agent,
                approved: a.approved,
                edited: a.edited,
                rejected: a.rejected,
                replaced: a.replaced,
                median_seconds_to_decide: a.median_seconds_to_decide,
            })
            .collect(),
    }
}

pub fn curated_state(s: CuratedState) -> pb::CuratedAnswerState {
    match s {
        CuratedState::Active => pb::CuratedAnswerState::CuratedActive,
        CuratedState::Disabled => pb::CuratedAnswerState::CuratedDisabled,
        CuratedState::Rejected => pb::CuratedAnswerState::CuratedRejected,
        CuratedState::Superseded => pb::CuratedAnswerState::CuratedSuperseded,
    }
}

/// The state a list request filters by (None: any); an unknown number is refused.
pub fn curated_state_filter(value: i32) -> Result<Option<CuratedState>, crate::validate::Invalid> {
    match pb::CuratedAnswerState::try_from(value) {
        Ok(pb::CuratedAnswerState::Unspecified) => Ok(None),
        Ok(pb::CuratedAnswerState::CuratedActive) => Ok(Some(CuratedState::Active)),
        Ok(pb::CuratedAnswerState::CuratedDisabled) => Ok(Some(CuratedState::Disabled)),
        Ok(pb::CuratedAnswerState::CuratedRejected) => Ok(Some(CuratedState::Rejected)),
        Ok(pb::CuratedAnswerState::CuratedSuperseded) => Ok(Some(CuratedState::Superseded)),
        Err(_) => Err(crate::validate::invalid(
            "state",
            format!("{value} is not a CuratedAnswerState"),
        )),
    }
}

pub fn curated_answer(l: Listed) -> pb::CuratedAnswer {
    let a = l.answer;
    pb::CuratedAnswer {
        sources: a
            .sources
            .into_iter()
            .zip(l.live_versions)
            .map(|(s, live)| pb::CuratedSource {
                article_id: s.article_id,
                version: s.version,
                live_version: live.unwrap_or(0),
            })
            .collect(),
        questions: a
            .questions
            .into_iter()
            .map(|q| pb::CuratedQuestion {
                text: q.text,
                draft_id: q.draft_id,
                agent: q.agent,
                at: timestamp(q.at),
            })
            .collect(),
        id: a.id,
        locale: a.locale,
        reply: a.reply,
        approved_by: a.approved_by,
        rejections: a.rejections,
        state: curated_state(a.state) as i32,
        in_use: l.in_use,
        stale: l.stale,
        created_by: a.created_by,
        origin_draft_id: a.origin_draft_id,
        created_at: timestamp(a.created_at),
        updated_at: timestamp(a.updated_at),
    }
}
