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
use std::path::{Path, PathBuf};

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
    /// Where the store lives, as callers name it (`member/db`).
    home: PathBuf,
    /// Which copy of the store is open: 0 is `home` itself, `n` the
    /// directory `home.<n>` the n-th defragmentation wrote.
    generation: u64,
    opts: SledOptions,
}

/// Entries copied per sled batch while defragmenting.
const DEFRAG_BATCH: usize = 10_000;

/// How long a replaced database's I/O threads get to finish before its
/// directory is deleted.
const RETIRE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// `<home>.<suffix>`, beside the store's directory.
fn sibling(home: &Path, suffix: &str) -> PathBuf {
    let mut name = home.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    home.with_file_name(name)
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackendError {
    let what = what.into();
    move |source| BackendError::Io { what, source }
}

/// The directory of generation `n` of the store at `home`.
fn generation_dir(home: &Path, n: u64) -> PathBuf {
    if n == 0 {
        home.to_path_buf()
    } else {
        sibling(home, &n.to_string())
    }
}

/// The generation `home.current` names; 0 when there is none (the store
/// was never defragmented).
fn current_generation(home: &Path) -> Result<u64, BackendError> {
    let pointer = sibling(home, "current");
    match std::fs::read_to_string(&pointer) {
        Ok(text) => text.trim().parse().map_err(|_| BackendError::Io {
            what: format!("reading {}", pointer.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not a generation"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io(format!("reading {}", pointer.display()))(e)),
    }
}

/// Deletes every generation of the store but `keep`: older ones a crash
/// or a restart left behind, and a copy that never became current.
fn remove_other_generations(home: &Path, keep: u64) -> Result<(), BackendError> {
    let Some(name) = home.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let parent = home.parent().unwrap_or(Path::new("."));
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(format!("listing {}", parent.display()))(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(format!("listing {}", parent.display())))?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let generation = if file == name {
            Some(0)
        } else {
            file.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|n| n.parse::<u64>().ok())
        };
        if generation.is_some_and(|g| g != keep) {
            std::fs::remove_dir_all(entry.path())
                .map_err(io(format!("removing {}", entry.path().display())))?;
        }
    }
    Ok(())
}

/// Makes a file's creation or rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), BackendError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

impl SledBackend {
    /// Opens (creating if needed) the store whose home is directory
    /// `path`: the directory itself, or the defragmented copy that
    /// `<path>.current` names.
    pub fn open(path: &Path, opts: &SledOptions) -> Result<Self, BackendError> {
        let generation = current_generation(path)?;
        remove_other_generations(path, generation)?;
        SledBackend::open_dir(path, generation, opts)
    }

    /// Opens generation `generation` of the store at `home`.
    fn open_dir(home: &Path, generation: u64, opts: &SledOptions) -> Result<Self, BackendError> {
        let config = sled::Config::new()
            .path(generation_dir(home, generation))
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
        Ok(SledBackend {
            db,
            trees,
            home: home.to_path_buf(),
            generation,
            opts: opts.clone(),
        })
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

    fn size_on_disk(&self) -> Result<u64, BackendError> {
        Ok(self.db.size_on_disk()?)
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

    fn defragment_copy(&self) -> Result<(), BackendError> {
        let next = self.generation + 1;
        let dir = generation_dir(&self.home, next);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        }
        let copy = SledBackend::open_dir(
            &self.home,
            next,
            &SledOptions {
                flush_every_ms: None,
                ..self.opts.clone()
            },
        )?;
        for t in Tree::ALL {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in self.tree(t).iter() {
                let (k, v) = item?;
                batch.insert(k, v);
                n += 1;
                if n == DEFRAG_BATCH {
                    copy.tree(t).apply_batch(std::mem::take(&mut batch))?;
                    n = 0;
                }
            }
            copy.tree(t).apply_batch(batch)?;
        }
        copy.flush()
    }

    fn defragment_swap(&mut self) -> Result<(), BackendError> {
        let next = self.generation + 1;
        self.flush()?;
        // The copy becomes current with one rename of a pointer file: a
        // crash before it leaves the old store (the copy is deleted at the
        // next start), after it the copy, whole (it was flushed).
        let pointer = sibling(&self.home, "current");
        let staged = sibling(&self.home, "current.tmp");
        std::fs::write(&staged, next.to_string())
            .and_then(|()| std::fs::File::open(&staged)?.sync_all())
            .map_err(io(format!("writing {}", staged.display())))?;
        std::fs::rename(&staged, &pointer).map_err(io(format!("renaming {}", staged.display())))?;
        sync_dir(self.home.parent().unwrap_or(Path::new(".")))?;
        let fresh = SledBackend::open_dir(&self.home, next, &self.opts)?;
        let retired = generation_dir(&self.home, self.generation);
        drop(std::mem::replace(self, fresh));
        // sled writes some files by path from its I/O threads, which can
        // outlive the last handle by a moment; each database only ever
        // touches its own directory, so the old one goes once they are
        // done. Should that fail, the next start removes it.
        std::thread::spawn(move || {
            std::thread::sleep(RETIRE_GRACE);
            let _ = std::fs::remove_dir_all(retired);
        });
        Ok(())
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

    fn sample(b: &SledBackend) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        b.scan(Tree::Key, &[], None, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
        out
    }

    fn filled(home: &Path) -> SledBackend {
        let b = SledBackend::open(home, &SledOptions::default()).unwrap();
        let mut wb = WriteBatch::new();
        for i in 0..(DEFRAG_BATCH + 10) {
            wb.put(Tree::Key, format!("k{i:06}"), format!("v{i}"));
        }
        wb.put(Tree::Meta, "m", "1");
        b.write(&wb).unwrap();
        b
    }

    /// A defragmented store holds the same data, in a new generation that
    /// a reopen finds; the old generation is gone after a restart.
    #[test]
    fn defragment_keeps_everything_across_reopen() {
        let parent = tempfile::tempdir().unwrap();
        let home = parent.path().join("db");
        let mut b = filled(&home);
        let want = sample(&b);
        b.defragment_copy().unwrap();
        b.defragment_swap().unwrap();
        assert_eq!(sample(&b), want);
        assert_eq!(b.get(Tree::Meta, b"m").unwrap(), Some(b"1".to_vec()));
        let mut wb = WriteBatch::new();
        wb.put(Tree::Key, "after", "swap");
        b.write(&wb).unwrap();
        b.flush().unwrap();
        drop(b);
        let b = SledBackend::open(&home, &SledOptions::default()).unwrap();
        assert_eq!(b.generation, 1);
        assert_eq!(b.get(Tree::Key, b"after").unwrap(), Some(b"swap".to_vec()));
        assert!(!home.exists(), "generation 0 removed at the reopen");
    }

    /// A crash after the copy but before the pointer moved: the old data
    /// is opened and the unfinished copy deleted.
    #[test]
    fn crash_before_the_swap_keeps_the_old_store() {
        let parent = tempfile::tempdir().unwrap();
        let home = parent.path().join("db");
        let b = filled(&home);
        let want = sample(&b);
        b.defragment_copy().unwrap();
        b.flush().unwrap();
        drop(b);
        assert!(generation_dir(&home, 1).exists());
        let b = SledBackend::open(&home, &SledOptions::default()).unwrap();
        assert_eq!(b.generation, 0);
        assert_eq!(sample(&b), want);
        assert!(
            !generation_dir(&home, 1).exists(),
            "the unfinished copy is removed"
        );
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
