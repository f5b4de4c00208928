//! The `agent` label of the review metrics, bounded. Without tokens an agent
//! names itself (`x-agent-id`), so any caller could mint a new Prometheus
//! series per call; the first [`MAX_AGENT_LABELS`] distinct agents keep
//! their own series and every later one is counted as [`OTHER`]. With tokens
//! the agents are the configured subjects and the bound is never reached in
//! practice. (An agent literally named "other" shares that series.)

use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct agents that get a series of their own.
pub const MAX_AGENT_LABELS: usize = 200;
/// The label of every agent past the bound.
pub const OTHER: &str = "other";

/// The agents seen so far, up to a bound.
pub struct AgentLabels {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl AgentLabels {
    pub fn new(max: usize) -> AgentLabels {
        AgentLabels {
            max,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// `agent` itself if it has a series or there is room for one, else [`OTHER`].
    pub fn label<'a>(&self, agent: &'a str) -> &'a str {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(agent) {
            return agent;
        }
        if seen.len() < self.max {
            seen.insert(agent.to_string());
            return agent;
        }
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_past_the_bound_are_reported_as_other() {
        let labels = AgentLabels::new(MAX_AGENT_LABELS);
        for i in 0..MAX_AGENT_LABELS {
            let agent = format!("agent-{i}");
            assert_eq!(labels.label(&agent), agent);
        }
        assert_eq!(labels.label(&format!("agent-{MAX_AGENT_LABELS}")), OTHER);
        assert_eq!(labels.label("somebody-new"), OTHER);
        // Agents already counted keep their own series.
        assert_eq!(labels.label("agent-0"), "agent-0");
        assert_eq!(
            labels.label(&format!("agent-{}", MAX_AGENT_LABELS - 1)),
            format!("agent-{}", MAX_AGENT_LABELS - 1)
        );
    }
}
