//! `append-kv`: 6.824's key-value service (get / put / append over strings), per key.
//!
//! As in Porcupine's kv model, a missing key reads as the empty string.

use crate::model::Model;
use histories::{Op, Outcome, Value, F};

/// The 6.824 kv model, for one key.
pub struct AppendKv;

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Model for AppendKv {
    type State = String;

    fn init(&self, initial: &Value) -> String {
        text(initial)
    }

    fn step(&self, state: &String, op: &Op) -> Option<String> {
        match op.f {
            F::Get | F::Read => match &op.outcome {
                Outcome::Ok(Value::Unknown) | Outcome::Info => Some(state.clone()),
                Outcome::Ok(v) => (text(v) == *state).then(|| state.clone()),
                Outcome::Fail => None,
            },
            F::Put | F::Write => Some(text(&op.input)),
            F::Append => Some(format!("{state}{}", text(&op.input))),
            _ => None,
        }
    }

    fn describe(&self, state: &String) -> String {
        format!("{state:?}")
    }
}
