//! `cas-register`: read, write and compare-and-set `[from to]` (Knossos' `cas-register`).
//!
//! A cas succeeds only when the state equals `from`. Failed cas ops never reach the model: a
//! `fail` op did not take effect and constrains nothing (Jepsen's semantics), so the checker
//! drops them before the search. Reads and writes are the [`super::register`]'s.

use super::register::Register;
use crate::model::Model;
use histories::{Op, Value, F};

/// A read/write/cas register.
pub struct CasRegister;

impl Model for CasRegister {
    type State = Value;

    fn init(&self, initial: &Value) -> Value {
        Register.init(initial)
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match (op.f, op.input.as_list()) {
            (F::Cas, Some([from, to])) => (from == state).then(|| to.clone()),
            (F::Cas, _) => None,
            _ => Register.step(state, op),
        }
    }

    fn describe(&self, state: &Value) -> String {
        Register.describe(state)
    }
}
