//! Client adapters: how faultline's clients talk to a system under test.
//!
//! Every adapter turns an [`Invocation`] into a [`Completion`] and is honest about what it does
//! not know: an answer it did not get is `Info`, never a guess. A new adapter is a new variant
//! of [`Client`] and a new `spec::Adapter`; nothing else changes.

pub mod etcd_v3;
pub mod jsonl_tcp;
pub mod redis;
pub mod zookeeper;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Read the key.
    Read,
    /// Write the value.
    Write(i64),
    /// Compare-and-set `from` -> `to`.
    Cas(i64, i64),
}

impl OpKind {
    /// The history's `f`.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write(_) => "write",
            OpKind::Cas(..) => "cas",
        }
    }
}

/// One operation on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The key.
    pub key: String,
    /// The operation.
    pub kind: OpKind,
}

/// How an operation ended, from the client's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// It happened; for a read, the value (None: the key does not exist).
    Ok(Option<i64>),
    /// It certainly did not happen; the reason.
    Fail(String),
    /// Unknown; the reason (timeout, connection lost, indefinite error).
    Info(String),
}

/// Opens TCP connections to nodes. Abstracted because the clients may have to connect from
/// inside a network namespace (the netns backend) rather than from the host.
pub trait Connector: Send + Sync {
    /// Connects to `addr`.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

    /// The network namespace connections come from, for clients that open their own sockets
    /// (they must do it from a thread inside it); `None`: the current one.
    fn netns(&self) -> Option<String> {
        None
    }
}

/// Connects from the current network namespace (loopback tests, the in-memory register).
pub struct DirectConnector;

impl Connector for DirectConnector {
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>> {
        Box::pin(TcpStream::connect(addr))
    }
}

/// Which node of the cluster a client sends its next attempt to, and which node its last
/// attempt went to: the part of client state that every adapter has.
#[derive(Debug, Clone)]
pub struct NodeCursor {
    nodes: Vec<(String, SocketAddr)>,
    current: usize,
    last: Option<usize>,
}

impl NodeCursor {
    /// A cursor at node `first` of `nodes`.
    pub fn new(nodes: Vec<(String, SocketAddr)>, first: usize) -> NodeCursor {
        let current = first % nodes.len().max(1);
        NodeCursor {
            nodes,
            current,
            last: None,
        }
    }

    /// The node the next attempt goes to ("" without nodes).
    pub fn id(&self) -> &str {
        self.nodes.get(self.current).map_or("", |n| n.0.as_str())
    }

    /// Marks an attempt at the current node and returns its address; `None` without nodes.
    pub fn attempt(&mut self) -> Option<SocketAddr> {
        let addr = self.nodes.get(self.current)?.1;
        self.last = Some(self.current);
        Some(addr)
    }

    /// The node of the last attempt: the one whose answer decided an op, or that did not
    /// answer.
    pub fn last(&self) -> Option<&str> {
        self.last
            .and_then(|i| self.nodes.get(i))
            .map(|n| n.0.as_str())
    }

    /// Moves to node `index` (modulo the node count); whether that is another node.
    pub fn move_to(&mut self, index: usize) -> bool {
        let index = index % self.nodes.len().max(1);
        let moved = index != self.current;
        self.current = index;
        moved
    }

    /// Moves to node `id`, if the cluster has it; whether that is another node.
    pub fn move_to_id(&mut self, id: &str) -> bool {
        match self.nodes.iter().position(|(n, _)| n == id) {
            Some(i) => self.move_to(i),
            None => false,
        }
    }

    /// Moves to the next node.
    pub fn advance(&mut self) {
        self.current = (self.current + 1) % self.nodes.len().max(1);
    }
}

/// The node choice every adapter shares, over its [`NodeCursor`]: which node the next op goes
/// to first, which node decided the last op, moving on. An adapter says only where its cursor
/// is and how to drop its connection (or session) to the current node.
pub trait Nodes {
    /// The adapter's cursor.
    fn cursor(&self) -> &NodeCursor;
    /// The adapter's cursor, to move it.
    fn cursor_mut(&mut self) -> &mut NodeCursor;
    /// Drops the connection to the current node; the next op connects again.
    fn disconnect(&mut self);

    /// The node the next op goes to first.
    fn node(&self) -> &str {
        self.cursor().id()
    }

    /// The node of the last op's last attempt: the one whose answer decided it, or that did
    /// not answer.
    fn last_node(&self) -> Option<&str> {
        self.cursor().last()
    }

    /// Sends the next op to node `index` (modulo the node count) first; a connection to
    /// another node is dropped.
    fn set_node(&mut self, index: usize) {
        if self.cursor_mut().move_to(index) {
            self.disconnect();
        }
    }

    /// Drops the connection and moves to the next node (after an `info`, or to spread load).
    fn rotate(&mut self) {
        self.disconnect();
        self.cursor_mut().advance();
    }
}

/// Adapter settings that come from the system spec, beyond the adapter's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// The read consistency to ask for (`etcd-v3` honours `serializable`).
    pub reads: crate::spec::Reads,
}

impl ClientOptions {
    /// The options `spec` asks for.
    pub fn from_spec(spec: &crate::spec::SystemSpec) -> ClientOptions {
        ClientOptions { reads: spec.reads }
    }
}

/// A client of some adapter.
pub enum Client {
    /// `jsonl-tcp`.
    JsonlTcp(jsonl_tcp::JsonlTcpClient),
    /// `etcd-v3`.
    EtcdV3(etcd_v3::EtcdV3Client),
    /// `zookeeper`.
    Zookeeper(zookeeper::ZookeeperClient),
    /// `redis`.
    Redis(redis::RedisClient),
}

impl Client {
    /// Builds a client for `adapter` with default options (linearizable reads).
    pub fn new(
        adapter: crate::spec::Adapter,
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        client_id: String,
        timeout: Duration,
    ) -> Client {
        let options = ClientOptions::default();
        Client::with_options(
            adapter, options, nodes, first, connector, client_id, timeout,
        )
    }

    /// Builds a client for `adapter` with the spec's `options` (see [`ClientOptions::from_spec`]).
    pub fn with_options(
        adapter: crate::spec::Adapter,
        options: ClientOptions,
        nodes: Vec<(String, SocketAddr)>,
        first: usize,
        connector: Arc<dyn Connector>,
        client_id: String,
        timeout: Duration,
    ) -> Client {
        match adapter {
            crate::spec::Adapter::JsonlTcp => Client::JsonlTcp(jsonl_tcp::JsonlTcpClient::new(
                nodes, first, connector, client_id, timeout,
            )),
            crate::spec::Adapter::EtcdV3 => Client::EtcdV3(etcd_v3::EtcdV3Client::new(
                nodes,
                first,
                connector,
                timeout,
                options.reads,
            )),
            crate::spec::Adapter::Zookeeper => Client::Zookeeper(zookeeper::ZookeeperClient::new(
                nodes,
                first,
                connector,
                timeout,
                options.reads,
            )),
            crate::spec::Adapter::Redis => {
                Client::Redis(redis::RedisClient::new(nodes, first, connector, timeout))
            }
            crate::spec::Adapter::Maelstrom => Client::JsonlTcp(
                jsonl_tcp::JsonlTcpClient::maelstrom(nodes, first, connector, client_id, timeout),
            ),
        }
    }

    /// Runs one operation to completion.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        match self {
            Client::JsonlTcp(c) => c.invoke(inv).await,
            Client::EtcdV3(c) => c.invoke(inv).await,
            Client::Zookeeper(c) => c.invoke(inv).await,
            Client::Redis(c) => c.invoke(inv).await,
        }
    }

    fn nodes(&self) -> &dyn Nodes {
        match self {
            Client::JsonlTcp(c) => c,
            Client::EtcdV3(c) => c,
            Client::Zookeeper(c) => c,
            Client::Redis(c) => c,
        }
    }

    fn nodes_mut(&mut self) -> &mut dyn Nodes {
        match self {
            Client::JsonlTcp(c) => c,
            Client::EtcdV3(c) => c,
            Client::Zookeeper(c) => c,
            Client::Redis(c) => c,
        }
    }

    /// Drops the connection and moves to another node.
    pub fn rotate(&mut self) {
        self.nodes_mut().rotate();
    }

    /// Sends the next op to node `index` (modulo the node count) first, a spread client's
    /// home node; a connection to another node is dropped.
    pub fn set_node(&mut self, index: usize) {
        self.nodes_mut().set_node(index);
    }

    /// The node the next op goes to first.
    pub fn node(&self) -> &str {
        self.nodes().node()
    }

    /// The node whose answer decided the last op (for an op without an answer, the node of
    /// its last attempt); `None` before the first op.
    pub fn last_node(&self) -> Option<&str> {
        self.nodes().last_node()
    }
}

#[cfg(test)]
mod tests {
    use super::NodeCursor;

    fn cursor(first: usize) -> NodeCursor {
        let nodes = ["n1", "n2", "n3"]
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), ([10, 0, 0, i as u8 + 1], 7000).into()))
            .collect();
        NodeCursor::new(nodes, first)
    }

    #[test]
    fn a_cursor_remembers_the_node_of_the_last_attempt_not_where_it_moved_since() {
        let mut c = cursor(4);
        assert_eq!((c.id(), c.last()), ("n2", None));
        assert_eq!(c.attempt(), Some(([10, 0, 0, 2], 7000).into()));
        c.advance();
        assert_eq!((c.id(), c.last()), ("n3", Some("n2")));
        assert!(!c.move_to(5), "5 mod 3 is where it is");
        assert!(c.move_to(3));
        assert_eq!(c.id(), "n1");
        assert!(c.move_to_id("n3"));
        assert!(!c.move_to_id("n3"));
        assert!(!c.move_to_id("n9"), "an unknown hint does not move it");
        assert_eq!(c.id(), "n3");
    }

    #[test]
    fn a_cursor_without_nodes_attempts_nothing() {
        let mut c = NodeCursor::new(Vec::new(), 3);
        assert_eq!(c.attempt(), None);
        assert_eq!((c.id(), c.last()), ("", None));
        c.advance();
        assert!(!c.move_to(2));
    }
}
