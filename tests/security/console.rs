//! The agents' console over real HTTP, with tokens: sign-in and its cookie,
//! CSRF and origin checks, the gRPC role rules on every action, the
//! transcript links, and the Grafana dashboard's series. The same flow in a
//! real browser is `browser::an_agent_reviews_in_a_real_browser`.

use super::{bearer, token_of, with_tokens};
use crate::common::{TestServer, eventually};
use replygate::api::pb;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;

/// A browser without a browser: one person's cookie and CSRF token.
pub struct Visitor {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

pub struct Page {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn csrf(&self) -> String {
        let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#).unwrap();
        re.captures(&self.body)
            .unwrap_or_else(|| panic!("no CSRF token on the page: {}", self.body))[1]
            .to_string()
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Visitor {
    pub fn new(server: &TestServer) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", server.http_addr),
            cookie: String::new(),
        }
    }

    async fn page(r: reqwest::Response) -> Page {
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        Self::page(r).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::page(r.send().await.unwrap()).await
    }

    /// Signs in with `secret` (a token, or a name in protected mode).
    pub async fn sign_in(&mut self, secret: &str) -> Page {
        let page = self.post("/console/login", &[("secret", secret)]).await;
        if let Some(set) = page.headers.get("set-cookie") {
            self.cookie = set.to_str().unwrap().split(';').next().unwrap().to_string();
        }
        page
    }

    /// The CSRF token of the signed-in session (from the queue page's sign-out form).
    pub async fn csrf(&self) -> String {
        self.get("/console").await.csrf()
    }
}

/// The platform "desk" sends a customer's message.
async fn ask(server: &TestServer, conversation: &str, message: &str) -> pb::Draft {
    server
        .drafts()
        .create_draft(bearer(
            pb::CreateDraftRequest {
                conversation_id: conversation.into(),
                message: message.into(),
                ..Default::default()
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn draft_needing_review(server: &TestServer, conversation: &str, message: &str) -> pb::Draft {
    let draft = ask(server, conversation, message).await;
    assert_eq!(draft.state(), pb::DraftState::PendingReview, "{draft:?}");
    draft
}

async fn draft(server: &TestServer, id: &str) -> pb::Draft {
    server
        .drafts()
        .get_draft(bearer(
            pb::GetDraftRequest {
                draft_id: id.into(),
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner()
}

/// The delivery of draft `id`, as the platform's stream receives it.
pub async fn delivery_of(server: &TestServer, id: &str) -> pb::Delivery {
    let mut stream = server
        .drafts()
        .stream_deliveries(bearer(pb::StreamDeliveriesRequest::default(), "desk"))
        .await
        .unwrap()
        .into_inner();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let d = stream.next().await.unwrap().unwrap();
            if d.draft_id == id {
                return d;
            }
        }
    })
    .await
    .expect("the approved reply reaches the platform")
}

/// A transcript link to `conversation` for `ttl_seconds`, as the platform "desk" asks for it.
pub async fn transcript_link(
    server: &TestServer,
    conversation: &str,
    ttl_seconds: u64,
) -> pb::TranscriptLink {
    server
        .drafts()
        .create_transcript_link(bearer(
            pb::CreateTranscriptLinkRequest {
                conversation_id: conversation.into(),
                ttl_seconds,
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn revoke(server: &TestServer, link_id: &str) -> bool {
    server
        .drafts()
        .revoke_transcript_link(bearer(
            pb::RevokeTranscriptLinkRequest {
                link_id: link_id.into(),
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner()
        .revoked
}

/// A message the sample help center does not answer confidently (it goes to review).
const UNSURE: &str = "My order was charged twice and I want my money back";

#[tokio::test]
async fn an_agent_signs_in_with_their_token_and_gets_a_strict_http_only_cookie() {
    let server = TestServer::start_with(with_tokens).await;
    let mut ana = Visitor::new(&server);
    let before = ana.get("/console").await;
    assert_eq!(before.status, 303, "not signed in: to the sign-in page");
    assert_eq!(before.headers["location"], "/console/login");
    let wrong = ana.sign_in("rg_guessed").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("the token is not valid"),
        "{}",
        wrong.body
    );
    let elsewhere = ana
        .post_with(
            "/console/login",
            &[("secret", &token_of("ana"))],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(elsewhere.status, 403, "another site cannot sign anyone in");
    assert!(elsewhere.headers.get("set-cookie").is_none());
    let signed = ana.sign_in(&token_of("ana")).await;
    assert_eq!(signed.status, 303);
    let cookie = signed.headers["set-cookie"].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(
        !cookie.contains(&token_of("ana")),
        "the cookie never holds the token"
    );
    let queue = ana.get("/console").await;
    assert_eq!(queue.status, 200);
    assert!(
        queue.body.contains("Signed in as <strong>ana</strong>"),
        "{}",
        queue.body
    );
    let csp = queue.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    // Behind a proxy that terminates HTTPS the cookie is Secure.
    let proxied = ana
        .post_with(
            "/console/login",
            &[("secret", &token_of("ana"))],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert!(
        proxied.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_or_from_another_origin_changes_nothing() {
    let server = TestServer::start_with(with_tokens).await;
    let d = draft_needing_review(&server, "console-csrf", UNSURE).await;
    let mut ana = Visitor::new(&server);
    ana.sign_in(&token_of("ana")).await;
    let claim = format!("/console/drafts/{}/claim", d.id);
    let missing = ana.post(&claim, &[]).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    let csrf = ana.csrf().await;
    let forged = ana
        .post(&claim, &[("csrf", "0123456789abcdef0123456789abcdef")])
        .await;
    assert_eq!(forged.status, 403);
    let elsewhere = ana
        .post_with(
            &claim,
            &[("csrf", &csrf)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(elsewhere.status, 403);
    assert_eq!(
        draft(&server, &d.id).await.state(),
        pb::DraftState::PendingReview
    );
    // Another person's session token does not fit this session either.
    let mut bob = Visitor::new(&server);
    bob.sign_in(&token_of("bob")).await;
    let bobs = bob.csrf().await;
    assert_eq!(ana.post(&claim, &[("csrf", &bobs)]).await.status, 403);
    let claimed = ana.post(&claim, &[("csrf", &csrf)]).await;
    assert_eq!(claimed.status, 303, "{}", claimed.body);
    let now = draft(&server, &d.id).await;
    assert_eq!(
        (now.state(), now.claimed_by.as_str()),
        (pb::DraftState::Claimed, "ana")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_viewer_sees_the_queue_and_the_draft_but_cannot_act() {
    let server = TestServer::start_with(with_tokens).await;
    let d = draft_needing_review(&server, "console-viewer", UNSURE).await;
    let mut max = Visitor::new(&server);
    max.sign_in(&token_of("max")).await;
    let queue = max.get("/console").await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("charged twice"), "{}", queue.body);
    let view = max.get(&format!("/console/drafts/{}", d.id)).await;
    assert_eq!(view.status, 200);
    assert!(
        view.body.contains("you cannot act") || view.body.contains("but not act on it"),
        "{}",
        view.body
    );
    assert!(
        !view.body.contains("Approve as written"),
        "no buttons for a viewer"
    );
    let csrf = queue.csrf();
    for action in ["claim", "approve", "reject"] {
        let r = max
            .post(
                &format!("/console/drafts/{}/{action}", d.id),
                &[("csrf", &csrf), ("reason_code", "other")],
            )
            .await;
        assert_eq!(r.status, 403, "a viewer may not {action}");
        assert!(r.body.contains("needs another role"), "{}", r.body);
    }
    assert_eq!(
        draft(&server, &d.id).await.state(),
        pb::DraftState::PendingReview
    );
    server.stop().await;
}

#[tokio::test]
async fn an_edit_approved_in_the_console_reaches_the_platform_as_ai_edited_and_a_second_agent_is_refused()
 {
    let server = TestServer::start_with(with_tokens).await;
    let d = draft_needing_review(&server, "console-edit", UNSURE).await;
    let mut ana = Visitor::new(&server);
    ana.sign_in(&token_of("ana")).await;
    let mut bob = Visitor::new(&server);
    bob.sign_in(&token_of("bob")).await;
    let (ana_csrf, bob_csrf) = (ana.csrf().await, bob.csrf().await);
    let base = format!("/console/drafts/{}", d.id);
    assert_eq!(
        ana.post(&format!("{base}/claim"), &[("csrf", &ana_csrf)])
            .await
            .status,
        303
    );
    let held = bob.get(&base).await;
    assert!(
        held.body.contains("Held by <strong>ana</strong>"),
        "{}",
        held.body
    );
    let refused = bob
        .post(&format!("{base}/approve"), &[("csrf", &bob_csrf)])
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("claimed by ana"), "{}", refused.body);
    let edited = "We are sorry about the double charge. We have refunded the second payment; it reaches your card in 5 business days.";
    let approved = ana
        .post(
            &format!("{base}/approve"),
            &[("csrf", &ana_csrf), ("edited_body", edited)],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let delivery = delivery_of(&server, &d.id).await;
    assert_eq!(delivery.body, edited);
    assert_eq!(delivery.provenance(), pb::Provenance::AiEdited);
    assert!(
        delivery.text.contains(&delivery.disclosure) && !delivery.disclosure.is_empty(),
        "{delivery:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_rejection_with_a_reason_code_is_counted_and_shown_in_the_transcript() {
    let server = TestServer::start_with(with_tokens).await;
    let d = draft_needing_review(&server, "console-reject", UNSURE).await;
    let mut ana = Visitor::new(&server);
    ana.sign_in(&token_of("ana")).await;
    let csrf = ana.csrf().await;
    let bad = ana
        .post(
            &format!("/console/drafts/{}/reject", d.id),
            &[("csrf", &csrf), ("reason_code", "rude")],
        )
        .await;
    assert_eq!(bad.status, 409, "{}", bad.body);
    assert!(
        bad.body
            .contains("reason_code: must be one of incorrect, outdated_article"),
        "{}",
        bad.body
    );
    let r = ana
        .post(
            &format!("/console/drafts/{}/reject", d.id),
            &[
                ("csrf", &csrf),
                ("reason_code", "outdated_article"),
                ("reason", "refund rules changed"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let rejected = draft(&server, &d.id).await;
    assert_eq!(
        rejected.reject_reason,
        "outdated_article: refund rules changed"
    );
    let page = ana.get("/console/conversations/console-reject").await;
    assert!(page.body.contains("Outdated article"), "{}", page.body);
    assert!(page.body.contains("refund rules changed"));
    // Over gRPC the code is checked the same way, naming the field.
    let mut review = server.review();
    let other = draft_needing_review(&server, "console-reject-2", UNSURE).await;
    let refused = review
        .reject(bearer(
            pb::RejectRequest {
                draft_id: other.id.clone(),
                reason_code: "rude".into(),
                ..Default::default()
            },
            "ana",
        ))
        .await;
    crate::common::assert_status(
        refused,
        Code::InvalidArgument,
        "reason_code: must be one of",
    );
    server.stop().await;
}

#[tokio::test]
async fn a_transcript_link_shows_only_its_conversation_and_nothing_once_altered_expired_or_revoked()
{
    let server = TestServer::start_with(with_tokens).await;
    draft_needing_review(
        &server,
        "record-mine",
        "My order was charged twice, please refund",
    )
    .await;
    draft_needing_review(
        &server,
        "record-other",
        "Someone else's question about a lost parcel refund",
    )
    .await;
    let link = transcript_link(&server, "record-mine", 3600).await;
    let prefix = format!("http://{}", server.http_addr);
    assert!(
        link.url.starts_with(&format!("{prefix}/transcript/")),
        "{}",
        link.url
    );
    let path = link
        .url
        .split_once("/transcript/")
        .map(|(_, t)| format!("/transcript/{t}"))
        .unwrap();
    let anyone = Visitor::new(&server);
    let page = anyone.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("charged twice"), "{}", page.body);
    assert!(
        !page.body.contains("lost parcel"),
        "another conversation leaks"
    );
    assert!(
        !page.body.contains("<a ") && !page.body.contains("/console"),
        "nothing else is reachable from it"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    // Altered anywhere: the id, the expiry, the signature.
    let token = path.trim_start_matches("/transcript/").to_string();
    let parts: Vec<&str> = token.split('.').collect();
    let later: i64 = parts[1].parse::<i64>().unwrap() + 86_400_000;
    let flipped: String = {
        let mut s = parts[2].to_string();
        let c = if s.starts_with('0') { "1" } else { "0" };
        s.replace_range(0..1, c);
        s
    };
    for altered in [
        format!("{}.{}.{}", parts[0], later, parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], flipped),
        format!("{}x.{}.{}", parts[0], parts[1], parts[2]),
        parts[0].to_string(),
    ] {
        let p = anyone.get(&format!("/transcript/{altered}")).await;
        assert_eq!(p.status, 404, "{altered}");
        assert!(!p.body.contains("charged twice"));
    }
    // Revoked: nothing, and revoking again says so.
    assert!(revoke(&server, &link.link_id).await);
    assert_eq!(anyone.get(&path).await.status, 404);
    assert!(!revoke(&server, &link.link_id).await, "revoked before");
    // Expired: a one-second link opens, then shows nothing.
    let short = transcript_link(&server, "record-mine", 1).await;
    let short_path = short.url.replace(&prefix, "");
    eventually(5, || async {
        (anyone.get(&short_path).await.status == 404).then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_transcript_link_is_refused_for_a_bad_ttl_and_for_another_platforms_conversation() {
    let server = TestServer::start_with(|c| {
        with_tokens(c);
        c.tokens.push(replygate::auth::TokenConfig {
            subject: "other-desk".into(),
            roles: vec![replygate::auth::Role::Platform],
            sha256: replygate::auth::hash(&token_of("other-desk")),
        });
    })
    .await;
    draft_needing_review(&server, "record-ttl", UNSURE).await;
    let mut drafts = server.drafts();
    let too_long = drafts
        .create_transcript_link(bearer(
            pb::CreateTranscriptLinkRequest {
                conversation_id: "record-ttl".into(),
                ttl_seconds: 40 * 86_400,
            },
            "desk",
        ))
        .await;
    crate::common::assert_status(
        too_long,
        Code::InvalidArgument,
        "ttl_seconds: must be between 1 and 2592000",
    );
    let foreign = drafts
        .create_transcript_link(bearer(
            pb::CreateTranscriptLinkRequest {
                conversation_id: "record-ttl".into(),
                ttl_seconds: 60,
            },
            "other-desk",
        ))
        .await;
    crate::common::assert_status(foreign, Code::NotFound, "conversation");
    let unknown = drafts
        .revoke_transcript_link(bearer(
            pb::RevokeTranscriptLinkRequest {
                link_id: "no-such-link".into(),
            },
            "desk",
        ))
        .await;
    crate::common::assert_status(unknown, Code::NotFound, "transcript link");
    server.stop().await;
}

#[tokio::test]
async fn in_protected_mode_an_agent_on_this_machine_signs_in_by_name() {
    let server = TestServer::start().await;
    let mut ana = Visitor::new(&server);
    let page = ana.get("/console/login").await;
    assert!(page.body.contains("Your name"), "{}", page.body);
    assert_eq!(ana.sign_in("ana").await.status, 303);
    let d = server.ask("protected-console", UNSURE).await;
    let csrf = ana.csrf().await;
    assert_eq!(
        ana.post(
            &format!("/console/drafts/{}/claim", d.id),
            &[("csrf", &csrf)]
        )
        .await
        .status,
        303
    );
    assert_eq!(server.draft(&d.id).await.claimed_by, "ana");
    server.stop().await;
}

#[tokio::test]
async fn the_managers_page_shows_the_desk_and_the_grafana_dashboard_queries_only_series_that_exist()
{
    let server = TestServer::start_with(with_tokens).await;
    // A small desk's day: an auto-sent answer, an escalation, a review of each kind.
    let mut drafts = server.drafts();
    for (conversation, message) in [
        ("desk-1", "How do I block a contact on Lumo?"),
        ("desk-2", UNSURE),
        ("desk-3", "I want to talk to a human agent"),
        ("desk-4", UNSURE),
    ] {
        ask(&server, conversation, message).await;
    }
    let mut ana = Visitor::new(&server);
    ana.sign_in(&token_of("ana")).await;
    let csrf = ana.csrf().await;
    let pending = server
        .review()
        .list_pending(bearer(pb::ListPendingRequest::default(), "ana"))
        .await
        .unwrap()
        .into_inner()
        .drafts;
    let first = pending
        .iter()
        .find(|d| d.conversation_id == "desk-2")
        .unwrap();
    assert_eq!(
        ana.post(
            &format!("/console/drafts/{}/approve", first.id),
            &[("csrf", &csrf)]
        )
        .await
        .status,
        303
    );
    let second = pending
        .iter()
        .find(|d| d.conversation_id == "desk-4")
        .unwrap();
    ana.post(
        &format!("/console/drafts/{}/reject", second.id),
        &[("csrf", &csrf), ("reason_code", "incorrect")],
    )
    .await;
    // The platform sends the auto-sent answer and acknowledges it.
    let mut stream = drafts
        .stream_deliveries(bearer(pb::StreamDeliveriesRequest::default(), "desk"))
        .await
        .unwrap()
        .into_inner();
    let sent = stream.next().await.unwrap().unwrap();
    drafts
        .ack_delivery(bearer(
            pb::AckDeliveryRequest {
                cursor: sent.cursor,
            },
            "desk",
        ))
        .await
        .unwrap();
    drop(stream);
    // A refused call, so the refusal series exists.
    let _ = drafts
        .get_draft(bearer(
            pb::GetDraftRequest {
                draft_id: "x".into(),
            },
            "",
        ))
        .await;

    let mut max = Visitor::new(&server);
    max.sign_in(&token_of("max")).await;
    let manager = max.get("/console/manager").await;
    assert_eq!(manager.status, 200, "{}", manager.body);
    for shown in [
        "Auto-sent",
        "Queue depth",
        "Median time to approve",
        "incorrect: 1",
        "<svg",
        "desk-3",
        "No eval run recorded",
    ] {
        assert!(
            manager.body.contains(shown),
            "the managers' page lacks {shown:?}: {}",
            manager.body
        );
    }
    assert_eq!(
        ana.get("/console/manager").await.status,
        403,
        "an agent has no Stats role"
    );

    let metrics = crate::common::http_get(server.http_addr, "/metrics").await;
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/grafana/replygate.json")).unwrap();
    let names = regex::Regex::new(r"replygate_[a-z_]+").unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in names.find_iter(expr) {
                queried += 1;
                let series = name.as_str();
                let base = series.strip_suffix("_bucket").unwrap_or(series);
                assert!(
                    metrics.lines().any(|l| l.starts_with(series) || l.starts_with(&format!("# TYPE {base} "))),
                    "panel {:?} queries {series}, which /metrics does not expose",
                    panel["title"]
                );
            }
        }
    }
    assert!(queried >= 10, "{queried} series");
    server.stop().await;
}

#[tokio::test]
async fn a_customer_s_markup_is_shown_as_text_on_every_page() {
    let server = TestServer::start_with(with_tokens).await;
    let attack =
        "<script>alert('x')</script><img src=x onerror=alert(1)> I was charged twice, refund me";
    let d = draft_needing_review(&server, "console-markup", attack).await;
    let mut ana = Visitor::new(&server);
    ana.sign_in(&token_of("ana")).await;
    let link = transcript_link(&server, "console-markup", 60).await;
    let record = link
        .url
        .replace(&format!("http://{}", server.http_addr), "");
    for path in [
        "/console".to_string(),
        format!("/console/drafts/{}", d.id),
        "/console/conversations/console-markup".to_string(),
        record,
    ] {
        let page = ana.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains("<script>alert") && !page.body.contains("<img src=x"),
            "{path} renders the customer's markup: {}",
            page.body
        );
        assert!(
            page.body.contains("&lt;script&gt;"),
            "{path} shows it as text"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_platform_s_token_does_not_open_the_console_which_shows_every_platform_s_conversations() {
    let server = TestServer::start_with(with_tokens).await;
    let mut desk = Visitor::new(&server);
    let refused = desk.sign_in(&token_of("desk")).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("platform"), "{}", refused.body);
    assert_eq!(
        desk.get("/console").await.status,
        303,
        "still not signed in"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_id_with_slashes_or_a_query_stays_one_path_segment_in_every_link_and_form() {
    let server = TestServer::start_with(with_tokens).await;
    let id = "x/../../drafts/evil?";
    draft_needing_review(&server, id, UNSURE).await;
    let mut ana = Visitor::new(&server);
    ana.sign_in(&token_of("ana")).await;
    let found = ana
        .get("/console/conversations?id=x%2F..%2F..%2Fdrafts%2Fevil%3F")
        .await;
    assert_eq!(found.status, 303);
    let at = found.headers["location"].to_str().unwrap().to_string();
    assert_eq!(at, "/console/conversations/x%2F..%2F..%2Fdrafts%2Fevil%3F");
    let page = ana.get(&at).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for action in ["take-over", "hand-back", "resolve"] {
        let form =
            format!("action=\"/console/conversations/x%2F..%2F..%2Fdrafts%2Fevil%3F/{action}\"");
        assert!(page.body.contains(&form), "{form} in {}", page.body);
    }
    assert!(!page.body.contains("action=\"/console/conversations/x/"));
    server.stop().await;
}

#[tokio::test]
async fn in_protected_mode_a_page_rebound_to_this_machine_under_another_name_is_refused() {
    let server = TestServer::start().await;
    let ana = Visitor::new(&server);
    let rebound = ana
        .post_with(
            "/console/login",
            &[("secret", "mallory")],
            &[
                ("host", "evil.example:9090"),
                ("origin", "http://evil.example:9090"),
            ],
        )
        .await;
    assert_eq!(rebound.status, 401, "{}", rebound.body);
    assert!(rebound.headers.get("set-cookie").is_none());
    let mut local = Visitor::new(&server);
    assert_eq!(
        local.sign_in("ana").await.status,
        303,
        "127.0.0.1 is this machine"
    );
    server.stop().await;
}
