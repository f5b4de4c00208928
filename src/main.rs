//! The `replygate` command line.

mod ask_cli;
mod bench;
mod evaluate;
mod memory_cli;
mod model_fetch;
mod privacy_cli;

use clap::{Parser, Subcommand};
use replygate::auth::Role;
use replygate::config::{self, AuthMode, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

/// Drafting makes many small allocations (tokens, terms, JSON): with mimalloc
/// a draft costs about 10-20% less CPU than with the system allocator
/// (measured with `replygate bench --only drafts`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "replygate",
    version,
    about = "Drafts support replies from a help center; humans review the unsure ones",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command: `serve` with these flags.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// TOML config file; REPLYGATE_* environment variables and these flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Help-center folder (<locale>/<slug>.md) synced at start-up [default: knowledge]
    #[arg(long)]
    knowledge: Option<PathBuf>,
    /// Where the database and the search index live [default: ./data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// [default: 127.0.0.1:50051]
    #[arg(long)]
    grpc_addr: Option<String>,
    /// [default: 127.0.0.1:9090]
    #[arg(long)]
    http_addr: Option<String>,
    /// "tokens": every call needs a configured bearer token, and with none configured (protected mode) only clients on this machine are served, without one; "none": nobody is checked (local use only) [default: tokens]
    #[arg(long, value_parser = parse_auth)]
    auth: Option<AuthMode>,
}

fn parse_auth(s: &str) -> Result<AuthMode, String> {
    match s {
        "tokens" => Ok(AuthMode::Tokens),
        "none" => Ok(AuthMode::Disabled),
        _ => Err(format!("{s:?}: use \"tokens\" or \"none\"")),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC (Drafts, Review, Knowledge, Insights, health, reflection) and HTTP (/healthz, /metrics).
    Serve(ServeArgs),
    /// Measure retrieval (SciFact, beside bm25s), CreateDraft under load, the time around an LLM, 10k articles, and the local embedder (--model-dir).
    Bench {
        /// BEIR SciFact folder (corpus.jsonl, queries.jsonl, qrels/test.tsv): unzip https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip
        #[arg(long, default_value = "../shared/eval/scifact")]
        scifact: PathBuf,
        /// Help center for the CreateDraft runs.
        #[arg(long, default_value = "knowledge")]
        knowledge: PathBuf,
        /// Seconds per load level.
        #[arg(long, default_value_t = 8)]
        seconds: u64,
        /// Articles for the knowledge-scale run.
        #[arg(long, default_value_t = 10_000)]
        articles: usize,
        /// Write the Markdown report here (also printed).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also measure CreateDraft on this PostgreSQL with 1 and 2 replicas (uses a scratch schema).
        #[arg(long)]
        database_url: Option<String>,
        /// Run only these sections (repeatable): retrieval, drafts, postgres, llm, knowledge, embedding.
        #[arg(long, value_enum)]
        only: Vec<bench::Section>,
        /// A sentence model folder (Hugging Face layout) to measure the local embedder on.
        #[arg(long)]
        model_dir: Option<PathBuf>,
    },
    /// Run labeled questions through the drafting pipeline (nothing is stored) and report routing quality.
    Eval {
        /// JSON lines: {"text": ..., "expected": "<article id>" | "out_of_scope", "locale"?: ..., "channel"?: ...}
        #[arg(long)]
        questions: PathBuf,
        /// Help-center folder to answer from [default: the config's knowledge_dir]
        #[arg(long)]
        knowledge: Option<PathBuf>,
        /// TOML config file (thresholds, LLM, ...); REPLYGATE_* variables apply too.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The auto-send precision to find a threshold for.
        #[arg(long, default_value_t = 0.95)]
        target_precision: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Simulate a desk that learns: review the questions of FILE in order
        /// (without FILE: the first part of --questions) as an agent would,
        /// then measure --questions (without FILE: the rest) after each of --reviewed.
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
        replay: Option<PathBuf>,
        /// How many reviewed questions to measure after, with --replay.
        #[arg(long, value_delimiter = ',', default_value = "0,100,250,500")]
        reviewed: Vec<usize>,
    },
    /// The tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Bearer tokens for platforms, agents, editors and viewers.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The answer memory on a running server: list, show, disable, enable, delete curated answers (an editor's token in REPLYGATE_TOKEN).
    Memory {
        #[command(subcommand)]
        action: memory_cli::Action,
        #[command(flatten)]
        server: memory_cli::Server,
        /// TOML config file, for its grpc_addr; REPLYGATE_* variables apply too.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Send one customer message to a running server and print its draft (no gRPC client needed).
    Ask {
        #[command(flatten)]
        ask: ask_cli::Message,
        #[command(flatten)]
        server: memory_cli::Server,
        /// TOML config file, for its grpc_addr; REPLYGATE_* variables apply too.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// A customer's data on a running server: export it as JSON, or erase it (an admin's token in REPLYGATE_TOKEN).
    Privacy {
        #[command(subcommand)]
        action: privacy_cli::Action,
        #[command(flatten)]
        server: memory_cli::Server,
        /// TOML config file, for its grpc_addr; REPLYGATE_* variables apply too.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Sentence-embedding models for `[embedding] provider = "local"`.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
}

#[derive(Subcommand)]
enum ModelAction {
    /// Download a Hugging Face model into <data_dir>/models ahead of time (for hosts without internet at run time) and check that it loads; HF_ENDPOINT names a mirror.
    Fetch {
        /// Hugging Face model id, e.g. sentence-transformers/all-MiniLM-L6-v2 [default: the config's embedding.model, else intfloat/multilingual-e5-small]
        #[arg(long)]
        model: Option<String>,
        /// Where models/ lives [default: the config's data_dir, ./data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML config file; REPLYGATE_* variables apply too.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Make a new random token; prints it once, and the [[tokens]] entry (its hash) for the config.
    Create {
        /// Who holds it: the agent's or platform's name, as reviews and changes will record it.
        #[arg(long)]
        subject: String,
        /// platform, agent, editor, viewer or admin (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Recompute the hash chain of the store the config names; exit 1 naming the first broken link.
    Verify {
        /// TOML config file; REPLYGATE_* variables apply too (database_url, data_dir).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the SQLite database lives [default: ./data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    match command {
        Command::Serve(ServeArgs {
            config,
            knowledge,
            data_dir,
            grpc_addr,
            http_addr,
            auth,
        }) => {
            let overrides = Overrides {
                knowledge_dir: knowledge,
                data_dir,
                grpc_addr,
                http_addr,
                auth,
            };
            let config = match load_config(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(code) => return code,
            };
            replygate::telemetry::init(config.log_format);
            match serve(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "replygate stopped");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench {
            scifact,
            knowledge,
            seconds,
            articles,
            out,
            database_url,
            only,
            model_dir,
        } => {
            if std::env::var_os("RUST_LOG").is_none() {
                // SAFETY: single-threaded at this point, before any logging starts.
                unsafe { std::env::set_var("RUST_LOG", "warn") };
            }
            replygate::telemetry::init(config::LogFormat::Text);
            let opts = bench::Options {
                scifact,
                knowledge,
                seconds,
                articles,
                database_url,
                only,
                model_dir,
            };
            match bench::run(&opts).await {
                Ok(md) => {
                    print!("{md}");
                    if let Some(path) = out
                        && let Err(e) = std::fs::write(&path, &md)
                    {
                        eprintln!("error: cannot write {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Eval {
            questions,
            knowledge,
            config,
            target_precision,
            json,
            replay,
            reviewed,
        } => {
            let overrides = Overrides {
                knowledge_dir: knowledge,
                ..Default::default()
            };
            let config = match load_config(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if std::env::var_os("RUST_LOG").is_none() {
                // SAFETY: single-threaded at this point, before any logging starts.
                unsafe { std::env::set_var("RUST_LOG", "warn") };
            }
            replygate::telemetry::init(config.log_format);
            let run = evaluate::Run {
                questions,
                target_precision,
                json,
                replay: replay.map(|f| (f, reviewed)),
            };
            match evaluate::evaluate(config, run).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Audit {
            action: AuditAction::Verify { config, data_dir },
        } => {
            let overrides = Overrides {
                data_dir,
                ..Default::default()
            };
            let config = match load_config(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(code) => return code,
            };
            verify_audit(&config).await
        }
        Command::Token {
            action: TokenAction::Create { subject, roles },
        } => create_token(&subject, &roles),
        Command::Memory {
            action,
            server,
            config,
        } => match grpc_addr(config.as_deref()) {
            Ok(addr) => memory_cli::run(action, server, &addr).await,
            Err(code) => code,
        },
        Command::Ask {
            ask,
            server,
            config,
        } => match grpc_addr(config.as_deref()) {
            Ok(addr) => ask_cli::run(ask, server, &addr).await,
            Err(code) => code,
        },
        Command::Privacy {
            action,
            server,
            config,
        } => match grpc_addr(config.as_deref()) {
            Ok(addr) => privacy_cli::run(action, server, &addr).await,
            Err(code) => code,
        },
        Command::Model {
            action:
                ModelAction::Fetch {
                    model,
                    data_dir,
                    config,
                },
        } => {
            let overrides = Overrides {
                data_dir,
                ..Default::default()
            };
            let config = match load_config(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(code) => return code,
            };
            replygate::telemetry::init(config.log_format);
            model_fetch::run(config, model).await
        }
    }
}

/// Prints a new token and the config entry that admits it.
fn create_token(subject: &str, roles: &[Role]) -> ExitCode {
    let (token, sha256) = match replygate::auth::new_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let entry = replygate::auth::TokenConfig {
        subject: subject.to_string(),
        roles: roles.to_vec(),
        sha256,
    };
    if let Err(e) = replygate::auth::Tokens::from_config(std::slice::from_ref(&entry)) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let roles = roles
        .iter()
        .map(|r| format!("\"{}\"", r.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "token for {subject} (shown once; give it to them, it is not stored): send it as \"authorization: Bearer <token>\""
    );
    println!("{token}");
    eprintln!("\nadd to the config (only the hash is kept there):");
    println!(
        "[[tokens]]\nsubject = {}\nroles = [{roles}]\nsha256 = \"{}\"",
        toml::Value::String(entry.subject.clone()),
        entry.sha256
    );
    ExitCode::SUCCESS
}

/// Prints the verdict: the event count and head hash, or the first broken link.
async fn verify_audit(config: &config::Config) -> ExitCode {
    use replygate::audit::Verdict;
    // Opening would create an empty database: say there is none instead.
    if config.database_url.is_empty() && !config.data_dir.join("replygate.db").is_file() {
        eprintln!(
            "error: no database at {}",
            config.data_dir.join("replygate.db").display()
        );
        return ExitCode::from(2);
    }
    let verdict = match replygate::storage::open_for_reading(config).await {
        Ok(store) => replygate::audit::verify(&store).await,
        Err(e) => Err(e),
    };
    match verdict {
        Ok(Verdict::Intact { events, head }) => {
            println!("audit chain intact: {events} events, head {head}");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Broken {
            position,
            seq,
            reason,
        }) => {
            let seq = seq.map(|s| format!(" (event seq {s})")).unwrap_or_default();
            println!("audit chain broken at position {position}{seq}: {reason}");
            ExitCode::FAILURE
        }
        Ok(Verdict::Altered { record, reason, .. }) => {
            println!("audit chain intact, but {record} {reason}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve(config: config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let grpc = tokio::net::TcpListener::bind(&config.grpc_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.grpc_addr))?;
    let http = tokio::net::TcpListener::bind(&config.http_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.http_addr))?;
    replygate::run(
        config,
        replygate::Listeners { grpc, http },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The config from the file, the environment and `overrides`; a bad one is
/// reported on stderr and ends the command with exit code 2.
fn load_config(
    file: Option<&std::path::Path>,
    overrides: &Overrides,
) -> Result<config::Config, ExitCode> {
    config::load(file, std::env::vars(), overrides).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// The server address a client command uses by default: the config's grpc_addr.
fn grpc_addr(config: Option<&std::path::Path>) -> Result<String, ExitCode> {
    load_config(config, &Overrides::default()).map(|c| c.grpc_addr)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
