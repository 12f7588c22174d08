//! `faultline check FILE...`: offline linearizability (and election-safety) checks.
//!
//! Files are loaded and checked in parallel (rayon), one line each and a summary, like a test
//! runner; a single file prints its full explanation. A file that cannot be read or parsed is
//! reported as `path:line: what is wrong` and does not stop the others (ripgrep's habit).
//!
//! Exit status ([`ExitCode`]): 1 when any file is invalid; otherwise 2 when any could not be
//! read; otherwise 3 when any is unknown; otherwise 0. "Invalid" wins because it is a definite
//! finding about the system.
//!
//! A file with no operation at all (empty, only a header, a Jepsen log with no op line, an EDN
//! `[]`) is an error, not a vacuous "valid": `path: error: no operations found (read N lines,
//! M skipped)`. Every result says how many lines were read and how many were skipped as not
//! operations. A last line cut off by a crash (see `histories`, "Torn tails") is left out with
//! a warning on stderr naming its line; the complete operations before it are checked.
//!
//! `--time-limit` counts from the moment each file starts being read, so it covers parsing.

use crate::cmd::args::{CheckArgs, Engine};
use crate::cmd::output::{self, Progress};
use anyhow::{bail, Context, Result};
use checker::{Report, Verdict};
use faultline::exit::ExitCode;
use faultline::maelstrom::workloads;
use histories::{Format, Loaded, Stats, Value};
use rayon::prelude::*;
use serde_json::json;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest `--time-limit`: one year, in seconds.
pub const TIME_LIMIT_MAX_S: f64 = 365.0 * 24.0 * 3600.0;
/// The largest `--memory-limit`: 1 PiB, in MiB.
pub const MEMORY_LIMIT_MAX_MIB: u64 = 1 << 30;

/// What happened to one file.
enum FileResult {
    /// It was checked.
    Checked { report: Box<Report>, stats: Stats },
    /// It could not be read or parsed, or holds no operation; the message names file, line and
    /// field. `stats`: the counts, when the file was read.
    Failed { msg: String, stats: Option<Stats> },
    /// A history of Maelstrom's broadcast, g-counter or unique-ids workload (its header says
    /// so), checked by that workload's check.
    Workload {
        report: Box<workloads::WorkloadReport>,
    },
}

impl FileResult {
    fn exit(&self) -> ExitCode {
        match self {
            FileResult::Checked { report, .. } => ExitCode::of(report.verdict),
            FileResult::Failed { .. } => ExitCode::Error,
            FileResult::Workload { report } => ExitCode::of(report.valid),
        }
    }

    fn stats(&self) -> Option<&Stats> {
        match self {
            FileResult::Checked { stats, .. } => Some(stats),
            FileResult::Failed { stats, .. } => stats.as_ref(),
            FileResult::Workload { .. } => None,
        }
    }
}

/// `read N lines, M skipped`.
fn counts(stats: &Stats) -> String {
    format!(
        "read {} line{}, {} skipped",
        stats.lines,
        if stats.lines == 1 { "" } else { "s" },
        stats.skipped_lines
    )
}

/// Loads one history: the time limit starts counting now. Prints the torn-line warning and
/// turns a history without operations into an error.
fn load(
    path: &Path,
    format: Format,
    opts: &checker::Options,
) -> std::result::Result<(Loaded, checker::Options), FileResult> {
    let mut opts = opts.clone();
    opts.started = Some(Instant::now());
    let loaded = histories::load(path, format).map_err(|err| FileResult::Failed {
        msg: err.to_string(),
        stats: None,
    })?;
    if let Some(torn) = &loaded.stats.torn_last_line {
        let ops = loaded.history.ops.len();
        eprintln!(
            "{}:{}: warning: the last line is cut off ({}); the {ops} complete operation{} before \
             it {} checked",
            path.display(),
            torn.line,
            torn.reason,
            if ops == 1 { "" } else { "s" },
            if ops == 1 { "was" } else { "were" },
        );
    }
    if loaded.history.ops.is_empty() {
        return Err(FileResult::Failed {
            msg: format!("no operations found ({})", counts(&loaded.stats)),
            stats: Some(loaded.stats),
        });
    }
    Ok((loaded, opts))
}

/// Runs `faultline check`.
pub fn run(args: &CheckArgs) -> Result<ExitCode> {
    let format = args.format;
    let opts = options(args)?;
    if let Some(out) = &args.html {
        return check_to_html(args, format, &opts, out);
    }
    let what = format!("checking {} file(s)", args.files.len());
    let progress = Progress::start(what, Duration::from_secs(2), Duration::from_secs(5));
    let results: Vec<(PathBuf, FileResult)> = args
        .files
        .par_iter()
        .map(|path| (path.clone(), check_file(path, format, &opts, args.engine)))
        .collect();
    drop(progress);

    let election = if args.leader_events.is_empty() {
        None
    } else {
        Some(check_election(&args.leader_events)?)
    };

    let mut exit = results
        .iter()
        .map(|(_, r)| r.exit())
        .fold(ExitCode::Valid, ExitCode::worst);
    if let Some(report) = &election {
        exit = exit.worst(ExitCode::of(report.verdict));
    }
    if args.json {
        print_json(&results, election.as_ref())?;
    } else {
        print_text(&results, election.as_ref())?;
    }
    Ok(exit)
}

fn options(args: &CheckArgs) -> Result<checker::Options> {
    if !(args.time_limit > 0.0 && args.time_limit <= TIME_LIMIT_MAX_S) {
        bail!(
            "--time-limit: expected seconds in (0, {TIME_LIMIT_MAX_S}] (at most one year), found {}",
            args.time_limit
        );
    }
    if !(1..=MEMORY_LIMIT_MAX_MIB).contains(&args.memory_limit) {
        bail!(
            "--memory-limit: expected MiB in [1, {MEMORY_LIMIT_MAX_MIB}] (at most 1 PiB), found {}",
            args.memory_limit
        );
    }
    let initial = match &args.initial {
        None => Value::Null,
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("--initial: expected a JSON value, found {text:?}"))?;
            Value::from(&json)
        }
    };
    Ok(checker::Options {
        model: args.model.map(|m| m.name().to_string()),
        initial,
        time_limit: Some(Duration::from_secs_f64(args.time_limit)),
        memory_limit_bytes: Some(args.memory_limit << 20),
        explain: true,
        started: None,
        all_parts: args.all_keys,
    })
}

fn check_file(path: &Path, format: Format, opts: &checker::Options, engine: Engine) -> FileResult {
    if let Some(kind) = workload_of(path) {
        return check_workload(path, kind);
    }
    let (loaded, opts) = match load(path, format, opts) {
        Ok(loaded) => loaded,
        Err(failed) => return failed,
    };
    let report = match engine {
        Engine::Fast => checker::check(&loaded.history, &opts),
        Engine::Stateright => checker::check_stateright(&loaded.history, &opts),
    };
    FileResult::Checked {
        report: Box::new(report),
        stats: loaded.stats,
    }
}

/// The Maelstrom workload a faultline history's header names, when it is not `lin-kv`.
fn workload_of(path: &Path) -> Option<faultline::clients::workload::WorkloadKind> {
    use std::io::BufRead;
    let mut first = String::new();
    BufReader::new(File::open(path).ok()?)
        .read_line(&mut first)
        .ok()?;
    let header: serde_json::Value = serde_json::from_str(first.trim()).ok()?;
    header.get("faultline")?;
    workloads::header_workload(&header)
}

/// Checks a broadcast, g-counter or unique-ids history; the relays' counters beside it (a run
/// directory's `nodes/`) give the messages per op.
fn check_workload(path: &Path, kind: faultline::clients::workload::WorkloadKind) -> FileResult {
    let h = match workloads::load(path) {
        Ok(h) => h,
        Err(e) => {
            return FileResult::Failed {
                msg: format!("{e:#}"),
                stats: None,
            }
        }
    };
    if let Some(line) = h.torn_line {
        eprintln!(
            "{}:{line}: warning: the last line is cut off; the {} operation(s) before it were \
             checked",
            path.display(),
            h.ops.len()
        );
    }
    if h.ops.is_empty() {
        return FileResult::Failed {
            msg: "no operations found".into(),
            stats: None,
        };
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let messages = faultline::maelstrom::stats::totals(dir, &h.nodes).map(|t| t.to_nodes);
    FileResult::Workload {
        report: Box::new(workloads::check(&h, kind, messages)),
    }
}

fn check_election(logs: &[PathBuf]) -> Result<checker::election::ElectionReport> {
    Ok(checker::election::check(&leader_events(logs)?))
}

fn leader_events(logs: &[PathBuf]) -> Result<Vec<checker::election::LeaderEvent>> {
    let mut events = Vec::new();
    for path in logs {
        let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let source = path.display().to_string();
        let mut parsed = checker::election::parse_leader_events(BufReader::new(file), &source)?;
        events.append(&mut parsed);
    }
    Ok(events)
}

/// `faultline check FILE --html OUT`: checks one history as usual (the same text on stdout, the
/// same exit status) and writes its report page.
fn check_to_html(
    args: &CheckArgs,
    format: Format,
    opts: &checker::Options,
    out: &Path,
) -> Result<ExitCode> {
    let [path] = args.files.as_slice() else {
        bail!(
            "--html: expected one history FILE, found {}",
            args.files.len()
        );
    };
    let (loaded, opts) = match load(path, format, opts) {
        Ok(loaded) => loaded,
        Err(failed) => {
            let results = vec![(path.clone(), failed)];
            if args.json {
                print_json(&results, None)?;
            } else {
                print_text(&results, None)?;
            }
            return Ok(ExitCode::Error);
        }
    };
    let report = match args.engine {
        Engine::Fast => checker::check(&loaded.history, &opts),
        Engine::Stateright => checker::check_stateright(&loaded.history, &opts),
    };
    let leaders = leader_events(&args.leader_events)?;
    let election = (!args.leader_events.is_empty()).then(|| checker::election::check(&leaders));
    let command: Vec<String> = std::env::args().collect();
    let page = faultline::report::render(&faultline::report::ReportInput {
        history: &loaded.history,
        check: &report,
        election: election.as_ref(),
        leaders: &leaders,
        results: None,
        title: format!("faultline check {}", path.display()),
        command: faultline::report::command_line(&command),
    });
    faultline::store::write_atomic(out, page.as_bytes())
        .with_context(|| format!("{}: cannot write the report", out.display()))?;
    eprintln!("faultline: wrote {}", out.display());
    let results = vec![(
        path.clone(),
        FileResult::Checked {
            report: Box::new(report),
            stats: loaded.stats,
        },
    )];
    let mut exit = results[0].1.exit();
    if let Some(e) = &election {
        exit = exit.worst(ExitCode::of(e.verdict));
    }
    if args.json {
        print_json(&results, election.as_ref())?;
    } else {
        print_text(&results, election.as_ref())?;
    }
    Ok(exit)
}

fn print_text(
    results: &[(PathBuf, FileResult)],
    election: Option<&checker::election::ElectionReport>,
) -> Result<()> {
    let mut text = String::new();
    let single = results.len() == 1;
    let (mut valid, mut invalid, mut unknown, mut failed) = (0, 0, 0, 0);
    for (path, result) in results {
        match result {
            FileResult::Failed { msg, .. } => {
                failed += 1;
                text.push_str(&format!("{}: error: {msg}\n", path.display()));
            }
            FileResult::Workload { report } => {
                match report.valid {
                    Verdict::Valid => valid += 1,
                    Verdict::Invalid => invalid += 1,
                    Verdict::Unknown => unknown += 1,
                }
                text.push_str(&format!("{}: {}", path.display(), report.text()));
            }
            FileResult::Checked { report, stats } => {
                match report.verdict {
                    Verdict::Valid => valid += 1,
                    Verdict::Invalid => invalid += 1,
                    Verdict::Unknown => unknown += 1,
                }
                let summary = report.summary_line();
                let with_counts = format!("{summary}; {}", counts(stats));
                if single || report.verdict != Verdict::Valid {
                    let full = report.render_text().replacen(&summary, &with_counts, 1);
                    text.push_str(&format!("{}:\n{full}", path.display()));
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                } else {
                    text.push_str(&format!("{}: {with_counts}\n", path.display()));
                }
            }
        }
    }
    if let Some(report) = election {
        text.push_str(&report.render_text());
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if !single {
        text.push_str(&format!(
            "{} files: {valid} valid, {invalid} invalid, {unknown} unknown, {failed} unreadable\n",
            results.len()
        ));
    }
    output::print(&text)?;
    Ok(())
}

/// What reading a file counted, for `--json`.
fn stats_json(stats: &Stats) -> serde_json::Value {
    json!({
        "lines": stats.lines,
        "events": stats.events,
        "skipped_lines": stats.skipped_lines,
        "open_at_end": stats.open_at_end,
        "torn_last_line": stats.torn_last_line.as_ref().map(|t| json!({
            "line": t.line,
            "reason": t.reason,
        })),
    })
}

fn print_json(
    results: &[(PathBuf, FileResult)],
    election: Option<&checker::election::ElectionReport>,
) -> Result<()> {
    let files: Vec<serde_json::Value> = results
        .iter()
        .map(|(path, result)| {
            let mut file = match result {
                FileResult::Checked { report, .. } => json!({
                    "file": path.display().to_string(),
                    "result": report,
                }),
                FileResult::Failed { msg, .. } => json!({
                    "file": path.display().to_string(),
                    "valid": "unknown",
                    "error": msg,
                }),
                FileResult::Workload { report } => json!({
                    "file": path.display().to_string(),
                    "result": report,
                }),
            };
            if let Some(stats) = result.stats() {
                file["read"] = stats_json(stats);
            }
            file
        })
        .collect();
    let mut doc = if files.len() == 1 && election.is_none() {
        files.into_iter().next().unwrap_or_default()
    } else {
        json!({ "files": files })
    };
    if let Some(report) = election {
        doc["election"] = serde_json::to_value(report)?;
    }
    output::print(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    Ok(())
}
