//! The replicated state machine: keys to integers, with at-most-once client commands.
//!
//! Each write and cas carries `client`/`seq`; the table keeps, per client, the last sequence
//! number applied and its reply. A command whose `seq` is not above the client's last one is a
//! retry: it is not applied again and gets the remembered reply (the at-most-once semantics a
//! remote bank account needs). The table is part of the snapshot, so it survives compaction and
//! restarts. Planted bug `no-dedup` ignores the table.
//!
//! The table remembers each outcome as an [`Outcome`], not as a wire error code: the codes
//! belong to `crate::protocol`.

use super::{Bug, Bugs, Command, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The register and the dedup table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateMachine {
    /// The register.
    pub kv: BTreeMap<String, i64>,
    /// Per client: last seq applied and how it ended.
    pub dedup: BTreeMap<String, (u64, Outcome)>,
}

/// How an applied write or cas ended, as remembered for its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied.
    Ok,
    /// A cas on a key that does not exist.
    KeyMissing,
    /// A cas whose `from` did not match.
    PreconditionFailed,
}

impl StateMachine {
    /// Applies a write or cas (reads are answered by [`StateMachine::read`]).
    pub fn apply(&mut self, cmd: &Command, bugs: Bugs) -> Reply {
        let (client, seq) = match cmd {
            Command::Read { key } => return self.read(key),
            Command::Write { client, seq, .. } | Command::Cas { client, seq, .. } => (client, *seq),
        };
        // planted bug: no-dedup
        let dedup = !bugs.has(Bug::NoDedup);
        if dedup && !client.is_empty() {
            if let Some(&(last, outcome)) = self.dedup.get(client) {
                if seq <= last {
                    return reply_of(cmd, outcome);
                }
            }
        }
        let outcome = match cmd {
            Command::Write { key, value, .. } => {
                self.kv.insert(key.clone(), *value);
                Outcome::Ok
            }
            Command::Cas { key, from, to, .. } => match self.kv.get_mut(key) {
                None => Outcome::KeyMissing,
                Some(v) if *v != *from => Outcome::PreconditionFailed,
                Some(v) => {
                    *v = *to;
                    Outcome::Ok
                }
            },
            Command::Read { .. } => unreachable!("handled above"),
        };
        if !client.is_empty() {
            self.dedup.insert(client.clone(), (seq, outcome));
        }
        reply_of(cmd, outcome)
    }

    /// Reads a key from the applied state.
    pub fn read(&self, key: &str) -> Reply {
        match self.kv.get(key) {
            Some(v) => Reply::ReadOk(*v),
            None => Reply::KeyMissing,
        }
    }
}

fn reply_of(cmd: &Command, outcome: Outcome) -> Reply {
    match (cmd, outcome) {
        (Command::Cas { .. }, Outcome::Ok) => Reply::CasOk,
        (_, Outcome::Ok) => Reply::WriteOk,
        (_, Outcome::KeyMissing) => Reply::KeyMissing,
        (Command::Cas { from, .. }, Outcome::PreconditionFailed) => {
            Reply::PreconditionFailed { expected: *from }
        }
        (_, Outcome::PreconditionFailed) => unreachable!("only a cas fails its precondition"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(value: i64, seq: u64) -> Command {
        Command::Write {
            key: "k".into(),
            value,
            client: "c".into(),
            seq,
        }
    }

    #[test]
    fn dedups_retries_unless_the_bug_is_on() {
        let mut sm = StateMachine::default();
        assert_eq!(sm.apply(&write(1, 1), Bugs::default()), Reply::WriteOk);
        assert_eq!(sm.apply(&write(2, 2), Bugs::default()), Reply::WriteOk);
        assert_eq!(sm.apply(&write(1, 1), Bugs::default()), Reply::WriteOk);
        assert_eq!(
            sm.read("k"),
            Reply::ReadOk(2),
            "a retry must not apply again"
        );
        sm.apply(&write(1, 1), Bugs::one(Bug::NoDedup));
        assert_eq!(sm.read("k"), Reply::ReadOk(1), "no-dedup applies the retry");
    }

    #[test]
    fn cas_semantics() {
        let mut sm = StateMachine::default();
        let cas = |from, to, seq| Command::Cas {
            key: "k".into(),
            from,
            to,
            client: "c".into(),
            seq,
        };
        assert!(matches!(
            sm.apply(&cas(1, 2, 1), Bugs::default()),
            Reply::KeyMissing
        ));
        sm.apply(&write(1, 2), Bugs::default());
        assert!(matches!(
            sm.apply(&cas(5, 2, 3), Bugs::default()),
            Reply::PreconditionFailed { expected: 5 }
        ));
        assert_eq!(sm.apply(&cas(1, 2, 4), Bugs::default()), Reply::CasOk);
        assert_eq!(sm.read("k"), Reply::ReadOk(2));
    }
}
