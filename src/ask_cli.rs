//! `replygate ask`: sends one customer message to a running server and
//! prints the draft it makes, for trying the gateway without a gRPC client.

use crate::memory_cli::{BoxError, Server, connect, exit, with_token};
use replygate::api::pb::{self, drafts_client::DraftsClient};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Message {
    /// The customer's message.
    pub message: String,
    /// The conversation it belongs to.
    #[arg(long, default_value = "cli")]
    pub conversation: String,
    /// e.g. whatsapp, email, chat.
    #[arg(long, default_value = "")]
    pub channel: String,
    /// A BCP 47 hint; the message's own language wins when it is clear.
    #[arg(long, default_value = "")]
    pub locale: String,
    /// Print the draft as JSON-like debug output instead of text.
    #[arg(long)]
    pub raw: bool,
}

pub async fn run(ask: Message, server: Server, default_addr: &str) -> ExitCode {
    exit(try_run(ask, server, default_addr).await)
}

async fn try_run(ask: Message, server: Server, default_addr: &str) -> Result<(), BoxError> {
    let (channel, token) = connect(&server, default_addr).await?;
    let request = pb::CreateDraftRequest {
        conversation_id: ask.conversation,
        message: ask.message,
        channel: ask.channel,
        locale: ask.locale,
        ..Default::default()
    };
    let d = DraftsClient::new(channel)
        .create_draft(with_token(request, token.as_deref())?)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    if ask.raw {
        println!("{d:#?}");
        return Ok(());
    }
    let state = pb::DraftState::try_from(d.state).map_or("?", |s| s.as_str_name());
    let confidence = d.confidence.unwrap_or_default();
    let level = pb::ConfidenceLevel::try_from(confidence.level).map_or("?", |l| l.as_str_name());
    println!(
        "draft {} ({state}, {level} {:.2}, {}, {})",
        d.id, confidence.score, d.generator, d.locale
    );
    println!("\n{}\n", d.body);
    if !d.disclosure.is_empty() {
        println!("[{}]\n", d.disclosure);
    }
    for c in &d.citations {
        println!("cites {} v{} {}", c.article_id, c.version, c.url);
    }
    for r in &confidence.reasons {
        println!("  {:<28} {:>6.3}  {}", r.signal, r.value, r.detail);
    }
    Ok(())
}
