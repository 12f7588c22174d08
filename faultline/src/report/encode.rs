//! The compact encoding of a history's operations inside `report.html`.
//!
//! A million ops written as JSON objects take ~150 MB; even JSON arrays of arrays take ~45 MB,
//! over the 20 MB a page may weigh. So the ops travel as one byte stream of LEB128 varints,
//! row by row, base64-encoded into a `<script type="text/plain">` element (base64 adds a third;
//! a typical op takes 8-12 bytes before it). The page's script decodes the drawing fields into
//! typed arrays in one pass and decodes values lazily, only for the op under the mouse.
//!
//! One op, in id (= invoke) order:
//!
//! | field | encoding |
//! |---|---|
//! | call time | zigzag varint, delta from the previous op's call time (µs, or event positions) |
//! | duration | varint: 0 = no completion time, else `ret - call + 1` |
//! | process | varint |
//! | code | one byte: `f` (bits 0-3), outcome (bits 4-5: 0 ok, 1 fail, 2 info), bit 6: error follows, bit 7: nodes follow |
//! | error | varint index into the string table (only with bit 6) |
//! | served by | varint (only with bit 7): 0 none, else node-table index + 1 |
//! | sent to | varint (only with bit 7): 0 the same node as served by, 1 none, else node-table index + 2 |
//! | key | varint: 0 none, else string-table index + 1 |
//! | input | a value (below) |
//! | output | a value, or 5 "same as the input", or 6 "none" (fail and info) |
//!
//! A value is a tag varint: 0 null, 1 unknown, 2 int (zigzag varint follows), 3 string-table
//! index follows (the value's text), 4 a list of ints (length, then zigzag varints), 7 a pair of
//! ints (a cas's `[from, to]`: two zigzag varints).
//!
//! The node table ([`Encoded::nodes`]) lists the nodes the ops name in natural order (`n1`,
//! `n2`, ..., `n10`); an op without nodes has no bit 7 and costs nothing more, so a history
//! without nodes encodes exactly as before nodes were recorded. An op with nodes adds two
//! bytes (one served by, one `0` for "sent to the same node").
//! [`decode`] is the inverse, used by the tests to pair every encode with a decode.

use histories::{History, Op, Outcome, Value, F};
use std::collections::HashMap;

/// The functions by code (bits 0-3 of the code byte); the page's script has the same table.
pub const F_CODES: [F; 9] = [
    F::Read,
    F::Write,
    F::Cas,
    F::Get,
    F::Put,
    F::Append,
    F::Txn,
    F::Acquire,
    F::Release,
];

/// Longest list of ints encoded inline; longer lists go to the string table.
const INLINE_LIST_LEN_MAX: usize = 16;

/// Value tags.
const TAG_NULL: u8 = 0;
const TAG_UNKNOWN: u8 = 1;
const TAG_INT: u8 = 2;
const TAG_TEXT: u8 = 3;
const TAG_LIST: u8 = 4;
const TAG_SAME: u8 = 5;
const TAG_NONE: u8 = 6;
const TAG_PAIR: u8 = 7;

/// Runs shorter than this are drawn in nanoseconds (else microseconds, a byte or two less per
/// op in the stream): a hand-written history with times of a few hundred ns must not collapse.
const NANOS_BELOW_NS: u64 = 1_000_000_000;

/// The time axis of a history: its times when every op has them, else event positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// `call_time`/`ret_time` divided by `ns_per_unit` (1: ns, 1000: µs).
    Time {
        /// Nanoseconds per unit of the axis.
        ns_per_unit: u64,
    },
    /// `call`/`ret` event positions (histories without times, as Knossos' fixtures).
    Events,
}

impl Axis {
    /// Chooses the axis of `history`.
    pub fn of(history: &History) -> Axis {
        if history.ops.is_empty() || history.ops.iter().any(|o| o.call_time.is_none()) {
            return Axis::Events;
        }
        let last = history
            .ops
            .iter()
            .map(|o| o.ret_time.or(o.call_time).unwrap_or(0))
            .max()
            .unwrap_or(0);
        Axis::Time {
            ns_per_unit: if last < NANOS_BELOW_NS { 1 } else { 1000 },
        }
    }

    /// Microseconds (what long runs use).
    pub const MICROS: Axis = Axis::Time { ns_per_unit: 1000 };

    /// Whether the axis is time (not event order).
    pub fn is_time(self) -> bool {
        matches!(self, Axis::Time { .. })
    }

    /// The unit's name for the page (`ns`, `us` or `event`).
    pub fn unit(self) -> &'static str {
        match self {
            Axis::Time { ns_per_unit: 1 } => "ns",
            Axis::Time { .. } => "us",
            Axis::Events => "event",
        }
    }

    /// Nanoseconds per unit (1 for event positions, which have no duration).
    pub fn ns_per_unit(self) -> u64 {
        match self {
            Axis::Time { ns_per_unit } => ns_per_unit.max(1),
            Axis::Events => 1,
        }
    }

    /// Units per second of a time axis.
    pub fn per_second(self) -> f64 {
        1e9 / self.ns_per_unit() as f64
    }

    /// A time in ns on this axis.
    pub fn from_ns(self, ns: u64) -> u64 {
        ns / self.ns_per_unit()
    }

    /// The op's call and completion on this axis.
    pub fn span(self, op: &Op) -> (u64, Option<u64>) {
        match self {
            Axis::Time { .. } => (
                self.from_ns(op.call_time.unwrap_or(0)),
                op.ret_time.map(|t| self.from_ns(t)),
            ),
            Axis::Events => (op.call, op.ret),
        }
    }
}

/// The encoded ops and the string table they refer to.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    /// The varint stream.
    pub bytes: Vec<u8>,
    /// Keys, errors and values that are not ints, by index.
    pub strings: Vec<String>,
    /// The nodes the ops name, by index (empty when the history records none).
    pub nodes: Vec<String>,
}

struct Encoder {
    out: Encoded,
    index: HashMap<String, u64>,
    node_index: HashMap<std::sync::Arc<str>, u64>,
}

impl Encoder {
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.out.bytes.push(byte);
                return;
            }
            self.out.bytes.push(byte | 0x80);
        }
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn string(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.out.strings.len() as u64;
        self.out.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.varint(TAG_NULL.into()),
            Value::Unknown => self.varint(TAG_UNKNOWN.into()),
            Value::Int(i) => {
                self.varint(TAG_INT.into());
                self.zigzag(*i);
            }
            Value::List(items)
                if items.len() == 2 && items.iter().all(|i| matches!(i, Value::Int(_))) =>
            {
                self.varint(TAG_PAIR.into());
                for item in items {
                    self.zigzag(item.as_int().unwrap_or(0));
                }
            }
            Value::List(items)
                if items.len() <= INLINE_LIST_LEN_MAX
                    && items.iter().all(|i| matches!(i, Value::Int(_))) =>
            {
                self.varint(TAG_LIST.into());
                self.varint(items.len() as u64);
                for item in items {
                    self.zigzag(item.as_int().unwrap_or(0));
                }
            }
            other => {
                let i = self.string(&other.to_string());
                self.varint(TAG_TEXT.into());
                self.varint(i);
            }
        }
    }
}

fn f_code(f: F) -> u8 {
    F_CODES.iter().position(|&g| g == f).unwrap_or(0) as u8
}

/// Encodes every op of `history` on `axis`.
pub fn encode(history: &History, axis: Axis) -> Encoded {
    let nodes = history.nodes();
    let mut e = Encoder {
        out: Encoded {
            bytes: Vec::with_capacity(history.ops.len() * 10),
            strings: Vec::new(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        },
        index: HashMap::new(),
        node_index: nodes.into_iter().zip(0..).collect(),
    };
    let mut prev_call = 0u64;
    for op in &history.ops {
        let (call, ret) = axis.span(op);
        e.zigzag(call as i64 - prev_call as i64);
        prev_call = call;
        e.varint(ret.map_or(0, |r| r.saturating_sub(call) + 1));
        e.varint(op.process);
        let outcome = match op.outcome {
            Outcome::Ok(_) => 0u8,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        };
        let has_error = op.error.is_some() as u8;
        let has_nodes = (op.sent_to.is_some() || op.served_by.is_some()) as u8;
        e.out
            .bytes
            .push(f_code(op.f) | (outcome << 4) | (has_error << 6) | (has_nodes << 7));
        if let Some(err) = &op.error {
            let i = e.string(err);
            e.varint(i);
        }
        if has_nodes == 1 {
            let index = |n: &Option<std::sync::Arc<str>>| n.as_ref().map(|n| e.node_index[n]);
            let (served, sent) = (index(&op.served_by), index(&op.sent_to));
            e.varint(served.map_or(0, |i| i + 1));
            e.varint(match sent {
                _ if sent == served => 0,
                None => 1,
                Some(i) => i + 2,
            });
        }
        match &op.key {
            Some(k) => {
                let i = e.string(k);
                e.varint(i + 1);
            }
            None => e.varint(0),
        }
        e.value(&op.input);
        match &op.outcome {
            Outcome::Ok(v) if *v == op.input => e.varint(TAG_SAME.into()),
            Outcome::Ok(v) => e.value(v),
            Outcome::Fail | Outcome::Info => e.varint(TAG_NONE.into()),
        }
    }
    e.out
}

/// One decoded op (the test side of the encoding).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedOp {
    /// Call on the axis.
    pub call: u64,
    /// Completion on the axis.
    pub ret: Option<u64>,
    /// Process.
    pub process: u64,
    /// Function.
    pub f: F,
    /// 0 ok, 1 fail, 2 info.
    pub outcome: u8,
    /// Error text.
    pub error: Option<String>,
    /// The node the op was first sent to.
    pub sent_to: Option<String>,
    /// The node whose answer decided the op.
    pub served_by: Option<String>,
    /// Key.
    pub key: Option<String>,
    /// Input as text.
    pub input: String,
    /// Output as text (`None`: fail or info).
    pub output: Option<String>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn value(&mut self, strings: &[String], input: Option<&String>) -> Option<Option<String>> {
        Some(match self.varint()? as u8 {
            TAG_NULL => Some("null".into()),
            TAG_UNKNOWN => Some("?".into()),
            TAG_INT => Some(self.zigzag()?.to_string()),
            TAG_TEXT => Some(strings.get(self.varint()? as usize)?.clone()),
            TAG_LIST => {
                let n = self.varint()?;
                let items: Option<Vec<String>> = (0..n)
                    .map(|_| self.zigzag().map(|i| i.to_string()))
                    .collect();
                Some(format!("[{}]", items?.join(" ")))
            }
            TAG_PAIR => Some(format!("[{} {}]", self.zigzag()?, self.zigzag()?)),
            TAG_SAME => input.cloned(),
            TAG_NONE => None,
            _ => return None,
        })
    }
}

/// Decodes what [`encode`] wrote; `None` if the stream is malformed.
pub fn decode(enc: &Encoded) -> Option<Vec<DecodedOp>> {
    let mut r = Reader {
        bytes: &enc.bytes,
        pos: 0,
    };
    let mut ops = Vec::new();
    let mut call = 0i64;
    while r.pos < enc.bytes.len() {
        call += r.zigzag()?;
        let dur = r.varint()?;
        let process = r.varint()?;
        let code = *r.bytes.get(r.pos)?;
        r.pos += 1;
        let error = if code & 0x40 != 0 {
            Some(enc.strings.get(r.varint()? as usize)?.clone())
        } else {
            None
        };
        let (mut sent_to, mut served_by) = (None, None);
        if code & 0x80 != 0 {
            let node = |i: u64| enc.nodes.get(i as usize).cloned();
            served_by = match r.varint()? {
                0 => None,
                i => Some(node(i - 1)?),
            };
            sent_to = match r.varint()? {
                0 => served_by.clone(),
                1 => None,
                i => Some(node(i - 2)?),
            };
        }
        let key = match r.varint()? {
            0 => None,
            k => Some(enc.strings.get(k as usize - 1)?.clone()),
        };
        let input = r.value(&enc.strings, None)??;
        let output = r.value(&enc.strings, Some(&input))?;
        ops.push(DecodedOp {
            call: call as u64,
            ret: (dur > 0).then(|| call as u64 + dur - 1),
            process,
            f: *F_CODES.get(usize::from(code & 0x0f))?,
            outcome: (code >> 4) & 0x03,
            error,
            sent_to,
            served_by,
            key,
            input,
            output,
        });
    }
    Some(ops)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what the browser's `atob` reads).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use histories::{Format, Value};

    fn unbase64(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let vals: Vec<u32> = s
            .bytes()
            .filter(|&c| c != b'=')
            .map(|c| B64.iter().position(|&b| b == c).unwrap() as u32)
            .collect();
        for chunk in vals.chunks(4) {
            let mut n = 0u32;
            for (i, v) in chunk.iter().enumerate() {
                n |= v << (18 - 6 * i);
            }
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..10 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            let text = base64(&bytes);
            assert_eq!(text.len() % 4, 0);
            assert_eq!(unbase64(&text), bytes, "len {len}");
        }
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
    }

    #[test]
    fn every_op_decodes_to_what_was_encoded() {
        let text = "\
{\"type\":\"invoke\",\"process\":3,\"time\":1200345,\"f\":\"write\",\"key\":\"k1\",\"value\":5}
{\"type\":\"ok\",\"process\":3,\"time\":1400100,\"f\":\"write\",\"key\":\"k1\",\"value\":5}
{\"type\":\"invoke\",\"process\":4,\"time\":1500000,\"f\":\"cas\",\"key\":\"k1\",\"value\":[5,-6]}
{\"type\":\"invoke\",\"process\":5,\"time\":1600000,\"f\":\"read\",\"key\":\"k2\",\"value\":null}
{\"type\":\"invoke\",\"process\":6,\"time\":1600001,\"f\":\"txn\",\"value\":[1,2,3]}
{\"type\":\"fail\",\"process\":6,\"time\":1600002,\"f\":\"txn\",\"value\":[1,2,3]}
{\"type\":\"ok\",\"process\":5,\"time\":1700000,\"f\":\"read\",\"key\":\"k2\",\"value\":\"x\"}
{\"type\":\"info\",\"process\":4,\"time\":2500000,\"f\":\"cas\",\"key\":\"k1\",\"value\":[5,-6],\"error\":\"timeout\"}
";
        let h = histories::parse_reader(text.as_bytes(), "t", Format::Jsonl)
            .unwrap()
            .history;
        // A run shorter than a second is drawn in ns; force µs here to see the division.
        assert_eq!(Axis::of(&h), Axis::Time { ns_per_unit: 1 });
        let enc = encode(&h, Axis::MICROS);
        let ops = decode(&enc).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[3].input, "[1 2 3]");
        assert_eq!(ops[3].outcome, 1);
        assert_eq!(ops[0].call, 1200);
        assert_eq!(ops[0].ret, Some(1400));
        assert_eq!(ops[0].output.as_deref(), Some("5"));
        assert_eq!(ops[1].f, F::Cas);
        assert_eq!(ops[1].input, "[5 -6]");
        assert_eq!(ops[1].outcome, 2);
        assert_eq!(ops[1].error.as_deref(), Some("timeout"));
        assert_eq!(ops[1].output, None);
        assert_eq!(ops[2].key.as_deref(), Some("k2"));
        assert_eq!(ops[2].output.as_deref(), Some("\"x\""));
        assert_eq!(ops[2].input, "null");
        // A broken stream is refused, not misread.
        let mut bad = enc.clone();
        bad.bytes.truncate(bad.bytes.len() - 1);
        assert!(decode(&bad).is_none());
        let _ = Value::Null;
    }
}
