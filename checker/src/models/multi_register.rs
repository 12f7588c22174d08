//! `multi-register`: Knossos' registers updated by transactions of `[read k v]` /
//! `[write k v]` micro-ops, applied atomically. A read of `Value::Unknown` matches anything;
//! a missing register reads as null.

use crate::model::Model;
use crate::models::value_heap_bytes;
use histories::{Op, Outcome, Value};
use std::collections::BTreeMap;

/// Several registers and atomic transactions over them.
pub struct MultiRegister;

impl Model for MultiRegister {
    type State = BTreeMap<Value, Value>;

    fn init(&self, _initial: &Value) -> Self::State {
        BTreeMap::new()
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
                    let current = next.get(k).unwrap_or(&Value::Null);
                    let unknown =
                        matches!(v, Value::Unknown) || !matches!(op.outcome, Outcome::Ok(_));
                    if !unknown && v != current {
                        return None;
                    }
                }
                "write" | "w" => {
                    next.insert(k.clone(), v.clone());
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

    fn subject(&self) -> &'static str {
        "the registers"
    }

    fn heap_bytes(&self, state: &Self::State) -> u64 {
        // A BTreeMap node holds up to 11 entries; count a node's share per entry.
        let entry = 2 * std::mem::size_of::<Value>() as u64 + 8;
        state
            .iter()
            .map(|(k, v)| entry + value_heap_bytes(k) + value_heap_bytes(v))
            .sum()
    }

    fn describe(&self, state: &Self::State) -> String {
        let parts: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{{{}}}", parts.join(", "))
    }
}
