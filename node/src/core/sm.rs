//! The replicated state machine: keys to integers, with at-most-once client commands.
//!
//! Each write and cas carries `client`/`seq`; the table keeps, per client, the last sequence
//! number applied and its reply. A command whose `seq` is not above the client's last one is a
//! retry: it is not applied again and gets the remembered reply (the at-most-once semantics a
//! remote bank account needs). The table is part of the snapshot, so it survives compaction and
//! restarts. Planted bug `no-dedup` ignores the table.

use super::{Command, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Error code: the key does not exist.
pub const KEY_DOES_NOT_EXIST: u32 = 20;
/// Error code: cas precondition failed.
pub const PRECONDITION_FAILED: u32 = 22;

/// The register and the dedup table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateMachine {
    /// The register.
    pub kv: BTreeMap<String, i64>,
    /// Per client: last seq applied and its reply (as a code: 0 ok, else the error code).
    pub dedup: BTreeMap<String, (u64, u32)>,
}

impl StateMachine {
    /// Applies a write or cas (reads are answered by [`StateMachine::read`]).
    pub fn apply(&mut self, cmd: &Command, no_dedup: bool) -> Reply {
        let (client, seq) = match cmd {
            Command::Read { key } => return self.read(key),
            Command::Write { client, seq, .. } | Command::Cas { client, seq, .. } => (client, *seq),
        };
        if !no_dedup && !client.is_empty() {
            if let Some(&(last, code)) = self.dedup.get(client) {
                if seq <= last {
                    return reply_of(cmd, code);
                }
            }
        }
        let code = match cmd {
            Command::Write { key, value, .. } => {
                self.kv.insert(key.clone(), *value);
                0
            }
            Command::Cas { key, from, to, .. } => match self.kv.get_mut(key) {
                None => KEY_DOES_NOT_EXIST,
                Some(v) if *v != *from => PRECONDITION_FAILED,
                Some(v) => {
                    *v = *to;
                    0
                }
            },
            Command::Read { .. } => unreachable!("handled above"),
        };
        if !client.is_empty() {
            self.dedup.insert(client.clone(), (seq, code));
        }
        reply_of(cmd, code)
    }

    /// Reads a key from the applied state.
    pub fn read(&self, key: &str) -> Reply {
        match self.kv.get(key) {
            Some(v) => Reply::ReadOk(*v),
            None => error(KEY_DOES_NOT_EXIST, "key does not exist"),
        }
    }
}

fn error(code: u32, text: &str) -> Reply {
    Reply::Error {
        code,
        text: text.to_string(),
        leader: None,
    }
}

fn reply_of(cmd: &Command, code: u32) -> Reply {
    match (cmd, code) {
        (Command::Write { .. }, 0) => Reply::WriteOk,
        (Command::Cas { .. }, 0) => Reply::CasOk,
        (_, KEY_DOES_NOT_EXIST) => error(code, "key does not exist"),
        (Command::Cas { from, .. }, _) => error(code, &format!("expected {from}")),
        _ => error(code, "failed"),
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
        assert_eq!(sm.apply(&write(1, 1), false), Reply::WriteOk);
        assert_eq!(sm.apply(&write(2, 2), false), Reply::WriteOk);
        assert_eq!(sm.apply(&write(1, 1), false), Reply::WriteOk);
        assert_eq!(
            sm.read("k"),
            Reply::ReadOk(2),
            "a retry must not apply again"
        );
        sm.apply(&write(1, 1), true);
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
            sm.apply(&cas(1, 2, 1), false),
            Reply::Error { code: 20, .. }
        ));
        sm.apply(&write(1, 2), false);
        assert!(matches!(
            sm.apply(&cas(5, 2, 3), false),
            Reply::Error { code: 22, .. }
        ));
        assert_eq!(sm.apply(&cas(1, 2, 4), false), Reply::CasOk);
        assert_eq!(sm.read("k"), Reply::ReadOk(2));
    }
}
