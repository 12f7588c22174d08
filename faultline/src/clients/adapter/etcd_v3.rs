//! The `etcd-v3` client adapter: etcd's v3 JSON gateway (HTTP/1.1 + JSON, base64 keys and values).
//!
//! Operations (etcd 3.4's grpc-gateway, every call a `POST` with a JSON body):
//!
//! | op    | request                                                                       |
//! |-------|-------------------------------------------------------------------------------|
//! | read  | `/v3/kv/range` `{"key":K}` (linearizable: etcd's default, a ReadIndex round), or `{"key":K,"serializable":true}` with `reads = "serializable"` (served from the member's local state: stale reads allowed) |
//! | write | `/v3/kv/put` `{"key":K,"value":V}`                                            |
//! | cas   | `/v3/kv/txn` `{"compare":[{"key":K,"target":"VALUE","result":"EQUAL","value":FROM}],"success":[{"request_put":{"key":K,"value":TO}}]}` |
//!
//! Keys are the workload's key names and values integers in decimal text, both base64-encoded
//! as the gateway wants `bytes` fields. Answers map to the history's outcomes so that the checker
//! never assumes more than etcd said (docs/design.md, "History format"):
//!
//! | what came back                                            | read          | write, cas |
//! |-----------------------------------------------------------|---------------|------------|
//! | 200, `kvs` with a value                                   | `ok` value    | -          |
//! | 200, no `kvs` (key absent)                                | `ok` null     | -          |
//! | 200 on put                                                | -             | `ok`       |
//! | 200 on txn, `"succeeded":true`                            | -             | `ok`       |
//! | 200 on txn, `succeeded` false or absent (compare failed)  | -             | `fail`     |
//! | connection refused / connect timed out (nothing sent)     | `fail`        | `fail`     |
//! | request not written (hyper handed it back)                | `fail`        | `fail`     |
//! | timeout, connection dropped after sending                 | `fail`        | `info`     |
//! | gRPC error in the body, definite code (3, 7, 8, 12, 16)   | `fail`        | `fail`     |
//! | gRPC error, any other code (14 unavailable, 4 deadline, 13, 2, "leader changed", "request timed out", ...) | `fail` | `info` |
//! | HTTP 4xx without a gRPC error (e.g. 404)                  | `fail`        | `fail`     |
//! | HTTP 5xx without a gRPC error, unparsable 200 body        | `fail`        | `info`     |
//!
//! Reads that did not return are `fail`, Jepsen's convention: a read changes no state, so a read
//! that may or may not have happened is the same, to the checker, as one that did not. A value
//! that is not a decimal integer is a read `fail` naming what was found.
//!
//! The definite gRPC codes are those etcd returns while validating a request, before anything
//! is proposed to Raft: `3` invalid argument (also "request too large"), `7` permission denied,
//! `8` resource exhausted ("too many requests", refused before proposing), `12` unimplemented,
//! `16` unauthenticated. Every other code is indefinite: etcd 3.4 returns `14` unavailable and
//! `4` deadline exceeded both for proposals that never left the member and for proposals that
//! were committed after the member gave up waiting.
//!
//! **Why hyper's low-level connection.** In a test run the host has no route to the nodes: the
//! clients open TCP connections from inside a network namespace through a [`Connector`]. A
//! high-level client (reqwest, hyper-util's pooled `Client`) owns its connector and its pool,
//! so it cannot be handed such a stream. `hyper::client::conn::http1` runs HTTP/1.1 over any
//! stream, and keeping one connection per client makes "was the request sent?" a question
//! about exactly one connection: hyper gives a request back, untouched, when it could not
//! start writing it ([`hyper::client::conn::TrySendError::take_message`]), which is the one
//! case where a write is known not to have happened.

use super::{Completion, Connector, Invocation, NodeCursor, Nodes, OpKind};
use crate::spec::Reads;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Longest response body accepted, bytes.
pub const BODY_BYTES_MAX: usize = 1 << 20;

/// gRPC codes etcd returns only before proposing anything: the op surely did not happen.
const DEFINITE_GRPC_CODES: &[i64] = &[3, 7, 8, 12, 16];

/// Why an HTTP exchange ended without a response.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// Nothing reached the node: definite.
    NotSent(String),
    /// The request may have reached the node: indefinite.
    Lost(String),
}

/// One HTTP/1.1 connection to one etcd member, over a stream from a [`Connector`].
pub(crate) struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    host: String,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        // The driver task owns the socket; aborting it closes the connection.
        self.driver.abort();
    }
}

impl HttpConn {
    /// Opens a connection to `addr` (nothing is sent yet, so any error is definite).
    pub(crate) async fn open(connector: &dyn Connector, addr: SocketAddr) -> Result<Self, String> {
        let stream = connector
            .connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("http handshake with {addr}: {e}"))?;
        let driver = tokio::spawn(async move {
            // Ends when the peer closes or the HttpConn is dropped; errors surface on requests.
            let _ = conn.await;
        });
        Ok(HttpConn {
            sender,
            driver,
            host: addr.to_string(),
        })
    }

    /// Whether the connection can no longer carry requests.
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// `POST path` with a JSON body; the status and the whole response body.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), Exchange> {
        self.sender
            .ready()
            .await
            .map_err(|e| Exchange::NotSent(format!("connection not ready: {e}")))?;
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Exchange::NotSent(format!("bad request: {e}")))?;
        let response = match self.sender.try_send_request(request).await {
            Ok(response) => response,
            Err(e) if e.message().is_some() => {
                return Err(Exchange::NotSent(format!("not written: {}", e.error())))
            }
            Err(e) => return Err(Exchange::Lost(format!("http: {}", e.into_error()))),
        };
        let status = response.status();
        let body = Limited::new(response.into_body(), BODY_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| Exchange::Lost(format!("reading response body: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

/// One client's connection to the cluster: one HTTP/1.1 connection at a time, to one member.
pub struct EtcdV3Client {
    nodes: NodeCursor,
    connector: Arc<dyn Connector>,
    conn: Option<HttpConn>,
    timeout: Duration,
    reads: Reads,
}

impl EtcdV3Client {
    /// A client starting at member `first` of `nodes`; each op gets `timeout` in all.
    pub fn new(
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        timeout: Duration,
        reads: Reads,
    ) -> EtcdV3Client {
        EtcdV3Client {
            nodes: NodeCursor::new(nodes, first),
            connector,
            conn: None,
            timeout,
            reads,
        }
    }

    /// Runs one operation to completion.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        let Some(addr) = self.nodes.attempt() else {
            return Completion::Fail("no nodes to talk to".into());
        };
        let deadline = Instant::now() + self.timeout;
        let (path, body) = request(inv, self.reads);
        match self.exchange(addr, path, body, deadline).await {
            Ok((status, body)) => {
                let completion = classify(inv, status, &body);
                if !matches!(completion, Completion::Ok(_)) && status != StatusCode::OK {
                    // An error answer from this member: try another one next time.
                    self.rotate();
                }
                completion
            }
            Err(Exchange::NotSent(e)) => {
                self.rotate();
                Completion::Fail(format!("not sent: {e}"))
            }
            Err(Exchange::Lost(e)) => {
                self.rotate();
                indefinite(inv, e)
            }
        }
    }

    /// Sends one request on the current connection, opening one if needed, by `deadline`.
    /// A connection reused from an earlier op that turns out to be closed before the request
    /// was written is replaced once: nothing was sent on it.
    async fn exchange(
        &mut self,
        addr: SocketAddr,
        path: &str,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<(StatusCode, Bytes), Exchange> {
        let mut reused = true;
        loop {
            let usable = matches!(&self.conn, Some(c) if !c.is_closed());
            if !usable {
                reused = false;
                let open = HttpConn::open(self.connector.as_ref(), addr);
                let conn = tokio::time::timeout_at(deadline, open)
                    .await
                    .map_err(|_| Exchange::NotSent(format!("connect to {addr}: timed out")))?
                    .map_err(Exchange::NotSent)?;
                self.conn = Some(conn);
            }
            let conn = self.conn.as_mut().expect("opened above");
            let result = tokio::time::timeout_at(deadline, conn.post(path, body.clone()))
                .await
                .unwrap_or_else(|_| Err(Exchange::Lost("timeout".into())));
            match result {
                Err(Exchange::NotSent(_)) if reused => {
                    self.conn = None;
                    reused = false;
                }
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
                Ok(answer) => return Ok(answer),
            }
        }
    }
}

/// The path and JSON body of `inv`.
fn request(inv: &Invocation, reads: Reads) -> (&'static str, Vec<u8>) {
    let key = B64.encode(inv.key.as_bytes());
    let enc = |v: i64| B64.encode(v.to_string());
    let body = match inv.kind {
        OpKind::Read => match reads {
            // `sync` and `plain` are ZooKeeper's (the spec refuses them for etcd).
            Reads::Linearizable | Reads::Sync => json!({ "key": key }),
            Reads::Serializable | Reads::Plain => json!({ "key": key, "serializable": true }),
        },
        OpKind::Write(v) => json!({ "key": key, "value": enc(v) }),
        OpKind::Cas(from, to) => json!({
            "compare": [{ "key": key, "target": "VALUE", "result": "EQUAL", "value": enc(from) }],
            "success": [{ "request_put": { "key": key, "value": enc(to) } }],
        }),
    };
    let path = match inv.kind {
        OpKind::Read => "/v3/kv/range",
        OpKind::Write(_) => "/v3/kv/put",
        OpKind::Cas(..) => "/v3/kv/txn",
    };
    (path, body.to_string().into_bytes())
}

/// The fields of a gateway answer that matter here; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
struct Answer {
    error: Option<String>,
    message: Option<String>,
    code: Option<i64>,
    #[serde(default)]
    kvs: Vec<Kv>,
    #[serde(default)]
    succeeded: bool,
}

#[derive(Debug, Deserialize)]
struct Kv {
    #[serde(default)]
    value: String,
}

/// An answer that did not come: `fail` for a read (no effect), `info` otherwise.
fn indefinite(inv: &Invocation, reason: String) -> Completion {
    match inv.kind {
        OpKind::Read => Completion::Fail(format!("{reason} (a read has no effect)")),
        _ => Completion::Info(reason),
    }
}

/// Maps an HTTP answer to an outcome (the table in the module docs).
fn classify(inv: &Invocation, status: StatusCode, body: &[u8]) -> Completion {
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(e) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            let reason = format!("HTTP {status}, unreadable body ({e}): {text:?}");
            return if status.is_client_error() {
                Completion::Fail(reason)
            } else {
                indefinite(inv, reason)
            };
        }
    };
    if answer.code.is_some_and(|c| c != 0) || answer.error.is_some() || !status.is_success() {
        let code = answer.code.unwrap_or(-1);
        let text = answer.error.or(answer.message).unwrap_or_default();
        let reason = format!("HTTP {status}, code {code}: {text}");
        let definite = DEFINITE_GRPC_CODES.contains(&code)
            || (answer.code.is_none() && status.is_client_error());
        return if definite {
            Completion::Fail(reason)
        } else {
            indefinite(inv, reason)
        };
    }
    match inv.kind {
        OpKind::Read => match answer.kvs.first() {
            None => Completion::Ok(None),
            Some(kv) => match decode_value(&kv.value) {
                Ok(v) => Completion::Ok(Some(v)),
                Err(e) => Completion::Fail(e),
            },
        },
        OpKind::Write(_) => Completion::Ok(None),
        OpKind::Cas(..) if answer.succeeded => Completion::Ok(None),
        OpKind::Cas(from, _) => Completion::Fail(format!("compare failed: value is not {from}")),
    }
}

/// A stored value: base64 of a decimal integer.
fn decode_value(b64: &str) -> Result<i64, String> {
    let bytes = B64
        .decode(b64)
        .map_err(|e| format!("value {b64:?} is not base64: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    text.trim()
        .parse()
        .map_err(|_| format!("value {text:?} is not a decimal integer"))
}

impl Nodes for EtcdV3Client {
    fn cursor(&self) -> &NodeCursor {
        &self.nodes
    }

    fn cursor_mut(&mut self) -> &mut NodeCursor {
        &mut self.nodes
    }

    fn disconnect(&mut self) {
        self.conn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(kind: OpKind) -> Invocation {
        Invocation {
            key: "k1".into(),
            kind,
        }
    }

    fn ok(inv: &Invocation, body: &str) -> Completion {
        classify(inv, StatusCode::OK, body.as_bytes())
    }

    #[test]
    fn encodes_requests() {
        let (path, body) = request(&inv(OpKind::Cas(5, 7)), Reads::Linearizable);
        assert_eq!(path, "/v3/kv/txn");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["compare"][0]["key"], "azE=");
        assert_eq!(body["compare"][0]["value"], "NQ==");
        assert_eq!(body["success"][0]["request_put"]["value"], "Nw==");
        let (_, body) = request(&inv(OpKind::Read), Reads::Serializable);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"key":"azE=","serializable":true}"#
        );
        let (_, body) = request(&inv(OpKind::Read), Reads::Linearizable);
        assert_eq!(String::from_utf8(body).unwrap(), r#"{"key":"azE="}"#);
    }

    #[test]
    fn maps_successes() {
        let read = inv(OpKind::Read);
        let hdr = r#""header":{"revision":"2","raft_term":"2"}"#;
        let found = format!(r#"{{{hdr},"kvs":[{{"key":"azE=","value":"NQ=="}}],"count":"1"}}"#);
        assert_eq!(ok(&read, &found), Completion::Ok(Some(5)));
        assert_eq!(ok(&read, &format!("{{{hdr}}}")), Completion::Ok(None));
        assert_eq!(
            ok(&inv(OpKind::Write(3)), &format!("{{{hdr}}}")),
            Completion::Ok(None)
        );
        let cas = inv(OpKind::Cas(5, 7));
        let won = format!(r#"{{{hdr},"succeeded":true,"responses":[]}}"#);
        assert_eq!(ok(&cas, &won), Completion::Ok(None));
        assert!(matches!(
            ok(&cas, &format!("{{{hdr}}}")),
            Completion::Fail(_)
        ));
    }

    #[test]
    fn maps_errors_by_definiteness() {
        let unavailable = r#"{"error":"etcdserver: leader changed","message":"etcdserver: leader changed","code":14}"#;
        let status = StatusCode::SERVICE_UNAVAILABLE;
        let write = inv(OpKind::Write(1));
        let read = inv(OpKind::Read);
        assert!(matches!(
            classify(&write, status, unavailable.as_bytes()),
            Completion::Info(_)
        ));
        assert!(matches!(
            classify(&inv(OpKind::Cas(1, 2)), status, unavailable.as_bytes()),
            Completion::Info(_)
        ));
        assert!(matches!(
            classify(&read, status, unavailable.as_bytes()),
            Completion::Fail(_)
        ));
        let invalid = r#"{"error":"bad","code":3}"#;
        assert!(matches!(
            classify(&write, StatusCode::BAD_REQUEST, invalid.as_bytes()),
            Completion::Fail(_)
        ));
        assert!(matches!(
            classify(&write, StatusCode::NOT_FOUND, b"Not Found"),
            Completion::Fail(_)
        ));
        assert!(matches!(
            classify(&write, StatusCode::BAD_GATEWAY, b"<html>"),
            Completion::Info(_)
        ));
        assert!(matches!(ok(&write, "{\"hea"), Completion::Info(_)));
        assert!(matches!(
            ok(&read, r#"{"kvs":[{"value":"eHl6"}]}"#),
            Completion::Fail(e) if e.contains("xyz")
        ));
        assert!(matches!(
            ok(&read, r#"{"kvs":[{"value":"!!"}]}"#),
            Completion::Fail(_)
        ));
    }

    #[test]
    fn a_lost_answer_is_info_for_writes_and_fail_for_reads() {
        assert!(matches!(
            indefinite(&inv(OpKind::Write(1)), "timeout".into()),
            Completion::Info(_)
        ));
        assert!(matches!(
            indefinite(&inv(OpKind::Read), "timeout".into()),
            Completion::Fail(_)
        ));
    }
}
