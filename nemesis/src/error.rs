//! The crate's error type.
//!
//! Why: every operating failure (a command that failed, a missing tool, no root, a process that
//! would not die) is a value the harness can print and map to exit code 2; nothing here panics on
//! bad luck. Each variant names what failed and carries the command's stderr when there is one.

use std::io;

/// Everything that can go wrong while placing nodes, injecting faults or cleaning up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Network namespaces, bridges and iptables need root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
    #[error(
        "faultline needs root for network namespaces (netns backend): run it as root or with sudo"
    )]
    NotRoot,
    /// `ip`/`iptables` are missing and could not be installed here.
    #[error("missing system tools: {missing}; install them with: {install}")]
    MissingTools {
        /// The missing programs, comma separated.
        missing: String,
        /// The exact command to run.
        install: String,
    },
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, as a shell would show it.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A command could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another I/O operation failed (log files, /proc, namespace files).
    #[error("{what}: {source}")]
    Io {
        /// What we were doing, with the path.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Sending a signal failed.
    #[error("signal {signal} to pid {pid} failed: {errno}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// The target process.
        pid: u32,
        /// The error.
        #[source]
        errno: nix::errno::Errno,
    },
    /// The caller named a node this cluster does not have.
    #[error("unknown node `{0}`")]
    UnknownNode(String),
    /// A fault or schedule asked for something this cluster cannot do.
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    /// A run id that does not fit the naming scheme (1 to 6 chars of `[a-z0-9]`).
    #[error("invalid run id `{0}`: expected 1 to 6 characters of [a-z0-9]")]
    InvalidRunId(String),
    /// An unknown nemesis name was given to the schedule.
    #[error("unknown nemesis `{name}`; known: {known}")]
    UnknownNemesis {
        /// The name given.
        name: String,
        /// The names we know.
        known: String,
    },
    /// No private /24 was free on this host.
    #[error("no free private /24 found for run {0} (every candidate is routed on the host)")]
    NoSubnet(String),
    /// A process did not stop in time after SIGKILL.
    #[error("pid {pid} still alive {waited_ms} ms after SIGKILL")]
    Unkillable {
        /// The process.
        pid: u32,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The run was already torn down.
    #[error("run {0} was already torn down")]
    TornDown(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
