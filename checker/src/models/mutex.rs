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

    /// An acquire stays while a later release by the same process stays, and a release while an
    /// earlier acquire by it stays: dropping one of such a pair alone would leave a release of a
    /// free lock, or a second acquire of a held one, a failure that says nothing about the history.
    fn needless(&self, gone: &Op, kept: &[&Op]) -> bool {
        let after = |a: &Op, b: &Op| a.ret.is_some_and(|r| r < b.call);
        !kept.iter().any(|k| {
            k.process == gone.process
                && match (gone.f, k.f) {
                    (F::Acquire, F::Release) => after(gone, k),
                    (F::Release, F::Acquire) => after(k, gone),
                    _ => false,
                }
        })
    }
}
