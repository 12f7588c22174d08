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
//! # The ordering rule ("persist before you send")
//!
//! The driver executes the actions of a step **in order**, and a `Persist*` action must be
//! durable before any later action of the same step is executed. So a vote is never granted
//! before `votedFor` is on disk, and an append is never acknowledged before the entries are.
//! A driver may delay sends further (e.g. batch many steps behind one fsync): delay is
//! indistinguishable from a slow network. After persisting, the driver reports
//! [`Input::Persisted`]: only then does the leader count its own log as durable for commit.
//!
//! # Reads
//!
//! Reads use **ReadIndex** with a quorum check (thesis §6.4): the leader notes its commit index
//! (at least its no-op of the current term), confirms with a heartbeat round that a majority
//! still follows it, waits until that index is applied, then answers from the state machine. A
//! read is never served from a follower's or a deposed leader's local state, unless the planted
//! bugs `stale-read` or `follower-read` say so.

mod log;
mod raft;
mod sm;

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

/// Classic Raft mistakes, planted on purpose so that faultline's power to find bugs is measured.
/// Each is documented where it is implemented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    /// The leader answers reads from local state without confirming it is still leader.
    pub stale_read: bool,
    /// Any node answers reads from its local state.
    pub follower_read: bool,
    /// `votedFor` is not persisted: after a restart a node may vote twice in one term.
    pub vote_twice: bool,
    /// The leader commits entries of earlier terms by counting replicas (Figure 8).
    pub commit_old_term: bool,
    /// The `client`/`seq` table is ignored: a retried write may apply twice.
    pub no_dedup: bool,
    /// A follower keeps its conflicting entries instead of truncating them.
    pub lost_truncate: bool,
    /// Storage acknowledges persistence without fsync (implemented by the storage).
    pub no_fsync: bool,
}

impl Bugs {
    /// Every bug name accepted by [`Bugs::enable`].
    pub const NAMES: &'static [&'static str] = &[
        "stale-read",
        "follower-read",
        "no-fsync",
        "vote-twice",
        "commit-old-term",
        "no-dedup",
        "lost-truncate",
    ];

    /// The bugs with only the one called `name` on.
    pub fn from_name(name: &str) -> Result<Bugs, String> {
        let mut bugs = Bugs::default();
        bugs.enable(name)?;
        Ok(bugs)
    }

    /// Does a bug on break the log's safety (election safety, log matching, leader
    /// completeness)? The core's own assertions of those invariants are then off, so that
    /// the bug shows as wrong answers, as it would in the wild, and not as a panic.
    pub fn breaks_log_safety(&self) -> bool {
        self.vote_twice || self.commit_old_term || self.lost_truncate || self.no_fsync
    }

    /// Turns on the bug called `name`.
    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        let flag = match name {
            "stale-read" => &mut self.stale_read,
            "follower-read" => &mut self.follower_read,
            "no-fsync" => &mut self.no_fsync,
            "vote-twice" => &mut self.vote_twice,
            "commit-old-term" => &mut self.commit_old_term,
            "no-dedup" => &mut self.no_dedup,
            "lost-truncate" => &mut self.lost_truncate,
            _ => {
                return Err(format!(
                    "unknown bug {name:?}; expected one of {}",
                    Bugs::NAMES.join(", ")
                ))
            }
        };
        *flag = true;
        Ok(())
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

/// An answer to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The value read.
    ReadOk(i64),
    /// The write was applied.
    WriteOk,
    /// The cas was applied.
    CasOk,
    /// An error with a Maelstrom code (11 not leader, 20 no such key, 22 cas mismatch, 0
    /// indefinite: the outcome is unknown).
    Error {
        /// The code.
        code: u32,
        /// Why.
        text: String,
        /// The leader, when known.
        leader: Option<NodeId>,
    },
}

/// Something worth printing for the harness (one JSON line each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// What the driver must do, in order.
#[derive(Debug, Clone)]
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
    /// Send a message.
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        msg: Message,
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
