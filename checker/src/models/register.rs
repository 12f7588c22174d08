//! `register`: a single read/write register (Herlihy & Wing's example; Knossos' `register`).
//!
//! State: the value, `Value::Null` when the key does not exist. A read of `Value::Unknown`
//! (Jepsen's nil: the client did not learn the value) matches any state; an `info` read
//! constrains nothing. A cas is not part of this model: a history with cas ops is checked as a
//! [`super::cas_register`].

use crate::model::Model;
use histories::{Op, Outcome, Value, F};

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

/// A register state in words.
fn describe(state: &Value) -> String {
    match state {
        Value::Null => "absent (null)".to_string(),
        v => v.to_string(),
    }
}

impl Model for Register {
    type State = Value;

    fn init(&self, initial: &Value) -> Value {
        initial.clone()
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f {
            F::Read => read(state, op),
            F::Write => Some(op.input.clone()),
            _ => None,
        }
    }

    fn describe(&self, state: &Value) -> String {
        describe(state)
    }
}
