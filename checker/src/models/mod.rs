//! One file per model.

pub mod append_kv;
pub mod cas_register;
pub mod kv;
pub mod multi_register;
pub mod mutex;
pub mod register;

use histories::Value;

/// Bytes a [`Value`] owns on the heap (strings, lists, canonical JSON text).
pub(crate) fn value_heap_bytes(v: &Value) -> u64 {
    match v {
        Value::Str(s) | Value::Other(s) => s.capacity() as u64,
        Value::List(l) => {
            (l.capacity() * std::mem::size_of::<Value>()) as u64
                + l.iter().map(value_heap_bytes).sum::<u64>()
        }
        _ => 0,
    }
}
