//! The tokio runtime: drives the sans-I/O core with real time, TCP and files.
//!
//! Shape (after mini-redis): [`run`] takes already-bound listeners and a shutdown future, so
//! tests bind port 0. Tasks:
//!
//! - **the core task** owns the [`RaftNode`]. It turns ticks (every `tick_ms`), peer messages
//!   and client requests into inputs, draining up to [`INPUTS_PER_BATCH_MAX`] queued inputs per
//!   batch. The persist actions of a batch go, as one job, to the storage thread; the batch's
//!   other actions wait in a FIFO until that job, and every job before it, is durable, except
//!   the sends the core marks [`When::Now`], which go out at once (the driver contract,
//!   `core` module docs: a leader's AppendEntries and InstallSnapshot may leave before the
//!   leader's own fsync, Ongaro's thesis §10.2.1). Delaying a send is indistinguishable from
//!   network delay. So the core keeps ticking while a disk stalls, and a leader whose fsync
//!   takes seconds (measured here: 2 s, on a shared VM disk) still sends heartbeats instead of
//!   causing an election.
//! - **the storage thread** owns the [`Storage`]: it writes every queued job in order, makes
//!   them durable with **one** `fsync` (group commit) and reports `Persisted` to the core.
//! - **one outbound task per peer**: connects with backoff, sends a hello line then one JSON line
//!   per message. Its queue is bounded ([`PEER_QUEUE_LEN_MAX`]); when full, messages are dropped:
//!   Raft tolerates loss, and a slow peer must not stall the leader.
//! - **inbound peer connections**: hello, then messages into the core's inbox.
//! - **client connections** (at most [`CLIENTS_MAX`], a semaphore): one request at a time per
//!   connection, answered in the `jsonl-tcp` protocol.
//!
//! stdout carries one JSON line per core event (`{"event":"leader","node":"n1","term":3}`),
//! flushed per line, for faultline's election-safety checker; logs go to stderr via `tracing`.

use crate::core::{Action, Command, Config, DurableState, Entry, HardState, Input, Message};
use crate::core::{Bug, RaftNode, Reply, Snapshot, When};
use crate::protocol::{self, Request, Response};
use crate::storage::{Storage, StorageError};
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most inputs stepped before their actions are executed (one fsync per batch).
pub const INPUTS_PER_BATCH_MAX: usize = 512;
/// Capacity of the core's inbox.
pub const INBOX_LEN_MAX: usize = 8192;
/// Capacity of each peer's outbound queue; beyond it messages are dropped.
pub const PEER_QUEUE_LEN_MAX: usize = 4096;
/// Most client connections served at once.
pub const CLIENTS_MAX: usize = 1024;
/// How long a client request may wait for the core before it is answered with code 0.
pub const CLIENT_WAIT_MS_MAX: u64 = 5_000;
/// An fsync that takes this long is logged (`slow fsync`).
const SLOW_SYNC: Duration = Duration::from_millis(50);
/// Longest line accepted from a peer or a client.
pub(crate) const LINE_BYTES_MAX: usize = 64 << 20;

/// A runtime failure.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Storage failed; the node stops rather than acknowledge what is not durable.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored state could not be decoded.
    #[error("{path}: cannot decode stored {what}: {source}")]
    Decode {
        /// The data directory.
        path: PathBuf,
        /// What was being decoded.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Everything the runtime needs besides the listeners.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The core's configuration.
    pub core: Config,
    /// Peer addresses by node id (all members; our own entry is ignored).
    pub peers: HashMap<String, SocketAddr>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Milliseconds per core tick.
    pub tick_ms: u64,
}

/// What the network tasks and the storage thread hand to the core task.
pub(crate) enum CoreIn {
    /// Every persist job up to `job` is durable.
    Persisted {
        job: u64,
        hard_state_version: u64,
        last_index: u64,
    },
    /// The storage failed: the node stops rather than acknowledge what is not durable.
    StorageFailed(StorageError),
    Peer {
        from: String,
        msg: Message,
    },
    Client {
        cmd: Command,
        reply: oneshot::Sender<Reply>,
    },
}

/// Runs a node until `shutdown` completes or storage fails.
pub async fn run(
    config: RuntimeConfig,
    peer_listener: TcpListener,
    client_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let (storage, durable) = open_storage(&config)?;
    let node = RaftNode::restore(config.core.clone(), durable);
    let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_LEN_MAX);
    let mut outboxes = HashMap::new();
    for (id, addr) in &config.peers {
        if *id != config.core.id {
            let (tx, rx) = mpsc::channel(PEER_QUEUE_LEN_MAX);
            tokio::spawn(peer_sender(config.core.id.clone(), *addr, rx));
            outboxes.insert(id.clone(), tx);
        }
    }
    let persist = spawn_storage(Some(storage), inbox_tx.clone())?;
    let accept_peers = tokio::spawn(accept_peers(peer_listener, inbox_tx.clone()));
    let accept_clients = tokio::spawn(accept_clients(client_listener, inbox_tx));
    let core = CoreTask::new(node, persist, outboxes, false);
    let result = tokio::select! {
        r = core.run(inbox_rx, Duration::from_millis(config.tick_ms.max(1))) => r,
        () = shutdown => Ok(()),
    };
    accept_peers.abort();
    accept_clients.abort();
    result
}

pub(crate) fn open_storage(
    config: &RuntimeConfig,
) -> Result<(Storage, DurableState), RuntimeError> {
    let (storage, recovered) = Storage::open(&config.data_dir, config.core.bugs.has(Bug::NoFsync))?;
    let decode = |what, source| RuntimeError::Decode {
        path: config.data_dir.clone(),
        what,
        source,
    };
    let hard_state: HardState = match &recovered.hard_state {
        Some(b) => serde_json::from_slice(b).map_err(|e| decode("hard state", e))?,
        None => HardState::default(),
    };
    let snapshot: Option<Snapshot> = match &recovered.snapshot {
        Some(b) => Some(serde_json::from_slice(b).map_err(|e| decode("snapshot", e))?),
        None => None,
    };
    let first = snapshot.as_ref().map_or(0, |s| s.last_index);
    let mut entries = Vec::with_capacity(recovered.entries.len());
    for (index, payload) in &recovered.entries {
        if *index > first {
            let entry: Entry = serde_json::from_slice(payload).map_err(|e| decode("entry", e))?;
            entries.push(entry);
        }
    }
    tracing::info!(
        term = hard_state.term,
        entries = entries.len(),
        snapshot = first,
        "recovered durable state"
    );
    Ok((
        storage,
        DurableState {
            hard_state,
            snapshot,
            entries,
        },
    ))
}

/// One batch's persist actions, for the storage thread.
pub(crate) struct PersistJob {
    id: u64,
    actions: Vec<Action>,
}

/// Starts the storage thread; it ends when the core drops the returned sender. Without a
/// storage (memory only) it writes nothing and reports every job durable at once.
pub(crate) fn spawn_storage(
    mut storage: Option<Storage>,
    inbox: mpsc::Sender<CoreIn>,
) -> Result<std::sync::mpsc::Sender<PersistJob>, RuntimeError> {
    let (tx, rx) = std::sync::mpsc::channel::<PersistJob>();
    std::thread::Builder::new()
        .name("storage".into())
        .spawn(move || {
            let (mut hard_state_version, mut last_index) = (0, 0);
            while let Ok(first) = rx.recv() {
                // Group commit: every job queued by now is written, then one fsync.
                let mut jobs = vec![first];
                jobs.extend(rx.try_iter());
                let job = jobs.last().map_or(0, |j| j.id);
                let written = jobs.into_iter().try_for_each(|j| {
                    j.actions.into_iter().try_for_each(|a| {
                        write_action(
                            storage.as_mut(),
                            a,
                            &mut hard_state_version,
                            &mut last_index,
                        )
                    })
                });
                let synced = written.and_then(|()| {
                    let started = std::time::Instant::now();
                    if let Some(storage) = storage.as_mut() {
                        storage.sync()?;
                    }
                    let took = started.elapsed();
                    if took >= SLOW_SYNC {
                        // As etcd's "slow fdatasync": replies and votes wait meanwhile.
                        tracing::warn!(ms = took.as_millis() as u64, "slow fsync");
                    }
                    Ok(())
                });
                if let Err(e) = synced {
                    let _ = inbox.blocking_send(CoreIn::StorageFailed(e));
                    return;
                }
                let report = CoreIn::Persisted {
                    job,
                    hard_state_version,
                    last_index,
                };
                if inbox.blocking_send(report).is_err() {
                    return; // the core has stopped
                }
            }
        })
        .map_err(|source| RuntimeError::Io {
            what: "start the storage thread".into(),
            source,
        })?;
    Ok(tx)
}

/// Writes one persist action (buffered; the caller syncs); without a storage only the
/// durable marks move.
fn write_action(
    storage: Option<&mut Storage>,
    action: Action,
    hard_state_version: &mut u64,
    last_index: &mut u64,
) -> Result<(), StorageError> {
    match action {
        Action::PersistHardState {
            hard_state,
            version,
        } => {
            if let Some(storage) = storage {
                let bytes = serde_json::to_vec(&hard_state).expect("serializable");
                storage.save_hard_state(&bytes)?;
            }
            *hard_state_version = version;
        }
        Action::PersistEntries {
            truncate_from,
            entries,
        } => {
            let mut storage = storage;
            if let Some(from) = truncate_from {
                if let Some(storage) = storage.as_deref_mut() {
                    storage.truncate_from(from)?;
                }
                *last_index = (*last_index).min(from.saturating_sub(1));
            }
            for e in &entries {
                if let Some(storage) = storage.as_deref_mut() {
                    let bytes = serde_json::to_vec(e).expect("serializable");
                    storage.append(e.index, &bytes);
                }
                *last_index = e.index;
            }
        }
        Action::PersistSnapshot { snapshot } => {
            if let Some(storage) = storage {
                let bytes = serde_json::to_vec(&snapshot).expect("serializable");
                storage.save_snapshot(snapshot.last_index, &bytes)?;
            }
            *last_index = (*last_index).max(snapshot.last_index);
        }
        _ => unreachable!("only persist actions are sent to the storage thread"),
    }
    Ok(())
}

/// The task that owns the core.
pub(crate) struct CoreTask {
    node: RaftNode,
    persist: std::sync::mpsc::Sender<PersistJob>,
    outboxes: HashMap<String, mpsc::Sender<Message>>,
    pending: HashMap<u64, oneshot::Sender<Reply>>,
    next_request: u64,
    /// The last persist job handed to the storage thread.
    submitted: u64,
    /// The last persist job reported durable.
    durable: u64,
    /// Actions waiting for a persist job (its id) to be durable, in order.
    held: std::collections::VecDeque<(u64, Action)>,
    /// Core events go to stderr instead of stdout (when stdout carries a protocol).
    events_to_stderr: bool,
}

impl CoreTask {
    pub(crate) fn new(
        node: RaftNode,
        persist: std::sync::mpsc::Sender<PersistJob>,
        outboxes: HashMap<String, mpsc::Sender<Message>>,
        events_to_stderr: bool,
    ) -> Self {
        CoreTask {
            node,
            persist,
            outboxes,
            pending: HashMap::new(),
            next_request: 1,
            submitted: 0,
            durable: 0,
            held: std::collections::VecDeque::new(),
            events_to_stderr,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut inbox: mpsc::Receiver<CoreIn>,
        tick: Duration,
    ) -> Result<(), RuntimeError> {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut actions = Vec::new();
            tokio::select! {
                _ = ticker.tick() => {
                    actions.extend(self.node.step(Input::Tick));
                    self.pending.retain(|_, tx| !tx.is_closed());
                }
                msg = inbox.recv() => match msg {
                    Some(m) => actions.extend(self.input(m)?),
                    None => return Ok(()),
                },
            }
            for _ in 1..INPUTS_PER_BATCH_MAX {
                match inbox.try_recv() {
                    Ok(m) => actions.extend(self.input(m)?),
                    Err(_) => break,
                }
            }
            self.execute(actions)?;
        }
    }

    fn input(&mut self, m: CoreIn) -> Result<Vec<Action>, RuntimeError> {
        Ok(match m {
            CoreIn::Peer { from, msg } => self.node.step(Input::Message { from, msg }),
            CoreIn::Client { cmd, reply } => {
                let request_id = self.next_request;
                self.next_request += 1;
                self.pending.insert(request_id, reply);
                self.node.step(Input::Client { request_id, cmd })
            }
            CoreIn::Persisted {
                job,
                hard_state_version,
                last_index,
            } => {
                self.durable = job;
                while self.held.front().is_some_and(|(j, _)| *j <= job) {
                    let (_, action) = self.held.pop_front().expect("checked");
                    self.perform(action);
                }
                self.node.step(Input::Persisted {
                    hard_state_version,
                    last_index,
                })
            }
            CoreIn::StorageFailed(e) => return Err(e.into()),
        })
    }

    /// Executes a batch: its persist actions go to the storage thread as one job; the sends
    /// marked [`When::Now`] go out at once; everything else waits until that job is durable
    /// (module docs).
    fn execute(&mut self, actions: Vec<Action>) -> Result<(), RuntimeError> {
        let (persists, others): (Vec<Action>, Vec<Action>) = actions.into_iter().partition(|a| {
            matches!(
                a,
                Action::PersistHardState { .. }
                    | Action::PersistEntries { .. }
                    | Action::PersistSnapshot { .. }
            )
        });
        if !persists.is_empty() {
            self.submitted += 1;
            let job = PersistJob {
                id: self.submitted,
                actions: persists,
            };
            if self.persist.send(job).is_err() {
                return Err(RuntimeError::Io {
                    what: "the storage thread".into(),
                    source: std::io::Error::other("it stopped"),
                });
            }
        }
        for action in others {
            let now = matches!(
                action,
                Action::Send {
                    when: When::Now,
                    ..
                }
            );
            if now || self.durable == self.submitted {
                self.perform(action);
            } else {
                self.held.push_back((self.submitted, action));
            }
        }
        Ok(())
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Send { to, msg, .. } => {
                if let Some(tx) = self.outboxes.get(&to) {
                    let _ = tx.try_send(msg); // full queue: drop, Raft retries
                }
            }
            Action::Reply { request_id, reply } => {
                if let Some(tx) = self.pending.remove(&request_id) {
                    let _ = tx.send(reply);
                }
            }
            Action::Event(event) => {
                let line = serde_json::to_string(&event).expect("serializable");
                if self.events_to_stderr {
                    let mut out = std::io::stderr().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                } else {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
            Action::PersistHardState { .. }
            | Action::PersistEntries { .. }
            | Action::PersistSnapshot { .. } => {
                unreachable!("persist actions go to the storage thread")
            }
        }
    }
}

/// Keeps one outbound connection to a peer alive and writes its queue to it.
async fn peer_sender(me: String, addr: SocketAddr, mut rx: mpsc::Receiver<Message>) {
    let hello = serde_json::to_string(&protocol::Hello { hello: me }).expect("serializable");
    let mut backoff = Duration::from_millis(20);
    loop {
        let mut stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                // Drop what queued up while the peer was unreachable: it is stale by now.
                while rx.try_recv().is_ok() {}
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        let _ = stream.set_nodelay(true);
        let mut buf = format!("{hello}\n").into_bytes();
        loop {
            // Batch whatever is queued into one write.
            match rx.recv().await {
                Some(m) => push_line(&mut buf, &m),
                None => return,
            }
            while buf.len() < (1 << 20) {
                match rx.try_recv() {
                    Ok(m) => push_line(&mut buf, &m),
                    Err(_) => break,
                }
            }
            if stream.write_all(&buf).await.is_err() {
                buf.clear();
                break;
            }
            buf.clear();
        }
    }
}

fn push_line(buf: &mut Vec<u8>, msg: &Message) {
    serde_json::to_writer(&mut *buf, msg).expect("serializable");
    buf.push(b'\n');
}

async fn accept_peers(listener: TcpListener, inbox: mpsc::Sender<CoreIn>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let inbox = inbox.clone();
        tokio::spawn(async move {
            if let Err(e) = peer_receiver(stream, inbox).await {
                tracing::debug!("peer connection ended: {e}");
            }
        });
    }
}

async fn peer_receiver(stream: TcpStream, inbox: mpsc::Sender<CoreIn>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let hello: protocol::Hello = serde_json::from_str(line.trim_end()).map_err(invalid)?;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 || line.len() > LINE_BYTES_MAX {
            return Ok(());
        }
        let msg: Message = serde_json::from_str(line.trim_end()).map_err(invalid)?;
        let input = CoreIn::Peer {
            from: hello.hello.clone(),
            msg,
        };
        if inbox.send(input).await.is_err() {
            return Ok(());
        }
    }
}

fn invalid(e: serde_json::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

async fn accept_clients(listener: TcpListener, inbox: mpsc::Sender<CoreIn>) {
    let limit = Arc::new(Semaphore::new(CLIENTS_MAX));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            return;
        };
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let _ = client_connection(stream, inbox).await;
            drop(permit);
        });
    }
}

async fn client_connection(stream: TcpStream, inbox: mpsc::Sender<CoreIn>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let (msg_id, parsed) = if line.len() > LINE_BYTES_MAX {
            (None, Err("malformed request: line too long".to_string()))
        } else {
            protocol::parse_request(line.trim_end())
        };
        let response = match parsed {
            Err(text) => Response::Error {
                code: protocol::code::MALFORMED,
                text,
                leader: None,
            },
            Ok(req) => ask_core(&inbox, req).await,
        };
        let mut out = protocol::render_response(msg_id, &response);
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
    }
}

pub(crate) async fn ask_core(inbox: &mpsc::Sender<CoreIn>, req: Request) -> Response {
    let cmd = match req {
        Request::Read { key } => Command::Read { key },
        Request::Write {
            key,
            value,
            client,
            seq,
        } => Command::Write {
            key,
            value,
            client,
            seq,
        },
        Request::Cas {
            key,
            from,
            to,
            client,
            seq,
        } => Command::Cas {
            key,
            from,
            to,
            client,
            seq,
        },
    };
    let (tx, rx) = oneshot::channel();
    if inbox.send(CoreIn::Client { cmd, reply: tx }).await.is_err() {
        return crash("node is shutting down");
    }
    match tokio::time::timeout(Duration::from_millis(CLIENT_WAIT_MS_MAX), rx).await {
        Ok(Ok(reply)) => protocol::response_of(reply),
        Ok(Err(_)) => crash("request dropped by the node"),
        Err(_) => Response::Error {
            code: protocol::code::TIMEOUT,
            text: "timed out waiting for the cluster".into(),
            leader: None,
        },
    }
}

fn crash(text: &str) -> Response {
    Response::Error {
        code: protocol::code::CRASH,
        text: text.into(),
        leader: None,
    }
}
