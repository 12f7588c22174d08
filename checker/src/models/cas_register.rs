//! `cas-register`: read, write and compare-and-set `[from to]` (Knossos' `cas-register`).
//!
//! A cas succeeds only when the state equals `from`. Failed cas ops never reach the model: a
//! `fail` op did not take effect and constrains nothing (Jepsen's semantics), so the checker
//! drops them before the search. Reads and writes are the [`super::register`]'s, and so are
//! the rules beyond `step`. A cas whose `from` equals its `to` is read-only: legal only in the
//! state it leaves.

use super::register::{register_rules, Register};
use crate::model::Model;
use histories::{Op, Value, F};

/// A read/write/cas register.
pub struct CasRegister;

impl Model for CasRegister {
    type State = Value;

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match (op.f, op.input.as_list()) {
            (F::Cas, Some([from, to])) => (from == state).then(|| to.clone()),
            (F::Cas, _) => None,
            _ => Register.step(state, op),
        }
    }

    register_rules!();
}
