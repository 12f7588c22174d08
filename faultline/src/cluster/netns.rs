//! Client connections from inside the clients' network namespace: the host has no route to
//! the nodes' subnet, so every connection a client or the leader probe opens goes through here.

use crate::clients::adapter::Connector;
use nemesis::RunId;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

/// Opens connections from inside the clients' network namespace. `connect(2)` runs on a helper
/// thread that entered the namespace; the socket keeps the namespace it was created in, so
/// tokio can drive it from anywhere.
pub struct NetnsConnector {
    netns: String,
    timeout: Duration,
}

impl NetnsConnector {
    /// A connector for run `id`'s clients' namespace.
    pub fn new(id: &RunId, timeout: Duration) -> NetnsConnector {
        NetnsConnector {
            netns: nemesis::names::netns_name(id, "c"),
            timeout,
        }
    }

    fn connect_blocking(&self, addr: SocketAddr) -> io::Result<std::net::TcpStream> {
        let timeout = self.timeout;
        let stream = nemesis::in_netns(&self.netns, move || {
            std::net::TcpStream::connect_timeout(&addr, timeout)
        })
        .map_err(io::Error::other)??;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Connector for NetnsConnector {
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<tokio::net::TcpStream>> + Send>> {
        let me = NetnsConnector {
            netns: self.netns.clone(),
            timeout: self.timeout,
        };
        Box::pin(async move {
            let std = tokio::task::spawn_blocking(move || me.connect_blocking(addr))
                .await
                .map_err(io::Error::other)??;
            tokio::net::TcpStream::from_std(std)
        })
    }

    fn netns(&self) -> Option<String> {
        Some(self.netns.clone())
    }
}
