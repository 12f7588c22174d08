//! The naming scheme and the subnet choice: how a run's resources are found again.
//!
//! Why: `faultline cleanup` must find what a SIGKILLed run left behind without any state file, so
//! every kernel object we create carries the run id in its name, and nothing else we do carries a
//! name of that shape. Linux limits interface names to 15 bytes, so the id is at most 6 characters
//! of `[a-z0-9]` and node names at most `n99`:
//!
//! | object | name | example (id `k3x9qa`) | longest |
//! |---|---|---|---|
//! | namespace of node nK | `fl-<id>-nK` | `fl-k3x9qa-n1` | 13 |
//! | namespace of the clients | `fl-<id>-c` | `fl-k3x9qa-c` | 11 |
//! | bridge (host side) | `flbr-<id>` | `flbr-k3x9qa` | 11 |
//! | veth, host end, node nK | `flv-<id>-nK` | `flv-k3x9qa-n1` | 14 |
//! | veth, host end, clients | `flv-<id>-c` | `flv-k3x9qa-c` | 12 |
//! | veth, namespace end | `eth0` (inside the namespace) | | |
//! | iptables chains (inside each namespace) | `FL-<id>-in`, `FL-<id>-out` | `FL-k3x9qa-in` | 14 |
//!
//! Subnet: node nK has address `10.A.B.K`, the clients' namespace `10.A.B.250`, on a /24 chosen
//! deterministically from the run id (a hash picks `A` in 100..=249 and `B`), skipping any candidate
//! that overlaps a route of the host (`ip -4 route show table all`, default routes aside). The /24
//! exists only inside the run's namespaces: the bridge has no address and the host gets no route,
//! so two runs may even share a /24 without seeing each other (they sit on different bridges).
//! Reading the host's routes is the only thing this module does outside our namespaces.

use std::fmt;
use std::net::Ipv4Addr;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest run id: keeps `flv-<id>-n99` within the 15-byte interface name limit.
pub const RUN_ID_LEN_MAX: usize = 6;
/// Most nodes a netns cluster can have (names up to `n99`, addresses up to `.99`).
pub const NODES_MAX: usize = 99;
/// Last octet of the clients' namespace address.
pub const CLIENT_HOST_OCTET: u8 = 250;

/// A run's short id: 1 to 6 characters of `[a-z0-9]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    /// Validates `id` against the naming scheme.
    pub fn new(id: &str) -> Result<Self> {
        let ok = !id.is_empty()
            && id.len() <= RUN_ID_LEN_MAX
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(RunId(id.to_string()))
        } else {
            Err(Error::InvalidRunId(id.to_string()))
        }
    }

    /// A fresh random id of 6 characters. Not a fault choice, so not seeded: ids must differ
    /// between runs that share a seed.
    pub fn random() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::thread_rng();
        let id = (0..RUN_ID_LEN_MAX)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        RunId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RunId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        RunId::new(&s)
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.0
    }
}

/// The name of node `k` (1-based): `n1`, `n2`, ...
pub fn node_name(k: usize) -> String {
    format!("n{k}")
}

/// The 1-based index of a node name `nK`, if it is one.
pub fn node_index(node: &str) -> Option<usize> {
    let digits = node.strip_prefix('n')?;
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|k| (1..=NODES_MAX).contains(k))
}

/// Namespace of node `node` (`n1`...) or of the clients (`c`).
pub fn netns_name(id: &RunId, member: &str) -> String {
    format!("fl-{id}-{member}")
}

/// The bridge of a run.
pub fn bridge_name(id: &RunId) -> String {
    format!("flbr-{id}")
}

/// Host end of the veth pair of `member` (`n1`... or `c`).
pub fn veth_name(id: &RunId, member: &str) -> String {
    format!("flv-{id}-{member}")
}

/// The chain INPUT jumps to, inside every namespace of the run.
pub fn chain_in(id: &RunId) -> String {
    format!("FL-{id}-in")
}

/// The chain OUTPUT jumps to, inside every namespace of the run.
pub fn chain_out(id: &RunId) -> String {
    format!("FL-{id}-out")
}

/// The member of the clients' namespace.
pub const CLIENT_MEMBER: &str = "c";

fn is_member(s: &str) -> bool {
    s == CLIENT_MEMBER || node_index(s).is_some()
}

/// If `name` is one of our namespaces (`fl-<id>-nK` or `fl-<id>-c`), its run id.
pub fn parse_netns(name: &str) -> Option<RunId> {
    let rest = name.strip_prefix("fl-")?;
    let (id, member) = rest.split_once('-')?;
    is_member(member).then(|| RunId::new(id).ok())?
}

/// If `name` is one of our links (`flbr-<id>`, `flv-<id>-nK`, `flv-<id>-c`), its run id.
pub fn parse_link(name: &str) -> Option<RunId> {
    if let Some(id) = name.strip_prefix("flbr-") {
        return RunId::new(id).ok();
    }
    let rest = name.strip_prefix("flv-")?;
    let (id, member) = rest.split_once('-')?;
    is_member(member).then(|| RunId::new(id).ok())?
}

/// A run's private /24: `10.a.b.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// Second octet.
    pub a: u8,
    /// Third octet.
    pub b: u8,
}

impl Subnet {
    /// The address of host `octet` on this /24.
    pub fn host(&self, octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, octet)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.host(0)
    }

    /// The `i`-th candidate for `id` (FNV-1a of the id and `i`).
    pub fn candidate(id: &RunId, i: u32) -> Subnet {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.as_str().bytes().chain(i.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Subnet {
            a: 100 + (h % 150) as u8,
            b: (h >> 16) as u8,
        }
    }

    /// Whether this /24 overlaps the prefix `net/len`.
    pub fn overlaps(&self, net: Ipv4Addr, len: u8) -> bool {
        let len = len.min(32);
        let shorter = len.min(24);
        let mask = if shorter == 0 {
            0
        } else {
            u32::MAX << (32 - shorter)
        };
        (u32::from(self.network()) & mask) == (u32::from(net) & mask)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "10.{}.{}.0/24", self.a, self.b)
    }
}

/// Parses the destination prefixes of `ip -4 route show table all` (default routes skipped).
pub fn parse_routes(text: &str) -> Vec<(Ipv4Addr, u8)> {
    const TYPES: [&str; 10] = [
        "unicast",
        "local",
        "broadcast",
        "multicast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
        "anycast",
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let mut dest = words.next().unwrap_or("");
        if TYPES.contains(&dest) {
            dest = words.next().unwrap_or("");
        }
        let (addr, len) = match dest.split_once('/') {
            Some((a, l)) => (a, l.parse().unwrap_or(32)),
            None => (dest, 32),
        };
        if let Ok(addr) = addr.parse::<Ipv4Addr>() {
            out.push((addr, len));
        }
    }
    out
}

/// Picks the run's /24: the first candidate that overlaps no route of the host.
pub fn choose_subnet(id: &RunId, host_routes: &[(Ipv4Addr, u8)]) -> Result<Subnet> {
    const CANDIDATES_MAX: u32 = 256;
    (0..CANDIDATES_MAX)
        .map(|i| Subnet::candidate(id, i))
        .find(|s| !host_routes.iter().any(|&(net, len)| s.overlaps(net, len)))
        .ok_or_else(|| Error::NoSubnet(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_interface_limit() {
        let id = RunId::new("abcdef").unwrap();
        assert!(veth_name(&id, "n99").len() <= 15);
        assert!(bridge_name(&id).len() <= 15);
        assert!(RunId::new("abcdefg").is_err());
        assert!(RunId::new("ab-c").is_err());
        assert!(RunId::new("").is_err());
    }

    #[test]
    fn parse_recognises_only_our_names() {
        let id = RunId::new("k3x9qa").unwrap();
        assert_eq!(parse_netns("fl-k3x9qa-n1"), Some(id.clone()));
        assert_eq!(parse_netns("fl-k3x9qa-c"), Some(id.clone()));
        assert_eq!(parse_netns("fl-k3x9qa-keep"), None);
        assert_eq!(parse_netns("fl-k3x9qa-n0"), None);
        assert_eq!(parse_netns("flx-k3x9qa-n1"), None);
        assert_eq!(parse_link("flbr-k3x9qa"), Some(id.clone()));
        assert_eq!(parse_link("flv-k3x9qa-n12"), Some(id));
        assert_eq!(parse_link("flv-k3x9qa-eth"), None);
        assert_eq!(parse_link("eth0"), None);
    }

    #[test]
    fn subnet_skips_host_routes() {
        let id = RunId::new("abc123").unwrap();
        let first = Subnet::candidate(&id, 0);
        let routes = parse_routes(&format!(
            "default via 192.0.2.1 dev eth0\n10.{}.0.0/16 dev x proto kernel\nlocal 127.0.0.1 dev lo\n",
            first.a
        ));
        assert_eq!(routes.len(), 2);
        let chosen = choose_subnet(&id, &routes).unwrap();
        assert_ne!(chosen.a, first.a);
        assert_eq!(
            choose_subnet(&id, &routes).unwrap(),
            chosen,
            "deterministic"
        );
        assert!(first.overlaps(Ipv4Addr::new(10, 0, 0, 0), 8));
        assert!(!first.overlaps(Ipv4Addr::new(192, 168, 0, 0), 16));
        assert!(first.overlaps(first.host(7), 32));
    }
}
