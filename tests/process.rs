//! The real `replygate` binary as a process: killed with SIGKILL right after
//! acknowledging work and restarted on the same data dir (nothing acknowledged
//! is lost), driven by a Python grpcio client, and run as several replicas on
//! one PostgreSQL database.

mod common;

use replygate::api::pb;
use replygate::api::pb::drafts_client::DraftsClient;
use replygate::api::pb::knowledge_client::KnowledgeClient;
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
    /// Every line the server wrote to stderr so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    channel: Channel,
    addr: String,
    http_addr: String,
}

/// A server left running by a test that failed (or forgot) is killed with it.
impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `replygate serve` on ports chosen by the OS and waits until it serves.
async fn start(data_dir: &Path) -> Process {
    start_with(data_dir, &[]).await
}

/// `start` with extra environment (`REPLYGATE_*` settings).
async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Process {
    let knowledge = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let mut child = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
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
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start replygate");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let captured = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            captured.lock().unwrap().push(line.clone());
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
        log,
        channel,
        addr,
        http_addr,
    }
}

fn bearer<T>(mut r: Request<T>, token: &str) -> Request<T> {
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
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
                "How do I block a contact on Lumo?"
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
                ..Default::default()
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
#[ignore = "needs Python's grpcio: pip install grpcio grpcio-tools (.ci/run does)"]
async fn a_python_grpcio_client_runs_the_whole_flow() {
    let has_grpc = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        has_grpc,
        "this test needs python3 with grpcio and grpcio-tools: pip install grpcio grpcio-tools (bash .ci/run does)"
    );
    // Real tokens, as a deployment has them: the config holds only their hashes.
    let mut tokens = Vec::new();
    let mut entries = Vec::new();
    for (var, subject, role) in [
        ("RG_PLATFORM_TOKEN", "py-desk", "platform"),
        ("RG_AGENT_TOKEN", "py-agent", "agent"),
        ("RG_OTHER_AGENT_TOKEN", "other", "agent"),
        ("RG_EDITOR_TOKEN", "py-editor", "editor"),
    ] {
        let (token, hash) = replygate::auth::new_token().unwrap();
        entries.push(format!(
            "{{subject = \"{subject}\", roles = [\"{role}\"], sha256 = \"{hash}\"}}"
        ));
        tokens.push((var, token));
    }
    let table = format!("[{}]", entries.join(", "));
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start_with(
        &tmp.path().join("data"),
        &[("REPLYGATE_AUTH", "tokens"), ("REPLYGATE_TOKENS", &table)],
    )
    .await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("python3")
        .arg(root.join("tests/interop/client.py"))
        .arg(&p.addr)
        .arg(root.join("proto"))
        .envs(tokens.iter().map(|(k, v)| (*k, v.as_str())))
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
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args([
            "eval",
            "--json",
            "--target-precision",
            "0.90",
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
    // A threshold whose precision is at least 90% at the 95% lower bound.
    let suggested = &report["suggested"];
    assert!(suggested["threshold"].as_f64().is_some(), "{suggested}");
    assert!(suggested["precision_lower"].as_f64().unwrap() >= 0.90);
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
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args(["eval", "--questions"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("q.jsonl:2:"), "{stderr}");
}

/// Metrics are process-wide, so a fresh process gives exact values.
/// `replygate memory ...` against the server at `addr`; stdout, or the stderr of a failure.
fn memory_cli(addr: &str, args: &[&str]) -> Result<String, String> {
    client_cli("memory", addr, args)
}

/// `replygate <command> ARGS --addr ADDR`, as an operator runs it: stdout, or stderr on failure.
fn client_cli(command: &str, addr: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .env_remove("REPLYGATE_TOKEN")
        .arg(command)
        .args(args)
        .args(["--addr", addr])
        .output()
        .unwrap();
    match output.status.success() {
        true => Ok(String::from_utf8(output.stdout).unwrap()),
        false => Err(String::from_utf8(output.stderr).unwrap()),
    }
}

#[tokio::test]
async fn replygate_ask_prints_the_draft_a_running_server_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let p = start(&tmp.path().join("data")).await;
    let out = client_cli("ask", &p.addr, &["How do I block a contact on Lumo?"]).unwrap();
    assert!(
        out.starts_with("draft ") && out.contains("AUTO_APPROVED"),
        "{out}"
    );
    assert!(out.contains("cites en/block-contact"), "{out}");
    assert!(out.contains("retrieval_strength"), "{out}");
    let refused = client_cli("ask", &p.addr, &[" "]).unwrap_err();
    assert!(
        refused.contains("InvalidArgument") && refused.contains("message"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_admin_exports_and_erases_a_customer_from_the_command_line_and_the_audit_still_verifies()
{
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let p = start(&data).await;
    let mut drafts = DraftsClient::new(p.channel.clone());
    drafts
        .create_draft(pb::CreateDraftRequest {
            customer_id: "cust-7".into(),
            message: "Ingrid Bergström here, what's the weather in Rome?".into(),
            ..needs_review("ingrid")
        })
        .await
        .unwrap();
    let exported: serde_json::Value = serde_json::from_str(
        &client_cli("privacy", &p.addr, &["export", "--customer", "cust-7"]).unwrap(),
    )
    .unwrap();
    assert_eq!(exported["conversations"][0]["id"], "ingrid");
    assert!(exported.to_string().contains("Ingrid Bergström"));
    let erased = client_cli("privacy", &p.addr, &["erase", "--customer", "cust-7"]).unwrap();
    assert!(
        erased.starts_with("erased 1 conversation(s) (ingrid): 1 messages"),
        "{erased}"
    );
    let again = client_cli("privacy", &p.addr, &["export", "--conversation", "ingrid"]).unwrap();
    assert!(!again.contains("Ingrid"), "{again}");
    // Neither or both: refused by the command line itself.
    let refused = client_cli("privacy", &p.addr, &["erase"]).unwrap_err();
    assert!(
        refused.contains("--conversation") && refused.contains("--customer"),
        "{refused}"
    );
    let unknown = client_cli("privacy", &p.addr, &["erase", "--customer", "nobody"]).unwrap_err();
    assert!(
        unknown.contains("NotFound") && unknown.contains("nobody"),
        "{unknown}"
    );
    let verified = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_DATA_DIR", &data)
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[tokio::test]
async fn editors_list_disable_enable_and_delete_curated_answers_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = start(&tmp.path().join("data")).await;
    let mut drafts = DraftsClient::new(p.channel.clone());
    let asked = drafts
        .create_draft(needs_review("taught"))
        .await
        .unwrap()
        .into_inner();
    ReviewClient::new(p.channel.clone())
        .approve(as_agent(
            pb::ApproveRequest {
                draft_id: asked.id.clone(),
                edited_body: Some("We cannot tell the weather, sorry: ask me about Lumo.".into()),
            },
            "ana",
        ))
        .await
        .unwrap();

    let listed = memory_cli(&p.addr, &["list", "--json"]).unwrap();
    let answers: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 1, "{listed}");
    let id = answers[0]["id"].as_str().unwrap().to_string();
    assert_eq!(answers[0]["state"], "active");
    assert_eq!(answers[0]["approved_by"], serde_json::json!(["ana"]));

    assert!(
        memory_cli(&p.addr, &["disable", &id])
            .unwrap()
            .contains("disabled")
    );
    let table = memory_cli(&p.addr, &["list", "--state", "disabled"]).unwrap();
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{id}\tdisabled\ten\t1\tno")),
        "{table}"
    );
    assert!(
        memory_cli(&p.addr, &["list", "--state", "active"])
            .unwrap()
            .lines()
            .count()
            == 1
    );
    assert!(
        memory_cli(&p.addr, &["enable", &id])
            .unwrap()
            .contains("enabled")
    );
    let shown: serde_json::Value =
        serde_json::from_str(&memory_cli(&p.addr, &["show", &id]).unwrap()).unwrap();
    assert_eq!(
        (shown["state"].as_str(), shown["in_use"].as_bool()),
        (Some("active"), Some(true))
    );
    assert!(
        memory_cli(&p.addr, &["delete", &id])
            .unwrap()
            .contains("deleted")
    );
    let missing = memory_cli(&p.addr, &["show", &id]).unwrap_err();
    assert!(
        missing.contains("NotFound") || missing.contains("not found"),
        "{missing}"
    );
    let unreachable = memory_cli("127.0.0.1:1", &["list"]).unwrap_err();
    assert!(
        unreachable.contains("cannot reach http://127.0.0.1:1"),
        "{unreachable}"
    );
}

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
        .create_draft(ask("c1", "How do I block a contact on Lumo?"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(auto.state, pb::DraftState::AutoApproved as i32);
    let pending = drafts
        .create_draft(ask("c2", "What's the weather in Rome tomorrow?"))
        .await
        .unwrap()
        .into_inner();
    let gift_cards = drafts
        .create_draft(ask("c3", "Do you sell gift cards for birthdays?"))
        .await
        .unwrap()
        .into_inner();
    drafts
        .create_draft(ask("c4", "What time does the Milan match start tonight?"))
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
    // One decision after a claim: the claim-to-decision histogram counts it.
    review
        .claim(as_agent(
            pb::ClaimRequest {
                draft_id: gift_cards.id.clone(),
                lease_seconds: 0,
            },
            "bob",
        ))
        .await
        .unwrap();
    review
        .reject(as_agent(
            pb::RejectRequest {
                draft_id: gift_cards.id.clone(),
                reason: "we do not sell them".into(),
                replacement_body: Some("We don't sell gift cards, sorry.".into()),
                ..Default::default()
            },
            "bob",
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
        3.0
    );
    assert_eq!(
        value("replygate_review_actions_total{|action=\"approve\"|agent=\"ana\""),
        1.0
    );
    assert_eq!(value("replygate_review_queue_depth"), 1.0);
    assert!(value("replygate_review_oldest_pending_seconds") >= 0.0);
    assert_eq!(
        value("replygate_review_actions_total{|action=\"claim\"|agent=\"bob\""),
        1.0
    );
    assert_eq!(value("replygate_review_decision_seconds_count"), 2.0);
    assert_eq!(
        value("replygate_review_claim_to_decision_seconds_count"),
        1.0
    );
    // One search per draft, and one per decision that leaves a reply: the
    // answer memory looks up which article that reply rests on.
    assert_eq!(value("replygate_retrieval_seconds_count"), 6.0);
    assert!(value("replygate_knowledge_passages") > 100.0);
    assert!(value("replygate_knowledge_articles") >= 78.0);
    assert!((value("replygate_auto_send_ratio") - 1.0 / 4.0).abs() < 1e-6);
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

// --- several replicas on one PostgreSQL ---

/// `n` replicas on the database at `url`, each with a data dir of its own.
async fn start_replicas(n: usize, url: &str, dir: &Path) -> Vec<Process> {
    let mut replicas = Vec::new();
    for i in 0..n {
        let data_dir = dir.join(format!("replica-{i}"));
        // Tests share the server's 100 connections.
        let env = [
            ("REPLYGATE_DATABASE_URL", url),
            ("REPLYGATE_DATABASE__MAX_CONNECTIONS", "8"),
        ];
        replicas.push(start_with(&data_dir, &env).await);
    }
    replicas
}

fn stop(mut replicas: Vec<Process>) {
    for p in &mut replicas {
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
}

fn needs_review(conversation: &str) -> pb::CreateDraftRequest {
    pb::CreateDraftRequest {
        conversation_id: conversation.into(),
        message: "What's the weather in Rome tomorrow?".into(),
        request_id: format!("req-{conversation}"),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn a_consumer_group_spread_over_two_replicas_gets_each_delivery_once() {
    let url = common::postgres_schema_url().await;
    let tmp = tempfile::tempdir().unwrap();
    let replicas = start_replicas(2, &url, tmp.path()).await;
    let group = || pb::StreamDeliveriesRequest {
        consumer_group: "workers".into(),
        ..Default::default()
    };
    let mut a = DraftsClient::new(replicas[0].channel.clone())
        .stream_deliveries(group())
        .await
        .unwrap()
        .into_inner();
    let mut b = DraftsClient::new(replicas[1].channel.clone())
        .stream_deliveries(group())
        .await
        .unwrap()
        .into_inner();
    let mut sent = std::collections::HashSet::new();
    for i in 0..20 {
        let d = DraftsClient::new(replicas[i % 2].channel.clone())
            .create_draft(pb::CreateDraftRequest {
                conversation_id: format!("g{i}"),
                message: "How do I block a contact on Lumo?".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(d.state, pb::DraftState::AutoApproved as i32);
        sent.insert(d.id);
    }
    let mut seen = Vec::new();
    let mut per_stream = [0, 0];
    while seen.len() < sent.len() {
        let (i, d) = tokio::select! {
            Some(d) = a.next() => (0, d.unwrap()),
            Some(d) = b.next() => (1, d.unwrap()),
            _ = tokio::time::sleep(Duration::from_secs(15)) => panic!("deliveries missing: {} of {}", seen.len(), sent.len()),
        };
        per_stream[i] += 1;
        DraftsClient::new(replicas[i].channel.clone())
            .ack_delivery(pb::AckDeliveryRequest { cursor: d.cursor })
            .await
            .unwrap();
        seen.push(d.draft_id);
    }
    let distinct: std::collections::HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "no delivery twice: {per_stream:?}"
    );
    assert_eq!(distinct, sent);
    for stream in [&mut a, &mut b] {
        assert!(
            tokio::time::timeout(Duration::from_millis(500), stream.next())
                .await
                .is_err(),
            "nothing more"
        );
    }
    stop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn replicas_on_one_database_share_the_queue_deliveries_and_articles() {
    let url = common::postgres_schema_url().await;
    let tmp = tempfile::tempdir().unwrap();
    let replicas = start_replicas(3, &url, tmp.path()).await;

    // 100 drafts that need review, written through all three replicas.
    let mut ids = std::collections::HashSet::new();
    for i in 0..100 {
        let mut drafts = DraftsClient::new(replicas[i % 3].channel.clone());
        let d = drafts
            .create_draft(needs_review(&format!("q{i}")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(d.state, pb::DraftState::PendingReview as i32);
        ids.insert(d.id);
    }

    // 20 agents spread over the replicas claim until the queue is empty.
    let mut agents = Vec::new();
    for a in 0..20 {
        let channel = replicas[a % 3].channel.clone();
        agents.push(tokio::spawn(async move {
            let agent = format!("agent-{a}");
            let mut review = ReviewClient::new(channel);
            let mut won = Vec::new();
            loop {
                let open = review
                    .list_pending(as_agent(
                        pb::ListPendingRequest {
                            limit: 20,
                            ..Default::default()
                        },
                        &agent,
                    ))
                    .await
                    .unwrap()
                    .into_inner()
                    .drafts;
                if open.is_empty() {
                    return won;
                }
                for d in open {
                    let claim = pb::ClaimRequest {
                        draft_id: d.id.clone(),
                        lease_seconds: 0,
                    };
                    match review.claim(as_agent(claim, &agent)).await {
                        Ok(r) => {
                            assert_eq!(r.into_inner().claimed_by, agent);
                            won.push((d.id, agent.clone()));
                        }
                        Err(s) => assert!(
                            matches!(
                                s.code(),
                                tonic::Code::FailedPrecondition | tonic::Code::Aborted
                            ),
                            "{s:?}"
                        ),
                    }
                }
            }
        }));
    }
    let mut claims: Vec<(String, String)> = Vec::new();
    for a in agents {
        claims.extend(a.await.unwrap());
    }
    let claimed: std::collections::HashSet<String> =
        claims.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(claims.len(), 100, "every draft claimed exactly once");
    assert_eq!(claimed, ids);

    // Approvals on replica A reach a delivery stream on replica B, in order.
    let mut stream = DraftsClient::new(replicas[1].channel.clone())
        .stream_deliveries(pb::StreamDeliveriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut review_a = ReviewClient::new(replicas[0].channel.clone());
    let mut approved = Vec::new();
    for (draft_id, agent) in claims.iter().take(10) {
        let d = review_a
            .approve(as_agent(
                pb::ApproveRequest {
                    draft_id: draft_id.clone(),
                    edited_body: Some(format!("Reply by {agent}")),
                },
                agent,
            ))
            .await
            .unwrap()
            .into_inner();
        approved.push(d.id);
    }
    let mut delivered = Vec::new();
    let mut last_cursor = 0;
    while delivered.len() < approved.len() {
        let d = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("deliveries from replica A reach replica B")
            .unwrap()
            .unwrap();
        assert!(d.cursor > last_cursor, "cursors increase");
        last_cursor = d.cursor;
        delivered.push(d.draft_id);
    }
    assert_eq!(delivered, approved, "in the order they were approved");

    // An article written through A is found through B within 2 s.
    let mut knowledge_a = KnowledgeClient::new(replicas[0].channel.clone());
    let mut knowledge_b = KnowledgeClient::new(replicas[2].channel.clone());
    knowledge_a
        .upsert_article(pb::UpsertArticleRequest {
            article: Some(pb::Article {
                id: "en/quokka-stickers".into(),
                locale: "en".into(),
                title: "Quokka stickers".into(),
                body: "Send a quokka sticker from the sticker tray.".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let written = Instant::now();
    loop {
        let hits = knowledge_b
            .search(pb::SearchRequest {
                query: "quokka sticker".into(),
                locale: "en".into(),
                limit: 3,
            })
            .await
            .unwrap()
            .into_inner()
            .hits;
        if hits.iter().any(|h| h.article_id == "en/quokka-stickers") {
            break;
        }
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "replica B did not find the article within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // An agent watching the queue on C sees a draft that arrived through A.
    let mut watch = ReviewClient::new(replicas[2].channel.clone())
        .watch_queue(as_agent(pb::WatchQueueRequest::default(), "agent-w"))
        .await
        .unwrap()
        .into_inner();
    let fresh = DraftsClient::new(replicas[0].channel.clone())
        .create_draft(needs_review("watched"))
        .await
        .unwrap()
        .into_inner();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch on C hears about A's draft")
            .unwrap()
            .unwrap();
        if event.draft.as_ref().is_some_and(|d| d.id == fresh.id) {
            assert_eq!(event.kind, pb::queue_event::Kind::Added as i32);
            break;
        }
    }
    stop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn a_replica_killed_during_a_burst_loses_no_acknowledged_draft() {
    let url = common::postgres_schema_url().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut replicas = start_replicas(2, &url, tmp.path()).await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for c in 0..16 {
        let channel = replicas[0].channel.clone();
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            let mut drafts = DraftsClient::new(channel);
            for i in 0.. {
                let message = if i % 2 == 0 {
                    "How do I block a contact on Lumo?"
                } else {
                    "What's the weather in Rome tomorrow?"
                };
                let request = pb::CreateDraftRequest {
                    conversation_id: format!("k{c}-{i}"),
                    message: message.into(),
                    request_id: format!("k{c}-{i}"),
                    ..Default::default()
                };
                match drafts.create_draft(request).await {
                    Ok(d) => acknowledged.lock().unwrap().push(d.into_inner()),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    replicas[0].child.kill().unwrap();
    replicas[0].child.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(
        acknowledged.len() >= 10,
        "the burst was under way: {}",
        acknowledged.len()
    );
    let mut survivor = DraftsClient::new(replicas[1].channel.clone());
    for before in &acknowledged {
        let after = survivor
            .get_draft(pb::GetDraftRequest {
                draft_id: before.id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("acknowledged draft {} lost: {s:?}", before.id))
            .into_inner();
        assert_eq!(after.state, before.state);
        assert_eq!(after.body, before.body);
    }
    stop(replicas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn a_lost_database_gives_unavailable_and_recovers_without_a_restart() {
    let url = common::postgres_schema_url().await;
    let proxy = common::TcpProxy::start(&url).await;
    let via_proxy = proxy.rewrite(&url);
    let tmp = tempfile::tempdir().unwrap();
    let mut p = start_with(
        &tmp.path().join("data"),
        &[
            ("REPLYGATE_DATABASE_URL", via_proxy.as_str()),
            ("REPLYGATE_DATABASE__ACQUIRE_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let mut drafts = DraftsClient::new(p.channel.clone());
    let before = drafts
        .create_draft(needs_review("before"))
        .await
        .unwrap()
        .into_inner();

    proxy.cut();
    let during = drafts.create_draft(needs_review("during")).await;
    assert_eq!(during.unwrap_err().code(), tonic::Code::Unavailable);
    let read = drafts
        .get_draft(pb::GetDraftRequest {
            draft_id: before.id.clone(),
        })
        .await;
    assert_eq!(read.unwrap_err().code(), tonic::Code::Unavailable);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    let retried = loop {
        match drafts.create_draft(needs_review("during")).await {
            Ok(d) => break d.into_inner(),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                assert!(
                    Instant::now() < deadline,
                    "no recovery after the database came back"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // Once more: the retry with the same request id is not a second draft.
    let again = drafts
        .create_draft(needs_review("during"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.id, retried.id);
    let conversation = drafts
        .get_conversation(pb::GetConversationRequest {
            conversation_id: "during".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        conversation.messages.len(),
        1,
        "the failed attempt wrote nothing"
    );
    assert_eq!(conversation.drafts.len(), 1);
    let before_now = drafts
        .get_draft(pb::GetDraftRequest {
            draft_id: before.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before_now.state, before.state, "nothing lost");
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test]
async fn audit_verify_passes_an_untouched_trail_and_names_the_first_tampered_event() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut p = start(&data_dir).await;
    let mut drafts = DraftsClient::new(p.channel.clone());
    for i in 0..3 {
        drafts
            .create_draft(needs_review(&format!("a{i}")))
            .await
            .unwrap();
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_replygate"))
            .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
            .args(["audit", "verify", "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap()
    };
    let ok = verify();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The sample help center's articles (one event each) and the drafts' events.
    assert!(stdout.starts_with("audit chain intact: "), "{stdout}");
    let events: u64 = stdout["audit chain intact: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(events >= 78 + 3, "{stdout}");

    // What a customer wrote cannot be changed behind the chain's back.
    let sql = |statement: &'static str| {
        let url = format!("sqlite://{}", data_dir.join("replygate.db").display());
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(statement).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    };
    sql("UPDATE messages SET text = 'I never wrote this' WHERE conversation_id = 'a1'").await;
    let altered = verify();
    let stdout = String::from_utf8_lossy(&altered.stdout);
    assert_eq!(altered.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("message ") && stdout.contains("(conversation a1) its stored text differs"),
        "{stdout}"
    );
    sql("UPDATE messages SET text = 'What''s the weather in Rome tomorrow?' WHERE conversation_id = 'a1'").await;
    assert!(verify().status.success(), "restored, it verifies again");

    {
        use sqlx::Connection;
        let url = format!("sqlite://{}", data_dir.join("replygate.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE audit_events SET detail = '{}' WHERE chain_pos = 2")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let broken = verify();
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("audit chain broken at position 2"),
        "{stdout}"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args(["audit", "verify", "--data-dir"])
        .arg(tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_sqlite_file_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut first = start(&data_dir).await;
    let second = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--knowledge")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    let db = data_dir.join("replygate.db").display().to_string();
    assert!(
        stderr.contains(&db) && stderr.contains("in use"),
        "{stderr}"
    );
    // Verifying the audit trail beside the running server still works.
    let verify = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args(["audit", "verify", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // And the first server is unharmed.
    let mut drafts = DraftsClient::new(first.channel.clone());
    drafts.create_draft(needs_review("after")).await.unwrap();
    first.child.kill().unwrap();
    first.child.wait().unwrap();
}

/// What the clients were told, across every life of the server.
#[derive(Default)]
struct Ledger {
    /// The furthest state each draft was acknowledged in, and its final text then.
    drafts: HashMap<String, (i32, String)>,
    /// Drafts whose delivery ack was answered.
    acked: std::collections::HashSet<String>,
    /// Deliveries that arrived after their ack had been answered.
    redelivered_after_ack: Vec<String>,
}

fn progress(state: i32) -> u8 {
    use pb::DraftState as S;
    match S::try_from(state).unwrap_or(S::Unspecified) {
        S::PendingReview => 0,
        S::Claimed => 1,
        S::Approved | S::AutoApproved | S::Rejected => 2,
        S::Delivered => 3,
        S::Unspecified | S::Superseded => 0,
    }
}

impl Ledger {
    fn record(&mut self, d: &pb::Draft) {
        let entry = self
            .drafts
            .entry(d.id.clone())
            .or_insert((d.state, d.final_body.clone()));
        if progress(d.state) >= progress(entry.0) {
            *entry = (d.state, d.final_body.clone());
        }
    }
}

/// Platform, agents and creators at once until the server dies under them.
async fn drive_until_killed(
    channel: Channel,
    ledger: std::sync::Arc<std::sync::Mutex<Ledger>>,
    life: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for c in 0..4 {
        let (channel, ledger) = (channel.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            let mut drafts = DraftsClient::new(channel);
            for i in 0.. {
                let message = if (c + i) % 2 == 0 {
                    "How do I block a contact on Lumo?"
                } else {
                    "What's the weather in Rome tomorrow?"
                };
                let id = format!("l{life}-c{c}-{i}");
                let request = pb::CreateDraftRequest {
                    conversation_id: id.clone(),
                    message: message.into(),
                    request_id: id,
                    ..Default::default()
                };
                match drafts.create_draft(request).await {
                    Ok(d) => ledger.lock().unwrap().record(&d.into_inner()),
                    Err(_) => return,
                }
            }
        }));
    }
    for a in 0..2 {
        let (channel, ledger) = (channel.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            let agent = format!("agent-{a}");
            let mut review = ReviewClient::new(channel);
            loop {
                let Ok(open) = review
                    .list_pending(as_agent(pb::ListPendingRequest::default(), &agent))
                    .await
                else {
                    return;
                };
                for d in open.into_inner().drafts.into_iter().take(3) {
                    let claim = pb::ClaimRequest {
                        draft_id: d.id.clone(),
                        lease_seconds: 0,
                    };
                    match review.claim(as_agent(claim, &agent)).await {
                        Ok(r) => ledger.lock().unwrap().record(&r.into_inner()),
                        Err(s) if s.code() == tonic::Code::FailedPrecondition => continue,
                        Err(_) => return,
                    }
                    let approve = pb::ApproveRequest {
                        draft_id: d.id.clone(),
                        edited_body: Some(format!("Checked by {agent}: {}", d.id)),
                    };
                    match review.approve(as_agent(approve, &agent)).await {
                        Ok(r) => ledger.lock().unwrap().record(&r.into_inner()),
                        Err(_) => return,
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let ledger = ledger.clone();
    tasks.push(tokio::spawn(async move {
        let mut drafts = DraftsClient::new(channel);
        let Ok(stream) = drafts
            .stream_deliveries(pb::StreamDeliveriesRequest::default())
            .await
        else {
            return;
        };
        let mut stream = stream.into_inner();
        while let Some(Ok(d)) = stream.next().await {
            if ledger.lock().unwrap().acked.contains(&d.draft_id) {
                ledger
                    .lock()
                    .unwrap()
                    .redelivered_after_ack
                    .push(d.draft_id.clone());
            }
            match drafts
                .ack_delivery(pb::AckDeliveryRequest { cursor: d.cursor })
                .await
            {
                Ok(r) => {
                    let mut l = ledger.lock().unwrap();
                    l.acked.insert(d.draft_id.clone());
                    if let Some(draft) = r.into_inner().draft {
                        l.record(&draft);
                    }
                }
                Err(_) => return,
            }
        }
    }));
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_sigkill_under_load_loses_and_duplicates_nothing_on_sqlite() {
    sigkill_cycles(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn repeated_sigkill_under_load_loses_and_duplicates_nothing_on_postgres() {
    let url = common::postgres_schema_url().await;
    sigkill_cycles(&[
        ("REPLYGATE_DATABASE_URL", &url),
        ("REPLYGATE_DATABASE__MAX_CONNECTIONS", "8"),
    ])
    .await;
}

/// Kills the server at random moments under load, restarts it on the same
/// data each time, then checks everything the clients were told.
async fn sigkill_cycles(env: &[(&str, &str)]) {
    use rand::Rng;
    const KILLS: usize = 5;
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let ledger = std::sync::Arc::new(std::sync::Mutex::new(Ledger::default()));
    for life in 0..KILLS {
        let mut p = start_with(&data_dir, env).await;
        let tasks = drive_until_killed(p.channel.clone(), ledger.clone(), life).await;
        let alive = rand::rng().random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(alive)).await;
        p.child.kill().unwrap();
        p.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }

    let mut p = start_with(&data_dir, env).await;
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.drafts.len() >= 20,
        "the load ran: {} drafts",
        ledger.drafts.len()
    );
    assert!(!ledger.acked.is_empty(), "deliveries were acked");
    assert_eq!(
        ledger.redelivered_after_ack,
        Vec::<String>::new(),
        "a delivery came again after its ack"
    );

    use pb::DraftState as S;
    let mut drafts = DraftsClient::new(p.channel.clone());
    let mut deliverable = std::collections::HashSet::new();
    for (id, (told, told_body)) in &ledger.drafts {
        let now = drafts
            .get_draft(pb::GetDraftRequest {
                draft_id: id.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("acknowledged draft {id} lost: {s:?}"))
            .into_inner();
        let told_state = S::try_from(*told).unwrap();
        let state = S::try_from(now.state).unwrap();
        let allowed: &[S] = match told_state {
            S::PendingReview => &[S::PendingReview, S::Claimed, S::Approved, S::Delivered],
            S::Claimed => &[S::Claimed, S::Approved, S::Delivered],
            S::Approved => &[S::Approved, S::Delivered],
            S::AutoApproved => &[S::AutoApproved, S::Delivered],
            S::Delivered => &[S::Delivered],
            other @ (S::Unspecified | S::Rejected | S::Superseded) => {
                panic!("unexpected acknowledged state {other:?}")
            }
        };
        assert!(
            allowed.contains(&state),
            "draft {id}: told {told_state:?}, now {state:?}"
        );
        if progress(*told) >= 2 {
            assert_eq!(
                &now.final_body, told_body,
                "draft {id}: the approved text changed"
            );
        }
        if ledger.acked.contains(id) {
            assert_eq!(state, S::Delivered, "draft {id}: its ack was answered");
        }
        if matches!(state, S::Approved | S::AutoApproved) {
            deliverable.insert(id.clone());
        }
    }
    // Every decided, unacknowledged reply is still on its way, and only once.
    let mut stream = drafts
        .stream_deliveries(pb::StreamDeliveriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut seen = std::collections::HashSet::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), stream.next()).await {
            Ok(Some(Ok(d))) => {
                assert!(
                    !ledger.acked.contains(&d.draft_id),
                    "acked delivery {} came again",
                    d.draft_id
                );
                assert!(
                    seen.insert(d.draft_id.clone()),
                    "delivery {} came twice",
                    d.draft_id
                );
            }
            Ok(other) => panic!("stream ended: {other:?}"),
            Err(_) => break, // quiet: everything pending was sent
        }
    }
    for id in &deliverable {
        assert!(seen.contains(id), "delivery for {id} lost");
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let verify = Command::new(env!("CARGO_BIN_EXE_replygate"))
        .env("REPLYGATE_EMBEDDING__PROVIDER", "none")
        .args(["audit", "verify", "--data-dir"])
        .arg(&data_dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "the audit chain survived {KILLS} kills: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    eprintln!(
        "{KILLS} kills: {} drafts acknowledged, {} deliveries acked, {} still pending delivery, chain intact",
        ledger.drafts.len(),
        ledger.acked.len(),
        deliverable.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_metrics_never_carry_secrets_or_customer_text() {
    use common::fake_llm::{FakeLlm, FakeResponse};
    const KEY: &str = "sk-seeded-SECRET-0123456789abcdef";
    let llm = FakeLlm::start(|_, n| {
        if n == 0 {
            FakeResponse::status(500) // an error path that logs
        } else {
            FakeResponse::answer(
                "Open Settings > Privacy > Blocked, [EMAIL_1].",
                &[1],
                true,
                0.9,
            )
        }
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let base_url = llm.base_url();
    let (desk_token, desk_hash) = replygate::auth::new_token().unwrap();
    let (ana_token, ana_hash) = replygate::auth::new_token().unwrap();
    let tokens = format!(
        "[{{subject = \"desk\", roles = [\"platform\"], sha256 = \"{desk_hash}\"}}, {{subject = \"ana\", roles = [\"agent\"], sha256 = \"{ana_hash}\"}}]"
    );
    let mut p = start_with(
        &tmp.path().join("data"),
        &[
            ("REPLYGATE_LLM__BASE_URL", base_url.as_str()),
            ("REPLYGATE_LLM__MODEL", "fake"),
            ("REPLYGATE_LLM__BACKOFF_BASE_MS", "1"),
            ("REPLYGATE_LLM_API_KEY", KEY),
            ("REPLYGATE_AUTH", "tokens"),
            ("REPLYGATE_TOKENS", tokens.as_str()),
            (
                "RUST_LOG",
                "trace,h2=info,hyper=info,tower=info,tantivy=info",
            ),
        ],
    )
    .await;
    let customer = "Hi, my name is Carla Segreta, I'm carla.secreta@example.org, phone +39 312 345 6789, \
                    card 4111 1111 1111 1111, IBAN IT60X0542811101000000123456 thanks: \
                    how do I block the purple elephant account?";
    let mut drafts = DraftsClient::new(p.channel.clone());
    let draft = drafts
        .create_draft(bearer(
            Request::new(pb::CreateDraftRequest {
                // WhatsApp integrations often use the customer's number as the conversation id.
                conversation_id: "393123450000".into(),
                message: customer.into(),
                request_id: "log-1".into(),
                context: [("note".to_string(), "tangerine context value".to_string())].into(),
                ..Default::default()
            }),
            &desk_token,
        ))
        .await
        .unwrap()
        .into_inner();
    // Rejected input must not echo the text either.
    let too_long = format!("{customer} {}", "purple elephant ".repeat(2000));
    let refused = drafts
        .create_draft(bearer(
            Request::new(pb::CreateDraftRequest {
                conversation_id: "c2".into(),
                message: too_long,
                ..Default::default()
            }),
            &desk_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        !refused.message().contains("purple"),
        "{}",
        refused.message()
    );
    // Nor a guessed token, nor a token used for the wrong role.
    const GUESS: &str = "rg_guessed-SECRET-token-value";
    let denied = drafts
        .get_draft(bearer(
            Request::new(pb::GetDraftRequest {
                draft_id: draft.id.clone(),
            }),
            GUESS,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let mut review = ReviewClient::new(p.channel.clone());
    let wrong_role = review
        .list_pending(bearer(
            Request::new(pb::ListPendingRequest::default()),
            &desk_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong_role.code(), tonic::Code::PermissionDenied);
    assert!(!wrong_role.message().contains(&desk_token));
    let pending = drafts
        .create_draft(bearer(Request::new(needs_review("c3")), &desk_token))
        .await
        .unwrap()
        .into_inner();
    review
        .approve(bearer(
            Request::new(pb::ApproveRequest {
                draft_id: pending.id,
                edited_body: Some("Agent wrote about the mango reservation".into()),
            }),
            &ana_token,
        ))
        .await
        .unwrap();
    let metrics = common::http_get(p.http_addr.parse().unwrap(), "/metrics").await;
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    assert!(llm.calls() >= 2, "the LLM path ran (with a retry)");
    assert!(!draft.body.is_empty());
    let log = p.log.lock().unwrap().join("\n");
    assert!(log.lines().count() > 20, "logging was on:\n{log}");
    assert!(log.contains(&draft.id), "ids are logged, so the flow was");
    for secret in [
        KEY,
        desk_token.as_str(),
        ana_token.as_str(),
        GUESS,
        "carla.secreta",
        "Segreta",
        "393123450000",
        "IT60X0542811101000000123456",
        "312 345 6789",
        "3123456789",
        "4111 1111 1111 1111",
        "purple elephant",
        "tangerine",
        "mango reservation",
    ] {
        assert!(!log.contains(secret), "the log carries {secret:?}");
        assert!(!metrics.contains(secret), "/metrics carries {secret:?}");
    }
}

/// Whether the server logged a warning whose message contains `needle`.
fn warned(p: &Process, needle: &str) -> bool {
    p.log.lock().unwrap().iter().any(|line| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            v["level"] == "WARN"
                && v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle))
        })
    })
}

#[tokio::test]
async fn a_server_without_tokens_warns_that_it_serves_this_machine_only_and_auth_none_that_it_serves_anyone()
 {
    let tmp = tempfile::tempdir().unwrap();
    let protected = start(&tmp.path().join("protected")).await;
    assert!(warned(&protected, "protected mode"));
    assert!(!warned(&protected, "auth is off"));
    stop(vec![protected]);
    let open = start_with(&tmp.path().join("open"), &[("REPLYGATE_AUTH", "none")]).await;
    assert!(warned(&open, "auth is off"));
    stop(vec![open]);
}

async fn found(p: &Process, query: &str) -> Vec<String> {
    KnowledgeClient::new(p.channel.clone())
        .search(pb::SearchRequest {
            query: query.into(),
            locale: "en".into(),
            limit: 5,
        })
        .await
        .unwrap()
        .into_inner()
        .hits
        .into_iter()
        .map(|h| h.article_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set REPLYGATE_TEST_DATABASE_URL (.ci/run does)"]
async fn a_replica_that_was_down_catches_up_on_article_changes_before_it_serves() {
    let url = common::postgres_schema_url().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut replicas = start_replicas(2, &url, tmp.path()).await;
    let mut knowledge_a = KnowledgeClient::new(replicas[0].channel.clone());
    knowledge_a
        .upsert_article(common::en_article(
            "en/otter-old",
            "Otter stickers",
            "The old otter sticker pack.",
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !found(&replicas[1], "otter stickers")
        .await
        .contains(&"en/otter-old".to_string())
    {
        assert!(
            Instant::now() < deadline,
            "replica B never indexed the article"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // B goes down; meanwhile A deletes one article and writes another.
    stop(vec![replicas.pop().unwrap()]);
    knowledge_a
        .delete_article(pb::DeleteArticleRequest {
            id: "en/otter-old".into(),
        })
        .await
        .unwrap();
    knowledge_a
        .upsert_article(common::en_article(
            "en/otter-new",
            "Otter stickers, new pack",
            "The new otter sticker pack.",
        ))
        .await
        .unwrap();

    // B comes back on its own (stale) index and is current from its first answer.
    let env = [
        ("REPLYGATE_DATABASE_URL", url.as_str()),
        ("REPLYGATE_DATABASE__MAX_CONNECTIONS", "8"),
    ];
    let b = start_with(&tmp.path().join("replica-1"), &env).await;
    let hits = found(&b, "otter stickers").await;
    assert!(hits.contains(&"en/otter-new".to_string()), "{hits:?}");
    assert!(!hits.contains(&"en/otter-old".to_string()), "{hits:?}");
    replicas.push(b);
    stop(replicas);
}
