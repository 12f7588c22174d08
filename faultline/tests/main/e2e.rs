//! End-to-end: the real `faultline test` binary, real raft-node processes in real network
//! namespaces, real iptables rules and signals. Needs root (CI runs as root): a plain `cargo
//! test` skips these tests (`#[ignore]`, run them with `--include-ignored`); run without root,
//! they fail with a message that says so.
//!
//! Both ways: the correct raft-node is valid under partitions and kills, and the planted bugs
//! `stale-read` (under `isolate-leader`) and `no-fsync` (under `kill`) are found invalid within
//! a bounded number of short runs (the number needed is printed). After every run, and after a
//! SIGKILLed run followed by `faultline cleanup`, nothing of the run is left: no namespace, veth,
//! bridge, iptables chain or process.
//!
//! The tests share two CPU cores with everything else, so they run one at a time (a lock).

use crate::support::{bin, ensure_raft_node, stderr, workspace};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the end-to-end tests need root (network namespaces, iptables): run `sudo make test`"
    );
}

pub(crate) fn setup() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    require_root();
    ensure_raft_node();
    guard
}

/// Runs `faultline test` with `args` in a fresh store; returns the output and the run dir.
fn run_test(store: &Path, args: &[&str]) -> (Output, PathBuf) {
    run_spec("raft-register", store, args)
}

/// [`run_test`] for `systems/<spec>.toml`.
pub(crate) fn run_spec(spec: &str, store: &Path, args: &[&str]) -> (Output, PathBuf) {
    let out = Command::new(bin())
        .arg("test")
        .arg("--system")
        .arg(workspace().join(format!("systems/{spec}.toml")))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run faultline test");
    let run_dir = std::fs::canonicalize(store.join("latest")).unwrap_or_else(|e| {
        panic!(
            "no store/latest ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, run_dir)
}

pub(crate) fn results(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// PIDs of the nodes the run spawned, from its log (`spawned node=.. pid=..`).
pub(crate) fn node_pids(run_dir: &Path) -> Vec<u32> {
    let log = std::fs::read_to_string(run_dir.join("faultline.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("spawned"))
        .filter_map(|l| l.split("pid=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn cmd_out(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything of run `id` still on the machine.
pub(crate) fn leftovers(id: &str, pids: &[u32]) -> Vec<String> {
    let mut left = Vec::new();
    for ns in cmd_out("ip", &["netns", "list"]).lines() {
        if ns.starts_with(&format!("fl-{id}-")) {
            left.push(format!("namespace {ns}"));
        }
    }
    for link in cmd_out("ip", &["-o", "link", "show"]).lines() {
        if link.contains(&format!("flbr-{id}")) || link.contains(&format!("flv-{id}-")) {
            left.push(format!("link {link}"));
        }
    }
    if cmd_out("iptables-save", &[]).contains(&format!("FL-{id}")) {
        left.push("iptables chain on the host".into());
    }
    for &pid in pids {
        if alive(pid) {
            left.push(format!("process {pid}"));
        }
    }
    left
}

pub(crate) fn run_id(run_dir: &Path) -> String {
    results(run_dir)["run"]["id"]
        .as_str()
        .expect("run.id")
        .to_string()
}

pub(crate) fn assert_clean(run_dir: &Path) {
    let id = run_id(run_dir);
    let pids = node_pids(run_dir);
    assert!(!pids.is_empty(), "the log names the nodes' PIDs");
    let left = leftovers(&id, &pids);
    assert!(left.is_empty(), "run {id} left: {left:?}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn healthy_partition_and_kill_runs_of_the_correct_node_are_valid_and_leave_nothing() {
    let _g = setup();
    for nemesis in ["none", "partition", "kill"] {
        let store = tempfile::tempdir().unwrap();
        let (out, dir) = run_test(
            store.path(),
            &[
                "--nodes",
                "3",
                "--time-limit",
                "8",
                "--nemesis-interval",
                "2",
                "--nemesis",
                nemesis,
                "--seed",
                "11",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{nemesis}: {text}\n{}",
            stderr(&out)
        );
        assert!(text.contains("verdict: valid"), "{text}");
        assert!(
            text.contains(&format!("store: {}", dir.display())),
            "{text}"
        );
        let r = results(&dir);
        assert_eq!(r["valid"], true);
        assert_eq!(r["checks"]["election_safety"]["valid"], true);
        let ok = r["figures"]["ops"]["ok"].as_u64().unwrap();
        assert!(ok > 100, "{nemesis}: only {ok} ok ops");
        assert_eq!(
            r["run"]["final_reads"], r["run"]["keys"],
            "every key read at the end"
        );
        let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
        if nemesis != "none" {
            let fam = if nemesis == "kill" {
                "kill"
            } else {
                "partition"
            };
            assert!(history.contains(&format!("\"f\":\"start-{fam}\"")));
            assert!(history.contains(&format!("\"f\":\"stop-{fam}\"")));
        }
        for n in ["n1", "n2", "n3"] {
            assert!(dir.join("nodes").join(format!("{n}.log")).exists());
            assert!(dir.join("nodes").join(n).is_dir());
        }
        assert_clean(&dir);
    }
}

/// Runs with `--node-args "--bug BUG"` until one is invalid; returns (runs needed, explanation).
fn hunt(bug: &str, nemesis: &str, extra: &[&str], runs_max: u64) -> Option<(u64, String)> {
    let node_args = format!("--bug {bug}");
    let mut args = vec!["--node-args", &node_args];
    args.extend_from_slice(extra);
    hunt_spec("raft-register", &node_args, nemesis, &args, runs_max)
}

/// Runs `spec` under `nemesis` with seeds 1, 2, ... until one is invalid; `what` names the
/// flaw hunted in the printed line.
pub(crate) fn hunt_spec(
    spec: &str,
    what: &str,
    nemesis: &str,
    extra: &[&str],
    runs_max: u64,
) -> Option<(u64, String)> {
    for seed in 1..=runs_max {
        let store = tempfile::tempdir().unwrap();
        let seed_text = seed.to_string();
        let mut args = vec!["--nodes", "3", "--nemesis", nemesis, "--seed", &seed_text];
        args.extend_from_slice(extra);
        let (out, dir) = run_spec(spec, store.path(), &args);
        assert_clean(&dir);
        match out.status.code() {
            Some(0) => continue,
            Some(1) => {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                println!("{what} under {nemesis}: invalid in run {seed} of at most {runs_max}");
                return Some((seed, text));
            }
            other => panic!("run failed ({other:?}): {}", stderr(&out)),
        }
    }
    None
}

#[test]
#[ignore = "needs root: network namespaces"]
fn stale_read_is_caught_under_isolate_leader() {
    let _g = setup();
    let extra = [
        "--time-limit",
        "16",
        "--nemesis-interval",
        "1",
        "--keys",
        "1",
        "--rate",
        "500",
    ];
    // CheckQuorum makes the window short (a deposed leader steps down within an election
    // timeout), so the run isolates the leader often (1 s intervals) on one hot key; with
    // 2 s intervals on 2 keys it once needed more than 10 runs.
    let (_, text) = hunt("stale-read", "isolate-leader", &extra, 10)
        .expect("--bug stale-read under isolate-leader was not caught in 10 runs");
    assert!(text.contains("a stale read"), "{text}");
    assert!(text.contains("verdict: INVALID"), "{text}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn no_fsync_is_caught_under_kill() {
    let _g = setup();
    let extra = [
        "--time-limit",
        "12",
        "--nemesis-interval",
        "1.5",
        "--keys",
        "4",
        "--rate",
        "300",
    ];
    let (_, text) = hunt("no-fsync", "kill", &extra, 6)
        .expect("--bug no-fsync under kill was not caught in 6 runs");
    assert!(text.contains("verdict: INVALID"), "{text}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_sigkilled_run_is_removed_by_cleanup_and_nothing_else_is_touched() {
    let _g = setup();
    let store = tempfile::tempdir().unwrap();
    // A namespace that looks like ours but is not (no run-id pattern): it must survive.
    let decoy = "fl-decoy-keep";
    let _ = Command::new("ip").args(["netns", "add", decoy]).status();
    let mut child = Command::new(bin())
        .arg("test")
        .arg("--system")
        .arg(workspace().join("systems/raft-register.toml"))
        .arg("--store")
        .arg(store.path())
        .args([
            "--nodes",
            "3",
            "--time-limit",
            "60",
            "--nemesis",
            "partition",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faultline test");
    let mut id = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.strip_prefix("faultline: run ") {
            id = rest.split(':').next().map(str::to_string);
        }
        if line.contains("ready") {
            break;
        }
    }
    let id = id.expect("faultline printed its run id");
    // Let the nemesis start a partition (iptables rules inside the namespaces).
    std::thread::sleep(Duration::from_secs(6));
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let pids = node_pids(&dir);
    assert_eq!(pids.len(), 3, "three nodes were spawned");
    assert!(
        !leftovers(&id, &pids).is_empty(),
        "the run is up before the kill"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    // SIGKILL runs no handler: everything is still there.
    assert!(leftovers(&id, &pids)
        .iter()
        .any(|l| l.starts_with("namespace")));
    let out = Command::new(bin())
        .args(["cleanup", "--run", &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("killed 3 process(es)"), "{text}");
    let left = leftovers(&id, &pids);
    let decoy_kept = cmd_out("ip", &["netns", "list"])
        .lines()
        .any(|l| l.starts_with(decoy));
    let _ = Command::new("ip").args(["netns", "del", decoy]).status();
    assert!(left.is_empty(), "after cleanup: {left:?}");
    assert!(decoy_kept, "cleanup removed a namespace that was not ours");
    // A second cleanup finds nothing.
    let out = Command::new(bin())
        .args(["cleanup", "--run", &id])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing left behind"));
}

#[test]
fn a_bad_spec_or_nemesis_is_a_clear_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.toml");
    std::fs::write(
        &spec,
        "name = \"x\"\nclient = \"jsonl-tcp\"\nstart = \"{bin}/raft-node --data {datadir}\"\nclient_addr = \"{ip}:7000\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["test", "--system"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml") && err.contains("{datadir}"),
        "{err}"
    );
    let out = Command::new(bin())
        .args(["test", "--nemesis", "earthquake", "--system"])
        .arg(workspace().join("systems/raft-register.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("earthquake"), "{}", stderr(&out));
}

pub(crate) fn require_etcd() {
    let found = Command::new("etcd").arg("--version").output().is_ok();
    assert!(
        found,
        "etcd is not installed: run scripts/ensure-etcd.sh (installs Debian's etcd-server as root)"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn etcd_is_valid_under_partitions_and_kills_and_leaves_nothing() {
    let _g = setup();
    require_etcd();
    for nemesis in ["partition", "kill"] {
        let store = tempfile::tempdir().unwrap();
        let (out, dir) = run_spec(
            "etcd",
            store.path(),
            &[
                "--nodes",
                "3",
                "--time-limit",
                "10",
                "--nemesis-interval",
                "2",
                "--nemesis",
                nemesis,
                "--seed",
                "5",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{nemesis}: {text}\n{}",
            stderr(&out)
        );
        let r = results(&dir);
        assert_eq!(r["valid"], true);
        assert_eq!(
            r["checks"]["election_safety"]["valid"], true,
            "sampled by the probe"
        );
        assert!(r["checks"]["election_safety"]["leaders"].as_u64().unwrap() >= 1);
        assert!(r["figures"]["ops"]["ok"].as_u64().unwrap() > 100);
        assert!(dir.join("report.html").exists());
        assert_clean(&dir);
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn etcd_with_serializable_reads_is_caught_under_isolate_leader() {
    let _g = setup();
    require_etcd();
    let extra = [
        "--time-limit",
        "12",
        "--nemesis-interval",
        "2",
        "--keys",
        "2",
        "--rate",
        "400",
    ];
    let (_, text) = hunt_spec(
        "etcd-serializable",
        "etcd with serializable reads",
        "isolate-leader",
        &extra,
        6,
    )
    .expect("serializable reads under isolate-leader were not caught in 6 runs");
    // Usually named "a stale read"; when real time alone does not prove which write the read
    // missed, the explanation says that no order fits instead. Either way a read is blamed,
    // with the member that served it.
    assert!(text.contains("linearizability: invalid"), "{text}");
    assert!(text.contains("cannot be linearized"), "{text}");
    assert!(text.contains("The read was served by n"), "{text}");
}

/// The workload's client events (those before the final heal, after which only the final
/// reads run): (type, process, node) of each invoke and completion.
fn workload_events(run_dir: &Path) -> Vec<(String, u64, Option<String>)> {
    let text = std::fs::read_to_string(run_dir.join("history.jsonl")).expect("history.jsonl");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .take_while(|e| e["f"] != "heal-all")
        .filter_map(|e| {
            let process = e["process"].as_u64()?;
            let kind = e["type"].as_str()?.to_string();
            Some((kind, process, e["node"].as_str().map(String::from)))
        })
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn spread_clients_send_each_process_home_and_a_paused_home_costs_only_timeouts() {
    let _g = setup();
    let store = tempfile::tempdir().unwrap();
    let (out, dir) = run_test(
        store.path(),
        &[
            "--nodes",
            "3",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "14",
            "--concurrency",
            "6",
            "--seed",
            "3",
            "--clients",
            "spread",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_clean(&dir);
    let nodes = ["n1", "n2", "n3"];
    let events = workload_events(&dir);
    let invokes: Vec<_> = events.iter().filter(|e| e.0 == "invoke").collect();
    assert!(invokes.len() > 100, "only {} ops", invokes.len());
    // Every op went first to its process's home node, p mod 3, and each node got a share
    // (not an equal one: retired processes draw fresh ids, and a paused home's slot is slow).
    for (kind, process, node) in &events {
        let node = node
            .as_deref()
            .unwrap_or_else(|| panic!("an event without a node: {kind} of process {process}"));
        if kind == "invoke" {
            assert_eq!(node, nodes[*process as usize % 3], "process {process}");
        }
    }
    // A node paused more often than the others gets fewer (its processes spend a timeout per
    // pause, measured down to 9.5%), but every node gets a share: clients that follow the
    // leader would send the followers next to nothing.
    for n in nodes {
        let sent = invokes.iter().filter(|e| e.2.as_deref() == Some(n)).count();
        assert!(
            sent * 20 > invokes.len(),
            "{n} was sent {sent} of {} ops",
            invokes.len()
        );
    }
    // A paused home: its ops timed out (info), the process was retired and the slot went on
    // as a new process, whose ops completed.
    let infos: Vec<(usize, u64)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.0 == "info")
        .map(|(i, e)| (i, e.1))
        .collect();
    assert!(!infos.is_empty(), "no op timed out under pause");
    for &(at, p) in &infos {
        assert!(
            !events[at + 1..].iter().any(|e| e.1 == p && e.0 == "invoke"),
            "process {p} invoked again after its op ended info"
        );
    }
    let (at, p) = infos[0];
    assert!(
        events[at + 1..].iter().any(|e| e.1 > p && e.0 == "ok"),
        "nothing completed after process {p} was retired"
    );
}
