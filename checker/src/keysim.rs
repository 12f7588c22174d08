//! Per-key simulation of a linearizable register with *random linearization points*, the
//! engine of [`crate::synth::cas_register`] and [`crate::synth::big_kv`].
//!
//! Each key is simulated on its own (its clients, its register), with its own seed derived
//! from the history's seed, so keys are generated in parallel and the result is still
//! deterministic. Between two events any open op may take effect (its linearization point is
//! uniform-ish inside its interval); a completing op that has not yet taken effect does so
//! just before it completes. An `info` op that has not taken effect when it times out takes
//! effect later at a random moment, or never. Written values are distinct per key, so
//! [`crate::synth::inject_stale_read`] can plant a known violation.
//!
//! The keys' timelines are interleaved (`global = local * keys + key`) and then renumbered
//! densely, so event positions and lines are `0..events` as in a recorded file.

use histories::{History, Op, Outcome, Value, F};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// Parameters of [`simulate`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeySim {
    /// Keys (`0`: one unkeyed register).
    pub keys: usize,
    /// Ops per key.
    pub ops_per_key: usize,
    /// Concurrent clients per key.
    pub clients: usize,
    /// Probability that an op times out (`info`).
    pub info_prob: f64,
    /// Seed.
    pub seed: u64,
}

/// One op of one key, in local time.
struct Local {
    process: u64,
    f: F,
    input: Value,
    outcome: Outcome,
    call: u64,
    ret: Option<u64>,
    /// When an `info` op's completion was recorded.
    info_at: Option<u64>,
    error: bool,
}

struct Open {
    op: usize,
    effect: Option<Outcome>,
    info: bool,
}

fn apply(state: &mut Value, f: F, input: &Value) -> Outcome {
    match f {
        F::Read => Outcome::Ok(state.clone()),
        F::Write => {
            *state = input.clone();
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

/// The ops of key `index`, simulated on their own (keys are independent, so they run in
/// parallel). One event loop of about 85 lines: invocations, effects, completions and
/// timeouts share the key's clients, pending ops and state, in an order the seed fixes.
fn one_key(p: KeySim, index: usize) -> Vec<Local> {
    let seed = p.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ops: Vec<Local> = Vec::with_capacity(p.ops_per_key);
    let mut open: Vec<Open> = Vec::new();
    let mut delayed: Vec<usize> = Vec::new();
    let mut state = Value::Null;
    let mut written: Vec<i64> = Vec::new();
    let mut next_value = 1i64;
    let mut free: Vec<u64> = (0..p.clients.max(1) as u64).collect();
    let mut next_process = free.len() as u64;
    let mut t = 0u64;
    while ops.len() < p.ops_per_key || !open.is_empty() {
        // Open ops may take effect now (their linearization points).
        for o in open.iter_mut() {
            if o.effect.is_none() && rng.gen_bool(0.3) {
                let op = &ops[o.op];
                o.effect = Some(apply(&mut state, op.f, &op.input));
            }
        }
        if !delayed.is_empty() && rng.gen_bool(0.2) {
            let i = delayed.swap_remove(rng.gen_range(0..delayed.len()));
            let _ = apply(&mut state, ops[i].f, &ops[i].input);
        }
        let can_invoke = ops.len() < p.ops_per_key && !free.is_empty();
        if can_invoke && (open.is_empty() || rng.gen_bool(0.5)) {
            let process = free.swap_remove(rng.gen_range(0..free.len()));
            let roll = rng.gen_range(0..100);
            let (f, input) = if roll < 45 {
                (F::Read, Value::Null)
            } else {
                let v = next_value;
                next_value += 1;
                written.push(v);
                if roll < 80 {
                    (F::Write, Value::Int(v))
                } else {
                    let from = if rng.gen_bool(0.6) || written.len() < 2 {
                        state.clone()
                    } else {
                        Value::Int(written[rng.gen_range(0..written.len() - 1)])
                    };
                    (F::Cas, Value::List(vec![from, Value::Int(v)]))
                }
            };
            open.push(Open {
                op: ops.len(),
                effect: None,
                info: rng.gen_bool(p.info_prob),
            });
            ops.push(Local {
                process,
                f,
                input,
                outcome: Outcome::Info,
                call: t,
                ret: None,
                info_at: None,
                error: false,
            });
        } else if !open.is_empty() {
            let o = open.swap_remove(rng.gen_range(0..open.len()));
            let op = &mut ops[o.op];
            if o.info {
                op.error = true;
                op.info_at = Some(t);
                if o.effect.is_none() && rng.gen_bool(0.5) {
                    delayed.push(o.op);
                }
                free.push(next_process);
                next_process += 1;
            } else {
                op.outcome = match o.effect {
                    Some(e) => e,
                    None => apply(&mut state, op.f, &op.input),
                };
                op.ret = Some(t);
                free.push(op.process);
            }
        }
        t += 1;
    }
    ops
}

/// Generates the history.
pub(crate) fn simulate(p: KeySim, source: String) -> History {
    let parts = p.keys.max(1);
    let per_key: Vec<Vec<Local>> = (0..parts).into_par_iter().map(|i| one_key(p, i)).collect();
    let k = parts as u64;
    // Renumber the interleaved positions densely.
    let span = per_key
        .iter()
        .flat_map(|ops| ops.iter().map(|o| o.ret.or(o.info_at).unwrap_or(o.call)))
        .max()
        .map_or(0, |t| (t + 1) * k) as usize;
    let mut rank = vec![0u32; span + 1];
    for (i, ops) in per_key.iter().enumerate() {
        for o in ops {
            rank[(o.call * k) as usize + i] = 1;
            if let Some(r) = o.ret.or(o.info_at) {
                rank[(r * k) as usize + i] = 1;
            }
        }
    }
    let mut n = 0u32;
    for r in rank.iter_mut() {
        let occupied = *r;
        *r = n;
        n += occupied;
    }
    let mut ops: Vec<Op> = Vec::with_capacity(parts * p.ops_per_key);
    for (i, locals) in per_key.into_iter().enumerate() {
        let key = (p.keys > 0).then(|| format!("k{i}"));
        let pid_base = i as u64 * 1_000_000;
        for l in locals {
            let call = rank[(l.call * k) as usize + i] as u64;
            let ret = l.ret.map(|r| rank[(r * k) as usize + i] as u64);
            let done = l
                .ret
                .or(l.info_at)
                .map(|r| rank[(r * k) as usize + i] as u64);
            ops.push(Op {
                id: 0,
                process: pid_base + l.process,
                f: l.f,
                key: key.clone(),
                input: l.input,
                outcome: l.outcome,
                call,
                ret,
                call_line: call + 1,
                ret_line: done.map(|r| r + 1),
                call_time: Some(call * 1_000),
                ret_time: done.map(|r| r * 1_000),
                error: l.error.then(|| "timeout".to_string()),
                sent_to: None,
                served_by: None,
            });
        }
    }
    ops.par_sort_unstable_by_key(|o| o.call);
    for (i, op) in ops.iter_mut().enumerate() {
        op.id = i;
    }
    History {
        source,
        ops,
        ..Default::default()
    }
}
