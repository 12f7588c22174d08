//! The integration tests of `faultline`, as one test binary (one link; what the modules share
//! is in [`support`]).
//!
//! `cargo test -p faultline` runs every test that needs nothing beyond a Rust toolchain; tests
//! that need root (network namespaces), an etcd binary or Chromium are `#[ignore]`d with that
//! reason, and `cargo test -p faultline -- --include-ignored` (`make test`) runs them too.

mod support;

mod budgets;
mod cli;
mod e2e;
mod etcd;
mod maelstrom;
mod names;
mod redis;
mod report;
mod splitbrain;
mod suite;
mod zookeeper;
