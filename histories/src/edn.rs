//! Importers for histories recorded by other tools: Jepsen/Knossos EDN, Jepsen log lines, and
//! Porcupine's 6.824 key-value format (EDN maps with `:key`).
//!
//! **Why a hand-written EDN reader.** The crates.io EDN parsers we looked at (`edn-rs`,
//! `edn-format`) either recurse on nesting (a crafted file overflows the stack) or do not report
//! source lines, and we need both: no panic on any input, and `file:line` in every error. The
//! subset here is what Jepsen writes: `nil`, booleans, integers, floats (kept as text),
//! strings with escapes, keywords, symbols, vectors, lists, sets, maps, `;` comments, `#_`
//! discards, commas as whitespace. Nesting uses an explicit stack, bounded by
//! [`DEPTH_MAX`].
//!
//! **Semantics.** An `ok` read of `nil` means the client did not learn the value (Knossos
//! treats it so): it becomes [`Value::Unknown`], which constrains nothing. Keywords become
//! strings without the colon. Values are converted as Jepsen means them: `[1 4]` for a cas.
//!
//! **A torn last line.** In a file of one op map per line (Jepsen's `history.edn`, Porcupine's
//! kv files), the last op map may be cut off by a crash. It is torn, recorded in
//! [`Stats::torn_last_line`] and left out, when the input ends inside it (a map, vector or
//! string still open), the map starts on the last line and the file does not end with a
//! newline. An unclosed map that starts on an earlier line, a wrong character or an odd map
//! on the last line, and a file that is one vector `[...]` cut off stay errors (the crate's
//! docs, "Torn tails", say why).

use crate::error::Error;
use crate::event::{EventType, Process};
use crate::op::Value;
use crate::validate::{RawEvent, Validator};
use crate::{Stats, TornLine};
use std::io::{BufRead, Read};

/// Deepest nesting accepted.
pub const DEPTH_MAX: usize = 256;
/// Largest EDN input accepted (EDN histories are read whole; JSONL ones are streamed).
pub const EDN_BYTES_MAX: u64 = 1 << 30;

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Text(String),
    Str(String),
    Keyword(String),
    Symbol(String),
    Vec(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

/// A parsed form and the line it starts on.
struct Form {
    line: u64,
    value: Edn,
    /// Start line of each element, when the form is a collection.
    item_lines: Vec<u64>,
}

#[derive(Clone, Copy, PartialEq)]
enum Open {
    Vec,
    List,
    Set,
    Map,
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    line: u64,
    source: &'a str,
    /// The outermost collection of the form being read: its kind and start line.
    outer: Option<(Open, u64)>,
    /// The last error was the input ending inside a form (not a wrong character).
    at_eof: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8], line: u64, source: &'a str) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            line,
            source,
            outer: None,
            at_eof: false,
        }
    }

    fn err(&self, msg: String) -> Error {
        Error::at(self.source, self.line, None, msg)
    }

    /// An error because the input ends inside a form.
    fn eof_err(&mut self, msg: String) -> Error {
        self.at_eof = true;
        self.err(msg)
    }

    fn skip_ws(&mut self) -> Result<(), Error> {
        while let Some(&c) = self.src.get(self.pos) {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.src.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Reads one complete form, or `None` at the end of input.
    ///
    /// Long (about 115 lines) because it is one loop over tokens with an explicit stack of
    /// open collections (no recursion, so deep nesting cannot overflow the stack); every token
    /// kind pushes to, pops from or adds to that stack and the pending `#_` discards.
    fn form(&mut self) -> Result<Option<Form>, Error> {
        let mut stack: Vec<(Open, Vec<Edn>, u64)> = Vec::new();
        let mut discards: Vec<usize> = Vec::new();
        let mut top_lines = Vec::new();
        self.outer = None;
        self.at_eof = false;
        loop {
            self.skip_ws()?;
            let Some(&c) = self.src.get(self.pos) else {
                if let Some((_, _, line)) = stack.last() {
                    let line = *line;
                    let msg = match stack.first() {
                        Some((Open::Vec, _, outer)) if stack.len() > 1 => format!(
                            "unexpected end of input: a collection opened at line {line} is not \
                             closed, nor is the vector opened at line {outer} (a cut-off vector \
                             is not recovered: only the last line of a file of one op per line \
                             may be torn)"
                        ),
                        _ => format!(
                            "unexpected end of input: a collection opened at line {line} is not closed"
                        ),
                    };
                    return Err(self.eof_err(msg));
                }
                return Ok(None);
            };
            let mut start_line = self.line;
            let value = match c {
                b'[' | b'(' | b'{' => {
                    let kind = match c {
                        b'[' => Open::Vec,
                        b'(' => Open::List,
                        _ => Open::Map,
                    };
                    self.pos += 1;
                    if stack.len() >= DEPTH_MAX {
                        return Err(self.err(format!("nesting deeper than {DEPTH_MAX}")));
                    }
                    if stack.is_empty() {
                        self.outer = Some((kind, start_line));
                    }
                    stack.push((kind, Vec::new(), start_line));
                    continue;
                }
                b'#' if self.src.get(self.pos + 1) == Some(&b'{') => {
                    self.pos += 2;
                    if stack.len() >= DEPTH_MAX {
                        return Err(self.err(format!("nesting deeper than {DEPTH_MAX}")));
                    }
                    if stack.is_empty() {
                        self.outer = Some((Open::Set, start_line));
                    }
                    stack.push((Open::Set, Vec::new(), start_line));
                    continue;
                }
                b'#' if self.src.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    discards.push(stack.len());
                    continue;
                }
                b']' | b')' | b'}' => {
                    self.pos += 1;
                    let Some((kind, items, line)) = stack.pop() else {
                        return Err(self.err(format!("unexpected `{}`", c as char)));
                    };
                    start_line = line;
                    let expected = match kind {
                        Open::Vec => b']',
                        Open::List => b')',
                        Open::Set | Open::Map => b'}',
                    };
                    if c != expected {
                        return Err(self.err(format!(
                            "expected `{}` to close the collection opened at line {line}, found `{}`",
                            expected as char, c as char
                        )));
                    }
                    match kind {
                        Open::Map => {
                            if items.len() % 2 != 0 {
                                return Err(self.err(format!(
                                    "the map opened at line {line} has an odd number of forms"
                                )));
                            }
                            let mut it = items.into_iter();
                            let mut pairs = Vec::new();
                            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                                pairs.push((k, v));
                            }
                            Edn::Map(pairs)
                        }
                        _ => Edn::Vec(items),
                    }
                }
                b'"' => self.string()?,
                _ => self.atom()?,
            };
            if discards.last() == Some(&stack.len()) {
                discards.pop();
                continue;
            }
            if stack.len() == 1 {
                top_lines.push(start_line);
            }
            match stack.last_mut() {
                Some((_, items, _)) => items.push(value),
                None => {
                    let item_lines = std::mem::take(&mut top_lines);
                    return Ok(Some(Form {
                        line: start_line,
                        value,
                        item_lines,
                    }));
                }
            }
        }
    }

    fn string(&mut self) -> Result<Edn, Error> {
        let start = self.line;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Err(self.eof_err(format!("unterminated string starting at line {start}")));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.src.get(self.pos) else {
                        return Err(self.eof_err("unterminated escape".into()));
                    };
                    self.pos += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                b'\n' => {
                    self.line += 1;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        Ok(Edn::Str(String::from_utf8_lossy(&out).into_owned()))
    }

    fn atom(&mut self) -> Result<Edn, Error> {
        let start = self.pos;
        while let Some(&c) = self.src.get(self.pos) {
            if c.is_ascii_whitespace() || b",()[]{}\";".contains(&c) {
                break;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err(format!(
                "unexpected character {:?}",
                self.src[start] as char
            )));
        }
        let tok = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
        Ok(match tok.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            t if t.starts_with(':') => Edn::Keyword(t[1..].to_string()),
            t => match t.trim_end_matches('N').parse::<i64>() {
                Ok(i) => Edn::Int(i),
                Err(_) if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') => {
                    Edn::Text(t.to_string())
                }
                Err(_) => Edn::Symbol(t.to_string()),
            },
        })
    }
}

/// Reads Jepsen/Knossos EDN (and Porcupine's kv files, which are EDN maps with `:key`).
pub fn read_edn<R: BufRead>(
    reader: R,
    source: &str,
    validator: &mut Validator,
    stats: &mut Stats,
) -> Result<(), Error> {
    let mut bytes = Vec::new();
    reader
        .take(EDN_BYTES_MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::caused(source, 0, "cannot read", e))?;
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
    stats.lines = newlines + u64::from(unterminated);
    let mut p = Parser::new(&bytes, 1, source);
    loop {
        let form = match p.form() {
            Ok(Some(form)) => form,
            Ok(None) => break,
            Err(e) => {
                // Torn: the input ended inside an op map that starts on the last line, which
                // has no newline after it (so no newline follows the map's start).
                let torn = p.at_eof
                    && unterminated
                    && matches!(p.outer, Some((Open::Map, line)) if line == p.line);
                if !torn {
                    return Err(e);
                }
                stats.torn_last_line = Some(TornLine {
                    line: p.line,
                    reason: e.message,
                });
                break;
            }
        };
        match form.value {
            Edn::Vec(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let line = form.item_lines.get(i).copied().unwrap_or(form.line);
                    push_op(item, line, source, validator, stats)?;
                }
            }
            other => push_op(other, form.line, source, validator, stats)?,
        }
    }
    Ok(())
}

/// Turns one EDN op map into an event for `validator`: each field (`:type`, `:f`, `:process`,
/// `:key`, `:value`, `:time`, `:error`, `:node`) is read and checked in turn, with an error naming the
/// field. Long (about 90 lines) because it is that list of fields, one short block each.
fn push_op(
    value: Edn,
    line: u64,
    source: &str,
    validator: &mut Validator,
    stats: &mut Stats,
) -> Result<(), Error> {
    let Edn::Map(pairs) = value else {
        return Err(Error::at(
            source,
            line,
            None,
            "expected an op map like {:type :invoke, :f :read, :process 0, :value nil}".into(),
        ));
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| matches!(key, Edn::Keyword(n) if n == k))
            .map(|(_, v)| v)
    };
    let field_err = |field: &str, msg: String| Error::at(source, line, Some(field), msg);
    let kind = match get("type") {
        Some(Edn::Keyword(t)) => EventType::parse(t).ok_or_else(|| {
            field_err(
                ":type",
                format!("expected one of :invoke, :ok, :fail, :info, found :{t}"),
            )
        })?,
        other => {
            return Err(field_err(
                ":type",
                format!("expected a keyword, found {}", show(other)),
            ))
        }
    };
    let process = match get("process") {
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Keyword(k)) if k == "nemesis" => Process::Nemesis,
        Some(Edn::Keyword(k) | Edn::Symbol(k)) => Process::Named(k.clone()),
        other => {
            return Err(field_err(
                ":process",
                format!("expected an integer or a keyword, found {}", show(other)),
            ))
        }
    };
    let f = match get("f") {
        Some(Edn::Keyword(f) | Edn::Symbol(f) | Edn::Str(f)) => f.clone(),
        other => {
            return Err(field_err(
                ":f",
                format!("expected a keyword, found {}", show(other)),
            ))
        }
    };
    let key = match get("key") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) | Edn::Text(s)) => Some(s.clone()),
        Some(Edn::Int(i)) => Some(i.to_string()),
        other => {
            return Err(field_err(
                ":key",
                format!("expected a string or an integer, found {}", show(other)),
            ))
        }
    };
    let time = match get("time") {
        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
        _ => None,
    };
    let raw = get("value").cloned().unwrap_or(Edn::Nil);
    let unknown_nil = kind == EventType::Ok;
    let value = to_value(
        &raw,
        unknown_nil && matches!(f.as_str(), "read" | "get"),
        unknown_nil,
    );
    let error = get("error").map(|e| show(Some(e)));
    // Jepsen's clients may note the node an op went to as `:node "n1"`.
    let node = match get("node") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s)) => Some(s.clone()),
        Some(Edn::Int(i)) => Some(i.to_string()),
        other => {
            return Err(field_err(
                ":node",
                format!("expected a string (the node's name), found {}", show(other)),
            ))
        }
    };
    stats.events += 1;
    validator.push(RawEvent {
        line,
        kind,
        process,
        f: f.into(),
        key,
        value,
        nemesis_value: to_json(&raw),
        time,
        error,
        node,
    })
}

/// Converts to a checker value. `nil_unknown`: a top-level nil is "not learned";
/// `txn_nil_unknown`: nil reads inside txn micro-ops are too.
fn to_value(e: &Edn, nil_unknown: bool, txn_nil_unknown: bool) -> Value {
    match e {
        Edn::Nil if nil_unknown => Value::Unknown,
        Edn::Nil => Value::Null,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(i) => Value::Int(*i),
        Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::Str(s.clone()),
        Edn::Text(t) => Value::Other(t.clone()),
        Edn::Vec(items) => {
            let micro_read =
                matches!(items.first(), Some(Edn::Keyword(k)) if k == "read" || k == "r");
            Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        to_value(x, txn_nil_unknown && micro_read && i == 2, txn_nil_unknown)
                    })
                    .collect(),
            )
        }
        Edn::Map(_) => Value::Other(to_json(e).to_string()),
    }
}

fn to_json(e: &Edn) -> serde_json::Value {
    use serde_json::Value as J;
    match e {
        Edn::Nil => J::Null,
        Edn::Bool(b) => J::Bool(*b),
        Edn::Int(i) => J::from(*i),
        Edn::Text(s) | Edn::Str(s) | Edn::Symbol(s) => J::String(s.clone()),
        Edn::Keyword(k) => J::String(k.clone()),
        Edn::Vec(items) => J::Array(items.iter().map(to_json).collect()),
        Edn::Map(pairs) => J::Object(
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        show(Some(k)).trim_start_matches(':').to_string(),
                        to_json(v),
                    )
                })
                .collect(),
        ),
    }
}

fn show(e: Option<&Edn>) -> String {
    match e {
        None => "nothing (missing)".into(),
        Some(Edn::Nil) => "nil".into(),
        Some(Edn::Bool(b)) => b.to_string(),
        Some(Edn::Int(i)) => i.to_string(),
        Some(Edn::Text(t) | Edn::Symbol(t)) => t.clone(),
        Some(Edn::Str(s)) => format!("{s:?}"),
        Some(Edn::Keyword(k)) => format!(":{k}"),
        Some(Edn::Vec(v)) => format!(
            "[{}]",
            v.iter()
                .map(|x| show(Some(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some(Edn::Map(_)) => "a map".into(),
    }
}

/// Reads Jepsen log lines (`INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]`); other lines are
/// skipped and counted.
pub fn read_jepsen_log<R: BufRead>(
    reader: R,
    source: &str,
    validator: &mut Validator,
    stats: &mut Stats,
) -> Result<(), Error> {
    for (i, line) in reader.split(b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let bytes = line.map_err(|e| Error::caused(source, line_no, "cannot read", e))?;
        stats.lines += 1;
        let text = String::from_utf8_lossy(&bytes);
        match parse_log_line(&text, line_no, source)? {
            Some(op) => push_op(op, line_no, source, validator, stats)?,
            None => stats.skipped_lines += 1,
        }
    }
    Ok(())
}

/// Finds `PROCESS :TYPE :F VALUE [ERROR...]` in a log line; `None` if the line is not an op.
fn parse_log_line(text: &str, line: u64, source: &str) -> Result<Option<Edn>, Error> {
    let body = match text.find("jepsen.util") {
        Some(at) => {
            let rest = text[at + "jepsen.util".len()..].trim_start();
            let rest = rest
                .strip_prefix('-')
                .or_else(|| rest.strip_prefix(':'))
                .unwrap_or(rest);
            rest.trim_start()
        }
        None => text,
    };
    let mut p = Parser::new(body.as_bytes(), line, source);
    let mut forms = Vec::new();
    for _ in 0..4 {
        let Ok(Some(form)) = p.form() else {
            return Ok(None);
        };
        forms.push(form.value);
    }
    let rest = body[p.pos.min(body.len())..].trim();
    let (process, kind, f, value) = (&forms[0], &forms[1], &forms[2], &forms[3]);
    let kind_ok = matches!(kind, Edn::Keyword(k) if EventType::parse(k).is_some());
    let process_ok = matches!(process, Edn::Int(_) | Edn::Keyword(_));
    if !kind_ok || !process_ok || !matches!(f, Edn::Keyword(_)) {
        return Ok(None);
    }
    let mut pairs = vec![
        (Edn::Keyword("process".into()), process.clone()),
        (Edn::Keyword("type".into()), kind.clone()),
        (Edn::Keyword("f".into()), f.clone()),
        (Edn::Keyword("value".into()), value.clone()),
    ];
    if !rest.is_empty() {
        pairs.push((Edn::Keyword("error".into()), Edn::Text(rest.to_string())));
    }
    Ok(Some(Edn::Map(pairs)))
}
