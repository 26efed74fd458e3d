//! The narrow window through which the MVCC store reaches stable storage.
//!
//! Owns: the [`Backend`] trait and its contract, the [`WriteBatch`] type,
//! the snapshot dump format, and the two implementations — [`SledBackend`]
//! (the real one) and [`MemBackend`] (its in-memory twin for unit tests and
//! the simulator). Both pass the one conformance suite at the bottom of this
//! file. Must never: interpret keys or values (that is `schema.rs`,
//! `revision.rs` and the store's business) or decide *when* to flush (the
//! store's commit policy does).
//!
//! # Contract
//! - [`Backend::write`] applies a whole batch atomically across trees: after
//!   a crash either all of it or none of it is there, and it never becomes
//!   durable before an earlier batch. It is visible to reads as soon as it
//!   returns, durable only after a later [`Backend::flush`] returns.
//! - Operations in a batch apply in order (a put then a delete of the same
//!   key leaves it deleted).
//! - Scans visit keys in ascending byte order.
//! - An `Err` from any method is fatal to the caller: the backend promises
//!   nothing about state after one, and the node must stop.
//! - Callers serialise writes (one writer); reads may run alongside.

mod memory;
mod sled;
mod staged;

pub use self::memory::MemBackend;
pub use self::sled::{SledBackend, SledOptions};
pub use self::staged::Staged;

use super::schema::Tree;
use std::fmt::Debug;

/// What a backend can fail with. Every variant is fatal to the store.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("sled: {0}")]
    Sled(#[from] ::sled::Error),
    #[error("snapshot dump is malformed: {0}")]
    BadDump(&'static str),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// One write in a [`WriteBatch`]: `Some` value to insert, `None` to delete.
pub type BatchOp = (Tree, Vec<u8>, Option<Vec<u8>>);

/// Writes applied together, atomically, in order.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, tree: Tree, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((tree, key.into(), Some(value.into())));
    }

    pub fn delete(&mut self, tree: Tree, key: impl Into<Vec<u8>>) {
        self.ops.push((tree, key.into(), None));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }
}

/// Sizes reported by [`Backend::size`], in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackendSize {
    /// Space the backend occupies on disk (for the memory twin: same as
    /// `in_use`).
    pub on_disk: u64,
    /// Sum of the lengths of every live key and value: what a defragmented
    /// backend would need, roughly.
    pub in_use: u64,
}

/// Called for each entry of a scan; return `false` to stop early.
pub type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> bool;

/// Stable storage for the store's trees. See the module docs for the
/// contract every implementation keeps.
pub trait Backend: Send + Sync + Debug {
    /// The value under `key` in `tree`.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;

    /// Visits `tree`'s entries with `start <= key < end` (no upper bound
    /// when `end` is `None`) in ascending key order, until `visit` returns
    /// `false`.
    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> Result<(), BackendError>;

    /// Applies `batch` atomically; visible on return, durable after the
    /// next [`Backend::flush`].
    fn write(&self, batch: &WriteBatch) -> Result<(), BackendError>;

    /// Makes every write that has returned durable.
    fn flush(&self) -> Result<(), BackendError>;

    /// Space on disk and space in use. May walk every tree: not for hot
    /// paths.
    fn size(&self) -> Result<BackendSize, BackendError>;

    /// Space on disk alone, cheaply where the backend can (the quota
    /// check reads it after every apply).
    fn size_on_disk(&self) -> Result<u64, BackendError> {
        Ok(self.size()?.on_disk)
    }

    /// Replaces the whole contents with a dump made by [`Backend::snapshot`]
    /// (of either implementation), atomically, and flushes. The dump is
    /// checked before anything is changed.
    fn restore(&self, dump: &[u8]) -> Result<(), BackendError>;

    /// Dumps every tree into bytes [`Backend::restore`] accepts.
    fn snapshot(&self) -> Result<Vec<u8>, BackendError> {
        dump::write(self)
    }

    /// First half of a defragmentation: writes a compact copy of every
    /// tree beside the live data. Readers may go on meanwhile; the caller
    /// keeps writers out until [`Backend::defragment_swap`], or calls this
    /// again if a write slipped in. Backends with no free space to reclaim
    /// (memory) do nothing.
    fn defragment_copy(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Second half: the copy becomes the live data and the old file goes.
    /// Crash-safe: a restart finds either the old data or the copy, whole.
    fn defragment_swap(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// The snapshot dump: a magic header, then every entry of every tree in
/// [`Tree::ALL`] order as `tree:u8 klen:u32 key vlen:u32 value` (lengths
/// big-endian), then `0xFF` and a CRC-32C of everything before it. Simple on
/// purpose: it only has to carry state to a follower, once.
pub(crate) mod dump {
    use super::{Backend, BackendError, Tree};

    const MAGIC: &[u8] = b"CAIRNDB1";

    /// One entry of a dump: tree, key, value.
    pub(crate) type Entry = (Tree, Vec<u8>, Vec<u8>);
    const END: u8 = 0xFF;

    pub(crate) fn write<B: Backend + ?Sized>(b: &B) -> Result<Vec<u8>, BackendError> {
        let mut out = MAGIC.to_vec();
        for tree in Tree::ALL {
            b.scan(tree, &[], None, &mut |k, v| {
                out.push(tree.index() as u8);
                out.extend_from_slice(&(k.len() as u32).to_be_bytes());
                out.extend_from_slice(k);
                out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                out.extend_from_slice(v);
                true
            })?;
        }
        out.push(END);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        Ok(out)
    }

    /// The dump at the start of `bytes`, which may be followed by zero
    /// padding (a snapshot file pads the dump to whole 512-byte blocks):
    /// walks the framing to the end marker and its checksum, and requires
    /// nothing but zeros after it. The checksum itself is checked by
    /// [`read`].
    pub fn unpad(bytes: &[u8]) -> Result<&[u8], BackendError> {
        let bad = BackendError::BadDump;
        if !bytes.starts_with(MAGIC) {
            return Err(bad("missing header"));
        }
        let mut at = MAGIC.len();
        let len_at = |at: usize| -> Result<usize, BackendError> {
            let b = bytes.get(at..at + 4).ok_or(bad("truncated entry"))?;
            Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
        };
        loop {
            let tag = *bytes.get(at).ok_or(bad("truncated entry"))?;
            at += 1;
            if tag == END {
                break;
            }
            at += 4 + len_at(at)?;
            at += 4 + len_at(at)?;
        }
        let end = at + 4;
        if end > bytes.len() {
            return Err(bad("truncated checksum"));
        }
        if bytes[end..].iter().any(|&b| b != 0) {
            return Err(bad("bytes after the end marker"));
        }
        Ok(&bytes[..end])
    }

    /// Every entry of a dump, after checking its framing and checksum.
    pub(crate) fn read(bytes: &[u8]) -> Result<Vec<Entry>, BackendError> {
        let bad = BackendError::BadDump;
        if bytes.len() < MAGIC.len() + 5 || !bytes.starts_with(MAGIC) {
            return Err(bad("missing header"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().expect("4 bytes")) {
            return Err(bad("checksum mismatch"));
        }
        let mut rest = &body[MAGIC.len()..];
        let mut entries = Vec::new();
        let take = |rest: &mut &[u8], n: usize| -> Result<Vec<u8>, BackendError> {
            if rest.len() < n {
                return Err(bad("truncated entry"));
            }
            let (h, t) = rest.split_at(n);
            *rest = t;
            Ok(h.to_vec())
        };
        loop {
            let tag = take(&mut rest, 1)?[0];
            if tag == END {
                break;
            }
            let tree = Tree::from_index(tag as usize).ok_or(bad("unknown tree"))?;
            let klen = u32::from_be_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
            let key = take(&mut rest, klen as usize)?;
            let vlen = u32::from_be_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
            let value = take(&mut rest, vlen as usize)?;
            entries.push((tree, key, value));
        }
        if !rest.is_empty() {
            return Err(bad("bytes after the end marker"));
        }
        Ok(entries)
    }
}

/// The one conformance suite both implementations must pass.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    fn all(b: &dyn Backend, tree: Tree) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        b.scan(tree, &[], None, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
        out
    }

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    /// Runs every check against fresh backends made by `make`.
    pub(crate) fn run(make: &dyn Fn() -> Box<dyn Backend>) {
        get_sees_batch_across_trees(&*make());
        batch_applies_in_order(&*make());
        scan_is_ordered_bounded_and_stoppable(&*make());
        trees_are_independent(&*make());
        snapshot_restore_replaces_everything(&*make(), &*make());
        restore_rejects_damaged_dumps(&*make());
        size_tracks_contents(&*make());
    }

    fn get_sees_batch_across_trees(b: &dyn Backend) {
        assert_eq!(b.get(Tree::Key, b"a").unwrap(), None);
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, "a", "1");
        wb.put(Tree::Meta, "consistent_index", "9");
        b.write(&wb).unwrap();
        assert_eq!(b.get(Tree::Key, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(
            b.get(Tree::Meta, b"consistent_index").unwrap().as_deref(),
            Some(&b"9"[..])
        );
        b.flush().unwrap();
        b.write(&WriteBatch::new()).unwrap(); // empty batch is fine
    }

    fn batch_applies_in_order(b: &dyn Backend) {
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, "a", "1");
        wb.delete(Tree::Key, "a");
        wb.put(Tree::Key, "b", "1");
        wb.put(Tree::Key, "b", "2");
        b.write(&wb).unwrap();
        assert_eq!(all(b, Tree::Key), vec![kv("b", "2")]);
        let mut wb = WriteBatch::new();
        wb.delete(Tree::Key, "missing");
        b.write(&wb).unwrap();
    }

    fn scan_is_ordered_bounded_and_stoppable(b: &dyn Backend) {
        let mut wb = WriteBatch::new();
        for k in ["d", "a", "c", "b", "e", "\u{0}"] {
            wb.put(Tree::Key, k, k);
        }
        b.write(&wb).unwrap();
        let mut seen = Vec::new();
        b.scan(Tree::Key, b"b", Some(b"e"), &mut |k, _| {
            seen.push(k.to_vec());
            true
        })
        .unwrap();
        assert_eq!(seen, vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        let mut seen = Vec::new();
        b.scan(Tree::Key, b"c", None, &mut |k, _| {
            seen.push(k.to_vec());
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen, vec![b"c".to_vec(), b"d".to_vec()]);
        let mut n = 0;
        b.scan(Tree::Key, b"e", Some(b"b"), &mut |_, _| {
            n += 1;
            true
        })
        .unwrap();
        assert_eq!(n, 0, "an inverted range is empty");
        assert_eq!(all(b, Tree::Key).len(), 6);
    }

    fn trees_are_independent(b: &dyn Backend) {
        let mut wb = WriteBatch::new();
        wb.put(Tree::Lease, "x", "1");
        wb.put(Tree::AuthRoles, "x", "2");
        b.write(&wb).unwrap();
        assert_eq!(all(b, Tree::Lease), vec![kv("x", "1")]);
        assert_eq!(all(b, Tree::AuthRoles), vec![kv("x", "2")]);
        assert!(all(b, Tree::Key).is_empty());
    }

    fn snapshot_restore_replaces_everything(src: &dyn Backend, dst: &dyn Backend) {
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, "k", "v");
        wb.put(Tree::Members, "m1", "");
        wb.put(Tree::Meta, "term", vec![0u8, 1, 255]);
        src.write(&wb).unwrap();
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, "stale", "x");
        wb.put(Tree::Alarm, "stale", "x");
        dst.write(&wb).unwrap();

        let dump = src.snapshot().unwrap();
        dst.restore(&dump).unwrap();
        for tree in Tree::ALL {
            assert_eq!(all(src, tree), all(dst, tree), "tree {}", tree.name());
        }
        assert_eq!(dst.snapshot().unwrap(), dump);
    }

    fn restore_rejects_damaged_dumps(b: &dyn Backend) {
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, "keep", "me");
        b.write(&wb).unwrap();
        let good = b.snapshot().unwrap();
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        for bad in [&b"junk"[..], &good[..good.len() - 1], &flipped[..]] {
            assert!(matches!(b.restore(bad), Err(BackendError::BadDump(_))));
        }
        assert_eq!(
            all(b, Tree::Key),
            vec![kv("keep", "me")],
            "untouched on error"
        );
    }

    fn size_tracks_contents(b: &dyn Backend) {
        let before = b.size().unwrap();
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, vec![1u8; 100], vec![2u8; 1000]);
        b.write(&wb).unwrap();
        b.flush().unwrap();
        let after = b.size().unwrap();
        assert_eq!(after.in_use, before.in_use + 1100);
        assert!(after.on_disk > 0);
    }
}
