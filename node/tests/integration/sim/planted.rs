//! The planted bugs of `Bugs`, each caught by the simulator within a bounded number of seeds
//! while the bug-free core passes the same scenario (tests both ways).
//!
//! | bug | scenario | what breaks |
//! |---|---|---|
//! | `stale-read`, `follower-read` | leader isolation and partitions with reads | linearizability |
//! | `commit-old-term` | Figure 8 on an unreliable network (§5.4.2) | state machine safety / linearizability |
//! | `lost-truncate` | crashes and partitions | state machine safety |
//! | `vote-twice` | voters crash and restart mid-election | election safety (§5.2) |
//! | `no-fsync` | every node crashes after acknowledged writes | linearizability (lost writes) |
//! | `no-dedup` | a write retried with the same client/seq | linearizability |

use super::chaos;
use crate::simulator::{self, Sim};
use crate::support::{read, write};
use node::core::Bugs;
use rand::Rng;

/// Runs `scenario` with `bug` over seeds until a violation shows; returns the seeds needed.
fn catches(bug: &str, seeds_max: u64, scenario: fn(&mut Sim)) -> Option<u64> {
    let bugs = Bugs::from_name(bug).unwrap();
    for seed in 0..seeds_max {
        let mut s = Sim::new(5, seed, bugs);
        scenario(&mut s);
        if let Err(e) = s.check() {
            eprintln!("bug {bug}: {e}");
            return Some(seed + 1);
        }
    }
    None
}

fn passes_without_bugs(seeds_max: u64, scenario: fn(&mut Sim)) {
    for seed in 0..seeds_max {
        let mut s = Sim::new(5, seed, Bugs::default());
        scenario(&mut s);
        s.check().unwrap();
    }
}

fn reads_under_partitions(s: &mut Sim) {
    chaos(s, 1200, &["isolate-leader", "partition"]);
}

fn crashes(s: &mut Sim) {
    chaos(s, 1200, &["crash-leader", "crash", "partition"]);
}

fn crash_all_after_writes(s: &mut Sim) {
    // Acknowledged writes, then every node crashes at once and restarts (persist tests).
    for v in 1..6 {
        s.commit(write("k", v, v as u64), 300);
        for i in 0..s.n() {
            s.crash(i);
        }
        for i in 0..s.n() {
            s.restart(i);
        }
        s.commit(read("k"), 300);
    }
}

fn election_storm(s: &mut Sim) {
    // Slow messages and voters that crash and restart in the middle of elections.
    s.net = simulator::NetConfig {
        drop: 0.05,
        duplicate: 0.0,
        delay_max: 12,
    };
    let n = s.n();
    for t in 0..3000u64 {
        if t % 9 == 0 {
            let i = s.rng.gen_range(0..n);
            s.crash(i);
            s.restart(i);
        }
        if t % 60 == 0 {
            match s.leader() {
                Some(l) if s.rng.gen_bool(0.5) => s.isolate(l),
                _ => s.heal(),
            }
        }
        s.tick();
    }
}

fn figure8_unreliable_chaos(s: &mut Sim) {
    s.net = simulator::NetConfig {
        drop: 0.1,
        duplicate: 0.05,
        delay_max: 8,
    };
    chaos(
        s,
        1500,
        &["crash-leader", "partition", "isolate-leader", "crash"],
    );
}

fn retried_writes(s: &mut Sim) {
    // A client's write is delivered twice (its first reply was lost, it retried with the same
    // client/seq) after another write overwrote it: with dedup the retry is a no-op.
    s.await_leader(100);
    for v in 1..20 {
        let cmd = write("k", v, v as u64);
        s.commit(cmd.clone(), 200);
        s.commit(write("k", 1000 + v, 0), 200);
        if let Some(l) = s.leader() {
            s.resend(l, cmd);
        }
        s.run(10);
        s.commit(read("k"), 200);
    }
}

macro_rules! bug_test {
    ($name:ident, $bug:literal, $seeds:expr, $scenario:expr) => {
        #[test]
        fn $name() {
            let needed = catches($bug, $seeds, $scenario);
            eprintln!("bug {}: caught after {:?} seed(s)", $bug, needed);
            assert!(
                needed.is_some(),
                "bug {} not caught in {} seeds",
                $bug,
                $seeds
            );
            passes_without_bugs(2, $scenario);
        }
    };
}

bug_test!(catches_stale_read, "stale-read", 10, reads_under_partitions);
bug_test!(
    catches_follower_read,
    "follower-read",
    10,
    reads_under_partitions
);
bug_test!(
    catches_commit_old_term,
    "commit-old-term",
    40,
    figure8_unreliable_chaos
);
bug_test!(catches_lost_truncate, "lost-truncate", 20, crashes);
bug_test!(catches_vote_twice, "vote-twice", 40, election_storm);
bug_test!(catches_no_fsync, "no-fsync", 5, crash_all_after_writes);
bug_test!(catches_no_dedup, "no-dedup", 5, retried_writes);
