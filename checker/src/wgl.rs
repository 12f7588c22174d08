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
//! soonest goes first), and a legal op that the model declares read-only (it leaves every state
//! unchanged) is placed without alternatives. Of candidates the model cannot tell apart (equal
//! function, input and outcome), only the first is tried. All three keep the search close to
//! linear on the histories real systems produce.
//!
//! `info` ops have their return at the end of time; when the first return left is such a
//! return, every `ok` op is linearised and the rest may simply never have happened: valid.
//!
//! No recursion: the stack is an explicit `Vec`. A budget (deadline; the bytes that memo, states
//! and stack really hold, summed over every search running under the same budget; a stop flag
//! raised once another part was found invalid) is checked every [`BUDGET_CHECK_STEPS`] steps
//! and ends the search with `Unknown`.

use crate::model::Model;
use histories::{Op, Outcome};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod opset;
mod twins;

pub use opset::FxHasher;
use opset::{Bits128, Bits256, Fingerprint, OpSet};
use twins::Twins;

/// Steps between two budget checks.
pub const BUDGET_CHECK_STEPS: u64 = 4096;

/// What ends a search early: a deadline, a memory limit shared by every search that runs under
/// the same budget at once (the parts of one history run in parallel), and a flag that stops
/// them all once the answer is known.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Give up after this instant.
    pub deadline: Option<Instant>,
    /// Give up when the searches under this budget together hold more than this many bytes
    /// (memo tables, the states they own on the heap, and the search stacks).
    pub memory_bytes: Option<u64>,
    /// Give up when the searches under this budget have taken this many steps in all (a
    /// deterministic bound, for work whose result must not depend on the machine's speed).
    pub steps_max: Option<u64>,
    /// What the searches under this budget hold now, and whether they were told to stop.
    pub pool: Arc<Pool>,
}

/// The shared side of a [`Budget`].
#[derive(Debug, Default)]
pub struct Pool {
    /// Bytes held by the searches running now.
    pub used: AtomicU64,
    /// Largest `used` seen.
    pub peak: AtomicU64,
    /// Set when the verdict is known (a part is invalid): the others stop.
    pub stop: AtomicBool,
    /// Search steps taken under this budget (counted at budget checks and when a search ends).
    pub steps: AtomicU64,
}

impl Budget {
    /// A budget with these limits and a pool of its own.
    pub fn new(deadline: Option<Instant>, memory_bytes: Option<u64>) -> Budget {
        Budget {
            deadline,
            memory_bytes,
            steps_max: None,
            pool: Arc::default(),
        }
    }

    /// No limits.
    pub fn unlimited() -> Budget {
        Budget::default()
    }

    /// Tells every search under this budget to stop.
    pub fn stop(&self) {
        self.pool.stop.store(true, Ordering::Relaxed);
    }

    /// Was [`Budget::stop`] called?
    pub fn stopped(&self) -> bool {
        self.pool.stop.load(Ordering::Relaxed)
    }

    /// The time left is gone?
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The time or the steps are gone?
    pub fn exhausted(&self) -> bool {
        self.expired()
            || self
                .steps_max
                .is_some_and(|max| self.pool.steps.load(Ordering::Relaxed) >= max)
    }
}

/// Why a search gave up without an answer.
pub const STOPPED: &str = "not searched to the end: the history was already known invalid";

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

type BuildFx = std::hash::BuildHasherDefault<FxHasher>;

type Memo<K, S> = HashSet<(K, S), BuildFx>;

/// One level of the search: the candidates at this configuration and which one is placed.
///
/// Candidates are evaluated lazily, in order, when they are tried: in a correct history the
/// first one usually succeeds, so the states of the others are never built.
struct Frame<S> {
    /// Where this frame's candidate call nodes (best first) start in the search's candidate
    /// pool: they run from there to the next frame's start (or the pool's end). One pool for all
    /// frames, used as a stack, instead of a vector per frame: no allocation per step.
    start: usize,
    /// How many candidates.
    len: usize,
    /// Index among the candidates of the one placed.
    at: usize,
    /// The state before it.
    before: S,
    /// A legal read-only op: placing it first loses no linearization, so it has no
    /// alternatives (docs/decisions.md). The candidates are then that op alone.
    forced: bool,
    /// The op whose return bounds this configuration (for explanations).
    blocking: usize,
    /// Bytes this frame holds (for the memory budget).
    bytes: u64,
}

/// Searches for a linearisation of `ops` (no `fail` ops: the caller drops them).
///
/// At each configuration the *candidates* are the ops called before the first pending return
/// (Wing & Gong's minimal ops). They are tried in the order of their returns, earliest first:
/// the op that must be placed soonest goes first, which is Lowe's just-in-time linearisation
/// as a choice order (a correct system's ops mostly take effect in that order, so the first
/// path usually succeeds). A legal op the model declares read-only ([`Model::read_only`]: it
/// leaves every state unchanged) is placed with no alternatives: moving it to the front of any
/// linearisation of the rest keeps it one. An op that merely leaves *this* state unchanged (a
/// write of the value the register holds) is not: placed now, it could not be placed after a
/// concurrent write, where the rest of the history may need it. Of candidates equal in
/// everything the model's `step` reads, only the one that returns first is tried (see
/// `place`).
///
/// The memo names sets of linearised ops exactly (a 128- or 256-bit bitset) for parts of up to
/// 256 ops. Larger parts use a 128-bit Zobrist fingerprint (no allocation per step): a collision
/// could only prune a configuration wrongly, i.e. turn a valid verdict into an invalid one,
/// never the reverse; so an `Invalid` result there is re-checked with exact bitsets (Lowe's
/// representation) before it is returned.
pub fn search<M: Model>(model: &M, init: M::State, ops: &[&Op], budget: &Budget) -> SearchResult {
    if ops.len() <= 128 {
        return search_with::<M, Bits128>(model, init, ops, budget);
    }
    if ops.len() <= 256 {
        return search_with::<M, Bits256>(model, init, ops, budget);
    }
    match search_with::<M, Fingerprint>(model, init.clone(), ops, budget) {
        SearchResult::Invalid(_) => search_with::<M, Box<[u64]>>(model, init, ops, budget),
        other => other,
    }
}

/// What one search holds, reported to the budget's pool in steps.
struct Held<'a> {
    pool: &'a Pool,
    reported: u64,
    /// Keep the share in the pool after the search ends: a search stopped by the memory limit
    /// leaves what it freed with the allocator of its thread (not returned to the system), so
    /// another part may not take that share again.
    keep: bool,
}

impl Held<'_> {
    /// Reports `now` bytes held; returns what the pool holds in all.
    fn report(&mut self, now: u64) -> u64 {
        let total = if now >= self.reported {
            self.pool
                .used
                .fetch_add(now - self.reported, Ordering::Relaxed)
                + now
                - self.reported
        } else {
            self.pool
                .used
                .fetch_sub(self.reported - now, Ordering::Relaxed)
                - (self.reported - now)
        };
        self.reported = now;
        self.pool.peak.fetch_max(total, Ordering::Relaxed);
        total
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.pool.used.fetch_sub(self.reported, Ordering::Relaxed);
        }
    }
}

/// The search itself, for one representation `K` of the memo's op sets. Long (about 155
/// lines) because it is the hot loop: placing a candidate, backtracking, the memo and the
/// budget checks read and change the same list, stack and memo, and split into functions
/// they would pass all of them on every step.
fn search_with<M: Model, K: OpSet>(
    model: &M,
    init: M::State,
    ops: &[&Op],
    budget: &Budget,
) -> SearchResult {
    debug_assert!(ops.iter().all(|o| o.outcome != Outcome::Fail));
    let mut list = List::new(ops);
    let mut linearized = K::empty(ops.len());
    let mut memo: Memo<K, M::State> = HashSet::default();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut pool: Vec<usize> = Vec::new();
    // `Model::read_only` depends on the op alone: asked once per op, not once per step.
    let read_only: Vec<bool> = ops.iter().map(|o| model.read_only(o)).collect();
    let twins = Twins::new(model, ops);
    let mut state = init;
    let mut steps = 0u64;
    // Backtracking also counts steps, so the check is on a threshold, not a multiple.
    let mut next_check = BUDGET_CHECK_STEPS;
    let mut counted = 0u64;
    let mut best = Stuck::default();
    let mut best_depth = 0usize;
    // A memo entry: the table's slot (key, state, one control byte), what the key and the
    // state own on the heap, counted as they are inserted.
    let slot_bytes = std::mem::size_of::<(K, M::State)>() as u64 + 1;
    let state_bytes = std::mem::size_of::<Frame<M::State>>() as u64;
    let mut memo_heap = 0u64;
    let mut frame_bytes = 0u64;
    let mut held = Held {
        pool: &budget.pool,
        reported: 0,
        keep: false,
    };
    loop {
        steps += 1;
        if steps >= next_check {
            next_check = steps + BUDGET_CHECK_STEPS;
            budget
                .pool
                .steps
                .fetch_add(steps - counted, Ordering::Relaxed);
            counted = steps;
            let table = memo.capacity() as u64 * slot_bytes * 8 / 7;
            let total = held.report(table + memo_heap + frame_bytes);
            if let Some(reason) = spent(budget, total) {
                held.keep = budget.memory_bytes.is_some_and(|limit| total > limit);
                return SearchResult::Unknown(reason);
            }
        }
        // The candidates here: calls before the first return still in the list.
        let mut entry = list.nodes[0].next;
        let start = pool.len();
        while entry != NONE && list.nodes[entry].is_call {
            pool.push(entry);
            entry = list.nodes[entry].next;
        }
        if entry == NONE || ops[list.nodes[entry].op].ret.is_none() {
            // Every ok op is placed; the info ops left may never have happened.
            budget
                .pool
                .steps
                .fetch_add(steps - counted, Ordering::Relaxed);
            return SearchResult::Valid;
        }
        let blocking = list.nodes[entry].op;
        pool[start..].sort_unstable_by_key(|&c| list.nodes[c].partner);
        // A legal read-only candidate goes first, alone.
        let mut forced_next = None;
        for &c in &pool[start..] {
            let op = list.nodes[c].op;
            if read_only[op] {
                if let Some(next) = model.step(&state, ops[op]) {
                    forced_next = Some((c, next));
                    break;
                }
            }
        }
        if let Some((c, _)) = forced_next {
            pool.truncate(start);
            pool.push(c);
        }
        let len = pool.len() - start;
        let bytes = (len as u64) * 8 + state_bytes + model.heap_bytes(&state);
        let mut frame = Frame {
            start,
            len,
            at: 0,
            // Moved, not cloned: `state` is set again when a candidate is placed, and until
            // then the frame's copy is the state of this configuration.
            before: state,
            forced: forced_next.is_some(),
            blocking,
            bytes,
        };
        let mut first = forced_next.map(|(_, next)| next);
        // Place the first candidate whose configuration is new; else backtrack.
        loop {
            // A memo about to grow allocates a table twice the size while the old one is alive:
            // that allocation must fit in the budget before it is made.
            if !frame.forced && memo.len() == memo.capacity() {
                let table = memo.capacity() as u64 * slot_bytes * 8 / 7;
                let grown = (memo.capacity().max(16) as u64 * 2) * slot_bytes * 8 / 7;
                let total = held.report(table + memo_heap + frame_bytes);
                if let Some(reason) = spent(budget, total + grown) {
                    held.keep = budget
                        .memory_bytes
                        .is_some_and(|limit| total + grown > limit);
                    return SearchResult::Unknown(reason);
                }
            }
            let placed = if frame.forced {
                first.take()
            } else {
                let cands = Cands {
                    pool: &pool,
                    twins: &twins,
                    list: &list,
                };
                place(model, ops, &mut frame, cands, &linearized, &mut memo)
            };
            if let Some(next) = placed {
                if !frame.forced {
                    memo_heap += linearized.bytes() + model.heap_bytes(&next);
                }
                let call = pool[frame.start + frame.at];
                linearized.toggle(list.nodes[call].op);
                state = next;
                list.lift(call);
                frame_bytes += frame.bytes;
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
                    .map(|f| list.nodes[pool[f.start + f.at]].op)
                    .collect();
                if best.states.len() < 16 {
                    best.states.insert(model.describe(&frame.before));
                }
            }
            // Backtrack through forced frames to the last real choice.
            loop {
                let Some(prev) = stack.pop() else {
                    budget
                        .pool
                        .steps
                        .fetch_add(steps - counted, Ordering::Relaxed);
                    return SearchResult::Invalid(best);
                };
                let call = pool[prev.start + prev.at];
                pool.truncate(prev.start + prev.len);
                linearized.toggle(list.nodes[call].op);
                list.unlift(call);
                frame_bytes = frame_bytes.saturating_sub(prev.bytes);
                if prev.forced {
                    continue;
                }
                frame = prev;
                frame.at += 1;
                break;
            }
            steps += 1;
        }
    }
}

/// What [`place`] reads about the candidates: the pool they sit in, the list that names their
/// ops, and which ops are interchangeable.
#[derive(Clone, Copy)]
struct Cands<'a> {
    pool: &'a [usize],
    twins: &'a Twins,
    list: &'a List,
}

/// Tries the candidates from `frame.at` on: the first that is legal from `frame.before` and
/// whose resulting configuration is not in the memo is recorded there; returns its state
/// (`frame.at` then names it).
///
/// A candidate interchangeable with one before it in the frame (same class, so the same effect
/// from every state, and a return no earlier) is skipped: whatever completes the configuration
/// with it first also completes it with the earlier one first, which was tried
/// (docs/decisions.md, "Interchangeable candidates").
fn place<M: Model, K: OpSet>(
    model: &M,
    ops: &[&Op],
    frame: &mut Frame<M::State>,
    cands: Cands<'_>,
    linearized: &K,
    memo: &mut Memo<K, M::State>,
) -> Option<M::State> {
    let Cands { pool, twins, list } = cands;
    let mine = &pool[frame.start..frame.start + frame.len];
    while frame.at < frame.len {
        let op = list.nodes[mine[frame.at]].op;
        let twin = twins.any
            && mine[..frame.at]
                .iter()
                .any(|&c| twins.class[list.nodes[c].op] == twins.class[op]);
        if !twin {
            if let Some(next) = model.step(&frame.before, ops[op]) {
                let mut set = linearized.clone();
                set.toggle(op);
                if memo.insert((set, next.clone())) {
                    return Some(next);
                }
            }
        }
        frame.at += 1;
    }
    None
}

fn spent(budget: &Budget, held_bytes: u64) -> Option<String> {
    if budget.stopped() {
        return Some(STOPPED.to_string());
    }
    if let Some(max) = budget.steps_max {
        if budget.pool.steps.load(Ordering::Relaxed) >= max {
            return Some(format!("step limit reached ({max} steps)"));
        }
    }
    if budget.expired() {
        return Some("time limit reached".to_string());
    }
    match budget.memory_bytes {
        Some(limit) if held_bytes > limit => Some(format!(
            "memory limit reached (the searches held ~{} MiB of memo tables, states and stacks)",
            held_bytes >> 20
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
