//! Names the anomaly of a register read that cannot be linearized, in real-time terms (Adya's
//! and Jepsen's vocabulary), when the ops prove it.
//!
//! Values repeat in real histories (Jepsen and Knossos write random values from a small
//! range), so a read of `v` does not name the write it saw. Every op that wrote `v` (ok or
//! info), and the initial state when it is `v`, is a *candidate source* of the read. A name is
//! given only when real time rules out every candidate, each for a stated reason:
//! - *overwritten*: an ok op that wrote another value was invoked after the candidate
//!   completed and completed before the read was invoked (the candidate's effect was followed by
//!   a definite change before the read could start); or an ok read invoked after the candidate
//!   completed saw another value and completed before the read was invoked;
//! - *from the future*: the candidate was invoked after the read completed.
//!
//! Then the read is a *stale read* (some candidate was overwritten), a *read from the future*
//! (all were in the future), or, with no candidate at all, a *read of a value never written*
//! (or written only by an op answered as failed). When a candidate survives, the text lists
//! the writes of `v` that real time allows and says that no order of the other ops fits them.

use crate::explain::describe_op;
use crate::models::register::writes;
use histories::{Op, Outcome, Value, F};

/// Most candidates listed in one explanation.
const CANDIDATES_SHOWN: usize = 6;

/// Why a candidate source of the read cannot be the one it saw.
enum Ruled {
    /// An ok op wrote another value in between.
    Overwritten(String),
    /// It started after the read completed.
    Future,
}

/// The anomaly of `op` (an ok read that cannot be linearized), or None for other ops.
///
/// Long (about 120 lines) because it is a list of cases tried in order, from the most specific
/// name to the most general (a failed op took effect, a value never written, a stale read,
/// ...), each needing the writers of the value and the real-time order computed at its start.
pub(crate) fn name(op: &Op, ops: &[&Op], initial: &Value, failed: &[&Op]) -> Option<String> {
    let (F::Read, Outcome::Ok(v)) = (op.f, &op.outcome) else {
        return None;
    };
    if *v == Value::Unknown {
        return None;
    }
    let read_ret = op.ret?;
    let read = describe_op(op);
    let writers: Vec<&Op> = ops
        .iter()
        .filter(|o| o.id != op.id && o.outcome != Outcome::Fail && writes(o) == Some(v))
        .copied()
        .collect();
    let from_initial = v == initial;
    if writers.is_empty() && !from_initial {
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
    let initial_ruled = from_initial.then(|| overwritten(op, ops, v, None));
    let ruled: Vec<(&Op, Option<Ruled>)> = writers
        .iter()
        .map(|w| {
            let why = if w.call > read_ret {
                Some(Ruled::Future)
            } else {
                w.ret.and_then(|r| overwritten(op, ops, v, Some(r)))
            };
            (*w, why)
        })
        .collect();
    let open: Vec<&Op> = ruled
        .iter()
        .filter(|(_, why)| why.is_none())
        .map(|(w, _)| *w)
        .collect();
    let initial_open = matches!(initial_ruled, Some(None));
    if !open.is_empty() || initial_open {
        return Some(possible_sources(
            &read,
            v,
            &open,
            initial_open,
            writers.len(),
        ));
    }
    let any_overwritten = matches!(initial_ruled, Some(Some(_)))
        || ruled
            .iter()
            .any(|(_, why)| matches!(why, Some(Ruled::Overwritten(_))));
    if !any_overwritten {
        return Some(format!(
            "a read from the future: {v} was only written by ops invoked after the read completed \
             (the {read})"
        ));
    }
    // Each candidate and why it is ruled out: "<candidate>, <reason>".
    let mut reasons: Vec<(String, String)> = Vec::new();
    if let Some(Some(Ruled::Overwritten(by))) = &initial_ruled {
        reasons.push((
            "the initial value".to_string(),
            format!("overwritten by {by}"),
        ));
    }
    for (w, why) in &ruled {
        match why {
            Some(Ruled::Overwritten(by)) => reasons.push((
                format!("{}, ok at line {}", describe_op(w), w.ret_line.unwrap_or(0)),
                format!("overwritten by {by}"),
            )),
            Some(Ruled::Future) => reasons.push((
                describe_op(w),
                "invoked after the read completed".to_string(),
            )),
            None => {}
        }
    }
    let mut text = match reasons.as_slice() {
        [(who, why)] if who == "the initial value" => format!(
            "a stale read: the {read} saw the initial value, but it had been {why} before the \
             read was invoked"
        ),
        [(who, why)] => format!(
            "a stale read: {v} (written by {who}) had been {why} before the {read} was invoked"
        ),
        _ => {
            let shown: Vec<String> = reasons
                .iter()
                .take(CANDIDATES_SHOWN)
                .map(|(who, why)| format!("{who}: {why}"))
                .collect();
            let more = reasons.len() - shown.len();
            let tail = if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            };
            format!(
                "a stale read: the {read} saw {v}, which {} ops could have written, and real time \
                 rules out each: {}{tail}",
                reasons.len(),
                shown.join("; ")
            )
        }
    };
    text.push_str(&format!(" (the read was invoked at line {})", op.call_line));
    Some(text)
}

/// Why the state `v` set by a candidate that completed at `after` (None: the initial state)
/// cannot have lasted until `read` started: the latest ok op that wrote another value inside
/// (after, read.call), or an ok read there that saw another value.
fn overwritten(read: &Op, ops: &[&Op], v: &Value, after: Option<u64>) -> Option<Ruled> {
    let inside = |o: &&&Op| {
        o.id != read.id && after.is_none_or(|a| o.call > a) && o.ret.is_some_and(|r| r < read.call)
    };
    let write = ops
        .iter()
        .filter(inside)
        .filter(|o| matches!(o.outcome, Outcome::Ok(_)))
        .filter(|o| writes(o).is_some_and(|w| w != v))
        .max_by_key(|o| o.ret);
    if let Some(x) = write {
        return Some(Ruled::Overwritten(format!(
            "{} (ok at line {})",
            describe_op(x),
            x.ret_line.unwrap_or(0)
        )));
    }
    let seen = ops
        .iter()
        .filter(inside)
        .filter(|o| o.f == F::Read)
        .filter(|o| matches!(&o.outcome, Outcome::Ok(u) if u != v && *u != Value::Unknown))
        .max_by_key(|o| o.ret)?;
    Some(Ruled::Overwritten(format!(
        "a change seen by the {} (ok at line {}), invoked after it and completed before the read",
        describe_op(seen),
        seen.ret_line.unwrap_or(0)
    )))
}

/// The text when real time leaves some source of `v` possible.
fn possible_sources(read: &str, v: &Value, open: &[&Op], initial: bool, writers: usize) -> String {
    let mut names: Vec<String> = open
        .iter()
        .take(CANDIDATES_SHOWN)
        .map(|w| describe_op(w))
        .collect();
    if initial {
        names.insert(0, "the initial value".to_string());
    }
    let more = (open.len() + initial as usize).saturating_sub(names.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "the {read} saw {v}; {v} was written by {writers} op(s), and real time alone leaves \
         {} possible ({}{tail}), but no order of the other ops lets the read follow any of them \
         (see the smallest failing sub-history)",
        names.len() + more,
        names.join(", ")
    )
}
