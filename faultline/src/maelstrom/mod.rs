//! Maelstrom nodes under real faults.
//!
//! A Maelstrom node is any program that reads JSON messages on stdin and writes them on stdout,
//! one per line (`{"src":"c1","dest":"n1","body":{"type":"...","msg_id":1}}`), and logs on
//! stderr. Maelstrom runs such nodes inside one JVM with a simulated network. faultline runs the
//! same programs, unchanged, as real processes in network namespaces:
//!
//! - **[`relay`]**: for each node, a relay process of faultline's own (`faultline relay`, the
//!   process the nemesis starts, kills, pauses and restarts) runs inside that node's namespace.
//!   It starts the node with pipes on stdin and stdout, sends `init` on every start, and carries
//!   every message whose `dest` is another node to that node's relay over TCP across the
//!   namespaces' network, so that an iptables partition or a pause really cuts it. Clients reach
//!   the node through its relay too.
//! - **[`service`]**: Maelstrom's services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`), run by
//!   the harness in the clients' namespace, which partitions never cut (as in Maelstrom, where
//!   services are always reachable).
//! - **[`stats`]**: what the relays counted (server-to-server messages, losses), read after
//!   the run for Maelstrom's "messages per op".
//!
//! A spec says `client = "maelstrom"` and gives only the node's command line as `start`; the
//! harness wraps it in a relay ([`relay_command`]).

pub mod relay;
pub mod service;
pub mod stats;
pub mod workloads;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The port every relay listens on for other relays, on its node's address.
pub const PEER_PORT: u16 = 7001;
/// The port of the services, on the clients' namespace's address.
pub const SERVICE_PORT: u16 = 7100;
/// The client id the relay itself uses (for `init`); clients get `c1` and up.
pub const RELAY_CLIENT: &str = "c0";
/// Maelstrom's services, answered by [`service`].
pub const SERVICES: &[&str] = &["lin-kv", "seq-kv", "lww-kv", "lin-tso"];
/// Longest message line accepted, in bytes (Raft logs in one message reach hundreds of KB).
pub const LINE_BYTES_MAX: usize = 64 << 20;

/// How message delays are drawn (Maelstrom's `--latency-dist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LatencyDist {
    /// Every message takes exactly `latency`.
    #[default]
    Constant,
    /// Uniform between 0 and twice `latency` (mean `latency`).
    Uniform,
    /// Exponential with mean `latency`.
    Exponential,
}

impl LatencyDist {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LatencyDist::Constant => "constant",
            LatencyDist::Uniform => "uniform",
            LatencyDist::Exponential => "exponential",
        }
    }
}

/// Faults the relays apply to node-to-node messages, on top of the nemesis: what a kernel
/// without netem cannot do. Every draw comes from the relay's seeded RNG.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetOptions {
    /// Mean delay of a node-to-node message, in milliseconds (0: none).
    pub latency_ms: f64,
    /// How delays are drawn; a non-constant one reorders messages.
    pub latency_dist: LatencyDist,
    /// Probability that a message is dropped.
    pub loss: f64,
    /// Probability that a message is delivered twice (each copy with its own delay).
    pub duplicate: f64,
}

impl NetOptions {
    /// Checks the numbers; the error names the flag.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.latency_ms.is_finite() && (0.0..=60_000.0).contains(&self.latency_ms)) {
            return Err(format!(
                "--latency: expected milliseconds from 0 to 60000, found {}",
                self.latency_ms
            ));
        }
        for (flag, p) in [
            ("--message-loss", self.loss),
            ("--duplicate", self.duplicate),
        ] {
            if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                return Err(format!(
                    "{flag}: expected a probability from 0 to 1, found {p}"
                ));
            }
        }
        Ok(())
    }

    /// The relay flags that carry these options.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.latency_ms > 0.0 {
            args.push(format!("--latency={}", self.latency_ms));
            args.push(format!("--latency-dist={}", self.latency_dist.name()));
        }
        if self.loss > 0.0 {
            args.push(format!("--message-loss={}", self.loss));
        }
        if self.duplicate > 0.0 {
            args.push(format!("--duplicate={}", self.duplicate));
        }
        args
    }
}

impl fmt::Display for NetOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NetOptions::default() {
            return write!(f, "no message faults");
        }
        write!(
            f,
            "latency {} ms ({}), loss {}, duplicate {}",
            self.latency_ms,
            self.latency_dist.name(),
            self.loss,
            self.duplicate
        )
    }
}

/// The clients' namespace's address on the run's /24, where the services listen: the nodes'
/// /24 with host part [`nemesis::names::CLIENT_HOST_OCTET`].
pub fn clients_ip(node_ip: IpAddr) -> IpAddr {
    match node_ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, nemesis::names::CLIENT_HOST_OCTET))
        }
        other => other,
    }
}

/// What the harness tells one relay.
#[derive(Debug, Clone)]
pub struct RelayPlan<'a> {
    /// The `faultline` executable.
    pub program: String,
    /// This node's id.
    pub id: &'a str,
    /// Every node, in order, with its address.
    pub nodes: &'a [(String, IpAddr)],
    /// Where the relay listens for clients.
    pub client_addr: SocketAddr,
    /// Where the services are.
    pub service: SocketAddr,
    /// The relay's counters file.
    pub stats: &'a std::path::Path,
    /// Message faults.
    pub net: NetOptions,
    /// The seed of the relay's draws (the run's seed and the node's index).
    pub seed: u64,
    /// How long the node may take to answer `init`.
    pub init_timeout_s: f64,
}

/// The command line that runs `node_command` behind a relay.
pub fn relay_command(plan: &RelayPlan, node_command: Vec<String>) -> Vec<String> {
    let mut argv = vec![
        plan.program.clone(),
        "relay".to_string(),
        "--id".to_string(),
        plan.id.to_string(),
    ];
    for (id, ip) in plan.nodes {
        argv.push(format!("--node={id}={ip}"));
    }
    argv.push(format!("--client-listen={}", plan.client_addr));
    argv.push(format!("--service={}", plan.service));
    argv.push(format!("--stats={}", plan.stats.display()));
    argv.push(format!("--seed={}", plan.seed));
    argv.push(format!("--init-timeout={}", plan.init_timeout_s));
    argv.extend(plan.net.to_args());
    argv.push("--".to_string());
    argv.extend(node_command);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_options_are_validated_naming_the_flag() {
        let ok = NetOptions {
            latency_ms: 5.0,
            latency_dist: LatencyDist::Exponential,
            loss: 0.1,
            duplicate: 0.0,
        };
        assert!(ok.validate().is_ok());
        assert_eq!(
            ok.to_args(),
            [
                "--latency=5",
                "--latency-dist=exponential",
                "--message-loss=0.1"
            ]
        );
        let bad = NetOptions { loss: 1.5, ..ok };
        assert!(bad.validate().unwrap_err().contains("--message-loss"));
        let bad = NetOptions {
            latency_ms: f64::NAN,
            ..ok
        };
        assert!(bad.validate().unwrap_err().contains("--latency"));
    }

    #[test]
    fn the_services_live_at_the_clients_host_of_the_nodes_subnet() {
        let ip: IpAddr = "10.123.4.2".parse().unwrap();
        assert_eq!(clients_ip(ip).to_string(), "10.123.4.250");
    }
}
