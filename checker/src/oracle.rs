//! stateright's `LinearizabilityTester` as a second opinion (`--engine stateright`) and as the
//! reference oracle of our property tests.
//!
//! Events are replayed in their recorded order: `on_invoke` per invoke, `on_return` per `ok`
//! completion; `fail` ops are left out (they did not happen) and `info` ops stay in flight,
//! which stateright treats as "may or may not have taken effect". Its search enumerates
//! interleavings without memoisation, so parts are limited to [`ORACLE_OPS_MAX`] ops.

use crate::report::{KeyResult, Report, Verdict};
use crate::wgl::SearchResult;
use crate::Options;
use histories::{History, Op, Outcome, Value, F};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::time::Instant;

/// Largest part the stateright engine is given.
pub const ORACLE_OPS_MAX: usize = 14;

/// A cas-register as a stateright `SequentialSpec`.
#[derive(Clone, Debug, PartialEq)]
pub struct CasRegister(pub Value);

/// Operations of [`CasRegister`].
#[derive(Clone, Debug, PartialEq)]
pub enum RegOp {
    /// Read.
    Read,
    /// Write.
    Write(Value),
    /// Compare-and-set.
    Cas(Value, Value),
}

/// Returns of [`CasRegister`]; `ReadOk(Value::Unknown)` matches any value.
#[derive(Clone, Debug, PartialEq)]
pub enum RegRet {
    /// The value read.
    ReadOk(Value),
    /// Write done.
    WriteOk,
    /// Cas done.
    CasOk,
    /// Cas refused.
    CasFail,
}

impl SequentialSpec for CasRegister {
    type Op = RegOp;
    type Ret = RegRet;

    fn invoke(&mut self, op: &RegOp) -> RegRet {
        match op {
            RegOp::Read => RegRet::ReadOk(self.0.clone()),
            RegOp::Write(v) => {
                self.0 = v.clone();
                RegRet::WriteOk
            }
            RegOp::Cas(from, to) if *from == self.0 => {
                self.0 = to.clone();
                RegRet::CasOk
            }
            RegOp::Cas(..) => RegRet::CasFail,
        }
    }

    fn is_valid_step(&mut self, op: &RegOp, ret: &RegRet) -> bool {
        match (op, ret) {
            (RegOp::Read, RegRet::ReadOk(Value::Unknown)) => true,
            _ => &self.invoke(op) == ret,
        }
    }
}

fn reg_op(op: &Op) -> Option<(RegOp, RegRet)> {
    Some(match op.f {
        F::Read => (
            RegOp::Read,
            RegRet::ReadOk(op.ok_value().cloned().unwrap_or(Value::Unknown)),
        ),
        F::Write => (RegOp::Write(op.input.clone()), RegRet::WriteOk),
        F::Cas => match op.input.as_list()? {
            [from, to] => (RegOp::Cas(from.clone(), to.clone()), RegRet::CasOk),
            _ => return None,
        },
        _ => return None,
    })
}

/// Is this part linearizable according to stateright? `None` when the ops are not register ops.
pub fn linearizable(initial: &Value, ops: &[&Op]) -> Option<bool> {
    let mut points: Vec<(u64, bool, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.outcome == Outcome::Fail {
            continue;
        }
        points.push((op.call, false, i));
        if let Some(ret) = op.ret {
            points.push((ret, true, i));
        }
    }
    points.sort_unstable();
    let mut tester = LinearizabilityTester::new(CasRegister(initial.clone()));
    for (_, is_ret, i) in points {
        let (op, ret) = reg_op(ops[i])?;
        let thread = ops[i].process;
        let step = if is_ret {
            tester.on_return(thread, ret)
        } else {
            tester.on_invoke(thread, op)
        };
        if step.is_err() {
            return Some(false);
        }
    }
    Some(tester.is_consistent())
}

/// `faultline check --engine stateright`.
pub fn check(history: &History, opts: &Options) -> Report {
    let started = Instant::now();
    if history.ops.is_empty() {
        return Report::unchecked(history, "none", crate::NO_OPERATIONS.to_string());
    }
    let kind = match crate::resolve_model(history, opts) {
        Ok(k) => k,
        Err(e) => return Report::unchecked(history, "none", e),
    };
    let keys = crate::parts(history, kind, None)
        .into_iter()
        .map(|(key, ops)| {
            let t = Instant::now();
            let result = if ops.len() > ORACLE_OPS_MAX {
                SearchResult::Unknown(format!(
                    "more than {ORACLE_OPS_MAX} ops: too large for the stateright engine"
                ))
            } else {
                match linearizable(&opts.initial, &ops) {
                    Some(true) => SearchResult::Valid,
                    Some(false) => SearchResult::Invalid(Default::default()),
                    None => SearchResult::Unknown(format!(
                        "the stateright engine checks read, write and cas ops; {} has others",
                        kind.name()
                    )),
                }
            };
            let mut r = KeyResult::new(key, &ops, result, t.elapsed());
            r.algorithm = "stateright".into();
            r
        })
        .collect();
    let mut report = Report::from_keys(history, kind, keys, started.elapsed());
    if report.verdict == Verdict::Invalid {
        report
            .unknown_reasons
            .push("stateright gives no counterexample; run --engine fast for one".into());
    }
    report
}
