//! faultline's own format: JSON Lines, one event per line (the README's "Checking a history
//! offline" shows them).
//!
//! The reader streams: one reused line buffer, a limit on a line's length, never the whole file
//! as one string. Each line is deserialized into a borrowing struct; the value is parsed
//! straight into [`Value`] (no intermediate `serde_json::Value`), which keeps a million-op file
//! well under a second to load. The writer appends and flushes every line, so a crash of the
//! harness loses nothing it already recorded.
//!
//! **A torn last line.** A line that has no newline after it can only be the last one of the
//! file; when it is not a complete JSON object because the input ends inside it (serde_json's
//! end-of-input error: an object or string left open), it is what a killed writer leaves. It
//! is recorded in [`Stats::torn_last_line`] and left out; the events before it are read as
//! usual. Every other line that does not parse, the last one included when it ends with a
//! newline or holds a wrong character, is an error naming its line (the crate's docs, "Torn
//! tails", say why).

use crate::error::Error;
use crate::event::{Event, EventType, Process};
use crate::op::{Op, Outcome, Value};
use crate::validate::{RawEvent, Validator};
use crate::{Stats, TornLine};
use serde::Deserialize;
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
    key: Option<Key<'a>>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    node: Option<Cow<'a, str>>,
    #[serde(default)]
    faultline: Option<serde::de::IgnoredAny>,
}

/// A `key`: a string (borrowed when it has no escapes), an integer, or null.
enum Key<'a> {
    Null,
    Str(Cow<'a, str>),
    Int(String),
    Bad(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Str(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key<'de>, E> {
                Ok(Key::Int(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key<'de>, E> {
                Ok(Key::Int(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key<'de>, E> {
                Ok(Key::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Key<'de>, E> {
                Ok(Key::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Key<'de>, E> {
                Ok(Key::Bad("a boolean"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key<'de>, E> {
                Ok(Key::Bad("a float"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Key<'de>, A::Error> {
                de::IgnoredAny.visit_seq(seq)?;
                Ok(Key::Bad("an array"))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Key<'de>, A::Error> {
                de::IgnoredAny.visit_map(map)?;
                Ok(Key::Bad("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Lines parsed together (in parallel) before they are validated in order.
const BATCH_LINES: usize = 16_384;

/// A batch of fewer lines than this is parsed on the calling thread: below it, handing the lines
/// to rayon's pool costs more than parsing them (a line parses in about a microsecond).
const PARALLEL_LINES_MIN: usize = 2_048;

/// What one line holds.
enum Parsed {
    Blank,
    Header(serde_json::Value),
    Event(RawEvent),
    /// The last line, cut off mid-object: why it does not parse.
    Torn(String),
}

/// A batch of lines read from the input: the bytes, where each line ends, its first line number.
#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    ends: Vec<usize>,
    first_line: u64,
}

impl Batch {
    /// Parses every line of the batch into `lines` (emptied first), in parallel when the batch
    /// is large enough to gain from it.
    fn parse_into(&self, lines: &mut Vec<Result<Parsed, Error>>, source: &str) {
        use rayon::prelude::*;
        lines.clear();
        let line = |k: usize| {
            let from = if k == 0 { 0 } else { self.ends[k - 1] };
            parse_line(
                &self.buf[from..self.ends[k]],
                self.first_line + k as u64,
                source,
            )
        };
        if self.ends.len() < PARALLEL_LINES_MIN {
            lines.extend((0..self.ends.len()).map(line));
        } else {
            lines.par_extend((0..self.ends.len()).into_par_iter().map(line));
        }
    }
}

/// Parsed lines of one batch, in file order.
struct ParsedBatch {
    lines: Vec<Result<Parsed, Error>>,
    first_line: u64,
}

/// Reads JSONL events into `validator`; returns the header line, if any.
///
/// A three-stage pipeline, so that reading, parsing and validating overlap: the calling thread
/// reads batches of [`BATCH_LINES`] lines into reused buffers; a parser thread parses each batch
/// in parallel (rayon); a validator thread feeds the events to `validator` in file order. Memory
/// stays bounded by a few batches, and the first error in file order is the one reported. An
/// input of less than one batch is read, parsed and validated on the calling thread alone.
///
/// One function of some 80 lines: the three stages live in one `thread::scope` and share its
/// four channels (batches, parsed batches and the two free lists); split apart, each stage
/// would take half of those channel ends as arguments.
pub fn read<R: BufRead>(
    mut reader: R,
    source: &str,
    validator: &mut Validator,
    stats: &mut Stats,
) -> Result<Option<serde_json::Value>, Error> {
    if rayon::current_thread_index().is_some() {
        // Called from inside a rayon pool (e.g. several files checked in parallel): blocking this
        // worker on the pipeline's channels while the parser waits for pool threads can deadlock
        // a small pool, so read, parse (in parallel, this thread taking part) and validate in turn.
        return read_in_pool(reader, source, validator, stats);
    }
    // The first batch is read here: an input that fits in it (most files) is parsed and
    // validated on this thread, without starting the pipeline's threads.
    let mut first = Batch::default();
    let mut line_no = 0u64;
    fill_batch(&mut reader, source, stats, &mut first, &mut line_no)?;
    if first.ends.len() < BATCH_LINES {
        let mut done = Validated::default();
        let mut lines = Vec::new();
        first.parse_into(&mut lines, source);
        validate_batch(&mut lines, first.first_line, source, validator, &mut done)?;
        return Ok(done.finish(stats));
    }
    use std::sync::mpsc::sync_channel;
    let (batch_tx, batch_rx) = sync_channel::<Batch>(2);
    let (parsed_tx, parsed_rx) = sync_channel::<ParsedBatch>(2);
    let (free_tx, free_rx) = sync_channel::<Batch>(4);
    let (free_parsed_tx, free_parsed_rx) = sync_channel::<Vec<Result<Parsed, Error>>>(4);
    std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            for batch in batch_rx {
                let mut lines = free_parsed_rx.try_recv().unwrap_or_default();
                batch.parse_into(&mut lines, source);
                let first_line = batch.first_line;
                let _ = free_tx.try_send(batch);
                if parsed_tx.send(ParsedBatch { lines, first_line }).is_err() {
                    break;
                }
            }
        });
        let checker = scope.spawn(move || -> Result<Validated, Error> {
            let mut done = Validated::default();
            for mut batch in parsed_rx {
                let first_line = batch.first_line;
                validate_batch(&mut batch.lines, first_line, source, validator, &mut done)?;
                let _ = free_parsed_tx.try_send(batch.lines);
            }
            Ok(done)
        });
        let read_result = match batch_tx.send(first) {
            Ok(()) => read_batches(&mut reader, source, stats, line_no, &batch_tx, &free_rx),
            Err(_) => Ok(()),
        };
        drop(batch_tx);
        let parsed = parser.join();
        let checked = checker.join();
        if parsed.is_err() {
            return Err(Error::at(
                source,
                0,
                None,
                "the parser thread panicked".into(),
            ));
        }
        match checked {
            Err(_) => Err(Error::at(
                source,
                0,
                None,
                "the validator thread panicked".into(),
            )),
            Ok(Err(e)) => Err(e),
            Ok(Ok(done)) => {
                read_result?;
                Ok(done.finish(stats))
            }
        }
    })
}

/// What validating the batches found besides the events given to the validator.
#[derive(Default)]
struct Validated {
    header: Option<serde_json::Value>,
    events: u64,
    torn: Option<TornLine>,
}

impl Validated {
    /// Adds what was found to `stats`; returns the header.
    fn finish(self, stats: &mut Stats) -> Option<serde_json::Value> {
        stats.events += self.events;
        stats.torn_last_line = self.torn;
        self.header
    }
}

/// Feeds one parsed batch to the validator in file order.
fn validate_batch(
    lines: &mut Vec<Result<Parsed, Error>>,
    first_line: u64,
    source: &str,
    validator: &mut Validator,
    done: &mut Validated,
) -> Result<(), Error> {
    for (k, p) in lines.drain(..).enumerate() {
        let line = first_line + k as u64;
        match p? {
            Parsed::Blank => {}
            Parsed::Header(h) if done.events == 0 && done.header.is_none() => done.header = Some(h),
            Parsed::Header(_) => {
                let msg = "a header line is only allowed before the first event";
                return Err(Error::at(source, line, Some("faultline"), msg.into()));
            }
            Parsed::Event(ev) => {
                done.events += 1;
                validator.push(ev)?;
            }
            // Only the last line of the input can lack its newline, so nothing follows.
            Parsed::Torn(reason) => done.torn = Some(TornLine { line, reason }),
        }
    }
    Ok(())
}

/// [`read`] for callers inside a rayon pool: no extra threads, no blocking channels.
fn read_in_pool<R: BufRead>(
    mut reader: R,
    source: &str,
    validator: &mut Validator,
    stats: &mut Stats,
) -> Result<Option<serde_json::Value>, Error> {
    let mut done = Validated::default();
    let mut batch = Batch::default();
    let mut lines = Vec::new();
    let mut line_no = 0u64;
    loop {
        fill_batch(&mut reader, source, stats, &mut batch, &mut line_no)?;
        if batch.ends.is_empty() {
            break;
        }
        batch.parse_into(&mut lines, source);
        validate_batch(&mut lines, batch.first_line, source, validator, &mut done)?;
    }
    Ok(done.finish(stats))
}

/// Reads up to [`BATCH_LINES`] lines into `batch` (emptied first).
fn fill_batch<R: BufRead>(
    reader: &mut R,
    source: &str,
    stats: &mut Stats,
    batch: &mut Batch,
    line_no: &mut u64,
) -> Result<(), Error> {
    batch.buf.clear();
    batch.ends.clear();
    batch.first_line = *line_no + 1;
    while batch.ends.len() < BATCH_LINES {
        let before = batch.buf.len();
        let n = (&mut *reader)
            .take(LINE_BYTES_MAX + 1)
            .read_until(b'\n', &mut batch.buf)
            .map_err(|e| Error::caused(source, *line_no + 1, "cannot read", e))?;
        if n == 0 {
            break;
        }
        *line_no += 1;
        stats.lines += 1;
        if n as u64 > LINE_BYTES_MAX {
            let msg = format!("line longer than {LINE_BYTES_MAX} bytes");
            return Err(Error::at(source, *line_no, None, msg));
        }
        batch.ends.push(before + n);
    }
    Ok(())
}

/// Reads the rest of the input (after line `line_no`) in batches and sends them on; stops at the
/// end, at an error, or when the receiver is gone (it found an error).
fn read_batches<R: BufRead>(
    reader: &mut R,
    source: &str,
    stats: &mut Stats,
    mut line_no: u64,
    out: &std::sync::mpsc::SyncSender<Batch>,
    free: &std::sync::mpsc::Receiver<Batch>,
) -> Result<(), Error> {
    loop {
        let mut batch = free.try_recv().unwrap_or_default();
        fill_batch(reader, source, stats, &mut batch, &mut line_no)?;
        if batch.ends.is_empty() || out.send(batch).is_err() {
            return Ok(());
        }
    }
}

fn parse_line(bytes: &[u8], line_no: u64, source: &str) -> Result<Parsed, Error> {
    let text = trim(bytes);
    if text.is_empty() {
        return Ok(Parsed::Blank);
    }
    if text[0] != b'{' {
        let msg = "bad JSON: expected an object like {\"type\":\"invoke\",...}".to_string();
        return Err(Error::at(source, line_no, None, msg));
    }
    let parsed: Result<Line, _> = serde_json::from_slice(text);
    if let Err(e) = &parsed {
        if e.is_eof() && bytes.last() != Some(&b'\n') {
            // serde_json counts lines within the slice, always 1 here: keep the column only.
            let reason = e.to_string().replace(" at line 1 column ", " at column ");
            return Ok(Parsed::Torn(reason));
        }
    }
    let line: Line = parsed.map_err(|e| {
        if e.is_data() {
            if let Some((field, msg)) = diagnose(text) {
                return Error::at(source, line_no, Some(field), msg);
            }
        }
        let what = if e.is_eof() {
            "truncated JSON"
        } else {
            "bad JSON"
        };
        Error::caused(source, line_no, what, e)
    })?;
    if line.faultline.is_some() && line.kind.is_none() {
        return Ok(Parsed::Header(
            serde_json::from_slice(text).unwrap_or(serde_json::Value::Null),
        ));
    }
    raw_event(line, text, line_no, source).map(Parsed::Event)
}

/// Finds the ill-typed field of a well-formed JSON line that did not deserialize (slow path,
/// only taken on errors): `("time", "expected a non-negative integer, found \"x\"")`.
fn diagnose(text: &[u8]) -> Option<(&'static str, String)> {
    use serde_json::Value as J;
    let J::Object(map) = serde_json::from_slice::<J>(text).ok()? else {
        return Some((
            "line",
            "expected a JSON object like {\"type\":\"invoke\",...}".into(),
        ));
    };
    type Check = (&'static str, &'static str, fn(&J) -> bool);
    let checks: [Check; 8] = [
        ("type", "a string", |v| v.is_string()),
        ("process", "a non-negative integer or a string", |v| {
            v.is_u64() || v.is_string()
        }),
        ("time", "a non-negative integer", |v| {
            v.is_u64() || v.is_null()
        }),
        ("index", "a non-negative integer", |v| {
            v.is_u64() || v.is_null()
        }),
        ("f", "a string", |v| v.is_string()),
        ("error", "a string", |v| v.is_string() || v.is_null()),
        ("node", "a string (the node's name)", |v| {
            v.is_string() || v.is_null()
        }),
        ("key", "a string or an integer", |v| {
            v.is_string() || v.is_i64() || v.is_u64() || v.is_null()
        }),
    ];
    checks.iter().find_map(|(field, what, ok)| {
        let v = map.get(*field)?;
        (!ok(v)).then(|| (*field, format!("expected {what}, found {v}")))
    })
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

fn raw_event(line: Line, text: &[u8], line_no: u64, source: &str) -> Result<RawEvent, Error> {
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
    let key = match line.key {
        None | Some(Key::Null) => None,
        Some(Key::Str(s)) => Some(s.into_owned()),
        Some(Key::Int(s)) => Some(s),
        Some(Key::Bad(what)) => {
            let msg = format!("expected a string or an integer, found {what}");
            return Err(Error::at(source, line_no, Some("key"), msg));
        }
    };
    let (value, nemesis_value) = match (&process, line.value) {
        (_, None) => (Value::Null, serde_json::Value::Null),
        (Process::Client(_), Some(v)) => (v, serde_json::Value::Null),
        // Nemesis values keep their JSON: parse the (rare) line again, as JSON.
        (_, Some(_)) => {
            let mut json: serde_json::Value =
                serde_json::from_slice(text).unwrap_or(serde_json::Value::Null);
            let value = json.get_mut("value").map(serde_json::Value::take);
            (Value::Null, value.unwrap_or_default())
        }
    };
    Ok(RawEvent {
        line: line_no,
        kind,
        process,
        f: match crate::op::F::parse(&f) {
            Some(known) => Cow::Borrowed(known.name()),
            None => Cow::Owned(f.into_owned()),
        },
        key,
        value,
        nemesis_value,
        time: line.time,
        error: line.error.map(Cow::into_owned),
        node: line.node.map(Cow::into_owned),
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
        let (kind, value, time, node) = if !is_ret {
            (
                EventType::Invoke,
                op.input.to_json(),
                op.call_time,
                &op.sent_to,
            )
        } else {
            let (kind, value) = match &op.outcome {
                Outcome::Ok(v) => (EventType::Ok, v.to_json()),
                Outcome::Fail => (EventType::Fail, op.input.to_json()),
                Outcome::Info => (EventType::Info, op.input.to_json()),
            };
            (kind, value, op.ret_time, &op.served_by)
        };
        let event = Event {
            index: Some(index as u64),
            kind,
            process: Process::Client(op.process),
            time,
            f: op.f.name().to_string(),
            key: op.key.clone(),
            value,
            node: node.as_deref().map(str::to_string),
            error: if is_ret { op.error.clone() } else { None },
        };
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    //! The reader takes one of two paths by the input's length (one batch on the calling thread,
    //! more through the pipeline): both must give the same events, line numbers and torn tails.
    use super::BATCH_LINES;
    use crate::{parse_reader, Format};

    /// `lines` lines: write ops completed in pairs by 4 processes (an even count).
    fn history(lines: usize) -> String {
        let mut s = String::new();
        for i in 0..lines / 2 {
            let p = i % 4;
            s +=
                &format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"write\",\"value\":{i}}}\n");
            s += &format!("{{\"type\":\"ok\",\"process\":{p},\"f\":\"write\",\"value\":{i}}}\n");
        }
        s
    }

    #[test]
    fn both_paths_read_every_line_at_every_batch_boundary() {
        for lines in [
            2,
            BATCH_LINES - 2,
            BATCH_LINES,
            BATCH_LINES + 2,
            3 * BATCH_LINES + 6,
        ] {
            let loaded = parse_reader(history(lines).as_bytes(), "h", Format::Jsonl).unwrap();
            assert_eq!(loaded.stats.lines, lines as u64, "{lines} lines");
            assert_eq!(loaded.stats.events, lines as u64, "{lines} lines");
            assert_eq!(loaded.history.ops.len(), lines / 2, "{lines} lines");
        }
    }

    #[test]
    fn an_error_in_a_later_batch_names_its_line() {
        for bad in [3, BATCH_LINES + 7, 2 * BATCH_LINES + 1] {
            let mut text: Vec<String> =
                history(3 * BATCH_LINES).lines().map(String::from).collect();
            text[bad - 1] = "{\"type\":\"okay\",\"process\":0,\"f\":\"write\",\"value\":1}".into();
            let err = parse_reader(text.join("\n").as_bytes(), "h", Format::Jsonl).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("h:{bad}:")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_torn_last_line_is_found_on_both_paths() {
        for lines in [4, BATCH_LINES + 4] {
            let mut text = history(lines);
            text += "{\"type\":\"invoke\",\"process\":0,\"f\":\"wri";
            let loaded = parse_reader(text.as_bytes(), "h", Format::Jsonl).unwrap();
            let torn = loaded.stats.torn_last_line.expect("torn");
            assert_eq!(torn.line, lines as u64 + 1);
            assert_eq!(loaded.history.ops.len(), lines / 2);
        }
    }
}
