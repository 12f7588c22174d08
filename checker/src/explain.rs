//! Explanations of a violation, in the spirit of Knossos' analysis: which op cannot be
//! linearized, what the model could have been just before it, the longest linearizable prefix
//! the search found, and the smallest failing sub-history.
//!
//! **Shrinking** drops ops while the verdict stays invalid (delta debugging, chunks halving down
//! to single ops). A write whose value a remaining op observes is never dropped: without it the
//! observation would fail for a trivial reason ("read of a value never written") and hide the
//! real one. Shrinking is bounded by the same budget as the search.

use crate::keyname::key_name;
use crate::model::ModelKind;
use crate::wgl::{Budget, SearchResult, Stuck};
use histories::{History, Op, Outcome, Value, F};
use serde::Serialize;

/// Most searches one shrink may run.
const SHRINK_SEARCHES_MAX: usize = 2_000;

/// Search steps a shrink may always take (within the check's deadline): a bound in steps, not
/// time, so that the explanation of a history is the same on a fast and on a loaded machine.
const SHRINK_STEPS_MIN: u64 = 20_000;

/// ... or this many times the steps of its first search, if that is more.
const SHRINK_STEPS_FACTOR: u64 = 8;

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
    /// The node the op was first sent to, when the history records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
    /// The node whose answer decided the op (for an `info`, the node of its last attempt), when
    /// the history records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
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
        sent_to: op.sent_to.as_deref().map(str::to_string),
        served_by: op.served_by.as_deref().map(str::to_string),
        text: describe_op(op),
    }
}

/// "read of 3 at line 12 by process 1", "write 4 (info) at line 9 by process 2"; when the
/// history records nodes, the node that answered follows: "read of 3 at line 12 by process 1
/// via n2", "write 4 at line 9 by process 2 via n3 (sent first to n1)".
pub fn describe_op(op: &Op) -> String {
    let info = if op.outcome == Outcome::Info {
        " (info: may or may not have happened)"
    } else {
        ""
    };
    format!(
        "{}{info} at line {} by process {}{}",
        what(op),
        op.call_line,
        op.process,
        via(op)
    )
}

/// What the op did, in a few words: "read of 3", "write 4", "cas [1 2]", "acquire".
pub fn what(op: &Op) -> String {
    match (op.f, &op.outcome) {
        (F::Read | F::Get, Outcome::Ok(Value::Null)) => format!("{} of null (absent)", op.f),
        (F::Read | F::Get, Outcome::Ok(v)) => format!("{} of {v}", op.f),
        (F::Txn, Outcome::Ok(v)) => format!("txn {v}"),
        (F::Acquire | F::Release, _) => op.f.name().to_string(),
        _ => format!("{} {}", op.f, op.input),
    }
}

/// The op's nodes as a suffix of its description: " via n2" (the node that answered, or for an
/// `info` the node of the last attempt), " via n3 (sent first to n1)" when the client was sent
/// on to another node, " (sent to n1)" when only the first node is known; empty without nodes.
pub fn via(op: &Op) -> String {
    match (op.sent_to.as_deref(), op.served_by.as_deref()) {
        (None, None) => String::new(),
        (Some(first), None) => format!(" (sent to {first})"),
        (Some(first), Some(last)) if first != last => {
            format!(" via {last} (sent first to {first})")
        }
        (_, Some(last)) => format!(" via {last}"),
    }
}

/// Who answered the op and when, for explanations that name nodes: "served by n2 at 12.301 s"
/// (an ok read), "acknowledged by n1 at 11.020 s" (an ok write or cas), "answered as failed by
/// n3 at 4.500 s", "last sent to n3, which gave no definite answer" (an `info`). `None` when the
/// history does not record the node that answered.
pub fn answered(op: &Op) -> Option<String> {
    let node = op.served_by.as_deref()?;
    let at = op
        .ret_time
        .map(|t| format!(" at {:.3} s", t as f64 / 1e9))
        .unwrap_or_default();
    Some(match (&op.outcome, op.f) {
        (Outcome::Ok(_), F::Read | F::Get) => format!("served by {node}{at}"),
        (Outcome::Ok(_), _) => format!("acknowledged by {node}{at}"),
        (Outcome::Fail, _) => format!("answered as failed by {node}{at}"),
        (Outcome::Info, _) => format!("last sent to {node}, which gave no definite answer"),
    })
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

/// Explains an invalid part: the op that cannot be placed, the states possible before it and
/// the longest linearizable prefix come from the search of the whole part (`stuck`, as Knossos
/// reports them); the minimal sub-history from shrinking it.
pub(crate) fn counterexample(
    history: &History,
    kind: ModelKind,
    initial: &Value,
    key: &Option<String>,
    ops: &[&Op],
    stuck: Stuck,
    budget: &Budget,
) -> Option<Counterexample> {
    // Failed ops never reach the search, but a read of a value only a failed op wrote is worth
    // naming: an op reported as not done took effect.
    let failed: Vec<&Op> = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Fail && (key.is_none() || o.key == *key))
        .collect();
    let (minimal, complete) = shrink(kind, initial, ops, &stuck, budget);
    Some(build(
        key.clone(),
        kind,
        initial,
        ops,
        &failed,
        stuck,
        &minimal,
        complete,
    ))
}

/// Prefix ops shown in the text (the JSON has them all).
const PREFIX_SHOWN: usize = 10;

/// Assembles the counterexample (its JSON fields and its text) from what the search and the
/// shrink found. Long (about 80 lines) because it is a list of parts, each a few lines: the
/// stuck op, the states before it, the prefix, the minimal history, the anomaly.
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
    let model = kind.model();
    let thing = model.subject();
    let mut text = format!(
        "  {}: {} cannot be linearized: {thing} could only be {}\n",
        key_name(&key),
        describe_op(op),
        join_or(&states)
    );
    let anomaly = model.anomaly(op, ops, initial, failed);
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

fn join_or(items: &[String]) -> String {
    match items {
        [] => "(no state)".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Greedy delta debugging: returns the smallest invalid sub-history found and whether the
/// shrink ran to completion.
///
/// It starts from the ops called before the op the search got stuck on returned, when that
/// prefix is already invalid (most of a long part is then gone in one search), and it takes at
/// most [`SHRINK_STEPS_MIN`] search steps or [`SHRINK_STEPS_FACTOR`] times the steps of its
/// first search, whichever is more, within the budget's deadline: the verdict is known by then,
/// and an explanation should not cost a hundred times the check. A shrink cut short says so.
fn shrink<'a>(
    kind: ModelKind,
    initial: &Value,
    ops: &[&'a Op],
    stuck: &Stuck,
    budget: &Budget,
) -> (Vec<&'a Op>, bool) {
    let mut current: Vec<&Op> = ops.to_vec();
    let first = Budget::new(budget.deadline, budget.memory_bytes);
    if let Some(cut) = ops.get(stuck.op).and_then(|o| o.ret) {
        let prefix: Vec<&Op> = ops.iter().filter(|o| o.call < cut).copied().collect();
        if prefix.len() < current.len()
            && matches!(
                crate::search_part(kind, initial, &prefix, &first),
                SearchResult::Invalid(_)
            )
        {
            current = prefix;
        }
    }
    let first_steps = first.pool.steps.load(std::sync::atomic::Ordering::Relaxed);
    let budget = &Budget {
        steps_max: Some((first_steps * SHRINK_STEPS_FACTOR).max(SHRINK_STEPS_MIN)),
        ..Budget::new(budget.deadline, budget.memory_bytes)
    };
    let mut searches = 0;
    let mut chunk = (current.len() / 2).max(1);
    loop {
        let mut i = 0;
        let mut changed = false;
        while i < current.len() {
            if searches >= SHRINK_SEARCHES_MAX || budget.exhausted() {
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
                .all(|gone| kind.model().needless(gone, &kept));
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
