//! The write-ahead log: Raft's entries, hard state and snapshot markers on
//! disk, append-only, in segment files under one directory (the server uses
//! `<data-dir>/member/wal/`).
//!
//! It owns the segment files and their byte format, group commit (one
//! fdatasync per batch), rotation, replay on open, torn-tail repair and the
//! fsync latency histogram. It must never interpret entry data, decide what
//! Raft should persist, or keep going after a failed write or fsync: once a
//! write fails the on-disk state is unknown, so every later write is refused
//! ([`Error::Failed`]) and the member must stop. Reading the files again
//! (open) is the only way back.
//!
//! # Files
//!
//! Segments are named `<seq>-<index>.wal`, both 16 lowercase hex digits:
//! `seq` counts up from 0 without gaps, so names sort in log order; `index`
//! is the first entry index the segment may hold (the last index written
//! before it, plus one; a later overwrite of a conflicting suffix may still
//! write lower indexes into it). A new segment is written in full as
//! `<name>.tmp`, fsynced, renamed into place and the directory fsynced, so a
//! segment either exists with its complete head or not at all; leftover
//! `.tmp` files are deleted on open. Zeros are written ahead of the
//! records, a mebibyte at a time (the *reserve*), so that a file is
//! usually longer than its records: an fdatasync of records written into
//! the reserve has no file size or block allocation to record, only the
//! data (on ext4, two of its four waits for the disk). Zeros after the last
//! record are the reserve, not damage. Appends into the tail segment are
//! where a crash can leave a torn record. A segment is rotated, after the
//! batch that fills it, once its records reach
//! [`WalOptions::segment_size`]; the full segment is fsynced first, so only
//! the last segment can ever have a torn tail.
//!
//! Every segment starts with a head that restates the WAL's state at its
//! creation: a metadata record, the latest snapshot marker and (if not
//! empty) the latest hard state. That is what lets [`Wal::release_to`]
//! delete old segments without losing anything but obsolete entries.
//!
//! # Record layout
//!
//! All integers little-endian. Every record is framed the same way:
//!
//! ```text
//! offset  size  field
//!  0       4    len          payload length in bytes (1 ..= 256 MiB)
//!  4       4    payload_crc  CRC-32C of the payload
//!  8       4    header_crc   CRC-32C of bytes 0..8
//! 12     len    payload      kind (1 byte) then the kind's fields
//! ```
//!
//! The header has its own checksum so that a length running past the end
//! of the file can be told apart: a verified length is a genuine record cut
//! short by a crash; an unverified one is corruption. An all-zero header
//! never verifies, so a zero-filled tail is never mistaken for a record.
//!
//! Payloads, by kind:
//!
//! ```text
//! 1 metadata    cluster_id u64, member_id u64
//! 2 entry       term u64, index u64, type u8 (0 normal, 1 conf change), data (rest)
//! 3 hard state  term u64, vote u64, commit u64
//! 4 snapshot    index u64, term u64, replaces_log u8 (0 or 1),
//!               voters: count u32 + u64 each, learners: count u32 + u64 each
//! ```
//!
//! # Replay
//!
//! [`Wal::open`] reads every segment in order and folds the records the way
//! the in-memory log ([`crate::raft::MemStorage`]) would have seen them:
//! an entry replaces any entry at or after its index; entries at or before
//! the latest snapshot marker are obsolete; a marker with `replaces_log`
//! (a snapshot installed from the leader) forgets all entries before it;
//! the last hard state wins. Reading a segment stops where only zeros are
//! left (the reserve). A crash can only tear the final record of the last
//! segment; "the end" below is where the trailing zeros begin: a short
//! header, a verified length that runs past the end, or a last record
//! whose payload checksum fails and that reaches the end. Such a tail is
//! truncated away with a warning and reported in [`OpenReport`]. Any other
//! damage, anywhere, fails the open with [`Error::Corrupt`] naming the file
//! and the record's byte offset: data is never skipped silently.
//!
//! # Invariants
//! - Records are only ever appended (written over the reserve's zeros); a
//!   file is only ever truncated at open, and only to cut a torn tail.
//! - When [`Wal::save`] returns `Ok` with `must_sync`, everything written so
//!   far is durable (one fdatasync per batch).
//! - Segment seqs on disk are contiguous; only a prefix is ever deleted.

mod histogram;
mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::raft::{Entry, HardState};
use record::{decode_at, decode_header};

pub use histogram::{Histogram, HistogramSnapshot};
pub use record::{
    DecodeError, HEADER_LEN, MAX_PAYLOAD_LEN, Metadata, Record, SnapshotMarker, decode, encode,
};

/// Segment size at which the WAL rotates, as etcd's.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// Zeros are written ahead of the records in steps of this many bytes (see
/// the module docs), never past the segment size.
const RESERVE_STEP: u64 = 1 << 20;

/// An fsync slower than this is worth a warning: the disk is too slow for
/// Raft's heartbeats.
const SLOW_FSYNC: Duration = Duration::from_secs(1);

/// Why a WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wal: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Damage that a crash cannot explain: refuse to guess.
    #[error("wal: corrupt {} at byte offset {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: Corruption,
    },
    #[error("wal: no segment files in {}", dir.display())]
    NotFound { dir: PathBuf },
    #[error("wal: {} already holds segment files", dir.display())]
    AlreadyExists { dir: PathBuf },
    #[error("wal: segment with seq {missing} is missing in {}", dir.display())]
    MissingSegment { dir: PathBuf, missing: u64 },
    #[error("wal: file name {} is not <seq>-<index>.wal", path.display())]
    BadSegmentName { path: PathBuf },
    #[error(
        "wal: entries after snapshot {snapshot_index} start at {first_index}, not the next index"
    )]
    MissingEntries {
        snapshot_index: u64,
        first_index: u64,
    },
    #[error("wal: record too large: {0}")]
    TooLarge(DecodeError),
    /// An earlier write or fsync failed; the state on disk is unknown.
    #[error("wal: an earlier write failed; the WAL refuses further writes")]
    Failed,
}

/// What is wrong at a corrupt offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error(transparent)]
    Record(#[from] DecodeError),
    #[error("segment does not start with a metadata record")]
    MissingMetadata,
    #[error("metadata {found:?} differs from earlier segments' {expected:?}")]
    MetadataMismatch { expected: Metadata, found: Metadata },
    #[error("entry {index} leaves a gap after entry {last}")]
    Gap { index: u64, last: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug)]
pub struct WalOptions {
    /// Rotate to a new segment once the current one reaches this size.
    pub segment_size: u64,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// The log as the WAL holds it after replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub metadata: Metadata,
    /// The latest snapshot marker (index 0 when there has been none).
    pub snapshot: SnapshotMarker,
    pub hard_state: HardState,
    /// Entries after the snapshot, contiguous from `snapshot.index + 1`.
    pub entries: Vec<Entry>,
}

/// Repairs [`Wal::open`] made, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// A torn tail was cut from this file at this byte offset.
    pub truncated_tail: Option<(PathBuf, u64)>,
    /// Half-written segment files from an interrupted rotation, deleted.
    pub removed_temp_files: Vec<PathBuf>,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    /// The first index it may contain (see the module docs).
    index: u64,
    path: PathBuf,
}

/// An open WAL, positioned to append to its last segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    metadata: Metadata,
    /// Latest marker and hard state written, restated in each new segment.
    snapshot: SnapshotMarker,
    hard_state: HardState,
    /// Index of the last entry written (after overwrites), or the snapshot
    /// index; names the next segment.
    last_index: u64,
    segments: Vec<Segment>,
    tail: File,
    /// Where the tail segment's records end: the next record goes here.
    tail_len: u64,
    /// The tail file's length: zeros from `tail_len` up to here.
    reserved: u64,
    /// Bytes written to `tail` since its last fsync.
    dirty: bool,
    failed: bool,
    fsync: Arc<Histogram>,
    buf: Vec<u8>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn segment_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, index) = stem.split_once('-')?;
    if seq.len() != 16 || index.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(seq, 16).ok()?,
        u64::from_str_radix(index, 16).ok()?,
    ))
}

/// Makes a directory's entries (created, renamed, deleted files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// fdatasync, timed into `hist`; warns when slow.
fn timed_sync(file: &File, path: &Path, hist: &Histogram) -> Result<()> {
    let start = Instant::now();
    file.sync_data().map_err(io_err("fdatasync", path))?;
    let took = start.elapsed();
    hist.observe(took);
    if took > SLOW_FSYNC {
        tracing::warn!(
            file = %path.display(),
            took_ms = took.as_millis() as u64,
            "slow WAL fdatasync; the disk is too slow for Raft's timing"
        );
    }
    Ok(())
}

fn encode_into(out: &mut Vec<u8>, record: &Record) -> Result<()> {
    encode(record, out).map_err(Error::TooLarge)
}

/// The records every segment starts with.
fn encode_head(
    out: &mut Vec<u8>,
    metadata: Metadata,
    snapshot: &SnapshotMarker,
    hard_state: HardState,
) -> Result<()> {
    encode_into(out, &Record::Metadata(metadata))?;
    // Restated, not re-installed: replaying it must not forget entries that
    // earlier segments hold after it.
    let restated = SnapshotMarker {
        replaces_log: false,
        ..snapshot.clone()
    };
    encode_into(out, &Record::Snapshot(restated))?;
    if !hard_state.is_empty() {
        encode_into(out, &Record::HardState(hard_state))?;
    }
    Ok(())
}

/// Writes a complete segment atomically (temp file, fsync, rename, fsync
/// directory) and returns it opened for writing.
fn write_segment(
    dir: &Path,
    seq: u64,
    index: u64,
    contents: &[u8],
    hist: &Histogram,
) -> Result<(Segment, File)> {
    let path = dir.join(segment_name(seq, index));
    let tmp = path.with_extension("wal.tmp");
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(contents).map_err(io_err("write", &tmp))?;
    timed_sync(&f, &tmp, hist)?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
    sync_dir(dir)?;
    let tail = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    Ok((Segment { seq, index, path }, tail))
}

/// Lists segment files (sorted by seq) and deletes leftover temp files.
fn list_segments(dir: &Path, report: &mut OpenReport) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    let read = fs::read_dir(dir).map_err(io_err("read directory", dir))?;
    for dent in read {
        let dent = dent.map_err(io_err("read directory", dir))?;
        let name = dent.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = dent.path();
        if name.ends_with(".wal.tmp") {
            tracing::warn!(file = %path.display(), "removing half-written WAL segment");
            fs::remove_file(&path).map_err(io_err("remove", &path))?;
            report.removed_temp_files.push(path);
        } else if name.ends_with(".wal") {
            let (seq, index) =
                parse_segment_name(name).ok_or(Error::BadSegmentName { path: path.clone() })?;
            segments.push(Segment { seq, index, path });
        }
    }
    segments.sort_by_key(|s| s.seq);
    Ok(segments)
}

/// The replay state machine; see "Replay" in the module docs.
#[derive(Default)]
struct Fold {
    metadata: Option<Metadata>,
    snapshot: SnapshotMarker,
    hard_state: HardState,
    entries: Vec<Entry>,
}

impl Fold {
    fn apply(&mut self, record: Record) -> Result<(), Corruption> {
        match record {
            Record::Metadata(m) => match self.metadata {
                Some(expected) if expected != m => {
                    return Err(Corruption::MetadataMismatch { expected, found: m });
                }
                _ => self.metadata = Some(m),
            },
            Record::HardState(hs) => self.hard_state = hs,
            Record::Snapshot(marker) => {
                if marker.replaces_log {
                    self.entries.clear();
                } else {
                    let obsolete = self
                        .entries
                        .iter()
                        .take_while(|e| e.index <= marker.index)
                        .count();
                    self.entries.drain(..obsolete);
                }
                self.snapshot = marker;
            }
            Record::Entry(e) => {
                // As MemStorage::append: compacted indexes are ignored, and
                // an entry replaces everything from its index on.
                if e.index <= self.snapshot.index {
                    return Ok(());
                }
                if let (Some(first), Some(last)) = (self.entries.first(), self.entries.last()) {
                    if e.index > last.index + 1 {
                        return Err(Corruption::Gap {
                            index: e.index,
                            last: last.index,
                        });
                    }
                    let keep = e.index.saturating_sub(first.index) as usize;
                    self.entries.truncate(keep);
                }
                self.entries.push(e);
            }
        }
        Ok(())
    }
}

/// Whether decoding failed at `offset` the way an interrupted append fails
/// (see "Replay" in the module docs), as opposed to corruption.
fn is_torn_tail(buf: &[u8], offset: usize, err: &DecodeError) -> bool {
    let rest = without_trailing_zeros(&buf[offset..]);
    match err {
        // A short header, or a verified length running past the end.
        DecodeError::Truncated { .. } => true,
        DecodeError::PayloadChecksum => match decode_header(rest) {
            Ok((len, _)) => HEADER_LEN + len >= rest.len(),
            Err(_) => false,
        },
        DecodeError::HeaderChecksum | DecodeError::TooLong(_) | DecodeError::Malformed(_) => false,
    }
}

/// `bytes` without the zeros at its end.
fn without_trailing_zeros(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

impl Wal {
    /// Creates a WAL in `dir` (made if missing) whose first segment holds
    /// `metadata`, `snapshot`, `hard_state` and `entries`, durably: a crash
    /// leaves either no segment or all of it.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if `dir` already holds segments.
    pub fn create(
        dir: &Path,
        options: WalOptions,
        metadata: Metadata,
        snapshot: SnapshotMarker,
        hard_state: HardState,
        entries: &[Entry],
    ) -> Result<Wal> {
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        // Make the new directory's own entry durable; a bare relative name
        // has an empty parent, which is the working directory.
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => sync_dir(p)?,
            _ => sync_dir(Path::new("."))?,
        }
        let mut report = OpenReport::default();
        if !list_segments(dir, &mut report)?.is_empty() {
            return Err(Error::AlreadyExists {
                dir: dir.to_path_buf(),
            });
        }
        let mut buf = Vec::new();
        encode_head(&mut buf, metadata, &snapshot, hard_state)?;
        for e in entries {
            encode_into(&mut buf, &Record::Entry(e.clone()))?;
        }
        let last_index = entries.last().map_or(snapshot.index, |e| e.index);
        let fsync = Arc::new(Histogram::fsync());
        let (segment, tail) = write_segment(dir, 0, last_index + 1, &buf, &fsync)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            options,
            metadata,
            snapshot,
            hard_state,
            last_index,
            segments: vec![segment],
            tail,
            tail_len: buf.len() as u64,
            reserved: buf.len() as u64,
            dirty: false,
            failed: false,
            fsync,
            buf: Vec::new(),
        })
    }

    /// Opens the WAL in `dir`, replays it and repairs a torn tail.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for damage a crash cannot explain (naming file and
    /// offset), [`Error::NotFound`] without segments,
    /// [`Error::MissingSegment`] for a hole in the seqs, I/O errors.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Replayed, OpenReport)> {
        let mut report = OpenReport::default();
        let segments = list_segments(dir, &mut report)?;
        if segments.is_empty() {
            return Err(Error::NotFound {
                dir: dir.to_path_buf(),
            });
        }
        for pair in segments.windows(2) {
            if pair[1].seq != pair[0].seq + 1 {
                return Err(Error::MissingSegment {
                    dir: dir.to_path_buf(),
                    missing: pair[0].seq + 1,
                });
            }
        }
        if !report.removed_temp_files.is_empty() {
            sync_dir(dir)?;
        }

        let mut fold = Fold::default();
        let mut tail_len = 0;
        for (i, seg) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            let buf = Bytes::from(fs::read(&seg.path).map_err(io_err("read", &seg.path))?);
            let corrupt = |offset: usize, reason: Corruption| Error::Corrupt {
                file: seg.path.clone(),
                offset: offset as u64,
                reason,
            };
            // Records end where only the reserve's zeros are left (a
            // record's own last bytes may be zeros too: it is decoded
            // from the whole file).
            let records_end = without_trailing_zeros(&buf).len();
            let mut offset = 0;
            while offset < records_end {
                match decode_at(&buf, offset) {
                    Ok((record, used)) => {
                        if offset == 0 && !matches!(record, Record::Metadata(_)) {
                            return Err(corrupt(0, Corruption::MissingMetadata));
                        }
                        fold.apply(record).map_err(|r| corrupt(offset, r))?;
                        offset += used;
                    }
                    Err(e) if is_last && offset > 0 && is_torn_tail(&buf, offset, &e) => {
                        tracing::warn!(
                            file = %seg.path.display(),
                            offset,
                            error = %e,
                            "truncating torn WAL tail left by an interrupted write"
                        );
                        let f = OpenOptions::new()
                            .write(true)
                            .open(&seg.path)
                            .map_err(io_err("open", &seg.path))?;
                        f.set_len(offset as u64)
                            .map_err(io_err("truncate", &seg.path))?;
                        f.sync_all().map_err(io_err("fsync", &seg.path))?;
                        report.truncated_tail = Some((seg.path.clone(), offset as u64));
                        break;
                    }
                    Err(e) => return Err(corrupt(offset, e.into())),
                }
            }
            if offset == 0 {
                return Err(corrupt(0, Corruption::MissingMetadata));
            }
            tail_len = offset as u64;
        }

        let snapshot_index = fold.snapshot.index;
        if let Some(first) = fold.entries.first() {
            if first.index != snapshot_index + 1 {
                return Err(Error::MissingEntries {
                    snapshot_index,
                    first_index: first.index,
                });
            }
        }
        let last = segments.last().expect("checked non-empty above");
        let tail = OpenOptions::new()
            .write(true)
            .open(&last.path)
            .map_err(io_err("open", &last.path))?;
        // Past the records, the file holds the reserve's zeros.
        let reserved = tail.metadata().map_err(io_err("stat", &last.path))?.len();
        let replayed = Replayed {
            metadata: fold.metadata.expect("every segment starts with metadata"),
            snapshot: fold.snapshot,
            hard_state: fold.hard_state,
            entries: fold.entries,
        };
        let wal = Wal {
            dir: dir.to_path_buf(),
            options,
            metadata: replayed.metadata,
            snapshot: replayed.snapshot.clone(),
            hard_state: replayed.hard_state,
            last_index: replayed.entries.last().map_or(snapshot_index, |e| e.index),
            segments,
            tail,
            tail_len,
            reserved,
            dirty: false,
            failed: false,
            fsync: Arc::new(Histogram::fsync()),
            buf: Vec::new(),
        };
        Ok((wal, replayed, report))
    }

    /// Appends `entries`, then `hard_state`, as one batch; with `must_sync`
    /// one fdatasync makes the batch (and everything before it) durable.
    /// Rotates afterwards if the segment is full.
    ///
    /// # Errors
    /// [`Error::TooLarge`] before anything is written; I/O errors, after
    /// which the WAL refuses further writes ([`Error::Failed`]).
    pub fn save(
        &mut self,
        hard_state: Option<HardState>,
        entries: &[Entry],
        must_sync: bool,
    ) -> Result<()> {
        if self.failed {
            return Err(Error::Failed);
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let encoded = entries
            .iter()
            .try_for_each(|e| encode_into(&mut buf, &Record::Entry(e.clone())))
            .and_then(|()| match hard_state {
                Some(hs) => encode_into(&mut buf, &Record::HardState(hs)),
                None => Ok(()),
            });
        let written = encoded.and_then(|()| self.append(&buf));
        self.buf = buf;
        written?;
        if let Some(last) = entries.last() {
            self.last_index = last.index;
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs;
        }
        if must_sync {
            self.sync()?;
        }
        if self.tail_len >= self.options.segment_size {
            self.rotate()?;
        }
        Ok(())
    }

    /// Records a snapshot marker and syncs: from here on, replay ignores
    /// entries at or before `marker.index` (or, with `replaces_log`, every
    /// entry written before it). The snapshot file must already be durable.
    pub fn save_snapshot(&mut self, marker: &SnapshotMarker) -> Result<()> {
        if self.failed {
            return Err(Error::Failed);
        }
        let mut buf = Vec::new();
        encode_into(&mut buf, &Record::Snapshot(marker.clone()))?;
        self.append(&buf)?;
        if marker.replaces_log {
            self.last_index = marker.index;
        } else {
            self.last_index = self.last_index.max(marker.index);
        }
        self.snapshot = marker.clone();
        self.sync()?;
        if self.tail_len >= self.options.segment_size {
            self.rotate()?;
        }
        Ok(())
    }

    /// fdatasyncs the tail segment if anything was written since the last
    /// sync.
    pub fn sync(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::Failed);
        }
        if !self.dirty {
            return Ok(());
        }
        let path = &self.segments.last().expect("a WAL has a segment").path;
        if let Err(e) = timed_sync(&self.tail, path, &self.fsync) {
            // After a failed fsync the kernel may have dropped the dirty
            // pages: retrying could report success for lost data.
            self.failed = true;
            return Err(e);
        }
        self.dirty = false;
        Ok(())
    }

    /// Deletes the segments that hold nothing but entries at or before
    /// `index` (which a durable snapshot covers), oldest first, keeping the
    /// segment that holds the snapshot boundary and every later one.
    /// Returns how many were deleted.
    pub fn release_to(&mut self, index: u64) -> Result<usize> {
        // Segment k's live entries all precede the next segment's name
        // index (that was last_index + 1 when k was closed).
        let n = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].index <= index.saturating_add(1))
            .count();
        if n == 0 {
            return Ok(0);
        }
        for seg in self.segments.drain(..n) {
            fs::remove_file(&seg.path).map_err(io_err("remove", &seg.path))?;
        }
        sync_dir(&self.dir)?;
        Ok(n)
    }

    /// The fsync latency histogram, shareable with a metrics endpoint.
    pub fn fsync_histogram(&self) -> Arc<Histogram> {
        Arc::clone(&self.fsync)
    }

    pub fn metadata(&self) -> Metadata {
        self.metadata
    }

    /// Paths of the current segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let path = &self.segments.last().expect("a WAL has a segment").path;
        let needed = self.tail_len + bytes.len() as u64;
        if needed > self.reserved {
            // The next sync makes the zeros durable with the records.
            let target = needed
                .next_multiple_of(RESERVE_STEP)
                .min(self.options.segment_size)
                .max(needed);
            let zeros = vec![0u8; (target - self.reserved) as usize];
            if let Err(e) = self.tail.write_all_at(&zeros, self.reserved) {
                self.failed = true;
                return Err(io_err("write", path)(e));
            }
            self.reserved = target;
        }
        if let Err(e) = self.tail.write_all_at(bytes, self.tail_len) {
            // Part of the batch may be in the file: the tail is unknown.
            self.failed = true;
            return Err(io_err("write", path)(e));
        }
        self.tail_len += bytes.len() as u64;
        self.dirty = true;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        self.sync()?;
        let seq = self.segments.last().expect("a WAL has a segment").seq + 1;
        let mut head = Vec::new();
        encode_head(&mut head, self.metadata, &self.snapshot, self.hard_state)?;
        let (segment, tail) =
            write_segment(&self.dir, seq, self.last_index + 1, &head, &self.fsync).inspect_err(
                |_| {
                    // A failed rotation may leave a temp file (cleaned at
                    // open) but never a partial segment; still, stop here.
                    self.failed = true;
                },
            )?;
        self.segments.push(segment);
        self.tail = tail;
        self.tail_len = head.len() as u64;
        self.reserved = self.tail_len;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
