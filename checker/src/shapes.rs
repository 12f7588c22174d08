//! Generators of histories shaped like the ones public tools record (Porcupine's 6.824 kv logs,
//! Jepsen's etcd logs, Knossos' register histories): valid by construction, values that repeat.
//!
//! One engine ([`simulate`]) runs a simulated store with concurrent clients. Each client has at
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
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    fn count(h: &History, pred: impl Fn(&Op) -> bool) -> usize {
        h.ops.iter().filter(|o| pred(o)).count()
    }

    /// Ops sorted by call, ids dense, positions dense `0..events`, completions after calls.
    fn well_formed(h: &History) {
        let mut positions = BTreeSet::new();
        for (i, op) in h.ops.iter().enumerate() {
            assert_eq!(op.id, i);
            if i > 0 {
                assert!(h.ops[i - 1].call < op.call);
            }
            assert!(positions.insert(op.call));
            let done = op.ret_line.expect("every op completes") - 1;
            assert!(done > op.call);
            assert!(positions.insert(done));
            assert_eq!(op.ret.is_none(), op.outcome == Outcome::Info);
            if let Some(r) = op.ret {
                assert_eq!(r, done);
            }
        }
        let events = positions.len() as u64;
        assert_eq!(
            positions.into_iter().collect::<Vec<_>>(),
            (0..events).collect::<Vec<_>>()
        );
    }

    /// One op at a time per process.
    fn sequential_processes(h: &History) {
        let mut last_done: HashMap<u64, u64> = HashMap::new();
        for op in &h.ops {
            if let Some(&done) = last_done.get(&op.process) {
                assert!(done < op.call, "process {} overlaps itself", op.process);
            }
            // An info op's process never runs again.
            last_done.insert(op.process, op.ret.unwrap_or(u64::MAX));
        }
    }

    /// Replays the witness: every op takes effect inside its interval (an `info` op at most
    /// once, after its call; an ok or fail op exactly once), and sequentially each ok op returns
    /// what the history says and each fail op changes nothing. Returns the ops that disagree.
    fn replay(h: &History, effects: &[(usize, u64)]) -> Vec<usize> {
        let mut seen = vec![0usize; h.ops.len()];
        let mut state: HashMap<Option<String>, Value> = HashMap::new();
        let mut wrong = Vec::new();
        let mut last = 0u64;
        for &(id, at) in effects {
            let op = &h.ops[id];
            assert!(at >= last, "effects in time order");
            last = at;
            seen[id] += 1;
            assert!(op.call < at, "op {id} takes effect after its call");
            if let Some(ret) = op.ret {
                assert!(at <= ret, "op {id} takes effect before its return");
            }
            let cell = state.entry(op.key.clone()).or_insert(Value::Null);
            let before = cell.clone();
            let got = apply(cell, op.f, &op.input);
            match &op.outcome {
                Outcome::Info => {}
                Outcome::Fail => assert_eq!(*cell, before, "op {id} failed yet changed the state"),
                recorded if *recorded != got => wrong.push(id),
                _ => {}
            }
        }
        for (id, op) in h.ops.iter().enumerate() {
            match op.outcome {
                Outcome::Info => assert!(seen[id] <= 1),
                _ => assert_eq!(seen[id], 1, "op {id} takes effect exactly once"),
            }
        }
        wrong
    }

    #[test]
    fn the_witness_replays() {
        let sims = [
            kv_sim(50, 1_712, 10, 1, None),
            kv_sim(10, 370, 10, 2, None),
            kv_sim(50, 2_024, 10, 3, Some((4, 3))),
        ];
        for p in sims {
            let (h, effects) = simulate_with_witness(p, String::new());
            assert_eq!(replay(&h, &effects), Vec::<usize>::new());
        }
        for seed in 0..20 {
            for p in [5, 20] {
                let mut sim = kv_sim(p, 300, 0, seed, None);
                sim.kind = Kind::CasRegister;
                sim.info_prob = 0.2;
                sim.max_info = 20;
                let (h, effects) = simulate_with_witness(sim, String::new());
                assert!(h.ops.iter().any(|o| o.outcome == Outcome::Info));
                assert_eq!(replay(&h, &effects), Vec::<usize>::new());
            }
        }
    }

    #[test]
    fn the_planted_read_is_the_only_one_the_witness_contradicts() {
        for seed in 0..5 {
            let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_5ba1e);
            let key = rng.gen_range(0..10);
            let nth = rng.gen_range(2..6usize);
            let (mut h, effects) =
                simulate_with_witness(kv_sim(50, 2_024, 10, seed, Some((key, nth))), String::new());
            assert!(plant_stale_read(&mut h, &key_name(10, key)));
            let wrong = replay(&h, &effects);
            assert_eq!(wrong.len(), 1);
            assert_eq!(h.ops[wrong[0]].f, F::Get);
            assert_eq!(h.ops[wrong[0]].ok_value(), Some(&Value::Str(STALE.into())));
            assert_eq!(h.ops, porcupine_kv_violation(50, 2_024, 10, seed).ops);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        assert_eq!(
            porcupine_kv(50, 500, 10, 7).ops,
            porcupine_kv(50, 500, 10, 7).ops
        );
        assert_ne!(
            porcupine_kv(50, 500, 10, 7).ops,
            porcupine_kv(50, 500, 10, 8).ops
        );
        assert_eq!(
            porcupine_kv_violation(50, 500, 10, 3).ops,
            porcupine_kv_violation(50, 500, 10, 3).ops
        );
        assert_eq!(jepsen_etcd(4).ops, jepsen_etcd(4).ops);
        assert_eq!(knossos(10, 300, 5).ops, knossos(10, 300, 5).ops);
        assert_eq!(small(6).ops, small(6).ops);
    }

    #[test]
    fn kv_counts_hold_and_values_repeat() {
        let h = porcupine_kv(50, 1_712, 10, 1);
        well_formed(&h);
        sequential_processes(&h);
        assert_eq!(h.ops.len(), 1_712);
        let keys: BTreeSet<_> = h.ops.iter().map(|o| o.key.clone()).collect();
        assert_eq!(keys.len(), 10);
        let processes: BTreeSet<_> = h.ops.iter().map(|o| o.process).collect();
        assert_eq!(processes.len(), 50);
        assert!(pending_at_once(&h) >= 40, "clients are kept busy");
        assert_eq!(count(&h, |o| o.outcome == Outcome::Info), 0);
        let gets: Vec<&Value> = h
            .ops
            .iter()
            .filter(|o| o.f == F::Get)
            .filter_map(Op::ok_value)
            .collect();
        let distinct: BTreeSet<_> = gets.iter().collect();
        assert!(gets.len() > 600);
        assert!(
            distinct.len() * 4 < gets.len(),
            "{} distinct of {}",
            distinct.len(),
            gets.len()
        );
        assert!(gets.iter().any(|v| v.as_str() == Some("")));
        let appends = count(&h, |o| o.f == F::Append && o.input.as_str() == Some("x"));
        assert!(appends > 200);
    }

    #[test]
    fn the_violation_is_one_stale_read() {
        let good = porcupine_kv(50, 2_024, 10, 2);
        let bad = porcupine_kv_violation(50, 2_024, 10, 2);
        well_formed(&bad);
        assert_eq!(bad.ops.len(), 2_024);
        let z = |o: &Op| o.ok_value().and_then(Value::as_str) == Some(STALE);
        let planted = bad.ops.iter().filter(|o| o.f == F::Get && z(o)).count();
        // The gets between P1 and P2 may read "z" legitimately; exactly one reads it after P2.
        let p1 = bad
            .ops
            .iter()
            .find(|o| o.f == F::Put && o.input.as_str() == Some(STALE));
        let p1 = p1.expect("a put writes the marker");
        assert!(planted >= 1);
        assert_eq!(
            count(&bad, |o| o.f == F::Put && o.input.as_str() == Some(STALE)),
            1
        );
        assert!(good.ops.iter().all(|o| o.input.as_str() != Some(STALE)));
        assert!(p1.ret.is_some());
    }

    #[test]
    fn etcd_counts_hold() {
        for seed in 0..20 {
            let h = jepsen_etcd(seed);
            well_formed(&h);
            sequential_processes(&h);
            assert!((80..=100).contains(&h.ops.len()));
            let info = count(&h, |o| o.outcome == Outcome::Info);
            assert!((5..=20).contains(&info), "seed {seed}: {info} info");
            let pending = pending_at_once(&h);
            assert!(
                (8..=25).contains(&pending),
                "seed {seed}: {pending} pending"
            );
            let cas = count(&h, |o| o.f == F::Cas);
            let cas_fail = count(&h, |o| o.f == F::Cas && o.outcome == Outcome::Fail);
            assert!(
                cas_fail * 5 >= cas * 2,
                "seed {seed}: {cas_fail} of {cas} cas fail"
            );
            assert!(h.ops.iter().all(|o| o.key.is_none()));
            let fresh = h.ops.iter().map(|o| o.process).max().unwrap_or(0);
            assert!(fresh >= 5, "timed-out processes come back under a new id");
        }
    }

    #[test]
    fn knossos_counts_hold_and_values_repeat() {
        for (seed, (processes, ops)) in [(5, 100), (10, 500), (20, 1_000)].into_iter().enumerate() {
            let h = knossos(processes, ops, seed as u64);
            well_formed(&h);
            sequential_processes(&h);
            assert_eq!(h.ops.len(), ops);
            let fail = count(&h, |o| o.outcome == Outcome::Fail) as f64 / ops as f64;
            assert!((0.15..=0.35).contains(&fail), "fail share {fail}");
            let info = count(&h, |o| o.outcome == Outcome::Info);
            assert!((1..=6).contains(&info) || ops < 200, "{info} info");
            let values: BTreeSet<i64> = h
                .ops
                .iter()
                .filter(|o| o.f == F::Write)
                .filter_map(|o| o.input.as_int())
                .collect();
            assert!(values.iter().all(|v| (0..REGISTER_VALUES).contains(v)));
            assert!(count(&h, |o| o.f == F::Write) > 2 * values.len());
        }
    }

    #[test]
    fn small_is_small() {
        for seed in 0..10 {
            let h = small(seed);
            well_formed(&h);
            assert!((24..=40).contains(&h.ops.len()));
        }
    }

    // These depend on the checker's soundness and completeness, not only on the generators.
    #[test]
    fn the_checker_agrees_with_what_was_planted() {
        let opts = crate::Options::default();
        let valid = [
            porcupine_kv(10, 370, 10, 1),
            porcupine_kv(50, 1_712, 10, 1),
            jepsen_etcd(1),
            jepsen_etcd(2),
            knossos(5, 100, 1),
            knossos(10, 300, 2),
            small(1),
        ];
        for h in &valid {
            let r = crate::check(h, &opts);
            assert_eq!(r.verdict, crate::Verdict::Valid, "{}", h.source);
        }
        let bad = porcupine_kv_violation(50, 2_024, 10, 1);
        let r = crate::check(&bad, &opts);
        assert_eq!(r.verdict, crate::Verdict::Invalid, "{}", bad.source);
    }
}
