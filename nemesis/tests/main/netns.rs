//! End-to-end tests of the nemesis with real namespaces, processes and iptables (no mocks).
//!
//! They need root, so each is `#[ignore]`d with a reason starting "needs root:": a plain
//! `cargo test` lists them as ignored, `cargo test -- --include-ignored` (as root) runs them, and
//! run without root they fail and say why. Each test uses its own random run id, so the tests
//! run in parallel threads without sharing a namespace, a bridge or a chain.
//!
//! Helper processes re-execute this test binary with `--exact helper` (the test in `main.rs`)
//! and the role in the environment variable `FL_NEMESIS_HELPER`: `tcp-listen` (a TCP server on
//! port 7000 that answers `pong`) and `owner` (a harness stand-in that sets up a cluster, starts
//! a process in it, prints `READY <pid>` and sleeps until it is killed), `panic` (the same, then
//! panics) and `not-root` (tries a setup and a cleanup as uid 65534). The fixture and probes are
//! in `support.rs`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use nemesis::{cleanup, Backend, Fault, NetnsBackend, PartitionKind, ProcState, RunId, SpawnSpec};

#[test]
#[ignore = "needs root: network namespaces"]
fn partition_blocks_tcp_and_heal_restores_it() {
    needs_root("partition_blocks_tcp_and_heal_restores_it");
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
#[ignore = "needs root: network namespaces"]
fn one_way_partition_is_one_way() {
    needs_root("one_way_partition_is_one_way");
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
#[ignore = "needs root: network namespaces"]
fn loss_drops_packets_with_the_statistic_match() {
    needs_root("loss_drops_packets_with_the_statistic_match");
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
#[ignore = "needs root: network namespaces"]
fn a_filter_holds_back_only_the_matching_messages_of_its_senders() {
    needs_root("a_filter_holds_back_only_the_matching_messages_of_its_senders");
    let c = cluster(3);
    c.listen("n2");
    c.listen("n3");
    let filter = |nodes: &[&str], pattern: &str| Fault::Filter {
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        pattern: pattern.to_string(),
    };
    // n2's listener answers "pong\n": held back when n2 filters "pong", not "ping".
    c.run.apply(&filter(&["n2"], "pong")).unwrap();
    assert!(!c.tcp_probe("n1", "n2"), "n2's pong must be held back");
    assert!(c.tcp_probe("n1", "n3"), "n3 is not filtered");
    c.run.apply(&filter(&["n2"], "ping")).unwrap();
    assert!(
        c.tcp_probe("n1", "n2"),
        "a pattern that does not match passes"
    );
    // A filter is on the sender's output only: n1 filtering "pong" still hears n2's.
    c.run.apply(&filter(&["n1"], "pong")).unwrap();
    assert!(
        c.tcp_probe("n1", "n2"),
        "n1's filter does not touch what n1 receives"
    );
    c.run.apply(&filter(&["n2", "n3"], "pong")).unwrap();
    assert!(!c.tcp_probe("n1", "n3"), "n3's pong must be held back");
    c.run.apply(&Fault::Heal).unwrap();
    assert!(c.tcp_probe("n1", "n2") && c.tcp_probe("n1", "n3"), "healed");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn kill_pause_resume_restart_take_effect() {
    needs_root("kill_pause_resume_restart_take_effect");
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

#[test]
#[ignore = "needs root: network namespaces"]
fn a_process_that_ends_by_itself_is_a_crash_and_a_killed_one_is_not() {
    needs_root("a_process_that_ends_by_itself_is_a_crash_and_a_killed_one_is_not");
    let c = cluster(3);
    let dir = c.dir.path();
    // n1 exits with status 3 by itself; n2 is killed by the nemesis; n3 keeps running.
    let quitter = SpawnSpec::new(
        "sh",
        vec!["-c".into(), "sleep 0.2; exit 3".into()],
        dir.join("n1.log"),
    );
    let n1 = c.run.start("n1", quitter).unwrap();
    c.run.start("n2", sleeper(dir.join("n2.log"))).unwrap();
    c.run.start("n3", sleeper(dir.join("n3.log"))).unwrap();
    assert!(c.run.crashes().is_empty(), "nothing has ended yet");
    c.run
        .apply(&Fault::Kill {
            nodes: vec!["n2".into()],
        })
        .unwrap();
    let start = Instant::now();
    while c.run.state("n1").unwrap().is_alive() && start.elapsed() < READY_TIMEOUT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let crashes = c.run.crashes();
    assert_eq!(crashes.len(), 1, "{crashes:?}");
    assert_eq!(crashes[0].node, "n1");
    assert_eq!(crashes[0].pid, n1.pid);
    assert!(
        matches!(
            crashes[0].state,
            ProcState::Exited(Some(3)) | ProcState::Zombie
        ),
        "{:?}",
        crashes[0].state
    );
    // A restart (as at the end of a test) keeps the record and does not add n2.
    c.run
        .apply(&Fault::Restart {
            nodes: vec!["n1".into(), "n2".into()],
        })
        .unwrap();
    let again = c.run.crashes();
    assert_eq!(again.len(), 1, "{again:?}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn teardown_leaves_nothing_behind() {
    needs_root("teardown_leaves_nothing_behind");
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

#[test]
#[ignore = "needs root: network namespaces"]
fn cleanup_removes_a_sigkilled_run_and_nothing_else() {
    needs_root("cleanup_removes_a_sigkilled_run_and_nothing_else");
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
#[ignore = "needs root: network namespaces"]
fn sigterm_tears_down_through_the_installed_handler() {
    needs_root("sigterm_tears_down_through_the_installed_handler");
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
#[ignore = "needs root: network namespaces"]
fn netns_backend_reports_addresses_and_rejects_unknown_nodes() {
    needs_root("netns_backend_reports_addresses_and_rejects_unknown_nodes");
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
#[ignore = "needs root: network namespaces"]
fn a_panic_tears_down_through_the_installed_hook() {
    needs_root("a_panic_tears_down_through_the_installed_hook");
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
#[ignore = "needs root: runs a helper as uid 65534"]
fn without_root_setup_and_cleanup_say_so_in_one_line() {
    needs_root("without_root_setup_and_cleanup_say_so_in_one_line");
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

#[test]
#[ignore = "needs root: network namespaces"]
fn random_shapes_on_five_nodes_cut_exactly_their_grudge() {
    needs_root("random_shapes_on_five_nodes_cut_exactly_their_grudge");
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
