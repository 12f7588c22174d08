//! `faultline bench check`: the checker on histories shaped like public tools' test data.
//!
//! Each row generates histories of one shape ([`checker::shapes`]: valid by construction, or
//! with one planted violation), prints faultline's time beside Porcupine's for the same shape
//! (constants: Porcupine's check time, measured side by side with it), the ratio, the verdict
//! against the planted one, and the row's target, met or missed:
//! - 100 Jepsen etcd logs in one invocation: >= 10x faster than Porcupine;
//! - 6.824 kv, 50 clients, 1,712 ops, valid: >= 10x faster than Porcupine;
//! - the same shape with a violation: invalid, explained, at least as fast as Porcupine;
//! - 6.824 kv, 10 clients, 340-400 ops: the figure only;
//! - Knossos-shaped cas registers (100-1,000 ops): each decided in under 10 ms;
//! - a small file: under 10 ms for the whole process;
//! - 1,000,000 ops over 1,000 keys, parse included: under 3 s and 1 GiB peak RSS.
//!
//! Rows compared with Porcupine and the small file time a child `faultline check FILE...`
//! (start, parse, check, print; the median of `--reps`), so they include what Porcupine's
//! figure leaves out. The Knossos row times `checker::check` in this process. The large case is
//! loaded and checked by a fresh child (`bench check-one`), so that its peak RSS (`VmHWM`)
//! belongs to that case alone.

use super::peak_rss_kib;
use crate::cmd::output;
use anyhow::{bail, Context, Result};
use checker::{shapes, synth, Verdict};
use faultline::exit::ExitCode;
use histories::{Format, History};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Porcupine's check time for one shape: the lowest and highest of repeated runs, in ms.
#[derive(Clone, Copy)]
struct Porcupine {
    lo_ms: f64,
    hi_ms: f64,
}

// Measured side by side with Porcupine 0.x (Go) on this kind of machine (2 cores, shared):
// Porcupine's check time only, without starting the process or reading the files.
/// 100 Jepsen etcd logs checked in one invocation, in all.
const PORCUPINE_ETCD_100: Porcupine = Porcupine {
    lo_ms: 620.0,
    hi_ms: 780.0,
};
/// 6.824 kv, 50 clients, 1,712 ops over 10 keys, valid.
const PORCUPINE_KV_50_OK: Porcupine = Porcupine {
    lo_ms: 190.0,
    hi_ms: 270.0,
};
/// The same shape, 2,024 ops, with a violation (Porcupine stops at the first failing key).
const PORCUPINE_KV_50_BAD: Porcupine = Porcupine {
    lo_ms: 19.0,
    hi_ms: 35.0,
};
/// 6.824 kv, 10 clients, 340-400 ops.
const PORCUPINE_KV_10_OK: Porcupine = Porcupine {
    lo_ms: 0.5,
    hi_ms: 1.2,
};

/// Each Knossos-shaped history is decided in under this.
const KNOSSOS_TARGET: Duration = Duration::from_millis(10);
/// A small file, whole process, in under this.
const SMALL_TARGET: Duration = Duration::from_millis(10);
/// The speed-up wanted over Porcupine on the valid kv shape and on the etcd logs.
const SPEEDUP_TARGET: f64 = 10.0;

/// One row of the table (and one `--json` line).
#[derive(Serialize)]
struct Row {
    shape: String,
    ops: usize,
    /// `whole process` (a child `faultline check`) or `in process` (`checker::check`).
    timed: &'static str,
    /// Porcupine's figure, low and high, in ms.
    porcupine_ms: Option<[f64; 2]>,
    /// faultline's figure, in ms.
    faultline_ms: f64,
    /// What faultline said.
    verdict: String,
    /// What was planted.
    planted: &'static str,
    /// The verdict is the planted one.
    verdict_ok: bool,
    target: String,
    /// `None`: the row has no target.
    met: Option<bool>,
    notes: String,
}

impl Row {
    /// Porcupine's figures over faultline's: how many times faster faultline is.
    fn speedup(&self) -> Option<[f64; 2]> {
        self.porcupine_ms
            .map(|[lo, hi]| [lo / self.faultline_ms, hi / self.faultline_ms])
    }
}

pub fn run(
    reps: usize,
    seed: u64,
    json: bool,
    large: bool,
    keep: Option<&Path>,
) -> Result<ExitCode> {
    let reps = reps.max(1);
    eprintln!("faultline bench check: seed {seed}, {reps} reps per timed case");
    let temp = tempfile::Builder::new()
        .prefix("faultline-bench-")
        .tempdir()
        .context("create a temporary directory")?;
    let dir = match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            dir
        }
        None => temp.path(),
    };
    let mut rows = Vec::new();
    let mut emit = |row: Row| -> Result<()> {
        if json {
            output::print(&format!("{}\n", serde_json::to_string(&row)?))?;
        } else {
            eprintln!("  {}: {}", row.shape, format_ms(row.faultline_ms));
        }
        rows.push(row);
        Ok(())
    };
    emit(row_etcd(dir, seed, reps)?)?;
    emit(row_kv(
        dir.join("kv-50-valid.jsonl"),
        "6.824 kv, 50 clients, 1,712 ops over 10 keys, valid",
        &shapes::porcupine_kv(50, 1_712, 10, seed),
        PORCUPINE_KV_50_OK,
        reps,
    )?)?;
    emit(row_kv(
        dir.join("kv-50-violation.jsonl"),
        "the same shape, 2,024 ops, with a violation",
        &shapes::porcupine_kv_violation(50, 2_024, 10, seed),
        PORCUPINE_KV_50_BAD,
        reps,
    )?)?;
    let ops = SmallRng::seed_from_u64(seed).gen_range(340..=400);
    emit(row_kv(
        dir.join("kv-10-valid.jsonl"),
        &format!("6.824 kv, 10 clients, {ops} ops over 10 keys, valid"),
        &shapes::porcupine_kv(10, ops, 10, seed),
        PORCUPINE_KV_10_OK,
        reps,
    )?)?;
    emit(row_knossos(seed))?;
    emit(row_small(dir, seed, reps)?)?;
    if large {
        emit(row_large(dir, seed)?)?;
    }
    if !json {
        output::print(&render(&rows))?;
    }
    if rows.iter().any(|r| !r.verdict_ok) {
        bail!("a verdict is not the planted one: the generator or the checker is wrong");
    }
    Ok(ExitCode::Valid)
}

/// 100 Jepsen etcd logs, checked by one child `faultline check` (whole process).
fn row_etcd(dir: &Path, seed: u64, reps: usize) -> Result<Row> {
    let logs: Vec<History> = (0..100)
        .map(|i| shapes::jepsen_etcd(seed.wrapping_mul(1_000).wrapping_add(i)))
        .collect();
    let mut files = Vec::with_capacity(logs.len());
    for (i, log) in logs.iter().enumerate() {
        let path = dir.join(format!("etcd-{i:03}.jsonl"));
        write_history(&path, log)?;
        files.push(path);
    }
    let mut args = vec![OsString::from("check")];
    args.extend(files.iter().map(OsString::from));
    let (whole, exit) = time_child(&args, reps)?;
    let opts = checker::Options::default();
    let mut in_process = Vec::with_capacity(reps);
    let mut valid = 0;
    for _ in 0..reps {
        let started = Instant::now();
        valid = logs
            .iter()
            .filter(|h| checker::check(h, &opts).verdict == Verdict::Valid)
            .count();
        in_process.push(started.elapsed());
    }
    let ops: usize = logs.iter().map(|h| h.ops.len()).sum();
    let pending = logs.iter().map(shapes::pending_at_once).max().unwrap_or(0);
    let verdict = format!("{valid} of 100 valid; exit {}", exit_text(exit));
    let verdict_ok = valid == logs.len() && exit == Some(0);
    let faultline_ms = ms(whole);
    let speedup = PORCUPINE_ETCD_100.lo_ms / faultline_ms;
    Ok(Row {
        shape: "100 Jepsen etcd logs, one invocation (cas register, 80-100 ops each)".into(),
        ops,
        timed: "whole process",
        porcupine_ms: Some([PORCUPINE_ETCD_100.lo_ms, PORCUPINE_ETCD_100.hi_ms]),
        faultline_ms,
        verdict,
        planted: "valid",
        verdict_ok,
        target: format!(">= {SPEEDUP_TARGET:.0}x faster than Porcupine"),
        met: Some(verdict_ok && speedup >= SPEEDUP_TARGET),
        notes: format!(
            "median of {reps} runs of `faultline check` on the 100 files; up to {pending} ops \
             pending at once; the 100 checked one after another in process: {}",
            format_ms(ms(median(in_process)))
        ),
    })
}

/// A 6.824 kv history in a file, checked by a child `faultline check` (whole process).
fn row_kv(
    path: PathBuf,
    shape: &str,
    history: &History,
    porcupine: Porcupine,
    reps: usize,
) -> Result<Row> {
    write_history(&path, history)?;
    let (whole, exit) = time_child(&["check".into(), path.into()], reps)?;
    let (in_process, report) = time_in_process(history, reps);
    let planted_invalid = history.source.contains("violation");
    let explained = report.counterexample.is_some();
    let (planted, verdict_ok) = if planted_invalid {
        let ok = report.verdict == Verdict::Invalid && explained && exit == Some(1);
        ("invalid, explained", ok)
    } else {
        ("valid", report.verdict == Verdict::Valid && exit == Some(0))
    };
    let verdict = match report.verdict {
        Verdict::Invalid if explained => "invalid, explained".to_string(),
        v => v.as_str().to_string(),
    };
    let faultline_ms = ms(whole);
    let (target, met) = if planted_invalid {
        (
            "invalid, explained, <= Porcupine's time".to_string(),
            Some(verdict_ok && faultline_ms <= porcupine.lo_ms),
        )
    } else if porcupine.lo_ms >= 100.0 {
        let speedup = porcupine.lo_ms / faultline_ms;
        (
            format!(">= {SPEEDUP_TARGET:.0}x faster than Porcupine"),
            Some(verdict_ok && speedup >= SPEEDUP_TARGET),
        )
    } else {
        ("none (figure only)".to_string(), None)
    };
    let keys: std::collections::BTreeSet<_> = history.ops.iter().map(|o| &o.key).collect();
    Ok(Row {
        shape: shape.to_string(),
        ops: history.ops.len(),
        timed: "whole process",
        porcupine_ms: Some([porcupine.lo_ms, porcupine.hi_ms]),
        faultline_ms,
        verdict: format!("{verdict}; exit {}", exit_text(exit)),
        planted,
        verdict_ok,
        target,
        met,
        notes: format!(
            "median of {reps} runs of `faultline check`; {} keys, up to {} ops pending at once; \
             checker::check in process: {} ({})",
            keys.len(),
            shapes::pending_at_once(history),
            format_ms(ms(in_process)),
            report.algorithms_used().join("+")
        ),
    })
}

/// 50 Knossos-shaped histories (5-20 processes, 100-1,000 ops), each checked in process.
fn row_knossos(seed: u64) -> Row {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x4b0e);
    let mut times = Vec::new();
    let (mut ops, mut valid, mut infos, mut fails) = (0, 0, 0, 0);
    let count = 50;
    for i in 0..count {
        let processes = rng.gen_range(5..=20);
        let n = rng.gen_range(100..=1_000);
        let history = shapes::knossos(processes, n, seed.wrapping_mul(1_000).wrapping_add(i));
        ops += history.ops.len();
        infos += history
            .ops
            .iter()
            .filter(|o| o.outcome == histories::Outcome::Info)
            .count();
        fails += history
            .ops
            .iter()
            .filter(|o| o.outcome == histories::Outcome::Fail)
            .count();
        let (took, report) = time_in_process(&history, 3);
        valid += usize::from(report.verdict == Verdict::Valid);
        times.push(took);
    }
    let worst = times.iter().copied().max().unwrap_or_default();
    let med = median(times);
    let verdict_ok = valid == count as usize;
    Row {
        shape: format!("{count} Knossos-shaped cas registers, 5-20 processes, 100-1,000 ops"),
        ops,
        timed: "in process",
        porcupine_ms: None,
        faultline_ms: ms(worst),
        verdict: format!("{valid} of {count} valid"),
        planted: "valid",
        verdict_ok,
        target: format!("each < {}", format_ms(ms(KNOSSOS_TARGET))),
        met: Some(verdict_ok && worst < KNOSSOS_TARGET),
        notes: format!(
            "the slowest of {count} (each the median of 3 checker::check runs); median {}; \
             values 0..4, {:.0} % fail, {infos} info in all",
            format_ms(ms(med)),
            100.0 * fails as f64 / ops.max(1) as f64
        ),
    }
}

/// A small file, whole process, beside `faultline --version` in the same run.
fn row_small(dir: &Path, seed: u64, reps: usize) -> Result<Row> {
    let history = shapes::small(seed);
    let path = dir.join("small.jsonl");
    write_history(&path, &history)?;
    let (whole, exit) = time_child(&["check".into(), path.into()], reps)?;
    let (version, _) = time_child(&["--version".into()], reps)?;
    let (in_process, report) = time_in_process(&history, reps);
    let verdict_ok = report.verdict == Verdict::Valid && exit == Some(0);
    Ok(Row {
        shape: "a small file (a register, a few dozen ops)".into(),
        ops: history.ops.len(),
        timed: "whole process",
        porcupine_ms: None,
        faultline_ms: ms(whole),
        verdict: format!("{}; exit {}", report.verdict.as_str(), exit_text(exit)),
        planted: "valid",
        verdict_ok,
        target: format!("< {} whole process", format_ms(ms(SMALL_TARGET))),
        met: Some(verdict_ok && whole < SMALL_TARGET),
        notes: format!(
            "median of {reps} runs of `faultline check FILE`; `faultline --version` in the same \
             run: {}; checker::check in process: {}",
            format_ms(ms(version)),
            format_ms(ms(in_process))
        ),
    })
}

/// 1,000,000 ops over 1,000 keys, loaded and checked by a fresh child (its peak RSS alone).
fn row_large(dir: &Path, seed: u64) -> Result<Row> {
    let big = synth::big_kv(seed);
    let ops = big.ops.len();
    let path = dir.join("large.jsonl");
    write_history(&path, &big)?;
    drop(big);
    let child = run_child(&path);
    let _ = std::fs::remove_file(&path);
    let child = child?;
    let rss_mib = child.peak_rss_kib / 1024;
    let verdict_ok = child.verdict == Verdict::Valid;
    Ok(Row {
        shape: "kv, 1,000,000 ops over 1,000 keys, parse included".into(),
        ops,
        timed: "child: parse + check",
        porcupine_ms: None,
        faultline_ms: child.seconds * 1e3,
        verdict: child.verdict.as_str().to_string(),
        planted: "valid",
        verdict_ok,
        target: "< 3 s and < 1,024 MiB peak RSS".into(),
        met: Some(verdict_ok && child.seconds < 3.0 && rss_mib < 1024),
        notes: format!(
            "one run; parse {:.2} s + check {:.2} s; peak RSS {rss_mib} MiB",
            child.parse_seconds,
            child.seconds - child.parse_seconds
        ),
    })
}

/// Writes `history` as JSONL to `path`.
fn write_history(path: &Path, history: &History) -> Result<()> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    histories::write_ops(&history.ops, BufWriter::new(file))
        .with_context(|| format!("write {}", path.display()))
}

/// Runs `faultline ARGS` once untimed (warm caches), then `reps` times: the median wall time
/// (start to exit) and the last exit code.
fn time_child(args: &[OsString], reps: usize) -> Result<(Duration, Option<i32>)> {
    let exe = std::env::current_exe().context("locate the faultline binary")?;
    let mut times = Vec::with_capacity(reps);
    let mut code = None;
    for rep in 0..=reps {
        let started = Instant::now();
        let status = Command::new(&exe)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("run a child faultline")?;
        if rep > 0 {
            times.push(started.elapsed());
        }
        code = status.code();
    }
    Ok((median(times), code))
}

/// `checker::check` `reps` times in this process: the median time and the last report.
fn time_in_process(history: &History, reps: usize) -> (Duration, checker::Report) {
    let opts = checker::Options::default();
    let mut times = Vec::with_capacity(reps);
    let mut report = None;
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let r = checker::check(history, &opts);
        times.push(started.elapsed());
        report = Some(r);
    }
    let report = report.unwrap_or_else(|| checker::check(history, &opts));
    (median(times), report)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "by signal".to_string(), |c| c.to_string())
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

pub fn check_one(file: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let loaded = histories::load(file, Format::Jsonl)?;
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
    Ok(ExitCode::Valid)
}

/// The table (Markdown, so that it can be pasted as is), then each row's notes.
fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| shape | ops | Porcupine | faultline | Porcupine / faultline | verdict (planted) | target | |\n\
         |---|---:|---:|---:|---:|---|---|---|\n",
    );
    for r in rows {
        let porcupine = r.porcupine_ms.map_or("-".to_string(), |[lo, hi]| {
            if hi < 10.0 {
                format!("{lo:.1}-{hi:.1} ms")
            } else {
                format!("{lo:.0}-{hi:.0} ms")
            }
        });
        let speedup = r.speedup().map_or("-".to_string(), |[lo, hi]| {
            format!("{}-{}x", ratio_text(lo), ratio_text(hi))
        });
        let flag = if r.verdict_ok { "" } else { " WRONG VERDICT" };
        let met = match r.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {} | {porcupine} | {} ({}) | {speedup} | {} ({}){flag} | {} | {met} |\n",
            r.shape,
            thousands(r.ops),
            format_ms(r.faultline_ms),
            r.timed,
            r.verdict,
            r.planted,
            r.target,
        ));
    }
    out.push_str(
        "\nPorcupine: its check time only (constants measured side by side with Porcupine in Go \
         on this kind of machine); faultline: as marked. Targets against Porcupine use its lower \
         figure.\n",
    );
    for r in rows {
        out.push_str(&format!("- {}: {}\n", r.shape, r.notes));
    }
    out
}

/// A ratio to two significant digits (0.0071, 0.93, 4.9, 12).
fn ratio_text(x: f64) -> String {
    if !(x.is_finite() && x > 0.0) {
        return format!("{x}");
    }
    let decimals = (1 - x.log10().floor() as i32).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// 1712 -> "1,712".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .map(|g| std::str::from_utf8(g).unwrap_or(""))
        .collect();
    groups.reverse();
    groups.join(",")
}

fn format_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0} us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
