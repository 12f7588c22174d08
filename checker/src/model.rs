//! The model trait: a sequential specification in the shape of stateright's `SequentialSpec`.
//!
//! A model says which operations are legal from a state, with the return value they had:
//! `step(state, op) -> Some(next)` when `op` (its input and, for `ok` ops, its output) could
//! have happened atomically in `state`. States are `Eq + Hash` so the search can memoise
//! (Lowe 2017). A new model is one file in `models/` and one line in [`by_name`].

use histories::{Op, Value, F};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification.
pub trait Model: Sync {
    /// The model's state.
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// The state before any operation.
    fn init(&self, initial: &Value) -> Self::State;
    /// The state after `op`, if `op` is legal from `state`.
    fn step(&self, state: &Self::State, op: &Op) -> Option<Self::State>;
    /// The state in words, for explanations ("3", "absent", "held").
    fn describe(&self, state: &Self::State) -> String;
}

/// Every model name.
pub const MODEL_NAMES: &[&str] = &[
    "register",
    "cas-register",
    "kv",
    "append-kv",
    "multi-register",
    "mutex",
];

/// Which model a history is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// read/write.
    Register,
    /// read/write/cas.
    CasRegister,
    /// a cas-register per key.
    Kv,
    /// get/put/append over strings, per key.
    AppendKv,
    /// Knossos txn over several registers.
    MultiRegister,
    /// acquire/release.
    Mutex,
}

impl ModelKind {
    /// The model's name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::AppendKv => "append-kv",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Mutex => "mutex",
        }
    }

    /// Is the history split by key before checking (P-compositionality)?
    pub fn per_key(self) -> bool {
        !matches!(self, ModelKind::MultiRegister | ModelKind::Mutex)
    }
}

/// The model called `name`.
pub fn by_name(name: &str) -> Option<ModelKind> {
    Some(match name {
        "register" => ModelKind::Register,
        "cas-register" => ModelKind::CasRegister,
        "kv" => ModelKind::Kv,
        "append-kv" => ModelKind::AppendKv,
        "multi-register" => ModelKind::MultiRegister,
        "mutex" => ModelKind::Mutex,
        _ => return None,
    })
}

/// Chooses a model from the functions the history uses.
pub fn auto(ops: &[Op]) -> ModelKind {
    let has = |f: F| ops.iter().any(|o| o.f == f);
    if has(F::Txn) {
        ModelKind::MultiRegister
    } else if has(F::Acquire) || has(F::Release) {
        ModelKind::Mutex
    } else if has(F::Get) || has(F::Put) || has(F::Append) {
        ModelKind::AppendKv
    } else if ops.iter().any(|o| o.key.is_some()) {
        ModelKind::Kv
    } else {
        ModelKind::CasRegister
    }
}
