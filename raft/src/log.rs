//! The Raft log as one node sees it: what storage holds durably, followed by
//! the *unstable* tail that has been accepted but not yet handed back as
//! persisted (via `advance`).
//!
//! Invariants:
//! - `applied <= committed`, and `committed` never decreases.
//! - Committed entries are handed out for applying only once they are
//!   persisted locally (`<= persisted`), so a node never applies something a
//!   crash could take back from its own disk.
//! - The unstable tail starts right after storage's last index, or replaces
//!   a suffix of it (a conflict truncates storage when persisted).

use super::storage::{Storage, StorageError, limit_size};
use super::types::{Entry, Snapshot};

/// Entries and possibly a snapshot not yet persisted by the application.
#[derive(Debug, Default)]
struct Unstable {
    snapshot: Option<Snapshot>,
    /// `entries[i].index == offset + i`.
    entries: Vec<Entry>,
    offset: u64,
}

impl Unstable {
    fn maybe_first_index(&self) -> Option<u64> {
        self.snapshot.as_ref().map(|s| s.metadata.index + 1)
    }

    fn maybe_last_index(&self) -> Option<u64> {
        if let Some(last) = self.entries.last() {
            return Some(last.index);
        }
        self.snapshot.as_ref().map(|s| s.metadata.index)
    }

    fn maybe_term(&self, index: u64) -> Option<u64> {
        if index < self.offset {
            let snap = self.snapshot.as_ref()?;
            return (snap.metadata.index == index).then_some(snap.metadata.term);
        }
        let last = self.maybe_last_index()?;
        if index > last {
            return None;
        }
        Some(self.entries[(index - self.offset) as usize].term)
    }

    fn truncate_and_append(&mut self, ents: &[Entry]) {
        let after = ents[0].index;
        if after == self.offset + self.entries.len() as u64 {
            self.entries.extend_from_slice(ents);
        } else if after <= self.offset {
            // Replaces the whole unstable tail (and some of storage).
            self.offset = after;
            self.entries = ents.to_vec();
        } else {
            self.entries.truncate((after - self.offset) as usize);
            self.entries.extend_from_slice(ents);
        }
    }
}

#[derive(Debug)]
pub struct RaftLog<S: Storage> {
    pub store: S,
    unstable: Unstable,
    /// Highest index known to be stored on a quorum.
    pub committed: u64,
    /// Highest index the application has applied (as told by `advance`).
    pub applied: u64,
    /// Highest index handed to the application for applying but not yet
    /// acknowledged by `advance`.
    pub applying: u64,
    /// Highest index known to be durable in local storage.
    pub persisted: u64,
}

impl<S: Storage> RaftLog<S> {
    pub fn new(store: S) -> RaftLog<S> {
        let first = store.first_index();
        let last = store.last_index();
        RaftLog {
            store,
            unstable: Unstable {
                offset: last + 1,
                ..Unstable::default()
            },
            committed: first - 1,
            applied: first - 1,
            applying: first - 1,
            persisted: last,
        }
    }

    pub fn first_index(&self) -> u64 {
        self.unstable
            .maybe_first_index()
            .unwrap_or_else(|| self.store.first_index())
    }

    pub fn last_index(&self) -> u64 {
        self.unstable
            .maybe_last_index()
            .unwrap_or_else(|| self.store.last_index())
    }

    pub fn last_term(&self) -> u64 {
        self.term(self.last_index())
            .expect("the last entry's term is always known")
    }

    /// The term at `index`, or an error if compacted or beyond the log.
    pub fn term(&self, index: u64) -> Result<u64, StorageError> {
        // The valid range is [snapshot index, last index].
        let dummy = self.first_index() - 1;
        if index < dummy {
            return Err(StorageError::Compacted);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable);
        }
        if let Some(t) = self.unstable.maybe_term(index) {
            return Ok(t);
        }
        self.store.term(index)
    }

    /// Term at `index`, or 0 when it is not in the log.
    pub fn term_or_zero(&self, index: u64) -> u64 {
        self.term(index).unwrap_or(0)
    }

    pub fn match_term(&self, index: u64, term: u64) -> bool {
        self.term(index).is_ok_and(|t| t == term)
    }

    /// Raft's "at least as up-to-date" check (§5.4.1).
    pub fn is_up_to_date(&self, last_index: u64, term: u64) -> bool {
        term > self.last_term() || (term == self.last_term() && last_index >= self.last_index())
    }

    /// Appends a leader's entries that follow `(index, log_term)`, if that
    /// point matches. Returns the new last index, or `None` on mismatch.
    ///
    /// # Panics
    /// If a conflict would rewrite a committed entry: that would mean the
    /// log matching property is broken, and continuing would corrupt data.
    pub fn maybe_append(
        &mut self,
        index: u64,
        log_term: u64,
        committed: u64,
        ents: &[Entry],
    ) -> Option<u64> {
        if !self.match_term(index, log_term) {
            return None;
        }
        let last_new = index + ents.len() as u64;
        let conflict = self.find_conflict(ents);
        if conflict != 0 {
            assert!(
                conflict > self.committed,
                "entry {conflict} conflicts with committed entry (committed {})",
                self.committed
            );
            let start = (conflict - (index + 1)) as usize;
            self.append(&ents[start..]);
        }
        self.commit_to(committed.min(last_new));
        Some(last_new)
    }

    /// Index of the first entry in `ents` that is new or disagrees with the
    /// log; 0 when all are already present.
    fn find_conflict(&self, ents: &[Entry]) -> u64 {
        ents.iter()
            .find(|e| !self.match_term(e.index, e.term))
            .map_or(0, |e| e.index)
    }

    /// Appends entries after (or over a suffix of) the log. Returns the new
    /// last index.
    pub fn append(&mut self, ents: &[Entry]) -> u64 {
        let Some(first) = ents.first() else {
            return self.last_index();
        };
        assert!(
            first.index > self.committed,
            "appending at {} would overwrite committed {}",
            first.index,
            self.committed
        );
        // Whatever is replaced is no longer durable.
        self.persisted = self.persisted.min(first.index - 1);
        self.unstable.truncate_and_append(ents);
        self.last_index()
    }

    pub fn commit_to(&mut self, to: u64) {
        if self.committed < to {
            assert!(
                to <= self.last_index(),
                "commit index {to} out of range (last index {})",
                self.last_index()
            );
            self.committed = to;
        }
    }

    /// Entries in `[lo, hi)` across storage and the unstable tail.
    pub fn slice(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if lo >= hi {
            return Ok(Vec::new());
        }
        if lo < self.first_index() {
            return Err(StorageError::Compacted);
        }
        assert!(
            hi <= self.last_index() + 1,
            "slice [{lo}, {hi}) out of bound (last index {})",
            self.last_index()
        );
        let mut out = Vec::new();
        let offset = self.unstable.offset;
        if lo < offset {
            let stored = self.store.entries(lo, hi.min(offset), max_size)?;
            let complete = stored.len() as u64 == hi.min(offset) - lo;
            out = stored;
            if !complete {
                return Ok(out);
            }
        }
        if hi > offset {
            let from = lo.max(offset);
            out.extend_from_slice(
                &self.unstable.entries[(from - offset) as usize..(hi - offset) as usize],
            );
        }
        limit_size(&mut out, max_size);
        Ok(out)
    }

    /// Entries from `index` on, within `max_size`.
    pub fn entries_from(&self, index: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if index > self.last_index() {
            return Ok(Vec::new());
        }
        self.slice(index, self.last_index() + 1, max_size)
    }

    /// Entries not yet handed to the application to persist.
    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    pub fn unstable_snapshot(&self) -> Option<&Snapshot> {
        self.unstable.snapshot.as_ref()
    }

    /// Committed, durable entries not yet handed out for applying.
    pub fn next_committed_entries(&self, max_size: u64) -> Vec<Entry> {
        let hi = self.committed.min(self.persisted);
        if self.applying >= hi {
            return Vec::new();
        }
        let lo = self.applying.max(self.first_index() - 1) + 1;
        self.slice(lo, hi + 1, max_size)
            .expect("committed, persisted entries after applied are never compacted")
    }

    pub fn has_next_committed_entries(&self) -> bool {
        self.applying < self.committed.min(self.persisted)
    }

    /// The snapshot to persist, or else the one in storage.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        match &self.unstable.snapshot {
            Some(s) => Ok(s.clone()),
            None => self.store.snapshot(),
        }
    }

    /// The application persisted the unstable tail up to `(index, term)`.
    pub fn stable_to(&mut self, index: u64, term: u64) {
        // Only forget entries that were not replaced in the meantime.
        if self.unstable.maybe_term(index) == Some(term) && index >= self.unstable.offset {
            let n = (index + 1 - self.unstable.offset) as usize;
            self.unstable.entries.drain(..n);
            self.unstable.offset = index + 1;
            self.persisted = self.persisted.max(index);
        }
    }

    /// The application persisted the unstable snapshot at `index`.
    pub fn stable_snap_to(&mut self, index: u64) {
        if self
            .unstable
            .snapshot
            .as_ref()
            .is_some_and(|s| s.metadata.index == index)
        {
            self.unstable.snapshot = None;
            self.persisted = self.persisted.max(index);
        }
    }

    pub fn applied_to(&mut self, index: u64) {
        if index == 0 {
            return;
        }
        assert!(
            index <= self.committed && index >= self.applied,
            "applied index {index} out of range [{}, {}]",
            self.applied,
            self.committed
        );
        self.applied = index;
        self.applying = self.applying.max(index);
    }

    /// Replaces the log with a snapshot received from the leader.
    pub fn restore(&mut self, snapshot: Snapshot) {
        let index = snapshot.metadata.index;
        self.committed = index;
        self.unstable.offset = index + 1;
        self.unstable.entries.clear();
        self.unstable.snapshot = Some(snapshot);
        // The snapshot itself is not durable until persisted.
        self.persisted = self.persisted.min(index);
        // Entries up to the snapshot are never handed out individually: the
        // application applies the image instead. It counts as applied only
        // once the Ready carrying it is advanced (see `RawNode::advance`),
        // because an earlier Ready's entries may still be in flight.
        self.applying = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    fn ent(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    fn log_with(terms: &[u64]) -> RaftLog<MemStorage> {
        let mut s = MemStorage::new_with_conf(&[1]);
        let ents: Vec<_> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| ent(i as u64 + 1, *t))
            .collect();
        s.append(&ents);
        RaftLog::new(s)
    }

    #[test]
    fn conflicting_suffix_is_replaced() {
        let mut log = log_with(&[1, 1, 2]);
        let last = log.maybe_append(1, 1, 0, &[ent(2, 1), ent(3, 3), ent(4, 3)]);
        assert_eq!(last, Some(4));
        assert_eq!(log.term(3), Ok(3));
        assert_eq!(log.persisted, 2, "the replaced entry is no longer durable");
    }

    #[test]
    fn mismatched_prev_entry_is_rejected() {
        let mut log = log_with(&[1, 1]);
        assert_eq!(log.maybe_append(2, 2, 0, &[ent(3, 2)]), None);
    }

    #[test]
    fn committed_entries_wait_for_persistence() {
        let mut log = log_with(&[1]);
        log.append(&[ent(2, 1)]);
        log.commit_to(2);
        assert_eq!(log.next_committed_entries(u64::MAX), vec![ent(1, 1)]);
        // The application persists the tail, then reports it.
        log.store.append(&[ent(2, 1)]);
        log.stable_to(2, 1);
        assert_eq!(log.next_committed_entries(u64::MAX).len(), 2);
    }

    #[test]
    #[should_panic(expected = "conflicts with committed entry")]
    fn rewriting_a_committed_entry_panics() {
        let mut log = log_with(&[1, 1]);
        log.commit_to(2);
        log.maybe_append(1, 1, 2, &[ent(2, 2)]);
    }
}
