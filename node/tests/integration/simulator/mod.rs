//! A deterministic simulator for the sans-I/O core: seeded network (drop, delay, reorder,
//! duplicate, partitions), a disk that may take ticks to make a write durable, crash/restart
//! from exactly the durable state, clients, and the checks: the driver contract, election
//! safety, log matching / state machine safety over committed entries, and linearizability
//! of client ops (a small WGL search; node does not depend on the checker crate). Every
//! failure message carries the seed: `SIM_SEED=<seed>` replays it.
//!
//! The simulator drives the core as the runtime does, by the core's marking of each send
//! (the driver contract, `node::core` docs): with a slow disk (`disk_delay_max > 0`) the
//! persists of a step form a job that becomes durable some ticks later, the sends marked
//! `When::Now` leave at once, and every other action waits for its job. With
//! `disk_delay_max == 0` every job is durable within its step. [`Driver::Eager`] is a wrong
//! driver on purpose, which performs everything at once: the contract check must catch it.

#![allow(dead_code)]

mod driver;
mod linearizable;

pub use driver::Driver;
use driver::Queue;
pub use linearizable::linearizable;

use crate::support::Disk;
use node::core::{Bug, Bugs, Command, Config};
use node::core::{Input, Message, RaftNode, Reply};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One recorded client op.
#[derive(Clone, Debug)]
pub struct ClientOp {
    pub key: String,
    pub cmd: Command,
    /// Position of the invoke among client events.
    pub call: u64,
    /// Position of the completion among client events.
    pub ret: Option<u64>,
    /// Some(Ok(value)) for ok (value for reads, None otherwise); Some(Err(())) definite fail.
    pub result: Option<Result<Option<i64>, ()>>,
}

struct InFlight {
    at: u64,
    from: usize,
    to: usize,
    msg: Message,
}

/// Network behaviour.
#[derive(Clone, Copy, Default)]
pub struct NetConfig {
    pub drop: f64,
    pub duplicate: f64,
    pub delay_max: u64,
}

pub struct Sim {
    pub seed: u64,
    pub rng: SmallRng,
    pub ids: Vec<String>,
    nodes: Vec<Option<RaftNode>>,
    disks: Vec<Disk>,
    /// With `no_fsync`, what survives a crash (written back every `WRITEBACK_TICKS`).
    synced: Vec<Disk>,
    pub bugs: Bugs,
    pub snapshot_entries: u64,
    pub net: NetConfig,
    /// Most ticks a persist job takes to become durable (0: durable within its step).
    pub disk_delay_max: u64,
    pub driver: Driver,
    queues: Vec<Queue>,
    /// Sends marked `Now` performed while a persist of their node was not yet durable, by
    /// message kind.
    pub early_sends: BTreeMap<&'static str, u64>,
    flights: Vec<InFlight>,
    /// Blocked directions (from, to).
    cut: HashSet<(usize, usize)>,
    pub now: u64,
    next_request: u64,
    pending: HashMap<u64, (usize, usize)>,
    pub ops: Vec<ClientOp>,
    pub leaders: BTreeMap<u64, String>,
    pub violations: Vec<String>,
    committed: BTreeMap<u64, (u64, Option<Command>)>,
    checked: Vec<u64>,
    pub messages_sent: u64,
    /// InstallSnapshot messages delivered.
    pub snapshots_installed: u64,
    next_value: i64,
    /// Orders client events exactly (ticks tie).
    events: u64,
}

const WRITEBACK_TICKS: u64 = 50;

impl Sim {
    pub fn new(n: usize, seed: u64, bugs: Bugs) -> Sim {
        let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let mut sim = Sim {
            seed,
            rng: SmallRng::seed_from_u64(seed),
            ids,
            nodes: Vec::new(),
            disks: vec![Disk::default(); n],
            synced: vec![Disk::default(); n],
            bugs,
            snapshot_entries: 10_000,
            net: NetConfig {
                drop: 0.0,
                duplicate: 0.0,
                delay_max: 2,
            },
            disk_delay_max: 0,
            driver: Driver::Contract,
            queues: (0..n).map(|_| Queue::default()).collect(),
            early_sends: BTreeMap::new(),
            flights: Vec::new(),
            cut: HashSet::new(),
            now: 0,
            next_request: 1,
            pending: HashMap::new(),
            ops: Vec::new(),
            leaders: BTreeMap::new(),
            violations: Vec::new(),
            committed: BTreeMap::new(),
            checked: vec![0; n],
            messages_sent: 0,
            snapshots_installed: 0,
            next_value: 1,
            events: 0,
        };
        for i in 0..n {
            let node = sim.boot(i);
            sim.nodes.push(Some(node));
        }
        sim
    }

    fn config(&self, i: usize) -> Config {
        let peers: Vec<&str> = self.ids.iter().map(String::as_str).collect();
        let mut c = Config::new(
            &self.ids[i],
            &peers,
            self.seed
                .wrapping_mul(31)
                .wrapping_add(i as u64 + 7 * self.now),
        );
        c.bugs = self.bugs;
        c.snapshot_threshold_entries = self.snapshot_entries;
        c
    }

    fn boot(&mut self, i: usize) -> RaftNode {
        let durable = self.disks[i].durable_state();
        self.checked[i] = durable.snapshot.as_ref().map_or(0, |s| s.last_index);
        RaftNode::restore(self.config(i), durable)
    }

    pub fn n(&self) -> usize {
        self.ids.len()
    }

    pub fn fail(&self, what: &str) -> String {
        format!(
            "{what} (seed {}; replay with SIM_SEED={})",
            self.seed, self.seed
        )
    }

    // ---- faults -------------------------------------------------------------------------

    pub fn crash(&mut self, i: usize) {
        if self.nodes[i].take().is_some() {
            // What was not durable yet is lost, and so is what waited for it.
            self.queues[i] = Queue::default();
            if self.bugs.has(Bug::NoFsync) {
                self.disks[i] = self.synced[i].clone();
            }
            // Requests in flight at the crashed node are unknown.
            self.pending.retain(|_, (node, _)| *node != i);
            self.flights.retain(|f| f.to != i);
        }
    }

    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].is_none() {
            let node = self.boot(i);
            self.nodes[i] = Some(node);
        }
    }

    pub fn alive(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// Cuts every link between the groups (both directions).
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.cut.clear();
        for (a, ga) in groups.iter().enumerate() {
            for (b, gb) in groups.iter().enumerate() {
                if a != b {
                    for &x in ga {
                        for &y in gb {
                            self.cut.insert((x, y));
                        }
                    }
                }
            }
        }
    }

    /// Isolates one node from all others.
    pub fn isolate(&mut self, i: usize) {
        let rest: Vec<usize> = (0..self.n()).filter(|&j| j != i).collect();
        self.partition(&[vec![i], rest]);
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    // ---- clients ------------------------------------------------------------------------

    /// Submits a command to node `at`; returns the op index.
    pub fn submit(&mut self, at: usize, cmd: Command) -> usize {
        let key = match &cmd {
            Command::Read { key } | Command::Write { key, .. } | Command::Cas { key, .. } => {
                key.clone()
            }
        };
        let idx = self.ops.len();
        self.events += 1;
        self.ops.push(ClientOp {
            key,
            cmd: cmd.clone(),
            call: self.events,
            ret: None,
            result: None,
        });
        if self.nodes[at].is_none() {
            return idx;
        }
        let request_id = self.next_request;
        self.next_request += 1;
        self.pending.insert(request_id, (at, idx));
        self.step(at, Input::Client { request_id, cmd });
        idx
    }

    /// Delivers `cmd` again to node `at` as a client's retry would (same client/seq); the
    /// retry is not a new op of the history, and its reply is not recorded.
    pub fn resend(&mut self, at: usize, cmd: Command) {
        let request_id = self.next_request;
        self.next_request += 1;
        self.step(at, Input::Client { request_id, cmd });
    }

    /// A fresh, distinct value.
    pub fn value(&mut self) -> i64 {
        self.next_value += 1;
        self.next_value
    }

    /// A random op on one of `keys` keys sent to a random live node (or the leader).
    pub fn random_op(&mut self, keys: usize, client: &str, seq: u64) -> Option<usize> {
        let live: Vec<usize> = (0..self.n()).filter(|&i| self.alive(i)).collect();
        if live.is_empty() {
            return None;
        }
        let at = match self.leader() {
            Some(l) if self.rng.gen_bool(0.8) => l,
            _ => live[self.rng.gen_range(0..live.len())],
        };
        let key = format!("k{}", self.rng.gen_range(0..keys));
        let cmd = match self.rng.gen_range(0..3) {
            0 => Command::Read { key },
            1 => Command::Write {
                key,
                value: self.value(),
                client: client.into(),
                seq,
            },
            _ => {
                let from = self.rng.gen_range(0..self.next_value.max(1) + 1);
                Command::Cas {
                    key,
                    from,
                    to: self.value(),
                    client: client.into(),
                    seq,
                }
            }
        };
        Some(self.submit(at, cmd))
    }

    /// The live node that believes it leads in the highest term.
    pub fn leader(&self) -> Option<usize> {
        (0..self.n())
            .filter_map(|i| {
                self.nodes[i]
                    .as_ref()
                    .filter(|n| n.is_leader())
                    .map(|n| (n.term(), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    pub fn node(&self, i: usize) -> Option<&RaftNode> {
        self.nodes[i].as_ref()
    }

    // ---- stepping -----------------------------------------------------------------------

    fn step(&mut self, i: usize, input: Input) {
        let Some(node) = self.nodes[i].as_mut() else {
            return;
        };
        let actions = node.step(input);
        self.execute(i, actions);
    }

    /// What the driver contract protects, checked on the disk itself whatever the driver: a
    /// granted vote, a candidate's RequestVote and an acknowledged append leave the node only
    /// once what they promise is on its disk. (Planted `vote-twice` leaves the vote out of the
    /// disk on purpose, so only the term is checked.)
    fn check_durable_before_send(&mut self, i: usize, to: usize, msg: &Message) {
        let d = &self.disks[i];
        let broken = match msg {
            Message::VoteResp {
                term,
                granted: true,
                pre: false,
            } => {
                let vote_lost = self.bugs.has(Bug::VoteTwice) && d.hard.voted_for.is_none();
                d.hard.term != *term
                    || !(vote_lost || d.hard.voted_for.as_deref() == Some(self.ids[to].as_str()))
            }
            Message::AppendResp {
                success: true,
                match_index,
                term,
                ..
            } => d.last_index() < *match_index || d.hard.term != *term,
            Message::Vote {
                term, pre: false, ..
            } => {
                let vote_lost = self.bugs.has(Bug::VoteTwice) && d.hard.voted_for.is_none();
                d.hard.term != *term
                    || !(vote_lost || d.hard.voted_for.as_ref() == Some(&self.ids[i]))
            }
            _ => false,
        };
        if broken {
            let v = format!(
                "ordering rule: {} sent {msg:?} before its disk held it ({:?}, last index {})",
                self.ids[i],
                d.hard,
                d.last_index()
            );
            self.violations.push(v);
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        self.messages_sent += 1;
        if self.cut.contains(&(from, to)) || self.rng.gen_bool(self.net.drop) {
            return;
        }
        let copies = if self.rng.gen_bool(self.net.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = self.now + 1 + self.rng.gen_range(0..=self.net.delay_max);
            self.flights.push(InFlight {
                at,
                from,
                to,
                msg: msg.clone(),
            });
        }
    }

    fn on_reply(&mut self, request_id: u64, reply: Reply) {
        let Some((_, idx)) = self.pending.remove(&request_id) else {
            return;
        };
        self.events += 1;
        let op = &mut self.ops[idx];
        op.ret = Some(self.events);
        op.result = match reply {
            Reply::ReadOk(v) => Some(Ok(Some(v))),
            Reply::WriteOk | Reply::CasOk => Some(Ok(None)),
            Reply::KeyMissing if matches!(op.cmd, Command::Read { .. }) => Some(Ok(None)),
            Reply::NotLeader { .. } | Reply::KeyMissing | Reply::PreconditionFailed { .. } => {
                Some(Err(()))
            }
            Reply::LeadershipLost | Reply::EntryReplaced => None, // indefinite
        };
        if op.result.is_none() {
            op.ret = None;
        }
    }

    /// Log matching / state machine safety: every committed index holds the same entry on
    /// every node, forever.
    fn check_committed(&mut self, i: usize) {
        let Some(node) = self.nodes[i].as_ref() else {
            return;
        };
        let commit = node.commit_index();
        let from = self.checked[i].max(node.snapshot_index()) + 1;
        for idx in from..=commit {
            let Some(e) = node.entry(idx) else { continue };
            let seen = (e.term, e.cmd.clone());
            match self.committed.get(&idx) {
                Some(prev) if *prev != seen => {
                    let v = format!("state machine safety: index {idx} committed as {prev:?} and as {seen:?} on {}", self.ids[i]);
                    self.violations.push(v);
                }
                Some(_) => {}
                None => {
                    self.committed.insert(idx, seen);
                }
            }
        }
        self.checked[i] = self.checked[i].max(commit);
    }

    /// Advances time by one tick: persist jobs that are due, deliveries, then a tick on every
    /// live node.
    pub fn tick(&mut self) {
        self.now += 1;
        let now = self.now;
        for i in 0..self.n() {
            self.complete_jobs(i);
        }
        let mut due: Vec<InFlight> = Vec::new();
        let mut later = Vec::new();
        for f in self.flights.drain(..) {
            if f.at <= now {
                due.push(f)
            } else {
                later.push(f)
            }
        }
        self.flights = later;
        // Reorder within the tick.
        for k in (1..due.len()).rev() {
            let j = self.rng.gen_range(0..=k);
            due.swap(k, j);
        }
        for f in due {
            if self.cut.contains(&(f.from, f.to)) {
                continue;
            }
            let from = self.ids[f.from].clone();
            if matches!(f.msg, Message::Snap { .. }) && self.alive(f.to) {
                self.snapshots_installed += 1;
            }
            self.step(f.to, Input::Message { from, msg: f.msg });
        }
        for i in 0..self.n() {
            self.step(i, Input::Tick);
        }
        if self.bugs.has(Bug::NoFsync) && now.is_multiple_of(WRITEBACK_TICKS) {
            self.synced = self.disks.clone();
        }
    }

    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// Runs until some node leads; returns it.
    pub fn await_leader(&mut self, ticks_max: u64) -> Option<usize> {
        for _ in 0..ticks_max {
            if let Some(l) = self.leader() {
                return Some(l);
            }
            self.tick();
        }
        self.leader()
    }

    /// Submits `cmd` at the leader (retrying elsewhere) until it completes ok; returns the reply.
    pub fn commit(&mut self, cmd: Command, ticks_max: u64) -> Option<Result<Option<i64>, ()>> {
        let deadline = self.now + ticks_max;
        while self.now < deadline {
            let at = match self.leader() {
                Some(l) => l,
                None => {
                    self.tick();
                    continue;
                }
            };
            let idx = self.submit(at, cmd.clone());
            for _ in 0..60 {
                if self.ops[idx].ret.is_some() {
                    break;
                }
                self.tick();
            }
            if let Some(Ok(v)) = self.ops[idx].result {
                return Some(Ok(v));
            }
        }
        None
    }

    /// All safety violations, linearizability included.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(self.fail(v));
        }
        if let Err(e) = linearizable(&self.ops) {
            return Err(self.fail(&e));
        }
        Ok(())
    }
}

/// A message's kind, for counts.
pub fn kind(msg: &Message) -> &'static str {
    match msg {
        Message::Vote { .. } => "Vote",
        Message::VoteResp { .. } => "VoteResp",
        Message::Append { .. } => "Append",
        Message::AppendResp { .. } => "AppendResp",
        Message::Snap { .. } => "Snap",
        Message::SnapResp { .. } => "SnapResp",
    }
}

/// The seeds to use: `SIM_SEED` when set (to replay one), else `SIM_SEEDS=N` (soak: seeds
/// `0..N`), else `default`.
pub fn seeds(default: std::ops::Range<u64>) -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match (var("SIM_SEED"), var("SIM_SEEDS")) {
        (Some(s), _) => vec![s],
        (None, Some(n)) => (0..n).collect(),
        (None, None) => default.collect(),
    }
}
