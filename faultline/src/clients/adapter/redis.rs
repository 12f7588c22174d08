//! The `redis` client adapter: Redis with Sentinel, RESP2 over the [`Connector`]'s TcpStream.
//!
//! Every op first asks the client's current sentinel (its node's `client_addr`, port 26379)
//! `SENTINEL get-master-addr-by-name fl`, then sends the op to that address (kept open while
//! the sentinel keeps naming it):
//!
//! | op    | command                                                                   |
//! |-------|---------------------------------------------------------------------------|
//! | read  | `GET k`                                                                   |
//! | write | `SET k v`                                                                 |
//! | cas   | `EVAL` of [`CAS_SCRIPT`] (atomic on the server): 1 = swapped, 0 = not     |
//!
//! Outcomes (docs/design.md, "History format"):
//!
//! | what came back                                          | read       | write, cas |
//! |---------------------------------------------------------|------------|------------|
//! | value / nil, `OK`, EVAL 1                               | `ok`       | `ok`       |
//! | EVAL 0 (value differs)                                  | -          | `fail`     |
//! | no sentinel answered, connect refused / timed out       | `fail`     | `fail`     |
//! | error reply READONLY, LOADING, MASTERDOWN, NOREPLICAS, BUSY, OOM, MISCONF, NOSCRIPT | `fail` | `fail` |
//! | any other error reply                                   | `fail`     | `info`     |
//! | timeout or connection lost after sending                | `fail`     | `info`     |
//!
//! The listed error replies are returned before the command executes. A read that did not
//! return is `fail` (it changed nothing). `last_node` is the node whose redis-server the op
//! went to (the sentinel's answer, by address), not the sentinel asked.

use super::{Completion, Connector, Invocation, NodeCursor, Nodes, OpKind};
use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode;
use redis_protocol::resp2::types::{OwnedFrame, Resp2Frame};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The name the sentinels monitor the master under (systems/redis/start-node.sh).
pub const MASTER_NAME: &str = "fl";

/// Compare-and-set in one server-side step: KEYS[1] from ARGV[1] to ARGV[2].
pub const CAS_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// Longest reply accepted, bytes.
const REPLY_BYTES_MAX: usize = 1 << 20;

/// Error-reply prefixes Redis sends before executing anything.
const DEFINITE_ERRORS: &[&str] = &[
    "READONLY",
    "LOADING",
    "MASTERDOWN",
    "NOREPLICAS",
    "BUSY",
    "OOM",
    "MISCONF",
    "NOSCRIPT",
];

/// Why a call ended without a reply, once the command may have been sent: indefinite.
#[derive(Debug)]
pub(crate) struct Lost(pub(crate) String);

/// One RESP2 connection.
pub(crate) struct RespConn {
    stream: TcpStream,
    buf: Vec<u8>,
    pub(crate) addr: SocketAddr,
}

impl RespConn {
    /// Connects to `addr` by `deadline` (nothing is sent: errors are definite).
    pub(crate) async fn open(
        connector: &dyn Connector,
        addr: SocketAddr,
        deadline: Instant,
    ) -> Result<RespConn, String> {
        let stream = tokio::time::timeout_at(deadline, connector.connect(addr))
            .await
            .map_err(|_| format!("connect to {addr}: timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(RespConn {
            stream,
            buf: Vec::new(),
            addr,
        })
    }

    /// Sends one command and reads its reply by `deadline`.
    pub(crate) async fn call(
        &mut self,
        args: &[&[u8]],
        deadline: Instant,
    ) -> Result<OwnedFrame, Lost> {
        let bytes = command(args);
        match tokio::time::timeout_at(deadline, self.stream.write_all(&bytes)).await {
            Err(_) => return Err(Lost("timeout sending".into())),
            Ok(Err(e)) => return Err(Lost(format!("sending: {e}"))),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline, self.read_reply()).await {
            Err(_) => Err(Lost("timeout".into())),
            Ok(r) => r.map_err(Lost),
        }
    }

    async fn read_reply(&mut self) -> Result<OwnedFrame, String> {
        let mut chunk = [0u8; 4096];
        loop {
            if !self.buf.is_empty() {
                match decode(&self.buf) {
                    Ok(Some((frame, used))) => {
                        self.buf.drain(..used);
                        return Ok(frame);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(format!("bad reply: {e:?}")),
                }
            }
            if self.buf.len() > REPLY_BYTES_MAX {
                return Err("reply too long".into());
            }
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading reply: {e}"))?;
            if n == 0 {
                return Err("connection closed before the reply".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// `args` as a RESP2 array of bulk strings.
pub(crate) fn command(args: &[&[u8]]) -> Vec<u8> {
    let frame = OwnedFrame::Array(
        args.iter()
            .map(|a| OwnedFrame::BulkString(a.to_vec()))
            .collect(),
    );
    let mut out = vec![0u8; frame.encode_len(false)];
    let n = encode(&mut out, &frame, false).expect("buffer sized by encode_len");
    out.truncate(n);
    out
}

/// A frame's text, for bulk and simple strings.
pub(crate) fn text(frame: &OwnedFrame) -> Option<String> {
    match frame {
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// The master's address in a `get-master-addr-by-name` reply.
fn master_addr(frame: &OwnedFrame) -> Result<SocketAddr, String> {
    let OwnedFrame::Array(items) = frame else {
        return Err(format!("sentinel: unexpected reply {frame:?}"));
    };
    let (Some(ip), Some(port)) = (items.first().and_then(text), items.get(1).and_then(text)) else {
        return Err(format!("sentinel: unexpected reply {frame:?}"));
    };
    let ip: IpAddr = ip.parse().map_err(|_| format!("sentinel: bad ip {ip:?}"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("sentinel: bad port {port:?}"))?;
    Ok(SocketAddr::new(ip, port))
}

/// One client: a sentinel to ask (its node cursor) and a connection to the master it named.
pub struct RedisClient {
    nodes: NodeCursor,
    ips: Vec<(String, IpAddr)>,
    connector: Arc<dyn Connector>,
    sentinel: Option<RespConn>,
    master: Option<RespConn>,
    last: Option<String>,
    timeout: Duration,
}

impl RedisClient {
    /// A client whose first sentinel is node `first` of `nodes` (their sentinel addresses).
    pub fn new(
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        timeout: Duration,
    ) -> RedisClient {
        let ips = nodes.iter().map(|(n, a)| (n.clone(), a.ip())).collect();
        RedisClient {
            nodes: NodeCursor::new(nodes, first),
            ips,
            connector,
            sentinel: None,
            master: None,
            last: None,
            timeout,
        }
    }

    fn node_of(&self, addr: SocketAddr) -> Option<String> {
        self.ips
            .iter()
            .find(|(_, ip)| *ip == addr.ip())
            .map(|(n, _)| n.clone())
    }

    /// The master the current sentinel names; tries each sentinel once, from the current one.
    async fn find_master(&mut self, deadline: Instant) -> Result<SocketAddr, String> {
        let mut errors = Vec::new();
        for _ in 0..self.ips.len().max(1) {
            let Some(addr) = self.nodes.attempt() else {
                return Err("no nodes to talk to".into());
            };
            self.last = None;
            if self.sentinel.as_ref().is_none_or(|c| c.addr != addr) {
                match RespConn::open(self.connector.as_ref(), addr, deadline).await {
                    Ok(c) => self.sentinel = Some(c),
                    Err(e) => {
                        errors.push(e);
                        self.sentinel = None;
                        self.nodes.advance();
                        continue;
                    }
                }
            }
            let conn = self.sentinel.as_mut().expect("opened above");
            let args: [&[u8]; 3] = [
                b"SENTINEL",
                b"get-master-addr-by-name",
                MASTER_NAME.as_bytes(),
            ];
            match conn.call(&args, deadline).await {
                Ok(frame) => match master_addr(&frame) {
                    Ok(a) => return Ok(a),
                    Err(e) => errors.push(e),
                },
                Err(Lost(e)) => errors.push(format!("sentinel {addr}: {e}")),
            }
            self.sentinel = None;
            self.nodes.advance();
            if Instant::now() >= deadline {
                break;
            }
        }
        Err(format!(
            "no master from the sentinels: {}",
            errors.join("; ")
        ))
    }

    /// Runs one operation to completion.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        let deadline = Instant::now() + self.timeout;
        let addr = match self.find_master(deadline).await {
            Ok(a) => a,
            Err(e) => return Completion::Fail(e),
        };
        self.last = Some(self.node_of(addr).unwrap_or_else(|| addr.to_string()));
        if self.master.as_ref().is_none_or(|c| c.addr != addr) {
            match RespConn::open(self.connector.as_ref(), addr, deadline).await {
                Ok(c) => self.master = Some(c),
                Err(e) => {
                    self.master = None;
                    return Completion::Fail(e);
                }
            }
        }
        let conn = self.master.as_mut().expect("opened above");
        let (a, b) = match inv.kind {
            OpKind::Read => (String::new(), String::new()),
            OpKind::Write(v) => (v.to_string(), String::new()),
            OpKind::Cas(from, to) => (from.to_string(), to.to_string()),
        };
        let key = inv.key.as_bytes();
        let args: Vec<&[u8]> = match inv.kind {
            OpKind::Read => vec![b"GET", key],
            OpKind::Write(_) => vec![b"SET", key, a.as_bytes()],
            OpKind::Cas(..) => vec![
                b"EVAL",
                CAS_SCRIPT.as_bytes(),
                b"1",
                key,
                a.as_bytes(),
                b.as_bytes(),
            ],
        };
        match conn.call(&args, deadline).await {
            Ok(frame) => {
                let c = classify(inv, &frame);
                if matches!(frame, OwnedFrame::Error(_)) {
                    self.master = None;
                }
                c
            }
            Err(Lost(e)) => {
                self.master = None;
                match inv.kind {
                    OpKind::Read => Completion::Fail(format!("{e} (a read has no effect)")),
                    _ => Completion::Info(e),
                }
            }
        }
    }
}

/// Maps a reply to an outcome (the table in the module docs).
fn classify(inv: &Invocation, frame: &OwnedFrame) -> Completion {
    if let OwnedFrame::Error(e) = frame {
        let definite = DEFINITE_ERRORS.iter().any(|p| e.starts_with(p));
        return match inv.kind {
            OpKind::Read => Completion::Fail(e.clone()),
            _ if definite => Completion::Fail(e.clone()),
            _ => Completion::Info(e.clone()),
        };
    }
    match (inv.kind, frame) {
        (OpKind::Read, OwnedFrame::Null) => Completion::Ok(None),
        (OpKind::Read, f) => match text(f).as_deref().map(str::parse::<i64>) {
            Some(Ok(v)) => Completion::Ok(Some(v)),
            _ => Completion::Fail(format!("value {f:?} is not a decimal integer")),
        },
        (OpKind::Write(_), OwnedFrame::SimpleString(s)) if s == b"OK" => Completion::Ok(None),
        (OpKind::Cas(..), OwnedFrame::Integer(1)) => Completion::Ok(None),
        (OpKind::Cas(from, _), OwnedFrame::Integer(0)) => {
            Completion::Fail(format!("compare failed: value is not {from}"))
        }
        (_, f) => Completion::Info(format!("unexpected reply {f:?}")),
    }
}

impl Nodes for RedisClient {
    fn cursor(&self) -> &NodeCursor {
        &self.nodes
    }

    fn cursor_mut(&mut self) -> &mut NodeCursor {
        &mut self.nodes
    }

    fn disconnect(&mut self) {
        self.sentinel = None;
        self.master = None;
    }

    /// The node whose redis-server the last op went to (or whose sentinel, if no master was
    /// found).
    fn last_node(&self) -> Option<&str> {
        self.last.as_deref().or_else(|| self.nodes.last())
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

    #[test]
    fn encodes_commands_as_bulk_string_arrays() {
        assert_eq!(
            command(&[b"SET", b"k1", b"5"]),
            b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\n5\r\n"
        );
    }

    #[test]
    fn maps_replies_to_outcomes() {
        let read = inv(OpKind::Read);
        let write = inv(OpKind::Write(3));
        let cas = inv(OpKind::Cas(1, 2));
        assert_eq!(classify(&read, &OwnedFrame::Null), Completion::Ok(None));
        assert_eq!(
            classify(&read, &OwnedFrame::BulkString(b"7".to_vec())),
            Completion::Ok(Some(7))
        );
        assert!(matches!(
            classify(&read, &OwnedFrame::BulkString(b"x".to_vec())),
            Completion::Fail(_)
        ));
        assert_eq!(
            classify(&write, &OwnedFrame::SimpleString(b"OK".to_vec())),
            Completion::Ok(None)
        );
        assert_eq!(
            classify(&cas, &OwnedFrame::Integer(1)),
            Completion::Ok(None)
        );
        assert!(matches!(
            classify(&cas, &OwnedFrame::Integer(0)),
            Completion::Fail(_)
        ));
        let readonly =
            OwnedFrame::Error("READONLY You can't write against a read only replica.".into());
        assert!(matches!(classify(&write, &readonly), Completion::Fail(_)));
        let other = OwnedFrame::Error("ERR something".into());
        assert!(matches!(classify(&write, &other), Completion::Info(_)));
        assert!(matches!(classify(&read, &other), Completion::Fail(_)));
    }

    #[test]
    fn reads_the_master_address_from_a_sentinel_reply() {
        let reply = OwnedFrame::Array(vec![
            OwnedFrame::BulkString(b"10.0.0.2".to_vec()),
            OwnedFrame::BulkString(b"6379".to_vec()),
        ]);
        assert_eq!(master_addr(&reply).unwrap(), ([10, 0, 0, 2], 6379).into());
        assert!(master_addr(&OwnedFrame::Null).is_err());
    }
}
