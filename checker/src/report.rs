//! Results: per key and for the whole history, as JSON (serde) and as text for a terminal.

use crate::explain::Counterexample;
use crate::keyname::key_name;
use crate::model::ModelKind;
use crate::wgl::{self, SearchResult};
use histories::{History, Op, Outcome};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A check's verdict. Serialised as `valid` of `results.json` (docs/design.md, "Store"):
/// `true`, `false` or `"unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Linearizable.
    Valid,
    /// Not linearizable.
    Invalid,
    /// Not decided (budget spent, or not checkable).
    Unknown,
}

impl Verdict {
    /// `valid`, `invalid` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }

    /// The worse of two verdicts: invalid > unknown > valid.
    pub fn worst(self, other: Verdict) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::Valid => 0,
            Verdict::Unknown => 1,
            Verdict::Invalid => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Verdict::Valid => s.serialize_bool(true),
            Verdict::Invalid => s.serialize_bool(false),
            Verdict::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Verdict::Valid),
            serde_json::Value::Bool(false) => Ok(Verdict::Invalid),
            _ => Ok(Verdict::Unknown),
        }
    }
}

/// The result for one independently checked part (a key, or the whole history).
#[derive(Debug, Clone, Serialize)]
pub struct KeyResult {
    /// The key (`None` for unkeyed models).
    pub key: Option<String>,
    /// Ops checked (fail ops excluded).
    pub ops: usize,
    /// Most ops open at once.
    pub concurrency: usize,
    /// The algorithm that decided it.
    pub algorithm: String,
    /// Verdict.
    pub valid: Verdict,
    /// Why it is unknown, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds spent.
    pub elapsed_ms: f64,
}

impl KeyResult {
    pub(crate) fn new(
        key: Option<String>,
        ops: &[&Op],
        r: SearchResult,
        elapsed: Duration,
    ) -> KeyResult {
        let (valid, reason) = match r {
            SearchResult::Valid => (Verdict::Valid, None),
            SearchResult::Invalid(_) => (Verdict::Invalid, None),
            SearchResult::Unknown(why) => (Verdict::Unknown, Some(why)),
        };
        KeyResult {
            key,
            ops: ops.len(),
            concurrency: wgl::max_concurrency(ops),
            algorithm: "wgl".to_string(),
            valid,
            reason,
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
        }
    }
}

/// Counts of ops by outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpCounts {
    /// All ops.
    pub total: usize,
    /// Ok.
    pub ok: usize,
    /// Fail.
    pub fail: usize,
    /// Info.
    pub info: usize,
}

/// The result of checking a history.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `valid` of `results.json` (docs/design.md, "Store"): true, false or "unknown".
    pub valid: Verdict,
    /// The same as a word.
    pub verdict_text: String,
    /// The verdict (not serialised twice).
    #[serde(skip)]
    pub verdict: Verdict,
    /// The history's source.
    pub source: String,
    /// The model.
    pub model: String,
    /// Op counts.
    pub ops: OpCounts,
    /// Parts checked independently.
    pub parts: usize,
    /// Per part, sorted by key.
    pub keys: Vec<KeyResult>,
    /// Why parts are unknown.
    pub unknown_reasons: Vec<String>,
    /// Parts left unsearched, or searched only in part, because another part had already
    /// shown the history invalid (`Options::all_parts` searches them all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_searched: Vec<String>,
    /// Most bytes the searches held at once (memo tables, states, stacks).
    pub memory_peak_bytes: u64,
    /// For an invalid history: the explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// Milliseconds spent.
    pub elapsed_ms: f64,
}

fn counts(history: &History) -> OpCounts {
    let mut c = OpCounts::default();
    for op in &history.ops {
        c.total += 1;
        match op.outcome {
            Outcome::Ok(_) => c.ok += 1,
            Outcome::Fail => c.fail += 1,
            Outcome::Info => c.info += 1,
        }
    }
    c
}

impl Report {
    /// Lowers a valid verdict to unknown, for `reason`: a caller that knows the history held
    /// nothing worth checking (no op was acknowledged, say) says so instead of "valid". An
    /// invalid verdict stays invalid.
    pub fn downgrade_to_unknown(&mut self, reason: String) {
        if self.verdict == Verdict::Valid {
            self.verdict = Verdict::Unknown;
            self.valid = Verdict::Unknown;
            self.verdict_text = Verdict::Unknown.as_str().to_string();
        }
        self.unknown_reasons.push(reason);
    }

    pub(crate) fn unchecked(history: &History, model: &str, reason: String) -> Report {
        Report {
            valid: Verdict::Unknown,
            verdict_text: "unknown".into(),
            verdict: Verdict::Unknown,
            source: history.source.clone(),
            model: model.to_string(),
            ops: counts(history),
            parts: 0,
            keys: Vec::new(),
            unknown_reasons: vec![reason],
            not_searched: Vec::new(),
            memory_peak_bytes: 0,
            counterexample: None,
            elapsed_ms: 0.0,
        }
    }

    pub(crate) fn from_keys(
        history: &History,
        kind: ModelKind,
        keys: Vec<KeyResult>,
        elapsed: Duration,
    ) -> Report {
        let verdict = keys.iter().fold(Verdict::Valid, |v, k| v.worst(k.valid));
        let stopped = |k: &&KeyResult| k.reason.as_deref() == Some(wgl::STOPPED);
        let not_searched = keys
            .iter()
            .filter(stopped)
            .map(|k| key_name(&k.key))
            .collect();
        let unknown_reasons = keys
            .iter()
            .filter(|k| !stopped(k))
            .filter_map(|k| {
                k.reason.as_ref().map(|r| {
                    format!(
                        "{}: {r}; undecided part: {} ops, concurrency {}",
                        key_name(&k.key),
                        k.ops,
                        k.concurrency
                    )
                })
            })
            .collect();
        Report {
            valid: verdict,
            verdict_text: verdict.as_str().into(),
            verdict,
            source: history.source.clone(),
            model: kind.name().to_string(),
            ops: counts(history),
            parts: keys.len(),
            keys,
            unknown_reasons,
            not_searched,
            memory_peak_bytes: 0,
            counterexample: None,
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
        }
    }

    /// The algorithms that decided the parts (`wgl`, ...), without repeats.
    pub fn algorithms_used(&self) -> Vec<String> {
        let mut a: Vec<String> = self.keys.iter().map(|k| k.algorithm.clone()).collect();
        a.sort();
        a.dedup();
        a
    }

    /// One line: verdict, model, ops, keys, time.
    pub fn summary_line(&self) -> String {
        format!(
            "{} ({}, {} ops: {} ok, {} fail, {} info; {} part(s); {:.1} ms)",
            self.verdict.as_str(),
            self.model,
            self.ops.total,
            self.ops.ok,
            self.ops.fail,
            self.ops.info,
            self.parts,
            self.elapsed_ms
        )
    }

    /// The full result for a terminal.
    pub fn render_text(&self) -> String {
        let mut out = format!("{}\n", self.summary_line());
        for r in &self.unknown_reasons {
            out.push_str(&format!("  unknown: {r}\n"));
        }
        if !self.not_searched.is_empty() {
            out.push_str(&format!(
                "  not searched to the end, the answer being already known: {}\n",
                self.not_searched.join(", ")
            ));
        }
        if let Some(c) = &self.counterexample {
            out.push_str(&c.text);
        } else if self.verdict == Verdict::Invalid {
            for k in self.keys.iter().filter(|k| k.valid == Verdict::Invalid) {
                out.push_str(&format!("  {} is not linearizable\n", key_name(&k.key)));
            }
        }
        out
    }
}
