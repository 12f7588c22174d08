//! The store: one directory per run, `store/<system>-<nemesis>/<timestamp>/`, and
//! `store/latest` pointing at the last run (docs/design.md, "Store"). This module owns the
//! name of every file of a run directory; nothing else spells them.
//!
//! ```text
//! history.jsonl  results.json  report.html  leaders.jsonl  faultline.log
//! nodes/n1.log ... nodes/nN.log   nodes/n1/ (data dir, kept for post-mortem)
//! ```
//!
//! Timestamps are UTC, `YYYYMMDDTHHMMSSZ`; a second run in the same second gets a `-2` suffix.
//! `results.json` is written with write-temp + fsync + rename, so a reader never sees half.

pub mod results;

pub use results::Results;

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `history.jsonl`: every op and nemesis event, in order.
pub const HISTORY: &str = "history.jsonl";
/// `results.json`: the verdict, the checks and the figures ([`Results`]).
pub const RESULTS: &str = "results.json";
/// `report.html`: the self-contained report page.
pub const REPORT: &str = "report.html";
/// `leaders.jsonl`: the leader sightings of the run, timed by its clock.
pub const LEADERS: &str = "leaders.jsonl";
/// `faultline.log`: the harness's own log.
pub const LOG: &str = "faultline.log";
/// `nodes/`: each node's log and data directory.
pub const NODES: &str = "nodes";

/// `nodes/<id>.log`, relative to the run directory (also the name leader events cite).
pub fn node_log_name(id: &str) -> String {
    format!("{NODES}/{}", node_log_file(id))
}

/// `<id>.log`, a node's log inside `nodes/`.
pub fn node_log_file(id: &str) -> String {
    format!("{id}.log")
}

/// The node whose log inside `nodes/` is named `file`, if it is a node's log.
pub fn node_of_log_file(file: &str) -> Option<&str> {
    file.strip_suffix(".log")
}

/// The files of a run directory a viewer links to, in this order (node logs follow).
pub const LINKED: [&str; 4] = [REPORT, HISTORY, RESULTS, LOG];

/// The paths of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run's directory.
    pub dir: PathBuf,
}

impl RunDir {
    /// Creates `store/<system>-<nemesis>/<timestamp>/` and its `nodes/` directory, and points
    /// `store/latest` at it.
    pub fn create(store: &Path, system: &str, nemesis: &str) -> Result<RunDir> {
        let parent = store.join(format!("{system}-{nemesis}"));
        fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut dir = parent.join(&stamp);
        let mut n = 2;
        while dir.exists() {
            dir = parent.join(format!("{stamp}-{n}"));
            n += 1;
        }
        fs::create_dir_all(dir.join(NODES)).with_context(|| format!("create {}", dir.display()))?;
        let run = RunDir { dir };
        run.point_latest(store)?;
        Ok(run)
    }

    /// Wraps an existing run directory (for `faultline report`).
    pub fn open(dir: &Path) -> RunDir {
        RunDir {
            dir: dir.to_path_buf(),
        }
    }

    fn point_latest(&self, store: &Path) -> Result<()> {
        let latest = store.join("latest");
        let target = self
            .dir
            .strip_prefix(store)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| self.dir.clone());
        let tmp = store.join(format!(".latest-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)
            .with_context(|| format!("symlink {}", tmp.display()))?;
        fs::rename(&tmp, &latest).with_context(|| format!("update {}", latest.display()))?;
        Ok(())
    }

    /// `history.jsonl`.
    pub fn history(&self) -> PathBuf {
        self.dir.join(HISTORY)
    }

    /// `results.json`.
    pub fn results(&self) -> PathBuf {
        self.dir.join(RESULTS)
    }

    /// `faultline.log`.
    pub fn log(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// `report.html`.
    pub fn report(&self) -> PathBuf {
        self.dir.join(REPORT)
    }

    /// `leaders.jsonl`.
    pub fn leaders(&self) -> PathBuf {
        self.dir.join(LEADERS)
    }

    /// `nodes/`.
    pub fn nodes(&self) -> PathBuf {
        self.dir.join(NODES)
    }

    /// `nodes/<id>.log`.
    pub fn node_log(&self, id: &str) -> PathBuf {
        self.dir.join(NODES).join(node_log_file(id))
    }

    /// `nodes/<id>/`, the node's data directory.
    pub fn node_data(&self, id: &str) -> PathBuf {
        self.dir.join(NODES).join(id)
    }

    /// Writes `results.json` atomically (temp + fsync + rename).
    pub fn write_results(&self, results: &Results) -> Result<()> {
        let json = results.to_json().context("encode results.json")?;
        write_atomic(&self.results(), &serde_json::to_vec_pretty(&json)?)
    }
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_layout_and_latest() {
        let store = tempfile::tempdir().unwrap();
        let a = RunDir::create(store.path(), "sys", "partition").unwrap();
        let b = RunDir::create(store.path(), "sys", "partition").unwrap();
        assert_ne!(a.dir, b.dir);
        assert!(b.nodes().is_dir());
        let latest = fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, fs::canonicalize(&b.dir).unwrap());
        let results = Results {
            valid: Some(checker::Verdict::Valid),
            ..Results::default()
        };
        b.write_results(&results).unwrap();
        let text = fs::read_to_string(b.results()).unwrap();
        assert!(text.contains("\"valid\": true"));
    }
}
