//! `register` and `cas-register` (and `kv`, a cas-register per key): read, write, cas.
//!
//! State: the value, `Value::Null` when the key does not exist. A read of `Value::Unknown`
//! (Jepsen's nil: the client did not learn the value) matches any state. A cas succeeds only
//! when the state equals `from`; failed cas ops never reach the model (they are dropped).

use crate::model::Model;
use histories::{Op, Outcome, Value, F};

/// A register; `cas` is accepted only when `with_cas`.
pub struct Register {
    /// Accept cas.
    pub with_cas: bool,
}

impl Model for Register {
    type State = Value;

    fn init(&self, initial: &Value) -> Value {
        initial.clone()
    }

    fn step(&self, state: &Value, op: &Op) -> Option<Value> {
        match op.f {
            F::Read => match &op.outcome {
                Outcome::Ok(Value::Unknown) | Outcome::Info => Some(state.clone()),
                Outcome::Ok(v) => (v == state).then(|| state.clone()),
                Outcome::Fail => None,
            },
            F::Write => Some(op.input.clone()),
            F::Cas if self.with_cas => match op.input.as_list() {
                Some([from, to]) => (from == state).then(|| to.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn describe(&self, state: &Value) -> String {
        match state {
            Value::Null => "absent (null)".to_string(),
            v => v.to_string(),
        }
    }
}
