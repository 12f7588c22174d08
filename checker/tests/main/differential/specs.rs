//! Oracle 2: stateright's `LinearizabilityTester`, with sequential specifications written here
//! (one per model, none shared with the checker).
//!
//! Events are fed in real-time order: `on_invoke` at each call, `on_return` at each `ok`
//! completion. `fail` ops are left out (they did not happen); `info` ops are invoked and never
//! return, which stateright reads as "took effect at some point after the call, or never".
//! A process that had an `info` op never invokes again (the generators give the client a fresh
//! process), as stateright allows one op in flight per thread.

use super::brute::Model;
use histories::{Op, Outcome, Value, F};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum RegOp {
    Read,
    Write(Value),
    Cas(Value, Value),
}

#[derive(Clone, Debug, PartialEq)]
pub enum RegRet {
    /// The value read; `Unknown` matches anything.
    Read(Value),
    Done,
    Refused,
}

/// A register; with `cas`, a cas-register.
#[derive(Clone, Debug)]
pub struct RegSpec {
    value: Value,
    cas: bool,
}

fn reg_invoke(value: &mut Value, cas: bool, op: &RegOp) -> RegRet {
    match op {
        RegOp::Read => RegRet::Read(value.clone()),
        RegOp::Write(v) => {
            *value = v.clone();
            RegRet::Done
        }
        RegOp::Cas(from, to) if cas && from == value => {
            *value = to.clone();
            RegRet::Done
        }
        RegOp::Cas(..) => RegRet::Refused,
    }
}

fn reg_valid(value: &mut Value, cas: bool, op: &RegOp, ret: &RegRet) -> bool {
    if let (RegOp::Read, RegRet::Read(Value::Unknown)) = (op, ret) {
        return true;
    }
    &reg_invoke(value, cas, op) == ret
}

impl SequentialSpec for RegSpec {
    type Op = RegOp;
    type Ret = RegRet;
    fn invoke(&mut self, op: &RegOp) -> RegRet {
        reg_invoke(&mut self.value, self.cas, op)
    }
    fn is_valid_step(&mut self, op: &RegOp, ret: &RegRet) -> bool {
        reg_valid(&mut self.value, self.cas, op, ret)
    }
}

/// Independent cas-registers by key, each starting at `initial`.
#[derive(Clone, Debug)]
pub struct KvSpec {
    initial: Value,
    cells: BTreeMap<String, Value>,
}

impl KvSpec {
    fn cell(&mut self, key: &str) -> &mut Value {
        let initial = &self.initial;
        self.cells
            .entry(key.to_string())
            .or_insert_with(|| initial.clone())
    }
}

impl SequentialSpec for KvSpec {
    type Op = (String, RegOp);
    type Ret = RegRet;
    fn invoke(&mut self, (key, op): &(String, RegOp)) -> RegRet {
        reg_invoke(self.cell(key), true, op)
    }
    fn is_valid_step(&mut self, (key, op): &(String, RegOp), ret: &RegRet) -> bool {
        reg_valid(self.cell(key), true, op, ret)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TextOp {
    Get(String),
    Put(String, String),
    Append(String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TextRet {
    /// The string read; `None`: not learned.
    Got(Option<String>),
    Done,
}

/// 6.824's key-value store: a string per key, "" when missing.
#[derive(Clone, Debug, Default)]
pub struct TextSpec(BTreeMap<String, String>);

impl SequentialSpec for TextSpec {
    type Op = TextOp;
    type Ret = TextRet;
    fn invoke(&mut self, op: &TextOp) -> TextRet {
        match op {
            TextOp::Get(k) => TextRet::Got(Some(self.0.get(k).cloned().unwrap_or_default())),
            TextOp::Put(k, s) => {
                self.0.insert(k.clone(), s.clone());
                TextRet::Done
            }
            TextOp::Append(k, s) => {
                self.0.entry(k.clone()).or_default().push_str(s);
                TextRet::Done
            }
        }
    }
    fn is_valid_step(&mut self, op: &TextOp, ret: &TextRet) -> bool {
        if let (TextOp::Get(_), TextRet::Got(None)) = (op, ret) {
            return true;
        }
        &self.invoke(op) == ret
    }
}

/// A micro-op: write? key, value written.
pub type Micro = (bool, Value, Value);

/// Registers read and written by transactions; missing ones read as null.
#[derive(Clone, Debug, Default)]
pub struct MultiSpec(BTreeMap<Value, Value>);

impl SequentialSpec for MultiSpec {
    type Op = Vec<Micro>;
    /// The values read, in order; `Unknown` matches anything.
    type Ret = Vec<Value>;
    fn invoke(&mut self, op: &Vec<Micro>) -> Vec<Value> {
        let mut reads = Vec::new();
        for (write, k, v) in op {
            if *write {
                self.0.insert(k.clone(), v.clone());
            } else {
                reads.push(self.0.get(k).cloned().unwrap_or(Value::Null));
            }
        }
        reads
    }
    fn is_valid_step(&mut self, op: &Vec<Micro>, ret: &Vec<Value>) -> bool {
        let got = self.invoke(op);
        got.len() == ret.len()
            && got
                .iter()
                .zip(ret)
                .all(|(g, r)| *r == Value::Unknown || g == r)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum LockOp {
    Acquire,
    Release,
}

/// A mutex: held or free.
#[derive(Clone, Debug, Default)]
pub struct LockSpec(bool);

impl SequentialSpec for LockSpec {
    type Op = LockOp;
    /// Did the op succeed?
    type Ret = bool;
    fn invoke(&mut self, op: &LockOp) -> bool {
        let ok = match op {
            LockOp::Acquire => !self.0,
            LockOp::Release => self.0,
        };
        if ok {
            self.0 = !self.0;
        }
        ok
    }
}

fn reg_op(op: &Op) -> RegOp {
    match (op.f, op.input.as_list()) {
        (F::Read, _) => RegOp::Read,
        (F::Write, _) => RegOp::Write(op.input.clone()),
        (F::Cas, Some([from, to])) => RegOp::Cas(from.clone(), to.clone()),
        _ => panic!("not a register op: {op:?}"),
    }
}

fn reg_ret(op: &Op) -> RegRet {
    match (op.f, &op.outcome) {
        (F::Read, Outcome::Ok(v)) => RegRet::Read(v.clone()),
        _ => RegRet::Done,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => s.clone(),
        other => panic!("not a string: {other}"),
    }
}

fn key(op: &Op) -> String {
    op.key.clone().expect("a keyed op")
}

fn micro(list: &Value) -> Vec<(bool, Value, Value)> {
    list.as_list()
        .expect("a txn's micro-ops")
        .iter()
        .map(|m| match m.as_list() {
            Some([f, k, v]) => (
                matches!(f.as_str(), Some("w" | "write")),
                k.clone(),
                v.clone(),
            ),
            _ => panic!("not a micro-op: {m}"),
        })
        .collect()
}

/// Replays `ops` into a tester of `spec`.
fn run<S>(spec: S, ops: &[Op], op_of: impl Fn(&Op) -> S::Op, ret_of: impl Fn(&Op) -> S::Ret) -> bool
where
    S: SequentialSpec + Clone,
    S::Op: Clone + std::fmt::Debug,
    S::Ret: Clone + std::fmt::Debug + PartialEq,
{
    let mut events: Vec<(u64, bool, &Op)> = Vec::new();
    for op in ops {
        match op.outcome {
            Outcome::Fail => {}
            Outcome::Info => events.push((op.call, false, op)),
            Outcome::Ok(_) => {
                events.push((op.call, false, op));
                events.push((op.ret.expect("an ok op returns"), true, op));
            }
        }
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut tester = LinearizabilityTester::new(spec);
    for (_, is_ret, op) in events {
        let r = if is_ret {
            tester.on_return(op.process, ret_of(op)).map(|_| ())
        } else {
            tester.on_invoke(op.process, op_of(op)).map(|_| ())
        };
        r.unwrap_or_else(|e| panic!("stateright rejects the history's shape: {e}"));
    }
    tester.is_consistent()
}

/// stateright's verdict.
pub fn linearizable(model: Model, initial: &Value, ops: &[Op]) -> bool {
    match model {
        Model::Register | Model::CasRegister => run(
            RegSpec {
                value: initial.clone(),
                cas: model == Model::CasRegister,
            },
            ops,
            reg_op,
            reg_ret,
        ),
        Model::Kv => run(
            KvSpec {
                initial: initial.clone(),
                cells: BTreeMap::new(),
            },
            ops,
            |o| (key(o), reg_op(o)),
            reg_ret,
        ),
        Model::AppendKv => run(
            TextSpec::default(),
            ops,
            |o| match o.f {
                F::Get => TextOp::Get(key(o)),
                F::Put => TextOp::Put(key(o), text(&o.input)),
                F::Append => TextOp::Append(key(o), text(&o.input)),
                f => panic!("not an append-kv op: {f}"),
            },
            |o| match (o.f, &o.outcome) {
                (F::Get, Outcome::Ok(Value::Unknown)) => TextRet::Got(None),
                (F::Get, Outcome::Ok(v)) => TextRet::Got(Some(text(v))),
                _ => TextRet::Done,
            },
        ),
        Model::MultiRegister => run(
            MultiSpec::default(),
            ops,
            |o| micro(&o.input),
            |o| match &o.outcome {
                Outcome::Ok(out @ Value::List(_)) => micro(out)
                    .into_iter()
                    .filter(|m| !m.0)
                    .map(|m| m.2)
                    .collect(),
                _ => panic!("an ok txn returns its micro-ops"),
            },
        ),
        Model::Mutex => run(
            LockSpec::default(),
            ops,
            |o| match o.f {
                F::Acquire => LockOp::Acquire,
                F::Release => LockOp::Release,
                f => panic!("not a mutex op: {f}"),
            },
            |_| true,
        ),
    }
}
