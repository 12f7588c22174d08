//! `raft-node bench`: committed writes/s and latency of real local clusters.
//!
//! Starts a 3-node and a 5-node cluster as child processes of this binary on loopback (free
//! ports, a temporary data directory, fsync on), waits for a leader, then drives each with
//! `--clients` concurrent clients doing writes over jsonl-tcp (following the `leader` hint) for
//! `--seconds`. Prints committed writes/s and p50/p99 latency. The children are killed by the
//! PIDs this process started, also when the bench fails (a guard's `Drop`).

use anyhow::{bail, Context, Result};
use clap::Args;
use node::core::Bug;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Arguments of `raft-node bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds of load per cluster size.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Cluster sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "3,5")]
    sizes: Vec<usize>,
    /// Plant a bug in every node (e.g. no-fsync, to see what fsync costs).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
}

/// Kills the children (by the PIDs we started) when dropped.
struct Cluster {
    children: Vec<Child>,
    clients: Vec<(String, SocketAddr)>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(node::ports::free_loopback_port()?)
}

fn start_cluster(n: usize, bugs: &[Bug]) -> Result<Cluster> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let mut peers = Vec::new();
    let mut clients = Vec::new();
    for i in 1..=n {
        peers.push(format!("n{i}=127.0.0.1:{}", free_port()?));
        clients.push((
            format!("n{i}"),
            format!("127.0.0.1:{}", free_port()?).parse()?,
        ));
    }
    let mut cluster = Cluster {
        children: Vec::new(),
        clients,
        _dir: dir,
    };
    for i in 1..=n {
        let listen = peers[i - 1]
            .split_once('=')
            .map(|p| p.1)
            .unwrap_or_default();
        let mut cmd = Command::new(&exe);
        cmd.args(["--id", &format!("n{i}"), "--peers", &peers.join(",")])
            .args(["--listen", listen])
            .args(["--client", &cluster.clients[i - 1].1.to_string()])
            .arg("--data")
            .arg(cluster._dir.path().join(format!("n{i}")))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for b in bugs {
            cmd.args(["--bug", &b.name()]);
        }
        cluster
            .children
            .push(cmd.spawn().context("spawn raft-node")?);
    }
    Ok(cluster)
}

/// Runs the bench.
pub fn run(args: &BenchArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "{:>5} {:>8} {:>12} {:>10} {:>10} {:>10}",
        "nodes", "clients", "writes/s", "p50 ms", "p99 ms", "errors"
    );
    for &n in &args.sizes {
        let cluster = start_cluster(n, &args.bugs)?;
        let r = rt.block_on(drive(&cluster.clients, args.clients, args.seconds))?;
        drop(cluster);
        println!(
            "{:>5} {:>8} {:>12.0} {:>10.2} {:>10.2} {:>10}",
            n, args.clients, r.rate, r.p50_ms, r.p99_ms, r.errors
        );
    }
    let fsync = if args.bugs.contains(&Bug::NoFsync) {
        "off"
    } else {
        "on"
    };
    println!("(loopback, fsync {fsync}, data in a temporary directory; target >= 5000 writes/s, p99 < 20 ms)");
    Ok(())
}

struct Figures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn drive(nodes: &[(String, SocketAddr)], clients: usize, seconds: f64) -> Result<Figures> {
    wait_for_leader(nodes).await?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let nodes = nodes.to_vec();
        tasks.push(tokio::spawn(
            async move { client(c, nodes, deadline).await },
        ));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |d: &Duration| d.as_secs_f64() * 1000.0)
    };
    Ok(Figures {
        rate: lat.len() as f64 / elapsed,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        errors,
    })
}

/// One request/reply on a fresh or existing connection; `None` on I/O failure.
async fn call(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    line: &str,
) -> Option<serde_json::Value> {
    if conn.is_none() {
        *conn = Some(BufReader::new(TcpStream::connect(addr).await.ok()?));
    }
    let c = conn.as_mut()?;
    let _ = c.get_mut().set_nodelay(true);
    if c.get_mut().write_all(line.as_bytes()).await.is_err() {
        *conn = None;
        return None;
    }
    let mut reply = String::new();
    match tokio::time::timeout(Duration::from_secs(2), c.read_line(&mut reply)).await {
        Ok(Ok(n)) if n > 0 => serde_json::from_str(&reply).ok(),
        _ => {
            *conn = None;
            None
        }
    }
}

async fn wait_for_leader(nodes: &[(String, SocketAddr)]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut conn = None;
    let mut i = 0;
    while Instant::now() < deadline {
        let line = "{\"msg_id\":1,\"type\":\"write\",\"key\":\"warmup\",\"value\":0}\n";
        if let Some(r) = call(&mut conn, nodes[i].1, line).await {
            if r["type"] == "write_ok" {
                return Ok(());
            }
        }
        conn = None;
        i = (i + 1) % nodes.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no leader accepted a write within 15 s")
}

async fn client(
    c: usize,
    nodes: Vec<(String, SocketAddr)>,
    deadline: Instant,
) -> (Vec<Duration>, u64) {
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut conn = None;
    let mut at = c % nodes.len();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let line = format!(
            "{{\"msg_id\":{seq},\"type\":\"write\",\"key\":\"k{}\",\"value\":{seq},\"client\":\"b{c}\",\"seq\":{seq}}}\n",
            seq % 16
        );
        let t = Instant::now();
        match call(&mut conn, nodes[at].1, &line).await {
            Some(r) if r["type"] == "write_ok" => lat.push(t.elapsed()),
            Some(r) => {
                errors += 1;
                let hint = r["leader"]
                    .as_str()
                    .and_then(|l| nodes.iter().position(|n| n.0 == l));
                at = hint.unwrap_or((at + 1) % nodes.len());
                conn = None;
            }
            None => {
                errors += 1;
                at = (at + 1) % nodes.len();
            }
        }
    }
    (lat, errors)
}
