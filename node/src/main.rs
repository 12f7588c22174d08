//! `raft-node`: one member of a Raft-replicated register, or (`raft-node bench`) a benchmark of a
//! local cluster of them. `raft-node --maelstrom` speaks Maelstrom's stdio protocol instead of TCP
//! (see the `node::maelstrom` module).
//!
//! ```text
//! raft-node --id n1 --peers n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103 \
//!     --listen 127.0.0.1:7101 --client 127.0.0.1:7001 --data /tmp/n1
//! ```

mod bench;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use node::core::{Bug, Bugs, Config};
use node::runtime::{self, RuntimeConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Example (three nodes on loopback, one terminal each):
  raft-node --id n1 --peers n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103 \\
      --listen 127.0.0.1:7101 --client 127.0.0.1:7001 --data /tmp/raft/n1
  (n2, n3 likewise with their own --id, --listen, --client and --data)
Then: echo '{\"msg_id\":1,\"type\":\"write\",\"key\":\"k\",\"value\":1}' | nc -q1 127.0.0.1 7001

stdout: one JSON line per event ({\"event\":\"leader\",\"node\":\"n1\",\"term\":3}); logs on stderr
(RUST_LOG=debug for more).";

/// A durable Raft-replicated register speaking the jsonl-tcp client protocol.
#[derive(Debug, Parser)]
#[command(name = "raft-node", version, about, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Print the name of every planted bug (`--bug NAME`), one a line, and exit.
    #[arg(long)]
    list_bugs: bool,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Benchmark 3- and 5-node clusters on loopback: committed writes/s and latency.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// This node's id, e.g. n1.
    #[arg(long)]
    id: Option<String>,
    /// Every member as id=ip:port (peer address), comma-separated, this node included.
    #[arg(long)]
    peers: Option<String>,
    /// Address for peer (Raft) connections.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address for client (jsonl-tcp) connections.
    #[arg(long)]
    client: Option<SocketAddr>,
    /// Speak Maelstrom's stdio protocol instead of TCP: id and members come from `init`
    /// (no --id/--peers/--listen/--client); without --data the state is in memory only.
    #[arg(long, conflicts_with_all = ["id", "peers", "listen", "client"])]
    maelstrom: bool,
    /// Data directory (log, hard state, snapshot).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Minimum election timeout.
    #[arg(long, default_value_t = 150)]
    election_timeout_min_ms: u64,
    /// Maximum election timeout.
    #[arg(long, default_value_t = 300)]
    election_timeout_max_ms: u64,
    /// Heartbeat interval.
    #[arg(long, default_value_t = 50)]
    heartbeat_ms: u64,
    /// Length of one core tick.
    #[arg(long, default_value_t = 10)]
    tick_ms: u64,
    /// Take a snapshot when this many applied entries are in the log.
    #[arg(long, default_value_t = 10_000)]
    snapshot_entries: u64,
    /// Plant a classic bug (repeatable; off by default), to measure whether a test finds it.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
    /// Seed of the election-timeout randomness (default: derived from the id and the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Run elections without PreVote (thesis §9.6), as a 6.824 lab Raft does. PreVote hides
    /// some bugs from real faults (`vote-twice`: see docs/decisions.md); CheckQuorum stays on.
    #[arg(long)]
    no_pre_vote: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    if cli.list_bugs {
        for b in Bug::all() {
            println!("{}", b.name());
        }
        return ExitCode::SUCCESS;
    }
    let result = match cli.command {
        Some(Sub::Bench(args)) => bench::run(&args),
        None if cli.node.maelstrom => run_maelstrom(cli.node),
        None => run_node(cli.node),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raft-node: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_peers(text: &str) -> Result<HashMap<String, SocketAddr>> {
    let mut peers = HashMap::new();
    for item in text.split(',').filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .with_context(|| format!("--peers: expected id=ip:port, found {item:?}"))?;
        let addr: SocketAddr = addr
            .parse()
            .with_context(|| format!("--peers: bad address in {item:?}"))?;
        peers.insert(id.to_string(), addr);
    }
    Ok(peers)
}

/// The core's configuration; `id` and `members` may be placeholders (Maelstrom's `init`).
fn core_config(args: &NodeArgs, id: &str, members: Vec<String>) -> Result<Config> {
    if args.election_timeout_min_ms >= args.election_timeout_max_ms || args.tick_ms == 0 {
        bail!("need 0 < --tick-ms and --election-timeout-min-ms < --election-timeout-max-ms");
    }
    let ticks = |ms: u64| ((ms / args.tick_ms).max(1)) as u32;
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos
            ^ id.bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
            ^ u64::from(std::process::id()).rotate_left(32)
    });
    Ok(Config {
        id: id.to_string(),
        peers: members,
        election_ticks_min: ticks(args.election_timeout_min_ms),
        election_ticks_max: ticks(args.election_timeout_max_ms),
        heartbeat_ticks: ticks(args.heartbeat_ms),
        snapshot_threshold_entries: args.snapshot_entries,
        pre_vote: !args.no_pre_vote,
        check_quorum: true,
        bugs: Bugs::of(&args.bugs),
        seed,
    })
}

fn run_maelstrom(args: NodeArgs) -> Result<()> {
    let core = core_config(&args, "", Vec::new())?;
    let bug_names: Vec<String> = args.bugs.iter().map(|b| b.name()).collect();
    tracing::info!(bugs = ?bug_names, data = ?args.data, "starting in maelstrom mode");
    let config = node::maelstrom::MaelstromConfig {
        core,
        data_dir: args.data,
        tick_ms: args.tick_ms,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(node::maelstrom::run(config))?;
    tracing::info!("stopped");
    // The stdin reader may still hold a blocking read: do not wait for it.
    std::process::exit(0)
}

fn run_node(args: NodeArgs) -> Result<()> {
    let (Some(id), Some(peers), Some(listen), Some(client), Some(data)) = (
        args.id.clone(),
        args.peers.clone(),
        args.listen,
        args.client,
        args.data.clone(),
    ) else {
        bail!("--id, --peers, --listen, --client and --data are required (see --help)");
    };
    let peers = parse_peers(&peers)?;
    if !peers.contains_key(&id) {
        bail!("--peers must list this node ({id}) too");
    }
    let mut members: Vec<String> = peers.keys().cloned().collect();
    members.sort();
    let core = core_config(&args, &id, members)?;
    let seed = core.seed;
    let config = RuntimeConfig {
        core,
        peers,
        data_dir: data,
        tick_ms: args.tick_ms,
    };
    let bug_names: Vec<String> = args.bugs.iter().map(|b| b.name()).collect();
    tracing::info!(%id, seed, bugs = ?bug_names, "starting");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let peer_listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("--listen {listen}: cannot bind"))?;
        let client_listener = tokio::net::TcpListener::bind(client)
            .await
            .with_context(|| format!("--client {client}: cannot bind"))?;
        runtime::run(config, peer_listener, client_listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
