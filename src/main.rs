//! The `replygate` command line.

use clap::{Parser, Subcommand};
use replygate::config::{self, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "replygate",
    version,
    about = "Drafts support replies from a help center; humans review the unsure ones"
)]
struct Cli {
    /// Without a command: `serve` with its defaults.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC (Drafts, Review, Knowledge, health, reflection) and HTTP (/healthz, /metrics).
    Serve {
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
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        config: None,
        knowledge: None,
        data_dir: None,
        grpc_addr: None,
        http_addr: None,
    });
    match command {
        Command::Serve {
            config,
            knowledge,
            data_dir,
            grpc_addr,
            http_addr,
        } => {
            let overrides = Overrides {
                knowledge_dir: knowledge,
                data_dir,
                grpc_addr,
                http_addr,
            };
            let config = match config::load(config.as_deref(), std::env::vars(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            replygate::telemetry::init(&config.log_format);
            match serve(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "replygate stopped");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
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
