//! The scripted nemesis: fixed steps at fixed times, whose targets are named relative to the
//! cluster's state when each step runs (the leader, its followers, nodes marked earlier).

use super::{apply_and_record, sleep_until, Action, ScriptStep, Target};
use crate::clients::recorder::Recorder;
use crate::clients::workload::Shared;
use crate::leaders::LeaderTracker;
use crate::run::{say, TestConfig};
use anyhow::{bail, Result};
use nemesis::{Fault, PartitionKind, Run};
use std::time::{Duration, Instant};

/// Resolves `target` against the nodes, the current leader and the marked slots.
fn resolve(
    target: Target,
    nodes: &[String],
    leader: Option<&str>,
    marks: &[Vec<String>],
    rng: &mut u64,
) -> Vec<String> {
    let leader = leader
        .filter(|l| nodes.iter().any(|n| n == l))
        .unwrap_or(&nodes[0])
        .to_string();
    let followers: Vec<String> = nodes.iter().filter(|n| **n != leader).cloned().collect();
    match target {
        Target::Leader => vec![leader],
        Target::Followers(k) => followers.into_iter().take(k).collect(),
        Target::LeaderAnd(k) => std::iter::once(leader)
            .chain(followers.into_iter().take(k))
            .collect(),
        Target::Random => {
            // xorshift: the scenario's only random choice, from the run's seed.
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            vec![nodes[(*rng % nodes.len() as u64) as usize].clone()]
        }
        Target::All => nodes.to_vec(),
        Target::Marked(i) => marks.get(i).cloned().unwrap_or_default(),
        Target::Unmarked => nodes
            .iter()
            .filter(|n| !marks.iter().any(|m| m.contains(n)))
            .cloned()
            .collect(),
    }
}

/// The groups of [`Action::Partition`]: each target's nodes not already placed (empty groups
/// dropped), then every node no target named.
fn partition_groups(targets: &[Vec<String>], nodes: &[String]) -> Vec<Vec<String>> {
    let mut placed: Vec<String> = Vec::new();
    let mut groups = Vec::new();
    for t in targets {
        let group: Vec<String> = t.iter().filter(|n| !placed.contains(n)).cloned().collect();
        placed.extend(group.iter().cloned());
        if !group.is_empty() {
            groups.push(group);
        }
    }
    let rest: Vec<String> = nodes
        .iter()
        .filter(|n| !placed.contains(n))
        .cloned()
        .collect();
    if !rest.is_empty() {
        groups.push(rest);
    }
    groups
}

/// A script's state while it runs: the seeded choice of [`Target::Random`], the marked slots,
/// and which fault families are still open (to be stopped at the end).
pub(super) struct Script {
    nodes: Vec<String>,
    rng: u64,
    marks: Vec<Vec<String>>,
    net: bool,
    killed: bool,
    paused: bool,
}

impl Script {
    /// A script over `nodes`, its random choices from `seed`.
    pub(super) fn new(nodes: &[String], seed: u64) -> Script {
        Script {
            nodes: nodes.to_vec(),
            rng: seed | 1,
            marks: Vec::new(),
            net: false,
            killed: false,
            paused: false,
        }
    }

    /// Runs the steps; at the end, whatever is still faulty is stopped (and recorded).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        mut self,
        cfg: &TestConfig,
        run: &Run,
        recorder: &Recorder,
        tracker: Option<&LeaderTracker>,
        steps: &[ScriptStep],
        deadline: Instant,
        shared: &Shared,
    ) -> Result<()> {
        let start = deadline - cfg.time_limit;
        for step in steps {
            let at = start + step.at;
            if at >= deadline {
                break;
            }
            sleep_until(at.saturating_duration_since(Instant::now()), deadline);
            let leader = tracker.and_then(LeaderTracker::current);
            if self.control(cfg, &step.action, leader.as_deref(), tracker, shared) {
                continue;
            }
            let (f, fault) = self.fault(cfg, &step.action, leader.as_deref())?;
            apply_and_record(cfg, run, recorder, f, &fault, leader.as_deref())?;
        }
        sleep_until(cfg.time_limit, deadline);
        let nodes = self.nodes.clone();
        for (open, f, fault) in [
            (self.net, "stop-partition", Fault::Heal),
            (
                self.killed,
                "stop-kill",
                Fault::Restart {
                    nodes: nodes.clone(),
                },
            ),
            (self.paused, "stop-pause", Fault::Resume { nodes }),
        ] {
            if open {
                apply_and_record(cfg, run, recorder, f, &fault, None)?;
            }
        }
        Ok(())
    }

    fn pick(&mut self, target: Target, leader: Option<&str>) -> Vec<String> {
        resolve(target, &self.nodes, leader, &self.marks, &mut self.rng)
    }

    /// Runs `action` if it is not a fault (marks, waits, client switches): true if it was one.
    fn control(
        &mut self,
        cfg: &TestConfig,
        action: &Action,
        leader: Option<&str>,
        tracker: Option<&LeaderTracker>,
        shared: &Shared,
    ) -> bool {
        match action {
            Action::Mark(i, t) => {
                let picked = self.pick(*t, leader);
                say(cfg, &format!("nemesis: mark {i} = {picked:?}"));
                if self.marks.len() <= *i {
                    self.marks.resize(*i + 1, Vec::new());
                }
                self.marks[*i] = picked;
            }
            Action::ClearMarks => self.marks.clear(),
            Action::AwaitElection(timeout) => await_election(cfg, tracker, *timeout),
            Action::Writes(on) => {
                shared.set_writes(*on);
                say(
                    cfg,
                    &format!("clients: writes {}", if *on { "on" } else { "off" }),
                );
            }
            _ => return false,
        }
        true
    }

    /// The nemesis event and fault of a fault action; notes which families are open.
    fn fault(
        &mut self,
        cfg: &TestConfig,
        action: &Action,
        leader: Option<&str>,
    ) -> Result<(&'static str, Fault)> {
        match self.process_fault(action, leader) {
            Some(fault) => Ok(fault),
            None => self.network_fault(cfg, action, leader),
        }
    }

    /// Kills, restarts, pauses and resumes; None for any other action.
    fn process_fault(
        &mut self,
        action: &Action,
        leader: Option<&str>,
    ) -> Option<(&'static str, Fault)> {
        let all = self.nodes.clone();
        Some(match action {
            Action::Kill(t) => {
                self.killed = true;
                (
                    "start-kill",
                    Fault::Kill {
                        nodes: self.pick(*t, leader),
                    },
                )
            }
            Action::Restart(t) => (
                "stop-kill",
                Fault::Restart {
                    nodes: self.pick(*t, leader),
                },
            ),
            Action::RestartAll => {
                self.killed = false;
                ("stop-kill", Fault::Restart { nodes: all })
            }
            Action::Pause(t) => {
                self.paused = true;
                (
                    "start-pause",
                    Fault::Pause {
                        nodes: self.pick(*t, leader),
                    },
                )
            }
            Action::ResumeAll => {
                self.paused = false;
                ("stop-pause", Fault::Resume { nodes: all })
            }
            _ => return None,
        })
    }

    /// Partitions, packet loss, held-back appends and the heal.
    fn network_fault(
        &mut self,
        cfg: &TestConfig,
        action: &Action,
        leader: Option<&str>,
    ) -> Result<(&'static str, Fault)> {
        let all = self.nodes.clone();
        let custom = |groups| Fault::partition(PartitionKind::Custom, groups);
        let (f, fault) = match action {
            Action::HoldAppends(t) => {
                let Some(pattern) = cfg.spec.append_pattern.clone() else {
                    bail!(
                        "the nemesis holds back appends, but the system spec has no `append_pattern`"
                    );
                };
                let nodes = self.pick(*t, leader);
                ("start-filter", Fault::Filter { nodes, pattern })
            }
            Action::Partition(targets) => {
                let picked: Vec<Vec<String>> =
                    targets.iter().map(|t| self.pick(*t, leader)).collect();
                ("start-partition", custom(partition_groups(&picked, &all)))
            }
            Action::Isolate(t) => {
                let alone = self.pick(*t, leader);
                let rest = others(&alone, &all);
                let mut groups: Vec<Vec<String>> = alone.iter().map(|n| vec![n.clone()]).collect();
                if !rest.is_empty() {
                    groups.push(rest);
                }
                ("start-partition", custom(groups))
            }
            Action::Split(t) => {
                let side = self.pick(*t, leader);
                let rest = others(&side, &all);
                ("start-partition", custom(vec![side, rest]))
            }
            Action::Loss(percent) => {
                let percent = *percent;
                (
                    "start-loss",
                    Fault::Loss {
                        nodes: all,
                        percent,
                    },
                )
            }
            Action::Heal => ("stop-partition", Fault::Heal),
            other => unreachable!("not a network fault: {other:?}"),
        };
        self.net = f != "stop-partition";
        Ok((f, fault))
    }
}

/// The nodes of `all` not in `some`, in order.
fn others(some: &[String], all: &[String]) -> Vec<String> {
    all.iter().filter(|n| !some.contains(n)).cloned().collect()
}

/// [`Action::AwaitElection`]: waits up to `timeout` for a term above every term so far.
fn await_election(cfg: &TestConfig, tracker: Option<&LeaderTracker>, timeout: Duration) {
    let Some(tracker) = tracker else {
        say(cfg, "nemesis: no leader events to await an election with");
        return;
    };
    let (term, since) = (tracker.max_term(), Instant::now());
    let line = match tracker.wait_term_above(term, timeout) {
        Some(l) => format!(
            "nemesis: {l} elected after term {term} ({} ms)",
            since.elapsed().as_millis()
        ),
        None => format!("nemesis: no election after term {term} within {timeout:?}"),
    };
    say(cfg, &line);
}
