//! Seeded history generators.
//!
//! A case starts from a *skeleton*: clients invoke and complete ops in a random interleaving,
//! each completion `ok`, `fail` or `info` (a client whose op ended `info` continues under a
//! fresh process, as its op stays in flight). Each `ok` op then takes effect at a random instant
//! inside its interval, each `info` op at a random instant after its call or never, `fail` ops
//! never; the ops are given their function, input and output at that instant from a simulated
//! store, so the skeleton is linearizable by construction ([`Mode::Truthful`]). Values come from
//! a domain of two or three, so they repeat; writes of the value already held, cas with
//! `from == to`, puts of the current string, appends of the same string and txns writing what
//! the registers hold are all made on purpose. [`Mode::Mutated`] then changes one or two ops
//! (a read's value, a write's value, a failed op made ok, a mutex op's function), which gives
//! histories a little off a valid one, valid or not; [`Mode::Arbitrary`] randomises every
//! output. Same seed, same case.

use super::brute::Model;
use histories::{Op, Outcome, Value, F};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Truthful,
    Mutated,
    Arbitrary,
}

/// One generated history with what is needed to check it.
#[derive(Clone, Debug)]
pub struct Case {
    pub model: Model,
    pub initial: Value,
    pub ops: Vec<Op>,
    pub seed: u64,
    pub mode: Mode,
    /// Per op (by id, as generated): did it take effect in the construction?
    pub effect: Vec<bool>,
}

/// Shape parameters.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub ops: usize,
    pub clients: usize,
    pub p_fail: f64,
    pub p_info: f64,
    /// Most `info` ops in the history.
    pub max_info: usize,
    /// Values are `0..domain`.
    pub domain: i64,
    /// Keys for kv and append-kv.
    pub keys: usize,
    /// Register models: every write (and cas) writes a value never written before, the case
    /// of the checker's polynomial fast path for read/write registers.
    pub fresh: bool,
}

/// Mixes a base seed and an index into a case seed (SplitMix64's finaliser).
pub fn mix(base: u64, index: u64) -> u64 {
    let mut z = base
        .wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One register-model case in six writes distinct values (decided from the seed apart from the
/// case's random stream).
pub fn fresh(model: Model, seed: u64) -> bool {
    matches!(model, Model::Register | Model::CasRegister | Model::Kv)
        && mix(seed, 0xf7e8) < u64::MAX / 6
}

/// A small case (1 to 9 ops) of the model the seed picks, for the brute-force oracle.
pub fn small(seed: u64) -> Case {
    let mut rng = SmallRng::seed_from_u64(seed);
    let model = Model::ALL[rng.gen_range(0..Model::ALL.len())];
    let ops = if rng.gen_bool(0.15) {
        9
    } else {
        rng.gen_range(1..=8)
    };
    let shape = Shape {
        ops,
        clients: rng.gen_range(1..=4),
        p_fail: 0.12,
        p_info: 0.18,
        max_info: 9,
        domain: rng.gen_range(2..=3),
        keys: rng.gen_range(1..=3),
        fresh: fresh(model, seed),
    };
    let mode = match rng.gen_range(0..100) {
        0..=24 => Mode::Truthful,
        25..=79 => Mode::Mutated,
        _ => Mode::Arbitrary,
    };
    generate(model, shape, mode, seed, &mut rng)
}

/// A case of the given model and shape.
pub fn generate(model: Model, shape: Shape, mode: Mode, seed: u64, rng: &mut SmallRng) -> Case {
    let registers = matches!(model, Model::Register | Model::CasRegister | Model::Kv);
    let initial = if registers && rng.gen_bool(0.3) {
        Value::Int(rng.gen_range(0..shape.domain))
    } else {
        Value::Null
    };
    let mut g = Gen {
        model,
        shape,
        rng,
        initial: initial.clone(),
        next: shape.domain,
    };
    let mut ops = g.skeleton();
    let effect = g.fill(&mut ops);
    match mode {
        Mode::Truthful => {}
        Mode::Mutated => {
            for _ in 0..g.rng.gen_range(1..=3) {
                let i = g.rng.gen_range(0..ops.len());
                g.mutate(&mut ops[i]);
            }
        }
        Mode::Arbitrary => {
            for op in &mut ops {
                if g.rng.gen_bool(0.7) {
                    g.mutate(op);
                }
            }
        }
    }
    Case {
        model,
        initial,
        ops,
        seed,
        mode,
        effect,
    }
}

struct Gen<'a> {
    model: Model,
    shape: Shape,
    rng: &'a mut SmallRng,
    initial: Value,
    /// The next fresh value.
    next: i64,
}

/// The simulated store: a cell per key (`None` for a single register; the mutex is `Bool`).
type Store = BTreeMap<Option<Value>, Value>;

const TEXTS: [&str; 4] = ["", "a", "b", "ab"];

impl Gen<'_> {
    /// Intervals, processes and outcome kinds; functions and values come later.
    fn skeleton(&mut self) -> Vec<Op> {
        let clients = self.shape.clients.max(1);
        let mut busy = vec![false; clients];
        let mut process: Vec<u64> = (0..clients as u64).collect();
        let mut next_process = clients as u64;
        let mut open: Vec<(usize, usize)> = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        let mut infos = 0;
        let mut pos = 0u64;
        while ops.len() < self.shape.ops || !open.is_empty() {
            let can_invoke = ops.len() < self.shape.ops && busy.iter().any(|b| !b);
            if can_invoke && (open.is_empty() || self.rng.gen_bool(0.5)) {
                let free: Vec<usize> = (0..clients).filter(|&i| !busy[i]).collect();
                let slot = free[self.rng.gen_range(0..free.len())];
                busy[slot] = true;
                open.push((ops.len(), slot));
                ops.push(Op {
                    id: ops.len(),
                    process: process[slot],
                    f: F::Read,
                    key: None,
                    input: Value::Null,
                    outcome: Outcome::Ok(Value::Null),
                    call: pos,
                    ret: None,
                    call_line: pos + 1,
                    ret_line: None,
                    call_time: None,
                    ret_time: None,
                    error: None,
                    sent_to: None,
                    served_by: None,
                });
            } else {
                let (id, slot) = open.swap_remove(self.rng.gen_range(0..open.len()));
                let op = &mut ops[id];
                op.ret_line = Some(pos + 1);
                let roll: f64 = self.rng.gen();
                if roll < self.shape.p_info && infos < self.shape.max_info {
                    infos += 1;
                    op.outcome = Outcome::Info;
                    op.error = Some("timeout".into());
                    process[slot] = next_process;
                    next_process += 1;
                } else {
                    op.ret = Some(pos);
                    if roll < self.shape.p_info + self.shape.p_fail {
                        op.outcome = Outcome::Fail;
                    }
                }
                busy[slot] = false;
            }
            pos += 1;
        }
        ops
    }

    /// Gives every op its function, key, input and output, simulating the store at the
    /// instant each op takes effect.
    fn fill(&mut self, ops: &mut [Op]) -> Vec<bool> {
        let end = ops
            .iter()
            .map(|o| o.ret_line.unwrap_or(0))
            .max()
            .unwrap_or(0) as f64;
        let mut effects: Vec<(f64, usize)> = Vec::new();
        let mut never: Vec<usize> = Vec::new();
        for op in ops.iter() {
            let call = op.call as f64;
            let at = match (&op.outcome, op.ret) {
                (Outcome::Ok(_), Some(ret)) => {
                    Some(self.rng.gen_range(call + 0.01..ret as f64 - 0.01))
                }
                (Outcome::Info, _) if self.rng.gen_bool(0.5) => {
                    Some(self.rng.gen_range(call + 0.01..end + 1.0))
                }
                _ => None,
            };
            match at {
                Some(t) => effects.push((t, op.id)),
                None => never.push(op.id),
            }
        }
        effects.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut store = Store::new();
        let mut effect = vec![false; ops.len()];
        for (_, id) in effects {
            self.choose(&store, &mut ops[id]);
            effect[id] = self.run(&mut store, &mut ops[id]);
        }
        for id in never {
            let scratch = store.clone();
            self.choose(&scratch, &mut ops[id]);
            if let Outcome::Ok(_) = ops[id].outcome {
                unreachable!("ok ops take effect");
            }
        }
        effect
    }

    /// A value of the domain (with fresh values: one written so far, or the next).
    fn value(&mut self) -> Value {
        if self.shape.fresh {
            return Value::Int(self.rng.gen_range(0..=self.next));
        }
        Value::Int(self.rng.gen_range(0..self.shape.domain))
    }

    fn fresh_value(&mut self) -> Value {
        self.next += 1;
        Value::Int(self.next - 1)
    }

    fn key(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.rng.gen_range(0..self.shape.keys.max(1)))
    }

    fn cell(&self, store: &Store, key: Option<Value>) -> Value {
        let default = match self.model {
            Model::AppendKv => Value::Str(String::new()),
            Model::MultiRegister => Value::Null,
            Model::Mutex => Value::Bool(false),
            _ => self.initial.clone(),
        };
        store.get(&key).cloned().unwrap_or(default)
    }

    /// Picks the op's function, key and input; `store` is the state where it takes effect,
    /// used to write the current value on purpose.
    fn choose(&mut self, store: &Store, op: &mut Op) {
        let roll = self.rng.gen_range(0..100);
        match self.model {
            Model::Register | Model::CasRegister | Model::Kv => {
                if self.model == Model::Kv {
                    op.key = Some(self.key("k"));
                }
                let current = self.cell(store, op.key.clone().map(Value::Str));
                let cas = self.model != Model::Register;
                if roll < 38 {
                    op.f = F::Read;
                    op.input = Value::Null;
                } else if roll < 70 || !cas {
                    op.f = F::Write;
                    op.input = if self.shape.fresh {
                        self.fresh_value()
                    } else if self.rng.gen_bool(0.3) && current != Value::Null {
                        current
                    } else {
                        self.value()
                    };
                } else {
                    op.f = F::Cas;
                    let from = if self.rng.gen_bool(0.55) {
                        current
                    } else {
                        self.value()
                    };
                    let to = if self.shape.fresh {
                        self.fresh_value()
                    } else if self.rng.gen_bool(0.25) {
                        from.clone()
                    } else {
                        self.value()
                    };
                    op.input = Value::List(vec![from, to]);
                }
            }
            Model::AppendKv => {
                op.key = Some(self.key(""));
                let current = self.cell(store, op.key.clone().map(Value::Str));
                if roll < 40 {
                    op.f = F::Get;
                    op.input = Value::Null;
                } else if roll < 65 {
                    op.f = F::Put;
                    op.input = if self.rng.gen_bool(0.3) {
                        current
                    } else {
                        Value::Str(TEXTS[self.rng.gen_range(0..TEXTS.len())].into())
                    };
                } else {
                    op.f = F::Append;
                    let s = if self.rng.gen_bool(0.05) {
                        ""
                    } else {
                        ["a", "b"][self.rng.gen_range(0..2)]
                    };
                    op.input = Value::Str(s.into());
                }
            }
            Model::MultiRegister => {
                op.f = F::Txn;
                let long = self.rng.gen_bool(0.5);
                let mut sim = store.clone();
                let mut micro = Vec::new();
                for _ in 0..self.rng.gen_range(1..=3) {
                    let k = Value::Str(["x", "y"][self.rng.gen_range(0..2)].into());
                    let current = self.cell(&sim, Some(k.clone()));
                    if self.rng.gen_bool(0.5) {
                        let v = if self.rng.gen_bool(0.3) && current != Value::Null {
                            current
                        } else {
                            self.value()
                        };
                        sim.insert(Some(k.clone()), v.clone());
                        let f = if long { "write" } else { "w" };
                        micro.push(Value::List(vec![Value::Str(f.into()), k, v]));
                    } else {
                        let f = if long { "read" } else { "r" };
                        micro.push(Value::List(vec![Value::Str(f.into()), k, Value::Null]));
                    }
                }
                op.input = Value::List(micro);
            }
            Model::Mutex => {
                let held = self.cell(store, None) == Value::Bool(true);
                op.f = if held == (roll < 90) {
                    F::Release
                } else {
                    F::Acquire
                };
                op.input = Value::Null;
            }
        }
    }

    /// Applies a chosen op to the store and sets its output; an op that cannot take effect
    /// there (a cas whose `from` differs, a mutex op of the wrong kind) fails, or stays `info`.
    fn run(&mut self, store: &mut Store, op: &mut Op) -> bool {
        let key = match self.model {
            Model::Kv | Model::AppendKv => op.key.clone().map(Value::Str),
            _ => None,
        };
        let current = self.cell(store, key.clone());
        let unknown = self.rng.gen_bool(0.08);
        let ok = matches!(op.outcome, Outcome::Ok(_));
        let mut took = true;
        let output = match op.f {
            F::Read if unknown => Value::Unknown,
            F::Read => current,
            F::Get if unknown => Value::Unknown,
            F::Get if current == Value::Str(String::new()) && self.rng.gen_bool(0.5) => Value::Null,
            F::Get => current,
            F::Write | F::Put => {
                store.insert(key, op.input.clone());
                op.input.clone()
            }
            F::Append => {
                let s = format!(
                    "{}{}",
                    current.as_str().unwrap_or(""),
                    op.input.as_str().unwrap_or("")
                );
                store.insert(key, Value::Str(s));
                op.input.clone()
            }
            F::Cas => {
                let pair = op.input.as_list().expect("cas pair").to_vec();
                if pair[0] == current {
                    store.insert(key, pair[1].clone());
                } else {
                    took = false;
                    if ok {
                        op.outcome = Outcome::Fail;
                    }
                }
                op.input.clone()
            }
            F::Txn => {
                let mut out = Vec::new();
                for m in op.input.as_list().expect("micro-ops").to_vec() {
                    let [f, k, v] = m.as_list().expect("micro-op") else {
                        unreachable!()
                    };
                    let k = Some(k.clone());
                    if matches!(f.as_str(), Some("w" | "write")) {
                        store.insert(k, v.clone());
                        out.push(m.clone());
                    } else {
                        let read = if self.rng.gen_bool(0.05) {
                            Value::Unknown
                        } else {
                            self.cell(store, k.clone())
                        };
                        let mut m = m.as_list().unwrap().to_vec();
                        m[2] = read;
                        out.push(Value::List(m));
                    }
                }
                Value::List(out)
            }
            F::Acquire | F::Release => {
                let held = current == Value::Bool(true);
                if held == (op.f == F::Release) {
                    store.insert(None, Value::Bool(!held));
                } else {
                    took = false;
                    if ok {
                        op.outcome = Outcome::Fail;
                    }
                }
                Value::Null
            }
        };
        if let Outcome::Ok(v) = &mut op.outcome {
            *v = output;
        }
        took
    }

    /// A random change to one op (its output, input, function or a fail made ok).
    fn mutate(&mut self, op: &mut Op) {
        if op.outcome == Outcome::Fail && self.rng.gen_bool(0.3) {
            op.outcome = Outcome::Ok(op.input.clone());
        }
        let observable = matches!(op.outcome, Outcome::Ok(_));
        match op.f {
            F::Read if observable => {
                let v = match self.rng.gen_range(0..10) {
                    0 => Value::Null,
                    1 => Value::Unknown,
                    _ => self.value(),
                };
                op.outcome = Outcome::Ok(v);
            }
            F::Get if observable => {
                let v = match self.rng.gen_range(0..12) {
                    0 => Value::Null,
                    1 => Value::Unknown,
                    i => Value::Str(
                        ["", "a", "b", "ab", "ba", "aa", "bb", "aab", "abb", "abab"][i - 2].into(),
                    ),
                };
                op.outcome = Outcome::Ok(v);
            }
            F::Read | F::Get => {}
            F::Write => {
                op.input = self.value();
                self.echo(op);
            }
            F::Put | F::Append => {
                op.input = Value::Str(TEXTS[self.rng.gen_range(0..TEXTS.len())].into());
                self.echo(op);
            }
            F::Cas => {
                let to = self.value();
                let from = if self.rng.gen_bool(0.5) {
                    to.clone()
                } else {
                    self.value()
                };
                op.input = Value::List(vec![from, to]);
                self.echo(op);
            }
            F::Txn => {
                let mut micro = match &op.outcome {
                    Outcome::Ok(Value::List(l)) => l.clone(),
                    _ => op.input.as_list().expect("micro-ops").to_vec(),
                };
                let i = self.rng.gen_range(0..micro.len());
                let mut m = micro[i].as_list().expect("micro-op").to_vec();
                m[2] = if self.rng.gen_bool(0.1) {
                    Value::Null
                } else {
                    self.value()
                };
                let write = matches!(m[0].as_str(), Some("w" | "write"));
                micro[i] = Value::List(m.clone());
                if write {
                    // The input and the output agree on what is written.
                    let mut input = op.input.as_list().expect("micro-ops").to_vec();
                    input[i] = Value::List(m);
                    op.input = Value::List(input);
                }
                if let Outcome::Ok(v) = &mut op.outcome {
                    *v = Value::List(micro);
                }
            }
            F::Acquire => op.f = F::Release,
            F::Release => op.f = F::Acquire,
        }
    }

    /// An ok write-like op returns its input.
    fn echo(&mut self, op: &mut Op) {
        if let Outcome::Ok(v) = &mut op.outcome {
            *v = op.input.clone();
        }
    }
}
