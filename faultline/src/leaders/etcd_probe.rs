//! Leader events for etcd, sampled: every member's status is polled during a run, and the
//! leaders it reports become `{"event":"leader","node":"n2","term":7}` lines for the
//! election-safety checker (Raft §5.2: at most one leader per term).
//!
//! etcd does not print such events, so they come from `POST /v3/maintenance/status` on each
//! member (its `leader` member id, `raftTerm`, `raftIndex` = commit index, `raftAppliedIndex`).
//!
//! **Samples, not a record.** Members are polled every `interval` (100 ms in a test run): a
//! leader that lived shorter than the interval, or that was unreachable from the probe for
//! all its life (paused, partitioned from the clients' namespace), can be missed. A missed
//! leader can hide a violation; it never invents one.
//!
//! **Which samples count.** In etcd 3.4 a status's `raftTerm` is the term of the last *applied*
//! entry (`EtcdServer.Term()`, set when an entry is applied), not the member's current Raft
//! term, while `leader` is the member's current view. Right after an election the two disagree:
//! members already name the new leader while still reporting the old term, which, taken at
//! face value, looks like two leaders in one term. So a sample is only emitted when it is known
//! to be consistent: a member that reports *itself* as leader in two consecutive polls, whose
//! commit index advanced between them and which has applied everything committed. A Raft
//! leader advances its commit index only to an entry of its own term (§5.4.2), so the last
//! applied entry then carries the leader's term. Consequences: a leader is only seen once it
//! has committed something after a poll saw it lead (a client write, or its own first entry),
//! and followers' views of the leader are not used (their commit index may advance to older
//! terms' entries while they catch up). These rules are in [`LeaderFilter`], which has no I/O and is tested
//! on its own.

use crate::clients::adapter::etcd_v3::{Exchange, HttpConn};
use crate::clients::adapter::Connector;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Shortest time a status poll may take before it counts as failed.
pub const PROBE_TIMEOUT_MIN: Duration = Duration::from_millis(200);

/// One member's status, as `POST /v3/maintenance/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberStatus {
    /// The reporting member's id.
    pub member_id: u64,
    /// The leader it knows of; `None` while it knows none.
    pub leader_id: Option<u64>,
    /// The term of its last applied entry (etcd 3.4's `raftTerm`; see the module docs).
    pub raft_term: u64,
    /// Its commit index (`raftIndex`).
    pub commit_index: u64,
    /// Its applied index (`raftAppliedIndex`).
    pub applied_index: u64,
}

impl MemberStatus {
    /// The member id in hex, as etcd's logs print it.
    pub fn member_id_hex(&self) -> String {
        format!("{:x}", self.member_id)
    }
}

/// A probe call that did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    /// The member's address.
    pub addr: SocketAddr,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd probe of {}: {}", self.addr, self.message)
    }
}

impl std::error::Error for ProbeError {}

/// A leader event for the election-safety checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderSample {
    /// Always `"leader"` (kept first so the line starts with `{"event"`).
    pub event: &'static str,
    /// The leader's node name (`n1`..`nN`).
    pub node: String,
    /// The term it leads.
    pub term: u64,
    /// The member whose status showed it.
    pub reported_by: String,
}

impl LeaderSample {
    /// The sample as one JSON line (no newline), the shape `checker::election` reads.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a sample always serializes")
    }
}

/// A connection to one member's gateway for status calls, reopened after any error.
pub struct Prober {
    connector: Arc<dyn Connector>,
    addr: SocketAddr,
    conn: Option<HttpConn>,
    timeout: Duration,
}

impl Prober {
    /// A prober of the member at `addr`; each call gets `timeout`.
    pub fn new(connector: Arc<dyn Connector>, addr: SocketAddr, timeout: Duration) -> Prober {
        Prober {
            connector,
            addr,
            conn: None,
            timeout,
        }
    }

    /// The member's status.
    pub async fn status(&mut self) -> Result<MemberStatus, ProbeError> {
        let answer = self.call("/v3/maintenance/status").await?;
        parse_status(&answer).map_err(|message| self.error(message))
    }

    /// Every member's id and name, from this member's view of the cluster.
    pub async fn members(&mut self) -> Result<BTreeMap<u64, String>, ProbeError> {
        let answer = self.call("/v3/cluster/member/list").await?;
        parse_members(&answer).map_err(|message| self.error(message))
    }

    fn error(&self, message: String) -> ProbeError {
        ProbeError {
            addr: self.addr,
            message,
        }
    }

    async fn call(&mut self, path: &str) -> Result<Value, ProbeError> {
        let result = tokio::time::timeout(self.timeout, self.exchange(path)).await;
        let (status, body) = match result {
            Ok(Ok(answer)) => answer,
            Ok(Err(message)) => {
                self.conn = None;
                return Err(self.error(message));
            }
            Err(_) => {
                self.conn = None;
                return Err(self.error("timed out".into()));
            }
        };
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| self.error(format!("HTTP {status}, unreadable body: {e}")))?;
        if !status.is_success() || value.get("error").is_some() {
            return Err(self.error(format!("HTTP {status}: {value}")));
        }
        Ok(value)
    }

    async fn exchange(&mut self, path: &str) -> Result<(hyper::StatusCode, bytes::Bytes), String> {
        let usable = matches!(&self.conn, Some(c) if !c.is_closed());
        if !usable {
            self.conn = Some(HttpConn::open(self.connector.as_ref(), self.addr).await?);
        }
        let conn = self.conn.as_mut().expect("opened above");
        conn.post(path, b"{}".to_vec()).await.map_err(|e| match e {
            Exchange::NotSent(m) | Exchange::Lost(m) => m,
        })
    }
}

/// One status call to the member at `addr`.
pub async fn probe_status(
    connector: Arc<dyn Connector>,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<MemberStatus, ProbeError> {
    Prober::new(connector, addr, timeout).status().await
}

/// Member id -> name (`n1`..`nN`, from `--name`), as the member at `addr` knows them.
pub async fn member_names(
    connector: Arc<dyn Connector>,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<BTreeMap<u64, String>, ProbeError> {
    Prober::new(connector, addr, timeout).members().await
}

/// Waits until every member of `nodes` answers and all name the same leader, polling every
/// 100 ms for at most `timeout`: etcd accepts TCP connections before it serves, so a
/// `tcp-connect` readiness check is not enough to start clients on. Returns the leader's node
/// name and every member's status (in `nodes`' order).
pub async fn wait_for_leader(
    nodes: &[(String, SocketAddr)],
    connector: Arc<dyn Connector>,
    timeout: Duration,
) -> Result<(String, Vec<MemberStatus>), ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let poll = Duration::from_millis(100);
    let mut last = String::from("no member polled");
    loop {
        let mut statuses = Vec::new();
        for (name, addr) in nodes {
            match probe_status(connector.clone(), *addr, PROBE_TIMEOUT_MIN).await {
                Ok(s) => statuses.push(s),
                Err(e) => {
                    last = format!("{name}: {}", e.message);
                    break;
                }
            }
        }
        if statuses.len() == nodes.len() {
            let leader = statuses.first().and_then(|s| s.leader_id);
            let agreed = leader.is_some() && statuses.iter().all(|s| s.leader_id == leader);
            let named = statuses.iter().position(|s| Some(s.member_id) == leader);
            match (agreed, named) {
                (true, Some(i)) => return Ok((nodes[i].0.clone(), statuses)),
                _ => {
                    last = format!(
                        "members name leaders {:?}",
                        statuses.iter().map(|s| s.leader_id).collect::<Vec<_>>()
                    )
                }
            }
        }
        if tokio::time::Instant::now() + poll > deadline {
            return Err(ProbeError {
                addr: nodes
                    .first()
                    .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |n| n.1),
                message: format!("no agreed leader within {timeout:?}: {last}"),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// The gateway prints 64-bit integers as strings; accept numbers too. Absent is 0 (proto3).
fn u64_field(v: &Value, names: &[&str]) -> Result<u64, String> {
    for name in names {
        match v.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => {
                return s
                    .parse()
                    .map_err(|_| format!("field {name:?}: {s:?} is not an unsigned integer"))
            }
            Some(Value::Number(n)) => {
                return n
                    .as_u64()
                    .ok_or_else(|| format!("field {name:?}: {n} is not an unsigned integer"))
            }
            Some(other) => return Err(format!("field {name:?}: unexpected {other}")),
        }
    }
    Ok(0)
}

fn parse_status(v: &Value) -> Result<MemberStatus, String> {
    let header = v.get("header").unwrap_or(&Value::Null);
    let member_id = u64_field(header, &["member_id", "memberId"])?;
    if member_id == 0 {
        return Err(format!("no member id in {v}"));
    }
    let leader = u64_field(v, &["leader"])?;
    Ok(MemberStatus {
        member_id,
        leader_id: (leader != 0).then_some(leader),
        raft_term: u64_field(v, &["raftTerm", "raft_term"])?,
        commit_index: u64_field(v, &["raftIndex", "raft_index"])?,
        applied_index: u64_field(v, &["raftAppliedIndex", "raft_applied_index"])?,
    })
}

fn parse_members(v: &Value) -> Result<BTreeMap<u64, String>, String> {
    let members = v
        .get("members")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no members in {v}"))?;
    let mut names = BTreeMap::new();
    for m in members {
        let id = u64_field(m, &["ID", "id"])?;
        let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
        names.insert(id, name.to_string());
    }
    Ok(names)
}

/// Turns one member's successive statuses into confirmed (leader id, term) claims; the rules
/// are in the module docs. No I/O.
#[derive(Debug, Default, Clone)]
pub struct LeaderFilter {
    last: Option<MemberStatus>,
    emitted: Option<(u64, u64)>,
}

impl LeaderFilter {
    /// Feeds the next status; returns a claim the first time it is confirmed.
    pub fn observe(&mut self, now: MemberStatus) -> Option<(u64, u64)> {
        let prev = self.last.replace(now)?;
        let me = now.member_id;
        let confirmed = prev.member_id == me
            && prev.leader_id == Some(me)
            && now.leader_id == Some(me)
            && now.commit_index > prev.commit_index
            && now.applied_index >= now.commit_index
            && now.raft_term >= prev.raft_term;
        let claim = (me, now.raft_term);
        if !confirmed || self.emitted == Some(claim) {
            return None;
        }
        self.emitted = Some(claim);
        Some(claim)
    }

    /// A poll failed: the next status starts a fresh pair (the member may have restarted).
    pub fn forget(&mut self) {
        self.last = None;
    }
}

/// What the probe saw, for [`probe_loop`]'s sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeEvent {
    /// A confirmed leader: for the election-safety checker (and reports).
    Leader(LeaderSample),
    /// One member's raw status, every poll: for [`CurrentLeader`] (whom to isolate or kill).
    Status {
        /// The member polled.
        node: String,
        /// What it said.
        status: MemberStatus,
    },
    /// A poll of `node` got no answer (down, paused, cut off, or too slow).
    Unreachable {
        /// The member polled.
        node: String,
    },
}

/// The leader to aim faults at, from raw statuses: the member that most recently said "I am
/// the leader" with the highest term, among those whose last poll still said so. Unlike
/// [`LeaderFilter`] this needs no proof (a wrong guess only aims a fault at a follower), and
/// it is never used for the election-safety check. No I/O.
#[derive(Debug, Default, Clone)]
pub struct CurrentLeader {
    /// node -> (term, poll sequence number) of its latest self-claim.
    claims: BTreeMap<String, (u64, u64)>,
    seq: u64,
}

impl CurrentLeader {
    /// Feeds one probe event.
    pub fn observe(&mut self, event: &ProbeEvent) {
        self.seq += 1;
        match event {
            ProbeEvent::Status { node, status } if status.leader_id == Some(status.member_id) => {
                self.claims
                    .insert(node.clone(), (status.raft_term, self.seq));
            }
            ProbeEvent::Status { node, .. } | ProbeEvent::Unreachable { node } => {
                self.claims.remove(node);
            }
            ProbeEvent::Leader(_) => {}
        }
    }

    /// The current leader's node name, if some member claims to lead.
    pub fn current(&self) -> Option<String> {
        self.claims
            .iter()
            .max_by_key(|(_, claim)| **claim)
            .map(|(node, _)| node.clone())
    }
}

/// Polls every member every `interval` until `stop` turns true (or its sender is dropped)
/// and hands each confirmed leader to `sink`. Members are polled by one task each, so a
/// paused member delays nobody. Meant to run beside the clients for a whole test run.
pub async fn leader_probe_loop(
    nodes: Vec<(String, SocketAddr)>,
    connector: Arc<dyn Connector>,
    interval: Duration,
    stop: watch::Receiver<bool>,
    mut sink: impl FnMut(LeaderSample),
) {
    probe_loop(nodes, connector, interval, stop, |event| {
        if let ProbeEvent::Leader(sample) = event {
            sink(sample);
        }
    })
    .await
}

/// [`leader_probe_loop`] with every raw status too (for [`CurrentLeader`]).
pub async fn probe_loop(
    nodes: Vec<(String, SocketAddr)>,
    connector: Arc<dyn Connector>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut sink: impl FnMut(ProbeEvent),
) {
    let (tx, mut rx) = mpsc::channel(nodes.len().max(1) * 4);
    let mut pollers = JoinSet::new();
    let timeout = interval.max(PROBE_TIMEOUT_MIN);
    for (i, (_, addr)) in nodes.iter().enumerate() {
        let mut prober = Prober::new(connector.clone(), *addr, timeout);
        let tx = tx.clone();
        pollers.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if tx.send((i, prober.status().await)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut filters = vec![LeaderFilter::default(); nodes.len()];
    while !*stop.borrow() {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            polled = rx.recv() => match polled {
                None => break,
                Some((i, Ok(status))) => {
                    let node = nodes[i].0.clone();
                    let confirmed = filters[i].observe(status);
                    sink(ProbeEvent::Status { node: node.clone(), status });
                    if let Some((_, term)) = confirmed {
                        sink(ProbeEvent::Leader(LeaderSample {
                            event: "leader",
                            node: node.clone(),
                            term,
                            reported_by: node,
                        }));
                    }
                }
                Some((i, Err(_))) => {
                    filters[i].forget();
                    sink(ProbeEvent::Unreachable { node: nodes[i].0.clone() });
                }
            },
        }
    }
    pollers.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(member: u64, leader: u64, term: u64, commit: u64, applied: u64) -> MemberStatus {
        MemberStatus {
            member_id: member,
            leader_id: (leader != 0).then_some(leader),
            raft_term: term,
            commit_index: commit,
            applied_index: applied,
        }
    }

    #[test]
    fn parses_a_real_status_answer() {
        // As etcd 3.4.23 answered on loopback.
        let v: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",
            "revision":"3","raft_term":"2"},"version":"3.4.23","dbSize":"20480",
            "leader":"3319814642761637952","raftIndex":"7","raftTerm":"2",
            "raftAppliedIndex":"7","dbSizeInUse":"16384"}"#,
        )
        .unwrap();
        let s = parse_status(&v).unwrap();
        assert_eq!(s, st(3319814642761637952, 3319814642761637952, 2, 7, 7));
        assert_eq!(s.member_id_hex(), "2e1259d415f2a040");
        let no_leader: Value =
            serde_json::from_str(r#"{"header":{"member_id":"5"},"raftTerm":"3"}"#).unwrap();
        assert_eq!(parse_status(&no_leader).unwrap().leader_id, None);
        let bad: Value = serde_json::from_str(r#"{"header":{"member_id":"x"}}"#).unwrap();
        assert!(parse_status(&bad).unwrap_err().contains("member_id"));
        assert!(parse_status(&Value::Null).is_err());
    }

    #[test]
    fn parses_a_member_list() {
        let v: Value = serde_json::from_str(
            r#"{"header":{},"members":[{"ID":"3319814642761637952","name":"n1",
            "peerURLs":["http://127.0.0.1:23800"]},{"ID":"7","name":"n2"}]}"#,
        )
        .unwrap();
        let names = parse_members(&v).unwrap();
        assert_eq!(names[&3319814642761637952], "n1");
        assert_eq!(names[&7], "n2");
    }

    #[test]
    fn confirms_a_self_reported_leader_once_its_commit_advances() {
        let mut f = LeaderFilter::default();
        assert_eq!(
            f.observe(st(1, 1, 2, 10, 10)),
            None,
            "one poll is not enough"
        );
        assert_eq!(f.observe(st(1, 1, 2, 10, 10)), None, "no commit advance");
        assert_eq!(f.observe(st(1, 1, 2, 11, 11)), Some((1, 2)));
        assert_eq!(f.observe(st(1, 1, 2, 12, 12)), None, "already emitted");
        assert_eq!(f.observe(st(1, 1, 3, 13, 13)), Some((1, 3)), "a new term");
    }

    #[test]
    fn ignores_followers_lagging_terms_and_unapplied_commits() {
        // A follower that names the new leader 2 while its applied term is still the old one.
        let mut f = LeaderFilter::default();
        f.observe(st(1, 2, 2, 10, 10));
        assert_eq!(f.observe(st(1, 2, 2, 11, 11)), None);
        // A new leader whose commit advanced but not all of it is applied yet.
        let mut f = LeaderFilter::default();
        f.observe(st(3, 3, 2, 10, 10));
        assert_eq!(f.observe(st(3, 3, 2, 12, 11)), None);
        // A leader that just won: the previous poll still showed it as a follower.
        let mut f = LeaderFilter::default();
        f.observe(st(3, 1, 2, 10, 10));
        assert_eq!(f.observe(st(3, 3, 2, 11, 11)), None);
        // After a failed poll (a restart) the pair starts again.
        let mut f = LeaderFilter::default();
        f.observe(st(3, 3, 4, 10, 10));
        f.forget();
        assert_eq!(f.observe(st(3, 3, 4, 11, 11)), None);
    }

    #[test]
    fn the_current_leader_is_the_latest_highest_term_self_claim() {
        let status = |node: &str, s: MemberStatus| ProbeEvent::Status {
            node: node.into(),
            status: s,
        };
        let mut c = CurrentLeader::default();
        assert_eq!(c.current(), None);
        c.observe(&status("n2", st(2, 1, 3, 5, 5)));
        assert_eq!(c.current(), None, "a follower's view is not a claim");
        c.observe(&status("n1", st(1, 1, 3, 5, 5)));
        assert_eq!(c.current().as_deref(), Some("n1"));
        // An isolated old leader still claims term 3; n3 won term 4.
        c.observe(&status("n3", st(3, 3, 4, 6, 6)));
        c.observe(&status("n1", st(1, 1, 3, 5, 5)));
        assert_eq!(c.current().as_deref(), Some("n3"));
        c.observe(&ProbeEvent::Unreachable { node: "n3".into() });
        assert_eq!(c.current().as_deref(), Some("n1"));
        c.observe(&status("n1", st(1, 3, 4, 6, 6)));
        assert_eq!(c.current(), None);
    }

    #[test]
    fn a_sample_is_a_checker_leader_line() {
        let s = LeaderSample {
            event: "leader",
            node: "n2".into(),
            term: 7,
            reported_by: "n2".into(),
        };
        let line = s.to_json_line();
        assert!(
            line.starts_with(r#"{"event":"leader","node":"n2","term":7"#),
            "{line}"
        );
        let events = checker::election::parse_leader_events(line.as_bytes(), "probe").unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].node.as_str(), events[0].term), ("n2", 7));
    }
}
