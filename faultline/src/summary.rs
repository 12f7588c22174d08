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
        s.push_str("crashes: none (every node that ended was killed by the nemesis)\n");
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

/// `valid`, `INVALID` or `unknown`.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "unknown",
    }
}
