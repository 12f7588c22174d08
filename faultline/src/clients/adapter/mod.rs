//! Client adapters: how faultline's clients talk to a system under test.
//!
//! Every adapter turns an [`Invocation`] into a [`Completion`] and is honest about what it does
//! not know: an answer it did not get is `Info`, never a guess. A new adapter is a new variant
//! of [`Client`] and a new `spec::Adapter`; nothing else changes.

pub mod etcd_v3;
pub mod jsonl_tcp;

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
        }
    }

    /// Runs one operation to completion.
    pub async fn invoke(&mut self, inv: &Invocation) -> Completion {
        match self {
            Client::JsonlTcp(c) => c.invoke(inv).await,
            Client::EtcdV3(c) => c.invoke(inv).await,
        }
    }

    /// Drops the connection and moves to another node.
    pub fn rotate(&mut self) {
        match self {
            Client::JsonlTcp(c) => c.rotate(),
            Client::EtcdV3(c) => c.rotate(),
        }
    }

    /// Sends the next op to node `index` first (a spread client's home node); a connection
    /// to another node is dropped.
    pub fn set_node(&mut self, index: usize) {
        match self {
            Client::JsonlTcp(c) => c.set_node(index),
            Client::EtcdV3(c) => c.set_node(index),
        }
    }

    /// The node the next op goes to first.
    pub fn node(&self) -> &str {
        match self {
            Client::JsonlTcp(c) => c.node(),
            Client::EtcdV3(c) => c.node(),
        }
    }

    /// The node whose answer decided the last op (for an op without an answer, the node of
    /// its last attempt); `None` before the first op.
    pub fn last_node(&self) -> Option<&str> {
        match self {
            Client::JsonlTcp(c) => c.last_node(),
            Client::EtcdV3(c) => c.last_node(),
        }
    }

    /// The number of nodes this client knows.
    pub fn node_count(&self) -> usize {
        match self {
            Client::JsonlTcp(c) => c.node_count(),
            Client::EtcdV3(c) => c.node_count(),
        }
    }
}
