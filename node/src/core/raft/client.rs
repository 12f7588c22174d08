//! Client interaction (§8): writes and cas go through the log and are answered when applied;
//! reads use ReadIndex (thesis §6.4): the read waits for a heartbeat round acknowledged by a
//! majority in the leader's term and for the state machine to reach the commit index noted
//! when the read arrived. Also: applying committed entries, and log compaction (§7).

use super::{error, PendingRead, RaftNode, Role, INDEFINITE, NOT_LEADER};
use crate::core::{Action, Command, Event, NodeId, Snapshot};
use std::collections::BTreeSet;

impl RaftNode {
    pub(super) fn client(&mut self, request_id: u64, cmd: Command) {
        let bugs = self.bugs();
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
                self.broadcast_heartbeat();
                self.serve_reads();
            }
            cmd => {
                let index = self.append_local(Some(cmd));
                self.writes.insert(index, (request_id, self.term));
                self.broadcast_append();
            }
        }
    }

    /// Counts `from`'s answer to a heartbeat round `ctx` for every read waiting on a round up
    /// to `ctx` (an answer in the leader's own term proves it still led when it was sent).
    pub(super) fn ack_reads(&mut self, from: &NodeId, ctx: u64) {
        let mut acked = false;
        for r in self.reads.iter_mut().filter(|r| r.ctx <= ctx) {
            acked |= r.acks.insert(from.clone());
        }
        if acked {
            self.serve_reads();
        }
    }

    /// Answers reads confirmed by a quorum whose index is applied (ReadIndex, thesis §6.4).
    pub(super) fn serve_reads(&mut self) {
        if self.reads.is_empty() || self.commit < self.noop_index {
            return;
        }
        let quorum = self.quorum();
        let applied = self.applied;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads)
            .into_iter()
            .partition(|r| r.acks.len() >= quorum && applied >= r.index);
        self.reads = waiting;
        for r in done {
            let reply = self.sm.read(&r.key);
            self.reply(r.request_id, reply);
        }
    }

    /// Applies committed entries in order (§5.3) and answers the writes this leader took.
    pub(super) fn apply(&mut self) {
        let no_dedup = self.bugs().no_dedup;
        while self.applied < self.commit {
            self.applied += 1;
            let entry = self
                .log
                .get(self.applied)
                .expect("committed entries past the snapshot are in the log");
            let (index, term) = (entry.index, entry.term);
            let reply = entry.cmd.as_ref().map(|c| self.sm.apply(c, no_dedup));
            if let Some((request_id, taken_in)) = self.writes.remove(&index) {
                let reply = match reply {
                    Some(r) if taken_in == term => r,
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

    /// Compacts the log when enough applied entries sit in it (§7): the state machine and the
    /// dedup table become the snapshot, so both survive compaction and restarts.
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
