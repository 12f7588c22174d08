//! Three real `raft-node` processes on loopback: writes, reads and cas through any node
//! (following the leader hint), SIGKILL of the leader, a new leader serving the same data, and
//! the killed node restarted on its data directory catching up.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Node {
    id: String,
    client: SocketAddr,
    child: Option<Child>,
    data: PathBuf,
    args: Vec<String>,
}

/// Kills every child we started (by PID) when the test ends, pass or fail.
struct Cluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn free_port() -> u16 {
    node::ports::free_loopback_port().expect("a free loopback port")
}

fn spawn(args: &[String], data: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_raft-node"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn raft-node")
}

fn start(n: usize) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let peer_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let peers: Vec<String> = (0..n)
        .map(|i| format!("n{}=127.0.0.1:{}", i + 1, peer_ports[i]))
        .collect();
    let nodes = (0..n)
        .map(|i| {
            let client: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let args: Vec<String> = [
                "--id",
                &format!("n{}", i + 1),
                "--peers",
                &peers.join(","),
                "--listen",
                &format!("127.0.0.1:{}", peer_ports[i]),
                "--client",
                &client.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let data = dir.path().join(format!("n{}", i + 1));
            Node {
                id: format!("n{}", i + 1),
                client,
                child: Some(spawn(&args, &data)),
                data,
                args,
            }
        })
        .collect();
    Cluster { nodes, _dir: dir }
}

/// Sends one request to node `i` and returns the reply, or None on a connection problem.
fn call(addr: SocketAddr, body: &Value) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    writeln!(s, "{body}").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// Sends `body` starting at node `first`, following leader hints, until an answer other than
/// "not leader" comes back or `within` passes.
fn request(c: &Cluster, first: usize, body: Value, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    let mut at = first;
    loop {
        let node = &c.nodes[at];
        let reply = if node.child.is_some() {
            call(node.client, &body)
        } else {
            None
        };
        match reply {
            Some(r) if r["type"] != "error" || (r["code"] != 11 && r["code"] != 0) => return r,
            Some(r) => {
                let hint = r["leader"].as_str();
                at = hint
                    .and_then(|h| c.nodes.iter().position(|n| n.id == h))
                    .unwrap_or((at + 1) % c.nodes.len());
            }
            None => at = (at + 1) % c.nodes.len(),
        }
        assert!(
            Instant::now() < deadline,
            "no answer to {body} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn leader_of(c: &Cluster) -> usize {
    // The node that answers a read itself (no redirect) is the leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for (i, n) in c.nodes.iter().enumerate() {
            if n.child.is_none() {
                continue;
            }
            if let Some(r) = call(n.client, &json!({"msg_id": 1, "type": "read", "key": "k"})) {
                if r["type"] == "read_ok" || r["code"] == 20 {
                    return i;
                }
            }
        }
        assert!(Instant::now() < deadline, "no leader within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_processes_survive_the_leader_being_killed() {
    let mut c = start(3);
    let t = Duration::from_secs(10);
    let w = request(
        &c,
        1,
        json!({"msg_id":1,"type":"write","key":"k","value":5,"client":"t","seq":1}),
        t,
    );
    assert_eq!(w["type"], "write_ok", "{w}");
    let r = request(&c, 2, json!({"msg_id":2,"type":"read","key":"k"}), t);
    assert_eq!(r["value"], 5, "{r}");
    let bad = request(
        &c,
        0,
        json!({"msg_id":3,"type":"cas","key":"k","from":4,"to":6,"client":"t","seq":2}),
        t,
    );
    assert_eq!(bad["code"], 22, "{bad}");
    let ok = request(
        &c,
        0,
        json!({"msg_id":4,"type":"cas","key":"k","from":5,"to":6,"client":"t","seq":3}),
        t,
    );
    assert_eq!(ok["type"], "cas_ok", "{ok}");
    let missing = request(&c, 0, json!({"msg_id":5,"type":"read","key":"nope"}), t);
    assert_eq!(missing["code"], 20, "{missing}");
    let malformed = call(
        c.nodes[0].client,
        &json!({"msg_id": 6, "type": "frobnicate"}),
    )
    .unwrap();
    assert_eq!(malformed["code"], 12, "{malformed}");

    // SIGKILL the leader (the PID we started).
    let old = leader_of(&c);
    let mut child = c.nodes[old].child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let new = leader_of(&c);
    assert_ne!(new, old);
    let r = request(&c, new, json!({"msg_id":7,"type":"read","key":"k"}), t);
    assert_eq!(
        r["value"], 6,
        "the new leader must serve the same data: {r}"
    );
    let w = request(
        &c,
        new,
        json!({"msg_id":8,"type":"write","key":"k","value":7,"client":"t","seq":4}),
        t,
    );
    assert_eq!(w["type"], "write_ok", "{w}");

    // Restart the killed node on its data directory; it catches up.
    let node = &mut c.nodes[old];
    node.child = Some(spawn(&node.args, &node.data));
    let deadline = Instant::now() + t;
    loop {
        // Reads are served by the leader (through any node, following hints).
        let r = request(&c, old, json!({"msg_id":9,"type":"read","key":"k"}), t);
        if r["value"] == 7 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node did not catch up: {r}"
        );
    }
    // Stop a node that is not the restarted one: the remaining majority includes the restarted
    // node, so a committed write proves it took part in replication.
    let other = (0..3).find(|&i| i != old && i != new).unwrap();
    let mut child = c.nodes[other].child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let w = request(
        &c,
        new,
        json!({"msg_id":10,"type":"write","key":"k","value":8,"client":"t","seq":5}),
        Duration::from_secs(15),
    );
    assert_eq!(w["type"], "write_ok", "{w}");
    let r = request(&c, old, json!({"msg_id":11,"type":"read","key":"k"}), t);
    assert_eq!(r["value"], 8, "{r}");
}

/// `raft-node --list-bugs` prints each planted bug's CLI name on its own line, in declaration
/// order, and exits 0 (faultline's scorecard compares its own copy of the names with it).
#[test]
fn list_bugs_prints_every_bug_name_in_order() {
    let out = Command::new(env!("CARGO_BIN_EXE_raft-node"))
        .arg("--list-bugs")
        .output()
        .expect("run raft-node --list-bugs");
    assert!(out.status.success(), "{out:?}");
    let names: Vec<String> = node::core::Bug::all().iter().map(|b| b.name()).collect();
    let mut expected = names.join("\n");
    expected.push('\n');
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    assert!(names.contains(&"lost-truncate".to_string()) && names.len() == 7);
}
