//! Model checking of the Raft core with stateright: the same `RaftNode` the runtime drives is
//! wrapped as a stateright actor (three servers, scripted clients), and every interleaving of
//! message deliveries (unordered: reordering is free), timer firings and crash-restarts is
//! explored up to a bounded depth. A crash restarts the server from exactly what its disk
//! holds; with planted `no-fsync` the disk keeps nothing that was not synced (nothing is).
//!
//! Properties (Raft paper, Figure 3): election safety (from the terms each server ever led, so
//! a leader that has stepped down still counts), log matching, leader completeness, state
//! machine safety; and linearizability of the clients' writes and reads with stateright's
//! `LinearizabilityTester` over its register `SequentialSpec`.
//!
//! Bounds keep each check well under a minute: timeouts are one tick, so a timer firing on a
//! follower starts an election; terms are capped; a scenario names the servers whose timers
//! run and the one that may crash. Tests both ways: the correct core has no counterexample in
//! its bound (and the state count shows the search was not vacuous), while each planted bug
//! the model can express — `vote-twice`, `no-fsync`, `lost-truncate`, `follower-read`,
//! `stale-read` — yields one. `commit-old-term` (Figure 8 needs five servers and a long
//! schedule) and `no-dedup` (needs client retries) are beyond this bound; the simulator
//! (`sim`) catches them.
//!
//! The driver contract (`node::core` docs): a server listed as having a slow disk makes its
//! writes durable only when its `Disk` timer fires, so the sends the core marks `Now` (a
//! leader's AppendEntries) leave before its own writes are durable, and a crash in between
//! loses them, as with the runtime; the other actions wait for the disk. Other servers write
//! within the step. Every check asserts its exact count of unique states, so that a change
//! that makes a search vacuous (or different) shows, and the checks that claim
//! linearizability assert that client operations did complete.

mod actor;

use actor::{model, History, Op, RaftActor, Scenario, SAFETY};
use actor::{
    COMMITTED, ELECTED, LOST_EARLY, OP_COMPLETES, SCRIPT_COMPLETES, SENT_EARLY, TWO_TERMS,
};
use node::core::Bugs;
use stateright::actor::ActorModel;
use stateright::{Checker, HasDiscoveries, Model};

/// Runs `sc` to `depth`; returns the checker (stopping at the first failure when `hunt`).
/// A full search runs on one thread: breadth-first in one queue, every state is first
/// reached by a shortest path, so the number of unique states within the depth bound is
/// exact and can be asserted. (On two threads a state first reached by a longer path may be
/// cut at the bound, so the count may vary from run to run.)
fn check(
    sc: Scenario,
    depth: usize,
    hunt: bool,
) -> impl Checker<ActorModel<RaftActor, Scenario, History>> {
    let started = std::time::Instant::now();
    let mut c = model(sc).checker().target_max_depth(depth);
    c = if hunt {
        c.threads(2).finish_when(HasDiscoveries::AnyFailures)
    } else {
        c.threads(1)
    };
    let c = c.spawn_bfs().join();
    let states = c.unique_state_count();
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{states} unique states to depth {depth} in {secs:.1} s");
    c
}

/// Fails with the counterexample of any safety property `c` found.
fn assert_safe(c: &impl Checker<ActorModel<RaftActor, Scenario, History>>, context: &str) {
    for p in SAFETY {
        let path = c
            .discovery(p)
            .map(|path| format!("{:?}", path.into_actions()));
        assert!(path.is_none(), "{p} fails{context}: {path:?}");
    }
}

/// Asserts the exact number of unique states of a full search (at the default depth only:
/// `MODEL_DEPTH` explores elsewhere).
fn assert_states(
    c: &impl Checker<ActorModel<RaftActor, Scenario, History>>,
    depth: usize,
    default_depth: usize,
    expected: usize,
) {
    if depth == default_depth {
        assert_eq!(
            c.unique_state_count(),
            expected,
            "unique states to depth {depth}"
        );
    }
}

/// Asserts that `c` found each of the "sometimes" properties `found`.
fn assert_found(
    c: &impl Checker<ActorModel<RaftActor, Scenario, History>>,
    found: &[&'static str],
) {
    for p in found {
        assert!(c.discovery(p).is_some(), "never: {p}");
    }
}

fn scenario(bugs: &str) -> Scenario {
    Scenario {
        bugs: if bugs.is_empty() {
            Bugs::default()
        } else {
            Bugs::from_name(bugs).unwrap()
        },
        timed: vec![0, 1, 2],
        crasher: None,
        clients: Vec::new(),
        max_term: 2,
        settled_leader: None,
        slow_disk: Vec::new(),
    }
}

/// What a check in both ways must show besides its counterexample: the bug-free search's
/// exact state count (asserted at `default_depth` only), and the "sometimes" properties the
/// bug-free search must find.
struct Expect {
    default_depth: usize,
    states: usize,
    found: &'static [&'static str],
}

/// Hunts for a violation of `property` with `bug` on, then checks that the same bounded
/// scenario has no violation at all without it.
fn both_ways(bug: &str, mut sc: Scenario, depth: usize, property: &'static str, e: Expect) {
    sc.bugs = Bugs::from_name(bug).unwrap();
    let c = check(sc.clone(), depth, true);
    eprintln!(
        "{bug}: discoveries {:?}",
        c.discoveries().keys().collect::<Vec<_>>()
    );
    let steps = c.discovery(property).map(|path| path.into_actions().len());
    assert!(
        steps.is_some(),
        "{bug}: no {property} violation within depth {depth}"
    );
    eprintln!("{bug}: counterexample of {property} in {steps:?} steps");
    sc.bugs = Bugs::default();
    let c = check(sc, depth, false);
    assert_safe(&c, &format!(" without {bug}"));
    assert_found(&c, e.found);
    assert_states(&c, depth, e.default_depth, e.states);
}

/// Two candidates; the third server votes, crashes and votes again in the same term.
fn double_vote() -> Scenario {
    Scenario {
        timed: vec![0, 1],
        crasher: Some(2),
        max_term: 1,
        ..scenario("")
    }
}

#[test]
fn vote_twice_elects_two_leaders_in_a_term() {
    let e = Expect {
        default_depth: 9,
        states: 2688,
        found: &[ELECTED],
    };
    both_ways("vote-twice", double_vote(), 9, "election safety", e);
}

#[test]
fn no_fsync_loses_a_vote_in_a_crash() {
    let e = Expect {
        default_depth: 9,
        states: 2688,
        found: &[ELECTED],
    };
    both_ways("no-fsync", double_vote(), 9, "election safety", e);
}

#[test]
fn lost_truncate_commits_a_stale_entry() {
    let sc = Scenario {
        timed: vec![0, 1],
        max_term: 2,
        ..scenario("")
    };
    let e = Expect {
        default_depth: 13,
        states: 410943,
        found: &[TWO_TERMS, COMMITTED],
    };
    both_ways("lost-truncate", sc, 13, "state machine safety", e);
}

#[test]
fn follower_read_is_not_linearizable() {
    let sc = Scenario {
        timed: vec![0],
        clients: vec![vec![(0, Op::Put(1)), (1, Op::Get)]],
        max_term: 1,
        ..scenario("")
    };
    let e = Expect {
        default_depth: 13,
        states: 58360,
        found: &[OP_COMPLETES],
    };
    both_ways("follower-read", sc, 13, "linearizable", e);
}

#[test]
fn stale_read_is_not_linearizable() {
    // n0 leads term 1 and stays leader in its own view (no CheckQuorum in the model) while
    // n1 is elected in term 2 and commits a write; n0 then answers a read locally.
    let depth = depth_or(13);
    let sc = Scenario {
        timed: vec![1],
        clients: vec![vec![(1, Op::Put(1)), (0, Op::Get)]],
        settled_leader: Some(0),
        ..scenario("")
    };
    let e = Expect {
        default_depth: 13,
        states: 58631,
        found: &[OP_COMPLETES],
    };
    both_ways("stale-read", sc, depth, "linearizable", e);
}

/// The correct core from scratch: three servers whose timers all run, one that may crash,
/// two clients; every safety property holds, and within the depth a leader is elected and a
/// client's write completes, so "linearizable" judges a completed op.
#[test]
fn the_core_satisfies_figure_3_from_scratch() {
    let default_depth = 11;
    let depth = depth_or(default_depth);
    let sc = Scenario {
        crasher: Some(2),
        clients: vec![
            vec![(0, Op::Put(1)), (1, Op::Get)],
            vec![(1, Op::Put(2)), (2, Op::Get)],
        ],
        ..scenario("")
    };
    let c = check(sc, depth, false);
    assert_safe(&c, "");
    assert_found(&c, &[ELECTED, COMMITTED, OP_COMPLETES]);
    assert_states(&c, depth, default_depth, 1457166);
}

/// The correct core from a settled leader: the depth goes to replication, reads, a
/// re-election and a crash-restart; a client completes its write and its ReadIndex read.
#[test]
fn the_core_satisfies_figure_3_after_an_election() {
    let default_depth = 12;
    let depth = depth_or(default_depth);
    let sc = Scenario {
        timed: vec![0, 1],
        crasher: Some(2),
        clients: vec![
            vec![(1, Op::Put(1)), (0, Op::Get)],
            vec![(0, Op::Put(2)), (0, Op::Get)],
        ],
        settled_leader: Some(0),
        ..scenario("")
    };
    let c = check(sc, depth, false);
    assert_safe(&c, "");
    assert_found(&c, &[OP_COMPLETES, SCRIPT_COMPLETES, TWO_TERMS]);
    assert_states(&c, depth, default_depth, 499930);
}

/// The runtime's schedule (driver contract, thesis §10.2.1): the leader's disk is slow, so
/// its AppendEntries leave before its own write of the entries is durable, and it may crash
/// before the write is; a follower may then be elected. Every safety property holds.
#[test]
fn the_core_is_safe_when_a_leader_sends_before_its_fsync() {
    let default_depth = 14;
    let depth = depth_or(default_depth);
    let sc = Scenario {
        timed: vec![1],
        crasher: Some(0),
        clients: vec![vec![(0, Op::Put(1)), (0, Op::Get)]],
        settled_leader: Some(0),
        slow_disk: vec![0],
        ..scenario("")
    };
    let c = check(sc, depth, false);
    assert_safe(&c, "");
    let found = [
        SENT_EARLY,
        LOST_EARLY,
        OP_COMPLETES,
        SCRIPT_COMPLETES,
        TWO_TERMS,
    ];
    assert_found(&c, &found);
    assert_states(&c, depth, default_depth, 126951);
}
fn depth_or(default: usize) -> usize {
    std::env::var("MODEL_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(default)
}
