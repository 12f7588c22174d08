//! faultline's own format: JSON Lines, one event per line (DESIGN.md, "History format").
//!
//! The reader streams: one reused line buffer, a limit on a line's length, never the whole file
//! as one string. Each line is deserialized into a borrowing struct; the value is parsed
//! straight into [`Value`] (no intermediate `serde_json::Value`), which keeps a million-op file
//! well under a second to load. The writer appends and flushes every line, so a crash of the
//! harness loses nothing it already recorded.

use crate::error::Error;
use crate::event::{Event, EventType, Process};
use crate::op::{Op, Outcome, Value};
use crate::validate::{RawEvent, Validator};
use crate::Stats;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;

/// Longest line accepted, in bytes.
pub const LINE_BYTES_MAX: u64 = 16 << 20;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    process: Option<Process>,
    #[serde(default)]
    time: Option<u64>,
    #[serde(borrow, default)]
    f: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
    #[serde(default)]
    faultline: Option<serde_json::Value>,
}

/// Lines parsed together (in parallel) before they are validated in order.
const BATCH_LINES: usize = 16_384;

/// What one line holds.
enum Parsed {
    Blank,
    Header(serde_json::Value),
    Event(RawEvent),
}

/// Reads JSONL events into `validator`; returns the header line, if any.
///
/// Lines are read in batches of [`BATCH_LINES`] into one buffer, parsed in parallel (rayon),
/// then validated in file order: memory stays bounded by the batch, and the first error in
/// file order is the one reported.
pub fn read<R: BufRead>(
    mut reader: R,
    source: &str,
    validator: &mut Validator,
    stats: &mut Stats,
) -> Result<Option<serde_json::Value>, Error> {
    use rayon::prelude::*;
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(BATCH_LINES);
    let mut header = None;
    let mut line_no = 0u64;
    loop {
        buf.clear();
        ends.clear();
        let first_line = line_no + 1;
        while ends.len() < BATCH_LINES {
            let before = buf.len();
            let n = (&mut reader)
                .take(LINE_BYTES_MAX + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::at(source, line_no + 1, None, format!("cannot read: {e}")))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if n as u64 > LINE_BYTES_MAX {
                let msg = format!("line longer than {LINE_BYTES_MAX} bytes");
                return Err(Error::at(source, line_no, None, msg));
            }
            ends.push(before + n);
        }
        if ends.is_empty() {
            break;
        }
        stats.lines += ends.len() as u64;
        let parsed: Vec<Result<Parsed, Error>> = (0..ends.len())
            .into_par_iter()
            .map(|k| {
                let from = if k == 0 { 0 } else { ends[k - 1] };
                parse_line(&buf[from..ends[k]], first_line + k as u64, source)
            })
            .collect();
        for (k, p) in parsed.into_iter().enumerate() {
            match p? {
                Parsed::Blank => {}
                Parsed::Header(h) if stats.events == 0 && header.is_none() => header = Some(h),
                Parsed::Header(_) => {
                    let msg = "a header line is only allowed before the first event".to_string();
                    let line = first_line + k as u64;
                    return Err(Error::at(source, line, Some("faultline"), msg));
                }
                Parsed::Event(ev) => {
                    stats.events += 1;
                    validator.push(ev)?;
                }
            }
        }
    }
    Ok(header)
}

fn parse_line(bytes: &[u8], line_no: u64, source: &str) -> Result<Parsed, Error> {
    let text = trim(bytes);
    if text.is_empty() {
        return Ok(Parsed::Blank);
    }
    let line: Line = serde_json::from_slice(text).map_err(|e| {
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "bad JSON"
        };
        Error::at(source, line_no, None, format!("{what}: {e}"))
    })?;
    if line.faultline.is_some() && line.kind.is_none() {
        return Ok(Parsed::Header(
            serde_json::from_slice(text).unwrap_or(serde_json::Value::Null),
        ));
    }
    raw_event(line, line_no, source).map(Parsed::Event)
}

fn trim(buf: &[u8]) -> &[u8] {
    let end = buf
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let start = buf[..end]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(end);
    &buf[start..end]
}

fn raw_event(line: Line, line_no: u64, source: &str) -> Result<RawEvent, Error> {
    let missing = |field: &str, what: &str| {
        Error::at(
            source,
            line_no,
            Some(field),
            format!("missing; expected {what}"),
        )
    };
    let kind_text = line
        .kind
        .ok_or_else(|| missing("type", "one of invoke, ok, fail, info"))?;
    let kind = EventType::parse(&kind_text).ok_or_else(|| {
        let msg = format!("expected one of invoke, ok, fail, info, found {kind_text:?}");
        Error::at(source, line_no, Some("type"), msg)
    })?;
    let process = line
        .process
        .ok_or_else(|| missing("process", "an integer or \"nemesis\""))?;
    let f = line
        .f
        .ok_or_else(|| missing("f", "the operation's function"))?;
    let bad = |field: &str, e: serde_json::Error| {
        Error::at(source, line_no, Some(field), format!("bad value: {e}"))
    };
    let key = match line.key {
        None => None,
        Some(raw) => match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Ok(serde_json::Value::String(s)) => Some(s),
            Ok(serde_json::Value::Number(n)) => Some(n.to_string()),
            Ok(serde_json::Value::Null) => None,
            Ok(other) => {
                let msg = format!("expected a string or an integer, found {other}");
                return Err(Error::at(source, line_no, Some("key"), msg));
            }
            Err(e) => return Err(bad("key", e)),
        },
    };
    let (value, nemesis_value) = match (&process, line.value) {
        (_, None) => (Value::Null, serde_json::Value::Null),
        (Process::Client(_), Some(raw)) => (
            serde_json::from_str(raw.get()).map_err(|e| bad("value", e))?,
            serde_json::Value::Null,
        ),
        (_, Some(raw)) => (
            Value::Null,
            serde_json::from_str(raw.get()).map_err(|e| bad("value", e))?,
        ),
    };
    Ok(RawEvent {
        line: line_no,
        kind,
        process,
        f: f.into_owned(),
        key,
        value,
        nemesis_value,
        time: line.time,
        error: line.error.map(Cow::into_owned),
    })
}

/// Appends events to a history file, one flushed line each.
pub struct HistoryWriter {
    out: BufWriter<File>,
}

impl HistoryWriter {
    /// Creates `path` (it must not exist yet) for appending.
    pub fn create(path: &Path) -> io::Result<HistoryWriter> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        Ok(HistoryWriter {
            out: BufWriter::new(file),
        })
    }

    /// Writes the header line `{"faultline":1,...}`.
    pub fn write_header(&mut self, header: &serde_json::Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, header)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Writes one event as one line and flushes it to the OS.
    pub fn write_event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Makes everything written so far durable (fsync).
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

/// Renders paired operations back to JSONL events, in call/return order; `info` ops get their
/// `info` completion at the end. The output loads back to the same operations.
pub fn write_ops<W: Write>(ops: &[Op], w: W) -> io::Result<()> {
    let mut out = BufWriter::new(w);
    let mut points: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for op in ops {
        points.push((op.call, false, op.id));
        points.push((op.ret.unwrap_or(u64::MAX), true, op.id));
    }
    points.sort_unstable();
    for (index, &(_, is_ret, id)) in points.iter().enumerate() {
        let op = &ops[id];
        let (kind, value, time) = if !is_ret {
            (EventType::Invoke, op.input.to_json(), op.call_time)
        } else {
            match &op.outcome {
                Outcome::Ok(v) => (EventType::Ok, v.to_json(), op.ret_time),
                Outcome::Fail => (EventType::Fail, op.input.to_json(), op.ret_time),
                Outcome::Info => (EventType::Info, op.input.to_json(), op.ret_time),
            }
        };
        let event = Event {
            index: Some(index as u64),
            kind,
            process: Process::Client(op.process),
            time,
            f: op.f.name().to_string(),
            key: op.key.clone(),
            value,
            error: if is_ret { op.error.clone() } else { None },
        };
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
