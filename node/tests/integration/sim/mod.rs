//! The 6.824 Raft tests (2A-2D) as deterministic simulations of our core, plus the planted
//! bugs, each caught within a bounded number of seeds while the bug-free core passes the same
//! scenario. Section numbers refer to the Raft paper (extended version). A failure prints its
//! seed; `SIM_SEED=<seed> cargo test -p node --test integration <name>` replays it. The
//! [`driver`] tests run the same scenarios with a slow disk, where a leader's AppendEntries
//! leave before its own writes are durable, as in the runtime.

mod driver;
mod planted;

use crate::simulator::{self, seeds, Sim};
use crate::support::{read, write};
use node::core::Bugs;
use rand::Rng;

/// §5.2 (6.824 TestInitialElection): one leader is elected, and it stays while nothing fails.
#[test]
fn initial_election() {
    for seed in seeds(0..10) {
        let mut s = Sim::new(3, seed, Bugs::default());
        let l = s
            .await_leader(100)
            .unwrap_or_else(|| panic!("{}", s.fail("no leader in 1 s")));
        let term = s.node(l).unwrap().term();
        s.run(300);
        assert_eq!(
            s.leader(),
            Some(l),
            "{}",
            s.fail("leader changed without failures")
        );
        assert_eq!(
            s.node(l).unwrap().term(),
            term,
            "{}",
            s.fail("term changed")
        );
        s.check().unwrap();
    }
}

/// §5.2 (6.824 TestReElection): isolating the leader elects another; healing keeps one leader per term; a minority
/// elects nobody and commits nothing.
#[test]
fn re_election() {
    for seed in seeds(0..10) {
        let mut s = Sim::new(3, seed, Bugs::default());
        let l1 = s.await_leader(100).unwrap();
        s.isolate(l1);
        s.run(100);
        let l2 = s
            .leader()
            .filter(|&l| l != l1)
            .or_else(|| (0..3).find(|&i| i != l1 && s.node(i).unwrap().is_leader()));
        assert!(
            l2.is_some(),
            "{}",
            s.fail("no new leader after isolating the old one")
        );
        s.heal();
        s.run(100);
        assert!(s.leader().is_some());
        // Isolate everyone: no majority anywhere, so no leader remains after CheckQuorum.
        s.partition(&[vec![0], vec![1], vec![2]]);
        s.run(100);
        assert!(
            (0..3).all(|i| !s.node(i).unwrap().is_leader()),
            "{}",
            s.fail("a minority kept a leader")
        );
        s.heal();
        assert!(s.await_leader(200).is_some());
        s.check().unwrap();
    }
}

/// §5.3 (6.824 TestBasicAgree): writes commit on every node and are read back.
#[test]
fn basic_agree() {
    for seed in seeds(0..3) {
        let mut s = Sim::new(3, seed, Bugs::default());
        s.await_leader(100).unwrap();
        for i in 1..=10 {
            assert_eq!(s.commit(write("k", i, i as u64), 200), Some(Ok(None)));
        }
        assert_eq!(s.commit(read("k"), 200), Some(Ok(Some(10))));
        s.run(20);
        let last = s.node(0).unwrap().last_index();
        assert!(
            (0..3).all(|i| s.node(i).unwrap().commit_index() == last),
            "{}",
            s.fail("not every node committed")
        );
        s.check().unwrap();
    }
}

/// §5.3 (6.824 TestFailAgree): with one follower gone, the majority commits; it catches up when it returns.
#[test]
fn fail_agree() {
    for seed in seeds(0..5) {
        let mut s = Sim::new(3, seed, Bugs::default());
        let l = s.await_leader(100).unwrap();
        let f = (l + 1) % 3;
        s.isolate(f);
        for i in 1..=5 {
            assert!(
                s.commit(write("k", i, i as u64), 300).is_some(),
                "{}",
                s.fail("no commit without one follower")
            );
        }
        s.heal();
        s.run(100);
        let commit = s.node(s.leader().unwrap()).unwrap().commit_index();
        assert_eq!(
            s.node(f).unwrap().commit_index(),
            commit,
            "{}",
            s.fail("follower did not catch up")
        );
        s.check().unwrap();
    }
}

/// §5.3 (6.824 TestFailNoAgree): with 3 of 5 gone, nothing commits; after healing, progress resumes.
#[test]
fn fail_no_agree() {
    for seed in seeds(0..5) {
        let mut s = Sim::new(5, seed, Bugs::default());
        let l = s.await_leader(100).unwrap();
        let others: Vec<usize> = (0..5).filter(|&i| i != l).collect();
        s.partition(&[vec![l, others[0]], others[1..].to_vec()]);
        let idx = s.submit(l, write("k", 1, 1));
        s.run(100);
        assert!(
            !matches!(s.ops[idx].result, Some(Ok(_))),
            "{}",
            s.fail("committed without a majority")
        );
        s.heal();
        assert!(
            s.commit(write("k", 2, 2), 500).is_some(),
            "{}",
            s.fail("no progress after heal")
        );
        s.check().unwrap();
    }
}

/// §5.3 (6.824 TestConcurrentStarts): 50 concurrent writes all commit within 50 ticks, which
/// takes pipelined, batched AppendEntries (one round trip per entry would need far more).
#[test]
fn concurrent_starts() {
    for seed in seeds(0..3) {
        let mut s = Sim::new(3, seed, Bugs::default());
        let l = s.await_leader(100).unwrap();
        let ids: Vec<usize> = (0..50)
            .map(|i| s.submit(l, write(&format!("k{}", i % 5), 100 + i, 0)))
            .collect();
        s.run(50);
        assert!(
            ids.iter().all(|&i| matches!(s.ops[i].result, Some(Ok(_)))),
            "{}",
            s.fail("not all 50 commit")
        );
        s.check().unwrap();
    }
}

/// §5.3-§5.4.1 (6.824 TestRejoin): a partitioned leader takes writes that never become
/// visible; it rejoins as a follower and its uncommitted suffix is overwritten.
#[test]
fn rejoin() {
    for seed in seeds(0..5) {
        let mut s = Sim::new(3, seed, Bugs::default());
        let l1 = s.await_leader(100).unwrap();
        s.commit(write("k", 1, 1), 200).unwrap().unwrap();
        s.isolate(l1);
        for v in 2..5 {
            s.submit(l1, write("k", v, v as u64));
        }
        s.run(100);
        assert!(s.commit(write("k", 10, 10), 500).is_some());
        s.heal();
        s.run(100);
        assert_eq!(
            s.commit(read("k"), 500),
            Some(Ok(Some(10))),
            "{}",
            s.fail("stale writes surfaced")
        );
        s.check().unwrap();
    }
}

/// §5.3, fast backup (6.824 TestBackup): long divergent logs are repaired quickly after heal,
/// skipping a conflicting term per round trip.
#[test]
fn backup() {
    for seed in seeds(4..6) {
        let mut s = Sim::new(5, seed, Bugs::default());
        let l = s.await_leader(100).unwrap();
        let f = (l + 1) % 5;
        let rest: Vec<usize> = (0..5).filter(|&i| i != l && i != f).collect();
        s.partition(&[vec![l, f], rest.clone()]);
        for v in 0..50 {
            s.submit(l, write("k", 1000 + v, 0));
        }
        s.run(100);
        for v in 0..50 {
            if let Some(nl) = s.leader().filter(|x| rest.contains(x)) {
                s.submit(nl, write("k", 2000 + v, 0));
            }
        }
        s.run(100);
        let before = s.messages_sent;
        s.heal();
        let start = s.now;
        let leader = s.await_leader(200).unwrap();
        loop {
            let c = s.node(leader).unwrap().commit_index();
            if (0..5).all(|i| s.node(i).unwrap().commit_index() == c) || s.now - start > 500 {
                break;
            }
            s.tick();
        }
        let ticks = s.now - start;
        assert!(
            ticks < 200,
            "{}",
            s.fail(&format!("repair took {ticks} ticks"))
        );
        assert!(
            s.messages_sent - before < 2000,
            "{}",
            s.fail(&format!(
                "repair used {} messages",
                s.messages_sent - before
            ))
        );
        s.check().unwrap();
    }
}

/// §5.2-§5.3 (6.824 TestCount): a bounded number of messages for an election and per agreement.
#[test]
fn rpc_count() {
    let mut s = Sim::new(3, 5, Bugs::default());
    s.await_leader(100).unwrap();
    let election = s.messages_sent;
    assert!(election < 40, "election took {election} messages");
    let before = s.messages_sent;
    for i in 1..=10 {
        s.commit(write("k", i, i as u64), 100).unwrap().unwrap();
    }
    let per_op = (s.messages_sent - before) as f64 / 10.0;
    assert!(per_op < 30.0, "{per_op} messages per agreement");
}

/// Figure 2, persistent state (6.824 TestPersist1): crash and restart nodes one by one and
/// all at once; acknowledged writes survive.
#[test]
fn persist1() {
    for seed in seeds(0..5) {
        let mut s = Sim::new(3, seed, Bugs::default());
        s.await_leader(100).unwrap();
        s.commit(write("k", 1, 1), 200).unwrap().unwrap();
        for i in 0..3 {
            s.crash(i);
            s.run(30);
            s.restart(i);
            s.commit(write("k", 10 + i as i64, 10 + i as u64), 400)
                .unwrap()
                .unwrap();
        }
        for i in 0..3 {
            s.crash(i);
        }
        for i in 0..3 {
            s.restart(i);
        }
        assert_eq!(
            s.commit(read("k"), 500),
            Some(Ok(Some(12))),
            "{}",
            s.fail("lost an acknowledged write")
        );
        s.check().unwrap();
    }
}

/// Runs a chaos scenario: clients, and every `period` ticks a random fault from `faults`.
pub(crate) fn chaos(s: &mut Sim, ticks: u64, faults: &[&str]) {
    let mut seq = 0;
    for t in 0..ticks {
        if s.rng.gen_bool(0.3) {
            seq += 1;
            let client = format!("c{}", seq % 4);
            s.random_op(3, &client, seq);
        }
        if t % 40 == 0 && !faults.is_empty() {
            let n = s.n();
            s.heal();
            for i in 0..n {
                if !s.alive(i) && s.rng.gen_bool(0.7) {
                    s.restart(i);
                }
            }
            match faults[s.rng.gen_range(0..faults.len())] {
                "crash-leader" => {
                    if let Some(l) = s.leader() {
                        s.crash(l);
                    }
                }
                "crash" => {
                    let i = s.rng.gen_range(0..n);
                    s.crash(i);
                }
                "isolate-leader" => {
                    if let Some(l) = s.leader() {
                        s.isolate(l);
                    }
                }
                "partition" => {
                    let mut nodes: Vec<usize> = (0..n).collect();
                    for k in (1..n).rev() {
                        let j = s.rng.gen_range(0..=k);
                        nodes.swap(k, j);
                    }
                    let cut = s.rng.gen_range(1..n);
                    s.partition(&[nodes[..cut].to_vec(), nodes[cut..].to_vec()]);
                }
                _ => {}
            }
        }
        s.tick();
    }
    s.heal();
    for i in 0..s.n() {
        s.restart(i);
    }
    s.run(200);
}

/// Figure 8 (§5.4.2, 6.824 TestFigure82C): leaders crash and restart with writes in flight;
/// several terms elect leaders, and nothing committed is lost.
#[test]
fn figure8() {
    for seed in seeds(0..6) {
        let mut s = Sim::new(5, seed, Bugs::default());
        chaos(&mut s, 1500, &["crash-leader", "crash"]);
        s.check().unwrap();
        assert!(
            s.leaders.len() >= 5,
            "{}",
            s.fail("too few elections: the faults did nothing")
        );
        assert!(
            s.commit(write("z", 1, 0), 1000).is_some(),
            "{}",
            s.fail("no progress at the end")
        );
    }
}

/// §5.3 on an unreliable network (6.824 TestUnreliableAgree): drops, duplicates and
/// reordering; agreement still happens and every op is linearizable.
#[test]
fn unreliable_agree() {
    for seed in seeds(0..4) {
        let mut s = Sim::new(5, seed, Bugs::default());
        s.net = simulator::NetConfig {
            drop: 0.1,
            duplicate: 0.05,
            delay_max: 5,
        };
        chaos(&mut s, 800, &[]);
        s.check().unwrap();
        assert!(
            s.ops
                .iter()
                .filter(|o| matches!(o.result, Some(Ok(_))))
                .count()
                > 50
        );
    }
}

/// Figure 8 (§5.4.2) on an unreliable network (6.824 TestFigure8Unreliable).
#[test]
fn figure8_unreliable() {
    for seed in seeds(0..4) {
        let mut s = Sim::new(5, seed, Bugs::default());
        s.net = simulator::NetConfig {
            drop: 0.1,
            duplicate: 0.05,
            delay_max: 8,
        };
        chaos(
            &mut s,
            1500,
            &["crash-leader", "partition", "isolate-leader"],
        );
        s.check().unwrap();
    }
}

/// §5 as a whole (6.824 TestReliableChurn, TestUnreliableChurn): random crashes, restarts and
/// partitions with concurrent clients; some ops complete and all are linearizable.
#[test]
fn churn() {
    for seed in seeds(0..4) {
        for unreliable in [false, true] {
            let mut s = Sim::new(5, seed, Bugs::default());
            if unreliable {
                s.net = simulator::NetConfig {
                    drop: 0.1,
                    duplicate: 0.05,
                    delay_max: 5,
                };
            }
            chaos(
                &mut s,
                1200,
                &["crash", "crash-leader", "partition", "isolate-leader"],
            );
            s.check().unwrap();
            let ok = s
                .ops
                .iter()
                .filter(|o| matches!(o.result, Some(Ok(_))))
                .count();
            assert!(ok >= 10, "{}", s.fail(&format!("only {ok} ops completed")));
        }
    }
}

/// §7 (6.824 TestSnapshotBasic, TestSnapshotInstall): the log is compacted and a laggard
/// catches up by InstallSnapshot.
#[test]
fn snapshots() {
    let mut s = Sim::new(3, 9, Bugs::default());
    s.snapshot_entries = 20;
    for i in 0..3 {
        s.crash(i);
        s.restart(i);
    }
    let l = s.await_leader(100).unwrap();
    let f = (l + 1) % 3;
    s.crash(f);
    for v in 1..=100 {
        s.commit(write(&format!("k{}", v % 3), v, v as u64), 200)
            .unwrap()
            .unwrap();
    }
    let leader = s.leader().unwrap();
    assert!(
        s.node(leader).unwrap().snapshot_index() > 50,
        "leader compacted its log"
    );
    s.restart(f);
    s.run(200);
    let node = s.node(f).unwrap();
    assert!(node.snapshot_index() > 50, "laggard installed a snapshot");
    assert_eq!(node.commit_index(), s.node(leader).unwrap().commit_index());
    assert_eq!(s.commit(read("k1"), 200), Some(Ok(Some(100))));
    s.check().unwrap();
}

/// Figure 2, persistent state (6.824 TestPersist2): five nodes; rounds in which the leader and
/// another node crash, the rest commit, and the crashed ones restart and catch up.
#[test]
fn persist2() {
    for seed in seeds(0..3) {
        let mut s = Sim::new(5, seed, Bugs::default());
        let mut value = 0;
        for _ in 0..4 {
            value += 1;
            s.commit(write("k", value, value as u64), 500)
                .unwrap()
                .unwrap();
            let l = s.leader().unwrap();
            let other = (l + 1) % 5;
            s.crash(l);
            s.crash(other);
            value += 1;
            let ok = s.commit(write("k", value, value as u64), 800);
            assert!(ok.is_some(), "{}", s.fail("three of five did not commit"));
            s.restart(l);
            s.restart(other);
        }
        for i in 0..5 {
            s.crash(i);
            s.restart(i);
        }
        let got = s.commit(read("k"), 800);
        assert_eq!(got, Some(Ok(Some(value))), "{}", s.fail("lost a write"));
        s.check().unwrap();
    }
}

/// Figure 2, persistent state (6.824 TestPersist3): a partitioned leader and one follower
/// crash, the leader restarts; every acknowledged write survives.
#[test]
fn persist3() {
    for seed in seeds(0..3) {
        let mut s = Sim::new(3, seed, Bugs::default());
        s.commit(write("k", 101, 1), 500).unwrap().unwrap();
        let l = s.leader().unwrap();
        let (f1, f2) = ((l + 1) % 3, (l + 2) % 3);
        s.isolate(f2);
        s.commit(write("k", 102, 2), 500).unwrap().unwrap();
        s.crash(l);
        s.crash(f1);
        s.heal();
        s.restart(f1);
        s.commit(write("k", 103, 3), 800).unwrap().unwrap();
        s.restart(l);
        s.commit(write("k", 104, 4), 800).unwrap().unwrap();
        assert_eq!(
            s.commit(read("k"), 500),
            Some(Ok(Some(104))),
            "{}",
            s.fail("lost a write")
        );
        s.run(50);
        let c = s.node(s.leader().unwrap()).unwrap().commit_index();
        assert!(
            (0..3).all(|i| s.node(i).unwrap().commit_index() == c),
            "{}",
            s.fail("no agreement")
        );
        s.check().unwrap();
    }
}

/// §7 under faults (6.824 TestSnapshotInstallUnreliable, TestSnapshotInstallCrash): a small
/// snapshot threshold, crashes, partitions and an unreliable network; snapshots are taken and
/// installed, and every op stays linearizable.
#[test]
fn snapshots_under_faults() {
    for seed in seeds(0..3) {
        let mut s = Sim::new(5, seed, Bugs::default());
        s.snapshot_entries = 10;
        s.net = simulator::NetConfig {
            drop: 0.1,
            duplicate: 0.05,
            delay_max: 5,
        };
        chaos(&mut s, 1200, &["crash", "crash-leader", "partition"]);
        s.check().unwrap();
        let compacted = (0..5)
            .filter(|&i| s.node(i).unwrap().snapshot_index() > 0)
            .count();
        assert!(compacted >= 3, "{}", s.fail("snapshots were not taken"));
        assert!(
            s.snapshots_installed > 0,
            "{}",
            s.fail("no InstallSnapshot was delivered")
        );
    }
}
