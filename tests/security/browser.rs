//! The console in a real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `tests/browser/`; `.ci/run` installs both). The
//! browsers run in `tests/browser/console.mjs`; this test runs the server
//! and the gRPC side, and answers the script's steps. It saves the queue
//! and review screenshots to `docs/` (shown in the README).

use super::{bearer, token_of, with_tokens};
use crate::common::{TestServer, needed_env};
use replygate::api::pb;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn create(
    server: &TestServer,
    conversation: &str,
    message: &str,
    context: &[(&str, &str)],
) -> pb::Draft {
    let d = server
        .drafts()
        .create_draft(bearer(
            pb::CreateDraftRequest {
                conversation_id: conversation.into(),
                message: message.into(),
                context: context
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            },
            "desk",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.state(), pb::DraftState::PendingReview, "{d:?}");
    d
}

#[tokio::test]
#[ignore = "needs Chromium and playwright-core (REPLYGATE_TEST_CHROMIUM; .ci/run provides them)"]
async fn an_agent_reviews_in_a_real_browser() {
    let chromium = needed_env(
        "REPLYGATE_TEST_CHROMIUM",
        "apt-get install chromium, npm ci --prefix tests/browser, and set it to /usr/bin/chromium",
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = TestServer::start_with(with_tokens).await;
    let mut script = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .env("CONSOLE_BASE", format!("http://{}", server.http_addr))
        .env("CHROMIUM", chromium)
        .env("SCREENSHOTS", root.join("docs"))
        .env("TOKEN_ANA", token_of("ana"))
        .env("TOKEN_BOB", token_of("bob"))
        .env("TOKEN_MAX", token_of("max"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs tests/browser/console.mjs");
    let mut to_script = script.stdin.take().unwrap();
    let mut from_script = BufReader::new(script.stdout.take().unwrap()).lines();
    let mut next = async || -> String {
        let line = tokio::time::timeout(Duration::from_secs(90), from_script.next_line())
            .await
            .expect("the browser script answers within 90 s")
            .unwrap()
            .unwrap_or_else(|| "FAIL the script ended".into());
        assert!(!line.starts_with("FAIL"), "in the browser: {line}");
        line
    };

    assert_eq!(next().await, "ready-for-draft");
    // An always-review topic with an article that answers it: the draft
    // cites it, and the screenshots show a realistic decision.
    let first = create(
        &server,
        "browser-1",
        "Someone hacked my account and I can't log in, what do I do?",
        &[("os", "android"), ("app_version", "2.24.1")],
    )
    .await;
    assert!(!first.citations.is_empty(), "{first:?}");
    to_script
        .write_all(format!("draft {}\n", first.id).as_bytes())
        .await
        .unwrap();

    assert_eq!(next().await, "ready-for-edit");
    let edited = first.body.replacen(
        "Hi, thanks for reaching out!",
        "Hi, we are sorry this happened. You can get your account back in two steps.",
        1,
    );
    assert_ne!(
        edited, first.body,
        "the draft greets the customer as expected"
    );
    // One line: the text as a JSON string.
    to_script
        .write_all(format!("edit {}\n", serde_json::to_string(&edited).unwrap()).as_bytes())
        .await
        .unwrap();
    assert_eq!(next().await, "approved");
    let delivery = super::console::delivery_of(&server, &first.id).await;
    assert_eq!(delivery.body, edited);
    assert_eq!(delivery.provenance(), pb::Provenance::AiEdited);
    assert!(!delivery.disclosure.is_empty() && delivery.text.ends_with(&delivery.disclosure));

    assert_eq!(next().await, "ready-for-reject");
    let second = create(
        &server,
        "browser-2",
        "The app crashes when I open a chat, what now?",
        &[],
    )
    .await;
    to_script
        .write_all(format!("reject {} browser-2\n", second.id).as_bytes())
        .await
        .unwrap();

    assert_eq!(next().await, "ready-for-links");
    let url = super::console::transcript_link(&server, "browser-1", 3600)
        .await
        .url;
    let short = super::console::transcript_link(&server, "browser-1", 1)
        .await
        .url;
    // The other conversation's words, which the first one's record must not show.
    to_script
        .write_all(format!("links {url} {} {short}\n", "crashes%20when%20I%20open").as_bytes())
        .await
        .unwrap();
    assert_eq!(next().await, "done");
    let status = tokio::time::timeout(Duration::from_secs(30), script.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the browser script failed: {status}");
    for shot in ["console-queue.png", "console-review.png"] {
        let meta = std::fs::metadata(root.join("docs").join(shot)).unwrap();
        assert!(meta.len() > 10_000, "{shot} is {} bytes", meta.len());
    }
    server.stop().await;
}
