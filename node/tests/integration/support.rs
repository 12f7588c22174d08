//! What the simulator and the stateright model share: the disk they model (exactly what a
//! node finds after a crash) and small constructors of client commands.

use node::core::{Action, Command, DurableState, Entry, HardState, Snapshot};

/// What a node's disk holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    pub hard: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
}

impl Disk {
    pub fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map(|e| e.index)
            .or(self.snapshot.as_ref().map(|s| s.last_index))
            .unwrap_or(0)
    }

    /// What a node restarting from this disk is given.
    pub fn durable_state(&self) -> DurableState {
        DurableState {
            hard_state: self.hard.clone(),
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }

    /// Writes one persist action; returns the hard state's version for a
    /// `PersistHardState`, 0 for the others, and `None` for an action that is not a persist.
    pub fn apply(&mut self, action: &Action) -> Option<u64> {
        match action {
            Action::PersistHardState {
                hard_state,
                version,
            } => {
                self.hard = hard_state.clone();
                Some(*version)
            }
            Action::PersistEntries {
                truncate_from,
                entries,
            } => {
                if let Some(from) = truncate_from {
                    self.entries.retain(|e| e.index < *from);
                }
                for e in entries {
                    assert_eq!(
                        e.index,
                        self.last_index() + 1,
                        "persisted entries are dense"
                    );
                    self.entries.push(e.clone());
                }
                Some(0)
            }
            Action::PersistSnapshot { snapshot } => {
                self.entries.retain(|e| e.index > snapshot.last_index);
                self.snapshot = Some(snapshot.clone());
                Some(0)
            }
            Action::Send { .. } | Action::Reply { .. } | Action::Event(_) => None,
        }
    }
}

/// Is `action` a `Persist*`?
pub fn is_persist(action: &Action) -> bool {
    matches!(
        action,
        Action::PersistHardState { .. }
            | Action::PersistEntries { .. }
            | Action::PersistSnapshot { .. }
    )
}

/// A write; `seq` 0 means "no deduplication" (empty client id).
pub fn write(key: &str, value: i64, seq: u64) -> Command {
    let client = if seq == 0 {
        String::new()
    } else {
        "t".to_string()
    };
    Command::Write {
        key: key.into(),
        value,
        client,
        seq,
    }
}

pub fn read(key: &str) -> Command {
    Command::Read { key: key.into() }
}
