//! The in-memory twin of the sled backend: one `BTreeMap` per tree.
//!
//! Everything written is "durable" at once, so a crash is modelled by
//! dropping a store and opening a new one on a clone of the same
//! `MemBackend` (clones share their contents).

use super::{Backend, BackendError, BackendSize, Visit, WriteBatch, dump};
use crate::mvcc::schema::Tree;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

type Trees = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

#[derive(Debug, Clone)]
pub struct MemBackend {
    trees: Arc<RwLock<Trees>>,
}

impl Default for MemBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemBackend {
    pub fn new() -> Self {
        MemBackend {
            trees: Arc::new(RwLock::new(vec![BTreeMap::new(); Tree::ALL.len()])),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Trees> {
        // A panic while holding the lock cannot leave a half-applied batch:
        // batches are built aside and swapped in whole (see `write`).
        self.trees.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, Trees> {
        self.trees.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for MemBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.read()[tree.index()].get(key).cloned())
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
        let trees = self.read();
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        for (k, v) in trees[tree.index()].range::<[u8], _>((Bound::Included(start), upper)) {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        let mut trees = self.lock();
        for (tree, k, v) in batch.ops() {
            let t = &mut trees[tree.index()];
            match v {
                Some(v) => t.insert(k.clone(), v.clone()),
                None => t.remove(k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), BackendError> {
        Ok(())
    }

    fn size(&self) -> Result<BackendSize, BackendError> {
        let in_use = self
            .read()
            .iter()
            .flat_map(|t| t.iter())
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        Ok(BackendSize {
            on_disk: in_use,
            in_use,
        })
    }

    fn restore(&self, bytes: &[u8]) -> Result<(), BackendError> {
        let entries = dump::read(bytes)?;
        let mut fresh: Trees = vec![BTreeMap::new(); Tree::ALL.len()];
        for (tree, k, v) in entries {
            fresh[tree.index()].insert(k, v);
        }
        *self.lock() = fresh;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        super::super::conformance::run(&|| Box::new(super::MemBackend::new()));
    }
}
