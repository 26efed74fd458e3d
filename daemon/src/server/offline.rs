//! Work on a stopped member's data dir, for `cairnutl` (etcdutl's
//! counterpart): defragmenting its store and hashing its key history.
//!
//! The store is opened as the server opens it, so what these report is
//! what the member will serve when it starts. sled locks its files: while
//! a member runs on the data dir, opening it here fails with sled's "could
//! not acquire lock", and nothing is touched.
//!
//! Must never: create a store where there was none (a mistyped path is an
//! error, not an empty member).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::mvcc::backend::{SledBackend, SledOptions};
use crate::mvcc::{HashKv, MvccStore, StoreConfig};

/// Where a member keeps its store inside `data_dir`.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("member").join("db")
}

/// Opens the store of the member whose data dir is `data_dir`.
pub fn open_store(data_dir: &Path) -> anyhow::Result<MvccStore> {
    let path = store_path(data_dir);
    if !path.is_dir() {
        bail!(
            "{} holds no member data ({} does not exist)",
            data_dir.display(),
            path.display()
        );
    }
    let backend = SledBackend::open(&path, &SledOptions::default())
        .with_context(|| format!("opening the store in {}", path.display()))?;
    MvccStore::open(Box::new(backend), StoreConfig::default())
        .with_context(|| format!("reading the store in {}", path.display()))
}

/// Sizes on disk around a defragmentation, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defragmented {
    pub before: u64,
    pub after: u64,
}

/// Rewrites the store in `data_dir` compactly, as the Defragment RPC does
/// for a running member.
pub fn defragment(data_dir: &Path) -> anyhow::Result<Defragmented> {
    let mut store = open_store(data_dir)?;
    let before = store.size_on_disk()?;
    store
        .defragment_copy()
        .context("copying the store compactly")?;
    store
        .defragment_swap()
        .context("replacing the store with its compact copy")?;
    let after = store.size_on_disk()?;
    Ok(Defragmented { before, after })
}

/// The HashKV of the store in `data_dir` at `rev` (0: its current
/// revision): the hash a running member would answer.
pub fn hash_kv(data_dir: &Path, rev: i64) -> anyhow::Result<HashKv> {
    let store = open_store(data_dir)?;
    store
        .hash_kv(rev)
        .with_context(|| format!("hashing the key history at revision {rev}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_store_is_an_error_and_stays_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = defragment(dir.path()).unwrap_err();
        assert!(err.to_string().contains("holds no member data"), "{err}");
        assert!(!store_path(dir.path()).exists());
    }
}
