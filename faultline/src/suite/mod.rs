//! `faultline suite`: the classic Raft lab scenarios (MIT 6.824's Raft tests), for any binary a
//! system spec can start, with real processes and a real network.
//!
//! Each scenario is one short [`crate::run`] run with a scripted nemesis and its own
//! expectations, checked on what the run recorded: the history (ops with real times, nemesis
//! events) and the leader sightings. Every scenario also requires the run's checks to pass
//! (linearizability per key, election safety). Expectations that need leader events are
//! reported as `SKIP` for a system that announces none, never as a pass.
//!
//! Timing expectations leave room for a loaded 2-core machine: "a leader within 5 s", "no op
//! invoked at least 1 s into a partition without a majority completes ok".
//!
//! | scenario | cluster | nemesis | expectations |
//! |---|---|---|---|
//! | `initial-election` | 3 | none | a leader within 5 s; one term while healthy |
//! | `re-election` | 3 | isolate leader, heal, isolate 2 of 3, heal | new leader while the old is cut off; no new leader and no ok op without a majority; a leader after heal |
//! | `basic-agree` | 3 | none | ops commit; every key read at the end |
//! | `fail-agree` | 3 | isolate one follower | ops still commit while it is cut off |
//! | `fail-no-agree` | 5 | isolate 3 followers | no ok op without a majority; progress after heal |
//! | `concurrent-ops` | 3 | none | 20 clients, high rate, all checks pass |
//! | `rejoin` | 3 | isolate leader, heal | a new leader while cut off; writes sent to the old one never show (linearizability) |
//! | `backup` | 5 | leader + 1 cut off, then swapped, heal | progress after heal; the time it took is reported |
//! | `persist` | 3 | kill one by one, then all, restart | acknowledged writes survive (linearizability); progress after restarts |
//! | `figure8` | 5 | kill and restart the leader repeatedly | all checks pass; progress at the end |
//! | `unreliable` | 3 | 20% then 40% packet loss | ops still commit; all checks pass |
//! | `churn` | 5 | `mix` schedule, 1.5 s intervals | all checks pass; progress after the last heal |

use crate::faults::{Action, NemesisPlan, ScriptStep};
use crate::leaders::Sighting;
use crate::run::{self, Outcome, TestConfig};
use anyhow::Result;
use checker::Verdict;
use histories::{History, Outcome as OpOutcome};
use std::time::{Duration, Instant};

mod hunts;
mod scenarios;
pub mod scorecard;

pub use hunts::hunts;
pub use scenarios::scenarios;

/// One scenario's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Every expectation held.
    Pass,
    /// An expectation failed: why.
    Fail(String),
    /// Not applicable to this system: why.
    Skip(String),
}

/// A scenario's outcome.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario.
    pub name: &'static str,
    /// Pass, fail or skip.
    pub status: Status,
    /// Wall time.
    pub elapsed: Duration,
    /// The run directory, if the run got that far.
    pub run_dir: Option<std::path::PathBuf>,
    /// Extra figures worth printing (e.g. backup's repair time).
    pub note: String,
}

/// A scenario: its cluster, its nemesis, its expectations.
pub struct Scenario {
    /// Its name.
    pub name: &'static str,
    /// Nodes.
    pub nodes: usize,
    /// Seconds the clients run.
    pub seconds: f64,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Rate of all clients, ops/s.
    pub rate: f64,
    /// Keys.
    pub keys: usize,
    /// The clients' timeout per attempt, seconds (None: the run's, 1 s by default).
    pub op_timeout: Option<f64>,
    /// The nemesis.
    pub plan: fn() -> NemesisPlan,
    /// Expectations beyond the checks; `Err(reason)` fails the scenario.
    pub expect: fn(&Facts) -> Result<String, String>,
    /// Does it need leader events?
    pub needs_leaders: bool,
}

/// What a run recorded, for expectations: the harness's outcome (history, leader sightings,
/// figures), all timed by the same clock (ns since the history was created).
pub struct Facts {
    /// The harness's outcome.
    pub outcome: Outcome,
    /// Leader events are samples (a probe), not announcements.
    pub sampled_leaders: bool,
}

impl Facts {
    fn history(&self) -> &History {
        &self.outcome.history
    }

    fn leaders(&self) -> &[Sighting] {
        &self.outcome.leaders
    }

    /// Times of the nemesis events named `f`, in ns.
    pub fn times(&self, f: &str) -> Vec<u64> {
        self.history()
            .nemesis
            .iter()
            .filter(|e| e.f == f)
            .filter_map(|e| e.time)
            .collect()
    }

    /// The `i`th event named `f`, or an error naming it.
    pub fn at(&self, f: &str, i: usize) -> Result<u64, String> {
        self.times(f)
            .get(i)
            .copied()
            .ok_or_else(|| format!("no {f} event #{}", i + 1))
    }

    /// The `i`th partition: (its start, its heal), or an error naming what is missing.
    pub fn partition(&self, i: usize) -> Result<(u64, u64), String> {
        Ok((
            self.at("start-partition", i)?,
            self.at("stop-partition", i)?,
        ))
    }

    /// Ok ops invoked at or after `from` and completed before `to`.
    pub fn ok_between(&self, from: u64, to: u64) -> usize {
        self.history()
            .ops
            .iter()
            .filter(|o| matches!(o.outcome, OpOutcome::Ok(_)))
            .filter(|o| o.call_time.is_some_and(|c| c >= from))
            .filter(|o| o.ret_time.is_some_and(|r| r < to))
            .count()
    }

    /// Evidence of a new leader while the old one is cut off in `[cut, healed)`, for systems
    /// whose leaders are sampled (etcd's probe counts a leader only once its commit index
    /// moves, which a loaded machine can delay past a short partition): ok ops invoked at
    /// least 1 s into the partition and completed before the heal. Only a leader on the
    /// majority side can serve them (and linearizability is checked as well).
    pub fn served_without(&self, cut: u64, healed: u64) -> bool {
        self.sampled_leaders && self.ok_between(cut + S, healed) > 0
    }

    /// Leader sightings in `[from, to)`.
    pub fn leaders_between(&self, from: u64, to: u64) -> Vec<&Sighting> {
        self.leaders()
            .iter()
            .filter(|s| s.time_ns >= from && s.time_ns < to)
            .collect()
    }

    /// The first ok op completing after `t`, ms after `t`.
    pub fn first_ok_after_ms(&self, t: u64) -> Option<f64> {
        self.history()
            .ops
            .iter()
            .filter(|o| matches!(o.outcome, OpOutcome::Ok(_)))
            .filter_map(|o| o.ret_time)
            .filter(|&r| r >= t)
            .min()
            .map(|r| (r - t) as f64 / 1e6)
    }
}

const S: u64 = 1_000_000_000;

/// A heal is recorded once every node's rules are restored, which takes up to ~100 ms on a
/// loaded machine (one `iptables-restore` per namespace); nodes healed first may already serve
/// ops in that time. "Nothing succeeds without a majority" therefore stops counting this long
/// before the recorded heal (measured: a read completed 0.6 ms before the heal was recorded).
const HEALING: u64 = 500_000_000;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn step(at: f64, action: Action) -> ScriptStep {
    ScriptStep {
        at: secs(at),
        action,
    }
}

/// A scripted plan; its name is set to the scenario's by [`run_scenario`].
fn script(steps: Vec<ScriptStep>) -> NemesisPlan {
    NemesisPlan::Script {
        name: String::new(),
        steps,
    }
}

/// A scripted plan that repeats `cycle` (offsets in seconds from the cycle's start) every
/// `period` seconds, from `from` while a cycle's start is before `until`.
fn cycles(from: f64, until: f64, period: f64, cycle: &[(f64, Action)]) -> NemesisPlan {
    let mut steps = Vec::new();
    let mut t = from;
    while t < until {
        steps.extend(played(t, cycle));
        t += period;
    }
    script(steps)
}

/// `plan` (a script) with `cycle` played once more, from `at` seconds.
fn then_once(plan: NemesisPlan, at: f64, cycle: &[(f64, Action)]) -> NemesisPlan {
    let NemesisPlan::Script { mut steps, .. } = plan else {
        unreachable!("then_once extends a script")
    };
    steps.extend(played(at, cycle));
    script(steps)
}

/// The steps of one play of `cycle` from `at` seconds.
fn played(at: f64, cycle: &[(f64, Action)]) -> impl Iterator<Item = ScriptStep> + '_ {
    cycle.iter().map(move |(dt, a)| step(at + dt, a.clone()))
}

fn need(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

/// Progress after `t`: some ok op within `within_s`.
fn progress_after(f: &Facts, t: u64, within_s: f64, what: &str) -> Result<f64, String> {
    match f.first_ok_after_ms(t) {
        Some(ms) if ms <= within_s * 1e3 => Ok(ms),
        Some(ms) => Err(format!(
            "no ok op within {within_s} s after {what} (first after {ms:.0} ms)"
        )),
        None => Err(format!("no ok op after {what}")),
    }
}

/// The hunts' expectation: some ok op within 5 s of the last heal.
fn progress_after_last_heal(f: &Facts) -> Result<String, String> {
    let healed = *f.times("stop-partition").last().ok_or("no heal recorded")?;
    let ms = progress_after(f, healed, 5.0, "the last heal")?;
    Ok(format!("progress {ms:.0} ms after the last heal"))
}

/// The scenario names.
pub fn names() -> Vec<&'static str> {
    scenarios().iter().map(|s| s.name).collect()
}

/// The hunt names.
pub fn hunt_names() -> Vec<&'static str> {
    hunts().iter().map(|s| s.name).collect()
}

/// Runs one scenario on `base` (spec, store, node args, seed, bin dir taken from it).
pub fn run_scenario(sc: &Scenario, base: &TestConfig) -> ScenarioResult {
    let started = Instant::now();
    let mut cfg = base.clone();
    cfg.nodes = sc.nodes;
    cfg.plan = (sc.plan)();
    if let NemesisPlan::Script { name, .. } = &mut cfg.plan {
        *name = sc.name.to_string();
    }
    cfg.time_limit = secs(sc.seconds);
    cfg.workload.concurrency = sc.concurrency;
    cfg.workload.rate = sc.rate;
    cfg.workload.keys = sc.keys;
    if let Some(t) = sc.op_timeout {
        cfg.op_timeout = secs(t);
    }
    cfg.settle = secs(1.0);
    cfg.final_read_budget = secs(15.0);
    let finish = |status, run_dir, note| ScenarioResult {
        name: sc.name,
        status,
        elapsed: started.elapsed(),
        run_dir,
        note,
    };
    let has_leaders = cfg.spec.leader_events != crate::spec::LeaderEvents::None;
    if sc.needs_leaders && !has_leaders {
        return finish(
            Status::Skip("the system announces no leader events".into()),
            None,
            String::new(),
        );
    }
    let holds_appends = matches!(&cfg.plan, NemesisPlan::Script { steps, .. }
        if steps.iter().any(|s| matches!(s.action, Action::HoldAppends(_))));
    if holds_appends && cfg.spec.append_pattern.is_none() {
        return finish(
            Status::Skip("the system spec has no `append_pattern`".into()),
            None,
            String::new(),
        );
    }
    let outcome = match run::run_test(&cfg) {
        Ok(o) => o,
        Err(e) => {
            return finish(
                Status::Fail(format!("the run failed: {e:#}")),
                None,
                String::new(),
            )
        }
    };
    let dir = Some(outcome.run_dir.clone());
    let facts = Facts {
        outcome,
        sampled_leaders: cfg.spec.leader_events.sampled(),
    };
    if facts.outcome.verdict != Verdict::Valid {
        return finish(
            Status::Fail(why_not_valid(&facts.outcome)),
            dir,
            String::new(),
        );
    }
    match (sc.expect)(&facts) {
        Ok(note) => finish(Status::Pass, dir, note),
        Err(why) => finish(Status::Fail(why), dir, String::new()),
    }
}

/// Why a run's verdict is not valid, in one line: the anomaly the checker named, two leaders in
/// a term, or a node that crashed.
pub fn why_not_valid(o: &Outcome) -> String {
    let election_ok = !matches!(&o.election, Some(e) if e.verdict != Verdict::Valid);
    match o
        .check
        .counterexample
        .as_ref()
        .and_then(|c| c.anomaly.clone())
    {
        Some(a) => format!("linearizability: {a}"),
        None if !election_ok => "election safety: two leaders in one term".to_string(),
        None if !o.crashes.is_empty() => format!("crash: {}", o.crashes[0].describe()),
        None if o.check.verdict != Verdict::Valid => {
            format!("linearizability: {}", o.check.summary_line())
        }
        None => crate::summary::verdict_word(o.verdict).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Target;

    #[test]
    fn cycles_repeat_a_cycle_from_start_to_end() {
        let cycle = [(0.0, Action::Kill(Target::Leader)), (0.5, Action::Heal)];
        let NemesisPlan::Script { steps, .. } = cycles(1.0, 3.0, 1.0, &cycle) else {
            panic!("a script");
        };
        let at: Vec<f64> = steps.iter().map(|s| s.at.as_secs_f64()).collect();
        assert_eq!(at, [1.0, 1.5, 2.0, 2.5]);
        assert_eq!(steps[2].action, Action::Kill(Target::Leader));
        assert_eq!(steps[3].action, Action::Heal);
    }

    #[test]
    fn then_once_plays_a_cycle_once_after_the_plan() {
        let cycle = [(0.0, Action::Kill(Target::Leader)), (0.5, Action::Heal)];
        let plan = then_once(cycles(1.0, 2.0, 1.0, &cycle), 4.0, &[(0.2, Action::Heal)]);
        let NemesisPlan::Script { steps, .. } = plan else {
            panic!("a script");
        };
        let at: Vec<f64> = steps.iter().map(|s| s.at.as_secs_f64()).collect();
        assert_eq!(at, [1.0, 1.5, 4.2]);
        assert_eq!(steps[2].action, Action::Heal);
    }

    #[test]
    fn every_scenario_and_hunt_has_a_unique_name_and_a_plan_within_its_time() {
        let all: Vec<Scenario> = scenarios().into_iter().chain(hunts()).collect();
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for sc in &all {
            if let NemesisPlan::Script { steps, .. } = (sc.plan)() {
                for s in &steps {
                    assert!(s.at.as_secs_f64() < sc.seconds, "{}: {:?}", sc.name, s);
                }
            }
        }
    }
}
