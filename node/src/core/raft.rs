//! [`RaftNode`]: Figure 2 of the Raft paper as a pure state machine (see the module docs of
//! `core` for the ordering rule and the read path).

use super::log::RaftLog;
use super::sm::StateMachine;
use super::{Action, Command, Config, DurableState, Entry, Event, HardState, Input, Message};
use super::{NodeId, Reply, Snapshot};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};

/// Most entries in one AppendEntries message.
const ENTRIES_PER_APPEND_MAX: u64 = 512;
/// Error code: not the leader (definite).
const NOT_LEADER: u32 = 11;
/// Error code: outcome unknown (indefinite).
const INDEFINITE: u32 = 0;

/// The role of a node (§5.1), plus the PreVote phase (thesis §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The leader's view of one follower (Figure 2, volatile state on leaders).
#[derive(Debug, Clone)]
struct Progress {
    next: u64,
    matched: u64,
    active: bool,
}

/// A read waiting for its quorum confirmation and for `index` to be applied (ReadIndex).
#[derive(Debug, Clone)]
struct PendingRead {
    request_id: u64,
    key: String,
    index: u64,
    ctx: u64,
    acks: BTreeSet<NodeId>,
}

/// One Raft node. Drive it with [`RaftNode::step`].
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
        assert!(cfg.election_ticks_min < cfg.election_ticks_max && cfg.heartbeat_ticks > 0);
        let mut log = RaftLog::default();
        let mut sm = StateMachine::default();
        if let Some(s) = &durable.snapshot {
            log.snapshot_index = s.last_index;
            log.snapshot_term = s.last_term;
            sm = serde_json::from_slice(&s.data).unwrap_or_default();
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

    /// Commit index.
    pub fn commit_index(&self) -> u64 {
        self.commit
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

    /// Feeds one input; returns the actions to execute, in order.
    pub fn step(&mut self, input: Input) -> Vec<Action> {
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
        assert!(
            self.commit <= self.log.last_index(),
            "commit beyond the log"
        );
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
        let voted_for = if self.cfg.bugs.vote_twice {
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

    fn set_role(&mut self, role: Role) {
        if self.role != role {
            self.role = role;
            self.out.push(Action::Event(Event::Role {
                node: self.cfg.id.clone(),
                role: role.name().to_string(),
                term: self.term,
            }));
        }
    }

    fn tick(&mut self) {
        self.elapsed += 1;
        if self.role == Role::Leader {
            self.heartbeat_elapsed += 1;
            if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
                self.broadcast_append();
            }
            if self.cfg.check_quorum && self.elapsed >= self.cfg.election_ticks_min {
                self.check_quorum();
            }
        } else if self.elapsed >= self.timeout {
            self.campaign(self.cfg.pre_vote);
        }
    }

    /// CheckQuorum: a leader that has not heard from a majority within an election timeout
    /// steps down, so clients stop waiting on it and a partitioned leader stops serving.
    fn check_quorum(&mut self) {
        self.elapsed = 0;
        let active = 1 + self.progress.values().filter(|p| p.active).count();
        for p in self.progress.values_mut() {
            p.active = false;
        }
        if active < self.quorum() {
            self.become_follower(self.term, None);
        }
    }

    fn campaign(&mut self, pre: bool) {
        self.reset_timeout();
        self.leader = None;
        self.votes = BTreeSet::from([self.cfg.id.clone()]);
        let term = if pre {
            self.set_role(Role::PreCandidate);
            self.term + 1
        } else {
            self.term += 1;
            self.voted_for = Some(self.cfg.id.clone());
            self.persist_hard_state();
            self.set_role(Role::Candidate);
            self.term
        };
        if self.votes.len() >= self.quorum() {
            return self.won(pre);
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for to in self.others() {
            let msg = Message::Vote {
                term,
                last_index,
                last_term,
                pre,
            };
            self.send(to, msg);
        }
    }

    fn won(&mut self, pre: bool) {
        if pre {
            self.campaign(false)
        } else {
            self.become_leader()
        }
    }

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist_hard_state();
        }
        if self.role == Role::Leader {
            self.abandon_requests();
        }
        self.set_role(Role::Follower);
        self.leader = leader;
        self.reset_timeout();
    }

    /// A deposed leader answers what it still holds: writes may yet commit under the next
    /// leader (indefinite), reads did nothing (definite).
    fn abandon_requests(&mut self) {
        for (_, (request_id, _)) in std::mem::take(&mut self.writes) {
            let reply = error(
                INDEFINITE,
                "leadership lost; the write may or may not apply",
                None,
            );
            self.reply(request_id, reply);
        }
        for read in std::mem::take(&mut self.reads) {
            self.reply(read.request_id, error(NOT_LEADER, "not leader", None));
        }
    }

    fn become_leader(&mut self) {
        self.set_role(Role::Leader);
        self.leader = Some(self.cfg.id.clone());
        self.elapsed = 0;
        let next = self.log.last_index() + 1;
        self.progress = self
            .others()
            .into_iter()
            .map(|p| {
                let progress = Progress {
                    next,
                    matched: 0,
                    active: true,
                };
                (p, progress)
            })
            .collect();
        self.out.push(Action::Event(Event::Leader {
            node: self.cfg.id.clone(),
            term: self.term,
        }));
        // A no-op of the new term lets the leader commit (§5.4.2) and serve reads (§8). The
        // planted `commit-old-term` leader behaves like a 6.824 lab Raft, which appends no
        // no-op: it then commits earlier terms' entries by counting replicas (Figure 8).
        if !self.cfg.bugs.commit_old_term {
            self.noop_index = self.append_local(None);
        }
        self.broadcast_append();
        self.maybe_commit();
    }

    fn append_local(&mut self, cmd: Option<Command>) -> u64 {
        let entry = Entry {
            index: self.log.last_index() + 1,
            term: self.term,
            cmd,
        };
        let index = entry.index;
        self.log.push(entry.clone());
        self.out.push(Action::PersistEntries {
            truncate_from: None,
            entries: vec![entry],
        });
        index
    }

    fn broadcast_append(&mut self) {
        self.heartbeat_elapsed = 0;
        for to in self.others() {
            self.send_append(&to, true);
        }
    }

    /// Sends `to` what it lacks from `next` on (pipelined: `next` advances optimistically and
    /// a rejection backs it up). With `heartbeat`, sends even when there is nothing new.
    fn send_append(&mut self, to: &NodeId, heartbeat: bool) {
        let Some(p) = self.progress.get(to) else {
            return;
        };
        let next = p.next;
        if next <= self.log.snapshot_index {
            if let Some(snapshot) = self.last_snapshot.clone() {
                let msg = Message::Snap {
                    term: self.term,
                    snapshot,
                };
                self.send(to.clone(), msg);
            }
            return;
        }
        let last = self.log.last_index();
        if next > last && !heartbeat {
            return;
        }
        let entries = self
            .log
            .slice(next, last.min(next + ENTRIES_PER_APPEND_MAX - 1));
        let prev_index = next - 1;
        let prev_term = self.log.term_at(prev_index).unwrap_or(0);
        if let (Some(e), Some(p)) = (entries.last(), self.progress.get_mut(to)) {
            p.next = e.index + 1;
        }
        let msg = Message::Append {
            term: self.term,
            prev_index,
            prev_term,
            entries,
            commit: self.commit,
            ctx: self.read_ctx,
        };
        self.send(to.clone(), msg);
    }

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
            Message::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                ctx,
            } => {
                if term < self.term {
                    return self.send(from, self.reject(0, None, ctx));
                }
                self.follow(from.clone());
                self.on_append(from, prev_index, prev_term, entries, commit, ctx);
            }
            Message::AppendResp {
                term,
                success,
                match_index,
                conflict_index,
                conflict_term,
                ctx,
            } => {
                if self.role == Role::Leader && term == self.term {
                    self.ack_reads(&from, ctx);
                    self.on_append_resp(from, success, match_index, conflict_index, conflict_term);
                }
            }
            Message::Snap { term, snapshot } => {
                if term < self.term {
                    let msg = Message::SnapResp {
                        term: self.term,
                        last_index: 0,
                    };
                    return self.send(from, msg);
                }
                self.follow(from.clone());
                self.on_snap(from, snapshot);
            }
            Message::SnapResp { term, last_index } => {
                if self.role == Role::Leader && term == self.term {
                    if let Some(p) = self.progress.get_mut(&from) {
                        p.active = true;
                        p.matched = p.matched.max(last_index);
                        p.next = p.matched + 1;
                    }
                    self.maybe_commit();
                }
            }
        }
    }

    /// A message from the leader of the current term: follow it.
    fn follow(&mut self, leader: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(leader.clone()));
        }
        self.leader = Some(leader);
        self.elapsed = 0;
    }

    fn in_lease(&self) -> bool {
        self.cfg.check_quorum && self.leader.is_some() && self.elapsed < self.cfg.election_ticks_min
    }

    fn on_vote(&mut self, from: NodeId, term: u64, last_index: u64, last_term: u64, pre: bool) {
        let up_to_date = self.log.is_up_to_date(last_index, last_term);
        let granted = if pre {
            term > self.term && up_to_date && !self.in_lease()
        } else {
            term == self.term && self.voted_for.as_ref().is_none_or(|v| *v == from) && up_to_date
        };
        if granted && !pre {
            self.voted_for = Some(from.clone());
            self.persist_hard_state();
            self.reset_timeout();
        }
        let term = if pre && granted { term } else { self.term };
        self.send(from, Message::VoteResp { term, granted, pre });
    }

    fn on_vote_resp(&mut self, from: NodeId, term: u64, granted: bool, pre: bool) {
        let (role, expected) = if pre {
            (Role::PreCandidate, self.term + 1)
        } else {
            (Role::Candidate, self.term)
        };
        if self.role != role || term != expected || !granted {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() >= self.quorum() {
            self.won(pre);
        }
    }

    fn reject(&self, conflict_index: u64, conflict_term: Option<u64>, ctx: u64) -> Message {
        Message::AppendResp {
            term: self.term,
            success: false,
            match_index: 0,
            conflict_index,
            conflict_term,
            ctx,
        }
    }

    fn on_append(
        &mut self,
        from: NodeId,
        mut prev_index: u64,
        mut prev_term: u64,
        mut entries: Vec<Entry>,
        commit: u64,
        ctx: u64,
    ) {
        if prev_index < self.log.snapshot_index {
            // The prefix is in our snapshot, hence committed, hence matching.
            entries.retain(|e| e.index > self.log.snapshot_index);
            prev_index = self.log.snapshot_index;
            prev_term = self.log.snapshot_term;
        }
        if self.log.term_at(prev_index) != Some(prev_term) {
            let msg = match self.log.term_at(prev_index) {
                None => self.reject(self.log.last_index() + 1, None, ctx),
                Some(t) => self.reject(self.log.first_index_of_term(prev_index, t), Some(t), ctx),
            };
            return self.send(from, msg);
        }
        let match_index = prev_index + entries.len() as u64;
        self.store_entries(entries);
        if commit > self.commit {
            self.commit = commit.min(match_index).max(self.commit);
        }
        let msg = Message::AppendResp {
            term: self.term,
            success: true,
            match_index,
            conflict_index: 0,
            conflict_term: None,
            ctx,
        };
        self.send(from, msg);
    }

    /// Appends what is new and cuts a conflicting suffix (Figure 2, AppendEntries 3-4).
    ///
    /// Planted bug `lost-truncate`: an entry whose index is already present is skipped even
    /// when its term differs, so the follower keeps a conflicting entry from a deposed leader
    /// and later applies it as if committed (breaks log matching and state machine safety).
    fn store_entries(&mut self, entries: Vec<Entry>) {
        let mut truncate_from = None;
        let mut new = Vec::new();
        for e in entries {
            match self.log.term_at(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) if self.cfg.bugs.lost_truncate => continue,
                Some(_) => {
                    assert!(e.index > self.commit, "a committed entry conflicts");
                    self.log.truncate_from(e.index);
                    truncate_from.get_or_insert(e.index);
                    self.durable_index = self.durable_index.min(e.index - 1);
                }
                None => {}
            }
            if e.index == self.log.last_index() + 1 {
                self.log.push(e.clone());
                new.push(e);
            }
        }
        if truncate_from.is_some() || !new.is_empty() {
            self.out.push(Action::PersistEntries {
                truncate_from,
                entries: new,
            });
        }
    }

    fn on_append_resp(
        &mut self,
        from: NodeId,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
    ) {
        let leader_next = conflict_term
            .and_then(|t| self.log.last_index_of_term(t).map(|i| i + 1))
            .unwrap_or(conflict_index);
        let Some(p) = self.progress.get_mut(&from) else {
            return;
        };
        p.active = true;
        if success {
            p.matched = p.matched.max(match_index);
            p.next = p.next.max(p.matched + 1);
            self.maybe_commit();
            self.send_append(&from, false);
        } else {
            // Fast backup (6.824 TestBackup): skip a whole conflicting term at once.
            p.next = leader_next.max(p.matched + 1).max(1);
            self.send_append(&from, true);
        }
    }

    /// Advances the commit index to what a majority stores (§5.3), counting only entries of
    /// the current term (§5.4.2, Figure 8). Planted bug `commit-old-term`: entries of earlier
    /// terms are committed by counting replicas, which Figure 8 shows can lose them.
    fn maybe_commit(&mut self) {
        let mut matched: Vec<u64> = self.progress.values().map(|p| p.matched).collect();
        matched.push(self.durable_index.min(self.log.last_index()));
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.quorum() - 1];
        if n > self.commit
            && (self.log.term_at(n) == Some(self.term) || self.cfg.bugs.commit_old_term)
        {
            self.commit = n;
            for to in self.others() {
                self.send_append(&to, false);
            }
        }
    }

    fn on_snap(&mut self, from: NodeId, snapshot: Snapshot) {
        let last_index = snapshot.last_index;
        if last_index > self.commit {
            let Ok(sm) = serde_json::from_slice::<StateMachine>(&snapshot.data) else {
                return; // a snapshot we cannot read is dropped; the leader will resend
            };
            let keep = self.log.term_at(last_index) == Some(snapshot.last_term);
            if keep {
                self.log.compact(last_index, snapshot.last_term);
            } else {
                self.log = RaftLog {
                    snapshot_index: last_index,
                    snapshot_term: snapshot.last_term,
                    entries: Vec::new(),
                };
            }
            self.sm = sm;
            self.commit = last_index;
            self.applied = last_index;
            self.last_snapshot = Some(snapshot.clone());
            self.out.push(Action::PersistSnapshot { snapshot });
            if !keep {
                self.out.push(Action::PersistEntries {
                    truncate_from: Some(last_index + 1),
                    entries: Vec::new(),
                });
            }
        }
        let msg = Message::SnapResp {
            term: self.term,
            last_index: self.commit.max(last_index.min(self.log.last_index())),
        };
        self.send(from, msg);
    }

    fn client(&mut self, request_id: u64, cmd: Command) {
        let bugs = self.cfg.bugs;
        if let Command::Read { key } = &cmd {
            // Planted bugs `follower-read` (any node) and `stale-read` (a leader that has not
            // confirmed it still leads) answer from local state.
            if bugs.follower_read || (bugs.stale_read && self.role == Role::Leader) {
                let reply = self.sm.read(key);
                return self.reply(request_id, reply);
            }
        }
        if self.role != Role::Leader {
            let reply = error(NOT_LEADER, "not leader", self.leader.clone());
            return self.reply(request_id, reply);
        }
        match cmd {
            Command::Read { key } => {
                self.read_ctx += 1;
                let read = PendingRead {
                    request_id,
                    key,
                    index: self.commit.max(self.noop_index),
                    ctx: self.read_ctx,
                    acks: BTreeSet::from([self.cfg.id.clone()]),
                };
                self.reads.push(read);
                self.broadcast_append();
                self.serve_reads();
            }
            cmd => {
                let index = self.append_local(Some(cmd));
                self.writes.insert(index, (request_id, self.term));
                for to in self.others() {
                    self.send_append(&to, false);
                }
            }
        }
    }

    fn ack_reads(&mut self, from: &NodeId, ctx: u64) {
        for r in self.reads.iter_mut().filter(|r| r.ctx <= ctx) {
            r.acks.insert(from.clone());
        }
        self.serve_reads();
    }

    /// Answers reads confirmed by a quorum whose index is applied (ReadIndex, thesis §6.4).
    fn serve_reads(&mut self) {
        let quorum = self.quorum();
        let ready = self.commit >= self.noop_index;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads)
            .into_iter()
            .partition(|r| ready && r.acks.len() >= quorum && self.applied >= r.index);
        self.reads = waiting;
        for r in done {
            let reply = self.sm.read(&r.key);
            self.reply(r.request_id, reply);
        }
    }

    fn apply(&mut self) {
        while self.applied < self.commit {
            self.applied += 1;
            let Some(entry) = self.log.get(self.applied).cloned() else {
                continue;
            };
            let reply = entry
                .cmd
                .as_ref()
                .map(|c| self.sm.apply(c, self.cfg.bugs.no_dedup));
            if let Some((request_id, term)) = self.writes.remove(&entry.index) {
                let reply = match reply {
                    Some(r) if term == entry.term => r,
                    _ => error(
                        INDEFINITE,
                        "the entry was replaced by another leader's",
                        None,
                    ),
                };
                self.reply(request_id, reply);
            }
        }
        if self.role == Role::Leader {
            self.serve_reads();
        }
        self.maybe_snapshot();
    }

    fn maybe_snapshot(&mut self) {
        if self.applied - self.log.snapshot_index < self.cfg.snapshot_threshold_entries.max(1) {
            return;
        }
        let term = self
            .log
            .term_at(self.applied)
            .expect("applied entries are in the log");
        let snapshot = Snapshot {
            last_index: self.applied,
            last_term: term,
            data: serde_json::to_vec(&self.sm).expect("the state machine serializes"),
        };
        self.log.compact(self.applied, term);
        self.last_snapshot = Some(snapshot.clone());
        self.out.push(Action::PersistSnapshot { snapshot });
        self.out.push(Action::Event(Event::Snapshot {
            node: self.cfg.id.clone(),
            index: self.applied,
        }));
    }
}

fn error(code: u32, text: &str, leader: Option<NodeId>) -> Reply {
    Reply::Error {
        code,
        text: text.to_string(),
        leader,
    }
}
