//! End-to-end: Maelstrom nodes (JSON on stdin/stdout) behind faultline's relays, in real
//! network namespaces, with real partitions, pauses and kills. Needs root, like `e2e`.
//!
//! Both ways for every workload: raft-node in Maelstrom mode is valid under partitions and
//! pauses, caught with `--bug stale-read` by the `revote` hunt, and caught under `kill-all`
//! without `--data` (its memory is lost); the example broadcast node is valid under partitions
//! with its retries and loses messages without them; the g-counter and unique-ids examples are
//! valid, and caught with their planted bugs. A node that writes garbage or exits at once gets a
//! message naming it and its log. After every run nothing is left: no namespace, link, chain,
//! relay or node process.

use crate::e2e::{hunt_spec, leftovers, node_pids, results, run_spec, setup};
use crate::support::{bin, raft_node, stderr, stdout, workspace};
use std::path::Path;
use std::process::Command;

/// The PIDs of the nodes behind the relays, from the relays' lines in the node logs.
fn inner_pids(run_dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir(run_dir.join("nodes")) else {
        return pids;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                if let Some(rest) = line.split("started node (pid ").nth(1) {
                    if let Some(pid) = rest.split(')').next().and_then(|p| p.parse().ok()) {
                        pids.push(pid);
                    }
                }
            }
        }
    }
    pids
}

/// Nothing of the run in `run_dir` is left: relays, nodes, namespaces, links, chains.
fn assert_all_clean(run_dir: &Path) {
    let id = std::fs::read_to_string(run_dir.join("history.jsonl"))
        .ok()
        .and_then(|t| {
            let header: serde_json::Value = serde_json::from_str(t.lines().next()?).ok()?;
            Some(header["run_id"].as_str()?.to_string())
        })
        .expect("the history names its run id");
    let mut pids = node_pids(run_dir);
    assert!(!pids.is_empty(), "the log names the relays' PIDs");
    pids.extend(inner_pids(run_dir));
    let left = leftovers(&id, &pids);
    assert!(left.is_empty(), "run {id} left: {left:?}");
}

fn spec(name: &str) -> String {
    match name {
        "raft" => "raft-maelstrom".into(),
        other => format!("examples/{other}"),
    }
}

/// One run of `systems/<spec>.toml` with `args`; returns (exit code, stdout, results.json),
/// read before the temporary store goes.
fn run(name: &str, args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let store = tempfile::tempdir().unwrap();
    let (out, dir) = run_spec(&spec(name), store.path(), args);
    assert_all_clean(&dir);
    let text = stdout(&out);
    if !matches!(out.status.code(), Some(0 | 1)) {
        panic!(
            "run failed ({:?}): {}\n{text}",
            out.status.code(),
            stderr(&out)
        );
    }
    (out.status.code(), text, results(&dir))
}

#[test]
#[ignore = "needs root: network namespaces"]
fn raft_node_in_maelstrom_mode_is_valid_under_partitions_and_pauses() {
    let _g = setup();
    for nemesis in ["partition", "pause"] {
        let (code, text, summary) = run(
            "raft",
            &[
                "--nodes",
                "3",
                "--time-limit",
                "6",
                "--nemesis-interval",
                "1.5",
                "--nemesis",
                nemesis,
                "--seed",
                "1",
            ],
        );
        assert_eq!(code, Some(0), "{nemesis}: {text}");
        assert!(text.contains("linearizability: valid"), "{text}");
        assert!(text.contains("election safety: valid"), "{text}");
        assert!(
            summary["figures"]["liveness"]["ok_while_faulty"].as_u64() > Some(0)
                || nemesis == "pause",
            "{nemesis}: nothing was served while faulty: {text}"
        );
    }
}

/// Delays (so reordering), loss and duplication between the nodes: raft-node stays valid, a
/// duplicated forward applying once (it is deduplicated by the client's id and `msg_id`).
#[test]
#[ignore = "needs root: network namespaces"]
fn the_maelstrom_command_line_runs_raft_node_with_message_faults() {
    let _g = setup();
    let store = tempfile::tempdir().unwrap();
    let raft = raft_node();
    let out = Command::new(bin())
        .args(["maelstrom", "test", "-w", "lin-kv", "--bin"])
        .arg(&raft)
        .args([
            "--node-count",
            "3",
            "--time-limit",
            "6",
            "--rate",
            "50",
            "--concurrency",
            "2n",
            "--nemesis",
            "none",
            "--latency",
            "20",
            "--latency-dist",
            "exponential",
            "--message-loss",
            "0.05",
            "--duplicate",
            "0.05",
            "--seed",
            "1",
            "--store",
        ])
        .arg(store.path())
        .args(["--", "--maelstrom"])
        .output()
        .expect("run faultline maelstrom");
    let text = stdout(&out);
    let dir = std::fs::canonicalize(store.path().join("latest")).expect("store/latest");
    assert_all_clean(&dir);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("linearizability: valid"), "{text}");
    // A write is committed after a round trip to a follower: two delayed messages at least.
    let r = results(&dir);
    let p50 = r["figures"]["latency"]["p50_ms"].as_f64().unwrap();
    assert!(
        p50 >= 10.0,
        "p50 latency {p50} ms with 20 ms mean message delay"
    );
    let stats = std::fs::read_to_string(dir.join("nodes/n1.relay.jsonl")).expect("relay stats");
    let last: serde_json::Value =
        serde_json::from_str(stats.lines().last().expect("a stats line")).unwrap();
    assert!(
        last["lost"].as_u64().unwrap_or(0) > 0,
        "the relay counted no loss: {last}"
    );
    assert!(
        last["duplicated"].as_u64().unwrap_or(0) > 0,
        "the relay duplicated nothing: {last}"
    );
}

/// `faultline suite --only revote` on raft-node in Maelstrom mode with its state on disk.
fn revote(node_args: &str) -> (Option<i32>, String) {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("suite")
        .arg("--system")
        .arg(workspace().join("systems/raft-maelstrom-disk.toml"))
        .args([
            "--only",
            "revote",
            "--seed",
            "1",
            "--node-args",
            node_args,
            "--store",
        ])
        .arg(store.path())
        .output()
        .expect("run faultline suite");
    (out.status.code(), stdout(&out))
}

/// A deposed leader that keeps answering reads: under `isolate-leader` CheckQuorum makes it step
/// down about when the majority elects (docs/maelstrom.md gives the rate); the `revote` hunt,
/// which holds the leader's appends back while a restarted voter elects a new leader, shows
/// it in one run. The correct node passes the same run (its state on disk, so the restart
/// loses nothing).
#[test]
#[ignore = "needs root: network namespaces"]
fn raft_node_in_maelstrom_mode_with_stale_reads_is_caught_by_the_revote_hunt() {
    let _g = setup();
    let (code, text) = revote("--no-pre-vote");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("--- PASS: revote"), "{text}");
    let (code, text) = revote("--bug stale-read --no-pre-vote");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("--- FAIL: revote") && text.contains("a stale read"),
        "{text}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn raft_node_in_maelstrom_mode_without_data_is_caught_under_kill_and_the_kill_is_named() {
    let _g = setup();
    let extra = ["--time-limit", "7", "--nemesis-interval", "2"];
    let (_, text) = hunt_spec("raft-maelstrom", "memory only", "kill-all", &extra, 3)
        .expect("raft-node without --data was not caught under kill-all in 3 runs");
    assert!(text.contains("kills: "), "{text}");
    assert!(text.contains("comes back empty"), "{text}");
}

/// Runs the example `node` on `workload` under `nemesis` (3 nodes unless `extra` says
/// otherwise), correct and then with `bug`: the first must be valid and show every one of
/// `valid_shows`, the second invalid and show `caught_shows`.
fn both_ways(
    node: &str,
    workload: &str,
    nemesis: &str,
    extra: &[&str],
    valid_shows: &[&str],
    bug: &str,
    caught_shows: &[&str],
) {
    let mut common = vec![
        "-w",
        workload,
        "--nodes",
        "3",
        "--time-limit",
        "6",
        "--nemesis-interval",
        "2",
        "--nemesis",
        nemesis,
        "--seed",
        "1",
    ];
    common.extend_from_slice(extra);
    let (code, text, _) = run(node, &common);
    assert_eq!(code, Some(0), "{text}");
    for want in valid_shows {
        assert!(
            text.contains(want),
            "correct {node} should show {want:?}: {text}"
        );
    }
    common.extend(["--node-args", bug]);
    let (code, text, _) = run(node, &common);
    assert_eq!(code, Some(1), "{text}");
    for want in caught_shows {
        assert!(
            text.contains(want),
            "{node} {bug} should show {want:?}: {text}"
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn the_broadcast_node_is_valid_with_retries_and_loses_messages_without() {
    let _g = setup();
    both_ways(
        "broadcast",
        "broadcast",
        "random-halves",
        &["--nodes", "5", "--topology", "line"],
        &[
            "broadcast: valid",
            "stable latency (ms)",
            "server messages per op",
        ],
        "--no-retry",
        &["acknowledged messages: its last read", "sent to n"],
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn the_g_counter_node_is_valid_and_caught_with_local_counts() {
    let _g = setup();
    both_ways(
        "g-counter",
        "g-counter",
        "partition",
        &[],
        &["g-counter: valid"],
        "--bug local-only",
        &["but acknowledged adds sum to"],
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn the_unique_ids_node_is_valid_under_kill_and_caught_with_bare_counters() {
    let _g = setup();
    both_ways(
        "unique-ids",
        "unique-ids",
        "kill",
        &["--rate", "50"],
        &["unique-ids: valid"],
        "--bug counter-only",
        &["was returned twice"],
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_node_that_writes_garbage_or_exits_at_once_is_named_with_its_log() {
    let _g = setup();
    for (name, start, want) in [
        (
            "garbage",
            "sh -c 'read line; echo hello there; sleep 60'",
            "not a Maelstrom message on stdout (line 1",
        ),
        (
            "exits",
            "sh -c 'echo bye >&2; exit 3'",
            "exited before answering init",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &spec,
            format!("name = \"{name}\"\nclient = \"maelstrom\"\nstart = {start:?}\n"),
        )
        .unwrap();
        let store = dir.path().join("store");
        let out = Command::new(bin())
            .arg("test")
            .arg("--system")
            .arg(&spec)
            .arg("--store")
            .arg(&store)
            .args(["--nodes", "3", "--time-limit", "5"])
            .current_dir(workspace())
            .output()
            .expect("run faultline test");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(err.contains("node n"), "{name}: names the node: {err}");
        assert!(err.contains("nodes/n"), "{name}: names the log: {err}");
        let run_dir = std::fs::canonicalize(store.join("latest")).expect("store/latest");
        assert_all_clean(&run_dir);
    }
}

/// A node for [`two_relays_carry_a_large_message_and_a_forwarded_reply`]: n1 forwards a
/// client's `big` request to n2 with a 600 KB payload; n2 answers the client itself.
const FORWARDER: &str = r#"
import json, sys
me = None
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    out = None
    if body["type"] == "init":
        me = body["node_id"]
        out = {"src": me, "dest": msg["src"], "body": {"type": "init_ok", "in_reply_to": body["msg_id"]}}
    elif body["type"] == "big" and me == "n1":
        out = {"src": me, "dest": "n2", "body": {"type": "fwd", "client": msg["src"],
               "msg_id": body["msg_id"], "payload": "x" * 600000}}
    elif body["type"] == "fwd":
        out = {"src": me, "dest": body["client"], "body": {"type": "big_ok",
               "in_reply_to": body["msg_id"], "size": len(body["payload"]), "by": me}}
    if out:
        print(json.dumps(out), flush=True)
"#;

/// Two relays on loopback addresses (no namespaces, no root): a 600 KB node-to-node message
/// gets through whole, and a reply that n2 sends to a client connected to n1's relay finds its
/// way back through n1's relay.
#[test]
fn two_relays_carry_a_large_message_and_a_forwarded_reply() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("forwarder.py");
    std::fs::write(&script, FORWARDER).unwrap();
    let port = crate::support::free_port();
    let nodes = ["--node", "n1=127.0.0.61", "--node", "n2=127.0.0.62"];
    let mut relays: Vec<std::process::Child> = ["n1", "n2"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Command::new(bin())
                .args(["relay", "--id", id])
                .args(nodes)
                .arg("--client-listen")
                .arg(format!("127.0.0.6{}:{port}", i + 1))
                .args(["--init-timeout", "10", "--", "python3"])
                .arg(&script)
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start a relay")
        })
        .collect();
    let addr: std::net::SocketAddr = format!("127.0.0.61:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stream = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("relay n1 never listened: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // n2's relay may still be starting: ask until the answer comes.
    let mut reply = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    for msg_id in 1..=20 {
        writeln!(w, r#"{{"type":"big","msg_id":{msg_id}}}"#).unwrap();
        reply.clear();
        w.set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        if reader.read_line(&mut reply).is_ok() && !reply.is_empty() {
            break;
        }
    }
    for r in &mut relays {
        let _ = r.kill();
        let _ = r.wait();
    }
    let v: serde_json::Value = serde_json::from_str(reply.trim()).expect("a JSON reply");
    assert_eq!(v["type"], "big_ok", "{v}");
    assert_eq!(v["size"], 600000, "{v}");
    assert_eq!(
        v["by"], "n2",
        "the reply came from the node the request was forwarded to"
    );
}
