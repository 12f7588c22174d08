//! Linearizability of the simulator's client history: a per-key Wing & Gong search (node does
//! not depend on the checker crate), enough for the simulator's small histories.

use super::ClientOp;
use node::core::Command;
use std::collections::{BTreeMap, HashSet};

/// Per-key WGL (Wing & Gong) with memo over (linearized set, value): small histories only.
pub fn linearizable(ops: &[ClientOp]) -> Result<(), String> {
    let mut keys: BTreeMap<&str, Vec<&ClientOp>> = BTreeMap::new();
    for op in ops {
        if !matches!(op.result, Some(Err(()))) {
            keys.entry(op.key.as_str()).or_default().push(op);
        }
    }
    for (key, ops) in keys {
        if !key_linearizable(&ops) {
            return Err(format!(
                "linearizability: key {key} ({} ops) has no linearization",
                ops.len()
            ));
        }
    }
    Ok(())
}

fn legal(state: Option<i64>, op: &ClientOp) -> Option<Option<i64>> {
    match (&op.cmd, &op.result) {
        (Command::Read { .. }, Some(Ok(v))) => (*v == state).then_some(state),
        (Command::Read { .. }, _) => Some(state),
        (Command::Write { value, .. }, _) => Some(Some(*value)),
        (Command::Cas { from, to, .. }, _) => (state == Some(*from)).then_some(Some(*to)),
    }
}

fn key_linearizable(ops: &[&ClientOp]) -> bool {
    // Drop unknown reads (they constrain nothing); order by call.
    let ops: Vec<&ClientOp> = ops
        .iter()
        .copied()
        .filter(|o| !(matches!(o.cmd, Command::Read { .. }) && o.result.is_none()))
        .collect();
    let n = ops.len();
    let ret = |o: &ClientOp| o.ret.unwrap_or(u64::MAX);
    let mut memo: HashSet<(Vec<bool>, Option<i64>)> = HashSet::new();
    let mut stack: Vec<(Vec<bool>, Option<i64>)> = vec![(vec![false; n], None)];
    while let Some((done, state)) = stack.pop() {
        // Every ok op linearized: the rest are unknown and may never have happened.
        if (0..n).all(|i| done[i] || ops[i].result.is_none()) {
            return true;
        }
        if !memo.insert((done.clone(), state)) {
            continue;
        }
        // Candidates: not done, called before every pending op's return.
        let min_ret = (0..n)
            .filter(|&i| !done[i])
            .map(|i| ret(ops[i]))
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..n {
            if done[i] || ops[i].call > min_ret {
                continue;
            }
            if let Some(next) = legal(state, ops[i]) {
                let mut d = done.clone();
                d[i] = true;
                stack.push((d, next));
            }
        }
    }
    false
}
