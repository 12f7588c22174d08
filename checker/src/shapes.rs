//! Generators of histories shaped like the ones public tools record (Porcupine's 6.824 kv logs,
//! Jepsen's etcd logs, Knossos' register histories): valid by construction, values that repeat.
//!
//! One engine (`simulate`) runs a simulated store with concurrent clients. Each client has at
//! most one op outstanding; between two events any open op may take effect (its linearization
//! point falls at a random instant inside its interval), and an op that completes before it
//! took effect does so just before its completion. An op that times out is recorded as `info`:
//! if it had not taken effect yet, it does so at a random later instant, or never. Its client
//! then continues as a fresh process (`process + clients`, as Jepsen numbers them). Every
//! history is therefore linearizable: the order of the effects is a witness.
//!
//! Values come from small domains (registers hold 0..4; kv puts and appends use a handful of
//! one- and two-letter strings), so the same value is written, read and appended many times.
//! Histories with distinct values are easy for a checker and hide bugs that only repeated
//! values show.
//!
//! Same seed, same history (rand's `SmallRng`, no iteration over hash maps).

use histories::{History, Op, Outcome, Value, F};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Values a kv `put` writes.
const PUTS: &[&str] = &["", "a", "b", "ab", "x"];
/// Strings a kv `append` appends: mostly the same short string.
const APPENDS: &[&str] = &["x", "x", "x", "y", "xy"];
/// The value the planted violation reads: its letter occurs in no domain string above, so no
/// sequence of puts and appends from the domains produces it.
const STALE: &str = "z";
/// Register values: 0..4.
const REGISTER_VALUES: i64 = 5;

/// What the simulated store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 6.824 get/put/append over strings, a missing key reads as "".
    Kv,
    /// read/write/cas over integers 0..4, a missing register reads as null.
    CasRegister,
}

/// Parameters of [`simulate`].
#[derive(Debug, Clone, Copy)]
struct Sim {
    kind: Kind,
    /// Concurrent clients (each one op at a time).
    clients: usize,
    /// Ops to invoke.
    ops: usize,
    /// Keys (0: one unkeyed register).
    keys: usize,
    /// Probability that an op times out (`info`).
    info_prob: f64,
    /// At most this many `info` ops in the history (they stay open to the end, so this also
    /// bounds how many timeouts are pending at once).
    max_info: usize,
    /// Probability of invoking (rather than completing) when both are possible: near 1 keeps
    /// every client busy, 0.5 leaves some idle.
    invoke_bias: f64,
    /// Kv only: the `n`-th put on key `k` (0-based) writes [`STALE`].
    marker: Option<(usize, usize)>,
    seed: u64,
}

/// An op that was invoked and has not completed.
struct Open {
    op: usize,
    slot: usize,
    /// The outcome, once it took effect.
    effect: Option<Outcome>,
}

fn key_name(keys: usize, k: usize) -> Option<String> {
    (keys > 0).then(|| format!("k{k}"))
}

/// The op takes effect on `state` now; returns its outcome.
fn apply(state: &mut Value, f: F, input: &Value) -> Outcome {
    match f {
        F::Read => Outcome::Ok(state.clone()),
        F::Get => Outcome::Ok(Value::Str(state.as_str().unwrap_or("").to_string())),
        F::Write | F::Put => {
            *state = input.clone();
            Outcome::Ok(input.clone())
        }
        F::Append => {
            let mut s = state.as_str().unwrap_or("").to_string();
            s.push_str(input.as_str().unwrap_or(""));
            *state = Value::Str(s);
            Outcome::Ok(input.clone())
        }
        F::Cas => match input.as_list() {
            Some([from, to]) if from == state => {
                *state = to.clone();
                Outcome::Ok(input.clone())
            }
            _ => Outcome::Fail,
        },
        _ => Outcome::Fail,
    }
}

/// Picks the next op's function and input.
fn choose(rng: &mut SmallRng, kind: Kind) -> (F, Value) {
    let pick = |rng: &mut SmallRng, domain: &[&str]| {
        Value::Str(domain[rng.gen_range(0..domain.len())].to_string())
    };
    match kind {
        Kind::Kv => match rng.gen_range(0..100) {
            0..=49 => (F::Get, Value::Null),
            50..=64 => (F::Put, pick(rng, PUTS)),
            _ => (F::Append, pick(rng, APPENDS)),
        },
        Kind::CasRegister => {
            let f = rng.gen_range(0..3);
            let mut v = || Value::Int(rng.gen_range(0..REGISTER_VALUES));
            match f {
                0 => (F::Read, Value::Null),
                1 => (F::Write, v()),
                _ => (F::Cas, Value::List(vec![v(), v()])),
            }
        }
    }
}

/// Runs the simulated store; see the module's documentation.
fn simulate(p: Sim, source: String) -> History {
    simulate_with_witness(p, source).0
}

/// [`simulate`], with the order in which the ops took effect: `(op id, position)`, the op
/// taking effect just before the event at that position. Replaying it is the proof of validity.
///
/// One event loop of about 105 lines: invocations, effects, completions and timeouts all read
/// and change the same clients, pending ops, store and witness, in an order the seed fixes.
fn simulate_with_witness(p: Sim, source: String) -> (History, Vec<(usize, u64)>) {
    let mut rng = SmallRng::seed_from_u64(p.seed);
    let clients = p.clients.max(1);
    let mut state = vec![Value::Null; p.keys.max(1)];
    let mut ops: Vec<Op> = Vec::with_capacity(p.ops);
    let mut open: Vec<Open> = Vec::new();
    let mut free: Vec<usize> = (0..clients).collect();
    let mut process: Vec<u64> = (0..clients as u64).collect();
    // Timed-out ops that will take effect at some later instant.
    let mut delayed: Vec<usize> = Vec::new();
    let mut puts_on_marker_key = 0usize;
    let mut infos = 0usize;
    let mut pos = 0u64;
    let mut effects: Vec<(usize, u64)> = Vec::with_capacity(p.ops);
    let key_index = |op: &Op| -> usize {
        op.key
            .as_deref()
            .and_then(|k| k[1..].parse().ok())
            .unwrap_or(0)
    };
    while ops.len() < p.ops || !open.is_empty() {
        // Linearization points: any open op may take effect between two events.
        let chance = 1.0 / (open.len() as f64 + 1.0);
        for o in open.iter_mut() {
            if o.effect.is_none() && rng.gen_bool(chance) {
                let op = &ops[o.op];
                o.effect = Some(apply(&mut state[key_index(op)], op.f, &op.input));
                effects.push((o.op, pos));
            }
        }
        if !delayed.is_empty() && rng.gen_bool(0.1) {
            let op = &ops[delayed.swap_remove(rng.gen_range(0..delayed.len()))];
            let _ = apply(&mut state[key_index(op)], op.f, &op.input);
            effects.push((op.id, pos));
        }
        let can_invoke = ops.len() < p.ops && !free.is_empty();
        if can_invoke && (open.is_empty() || rng.gen_bool(p.invoke_bias)) {
            let slot = free.swap_remove(rng.gen_range(0..free.len()));
            let k = if p.keys > 0 {
                rng.gen_range(0..p.keys)
            } else {
                0
            };
            let (f, mut input) = choose(&mut rng, p.kind);
            if let Some((mk, nth)) = p.marker {
                if f == F::Put && k == mk {
                    if puts_on_marker_key == nth {
                        input = Value::Str(STALE.to_string());
                    }
                    puts_on_marker_key += 1;
                }
            }
            let id = ops.len();
            ops.push(Op {
                id,
                process: process[slot],
                f,
                key: key_name(p.keys, k),
                input,
                outcome: Outcome::Info,
                call: pos,
                ret: None,
                call_line: pos + 1,
                ret_line: None,
                call_time: Some(pos * 1_000),
                ret_time: None,
                error: None,
                sent_to: None,
                served_by: None,
            });
            open.push(Open {
                op: id,
                slot,
                effect: None,
            });
        } else {
            let o = open.swap_remove(rng.gen_range(0..open.len()));
            let times_out = infos < p.max_info && rng.gen_bool(p.info_prob);
            let op = &mut ops[o.op];
            op.ret_line = Some(pos + 1);
            op.ret_time = Some(pos * 1_000);
            if times_out {
                infos += 1;
                op.error = Some("timeout".into());
                if o.effect.is_none() && rng.gen_bool(0.5) {
                    delayed.push(o.op);
                }
                process[o.slot] += clients as u64;
            } else {
                op.outcome = match o.effect {
                    Some(e) => e,
                    None => {
                        effects.push((o.op, pos));
                        apply(&mut state[key_index(op)], op.f, &op.input)
                    }
                };
                op.ret = Some(pos);
            }
            free.push(o.slot);
        }
        pos += 1;
    }
    let history = History {
        source,
        ops,
        ..Default::default()
    };
    (history, effects)
}

/// A 6.824 key-value history as Porcupine's test logs hold: `clients` clients, each doing
/// get/put/append on random keys among `keys`, `ops` ops in all, every client kept busy.
/// No timeouts (6.824 clerks retry until they get an answer). Appends mostly repeat "x".
pub fn porcupine_kv(clients: usize, ops: usize, keys: usize, seed: u64) -> History {
    simulate(
        kv_sim(clients, ops, keys, seed, None),
        format!("shapes::porcupine_kv({clients} clients, {ops} ops, {keys} keys, seed {seed})"),
    )
}

fn kv_sim(
    clients: usize,
    ops: usize,
    keys: usize,
    seed: u64,
    marker: Option<(usize, usize)>,
) -> Sim {
    Sim {
        kind: Kind::Kv,
        clients,
        ops,
        keys: keys.max(1),
        info_prob: 0.0,
        max_info: 0,
        invoke_bias: 0.9,
        marker,
        seed,
    }
}

/// [`porcupine_kv`]'s shape with one planted violation: a get returns a value its key provably
/// no longer held (a stale read).
///
/// The simulation is run with one put P1 on a key writing `"z"`, a letter no other op writes or
/// appends. Then P2 is the first ok put on that key called after P1 returned, and G the first
/// ok get on that key called after P2 returned; G's result is changed to `"z"`. Whatever the
/// interleaving, P2 (ok, so it took effect) is linearized before G (it returned before G was
/// called), and it set the key to a string without a `z`; every op that can be linearized
/// between P2 and G is a put of a domain value, an append of a domain string or a get, none
/// of which brings a `z` back (the only op that wrote one, P1, returned before P2 was called,
/// so it precedes P2). So the key cannot hold `"z"` when G takes effect: not linearizable.
/// Everything else is as simulated, hence this is the only violation.
pub fn porcupine_kv_violation(clients: usize, ops: usize, keys: usize, seed: u64) -> History {
    let keys = keys.max(1);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_5ba1e);
    let key = rng.gen_range(0..keys);
    let source = format!(
        "shapes::porcupine_kv_violation({clients} clients, {ops} ops, {keys} keys, seed {seed})"
    );
    // A few puts in, so that a later put and a later get exist; try earlier ones if not.
    let first = rng.gen_range(2..6usize);
    for nth in (0..=first).rev() {
        let mut history = simulate(
            kv_sim(clients, ops, keys, seed, Some((key, nth))),
            source.clone(),
        );
        if plant_stale_read(&mut history, &key_name(keys, key)) {
            return history;
        }
    }
    // Too few ops on the key for a stale read: nothing planted (never for the shapes used).
    simulate(kv_sim(clients, ops, keys, seed, None), source)
}

/// Changes the get G described in [`porcupine_kv_violation`] to read [`STALE`].
fn plant_stale_read(history: &mut History, key: &Option<String>) -> bool {
    let on_key = |o: &&Op| o.key == *key && matches!(o.outcome, Outcome::Ok(_));
    let ops = &history.ops;
    let Some(p1) = ops
        .iter()
        .filter(on_key)
        .find(|o| o.f == F::Put && o.input.as_str() == Some(STALE))
    else {
        return false;
    };
    let p1_ret = p1.ret.unwrap_or(u64::MAX);
    let Some(p2) = ops
        .iter()
        .filter(on_key)
        .find(|o| o.f == F::Put && o.call > p1_ret)
    else {
        return false;
    };
    let p2_ret = p2.ret.unwrap_or(u64::MAX);
    let Some(g) = ops
        .iter()
        .filter(on_key)
        .find(|o| o.f == F::Get && o.call > p2_ret)
        .map(|o| o.id)
    else {
        return false;
    };
    history.ops[g].outcome = Outcome::Ok(Value::Str(STALE.to_string()));
    true
}

/// A Jepsen etcd log as Porcupine's test data holds: one cas register (values 0..4, read,
/// write and cas in equal shares, many cas failing), 80 to 100 ops by 5 processes, with
/// timeouts that leave up to 20 ops pending (`info`, open to the end) at once.
pub fn jepsen_etcd(seed: u64) -> History {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xe7cd);
    let ops = rng.gen_range(80..=100);
    simulate(
        Sim {
            kind: Kind::CasRegister,
            clients: 5,
            ops,
            keys: 0,
            info_prob: 0.2,
            max_info: 20,
            invoke_bias: 0.5,
            marker: None,
            seed,
        },
        format!("shapes::jepsen_etcd(seed {seed})"),
    )
}

/// A Knossos-style cas-register history: `processes` processes (Knossos' tests use 5 to 20),
/// `ops` ops (100 to 1,000), values 0..4, about a quarter of the ops failing (cas whose
/// expected value was not there), a few timeouts.
pub fn knossos(processes: usize, ops: usize, seed: u64) -> History {
    simulate(
        Sim {
            kind: Kind::CasRegister,
            clients: processes,
            ops,
            keys: 0,
            info_prob: 0.01,
            max_info: 6,
            invoke_bias: 0.6,
            marker: None,
            seed,
        },
        format!("shapes::knossos({processes} processes, {ops} ops, seed {seed})"),
    )
}

/// A small cas-register history: 24 to 40 ops by 3 processes, an occasional timeout.
pub fn small(seed: u64) -> History {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5a11);
    let ops = rng.gen_range(24..=40);
    simulate(
        Sim {
            kind: Kind::CasRegister,
            clients: 3,
            ops,
            keys: 0,
            info_prob: 0.05,
            max_info: 2,
            invoke_bias: 0.5,
            marker: None,
            seed,
        },
        format!("shapes::small(seed {seed})"),
    )
}

/// The most ops open at once (called and not yet returned; `info` ops stay open to the end).
pub fn pending_at_once(history: &History) -> usize {
    let ops: Vec<&histories::Op> = history.ops.iter().collect();
    crate::wgl::max_concurrency(&ops)
}

#[cfg(test)]
mod tests;
