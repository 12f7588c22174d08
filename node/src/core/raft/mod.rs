//! [`RaftNode`]: Figure 2 of the Raft paper as a pure state machine (see the module docs of
//! `core` for the driver contract and the read path).
//!
//! The node's code is split by concern, each an `impl RaftNode` block:
//! - `election`: roles, terms, RequestVote and PreVote, CheckQuorum (§5.2, §5.4.1, thesis §9.6);
//! - `replication`: AppendEntries, the leader's per-follower progress, commitment, and
//!   InstallSnapshot (§5.3, §5.4.2, §7);
//! - `client`: client commands, ReadIndex reads, applying committed entries, and snapshots
//!   (§8, thesis §6.4).
//!
//! Invariants are assertions (they fail only on a bug in this code): terms never decrease, the
//! commit index never decreases nor passes the last index, the applied index never passes the
//! commit index, and a node never sees two leaders in one term. The last two of these are
//! exactly what some planted bugs break, so the assertions that a planted bug can violate are
//! checked only while no such bug is on (see [`Bugs::breaks_log_safety`]).

mod client;
mod election;
mod replication;

use super::log::RaftLog;
use super::sm::StateMachine;
use super::{Action, Bug, Bugs, Config, DurableState, Entry, HardState, Input, Message};
use super::{NodeId, Reply, Snapshot, When};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// The role of a node (§5.1), plus the PreVote phase (thesis §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// The leader's view of one follower (Figure 2, volatile state on leaders), with the two
/// sending modes of raft-rs's `Progress`:
/// - **probe** (`replicating == false`): where the follower's log matches is unknown; at most
///   one AppendEntries is outstanding (`probe_sent`), re-sent on each heartbeat, and `next`
///   moves only when an answer arrives;
/// - **replicate**: the follower matches up to `matched`; AppendEntries are pipelined, `next`
///   advancing as they are sent, so throughput does not wait one round trip per entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Progress {
    next: u64,
    matched: u64,
    /// Heard from since the last CheckQuorum round.
    active: bool,
    replicating: bool,
    probe_sent: bool,
}

/// A read waiting for its quorum confirmation and for `index` to be applied (ReadIndex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PendingRead {
    request_id: u64,
    key: String,
    index: u64,
    ctx: u64,
    acks: BTreeSet<NodeId>,
}

/// One Raft node. Drive it with [`RaftNode::step`].
///
/// `PartialEq` and `Hash` are those of `NodeState`, the protocol state, so that a model
/// checker recognises states it has seen; the RNG and the action buffer stay outside it.
#[derive(Debug, Clone)]
pub struct RaftNode {
    st: NodeState,
    /// The election-timeout randomness. Not identity: its effect is already in `st.timeout`,
    /// and the model sets `election_ticks_min == election_ticks_max`, so there it never
    /// changes behaviour. (`SmallRng` has no `Hash` either.)
    rng: SmallRng,
    /// The actions of the step being taken; always empty between steps, so not identity.
    out: Vec<Action>,
}

/// Everything that defines a node's behaviour from here on: two nodes with equal `NodeState`
/// act alike on every input (up to the RNG, see [`RaftNode`]). The derived `PartialEq` and
/// `Hash` make a new field count for a model checker's deduplication without anyone having
/// to remember it; a field that must not count belongs in [`RaftNode`], with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct NodeState {
    cfg: Config,
    term: u64,
    voted_for: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: RaftLog,
    commit: u64,
    applied: u64,
    sm: StateMachine,
    /// Ticks since the last reset of the election timer (or the last CheckQuorum round).
    elapsed: u32,
    /// The election timeout drawn at the last reset.
    timeout: u32,
    heartbeat_elapsed: u32,
    votes: BTreeSet<NodeId>,
    progress: BTreeMap<NodeId, Progress>,
    /// Last log index reported durable by [`Input::Persisted`].
    durable_index: u64,
    hs_version: u64,
    /// Writes this leader took and will answer: log index -> (request id, term taken in).
    writes: BTreeMap<u64, (u64, u64)>,
    reads: Vec<PendingRead>,
    read_ctx: u64,
    noop_index: u64,
    last_snapshot: Option<Snapshot>,
}

impl PartialEq for RaftNode {
    fn eq(&self, other: &RaftNode) -> bool {
        self.st == other.st
    }
}

impl Eq for RaftNode {}

impl Hash for RaftNode {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.st.hash(h);
    }
}

impl RaftNode {
    /// A node starting from what it finds on disk.
    pub fn restore(cfg: Config, durable: DurableState) -> RaftNode {
        assert!(
            cfg.peers.contains(&cfg.id),
            "peers must include the node itself"
        );
        assert!(cfg.election_ticks_min > 0 && cfg.election_ticks_min <= cfg.election_ticks_max);
        assert!(cfg.heartbeat_ticks > 0);
        let mut log = RaftLog::default();
        let mut sm = StateMachine::default();
        if let Some(s) = &durable.snapshot {
            log.snapshot_index = s.last_index;
            log.snapshot_term = s.last_term;
            sm = serde_json::from_slice(&s.data).expect("a durable snapshot decodes");
        }
        for e in durable.entries {
            if e.index == log.last_index() + 1 {
                log.push(e);
            }
        }
        let rng = SmallRng::seed_from_u64(cfg.seed);
        let st = NodeState {
            term: durable.hard_state.term,
            voted_for: durable.hard_state.voted_for,
            role: Role::Follower,
            leader: None,
            commit: log.snapshot_index,
            applied: log.snapshot_index,
            durable_index: log.last_index(),
            log,
            sm,
            elapsed: 0,
            timeout: 0,
            heartbeat_elapsed: 0,
            votes: BTreeSet::new(),
            progress: BTreeMap::new(),
            hs_version: 0,
            writes: BTreeMap::new(),
            reads: Vec::new(),
            read_ctx: 0,
            noop_index: 0,
            last_snapshot: durable.snapshot,
            cfg,
        };
        let mut node = RaftNode {
            st,
            rng,
            out: Vec::new(),
        };
        node.reset_timeout();
        node
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.st.cfg.id
    }

    /// Is this node the leader (in its own view)?
    pub fn is_leader(&self) -> bool {
        self.st.role == Role::Leader
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<&NodeId> {
        self.st.leader.as_ref()
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.st.term
    }

    /// The vote cast in the current term.
    pub fn voted_for(&self) -> Option<&NodeId> {
        self.st.voted_for.as_ref()
    }

    /// Commit index.
    pub fn commit_index(&self) -> u64 {
        self.st.commit
    }

    /// Index of the last entry applied to the state machine.
    pub fn applied_index(&self) -> u64 {
        self.st.applied
    }

    /// Last log index.
    pub fn last_index(&self) -> u64 {
        self.st.log.last_index()
    }

    /// The log entry at `index`, if still in the log (for invariant checks in tests).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.st.log.get(index)
    }

    /// Index of the snapshot point.
    pub fn snapshot_index(&self) -> u64 {
        self.st.log.snapshot_index
    }

    /// The value of `key` in this node's applied state (for tests: never a linearizable read).
    pub fn local_value(&self, key: &str) -> Option<i64> {
        self.st.sm.kv.get(key).copied()
    }

    /// Feeds one input; returns the actions to execute, in order, each send marked with when
    /// it may leave (the driver contract in the `core` module docs).
    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let (term, commit) = (self.st.term, self.st.commit);
        match input {
            Input::Tick => self.tick(),
            Input::Message { from, msg } => self.message(from, msg),
            Input::Client { request_id, cmd } => self.client(request_id, cmd),
            Input::Persisted { last_index, .. } => {
                self.st.durable_index = last_index;
                if self.st.role == Role::Leader {
                    self.maybe_commit();
                }
            }
        }
        self.apply();
        assert!(self.st.term >= term, "terms never decrease");
        assert!(self.st.commit >= commit, "the commit index never decreases");
        assert!(
            self.st.commit <= self.st.log.last_index(),
            "commit beyond the log"
        );
        assert!(self.st.applied <= self.st.commit, "applied beyond commit");
        std::mem::take(&mut self.out)
    }

    fn quorum(&self) -> usize {
        self.st.cfg.peers.len() / 2 + 1
    }

    fn others(&self) -> Vec<NodeId> {
        let me = &self.st.cfg.id;
        self.st
            .cfg
            .peers
            .iter()
            .filter(|p| *p != me)
            .cloned()
            .collect()
    }

    fn bugs(&self) -> Bugs {
        self.st.cfg.bugs
    }

    fn reset_timeout(&mut self) {
        self.st.elapsed = 0;
        self.st.timeout = self
            .rng
            .gen_range(self.st.cfg.election_ticks_min..=self.st.cfg.election_ticks_max);
    }

    /// Queues a send that waits for every persist so far (driver contract, `core` docs).
    fn send(&mut self, to: NodeId, msg: Message) {
        let when = When::AfterPersist;
        self.out.push(Action::Send { to, msg, when });
    }

    /// Queues a leader's AppendEntries or InstallSnapshot, which may leave before the
    /// leader's own persists are durable (thesis §10.2.1; the argument is in the `core` docs).
    fn replicate(&mut self, to: NodeId, msg: Message) {
        debug_assert!(self.st.role == Role::Leader);
        debug_assert!(matches!(msg, Message::Append { .. } | Message::Snap { .. }));
        let when = When::Now;
        self.out.push(Action::Send { to, msg, when });
    }

    fn reply(&mut self, request_id: u64, reply: Reply) {
        self.out.push(Action::Reply { request_id, reply });
    }

    /// Persists term and vote. Planted bug `vote-twice`: `votedFor` is left out of what is
    /// persisted, so a node that restarts in the same term has forgotten its vote and may grant
    /// a second one — two leaders in one term become possible.
    fn persist_hard_state(&mut self) {
        self.st.hs_version += 1;
        // planted bug: vote-twice
        let voted_for = if self.bugs().has(Bug::VoteTwice) {
            None
        } else {
            self.st.voted_for.clone()
        };
        self.out.push(Action::PersistHardState {
            hard_state: HardState {
                term: self.st.term,
                voted_for,
            },
            version: self.st.hs_version,
        });
    }

    fn tick(&mut self) {
        self.st.elapsed += 1;
        if self.st.role == Role::Leader {
            self.st.heartbeat_elapsed += 1;
            if self.st.heartbeat_elapsed >= self.st.cfg.heartbeat_ticks {
                self.broadcast_heartbeat();
            }
            if self.st.cfg.check_quorum && self.st.elapsed >= self.st.cfg.election_ticks_min {
                self.check_quorum();
            }
        } else if self.st.elapsed >= self.st.timeout {
            self.campaign(self.st.cfg.pre_vote);
        }
    }

    /// Dispatches a peer message after the term rules of Figure 2 ("all servers": a higher
    /// term makes us a follower; a lower term is answered with ours or ignored).
    fn message(&mut self, from: NodeId, msg: Message) {
        let t = msg.term();
        let carries_prospective_term = matches!(
            msg,
            Message::Vote { pre: true, .. }
                | Message::VoteResp {
                    pre: true,
                    granted: true,
                    ..
                }
        );
        if t > self.st.term && !carries_prospective_term {
            if matches!(msg, Message::Vote { .. }) && self.in_lease() {
                return; // CheckQuorum: ignore a disruptive candidate while a leader is heard
            }
            let leader =
                matches!(msg, Message::Append { .. } | Message::Snap { .. }).then(|| from.clone());
            self.become_follower(t, leader);
        }
        match msg {
            Message::Vote {
                term,
                last_index,
                last_term,
                pre,
            } => self.on_vote(from, term, last_index, last_term, pre),
            Message::VoteResp { term, granted, pre } => self.on_vote_resp(from, term, granted, pre),
            Message::Append { .. } => self.on_append(from, msg),
            Message::AppendResp { term, .. } => {
                if self.st.role == Role::Leader && term == self.st.term {
                    self.on_append_resp(from, msg);
                }
            }
            Message::Snap { term, snapshot } => self.on_snap(from, term, snapshot),
            Message::SnapResp { term, last_index } => {
                if self.st.role == Role::Leader && term == self.st.term {
                    self.on_snap_resp(from, last_index);
                }
            }
        }
    }
}
