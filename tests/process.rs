//! The real `replygate` binary as a process: killed with SIGKILL right after
//! acknowledging work and restarted on the same data dir (nothing acknowledged
//! is lost), and driven by a Python grpcio client.

mod common;

use replygate::api::pb;
use replygate::api::pb::drafts_client::DraftsClient;
use replygate::api::pb::review_client::ReviewClient;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tonic::Request;
use tonic::transport::Channel;

struct Process {
    child: Child,
    channel: Channel,
    addr: String,
    http_addr: String,
}

/// Starts `replygate serve` on ports chosen by the OS and waits until it serves.
async fn start(data_dir: &Path) -> Process {
    let knowledge = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let mut child = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--knowledge")
        .arg(&knowledge)
        .env("REPLYGATE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start replygate");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let message = v["fields"]["message"].as_str().unwrap_or_default();
                if message == "grpc listening" || message == "http listening" {
                    let addr = v["fields"]["addr"].as_str().unwrap_or_default().to_string();
                    let _ = tx.send((message.to_string(), addr));
                }
            }
        }
    });
    let (mut addr, mut http_addr) = (String::new(), String::new());
    while addr.is_empty() || http_addr.is_empty() {
        let (message, a) = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("server did not report its addresses");
        if message == "grpc listening" {
            addr = a;
        } else {
            http_addr = a;
        }
    }
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let req = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        if health.check(req).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "server not serving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Process {
        child,
        channel,
        addr,
        http_addr,
    }
}

fn as_agent<T>(message: T, agent: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("x-agent-id", agent.parse().unwrap());
    r
}

#[tokio::test]
async fn sigkill_right_after_acknowledging_loses_no_draft_claim_or_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut p = start(&data_dir).await;

    // A burst of concurrent drafts: half confident (auto-approved), half not.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut drafts = DraftsClient::new(p.channel.clone());
        tasks.push(tokio::spawn(async move {
            let message = if i % 2 == 0 {
                "How do I block someone?"
            } else {
                "What's the weather in Rome tomorrow?"
            };
            drafts
                .create_draft(pb::CreateDraftRequest {
                    conversation_id: format!("c{i}"),
                    message: message.into(),
                    request_id: format!("r{i}"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }));
    }
    let mut expected: HashMap<String, pb::Draft> = HashMap::new();
    for t in tasks {
        let d = t.await.unwrap();
        expected.insert(d.id.clone(), d);
    }
    let pending: Vec<String> = expected
        .values()
        .filter(|d| d.state == pb::DraftState::PendingReview as i32)
        .map(|d| d.id.clone())
        .collect();
    assert!(pending.len() >= 6, "need pending drafts to review");

    let mut review = ReviewClient::new(p.channel.clone());
    let claimed = review
        .claim(as_agent(
            pb::ClaimRequest {
                draft_id: pending[0].clone(),
                lease_seconds: 0,
            },
            "ana",
        ))
        .await
        .unwrap()
        .into_inner();
    let approved = review
        .approve(as_agent(
            pb::ApproveRequest {
                draft_id: pending[1].clone(),
                edited_body: Some("Edited by Ana".into()),
            },
            "ana",
        ))
        .await
        .unwrap()
        .into_inner();
    let replaced = review
        .reject(as_agent(
            pb::RejectRequest {
                draft_id: pending[2].clone(),
                reason: "off topic".into(),
                replacement_body: Some("Written by Bob".into()),
            },
            "bob",
        ))
        .await
        .unwrap()
        .into_inner();
    for d in [&claimed, &approved, &replaced] {
        expected.insert(d.id.clone(), d.clone());
    }
    let mut drafts = DraftsClient::new(p.channel.clone());
    let mut stream = drafts
        .stream_deliveries(pb::StreamDeliveriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    let ack = drafts
        .ack_delivery(pb::AckDeliveryRequest {
            cursor: first.cursor,
        })
        .await
        .unwrap()
        .into_inner();
    let acked = ack.draft.unwrap();
    expected.insert(acked.id.clone(), acked.clone());

    // Killed the instant the last acknowledgement arrived.
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    let mut p = start(&data_dir).await;
    let mut drafts = DraftsClient::new(p.channel.clone());
    for (id, before) in &expected {
        let after = drafts
            .get_draft(pb::GetDraftRequest {
                draft_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.state, before.state, "draft {id}");
        assert_eq!(after.final_body, before.final_body, "draft {id}");
        assert_eq!(after.claimed_by, before.claimed_by, "draft {id}");
    }
    // Every decided, unacknowledged draft is delivered again, once, and the acked one is not.
    let should_deliver: Vec<&String> = expected
        .values()
        .filter(|d| {
            [
                pb::DraftState::AutoApproved as i32,
                pb::DraftState::Approved as i32,
            ]
            .contains(&d.state)
                || d.id == replaced.id
        })
        .map(|d| &d.id)
        .collect();
    let mut stream = drafts
        .stream_deliveries(pb::StreamDeliveriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while seen.len() < should_deliver.len() {
        let d = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("missing deliveries")
            .unwrap()
            .unwrap();
        seen.push(d.draft_id);
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(sorted_seen.len(), seen.len(), "a delivery came twice");
    for id in should_deliver {
        assert!(seen.contains(id), "delivery for {id} lost");
    }
    assert!(
        !seen.contains(&acked.id),
        "an acknowledged delivery came again"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), stream.next())
            .await
            .is_err(),
        "unexpected extra delivery"
    );
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test]
async fn a_python_grpcio_client_runs_the_whole_flow() {
    let has_grpc = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_grpc {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install grpcio and grpcio-tools (see .ci/run)"
        );
        eprintln!(
            "skipped: python3 with grpcio and grpcio-tools is not installed (pip install grpcio grpcio-tools)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(&tmp.path().join("data")).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("python3")
        .arg(root.join("tests/interop/client.py"))
        .arg(&p.addr)
        .arg(root.join("proto"))
        .output()
        .await
        .unwrap();
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert!(
        output.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn eval_reports_routing_quality_on_the_sample_questions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .args([
            "eval",
            "--json",
            "--target-precision",
            "0.95",
            "--questions",
        ])
        .arg(root.join("knowledge/eval/questions.jsonl"))
        .arg("--knowledge")
        .arg(root.join("knowledge"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["questions"].as_u64().unwrap() >= 100);
    assert!(report["out_of_scope"].as_u64().unwrap() >= 25);
    assert_eq!(
        report["outcomes"].as_array().unwrap().len() as u64,
        report["questions"].as_u64().unwrap()
    );
    // The quality floor measured when confidence v1 was tuned (docs/EVALUATION.md).
    let configured = &report["configured"];
    assert!(
        configured["precision"].as_f64().unwrap() >= 0.95,
        "{configured}"
    );
    assert!(
        configured["leakage"].as_f64().unwrap() <= 0.05,
        "{configured}"
    );
    assert!(
        report["top3"].as_f64().unwrap() >= 0.7,
        "{}",
        report["top3"]
    );
    assert!(report["suggested"]["threshold"].as_f64().is_some());
}

#[test]
fn eval_names_the_bad_line_of_a_question_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("q.jsonl");
    std::fs::write(
        &file,
        "{\"text\": \"hi\", \"expected\": \"out_of_scope\"}\nnot json\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .args(["eval", "--questions"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("q.jsonl:2:"), "{stderr}");
}

/// Metrics are process-wide, so a fresh process gives exact values.
#[tokio::test]
async fn metrics_show_the_values_of_a_scripted_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start(&tmp.path().join("data")).await;
    let mut drafts = DraftsClient::new(p.channel.clone());
    let ask = |conversation: &str, message: &str| pb::CreateDraftRequest {
        conversation_id: conversation.into(),
        message: message.into(),
        channel: "whatsapp".into(),
        ..Default::default()
    };
    let auto = drafts
        .create_draft(ask("c1", "How do I block someone?"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(auto.state, pb::DraftState::AutoApproved as i32);
    let pending = drafts
        .create_draft(ask("c2", "What's the weather in Rome tomorrow?"))
        .await
        .unwrap()
        .into_inner();
    drafts
        .create_draft(ask("c3", "Do you sell gift cards for birthdays?"))
        .await
        .unwrap();
    let mut review = ReviewClient::new(p.channel.clone());
    review
        .approve(as_agent(
            pb::ApproveRequest {
                draft_id: pending.id.clone(),
                edited_body: None,
            },
            "ana",
        ))
        .await
        .unwrap();
    let body = common::http_get(p.http_addr.parse().unwrap(), "/metrics").await;
    let value = |needle: &str| -> f64 {
        body.lines()
            .find(|l| !l.starts_with('#') && needle.split('|').all(|part| l.contains(part)))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no metric line with {needle}:\n{body}"))
    };
    assert_eq!(
        value("replygate_drafts_total{|state=\"AUTO_APPROVED\"|channel=\"whatsapp\""),
        1.0
    );
    assert_eq!(
        value("replygate_drafts_total{|state=\"PENDING_REVIEW\"|level=\"LOW\""),
        2.0
    );
    assert_eq!(
        value("replygate_review_actions_total{|action=\"approve\"|agent=\"ana\""),
        1.0
    );
    assert_eq!(value("replygate_review_queue_depth"), 1.0);
    assert!(value("replygate_review_oldest_pending_seconds") >= 0.0);
    assert_eq!(value("replygate_review_decision_seconds_count"), 1.0);
    assert_eq!(value("replygate_retrieval_seconds_count"), 3.0);
    assert!(value("replygate_knowledge_passages") > 100.0);
    assert!(value("replygate_knowledge_articles") >= 78.0);
    assert!((value("replygate_auto_send_ratio") - 1.0 / 3.0).abs() < 1e-6);
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}
