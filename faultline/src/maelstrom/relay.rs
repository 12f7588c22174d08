//! `faultline relay`: one Maelstrom node behind a relay, inside the node's network namespace.
//!
//! The relay is the process the harness starts for a node, so the nemesis's signals reach it
//! and its node together (one process group: a SIGSTOP pauses both, a SIGKILL ends both; the
//! node also gets `PR_SET_PDEATHSIG`, so it never outlives its relay). What it does:
//!
//! 1. Starts the node's command with pipes on stdin and stdout (stderr is the relay's: the
//!    node's log file) and sends `init` (`node_id`, `node_ids`) from client `c0`. It waits for
//!    `init_ok`; only then does it listen for clients, so the harness's readiness check (a TCP
//!    connect) means "initialised". A restart is a new relay, so a restarted node gets `init`
//!    again, with an empty memory unless it keeps state on disk itself.
//! 2. Routes every line the node writes, by `dest`:
//!    - another node: over TCP to that node's relay (port [`PEER_PORT`]), one connection per
//!      peer, framed as `n <sent_ns> <message>`;
//!    - a client `cK`: to that client's connection if it is connected here, else to the relay
//!      the id belongs to (ids are given out so that `(K - 1) mod N` is the index of the node
//!      whose relay holds the connection), framed `c <sent_ns> <message>`: a reply sent by a
//!      node to which a request was forwarded finds its way back, through the network;
//!    - a service (`lin-kv`, ...): to the harness's services;
//!    - itself: back to its own stdin.
//!
//!    A line that is not a JSON object with a string `dest` is fatal, as in Maelstrom: the
//!    relay says which line it was, stops the node and exits with [`EXIT_GARBAGE`]. A line
//!    that is a leader event (`{"event":...}` without `dest`) is copied to the relay's stdout,
//!    the node's log, where the election-safety check reads it.
//! 3. Clients connect on the client address and speak bare bodies, one per line (the
//!    `jsonl-tcp` framing): the relay wraps each in an envelope from the connection's client id
//!    and unwraps the replies.
//!
//! **Loss, not queueing.** A partition must lose messages, as Maelstrom's does, not deliver
//! them late when it heals. TCP alone would do the latter, so: every frame carries the
//! monotonic time it was sent (one clock for every namespace on this machine) and a receiver
//! drops a frame older than [`STALE`]; a send queue that is full drops the message; a peer
//! connection gets `TCP_USER_TIMEOUT` so that a cut link fails within a second instead of
//! backing off for minutes, and what is queued while a peer is unreachable is dropped.
//!
//! **Message faults** ([`NetOptions`]): loss, duplication and delay drawn from a seeded RNG
//! at the sender; delays drawn per message reorder messages.

use super::{LatencyDist, NetOptions, LINE_BYTES_MAX, PEER_PORT, RELAY_CLIENT, SERVICES};
use anyhow::{anyhow, bail, Context, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A frame older than this when it arrives was held up by a partition or a pause: dropped.
pub const STALE: Duration = Duration::from_millis(1000);
/// Unacknowledged data older than this breaks a peer connection (`TCP_USER_TIMEOUT`).
pub const PEER_USER_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a connect to a peer may take before it counts as unreachable.
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Pause between connect attempts to an unreachable peer.
const PEER_RETRY: Duration = Duration::from_millis(100);
/// Messages queued per peer; beyond it they are dropped.
const PEER_QUEUE_LEN_MAX: usize = 4096;
/// Messages queued for the node's stdin from peers; beyond it they are dropped.
const NODE_QUEUE_LEN_MAX: usize = 16_384;
/// How often the counters are written.
const STATS_PERIOD: Duration = Duration::from_millis(500);
/// Exit code of a relay whose node wrote something that is not a Maelstrom message.
pub const EXIT_GARBAGE: i32 = 65;
/// Exit code of a relay whose node did not answer `init` in time.
pub const EXIT_NO_INIT: i32 = 66;

/// What one relay is told (the flags of `faultline relay`).
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// This node's id.
    pub id: String,
    /// Every node, in order, with its address (this one included).
    pub nodes: Vec<(String, IpAddr)>,
    /// Where to listen for clients.
    pub client_listen: SocketAddr,
    /// Where the services are.
    pub service: Option<SocketAddr>,
    /// The counters file (appended).
    pub stats: Option<PathBuf>,
    /// Message faults.
    pub net: NetOptions,
    /// The seed of the fault draws.
    pub seed: u64,
    /// How long the node may take to answer `init`.
    pub init_timeout: Duration,
    /// The node's command line.
    pub command: Vec<String>,
}

/// The relay's counters, cumulative since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages the node sent to other nodes (before faults: what Maelstrom counts).
    pub to_nodes: AtomicU64,
    /// Messages the node sent to clients.
    pub to_clients: AtomicU64,
    /// Messages the node sent to services.
    pub to_services: AtomicU64,
    /// Messages from clients to the node.
    pub from_clients: AtomicU64,
    /// Node-to-node messages dropped by `--message-loss`.
    pub lost: AtomicU64,
    /// Messages dropped because a peer was unreachable or its queue was full.
    pub unreachable: AtomicU64,
    /// Frames that arrived too late (held up by a partition or a pause) and were dropped.
    pub stale: AtomicU64,
    /// Extra copies sent by `--duplicate`.
    pub duplicated: AtomicU64,
}

impl Counters {
    fn json(&self, node: &str) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "node": node,
            "pid": std::process::id(),
            "to_nodes": get(&self.to_nodes),
            "to_clients": get(&self.to_clients),
            "to_services": get(&self.to_services),
            "from_clients": get(&self.from_clients),
            "lost": get(&self.lost),
            "unreachable": get(&self.unreachable),
            "stale": get(&self.stale),
            "duplicated": get(&self.duplicated),
        })
    }
}

/// A frame between relays: for the receiving relay's node, or for one of its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Node,
    Client,
}

struct Hub {
    id: String,
    index: usize,
    node_ids: Vec<String>,
    counters: Counters,
    net: NetOptions,
    rng: Mutex<SmallRng>,
    to_node: mpsc::Sender<String>,
    peers: Vec<Option<mpsc::Sender<(Kind, String)>>>,
    clients: Mutex<HashMap<u64, mpsc::UnboundedSender<String>>>,
    service: Option<mpsc::Sender<String>>,
    next_conn: AtomicU64,
    unknown_dests: Mutex<Vec<String>>,
}

/// The monotonic clock in nanoseconds: one clock for every process on the machine, whatever
/// its network namespace.
fn mono_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Runs a relay until its node exits; returns the exit code the relay should end with (the
/// node's own, or [`EXIT_GARBAGE`] / [`EXIT_NO_INIT`]).
pub fn run(cfg: RelayConfig) -> Result<i32> {
    if cfg.command.is_empty() {
        bail!("no node command after `--`");
    }
    let index = cfg
        .nodes
        .iter()
        .position(|(n, _)| *n == cfg.id)
        .ok_or_else(|| anyhow!("--id {}: not among the --node flags", cfg.id))?;
    cfg.net.validate().map_err(|e| anyhow!(e))?;
    // One thread: the child is spawned on it, and PR_SET_PDEATHSIG fires when the thread that
    // spawned the child ends, which for this thread is the relay's end.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the relay's runtime")?;
    rt.block_on(relay(cfg, index))
}

fn log(id: &str, line: &str) {
    eprintln!("faultline relay {id}: {line}");
}

async fn relay(cfg: RelayConfig, index: usize) -> Result<i32> {
    let id = cfg.id.clone();
    let mut command = tokio::process::Command::new(&cfg.command[0]);
    command
        .args(&cfg.command[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("start the node's command {:?}", cfg.command))?;
    log(
        &id,
        &format!(
            "started node (pid {}): {}",
            child.id().unwrap_or(0),
            cfg.command.join(" ")
        ),
    );
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");

    let (to_node, node_rx) = mpsc::channel::<String>(NODE_QUEUE_LEN_MAX);
    let mut peers = Vec::new();
    let mut peer_rxs = Vec::new();
    for (i, (_, ip)) in cfg.nodes.iter().enumerate() {
        if i == index {
            peers.push(None);
            continue;
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE_LEN_MAX);
        peers.push(Some(tx));
        peer_rxs.push((SocketAddr::new(*ip, PEER_PORT), rx));
    }
    let (service_tx, service_rx) = match cfg.service {
        Some(_) => {
            let (tx, rx) = mpsc::channel(NODE_QUEUE_LEN_MAX);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let hub = Arc::new(Hub {
        id: id.clone(),
        index,
        node_ids: cfg.nodes.iter().map(|(n, _)| n.clone()).collect(),
        counters: Counters::default(),
        net: cfg.net,
        rng: Mutex::new(SmallRng::seed_from_u64(
            cfg.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )),
        to_node,
        peers,
        clients: Mutex::new(HashMap::new()),
        service: service_tx,
        next_conn: AtomicU64::new(0),
        unknown_dests: Mutex::new(Vec::new()),
    });

    tokio::spawn(write_node(stdin, node_rx));
    let (init_tx, init_rx) = tokio::sync::oneshot::channel::<()>();
    let mut reader = tokio::spawn(read_node(Arc::clone(&hub), stdout, init_tx));
    let stats_task = cfg
        .stats
        .clone()
        .map(|path| tokio::spawn(write_stats(Arc::clone(&hub), path)));

    let init = serde_json::json!({
        "src": RELAY_CLIENT,
        "dest": id,
        "body": {"type": "init", "msg_id": 1, "node_id": id, "node_ids": hub.node_ids},
    });
    let _ = hub.to_node.send(init.to_string()).await;

    // Wait for init_ok, the node's exit, or garbage.
    let code = tokio::select! {
        r = init_rx => match r {
            Ok(()) => None,
            Err(_) => Some(reader_end(&id, &mut reader, &mut child, "before answering init").await),
        },
        status = child.wait() => Some(exit_code(&id, status, "before answering init")),
        _ = tokio::time::sleep(cfg.init_timeout) => {
            log(&id, &format!(
                "error: the node did not answer init within {} s; stopping it",
                cfg.init_timeout.as_secs_f64()
            ));
            let _ = child.kill().await;
            Some(EXIT_NO_INIT)
        }
    };
    if let Some(code) = code {
        finish_stats(&hub, cfg.stats.as_ref(), stats_task);
        return Ok(code);
    }
    log(&id, "init_ok; listening for peers and clients");

    for (addr, rx) in peer_rxs {
        tokio::spawn(write_peer(Arc::clone(&hub), addr, rx));
    }
    if let (Some(addr), Some(rx)) = (cfg.service, service_rx) {
        tokio::spawn(service_link(Arc::clone(&hub), addr, rx));
    }
    let my_ip = cfg.nodes[index].1;
    let peer_listener = TcpListener::bind(SocketAddr::new(my_ip, PEER_PORT))
        .await
        .with_context(|| format!("listen for peers on {my_ip}:{PEER_PORT}"))?;
    tokio::spawn(accept_peers(Arc::clone(&hub), peer_listener));
    let client_listener = TcpListener::bind(cfg.client_listen)
        .await
        .with_context(|| format!("listen for clients on {}", cfg.client_listen))?;
    tokio::spawn(accept_clients(Arc::clone(&hub), client_listener));

    let code = tokio::select! {
        status = child.wait() => exit_code(&id, status, "while running"),
        r = &mut reader => reader_result(&id, r, &mut child, "after closing its stdout").await,
    };
    finish_stats(&hub, cfg.stats.as_ref(), stats_task);
    Ok(code)
}

/// The node's stdout reader ended (garbage, or stdout closed): stops the node.
async fn reader_end(
    id: &str,
    reader: &mut tokio::task::JoinHandle<Result<()>>,
    child: &mut tokio::process::Child,
    when: &str,
) -> i32 {
    // The reader has ended or is ending (it dropped its end of the init channel): its
    // result says whether it was garbage.
    let result = reader.await;
    reader_result(id, result, child, when).await
}

/// What the reader's `result` means for the relay's exit code.
async fn reader_result(
    id: &str,
    result: Result<Result<()>, tokio::task::JoinError>,
    child: &mut tokio::process::Child,
    when: &str,
) -> i32 {
    match result {
        Ok(Err(e)) => {
            log(id, &format!("error: {e:#}; stopping the node"));
            let _ = child.kill().await;
            EXIT_GARBAGE
        }
        _ => {
            // stdout closed: the node is ending; report its status.
            let status = child.wait().await;
            exit_code(id, status, when)
        }
    }
}

fn exit_code(id: &str, status: std::io::Result<std::process::ExitStatus>, when: &str) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => {
            let level = if s.success() { "" } else { "error: " };
            log(id, &format!("{level}the node exited {when}: {s}"));
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        }
        Err(e) => {
            log(id, &format!("waiting for the node: {e}"));
            1
        }
    }
}

fn finish_stats(hub: &Hub, path: Option<&PathBuf>, task: Option<tokio::task::JoinHandle<()>>) {
    if let Some(t) = task {
        t.abort();
    }
    if let Some(path) = path {
        let _ = append_stats(hub, path);
    }
}

fn append_stats(hub: &Hub, path: &PathBuf) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", hub.counters.json(&hub.id))
}

async fn write_stats(hub: Arc<Hub>, path: PathBuf) {
    loop {
        tokio::time::sleep(STATS_PERIOD).await;
        if let Err(e) = append_stats(&hub, &path) {
            log(&hub.id, &format!("writing {}: {e}", path.display()));
            return;
        }
    }
}

/// Feeds the node's stdin, one message per line.
async fn write_node(stdin: tokio::process::ChildStdin, mut rx: mpsc::Receiver<String>) {
    let mut w = BufWriter::new(stdin);
    while let Some(line) = rx.recv().await {
        if w.write_all(line.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
            return;
        }
        while let Ok(line) = rx.try_recv() {
            if w.write_all(line.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
}

/// Reads the node's stdout and routes every message; returns an error on garbage.
async fn read_node(
    hub: Arc<Hub>,
    stdout: tokio::process::ChildStdout,
    init: tokio::sync::oneshot::Sender<()>,
) -> Result<()> {
    let mut init = Some(init);
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_line(&mut line)
            .await
            .context("reading the node's stdout")?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if n > LINE_BYTES_MAX {
            bail!("the node's stdout line {line_no} is longer than {LINE_BYTES_MAX} bytes");
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let msg: Value = serde_json::from_str(text).map_err(|e| {
            anyhow!(
                "the node wrote a line that is not a Maelstrom message on stdout (line {line_no}: \
                 {e}): {}",
                excerpt(text)
            )
        })?;
        let Some(obj) = msg.as_object() else {
            bail!(
                "the node wrote a JSON value that is not a message object on stdout (line \
                 {line_no}): {}",
                excerpt(text)
            );
        };
        let Some(dest) = obj.get("dest").and_then(Value::as_str) else {
            if obj.contains_key("event") {
                // A leader event: into the node's log, for the election-safety check.
                println!("{text}");
                continue;
            }
            bail!(
                "the node wrote a message without a string \"dest\" on stdout (line {line_no}): {}",
                excerpt(text)
            );
        };
        if dest == RELAY_CLIENT {
            let body = obj.get("body");
            let kind = body.and_then(|b| b.get("type")).and_then(Value::as_str);
            if kind == Some("init_ok") {
                if let Some(tx) = init.take() {
                    let _ = tx.send(());
                }
            } else if kind == Some("error") {
                log(
                    &hub.id,
                    &format!("the node answered init with {}", excerpt(text)),
                );
            }
            continue;
        }
        route(&hub, dest, text, &msg);
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return format!("{text:?}");
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

/// The index of the node whose relay holds client `cid`'s connection.
fn client_owner(cid: u64, nodes: usize) -> usize {
    ((cid.max(1) - 1) % nodes.max(1) as u64) as usize
}

/// Parses `cK`.
fn client_id(dest: &str) -> Option<u64> {
    dest.strip_prefix('c')?.parse().ok()
}

fn route(hub: &Arc<Hub>, dest: &str, text: &str, msg: &Value) {
    if dest == hub.id {
        let _ = hub.to_node.try_send(text.to_string());
        return;
    }
    if let Some(j) = hub.node_ids.iter().position(|n| n == dest) {
        hub.counters.to_nodes.fetch_add(1, Ordering::Relaxed);
        send_peer(hub, j, Kind::Node, text.to_string());
        return;
    }
    if let Some(cid) = client_id(dest) {
        hub.counters.to_clients.fetch_add(1, Ordering::Relaxed);
        if deliver_to_client(hub, cid, msg) {
            return;
        }
        let owner = client_owner(cid, hub.node_ids.len());
        if owner != hub.index {
            send_peer(hub, owner, Kind::Client, text.to_string());
        }
        return;
    }
    if SERVICES.contains(&dest) {
        hub.counters.to_services.fetch_add(1, Ordering::Relaxed);
        if let Some(tx) = &hub.service {
            let _ = tx.try_send(text.to_string());
        }
        return;
    }
    let mut unknown = hub.unknown_dests.lock().unwrap_or_else(|p| p.into_inner());
    if !unknown.iter().any(|d| d == dest) {
        log(
            &hub.id,
            &format!(
                "the node sent a message to {dest:?}, which is no node, client or service; dropped"
            ),
        );
        unknown.push(dest.to_string());
    }
}

/// Gives a message's body to client `cid` if it is connected to this relay.
fn deliver_to_client(hub: &Hub, cid: u64, msg: &Value) -> bool {
    let clients = hub.clients.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tx) = clients.get(&cid) else {
        return false;
    };
    let body = msg.get("body").cloned().unwrap_or(Value::Null);
    let _ = tx.send(body.to_string());
    true
}

/// Sends a frame to peer `j` through the message faults.
fn send_peer(hub: &Arc<Hub>, j: usize, kind: Kind, text: String) {
    let Some(Some(tx)) = hub.peers.get(j) else {
        return;
    };
    let (drop, copies, delays) = {
        let mut rng = hub.rng.lock().unwrap_or_else(|p| p.into_inner());
        let drop = hub.net.loss > 0.0 && rng.gen_bool(hub.net.loss);
        let copies = if hub.net.duplicate > 0.0 && rng.gen_bool(hub.net.duplicate) {
            2
        } else {
            1
        };
        let delays: Vec<Duration> = (0..copies).map(|_| delay(&hub.net, &mut rng)).collect();
        (drop, copies, delays)
    };
    if drop {
        hub.counters.lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if copies > 1 {
        hub.counters.duplicated.fetch_add(1, Ordering::Relaxed);
    }
    for d in delays {
        let frame = (kind, text.clone());
        if d.is_zero() {
            if tx.try_send(frame).is_err() {
                hub.counters.unreachable.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            let tx = tx.clone();
            let hub = Arc::clone(hub);
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                if tx.try_send(frame).is_err() {
                    hub.counters.unreachable.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
}

/// One delay draw.
fn delay(net: &NetOptions, rng: &mut SmallRng) -> Duration {
    if net.latency_ms <= 0.0 {
        return Duration::ZERO;
    }
    let ms = match net.latency_dist {
        LatencyDist::Constant => net.latency_ms,
        LatencyDist::Uniform => rng.gen_range(0.0..=2.0 * net.latency_ms),
        LatencyDist::Exponential => -net.latency_ms * (1.0 - rng.gen::<f64>()).ln(),
    };
    Duration::from_secs_f64(ms.min(600_000.0) / 1000.0)
}

/// Keeps a connection to one peer's relay and writes its frames; what is queued while the
/// peer is unreachable is dropped.
async fn write_peer(hub: Arc<Hub>, addr: SocketAddr, mut rx: mpsc::Receiver<(Kind, String)>) {
    loop {
        let stream = match connect_peer(addr).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(PEER_RETRY).await;
                let mut dropped = 0;
                while rx.try_recv().is_ok() {
                    dropped += 1;
                }
                hub.counters
                    .unreachable
                    .fetch_add(dropped, Ordering::Relaxed);
                if rx.is_closed() {
                    return;
                }
                continue;
            }
        };
        let mut w = BufWriter::new(stream);
        'conn: while let Some(frame) = rx.recv().await {
            let mut next = Some(frame);
            while let Some((kind, text)) = next {
                let tag = match kind {
                    Kind::Node => 'n',
                    Kind::Client => 'c',
                };
                let head = format!("{tag} {} ", mono_ns());
                if w.write_all(head.as_bytes()).await.is_err()
                    || w.write_all(text.as_bytes()).await.is_err()
                    || w.write_all(b"\n").await.is_err()
                {
                    hub.counters.unreachable.fetch_add(1, Ordering::Relaxed);
                    break 'conn;
                }
                next = rx.try_recv().ok();
            }
            if w.flush().await.is_err() {
                break;
            }
        }
        if rx.is_closed() {
            return;
        }
    }
}

async fn connect_peer(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(PEER_CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(PEER_USER_TIMEOUT))?;
    Ok(stream)
}

async fn accept_peers(hub: Arc<Hub>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or the like: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(read_peer(Arc::clone(&hub), stream));
    }
}

/// Reads frames from one peer's relay; drops those that arrive too late.
async fn read_peer(hub: Arc<Hub>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 64)
            .read_line(&mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\n', '\r']);
        let mut parts = text.splitn(3, ' ');
        let (Some(tag), Some(sent), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
            return;
        };
        let Ok(sent) = sent.parse::<u64>() else {
            return;
        };
        if mono_ns().saturating_sub(sent) > STALE.as_nanos() as u64 {
            hub.counters.stale.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match tag {
            "n" => {
                if hub.to_node.try_send(msg.to_string()).is_err() {
                    hub.counters.unreachable.fetch_add(1, Ordering::Relaxed);
                }
            }
            "c" => {
                let Ok(value) = serde_json::from_str::<Value>(msg) else {
                    continue;
                };
                let cid = value
                    .get("dest")
                    .and_then(Value::as_str)
                    .and_then(client_id);
                if let Some(cid) = cid {
                    deliver_to_client(&hub, cid, &value);
                }
            }
            _ => return,
        }
    }
}

async fn accept_clients(hub: Arc<Hub>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or the like: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let n = hub.node_ids.len() as u64;
        let conn = hub.next_conn.fetch_add(1, Ordering::Relaxed);
        let cid = conn * n + hub.index as u64 + 1;
        tokio::spawn(serve_client(Arc::clone(&hub), stream, cid));
    }
}

/// One client connection: bare bodies in, bare bodies out.
async fn serve_client(hub: Arc<Hub>, stream: TcpStream, cid: u64) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    hub.clients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(cid, tx);
    let writer = tokio::spawn(async move {
        let mut w = BufWriter::new(w);
        while let Some(body) = rx.recv().await {
            if w.write_all(body.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
                return;
            }
            if rx.is_empty() && w.flush().await.is_err() {
                return;
            }
        }
    });
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    let src = format!("c{cid}");
    loop {
        line.clear();
        match (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_line(&mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let Ok(body) = serde_json::from_str::<Value>(text) else {
            break;
        };
        if !body.is_object() {
            break;
        }
        let msg = serde_json::json!({"src": src, "dest": hub.id, "body": body});
        hub.counters.from_clients.fetch_add(1, Ordering::Relaxed);
        if hub.to_node.send(msg.to_string()).await.is_err() {
            break;
        }
    }
    hub.clients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&cid);
    writer.abort();
}

/// The connection to the services: messages out, replies into the node's stdin.
async fn service_link(hub: Arc<Hub>, addr: SocketAddr, mut rx: mpsc::Receiver<String>) {
    loop {
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(PEER_RETRY).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (r, mut w) = stream.into_split();
        let to_node = hub.to_node.clone();
        let reader = tokio::spawn(async move {
            let mut reader = BufReader::new(r);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if to_node.send(line.trim_end().to_string()).await.is_err() {
                    return;
                }
            }
        });
        while let Some(text) = rx.recv().await {
            if w.write_all(text.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
                break;
            }
        }
        reader.abort();
        if rx.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_name_the_relay_that_holds_their_connection() {
        let n = 3;
        for index in 0..n {
            for conn in 0..10u64 {
                let cid = conn * n as u64 + index as u64 + 1;
                assert_eq!(client_owner(cid, n), index);
            }
        }
        assert_eq!(client_id("c17"), Some(17));
        assert_eq!(client_id("n1"), None);
        assert_eq!(client_id("c"), None);
    }

    #[test]
    fn delays_follow_the_distribution_asked_for() {
        let mut rng = SmallRng::seed_from_u64(1);
        let net = NetOptions {
            latency_ms: 10.0,
            ..NetOptions::default()
        };
        assert_eq!(delay(&net, &mut rng), Duration::from_millis(10));
        let uniform = NetOptions {
            latency_dist: LatencyDist::Uniform,
            ..net
        };
        let exp = NetOptions {
            latency_dist: LatencyDist::Exponential,
            ..net
        };
        for dist in [uniform, exp] {
            let draws: Vec<f64> = (0..20_000)
                .map(|_| delay(&dist, &mut rng).as_secs_f64() * 1000.0)
                .collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            assert!(
                (mean - 10.0).abs() < 0.5,
                "{:?}: mean {mean}",
                dist.latency_dist
            );
            assert!(draws.iter().all(|d| *d >= 0.0));
        }
        assert_eq!(delay(&NetOptions::default(), &mut rng), Duration::ZERO);
    }

    #[test]
    fn long_lines_are_cut_in_messages() {
        let long = "x".repeat(1000);
        let e = excerpt(&long);
        assert!(e.contains("(1000 bytes)"), "{e}");
        assert_eq!(excerpt("ab"), "\"ab\"");
    }
}
