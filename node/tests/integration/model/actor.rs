//! The stateright model of a cluster: three servers running the node's core as actors,
//! scripted clients, modelled disks (instant or slow), crash-restart, and the properties
//! checked on every state.

use crate::support::{is_persist, Disk};
use node::core::{Action, Bug, Bugs, Command, Config, Input, Message};
use node::core::{RaftNode, Reply, When};
use stateright::actor::{model_timeout, Actor, ActorModel, Id, Network, Out};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::Expectation;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const SERVERS: usize = 3;
/// The properties that must always hold.
pub(super) const SAFETY: [&str; 5] = [
    "election safety",
    "log matching",
    "leader completeness",
    "state machine safety",
    "linearizable",
];

/// Found when a client has had an answer (so "linearizable" judged a completed op).
pub(super) const OP_COMPLETES: &str = "a client op completes";
/// Found when a client has had the answers to all its ops (a write, then a read).
pub(super) const SCRIPT_COMPLETES: &str = "a client completes its ops";
/// Found when some server has led a term (so "election safety" judged a leader).
pub(super) const ELECTED: &str = "a leader is elected";
/// Found when leaders of two terms have been elected (logs can conflict).
pub(super) const TWO_TERMS: &str = "two terms have leaders";
/// Found when some server has committed an entry (so the log properties judged one).
pub(super) const COMMITTED: &str = "an entry is committed";
/// Found when a `Now` send left while its server's writes were not durable.
pub(super) const SENT_EARLY: &str = "a send leaves before the fsync";
/// Found when a crash lost writes whose AppendEntries had already left.
pub(super) const LOST_EARLY: &str = "a crash loses writes already sent";

/// A client step: write a value, or read, at one server.
#[derive(Clone, Copy, Debug)]
pub(super) enum Op {
    Put(i64),
    Get,
}

/// What a check explores.
#[derive(Clone, Debug)]
pub(super) struct Scenario {
    pub(super) bugs: Bugs,
    /// Servers whose tick timer runs (they may campaign, and heartbeat when leading).
    pub(super) timed: Vec<usize>,
    /// The server that may crash and restart once.
    pub(super) crasher: Option<usize>,
    /// Client scripts: (server, op), one op at a time.
    pub(super) clients: Vec<Vec<(usize, Op)>>,
    /// No election past this term.
    pub(super) max_term: u64,
    /// Start from a settled cluster where this server leads term 1 (a fixed prefix: its
    /// election and no-op, every message delivered), to spend the depth on what follows.
    pub(super) settled_leader: Option<usize>,
    /// Servers whose writes become durable only when their `Disk` timer fires.
    pub(super) slow_disk: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Msg {
    Raft(Message),
    Put { req: u64, value: i64 },
    Get { req: u64 },
    PutOk { req: u64 },
    GetOk { req: u64, value: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Timer {
    Tick,
    Crash,
    /// A slow disk makes what it is writing durable.
    Disk,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Server {
    node: RaftNode,
    disk: Disk,
    /// What survives a crash: the disk, or with `no-fsync` only what was synced (nothing).
    synced: Disk,
    /// Client requests being answered: request id -> (client, its request id, is a write).
    requests: BTreeMap<u64, (Id, u64, bool)>,
    next_request: u64,
    crashed: bool,
    /// Ghost state: the terms this server has led (survives crashes).
    led: BTreeSet<u64>,
    /// A slow disk's writes in progress: the disk once they are durable.
    writing: Option<Disk>,
    /// Actions waiting for `writing` to be durable, in order.
    held: Vec<Action>,
    /// Ghost state: a `Now` send left while `writing` was not durable.
    sent_early: bool,
    /// Ghost state: a `Now` send left during the current `writing`.
    early_in_writing: bool,
    /// Ghost state: a crash lost a `writing` during which a `Now` send had left.
    lost_early: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum State {
    Server(Box<Server>),
    Client { next: usize, awaiting: Option<u64> },
}

pub(super) enum RaftActor {
    Server(Arc<Scenario>),
    Client(Vec<(usize, Op)>),
}

fn name(id: usize) -> String {
    format!("n{id}")
}

fn config(id: usize, bugs: Bugs) -> Config {
    let peers: Vec<String> = (0..SERVERS).map(name).collect();
    let peer_refs: Vec<&str> = peers.iter().map(String::as_str).collect();
    let mut cfg = Config::new(&name(id), &peer_refs, id as u64);
    // One-tick timeouts: the timer's nondeterminism is the election timeout's randomness.
    cfg.election_ticks_min = 1;
    cfg.election_ticks_max = 1;
    cfg.heartbeat_ticks = 1;
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    cfg.bugs = bugs;
    cfg
}

fn boot(id: usize, bugs: Bugs, disk: &Disk) -> RaftNode {
    RaftNode::restore(config(id, bugs), disk.durable_state())
}

fn fresh(i: usize, bugs: Bugs) -> Server {
    Server {
        node: boot(i, bugs, &Disk::default()),
        disk: Disk::default(),
        synced: Disk::default(),
        requests: BTreeMap::new(),
        next_request: 1,
        crashed: false,
        led: BTreeSet::new(),
        writing: None,
        held: Vec::new(),
        sent_early: false,
        early_in_writing: false,
        lost_early: false,
    }
}

/// The cluster after `leader` times out once and every message is delivered, in FIFO order.
fn settled(sc: &Scenario, leader: usize) -> Vec<Server> {
    let mut servers: Vec<Server> = (0..SERVERS).map(|i| fresh(i, sc.bugs)).collect();
    let mut queue = std::collections::VecDeque::new();
    let mut input = Some((leader, Input::Tick));
    for _ in 0..1_000 {
        let Some((at, inp)) = input.take() else { break };
        let s = &mut servers[at];
        let actions = s.node.step(inp);
        let mut out = Out::<RaftActor>::new();
        perform(s, actions, &Driver::instant(sc), &mut out);
        for cmd in out {
            if let stateright::actor::Command::Send(to, Msg::Raft(m)) = cmd {
                queue.push_back((at, usize::from(to), m));
            }
        }
        input = queue.pop_front().map(|(from, to, msg)| {
            let from = name(from);
            (to, Input::Message { from, msg })
        });
    }
    assert!(
        servers[leader].node.is_leader() && queue.is_empty(),
        "the prefix settles"
    );
    servers
}

fn send_op(o: &mut Out<RaftActor>, (server, op): (usize, Op), req: u64) {
    let msg = match op {
        Op::Put(value) => Msg::Put { req, value },
        Op::Get => Msg::Get { req },
    };
    o.send(Id::from(server), msg);
}

impl Actor for RaftActor {
    type Msg = Msg;
    type State = State;
    type Timer = Timer;

    fn on_start(&self, id: Id, o: &mut Out<Self>) -> State {
        match self {
            RaftActor::Server(sc) => {
                let i = usize::from(id);
                if sc.timed.contains(&i) {
                    o.set_timer(Timer::Tick, model_timeout());
                }
                if sc.crasher == Some(i) {
                    o.set_timer(Timer::Crash, model_timeout());
                }
                let mut servers = match sc.settled_leader {
                    Some(leader) => settled(sc, leader),
                    None => (0..SERVERS).map(|i| fresh(i, sc.bugs)).collect(),
                };
                State::Server(Box::new(servers.swap_remove(i)))
            }
            RaftActor::Client(script) => match script.first() {
                Some(&step) => {
                    send_op(o, step, 1);
                    State::Client {
                        next: 1,
                        awaiting: Some(1),
                    }
                }
                None => State::Client {
                    next: 0,
                    awaiting: None,
                },
            },
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<State>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match (self, &**state) {
            (RaftActor::Server(sc), State::Server(_)) => {
                let d = Driver::of(sc, usize::from(id));
                server_msg(&d, state, src, msg, o)
            }
            (RaftActor::Client(script), State::Client { next, awaiting }) => {
                let req = match msg {
                    Msg::PutOk { req } | Msg::GetOk { req, .. } => req,
                    _ => return,
                };
                if Some(req) != *awaiting {
                    return;
                }
                let awaiting = script.get(*next).map(|&step| {
                    send_op(o, step, req + 1);
                    req + 1
                });
                *state.to_mut() = State::Client {
                    next: next + 1,
                    awaiting,
                };
            }
            _ => {}
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<State>, timer: &Timer, o: &mut Out<Self>) {
        let (RaftActor::Server(sc), State::Server(s)) = (self, &**state) else {
            return;
        };
        let i = usize::from(id);
        match timer {
            Timer::Tick => {
                o.set_timer(Timer::Tick, model_timeout());
                if !s.node.is_leader() && s.node.term() >= sc.max_term {
                    return; // the term bound: no more elections
                }
                let State::Server(s) = state.to_mut() else {
                    unreachable!()
                };
                let actions = s.node.step(Input::Tick);
                perform(s, actions, &Driver::of(sc, i), o);
            }
            Timer::Crash => {
                let State::Server(s) = state.to_mut() else {
                    unreachable!()
                };
                s.disk = s.synced.clone();
                s.node = boot(i, sc.bugs, &s.disk);
                s.requests.clear(); // their clients never hear back
                s.crashed = true;
                // What the disk was writing is lost, and so is what waited for it.
                s.writing = None;
                s.held.clear();
                s.lost_early |= std::mem::take(&mut s.early_in_writing);
                o.cancel_timer(Timer::Disk);
            }
            Timer::Disk => {
                let State::Server(s) = state.to_mut() else {
                    unreachable!()
                };
                disk_done(s, &Driver::of(sc, i), o);
            }
        }
    }
}

fn server_msg(d: &Driver, state: &mut Cow<State>, src: Id, msg: Msg, o: &mut Out<RaftActor>) {
    let State::Server(s) = state.to_mut() else {
        unreachable!()
    };
    let client = |s: &mut Server, req: u64, write: bool| {
        let rid = s.next_request;
        s.next_request += 1;
        s.requests.insert(rid, (src, req, write));
        rid
    };
    let input = match msg {
        Msg::Raft(m) => Input::Message {
            from: name(usize::from(src)),
            msg: m,
        },
        Msg::Put { req, value } => Input::Client {
            request_id: client(s, req, true),
            cmd: Command::Write {
                key: "k".into(),
                value,
                client: format!("c{}", usize::from(src)),
                seq: req,
            },
        },
        Msg::Get { req } => Input::Client {
            request_id: client(s, req, false),
            cmd: Command::Read { key: "k".into() },
        },
        _ => return,
    };
    let actions = s.node.step(input);
    perform(s, actions, d, o);
}

/// How one server's actions are executed.
struct Driver {
    /// Writes become durable at the `Disk` timer, not within the step.
    slow: bool,
    /// Planted `no-fsync`: nothing written survives a crash.
    no_fsync: bool,
}

impl Driver {
    fn of(sc: &Scenario, server: usize) -> Driver {
        Driver {
            slow: sc.slow_disk.contains(&server),
            no_fsync: sc.bugs.has(Bug::NoFsync),
        }
    }

    fn instant(sc: &Scenario) -> Driver {
        Driver {
            slow: false,
            no_fsync: sc.bugs.has(Bug::NoFsync),
        }
    }
}

/// Executes a step's actions by the driver contract. On an instant disk the persists are
/// durable first, then the other actions run in order and `Persisted` is fed back. On a slow
/// disk the persists join what the disk is writing, `Now` sends leave at once and the other
/// actions wait for the `Disk` timer ([`disk_done`]).
fn perform(s: &mut Server, actions: Vec<Action>, d: &Driver, o: &mut Out<RaftActor>) {
    let mut pending = actions;
    while !pending.is_empty() {
        let (persists, others): (Vec<Action>, Vec<Action>) = std::mem::take(&mut pending)
            .into_iter()
            .partition(is_persist);
        if d.slow {
            if !persists.is_empty() {
                let disk = s.writing.get_or_insert_with(|| s.disk.clone());
                for a in &persists {
                    disk.apply(a);
                }
                o.set_timer(Timer::Disk, model_timeout());
            }
            for a in others {
                let now = matches!(
                    a,
                    Action::Send {
                        when: When::Now,
                        ..
                    }
                );
                if now || s.writing.is_none() {
                    s.early_in_writing |= now && s.writing.is_some();
                    s.sent_early |= s.early_in_writing;
                    emit(s, a, o);
                } else {
                    s.held.push(a);
                }
            }
            return;
        }
        for a in &persists {
            s.disk.apply(a);
        }
        for a in others {
            emit(s, a, o);
        }
        if !d.no_fsync {
            s.synced = s.disk.clone();
        }
        if !persists.is_empty() {
            let last_index = s.node.last_index();
            pending = s.node.step(Input::Persisted {
                hard_state_version: u64::MAX,
                last_index,
            });
        }
    }
}

/// A slow disk's writes are durable: perform what waited for them and report `Persisted`.
fn disk_done(s: &mut Server, d: &Driver, o: &mut Out<RaftActor>) {
    let Some(disk) = s.writing.take() else {
        return;
    };
    s.disk = disk;
    s.early_in_writing = false;
    if !d.no_fsync {
        s.synced = s.disk.clone();
    }
    for a in std::mem::take(&mut s.held) {
        emit(s, a, o);
    }
    let last_index = s.disk.last_index();
    let more = s.node.step(Input::Persisted {
        hard_state_version: u64::MAX,
        last_index,
    });
    perform(s, more, d, o);
}

/// Performs one action that is not a persist.
fn emit(s: &mut Server, action: Action, o: &mut Out<RaftActor>) {
    match action {
        Action::Send { to, msg, .. } => {
            let to: usize = to[1..].parse().expect("node ids are nK");
            o.send(Id::from(to), Msg::Raft(msg));
        }
        Action::Reply { request_id, reply } => reply_to(s, request_id, reply, o),
        Action::Event(node::core::Event::Leader { term, .. }) => {
            s.led.insert(term);
        }
        Action::Event(_) => {}
        Action::PersistHardState { .. }
        | Action::PersistEntries { .. }
        | Action::PersistSnapshot { .. } => unreachable!("persists go to the disk"),
    }
}

fn reply_to(s: &mut Server, request_id: u64, reply: Reply, o: &mut Out<RaftActor>) {
    let Some((client, req, write)) = s.requests.remove(&request_id) else {
        return;
    };
    match (reply, write) {
        (Reply::WriteOk, true) => o.send(client, Msg::PutOk { req }),
        (Reply::ReadOk(value), false) => o.send(client, Msg::GetOk { req, value }),
        (Reply::KeyMissing, false) => o.send(client, Msg::GetOk { req, value: 0 }),
        _ => {} // not leader, or indefinite: the client never learns an outcome
    }
}

pub(super) type History = LinearizabilityTester<Id, Register<i64>>;
/// The model's type.
type Am = ActorModel<RaftActor, Scenario, History>;
pub(super) type SysState = stateright::actor::ActorModelState<RaftActor, History>;

fn servers(state: &SysState) -> Vec<&Server> {
    state
        .actor_states
        .iter()
        .filter_map(|s| match &**s {
            State::Server(s) => Some(&**s),
            State::Client { .. } => None,
        })
        .collect()
}

fn election_safety(s: &SysState) -> bool {
    let mut terms = BTreeSet::new();
    servers(s)
        .iter()
        .all(|srv| srv.led.iter().all(|t| terms.insert(*t)))
}

/// Log matching: entries with the same index and term have the same prefix.
fn log_matching(s: &SysState) -> bool {
    let nodes = servers(s);
    nodes.iter().all(|a| {
        nodes.iter().all(|b| {
            let upto = a.node.last_index().min(b.node.last_index());
            let same = |i: u64| a.node.entry(i) == b.node.entry(i);
            (1..=upto)
                .rev()
                .find(|&i| a.node.entry(i).map(|e| e.term) == b.node.entry(i).map(|e| e.term))
                .is_none_or(|i| (1..=i).all(same))
        })
    })
}

/// State machine safety: no two servers commit different entries at one index.
fn state_machine_safety(s: &SysState) -> bool {
    let nodes = servers(s);
    nodes.iter().all(|a| {
        nodes.iter().all(|b| {
            let upto = a.node.commit_index().min(b.node.commit_index());
            (1..=upto).all(|i| a.node.entry(i) == b.node.entry(i))
        })
    })
}

/// Leader completeness: a leader holds every entry a server of a lower term knows committed.
fn leader_completeness(s: &SysState) -> bool {
    let nodes = servers(s);
    nodes.iter().filter(|l| l.node.is_leader()).all(|l| {
        nodes
            .iter()
            .filter(|n| n.node.term() < l.node.term())
            .all(|n| (1..=n.node.commit_index()).all(|i| l.node.entry(i) == n.node.entry(i)))
    })
}

pub(super) fn model(sc: Scenario) -> ActorModel<RaftActor, Scenario, History> {
    let sc = Arc::new(sc);
    let clients = sc.clients.clone();
    let m = ActorModel::new((*sc).clone(), LinearizabilityTester::new(Register(0)))
        .actors((0..SERVERS).map(|_| RaftActor::Server(sc.clone())))
        .actors(clients.into_iter().map(RaftActor::Client))
        .init_network(Network::new_unordered_nonduplicating([]))
        .property(Expectation::Always, "election safety", |_, s| {
            election_safety(s)
        })
        .property(Expectation::Always, "log matching", |_, s| log_matching(s))
        .property(Expectation::Always, "leader completeness", |_, s| {
            leader_completeness(s)
        })
        .property(Expectation::Always, "state machine safety", |_, s| {
            state_machine_safety(s)
        })
        .property(Expectation::Always, "linearizable", |_, s| {
            s.history.serialized_history().is_some()
        })
        .record_msg_out(|_, h, env| {
            let op = match env.msg {
                Msg::Put { value, .. } => RegisterOp::Write(*value),
                Msg::Get { .. } => RegisterOp::Read,
                _ => return None,
            };
            let mut h = h.clone();
            let _ = h.on_invoke(env.src, op);
            Some(h)
        })
        .record_msg_in(|_, h, env| {
            let ret = match env.msg {
                Msg::PutOk { .. } => RegisterRet::WriteOk,
                Msg::GetOk { value, .. } => RegisterRet::ReadOk(*value),
                _ => return None,
            };
            let mut h = h.clone();
            let _ = h.on_return(env.dst, ret);
            Some(h)
        });
    reachability(m)
}

/// The "sometimes" properties: each shows that a search reached what its test claims to
/// check (a leader, a commit, a completed client op, an early send).
fn reachability(m: Am) -> Am {
    m.property(Expectation::Sometimes, OP_COMPLETES, |_, s| {
        s.actor_states
            .iter()
            .any(|a| matches!(&**a, State::Client { next, .. } if *next >= 2))
    })
    .property(Expectation::Sometimes, SCRIPT_COMPLETES, |_, s| {
        s.actor_states
            .iter()
            .any(|a| matches!(&**a, State::Client { next, awaiting: None } if *next > 0))
    })
    .property(Expectation::Sometimes, ELECTED, |_, s| {
        servers(s).iter().any(|srv| !srv.led.is_empty())
    })
    .property(Expectation::Sometimes, TWO_TERMS, |_, s| {
        let terms: BTreeSet<u64> = servers(s)
            .iter()
            .flat_map(|srv| srv.led.iter().copied())
            .collect();
        terms.len() >= 2
    })
    .property(Expectation::Sometimes, COMMITTED, |_, s| {
        servers(s).iter().any(|srv| srv.node.commit_index() > 0)
    })
    .property(Expectation::Sometimes, SENT_EARLY, |_, s| {
        servers(s).iter().any(|srv| srv.sent_early)
    })
    .property(Expectation::Sometimes, LOST_EARLY, |_, s| {
        servers(s).iter().any(|srv| srv.lost_early)
    })
}
