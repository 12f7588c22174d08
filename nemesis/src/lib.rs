//! `nemesis`: faultline's cluster backends, network and process faults, seeded fault schedules
//! and guaranteed cleanup.
//!
//! The crate places a cluster's nodes (a [`Backend`]; today [`NetnsBackend`], one network
//! namespace per node on one machine), starts their processes, injects [`Fault`]s (iptables
//! partitions and packet loss inside the namespaces, SIGKILL, SIGSTOP/SIGCONT), produces seeded
//! [`Schedule`]s of faults, and removes everything again: on drop of the [`Run`] guard, on
//! Ctrl-C/SIGTERM and panic ([`install_cleanup_handlers`]), and after a SIGKILLed harness by name
//! ([`cleanup()`]). It never knows what a history means.
//!
//! # Use from the harness
//!
//! ```no_run
//! use std::time::Duration;
//! use nemesis::{Run, RunId, Schedule, SpawnSpec};
//! # fn main() -> Result<(), nemesis::Error> {
//! nemesis::install_cleanup_handlers()?;        // once, first thing in main
//! nemesis::ensure_tools()?;                    // installs iproute2/iptables if root on Debian
//! let run = Run::netns(RunId::random(), 5)?;   // Err(Error::NotRoot) without root: exit 2
//! for node in run.nodes().to_vec() {
//!     let ip = run.backend().address(&node)?;
//!     let spec = SpawnSpec::new("raft-node", vec!["--listen".into(), format!("{ip}:7001")],
//!                               format!("store/nodes/{node}.log"));
//!     run.start(&node, spec)?;
//! }
//! let client = run.backend().connect("n1", 7000, Duration::from_secs(1))?; // from the clients' netns
//! let mut schedule = Schedule::new("partition", run.nodes(), 42, Duration::from_secs(5))?;
//! let step = schedule.next_step(Some("n1"))?;  // record step.start.f() / .details() as a nemesis event
//! run.apply(&step.start)?;
//! run.apply(&step.stop)?;
//! run.heal_all()?;
//! let report = run.teardown();                 // also on drop
//! # drop((client, report)); Ok(()) }
//! ```
//!
//! # Naming scheme
//!
//! A run has a short id (1-6 chars of `[a-z0-9]`, [`RunId`]) because Linux interface names have at
//! most 15 bytes. Namespaces `fl-<id>-n1..nN` and `fl-<id>-c` (clients), bridge `flbr-<id>`, veth
//! host ends `flv-<id>-nK`/`flv-<id>-c` (the namespace ends are called `eth0`), iptables chains
//! `FL-<id>-in`/`FL-<id>-out` inside each node's namespace. Details in [`names`].
//!
//! # Subnet choice
//!
//! Node nK gets `10.A.B.K/24`, the clients' namespace `10.A.B.250`. `A.B` is a hash of the run id
//! (`A` in 100..=249); a candidate that overlaps any route of the host (`ip -4 route show table
//! all`, default routes aside) is skipped for the next one. The /24 exists only inside the
//! namespaces: the bridge has no address, the host gets no route.
//!
//! # How cleanup finds leftovers
//!
//! Purely by name: `ip netns list` and `ip -o link show`, filtered by the exact patterns above
//! (so `fl-<id>-keep` or `flx-...` are not ours). Processes inside our namespaces (`ip netns pids`)
//! are ours; they get SIGCONT and SIGKILL by PID. Then veths, namespaces (their iptables chains
//! die with them) and the bridge are deleted. See [`cleanup()`].
//!
//! # Why `ip` and `iptables` are driven as commands
//!
//! We checked crates.io (`cargo info rtnetlink`, `cargo info iptables`): `rtnetlink` 0.24 covers
//! links, addresses and namespaces but is async-only (tokio) and needs Rust 1.85, above this
//! workspace's 1.80; netfilter has no maintained netlink crate that writes iptables/nftables rules
//! inside another namespace; and the `iptables` crate (0.6) itself shells out to the `iptables`
//! binary. Commands are what Jepsen does too, they are what the planned `ssh` backend must run on
//! remote hosts anyway, and every command we run can be copied from the debug log and replayed by
//! hand. Every failure names the command line and its stderr ([`Error::Command`]).
//!
//! # Root
//!
//! Namespaces, bridges and iptables need root; without it every setup returns
//! [`Error::NotRoot`], whose message says so in one line (the CLI exits 2).

#![deny(missing_docs)]

pub mod backend;
pub mod cleanup;
mod cmd;
pub mod error;
pub mod fault;
pub mod names;
pub mod netns;
mod proc;
pub mod run;
pub mod schedule;
pub mod tools;

pub use backend::{Backend, ProcState, ProcessHandle, Sig, SpawnSpec, TeardownReport};
pub use cleanup::cleanup;
pub use error::{Error, Result};
pub use fault::{Fault, NodeRules, PartitionKind, FILTER_PATTERN_MAX};
pub use names::{RunId, Subnet};
pub use netns::{in_netns, NetnsBackend};
pub use run::{install_cleanup_handlers, teardown_all, Crash, Run};
pub use schedule::{Nemesis, Schedule, Step, INTERVAL_DEFAULT};
pub use tools::{ensure_tools, is_root, require_root};
