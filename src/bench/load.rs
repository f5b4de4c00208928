//! CreateDraft over real gRPC: a server on scratch data, clients driving it
//! back to back or at a pace, on SQLite and on PostgreSQL replicas.

use super::{BoxError, Figures, pct, scratch};
use replygate::api::pb;
use replygate::config::{Config, EmbeddingConfig, EmbeddingProvider};
use replygate::testkit::Server;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The real server ([`Server`], the harness the tests use too) on `config`
/// over a scratch data dir.
pub(super) async fn start(mut config: Config) -> Result<Server, BoxError> {
    config.data_dir = scratch("data");
    Ok(Server::start(config).await?)
}

/// Stops a server from [`start`] and removes its scratch data dir.
pub(super) async fn stop(server: Server) {
    let data = server.data_dir.clone();
    let _ = server.stop().await;
    let _ = std::fs::remove_dir_all(data);
}

const QUESTIONS: &[&str] = &[
    "How do I change my phone number?",
    "How can I back up my chats?",
    "What's the weather in Rome tomorrow?",
    "Come faccio a eliminare il mio account?",
    "nao consigo restaurar meu backup",
    "I am not getting notifications",
    "How many devices can I link?",
    "Do you sell gift cards?",
];

/// Runs of a load level; the report shows the median one (by throughput):
/// this shared machine's speed moves between runs.
const REPEATS: usize = 3;

/// [`drive`] `REPEATS` times; the run with the median throughput.
pub(super) async fn drive_median(
    addrs: &[std::net::SocketAddr],
    clients: usize,
    seconds: u64,
    tag: &str,
    pace: Pace,
) -> Result<Load, BoxError> {
    let mut runs = Vec::new();
    for i in 0..REPEATS {
        let tag = format!("{tag}r{i}");
        runs.push(drive(addrs, clients, seconds, &tag, pace, false).await?);
    }
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    Ok(runs.swap_remove(REPEATS / 2))
}

/// The `n`th benchmark question (cycling) as a new conversation; with
/// `tickets`, its [`ticket`] goes in `context`.
pub(super) fn question(conversation_id: &str, n: usize, tickets: bool) -> pb::CreateDraftRequest {
    let context = if tickets {
        [("ticket".to_string(), ticket(conversation_id))].into()
    } else {
        Default::default()
    };
    pb::CreateDraftRequest {
        conversation_id: conversation_id.into(),
        message: QUESTIONS[n % QUESTIONS.len()].into(),
        channel: "chat".into(),
        context,
        ..Default::default()
    }
}

/// One draft per benchmark question, all at once and unmeasured, so that a
/// run does not count one-time costs (connections, caches, statement preparation).
pub(super) async fn warm_up(addr: std::net::SocketAddr) -> Result<(), BoxError> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect_lazy();
    let mut tasks = Vec::new();
    for i in 0..QUESTIONS.len() {
        let mut client = pb::drafts_client::DraftsClient::new(channel.clone());
        let req = question(&format!("warm-up-{i}"), i, false);
        tasks.push(tokio::spawn(async move { client.create_draft(req).await }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// How the load generator's clients send.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pace {
    /// Each client sends its next request as soon as the last is answered.
    BackToBack,
    /// The clients together offer this many requests per second, evenly
    /// spaced; latency counts from when a request was due, so a request sent
    /// late because the server was slow counts its wait (no coordinated omission).
    Offered(f64),
}

/// A load run's outcome.
pub(super) struct Load {
    /// Answered requests per second.
    pub(super) rps: f64,
    /// Latencies in ms, sorted.
    pub(super) latencies: Vec<f64>,
    /// Each answered request's conversation id with its latency in ms.
    pub(super) samples: Vec<(String, f64)>,
}

impl Load {
    fn p99(&self) -> f64 {
        pct(&self.latencies, 0.99)
    }

    /// "drafts/s | p50 | p99" for a table row.
    pub(super) fn cells(&self) -> String {
        format!(
            "{:.0} | {:.1} ms | {:.1} ms",
            self.rps,
            pct(&self.latencies, 0.5),
            self.p99()
        )
    }
}

/// A conversation id as letters only, so personal-data masking leaves it alone.
pub(super) fn ticket(conversation: &str) -> String {
    let mapped: String = conversation
        .chars()
        .map(|c| match c {
            '0'..='9' => (b'a' + (c as u8 - b'0')) as char,
            'a'..='z' => c,
            _ => 'k',
        })
        .collect();
    format!("tkt{mapped}")
}

/// `clients` concurrent callers of CreateDraft for `seconds`, spread
/// round-robin over `addrs`. With `tickets` each request carries its
/// [`ticket`] in `context`, for the fake LLM to report its own time by.
pub(super) async fn drive(
    addrs: &[std::net::SocketAddr],
    clients: usize,
    seconds: u64,
    tag: &str,
    pace: Pace,
    tickets: bool,
) -> Result<Load, BoxError> {
    let connections: Vec<tonic::transport::Channel> = (0..clients.clamp(addrs.len(), 16))
        .map(|i| {
            tonic::transport::Channel::from_shared(format!("http://{}", addrs[i % addrs.len()]))
                .map(|c| c.connect_lazy())
        })
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut client =
            pb::drafts_client::DraftsClient::new(connections[i % connections.len()].clone());
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut k = 0usize;
            loop {
                let due = match pace {
                    Pace::BackToBack => Instant::now(),
                    Pace::Offered(rate) => {
                        let every = clients as f64 / rate;
                        let at = (k as f64 + i as f64 / clients as f64) * every;
                        started + Duration::from_secs_f64(at)
                    }
                };
                if due >= deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let conversation_id = format!("{tag}-{i}-{k}");
                let req = question(&conversation_id, i + k, tickets);
                if client.create_draft(req).await.is_ok() {
                    samples.push((conversation_id, due.elapsed().as_secs_f64() * 1000.0));
                }
                k += 1;
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.1).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(Load {
        rps: samples.len() as f64 / elapsed,
        latencies,
        samples,
    })
}

pub(super) async fn create_draft_load(
    knowledge: &Path,
    seconds: u64,
    figures: &mut Figures,
) -> Result<String, BoxError> {
    let config = Config {
        knowledge_dir: knowledge.to_path_buf(),
        log_format: replygate::config::LogFormat::Text,
        embedding: EmbeddingConfig::none(),
        ..Config::default()
    };
    let server = start(config).await?;
    warm_up(server.grpc_addr).await?;
    let mut md = String::new();
    writeln!(
        md,
        "## CreateDraft over gRPC (extractive drafter, durable SQLite)\n\nEvery draft is committed with `synchronous = FULL` before the answer, by the group-commit writer (all drafts waiting when a transaction begins share its one fsync). 8 questions in en/pt/it, in and out of scope, each a new conversation. The load generator runs in the same process and shares the 2 cores.\n\n**Back to back** (the median of {REPEATS} runs of {seconds} s a level): each client sends its next CreateDraft as soon as the last is answered, so the server is saturated from a few clients on and latency is clients ÷ throughput (Little's law): at 64 clients a p99 of 20 ms would take more than 3,200 drafts/s.\n"
    )?;
    writeln!(
        md,
        "| concurrent clients | drafts/s | p50 | p99 |\n|---|---|---|---|"
    )?;
    for clients in [1usize, 16, 64, 256] {
        eprintln!("  {clients} clients");
        let tag = format!("load{clients}");
        let run = drive_median(
            &[server.grpc_addr],
            clients,
            seconds,
            &tag,
            Pace::BackToBack,
        )
        .await?;
        writeln!(md, "| {clients} | {} |", run.cells())?;
        if clients == 64 {
            figures.drafts_64 = Some((run.rps, run.p99()));
        }
    }
    writeln!(
        md,
        "\n**At an offered rate** (the median of {REPEATS} runs of {seconds} s a level): 64 clients together send the given number of drafts per second, evenly spaced (each client one every 64 ÷ rate seconds); latency counts from when a request was due, so time spent waiting behind a slow answer counts.\n"
    )?;
    writeln!(
        md,
        "| offered drafts/s (64 clients) | answered drafts/s | p50 | p99 |\n|---|---|---|---|"
    )?;
    for rate in [500.0, 1000.0, 1500.0] {
        eprintln!("  64 clients offering {rate}/s");
        let tag = format!("rate{rate}");
        let run = drive_median(&[server.grpc_addr], 64, seconds, &tag, Pace::Offered(rate)).await?;
        writeln!(md, "| {rate:.0} | {} |", run.cells())?;
        if rate == 1500.0 {
            figures.drafts_offered_1500 = Some((run.rps, run.p99()));
        }
    }
    writeln!(
        md,
        "\nWhat bounds it: every write goes through one writer connection (SQLite allows one writer). A group's writes run one statement at a time, 8–9 round trips to SQLite's thread per draft, then one commit and one fsync for the whole group (WAL checkpoints run on another connection). The writer shares the 2 cores with drafting (language detection is the largest part) and the load generator, so under load each round trip also waits for a free worker; as the offered rate nears what the writer carries, groups grow and so does latency."
    )?;
    writeln!(md)?;
    md.push_str(&stage_times()?);
    stop(server).await;
    Ok(md)
}

/// The passages the dense index holds now (`replygate_dense_passages`,
/// this process's registry): more than 0 once a server with an embedder
/// has indexed its articles.
pub(super) fn dense_passages() -> i64 {
    prometheus::gather()
        .iter()
        .filter(|f| f.name() == "replygate_dense_passages")
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_gauge().get_value() as i64)
        .max()
        .unwrap_or(0)
}

/// CreateDraft back to back at 1 and 16 clients with `[embedding] provider
/// = "local"` on `model_dir`: every draft's question is embedded and
/// searched densely beside BM25 (the help center's passages were embedded
/// at start). Fails when the server came up lexical only.
pub(super) async fn create_draft_embedded(
    knowledge: &Path,
    seconds: u64,
    model_dir: &Path,
    figures: &mut Figures,
) -> Result<String, BoxError> {
    let config = Config {
        knowledge_dir: knowledge.to_path_buf(),
        log_format: replygate::config::LogFormat::Text,
        embedding: EmbeddingConfig {
            provider: EmbeddingProvider::Local,
            model_dir: model_dir.to_path_buf(),
            ..EmbeddingConfig::default()
        },
        ..Config::default()
    };
    let started = Instant::now();
    let server = start(config).await?;
    server
        .wait_until_semantic(std::time::Duration::from_secs(3600))
        .await?;
    let start_s = started.elapsed().as_secs_f64();
    let passages = dense_passages();
    if passages == 0 {
        stop(server).await;
        return Err(format!(
            "{}: the server started without embeddings",
            model_dir.display()
        )
        .into());
    }
    warm_up(server.grpc_addr).await?;
    let model = super::scifact_hybrid::model_name(model_dir);
    let mut md = String::new();
    writeln!(
        md,
        "## CreateDraft with the local embedder ({model})\n\nThe same server, load and questions as above, with `[embedding] provider = \"local\"`, `model_dir = \"{}\"`: each draft embeds its question on the server's blocking threads (the embedder takes one batch per core at once) and ranks by BM25 and cosine over the help center's {passages} passages, embedded at start ({start_s:.1} s from start to hybrid retrieval). Back to back, the median of {REPEATS} runs of {seconds} s a level, beside the extractive lexical figures of the section above.\n",
        model_dir.display()
    )?;
    writeln!(
        md,
        "| concurrent clients | drafts/s | p50 | p99 |\n|---|---|---|---|"
    )?;
    for clients in [1usize, 16] {
        eprintln!("  {clients} clients, embeddings on");
        let tag = format!("embedded{clients}");
        let run = drive_median(
            &[server.grpc_addr],
            clients,
            seconds,
            &tag,
            Pace::BackToBack,
        )
        .await?;
        writeln!(md, "| {clients} | {} |", run.cells())?;
        if clients == 16 {
            figures.drafts_embedded_16 = Some((model.clone(), run.rps, pct(&run.latencies, 0.5)));
        }
    }
    writeln!(md)?;
    stop(server).await;
    Ok(md)
}

/// How long each drafting stage held its thread over every draft of the
/// section, against the 500 µs an async worker may be held.
fn stage_times() -> Result<String, BoxError> {
    let mut md = String::new();
    writeln!(
        md,
        "**Drafting stages** (every draft above; I/O-free stages, from `replygate_draft_stage_seconds`):\n\n| stage | drafts | mean | over 500 µs |\n|---|---|---|---|"
    )?;
    for family in prometheus::gather()
        .iter()
        .filter(|f| f.name() == "replygate_draft_stage_seconds")
    {
        for m in family.get_metric() {
            let stage = m
                .get_label()
                .iter()
                .find(|l| l.name() == "stage")
                .map_or("?", |l| l.value());
            let h = m.get_histogram();
            let count = h.get_sample_count();
            let within = h
                .get_bucket()
                .iter()
                .find(|b| (b.upper_bound() - 0.000_5).abs() < 1e-9)
                .map_or(0, |b| b.cumulative_count());
            let over = count.saturating_sub(within);
            writeln!(
                md,
                "| {stage} | {count} | {:.1} µs | {over} ({:.2}%) |",
                h.get_sample_sum() / count.max(1) as f64 * 1e6,
                over as f64 * 100.0 / count.max(1) as f64
            )?;
        }
    }
    writeln!(md)?;
    Ok(md)
}

/// CreateDraft throughput on PostgreSQL with one replica and with two, in a
/// scratch schema that is dropped afterwards.
pub(super) async fn create_draft_postgres(
    knowledge: &Path,
    seconds: u64,
    url: &str,
) -> Result<String, BoxError> {
    use sqlx::Connection;
    let mut md = String::new();
    writeln!(
        md,
        "## CreateDraft on PostgreSQL, one and two replicas\n\nThe same load as above against `database_url = \"postgres://...\"` (PostgreSQL {} on this machine, default settings, `synchronous_commit = on`); the replicas run in this process, each with its own index and pool, and the clients are spread over them round-robin. On 2 cores the replicas share the CPU with the database and the load generator, so the second replica shows the cost of coordination more than added capacity.\n",
        {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut conn)
                .await?;
            conn.close().await?;
            v
        }
    )?;
    writeln!(
        md,
        "| replicas | concurrent clients | drafts/s | p50 | p99 |\n|---|---|---|---|---|"
    )?;
    for replicas in [1usize, 2] {
        let schema = format!("bench_{}", replygate::model::new_id().replace('-', ""));
        let mut admin = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await?;
        let sep = if url.contains('?') { '&' } else { '?' };
        let scoped = format!("{url}{sep}options[search_path]={schema}");
        let mut servers = Vec::new();
        for _ in 0..replicas {
            let config = Config {
                knowledge_dir: knowledge.to_path_buf(),
                log_format: replygate::config::LogFormat::Text,
                database_url: scoped.clone(),
                embedding: EmbeddingConfig::none(),
                ..Config::default()
            };
            let server = start(config).await?;
            warm_up(server.grpc_addr).await?;
            servers.push(server);
        }
        let addrs: Vec<_> = servers.iter().map(|s| s.grpc_addr).collect();
        for clients in [1usize, 16, 64] {
            eprintln!("  {replicas} replica(s), {clients} clients");
            let tag = format!("pg{replicas}-{clients}");
            let run = drive_median(&addrs, clients, seconds, &tag, Pace::BackToBack).await?;
            writeln!(md, "| {replicas} | {clients} | {} |", run.cells())?;
        }
        for server in servers {
            stop(server).await;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
    }
    writeln!(md)?;
    Ok(md)
}
