//! `faultline test`: argument checks, then [`faultline::run::run_test`], then the summary.

use crate::cmd::args::TestArgs;
use anyhow::{bail, Context, Result};
use faultline::clients::workload::Workload;
use faultline::clients::workload::WorkloadKind;
use faultline::cluster::split_args;
use faultline::exit::ExitCode;
use faultline::faults::NemesisPlan;
use faultline::maelstrom::NetOptions;
use faultline::run::{self, TestConfig};
use faultline::spec::{Adapter, SystemSpec};
use std::time::Duration;

/// Most seconds a flag takes: about 31 years, far beyond any run, and far below where
/// `Duration::from_secs_f64` would overflow.
const SECONDS_MAX: f64 = 1e9;

fn seconds(flag: &str, v: f64) -> Result<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= SECONDS_MAX) {
        bail!("{flag}: expected a positive number of seconds up to {SECONDS_MAX}, found {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

/// Builds the run's configuration from the flags.
pub fn config(args: &TestArgs) -> Result<TestConfig> {
    let spec = SystemSpec::load(&args.system)?;
    config_with_spec(args, spec)
}

/// Builds the run's configuration from the flags, for `spec` (loaded or made by the caller).
pub fn config_with_spec(args: &TestArgs, spec: SystemSpec) -> Result<TestConfig> {
    let net = args.net.options();
    net.validate().map_err(anyhow::Error::msg)?;
    let maelstrom = spec.client == Adapter::Maelstrom;
    if !maelstrom && net != NetOptions::default() {
        bail!(
            "--latency, --message-loss and --duplicate act through the relays of Maelstrom \
             nodes; {} has client {:?}",
            spec.name,
            spec.client.name()
        );
    }
    if !maelstrom && args.workload != WorkloadKind::LinKv {
        bail!(
            "--workload {}: Maelstrom's workloads need client = \"maelstrom\"; {} has client {:?}",
            args.workload.name(),
            spec.name,
            spec.client.name()
        );
    }
    // clap checked the name against the nemesis crate's.
    let plan = if args.nemesis == "none" {
        NemesisPlan::None
    } else {
        NemesisPlan::Schedule {
            name: args.nemesis.clone(),
            interval: seconds("--nemesis-interval", args.nemesis_interval)?,
        }
    };
    if args.read_pct + args.write_pct > 100 {
        bail!(
            "--read-pct + --write-pct: expected at most 100, found {}",
            args.read_pct + args.write_pct
        );
    }
    if args.concurrency == 0 || args.keys == 0 || args.nodes == 0 {
        bail!("--concurrency, --keys and --nodes must be at least 1");
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!(
            "--rate: expected a positive number of ops/s, found {}",
            args.rate
        );
    }
    // A random seed is kept short (32 bits) so that it is easy to type back.
    let seed = args.seed.unwrap_or_else(|| rand::random::<u32>() as u64);
    let node_args = match &args.node_args {
        Some(text) => split_args(text).context("--node-args")?,
        None => Vec::new(),
    };
    let mut command: Vec<String> = std::env::args().collect();
    if args.seed.is_none() {
        command.push(format!("--seed={seed}"));
    }
    Ok(TestConfig {
        spec,
        nodes: args.nodes,
        plan,
        time_limit: seconds("--time-limit", args.time_limit)?,
        workload: Workload {
            concurrency: args.concurrency,
            rate: args.rate,
            keys: args.keys,
            seed,
            read_pct: args.read_pct,
            write_pct: args.write_pct,
            clients: args.clients,
            kind: args.workload,
            topology: args.topology,
        },
        op_timeout: seconds("--op-timeout", args.op_timeout)?,
        store: args.store.clone(),
        node_args,
        bin_dir: run::exe_dir()?,
        command: command
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        settle: Duration::from_secs(2),
        final_read_budget: Duration::from_secs(30),
        check_time_limit: seconds("--check-time-limit", args.check_time_limit)?,
        progress: true,
        net,
        log_stderr: false,
    })
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// Runs `faultline test`.
pub fn run(args: &TestArgs) -> Result<ExitCode> {
    nemesis::install_cleanup_handlers()?;
    faultline::runlog::install();
    let cfg = config(args)?;
    run_config(&cfg, args.json)
}

/// Runs the test `cfg` and prints the summary, or results.json with `json`.
pub fn run_config(cfg: &TestConfig, json: bool) -> Result<ExitCode> {
    let outcome = run::run_test(cfg);
    faultline::runlog::close();
    let outcome = outcome?;
    if json {
        let json = outcome
            .results
            .to_json()
            .with_context(|| format!("encode {}", faultline::store::RESULTS))?;
        crate::cmd::output::print(&format!("{json:#}\n"))?;
    } else {
        crate::cmd::output::print(&outcome.summary)?;
    }
    Ok(ExitCode::of(outcome.verdict))
}
