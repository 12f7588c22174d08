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

pub mod election;
pub mod explain;
pub mod gk;
mod keysim;
pub mod model;
pub mod models;
pub mod oracle;
pub mod shapes;
mod report;
pub mod synth;
pub mod wgl;

pub use model::{ModelKind, MODEL_NAMES};
pub use report::{KeyResult, Report, Verdict};

use histories::{History, Op, Outcome, Value};
use model::Model;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wgl::{Budget, SearchResult};

/// How to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The model's name; `None` chooses from the operations.
    pub model: Option<String>,
    /// The initial value of every register (`Value::Null`: absent).
    pub initial: Value,
    /// Budget in time for the whole history.
    pub time_limit: Option<Duration>,
    /// Budget in memory for the search's memo, per part.
    pub memory_limit_bytes: Option<u64>,
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
            started: None,
        }
    }
}

/// Every model name.
pub fn model_names() -> &'static [&'static str] {
    MODEL_NAMES
}

/// The parts a history is checked in: per key for keyed models, else one part.
pub(crate) fn parts(history: &History, kind: ModelKind) -> Vec<(Option<String>, Vec<&Op>)> {
    let live = history.ops.iter().filter(|o| o.outcome != Outcome::Fail);
    if !kind.per_key() {
        return vec![(None, live.collect())];
    }
    let mut by_key: BTreeMap<Option<String>, Vec<&Op>> = BTreeMap::new();
    for op in live {
        by_key.entry(op.key.clone()).or_default().push(op);
    }
    let registers = matches!(
        kind,
        ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv
    );
    by_key
        .into_iter()
        .map(|(key, ops)| {
            let ops = if registers {
                drop_unobserved_infos(ops)
            } else if kind == ModelKind::AppendKv {
                drop_unobserved_appends(ops)
            } else {
                ops
            };
            (key, ops)
        })
        .collect()
}

/// The append-kv twin of [`drop_unobserved_infos`]: an `info` put or append whose string is
/// not contained in any value an ok get returned was never observed (a get after it and
/// before the next put would contain it), so it may be left out.
fn drop_unobserved_appends(ops: Vec<&Op>) -> Vec<&Op> {
    let reads: Vec<&str> = ops
        .iter()
        .filter_map(|o| match (o.f, &o.outcome) {
            (histories::F::Get | histories::F::Read, Outcome::Ok(Value::Str(s))) => {
                Some(s.as_str())
            }
            _ => None,
        })
        .collect();
    ops.into_iter()
        .filter(|o| {
            let mutates = matches!(o.f, histories::F::Put | histories::F::Append);
            if o.outcome != Outcome::Info || !mutates {
                return true;
            }
            match o.input.as_str() {
                Some("") | None => true,
                Some(s) => reads.iter().any(|r| r.contains(s)),
            }
        })
        .collect()
}

/// Drops `info` register ops that cannot matter, before the search.
///
/// An `info` op may take effect or not. An info read never constrains anything. An info write
/// (or cas) whose value no op observes (no ok read returns it, no cas expects it) can be left
/// out: in any linearization that includes it, nothing between it and the next write sees the
/// state it set, so the same order without it is also a linearization. Without this, every
/// subset of the open info ops is a distinct search state, which is what makes histories with
/// many timeouts blow up in WGL checkers (and in Porcupine and Knossos).
fn drop_unobserved_infos(ops: Vec<&Op>) -> Vec<&Op> {
    use std::collections::HashSet;
    let observed: HashSet<&Value> = ops
        .iter()
        .filter_map(|o| match (o.f, &o.outcome) {
            (histories::F::Read, Outcome::Ok(v)) => Some(v),
            (histories::F::Cas, _) => o.input.as_list().and_then(|l| l.first()),
            _ => None,
        })
        .collect();
    ops.into_iter()
        .filter(|o| {
            if o.outcome != Outcome::Info {
                return true;
            }
            let written = match o.f {
                histories::F::Write => Some(&o.input),
                histories::F::Cas => o.input.as_list().and_then(|l| l.get(1)),
                _ => None,
            };
            written.is_some_and(|w| observed.contains(w))
        })
        .collect()
}

/// Searches one part with the right model.
pub(crate) fn search_part(
    kind: ModelKind,
    initial: &Value,
    ops: &[&Op],
    budget: Budget,
) -> SearchResult {
    fn run<M: Model>(m: M, initial: &Value, ops: &[&Op], budget: Budget) -> SearchResult {
        let init = m.init(initial);
        wgl::search(&m, init, ops, budget)
    }
    match kind {
        ModelKind::Register => run(models::register::Register, initial, ops, budget),
        ModelKind::CasRegister => run(models::cas_register::CasRegister, initial, ops, budget),
        ModelKind::Kv => run(models::kv::Kv, initial, ops, budget),
        ModelKind::AppendKv => run(models::append_kv::AppendKv, initial, ops, budget),
        ModelKind::MultiRegister => {
            run(models::multi_register::MultiRegister, initial, ops, budget)
        }
        ModelKind::Mutex => run(models::mutex::Mutex, initial, ops, budget),
    }
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

/// Checks a history for linearizability.
pub fn check(history: &History, opts: &Options) -> Report {
    let started = opts.started.unwrap_or_else(Instant::now);
    let kind = match resolve_model(history, opts) {
        Ok(k) => k,
        Err(e) => return Report::unchecked(history, "none", e),
    };
    let budget = Budget {
        deadline: opts.time_limit.map(|d| started + d),
        memory_bytes: opts.memory_limit_bytes,
    };
    let parts = parts(history, kind);
    let mut keys: Vec<KeyResult> = parts
        .par_iter()
        .map(|(key, ops)| {
            let t = Instant::now();
            let registers = matches!(
                kind,
                ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv
            );
            let fast = if registers {
                gk::decide(&opts.initial, ops)
            } else {
                None
            };
            let (result, algorithm) = match fast {
                Some(true) => (SearchResult::Valid, "gibbons-korach"),
                // Confirm with the search, which also finds where it breaks.
                Some(false) => (
                    search_part(kind, &opts.initial, ops, budget),
                    "gibbons-korach+wgl",
                ),
                None => (search_part(kind, &opts.initial, ops, budget), "wgl"),
            };
            let mut r = KeyResult::new(key.clone(), ops, result, t.elapsed());
            r.algorithm = algorithm.to_string();
            r
        })
        .collect();
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    let mut report = Report::from_keys(history, kind, keys, started.elapsed());
    // Only the parts found invalid are explained (parts and keys are both sorted by key).
    let invalid_parts: Vec<(Option<String>, Vec<&Op>)> = parts
        .iter()
        .zip(&report.keys)
        .filter(|(_, r)| r.valid == Verdict::Invalid)
        .map(|(p, _)| p.clone())
        .collect();
    if opts.explain && report.verdict == Verdict::Invalid {
        report.counterexample =
            explain::counterexample(history, kind, &opts.initial, &invalid_parts, budget);
    }
    report
}

/// Checks with stateright's `LinearizabilityTester` (see [`oracle`]).
pub fn check_stateright(history: &History, opts: &Options) -> Report {
    oracle::check(history, opts)
}
