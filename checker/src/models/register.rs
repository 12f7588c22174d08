//! `register`: a single read/write register (Herlihy & Wing's example; Knossos' `register`).
//!
//! State: the value, `Value::Null` when the key does not exist. A read of `Value::Unknown`
//! (Jepsen's nil: the client did not learn the value) matches any state; an `info` read
//! constrains nothing. A cas is not part of this model: a history with cas ops is checked as a
//! [`super::cas_register`], which shares this file's rules for pruning, the polynomial fast
//! path, anomaly names and shrinking (`RegisterRules`).

use crate::model::Model;
use histories::{Op, Outcome, Value, F};
use std::collections::HashSet;

/// A read/write register.
pub struct Register;

/// A read legal in `state` leaves it unchanged.
fn read(state: &Value, op: &Op) -> Option<Value> {
    match &op.outcome {
        Outcome::Ok(Value::Unknown) | Outcome::Info => Some(state.clone()),
        Outcome::Ok(v) => (v == state).then(|| state.clone()),
        Outcome::Fail => None,
    }
}

/// What the register family (register, cas-register, kv) shares beyond `step`.
pub(crate) struct RegisterRules;

impl RegisterRules {
    /// A register state in words.
    pub(crate) fn describe(state: &Value) -> String {
        match state {
            Value::Null => "absent (null)".to_string(),
            v => v.to_string(),
        }
    }

    /// Reads, and a cas whose `from` equals its `to`, never change the state.
    pub(crate) fn read_only(op: &Op) -> bool {
        match op.f {
            F::Read => true,
            F::Cas => matches!(op.input.as_list(), Some([from, to]) if from == to),
            _ => false,
        }
    }

    /// Drops `info` ops that cannot matter, before the search.
    ///
    /// An `info` op may take effect or not. An info read never constrains anything. An info
    /// write (or cas) whose value no op observes (no ok read returns it, no cas expects it) can
    /// be left out: in any linearization that includes it, nothing between it and the next
    /// write sees the state it set, so the same order without it is also a linearization.
    /// Without this, every subset of the open info ops is a distinct search state, which is
    /// what makes histories with many timeouts blow up in WGL checkers (and in Porcupine and
    /// Knossos). Values that repeat only make the rule keep more (docs/decisions.md).
    pub(crate) fn prune(ops: Vec<&Op>) -> Vec<&Op> {
        let observed: HashSet<&Value> = ops.iter().filter_map(|o| observes(o)).collect();
        ops.into_iter()
            .filter(|o| {
                if o.outcome != Outcome::Info {
                    return true;
                }
                writes(o).is_some_and(|w| observed.contains(w))
            })
            .collect()
    }

    /// May the shrink drop `gone` while `kept` stay? Not if a kept op observes what it wrote.
    pub(crate) fn needless(gone: &Op, kept: &[&Op]) -> bool {
        writes(gone).is_none_or(|w| !kept.iter().any(|k| observes(k) == Some(w)))
    }
}

/// The value an op writes (a write's input, a cas's `to`).
pub(crate) fn writes(op: &Op) -> Option<&Value> {
    match op.f {
        F::Write | F::Put => Some(&op.input),
        F::Cas => op.input.as_list().and_then(|l| l.get(1)),
        _ => None,
    }
}

/// The value an op observes (an ok read's output, a cas's `from`).
pub(crate) fn observes(op: &Op) -> Option<&Value> {
    match (op.f, &op.outcome) {
        (F::Read | F::Get, Outcome::Ok(v)) => Some(v),
        (F::Cas, _) => op.input.as_list().and_then(|l| l.first()),
        _ => None,
    }
}

/// Implements the register family's [`Model`] methods beyond `step` from [`RegisterRules`].
macro_rules! register_rules {
    () => {
        fn init(&self, initial: &Value) -> Value {
            initial.clone()
        }

        fn read_only(&self, op: &Op) -> bool {
            crate::models::register::RegisterRules::read_only(op)
        }

        fn step_reads_value_only(&self) -> bool {
            true
        }

        fn describe(&self, state: &Value) -> String {
            crate::models::register::RegisterRules::describe(state)
        }

        fn heap_bytes(&self, state: &Value) -> u64 {
            crate::models::value_heap_bytes(state)
        }

        fn prune<'a>(
            &self,
            ops: Vec<&'a Op>,
            _deadline: Option<std::time::Instant>,
        ) -> Vec<&'a Op> {
            crate::models::register::RegisterRules::prune(ops)
        }

        fn decide(&self, initial: &Value, ops: &[&Op]) -> Option<bool> {
            crate::gk::decide(initial, ops)
        }

        fn anomaly(&self, op: &Op, ops: &[&Op], initial: &Value, failed: &[&Op]) -> Option<String> {
            crate::anomaly::name(op, ops, initial, failed)
        }

        fn needless(&self, gone: &Op, kept: &[&Op]) -> bool {
            crate::models::register::RegisterRules::needless(gone, kept)
        }
    };
}
pub(crate) use register_rules;

impl Model for Register {
    type State = Value;

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f {
            F::Read => read(state, op),
            F::Write => Some(op.input.clone()),
            _ => None,
        }
    }

    register_rules!();
}
