use super::*;
use crate::raft::{ConfState, EntryType};

fn ent(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        entry_type: EntryType::Normal,
        data: Bytes::from(format!("e{index}t{term}")),
    }
}

fn ents(lo: u64, hi: u64, term: u64) -> Vec<Entry> {
    (lo..=hi).map(|i| ent(i, term)).collect()
}

const META: Metadata = Metadata {
    cluster_id: 7,
    member_id: 2,
};

fn tiny() -> WalOptions {
    WalOptions { segment_size: 256 }
}

fn new_wal(dir: &Path, options: WalOptions) -> Wal {
    Wal::create(
        dir,
        options,
        META,
        SnapshotMarker {
            conf_state: ConfState {
                voters: vec![1, 2, 3],
                learners: vec![],
            },
            ..SnapshotMarker::default()
        },
        HardState::default(),
        &[],
    )
    .unwrap()
}

fn reopen(dir: &Path) -> (Wal, Replayed, OpenReport) {
    Wal::open(dir, tiny()).unwrap()
}

#[test]
fn segment_names_sort_in_log_order_and_parse_back() {
    assert_eq!(
        segment_name(1, 0x41),
        "0000000000000001-0000000000000041.wal"
    );
    assert_eq!(
        parse_segment_name("0000000000000001-0000000000000041.wal"),
        Some((1, 0x41))
    );
    assert_eq!(parse_segment_name("1-41.wal"), None);
    assert_eq!(
        parse_segment_name("000000000000000g-0000000000000041.wal"),
        None
    );
}

#[test]
fn replays_metadata_membership_hard_state_and_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    let hs = HardState {
        term: 2,
        vote: 1,
        commit: 3,
    };
    w.save(Some(hs), &ents(1, 5, 2), true).unwrap();
    drop(w);
    let (_, r, report) = reopen(dir.path());
    assert_eq!(r.metadata, META);
    assert_eq!(r.snapshot.conf_state.voters, vec![1, 2, 3]);
    assert_eq!(r.hard_state, hs);
    assert_eq!(r.entries, ents(1, 5, 2));
    assert_eq!(report, OpenReport::default());
}

#[test]
fn a_later_entry_replaces_the_conflicting_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    w.save(None, &ents(1, 6, 1), true).unwrap();
    // A new leader at term 3 overwrites from index 4.
    w.save(None, &ents(4, 5, 3), true).unwrap();
    drop(w);
    let (_, r, _) = reopen(dir.path());
    let mut want = ents(1, 3, 1);
    want.extend(ents(4, 5, 3));
    assert_eq!(r.entries, want);
}

#[test]
fn rotation_restates_state_and_replay_spans_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), tiny());
    let hs = HardState {
        term: 1,
        vote: 1,
        commit: 0,
    };
    for i in 1..=40 {
        w.save(Some(hs), &[ent(i, 1)], true).unwrap();
    }
    let paths = w.segment_paths();
    assert!(paths.len() > 3, "tiny segments must rotate: {paths:?}");
    // Names carry the first index each may contain.
    let (_, first_index) =
        parse_segment_name(paths[1].file_name().unwrap().to_str().unwrap()).unwrap();
    assert!(first_index > 1);
    drop(w);
    let (_, r, _) = reopen(dir.path());
    assert_eq!(r.entries, ents(1, 40, 1));
    assert_eq!(r.hard_state, hs);
}

#[test]
fn release_to_keeps_the_segment_holding_the_snapshot_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), tiny());
    for i in 1..=40 {
        w.save(None, &[ent(i, 1)], true).unwrap();
    }
    let before: Vec<(u64, u64)> = w
        .segment_paths()
        .iter()
        .map(|p| parse_segment_name(p.file_name().unwrap().to_str().unwrap()).unwrap())
        .collect();
    let snap = 20;
    w.save_snapshot(&SnapshotMarker {
        index: snap,
        term: 1,
        ..SnapshotMarker::default()
    })
    .unwrap();
    let removed = w.release_to(snap).unwrap();
    assert!(removed > 0);
    // The kept first segment's successor starts after the snapshot, so the
    // kept first segment holds entry `snap + 1` or something before it.
    let kept: Vec<(u64, u64)> = w
        .segment_paths()
        .iter()
        .map(|p| parse_segment_name(p.file_name().unwrap().to_str().unwrap()).unwrap())
        .collect();
    assert_eq!(kept[0], before[removed]);
    assert!(kept[0].1 <= snap + 1);
    assert!(kept[1].1 > snap + 1);
    drop(w);
    let (_, r, _) = reopen(dir.path());
    assert_eq!(r.snapshot.index, snap);
    assert_eq!(r.entries, ents(snap + 1, 40, 1));
    assert_eq!(r.metadata, META);
}

#[test]
fn release_to_below_every_boundary_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), tiny());
    for i in 1..=40 {
        w.save(None, &[ent(i, 1)], true).unwrap();
    }
    let n = w.segment_paths().len();
    assert_eq!(w.release_to(0).unwrap(), 0);
    assert_eq!(w.segment_paths().len(), n);
}

#[test]
fn an_installed_snapshot_forgets_earlier_entries_even_past_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    w.save(None, &ents(1, 30, 1), true).unwrap();
    w.save_snapshot(&SnapshotMarker {
        index: 20,
        term: 2,
        replaces_log: true,
        ..SnapshotMarker::default()
    })
    .unwrap();
    w.save(None, &ents(21, 22, 2), true).unwrap();
    drop(w);
    let (_, r, _) = reopen(dir.path());
    assert_eq!(r.entries, ents(21, 22, 2));
}

#[test]
fn a_local_snapshot_keeps_later_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    w.save(None, &ents(1, 30, 1), true).unwrap();
    w.save_snapshot(&SnapshotMarker {
        index: 20,
        term: 1,
        ..SnapshotMarker::default()
    })
    .unwrap();
    drop(w);
    let (_, r, _) = reopen(dir.path());
    assert_eq!(r.entries, ents(21, 30, 1));
}

#[test]
fn a_gap_in_recorded_entries_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    w.save(None, &ents(1, 3, 1), true).unwrap();
    w.save(None, &ents(5, 5, 1), true).unwrap();
    drop(w);
    let err = Wal::open(dir.path(), tiny()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                reason: Corruption::Gap { index: 5, last: 3 },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn appends_after_reopen_continue_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), tiny());
    w.save(None, &ents(1, 10, 1), true).unwrap();
    drop(w);
    let (mut w, _, _) = reopen(dir.path());
    w.save(None, &ents(11, 30, 1), true).unwrap();
    drop(w);
    let (_, r, _) = reopen(dir.path());
    assert_eq!(r.entries, ents(1, 30, 1));
}

/// A closed WAL in `dir` holding entries 1 to 3; returns its one segment.
fn three_entries(dir: &Path) -> PathBuf {
    let mut w = new_wal(dir, WalOptions::default());
    w.save(None, &ents(1, 3, 1), true).unwrap();
    w.segment_paths()[0].clone()
}

#[test]
fn zeros_after_the_last_record_are_the_reserve_and_stay() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_entries(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[0; 4096]).unwrap();
    drop(f);
    let (mut w, r, report) = reopen(dir.path());
    assert_eq!(r.entries, ents(1, 3, 1));
    assert_eq!(report.truncated_tail, None);
    assert_eq!(fs::metadata(&path).unwrap().len(), len + 4096);
    w.save(None, &ents(4, 6, 1), true).unwrap();
    drop(w);
    let (_, r, report) = reopen(dir.path());
    assert_eq!(
        r.entries,
        ents(1, 6, 1),
        "appends go right after the last record"
    );
    assert_eq!(report.truncated_tail, None);
}

#[test]
fn zeros_are_written_ahead_of_the_records_up_to_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = three_entries(dir.path());
    assert_eq!(fs::metadata(&path).unwrap().len(), 1 << 20);

    let small = tempfile::tempdir().unwrap();
    let mut w = new_wal(small.path(), tiny());
    w.save(None, &[ent(1, 1)], true).unwrap();
    let path = w.segment_paths()[0].clone();
    assert_eq!(fs::metadata(&path).unwrap().len(), tiny().segment_size);
}

#[test]
fn leftover_temp_segment_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    w.save(None, &ents(1, 3, 1), true).unwrap();
    drop(w);
    let tmp = dir.path().join("0000000000000001-0000000000000004.wal.tmp");
    fs::write(&tmp, b"half a segment").unwrap();
    let (_, r, report) = reopen(dir.path());
    assert_eq!(r.entries, ents(1, 3, 1));
    assert_eq!(report.removed_temp_files, vec![tmp.clone()]);
    assert!(!tmp.exists());
}

#[test]
fn a_missing_middle_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), tiny());
    for i in 1..=40 {
        w.save(None, &[ent(i, 1)], true).unwrap();
    }
    let paths = w.segment_paths();
    drop(w);
    fs::remove_file(&paths[1]).unwrap();
    let err = Wal::open(dir.path(), tiny()).unwrap_err();
    assert!(
        matches!(err, Error::MissingSegment { missing: 1, .. }),
        "{err}"
    );
}

#[test]
fn create_refuses_a_directory_that_already_has_a_wal() {
    let dir = tempfile::tempdir().unwrap();
    drop(new_wal(dir.path(), tiny()));
    let err = Wal::create(
        dir.path(),
        tiny(),
        META,
        SnapshotMarker::default(),
        HardState::default(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}

#[test]
fn every_sync_is_recorded_in_the_histogram() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = new_wal(dir.path(), WalOptions::default());
    let hist = w.fsync_histogram();
    let before = hist.snapshot().count;
    w.save(None, &ents(1, 3, 1), true).unwrap();
    w.save(None, &ents(4, 4, 1), false).unwrap();
    w.save(None, &ents(5, 5, 1), true).unwrap();
    assert_eq!(hist.snapshot().count, before + 2);
}
