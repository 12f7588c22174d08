//! `faultline test`: one run, from an empty machine to a verdict (DESIGN.md, "A test run").
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
//! 5. Clients (tokio tasks, see [`crate::workload`]) run the generator; every op is recorded
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

use crate::adapter::{etcd_probe, Client, ClientOptions, Connector};
use crate::leaders::LeaderTracker;
use crate::recorder::Recorder;
use crate::spec::{LeaderEvents, NodeVars, SystemSpec};
use crate::stats::{self, Mark};
use crate::store::RunDir;
use crate::workload::{self, Shared, Workload};
use anyhow::{anyhow, bail, Context, Result};
use checker::Verdict;
use nemesis::{Fault, ProcState, Run, RunId, Schedule, SpawnSpec};
use serde_json::json;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
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
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The run's directory in the store.
    pub run_dir: PathBuf,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The contents of `results.json`.
    pub results: serde_json::Value,
    /// The recorded history, as checked.
    pub history: histories::History,
    /// The linearizability report.
    pub check: checker::Report,
    /// The election-safety report (None: the system announces no leaders).
    pub election: Option<checker::election::ElectionReport>,
    /// Leader claims as the harness saw them, with times.
    pub leaders: Vec<crate::leaders::Sighting>,
    /// The figures.
    pub figures: stats::Figures,
    /// Node processes that ended by themselves (not killed by the nemesis).
    pub crashes: Vec<NodeCrash>,
    /// A few lines for the terminal.
    pub summary: String,
}

/// A node process that ended although the nemesis did not kill it: a finding, like a
/// linearizability violation (the system under test panicked or aborted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeCrash {
    /// The node.
    pub node: String,
    /// Its process.
    pub pid: u32,
    /// How it ended: "exit status 101", "killed by a signal", "a zombie".
    pub how: String,
    /// The last line of its log that says why (a panic or an error), if any.
    pub log_line: Option<String>,
}

impl NodeCrash {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "node {} (pid {}) ended by itself ({})",
            self.node, self.pid, self.how
        );
        if let Some(l) = &self.log_line {
            s.push_str(&format!(": {l}"));
        }
        s
    }
}

/// The crash reports of `crashes`, with the telling line of each node's log.
fn describe_crashes(run_dir: &RunDir, crashes: Vec<nemesis::Crash>) -> Vec<NodeCrash> {
    crashes
        .into_iter()
        .map(|c| {
            let how = match c.state {
                ProcState::Exited(Some(code)) => format!("exit status {code}"),
                ProcState::Exited(None) => "killed by a signal".to_string(),
                _ => "exited, not reaped".to_string(),
            };
            let log = std::fs::read_to_string(run_dir.node_log(&c.node)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            // Rust prints "thread '..' panicked at FILE:LINE:COL:" and the message on the next
            // line; other programs end with an error or fatal line.
            let log_line = match lines.iter().rposition(|l| l.contains("panicked at")) {
                Some(i) => Some(
                    lines[i..(i + 2).min(lines.len())]
                        .iter()
                        .map(|l| l.trim())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                None => lines
                    .iter()
                    .rev()
                    .find(|l| {
                        let l = l.to_ascii_lowercase();
                        l.contains("fatal") || l.contains("error")
                    })
                    .map(|l| l.trim().to_string()),
            }
            .map(|l| l.chars().take(300).collect());
            NodeCrash {
                node: c.node,
                pid: c.pid,
                how,
                log_line,
            }
        })
        .collect()
}

impl Outcome {
    /// DESIGN.md's exit code: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }
}

/// How often the etcd probe polls every member's status.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Opens connections from inside the clients' network namespace (the host has no route to
/// the nodes' subnet). `connect(2)` runs on a helper thread that entered the namespace; the
/// socket keeps the namespace it was created in, so tokio can drive it from anywhere.
pub struct NetnsConnector {
    netns: String,
    timeout: Duration,
}

impl NetnsConnector {
    /// A connector for run `id`'s clients' namespace.
    pub fn new(id: &RunId, timeout: Duration) -> NetnsConnector {
        NetnsConnector {
            netns: nemesis::names::netns_name(id, "c"),
            timeout,
        }
    }

    fn connect_blocking(&self, addr: SocketAddr) -> io::Result<std::net::TcpStream> {
        let timeout = self.timeout;
        let stream = nemesis::in_netns(&self.netns, move || {
            std::net::TcpStream::connect_timeout(&addr, timeout)
        })
        .map_err(|e| io::Error::other(e.to_string()))??;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Connector for NetnsConnector {
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<tokio::net::TcpStream>> + Send>> {
        let me = NetnsConnector {
            netns: self.netns.clone(),
            timeout: self.timeout,
        };
        Box::pin(async move {
            let std = tokio::task::spawn_blocking(move || me.connect_blocking(addr))
                .await
                .map_err(io::Error::other)??;
            tokio::net::TcpStream::from_std(std)
        })
    }
}

/// Splits a command line the way a shell would for simple cases: whitespace separates words,
/// single and double quotes group them. No variables, no escapes beyond `\"` inside quotes.
pub fn split_args(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n) => cur.push(n),
                None => bail!("unfinished escape at the end of {text:?}"),
            },
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        bail!("unclosed {q} in {text:?}");
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn say(cfg: &TestConfig, line: &str) {
    tracing::info!("{line}");
    if cfg.progress {
        eprintln!("faultline: {line}");
    }
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

/// Runs one test. Errors are failures of the run itself (exit 2); a verdict is in [`Outcome`].
pub fn run_test(cfg: &TestConfig) -> Result<Outcome> {
    nemesis::require_root().map_err(|e| anyhow!("{e}"))?;
    let installed = nemesis::ensure_tools().map_err(|e| anyhow!("{e}"))?;
    if !installed.is_empty() {
        say(cfg, &format!("installed {}", installed.join(", ")));
    }
    if cfg.nodes == 0 {
        bail!("--nodes: expected at least 1 node");
    }
    let seed = cfg.workload.seed;
    let run_dir = RunDir::create(&cfg.store, &cfg.spec.name, cfg.plan.name())?;
    let run_id = RunId::random();
    crate::runlog::open(&run_dir.log())
        .with_context(|| format!("create {}", run_dir.log().display()))?;
    say(
        cfg,
        &format!(
            "run {run_id}: {} nodes of {}, nemesis {}, {} s, seed {seed}; store {}",
            cfg.nodes,
            cfg.spec.name,
            cfg.plan.name(),
            cfg.time_limit.as_secs_f64(),
            run_dir.dir.display()
        ),
    );
    let started_at = chrono::Utc::now().to_rfc3339();
    let run = Run::netns(run_id.clone(), cfg.nodes).map_err(|e| anyhow!("{e}"))?;
    let nodes: Vec<String> = run.nodes().to_vec();
    let mut vars = Vec::new();
    for node in &nodes {
        let ip = run.backend().address(node).map_err(|e| anyhow!("{e}"))?;
        let data_dir = run_dir.node_data(node);
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create {}", data_dir.display()))?;
        vars.push(NodeVars {
            id: node.clone(),
            ip: ip.to_string(),
            data_dir,
        });
    }
    let mut addrs = Vec::new();
    for v in &vars {
        let text = cfg.spec.client_addr(v, &cfg.bin_dir);
        let addr: SocketAddr = text.parse().with_context(|| {
            format!("spec field `client_addr` rendered to {text:?}, expected IP:PORT")
        })?;
        addrs.push((v.id.clone(), addr));
    }
    for v in &vars {
        let mut argv = cfg.spec.start_command(v, &vars, &cfg.bin_dir);
        argv.extend(cfg.node_args.iter().cloned());
        let program = argv.remove(0);
        let mut spawn = SpawnSpec::new(program, argv, run_dir.node_log(&v.id));
        spawn.env = cfg
            .spec
            .env
            .iter()
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect();
        run.start(&v.id, spawn)
            .map_err(|e| anyhow!("starting {}: {e}", v.id))?;
    }

    let header = json!({
        "faultline": 1,
        "system": cfg.spec.name,
        "nemesis": cfg.plan.name(),
        "seed": seed,
        "run_id": run_id.as_str(),
        "nodes": nodes,
        "command": cfg.command,
        "started": started_at,
        "workload": {
            "concurrency": cfg.workload.concurrency,
            "rate": cfg.workload.rate,
            "keys": cfg.workload.keys,
            "read_pct": cfg.workload.read_pct,
            "write_pct": cfg.workload.write_pct,
            "op_timeout_ms": cfg.op_timeout.as_millis() as u64,
        },
        "node_args": cfg.node_args,
    });
    let recorder = Arc::new(
        Recorder::create(&run_dir.history(), header)
            .with_context(|| format!("create {}", run_dir.history().display()))?,
    );
    // One clock for the history and the leader sightings: the recorder's.
    let rec = Arc::clone(&recorder);
    let clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(move || rec.now_ns());

    let connector: Arc<dyn Connector> =
        Arc::new(NetnsConnector::new(&run_id, Duration::from_secs(1)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let leaders_path = run_dir.dir.join("leaders.jsonl");
    let tracker = match cfg.spec.leader_events {
        LeaderEvents::StdoutJsonl => Some(Arc::new(LeaderTracker::start(
            nodes
                .iter()
                .map(|n| (n.clone(), run_dir.node_log(n)))
                .collect(),
            leaders_path,
            Arc::clone(&clock),
        )?)),
        LeaderEvents::EtcdProbe => Some(Arc::new(LeaderTracker::fed(
            leaders_path,
            Arc::clone(&clock),
        )?)),
        LeaderEvents::None => None,
    };

    wait_ready(cfg, &run, &addrs)?;
    let ready_timeout = Duration::from_secs_f64(cfg.spec.ready_timeout_s);
    let (probe_stop, probe_rx) = tokio::sync::watch::channel(false);
    let mut probe_task = None;
    if cfg.spec.leader_events == LeaderEvents::EtcdProbe {
        // etcd accepts connections before it serves: wait until every member names one leader.
        let (leader, _) = rt
            .block_on(etcd_probe::wait_for_leader(
                &addrs,
                Arc::clone(&connector),
                ready_timeout,
            ))
            .map_err(|e| anyhow!("the cluster did not elect a leader: {e}"))?;
        say(cfg, &format!("every member names leader {leader}"));
        let t = Arc::clone(tracker.as_ref().expect("a tracker for the probe"));
        let mut current = etcd_probe::CurrentLeader::default();
        probe_task = Some(rt.spawn(etcd_probe::probe_loop(
            addrs.clone(),
            Arc::clone(&connector),
            PROBE_INTERVAL,
            probe_rx,
            move |event| {
                current.observe(&event);
                t.set_current(current.current());
                if let etcd_probe::ProbeEvent::Leader(sample) = event {
                    t.record(&sample.node, sample.term);
                }
            },
        )));
    }
    if let Some(t) = &tracker {
        match t.wait_leader(ready_timeout) {
            Some(l) => say(cfg, &format!("ready; leader {l}")),
            None => say(cfg, "ready; no leader announced yet"),
        }
    } else {
        say(cfg, "ready");
    }

    let run = Arc::new(run);
    let shared = Shared::new(&cfg.workload, Arc::clone(&recorder));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for slot in 0..cfg.workload.concurrency {
        let client = Client::with_options(
            cfg.spec.client,
            ClientOptions::from_spec(&cfg.spec),
            addrs.clone(),
            slot % addrs.len(),
            Arc::clone(&connector),
            format!("c{slot}"),
            cfg.op_timeout,
        );
        tasks.push(rt.spawn(workload::client_loop(
            slot,
            cfg.workload.clone(),
            Arc::clone(&shared),
            client,
            stop_rx.clone(),
        )));
    }

    let nemesis_result = run_nemesis(cfg, &run, &recorder, tracker.as_deref(), seed, &shared);
    let _ = stop_tx.send(true);
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    say(cfg, "clients stopped; healing everything");
    let heal = run.heal_all();
    recorder.nemesis("heal-all", json!(null));
    if let Err(e) = &heal {
        say(cfg, &format!("heal failed: {e}"));
    }
    std::thread::sleep(cfg.settle);
    let mut reader = Client::with_options(
        cfg.spec.client,
        ClientOptions::from_spec(&cfg.spec),
        addrs.clone(),
        0,
        Arc::clone(&connector),
        "final".to_string(),
        cfg.op_timeout,
    );
    let read = rt.block_on(workload::final_reads(
        &shared,
        &mut reader,
        cfg.final_read_budget,
    ));
    say(
        cfg,
        &format!("final reads: {read} of {} keys", cfg.workload.keys),
    );
    let duration_ns = clock();
    let crashes = describe_crashes(&run_dir, run.crashes());
    for c in &crashes {
        say(cfg, &format!("crash: {}", c.describe()));
    }
    let recorded = recorder.finish();
    let _ = probe_stop.send(true);
    if let Some(task) = probe_task {
        let _ = rt.block_on(task);
    }
    drop(rt);
    let leaders = tracker.map(|t| t.finish()).unwrap_or_default();
    let run = Arc::try_unwrap(run).map_err(|_| anyhow!("the cluster is still in use"))?;
    let teardown = run.teardown();
    if !teardown.errors.is_empty() {
        say(
            cfg,
            &format!("teardown incomplete: {}", teardown.errors.join("; ")),
        );
    }
    let events = recorded.context("writing history.jsonl")?;
    nemesis_result?;
    heal.map_err(|e| anyhow!("final heal: {e}"))?;

    say(cfg, &format!("checking {events} events"));
    analyse(
        cfg,
        &run_dir,
        &nodes,
        leaders,
        duration_ns,
        read,
        seed,
        &run_id,
        crashes,
    )
}

/// Waits until every node accepts a connection on its client address.
fn wait_ready(cfg: &TestConfig, run: &Run, addrs: &[(String, SocketAddr)]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.spec.ready_timeout_s);
    for (node, addr) in addrs {
        loop {
            match run
                .backend()
                .connect(node, addr.port(), Duration::from_millis(500))
            {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => bail!(
                    "node {node} did not accept connections on {addr} within {} s ({e}); see {}",
                    cfg.spec.ready_timeout_s,
                    cfg.store.display()
                ),
                Err(_) => {
                    if let Some(h) = run.process(node) {
                        if let Ok(state) = run.state(node) {
                            if !state.is_alive() {
                                bail!(
                                    "node {node} (pid {}) exited before it was ready: {state:?}; \
                                     its log says why",
                                    h.pid
                                );
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    Ok(())
}

/// Sleeps up to `d`, in small steps, until `deadline`; returns false when the deadline passed.
fn sleep_until(d: Duration, deadline: Instant) -> bool {
    let until = (Instant::now() + d).min(deadline);
    while Instant::now() < until {
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    Instant::now() < deadline
}

/// Runs the nemesis until the time limit; returns with every fault it started stopped.
fn run_nemesis(
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
            return run_script(cfg, run, recorder, tracker, seed, steps, deadline, shared)
        }
        NemesisPlan::Schedule { name, interval } => (name, interval),
    };
    let mut schedule =
        Schedule::new(name, run.nodes(), seed, *interval).map_err(|e| anyhow!("{e}"))?;
    loop {
        let leader = tracker.and_then(LeaderTracker::current);
        if !sleep_until(*interval, deadline) {
            return Ok(());
        }
        // A run ends with a healthy interval, so that recovery after the last heal is
        // measured while clients still run (as Jepsen's final generator phase does).
        if Instant::now() + *interval + (*interval).min(Duration::from_secs(2)) > deadline {
            sleep_until(cfg.time_limit, deadline);
            return Ok(());
        }
        let leader = tracker.and_then(LeaderTracker::current).or(leader);
        let step = schedule
            .next_step(leader.as_deref())
            .map_err(|e| anyhow!("{e}"))?;
        let fam = family(&step.start);
        apply_and_record(
            cfg,
            run,
            recorder,
            &format!("start-{fam}"),
            &step.start,
            leader.as_deref(),
        )?;
        sleep_until(step.faulty, deadline + step.faulty);
        apply_and_record(cfg, run, recorder, &format!("stop-{fam}"), &step.stop, None)?;
        if Instant::now() >= deadline {
            return Ok(());
        }
    }
}

/// Applies `fault` and then records it as the nemesis event `event` (after it took effect):
/// its details, plus the leader it aimed at for a `start-` event and the fault's name for a
/// `stop-` event (`heal`, `restart`, `resume`).
fn apply_and_record(
    cfg: &TestConfig,
    run: &Run,
    recorder: &Recorder,
    event: &str,
    fault: &Fault,
    leader: Option<&str>,
) -> Result<()> {
    run.apply(fault)
        .map_err(|e| anyhow!("applying {}: {e}", fault.f()))?;
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

/// Runs a fixed script; at the end, whatever is still faulty is stopped (and recorded).
#[allow(clippy::too_many_arguments)]
fn run_script(
    cfg: &TestConfig,
    run: &Run,
    recorder: &Recorder,
    tracker: Option<&LeaderTracker>,
    seed: u64,
    steps: &[ScriptStep],
    deadline: Instant,
    shared: &Shared,
) -> Result<()> {
    use nemesis::PartitionKind;
    let start = deadline - cfg.time_limit;
    let nodes = run.nodes().to_vec();
    let mut rng = seed | 1;
    let mut marks: Vec<Vec<String>> = Vec::new();
    let (mut net, mut killed, mut paused) = (false, false, false);
    for step in steps {
        let at = start + step.at;
        if at >= deadline {
            break;
        }
        sleep_until(at.saturating_duration_since(Instant::now()), deadline);
        let leader = tracker.and_then(LeaderTracker::current);
        let pick = |t: Target, rng: &mut u64| resolve(t, &nodes, leader.as_deref(), &marks, rng);
        let (f, fault) = match &step.action {
            Action::Mark(i, t) => {
                let picked = pick(*t, &mut rng);
                say(cfg, &format!("nemesis: mark {i} = {picked:?}"));
                if marks.len() <= *i {
                    marks.resize(*i + 1, Vec::new());
                }
                marks[*i] = picked;
                continue;
            }
            Action::ClearMarks => {
                marks.clear();
                continue;
            }
            Action::AwaitElection(timeout) => {
                let Some(tracker) = tracker else {
                    say(cfg, "nemesis: no leader events to await an election with");
                    continue;
                };
                let (term, since) = (tracker.max_term(), Instant::now());
                let line = match tracker.wait_term_above(term, *timeout) {
                    Some(l) => format!(
                        "nemesis: {l} elected after term {term} ({} ms)",
                        since.elapsed().as_millis()
                    ),
                    None => format!("nemesis: no election after term {term} within {timeout:?}"),
                };
                say(cfg, &line);
                continue;
            }
            Action::HoldAppends(t) => {
                let Some(pattern) = cfg.spec.append_pattern.clone() else {
                    bail!(
                        "the nemesis holds back appends, but the system spec has no `append_pattern`"
                    );
                };
                net = true;
                (
                    "start-filter",
                    Fault::Filter {
                        nodes: pick(*t, &mut rng),
                        pattern,
                    },
                )
            }
            Action::Restart(t) => (
                "stop-kill",
                Fault::Restart {
                    nodes: pick(*t, &mut rng),
                },
            ),
            Action::Writes(on) => {
                shared.set_writes(*on);
                say(
                    cfg,
                    &format!("clients: writes {}", if *on { "on" } else { "off" }),
                );
                continue;
            }
            Action::Partition(targets) => {
                let picked: Vec<Vec<String>> = targets.iter().map(|t| pick(*t, &mut rng)).collect();
                net = true;
                (
                    "start-partition",
                    Fault::partition(PartitionKind::Custom, partition_groups(&picked, &nodes)),
                )
            }
            Action::Isolate(t) => {
                let alone = pick(*t, &mut rng);
                let rest: Vec<String> = nodes
                    .iter()
                    .filter(|n| !alone.contains(n))
                    .cloned()
                    .collect();
                let mut groups: Vec<Vec<String>> = alone.iter().map(|n| vec![n.clone()]).collect();
                if !rest.is_empty() {
                    groups.push(rest);
                }
                net = true;
                (
                    "start-partition",
                    Fault::partition(PartitionKind::Custom, groups),
                )
            }
            Action::Split(t) => {
                let side = pick(*t, &mut rng);
                let rest: Vec<String> = nodes
                    .iter()
                    .filter(|n| !side.contains(n))
                    .cloned()
                    .collect();
                net = true;
                (
                    "start-partition",
                    Fault::partition(PartitionKind::Custom, vec![side, rest]),
                )
            }
            Action::Loss(percent) => {
                net = true;
                (
                    "start-loss",
                    Fault::Loss {
                        nodes: nodes.clone(),
                        percent: *percent,
                    },
                )
            }
            Action::Heal => {
                net = false;
                ("stop-partition", Fault::Heal)
            }
            Action::Kill(t) => {
                killed = true;
                (
                    "start-kill",
                    Fault::Kill {
                        nodes: pick(*t, &mut rng),
                    },
                )
            }
            Action::RestartAll => {
                killed = false;
                (
                    "stop-kill",
                    Fault::Restart {
                        nodes: nodes.clone(),
                    },
                )
            }
            Action::Pause(t) => {
                paused = true;
                (
                    "start-pause",
                    Fault::Pause {
                        nodes: pick(*t, &mut rng),
                    },
                )
            }
            Action::ResumeAll => {
                paused = false;
                (
                    "stop-pause",
                    Fault::Resume {
                        nodes: nodes.clone(),
                    },
                )
            }
        };
        apply_and_record(cfg, run, recorder, f, &fault, leader.as_deref())?;
    }
    sleep_until(cfg.time_limit, deadline);
    for (open, f, fault) in [
        (net, "stop-partition", Fault::Heal),
        (
            killed,
            "stop-kill",
            Fault::Restart {
                nodes: nodes.clone(),
            },
        ),
        (
            paused,
            "stop-pause",
            Fault::Resume {
                nodes: nodes.clone(),
            },
        ),
    ] {
        if open {
            apply_and_record(cfg, run, recorder, f, &fault, None)?;
        }
    }
    Ok(())
}

/// Loads the history, runs the checks, writes `results.json`.
#[allow(clippy::too_many_arguments)]
fn analyse(
    cfg: &TestConfig,
    run_dir: &RunDir,
    nodes: &[String],
    leaders: Vec<crate::leaders::Sighting>,
    duration_ns: u64,
    final_reads: usize,
    seed: u64,
    run_id: &RunId,
    crashes: Vec<NodeCrash>,
) -> Result<Outcome> {
    let loaded = histories::load(&run_dir.history(), histories::Format::Jsonl)
        .map_err(|e| anyhow!("{e}"))?;
    let history = loaded.history;
    let opts = checker::Options {
        time_limit: Some(cfg.check_time_limit),
        ..checker::Options::default()
    };
    let check = checker::check(&history, &opts);
    let election = match cfg.spec.leader_events {
        // Not wired yet (see the tracker above): election safety is reported as not checked.
        LeaderEvents::None => None,
        LeaderEvents::EtcdProbe => {
            // Sampled by the probe during the run (see adapter::etcd_probe).
            let path = run_dir.dir.join("leaders.jsonl");
            let file =
                std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
            let events =
                checker::election::parse_leader_events(io::BufReader::new(file), "leaders.jsonl")
                    .map_err(|e| anyhow!("{e}"))?;
            Some(checker::election::check(&events))
        }
        LeaderEvents::StdoutJsonl => {
            let mut events = Vec::new();
            for n in nodes {
                let path = run_dir.node_log(n);
                let file = std::fs::File::open(&path)
                    .with_context(|| format!("open {}", path.display()))?;
                let source = format!("nodes/{n}.log");
                events.extend(
                    checker::election::parse_leader_events(io::BufReader::new(file), &source)
                        .map_err(|e| anyhow!("{e}"))?,
                );
            }
            Some(checker::election::check(&events))
        }
    };
    let marks: Vec<Mark> = history
        .nemesis
        .iter()
        .map(|e| Mark {
            time_ns: e.time.unwrap_or(0),
            f: e.f.clone(),
        })
        .collect();
    let figures = stats::figures(&history.ops, &marks, duration_ns);
    let mut verdict = check.verdict;
    let election_json = match &election {
        Some(e) => {
            let v = if e.valid {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            verdict = verdict.worst(v);
            serde_json::to_value(e)?
        }
        None => json!({"valid": "unknown", "reason": "the system announces no leader events"}),
    };
    if !crashes.is_empty() {
        verdict = verdict.worst(Verdict::Invalid);
    }
    let crashes_json = json!({"valid": crashes.is_empty(), "crashes": crashes});
    let results = json!({
        "faultline": 1,
        "valid": verdict,
        "run": {
            "id": run_id.as_str(),
            "system": cfg.spec.name,
            "nemesis": cfg.plan.name(),
            "seed": seed,
            "nodes": nodes,
            "command": cfg.command,
            "node_args": cfg.node_args,
            "duration_s": duration_ns as f64 / 1e9,
            "final_reads": final_reads,
            "keys": cfg.workload.keys,
        },
        "checks": {
            "linearizability": check,
            "election_safety": election_json,
            "crashes": crashes_json,
        },
        "figures": figures,
    });
    run_dir.write_results(&results)?;
    let leader_events: Vec<checker::election::LeaderEvent> = leaders
        .iter()
        .enumerate()
        .map(|(i, l)| checker::election::LeaderEvent {
            node: l.node.clone(),
            term: l.term,
            line: i as u64 + 1,
            time: Some(l.time_ns),
            source: "leaders.jsonl".into(),
        })
        .collect();
    let page = crate::report::render(&crate::report::ReportInput {
        history: &history,
        check: &check,
        election: election.as_ref(),
        leaders: &leader_events,
        results: Some(&results),
        title: format!("{} under {}", cfg.spec.name, cfg.plan.name()),
        command: Some(cfg.command.clone()),
    });
    crate::store::write_atomic(&run_dir.report(), page.as_bytes())?;
    let summary = summary(
        cfg,
        run_dir,
        &check,
        election.as_ref(),
        &figures,
        &crashes,
        verdict,
        seed,
    );
    Ok(Outcome {
        run_dir: run_dir.dir.clone(),
        verdict,
        results,
        history,
        check,
        election,
        leaders,
        figures,
        crashes,
        summary,
    })
}

#[allow(clippy::too_many_arguments)]
fn summary(
    cfg: &TestConfig,
    run_dir: &RunDir,
    check: &checker::Report,
    election: Option<&checker::election::ElectionReport>,
    figures: &stats::Figures,
    crashes: &[NodeCrash],
    verdict: Verdict,
    seed: u64,
) -> String {
    let mut s = String::new();
    let o = &figures.ops;
    s.push_str(&format!(
        "ops: {} ({} ok, {} fail, {} info); {:.0} ok/s; latency p50 {:.1} ms, p99 {:.1} ms\n",
        o.total,
        o.ok,
        o.fail,
        o.info,
        figures.throughput_ok_per_s,
        figures.latency.p50_ms,
        figures.latency.p99_ms
    ));
    let l = &figures.liveness;
    s.push_str(&format!(
        "liveness: {} ok while healthy, {} ok while faulty; slowest recovery after a heal: {}\n",
        l.ok_while_healthy,
        l.ok_while_faulty,
        match l.max_heal_to_first_ok_ms {
            Some(ms) => format!("{ms:.0} ms"),
            None => "n/a".into(),
        }
    ));
    s.push_str(&format!("linearizability: {}\n", check.summary_line()));
    if check.verdict == Verdict::Invalid {
        for line in check.render_text().lines().skip(1) {
            s.push_str(&format!("  {line}\n"));
        }
    }
    match election {
        Some(e) => {
            let text = e.render_text();
            let first = text.lines().next().unwrap_or("");
            let first = first.strip_prefix("election safety: ").unwrap_or(first);
            s.push_str(&format!("election safety: {first}\n"));
            if !e.valid {
                for line in text.lines().skip(1) {
                    s.push_str(&format!("  {line}\n"));
                }
            }
        }
        None => s.push_str("election safety: not checked (the system announces no leaders)\n"),
    }
    if crashes.is_empty() {
        s.push_str("crashes: none (every node that ended was killed by the nemesis)\n");
    } else {
        s.push_str(&format!(
            "crashes: {} node process(es) ended by themselves\n",
            crashes.len()
        ));
        for c in crashes {
            s.push_str(&format!("  {}\n", c.describe()));
        }
    }
    s.push_str(&format!(
        "verdict: {} (seed {seed}, system {}, nemesis {})\n",
        verdict_word(verdict),
        cfg.spec.name,
        cfg.plan.name()
    ));
    s.push_str(&format!("store: {}\n", run_dir.dir.display()));
    s.push_str(&format!("report: {}\n", run_dir.report().display()));
    s
}

/// `valid`, `INVALID` or `unknown`.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "unknown",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_node_args_like_a_shell() {
        assert_eq!(
            split_args("--bug stale-read  --x 'a b' \"c\\\"d\"").unwrap(),
            vec!["--bug", "stale-read", "--x", "a b", "c\"d"]
        );
        assert!(split_args("").unwrap().is_empty());
        assert!(split_args("--x 'open").is_err());
    }

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
