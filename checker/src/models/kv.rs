//! `kv`: many keys, each a [`super::cas_register`] (read/write/cas per key), the shape of
//! faultline's own histories and of Jepsen's `independent` checker.
//!
//! Keys never interact, so by P-compositionality (Horn & Kroening 2015) the history is
//! linearizable iff each key's sub-history is: the checker splits by key and checks the keys in
//! parallel, each against this model, whose state is that key's value.

use super::cas_register::CasRegister;
use super::register::register_rules;
use crate::model::Model;
use histories::{Op, Value};

/// One key of a key-value store of cas registers.
pub struct Kv;

impl Model for Kv {
    type State = Value;

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        CasRegister.step(state, op)
    }

    register_rules!();
}
