//! Leader tracking during a run: tails the nodes' logs for `{"event":"leader",...}` lines.
//!
//! A node's stdout and stderr go to `nodes/<id>.log` (appended across restarts). A background
//! thread reads what each log gained every [`POLL`], keeps the JSON lines that are leader or role
//! events, stamps them with the run's clock (so they can be drawn beside the history: the stamp
//! is when faultline *saw* the line, at most one poll later than it was printed) and appends
//! them to `leaders.jsonl` in the run directory.
//!
//! What it is for: the nemesis needs the current leader (`isolate-leader`, `kill-leader`, ...),
//! the harness waits for a first leader before starting clients, and reports draw leader changes.
//! Election safety itself is checked from the node logs at the end (every line, not samples).
//!
//! The current leader is the node of the highest-term leader event, unless that node later
//! announced another role in the same or a later term (it stepped down).

pub mod etcd_probe;
pub mod redis_probe;
pub mod sources;
pub mod zk_probe;

use serde_json::json;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the logs are read: a scripted nemesis that waits for an election
/// ([`LeaderTracker::wait_term_above`]) reacts within about this long.
pub const POLL: Duration = Duration::from_millis(10);

/// One leader claim seen in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The node.
    pub node: String,
    /// The term.
    pub term: u64,
    /// When faultline saw it, ns since the run started.
    pub time_ns: u64,
}

struct State {
    sightings: Vec<Sighting>,
    current: Option<(u64, String)>,
    /// Set by a probe ([`LeaderTracker::set_current`]); wins over `current` when present.
    probed: Option<Option<String>>,
    sink: File,
}

/// The tracker; dropping it stops the tailing thread, if any.
pub struct LeaderTracker {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl LeaderTracker {
    /// Tails `logs` (node id, path); writes sightings to `out`; `clock` gives the run's time.
    pub fn start(
        logs: Vec<(String, PathBuf)>,
        out: PathBuf,
        clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> std::io::Result<LeaderTracker> {
        let tracker = LeaderTracker::fed(out, Arc::clone(&clock))?;
        let (st, sp) = (Arc::clone(&tracker.state), Arc::clone(&tracker.stop));
        let thread = std::thread::Builder::new()
            .name("leader-tracker".into())
            .spawn(move || {
                let mut tails: Vec<Tail> = logs.into_iter().map(Tail::new).collect();
                loop {
                    let last = sp.load(Ordering::Relaxed);
                    for t in &mut tails {
                        for line in t.poll() {
                            observe(&st, &line, clock());
                        }
                    }
                    if last {
                        break;
                    }
                    std::thread::sleep(POLL);
                }
            })?;
        *tracker.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(tracker)
    }

    /// A tracker fed by the caller ([`LeaderTracker::record`], [`LeaderTracker::set_current`]),
    /// for systems whose leaders come from a probe rather than from their logs.
    pub fn fed(
        out: PathBuf,
        clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> std::io::Result<LeaderTracker> {
        let sink = File::create(&out)?;
        Ok(LeaderTracker {
            state: Arc::new(Mutex::new(State {
                sightings: Vec::new(),
                current: None,
                probed: None,
                sink,
            })),
            stop: Arc::new(AtomicBool::new(false)),
            thread: Mutex::new(None),
            clock,
        })
    }

    /// Records a leader claim seen now.
    pub fn record(&self, node: &str, term: u64) {
        record(&mut self.lock(), node, term, (self.clock)());
    }

    /// Sets the leader to aim faults at (a probe's best guess); None: no leader known.
    pub fn set_current(&self, leader: Option<String>) {
        self.lock().probed = Some(leader);
    }

    /// The current leader, if one is known.
    pub fn current(&self) -> Option<String> {
        let s = self.lock();
        match &s.probed {
            Some(p) => p.clone(),
            None => s.current.as_ref().map(|(_, n)| n.clone()),
        }
    }

    /// Every leader claim so far.
    pub fn sightings(&self) -> Vec<Sighting> {
        self.lock().sightings.clone()
    }

    /// Waits until some leader is known, up to `timeout`; returns it.
    pub fn wait_leader(&self, timeout: Duration) -> Option<String> {
        wait_for(timeout, POLL, || self.current())
    }

    /// The highest term any leader claimed so far (0 when none did).
    pub fn max_term(&self) -> u64 {
        self.lock()
            .sightings
            .iter()
            .map(|s| s.term)
            .max()
            .unwrap_or(0)
    }

    /// Waits until some node claims leadership of a term above `term`, up to `timeout`;
    /// returns that node.
    pub fn wait_term_above(&self, term: u64, timeout: Duration) -> Option<String> {
        // Checked more often than the logs are read, so it adds little to their poll.
        wait_for(timeout, Duration::from_millis(2), || {
            let s = self.lock();
            let newer = s.sightings.iter().find(|s| s.term > term);
            newer.map(|s| s.node.clone())
        })
    }

    /// Reads the logs one last time, stops, syncs `leaders.jsonl`; returns every claim.
    pub fn finish(&self) -> Vec<Sighting> {
        self.stop_thread();
        let _ = self.lock().sink.sync_all();
        self.sightings()
    }

    fn stop_thread(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for LeaderTracker {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Calls `f` every `every` until it returns something or `timeout` has passed.
fn wait_for<T>(timeout: Duration, every: Duration, f: impl Fn() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

fn record(s: &mut State, node: &str, term: u64, now: u64) {
    let _ = writeln!(
        s.sink,
        "{}",
        json!({"event": "leader", "node": node, "term": term, "time": now})
    );
    s.sightings.push(Sighting {
        node: node.to_string(),
        term,
        time_ns: now,
    });
    if s.current.iter().all(|(t, _)| term >= *t) {
        s.current = Some((term, node.to_string()));
    }
}

fn observe(state: &Mutex<State>, line: &str, now: u64) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    let (Some(event), Some(node), Some(term)) = (
        v.get("event").and_then(|e| e.as_str()),
        v.get("node").and_then(|n| n.as_str()),
        v.get("term").and_then(|t| t.as_u64()),
    ) else {
        return;
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    match event {
        "leader" => record(&mut s, node, term, now),
        "role" if v.get("role").and_then(|r| r.as_str()) != Some("leader") => {
            if matches!(&s.current, Some((t, n)) if n == node && term >= *t) {
                s.current = None;
            }
        }
        _ => {}
    }
}

/// The unread end of one log file.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn new((_, path): (String, PathBuf)) -> Tail {
        Tail {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete new lines that look like JSON events.
    fn poll(&mut self) -> Vec<String> {
        let Ok(mut f) = File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.starts_with('{') && text.contains("\"event\"") {
                lines.push(text.to_string());
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_leaders_and_step_downs_across_logs() {
        let dir = tempfile::tempdir().unwrap();
        let log = |id| dir.path().join(crate::store::node_log_file(id));
        let (a, b) = (log("n1"), log("n2"));
        std::fs::write(
            &a,
            "INFO starting\n{\"event\":\"leader\",\"node\":\"n1\",\"term\":2}\n",
        )
        .unwrap();
        std::fs::write(&b, "").unwrap();
        let clock: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(|| 7);
        let t = LeaderTracker::start(
            vec![("n1".into(), a.clone()), ("n2".into(), b.clone())],
            dir.path().join(crate::store::LEADERS),
            clock,
        )
        .unwrap();
        assert_eq!(t.wait_leader(Duration::from_secs(5)).as_deref(), Some("n1"));
        let mut f = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
        // Half a line first: it must not be read until it is complete.
        write!(f, "{{\"event\":\"role\",\"node\":\"n1\",").unwrap();
        std::thread::sleep(POLL * 3);
        assert_eq!(t.current().as_deref(), Some("n1"));
        writeln!(f, "\"role\":\"follower\",\"term\":3}}").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.current().is_some() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(t.current(), None, "n1 stepped down");
        std::fs::write(&b, "{\"event\":\"leader\",\"node\":\"n2\",\"term\":3}\n").unwrap();
        assert_eq!(t.wait_leader(Duration::from_secs(5)).as_deref(), Some("n2"));
        assert_eq!(t.max_term(), 3);
        assert_eq!(
            t.wait_term_above(2, Duration::from_secs(5)).as_deref(),
            Some("n2")
        );
        assert_eq!(t.wait_term_above(3, Duration::from_millis(30)), None);
        let seen = t.finish();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].term, 3);
        let out = std::fs::read_to_string(dir.path().join(crate::store::LEADERS)).unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("\"time\":7"));
    }
}
