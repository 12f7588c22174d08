//! The sans-I/O Raft core: a pure state machine, `step(input) -> actions`.
//!
//! Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm (Extended Version)",
//! Figure 2, plus PreVote and CheckQuorum (Ongaro's thesis §9.6 and §6.2) and ReadIndex reads
//! (thesis §6.4). There is no clock, socket, thread, file or unseeded randomness inside: time is
//! [`Input::Tick`], the network is [`Action::Send`] / [`Input::Message`], the disk is the
//! `Persist*` actions and [`Input::Persisted`], and randomness comes from a RNG seeded by
//! [`Config::seed`]. The same core is driven by the tokio runtime (`crate::runtime`) and by the
//! deterministic simulator in `tests/`.
//!
//! # The driver contract
//!
//! A step's actions are executed **in order**, and every `Persist*` action is made durable
//! before any later action, with one exception the core marks itself: each
//! [`Action::Send`] carries [`When`], and
//!
//! - a send marked [`When::AfterPersist`] (and every `Reply` and `Event`) is performed only
//!   once every persist emitted so far, by this step and by earlier ones, is durable;
//! - a send marked [`When::Now`] may be performed at once, before those persists are durable
//!   and ahead of earlier actions still waiting for them.
//!
//! This is the split of raft-rs's `Ready` into `messages` (may leave now) and
//! `persisted_messages` (only after the persist), in the shape of `step(input) -> actions`.
//! The core marks a leader's AppendEntries and InstallSnapshot `Now` and everything else
//! `AfterPersist`. Drivers read the marking and nothing else: the tokio runtime, the
//! simulator and the stateright model in `tests/` obey the same field. A driver may always
//! delay an action further (e.g. batch many steps behind one fsync): delay is
//! indistinguishable from a slow network, and performing a `Now` send late is always allowed.
//! After persisting, the driver reports [`Input::Persisted`].
//!
//! **Why a leader's AppendEntries may leave before its own disk write** (Ongaro's thesis
//! §10.2.1: the leader writes its log in parallel with replicating it). An AppendEntries
//! promises nothing about the leader's disk: it offers entries, and a follower that stores
//! them makes them durable itself before it says so. The leader counts its own log toward a
//! commit only up to the last index that [`Input::Persisted`] reported, so an entry is
//! committed only once a majority holds it durably, whether or not the leader is part of that
//! majority. If the leader crashes before its write, it restarts without the entries, exactly
//! like a leader that crashed just after sending them: the entries are uncommitted unless a
//! majority of followers stored them, and then the election restriction (§5.4.1) keeps them.
//! The term the message carries is durable already: the leader's election waited for the
//! votes, and the vote requests waited for the candidate's term and vote to be on disk. An
//! InstallSnapshot carries state that is committed and applied, hence already durable on a
//! majority. So a leader whose fsync stalls keeps heartbeating instead of causing an election.
//!
//! **Why votes and answers to AppendEntries must wait.** A granted vote promises that this
//! node votes for no one else in the term; sent before `votedFor` is durable, a crash makes
//! the node forget it and vote again, and two leaders can win one term (§5.2; the planted bug
//! `vote-twice`). A successful AppendEntries answer promises that the entries are stored; the
//! leader counts it toward a majority, so sent before the entries are durable, a crash can
//! leave a committed entry on fewer than a majority and a later leader without it (§5.4).
//! A candidate's RequestVote waits too: the candidate counts its own vote at once, so its term
//! and `votedFor` must be durable before any vote can come back. Replies to clients and events
//! wait with everything else, which makes them no earlier than what they report.
//!
//! # Reads
//!
//! Reads use **ReadIndex** with a quorum check (thesis §6.4): the leader notes its commit index
//! (at least its no-op of the current term), confirms with a heartbeat round that a majority
//! still follows it, waits until that index is applied, then answers from the state machine. A
//! read is never served from a follower's or a deposed leader's local state, unless the planted
//! bugs `stale-read` or `follower-read` say so.

mod bugs;
mod log;
mod raft;
mod sm;

pub use bugs::{Bug, Bugs};
pub use raft::RaftNode;

use serde::{Deserialize, Serialize};

/// A node's id, `n1` .. `nN`.
pub type NodeId = String;

/// Static configuration of one node. Time is counted in ticks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// All members, this node included.
    pub peers: Vec<NodeId>,
    /// Minimum election timeout, in ticks.
    pub election_ticks_min: u32,
    /// Maximum election timeout, in ticks.
    pub election_ticks_max: u32,
    /// Heartbeat interval, in ticks.
    pub heartbeat_ticks: u32,
    /// Take a snapshot when this many applied entries sit in the log.
    pub snapshot_threshold_entries: u64,
    /// Run a PreVote round before an election (thesis §9.6).
    pub pre_vote: bool,
    /// Leaders step down without a quorum; followers ignore votes while they hear a leader.
    pub check_quorum: bool,
    /// Planted bugs, all off by default.
    pub bugs: Bugs,
    /// Seed of the election-timeout randomness (the core's only randomness).
    pub seed: u64,
}

impl Config {
    /// A configuration with the defaults of `raft-node` (10 ms ticks: elections 150-300 ms,
    /// heartbeats 50 ms).
    pub fn new(id: &str, peers: &[&str], seed: u64) -> Config {
        Config {
            id: id.to_string(),
            peers: peers.iter().map(|p| p.to_string()).collect(),
            election_ticks_min: 15,
            election_ticks_max: 30,
            heartbeat_ticks: 5,
            snapshot_threshold_entries: 10_000,
            pre_vote: true,
            check_quorum: true,
            bugs: Bugs::default(),
            seed,
        }
    }
}

/// A client command on the replicated register.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Command {
    /// Read a key.
    Read {
        /// The key.
        key: String,
    },
    /// Write a value; `client`/`seq` deduplicate retries (empty client: no dedup).
    Write {
        /// The key.
        key: String,
        /// The value.
        value: i64,
        /// Client id.
        client: String,
        /// Client sequence number.
        seq: u64,
    },
    /// Compare-and-set.
    Cas {
        /// The key.
        key: String,
        /// Expected value.
        from: i64,
        /// New value.
        to: i64,
        /// Client id.
        client: String,
        /// Client sequence number.
        seq: u64,
    },
}

/// What the core is told.
#[derive(Debug, Clone)]
pub enum Input {
    /// One unit of time passed.
    Tick,
    /// A message from a peer.
    Message {
        /// The sender.
        from: NodeId,
        /// The message.
        msg: Message,
    },
    /// A client request; the reply carries `request_id`.
    Client {
        /// Chosen by the driver, unique among pending requests.
        request_id: u64,
        /// The command.
        cmd: Command,
    },
    /// Everything persisted so far is durable.
    Persisted {
        /// Version of the last hard state made durable.
        hard_state_version: u64,
        /// Last log index made durable.
        last_index: u64,
    },
}

/// `currentTerm` and `votedFor` (Figure 2, persistent state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// Latest term seen.
    pub term: u64,
    /// Candidate voted for in `term`.
    pub voted_for: Option<NodeId>,
}

/// A log entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log (1-based).
    pub index: u64,
    /// Term of the leader that created it.
    pub term: u64,
    /// The command; `None` is a leader's no-op.
    pub cmd: Option<Command>,
}

/// A state-machine snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// Last index included.
    pub last_index: u64,
    /// Its term.
    pub last_term: u64,
    /// The register and the dedup table, serialised.
    pub data: Vec<u8>,
}

/// What a node finds on disk at start.
#[derive(Debug, Clone, Default)]
pub struct DurableState {
    /// Term and vote.
    pub hard_state: HardState,
    /// The latest snapshot.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, in order.
    pub entries: Vec<Entry>,
}

/// An answer to a client. The core says what happened; `crate::protocol` maps it to the wire
/// (Maelstrom's error codes and texts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply {
    /// The value read.
    ReadOk(i64),
    /// The write was applied.
    WriteOk,
    /// The cas was applied.
    CasOk,
    /// This node does not lead (definite: nothing happened).
    NotLeader {
        /// The leader, when known.
        leader: Option<NodeId>,
    },
    /// The key does not exist (definite).
    KeyMissing,
    /// A cas found another value than `expected` (definite).
    PreconditionFailed {
        /// The cas's `from`.
        expected: i64,
    },
    /// The leader lost its leadership with the write pending: it may or may not apply under
    /// the next leader (indefinite).
    LeadershipLost,
    /// The index the write was appended at now holds another leader's entry: the write may
    /// still have been applied elsewhere (indefinite).
    EntryReplaced,
}

/// Something worth printing for the harness (one JSON line each).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// `node` became leader of `term`.
    Leader {
        /// The node.
        node: NodeId,
        /// The term.
        term: u64,
    },
    /// `node` changed role.
    Role {
        /// The node.
        node: NodeId,
        /// follower, pre-candidate, candidate or leader.
        role: String,
        /// Its term.
        term: u64,
    },
    /// `node` took a snapshot up to `index`.
    Snapshot {
        /// The node.
        node: NodeId,
        /// Last index in the snapshot.
        index: u64,
    },
}

/// When a send may leave (the driver contract, module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum When {
    /// At once, even before the persists of this step and of earlier steps are durable: a
    /// leader's AppendEntries and InstallSnapshot (thesis §10.2.1).
    Now,
    /// Only once every persist emitted so far, this step's included, is durable.
    AfterPersist,
}

/// What the driver must do, in order (up to the exceptions that [`When::Now`] allows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Make term and vote durable.
    PersistHardState {
        /// The state.
        hard_state: HardState,
        /// Increases with every hard state emitted.
        version: u64,
    },
    /// Remove entries `>= truncate_from` (if set), then append `entries`, durably.
    PersistEntries {
        /// First index to remove.
        truncate_from: Option<u64>,
        /// Entries to append.
        entries: Vec<Entry>,
    },
    /// Make a snapshot durable and drop the log up to it.
    PersistSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Send a message, now or once every persist so far is durable (see [`When`]).
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        msg: Message,
        /// May it leave before the persists are durable?
        when: When,
    },
    /// Answer a client request.
    Reply {
        /// The request.
        request_id: u64,
        /// The answer.
        reply: Reply,
    },
    /// Report an event.
    Event(Event),
}

/// Raft messages (Figure 2, plus PreVote and a read-index context on heartbeats).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// RequestVote; `pre` for a PreVote round (`term` is then the prospective term).
    Vote {
        /// Candidate's term.
        term: u64,
        /// Candidate's last log index.
        last_index: u64,
        /// Candidate's last log term.
        last_term: u64,
        /// PreVote round.
        pre: bool,
    },
    /// Answer to `Vote`.
    VoteResp {
        /// Voter's term (or the prospective term echoed, for a granted pre-vote).
        term: u64,
        /// Granted?
        granted: bool,
        /// PreVote round.
        pre: bool,
    },
    /// AppendEntries (also the heartbeat).
    Append {
        /// Leader's term.
        term: u64,
        /// Index before the new entries.
        prev_index: u64,
        /// Its term.
        prev_term: u64,
        /// Entries to store.
        entries: Vec<Entry>,
        /// Leader's commit index.
        commit: u64,
        /// Read-index round this message confirms.
        ctx: u64,
    },
    /// Answer to `Append`.
    AppendResp {
        /// Follower's term.
        term: u64,
        /// Did the log match?
        success: bool,
        /// On success, the last index known to match.
        match_index: u64,
        /// On failure, the `prev_index` of the rejected message (lets the leader ignore stale
        /// rejections).
        reject_index: u64,
        /// On failure, where the leader should back up to (fast backup).
        conflict_index: u64,
        /// On failure, the term of the conflicting entry, if any.
        conflict_term: Option<u64>,
        /// Echo of the read-index round.
        ctx: u64,
    },
    /// InstallSnapshot (in one message: snapshots here are small).
    Snap {
        /// Leader's term.
        term: u64,
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Answer to `Snap`.
    SnapResp {
        /// Follower's term.
        term: u64,
        /// Index now known to match.
        last_index: u64,
    },
}

impl Message {
    /// The term the message carries.
    pub fn term(&self) -> u64 {
        match self {
            Message::Vote { term, .. }
            | Message::VoteResp { term, .. }
            | Message::Append { term, .. }
            | Message::AppendResp { term, .. }
            | Message::Snap { term, .. }
            | Message::SnapResp { term, .. } => *term,
        }
    }
}
