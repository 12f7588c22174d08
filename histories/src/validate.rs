//! Validation: pairs a stream of events into [`Op`]s, rejecting histories that break the rules
//! of the history format (one completion per invoke, by the same process, for the same `f` and key; a
//! process whose op ended `info` never invokes again).
//!
//! Every importer feeds the same [`Validator`], so the rules and their messages are the same
//! whatever the input format. An invoke still open at the end of the file is treated as `info`
//! (as Knossos does: the client never learned the outcome) and counted.

use crate::error::Error;
use crate::event::{EventType, Process};
use crate::op::{Op, Outcome, Value, F};
use crate::{History, NemesisEvent};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One client or nemesis event, as read by an importer.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// 1-based source line.
    pub line: u64,
    /// The event's type.
    pub kind: EventType,
    /// Who.
    pub process: Process,
    /// The function's name as written (borrowed `'static` when it is one of [`F::NAMES`]).
    pub f: Cow<'static, str>,
    /// The key, if any.
    pub key: Option<String>,
    /// The value (client events).
    pub value: Value,
    /// The raw value (nemesis events keep their JSON).
    pub nemesis_value: serde_json::Value,
    /// Nanoseconds since the start, if recorded.
    pub time: Option<u64>,
    /// The error, if any.
    pub error: Option<String>,
    /// The node the op was sent to (an invoke) or answered by (a completion), if recorded.
    pub node: Option<String>,
}

/// Processes below this are tracked in a vector, the others in a map.
const DENSE_PROCESSES: u64 = 1 << 16;
/// How far beyond the number of operations so far a process may be and still get a slot in the
/// vector (clients are numbered from 0; Jepsen renumbers a crashed one by adding the
/// concurrency).
const DENSE_SLACK: usize = 1024;

struct Open {
    op: usize,
    line: u64,
}

/// Pairs events into operations, one event at a time (constant memory besides the ops).
pub struct Validator {
    source: String,
    ops: Vec<Op>,
    /// Open ops of processes below [`DENSE_PROCESSES`], indexed by process.
    open_dense: Vec<Option<Open>>,
    /// Open ops of the other processes.
    open: HashMap<u64, Open>,
    /// How many ops are open.
    open_count: u64,
    retired: HashMap<u64, u64>,
    position: u64,
    nemesis: Vec<NemesisEvent>,
    /// Every node name seen, one shared copy each (ops point to them).
    nodes: HashSet<Arc<str>>,
}

impl Validator {
    /// A validator whose errors name `source`.
    pub fn new(source: &str) -> Validator {
        Validator {
            source: source.to_string(),
            ops: Vec::new(),
            open_dense: Vec::new(),
            open: HashMap::new(),
            open_count: 0,
            retired: HashMap::new(),
            position: 0,
            nemesis: Vec::new(),
            nodes: HashSet::new(),
        }
    }

    /// A validator expecting about `ops` operations (reserves room for them).
    pub fn with_capacity(source: &str, ops: usize) -> Validator {
        let mut v = Validator::new(source);
        v.ops.reserve(ops);
        v
    }

    fn open_get(&self, process: u64) -> Option<&Open> {
        let dense = usize::try_from(process)
            .ok()
            .and_then(|i| self.open_dense.get(i))
            .and_then(Option::as_ref);
        match dense {
            Some(open) => Some(open),
            None if self.open.is_empty() => None,
            None => self.open.get(&process),
        }
    }

    /// Puts `open` in the vector when `process` is below [`DENSE_PROCESSES`] and not far beyond
    /// the operations seen so far (so that one event of process 65535 does not allocate a
    /// vector of 65536 slots), else in the map. The vector only grows, so a process may sit in
    /// the map and later fall within the vector's range: lookups try both.
    fn open_insert(&mut self, process: u64, open: Open) {
        self.open_count += 1;
        let dense_slot = usize::try_from(process).ok().filter(|&i| {
            i < self.open_dense.len()
                || (process < DENSE_PROCESSES && i <= self.ops.len() + DENSE_SLACK)
        });
        match dense_slot {
            Some(i) => {
                if self.open_dense.len() <= i {
                    self.open_dense.resize_with(i + 1, || None);
                }
                self.open_dense[i] = Some(open);
            }
            None => {
                self.open.insert(process, open);
            }
        }
    }

    fn open_remove(&mut self, process: u64) -> Option<Open> {
        let dense = usize::try_from(process)
            .ok()
            .and_then(|i| self.open_dense.get_mut(i))
            .and_then(Option::take);
        let removed = match dense {
            Some(open) => Some(open),
            None if self.open.is_empty() => None,
            None => self.open.remove(&process),
        };
        if removed.is_some() {
            self.open_count -= 1;
        }
        removed
    }

    /// The shared copy of a node's name.
    fn node(&mut self, name: Option<String>) -> Option<Arc<str>> {
        let name = name?;
        if let Some(shared) = self.nodes.get(name.as_str()) {
            return Some(shared.clone());
        }
        let shared: Arc<str> = Arc::from(name);
        self.nodes.insert(shared.clone());
        Some(shared)
    }

    fn err(&self, line: u64, field: &str, message: String) -> Error {
        Error::at(&self.source, line, Some(field), message)
    }

    /// Adds one event.
    pub fn push(&mut self, ev: RawEvent) -> Result<(), Error> {
        let process = match ev.process {
            Process::Client(p) => p,
            Process::Nemesis | Process::Named(_) => {
                self.nemesis.push(NemesisEvent {
                    time: ev.time,
                    f: ev.f.into_owned(),
                    value: ev.nemesis_value,
                    line: ev.line,
                });
                return Ok(());
            }
        };
        let f = F::parse(&ev.f).ok_or_else(|| {
            self.err(
                ev.line,
                "f",
                format!("expected one of {}, found {:?}", F::NAMES, ev.f),
            )
        })?;
        let position = self.position;
        self.position += 1;
        match ev.kind {
            EventType::Invoke => self.invoke(process, f, ev, position),
            _ => self.complete(process, f, ev, position),
        }
    }

    fn invoke(&mut self, process: u64, f: F, ev: RawEvent, position: u64) -> Result<(), Error> {
        if let Some(open) = self.open_get(process) {
            let msg = format!(
                "process {process} invokes again while its operation from line {} is still open",
                open.line
            );
            return Err(self.err(ev.line, "process", msg));
        }
        if let Some(line) = self.retired.get(&process) {
            let msg = format!(
                "process {process} is reused after its operation ended `info` at line {line}; \
                 a process whose operation is unknown must never invoke again"
            );
            return Err(self.err(ev.line, "process", msg));
        }
        let id = self.ops.len();
        let sent_to = self.node(ev.node);
        self.ops.push(Op {
            id,
            process,
            f,
            key: ev.key,
            input: ev.value,
            outcome: Outcome::Info,
            call: position,
            ret: None,
            call_line: ev.line,
            ret_line: None,
            call_time: ev.time,
            ret_time: None,
            error: None,
            sent_to,
            served_by: None,
        });
        self.open_insert(
            process,
            Open {
                op: id,
                line: ev.line,
            },
        );
        Ok(())
    }

    fn complete(&mut self, process: u64, f: F, ev: RawEvent, position: u64) -> Result<(), Error> {
        let Some(open) = self.open_remove(process) else {
            let msg = match self.retired.get(&process) {
                Some(l) => format!("process {process} completes again after `info` at line {l}"),
                None => {
                    format!("a completion with no invoke: process {process} has no open operation")
                }
            };
            return Err(self.err(ev.line, "type", msg));
        };
        let served_by = self.node(ev.node);
        let op = &mut self.ops[open.op];
        if op.f != f {
            let msg = format!(
                "expected {:?} (as invoked at line {}), found {:?}",
                op.f.name(),
                open.line,
                f.name()
            );
            return Err(Error::at(&self.source, ev.line, Some("f"), msg));
        }
        if op.key != ev.key {
            let msg = format!(
                "expected {:?} (as invoked at line {}), found {:?}",
                op.key, open.line, ev.key
            );
            return Err(Error::at(&self.source, ev.line, Some("key"), msg));
        }
        op.error = ev.error;
        op.ret_time = ev.time;
        op.served_by = served_by;
        match ev.kind {
            EventType::Ok => {
                let value = match (f, ev.value) {
                    (F::Read | F::Get | F::Txn, v) => v,
                    (_, Value::Null) => op.input.clone(),
                    (_, v) => v,
                };
                op.outcome = Outcome::Ok(value);
                op.ret = Some(position);
                op.ret_line = Some(ev.line);
            }
            EventType::Fail => {
                op.outcome = Outcome::Fail;
                op.ret = Some(position);
                op.ret_line = Some(ev.line);
            }
            EventType::Info => {
                op.outcome = Outcome::Info;
                op.ret_line = Some(ev.line);
                self.retired.insert(process, ev.line);
            }
            EventType::Invoke => unreachable!("invokes are handled by `invoke`"),
        }
        Ok(())
    }

    /// The history; returns it and the number of invokes still open (now `info`).
    pub fn finish(self) -> (History, u64) {
        let open = self.open_count;
        let history = History {
            source: self.source,
            ops: self.ops,
            nemesis: self.nemesis,
            header: None,
        };
        (history, open)
    }
}
