//! Lease persistence: the store's half of LeaseGrant and LeaseRevoke, and
//! the reads the lessor is rebuilt from after a restart or a snapshot.
//!
//! Owns: the records in [`Tree::Lease`] (their encoding is documented in
//! `schema.rs`), the revoke-time deletion of a lease's keys, and the
//! deterministic checks on a grant (`id` 0, TTL above [`MAX_LEASE_TTL`], id
//! already granted). Must never: read a clock, know about expiry or
//! leadership (the lessor's business), or depend on a member's
//! configuration (the minimum TTL is applied by the proposer, before the
//! entry enters the log).
//!
//! Invariants: a lease record and its keys change in the same atomic batch
//! as the raft entry's position, like every other apply; a revoke that
//! deletes keys creates exactly one revision, one that deletes none creates
//! none.

use super::{Applied, EntryId, MvccStore};
use crate::mvcc::MvccError;
use crate::mvcc::backend::{Backend, WriteBatch};
use crate::mvcc::key_index::KeyRange;
use crate::mvcc::schema::{self, Tree};
use crate::mvcc::write::Written;
use cairn_proto::etcdserverpb::{LeaseGrantResponse, LeaseRevokeResponse, ResponseHeader};

/// The largest TTL, in seconds, a lease may be granted with (etcd's
/// `MaxLeaseTTL`, about 285 years).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// A lease as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredLease {
    pub id: i64,
    /// The granted TTL in seconds (already raised to the minimum by the
    /// member that proposed the grant).
    pub ttl: i64,
    /// The remaining TTL the last checkpoint recorded, in seconds; 0 when
    /// none did (or a renewal reset it).
    pub remaining: i64,
}

impl MvccStore {
    /// Applies raft entry `at`, a LeaseGrant of `id` with `ttl` seconds.
    /// Fails with `LeaseNotFound` for id 0, `LeaseTtlTooLarge` above
    /// [`MAX_LEASE_TTL`] and `LeaseExist` for an id already granted; the
    /// entry is consumed either way. Creates no revision.
    pub fn lease_grant(
        &mut self,
        id: i64,
        ttl: i64,
        at: EntryId,
    ) -> Result<LeaseGrantResponse, MvccError> {
        let applied = self.apply(at, |s| {
            if id == 0 {
                return Err(MvccError::LeaseNotFound);
            }
            if ttl > MAX_LEASE_TTL {
                return Err(MvccError::LeaseTtlTooLarge);
            }
            if s.backend
                .get(Tree::Lease, &schema::encode_i64(id))?
                .is_some()
            {
                return Err(MvccError::LeaseExist);
            }
            let mut batch = WriteBatch::new();
            batch.put(
                Tree::Lease,
                schema::encode_i64(id),
                schema::encode_lease(ttl, 0),
            );
            let resp = LeaseGrantResponse {
                header: Some(ResponseHeader {
                    revision: s.current,
                    ..Default::default()
                }),
                id,
                ttl,
                error: String::new(),
            };
            let written = Written {
                batch,
                events: Vec::new(),
                rev: s.current,
            };
            Ok((resp, written))
        })?;
        Ok(applied.response)
    }

    /// Applies raft entry `at`, a LeaseRevoke of `id`: removes the lease
    /// record and deletes, in one revision and in key order, every key of
    /// `keys` that is live and still carries lease `id` (the lessor knows
    /// which keys are attached; checking each against the store keeps the
    /// result a function of the store alone). Fails with `LeaseNotFound` if
    /// no such lease is recorded; the entry is consumed either way.
    pub fn lease_revoke(
        &mut self,
        id: i64,
        keys: &[Vec<u8>],
        at: EntryId,
    ) -> Result<Applied<LeaseRevokeResponse>, MvccError> {
        self.apply(at, |s| {
            let record = schema::encode_i64(id);
            if id == 0 || s.backend.get(Tree::Lease, &record)?.is_none() {
                return Err(MvccError::LeaseNotFound);
            }
            let mut doomed: Vec<&Vec<u8>> = Vec::with_capacity(keys.len());
            {
                let view = s.view();
                for k in keys {
                    if view.get(k)?.is_some_and(|kv| kv.lease == id) {
                        doomed.push(k);
                    }
                }
            }
            doomed.sort_unstable();
            doomed.dedup();
            let mut w = s.write_txn();
            for k in doomed {
                w.delete_range(&KeyRange::Single(k.clone()), false)?;
            }
            let mut written = w.finish();
            written.batch.delete(Tree::Lease, record);
            let resp = LeaseRevokeResponse {
                header: Some(ResponseHeader {
                    revision: written.rev,
                    ..Default::default()
                }),
            };
            Ok((resp, written))
        })
    }

    /// Applies raft entry `at`, a LeaseCheckpoint: records each lease's
    /// remaining TTL (0: forget the recorded one). Leases that no longer
    /// exist are skipped, as etcd does. Creates no revision.
    pub fn lease_checkpoint(
        &mut self,
        checkpoints: &[(i64, i64)],
        at: EntryId,
    ) -> Result<(), MvccError> {
        self.apply(at, |s| {
            let mut batch = WriteBatch::new();
            for &(id, remaining) in checkpoints {
                let record = schema::encode_i64(id);
                let Some(value) = s.backend.get(Tree::Lease, &record)? else {
                    continue;
                };
                let (ttl, _) = schema::decode_lease(&value).ok_or(MvccError::Corrupt {
                    what: "malformed record in the lease tree",
                })?;
                batch.put(Tree::Lease, record, schema::encode_lease(ttl, remaining));
            }
            let written = Written {
                batch,
                events: Vec::new(),
                rev: s.current,
            };
            Ok(((), written))
        })?;
        Ok(())
    }

    /// Every recorded lease, in id order (of the ids' big-endian bytes).
    pub fn leases(&self) -> Result<Vec<StoredLease>, MvccError> {
        let mut out = Vec::new();
        let mut bad = false;
        self.backend
            .scan(Tree::Lease, &[], None, &mut |k, v| match (
                schema::decode_i64(k),
                schema::decode_lease(v),
            ) {
                (Some(id), Some((ttl, remaining))) => {
                    out.push(StoredLease { id, ttl, remaining });
                    true
                }
                _ => {
                    bad = true;
                    false
                }
            })?;
        if bad {
            return Err(MvccError::Corrupt {
                what: "malformed record in the lease tree",
            });
        }
        Ok(out)
    }

    /// Every live key that carries a lease, with that lease, in key order.
    /// Reads every live key's value: meant for rebuilding the lessor on
    /// open or after a restore, not for serving requests.
    pub fn leased_keys(&self) -> Result<Vec<(Vec<u8>, i64)>, MvccError> {
        let view = self.view();
        let all = KeyRange::From(Vec::new());
        let mut out = Vec::new();
        for (key, visible) in self.index.range(&all, self.current) {
            let kv = view.kv(&visible)?;
            if kv.lease != 0 {
                out.push((key.to_vec(), kv.lease));
            }
        }
        Ok(out)
    }
}
