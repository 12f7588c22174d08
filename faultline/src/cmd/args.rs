//! Command-line interface: every flag of every subcommand, with `--help` examples and, for each
//! subcommand that returns a verdict, its exit codes ([`faultline::exit`]). Names (nemeses,
//! models, formats, bugs) are checked by clap against the enums that define them.

use checker::model::ModelKind;
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use faultline::clients::workload::{ClientMode, WorkloadKind};
use faultline::maelstrom::workloads::Topology;
use faultline::maelstrom::LatencyDist;
use faultline::suite::scorecard::Subject;
use histories::Format;
use std::path::PathBuf;

/// faultline: Jepsen-style fault injection and linearizability checking.
///
/// A flag given twice takes its last value (`args_override_self`), so that a flag added after
/// the defaults of a script (`make test-partition RUN_FLAGS="--time-limit 30"`) wins.
#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a test: start a cluster in network namespaces, run clients and a nemesis, check the
    /// history (needs root).
    #[command(after_help = TEST_EXAMPLES)]
    Test(TestArgs),
    /// Run the Raft lab scenarios (initial-election, re-election, ..., churn) against a system,
    /// one PASS/FAIL line each (needs root).
    #[command(after_help = SUITE_EXAMPLES)]
    Suite(SuiteArgs),
    /// The scorecard of raft-node's planted bugs: which scenario catches each, in how many
    /// runs; the bug-free node as the control (needs root).
    #[command(after_help = BUGS_EXAMPLES)]
    Bugs(BugsArgs),
    /// Remove what killed runs left behind (namespaces, veths, bridges, processes), found by
    /// the run-id naming; touches nothing else.
    Cleanup(CleanupArgs),
    /// Check recorded histories for linearizability (offline).
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Benchmarks that print figures (`bench check`: the checker on Jepsen-like histories;
    /// `bench harness`: faultline's own clients and recorder).
    Bench(BenchArgs),
    /// Serve a trivially correct in-memory jsonl-tcp register (a known-good system to try
    /// faultline on; `--bug stale-read` makes it a known-bad one).
    MemRegister(MemRegisterArgs),
    /// Regenerate a run's report.html from its files and print its path.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Serve the store over HTTP: a list of runs and their reports and files (loopback only by
    /// default).
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Test a Maelstrom node (JSON on stdin/stdout) under real faults, with Maelstrom's flags:
    /// `faultline maelstrom test -w lin-kv --bin ./raft.py ...` (needs root).
    #[command(after_help = MAELSTROM_EXAMPLES)]
    Maelstrom(MaelstromArgs),
    /// Run one Maelstrom node behind a relay (started by the harness inside the node's network
    /// namespace; not for direct use).
    #[command(hide = true)]
    Relay(RelayArgs),
}

const MAELSTROM_EXAMPLES: &str = "\
Examples:
  faultline maelstrom test -w lin-kv --bin ./raft.py --node-count 3 --time-limit 20 \\
      --rate 100 --concurrency 2n --nemesis partition
  faultline maelstrom -w broadcast --bin systems/examples/broadcast.py --node-count 5 \\
      --topology tree --nemesis partition --latency 10
  faultline maelstrom -w lin-kv --bin ./target/debug/raft-node --nemesis kill -- --maelstrom

Maelstrom's flag names and meanings; the word `test` after `maelstrom` is optional. Arguments
after `--` go to the node. Every faultline nemesis works (partition, isolate-leader, kill,
pause, loss, mix, ...): partitions are iptables rules between network namespaces, kills are
SIGKILL (a killed node restarts with an empty memory and a fresh init), pauses SIGSTOP.
--latency, --latency-dist, --message-loss and --duplicate act on every node-to-node message.

Exit status: 0 valid, 1 invalid, 2 error (usage, a node that does not start or writes garbage,
no root), 3 unknown (nothing to check, or the check's budget was spent).
Needs root (network namespaces, iptables).";

/// Message faults the relays of Maelstrom nodes apply to node-to-node messages.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Mean delay of every node-to-node message, milliseconds (Maelstrom nodes only).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub latency: f64,
    /// How delays are drawn: constant, uniform (0 to 2x), exponential; the last two reorder.
    #[arg(long, value_name = "DIST", value_enum, default_value_t = LatencyDist::Constant)]
    pub latency_dist: LatencyDist,
    /// Probability that a node-to-node message is dropped (Maelstrom nodes only).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub message_loss: f64,
    /// Probability that a node-to-node message is delivered twice (Maelstrom nodes only).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub duplicate: f64,
}

impl Default for NetArgs {
    /// No message faults: what a run gets without the flags.
    fn default() -> Self {
        NetArgs {
            latency: 0.0,
            latency_dist: LatencyDist::Constant,
            message_loss: 0.0,
            duplicate: 0.0,
        }
    }
}

impl NetArgs {
    /// The relays' options.
    pub fn options(&self) -> faultline::maelstrom::NetOptions {
        faultline::maelstrom::NetOptions {
            latency_ms: self.latency,
            latency_dist: self.latency_dist,
            loss: self.message_loss,
            duplicate: self.duplicate,
        }
    }
}

/// Arguments of `faultline maelstrom`.
#[derive(Debug, Args)]
pub struct MaelstromArgs {
    /// Maelstrom's subcommand word, accepted so that a Maelstrom command line works as it is.
    #[arg(value_name = "test", value_parser = ["test"])]
    pub test: Option<String>,
    /// The workload.
    #[arg(short = 'w', long, value_name = "NAME", value_enum)]
    pub workload: WorkloadKind,
    /// The node's executable.
    #[arg(long, value_name = "PATH")]
    pub bin: PathBuf,
    /// Number of nodes.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub node_count: usize,
    /// Seconds the clients run.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub time_limit: f64,
    /// Target rate of all clients together, ops/s.
    #[arg(long, value_name = "OPS", default_value_t = 5.0)]
    pub rate: f64,
    /// Concurrent clients: a number, or `Kn` for K per node (`2n`).
    #[arg(long, value_name = "N|Kn", default_value = "2n")]
    pub concurrency: String,
    /// The nemesis (Maelstrom's `partition`, `kill`, `pause`, or any of faultline's), or
    /// `none`; a comma-separated list of several (Maelstrom's `partition,kill`) runs
    /// faultline's `mix`, which takes partitions, kills, pauses and packet loss in turn.
    #[arg(long, value_name = "NAME[,NAME]", default_value = "none", value_parser = maelstrom_nemesis)]
    pub nemesis: String,
    /// Seconds of healthy and of faulty time in each nemesis step.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Copy every node's stderr (its log) to faultline's stderr as the run goes.
    #[arg(long)]
    pub log_stderr: bool,
    /// Broadcast only: the topology sent to the nodes (grid, line, tree2 (or tree), tree3,
    /// tree4, total).
    #[arg(long, value_name = "NAME", value_enum, default_value_t = Topology::Grid)]
    pub topology: Topology,
    /// Number of keys (lin-kv).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub keys: usize,
    /// Seconds before an op without an answer is recorded as `info`.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub op_timeout: f64,
    /// Seed of the nemesis, the op choices and the message faults (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The store directory.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
    /// Print results.json instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Message faults.
    #[command(flatten)]
    pub net: NetArgs,
    /// Arguments for the node, after `--`.
    #[arg(last = true, value_name = "NODE_ARGS")]
    pub node_args: Vec<String>,
}

/// Arguments of `faultline relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// This node's id.
    #[arg(long)]
    pub id: String,
    /// Every node as `ID=IP`, in order (repeated).
    #[arg(long = "node", value_name = "ID=IP")]
    pub nodes: Vec<String>,
    /// Where to listen for clients.
    #[arg(long, value_name = "IP:PORT")]
    pub client_listen: std::net::SocketAddr,
    /// Where the services are.
    #[arg(long, value_name = "IP:PORT")]
    pub service: Option<std::net::SocketAddr>,
    /// The counters file (appended).
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Seed of the message faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seconds the node may take to answer init.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub init_timeout: f64,
    /// Message faults.
    #[command(flatten)]
    pub net: NetArgs,
    /// The node's command line.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

const REPORT_EXAMPLES: &str = "\
Examples:
  faultline report store/latest
  faultline report store/raft-register-partition/20260101T120000Z

Exit status: 0 written, 2 error (the run directory is missing or unreadable; the message names
the file).";

/// Arguments of `faultline report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's store directory (holds history.jsonl, results.json, leaders.jsonl).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  faultline serve                      (the ./store directory on http://127.0.0.1:8080/)
  faultline serve --store /tmp/runs --port 0   (a free port; the address is printed)

Only files inside the store are served; paths that try to leave it get 404.";

/// Arguments of `faultline serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store directory.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
    /// Port; 0 picks a free one.
    #[arg(long, value_name = "P", default_value_t = 8080)]
    pub port: u16,
    /// Address to bind; loopback by default (reports may hold anything the system printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,
}

const TEST_EXAMPLES: &str = "\
Examples:
  faultline test                                     (raft-register, 5 nodes, partitions, 60 s)
  faultline test --nemesis kill --time-limit 30
  faultline test --nemesis isolate-leader --node-args \"--bug stale-read\" --seed 7
  faultline test --system systems/etcd.toml --nodes 5 --nemesis partition
  faultline test --nemesis mix --nemesis-interval 3 --concurrency 20 --rate 500 --keys 4

`partition` picks a random shape each time; `none` injects nothing. The seed is printed; the
same seed repeats the same faults and op choices (timing differs).

Exit status: 0 valid, 1 invalid, 2 error (usage, bad spec, no root: the run failed), 3 unknown
(the check's budget was spent).
Needs root (network namespaces, iptables).";

/// The names `--nemesis` accepts: `none` and every schedule of the `nemesis` crate.
/// `--nemesis` of `faultline maelstrom`: one of our names, or a list of several (`mix`).
fn maelstrom_nemesis(text: &str) -> Result<String, String> {
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    for name in &names {
        if *name != "none" && !nemesis::schedule::Nemesis::NAMES.contains(name) {
            return Err(format!(
                "unknown nemesis {name:?}; expected none or one of {}",
                nemesis::schedule::Nemesis::NAMES.join(", ")
            ));
        }
    }
    let faults: Vec<&str> = names.into_iter().filter(|n| *n != "none").collect();
    Ok(match faults.as_slice() {
        [] => "none".to_string(),
        [one] => one.to_string(),
        _ => "mix".to_string(),
    })
}

fn nemesis_names() -> PossibleValuesParser {
    PossibleValuesParser::new(std::iter::once("none").chain(nemesis::schedule::Nemesis::NAMES))
}

/// Arguments of `faultline test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The system spec (see systems/).
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "systems/raft-register.toml"
    )]
    pub system: PathBuf,
    /// Number of nodes.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub nodes: usize,
    /// The nemesis, or `none`.
    #[arg(long, value_name = "NAME", default_value = "partition", value_parser = nemesis_names())]
    pub nemesis: String,
    /// Seconds of healthy and of faulty time in each nemesis step.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub nemesis_interval: f64,
    /// Seconds the clients run.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub time_limit: f64,
    /// Concurrent clients.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub concurrency: usize,
    /// Target rate of all clients together, ops/s.
    #[arg(long, value_name = "OPS", default_value_t = 200.0)]
    pub rate: f64,
    /// Number of keys.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub keys: usize,
    /// Percent of reads; `--write-pct` of writes; the rest are cas.
    #[arg(long, value_name = "P", default_value_t = 50)]
    pub read_pct: u32,
    /// Percent of writes.
    #[arg(long, value_name = "P", default_value_t = 25)]
    pub write_pct: u32,
    /// Seconds before an op without an answer is recorded as `info`.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub op_timeout: f64,
    /// Seed of the nemesis and the op choices (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Extra arguments for every node, e.g. "--bug stale-read".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// The store directory.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
    /// Budget of the linearizability check, seconds (then the verdict is `unknown`).
    #[arg(long, value_name = "S", default_value_t = 120.0)]
    pub check_time_limit: f64,
    /// Where clients send ops: `follow` (a client stays with the node that last answered it)
    /// or `spread` (process p to node p mod N first, hints followed within the op).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ClientMode::Spread)]
    pub clients: ClientMode,
    /// What the clients do: lin-kv (any system), or Maelstrom's broadcast, g-counter,
    /// unique-ids (client = "maelstrom" only).
    #[arg(long, short = 'w', value_name = "NAME", value_enum, default_value_t = WorkloadKind::LinKv)]
    pub workload: WorkloadKind,
    /// Broadcast only: the topology sent to the nodes (grid, line, tree2 (or tree), tree3,
    /// tree4, total).
    #[arg(long, value_name = "NAME", value_enum, default_value_t = Topology::Grid)]
    pub topology: Topology,
    /// Message faults (Maelstrom nodes only).
    #[command(flatten)]
    pub net: NetArgs,
    /// Print results.json instead of the summary.
    #[arg(long)]
    pub json: bool,
}

const SUITE_EXAMPLES: &str = "\
Examples:
  faultline suite                                   (raft-register, every scenario)
  faultline suite --only re-election --only persist
  faultline suite --system systems/etcd.toml
  faultline suite --node-args \"--bug no-fsync\" --only persist --runs 3

Every scenario runs by default. Hunts run only when named with --only (`faultline bugs` runs
them): retry (at-most-once retries: a retried cas applied twice), diverge (a follower that keeps
a deposed leader's entries), old-term (Figure 8: a leader that commits an earlier term's entries
by counting replicas), revote (a node that forgets its vote on restart; needs the spec's
append_pattern, and a node without PreVote: `--node-args --no-pre-vote` for raft-register).
Exit status: 0 every scenario passed (or was skipped), 1 some failed, 2 error (usage, bad spec,
no root: the suite could not run).";

const BUGS_EXAMPLES: &str = "\
Examples:
  faultline bugs                                    (every bug, then the control; up to ~1 h)
  faultline bugs --only no-fsync --only none --runs 1

Exit status: 0 every bug caught and the control passed, 1 some bug not caught or the control
failed, 2 error (usage, bad spec, no root).";

/// The names `suite --only` accepts: every scenario and hunt of the suite.
fn scenario_names() -> PossibleValuesParser {
    let all = faultline::suite::scenarios()
        .into_iter()
        .chain(faultline::suite::hunts());
    PossibleValuesParser::new(all.map(|s| s.name))
}

/// Arguments of `faultline suite`.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The system spec.
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "systems/raft-register.toml"
    )]
    pub system: PathBuf,
    /// Only these scenarios or hunts (repeatable).
    #[arg(long, value_name = "NAME", value_parser = scenario_names())]
    pub only: Vec<String>,
    /// Run each scenario up to N times (seeds seed, seed+1, ...), stopping at a failure.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub runs: usize,
    /// Extra arguments for every node, e.g. "--bug stale-read".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// Seed (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The store directory.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
    /// Where clients send ops (see `faultline test --help`).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ClientMode::Spread)]
    pub clients: ClientMode,
}

/// Arguments of `faultline bugs`.
#[derive(Debug, Args)]
pub struct BugsArgs {
    /// The system spec (raft-node's, whose `--bug` flags are used).
    #[arg(
        long,
        value_name = "SPEC",
        default_value = "systems/raft-register.toml"
    )]
    pub system: PathBuf,
    /// Only these bugs (repeatable; `none` is the bug-free control).
    #[arg(long, value_name = "BUG", value_enum)]
    pub only: Vec<Subject>,
    /// Passes over the catchers per bug before it counts as not caught.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub runs: usize,
    /// Seed of the first pass.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The store directory.
    #[arg(long, value_name = "DIR", default_value = "store")]
    pub store: PathBuf,
    /// Where clients send ops (see `faultline test --help`).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ClientMode::Spread)]
    pub clients: ClientMode,
}

/// Arguments of `faultline cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only this run id (default: every run's leftovers).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

/// Arguments of `faultline mem-register`.
#[derive(Debug, Args)]
pub struct MemRegisterArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub listen: String,
    /// Plant a bug: `stale-read` (every 7th read answers the previous value).
    #[arg(long, value_name = "NAME", value_enum)]
    pub bug: Option<faultline::memreg::Bug>,
}

const CHECK_EXAMPLES: &str = "\
Examples:
  faultline check store/latest/history.jsonl
  faultline check --json bad.jsonl
  faultline check --format edn --model cas-register jepsen-history.edn
  faultline check --model append-kv porcupine/kv/*.txt
  faultline check --engine stateright small.jsonl      (a second opinion on small histories)
  faultline check history.jsonl --leader-events nodes/n1.log nodes/n2.log nodes/n3.log
  faultline check bad.jsonl --html bad.html   (a self-contained page: verdict, timeline, plots)

Exit status: 0 every file valid, 1 some file invalid, 2 error (usage, a file that cannot be read
or holds no operation), 3 unknown (the budget was spent). Invalid wins over error, error over
unknown.";

/// Arguments of `faultline check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// History files: faultline JSONL, Jepsen/Knossos EDN, Jepsen log lines, Porcupine kv.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Model (default: chosen from the operations in the file).
    #[arg(long, value_name = "M", value_enum)]
    pub model: Option<ModelKind>,

    /// Input format.
    #[arg(long, value_name = "F", value_enum, default_value_t = Format::Auto)]
    pub format: Format,

    /// Initial value of every register, as JSON (default: null, the key does not exist); for
    /// multi-register also an object giving each register its own, e.g. {"x":0,"y":0}.
    #[arg(long, value_name = "V")]
    pub initial: Option<String>,

    /// Print results as JSON (one object per file, or an array for several files).
    #[arg(long)]
    pub json: bool,

    /// Budget per file in seconds, counted from before the file is read: parsing, pruning,
    /// search and explanation; when spent the verdict is `unknown`, never a hang.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub time_limit: f64,

    /// Memory budget per file in MiB: what the searches of all its keys hold at once (memo
    /// tables, the states they own, stacks), not the parsed history itself; when spent the
    /// verdict is `unknown`.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_limit: u64,

    /// Search every key to the end, even after one was found invalid (by default the others
    /// stop, and the result lists them as not searched).
    #[arg(long)]
    pub all_keys: bool,

    /// Search engine: `fast` (ours) or `stateright` (its LinearizabilityTester, small histories).
    #[arg(long, value_enum, default_value_t = Engine::Fast)]
    pub engine: Engine,

    /// Node logs holding `{"event":"leader","node":..,"term":..}` lines: also check election
    /// safety (at most one leader per term).
    #[arg(long, value_name = "LOG", num_args = 1..)]
    pub leader_events: Vec<PathBuf>,

    /// Also write the report page (verdict, timeline, counterexample, plots) to this file; one
    /// history FILE only.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

/// Which linearizability search decides the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// faultline's search: WGL with Lowe's memo, P-compositional, polynomial fast path.
    Fast,
    /// stateright's LinearizabilityTester, as a reference oracle.
    Stateright,
}

/// Arguments of `faultline bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to benchmark.
    #[command(subcommand)]
    pub what: BenchWhat,
}

const BENCH_CHECK_HELP: &str = "\
Rows marked 'whole process' time a child `faultline check FILE...` (start, parse, check, print);
the others time the checker in this process. Porcupine's figures are constants, measured side by
side with Porcupine (Go) on the same kind of machine, its check time only.
Exit status: 0 every verdict is the planted one (targets met or not), 2 error (some verdict is
not the planted one, or a case could not run).";

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// The checker on histories shaped like Porcupine's, Jepsen's and Knossos' test data:
    /// faultline's time beside Porcupine's for the same shapes, the verdicts, and the targets.
    #[command(after_help = BENCH_CHECK_HELP)]
    Check {
        /// Repetitions of each timed case (the median is printed).
        #[arg(long, default_value_t = 20)]
        reps: usize,
        /// Seed of the generated histories.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print one JSON object per row instead of the table.
        #[arg(long)]
        json: bool,
        /// Skip the 1,000,000-op case (about a minute with its generation).
        #[arg(long)]
        no_large: bool,
        /// Write the generated histories into DIR and keep them (to rerun or profile a row);
        /// default: a temporary directory, removed.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// faultline's clients and recorder against the in-memory register on loopback.
    Harness {
        /// Seconds to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// report.html for run-shaped histories (100,000 and 1,000,000 ops): render time, page
    /// size, and (with Chromium) the time until the page is drawn in a headless browser.
    Report {
        /// Op counts to measure.
        #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
        ops: Vec<usize>,
        /// Skip the browser measurement.
        #[arg(long)]
        no_browser: bool,
        /// Keep the pages in this directory (default: a temporary one, removed).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Internal: load and check one file, print time and peak RSS as JSON (run in a fresh process
    /// so that peak RSS belongs to this case alone).
    #[command(hide = true)]
    CheckOne {
        /// The history file.
        file: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::{Cli, Command};
    use clap::Parser;

    #[test]
    fn a_flag_given_twice_takes_its_last_value() {
        let cli = Cli::try_parse_from([
            "faultline",
            "test",
            "--time-limit",
            "60",
            "--time-limit",
            "30",
        ])
        .expect("parses");
        let Command::Test(args) = cli.command else {
            panic!("not test: {cli:?}");
        };
        assert_eq!(args.time_limit, 30.0);
        let cli = Cli::try_parse_from([
            "faultline",
            "check",
            "--time-limit",
            "9",
            "--time-limit",
            "2",
            "f",
        ])
        .expect("parses");
        let Command::Check(args) = cli.command else {
            panic!("not check: {cli:?}");
        };
        assert_eq!(args.time_limit, 2.0);
    }
}
