//! The Redis Sentinel probe: every 100 ms each sentinel is asked `SENTINEL MASTER fl`; its
//! answer names the master (address -> node) and the `config-epoch`, which is the term. An
//! answer while the sentinel's flags say `failover_in_progress` is skipped: the epoch is being
//! voted on. Each (master, epoch) a sentinel names is one leader event, reported by that
//! sentinel: two masters named under one epoch would break election safety.
//!
//! The current master (for `isolate-leader` and `kill-leader`) is the one named with the
//! highest epoch by the sentinels whose last poll answered.

use crate::clients::adapter::redis::{text, RespConn, MASTER_NAME};
use crate::clients::adapter::Connector;
use redis_protocol::resp2::types::OwnedFrame;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What one sentinel says about the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterView {
    /// The master's address.
    pub addr: SocketAddr,
    /// `config-epoch`.
    pub epoch: u64,
    /// `flags` contains `failover_in_progress`.
    pub failing_over: bool,
    /// `num-slaves`.
    pub replicas: u64,
    /// `num-other-sentinels`.
    pub other_sentinels: u64,
}

/// Parses a `SENTINEL MASTER` reply (a flat array of field names and values).
pub fn parse_master(frame: &OwnedFrame) -> Result<MasterView, String> {
    let OwnedFrame::Array(items) = frame else {
        return Err(format!("unexpected reply {frame:?}"));
    };
    let mut fields = BTreeMap::new();
    for pair in items.chunks(2) {
        if let [k, v] = pair {
            if let (Some(k), Some(v)) = (text(k), text(v)) {
                fields.insert(k, v);
            }
        }
    }
    let get = |k: &str| fields.get(k).ok_or_else(|| format!("no {k} in the reply"));
    let num = |k: &str| -> Result<u64, String> {
        get(k)?.parse().map_err(|_| format!("{k} is not a number"))
    };
    let ip = get("ip")?;
    let addr = format!("{ip}:{}", get("port")?)
        .parse()
        .map_err(|_| format!("bad master address {ip}"))?;
    Ok(MasterView {
        addr,
        epoch: num("config-epoch")?,
        failing_over: get("flags")?.contains("failover_in_progress"),
        replicas: num("num-slaves").unwrap_or(0),
        other_sentinels: num("num-other-sentinels").unwrap_or(0),
    })
}

/// Asks one sentinel by `deadline`.
async fn ask(
    connector: &dyn Connector,
    conn: &mut Option<RespConn>,
    addr: SocketAddr,
    deadline: Instant,
) -> Result<MasterView, String> {
    if conn.is_none() {
        *conn = Some(RespConn::open(connector, addr, deadline).await?);
    }
    let c = conn.as_mut().expect("opened above");
    let args: [&[u8]; 3] = [b"SENTINEL", b"MASTER", MASTER_NAME.as_bytes()];
    let r = match c.call(&args, deadline).await {
        Ok(frame) => parse_master(&frame),
        Err(e) => Err(e.0),
    };
    if r.is_err() {
        *conn = None;
    }
    r
}

/// The node at `addr`'s address.
fn node_of(nodes: &[(String, SocketAddr)], addr: SocketAddr) -> Option<String> {
    nodes
        .iter()
        .find(|(_, a)| a.ip() == addr.ip())
        .map(|(n, _)| n.clone())
}

/// Waits until every sentinel names the same master, knows every other sentinel and every
/// replica (so a failover can happen from the start); returns that master's node.
pub async fn wait_ready(
    nodes: &[(String, SocketAddr)],
    connector: Arc<dyn Connector>,
    timeout: Duration,
) -> Result<String, String> {
    let until = Instant::now() + timeout;
    let n = nodes.len() as u64;
    let mut conns: Vec<Option<RespConn>> = nodes.iter().map(|_| None).collect();
    let mut last = String::from("no answer yet");
    while Instant::now() < until {
        let mut masters = Vec::new();
        for (i, (name, addr)) in nodes.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_millis(500);
            match ask(connector.as_ref(), &mut conns[i], *addr, deadline).await {
                Ok(v) if v.replicas + 1 >= n && v.other_sentinels + 1 >= n && !v.failing_over => {
                    masters.push(v.addr)
                }
                Ok(v) => last = format!("sentinel {name}: {v:?}"),
                Err(e) => last = format!("sentinel {name}: {e}"),
            }
        }
        if masters.len() == nodes.len() && masters.iter().all(|m| *m == masters[0]) {
            return node_of(nodes, masters[0])
                .ok_or_else(|| format!("master {} is no node", masters[0]));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("sentinels not agreed after {timeout:?}: {last}"))
}

/// The current master from each sentinel's latest answer. No I/O.
#[derive(Debug, Default, Clone)]
pub struct CurrentMaster {
    views: BTreeMap<String, (String, u64)>,
}

impl CurrentMaster {
    /// `sentinel` named `master` under `epoch` (None: it did not answer).
    pub fn observe(&mut self, sentinel: &str, named: Option<(String, u64)>) {
        match named {
            Some(v) => self.views.insert(sentinel.to_string(), v),
            None => self.views.remove(sentinel),
        };
    }

    /// The master named with the highest epoch, if any sentinel answers.
    pub fn current(&self) -> Option<String> {
        self.views
            .values()
            .max_by_key(|(_, e)| *e)
            .map(|(m, _)| m.clone())
    }
}

/// Polls every sentinel every `interval` until `stop`; `sink(sentinel, Some((master, epoch)))`
/// per answer outside a failover, `sink(sentinel, None)` when a poll fails.
pub async fn probe_loop(
    nodes: Vec<(String, SocketAddr)>,
    connector: Arc<dyn Connector>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut sink: impl FnMut(&str, Option<(String, u64)>),
) {
    let (tx, mut rx) = mpsc::channel(nodes.len().max(1) * 4);
    let mut pollers = JoinSet::new();
    let timeout = interval.max(Duration::from_millis(500));
    for (i, (_, addr)) in nodes.iter().enumerate() {
        let (tx, addr, connector) = (tx.clone(), *addr, connector.clone());
        pollers.spawn(async move {
            let mut conn = None;
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let r = ask(
                    connector.as_ref(),
                    &mut conn,
                    addr,
                    Instant::now() + timeout,
                )
                .await;
                if tx.send((i, r)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    while !*stop.borrow() {
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            polled = rx.recv() => match polled {
                None => break,
                Some((_, Ok(v))) if v.failing_over => {}
                Some((i, Ok(v))) => match node_of(&nodes, v.addr) {
                    Some(m) => sink(&nodes[i].0, Some((m, v.epoch))),
                    None => sink(&nodes[i].0, None),
                },
                Some((i, Err(_))) => sink(&nodes[i].0, None),
            },
        }
    }
    pollers.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> OwnedFrame {
        OwnedFrame::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_a_sentinel_master_reply() {
        let reply = OwnedFrame::Array(
            [
                "name",
                "fl",
                "ip",
                "10.0.0.2",
                "port",
                "6379",
                "flags",
                "master",
                "num-slaves",
                "2",
                "num-other-sentinels",
                "2",
                "config-epoch",
                "3",
            ]
            .iter()
            .map(|s| bulk(s))
            .collect(),
        );
        let v = parse_master(&reply).unwrap();
        assert_eq!(v.addr, ([10, 0, 0, 2], 6379).into());
        assert_eq!((v.epoch, v.failing_over, v.replicas), (3, false, 2));
        assert!(parse_master(&OwnedFrame::Null).is_err());
    }

    #[test]
    fn the_current_master_is_the_one_with_the_highest_epoch_among_answering_sentinels() {
        let mut c = CurrentMaster::default();
        c.observe("n1", Some(("n1".into(), 0)));
        c.observe("n2", Some(("n2".into(), 1)));
        assert_eq!(c.current().as_deref(), Some("n2"));
        c.observe("n2", None);
        assert_eq!(c.current().as_deref(), Some("n1"));
        c.observe("n1", None);
        assert_eq!(c.current(), None);
    }
}
