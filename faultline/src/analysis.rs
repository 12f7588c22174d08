//! The checks of a finished run (docs/design.md, "A test run"; step 8 in [`crate::run`]):
//! linearizability per key, election safety from the run's leader events, crashes, and the figures,
//! gathered into a typed [`Results`] that is written as `results.json`, with `report.html` beside
//! it.

use crate::cluster::crash::NodeCrash;
use crate::leaders::Sighting;
use crate::run::{Outcome, TestConfig};
use crate::spec::LeaderEvents;
use crate::stats::{self, Mark};
use crate::store::results::{CheckerReport, Checks, Crashes, RunInfo, VERSION};
use crate::store::{self, Results, RunDir};
use anyhow::{Context, Result};
use checker::election::{ElectionReport, LeaderEvent};
use checker::Verdict;
use histories::History;
use std::io;

/// What the run itself knows at its end, beyond its files.
pub struct RunEnd {
    /// The run's id.
    pub run_id: String,
    /// The node ids.
    pub nodes: Vec<String>,
    /// Leader claims as the harness saw them, with times.
    pub leaders: Vec<Sighting>,
    /// ns from the history's creation to the end of the final reads.
    pub duration_ns: u64,
    /// Keys read by the final reads.
    pub final_reads: usize,
    /// Node processes that ended by themselves.
    pub crashes: Vec<NodeCrash>,
}

/// Loads the history, runs the checks, writes `results.json` and `report.html`.
pub fn analyse(cfg: &TestConfig, run_dir: &RunDir, end: RunEnd) -> Result<Outcome> {
    if cfg.workload.kind != crate::clients::workload::WorkloadKind::LinKv {
        return analyse_workload(cfg, run_dir, end);
    }
    let history = histories::load(&run_dir.history(), histories::Format::Jsonl)?.history;
    let opts = checker::Options {
        time_limit: Some(cfg.check_time_limit),
        ..checker::Options::default()
    };
    let mut check = checker::check(&history, &opts);
    if check.ops.total > 0 && check.ops.ok == 0 {
        // Every op failed or timed out: any history of those is linearizable, so "valid"
        // would say nothing about the system.
        check.downgrade_to_unknown(format!(
            "no operation was acknowledged ({} failed, {} indefinite): nothing was checked",
            check.ops.fail, check.ops.info
        ));
    }
    let election = election(cfg, run_dir, &end.nodes)?;
    let figures = figures(&history, end.duration_ns);
    let verdict = overall(check.verdict, election.as_ref(), &end);
    let results = Results {
        faultline: Some(VERSION),
        valid: Some(verdict),
        run: Some(run_info(cfg, &end)),
        checks: Some(checks(
            CheckerReport::of(&check)?,
            election.as_ref(),
            &end,
            None,
        )?),
        figures: Some(figures.clone()),
    };
    run_dir.write_results(&results)?;
    write_report(
        cfg,
        run_dir,
        &history,
        &check,
        election.as_ref(),
        &end,
        &results,
    )?;
    let summary = crate::summary::text(&crate::summary::Parts {
        cfg,
        run_dir,
        check: &check,
        election: election.as_ref(),
        figures: &figures,
        crashes: &end.crashes,
        verdict,
        history: &history,
    });
    Ok(Outcome {
        run_dir: run_dir.dir.clone(),
        verdict,
        results,
        history,
        check,
        election,
        leaders: end.leaders,
        figures,
        crashes: end.crashes,
        summary,
    })
}

/// [`analyse`] for Maelstrom's broadcast, g-counter and unique-ids workloads: their own
/// check (see [`crate::maelstrom::workloads`]) instead of linearizability, with election
/// safety, crashes and kills as for `lin-kv`.
fn analyse_workload(cfg: &TestConfig, run_dir: &RunDir, end: RunEnd) -> Result<Outcome> {
    use crate::maelstrom::{stats as relay_stats, workloads};
    let kind = cfg.workload.kind;
    let wh = workloads::load(&run_dir.history())?;
    let messages = relay_stats::totals(&run_dir.dir, &end.nodes).map(|t| t.to_nodes);
    let report = workloads::check(&wh, kind, messages);
    let election = election(cfg, run_dir, &end.nodes)?;
    let verdict = overall(report.valid, election.as_ref(), &end);
    // The figures and the report see the nemesis events; the ops are not registers.
    let history = History {
        source: run_dir.history().display().to_string(),
        ops: Vec::new(),
        nemesis: wh.nemesis.clone(),
        header: None,
    };
    let check = checker::check(&history, &checker::Options::default());
    let mut figures = figures(&history, end.duration_ns);
    for op in &wh.ops {
        figures.ops.total += 1;
        match op.outcome {
            histories::EventType::Ok => figures.ops.ok += 1,
            histories::EventType::Fail => figures.ops.fail += 1,
            _ => figures.ops.info += 1,
        }
    }
    let mut lin = CheckerReport::not_checked(&format!(
        "the {} workload has no registers; see checks.workload",
        kind.name()
    ));
    lin.ops = None;
    let results = Results {
        faultline: Some(VERSION),
        valid: Some(verdict),
        run: Some(run_info(cfg, &end)),
        checks: Some(checks(
            lin,
            election.as_ref(),
            &end,
            Some(CheckerReport::of(&report)?),
        )?),
        figures: Some(figures.clone()),
    };
    run_dir.write_results(&results)?;
    write_report(
        cfg,
        run_dir,
        &history,
        &check,
        election.as_ref(),
        &end,
        &results,
    )?;
    let summary = crate::summary::workload_text(&crate::summary::WorkloadParts {
        cfg,
        run_dir,
        report: &report,
        history: &wh,
        election: election.as_ref(),
        crashes: &end.crashes,
        verdict,
    });
    Ok(Outcome {
        run_dir: run_dir.dir.clone(),
        verdict,
        results,
        history,
        check,
        election,
        leaders: end.leaders,
        figures,
        crashes: end.crashes,
        summary,
    })
}

/// The run's verdict: the main check's, made worse by election safety and by crashes.
fn overall(main: Verdict, election: Option<&ElectionReport>, end: &RunEnd) -> Verdict {
    let mut verdict = main;
    if let Some(e) = election {
        verdict = verdict.worst(e.verdict);
    }
    if !end.crashes.is_empty() {
        verdict = verdict.worst(Verdict::Invalid);
    }
    verdict
}

/// `results.json`'s `checks`.
fn checks(
    linearizability: CheckerReport,
    election: Option<&ElectionReport>,
    end: &RunEnd,
    workload: Option<CheckerReport>,
) -> Result<Checks> {
    Ok(Checks {
        linearizability: Some(linearizability),
        election_safety: Some(match election {
            Some(e) => CheckerReport::of(e)?,
            None => CheckerReport::not_checked("the system announces no leader events"),
        }),
        crashes: Some(Crashes {
            valid: end.crashes.is_empty(),
            crashes: end.crashes.clone(),
        }),
        workload,
    })
}

/// `results.json`'s `run`.
fn run_info(cfg: &TestConfig, end: &RunEnd) -> RunInfo {
    RunInfo {
        id: Some(end.run_id.clone()),
        system: Some(cfg.spec.name.clone()),
        nemesis: Some(cfg.plan.name().to_string()),
        seed: Some(cfg.workload.seed),
        nodes: Some(end.nodes.clone()),
        command: Some(cfg.command.clone()),
        node_args: Some(cfg.node_args.clone()),
        started: None,
        duration_s: Some(end.duration_ns as f64 / 1e9),
        final_reads: Some(end.final_reads as u64),
        keys: Some(cfg.workload.keys as u64),
    }
}

/// Election safety from the leader events the spec names (None: the system announces none).
fn election(
    cfg: &TestConfig,
    run_dir: &RunDir,
    nodes: &[String],
) -> Result<Option<ElectionReport>> {
    let sources: Vec<(std::path::PathBuf, String)> = match cfg.spec.leader_events {
        LeaderEvents::None => return Ok(None),
        // Sampled by the probe during the run (see leaders::etcd_probe).
        LeaderEvents::EtcdProbe | LeaderEvents::ZookeeperProbe | LeaderEvents::RedisSentinel => {
            vec![(run_dir.leaders(), store::LEADERS.to_string())]
        }
        LeaderEvents::StdoutJsonl => nodes
            .iter()
            .map(|n| (run_dir.node_log(n), store::node_log_name(n)))
            .collect(),
    };
    let mut events = Vec::new();
    for (path, source) in sources {
        let file =
            std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        events.extend(checker::election::parse_leader_events(
            io::BufReader::new(file),
            &source,
        )?);
    }
    Ok(Some(checker::election::check(&events)))
}

/// The figures of `history`, its fault intervals from its nemesis events.
fn figures(history: &History, duration_ns: u64) -> stats::Figures {
    let marks: Vec<Mark> = history
        .nemesis
        .iter()
        .map(|e| Mark {
            time_ns: e.time.unwrap_or(0),
            f: e.f.clone(),
        })
        .collect();
    stats::figures(&history.ops, &marks, duration_ns)
}

/// Writes `report.html`, the harness's leader sightings drawn as leader changes.
fn write_report(
    cfg: &TestConfig,
    run_dir: &RunDir,
    history: &History,
    check: &checker::Report,
    election: Option<&ElectionReport>,
    end: &RunEnd,
    results: &Results,
) -> Result<()> {
    let leader_events: Vec<LeaderEvent> = end
        .leaders
        .iter()
        .enumerate()
        .map(|(i, l)| LeaderEvent {
            node: l.node.clone(),
            term: l.term,
            line: i as u64 + 1,
            time: Some(l.time_ns),
            source: store::LEADERS.into(),
        })
        .collect();
    let page = crate::report::render(&crate::report::ReportInput {
        history,
        check,
        election,
        leaders: &leader_events,
        results: Some(results),
        title: format!("{} under {}", cfg.spec.name, cfg.plan.name()),
        command: Some(cfg.command.clone()),
    });
    store::write_atomic(&run_dir.report(), page.as_bytes())
}
