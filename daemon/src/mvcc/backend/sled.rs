//! The sled backend: one sled tree per schema tree, in one sled database.
//!
//! # Atomicity and durability
//! A [`WriteBatch`] that touches one tree is applied with that tree's
//! `apply_batch`; one that touches several goes through a sled transaction
//! over exactly those trees. Both commit under a single log reservation that
//! sled recovers all-or-nothing, and sled's log is replayed in order, so
//! after a crash the database holds a prefix of the batches written. That is
//! what lets the store put a raft entry's effects and the entry's index
//! (`consistent_index`) in one batch and trust, after a restart, that the
//! recorded index describes exactly the data present.
//!
//! Writes are visible when `write` returns and durable once `flush` returns.
//! sled also flushes on its own every `flush_every_ms`; the store adds a
//! size bound and explicit flushes on top (see the store's commit policy).
//!
//! Known hazard (sled 0.34.7): calling `flush` from the writing thread while
//! atomic batches stream in can deadlock sled's I/O thread pool. The store
//! therefore leaves routine flushing to sled's own flusher thread; see
//! `StoreConfig::batch_limit`.
//!
//! Callers write from one thread; sled transactions would retry on conflict,
//! but with a single writer none occur.

use super::{Backend, BackendError, BackendSize, Visit, WriteBatch, dump};
use crate::mvcc::schema::Tree;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;

const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Tuning for [`SledBackend::open`].
#[derive(Debug, Clone)]
pub struct SledOptions {
    /// Upper bound on sled's page cache, in bytes. sled's own default (1 GiB)
    /// is far more than a small member should take.
    pub cache_capacity: u64,
    /// How often sled flushes on its own, in milliseconds (`None`: never;
    /// then only explicit flushes make writes durable).
    pub flush_every_ms: Option<u64>,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            cache_capacity: 64 * 1024 * 1024,
            flush_every_ms: Some(100),
        }
    }
}

#[derive(Debug)]
pub struct SledBackend {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl SledBackend {
    /// Opens (creating if needed) the database in directory `path`.
    pub fn open(path: &Path, opts: &SledOptions) -> Result<Self, BackendError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_capacity)
            .flush_every_ms(opts.flush_every_ms);
        // sled's background I/O tasks can hold the directory's file lock for
        // a moment after the last handle is dropped, so reopening in the same
        // process (restart after a restore, tests) may briefly find it taken.
        // Wait for it, within reason; a lock held by another process stays an
        // error.
        let mut waited = std::time::Duration::ZERO;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && waited < LOCK_WAIT =>
                {
                    std::thread::sleep(LOCK_POLL);
                    waited += LOCK_POLL;
                }
                other => break other?,
            }
        };
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledBackend { db, trees })
    }

    fn tree(&self, t: Tree) -> &sled::Tree {
        &self.trees[t.index()]
    }

    /// Applies `ops` (already grouped per tree) in one sled transaction over
    /// the trees they touch.
    fn transact(&self, per_tree: &[(usize, sled::Batch)]) -> Result<(), BackendError> {
        let trees: Vec<&sled::Tree> = per_tree.iter().map(|(i, _)| &self.trees[*i]).collect();
        trees
            .as_slice()
            .transaction(|tx| {
                for (slot, (_, batch)) in per_tree.iter().enumerate() {
                    tx[slot].apply_batch(batch)?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => BackendError::Sled(e),
                TransactionError::Abort(()) => unreachable!("the closure never aborts"),
            })
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        visit: Visit<'_>,
    ) -> Result<(), BackendError> {
        let iter = match end {
            Some(e) if e <= start => return Ok(()),
            Some(e) => self.tree(tree).range(start..e),
            None => self.tree(tree).range(start..),
        };
        for item in iter {
            let (k, v) = item?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        // Group per tree, keeping each tree's operations in batch order;
        // operations on different trees never interact, so this preserves
        // the batch's meaning.
        let mut per_tree: Vec<(usize, sled::Batch)> = Vec::new();
        for (tree, k, v) in batch.ops() {
            let i = tree.index();
            let slot = match per_tree.iter().position(|(t, _)| *t == i) {
                Some(s) => s,
                None => {
                    per_tree.push((i, sled::Batch::default()));
                    per_tree.len() - 1
                }
            };
            match v {
                Some(v) => per_tree[slot].1.insert(k.as_slice(), v.as_slice()),
                None => per_tree[slot].1.remove(k.as_slice()),
            }
        }
        match per_tree.len() {
            0 => Ok(()),
            1 => {
                let (i, b) = per_tree.pop().expect("one");
                Ok(self.trees[i].apply_batch(b)?)
            }
            _ => self.transact(&per_tree),
        }
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.db.flush()?;
        Ok(())
    }

    fn size(&self) -> Result<BackendSize, BackendError> {
        let mut in_use = 0u64;
        for t in &self.trees {
            for item in t.iter() {
                let (k, v) = item?;
                in_use += (k.len() + v.len()) as u64;
            }
        }
        Ok(BackendSize {
            on_disk: self.db.size_on_disk()?,
            in_use,
        })
    }

    fn restore(&self, bytes: &[u8]) -> Result<(), BackendError> {
        let entries = dump::read(bytes)?;
        // One transaction removes what is there and inserts the dump, so a
        // crash mid-restore leaves either the old state or the new one.
        let mut per_tree: Vec<(usize, sled::Batch)> = Vec::new();
        for t in Tree::ALL {
            let mut b = sled::Batch::default();
            for item in self.tree(t).iter().keys() {
                b.remove(item?);
            }
            for (tree, k, v) in &entries {
                if *tree == t {
                    b.insert(k.as_slice(), v.as_slice());
                }
            }
            per_tree.push((t.index(), b));
        }
        self.transact(&per_tree)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        let dirs = std::cell::RefCell::new(Vec::new());
        super::super::conformance::run(&|| {
            let dir = tempfile::tempdir().unwrap();
            let b = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
            dirs.borrow_mut().push(dir);
            Box::new(b)
        });
    }

    #[test]
    fn writes_survive_reopen_after_flush() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
            let mut wb = WriteBatch::new();
            wb.put(Tree::Key, "a", "1");
            wb.put(Tree::Meta, "m", "2");
            b.write(&wb).unwrap();
            b.flush().unwrap();
        }
        let b = SledBackend::open(dir.path(), &SledOptions::default()).unwrap();
        assert_eq!(b.get(Tree::Key, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(b.get(Tree::Meta, b"m").unwrap().as_deref(), Some(&b"2"[..]));
    }
}
