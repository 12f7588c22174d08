//! `faultline test`: one run, from an empty machine to a verdict (docs/design.md, "A test run").
//!
//! 1. Root and tools are checked (`ip`, `iptables`; installed on Debian when we are root).
//! 2. A store directory `store/<system>-<nemesis>/<timestamp>/` is created and `store/latest`
//!    points at it.
//! 3. The netns backend builds the cluster: a bridge, one namespace per node, a clients'
//!    namespace; every name carries the run id (see the `nemesis` crate).
//! 4. The nodes are started with the spec's command (placeholders filled in, `--node-args`
//!    appended), stdout and stderr to `nodes/<id>.log`; the harness waits until every node
//!    accepts a TCP connection on its client address, and for a first leader when the system
//!    announces leaders.
//! 5. Clients (tokio tasks, see [`crate::clients::workload`]) run the generator; every op is recorded
//!    as it happens (flushed per line) in `history.jsonl`.
//! 6. The nemesis (a seeded [`nemesis::Schedule`], or a fixed script) alternates healthy and
//!    faulty intervals. Each fault is recorded as a nemesis event *after* it took effect:
//!    `start-<family>` with its details, then `stop-<family>` with what ended it (`heal`,
//!    `restart`, `resume`); family is `partition`, `loss`, `kill` or `pause`.
//! 7. At the time limit: clients stop (an op in flight completes or times out), everything is
//!    healed (network rules removed, paused nodes continued, killed nodes restarted), and after
//!    a settle period one client reads every key, retrying until the cluster answers.
//! 8. The cluster is torn down (also on Ctrl-C, SIGTERM and panic: the `Run` guard and the
//!    handlers of `nemesis::install_cleanup_handlers`). Then the checks run: linearizability
//!    per key, election safety from every node's log, liveness figures; `results.json` is
//!    written (temp + fsync + rename).
//!
//! Exit codes: 0 valid, 1 invalid, 2 unknown or the run failed.

//! Each step is a module of its own, in this order: [`crate::spec`], [`crate::cluster`],
//! [`crate::clients`], [`crate::faults`], [`crate::leaders`], [`crate::analysis`],
//! [`crate::summary`]; this module runs them.

use crate::analysis::{self, RunEnd};
use crate::clients::adapter::Connector;
use crate::clients::recorder::Recorder;
use crate::clients::workload::{Shared, Workload, WorkloadKind};
use crate::clients::{self, Clients, Header};
use crate::cluster::crash::{self, NodeCrash};
use crate::cluster::netns::NetnsConnector;
use crate::cluster::Cluster;
use crate::faults::{self, NemesisPlan};
use crate::leaders::sources::{self, Clock, Probe};
use crate::leaders::Sighting;
use crate::maelstrom::workloads;
use crate::spec::SystemSpec;
use crate::stats;
use crate::store::{Results, RunDir};
use anyhow::{bail, Context, Result};
use checker::Verdict;
use nemesis::{Run, RunId};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// The system under test.
    pub spec: SystemSpec,
    /// Number of nodes.
    pub nodes: usize,
    /// The nemesis.
    pub plan: NemesisPlan,
    /// How long clients run.
    pub time_limit: Duration,
    /// The client workload (its seed is the run's seed).
    pub workload: Workload,
    /// Per-op timeout: an op without an answer by then is `info`.
    pub op_timeout: Duration,
    /// The store's root.
    pub store: PathBuf,
    /// Extra arguments appended to every node's start command (e.g. `--bug stale-read`).
    pub node_args: Vec<String>,
    /// The directory `{bin}` stands for.
    pub bin_dir: PathBuf,
    /// The command line, recorded to repeat the run.
    pub command: String,
    /// Time after the final heal before the final reads.
    pub settle: Duration,
    /// Budget of the final reads.
    pub final_read_budget: Duration,
    /// Budget of the linearizability check.
    pub check_time_limit: Duration,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Message faults the relays of Maelstrom nodes apply (ignored for other systems).
    pub net: crate::maelstrom::NetOptions,
    /// Copy every node's log to stderr as the run goes, each line prefixed with the node.
    pub log_stderr: bool,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The run's directory in the store.
    pub run_dir: PathBuf,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The contents of `results.json`.
    pub results: Results,
    /// The recorded history, as checked.
    pub history: histories::History,
    /// The linearizability report.
    pub check: checker::Report,
    /// The election-safety report (None: the system announces no leaders).
    pub election: Option<checker::election::ElectionReport>,
    /// Leader claims as the harness saw them, with times.
    pub leaders: Vec<Sighting>,
    /// The figures.
    pub figures: stats::Figures,
    /// Node processes that ended by themselves (not killed by the nemesis).
    pub crashes: Vec<NodeCrash>,
    /// A few lines for the terminal.
    pub summary: String,
}

/// Runs one test. Errors are failures of the run itself (exit 2); a verdict is in [`Outcome`].
pub fn run_test(cfg: &TestConfig) -> Result<Outcome> {
    preflight(cfg)?;
    let run_dir = RunDir::create(&cfg.store, &cfg.spec.name, cfg.plan.name())?;
    let run_id = RunId::random();
    open_log(cfg, &run_dir, &run_id)?;
    let started = chrono::Utc::now().to_rfc3339();
    let mut cluster = Cluster::start(cfg, &run_dir, run_id.clone())?;
    let _log_copy = cfg
        .log_stderr
        .then(|| crate::runlog::LogCopy::start(&run_dir, &cluster.nodes));
    let header = Header {
        run_id: run_id.as_str(),
        nodes: &cluster.nodes,
        started: &started,
    };
    let recorder = clients::create_recorder(cfg, &run_dir, &header)?;
    // One clock for the history and the leader sightings: the recorder's.
    let rec = Arc::clone(&recorder);
    let clock: Clock = Arc::new(move || rec.now_ns());
    let connector: Arc<dyn Connector> =
        Arc::new(NetnsConnector::new(&run_id, Duration::from_secs(1)));
    let rt = runtime()?;
    let tracker = sources::tracker(cfg.spec.leader_events, &cluster.nodes, &run_dir, &clock)?;
    let _services = cluster.services.take().map(|listener| {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener).map(|l| {
            rt.spawn(crate::maelstrom::service::serve(
                crate::maelstrom::service::Services::new(),
                l,
            ))
        })
    });
    cluster.wait_ready(cfg, &run_dir)?;
    let probe = Probe::start(cfg, &rt, &cluster.addrs, &connector, tracker.as_ref())?;
    sources::wait_first_leader(cfg, tracker.as_deref());

    let shared = Shared::new(&cfg.workload, Arc::clone(&recorder));
    let kind = cfg.workload.kind;
    let mut others = match kind {
        WorkloadKind::LinKv => None,
        _ => Some(workloads::Running::start(
            &cfg.workload,
            cfg.op_timeout,
            &rt,
            &recorder,
            &cluster.addrs,
            &connector,
        )?),
    };
    let clients = (kind == WorkloadKind::LinKv)
        .then(|| Clients::start(cfg, &rt, &shared, &cluster.addrs, &connector));
    let nemesis_result = faults::run_nemesis(
        cfg,
        &cluster.run,
        &recorder,
        tracker.as_deref(),
        cfg.workload.seed,
        &shared,
    );
    if let Some(c) = clients {
        c.stop(&rt);
    }
    if let Some(o) = others.as_mut() {
        o.stop(&rt);
    }
    let heal = heal_all(cfg, &cluster.run, &recorder);
    std::thread::sleep(cfg.settle);
    let read = match &others {
        None => {
            let read = clients::final_reads(cfg, &rt, &shared, &cluster.addrs, &connector);
            say(
                cfg,
                &format!("final reads: {read} of {} keys", cfg.workload.keys),
            );
            read
        }
        Some(_) if kind == WorkloadKind::UniqueIds => 0,
        Some(o) => {
            let short = o.final_reads(
                &run_dir.history(),
                cfg.final_read_budget,
                &rt,
                &cluster.addrs,
                &connector,
            )?;
            let n = cluster.nodes.len();
            if short.is_empty() {
                say(
                    cfg,
                    &format!("final reads: all {n} nodes show what they must"),
                );
            } else {
                say(
                    cfg,
                    &format!(
                        "final reads: {} of {n} nodes still short after {:?}: {}",
                        short.len(),
                        cfg.final_read_budget,
                        short.join(" ")
                    ),
                );
            }
            n - short.len()
        }
    };
    let duration_ns = clock();
    let crashes = crash::describe_crashes(&run_dir, cluster.run.crashes());
    for c in &crashes {
        say(cfg, &format!("crash: {}", c.describe()));
    }
    let recorded = recorder.finish();
    probe.stop(&rt);
    drop(rt);
    let leaders = tracker.map(|t| t.finish()).unwrap_or_default();
    let Cluster { run, nodes, .. } = cluster;
    teardown(cfg, run);
    let events = recorded.with_context(|| format!("writing {}", crate::store::HISTORY))?;
    nemesis_result?;
    heal.context("final heal")?;

    say(cfg, &format!("checking {events} events"));
    let end = RunEnd {
        run_id: run_id.as_str().to_string(),
        nodes,
        leaders,
        duration_ns,
        final_reads: read,
        crashes,
    };
    analysis::analyse(cfg, &run_dir, end)
}

/// The clients' and the probe's runtime: two worker threads.
fn runtime() -> Result<tokio::runtime::Runtime> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    Ok(rt)
}

/// Step 1: root and tools (`ip`, `iptables`; installed on Debian when we are root).
fn preflight(cfg: &TestConfig) -> Result<()> {
    nemesis::require_root()?;
    let installed = nemesis::ensure_tools()?;
    if !installed.is_empty() {
        say(cfg, &format!("installed {}", installed.join(", ")));
    }
    if cfg.nodes == 0 {
        bail!("--nodes: expected at least 1 node");
    }
    Ok(())
}

/// Opens `faultline.log` and says what runs where.
fn open_log(cfg: &TestConfig, run_dir: &RunDir, run_id: &RunId) -> Result<()> {
    crate::runlog::open(&run_dir.log())
        .with_context(|| format!("create {}", run_dir.log().display()))?;
    say(
        cfg,
        &format!(
            "run {run_id}: {} nodes of {}, nemesis {}, {} s, seed {}; store {}",
            cfg.nodes,
            cfg.spec.name,
            cfg.plan.name(),
            cfg.time_limit.as_secs_f64(),
            cfg.workload.seed,
            run_dir.dir.display()
        ),
    );
    Ok(())
}

/// Step 7: heals everything (network rules removed, paused nodes continued, killed nodes
/// restarted) and records it; a failure is returned for after the teardown.
fn heal_all(cfg: &TestConfig, run: &Run, recorder: &Recorder) -> nemesis::Result<()> {
    say(cfg, "clients stopped; healing everything");
    let heal = run.heal_all();
    recorder.nemesis("heal-all", json!(null));
    if let Err(e) = &heal {
        say(cfg, &format!("heal failed: {e}"));
    }
    heal
}

/// Step 8: tears the cluster down; what could not be removed is said, not fatal.
fn teardown(cfg: &TestConfig, run: Run) {
    let teardown = run.teardown();
    if !teardown.errors.is_empty() {
        say(
            cfg,
            &format!("teardown incomplete: {}", teardown.errors.join("; ")),
        );
    }
}

/// Says `line` in `faultline.log`, and on stderr when the run prints progress.
pub(crate) fn say(cfg: &TestConfig, line: &str) {
    tracing::info!("{line}");
    if cfg.progress {
        eprintln!("faultline: {line}");
    }
}

/// The directory of the running executable (what `{bin}` stands for).
pub fn exe_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the faultline executable")?;
    Ok(exe
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".")))
}
