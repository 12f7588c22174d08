//! `faultline bench check`: the checker's speed and memory on Jepsen-like histories.
//!
//! Three cases, each against the target of issue 3 (figures for Porcupine are the ones it
//! publishes for the same shapes of history; Porcupine itself is not run here):
//! 1. single-key cas-register, 100 ops with 15-20 concurrent `info` ops: target < 5 ms;
//! 2. append-kv, 2,000 ops, 50 clients, 10 keys: target < 15 ms;
//! 3. 1,000,000 ops over 1,000 keys, parse included: target < 3 s and < 1 GiB peak RSS.
//!
//! The small cases run in this process (median of `--reps`). The large case is written to a
//! temporary JSONL file, then loaded and checked by a fresh child process (`bench check-one`),
//! so that its peak RSS (`VmHWM`) belongs to that case alone.

use crate::cli::{BenchArgs, BenchWhat, Exit};
use crate::output;
use anyhow::{bail, Context, Result};
use checker::{synth, Verdict};
use histories::{Format, History};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `faultline bench ...`.
pub fn run(args: &BenchArgs) -> Result<Exit> {
    match &args.what {
        BenchWhat::Check { reps, seed } => bench_check(*reps, *seed),
        BenchWhat::CheckOne { file } => check_one(file),
        BenchWhat::Report {
            ops,
            no_browser,
            out,
        } => crate::web::bench_report(ops, !no_browser, out.as_deref()),
        BenchWhat::Harness {
            seconds,
            concurrency,
        } => bench_harness(*seconds, *concurrency),
    }
}

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

fn bench_harness(seconds: f64, concurrency: usize) -> Result<Exit> {
    use faultline::adapter::{Client, DirectConnector};
    use faultline::workload::{client_loop, Shared, Workload};
    let (_server, addr) = spawn_mem_register(None)?;
    let dir = tempfile_dir()?;
    let path = dir.join("bench-harness.jsonl");
    let _ = std::fs::remove_file(&path);
    let recorder = std::sync::Arc::new(faultline::recorder::Recorder::create(
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
    let loaded = histories::load(&path, Format::Jsonl).map_err(|e| anyhow::anyhow!("{e}"))?;
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
    Ok(Exit::Valid)
}

/// The same clients against a real 3-node raft-register in network namespaces (needs root):
/// what the system sustains, recorded and checked, with no nemesis.
fn bench_harness_raft(seconds: f64, concurrency: usize) -> Result<()> {
    use faultline::harness::{self, NemesisPlan, TestConfig};
    if !nemesis::is_root() {
        output::print("raft-register: skipped (a run in network namespaces needs root)\n")?;
        return Ok(());
    }
    let bin_dir = harness::exe_dir()?;
    let spec_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../systems/raft-register.toml");
    let spec = faultline::spec::SystemSpec::load(&spec_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = tempfile_dir()?.join(format!("bench-store-{}", std::process::id()));
    let cfg = TestConfig {
        spec,
        nodes: 3,
        plan: NemesisPlan::None,
        time_limit: Duration::from_secs_f64(seconds),
        workload: faultline::workload::Workload {
            concurrency: concurrency.max(1),
            rate: f64::INFINITY,
            keys: 8,
            seed: 1,
            read_pct: 40,
            write_pct: 30,
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
    };
    let outcome = harness::run_test(&cfg)?;
    let f = &outcome.figures;
    let _ = std::fs::remove_dir_all(&store);
    output::print(&format!(
        "raft-register (3 nodes in namespaces, fsync on, {concurrency} clients): {} ops in {seconds:.0} s, \
         {:.0} ok ops/s, p50 {:.1} ms, p99 {:.1} ms; verdict {}\n",
        f.ops.total,
        f.throughput_ok_per_s,
        f.latency.p50_ms,
        f.latency.p99_ms,
        harness::verdict_word(outcome.verdict)
    ))?;
    Ok(())
}

/// One row of the printed table.
struct Row {
    case: &'static str,
    ops: usize,
    measured: Duration,
    target: Duration,
    verdict: Verdict,
    note: String,
}

fn bench_check(reps: usize, seed: u64) -> Result<Exit> {
    let reps = reps.max(1);
    eprintln!("faultline bench check: seed {seed}, {reps} reps per small case");
    let mut rows = Vec::new();

    let cas = synth::cas_register(seed);
    rows.push(time_small(
        "cas-register, 1 key, 100 ops, ~15-20 info",
        &cas,
        reps,
        Duration::from_millis(5),
        "Porcupine: up to ~180 ms",
    ));
    let append = synth::append_kv(seed);
    rows.push(time_small(
        "append-kv, 2,000 ops, 50 clients, 10 keys",
        &append,
        reps,
        Duration::from_millis(15),
        "Porcupine: ~165-195 ms",
    ));

    let big = synth::big_kv(seed);
    let ops = big.ops.len();
    let dir = tempfile_dir()?;
    let path = dir.join("bench-1m.jsonl");
    {
        let file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
        histories::write_ops(&big.ops, BufWriter::new(file))
            .with_context(|| format!("write {}", path.display()))?;
    }
    drop(big);
    let child = run_child(&path);
    let _ = std::fs::remove_file(&path);
    let child = child?;
    rows.push(Row {
        case: "kv, 1,000,000 ops, 1,000 keys, parse included",
        ops,
        measured: Duration::from_secs_f64(child.seconds),
        target: Duration::from_secs(3),
        verdict: child.verdict,
        note: format!(
            "parse {:.2} s + check {:.2} s; peak RSS {} MiB (target < 1024 MiB)",
            child.parse_seconds,
            child.seconds - child.parse_seconds,
            child.peak_rss_kib / 1024
        ),
    });
    output::print(&render(&rows))?;
    let all_valid = rows.iter().all(|r| r.verdict == Verdict::Valid);
    if !all_valid {
        bail!("a generated history was not judged valid: the generator or the checker is wrong");
    }
    Ok(Exit::Valid)
}

fn time_small(
    case: &'static str,
    history: &History,
    reps: usize,
    target: Duration,
    porcupine: &str,
) -> Row {
    let opts = checker::Options::default();
    let mut times = Vec::with_capacity(reps);
    let mut verdict = Verdict::Unknown;
    let mut algorithms = String::new();
    for _ in 0..reps {
        let started = Instant::now();
        let report = checker::check(history, &opts);
        times.push(started.elapsed());
        verdict = report.verdict;
        algorithms = report.algorithms_used().join("+");
    }
    times.sort();
    Row {
        case,
        ops: history.ops.len(),
        measured: times[times.len() / 2],
        target,
        verdict,
        note: format!("median of {reps}; {algorithms}; {porcupine}"),
    }
}

/// What the child process reports.
#[derive(Serialize, Deserialize)]
struct ChildResult {
    seconds: f64,
    parse_seconds: f64,
    peak_rss_kib: u64,
    verdict: Verdict,
}

fn run_child(path: &Path) -> Result<ChildResult> {
    let exe = std::env::current_exe().context("locate the faultline binary")?;
    let out = Command::new(exe)
        .args(["bench", "check-one"])
        .arg(path)
        .output()
        .context("run `faultline bench check-one`")?;
    if !out.status.success() {
        bail!(
            "bench check-one failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("parse the output of bench check-one")
}

fn check_one(file: &Path) -> Result<Exit> {
    let started = Instant::now();
    let loaded = histories::load(file, Format::Jsonl).map_err(|e| anyhow::anyhow!("{e}"))?;
    let parse_seconds = started.elapsed().as_secs_f64();
    let report = checker::check(&loaded.history, &checker::Options::default());
    let seconds = started.elapsed().as_secs_f64();
    let result = ChildResult {
        seconds,
        parse_seconds,
        peak_rss_kib: peak_rss_kib()?,
        verdict: report.verdict,
    };
    output::print(&format!("{}\n", serde_json::to_string(&result)?))?;
    Ok(Exit::Valid)
}

/// Peak resident set size of this process, from `/proc/self/status` (`VmHWM`).
fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line in /proc/self/status")
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn render(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<48} {:>9} {:>12} {:>10} {:>7} {:>8}  {}\n",
        "case", "ops", "measured", "target", "ratio", "verdict", "notes"
    );
    for r in rows {
        let ratio = r.measured.as_secs_f64() / r.target.as_secs_f64();
        out.push_str(&format!(
            "{:<48} {:>9} {:>12} {:>10} {:>6.2}x {:>8}  {}\n",
            r.case,
            r.ops,
            format_duration(r.measured),
            format_duration(r.target),
            ratio,
            r.verdict.as_str(),
            r.note
        ));
    }
    out.push_str("ratio = measured / target; below 1.00x meets the target.\n");
    out
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{:.0} us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
