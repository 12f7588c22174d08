//! `multi-register`: Knossos' registers updated by transactions of `[read k v]` /
//! `[write k v]` micro-ops, applied atomically. A read of `Value::Unknown` matches anything;
//! a missing register reads as null.

use crate::model::Model;
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

    fn describe(&self, state: &Self::State) -> String {
        let parts: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{{{}}}", parts.join(", "))
    }
}
