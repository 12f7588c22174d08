//! The `jsonl-tcp` client adapter: Maelstrom `lin-kv` bodies, one JSON object per line.
//!
//! Outcome mapping (docs/design.md, "Client protocol"), which decides what the checker may assume:
//! - `read_ok` / `write_ok` / `cas_ok`: `ok`;
//! - error 20 on a read: `ok` with value null (the key is absent, an observation);
//! - definite errors (1, 10, 11, 12, 14, 20 on a cas, 21, 22, 30): `fail`, the op surely did
//!   not happen;
//!   error 11 (not leader) is first retried on the hinted leader, a bounded number of times,
//!   because the attempt that got it certainly had no effect;
//! - indefinite errors (0, 13, anything unknown), a timeout, or a connection lost after the
//!   request was written: `info`;
//! - a connection that could not be opened, so that nothing was sent: `fail`.
//!
//! The same client talks to Maelstrom nodes through their relays ([`JsonlTcpClient::maelstrom`]):
//! keys go out as integers (`k3` as `3`, as Maelstrom's lin-kv sends them), and a write or cas
//! whose answer was lost is never sent again, because a Maelstrom node is not asked to
//! deduplicate: a retry it applied twice would be a bug of the client, not of the node.

use super::{Completion, Connector, Invocation, NodeCursor, Nodes, OpKind};
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How many times one op follows a not-leader hint before it is recorded as `fail`.
pub const REDIRECTS_MAX: usize = 3;
/// How many times a write or cas whose answer was lost is sent again (same `client`/`seq`).
pub const RETRIES_MAX: usize = 2;
/// Longest reply line accepted.
const LINE_BYTES_MAX: usize = 1 << 20;

/// A key as sent: the key's name, or (Maelstrom) the integer in it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Key<'a> {
    Name(&'a str),
    Int(i64),
}

/// A request body.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Request<'a> {
    Read {
        msg_id: u64,
        key: Key<'a>,
    },
    Write {
        msg_id: u64,
        key: Key<'a>,
        value: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    Cas {
        msg_id: u64,
        key: Key<'a>,
        from: i64,
        to: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        client: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
}

/// A reply body; unknown fields are ignored.
#[derive(Debug, Deserialize)]
struct Reply {
    in_reply_to: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    value: Option<i64>,
    code: Option<i64>,
    text: Option<String>,
    leader: Option<String>,
}

/// One client's connection to the cluster.
pub struct JsonlTcpClient {
    nodes: NodeCursor,
    connector: Arc<dyn Connector>,
    conn: Option<(BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
    client_id: String,
    msg_id: u64,
    seq: u64,
    timeout: Duration,
    line: String,
    retries_max: usize,
    int_keys: bool,
}

impl JsonlTcpClient {
    /// A client named `client_id`, starting at node `first` of `nodes`.
    pub fn new(
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        client_id: String,
        timeout: Duration,
    ) -> JsonlTcpClient {
        JsonlTcpClient {
            nodes: NodeCursor::new(nodes, first),
            connector,
            conn: None,
            client_id,
            msg_id: 0,
            seq: 0,
            timeout,
            line: String::new(),
            retries_max: RETRIES_MAX,
            int_keys: false,
        }
    }

    /// A client of Maelstrom nodes behind their relays: integer keys, no retry of an op whose
    /// answer was lost.
    pub fn maelstrom(
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        client_id: String,
        timeout: Duration,
    ) -> JsonlTcpClient {
        JsonlTcpClient {
            retries_max: 0,
            int_keys: true,
            ..JsonlTcpClient::new(nodes, first, connector, client_id, timeout)
        }
    }

    /// Runs one operation to completion.
    ///
    /// A write or cas whose answer was lost (timeout, connection dropped after sending) is
    /// retried, up to [`RETRIES_MAX`] times, on the next node with the same `client`/`seq`, as
    /// an at-most-once client (6.824's Clerk) does: a node that deduplicates answers a retry
    /// with the reply of the op's one application. So after a lost attempt an ok answer, and an
    /// error that only applying the op can produce (20 on a cas, 22), are definite; any other
    /// error becomes `info`, because the lost attempt may still take effect. A node that applies
    /// a retry twice therefore shows: a cas applied by its lost attempt and again by its retry
    /// answers 22 and is recorded `fail`, though its value was written.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        self.seq += 1;
        let seq = self.seq;
        let mut redirects = 0;
        let mut lost: Vec<String> = Vec::new();
        // What happened to each lost attempt, in order.
        let lost_text = |lost: &[String]| lost.join("; retry: ");
        let indefinite = |lost: &[String], why: String| {
            if lost.is_empty() {
                Completion::Fail(why)
            } else {
                Completion::Info(format!("{}; then {why}", lost_text(lost)))
            }
        };
        loop {
            let reply = match self.round_trip(inv, seq).await {
                Ok(reply) => reply,
                Err(Attempt::NotSent(e)) => {
                    self.rotate();
                    return indefinite(&lost, format!("not sent: {e}"));
                }
                Err(Attempt::Lost(e)) => {
                    self.rotate();
                    lost.push(e);
                    if inv.kind != OpKind::Read && lost.len() <= self.retries_max {
                        continue;
                    }
                    return Completion::Info(lost_text(&lost));
                }
            };
            match classify(inv, &reply) {
                Classified::Done(Completion::Fail(why)) if lost.is_empty() || applied(&reply) => {
                    return Completion::Fail(why)
                }
                Classified::Done(Completion::Fail(why)) => return indefinite(&lost, why),
                Classified::Done(c) => return c,
                Classified::NotLeader(hint) if redirects < REDIRECTS_MAX => {
                    redirects += 1;
                    self.follow(hint.as_deref());
                }
                Classified::NotLeader(_) => {
                    self.rotate();
                    return indefinite(&lost, "not leader".into());
                }
            }
        }
    }

    fn follow(&mut self, hint: Option<&str>) {
        if hint.is_some_and(|h| self.nodes.move_to_id(h)) {
            self.conn = None;
        } else {
            self.rotate();
        }
    }

    async fn round_trip(&mut self, inv: &Invocation, seq: u64) -> Result<Reply, Attempt> {
        let addr = self
            .nodes
            .attempt()
            .ok_or_else(|| Attempt::NotSent("no nodes to talk to".into()))?;
        if self.conn.is_none() {
            let stream = tokio::time::timeout(self.timeout, self.connector.connect(addr))
                .await
                .map_err(|_| Attempt::NotSent(format!("connect to {addr}: timed out")))?
                .map_err(|e| Attempt::NotSent(format!("connect to {addr}: {e}")))?;
            let _ = stream.set_nodelay(true);
            let (r, w) = stream.into_split();
            self.conn = Some((BufReader::new(r), w));
        }
        self.msg_id += 1;
        let msg_id = self.msg_id;
        let mut body = serde_json::to_vec(&request(
            inv,
            msg_id,
            &self.client_id,
            seq,
            self.int_keys,
            self.retries_max > 0,
        ))
        .expect("a request always serializes");
        body.push(b'\n');
        let (reader, writer) = self.conn.as_mut().expect("connected above");
        if let Err(e) = writer.write_all(&body).await {
            // A failed write may still have delivered the request.
            self.conn = None;
            return Err(Attempt::Lost(format!("write: {e}")));
        }
        let line = &mut self.line;
        let read = tokio::time::timeout(self.timeout, read_reply(reader, line, msg_id)).await;
        match read {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.conn = None;
                Err(Attempt::Lost(format!("read: {e}")))
            }
            Err(_) => {
                self.conn = None;
                Err(Attempt::Lost("timeout".into()))
            }
        }
    }
}

/// Why an attempt ended without a reply.
enum Attempt {
    /// Nothing reached the node: definite.
    NotSent(String),
    /// The request may have reached the node: indefinite.
    Lost(String),
}

enum Classified {
    Done(Completion),
    NotLeader(Option<String>),
}

fn request<'a>(
    inv: &'a Invocation,
    msg_id: u64,
    client: &'a str,
    seq: u64,
    int_keys: bool,
    dedup: bool,
) -> Request<'a> {
    let key = key(&inv.key, int_keys);
    // Without retries there is nothing to deduplicate: a Maelstrom client's bodies carry
    // Maelstrom's fields only.
    let (client, seq) = if dedup {
        (Some(client), Some(seq))
    } else {
        (None, None)
    };
    match inv.kind {
        OpKind::Read => Request::Read { msg_id, key },
        OpKind::Write(value) => Request::Write {
            msg_id,
            key,
            value,
            client,
            seq,
        },
        OpKind::Cas(from, to) => Request::Cas {
            msg_id,
            key,
            from,
            to,
            client,
            seq,
        },
    }
}

/// The key as sent: with `int_keys`, the integer its name ends with (`k3` -> 3), if any.
fn key(name: &str, int_keys: bool) -> Key<'_> {
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    match digits.parse() {
        Ok(i) if int_keys => Key::Int(i),
        _ => Key::Name(name),
    }
}

async fn read_reply(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut String,
    msg_id: u64,
) -> io::Result<Reply> {
    loop {
        line.clear();
        let n = reader.read_line(line).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if line.len() > LINE_BYTES_MAX {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
        }
        let reply: Reply = serde_json::from_str(line.trim_end())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {e}")))?;
        // A reply to an older request (after a timeout we reconnect, so this is rare) is skipped.
        if reply.in_reply_to == Some(msg_id) {
            return Ok(reply);
        }
    }
}

/// Errors that only applying the op can produce (a cas that found another value, or no key):
/// under the protocol's at-most-once contract they are the result of the op's one application.
fn applied(reply: &Reply) -> bool {
    reply.kind == "error" && matches!(reply.code, Some(20 | 22))
}

fn classify(inv: &Invocation, reply: &Reply) -> Classified {
    let text = || reply.text.clone().unwrap_or_default();
    let done = Classified::Done;
    match (reply.kind.as_str(), inv.kind) {
        ("read_ok", OpKind::Read) => done(Completion::Ok(reply.value)),
        ("write_ok", OpKind::Write(_)) | ("cas_ok", OpKind::Cas(..)) => done(Completion::Ok(None)),
        ("error", kind) => match reply.code {
            Some(11) => Classified::NotLeader(reply.leader.clone()),
            Some(20) if kind == OpKind::Read => done(Completion::Ok(None)),
            Some(code @ (1 | 10 | 12 | 14 | 20 | 21 | 22 | 30)) => {
                done(Completion::Fail(format!("error {code}: {}", text())))
            }
            Some(code) => done(Completion::Info(format!("error {code}: {}", text()))),
            None => done(Completion::Info(format!("error without code: {}", text()))),
        },
        (other, _) => done(Completion::Info(format!(
            "unexpected reply type {other:?} to {}",
            inv.kind.name()
        ))),
    }
}

impl Nodes for JsonlTcpClient {
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

    fn reply(json: &str) -> Reply {
        serde_json::from_str(json).unwrap()
    }

    fn inv(kind: OpKind) -> Invocation {
        Invocation {
            key: "k1".into(),
            kind,
        }
    }

    fn done(c: Classified) -> Completion {
        match c {
            Classified::Done(c) => c,
            Classified::NotLeader(h) => panic!("not leader {h:?}"),
        }
    }

    #[test]
    fn maps_answers_to_outcomes() {
        let read = inv(OpKind::Read);
        let cas = inv(OpKind::Cas(1, 2));
        let r = |j: &str| reply(j);
        assert_eq!(
            done(classify(
                &read,
                &r(r#"{"in_reply_to":1,"type":"read_ok","value":5}"#)
            )),
            Completion::Ok(Some(5))
        );
        assert_eq!(
            done(classify(
                &read,
                &r(r#"{"in_reply_to":1,"type":"error","code":20}"#)
            )),
            Completion::Ok(None)
        );
        assert!(matches!(
            done(classify(
                &cas,
                &r(r#"{"in_reply_to":1,"type":"error","code":20}"#)
            )),
            Completion::Fail(_)
        ));
        assert!(matches!(
            done(classify(
                &cas,
                &r(r#"{"in_reply_to":1,"type":"error","code":22}"#)
            )),
            Completion::Fail(_)
        ));
        assert!(matches!(
            done(classify(
                &cas,
                &r(r#"{"in_reply_to":1,"type":"error","code":0}"#)
            )),
            Completion::Info(_)
        ));
        assert!(matches!(
            done(classify(
                &cas,
                &r(r#"{"in_reply_to":1,"type":"error","code":13}"#)
            )),
            Completion::Info(_)
        ));
        assert!(matches!(
            classify(&cas, &r(r#"{"in_reply_to":1,"type":"error","code":11,"leader":"n2"}"#)),
            Classified::NotLeader(Some(h)) if h == "n2"
        ));
        assert!(matches!(
            done(classify(
                &read,
                &r(r#"{"in_reply_to":1,"type":"write_ok"}"#)
            )),
            Completion::Info(_)
        ));
    }

    /// A one-connection fake node: answers each request line with `answer(line)`, or drops
    /// the connection without answering when it returns None. Returns its address and the
    /// request lines it saw.
    async fn fake(
        answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap().push(line.clone());
                    match answer(&line) {
                        Some(reply) => {
                            let _ = w.write_all(format!("{reply}\n").as_bytes()).await;
                        }
                        None => break,
                    }
                }
            }
        });
        (addr, seen)
    }

    fn msg_id(line: &str) -> u64 {
        serde_json::from_str::<serde_json::Value>(line).unwrap()["msg_id"]
            .as_u64()
            .unwrap()
    }

    fn error_reply(code: u32) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        move |l| {
            Some(format!(
                r#"{{"in_reply_to":{},"type":"error","code":{code},"text":"no"}}"#,
                msg_id(l)
            ))
        }
    }

    fn client(nodes: Vec<SocketAddr>) -> JsonlTcpClient {
        JsonlTcpClient::new(
            nodes
                .into_iter()
                .enumerate()
                .map(|(i, a)| (format!("n{}", i + 1), a))
                .collect(),
            0,
            Arc::new(super::super::DirectConnector),
            "c9".into(),
            Duration::from_secs(2),
        )
    }

    #[tokio::test]
    async fn a_lost_write_is_retried_with_the_same_seq_on_the_next_nodes() {
        let (dropper, seen_a) = fake(|_| None).await;
        let (dropper2, seen_b) = fake(|_| None).await;
        let (acker, seen_c) = fake(|l| {
            Some(format!(
                r#"{{"in_reply_to":{},"type":"write_ok"}}"#,
                msg_id(l)
            ))
        })
        .await;
        let mut c = client(vec![dropper, dropper2, acker]);
        assert_eq!(c.invoke(&inv(OpKind::Write(7))).await, Completion::Ok(None));
        let seq = |seen: &Arc<std::sync::Mutex<Vec<String>>>| {
            let v: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0]).unwrap();
            (v["client"].clone(), v["seq"].clone())
        };
        assert_eq!(
            seq(&seen_a),
            seq(&seen_b),
            "the first retry reuses client/seq"
        );
        assert_eq!(seq(&seen_a), seq(&seen_c), "so does the second");
        assert_eq!(seq(&seen_a).0, "c9");
        // Lost on every node, more times than retries allowed: info.
        let mut c = client(vec![dropper, dropper2]);
        assert!(matches!(
            c.invoke(&inv(OpKind::Write(8))).await,
            Completion::Info(_)
        ));
        // Reads are not retried: a lost read is info at once.
        let before = seen_c.lock().unwrap().len();
        let mut c = client(vec![dropper, acker]);
        assert!(matches!(
            c.invoke(&inv(OpKind::Read)).await,
            Completion::Info(_)
        ));
        assert_eq!(
            seen_c.lock().unwrap().len(),
            before,
            "the read was not sent again"
        );
    }

    #[tokio::test]
    async fn after_a_lost_attempt_only_errors_of_applying_the_op_are_definite() {
        let (dropper, _) = fake(|_| None).await;
        // 22: the retry was applied and found another value; under at-most-once that is the
        // op's one application, so the cas did not happen.
        let (mismatch, _) = fake(error_reply(22)).await;
        let mut c = client(vec![dropper, mismatch]);
        assert!(matches!(
            c.invoke(&inv(OpKind::Cas(1, 2))).await,
            Completion::Fail(_)
        ));
        // 14 (abort) says only that the retry did nothing: the lost attempt may still apply.
        let (abort, _) = fake(error_reply(14)).await;
        let mut c = client(vec![dropper, abort]);
        assert!(matches!(
            c.invoke(&inv(OpKind::Cas(1, 2))).await,
            Completion::Info(_)
        ));
        // Without a lost attempt, 14 is a plain definite failure (a fresh fake: each serves
        // one connection at a time).
        let (abort2, _) = fake(error_reply(14)).await;
        let mut c = client(vec![abort2]);
        assert!(matches!(
            c.invoke(&inv(OpKind::Cas(1, 2))).await,
            Completion::Fail(_)
        ));
    }
}
