//! One behaviour suite for every `raft::Storage` implementation: the
//! in-memory twin and the disk-backed log must answer the core identically,
//! and the disk-backed one must answer identically again after a reopen.

use std::path::PathBuf;

use bytes::Bytes;
use cairn::raft::{
    ConfState, Entry, EntryType, HardState, MemStorage, Snapshot, SnapshotMetadata, Storage,
    StorageError, bootstrap_entries,
};
use cairn::raft_storage::{Bootstrap, DiskOptions, DiskStorage};
use cairn::wal::{Metadata, WalOptions};

/// The write side, which differs per implementation, behind one face.
trait Harness {
    fn storage(&self) -> &dyn Storage;
    fn persist(&mut self, snap: Option<&Snapshot>, entries: &[Entry], hs: Option<HardState>);
    fn create_snapshot(&mut self, index: u64, cs: ConfState, data: Bytes) -> Snapshot;
    /// Drops and rebuilds from durable state; a no-op in memory.
    fn reopen(&mut self);
}

impl Harness for MemStorage {
    fn storage(&self) -> &dyn Storage {
        self
    }
    fn persist(&mut self, snap: Option<&Snapshot>, entries: &[Entry], hs: Option<HardState>) {
        if let Some(s) = snap {
            self.apply_snapshot(s.clone()).unwrap();
        }
        self.append(entries);
        if let Some(hs) = hs {
            self.set_hard_state(hs);
        }
    }
    fn create_snapshot(&mut self, index: u64, cs: ConfState, data: Bytes) -> Snapshot {
        // The contract's local snapshot is a snapshot plus compaction to it,
        // which is what DiskStorage does in one step.
        let snap = MemStorage::create_snapshot(self, index, cs, data).unwrap();
        self.compact(index).unwrap();
        snap
    }
    fn reopen(&mut self) {}
}

struct Disk {
    dir: tempfile::TempDir,
    storage: Option<DiskStorage>,
}

fn tiny() -> DiskOptions {
    DiskOptions {
        wal: WalOptions { segment_size: 512 },
        snapshots_kept: 2,
    }
}

impl Disk {
    fn bootstrap(voters: &[u64]) -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let storage = DiskStorage::create(
            &member_dir(&dir),
            Metadata {
                cluster_id: 9,
                member_id: 1,
            },
            Bootstrap::NewCluster {
                voters: voters.to_vec(),
            },
            tiny(),
        )
        .unwrap();
        Disk {
            dir,
            storage: Some(storage),
        }
    }

    fn s(&mut self) -> &mut DiskStorage {
        self.storage.as_mut().unwrap()
    }
}

fn member_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("member")
}

impl Harness for Disk {
    fn storage(&self) -> &dyn Storage {
        self.storage.as_ref().unwrap()
    }
    fn persist(&mut self, snap: Option<&Snapshot>, entries: &[Entry], hs: Option<HardState>) {
        self.s().persist(snap, entries, hs, true).unwrap();
    }
    fn create_snapshot(&mut self, index: u64, cs: ConfState, data: Bytes) -> Snapshot {
        let snap = self.s().create_snapshot(index, cs, data).unwrap();
        self.s().compact(index).unwrap();
        snap
    }
    fn reopen(&mut self) {
        self.storage = None;
        let (s, report) = DiskStorage::open(&member_dir(&self.dir), tiny()).unwrap();
        assert_eq!(
            report.truncated_tail, None,
            "a clean close leaves no torn tail"
        );
        self.storage = Some(s);
    }
}

fn ent(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        entry_type: EntryType::Normal,
        data: Bytes::from(vec![index as u8; 40]),
    }
}

fn ents(lo: u64, hi: u64, term: u64) -> Vec<Entry> {
    (lo..=hi).map(|i| ent(i, term)).collect()
}

/// Everything the core can read, for comparing two storages.
#[derive(Debug, PartialEq)]
struct View {
    initial_state: (HardState, ConfState),
    first_index: u64,
    last_index: u64,
    entries: Vec<Entry>,
    terms: Vec<Result<u64, StorageError>>,
    snapshot: Snapshot,
}

fn view(s: &dyn Storage) -> View {
    let (first, last) = (s.first_index(), s.last_index());
    View {
        initial_state: s.initial_state(),
        first_index: first,
        last_index: last,
        entries: s.entries(first, last + 1, u64::MAX).unwrap(),
        terms: (first.saturating_sub(2)..=last + 1)
            .map(|i| s.term(i))
            .collect(),
        snapshot: s.snapshot().unwrap(),
    }
}

/// Reopens and requires the core could not tell.
fn reopen_unchanged(h: &mut dyn Harness) {
    let before = view(h.storage());
    h.reopen();
    assert_eq!(
        view(h.storage()),
        before,
        "reopen changed what the core reads"
    );
}

/// The `Storage` contract, exercised through a bootstrapped three-voter
/// log. See the contract in `raft::Storage`'s module docs.
fn check_contract(h: &mut dyn Harness) {
    let voters = vec![1, 2, 3];
    let (boot, boot_hs) = bootstrap_entries(&voters);

    // A new cluster: membership known, bootstrap entries committed.
    let s = h.storage();
    assert_eq!(s.initial_state(), (boot_hs, conf(&voters)));
    assert_eq!((s.first_index(), s.last_index()), (1, 3));
    assert_eq!(s.entries(1, 4, u64::MAX).unwrap(), boot);
    assert_eq!(s.term(0), Ok(0));
    assert_eq!(s.term(3), Ok(1));
    assert_eq!(s.term(4), Err(StorageError::Unavailable));
    assert_eq!(s.entries(0, 2, u64::MAX), Err(StorageError::Compacted));
    assert_eq!(s.entries(1, 5, u64::MAX), Err(StorageError::Unavailable));
    assert!(s.snapshot().unwrap().is_empty());
    reopen_unchanged(h);

    // Appending, then a new leader overwriting a conflicting suffix.
    let hs = HardState {
        term: 2,
        vote: 1,
        commit: 5,
    };
    h.persist(None, &ents(4, 12, 2), Some(hs));
    h.persist(None, &ents(9, 10, 3), None);
    let s = h.storage();
    assert_eq!(s.last_index(), 10);
    assert_eq!(s.term(8), Ok(2));
    assert_eq!(s.term(9), Ok(3));
    assert_eq!(s.term(11), Err(StorageError::Unavailable));
    assert_eq!(s.initial_state().0, hs);
    reopen_unchanged(h);

    // Size limits keep at least one entry, and cap the rest.
    let s = h.storage();
    assert_eq!(s.entries(4, 11, 0).unwrap().len(), 1);
    let two = ent(4, 2).size() * 2;
    assert_eq!(s.entries(4, 11, two).unwrap().len(), 2);

    // A local snapshot moves the first index and keeps later entries.
    let snap = h.create_snapshot(6, conf(&voters), Bytes::from_static(b"image@6"));
    assert_eq!((snap.metadata.index, snap.metadata.term), (6, 2));
    let s = h.storage();
    assert_eq!(s.first_index(), 7);
    assert_eq!(s.term(6), Ok(2));
    assert_eq!(s.term(5), Err(StorageError::Compacted));
    assert_eq!(s.entries(6, 8, u64::MAX), Err(StorageError::Compacted));
    assert_eq!(s.entries(7, 11, u64::MAX).unwrap().len(), 4);
    assert_eq!(s.snapshot().unwrap(), snap);
    reopen_unchanged(h);

    // Entries the snapshot covers are ignored; later ones still append.
    h.persist(None, &ents(5, 25, 3), None);
    assert_eq!(h.storage().last_index(), 25);
    assert_eq!(h.storage().term(6), Ok(2));
    reopen_unchanged(h);

    // A snapshot from the leader replaces the whole log, even entries past
    // its index, and raises commit and term.
    let installed = Snapshot {
        data: Bytes::from_static(b"image@20"),
        metadata: SnapshotMetadata {
            conf_state: ConfState {
                voters: vec![1, 2, 3],
                learners: vec![4],
            },
            index: 20,
            term: 4,
        },
    };
    h.persist(Some(&installed), &[], None);
    assert_eq!(h.storage().last_index(), 20);
    reopen_unchanged(h);
    h.persist(None, &ents(21, 22, 4), None);
    let s = h.storage();
    assert_eq!((s.first_index(), s.last_index()), (21, 22));
    assert_eq!(s.term(20), Ok(4));
    assert_eq!(s.term(19), Err(StorageError::Compacted));
    let (hs, cs) = s.initial_state();
    assert_eq!(cs, installed.metadata.conf_state);
    assert_eq!((hs.term, hs.commit), (4, 20));
    assert_eq!(s.snapshot().unwrap(), installed);
    reopen_unchanged(h);

    // Many more small batches: rotation and release on disk, unseen here.
    for i in 23..=80 {
        h.persist(
            None,
            &[ent(i, 4)],
            Some(HardState {
                term: 4,
                vote: 2,
                commit: i - 1,
            }),
        );
        if i % 20 == 0 {
            h.create_snapshot(i - 5, cs.clone(), Bytes::from(format!("image@{}", i - 5)));
        }
    }
    assert_eq!(h.storage().first_index(), 76);
    assert_eq!(h.storage().last_index(), 80);
    reopen_unchanged(h);
}

fn conf(voters: &[u64]) -> ConfState {
    ConfState {
        voters: voters.to_vec(),
        learners: vec![],
    }
}

#[test]
fn mem_storage_meets_the_contract() {
    check_contract(&mut MemStorage::bootstrap(&[1, 2, 3]));
}

#[test]
fn disk_storage_meets_the_contract_and_survives_every_reopen() {
    let mut disk = Disk::bootstrap(&[1, 2, 3]);
    check_contract(&mut disk);
    // The suite must have made the WAL rotate and release segments, and
    // purged snapshot files, or it proved less than it claims.
    let names = |sub: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(member_dir(&disk.dir).join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let wal = names("wal");
    assert!(wal.len() > 1, "no rotation: {wal:?}");
    assert!(
        !wal[0].starts_with("0000000000000000-"),
        "no release: {wal:?}"
    );
    assert_eq!(names("snap").len(), tiny().snapshots_kept);
}

/// One write applied alike to every harness.
type Step = Box<dyn Fn(&mut dyn Harness)>;

#[test]
fn disk_and_mem_agree_step_by_step() {
    let mut mem = MemStorage::bootstrap(&[1, 2, 3]);
    let mut disk = Disk::bootstrap(&[1, 2, 3]);
    let steps: Vec<Step> = vec![
        Box::new(|h| h.persist(None, &ents(4, 30, 2), None)),
        Box::new(|h| h.persist(None, &ents(10, 12, 3), Some(hs(3, 0, 9)))),
        Box::new(|h| {
            h.create_snapshot(8, conf(&[1, 2, 3]), Bytes::from_static(b"a"));
        }),
        Box::new(|h| h.persist(None, &ents(13, 40, 3), Some(hs(3, 1, 30)))),
        Box::new(|h| {
            h.create_snapshot(35, conf(&[1, 2, 3]), Bytes::from_static(b"b"));
        }),
        Box::new(|h| h.persist(None, &ents(38, 39, 5), Some(hs(5, 2, 37)))),
    ];
    for (n, step) in steps.iter().enumerate() {
        step(&mut mem);
        step(&mut disk);
        assert_eq!(view(disk.storage()), view(&mem), "after step {n}");
        disk.reopen();
        assert_eq!(
            view(disk.storage()),
            view(&mem),
            "after step {n} and reopen"
        );
    }
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState { term, vote, commit }
}

#[test]
fn disk_storage_refuses_bad_writes_without_writing() {
    let mut d = Disk::bootstrap(&[1]);
    let s = d.s();
    assert!(s.persist(None, &ents(6, 7, 1), None, true).is_err(), "gap");
    let skip = [ent(2, 1), ent(4, 1)];
    assert!(
        s.persist(None, &skip, None, true).is_err(),
        "not consecutive"
    );
    assert!(
        s.create_snapshot(5, conf(&[1]), Bytes::new()).is_err(),
        "past log"
    );
    assert!(s.compact(1).is_err(), "past snapshot");
    let before = view(d.storage());
    d.reopen();
    assert_eq!(view(d.storage()), before);
}

#[test]
fn a_joining_member_starts_empty_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Metadata {
        cluster_id: 1,
        member_id: 4,
    };
    assert!(!DiskStorage::exists(&member_dir(&dir)));
    let s = DiskStorage::create(&member_dir(&dir), meta, Bootstrap::Join, tiny()).unwrap();
    assert_eq!(
        s.initial_state(),
        (HardState::default(), ConfState::default())
    );
    assert_eq!((s.first_index(), s.last_index()), (1, 0));
    drop(s);
    assert!(DiskStorage::exists(&member_dir(&dir)));
    let (s, _) = DiskStorage::open(&member_dir(&dir), tiny()).unwrap();
    assert_eq!(s.metadata(), meta);
    assert_eq!((s.first_index(), s.last_index()), (1, 0));
}

#[test]
fn open_refuses_when_the_wal_names_a_snapshot_whose_file_is_gone() {
    let mut d = Disk::bootstrap(&[1]);
    d.persist(None, &ents(2, 10, 1), None);
    d.create_snapshot(8, conf(&[1]), Bytes::from_static(b"x"));
    let snap_dir = member_dir(&d.dir).join("snap");
    for f in std::fs::read_dir(&snap_dir).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    d.storage = None;
    let err = DiskStorage::open(&member_dir(&d.dir), tiny()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("index 8") && msg.contains("no snapshot file"),
        "{msg}"
    );
}
