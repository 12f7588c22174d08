//! The integration tests of `histories`, in one test binary:
//!
//! - `formats`: every format against the fixtures, errors naming file:line:field, no panic on
//!   any input, the JSONL round trip;
//! - `torn`: a last line cut off by a crash, and the same cut elsewhere;
//! - `parallel`: many files loaded at once from inside rayon's pool;
//! - `nodes`: the node an op was sent to and the one that answered, in every format;
//! - `common`: the helpers they share.
//!
//! `tests/alloc.rs` stays a test binary of its own: it counts allocations with a
//! `#[global_allocator]` of its binary, and tests running on parallel threads of the same
//! binary would add their allocations to its counts.

mod common;
mod formats;
mod nodes;
mod parallel;
mod torn;
