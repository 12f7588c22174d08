//! Larger histories (50 to 500 ops), checked against what their construction guarantees:
//! generated valid (each op takes effect inside its interval, `info` ops later or never) they
//! are valid; with one planted anomaly at the end they are invalid.
//!
//! The anomaly is two ops run one after the other once every op of the history has returned
//! (`info` ops stay in flight, so they alone may still be linearized between or after them):
//!
//! - register, cas-register, kv (on one key), multi-register (on register `x`): a write of `A`,
//!   then a read of `B`, where `B != A` and no `info` op writes `B` there (no info write of `B`,
//!   no info cas to `B`, no info txn writing `B`). Every `ok` op returned before the write was
//!   called, so it is linearized before the write; between the write and the read only `info`
//!   ops can be, and each of them leaves either `A` or a value other than `B`. So the read of
//!   `B` has no place: invalid whatever the interleaving, repeated values or not. When every
//!   domain value is written by some `info` op, `B` is 7, which no op writes (nor the initial).
//! - append-kv: a put of `"z"`, then an append of `"y"`, then a get returning `"z"` (a lost
//!   append). No other op writes a `z`, so after the append returns every state either starts
//!   with `"zy"` (no put since) or contains no `z` (an info put since): never `"z"`.
//! - mutex: two acquires. After the first the mutex is held; between them only `info` ops can
//!   be placed and, as the generator makes `info` ops acquires only here, none is legal while
//!   held; so the second acquire has no place.

use super::brute::Model;
use super::gen::{self, Case, Mode, Shape};
use histories::{Op, Outcome, Value, F};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Sizes of the large cases: 50 to 500 ops; multi-register up to 200 (one register for all
/// its ops, so no per-key split, and a planted anomaly costs the checker seconds beyond that).
fn sizes(model: Model) -> std::ops::RangeInclusive<usize> {
    match model {
        Model::MultiRegister => 50..=200,
        _ => 50..=500,
    }
}

/// A valid-by-construction history of 50 to 500 ops.
pub fn valid(model: Model, seed: u64) -> Case {
    valid_sized(model, seed, sizes(model))
}

/// The same history with one planted anomaly at the end (see the module's argument).
pub fn planted(model: Model, seed: u64) -> Case {
    planted_sized(model, seed, sizes(model))
}

/// A valid-by-construction history with a number of ops in `size`.
pub fn valid_sized(model: Model, seed: u64, size: std::ops::RangeInclusive<usize>) -> Case {
    let mut rng = SmallRng::seed_from_u64(seed);
    let shape = Shape {
        ops: rng.gen_range(size),
        clients: rng.gen_range(2..=6),
        p_fail: 0.08,
        p_info: 0.03,
        max_info: 6,
        domain: rng.gen_range(2..=3),
        keys: rng.gen_range(1..=3),
        fresh: gen::fresh(model, seed),
    };
    let mut case = gen::generate(model, shape, Mode::Truthful, seed, &mut rng);
    if model == Model::Mutex {
        // Info ops must be acquires only (see the module's argument). An info release that took
        // effect in the construction becomes ok with its return at the end of the history (it
        // took effect inside that interval); one that did not becomes a fail. Every state of
        // the construction is kept, so the history stays valid.
        let mut next = end(&case.ops);
        for (op, &took) in case.ops.iter_mut().zip(&case.effect) {
            if op.outcome == Outcome::Info && op.f == F::Release {
                op.outcome = if took {
                    Outcome::Ok(Value::Null)
                } else {
                    Outcome::Fail
                };
                op.ret = Some(next);
                op.ret_line = Some(next + 1);
                op.error = None;
                next += 1;
            }
        }
        case.ops = super::shrink::renumber(case.ops);
    }
    case
}

fn end(ops: &[Op]) -> u64 {
    ops.iter()
        .map(|o| o.ret.or(o.ret_line.map(|l| l - 1)).unwrap_or(o.call))
        .max()
        .map_or(0, |e| e + 1)
}

fn planted_op(ops: &[Op], f: F, key: Option<String>, input: Value, output: Value, at: u64) -> Op {
    let process = ops.iter().map(|o| o.process).max().map_or(0, |p| p + 1);
    Op {
        id: ops.len(),
        process,
        f,
        key,
        input,
        outcome: Outcome::Ok(output),
        call: at,
        ret: Some(at + 1),
        call_line: at + 1,
        ret_line: Some(at + 2),
        call_time: None,
        ret_time: None,
        error: None,
        sent_to: None,
        served_by: None,
    }
}

/// What `info` ops may leave in the register `key` (single registers: `None`).
fn info_writes(ops: &[Op], model: Model, key: &Option<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.outcome == Outcome::Info) {
        match (model, op.f) {
            (Model::MultiRegister, F::Txn) => {
                for m in op.input.as_list().unwrap_or(&[]) {
                    if let Some([f, k, v]) = m.as_list() {
                        if matches!(f.as_str(), Some("w" | "write")) && Some(k) == key.as_ref() {
                            out.push(v.clone());
                        }
                    }
                }
            }
            (_, F::Write) if op.key.clone().map(Value::Str) == *key => out.push(op.input.clone()),
            (_, F::Cas) if op.key.clone().map(Value::Str) == *key => {
                if let Some([_, to]) = op.input.as_list() {
                    out.push(to.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// [`valid_sized`] with one planted anomaly at the end.
pub fn planted_sized(model: Model, seed: u64, size: std::ops::RangeInclusive<usize>) -> Case {
    let mut case = valid_sized(model, seed, size);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let at = end(&case.ops);
    let push = |case: &mut Case, f, key: Option<String>, input: Value, output: Value, at| {
        let op = planted_op(&case.ops, f, key, input, output, at);
        case.ops.push(op);
    };
    match model {
        Model::Register | Model::CasRegister | Model::Kv | Model::MultiRegister => {
            let key = match model {
                Model::Kv => Some(format!("k{}", rng.gen_range(0..2))),
                _ => None,
            };
            let cell = match model {
                Model::MultiRegister => Some(Value::Str("x".into())),
                _ => key.clone().map(Value::Str),
            };
            let domain: Vec<Value> = (0..3).map(Value::Int).collect();
            let a = domain[rng.gen_range(0..domain.len())].clone();
            let taken = info_writes(&case.ops, model, &cell);
            let free: Vec<Value> = domain
                .iter()
                .filter(|v| **v != a && !taken.contains(v))
                .cloned()
                .collect();
            let b = if free.is_empty() {
                Value::Int(7)
            } else {
                free[rng.gen_range(0..free.len())].clone()
            };
            if model == Model::MultiRegister {
                let x = Value::Str("x".into());
                let w = Value::List(vec![Value::List(vec![
                    Value::Str("w".into()),
                    x.clone(),
                    a,
                ])]);
                let r_in = Value::List(vec![Value::List(vec![
                    Value::Str("r".into()),
                    x.clone(),
                    Value::Null,
                ])]);
                let r_out = Value::List(vec![Value::List(vec![Value::Str("r".into()), x, b])]);
                push(&mut case, F::Txn, None, w.clone(), w, at);
                push(&mut case, F::Txn, None, r_in, r_out, at + 2);
            } else {
                push(&mut case, F::Write, key.clone(), a.clone(), a, at);
                push(&mut case, F::Read, key, Value::Null, b, at + 2);
            }
        }
        Model::AppendKv => {
            let key = Some(rng.gen_range(0..2).to_string());
            let z = Value::Str("z".into());
            let y = Value::Str("y".into());
            push(&mut case, F::Put, key.clone(), z.clone(), z.clone(), at);
            push(&mut case, F::Append, key.clone(), y.clone(), y, at + 2);
            push(&mut case, F::Get, key, Value::Null, z, at + 4);
        }
        Model::Mutex => {
            push(&mut case, F::Acquire, None, Value::Null, Value::Null, at);
            push(
                &mut case,
                F::Acquire,
                None,
                Value::Null,
                Value::Null,
                at + 2,
            );
        }
    }
    case
}
