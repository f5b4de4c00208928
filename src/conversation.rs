//! Who a conversation belongs to, as a pure state machine: the AI answers
//! it, it waits for a person, one agent owns it, or it is resolved. The
//! store applies a step inside the transaction that writes what caused it,
//! to the conversation as it is there, so two agents (or replicas) racing
//! for one conversation are decided by the database.
//!
//! ```text
//! AI_ACTIVE | RESOLVED --message asking for a person, policy topic,
//!                        frustration, repeated LOW drafts--> ESCALATED (one handoff notice)
//! AI_ACTIVE | RESOLVED | ESCALATED --claim, decide, take over--> HUMAN_OWNED (by that agent)
//! HUMAN_OWNED --reassign (a supervisor)--> HUMAN_OWNED (by another agent)
//! HUMAN_OWNED --the owner releases a claim, or lets it lapse--> ESCALATED (no second notice)
//! HUMAN_OWNED (by the agent) | ESCALATED --hand back, resolve--> RESOLVED
//! AI_ACTIVE --resolve--> RESOLVED
//! RESOLVED --message--> AI_ACTIVE (or ESCALATED, as above)
//! ```
//!
//! The invariants (property-tested below and through the store in
//! tests/conversation.rs): a conversation has an owner exactly when it is
//! HUMAN_OWNED, and only that agent acts on it until they hand it back or
//! resolve it, release their claim or a supervisor reassigns it; while
//! ESCALATED or HUMAN_OWNED every AI draft waits for a person; each
//! escalation by the customer's messages sends exactly one handoff notice.

/// Unix milliseconds (as `model::Millis`).
pub type Millis = i64;

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The AI answers; confident drafts go out on their own.
    AiActive,
    /// Waiting for a person: nothing is sent automatically.
    Escalated,
    /// One agent owns it: new messages become drafts for them.
    HumanOwned,
    /// An agent resolved it or handed it back; the next message reopens it
    /// to the AI.
    Resolved,
}

impl State {
    pub const ALL: [State; 4] = [
        State::AiActive,
        State::Escalated,
        State::HumanOwned,
        State::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::AiActive => "AI_ACTIVE",
            State::Escalated => "ESCALATED",
            State::HumanOwned => "HUMAN_OWNED",
            State::Resolved => "RESOLVED",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a person, not the AI, answers the conversation now.
    pub fn with_a_person(self) -> bool {
        match self {
            State::Escalated | State::HumanOwned => true,
            State::AiActive | State::Resolved => false,
        }
    }
}

/// Why a conversation was escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The customer asked for a person.
    HumanRequested,
    /// An always-review topic, or an attempt to instruct the assistant.
    Policy,
    /// The customer shows frustration ("third time I ask").
    Frustration,
    /// Several LOW drafts in a row.
    RepeatedLowConfidence,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::HumanRequested => "human_requested",
            Cause::Policy => "policy",
            Cause::Frustration => "frustration",
            Cause::RepeatedLowConfidence => "repeated_low_confidence",
        }
    }
}

/// A conversation's state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub state: State,
    /// The agent who owns it: set exactly when HUMAN_OWNED.
    pub owner: String,
    /// When it entered this state.
    pub since: Millis,
    /// LOW drafts in a row while the AI answers.
    pub low_streak: u32,
}

impl Default for Ownership {
    fn default() -> Self {
        Ownership::new(0)
    }
}

impl Ownership {
    /// The state as stored; `Err` names what is corrupt.
    pub fn from_stored(
        state: &str,
        owner: String,
        since: Millis,
        low_streak: i64,
    ) -> Result<Ownership, String> {
        let state = State::parse(state).ok_or_else(|| format!("conversation state {state:?}"))?;
        if (state == State::HumanOwned) == owner.is_empty() {
            return Err(format!(
                "conversation owner {owner:?} in state {}",
                state.as_str()
            ));
        }
        Ok(Ownership {
            state,
            owner,
            since,
            low_streak: u32::try_from(low_streak.max(0)).unwrap_or(u32::MAX),
        })
    }

    /// A conversation's first state.
    pub fn new(now: Millis) -> Ownership {
        Ownership {
            state: State::AiActive,
            owner: String::new(),
            since: now,
            low_streak: 0,
        }
    }
}

/// What happens to a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// A customer message arrived; `cause` is what in it asks for a person,
    /// `low` whether its draft is LOW.
    Message {
        cause: Option<Cause>,
        low: bool,
    },
    /// An agent claims, approves or rejects one of its drafts.
    Review {
        agent: String,
    },
    /// An agent gives a claimed draft back (or lets its lease run out): the
    /// conversation they owned waits for a person again.
    Release {
        agent: String,
    },
    TakeOver {
        agent: String,
    },
    /// A supervisor (`by`) gives the conversation to `agent`, whoever owns it.
    Reassign {
        agent: String,
        by: String,
    },
    HandBack {
        agent: String,
    },
    Resolve {
        agent: String,
    },
}

impl Act {
    fn agent(&self) -> Option<&str> {
        match self {
            Act::Message { .. } => None,
            Act::Review { agent }
            | Act::Release { agent }
            | Act::TakeOver { agent }
            | Act::Reassign { agent, .. }
            | Act::HandBack { agent }
            | Act::Resolve { agent } => Some(agent),
        }
    }
}

/// The rules a desk sets (agents' acts do not depend on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// LOW drafts in a row that escalate a conversation (0: never).
    pub escalate_after_low: u32,
}

/// A change of state, as its history records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: State,
    pub to: State,
    /// "customer" or the agent.
    pub actor: String,
    /// What made it: an escalation's cause, or the agent's action.
    pub cause: &'static str,
}

/// What one act does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub next: Ownership,
    pub change: Option<Change>,
    /// The new message's AI draft waits for a person, whatever its confidence.
    pub holds: bool,
    /// Send the customer the handoff notice (once per escalation).
    pub notice: bool,
    /// The conversation's undecided drafts are closed (superseded): a person
    /// answered and gave the conversation back.
    pub close_open_drafts: bool,
}

/// Why an agent may not act on a conversation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the conversation is owned by {0}")]
    OwnedByOther(String),
    #[error("cannot {action} a conversation in state {}", .state.as_str())]
    IllegalState { action: &'static str, state: State },
}

/// What `act` does to a conversation at `current`, at `now`.
pub fn step(current: &Ownership, act: &Act, rules: Rules, now: Millis) -> Result<Step, Refusal> {
    if current.state == State::HumanOwned
        && !matches!(act, Act::Reassign { .. } | Act::Release { .. })
        && let Some(agent) = act.agent()
        && agent != current.owner
    {
        return Err(Refusal::OwnedByOther(current.owner.clone()));
    }
    let stay = |next: Ownership, holds: bool| Step {
        next,
        change: None,
        holds,
        notice: false,
        close_open_drafts: false,
    };
    let to = |state: State, owner: &str, actor: &str, cause: &'static str| {
        Ownership {
            state,
            owner: owner.to_string(),
            since: now,
            low_streak: 0,
        }
        .with_change(current, actor, cause)
    };
    Ok(match act {
        Act::Message { cause, low } => {
            if current.state.with_a_person() {
                return Ok(stay(current.clone(), true));
            }
            let low_streak = if *low { current.low_streak + 1 } else { 0 };
            let cause = cause.or((rules.escalate_after_low > 0
                && low_streak >= rules.escalate_after_low)
                .then_some(Cause::RepeatedLowConfidence));
            match cause {
                Some(cause) => Step {
                    notice: true,
                    holds: true,
                    ..to(State::Escalated, "", "customer", cause.as_str())
                },
                None if current.state == State::Resolved => {
                    let mut s = to(State::AiActive, "", "customer", "reopened");
                    s.next.low_streak = low_streak;
                    s
                }
                None => stay(
                    Ownership {
                        low_streak,
                        ..current.clone()
                    },
                    false,
                ),
            }
        }
        Act::Review { agent } => own(current, agent, agent, "claimed", &to),
        Act::TakeOver { agent } => own(current, agent, agent, "taken_over", &to),
        Act::Reassign { agent, by } => own(current, agent, by, "reassigned", &to),
        Act::Release { agent } => {
            if current.state == State::HumanOwned && current.owner == *agent {
                to(State::Escalated, "", agent, "released")
            } else {
                stay(current.clone(), false)
            }
        }
        Act::HandBack { agent } => match current.state {
            State::AiActive => {
                return Err(Refusal::IllegalState {
                    action: "hand back",
                    state: current.state,
                });
            }
            State::Resolved => stay(current.clone(), false),
            State::Escalated | State::HumanOwned => give_back(agent, "handed_back", &to),
        },
        Act::Resolve { agent } => match current.state {
            State::Resolved => stay(current.clone(), false),
            State::AiActive | State::Escalated | State::HumanOwned => {
                give_back(agent, "resolved", &to)
            }
        },
    })
}

/// `agent` owns the conversation (no change when they already do).
fn own(
    current: &Ownership,
    agent: &str,
    actor: &str,
    cause: &'static str,
    to: &dyn Fn(State, &str, &str, &'static str) -> Step,
) -> Step {
    if current.state == State::HumanOwned && current.owner == agent {
        return Step {
            next: current.clone(),
            change: None,
            holds: false,
            notice: false,
            close_open_drafts: false,
        };
    }
    to(State::HumanOwned, agent, actor, cause)
}

/// Nobody owns it any more and its undecided drafts close.
fn give_back(
    agent: &str,
    cause: &'static str,
    to: &dyn Fn(State, &str, &str, &'static str) -> Step,
) -> Step {
    Step {
        close_open_drafts: true,
        ..to(State::Resolved, "", agent, cause)
    }
}

impl Ownership {
    /// The step into `self` from `from`.
    fn with_change(self, from: &Ownership, actor: &str, cause: &'static str) -> Step {
        Step {
            change: Some(Change {
                from: from.state,
                to: self.state,
                actor: actor.to_string(),
                cause,
            }),
            next: self,
            holds: false,
            notice: false,
            close_open_drafts: false,
        }
    }
}

/// One entry of a conversation's history (read back from its audit events,
/// `model::history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub from: State,
    pub to: State,
    pub actor: String,
    pub cause: String,
    pub owner: String,
    pub at: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditEvent, history};
    use proptest::prelude::*;

    const RULES: Rules = Rules {
        escalate_after_low: 2,
    };

    fn message(cause: Option<Cause>, low: bool) -> Act {
        Act::Message { cause, low }
    }

    fn agent(name: &str) -> String {
        name.to_string()
    }

    fn run(acts: &[Act]) -> (Ownership, Vec<Result<Step, Refusal>>) {
        let mut o = Ownership::new(0);
        let mut steps = Vec::new();
        for (t, act) in acts.iter().enumerate() {
            let s = step(&o, act, RULES, t as Millis + 1);
            if let Ok(s) = &s {
                o = s.next.clone();
            }
            steps.push(s);
        }
        (o, steps)
    }

    #[test]
    fn asking_for_a_person_escalates_once_with_one_notice_and_holds_every_later_message() {
        let (o, steps) = run(&[
            message(None, false),
            message(Some(Cause::HumanRequested), false),
            message(None, false),
            message(Some(Cause::HumanRequested), false),
        ]);
        assert_eq!(o.state, State::Escalated);
        let notices: Vec<bool> = steps.iter().map(|s| s.as_ref().unwrap().notice).collect();
        assert_eq!(notices, [false, true, false, false]);
        let holds: Vec<bool> = steps.iter().map(|s| s.as_ref().unwrap().holds).collect();
        assert_eq!(holds, [false, true, true, true]);
    }

    #[test]
    fn two_low_drafts_in_a_row_escalate_but_a_confident_one_between_them_does_not() {
        let (o, _) = run(&[
            message(None, true),
            message(None, false),
            message(None, true),
        ]);
        assert_eq!(o.state, State::AiActive);
        let (o, steps) = run(&[message(None, true), message(None, true)]);
        assert_eq!(o.state, State::Escalated);
        let change = steps[1].as_ref().unwrap().change.clone().unwrap();
        assert_eq!(change.cause, "repeated_low_confidence");
    }

    #[test]
    fn the_agent_who_claims_owns_it_and_a_second_agent_is_refused() {
        let (o, steps) = run(&[
            message(Some(Cause::Policy), false),
            Act::Review {
                agent: agent("ana"),
            },
            Act::TakeOver { agent: agent("bo") },
            Act::Review { agent: agent("bo") },
            Act::Resolve { agent: agent("bo") },
        ]);
        assert_eq!(o.state, State::HumanOwned);
        assert_eq!(o.owner, "ana");
        for refused in &steps[2..] {
            assert_eq!(refused, &Err(Refusal::OwnedByOther("ana".into())));
        }
    }

    #[test]
    fn the_owner_releasing_a_claim_leaves_the_conversation_waiting_for_a_person_without_a_notice() {
        let (o, steps) = run(&[
            Act::Review {
                agent: agent("ana"),
            },
            Act::Release { agent: agent("bo") },
            Act::Release {
                agent: agent("ana"),
            },
            message(None, false),
            Act::Review { agent: agent("bo") },
        ]);
        assert_eq!(
            steps[1].as_ref().unwrap().change,
            None,
            "not bo's to release"
        );
        let released = steps[2].as_ref().unwrap();
        assert_eq!(released.next.state, State::Escalated);
        assert!(!released.notice);
        assert!(steps[3].as_ref().unwrap().holds);
        assert_eq!((o.state, o.owner.as_str()), (State::HumanOwned, "bo"));
    }

    #[test]
    fn a_supervisor_reassigns_an_owned_conversation_to_one_other_agent() {
        let (o, steps) = run(&[
            Act::TakeOver {
                agent: agent("ana"),
            },
            Act::Reassign {
                agent: agent("bo"),
                by: agent("lead"),
            },
            Act::Review {
                agent: agent("ana"),
            },
        ]);
        assert_eq!((o.state, o.owner.as_str()), (State::HumanOwned, "bo"));
        let change = steps[1].as_ref().unwrap().change.clone().unwrap();
        assert_eq!(
            (change.cause, change.actor.as_str()),
            ("reassigned", "lead")
        );
        assert_eq!(steps[2], Err(Refusal::OwnedByOther("bo".into())));
    }

    #[test]
    fn handing_back_resolves_it_and_the_next_message_is_the_ais_again() {
        let (o, steps) = run(&[
            Act::TakeOver {
                agent: agent("ana"),
            },
            message(None, false),
            Act::HandBack {
                agent: agent("ana"),
            },
            message(None, false),
        ]);
        assert_eq!(o.state, State::AiActive);
        assert!(steps[1].as_ref().unwrap().holds);
        let back = steps[2].as_ref().unwrap();
        assert_eq!(back.next.state, State::Resolved);
        assert!(back.close_open_drafts);
        assert_eq!(back.change.as_ref().unwrap().cause, "handed_back");
        assert!(!steps[3].as_ref().unwrap().holds);
    }

    #[test]
    fn a_conversation_the_ai_answers_cannot_be_handed_back() {
        let (_, steps) = run(&[Act::HandBack {
            agent: agent("ana"),
        }]);
        assert_eq!(
            steps[0],
            Err(Refusal::IllegalState {
                action: "hand back",
                state: State::AiActive
            })
        );
    }

    #[test]
    fn history_is_read_back_from_the_events_in_order() {
        let (_, steps) = run(&[
            message(Some(Cause::HumanRequested), false),
            Act::Review {
                agent: agent("ana"),
            },
            Act::Resolve {
                agent: agent("ana"),
            },
        ]);
        let events: Vec<AuditEvent> = steps
            .iter()
            .enumerate()
            .filter_map(|(t, s)| {
                let s = s.as_ref().unwrap();
                s.change
                    .as_ref()
                    .map(|c| AuditEvent::state_changed("wa-1", c, &s.next.owner, t as Millis))
            })
            .collect();
        let h = history(&events);
        let path: Vec<(State, &str)> = h.iter().map(|e| (e.to, e.cause.as_str())).collect();
        assert_eq!(
            path,
            [
                (State::Escalated, "human_requested"),
                (State::HumanOwned, "claimed"),
                (State::Resolved, "resolved"),
            ]
        );
        assert_eq!(h[1].owner, "ana");
        assert_eq!(h[1].actor, "ana");
    }

    fn any_act() -> impl Strategy<Value = Act> {
        let agent = prop::sample::select(vec!["ana", "bo", "cy"]).prop_map(String::from);
        let cause = prop::option::weighted(
            0.3,
            prop::sample::select(vec![
                Cause::HumanRequested,
                Cause::Policy,
                Cause::Frustration,
            ]),
        );
        prop_oneof![
            4 => (cause, any::<bool>()).prop_map(|(cause, low)| Act::Message { cause, low }),
            2 => agent.clone().prop_map(|agent| Act::Review { agent }),
            1 => agent.clone().prop_map(|agent| Act::Release { agent }),
            1 => agent.clone().prop_map(|agent| Act::TakeOver { agent }),
            1 => agent.clone().prop_map(|agent| Act::Reassign { agent, by: "lead".into() }),
            1 => agent.clone().prop_map(|agent| Act::HandBack { agent }),
            1 => agent.prop_map(|agent| Act::Resolve { agent }),
        ]
    }

    proptest! {
        /// Whatever happens, in any order, with several agents.
        #[test]
        fn the_invariants_hold_for_any_sequence(acts in prop::collection::vec(any_act(), 1..60)) {
            let mut o = Ownership::new(0);
            let mut escalations = 0;
            let mut notices = 0;
            for (t, act) in acts.iter().enumerate() {
                let before = o.clone();
                let Ok(s) = step(&o, act, RULES, t as Millis + 1) else {
                    // Refused: only an agent other than the owner, or a
                    // hand-back of a conversation the AI answers.
                    let refusal = step(&o, act, RULES, t as Millis + 1).unwrap_err();
                    match refusal {
                        Refusal::OwnedByOther(owner) => {
                            prop_assert_eq!(&owner, &before.owner);
                            prop_assert_ne!(act.agent(), Some(owner.as_str()));
                        }
                        Refusal::IllegalState { state, .. } => prop_assert_eq!(state, State::AiActive),
                    }
                    continue;
                };
                o = s.next.clone();
                // An owner exactly when human-owned.
                prop_assert_eq!(o.state == State::HumanOwned, !o.owner.is_empty());
                // Owned by one agent until that agent gives it back (or a
                // supervisor reassigns it).
                if before.state == State::HumanOwned
                    && o.state == State::HumanOwned
                    && !matches!(act, Act::Reassign { .. })
                {
                    prop_assert_eq!(&o.owner, &before.owner);
                }
                // While a person answers, every message waits for one.
                if let Act::Message { .. } = act {
                    prop_assert_eq!(s.holds, o.state.with_a_person());
                    if before.state.with_a_person() {
                        prop_assert_eq!(&o, &before);
                    }
                }
                if s.change.as_ref().is_some_and(|c| c.to == State::Escalated && c.actor == "customer") {
                    escalations += 1;
                }
                notices += usize::from(s.notice);
                // A change says where it went and is the only way a state changes.
                match &s.change {
                    Some(c) => {
                        prop_assert_eq!(c.from, before.state);
                        prop_assert_eq!(c.to, o.state);
                        prop_assert_eq!(o.since, t as Millis + 1);
                    }
                    None => prop_assert_eq!(o.state, before.state),
                }
            }
            // Exactly one handoff notice per escalation.
            prop_assert_eq!(notices, escalations);
        }
    }
}
