//! Seeded generators of realistic histories, valid by construction: a simulated linearizable
//! store with concurrent clients, timeouts (`info` ops that may or may not take effect later)
//! and definite failures. Used by the benchmarks and the tests. Same seed, same history.
//!
//! Each op takes effect atomically at a point inside its interval (at its completion; an `info`
//! op at some later step, or never), so every generated history is linearizable, and
//! [`inject_stale_read`] turns one into a known-bad twin.

use histories::{History, Op, Outcome, Value, F};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// read/write/cas over integer registers, distinct written values.
    Register,
    /// 6.824 get/put/append over strings.
    AppendKv,
    /// read/write only (the polynomial fast path applies).
    ReadWrite,
}

/// Generator parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Number of ops.
    pub ops: usize,
    /// Concurrent client slots.
    pub clients: usize,
    /// Keys (0: one unkeyed register).
    pub keys: usize,
    /// Probability that an op times out (`info`).
    pub info_prob: f64,
    /// Flavor.
    pub flavor: Flavor,
    /// Seed.
    pub seed: u64,
}

struct Pending {
    op: usize,
    slot: usize,
    info: bool,
}

/// Generates a history.
///
/// One loop of about 75 lines: each step invokes or completes an op, and all steps share the
/// seeded RNG, the open ops and the state per key, so that the same seed gives the same history.
pub fn generate(p: Params) -> History {
    let mut rng = SmallRng::seed_from_u64(p.seed);
    let mut ops: Vec<Op> = Vec::with_capacity(p.ops);
    let mut state: HashMap<Option<String>, Value> = HashMap::new();
    let mut open: Vec<Pending> = Vec::new();
    let mut busy = vec![false; p.clients.max(1)];
    let mut process: Vec<u64> = (0..busy.len() as u64).collect();
    let mut next_process = busy.len() as u64;
    let mut delayed: Vec<usize> = Vec::new(); // info ops that will take effect later
    let mut pos = 0u64;
    let mut next_value = 1i64;
    while ops.len() < p.ops || !open.is_empty() {
        let can_invoke = ops.len() < p.ops && busy.iter().any(|b| !b);
        if can_invoke && (open.is_empty() || rng.gen_bool(0.5)) {
            let free: Vec<usize> = (0..busy.len()).filter(|&i| !busy[i]).collect();
            let slot = free[rng.gen_range(0..free.len())];
            busy[slot] = true;
            let key = (p.keys > 0).then(|| format!("k{}", rng.gen_range(0..p.keys)));
            let (f, input) = choose(&mut rng, p.flavor, &state, &key, &mut next_value);
            let id = ops.len();
            ops.push(Op {
                id,
                process: process[slot],
                f,
                key,
                input,
                outcome: Outcome::Info,
                call: pos,
                ret: None,
                call_line: pos + 1,
                ret_line: None,
                call_time: Some(pos * 1000),
                ret_time: None,
                error: None,
                sent_to: None,
                served_by: None,
            });
            open.push(Pending {
                op: id,
                slot,
                info: rng.gen_bool(p.info_prob),
            });
        } else {
            let pending = open.swap_remove(rng.gen_range(0..open.len()));
            let op = &mut ops[pending.op];
            if pending.info {
                op.outcome = Outcome::Info;
                op.ret_line = Some(pos + 1);
                op.error = Some("timeout".into());
                if rng.gen_bool(0.5) {
                    delayed.push(pending.op);
                }
                process[pending.slot] = next_process;
                next_process += 1;
            } else {
                op.outcome = apply(&mut state, op);
                op.ret = Some(pos);
                op.ret_line = Some(pos + 1);
                op.ret_time = Some(pos * 1000);
            }
            busy[pending.slot] = false;
        }
        // A timed-out op may take effect at any later moment.
        if !delayed.is_empty() && rng.gen_bool(0.1) {
            let id = delayed.swap_remove(rng.gen_range(0..delayed.len()));
            let mut op = ops[id].clone();
            let _ = apply(&mut state, &mut op);
        }
        pos += 1;
    }
    History {
        source: format!("synth(seed {})", p.seed),
        ops,
        ..Default::default()
    }
}

fn choose(
    rng: &mut SmallRng,
    flavor: Flavor,
    state: &HashMap<Option<String>, Value>,
    key: &Option<String>,
    next_value: &mut i64,
) -> (F, Value) {
    let roll = rng.gen_range(0..100);
    let bound = *next_value + 1;
    let mut fresh = || {
        *next_value += 1;
        *next_value - 1
    };
    match flavor {
        Flavor::ReadWrite if roll < 50 => (F::Read, Value::Null),
        Flavor::ReadWrite => (F::Write, Value::Int(fresh())),
        Flavor::Register if roll < 40 => (F::Read, Value::Null),
        Flavor::Register if roll < 70 => (F::Write, Value::Int(fresh())),
        Flavor::Register => {
            let current = state.get(key).cloned().unwrap_or(Value::Null);
            let from = if rng.gen_bool(0.6) && current != Value::Null {
                current
            } else {
                Value::Int(rng.gen_range(0..bound))
            };
            (F::Cas, Value::List(vec![from, Value::Int(fresh())]))
        }
        Flavor::AppendKv if roll < 50 => (F::Get, Value::Null),
        Flavor::AppendKv if roll < 60 => (F::Put, Value::Str(format!("x{}", fresh()))),
        Flavor::AppendKv => (F::Append, Value::Str(format!("y{} ", fresh()))),
    }
}

/// Applies `op` to the simulated store at this instant; returns its outcome.
fn apply(state: &mut HashMap<Option<String>, Value>, op: &mut Op) -> Outcome {
    let cell = state.entry(op.key.clone()).or_insert(Value::Null);
    match op.f {
        F::Read => Outcome::Ok(cell.clone()),
        F::Get => Outcome::Ok(Value::Str(match &*cell {
            Value::Str(s) => s.clone(),
            _ => String::new(),
        })),
        F::Write | F::Put => {
            *cell = op.input.clone();
            Outcome::Ok(op.input.clone())
        }
        F::Append => {
            let old = match &*cell {
                Value::Str(s) => s.clone(),
                _ => String::new(),
            };
            *cell = Value::Str(format!("{old}{}", op.input.as_str().unwrap_or("")));
            Outcome::Ok(op.input.clone())
        }
        F::Cas => match op.input.as_list() {
            Some([from, to]) if from == cell => {
                *cell = to.clone();
                Outcome::Ok(op.input.clone())
            }
            _ => Outcome::Fail,
        },
        _ => Outcome::Fail,
    }
}

/// Single-key cas-register, 100 ops, 5 clients, ~15-20 `info` ops (open to the end, so all
/// concurrent), each op taking effect at a random point inside its interval (bench case 1).
pub fn cas_register(seed: u64) -> History {
    crate::keysim::simulate(
        crate::keysim::KeySim {
            keys: 0,
            ops_per_key: 100,
            clients: 5,
            info_prob: 0.2,
            seed,
        },
        format!("synth cas-register (seed {seed})"),
    )
}

/// append-kv, 2,000 ops, 50 clients, 10 keys (bench case 2).
pub fn append_kv(seed: u64) -> History {
    generate(Params {
        ops: 2_000,
        clients: 50,
        keys: 10,
        info_prob: 0.01,
        flavor: Flavor::AppendKv,
        seed,
    })
}

/// kv with read/write/cas, 1,000,000 ops over 1,000 keys, 10 clients per key, ~0.1% `info`,
/// random linearization points; keys are simulated in parallel (bench case 3).
pub fn big_kv(seed: u64) -> History {
    crate::keysim::simulate(
        crate::keysim::KeySim {
            keys: 1_000,
            ops_per_key: 1_000,
            clients: 10,
            info_prob: 0.001,
            seed,
        },
        format!("synth big kv (seed {seed})"),
    )
}

/// A single-key read/write/cas register history with random linearization points: `ops` ops
/// by `clients` clients, each timing out with probability `info_prob`. Valid by construction.
pub fn random_register(ops: usize, clients: usize, info_prob: f64, seed: u64) -> History {
    crate::keysim::simulate(
        crate::keysim::KeySim {
            keys: 0,
            ops_per_key: ops,
            clients,
            info_prob,
            seed,
        },
        format!("synth register (seed {seed})"),
    )
}

/// Turns one ok read into a stale read: it returns a value that was overwritten before the
/// read began. Returns false if the history has no such opportunity.
pub fn inject_stale_read(history: &mut History) -> bool {
    let ops = &history.ops;
    for r in (0..ops.len()).rev() {
        let read = &ops[r];
        if read.f != F::Read || !matches!(read.outcome, Outcome::Ok(_)) {
            continue;
        }
        // Two ok writes to the key, both complete before the read is called.
        let done: Vec<&Op> = ops
            .iter()
            .filter(|w| {
                w.f == F::Write
                    && w.key == read.key
                    && w.outcome != Outcome::Fail
                    && w.ret.is_some_and(|t| t < read.call)
            })
            .collect();
        if let [.., older, newer] = done.as_slice() {
            if older.ret < Some(newer.call) && Outcome::Ok(older.input.clone()) != read.outcome {
                // Everything else between must not rewrite `older`'s value: values are distinct.
                let stale = older.input.clone();
                history.ops[r].outcome = Outcome::Ok(stale);
                return true;
            }
        }
    }
    false
}
