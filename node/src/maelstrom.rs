//! Maelstrom mode (`raft-node --maelstrom`): the same core and storage as the TCP runtime, but
//! every message, to peers and to clients, is one JSON line on stdin/stdout in Maelstrom's
//! envelope `{"src":..,"dest":..,"body":{..}}`.
//!
//! - The first message must be `init` (`node_id`, `node_ids`); it is answered with `init_ok`
//!   and only then does Raft start, with the members `node_ids`. Messages before it are logged
//!   on stderr and ignored; a later `init` is answered and otherwise ignored.
//! - Raft messages between nodes: body `{"type":"raft","msg":<core Message as serde JSON>}`.
//! - Clients (any `src` that is not a member) send lin-kv bodies (`read`, `write`, `cas`; extra
//!   `client`/`seq` fields deduplicate retries as in TCP mode; without them the client is
//!   `src` and the seq its `msg_id`, so a request the network duplicated applies once). A key
//!   is any JSON value; its JSON text is the register's key.
//! - A node that is told it does not lead, and knows a leader, forwards the request as
//!   `{"type":"raft_forward","client":"c7","request":{..the client's body..},"hops":1}`; the
//!   node that serves it answers the client directly (`src` itself, `in_reply_to` the client's
//!   `msg_id`). No known leader (or too many hops): error 11.
//! - Error codes as Maelstrom: 0 (timeout) and 13 (crash) are indefinite; 11, 12, 20, 22
//!   definite.
//! - stdout carries the protocol only; core events (`{"event":"leader",..}`) are JSON lines on
//!   stderr, alone on their line, with the `tracing` log.
//! - Without a data directory the state is in memory only; with one it is the TCP mode's
//!   durable storage (fsync before any answer). EOF on stdin ends the node (exit 0).

use crate::core::{Config, DurableState, Message, RaftNode};
use crate::protocol::{self, Request, Response};
use crate::runtime::{self, CoreIn, CoreTask, RuntimeConfig, RuntimeError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Body type of a Raft message between nodes.
pub const RAFT_TYPE: &str = "raft";
/// Body type of a client request forwarded to the leader.
pub const FORWARD_TYPE: &str = "raft_forward";
/// Most times a request is forwarded before it is refused with code 11.
const HOPS_MAX: u64 = 2;

/// What Maelstrom mode needs before `init`; `core` gets its id and peers from `init`.
#[derive(Debug, Clone)]
pub struct MaelstromConfig {
    /// The core's configuration (`id` and `peers` are overwritten by `init`).
    pub core: Config,
    /// Durable storage directory; `None`: memory only.
    pub data_dir: Option<PathBuf>,
    /// Milliseconds per core tick.
    pub tick_ms: u64,
}

/// One line on stdout.
type Out = mpsc::UnboundedSender<String>;

fn send(out: &Out, src: &str, dest: &str, body: Value) {
    let line = json!({"src": src, "dest": dest, "body": body}).to_string();
    let _ = out.send(line);
}

/// Starts the writer thread: one line at a time on stdout, flushed per line.
fn spawn_stdout() -> Out {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    std::thread::Builder::new()
        .name("stdout".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            while let Some(line) = rx.blocking_recv() {
                let mut out = stdout.lock();
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
        })
        .expect("start the stdout thread");
    tx
}

/// The node after `init`.
struct Member {
    id: String,
    members: Vec<String>,
    inbox: mpsc::Sender<CoreIn>,
}

/// Runs a node in Maelstrom mode until EOF on stdin or a storage failure.
pub async fn run(config: MaelstromConfig) -> Result<(), RuntimeError> {
    let out = spawn_stdout();
    let mut reader = BufReader::new(tokio::io::stdin());
    let mut line = String::new();
    let mut member: Option<Arc<Member>> = None;
    let (failed_tx, mut failed_rx) = mpsc::channel::<RuntimeError>(1);
    loop {
        line.clear();
        let n = tokio::select! {
            n = reader.read_line(&mut line) => n.map_err(|source| RuntimeError::Io {
                what: "read stdin".into(),
                source,
            })?,
            Some(e) = failed_rx.recv() => return Err(e),
        };
        if n == 0 {
            tracing::info!("EOF on stdin");
            return Ok(());
        }
        if line.len() > runtime::LINE_BYTES_MAX {
            tracing::warn!(bytes = line.len(), "line too long; ignored");
            continue;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let msg: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                tracing::warn!(line = %text, "not a JSON message; ignored");
                continue;
            }
        };
        let src = msg["src"].as_str().unwrap_or_default().to_string();
        let body = msg["body"].clone();
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        if kind == "init" {
            let me = match &member {
                Some(m) => {
                    tracing::warn!("second init; answered and ignored");
                    m.id.clone()
                }
                None => match start(&config, &body, out.clone(), failed_tx.clone()) {
                    Ok(m) => {
                        let id = m.id.clone();
                        member = Some(Arc::new(m));
                        id
                    }
                    Err(e) => {
                        tracing::error!("bad init: {e}");
                        continue;
                    }
                },
            };
            let reply = json!({"type": "init_ok", "in_reply_to": body["msg_id"]});
            send(&out, &me, &src, reply);
            continue;
        }
        let Some(m) = &member else {
            tracing::warn!(line = %text, "message before init; ignored");
            continue;
        };
        let from_member = m.members.contains(&src);
        match kind.as_str() {
            RAFT_TYPE if from_member => {
                match serde_json::from_value::<Message>(body["msg"].clone()) {
                    Ok(msg) => {
                        // A full inbox drops the message: Raft tolerates loss.
                        let _ = m.inbox.try_send(CoreIn::Peer { from: src, msg });
                    }
                    Err(e) => tracing::warn!("bad raft message from {src}: {e}"),
                }
            }
            FORWARD_TYPE if from_member => {
                let client = body["client"].as_str().unwrap_or_default().to_string();
                let hops = body["hops"].as_u64().unwrap_or(1);
                let request = body["request"].clone();
                tokio::spawn(serve(Arc::clone(m), out.clone(), client, request, hops));
            }
            "read" | "write" | "cas" if !from_member => {
                tokio::spawn(serve(Arc::clone(m), out.clone(), src, body, 0));
            }
            _ => tracing::warn!(line = %text, "unexpected message; ignored"),
        }
    }
}

/// Handles `init`: builds the core and starts its task.
fn start(
    config: &MaelstromConfig,
    body: &Value,
    out: Out,
    failed: mpsc::Sender<RuntimeError>,
) -> Result<Member, String> {
    let id = body["node_id"]
        .as_str()
        .ok_or("init without node_id")?
        .to_string();
    let mut members: Vec<String> = body["node_ids"]
        .as_array()
        .ok_or("init without node_ids")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !members.contains(&id) {
        members.push(id.clone());
    }
    members.sort();
    members.dedup();
    let mut core = config.core.clone();
    core.id = id.clone();
    core.peers = members.clone();
    let (storage, durable) = match &config.data_dir {
        Some(dir) => {
            let rc = RuntimeConfig {
                core: core.clone(),
                peers: HashMap::new(),
                data_dir: dir.clone(),
                tick_ms: config.tick_ms,
            };
            let (s, d) = runtime::open_storage(&rc).map_err(|e| e.to_string())?;
            (Some(s), d)
        }
        None => (
            None,
            DurableState {
                hard_state: Default::default(),
                snapshot: None,
                entries: Vec::new(),
            },
        ),
    };
    tracing::info!(%id, ?members, durable = config.data_dir.is_some(), "init");
    let node = RaftNode::restore(core, durable);
    let (inbox_tx, inbox_rx) = mpsc::channel(runtime::INBOX_LEN_MAX);
    let persist = runtime::spawn_storage(storage, inbox_tx.clone()).map_err(|e| e.to_string())?;
    let mut outboxes = HashMap::new();
    for peer in members.iter().filter(|p| **p != id) {
        let (tx, mut rx) = mpsc::channel::<Message>(runtime::PEER_QUEUE_LEN_MAX);
        let (out, me, to) = (out.clone(), id.clone(), peer.clone());
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let msg = serde_json::to_value(&msg).expect("serializable");
                send(&out, &me, &to, json!({"type": RAFT_TYPE, "msg": msg}));
            }
        });
        outboxes.insert(peer.clone(), tx);
    }
    let task = CoreTask::new(node, persist, outboxes, true);
    let tick = Duration::from_millis(config.tick_ms.max(1));
    tokio::spawn(async move {
        if let Err(e) = task.run(inbox_rx, tick).await {
            let _ = failed.send(e).await;
        }
    });
    Ok(Member {
        id,
        members,
        inbox: inbox_tx,
    })
}

/// The register's key for a Maelstrom key (any JSON value): its JSON text.
fn key_text(key: &Value) -> String {
    key.to_string()
}

/// Serves one client request (`hops`: how often it was forwarded already) and answers the
/// client directly, or forwards it to the leader.
async fn serve(m: Arc<Member>, out: Out, client: String, request: Value, hops: u64) {
    let msg_id = request["msg_id"].clone();
    let reply = |body: Value| {
        let mut body = body;
        body["in_reply_to"] = msg_id.clone();
        send(&out, &m.id, &client, body);
    };
    let mut req = request.clone();
    if req.get("client").is_none() {
        if let Some(id) = msg_id.as_u64() {
            // A Maelstrom client has one request out at a time and numbers them upwards, so
            // (src, msg_id) is the (client, seq) that makes a duplicated or re-forwarded
            // request apply once.
            req["client"] = Value::String(client.clone());
            req["seq"] = Value::from(id);
        }
    }
    if !req["key"].is_null() {
        req["key"] = Value::String(key_text(&request["key"]));
    }
    let (_, parsed) = protocol::parse_request(&req.to_string());
    let parsed: Request = match parsed {
        Ok(r) => r,
        Err(text) => {
            reply(json!({"type": "error", "code": protocol::code::MALFORMED, "text": text}));
            return;
        }
    };
    let response = runtime::ask_core(&m.inbox, parsed).await;
    if let Response::Error {
        code: protocol::code::NOT_LEADER,
        leader,
        ..
    } = &response
    {
        match leader {
            Some(l) if *l != m.id && hops < HOPS_MAX => {
                let body = json!({
                    "type": FORWARD_TYPE, "client": client, "request": request, "hops": hops + 1,
                });
                send(&out, &m.id, l, body);
            }
            _ => reply(json!({
                "type": "error", "code": protocol::code::NOT_LEADER,
                "text": "no known leader; not applied",
            })),
        }
        return;
    }
    let rendered = protocol::render_response(None, &response);
    let mut body: Value = serde_json::from_str(&rendered).expect("rendered JSON");
    if let Some(obj) = body.as_object_mut() {
        obj.remove("leader");
    }
    reply(body);
}
