//! The recorder: every client op and nemesis event, appended to `history.jsonl` as it happens.
//!
//! One writer behind a mutex; each event gets the next `index` and `time` (nanoseconds since the
//! run started, monotonic) under the same lock, so the file's order is the order of `index` and
//! of `time`. The writer flushes every line: a crash of the harness loses nothing it recorded.
//! A write error is remembered and reported at the end instead of aborting clients mid-run.

use crate::clients::adapter::{Completion, Invocation, OpKind};
use histories::{Event, EventType, HistoryWriter, Process};
use serde_json::json;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Appends events to a history file.
pub struct Recorder {
    inner: Mutex<Inner>,
    start: Instant,
}

struct Inner {
    writer: HistoryWriter,
    index: u64,
    error: Option<io::Error>,
}

impl Recorder {
    /// Creates `path` (which must not exist) and starts the clock.
    pub fn create(path: &Path, header: serde_json::Value) -> io::Result<Recorder> {
        let mut writer = HistoryWriter::create(path)?;
        writer.write_header(&header)?;
        Ok(Recorder {
            inner: Mutex::new(Inner {
                writer,
                index: 0,
                error: None,
            }),
            start: Instant::now(),
        })
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn append(&self, mut event: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        event.index = Some(inner.index);
        event.time = Some(self.now_ns());
        inner.index += 1;
        if inner.error.is_none() {
            if let Err(e) = inner.writer.write_event(&event) {
                inner.error = Some(e);
            }
        }
    }

    /// Records the invoke of `inv` by `process`, sent first to `node`.
    pub fn invoke(&self, process: u64, inv: &Invocation, node: Option<&str>) {
        let value = match inv.kind {
            OpKind::Read => serde_json::Value::Null,
            OpKind::Write(v) => json!(v),
            OpKind::Cas(from, to) => json!([from, to]),
        };
        self.append(client_event(
            EventType::Invoke,
            process,
            inv,
            value,
            None,
            node,
        ));
    }

    /// Records the completion of `inv` by `process`; `node` decided it (answered, or did not
    /// answer its last attempt).
    pub fn complete(
        &self,
        process: u64,
        inv: &Invocation,
        completion: &Completion,
        node: Option<&str>,
    ) {
        let input = match inv.kind {
            OpKind::Read => serde_json::Value::Null,
            OpKind::Write(v) => json!(v),
            OpKind::Cas(from, to) => json!([from, to]),
        };
        let (kind, value, error) = match completion {
            Completion::Ok(read) if inv.kind == OpKind::Read => (EventType::Ok, json!(read), None),
            Completion::Ok(_) => (EventType::Ok, input, None),
            Completion::Fail(why) => (EventType::Fail, input, Some(why.clone())),
            Completion::Info(why) => (EventType::Info, input, Some(why.clone())),
        };
        self.append(client_event(kind, process, inv, value, error, node));
    }

    /// Records an event of a workload without keys (Maelstrom's `broadcast`, `add`,
    /// `generate`, ...): `kind` invoke/ok/fail/info, `value` the input or the ok output.
    pub fn op(
        &self,
        kind: EventType,
        process: u64,
        f: &str,
        value: serde_json::Value,
        node: Option<&str>,
        error: Option<String>,
    ) {
        self.append(Event {
            index: None,
            kind,
            process: Process::Client(process),
            time: None,
            f: f.to_string(),
            key: None,
            value,
            node: node.map(String::from),
            error,
        });
    }

    /// Records a nemesis event (`f` like `start-partition`, `value` its details).
    pub fn nemesis(&self, f: &str, value: serde_json::Value) {
        self.append(Event {
            index: None,
            kind: EventType::Info,
            process: Process::Nemesis,
            time: None,
            f: f.to_string(),
            key: None,
            value,
            node: None,
            error: None,
        });
    }

    /// Flushes to disk (fsync) and returns the first write error, if any happened.
    pub fn finish(&self) -> io::Result<u64> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        inner.writer.sync()?;
        Ok(inner.index)
    }
}

fn client_event(
    kind: EventType,
    process: u64,
    inv: &Invocation,
    value: serde_json::Value,
    error: Option<String>,
    node: Option<&str>,
) -> Event {
    Event {
        index: None,
        kind,
        process: Process::Client(process),
        time: None,
        f: inv.kind.name().to_string(),
        key: Some(inv.key.clone()),
        value,
        node: node.map(String::from),
        error,
    }
}
