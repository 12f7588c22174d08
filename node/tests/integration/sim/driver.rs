//! The driver contract (`node::core` docs, "The driver contract"): the core marks each send
//! `Now` or `AfterPersist`, and the runtime, the simulator and the model all obey that mark.
//! These tests check the marking itself, that the simulator's contract check fires on a driver
//! that ignores it, and that the schedules the runtime uses (a leader's AppendEntries and
//! InstallSnapshot leaving before its own writes are durable) keep every safety property.

use super::chaos;
use crate::simulator::{self, seeds, Driver, Sim};
use crate::support::write;
use node::core::{Action, Bugs, Config, DurableState, Input, Message, RaftNode, When};

/// The sends among `actions`, as (message kind, marking).
fn sends(actions: &[Action]) -> Vec<(&'static str, When)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { msg, when, .. } => Some((simulator::kind(msg), *when)),
            _ => None,
        })
        .collect()
}

/// The message `actions` send to `peer`.
fn to(actions: &[Action], peer: &str) -> Message {
    let msg = actions.iter().find_map(|a| match a {
        Action::Send { to, msg, .. } if to == peer => Some(msg.clone()),
        _ => None,
    });
    msg.unwrap_or_else(|| panic!("no message to {peer} in {actions:?}"))
}

fn node(id: &str) -> RaftNode {
    let mut cfg = Config::new(id, &["n1", "n2", "n3"], 1);
    (cfg.election_ticks_min, cfg.election_ticks_max) = (1, 1);
    cfg.pre_vote = false;
    RaftNode::restore(cfg, DurableState::default())
}

/// Only a leader's AppendEntries may leave before the persists: a candidate's RequestVote, a
/// granted vote and an AppendEntries answer wait for them.
#[test]
fn the_core_marks_only_a_leaders_replication_now() {
    let (mut n1, mut n2) = (node("n1"), node("n2"));
    let campaign = n1.step(Input::Tick);
    assert!(matches!(campaign[0], Action::PersistHardState { .. }));
    assert_eq!(sends(&campaign), [("Vote", When::AfterPersist); 2]);
    let from = "n1".to_string();
    let vote = to(&campaign, "n2");
    let granted = n2.step(Input::Message { from, msg: vote });
    assert_eq!(sends(&granted), [("VoteResp", When::AfterPersist)]);
    let grant = to(&granted, "n1");
    let from = "n2".to_string();
    let won = n1.step(Input::Message { from, msg: grant });
    assert!(n1.is_leader());
    assert!(won
        .iter()
        .any(|a| matches!(a, Action::PersistEntries { .. })));
    assert_eq!(sends(&won), [("Append", When::Now); 2]);
    let from = "n1".to_string();
    let msg = to(&won, "n2");
    let stored = n2.step(Input::Message { from, msg });
    assert!(stored
        .iter()
        .any(|a| matches!(a, Action::PersistEntries { .. })));
    assert_eq!(sends(&stored), [("AppendResp", When::AfterPersist)]);
    assert!(matches!(
        &stored[stored.len() - 1],
        Action::Send {
            msg: Message::AppendResp { success: true, .. },
            ..
        }
    ));
}

/// Writes through a leader on a disk that takes up to 3 ticks per job.
fn writes_on_a_slow_disk(s: &mut Sim) {
    s.disk_delay_max = 3;
    s.await_leader(200);
    for v in 1..=5 {
        s.commit(write("k", v, v as u64), 300);
    }
}

/// A driver that performs everything at once, ignoring the marking, sends votes and
/// AppendEntries answers before they are durable: the simulator's contract check reports it
/// (and the same scenario passes with the simulator's own driver).
#[test]
fn a_driver_that_sends_before_the_persist_is_caught() {
    for seed in seeds(0..3) {
        let mut s = Sim::new(3, seed, Bugs::default());
        s.driver = Driver::Eager;
        writes_on_a_slow_disk(&mut s);
        let err = s.check().expect_err("the eager driver breaks the contract");
        assert!(err.contains("driver contract"), "{err}");
        let mut s = Sim::new(3, seed, Bugs::default());
        writes_on_a_slow_disk(&mut s);
        s.check().unwrap();
        assert!(s.early_sends.get("Append").is_some_and(|&n| n > 0));
    }
}

/// Runs `scenario` on a slow disk over `seeds`; every safety property holds, and the leader's
/// AppendEntries (and, with snapshots, InstallSnapshot) did leave before its writes were
/// durable, and nothing else did.
fn safe_on_a_slow_disk(seeds: std::ops::Range<u64>, scenario: fn(&mut Sim)) -> Vec<Sim> {
    crate::simulator::seeds(seeds)
        .into_iter()
        .map(|seed| {
            let mut s = Sim::new(5, seed, Bugs::default());
            s.disk_delay_max = 4;
            scenario(&mut s);
            s.check().unwrap();
            assert!(
                s.early_sends.keys().all(|k| ["Append", "Snap"].contains(k)),
                "{}",
                s.fail(&format!("early sends: {:?}", s.early_sends))
            );
            assert!(
                s.early_sends.get("Append").is_some_and(|&n| n > 0),
                "{}",
                s.fail("no AppendEntries left before the leader's write was durable")
            );
            s
        })
        .collect()
}

/// Figure 8 (§5.4.2) with leaders and followers crashing while their writes are not durable.
#[test]
fn figure8_on_a_slow_disk() {
    safe_on_a_slow_disk(0..4, |s| chaos(s, 1500, &["crash-leader", "crash"]));
}

/// Churn (crashes, partitions, an unreliable network) on a slow disk.
#[test]
fn churn_on_a_slow_disk() {
    let sims = safe_on_a_slow_disk(0..4, |s| {
        s.net = simulator::NetConfig {
            drop: 0.1,
            duplicate: 0.05,
            delay_max: 5,
        };
        chaos(
            s,
            1200,
            &["crash", "crash-leader", "partition", "isolate-leader"],
        );
    });
    for s in sims {
        let ok = s.ops.iter().filter(|o| matches!(o.result, Some(Ok(_))));
        assert!(ok.count() >= 10, "{}", s.fail("too few ops completed"));
    }
}

/// §7 on a slow disk: snapshots are taken, sent early and installed.
#[test]
fn snapshots_on_a_slow_disk() {
    let sims = safe_on_a_slow_disk(0..3, |s| {
        s.snapshot_entries = 10;
        chaos(s, 1200, &["crash", "crash-leader", "partition"]);
    });
    assert!(sims.iter().any(|s| s.snapshots_installed > 0));
}
