//! `cas-register`: read, write and compare-and-set `[from to]` (Knossos' `cas-register`).
//!
//! A cas succeeds only when the state equals `from`. Failed cas ops never reach the model: a
//! `fail` op did not take effect and constrains nothing (Jepsen's semantics), so the checker
//! drops them before the search.

use super::register::{describe, read};
use crate::model::Model;
use histories::{Op, Value, F};

/// A read/write/cas register.
pub struct CasRegister;

impl Model for CasRegister {
    type State = Value;

    fn init(&self, initial: &Value) -> Value {
        initial.clone()
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f {
            F::Read => read(state, op),
            F::Write => Some(op.input.clone()),
            F::Cas => match op.input.as_list() {
                Some([from, to]) => (from == state).then(|| to.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn describe(&self, state: &Value) -> String {
        describe(state)
    }
}
