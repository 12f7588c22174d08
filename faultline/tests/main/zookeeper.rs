//! ZooKeeper as a system under test, end to end: three real servers (Debian's `zookeeper`
//! package, started by systems/zookeeper/start-node.sh) in network namespaces, the `zookeeper`
//! adapter and the `srvr` leader probe. Needs root and ZooKeeper with Java
//! (`scripts/ensure-zookeeper.sh`); without them these tests fail, on purpose.

use crate::e2e::{assert_clean, hunt_spec, results, run_spec, setup};
use crate::support::stderr;

fn require_zookeeper() {
    let jar = std::path::Path::new("/usr/share/java/zookeeper.jar").is_file();
    let java = std::process::Command::new("java")
        .arg("-version")
        .output()
        .is_ok();
    assert!(
        jar && java,
        "ZooKeeper or Java is not installed: run scripts/ensure-zookeeper.sh (as root on Debian it \
         installs zookeeper and default-jre-headless)"
    );
}

#[test]
#[ignore = "needs root: network namespaces, ZooKeeper and Java"]
fn zookeeper_with_sync_reads_is_valid_under_partitions_and_leaves_nothing() {
    let _g = setup();
    require_zookeeper();
    let store = tempfile::tempdir().unwrap();
    let args = [
        "--nodes",
        "3",
        "--nemesis",
        "partition",
        "--clients",
        "spread",
        "--time-limit",
        "15",
        "--seed",
        "1",
    ];
    let (out, dir) = run_spec("zookeeper", store.path(), &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let r = results(&dir);
    assert_eq!(r["valid"], true, "{text}");
    assert_eq!(
        r["checks"]["election_safety"]["valid"], true,
        "sampled by the srvr probe: {text}"
    );
    assert!(r["checks"]["election_safety"]["leaders"].as_u64().unwrap() >= 1);
    assert!(r["figures"]["ops"]["ok"].as_u64().unwrap() > 100, "{text}");
    assert_clean(&dir);
}

/// Plain reads are served from the connected server's local state: a server cut off from the
/// leader keeps answering reads until it notices (syncLimit, 1 s here), so with spread clients
/// a partition makes stale reads. Measured with 20 s runs: seeds 1 and 3 of 1..4 invalid
/// (docs/systems-zookeeper.md); the hunt allows 4 runs.
#[test]
#[ignore = "needs root: network namespaces, ZooKeeper and Java"]
fn zookeeper_with_plain_reads_is_caught_reading_stale_under_partitions() {
    let _g = setup();
    require_zookeeper();
    let extra = ["--clients", "spread", "--time-limit", "20"];
    let (_, text) = hunt_spec("zookeeper-plain", "plain reads", "partition", &extra, 4)
        .expect("plain reads under partition were not caught in 4 runs");
    assert!(text.contains("a stale read"), "{text}");
    assert!(text.contains("verdict: INVALID"), "{text}");
}
