//! raft-node: a durable Raft-replicated register.
//!
//! - [`core`]: the sans-I/O Raft state machine and the register it replicates (no clock, socket,
//!   thread or file inside);
//! - [`storage`]: the durable log, hard state and snapshots on disk;
//! - [`protocol`]: the `jsonl-tcp` client protocol and the peer wire format;
//! - [`maelstrom`]: the same node speaking Maelstrom's stdio protocol (`raft-node --maelstrom`);
//! - [`runtime`]: the tokio runtime that drives the core with real time, TCP and files;
//! - [`ports`]: free loopback ports for clusters on 127.0.0.1 (tests, `raft-node bench`).
#![deny(missing_docs)]

pub mod core;
pub mod maelstrom;
pub mod ports;
pub mod protocol;
pub mod runtime;
pub mod storage;
