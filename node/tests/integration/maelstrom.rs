//! `raft-node --maelstrom` as real processes: the test is the network, a router thread per
//! node moving each stdout line to the stdin of its `dest`, or to the test's client inbox.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

type Stdins = Arc<Mutex<HashMap<String, ChildStdin>>>;
/// Nodes cut off from the other nodes (their peer messages are dropped both ways).
type Cut = Arc<Mutex<Vec<String>>>;

struct Cluster {
    children: HashMap<String, Child>,
    stdins: Stdins,
    cut: Cut,
    inbox: Receiver<Value>,
    /// Every stderr line of every node.
    logs: Arc<Mutex<Vec<(String, String)>>>,
    next_msg: u64,
}

impl Cluster {
    fn start(ids: &[&str], extra: &[&str]) -> Cluster {
        let stdins: Stdins = Arc::default();
        let cut: Cut = Arc::default();
        let logs: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (tx, inbox) = mpsc::channel();
        let mut children = HashMap::new();
        for id in ids {
            let mut child = Command::new(env!("CARGO_BIN_EXE_raft-node"))
                .arg("--maelstrom")
                .args(extra)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .env("NO_COLOR", "1")
                .spawn()
                .expect("start raft-node");
            stdins
                .lock()
                .unwrap()
                .insert(id.to_string(), child.stdin.take().unwrap());
            let out = child.stdout.take().unwrap();
            let (stdins2, tx2): (Stdins, Sender<Value>) = (Arc::clone(&stdins), tx.clone());
            let cut2 = Arc::clone(&cut);
            thread::spawn(move || route(BufReader::new(out), stdins2, cut2, tx2));
            let err = child.stderr.take().unwrap();
            let (logs2, id2) = (Arc::clone(&logs), id.to_string());
            thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    logs2.lock().unwrap().push((id2.clone(), line));
                }
            });
            children.insert(id.to_string(), child);
        }
        let mut c = Cluster {
            children,
            stdins,
            cut,
            inbox,
            logs,
            next_msg: 1,
        };
        let node_ids: Vec<&str> = ids.to_vec();
        for id in ids {
            let msg_id = c.msg_id();
            let body = json!({"type":"init","msg_id":msg_id,"node_id":id,"node_ids":node_ids});
            c.deliver("c0", id, body);
            let (src, reply) = c
                .wait_reply(msg_id, Duration::from_secs(5))
                .expect("init_ok");
            assert_eq!(
                (src.as_str(), reply["type"].as_str()),
                (*id, Some("init_ok"))
            );
        }
        c
    }

    fn msg_id(&mut self) -> u64 {
        self.next_msg += 1;
        self.next_msg
    }

    fn deliver(&self, src: &str, dest: &str, body: Value) {
        let line = json!({"src": src, "dest": dest, "body": body}).to_string();
        if let Some(stdin) = self.stdins.lock().unwrap().get_mut(dest) {
            let _ = writeln!(stdin, "{line}");
        }
    }

    /// The reply to `msg_id`: (its src, its body).
    fn wait_reply(&self, msg_id: u64, within: Duration) -> Option<(String, Value)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let m = self.inbox.recv_timeout(left).ok()?;
            if m["body"]["in_reply_to"] == json!(msg_id) {
                return Some((
                    m["src"].as_str().unwrap_or_default().into(),
                    m["body"].clone(),
                ));
            }
        }
    }

    /// Sends `body` (a msg_id is added) from client c1 to `node`, retrying a definite "no
    /// leader" (11) for up to 10 s; returns (who answered, the reply).
    fn ask(&mut self, node: &str, mut body: Value) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let msg_id = self.msg_id();
            body["msg_id"] = json!(msg_id);
            self.deliver("c1", node, body.clone());
            let got = self.wait_reply(msg_id, Duration::from_secs(6));
            match got {
                Some((_, b)) if b["code"] == json!(11) && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Some(r) => return r,
                None => panic!("no reply from {node} to {body}; logs: {:?}", self.logs()),
            }
        }
    }

    /// The leader events (node, term) printed on stderr so far.
    fn leaders(&self) -> Vec<(String, u64)> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .filter_map(|(_, l)| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == json!("leader"))
            .map(|v| {
                (
                    v["node"].as_str().unwrap().to_string(),
                    v["term"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn wait_leader(&self, not: Option<&str>) -> (String, u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(l) = self
                .leaders()
                .into_iter()
                .rev()
                .find(|(n, _)| Some(n.as_str()) != not)
            {
                return l;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("no leader elected; logs: {:?}", self.logs())
    }

    fn logs(&self) -> Vec<(String, String)> {
        self.logs.lock().unwrap().clone()
    }

    fn kill(&mut self, id: &str) {
        self.stdins.lock().unwrap().remove(id);
        if let Some(mut c) = self.children.remove(id) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<String> = self.children.keys().cloned().collect();
        for id in ids {
            self.kill(&id);
        }
    }
}

/// Moves each line of one node's stdout to its destination.
fn route(out: impl BufRead, stdins: Stdins, cut: Cut, clients: Sender<Value>) {
    for line in out.lines().map_while(Result::ok) {
        let msg: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a non-JSON line {line:?}: {e}"));
        let dest = msg["dest"].as_str().unwrap_or_default().to_string();
        let src = msg["src"].as_str().unwrap_or_default().to_string();
        let between_nodes = !dest.starts_with('c');
        let cut = cut.lock().unwrap();
        if between_nodes && (cut.contains(&src) || cut.contains(&dest)) {
            continue;
        }
        drop(cut);
        let mut stdins = stdins.lock().unwrap();
        match stdins.get_mut(&dest) {
            Some(stdin) => {
                let _ = writeln!(stdin, "{line}");
            }
            None if dest.starts_with('c') => {
                let _ = clients.send(msg);
            }
            None => {} // a killed node: the message is lost
        }
    }
}

#[test]
fn three_nodes_elect_forward_and_survive_the_leader() {
    let ids = ["n1", "n2", "n3"];
    let mut c = Cluster::start(&ids, &[]);
    let (leader, term) = c.wait_leader(None);
    let followers: Vec<&str> = ids.iter().copied().filter(|n| *n != leader).collect();
    // A write through each node; the followers' are answered by the leader.
    for (i, node) in ids.iter().enumerate() {
        let (src, reply) = c.ask(node, json!({"type":"write","key":1,"value":i}));
        assert_eq!(reply["type"], json!("write_ok"), "{reply}");
        assert_eq!(
            src, leader,
            "a write sent to {node} is answered by the leader"
        );
    }
    for node in ids {
        let (_, reply) = c.ask(node, json!({"type":"read","key":1}));
        assert_eq!(
            reply,
            json!({"type":"read_ok","in_reply_to":reply["in_reply_to"],"value":2})
        );
    }
    let (_, missing) = c.ask(followers[0], json!({"type":"read","key":"nope"}));
    assert_eq!(missing["code"], json!(20), "{missing}");
    let (_, bad_cas) = c.ask(followers[0], json!({"type":"cas","key":1,"from":7,"to":8}));
    assert_eq!(bad_cas["code"], json!(22), "{bad_cas}");
    let (src, cas) = c.ask(followers[1], json!({"type":"cas","key":1,"from":2,"to":3}));
    assert_eq!(
        (src.as_str(), &cas["type"]),
        (leader.as_str(), &json!("cas_ok"))
    );
    let (_, w) = c.ask(followers[0], json!({"type":"write","key":"s","value":9}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");

    c.kill(&leader);
    let (new_leader, new_term) = c.wait_leader(Some(&leader));
    assert!(
        new_term > term,
        "new leader {new_leader} in term {new_term} after {term}"
    );
    for node in &followers {
        let (_, r) = c.ask(node, json!({"type":"read","key":1}));
        assert_eq!(r["value"], json!(3), "{r}");
        let (_, r) = c.ask(node, json!({"type":"read","key":"s"}));
        assert_eq!(r["value"], json!(9), "{r}");
    }
}

/// Delivers one cas twice (same `src`, same `msg_id`, no `client`/`seq` fields, as a duplicating
/// network does) through a follower, so both copies are forwarded; returns the two replies.
fn cas_delivered_twice(extra: &[&str]) -> (Value, Value) {
    let ids = ["n1", "n2", "n3"];
    let mut c = Cluster::start(&ids, extra);
    let (leader, _) = c.wait_leader(None);
    let follower = ids.iter().copied().find(|n| *n != leader).unwrap();
    let (_, w) = c.ask(follower, json!({"type":"write","key":1,"value":1}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");
    let msg_id = c.msg_id();
    let cas = json!({"type":"cas","key":1,"from":1,"to":2,"msg_id":msg_id});
    let mut replies = Vec::new();
    for _ in 0..2 {
        c.deliver("c1", follower, cas.clone());
        let (_, r) = c
            .wait_reply(msg_id, Duration::from_secs(6))
            .unwrap_or_else(|| panic!("no reply to {cas}; logs: {:?}", c.logs()));
        replies.push(r);
    }
    (replies[0].clone(), replies[1].clone())
}

/// A duplicated request applies once: the copy is answered with the first application's
/// outcome (cas_ok), not applied again; with `--bug no-dedup` the copy is applied again and
/// fails its precondition (the test's other way).
#[test]
fn a_duplicated_request_applies_once() {
    let (first, second) = cas_delivered_twice(&[]);
    assert_eq!(first["type"], json!("cas_ok"), "{first}");
    assert_eq!(second["type"], json!("cas_ok"), "{second}");
    let (first, second) = cas_delivered_twice(&["--bug", "no-dedup"]);
    assert_eq!(first["type"], json!("cas_ok"), "{first}");
    assert_eq!(second["code"], json!(22), "{second}");
}

#[test]
fn stale_read_lets_a_cut_off_leader_answer_reads() {
    let mut c = Cluster::start(&["n1", "n2", "n3"], &["--bug", "stale-read"]);
    let (leader, _) = c.wait_leader(None);
    let (_, w) = c.ask(&leader, json!({"type":"write","key":5,"value":1}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");
    c.cut.lock().unwrap().push(leader.clone());
    // No quorum can confirm this read; the buggy leader answers from its own state at once.
    let (src, r) = c.ask(&leader, json!({"type":"read","key":5}));
    assert_eq!(
        (src.as_str(), &r["type"], &r["value"]),
        (leader.as_str(), &json!("read_ok"), &json!(1)),
        "{r}"
    );
}

#[test]
fn a_correct_cut_off_leader_does_not_answer_reads() {
    let mut c = Cluster::start(&["n1", "n2", "n3"], &[]);
    let (leader, _) = c.wait_leader(None);
    let (_, w) = c.ask(&leader, json!({"type":"write","key":5,"value":1}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");
    c.cut.lock().unwrap().push(leader.clone());
    let (_, r) = c.ask(&leader, json!({"type":"read","key":5}));
    assert_ne!(r["type"], json!("read_ok"), "{r}");
}

#[test]
fn follower_read_lets_a_cut_off_follower_serve_a_stale_value() {
    let ids = ["n1", "n2", "n3"];
    let mut c = Cluster::start(&ids, &["--bug", "follower-read"]);
    let (leader, _) = c.wait_leader(None);
    let follower = ids.iter().copied().find(|n| *n != leader).unwrap();
    let (_, w) = c.ask(&leader, json!({"type":"write","key":5,"value":1}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");
    // Wait until the follower has applied it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.ask(follower, json!({"type":"read","key":5})).1["value"] != json!(1) {
        assert!(
            Instant::now() < deadline,
            "{follower} never applied the write"
        );
        thread::sleep(Duration::from_millis(50));
    }
    c.cut.lock().unwrap().push(follower.to_string());
    let (_, w) = c.ask(&leader, json!({"type":"write","key":5,"value":2}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");
    let (src, r) = c.ask(follower, json!({"type":"read","key":5}));
    assert_eq!(
        (src.as_str(), &r["value"]),
        (follower, &json!(1)),
        "a stale read: {r}"
    );
}

#[test]
fn garbage_is_logged_and_eof_exits_zero() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_raft-node"))
        .arg("--maelstrom")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .spawn()
        .expect("start raft-node");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "this is not json").unwrap();
    let init = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#;
    writeln!(stdin, "{init}").unwrap();
    writeln!(stdin, "{{\"half\":").unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["body"], json!({"type":"init_ok","in_reply_to":1}));
    drop(stdin); // EOF
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit status {status}; stderr:\n{err}");
    assert!(
        err.contains("not a JSON message") && err.contains("this is not json"),
        "{err}"
    );
    for l in rest.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("stdout line {l:?}: {e}"));
    }
}

#[test]
fn with_data_a_killed_node_keeps_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    {
        let mut c = Cluster::start(&["n1"], &["--data", &data]);
        c.wait_leader(None);
        let (_, w) = c.ask("n1", json!({"type":"write","key":1,"value":42}));
        assert_eq!(w["type"], json!("write_ok"), "{w}");
    } // SIGKILL
    let mut c = Cluster::start(&["n1"], &["--data", &data]);
    c.wait_leader(None);
    let (_, r) = c.ask("n1", json!({"type":"read","key":1}));
    assert_eq!(r["value"], json!(42), "{r}");
    drop(c);
    // Without --data a restarted node comes back empty.
    let mut c = Cluster::start(&["n1"], &[]);
    c.wait_leader(None);
    let (_, w) = c.ask("n1", json!({"type":"write","key":1,"value":1}));
    assert_eq!(w["type"], json!("write_ok"), "{w}");
    drop(c);
    let mut c = Cluster::start(&["n1"], &[]);
    c.wait_leader(None);
    let (_, r) = c.ask("n1", json!({"type":"read","key":1}));
    assert_eq!(r["code"], json!(20), "{r}");
}
