//! End-to-end tests of the nemesis with real namespaces, processes and iptables (no mocks).
//!
//! They need root. Without root they fail and say why, unless `FAULTLINE_SKIP_ROOT_TESTS=1`, in
//! which case each prints a SKIP line. Each test uses its own random run id, so the tests run in
//! parallel threads without sharing a namespace, a bridge or a chain.
//!
//! Helper processes re-execute this test binary with `--exact helper` and the role in the
//! environment variable `FL_NEMESIS_HELPER`: `tcp-listen` (a TCP server on port 7000 that answers
//! `pong`) and `owner` (a harness stand-in that sets up a cluster, starts a process in it, prints
//! `READY <pid>` and sleeps until it is killed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nemesis::{
    cleanup, in_netns, names, Backend, Fault, NetnsBackend, PartitionKind, ProcState, Run, RunId,
    SpawnSpec,
};

const HELPER_ENV: &str = "FL_NEMESIS_HELPER";
const LISTEN_PORT: u16 = 7000;
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// An `owner` helper ends by itself after this long (or when its parent test dies).
const OWNER_LIFETIME_MAX: Duration = Duration::from_secs(60);

/// Not a test: the entry point of helper processes. Does nothing unless `FL_NEMESIS_HELPER` is set.
#[test]
fn helper() {
    let Ok(role) = std::env::var(HELPER_ENV) else {
        return;
    };
    match role.as_str() {
        "tcp-listen" => {
            let listener = TcpListener::bind(("0.0.0.0", LISTEN_PORT)).expect("bind");
            println!("listening on {LISTEN_PORT}");
            for mut conn in listener.incoming().flatten() {
                let _ = conn.write_all(b"pong\n");
            }
        }
        "owner" => {
            let id = RunId::new(&std::env::var("FL_RUN_ID").unwrap()).unwrap();
            nemesis::install_cleanup_handlers().unwrap();
            let run = Run::netns(id, 2).unwrap();
            let dir = std::env::var("FL_LOG_DIR").unwrap();
            let h = run
                .start("n1", sleeper(std::path::Path::new(&dir).join("n1.log")))
                .unwrap();
            println!("READY {}", h.pid);
            std::io::stdout().flush().unwrap();
            // Wait to be killed, but never outlive the test that started us.
            let parent = nix::unistd::getppid();
            let start = Instant::now();
            while nix::unistd::getppid() == parent && start.elapsed() < OWNER_LIFETIME_MAX {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(run);
        }
        "panic" => {
            let id = RunId::new(&std::env::var("FL_RUN_ID").unwrap()).unwrap();
            nemesis::install_cleanup_handlers().unwrap();
            let run = Run::netns(id, 2).unwrap();
            let dir = std::env::var("FL_LOG_DIR").unwrap();
            let h = run
                .start("n1", sleeper(std::path::Path::new(&dir).join("n1.log")))
                .unwrap();
            println!("READY {}", h.pid);
            std::io::stdout().flush().unwrap();
            // Keep the run alive past the panic: only the hook may tear it down.
            std::mem::forget(run);
            panic!("planted panic");
        }
        "not-root" => {
            let setup = Run::netns(RunId::random(), 2).map(drop);
            let clean = cleanup(None).map(drop);
            for result in [setup, clean] {
                match result {
                    Err(e @ nemesis::Error::NotRoot) => println!("NOTROOT {e}"),
                    other => println!("UNEXPECTED {other:?}"),
                }
            }
        }
        other => panic!("unknown helper role {other}"),
    }
}

/// True when the test may run; prints SKIP and returns false without root when skipping is asked
/// for; otherwise fails loudly.
fn root_or_skip(test: &str) -> bool {
    if nemesis::is_root() {
        nemesis::ensure_tools().expect("ip/iptables");
        return true;
    }
    if std::env::var("FAULTLINE_SKIP_ROOT_TESTS").as_deref() == Ok("1") {
        // Written to the stream directly: libtest captures only the print macros, and a skip
        // must be visible.
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test}: needs root (network namespaces); FAULTLINE_SKIP_ROOT_TESTS=1"
        );
        return false;
    }
    panic!(
        "{test}: these tests need root for network namespaces, bridges and iptables; \
         run them as root, or set FAULTLINE_SKIP_ROOT_TESTS=1 to skip them"
    );
}

fn sleeper(log: std::path::PathBuf) -> SpawnSpec {
    SpawnSpec::new("sleep", vec!["1000".into()], log)
}

fn listener_spec(log: std::path::PathBuf) -> SpawnSpec {
    let exe = std::env::current_exe().unwrap();
    let mut spec = SpawnSpec::new(
        exe.to_string_lossy(),
        ["--exact", "helper", "--nocapture", "--test-threads=1"]
            .map(String::from)
            .to_vec(),
        log,
    );
    spec.env.push((HELPER_ENV.into(), "tcp-listen".into()));
    spec
}

struct Cluster {
    run: Run,
    ns: BTreeMap<String, String>,
    ips: BTreeMap<String, Ipv4Addr>,
    dir: tempfile::TempDir,
}

fn cluster(nodes: usize) -> Cluster {
    let id = RunId::random();
    let run = Run::netns(id.clone(), nodes).expect("netns setup");
    let mut ns = BTreeMap::new();
    let mut ips = BTreeMap::new();
    for n in run.nodes() {
        ns.insert(n.clone(), names::netns_name(&id, n));
        let std::net::IpAddr::V4(ip) = run.backend().address(n).unwrap() else {
            panic!("v4")
        };
        ips.insert(n.clone(), ip);
    }
    Cluster {
        run,
        ns,
        ips,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Cluster {
    /// Starts the TCP listener on `node` and waits until a client reaches it.
    fn listen(&self, node: &str) {
        let log = self.dir.path().join(format!("{node}.log"));
        self.run.start(node, listener_spec(log)).unwrap();
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if self
                .run
                .backend()
                .connect(node, LISTEN_PORT, PROBE_TIMEOUT)
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("listener on {node} not reachable from the clients' namespace");
    }

    /// A TCP probe from `from`'s namespace to `to`'s listener: true when it answered `pong`.
    fn tcp_probe(&self, from: &str, to: &str) -> bool {
        let addr = SocketAddr::from((self.ips[to], LISTEN_PORT));
        let stream = in_netns(&self.ns[from], || {
            TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
        })
        .unwrap();
        let Ok(mut s) = stream else { return false };
        s.set_read_timeout(Some(PROBE_TIMEOUT)).unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).is_ok() && buf == "pong\n"
    }

    /// A UDP socket bound to port `port` inside `node`'s namespace.
    fn udp(&self, node: &str, port: u16) -> UdpSocket {
        let ip = self.ips[node];
        let s = in_netns(&self.ns[node], || UdpSocket::bind((ip, port)))
            .unwrap()
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s
    }

    /// Sends `count` datagrams from `from` to `to` and counts those that arrive.
    fn udp_delivered(&self, from: &str, to: &str, count: usize) -> usize {
        let rx = self.udp(to, 9000);
        let tx = self.udp(from, 9001);
        let dest = SocketAddr::from((self.ips[to], 9000));
        for i in 0..count {
            // A local OUTPUT DROP makes send_to fail with EPERM: that datagram is not delivered.
            let _ = tx.send_to(format!("{i}").as_bytes(), dest);
        }
        let mut got = 0;
        let mut buf = [0u8; 64];
        while rx.recv_from(&mut buf).is_ok() {
            got += 1;
        }
        got
    }

    fn id(&self) -> RunId {
        self.run.run_id().clone()
    }
}

fn groups(gs: &[&[&str]]) -> Vec<Vec<String>> {
    gs.iter()
        .map(|g| g.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn partition_blocks_tcp_and_heal_restores_it() {
    if !root_or_skip("partition_blocks_tcp_and_heal_restores_it") {
        return;
    }
    let c = cluster(3);
    c.listen("n2");
    c.listen("n3");
    assert!(c.tcp_probe("n1", "n2"), "healthy cluster: n1 reaches n2");
    let fault = Fault::partition(PartitionKind::Custom, groups(&[&["n1"], &["n2", "n3"]]));
    c.run.apply(&fault).unwrap();
    assert!(
        !c.tcp_probe("n1", "n2"),
        "partitioned: n1 must not reach n2"
    );
    assert!(
        !c.tcp_probe("n1", "n3"),
        "partitioned: n1 must not reach n3"
    );
    assert!(c.tcp_probe("n3", "n2"), "same side: n3 reaches n2");
    // The clients are never partitioned.
    assert!(c
        .run
        .backend()
        .connect("n2", LISTEN_PORT, PROBE_TIMEOUT)
        .is_ok());
    c.run.apply(&Fault::Heal).unwrap();
    assert!(c.tcp_probe("n1", "n2"), "healed: n1 reaches n2 again");
}

#[test]
fn one_way_partition_is_one_way() {
    if !root_or_skip("one_way_partition_is_one_way") {
        return;
    }
    let c = cluster(3);
    // n1 hears n2; n2 does not hear n1.
    let mut grudge = BTreeMap::new();
    grudge.insert("n2".to_string(), vec!["n1".to_string()]);
    let fault = Fault::Partition {
        kind: PartitionKind::OneWay,
        groups: groups(&[&["n1"], &["n2"]]),
        grudge,
    };
    assert_eq!(c.udp_delivered("n1", "n2", 5), 5, "healthy both ways");
    c.run.apply(&fault).unwrap();
    assert_eq!(c.udp_delivered("n2", "n1", 5), 5, "n1 still hears n2");
    assert_eq!(c.udp_delivered("n1", "n2", 5), 0, "n2 must not hear n1");
    assert_eq!(c.udp_delivered("n3", "n2", 5), 5, "n2 still hears n3");
    c.run.apply(&Fault::Heal).unwrap();
    assert_eq!(c.udp_delivered("n1", "n2", 5), 5, "healed");
}

#[test]
fn loss_drops_packets_with_the_statistic_match() {
    if !root_or_skip("loss_drops_packets_with_the_statistic_match") {
        return;
    }
    let c = cluster(3);
    c.listen("n2");
    let full = Fault::Loss {
        nodes: vec!["n2".into()],
        percent: 100,
    };
    c.run.apply(&full).unwrap();
    assert_eq!(c.udp_delivered("n1", "n2", 20), 0, "100% loss drops all");
    assert!(!c.tcp_probe("n1", "n2"), "100% loss: TCP cannot connect");
    assert_eq!(
        c.udp_delivered("n2", "n1", 20),
        20,
        "loss is on n2's input only"
    );
    let half = Fault::Loss {
        nodes: vec!["n2".into()],
        percent: 50,
    };
    c.run.apply(&half).unwrap();
    let got = c.udp_delivered("n1", "n2", 400);
    // Binomial(400, 0.5): mean 200, sd 10; 120..=280 is 8 sd wide.
    assert!((120..=280).contains(&got), "50% loss delivered {got}/400");
    c.run.apply(&Fault::Heal).unwrap();
    assert_eq!(c.udp_delivered("n1", "n2", 20), 20, "healed");
    assert!(c.tcp_probe("n1", "n2"));
}

#[test]
fn kill_pause_resume_restart_take_effect() {
    if !root_or_skip("kill_pause_resume_restart_take_effect") {
        return;
    }
    let c = cluster(3);
    let log = c.dir.path().join("n3.log");
    let first = c.run.start("n3", sleeper(log)).unwrap();
    assert!(std::path::Path::new(&format!("/proc/{}", first.pid)).exists());
    let n3 = vec!["n3".to_string()];

    c.run.apply(&Fault::Pause { nodes: n3.clone() }).unwrap();
    assert_eq!(c.run.state("n3").unwrap(), ProcState::Stopped);
    assert_eq!(stat_letter(first.pid), Some('T'));
    c.run.apply(&Fault::Resume { nodes: n3.clone() }).unwrap();
    // Continued: runnable for an instant, then back asleep in nanosleep.
    let start = Instant::now();
    while stat_letter(first.pid) != Some('S') && start.elapsed() < READY_TIMEOUT {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(c.run.state("n3").unwrap(), ProcState::Sleeping);

    c.run.apply(&Fault::Kill { nodes: n3.clone() }).unwrap();
    assert!(matches!(c.run.state("n3").unwrap(), ProcState::Exited(_)));
    assert!(
        !std::path::Path::new(&format!("/proc/{}", first.pid)).exists(),
        "killed pid {} must be gone",
        first.pid
    );

    c.run.apply(&Fault::Restart { nodes: n3 }).unwrap();
    let second = c.run.process("n3").unwrap();
    assert_ne!(second.pid, first.pid);
    assert!(c.run.state("n3").unwrap().is_alive());
    // The restarted process is in n3's namespace.
    assert_eq!(netns_of_pid(second.pid), netns_inode(&c.ns["n3"]));
}

fn stat_letter(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn netns_of_pid(pid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino()
}

fn netns_inode(ns: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{ns}")).unwrap().ino()
}

/// Everything of run `id` visible on the host: namespaces, links, chains, and which of `pids` live.
fn leftovers(id: &RunId, pids: &[u32]) -> Vec<String> {
    let mut found = Vec::new();
    let ns = run_cmd("ip", &["netns", "list"]);
    let links = run_cmd("ip", &["-o", "link", "show"]);
    let rules = run_cmd("iptables-save", &[]);
    for line in ns.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if names::parse_netns(name).as_ref() == Some(id) {
            found.push(format!("netns {name}"));
        }
    }
    for line in links.lines() {
        if line.contains(&format!("flbr-{id}")) || line.contains(&format!("flv-{id}-")) {
            found.push(format!("link {line}"));
        }
    }
    if rules.contains(&format!("FL-{id}")) {
        found.push("host iptables chain".into());
    }
    for &pid in pids {
        if matches!(stat_letter(pid), Some(c) if c != 'Z') {
            found.push(format!("pid {pid}"));
        }
    }
    found
}

fn run_cmd(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn teardown_leaves_nothing_behind() {
    if !root_or_skip("teardown_leaves_nothing_behind") {
        return;
    }
    let c = cluster(3);
    let id = c.id();
    c.listen("n1");
    let paused = c
        .run
        .start("n2", sleeper(c.dir.path().join("n2.log")))
        .unwrap();
    c.run
        .apply(&Fault::Pause {
            nodes: vec!["n2".into()],
        })
        .unwrap();
    c.run
        .apply(&Fault::partition(
            PartitionKind::Custom,
            groups(&[&["n1"], &["n2", "n3"]]),
        ))
        .unwrap();
    let pids = vec![c.run.process("n1").unwrap().pid, paused.pid];
    let ns = c.ns["n1"].clone();
    let chains = run_cmd("ip", &["netns", "exec", &ns, "iptables-save"]);
    assert!(
        chains.contains(&format!("-A INPUT -j FL-{id}-in")),
        "{chains}"
    );
    assert!(
        !leftovers(&id, &pids).is_empty(),
        "the run exists before teardown"
    );
    let report = c.run.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.namespaces.len(), 4, "3 nodes + clients: {report:?}");
    assert_eq!(leftovers(&id, &pids), Vec::<String>::new());
    assert!(
        cleanup(Some(id.as_str())).unwrap().is_empty(),
        "nothing left to clean"
    );
}

fn spawn_owner(id: &RunId, dir: &std::path::Path) -> (std::process::Child, u32) {
    spawn_helper("owner", id, dir)
}

fn spawn_helper(role: &str, id: &RunId, dir: &std::path::Path) -> (std::process::Child, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, role)
        .env("FL_RUN_ID", id.as_str())
        .env("FL_LOG_DIR", dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid = loop {
        let line = lines.next().expect("owner ended before READY").unwrap();
        // libtest may print `test helper ... ` on the same line first.
        if let Some((_, pid)) = line.split_once("READY ") {
            break pid.trim().parse::<u32>().unwrap();
        }
    };
    (child, pid)
}

/// Removes the test's own not-ours namespace and link, even when an assertion fails.
struct Keepers(String, String);

impl Drop for Keepers {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = Command::new("ip").args(["link", "del", &self.1]).status();
    }
}

#[test]
fn cleanup_removes_a_sigkilled_run_and_nothing_else() {
    if !root_or_skip("cleanup_removes_a_sigkilled_run_and_nothing_else") {
        return;
    }
    let id = RunId::random();
    let dir = tempfile::tempdir().unwrap();
    let (mut owner, sleeper_pid) = spawn_owner(&id, dir.path());
    // Not ours, though they carry the id: they must survive.
    let keep_ns = format!("fl-{id}-keep");
    let keep_link = format!("flx-{id}");
    run_cmd("ip", &["netns", "add", &keep_ns]);
    run_cmd("ip", &["link", "add", &keep_link, "type", "bridge"]);
    let _remove_keepers = Keepers(keep_ns.clone(), keep_link.clone());

    owner.kill().unwrap(); // SIGKILL: no destructor, no handler runs.
    owner.wait().unwrap();
    let left = leftovers(&id, &[sleeper_pid]);
    assert!(left.iter().any(|l| l.starts_with("netns")), "{left:?}");
    assert!(left.contains(&format!("pid {sleeper_pid}")), "{left:?}");

    let report = cleanup(Some(id.as_str())).unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(report.killed.contains(&sleeper_pid), "{report:?}");
    assert_eq!(report.namespaces.len(), 3, "n1, n2, clients: {report:?}");
    assert_eq!(leftovers(&id, &[sleeper_pid]), Vec::<String>::new());
    assert!(cleanup(Some(id.as_str())).unwrap().is_empty(), "idempotent");

    let ns = run_cmd("ip", &["netns", "list"]);
    let links = run_cmd("ip", &["-o", "link", "show"]);
    let keep_ns_left = ns
        .lines()
        .any(|l| l.split_whitespace().next() == Some(&keep_ns));
    let keep_link_left = links.contains(&format!(": {keep_link}:"));
    assert!(keep_ns_left, "cleanup removed {keep_ns}, which is not ours");
    assert!(
        keep_link_left,
        "cleanup removed {keep_link}, which is not ours"
    );
}

#[test]
fn sigterm_tears_down_through_the_installed_handler() {
    if !root_or_skip("sigterm_tears_down_through_the_installed_handler") {
        return;
    }
    let id = RunId::random();
    let dir = tempfile::tempdir().unwrap();
    let (mut owner, sleeper_pid) = spawn_owner(&id, dir.path());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(owner.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = owner.wait().unwrap();
    let left = leftovers(&id, &[sleeper_pid]);
    if !left.is_empty() {
        cleanup(Some(id.as_str())).unwrap();
    }
    assert_eq!(left, Vec::<String>::new(), "owner exited with {status:?}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "dies by SIGTERM after teardown");
}

#[test]
fn netns_backend_reports_addresses_and_rejects_unknown_nodes() {
    if !root_or_skip("netns_backend_reports_addresses_and_rejects_unknown_nodes") {
        return;
    }
    let id = RunId::random();
    let backend = NetnsBackend::setup(id.clone(), 2).unwrap();
    let subnet = backend.subnet();
    assert_eq!(
        backend.address("n2").unwrap(),
        std::net::IpAddr::V4(subnet.host(2))
    );
    assert!(backend.address("n3").is_err());
    // The host has no route to the run's /24.
    let routes = run_cmd("ip", &["-4", "route", "show", "table", "all"]);
    assert!(
        !routes.contains(&format!("10.{}.{}.", subnet.a, subnet.b)),
        "{routes}"
    );
    let report = backend.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(leftovers(&id, &[]), Vec::<String>::new());
}

#[test]
fn a_panic_tears_down_through_the_installed_hook() {
    if !root_or_skip("a_panic_tears_down_through_the_installed_hook") {
        return;
    }
    let id = RunId::random();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, sleeper_pid) = spawn_helper("panic", &id, dir.path());
    let status = child.wait().unwrap();
    let left = leftovers(&id, &[sleeper_pid]);
    if !left.is_empty() {
        cleanup(Some(id.as_str())).unwrap();
    }
    assert_eq!(left, Vec::<String>::new(), "helper exited with {status:?}");
    assert!(!status.success(), "the helper panicked");
}

#[test]
fn without_root_setup_and_cleanup_say_so_in_one_line() {
    if !root_or_skip("without_root_setup_and_cleanup_say_so_in_one_line") {
        return;
    }
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, "not-root")
        .uid(NOBODY)
        .gid(NOBODY)
        .current_dir("/")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("NOTROOT ").map(|(_, m)| m))
        .collect();
    assert_eq!(lines.len(), 2, "setup and cleanup both refuse: {stdout}");
    for msg in lines {
        assert!(msg.contains("needs root for network namespaces"), "{msg}");
    }
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
}

/// Who hears whom, measured with one UDP datagram per ordered pair of nodes.
fn hearing(c: &Cluster) -> BTreeMap<String, Vec<String>> {
    let nodes: Vec<String> = c.run.nodes().to_vec();
    let socks: BTreeMap<String, UdpSocket> =
        nodes.iter().map(|n| (n.clone(), c.udp(n, 9100))).collect();
    for from in &nodes {
        for to in nodes.iter().filter(|t| *t != from) {
            let dest = SocketAddr::from((c.ips[to], 9100));
            let _ = socks[from].send_to(from.as_bytes(), dest);
        }
    }
    // On one bridge a datagram arrives within microseconds; then drain without blocking.
    std::thread::sleep(Duration::from_millis(150));
    let mut heard = BTreeMap::new();
    for (n, sock) in &socks {
        sock.set_nonblocking(true).unwrap();
        let mut got = vec![n.clone()];
        let mut buf = [0u8; 16];
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        got.sort_by_key(|s| (s.len(), s.clone()));
        heard.insert(n.clone(), got);
    }
    heard
}

#[test]
fn random_shapes_on_five_nodes_cut_exactly_their_grudge() {
    if !root_or_skip("random_shapes_on_five_nodes_cut_exactly_their_grudge") {
        return;
    }
    let c = cluster(5);
    let nodes = c.run.nodes().to_vec();
    let everyone: BTreeMap<String, Vec<String>> =
        nodes.iter().map(|n| (n.clone(), nodes.clone())).collect();
    assert_eq!(hearing(&c), everyone, "healthy");
    let mut schedule =
        nemesis::Schedule::new("majorities-ring", &nodes, 7, Duration::ZERO).unwrap();
    let mut shapes = vec![schedule.next_step(None).unwrap().start];
    let mut schedule = nemesis::Schedule::new("bridge", &nodes, 7, Duration::ZERO).unwrap();
    shapes.push(schedule.next_step(None).unwrap().start);
    for fault in shapes {
        let Fault::Partition { grudge, kind, .. } = &fault else {
            panic!("{fault:?}")
        };
        let expected: BTreeMap<String, Vec<String>> = nodes
            .iter()
            .map(|n| {
                let deaf = grudge.get(n).cloned().unwrap_or_default();
                let heard = nodes
                    .iter()
                    .filter(|p| !deaf.contains(p))
                    .cloned()
                    .collect();
                (n.clone(), heard)
            })
            .collect();
        c.run.apply(&fault).unwrap();
        let measured = hearing(&c);
        assert_eq!(measured, expected, "{kind:?}: {fault:?}");
        if *kind == PartitionKind::MajoritiesRing {
            let views: std::collections::BTreeSet<&Vec<String>> = measured.values().collect();
            assert_eq!(views.len(), 5, "no two nodes hear the same majority");
            assert!(measured.values().all(|v| v.len() == 3), "{measured:?}");
        }
        c.run.apply(&Fault::Heal).unwrap();
    }
    assert_eq!(hearing(&c), everyone, "healed");
}
