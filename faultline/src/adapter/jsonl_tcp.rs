//! The `jsonl-tcp` client adapter: Maelstrom `lin-kv` bodies, one JSON object per line.
//!
//! Outcome mapping (DESIGN.md, "Client protocol"), which decides what the checker may assume:
//! - `read_ok` / `write_ok` / `cas_ok`: `ok`;
//! - error 20 on a read: `ok` with value null (the key is absent, an observation);
//! - definite errors (10, 11, 12, 14, 20 on a cas, 22): `fail`, the op surely did not happen;
//!   error 11 (not leader) is first retried on the hinted leader, a bounded number of times,
//!   because the attempt that got it certainly had no effect;
//! - indefinite errors (0, 13, anything unknown), a timeout, or a connection lost after the
//!   request was written: `info`;
//! - a connection that could not be opened, so that nothing was sent: `fail`.

use super::{Completion, Connector, Invocation, OpKind};
use serde::{Deserialize, Serialize};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How many times one op follows a not-leader hint before it is recorded as `fail`.
pub const REDIRECTS_MAX: usize = 3;
/// Longest reply line accepted.
const LINE_BYTES_MAX: usize = 1 << 20;

/// A request body.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Request<'a> {
    Read {
        msg_id: u64,
        key: &'a str,
    },
    Write {
        msg_id: u64,
        key: &'a str,
        value: i64,
        client: &'a str,
        seq: u64,
    },
    Cas {
        msg_id: u64,
        key: &'a str,
        from: i64,
        to: i64,
        client: &'a str,
        seq: u64,
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
    nodes: Vec<(String, SocketAddr)>,
    current: usize,
    connector: Arc<dyn Connector>,
    conn: Option<(BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
    client_id: String,
    msg_id: u64,
    seq: u64,
    timeout: Duration,
    line: String,
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
        let current = first % nodes.len().max(1);
        JsonlTcpClient {
            nodes,
            current,
            connector,
            conn: None,
            client_id,
            msg_id: 0,
            seq: 0,
            timeout,
            line: String::new(),
        }
    }

    /// The node this client currently talks to.
    pub fn node(&self) -> &str {
        &self.nodes[self.current].0
    }

    /// Forgets the connection and moves to the next node (after an `info`, or to spread load).
    pub fn rotate(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.nodes.len();
    }

    /// Runs one operation to completion.
    ///
    /// A write or cas whose answer was lost (timeout, connection dropped after sending) is
    /// retried once on the next node with the same `client`/`seq`, as an at-most-once client
    /// does: a node that deduplicates answers the retry without applying it twice. After a
    /// lost attempt only an ok answer is definite; any error becomes `info`, because the lost
    /// attempt may still take effect.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        self.seq += 1;
        let seq = self.seq;
        let mut redirects = 0;
        let mut lost: Option<String> = None;
        let indefinite = |lost: &Option<String>, why: String| match lost {
            Some(first) => Completion::Info(format!("{first}; retry: {why}")),
            None => Completion::Fail(why),
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
                    if inv.kind != OpKind::Read && lost.is_none() {
                        lost = Some(e);
                        continue;
                    }
                    return Completion::Info(match lost {
                        Some(first) => format!("{first}; retry: {e}"),
                        None => e,
                    });
                }
            };
            match classify(inv, &reply) {
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
        let target = hint.and_then(|h| self.nodes.iter().position(|(id, _)| id == h));
        match target {
            Some(i) if i != self.current => {
                self.current = i;
                self.conn = None;
            }
            _ => self.rotate(),
        }
    }

    async fn round_trip(&mut self, inv: &Invocation, seq: u64) -> Result<Reply, Attempt> {
        if self.conn.is_none() {
            let addr = self.nodes[self.current].1;
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
        let mut body = serde_json::to_vec(&request(inv, msg_id, &self.client_id, seq))
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

fn request<'a>(inv: &'a Invocation, msg_id: u64, client: &'a str, seq: u64) -> Request<'a> {
    let key = inv.key.as_str();
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

fn classify(inv: &Invocation, reply: &Reply) -> Classified {
    let text = || reply.text.clone().unwrap_or_default();
    let done = Classified::Done;
    match (reply.kind.as_str(), inv.kind) {
        ("read_ok", OpKind::Read) => done(Completion::Ok(reply.value)),
        ("write_ok", OpKind::Write(_)) | ("cas_ok", OpKind::Cas(..)) => done(Completion::Ok(None)),
        ("error", kind) => match reply.code {
            Some(11) => Classified::NotLeader(reply.leader.clone()),
            Some(20) if kind == OpKind::Read => done(Completion::Ok(None)),
            Some(code @ (10 | 12 | 14 | 20 | 22)) => {
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
        answer: fn(&str) -> Option<String>,
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

    #[tokio::test]
    async fn a_lost_write_is_retried_once_with_the_same_seq_and_a_later_error_is_info() {
        let (dropper, seen_a) = fake(|_| None).await;
        let (acker, seen_b) = fake(|l| {
            Some(format!(
                r#"{{"in_reply_to":{},"type":"write_ok"}}"#,
                msg_id(l)
            ))
        })
        .await;
        let (refuser, _) = fake(|l| {
            Some(format!(
                r#"{{"in_reply_to":{},"type":"error","code":22,"text":"no"}}"#,
                msg_id(l)
            ))
        })
        .await;
        let nodes =
            |second: SocketAddr| vec![("n1".to_string(), dropper), ("n2".to_string(), second)];
        let mut c = JsonlTcpClient::new(
            nodes(acker),
            0,
            Arc::new(super::super::DirectConnector),
            "c9".into(),
            Duration::from_secs(2),
        );
        assert_eq!(c.invoke(&inv(OpKind::Write(7))).await, Completion::Ok(None));
        let first: serde_json::Value = serde_json::from_str(&seen_a.lock().unwrap()[0]).unwrap();
        let retry: serde_json::Value = serde_json::from_str(&seen_b.lock().unwrap()[0]).unwrap();
        assert_eq!(first["seq"], retry["seq"], "the retry reuses the seq");
        assert_eq!(retry["client"], "c9");
        // A definite error on the retry cannot undo the lost attempt: info, not fail.
        let mut c = JsonlTcpClient::new(
            nodes(refuser),
            0,
            Arc::new(super::super::DirectConnector),
            "c9".into(),
            Duration::from_secs(2),
        );
        assert!(matches!(
            c.invoke(&inv(OpKind::Cas(1, 2))).await,
            Completion::Info(_)
        ));
        // Reads are not retried: a lost read is info at once.
        let mut c = JsonlTcpClient::new(
            nodes(acker),
            0,
            Arc::new(super::super::DirectConnector),
            "c9".into(),
            Duration::from_secs(2),
        );
        assert!(matches!(
            c.invoke(&inv(OpKind::Read)).await,
            Completion::Info(_)
        ));
    }
}
