//! The linearizability search: Wing & Gong (1993) with Lowe's just-in-time linearisation and
//! memoisation (Lowe, "Testing for linearizability", 2017), in the form Porcupine made popular.
//!
//! The history is a doubly linked list of call and return entries in real-time order. At each
//! configuration the candidates are the calls before the first return still in the list (the
//! ops that may go next); placing one *lifts* its call and return out of the list, and
//! backtracking *unlifts* them. If no candidate can be placed, the op of that first return
//! cannot be linearised after this prefix: backtrack. A memo of (set of linearised ops, state)
//! prunes configurations already explored: the key to Lowe's speed-up.
//!
//! Candidates are tried in the order of their returns (just-in-time: the op that must be placed
//! soonest goes first), and a legal op that leaves the state unchanged is placed without
//! alternatives. Both keep the search close to linear on the histories real systems produce.
//!
//! `info` ops have their return at the end of time; when the first return left is such a
//! return, every `ok` op is linearised and the rest may simply never have happened: valid.
//!
//! No recursion: the stack is an explicit `Vec`. A budget (deadline, memory estimate of memo and
//! stack) is checked every [`BUDGET_CHECK_STEPS`] steps and ends the search with `Unknown`.

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

/// A fast, non-cryptographic hasher (FxHash's multiply-rotate) for the memo: the keys are
/// fingerprints, bitsets and model states built by the checker itself, not by an adversary.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

type Memo<K, S> = HashSet<(K, S), std::hash::BuildHasherDefault<FxHasher>>;

/// How the memo names a set of linearised ops.
trait OpSet: Clone + Eq + std::hash::Hash {
    /// The empty set over `n` ops.
    fn empty(n: usize) -> Self;
    /// Adds or removes op `i` (it is a toggle).
    fn toggle(&mut self, i: usize);
    /// Approximate bytes of one memo key.
    fn bytes(&self) -> u64;
}

/// Exact: a bitset (Lowe's and Porcupine's representation).
impl OpSet for Box<[u64]> {
    fn empty(n: usize) -> Self {
        vec![0u64; n.div_ceil(64).max(1)].into()
    }
    fn toggle(&mut self, i: usize) {
        self[i / 64] ^= 1 << (i % 64);
    }
    fn bytes(&self) -> u64 {
        self.len() as u64 * 8 + 16
    }
}

/// A 128-bit Zobrist fingerprint of the set: no allocation, fixed size, updated in O(1).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Fingerprint(u128);

impl OpSet for Fingerprint {
    fn empty(_n: usize) -> Self {
        Fingerprint(0)
    }
    fn toggle(&mut self, i: usize) {
        self.0 ^= zobrist(i);
    }
    fn bytes(&self) -> u64 {
        16
    }
}

/// The Zobrist fingerprint of op `i`.
fn zobrist(i: usize) -> u128 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    ((next() as u128) << 64) | next() as u128
}

/// One level of the search: the candidates at this configuration and which one is placed.
struct Frame<S> {
    /// Candidate call nodes with the state each leads to (legal ones only), best first.
    cands: Vec<(usize, S)>,
    /// Index into `cands` of the one placed.
    at: usize,
    /// The state before it.
    before: S,
    /// A legal state-preserving op: placing it loses nothing, so it has no alternatives.
    forced: bool,
    /// The op whose return bounds this configuration (for explanations).
    blocking: usize,
}

/// Searches for a linearisation of `ops` (no `fail` ops: the caller drops them).
///
/// At each configuration the *candidates* are the ops called before the first pending return
/// (Wing & Gong's minimal ops). They are tried in the order of their returns, earliest first:
/// the op that must be placed soonest goes first, which is Lowe's just-in-time linearisation
/// as a choice order (a correct system's ops mostly take effect in that order, so the first
/// path usually succeeds). A legal op that leaves the state unchanged (a read) is placed with
/// no alternatives: moving it to the front of any linearisation of the rest keeps it one.
///
/// The memo names sets of linearised ops by a 128-bit Zobrist fingerprint (no allocation per
/// step). A fingerprint collision could only prune a configuration wrongly, i.e. turn a valid
/// verdict into an invalid one, never the reverse; so an `Invalid` result is re-checked with
/// exact bitsets (Lowe's representation) before it is returned.
pub fn search<M: Model>(model: &M, init: M::State, ops: &[&Op], budget: Budget) -> SearchResult {
    match search_with::<M, Fingerprint>(model, init.clone(), ops, budget) {
        SearchResult::Invalid(_) => search_with::<M, Box<[u64]>>(model, init, ops, budget),
        other => other,
    }
}

fn search_with<M: Model, K: OpSet>(
    model: &M,
    init: M::State,
    ops: &[&Op],
    budget: Budget,
) -> SearchResult {
    debug_assert!(ops.iter().all(|o| o.outcome != Outcome::Fail));
    let mut list = List::new(ops);
    let mut linearized = K::empty(ops.len());
    let mut memo: Memo<K, M::State> = HashSet::default();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut state = init;
    let mut steps = 0u64;
    let mut best = Stuck::default();
    let mut best_depth = 0usize;
    let state_bytes = std::mem::size_of::<M::State>() as u64 + 48;
    let mut frame_cands: Vec<(usize, M::State)> = Vec::new();
    let mut frame_bytes = 0u64;
    loop {
        steps += 1;
        if steps.is_multiple_of(BUDGET_CHECK_STEPS) {
            let bytes = memo.len() as u64 * (linearized.bytes() + state_bytes) + frame_bytes;
            if let Some(reason) = spent(&budget, bytes) {
                return SearchResult::Unknown(reason);
            }
        }
        // The candidates here: calls before the first return still in the list.
        frame_cands.clear();
        let mut entry = list.nodes[0].next;
        let mut raw: Vec<usize> = Vec::new();
        while entry != NONE && list.nodes[entry].is_call {
            raw.push(entry);
            entry = list.nodes[entry].next;
        }
        let blocking = if entry == NONE {
            return SearchResult::Valid;
        } else if ops[list.nodes[entry].op].ret.is_none() {
            // Only info ops remain: they may never have happened.
            return SearchResult::Valid;
        } else {
            list.nodes[entry].op
        };
        raw.sort_unstable_by_key(|&c| list.nodes[c].partner);
        let mut forced = None;
        for &c in &raw {
            let op = list.nodes[c].op;
            if let Some(next) = model.step(&state, ops[op]) {
                if next == state {
                    forced = Some((c, next));
                    break;
                }
                frame_cands.push((c, next));
            }
        }
        let (cands, is_forced) = match forced {
            Some(f) => (vec![f], true),
            None => (std::mem::take(&mut frame_cands), false),
        };
        let mut frame = Frame {
            cands,
            at: 0,
            before: state.clone(),
            forced: is_forced,
            blocking,
        };
        // Place the first candidate whose configuration is new; else backtrack.
        loop {
            if let Some(placed) = place(&mut frame, &linearized, &list, &mut memo) {
                let call = frame.cands[placed].0;
                let op = list.nodes[call].op;
                linearized.toggle(op);
                state = frame.cands[placed].1.clone();
                list.lift(call);
                frame_bytes += (frame.cands.len() as u64 + 1) * state_bytes;
                stack.push(frame);
                break;
            }
            // Dead end here: remember the deepest one for explanations.
            if stack.len() >= best_depth {
                if stack.len() > best_depth || best.op != frame.blocking {
                    best.states.clear();
                }
                best_depth = stack.len();
                best.op = frame.blocking;
                best.prefix = stack
                    .iter()
                    .map(|f| list.nodes[f.cands[f.at].0].op)
                    .collect();
                if best.states.len() < 16 {
                    best.states.insert(model.describe(&state));
                }
            }
            // Backtrack through forced frames to the last real choice.
            loop {
                let Some(prev) = stack.pop() else {
                    return SearchResult::Invalid(best);
                };
                let call = prev.cands[prev.at].0;
                let op = list.nodes[call].op;
                linearized.toggle(op);
                list.unlift(call);
                state = prev.before.clone();
                frame_bytes =
                    frame_bytes.saturating_sub((prev.cands.len() as u64 + 1) * state_bytes);
                if !prev.forced {
                    frame = prev;
                    frame.at += 1;
                    break;
                }
            }
            steps += 1;
        }
    }
}

/// Finds, from `frame.at` on, the first candidate whose resulting configuration is not in the
/// memo, records it there, and returns its index.
fn place<S: Clone + Eq + std::hash::Hash, K: OpSet>(
    frame: &mut Frame<S>,
    linearized: &K,
    list: &List,
    memo: &mut Memo<K, S>,
) -> Option<usize> {
    if frame.forced {
        // A forced placement is not memoised: whatever follows it is (the next choice), so a
        // second visit costs one step, and reads are half of a typical history.
        return (frame.at < frame.cands.len()).then_some(frame.at);
    }
    while frame.at < frame.cands.len() {
        let (call, next) = &frame.cands[frame.at];
        let op = list.nodes[*call].op;
        let mut set = linearized.clone();
        set.toggle(op);
        if memo.insert((set, next.clone())) {
            return Some(frame.at);
        }
        frame.at += 1;
    }
    None
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
