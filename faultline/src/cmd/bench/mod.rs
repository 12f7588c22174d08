//! `faultline bench`: benchmarks that print figures. [`check`]: the checker on histories
//! shaped like public tools' test data; [`harness`]: faultline's clients and recorder;
//! [`report`]: report.html's size and render times.

pub mod check;
pub mod harness;
pub mod report;

use crate::cmd::args::{BenchArgs, BenchWhat};
use anyhow::{Context, Result};
use faultline::exit::ExitCode;

/// Runs `faultline bench ...`.
pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    match &args.what {
        BenchWhat::Check {
            reps,
            seed,
            json,
            no_large,
            keep,
        } => check::run(*reps, *seed, *json, !no_large, keep.as_deref()),
        BenchWhat::CheckOne { file } => check::check_one(file),
        BenchWhat::Report {
            ops,
            no_browser,
            out,
        } => report::run(ops, !no_browser, out.as_deref()),
        BenchWhat::Harness {
            seconds,
            concurrency,
        } => harness::run(*seconds, *concurrency),
    }
}

/// Peak resident set size of this process, from `/proc/self/status` (`VmHWM`).
pub(crate) fn peak_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line in /proc/self/status")
}

/// A scratch directory of this process under the system's temporary directory.
pub(crate) fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}
