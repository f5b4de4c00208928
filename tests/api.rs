//! The gateway end to end over real gRPC: drafting, review, delivery,
//! transcripts, knowledge, validation.

mod common;

use common::*;
use replygate::api::pb;
use std::collections::HashMap;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;

async fn next_delivery(stream: &mut tonic::Streaming<pb::Delivery>) -> pb::Delivery {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no delivery within 10s")
        .expect("stream ended")
        .expect("stream error")
}

async fn open_stream(s: &TestServer, after: u64) -> tonic::Streaming<pb::Delivery> {
    s.drafts()
        .stream_deliveries(pb::StreamDeliveriesRequest {
            after_cursor: after,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn assert_no_delivery(stream: &mut tonic::Streaming<pb::Delivery>) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(400), stream.next()).await {
        panic!("unexpected delivery: {item:?}");
    }
}

/// A question the sample help center does not cover: ends up pending review.
const OUT_OF_SCOPE: &str = "What's the weather in Rome tomorrow?";

// ---------- drafting ----------

#[tokio::test]
async fn english_question_is_answered_from_the_english_article_with_label_and_citation() {
    let s = TestServer::start().await;
    let d = s.ask("c1", "How do I change my phone number?").await;
    assert_eq!(d.locale, "en");
    assert!(d.ai_generated);
    assert_eq!(d.generator, "extractive");
    assert!(d.disclosure.contains("AI"), "{}", d.disclosure);
    let c = &d.citations[0];
    assert_eq!(c.article_id, "en/change-phone-number");
    assert_eq!(c.version, 1);
    assert!(c.url.starts_with("https://"));
    assert!(!c.snippet.is_empty());
    assert!(d.body.contains(&c.url), "the reply links the article");
    assert!(reason(&d, "retrieval_strength").is_some() && reason(&d, "margin").is_some());
    assert!((0.0..=1.0).contains(&score(&d)));
}

#[tokio::test]
async fn portuguese_question_is_answered_in_portuguese_from_a_portuguese_article() {
    let s = TestServer::start().await;
    let d = s
        .ask("c1", "Como faço para mudar meu número de telefone?")
        .await;
    assert_eq!(d.locale, "pt");
    assert_eq!(d.citations[0].article_id, "pt/change-phone-number");
    assert!(d.body.starts_with("Olá"), "{}", d.body);
    assert!(d.disclosure.contains("IA"), "{}", d.disclosure);
}

#[tokio::test]
async fn italian_question_is_answered_in_italian_from_an_italian_article() {
    let s = TestServer::start().await;
    let d = s.ask("c1", "Come faccio a eliminare il mio account?").await;
    assert_eq!(d.locale, "it");
    assert_eq!(d.citations[0].article_id, "it/delete-account");
    assert!(d.body.starts_with("Ciao"), "{}", d.body);
    assert!(d.disclosure.contains("IA"), "{}", d.disclosure);
}

#[tokio::test]
async fn the_message_language_wins_over_a_wrong_locale_hint() {
    let s = TestServer::start().await;
    let d = s
        .ask_with(
            "c1",
            "Come faccio a eliminare il mio account Lumo?",
            "en-US",
            "chat",
        )
        .await;
    assert_eq!(d.locale, "it");
}

#[tokio::test]
async fn a_confident_draft_is_auto_approved_and_already_on_the_delivery_stream() {
    let s = TestServer::start().await;
    let d = s.ask("c1", "How do I block a contact on Lumo?").await;
    assert_eq!(level(&d), pb::ConfidenceLevel::High);
    assert_eq!(state(&d), pb::DraftState::AutoApproved);
    let mut stream = open_stream(&s, 0).await;
    let delivery = next_delivery(&mut stream).await;
    assert_eq!(delivery.draft_id, d.id);
    assert!(delivery.ai_generated && !delivery.human_reviewed);
    assert_eq!(delivery.author, "ai");
    assert_eq!(delivery.body, d.body);
    assert!(
        delivery.text.starts_with(&d.body) && delivery.text.ends_with(&d.disclosure),
        "the sent text carries the AI label"
    );
}

#[tokio::test]
async fn an_out_of_scope_question_is_low_and_waits_for_review() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    assert_eq!(level(&d), pb::ConfidenceLevel::Low);
    assert_eq!(state(&d), pb::DraftState::PendingReview);
    let pending = s.pending().await;
    assert!(pending.iter().any(|p| p.id == d.id));
    let mut stream = open_stream(&s, 0).await;
    assert_no_delivery(&mut stream).await;
}

#[tokio::test]
async fn asking_for_a_human_forces_review_even_when_the_answer_is_confident() {
    let s = TestServer::start().await;
    for (i, text) in [
        "How do I block a contact on Lumo? I want to talk to a human",
        "Quero falar com um atendente sobre como mudar meu número de telefone",
        "Vorrei parlare con un operatore per eliminare il mio account",
    ]
    .into_iter()
    .enumerate()
    {
        let d = s.ask(&format!("c{i}"), text).await;
        assert_eq!(state(&d), pb::DraftState::PendingReview, "{text}");
        assert_eq!(reason(&d, "policy_human_requested"), Some(1.0), "{text}");
    }
}

#[tokio::test]
async fn an_always_review_topic_forces_review() {
    let s = TestServer::start().await;
    let d = s
        .ask("c1", "My account was hacked, how do I block someone?")
        .await;
    assert_eq!(state(&d), pb::DraftState::PendingReview);
    assert_eq!(reason(&d, "policy_always_review"), Some(1.0));
}

#[tokio::test]
async fn routing_thresholds_are_per_channel() {
    let s = TestServer::start_with(|c| {
        c.routing.channels.insert(
            "email".into(),
            replygate::config::Thresholds {
                high: 1.0,
                medium: 0.5,
            },
        );
    })
    .await;
    let chat = s
        .ask_with("c1", "How do I block a contact on Lumo?", "", "chat")
        .await;
    let email = s
        .ask_with("c2", "How do I block a contact on Lumo?", "", "email")
        .await;
    assert_eq!(state(&chat), pb::DraftState::AutoApproved);
    assert_eq!(state(&email), pb::DraftState::PendingReview);
    assert_eq!(email.channel, "email");
}

#[tokio::test]
async fn the_same_request_id_returns_the_same_draft_and_creates_nothing_new() {
    let s = TestServer::start().await;
    let req = pb::CreateDraftRequest {
        conversation_id: "c1".into(),
        message: OUT_OF_SCOPE.into(),
        request_id: "req-42".into(),
        ..Default::default()
    };
    let first = s
        .drafts()
        .create_draft(req.clone())
        .await
        .unwrap()
        .into_inner();
    let second = s.drafts().create_draft(req).await.unwrap().into_inner();
    assert_eq!(first.id, second.id);
    assert_eq!(
        state(&second),
        pb::DraftState::PendingReview,
        "a retry must not supersede the original"
    );
    let conv = s.conversation("c1").await;
    assert_eq!(conv.drafts.len(), 1);
    assert_eq!(conv.messages.len(), 1);
}

#[tokio::test]
async fn concurrent_retries_of_one_request_id_store_one_draft() {
    let s = TestServer::start().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = s.drafts();
        tasks.push(tokio::spawn(async move {
            client
                .create_draft(pb::CreateDraftRequest {
                    conversation_id: "c1".into(),
                    message: OUT_OF_SCOPE.into(),
                    request_id: "same".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn the_same_request_id_in_another_conversation_is_another_message() {
    let s = TestServer::start().await;
    let ask = |conversation: &str, message: &str| pb::CreateDraftRequest {
        conversation_id: conversation.into(),
        message: message.into(),
        request_id: "msg-1".into(),
        ..Default::default()
    };
    let first = s
        .drafts()
        .create_draft(ask(
            "chat-a",
            "I'm ana@example.com, card 4111 1111 1111 1111. What's the weather?",
        ))
        .await
        .unwrap()
        .into_inner();
    let second = s
        .drafts()
        .create_draft(ask("chat-b", "How do I block a contact on Lumo?"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(second.id, first.id, "a new draft, not the other chat's");
    assert_eq!(second.conversation_id, "chat-b");
    assert_eq!(second.customer_message, "How do I block a contact on Lumo?");
    assert!(!second.customer_message.contains("ana@example.com"));
    assert_eq!(
        state(&second),
        pb::DraftState::AutoApproved,
        "and it is answered"
    );
    assert_eq!(s.conversation("chat-b").await.messages.len(), 1);
}

#[tokio::test]
async fn a_draft_a_policy_sends_to_a_person_stays_queued_and_nothing_in_its_conversation_auto_sends()
 {
    let s = TestServer::start().await;
    for (i, flagged_text) in [
        "I want to kill myself",
        "I will take legal action against you",
        "Someone used my card, this is fraud",
        "I want to talk to a human",
    ]
    .into_iter()
    .enumerate()
    {
        let conversation = format!("c{i}");
        let flagged = s.ask(&conversation, flagged_text).await;
        assert_eq!(
            state(&flagged),
            pb::DraftState::PendingReview,
            "{flagged_text}"
        );
        assert!(flagged.needs_person, "{flagged_text}");
        // The customer writes again, with a question that is normally auto-sent.
        let follow_up = s
            .ask(&conversation, "How do I block a contact on Lumo?")
            .await;
        assert_eq!(
            state(&follow_up),
            pb::DraftState::PendingReview,
            "{flagged_text}"
        );
        assert_eq!(
            reason(&follow_up, "conversation_waits_for_person"),
            Some(1.0),
            "{flagged_text}"
        );
        let still = s.draft(&flagged.id).await;
        assert_eq!(
            state(&still),
            pb::DraftState::PendingReview,
            "{flagged_text}"
        );
        let queued = s.pending_ids("", "").await;
        assert!(
            queued.contains(&flagged.id),
            "still in the queue: {flagged_text}"
        );
    }
    // What went out: one handoff notice per conversation, and nothing the AI wrote.
    let mut stream = open_stream(&s, 0).await;
    for i in 0..4 {
        let notice = stream.next().await.unwrap().unwrap();
        assert_eq!(notice.conversation_id, format!("c{i}"));
        assert_eq!(
            (notice.author.as_str(), notice.ai_generated),
            ("system", false)
        );
    }
    assert_no_delivery(&mut stream).await;
    // An agent answers the flagged message: the conversation is hers until
    // she hands it back; then it auto-sends again.
    let flagged = s.ask("c9", "I want to talk to a human").await;
    s.approve(&flagged.id, "ana", Some("Hi, this is Ana. How can I help?"))
        .await
        .unwrap();
    let while_hers = s.ask("c9", "How do I block a contact on Lumo?").await;
    assert_eq!(state(&while_hers), pb::DraftState::PendingReview);
    s.hand_back("c9", "ana").await.unwrap();
    let answered = s.ask("c9", "How do I block a contact on Lumo?").await;
    assert_eq!(state(&answered), pb::DraftState::AutoApproved);
}

#[tokio::test]
async fn get_draft_returns_the_stored_draft_and_unknown_ids_are_not_found() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    let got = s.draft(&d.id).await;
    assert_eq!(got.id, d.id);
    assert_eq!(got.customer_message, OUT_OF_SCOPE);
    assert_status(
        s.drafts()
            .get_draft(pb::GetDraftRequest {
                draft_id: "nope".into(),
            })
            .await,
        Code::NotFound,
        "nope",
    );
    assert_status(
        s.drafts()
            .get_conversation(pb::GetConversationRequest {
                conversation_id: "nope".into(),
            })
            .await,
        Code::NotFound,
        "nope",
    );
}

// ---------- review ----------

#[tokio::test]
async fn two_agents_racing_for_one_claim_exactly_one_wins() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    let mut tasks = Vec::new();
    for agent in ["ana", "bob", "cai", "dee", "eli", "fay"] {
        let mut review = s.review();
        let id = d.id.clone();
        tasks.push(tokio::spawn(async move {
            review
                .claim(as_agent(
                    pb::ClaimRequest {
                        draft_id: id,
                        lease_seconds: 0,
                    },
                    agent,
                ))
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(d) => winners.push(d.claimed_by),
            Err(status) => {
                // The draft is claimed, or its conversation already the winner's.
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    status.message().contains("claimed by")
                        || status.message().contains("owned by"),
                    "{status:?}"
                );
            }
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
}

#[tokio::test]
async fn a_live_claim_names_its_holder_and_expiry_to_other_agents() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    let claimed = s.claim(&d.id, "ana").await.unwrap();
    assert_eq!(state(&claimed), pb::DraftState::Claimed);
    assert_eq!(claimed.claimed_by, "ana");
    let expiry = claimed.claim_expires_at.unwrap().seconds - claimed.updated_at.unwrap().seconds;
    assert!(
        (599..=601).contains(&expiry),
        "default lease is 10 minutes, got {expiry}s"
    );
    let err = s.claim(&d.id, "bob").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("ana") && err.message().contains("until"),
        "{}",
        err.message()
    );
    assert_status(
        s.approve(&d.id, "bob", None).await,
        Code::FailedPrecondition,
        "ana",
    );
}

#[tokio::test]
async fn an_expired_lease_returns_the_draft_to_the_queue() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    s.claim_for(&d.id, "ana", 1).await.unwrap();
    let pending = s.pending().await;
    assert!(
        pending.iter().all(|p| p.id != d.id),
        "a live claim is not pending"
    );
    let back = eventually(10, || {
        let mut review = s.review();
        let id = d.id.clone();
        async move {
            let list = review
                .list_pending(pb::ListPendingRequest::default())
                .await
                .unwrap()
                .into_inner();
            list.drafts.into_iter().find(|p| p.id == id)
        }
    })
    .await;
    assert_eq!(back.id, d.id);
    // The sweeper returns it to the queue for good and records why.
    let returned = eventually(10, || {
        let mut drafts = s.drafts();
        let id = d.id.clone();
        async move {
            let d = drafts
                .get_draft(pb::GetDraftRequest { draft_id: id })
                .await
                .unwrap()
                .into_inner();
            (state(&d) == pb::DraftState::PendingReview).then_some(d)
        }
    })
    .await;
    assert!(returned.claimed_by.is_empty());
    let conv = s.conversation("c1").await;
    let expired = conv
        .events
        .iter()
        .find(|e| e.kind == "claim_expired")
        .expect("expiry recorded");
    assert_eq!(expired.actor, "system");
    assert!(expired.detail.contains("ana"));
    let taken = s.claim(&d.id, "bob").await.unwrap();
    assert_eq!(taken.claimed_by, "bob");
}

#[tokio::test]
async fn approving_delivers_the_draft_labeled_as_ai_and_reviewed() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    s.claim(&d.id, "ana").await.unwrap();
    let approved = s.approve(&d.id, "ana", None).await.unwrap();
    assert_eq!(state(&approved), pb::DraftState::Approved);
    assert_eq!(approved.reviewed_by, "ana");
    assert!(approved.ai_generated && approved.human_reviewed);
    assert_eq!(approved.final_body, d.body);
    let delivery = next_delivery(&mut open_stream(&s, 0).await).await;
    assert_eq!(delivery.draft_id, d.id);
    assert_eq!(delivery.body, d.body);
    assert!(delivery.ai_generated && delivery.human_reviewed);
    assert_eq!(delivery.author, "ana");
    assert!(delivery.text.ends_with(&approved.disclosure) && approved.disclosure.contains("AI"));
}

#[tokio::test]
async fn an_edited_approval_delivers_the_agents_text_still_labeled_ai() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    let edited =
        "Hi! We can't tell the weather, but Lumo status updates can share it with friends.";
    let approved = s.approve(&d.id, "ana", Some(edited)).await.unwrap();
    assert_eq!(approved.final_body, edited);
    assert_eq!(approved.body, d.body, "the AI's original text is kept");
    let delivery = next_delivery(&mut open_stream(&s, 0).await).await;
    assert_eq!(delivery.body, edited);
    assert!(delivery.ai_generated && delivery.human_reviewed);
    assert!(delivery.text.starts_with(edited) && delivery.text.contains("AI"));
    let conv = s.conversation("c1").await;
    let edit = conv
        .events
        .iter()
        .find(|e| e.kind == "draft_edited")
        .expect("edit recorded");
    assert_eq!(edit.actor, "ana");
    // The chain records the edit by digest (the texts are in the draft, and
    // can be erased without breaking the chain).
    let detail: serde_json::Value = serde_json::from_str(&edit.detail).unwrap();
    assert_eq!(
        detail["after_sha256"],
        replygate::storage::chain::digest(&[edited])
    );
    assert_eq!(
        detail["before_sha256"],
        replygate::storage::chain::digest(&[&d.body])
    );
    assert!(!edit.detail.contains("We can't tell the weather"));
}

#[tokio::test]
async fn a_rejection_with_a_replacement_delivers_human_text_without_the_ai_label() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    let mine = "Hello, this is Ana from support. We don't offer weather forecasts.";
    let rejected = s
        .reject(&d.id, "ana", "off topic", Some(mine))
        .await
        .unwrap();
    assert_eq!(state(&rejected), pb::DraftState::Rejected);
    assert!(!rejected.ai_generated);
    assert!(rejected.disclosure.is_empty());
    assert_eq!(rejected.reject_reason, "off topic");
    let delivery = next_delivery(&mut open_stream(&s, 0).await).await;
    assert_eq!(delivery.text, mine);
    assert!(!delivery.ai_generated && delivery.human_reviewed);
    assert_eq!(delivery.author, "ana");
}

#[tokio::test]
async fn a_plain_rejection_delivers_nothing() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    s.reject(&d.id, "ana", "wrong", None).await.unwrap();
    assert_no_delivery(&mut open_stream(&s, 0).await).await;
}

#[tokio::test]
async fn illegal_state_changes_fail_with_failed_precondition_and_change_nothing() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    s.reject(&d.id, "ana", "wrong", None).await.unwrap();
    assert_status(
        s.approve(&d.id, "ana", None).await,
        Code::FailedPrecondition,
        "REJECTED",
    );
    assert_status(
        s.claim(&d.id, "ana").await,
        Code::FailedPrecondition,
        "REJECTED",
    );
    let auto = s.ask("c2", "How do I block a contact on Lumo?").await;
    assert_status(
        s.approve(&auto.id, "ana", None).await,
        Code::FailedPrecondition,
        "AUTO_APPROVED",
    );
    let after = s.draft(&d.id).await;
    assert_eq!(state(&after), pb::DraftState::Rejected);
    assert_no_delivery(&mut open_stream(&s, auto_cursor(&s).await).await).await;
}

async fn auto_cursor(s: &TestServer) -> u64 {
    // The one auto-approved delivery is the newest; skip it.
    next_delivery(&mut open_stream(s, 0).await).await.cursor
}

#[tokio::test]
async fn release_gives_the_draft_back_and_only_the_holder_can_release() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    s.claim(&d.id, "ana").await.unwrap();
    assert_status(
        s.release(&d.id, "bob").await,
        Code::FailedPrecondition,
        "ana",
    );
    let released = s.release(&d.id, "ana").await.unwrap();
    assert_eq!(state(&released), pb::DraftState::PendingReview);
    s.claim(&d.id, "bob").await.unwrap();
}

#[tokio::test]
async fn review_calls_need_an_agent_identity() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    assert_status(
        s.review()
            .claim(pb::ClaimRequest {
                draft_id: d.id.clone(),
                lease_seconds: 0,
            })
            .await,
        Code::Unauthenticated,
        "x-agent-id",
    );
}

#[tokio::test]
async fn the_queue_lists_the_soonest_due_then_the_oldest_and_filters_by_channel_and_locale() {
    let s = TestServer::start().await;
    let a = s.ask_with("c1", OUT_OF_SCOPE, "", "whatsapp").await;
    let b = s
        .ask_with(
            "c2",
            "Qual é a previsão do tempo para amanhã em Lisboa?",
            "",
            "email",
        )
        .await;
    let c = s
        .ask_with(
            "c3",
            "Do you sell gift cards for birthdays?",
            "",
            "whatsapp",
        )
        .await;
    // WhatsApp's window gives its drafts a time to answer by; the email has none.
    assert_eq!(
        s.pending_ids("", "").await,
        vec![a.id.clone(), c.id.clone(), b.id.clone()]
    );
    assert_eq!(s.pending_ids("whatsapp", "").await, vec![a.id, c.id]);
    assert_eq!(s.pending_ids("", "pt").await, vec![b.id]);
}

#[tokio::test]
async fn watch_queue_reports_snapshot_claims_and_removals() {
    let s = TestServer::start().await;
    let first = s.ask("c1", OUT_OF_SCOPE).await;
    let mut watch = s
        .review()
        .watch_queue(pb::WatchQueueRequest::default())
        .await
        .unwrap()
        .into_inner();
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, e.draft.unwrap().id),
        (pb::queue_event::Kind::Snapshot as i32, first.id.clone())
    );
    let second = s.ask("c2", "Do you sell gift cards?").await;
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, e.draft.unwrap().id),
        (pb::queue_event::Kind::Added as i32, second.id.clone())
    );
    s.claim(&second.id, "ana").await.unwrap();
    let e = next_event(&mut watch).await;
    assert_eq!(e.kind, pb::queue_event::Kind::Claimed as i32);
    s.approve(&second.id, "ana", None).await.unwrap();
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, e.draft.unwrap().id),
        (pb::queue_event::Kind::Removed as i32, second.id)
    );
}

async fn next_event(watch: &mut tonic::Streaming<pb::QueueEvent>) -> pb::QueueEvent {
    tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("queue event")
        .unwrap()
        .unwrap()
}

// ---------- superseding ----------

#[tokio::test]
async fn a_new_customer_message_supersedes_the_pending_and_claimed_drafts() {
    // About superseding only: two LOW drafts in a row would also send the
    // conversation to a person (tested in conversation_state below).
    let s = TestServer::start_with(|c| c.handoff.escalate_after_low = 0).await;
    let first = s.ask("c1", OUT_OF_SCOPE).await;
    let second = s.ask("c1", "And what about Milan on Sunday?").await;
    s.claim(&second.id, "ana").await.unwrap();
    let third = s.ask("c1", "How do I block a contact on Lumo?").await;
    for id in [&first.id, &second.id] {
        let d = s.draft(id).await;
        assert_eq!(state(&d), pb::DraftState::Superseded);
    }
    assert_status(
        s.approve(&second.id, "ana", None).await,
        Code::FailedPrecondition,
        "SUPERSEDED",
    );
    // Her claim made the conversation hers: the new draft waits for her.
    assert_eq!(state(&third), pb::DraftState::PendingReview);
    s.approve(&third.id, "ana", None).await.unwrap();
    let mut stream = open_stream(&s, 0).await;
    let only = next_delivery(&mut stream).await;
    assert_eq!(
        only.draft_id, third.id,
        "superseded drafts are never delivered"
    );
    assert_no_delivery(&mut stream).await;
}

#[tokio::test]
async fn messages_in_other_conversations_supersede_nothing() {
    let s = TestServer::start().await;
    let first = s.ask("c1", OUT_OF_SCOPE).await;
    s.ask("c2", OUT_OF_SCOPE).await;
    let d = s.draft(&first.id).await;
    assert_eq!(state(&d), pb::DraftState::PendingReview);
}

// ---------- delivery ----------

#[tokio::test]
async fn deliveries_stream_in_commit_order_and_new_ones_are_pushed() {
    let s = TestServer::start().await;
    let a = s.ask("c1", "How do I block a contact on Lumo?").await;
    let b = s.ask("c2", "How do I delete my Lumo account?").await;
    let mut stream = open_stream(&s, 0).await;
    let (da, db) = (
        next_delivery(&mut stream).await,
        next_delivery(&mut stream).await,
    );
    assert_eq!(
        (da.draft_id.as_str(), db.draft_id.as_str()),
        (a.id.as_str(), b.id.as_str())
    );
    assert!(da.cursor < db.cursor);
    let c = s.ask("c3", "How do I turn on two-step verification?").await;
    let dc = next_delivery(&mut stream).await;
    assert_eq!(dc.draft_id, c.id);
    assert!(dc.cursor > db.cursor);
}

#[tokio::test]
async fn a_stream_resumes_after_its_cursor_and_unacked_deliveries_come_again() {
    let s = TestServer::start().await;
    for (i, q) in [
        "How do I block a contact on Lumo?",
        "How do I delete my Lumo account?",
        "How do I turn on two-step verification?",
    ]
    .iter()
    .enumerate()
    {
        s.ask(&format!("c{i}"), q).await;
    }
    let mut stream = open_stream(&s, 0).await;
    let first: Vec<_> = [
        next_delivery(&mut stream).await,
        next_delivery(&mut stream).await,
        next_delivery(&mut stream).await,
    ]
    .to_vec();
    drop(stream);
    // Only the first is acknowledged.
    let ack = s
        .drafts()
        .ack_delivery(pb::AckDeliveryRequest {
            cursor: first[0].cursor,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ack.newly_acked);
    assert_eq!(
        state(ack.draft.as_ref().unwrap()),
        pb::DraftState::Delivered
    );
    // A new stream from the start sends the two unacknowledged ones again.
    let mut again = open_stream(&s, 0).await;
    assert_eq!(next_delivery(&mut again).await.cursor, first[1].cursor);
    assert_eq!(next_delivery(&mut again).await.cursor, first[2].cursor);
    assert_no_delivery(&mut again).await;
    // Resuming after the second cursor skips what came before it.
    let mut resumed = open_stream(&s, first[1].cursor).await;
    assert_eq!(next_delivery(&mut resumed).await.cursor, first[2].cursor);
    assert_no_delivery(&mut resumed).await;
}

#[tokio::test]
async fn a_replayed_ack_is_harmless_and_unknown_cursors_are_not_found() {
    let s = TestServer::start().await;
    s.ask("c1", "How do I block a contact on Lumo?").await;
    let d = next_delivery(&mut open_stream(&s, 0).await).await;
    assert!(
        s.drafts()
            .ack_delivery(pb::AckDeliveryRequest { cursor: d.cursor })
            .await
            .unwrap()
            .into_inner()
            .newly_acked
    );
    let replay = s
        .drafts()
        .ack_delivery(pb::AckDeliveryRequest { cursor: d.cursor })
        .await
        .unwrap()
        .into_inner();
    assert!(!replay.newly_acked);
    assert_eq!(
        state(replay.draft.as_ref().unwrap()),
        pb::DraftState::Delivered
    );
    assert_status(
        s.drafts()
            .ack_delivery(pb::AckDeliveryRequest { cursor: 9999 })
            .await,
        Code::NotFound,
        "9999",
    );
    assert_status(
        s.drafts()
            .ack_delivery(pb::AckDeliveryRequest { cursor: 0 })
            .await,
        Code::InvalidArgument,
        "cursor",
    );
    let conv = s.conversation("c1").await;
    assert_eq!(
        conv.events
            .iter()
            .filter(|e| e.kind == "delivery_acked")
            .count(),
        1
    );
}

async fn open_group_stream(
    s: &TestServer,
    group: &str,
    lease_seconds: u32,
) -> tonic::Streaming<pb::Delivery> {
    s.drafts()
        .stream_deliveries(pb::StreamDeliveriesRequest {
            consumer_group: group.into(),
            lease_seconds,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn ack(s: &TestServer, cursor: u64) {
    s.drafts()
        .ack_delivery(pb::AckDeliveryRequest { cursor })
        .await
        .unwrap();
}

#[tokio::test]
async fn two_workers_of_one_consumer_group_share_the_deliveries_without_doubles() {
    let s = TestServer::start().await;
    let mut a = open_group_stream(&s, "workers", 0).await;
    let mut b = open_group_stream(&s, "workers", 0).await;
    let mut plain = open_stream(&s, 0).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        sent.push(
            s.ask(&format!("c{i}"), "How do I block a contact on Lumo?")
                .await
                .id,
        );
    }
    // Every delivery reaches exactly one worker; each acks what it sends.
    let mut seen = Vec::new();
    while seen.len() < sent.len() {
        let d = tokio::select! {
            Some(d) = a.next() => d.unwrap(),
            Some(d) = b.next() => d.unwrap(),
            _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("deliveries missing: {seen:?}"),
        };
        ack(&s, d.cursor).await;
        seen.push(d.draft_id);
    }
    seen.sort();
    sent.sort();
    assert_eq!(seen, sent, "each delivery once");
    assert_no_delivery(&mut a).await;
    assert_no_delivery(&mut b).await;
    // A stream without a group still gets them all.
    for _ in 0..sent.len() {
        next_delivery(&mut plain).await;
    }
}

#[tokio::test]
async fn a_delivery_a_worker_does_not_ack_goes_to_another_worker_when_its_lease_ends() {
    let s = TestServer::start().await;
    let mut a = open_group_stream(&s, "workers", 1).await;
    let d = s.ask("c1", "How do I block a contact on Lumo?").await;
    let first = next_delivery(&mut a).await;
    assert_eq!(first.draft_id, d.id);
    drop(a); // the worker dies without acking
    let mut b = open_group_stream(&s, "workers", 30).await;
    let again = next_delivery(&mut b).await;
    assert_eq!(again.cursor, first.cursor, "handed on after the 1 s lease");
    ack(&s, again.cursor).await;
    assert_no_delivery(&mut b).await;
}

#[tokio::test]
async fn consumer_group_requests_are_validated() {
    let s = TestServer::start().await;
    for (group, lease, needle) in [
        ("bad group!", 0, "consumer_group"),
        (&"g".repeat(65), 0, "consumer_group"),
        ("ok", 3601, "lease_seconds"),
    ] {
        let r = s
            .drafts()
            .stream_deliveries(pb::StreamDeliveriesRequest {
                consumer_group: group.to_string(),
                lease_seconds: lease,
                ..Default::default()
            })
            .await
            .map(drop);
        assert_status(r, Code::InvalidArgument, needle);
    }
}

#[tokio::test]
async fn a_stream_can_be_limited_to_one_channel() {
    let s = TestServer::start().await;
    s.ask_with("c1", "How do I block a contact on Lumo?", "", "whatsapp")
        .await;
    let email = s
        .ask_with("c2", "How do I delete my Lumo account?", "", "email")
        .await;
    let mut stream = s
        .drafts()
        .stream_deliveries(pb::StreamDeliveriesRequest {
            channel: "email".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_delivery(&mut stream).await.draft_id, email.id);
    assert_no_delivery(&mut stream).await;
}

// ---------- transcript ----------

#[tokio::test]
async fn the_transcript_tells_the_whole_story_in_order() {
    let s = TestServer::start().await;
    let first = s.ask("c1", OUT_OF_SCOPE).await;
    s.approve(&first.id, "ana", Some("Sorry, no forecasts here."))
        .await
        .unwrap();
    s.hand_back("c1", "ana").await.unwrap();
    let second = s.ask("c1", "How do I block a contact on Lumo?").await;
    let d = next_delivery(&mut open_stream(&s, 0).await).await;
    s.drafts()
        .ack_delivery(pb::AckDeliveryRequest { cursor: d.cursor })
        .await
        .unwrap();

    let conv = s.conversation("c1").await;
    assert_eq!(
        conv.messages
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        vec![OUT_OF_SCOPE, "How do I block a contact on Lumo?"]
    );
    assert_eq!(
        conv.drafts.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![first.id.clone(), second.id.clone()]
    );
    assert_eq!(conv.deliveries.len(), 2);
    let kinds: Vec<(&str, &str)> = conv
        .events
        .iter()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    let expected = [
        ("message_received", "platform"),
        ("draft_created", "ai"),
        // Deciding the draft made the conversation hers...
        ("conversation_state_changed", "ana"),
        ("draft_approved", "ana"),
        ("draft_edited", "ana"),
        ("delivery_created", "ana"),
        ("memory_learned", "ana"),
        // ...until she handed it back.
        ("conversation_state_changed", "ana"),
        ("message_received", "platform"),
        ("draft_created", "ai"),
        ("draft_auto_approved", "ai"),
        ("delivery_created", "ai"),
        // The AI's again.
        ("conversation_state_changed", "customer"),
    ];
    assert_eq!(&kinds[..expected.len()], &expected);
    assert!(kinds.contains(&("delivery_acked", "platform")));
    assert!(conv.events.windows(2).all(|w| w[0].seq < w[1].seq));
    // Each event shows its link in the audit chain: nothing else happened
    // meanwhile, so this conversation's events are consecutive links.
    assert!(conv.events[0].chain_position > 0);
    for w in conv.events.windows(2) {
        assert_eq!(w[1].chain_position, w[0].chain_position + 1, "{w:?}");
        assert_eq!(w[1].prev_hash, w[0].hash, "{w:?}");
    }
    assert!(conv.events.iter().all(|e| e.hash.len() == 64
        && e.hash.bytes().all(|b| b.is_ascii_hexdigit())
        && e.hash != e.prev_hash));
}

// ---------- validation ----------

#[tokio::test]
async fn every_limit_is_enforced_with_the_field_and_the_limit_named_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let ok = pb::CreateDraftRequest {
        conversation_id: "c1".into(),
        message: "How do I block a contact on Lumo?".into(),
        ..Default::default()
    };
    let many_context: HashMap<String, String> =
        (0..33).map(|i| (format!("k{i}"), "v".into())).collect();
    let cases: Vec<(pb::CreateDraftRequest, &str, &str)> = vec![
        (
            pb::CreateDraftRequest {
                conversation_id: String::new(),
                ..ok.clone()
            },
            "conversation_id",
            "required",
        ),
        (
            pb::CreateDraftRequest {
                conversation_id: "x".repeat(129),
                ..ok.clone()
            },
            "conversation_id",
            "128",
        ),
        (
            pb::CreateDraftRequest {
                message: String::new(),
                ..ok.clone()
            },
            "message",
            "required",
        ),
        (
            pb::CreateDraftRequest {
                message: "   ".into(),
                ..ok.clone()
            },
            "message",
            "required",
        ),
        (
            pb::CreateDraftRequest {
                message: "a".repeat(8 * 1024 + 1),
                ..ok.clone()
            },
            "message",
            "8192",
        ),
        (
            pb::CreateDraftRequest {
                message: "hi\0there".into(),
                ..ok.clone()
            },
            "message",
            "NUL",
        ),
        (
            pb::CreateDraftRequest {
                locale: "not a locale".into(),
                ..ok.clone()
            },
            "locale",
            "BCP 47",
        ),
        (
            pb::CreateDraftRequest {
                channel: "whats app!".into(),
                ..ok.clone()
            },
            "channel",
            "32",
        ),
        (
            pb::CreateDraftRequest {
                request_id: "r".repeat(129),
                ..ok.clone()
            },
            "request_id",
            "128",
        ),
        (
            pb::CreateDraftRequest {
                context: many_context,
                ..ok.clone()
            },
            "context",
            "32",
        ),
        (
            pb::CreateDraftRequest {
                context: [("os".to_string(), "v".repeat(257))].into_iter().collect(),
                ..ok.clone()
            },
            "context",
            "256",
        ),
        (
            pb::CreateDraftRequest {
                history: vec![
                    pb::Turn {
                        role: 1,
                        text: "t".into()
                    };
                    51
                ],
                ..ok.clone()
            },
            "history",
            "50",
        ),
    ];
    for (req, field, limit) in cases {
        let result = s.drafts().create_draft(req).await;
        match result {
            Ok(d) => panic!("{field}: accepted {d:?}"),
            Err(status) => {
                assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
                assert!(
                    status.message().starts_with(field),
                    "{field}: {}",
                    status.message()
                );
                assert!(
                    status.message().contains(limit),
                    "{field}: {}",
                    status.message()
                );
            }
        }
    }
    assert_status(
        s.drafts()
            .get_conversation(pb::GetConversationRequest {
                conversation_id: "c1".into(),
            })
            .await,
        Code::NotFound,
        "c1",
    );
    // Limits at exactly the maximum are accepted.
    let at_limit = pb::CreateDraftRequest {
        message: {
            let question = "How do I block a contact on Lumo? ";
            format!("{question}{}", "a".repeat(8 * 1024 - question.len()))
        },
        history: vec![
            pb::Turn {
                role: 1,
                text: "t".into()
            };
            50
        ],
        context: (0..32)
            .map(|i| (format!("k{i}"), "v".repeat(256)))
            .collect(),
        ..ok
    };
    s.drafts().create_draft(at_limit).await.unwrap();
}

#[tokio::test]
async fn review_inputs_are_validated() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    assert_status(
        s.reject(&d.id, "ana", "", None).await,
        Code::InvalidArgument,
        "reason",
    );
    let huge = "x".repeat(16 * 1024 + 1);
    assert_status(
        s.approve(&d.id, "ana", Some(&huge)).await,
        Code::InvalidArgument,
        "16384",
    );
    assert_status(
        s.approve(&d.id, "ana", Some("  ")).await,
        Code::InvalidArgument,
        "edited_body",
    );
    assert_status(
        s.claim_for(&d.id, "ana", 99_999).await,
        Code::InvalidArgument,
        "lease_seconds",
    );
    assert_status(s.claim("missing", "ana").await, Code::NotFound, "missing");
    // Agents' text follows the customers' text rules.
    for bad in [
        "\u{200B}\u{2060} \u{FEFF}",
        "ok\u{1b}[2J",
        "ok\u{7}",
        "ok\0",
    ] {
        assert_status(
            s.approve(&d.id, "ana", Some(bad)).await,
            Code::InvalidArgument,
            "edited_body",
        );
        assert_status(
            s.reject(&d.id, "ana", bad, None).await,
            Code::InvalidArgument,
            "reason",
        );
        assert_status(
            s.reject(&d.id, "ana", "wrong", Some(bad)).await,
            Code::InvalidArgument,
            "replacement_body",
        );
    }
    // Line breaks and tabs are fine in a reply.
    s.approve(&d.id, "ana", Some("Hi,\n\tno forecasts here, sorry."))
        .await
        .unwrap();
    let other = s.ask("c2", "Who won the football match yesterday?").await;
    let after = s.draft(&other.id).await;
    assert_eq!(state(&after), pb::DraftState::PendingReview);
    // The same question again gets the reply the agent approved, as it was written.
    let again = s.ask("c3", OUT_OF_SCOPE).await;
    assert_eq!(again.generator, "memory");
    assert_eq!(again.body, "Hi,\n\tno forecasts here, sorry.");
}

#[tokio::test]
async fn a_missing_conversation_is_reported_as_a_conversation() {
    let s = TestServer::start().await;
    let e = s
        .drafts()
        .get_conversation(pb::GetConversationRequest {
            conversation_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "conversation \"nobody\" not found");
}

#[tokio::test]
async fn cursors_beyond_the_signed_64_bit_range_are_refused_not_wrapped() {
    let s = TestServer::start().await;
    s.ask("c1", "How do I block a contact on Lumo?").await;
    for cursor in [1u64 << 63, u64::MAX] {
        let r = s
            .drafts()
            .stream_deliveries(pb::StreamDeliveriesRequest {
                after_cursor: cursor,
                ..Default::default()
            })
            .await
            .map(drop);
        assert_status(
            r,
            Code::InvalidArgument,
            "after_cursor: must be at most 9223372036854775807",
        );
        let r = s
            .drafts()
            .ack_delivery(pb::AckDeliveryRequest { cursor })
            .await;
        assert_status(
            r,
            Code::InvalidArgument,
            "cursor: must be at most 9223372036854775807",
        );
    }
    // The largest allowed cursor is past every delivery: nothing is replayed.
    let mut stream = s
        .drafts()
        .stream_deliveries(pb::StreamDeliveriesRequest {
            after_cursor: i64::MAX as u64,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_no_delivery(&mut stream).await;
}

// ---------- knowledge ----------

/// An English sticker article, with tags and a URL.
fn article(id: &str, title: &str, body: &str) -> pb::UpsertArticleRequest {
    let mut req = common::en_article(id, title, body);
    if let Some(a) = req.article.as_mut() {
        a.tags = vec!["stickers".into()];
        a.url = "https://help.lumo.example/en/stickers".into();
    }
    req
}

#[tokio::test]
async fn an_upserted_article_is_found_by_the_next_search_and_used_for_drafting() {
    let s = TestServer::start().await;
    let before = s
        .ask("c0", "How do I make animated stickers from my own photos?")
        .await;
    assert_ne!(
        before.citations.first().map(|c| c.article_id.as_str()),
        Some("en/stickers")
    );
    let stored = s
        .knowledge()
        .upsert_article(article(
            "en/stickers",
            "Create animated stickers",
            "You can make animated stickers from your own photos.\n\n## Make a sticker\n1. Open a chat and tap the sticker icon.\n2. Tap Create, pick your photos and tap Animate.",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.source, "api");
    let hits = s
        .knowledge()
        .search(pb::SearchRequest {
            query: "animated stickers from photos".into(),
            locale: String::new(),
            limit: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hits.hits[0].article_id, "en/stickers");
    assert_eq!(hits.locale, "en");
    let d = s
        .ask("c1", "How do I make animated stickers from my own photos?")
        .await;
    assert_eq!(d.citations[0].article_id, "en/stickers");
    assert_eq!(d.citations[0].version, 1);
}

#[tokio::test]
async fn every_change_bumps_the_version_and_drafts_cite_the_new_one() {
    let s = TestServer::start().await;
    let body = "You can make animated stickers from your own photos.\n\n## Make a sticker\nOpen a chat and tap the sticker icon.";
    let v1 = s
        .knowledge()
        .upsert_article(article("en/stickers", "Animated stickers", body))
        .await
        .unwrap()
        .into_inner();
    let same = s
        .knowledge()
        .upsert_article(article("en/stickers", "Animated stickers", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        same.version, v1.version,
        "an identical upsert is not a change"
    );
    let v2 = s
        .knowledge()
        .upsert_article(article(
            "en/stickers",
            "Animated stickers",
            &format!("{body}\n\n## Share\nTap and hold a sticker to share it."),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.version, 2);
    let d = s
        .ask("c1", "How do I make animated stickers from my own photos?")
        .await;
    assert_eq!(
        (d.citations[0].article_id.as_str(), d.citations[0].version),
        ("en/stickers", 2)
    );
    let deleted = s
        .knowledge()
        .delete_article(pb::DeleteArticleRequest {
            id: "en/stickers".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.version, 2);
    let hits = s
        .knowledge()
        .search(pb::SearchRequest {
            query: "animated stickers photos".into(),
            locale: "en".into(),
            limit: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        hits.hits.iter().all(|h| h.article_id != "en/stickers"),
        "deleted articles are not found"
    );
    assert_status(
        s.knowledge()
            .get_article(pb::GetArticleRequest {
                id: "en/stickers".into(),
            })
            .await,
        Code::NotFound,
        "en/stickers",
    );
    let back = s
        .knowledge()
        .upsert_article(article("en/stickers", "Animated stickers", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.version, 3, "versions keep increasing across a delete");
}

#[tokio::test]
async fn the_sample_help_center_is_loaded_and_listed_in_pages() {
    let s = TestServer::start().await;
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = s
            .knowledge()
            .list_articles(pb::ListArticlesRequest {
                locale: String::new(),
                page_size: 25,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.articles);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let count = |l: &str| all.iter().filter(|a| a.locale == l).count();
    assert!(
        count("en") >= 40 && count("pt") >= 10 && count("it") >= 10,
        "en {} pt {} it {}",
        count("en"),
        count("pt"),
        count("it")
    );
    assert!(all.iter().all(|a| a.source == "folder" && a.version >= 1));
    let one = s
        .knowledge()
        .get_article(pb::GetArticleRequest {
            id: "pt/two-step-verification".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.locale, "pt");
    assert!(!one.body.is_empty() && !one.content_hash.is_empty());
}

#[tokio::test]
async fn article_input_is_validated() {
    let s = TestServer::start().await;
    let mut k = s.knowledge();
    let base = article("en/x", "Title", "Body");
    let with = |f: &dyn Fn(&mut pb::Article)| {
        let mut r = base.clone();
        f(r.article.as_mut().unwrap());
        r
    };
    assert_status(
        k.upsert_article(pb::UpsertArticleRequest { article: None })
            .await,
        Code::InvalidArgument,
        "article",
    );
    assert_status(
        k.upsert_article(with(&|a| a.title.clear())).await,
        Code::InvalidArgument,
        "article.title",
    );
    assert_status(
        k.upsert_article(with(&|a| a.body = " ".into())).await,
        Code::InvalidArgument,
        "article.body",
    );
    assert_status(
        k.upsert_article(with(&|a| a.body = "b".repeat(256 * 1024 + 1)))
            .await,
        Code::InvalidArgument,
        "262144",
    );
    assert_status(
        k.upsert_article(with(&|a| a.locale = "klingon!".into()))
            .await,
        Code::InvalidArgument,
        "article.locale",
    );
    assert_status(
        k.upsert_article(with(&|a| a.id = "../etc/passwd".into()))
            .await,
        Code::InvalidArgument,
        "article.id",
    );
    assert_status(
        k.upsert_article(with(&|a| a.url = "javascript:alert(1)".into()))
            .await,
        Code::InvalidArgument,
        "article.url",
    );
    assert_status(
        k.search(pb::SearchRequest {
            query: String::new(),
            locale: String::new(),
            limit: 0,
        })
        .await,
        Code::InvalidArgument,
        "query",
    );
    assert_status(
        k.search(pb::SearchRequest {
            query: "x".into(),
            locale: String::new(),
            limit: 1000,
        })
        .await,
        Code::InvalidArgument,
        "50",
    );
    assert_status(
        k.delete_article(pb::DeleteArticleRequest {
            id: "en/none".into(),
        })
        .await,
        Code::NotFound,
        "en/none",
    );
}

#[tokio::test]
async fn an_article_without_an_id_gets_locale_and_slug() {
    let s = TestServer::start().await;
    let mut req = article(
        "",
        "Stickers: The Basics!",
        "Stickers are fun.\n\n## Use\nTap the icon.",
    );
    req.article.as_mut().unwrap().locale = "pt-BR".into();
    let a = s
        .knowledge()
        .upsert_article(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.id, "pt/stickers-the-basics");
    assert_eq!(a.locale, "pt");
}

// ---------- service plumbing ----------

#[tokio::test]
async fn health_reflection_and_metrics_are_served() {
    let s = TestServer::start().await;
    s.ask("c1", "How do I block a contact on Lumo?").await;
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            s.channel(),
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
            list,
        ),
    ) = response.message_response
    else {
        panic!("unexpected reflection response");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "replygate.v1.Drafts",
        "replygate.v1.Review",
        "replygate.v1.Knowledge",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let body = http_get(s.http_addr, "/metrics").await;
    assert!(body.contains("replygate_drafts_total"), "{body}");
    assert!(body.contains("replygate_knowledge_passages"), "{body}");
    assert!(body.contains("replygate_review_queue_depth"), "{body}");
    assert!(
        body.contains("replygate_review_oldest_pending_seconds"),
        "{body}"
    );
    assert!(http_get(s.http_addr, "/healthz").await.contains("ok"));
}

#[tokio::test]
async fn graceful_shutdown_ends_open_streams_and_the_data_survives_a_restart() {
    let s = TestServer::start().await;
    let d = s.ask("c1", OUT_OF_SCOPE).await;
    let _open = open_stream(&s, 0).await;
    let data_dir = s.data_dir.clone();
    let tmp = s.stop().await;
    let config = test_config(data_dir);
    let again = TestServer::start_config(config, tmp).await;
    let got = again
        .drafts()
        .get_draft(pb::GetDraftRequest {
            draft_id: d.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&got), pb::DraftState::PendingReview);
}

// ---------- knowledge folder ----------

fn write(dir: &std::path::Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn the_folder_sync_adds_changes_and_removes_by_content_and_reports_bad_files_by_line() {
    use replygate::knowledge::Knowledge;
    use replygate::storage::{DynStore, SqliteStore};
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("kb");
    write(
        &folder,
        "en/stickers.md",
        "---\ntitle: Stickers\ntags: [fun]\nurl: https://x.example/en/stickers\n---\nStickers are fun.\n\n## Make one\nTap the icon.",
    );
    write(
        &folder,
        "en/themes.md",
        "---\ntitle: Themes\n---\nPick a dark theme in Settings.",
    );
    write(
        &folder,
        "en/broken.md",
        "---\ntags: [oops]\n---\nNo title here.",
    );
    write(
        &folder,
        "pt/temas.md",
        "---\ntitle: Temas\n---\nEscolha um tema escuro.",
    );
    write(
        &folder,
        "notes/readme.md",
        "---\ntitle: Not a locale folder\n---\nignored",
    );
    let store: DynStore = std::sync::Arc::new(
        SqliteStore::open(&tmp.path().join("db.sqlite"))
            .await
            .unwrap(),
    );
    let config = replygate::config::Config {
        embedding: replygate::config::EmbeddingConfig::none(),
        ..Default::default()
    };
    let k = Knowledge::open(store.clone(), &tmp.path().join("index"), &config, None)
        .await
        .unwrap();

    let first = k.sync_folder(&folder).await.unwrap();
    assert_eq!((first.added, first.updated, first.removed), (3, 0, 0));
    assert_eq!(first.errors.len(), 1);
    assert!(
        first.errors[0].starts_with("en/broken.md:2:") && first.errors[0].contains("title"),
        "{:?}",
        first.errors
    );
    assert_eq!(k.get("en/stickers").await.unwrap().tags, vec!["fun"]);
    assert!(k.get("notes/readme").await.is_err());

    let again = k.sync_folder(&folder).await.unwrap();
    assert_eq!(
        (again.added, again.updated, again.removed, again.unchanged),
        (0, 0, 0, 3),
        "unchanged files are not rewritten"
    );

    write(
        &folder,
        "en/stickers.md",
        "---\ntitle: Stickers\n---\nStickers are fun and animated.",
    );
    std::fs::remove_file(folder.join("en/themes.md")).unwrap();
    write(
        &folder,
        "en/broken.md",
        "---\ntitle: Fixed\n---\nNow with a title.",
    );
    let third = k.sync_folder(&folder).await.unwrap();
    assert_eq!((third.added, third.updated, third.removed), (1, 1, 1));
    assert!(third.errors.is_empty());
    assert_eq!(k.get("en/stickers").await.unwrap().version, 2);
    assert!(k.get("en/themes").await.is_err());
    let hits = k.search_in("dark theme settings", "en", 5).await.unwrap();
    assert!(
        hits.hits
            .articles
            .iter()
            .all(|h| h.article_id != "en/themes"),
        "a removed file leaves the index too"
    );

    // A file that turns bad keeps its last good version live.
    write(
        &folder,
        "en/stickers.md",
        "---\ntitle: [unclosed\n---\nbroken",
    );
    let fourth = k.sync_folder(&folder).await.unwrap();
    assert_eq!(fourth.removed, 0);
    assert_eq!(k.get("en/stickers").await.unwrap().version, 2);
}

#[tokio::test]
async fn the_index_catches_up_with_the_store_after_being_lost() {
    let s = TestServer::start().await;
    let data_dir = s.data_dir.clone();
    let tmp = s.stop().await;
    std::fs::remove_dir_all(data_dir.join("index")).unwrap();
    let again = TestServer::start_config(test_config(data_dir), tmp).await;
    let hits = again
        .knowledge()
        .search(pb::SearchRequest {
            query: "change my phone number".into(),
            locale: "en".into(),
            limit: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hits.hits[0].article_id, "en/change-phone-number");
}

// ---------- insights ----------

#[tokio::test]
async fn stats_count_a_scripted_desk_over_a_window() {
    let s = TestServer::start().await;
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 3600;
    let window_start = prost_types::Timestamp {
        seconds: an_hour_ago,
        nanos: 0,
    };
    s.ask("c1", "How do I block a contact on Lumo?").await; // auto-approved
    let plain = s.ask("c2", OUT_OF_SCOPE).await;
    let edit = s.ask("c3", OUT_OF_SCOPE).await;
    let replace = s.ask("c4", OUT_OF_SCOPE).await;
    s.ask("c5", OUT_OF_SCOPE).await; // left pending
    s.approve(&plain.id, "ana", None).await.unwrap();
    s.approve(&edit.id, "ana", Some("My better words."))
        .await
        .unwrap();
    s.reject(&replace.id, "bob", "off topic", Some("Bob here."))
        .await
        .unwrap();
    let mut insights = replygate::api::pb::insights_client::InsightsClient::new(s.channel());
    let stats = insights
        .stats(pb::StatsRequest {
            from: Some(window_start),
            to: None,
            channel: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stats.conversations, stats.drafts), (5, 5));
    assert_eq!(
        (
            stats.auto_approved,
            stats.approved,
            stats.edited,
            stats.replaced,
            stats.pending
        ),
        (1, 1, 1, 1, 1)
    );
    assert!((stats.auto_send_rate - 0.2).abs() < 1e-9);
    assert!((stats.edit_rate - 0.5).abs() < 1e-9);
    let agents: Vec<(&str, u64, u64, u64)> = stats
        .agents
        .iter()
        .map(|a| (a.agent.as_str(), a.approved, a.edited, a.replaced))
        .collect();
    assert_eq!(agents, vec![("ana", 1, 1, 0), ("bob", 0, 0, 1)]);
    let none = insights
        .stats(pb::StatsRequest {
            from: Some(window_start),
            to: None,
            channel: "email".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.drafts, 0);
    assert_status(
        insights
            .stats(pb::StatsRequest {
                from: Some(prost_types::Timestamp {
                    seconds: 10,
                    nanos: 0,
                }),
                to: Some(prost_types::Timestamp {
                    seconds: 5,
                    nanos: 0,
                }),
                channel: String::new(),
            })
            .await,
        tonic::Code::InvalidArgument,
        "from",
    );
}

// ---------- evaluation ----------

#[tokio::test]
async fn eval_on_a_fixture_help_center_gives_the_expected_counts() {
    use replygate::eval::{Question, report, run};
    let tmp = tempfile::tempdir().unwrap();
    let app = fixture_app(tmp.path()).await;
    let q = |text: &str, expected: &str| Question {
        text: text.into(),
        expected: expected.into(),
        locale: Some("en".into()),
        channel: None,
    };
    let questions = vec![
        q(
            "How do I create animated stickers from my photos?",
            "en/stickers",
        ),
        q("How do I turn on the dark theme?", "en/themes"),
        q("How can I change the chat wallpaper?", "en/wallpaper"),
        q("What is the capital of Peru?", "out_of_scope"),
        q("Can you recommend a good pizza recipe?", "out_of_scope"),
    ];
    let mut calls = 0;
    let outcomes = run(&app.drafter, &questions, |_, _| calls += 1)
        .await
        .unwrap();
    assert_eq!(calls, 5);
    let r = report(&outcomes, 0.99);
    assert_eq!((r.questions, r.in_scope, r.out_of_scope), (5, 3, 2));
    assert_eq!((r.top1, r.top3), (1.0, 1.0));
    assert_eq!(
        r.levels[0][2], 2,
        "both out-of-scope questions are LOW: {:?}",
        r.levels
    );
    assert_eq!(r.configured.leakage, 0.0);
    assert_eq!(
        r.levels.iter().map(|row| row[0]).sum::<usize>(),
        3,
        "all three in-scope answers cite the expected article"
    );
    assert_eq!(r.configured.precision.unwrap_or(1.0), 1.0);
}

/// The three-article help center of the eval fixture, served lexically,
/// with a "review" channel that never auto-sends.
async fn fixture_app(tmp: &std::path::Path) -> replygate::app::App {
    let kb = tmp.join("kb");
    write(
        &kb,
        "en/stickers.md",
        "---\ntitle: Animated stickers\n---\nCreate animated stickers from your photos.\n\n## Create a sticker\nOpen the sticker panel and tap Create to animate a photo.",
    );
    write(
        &kb,
        "en/themes.md",
        "---\ntitle: Dark theme\n---\nSwitch the app to a dark theme.\n\n## Turn on the dark theme\nOpen Settings, tap Display and choose the dark theme.",
    );
    write(
        &kb,
        "en/wallpaper.md",
        "---\ntitle: Chat wallpaper\n---\nChange the wallpaper behind your chats.\n\n## Pick a wallpaper\nOpen Settings, tap Chats, then Wallpaper, and pick an image.",
    );
    let mut config = replygate::config::Config {
        knowledge_dir: kb,
        data_dir: tmp.join("data"),
        embedding: replygate::config::EmbeddingConfig::none(),
        ..Default::default()
    };
    config.routing.channels.insert(
        "review".into(),
        replygate::config::Thresholds {
            high: 1.0,
            medium: 0.5,
        },
    );
    replygate::app::App::open(config).await.unwrap()
}

#[tokio::test]
async fn replay_reviews_as_an_agent_would_and_the_desk_answers_repeats_from_memory() {
    use replygate::eval::{Question, replay};
    let tmp = tempfile::tempdir().unwrap();
    let app = fixture_app(tmp.path()).await;
    let q = |text: &str, expected: &str, channel: Option<&str>| Question {
        text: text.into(),
        expected: expected.into(),
        locale: Some("en".into()),
        channel: channel.map(String::from),
    };
    // Reviewed on a channel that never auto-sends, so each one meets an agent:
    // a right draft (approved), an out-of-scope question (rejected), and a
    // question labeled with another article than the one it finds (edited).
    let wallpaper = "How can I change the chat wallpaper?";
    let peru = "What is the capital of Peru?";
    let labeled_stickers = "How do I pick a wallpaper image for my chats?";
    let stream = vec![
        q(wallpaper, "en/wallpaper", Some("review")),
        q(peru, "out_of_scope", Some("review")),
        q(labeled_stickers, "en/stickers", Some("review")),
    ];
    // Then the same questions arrive on the default channel.
    let measured = vec![
        q(wallpaper, "en/wallpaper", None),
        q(peru, "out_of_scope", None),
        q(labeled_stickers, "en/stickers", None),
    ];
    let mut steps = 0;
    let curve = replay(&app, &stream, &measured, &[3, 0], 0.95, |_, _, _| {
        steps += 1
    })
    .await
    .unwrap();
    assert_eq!(steps, 3 + 3 + 3, "three reviewed, measured twice");
    let reviewed: Vec<usize> = curve.iter().map(|c| c.reviewed).collect();
    assert_eq!(reviewed, [0, 3]);
    let before = &curve[0];
    assert_eq!(before.desk, replygate::eval::Reviewed::default());
    let generators = |c: &replygate::eval::Checkpoint| -> Vec<String> {
        c.report
            .outcomes
            .iter()
            .map(|o| o.generator.clone())
            .collect()
    };
    // Before any review: the wallpaper question and the mislabeled one are
    // both sent from the wallpaper article, one of them wrong by its label.
    assert_eq!(generators(before), ["extractive"; 3]);
    assert_eq!(before.report.configured.auto_sent, 2);
    assert_eq!(before.report.configured.precision, Some(0.5));
    assert_eq!(before.report.configured.coverage, 1.0);
    assert_eq!(before.report.configured.leakage, 0.0);

    let after = &curve[1];
    assert_eq!(
        after.desk,
        replygate::eval::Reviewed {
            questions: 3,
            auto_sent: 0,
            approved: 1,
            edited: 1,
            rejected: 1,
        }
    );
    // After: both in-scope questions are answered from the memory; the
    // approved reply is sent, the edited one (resting on the stickers article,
    // which retrieval does not find first) waits for a second agent; the
    // rejected question was never filed.
    assert_eq!(generators(after), ["memory", "extractive", "memory"]);
    let cited: Vec<Option<&str>> = after
        .report
        .outcomes
        .iter()
        .map(|o| o.cited.as_deref())
        .collect();
    assert_eq!(cited, [Some("en/wallpaper"), None, Some("en/stickers")]);
    let sent: Vec<bool> = after.report.outcomes.iter().map(|o| o.auto_sent).collect();
    assert_eq!(sent, [true, false, false]);
    assert_eq!(after.report.configured.auto_sent, 1);
    assert_eq!(after.report.configured.precision, Some(1.0));
    assert_eq!(after.report.configured.coverage, 0.5);
    assert_eq!(after.report.configured.leakage, 0.0);
}

// --- the answer memory ---

/// A server whose "review" channel never auto-sends, so a draft made from
/// memory can be rejected.
async fn server_with_a_review_channel() -> TestServer {
    TestServer::start_with(|c| {
        c.routing.channels.insert(
            "review".into(),
            replygate::config::Thresholds {
                high: 1.0,
                medium: 0.5,
            },
        );
    })
    .await
}

const AGENT_REPLY: &str =
    "To block someone, open the chat with them, tap their name, then tap Block. They are not told.";

/// Asks a question and has "ana" approve the agent's reply for it; returns the decided draft.
async fn teach(s: &TestServer, conversation: &str, question: &str, reply: &str) -> pb::Draft {
    let d = s.ask_with(conversation, question, "", "review").await;
    assert_eq!(state(&d), pb::DraftState::PendingReview);
    s.approve(&d.id, "ana", Some(reply)).await.unwrap()
}

async fn curated(s: &TestServer) -> Vec<pb::CuratedAnswer> {
    s.knowledge()
        .list_curated_answers(pb::ListCuratedAnswersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .answers
}

#[tokio::test]
async fn an_approved_reply_answers_a_paraphrase_but_not_an_unrelated_question() {
    let s = TestServer::start().await;
    teach(
        &s,
        "c1",
        "How can I block someone who keeps messaging me?",
        AGENT_REPLY,
    )
    .await;
    let again = s
        .ask("c2", "how do i block someone who keeps messaging me")
        .await;
    assert_eq!(again.generator, "memory");
    assert_eq!(again.body, AGENT_REPLY);
    assert!(again.ai_generated && !again.disclosure.is_empty());
    let answers = curated(&s).await;
    assert_eq!(answers.len(), 1);
    assert_eq!(again.curated_answer_id, answers[0].id);
    assert_eq!(again.citations[0].article_id, "en/block-contact");
    assert!(reason(&again, "memory_similarity").unwrap() >= 0.8);
    assert_eq!(reason(&again, "memory_approvals"), Some(1.0));

    let unrelated = s.ask("c3", "How do I change my phone number?").await;
    assert_ne!(unrelated.generator, "memory");
    assert_eq!(unrelated.curated_answer_id, "");
    // Nor in another language.
    let portuguese = s
        .ask(
            "c4",
            "como bloqueio alguém que não para de me mandar mensagem?",
        )
        .await;
    assert_ne!(portuguese.generator, "memory");
    s.stop().await;
}

#[tokio::test]
async fn agents_who_each_wrote_their_own_reply_to_a_question_do_not_agree_so_it_is_not_sent() {
    let s = server_with_a_review_channel().await;
    let question = "What's the weather in Rome tomorrow?";
    // Three customers ask before anyone answers; each agent writes their own reply.
    let mut waiting = Vec::new();
    for i in 0..3 {
        waiting.push(s.ask_with(&format!("c{i}"), question, "", "review").await);
    }
    for (d, agent) in waiting.iter().zip(["ana", "bruno", "carla"]) {
        s.approve(&d.id, agent, Some(&format!("Reply by {agent}")))
            .await
            .unwrap();
    }
    let again = s.ask("c9", question).await;
    assert_eq!(state(&again), pb::DraftState::PendingReview);
    assert_eq!(again.generator, "memory");
    assert_eq!(reason(&again, "memory_approvals"), Some(1.0));
    assert_eq!(reason(&again, "memory_disagreement"), Some(2.0));
    s.stop().await;
}

#[tokio::test]
async fn an_answer_not_resting_on_the_article_found_first_is_sent_alone_only_once_a_second_agent_approves_it()
 {
    let s = server_with_a_review_channel().await;
    let question = "Do you have a phone number I can call?";
    let reply = "We only offer support by chat; write to us here any time.";
    let first = s.ask_with("c1", question, "", "review").await;
    s.approve(&first.id, "ana", Some(reply)).await.unwrap();
    let held = s.ask("c2", question).await;
    assert_eq!(held.generator, "memory");
    assert_eq!(state(&held), pb::DraftState::PendingReview);
    assert_eq!(reason(&held, "memory_unconfirmed"), Some(1.0));
    s.approve(&held.id, "bruno", None).await.unwrap();
    let sent = s.ask("c3", question).await;
    assert_eq!(
        (sent.generator.as_str(), sent.body.as_str()),
        ("memory", reply)
    );
    assert_eq!(reason(&sent, "memory_approvals"), Some(2.0));
    assert_eq!(reason(&sent, "memory_unconfirmed"), None);
    assert_eq!(state(&sent), pb::DraftState::AutoApproved);
    s.stop().await;
}

#[tokio::test]
async fn a_curated_answer_files_its_masked_question_and_the_article_version_it_rests_on() {
    let s = TestServer::start().await;
    teach(
        &s,
        "c1",
        "I am ana@example.com, how can I block someone who keeps messaging me?",
        AGENT_REPLY,
    )
    .await;
    let answers = curated(&s).await;
    let a = &answers[0];
    assert_eq!(a.locale, "en");
    assert_eq!(a.reply, AGENT_REPLY);
    assert_eq!(a.approved_by, ["ana"]);
    assert!(a.in_use && !a.stale);
    assert_eq!(a.questions.len(), 1);
    assert!(
        a.questions[0].text.contains("[EMAIL_1]") && !a.questions[0].text.contains("ana@"),
        "{}",
        a.questions[0].text
    );
    let source = &a.sources[0];
    assert_eq!(source.article_id, "en/block-contact");
    assert_eq!(source.version, source.live_version);
    s.stop().await;
}

#[tokio::test]
async fn a_reply_holding_personal_data_is_not_learned() {
    let s = TestServer::start().await;
    teach(
        &s,
        "c1",
        "How can I block someone who keeps messaging me?",
        "Hi, we blocked them for you; we will write to ana@example.com to confirm.",
    )
    .await;
    assert!(curated(&s).await.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_curated_answer_stops_when_its_article_changes_until_an_agent_approves_it_again() {
    let s = server_with_a_review_channel().await;
    teach(
        &s,
        "c1",
        "How can I block someone who keeps messaging me?",
        AGENT_REPLY,
    )
    .await;
    let article = s
        .knowledge()
        .get_article(pb::GetArticleRequest {
            id: "en/block-contact".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut changed = article.clone();
    changed
        .body
        .push_str("\n\n## Blocked contacts list\nSettings > Privacy > Blocked.");
    s.knowledge()
        .upsert_article(pb::UpsertArticleRequest {
            article: Some(changed),
        })
        .await
        .unwrap();
    let stale = &curated(&s).await[0];
    assert!(stale.stale && !stale.in_use);
    assert_eq!(stale.sources[0].live_version, stale.sources[0].version + 1);
    let after_change = s
        .ask_with(
            "c2",
            "how do i block someone who keeps messaging me",
            "",
            "review",
        )
        .await;
    assert_ne!(after_change.generator, "memory");
    // Another agent approves the same reply for it: it rests on the new version.
    s.approve(&after_change.id, "bruno", Some(AGENT_REPLY))
        .await
        .unwrap();
    let answers = curated(&s).await;
    assert_eq!(answers.len(), 1, "the same reply joins its answer");
    let a = &answers[0];
    assert!(a.in_use && !a.stale);
    assert_eq!(a.approved_by, ["ana", "bruno"]);
    assert_eq!(a.questions.len(), 2);
    let third = s
        .ask("c3", "How can I block someone who keeps messaging me?")
        .await;
    assert_eq!(third.generator, "memory");
    assert_eq!(reason(&third, "memory_approvals"), Some(2.0));
    s.stop().await;
}

#[tokio::test]
async fn a_rejected_memory_draft_retires_its_answer() {
    let s = server_with_a_review_channel().await;
    teach(
        &s,
        "c1",
        "How can I block someone who keeps messaging me?",
        AGENT_REPLY,
    )
    .await;
    let from_memory = s
        .ask_with(
            "c2",
            "how do i block someone who keeps messaging me",
            "",
            "review",
        )
        .await;
    assert_eq!(from_memory.generator, "memory");
    s.reject(&from_memory.id, "bruno", "outdated", None)
        .await
        .unwrap();
    let a = &curated(&s).await[0];
    assert_eq!(
        pb::CuratedAnswerState::try_from(a.state).unwrap(),
        pb::CuratedAnswerState::CuratedRejected
    );
    assert_eq!(a.rejections, 1);
    assert!(!a.in_use);
    let later = s
        .ask("c3", "How can I block someone who keeps messaging me?")
        .await;
    assert_ne!(later.generator, "memory");
    s.stop().await;
}

#[tokio::test]
async fn an_edit_of_a_memory_draft_replaces_its_answer() {
    let s = server_with_a_review_channel().await;
    teach(
        &s,
        "c1",
        "How can I block someone who keeps messaging me?",
        AGENT_REPLY,
    )
    .await;
    let from_memory = s
        .ask_with(
            "c2",
            "how do i block someone who keeps messaging me",
            "",
            "review",
        )
        .await;
    let better = format!("{AGENT_REPLY} You can unblock them later in Settings > Privacy.");
    s.approve(&from_memory.id, "bruno", Some(&better))
        .await
        .unwrap();
    let answers = curated(&s).await;
    let state_of = |a: &pb::CuratedAnswer| pb::CuratedAnswerState::try_from(a.state).unwrap();
    let old = answers.iter().find(|a| a.reply == AGENT_REPLY).unwrap();
    let new = answers.iter().find(|a| a.reply == better).unwrap();
    assert_eq!(state_of(old), pb::CuratedAnswerState::CuratedSuperseded);
    assert_eq!(state_of(new), pb::CuratedAnswerState::CuratedActive);
    let third = s
        .ask("c3", "How can I block someone who keeps messaging me?")
        .await;
    assert_eq!(third.curated_answer_id, new.id);
    s.stop().await;
}

#[tokio::test]
async fn editors_disable_enable_and_delete_curated_answers() {
    let s = TestServer::start().await;
    teach(
        &s,
        "c1",
        "How can I block someone who keeps messaging me?",
        AGENT_REPLY,
    )
    .await;
    let id = curated(&s).await[0].id.clone();
    let mut k = s.knowledge();
    let request = || pb::CuratedAnswerRequest { id: id.clone() };
    let disabled = k
        .disable_curated_answer(request())
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.in_use);
    let asked = s
        .ask("c2", "how do i block someone who keeps messaging me")
        .await;
    assert_ne!(asked.generator, "memory");
    let enabled = k
        .enable_curated_answer(request())
        .await
        .unwrap()
        .into_inner();
    assert!(enabled.in_use);
    assert_eq!(
        s.ask("c3", "how do i block someone who keeps messaging me")
            .await
            .generator,
        "memory"
    );
    // Filters, and a page size over the limit is refused naming the field.
    let only = |state: pb::CuratedAnswerState| pb::ListCuratedAnswersRequest {
        state: state as i32,
        ..Default::default()
    };
    let listed = |r| {
        let mut k = s.knowledge();
        async move {
            k.list_curated_answers(r)
                .await
                .unwrap()
                .into_inner()
                .answers
                .len()
        }
    };
    assert_eq!(listed(only(pb::CuratedAnswerState::CuratedActive)).await, 1);
    assert_eq!(
        listed(only(pb::CuratedAnswerState::CuratedDisabled)).await,
        0
    );
    assert_status(
        k.list_curated_answers(pb::ListCuratedAnswersRequest {
            page_size: 1_000_000,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "page_size",
    );
    k.delete_curated_answer(request()).await.unwrap();
    assert!(curated(&s).await.is_empty());
    assert_status(
        k.get_curated_answer(pb::GetCuratedAnswerRequest { id: id.clone() })
            .await,
        Code::NotFound,
        "curated answer",
    );
    assert_status(
        k.delete_curated_answer(request()).await,
        Code::NotFound,
        "curated answer",
    );
    // Every change is in the audit chain.
    let kinds: Vec<String> = s
        .conversation("c1")
        .await
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"memory_learned".to_string()), "{kinds:?}");
    s.stop().await;
}

// ---------- conversation state: handoff to a person ----------

/// The conversation-state scenarios, each on SQLite and on PostgreSQL (the
/// latter ignored unless asked for, like tests/store.rs).
mod conversation_state {
    use super::*;
    use replygate::config::Config;

    async fn server(store: Store, adjust: impl FnOnce(&mut Config)) -> TestServer {
        match store {
            Store::Sqlite => TestServer::start_with(adjust).await,
            Store::Postgres => {
                let url = postgres_schema_url().await;
                TestServer::start_with(|c| {
                    c.database_url = url;
                    adjust(c);
                })
                .await
            }
        }
    }

    #[derive(Clone, Copy)]
    pub enum Store {
        Sqlite,
        Postgres,
    }

    macro_rules! on_both_stores {
        ($($name:ident),* $(,)?) => {
            mod sqlite {
                $(
                    #[tokio::test]
                    async fn $name() {
                        super::$name(super::Store::Sqlite).await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test]
                    #[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
                    async fn $name() {
                        super::$name(super::Store::Postgres).await;
                    }
                )*
            }
        };
    }

    on_both_stores!(
        asking_for_a_person_sends_one_notice_and_nothing_is_auto_sent_until_an_agent_hands_it_back,
        two_agents_cannot_own_one_conversation,
        the_notice_is_in_the_customer_s_language_and_a_channel_may_word_it,
        repeated_low_drafts_and_frustration_send_the_conversation_to_a_person,
        a_taken_over_account_needs_a_person_in_every_supported_language,
        documented_device_context_is_checked_and_kept_with_the_message,
        an_android_question_gets_the_android_article_when_both_exist,
        every_delivery_says_who_wrote_it,
        a_late_approval_on_whatsapp_is_delivered_as_the_template,
        the_queue_comes_by_the_time_left_to_answer,
        erasing_a_customer_leaves_none_of_their_text_in_any_table_and_the_chain_verifies,
        with_first_ai_message_only_a_conversation_s_first_ai_reply_is_labeled_and_the_chain_says_so,
    );

    fn conversation_state(c: &pb::Conversation) -> pb::ConversationState {
        pb::ConversationState::try_from(c.state).unwrap()
    }

    /// Every delivery on the stream now (waits a moment for stragglers).
    async fn deliveries(s: &TestServer) -> Vec<pb::Delivery> {
        let mut stream = open_stream(s, 0).await;
        let mut out = Vec::new();
        while let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(400), stream.next()).await
        {
            out.push(d.unwrap());
        }
        out
    }

    const CONFIDENT: &str = "How do I block a contact on Lumo?";

    async fn asking_for_a_person_sends_one_notice_and_nothing_is_auto_sent_until_an_agent_hands_it_back(
        store: Store,
    ) {
        let s = server(store, |_| {}).await;
        // The AI answers at first.
        let answered = s.ask("wa-1", CONFIDENT).await;
        assert_eq!(state(&answered), pb::DraftState::AutoApproved);
        let asked = s.ask("wa-1", "I want to talk to a person").await;
        assert_eq!(state(&asked), pb::DraftState::PendingReview);
        assert!(asked.needs_person);
        let conv = s.conversation("wa-1").await;
        assert_eq!(conversation_state(&conv), pb::ConversationState::Escalated);
        // Every later message waits for a person, however confident; the
        // word the AI label gives does not send a second notice.
        let follow_up = s.ask("wa-1", CONFIDENT).await;
        assert_eq!(state(&follow_up), pb::DraftState::PendingReview);
        assert_eq!(
            reason(&follow_up, "conversation_waits_for_person"),
            Some(1.0)
        );
        let again = s.ask("wa-1", "agent").await;
        assert!(reason(&again, "policy_human_requested").is_some());
        let sent = deliveries(&s).await;
        let notices: Vec<&pb::Delivery> = sent.iter().filter(|d| d.author == "system").collect();
        assert_eq!(notices.len(), 1, "{sent:?}");
        assert_eq!(
            notices[0].text,
            "Thanks for your patience. A person from our team will answer you here."
        );
        assert!(!notices[0].ai_generated);
        assert_eq!(
            sent.iter().filter(|d| d.author == "ai").count(),
            1,
            "only the answer before the handoff"
        );
        // An agent claims one of its drafts: the conversation is hers.
        s.claim(&again.id, "ana").await.unwrap();
        let conv = s.conversation("wa-1").await;
        assert_eq!(conversation_state(&conv), pb::ConversationState::HumanOwned);
        assert_eq!(conv.owner, "ana");
        let while_hers = s.ask("wa-1", CONFIDENT).await;
        assert_eq!(state(&while_hers), pb::DraftState::PendingReview);
        // She hands it back: its open drafts close, the AI answers again.
        let back = s.hand_back("wa-1", "ana").await.unwrap();
        assert_eq!(
            pb::ConversationState::try_from(back.state).unwrap(),
            pb::ConversationState::Resolved
        );
        assert!(back.closed_draft_ids.contains(&asked.id));
        assert!(back.closed_draft_ids.contains(&while_hers.id));
        assert!(
            s.pending()
                .await
                .iter()
                .all(|d| d.conversation_id != "wa-1")
        );
        let after = s.ask("wa-1", CONFIDENT).await;
        assert_eq!(state(&after), pb::DraftState::AutoApproved);
        let conv = s.conversation("wa-1").await;
        assert_eq!(conversation_state(&conv), pb::ConversationState::AiActive);
        let path: Vec<(i32, &str, &str)> = conv
            .history
            .iter()
            .map(|h| (h.to, h.cause.as_str(), h.actor.as_str()))
            .collect();
        use pb::ConversationState::*;
        assert_eq!(
            path,
            [
                (Escalated as i32, "human_requested", "customer"),
                (HumanOwned as i32, "claimed", "ana"),
                (Resolved as i32, "handed_back", "ana"),
                (AiActive as i32, "reopened", "customer"),
            ]
        );
        let metrics = http_get(s.http_addr, "/metrics").await;
        assert!(
            metrics.contains("replygate_ai_auto_sent_in_person_owned_conversations_total 0"),
            "{metrics}"
        );
        s.stop().await;
    }

    async fn two_agents_cannot_own_one_conversation(store: Store) {
        let s = server(store, |_| {}).await;
        let first = s.ask("c1", "I want to talk to a human").await;
        let second = s.ask("c1", OUT_OF_SCOPE).await;
        s.take_over("c1", "ana").await.unwrap();
        assert_status(
            s.take_over("c1", "bob").await,
            Code::FailedPrecondition,
            "owned by ana",
        );
        assert_status(
            s.claim(&second.id, "bob").await,
            Code::FailedPrecondition,
            "owned by ana",
        );
        assert_status(
            s.approve(&first.id, "bob", None).await,
            Code::FailedPrecondition,
            "owned by ana",
        );
        assert_status(
            s.hand_back("c1", "bob").await,
            Code::FailedPrecondition,
            "owned by ana",
        );
        assert_status(
            s.resolve("c1", "bob").await,
            Code::FailedPrecondition,
            "owned by ana",
        );
        // Taking over again is harmless; the owner decides.
        s.take_over("c1", "ana").await.unwrap();
        s.approve(&first.id, "ana", Some("Hi, this is Ana."))
            .await
            .unwrap();
        // Racing agents on a fresh escalated conversation: exactly one owns it.
        s.ask("c2", "I want to talk to a human").await;
        let mut tasks = Vec::new();
        for agent in ["cai", "dee", "eli", "fay"] {
            let mut review = s.review();
            tasks.push(tokio::spawn(async move {
                review
                    .take_over(as_agent(
                        pb::ConversationActionRequest {
                            conversation_id: "c2".into(),
                            ..Default::default()
                        },
                        agent,
                    ))
                    .await
                    .map(|r| r.into_inner().owner)
            }));
        }
        let mut owners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(owner) => owners.push(owner),
                Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
            }
        }
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert_eq!(s.conversation("c2").await.owner, owners[0]);
        // A conversation that does not exist, or an empty id, is named.
        assert_status(
            s.take_over("nope", "ana").await,
            Code::NotFound,
            "conversation \"nope\"",
        );
        assert_status(
            s.take_over("", "ana").await,
            Code::InvalidArgument,
            "conversation_id",
        );
        // The AI never hands back what it answers.
        s.ask("c3", CONFIDENT).await;
        assert_status(
            s.hand_back("c3", "ana").await,
            Code::FailedPrecondition,
            "AI_ACTIVE",
        );
        s.stop().await;
    }

    async fn the_notice_is_in_the_customer_s_language_and_a_channel_may_word_it(store: Store) {
        let s = server(store, |c| {
            c.channels.insert(
                "whatsapp".into(),
                replygate::config::ChannelConfig {
                    handoff_notice: [(
                        "pt".to_string(),
                        "Já chamamos uma pessoa da equipe.".to_string(),
                    )]
                    .into(),
                    ..Default::default()
                },
            );
        })
        .await;
        s.ask_with("w1", "quero falar com um atendente humano", "", "whatsapp")
            .await;
        s.ask_with("e1", "quero falar com um atendente humano", "", "email")
            .await;
        s.ask_with("e2", "vorrei parlare con un operatore", "", "email")
            .await;
        let sent = deliveries(&s).await;
        let text_of = |c: &str| {
            sent.iter()
                .find(|d| d.conversation_id == c)
                .map(|d| (d.locale.clone(), d.text.clone()))
                .unwrap()
        };
        assert_eq!(
            text_of("w1"),
            ("pt".into(), "Já chamamos uma pessoa da equipe.".into())
        );
        assert_eq!(
            text_of("e1"),
            (
                "pt".into(),
                "Obrigado pela paciência. Uma pessoa da nossa equipe vai responder você por aqui."
                    .into()
            )
        );
        assert_eq!(
            text_of("e2"),
            (
                "it".into(),
                "Grazie per la pazienza. Una persona del nostro team ti risponderà qui.".into()
            )
        );
        s.stop().await;
    }

    async fn repeated_low_drafts_and_frustration_send_the_conversation_to_a_person(store: Store) {
        let s = server(store, |_| {}).await;
        // Two LOW drafts in a row.
        let one = s.ask("c1", OUT_OF_SCOPE).await;
        assert_eq!(level(&one), pb::ConfidenceLevel::Low);
        assert_eq!(
            conversation_state(&s.conversation("c1").await),
            pb::ConversationState::AiActive
        );
        s.ask("c1", "And what about Milan on Sunday?").await;
        let conv = s.conversation("c1").await;
        assert_eq!(conversation_state(&conv), pb::ConversationState::Escalated);
        assert_eq!(conv.history[0].cause, "repeated_low_confidence");
        // Frustration, in Portuguese.
        let fed_up = s
            .ask("c2", "já perguntei isso três vezes, ninguém responde")
            .await;
        assert!(
            reason(&fed_up, "policy_frustration").is_some(),
            "{:?}",
            fed_up.confidence
        );
        let conv = s.conversation("c2").await;
        assert_eq!(conversation_state(&conv), pb::ConversationState::Escalated);
        assert_eq!(conv.history[0].cause, "frustration");
        let notices = deliveries(&s)
            .await
            .into_iter()
            .filter(|d| d.author == "system")
            .count();
        assert_eq!(notices, 2);
        s.stop().await;
    }

    async fn every_delivery_says_who_wrote_it(store: Store) {
        use pb::Provenance::*;
        let s = server(store, |c| c.handoff.escalate_after_low = 0).await;
        let auto = s.ask("c1", CONFIDENT).await;
        let reviewed = s.ask("c2", OUT_OF_SCOPE).await;
        s.approve(&reviewed.id, "ana", None).await.unwrap();
        let edited = s.ask("c3", OUT_OF_SCOPE).await;
        let edited_draft = s
            .approve(
                &edited.id,
                "ana",
                Some("We cannot tell the weather, sorry. Try a weather app."),
            )
            .await
            .unwrap();
        let replaced = s.ask("c4", OUT_OF_SCOPE).await;
        s.reject(
            &replaced.id,
            "bob",
            "off topic",
            Some("Hi, Bob here: no forecasts, sorry."),
        )
        .await
        .unwrap();
        s.ask("c5", "I want to talk to a person").await;
        let sent = deliveries(&s).await;
        let by_conversation: HashMap<&str, &pb::Delivery> = sent
            .iter()
            .map(|d| (d.conversation_id.as_str(), d))
            .collect();
        let provenance = |c: &str| pb::Provenance::try_from(by_conversation[c].provenance).unwrap();
        assert_eq!(
            ["c1", "c2", "c3", "c4", "c5"].map(provenance),
            [AiAuto, AiReviewed, AiEdited, Human, System]
        );
        let ratio = by_conversation["c3"].edit_ratio;
        assert!(ratio > 0.5 && ratio <= 1.0, "{ratio}");
        assert_eq!(by_conversation["c1"].edit_ratio, 0.0);
        // The AI-written ones are labeled; the others are not.
        for c in ["c1", "c2", "c3"] {
            assert!(!by_conversation[c].disclosure.is_empty(), "{c}");
        }
        for c in ["c4", "c5"] {
            assert!(by_conversation[c].disclosure.is_empty(), "{c}");
        }
        // The draft says the same once decided, nothing while it waits.
        assert_eq!(edited_draft.provenance, AiEdited as i32);
        assert_eq!(s.draft(&auto.id).await.provenance, AiAuto as i32);
        let waiting = s.ask("c6", OUT_OF_SCOPE).await;
        assert_eq!(waiting.provenance, Unspecified as i32);
        // And the audit chain records it, with the label given.
        let conv = s.conversation("c3").await;
        let created = conv
            .events
            .iter()
            .find(|e| e.kind == "delivery_created")
            .unwrap();
        let detail: serde_json::Value = serde_json::from_str(&created.detail).unwrap();
        assert_eq!(detail["provenance"], "ai_edited");
        assert_eq!(
            detail["disclosure_given"],
            by_conversation["c3"].disclosure.as_str()
        );
        s.stop().await;
    }

    async fn with_first_ai_message_only_a_conversation_s_first_ai_reply_is_labeled_and_the_chain_says_so(
        store: Store,
    ) {
        let s = server(store, |c| {
            c.channels.insert(
                "chat".into(),
                replygate::config::ChannelConfig {
                    disclosure: replygate::model::DisclosurePolicy::FirstAiMessage,
                    ..Default::default()
                },
            );
        })
        .await;
        let first = s.ask("c1", CONFIDENT).await;
        let second = s.ask("c1", "How do I delete my Lumo account?").await;
        let elsewhere = s.ask("c2", CONFIDENT).await;
        for d in [&first, &second, &elsewhere] {
            assert_eq!(state(d), pb::DraftState::AutoApproved);
        }
        let sent = deliveries(&s).await;
        let of = |id: &str| sent.iter().find(|d| d.draft_id == id).unwrap().clone();
        let (first, second, elsewhere) = (of(&first.id), of(&second.id), of(&elsewhere.id));
        assert!(first.text.ends_with(&first.disclosure) && !first.disclosure.is_empty());
        assert_eq!(
            (second.disclosure.as_str(), second.text.as_str()),
            ("", second.body.as_str())
        );
        assert_eq!(
            second.provenance,
            pb::Provenance::AiAuto as i32,
            "still marked as the AI's"
        );
        assert!(
            !elsewhere.disclosure.is_empty(),
            "another conversation is labeled again"
        );
        let conv = s.conversation("c1").await;
        let given: Vec<String> = conv
            .events
            .iter()
            .filter(|e| e.kind == "delivery_created")
            .map(|e| {
                let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
                d["disclosure_given"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(given, [first.disclosure.clone(), String::new()]);
        // The email channel keeps the default: every AI reply is labeled.
        s.ask_with("e1", CONFIDENT, "", "email").await;
        s.ask_with("e1", "How do I delete my Lumo account?", "", "email")
            .await;
        let e1: Vec<pb::Delivery> = deliveries(&s)
            .await
            .into_iter()
            .filter(|d| d.conversation_id == "e1")
            .collect();
        assert_eq!(e1.len(), 2);
        assert!(e1.iter().all(|d| !d.disclosure.is_empty()));
        s.stop().await;
    }

    async fn a_late_approval_on_whatsapp_is_delivered_as_the_template(store: Store) {
        let s = server(store, |c| {
            c.handoff.escalate_after_low = 0;
            c.channels.insert(
                "whatsapp".into(),
                replygate::config::ChannelConfig {
                    window_seconds: Some(1),
                    template: replygate::config::TemplateConfig {
                        name: "support_follow_up".into(),
                        parameters: vec!["{reply}".into(), "{locale}".into()],
                    },
                    ..Default::default()
                },
            );
        })
        .await;
        let on_time = s.ask_with("w1", OUT_OF_SCOPE, "", "whatsapp").await;
        let late = s.ask_with("w2", OUT_OF_SCOPE, "", "whatsapp").await;
        let replaced = s.ask_with("w3", OUT_OF_SCOPE, "", "whatsapp").await;
        assert!(on_time.respond_by.is_some());
        s.approve(&on_time.id, "ana", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1300)).await;
        s.approve(&late.id, "bob", None).await.unwrap();
        s.reject(
            &replaced.id,
            "cai",
            "off topic",
            Some("Sorry, no forecasts."),
        )
        .await
        .unwrap();
        let sent = deliveries(&s).await;
        let of = |c: &str| {
            sent.iter()
                .find(|d| d.conversation_id == c)
                .unwrap()
                .clone()
        };
        let on_time = of("w1");
        assert!(!on_time.requires_template && on_time.template_name.is_empty());
        let late = of("w2");
        assert!(late.requires_template);
        assert_eq!(late.template_name, "support_follow_up");
        assert_eq!(
            late.template_parameters,
            [late.body.clone(), "en".to_string()]
        );
        let replaced = of("w3");
        assert!(
            replaced.requires_template,
            "an agent's own text is free text too"
        );
        assert_eq!(replaced.template_parameters[0], "Sorry, no forecasts.");
        // The chain records it.
        let conv = s.conversation("w2").await;
        let created = conv
            .events
            .iter()
            .find(|e| e.kind == "delivery_created")
            .unwrap();
        assert!(
            created
                .detail
                .contains("\"requires_template\":\"support_follow_up\""),
            "{}",
            created.detail
        );
        let metrics = http_get(s.http_addr, "/metrics").await;
        assert!(
            metrics.contains("replygate_replies_after_window_total{channel=\"whatsapp\"}"),
            "{metrics}"
        );
        assert!(metrics.contains("replygate_response_target_breached_total{channel=\"whatsapp\"}"));
        s.stop().await;
    }

    async fn the_queue_comes_by_the_time_left_to_answer(store: Store) {
        let s = server(store, |c| {
            c.handoff.escalate_after_low = 0;
            c.channels.insert(
                "sms".into(),
                replygate::config::ChannelConfig {
                    first_response_seconds: Some(60),
                    ..Default::default()
                },
            );
        })
        .await;
        // Oldest first: an email (no target), a WhatsApp message (24 hours), an SMS (a minute).
        let email = s.ask_with("e1", OUT_OF_SCOPE, "", "email").await;
        let whatsapp = s.ask_with("w1", OUT_OF_SCOPE, "", "whatsapp").await;
        let sms = s.ask_with("s1", OUT_OF_SCOPE, "", "sms").await;
        assert!(email.respond_by.is_none());
        let due = |d: &pb::Draft| d.respond_by.unwrap().seconds - d.created_at.unwrap().seconds;
        assert_eq!(due(&whatsapp), 24 * 3600);
        assert_eq!(due(&sms), 60);
        assert_eq!(s.pending_ids("", "").await, [sms.id, whatsapp.id, email.id]);
        s.stop().await;
    }

    /// Every row of every table of the server's database, as text.
    async fn every_row(s: &TestServer, url: &str) -> Vec<String> {
        use sqlx::Connection;
        let mut rows = Vec::new();
        if url.is_empty() {
            let path = s.data_dir.join("replygate.db");
            let mut conn =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
                    .await
                    .unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for t in tables {
                let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{t}')"
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let joined = cols
                    .iter()
                    .map(|c| {
                        // Blobs (embedding vectors) as hex; they hold no text.
                        format!(
                            "COALESCE(CASE WHEN typeof(\"{c}\") = 'blob' THEN hex(\"{c}\") ELSE CAST(\"{c}\" AS TEXT) END, '')"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT {joined} FROM \"{t}\""
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                rows.extend(texts.into_iter().map(|r| format!("{t}: {r}")));
            }
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for t in tables {
                let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM \"{t}\" t"
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                rows.extend(texts.into_iter().map(|r| format!("{t}: {r}")));
            }
        }
        rows
    }

    async fn erasing_a_customer_leaves_none_of_their_text_in_any_table_and_the_chain_verifies(
        store: Store,
    ) {
        let url = match store {
            Store::Sqlite => String::new(),
            Store::Postgres => postgres_schema_url().await,
        };
        let s = {
            let url = url.clone();
            TestServer::start_with(|c| {
                c.database_url = url;
                c.handoff.escalate_after_low = 0;
            })
            .await
        };
        let ask = |conversation: &'static str, customer: &'static str, text: &'static str| {
            let mut drafts = s.drafts();
            async move {
                drafts
                    .create_draft(pb::CreateDraftRequest {
                        conversation_id: conversation.into(),
                        customer_id: customer.into(),
                        message: text.into(),
                        context: [(
                            "device_model".to_string(),
                            if conversation.starts_with('z') {
                                "Zeldaphone X"
                            } else {
                                "Ottophone"
                            }
                            .to_string(),
                        )]
                        .into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        // Zelda's two conversations: an auto-sent answer, an edited one, a
        // replacement, and one that still waits.
        ask(
            "z1",
            "cust-zelda",
            "Hi, Zelda Quixote here (zelda@example.com), how do I block a contact on Lumo?",
        )
        .await;
        let edited = ask(
            "z1",
            "cust-zelda",
            "Zelda again: what's the weather in Rome tomorrow?",
        )
        .await;
        s.approve(
            &edited.id,
            "ana",
            Some("Sorry Zelda Quixote, we have no forecasts."),
        )
        .await
        .unwrap();
        s.hand_back("z1", "ana").await.unwrap();
        let replaced = ask("z2", "", "Zelda Quixote: do you sell gift cards?").await;
        s.reject(
            &replaced.id,
            "bob",
            "off topic",
            Some("Hi Zelda Quixote, no gift cards, sorry."),
        )
        .await
        .unwrap();
        // z2's later message names the customer: every conversation of theirs is found.
        ask(
            "z2",
            "cust-zelda",
            "Zelda Quixote once more, what's the weather in Milan?",
        )
        .await;
        // Someone else.
        ask(
            "o1",
            "cust-other",
            "Otto Normal here: what's the weather in Oslo?",
        )
        .await;
        let exported = s
            .privacy()
            .export_customer_data(pb::CustomerDataRequest {
                customer_id: "cust-zelda".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(exported.conversations, 2);
        assert!(exported.json.contains("Zelda Quixote") && exported.json.contains("Zeldaphone"));
        assert!(!exported.json.contains("Otto"));
        let erased = s
            .privacy()
            .erase_customer_data(pb::CustomerDataRequest {
                customer_id: "cust-zelda".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(erased.conversation_ids, ["z1", "z2"]);
        assert_eq!((erased.messages, erased.texts_kept_in_audit_chain), (4, 0));
        assert!(erased.curated_questions >= 1, "{erased:?}");
        // Nothing of Zelda's anywhere; Otto's message is still there.
        let rows = every_row(&s, &url).await;
        for needle in ["Zelda", "zelda@", "Zeldaphone", "Quixote", "cust-zelda"] {
            let found: Vec<&String> = rows.iter().filter(|r| r.contains(needle)).collect();
            assert!(found.is_empty(), "{needle:?} is still stored: {found:#?}");
        }
        assert!(rows.iter().any(|r| r.contains("Otto Normal")));
        // Nothing of it waits for an agent or goes out.
        assert!(
            s.pending()
                .await
                .iter()
                .all(|d| !d.conversation_id.starts_with('z'))
        );
        assert!(
            deliveries(&s)
                .await
                .iter()
                .all(|d| !d.conversation_id.starts_with('z'))
        );
        // The transcript says what happened; the chain still verifies.
        let conv = s.conversation("z1").await;
        assert!(
            conv.messages
                .iter()
                .all(|m| m.text.is_empty() && m.context.is_empty())
        );
        assert!(conv.events.iter().any(|e| e.kind == "customer_data_erased"));
        // Erasing again finds the customer no more.
        assert_status(
            s.privacy()
                .erase_customer_data(pb::CustomerDataRequest {
                    customer_id: "cust-zelda".into(),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
            "customer \"cust-zelda\"",
        );
        assert_status(
            s.privacy()
                .erase_customer_data(pb::CustomerDataRequest::default())
                .await,
            Code::InvalidArgument,
            "exactly one of conversation_id and customer_id",
        );
        let data_dir = s.data_dir.clone();
        let tmp = s.stop().await;
        let store: replygate::storage::DynStore = if url.is_empty() {
            std::sync::Arc::new(
                replygate::storage::SqliteStore::open(&data_dir.join("replygate.db"))
                    .await
                    .unwrap(),
            )
        } else {
            std::sync::Arc::new(
                replygate::storage::PgStore::open(&url, &Default::default())
                    .await
                    .unwrap(),
            )
        };
        let verdict = replygate::audit::verify(&store).await.unwrap();
        assert!(
            matches!(verdict, replygate::audit::Verdict::Intact { .. }),
            "{verdict:?}"
        );
        drop(tmp);
    }

    async fn documented_device_context_is_checked_and_kept_with_the_message(store: Store) {
        let s = server(store, |_| {}).await;
        let with = |pairs: &[(&str, &str)]| pb::CreateDraftRequest {
            conversation_id: "d1".into(),
            message: CONFIDENT.into(),
            context: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let ok = s
            .drafts()
            .create_draft(with(&[
                ("os", "Android"),
                ("os_version", "14"),
                ("app_version", "2.24.1"),
                ("network", "wifi"),
                ("free_space_mb", "512"),
                ("backup_enabled", "true"),
                ("language", "pt-BR"),
                ("device_model", "Pixel 8"),
                ("plan", "business"),
            ]))
            .await;
        assert!(ok.is_ok(), "{ok:?}");
        let conv = s.conversation("d1").await;
        assert_eq!(conv.messages[0].context["app_version"], "2.24.1");
        for (key, value, needle) in [
            (
                "os",
                "Android 14",
                "\"os\" (the operating system) must be one of android, ios",
            ),
            ("app_version", "latest", "\"app_version\""),
            ("free_space_mb", "lots", "a whole number"),
            ("backup_enabled", "yes", "true or false"),
        ] {
            assert_status(
                s.drafts().create_draft(with(&[(key, value)])).await,
                Code::InvalidArgument,
                needle,
            );
        }
        // Nothing of a refused request was stored.
        assert_eq!(s.conversation("d1").await.messages.len(), 1);
        s.stop().await;
    }

    async fn an_android_question_gets_the_android_article_when_both_exist(store: Store) {
        let s = server(store, |_| {}).await;
        let mut knowledge = s.knowledge();
        for (id, title, os, steps) in [
            (
                "en/save-stickers-android",
                "Save stickers on Android",
                "android",
                "Tap and hold the sticker, then tap Add to favorites in the Android menu.",
            ),
            (
                "en/save-stickers-iphone",
                "Save stickers on iPhone",
                "ios",
                "Tap the sticker, then tap Add to Favorites in the iPhone menu.",
            ),
        ] {
            knowledge
                .upsert_article(pb::UpsertArticleRequest {
                    article: Some(pb::Article {
                        id: id.into(),
                        locale: "en".into(),
                        title: title.into(),
                        body: format!("Save a sticker a friend sent you to your favorite stickers.\n\n## Steps to save a sticker to favorites\n1. Open the chat with the sticker.\n2. {steps}\n3. The sticker is saved in your favorite stickers."),
                        applies_to: Some(pb::AppliesTo { os: vec![os.into()], app_version: String::new() }),
                        ..Default::default()
                    }),
                })
                .await
                .unwrap();
        }
        let ask_on = |os: &str| {
            let mut drafts = s.drafts();
            let os = os.to_string();
            async move {
                drafts
                    .create_draft(pb::CreateDraftRequest {
                        conversation_id: format!("c-{os}"),
                        message: "How do I save a sticker to my favorites?".into(),
                        context: if os.is_empty() {
                            Default::default()
                        } else {
                            [("os".to_string(), os)].into()
                        },
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let android = ask_on("android").await;
        assert_eq!(
            android.citations[0].article_id, "en/save-stickers-android",
            "{}",
            android.body
        );
        assert!(
            android.body.contains("These steps are for Android."),
            "{}",
            android.body
        );
        let iphone = ask_on("ios").await;
        assert_eq!(
            iphone.citations[0].article_id, "en/save-stickers-iphone",
            "{}",
            iphone.body
        );
        assert!(
            iphone.body.contains("These steps are for iPhone (iOS)."),
            "{}",
            iphone.body
        );
        // Without the device, either may answer, and the draft says which it is for.
        let unknown = ask_on("").await;
        assert!(
            unknown.body.contains("These steps are for"),
            "{}",
            unknown.body
        );
        // The article keeps what it applies to; a bad one is refused by name.
        let got = knowledge
            .get_article(pb::GetArticleRequest {
                id: "en/save-stickers-android".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.applies_to.unwrap().os, ["android"]);
        assert_status(
            knowledge
                .upsert_article(pb::UpsertArticleRequest {
                    article: Some(pb::Article {
                        locale: "en".into(),
                        title: "Symbian stickers".into(),
                        body: "Old phones.".into(),
                        applies_to: Some(pb::AppliesTo {
                            os: vec!["symbian".into()],
                            app_version: String::new(),
                        }),
                        ..Default::default()
                    }),
                })
                .await,
            Code::InvalidArgument,
            "article.applies_to",
        );
        s.stop().await;
    }

    async fn a_taken_over_account_needs_a_person_in_every_supported_language(store: Store) {
        let s = server(store, |_| {}).await;
        for (i, text) in [
            "my account was hacked",
            "alguém invadiu minha conta",
            "mi hanno rubato l'account",
            "me robaron la cuenta de Lumo",
            "mon compte Lumo a été piraté",
            "mein Lumo Konto wurde gehackt",
        ]
        .into_iter()
        .enumerate()
        {
            let d = s.ask(&format!("c{i}"), text).await;
            assert_eq!(state(&d), pb::DraftState::PendingReview, "{text}");
            assert!(d.needs_person, "{text}");
            assert!(reason(&d, "policy_always_review").is_some(), "{text}");
        }
        s.stop().await;
    }
}

/// Random sequences of customer messages and agents' acts on one
/// conversation, through the real server: the invariants hold after every step.
mod conversation_properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

    #[derive(Debug, Clone)]
    enum Op {
        Ask(&'static str),
        Claim(&'static str),
        Approve(&'static str),
        Release(&'static str),
        TakeOver(&'static str),
        HandBack(&'static str),
        Resolve(&'static str),
    }

    fn op() -> impl Strategy<Value = Op> {
        let agent = prop::sample::select(vec!["ana", "bob", "cai"]);
        let message = prop::sample::select(vec![
            "How do I block a contact on Lumo?",
            "How do I delete my Lumo account?",
            OUT_OF_SCOPE,
            "I want to talk to a person",
            "agent",
            "this is the third time I ask",
        ]);
        prop_oneof![
            4 => message.prop_map(Op::Ask),
            2 => agent.clone().prop_map(Op::Claim),
            2 => agent.clone().prop_map(Op::Approve),
            1 => agent.clone().prop_map(Op::Release),
            1 => agent.clone().prop_map(Op::TakeOver),
            1 => agent.clone().prop_map(Op::HandBack),
            1 => agent.prop_map(Op::Resolve),
        ]
    }

    fn state_of(c: &pb::Conversation) -> pb::ConversationState {
        pb::ConversationState::try_from(c.state).unwrap()
    }

    /// The conversation's newest undecided draft, if any.
    fn newest_open(c: &pb::Conversation) -> Option<pb::Draft> {
        c.drafts
            .iter()
            .rev()
            .find(|d| {
                matches!(
                    state(d),
                    pb::DraftState::PendingReview | pb::DraftState::Claimed
                )
            })
            .cloned()
    }

    async fn check(s: &TestServer, conversation: &str, ops: &[Op]) -> Result<(), TestCaseError> {
        use pb::ConversationState::*;
        // The conversation exists from its first message on.
        s.ask(conversation, "How do I block a contact on Lumo?")
            .await;
        for op in ops {
            let before = s.conversation(conversation).await;
            let owner = (state_of(&before) == HumanOwned).then(|| before.owner.clone());
            let refused_for = |agent: &str| owner.as_deref().is_some_and(|o| o != agent);
            match op {
                Op::Ask(text) => {
                    let d = s.ask(conversation, text).await;
                    if matches!(state_of(&before), Escalated | HumanOwned) {
                        prop_assert_ne!(
                            state(&d),
                            pb::DraftState::AutoApproved,
                            "sent while a person answers"
                        );
                    }
                }
                Op::Claim(agent) | Op::Approve(agent) | Op::Release(agent) => {
                    let Some(d) = newest_open(&before) else {
                        continue;
                    };
                    let result = if let Op::Claim(_) = op {
                        s.claim(&d.id, agent).await
                    } else if let Op::Approve(_) = op {
                        s.approve(&d.id, agent, None).await
                    } else {
                        s.release(&d.id, agent).await
                    };
                    if refused_for(agent) && !matches!(op, Op::Release(_)) {
                        prop_assert!(result.is_err(), "{op:?} by a non-owner went through");
                    }
                    if let Err(status) = result {
                        prop_assert_eq!(status.code(), Code::FailedPrecondition, "{:?}", status);
                    }
                }
                Op::TakeOver(agent) | Op::HandBack(agent) | Op::Resolve(agent) => {
                    let result = if let Op::TakeOver(_) = op {
                        s.take_over(conversation, agent).await
                    } else if let Op::HandBack(_) = op {
                        s.hand_back(conversation, agent).await
                    } else {
                        s.resolve(conversation, agent).await
                    };
                    if refused_for(agent) {
                        prop_assert!(result.is_err(), "{op:?} by a non-owner went through");
                    }
                    if let Err(status) = result {
                        prop_assert_eq!(status.code(), Code::FailedPrecondition, "{:?}", status);
                    }
                }
            }
            let after = s.conversation(conversation).await;
            // An owner exactly when human-owned.
            prop_assert_eq!(state_of(&after) == HumanOwned, !after.owner.is_empty());
            // The history chains, and ends where the conversation is.
            for w in after.history.windows(2) {
                prop_assert_eq!(w[0].to, w[1].from);
            }
            prop_assert_eq!(
                after.history.last().map_or(AiActive as i32, |h| h.to),
                after.state
            );
        }
        // One handoff notice per escalation by the customer.
        let c = s.conversation(conversation).await;
        let escalations = c
            .history
            .iter()
            .filter(|h| h.to == Escalated as i32 && h.actor == "customer")
            .count();
        let notices = c.deliveries.iter().filter(|d| d.author == "system").count();
        prop_assert_eq!(notices, escalations);
        Ok(())
    }

    #[test]
    fn the_invariants_hold_for_random_sequences_of_messages_and_acts() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = rt.block_on(TestServer::start());
        let mut runner = TestRunner::new(RunnerConfig {
            cases: 24,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let n = std::sync::atomic::AtomicUsize::new(0);
        let result = runner.run(&prop::collection::vec(op(), 1..20), |ops| {
            let conversation = format!("p{}", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            rt.block_on(check(&s, &conversation, &ops))
        });
        rt.block_on(s.stop());
        result.unwrap();
    }
}
