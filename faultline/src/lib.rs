//! The `faultline` library: the parts of a test run, used by the `faultline` binary.
//!
//! - [`spec`]: system specs (`systems/*.toml`);
//! - [`adapter`]: client adapters (`jsonl-tcp`, `etcd-v3`) and the etcd leader probe;
//! - [`workload`]: the generator and the client loop;
//! - [`recorder`]: the flushing history recorder;
//! - [`store`]: the store layout;
//! - [`stats`]: op counts, latency, throughput and liveness figures;
//! - [`harness`]: `faultline test`, one run from an empty machine to a verdict;
//! - [`leaders`]: leader tracking from the nodes' logs during a run;
//! - [`suite`]: the Raft lab scenarios (`faultline suite`);
//! - [`memreg`]: a trivially correct in-memory register (the known-good system);
//! - [`report`]: the self-contained `report.html` of a run or a history;
//! - [`serve`]: `faultline serve`, the store over HTTP.
#![deny(missing_docs)]

pub mod adapter;
pub mod harness;
pub mod leaders;
pub mod memreg;
pub mod recorder;
pub mod report;
pub mod runlog;
pub mod serve;
pub mod spec;
pub mod stats;
pub mod store;
pub mod suite;
pub mod workload;
