//! Runs at once in one process: each touches only what carries its own run id, and the probes
//! of the tests hold while other threads start processes.
//!
//! The tests of this binary run on parallel threads, each with a run of its own, as two
//! clusters of one harness would; these tests check that one run's teardown and cleanup leave
//! another run's namespaces, links, chains and processes alone, and that a probe socket can be
//! opened again and again while other threads fork.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nemesis::cleanup;

use crate::support::*;

#[test]
#[ignore = "needs root: network namespaces"]
fn a_teardown_and_a_cleanup_touch_only_their_own_run() {
    needs_root("a_teardown_and_a_cleanup_touch_only_their_own_run");
    // Set up at the same time, as two tests of this binary are.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| cluster(2));
        let b = s.spawn(|| cluster(2));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a_id, b_id) = (a.id(), b.id());
    assert_ne!(a_id, b_id);
    let sleeper_pid = b
        .run
        .start("n1", sleeper(b.dir.path().join("n1.log")))
        .unwrap()
        .pid;
    let before = leftovers(&b_id, &[sleeper_pid]);
    let count = |found: &[String], kind: &str| found.iter().filter(|l| l.starts_with(kind)).count();
    assert_eq!(count(&before, "netns "), 3, "n1, n2, clients: {before:?}");
    assert_eq!(count(&before, "link "), 4, "bridge and 3 veths: {before:?}");
    assert_eq!(count(&before, "pid "), 1, "{before:?}");

    let report = a.run.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.namespaces.len(), 3, "{report:?}");
    assert!(
        report.namespaces.iter().all(|n| n.contains(a_id.as_str())),
        "{report:?}"
    );
    assert!(
        cleanup(Some(a_id.as_str())).unwrap().is_empty(),
        "nothing of {a_id} is left, and nothing of {b_id} is taken for it"
    );

    let after = leftovers(&b_id, &[sleeper_pid]);
    assert_eq!(count(&after, "netns "), 3, "{after:?}");
    assert_eq!(count(&after, "link "), 4, "{after:?}");
    assert_eq!(count(&after, "pid "), 1, "b's process survived: {after:?}");
    let chains = run_cmd("ip", &["netns", "exec", &b.ns["n1"], "iptables-save"]);
    assert!(
        chains.contains(&format!("-A INPUT -j FL-{b_id}-in")),
        "{chains}"
    );
    assert_eq!(b.udp_delivered("n1", "n2", 5), 5, "b's network still works");
    let report = b.run.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(report.killed.contains(&sleeper_pid), "{report:?}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn udp_probes_hold_while_other_threads_start_processes() {
    needs_root("udp_probes_hold_while_other_threads_start_processes");
    const ROUNDS: usize = 300;
    let c = cluster(2);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // What the other tests' threads do all the time: fork and exec `ip` and `iptables`.
        let spawner = s.spawn(|| {
            let mut spawned = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = std::process::Command::new("true").status();
                spawned += 1;
            }
            spawned
        });
        // Stops the other thread however this one ends, a failed round included.
        let _stop = StopOnDrop(&stop);
        for round in 0..ROUNDS {
            let rx = c.udp("n2");
            let tx = c.udp("n1");
            tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
            let mut buf = [0u8; 4];
            rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let got = rx.recv_from(&mut buf);
            assert!(got.is_ok(), "round {round}: {got:?}");
        }
        drop(_stop);
        let spawned = spawner.join().unwrap();
        assert!(spawned > 0, "the other thread started processes meanwhile");
    });
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
