//! Model checking of the Raft core with stateright: the same `RaftNode` the runtime drives is
//! wrapped as a stateright actor (three servers, scripted clients), and every interleaving of
//! message deliveries (unordered: reordering is free), timer firings and crash-restarts is
//! explored up to a bounded depth. A crash restarts the server from exactly what its disk
//! holds; with planted `no-fsync` the disk keeps nothing that was not synced (nothing is).
//!
//! Properties (Raft paper, Figure 3): election safety (from the terms each server ever led, so
//! a leader that has stepped down still counts), log matching, leader completeness, state
//! machine safety; and linearizability of the clients' writes and reads with stateright's
//! `LinearizabilityTester` over its register `SequentialSpec`.
//!
//! Bounds keep each check well under a minute: timeouts are one tick, so a timer firing on a
//! follower starts an election; terms are capped; a scenario names the servers whose timers
//! run and the one that may crash. Tests both ways: the correct core has no counterexample in
//! its bound (and the state count shows the search was not vacuous), while each planted bug
//! the model can express — `vote-twice`, `no-fsync`, `lost-truncate`, `follower-read`,
//! `stale-read` — yields one. `commit-old-term` (Figure 8 needs five servers and a long
//! schedule) and `no-dedup` (needs client retries) are beyond this bound; the simulator
//! (`tests/sim.rs`) catches them.

use node::core::{Action, Bugs, Command, Config, DurableState, Entry, HardState, Input, Message};
use node::core::{RaftNode, Reply, Snapshot};
use stateright::actor::{model_timeout, Actor, ActorModel, Id, Network, Out};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const SERVERS: usize = 3;
/// The properties that must always hold.
const SAFETY: [&str; 5] = [
    "election safety",
    "log matching",
    "leader completeness",
    "state machine safety",
    "linearizable",
];

/// A client step: write a value, or read, at one server.
#[derive(Clone, Copy, Debug)]
enum Op {
    Put(i64),
    Get,
}

/// What a check explores.
#[derive(Clone, Debug)]
struct Scenario {
    bugs: Bugs,
    /// Servers whose tick timer runs (they may campaign, and heartbeat when leading).
    timed: Vec<usize>,
    /// The server that may crash and restart once.
    crasher: Option<usize>,
    /// Client scripts: (server, op), one op at a time.
    clients: Vec<Vec<(usize, Op)>>,
    /// No election past this term.
    max_term: u64,
    /// Start from a settled cluster where this server leads term 1 (a fixed prefix: its
    /// election and no-op, every message delivered), to spend the depth on what follows.
    settled_leader: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Msg {
    Raft(Message),
    Put { req: u64, value: i64 },
    Get { req: u64 },
    PutOk { req: u64 },
    GetOk { req: u64, value: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Timer {
    Tick,
    Crash,
}

/// What a server's disk holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Disk {
    hard: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Server {
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
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum State {
    Server(Box<Server>),
    Client { next: usize, awaiting: Option<u64> },
}

enum RaftActor {
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
    let durable = DurableState {
        hard_state: disk.hard.clone(),
        snapshot: disk.snapshot.clone(),
        entries: disk.entries.clone(),
    };
    RaftNode::restore(config(id, bugs), durable)
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
        perform(s, actions, sc.bugs.no_fsync, &mut out);
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

    fn on_msg(&self, _id: Id, state: &mut Cow<State>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match (self, &**state) {
            (RaftActor::Server(sc), State::Server(_)) => server_msg(sc, state, src, msg, o),
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
                perform(s, actions, sc.bugs.no_fsync, o);
            }
            Timer::Crash => {
                let State::Server(s) = state.to_mut() else {
                    unreachable!()
                };
                s.disk = s.synced.clone();
                s.node = boot(i, sc.bugs, &s.disk);
                s.requests.clear(); // their clients never hear back
                s.crashed = true;
            }
        }
    }
}

fn server_msg(sc: &Scenario, state: &mut Cow<State>, src: Id, msg: Msg, o: &mut Out<RaftActor>) {
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
    perform(s, actions, sc.bugs.no_fsync, o);
}

/// Executes actions in order (the ordering rule): persists reach the disk before the sends
/// and replies after them; then `Persisted` is fed back.
fn perform(s: &mut Server, actions: Vec<Action>, no_fsync: bool, o: &mut Out<RaftActor>) {
    let mut pending = actions;
    while !pending.is_empty() {
        let mut persisted = false;
        for a in std::mem::take(&mut pending) {
            match a {
                Action::PersistHardState { hard_state, .. } => {
                    s.disk.hard = hard_state;
                    persisted = true;
                }
                Action::PersistEntries {
                    truncate_from,
                    entries,
                } => {
                    if let Some(from) = truncate_from {
                        s.disk.entries.retain(|e| e.index < from);
                    }
                    s.disk.entries.extend(entries);
                    persisted = true;
                }
                Action::PersistSnapshot { snapshot } => {
                    s.disk.entries.retain(|e| e.index > snapshot.last_index);
                    s.disk.snapshot = Some(snapshot);
                    persisted = true;
                }
                Action::Send { to, msg } => {
                    let to: usize = to[1..].parse().expect("node ids are nK");
                    o.send(Id::from(to), Msg::Raft(msg));
                }
                Action::Reply { request_id, reply } => reply_to(s, request_id, reply, o),
                Action::Event(node::core::Event::Leader { term, .. }) => {
                    s.led.insert(term);
                }
                Action::Event(_) => {}
            }
        }
        if !no_fsync {
            s.synced = s.disk.clone();
        }
        if persisted {
            let last_index = s.node.last_index();
            pending = s.node.step(Input::Persisted {
                hard_state_version: u64::MAX,
                last_index,
            });
        }
    }
}

fn reply_to(s: &mut Server, request_id: u64, reply: Reply, o: &mut Out<RaftActor>) {
    let Some((client, req, write)) = s.requests.remove(&request_id) else {
        return;
    };
    match (reply, write) {
        (Reply::WriteOk, true) => o.send(client, Msg::PutOk { req }),
        (Reply::ReadOk(value), false) => o.send(client, Msg::GetOk { req, value }),
        (Reply::Error { code: 20, .. }, false) => o.send(client, Msg::GetOk { req, value: 0 }),
        _ => {} // not leader, or indefinite: the client never learns an outcome
    }
}

type History = LinearizabilityTester<Id, Register<i64>>;
type SysState = stateright::actor::ActorModelState<RaftActor, History>;

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

fn model(sc: Scenario) -> ActorModel<RaftActor, Scenario, History> {
    let sc = Arc::new(sc);
    let clients = sc.clients.clone();
    ActorModel::new((*sc).clone(), LinearizabilityTester::new(Register(0)))
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
        .property(Expectation::Sometimes, "a client op completes", |_, s| {
            s.actor_states
                .iter()
                .any(|a| matches!(&**a, State::Client { next, .. } if *next >= 2))
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
        })
}

/// Runs `sc` to `depth`; returns the checker (stopping at the first failure when `hunt`).
fn check(
    sc: Scenario,
    depth: usize,
    hunt: bool,
) -> impl Checker<ActorModel<RaftActor, Scenario, History>> {
    let mut c = model(sc).checker().target_max_depth(depth).threads(2);
    if hunt {
        c = c.finish_when(HasDiscoveries::AnyFailures);
    }
    let c = c.spawn_bfs().join();
    eprintln!("{} unique states to depth {depth}", c.unique_state_count());
    c
}

fn scenario(bugs: &str) -> Scenario {
    Scenario {
        bugs: if bugs.is_empty() {
            Bugs::default()
        } else {
            Bugs::from_name(bugs).unwrap()
        },
        timed: vec![0, 1, 2],
        crasher: None,
        clients: Vec::new(),
        max_term: 2,
        settled_leader: None,
    }
}

/// Hunts for a violation of `property` with `bug` on, then checks that the same bounded
/// scenario has no violation at all without it.
fn both_ways(bug: &str, mut sc: Scenario, depth: usize, property: &'static str) {
    sc.bugs = Bugs::from_name(bug).unwrap();
    let c = check(sc.clone(), depth, true);
    eprintln!(
        "{bug}: discoveries {:?}",
        c.discoveries().keys().collect::<Vec<_>>()
    );
    let steps = c.discovery(property).map(|path| path.into_actions().len());
    assert!(
        steps.is_some(),
        "{bug}: no {property} violation within depth {depth}"
    );
    eprintln!("{bug}: counterexample of {property} in {steps:?} steps");
    sc.bugs = Bugs::default();
    let c = check(sc, depth, false);
    for p in SAFETY {
        let path = c
            .discovery(p)
            .map(|path| format!("{:?}", path.into_actions()));
        assert!(path.is_none(), "{p} fails without {bug}: {path:?}");
    }
}

/// Two candidates; the third server votes, crashes and votes again in the same term.
fn double_vote() -> Scenario {
    Scenario {
        timed: vec![0, 1],
        crasher: Some(2),
        max_term: 1,
        ..scenario("")
    }
}

#[test]
fn vote_twice_elects_two_leaders_in_a_term() {
    both_ways("vote-twice", double_vote(), 9, "election safety");
}

#[test]
fn no_fsync_loses_a_vote_in_a_crash() {
    both_ways("no-fsync", double_vote(), 9, "election safety");
}

#[test]
fn lost_truncate_commits_a_stale_entry() {
    let sc = Scenario {
        timed: vec![0, 1],
        max_term: 2,
        ..scenario("")
    };
    both_ways("lost-truncate", sc, 13, "state machine safety");
}

#[test]
fn follower_read_is_not_linearizable() {
    let sc = Scenario {
        timed: vec![0],
        clients: vec![vec![(0, Op::Put(1)), (1, Op::Get)]],
        max_term: 1,
        ..scenario("")
    };
    both_ways("follower-read", sc, 13, "linearizable");
}

#[test]
fn stale_read_is_not_linearizable() {
    let depth = depth_or(13);
    // n0 leads term 1 and stays leader in its own view (no CheckQuorum in the model) while
    // n1 is elected in term 2 and commits a write; n0 then answers a read locally.
    let sc = Scenario {
        timed: vec![1],
        clients: vec![vec![(1, Op::Put(1)), (0, Op::Get)]],
        settled_leader: Some(0),
        ..scenario("")
    };
    both_ways("stale-read", sc, depth, "linearizable");
}

/// The correct core from scratch: three servers whose timers all run, one that may crash,
/// two clients; every safety property holds (at depth 11 a client op also completes; the
/// default depth stops short of that to keep the suite fast: `MODEL_DEPTH=11` runs it).
#[test]
fn the_core_satisfies_figure_3_from_scratch() {
    let depth = depth_or(10);
    let sc = Scenario {
        crasher: Some(2),
        clients: vec![
            vec![(0, Op::Put(1)), (1, Op::Get)],
            vec![(1, Op::Put(2)), (2, Op::Get)],
        ],
        ..scenario("")
    };
    let c = check(sc, depth, false);
    for p in SAFETY {
        let path = c
            .discovery(p)
            .map(|path| format!("{:?}", path.into_actions()));
        assert!(path.is_none(), "{p} fails: {path:?}");
    }
    assert!(
        c.unique_state_count() > 100_000,
        "a vacuous search explores few states"
    );
}

/// The correct core from a settled leader: the depth goes to replication, reads, a
/// re-election and a crash-restart.
#[test]
fn the_core_satisfies_figure_3_after_an_election() {
    let depth = depth_or(12);
    let sc = Scenario {
        timed: vec![0, 1],
        crasher: Some(2),
        clients: vec![
            vec![(1, Op::Put(1)), (0, Op::Get)],
            vec![(0, Op::Put(2)), (2, Op::Get)],
        ],
        settled_leader: Some(0),
        ..scenario("")
    };
    let c = check(sc, depth, false);
    c.assert_properties();
    assert!(
        c.unique_state_count() > 100_000,
        "a vacuous search explores few states"
    );
}

fn depth_or(default: usize) -> usize {
    std::env::var("MODEL_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(default)
}
