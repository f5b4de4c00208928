//! `replygate privacy`: an admin exports or erases a customer's data on a
//! running server, over the Privacy service (so every replica and the audit
//! chain see it), by conversation id or by the platform's customer id.

use crate::memory_cli::{BoxError, Server, connect, with_token};
use replygate::api::pb::{self, privacy_client::PrivacyClient};
use std::process::ExitCode;

/// What to do with the customer's data.
#[derive(clap::Subcommand)]
pub enum Action {
    /// Print everything stored about the customer as JSON.
    Export(Whose),
    /// Erase the customer's texts (messages, drafts, replies, the memory's
    /// questions from them); the audit chain records it and still verifies.
    Erase(Whose),
}

/// Exactly one of the two.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Whose {
    /// One conversation.
    #[arg(long)]
    conversation: Option<String>,
    /// Every conversation recorded with this customer id (CreateDraft's customer_id).
    #[arg(long)]
    customer: Option<String>,
}

impl Whose {
    fn request(&self) -> pb::CustomerDataRequest {
        pb::CustomerDataRequest {
            conversation_id: self.conversation.clone().unwrap_or_default(),
            customer_id: self.customer.clone().unwrap_or_default(),
        }
    }
}

pub async fn run(action: Action, server: Server, default_addr: &str) -> ExitCode {
    crate::memory_cli::exit(try_run(action, server, default_addr).await)
}

async fn try_run(action: Action, server: Server, default_addr: &str) -> Result<(), BoxError> {
    let (channel, token) = connect(&server, default_addr).await?;
    let mut client = PrivacyClient::new(channel);
    let status = |s: tonic::Status| format!("{:?}: {}", s.code(), s.message());
    match action {
        Action::Export(whose) => {
            let r = client
                .export_customer_data(with_token(whose.request(), token.as_deref())?)
                .await
                .map_err(status)?
                .into_inner();
            let value: serde_json::Value = serde_json::from_str(&r.json)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Action::Erase(whose) => {
            let r = client
                .erase_customer_data(with_token(whose.request(), token.as_deref())?)
                .await
                .map_err(status)?
                .into_inner();
            println!(
                "erased {} conversation(s) ({}): {} messages, {} drafts, {} deliveries, {} curated questions",
                r.conversation_ids.len(),
                r.conversation_ids.join(", "),
                r.messages,
                r.drafts,
                r.deliveries,
                r.curated_questions
            );
            if r.texts_kept_in_audit_chain > 0 {
                println!(
                    "note: {} audit events written before this version still hold an agent's edit or replacement text; the chain cannot change them",
                    r.texts_kept_in_audit_chain
                );
            }
        }
    }
    Ok(())
}
