//! [`RaftNode`]: Figure 2 of the Raft paper as a pure state machine (see the module docs of
//! `core` for the ordering rule and the read path).
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
use super::{Action, Bugs, Config, DurableState, Entry, HardState, Input, Message};
use super::{NodeId, Reply, Snapshot};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// Error code: not the leader (definite).
const NOT_LEADER: u32 = 11;
/// Error code: outcome unknown (indefinite).
const INDEFINITE: u32 = 0;

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
/// `PartialEq` and `Hash` cover the protocol state and not the RNG, so that a model checker
/// can recognise states it has seen (the model sets `election_ticks_min == election_ticks_max`,
/// so the RNG never changes behaviour there).
#[derive(Debug, Clone)]
pub struct RaftNode {
    cfg: Config,
    rng: SmallRng,
    term: u64,
    voted_for: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: RaftLog,
    commit: u64,
    applied: u64,
    sm: StateMachine,
    elapsed: u32,
    timeout: u32,
    heartbeat_elapsed: u32,
    votes: BTreeSet<NodeId>,
    progress: BTreeMap<NodeId, Progress>,
    durable_index: u64,
    hs_version: u64,
    writes: BTreeMap<u64, (u64, u64)>,
    reads: Vec<PendingRead>,
    read_ctx: u64,
    noop_index: u64,
    last_snapshot: Option<Snapshot>,
    out: Vec<Action>,
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
        let mut node = RaftNode {
            rng,
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
            out: Vec::new(),
            cfg,
        };
        node.reset_timeout();
        node
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    /// Is this node the leader (in its own view)?
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<&NodeId> {
        self.leader.as_ref()
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The vote cast in the current term.
    pub fn voted_for(&self) -> Option<&NodeId> {
        self.voted_for.as_ref()
    }

    /// Commit index.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    /// Index of the last entry applied to the state machine.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// Last log index.
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// The log entry at `index`, if still in the log (for invariant checks in tests).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.get(index)
    }

    /// Index of the snapshot point.
    pub fn snapshot_index(&self) -> u64 {
        self.log.snapshot_index
    }

    /// The value of `key` in this node's applied state (for tests: never a linearizable read).
    pub fn local_value(&self, key: &str) -> Option<i64> {
        self.sm.kv.get(key).copied()
    }

    /// Feeds one input; returns the actions to execute, in order (see the ordering rule in the
    /// `core` module docs).
    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let (term, commit) = (self.term, self.commit);
        match input {
            Input::Tick => self.tick(),
            Input::Message { from, msg } => self.message(from, msg),
            Input::Client { request_id, cmd } => self.client(request_id, cmd),
            Input::Persisted { last_index, .. } => {
                self.durable_index = last_index;
                if self.role == Role::Leader {
                    self.maybe_commit();
                }
            }
        }
        self.apply();
        assert!(self.term >= term, "terms never decrease");
        assert!(self.commit >= commit, "the commit index never decreases");
        assert!(
            self.commit <= self.log.last_index(),
            "commit beyond the log"
        );
        assert!(self.applied <= self.commit, "applied beyond commit");
        std::mem::take(&mut self.out)
    }

    fn quorum(&self) -> usize {
        self.cfg.peers.len() / 2 + 1
    }

    fn others(&self) -> Vec<NodeId> {
        let me = &self.cfg.id;
        self.cfg
            .peers
            .iter()
            .filter(|p| *p != me)
            .cloned()
            .collect()
    }

    fn bugs(&self) -> Bugs {
        self.cfg.bugs
    }

    fn reset_timeout(&mut self) {
        self.elapsed = 0;
        self.timeout = self
            .rng
            .gen_range(self.cfg.election_ticks_min..=self.cfg.election_ticks_max);
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.out.push(Action::Send { to, msg });
    }

    fn reply(&mut self, request_id: u64, reply: Reply) {
        self.out.push(Action::Reply { request_id, reply });
    }

    /// Persists term and vote. Planted bug `vote-twice`: `votedFor` is left out of what is
    /// persisted, so a node that restarts in the same term has forgotten its vote and may grant
    /// a second one — two leaders in one term become possible.
    fn persist_hard_state(&mut self) {
        self.hs_version += 1;
        let voted_for = if self.bugs().vote_twice {
            None
        } else {
            self.voted_for.clone()
        };
        self.out.push(Action::PersistHardState {
            hard_state: HardState {
                term: self.term,
                voted_for,
            },
            version: self.hs_version,
        });
    }

    fn tick(&mut self) {
        self.elapsed += 1;
        if self.role == Role::Leader {
            self.heartbeat_elapsed += 1;
            if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
                self.broadcast_heartbeat();
            }
            if self.cfg.check_quorum && self.elapsed >= self.cfg.election_ticks_min {
                self.check_quorum();
            }
        } else if self.elapsed >= self.timeout {
            self.campaign(self.cfg.pre_vote);
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
        if t > self.term && !carries_prospective_term {
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
                if self.role == Role::Leader && term == self.term {
                    self.on_append_resp(from, msg);
                }
            }
            Message::Snap { term, snapshot } => self.on_snap(from, term, snapshot),
            Message::SnapResp { term, last_index } => {
                if self.role == Role::Leader && term == self.term {
                    self.on_snap_resp(from, last_index);
                }
            }
        }
    }
}

/// The protocol state of a node: everything but the RNG and the (always empty between steps)
/// action buffer.
macro_rules! identity {
    ($n:expr) => {
        (
            (&$n.cfg, $n.term, &$n.voted_for, $n.role, &$n.leader),
            (&$n.log, $n.commit, $n.applied, &$n.sm),
            ($n.elapsed, $n.timeout, $n.heartbeat_elapsed, &$n.votes),
            (&$n.progress, $n.durable_index, $n.hs_version),
            (&$n.writes, &$n.reads, $n.read_ctx, $n.noop_index),
            &$n.last_snapshot,
        )
    };
}

impl PartialEq for RaftNode {
    fn eq(&self, other: &RaftNode) -> bool {
        identity!(self) == identity!(other)
    }
}

impl Eq for RaftNode {}

impl Hash for RaftNode {
    fn hash<H: Hasher>(&self, h: &mut H) {
        identity!(self).hash(h);
    }
}

fn error(code: u32, text: &str, leader: Option<NodeId>) -> Reply {
    Reply::Error {
        code,
        text: text.to_string(),
        leader,
    }
}
