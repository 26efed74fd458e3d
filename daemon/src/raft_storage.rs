//! Raft's log on disk: [`DiskStorage`] implements [`Storage`] over the WAL
//! ([`crate::wal`]) and snapshot files ([`crate::snap`]) of one member.
//!
//! The design is etcd's: the durable copy lives in the WAL and snapshot
//! files, and an in-memory [`MemStorage`] fed from them answers the core's
//! reads, so reads never touch the disk. On open the newest snapshot the
//! WAL vouches for is loaded and the WAL replayed into memory; afterwards
//! every write goes to disk first and to memory only once it succeeded.
//!
//! Layout under the member directory (`<data-dir>/member/`): `wal/` and
//! `snap/`.
//!
//! It owns the order of writes within one persist step and keeping disk and
//! memory in agreement. It must never decide what to persist (the core's
//! `Ready` does) nor swallow a write error: every write method returns one,
//! and the caller must treat any as fatal for the member. After a failed
//! write or fsync neither the disk nor the kernel's page cache can be trusted
//! to hold what was asked (a retried fsync may report success for pages the
//! kernel already dropped), so the node must stop and rebuild from disk on
//! restart; the WAL enforces this by refusing further writes.
//!
//! Invariants:
//! - What memory holds equals what [`DiskStorage::open`] would rebuild from
//!   disk at that moment: same initial state, entries, terms, indexes and
//!   snapshot. Reopening is invisible to the core.
//! - A snapshot file is durable before its WAL marker, and the marker is
//!   durable before WAL segments or older snapshot files are deleted.
//! - Reads (`Storage`) never do I/O and never fail for I/O reasons.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::raft::{
    ConfState, Entry, HardState, MemStorage, NodeId, Snapshot, SnapshotMetadata, Storage,
    StorageError, bootstrap_entries, bootstrap_entries_with_context,
};
use crate::snap::{self, Snapshotter};
use crate::wal::{self, Histogram, Metadata, OpenReport, SnapshotMarker, Wal, WalOptions};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Wal(#[from] wal::Error),
    #[error(transparent)]
    Snap(#[from] snap::Error),
    #[error("snapshot at index {index} is not newer than the current one at {current}")]
    SnapshotOutOfDate { index: u64, current: u64 },
    #[error("snapshot at index {index} is past the last index {last}")]
    SnapshotPastLog { index: u64, last: u64 },
    #[error("cannot compact to {index}: the snapshot only covers up to {snapshot}")]
    CompactPastSnapshot { index: u64, snapshot: u64 },
    #[error("entries starting at {first} leave a gap after the last index {last}")]
    Gap { first: u64, last: u64 },
    #[error("entries are not consecutive: {index} follows {prev}")]
    NotConsecutive { prev: u64, index: u64 },
    #[error("reading the in-memory log: {0}")]
    Storage(#[from] StorageError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a new member's log starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// A brand-new cluster: the log starts with one committed AddNode entry
    /// per initial voter (see [`bootstrap_entries`]) and the membership is
    /// known from the start.
    NewCluster { voters: Vec<NodeId> },
    /// The same, each AddNode entry carrying a context (the server's
    /// encoded member record), one per voter in order.
    NewClusterWithContext { members: Vec<(NodeId, Bytes)> },
    /// Joining an existing cluster: an empty log and no membership; the
    /// leader sends entries or a snapshot.
    Join,
}

#[derive(Clone, Copy, Debug)]
pub struct DiskOptions {
    pub wal: WalOptions,
    /// Snapshot files kept after each new snapshot.
    pub snapshots_kept: usize,
}

impl Default for DiskOptions {
    fn default() -> DiskOptions {
        DiskOptions {
            wal: WalOptions::default(),
            snapshots_kept: snap::DEFAULT_KEEP,
        }
    }
}

/// A member's Raft log on disk, readable by the core through [`Storage`].
#[derive(Debug)]
pub struct DiskStorage {
    wal: Wal,
    snap: Snapshotter,
    mem: MemStorage,
    options: DiskOptions,
}

fn wal_dir(member_dir: &Path) -> PathBuf {
    member_dir.join("wal")
}

fn snap_dir(member_dir: &Path) -> PathBuf {
    member_dir.join("snap")
}

/// Builds the in-memory log from what is on disk. `create` goes through
/// here too, so a fresh log and a reopened one are built identically.
fn rebuild(
    snapshot: Option<Snapshot>,
    marker: &SnapshotMarker,
    hard_state: HardState,
    entries: &[Entry],
) -> MemStorage {
    let mut mem = match snapshot {
        Some(s) => {
            let mut mem = MemStorage::default();
            mem.apply_snapshot(s)
                .expect("a snapshot past index 0 is newer than an empty log");
            mem
        }
        // Without a snapshot the marker only carries a new cluster's
        // voters (learners cannot be among a new cluster's founders).
        None => MemStorage::new_with_conf(&marker.conf_state.voters),
    };
    // The WAL's hard state already includes what installing the snapshot
    // did to it, so it overrides apply_snapshot's adjustment.
    mem.set_hard_state(hard_state);
    mem.append(entries);
    mem
}

impl DiskStorage {
    /// Whether `member_dir` holds a member's log (so [`DiskStorage::open`]
    /// rather than [`DiskStorage::create`] applies).
    pub fn exists(member_dir: &Path) -> bool {
        std::fs::read_dir(wal_dir(member_dir)).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".wal"))))
        })
    }

    /// Creates a new member's log under `member_dir`.
    ///
    /// # Errors
    /// `Wal(AlreadyExists)` if a log is already there; I/O errors.
    pub fn create(
        member_dir: &Path,
        metadata: Metadata,
        bootstrap: Bootstrap,
        options: DiskOptions,
    ) -> Result<DiskStorage> {
        let snap = Snapshotter::new(&snap_dir(member_dir))?;
        let (voters, (entries, hard_state)) = match bootstrap {
            Bootstrap::NewCluster { voters } => {
                let log = bootstrap_entries(&voters);
                (voters, log)
            }
            Bootstrap::NewClusterWithContext { members } => {
                let log = bootstrap_entries_with_context(&members);
                (members.into_iter().map(|(id, _)| id).collect(), log)
            }
            Bootstrap::Join => (Vec::new(), (Vec::new(), HardState::default())),
        };
        let marker = SnapshotMarker {
            conf_state: ConfState {
                voters,
                learners: Vec::new(),
            },
            ..SnapshotMarker::default()
        };
        let wal = Wal::create(
            &wal_dir(member_dir),
            options.wal,
            metadata,
            marker.clone(),
            hard_state,
            &entries,
        )?;
        Ok(DiskStorage {
            mem: rebuild(None, &marker, hard_state, &entries),
            wal,
            snap,
            options,
        })
    }

    /// Opens an existing member's log: loads the snapshot the WAL's latest
    /// marker names and replays the WAL after it. The report says what
    /// repairs (a torn WAL tail) were made.
    pub fn open(member_dir: &Path, options: DiskOptions) -> Result<(DiskStorage, OpenReport)> {
        let (wal, replayed, report) = Wal::open(&wal_dir(member_dir), options.wal)?;
        let snap = Snapshotter::new(&snap_dir(member_dir))?;
        let snapshot = snap.load_newest(&replayed.snapshot)?;
        let mem = rebuild(
            snapshot,
            &replayed.snapshot,
            replayed.hard_state,
            &replayed.entries,
        );
        Ok((
            DiskStorage {
                wal,
                snap,
                mem,
                options,
            },
            report,
        ))
    }

    /// Persists one `Ready`, in its order: the snapshot (file, then WAL
    /// marker), then entries and hard state as one WAL batch with a single
    /// fdatasync when `must_sync` (always, with a snapshot); then updates
    /// memory. Entries replace any conflicting suffix; entries the snapshot
    /// already covers are ignored.
    ///
    /// # Errors
    /// Validation errors (stale snapshot, gaps) before anything is written;
    /// I/O errors after which the member must stop (see the module docs).
    pub fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<HardState>,
        must_sync: bool,
    ) -> Result<()> {
        let current = self.mem.first_index() - 1;
        if let Some(s) = snapshot {
            if s.metadata.index <= current {
                return Err(Error::SnapshotOutOfDate {
                    index: s.metadata.index,
                    current,
                });
            }
        }
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 {
                return Err(Error::NotConsecutive {
                    prev: pair[0].index,
                    index: pair[1].index,
                });
            }
        }
        let (compacted, last) = match snapshot {
            Some(s) => (s.metadata.index, s.metadata.index),
            None => (current, self.mem.last_index()),
        };
        // Written to the WAL exactly as memory will keep them, so replay
        // folds the same log (see MemStorage::append).
        let skip = entries.iter().take_while(|e| e.index <= compacted).count();
        let entries = &entries[skip..];
        if let Some(first) = entries.first() {
            if first.index > last + 1 {
                return Err(Error::Gap {
                    first: first.index,
                    last,
                });
            }
        }
        // Installing a snapshot raises the in-memory commit and term
        // (MemStorage::apply_snapshot); record the result so replay sees it.
        let hard_state = hard_state.or_else(|| {
            snapshot.map(|s| {
                let hs = self.mem.hard_state();
                HardState {
                    term: hs.term.max(s.metadata.term),
                    vote: hs.vote,
                    commit: hs.commit.max(s.metadata.index),
                }
            })
        });

        if let Some(s) = snapshot {
            self.snap.save(s)?;
            self.wal.save_snapshot(&SnapshotMarker {
                index: s.metadata.index,
                term: s.metadata.term,
                conf_state: s.metadata.conf_state.clone(),
                replaces_log: true,
            })?;
        }
        self.wal
            .save(hard_state, entries, must_sync || snapshot.is_some())?;

        if let Some(s) = snapshot {
            self.mem.apply_snapshot(s.clone())?;
        }
        self.mem.append(entries);
        if let Some(hs) = hard_state {
            self.mem.set_hard_state(hs);
        }
        if let Some(s) = snapshot {
            self.release(s.metadata.index);
        }
        Ok(())
    }

    /// Takes a local snapshot at `index` (applied by the caller) holding
    /// `data`: writes the file, then the WAL marker, then drops the covered
    /// entries from memory and purges old snapshot files. WAL segments stay
    /// until [`DiskStorage::compact`].
    pub fn create_snapshot(
        &mut self,
        index: u64,
        conf_state: ConfState,
        data: Bytes,
    ) -> Result<Snapshot> {
        let current = self.mem.first_index() - 1;
        if index <= current {
            return Err(Error::SnapshotOutOfDate { index, current });
        }
        let last = self.mem.last_index();
        if index > last {
            return Err(Error::SnapshotPastLog { index, last });
        }
        let term = self.mem.term(index)?;
        let snapshot = Snapshot {
            data,
            metadata: SnapshotMetadata {
                conf_state,
                index,
                term,
            },
        };
        self.snap.save(&snapshot)?;
        self.wal.save_snapshot(&SnapshotMarker {
            index,
            term,
            conf_state: snapshot.metadata.conf_state.clone(),
            replaces_log: false,
        })?;
        self.mem.create_snapshot(
            index,
            snapshot.metadata.conf_state.clone(),
            snapshot.data.clone(),
        )?;
        // A reopen replays only what follows the snapshot, so memory drops
        // the covered entries now to stay equal to what disk would rebuild.
        self.mem.compact(index)?;
        self.purge_snapshots();
        Ok(snapshot)
    }

    /// Releases WAL segments holding only entries at or before `index`,
    /// which the current snapshot must cover. (Memory already dropped them
    /// in [`DiskStorage::create_snapshot`].)
    pub fn compact(&mut self, index: u64) -> Result<()> {
        let snapshot = self.mem.first_index() - 1;
        if index > snapshot {
            return Err(Error::CompactPastSnapshot { index, snapshot });
        }
        self.wal.release_to(index)?;
        Ok(())
    }

    pub fn metadata(&self) -> Metadata {
        self.wal.metadata()
    }

    pub fn hard_state(&self) -> HardState {
        self.mem.hard_state()
    }

    /// WAL fsync latencies, for `etcd_disk_wal_fsync_duration_seconds`.
    pub fn fsync_histogram(&self) -> Arc<Histogram> {
        self.wal.fsync_histogram()
    }

    /// Best-effort cleanup after an installed snapshot: leftovers cost disk
    /// space, not correctness, so failures are logged, not returned.
    fn release(&mut self, index: u64) {
        if let Err(e) = self.wal.release_to(index) {
            tracing::warn!(error = %e, "could not release old WAL segments");
        }
        self.purge_snapshots();
    }

    fn purge_snapshots(&self) {
        if let Err(e) = self.snap.purge(self.options.snapshots_kept) {
            tracing::warn!(error = %e, "could not purge old snapshot files");
        }
    }
}

impl Storage for DiskStorage {
    fn initial_state(&self) -> (HardState, ConfState) {
        self.mem.initial_state()
    }

    fn entries(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>, StorageError> {
        self.mem.entries(lo, hi, max_size)
    }

    fn term(&self, index: u64) -> Result<u64, StorageError> {
        self.mem.term(index)
    }

    fn first_index(&self) -> u64 {
        self.mem.first_index()
    }

    fn last_index(&self) -> u64 {
        self.mem.last_index()
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        self.mem.snapshot()
    }
}
