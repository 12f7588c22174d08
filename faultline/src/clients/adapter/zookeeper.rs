//! The `zookeeper` adapter: a register per key as one znode, through ZooKeeper's own client
//! protocol (the `zookeeper-client` crate).
//!
//! | op    | ZooKeeper calls                                                         |
//! |-------|-------------------------------------------------------------------------|
//! | read  | `sync` (with `reads = "sync"`) then `getData`; no znode = `Ok(None)`      |
//! | write | `setData` (any version); no znode: `create`, and `setData` if it raced   |
//! | cas   | `getData`, compare, then `setData` with the version read                 |
//!
//! Values are decimal strings. Each key is the znode `/faultline-<key>`.
//!
//! **One server per session.** A client connects to its current node only (a one-server
//! connect string), so the node that served an op is the node the history records; moving to
//! another node (`set_node`, `rotate`) closes the session and opens a new one there.
//!
//! **Network namespace.** The crate opens its own sockets, so they cannot come from the
//! [`Connector`]. Each client runs its session on a thread of its own that entered the
//! connector's namespace ([`Connector::netns`]) and drives a current-thread runtime; ops go
//! there over a channel.
//!
//! **Honest completions.** Reads have no effect, so a read that got no answer is `Fail`. A
//! write or cas whose request may have reached the server (timeout, connection loss, session
//! expiry) is `Info`; `BadVersion` and a value mismatch are `Fail`; a failure to open a session
//! is `Fail` (nothing was sent).

use super::{Completion, Connector, Invocation, NodeCursor, Nodes, OpKind};
use crate::spec::Reads;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use zookeeper_client as zk;

/// The session timeout asked for (ZooKeeper caps it at 20 ticks: 4 s with a 200 ms tick).
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

struct Request {
    addr: SocketAddr,
    fresh: bool,
    inv: Invocation,
    reply: oneshot::Sender<Completion>,
}

/// One client's session with one ZooKeeper server at a time.
pub struct ZookeeperClient {
    nodes: NodeCursor,
    requests: mpsc::UnboundedSender<Request>,
    fresh: bool,
    timeout: Duration,
}

impl ZookeeperClient {
    /// A client starting at node `first` of `nodes`; each op gets `timeout` to connect and
    /// `timeout` to be answered.
    pub fn new(
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        timeout: Duration,
        reads: Reads,
    ) -> ZookeeperClient {
        let (requests, rx) = mpsc::unbounded_channel();
        let netns = connector.netns();
        let sync = reads == Reads::Sync;
        std::thread::Builder::new()
            .name("zookeeper-client".into())
            .spawn(move || {
                let run = move || worker(rx, timeout, sync);
                match netns {
                    Some(ns) => {
                        if let Err(e) = nemesis::in_netns(&ns, run) {
                            tracing::error!("zookeeper client: cannot enter netns {ns}: {e}");
                        }
                    }
                    None => run(),
                }
            })
            .expect("spawning a client thread");
        ZookeeperClient {
            nodes: NodeCursor::new(nodes, first),
            requests,
            fresh: true,
            timeout,
        }
    }

    /// Runs one operation to completion.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        let Some(addr) = self.nodes.attempt() else {
            return Completion::Fail("no nodes to talk to".into());
        };
        let (reply, answer) = oneshot::channel();
        let request = Request {
            addr,
            fresh: std::mem::take(&mut self.fresh),
            inv: inv.clone(),
            reply,
        };
        if self.requests.send(request).is_err() {
            return Completion::Fail("the client thread is gone".into());
        }
        // The worker bounds connect and op by `timeout` each; this is a backstop.
        let backstop = self.timeout * 2 + Duration::from_secs(1);
        let completion = match tokio::time::timeout(backstop, answer).await {
            Ok(Ok(c)) => c,
            Ok(Err(_)) => unknown(inv, "the client thread is gone".into()),
            Err(_) => unknown(inv, "no answer from the client thread".into()),
        };
        if !matches!(completion, Completion::Ok(_)) {
            // Whatever went wrong, the next op opens a new session (on the next node).
            self.rotate();
        }
        completion
    }
}

/// The znode of `key`.
pub fn path(key: &str) -> String {
    format!("/faultline-{}", key.replace('/', "_"))
}

fn unknown(inv: &Invocation, why: String) -> Completion {
    match inv.kind {
        OpKind::Read => Completion::Fail(why),
        _ => Completion::Info(why),
    }
}

fn decode(data: &[u8]) -> Result<Option<i64>, String> {
    let text = std::str::from_utf8(data).map_err(|_| format!("not UTF-8: {data:?}"))?;
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("not a number: {text:?}"))
}

fn worker(mut rx: mpsc::UnboundedReceiver<Request>, timeout: Duration, sync: bool) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("zookeeper client: no runtime: {e}");
            return;
        }
    };
    rt.block_on(async move {
        let mut session: Option<(SocketAddr, zk::Client)> = None;
        while let Some(req) = rx.recv().await {
            if req.fresh || session.as_ref().is_some_and(|(a, _)| *a != req.addr) {
                session = None;
            }
            if session.is_none() {
                let mut connector = zk::Client::connector();
                connector.session_timeout(SESSION_TIMEOUT);
                connector.connection_timeout(timeout);
                let server = req.addr.to_string();
                match tokio::time::timeout(timeout, connector.connect(&server)).await {
                    Ok(Ok(c)) => session = Some((req.addr, c)),
                    Ok(Err(e)) => {
                        let _ = req
                            .reply
                            .send(Completion::Fail(format!("not connected: {e}")));
                        continue;
                    }
                    Err(_) => {
                        let _ = req.reply.send(Completion::Fail("connect timed out".into()));
                        continue;
                    }
                }
            }
            let client = &session.as_ref().expect("connected above").1;
            let completion = match tokio::time::timeout(timeout, op(client, &req.inv, sync)).await {
                Ok(c) => c,
                Err(_) => unknown(&req.inv, "timed out".into()),
            };
            if !matches!(completion, Completion::Ok(_)) {
                session = None;
            }
            let _ = req.reply.send(completion);
        }
    });
}

async fn op(client: &zk::Client, inv: &Invocation, sync: bool) -> Completion {
    let path = path(&inv.key);
    match inv.kind {
        OpKind::Read => {
            if sync {
                if let Err(e) = client.sync(&path).await {
                    return Completion::Fail(format!("sync: {e}"));
                }
            }
            match client.get_data(&path).await {
                Ok((data, _)) => match decode(&data) {
                    Ok(v) => Completion::Ok(v),
                    Err(e) => Completion::Fail(e),
                },
                Err(zk::Error::NoNode) => Completion::Ok(None),
                Err(e) => Completion::Fail(format!("getData: {e}")),
            }
        }
        OpKind::Write(v) => write(client, &path, v).await,
        OpKind::Cas(from, to) => {
            let (data, stat) = match client.get_data(&path).await {
                Ok(found) => found,
                Err(zk::Error::NoNode) => return Completion::Fail("no such key".into()),
                Err(e) => return Completion::Fail(format!("getData: {e}")),
            };
            match decode(&data) {
                Ok(Some(v)) if v == from => {}
                Ok(v) => return Completion::Fail(format!("value is {v:?}, not {from}")),
                Err(e) => return Completion::Fail(e),
            }
            let data = to.to_string();
            match client
                .set_data(&path, data.as_bytes(), Some(stat.version))
                .await
            {
                Ok(_) => Completion::Ok(None),
                Err(zk::Error::BadVersion) => Completion::Fail("bad version".into()),
                Err(zk::Error::NoNode) => Completion::Fail("no such key".into()),
                Err(e) => Completion::Info(format!("setData: {e}")),
            }
        }
    }
}

async fn write(client: &zk::Client, path: &str, v: i64) -> Completion {
    let data = v.to_string();
    match client.set_data(path, data.as_bytes(), None).await {
        Ok(_) => return Completion::Ok(None),
        Err(zk::Error::NoNode) => {}
        Err(e) => return Completion::Info(format!("setData: {e}")),
    }
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match client.create(path, data.as_bytes(), &options).await {
        Ok(_) => return Completion::Ok(None),
        Err(zk::Error::NodeExists) => {}
        Err(e) => return Completion::Info(format!("create: {e}")),
    }
    // Another client created it in between: overwrite.
    match client.set_data(path, data.as_bytes(), None).await {
        Ok(_) => Completion::Ok(None),
        Err(e) => Completion::Info(format!("setData: {e}")),
    }
}

impl Nodes for ZookeeperClient {
    fn cursor(&self) -> &NodeCursor {
        &self.nodes
    }

    fn cursor_mut(&mut self) -> &mut NodeCursor {
        &mut self.nodes
    }

    fn disconnect(&mut self) {
        self.fresh = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_znodes_and_values_numbers() {
        assert_eq!(path("k1"), "/faultline-k1");
        assert_eq!(path("a/b"), "/faultline-a_b");
        assert_eq!(decode(b"42"), Ok(Some(42)));
        assert_eq!(decode(b"-3"), Ok(Some(-3)));
        assert!(decode(b"").is_err());
        assert!(decode(&[0xff]).is_err());
    }

    #[test]
    fn a_lost_read_fails_and_a_lost_write_is_unknown() {
        let inv = |kind| Invocation {
            key: "k".into(),
            kind,
        };
        assert!(matches!(
            unknown(&inv(OpKind::Read), "x".into()),
            Completion::Fail(_)
        ));
        assert!(matches!(
            unknown(&inv(OpKind::Write(1)), "x".into()),
            Completion::Info(_)
        ));
        assert!(matches!(
            unknown(&inv(OpKind::Cas(1, 2)), "x".into()),
            Completion::Info(_)
        ));
    }
}
