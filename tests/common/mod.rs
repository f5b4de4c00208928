//! The tests' side of the harness they share with `replygate bench`
//! (`replygate::testkit`): the real server on 127.0.0.1:0 with the sample
//! help center and a fresh temporary data dir, and helpers, one call each.
#![allow(dead_code)]

use replygate::api::pb;
use replygate::config::Config;
use replygate::testkit::Server;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::{Request, Status};

/// The shared harness's [`Server`] on a temporary data dir, with helpers
/// that panic instead of returning errors, so tests read like sentences.
pub struct TestServer {
    server: Server,
    _tmp: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

pub fn sample_knowledge() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("knowledge")
}

pub fn test_config(data_dir: PathBuf) -> Config {
    let mut config = Config {
        knowledge_dir: sample_knowledge(),
        data_dir,
        embedding: replygate::config::EmbeddingConfig::none(),
        ..Config::default()
    };
    config.review.sweep_interval_ms = 100;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = test_config(tmp.path().join("data"));
        adjust(&mut config);
        Self::start_config(config, Some(tmp)).await
    }

    /// The server on `config`, keeping `tmp` (if any) until it stops.
    pub async fn start_config(config: Config, tmp: Option<tempfile::TempDir>) -> TestServer {
        let server = Server::start(config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        TestServer { server, _tmp: tmp }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.server.stop().await.unwrap_or_else(|e| panic!("{e}"));
        self._tmp
    }

    /// Sends a customer message.
    pub async fn ask(&self, conversation: &str, message: &str) -> pb::Draft {
        self.ask_with(conversation, message, "", "chat").await
    }

    pub async fn ask_with(
        &self,
        conversation: &str,
        message: &str,
        locale: &str,
        channel: &str,
    ) -> pb::Draft {
        self.drafts()
            .create_draft(pb::CreateDraftRequest {
                conversation_id: conversation.into(),
                message: message.into(),
                locale: locale.into(),
                channel: channel.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("CreateDraft failed: {s:?}"))
            .into_inner()
    }
}

/// Review and read helpers, one call each, so tests read like sentences.
impl TestServer {
    pub async fn claim(&self, draft_id: &str, agent: &str) -> Result<pb::Draft, Status> {
        self.claim_for(draft_id, agent, 0).await
    }

    pub async fn claim_for(
        &self,
        draft_id: &str,
        agent: &str,
        lease_seconds: u32,
    ) -> Result<pb::Draft, Status> {
        let req = pb::ClaimRequest {
            draft_id: draft_id.into(),
            lease_seconds,
        };
        self.review()
            .claim(as_agent(req, agent))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn approve(
        &self,
        draft_id: &str,
        agent: &str,
        edited_body: Option<&str>,
    ) -> Result<pb::Draft, Status> {
        let req = pb::ApproveRequest {
            draft_id: draft_id.into(),
            edited_body: edited_body.map(String::from),
        };
        self.review()
            .approve(as_agent(req, agent))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn reject(
        &self,
        draft_id: &str,
        agent: &str,
        reason: &str,
        replacement: Option<&str>,
    ) -> Result<pb::Draft, Status> {
        let req = pb::RejectRequest {
            draft_id: draft_id.into(),
            reason: reason.into(),
            replacement_body: replacement.map(String::from),
            ..Default::default()
        };
        self.review()
            .reject(as_agent(req, agent))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn release(&self, draft_id: &str, agent: &str) -> Result<pb::Draft, Status> {
        let req = pb::ReleaseRequest {
            draft_id: draft_id.into(),
        };
        self.review()
            .release(as_agent(req, agent))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn take_over(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> Result<pb::ConversationOwnership, Status> {
        let r = on_conversation(conversation_id, agent);
        self.review().take_over(r).await.map(|r| r.into_inner())
    }

    pub async fn hand_back(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> Result<pb::ConversationOwnership, Status> {
        let r = on_conversation(conversation_id, agent);
        self.review().hand_back(r).await.map(|r| r.into_inner())
    }

    pub async fn resolve(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> Result<pb::ConversationOwnership, Status> {
        let r = on_conversation(conversation_id, agent);
        self.review().resolve(r).await.map(|r| r.into_inner())
    }

    /// Ids of the drafts waiting for review, optionally of one channel or locale.
    pub async fn pending_ids(&self, channel: &str, locale: &str) -> Vec<String> {
        let req = pb::ListPendingRequest {
            channel: channel.into(),
            locale: locale.into(),
            limit: 0,
        };
        let list = self
            .review()
            .list_pending(req)
            .await
            .unwrap()
            .into_inner()
            .drafts;
        list.into_iter().map(|d| d.id).collect()
    }

    /// Every event of a StreamDraft call for `message` in conversation "c1".
    pub async fn stream_draft_events(&self, message: &str) -> Vec<pb::draft_event::Event> {
        use tokio_stream::StreamExt;
        let req = pb::CreateDraftRequest {
            conversation_id: "c1".into(),
            message: message.into(),
            ..Default::default()
        };
        let mut stream = self.drafts().stream_draft(req).await.unwrap().into_inner();
        let mut events = Vec::new();
        while let Some(e) = stream.next().await {
            events.push(e.unwrap().event.unwrap());
        }
        events
    }

    pub async fn pending(&self) -> Vec<pb::Draft> {
        self.review()
            .list_pending(pb::ListPendingRequest::default())
            .await
            .unwrap()
            .into_inner()
            .drafts
    }

    pub async fn draft(&self, draft_id: &str) -> pb::Draft {
        let req = pb::GetDraftRequest {
            draft_id: draft_id.into(),
        };
        self.drafts().get_draft(req).await.unwrap().into_inner()
    }

    pub async fn conversation(&self, conversation_id: &str) -> pb::Conversation {
        let req = pb::GetConversationRequest {
            conversation_id: conversation_id.into(),
        };
        self.drafts()
            .get_conversation(req)
            .await
            .unwrap()
            .into_inner()
    }
}

/// An agent's act on a whole conversation.
fn on_conversation(conversation_id: &str, agent: &str) -> Request<pb::ConversationActionRequest> {
    as_agent(
        pb::ConversationActionRequest {
            conversation_id: conversation_id.into(),
            ..Default::default()
        },
        agent,
    )
}

/// A request on behalf of an agent.
pub fn as_agent<T>(message: T, agent: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("x-agent-id", agent.parse().unwrap());
    r
}

pub fn state(d: &pb::Draft) -> pb::DraftState {
    pb::DraftState::try_from(d.state).unwrap()
}

pub fn level(d: &pb::Draft) -> pb::ConfidenceLevel {
    pb::ConfidenceLevel::try_from(d.confidence.as_ref().unwrap().level).unwrap()
}

pub fn score(d: &pb::Draft) -> f64 {
    d.confidence.as_ref().unwrap().score
}

pub fn reason(d: &pb::Draft, signal: &str) -> Option<f64> {
    d.confidence
        .as_ref()
        .unwrap()
        .reasons
        .iter()
        .find(|r| r.signal == signal)
        .map(|r| r.value)
}

/// Polls `f` until it returns Some, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn assert_status(
    result: Result<impl std::fmt::Debug, Status>,
    code: tonic::Code,
    needle: &str,
) {
    match result {
        Ok(v) => panic!("expected {code:?} mentioning {needle:?}, got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), code, "wrong code: {s:?}");
            assert!(
                s.message().contains(needle),
                "message {:?} does not mention {needle:?}",
                s.message()
            );
        }
    }
}

pub mod fake_llm;

/// A plain HTTP/1.1 GET; fails unless the answer is 200.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

/// What an `#[ignore]`d test needs from its environment: the value of `var`,
/// or a failure saying how to provide it. Such a test is ignored so that a
/// plain `cargo test` reports it as not run; run with `--include-ignored`
/// without `var`, it fails rather than passing without testing anything.
pub fn needed_env(var: &str, how: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value,
        Ok(_) | Err(_) => panic!(
            "this test needs {var}: {how}; without it, leave the test ignored (plain `cargo test`) or skip it by name"
        ),
    }
}

/// A PostgreSQL URL whose connections use a new, empty schema, so tests can
/// share one database in parallel. Fails when `REPLYGATE_TEST_DATABASE_URL`
/// is not set: tests that call it are `#[ignore]`d for that reason.
pub async fn postgres_schema_url() -> String {
    use sqlx::Connection;
    let base = needed_env(
        "REPLYGATE_TEST_DATABASE_URL",
        "set it to a PostgreSQL database the tests may create schemas in (bash .ci/run does)",
    );
    let schema = format!("t_{}", replygate::model::new_id().replace('-', ""));
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to REPLYGATE_TEST_DATABASE_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

/// A TCP proxy in front of the database that a test can cut and restore,
/// as a network partition or a database restart would.
pub struct TcpProxy {
    pub addr: SocketAddr,
    target: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl TcpProxy {
    /// Listens on 127.0.0.1:0 and forwards to the host:port of `url`.
    pub async fn start(url: &str) -> TcpProxy {
        let target = host_port(url).to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = tokio::sync::watch::channel(true);
        let watch = up.subscribe();
        let to = target.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*watch.borrow() {
                    drop(inbound); // refused while cut
                    continue;
                }
                let mut cut = watch.clone();
                let to = to.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        TcpProxy { addr, target, up }
    }

    /// `url` with the database's host:port replaced by the proxy's.
    pub fn rewrite(&self, url: &str) -> String {
        url.replacen(&self.target, &self.addr.to_string(), 1)
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// The host:port of a `postgres://user@host:port/db?...` URL.
fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, hp)| hp)
}

/// An English article for UpsertArticle.
pub fn en_article(id: &str, title: &str, body: &str) -> pb::UpsertArticleRequest {
    pb::UpsertArticleRequest {
        article: Some(pb::Article {
            id: id.into(),
            locale: "en".into(),
            title: title.into(),
            body: body.into(),
            ..Default::default()
        }),
    }
}

/// Sends `bytes` as the body of a unary call to `path` (e.g.
/// "/replygate.v1.Drafts/CreateDraft"), as a broken or hostile client would.
pub async fn raw_unary(channel: Channel, path: &'static str, bytes: Vec<u8>) -> Result<(), Status> {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct Raw;
    struct RawEncoder;
    struct Discard;
    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
            use bytes::BufMut;
            buf.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for Discard {
        type Item = ();
        type Error = Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
            use bytes::Buf;
            buf.advance(buf.remaining());
            Ok(Some(()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawEncoder;
        type Decoder = Discard;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> Discard {
            Discard
        }
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(
        Request::new(bytes),
        http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(drop)
}
