//! Who may call and how much, over real gRPC: bearer tokens and roles, the
//! reviewing agent taken from the token, TLS with and without client
//! certificates, and the load limits (per-token rate, open streams, global
//! concurrency, time limit).

#[path = "security/browser.rs"]
mod browser;
mod common;
#[path = "security/console.rs"]
mod console;

use common::fake_llm::{FakeLlm, FakeResponse};
use common::{TestServer, test_config};
use replygate::api::pb;
use replygate::api::pb::drafts_client::DraftsClient;
use replygate::api::pb::insights_client::InsightsClient;
use replygate::api::pb::knowledge_client::KnowledgeClient;
use replygate::api::pb::review_client::ReviewClient;
use replygate::auth::{Role, TokenConfig, hash};
use replygate::config::{AuthMode, Config};
use replygate::testkit::Server;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const SUBJECTS: [(&str, Role); 6] = [
    ("desk", Role::Platform),
    ("ana", Role::Agent),
    ("bob", Role::Agent),
    ("eve", Role::Editor),
    ("max", Role::Viewer),
    ("root", Role::Admin),
];

fn token_of(subject: &str) -> String {
    format!("rg_test_{subject}")
}

/// Auth on, with one token per role (`rg_test_<subject>`).
fn with_tokens(c: &mut Config) {
    c.auth = AuthMode::Tokens;
    c.tokens = SUBJECTS
        .iter()
        .map(|(subject, role)| TokenConfig {
            subject: subject.to_string(),
            roles: vec![*role],
            sha256: hash(&token_of(subject)),
        })
        .collect();
}

fn bearer<T>(message: T, subject: &str) -> Request<T> {
    let mut r = Request::new(message);
    if !subject.is_empty() {
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", token_of(subject)).parse().unwrap(),
        );
    }
    r
}

/// Calls every RPC of the contract once as `subject` ("" sends no token) and
/// returns each one's status code (`Code::Ok` when it succeeded).
async fn call_every_rpc(channel: &Channel, subject: &str) -> Vec<(&'static str, Code)> {
    let mut drafts = DraftsClient::new(channel.clone());
    let mut review = ReviewClient::new(channel.clone());
    let mut knowledge = KnowledgeClient::new(channel.clone());
    let mut insights = InsightsClient::new(channel.clone());
    let code = |r: Result<(), Status>| r.err().map(|s| s.code()).unwrap_or(Code::Ok);
    let ask = pb::CreateDraftRequest {
        conversation_id: format!("matrix-{subject}"),
        message: "How do I block a contact on Lumo?".into(),
        ..Default::default()
    };
    let s = subject;
    vec![
        (
            "CreateDraft",
            code(
                drafts
                    .create_draft(bearer(ask.clone(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "StreamDraft",
            code(drafts.stream_draft(bearer(ask, s)).await.map(|_| ())),
        ),
        (
            "GetDraft",
            code(
                drafts
                    .get_draft(bearer(
                        pb::GetDraftRequest {
                            draft_id: "nope".into(),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "StreamDeliveries",
            code(
                drafts
                    .stream_deliveries(bearer(pb::StreamDeliveriesRequest::default(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "AckDelivery",
            code(
                drafts
                    .ack_delivery(bearer(pb::AckDeliveryRequest { cursor: 999_999 }, s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "GetConversation",
            code(
                drafts
                    .get_conversation(bearer(
                        pb::GetConversationRequest {
                            conversation_id: "nope".into(),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "CreateTranscriptLink",
            code(
                drafts
                    .create_transcript_link(bearer(
                        pb::CreateTranscriptLinkRequest {
                            conversation_id: "nope".into(),
                            ttl_seconds: 0,
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "RevokeTranscriptLink",
            code(
                drafts
                    .revoke_transcript_link(bearer(
                        pb::RevokeTranscriptLinkRequest {
                            link_id: "nope".into(),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "ListPending",
            code(
                review
                    .list_pending(bearer(pb::ListPendingRequest::default(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Claim",
            code(
                review
                    .claim(bearer(
                        pb::ClaimRequest {
                            draft_id: "nope".into(),
                            lease_seconds: 0,
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Approve",
            code(
                review
                    .approve(bearer(
                        pb::ApproveRequest {
                            draft_id: "nope".into(),
                            edited_body: None,
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Reject",
            code(
                review
                    .reject(bearer(
                        pb::RejectRequest {
                            draft_id: "nope".into(),
                            reason: "no".into(),
                            replacement_body: None,
                            ..Default::default()
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Release",
            code(
                review
                    .release(bearer(
                        pb::ReleaseRequest {
                            draft_id: "nope".into(),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "WatchQueue",
            code(
                review
                    .watch_queue(bearer(pb::WatchQueueRequest::default(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "UpsertArticle",
            code(
                knowledge
                    .upsert_article(bearer(
                        pb::UpsertArticleRequest {
                            article: Some(pb::Article {
                                id: format!("en/matrix-{s}"),
                                locale: "en".into(),
                                title: "Matrix".into(),
                                body: "A test article.".into(),
                                ..Default::default()
                            }),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "DeleteArticle",
            code(
                knowledge
                    .delete_article(bearer(
                        pb::DeleteArticleRequest {
                            id: "en/nope".into(),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "GetArticle",
            code(
                knowledge
                    .get_article(bearer(
                        pb::GetArticleRequest {
                            id: "en/block-contact".into(),
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "ListArticles",
            code(
                knowledge
                    .list_articles(bearer(pb::ListArticlesRequest::default(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Search",
            code(
                knowledge
                    .search(bearer(
                        pb::SearchRequest {
                            query: "block".into(),
                            ..Default::default()
                        },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "ListCuratedAnswers",
            code(
                knowledge
                    .list_curated_answers(bearer(pb::ListCuratedAnswersRequest::default(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "GetCuratedAnswer",
            code(
                knowledge
                    .get_curated_answer(bearer(
                        pb::GetCuratedAnswerRequest { id: "nope".into() },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "DisableCuratedAnswer",
            code(
                knowledge
                    .disable_curated_answer(bearer(
                        pb::CuratedAnswerRequest { id: "nope".into() },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "EnableCuratedAnswer",
            code(
                knowledge
                    .enable_curated_answer(bearer(
                        pb::CuratedAnswerRequest { id: "nope".into() },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "DeleteCuratedAnswer",
            code(
                knowledge
                    .delete_curated_answer(bearer(
                        pb::CuratedAnswerRequest { id: "nope".into() },
                        s,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Stats",
            code(
                insights
                    .stats(bearer(pb::StatsRequest::default(), s))
                    .await
                    .map(|_| ()),
            ),
        ),
    ]
}

#[tokio::test]
async fn every_rpc_refuses_a_call_without_a_valid_token() {
    let server = TestServer::start_with(with_tokens).await;
    let results = call_every_rpc(&server.channel(), "").await;
    assert_eq!(results.len(), 25);
    for (rpc, code) in results {
        assert_eq!(code, Code::Unauthenticated, "{rpc} without a token");
    }
    // A wrong token and a malformed header fare no better.
    let mut drafts = server.drafts();
    let mut r = Request::new(pb::GetDraftRequest {
        draft_id: "x".into(),
    });
    r.metadata_mut()
        .insert("authorization", "Bearer rg_guessed".parse().unwrap());
    common::assert_status(
        drafts.get_draft(r).await,
        Code::Unauthenticated,
        "not valid",
    );
    let mut r = Request::new(pb::GetDraftRequest {
        draft_id: "x".into(),
    });
    r.metadata_mut()
        .insert("authorization", token_of("desk").parse().unwrap());
    common::assert_status(drafts.get_draft(r).await, Code::Unauthenticated, "Bearer");
    server.stop().await;
}

#[tokio::test]
async fn each_role_reaches_exactly_its_own_rpcs() {
    let server = TestServer::start_with(with_tokens).await;
    let allowed: &[(&str, &[&str])] = &[
        (
            "desk",
            &[
                "CreateDraft",
                "StreamDraft",
                "GetDraft",
                "StreamDeliveries",
                "AckDelivery",
                "GetConversation",
                "CreateTranscriptLink",
                "RevokeTranscriptLink",
            ],
        ),
        (
            "ana",
            &[
                "GetDraft",
                "GetConversation",
                "ListPending",
                "Claim",
                "Approve",
                "Reject",
                "Release",
                "WatchQueue",
                "GetArticle",
                "ListArticles",
                "Search",
                "ListCuratedAnswers",
                "GetCuratedAnswer",
            ],
        ),
        (
            "eve",
            &[
                "UpsertArticle",
                "DeleteArticle",
                "GetArticle",
                "ListArticles",
                "Search",
                "ListCuratedAnswers",
                "GetCuratedAnswer",
                "DisableCuratedAnswer",
                "EnableCuratedAnswer",
                "DeleteCuratedAnswer",
            ],
        ),
        (
            "max",
            &[
                "GetDraft",
                "GetConversation",
                "ListPending",
                "WatchQueue",
                "GetArticle",
                "ListArticles",
                "Search",
                "ListCuratedAnswers",
                "GetCuratedAnswer",
                "Stats",
            ],
        ),
    ];
    for (subject, rpcs) in allowed {
        for (rpc, code) in call_every_rpc(&server.channel(), subject).await {
            if rpcs.contains(&rpc) {
                // Allowed: the call reached its handler (some of these ask for unknown ids).
                assert!(
                    !matches!(code, Code::PermissionDenied | Code::Unauthenticated),
                    "{subject} should reach {rpc}, got {code:?}"
                );
            } else {
                assert_eq!(
                    code,
                    Code::PermissionDenied,
                    "{subject} must not reach {rpc}"
                );
            }
        }
    }
    for (rpc, code) in call_every_rpc(&server.channel(), "root").await {
        assert!(
            !matches!(code, Code::PermissionDenied | Code::Unauthenticated),
            "admin should reach {rpc}, got {code:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_reviewing_agent_is_the_tokens_subject_whatever_the_metadata_claims() {
    let server = TestServer::start_with(with_tokens).await;
    let draft = server
        .drafts()
        .create_draft(bearer(
            pb::CreateDraftRequest {
                conversation_id: "c-weather".into(),
                message: "What's the weather in Rome tomorrow?".into(),
                ..Default::default()
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(common::state(&draft), pb::DraftState::PendingReview);
    let mut claim = bearer(
        pb::ClaimRequest {
            draft_id: draft.id.clone(),
            lease_seconds: 0,
        },
        "ana",
    );
    claim
        .metadata_mut()
        .insert("x-agent-id", "mallory".parse().unwrap());
    let claimed = server.review().claim(claim).await.unwrap().into_inner();
    assert_eq!(claimed.claimed_by, "ana");
    let approved = server
        .review()
        .approve(bearer(
            pb::ApproveRequest {
                draft_id: draft.id.clone(),
                edited_body: Some("We do not give forecasts, sorry.".into()),
            },
            "ana",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.reviewed_by, "ana");
    let transcript = server
        .drafts()
        .get_conversation(bearer(
            pb::GetConversationRequest {
                conversation_id: "c-weather".into(),
            },
            "max",
        ))
        .await
        .unwrap()
        .into_inner();
    let actors: Vec<&str> = transcript
        .events
        .iter()
        .filter(|e| e.kind.starts_with("draft_") && e.kind != "draft_created")
        .map(|e| e.actor.as_str())
        .collect();
    assert!(!actors.is_empty());
    assert!(actors.iter().all(|a| *a == "ana"), "{actors:?}");
    // The x-agent-id header alone, without a token, is nobody.
    let mut impostor = Request::new(pb::ReleaseRequest {
        draft_id: draft.id.clone(),
    });
    impostor
        .metadata_mut()
        .insert("x-agent-id", "ana".parse().unwrap());
    common::assert_status(
        server.review().release(impostor).await,
        Code::Unauthenticated,
        "authorization",
    );
    server.stop().await;
}

/// Tokens as `with_tokens`, plus a second platform, "shop".
fn with_two_platforms(c: &mut Config) {
    with_tokens(c);
    c.tokens.push(TokenConfig {
        subject: "shop".into(),
        roles: vec![Role::Platform],
        sha256: hash(&token_of("shop")),
    });
}

fn message(conversation: &str, text: &str, request_id: &str) -> pb::CreateDraftRequest {
    pb::CreateDraftRequest {
        conversation_id: conversation.into(),
        message: text.into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn platforms_keep_their_request_ids_conversations_and_deliveries_to_themselves() {
    let server = TestServer::start_with(with_two_platforms).await;
    let mut drafts = server.drafts();
    let desks = drafts
        .create_draft(bearer(
            message("42", "How do I block a contact on Lumo?", "msg-1"),
            "desk",
        ))
        .await
        .unwrap()
        .into_inner();
    // The same request id from the other platform, in its own conversation, is its own message.
    let shops = drafts
        .create_draft(bearer(
            message("s-42", "How do I block a contact on Lumo?", "msg-1"),
            "shop",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(shops.id, desks.id);
    // The other platform cannot write into desk's conversation...
    common::assert_status(
        drafts
            .create_draft(bearer(message("42", "hello", "msg-2"), "shop"))
            .await,
        Code::PermissionDenied,
        "conversation_id",
    );
    // ...nor read it, its drafts or its deliveries.
    common::assert_status(
        drafts
            .get_conversation(bearer(
                pb::GetConversationRequest {
                    conversation_id: "42".into(),
                },
                "shop",
            ))
            .await,
        Code::NotFound,
        "conversation",
    );
    common::assert_status(
        drafts
            .get_draft(bearer(
                pb::GetDraftRequest {
                    draft_id: desks.id.clone(),
                },
                "shop",
            ))
            .await,
        Code::NotFound,
        "draft",
    );
    let mut shop_stream = drafts
        .stream_deliveries(bearer(pb::StreamDeliveriesRequest::default(), "shop"))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), shop_stream.message())
        .await
        .expect("shop gets its delivery")
        .unwrap()
        .unwrap();
    assert_eq!(first.draft_id, shops.id, "shop sees its own delivery only");
    assert!(
        tokio::time::timeout(Duration::from_millis(400), shop_stream.message())
            .await
            .is_err(),
        "and nothing of desk's"
    );
    let mut desk_stream = drafts
        .stream_deliveries(bearer(pb::StreamDeliveriesRequest::default(), "desk"))
        .await
        .unwrap()
        .into_inner();
    let desks_delivery = tokio::time::timeout(Duration::from_secs(10), desk_stream.message())
        .await
        .expect("desk gets its delivery")
        .unwrap()
        .unwrap();
    assert_eq!(desks_delivery.draft_id, desks.id);
    common::assert_status(
        drafts
            .ack_delivery(bearer(
                pb::AckDeliveryRequest {
                    cursor: desks_delivery.cursor,
                },
                "shop",
            ))
            .await,
        Code::NotFound,
        "delivery",
    );
    // Staff see every platform's conversations.
    let transcript = drafts
        .get_conversation(bearer(
            pb::GetConversationRequest {
                conversation_id: "42".into(),
            },
            "ana",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(transcript.drafts.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_answer_without_a_token() {
    let server = TestServer::start_with(with_tokens).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "replygate.v1.Review".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, server_reflection_request};
    let mut reflection = ServerReflectionClient::new(server.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    assert!(format!("{answer:?}").contains("replygate.v1.Drafts"));
    server.stop().await;
}

#[tokio::test]
async fn with_no_tokens_configured_a_client_on_this_machine_is_served_without_one() {
    // The defaults: auth = "tokens" and no tokens, as on a fresh `cargo run`.
    let server = TestServer::start_with(|c| {
        assert_eq!(c.auth, AuthMode::Tokens);
        assert!(c.tokens.is_empty());
    })
    .await;
    let draft = server
        .ask("local-1", "What's the weather in Rome tomorrow?")
        .await;
    // Agents name themselves with x-agent-id, as there are no tokens to name them.
    let claimed = server.claim(&draft.id, "ana").await.unwrap();
    assert_eq!(claimed.claimed_by, "ana");
    server.stop().await;
}

#[tokio::test]
async fn a_token_over_its_rate_is_refused_with_a_retry_hint_and_others_carry_on() {
    let server = TestServer::start_with(|c| {
        with_tokens(c);
        c.limits.requests_per_second_per_token = 1.0;
        c.limits.burst_per_token = 3;
    })
    .await;
    let mut knowledge = server.knowledge();
    let list = |s| bearer(pb::ListArticlesRequest::default(), s);
    for _ in 0..3 {
        knowledge.list_articles(list("eve")).await.unwrap();
    }
    let refused = knowledge.list_articles(list("eve")).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("limits.requests_per_second_per_token"),
        "{refused:?}"
    );
    assert!(refused.message().contains("retry in"), "{refused:?}");
    let pushback: u64 = refused
        .metadata()
        .get("grpc-retry-pushback-ms")
        .expect("a retry hint")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1000).contains(&pushback), "{pushback}");
    // Another token has its own bucket.
    knowledge.list_articles(list("ana")).await.unwrap();
    // And the refusals are counted.
    let metrics = common::http_get(server.http_addr, "/metrics").await;
    assert!(
        metrics.contains("replygate_refused_requests_total{reason=\"rate_limited\"} 1"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn streams_beyond_the_per_token_limit_are_refused_until_one_closes() {
    let server = TestServer::start_with(|c| {
        with_tokens(c);
        c.limits.max_streams_per_token = 2;
    })
    .await;
    let open = || {
        let mut drafts = server.drafts();
        async move {
            drafts
                .stream_deliveries(bearer(pb::StreamDeliveriesRequest::default(), "desk"))
                .await
        }
    };
    let first = open().await.unwrap();
    let _second = open().await.unwrap();
    common::assert_status(
        open().await,
        Code::ResourceExhausted,
        "limits.max_streams_per_token",
    );
    // The agent's own streams are counted apart.
    server
        .review()
        .watch_queue(bearer(pb::WatchQueueRequest::default(), "ana"))
        .await
        .unwrap();
    drop(first);
    let third = common::eventually(10, || async { open().await.ok() }).await;
    drop(third);
    server.stop().await;
}

/// A fake LLM that takes `delay` for every answer.
async fn slow_llm(delay: Duration) -> FakeLlm {
    FakeLlm::start(move |_, _| {
        FakeResponse::answer("Slow answer [1]", &[1], true, 0.9).delayed(delay)
    })
    .await
}

fn drafting_with(fake: &FakeLlm, c: &mut Config) {
    c.llm.base_url = fake.base_url();
    c.llm.model = "slow-model".into();
    c.llm.timeout_ms = 10_000;
    c.llm.deadline_ms = 10_000;
    c.llm.max_retries = 0;
    c.limits.request_timeout_ms = 20_000;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_concurrency_limit_are_shed_at_once_with_unavailable() {
    let fake = slow_llm(Duration::from_millis(1500)).await;
    let server = TestServer::start_with(|c| {
        drafting_with(&fake, c);
        c.limits.max_concurrent_requests = 2;
    })
    .await;
    let busy: Vec<_> = (0..2)
        .map(|i| {
            let mut drafts = server.drafts();
            tokio::spawn(async move {
                drafts
                    .create_draft(pb::CreateDraftRequest {
                        conversation_id: format!("busy-{i}"),
                        message: "How do I block a contact on Lumo?".into(),
                        ..Default::default()
                    })
                    .await
            })
        })
        .collect();
    // Wait until both are with the model, then one more call is shed, at once.
    common::eventually(10, || async { (fake.calls() == 2).then_some(()) }).await;
    let started = Instant::now();
    let shed = server
        .drafts()
        .create_draft(pb::CreateDraftRequest {
            conversation_id: "one-too-many".into(),
            message: "How do I block a contact on Lumo?".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "shed, not queued"
    );
    assert_eq!(shed.code(), Code::Unavailable, "{shed:?}");
    assert!(
        shed.message().contains("limits.max_concurrent_requests"),
        "{shed:?}"
    );
    assert!(shed.metadata().get("grpc-retry-pushback-ms").is_some());
    for call in busy {
        call.await.unwrap().unwrap();
    }
    // Once they are done, calls are served again; the shed one left nothing behind.
    let conversation = server
        .drafts()
        .get_conversation(pb::GetConversationRequest {
            conversation_id: "one-too-many".into(),
        })
        .await;
    assert_eq!(conversation.unwrap_err().code(), Code::NotFound);
    server
        .ask("after", "How do I block a contact on Lumo?")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_time_limit_gets_deadline_exceeded_and_leaves_nothing_half_written() {
    use sqlx::Connection;
    let server = TestServer::start_with(|c| c.limits.request_timeout_ms = 500).await;
    // Another process holds SQLite's write lock, so the draft cannot commit in time.
    let url = format!(
        "sqlite://{}",
        server.data_dir.join("replygate.db").display()
    );
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let ask = pb::CreateDraftRequest {
        conversation_id: "late".into(),
        message: "How do I block a contact on Lumo?".into(),
        request_id: "late-1".into(),
        ..Default::default()
    };
    let started = Instant::now();
    let late = server.drafts().create_draft(ask.clone()).await.unwrap_err();
    assert_eq!(late.code(), Code::DeadlineExceeded, "{late:?}");
    assert!(
        late.message()
            .contains("500 ms (limits.request_timeout_ms)"),
        "{late:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    blocker.close().await.unwrap();
    // The platform retries with the same request id and gets exactly one draft.
    let draft = common::eventually(20, || {
        let mut drafts = server.drafts();
        let ask = ask.clone();
        async move { drafts.create_draft(ask).await.ok() }
    })
    .await
    .into_inner();
    let conversation = server.conversation("late").await;
    assert_eq!(conversation.messages.len(), 1);
    assert_eq!(conversation.drafts.len(), 1);
    assert_eq!(conversation.drafts[0].id, draft.id);
    server.stop().await;
}

// --- TLS ---

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

/// A CA and, signed by it, a server certificate for 127.0.0.1 and a client certificate.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "replygate test ca");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, sans) in [
        ("server", vec!["127.0.0.1".to_string(), "localhost".into()]),
        ("client", vec!["desk.example".into()]),
    ] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(sans)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        dir,
    }
}

impl Pki {
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn client(
        &self,
        addr: std::net::SocketAddr,
        with_certificate: bool,
    ) -> tonic::transport::Endpoint {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("127.0.0.1");
        if with_certificate {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(self.path("client.pem")).unwrap(),
                std::fs::read(self.path("client.key")).unwrap(),
            ));
        }
        Channel::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
    }
}

/// Starts the real server with `config`, ready once it answers over TLS.
async fn start_tls(config: Config, pki: &Pki) -> Server {
    Server::start_with_endpoint(config, |addr| pki.client(addr, true))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn tls_config(pki: &Pki, client_ca: bool) -> (Config, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = test_config(tmp.path().join("data"));
    with_tokens(&mut config);
    config.tls.cert = pki.path("server.pem");
    config.tls.key = pki.path("server.key");
    if client_ca {
        config.tls.client_ca = pki.path("ca.pem");
    }
    (config, tmp)
}

#[tokio::test]
async fn with_tls_the_server_speaks_only_tls() {
    let pki = pki();
    let (config, _tmp) = tls_config(&pki, false);
    let server = start_tls(config, &pki).await;
    let addr = server.grpc_addr;
    let channel = pki.client(addr, false).connect().await.unwrap();
    let draft = DraftsClient::new(channel)
        .create_draft(bearer(
            pb::CreateDraftRequest {
                conversation_id: "tls-1".into(),
                message: "How do I block a contact on Lumo?".into(),
                ..Default::default()
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(draft.ai_generated);
    // A plaintext client gets nowhere.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let refused = DraftsClient::new(plain)
        .get_draft(bearer(pb::GetDraftRequest { draft_id: draft.id }, "desk"))
        .await;
    assert!(refused.is_err(), "plaintext was answered: {refused:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_signed_certificate_get_in() {
    let pki = pki();
    let (config, _tmp) = tls_config(&pki, true);
    let server = start_tls(config, &pki).await;
    let addr = server.grpc_addr;
    let with = pki.client(addr, true).connect().await.unwrap();
    KnowledgeClient::new(with)
        .list_articles(bearer(pb::ListArticlesRequest::default(), "eve"))
        .await
        .unwrap();
    // Without a certificate the handshake fails (or the first call does, with TLS 1.3).
    let without = match pki.client(addr, false).connect().await {
        Err(_) => None,
        Ok(channel) => Some(
            KnowledgeClient::new(channel)
                .list_articles(bearer(pb::ListArticlesRequest::default(), "eve"))
                .await,
        ),
    };
    if let Some(result) = without {
        assert!(result.is_err(), "a client without a certificate was served");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_tls_key_that_cannot_be_read_stops_the_start_with_its_path() {
    let pki = pki();
    let (mut config, _tmp) = tls_config(&pki, false);
    config.tls.key = pki.path("missing.key");
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = replygate::run(config, replygate::Listeners { grpc, http }, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tls.key") && err.contains("missing.key"),
        "{err}"
    );
}
