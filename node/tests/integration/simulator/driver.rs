//! How the simulator executes a step's actions: by the driver contract (`node::core` docs),
//! on an instant or a slow disk, checking the contract on every action it performs; or, on
//! purpose, by a wrong driver that ignores it.

use super::{kind, Sim};
use crate::support::is_persist;
use node::core::{Action, Bug, Event, Input, When};
use rand::Rng;
use std::collections::VecDeque;

/// How the simulator executes the core's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// By the driver contract: `Now` sends at once, the rest once its persists are durable.
    #[default]
    Contract,
    /// Everything at once, ignoring `When` (a deliberately wrong driver, to show that the
    /// contract check fires).
    Eager,
}

/// The persists of one step, durable at tick `due`.
pub(super) struct Job {
    id: u64,
    due: u64,
    actions: Vec<Action>,
}

/// One node's disk queue and the actions waiting for it.
#[derive(Default)]
pub(super) struct Queue {
    jobs: VecDeque<Job>,
    /// The last job submitted.
    submitted: u64,
    /// The last job durable.
    durable: u64,
    /// Actions waiting for a job (its id) to be durable, in order.
    held: VecDeque<(u64, Action)>,
}

impl Sim {
    /// Executes a step's actions by the driver contract. With an instant disk the step's
    /// persists are durable first and the other actions follow in order, then `Persisted` is
    /// fed back; with a slow disk the persists become a job and [`Sim::complete_jobs`] feeds
    /// `Persisted` back when it is durable.
    pub(super) fn execute(&mut self, i: usize, actions: Vec<Action>) {
        let (persists, others): (Vec<Action>, Vec<Action>) =
            actions.into_iter().partition(is_persist);
        if self.disk_delay_max == 0 {
            let mut persisted = None;
            for a in &persists {
                let version = self.disks[i].apply(a).expect("a persist");
                persisted = Some(persisted.unwrap_or(0).max(version));
            }
            for a in others {
                self.perform(i, a, 0);
            }
            if !self.bugs.has(Bug::NoFsync) {
                self.synced[i] = self.disks[i].clone();
            }
            if let Some(version) = persisted {
                self.persisted(i, version);
            }
        } else {
            let q = &mut self.queues[i];
            if !persists.is_empty() {
                q.submitted += 1;
                let last_due = q.jobs.back().map_or(0, |j| j.due);
                let due = (self.now + self.rng.gen_range(0..=self.disk_delay_max)).max(last_due);
                let job = Job {
                    id: q.submitted,
                    due,
                    actions: persists,
                };
                self.queues[i].jobs.push_back(job);
            }
            let waits_for = self.queues[i].submitted;
            for a in others {
                let now = matches!(
                    a,
                    Action::Send {
                        when: When::Now,
                        ..
                    }
                );
                let q = &mut self.queues[i];
                if now || self.driver == Driver::Eager || q.durable == q.submitted {
                    self.perform(i, a, waits_for);
                } else {
                    q.held.push_back((waits_for, a));
                }
            }
        }
        self.check_committed(i);
    }

    /// Makes node `i`'s due persist jobs durable, in order, each followed by what waited for
    /// it; then reports `Persisted`.
    pub(super) fn complete_jobs(&mut self, i: usize) {
        let mut version = None;
        while self.queues[i]
            .jobs
            .front()
            .is_some_and(|j| j.due <= self.now)
        {
            let job = self.queues[i].jobs.pop_front().expect("checked");
            for a in &job.actions {
                let v = self.disks[i].apply(a).expect("a persist");
                version = Some(version.unwrap_or(0).max(v));
            }
            self.queues[i].durable = job.id;
            if !self.bugs.has(Bug::NoFsync) {
                self.synced[i] = self.disks[i].clone();
            }
            while self.queues[i]
                .held
                .front()
                .is_some_and(|(j, _)| *j <= job.id)
            {
                let (j, a) = self.queues[i].held.pop_front().expect("checked");
                self.perform(i, a, j);
            }
        }
        if let Some(version) = version {
            self.persisted(i, version);
            self.check_committed(i);
        }
    }

    /// Feeds `Persisted` (the disk's last index) to node `i` and executes what follows.
    fn persisted(&mut self, i: usize, version: u64) {
        let last_index = self.disks[i].last_index();
        if let Some(node) = self.nodes[i].as_mut() {
            let more = node.step(Input::Persisted {
                hard_state_version: version,
                last_index,
            });
            if !more.is_empty() {
                self.execute(i, more);
            }
        }
    }

    /// Performs one non-persist action of node `i` that waits for persist job `waits_for`
    /// (the last job submitted when it was emitted), checking the driver contract first.
    fn perform(&mut self, i: usize, action: Action, waits_for: u64) {
        let early = self.queues[i].durable < self.queues[i].submitted;
        match &action {
            Action::Send {
                when: When::Now,
                msg,
                ..
            } if early => *self.early_sends.entry(kind(msg)).or_default() += 1,
            Action::Send {
                when: When::Now, ..
            } => {}
            _ if self.queues[i].durable < waits_for => {
                let v = format!(
                    "driver contract: {} performed {action:?}, marked to wait for its persists, \
                     before persist job {waits_for} was durable (durable: job {})",
                    self.ids[i], self.queues[i].durable
                );
                self.violations.push(v);
            }
            _ => {}
        }
        match action {
            Action::Send { to, msg, .. } => {
                let to = self.ids.iter().position(|x| *x == to).expect("known peer");
                self.check_durable_before_send(i, to, &msg);
                self.send(i, to, msg);
            }
            Action::Reply { request_id, reply } => self.on_reply(request_id, reply),
            Action::Event(Event::Leader { node, term }) => {
                if let Some(prev) = self.leaders.get(&term) {
                    if *prev != node {
                        let v =
                            format!("election safety: term {term} has leaders {prev} and {node}");
                        self.violations.push(v);
                    }
                }
                self.leaders.insert(term, node);
            }
            Action::Event(_) => {}
            Action::PersistHardState { .. }
            | Action::PersistEntries { .. }
            | Action::PersistSnapshot { .. } => unreachable!("persists go to the disk"),
        }
    }
}
