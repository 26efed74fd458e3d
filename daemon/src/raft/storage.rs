//! The narrow window through which the core reads the persisted log.
//!
//! The core only ever *reads* from [`Storage`]. Writing is the application's
//! job, done while handling a `Ready` (see the module docs of `raft`): it
//! appends the Ready's entries, records its hard state and installs its
//! snapshot, then calls `advance`. The server implements this trait over its
//! WAL and snapshot files; [`MemStorage`] is the in-memory twin used by unit
//! tests, the simulator and benchmarks.
//!
//! Contract, for every implementation:
//! - The log is contiguous: `first_index()..=last_index()` are all present.
//! - Everything at or before `first_index() - 1` was compacted into the
//!   latest snapshot; `term(first_index() - 1)` still answers (the snapshot's
//!   term), earlier indexes answer [`StorageError::Compacted`].
//! - Indexes after `last_index()` answer [`StorageError::Unavailable`].
//! - A storage failure that is not one of these is fatal: implementations
//!   panic rather than invent an answer, because Raft cannot proceed safely
//!   on a log it cannot read.

use super::types::{ConfState, Entry, HardState, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("requested index is unavailable due to compaction")]
    Compacted,
    #[error("requested entry at index is unavailable")]
    Unavailable,
    #[error("snapshot is temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
    #[error("snapshot is older than the one already installed")]
    SnapshotOutOfDate,
}

/// What the core reads from stable storage. See the module docs for the
/// contract.
pub trait Storage {
    /// The hard state and membership saved before the last restart.
    fn initial_state(&self) -> (HardState, ConfState);
    /// Entries in `[lo, hi)`, at least one if any exist, and no more than
    /// `max_size` bytes beyond the first.
    fn entries(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError>;
    /// The term of the entry at `index`.
    fn term(&self, index: u64) -> Result<u64, StorageError>;
    /// Index of the first entry still in the log (the snapshot index + 1).
    fn first_index(&self) -> u64;
    /// Index of the last entry in the log (the snapshot index when empty).
    fn last_index(&self) -> u64;
    /// The most recent snapshot.
    fn snapshot(&self) -> Result<Snapshot, StorageError>;
}

/// Keeps only entries whose cumulative size stays within `max_size`, always
/// keeping the first so progress is never blocked by one large entry.
pub fn limit_size(entries: &mut Vec<Entry>, max_size: u64) {
    if entries.len() <= 1 {
        return;
    }
    let mut size = 0;
    let keep = entries
        .iter()
        .take_while(|e| {
            size += e.size();
            size <= max_size
        })
        .count()
        .max(1);
    entries.truncate(keep);
}

/// An in-memory log: a snapshot followed by the entries after it.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    hard_state: HardState,
    snapshot: Snapshot,
    /// Entries after the snapshot: `entries[0].index == snapshot index + 1`.
    entries: Vec<Entry>,
}

impl MemStorage {
    /// A fresh log for a new cluster whose initial voters are `voters`.
    pub fn new_with_conf(voters: &[u64]) -> MemStorage {
        let mut s = MemStorage::default();
        s.snapshot.metadata.conf_state.voters = voters.to_vec();
        s
    }

    /// The log of a brand-new cluster: one committed AddNode entry per
    /// initial voter, at term 1, as etcd does. Members that join later and
    /// replay the log from its start learn the initial membership from these
    /// entries.
    pub fn bootstrap(voters: &[u64]) -> MemStorage {
        let mut s = MemStorage::new_with_conf(voters);
        let (entries, hs) = super::types::bootstrap_entries(voters);
        s.append(&entries);
        s.hard_state = hs;
        s
    }

    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    fn snap_index(&self) -> u64 {
        self.snapshot.metadata.index
    }

    /// Appends entries, truncating any conflicting suffix first. Entries
    /// already compacted away are ignored.
    ///
    /// # Panics
    /// If the entries would leave a gap after the current last index.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let first_keep = self.first_index();
        if first.index + entries.len() as u64 <= first_keep {
            return;
        }
        let entries = if first.index < first_keep {
            &entries[(first_keep - first.index) as usize..]
        } else {
            entries
        };
        let start = entries[0].index;
        assert!(
            start <= self.last_index() + 1,
            "append leaves a gap: last index {}, appending from {}",
            self.last_index(),
            start
        );
        self.entries.truncate((start - first_keep) as usize);
        self.entries.extend_from_slice(entries);
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        if snapshot.metadata.index <= self.snap_index() {
            return Err(StorageError::SnapshotOutOfDate);
        }
        let index = snapshot.metadata.index;
        let term = snapshot.metadata.term;
        // Keep entries that agree with the snapshot's last entry, as etcd's
        // storage does not; dropping them is always safe, so drop them.
        self.entries.clear();
        self.snapshot = snapshot;
        self.hard_state.commit = self.hard_state.commit.max(index);
        if self.hard_state.term < term {
            self.hard_state.term = term;
        }
        Ok(())
    }

    /// Takes a snapshot at `index` (which must be applied by the caller) and
    /// records it; entries are not discarded until [`MemStorage::compact`].
    pub fn create_snapshot(
        &mut self,
        index: u64,
        conf_state: ConfState,
        data: bytes::Bytes,
    ) -> Result<Snapshot, StorageError> {
        if index <= self.snap_index() {
            return Err(StorageError::SnapshotOutOfDate);
        }
        assert!(
            index <= self.last_index(),
            "snapshot index {index} past last index {}",
            self.last_index()
        );
        let term = self.term(index)?;
        // Entries up to `index` stay until compact(); only the image moves.
        let mut kept = std::mem::take(&mut self.entries);
        let base = self.first_index();
        self.snapshot = Snapshot {
            data,
            metadata: super::types::SnapshotMetadata {
                conf_state,
                index,
                term,
            },
        };
        // The entries vector is anchored at the snapshot index: drop the ones
        // the new snapshot covers.
        let drop = (index + 1 - base) as usize;
        kept.drain(..drop.min(kept.len()));
        self.entries = kept;
        Ok(self.snapshot.clone())
    }

    /// Discards entries before `compact_index`, which must be covered by the
    /// snapshot. In this twin the snapshot already anchors the log, so this
    /// only checks the precondition.
    pub fn compact(&mut self, compact_index: u64) -> Result<(), StorageError> {
        if compact_index <= self.snap_index() {
            return Err(StorageError::Compacted);
        }
        Ok(())
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> (HardState, ConfState) {
        (self.hard_state, self.snapshot.metadata.conf_state.clone())
    }

    fn entries(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if lo <= self.snap_index() {
            return Err(StorageError::Compacted);
        }
        if hi > self.last_index() + 1 {
            return Err(StorageError::Unavailable);
        }
        let base = self.first_index();
        let mut out = self.entries[(lo - base) as usize..(hi - base) as usize].to_vec();
        limit_size(&mut out, max_size);
        Ok(out)
    }

    fn term(&self, index: u64) -> Result<u64, StorageError> {
        let snap = self.snap_index();
        if index == snap {
            return Ok(self.snapshot.metadata.term);
        }
        if index < snap {
            return Err(StorageError::Compacted);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable);
        }
        Ok(self.entries[(index - snap - 1) as usize].term)
    }

    fn first_index(&self) -> u64 {
        self.snap_index() + 1
    }

    fn last_index(&self) -> u64 {
        self.snap_index() + self.entries.len() as u64
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ent(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn append_truncates_conflicting_suffix() {
        let mut s = MemStorage::new_with_conf(&[1]);
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 1)]);
        s.append(&[ent(2, 2)]);
        assert_eq!(s.last_index(), 2);
        assert_eq!(s.term(2), Ok(2));
    }

    #[test]
    fn snapshot_moves_first_index_and_keeps_later_entries() {
        let mut s = MemStorage::new_with_conf(&[1]);
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 2)]);
        s.create_snapshot(2, ConfState::default(), Bytes::from_static(b"img"))
            .unwrap();
        assert_eq!(s.first_index(), 3);
        assert_eq!(s.term(2), Ok(1));
        assert_eq!(s.term(1), Err(StorageError::Compacted));
        assert_eq!(s.entries(3, 4, u64::MAX).unwrap(), vec![ent(3, 2)]);
        assert_eq!(s.entries(2, 4, u64::MAX), Err(StorageError::Compacted));
        assert_eq!(s.entries(3, 5, u64::MAX), Err(StorageError::Unavailable));
    }

    #[test]
    fn size_limit_keeps_at_least_one_entry() {
        let mut v = vec![ent(1, 1), ent(2, 1)];
        limit_size(&mut v, 0);
        assert_eq!(v.len(), 1);
    }
}
