//! Leader events for ZooKeeper, sampled: every server's `srvr` four-letter word is polled
//! during a run, and a server that says `Mode: leader` becomes
//! `{"event":"leader","node":"n2","term":E}` for the election-safety checker, with the epoch
//! of its `Zxid` (`zxid >> 32`) as the term: Zab gives every established leader a new epoch,
//! and at most one leader may be established per epoch.
//!
//! A server answers `srvr` with its mode only while it serves, and a leader serves only after
//! it has set its last zxid to `epoch << 32` (Zab's new-leader phase), so a leader's sample
//! carries its own epoch. Like the etcd probe, these are samples: a leader that lived shorter
//! than the interval, or that the probe could not reach, is missed.

use crate::clients::adapter::Connector;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// What one `srvr` answer says about leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerMode {
    /// `Mode: leader`.
    pub leader: bool,
    /// The epoch of its last zxid.
    pub epoch: u64,
}

/// Parses a `srvr` answer; `None` when it names no mode or zxid (e.g. "This ZooKeeper
/// instance is not currently serving requests").
pub fn parse_srvr(text: &str) -> Option<ServerMode> {
    let mut mode = None;
    let mut zxid = None;
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("Mode:") {
            mode = Some(m.trim().to_string());
        } else if let Some(z) = line.strip_prefix("Zxid:") {
            let z = z.trim();
            let z = z.strip_prefix("0x").unwrap_or(z);
            zxid = u64::from_str_radix(z, 16).ok();
        }
    }
    Some(ServerMode {
        leader: mode? == "leader",
        epoch: zxid? >> 32,
    })
}

/// One `srvr` call to `addr` through `connector`, bounded by `timeout`.
pub async fn srvr(
    connector: &dyn Connector,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<ServerMode, String> {
    let call = async {
        let mut stream = connector.connect(addr).await.map_err(|e| e.to_string())?;
        stream.write_all(b"srvr").await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer);
        parse_srvr(&text).ok_or_else(|| format!("no mode in {text:?}"))
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Waits until some server says it leads; its node name.
pub async fn wait_for_leader(
    nodes: &[(String, SocketAddr)],
    connector: Arc<dyn Connector>,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        for (name, addr) in nodes {
            let answer = srvr(connector.as_ref(), *addr, Duration::from_secs(1)).await;
            if matches!(answer, Ok(ServerMode { leader: true, .. })) {
                return Ok(name.clone());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("no server led within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one poll saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// The server answered.
    Mode(String, ServerMode),
    /// The server did not answer.
    Unreachable(String),
}

/// Polls every server every `interval` until `stop` turns true, handing each poll's result to
/// `sink`. One task per server, so a paused server delays nobody.
pub async fn probe_loop(
    nodes: Vec<(String, SocketAddr)>,
    connector: Arc<dyn Connector>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut sink: impl FnMut(Sample),
) {
    let (tx, mut rx) = mpsc::channel(nodes.len().max(1) * 4);
    let mut pollers = JoinSet::new();
    let timeout = interval.max(Duration::from_millis(200));
    for (name, addr) in nodes {
        let tx = tx.clone();
        let connector = Arc::clone(&connector);
        pollers.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let sample = match srvr(connector.as_ref(), addr, timeout).await {
                    Ok(mode) => Sample::Mode(name.clone(), mode),
                    Err(_) => Sample::Unreachable(name.clone()),
                };
                if tx.send(sample).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    while !*stop.borrow() {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            sample = rx.recv() => match sample {
                None => break,
                Some(s) => sink(s),
            },
        }
    }
    pollers.shutdown().await;
}

/// Turns samples into leader claims (each (node, epoch) once) and the current leader (the
/// latest, highest-epoch server still saying it leads). No I/O.
#[derive(Debug, Default)]
pub struct Leaders {
    claims: std::collections::BTreeMap<String, (u64, u64)>,
    emitted: std::collections::BTreeSet<(String, u64)>,
    seq: u64,
}

impl Leaders {
    /// Feeds one sample; a new (node, epoch) claim the first time it is seen.
    pub fn observe(&mut self, sample: &Sample) -> Option<(String, u64)> {
        self.seq += 1;
        match sample {
            Sample::Mode(node, m) if m.leader => {
                self.claims.insert(node.clone(), (m.epoch, self.seq));
                let claim = (node.clone(), m.epoch);
                self.emitted.insert(claim.clone()).then_some(claim)
            }
            Sample::Mode(node, _) | Sample::Unreachable(node) => {
                self.claims.remove(node);
                None
            }
        }
    }

    /// The server to aim leader faults at.
    pub fn current(&self) -> Option<String> {
        self.claims
            .iter()
            .max_by_key(|(_, c)| **c)
            .map(|(n, _)| n.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_srvr_answer() {
        // As ZooKeeper 3.8.0 answered on loopback.
        let leader = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
            Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\n\
            Zxid: 0x100000000\nMode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n";
        assert_eq!(
            parse_srvr(leader),
            Some(ServerMode {
                leader: true,
                epoch: 1
            })
        );
        let follower = leader.replace("Mode: leader", "Mode: follower");
        assert_eq!(parse_srvr(&follower).map(|m| m.leader), Some(false));
        assert_eq!(
            parse_srvr("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }

    #[test]
    fn claims_once_per_epoch_and_tracks_the_current_leader() {
        let mode = |n: &str, leader, epoch| Sample::Mode(n.into(), ServerMode { leader, epoch });
        let mut l = Leaders::default();
        assert_eq!(l.observe(&mode("n1", false, 1)), None);
        assert_eq!(l.observe(&mode("n2", true, 1)), Some(("n2".into(), 1)));
        assert_eq!(l.observe(&mode("n2", true, 1)), None);
        assert_eq!(l.current().as_deref(), Some("n2"));
        assert_eq!(l.observe(&mode("n3", true, 2)), Some(("n3".into(), 2)));
        assert_eq!(l.current().as_deref(), Some("n3"));
        l.observe(&Sample::Unreachable("n3".into()));
        assert_eq!(l.current().as_deref(), Some("n2"));
        l.observe(&mode("n2", false, 2));
        assert_eq!(l.current(), None);
    }
}
