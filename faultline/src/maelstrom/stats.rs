//! What the relays counted: each relay appends its cumulative counters to
//! `nodes/<id>.relay.jsonl` every half second and when it ends; a restarted relay (new pid)
//! starts from zero. A run's total is the sum, over nodes and pids, of each pid's last line.
//! A relay killed by SIGKILL loses at most its last half second of counts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The counters file of `node` in the run directory `run_dir`.
pub fn path(run_dir: &Path, node: &str) -> PathBuf {
    run_dir.join("nodes").join(format!("{node}.relay.jsonl"))
}

/// Counters summed over a run's relays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayTotals {
    /// Messages nodes sent to other nodes (Maelstrom's server-to-server count).
    pub to_nodes: u64,
    /// Messages nodes sent to clients.
    pub to_clients: u64,
    /// Messages nodes sent to services.
    pub to_services: u64,
    /// Messages clients sent to nodes.
    pub from_clients: u64,
    /// Node-to-node messages dropped by `--message-loss`.
    pub lost: u64,
    /// Messages dropped because the peer was unreachable (a partition, a pause, a kill).
    pub unreachable: u64,
    /// Messages that arrived too late and were dropped.
    pub stale: u64,
    /// Extra copies sent by `--duplicate`.
    pub duplicated: u64,
}

impl RelayTotals {
    fn add(&mut self, o: &RelayTotals) {
        self.to_nodes += o.to_nodes;
        self.to_clients += o.to_clients;
        self.to_services += o.to_services;
        self.from_clients += o.from_clients;
        self.lost += o.lost;
        self.unreachable += o.unreachable;
        self.stale += o.stale;
        self.duplicated += o.duplicated;
    }
}

#[derive(Deserialize)]
struct Line {
    pid: u64,
    #[serde(flatten)]
    counts: RelayTotals,
}

/// The totals of `nodes` in `run_dir`; `None` when no relay wrote anything (not a Maelstrom
/// run). Lines that do not parse (a relay killed mid-write) are skipped.
pub fn totals(run_dir: &Path, nodes: &[String]) -> Option<RelayTotals> {
    let mut total = RelayTotals::default();
    let mut any = false;
    for node in nodes {
        let Ok(text) = std::fs::read_to_string(path(run_dir, node)) else {
            continue;
        };
        let mut last: BTreeMap<u64, RelayTotals> = BTreeMap::new();
        for line in text.lines() {
            if let Ok(l) = serde_json::from_str::<Line>(line) {
                last.insert(l.pid, l.counts);
                any = true;
            }
        }
        for c in last.values() {
            total.add(c);
        }
    }
    any.then_some(total)
}

/// Server-to-server messages of a run (0 when no relay counted any).
pub fn server_messages(run_dir: &Path, nodes: &[String]) -> u64 {
    totals(run_dir, nodes).map_or(0, |t| t.to_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_the_last_line_of_every_relay_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nodes")).unwrap();
        let line = |pid: u64, n: u64| {
            format!(
                "{{\"node\":\"n1\",\"pid\":{pid},\"to_nodes\":{n},\"to_clients\":1,\"to_services\":0,\
                 \"from_clients\":1,\"lost\":0,\"unreachable\":2,\"stale\":0,\"duplicated\":0}}\n"
            )
        };
        let text = format!(
            "{}{}{}{{\"node\":\"n1\",\"pi",
            line(7, 3),
            line(7, 10),
            line(9, 5)
        );
        std::fs::write(path(dir.path(), "n1"), text).unwrap();
        let nodes = vec!["n1".to_string(), "n2".to_string()];
        let t = totals(dir.path(), &nodes).unwrap();
        assert_eq!(t.to_nodes, 15);
        assert_eq!(t.unreachable, 4);
        assert_eq!(server_messages(dir.path(), &nodes), 15);
        assert!(totals(dir.path(), &["n2".to_string()]).is_none());
    }
}
