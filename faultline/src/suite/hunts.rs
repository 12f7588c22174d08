//! The hunts: scenarios shaped after one classic mistake each, which the classic scenarios
//! rarely expose with real processes (`faultline bugs` runs them after the suite).

use super::{cycles, progress_after, progress_after_last_heal, secs, then_once, Scenario};
use crate::faults::{Action, Target};

/// Scenarios beyond the 6.824 list, each shaped after one classic mistake that the classic
/// scenarios rarely expose with real processes (see `docs/decisions.md`). `faultline bugs` runs
/// them after the suite; `faultline suite --only NAME` runs one on any system.
///
/// | hunt | cluster | nemesis | what it exposes |
/// |---|---|---|---|
/// | `retry` | 3 | both followers paused for 120 ms every 0.8 s; clients time out after 100 ms | a retried cas (same `client`/`seq`) applied twice: its retry answers "precondition failed" though its value was written |
/// | `diverge` | 5 | the leader and one follower split off while 30 clients write, heal with writes off, then three times the leader isolated and healed (reads go on); 100 keys, 0.3 s timeouts | a follower that keeps a deposed leader's entries instead of truncating them, and later leads: stale reads of the keys it diverged on |
/// | `old-term` | 5 | Figure 8 of the Raft paper, played with partitions and by letting clients write only in chosen phases (below), then one cycle of `diverge`; 30 clients, 100 keys | a leader that commits an earlier term's entries by counting replicas: a value read, then lost; and what `diverge` exposes |
/// | `revote` | 3 | the leader L killed while the two others hold back their appends (votes pass); as soon as one of them, W, is elected: W and the voter X killed, L and X restarted (needs the spec's `append_pattern`) | a node that forgets its vote on restart (votedFor not persisted) and votes again in the same term: two leaders of one term |
///
/// `revote`, per 3 s cycle: X voted for W in term t (W's first appends never reach it) and
/// restarts at term t. L, restarted at t-1, asks for votes in t. X remembers its vote and
/// refuses, or has forgotten it and grants: L and W both lead t. L must ask before X's own
/// election timeout fires (about half the cycles), and W's election must be the first after
/// L's kill (else t is beyond L's reach). PreVote hides the bug from this hunt: X, at term t,
/// refuses L's pre-vote for t, and the real vote is never asked (run raft-node with
/// `--no-pre-vote`, as `faultline bugs` does for this hunt; docs/decisions.md).
///
/// `diverge`, per 5 s cycle, with A = {leader, one follower}:
/// 1. A split off for 0.8 s while clients write. Until A's leader steps down (one election
///    timeout without a quorum), every client whose op reaches it (its own, and the others'
///    redirected there) leaves an entry of term t1 that never commits; the other three elect
///    a leader (t2), which commits acknowledged writes at the same indices, then more after;
/// 2. heal, writes off: A's nodes take the new leader's entries. A correct follower cuts its
///    t1 entries; one that keeps them holds a state without the first acknowledged writes of
///    t2. With writes off, nothing overwrites those keys, and with 100 keys many of them were
///    written once in the split;
/// 3. three times: the leader isolated for 0.8 s, then healed. The four others, two of them
///    A's, elect a leader; reads go on, so a leader from A answers reads of the keys it
///    diverged on with values older than acknowledged writes: a stale read. Each draw picks
///    one of A's nodes about half the time.
///
/// A deposed side's entries alone prove nothing: they are info ops, which may take effect
/// late. The catch needs an acknowledged write missing on a node that later leads, read before
/// a later write hides it, hence writes off from the heal to the last draw, 30 clients (more
/// entries at A before it steps down) and 100 keys (fewer overwritten in the split).
///
/// `old-term`, per 4.5 s cycle, with A = {leader, one follower} and B = the next leader:
/// 1. A split off while clients write: A's leader appends entries (term t1) that reach A only;
/// 2. writes off: the other three elect B (t2) and get no entry of t2 (a leader without a
///    no-op appends none);
/// 3. B isolated too ({B} | A | the other two) while clients write: B appends entries of t2
///    at the same indices, alone;
/// 4. writes off, B alone: A's entries are the freshest of the four, so A's node wins t3 and
///    replicates them to the other two. A correct leader commits them only with an entry of
///    t3 (its no-op); one that counts replicas commits them and serves reads of them;
/// 5. A cut off, B with the other two: B's t2 entries are fresher than t1, B wins t4 and
///    overwrites the entries that were read as committed: the reads after show them gone.
///
/// After four such cycles `old-term` plays one cycle of `diverge` (with `diverge`'s clients and
/// keys), so that one hunt catches both ways a log goes wrong at a conflict: committing an
/// earlier term's entries, and keeping a deposed leader's entries instead of cutting them.
/// Figure 8 alone caught the second only by luck (6 runs in 7), and `faultline bugs` has room
/// for one of the two hunts in the first three runs beside `retry`.
///
/// One literal per hunt (as in [`super::scenarios`]), so the function is as long as its table.
pub fn hunts() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "retry",
            nodes: 3,
            seconds: 16.0,
            concurrency: 8,
            rate: 400.0,
            keys: 3,
            op_timeout: Some(0.1),
            plan: || {
                let cycle = [
                    (0.0, Action::Pause(Target::Followers(2))),
                    (0.12, Action::ResumeAll),
                ];
                cycles(1.0, 14.0, 0.8, &cycle)
            },
            needs_leaders: false,
            expect: |f| {
                let resumed = *f.times("stop-pause").last().ok_or("no resume recorded")?;
                let ms = progress_after(f, resumed, 5.0, "the last resume")?;
                let info = f.outcome.figures.ops.info;
                Ok(format!(
                    "{info} op(s) ended info; progress {ms:.0} ms after the last resume"
                ))
            },
        },
        Scenario {
            name: "diverge",
            nodes: 5,
            seconds: 22.0,
            concurrency: 30,
            rate: 400.0,
            keys: 100,
            op_timeout: Some(0.3),
            plan: || cycles(1.5, 18.0, 5.0, &diverge_cycle()),
            needs_leaders: false,
            expect: progress_after_last_heal,
        },
        Scenario {
            name: "old-term",
            nodes: 5,
            seconds: 27.0,
            concurrency: 30,
            rate: 400.0,
            keys: 100,
            op_timeout: None,
            plan: || {
                use Action::{Heal, Mark, Partition, Writes};
                use Target::{Leader, LeaderAnd, Marked};
                let cycle = [
                    (0.0, Mark(0, LeaderAnd(1))),
                    (0.0, Partition(vec![Marked(0)])),
                    (0.1, Writes(false)),
                    (0.9, Mark(1, Leader)),
                    (0.9, Partition(vec![Marked(1), Marked(0)])),
                    (0.9, Writes(true)),
                    (1.2, Writes(false)),
                    (1.4, Partition(vec![Marked(1)])),
                    (2.3, Partition(vec![Marked(0)])),
                    (3.6, Heal),
                    (3.6, Writes(true)),
                ];
                then_once(cycles(1.0, 18.0, 4.5, &cycle), 19.0, &diverge_cycle())
            },
            needs_leaders: true,
            expect: progress_after_last_heal,
        },
        revote(),
    ]
}

/// One cycle of `diverge` (3.9 s of faults; see [`hunts`]): the deposed side's entries sit at
/// the indices of the first entries the new leader commits, and nothing overwrites those keys
/// until three leaders in a row have been drawn from the four nodes left by isolating the last.
fn diverge_cycle() -> Vec<(f64, Action)> {
    use Action::{Heal, Isolate, Split, Writes};
    use Target::{Leader, LeaderAnd};
    let mut cycle = vec![
        (0.0, Split(LeaderAnd(1))),
        (0.8, Heal),
        (0.8, Writes(false)),
    ];
    for draw in 0..3 {
        let at = 1.1 + f64::from(draw);
        cycle.extend([(at, Isolate(Leader)), (at + 0.8, Heal)]);
    }
    cycle.push((3.9, Writes(true)));
    cycle
}

/// The `revote` hunt (see [`hunts`]).
fn revote() -> Scenario {
    Scenario {
        name: "revote",
        nodes: 3,
        seconds: 20.0,
        concurrency: 6,
        rate: 200.0,
        keys: 5,
        op_timeout: None,
        plan: || {
            use Action::{AwaitElection, ClearMarks, Heal, HoldAppends, Kill, Mark, Restart};
            use Target::{Leader, Marked, Unmarked};
            let cycle = [
                (0.0, ClearMarks),
                (0.0, Mark(0, Leader)),
                (0.0, HoldAppends(Unmarked)),
                (0.1, Kill(Marked(0))),
                (0.1, AwaitElection(secs(1.5))),
                // The steps below run right after the election (W is the leader now).
                (0.1, Mark(1, Leader)),
                (0.1, Kill(Marked(1))),
                (0.1, Kill(Unmarked)),
                (0.1, Restart(Marked(0))),
                (0.1, Restart(Unmarked)),
                (1.7, Heal),
                (1.7, Action::RestartAll),
            ];
            cycles(1.0, 17.0, 3.0, &cycle)
        },
        needs_leaders: true,
        expect: progress_after_last_heal,
    }
}
