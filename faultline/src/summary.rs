//! The few lines `faultline test` prints at the end of a run (its `--json` prints
//! `results.json` instead).

use crate::cluster::crash::NodeCrash;
use crate::run::TestConfig;
use crate::stats;
use crate::store::RunDir;
use checker::election::ElectionReport;
use checker::Verdict;

/// What the summary is made of.
pub struct Parts<'a> {
    /// The run's configuration.
    pub cfg: &'a TestConfig,
    /// Its directory.
    pub run_dir: &'a RunDir,
    /// The linearizability report.
    pub check: &'a checker::Report,
    /// The election-safety report (None: the system announces no leaders).
    pub election: Option<&'a ElectionReport>,
    /// The figures.
    pub figures: &'a stats::Figures,
    /// Nodes that ended by themselves.
    pub crashes: &'a [NodeCrash],
    /// The overall verdict.
    pub verdict: Verdict,
    /// The history (its nemesis events name the kills).
    pub history: &'a histories::History,
}

/// The summary's text: ops and latency, liveness, each check (the explanation of a
/// violation indented below it), the verdict with what repeats the run, and where its files
/// are.
pub fn text(p: &Parts) -> String {
    let Parts {
        cfg,
        run_dir,
        check,
        election,
        figures,
        crashes,
        verdict,
        history,
    } = *p;
    let seed = cfg.workload.seed;
    let mut s = String::new();
    let o = &figures.ops;
    s.push_str(&format!(
        "ops: {} ({} ok, {} fail, {} info); {:.0} ok/s; latency p50 {:.1} ms, p99 {:.1} ms\n",
        o.total,
        o.ok,
        o.fail,
        o.info,
        figures.throughput_ok_per_s,
        figures.latency.p50_ms,
        figures.latency.p99_ms
    ));
    let l = &figures.liveness;
    s.push_str(&format!(
        "liveness: {} ok while healthy, {} ok while faulty; slowest recovery after a heal: {}\n",
        l.ok_while_healthy,
        l.ok_while_faulty,
        match l.max_heal_to_first_ok_ms {
            Some(ms) => format!("{ms:.0} ms"),
            None => "n/a".into(),
        }
    ));
    s.push_str(&format!("linearizability: {}\n", check.summary_line()));
    if check.verdict == Verdict::Invalid {
        for line in check.render_text().lines().skip(1) {
            s.push_str(&format!("  {line}\n"));
        }
    }
    election_lines(&mut s, election);
    crash_lines(&mut s, crashes);
    let counts_after = |after: u64| {
        let mut counts = crate::stats::Counts::default();
        for op in history
            .ops
            .iter()
            .filter(|o| o.call_time.is_some_and(|t| t >= after))
        {
            counts.total += 1;
            match op.outcome {
                histories::Outcome::Ok(_) => counts.ok += 1,
                histories::Outcome::Fail => counts.fail += 1,
                histories::Outcome::Info => counts.info += 1,
            }
        }
        counts
    };
    kill_lines(&mut s, &history.nemesis, counts_after, verdict);
    s.push_str(&format!(
        "verdict: {} (seed {seed}, system {}, nemesis {})\n",
        verdict_word(verdict),
        cfg.spec.name,
        cfg.plan.name()
    ));
    s.push_str(&format!("store: {}\n", run_dir.dir.display()));
    s.push_str(&format!("report: {}\n", run_dir.report().display()));
    s
}

/// What the summary of a broadcast, g-counter or unique-ids run is made of.
pub struct WorkloadParts<'a> {
    /// The run's configuration.
    pub cfg: &'a TestConfig,
    /// Its directory.
    pub run_dir: &'a RunDir,
    /// The workload's check.
    pub report: &'a crate::maelstrom::workloads::WorkloadReport,
    /// The history.
    pub history: &'a crate::maelstrom::workloads::WHistory,
    /// The election-safety report (None: the system announces no leaders).
    pub election: Option<&'a ElectionReport>,
    /// Nodes that ended by themselves.
    pub crashes: &'a [NodeCrash],
    /// The overall verdict.
    pub verdict: Verdict,
}

/// The summary of a broadcast, g-counter or unique-ids run: the workload's check (its
/// figures and problems indented below it), election safety, crashes, kills, the verdict.
pub fn workload_text(p: &WorkloadParts) -> String {
    let mut s = p.report.text();
    election_lines(&mut s, p.election);
    crash_lines(&mut s, p.crashes);
    let counts_after = |after: u64| {
        let mut counts = crate::stats::Counts::default();
        for op in p.history.ops.iter().filter(|o| o.call >= after) {
            counts.total += 1;
            match op.outcome {
                histories::EventType::Ok => counts.ok += 1,
                histories::EventType::Fail => counts.fail += 1,
                _ => counts.info += 1,
            }
        }
        counts
    };
    kill_lines(&mut s, &p.history.nemesis, counts_after, p.verdict);
    s.push_str(&format!(
        "verdict: {} (seed {}, system {}, nemesis {}, workload {})\n",
        verdict_word(p.verdict),
        p.cfg.workload.seed,
        p.cfg.spec.name,
        p.cfg.plan.name(),
        p.cfg.workload.kind.name()
    ));
    s.push_str(&format!("store: {}\n", p.run_dir.dir.display()));
    s.push_str(&format!("report: {}\n", p.run_dir.report().display()));
    s
}

/// The election-safety line, the violations indented below it.
fn election_lines(s: &mut String, election: Option<&ElectionReport>) {
    match election {
        Some(e) => {
            let text = e.render_text();
            let first = text.lines().next().unwrap_or("");
            let first = first.strip_prefix("election safety: ").unwrap_or(first);
            s.push_str(&format!("election safety: {first}\n"));
            if e.verdict == Verdict::Invalid {
                for line in text.lines().skip(1) {
                    s.push_str(&format!("  {line}\n"));
                }
            }
        }
        None => s.push_str("election safety: not checked (the system announces no leaders)\n"),
    }
}

/// The crashes line, each crash indented below it.
fn crash_lines(s: &mut String, crashes: &[NodeCrash]) {
    if crashes.is_empty() {
        s.push_str("crashes: none (no node process ended by itself)\n");
    } else {
        s.push_str(&format!(
            "crashes: {} node process(es) ended by themselves\n",
            crashes.len()
        ));
        for c in crashes {
            s.push_str(&format!("  {}\n", c.describe()));
        }
    }
}

/// The kills line, when the nemesis killed nodes: which, when, and what the ops invoked after
/// the first kill became. A node that keeps its state only in memory (a Maelstrom node, by
/// default) comes back empty, so an invalid verdict after a kill says so.
fn kill_lines(
    s: &mut String,
    nemesis: &[histories::NemesisEvent],
    counts_after: impl Fn(u64) -> crate::stats::Counts,
    verdict: Verdict,
) {
    let kills: Vec<&histories::NemesisEvent> =
        nemesis.iter().filter(|e| e.f == "start-kill").collect();
    let Some(first) = kills.first() else {
        return;
    };
    let nodes_of = |e: &histories::NemesisEvent| -> String {
        e.value
            .get("nodes")
            .and_then(|n| n.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let at = |e: &histories::NemesisEvent| format!("{:.3} s", e.time.unwrap_or(0) as f64 / 1e9);
    let each: Vec<String> = kills
        .iter()
        .map(|k| {
            let restart = nemesis
                .iter()
                .find(|e| e.f == "stop-kill" && e.line > k.line);
            match restart {
                Some(r) => format!("{} at {}, restarted at {}", nodes_of(k), at(k), at(r)),
                None => format!("{} at {}, never restarted", nodes_of(k), at(k)),
            }
        })
        .collect();
    let after = first.time.unwrap_or(0);
    let counts = counts_after(after);
    s.push_str(&format!(
        "kills: {} ({}); ops invoked after the first: {} ({} ok, {} fail, {} info)\n",
        kills.len(),
        each.join("; "),
        counts.total,
        counts.ok,
        counts.fail,
        counts.info
    ));
    if verdict == Verdict::Invalid {
        s.push_str(
            "  the violation may come from a kill: a node that keeps its state only in memory \
             comes back empty, and what it had acknowledged is lost\n",
        );
    }
}

/// `valid`, `INVALID` or `unknown`.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "unknown",
    }
}
