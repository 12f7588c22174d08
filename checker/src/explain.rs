//! Explanations of a violation, in the spirit of Knossos' analysis: which op cannot be
//! linearized, what the model could have been just before it, the longest linearizable prefix
//! the search found, and the smallest failing sub-history.
//!
//! **Shrinking** drops ops while the verdict stays invalid (delta debugging, chunks halving down
//! to single ops). A write whose value a remaining op observes is never dropped: without it the
//! observation would fail for a trivial reason ("read of a value never written") and hide the
//! real one. Shrinking is bounded by the same budget as the search.

use crate::model::ModelKind;
use crate::report::key_name;
use crate::wgl::{Budget, SearchResult, Stuck};
use histories::{History, Op, Outcome, Value, F};
use serde::Serialize;
use std::time::Instant;

/// Most searches one shrink may run.
const SHRINK_SEARCHES_MAX: usize = 2_000;

/// One op as shown in an explanation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpView {
    /// The op's id in the history.
    pub id: usize,
    /// Process.
    pub process: u64,
    /// Function.
    pub f: String,
    /// Input value (JSON).
    pub input: serde_json::Value,
    /// `ok` with the value, `info`.
    pub outcome: String,
    /// Value returned, for ok ops.
    pub output: serde_json::Value,
    /// Line of the invoke.
    pub call_line: u64,
    /// Line of the completion.
    pub ret_line: Option<u64>,
    /// In words.
    pub text: String,
}

fn view(op: &Op) -> OpView {
    let (outcome, output) = match &op.outcome {
        Outcome::Ok(v) => ("ok", v.to_json()),
        Outcome::Fail => ("fail", serde_json::Value::Null),
        Outcome::Info => ("info", serde_json::Value::Null),
    };
    OpView {
        id: op.id,
        process: op.process,
        f: op.f.name().to_string(),
        input: op.input.to_json(),
        outcome: outcome.to_string(),
        output,
        call_line: op.call_line,
        ret_line: op.ret_line,
        text: describe_op(op),
    }
}

/// "read of 3 at line 12 by process 1", "write 4 (info) at line 9 by process 2".
pub fn describe_op(op: &Op) -> String {
    let what = match (op.f, &op.outcome) {
        (F::Read | F::Get, Outcome::Ok(Value::Null)) => format!("{} of null (absent)", op.f),
        (F::Read | F::Get, Outcome::Ok(v)) => format!("{} of {v}", op.f),
        (F::Txn, Outcome::Ok(v)) => format!("txn {v}"),
        (F::Acquire | F::Release, _) => op.f.name().to_string(),
        _ => format!("{} {}", op.f, op.input),
    };
    let info = if op.outcome == Outcome::Info {
        " (info: may or may not have happened)"
    } else {
        ""
    };
    format!(
        "{what}{info} at line {} by process {}",
        op.call_line, op.process
    )
}

/// The explanation of one invalid part.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    /// The key (None: the whole history).
    pub key: Option<String>,
    /// The op that cannot be linearized.
    pub op: OpView,
    /// States possible just before it.
    pub possible_states: Vec<String>,
    /// The longest linearizable prefix found, in order.
    pub longest_prefix: Vec<OpView>,
    /// The smallest sub-history found that is still not linearizable.
    pub minimal: Vec<OpView>,
    /// Whether shrinking finished within its budget.
    pub minimal_complete: bool,
    /// The kind of anomaly, when a read's failure has a classic name (stale read, read of a
    /// value never written, read from the future), with the ops that prove it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
    /// The explanation as text.
    pub text: String,
}

/// Explains the first invalid part of `parts` (the caller passes the parts found invalid).
///
/// The op that cannot be placed, the states possible before it and the longest linearizable
/// prefix come from the search of the whole part (as Knossos reports them); the minimal
/// sub-history from shrinking it.
pub(crate) fn counterexample(
    history: &History,
    kind: ModelKind,
    initial: &Value,
    parts: &[(Option<String>, Vec<&Op>)],
    budget: Budget,
) -> Option<Counterexample> {
    for (key, ops) in parts {
        // Failed ops never reach the search, but a read of a value only a failed op wrote is
        // worth naming: an op reported as not done took effect.
        let failed: Vec<&Op> = history
            .ops
            .iter()
            .filter(|o| o.outcome == Outcome::Fail && (key.is_none() || o.key == *key))
            .collect();
        let SearchResult::Invalid(stuck) = crate::search_part(kind, initial, ops, budget) else {
            continue;
        };
        let (minimal, complete) = shrink(kind, initial, ops, budget);
        return Some(build(
            key.clone(),
            kind,
            initial,
            ops,
            &failed,
            stuck,
            &minimal,
            complete,
        ));
    }
    None
}

/// Prefix ops shown in the text (the JSON has them all).
const PREFIX_SHOWN: usize = 10;

#[allow(clippy::too_many_arguments)]
fn build(
    key: Option<String>,
    kind: ModelKind,
    initial: &Value,
    ops: &[&Op],
    failed: &[&Op],
    stuck: Stuck,
    minimal: &[&Op],
    complete: bool,
) -> Counterexample {
    let Some(op) = ops.get(stuck.op).or(minimal.first()) else {
        return Counterexample {
            key,
            op: OpView::default(),
            possible_states: Vec::new(),
            longest_prefix: Vec::new(),
            minimal: Vec::new(),
            minimal_complete: complete,
            anomaly: None,
            text: "  no counterexample found\n".to_string(),
        };
    };
    let prefix: Vec<OpView> = stuck
        .prefix
        .iter()
        .filter_map(|&i| ops.get(i))
        .map(|o| view(o))
        .collect();
    let states: Vec<String> = stuck.states.into_iter().collect();
    let thing = match kind {
        ModelKind::Mutex => "the lock",
        ModelKind::MultiRegister => "the registers",
        ModelKind::AppendKv => "the value",
        _ => "the register",
    };
    let mut text = format!(
        "  {}: {} cannot be linearized: {thing} could only be {}\n",
        key_name(&key),
        describe_op(op),
        join_or(&states)
    );
    let anomaly = match kind {
        ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv => {
            name_anomaly(op, ops, initial, failed)
        }
        _ => None,
    };
    if let Some(a) = &anomaly {
        text.push_str(&format!("    {a}\n"));
    }
    if prefix.is_empty() {
        text.push_str("    (no op can be linearized before it)\n");
    } else {
        let skipped = prefix.len().saturating_sub(PREFIX_SHOWN);
        text.push_str(&format!(
            "    longest linearizable prefix ({} ops{}):\n",
            prefix.len(),
            if skipped > 0 {
                format!(", the last {PREFIX_SHOWN} shown")
            } else {
                String::new()
            }
        ));
        for p in &prefix[skipped..] {
            text.push_str(&format!("      {}\n", p.text));
        }
    }
    let minimal: Vec<OpView> = minimal.iter().map(|o| view(o)).collect();
    text.push_str(&format!(
        "    smallest failing sub-history{} ({} ops):\n",
        if complete {
            ""
        } else {
            " found within the budget"
        },
        minimal.len()
    ));
    for m in &minimal {
        let ret = m.ret_line.map_or("end".to_string(), |l| l.to_string());
        text.push_str(&format!("      lines {}-{ret}: {}\n", m.call_line, m.text));
    }
    Counterexample {
        key,
        op: view(op),
        possible_states: states,
        longest_prefix: prefix,
        minimal,
        minimal_complete: complete,
        anomaly,
        text,
    }
}

/// Names the anomaly of a read that cannot be linearized, in real-time terms (Adya's and
/// Jepsen's vocabulary), when the ops prove it:
/// - *stale read*: the value read had been overwritten by an ok write that was invoked after
///   the value's write completed and completed before the read was invoked;
/// - *read of a value never written*: no write or cas (ok or info) wrote it; when a failed
///   one did, that is said (an op reported as not done took effect);
/// - *read from the future*: every op that wrote it was invoked after the read completed.
///
/// Returns None for other ops or when real time alone does not prove the name.
pub(crate) fn name_anomaly(
    op: &Op,
    ops: &[&Op],
    initial: &Value,
    failed: &[&Op],
) -> Option<String> {
    let (F::Read, Outcome::Ok(v)) = (op.f, &op.outcome) else {
        return None;
    };
    let read_ret = op.ret?;
    let effective = |o: &&&Op| o.id != op.id && !matches!(o.outcome, Outcome::Fail);
    let writers: Vec<&Op> = ops
        .iter()
        .filter(effective)
        .filter(|o| writes(o) == Some(v))
        .copied()
        .collect();
    let overwrite_after = |after: Option<u64>| {
        ops.iter()
            .filter(|o| matches!(o.outcome, Outcome::Ok(_)) && o.id != op.id)
            .filter(|o| writes(o).is_some_and(|w| w != v))
            .filter(|o| after.iter().all(|&a| o.call > a))
            .filter(|o| o.ret.is_some_and(|r| r < op.call))
            .max_by_key(|o| o.ret)
            .copied()
    };
    let read = describe_op(op);
    if v == initial && writers.is_empty() {
        let x = overwrite_after(None)?;
        return Some(format!(
            "a stale read: the {read} saw the initial value, but {} (ok at line {}) had \
             completed before the read was invoked",
            describe_op(x),
            x.ret_line.unwrap_or(0)
        ));
    }
    if writers.is_empty() {
        if let Some(w) = failed.iter().find(|o| writes(o) == Some(v)) {
            return Some(format!(
                "a failed op took effect: the {read} saw {v}, written only by {}, which was \
                 answered as failed at line {}{}: an at-most-once retry applied twice, or a \
                 definite error for an op that happened",
                describe_op(w),
                w.ret_line.unwrap_or(0),
                w.error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default(),
            ));
        }
        return Some(format!(
            "a read of a value never written: no write or cas wrote {v} (the {read})"
        ));
    }
    if writers.iter().all(|w| w.call > read_ret) {
        return Some(format!(
            "a read from the future: {v} was only written by ops invoked after the read completed \
             (the {read})"
        ));
    }
    // A later observation proves the overwrite too: a read invoked after v's write completed
    // that saw another value, and completed before this read was invoked.
    let observed_after = |after: u64| {
        ops.iter()
            .filter(|o| o.id != op.id && o.f == F::Read && o.call > after)
            .filter(|o| matches!(&o.outcome, Outcome::Ok(u) if u != v))
            .filter(|o| o.ret.is_some_and(|r| r < op.call))
            .max_by_key(|o| o.ret)
            .copied()
    };
    for w in &writers {
        let Some(w_ret) = w.ret else { continue };
        if let Some(x) = observed_after(w_ret).filter(|_| overwrite_after(Some(w_ret)).is_none()) {
            return Some(format!(
                "a stale read: {v} (written by {}, ok at line {}) had been overwritten: the {} \
                 (ok at line {}) was invoked after that write completed and saw another value \
                 before the read was invoked at line {}",
                describe_op(w),
                w.ret_line.unwrap_or(0),
                describe_op(x),
                x.ret_line.unwrap_or(0),
                op.call_line
            ));
        }
        if let Some(x) = overwrite_after(Some(w_ret)) {
            return Some(format!(
                "a stale read: {v} (written by {}, ok at line {}) had been overwritten by {} \
                 (ok at line {}) before the read was invoked at line {}",
                describe_op(w),
                w.ret_line.unwrap_or(0),
                describe_op(x),
                x.ret_line.unwrap_or(0),
                op.call_line
            ));
        }
    }
    None
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "(no state)".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The value an op writes, and the values it observes (for the shrink's dependency rule).
fn writes(op: &Op) -> Option<&Value> {
    match op.f {
        F::Write | F::Put => Some(&op.input),
        F::Cas => op.input.as_list().and_then(|l| l.get(1)),
        _ => None,
    }
}

fn observes(op: &Op) -> Option<&Value> {
    match (op.f, &op.outcome) {
        (F::Read | F::Get, Outcome::Ok(v)) => Some(v),
        (F::Cas, _) => op.input.as_list().and_then(|l| l.first()),
        _ => None,
    }
}

/// May `gone` be dropped while `kept` remain? Not if a kept op observes what it wrote. For
/// append-kv and multi-register, values are composed (appends, txns), so an op that changes
/// state is kept while any op that reads remains.
fn needless(kind: ModelKind, gone: &Op, kept: &[&Op]) -> bool {
    match kind {
        ModelKind::AppendKv | ModelKind::MultiRegister => {
            let mutates = matches!(gone.f, F::Put | F::Append | F::Write | F::Txn);
            let reads = |o: &&Op| matches!(o.f, F::Get | F::Read | F::Txn);
            !mutates || !kept.iter().any(reads)
        }
        _ => writes(gone).is_none_or(|w| !kept.iter().any(|k| observes(k) == Some(w))),
    }
}

/// Greedy delta debugging: returns the smallest invalid sub-history found and whether the
/// shrink ran to completion.
fn shrink<'a>(
    kind: ModelKind,
    initial: &Value,
    ops: &[&'a Op],
    budget: Budget,
) -> (Vec<&'a Op>, bool) {
    let mut current: Vec<&Op> = ops.to_vec();
    let mut searches = 0;
    let mut chunk = (current.len() / 2).max(1);
    loop {
        let mut i = 0;
        let mut changed = false;
        while i < current.len() {
            if searches >= SHRINK_SEARCHES_MAX
                || budget.deadline.is_some_and(|d| Instant::now() >= d)
            {
                return (current, false);
            }
            let end = (i + chunk).min(current.len());
            let kept: Vec<&Op> = current[..i]
                .iter()
                .chain(&current[end..])
                .copied()
                .collect();
            let removable = current[i..end]
                .iter()
                .all(|gone| needless(kind, gone, &kept));
            if removable && !kept.is_empty() {
                searches += 1;
                if let SearchResult::Invalid(_) = crate::search_part(kind, initial, &kept, budget) {
                    current = kept;
                    changed = true;
                    continue;
                }
            }
            i = end;
        }
        // Dropping an observer can free the write it observed (earlier in the list): at single
        // ops, repeat passes until nothing more goes.
        if chunk == 1 {
            if !changed {
                return (current, true);
            }
        } else {
            chunk /= 2;
        }
    }
}
