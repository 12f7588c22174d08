//! The polynomial fast path for read/write registers whose writes all have distinct values:
//! Gibbons & Korach, "Testing shared memories" (SIAM J. Computing, 1997).
//!
//! With distinct values every read names the one write it observed, so each value `v` defines a
//! *cluster*: its write and the reads that returned it (the initial value's cluster has a
//! virtual write before everything). Let `f(v)` be the earliest return in the cluster and `s(v)`
//! the latest call. If `f(v) < s(v)` the cluster has a *forward zone* `[f, s]`: the write and its
//! reads cannot all be squeezed into one instant, and no other cluster may be linearized inside
//! that stretch. Otherwise it has a *backward zone* `[s, f]`. The history is linearizable iff
//! every read's write exists and is called before the read returns, no two forward zones
//! overlap, and no backward zone lies inside a forward zone. That is O(n log n).
//!
//! `info` writes have their return at the end of time; unobserved ones were already dropped
//! (see `drop_unobserved_infos`). Reads of `Value::Unknown` constrain nothing and are ignored.
//! The path applies only when the part has no cas and no value is written twice (nor equals the
//! initial value); otherwise the caller uses the WGL search.

use histories::{Op, Outcome, Value, F};
use std::collections::HashMap;

/// A cluster: the earliest return, the latest call, and its write's call (positions + 1; the
/// initial value's virtual write is at 0).
struct Cluster {
    f: u64,
    s: u64,
    write_call: u64,
}

/// Decides a read/write register part, or `None` when the fast path does not apply.
/// `Some(true)`: linearizable; `Some(false)`: not.
pub fn decide(initial: &Value, ops: &[&Op]) -> Option<bool> {
    let at = |p: u64| p.saturating_add(1);
    let mut clusters: HashMap<&Value, Cluster> = HashMap::new();
    clusters.insert(
        initial,
        Cluster {
            f: 0,
            s: 0,
            write_call: 0,
        },
    );
    for op in ops {
        if op.f != F::Write {
            continue;
        }
        if clusters.contains_key(&op.input) {
            return None; // a value written twice: reads no longer name their write
        }
        let ret = op.ret.map_or(u64::MAX, at);
        let c = Cluster {
            f: ret,
            s: at(op.call),
            write_call: at(op.call),
        };
        clusters.insert(&op.input, c);
    }
    for op in ops {
        match (op.f, &op.outcome) {
            (F::Write, _) | (F::Read, Outcome::Ok(Value::Unknown)) | (F::Read, Outcome::Info) => {}
            (F::Read, Outcome::Ok(v)) => {
                let ret = op.ret.map_or(u64::MAX, at);
                let Some(c) = clusters.get_mut(v) else {
                    return Some(false); // a value nobody wrote
                };
                if ret < c.write_call {
                    return Some(false); // returned before its write was called
                }
                c.f = c.f.min(ret);
                c.s = c.s.max(at(op.call));
            }
            _ => return None, // cas (or anything else): not this algorithm
        }
    }
    let mut forward = Vec::new();
    let mut backward = Vec::new();
    for c in clusters.values() {
        if c.f < c.s {
            forward.push((c.f, c.s));
        } else {
            backward.push((c.s, c.f));
        }
    }
    forward.sort_unstable();
    if forward.windows(2).any(|w| w[0].1 > w[1].0) {
        return Some(false);
    }
    for &(a, b) in &backward {
        // The forward zone starting last before `a`, if any, must not cover [a, b].
        let i = forward.partition_point(|&(x, _)| x < a);
        if i > 0 && forward[i - 1].1 > b {
            return Some(false);
        }
    }
    Some(true)
}
