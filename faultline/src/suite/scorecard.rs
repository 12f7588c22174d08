//! The scorecard of raft-node's planted bugs (`faultline bugs`): for each bug, which catcher
//! (a short nemesis run, a suite scenario or a hunt) finds it first, in how many runs; the
//! bug-free node is the control and must pass everything.
//!
//! A planted bug counts as caught only by a finding ([`is_finding`]); a missed expectation is
//! reported and the search goes on.

use super::{hunts, run_scenario, scenarios, why_not_valid, Scenario, ScenarioResult, Status};
use crate::faults::NemesisPlan;
use crate::run::{self, TestConfig};
use anyhow::Result;
use clap::builder::PossibleValue;
use clap::ValueEnum;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// raft-node's planted bugs (docs/design.md, "raft-node's planted bugs"), by their `--bug`
/// names. faultline runs raft-node as a process and never links the node crate (docs/design.md,
/// "Workspace"), so the names are declared here; a test compares them with what
/// `raft-node --list-bugs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum PlantedBug {
    /// Reads answered from the leader's state without confirming leadership.
    StaleRead,
    /// Reads answered by followers.
    FollowerRead,
    /// Log and vote not fsynced.
    NoFsync,
    /// Votes granted twice in one term.
    VoteTwice,
    /// Entries of an earlier term committed by counting replicas.
    CommitOldTerm,
    /// Retried requests applied twice.
    NoDedup,
    /// Conflicting entries kept instead of truncated.
    LostTruncate,
}

impl PlantedBug {
    /// The `--bug` name.
    pub fn name(self) -> String {
        self.to_possible_value()
            .expect("no variant is skipped")
            .get_name()
            .to_string()
    }
}

/// Whom a row of the scorecard is about: the bug-free node or one planted bug. On the command
/// line: `none` or a bug's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The bug-free node.
    Control,
    /// raft-node with `--bug NAME`.
    Bug(PlantedBug),
}

impl ValueEnum for Subject {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<Subject>> = OnceLock::new();
        ALL.get_or_init(|| {
            let bugs = PlantedBug::value_variants().iter().copied();
            std::iter::once(Subject::Control)
                .chain(bugs.map(Subject::Bug))
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Subject::Control => Some(PossibleValue::new("none").help("the bug-free control")),
            Subject::Bug(bug) => bug.to_possible_value(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Control => f.pad("none"),
            Subject::Bug(bug) => f.pad(&bug.name()),
        }
    }
}

/// The rows of `faultline bugs --only ...`, in order: with no `--only`, the control and every
/// bug; otherwise the ones named, the control first if it is named.
pub fn subjects(only: &[Subject]) -> Vec<Subject> {
    if only.is_empty() {
        return Subject::value_variants().to_vec();
    }
    let mut rows = Vec::new();
    if only.contains(&Subject::Control) {
        rows.push(Subject::Control);
    }
    rows.extend(only.iter().filter(|s| **s != Subject::Control));
    rows
}

/// A way to catch a bug: a suite scenario, or a short nemesis run.
pub enum Catcher {
    /// A suite scenario or hunt as it is.
    Scenario(Scenario),
    /// A scenario on raft-node started with extra arguments (a lab configuration).
    Configured {
        /// Its name in the scorecard.
        name: &'static str,
        /// The scenario.
        scenario: Scenario,
        /// The extra node arguments.
        node_args: &'static [&'static str],
    },
    /// A 12 s run of a seeded nemesis on 3 nodes, 10 clients.
    Nemesis {
        /// Its name in the scorecard.
        name: &'static str,
        /// The nemesis.
        nemesis: &'static str,
        /// Keys.
        keys: usize,
        /// Rate of all clients, ops/s.
        rate: f64,
    },
}

impl Catcher {
    /// Its name in the scorecard.
    pub fn name(&self) -> &'static str {
        match self {
            Catcher::Scenario(s) => s.name,
            Catcher::Configured { name, .. } => name,
            Catcher::Nemesis { name, .. } => name,
        }
    }

    /// Runs it once on `base`.
    pub fn run(&self, base: &TestConfig) -> ScenarioResult {
        match self {
            Catcher::Scenario(s) => run_scenario(s, base),
            Catcher::Configured {
                name,
                scenario,
                node_args,
            } => {
                let mut cfg = base.clone();
                cfg.node_args
                    .extend(node_args.iter().map(|a| a.to_string()));
                ScenarioResult {
                    name,
                    ..run_scenario(scenario, &cfg)
                }
            }
            Catcher::Nemesis {
                name,
                nemesis,
                keys,
                rate,
            } => {
                let started = Instant::now();
                let mut cfg = base.clone();
                cfg.nodes = 3;
                cfg.plan = NemesisPlan::Schedule {
                    name: nemesis.to_string(),
                    interval: Duration::from_secs(2),
                };
                cfg.time_limit = Duration::from_secs(12);
                cfg.workload.concurrency = 10;
                cfg.workload.keys = *keys;
                cfg.workload.rate = *rate;
                let (status, run_dir) = match run::run_test(&cfg) {
                    Ok(o) if o.verdict == checker::Verdict::Valid => {
                        (Status::Pass, Some(o.run_dir))
                    }
                    Ok(o) => (Status::Fail(why_not_valid(&o)), Some(o.run_dir)),
                    Err(e) => (Status::Fail(format!("the run failed: {e:#}")), None),
                };
                ScenarioResult {
                    name,
                    status,
                    elapsed: started.elapsed(),
                    run_dir,
                    note: String::new(),
                }
            }
        }
    }
}

/// The catchers, in the order `bugs` tries them: those that caught the most planted bugs
/// soonest when measured (docs/figures.md) first. The hunts come first: `revote`, on raft-node
/// without PreVote (`--no-pre-vote`, as a 6.824 lab Raft; with PreVote no real fault reaches
/// what it hunts, see `suite::hunts`), catches four bugs in its first run; `old-term` the two
/// log-conflict bugs (Figure 8, then a `diverge` cycle); `retry` duplicate applications;
/// `diverge` again the kept conflicting entries. Then the classic partition (the leader cut
/// off), kill and pause runs, then the 6.824 scenarios.
pub fn catchers() -> Vec<Catcher> {
    let mut v: Vec<Catcher> = hunts()
        .into_iter()
        .map(|h| match h.name {
            "revote" => Catcher::Configured {
                name: "revote --no-pre-vote",
                scenario: h,
                node_args: &["--no-pre-vote"],
            },
            _ => Catcher::Scenario(h),
        })
        .collect();
    let rank = |c: &Catcher| {
        HUNT_ORDER
            .iter()
            .position(|n| c.name().split(' ').next() == Some(n))
            .unwrap_or(HUNT_ORDER.len())
    };
    v.sort_by_key(rank);
    v.extend([
        Catcher::Nemesis {
            name: "partition",
            nemesis: "isolate-leader",
            keys: 2,
            rate: 500.0,
        },
        Catcher::Nemesis {
            name: "kill",
            nemesis: "kill",
            keys: 4,
            rate: 300.0,
        },
        Catcher::Nemesis {
            name: "pause",
            nemesis: "pause",
            keys: 2,
            rate: 500.0,
        },
    ]);
    v.extend(scenarios().into_iter().map(Catcher::Scenario));
    v
}

/// The order of the hunts among the catchers (a hunt not named here comes after these).
const HUNT_ORDER: &[&str] = &["revote", "old-term", "retry", "diverge"];

/// Whether a failure proves a bug: a checker's finding (a linearizability violation, two
/// leaders in one term, a node that ended by itself), not a missed expectation such as "the
/// term changed while healthy", which a stalled disk or a descheduled VM can cause too.
pub fn is_finding(why: &str) -> bool {
    ["linearizability: ", "election safety: ", "crash: "]
        .iter()
        .any(|p| why.starts_with(p))
}

/// The catcher that caught a bug.
#[derive(Debug, Clone, PartialEq)]
pub struct Caught {
    /// The catcher's name.
    pub by: &'static str,
    /// The finding.
    pub why: String,
    /// The pass it was caught in, from 1.
    pub pass: usize,
}

/// One row of the scorecard.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Whom it is about.
    pub subject: Subject,
    /// What caught the bug (for the control: what failed).
    pub caught: Option<Caught>,
    /// Runs made.
    pub runs: usize,
    /// Failures that were missed expectations, not findings (not counted as catches).
    pub missed: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl Row {
    /// As it should be: the control passed everything, a bug was caught.
    pub fn ok(&self) -> bool {
        match self.subject {
            Subject::Control => self.caught.is_none(),
            Subject::Bug(_) => self.caught.is_some(),
        }
    }

    /// The row as printed.
    pub fn text(&self) -> String {
        let (subject, secs) = (self.subject, self.elapsed.as_secs_f64());
        let runs = if self.missed > 0 {
            format!(
                "{} runs, {} missed expectation(s) not counted",
                self.runs, self.missed
            )
        } else {
            format!("{} runs", self.runs)
        };
        match (&self.caught, subject) {
            (None, Subject::Control) => {
                format!("{subject:<16} control: passed every scenario ({runs}, {secs:.0} s)")
            }
            (Some(c), Subject::Control) => {
                format!("{subject:<16} control FAILED in {}: {}", c.by, c.why)
            }
            (Some(c), Subject::Bug(_)) => format!(
                "{subject:<16} caught: yes, by {} in pass {} ({runs}, {secs:.0} s): {}",
                c.by, c.pass, c.why
            ),
            (None, Subject::Bug(_)) => format!("{subject:<16} caught: NO ({runs}, {secs:.0} s)"),
        }
    }
}

/// What happened in a row so far, for printing as it goes.
pub enum Event<'a> {
    /// A catcher ran.
    Ran(&'a ScenarioResult),
    /// That run failed on a missed expectation, not a finding: the search goes on.
    Missed,
}

/// The configuration `subject`'s runs start from: `base` with `--bug NAME` for a bug.
pub fn config_for(subject: Subject, base: &TestConfig) -> TestConfig {
    let mut cfg = base.clone();
    if let Subject::Bug(bug) = subject {
        cfg.node_args.extend(["--bug".to_string(), bug.name()]);
    }
    cfg
}

/// Scores one row: up to `passes` passes over `catchers` (pass `p` with seed `seed + p`), until
/// one catches the bug (for the control: until one fails). `run` runs a catcher
/// ([`Catcher::run`] in `faultline bugs`); `on` hears of every run.
pub fn score(
    subject: Subject,
    base: &TestConfig,
    passes: usize,
    seed: u64,
    catchers: &[Catcher],
    mut run: impl FnMut(&Catcher, &TestConfig) -> ScenarioResult,
    mut on: impl FnMut(Event) -> Result<()>,
) -> Result<Row> {
    let mut cfg = config_for(subject, base);
    let started = Instant::now();
    let mut row = Row {
        subject,
        caught: None,
        runs: 0,
        missed: 0,
        elapsed: Duration::ZERO,
    };
    'passes: for pass in 0..passes.max(1) {
        for c in catchers {
            cfg.workload.seed = seed + pass as u64;
            row.runs += 1;
            let r = run(c, &cfg);
            on(Event::Ran(&r))?;
            if let Status::Fail(why) = r.status {
                if subject != Subject::Control && !is_finding(&why) {
                    row.missed += 1;
                    on(Event::Missed)?;
                    continue;
                }
                row.caught = Some(Caught {
                    by: c.name(),
                    why,
                    pass: pass + 1,
                });
                break 'passes;
            }
        }
    }
    row.elapsed = started.elapsed();
    Ok(row)
}

#[cfg(test)]
mod tests;
