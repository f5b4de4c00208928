//! `replygate memory`: editors list, read, disable, enable and delete the
//! answer memory's curated answers on a running server, over the Knowledge
//! service (so every replica hears of it and the audit trail records who).

use replygate::api::pb::{self, knowledge_client::KnowledgeClient};
use std::process::ExitCode;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// What to do with the memory.
#[derive(clap::Subcommand)]
pub enum Action {
    /// Curated answers, newest first: id, state, locale, approvals, the first question and the reply.
    List {
        /// Only this locale.
        #[arg(long)]
        locale: Option<String>,
        /// Only this state.
        #[arg(long, value_enum)]
        state: Option<State>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One curated answer whole: its questions, sources and who approved it.
    Show { id: String },
    /// Stop drafting from it.
    Disable { id: String },
    /// Use it again, resting on its articles' live versions.
    Enable { id: String },
    /// Forget it.
    Delete { id: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum State {
    Active,
    Disabled,
    Rejected,
    Superseded,
}

impl From<State> for pb::CuratedAnswerState {
    fn from(s: State) -> Self {
        match s {
            State::Active => pb::CuratedAnswerState::CuratedActive,
            State::Disabled => pb::CuratedAnswerState::CuratedDisabled,
            State::Rejected => pb::CuratedAnswerState::CuratedRejected,
            State::Superseded => pb::CuratedAnswerState::CuratedSuperseded,
        }
    }
}

/// Where the server is and who asks.
#[derive(clap::Args)]
pub struct Server {
    /// The server's gRPC address, e.g. http://127.0.0.1:50051 or https://gw.example.com [default: the config's grpc_addr]
    #[arg(long, global = true)]
    pub addr: Option<String>,
    /// PEM CA certificate to trust for an https address.
    #[arg(long, global = true)]
    pub ca: Option<std::path::PathBuf>,
    /// The environment variable holding the bearer token (a platform's for ask, an editor's for memory, an admin's for privacy; unset: no token, for a server without tokens on this machine).
    #[arg(long, global = true, default_value = "REPLYGATE_TOKEN")]
    pub token_env: String,
}

pub async fn run(action: Action, server: Server, default_addr: &str) -> ExitCode {
    exit(try_run(action, server, default_addr).await)
}

/// The exit code of a client command, its error on stderr.
pub fn exit(result: Result<(), BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects to the server named by `server` (or `default_addr`), with the
/// bearer token from its variable, if set.
pub async fn connect(
    server: &Server,
    default_addr: &str,
) -> Result<(Channel, Option<String>), BoxError> {
    let addr = server
        .addr
        .clone()
        .unwrap_or_else(|| default_addr.to_string());
    let url = if addr.contains("://") {
        addr
    } else {
        format!("http://{addr}")
    };
    let mut endpoint = Endpoint::from_shared(url.clone())?;
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &server.ca {
            tls = tls.ca_certificate(Certificate::from_pem(std::fs::read(ca)?));
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let token = std::env::var(&server.token_env)
        .ok()
        .filter(|t| !t.is_empty());
    Ok((channel, token))
}

async fn try_run(action: Action, server: Server, default_addr: &str) -> Result<(), BoxError> {
    let (channel, token) = connect(&server, default_addr).await?;
    let mut client = Client {
        inner: KnowledgeClient::new(channel),
        token,
    };
    match action {
        Action::List {
            locale,
            state,
            json,
        } => list(&mut client, locale, state, json).await,
        Action::Show { id } => {
            let a = client.get(id).await?;
            println!("{}", serde_json::to_string_pretty(&as_json(&a))?);
            Ok(())
        }
        Action::Disable { id } => {
            let a = client.disable(id).await?;
            println!("{} disabled", a.id);
            Ok(())
        }
        Action::Enable { id } => {
            let a = client.enable(id).await?;
            println!(
                "{} enabled{}",
                a.id,
                if a.in_use { "" } else { " (not in use)" }
            );
            Ok(())
        }
        Action::Delete { id } => {
            client.delete(id.clone()).await?;
            println!("{id} deleted");
            Ok(())
        }
    }
}

async fn list(
    client: &mut Client,
    locale: Option<String>,
    state: Option<State>,
    json: bool,
) -> Result<(), BoxError> {
    let mut page_token = String::new();
    if !json {
        println!("id\tstate\tlocale\tapprovals\tin use\tquestion\treply");
    }
    loop {
        let page = client
            .list(pb::ListCuratedAnswersRequest {
                locale: locale.clone().unwrap_or_default(),
                state: state
                    .map(|s| pb::CuratedAnswerState::from(s) as i32)
                    .unwrap_or(0),
                page_size: 100,
                page_token: page_token.clone(),
            })
            .await?;
        for a in &page.answers {
            if json {
                println!("{}", serde_json::to_string(&as_json(a))?);
            } else {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    a.id,
                    state_name(a.state),
                    a.locale,
                    a.approved_by.len(),
                    if a.in_use { "yes" } else { "no" },
                    one_line(a.questions.first().map(|q| q.text.as_str()).unwrap_or("")),
                    one_line(&a.reply),
                );
            }
        }
        if page.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = page.next_page_token;
    }
}

/// At most 60 characters of `text`, on one line.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

fn state_name(state: i32) -> &'static str {
    match pb::CuratedAnswerState::try_from(state) {
        Ok(pb::CuratedAnswerState::CuratedActive) => "active",
        Ok(pb::CuratedAnswerState::CuratedDisabled) => "disabled",
        Ok(pb::CuratedAnswerState::CuratedRejected) => "rejected",
        Ok(pb::CuratedAnswerState::CuratedSuperseded) => "superseded",
        _ => "unknown",
    }
}

fn as_json(a: &pb::CuratedAnswer) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "state": state_name(a.state),
        "locale": a.locale,
        "reply": a.reply,
        "in_use": a.in_use,
        "stale": a.stale,
        "approved_by": a.approved_by,
        "rejections": a.rejections,
        "created_by": a.created_by,
        "origin_draft_id": a.origin_draft_id,
        "questions": a.questions.iter().map(|q| serde_json::json!({
            "text": q.text, "draft_id": q.draft_id, "agent": q.agent,
        })).collect::<Vec<_>>(),
        "sources": a.sources.iter().map(|s| serde_json::json!({
            "article_id": s.article_id, "version": s.version, "live_version": s.live_version,
        })).collect::<Vec<_>>(),
    })
}

/// The Knowledge client with the editor's token on every call.
struct Client {
    inner: KnowledgeClient<Channel>,
    token: Option<String>,
}

/// A request carrying the bearer token, if there is one.
pub fn with_token<T>(message: T, token: Option<&str>) -> Result<tonic::Request<T>, BoxError> {
    let mut r = tonic::Request::new(message);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    Ok(r)
}

impl Client {
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, BoxError> {
        with_token(message, self.token.as_deref())
    }

    async fn list(
        &mut self,
        req: pb::ListCuratedAnswersRequest,
    ) -> Result<pb::ListCuratedAnswersResponse, BoxError> {
        let r = self.request(req)?;
        Ok(self.inner.list_curated_answers(r).await?.into_inner())
    }

    async fn get(&mut self, id: String) -> Result<pb::CuratedAnswer, BoxError> {
        let r = self.request(pb::GetCuratedAnswerRequest { id })?;
        Ok(self.inner.get_curated_answer(r).await?.into_inner())
    }

    async fn disable(&mut self, id: String) -> Result<pb::CuratedAnswer, BoxError> {
        let r = self.request(pb::CuratedAnswerRequest { id })?;
        Ok(self.inner.disable_curated_answer(r).await?.into_inner())
    }

    async fn enable(&mut self, id: String) -> Result<pb::CuratedAnswer, BoxError> {
        let r = self.request(pb::CuratedAnswerRequest { id })?;
        Ok(self.inner.enable_curated_answer(r).await?.into_inner())
    }

    async fn delete(&mut self, id: String) -> Result<(), BoxError> {
        let r = self.request(pb::CuratedAnswerRequest { id })?;
        self.inner.delete_curated_answer(r).await?;
        Ok(())
    }
}
