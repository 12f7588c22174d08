//! Shrinking a disagreement, and fixtures: a case as faultline JSONL and back.
//!
//! Shrinking is delta debugging (Zeller & Hildebrandt 2002) over the ops: drop chunks, then
//! single ops, as long as the disagreement persists, until no single op can go.
//!
//! A fixture is a faultline JSONL history whose header line carries what the events cannot:
//! the model, the initial value, the seed, and which ok reads returned `Unknown` (JSONL writes
//! it as `null`, which would read back as "absent"): `"unknown": [[op], [op, micro-op]]`, ops by
//! invoke order.

use super::brute::Model;
use super::gen::{Case, Mode};
use histories::{Op, Outcome, Value};
use std::path::Path;

/// Sorts by call, makes positions and lines dense again, ids the indices.
pub fn renumber(mut ops: Vec<Op>) -> Vec<Op> {
    ops.sort_by_key(|o| o.call);
    let mut events: Vec<(u64, usize, bool)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, i, false));
        if let Some(end) = op.ret.or(op.ret_line.map(|l| l - 1)) {
            events.push((end, i, true));
        }
    }
    events.sort();
    for (pos, &(_, i, is_ret)) in events.iter().enumerate() {
        let pos = pos as u64;
        let op = &mut ops[i];
        if is_ret {
            if op.ret.is_some() {
                op.ret = Some(pos);
            }
            op.ret_line = Some(pos + 1);
        } else {
            op.call = pos;
            op.call_line = pos + 1;
        }
    }
    for (i, op) in ops.iter_mut().enumerate() {
        op.id = i;
    }
    ops
}

/// The smallest sub-history (by op removal) on which `bad` still holds.
pub fn shrink(case: &Case, bad: impl Fn(&Case) -> bool) -> Case {
    let mut best = case.clone();
    let mut chunk = best.ops.len().div_ceil(2).max(1);
    loop {
        let mut removed = false;
        let mut start = 0;
        while start < best.ops.len() {
            let end = (start + chunk).min(best.ops.len());
            let mut ops = best.ops.clone();
            ops.drain(start..end);
            let candidate = Case {
                ops: renumber(ops),
                ..best.clone()
            };
            if !candidate.ops.is_empty() && bad(&candidate) {
                best = candidate;
                removed = true;
            } else {
                start = end;
            }
        }
        if chunk == 1 && !removed {
            return best;
        }
        if !removed {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// The case as a faultline JSONL fixture.
pub fn to_jsonl(case: &Case, note: &str) -> String {
    let mut unknown = Vec::new();
    for op in &case.ops {
        match &op.outcome {
            Outcome::Ok(Value::Unknown) => unknown.push(serde_json::json!([op.id])),
            Outcome::Ok(Value::List(micro)) => {
                for (i, m) in micro.iter().enumerate() {
                    if matches!(m.as_list(), Some([_, _, Value::Unknown])) {
                        unknown.push(serde_json::json!([op.id, i]));
                    }
                }
            }
            _ => {}
        }
    }
    let header = serde_json::json!({
        "faultline": 1,
        "model": case.model.name(),
        "initial": case.initial.to_json(),
        "seed": case.seed,
        "unknown": unknown,
        "note": note,
    });
    let mut out = serde_json::to_vec(&header).expect("json");
    out.push(b'\n');
    histories::write_ops(&case.ops, &mut out).expect("write to memory");
    String::from_utf8(out).expect("utf-8")
}

/// Reads a fixture written by [`to_jsonl`].
pub fn from_jsonl(path: &Path) -> Case {
    let loaded = histories::load(path, histories::Format::Jsonl)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = loaded
        .history
        .header
        .unwrap_or_else(|| panic!("{}: no header", path.display()));
    let model = header["model"]
        .as_str()
        .and_then(Model::by_name)
        .unwrap_or_else(|| panic!("{}: no model in the header", path.display()));
    let mut ops = loaded.history.ops;
    for u in header["unknown"].as_array().into_iter().flatten() {
        let at: Vec<usize> = u
            .as_array()
            .expect("[op] or [op, micro-op]")
            .iter()
            .map(|x| x.as_u64().expect("an index") as usize)
            .collect();
        match (&mut ops[at[0]].outcome, at.get(1)) {
            (Outcome::Ok(v), None) => *v = Value::Unknown,
            (Outcome::Ok(Value::List(micro)), Some(&i)) => match &mut micro[i] {
                Value::List(m) if m.len() == 3 => m[2] = Value::Unknown,
                other => panic!("{}: not a micro-op: {other}", path.display()),
            },
            _ => panic!("{}: unknown read {u} is not an ok op", path.display()),
        }
    }
    Case {
        model,
        initial: Value::from(&header["initial"]),
        ops,
        seed: header["seed"].as_u64().unwrap_or(0),
        mode: Mode::Mutated,
        effect: Vec::new(),
    }
}
