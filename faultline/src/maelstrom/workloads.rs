//! Maelstrom's workloads beyond `lin-kv`: `broadcast`, `g-counter` and `unique-ids`, run
//! against Maelstrom nodes through their relays, recorded in `history.jsonl` and checked.
//!
//! The clients speak bare Maelstrom bodies to a relay's client port (the relay wraps them in
//! envelopes from the connection's client id). Every op is recorded as it happens, in the same
//! event schema as `lin-kv` histories (`type`, `process`, `time`, `f`, `value`, `node`,
//! `error`), with Maelstrom's function names: `broadcast` (value: the message), `read` (ok:
//! the messages, or the counter), `add` (the delta), `generate` (ok: the id). A process that
//! gets no answer (`info`) is retired, as in `lin-kv`. Error replies with a definite code
//! (1, 10, 11, 12, 14, 20, 21, 22, 30) are `fail`; any other error, a timeout or a lost
//! connection is `info`.
//!
//! **The final phase.** After the final heal and the settle time, every node is read until it
//! shows what the checks need (every acknowledged broadcast; a counter within its bounds),
//! every 250 ms, for at most the final-read budget, or until every node has answered and
//! no answer has changed for [`QUIET`] (nothing is moving). Those reads are recorded like any other;
//! the checks tell them apart by time: they are invoked after the `heal-all` nemesis event.
//!
//! **The checks** ([`check`]):
//! - `broadcast`: every acknowledged message is in every node's last final read (a missing
//!   one is a lost message, named with when, where and by whom it was sent); no read ever
//!   returns a message that was never broadcast, or one whose broadcast had not yet been
//!   invoked when the read completed. Figures as Maelstrom prints them: stable latency (for
//!   each acknowledged message, the time from its broadcast's invocation to the invocation of
//!   the last read, on any node, that did not contain it; 0 when every read after it did) at
//!   quantiles 0, 0.5, 0.95, 0.99 and 1, and server-to-server messages per op (the relays
//!   count every message a node sends to another node).
//! - `g-counter`: every node's last final read lies between the sum of acknowledged adds and
//!   that plus the sum of adds of unknown outcome; no read at any time exceeds the sum of all
//!   adds invoked before it completed, not counting those that definitely failed.
//! - `unique-ids`: no id is returned twice.
//!
//! A check with nothing to check (no acknowledged op, or a node without a final read) is
//! `unknown`, never `valid`.

use crate::clients::adapter::Connector;
use crate::clients::recorder::Recorder;
use crate::clients::workload::{Workload, WorkloadKind};
use anyhow::{bail, Context, Result};
use checker::Verdict;
use histories::EventType;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The final phase stops early once no node's read has changed for this long.
pub const QUIET: Duration = Duration::from_secs(5);

/// The topology sent to broadcast nodes (Maelstrom's `--topology`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Nodes on a square grid, each linked to its neighbours above, below, left and right.
    #[default]
    Grid,
    /// A line: n1 - n2 - ... - nN.
    Line,
    /// A tree in which every node has up to 2 children.
    #[value(alias = "tree")]
    Tree2,
    /// A tree in which every node has up to 3 children.
    Tree3,
    /// A tree in which every node has up to 4 children.
    Tree4,
    /// Every node linked to every other.
    Total,
}

impl Topology {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Grid => "grid",
            Topology::Line => "line",
            Topology::Tree2 => "tree2",
            Topology::Tree3 => "tree3",
            Topology::Tree4 => "tree4",
            Topology::Total => "total",
        }
    }

    /// Each node's neighbours (symmetric: b is a neighbour of a iff a is one of b).
    pub fn neighbours(self, nodes: &[String]) -> BTreeMap<String, Vec<String>> {
        let n = nodes.len();
        let mut links: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        let mut link = |a: usize, b: usize| {
            if a != b {
                links[a].insert(b);
                links[b].insert(a);
            }
        };
        match self {
            Topology::Grid => {
                let width = (n as f64).sqrt().ceil().max(1.0) as usize;
                for i in 0..n {
                    if (i + 1) % width != 0 && i + 1 < n {
                        link(i, i + 1);
                    }
                    if i + width < n {
                        link(i, i + width);
                    }
                }
            }
            Topology::Line => (1..n).for_each(|i| link(i - 1, i)),
            Topology::Tree2 | Topology::Tree3 | Topology::Tree4 => {
                let k = match self {
                    Topology::Tree2 => 2,
                    Topology::Tree3 => 3,
                    _ => 4,
                };
                (1..n).for_each(|i| link((i - 1) / k, i));
            }
            Topology::Total => {
                for a in 0..n {
                    for b in a + 1..n {
                        link(a, b);
                    }
                }
            }
        }
        nodes
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    id.clone(),
                    links[i].iter().map(|&j| nodes[j].clone()).collect(),
                )
            })
            .collect()
    }
}

/// What one request came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The reply body.
    Ok(Value),
    /// A definite error.
    Fail(String),
    /// No answer, or an error that leaves the outcome open.
    Info(String),
}

/// Error codes that mean the op did not happen (Maelstrom's definite errors).
fn definite(code: i64) -> bool {
    matches!(code, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
}

/// A connection to one node's relay, speaking bare bodies.
pub struct NodeConn {
    node: String,
    addr: SocketAddr,
    connector: Arc<dyn Connector>,
    timeout: Duration,
    conn: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )>,
    next_msg_id: u64,
}

impl NodeConn {
    /// A connection to `node` at `addr`, opened on first use.
    pub fn new(
        node: &str,
        addr: SocketAddr,
        connector: Arc<dyn Connector>,
        timeout: Duration,
    ) -> NodeConn {
        NodeConn {
            node: node.to_string(),
            addr,
            connector,
            timeout,
            conn: None,
            next_msg_id: 1,
        }
    }

    /// The node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Sends `body` (a `msg_id` is added) and waits for its reply, at most the op timeout.
    pub async fn request(&mut self, mut body: Value) -> Reply {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        body["msg_id"] = json!(msg_id);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let sent = match tokio::time::timeout_at(deadline, self.send(&body)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                self.conn = None;
                return Reply::Fail(format!("not sent: {e}"));
            }
            Err(_) => false,
        };
        if !sent {
            self.conn = None;
            return Reply::Fail(format!("not sent within {:?}", self.timeout));
        }
        match tokio::time::timeout_at(deadline, self.receive(msg_id)).await {
            Ok(Ok(reply)) => classify(reply),
            Ok(Err(e)) => {
                self.conn = None;
                Reply::Info(format!("connection lost after sending: {e}"))
            }
            Err(_) => {
                // A late reply must not be taken for the next request's: start afresh.
                self.conn = None;
                Reply::Info(format!("no reply within {:?}", self.timeout))
            }
        }
    }

    async fn send(&mut self, body: &Value) -> std::io::Result<()> {
        if self.conn.is_none() {
            let stream: TcpStream = self.connector.connect(self.addr).await?;
            let (r, w) = stream.into_split();
            self.conn = Some((BufReader::new(r), w));
        }
        let (_, w) = self.conn.as_mut().expect("connected above");
        let mut line = serde_json::to_vec(body)?;
        line.push(b'\n');
        w.write_all(&line).await?;
        w.flush().await
    }

    async fn receive(&mut self, msg_id: u64) -> std::io::Result<Value> {
        let (r, _) = self.conn.as_mut().expect("sent before");
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the relay closed the connection",
                ));
            }
            let Ok(reply) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if reply.get("in_reply_to").and_then(Value::as_u64) == Some(msg_id) {
                return Ok(reply);
            }
        }
    }
}

fn classify(reply: Value) -> Reply {
    if reply.get("type").and_then(Value::as_str) != Some("error") {
        return Reply::Ok(reply);
    }
    let text = reply
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match reply.get("code").and_then(Value::as_i64) {
        Some(code) if definite(code) => Reply::Fail(format!("error {code}: {text}")),
        Some(code) => Reply::Info(format!("error {code}: {text}")),
        None => Reply::Info(format!("error without code: {text}")),
    }
}

/// State the clients of one run share.
pub struct Shared {
    recorder: Arc<Recorder>,
    next_message: AtomicI64,
    next_process: AtomicU64,
}

impl Shared {
    /// Shared state, recording into `recorder`.
    pub fn new(workload: &Workload, recorder: Arc<Recorder>) -> Arc<Shared> {
        Arc::new(Shared {
            recorder,
            next_message: AtomicI64::new(1),
            next_process: AtomicU64::new(workload.concurrency as u64),
        })
    }

    fn fresh_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs one op: records its invoke, sends `body`, records the completion; returns the
    /// reply and what was recorded as the ok value.
    async fn op(
        &self,
        conn: &mut NodeConn,
        process: u64,
        f: &str,
        input: Value,
        body: Value,
        output: impl Fn(&Value) -> Value,
    ) -> Reply {
        let node = conn.node().to_string();
        self.recorder.op(
            EventType::Invoke,
            process,
            f,
            input.clone(),
            Some(&node),
            None,
        );
        let reply = conn.request(body).await;
        match &reply {
            Reply::Ok(body) => {
                let value = if input.is_null() { output(body) } else { input };
                self.recorder
                    .op(EventType::Ok, process, f, value, Some(&node), None);
            }
            Reply::Fail(why) => self.recorder.op(
                EventType::Fail,
                process,
                f,
                input,
                Some(&node),
                Some(why.clone()),
            ),
            Reply::Info(why) => self.recorder.op(
                EventType::Info,
                process,
                f,
                input,
                Some(&node),
                Some(why.clone()),
            ),
        }
        reply
    }

    /// A read of `kind`, recorded.
    async fn read(&self, conn: &mut NodeConn, process: u64, kind: WorkloadKind) -> Reply {
        let field = read_field(kind);
        self.op(
            conn,
            process,
            "read",
            Value::Null,
            json!({"type": "read"}),
            move |b| sorted(b.get(field).cloned().unwrap_or(Value::Null)),
        )
        .await
    }
}

/// The field of a `read_ok` that holds what was read.
fn read_field(kind: WorkloadKind) -> &'static str {
    if kind == WorkloadKind::Broadcast {
        "messages"
    } else {
        "value"
    }
}

/// A broadcast read's messages sorted (any order is allowed; sorted reads are easier to read).
fn sorted(v: Value) -> Value {
    match v {
        Value::Array(mut a) => {
            a.sort_by_key(|x| x.as_i64().unwrap_or(i64::MAX));
            Value::Array(a)
        }
        other => other,
    }
}

/// Connections to every node.
pub fn connections(
    addrs: &[(String, SocketAddr)],
    connector: &Arc<dyn Connector>,
    timeout: Duration,
) -> Vec<NodeConn> {
    addrs
        .iter()
        .map(|(id, addr)| NodeConn::new(id, *addr, Arc::clone(connector), timeout))
        .collect()
}

/// Sends the topology to every node (broadcast only); a node that does not answer
/// `topology_ok` is an error of the run.
pub async fn send_topology(
    conns: &mut [NodeConn],
    topology: Topology,
    nodes: &[String],
) -> Result<()> {
    let neighbours = topology.neighbours(nodes);
    for conn in conns.iter_mut() {
        let mut last = String::new();
        let mut ok = false;
        for _ in 0..5 {
            match conn
                .request(json!({"type": "topology", "topology": neighbours}))
                .await
            {
                Reply::Ok(b) if b.get("type").and_then(Value::as_str) == Some("topology_ok") => {
                    ok = true;
                    break;
                }
                Reply::Ok(b) => last = format!("answered {b}"),
                Reply::Fail(why) | Reply::Info(why) => last = why,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !ok {
            bail!(
                "node {} did not answer the topology with topology_ok ({last}); see its log, \
                 nodes/{}.log",
                conn.node(),
                conn.node()
            );
        }
    }
    Ok(())
}

/// One client slot: ops of the workload at its share of the rate until `stop`.
pub async fn client_loop(
    slot: usize,
    workload: Workload,
    shared: Arc<Shared>,
    mut conns: Vec<NodeConn>,
    mut stop: watch::Receiver<bool>,
) {
    let seed = workload.seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut process = slot as u64;
    let mut pacer = crate::clients::workload::Pacer::new(&workload);
    let n = conns.len().max(1);
    while !*stop.borrow() {
        if !pacer.wait(&mut rng, &mut stop).await {
            break;
        }
        let conn = &mut conns[process as usize % n];
        let read = rng.gen_range(0..100) < workload.read_pct;
        let reply = match workload.kind {
            WorkloadKind::Broadcast if !read => {
                let m = shared.next_message.fetch_add(1, Ordering::Relaxed);
                let body = json!({"type": "broadcast", "message": m});
                shared
                    .op(conn, process, "broadcast", json!(m), body, |_| Value::Null)
                    .await
            }
            WorkloadKind::GCounter if !read => {
                let delta: i64 = rng.gen_range(1..=5);
                let body = json!({"type": "add", "delta": delta});
                shared
                    .op(conn, process, "add", json!(delta), body, |_| Value::Null)
                    .await
            }
            WorkloadKind::UniqueIds => {
                shared
                    .op(
                        conn,
                        process,
                        "generate",
                        Value::Null,
                        json!({"type": "generate"}),
                        |b| b.get("id").cloned().unwrap_or(Value::Null),
                    )
                    .await
            }
            kind => shared.read(conn, process, kind).await,
        };
        if let Reply::Info(_) = reply {
            process = shared.fresh_process();
        }
    }
}

/// The final phase: reads every node every 250 ms until `done` says its last read shows
/// enough, or `budget` is spent. Returns the nodes that never did.
pub async fn final_reads(
    shared: &Shared,
    conns: &mut [NodeConn],
    kind: WorkloadKind,
    budget: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<String> {
    if kind == WorkloadKind::UniqueIds {
        return Vec::new();
    }
    let deadline = Instant::now() + budget;
    let mut pending: Vec<usize> = (0..conns.len()).collect();
    let mut last: HashMap<usize, Value> = HashMap::new();
    let mut changed = Instant::now();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for &i in &pending {
            let process = shared.fresh_process();
            let reply = shared.read(&mut conns[i], process, kind).await;
            match reply {
                Reply::Ok(b) => {
                    let v = sorted(b.get(read_field(kind)).cloned().unwrap_or(Value::Null));
                    if !done(&v) {
                        still.push(i);
                    }
                    if last.get(&i) != Some(&v) {
                        last.insert(i, v);
                        changed = Instant::now();
                    }
                }
                _ => still.push(i),
            }
        }
        pending = still;
        // Done, out of time, or every node answers the same for QUIET: nothing is moving.
        let quiet = last.len() == conns.len() && changed.elapsed() >= QUIET;
        if pending.is_empty() || Instant::now() >= deadline || quiet {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pending
        .into_iter()
        .map(|i| conns[i].node().to_string())
        .collect()
}

/// The clients of a run of one of these workloads.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
    kind: WorkloadKind,
    op_timeout: Duration,
}

impl Running {
    /// Sends the topology (broadcast), then starts `workload.concurrency` client slots; slot
    /// `i` starts as process `i`, and process `p` talks to node `p mod N`.
    pub fn start(
        workload: &Workload,
        op_timeout: Duration,
        rt: &tokio::runtime::Runtime,
        recorder: &Arc<Recorder>,
        addrs: &[(String, SocketAddr)],
        connector: &Arc<dyn Connector>,
    ) -> Result<Running> {
        let nodes: Vec<String> = addrs.iter().map(|(id, _)| id.clone()).collect();
        if workload.kind == WorkloadKind::Broadcast {
            let mut conns = connections(addrs, connector, op_timeout);
            rt.block_on(send_topology(&mut conns, workload.topology, &nodes))?;
        }
        let shared = Shared::new(workload, Arc::clone(recorder));
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..workload.concurrency)
            .map(|slot| {
                rt.spawn(client_loop(
                    slot,
                    workload.clone(),
                    Arc::clone(&shared),
                    connections(addrs, connector, op_timeout),
                    stopped.clone(),
                ))
            })
            .collect();
        Ok(Running {
            stop,
            tasks,
            shared,
            kind: workload.kind,
            op_timeout,
        })
    }

    /// Stops the clients; an op in flight completes or times out first.
    pub fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut self.tasks);
        rt.block_on(async {
            for t in tasks {
                let _ = t.await;
            }
        });
    }

    /// The final phase (see the module docs); returns the nodes whose last read did not show
    /// what the checks need.
    pub fn final_reads(
        &self,
        history: &Path,
        budget: Duration,
        rt: &tokio::runtime::Runtime,
        addrs: &[(String, SocketAddr)],
        connector: &Arc<dyn Connector>,
    ) -> Result<Vec<String>> {
        let so_far = load(history)?;
        let goal = final_goal(&so_far, self.kind);
        let mut conns = connections(addrs, connector, self.op_timeout);
        Ok(rt.block_on(final_reads(
            &self.shared,
            &mut conns,
            self.kind,
            budget,
            goal,
        )))
    }
}

/// A recorded client op, invoke and completion together.
#[derive(Debug, Clone)]
pub struct WOp {
    /// The process.
    pub process: u64,
    /// `broadcast`, `read`, `add`, `generate`.
    pub f: String,
    /// The input (message, delta), or the ok output (messages, counter, id).
    pub value: Value,
    /// ok, fail, info (an op without completion is info).
    pub outcome: EventType,
    /// The node it was sent to.
    pub node: String,
    /// Invoke time, ns since the start.
    pub call: u64,
    /// Completion time (None: never completed).
    pub ret: Option<u64>,
    /// 1-based line of the invoke.
    pub line: u64,
}

/// A workload history as read back from `history.jsonl`.
#[derive(Debug, Clone, Default)]
pub struct WHistory {
    /// The workload named in the header.
    pub kind: Option<WorkloadKind>,
    /// The ops, in invoke order.
    pub ops: Vec<WOp>,
    /// When the final heal was recorded (the final phase starts after it).
    pub heal_all: Option<u64>,
    /// The header's nodes.
    pub nodes: Vec<String>,
    /// The nemesis events.
    pub nemesis: Vec<histories::NemesisEvent>,
    /// The line of a last line cut off by a crash (no newline, not JSON): left out.
    pub torn_line: Option<u64>,
}

/// The workload a history's header names (`"workload":{"name":..}`), if it is not `lin-kv`.
pub fn header_workload(header: &Value) -> Option<WorkloadKind> {
    match header.pointer("/workload/name").and_then(Value::as_str)? {
        "broadcast" => Some(WorkloadKind::Broadcast),
        "g-counter" => Some(WorkloadKind::GCounter),
        "unique-ids" => Some(WorkloadKind::UniqueIds),
        _ => None,
    }
}

/// Reads a workload history; errors name the file, line and field.
pub fn load(path: &Path) -> Result<WHistory> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Parses a workload history's text (`source` names it in errors).
pub fn parse(text: &str, source: &str) -> Result<WHistory> {
    let mut h = WHistory::default();
    let mut open: HashMap<u64, usize> = HashMap::new();
    let count = text.lines().count();
    for (i, line) in text.lines().enumerate() {
        let no = i as u64 + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            // A last line without its newline was cut off by a crash: left out, said.
            Err(_) if i + 1 == count && !text.ends_with('\n') => {
                h.torn_line = Some(no);
                break;
            }
            Err(e) => bail!("{source}:{no}: not a JSON object ({e})"),
        };
        if v.get("faultline").is_some() {
            h.kind = header_workload(&v);
            h.nodes = v
                .get("nodes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            continue;
        }
        let field = |name: &str| {
            v.get(name)
                .with_context(|| format!("{source}:{no}: field `{name}` is missing"))
        };
        let f = field("f")?
            .as_str()
            .with_context(|| format!("{source}:{no}: field `f`: expected a string"))?;
        let time = field("time")?
            .as_u64()
            .with_context(|| format!("{source}:{no}: field `time`: expected ns since the start"))?;
        if v.get("process").and_then(Value::as_str) == Some("nemesis") {
            if f == "heal-all" {
                h.heal_all = Some(time);
            }
            h.nemesis.push(histories::NemesisEvent {
                time: Some(time),
                f: f.to_string(),
                value: v.get("value").cloned().unwrap_or(Value::Null),
                line: no,
            });
            continue;
        }
        let process = field("process")?.as_u64().with_context(|| {
            format!("{source}:{no}: field `process`: expected a number or \"nemesis\"")
        })?;
        let kind = match field("type")?.as_str() {
            Some("invoke") => EventType::Invoke,
            Some("ok") => EventType::Ok,
            Some("fail") => EventType::Fail,
            Some("info") => EventType::Info,
            _ => bail!("{source}:{no}: field `type`: expected invoke, ok, fail or info"),
        };
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if kind == EventType::Invoke {
            if open.contains_key(&process) {
                bail!("{source}:{no}: process {process} invokes while its previous op is open");
            }
            open.insert(process, h.ops.len());
            h.ops.push(WOp {
                process,
                f: f.to_string(),
                value,
                outcome: EventType::Info,
                node: v
                    .get("node")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                call: time,
                ret: None,
                line: no,
            });
        } else {
            let Some(at) = open.remove(&process) else {
                bail!("{source}:{no}: a completion of process {process} without an invoke");
            };
            let op = &mut h.ops[at];
            op.outcome = kind;
            op.ret = Some(time);
            if kind == EventType::Ok {
                op.value = value;
            }
        }
    }
    Ok(h)
}

/// A workload check's result.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    /// The workload.
    pub workload: &'static str,
    /// valid, invalid or unknown.
    pub valid: Verdict,
    /// Op counts: (ok, fail, info) per function.
    pub op_counts: BTreeMap<String, [usize; 3]>,
    /// What is wrong (or why nothing could be checked), one sentence each.
    pub problems: Vec<String>,
    /// Figures (broadcast: stable latency quantiles in ms, messages per op).
    pub figures: BTreeMap<String, f64>,
}

impl WorkloadReport {
    /// The summary's lines for this check.
    pub fn text(&self) -> String {
        let ops: Vec<String> = self
            .op_counts
            .iter()
            .map(|(f, [ok, fail, info])| format!("{f} {ok} ok, {fail} fail, {info} info"))
            .collect();
        let mut s = format!(
            "{}: {} ({})\n",
            self.workload,
            crate::summary::verdict_word(self.valid).to_lowercase(),
            ops.join("; ")
        );
        let f = &self.figures;
        let mut figs = Vec::new();
        if f.contains_key("stable latency p50 ms") {
            let q: Vec<String> = ["p0", "p50", "p95", "p99", "max"]
                .iter()
                .map(|q| format!("{q} {:.0}", f[&format!("stable latency {q} ms")]))
                .collect();
            figs.push(format!("stable latency (ms): {}", q.join(", ")));
        }
        if let Some(v) = f.get("never stable") {
            figs.push(format!(
                "{v:.0} acknowledged message(s) never reached every node"
            ));
        }
        if let Some(v) = f.get("msgs per op") {
            figs.push(format!("server messages per op {v:.2}"));
        }
        if let Some(v) = f.get("acknowledged sum") {
            figs.push(format!("acknowledged adds sum to {v:.0}"));
        }
        if let Some(v) = f.get("duplicate ids") {
            figs.push(format!("{v:.0} duplicate id(s)"));
        }
        if !figs.is_empty() {
            s.push_str(&format!("  {}\n", figs.join("; ")));
        }
        for p in self.problems.iter().take(20) {
            s.push_str(&format!("  {p}\n"));
        }
        if self.problems.len() > 20 {
            s.push_str(&format!("  ... and {} more\n", self.problems.len() - 20));
        }
        s
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// Checks a workload history; `server_messages` is the relays' count of node-to-node messages.
pub fn check(h: &WHistory, kind: WorkloadKind, server_messages: Option<u64>) -> WorkloadReport {
    let mut ops: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for op in &h.ops {
        let c = ops.entry(op.f.clone()).or_default();
        match op.outcome {
            EventType::Ok => c[0] += 1,
            EventType::Fail => c[1] += 1,
            _ => c[2] += 1,
        }
    }
    let mut r = WorkloadReport {
        workload: kind.name(),
        valid: Verdict::Valid,
        op_counts: ops,
        problems: Vec::new(),
        figures: BTreeMap::new(),
    };
    match kind {
        WorkloadKind::Broadcast => check_broadcast(h, &mut r, server_messages),
        WorkloadKind::GCounter => check_counter(h, &mut r),
        WorkloadKind::UniqueIds => check_ids(h, &mut r),
        WorkloadKind::LinKv => {
            r.valid = Verdict::Unknown;
            r.problems
                .push("lin-kv histories are checked for linearizability".into());
        }
    }
    r
}

fn invalid(r: &mut WorkloadReport, why: String) {
    r.valid = Verdict::Invalid;
    r.problems.push(why);
}

fn unknown(r: &mut WorkloadReport, why: String) {
    if r.valid == Verdict::Valid {
        r.valid = Verdict::Unknown;
    }
    r.problems.push(why);
}

/// Each node's last ok read of the final phase.
fn final_reads_of(h: &WHistory) -> BTreeMap<String, &WOp> {
    let after = h.heal_all.unwrap_or(u64::MAX);
    let mut last: BTreeMap<String, &WOp> = BTreeMap::new();
    for op in &h.ops {
        if op.f == "read" && op.outcome == EventType::Ok && op.call >= after {
            last.insert(op.node.clone(), op);
        }
    }
    last
}

fn nodes_of(h: &WHistory) -> Vec<String> {
    if !h.nodes.is_empty() {
        return h.nodes.clone();
    }
    let set: BTreeSet<String> = h.ops.iter().map(|o| o.node.clone()).collect();
    set.into_iter().collect()
}

/// ", during the start-partition at 3.000 s" when a fault was on at `t`, else "".
fn during(h: &WHistory, t: u64) -> String {
    let mut on: Option<&histories::NemesisEvent> = None;
    for e in &h.nemesis {
        if e.time.unwrap_or(0) > t {
            break;
        }
        if e.f.starts_with("start-") {
            on = Some(e);
        } else if e.f.starts_with("stop-") || e.f == "heal-all" {
            on = None;
        }
    }
    match on {
        Some(e) => format!(", during the {} of {}", e.f, secs(e.time.unwrap_or(0))),
        None => String::new(),
    }
}

fn check_broadcast(h: &WHistory, r: &mut WorkloadReport, server_messages: Option<u64>) {
    let sends: HashMap<i64, &WOp> = h
        .ops
        .iter()
        .filter(|o| o.f == "broadcast")
        .filter_map(|o| Some((o.value.as_i64()?, o)))
        .collect();
    let acked: Vec<&WOp> = {
        let mut v: Vec<&WOp> = sends
            .values()
            .copied()
            .filter(|o| o.outcome == EventType::Ok)
            .collect();
        v.sort_by_key(|o| o.call);
        v
    };
    let reads: Vec<&WOp> = h
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == EventType::Ok)
        .collect();
    // Nothing unsent, nothing read before it was sent.
    let mut bad = 0;
    for read in &reads {
        let Some(msgs) = read.value.as_array() else {
            invalid(
                r,
                format!(
                    "read at line {} by {} returned {} where a list of messages was expected",
                    read.line, read.node, read.value
                ),
            );
            continue;
        };
        for m in msgs {
            let sent = m.as_i64().and_then(|m| sends.get(&m));
            let why = match sent {
                None => format!(
                    "read at line {} by {} (ok at {}) returned {m}, which was never broadcast",
                    read.line,
                    read.node,
                    secs(read.ret.unwrap_or(read.call))
                ),
                Some(s) if read.ret.is_some_and(|t| t < s.call) => format!(
                    "read at line {} by {} returned {m} at {}, before its broadcast (line {}) \
                     was invoked at {}",
                    read.line,
                    read.node,
                    secs(read.ret.unwrap_or(0)),
                    s.line,
                    secs(s.call)
                ),
                Some(_) => continue,
            };
            bad += 1;
            if bad <= 10 {
                invalid(r, why);
            }
        }
    }
    if acked.is_empty() {
        unknown(r, "no broadcast was acknowledged: nothing to check".into());
        return;
    }
    // Every acknowledged message on every node at the end.
    let finals = final_reads_of(h);
    for node in nodes_of(h) {
        let Some(read) = finals.get(&node) else {
            unknown(
                r,
                format!("{node} answered no read after the final heal: its messages are unknown"),
            );
            continue;
        };
        let has: BTreeSet<i64> = read
            .value
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let missing: Vec<&&WOp> = acked
            .iter()
            .filter(|s| !has.contains(&s.value.as_i64().unwrap_or(i64::MIN)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let named: Vec<String> = missing
            .iter()
            .take(3)
            .map(|s| {
                format!(
                    "{} (sent to {} at {}{}, line {}, acknowledged)",
                    s.value,
                    s.node,
                    secs(s.call),
                    during(h, s.call),
                    s.line
                )
            })
            .collect();
        invalid(
            r,
            format!(
                "{node} lost {} of {} acknowledged messages: its last read (line {}, at {}) \
                 lacks {}{}",
                missing.len(),
                acked.len(),
                read.line,
                secs(read.call),
                named.join(", "),
                if missing.len() > 3 { ", ..." } else { "" }
            ),
        );
    }
    // Stable latency: from the broadcast's invoke to the last read that missed it, over the
    // messages every node's last read has (the others never became stable).
    let everywhere = |m: i64| {
        finals.values().all(|rd| {
            rd.value
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_i64() == Some(m)))
        })
    };
    let mut latencies: Vec<u64> = Vec::new();
    let mut never = 0;
    for s in &acked {
        let m = s.value.as_i64().unwrap_or(i64::MIN);
        if !everywhere(m) {
            never += 1;
            continue;
        }
        let last_miss = reads
            .iter()
            .filter(|rd| rd.call >= s.call)
            .filter(|rd| {
                !rd.value
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_i64() == Some(m)))
            })
            .map(|rd| rd.call)
            .max();
        latencies.push(last_miss.map_or(0, |t| t - s.call));
    }
    latencies.sort_unstable();
    if never > 0 {
        r.figures.insert("never stable".into(), never as f64);
    }
    for (name, q) in [
        ("stable latency p0 ms", 0.0),
        ("stable latency p50 ms", 0.5),
        ("stable latency p95 ms", 0.95),
        ("stable latency p99 ms", 0.99),
        ("stable latency max ms", 1.0),
    ] {
        if latencies.is_empty() {
            break;
        }
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        r.figures.insert(name.into(), latencies[i] as f64 / 1e6);
    }
    if let Some(n) = server_messages {
        let total = h.ops.len().max(1);
        r.figures
            .insert("msgs per op".into(), n as f64 / total as f64);
    }
}

/// What a counter may read at the end: from the sum of acknowledged adds to that plus the
/// adds of unknown outcome.
fn add_bounds(h: &WHistory) -> (i64, i64) {
    let (mut lower, mut upper) = (0, 0);
    for o in h.ops.iter().filter(|o| o.f == "add") {
        let d = o.value.as_i64().unwrap_or(0);
        match o.outcome {
            EventType::Ok => {
                lower += d;
                upper += d;
            }
            EventType::Info => upper += d,
            _ => {}
        }
    }
    (lower, upper)
}

fn check_counter(h: &WHistory, r: &mut WorkloadReport) {
    let adds: Vec<&WOp> = h.ops.iter().filter(|o| o.f == "add").collect();
    let delta = |o: &WOp| o.value.as_i64().unwrap_or(0);
    let (lower, upper) = add_bounds(h);
    let unsure = upper - lower;
    let reads: Vec<&WOp> = h
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == EventType::Ok)
        .collect();
    if reads.is_empty() {
        unknown(r, "no read was answered: nothing to check".into());
        return;
    }
    let mut bad = 0;
    for read in &reads {
        let Some(v) = read.value.as_i64() else {
            invalid(
                r,
                format!(
                    "read at line {} by {} returned {}, not an integer",
                    read.line, read.node, read.value
                ),
            );
            continue;
        };
        let end = read.ret.unwrap_or(u64::MAX);
        let possible: i64 = adds
            .iter()
            .filter(|a| a.outcome != EventType::Fail && a.call <= end)
            .map(|a| delta(a))
            .sum();
        if v < 0 || v > possible {
            bad += 1;
            if bad <= 10 {
                invalid(
                    r,
                    format!(
                        "read at line {} by {} returned {v} at {}, but the adds invoked by \
                         then, not counting those that failed, sum to {possible}",
                        read.line,
                        read.node,
                        secs(end)
                    ),
                );
            }
        }
    }
    let finals = final_reads_of(h);
    for node in nodes_of(h) {
        let Some(read) = finals.get(&node) else {
            unknown(
                r,
                format!("{node} answered no read after the final heal: its counter is unknown"),
            );
            continue;
        };
        let v = read.value.as_i64().unwrap_or(-1);
        if v < lower || v > upper {
            invalid(
                r,
                format!(
                    "{node}'s last read (line {}, at {}) is {v}, but acknowledged adds sum to \
                     {lower}{}",
                    read.line,
                    secs(read.call),
                    if unsure > 0 {
                        format!(" (up to {upper} with the adds of unknown outcome)")
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
    r.figures.insert("acknowledged sum".into(), lower as f64);
}

fn check_ids(h: &WHistory, r: &mut WorkloadReport) {
    let mut seen: HashMap<String, &WOp> = HashMap::new();
    let mut ok = 0;
    let mut dups = 0;
    for op in h
        .ops
        .iter()
        .filter(|o| o.f == "generate" && o.outcome == EventType::Ok)
    {
        ok += 1;
        if op.value.is_null() {
            invalid(
                r,
                format!("generate at line {} by {} returned no id", op.line, op.node),
            );
            continue;
        }
        let key = op.value.to_string();
        match seen.get(&key) {
            Some(first) => {
                dups += 1;
                if dups <= 10 {
                    invalid(
                        r,
                        format!(
                            "id {key} was returned twice: by {} at {} (line {}) and by {} at {} \
                             (line {})",
                            first.node,
                            secs(first.call),
                            first.line,
                            op.node,
                            secs(op.call),
                            op.line
                        ),
                    );
                }
            }
            None => {
                seen.insert(key, op);
            }
        }
    }
    if ok == 0 {
        unknown(r, "no id was generated: nothing to check".into());
    }
    if dups > 0 {
        r.figures.insert("duplicate ids".into(), dups as f64);
    }
}

/// What the final phase waits for, given the history so far.
pub fn final_goal(h: &WHistory, kind: WorkloadKind) -> Box<dyn Fn(&Value) -> bool + Send> {
    match kind {
        WorkloadKind::Broadcast => {
            let acked: BTreeSet<i64> = h
                .ops
                .iter()
                .filter(|o| o.f == "broadcast" && o.outcome == EventType::Ok)
                .filter_map(|o| o.value.as_i64())
                .collect();
            Box::new(move |v: &Value| {
                let has: BTreeSet<i64> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default();
                acked.is_subset(&has)
            })
        }
        WorkloadKind::GCounter => {
            let (lower, upper) = add_bounds(h);
            Box::new(move |v: &Value| v.as_i64().is_some_and(|x| x >= lower && x <= upper))
        }
        _ => Box::new(|_| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn topologies_are_symmetric_and_connected() {
        for t in [
            Topology::Grid,
            Topology::Line,
            Topology::Tree2,
            Topology::Tree3,
            Topology::Tree4,
            Topology::Total,
        ] {
            for n in 1..=9 {
                let ns = nodes(n);
                let g = t.neighbours(&ns);
                for (a, bs) in &g {
                    assert!(!bs.contains(a), "{t:?} {n}: {a} links itself");
                    for b in bs {
                        assert!(g[b].contains(a), "{t:?} {n}: {a}->{b} not symmetric");
                    }
                }
                let mut seen = BTreeSet::from([ns[0].clone()]);
                let mut todo = vec![ns[0].clone()];
                while let Some(a) = todo.pop() {
                    for b in &g[&a] {
                        if seen.insert(b.clone()) {
                            todo.push(b.clone());
                        }
                    }
                }
                assert_eq!(seen.len(), n, "{t:?} {n}: not connected");
            }
        }
        let g = Topology::Grid.neighbours(&nodes(9));
        assert_eq!(g["n5"], vec!["n2", "n4", "n6", "n8"]);
        assert_eq!(Topology::Line.neighbours(&nodes(3))["n2"], vec!["n1", "n3"]);
        assert_eq!(Topology::Total.neighbours(&nodes(4))["n1"].len(), 3);
    }

    fn history(lines: &[&str]) -> WHistory {
        let mut text =
            String::from(r#"{"faultline":1,"nodes":["n1","n2"],"workload":{"name":"broadcast"}}"#);
        text.push('\n');
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        parse(&text, "h").unwrap()
    }

    const HEAL: &str =
        r#"{"type":"info","process":"nemesis","time":100,"f":"heal-all","value":null}"#;

    fn ev(kind: &str, p: u64, t: u64, f: &str, v: &str, node: &str) -> String {
        format!(
            r#"{{"type":"{kind}","process":{p},"time":{t},"f":"{f}","value":{v},"node":"{node}"}}"#
        )
    }

    #[test]
    fn broadcast_both_ways() {
        let base = [
            ev("invoke", 0, 1, "broadcast", "1", "n1"),
            ev("ok", 0, 2, "broadcast", "1", "n1"),
            ev("invoke", 1, 3, "broadcast", "2", "n2"),
            ev("info", 1, 4, "broadcast", "2", "n2"),
            HEAL.to_string(),
        ];
        let good = [
            ev("invoke", 5, 101, "read", "null", "n1"),
            ev("ok", 5, 102, "read", "[1]", "n1"),
            ev("invoke", 6, 103, "read", "null", "n2"),
            ev("ok", 6, 104, "read", "[1,2]", "n2"),
        ];
        let all: Vec<&str> = base.iter().chain(&good).map(String::as_str).collect();
        let r = check(&history(&all), WorkloadKind::Broadcast, Some(8));
        assert_eq!(r.valid, Verdict::Valid, "{}", r.text());
        assert_eq!(r.figures["msgs per op"], 2.0);
        // n2 loses the acknowledged 1.
        let lost = [
            ev("invoke", 5, 101, "read", "null", "n1"),
            ev("ok", 5, 102, "read", "[1]", "n1"),
            ev("invoke", 6, 103, "read", "null", "n2"),
            ev("ok", 6, 104, "read", "[2]", "n2"),
        ];
        let all: Vec<&str> = base.iter().chain(&lost).map(String::as_str).collect();
        let r = check(&history(&all), WorkloadKind::Broadcast, None);
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(
            r.text().contains("n2 lost 1 of 1 acknowledged"),
            "{}",
            r.text()
        );
        assert!(r.text().contains("sent to n1"), "{}", r.text());
        // A message never sent.
        let forged = [
            ev("invoke", 5, 101, "read", "null", "n1"),
            ev("ok", 5, 102, "read", "[1,9]", "n1"),
            ev("invoke", 6, 103, "read", "null", "n2"),
            ev("ok", 6, 104, "read", "[1]", "n2"),
        ];
        let all: Vec<&str> = base.iter().chain(&forged).map(String::as_str).collect();
        let r = check(&history(&all), WorkloadKind::Broadcast, None);
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(r.text().contains("never broadcast"), "{}", r.text());
        // No final read from n2: unknown, not valid.
        let all: Vec<&str> = base.iter().chain(&good[..2]).map(String::as_str).collect();
        let r = check(&history(&all), WorkloadKind::Broadcast, None);
        assert_eq!(r.valid, Verdict::Unknown, "{}", r.text());
    }

    #[test]
    fn counter_bounds_both_ways() {
        let base = [
            ev("invoke", 0, 1, "add", "3", "n1"),
            ev("ok", 0, 2, "add", "3", "n1"),
            ev("invoke", 1, 3, "add", "4", "n2"),
            ev("info", 1, 4, "add", "4", "n2"),
            ev("invoke", 2, 5, "add", "100", "n2"),
            ev("fail", 2, 6, "add", "100", "n2"),
            HEAL.to_string(),
        ];
        let fin = |a: i64, b: i64| {
            vec![
                ev("invoke", 5, 101, "read", "null", "n1"),
                ev("ok", 5, 102, "read", &a.to_string(), "n1"),
                ev("invoke", 6, 103, "read", "null", "n2"),
                ev("ok", 6, 104, "read", &b.to_string(), "n2"),
            ]
        };
        for (a, b, want) in [
            (3, 7, Verdict::Valid),
            (7, 3, Verdict::Valid),
            (2, 3, Verdict::Invalid),
            (3, 8, Verdict::Invalid),
            (103, 3, Verdict::Invalid),
        ] {
            let tail = fin(a, b);
            let all: Vec<&str> = base.iter().chain(&tail).map(String::as_str).collect();
            let r = check(&history(&all), WorkloadKind::GCounter, None);
            assert_eq!(r.valid, want, "{a} {b}: {}", r.text());
        }
    }

    #[test]
    fn unique_ids_both_ways() {
        let ok = [
            ev("invoke", 0, 1, "generate", "null", "n1"),
            ev("ok", 0, 2, "generate", r#""n1-1""#, "n1"),
            ev("invoke", 1, 3, "generate", "null", "n2"),
            ev("ok", 1, 4, "generate", r#""n2-1""#, "n2"),
        ];
        let all: Vec<&str> = ok.iter().map(String::as_str).collect();
        assert_eq!(
            check(&history(&all), WorkloadKind::UniqueIds, None).valid,
            Verdict::Valid
        );
        let dup = [
            ev("invoke", 0, 1, "generate", "null", "n1"),
            ev("ok", 0, 2, "generate", "1", "n1"),
            ev("invoke", 1, 3, "generate", "null", "n2"),
            ev("ok", 1, 4, "generate", "1", "n2"),
        ];
        let all: Vec<&str> = dup.iter().map(String::as_str).collect();
        let r = check(&history(&all), WorkloadKind::UniqueIds, None);
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(r.text().contains("id 1 was returned twice"), "{}", r.text());
        assert_eq!(
            check(&history(&[]), WorkloadKind::UniqueIds, None).valid,
            Verdict::Unknown
        );
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, want) in [
            (
                "{\"type\":\"ok\",\"process\":1,\"time\":1,\"f\":\"read\"}",
                "without an invoke",
            ),
            (
                "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}",
                "`time`",
            ),
            ("not json\n", "h:1"),
            (
                "{\"type\":\"what\",\"process\":1,\"time\":1,\"f\":\"read\"}",
                "`type`",
            ),
        ] {
            let err = format!("{:#}", parse(text, "h").unwrap_err());
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn definite_errors_fail_and_others_are_info() {
        let r = |s: &str| classify(serde_json::from_str(s).unwrap());
        assert_eq!(
            r(r#"{"type":"error","code":11,"text":"x"}"#),
            Reply::Fail("error 11: x".into())
        );
        assert!(matches!(r(r#"{"type":"error","code":0}"#), Reply::Info(_)));
        assert!(matches!(
            r(r#"{"type":"error","code":1000}"#),
            Reply::Info(_)
        ));
        assert!(matches!(r(r#"{"type":"add_ok"}"#), Reply::Ok(_)));
    }

    proptest::proptest! {
        /// Any text, and any prefix of a real history, parses or fails with a message; never
        /// a panic. A prefix cut inside its last line loses only that line.
        #[test]
        fn the_parser_never_panics(text in ".{0,400}", cut in 0usize..2000) {
            let _ = parse(&text, "h");
            let full = [
                r#"{"faultline":1,"nodes":["n1"],"workload":{"name":"g-counter"}}"#.to_string(),
                ev("invoke", 0, 1, "add", "3", "n1"),
                ev("ok", 0, 2, "add", "3", "n1"),
                HEAL.to_string(),
                ev("invoke", 1, 101, "read", "null", "n1"),
                ev("ok", 1, 102, "read", "3", "n1"),
            ]
            .join("\n");
            let cut = cut.min(full.len());
            if let Ok(h) = parse(&full[..cut], "h") {
                let r = check(&h, WorkloadKind::GCounter, None);
                proptest::prop_assert!(r.valid != Verdict::Invalid, "{}", r.text());
            }
        }
    }
}
