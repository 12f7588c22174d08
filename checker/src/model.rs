//! The model trait: a sequential specification in the shape of stateright's `SequentialSpec`,
//! plus everything else the checker needs to know about a model.
//!
//! A model says which operations are legal from a state, with the return value they had:
//! `step(state, op) -> Some(next)` when `op` (its input and, for `ok` ops, its output) could
//! have happened atomically in `state`. States are `Eq + Hash` so the search can memoise
//! (Lowe 2017).
//!
//! What is model-specific lives here and nowhere else (Porcupine's `Partition` and `Describe`
//! are the same idea): which ops never change any state ([`Model::read_only`], the only ones
//! the search may place without alternatives), how a history splits into independent parts
//! ([`Model::per_key`]), which ops may be dropped before the search ([`Model::prune`]), a
//! polynomial decision procedure where one exists ([`Model::decide`]), what a state owns on
//! the heap ([`Model::heap_bytes`], for `--memory-limit`), and how a state, a violation and a
//! shrink step are put into words. A new model is one file in `models/` and one line in
//! [`ModelKind`].

use crate::wgl::{self, Budget, SearchResult};
use histories::{Op, Outcome, Value, F};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

/// A sequential specification.
pub trait Model: Sync {
    /// The model's state.
    type State: Clone + Eq + Hash + Debug + Send + Sync;

    /// The state before any operation.
    fn init(&self, initial: &Value) -> Self::State;

    /// The state after `op`, if `op` is legal from `state`.
    fn step(&self, state: &Self::State, op: &Op) -> Option<Self::State>;

    /// Does `op` leave every state it is legal in unchanged (for every `s`, `step(s, op)` is
    /// `None` or `Some(s)`)? Reads, and a cas whose `from` equals its `to`. Only such ops are
    /// placed by the search without trying alternatives (docs/decisions.md has the proof); a
    /// write that happens to leave the current state unchanged is *not* read-only.
    fn read_only(&self, op: &Op) -> bool;

    /// The state in words, for explanations ("3", "absent", "held").
    fn describe(&self, state: &Self::State) -> String;

    /// Does `step` read nothing of an op but its function, input and outcome (not its process,
    /// key or times)? Then two ops equal in those three have the same effect from every state,
    /// and the search tries only the first of them among a configuration's candidates
    /// (docs/decisions.md, "Interchangeable candidates"). `false` is always safe.
    fn step_reads_value_only(&self) -> bool {
        false
    }

    /// Bytes the state owns on the heap beyond `size_of::<State>()` (what a memo entry really
    /// costs). Shared parts count once, where they were allocated.
    fn heap_bytes(&self, _state: &Self::State) -> u64 {
        0
    }

    /// Is the history split by key (P-compositionality, Horn & Kroening 2015)? Sound only when
    /// ops on different keys never interact.
    fn per_key(&self) -> bool {
        true
    }

    /// Drops ops that provably cannot change the verdict (each rule with its proof in
    /// docs/decisions.md). Runs before the search; stops (keeping what is left) at `deadline`.
    fn prune<'a>(&self, ops: Vec<&'a Op>, _deadline: Option<Instant>) -> Vec<&'a Op> {
        ops
    }

    /// A polynomial decision where one applies: `Some(true)` linearizable, `Some(false)` not,
    /// `None` when it does not apply.
    fn decide(&self, _initial: &Value, _ops: &[&Op]) -> Option<bool> {
        None
    }

    /// What the state is, in an explanation ("the register", "the lock").
    fn subject(&self) -> &'static str {
        "the register"
    }

    /// The classic name of the violation at `op`, when real time alone proves it.
    fn anomaly(&self, _op: &Op, _ops: &[&Op], _initial: &Value, _failed: &[&Op]) -> Option<String> {
        None
    }

    /// May the shrink drop `gone` while `kept` stay? Not when a kept op observes its effect (the
    /// shrunk history would then fail for a trivial reason and hide the real one).
    fn needless(&self, gone: &Op, kept: &[&Op]) -> bool {
        let mutates = !self.read_only(gone);
        let reads = |o: &&Op| matches!(o.outcome, Outcome::Ok(_)) && self.read_only(o);
        !mutates || !kept.iter().any(reads)
    }
}

/// What the rest of the checker calls: a [`Model`] with its state type hidden, so that one
/// `&'static dyn Checkable` per [`ModelKind`] serves everywhere.
pub(crate) trait Checkable: Sync {
    fn read_only(&self, op: &Op) -> bool;
    fn per_key(&self) -> bool;
    fn prune<'a>(&self, ops: Vec<&'a Op>, deadline: Option<Instant>) -> Vec<&'a Op>;
    fn decide(&self, initial: &Value, ops: &[&Op]) -> Option<bool>;
    fn search(&self, initial: &Value, ops: &[&Op], budget: &Budget) -> SearchResult;
    fn subject(&self) -> &'static str;
    fn anomaly(&self, op: &Op, ops: &[&Op], initial: &Value, failed: &[&Op]) -> Option<String>;
    fn needless(&self, gone: &Op, kept: &[&Op]) -> bool;
}

impl<M: Model> Checkable for M {
    fn read_only(&self, op: &Op) -> bool {
        Model::read_only(self, op)
    }
    fn per_key(&self) -> bool {
        Model::per_key(self)
    }
    fn prune<'a>(&self, ops: Vec<&'a Op>, deadline: Option<Instant>) -> Vec<&'a Op> {
        Model::prune(self, ops, deadline)
    }
    fn decide(&self, initial: &Value, ops: &[&Op]) -> Option<bool> {
        Model::decide(self, initial, ops)
    }
    fn search(&self, initial: &Value, ops: &[&Op], budget: &Budget) -> SearchResult {
        wgl::search(self, self.init(initial), ops, budget)
    }
    fn subject(&self) -> &'static str {
        Model::subject(self)
    }
    fn anomaly(&self, op: &Op, ops: &[&Op], initial: &Value, failed: &[&Op]) -> Option<String> {
        Model::anomaly(self, op, ops, initial, failed)
    }
    fn needless(&self, gone: &Op, kept: &[&Op]) -> bool {
        Model::needless(self, gone, kept)
    }
}

/// Declares [`ModelKind`] with, for each model, its variant, name and implementation: the one
/// list of models.
macro_rules! models {
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $model:expr,)*) => {
        /// Which model a history is checked against.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
        pub enum ModelKind {
            $($(#[$doc])* $variant,)*
        }

        /// Every model name.
        pub const MODEL_NAMES: &[&str] = &[$($name),*];

        impl ModelKind {
            /// Every model.
            pub const ALL: &'static [ModelKind] = &[$(ModelKind::$variant),*];

            /// The model's name.
            pub fn name(self) -> &'static str {
                match self {
                    $(ModelKind::$variant => $name,)*
                }
            }

            pub(crate) fn model(self) -> &'static dyn Checkable {
                match self {
                    $(ModelKind::$variant => &$model,)*
                }
            }
        }
    };
}

models! {
    /// read/write.
    Register = "register" => crate::models::register::Register,
    /// read/write/cas.
    CasRegister = "cas-register" => crate::models::cas_register::CasRegister,
    /// a cas-register per key.
    Kv = "kv" => crate::models::kv::Kv,
    /// get/put/append over strings, per key.
    AppendKv = "append-kv" => crate::models::append_kv::AppendKv,
    /// Knossos txn over several registers.
    MultiRegister = "multi-register" => crate::models::multi_register::MultiRegister,
    /// acquire/release.
    Mutex = "mutex" => crate::models::mutex::Mutex,
}

impl ModelKind {
    /// Is the history split by key before checking (P-compositionality)?
    pub fn per_key(self) -> bool {
        self.model().per_key()
    }

    /// Does `op` never change any state of this model (see [`Model::read_only`])?
    pub fn read_only(self, op: &Op) -> bool {
        self.model().read_only(op)
    }
}

/// The model called `name`.
pub fn by_name(name: &str) -> Option<ModelKind> {
    ModelKind::ALL.iter().copied().find(|k| k.name() == name)
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
