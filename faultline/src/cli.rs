//! Command-line interface: every flag of every subcommand, with `--help` examples.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// faultline: Jepsen-style fault injection and linearizability checking.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, propagate_version = true)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check recorded histories for linearizability (offline).
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Benchmarks that print figures (`bench check`: the checker on Jepsen-like histories;
    /// `bench harness`: faultline's own clients and recorder).
    Bench(BenchArgs),
    /// Serve a trivially correct in-memory jsonl-tcp register (a known-good system to try
    /// faultline on; `--bug stale-read` makes it a known-bad one).
    MemRegister(MemRegisterArgs),
}

/// Arguments of `faultline mem-register`.
#[derive(Debug, Args)]
pub struct MemRegisterArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub listen: String,
    /// Plant a bug: `stale-read` (every 7th read answers the previous value).
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
}

const CHECK_EXAMPLES: &str = "\
Examples:
  faultline check store/latest/history.jsonl
  faultline check --json bad.jsonl
  faultline check --format edn --model cas-register jepsen-history.edn
  faultline check --model append-kv porcupine/kv/*.txt
  faultline check --engine stateright small.jsonl      (a second opinion on small histories)
  faultline check history.jsonl --leader-events nodes/n1.log nodes/n2.log nodes/n3.log

Exit status: 0 every file valid, 1 some file invalid, 2 unknown (budget spent) or bad input.";

/// Arguments of `faultline check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// History files: faultline JSONL, Jepsen/Knossos EDN, Jepsen log lines, Porcupine kv.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Model: register, cas-register, kv, append-kv, multi-register, mutex (default: chosen from
    /// the operations in the file).
    #[arg(long, value_name = "M")]
    pub model: Option<String>,

    /// Input format: auto, jsonl, edn, jepsen-log, porcupine.
    #[arg(long, value_name = "F", default_value = "auto")]
    pub format: String,

    /// Initial value of every register, as JSON (default: null, the key does not exist).
    #[arg(long, value_name = "V")]
    pub initial: Option<String>,

    /// Print results as JSON (one object per file, or an array for several files).
    #[arg(long)]
    pub json: bool,

    /// Budget per file in seconds; when spent the verdict is `unknown`, never a hang.
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub time_limit: f64,

    /// Memory budget per file in MiB for the search's memo; when spent the verdict is `unknown`.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_limit: u64,

    /// Search engine: `fast` (ours) or `stateright` (its LinearizabilityTester, small histories).
    #[arg(long, value_enum, default_value_t = Engine::Fast)]
    pub engine: Engine,

    /// Node logs holding `{"event":"leader","node":..,"term":..}` lines: also check election
    /// safety (at most one leader per term).
    #[arg(long, value_name = "LOG", num_args = 1..)]
    pub leader_events: Vec<PathBuf>,
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

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// The checker on generated Jepsen-like histories, against the targets of the issue.
    Check {
        /// Repetitions of each small case (the median is printed).
        #[arg(long, default_value_t = 20)]
        reps: usize,
        /// Seed of the generated histories.
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
    /// Internal: load and check one file, print time and peak RSS as JSON (run in a fresh process
    /// so that peak RSS belongs to this case alone).
    #[command(hide = true)]
    CheckOne {
        /// The history file.
        file: PathBuf,
    },
}

/// Exit codes of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything valid.
    Valid = 0,
    /// Something invalid.
    Invalid = 1,
    /// Unknown, bad input, or the run itself failed.
    Error = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}
