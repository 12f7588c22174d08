//! `faultline bench harness`: faultline's clients and recorder against the in-memory register
//! on loopback, and (as root) against raft-node in network namespaces.

use super::{peak_rss_kib, tempfile_dir};
use crate::cmd::output;
use anyhow::{Context, Result};
use faultline::exit::ExitCode;
use histories::Format;
use std::process::Command;
use std::time::{Duration, Instant};

/// Kills the child it holds (by its PID, via `Child::kill`) when dropped.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `faultline mem-register` on a free loopback port; returns it and its address.
pub fn spawn_mem_register(bug: Option<&str>) -> Result<(impl Drop, std::net::SocketAddr)> {
    use std::io::BufRead;
    let exe = std::env::current_exe().context("locate the faultline binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["mem-register", "--listen", "127.0.0.1:0"]);
    if let Some(bug) = bug {
        cmd.args(["--bug", bug]);
    }
    let mut child = ChildGuard(
        cmd.stdout(std::process::Stdio::piped())
            .spawn()
            .context("start faultline mem-register")?,
    );
    let stdout = child.0.stdout.take().context("mem-register stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .parse()
        .with_context(|| format!("mem-register printed {line:?}, expected an address"))?;
    Ok((child, addr))
}

pub fn run(seconds: f64, concurrency: usize) -> Result<ExitCode> {
    use faultline::clients::adapter::{Client, DirectConnector};
    use faultline::clients::workload::{client_loop, Shared, Workload};
    let (_server, addr) = spawn_mem_register(None)?;
    let dir = tempfile_dir()?;
    let path = dir.join("bench-harness.jsonl");
    let _ = std::fs::remove_file(&path);
    let recorder = std::sync::Arc::new(faultline::clients::recorder::Recorder::create(
        &path,
        serde_json::json!({"faultline": 1, "bench": "harness"}),
    )?);
    let workload = Workload {
        concurrency: concurrency.max(1),
        rate: f64::INFINITY,
        keys: 8,
        seed: 1,
        read_pct: 40,
        write_pct: 30,
        clients: faultline::clients::workload::ClientMode::Spread,
        kind: Default::default(),
        topology: Default::default(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    rt.block_on(async {
        let shared = Shared::new(&workload, std::sync::Arc::clone(&recorder));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for slot in 0..workload.concurrency {
            let client = Client::new(
                faultline::spec::Adapter::JsonlTcp,
                vec![("m1".to_string(), addr)],
                0,
                std::sync::Arc::new(DirectConnector),
                format!("c{slot}"),
                Duration::from_secs(5),
            );
            let task = client_loop(
                slot,
                workload.clone(),
                std::sync::Arc::clone(&shared),
                client,
                stop_rx.clone(),
            );
            tasks.push(tokio::spawn(task));
        }
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let events = recorder.finish()?;
    let rss_mib = peak_rss_kib()? as f64 / 1024.0;
    let loaded = histories::load(&path, Format::Jsonl)?;
    let ops = loaded.history.ops.len();
    let _ = std::fs::remove_file(&path);
    let rate = ops as f64 / elapsed;
    output::print(&format!(
        "harness: {ops} ops recorded ({events} events) in {elapsed:.1} s = {rate:.0} ops/s \
         (target >= 50,000: {:.2}x); peak RSS {rss_mib:.1} MiB (target < 50 MiB: {:.2}x); \
         {concurrency} clients against the in-memory register on loopback\n",
        rate / 50_000.0,
        rss_mib / 50.0
    ))?;
    bench_harness_raft(seconds, concurrency)?;
    Ok(ExitCode::Valid)
}

/// The same clients against a real 3-node raft-register in network namespaces (needs root):
/// what the system sustains, recorded and checked, with no nemesis.
fn bench_harness_raft(seconds: f64, concurrency: usize) -> Result<()> {
    use faultline::faults::NemesisPlan;
    use faultline::run::{self, TestConfig};
    if !nemesis::is_root() {
        output::print("raft-register: skipped (a run in network namespaces needs root)\n")?;
        return Ok(());
    }
    let bin_dir = run::exe_dir()?;
    let spec_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../systems/raft-register.toml");
    let spec = faultline::spec::SystemSpec::load(&spec_path)?;
    let store = tempfile_dir()?.join(format!("bench-store-{}", std::process::id()));
    let cfg = TestConfig {
        spec,
        nodes: 3,
        plan: NemesisPlan::None,
        time_limit: Duration::from_secs_f64(seconds),
        workload: faultline::clients::workload::Workload {
            concurrency: concurrency.max(1),
            rate: f64::INFINITY,
            keys: 8,
            seed: 1,
            read_pct: 40,
            write_pct: 30,
            clients: faultline::clients::workload::ClientMode::Spread,
            kind: Default::default(),
            topology: Default::default(),
        },
        op_timeout: Duration::from_secs(1),
        store: store.clone(),
        node_args: Vec::new(),
        bin_dir,
        command: "faultline bench harness".into(),
        settle: Duration::from_millis(200),
        final_read_budget: Duration::from_secs(10),
        check_time_limit: Duration::from_secs(60),
        progress: false,
        net: Default::default(),
        log_stderr: false,
    };
    let outcome = run::run_test(&cfg)?;
    let f = &outcome.figures;
    let _ = std::fs::remove_dir_all(&store);
    output::print(&format!(
        "raft-register (3 nodes in namespaces, fsync on, {concurrency} clients): {} ops in {seconds:.0} s, \
         {:.0} ok ops/s, p50 {:.1} ms, p99 {:.1} ms; verdict {}\n",
        f.ops.total,
        f.throughput_ok_per_s,
        f.latency.p50_ms,
        f.latency.p99_ms,
        faultline::summary::verdict_word(outcome.verdict)
    ))?;
    Ok(())
}
