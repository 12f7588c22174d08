//! The paired-operation view of a history: what the checker consumes.
//!
//! A recorded history is a sequence of [`crate::Event`]s (an `invoke`, then one completion per
//! process). Checkers do not want events; they want operations with a call point, a return point
//! and an outcome. [`Op`] is that pairing, produced by validation (see `crate::validate`).
//!
//! Semantics follow Jepsen's:
//! - `ok`: the operation took effect between its call and its return;
//! - `fail`: it certainly did not take effect, and constrains nothing (also a failed cas);
//! - `info`: unknown; it may take effect at any point after its call, or never. Its return point
//!   is therefore "the end of the history" (`ret == None`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A value as the checker sees it: JSON without floats and objects, plus [`Value::Unknown`].
///
/// Floats and objects never occur as register values in practice; they are kept verbatim as
/// [`Value::Other`] (canonical JSON text) so that equality still works and nothing is lost.
/// The type is `Eq + Hash + Ord` so that models can memoize on it cheaply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Value {
    /// JSON `null`. For a register: the key does not exist.
    #[default]
    Null,
    /// The value was not learned (Jepsen/Knossos `nil` in an ok read). Constrains nothing.
    Unknown,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list (cas `[from, to]`, a txn's micro-ops, a micro-op `[f, k, v]`).
    List(Vec<Value>),
    /// Any other JSON (floats, objects, integers beyond i64), as canonical JSON text.
    Other(String),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON. [`Value::Unknown`] becomes `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Other(text) => serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Other(n.to_string()),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(_) => Value::Other(v.to_string()),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Unknown => write!(f, "?"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Other(t) => write!(f, "{t}"),
        }
    }
}

/// The operation's function. Unknown names are rejected by validation (they name the line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum F {
    /// Register read (value null on invoke, the value read on ok).
    Read,
    /// Register write.
    Write,
    /// Compare-and-set, value `[from, to]`.
    Cas,
    /// 6.824 / Porcupine kv get.
    Get,
    /// 6.824 / Porcupine kv put.
    Put,
    /// 6.824 / Porcupine kv append.
    Append,
    /// Knossos multi-register transaction: a list of `[f, k, v]` micro-ops.
    Txn,
    /// Mutex acquire.
    Acquire,
    /// Mutex release.
    Release,
}

impl F {
    /// Parses a name as found in JSONL (`"cas"`) or EDN (`:cas`, without the colon).
    pub fn parse(name: &str) -> Option<F> {
        Some(match name {
            "read" => F::Read,
            "write" => F::Write,
            "cas" => F::Cas,
            "get" => F::Get,
            "put" => F::Put,
            "append" => F::Append,
            "txn" => F::Txn,
            "acquire" => F::Acquire,
            "release" => F::Release,
            _ => return None,
        })
    }

    /// The lowercase name, as written in JSONL.
    pub fn name(self) -> &'static str {
        match self {
            F::Read => "read",
            F::Write => "write",
            F::Cas => "cas",
            F::Get => "get",
            F::Put => "put",
            F::Append => "append",
            F::Txn => "txn",
            F::Acquire => "acquire",
            F::Release => "release",
        }
    }

    /// Every name accepted by [`F::parse`], for error messages.
    pub const NAMES: &'static str = "read, write, cas, get, put, append, txn, acquire, release";
}

impl fmt::Display for F {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It took effect; the value is the completion's value (the value read, for a read).
    Ok(Value),
    /// It certainly did not take effect.
    Fail,
    /// Unknown: it may take effect at any time after its call, or never.
    Info,
}

/// One client operation: an invoke paired with its completion.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Op {
    /// Position of this op in the history, by invoke order (0-based, dense).
    pub id: usize,
    /// The client process that ran it.
    pub process: u64,
    /// The function.
    pub f: F,
    /// The key, for keyed operations (`None` for single registers, txns and mutexes).
    pub key: Option<String>,
    /// The value on the invoke (write: the value; cas: `[from, to]`; read: null).
    pub input: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// The invoke's position in the event sequence (0-based event number). Orders calls and
    /// returns; wall-clock `time` is not used for ordering because clocks may tie.
    pub call: u64,
    /// The completion's position in the event sequence; `None` for `info` (open to the end).
    pub ret: Option<u64>,
    /// Source line of the invoke (1-based), for messages.
    pub call_line: u64,
    /// Source line of the completion (1-based), if any.
    pub ret_line: Option<u64>,
    /// Time of the invoke in nanoseconds since the start, if recorded.
    pub call_time: Option<u64>,
    /// Time of the completion in nanoseconds since the start, if recorded.
    pub ret_time: Option<u64>,
    /// The completion's `error` field, if any.
    pub error: Option<String>,
    /// The node the op was first sent to (the invoke's `node`), if recorded.
    ///
    /// Node names are shared (`Arc<str>`): a history has a handful of nodes and a million ops,
    /// so each op holds a pointer to its node's one copy of the name, not a copy of its own.
    pub sent_to: Option<Arc<str>>,
    /// The node whose answer decided the op (the completion's `node`), if recorded: the node
    /// that answered an `ok` or a `fail`; for an `info`, the node of the last attempt, the one
    /// that did not answer.
    pub served_by: Option<Arc<str>>,
}

impl Op {
    /// The value this operation returned if it completed ok.
    pub fn ok_value(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }
}
