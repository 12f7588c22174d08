//! Regenerating a run's `report.html` from the files of its store directory.
//!
//! Reads `history.jsonl` (required), `results.json` and `leaders.jsonl` (both optional; any
//! field of `results.json` may be missing), re-checks the history as `faultline check` does (the
//! model chosen from the ops) and the leader events for election safety, and writes
//! `report.html` atomically. Every error names the file it is about.

use super::{render, ReportInput};
use crate::store::{Results, RunDir};
use anyhow::{Context, Result};
use checker::election::{ElectionReport, LeaderEvent};
use histories::{Format, History};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// What a run directory holds, loaded and checked.
pub struct Run {
    /// The history.
    pub history: History,
    /// Its linearizability check.
    pub check: checker::Report,
    /// Election safety, when `leaders.jsonl` exists.
    pub election: Option<ElectionReport>,
    /// The leader events.
    pub leaders: Vec<LeaderEvent>,
    /// `results.json`, when it exists.
    pub results: Option<Results>,
    /// A title: `system / nemesis / run id`, or the directory's name.
    pub title: String,
}

/// Loads and checks `run_dir`.
pub fn load_run(run_dir: &Path) -> Result<Run> {
    if !run_dir.is_dir() {
        anyhow::bail!("{}: not a run directory", run_dir.display());
    }
    let dir = RunDir::open(run_dir);
    let history_path = dir.history();
    let history = histories::load(&history_path, Format::Auto)
        .with_context(|| format!("{}: cannot load the history", history_path.display()))?
        .history;
    let results_path = dir.results();
    let results = if results_path.exists() {
        let text = std::fs::read_to_string(&results_path)
            .with_context(|| format!("{}: cannot read", results_path.display()))?;
        let results = Results::parse(&text)
            .with_context(|| format!("{}: not JSON", results_path.display()))?;
        Some(results)
    } else {
        None
    };
    let leaders_path = dir.leaders();
    let leaders = if leaders_path.exists() {
        let f = File::open(&leaders_path)
            .with_context(|| format!("{}: cannot open", leaders_path.display()))?;
        checker::election::parse_leader_events(
            BufReader::new(f),
            &leaders_path.display().to_string(),
        )?
    } else {
        Vec::new()
    };
    let election = leaders_path
        .exists()
        .then(|| checker::election::check(&leaders));
    let check = checker::check(&history, &checker::Options::default());
    let run = results.as_ref().and_then(|r| r.run.as_ref());
    let header = |name: &str| {
        history
            .header
            .as_ref()?
            .get(name)?
            .as_str()
            .map(str::to_string)
    };
    let system = run
        .and_then(|r| r.system.clone())
        .or_else(|| header("system"));
    let nemesis = run
        .and_then(|r| r.nemesis.clone())
        .or_else(|| header("nemesis"));
    let dir_name = run_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| run_dir.display().to_string());
    let title = match (system, nemesis) {
        (Some(s), Some(n)) => format!("faultline: {s} / {n} / {dir_name}"),
        _ => format!("faultline: {dir_name}"),
    };
    Ok(Run {
        history,
        check,
        election,
        leaders,
        results,
        title,
    })
}

/// Regenerates `<run_dir>/report.html` from the run's files; returns its path.
pub fn write_run_report(run_dir: &Path) -> Result<PathBuf> {
    let run = load_run(run_dir)?;
    let page = render(&ReportInput {
        history: &run.history,
        check: &run.check,
        election: run.election.as_ref(),
        leaders: &run.leaders,
        results: run.results.as_ref(),
        title: run.title.clone(),
        command: None,
    });
    let out = RunDir::open(run_dir).report();
    crate::store::write_atomic(&out, page.as_bytes())?;
    Ok(out)
}
