//! How a part of a history is named in reports and explanations.
//!
//! Why a module of its own: both the report (unknown and unsearched parts) and the explanation
//! of a violation name parts the same way, and neither should depend on the other for it.

/// `key k1`, or `the history` for unkeyed parts.
pub fn key_name(key: &Option<String>) -> String {
    match key {
        Some(k) => format!("key {k}"),
        None => "the history".to_string(),
    }
}
