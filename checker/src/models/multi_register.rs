//! `multi-register`: Knossos' registers updated by transactions of `[read k v]` /
//! `[write k v]` micro-ops, applied atomically. A read of `Value::Unknown` matches anything.
//!
//! The initial value (`--initial`): null by default (a register never written does not exist);
//! a scalar starts every register at that value (Knossos' `(multi-register {:x 0 :y 0})` is
//! `--initial 0` when every register starts at 0); a JSON object names each register's start
//! (`--initial '{"x":0,"y":0}'`), the others start null.

use crate::model::Model;
use crate::models::value_heap_bytes;
use histories::{Op, Outcome, Value};
use std::collections::BTreeMap;

/// Several registers and atomic transactions over them.
pub struct MultiRegister;

/// The registers: those written or given a start of their own, and the value of all others.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Registers {
    /// What a register not in `set` holds.
    start: Value,
    /// The registers with a value of their own.
    set: BTreeMap<Value, Value>,
}

impl Registers {
    fn get(&self, k: &Value) -> &Value {
        self.set.get(k).unwrap_or(&self.start)
    }
}

impl Model for MultiRegister {
    type State = Registers;

    fn init(&self, initial: &Value) -> Self::State {
        let object = match initial {
            Value::Other(text) => serde_json::from_str::<serde_json::Value>(text).ok(),
            _ => None,
        };
        match object {
            Some(serde_json::Value::Object(starts)) => Registers {
                start: Value::Null,
                set: starts
                    .iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from(v)))
                    .collect(),
            },
            _ => Registers {
                start: initial.clone(),
                set: BTreeMap::new(),
            },
        }
    }

    fn step(&self, state: &Self::State, op: &Op) -> Option<Self::State> {
        // An ok txn carries what it read; an info txn only its invoke (reads then constrain
        // nothing, writes still apply).
        let micro = match &op.outcome {
            Outcome::Ok(v) if v.as_list().is_some() => v,
            _ => &op.input,
        };
        let mut next = state.clone();
        for m in micro.as_list()? {
            let [f, k, v] = m.as_list()? else {
                return None;
            };
            match f.as_str()? {
                "read" | "r" => {
                    let current = next.get(k);
                    let unknown =
                        matches!(v, Value::Unknown) || !matches!(op.outcome, Outcome::Ok(_));
                    if !unknown && v != current {
                        return None;
                    }
                }
                "write" | "w" => {
                    next.set.insert(k.clone(), v.clone());
                }
                _ => return None,
            }
        }
        Some(next)
    }

    /// A txn whose micro-ops are all reads.
    fn read_only(&self, op: &Op) -> bool {
        let micro = match &op.outcome {
            Outcome::Ok(v) if v.as_list().is_some() => v,
            _ => &op.input,
        };
        let micro = micro.as_list().unwrap_or_default();
        micro.iter().all(
            |m| matches!(m.as_list(), Some([f, _, _]) if matches!(f.as_str(), Some("read" | "r"))),
        )
    }

    fn per_key(&self) -> bool {
        false
    }

    /// A read of a value that no op invoked before the read returned writes to that register
    /// can only have seen the register's start: when the start is another value (null when not
    /// given), say how to give it.
    fn anomaly(&self, op: &Op, ops: &[&Op], initial: &Value, _failed: &[&Op]) -> Option<String> {
        let Outcome::Ok(seen) = &op.outcome else {
            return None;
        };
        let start = self.init(initial);
        let returned = op.ret.unwrap_or(u64::MAX);
        let written = |k: &Value, v: &Value| {
            ops.iter().any(|o| {
                !matches!(o.outcome, Outcome::Fail)
                    && o.call < returned
                    && micro_ops(o)
                        .iter()
                        .any(|(f, wk, wv)| *f == "write" && *wk == k && *wv == v)
            })
        };
        let (_, k, v) = micro_ops_of(seen).into_iter().find(|(f, k, v)| {
            *f == "read"
                && !matches!(v, Value::Unknown | Value::Null)
                && start.get(k) != *v
                && !written(k, v)
        })?;
        Some(format!(
            "no op invoked before this read returned writes {v} to {k}, so the read could only \
             see {k}'s initial value, which is \
             {}; if the registers start with a value, give it with --initial (e.g. --initial {v}, \
             or --initial '{{\"{}\":{v}}}')",
            start.get(k),
            k.as_str().unwrap_or("k")
        ))
    }

    fn subject(&self) -> &'static str {
        "the registers"
    }

    fn heap_bytes(&self, state: &Self::State) -> u64 {
        // A BTreeMap node holds up to 11 entries; count a node's share per entry.
        let entry = 2 * std::mem::size_of::<Value>() as u64 + 8;
        let set: u64 = state
            .set
            .iter()
            .map(|(k, v)| entry + value_heap_bytes(k) + value_heap_bytes(v))
            .sum();
        set + value_heap_bytes(&state.start)
    }

    fn describe(&self, state: &Self::State) -> String {
        let mut parts: Vec<String> = state.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if state.start != Value::Null {
            parts.push(format!("every other register={}", state.start));
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// The micro-ops `(f, key, value)` of a txn as it completed (or as invoked, when it did not).
fn micro_ops(op: &Op) -> Vec<(&'static str, &Value, &Value)> {
    match &op.outcome {
        Outcome::Ok(v) if v.as_list().is_some() => micro_ops_of(v),
        _ => micro_ops_of(&op.input),
    }
}

/// The micro-ops of a txn value, `read`/`r` and `write`/`w` named `read` and `write`.
fn micro_ops_of(txn: &Value) -> Vec<(&'static str, &Value, &Value)> {
    let micro = txn.as_list().unwrap_or_default();
    micro
        .iter()
        .filter_map(|m| match m.as_list()? {
            [f, k, v] => match f.as_str()? {
                "read" | "r" => Some(("read", k, v)),
                "write" | "w" => Some(("write", k, v)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
