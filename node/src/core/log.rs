//! The in-memory Raft log: a compacted prefix (the snapshot's index and term) and the entries
//! after it. Indexes are 1-based as in the paper; index 0 / term 0 is the empty log.

use super::Entry;

/// Entries after a snapshot point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RaftLog {
    /// Index of the last entry folded into the snapshot (0: none).
    pub snapshot_index: u64,
    /// Its term.
    pub snapshot_term: u64,
    /// Entries `snapshot_index + 1 ..`.
    pub entries: Vec<Entry>,
}

impl RaftLog {
    /// Index of the last entry (or of the snapshot point).
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// Term of the last entry (or of the snapshot point).
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// Term of the entry at `index`, if the log still knows it.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.get(index).map(|e| e.term)
    }

    /// The entry at `index`, if present (not compacted, not beyond the end).
    pub fn get(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        self.entries.get((index - self.snapshot_index - 1) as usize)
    }

    /// Entries `from ..= to` (clamped), cloned.
    pub fn slice(&self, from: u64, to: u64) -> Vec<Entry> {
        let lo = from.max(self.snapshot_index + 1);
        let hi = to.min(self.last_index());
        if lo > hi {
            return Vec::new();
        }
        let a = (lo - self.snapshot_index - 1) as usize;
        let b = (hi - self.snapshot_index) as usize;
        self.entries[a..b].to_vec()
    }

    /// Appends an entry; its index must be the next one.
    pub fn push(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "log indexes are dense");
        self.entries.push(entry);
    }

    /// Removes entries `>= index`.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(index > self.snapshot_index, "cannot truncate the snapshot");
        self.entries
            .truncate((index - self.snapshot_index - 1) as usize);
    }

    /// First index of the run of entries with `term` that contains `index` (fast backup).
    pub fn first_index_of_term(&self, index: u64, term: u64) -> u64 {
        let mut i = index;
        while i > self.snapshot_index + 1 && self.term_at(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// Last index holding `term`, if any entry does (fast backup, leader side).
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
    }

    /// Drops entries `<= index` after a snapshot at `index` with `term`.
    pub fn compact(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        let keep_from = (index - self.snapshot_index) as usize;
        if keep_from >= self.entries.len() {
            self.entries.clear();
        } else {
            self.entries.drain(..keep_from);
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Is a log ending at (`last_index`, `last_term`) at least as up-to-date as ours (§5.4.1)?
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            cmd: None,
        }
    }

    #[test]
    fn indexes_terms_slices_and_compaction() {
        let mut log = RaftLog::default();
        for (i, t) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)] {
            log.push(e(i, t));
        }
        assert_eq!((log.last_index(), log.last_term()), (5, 3));
        assert_eq!(log.first_index_of_term(4, 2), 3);
        assert_eq!(log.last_index_of_term(2), Some(4));
        assert_eq!(log.slice(2, 3).len(), 2);
        log.compact(3, 2);
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(2), None);
        assert_eq!(log.slice(1, 10).len(), 2);
        log.truncate_from(5);
        assert_eq!(log.last_index(), 4);
        assert!(log.is_up_to_date(4, 2) && !log.is_up_to_date(3, 2) && log.is_up_to_date(1, 3));
    }
}
