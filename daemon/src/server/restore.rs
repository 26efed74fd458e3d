//! Restoring a snapshot file (from Maintenance.Snapshot, see
//! `maintenance.rs` for the file format) into a fresh data dir: the first
//! member of a new cluster that starts with the snapshot's keys, leases and
//! revisions. `cairnctl snapshot restore` runs it, as etcdutl's restore
//! does for etcd.
//!
//! The store gets the snapshot's trees, minus what belonged to the old
//! cluster (its members, removed members, alarms), and its applied
//! position is reset to 0; the log is bootstrapped exactly as a new
//! member's (`--name`, `--initial-cluster`, `--initial-cluster-token`), so
//! `cairn` started with the same flags finds a data dir of its own and
//! applies the founding conf changes on top of the restored keys.
//!
//! Must never: write into an existing data dir, or restore a file whose
//! checksum does not match.

use std::path::Path;

use anyhow::{Context, bail};
use sha2::Digest as _;

use super::{ServerConfig, bootstrap_new};
use crate::mvcc::backend::{Backend, SledBackend, SledOptions, WriteBatch, dump};
use crate::mvcc::schema::{self, Tree};

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub cluster_id: u64,
    pub member_id: u64,
    /// Entries (keys of every tree) restored.
    pub entries: usize,
}

/// Restores snapshot `file` into `cfg.data_dir` for the new cluster `cfg`
/// describes.
pub fn restore_snapshot(file: &Path, cfg: &ServerConfig) -> anyhow::Result<Restored> {
    let member_dir = cfg.data_dir.join("member");
    if member_dir.exists() {
        bail!("data-dir {:?} exists", cfg.data_dir.display().to_string());
    }
    let bytes =
        std::fs::read(file).with_context(|| format!("reading snapshot {}", file.display()))?;
    if bytes.len() < 32 || bytes.len() % 512 != 32 {
        bail!(
            "snapshot file {} has no SHA-256 checksum (size {})",
            file.display(),
            bytes.len()
        );
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if sha2::Sha256::digest(body).as_slice() != sum {
        bail!(
            "snapshot file {} fails its SHA-256 checksum",
            file.display()
        );
    }
    let dump_bytes = dump::unpad(body).context("reading the snapshot's contents")?;
    let entries = dump::read(dump_bytes)
        .context("reading the snapshot's contents")?
        .len();

    std::fs::create_dir_all(&member_dir)
        .with_context(|| format!("creating {}", member_dir.display()))?;
    let backend = SledBackend::open(&member_dir.join("db"), &SledOptions::default())
        .context("creating the sled store")?;
    backend
        .restore(dump_bytes)
        .context("writing the snapshot into the store")?;
    let mut fixups = WriteBatch::new();
    for tree in [Tree::Members, Tree::MembersRemoved, Tree::Alarm] {
        backend.scan(tree, &[], None, &mut |k, _| {
            fixups.delete(tree, k.to_vec());
            true
        })?;
    }
    fixups.put(
        Tree::Meta,
        schema::META_CONSISTENT_INDEX,
        schema::encode_u64(0),
    );
    fixups.put(Tree::Meta, schema::META_TERM, schema::encode_u64(0));
    backend.write(&fixups)?;
    backend.flush()?;
    drop(backend);

    let opened = bootstrap_new(cfg, &member_dir)?;
    Ok(Restored {
        cluster_id: opened.cluster_id,
        member_id: opened.member_id,
        entries,
    })
}
