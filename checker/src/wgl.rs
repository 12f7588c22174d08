//! The linearizability search: Wing & Gong (1993) with Lowe's just-in-time linearisation and
//! memoisation (Lowe, "Testing for linearizability", 2017), in the form Porcupine made popular.
//!
//! The history is a doubly linked list of call and return entries in real-time order. The
//! search walks it: at a call it tries to linearise that op now (the model must accept it from
//! the current state); a return whose call is not yet linearised means the current prefix is
//! wrong, so it backtracks. Linearised ops are *lifted* out of the list (and put back when
//! backtracking), so the list always holds what is left. A memo of (set of linearised ops,
//! state) prunes configurations already explored: the key to Lowe's speed-up.
//!
//! `info` ops have their return at the end of time; when the walk reaches the first such return
//! every `ok` op is linearised and the rest may simply never have happened: valid.
//!
//! No recursion: the stack is an explicit `Vec`. A budget (deadline, memory estimate) is checked
//! every [`BUDGET_CHECK_STEPS`] steps and ends the search with `Unknown`.

use crate::model::Model;
use histories::{Op, Outcome};
use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

/// Steps between two budget checks.
pub const BUDGET_CHECK_STEPS: u64 = 4096;

/// What ends a search early.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Give up after this instant.
    pub deadline: Option<Instant>,
    /// Give up when the memo is estimated to hold more than this many bytes.
    pub memory_bytes: Option<u64>,
}

/// The result of searching one part of a history.
#[derive(Debug, Clone)]
pub enum SearchResult {
    /// A linearisation exists.
    Valid,
    /// None exists; what the deepest attempt found.
    Invalid(Stuck),
    /// The budget ran out; why.
    Unknown(String),
}

/// Where the deepest attempt got stuck.
#[derive(Debug, Clone, Default)]
pub struct Stuck {
    /// Positions (into the searched slice) of the longest linearisable prefix found, in order.
    pub prefix: Vec<usize>,
    /// The op whose return came before it could be linearised.
    pub op: usize,
    /// States possible just before it (described), at that depth.
    pub states: BTreeSet<String>,
}

#[derive(Clone, Copy)]
struct Node {
    op: usize,
    is_call: bool,
    /// For a call: its return node.
    partner: usize,
    prev: usize,
    next: usize,
}

const NONE: usize = usize::MAX;

/// The linked list of call/return entries, with a sentinel head at index 0.
struct List {
    nodes: Vec<Node>,
}

impl List {
    fn new(ops: &[&Op]) -> List {
        // Sort points by (position, return-before-call at equal positions is impossible since
        // positions are distinct event numbers); info returns go last.
        let mut points: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            points.push((op.call, false, i));
            points.push((op.ret.unwrap_or(u64::MAX), true, i));
        }
        points.sort_unstable();
        let mut nodes = vec![Node {
            op: NONE,
            is_call: false,
            partner: NONE,
            prev: NONE,
            next: NONE,
        }];
        let mut call_node = vec![NONE; ops.len()];
        for &(_, is_ret, op) in &points {
            let idx = nodes.len();
            let prev = idx - 1;
            nodes[prev].next = idx;
            nodes.push(Node {
                op,
                is_call: !is_ret,
                partner: NONE,
                prev,
                next: NONE,
            });
            if is_ret {
                nodes[call_node[op]].partner = idx;
            } else {
                call_node[op] = idx;
            }
        }
        List { nodes }
    }

    /// Removes a call and its return.
    fn lift(&mut self, call: usize) {
        let ret = self.nodes[call].partner;
        for n in [call, ret] {
            let Node { prev, next, .. } = self.nodes[n];
            self.nodes[prev].next = next;
            if next != NONE {
                self.nodes[next].prev = prev;
            }
        }
    }

    /// Puts back what [`List::lift`] removed (in reverse order).
    fn unlift(&mut self, call: usize) {
        let ret = self.nodes[call].partner;
        for n in [ret, call] {
            let Node { prev, next, .. } = self.nodes[n];
            self.nodes[prev].next = n;
            if next != NONE {
                self.nodes[next].prev = n;
            }
        }
    }
}

/// Searches for a linearisation of `ops` (no `fail` ops: the caller drops them).
pub fn search<M: Model>(model: &M, init: M::State, ops: &[&Op], budget: Budget) -> SearchResult {
    debug_assert!(ops.iter().all(|o| o.outcome != Outcome::Fail));
    let words = ops.len().div_ceil(64).max(1);
    let mut list = List::new(ops);
    let mut linearized = vec![0u64; words];
    let mut memo: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut state = init;
    let mut entry = list.nodes[0].next;
    let mut steps = 0u64;
    let mut best = Stuck::default();
    let mut best_depth = 0usize;
    let state_bytes = std::mem::size_of::<M::State>() as u64 + 32;
    loop {
        steps += 1;
        if steps.is_multiple_of(BUDGET_CHECK_STEPS) {
            if let Some(reason) = spent(
                &budget,
                memo.len() as u64 * (words as u64 * 8 + state_bytes),
            ) {
                return SearchResult::Unknown(reason);
            }
        }
        if entry == NONE {
            return SearchResult::Valid;
        }
        let node = list.nodes[entry];
        let mut dead = false;
        if node.is_call {
            let op = ops[node.op];
            if let Some(next) = model.step(&state, op) {
                // An op that leaves the state unchanged (a read) and is legal here can be
                // placed here without loss: every remaining op returns after its call, and the
                // state the others see is the same. So if this choice fails, the whole
                // configuration fails: no need to try the alternatives (`forced`).
                let forced = next == state;
                let mut bits = linearized.clone();
                bits[node.op / 64] |= 1 << (node.op % 64);
                if memo.insert((bits.clone(), next.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, next), forced));
                    linearized = bits;
                    list.lift(entry);
                    entry = list.nodes[0].next;
                    continue;
                }
                dead = forced;
            }
            if !dead {
                entry = node.next;
                continue;
            }
        } else {
            if ops[node.op].ret.is_none() {
                return SearchResult::Valid; // only info ops remain: they may never have happened
            }
            if stack.len() >= best_depth {
                if stack.len() > best_depth || best.op != node.op {
                    best.states.clear();
                }
                best_depth = stack.len();
                best.op = node.op;
                best.prefix = stack.iter().map(|(e, _, _)| list.nodes[*e].op).collect();
                if best.states.len() < 16 {
                    best.states.insert(model.describe(&state));
                }
            }
        }
        // Backtrack: undo the last choice, and keep undoing through forced ones.
        loop {
            let Some((call, previous, forced)) = stack.pop() else {
                return SearchResult::Invalid(best);
            };
            let op = list.nodes[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            state = previous;
            list.unlift(call);
            entry = list.nodes[call].next;
            if !forced {
                break;
            }
        }
    }
}

fn spent(budget: &Budget, memo_bytes: u64) -> Option<String> {
    if let Some(deadline) = budget.deadline {
        if Instant::now() >= deadline {
            return Some("time limit reached".to_string());
        }
    }
    match budget.memory_bytes {
        Some(limit) if memo_bytes > limit => Some(format!(
            "memory limit reached (search memo ~{} MiB)",
            memo_bytes >> 20
        )),
        _ => None,
    }
}

/// Most ops concurrently open at any point (for reports on undecided parts).
pub fn max_concurrency(ops: &[&Op]) -> usize {
    let mut points: Vec<(u64, i32)> = Vec::with_capacity(ops.len() * 2);
    for op in ops {
        points.push((op.call, 1));
        points.push((op.ret.unwrap_or(u64::MAX), -1));
    }
    points.sort_unstable();
    let (mut open, mut max) = (0i32, 0i32);
    for (_, d) in points {
        open += d;
        max = max.max(open);
    }
    max as usize
}
