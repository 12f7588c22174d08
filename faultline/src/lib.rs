//! The `faultline` library: the parts of a test run, in the order a run uses them, and what
//! looks at runs afterwards. The `faultline` binary (`src/cmd/`) only parses flags and prints.
//!
//! A run ([`run::run_test`]):
//! - [`spec`]: the system spec (`systems/*.toml`);
//! - [`cluster`]: network namespaces, nodes, readiness, crash detection;
//! - [`clients`]: the workload generator, the adapters, the history recorder;
//! - [`faults`]: the nemesis, a seeded schedule or a script;
//! - [`leaders`]: leader events during the run (node logs, the etcd probe);
//! - [`maelstrom`]: Maelstrom nodes behind relays, and Maelstrom's services;
//! - [`analysis`]: the checks, into a typed [`store::Results`];
//! - [`summary`]: the lines printed at the end;
//! - [`store`]: the run directory and every file name in it;
//! - [`stats`]: op counts, latency, throughput and liveness figures;
//! - [`runlog`]: the harness's own log.
//!
//! Around runs:
//! - [`suite`]: the Raft lab scenarios, the hunts, and the planted-bug scorecard;
//! - [`report`]: the self-contained `report.html`, and the store over HTTP;
//! - [`memreg`]: a trivially correct in-memory register (the known-good system);
//! - [`exit`]: the exit codes of every subcommand.
#![deny(missing_docs)]

pub mod analysis;
pub mod clients;
pub mod cluster;
pub mod exit;
pub mod faults;
pub mod leaders;
pub mod maelstrom;
pub mod memreg;
pub mod report;
pub mod run;
pub mod runlog;
pub mod spec;
pub mod stats;
pub mod store;
pub mod suite;
pub mod summary;
