//! Leader election (§5.2), the voting restriction (§5.4.1), PreVote (thesis §9.6) and
//! CheckQuorum (thesis §6.2): how a node moves between follower, pre-candidate, candidate and
//! leader, and when it grants its vote.

use super::{Progress, RaftNode, Role};
use crate::core::{Action, Bug, Event, NodeId, Reply};
use std::collections::BTreeSet;

impl RaftNode {
    pub(super) fn set_role(&mut self, role: Role) {
        if self.st.role != role {
            self.st.role = role;
            self.out.push(Action::Event(Event::Role {
                node: self.st.cfg.id.clone(),
                role: role.name().to_string(),
                term: self.st.term,
            }));
        }
    }

    /// CheckQuorum: a leader that has not heard from a majority within an election timeout
    /// steps down, so clients stop waiting on it and a partitioned leader stops serving.
    pub(super) fn check_quorum(&mut self) {
        self.st.elapsed = 0;
        let active = 1 + self.st.progress.values().filter(|p| p.active).count();
        for p in self.st.progress.values_mut() {
            p.active = false;
        }
        if active < self.quorum() {
            self.become_follower(self.st.term, None);
        }
    }

    /// Starts an election (§5.2) or, with `pre`, a PreVote round that asks for votes in the
    /// next term without taking it, so a node cut off from the majority does not inflate its
    /// term and depose a healthy leader when it returns.
    pub(super) fn campaign(&mut self, pre: bool) {
        self.reset_timeout();
        self.st.leader = None;
        self.st.votes = BTreeSet::from([self.st.cfg.id.clone()]);
        let term = if pre {
            self.set_role(Role::PreCandidate);
            self.st.term + 1
        } else {
            self.st.term += 1;
            self.st.voted_for = Some(self.st.cfg.id.clone());
            self.persist_hard_state();
            self.set_role(Role::Candidate);
            self.st.term
        };
        if self.st.votes.len() >= self.quorum() {
            return self.won(pre);
        }
        let (last_index, last_term) = (self.st.log.last_index(), self.st.log.last_term());
        for to in self.others() {
            let msg = crate::core::Message::Vote {
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

    /// Becomes a follower of `term` (a higher term resets the vote, Figure 2).
    pub(super) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        if term > self.st.term {
            self.st.term = term;
            self.st.voted_for = None;
            self.persist_hard_state();
        }
        if self.st.role == Role::Leader {
            self.abandon_requests();
        }
        self.set_role(Role::Follower);
        self.st.leader = leader;
        self.reset_timeout();
    }

    /// A deposed leader answers what it still holds: writes may yet commit under the next
    /// leader (indefinite), reads did nothing (definite).
    fn abandon_requests(&mut self) {
        for (_, (request_id, _)) in std::mem::take(&mut self.st.writes) {
            self.reply(request_id, Reply::LeadershipLost);
        }
        for read in std::mem::take(&mut self.st.reads) {
            self.reply(read.request_id, Reply::NotLeader { leader: None });
        }
    }

    fn become_leader(&mut self) {
        self.set_role(Role::Leader);
        self.st.leader = Some(self.st.cfg.id.clone());
        self.st.elapsed = 0;
        let next = self.st.log.last_index() + 1;
        self.st.progress = self
            .others()
            .into_iter()
            .map(|p| {
                let progress = Progress {
                    next,
                    matched: 0,
                    active: true,
                    replicating: false,
                    probe_sent: false,
                };
                (p, progress)
            })
            .collect();
        self.out.push(Action::Event(Event::Leader {
            node: self.st.cfg.id.clone(),
            term: self.st.term,
        }));
        // A no-op of the new term lets the leader commit (§5.4.2) and serve reads (§8). The
        // planted `commit-old-term` leader behaves like a 6.824 lab Raft, which appends no
        // no-op: it then commits earlier terms' entries by counting replicas (Figure 8).
        // planted bug: commit-old-term
        if !self.bugs().has(Bug::CommitOldTerm) {
            self.st.noop_index = self.append_local(None);
        }
        self.broadcast_heartbeat();
        self.maybe_commit();
    }

    /// A message from the leader of the current term: follow it. One leader per term (§5.2,
    /// election safety): a second one is a bug, or a planted one.
    pub(super) fn follow(&mut self, leader: NodeId) {
        if !self.bugs().breaks_log_safety() {
            assert!(
                self.st.role != Role::Leader
                    && self.st.leader.as_ref().is_none_or(|l| *l == leader),
                "{}: two leaders in term {}: {:?} and {leader}",
                self.st.cfg.id,
                self.st.term,
                self.st.leader
            );
        }
        if self.st.role != Role::Follower {
            self.become_follower(self.st.term, Some(leader.clone()));
        }
        self.st.leader = Some(leader);
        self.st.elapsed = 0;
    }

    /// CheckQuorum's lease: a node that heard from a leader within the minimum election
    /// timeout (or is a leader) ignores candidates (thesis §4.2.3).
    pub(super) fn in_lease(&self) -> bool {
        self.st.cfg.check_quorum
            && self.st.leader.is_some()
            && self.st.elapsed < self.st.cfg.election_ticks_min
    }

    /// RequestVote / PreVote receiver (Figure 2; §5.4.1's up-to-date check).
    pub(super) fn on_vote(
        &mut self,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
        pre: bool,
    ) {
        let up_to_date = self.st.log.is_up_to_date(last_index, last_term);
        let granted = if pre {
            term > self.st.term && up_to_date && !self.in_lease()
        } else {
            term == self.st.term
                && self.st.voted_for.as_ref().is_none_or(|v| *v == from)
                && up_to_date
        };
        if granted && !pre {
            self.st.voted_for = Some(from.clone());
            self.persist_hard_state();
            self.reset_timeout();
        }
        let term = if pre && granted { term } else { self.st.term };
        self.send(from, crate::core::Message::VoteResp { term, granted, pre });
    }

    pub(super) fn on_vote_resp(&mut self, from: NodeId, term: u64, granted: bool, pre: bool) {
        let (role, expected) = if pre {
            (Role::PreCandidate, self.st.term + 1)
        } else {
            (Role::Candidate, self.st.term)
        };
        if self.st.role != role || term != expected || !granted {
            return;
        }
        self.st.votes.insert(from);
        if self.st.votes.len() >= self.quorum() {
            self.won(pre);
        }
    }
}
