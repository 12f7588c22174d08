//! The generator and the clients: concurrent read/write/cas over a few keys, at a rate.
//!
//! - **Distinct values.** Every value written (by a write or a cas) comes from one global
//!   counter, so no two writes to a key share a value. Checks get the polynomial fast path and
//!   explanations are unambiguous ("read 17" names exactly one write).
//! - **Seeded choices.** Each client slot draws its ops from its own RNG seeded by
//!   `(seed, slot)`, so a seed repeats the same op choices (timing differs, as in Jepsen).
//! - **Processes.** Slot `i` starts as process `i`; after an `info` the process is retired and
//!   the slot continues as the next unused process id (the first is `concurrency`), Jepsen's
//!   convention: an op whose outcome is unknown may still take effect, so its process must
//!   never invoke again.
//! - **Spread clients** ([`ClientMode::Spread`], the default). Process `p` has a home node,
//!   node `p mod N`, as in Jepsen, where each worker is bound to one node: every new op is sent
//!   there first, and a not-leader answer's hint is followed within that op only. So every node
//!   carries traffic, and two nodes that both believe they lead both serve reads and writes,
//!   which is how a split brain shows up in a history. [`ClientMode::Follow`]
//!   (`--clients follow`) keeps the older behaviour for comparison: a client stays with
//!   whichever node last answered it, moving on only after an `info`, so all clients end up
//!   at the leader, and a cut-off old leader that keeps answering keeps them all.
//! - **Recording.** Each op is recorded as invoke + completion the moment it happens; the
//!   recorder flushes every line (see [`crate::clients::recorder`]).

use crate::clients::adapter::{Client, Completion, Invocation, OpKind};
use crate::clients::recorder::Recorder;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A value no client has seen yet.
const UNKNOWN: i64 = i64::MIN;

/// How clients choose the node an op is sent to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ClientMode {
    /// Process `p` sends every new op to node `p mod N` first (Jepsen's binding).
    #[default]
    Spread,
    /// A client stays with the node that last answered it; it moves on only after an `info`.
    Follow,
}

impl ClientMode {
    /// The name on the command line and in the history header.
    pub fn name(self) -> &'static str {
        match self {
            ClientMode::Spread => "spread",
            ClientMode::Follow => "follow",
        }
    }
}

/// What the clients do (Maelstrom's workload names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WorkloadKind {
    /// read/write/cas over keys, checked for linearizability per key (any system).
    #[default]
    LinKv,
    /// Maelstrom's `broadcast`: topology, broadcast and read (Maelstrom nodes).
    Broadcast,
    /// Maelstrom's `g-counter`: add and read (Maelstrom nodes).
    GCounter,
    /// Maelstrom's `unique-ids`: generate (Maelstrom nodes).
    UniqueIds,
}

impl WorkloadKind {
    /// The name on the command line and in the history header.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::LinKv => "lin-kv",
            WorkloadKind::Broadcast => "broadcast",
            WorkloadKind::GCounter => "g-counter",
            WorkloadKind::UniqueIds => "unique-ids",
        }
    }
}

/// Parameters of the client workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Number of concurrent clients.
    pub concurrency: usize,
    /// Target rate of all clients together, ops per second.
    pub rate: f64,
    /// Keys `k1..kN`.
    pub keys: usize,
    /// The seed of the op choices.
    pub seed: u64,
    /// Percentages of reads and writes; the rest are cas.
    pub read_pct: u32,
    /// See `read_pct`.
    pub write_pct: u32,
    /// Where ops are sent first.
    pub clients: ClientMode,
    /// What the clients do.
    pub kind: WorkloadKind,
    /// The topology sent to the nodes (broadcast only).
    pub topology: crate::maelstrom::workloads::Topology,
}

impl Workload {
    /// The key names.
    pub fn key_names(&self) -> Vec<String> {
        (1..=self.keys).map(|i| format!("k{i}")).collect()
    }
}

/// State shared by the clients of one run.
pub struct Shared {
    recorder: Arc<Recorder>,
    keys: Vec<String>,
    next_value: AtomicI64,
    last_value: Vec<AtomicI64>,
    next_process: AtomicU64,
    writes: AtomicBool,
}

impl Shared {
    /// Shared state for `workload`, recording into `recorder`.
    pub fn new(workload: &Workload, recorder: Arc<Recorder>) -> Arc<Shared> {
        Arc::new(Shared {
            recorder,
            keys: workload.key_names(),
            next_value: AtomicI64::new(1),
            last_value: (0..workload.keys)
                .map(|_| AtomicI64::new(UNKNOWN))
                .collect(),
            next_process: AtomicU64::new(workload.concurrency as u64),
            writes: AtomicBool::new(true),
        })
    }

    /// Lets clients issue writes and cas (`true`) or only reads (`false`) from their next op
    /// on; the op choices still follow the seed (a write drawn while writes are off is a read).
    pub fn set_writes(&self, on: bool) {
        self.writes.store(on, Ordering::Relaxed);
    }

    fn generate(&self, rng: &mut SmallRng, workload: &Workload) -> (usize, Invocation) {
        let k = rng.gen_range(0..self.keys.len());
        let roll = rng.gen_range(0..100);
        let kind = if roll < workload.read_pct || !self.writes.load(Ordering::Relaxed) {
            OpKind::Read
        } else if roll < workload.read_pct + workload.write_pct {
            OpKind::Write(self.next_value.fetch_add(1, Ordering::Relaxed))
        } else {
            let known = self.last_value[k].load(Ordering::Relaxed);
            // Cas from the last value anyone saw (it often succeeds), else from a random one.
            let from = if known != UNKNOWN && rng.gen_bool(0.8) {
                known
            } else {
                rng.gen_range(1..self.next_value.load(Ordering::Relaxed).max(2))
            };
            OpKind::Cas(from, self.next_value.fetch_add(1, Ordering::Relaxed))
        };
        let key = self.keys[k].clone();
        (k, Invocation { key, kind })
    }

    fn learn(&self, k: usize, inv: &Invocation, c: &Completion) {
        let value = match (inv.kind, c) {
            (OpKind::Read, Completion::Ok(Some(v))) => *v,
            (OpKind::Write(v), Completion::Ok(_)) | (OpKind::Cas(_, v), Completion::Ok(_)) => v,
            _ => return,
        };
        self.last_value[k].store(value, Ordering::Relaxed);
    }

    /// Runs one op as `process` and records it; returns the completion.
    pub async fn run_op(&self, client: &mut Client, process: u64, inv: &Invocation) -> Completion {
        self.recorder.invoke(process, inv, Some(client.node()));
        let completion = client.invoke(inv).await;
        self.recorder
            .complete(process, inv, &completion, client.last_node());
        completion
    }

    /// A fresh process id, for ops outside the client slots (final reads).
    pub fn fresh_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }
}

/// A client slot's arrivals: exponential gaps, a Poisson process at the slot's share of the
/// rate; behind schedule it does not burst to catch up.
pub struct Pacer {
    mean_gap_s: f64,
    next: Instant,
}

impl Pacer {
    /// The pace of one of `workload.concurrency` slots.
    pub fn new(workload: &Workload) -> Pacer {
        Pacer {
            mean_gap_s: workload.concurrency as f64 / workload.rate.max(0.001),
            next: Instant::now(),
        }
    }

    /// Waits for the next arrival (one draw from `rng`); false when `stop` changed first.
    pub async fn wait(&mut self, rng: &mut SmallRng, stop: &mut watch::Receiver<bool>) -> bool {
        let gap = -self.mean_gap_s * (1.0 - rng.gen::<f64>()).ln();
        self.next += Duration::from_secs_f64(gap.min(self.mean_gap_s * 10.0));
        let now = Instant::now();
        if self.next > now {
            tokio::select! {
                _ = tokio::time::sleep(self.next - now) => true,
                _ = stop.changed() => false,
            }
        } else {
            self.next = now;
            true
        }
    }
}

/// One client slot: generates and runs ops until `stop` turns true.
pub async fn client_loop(
    slot: usize,
    workload: Workload,
    shared: Arc<Shared>,
    mut client: Client,
    mut stop: watch::Receiver<bool>,
) {
    let seed = workload.seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut process = slot as u64;
    let mut pacer = Pacer::new(&workload);
    while !*stop.borrow() {
        if workload.clients == ClientMode::Spread {
            client.set_node(process as usize);
        }
        if !pacer.wait(&mut rng, &mut stop).await {
            break;
        }
        let (k, inv) = shared.generate(&mut rng, &workload);
        let completion = shared.run_op(&mut client, process, &inv).await;
        shared.learn(k, &inv, &completion);
        if let Completion::Info(_) = completion {
            process = shared.fresh_process();
            client.rotate();
        }
    }
}

/// The final phase: read every key once the cluster answers; gives up on a key after `budget`.
///
/// Returns the number of keys read ok. Each attempt is recorded (a failed read is harmless).
pub async fn final_reads(shared: &Shared, client: &mut Client, budget: Duration) -> usize {
    let deadline = Instant::now() + budget;
    let mut done = 0;
    for key in shared.keys.clone() {
        let inv = Invocation {
            key,
            kind: OpKind::Read,
        };
        loop {
            let process = shared.fresh_process();
            match shared.run_op(client, process, &inv).await {
                Completion::Ok(_) => {
                    done += 1;
                    break;
                }
                _ if Instant::now() >= deadline => break,
                _ => {
                    client.rotate();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    done
}
