//! Model checking of the Raft core with stateright: the same `RaftNode` the runtime drives is
//! wrapped as a stateright actor (three servers, two clients, every message reordering and every
//! timer firing explored up to a bounded depth). Properties, from the Raft paper's Figure 3:
//! election safety, log matching, leader completeness, state machine safety; and
//! linearizability of the clients' puts and gets with stateright's `LinearizabilityTester`.
//!
//! Tests both ways: the correct core has no counterexample within the bound; the planted
//! `follower-read` bug, which the model can express, yields one.

use node::core::{Action, Bugs, Command, Config, DurableState, Input, Message, RaftNode, Reply};
use stateright::actor::register::{RegisterActor, RegisterMsg};
use stateright::actor::{Actor, ActorModel, Id, Network, Out};
use stateright::semantics::register::Register;
use stateright::semantics::LinearizabilityTester;
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

const SERVERS: usize = 3;
/// Bound of the exploration, in steps (message deliveries and timer firings).
const DEPTH: usize = 8;

type Msg = RegisterMsg<u64, char, Message>;

/// A server's state: the core, and the client requests it is answering.
#[derive(Clone, Debug)]
struct Server {
    node: RaftNode,
    requests: BTreeMap<u64, (Id, u64, bool)>,
    next_request: u64,
}

// The core's full state, rng included, is its identity (Debug prints all of it).
impl Hash for Server {
    fn hash<H: Hasher>(&self, h: &mut H) {
        format!("{:?}", self.node).hash(h);
        self.requests.hash(h);
    }
}

impl PartialEq for Server {
    fn eq(&self, other: &Server) -> bool {
        self.requests == other.requests && format!("{:?}", self.node) == format!("{:?}", other.node)
    }
}

struct RaftActor {
    bugs: Bugs,
}

fn name(id: usize) -> String {
    format!("n{id}")
}

impl Actor for RaftActor {
    type Msg = Msg;
    type State = Server;
    type Timer = ();

    fn on_start(&self, id: Id, o: &mut Out<Self>) -> Server {
        let peers: Vec<String> = (0..SERVERS).map(name).collect();
        let peer_refs: Vec<&str> = peers.iter().map(String::as_str).collect();
        let mut cfg = Config::new(&name(usize::from(id)), &peer_refs, usize::from(id) as u64);
        // Small timeouts keep the state space small; PreVote/CheckQuorum are off here (the
        // simulator covers them) so that elections take few steps.
        cfg.election_ticks_min = 1;
        cfg.election_ticks_max = 2;
        cfg.heartbeat_ticks = 1;
        cfg.pre_vote = false;
        cfg.check_quorum = false;
        cfg.bugs = self.bugs;
        o.set_timer((), Duration::from_millis(1)..Duration::from_millis(2));
        Server {
            node: RaftNode::restore(cfg, DurableState::default()),
            requests: BTreeMap::new(),
            next_request: 1,
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<Server>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let s = state.to_mut();
        let input = match msg {
            RegisterMsg::Internal(m) => Input::Message {
                from: name(usize::from(src)),
                msg: m,
            },
            RegisterMsg::Put(req, value) => {
                let rid = s.next_request;
                s.next_request += 1;
                s.requests.insert(rid, (src, req, true));
                let cmd = Command::Write {
                    key: "k".into(),
                    value: value as i64,
                    client: String::new(),
                    seq: 0,
                };
                Input::Client {
                    request_id: rid,
                    cmd,
                }
            }
            RegisterMsg::Get(req) => {
                let rid = s.next_request;
                s.next_request += 1;
                s.requests.insert(rid, (src, req, false));
                Input::Client {
                    request_id: rid,
                    cmd: Command::Read { key: "k".into() },
                }
            }
            _ => return,
        };
        let actions = s.node.step(input);
        perform(s, actions, o);
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<Server>, _t: &(), o: &mut Out<Self>) {
        let s = state.to_mut();
        let actions = s.node.step(Input::Tick);
        perform(s, actions, o);
        o.set_timer((), Duration::from_millis(1)..Duration::from_millis(2));
    }
}

/// Executes actions: persistence is immediate (no crashes in this model), then sends/replies.
fn perform(s: &mut Server, actions: Vec<Action>, o: &mut Out<RaftActor>) {
    let mut persisted = false;
    for a in actions {
        match a {
            Action::PersistHardState { .. }
            | Action::PersistEntries { .. }
            | Action::PersistSnapshot { .. } => persisted = true,
            Action::Send { to, msg } => {
                let to: usize = to[1..].parse().expect("node ids are nK");
                o.send(Id::from(to), RegisterMsg::Internal(msg));
            }
            Action::Reply { request_id, reply } => {
                let Some((client, req, put)) = s.requests.remove(&request_id) else {
                    continue;
                };
                match (reply, put) {
                    (Reply::WriteOk, true) => o.send(client, RegisterMsg::PutOk(req)),
                    (Reply::ReadOk(v), false) => {
                        let c = char::from_u32(v as u32).unwrap_or('?');
                        o.send(client, RegisterMsg::GetOk(req, c))
                    }
                    (Reply::Error { code: 20, .. }, false) => {
                        o.send(client, RegisterMsg::GetOk(req, '\0'))
                    }
                    _ => {} // not leader: the client waits (it never learns an outcome)
                }
            }
            Action::Event(_) => {}
        }
    }
    if persisted {
        let last_index = s.node.last_index();
        let more = s.node.step(Input::Persisted {
            hard_state_version: u64::MAX,
            last_index,
        });
        if !more.is_empty() {
            perform(s, more, o);
        }
    }
}

type State = stateright::actor::ActorModelState<
    RegisterActor<RaftActor>,
    LinearizabilityTester<Id, Register<char>>,
>;

fn servers(state: &State) -> Vec<&RaftNode> {
    state
        .actor_states
        .iter()
        .filter_map(|s| match &**s {
            stateright::actor::register::RegisterActorState::Server(s) => Some(&s.node),
            _ => None,
        })
        .collect()
}

fn model(
    bugs: Bugs,
    clients: usize,
) -> ActorModel<RegisterActor<RaftActor>, (), LinearizabilityTester<Id, Register<char>>> {
    ActorModel::new((), LinearizabilityTester::new(Register('\0')))
        .actors((0..SERVERS).map(|_| RegisterActor::Server(RaftActor { bugs })))
        .actors((0..clients).map(|_| RegisterActor::Client {
            put_count: 1,
            server_count: SERVERS,
        }))
        .init_network(Network::new_unordered_nonduplicating([]))
        .property(Expectation::Always, "election safety", |_, s| {
            let mut leaders = BTreeMap::new();
            servers(s)
                .iter()
                .filter(|n| n.is_leader())
                .all(|n| leaders.insert(n.term(), n.id().to_string()).is_none())
        })
        .property(
            Expectation::Always,
            "log matching and state machine safety",
            |_, s| {
                let nodes = servers(s);
                nodes.iter().all(|a| {
                    nodes.iter().all(|b| {
                        let upto = a.commit_index().min(b.commit_index());
                        (1..=upto).all(|i| match (a.entry(i), b.entry(i)) {
                            (Some(x), Some(y)) => x == y,
                            _ => true,
                        })
                    })
                })
            },
        )
        .property(Expectation::Always, "leader completeness", |_, s| {
            let nodes = servers(s);
            let committed = nodes.iter().map(|n| n.commit_index()).max().unwrap_or(0);
            let top = nodes
                .iter()
                .filter(|n| n.is_leader())
                .max_by_key(|n| n.term());
            top.is_none_or(|l| {
                nodes.iter().all(|n| {
                    (1..=committed.min(n.commit_index())).all(|i| match (n.entry(i), l.entry(i)) {
                        (Some(x), Some(y)) => x.term > l.term() || x == y,
                        (Some(_), None) => false,
                        _ => true,
                    })
                })
            })
        })
        .property(Expectation::Always, "linearizable", |_, s| {
            s.history.serialized_history().is_some()
        })
        .record_msg_in(RegisterMsg::record_returns)
        .record_msg_out(RegisterMsg::record_invocations)
}

#[test]
fn the_core_satisfies_figure_3_within_the_bound() {
    let checker = model(Bugs::default(), 2)
        .checker()
        .target_max_depth(DEPTH)
        .spawn_bfs()
        .join();
    checker.assert_properties();
    let states = checker.unique_state_count();
    eprintln!("model: {states} unique states explored to depth {DEPTH}");
    assert!(
        states > 1_000,
        "a vacuous model explores few states: {states}"
    );
}

#[test]
fn the_model_finds_the_follower_read_bug() {
    let mut bugs = Bugs::default();
    bugs.enable("follower-read").unwrap();
    let depth: usize = std::env::var("MODEL_BUG_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(13);
    let checker = model(bugs, 1)
        .checker()
        .finish_when(HasDiscoveries::AnyFailures)
        .target_max_depth(depth)
        .spawn_dfs()
        .join();
    eprintln!(
        "follower-read: {} states to depth {depth}",
        checker.unique_state_count()
    );
    let path = checker.discovery("linearizable");
    assert!(
        path.is_some(),
        "follower-read must break linearizability within the bound"
    );
}
