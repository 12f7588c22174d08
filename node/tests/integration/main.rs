//! The node crate's integration tests, in one binary (one link, one run):
//!
//! - [`sim`]: the 6.824 Raft tests and one test per planted bug on the deterministic
//!   [`simulator`];
//! - [`model`]: stateright model checking of the same core;
//! - [`process`]: three real `raft-node` processes;
//! - [`maelstrom`]: three real `raft-node --maelstrom` processes behind a router in the test;
//! - [`support`]: what the simulator and the model share (the modelled disk, commands).
//!
//! A simulation failure prints its seed; `SIM_SEED=<seed> cargo test -p node --test
//! integration <name>` replays it.

mod maelstrom;
mod model;
mod process;
mod sim;
mod simulator;
mod support;
