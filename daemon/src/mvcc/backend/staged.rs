//! [`Staged`]: wraps a backend so that a group of batches can be held back
//! and handed to it as one atomic batch.
//!
//! Why it exists: sled turns every atomic batch into its own log write. It
//! seals and writes its I/O buffer before and after each batch, on a thread
//! pool that wakes all of its idle threads per job. Applying raft entries
//! one batch each therefore cost two buffer writes, two `sync_file_range`
//! calls and about fourteen thread wake-ups per entry, a third of a
//! member's CPU under `etcdctl check perf`. The node instead opens a group
//! for all the entries one Ready commits, and sled sees one batch.
//!
//! Contract, on top of [`Backend`]'s:
//! - Between [`Staged::begin_group`] and [`Staged::end_group`], writes are
//!   visible at once to this backend's `get` and `scan` but reach the
//!   wrapped backend only at `end_group`, together, as one batch: after a
//!   crash either the whole group is there or none of it.
//! - [`Staged::discard_group`] drops a group's writes (the caller failed
//!   half way and must not persist half an entry).
//! - A group may stay open across many callers' writes (the node keeps one
//!   open for up to a tenth of a second). Whatever needs the wrapped
//!   backend complete first *spills* the group: its writes go down as one
//!   batch and an empty group stays open. `flush`, `defragment_copy` and
//!   `defragment_swap` spill; `restore` with a group open is a caller bug.
//! - Outside a group it is the wrapped backend, unchanged.
//!
//! Within a group only the last write of each key is kept: applying the
//! final value of every key at once has the same effect as applying the
//! batches in order, and keeps no second copy of the data.

use super::{Backend, BackendError, BackendSize, Visit, WriteBatch};
use crate::mvcc::schema::Tree;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

/// The latest staged value of each key of one tree (`None`: deleted).
type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An empty overlay for every tree.
fn empty_overlays() -> Vec<Overlay> {
    vec![Overlay::new(); Tree::ALL.len()]
}

#[derive(Debug)]
pub struct Staged {
    inner: Box<dyn Backend>,
    /// One overlay per tree (by [`Tree::index`]) while a group is open.
    group: Mutex<Option<Vec<Overlay>>>,
}

impl Staged {
    pub fn new(inner: Box<dyn Backend>) -> Self {
        Staged {
            inner,
            group: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Vec<Overlay>>> {
        // A panic while holding the lock leaves plain data behind, still
        // consistent: every method updates it with one map operation.
        self.group.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts holding writes back. Panics if a group is already open.
    pub fn begin_group(&self) {
        let mut group = self.lock();
        assert!(group.is_none(), "a write group is already open");
        *group = Some(empty_overlays());
    }

    /// Writes the open group's effects to the wrapped backend as one batch
    /// and closes the group. Without an open group, does nothing.
    pub fn end_group(&self) -> Result<(), BackendError> {
        let mut group = self.lock();
        let Some(overlays) = group.take() else {
            return Ok(());
        };
        // The lock is held until the batch is down, so that a reader never
        // finds a write in neither place.
        self.write_down(overlays)
    }

    /// Writes the open group's effects to the wrapped backend as one batch
    /// and leaves the group open, empty. Without an open group, does
    /// nothing. Safe beside readers (they see each write in the group or
    /// in the wrapped backend); the caller keeps writers out.
    pub fn spill(&self) -> Result<(), BackendError> {
        let mut group = self.lock();
        let Some(overlays) = group.as_mut() else {
            return Ok(());
        };
        let taken = std::mem::replace(overlays, empty_overlays());
        if let Err(e) = self.write_down(taken) {
            // Nothing of it may be half-remembered: the caller stops.
            *group = None;
            return Err(e);
        }
        Ok(())
    }

    fn write_down(&self, overlays: Vec<Overlay>) -> Result<(), BackendError> {
        let mut batch = WriteBatch::new();
        for (tree, overlay) in Tree::ALL.into_iter().zip(overlays) {
            for (key, value) in overlay {
                match value {
                    Some(v) => batch.put(tree, key, v),
                    None => batch.delete(tree, key),
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.write(&batch)
    }

    /// Closes the open group, dropping its writes.
    pub fn discard_group(&self) {
        self.lock().take();
    }

    /// The staged entries of `tree` with `start <= key < end`, copied out so
    /// that no lock is held while a scan calls back into the caller.
    fn staged_range(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let group = self.lock();
        let Some(overlay) = group.as_ref().map(|g| &g[tree.index()]) else {
            return Vec::new();
        };
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        overlay
            .range::<[u8], _>((Bound::Included(start), upper))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Backend for Staged {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        if let Some(staged) = self.lock().as_ref().and_then(|g| g[tree.index()].get(key)) {
            return Ok(staged.clone());
        }
        self.inner.get(tree, key)
    }

    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> Result<(), BackendError> {
        if end.is_some_and(|e| e <= start) {
            return Ok(());
        }
        let staged = self.staged_range(tree, start, end);
        if staged.is_empty() {
            return self.inner.scan(tree, start, end, visit);
        }
        // Merge two ascending streams; a staged entry replaces (or, when
        // deleted, hides) the stored entry with the same key.
        let mut next = 0;
        let mut stopped = false;
        self.inner.scan(tree, start, end, &mut |k, v| {
            while next < staged.len() && staged[next].0.as_slice() <= k {
                let (sk, sv) = &staged[next];
                next += 1;
                let replaces = sk.as_slice() == k;
                if let Some(sv) = sv
                    && !visit(sk, sv)
                {
                    stopped = true;
                    return false;
                }
                if replaces {
                    return true;
                }
            }
            if !visit(k, v) {
                stopped = true;
                return false;
            }
            true
        })?;
        if !stopped {
            for (sk, sv) in &staged[next..] {
                if let Some(sv) = sv
                    && !visit(sk, sv)
                {
                    break;
                }
            }
        }
        Ok(())
    }

    fn write(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        let mut group = self.lock();
        let Some(overlays) = group.as_mut() else {
            drop(group);
            return self.inner.write(batch);
        };
        for (tree, key, value) in batch.ops() {
            overlays[tree.index()].insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.spill()?;
        self.inner.flush()
    }

    fn size(&self) -> Result<BackendSize, BackendError> {
        self.inner.size()
    }

    fn size_on_disk(&self) -> Result<u64, BackendError> {
        self.inner.size_on_disk()
    }

    fn defragment_copy(&self) -> Result<(), BackendError> {
        self.spill()?;
        self.inner.defragment_copy()
    }

    fn defragment_swap(&mut self) -> Result<(), BackendError> {
        // A write that went into the group after the copy was made would be
        // in neither the copy nor the group: the caller prevents it (it
        // copies again when anything was applied since).
        self.spill()?;
        self.inner.defragment_swap()
    }

    fn restore(&self, dump: &[u8]) -> Result<(), BackendError> {
        assert!(self.lock().is_none(), "restore with a write group open");
        self.inner.restore(dump)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::backend::MemBackend;

    fn staged() -> Staged {
        Staged::new(Box::new(MemBackend::new()))
    }

    fn batch(ops: &[(&str, Option<&str>)]) -> WriteBatch {
        let mut b = WriteBatch::new();
        for (k, v) in ops {
            match v {
                Some(v) => b.put(Tree::Key, *k, *v),
                None => b.delete(Tree::Key, *k),
            }
        }
        b
    }

    fn scan_all(b: &dyn Backend) -> Vec<(String, String)> {
        let mut out = Vec::new();
        b.scan(Tree::Key, &[], None, &mut |k, v| {
            out.push((
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ));
            true
        })
        .unwrap();
        out
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn outside_a_group_it_is_the_wrapped_backend() {
        super::super::conformance::run(&|| Box::new(staged()));
    }

    #[test]
    fn group_writes_are_visible_at_once_and_stored_only_at_the_end() {
        let s = staged();
        s.write(&batch(&[
            ("a", Some("1")),
            ("c", Some("3")),
            ("e", Some("5")),
        ]))
        .unwrap();
        s.begin_group();
        s.write(&batch(&[("b", Some("2")), ("c", None)])).unwrap();
        s.write(&batch(&[("e", Some("55")), ("f", Some("6"))]))
            .unwrap();
        let merged = pairs(&[("a", "1"), ("b", "2"), ("e", "55"), ("f", "6")]);
        assert_eq!(scan_all(&s), merged);
        assert_eq!(s.get(Tree::Key, b"c").unwrap(), None);
        assert_eq!(s.get(Tree::Key, b"e").unwrap().as_deref(), Some(&b"55"[..]));
        assert_eq!(
            scan_all(&*s.inner),
            pairs(&[("a", "1"), ("c", "3"), ("e", "5")]),
            "nothing reaches the wrapped backend before end_group"
        );
        s.end_group().unwrap();
        assert_eq!(scan_all(&*s.inner), merged);
    }

    #[test]
    fn a_merged_scan_stops_where_the_visitor_says_and_keeps_bounds() {
        let s = staged();
        s.write(&batch(&[("b", Some("2")), ("d", Some("4"))]))
            .unwrap();
        s.begin_group();
        s.write(&batch(&[
            ("a", Some("1")),
            ("c", Some("3")),
            ("e", Some("5")),
        ]))
        .unwrap();
        let mut seen = Vec::new();
        s.scan(Tree::Key, b"b", Some(b"e"), &mut |k, _| {
            seen.push(k.to_vec());
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen, vec![b"b".to_vec(), b"c".to_vec()]);
        let mut tail = Vec::new();
        s.scan(Tree::Key, b"d", None, &mut |k, _| {
            tail.push(k.to_vec());
            true
        })
        .unwrap();
        assert_eq!(tail, vec![b"d".to_vec(), b"e".to_vec()]);
    }

    #[test]
    fn a_spill_writes_the_group_down_and_keeps_it_open() {
        let s = staged();
        s.begin_group();
        s.write(&batch(&[("a", Some("1")), ("b", Some("2"))]))
            .unwrap();
        s.spill().unwrap();
        assert_eq!(scan_all(&*s.inner), pairs(&[("a", "1"), ("b", "2")]));
        s.write(&batch(&[("b", None), ("c", Some("3"))])).unwrap();
        assert_eq!(
            scan_all(&*s.inner),
            pairs(&[("a", "1"), ("b", "2")]),
            "writes after a spill are held back again"
        );
        assert_eq!(scan_all(&s), pairs(&[("a", "1"), ("c", "3")]));
        s.flush().unwrap();
        assert_eq!(scan_all(&*s.inner), pairs(&[("a", "1"), ("c", "3")]));
        s.write(&batch(&[("d", Some("4"))])).unwrap();
        s.end_group().unwrap();
        assert_eq!(
            scan_all(&*s.inner),
            pairs(&[("a", "1"), ("c", "3"), ("d", "4")])
        );
    }

    #[test]
    fn defragmenting_spills_an_open_group_first() {
        let mut s = staged();
        s.begin_group();
        s.write(&batch(&[("a", Some("1"))])).unwrap();
        s.defragment_copy().unwrap();
        s.defragment_swap().unwrap();
        assert_eq!(scan_all(&*s.inner), pairs(&[("a", "1")]));
        s.end_group().unwrap();
    }

    #[test]
    fn a_discarded_group_leaves_no_trace() {
        let s = staged();
        s.begin_group();
        s.write(&batch(&[("a", Some("1"))])).unwrap();
        s.discard_group();
        assert_eq!(s.get(Tree::Key, b"a").unwrap(), None);
        s.end_group().unwrap();
        assert!(scan_all(&*s.inner).is_empty());
    }
}
