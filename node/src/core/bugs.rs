//! Planted bugs: classic Raft mistakes that `raft-node --bug NAME` switches on, so that
//! faultline's power to find bugs can be measured against a system known to be broken.
//!
//! [`Bug`] is the one list of them: the CLI parses `--bug` with it (`clap::ValueEnum`), the
//! core and the storage ask [`Bugs::has`], and `raft-node --list-bugs` prints its names. Every
//! place in the code where a bug changes behaviour carries one marker comment of the form
//! `// planted bug: NAME` (a unit test checks that every bug has a marker and every marker
//! names a bug). The bugs, by their CLI names:
//!
//! - `stale-read`: the leader answers reads from its local state without confirming that it
//!   still leads (no ReadIndex round), so a deposed leader serves stale values.
//! - `follower-read`: any node answers reads from its local state.
//! - `no-fsync`: the storage acknowledges persistence without fsync, and log records stay in
//!   a user-space buffer, so a crash (even SIGKILL) takes back acknowledged votes and appends.
//! - `vote-twice`: `votedFor` is left out of what is persisted, so a node that restarts in
//!   the same term may grant a second vote: two leaders in one term become possible.
//! - `commit-old-term`: the leader commits entries of earlier terms by counting replicas
//!   (Figure 8), and appends no no-op at the start of its term, as a 6.824 lab Raft does.
//! - `no-dedup`: the `client`/`seq` table is ignored, so a retried write may apply twice.
//! - `lost-truncate`: a follower keeps its conflicting entries instead of truncating them.
//!
//! Which test catches which bug is listed in the crate's README.

/// One planted bug. The variant's CLI name (`--bug NAME`) is its kebab-case name; the
/// declaration order is the order of `raft-node --list-bugs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Bug {
    /// The leader answers reads from local state without confirming it still leads.
    StaleRead,
    /// Any node answers reads from its local state.
    FollowerRead,
    /// Storage acknowledges persistence without fsync (records stay in a user-space buffer).
    NoFsync,
    /// `votedFor` is not persisted: after a restart a node may vote twice in one term.
    VoteTwice,
    /// The leader commits entries of earlier terms by counting replicas (Figure 8).
    CommitOldTerm,
    /// The `client`/`seq` table is ignored: a retried write may apply twice.
    NoDedup,
    /// A follower keeps its conflicting entries instead of truncating them.
    LostTruncate,
}

impl Bug {
    /// Every bug, in declaration order.
    pub fn all() -> &'static [Bug] {
        <Bug as clap::ValueEnum>::value_variants()
    }

    /// The bug's CLI name, e.g. `stale-read`.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .expect("no bug is hidden from the CLI")
            .get_name()
            .to_string()
    }

    /// The bug called `name` (its CLI name).
    pub fn from_name(name: &str) -> Result<Bug, String> {
        <Bug as clap::ValueEnum>::from_str(name, false).map_err(|_| {
            let names: Vec<String> = Bug::all().iter().map(|b| b.name()).collect();
            format!("unknown bug {name:?}; expected one of {}", names.join(", "))
        })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of planted bugs, all off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Bugs(u8);

impl Bugs {
    /// The set holding only `bug`.
    pub fn one(bug: Bug) -> Bugs {
        Bugs(bug.bit())
    }

    /// The bugs with only the one called `name` on.
    pub fn from_name(name: &str) -> Result<Bugs, String> {
        Bug::from_name(name).map(Bugs::one)
    }

    /// The set of `bugs`.
    pub fn of(bugs: &[Bug]) -> Bugs {
        let mut set = Bugs::default();
        for b in bugs {
            set.enable(*b);
        }
        set
    }

    /// Turns `bug` on.
    pub fn enable(&mut self, bug: Bug) {
        self.0 |= bug.bit();
    }

    /// Is `bug` on?
    pub fn has(self, bug: Bug) -> bool {
        self.0 & bug.bit() != 0
    }

    /// Does a bug on break the log's safety (election safety, log matching, leader
    /// completeness)? The core's own assertions of those invariants are then off, so that
    /// the bug shows as wrong answers, as it would in the wild, and not as a panic.
    pub fn breaks_log_safety(self) -> bool {
        [
            Bug::VoteTwice,
            Bug::CommitOldTerm,
            Bug::LostTruncate,
            Bug::NoFsync,
        ]
        .into_iter()
        .any(|b| self.has(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The names the module docs list, in order (lines `//! - `NAME`: ...`).
    fn documented() -> Vec<String> {
        include_str!("bugs.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! - `"))
            .filter_map(|l| l.split_once("`: ").map(|(name, _)| name.to_string()))
            .collect()
    }

    #[test]
    fn the_module_docs_list_every_bug_and_no_other() {
        let names: Vec<String> = Bug::all().iter().map(|b| b.name()).collect();
        assert_eq!(documented(), names);
    }

    #[test]
    fn the_cli_names_are_the_published_ones() {
        // faultline's scorecard keeps its own copy of these names: they must not change.
        let names: Vec<String> = Bug::all().iter().map(|b| b.name()).collect();
        let published = [
            "stale-read",
            "follower-read",
            "no-fsync",
            "vote-twice",
            "commit-old-term",
            "no-dedup",
            "lost-truncate",
        ];
        assert_eq!(names, published);
        for b in Bug::all() {
            assert_eq!(Bug::from_name(&b.name()), Ok(*b));
        }
        assert!(Bug::from_name("nope")
            .unwrap_err()
            .contains("lost-truncate"));
    }

    #[test]
    fn a_set_holds_what_was_enabled() {
        let set = Bugs::of(&[Bug::NoFsync, Bug::StaleRead]);
        for b in Bug::all() {
            assert_eq!(set.has(*b), matches!(b, Bug::NoFsync | Bug::StaleRead));
        }
        assert!(set.breaks_log_safety() && !Bugs::one(Bug::StaleRead).breaks_log_safety());
    }

    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).expect("the crate's sources are readable") {
            let path = e.expect("a directory entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                out.push((path.display().to_string(), text));
            }
        }
    }

    /// Every line of `src/` that mentions the marker must be exactly a marker naming a real
    /// bug, and every bug must have one. The whole tree is read (not a list of files), so a
    /// marker in a new file is checked too; this file, which defines the form, is skipped.
    #[test]
    fn every_bug_has_a_marker_and_every_marker_names_a_bug() {
        let marker = concat!("// planted", " bug: ");
        let mut files = Vec::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 5, "the crate's sources were found");
        let mut marked = std::collections::BTreeSet::new();
        for (path, text) in files.iter().filter(|(p, _)| !p.ends_with("bugs.rs")) {
            for (n, line) in text.lines().enumerate() {
                if !line.contains(concat!("planted", " bug:")) {
                    continue;
                }
                let name = line.trim().strip_prefix(marker);
                let bug = name.map(|name| Bug::from_name(name.trim_end()));
                match bug {
                    Some(Ok(b)) => {
                        marked.insert(b);
                    }
                    _ => panic!("{path}:{}: not a marker of a known bug: {line}", n + 1),
                }
            }
        }
        for b in Bug::all() {
            assert!(marked.contains(b), "no `{marker}{}` in src/", b.name());
        }
    }
}
