//! The `netns` backend: a whole cluster on one Linux machine.
//!
//! Why: network namespaces give every node its own network stack (its own address, its own
//! iptables), so real partitions can be cut between real processes on a laptop or a CI runner,
//! with nothing of the host's network touched.
//!
//! Setup of a run with id `<id>` and N nodes (names in [`crate::names`]), all with `ip`:
//! ```text
//! ip link add flbr-<id> type bridge ; ip link set flbr-<id> up
//! for each member m in n1..nN and c (the clients' namespace):
//!   ip netns add fl-<id>-m
//!   ip link add flv-<id>-m type veth peer name eth0 netns fl-<id>-m
//!   ip link set flv-<id>-m master flbr-<id> up
//!   ip -n fl-<id>-m addr add 10.A.B.K/24 dev eth0 ; ip -n fl-<id>-m link set eth0 up
//!   ip -n fl-<id>-m link set lo up
//! for each node: ip netns exec fl-<id>-nK iptables-restore -w --noflush  (chains FL-<id>-in/out,
//!   jumped to from INPUT/OUTPUT)
//! ```
//! The bridge has no address: the host gets no route and traffic between nodes stays on the
//! bridge. The harness's clients live in their own namespace `fl-<id>-c` (address `.250`) and
//! [`Backend::connect`] opens their sockets there, so partitions (which match node addresses
//! only) never cut a client from a node, as in Jepsen.
//!
//! Network faults rewrite the two chains of every node in one `iptables-restore -w --noflush`
//! per node (declaring a chain flushes it, so a fault replaces the previous one atomically per
//! node). `Heal` writes them empty.
//!
//! Processes: a node's process is started with `std::process::Command` and a `pre_exec` hook that
//! calls `setns(2)` on `/run/netns/fl-<id>-nK` (opened before the fork) and clears the signal
//! mask; it gets its own process group, so a signal reaches the node and its children and a
//! Ctrl-C on the terminal reaches only the harness, which then tears down. We chose `setns` over
//! `ip netns exec` because the PID we get is the node's own and nothing but the network namespace
//! changes. Every process started is tracked (as a `Child`, so its PID cannot be reused before we
//! reap it) until teardown.
//!
//! Host caveat: with `br_netfilter` loaded (`net.bridge.bridge-nf-call-iptables=1`), bridged
//! frames also traverse the host's FORWARD chain; a host whose FORWARD policy is DROP (Docker sets
//! that) blocks traffic between nodes. We never change the host's iptables: setup logs a warning
//! naming the two fixes (`sysctl net.bridge.bridge-nf-call-iptables=0`, or an ACCEPT rule for
//! `flbr-+` in FORWARD) for the operator to choose.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};

use crate::backend::{Backend, ProcState, ProcessHandle, Sig, SpawnSpec, TeardownReport};
use crate::cleanup;
use crate::cmd;
use crate::error::{Error, Result};
use crate::fault::{Fault, NodeRules};
use crate::names::{self, RunId, Subnet, CLIENT_HOST_OCTET, CLIENT_MEMBER, NODES_MAX};
use crate::proc::signal_pid;
// Also public at its former path, `nemesis::netns::proc_state`.
pub use crate::proc::proc_state;
use crate::tools;

/// How long teardown waits for a SIGKILLed process to be reaped.
const KILL_WAIT_MS_MAX: u64 = 5_000;
/// Poll period while waiting on a process.
const POLL_MS: u64 = 5;

/// A cluster of N nodes in network namespaces on this machine. Build it with
/// [`NetnsBackend::setup`]; wrap it in a [`crate::Run`] to get cleanup on drop, Ctrl-C and panic.
#[derive(Debug)]
pub struct NetnsBackend {
    run_id: RunId,
    subnet: Subnet,
    nodes: Vec<String>,
    inner: Mutex<Inner>,
    /// Serialises teardowns (drop, a signal thread and a panic hook may race).
    teardown_lock: Mutex<()>,
}

#[derive(Debug, Default)]
struct Inner {
    procs: Vec<Tracked>,
    torn_down: bool,
}

#[derive(Debug)]
struct Tracked {
    handle: ProcessHandle,
    child: Child,
    exit: Option<Option<i32>>,
}

impl Tracked {
    /// Reaps the child if it exited; returns its exit once known.
    fn poll(&mut self) -> Option<Option<i32>> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status.code());
            }
        }
        self.exit
    }
}

impl NetnsBackend {
    /// Creates the bridge, namespaces, veths, addresses and chains of run `run_id` with
    /// `node_count` nodes `n1..nN`. Needs root and the tools ([`tools::check`]). On failure,
    /// whatever was created is removed again before the error is returned.
    pub fn setup(run_id: RunId, node_count: usize) -> Result<NetnsBackend> {
        tools::check()?;
        if node_count == 0 || node_count > NODES_MAX {
            return Err(Error::InvalidFault(format!(
                "a netns cluster has 1 to {NODES_MAX} nodes, not {node_count}"
            )));
        }
        let routes = names::parse_routes(&cmd::ip(&["-4", "route", "show", "table", "all"])?);
        let subnet = names::choose_subnet(&run_id, &routes)?;
        let backend = NetnsBackend {
            nodes: (1..=node_count).map(names::node_name).collect(),
            run_id,
            subnet,
            inner: Mutex::new(Inner::default()),
            teardown_lock: Mutex::new(()),
        };
        if let Err(e) = backend.create() {
            let report = backend.teardown();
            tracing::warn!(run = %backend.run_id, ?report, "setup failed, removed what was created");
            return Err(e);
        }
        warn_if_host_forward_drops();
        tracing::info!(run = %backend.run_id, subnet = %backend.subnet, nodes = node_count, "netns cluster up");
        Ok(backend)
    }

    fn create(&self) -> Result<()> {
        let bridge = names::bridge_name(&self.run_id);
        cmd::ip(&["link", "add", &bridge, "type", "bridge"])?;
        cmd::ip(&["link", "set", &bridge, "up"])?;
        let members = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), (i + 1) as u8))
            .chain(std::iter::once((CLIENT_MEMBER, CLIENT_HOST_OCTET)));
        for (member, octet) in members {
            let ns = names::netns_name(&self.run_id, member);
            let veth = names::veth_name(&self.run_id, member);
            let addr = format!("{}/24", self.subnet.host(octet));
            cmd::ip(&["netns", "add", &ns])?;
            cmd::ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            cmd::ip(&["link", "set", &veth, "master", &bridge, "up"])?;
            cmd::ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            cmd::ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            cmd::ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let (cin, cout) = (
            names::chain_in(&self.run_id),
            names::chain_out(&self.run_id),
        );
        let hooks = format!(
            "*filter\n:{cin} - [0:0]\n:{cout} - [0:0]\n-A INPUT -j {cin}\n-A OUTPUT -j {cout}\nCOMMIT\n"
        );
        for node in &self.nodes {
            self.restore(node, &hooks)?;
        }
        Ok(())
    }

    fn restore(&self, node: &str, text: &str) -> Result<()> {
        let ns = names::netns_name(&self.run_id, node);
        cmd::in_netns(&ns, "iptables-restore", &["-w", "--noflush"], Some(text)).map(|_| ())
    }

    /// The run's /24.
    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    /// The namespace of `node` (`fl-<id>-nK`).
    pub fn netns_of(&self, node: &str) -> Result<String> {
        self.index(node)?;
        Ok(names::netns_name(&self.run_id, node))
    }

    /// The clients' namespace (`fl-<id>-c`).
    pub fn client_netns(&self) -> String {
        names::netns_name(&self.run_id, CLIENT_MEMBER)
    }

    fn index(&self, node: &str) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n == node)
            .ok_or_else(|| Error::UnknownNode(node.to_string()))
    }

    fn ipv4(&self, node: &str) -> Result<Ipv4Addr> {
        Ok(self.subnet.host((self.index(node)? + 1) as u8))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn chain_text(&self, rules: &NodeRules) -> Result<String> {
        let (cin, cout) = (
            names::chain_in(&self.run_id),
            names::chain_out(&self.run_id),
        );
        let mut text = format!("*filter\n:{cin} - [0:0]\n:{cout} - [0:0]\n");
        let lines = [
            (&cin, "-s", &rules.drop_from),
            (&cout, "-d", &rules.drop_to),
        ];
        for (chain, flag, peers) in lines {
            for (peer, probability) in peers {
                let addr = self.ipv4(peer)?;
                let stat = match probability {
                    None => String::new(),
                    Some(p) if *p <= 0.0 => continue,
                    Some(p) => format!(
                        " -m statistic --mode random --probability {:.4}",
                        p.min(1.0)
                    ),
                };
                text.push_str(&format!("-A {chain} {flag} {addr}/32{stat} -j DROP\n"));
            }
        }
        for pattern in &rules.drop_out_matching {
            // As hex, so no quoting of the pattern's bytes can go wrong in iptables-restore.
            let hex: String = pattern.bytes().map(|b| format!("{b:02x}")).collect();
            for peer in &self.nodes {
                let addr = self.ipv4(peer)?;
                text.push_str(&format!(
                    "-A {cout} -d {addr}/32 -p tcp -m string --algo bm --hex-string |{hex}| -j DROP\n"
                ));
            }
        }
        text.push_str("COMMIT\n");
        Ok(text)
    }
}

/// Runs `f` on a fresh thread inside the network namespace `netns` (by name, as listed by
/// `ip netns list`) and returns its result. Sockets created in `f` stay in that namespace after
/// it returns. The calling thread's namespace does not change.
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let path = format!("/run/netns/{netns}");
    let file = File::open(&path).map_err(|e| Error::io(format!("opening {path}"), e))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::io(format!("setns({path})"), e.into()))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(Error::io("in_netns", io::Error::other("closure panicked"))))
    })
}

fn warn_if_host_forward_drops() {
    let sysctl = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if sysctl.map(|s| s.trim() == "1").unwrap_or(false) {
        if let Ok(rules) = cmd::run("iptables", &["-w", "-S", "FORWARD"], None) {
            if rules.lines().any(|l| l.trim() == "-P FORWARD DROP") {
                tracing::warn!(
                    "host FORWARD policy is DROP and bridge-nf-call-iptables=1: traffic between \
                     nodes will be dropped; fix with `sysctl net.bridge.bridge-nf-call-iptables=0` \
                     or `iptables -I FORWARD -i flbr-+ -o flbr-+ -j ACCEPT`"
                );
            }
        }
    }
}

impl Backend for NetnsBackend {
    fn kind(&self) -> &'static str {
        "netns"
    }

    fn run_id(&self) -> &RunId {
        &self.run_id
    }

    fn nodes(&self) -> &[String] {
        &self.nodes
    }

    fn address(&self, node: &str) -> Result<IpAddr> {
        self.ipv4(node).map(IpAddr::V4)
    }

    fn spawn(&self, node: &str, spec: &SpawnSpec) -> Result<ProcessHandle> {
        let ns = self.netns_of(node)?;
        let mut inner = self.lock();
        if inner.torn_down {
            return Err(Error::TornDown(self.run_id.to_string()));
        }
        if let Some(dir) = spec.log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let log_err = |e| Error::io(format!("opening log {}", spec.log_path.display()), e);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)
            .map_err(log_err)?;
        let log2 = log.try_clone().map_err(log_err)?;
        let ns_path = format!("/run/netns/{ns}");
        let ns_file =
            File::open(&ns_path).map_err(|e| Error::io(format!("opening {ns_path}"), e))?;
        let ns_fd = ns_file.as_raw_fd();
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        // SAFETY: the hook runs between fork and exec and only makes two system calls
        // (setns, sigprocmask), which are async-signal-safe; `ns_file` outlives `spawn`.
        unsafe {
            command.pre_exec(move || {
                let fd = BorrowedFd::borrow_raw(ns_fd);
                nix::sched::setns(fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                nix::sys::signal::sigprocmask(
                    SigmaskHow::SIG_SETMASK,
                    Some(&SigSet::empty()),
                    None,
                )
                .map_err(io::Error::from)?;
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| Error::Spawn {
            command: format!("{} {} (in {ns})", spec.program, spec.args.join(" ")),
            source,
        })?;
        drop(ns_file);
        let handle = ProcessHandle {
            node: node.to_string(),
            pid: child.id(),
        };
        tracing::info!(node, pid = handle.pid, program = %spec.program, "spawned");
        inner.procs.push(Tracked {
            handle: handle.clone(),
            child,
            exit: None,
        });
        Ok(handle)
    }

    fn signal(&self, process: &ProcessHandle, sig: Sig) -> Result<()> {
        let mut inner = self.lock();
        let tracked = inner.procs.iter_mut().find(|t| t.handle == *process);
        match tracked.map(|t| t.poll().is_some()) {
            Some(true) => {
                tracing::debug!(
                    pid = process.pid,
                    sig = sig.name(),
                    "process already exited"
                );
                Ok(())
            }
            Some(_) => signal_pid(process.pid, sig),
            None => Err(Error::InvalidFault(format!(
                "pid {} on {} was not started by this run",
                process.pid, process.node
            ))),
        }
    }

    fn state(&self, process: &ProcessHandle) -> Result<ProcState> {
        let mut inner = self.lock();
        if let Some(t) = inner.procs.iter_mut().find(|t| t.handle == *process) {
            if let Some(code) = t.poll() {
                return Ok(ProcState::Exited(code));
            }
        }
        Ok(proc_state(process.pid).unwrap_or(ProcState::Exited(None)))
    }

    fn wait_exit(&self, process: &ProcessHandle, timeout: Duration) -> Result<ProcState> {
        let start = Instant::now();
        loop {
            let state = self.state(process)?;
            if !state.is_alive() || start.elapsed() >= timeout {
                return Ok(state);
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    fn apply_network(&self, fault: &Fault) -> Result<()> {
        if self.lock().torn_down {
            return Err(Error::TornDown(self.run_id.to_string()));
        }
        let rules = fault.network_rules(&self.nodes)?;
        for (node, r) in &rules {
            self.restore(node, &self.chain_text(r)?)?;
        }
        tracing::info!(f = fault.f(), details = %fault.details(), "network fault applied");
        Ok(())
    }

    fn connect(&self, node: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
        let addr = SocketAddr::new(self.address(node)?, port);
        in_netns(&self.client_netns(), || {
            TcpStream::connect_timeout(&addr, timeout)
        })?
        .map_err(|e| Error::io(format!("connecting to {node} at {addr}"), e))
    }

    fn teardown(&self) -> TeardownReport {
        let _serial = self.teardown_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = TeardownReport::default();
        let procs = {
            let mut inner = self.lock();
            inner.torn_down = true;
            std::mem::take(&mut inner.procs)
        };
        for mut t in procs {
            if t.poll().is_some() {
                continue;
            }
            let pid = t.handle.pid;
            let _ = signal_pid(pid, Sig::Cont);
            let _ = signal_pid(pid, Sig::Kill);
            let start = Instant::now();
            while t.poll().is_none() && start.elapsed() < Duration::from_millis(KILL_WAIT_MS_MAX) {
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
            if t.exit.is_some() {
                report.killed.push(pid);
            } else {
                report.errors.push(
                    Error::Unkillable {
                        pid,
                        waited_ms: KILL_WAIT_MS_MAX,
                    }
                    .to_string(),
                );
            }
        }
        report.merge(cleanup::remove_run(&self.run_id));
        tracing::info!(run = %self.run_id, ?report, "netns cluster torn down");
        report
    }
}
