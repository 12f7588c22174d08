//! The nemesis of a run: a seeded [`nemesis::Schedule`] by name, or a fixed script (the
//! suite's scenarios), applied while the clients run (docs/design.md, "A test run"; step 6 in
//! [`crate::run`]).
//!
//! Each fault is recorded as a nemesis event *after* it took effect: `start-<family>` with its
//! details, then `stop-<family>` with what ended it (`heal`, `restart`, `resume`); family is
//! `partition`, `loss`, `filter`, `kill` or `pause`. Whatever is still faulty at the time limit
//! is stopped (and recorded) before the run goes on.

mod script;

use crate::clients::recorder::Recorder;
use crate::clients::workload::Shared;
use crate::leaders::LeaderTracker;
use crate::run::{say, TestConfig};
use anyhow::{Context, Result};
use nemesis::{Fault, Run, Schedule};
use serde_json::json;
use std::time::{Duration, Instant};

/// What the nemesis does during a run.
#[derive(Debug, Clone)]
pub enum NemesisPlan {
    /// Nothing: a healthy run.
    None,
    /// A fixed script of faults (the suite's scenarios); every fault it starts is stopped by
    /// a later step or at the end.
    Script {
        /// The scenario's name.
        name: String,
        /// The steps, in time order.
        steps: Vec<ScriptStep>,
    },
    /// A seeded schedule by name (`partition`, `kill`, `isolate-leader`, `mix`, ...).
    Schedule {
        /// The nemesis name (see `nemesis::Nemesis::NAMES`).
        name: String,
        /// Healthy and faulty interval.
        interval: Duration,
    },
}

impl NemesisPlan {
    /// The name used in store paths and reports.
    pub fn name(&self) -> &str {
        match self {
            NemesisPlan::None => "none",
            NemesisPlan::Schedule { name, .. } => name,
            NemesisPlan::Script { name, .. } => name,
        }
    }
}

/// Nodes named relative to the cluster's state when a scripted step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The current leader (n1 when none is known).
    Leader,
    /// The first `k` nodes that are not the leader.
    Followers(usize),
    /// The leader and `k` followers.
    LeaderAnd(usize),
    /// One random node (from the seed).
    Random,
    /// Every node.
    All,
    /// The nodes remembered in slot `i` by [`Action::Mark`] (none if the slot is empty).
    Marked(usize),
    /// The nodes in no slot of [`Action::Mark`].
    Unmarked,
}

/// One action of a scripted nemesis.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Each target node alone, the others together (6.824's "disconnect").
    Isolate(Target),
    /// The targets together on one side, the others on the other.
    Split(Target),
    /// Remove every network fault.
    Heal,
    /// SIGKILL the targets.
    Kill(Target),
    /// Start every killed node again.
    RestartAll,
    /// Start the killed ones among the targets again.
    Restart(Target),
    /// SIGSTOP the targets.
    Pause(Target),
    /// SIGCONT every paused node.
    ResumeAll,
    /// Every node drops this percentage of what it receives.
    Loss(u8),
    /// Cut the cluster into groups: each target a group (nodes already placed are skipped),
    /// and the nodes no target named as one more group.
    Partition(Vec<Target>),
    /// Remember the target's nodes, as they are now, in slot `i` ([`Target::Marked`]): later
    /// steps can name "the leader of then" after leadership moved.
    Mark(usize, Target),
    /// Empty every slot of [`Action::Mark`].
    ClearMarks,
    /// Let clients issue writes and cas (`true`, the default) or only reads (`false`). Not a
    /// fault: a hunt uses it to control which terms get log entries (ops in flight go on).
    Writes(bool),
    /// The targets hold back their replication messages (the spec's `append_pattern`, with
    /// [`Fault::Filter`]): votes and answers pass, appends and heartbeats do not. Until a heal.
    HoldAppends(Target),
    /// Wait, up to this long, until a node announces leadership of a term above every term
    /// announced so far; the steps after it run as soon as it returns (the script's times are
    /// earliest times). Reacts within about [`crate::leaders::POLL`]. Not a fault.
    AwaitElection(Duration),
}

/// A scripted step: `action` at `at` after the clients start.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptStep {
    /// When, from the start of the client phase.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// The family of a starting fault, for `start-<family>`/`stop-<family>` events.
fn family(fault: &Fault) -> &'static str {
    match fault {
        Fault::Partition { .. } => "partition",
        Fault::Loss { .. } => "loss",
        Fault::Filter { .. } => "filter",
        Fault::Kill { .. } | Fault::Restart { .. } => "kill",
        Fault::Pause { .. } | Fault::Resume { .. } => "pause",
        Fault::Heal => "heal",
    }
}

/// Sleeps up to `d`, in small steps, until `deadline`; returns false when the deadline passed.
pub(crate) fn sleep_until(d: Duration, deadline: Instant) -> bool {
    let until = (Instant::now() + d).min(deadline);
    while Instant::now() < until {
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    Instant::now() < deadline
}

/// Runs the nemesis until the time limit; returns with every fault it started stopped.
pub fn run_nemesis(
    cfg: &TestConfig,
    run: &Run,
    recorder: &Recorder,
    tracker: Option<&LeaderTracker>,
    seed: u64,
    shared: &Shared,
) -> Result<()> {
    let deadline = Instant::now() + cfg.time_limit;
    let (name, interval) = match &cfg.plan {
        NemesisPlan::None => {
            sleep_until(cfg.time_limit, deadline);
            return Ok(());
        }
        NemesisPlan::Script { steps, .. } => {
            let script = script::Script::new(run.nodes(), seed);
            return script.run(cfg, run, recorder, tracker, steps, deadline, shared);
        }
        NemesisPlan::Schedule { name, interval } => (name, interval),
    };
    let mut schedule = Schedule::new(name, run.nodes(), seed, *interval)?;
    loop {
        let leader = tracker.and_then(LeaderTracker::current);
        if !sleep_until(*interval, deadline) {
            return Ok(());
        }
        // A run ends with a healthy tail (the interval, at most 2 s), so that recovery after
        // the last heal is measured while clients still run (as Jepsen's final generator
        // phase does). A fault that would overrun it is cut short, down to half an interval
        // (so that `--time-limit 20` with 10 s intervals still gets a fault, as in
        // Maelstrom); with less time left than that, the run stays healthy to the end.
        let tail = (*interval).min(Duration::from_secs(2));
        let left = deadline.saturating_duration_since(Instant::now());
        if left < tail + *interval / 2 {
            sleep_until(cfg.time_limit, deadline);
            return Ok(());
        }
        let room = left - tail;
        let leader = tracker.and_then(LeaderTracker::current).or(leader);
        let step = schedule.next_step(leader.as_deref())?;
        let fam = family(&step.start);
        apply_and_record(
            cfg,
            run,
            recorder,
            &format!("start-{fam}"),
            &step.start,
            leader.as_deref(),
        )?;
        sleep_until(step.faulty.min(room), deadline + step.faulty);
        apply_and_record(cfg, run, recorder, &format!("stop-{fam}"), &step.stop, None)?;
        if Instant::now() >= deadline {
            return Ok(());
        }
    }
}

/// Applies `fault` and then records it as the nemesis event `event` (after it took effect):
/// its details, plus the leader it aimed at for a `start-` event and the fault's name for a
/// `stop-` event (`heal`, `restart`, `resume`).
pub(crate) fn apply_and_record(
    cfg: &TestConfig,
    run: &Run,
    recorder: &Recorder,
    event: &str,
    fault: &Fault,
    leader: Option<&str>,
) -> Result<()> {
    run.apply(fault)
        .with_context(|| format!("applying {}", fault.f()))?;
    let mut details = match fault.details() {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    if event.starts_with("stop-") {
        details.insert("fault".into(), json!(fault.f()));
    } else if let Some(l) = leader {
        details.insert("leader".into(), json!(l));
    }
    let details = serde_json::Value::Object(details);
    say(cfg, &format!("nemesis: {event} {details}"));
    recorder.nemesis(event, details);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_pair_starts_and_stops() {
        let nodes = vec!["n1".to_string()];
        assert_eq!(
            family(&Fault::Kill {
                nodes: nodes.clone()
            }),
            "kill"
        );
        assert_eq!(
            family(&Fault::Restart {
                nodes: nodes.clone()
            }),
            "kill"
        );
        assert_eq!(
            family(&Fault::Pause {
                nodes: nodes.clone()
            }),
            "pause"
        );
        assert_eq!(family(&Fault::Resume { nodes }), "pause");
    }
}
