//! The history model of faultline.
//!
//! A *history* is what a test records: one event per line, an `invoke` followed by exactly one
//! completion (`ok`, `fail` or `info`) per client process, plus nemesis events. This crate owns
//! its file format (JSONL, see `../shared/DESIGN.md`), the validation that pairs events into
//! [`Op`]s, and importers for histories recorded by Jepsen, Knossos and Porcupine.
//!
//! The checker consumes [`History`]; it never sees files.
#![deny(missing_docs)]

mod op;

pub use op::{Outcome, Op, Value, F};

/// A validated history: client operations paired and ordered by invoke.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Where it came from (a path, or a name for in-memory histories), for messages.
    pub source: String,
    /// Client operations, `ops[i].id == i`, in invoke order.
    pub ops: Vec<Op>,
}
