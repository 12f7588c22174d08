//! Client interaction (§8): writes and cas go through the log and are answered when applied;
//! reads use ReadIndex (thesis §6.4): the read waits for a heartbeat round acknowledged by a
//! majority in the leader's term and for the state machine to reach the commit index noted
//! when the read arrived. Also: applying committed entries, and log compaction (§7).

use super::{PendingRead, RaftNode, Role};
use crate::core::{Action, Bug, Command, Event, NodeId, Reply, Snapshot};
use std::collections::BTreeSet;

impl RaftNode {
    pub(super) fn client(&mut self, request_id: u64, cmd: Command) {
        let bugs = self.bugs();
        if let Command::Read { key } = &cmd {
            // Planted bugs `follower-read` (any node) and `stale-read` (a leader that has not
            // confirmed it still leads) answer from local state.
            // planted bug: follower-read
            let follower_read = bugs.has(Bug::FollowerRead);
            // planted bug: stale-read
            let stale_read = bugs.has(Bug::StaleRead) && self.st.role == Role::Leader;
            if follower_read || stale_read {
                let reply = self.st.sm.read(key);
                return self.reply(request_id, reply);
            }
        }
        if self.st.role != Role::Leader {
            let leader = self.st.leader.clone();
            return self.reply(request_id, Reply::NotLeader { leader });
        }
        match cmd {
            Command::Read { key } => {
                self.st.read_ctx += 1;
                let read = PendingRead {
                    request_id,
                    key,
                    index: self.st.commit.max(self.st.noop_index),
                    ctx: self.st.read_ctx,
                    acks: BTreeSet::from([self.st.cfg.id.clone()]),
                };
                self.st.reads.push(read);
                self.broadcast_heartbeat();
                self.serve_reads();
            }
            cmd => {
                let index = self.append_local(Some(cmd));
                self.st.writes.insert(index, (request_id, self.st.term));
                self.broadcast_append();
            }
        }
    }

    /// Counts `from`'s answer to a heartbeat round `ctx` for every read waiting on a round up
    /// to `ctx` (an answer in the leader's own term proves it still led when it was sent).
    pub(super) fn ack_reads(&mut self, from: &NodeId, ctx: u64) {
        let mut acked = false;
        for r in self.st.reads.iter_mut().filter(|r| r.ctx <= ctx) {
            acked |= r.acks.insert(from.clone());
        }
        if acked {
            self.serve_reads();
        }
    }

    /// Answers reads confirmed by a quorum whose index is applied (ReadIndex, thesis §6.4).
    pub(super) fn serve_reads(&mut self) {
        if self.st.reads.is_empty() || self.st.commit < self.st.noop_index {
            return;
        }
        let quorum = self.quorum();
        let applied = self.st.applied;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.st.reads)
            .into_iter()
            .partition(|r| r.acks.len() >= quorum && applied >= r.index);
        self.st.reads = waiting;
        for r in done {
            let reply = self.st.sm.read(&r.key);
            self.reply(r.request_id, reply);
        }
    }

    /// Applies committed entries in order (§5.3) and answers the writes this leader took.
    pub(super) fn apply(&mut self) {
        let bugs = self.bugs();
        while self.st.applied < self.st.commit {
            self.st.applied += 1;
            let entry = self
                .st
                .log
                .get(self.st.applied)
                .expect("committed entries past the snapshot are in the log");
            let (index, term) = (entry.index, entry.term);
            let reply = entry.cmd.as_ref().map(|c| self.st.sm.apply(c, bugs));
            if let Some((request_id, taken_in)) = self.st.writes.remove(&index) {
                let reply = match reply {
                    Some(r) if taken_in == term => r,
                    _ => Reply::EntryReplaced,
                };
                self.reply(request_id, reply);
            }
        }
        if self.st.role == Role::Leader {
            self.serve_reads();
        }
        self.maybe_snapshot();
    }

    /// Compacts the log when enough applied entries sit in it (§7): the state machine and the
    /// dedup table become the snapshot, so both survive compaction and restarts.
    fn maybe_snapshot(&mut self) {
        if self.st.applied - self.st.log.snapshot_index
            < self.st.cfg.snapshot_threshold_entries.max(1)
        {
            return;
        }
        let term = self
            .st
            .log
            .term_at(self.st.applied)
            .expect("applied entries are in the log");
        let snapshot = Snapshot {
            last_index: self.st.applied,
            last_term: term,
            data: serde_json::to_vec(&self.st.sm).expect("the state machine serializes"),
        };
        self.st.log.compact(self.st.applied, term);
        self.st.last_snapshot = Some(snapshot.clone());
        self.out.push(Action::PersistSnapshot { snapshot });
        self.out.push(Action::Event(Event::Snapshot {
            node: self.st.cfg.id.clone(),
            index: self.st.applied,
        }));
    }
}
