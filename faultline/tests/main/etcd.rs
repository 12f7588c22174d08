//! The `etcd-v3` adapter and the leader probe against real etcd processes (no mocks): a 1-member
//! and a 3-member cluster on loopback, distinct free ports, temporary data dirs, the same
//! election timing as `systems/etcd.toml`. Every process started here is killed by its own PID
//! when its guard drops, also when a test fails.
//!
//! Needs `etcd` on the PATH (`scripts/ensure-etcd.sh`): a plain `cargo test` skips these tests
//! (`#[ignore]`, run them with `--include-ignored`); run without etcd, they fail, on purpose: a
//! passing test that ran nothing would hide that etcd was never exercised.

use crate::support::free_port;
use faultline::clients::adapter::{
    Client, ClientOptions, Completion, Connector, DirectConnector, Invocation, OpKind,
};
use faultline::leaders::etcd_probe::{
    member_names, probe_loop, probe_status, wait_for_leader, CurrentLeader, LeaderSample,
    MemberStatus, ProbeEvent,
};
use faultline::spec::{Adapter, Reads};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a fresh cluster may take to agree on a leader.
const ELECTION_WAIT: Duration = Duration::from_secs(10);

fn etcd_path() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("etcd"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("etcd is not installed: run scripts/ensure-etcd.sh (as root on Debian it installs etcd-server)")
    })
}

struct Member {
    name: String,
    client: SocketAddr,
    command: Vec<String>,
    child: Option<Child>,
}

/// A loopback etcd cluster; dropping it kills every member it started, by PID.
struct Cluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

impl Cluster {
    fn start(size: usize) -> Cluster {
        let etcd = etcd_path();
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let peers: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("n{}=http://127.0.0.1:{peer}", i + 1))
            .collect();
        let mut cluster = Cluster {
            dir,
            members: Vec::new(),
        };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let data = cluster.dir.path().join(&name);
            let command: Vec<String> = [
                etcd.display().to_string(),
                "--name".into(),
                name.clone(),
                "--data-dir".into(),
                data.display().to_string(),
                "--listen-peer-urls".into(),
                format!("http://127.0.0.1:{peer}"),
                "--initial-advertise-peer-urls".into(),
                format!("http://127.0.0.1:{peer}"),
                "--listen-client-urls".into(),
                format!("http://127.0.0.1:{client}"),
                "--advertise-client-urls".into(),
                format!("http://127.0.0.1:{client}"),
                "--initial-cluster".into(),
                peers.join(","),
                "--initial-cluster-state".into(),
                "new".into(),
                "--initial-cluster-token".into(),
                "faultline-test".into(),
                "--heartbeat-interval".into(),
                "50".into(),
                "--election-timeout".into(),
                "500".into(),
                "--logger".into(),
                "zap".into(),
            ]
            .into();
            cluster.members.push(Member {
                name,
                client: SocketAddr::from(([127, 0, 0, 1], *client)),
                command,
                child: None,
            });
            cluster.spawn(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let log_path = self
            .dir
            .path()
            .join(format!("{}.log", self.members[i].name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open member log");
        let m = &mut self.members[i];
        let child = Command::new(&m.command[0])
            .args(&m.command[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        m.child = Some(child);
    }

    /// SIGKILLs member `i` (the process this guard started) and reaps it.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.members[i].child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {signal} {pid}");
    }

    fn nodes(&self) -> Vec<(String, SocketAddr)> {
        self.members
            .iter()
            .map(|m| (m.name.clone(), m.client))
            .collect()
    }

    fn index_of(&self, name: &str) -> usize {
        self.members
            .iter()
            .position(|m| m.name == name)
            .expect("a member name")
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            let text = std::fs::read_to_string(self.dir.path().join(format!("{}.log", m.name)))
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            out += &format!("--- {} ---\n{}\n", m.name, tail.join("\n"));
        }
        out
    }

    /// Waits until every running member names the same leader; returns every status.
    async fn wait_for_leader(&self) -> Vec<MemberStatus> {
        let running: Vec<(String, SocketAddr)> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| (m.name.clone(), m.client))
            .collect();
        match wait_for_leader(&running, connector(), ELECTION_WAIT).await {
            Ok((_, statuses)) => statuses,
            Err(e) => panic!("{e}\n{}", self.log_tail()),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped (paused) process.
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

fn connector() -> Arc<dyn Connector> {
    Arc::new(DirectConnector)
}

fn client(nodes: Vec<(String, SocketAddr)>, first: usize, reads: Reads) -> Client {
    client_with_timeout(nodes, first, reads, OP_TIMEOUT)
}

fn client_with_timeout(
    nodes: Vec<(String, SocketAddr)>,
    first: usize,
    reads: Reads,
    timeout: Duration,
) -> Client {
    Client::with_options(
        Adapter::EtcdV3,
        ClientOptions { reads },
        nodes,
        first,
        connector(),
        "c1".into(),
        timeout,
    )
}

fn op(key: &str, kind: OpKind) -> Invocation {
    Invocation {
        key: key.into(),
        kind,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd"]
async fn one_member_reads_writes_and_cas() {
    let cluster = Cluster::start(1);
    let statuses = cluster.wait_for_leader().await;
    let me = statuses[0].member_id;
    assert_eq!(statuses[0].leader_id, Some(me), "a lone member leads");
    assert!(statuses[0].raft_term >= 1);
    let direct = probe_status(connector(), cluster.members[0].client, OP_TIMEOUT)
        .await
        .unwrap();
    assert_eq!((direct.member_id, direct.leader_id), (me, Some(me)));
    assert_eq!(direct.member_id_hex(), format!("{me:x}"));
    let names = member_names(connector(), cluster.members[0].client, OP_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(names.get(&me).map(String::as_str), Some("n1"));

    let mut c = client(cluster.nodes(), 0, Reads::Linearizable);
    assert_eq!(
        c.invoke(&op("k1", OpKind::Read)).await,
        Completion::Ok(None)
    );
    assert_eq!(
        c.invoke(&op("k1", OpKind::Write(5))).await,
        Completion::Ok(None)
    );
    assert_eq!(
        c.invoke(&op("k1", OpKind::Read)).await,
        Completion::Ok(Some(5))
    );
    assert_eq!(
        c.invoke(&op("k1", OpKind::Cas(5, 6))).await,
        Completion::Ok(None)
    );
    let mismatch = c.invoke(&op("k1", OpKind::Cas(5, 7))).await;
    assert!(
        matches!(&mismatch, Completion::Fail(e) if e.contains("compare")),
        "{mismatch:?}"
    );
    let missing = c.invoke(&op("k2", OpKind::Cas(1, 2))).await;
    assert!(matches!(missing, Completion::Fail(_)), "{missing:?}");
    assert_eq!(
        c.invoke(&op("k1", OpKind::Read)).await,
        Completion::Ok(Some(6))
    );

    let mut stale_ok = client(cluster.nodes(), 0, Reads::Serializable);
    assert_eq!(
        stale_ok.invoke(&op("k1", OpKind::Read)).await,
        Completion::Ok(Some(6))
    );
    assert_eq!(
        stale_ok.invoke(&op("k9", OpKind::Read)).await,
        Completion::Ok(None)
    );

    // Nothing listens there: the write surely did not happen.
    let closed = vec![(
        "n9".to_string(),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    )];
    let refused = client(closed, 0, Reads::Linearizable)
        .invoke(&op("k1", OpKind::Write(8)))
        .await;
    assert!(
        matches!(&refused, Completion::Fail(e) if e.contains("not sent")),
        "{refused:?}"
    );
}

/// Writes through `c` until `done` says so or `limit` passes; counts the ops that were `ok`.
async fn write_until(
    c: &mut Client,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> (usize, usize) {
    let deadline = Instant::now() + limit;
    let (mut ok, mut all) = (0, 0);
    let mut value = 1000;
    while !done() && Instant::now() < deadline {
        value += 1;
        all += 1;
        match c.invoke(&op("kp", OpKind::Write(value))).await {
            Completion::Ok(_) => ok += 1,
            _ => {
                c.rotate();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    (ok, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd"]
async fn three_members_probe_sees_a_new_leader_after_the_leader_is_killed() {
    let mut cluster = Cluster::start(3);
    cluster.wait_for_leader().await;
    let samples: Arc<Mutex<Vec<LeaderSample>>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let current: Arc<Mutex<CurrentLeader>> = Arc::default();
    let (sink, view) = (samples.clone(), current.clone());
    let probe = tokio::spawn(probe_loop(
        cluster.nodes(),
        connector(),
        Duration::from_millis(100),
        stop_rx,
        move |event| {
            view.lock().unwrap().observe(&event);
            if let ProbeEvent::Leader(s) = event {
                sink.lock().unwrap().push(s);
            }
        },
    ));

    // Every member serves reads and writes (followers forward to the leader).
    for first in 0..3 {
        let mut c = client(cluster.nodes(), first, Reads::Linearizable);
        let v = 100 + first as i64;
        assert_eq!(
            c.invoke(&op("k1", OpKind::Write(v))).await,
            Completion::Ok(None)
        );
        assert_eq!(
            c.invoke(&op("k1", OpKind::Read)).await,
            Completion::Ok(Some(v))
        );
        let mut s = client(cluster.nodes(), first, Reads::Serializable);
        assert!(matches!(
            s.invoke(&op("k1", OpKind::Read)).await,
            Completion::Ok(Some(_))
        ));
    }

    // The probe needs commits to confirm a leader: keep writing until it reports one.
    let mut writer = client(cluster.nodes(), 0, Reads::Linearizable);
    let seen = |s: &Arc<Mutex<Vec<LeaderSample>>>| s.lock().unwrap().first().cloned();
    write_until(&mut writer, Duration::from_secs(5), || {
        seen(&samples).is_some()
    })
    .await;
    let first = seen(&samples).expect("the probe reported a leader");
    assert_eq!(first.event, "leader");
    assert_eq!(first.node, first.reported_by);
    let aimed = current.lock().unwrap().current();
    assert_eq!(
        aimed.as_deref(),
        Some(first.node.as_str()),
        "the leader to aim at"
    );

    // Throughput, for a figure (not asserted): 1 client, then 10 concurrent ones spread over
    // the members, writes for a fixed time each.
    for concurrency in [1usize, 10] {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for first in 0..concurrency {
            let mut c = client(cluster.nodes(), first, Reads::Linearizable);
            tasks.spawn(async move {
                write_until(&mut c, Duration::from_millis(1000), || false)
                    .await
                    .0
            });
        }
        let ops: usize = tasks.join_all().await.into_iter().sum();
        let rate = ops as f64 / started.elapsed().as_secs_f64();
        eprintln!(
            "etcd-v3 adapter, 3 loopback members, {concurrency} client(s): {rate:.0} writes/s"
        );
    }

    // A paused member: a write to it times out (info: it may still happen), a read fails.
    let follower = (0..3)
        .find(|&i| cluster.members[i].name != first.node)
        .unwrap();
    cluster.signal(follower, "-STOP");
    let mut to_paused = client_with_timeout(
        vec![cluster.nodes()[follower].clone()],
        0,
        Reads::Linearizable,
        Duration::from_millis(300),
    );
    let w = to_paused.invoke(&op("k1", OpKind::Write(7))).await;
    let r = to_paused.invoke(&op("k1", OpKind::Read)).await;
    cluster.signal(follower, "-CONT");
    assert!(
        matches!(&w, Completion::Info(e) if e.contains("timeout")),
        "{w:?}"
    );
    assert!(matches!(&r, Completion::Fail(_)), "{r:?}");

    // Kill the leader's process: the survivors elect a new leader in a higher term.
    let leader = cluster.index_of(&first.node);
    cluster.kill(leader);
    let newer = |s: &Arc<Mutex<Vec<LeaderSample>>>| {
        s.lock()
            .unwrap()
            .iter()
            .find(|x| x.node != first.node && x.term > first.term)
            .cloned()
    };
    let mut writer = client(cluster.nodes(), leader + 1, Reads::Linearizable);
    write_until(&mut writer, Duration::from_secs(10), || {
        newer(&samples).is_some()
    })
    .await;
    let _ = stop_tx.send(true);
    probe.await.expect("probe loop ends");
    let all = samples.lock().unwrap().clone();
    let second = newer(&samples).unwrap_or_else(|| {
        panic!(
            "no new leader after the kill: {all:?}\n{}",
            cluster.log_tail()
        )
    });
    assert!(second.term > first.term);
    let aimed = current.lock().unwrap().current();
    assert_eq!(
        aimed.as_deref(),
        Some(second.node.as_str()),
        "the leader to aim at"
    );
    // Election safety as the checker will see it: one leader per term in the samples.
    let lines: String = all.iter().map(|s| s.to_json_line() + "\n").collect();
    let events = checker::election::parse_leader_events(lines.as_bytes(), "probe").unwrap();
    let report = checker::election::check(&events);
    assert_eq!(report.verdict, checker::Verdict::Valid, "{all:?}");
    eprintln!("probe samples: {lines}");
}

/// One attempt at a stale read: `v1` then `v2` are written through the leader while member
/// `lagging` is paused (so it misses `v2`); a read from `lagging` is sent while it is still
/// paused and it is resumed 200 ms later. Every op is recorded; returns what the read saw.
async fn read_after_a_pause(
    cluster: &Cluster,
    recorder: &faultline::clients::recorder::Recorder,
    leader: usize,
    lagging: usize,
    key: &str,
    reads: Reads,
    (v1, v2): (i64, i64),
) -> Completion {
    let mut writer = client(cluster.nodes(), leader, Reads::Linearizable);
    for (v, paused) in [(v1, false), (v2, true)] {
        if paused {
            cluster.signal(lagging, "-STOP");
        }
        let w = op(key, OpKind::Write(v));
        recorder.invoke(0, &w, None);
        let done = writer.invoke(&w).await;
        recorder.complete(0, &w, &done, None);
        assert_eq!(done, Completion::Ok(None), "write {v} through the leader");
    }
    let nodes = vec![cluster.nodes()[lagging].clone()];
    let mut reader = client_with_timeout(nodes, 0, reads, Duration::from_secs(5));
    let r = op(key, OpKind::Read);
    recorder.invoke(1, &r, None);
    let pending = {
        let r = r.clone();
        tokio::spawn(async move { reader.invoke(&r).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.signal(lagging, "-CONT");
    let done = pending.await.expect("read task");
    recorder.complete(1, &r, &done, None);
    done
}

/// Records up to `attempts` pause-write-resume-read rounds with `reads`, stopping after the
/// first stale read, and checks the history; returns (stale reads, rounds run, report).
async fn stale_read_rounds(reads: Reads, attempts: usize) -> (usize, usize, checker::Report) {
    let cluster = Cluster::start(3);
    let statuses = cluster.wait_for_leader().await;
    let leader_id = statuses[0].leader_id.expect("a leader");
    let leader = statuses
        .iter()
        .position(|s| s.member_id == leader_id)
        .expect("the leader is a member");
    let lagging = (leader + 1) % 3;
    let path = cluster.dir.path().join("history.jsonl");
    let recorder =
        faultline::clients::recorder::Recorder::create(&path, serde_json::json!({"faultline": 1}))
            .expect("create history");
    let (mut stale, mut rounds) = (0, 0);
    for round in 0..attempts {
        rounds += 1;
        let key = format!("s{round}");
        let (v1, v2) = (10 * round as i64 + 1, 10 * round as i64 + 2);
        let read =
            read_after_a_pause(&cluster, &recorder, leader, lagging, &key, reads, (v1, v2)).await;
        eprintln!("{reads:?} read after a pause, round {round}: {read:?} (latest {v2})");
        if read == Completion::Ok(Some(v1)) {
            stale += 1;
            break;
        }
    }
    recorder.finish().expect("flush history");
    let loaded = histories::load(&path, histories::Format::Jsonl).expect("load history");
    let report = checker::check(&loaded.history, &checker::Options::default());
    (stale, rounds, report)
}

/// etcd's serializable reads are allowed to be stale: a member that was paused while a write
/// committed answers from its old state, and the checker must say invalid, naming the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd"]
async fn serializable_reads_can_be_stale_and_the_checker_catches_them() {
    // Measured: a stale read in about 2 rounds of 3; 10 rounds make a miss very unlikely.
    let attempts = 10;
    let (stale, rounds, report) = stale_read_rounds(Reads::Serializable, attempts).await;
    eprintln!("serializable: first stale read in round {rounds} of at most {attempts}");
    assert!(
        stale > 0,
        "no stale read in {attempts} rounds: the test proves nothing"
    );
    assert_eq!(report.verdict, checker::Verdict::Invalid);
    let text = &report
        .counterexample
        .as_ref()
        .expect("a counterexample")
        .text;
    eprintln!("{text}");
    assert!(text.contains("read of"), "{text}");
}

/// The twin: the same rounds with linearizable reads never see the old value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs etcd"]
async fn linearizable_reads_after_the_same_pause_are_never_stale() {
    let (stale, _, report) = stale_read_rounds(Reads::Linearizable, 3).await;
    assert_eq!(stale, 0);
    assert_eq!(
        report.verdict,
        checker::Verdict::Valid,
        "{:?}",
        report.counterexample
    );
}
