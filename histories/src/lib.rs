//! The history model of faultline.
//!
//! A *history* is what a test records: one event per line, an `invoke` followed by exactly one
//! completion (`ok`, `fail` or `info`) per client process, plus nemesis events. This crate owns
//! its file format (JSONL, see the `jsonl` module), the validation that pairs events into
//! [`Op`]s, and importers for histories recorded by Jepsen, Knossos and Porcupine.
//!
//! **Torn tails.** A recorder that is killed, or a Jepsen run that crashes, leaves its last
//! line cut off mid-operation. The line-per-operation formats (JSONL, and EDN or Porcupine
//! files with one op map per line) then load: the complete operations before the cut are
//! kept, and the cut line is reported in [`Stats::torn_last_line`], not as an error. A line is
//! torn when all of these hold:
//!
//! * it is the last line of the file, and the file does **not** end with a newline. A writer
//!   writes a line's newline last, so a line followed by one was written whole: if it does not
//!   parse, something else is wrong with it, and that stays an error;
//! * it does not parse because **the input ends inside it** (an object, map, vector or string
//!   still open), never because of a wrong character: a cut only removes the end of a line, so
//!   what remains is always a beginning of a valid line that stops early. `{"type":"inv` is
//!   torn; `{"type":"invoke","value":nul}` is bad JSON wherever it is;
//! * in EDN, the cut form is an op map that starts on that last line. An EDN file that is one
//!   big vector `[...]` cut off is an error: its ops are not one per line, the cut may lie
//!   anywhere in the document, and a reader that accepted an unclosed vector would accept a
//!   file cut anywhere.
//!
//! The same cut line in the middle of a file (more lines follow it) is an error naming its
//! line, as is every other line that does not parse. Jepsen log lines that are not ops are
//! skipped and counted anyway ([`Stats::skipped_lines`]), torn or not; a log's last line cut
//! inside its value (`:read 12` cut to `:read 1`) still looks like an op and is read as one,
//! since nothing in a log line marks its end.
//!
//! The checker consumes [`History`]; it never sees files. `parse(path)` opens, `parse_reader`
//! holds the logic (ripgrep's habit), so tests need no files.
#![deny(missing_docs)]

mod edn;
mod error;
mod event;
mod jsonl;
mod op;
mod validate;

pub use error::Error;
pub use event::{Event, EventType, Process};
pub use jsonl::{write_ops, HistoryWriter, LINE_BYTES_MAX};
pub use op::{Op, Outcome, Value, F};
pub use validate::{RawEvent, Validator};

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;

/// A validated history: client operations paired and ordered by invoke.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Where it came from (a path, or a name for in-memory histories), for messages.
    pub source: String,
    /// Client operations, `ops[i].id == i`, in invoke order.
    pub ops: Vec<Op>,
    /// Nemesis events, in file order (checkers ignore them; reports draw them).
    pub nemesis: Vec<NemesisEvent>,
    /// The header line `{"faultline":1,...}`, if the file has one.
    pub header: Option<serde_json::Value>,
}

impl History {
    /// The nodes the ops name (sent to or served by), each once, in natural order (`n2` before
    /// `n10`); empty when the history records no nodes.
    pub fn nodes(&self) -> Vec<std::sync::Arc<str>> {
        let mut seen: std::collections::HashSet<&std::sync::Arc<str>> =
            std::collections::HashSet::new();
        for op in &self.ops {
            seen.extend(op.sent_to.iter().chain(&op.served_by));
        }
        let mut nodes: Vec<std::sync::Arc<str>> = seen.into_iter().cloned().collect();
        nodes.sort_by(|a, b| natural_order(a, b));
        nodes
    }
}

/// Compares names by their text with each run of digits taken as a number (`n2` < `n10`).
pub fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    /// The name split into runs of digits (as numbers) and runs of other characters.
    fn parts(s: &str) -> Vec<(bool, u128, &str)> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let digit = c.is_ascii_digit();
            let len = rest
                .find(|x: char| x.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(len);
            let number = if digit {
                run.parse().unwrap_or(u128::MAX)
            } else {
                0
            };
            out.push((digit, number, run));
            rest = tail;
        }
        out
    }
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// A fault starting or stopping.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisEvent {
    /// Nanoseconds since the start, if recorded.
    pub time: Option<u64>,
    /// What happened (`start-partition`, `stop-partition`, `kill`, ...).
    pub f: String,
    /// Its details (groups, nodes).
    pub value: serde_json::Value,
    /// 1-based source line.
    pub line: u64,
}

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Detect from the first meaningful line.
    Auto,
    /// faultline's JSON Lines.
    #[cfg_attr(feature = "clap", value(alias = "json"))]
    Jsonl,
    /// Jepsen/Knossos EDN: a vector/list of op maps, or one map per line.
    #[cfg_attr(feature = "clap", value(alias = "knossos", alias = "jepsen"))]
    Edn,
    /// Jepsen log lines as printed by jepsen.util.
    #[cfg_attr(feature = "clap", value(alias = "log"))]
    JepsenLog,
    /// Porcupine's 6.824 key-value format (EDN maps with :key, get/put/append).
    Porcupine,
}

impl Format {
    /// The names accepted by `FromStr`.
    pub const NAMES: &'static str = "auto, jsonl, edn, jepsen-log, porcupine";
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "jsonl" | "json" => Format::Jsonl,
            "edn" | "knossos" | "jepsen" => Format::Edn,
            "jepsen-log" | "log" => Format::JepsenLog,
            "porcupine" => Format::Porcupine,
            other => {
                return Err(format!(
                    "unknown format {other:?}; expected one of {}",
                    Format::NAMES
                ))
            }
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::JepsenLog => "jepsen-log",
            Format::Porcupine => "porcupine",
        })
    }
}

/// Counts from reading a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read.
    pub lines: u64,
    /// Events found.
    pub events: u64,
    /// Lines skipped because they are not operations (Jepsen logs).
    pub skipped_lines: u64,
    /// Invokes never completed, treated as `info`.
    pub open_at_end: u64,
    /// The last line, when it was cut off (see the crate's docs, "Torn tails"): it was left out
    /// and the operations before it were read.
    pub torn_last_line: Option<TornLine>,
}

/// A last line cut off mid-operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornLine {
    /// Its 1-based line number.
    pub line: u64,
    /// Why it does not parse (`EOF while parsing a string at line 1 column 37`).
    pub reason: String,
}

/// A loaded history with what was learned while reading it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The history.
    pub history: History,
    /// The format it was read as.
    pub format: Format,
    /// Counts.
    pub stats: Stats,
}

/// Opens and parses a history file.
pub fn load(path: &Path, format: Format) -> Result<Loaded, Error> {
    let source = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| Error::caused(&source, 0, "cannot open", e))?;
    // A JSONL op takes about 200 bytes (two lines): reserve room for the ops up front, so that
    // a million-op file does not copy its ops around while growing.
    let hint = file
        .metadata()
        .map(|m| (m.len() / 160).min(1 << 26) as usize)
        .unwrap_or(0);
    parse_inner(
        BufReader::with_capacity(1 << 16, file),
        &source,
        format,
        hint,
    )
}

/// Parses a history from a reader; `source` names it in errors.
pub fn parse_reader<R: BufRead>(reader: R, source: &str, format: Format) -> Result<Loaded, Error> {
    parse_inner(reader, source, format, 0)
}

/// [`parse_reader`], reserving room for `ops_hint` operations.
fn parse_inner<R: BufRead>(
    mut reader: R,
    source: &str,
    format: Format,
    ops_hint: usize,
) -> Result<Loaded, Error> {
    let format = match format {
        Format::Auto => {
            let head = reader
                .fill_buf()
                .map_err(|e| Error::caused(source, 0, "cannot read", e))?;
            detect(head)
        }
        f => f,
    };
    let hint = if format == Format::Jsonl { ops_hint } else { 0 };
    let mut validator = Validator::with_capacity(source, hint);
    let mut stats = Stats::default();
    let header = match format {
        Format::Jsonl | Format::Auto => jsonl::read(reader, source, &mut validator, &mut stats)?,
        Format::Edn | Format::Porcupine => {
            edn::read_edn(reader, source, &mut validator, &mut stats)?;
            None
        }
        Format::JepsenLog => {
            edn::read_jepsen_log(reader, source, &mut validator, &mut stats)?;
            None
        }
    };
    let (mut history, open) = validator.finish();
    history.header = header;
    stats.open_at_end = open;
    Ok(Loaded {
        history,
        format,
        stats,
    })
}

/// Guesses the format from the first bytes of a file.
pub fn detect(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(&head[..head.len().min(1 << 16)]);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';'))
        .unwrap_or("");
    if first.starts_with("{\"") || first.starts_with("{ \"") {
        Format::Jsonl
    } else if first.starts_with('{') || first.starts_with('[') || first.starts_with('(') {
        let porcupine =
            [":get", ":put", ":append"].iter().any(|f| text.contains(f)) && text.contains(":key");
        if porcupine {
            Format::Porcupine
        } else {
            Format::Edn
        }
    } else if text.contains(":invoke") || text.contains("jepsen.") {
        Format::JepsenLog
    } else {
        Format::Jsonl
    }
}
