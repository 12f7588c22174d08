//! Redis with Sentinel (`systems/redis-sentinel.toml`) end to end: real redis-server and
//! redis-sentinel processes in the harness's network namespaces.
//!
//! Needs root and Debian's `redis-server` and `redis-sentinel` (`scripts/ensure-redis.sh`); run
//! without them, these tests fail on purpose.

use crate::e2e::{assert_clean, hunt_spec, results, run_spec, setup};
use std::path::Path;
use std::process::Command;

fn require_redis() {
    for bin in ["redis-server", "redis-sentinel"] {
        let found = Command::new(bin).arg("--version").output().is_ok();
        assert!(
            found,
            "{bin} is not installed: run scripts/ensure-redis.sh (installs Debian's redis-server and redis-sentinel as root)"
        );
    }
}

/// Live processes whose working directory is under `run_dir`: every redis-server and
/// redis-sentinel of the run (both chdir to their node's data dir, the config's `dir`; their
/// command lines are rewritten by Redis to `redis-sentinel IP:PORT [sentinel]`).
fn processes_of(run_dir: &Path) -> Vec<String> {
    let needle = run_dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if cwd.to_string_lossy().starts_with(needle.as_str()) && !zombie {
            found.push(format!("{name}: {cmd}"));
        }
    }
    found
}

#[test]
#[ignore = "needs root: network namespaces, redis-server and redis-sentinel"]
fn a_healthy_redis_run_is_valid_and_leaves_no_redis_process() {
    let _g = setup();
    require_redis();
    // The leftover check sees a process by its working directory.
    let probe_dir = tempfile::tempdir().unwrap();
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .current_dir(probe_dir.path())
        .spawn()
        .expect("spawn sleep");
    let seen = processes_of(&std::fs::canonicalize(probe_dir.path()).unwrap());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let store = tempfile::tempdir().unwrap();
    let (out, dir) = run_spec(
        "redis-sentinel",
        store.path(),
        &[
            "--nodes",
            "3",
            "--nemesis",
            "none",
            "--clients",
            "spread",
            "--time-limit",
            "5",
            "--seed",
            "1",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = results(&dir);
    assert_eq!(r["valid"], true, "{r}");
    assert!(text.contains("election safety: valid"), "{text}");
    assert_clean(&dir);
    let dir = std::fs::canonicalize(&dir).unwrap();
    let left = processes_of(&dir);
    assert!(left.is_empty(), "redis processes left: {left:?}");
    // Both daemons ran on every node: each wrote its config beside its data.
    for n in ["n1", "n2", "n3"] {
        let logs = std::fs::read_to_string(dir.join(format!("nodes/{n}.log"))).unwrap_or_default();
        assert!(
            logs.contains("Sentinel ID") || logs.contains("monitor master"),
            "{n}: no sentinel in its log"
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, redis-server and redis-sentinel"]
fn acknowledged_writes_to_an_isolated_redis_master_are_lost() {
    let _g = setup();
    require_redis();
    let extra = ["--clients", "spread", "--time-limit", "20"];
    let (runs, text) = hunt_spec(
        "redis-sentinel",
        "redis with sentinel failover",
        "isolate-leader",
        &extra,
        3,
    )
    .expect("lost writes under isolate-leader were not caught in 3 runs");
    assert!(runs <= 3);
    assert!(text.contains("linearizability: invalid"), "{text}");
    assert!(
        text.contains("a stale read") || text.contains("lost"),
        "the explanation names no stale read or lost write: {text}"
    );
}
