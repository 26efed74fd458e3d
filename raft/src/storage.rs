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

/// An in-memory log: the latest snapshot, and the entries after the last
/// compaction point. Taking a snapshot keeps the entries (a slow follower can
/// still catch up from them); `compact` discards them.
#[derive(Debug, Clone)]
pub struct MemStorage {
    hard_state: HardState,
    snapshot: Snapshot,
    /// `entries[0]` is a placeholder at the compaction point, carrying the
    /// index and term of the last discarded entry; real entries follow it.
    entries: Vec<Entry>,
}

impl Default for MemStorage {
    fn default() -> MemStorage {
        MemStorage {
            hard_state: HardState::default(),
            snapshot: Snapshot::default(),
            entries: vec![Entry::default()],
        }
    }
}

impl MemStorage {
    /// An empty log whose membership is `voters` (held in the snapshot
    /// metadata, not in the log: see [`MemStorage::bootstrap`] for a new
    /// cluster whose later members must learn it from the log).
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

    /// Index of the placeholder entry: the last compacted index.
    fn offset(&self) -> u64 {
        self.entries[0].index
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
        self.entries.truncate((start - self.offset()) as usize);
        self.entries.extend_from_slice(entries);
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        if snapshot.metadata.index <= self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        let (index, term) = (snapshot.metadata.index, snapshot.metadata.term);
        self.entries = vec![Entry {
            index,
            term,
            ..Entry::default()
        }];
        self.snapshot = snapshot;
        self.hard_state.commit = self.hard_state.commit.max(index);
        self.hard_state.term = self.hard_state.term.max(term);
        Ok(())
    }

    /// Records a snapshot of the applied state at `index`. The log keeps its
    /// entries until [`MemStorage::compact`].
    ///
    /// # Panics
    /// If `index` is past the last index.
    pub fn create_snapshot(
        &mut self,
        index: u64,
        conf_state: ConfState,
        data: bytes::Bytes,
    ) -> Result<Snapshot, StorageError> {
        if index <= self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        assert!(
            index <= self.last_index(),
            "snapshot index {index} past last index {}",
            self.last_index()
        );
        let term = self.term(index)?;
        self.snapshot = Snapshot {
            data,
            metadata: super::types::SnapshotMetadata {
                conf_state,
                index,
                term,
            },
        };
        Ok(self.snapshot.clone())
    }

    /// Discards every entry up to and including `compact_index`.
    ///
    /// # Panics
    /// If `compact_index` is not covered by the latest snapshot: discarding
    /// entries no snapshot holds would lose data.
    pub fn compact(&mut self, compact_index: u64) -> Result<(), StorageError> {
        if compact_index <= self.offset() {
            return Err(StorageError::Compacted);
        }
        assert!(
            compact_index <= self.snapshot.metadata.index,
            "compacting to {compact_index} past the snapshot at {}",
            self.snapshot.metadata.index
        );
        let keep_from = (compact_index - self.offset()) as usize;
        let placeholder = Entry {
            index: compact_index,
            term: self.entries[keep_from].term,
            ..Entry::default()
        };
        self.entries.drain(..keep_from);
        self.entries[0] = placeholder;
        Ok(())
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> (HardState, ConfState) {
        (self.hard_state, self.snapshot.metadata.conf_state.clone())
    }

    fn entries(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        if lo <= self.offset() {
            return Err(StorageError::Compacted);
        }
        if hi > self.last_index() + 1 {
            return Err(StorageError::Unavailable);
        }
        let off = self.offset();
        let mut out = self.entries[(lo - off) as usize..(hi - off) as usize].to_vec();
        limit_size(&mut out, max_size);
        Ok(out)
    }

    fn term(&self, index: u64) -> Result<u64, StorageError> {
        let off = self.offset();
        if index < off {
            return Err(StorageError::Compacted);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable);
        }
        Ok(self.entries[(index - off) as usize].term)
    }

    fn first_index(&self) -> u64 {
        self.offset() + 1
    }

    fn last_index(&self) -> u64 {
        self.offset() + self.entries.len() as u64 - 1
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
    fn snapshot_keeps_entries_until_compacted() {
        let mut s = MemStorage::new_with_conf(&[1]);
        s.append(&[ent(1, 1), ent(2, 1), ent(3, 2)]);
        s.create_snapshot(2, ConfState::default(), Bytes::from_static(b"img"))
            .unwrap();
        assert_eq!(s.first_index(), 1, "a snapshot alone discards nothing");
        s.compact(2).unwrap();
        assert_eq!(s.first_index(), 3);
        assert_eq!(s.term(2), Ok(1));
        assert_eq!(s.term(1), Err(StorageError::Compacted));
        assert_eq!(s.entries(3, 4, u64::MAX).unwrap(), vec![ent(3, 2)]);
        assert_eq!(s.entries(2, 4, u64::MAX), Err(StorageError::Compacted));
        assert_eq!(s.entries(3, 5, u64::MAX), Err(StorageError::Unavailable));
        assert_eq!(s.compact(2), Err(StorageError::Compacted));
    }

    #[test]
    #[should_panic(expected = "past the snapshot")]
    fn compacting_past_the_snapshot_panics() {
        let mut s = MemStorage::new_with_conf(&[1]);
        s.append(&[ent(1, 1), ent(2, 1)]);
        let _ = s.compact(2);
    }

    #[test]
    fn applying_a_snapshot_replaces_the_log() {
        let mut s = MemStorage::new_with_conf(&[1]);
        s.append(&[ent(1, 1), ent(2, 1)]);
        let mut snap = Snapshot::default();
        snap.metadata.index = 5;
        snap.metadata.term = 3;
        s.apply_snapshot(snap.clone()).unwrap();
        assert_eq!((s.first_index(), s.last_index()), (6, 5));
        assert_eq!(s.term(5), Ok(3));
        assert_eq!(s.apply_snapshot(snap), Err(StorageError::SnapshotOutOfDate));
    }

    #[test]
    fn size_limit_keeps_at_least_one_entry() {
        let mut v = vec![ent(1, 1), ent(2, 1)];
        limit_size(&mut v, 0);
        assert_eq!(v.len(), 1);
    }
}
