//! `replygate eval`: routing quality on labeled questions, and with
//! `--replay` a desk that learns from its agents, measured as it goes.

use replygate::eval::{self, Checkpoint, Question};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub struct Run {
    pub questions: PathBuf,
    pub target_precision: f64,
    pub json: bool,
    /// The file whose questions are reviewed ("" for the first part of
    /// `questions`), and after how many to measure.
    pub replay: Option<(PathBuf, Vec<usize>)>,
}

/// Answers from a throwaway data dir, so evaluation never touches a live one.
pub async fn evaluate(
    mut config: replygate::config::Config,
    run: Run,
) -> Result<(), Box<dyn std::error::Error>> {
    if !(0.0..=1.0).contains(&run.target_precision) {
        return Err("--target-precision must be between 0 and 1".into());
    }
    let questions = eval::read_questions(&run.questions)?;
    let live_dir = config.data_dir.clone();
    let scratch =
        std::env::temp_dir().join(format!("replygate-eval-{}", replygate::model::new_id()));
    config.data_dir = scratch.clone();
    let result = async {
        let app = replygate::app::App::open(config).await?;
        app.knowledge.index_passages().await?;
        let mut out = std::io::stdout().lock();
        match &run.replay {
            None => {
                let outcomes =
                    eval::run(&app.drafter, &questions, |done, total| bar("", done, total)).await?;
                let report = eval::report(&outcomes, run.target_precision);
                record(&live_dir, &run.questions, &report);
                if run.json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
                } else {
                    write!(out, "{}", report.render())?;
                }
            }
            Some((file, reviewed)) => {
                let (stream, measured) = split(file, questions, reviewed)?;
                let checkpoints = eval::replay(
                    &app,
                    &stream,
                    &measured,
                    reviewed,
                    run.target_precision,
                    bar,
                )
                .await?;
                if run.json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&checkpoints)?)?;
                } else {
                    write!(out, "{}", render_curve(&checkpoints))?;
                }
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Keeps the run's headline figures in the data dir, where the console's
/// managers' page shows them; a run that cannot record them still reports.
fn record(data_dir: &std::path::Path, file: &std::path::Path, report: &eval::Report) {
    let c = &report.configured;
    let summary = serde_json::json!({
        "file": file.display().to_string(),
        "recorded_at": replygate::model::rfc3339(replygate::model::now_ms()),
        "questions": report.questions,
        "top1": report.top1,
        "top3": report.top3,
        "auto_sent": c.auto_sent,
        "precision": c.precision,
        "precision_lower_95": c.precision_lower,
        "coverage": c.coverage,
        "out_of_scope_leakage": c.leakage,
    });
    let path = data_dir.join(replygate::console::LAST_EVAL_FILE);
    let written =
        std::fs::create_dir_all(data_dir).and_then(|()| std::fs::write(&path, summary.to_string()));
    if let Err(e) = written {
        eprintln!(
            "note: the figures were not recorded in {}: {e}",
            path.display()
        );
    }
}

/// The questions reviewed and those measured: another file's and these,
/// or the first part of these and the rest.
fn split(
    file: &std::path::Path,
    questions: Vec<Question>,
    reviewed: &[usize],
) -> Result<(Vec<Question>, Vec<Question>), Box<dyn std::error::Error>> {
    if !file.as_os_str().is_empty() {
        return Ok((eval::read_questions(file)?, questions));
    }
    let most = reviewed.iter().copied().max().unwrap_or(0);
    if most >= questions.len() {
        return Err(format!(
            "--reviewed {most} leaves no question of {} to measure; give --replay FILE or review fewer",
            questions.len()
        )
        .into());
    }
    let mut stream = questions;
    let measured = stream.split_off(most);
    Ok((stream, measured))
}

/// The learning curve: routing on the measured questions after each checkpoint.
fn render_curve(checkpoints: &[Checkpoint]) -> String {
    let mut s = String::from(
        "reviewed  auto-sent  from memory  precision  lower 95%  coverage  leakage   top-1\n",
    );
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let opt = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "-".into());
    for c in checkpoints {
        let r = &c.report;
        let memory = r
            .auto_sent_by_generator()
            .iter()
            .find(|(g, _)| g == "memory")
            .map_or(0, |(_, n)| *n);
        s.push_str(&format!(
            "{:>8} {:>10} {:>12} {:>10} {:>10} {:>9} {:>8} {:>7}\n",
            c.reviewed,
            r.configured.auto_sent,
            memory,
            opt(r.configured.precision),
            opt(r.configured.precision_lower),
            pct(r.configured.coverage),
            pct(r.configured.leakage),
            pct(r.top1),
        ));
    }
    if let Some(last) = checkpoints.last() {
        let d = &last.desk;
        s.push_str(&format!(
            "\nthe desk drafted {} questions: {} auto-sent, {} approved as drafted, {} approved with an edit, {} rejected\n",
            d.questions, d.auto_sent, d.approved, d.edited, d.rejected
        ));
        s.push_str(&format!(
            "\nafter {} reviewed, on the {} measured questions:\n\n{}",
            last.reviewed,
            last.report.questions,
            last.report.render()
        ));
    }
    s
}

/// A progress bar on stderr when it is a terminal.
fn bar(what: &str, done: usize, total: usize) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let filled = done * 30 / total.max(1);
    eprint!(
        "\r{what:>9} [{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(30 - filled)
    );
    if done == total {
        eprintln!();
    }
}
