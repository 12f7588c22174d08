//! Signals and `/proc` states of local processes, by PID.
//!
//! Why a module of its own: both the netns backend (signals to the processes it started,
//! their states while they run) and [`crate::cleanup()`] (the processes a killed harness left
//! inside its namespaces, known only by PID) need these two operations, and neither of those
//! modules should depend on the other for them. This module depends on nothing but the
//! crate's value types.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::backend::{ProcState, Sig};
use crate::error::{Error, Result};

fn to_signal(sig: Sig) -> Signal {
    match sig {
        Sig::Kill => Signal::SIGKILL,
        Sig::Term => Signal::SIGTERM,
        Sig::Stop => Signal::SIGSTOP,
        Sig::Cont => Signal::SIGCONT,
    }
}

/// Sends `sig` to the process group led by `pid` (our spawns lead their own group), falling back
/// to the process alone.
pub(crate) fn signal_pid(pid: u32, sig: Sig) -> Result<()> {
    let signal = to_signal(sig);
    let raw = pid as i32;
    if kill(Pid::from_raw(-raw), signal).is_ok() {
        return Ok(());
    }
    kill(Pid::from_raw(raw), signal).map_err(|errno| Error::Signal {
        signal: sig.name(),
        pid,
        errno,
    })
}

/// The state letter of `/proc/PID/stat`, or `None` when the process does not exist.
pub fn proc_state(pid: u32) -> Option<ProcState> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: the state follows the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after
        .trim_start()
        .chars()
        .next()
        .map(ProcState::from_letter)
}
