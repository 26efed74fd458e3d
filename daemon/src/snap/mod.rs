//! Raft snapshot files: one file per snapshot under one directory (the
//! server uses `<data-dir>/member/snap/`).
//!
//! It owns the file format, atomic writes, choosing which file to load and
//! purging old files. It must never decide *when* to snapshot, interpret the
//! data bytes (the MVCC store's image), or load a snapshot the WAL does not
//! vouch for: a snapshot file is written before its WAL marker, so a crash in
//! between leaves a valid file the log knows nothing about, and using it
//! would skip entries the WAL never compacted.
//!
//! # Files
//!
//! Named `<term>-<index>.snap`, both 16 lowercase hex digits. Written as
//! `<name>.tmp`, fsynced, renamed, directory fsynced: a name that exists
//! holds a complete file. Layout, integers little-endian:
//!
//! ```text
//! magic "CAIRNSNP" (8 bytes), version u8 = 1,
//! index u64, term u64,
//! voters: count u32 + u64 each, learners: count u32 + u64 each,
//! data_len u64, data,
//! crc u32: CRC-32C of every byte before it
//! ```
//!
//! # Invariants
//! - A file is never modified after its rename; only deleted by
//!   [`Snapshotter::purge`].
//! - [`Snapshotter::load_newest`] returns exactly the snapshot the WAL's
//!   latest marker names, or an error; never an older or newer one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes};

use crate::raft::{ConfState, Snapshot, SnapshotMetadata};
use crate::wal::SnapshotMarker;

const MAGIC: &[u8; 8] = b"CAIRNSNP";
const VERSION: u8 = 1;

/// How many snapshot files [`Snapshotter::purge`] keeps by default (etcd's
/// `--max-snapshots` default).
pub const DEFAULT_KEEP: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("snap: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("snap: corrupt snapshot file {}: {reason}", file.display())]
    Corrupt { file: PathBuf, reason: Corruption },
    /// The WAL says a snapshot exists that no file holds: the member cannot
    /// rebuild its state and must not start.
    #[error(
        "snap: the WAL's latest snapshot marker (term {term}, index {index}) has no snapshot file in {}",
        dir.display()
    )]
    Missing { dir: PathBuf, term: u64, index: u64 },
}

/// What is wrong with a snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("checksum mismatch")]
    Checksum,
    #[error("file too short")]
    Truncated,
    #[error("not a cairn snapshot file (bad magic or version)")]
    BadMagic,
    #[error("malformed field layout")]
    Malformed,
    #[error("contents (term {term}, index {index}) do not match the file name")]
    NameMismatch { term: u64, index: u64 },
    #[error("membership differs from the WAL marker's")]
    ConfStateMismatch,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The file name for a snapshot at `term`, `index`.
pub fn file_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let (term, index) = name.strip_suffix(".snap")?.split_once('-')?;
    if term.len() != 16 || index.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(term, 16).ok()?,
        u64::from_str_radix(index, 16).ok()?,
    ))
}

/// Encodes a snapshot file's bytes.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    let meta = &snap.metadata;
    let cs = &meta.conf_state;
    let mut out = Vec::with_capacity(64 + snap.data.len() + 8 * cs.voters.len());
    out.extend_from_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_u64_le(meta.index);
    out.put_u64_le(meta.term);
    for ids in [&cs.voters, &cs.learners] {
        out.put_u32_le(u32::try_from(ids.len()).unwrap_or(u32::MAX));
        for id in ids {
            out.put_u64_le(*id);
        }
    }
    out.put_u64_le(snap.data.len() as u64);
    out.extend_from_slice(&snap.data);
    let crc = crc32c::crc32c(&out);
    out.put_u32_le(crc);
    out
}

/// Decodes a snapshot file's bytes; data shares `buf`.
pub fn decode(buf: &Bytes) -> Result<Snapshot, Corruption> {
    let (body, crc) = buf.split_last_chunk::<4>().ok_or(Corruption::Truncated)?;
    if crc32c::crc32c(body) != u32::from_le_bytes(*crc) {
        return Err(Corruption::Checksum);
    }
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(Corruption::BadMagic)?;
    let mut c = Cursor(rest);
    if c.take(1)?[0] != VERSION {
        return Err(Corruption::BadMagic);
    }
    let index = c.u64()?;
    let term = c.u64()?;
    let voters = c.ids()?;
    let learners = c.ids()?;
    let data_len = usize::try_from(c.u64()?).map_err(|_| Corruption::Malformed)?;
    if c.0.len() != data_len {
        return Err(Corruption::Malformed);
    }
    let start = body.len() - data_len;
    Ok(Snapshot {
        data: buf.slice(start..start + data_len),
        metadata: SnapshotMetadata {
            conf_state: ConfState { voters, learners },
            index,
            term,
        },
    })
}

/// Reads fields off the front of a checksummed body.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corruption> {
        if self.0.len() < n {
            return Err(Corruption::Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, Corruption> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn ids(&mut self) -> Result<Vec<u64>, Corruption> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        let raw = self.take(n.checked_mul(8).ok_or(Corruption::Malformed)?)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

/// Reads and writes the snapshot files in one directory.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    dir: PathBuf,
}

impl Snapshotter {
    /// Opens (creating if needed) the snapshot directory and deletes temp
    /// files left by a crash mid-save.
    pub fn new(dir: &Path) -> Result<Snapshotter> {
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let read = fs::read_dir(dir).map_err(io_err("read directory", dir))?;
        for dent in read {
            let path = dent.map_err(io_err("read directory", dir))?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                tracing::warn!(file = %path.display(), "removing half-written snapshot file");
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
            }
        }
        Ok(Snapshotter {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `snap` durably and atomically; returns its path.
    pub fn save(&self, snap: &Snapshot) -> Result<PathBuf> {
        let meta = &snap.metadata;
        let path = self.dir.join(file_name(meta.term, meta.index));
        let tmp = path.with_extension("snap.tmp");
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&encode(snap)).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", &self.dir))?;
        Ok(path)
    }

    /// Reads the file for `term`, `index` and checks it names itself.
    pub fn load(&self, term: u64, index: u64) -> Result<Snapshot> {
        let path = self.dir.join(file_name(term, index));
        let buf = match fs::read(&path) {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Missing {
                    dir: self.dir.clone(),
                    term,
                    index,
                });
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let corrupt = |reason| Error::Corrupt {
            file: path.clone(),
            reason,
        };
        let snap = decode(&buf).map_err(corrupt)?;
        if snap.metadata.term != term || snap.metadata.index != index {
            return Err(corrupt(Corruption::NameMismatch {
                term: snap.metadata.term,
                index: snap.metadata.index,
            }));
        }
        Ok(snap)
    }

    /// Loads the snapshot the WAL's latest marker names (`None` for a
    /// marker at index 0: no snapshot yet).
    ///
    /// Files newer than the marker are skipped with a warning, valid or not:
    /// they were written by a save whose WAL marker never became durable.
    ///
    /// # Errors
    /// [`Error::Missing`] or [`Error::Corrupt`] if the marker's own file is
    /// absent or damaged. An older valid file is no substitute: the WAL has
    /// released the entries between the two.
    pub fn load_newest(&self, marker: &SnapshotMarker) -> Result<Option<Snapshot>> {
        for (term, index, path) in self.list()?.into_iter().rev() {
            if index > marker.index || (index == marker.index && term != marker.term) {
                tracing::warn!(
                    file = %path.display(),
                    wal_marker_index = marker.index,
                    "ignoring snapshot file the WAL has no marker for"
                );
            }
        }
        if marker.index == 0 {
            return Ok(None);
        }
        let snap = self.load(marker.term, marker.index)?;
        if snap.metadata.conf_state != marker.conf_state {
            return Err(Error::Corrupt {
                file: self.dir.join(file_name(marker.term, marker.index)),
                reason: Corruption::ConfStateMismatch,
            });
        }
        Ok(Some(snap))
    }

    /// Deletes all but the `keep` newest snapshot files (by index). Returns
    /// how many were deleted. Call only after the newest file's WAL marker
    /// is durable.
    pub fn purge(&self, keep: usize) -> Result<usize> {
        let files = self.list()?;
        let excess = files.len().saturating_sub(keep.max(1));
        for (_, _, path) in &files[..excess] {
            fs::remove_file(path).map_err(io_err("remove", path))?;
        }
        Ok(excess)
    }

    /// Snapshot files as `(term, index, path)`, oldest first.
    fn list(&self) -> Result<Vec<(u64, u64, PathBuf)>> {
        let mut files = Vec::new();
        let read = fs::read_dir(&self.dir).map_err(io_err("read directory", &self.dir))?;
        for dent in read {
            let path = dent.map_err(io_err("read directory", &self.dir))?.path();
            let parsed = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_file_name);
            if let Some((term, index)) = parsed {
                files.push((term, index, path));
            }
        }
        files.sort_by_key(|(term, index, _)| (*index, *term));
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(term: u64, index: u64, data: &'static [u8]) -> Snapshot {
        Snapshot {
            data: Bytes::from_static(data),
            metadata: SnapshotMetadata {
                conf_state: ConfState {
                    voters: vec![1, 2, 3],
                    learners: vec![4],
                },
                index,
                term,
            },
        }
    }

    fn marker(s: &Snapshot) -> SnapshotMarker {
        SnapshotMarker {
            index: s.metadata.index,
            term: s.metadata.term,
            conf_state: s.metadata.conf_state.clone(),
            replaces_log: false,
        }
    }

    #[test]
    fn file_name_is_term_then_index_in_hex() {
        assert_eq!(file_name(2, 0x41), "0000000000000002-0000000000000041.snap");
        assert_eq!(parse_file_name(&file_name(2, 0x41)), Some((2, 0x41)));
    }

    #[test]
    fn encode_decode_round_trips() {
        let s = snap(3, 9, b"image");
        assert_eq!(decode(&Bytes::from(encode(&s))), Ok(s));
    }

    #[test]
    fn every_byte_flip_is_detected() {
        let buf = encode(&snap(3, 9, b"image"));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(
                decode(&Bytes::from(bad)).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn save_is_atomic_leaving_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        let path = s.save(&snap(2, 5, b"x")).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|d| d.unwrap().path())
            .collect();
        assert_eq!(names, vec![path]);
    }

    #[test]
    fn a_leftover_temp_file_is_removed_and_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(format!("{}.tmp", file_name(2, 5)));
        fs::write(&tmp, encode(&snap(2, 5, b"x"))).unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        assert!(!tmp.exists());
        let err = s.load_newest(&marker(&snap(2, 5, b"x"))).unwrap_err();
        assert!(matches!(err, Error::Missing { index: 5, .. }), "{err}");
    }

    #[test]
    fn loads_the_file_the_wal_marker_names_not_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        let old = snap(2, 5, b"old");
        s.save(&old).unwrap();
        // Saved, but the crash came before its WAL marker.
        s.save(&snap(3, 9, b"new")).unwrap();
        assert_eq!(s.load_newest(&marker(&old)).unwrap(), Some(old));
    }

    #[test]
    fn a_corrupt_newer_file_is_skipped_when_the_wal_names_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        let old = snap(2, 5, b"old");
        s.save(&old).unwrap();
        fs::write(dir.path().join(file_name(3, 9)), b"garbage").unwrap();
        assert_eq!(s.load_newest(&marker(&old)).unwrap(), Some(old));
    }

    #[test]
    fn refuses_when_the_markers_file_is_corrupt_even_if_an_older_one_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        s.save(&snap(2, 5, b"old")).unwrap();
        let new = snap(3, 9, b"new");
        let path = s.save(&new).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[20] ^= 1;
        fs::write(&path, bytes).unwrap();
        let err = s.load_newest(&marker(&new)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Corrupt {
                    reason: Corruption::Checksum,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&file_name(3, 9)), "{err}");
    }

    #[test]
    fn marker_at_index_zero_means_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        assert_eq!(s.load_newest(&SnapshotMarker::default()).unwrap(), None);
    }

    #[test]
    fn purge_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path()).unwrap();
        for i in 1..=7 {
            s.save(&snap(1, i * 10, b"x")).unwrap();
        }
        assert_eq!(s.purge(3).unwrap(), 4);
        let left: Vec<u64> = s.list().unwrap().iter().map(|f| f.1).collect();
        assert_eq!(left, vec![50, 60, 70]);
    }
}
