//! Events: the lines of a history file (docs/design.md, "History format").
//!
//! ```text
//! {"index":0,"type":"invoke","process":3,"time":1200345,"f":"write","key":"k1","value":5}
//! {"index":1,"type":"ok","process":3,"time":1400100,"f":"write","key":"k1","value":5,"node":"n1"}
//! {"index":4,"type":"info","process":"nemesis","time":2600000,"f":"start-partition","value":{..}}
//! ```

use crate::op::Value;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// An event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation started.
    Invoke,
    /// It happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown.
    Info,
}

impl EventType {
    /// Parses `invoke`, `ok`, `fail`, `info`.
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }
}

/// Who ran an event: a client process, or the nemesis.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Process {
    /// A client process.
    Client(u64),
    /// The fault injector.
    Nemesis,
    /// Any other named process (kept, ignored by checkers).
    Named(String),
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
            Process::Named(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("negative process {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Process, E> {
                Ok(match v {
                    "nemesis" => Process::Nemesis,
                    other => Process::Named(other.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// invoke, ok, fail or info.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Who.
    pub process: Process,
    /// Nanoseconds since the test started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// The function (`read`, `write`, `cas`, ... or a nemesis function).
    pub f: String,
    /// The key, for keyed operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value.
    #[serde(default)]
    pub value: serde_json::Value,
    /// The node (`n1`, ...) the operation went to. On an invoke: the node it was first sent
    /// to. On a completion: the node whose answer decided it (for an `info`, the node of the
    /// last attempt, the one that did not answer). `None` when not recorded (and always for
    /// nemesis events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why an operation failed or is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Deserializes a [`Value`] straight from JSON, without an intermediate `serde_json::Value`.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or_else(|_| Value::Other(v.to_string()), Value::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Other(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    items.push(v);
                }
                Ok(Value::List(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
                let obj: serde_json::Map<String, serde_json::Value> =
                    Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Value::Other(serde_json::Value::Object(obj).to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
