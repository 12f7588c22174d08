//! Shared pieces of the netns tests: helper processes, the cluster fixture, probes and checks.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nemesis::{cleanup, in_netns, names, Run, RunId, SpawnSpec};

pub const HELPER_ENV: &str = "FL_NEMESIS_HELPER";
pub const LISTEN_PORT: u16 = 7000;
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// An `owner` helper ends by itself after this long (or when its parent test dies).
pub const OWNER_LIFETIME_MAX: Duration = Duration::from_secs(60);

/// The body of the `helper` test (in `main.rs`): runs the role named in `FL_NEMESIS_HELPER`, if any.
pub fn helper_main() {
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
            panic!("planted panic (expected: the test checks that the hook tore the run down)");
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

/// The first line of every test that needs root (they are `#[ignore]`d with a reason that says
/// so, and run with `--include-ignored`): fails loudly, naming what is missing, when not root or
/// when `ip`/`iptables` cannot be installed.
pub fn needs_root(test: &str) {
    assert!(
        nemesis::is_root(),
        "{test}: needs root for network namespaces, bridges and iptables; run it as root \
         (plain `cargo test` skips it: it is ignored)"
    );
    if let Err(e) = nemesis::ensure_tools() {
        panic!("{test}: the system tools are missing: {e}");
    }
}

pub fn sleeper(log: std::path::PathBuf) -> SpawnSpec {
    SpawnSpec::new("sleep", vec!["1000".into()], log)
}

pub fn listener_spec(log: std::path::PathBuf) -> SpawnSpec {
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

pub struct Cluster {
    pub run: Run,
    pub ns: BTreeMap<String, String>,
    pub ips: BTreeMap<String, Ipv4Addr>,
    pub dir: tempfile::TempDir,
}

pub fn cluster(nodes: usize) -> Cluster {
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
    pub fn listen(&self, node: &str) {
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
    pub fn tcp_probe(&self, from: &str, to: &str) -> bool {
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

    /// A UDP socket inside `node`'s namespace, on its address and a port the kernel picks.
    ///
    /// Never a fixed port: the tests of this binary run on parallel threads that keep starting
    /// processes (`ip`, `iptables-restore`, helpers), and a child holds a copy of every
    /// descriptor of this process from its fork until its exec. A socket closed a moment ago
    /// may so still hold its port, and binding that port again fails with `AddrInUse`
    /// (`udp_probes_hold_while_other_threads_start_processes` shows it).
    pub fn udp(&self, node: &str) -> UdpSocket {
        let ip = self.ips[node];
        let s = in_netns(&self.ns[node], || UdpSocket::bind((ip, 0)))
            .unwrap()
            .unwrap_or_else(|e| panic!("binding a UDP socket on {node} ({ip}): {e}"));
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s
    }

    /// Sends `count` datagrams from `from` to `to` and counts those that arrive.
    pub fn udp_delivered(&self, from: &str, to: &str, count: usize) -> usize {
        let rx = self.udp(to);
        let tx = self.udp(from);
        let dest = rx.local_addr().unwrap();
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

    pub fn id(&self) -> RunId {
        self.run.run_id().clone()
    }
}

pub fn groups(gs: &[&[&str]]) -> Vec<Vec<String>> {
    gs.iter()
        .map(|g| g.iter().map(|s| s.to_string()).collect())
        .collect()
}

pub fn stat_letter(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

pub fn netns_of_pid(pid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino()
}

pub fn netns_inode(ns: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{ns}")).unwrap().ino()
}

/// Everything of run `id` visible on the host: namespaces, links, chains, and which of `pids` live.
pub fn leftovers(id: &RunId, pids: &[u32]) -> Vec<String> {
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

pub fn run_cmd(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn spawn_owner(id: &RunId, dir: &std::path::Path) -> (std::process::Child, u32) {
    spawn_helper("owner", id, dir)
}

pub fn spawn_helper(role: &str, id: &RunId, dir: &std::path::Path) -> (std::process::Child, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, role)
        .env("RUST_BACKTRACE", "0")
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
    // Read the rest, so that the helper's last lines do not meet a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, pid)
}

/// Removes the test's own not-ours namespace and link, even when an assertion fails.
pub struct Keepers(pub String, pub String);

impl Drop for Keepers {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = Command::new("ip").args(["link", "del", &self.1]).status();
    }
}

/// Who hears whom, measured with one UDP datagram per ordered pair of nodes.
pub fn hearing(c: &Cluster) -> BTreeMap<String, Vec<String>> {
    let nodes: Vec<String> = c.run.nodes().to_vec();
    let socks: BTreeMap<String, UdpSocket> = nodes.iter().map(|n| (n.clone(), c.udp(n))).collect();
    for from in &nodes {
        for to in nodes.iter().filter(|t| *t != from) {
            let dest = socks[to].local_addr().unwrap();
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
