//! Figures for managers over a time window: volume, auto-send rate, how
//! often agents edit, how long approval takes, per agent. Computed from the
//! stored drafts and their audit events.

use crate::model::{DraftState, Level, Millis, now_ms};
use crate::storage::{self, DraftFacts, DynStore};
use crate::validate::{self, invalid};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentStats {
    pub agent: String,
    pub approved: u64,
    pub edited: u64,
    pub rejected: u64,
    pub replaced: u64,
    pub median_seconds_to_decide: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub from: Millis,
    pub to: Millis,
    pub conversations: u64,
    pub drafts: u64,
    pub auto_approved: u64,
    pub pending: u64,
    pub approved: u64,
    pub edited: u64,
    pub rejected: u64,
    pub replaced: u64,
    pub superseded: u64,
    pub delivered: u64,
    pub auto_send_rate: f64,
    pub edit_rate: f64,
    pub median_seconds_to_approve: f64,
    pub low: u64,
    pub medium: u64,
    pub high: u64,
    pub agents: Vec<AgentStats>,
    /// Rejections (with or without the agent's own reply) by reason code;
    /// a reason given without a code counts as "unspecified".
    pub rejections_by_reason: BTreeMap<String, u64>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// What an agent decided about a draft, if anything.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decision {
    Approved,
    Edited,
    Rejected,
    Replaced,
}

fn decision(f: &DraftFacts) -> Option<Decision> {
    f.decided_at?;
    Some(match (f.rejected, f.ai_generated, f.edited) {
        (true, false, _) => Decision::Replaced,
        (true, true, _) => Decision::Rejected,
        (false, _, true) => Decision::Edited,
        (false, _, false) => Decision::Approved,
    })
}

/// Aggregates the facts of the drafts created in a window.
pub fn aggregate(facts: &[DraftFacts], from: Millis, to: Millis) -> Stats {
    let mut s = Stats {
        from,
        to,
        drafts: facts.len() as u64,
        ..Default::default()
    };
    let conversations: HashSet<&str> = facts.iter().map(|f| f.conversation_id.as_str()).collect();
    s.conversations = conversations.len() as u64;
    let mut to_approve = Vec::new();
    let mut per_agent: BTreeMap<&str, (AgentStats, Vec<f64>)> = BTreeMap::new();
    for f in facts {
        match f.level {
            Level::Low => s.low += 1,
            Level::Medium => s.medium += 1,
            Level::High => s.high += 1,
        }
        match f.state {
            DraftState::PendingReview | DraftState::Claimed => s.pending += 1,
            DraftState::Superseded => s.superseded += 1,
            DraftState::Delivered => s.delivered += 1,
            DraftState::AutoApproved | DraftState::Approved | DraftState::Rejected => {}
        }
        if !f.human_reviewed && matches!(f.state, DraftState::AutoApproved | DraftState::Delivered)
        {
            s.auto_approved += 1;
        }
        let Some(d) = decision(f) else { continue };
        let seconds =
            ((f.decided_at.unwrap_or(f.created_at) - f.created_at).max(0) as f64) / 1000.0;
        let (agent, times) = per_agent.entry(f.reviewed_by.as_str()).or_insert_with(|| {
            (
                AgentStats {
                    agent: f.reviewed_by.clone(),
                    ..Default::default()
                },
                Vec::new(),
            )
        });
        times.push(seconds);
        if matches!(d, Decision::Rejected | Decision::Replaced) {
            let code = crate::review::ReasonCode::of(&f.reject_reason)
                .map_or("unspecified", |c| c.as_str());
            *s.rejections_by_reason.entry(code.to_string()).or_default() += 1;
        }
        match d {
            Decision::Approved => {
                s.approved += 1;
                agent.approved += 1;
                to_approve.push(seconds);
            }
            Decision::Edited => {
                s.edited += 1;
                agent.edited += 1;
                to_approve.push(seconds);
            }
            Decision::Rejected => {
                s.rejected += 1;
                agent.rejected += 1;
            }
            Decision::Replaced => {
                s.replaced += 1;
                agent.replaced += 1;
            }
        }
    }
    s.auto_send_rate = if s.drafts == 0 {
        0.0
    } else {
        s.auto_approved as f64 / s.drafts as f64
    };
    let approvals = s.approved + s.edited;
    s.edit_rate = if approvals == 0 {
        0.0
    } else {
        s.edited as f64 / approvals as f64
    };
    s.median_seconds_to_approve = median(to_approve);
    s.agents = per_agent
        .into_values()
        .map(|(mut a, times)| {
            a.median_seconds_to_decide = median(times);
            a
        })
        .collect();
    s
}

/// The window by default: the last 24 hours.
pub const DEFAULT_WINDOW_MS: Millis = 24 * 3600 * 1000;
/// The longest window one call may aggregate.
pub const MAX_WINDOW_MS: Millis = 366 * 24 * 3600 * 1000;

pub struct Insights {
    store: DynStore,
}

impl Insights {
    pub fn new(store: DynStore) -> Insights {
        Insights { store }
    }

    /// Stats for drafts created in `[from, to)` (defaults: the last 24 hours up to now).
    pub async fn stats(
        &self,
        from: Option<Millis>,
        to: Option<Millis>,
        channel: Option<&str>,
    ) -> Result<Stats, Error> {
        let to = to.unwrap_or_else(now_ms);
        let from = from.unwrap_or(to - DEFAULT_WINDOW_MS);
        if from >= to {
            return Err(invalid("from", "must be before to").into());
        }
        if to - from > MAX_WINDOW_MS {
            return Err(invalid("from", "the window must be at most 366 days").into());
        }
        let channel = channel.map(validate::channel).transpose()?;
        let facts = self.store.draft_facts(from, to, channel.as_deref()).await?;
        Ok(aggregate(&facts, from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(
        conv: &str,
        state: DraftState,
        agent: &str,
        created: Millis,
        decided: Option<Millis>,
    ) -> DraftFacts {
        DraftFacts {
            conversation_id: conv.into(),
            state,
            level: Level::Medium,
            created_at: created,
            reviewed_by: agent.into(),
            ai_generated: true,
            human_reviewed: decided.is_some(),
            edited: false,
            decided_at: decided,
            rejected: false,
            reject_reason: String::new(),
        }
    }

    #[test]
    fn a_scripted_desk_adds_up() {
        let mut auto = f("c1", DraftState::Delivered, "", 0, None);
        auto.level = Level::High;
        let approved = f("c2", DraftState::Approved, "ana", 1_000, Some(11_000));
        let mut edited = f("c3", DraftState::Delivered, "ana", 2_000, Some(32_000));
        edited.edited = true;
        let mut replaced = f("c3", DraftState::Rejected, "bob", 3_000, Some(8_000));
        replaced.rejected = true;
        replaced.ai_generated = false;
        let mut rejected = f("c4", DraftState::Rejected, "bob", 4_000, Some(6_000));
        rejected.rejected = true;
        rejected.edited = true;
        rejected.reject_reason = "outdated_article: the fee changed".into();
        replaced.reject_reason = "wrong tone".into();
        let pending = f("c5", DraftState::PendingReview, "", 5_000, None);
        let superseded = f("c5", DraftState::Superseded, "", 4_500, None);
        let s = aggregate(
            &[
                auto, approved, edited, replaced, rejected, pending, superseded,
            ],
            0,
            10_000_000,
        );
        assert_eq!((s.drafts, s.conversations), (7, 5));
        assert_eq!(
            (
                s.auto_approved,
                s.approved,
                s.edited,
                s.rejected,
                s.replaced
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!((s.pending, s.superseded, s.delivered), (1, 1, 2));
        assert!((s.auto_send_rate - 1.0 / 7.0).abs() < 1e-9);
        assert!((s.edit_rate - 0.5).abs() < 1e-9);
        assert_eq!(s.median_seconds_to_approve, 20.0, "median of 10 s and 30 s");
        assert_eq!((s.high, s.medium), (1, 6));
        let ana = &s.agents[0];
        assert_eq!(
            (
                ana.agent.as_str(),
                ana.approved,
                ana.edited,
                ana.median_seconds_to_decide
            ),
            ("ana", 1, 1, 20.0)
        );
        let bob = &s.agents[1];
        assert_eq!(
            (bob.rejected, bob.replaced, bob.median_seconds_to_decide),
            (1, 1, 3.5)
        );
        assert_eq!(
            s.rejections_by_reason,
            BTreeMap::from([("outdated_article".into(), 1), ("unspecified".into(), 1)])
        );
    }

    #[test]
    fn an_empty_window_is_all_zeros() {
        assert_eq!(
            aggregate(&[], 0, 1),
            Stats {
                from: 0,
                to: 1,
                ..Default::default()
            }
        );
    }
}
