//! `faultline suite` and `faultline bugs`: the Raft lab scenarios, and the scorecard of
//! raft-node's planted bugs (see [`faultline::suite`]).

use crate::cli::{BugsArgs, Exit, SuiteArgs, TestArgs};
use anyhow::{bail, Result};
use faultline::harness::{self, NemesisPlan, TestConfig};
use faultline::suite::{self, Scenario, ScenarioResult, Status};
use std::time::{Duration, Instant};

/// raft-node's planted bugs (DESIGN.md, "raft-node's planted bugs"). The same list as
/// `node::core::Bugs::NAMES`, written out because faultline runs raft-node as a process and
/// never links the node crate (DESIGN.md, "Workspace"); an unknown name fails at node start.
pub const BUGS: [&str; 7] = [
    "stale-read",
    "follower-read",
    "no-fsync",
    "vote-twice",
    "commit-old-term",
    "no-dedup",
    "lost-truncate",
];

fn base_config(
    system: &std::path::Path,
    store: &std::path::Path,
    node_args: &Option<String>,
    seed: Option<u64>,
) -> Result<TestConfig> {
    let args = TestArgs {
        system: system.to_path_buf(),
        nodes: 3,
        nemesis: "none".into(),
        nemesis_interval: 5.0,
        time_limit: 5.0,
        concurrency: 4,
        rate: 100.0,
        keys: 2,
        read_pct: 50,
        write_pct: 25,
        op_timeout: 1.0,
        seed,
        node_args: node_args.clone(),
        store: store.to_path_buf(),
        check_time_limit: 60.0,
        json: false,
    };
    let mut cfg = crate::testcmd::config(&args)?;
    cfg.progress = false;
    Ok(cfg)
}

fn line(r: &ScenarioResult) -> String {
    let t = r.elapsed.as_secs_f64();
    let mut s = match &r.status {
        Status::Pass => format!("--- PASS: {} ({t:.1}s) {}\n", r.name, r.note),
        Status::Fail(why) => format!("--- FAIL: {} ({t:.1}s): {why}\n", r.name),
        Status::Skip(why) => format!("--- SKIP: {} ({t:.1}s): {why}\n", r.name),
    };
    if let (Status::Fail(_), Some(dir)) = (&r.status, &r.run_dir) {
        s.push_str(&format!("    store: {}\n", dir.display()));
    }
    s
}

/// The classic scenarios, or those named by `--only` (which may also name a hunt).
fn select(only: &[String]) -> Result<Vec<Scenario>> {
    let mut all = suite::scenarios();
    if only.is_empty() {
        return Ok(all);
    }
    all.extend(suite::hunts());
    for o in only {
        if !all.iter().any(|s| s.name == o) {
            bail!(
                "--only: unknown scenario {o:?}; expected one of {} (or a hunt: {})",
                suite::names().join(", "),
                suite::hunt_names().join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| only.iter().any(|o| o == s.name))
        .collect())
}

/// Runs `faultline suite`.
pub fn run_suite(args: &SuiteArgs) -> Result<Exit> {
    nemesis::install_cleanup_handlers().map_err(|e| anyhow::anyhow!("{e}"))?;
    faultline::runlog::install();
    let scenarios = select(&args.only)?;
    let mut base = base_config(&args.system, &args.store, &args.node_args, args.seed)?;
    let seed = base.workload.seed;
    crate::output::print(&format!(
        "suite: {} scenario(s) on {}, seed {seed}{}\n",
        scenarios.len(),
        base.spec.name,
        if args.runs > 1 {
            format!(", up to {} runs each", args.runs)
        } else {
            String::new()
        }
    ))?;
    let started = Instant::now();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for sc in &scenarios {
        crate::output::print(&format!("=== RUN   {}\n", sc.name))?;
        let mut last = None;
        for run in 0..args.runs.max(1) {
            base.workload.seed = seed + run as u64;
            let r = suite::run_scenario(sc, &base);
            let stop = !matches!(r.status, Status::Pass);
            last = Some(r);
            if stop {
                break;
            }
        }
        let r = last.expect("at least one run");
        match r.status {
            Status::Pass => pass += 1,
            Status::Fail(_) => fail += 1,
            Status::Skip(_) => skip += 1,
        }
        crate::output::print(&line(&r))?;
    }
    faultline::runlog::close();
    let verdict = if fail == 0 { "PASS" } else { "FAIL" };
    crate::output::print(&format!(
        "{verdict}: {pass} passed, {fail} failed, {skip} skipped in {:.0} s ({})\n",
        started.elapsed().as_secs_f64(),
        base.spec.name
    ))?;
    Ok(if fail == 0 {
        Exit::Valid
    } else {
        Exit::Invalid
    })
}

/// A way to catch a bug: a suite scenario, or a short nemesis run.
enum Catcher {
    Scenario(Scenario),
    /// A scenario on raft-node started with extra arguments (a lab configuration).
    Configured {
        name: &'static str,
        scenario: Scenario,
        node_args: &'static [&'static str],
    },
    Nemesis {
        name: &'static str,
        nemesis: &'static str,
        keys: usize,
        rate: f64,
    },
}

impl Catcher {
    fn name(&self) -> &'static str {
        match self {
            Catcher::Scenario(s) => s.name,
            Catcher::Configured { name, .. } => name,
            Catcher::Nemesis { name, .. } => name,
        }
    }

    fn run(&self, base: &TestConfig) -> ScenarioResult {
        match self {
            Catcher::Scenario(s) => suite::run_scenario(s, base),
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
                    ..suite::run_scenario(scenario, &cfg)
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
                let (status, run_dir) = match harness::run_test(&cfg) {
                    Ok(o) if o.verdict == checker::Verdict::Valid => {
                        (Status::Pass, Some(o.run_dir))
                    }
                    Ok(o) => (Status::Fail(suite::why_not_valid(&o)), Some(o.run_dir)),
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

/// The catchers, in the order `bugs` tries them: the classic partition / kill / pause runs
/// first (cheap and broad), then the suite, then the hunts. `revote` runs raft-node without
/// PreVote (`--no-pre-vote`, as a 6.824 lab Raft): with PreVote no real fault reaches what it
/// hunts (see `suite::hunts`).
fn catchers() -> Vec<Catcher> {
    let mut v = vec![
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
    ];
    v.extend(suite::scenarios().into_iter().map(Catcher::Scenario));
    v.extend(suite::hunts().into_iter().map(|h| match h.name {
        "revote" => Catcher::Configured {
            name: "revote --no-pre-vote",
            scenario: h,
            node_args: &["--no-pre-vote"],
        },
        _ => Catcher::Scenario(h),
    }));
    v
}

/// Whether a failure proves a bug: a checker's finding (a linearizability violation, two
/// leaders in one term, a node that ended by itself), not a missed expectation such as "the
/// term changed while healthy", which a stalled disk or a descheduled VM can cause too.
fn is_finding(why: &str) -> bool {
    ["linearizability: ", "election safety: ", "crash: "]
        .iter()
        .any(|p| why.starts_with(p))
}

/// Runs `faultline bugs`: the scorecard. A planted bug counts as caught only by a finding
/// ([`is_finding`]); a missed expectation is printed and the search goes on. The control
/// (the bug-free node) must pass everything, expectations included.
pub fn run_bugs(args: &BugsArgs) -> Result<Exit> {
    nemesis::install_cleanup_handlers().map_err(|e| anyhow::anyhow!("{e}"))?;
    faultline::runlog::install();
    let bugs: Vec<&str> = if args.only.is_empty() {
        BUGS.to_vec()
    } else {
        for b in &args.only {
            if !BUGS.contains(&b.as_str()) && b != "none" {
                bail!(
                    "--only: unknown bug {b:?}; expected one of {}, none",
                    BUGS.join(", ")
                );
            }
        }
        args.only.iter().map(String::as_str).collect()
    };
    let mut rows = Vec::new();
    let mut all = vec!["none"];
    all.extend(bugs.iter().filter(|b| **b != "none"));
    if !args.only.is_empty() && !args.only.iter().any(|b| b == "none") {
        all.remove(0);
    }
    let mut ok = true;
    for bug in all {
        let node_args = (bug != "none").then(|| format!("--bug {bug}"));
        let mut base = base_config(&args.system, &args.store, &node_args, Some(args.seed))?;
        let started = Instant::now();
        let mut caught = None;
        let mut runs = 0;
        let mut missed = 0;
        'passes: for pass in 0..args.runs.max(1) {
            for c in catchers() {
                base.workload.seed = args.seed + pass as u64;
                runs += 1;
                let r = c.run(&base);
                crate::output::print(&format!("  [{bug}] {}", line(&r)))?;
                if let Status::Fail(why) = r.status {
                    if bug != "none" && !is_finding(&why) {
                        missed += 1;
                        crate::output::print(&format!(
                            "  [{bug}] a missed expectation, not a finding: the search goes on\n"
                        ))?;
                        continue;
                    }
                    caught = Some((c.name(), why, pass + 1));
                    break 'passes;
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let runs = if missed > 0 {
            format!("{runs} runs, {missed} missed expectation(s) not counted")
        } else {
            format!("{runs} runs")
        };
        let row = match (&caught, bug) {
            (None, "none") => {
                format!("{bug:<16} control: passed every scenario ({runs}, {secs:.0} s)")
            }
            (Some((by, why, _)), "none") => {
                ok = false;
                format!("{bug:<16} control FAILED in {by}: {why}")
            }
            (Some((by, why, pass)), _) => format!(
                "{bug:<16} caught: yes, by {by} in pass {pass} ({runs}, {secs:.0} s): {why}"
            ),
            (None, _) => {
                ok = false;
                format!("{bug:<16} caught: NO ({runs}, {secs:.0} s)")
            }
        };
        crate::output::print(&format!("{row}\n"))?;
        rows.push(row);
    }
    faultline::runlog::close();
    crate::output::print(&format!(
        "\nscorecard (seed {}):\n{}\n",
        args.seed,
        rows.join("\n")
    ))?;
    Ok(if ok { Exit::Valid } else { Exit::Invalid })
}

#[cfg(test)]
mod tests {
    use super::is_finding;

    #[test]
    fn only_checker_findings_count_as_catches() {
        assert!(is_finding("linearizability: a stale read: ..."));
        assert!(is_finding("election safety: two leaders in one term"));
        assert!(is_finding("crash: node n1 (pid 7) ended by itself"));
        assert!(!is_finding("the term changed while healthy: terms {1, 3}"));
        assert!(!is_finding("the run failed: setup"));
        assert!(!is_finding("unknown"));
    }
}
