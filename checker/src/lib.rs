//! faultline's checker: linearizability and election safety.
//!
//! - **Linearizability** (Herlihy & Wing 1990) by the Wing & Gong search with Lowe's
//!   memoisation ([`wgl`]), split per key first: by P-compositionality (Horn & Kroening 2015) a
//!   history of independent registers is linearizable iff each key's sub-history is, so keys
//!   are checked independently and in parallel (rayon).
//! - **Models** ([`model`], [`models`]): register, cas-register, kv, append-kv, multi-register,
//!   mutex; Jepsen's semantics (`fail` did not happen; `info` may happen any time after its
//!   call, or never).
//! - **Explanations** ([`explain`]): the op that cannot be placed, the states possible before
//!   it, the longest linearizable prefix, a shrunk failing sub-history.
//! - **Election safety** ([`election`]): at most one leader per term.
//! - **stateright** ([`oracle`]): its `LinearizabilityTester` as a second opinion.
//!
//! A malformed history is a different result from a non-linearizable one: the former is an
//! error of the `histories` crate, the latter [`Verdict::Invalid`].
#![deny(missing_docs)]

mod anomaly;
pub mod election;
pub mod explain;
pub mod gk;
mod keyname;
mod keysim;
pub mod model;
pub mod models;
pub mod oracle;
mod report;
pub mod shapes;
pub mod synth;
pub mod wgl;

pub use model::{ModelKind, MODEL_NAMES};
pub use report::{KeyResult, Report, Verdict};

use histories::{History, Op, Outcome, Value};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wgl::{Budget, SearchResult, Stuck};

/// How to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The model's name; `None` chooses from the operations.
    pub model: Option<String>,
    /// The initial value of every register (`Value::Null`: absent).
    pub initial: Value,
    /// Budget in time for the whole history.
    pub time_limit: Option<Duration>,
    /// Budget in memory for the whole history: what the searches of all parts running at once
    /// hold (memo tables, the states they own, their stacks).
    pub memory_limit_bytes: Option<u64>,
    /// Search every part even after one was found invalid (by default the others stop, and
    /// the report lists them as not searched).
    pub all_parts: bool,
    /// Shrink and explain violations.
    pub explain: bool,
    /// When the time limit started counting (the caller sets it before parsing, so that
    /// `time_limit` covers reading the file too); `None`: when [`check`] is called.
    pub started: Option<Instant>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            model: None,
            initial: Value::Null,
            time_limit: Some(Duration::from_secs(60)),
            memory_limit_bytes: Some(4 << 30),
            explain: true,
            all_parts: false,
            started: None,
        }
    }
}

/// Every model name.
pub fn model_names() -> &'static [&'static str] {
    MODEL_NAMES
}

/// One independently checked part of a history: its key (None: the whole history) and its
/// ops, without `fail` ops and after the model's pruning.
pub(crate) type Part<'a> = (Option<String>, Vec<&'a Op>);

/// The parts a history is checked in: per key for keyed models (P-compositionality), else one
/// part; `fail` ops dropped (they did not happen), then each part pruned by its model (in
/// parallel, until `deadline`).
pub(crate) fn parts(
    history: &History,
    kind: ModelKind,
    deadline: Option<Instant>,
) -> Vec<Part<'_>> {
    let model = kind.model();
    let live = history.ops.iter().filter(|o| o.outcome != Outcome::Fail);
    let raw: Vec<Part<'_>> = if model.per_key() {
        // Grouped by the borrowed key: one copy of a key per part, not one per op.
        let mut by_key: BTreeMap<Option<&str>, Vec<&Op>> = BTreeMap::new();
        for op in live {
            by_key.entry(op.key.as_deref()).or_default().push(op);
        }
        by_key
            .into_iter()
            .map(|(key, ops)| (key.map(str::to_string), ops))
            .collect()
    } else {
        vec![(None, live.collect())]
    };
    raw.into_par_iter()
        .map(|(key, ops)| (key, model.prune(ops, deadline)))
        .collect()
}

/// Searches one part with the right model.
pub(crate) fn search_part(
    kind: ModelKind,
    initial: &Value,
    ops: &[&Op],
    budget: &Budget,
) -> SearchResult {
    kind.model().search(initial, ops, budget)
}

/// Resolves the model: the named one or the one the operations call for.
pub fn resolve_model(history: &History, opts: &Options) -> Result<ModelKind, String> {
    match &opts.model {
        None => Ok(model::auto(&history.ops)),
        Some(name) => model::by_name(name).ok_or_else(|| {
            format!(
                "unknown model {name:?}; expected one of {}",
                MODEL_NAMES.join(", ")
            )
        }),
    }
}

/// Why a history with no operations gets no verdict.
pub const NO_OPERATIONS: &str = "no operations found";

/// Decides one part: the model's polynomial procedure where it applies (a `false` is confirmed
/// by the search, which also finds where it breaks), else the search.
fn check_part(
    kind: ModelKind,
    initial: &Value,
    ops: &[&Op],
    budget: &Budget,
) -> (SearchResult, &'static str) {
    if budget.stopped() {
        return (SearchResult::Unknown(wgl::STOPPED.to_string()), "none");
    }
    match kind.model().decide(initial, ops) {
        Some(true) => (SearchResult::Valid, "gibbons-korach"),
        Some(false) => (
            search_part(kind, initial, ops, budget),
            "gibbons-korach+wgl",
        ),
        None => (search_part(kind, initial, ops, budget), "wgl"),
    }
}

/// Checks a history for linearizability.
///
/// The time limit counts from `opts.started` (or now) and covers pruning, search and
/// explanation; the memory limit holds for all parts searched at once. Once a part is found
/// invalid the others stop (unless `opts.all_parts`), and the report lists them as not
/// searched. A history with no operations is not valid: its verdict is unknown, with the
/// reason [`NO_OPERATIONS`].
pub fn check(history: &History, opts: &Options) -> Report {
    let started = opts.started.unwrap_or_else(Instant::now);
    if history.ops.is_empty() {
        return Report::unchecked(history, "none", NO_OPERATIONS.to_string());
    }
    let kind = match resolve_model(history, opts) {
        Ok(k) => k,
        Err(e) => return Report::unchecked(history, "none", e),
    };
    let deadline = opts.time_limit.and_then(|d| started.checked_add(d));
    let budget = Budget::new(deadline, opts.memory_limit_bytes);
    let parts = parts(history, kind, deadline);
    let mut results: Vec<(KeyResult, Option<Stuck>)> = parts
        .par_iter()
        .map(|(key, ops)| {
            let t = Instant::now();
            let (result, algorithm) = check_part(kind, &opts.initial, ops, &budget);
            let stuck = match &result {
                SearchResult::Invalid(stuck) => {
                    if !opts.all_parts {
                        budget.stop();
                    }
                    Some(stuck.clone())
                }
                _ => None,
            };
            let mut r = KeyResult::new(key.clone(), ops, result, t.elapsed());
            r.algorithm = algorithm.to_string();
            (r, stuck)
        })
        .collect();
    results.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    let mut stucks = Vec::new();
    let mut keys = Vec::with_capacity(results.len());
    for (k, s) in results {
        stucks.push(s);
        keys.push(k);
    }
    let mut report = Report::from_keys(history, kind, keys, started.elapsed());
    report.memory_peak_bytes = budget.pool.peak.load(std::sync::atomic::Ordering::Relaxed);
    if opts.explain && report.verdict == Verdict::Invalid {
        // Parts and keys are both sorted by key; explain the first invalid part, under a budget
        // of its own (the search's was told to stop), with the same deadline.
        let explain_budget = Budget::new(deadline, opts.memory_limit_bytes);
        let first = parts
            .iter()
            .zip(stucks)
            .find_map(|(p, s)| s.map(|s| (p, s)));
        if let Some(((key, ops), stuck)) = first {
            report.counterexample = explain::counterexample(
                history,
                kind,
                &opts.initial,
                key,
                ops,
                stuck,
                &explain_budget,
            );
        }
    }
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    report
}

/// Checks with stateright's `LinearizabilityTester` (see [`oracle`]).
pub fn check_stateright(history: &History, opts: &Options) -> Report {
    oracle::check(history, opts)
}
