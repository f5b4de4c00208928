//! Routing evaluation: labeled questions go through the same pipeline as
//! `CreateDraft` (nothing is stored), and the report says how often auto-sent
//! replies would be right, how much would still reach agents, how many
//! uncovered questions would slip through, and which threshold reaches a
//! wanted precision.

use crate::drafting::{DraftRequest, Drafter};
use crate::model::{DraftState, Level};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Empty(String),
    #[error(transparent)]
    Drafting(#[from] crate::drafting::Error),
    /// A simulated review decision failed (replay).
    #[error("review: {0}")]
    Review(String),
}

/// One labeled question: `expected` is an article id or "out_of_scope".
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub text: String,
    pub expected: String,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// Reads a JSON-lines file of questions; blank lines are skipped.
pub fn read_questions(path: &Path) -> Result<Vec<Question>, Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).map_err(|e| Error::Line {
            path: shown.clone(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if q.text.trim().is_empty() || q.expected.trim().is_empty() {
            return Err(Error::Line {
                path: shown.clone(),
                line: i + 1,
                message: "text and expected must not be empty".into(),
            });
        }
        out.push(q);
    }
    if out.is_empty() {
        return Err(Error::Empty(format!("{shown}: no questions")));
    }
    Ok(out)
}

/// What the pipeline did with one question.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    pub text: String,
    pub expected: String,
    /// The language the question was answered in (detected).
    pub locale: String,
    pub in_scope: bool,
    pub retrieved: Vec<String>,
    pub cited: Option<String>,
    pub score: f64,
    pub level: Level,
    pub auto_sent: bool,
    pub forced_review: bool,
    /// "extractive", "memory" or the model's name.
    pub generator: String,
    /// How close the answer memory came (however far).
    pub nearest_memory: Option<crate::drafting::NearestMemory>,
    /// The score by retrieval alone, before writing (None: from the memory).
    pub retrieval_score: Option<f64>,
    /// Every confidence signal and its value, as the draft's reasons list them.
    pub signals: std::collections::BTreeMap<String, f64>,
}

impl Outcome {
    pub fn correct(&self) -> bool {
        self.in_scope && self.cited.as_deref() == Some(self.expected.as_str())
    }
}

/// The request a labeled question makes, in a conversation of its own.
fn request(q: &Question, conversation_id: String) -> DraftRequest {
    DraftRequest {
        conversation_id,
        message: q.text.clone(),
        locale: q.locale.clone().unwrap_or_default(),
        channel: q.channel.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// Runs every question; `progress(done, total)` is called after each.
pub async fn run(
    drafter: &Drafter,
    questions: &[Question],
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Outcome>, Error> {
    let mut out = Vec::with_capacity(questions.len());
    for (i, q) in questions.iter().enumerate() {
        let c = drafter.compose(&request(q, format!("eval-{i}"))).await?;
        out.push(Outcome {
            text: q.text.clone(),
            expected: q.expected.clone(),
            locale: c.locale.clone(),
            in_scope: q.expected != OUT_OF_SCOPE,
            retrieved: c.retrieved,
            cited: c.citations.first().map(|c| c.article_id.clone()),
            score: c.confidence.score,
            level: c.confidence.level,
            auto_sent: c.state == DraftState::AutoApproved,
            forced_review: c.forced_review,
            generator: c.generator,
            nearest_memory: c.nearest_memory,
            retrieval_score: c.retrieval_score,
            signals: c
                .confidence
                .reasons
                .iter()
                .map(|r| (r.signal.clone(), r.value))
                .collect(),
        });
        progress(i + 1, questions.len());
    }
    Ok(out)
}

/// What a simulated desk did with the reviewed part of a replay.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Reviewed {
    /// Questions drafted in the reviewed part.
    pub questions: usize,
    /// Of them: auto-sent (no agent saw them), approved as drafted, approved
    /// with the expected article's text as the edit, rejected (out of scope).
    pub auto_sent: usize,
    pub approved: usize,
    pub edited: usize,
    pub rejected: usize,
}

/// The routing after `reviewed` questions were reviewed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Checkpoint {
    pub reviewed: usize,
    pub desk: Reviewed,
    pub report: Report,
}

/// The agents of a replayed desk, in turn: approvals of one answer by
/// several of them count as independent.
const REPLAY_AGENTS: [&str; 3] = ["replay-agent-1", "replay-agent-2", "replay-agent-3"];

/// Simulates a desk: the `stream` questions are drafted and stored in order
/// as a platform would send them, and each draft that waits for review is
/// decided as a careful agent would (a draft citing the expected article is
/// approved; a wrong one is approved with the expected article's text as
/// the edit; an out-of-scope one is rejected). After the first `n` of each
/// `checkpoints`, `measured` is routed (nothing stored) and reported.
pub async fn replay(
    app: &crate::app::App,
    stream: &[Question],
    measured: &[Question],
    checkpoints: &[usize],
    target_precision: f64,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<Vec<Checkpoint>, Error> {
    let mut checkpoints: Vec<usize> = checkpoints.to_vec();
    checkpoints.sort_unstable();
    checkpoints.dedup();
    let mut desk = Reviewed::default();
    let mut out = Vec::new();
    let mut next = 0;
    for &n in &checkpoints {
        let until = n.min(stream.len());
        while next < until {
            review_one(app, &stream[next], next, &mut desk).await?;
            next += 1;
            progress("reviewing", next, until);
        }
        let outcomes = run(&app.drafter, measured, |done, total| {
            progress("measuring", done, total)
        })
        .await?;
        out.push(Checkpoint {
            reviewed: until,
            desk: desk.clone(),
            report: report(&outcomes, target_precision),
        });
    }
    Ok(out)
}

async fn review_one(
    app: &crate::app::App,
    q: &Question,
    i: usize,
    desk: &mut Reviewed,
) -> Result<(), Error> {
    let draft = app
        .drafter
        .create(request(q, format!("replay-{i}")))
        .await?;
    desk.questions += 1;
    if draft.state != DraftState::PendingReview {
        desk.auto_sent += 1;
        return Ok(());
    }
    let agent = REPLAY_AGENTS[i % REPLAY_AGENTS.len()];
    let decided = if q.expected == OUT_OF_SCOPE {
        desk.rejected += 1;
        app.review
            .reject(&draft.id, agent, "not covered by the help center", None)
            .await
    } else if draft.citations.first().map(|c| c.article_id.as_str()) == Some(q.expected.as_str()) {
        desk.approved += 1;
        app.review.approve(&draft.id, agent, None).await
    } else {
        desk.edited += 1;
        let article = app
            .knowledge
            .get(&q.expected)
            .await
            .map_err(|e| Error::Line {
                path: "replay".into(),
                line: i + 1,
                message: format!("expected article {}: {e}", q.expected),
            })?;
        let edit = clip_bytes(&article.body, app.config.limits.max_reply_bytes);
        app.review.approve(&draft.id, agent, Some(edit)).await
    };
    decided.map_err(|e| Error::Review(e.to_string()))?;
    Ok(())
}

/// The longest prefix of `text` within `max` bytes, cut at a char boundary.
fn clip_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Auto-send results under one rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Routing {
    /// Score threshold, when the rule is one.
    pub threshold: Option<f64>,
    pub auto_sent: usize,
    /// Auto-sent and citing the expected article ÷ auto-sent (out-of-scope auto-sent counts as wrong).
    pub precision: Option<f64>,
    /// The Wilson score interval's 95% lower bound on that precision: with
    /// few auto-sent answers, a perfect point estimate says little.
    pub precision_lower: Option<f64>,
    /// In-scope auto-sent ÷ in-scope.
    pub coverage: f64,
    /// Out-of-scope auto-sent ÷ out-of-scope.
    pub leakage: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub questions: usize,
    pub in_scope: usize,
    pub out_of_scope: usize,
    /// Share of in-scope questions whose expected article is retrieved first / in the top 3.
    pub top1: f64,
    pub top3: f64,
    /// Rows LOW, MEDIUM, HIGH; columns correct, wrong, out of scope.
    pub levels: [[usize; 3]; 3],
    /// At the configured thresholds (and policies).
    pub configured: Routing,
    /// Auto-send at each score threshold.
    pub curve: Vec<Routing>,
    pub target_precision: f64,
    /// The lowest threshold whose precision's 95% lower bound reaches the target.
    pub suggested: Option<Routing>,
    /// Every question's outcome (in the JSON form only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<Outcome>,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// The lower end of the Wilson score interval at 95% for `successes` out of
/// `n` (None for no trials).
pub fn wilson_lower(successes: usize, n: usize) -> Option<f64> {
    if n == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - spread) / (1.0 + z2 / n)).max(0.0))
}

fn routing(
    outcomes: &[Outcome],
    threshold: Option<f64>,
    sent: impl Fn(&Outcome) -> bool,
) -> Routing {
    let auto: Vec<&Outcome> = outcomes.iter().filter(|o| sent(o)).collect();
    let in_scope = outcomes.iter().filter(|o| o.in_scope).count();
    let oos = outcomes.len() - in_scope;
    let right = auto.iter().filter(|o| o.correct()).count();
    Routing {
        threshold,
        auto_sent: auto.len(),
        precision: (!auto.is_empty()).then(|| ratio(right, auto.len())),
        precision_lower: wilson_lower(right, auto.len()),
        coverage: ratio(auto.iter().filter(|o| o.in_scope).count(), in_scope),
        leakage: ratio(auto.iter().filter(|o| !o.in_scope).count(), oos),
    }
}

pub fn report(outcomes: &[Outcome], target_precision: f64) -> Report {
    let in_scope: Vec<&Outcome> = outcomes.iter().filter(|o| o.in_scope).collect();
    let top = |k: usize| {
        ratio(
            in_scope
                .iter()
                .filter(|o| o.retrieved.iter().take(k).any(|id| *id == o.expected))
                .count(),
            in_scope.len(),
        )
    };
    let mut levels = [[0usize; 3]; 3];
    for o in outcomes {
        let row = match o.level {
            Level::Low => 0,
            Level::Medium => 1,
            Level::High => 2,
        };
        let col = if !o.in_scope {
            2
        } else if o.correct() {
            0
        } else {
            1
        };
        levels[row][col] += 1;
    }
    let curve: Vec<Routing> = (0..=20)
        .map(|i| i as f64 * 0.05)
        .map(|t| {
            routing(outcomes, Some(t), |o| {
                o.score >= t - 1e-9 && !o.forced_review
            })
        })
        .collect();
    let suggested = (0..=100)
        .map(|i| i as f64 / 100.0)
        .map(|t| {
            routing(outcomes, Some(t), |o| {
                o.score >= t - 1e-9 && !o.forced_review
            })
        })
        .find(|r| r.precision_lower.is_some_and(|p| p >= target_precision));
    Report {
        questions: outcomes.len(),
        in_scope: in_scope.len(),
        out_of_scope: outcomes.len() - in_scope.len(),
        top1: top(1),
        top3: top(3),
        levels,
        configured: routing(outcomes, None, |o| o.auto_sent),
        curve,
        target_precision,
        suggested,
        outcomes: outcomes.to_vec(),
    }
}

fn pct(x: f64) -> String {
    format!("{:5.1}%", x * 100.0)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "    -".into())
}

impl Report {
    /// How many were auto-sent by each generator, most first.
    pub fn auto_sent_by_generator(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for o in self.outcomes.iter().filter(|o| o.auto_sent) {
            *counts.entry(o.generator.as_str()).or_default() += 1;
        }
        let mut out: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(g, n)| (g.to_string(), n))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// The human-readable form.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "questions {}: {} in scope, {} out of scope\n\n",
            self.questions, self.in_scope, self.out_of_scope
        ));
        s.push_str(&format!(
            "retrieval (in scope)   top-1 {}   top-3 {}\n\n",
            pct(self.top1),
            pct(self.top3)
        ));
        s.push_str("routing        correct    wrong  out-of-scope\n");
        for (name, row) in ["LOW", "MEDIUM", "HIGH"].iter().zip(self.levels) {
            s.push_str(&format!(
                "{name:<10} {:>11} {:>8} {:>13}\n",
                row[0], row[1], row[2]
            ));
        }
        let c = &self.configured;
        s.push_str(&format!(
            "\nat the configured thresholds: auto-sent {}  precision {} (95% lower bound {})  coverage {}  out-of-scope leakage {}\n",
            c.auto_sent,
            opt_pct(c.precision),
            opt_pct(c.precision_lower).trim(),
            pct(c.coverage),
            pct(c.leakage)
        ));
        let by_generator = self.auto_sent_by_generator();
        if !by_generator.is_empty() {
            let parts: Vec<String> = by_generator
                .iter()
                .map(|(g, n)| format!("{g} {n}"))
                .collect();
            s.push_str(&format!("auto-sent by generator: {}\n", parts.join(", ")));
        }
        s.push_str("\nthreshold  auto-sent  precision  lower 95%  coverage  leakage\n");
        for r in &self.curve {
            s.push_str(&format!(
                "{:>9.2} {:>10} {:>10} {:>10} {:>9} {:>8}\n",
                r.threshold.unwrap_or_default(),
                r.auto_sent,
                opt_pct(r.precision),
                opt_pct(r.precision_lower),
                pct(r.coverage),
                pct(r.leakage)
            ));
        }
        match &self.suggested {
            Some(r) => s.push_str(&format!(
                "\nfor precision >= {} at the 95% lower bound: [routing.default] high = {:.2} (auto-sent {}, precision {}, lower bound {}, coverage {}, leakage {})\n",
                pct(self.target_precision).trim(),
                r.threshold.unwrap_or_default(),
                r.auto_sent,
                opt_pct(r.precision).trim(),
                opt_pct(r.precision_lower).trim(),
                pct(r.coverage).trim(),
                pct(r.leakage).trim()
            )),
            None => s.push_str(&format!(
                "\nno threshold reaches precision {} at the 95% lower bound\n",
                pct(self.target_precision).trim()
            )),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(expected: &str, cited: &str, score: f64, auto: bool) -> Outcome {
        Outcome {
            text: String::new(),
            expected: expected.into(),
            locale: "en".into(),
            in_scope: expected != OUT_OF_SCOPE,
            retrieved: vec![cited.into(), "x".into()],
            cited: Some(cited.into()),
            score,
            level: if score >= 0.7 {
                Level::High
            } else if score >= 0.4 {
                Level::Medium
            } else {
                Level::Low
            },
            auto_sent: auto,
            forced_review: false,
            generator: "extractive".into(),
            nearest_memory: None,
            retrieval_score: None,
            signals: Default::default(),
        }
    }

    #[test]
    fn precision_coverage_and_leakage_follow_their_definitions() {
        let outcomes = vec![
            o("a", "a", 0.9, true),
            o("b", "c", 0.8, true),
            o(OUT_OF_SCOPE, "a", 0.75, true),
            o("d", "d", 0.5, false),
            o(OUT_OF_SCOPE, "a", 0.1, false),
        ];
        let r = report(&outcomes, 0.99);
        assert_eq!((r.in_scope, r.out_of_scope), (3, 2));
        assert!((r.top1 - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.configured.auto_sent, 3);
        assert!((r.configured.precision.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!((r.configured.coverage - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.configured.leakage - 0.5).abs() < 1e-9);
        assert_eq!(r.levels[2], [1, 1, 1]);
        // One right answer above 0.80 is a perfect point estimate, but its
        // 95% lower bound (20.7%) reaches no high target.
        let at_081 = routing(&outcomes, Some(0.81), |o| o.score >= 0.81);
        assert_eq!(at_081.precision, Some(1.0));
        assert!((at_081.precision_lower.unwrap() - 0.206_549).abs() < 1e-6);
        assert_eq!(r.suggested, None);
        assert!(
            r.render()
                .contains("no threshold reaches precision 99.0% at the 95% lower bound")
        );
        let lenient = report(&outcomes, 0.2);
        let s = lenient.suggested.clone().unwrap();
        assert!((s.threshold.unwrap() - 0.81).abs() < 1e-9, "{s:?}");
        assert!(lenient.render().contains("high = 0.81"));
    }

    #[test]
    fn the_wilson_lower_bound_matches_known_values() {
        let close = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-6, "{a:?} vs {b}");
        close(wilson_lower(95, 100), 0.888_250);
        close(wilson_lower(100, 100), 0.963_007);
        close(wilson_lower(299, 300), 0.981_363);
        close(wilson_lower(0, 10), 0.0);
        assert_eq!(wilson_lower(0, 0), None);
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        std::fs::write(
            &path,
            "{\"text\": \"a\", \"expected\": \"x\"}\n\n{\"text\": 1}\n",
        )
        .unwrap();
        let err = read_questions(&path).unwrap_err().to_string();
        assert!(err.contains("q.jsonl:3:"), "{err}");
    }
}
