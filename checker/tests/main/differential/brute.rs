//! Oracle 1: brute force over every linearization.
//!
//! The reference semantics are written here from the definitions, without the checker's models:
//! one `apply` per model, a total function from a state and an op to the next state, or `None`
//! when the op cannot happen there with the output it returned. The search enumerates every
//! order of the non-`fail` ops that respects real time (`a` before `b` when `a` returned before
//! `b` was called), where each `info` op is either placed somewhere after its call or left out
//! (it never happened). No memoisation, no per-key split, no shortcut: exponential, meant for
//! histories of up to about nine ops.

use histories::{Op, Outcome, Value, F};
use std::collections::BTreeMap;

/// The models under test, as the test names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    Register,
    CasRegister,
    Kv,
    AppendKv,
    MultiRegister,
    Mutex,
}

impl Model {
    pub const ALL: [Model; 6] = [
        Model::Register,
        Model::CasRegister,
        Model::Kv,
        Model::AppendKv,
        Model::MultiRegister,
        Model::Mutex,
    ];

    /// The checker's name of the model.
    pub fn name(self) -> &'static str {
        match self {
            Model::Register => "register",
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
            Model::AppendKv => "append-kv",
            Model::MultiRegister => "multi-register",
            Model::Mutex => "mutex",
        }
    }

    pub fn by_name(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A state of any model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// register, cas-register: the value held.
    Reg(Value),
    /// kv: the keys written so far (others hold the initial value).
    Kv(BTreeMap<String, Value>),
    /// append-kv: the strings of the keys written so far (others are "").
    Text(BTreeMap<String, String>),
    /// multi-register: the registers written so far (others are null).
    Multi(BTreeMap<Value, Value>),
    /// mutex: held?
    Mutex(bool),
}

pub fn init(model: Model, initial: &Value) -> State {
    match model {
        Model::Register | Model::CasRegister => State::Reg(initial.clone()),
        Model::Kv => State::Kv(BTreeMap::new()),
        Model::AppendKv => State::Text(BTreeMap::new()),
        Model::MultiRegister => State::Multi(BTreeMap::new()),
        Model::Mutex => State::Mutex(false),
    }
}

/// The value an `ok` op returned, if it constrains anything (`Unknown` constrains nothing,
/// neither does the output of an `info` op).
fn observed(op: &Op) -> Option<&Value> {
    match &op.outcome {
        Outcome::Ok(Value::Unknown) => None,
        Outcome::Ok(v) => Some(v),
        _ => None,
    }
}

/// One register step: read, write, or (with `cas`) compare-and-set.
fn register_step(cell: &Value, op: &Op, cas: bool) -> Option<Value> {
    match op.f {
        F::Read => match observed(op) {
            Some(v) if v != cell => None,
            _ => Some(cell.clone()),
        },
        F::Write => Some(op.input.clone()),
        F::Cas if cas => {
            let pair = op.input.as_list()?;
            if pair.len() != 2 || &pair[0] != cell {
                return None;
            }
            Some(pair[1].clone())
        }
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// The next state, or `None` if `op` cannot take effect in `state` with its output.
pub fn apply(model: Model, initial: &Value, state: &State, op: &Op) -> Option<State> {
    match (model, state) {
        (Model::Register, State::Reg(v)) => register_step(v, op, false).map(State::Reg),
        (Model::CasRegister, State::Reg(v)) => register_step(v, op, true).map(State::Reg),
        (Model::Kv, State::Kv(map)) => {
            let key = op.key.clone()?;
            let cell = map.get(&key).unwrap_or(initial);
            let next = register_step(cell, op, true)?;
            let mut map = map.clone();
            map.insert(key, next);
            Some(State::Kv(map))
        }
        (Model::AppendKv, State::Text(map)) => {
            let key = op.key.clone()?;
            let current = map.get(&key).map(String::as_str).unwrap_or("");
            let next = match op.f {
                F::Get => {
                    if let Some(v) = observed(op) {
                        if text_of(v)? != current {
                            return None;
                        }
                    }
                    return Some(state.clone());
                }
                F::Put => text_of(&op.input)?,
                F::Append => format!("{current}{}", text_of(&op.input)?),
                _ => return None,
            };
            let mut map = map.clone();
            map.insert(key, next);
            Some(State::Text(map))
        }
        (Model::MultiRegister, State::Multi(map)) => {
            if op.f != F::Txn {
                return None;
            }
            // An ok txn's output carries the values read; otherwise the input has the micro-ops.
            let (micro, reads_count): (&[Value], bool) = match &op.outcome {
                Outcome::Ok(Value::List(out)) => (out, true),
                _ => (op.input.as_list()?, false),
            };
            let mut map = map.clone();
            for m in micro.iter() {
                let [f, k, v] = m.as_list()? else {
                    return None;
                };
                match f.as_str()? {
                    "read" | "r" => {
                        let current = map.get(k).unwrap_or(&Value::Null);
                        if reads_count && *v != Value::Unknown && v != current {
                            return None;
                        }
                    }
                    "write" | "w" => {
                        map.insert(k.clone(), v.clone());
                    }
                    _ => return None,
                }
            }
            Some(State::Multi(map))
        }
        (Model::Mutex, State::Mutex(held)) => match op.f {
            F::Acquire if !held => Some(State::Mutex(true)),
            F::Release if *held => Some(State::Mutex(false)),
            _ => None,
        },
        _ => None,
    }
}

/// Is the history linearizable? `ops` in any order; `fail` ops are ignored.
pub fn linearizable(model: Model, initial: &Value, ops: &[Op]) -> bool {
    let live: Vec<&Op> = ops.iter().filter(|o| o.outcome != Outcome::Fail).collect();
    assert!(live.len() <= 64, "brute force takes at most 64 ops");
    // before[b]: the ops that returned before b was called, which must be placed before b.
    let before: Vec<u64> = live
        .iter()
        .map(|b| {
            live.iter()
                .enumerate()
                .filter(|(_, a)| matches!(a.ret, Some(r) if r < b.call))
                .fold(0u64, |m, (i, _)| m | 1 << i)
        })
        .collect();
    // Every ok op must be placed; an info op may be, or not.
    let required = live
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o.outcome, Outcome::Ok(_)))
        .fold(0u64, |m, (i, _)| m | 1 << i);
    let search = Search {
        model,
        initial,
        live: &live,
        before: &before,
        required,
    };
    search.dfs(0, &init(model, initial))
}

struct Search<'a> {
    model: Model,
    initial: &'a Value,
    live: &'a [&'a Op],
    before: &'a [u64],
    required: u64,
}

impl Search<'_> {
    fn dfs(&self, placed: u64, state: &State) -> bool {
        if placed & self.required == self.required {
            return true;
        }
        for (i, op) in self.live.iter().enumerate() {
            let bit = 1u64 << i;
            if placed & bit != 0 || self.before[i] & !placed != 0 {
                continue;
            }
            if let Some(next) = apply(self.model, self.initial, state, op) {
                if self.dfs(placed | bit, &next) {
                    return true;
                }
            }
        }
        false
    }
}
