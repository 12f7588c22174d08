//! The `Run` guard, process faults, and teardown on drop, Ctrl-C/SIGTERM and panic.
//!
//! Why: a fault-injection harness that leaves partitions, paused processes or namespaces behind
//! breaks the next run and the user's machine. So a cluster lives inside a [`Run`]: dropping it
//! tears everything down, every live run is in a process-wide registry, and
//! [`install_cleanup_handlers`] (one call, early in `main`) makes SIGINT, SIGTERM, SIGHUP and
//! panics tear down every registered run before the process dies. What escapes even that (a
//! SIGKILLed harness) is found by name by [`crate::cleanup()`].
//!
//! The run also owns the mapping node -> current process and the spec it was started with, so the
//! process faults of a schedule (`Kill`, `Restart`, `Pause`, `Resume`) can be applied by node name
//! and a restart reuses the same command, data dir and (appended) log file.
//!
//! Signal handling uses the self-pipe pattern: the handler only `write(2)`s the signal number to a
//! pipe; a thread named `faultline-cleanup` reads it, tears down every run, then restores the
//! default action and re-raises the signal, so the process ends as the signal says. A harness
//! that handles Ctrl-C itself (e.g. with tokio) calls [`teardown_all`] from its handler instead.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::backend::{Backend, ProcState, ProcessHandle, Sig, SpawnSpec, TeardownReport};
use crate::error::{Error, Result};
use crate::fault::Fault;
use crate::names::RunId;
use crate::netns::NetnsBackend;

/// How long `Kill` waits for the victim to be gone.
const KILL_WAIT_MS_MAX: u64 = 5_000;
/// How long `Pause` waits for the victim to show state `T`.
const STOP_WAIT_MS_MAX: u64 = 1_000;

type Registry = Vec<(u64, Arc<dyn Backend>)>;
static REGISTRY: Mutex<Registry> = Mutex::new(Vec::new());
static NEXT_SLOT: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone)]
struct NodeProc {
    spec: SpawnSpec,
    handle: ProcessHandle,
    /// The nemesis killed this process (so its death is not a crash).
    killed: bool,
}

/// A node process that ended although nothing here killed it: the system under test crashed
/// (a panic, an assertion, an abort). Found when a fault or a restart touches the node, and by
/// [`Run::crashes`] at the end of a test.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Crash {
    /// The node.
    pub node: String,
    /// The process that ended.
    pub pid: u32,
    /// How it ended (`Exited(Some(code))`, `Exited(None)` for a signal, or `Zombie`).
    pub state: ProcState,
}

/// A live cluster: the backend plus the processes started on it. Dropping it tears it down.
pub struct Run {
    backend: Arc<dyn Backend>,
    slot: u64,
    procs: Mutex<BTreeMap<String, NodeProc>>,
    crashes: Mutex<Vec<Crash>>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("backend", &self.backend.kind())
            .field("run_id", self.backend.run_id())
            .finish()
    }
}

impl Run {
    /// Guards `backend` and registers it for [`teardown_all`].
    pub fn new(backend: Arc<dyn Backend>) -> Run {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        registry().push((slot, Arc::clone(&backend)));
        Run {
            backend,
            slot,
            procs: Mutex::new(BTreeMap::new()),
            crashes: Mutex::new(Vec::new()),
        }
    }

    /// Sets up a netns cluster of `nodes` nodes for `run_id` and guards it.
    pub fn netns(run_id: RunId, nodes: usize) -> Result<Run> {
        Ok(Run::new(Arc::new(NetnsBackend::setup(run_id, nodes)?)))
    }

    /// The run id.
    pub fn run_id(&self) -> &RunId {
        self.backend.run_id()
    }

    /// The backend (addresses, connections, raw signals).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The node names.
    pub fn nodes(&self) -> &[String] {
        self.backend.nodes()
    }

    fn procs(&self) -> MutexGuard<'_, BTreeMap<String, NodeProc>> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `node`'s process; `Restart` will start it again with the same spec.
    pub fn start(&self, node: &str, spec: SpawnSpec) -> Result<ProcessHandle> {
        let handle = self.backend.spawn(node, &spec)?;
        self.procs().insert(
            node.to_string(),
            NodeProc {
                spec,
                handle: handle.clone(),
                killed: false,
            },
        );
        Ok(handle)
    }

    /// The current process of `node`, if one was started.
    pub fn process(&self, node: &str) -> Option<ProcessHandle> {
        self.procs().get(node).map(|p| p.handle.clone())
    }

    /// The state of `node`'s current process.
    pub fn state(&self, node: &str) -> Result<ProcState> {
        let handle = self
            .process(node)
            .ok_or_else(|| Error::UnknownNode(node.to_string()))?;
        self.backend.state(&handle)
    }

    /// Applies a fault and checks that it took effect: a killed process is gone, a paused one is
    /// in state `T`, a restarted one has a new PID. Network faults go to the backend.
    pub fn apply(&self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::Partition { .. } | Fault::Loss { .. } | Fault::Filter { .. } | Fault::Heal => {
                self.backend.apply_network(fault)
            }
            Fault::Kill { nodes } => {
                for node in nodes {
                    // Marked before the signal, so the death it causes is never a crash.
                    self.note_crash(node)?;
                    if let Some(p) = self.procs().get_mut(node.as_str()) {
                        p.killed = true;
                    }
                }
                self.each(nodes, |h| {
                    self.backend.signal(h, Sig::Kill)?;
                    let wait = Duration::from_millis(KILL_WAIT_MS_MAX);
                    match self.backend.wait_exit(h, wait)? {
                        s if s.is_alive() => Err(Error::Unkillable {
                            pid: h.pid,
                            waited_ms: KILL_WAIT_MS_MAX,
                        }),
                        _ => Ok(()),
                    }
                })
            }
            Fault::Pause { nodes } => self.each(nodes, |h| {
                self.backend.signal(h, Sig::Stop)?;
                self.wait_stopped(h)
            }),
            Fault::Resume { nodes } => self.each(nodes, |h| self.backend.signal(h, Sig::Cont)),
            Fault::Restart { nodes } => {
                for node in nodes {
                    self.restart(node)?;
                }
                Ok(())
            }
        }
    }

    fn each(&self, nodes: &[String], f: impl Fn(&ProcessHandle) -> Result<()>) -> Result<()> {
        for node in nodes {
            let handle = self
                .process(node)
                .ok_or_else(|| Error::InvalidFault(format!("no process was started on {node}")))?;
            f(&handle)?;
        }
        Ok(())
    }

    fn wait_stopped(&self, h: &ProcessHandle) -> Result<()> {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(STOP_WAIT_MS_MAX) {
            match self.backend.state(h)? {
                ProcState::Stopped => return Ok(()),
                s if !s.is_alive() => return Ok(()),
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        Err(Error::InvalidFault(format!(
            "pid {} on {} not stopped {STOP_WAIT_MS_MAX} ms after SIGSTOP",
            h.pid, h.node
        )))
    }

    /// Starts `node` again with its spec, unless its process still runs.
    pub fn restart(&self, node: &str) -> Result<Option<ProcessHandle>> {
        let current = self
            .procs()
            .get(node)
            .cloned()
            .ok_or_else(|| Error::InvalidFault(format!("no process was started on {node}")))?;
        if self.backend.state(&current.handle)?.is_alive() {
            return Ok(None);
        }
        self.note_crash(node)?;
        self.start(node, current.spec).map(Some)
    }

    /// Records a crash if `node`'s process has ended and the nemesis did not kill it.
    fn note_crash(&self, node: &str) -> Result<()> {
        let Some(p) = self.procs().get(node).cloned() else {
            return Ok(());
        };
        if p.killed {
            return Ok(());
        }
        let state = self.backend.state(&p.handle)?;
        if !state.is_alive() {
            let mut crashes = self.crashes.lock().unwrap_or_else(|e| e.into_inner());
            if !crashes.iter().any(|c| c.pid == p.handle.pid) {
                tracing::warn!(
                    node,
                    pid = p.handle.pid,
                    ?state,
                    "a node process ended by itself"
                );
                crashes.push(Crash {
                    node: node.to_string(),
                    pid: p.handle.pid,
                    state,
                });
            }
        }
        Ok(())
    }

    /// Every node process that ended although the nemesis did not kill it, up to now (those
    /// found by faults and restarts, and any node whose process is dead at this moment).
    pub fn crashes(&self) -> Vec<Crash> {
        let nodes: Vec<String> = self.procs().keys().cloned().collect();
        for node in &nodes {
            if let Err(e) = self.note_crash(node) {
                tracing::warn!(node, error = %e, "could not read a node's process state");
            }
        }
        self.crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The end of a test: heal the network, continue every process, restart the dead ones.
    pub fn heal_all(&self) -> Result<()> {
        self.backend.apply_network(&Fault::Heal)?;
        let nodes: Vec<String> = self.procs().keys().cloned().collect();
        for node in &nodes {
            if let Some(h) = self.process(node) {
                self.backend.signal(&h, Sig::Cont)?;
            }
            self.restart(node)?;
        }
        Ok(())
    }

    /// Tears the run down now and reports what was removed (also done on drop).
    pub fn teardown(self) -> TeardownReport {
        self.teardown_inner()
    }

    fn teardown_inner(&self) -> TeardownReport {
        registry().retain(|(slot, _)| *slot != self.slot);
        self.backend.teardown()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let report = self.teardown_inner();
        if !report.errors.is_empty() {
            tracing::error!(run = %self.backend.run_id(), errors = ?report.errors, "teardown incomplete");
        }
    }
}

/// Tears down every live [`Run`] of this process (for a harness's own Ctrl-C handler). Runs stay
/// registered until dropped; dropping them later is harmless (teardown is idempotent).
pub fn teardown_all() -> TeardownReport {
    let backends: Vec<Arc<dyn Backend>> = registry().iter().map(|(_, b)| Arc::clone(b)).collect();
    let mut report = TeardownReport::default();
    for b in backends {
        report.merge(b.teardown());
    }
    report
}

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static INSTALL: Once = Once::new();

extern "C" fn on_signal(sig: nix::libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the pipe's write end is never closed once installed. write(2) is
        // async-signal-safe; a failed write is ignored (nothing else is safe to do here).
        let _ = nix::unistd::write(unsafe { BorrowedFd::borrow_raw(fd) }, &[sig as u8]);
    }
}

/// One call, early in `main`: on SIGINT, SIGTERM or SIGHUP, tear down every live run and die by
/// that signal; on panic, tear down every live run, then run the previous panic hook. Calling it
/// twice does nothing more.
pub fn install_cleanup_handlers() -> Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| result = install());
    result
}

fn install() -> Result<()> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("creating the cleanup pipe", e.into()))?;
    PIPE_WRITE.store(write.into_raw_fd(), Ordering::Relaxed);
    let mut reader = std::fs::File::from(read);
    std::thread::Builder::new()
        .name("faultline-cleanup".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            if reader.read_exact(&mut byte).is_err() {
                return;
            }
            let sig = Signal::try_from(i32::from(byte[0])).unwrap_or(Signal::SIGTERM);
            eprintln!("faultline: {sig}: tearing down the cluster");
            let report = teardown_all();
            if !report.errors.is_empty() {
                eprintln!("faultline: teardown incomplete: {:?}", report.errors);
            }
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default disposition has no preconditions.
            let _ = unsafe { signal::sigaction(sig, &default) };
            let _ = signal::raise(sig);
            std::process::exit(128 + sig as i32);
        })
        .map_err(|e| Error::io("starting the cleanup thread", e))?;
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: `on_signal` only loads an atomic and calls write(2).
        unsafe { signal::sigaction(sig, &action) }
            .map_err(|e| Error::io(format!("installing a {sig} handler"), e.into()))?;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let report = teardown_all();
        if !report.is_empty() {
            eprintln!(
                "faultline: panic: tore down {} namespaces",
                report.namespaces.len()
            );
        }
    }));
    Ok(())
}
