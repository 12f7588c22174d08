//! One file per model.

pub mod append_kv;
pub mod cas_register;
pub mod kv;
pub mod multi_register;
pub mod mutex;
pub mod register;

use histories::Value;

/// What an allocation of `n` bytes costs the process: the allocator's header and rounding
/// (glibc malloc: 8 bytes of header, 16-byte granules, 32 bytes at least).
pub(crate) fn alloc_bytes(n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    ((n + 8).div_ceil(16) * 16).max(32) as u64
}

/// Bytes a [`Value`] owns on the heap (strings, lists, canonical JSON text).
pub(crate) fn value_heap_bytes(v: &Value) -> u64 {
    match v {
        Value::Str(s) | Value::Other(s) => alloc_bytes(s.capacity()),
        Value::List(l) => {
            alloc_bytes(l.capacity() * std::mem::size_of::<Value>())
                + l.iter().map(value_heap_bytes).sum::<u64>()
        }
        _ => 0,
    }
}
