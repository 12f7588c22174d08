//! The backend trait: where nodes live and how faults reach them.
//!
//! Why: faultline runs on one machine today (`netns`) and is meant to run on real hosts later
//! (`ssh`: each node a host, iptables over ssh, as Jepsen does). So the trait speaks of nodes,
//! addresses, process handles (a node and a PID *on that node*) and per-node drop rules; it never
//! hands out a local path, a namespace or a `std::process::Child`. What is specific to one machine
//! (entering a namespace) stays in the backend's own type.

use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fault::Fault;
use crate::names::RunId;

/// How to start a node's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnSpec {
    /// The program: an absolute path, or a name looked up in `PATH` (a relative path with a `/`
    /// is ambiguous when `cwd` is set, so make it absolute).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (the rest is inherited).
    pub env: Vec<(String, String)>,
    /// Where stdout and stderr go (appended, so a restart continues the same log).
    pub log_path: PathBuf,
    /// Working directory, if not the harness's.
    pub cwd: Option<PathBuf>,
}

impl SpawnSpec {
    /// A spec with no extra environment and no working directory.
    pub fn new(
        program: impl Into<String>,
        args: Vec<String>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        SpawnSpec {
            program: program.into(),
            args,
            env: Vec::new(),
            log_path: log_path.into(),
            cwd: None,
        }
    }
}

/// A process we started on a node. The PID is the node's (local for `netns`, remote for `ssh`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessHandle {
    /// The node it runs on.
    pub node: String,
    /// Its PID there.
    pub pid: u32,
}

/// A signal the nemesis sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Sig {
    /// SIGKILL: crash.
    Kill,
    /// SIGTERM: polite stop.
    Term,
    /// SIGSTOP: pause.
    Stop,
    /// SIGCONT: resume.
    Cont,
}

impl Sig {
    /// The conventional name (`SIGKILL`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Sig::Kill => "SIGKILL",
            Sig::Term => "SIGTERM",
            Sig::Stop => "SIGSTOP",
            Sig::Cont => "SIGCONT",
        }
    }
}

/// A process's state, from `/proc/PID/stat` (field 3) while it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcState {
    /// `R`: running or runnable.
    Running,
    /// `S`, `D`, `I`: sleeping (waiting on I/O, a timer, ...).
    Sleeping,
    /// `T`, `t`: stopped (SIGSTOP) or traced.
    Stopped,
    /// `Z`: exited, not reaped yet.
    Zombie,
    /// Another state letter.
    Other(char),
    /// Gone: exited and reaped. The exit code if it exited normally, else `None` (signal).
    Exited(Option<i32>),
}

impl ProcState {
    /// From a `/proc/PID/stat` state letter.
    pub fn from_letter(c: char) -> Self {
        match c {
            'R' => ProcState::Running,
            'S' | 'D' | 'I' => ProcState::Sleeping,
            'T' | 't' => ProcState::Stopped,
            'Z' | 'X' => ProcState::Zombie,
            other => ProcState::Other(other),
        }
    }

    /// Whether the process still exists and has not exited.
    pub fn is_alive(self) -> bool {
        !matches!(self, ProcState::Exited(_) | ProcState::Zombie)
    }
}

/// What a teardown or a cleanup removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownReport {
    /// Processes killed (PIDs).
    pub killed: Vec<u32>,
    /// Namespaces deleted.
    pub namespaces: Vec<String>,
    /// Links deleted (veths, bridges).
    pub links: Vec<String>,
    /// Things that could not be removed, with the reason.
    pub errors: Vec<String>,
}

impl TeardownReport {
    /// Adds another report's entries to this one.
    pub fn merge(&mut self, other: TeardownReport) {
        self.killed.extend(other.killed);
        self.namespaces.extend(other.namespaces);
        self.links.extend(other.links);
        self.errors.extend(other.errors);
    }

    /// Whether nothing was removed and nothing failed.
    pub fn is_empty(&self) -> bool {
        self.killed.is_empty()
            && self.namespaces.is_empty()
            && self.links.is_empty()
            && self.errors.is_empty()
    }
}

/// A place to run a cluster. Implementations are thread-safe: the harness's nemesis thread, its
/// clients and a signal handler's teardown may call them concurrently.
pub trait Backend: Send + Sync {
    /// The backend's name (`netns`, ...).
    fn kind(&self) -> &'static str;

    /// The run this cluster belongs to.
    fn run_id(&self) -> &RunId;

    /// The node names, `n1..nN`.
    fn nodes(&self) -> &[String];

    /// The address of `node` that peers and clients use.
    fn address(&self, node: &str) -> Result<IpAddr>;

    /// Starts a process on `node`; the backend tracks it until teardown.
    fn spawn(&self, node: &str, spec: &SpawnSpec) -> Result<ProcessHandle>;

    /// Sends `sig` to a process we started (and its process group).
    fn signal(&self, process: &ProcessHandle, sig: Sig) -> Result<()>;

    /// The process's state; `Exited` once it is gone.
    fn state(&self, process: &ProcessHandle) -> Result<ProcState>;

    /// Waits up to `timeout` for the process to be gone; returns its final state or the state it
    /// is still in.
    fn wait_exit(&self, process: &ProcessHandle, timeout: Duration) -> Result<ProcState>;

    /// Applies a network fault (`Partition`, `Loss`, `Heal`), replacing any network fault in
    /// force: network faults do not stack, the last one applied is the one in force.
    fn apply_network(&self, fault: &Fault) -> Result<()>;

    /// Opens a TCP connection from the harness's side (never partitioned) to `node:port`.
    ///
    /// Use this rather than connecting directly: with `netns` the host has no route to the
    /// nodes' subnet, so the socket is created inside the clients' namespace. The stream is a
    /// blocking `std` one; for tokio, `set_nonblocking(true)` then `tokio::net::TcpStream::from_std`.
    fn connect(&self, node: &str, port: u16, timeout: Duration) -> Result<TcpStream>;

    /// Removes everything of this run: processes (continued, then killed), network faults,
    /// namespaces, links. Idempotent; reports what it removed.
    fn teardown(&self) -> TeardownReport;
}
