//! `mutex`: acquire succeeds only when free, release only when held.

use crate::model::Model;
use histories::{Op, Value, F};

/// A lock.
pub struct Mutex;

impl Model for Mutex {
    type State = bool;

    fn init(&self, _initial: &Value) -> bool {
        false
    }

    fn step(&self, held: &bool, op: &Op) -> Option<bool> {
        match op.f {
            F::Acquire => (!held).then_some(true),
            F::Release => held.then_some(false),
            _ => None,
        }
    }

    fn read_only(&self, _op: &Op) -> bool {
        false
    }

    fn describe(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.to_string()
    }

    fn per_key(&self) -> bool {
        false
    }

    fn subject(&self) -> &'static str {
        "the lock"
    }

    fn needless(&self, _gone: &Op, _kept: &[&Op]) -> bool {
        true
    }
}
