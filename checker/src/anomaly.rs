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
//!
//! When the history records nodes, a last sentence says which node answered the read and each
//! op the text names ("The read was served by n2 at 12.301 s; write 5 (line 40) was
//! acknowledged by n1 at 11.020 s."): a read served by one node while another had acknowledged
//! the newer write is the mark of a node answering reads it is not the leader for. Without
//! nodes the text is the same as before nodes were recorded.

use crate::explain::{answered, describe_op, what};
use crate::models::register::{observes, writes};
use histories::{Op, Outcome, Value, F};

/// Most candidates listed in one explanation.
const CANDIDATES_SHOWN: usize = 6;

/// Why a candidate source of the read cannot be the one it saw.
enum Ruled<'a> {
    /// An ok op wrote another value in between (or an ok read saw another value there): the
    /// text, and that op.
    Overwritten(String, &'a Op),
    /// It started after the read completed.
    Future,
}

/// The anomaly of `op` (an ok read that cannot be linearized), or None for other ops; with
/// the nodes that answered the ops it names, when the history records them.
pub(crate) fn name(op: &Op, ops: &[&Op], initial: &Value, failed: &[&Op]) -> Option<String> {
    let (mut text, named) = name_and_ops(op, ops, initial, failed)?;
    if let Some(nodes) = nodes_sentence(op, &named) {
        text.push_str(". ");
        text.push_str(&nodes);
    }
    Some(text)
}

/// "The read was served by n2 at 12.301 s; write 5 (line 40) was acknowledged by n1 at
/// 11.020 s.", for the read and the ops its anomaly names; `None` when none has a node.
fn nodes_sentence(read: &Op, named: &[&Op]) -> Option<String> {
    let mut parts: Vec<String> = answered(read)
        .map(|a| format!("the read was {a}"))
        .into_iter()
        .collect();
    let mut seen = vec![read.id];
    for o in named {
        if seen.contains(&o.id) || seen.len() > 2 * CANDIDATES_SHOWN {
            continue;
        }
        seen.push(o.id);
        if let Some(a) = answered(o) {
            parts.push(format!("{} (line {}) was {a}", what(o), o.call_line));
        }
    }
    let text = parts.join("; ");
    let mut chars = text.chars();
    let first = chars.next()?;
    Some(format!("{}{}.", first.to_uppercase(), chars.as_str()))
}

/// The anomaly's text and the ops it names besides the read.
///
/// Long (about 120 lines) because it is a list of cases tried in order, from the most specific
/// name to the most general (a failed op took effect, a value never written, a stale read,
/// ...), each needing the writers of the value and the real-time order computed at its start.
fn name_and_ops<'a>(
    op: &Op,
    ops: &[&'a Op],
    initial: &Value,
    failed: &[&'a Op],
) -> Option<(String, Vec<&'a Op>)> {
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
            let text = format!(
                "a failed op took effect: the {read} saw {v}, written only by {}, which was \
                 answered as failed at line {}{}: an at-most-once retry applied twice, or a \
                 definite error for an op that happened",
                describe_op(w),
                w.ret_line.unwrap_or(0),
                w.error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default(),
            );
            return Some((text, vec![*w]));
        }
        let text =
            format!("a read of a value never written: no write or cas wrote {v} (the {read})");
        return Some((text, Vec::new()));
    }
    let initial_ruled = from_initial.then(|| overwritten(op, ops, v, None));
    let ruled: Vec<(&Op, Option<Ruled<'a>>)> = writers
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
        let text = possible_sources(&read, v, &open, initial_open, writers.len());
        let shown = open.iter().take(CANDIDATES_SHOWN).copied().collect();
        return Some((text, shown));
    }
    let any_overwritten = matches!(initial_ruled, Some(Some(_)))
        || ruled
            .iter()
            .any(|(_, why)| matches!(why, Some(Ruled::Overwritten(..))));
    if !any_overwritten {
        let text = format!(
            "a read from the future: {v} was only written by ops invoked after the read completed \
             (the {read})"
        );
        return Some((
            text,
            writers.iter().take(CANDIDATES_SHOWN).copied().collect(),
        ));
    }
    // Each candidate and why it is ruled out: "<candidate>, <reason>"; and the ops named.
    let mut reasons: Vec<(String, String)> = Vec::new();
    let mut named: Vec<&Op> = Vec::new();
    if let Some(Some(Ruled::Overwritten(by, x))) = &initial_ruled {
        reasons.push((
            "the initial value".to_string(),
            format!("overwritten by {by}"),
        ));
        named.push(x);
    }
    for (w, why) in &ruled {
        match why {
            Some(Ruled::Overwritten(by, x)) => {
                reasons.push((
                    format!("{}, ok at line {}", describe_op(w), w.ret_line.unwrap_or(0)),
                    format!("overwritten by {by}"),
                ));
                named.extend([*w, *x]);
            }
            Some(Ruled::Future) => {
                reasons.push((
                    describe_op(w),
                    "invoked after the read completed".to_string(),
                ));
                named.push(w);
            }
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
    if let Some(lost) = lost_write(op, ops, &initial_ruled, &ruled) {
        text.push_str(&lost);
    }
    Some((text, named))
}

/// "; no read or cas ever saw 7, although write 7 was acknowledged: a lost write", when an
/// acknowledged op that overwrote the value read wrote a value that no ok op of the part ever
/// observed (the replicated register forgot it, as an asynchronously replicated primary that
/// fails over does). When the history records nodes: "; 7 was only ever returned by n1, which
/// acknowledged write 7 (line 3), never by n3, which served the read: a lost write, or one n3
/// never saw", when every op that observed the value was served by the node that acknowledged
/// it and the read by another.
fn lost_write(
    read: &Op,
    ops: &[&Op],
    initial_ruled: &Option<Option<Ruled<'_>>>,
    ruled: &[(&Op, Option<Ruled<'_>>)],
) -> Option<String> {
    let by = std::iter::once(initial_ruled.as_ref().and_then(|r| r.as_ref()))
        .chain(ruled.iter().map(|(_, why)| why.as_ref()))
        .flatten();
    for why in by {
        let Ruled::Overwritten(_, x) = why else {
            continue;
        };
        let Some(w) = writes(x) else { continue };
        if !matches!(x.outcome, Outcome::Ok(_)) {
            continue;
        }
        let observers: Vec<&&Op> = ops
            .iter()
            .filter(|o| {
                o.id != x.id && matches!(o.outcome, Outcome::Ok(_)) && observes(o) == Some(w)
            })
            .collect();
        if observers.is_empty() {
            return Some(format!(
                "; no read or cas ever saw {w}, although {} was acknowledged: a lost write",
                describe_op(x)
            ));
        }
        let (Some(home), Some(reader)) = (&x.served_by, &read.served_by) else {
            continue;
        };
        if home != reader && observers.iter().all(|o| o.served_by.as_ref() == Some(home)) {
            return Some(format!(
                "; {w} was only ever returned by {home}, which acknowledged {} (line {}), never \
                 by {reader}, which served the read: a lost write, or one {reader} never saw",
                what(x),
                x.call_line
            ));
        }
    }
    None
}

/// Why the state `v` set by a candidate that completed at `after` (None: the initial state)
/// cannot have lasted until `read` started: the latest ok op that wrote another value inside
/// (after, read.call), or an ok read there that saw another value.
fn overwritten<'a>(read: &Op, ops: &[&'a Op], v: &Value, after: Option<u64>) -> Option<Ruled<'a>> {
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
        let text = format!(
            "{} (ok at line {})",
            describe_op(x),
            x.ret_line.unwrap_or(0)
        );
        return Some(Ruled::Overwritten(text, x));
    }
    let seen = ops
        .iter()
        .filter(inside)
        .filter(|o| o.f == F::Read)
        .filter(|o| matches!(&o.outcome, Outcome::Ok(u) if u != v && *u != Value::Unknown))
        .max_by_key(|o| o.ret)?;
    let text = format!(
        "a change seen by the {} (invoked after it completed, ok at line {})",
        describe_op(seen),
        seen.ret_line.unwrap_or(0)
    );
    Some(Ruled::Overwritten(text, seen))
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
