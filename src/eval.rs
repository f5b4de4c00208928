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
    pub in_scope: bool,
    pub retrieved: Vec<String>,
    pub cited: Option<String>,
    pub score: f64,
    pub level: Level,
    pub auto_sent: bool,
    pub forced_review: bool,
    /// Every confidence signal and its value, as the draft's reasons list them.
    pub signals: std::collections::BTreeMap<String, f64>,
}

impl Outcome {
    pub fn correct(&self) -> bool {
        self.in_scope && self.cited.as_deref() == Some(self.expected.as_str())
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
        let request = DraftRequest {
            conversation_id: format!("eval-{i}"),
            message: q.text.clone(),
            locale: q.locale.clone().unwrap_or_default(),
            channel: q.channel.clone().unwrap_or_default(),
            ..Default::default()
        };
        let c = drafter.compose(&request).await?;
        out.push(Outcome {
            text: q.text.clone(),
            expected: q.expected.clone(),
            in_scope: q.expected != OUT_OF_SCOPE,
            retrieved: c.retrieved,
            cited: c.citations.first().map(|c| c.article_id.clone()),
            score: c.confidence.score,
            level: c.confidence.level,
            auto_sent: c.state == DraftState::AutoApproved,
            forced_review: c.forced_review,
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

/// Auto-send results under one rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Routing {
    /// Score threshold, when the rule is one.
    pub threshold: Option<f64>,
    pub auto_sent: usize,
    /// Auto-sent and citing the expected article ÷ auto-sent (out-of-scope auto-sent counts as wrong).
    pub precision: Option<f64>,
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
    /// The lowest threshold whose precision reaches the target.
    pub suggested: Option<Routing>,
    /// Every question's outcome (in the JSON form only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<Outcome>,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn routing(
    outcomes: &[Outcome],
    threshold: Option<f64>,
    sent: impl Fn(&Outcome) -> bool,
) -> Routing {
    let auto: Vec<&Outcome> = outcomes.iter().filter(|o| sent(o)).collect();
    let in_scope = outcomes.iter().filter(|o| o.in_scope).count();
    let oos = outcomes.len() - in_scope;
    Routing {
        threshold,
        auto_sent: auto.len(),
        precision: (!auto.is_empty())
            .then(|| ratio(auto.iter().filter(|o| o.correct()).count(), auto.len())),
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
        .find(|r| r.precision.is_some_and(|p| p >= target_precision));
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
            "\nat the configured thresholds: auto-sent {}  precision {}  coverage {}  out-of-scope leakage {}\n",
            c.auto_sent,
            opt_pct(c.precision),
            pct(c.coverage),
            pct(c.leakage)
        ));
        s.push_str("\nthreshold  auto-sent  precision  coverage  leakage\n");
        for r in &self.curve {
            s.push_str(&format!(
                "{:>9.2} {:>10} {:>10} {:>9} {:>8}\n",
                r.threshold.unwrap_or_default(),
                r.auto_sent,
                opt_pct(r.precision),
                pct(r.coverage),
                pct(r.leakage)
            ));
        }
        match &self.suggested {
            Some(r) => s.push_str(&format!(
                "\nfor precision >= {}: [routing.default] high = {:.2} (auto-sent {}, precision {}, coverage {}, leakage {})\n",
                pct(self.target_precision).trim(),
                r.threshold.unwrap_or_default(),
                r.auto_sent,
                opt_pct(r.precision).trim(),
                pct(r.coverage).trim(),
                pct(r.leakage).trim()
            )),
            None => s.push_str(&format!("\nno threshold reaches precision {}\n", pct(self.target_precision).trim())),
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
        let s = r.suggested.clone().unwrap();
        assert!((s.threshold.unwrap() - 0.81).abs() < 1e-9, "{s:?}");
        assert_eq!(s.precision, Some(1.0));
        assert!(r.render().contains("high = 0.81"));
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
