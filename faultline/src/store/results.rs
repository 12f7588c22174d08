//! `results.json`, typed: what a run found, written once at its end and read back by
//! `faultline report` and `faultline serve` (docs/design.md, "Store").
//!
//! Every field is optional when read, and a field of an unexpected type reads as missing
//! (a results.json from another version, or edited by hand, still shows what it can); a run
//! writes every field. The checkers' own reports are kept as the checker wrote them: the
//! fields faultline reads are typed, the rest is carried along unchanged.
//!
//! The file is written through [`serde_json::Value`], whose objects keep their keys sorted, so
//! the bytes do not depend on the order of the fields below.

use crate::cluster::crash::NodeCrash;
use crate::stats::Figures;
use checker::Verdict;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The version written in `faultline`.
pub const VERSION: u64 = 1;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Results {
    /// The file's version ([`VERSION`]).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub faultline: Option<u64>,
    /// The overall verdict: `true`, `false` or `"unknown"`.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub valid: Option<Verdict>,
    /// What ran.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// The checks and their reports.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
    /// Op counts, latency, throughput and liveness.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
}

/// `run`: what ran, to repeat it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// The run id (the names of its namespaces carry it).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The system spec's name.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The nemesis (or scenario) name.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<String>,
    /// The seed.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The node ids.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    /// The command line, shell-quoted.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Extra arguments of every node.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub node_args: Option<Vec<String>>,
    /// When it started (RFC 3339); not written by runs (the history's header has it).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// Seconds from the history's creation to the end of the final reads.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Keys read by the final reads.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub final_reads: Option<u64>,
    /// Keys of the workload.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
}

/// `checks`: one entry per check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Checks {
    /// Linearizability per key: the checker's report.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<CheckerReport>,
    /// Election safety: the checker's report, or `valid: "unknown"` with the reason.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub election_safety: Option<CheckerReport>,
    /// Node processes that ended by themselves.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub crashes: Option<Crashes>,
    /// The check of a Maelstrom workload other than lin-kv (broadcast, g-counter,
    /// unique-ids): verdict, op counts, problems, figures.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub workload: Option<CheckerReport>,
}

/// A checker's report as the checker serialized it, with the fields faultline reads typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckerReport {
    /// The check's verdict.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub valid: Option<Verdict>,
    /// Why the check did not run (election safety of a system without leader events).
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The op counts of a linearizability report.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub ops: Option<OpTotals>,
    /// Everything else the checker wrote, unchanged.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// The op counts of a linearizability report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpTotals {
    /// Every op of the history.
    #[serde(deserialize_with = "lenient", skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The other counts, unchanged.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `checks.crashes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Crashes {
    /// No node ended by itself.
    pub valid: bool,
    /// The nodes that did.
    pub crashes: Vec<NodeCrash>,
}

impl CheckerReport {
    /// A report as `report` serializes (a checker's report type).
    pub fn of(report: &impl Serialize) -> serde_json::Result<CheckerReport> {
        serde_json::from_value(serde_json::to_value(report)?)
    }

    /// A check that did not run, and why.
    pub fn not_checked(reason: &str) -> CheckerReport {
        CheckerReport {
            valid: Some(Verdict::Unknown),
            reason: Some(reason.to_string()),
            ..CheckerReport::default()
        }
    }
}

impl RunInfo {
    /// The field the report shows under `name` (the history header's key of the same
    /// meaning), as JSON; None when missing or not a field of `run`.
    pub fn field(&self, name: &str) -> Option<Value> {
        let json = |v: &Option<_>| v.as_ref().map(|x: &String| Value::from(x.as_str()));
        match name {
            "id" => json(&self.id),
            "system" => json(&self.system),
            "nemesis" => json(&self.nemesis),
            "command" => json(&self.command),
            "started" => json(&self.started),
            "seed" => self.seed.map(Value::from),
            "nodes" => self.nodes.clone().map(Value::from),
            "node_args" => self.node_args.clone().map(Value::from),
            "duration_s" => self.duration_s.map(Value::from),
            "final_reads" => self.final_reads.map(Value::from),
            "keys" => self.keys.map(Value::from),
            _ => None,
        }
    }
}

impl Results {
    /// The file as JSON (keys sorted).
    pub fn to_json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> serde_json::Result<Results> {
        serde_json::from_str(text)
    }

    /// The number of client ops: the figures', else the linearizability report's.
    pub fn ops_total(&self) -> Option<u64> {
        let from_figures = self.figures.as_ref().map(|f| f.ops.total as u64);
        from_figures.or_else(|| {
            let lin = self.checks.as_ref()?.linearizability.as_ref()?;
            lin.ops.as_ref()?.total
        })
    }

    /// Why election safety was not checked, if it was not.
    pub fn election_note(&self) -> Option<&str> {
        let election = self.checks.as_ref()?.election_safety.as_ref()?;
        election.reason.as_deref()
    }
}

/// A field that reads as missing when it has an unexpected type.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape a run writes (a real results.json, figures shortened to what the file has).
    const WRITTEN: &str = r#"{
      "checks": {
        "crashes": {"crashes": [{"how": "exit status 101", "log_line": null, "node": "n2",
                                 "pid": 42}], "valid": false},
        "election_safety": {"valid": "unknown", "reason": "the system announces no leader events"},
        "linearizability": {"valid": true, "model": "kv", "ops": {"total": 120, "ok": 100},
                            "keys": [], "elapsed_ms": 3.5}
      },
      "faultline": 1,
      "figures": {
        "latency": {"max_ms": 9.0, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 4.5},
        "liveness": {"heal_to_first_ok_ms": [12.5, null], "max_heal_to_first_ok_ms": null,
                     "ok_while_faulty": 3, "ok_while_healthy": 97},
        "ops": {"fail": 5, "info": 15, "ok": 100, "total": 120},
        "ops_by_f": {"read": {"fail": 0, "info": 1, "ok": 50, "total": 51}},
        "throughput_ok_per_s": 19.5
      },
      "run": {"command": "faultline test --seed=7", "duration_s": 5.125, "final_reads": 2,
              "id": "ab12cd", "keys": 2, "nemesis": "partition", "node_args": ["--bug", "x"],
              "nodes": ["n1", "n2", "n3"], "seed": 7, "system": "raft-register"},
      "valid": false
    }"#;

    #[test]
    fn parses_the_shape_a_run_writes() {
        let r = Results::parse(WRITTEN).unwrap();
        assert_eq!(r.faultline, Some(1));
        assert_eq!(r.valid, Some(Verdict::Invalid));
        let run = r.run.as_ref().unwrap();
        assert_eq!(run.system.as_deref(), Some("raft-register"));
        assert_eq!(run.seed, Some(7));
        assert_eq!(run.duration_s, Some(5.125));
        assert_eq!(run.nodes.as_ref().unwrap().len(), 3);
        let checks = r.checks.as_ref().unwrap();
        assert_eq!(checks.crashes.as_ref().unwrap().crashes[0].pid, 42);
        assert_eq!(
            r.election_note(),
            Some("the system announces no leader events")
        );
        assert_eq!(r.ops_total(), Some(120));
        assert_eq!(r.figures.as_ref().unwrap().liveness.ok_while_faulty, 3);
    }

    #[test]
    fn a_round_trip_keeps_every_key_and_value() {
        let original: Value = serde_json::from_str(WRITTEN).unwrap();
        let r = Results::parse(WRITTEN).unwrap();
        assert_eq!(r.to_json().unwrap(), original);
        let again = Results::parse(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn missing_and_mistyped_fields_read_as_missing() {
        let r =
            Results::parse(r#"{"valid": true, "run": {"seed": "seven", "system": "s"}}"#).unwrap();
        assert_eq!(r.valid, Some(Verdict::Valid));
        let run = r.run.unwrap();
        assert_eq!((run.seed, run.system.as_deref()), (None, Some("s")));
        assert_eq!(r.figures, None);
        assert_eq!(Results::parse("{}").unwrap(), Results::default());
    }

    #[test]
    fn checker_reports_are_kept_as_the_checker_wrote_them() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../histories/testdata/jsonl-kv-invalid.jsonl");
        let history = histories::load(&path, histories::Format::Auto)
            .unwrap()
            .history;
        let report = checker::check(&history, &checker::Options::default());
        assert!(report.counterexample.is_some());
        let kept = CheckerReport::of(&report).unwrap();
        assert_eq!(kept.valid, Some(Verdict::Invalid));
        assert_eq!(
            kept.ops.as_ref().unwrap().total,
            Some(report.ops.total as u64)
        );
        let as_written = serde_json::to_value(&report).unwrap();
        assert_eq!(serde_json::to_value(&kept).unwrap(), as_written);
        let election = checker::election::check(&[]);
        let kept = CheckerReport::of(&election).unwrap();
        assert_eq!(
            serde_json::to_value(&kept).unwrap(),
            serde_json::to_value(&election).unwrap()
        );
    }

    #[test]
    fn the_ops_fall_back_to_the_linearizability_report() {
        let r =
            Results::parse(r#"{"checks": {"linearizability": {"ops": {"total": 9}}}}"#).unwrap();
        assert_eq!(r.ops_total(), Some(9));
    }
}
