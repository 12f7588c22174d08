//! Crash detection: a node process that ended although the nemesis did not kill it is a
//! finding, like a linearizability violation (the system under test panicked or aborted).
//! The `nemesis` crate reports which processes ended by themselves; this module says how, with
//! the telling line of the node's log.

use crate::store::RunDir;
use nemesis::ProcState;

/// A node process that ended by itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeCrash {
    /// The node.
    pub node: String,
    /// Its process.
    pub pid: u32,
    /// How it ended: "exit status 101", "killed by a signal", "a zombie".
    pub how: String,
    /// The last line of its log that says why (a panic or an error), if any.
    pub log_line: Option<String>,
}

impl NodeCrash {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "node {} (pid {}) ended by itself ({})",
            self.node, self.pid, self.how
        );
        if let Some(l) = &self.log_line {
            s.push_str(&format!(": {l}"));
        }
        s
    }
}

/// The crash reports of `crashes`, with the telling line of each node's log.
pub fn describe_crashes(run_dir: &RunDir, crashes: Vec<nemesis::Crash>) -> Vec<NodeCrash> {
    crashes
        .into_iter()
        .map(|c| {
            let how = match c.state {
                ProcState::Exited(Some(code)) => format!("exit status {code}"),
                ProcState::Exited(None) => "killed by a signal".to_string(),
                _ => "exited, not reaped".to_string(),
            };
            let log = std::fs::read_to_string(run_dir.node_log(&c.node)).unwrap_or_default();
            NodeCrash {
                node: c.node,
                pid: c.pid,
                how,
                log_line: telling_line(&log),
            }
        })
        .collect()
}

/// The telling line (see [`telling_line`]) of the log file `path`, if it says why.
pub fn telling_line_of(path: &std::path::Path) -> Option<String> {
    telling_line(&std::fs::read_to_string(path).ok()?)
}

/// The line of a node's log that says why it ended: Rust prints "thread '..' panicked at
/// FILE:LINE:COL:" and the message on the next line; other programs end with an error or fatal
/// line. At most 300 characters.
fn telling_line(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    match lines.iter().rposition(|l| l.contains("panicked at")) {
        Some(i) => Some(
            lines[i..(i + 2).min(lines.len())]
                .iter()
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => lines
            .iter()
            .rev()
            .find(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("fatal") || l.contains("error")
            })
            .map(|l| l.trim().to_string()),
    }
    .map(|l| l.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_telling_line_is_the_panic_with_its_message_or_the_last_error() {
        let log = "start\nthread 'main' panicked at src/x.rs:1:2:\n  boom\nafter\n";
        assert_eq!(
            telling_line(log).as_deref(),
            Some("thread 'main' panicked at src/x.rs:1:2: boom")
        );
        assert_eq!(
            telling_line("a\nERROR: disk full\nb\n").as_deref(),
            Some("ERROR: disk full")
        );
        assert_eq!(telling_line("all fine\n"), None);
    }
}
