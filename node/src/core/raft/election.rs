//! Leader election (§5.2), the voting restriction (§5.4.1), PreVote (thesis §9.6) and
//! CheckQuorum (thesis §6.2): how a node moves between follower, pre-candidate, candidate and
//! leader, and when it grants its vote.

use super::{error, Progress, RaftNode, Role, INDEFINITE, NOT_LEADER};
use crate::core::{Action, Event, NodeId};
use std::collections::BTreeSet;

impl RaftNode {
    pub(super) fn set_role(&mut self, role: Role) {
        if self.role != role {
            self.role = role;
            self.out.push(Action::Event(Event::Role {
                node: self.cfg.id.clone(),
                role: role.name().to_string(),
                term: self.term,
            }));
        }
    }

    /// CheckQuorum: a leader that has not heard from a majority within an election timeout
    /// steps down, so clients stop waiting on it and a partitioned leader stops serving.
    pub(super) fn check_quorum(&mut self) {
        self.elapsed = 0;
        let active = 1 + self.progress.values().filter(|p| p.active).count();
        for p in self.progress.values_mut() {
            p.active = false;
        }
        if active < self.quorum() {
            self.become_follower(self.term, None);
        }
    }

    /// Starts an election (§5.2) or, with `pre`, a PreVote round that asks for votes in the
    /// next term without taking it, so a node cut off from the majority does not inflate its
    /// term and depose a healthy leader when it returns.
    pub(super) fn campaign(&mut self, pre: bool) {
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
                    replicating: false,
                    probe_sent: false,
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
        if !self.bugs().commit_old_term {
            self.noop_index = self.append_local(None);
        }
        self.broadcast_heartbeat();
        self.maybe_commit();
    }

    /// A message from the leader of the current term: follow it. One leader per term (§5.2,
    /// election safety): a second one is a bug, or a planted one.
    pub(super) fn follow(&mut self, leader: NodeId) {
        if !self.bugs().breaks_log_safety() {
            assert!(
                self.role != Role::Leader && self.leader.as_ref().is_none_or(|l| *l == leader),
                "{}: two leaders in term {}: {:?} and {leader}",
                self.cfg.id,
                self.term,
                self.leader
            );
        }
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(leader.clone()));
        }
        self.leader = Some(leader);
        self.elapsed = 0;
    }

    /// CheckQuorum's lease: a node that heard from a leader within the minimum election
    /// timeout (or is a leader) ignores candidates (thesis §4.2.3).
    pub(super) fn in_lease(&self) -> bool {
        self.cfg.check_quorum && self.leader.is_some() && self.elapsed < self.cfg.election_ticks_min
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
        self.send(from, crate::core::Message::VoteResp { term, granted, pre });
    }

    pub(super) fn on_vote_resp(&mut self, from: NodeId, term: u64, granted: bool, pre: bool) {
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
}
