//! `append-kv`: 6.824's key-value service (get / put / append over strings), per key.
//!
//! As in Porcupine's kv model, a missing key reads as the empty string.
//!
//! The state is a string that grows with every append, and the search hashes and compares
//! states at every step. So the state carries two independent 64-bit polynomial hashes of its
//! text, updated in O(length of the appended piece); hashing and equality use (length, both
//! hashes) and never touch the text. A false match needs a simultaneous collision of both
//! hashes at equal length (probability about 2^-128 per comparison).
//!
//! The text itself is kept, for explanations, as a persistent list of pieces: an append makes
//! one piece that points to the text before it, so a state owns only its last piece and the
//! memo does not hold a copy of the whole string per entry (which made memory grow with the
//! square of the history and escape `--memory-limit`).

use crate::model::Model;
use crate::models::alloc_bytes;
use histories::{Op, Outcome, Value, F};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

/// The 6.824 kv model, for one key.
pub struct AppendKv;

const B1: u64 = 0x0000_0100_0000_01b3;
const B2: u64 = 0x9e37_79b9_7f4a_7c15;

/// Longest text shown in an explanation.
const DESCRIBE_BYTES_MAX: usize = 200;

/// One piece of a text and the text before it.
#[derive(Debug)]
struct Piece {
    text: Box<str>,
    before: Option<Arc<Piece>>,
}

impl Drop for Piece {
    /// Drops a long chain iteratively (the default drop would recurse once per piece).
    fn drop(&mut self) {
        let mut next = self.before.take();
        while let Some(piece) = next {
            next = match Arc::into_inner(piece) {
                Some(mut owned) => owned.before.take(),
                None => None,
            };
        }
    }
}

/// A string with its length and two rolling hashes.
#[derive(Clone, Debug)]
pub struct Text {
    len: u64,
    h1: u64,
    h2: u64,
    last: Option<Arc<Piece>>,
}

/// The hashes of `s` continued from `(h1, h2)`.
fn roll(mut h1: u64, mut h2: u64, s: &str) -> (u64, u64) {
    for b in s.bytes() {
        h1 = h1.wrapping_mul(B1).wrapping_add(b as u64 + 1);
        h2 = h2.wrapping_mul(B2).wrapping_add(b as u64 + 1);
    }
    (h1, h2)
}

impl Text {
    fn new(s: &str) -> Text {
        let (h1, h2) = roll(0, 0, s);
        Text {
            len: s.len() as u64,
            h1,
            h2,
            last: (!s.is_empty()).then(|| {
                Arc::new(Piece {
                    text: s.into(),
                    before: None,
                })
            }),
        }
    }

    fn append(&self, s: &str) -> Text {
        if s.is_empty() {
            return self.clone();
        }
        let (h1, h2) = roll(self.h1, self.h2, s);
        Text {
            len: self.len + s.len() as u64,
            h1,
            h2,
            last: Some(Arc::new(Piece {
                text: s.into(),
                before: self.last.clone(),
            })),
        }
    }

    fn same(&self, s: &str) -> bool {
        if self.len != s.len() as u64 {
            return false;
        }
        (self.h1, self.h2) == roll(0, 0, s)
    }

    /// The whole text.
    fn text(&self) -> String {
        let mut pieces = Vec::new();
        let mut at = self.last.as_deref();
        while let Some(p) = at {
            pieces.push(&*p.text);
            at = p.before.as_deref();
        }
        pieces.reverse();
        pieces.concat()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        (self.len, self.h1, self.h2) == (other.len, other.h1, other.h2)
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.len, self.h1, self.h2).hash(state);
    }
}

/// A value as text, borrowed where it is one (the search calls this at every step).
fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Null => Cow::Borrowed(""),
        Value::Str(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Bytes to report an observation in: the text an ok get returned.
fn observed(op: &Op) -> Option<String> {
    match (op.f, &op.outcome) {
        (F::Get | F::Read, Outcome::Ok(Value::Unknown)) => None,
        (F::Get | F::Read, Outcome::Ok(v)) => Some(text(v).into_owned()),
        _ => None,
    }
}

impl Model for AppendKv {
    type State = Text;

    fn init(&self, initial: &Value) -> Text {
        Text::new(&text(initial))
    }

    fn step(&self, state: &Text, op: &Op) -> Option<Text> {
        match op.f {
            F::Get | F::Read => match &op.outcome {
                Outcome::Ok(Value::Unknown) | Outcome::Info => Some(state.clone()),
                Outcome::Ok(v) => state.same(&text(v)).then(|| state.clone()),
                Outcome::Fail => None,
            },
            F::Put | F::Write => Some(Text::new(&text(&op.input))),
            F::Append => Some(state.append(&text(&op.input))),
            _ => None,
        }
    }

    /// Gets, and appends of the empty string.
    fn read_only(&self, op: &Op) -> bool {
        match op.f {
            F::Get | F::Read => true,
            F::Append => text(&op.input).is_empty(),
            _ => false,
        }
    }

    fn step_reads_value_only(&self) -> bool {
        true
    }

    fn describe(&self, state: &Text) -> String {
        let text = state.text();
        if text.len() <= DESCRIBE_BYTES_MAX {
            return format!("{text:?}");
        }
        let mut end = DESCRIBE_BYTES_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{:?}... ({} bytes)", &text[..end], text.len())
    }

    /// Its last piece (the pieces before it are shared with the state it came from): the
    /// `Arc` allocation and the text's.
    fn heap_bytes(&self, state: &Text) -> u64 {
        state.last.as_ref().map_or(0, |p| {
            let arc = std::mem::size_of::<Piece>() + 2 * std::mem::size_of::<usize>();
            alloc_bytes(arc) + alloc_bytes(p.text.len())
        })
    }

    /// Drops unobserved `info` puts and appends.
    ///
    /// An `info` put or append of a non-empty string `s` that is contained in no text an ok
    /// get returned was never observed: in a linearization that includes it, every get after it
    /// and before the next put returns a text that contains `s` (appends only extend), so there
    /// is none, and nothing else depends on the state; the same order without it is also a
    /// linearization. The empty string is always kept.
    ///
    /// One Aho-Corasick automaton over the info strings scans each distinct text read once:
    /// O(bytes read + matches), not O(info ops x reads x length). Stops at `deadline`, keeping
    /// every op not yet shown unobserved (pruning is optional).
    fn prune<'a>(&self, ops: Vec<&'a Op>, deadline: Option<Instant>) -> Vec<&'a Op> {
        let candidate = |o: &Op| {
            o.outcome == Outcome::Info
                && matches!(o.f, F::Put | F::Append | F::Write)
                && !text(&o.input).is_empty()
        };
        let patterns: Vec<String> = ops
            .iter()
            .filter(|o| candidate(o))
            .map(|o| text(&o.input).into_owned())
            .collect();
        if patterns.is_empty() {
            return ops;
        }
        let Ok(automaton) = aho_corasick::AhoCorasick::new(&patterns) else {
            return ops;
        };
        let reads: HashSet<String> = ops.iter().filter_map(|o| observed(o)).collect();
        let mut seen = vec![false; patterns.len()];
        let mut matches = 0u64;
        'scan: for r in &reads {
            for m in automaton.find_overlapping_iter(r.as_str()) {
                seen[m.pattern().as_usize()] = true;
                matches += 1;
                if matches.is_multiple_of(4096) && deadline.is_some_and(|d| Instant::now() >= d) {
                    seen.iter_mut().for_each(|s| *s = true);
                    break 'scan;
                }
            }
        }
        let mut next = 0;
        ops.into_iter()
            .filter(|o| {
                if !candidate(o) {
                    return true;
                }
                next += 1;
                seen[next - 1]
            })
            .collect()
    }

    fn subject(&self) -> &'static str {
        "the value"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_agree_with_the_text() {
        let a = Text::new("ab").append("cd");
        assert!(a.same("abcd") && !a.same("abdc") && !a.same("abc"));
        assert_eq!(a, Text::new("abcd"));
        assert_ne!(a, Text::new("abce"));
        assert_eq!(a.text(), "abcd");
        assert_eq!(Text::new("").append("").text(), "");
    }

    #[test]
    fn a_long_chain_drops_without_recursion() {
        let mut t = Text::new("");
        for _ in 0..1_000_000 {
            t = t.append("x");
        }
        assert_eq!(t.len, 1_000_000);
        drop(t);
    }
}
