//! Log replication (§5.3), the commitment rule (§5.4.2, Figure 8) and InstallSnapshot (§7).
//!
//! The leader keeps a `Progress` per follower: in *probe* mode one AppendEntries is
//! outstanding until the follower answers; a rejection carries the follower's conflict term
//! and the first index it holds of that term (or its log's end), so the leader skips a whole
//! conflicting term per round trip (the fast backup of §5.3's last paragraphs, 6.824's
//! TestBackup). Once an AppendEntries succeeds the follower is in *replicate* mode: entries
//! are pipelined and batched (up to [`ENTRIES_PER_APPEND_MAX`] per message) without waiting a
//! round trip. Each rejection names the `prev_index` it rejects, so the leader recognises and
//! ignores stale rejections of a pipeline instead of re-sending the log once per message.

use super::{RaftNode, Role};
use crate::core::log::RaftLog;
use crate::core::sm::StateMachine;
use crate::core::Bug;
use crate::core::{Action, Command, Entry, Message, NodeId, Snapshot};

/// Most entries in one AppendEntries message.
const ENTRIES_PER_APPEND_MAX: u64 = 512;
/// Most entries sent to one follower and not yet acknowledged (flow control).
const ENTRIES_IN_FLIGHT_MAX: u64 = 8192;

impl RaftNode {
    /// Appends a new entry of the current term to the leader's log.
    pub(super) fn append_local(&mut self, cmd: Option<Command>) -> u64 {
        let entry = Entry {
            index: self.st.log.last_index() + 1,
            term: self.st.term,
            cmd,
        };
        let index = entry.index;
        self.st.log.push(entry.clone());
        self.out.push(Action::PersistEntries {
            truncate_from: None,
            entries: vec![entry],
        });
        index
    }

    /// Heartbeats every follower (an AppendEntries even when nothing is new, §5.2).
    pub(super) fn broadcast_heartbeat(&mut self) {
        self.st.heartbeat_elapsed = 0;
        for to in self.others() {
            self.send_append(&to, true);
        }
    }

    /// Sends new entries to every follower that can take them now.
    pub(super) fn broadcast_append(&mut self) {
        for to in self.others() {
            self.send_append(&to, false);
        }
    }

    /// Sends `to` what it lacks, as its progress mode allows. A `heartbeat` is always sent: in
    /// replicate mode it is an empty AppendEntries at the matched index (it cannot be rejected
    /// by a follower that is merely behind on the pipeline); in probe mode it repeats the probe.
    pub(super) fn send_append(&mut self, to: &NodeId, heartbeat: bool) {
        let Some(p) = self.st.progress.get(to).cloned() else {
            return;
        };
        if !heartbeat && !p.replicating && p.probe_sent {
            return;
        }
        if p.next <= self.st.log.snapshot_index {
            return self.send_snapshot(to);
        }
        let last = self.st.log.last_index();
        let in_flight = p.next - 1 - p.matched.min(p.next - 1);
        let idle = p.next > last || (p.replicating && in_flight >= ENTRIES_IN_FLIGHT_MAX);
        if idle && !heartbeat {
            return;
        }
        let prev_index = match self.st.log.term_at(p.matched) {
            Some(_) if p.replicating && idle => p.matched,
            _ => p.next - 1,
        };
        let entries = if prev_index == p.matched && idle {
            Vec::new()
        } else {
            let to_index = last.min(prev_index + ENTRIES_PER_APPEND_MAX);
            self.st.log.slice(prev_index + 1, to_index)
        };
        let prev_term = self
            .st
            .log
            .term_at(prev_index)
            .expect("the entry before `next` is in the log or is the snapshot point");
        let p = self.st.progress.get_mut(to).expect("checked above");
        match entries.last() {
            Some(e) if p.replicating => p.next = e.index + 1,
            _ => p.probe_sent = !p.replicating,
        }
        let msg = Message::Append {
            term: self.st.term,
            prev_index,
            prev_term,
            entries,
            commit: self.st.commit,
            ctx: self.st.read_ctx,
        };
        self.replicate(to.clone(), msg);
    }

    fn send_snapshot(&mut self, to: &NodeId) {
        let Some(snapshot) = self.st.last_snapshot.clone() else {
            return;
        };
        if let Some(p) = self.st.progress.get_mut(to) {
            p.replicating = false;
            p.probe_sent = true;
        }
        let msg = Message::Snap {
            term: self.st.term,
            snapshot,
        };
        self.replicate(to.clone(), msg);
    }

    fn reject(&self, reject_index: u64, conflict: (u64, Option<u64>), ctx: u64) -> Message {
        Message::AppendResp {
            term: self.st.term,
            success: false,
            match_index: 0,
            reject_index,
            conflict_index: conflict.0,
            conflict_term: conflict.1,
            ctx,
        }
    }

    /// AppendEntries receiver (Figure 2, steps 1-5).
    pub(super) fn on_append(&mut self, from: NodeId, msg: Message) {
        let Message::Append {
            term,
            mut prev_index,
            mut prev_term,
            mut entries,
            commit,
            ctx,
        } = msg
        else {
            unreachable!("on_append takes an Append")
        };
        if term < self.st.term {
            return self.send(from, self.reject(prev_index, (0, None), ctx));
        }
        self.follow(from.clone());
        if prev_index < self.st.log.snapshot_index {
            // The prefix is in our snapshot, hence committed, hence matching.
            entries.retain(|e| e.index > self.st.log.snapshot_index);
            prev_index = self.st.log.snapshot_index;
            prev_term = self.st.log.snapshot_term;
        }
        if self.st.log.term_at(prev_index) != Some(prev_term) {
            let conflict = match self.st.log.term_at(prev_index) {
                None => (self.st.log.last_index() + 1, None),
                Some(t) => (self.st.log.first_index_of_term(prev_index, t), Some(t)),
            };
            return self.send(from, self.reject(prev_index, conflict, ctx));
        }
        let match_index = prev_index + entries.len() as u64;
        self.store_entries(entries);
        if commit > self.st.commit {
            self.st.commit = commit.min(match_index).max(self.st.commit);
        }
        let msg = Message::AppendResp {
            term: self.st.term,
            success: true,
            match_index,
            reject_index: 0,
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
            match self.st.log.term_at(e.index) {
                Some(t) if t == e.term => continue,
                // planted bug: lost-truncate
                Some(_) if self.bugs().has(Bug::LostTruncate) => continue,
                Some(_) => {
                    assert!(e.index > self.st.commit, "a committed entry conflicts");
                    self.st.log.truncate_from(e.index);
                    truncate_from.get_or_insert(e.index);
                    self.st.durable_index = self.st.durable_index.min(e.index - 1);
                }
                None => {}
            }
            if e.index == self.st.log.last_index() + 1 {
                self.st.log.push(e.clone());
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

    /// AppendEntries answer at the leader: progress, commitment, the next batch or the next
    /// probe.
    pub(super) fn on_append_resp(&mut self, from: NodeId, msg: Message) {
        let Message::AppendResp {
            success,
            match_index,
            reject_index,
            conflict_index,
            conflict_term,
            ctx,
            ..
        } = msg
        else {
            unreachable!("on_append_resp takes an AppendResp")
        };
        self.ack_reads(&from, ctx);
        // Fast backup: past the leader's last entry of the conflicting term, else to the
        // first index the follower holds of it (or to the follower's log end).
        let hint = conflict_term
            .and_then(|t| self.st.log.last_index_of_term(t).map(|i| i + 1))
            .unwrap_or(conflict_index);
        let Some(p) = self.st.progress.get_mut(&from) else {
            return;
        };
        p.active = true;
        if success {
            p.matched = p.matched.max(match_index);
            if !p.replicating {
                p.replicating = true;
                p.next = p.matched + 1;
            }
            p.next = p.next.max(p.matched + 1);
            p.probe_sent = false;
            self.maybe_commit();
            return self.send_append(&from, false);
        }
        let stale = if p.replicating {
            reject_index < p.matched
        } else {
            reject_index + 1 != p.next
        };
        if stale {
            return;
        }
        if conflict_term.is_none() && conflict_index <= p.matched {
            // The follower lost acknowledged entries: possible only with planted `no-fsync`.
            p.matched = conflict_index.saturating_sub(1);
        }
        let hi = reject_index.max(p.matched + 1);
        p.next = hint.clamp(p.matched + 1, hi);
        p.replicating = false;
        p.probe_sent = false;
        self.send_append(&from, true);
    }

    /// InstallSnapshot answer at the leader: the follower matches up to `last_index`.
    pub(super) fn on_snap_resp(&mut self, from: NodeId, last_index: u64) {
        if let Some(p) = self.st.progress.get_mut(&from) {
            p.active = true;
            p.matched = p.matched.max(last_index);
            p.next = p.matched + 1;
            p.replicating = true;
            p.probe_sent = false;
        }
        self.maybe_commit();
        self.send_append(&from, false);
    }

    /// Advances the commit index to what a majority stores (§5.3), counting only entries of
    /// the current term (§5.4.2, Figure 8). Planted bug `commit-old-term`: entries of earlier
    /// terms are committed by counting replicas, which Figure 8 shows can lose them.
    pub(super) fn maybe_commit(&mut self) {
        let mut matched: Vec<u64> = self.st.progress.values().map(|p| p.matched).collect();
        matched.push(self.st.durable_index.min(self.st.log.last_index()));
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.quorum() - 1];
        // planted bug: commit-old-term
        let any_term = self.bugs().has(Bug::CommitOldTerm);
        if n > self.st.commit && (self.st.log.term_at(n) == Some(self.st.term) || any_term) {
            self.st.commit = n;
            self.broadcast_append();
        }
    }

    /// InstallSnapshot receiver (§7, Figure 13): a snapshot past our commit index replaces
    /// the state machine; a log suffix that matches it is kept, any other log is dropped.
    pub(super) fn on_snap(&mut self, from: NodeId, term: u64, snapshot: Snapshot) {
        if term < self.st.term {
            let msg = Message::SnapResp {
                term: self.st.term,
                last_index: 0,
            };
            return self.send(from, msg);
        }
        self.follow(from.clone());
        let last_index = snapshot.last_index;
        if last_index > self.st.commit {
            let Ok(sm) = serde_json::from_slice::<StateMachine>(&snapshot.data) else {
                return; // a snapshot we cannot read is dropped; the leader will resend
            };
            let keep = self.st.log.term_at(last_index) == Some(snapshot.last_term);
            if keep {
                self.st.log.compact(last_index, snapshot.last_term);
            } else {
                self.st.log = RaftLog {
                    snapshot_index: last_index,
                    snapshot_term: snapshot.last_term,
                    entries: Vec::new(),
                };
            }
            self.st.sm = sm;
            self.st.commit = last_index;
            self.st.applied = last_index;
            self.st.last_snapshot = Some(snapshot.clone());
            self.out.push(Action::PersistSnapshot { snapshot });
            if !keep {
                self.out.push(Action::PersistEntries {
                    truncate_from: Some(last_index + 1),
                    entries: Vec::new(),
                });
            }
        }
        let msg = Message::SnapResp {
            term: self.st.term,
            last_index: self.st.commit.max(last_index.min(self.st.log.last_index())),
        };
        debug_assert!(self.st.role == Role::Follower);
        self.send(from, msg);
    }
}
