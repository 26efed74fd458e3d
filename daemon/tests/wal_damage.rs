//! What the WAL does with damaged files: a torn final record (what a crash
//! mid-append leaves) is cut away and reported; zeros after the last record
//! are the reserve the WAL writes ahead, not damage; any other damage fails
//! the open, naming the file and the damaged record's offset.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use cairn::raft::{ConfState, Entry, EntryType, HardState};
use cairn::wal::{
    self, Corruption, HEADER_LEN, Metadata, OpenReport, Replayed, SnapshotMarker, Wal, WalOptions,
};

const OPTIONS: WalOptions = WalOptions { segment_size: 400 };

fn ent(index: u64) -> Entry {
    Entry {
        term: 1 + index / 10,
        index,
        entry_type: EntryType::Normal,
        data: Bytes::from(vec![b'a' + (index % 26) as u8; 50]),
    }
}

/// A WAL of several segments whose final record is entry 20, and what it
/// replays to.
fn write_template() -> (tempfile::TempDir, Replayed) {
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("wal");
    let mut w = Wal::create(
        &wal_dir,
        OPTIONS,
        Metadata {
            cluster_id: 3,
            member_id: 1,
        },
        SnapshotMarker {
            conf_state: ConfState {
                voters: vec![1],
                learners: vec![],
            },
            ..SnapshotMarker::default()
        },
        HardState::default(),
        &[],
    )
    .unwrap();
    for i in 1..20 {
        let hs = HardState {
            term: 1 + i / 10,
            vote: 1,
            commit: i - 1,
        };
        w.save(Some(hs), &[ent(i)], true).unwrap();
    }
    w.save(None, &[ent(20)], true).unwrap();
    assert!(
        w.segment_paths().len() >= 3,
        "the test wants several segments"
    );
    drop(w);
    let (_, replayed, _) = Wal::open(&wal_dir, OPTIONS).unwrap();
    assert_eq!(replayed.entries.last(), Some(&ent(20)));
    (dir, replayed)
}

/// Copies the template's WAL into a fresh directory to damage.
fn copy_wal(template: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for f in fs::read_dir(template.join("wal")).unwrap() {
        let f = f.unwrap();
        fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    let wal_dir = dir.path().to_path_buf();
    (dir, wal_dir)
}

fn segments(wal_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// `(offset, length)` of every record in a segment file, up to the zeros
/// the WAL writes ahead.
fn record_spans(path: &Path) -> Vec<(usize, usize)> {
    let buf = fs::read(path).unwrap();
    let mut spans = Vec::new();
    let mut offset = 0;
    while buf[offset..].iter().any(|b| *b != 0) {
        let (_, used) = wal::decode(&buf[offset..]).unwrap();
        spans.push((offset, used));
        offset += used;
    }
    spans
}

fn without_last_entry(r: &Replayed) -> Vec<Entry> {
    r.entries[..r.entries.len() - 1].to_vec()
}

#[test]
fn a_cut_anywhere_inside_the_final_record_is_repaired() {
    let (template, full) = write_template();
    let last_seg = segments(&template.path().join("wal")).pop().unwrap();
    let &(last_off, last_len) = record_spans(&last_seg).last().unwrap();
    for cut in last_off + 1..last_off + last_len {
        let (_keep, wal_dir) = copy_wal(template.path());
        let seg = wal_dir.join(last_seg.file_name().unwrap());
        let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(cut as u64).unwrap();
        drop(f);

        let (_, r, report) =
            Wal::open(&wal_dir, OPTIONS).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(r.entries, without_last_entry(&full), "cut at {cut}");
        assert_eq!(r.hard_state, full.hard_state, "cut at {cut}");
        assert_eq!(
            report.truncated_tail,
            Some((seg.clone(), last_off as u64)),
            "cut at {cut}"
        );
        assert_eq!(fs::metadata(&seg).unwrap().len(), last_off as u64);
    }
}

#[test]
fn a_cut_at_a_record_boundary_needs_no_repair() {
    let (template, full) = write_template();
    let last_seg = segments(&template.path().join("wal")).pop().unwrap();
    let &(last_off, _) = record_spans(&last_seg).last().unwrap();
    let (_keep, wal_dir) = copy_wal(template.path());
    let seg = wal_dir.join(last_seg.file_name().unwrap());
    let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(last_off as u64).unwrap();
    drop(f);
    let (_, r, report) = Wal::open(&wal_dir, OPTIONS).unwrap();
    assert_eq!(r.entries, without_last_entry(&full));
    assert_eq!(report.truncated_tail, None);
}

/// Copies the template, lets `damage` change its last segment's bytes
/// (given the final record's offset and length), and opens it: exactly the
/// final entry must be gone. Returns the open's report, the damaged segment
/// and the final record's offset.
fn open_with_final_record_damaged(
    damage: impl FnOnce(&mut Vec<u8>, usize, usize),
) -> (OpenReport, PathBuf, u64) {
    let (template, full) = write_template();
    let (_keep, wal_dir) = copy_wal(template.path());
    let seg = segments(&wal_dir).pop().unwrap();
    let &(last_off, last_len) = record_spans(&seg).last().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    damage(&mut bytes, last_off, last_len);
    fs::write(&seg, bytes).unwrap();
    let (_, r, report) = Wal::open(&wal_dir, OPTIONS).unwrap();
    assert_eq!(r.entries, without_last_entry(&full));
    (report, seg, last_off as u64)
}

#[test]
fn a_final_record_failing_its_checksum_up_to_eof_is_a_torn_write() {
    let (report, seg, last_off) = open_with_final_record_damaged(|bytes, off, len| {
        // The page holding the record's end never reached the disk.
        bytes[off + len - 1] ^= 0xff;
    });
    assert_eq!(report.truncated_tail, Some((seg, last_off)));
}

#[test]
fn a_final_record_half_written_over_the_reserve_is_a_torn_write() {
    let (report, seg, last_off) = open_with_final_record_damaged(|bytes, off, len| {
        // Its header and the first half of its payload reached the disk;
        // the rest is still the reserve's zeros.
        bytes[off + HEADER_LEN + (len - HEADER_LEN) / 2..off + len].fill(0);
        bytes.extend_from_slice(&[0; 1000]);
    });
    assert_eq!(report.truncated_tail, Some((seg, last_off)));
}

#[test]
fn a_final_record_that_never_left_the_reserve_is_simply_absent() {
    let (report, _, _) = open_with_final_record_damaged(|bytes, off, len| {
        bytes[off..off + len].fill(0);
        bytes.extend_from_slice(&[0; 1000]);
    });
    assert_eq!(report.truncated_tail, None, "zeros are not damage");
}

#[test]
fn a_flipped_byte_in_any_earlier_record_fails_open_naming_file_and_offset() {
    let (template, _) = write_template();
    let segs = segments(&template.path().join("wal"));
    let mut checked = 0;
    for (si, seg) in segs.iter().enumerate() {
        let mut spans = record_spans(seg);
        if si + 1 == segs.len() {
            spans.pop(); // the final record may be torn; covered above
        }
        for (off, len) in spans {
            let places = [
                ("length prefix", off),
                ("payload checksum", off + 5),
                ("header checksum", off + 10),
                ("payload", off + HEADER_LEN + (len - HEADER_LEN) / 2),
            ];
            for (what, at) in places {
                let (_keep, wal_dir) = copy_wal(template.path());
                let path = wal_dir.join(seg.file_name().unwrap());
                let mut bytes = fs::read(&path).unwrap();
                bytes[at] ^= 0x01;
                fs::write(&path, bytes).unwrap();

                let err = Wal::open(&wal_dir, OPTIONS)
                    .err()
                    .unwrap_or_else(|| panic!("{what} flip at {}:{at} was accepted", si));
                match &err {
                    wal::Error::Corrupt {
                        file,
                        offset,
                        reason: Corruption::Record(_),
                    } => {
                        assert_eq!(file, &path, "{what}");
                        assert_eq!(*offset, off as u64, "{what}");
                    }
                    other => panic!("{what} flip at {}:{at}: wrong error {other}", si),
                }
                let msg = err.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert!(msg.contains(&format!("offset {off}")), "{msg}");
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} cases: the template is too small"
    );
}
