//! `append-kv`: 6.824's key-value service (get / put / append over strings), per key.
//!
//! As in Porcupine's kv model, a missing key reads as the empty string.
//!
//! The state is a string that grows with every append, and the search hashes and compares
//! states at every step. So the state carries two independent 64-bit polynomial hashes of its
//! text, updated in O(length of the appended piece); hashing and equality use (length, both
//! hashes) and never touch the text, which is kept (shared) only for explanations. A false
//! match needs a simultaneous collision of both hashes at equal length (probability about
//! 2^-128 per comparison).

use crate::model::Model;
use histories::{Op, Outcome, Value, F};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The 6.824 kv model, for one key.
pub struct AppendKv;

const B1: u64 = 0x0000_0100_0000_01b3;
const B2: u64 = 0x9e37_79b9_7f4a_7c15;

/// A string with its length and two rolling hashes.
#[derive(Clone, Debug)]
pub struct Text {
    len: u64,
    h1: u64,
    h2: u64,
    text: Arc<str>,
}

impl Text {
    fn new(s: &str) -> Text {
        Text {
            len: 0,
            h1: 0,
            h2: 0,
            text: Arc::from(""),
        }
        .append(s)
    }

    fn append(&self, s: &str) -> Text {
        let (mut h1, mut h2) = (self.h1, self.h2);
        for b in s.bytes() {
            h1 = h1.wrapping_mul(B1).wrapping_add(b as u64 + 1);
            h2 = h2.wrapping_mul(B2).wrapping_add(b as u64 + 1);
        }
        let mut text = String::with_capacity(self.text.len() + s.len());
        text.push_str(&self.text);
        text.push_str(s);
        Text {
            len: self.len + s.len() as u64,
            h1,
            h2,
            text: Arc::from(text),
        }
    }

    fn same(&self, s: &str) -> bool {
        let other = Text::new(s);
        (self.len, self.h1, self.h2) == (other.len, other.h1, other.h2)
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

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => s.clone(),
        other => other.to_string(),
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

    fn describe(&self, state: &Text) -> String {
        format!("{:?}", &*state.text)
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
        assert_eq!(&*a.text, "abcd");
    }
}
