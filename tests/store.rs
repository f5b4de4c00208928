//! One suite of store behaviours, run against every backend: each behaviour is
//! a test on SQLite (`sqlite::…`) and one on PostgreSQL (`postgres::…`, each
//! in a schema of its own, so they run in parallel). The PostgreSQL ones are
//! ignored unless asked for (`--include-ignored`, with
//! `REPLYGATE_TEST_DATABASE_URL`; `.ci/run` does both). The same assertions for both.

mod common;

use replygate::config::DatabaseConfig;
use replygate::conversation::{Act, Cause, Refusal, Rules, State};
use replygate::drafting::record;
use replygate::model::{
    Article, AuditEvent, Confidence, CuratedAnswer, CuratedQuestion, CuratedState, CustomerMessage,
    Delivery, Draft, DraftState, Level, SourceVersion, new_id, now_ms,
};
use replygate::storage::{
    ArticleWrite, ConversationChange, CuratedChange, DeliveryLease, DraftChange, DynStore, Error,
    MemoryWrite, MessageInConversation, NewDraft, PendingFilter, PgStore, RequestKey, SqliteStore,
    StoreEvent,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// A store under test, and how to open another one on the same data.
struct Fixture {
    store: DynStore,
    kind: Kind,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
enum Kind {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        Fixture {
            store: Arc::new(SqliteStore::open(&path).await.unwrap()),
            kind: Kind::Sqlite(path),
            _dir: dir,
        }
    }

    /// Fails when no PostgreSQL is configured for tests.
    async fn postgres() -> Fixture {
        let url = common::postgres_schema_url().await;
        let store = PgStore::open(&url, &small_pool()).await.unwrap();
        Fixture {
            store: Arc::new(store),
            kind: Kind::Postgres(url),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A second store on the same database, as another replica would open it.
    async fn reopen(&self) -> DynStore {
        match &self.kind {
            Kind::Sqlite(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
            Kind::Postgres(url) => Arc::new(PgStore::open(url, &small_pool()).await.unwrap()),
        }
    }

    /// Runs SQL behind the store's back, as someone with database access could.
    async fn tamper(&self, sql: &str) {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.kind {
            Kind::Sqlite(path) => {
                let url = format!("sqlite://{}", path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
            Kind::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// Closes the store and opens the same data again, as a restart does.
    async fn close_and_reopen(self) -> Fixture {
        let Fixture { store, kind, _dir } = self;
        drop(store);
        let store: DynStore = match &kind {
            Kind::Sqlite(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
            Kind::Postgres(url) => Arc::new(PgStore::open(url, &small_pool()).await.unwrap()),
        };
        Fixture { store, kind, _dir }
    }

    fn shares_events_across_processes(&self) -> bool {
        matches!(self.kind, Kind::Postgres(_))
    }
}

/// Tests run in parallel: keep each store's share of the server's connections small.
fn small_pool() -> DatabaseConfig {
    DatabaseConfig {
        max_connections: 6,
        ..DatabaseConfig::default()
    }
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Fixture::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
                async fn $name() {
                    super::$name(super::Fixture::postgres().await).await;
                }
            )*
        }
    };
}

on_every_store!(
    a_new_draft_is_stored_with_its_message_and_events,
    a_repeated_request_id_returns_the_first_draft_and_writes_nothing,
    concurrent_requests_with_one_id_create_exactly_one_draft,
    a_new_message_supersedes_the_open_drafts_of_its_conversation,
    one_request_id_in_two_conversations_or_from_two_platforms_is_two_messages,
    a_conversation_belongs_to_the_platform_that_opened_it,
    a_draft_that_needs_a_person_stays_open_and_holds_its_conversation,
    a_consumer_group_leases_each_delivery_to_one_stream_at_a_time,
    one_conversation_is_never_leased_to_two_streams_at_once,
    every_kind_of_stored_text_is_covered_by_the_audit_chain,
    a_change_at_a_stale_revision_is_a_conflict_and_changes_nothing,
    of_many_concurrent_claims_exactly_one_wins,
    the_open_queue_filters_by_channel_and_locale_and_includes_expired_claims,
    deliveries_come_in_cursor_order_and_an_ack_counts_once,
    a_reader_following_the_cursor_never_misses_a_concurrent_delivery,
    article_versions_increase_across_updates_and_deletes,
    articles_list_by_page_and_locale,
    gauges_and_facts_describe_the_queue,
    events_are_announced_after_commits,
    changes_reach_another_store_on_the_same_database,
    the_folder_sync_lock_is_exclusive_across_stores,
    the_audit_chain_links_every_write_and_names_the_first_tampered_event,
    events_written_before_the_chain_existed_are_chained_at_open,
    writes_that_fail_amid_concurrent_ones_leave_the_others_committed,
    a_write_whose_caller_gave_up_commits_whole_or_not_at_all,
    vectors_are_kept_by_model_and_content_hash_and_the_first_one_stays,
    a_decision_files_its_lesson_in_the_answer_memory_in_its_own_transaction,
    an_editor_s_change_of_a_curated_answer_is_guarded_by_its_revision,
    an_escalating_message_sends_one_notice_and_holds_its_conversation_until_handed_back,
    of_agents_claiming_drafts_of_one_conversation_at_once_exactly_one_owns_it,
    only_the_owner_hands_a_conversation_back_and_every_change_is_in_its_history,
    retention_erases_idle_conversations_once_and_the_chain_still_verifies,
    a_signing_key_is_made_once_for_every_replica_and_a_link_is_revoked_once,
);

async fn a_signing_key_is_made_once_for_every_replica_and_a_link_is_revoked_once(f: Fixture) {
    // SQLite has one process (it holds the file's lock); PostgreSQL has replicas.
    let replica = if f.shares_events_across_processes() {
        f.reopen().await
    } else {
        f.store.clone()
    };
    let first = f
        .store
        .signing_key("console_sessions", vec![1; 32], now_ms())
        .await
        .unwrap();
    let second = replica
        .signing_key("console_sessions", vec![2; 32], now_ms())
        .await
        .unwrap();
    assert_eq!(first, vec![1; 32]);
    assert_eq!(second, first, "the replica keeps the key made first");
    let other = replica
        .signing_key("transcript_links", vec![3; 32], now_ms())
        .await
        .unwrap();
    assert_eq!(other, vec![3; 32], "each name has its own key");

    let link = replygate::storage::TranscriptLink {
        id: new_id(),
        conversation_id: "c-record".into(),
        created_by: "desk".into(),
        created_at: 1_000,
        expires_at: 2_000,
        revoked_at: None,
    };
    f.store.insert_transcript_link(&link).await.unwrap();
    assert_eq!(
        replica.transcript_link(&link.id).await.unwrap(),
        Some(link.clone())
    );
    assert!(
        replica
            .revoke_transcript_link(&link.id, 1_500)
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .revoke_transcript_link(&link.id, 1_600)
            .await
            .unwrap(),
        "revoked once"
    );
    let stored = f.store.transcript_link(&link.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(1_500), "the first revocation stays");
    assert!(
        !f.store
            .revoke_transcript_link("no-such-link", 1_700)
            .await
            .unwrap()
    );
    assert_eq!(f.store.transcript_link("no-such-link").await.unwrap(), None);
}

// --- builders ---

fn message(conversation: &str, channel: &str, locale: &str) -> CustomerMessage {
    CustomerMessage {
        id: new_id(),
        conversation_id: conversation.into(),
        text: "How do I back up my chats?".into(),
        locale: locale.into(),
        channel: channel.into(),
        context: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
        received_at: now_ms(),
    }
}

/// A pending draft (or an auto-approved one with its delivery) for a new message.
fn new_draft(conversation: &str, request_id: Option<&str>, auto_approved: bool) -> NewDraft {
    new_draft_in(conversation, "whatsapp", "en", request_id, auto_approved)
}

fn new_draft_in(
    conversation: &str,
    channel: &str,
    locale: &str,
    request_id: Option<&str>,
    auto_approved: bool,
) -> NewDraft {
    let message = message(conversation, channel, locale);
    let now = message.received_at;
    let draft = Draft {
        id: new_id(),
        conversation_id: conversation.into(),
        message_id: message.id.clone(),
        request_id: request_id.map(str::to_string),
        caller: String::new(),
        channel: channel.into(),
        locale: locale.into(),
        body: "Open Settings > Chats > Backup.".into(),
        disclosure: "Written by AI".into(),
        ai_generated: true,
        human_reviewed: false,
        generator: "extractive".into(),
        confidence: Confidence {
            score: if auto_approved { 0.9 } else { 0.3 },
            level: if auto_approved {
                Level::High
            } else {
                Level::Low
            },
            reasons: vec![],
        },
        citations: vec![],
        state: if auto_approved {
            DraftState::AutoApproved
        } else {
            DraftState::PendingReview
        },
        needs_person: false,
        final_body: if auto_approved {
            "Open Settings > Chats > Backup.".into()
        } else {
            String::new()
        },
        reviewed_by: String::new(),
        claimed_by: String::new(),
        claim_expires_at: None,
        reject_reason: String::new(),
        created_at: now,
        updated_at: now,
        revision: 1,
        customer_message: String::new(),
        curated_answer_id: String::new(),
        respond_by: None,
    };
    let events = vec![AuditEvent::new(
        "draft_created",
        "ai",
        &draft,
        serde_json::json!({"level": draft.confidence.level.as_str()}),
        now,
    )];
    let mut events = events;
    let delivery = auto_approved.then(|| {
        let delivery = Delivery::for_draft(&draft, "ai", now);
        events.push(delivery.created_event(&draft));
        delivery
    });
    let superseded = AuditEvent::new(
        "draft_superseded",
        "system",
        &draft,
        serde_json::json!({ "by_message": message.id, "by_draft": draft.id }),
        now,
    );
    NewDraft {
        message,
        draft,
        events,
        delivery,
        if_held: None,
        customer_id: String::new(),
        earlier: record::earlier(superseded),
        conversation: MessageInConversation {
            act: Act::Message {
                cause: None,
                low: false,
            },
            rules: Rules::default(),
            notice: None,
        },
    }
}

/// The idempotency key of a request without a token.
fn key(conversation: &str, request_id: &str) -> RequestKey {
    RequestKey {
        caller: String::new(),
        conversation_id: conversation.into(),
        request_id: request_id.into(),
    }
}

/// The change an agent's claim makes.
fn claim(draft: &Draft, agent: &str, lease_ms: i64) -> DraftChange {
    let now = now_ms();
    let mut next = draft.clone();
    next.state = DraftState::Claimed;
    next.claimed_by = agent.into();
    next.claim_expires_at = Some(now + lease_ms);
    next.updated_at = now;
    DraftChange {
        events: vec![AuditEvent::new(
            "draft_claimed",
            agent,
            draft,
            serde_json::json!({}),
            now,
        )],
        draft: next,
        expected_revision: draft.revision,
        delivery: None,
        memory: vec![],
        conversation: Some(Act::Review {
            agent: agent.into(),
        }),
    }
}

/// The change an approval makes: the draft goes out with its delivery.
fn approve(draft: &Draft, agent: &str) -> DraftChange {
    let now = now_ms();
    let mut next = draft.clone();
    next.state = DraftState::Approved;
    next.final_body = draft.body.clone();
    next.human_reviewed = true;
    next.reviewed_by = agent.into();
    next.claimed_by = String::new();
    next.claim_expires_at = None;
    next.updated_at = now;
    let delivery = Delivery::for_draft(&next, agent, now);
    DraftChange {
        events: vec![
            AuditEvent::new("draft_approved", agent, draft, serde_json::json!({}), now),
            delivery.created_event(&next),
        ],
        delivery: Some(delivery),
        draft: next,
        expected_revision: draft.revision,
        memory: vec![],
        conversation: Some(Act::Review {
            agent: agent.into(),
        }),
    }
}

/// An agent's act on a whole conversation, closing its undecided drafts as the domain does.
fn on_conversation(conversation: &str, act: Act) -> ConversationChange {
    let now = now_ms();
    ConversationChange {
        conversation_id: conversation.into(),
        act,
        now,
        close: record::closing(AuditEvent {
            seq: 0,
            at: now,
            kind: "draft_superseded".into(),
            actor: "ana".into(),
            conversation_id: conversation.into(),
            draft_id: String::new(),
            detail: serde_json::json!({ "by": "hand_back" }),
            chain: Default::default(),
        }),
    }
}

fn article(id: &str, locale: &str, body: &str) -> Article {
    let title = format!("Title of {id}");
    let tags = vec!["t".to_string()];
    Article {
        content_hash: replygate::model::article_content_hash(
            locale,
            &title,
            body,
            &tags,
            "",
            &Default::default(),
        ),
        id: id.into(),
        locale: locale.into(),
        title,
        body: body.into(),
        tags,
        url: String::new(),
        version: 0,
        source: "api".into(),
        updated_at: now_ms(),
        applies_to: Default::default(),
    }
}

fn all_open() -> PendingFilter {
    PendingFilter {
        channel: None,
        locale: None,
        limit: 500,
    }
}

async fn recv_within(
    rx: &mut tokio::sync::broadcast::Receiver<StoreEvent>,
    wanted: impl Fn(&StoreEvent) -> bool,
) -> bool {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Ok(e) if wanted(&e) => return true,
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false)
}

// --- behaviours ---

async fn a_new_draft_is_stored_with_its_message_and_events(f: Fixture) {
    let new = new_draft("c1", Some("r1"), false);
    let created = f.store.create_draft(new.clone()).await.unwrap();
    assert!(created.created);
    assert!(created.superseded.is_empty());
    let stored = f.store.get_draft(&new.draft.id).await.unwrap().unwrap();
    assert_eq!(stored, created.draft);
    assert_eq!(stored.customer_message, new.message.text);
    assert_eq!(stored.state, DraftState::PendingReview);
    assert_eq!(stored.confidence, new.draft.confidence);
    let by_request = f
        .store
        .find_draft_by_request(&key("c1", "r1"))
        .await
        .unwrap();
    assert_eq!(by_request.map(|d| d.id), Some(new.draft.id.clone()));

    let t = f.store.transcript("c1").await.unwrap().unwrap();
    assert_eq!(t.messages, vec![new.message.clone()]);
    assert_eq!(t.drafts.len(), 1);
    assert_eq!(
        t.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["draft_created"]
    );
    assert!(t.deliveries.is_empty());
    assert!(f.store.transcript("nobody").await.unwrap().is_none());
    assert!(f.store.get_draft("missing").await.unwrap().is_none());
}

async fn a_repeated_request_id_returns_the_first_draft_and_writes_nothing(f: Fixture) {
    let first = f
        .store
        .create_draft(new_draft("c1", Some("same"), false))
        .await
        .unwrap();
    let again = f
        .store
        .create_draft(new_draft("c1", Some("same"), false))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.draft.id, first.draft.id);
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    assert_eq!(t.messages.len(), 1, "the retry wrote no second message");
    assert_eq!(t.drafts.len(), 1);
    assert_eq!(
        t.drafts[0].state,
        DraftState::PendingReview,
        "not superseded by its own retry"
    );
}

async fn concurrent_requests_with_one_id_create_exactly_one_draft(f: Fixture) {
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = f.store.clone();
        // One conversation, one request id: retries racing each other.
        tasks.push(tokio::spawn(async move {
            store
                .create_draft(new_draft("c1", Some("one-id"), true))
                .await
                .unwrap()
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        ids.insert(r.draft.id);
        created += usize::from(r.created);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1, "every caller got the same draft");
    let deliveries = f.store.deliveries_after(0, None, 100).await.unwrap();
    assert_eq!(deliveries.len(), 1, "and exactly one delivery");
}

/// A new draft sent by `caller`.
fn from_caller(mut new: NewDraft, caller: &str) -> NewDraft {
    new.draft.caller = caller.into();
    if let Some(d) = &mut new.delivery {
        d.caller = caller.into();
    }
    new
}

/// A new draft flagged by policy: it needs a person.
fn needing_a_person(mut new: NewDraft) -> NewDraft {
    new.draft.needs_person = true;
    new
}

/// A new draft that is written held for review while its conversation waits for a person.
fn holdable(new: NewDraft) -> NewDraft {
    let mut held = new.draft.clone();
    held.state = DraftState::PendingReview;
    let events = new.events.clone();
    NewDraft {
        if_held: Some(replygate::storage::HeldDraft {
            draft: held,
            events,
        }),
        ..new
    }
}

async fn one_request_id_in_two_conversations_or_from_two_platforms_is_two_messages(f: Fixture) {
    // Per-chat message ids are what platforms send: "msg-1" in every chat.
    let a = f
        .store
        .create_draft(new_draft("c1", Some("msg-1"), false))
        .await
        .unwrap();
    let b = f
        .store
        .create_draft(new_draft("c2", Some("msg-1"), false))
        .await
        .unwrap();
    assert!(
        a.created && b.created,
        "the second conversation's message is its own"
    );
    assert_ne!(a.draft.id, b.draft.id);
    assert_eq!(
        f.store
            .transcript("c2")
            .await
            .unwrap()
            .unwrap()
            .messages
            .len(),
        1
    );
    let by_key = |conversation: &'static str| {
        let store = f.store.clone();
        async move {
            store
                .find_draft_by_request(&key(conversation, "msg-1"))
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    assert_eq!(by_key("c1").await, a.draft.id);
    assert_eq!(by_key("c2").await, b.draft.id);
    // Two platforms, each with its own conversation "42".
    let desk = f
        .store
        .create_draft(from_caller(new_draft("desk-42", Some("m"), false), "desk"))
        .await
        .unwrap();
    let shop = f
        .store
        .create_draft(from_caller(new_draft("shop-42", Some("m"), false), "shop"))
        .await
        .unwrap();
    assert!(desk.created && shop.created);
    let desk_key = RequestKey {
        caller: "desk".into(),
        ..key("desk-42", "m")
    };
    assert_eq!(
        f.store
            .find_draft_by_request(&desk_key)
            .await
            .unwrap()
            .unwrap()
            .id,
        desk.draft.id
    );
    assert!(
        f.store
            .find_draft_by_request(&key("desk-42", "m"))
            .await
            .unwrap()
            .is_none(),
        "another caller's key finds nothing"
    );
    // The retry in the same conversation still finds the first draft.
    let again = f
        .store
        .create_draft(new_draft("c2", Some("msg-1"), false))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.draft.id, b.draft.id);
}

async fn a_conversation_belongs_to_the_platform_that_opened_it(f: Fixture) {
    f.store
        .create_draft(from_caller(new_draft("c1", None, false), "desk"))
        .await
        .unwrap();
    let before = f.store.audit_head().await.unwrap();
    let err = f
        .store
        .create_draft(from_caller(new_draft("c1", None, false), "shop"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::OtherPlatform(ref c) if c == "c1"),
        "{err:?}"
    );
    assert_eq!(
        f.store.audit_head().await.unwrap(),
        before,
        "nothing written"
    );
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    assert_eq!(t.platform, "desk");
    assert_eq!(t.messages.len(), 1);
    // The owner goes on writing to it.
    f.store
        .create_draft(from_caller(new_draft("c1", None, false), "desk"))
        .await
        .unwrap();
}

async fn a_draft_that_needs_a_person_stays_open_and_holds_its_conversation(f: Fixture) {
    let flagged = f
        .store
        .create_draft(needing_a_person(new_draft("c1", None, false)))
        .await
        .unwrap()
        .draft;
    assert!(flagged.needs_person);
    // The customer writes again; the follow-up would be auto-sent.
    let follow_up = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert!(follow_up.superseded.is_empty(), "the flagged draft stays");
    assert_eq!(follow_up.draft.state, DraftState::PendingReview, "held");
    assert_eq!(
        f.store.get_draft(&flagged.id).await.unwrap().unwrap().state,
        DraftState::PendingReview
    );
    assert!(
        f.store
            .deliveries_after(0, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing goes out"
    );
    // A third message supersedes the ordinary follow-up, never the flagged draft.
    let third = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert_eq!(third.superseded, vec![follow_up.draft.id.clone()]);
    assert_eq!(third.draft.state, DraftState::PendingReview);
    // Claimed, the flagged draft still holds the conversation.
    let claimed = f
        .store
        .apply_draft_change(claim(&flagged, "ana", 60_000))
        .await
        .unwrap();
    let fourth = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert_eq!(fourth.draft.state, DraftState::PendingReview);
    assert_eq!(
        f.store.get_draft(&claimed.id).await.unwrap().unwrap().state,
        DraftState::Claimed
    );
    // Decided, the conversation is still the agent's: the next message waits for her.
    f.store
        .apply_draft_change(approve(&claimed, "ana"))
        .await
        .unwrap();
    let fifth = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert_eq!(fifth.draft.state, DraftState::PendingReview);
    assert_eq!(
        fifth.conversation.map(|o| (o.state, o.owner)),
        Some((State::HumanOwned, "ana".to_string()))
    );
    // Once she hands it back, the AI answers again.
    let back = f
        .store
        .change_conversation(on_conversation(
            "c1",
            Act::HandBack {
                agent: "ana".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(back.ownership.state, State::Resolved);
    assert_eq!(back.closed, vec![fifth.draft.id.clone()]);
    let later = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert_eq!(later.draft.state, DraftState::AutoApproved);
    // Other conversations were never held.
    let elsewhere = f
        .store
        .create_draft(needing_a_person(new_draft("c2", None, false)))
        .await
        .unwrap();
    let free = f
        .store
        .create_draft(holdable(new_draft("c3", None, true)))
        .await
        .unwrap();
    assert!(elsewhere.draft.needs_person);
    assert_eq!(free.draft.state, DraftState::AutoApproved);
}

/// A stream of `group` asking for deliveries at `now`, leases of `lease_ms`.
fn lease(group: &str, holder: &str, max_in_flight: u32, now: i64) -> DeliveryLease {
    DeliveryLease {
        group: group.into(),
        holder: holder.into(),
        after_cursor: 0,
        channel: None,
        platform: None,
        max_in_flight,
        now,
        until: now + 30_000,
    }
}

fn cursors(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(|d| d.cursor).collect()
}

async fn a_consumer_group_leases_each_delivery_to_one_stream_at_a_time(f: Fixture) {
    for i in 0..5 {
        f.store
            .create_draft(new_draft(&format!("c{i}"), None, true))
            .await
            .unwrap();
    }
    let all = cursors(&f.store.deliveries_after(0, None, 10).await.unwrap());
    assert_eq!(all.len(), 5);
    // On PostgreSQL the second stream is on another replica.
    let replica = match f.kind {
        Kind::Postgres(_) => f.reopen().await,
        Kind::Sqlite(_) => f.store.clone(),
    };
    let t = now_ms();
    let a = f
        .store
        .lease_deliveries(&lease("workers", "a", 2, t))
        .await
        .unwrap();
    let b = replica
        .lease_deliveries(&lease("workers", "b", 10, t))
        .await
        .unwrap();
    assert_eq!(cursors(&a), all[..2].to_vec(), "a holds at most 2");
    assert_eq!(
        cursors(&b),
        all[2..].to_vec(),
        "b gets the rest, none twice"
    );
    assert!(
        f.store
            .lease_deliveries(&lease("workers", "a", 2, t))
            .await
            .unwrap()
            .is_empty(),
        "a is full"
    );
    // Another group gets every delivery again.
    let other = f
        .store
        .lease_deliveries(&lease("audit", "x", 10, t))
        .await
        .unwrap();
    assert_eq!(cursors(&other), all);
    // An ack frees a slot for a; nothing of b's is handed out meanwhile.
    let event = |cursor: u64| AuditEvent {
        seq: 0,
        at: t,
        kind: "delivery_acked".into(),
        actor: "platform".into(),
        conversation_id: String::new(),
        draft_id: String::new(),
        detail: serde_json::json!({ "cursor": cursor }),
        chain: Default::default(),
    };
    assert!(
        f.store
            .ack_delivery(all[0], event(all[0]), t)
            .await
            .unwrap()
    );
    f.store
        .create_draft(new_draft("c-new", None, true))
        .await
        .unwrap();
    let refill = f
        .store
        .lease_deliveries(&lease("workers", "a", 2, t))
        .await
        .unwrap();
    assert_eq!(refill.len(), 1);
    assert!(refill[0].cursor > all[4], "only the new delivery was free");
    // b goes away without acking: after its lease ends, a gets its deliveries.
    let later = t + 31_000;
    let a_again = f
        .store
        .lease_deliveries(&lease("workers", "a", 10, later))
        .await
        .unwrap();
    assert_eq!(
        cursors(&a_again),
        [vec![all[1]], all[2..].to_vec(), vec![refill[0].cursor]].concat(),
        "every unacked delivery whose lease ran out, in cursor order"
    );
}

async fn one_conversation_is_never_leased_to_two_streams_at_once(f: Fixture) {
    // Two replies in conversation c1, one in c2.
    let first = f
        .store
        .create_draft(new_draft("c1", None, true))
        .await
        .unwrap();
    f.store
        .create_draft(new_draft("c2", None, true))
        .await
        .unwrap();
    let approved = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap();
    f.store
        .apply_draft_change(approve(&approved.draft, "ana"))
        .await
        .unwrap();
    let all = f.store.deliveries_after(0, None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    let t = now_ms();
    let a = f
        .store
        .lease_deliveries(&lease("g", "a", 1, t))
        .await
        .unwrap();
    assert_eq!(a[0].draft_id, first.draft.id);
    let b = f
        .store
        .lease_deliveries(&lease("g", "b", 10, t))
        .await
        .unwrap();
    assert_eq!(
        b.iter()
            .map(|d| d.conversation_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c2"],
        "c1's second reply waits until a acks its first"
    );
}

async fn every_kind_of_stored_text_is_covered_by_the_audit_chain(f: Fixture) {
    use replygate::audit::{Verdict, verify};
    let pending = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap()
        .draft;
    let mut decided = pending.clone();
    decided.final_body = "Open Settings, then Chats, then Backup.".into();
    let mut change = approve(&pending, "ana");
    change.draft.final_body = decided.final_body.clone();
    change.delivery = Some(Delivery::for_draft(&change.draft, "ana", now_ms()));
    let approved = f.store.apply_draft_change(change).await.unwrap();
    let delivery = f
        .store
        .deliveries_after(0, None, 1)
        .await
        .unwrap()
        .remove(0);
    f.store
        .put_article(article("en/backup", "en", "Open Settings."), "eve")
        .await
        .unwrap();
    assert!(matches!(
        verify(&f.store).await.unwrap(),
        Verdict::Intact { .. }
    ));

    let (m, d, c) = (&pending.message_id, &pending.id, delivery.cursor);
    let cases: Vec<(String, String, String)> = vec![
        (
            format!("UPDATE messages SET text = 'I never wrote this' WHERE id = '{m}'"),
            format!("UPDATE messages SET text = 'How do I back up my chats?' WHERE id = '{m}'"),
            format!("message {m} (conversation c1)"),
        ),
        (
            format!("UPDATE messages SET context = '{{\"plan\":\"free\"}}' WHERE id = '{m}'"),
            format!("UPDATE messages SET context = '{{\"plan\":\"pro\"}}' WHERE id = '{m}'"),
            format!("message {m} (conversation c1)"),
        ),
        (
            format!("UPDATE drafts SET body = 'Your refund of 100 euros is approved.' WHERE id = '{d}'"),
            format!("UPDATE drafts SET body = '{}' WHERE id = '{d}'", pending.body),
            format!("draft {d} (conversation c1)"),
        ),
        (
            format!("UPDATE drafts SET final_body = 'Send us your password.' WHERE id = '{d}'"),
            format!("UPDATE drafts SET final_body = '{}' WHERE id = '{d}'", approved.final_body),
            format!("draft {d} (conversation c1)"),
        ),
        (
            format!("UPDATE deliveries SET text = 'Send us your password.' WHERE cursor = {c}"),
            format!("UPDATE deliveries SET text = '{}' WHERE cursor = {c}", delivery.text),
            format!("delivery {c} (conversation c1)"),
        ),
        (
            format!("UPDATE deliveries SET author = 'mallory' WHERE cursor = {c}"),
            format!("UPDATE deliveries SET author = 'ana' WHERE cursor = {c}"),
            format!("delivery {c} (conversation c1)"),
        ),
        (
            "UPDATE articles SET body = 'Call 555-0100 for a refund.' WHERE id = 'en/backup'".into(),
            "UPDATE articles SET body = 'Open Settings.' WHERE id = 'en/backup'".into(),
            "article en/backup".into(),
        ),
        (
            "INSERT INTO messages (id, conversation_id, text, locale, channel, context, received_at)
             VALUES ('forged', 'c1', 'forged', 'en', 'chat', '{}', 1)"
                .into(),
            "DELETE FROM messages WHERE id = 'forged'".into(),
            "message forged (conversation c1)".into(),
        ),
    ];
    for (tamper, restore, named) in cases {
        f.tamper(&tamper).await;
        let verdict = verify(&f.store).await.unwrap();
        let Verdict::Altered { record, .. } = &verdict else {
            panic!("{tamper}: {verdict:?}");
        };
        assert_eq!(*record, named, "{tamper}");
        f.tamper(&restore).await;
        let verdict = verify(&f.store).await.unwrap();
        assert!(
            matches!(verdict, Verdict::Intact { .. }),
            "{restore}: {verdict:?}"
        );
    }
    // A delivery removed from the outbox is missed too.
    f.tamper(&format!("DELETE FROM deliveries WHERE cursor = {c}"))
        .await;
    let verdict = verify(&f.store).await.unwrap();
    let Verdict::Altered { record, reason, .. } = &verdict else {
        panic!("{verdict:?}");
    };
    assert_eq!(*record, format!("delivery {c}"));
    assert!(reason.contains("missing"), "{reason}");
}

async fn a_new_message_supersedes_the_open_drafts_of_its_conversation(f: Fixture) {
    let a = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap();
    let b = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap();
    let other = f
        .store
        .create_draft(new_draft("c2", None, false))
        .await
        .unwrap();
    assert_eq!(b.superseded, vec![a.draft.id.clone()]);
    let a_now = f.store.get_draft(&a.draft.id).await.unwrap().unwrap();
    assert_eq!(a_now.state, DraftState::Superseded);
    assert_eq!(a_now.revision, a.draft.revision + 1);
    let open: Vec<String> = f
        .store
        .list_open_drafts(&all_open(), now_ms())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(open, vec![b.draft.id.clone(), other.draft.id.clone()]);
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    assert!(
        t.events
            .iter()
            .any(|e| e.kind == "draft_superseded" && e.draft_id == a.draft.id)
    );
}

async fn a_change_at_a_stale_revision_is_a_conflict_and_changes_nothing(f: Fixture) {
    let d = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap()
        .draft;
    let claimed = f
        .store
        .apply_draft_change(claim(&d, "ana", 60_000))
        .await
        .unwrap();
    assert_eq!(claimed.state, DraftState::Claimed);
    assert_eq!(claimed.claimed_by, "ana");
    assert_eq!(claimed.revision, d.revision + 1);

    // Bruno read the draft before Ana's claim. Her claim made the
    // conversation hers, which refuses him first; the revision alone (a
    // change that does not touch the conversation) is a conflict.
    let late = f.store.apply_draft_change(claim(&d, "bruno", 60_000)).await;
    assert!(
        matches!(&late, Err(Error::Refused(Refusal::OwnedByOther(o))) if o == "ana"),
        "{late:?}"
    );
    let stale = |change: DraftChange| DraftChange {
        conversation: None,
        ..change
    };
    let late = f
        .store
        .apply_draft_change(stale(claim(&d, "bruno", 60_000)))
        .await;
    assert!(matches!(late, Err(Error::Conflict)), "{late:?}");
    let late = f
        .store
        .apply_draft_change(stale(approve(&d, "bruno")))
        .await;
    assert!(matches!(late, Err(Error::Conflict)), "{late:?}");
    assert_eq!(f.store.get_draft(&d.id).await.unwrap().unwrap(), claimed);
    assert!(
        f.store
            .deliveries_after(0, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "draft_created",
            "conversation_state_changed",
            "draft_claimed"
        ],
        "created + Ana's claim (and ownership), nothing of Bruno's"
    );
}

async fn of_many_concurrent_claims_exactly_one_wins(f: Fixture) {
    let d = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap()
        .draft;
    let mut tasks = Vec::new();
    for agent in 0..20 {
        let store = f.store.clone();
        let change = claim(&d, &format!("agent-{agent}"), 60_000);
        tasks.push(tokio::spawn(async move {
            store.apply_draft_change(change).await
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(draft) => winners.push(draft.claimed_by),
            // Lost the draft, or found its conversation owned by the winner.
            Err(Error::Conflict | Error::Refused(Refusal::OwnedByOther(_))) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = f.store.get_draft(&d.id).await.unwrap().unwrap();
    assert_eq!(stored.claimed_by, winners[0]);
}

async fn the_open_queue_filters_by_channel_and_locale_and_includes_expired_claims(f: Fixture) {
    let wa_en = f
        .store
        .create_draft(new_draft_in("c1", "whatsapp", "en", None, false))
        .await
        .unwrap()
        .draft;
    let mail_pt = f
        .store
        .create_draft(new_draft_in("c2", "email", "pt", None, false))
        .await
        .unwrap()
        .draft;
    let expired = f
        .store
        .create_draft(new_draft_in("c3", "email", "en", None, false))
        .await
        .unwrap()
        .draft;
    let live = f
        .store
        .create_draft(new_draft_in("c4", "email", "en", None, false))
        .await
        .unwrap()
        .draft;
    f.store
        .apply_draft_change(claim(&expired, "ana", -1))
        .await
        .unwrap();
    f.store
        .apply_draft_change(claim(&live, "ana", 60_000))
        .await
        .unwrap();
    let ids = |v: Vec<Draft>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let now = now_ms();
    assert_eq!(
        ids(f.store.list_open_drafts(&all_open(), now).await.unwrap()),
        vec![wa_en.id.clone(), mail_pt.id.clone(), expired.id.clone()]
    );
    let email = PendingFilter {
        channel: Some("email".into()),
        ..all_open()
    };
    assert_eq!(
        ids(f.store.list_open_drafts(&email, now).await.unwrap()),
        vec![mail_pt.id.clone(), expired.id.clone()]
    );
    let pt = PendingFilter {
        locale: Some("pt".into()),
        ..all_open()
    };
    assert_eq!(
        ids(f.store.list_open_drafts(&pt, now).await.unwrap()),
        vec![mail_pt.id.clone()]
    );
    let one = PendingFilter {
        limit: 1,
        ..all_open()
    };
    assert_eq!(
        ids(f.store.list_open_drafts(&one, now).await.unwrap()),
        vec![wa_en.id]
    );
    assert_eq!(
        ids(f.store.list_expired_claims(now, 10).await.unwrap()),
        vec![expired.id]
    );
}

async fn deliveries_come_in_cursor_order_and_an_ack_counts_once(f: Fixture) {
    let auto = f
        .store
        .create_draft(new_draft("c1", None, true))
        .await
        .unwrap()
        .draft;
    let pending = f
        .store
        .create_draft(new_draft("c2", None, false))
        .await
        .unwrap()
        .draft;
    let approved = f
        .store
        .apply_draft_change(approve(&pending, "ana"))
        .await
        .unwrap();
    assert_eq!(approved.state, DraftState::Approved);
    let mail = f
        .store
        .create_draft(new_draft_in("c3", "email", "en", None, true))
        .await
        .unwrap()
        .draft;

    let all = f.store.deliveries_after(0, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.draft_id.clone()).collect::<Vec<_>>(),
        vec![auto.id.clone(), approved.id.clone(), mail.id.clone()]
    );
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
    assert_eq!(all[1].author, "ana");
    assert!(
        all[0].text.ends_with("Written by AI"),
        "AI replies carry their label"
    );
    let email = f
        .store
        .deliveries_after(0, Some("email"), 10)
        .await
        .unwrap();
    assert_eq!(email.len(), 1);
    assert_eq!(
        f.store
            .deliveries_after(all[0].cursor, None, 1)
            .await
            .unwrap()[0],
        all[1]
    );

    let ack = |cursor| AuditEvent {
        seq: 0,
        at: now_ms(),
        kind: "delivery_acked".into(),
        actor: "platform".into(),
        conversation_id: "c1".into(),
        draft_id: auto.id.clone(),
        detail: serde_json::json!({ "cursor": cursor }),
        chain: Default::default(),
    };
    assert!(
        f.store
            .ack_delivery(all[0].cursor, ack(all[0].cursor), now_ms())
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .ack_delivery(all[0].cursor, ack(all[0].cursor), now_ms())
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .ack_delivery(999_999, ack(999_999), now_ms())
            .await
            .unwrap()
    );
    let delivered = f.store.get_draft(&auto.id).await.unwrap().unwrap();
    assert_eq!(delivered.state, DraftState::Delivered);
    assert!(
        f.store
            .get_delivery(all[0].cursor)
            .await
            .unwrap()
            .unwrap()
            .acked_at
            .is_some()
    );
    let left = f.store.deliveries_after(0, None, 10).await.unwrap();
    assert_eq!(left.len(), 2, "an acked delivery is not sent again");
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    assert_eq!(
        t.events
            .iter()
            .filter(|e| e.kind == "delivery_acked")
            .count(),
        1,
        "the repeated ack left no second event"
    );
}

async fn a_reader_following_the_cursor_never_misses_a_concurrent_delivery(f: Fixture) {
    const WRITERS: usize = 6;
    const EACH: usize = 15;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = f.store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                for d in store.deliveries_after(cursor, None, 50).await.unwrap() {
                    cursor = d.cursor;
                    seen.push(d.draft_id);
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = f.store.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let d = store
                    .create_draft(new_draft(&format!("w{w}-{i}"), None, true))
                    .await
                    .unwrap();
                ids.push(d.draft.id);
            }
            ids
        }));
    }
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    assert_eq!(seen.len(), WRITERS * EACH, "nothing seen twice or skipped");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), written);
}

async fn article_versions_increase_across_updates_and_deletes(f: Fixture) {
    let s = &f.store;
    let ArticleWrite::Created(a1) = s
        .put_article(article("en/a", "en", "one"), "editor")
        .await
        .unwrap()
    else {
        panic!("a new article is created")
    };
    assert_eq!(a1.version, 1);
    let same = s
        .put_article(article("en/a", "en", "one"), "editor")
        .await
        .unwrap();
    assert!(
        matches!(same, ArticleWrite::Unchanged(ref a) if a.version == 1),
        "{same:?}"
    );
    let ArticleWrite::Updated(a2) = s
        .put_article(article("en/a", "en", "two"), "editor")
        .await
        .unwrap()
    else {
        panic!("new content is an update")
    };
    assert_eq!(a2.version, 2);
    assert_eq!(s.get_article("en/a").await.unwrap().unwrap().body, "two");
    assert_eq!(
        s.delete_article("en/a", now_ms(), "editor").await.unwrap(),
        Some(2)
    );
    assert_eq!(
        s.delete_article("en/a", now_ms(), "editor").await.unwrap(),
        None
    );
    assert!(s.get_article("en/a").await.unwrap().is_none());
    assert!(s.article_versions().await.unwrap().is_empty());
    let ArticleWrite::Created(a3) = s
        .put_article(article("en/a", "en", "two"), "editor")
        .await
        .unwrap()
    else {
        panic!("back after a delete is a creation")
    };
    assert_eq!(a3.version, 3, "versions keep increasing across deletes");
    assert_eq!(
        s.article_versions().await.unwrap(),
        vec![("en/a".to_string(), 3)]
    );
    assert_eq!(
        s.get_article("en/a").await.unwrap().unwrap().tags,
        vec!["t"]
    );
}

async fn articles_list_by_page_and_locale(f: Fixture) {
    for (id, locale) in [
        ("en/b", "en"),
        ("pt/a", "pt"),
        ("en/a", "en"),
        ("en/c", "en"),
    ] {
        f.store
            .put_article(article(id, locale, id), "editor")
            .await
            .unwrap();
    }
    f.store
        .delete_article("en/c", now_ms(), "editor")
        .await
        .unwrap();
    let ids = |v: Vec<Article>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(f.store.list_articles(None, "", 2).await.unwrap()),
        ["en/a", "en/b"]
    );
    assert_eq!(
        ids(f.store.list_articles(None, "en/b", 2).await.unwrap()),
        ["pt/a"]
    );
    assert_eq!(
        ids(f.store.list_articles(Some("pt"), "", 10).await.unwrap()),
        ["pt/a"]
    );
    assert_eq!(
        f.store.article_versions().await.unwrap(),
        vec![("en/a".into(), 1), ("en/b".into(), 1), ("pt/a".into(), 1)]
    );
}

async fn gauges_and_facts_describe_the_queue(f: Fixture) {
    let before = now_ms();
    let first = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap()
        .draft;
    f.store
        .create_draft(new_draft("c2", None, false))
        .await
        .unwrap();
    f.store
        .create_draft(new_draft("c3", None, true))
        .await
        .unwrap();
    f.store
        .put_article(article("en/a", "en", "x"), "editor")
        .await
        .unwrap();
    let approved = f
        .store
        .apply_draft_change(approve(&first, "ana"))
        .await
        .unwrap();
    let g = f.store.gauges(now_ms()).await.unwrap();
    assert_eq!(g.queue_depth, 1);
    assert!(g.oldest_pending.is_some_and(|t| t >= before));
    assert_eq!(g.live_articles, 1);

    let facts = f
        .store
        .draft_facts(before, now_ms() + 1, None)
        .await
        .unwrap();
    assert_eq!(facts.len(), 3);
    let c1 = facts.iter().find(|x| x.conversation_id == "c1").unwrap();
    assert_eq!(c1.state, DraftState::Approved);
    assert_eq!(c1.reviewed_by, "ana");
    assert!(c1.human_reviewed && !c1.edited && !c1.rejected);
    assert_eq!(c1.decided_at, Some(approved.updated_at));
    let c3 = facts.iter().find(|x| x.conversation_id == "c3").unwrap();
    assert_eq!(
        (c3.state, c3.level, c3.decided_at),
        (DraftState::AutoApproved, Level::High, None)
    );
    assert!(
        f.store
            .draft_facts(before, now_ms() + 1, Some("email"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn events_are_announced_after_commits(f: Fixture) {
    let mut rx = f.store.subscribe();
    let d = f
        .store
        .create_draft(new_draft("c1", None, true))
        .await
        .unwrap()
        .draft;
    let id = d.id.clone();
    assert!(
        recv_within(&mut rx, |e| *e
            == StoreEvent::QueueChanged {
                draft_id: id.clone()
            })
        .await
    );
    assert!(recv_within(&mut rx, |e| matches!(e, StoreEvent::DeliveryCreated { .. })).await);
    f.store
        .put_article(article("en/a", "en", "x"), "editor")
        .await
        .unwrap();
    assert!(
        recv_within(&mut rx, |e| *e
            == StoreEvent::ArticleChanged { id: "en/a".into() })
        .await
    );
    // A conflict commits nothing and announces nothing.
    let mut stale = claim(&d, "ana", 1000);
    stale.expected_revision += 100;
    assert!(matches!(
        f.store.apply_draft_change(stale).await,
        Err(Error::Conflict)
    ));
    assert!(
        rx.try_recv().is_err(),
        "no event for a change that did not happen"
    );
}

async fn changes_reach_another_store_on_the_same_database(f: Fixture) {
    if let Kind::Sqlite(path) = &f.kind {
        // One SQLite file, one process: a second opener is refused, naming the file.
        let refused = SqliteStore::open(path)
            .await
            .err()
            .expect("a second open is refused");
        assert!(matches!(refused, Error::Unavailable(_)), "{refused:?}");
        let message = refused.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("another replygate process"), "{message}");
        // Reading beside it (audit verify) is fine.
        let reader = SqliteStore::open_read_only(path).await.unwrap();
        let reader: DynStore = Arc::new(reader);
        assert!(reader.audit_head().await.is_ok());
        return;
    }
    let other = f.reopen().await;
    let d = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap()
        .draft;
    // Shared state: the other store reads it and the CAS is shared.
    assert_eq!(other.get_draft(&d.id).await.unwrap().unwrap().id, d.id);
    let mut rx = other.subscribe();
    f.store
        .apply_draft_change(claim(&d, "ana", 60_000))
        .await
        .unwrap();
    // Ana's claim made the conversation hers, for every store.
    let late = other.apply_draft_change(claim(&d, "bruno", 60_000)).await;
    assert!(
        matches!(&late, Err(Error::Refused(Refusal::OwnedByOther(o))) if o == "ana"),
        "{late:?}"
    );
    let id = d.id.clone();
    assert!(
        recv_within(&mut rx, |e| *e
            == StoreEvent::QueueChanged {
                draft_id: id.clone()
            })
        .await
    );
    f.store
        .create_draft(new_draft("c2", None, true))
        .await
        .unwrap();
    assert!(recv_within(&mut rx, |e| matches!(e, StoreEvent::DeliveryCreated { .. })).await);
    f.store
        .put_article(article("en/a", "en", "x"), "editor")
        .await
        .unwrap();
    assert!(
        recv_within(&mut rx, |e| *e
            == StoreEvent::ArticleChanged { id: "en/a".into() })
        .await
    );
}

async fn the_folder_sync_lock_is_exclusive_across_stores(f: Fixture) {
    if !f.shares_events_across_processes() {
        // SQLite: one process owns the file; the lock is a no-op by design.
        let _a = f.store.lock_folder_sync().await.unwrap();
        let _b = f.store.lock_folder_sync().await.unwrap();
        return;
    }
    let other = f.reopen().await;
    let held = f.store.lock_folder_sync().await.unwrap();
    let waiting = tokio::spawn(async move {
        let _lock = other.lock_folder_sync().await.unwrap();
        now_ms()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second replica waits");
    let released_at = now_ms();
    drop(held);
    let acquired_at = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the lock is released when its holder drops it")
        .unwrap();
    assert!(acquired_at >= released_at);
}

async fn the_audit_chain_links_every_write_and_names_the_first_tampered_event(f: Fixture) {
    use replygate::audit::{Verdict, verify};
    let s = &f.store;
    // One of each kind of write, then concurrent writers.
    let auto = s
        .create_draft(new_draft("c1", None, true))
        .await
        .unwrap()
        .draft; // 2 events
    let pending = s
        .create_draft(new_draft("c2", None, false))
        .await
        .unwrap()
        .draft; // 1
    let claimed = s
        .apply_draft_change(claim(&pending, "ana", 60_000))
        .await
        .unwrap(); // 2: the claim, and the conversation now hers
    s.apply_draft_change(approve(&claimed, "ana"))
        .await
        .unwrap(); // 2
    let cursor = s.deliveries_after(0, None, 1).await.unwrap()[0].cursor;
    let mut ack = AuditEvent::new(
        "delivery_acked",
        "platform",
        &auto,
        serde_json::json!({}),
        now_ms(),
    );
    ack.detail = serde_json::json!({ "cursor": cursor });
    s.ack_delivery(cursor, ack, now_ms()).await.unwrap(); // 1
    s.put_article(article("en/a", "en", "x"), "ed")
        .await
        .unwrap(); // 1
    s.delete_article("en/a", now_ms(), "ed").await.unwrap(); // 1
    let mut writers = Vec::new();
    for w in 0..6 {
        let store = s.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..8 {
                store
                    .create_draft(new_draft(&format!("w{w}-{i}"), None, i % 2 == 0))
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let expected = 10 + 6 * 8 + 6 * 4; // each auto-approved draft adds its delivery event
    let Verdict::Intact { events, head } = verify(s).await.unwrap() else {
        panic!("an untouched chain verifies")
    };
    assert_eq!(events, expected);
    assert_eq!(s.audit_head().await.unwrap(), (expected, head));
    let t = s.transcript("c1").await.unwrap().unwrap();
    assert!(
        t.events
            .iter()
            .all(|e| e.chain.position > 0 && e.chain.hash.len() == 64)
    );
    let kinds: Vec<String> = s
        .audit_chain(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "draft_created",
        "delivery_created",
        "draft_claimed",
        "draft_approved",
        "delivery_acked",
        "article_created",
        "article_deleted",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} is chained");
    }

    // Rewriting who did something breaks the chain at that event.
    f.tamper("UPDATE audit_events SET actor = 'mallory' WHERE chain_pos = 4")
        .await;
    let Verdict::Broken {
        position, reason, ..
    } = verify(s).await.unwrap()
    else {
        panic!("a changed event is found")
    };
    assert_eq!(position, 4);
    assert!(reason.contains("changed"), "{reason}");
    f.tamper("UPDATE audit_events SET actor = 'ana' WHERE chain_pos = 4")
        .await;
    assert!(
        matches!(verify(s).await.unwrap(), Verdict::Intact { .. }),
        "restored, it verifies"
    );

    // Removing the newest events is found through the head.
    f.tamper(&format!(
        "DELETE FROM audit_events WHERE chain_pos = {expected}"
    ))
    .await;
    let Verdict::Broken {
        position, reason, ..
    } = verify(s).await.unwrap()
    else {
        panic!("a removed last event is found")
    };
    assert_eq!(position, expected);
    assert!(reason.contains("removed"), "{reason}");

    // Removing one in the middle is found at the gap.
    f.tamper("DELETE FROM audit_events WHERE chain_pos = 2")
        .await;
    let Verdict::Broken {
        position, reason, ..
    } = verify(s).await.unwrap()
    else {
        panic!("a removed event is found")
    };
    assert_eq!(position, 2);
    assert!(reason.contains("missing"), "{reason}");
}

async fn events_written_before_the_chain_existed_are_chained_at_open(f: Fixture) {
    use replygate::audit::{GENESIS, Verdict, verify};
    for i in 0..3 {
        f.store
            .create_draft(new_draft(&format!("c{i}"), None, true))
            .await
            .unwrap();
    }
    // What a database written by a version without the chain looks like.
    f.tamper("UPDATE audit_events SET chain_pos = 0, prev_hash = '', hash = ''")
        .await;
    f.tamper(&format!(
        "UPDATE audit_head SET pos = 0, hash = '{GENESIS}'"
    ))
    .await;
    let f = f.close_and_reopen().await;
    let reopened = f.store.clone();
    assert_eq!(
        verify(&reopened).await.unwrap(),
        Verdict::Intact {
            events: 6,
            head: reopened.audit_head().await.unwrap().1
        }
    );
    reopened
        .create_draft(new_draft("later", None, false))
        .await
        .unwrap();
    assert!(matches!(
        verify(&reopened).await.unwrap(),
        Verdict::Intact { events: 7, .. }
    ));
}

async fn writes_that_fail_amid_concurrent_ones_leave_the_others_committed(f: Fixture) {
    let d = f
        .store
        .create_draft(new_draft("target", None, false))
        .await
        .unwrap()
        .draft;
    let claimed = f
        .store
        .apply_draft_change(claim(&d, "ana", 60_000))
        .await
        .unwrap();
    // Good writes and doomed ones (claims at a stale revision) all at once, so
    // SQLite's writer commits them in shared groups.
    let mut good = Vec::new();
    let mut doomed = Vec::new();
    for i in 0..60 {
        let store = f.store.clone();
        if i % 3 == 0 {
            // Ana's own stale claim: refused by the revision, not by ownership.
            let change = claim(&d, "ana", 60_000);
            doomed.push(tokio::spawn(async move {
                store.apply_draft_change(change).await
            }));
        } else {
            let new = new_draft(&format!("c{i}"), Some(&format!("r{i}")), i % 2 == 0);
            good.push(tokio::spawn(async move { store.create_draft(new).await }));
        }
    }
    for t in doomed {
        let r = t.await.unwrap();
        assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
    }
    let mut created = Vec::new();
    for t in good {
        created.push(t.await.unwrap().unwrap().draft);
    }
    assert_eq!(created.len(), 40);
    for c in &created {
        let stored = f.store.get_draft(&c.id).await.unwrap();
        assert_eq!(
            stored.as_ref(),
            Some(c),
            "committed and readable once answered"
        );
        let t = f
            .store
            .transcript(&c.conversation_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.messages.len(), 1);
        assert!(t.events.iter().any(|e| e.kind == "draft_created"));
    }
    assert_eq!(f.store.get_draft(&d.id).await.unwrap().unwrap(), claimed);
    let auto = created
        .iter()
        .filter(|c| c.state == DraftState::AutoApproved)
        .count();
    let deliveries = f.store.deliveries_after(0, None, 100).await.unwrap();
    assert_eq!(deliveries.len(), auto);
    assert!(deliveries.windows(2).all(|w| w[0].cursor < w[1].cursor));
    let verdict = replygate::audit::verify(&f.store).await.unwrap();
    assert!(
        matches!(verdict, replygate::audit::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

async fn a_write_whose_caller_gave_up_commits_whole_or_not_at_all(f: Fixture) {
    // Callers abandon their writes at different moments, as a timed-out call does.
    for i in 0..30u64 {
        let store = f.store.clone();
        let new = new_draft(&format!("gone-{i}"), Some(&format!("gone-{i}")), i % 2 == 0);
        let task = tokio::spawn(async move { store.create_draft(new).await });
        tokio::time::sleep(Duration::from_micros(i * 150)).await;
        task.abort();
        let _ = task.await;
    }
    // The writer goes on with writes whose callers left; one more write,
    // answered after everything queued before it, marks the end of them.
    f.store
        .create_draft(new_draft("after", None, true))
        .await
        .unwrap();
    // Whatever was kept is whole: its message, its events, its delivery.
    for i in 0..30u64 {
        let conversation = format!("gone-{i}");
        let Some(t) = f.store.transcript(&conversation).await.unwrap() else {
            assert!(
                f.store
                    .find_draft_by_request(&key(&conversation, &conversation))
                    .await
                    .unwrap()
                    .is_none()
            );
            continue;
        };
        assert_eq!(t.messages.len(), 1, "{conversation}");
        assert_eq!(t.drafts.len(), 1, "{conversation}");
        assert!(t.events.iter().any(|e| e.kind == "draft_created"));
        let auto = t.drafts[0].state == DraftState::AutoApproved;
        assert_eq!(t.deliveries.len(), usize::from(auto), "{conversation}");
    }
    let verdict = replygate::audit::verify(&f.store).await.unwrap();
    assert!(
        matches!(verdict, replygate::audit::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

/// What a database written by the previous version holds: one conversation
/// with a draft keyed by request id "msg-1", its delivery and one audit event.
const PREVIOUS_VERSION_ROWS: &str = "
    INSERT INTO conversations (id, channel, created_at, updated_at) VALUES ('c1', 'chat', 1, 1);
    INSERT INTO messages (id, conversation_id, text, locale, channel, context, received_at)
        VALUES ('m1', 'c1', 'How do I back up?', 'en', 'chat', '{}', 1);
    INSERT INTO drafts (id, conversation_id, message_id, request_id, channel, locale, body, disclosure,
        ai_generated, human_reviewed, generator, confidence_score, confidence_level, reasons, citations,
        state, final_body, reviewed_by, claimed_by, claim_expires_at, reject_reason, created_at,
        updated_at, revision)
        VALUES ('d1', 'c1', 'm1', 'msg-1', 'chat', 'en', 'Open Settings.', 'AI', TRUE, FALSE, 'extractive',
        0.9, 'HIGH', '[]', '[]', 'AUTO_APPROVED', 'Open Settings.', '', '', NULL, '', 1, 1, 0);
    INSERT INTO deliveries (draft_id, conversation_id, channel, locale, body, disclosure, text,
        ai_generated, human_reviewed, author, created_at)
        VALUES ('d1', 'c1', 'chat', 'en', 'Open Settings.', 'AI', 'Open Settings.\n\nAI', TRUE, FALSE, 'ai', 1);
    INSERT INTO audit_events (at, kind, actor, conversation_id, draft_id, detail)
        VALUES (1, 'message_received', 'platform', 'c1', 'd1', '{\"message_id\": \"m1\"}'),
               (1, 'draft_created', 'ai', 'c1', 'd1', '{}'),
               (1, 'delivery_created', 'ai', 'c1', 'd1', '{\"cursor\": 1}');
    INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'init', 1), (2, 'audit_chain', 1);
";

const MIGRATIONS_TABLE: &str = "CREATE TABLE schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);";

/// The previous version's data reads back unchanged, and the request id is now per conversation.
async fn migrated_store_keeps_the_old_data_and_scopes_request_ids(store: DynStore) {
    let old = store.get_draft("d1").await.unwrap().unwrap();
    assert_eq!((old.caller.as_str(), old.needs_person), ("", false));
    assert_eq!(old.customer_message, "How do I back up?");
    assert_eq!(
        store
            .find_draft_by_request(&key("c1", "msg-1"))
            .await
            .unwrap()
            .map(|d| d.id),
        Some("d1".to_string())
    );
    let other = store
        .create_draft(new_draft("c2", Some("msg-1"), false))
        .await
        .unwrap();
    assert!(
        other.created,
        "msg-1 in another conversation is a new message"
    );
    let deliveries = store.deliveries_after(0, None, 10).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].draft_id, "d1");
    // Its provenance, from what it recorded: the AI's, sent without review.
    assert_eq!(
        deliveries[0].provenance,
        replygate::model::Provenance::AiAuto
    );
    let verdict = replygate::audit::verify(&store).await.unwrap();
    assert!(
        matches!(verdict, replygate::audit::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_of_the_previous_version_migrates() {
    use sqlx::{ConnectOptions, Connection};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = options.connect().await.unwrap();
    for sql in [
        MIGRATIONS_TABLE,
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/sqlite/0002_audit_chain.sql"),
        PREVIOUS_VERSION_ROWS,
    ] {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    {
        let store: DynStore = Arc::new(SqliteStore::open(&path).await.unwrap());
        migrated_store_keeps_the_old_data_and_scopes_request_ids(store).await;
    }
    // The rebuilt drafts table is still what deliveries refer to.
    let mut conn = options.connect().await.unwrap();
    let dangling = sqlx::raw_sql(
        "INSERT INTO deliveries (draft_id, conversation_id, channel, locale, body, disclosure, text,
            ai_generated, human_reviewed, author, created_at)
         VALUES ('no-such-draft', 'c1', 'chat', 'en', 'x', '', 'x', TRUE, FALSE, 'ai', 1)",
    )
    .execute(&mut conn)
    .await;
    assert!(
        dangling.is_err(),
        "foreign keys still hold after the rebuild"
    );
    // The old runner's versions are sqlx's now, each with its file's checksum.
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        applied,
        vec![
            (1, true),
            (2, true),
            (3, true),
            (4, true),
            (5, true),
            (6, true),
            (7, true),
            (8, true),
            (9, true),
            (10, true),
            (11, true)
        ]
    );
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_a_newer_version_is_refused_not_guessed_at() {
    use sqlx::{ConnectOptions, Connection};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    // Made by this version, and opened again: nothing to do.
    drop(SqliteStore::open(&path).await.unwrap());
    drop(SqliteStore::open(&path).await.unwrap());
    // A later version applied a migration this one does not know.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99, 'from the future', TRUE, X'00', 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let refused = SqliteStore::open(&path)
        .await
        .err()
        .expect("a newer database is refused");
    assert!(refused.to_string().contains("migration 99"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn a_postgres_database_of_the_previous_version_migrates() {
    use sqlx::Connection;
    let url = common::postgres_schema_url().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for sql in [
        MIGRATIONS_TABLE,
        include_str!("../migrations/postgres/0001_init.sql"),
        include_str!("../migrations/postgres/0002_audit_chain.sql"),
        PREVIOUS_VERSION_ROWS,
    ] {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let store: DynStore = Arc::new(PgStore::open(&url, &small_pool()).await.unwrap());
    migrated_store_keeps_the_old_data_and_scopes_request_ids(store).await;
}

async fn vectors_are_kept_by_model_and_content_hash_and_the_first_one_stays(f: Fixture) {
    let s = &f.store;
    let a = ("a".repeat(64), vec![0.6, 0.8]);
    let b = ("b".repeat(64), vec![1.0, 0.0]);
    s.put_vectors("minilm", vec![a.clone(), b.clone()], 1)
        .await
        .unwrap();
    // Another replica stored the same text first: its vector stays.
    s.put_vectors("minilm", vec![(a.0.clone(), vec![0.0, 1.0])], 2)
        .await
        .unwrap();
    s.put_vectors("e5", vec![(a.0.clone(), vec![0.0, 1.0, 0.0])], 3)
        .await
        .unwrap();
    let wanted = [a.0.clone(), b.0.clone(), "c".repeat(64)];
    let mut got = s.vectors("minilm", &wanted).await.unwrap();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, [a.clone(), b]);
    assert_eq!(
        s.vectors("e5", &wanted).await.unwrap(),
        [(a.0.clone(), vec![0.0, 1.0, 0.0])]
    );
    assert!(s.vectors("other", &wanted).await.unwrap().is_empty());
    // More hashes than one statement binds.
    let many: Vec<String> = (0..1200).map(|i| format!("{i:064}")).collect();
    let stored: Vec<(String, Vec<f32>)> = many.iter().map(|h| (h.clone(), vec![1.0])).collect();
    s.put_vectors("minilm", stored, 4).await.unwrap();
    assert_eq!(s.vectors("minilm", &many).await.unwrap().len(), 1200);
    // They outlive the process.
    let reopened = f.close_and_reopen().await;
    assert_eq!(
        reopened.store.vectors("minilm", &many).await.unwrap().len(),
        1200
    );
}

// --- the answer memory ---

fn curated(reply: &str, agent: &str, draft: &Draft, version: u64) -> MemoryWrite {
    let now = now_ms();
    MemoryWrite::Learn {
        answer: Box::new(CuratedAnswer {
            id: new_id(),
            locale: "en".into(),
            reply: reply.into(),
            sources: vec![SourceVersion {
                article_id: "en/backup".into(),
                version,
            }],
            questions: vec![],
            approved_by: vec![agent.into()],
            rejections: 0,
            state: CuratedState::Active,
            created_by: agent.into(),
            origin_draft_id: draft.id.clone(),
            created_at: now,
            updated_at: now,
            revision: 1,
        }),
        question: CuratedQuestion {
            text: format!("question for {}", draft.id),
            draft_id: draft.id.clone(),
            agent: agent.into(),
            at: now,
        },
    }
}

/// Approves a fresh pending draft with `memory` as its lesson.
async fn decide_with(s: &DynStore, conversation: &str, agent: &str, memory: Vec<MemoryWrite>) {
    let created = s
        .create_draft(new_draft(conversation, None, false))
        .await
        .unwrap();
    let mut change = approve(&created.draft, agent);
    change.memory = memory;
    s.apply_draft_change(change).await.unwrap();
}

async fn a_decision_files_its_lesson_in_the_answer_memory_in_its_own_transaction(f: Fixture) {
    let s = &f.store;
    let d = s
        .create_draft(new_draft("m1", None, false))
        .await
        .unwrap()
        .draft;
    let mut change = approve(&d, "ana");
    change.memory = vec![curated("Open Settings > Backup.", "ana", &d, 1)];
    s.apply_draft_change(change).await.unwrap();
    let all = s.curated_answers(None, "", 10).await.unwrap();
    assert_eq!(all.len(), 1);
    let a = &all[0];
    assert_eq!(a.approved_by, ["ana"]);
    assert_eq!(a.questions.len(), 1);
    assert_eq!(a.questions[0].draft_id, d.id);
    // The same reply (whitespace aside) from another agent joins it, at the new version.
    decide_with(
        s,
        "m2",
        "bruno",
        vec![curated("Open  Settings >\nBackup.", "bruno", &d, 2)],
    )
    .await;
    let all = s.curated_answers(None, "", 10).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].approved_by, ["ana", "bruno"]);
    assert_eq!(all[0].questions.len(), 2);
    assert_eq!(all[0].sources[0].version, 2);
    assert_eq!(all[0].revision, a.revision + 1);
    // Another reply is another answer; a rejection retires the first.
    decide_with(
        s,
        "m3",
        "ana",
        vec![curated("Tap Back up now.", "ana", &d, 2)],
    )
    .await;
    decide_with(
        s,
        "m4",
        "carla",
        vec![MemoryWrite::Reject {
            answer_id: a.id.clone(),
        }],
    )
    .await;
    let first = s.curated_answer(&a.id).await.unwrap().unwrap();
    assert_eq!(first.state, CuratedState::Rejected);
    assert_eq!(first.rejections, 1);
    assert_eq!(
        s.curated_answers(Some("en"), "", 10).await.unwrap().len(),
        2
    );
    assert!(
        s.curated_answers(Some("pt"), "", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The lesson is written with its decision or not at all: a decision that
    // fails its compare-and-swap files nothing.
    let d5 = s
        .create_draft(new_draft("m5", None, false))
        .await
        .unwrap()
        .draft;
    let mut stale = approve(&d5, "ana");
    stale.expected_revision += 7;
    stale.memory = vec![curated("Never filed.", "ana", &d5, 2)];
    assert!(matches!(
        s.apply_draft_change(stale).await,
        Err(Error::Conflict)
    ));
    assert_eq!(s.curated_answers(None, "", 10).await.unwrap().len(), 2);
    // And its events are in the audit chain.
    let t = s.transcript("m1").await.unwrap().unwrap();
    assert!(t.events.iter().any(|e| e.kind == "memory_learned"));
}

async fn an_editor_s_change_of_a_curated_answer_is_guarded_by_its_revision(f: Fixture) {
    let s = &f.store;
    let d = s
        .create_draft(new_draft("e1", None, false))
        .await
        .unwrap()
        .draft;
    let mut change = approve(&d, "ana");
    change.memory = vec![curated("Open Settings > Backup.", "ana", &d, 1)];
    s.apply_draft_change(change).await.unwrap();
    let a = s.curated_answers(None, "", 10).await.unwrap().remove(0);
    let event =
        || AuditEvent::about_article("memory_disabled", "eve", serde_json::json!({}), now_ms());
    let mut disabled = a.clone();
    disabled.state = CuratedState::Disabled;
    let stale = CuratedChange {
        id: a.id.clone(),
        expected_revision: a.revision + 1,
        to: Some(disabled.clone()),
        event: event(),
    };
    assert!(matches!(
        s.change_curated_answer(stale).await,
        Err(Error::Conflict)
    ));
    let done = s
        .change_curated_answer(CuratedChange {
            id: a.id.clone(),
            expected_revision: a.revision,
            to: Some(disabled),
            event: event(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, CuratedState::Disabled);
    assert_eq!(done.questions.len(), 1);
    let deleted = s
        .change_curated_answer(CuratedChange {
            id: a.id.clone(),
            expected_revision: done.revision,
            to: None,
            event: event(),
        })
        .await
        .unwrap();
    assert_eq!(deleted, None);
    assert_eq!(s.curated_answer(&a.id).await.unwrap(), None);
    assert!(matches!(
        s.change_curated_answer(CuratedChange {
            id: a.id.clone(),
            expected_revision: done.revision,
            to: None,
            event: event(),
        })
        .await,
        Err(Error::NotFound(_))
    ));
}

// --- conversation state ---

/// A new message that asks for a person, with the handoff notice the domain would send.
fn asking_for_a_person(mut new: NewDraft) -> NewDraft {
    new.draft.needs_person = true;
    new.draft.state = DraftState::PendingReview;
    new.delivery = None;
    new.events.retain(|e| e.kind != "delivery_created");
    let mut notice = new.draft.clone();
    notice.id = new_id();
    notice.generator = "handoff_notice".into();
    notice.body = "A person from our team will answer you here.".into();
    notice.final_body = notice.body.clone();
    notice.disclosure = String::new();
    notice.ai_generated = false;
    notice.needs_person = false;
    notice.state = DraftState::AutoApproved;
    let delivery = Delivery::for_draft(&notice, "system", notice.created_at);
    let events = vec![delivery.created_event(&notice)];
    new.conversation = MessageInConversation {
        act: Act::Message {
            cause: Some(Cause::HumanRequested),
            low: false,
        },
        rules: Rules::default(),
        notice: Some(replygate::storage::Notice {
            draft: notice,
            delivery,
            events,
        }),
    };
    new
}

async fn an_escalating_message_sends_one_notice_and_holds_its_conversation_until_handed_back(
    f: Fixture,
) {
    let asked = f
        .store
        .create_draft(asking_for_a_person(new_draft("c1", None, false)))
        .await
        .unwrap();
    assert_eq!(asked.conversation.as_ref().unwrap().state, State::Escalated);
    let notice = asked.notice.expect("the handoff notice");
    let sent = f.store.deliveries_after(0, None, 10).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].draft_id, notice.id);
    assert_eq!(sent[0].text, "A person from our team will answer you here.");
    assert!(!sent[0].ai_generated);
    assert_eq!(sent[0].author, "system");
    // Asking again sends no second notice; a confident follow-up waits too.
    let again = f
        .store
        .create_draft(asking_for_a_person(new_draft("c1", None, false)))
        .await
        .unwrap();
    assert!(again.notice.is_none());
    let follow_up = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert_eq!(follow_up.draft.state, DraftState::PendingReview);
    assert_eq!(
        f.store.deliveries_after(0, None, 10).await.unwrap().len(),
        1
    );
    // Waiting for a person, any agent may hand it back; its open drafts close.
    let back = f
        .store
        .change_conversation(on_conversation("c1", Act::HandBack { agent: "bo".into() }))
        .await
        .unwrap();
    assert_eq!(back.ownership.state, State::Resolved);
    let mut closed = back.closed.clone();
    closed.sort();
    let mut open = vec![
        asked.draft.id.clone(),
        again.draft.id.clone(),
        follow_up.draft.id.clone(),
    ];
    open.sort();
    assert_eq!(closed, open);
    assert!(
        f.store
            .list_open_drafts(
                &PendingFilter {
                    limit: 10,
                    ..Default::default()
                },
                now_ms()
            )
            .await
            .unwrap()
            .is_empty()
    );
    // The AI answers the next message; asking for a person again escalates again, with a notice.
    let after = f
        .store
        .create_draft(holdable(new_draft("c1", None, true)))
        .await
        .unwrap();
    assert_eq!(after.draft.state, DraftState::AutoApproved);
    assert_eq!(after.conversation.unwrap().state, State::AiActive);
    let second = f
        .store
        .create_draft(asking_for_a_person(new_draft("c1", None, false)))
        .await
        .unwrap();
    assert!(second.notice.is_some());
    assert_eq!(
        f.store.deliveries_after(0, None, 10).await.unwrap().len(),
        3
    );
}

async fn of_agents_claiming_drafts_of_one_conversation_at_once_exactly_one_owns_it(f: Fixture) {
    let mut drafts = Vec::new();
    // Several open drafts in one conversation (each needs a person, so none supersedes another).
    for _ in 0..6 {
        drafts.push(
            f.store
                .create_draft(needing_a_person(new_draft("c1", None, false)))
                .await
                .unwrap()
                .draft,
        );
    }
    let mut tasks = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let store = f.store.clone();
        let change = claim(d, &format!("agent-{i}"), 60_000);
        tasks.push(tokio::spawn(async move {
            store.apply_draft_change(change).await
        }));
    }
    let mut owners = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(d) => owners.push(d.claimed_by),
            Err(Error::Refused(Refusal::OwnedByOther(_))) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(refused, 5);
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    assert_eq!(t.ownership.state, State::HumanOwned);
    assert_eq!(t.ownership.owner, owners[0]);
    // The owner may claim the others.
    let winner: usize = owners[0].trim_start_matches("agent-").parse().unwrap();
    let other = &drafts[(winner + 1) % drafts.len()];
    let claimed = f
        .store
        .apply_draft_change(claim(other, &owners[0], 60_000))
        .await
        .unwrap();
    assert_eq!(claimed.claimed_by, owners[0]);
}

async fn only_the_owner_hands_a_conversation_back_and_every_change_is_in_its_history(f: Fixture) {
    let d = f
        .store
        .create_draft(new_draft("c1", None, false))
        .await
        .unwrap()
        .draft;
    let unknown = f
        .store
        .change_conversation(on_conversation(
            "nobody",
            Act::TakeOver {
                agent: "ana".into(),
            },
        ))
        .await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
    let taken = f
        .store
        .change_conversation(on_conversation(
            "c1",
            Act::TakeOver {
                agent: "ana".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        (taken.ownership.state, taken.changed),
        (State::HumanOwned, true)
    );
    assert!(
        taken.closed.is_empty(),
        "taking over keeps the open draft for the owner"
    );
    let again = f
        .store
        .change_conversation(on_conversation(
            "c1",
            Act::TakeOver {
                agent: "ana".into(),
            },
        ))
        .await
        .unwrap();
    assert!(!again.changed);
    for act in [
        Act::TakeOver { agent: "bo".into() },
        Act::HandBack { agent: "bo".into() },
        Act::Resolve { agent: "bo".into() },
    ] {
        let refused = f
            .store
            .change_conversation(on_conversation("c1", act))
            .await;
        assert!(
            matches!(&refused, Err(Error::Refused(Refusal::OwnedByOther(o))) if o == "ana"),
            "{refused:?}"
        );
    }
    let refused = f.store.apply_draft_change(claim(&d, "bo", 60_000)).await;
    assert!(matches!(refused, Err(Error::Refused(_))), "{refused:?}");
    let resolved = f
        .store
        .change_conversation(on_conversation(
            "c1",
            Act::Resolve {
                agent: "ana".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(resolved.ownership.state, State::Resolved);
    assert_eq!(resolved.closed, vec![d.id.clone()]);
    let t = f.store.transcript("c1").await.unwrap().unwrap();
    let history = replygate::model::history(&t.events);
    let path: Vec<(State, &str, &str)> = history
        .iter()
        .map(|h| (h.to, h.cause.as_str(), h.actor.as_str()))
        .collect();
    assert_eq!(
        path,
        [
            (State::HumanOwned, "taken_over", "ana"),
            (State::Resolved, "resolved", "ana"),
        ]
    );
    // The history is in the audit chain.
    let verdict = replygate::audit::verify(&f.store).await.unwrap();
    assert!(
        matches!(verdict, replygate::audit::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

async fn retention_erases_idle_conversations_once_and_the_chain_still_verifies(f: Fixture) {
    use replygate::audit::{Verdict, verify};
    for c in ["old-1", "old-2"] {
        f.store
            .create_draft(new_draft(c, None, true))
            .await
            .unwrap();
    }
    let cutoff = now_ms() + 1;
    tokio::time::sleep(Duration::from_millis(5)).await;
    f.store
        .create_draft(new_draft("recent", None, true))
        .await
        .unwrap();
    let privacy = replygate::privacy::Privacy::new(
        f.store.clone(),
        Arc::new(replygate::config::Config::default()),
    );
    assert_eq!(privacy.apply_retention(cutoff).await.unwrap(), 2);
    assert_eq!(
        privacy.apply_retention(cutoff).await.unwrap(),
        0,
        "erased once"
    );
    for c in ["old-1", "old-2"] {
        let t = f.store.transcript(c).await.unwrap().unwrap();
        assert!(t.messages.iter().all(|m| m.text.is_empty()));
        assert!(
            t.drafts
                .iter()
                .all(|d| d.body.is_empty() && d.final_body.is_empty())
        );
        assert!(
            t.deliveries
                .iter()
                .all(|d| d.text.is_empty() && d.acked_at.is_some())
        );
        let erased = t
            .events
            .iter()
            .find(|e| e.kind == "customer_data_erased")
            .unwrap();
        assert_eq!(
            (erased.actor.as_str(), erased.detail["reason"].as_str()),
            ("retention", Some("retention"))
        );
    }
    let recent = f.store.transcript("recent").await.unwrap().unwrap();
    assert_eq!(recent.messages[0].text, "How do I back up my chats?");
    // Withdrawn deliveries are not sent; the recent one still is.
    let unsent = f.store.deliveries_after(0, None, 10).await.unwrap();
    assert_eq!(unsent.len(), 1);
    assert_eq!(unsent[0].conversation_id, "recent");
    let verdict = verify(&f.store).await.unwrap();
    assert!(matches!(verdict, Verdict::Intact { .. }), "{verdict:?}");
    // A text changed after the erasure is still caught.
    f.tamper("UPDATE messages SET text = 'sneaky' WHERE conversation_id = 'old-1'")
        .await;
    let verdict = verify(&f.store).await.unwrap();
    assert!(matches!(verdict, Verdict::Altered { .. }), "{verdict:?}");
}
