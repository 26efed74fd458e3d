//! [`MvccStore`]: the key-value state machine the server applies raft
//! entries to and serves reads from.
//!
//! Owns: the current and compacted revisions, the key index, the raft
//! position of the last applied entry (`consistent_index`), the commit
//! policy, compaction, and the hashes members compare. Must never: talk to
//! raft, the WAL or the network, or read a clock (the commit interval is
//! sled's own flusher; see below).
//!
//! # Applying raft entries, and why replay is safe
//! Every method that takes an [`EntryId`] applies that raft entry: whether
//! the request succeeds or fails, the entry's index and term are written to
//! meta **in the same atomic backend batch** as the entry's data (if any).
//! The backend recovers a prefix of its batches after a crash (see
//! `backend/sled.rs`), so the recorded `consistent_index` always describes
//! exactly the data present. On restart the server replays its WAL — the
//! source of truth — skipping every entry for which [`MvccStore::is_applied`]
//! is true; applying the rest in order reproduces the state every other
//! member reached. Applying an entry twice is the one thing that could
//! corrupt the store, so the store refuses to (it panics: the caller broke
//! the contract).
//!
//! # When writes become durable
//! Writes are visible to reads as soon as the method returns. They become
//! durable in groups, never one request at a time: sled flushes on its own
//! every `flush_every_ms` (cairn's default 100 ms, like etcd's batch
//! interval); the store can also flush once `batch_limit` backend writes
//! have piled up (etcd's batch limit is 10 000; off by default because of a
//! sled deadlock, see [`StoreConfig::batch_limit`]); and
//! [`MvccStore::force_commit`] flushes at once (shutdown, before a
//! snapshot). Losing unflushed writes in a crash is fine: they are in the
//! WAL and are replayed.
//!
//! Many entries share one backend batch: between [`MvccStore::begin_group`]
//! and [`MvccStore::end_group`] their writes are held back and written
//! together, the last entry's position included, so the recorded
//! `consistent_index` still describes exactly the data present. The node
//! keeps a group open across Readies for up to a tenth of a second;
//! `force_commit`, defragmentation and snapshots write an open group down
//! first.
//!
//! Invariants: `compacted <= current`; `current` only grows; reads below
//! `compacted` fail; each raft entry is applied once.

pub mod history; // reading the event history between two revisions, for watches

use super::MvccError;
use super::backend::{Backend, BackendSize, Staged, WriteBatch};
use super::key_index::KeyIndex;
use super::read::ReadView;
use super::revision::{Revision, decode_key};
use super::schema::{self, Tree};
use super::validate;
use super::write::{self, WriteTxn};
use cairn_proto::etcdserverpb::{
    CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use cairn_proto::mvccpb::{Event, KeyValue};
use prost::Message;
use std::collections::HashSet;

mod alarms; // raised alarms: Alarm applies and the cached set
mod auth; // users, roles and the auth switch: their records and the cached state
pub mod lease; // LeaseGrant/LeaseRevoke applies and the lessor's rebuild reads
mod members; // member records for MemberList

/// Answers whether a lease exists. The lease module implements it; the store
/// only asks, so the two modules do not depend on each other.
pub trait LeaseCheck {
    fn lease_exists(&self, id: i64) -> bool;
}

impl<F: Fn(i64) -> bool> LeaseCheck for F {
    fn lease_exists(&self, id: i64) -> bool {
        self(id)
    }
}

/// The raft entry being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryId {
    pub index: u64,
    pub term: u64,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Backend writes after which the store flushes without waiting for
    /// sled's interval (`None`: only the interval and `force_commit`).
    ///
    /// Off by default: with sled 0.34, flushing from the applying thread
    /// while atomic batches stream in can deadlock sled's I/O thread pool
    /// (a segment truncation queued behind I/O tasks that wait on the lock
    /// the flushing thread holds). Seen in half of our runs of ~150k pegged
    /// batches with a flush every 3 333; never with sled's own flusher alone.
    pub batch_limit: Option<usize>,
    /// Revisions removed per backend batch while compacting.
    pub compaction_batch_limit: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            batch_limit: None,
            compaction_batch_limit: 1_000,
        }
    }
}

/// A write's response and the events it produced, for the watch hub.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<R> {
    pub response: R,
    /// One per key written, in write order, each with the key's previous
    /// KeyValue if it had one.
    pub events: Vec<Event>,
}

/// Result of [`MvccStore::hash_kv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashKv {
    pub hash: u32,
    pub compact_revision: i64,
    pub hash_revision: i64,
}

#[derive(Debug)]
struct Compaction {
    rev: i64,
    keep: HashSet<Revision>,
    /// Where the next batch of removals resumes scanning.
    next: Vec<u8>,
}

#[derive(Debug)]
pub struct MvccStore {
    backend: Staged,
    cfg: StoreConfig,
    index: KeyIndex,
    current: i64,
    compacted: i64,
    applied: EntryId,
    compaction: Option<Compaction>,
    uncommitted: usize,
    /// Raised alarms, `(member id, alarm type)`: the alarm tree, cached.
    alarms: std::collections::BTreeSet<(u64, i32)>,
    /// The auth trees, cached; replaced (never edited) by each change.
    auth: std::sync::Arc<crate::auth::AuthState>,
}

impl MvccStore {
    /// Opens the store on `backend`: rebuilds the key index from the `key`
    /// tree and finishes a compaction a crash interrupted.
    pub fn open(backend: Box<dyn Backend>, cfg: StoreConfig) -> Result<Self, MvccError> {
        let mut s = MvccStore {
            backend: Staged::new(backend),
            cfg,
            index: KeyIndex::new(),
            current: 1,
            compacted: 0,
            applied: EntryId::default(),
            compaction: None,
            uncommitted: 0,
            alarms: std::collections::BTreeSet::new(),
            auth: Default::default(),
        };
        s.load()?;
        Ok(s)
    }

    fn meta(&self, key: &[u8]) -> Result<Option<u64>, MvccError> {
        match self.backend.get(Tree::Meta, key)? {
            None => Ok(None),
            Some(b) => schema::decode_u64(&b).map(Some).ok_or(MvccError::Corrupt {
                what: "malformed meta value",
            }),
        }
    }

    fn meta_rev(&self, key: &[u8]) -> Result<i64, MvccError> {
        Ok(self.meta(key)?.map_or(0, |v| v as i64))
    }

    /// (Re)builds all in-memory state from the backend.
    fn load(&mut self) -> Result<(), MvccError> {
        match self.meta(schema::META_STORAGE_VERSION)? {
            Some(schema::STORAGE_VERSION) => {}
            Some(_) => {
                return Err(MvccError::Corrupt {
                    what: "unknown storage version",
                });
            }
            None => {
                let mut b = WriteBatch::new();
                b.put(
                    Tree::Meta,
                    schema::META_STORAGE_VERSION,
                    schema::encode_u64(schema::STORAGE_VERSION),
                );
                self.backend.write(&b)?;
            }
        }
        self.applied = EntryId {
            index: self.meta(schema::META_CONSISTENT_INDEX)?.unwrap_or(0),
            term: self.meta(schema::META_TERM)?.unwrap_or(0),
        };
        let scheduled = self.meta_rev(schema::META_SCHEDULED_COMPACT_REV)?;
        let finished = self.meta_rev(schema::META_FINISHED_COMPACT_REV)?;

        let mut index = KeyIndex::new();
        let mut last = 0;
        let mut bad = None;
        self.backend.scan(Tree::Key, &[], None, &mut |k, v| {
            let (Some(rk), Ok(kv)) = (decode_key(k), KeyValue::decode(v)) else {
                bad = Some(MvccError::Corrupt {
                    what: "undecodable entry in the key tree",
                });
                return false;
            };
            if rk.tombstone {
                index.restore_tombstone(&kv.key, rk.rev);
            } else {
                index.restore_put(&kv.key, rk.rev, kv.create_revision, kv.version);
            }
            last = rk.rev.main;
            true
        })?;
        if let Some(e) = bad {
            return Err(e);
        }
        self.index = index;
        // Compaction may have removed the newest entry (a tombstone), so the
        // compaction revisions also bound the current revision from below.
        self.current = last.max(scheduled).max(finished).max(1);
        self.compacted = finished;
        self.compaction = None;
        if finished > 0 {
            self.index.compact(finished);
        }
        if scheduled > finished {
            self.start_compaction(scheduled);
            self.finish_compaction()?;
        }
        self.load_alarms()?;
        self.load_auth()
    }

    #[cfg(test)]
    pub(crate) fn key_index(&self) -> &KeyIndex {
        &self.index
    }

    /// The store's revision: that of the last write.
    pub fn current_revision(&self) -> i64 {
        self.current
    }

    /// Reads below this revision fail with `Compacted` (0: never compacted).
    pub fn compacted_revision(&self) -> i64 {
        self.compacted
    }

    /// The last raft entry applied.
    pub fn applied(&self) -> EntryId {
        self.applied
    }

    /// Whether the raft entry at `index` is already applied (and must be
    /// skipped when replaying the WAL).
    pub fn is_applied(&self, index: u64) -> bool {
        index <= self.applied.index
    }

    fn view(&self) -> ReadView<'_> {
        ReadView {
            index: &self.index,
            backend: &self.backend,
            pending: None,
            current: self.current,
            compacted: self.compacted,
        }
    }

    /// Serves a Range request from the current state.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        validate::validate_range(req)?;
        self.view().range(req)
    }

    /// Applies raft entry `at`, a Put. With `leases`, a put naming an unknown
    /// lease fails with `LeaseNotFound`.
    pub fn put(
        &mut self,
        req: &PutRequest,
        at: EntryId,
        leases: Option<&dyn LeaseCheck>,
    ) -> Result<Applied<PutResponse>, MvccError> {
        self.apply(at, |s| {
            validate::validate_put(req)?;
            if req.lease != 0 && leases.is_some_and(|l| !l.lease_exists(req.lease)) {
                return Err(MvccError::LeaseNotFound);
            }
            let mut w = s.write_txn();
            // `put` fails only before writing anything.
            let resp = write::put(&mut w, req)?;
            Ok((resp, w.finish()))
        })
    }

    /// Applies raft entry `at`, a DeleteRange. Deleting nothing creates no
    /// revision.
    pub fn delete_range(
        &mut self,
        req: &DeleteRangeRequest,
        at: EntryId,
    ) -> Result<Applied<DeleteRangeResponse>, MvccError> {
        self.apply(at, |s| {
            validate::validate_delete(req)?;
            let mut w = s.write_txn();
            let resp = write::delete_range(&mut w, req)?;
            Ok((resp, w.finish()))
        })
    }

    /// Applies raft entry `at`, a Txn: compares (all against the state
    /// before the txn, nested ones included), then checks, then the chosen
    /// ops in order, all as one revision. Checks `DuplicateKey`, `EmptyKey`
    /// and the like again; the ops limit is the proposer's job (see
    /// `validate.rs`).
    pub fn txn(
        &mut self,
        req: &TxnRequest,
        at: EntryId,
        leases: Option<&dyn LeaseCheck>,
    ) -> Result<Applied<TxnResponse>, MvccError> {
        self.apply(at, |s| {
            validate::validate_txn_shape(req)?;
            let path = {
                let view = s.view();
                let path = view.branches(req)?;
                write::check_txn(&view, req, &path, leases)?;
                path
            };
            let mut w = s.write_txn();
            let mut resp = write::txn(&mut w, req, &path, &mut 0).map_err(|e| {
                if e.is_fatal() {
                    e
                } else {
                    // Everything that can fail was checked above; failing
                    // now would leave half a txn in the index.
                    MvccError::Corrupt {
                        what: "txn op failed after its checks passed",
                    }
                }
            })?;
            let written = w.finish();
            resp.header = Some(ResponseHeader {
                revision: written.rev,
                ..Default::default()
            });
            Ok((resp, written))
        })
    }

    fn write_txn(&mut self) -> WriteTxn<'_> {
        WriteTxn::new(&mut self.index, &self.backend, self.current, self.compacted)
    }

    /// Runs one raft entry: `f` produces the response and the writes; the
    /// writes go to the backend together with the entry's position. A
    /// request error still consumes the entry.
    fn apply<R>(
        &mut self,
        at: EntryId,
        f: impl FnOnce(&mut Self) -> Result<(R, write::Written), MvccError>,
    ) -> Result<Applied<R>, MvccError> {
        assert!(
            !self.is_applied(at.index),
            "raft entry {} applied twice (consistent index {})",
            at.index,
            self.applied.index
        );
        match f(self) {
            Ok((response, written)) => {
                self.commit_entry(at, written.batch)?;
                self.current = written.rev;
                Ok(Applied {
                    response,
                    events: written.events,
                })
            }
            Err(e) if e.is_fatal() => Err(e),
            Err(e) => {
                self.commit_entry(at, WriteBatch::new())?;
                Err(e)
            }
        }
    }

    /// Records a raft entry that does not touch the key-value state (a
    /// no-op, a lease or membership entry handled elsewhere) so that replay
    /// skips it.
    pub fn mark_applied(&mut self, at: EntryId) -> Result<(), MvccError> {
        assert!(
            !self.is_applied(at.index),
            "raft entry {} applied twice",
            at.index
        );
        self.commit_entry(at, WriteBatch::new())
    }

    /// Applies raft entry `at` whose effects are `batch` (writes outside the
    /// key-value history: members, leases, alarms), atomically with the
    /// entry's position.
    fn apply_raw(&mut self, at: EntryId, batch: WriteBatch) -> Result<(), MvccError> {
        assert!(
            !self.is_applied(at.index),
            "raft entry {} applied twice",
            at.index
        );
        self.commit_entry(at, batch)
    }

    /// Writes `batch` plus the entry's position, atomically.
    fn commit_entry(&mut self, at: EntryId, mut batch: WriteBatch) -> Result<(), MvccError> {
        batch.put(
            Tree::Meta,
            schema::META_CONSISTENT_INDEX,
            schema::encode_u64(at.index),
        );
        batch.put(Tree::Meta, schema::META_TERM, schema::encode_u64(at.term));
        self.write_batch(&batch)?;
        self.applied = at;
        Ok(())
    }

    fn write_batch(&mut self, batch: &WriteBatch) -> Result<(), MvccError> {
        self.backend.write(batch)?;
        self.uncommitted += batch.len();
        if self.cfg.batch_limit.is_some_and(|l| self.uncommitted >= l) {
            self.force_commit()?;
        }
        Ok(())
    }

    /// Starts a write group: the entries applied until [`Self::end_group`]
    /// reach the backend as one atomic batch (sled pays a log write per
    /// batch, so the node groups the entries of many Readies). Reads
    /// through the store see them at once, as without a group. Panics if a
    /// group is already open.
    pub fn begin_group(&mut self) {
        self.backend.begin_group();
    }

    /// Hands the open group's writes to the backend, atomically.
    pub fn end_group(&mut self) -> Result<(), MvccError> {
        // The group's writes reach sled here, in one batch: the robustness
        // suite crashes or stalls a member on either side of it.
        fail::fail_point!("mvcc::before-commit");
        self.backend.end_group()?;
        fail::fail_point!("mvcc::after-commit");
        Ok(())
    }

    /// Drops the open group's writes. Only for a caller that failed part
    /// way through an entry and is about to stop: the in-memory state no
    /// longer matches the backend after it.
    pub fn discard_group(&mut self) {
        self.backend.discard_group();
    }

    /// Makes every applied write durable now, an open group's too: its
    /// writes go down as one batch and the group stays open, empty.
    pub fn force_commit(&mut self) -> Result<(), MvccError> {
        self.backend.flush()?;
        self.uncommitted = 0;
        Ok(())
    }

    /// Writes a compact copy of the backend beside it; see
    /// [`MvccStore::defragment_swap`]. Needs only `&self`: readers go on.
    pub fn defragment_copy(&self) -> Result<(), MvccError> {
        Ok(self.backend.defragment_copy()?)
    }

    /// Makes the copy [`MvccStore::defragment_copy`] wrote the live
    /// backend. The caller guarantees nothing was applied in between.
    pub fn defragment_swap(&mut self) -> Result<(), MvccError> {
        self.backend.flush()?;
        self.uncommitted = 0;
        Ok(self.backend.defragment_swap()?)
    }

    /// The backend's size on disk, cheaply (for the quota check).
    pub fn size_on_disk(&self) -> Result<u64, MvccError> {
        Ok(self.backend.size_on_disk()?)
    }

    /// Applies raft entry `at`, a compaction at `rev`, and carries it out to
    /// the end. See [`MvccStore::schedule_compaction`] to interleave the
    /// removal batches with other work instead.
    pub fn compact(&mut self, rev: i64, at: EntryId) -> Result<CompactionResponse, MvccError> {
        let resp = self.schedule_compaction(rev, at)?;
        self.finish_compaction()?;
        Ok(resp)
    }

    /// Applies raft entry `at`, a compaction at `rev`: from now on reads
    /// below `rev` fail with `Compacted`. The history is removed by later
    /// [`MvccStore::compact_step`] calls; a crash before they finish is
    /// repaired by the next [`MvccStore::open`].
    ///
    /// Fails with `Compacted` if `rev` is not above the compacted revision,
    /// `FutureRev` if it is above the current one.
    pub fn schedule_compaction(
        &mut self,
        rev: i64,
        at: EntryId,
    ) -> Result<CompactionResponse, MvccError> {
        self.finish_compaction()?;
        let resp = self.apply(at, |s| {
            if rev <= s.compacted {
                return Err(MvccError::Compacted);
            }
            if rev > s.current {
                return Err(MvccError::FutureRev);
            }
            let mut batch = WriteBatch::new();
            batch.put(
                Tree::Meta,
                schema::META_SCHEDULED_COMPACT_REV,
                schema::encode_i64(rev),
            );
            let resp = CompactionResponse {
                header: Some(ResponseHeader {
                    revision: s.current,
                    ..Default::default()
                }),
            };
            let written = write::Written {
                batch,
                events: Vec::new(),
                rev: s.current,
            };
            Ok((resp, written))
        })?;
        self.start_compaction(rev);
        Ok(resp.response)
    }

    fn start_compaction(&mut self, rev: i64) {
        self.compacted = rev;
        let keep = self.index.compact(rev);
        self.compaction = Some(Compaction {
            rev,
            keep,
            next: Vec::new(),
        });
    }

    fn finish_compaction(&mut self) -> Result<(), MvccError> {
        while !self.compact_step()? {}
        Ok(())
    }

    /// Removes one batch of compacted history; returns `true` once no
    /// compaction is in progress. History is removed in revision order, so
    /// a key's older puts go before its tombstone and a half-done compaction
    /// never resurrects a deleted key.
    pub fn compact_step(&mut self) -> Result<bool, MvccError> {
        let Some(c) = &mut self.compaction else {
            return Ok(true);
        };
        fail::fail_point!("mvcc::compact");
        let end = Revision::first_of(c.rev + 1);
        let limit = self.cfg.compaction_batch_limit.max(1);
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        let mut resume = None;
        self.backend
            .scan(Tree::Key, &c.next, Some(&end), &mut |k, _| {
                if doomed.len() == limit {
                    resume = Some(k.to_vec());
                    return false;
                }
                // Every write of the compaction revision itself stays, a
                // tombstone too: a watch may still start there, and it must
                // get a delete made at that revision (etcd lost it before
                // its issue 18089 was fixed). Reads never see such a
                // tombstone's key; the next compaction removes it.
                let kept = decode_key(k).is_some_and(|rk| {
                    let at_compaction = rk.rev.main == c.rev;
                    #[cfg(feature = "planted-bugs")]
                    let at_compaction =
                        at_compaction && !(rk.tombstone && planted_compaction_drops_delete());
                    at_compaction || (!rk.tombstone && c.keep.contains(&rk.rev))
                });
                if !kept {
                    doomed.push(k.to_vec());
                }
                true
            })?;
        let mut batch = WriteBatch::new();
        for k in doomed {
            batch.delete(Tree::Key, k);
        }
        let done = resume.is_none();
        if done {
            batch.put(
                Tree::Meta,
                schema::META_FINISHED_COMPACT_REV,
                schema::encode_i64(c.rev),
            );
        } else {
            c.next = resume.unwrap_or_default();
        }
        self.write_batch(&batch)?;
        if done {
            self.compaction = None;
        }
        Ok(done)
    }

    /// CRC-32C (Castagnoli) over the whole backend: every tree in schema
    /// order, each entry as `tree:u8 klen:u32 key vlen:u32 value`. Members
    /// that applied the same entries and finished the same compactions
    /// agree.
    pub fn hash(&self) -> Result<u32, MvccError> {
        let mut crc = 0u32;
        for tree in Tree::ALL {
            self.backend.scan(tree, &[], None, &mut |k, v| {
                crc = crc32c::crc32c_append(crc, &[tree.index() as u8]);
                crc = crc32c::crc32c_append(crc, &(k.len() as u32).to_be_bytes());
                crc = crc32c::crc32c_append(crc, k);
                crc = crc32c::crc32c_append(crc, &(v.len() as u32).to_be_bytes());
                crc = crc32c::crc32c_append(crc, v);
                true
            })?;
        }
        Ok(crc)
    }

    /// CRC-32C over the key history a read or a watch at any revision in
    /// `[compacted, rev]` can see: every `key`-tree entry (revision bytes,
    /// then the stored KeyValue) written at or above the compacted revision
    /// and up to `rev`, plus the older versions that compaction keeps, in
    /// revision order. It depends only on the entries applied and the
    /// compactions accepted — not on how far the removal of compacted
    /// history has got — so members that applied the same log agree.
    /// `rev` 0 means the current revision.
    pub fn hash_kv(&self, rev: i64) -> Result<HashKv, MvccError> {
        if rev > 0 && rev <= self.compacted {
            return Err(MvccError::Compacted);
        }
        if rev > self.current {
            return Err(MvccError::FutureRev);
        }
        let rev = if rev <= 0 { self.current } else { rev };
        let keep = self.index.keep(self.compacted);
        let end = Revision::first_of(rev + 1);
        let mut crc = 0u32;
        self.backend.scan(Tree::Key, &[], Some(&end), &mut |k, v| {
            let counted = decode_key(k).is_some_and(|rk| {
                rk.rev.main >= self.compacted || (!rk.tombstone && keep.contains(&rk.rev))
            });
            if counted {
                crc = crc32c::crc32c_append(crc, k);
                crc = crc32c::crc32c_append(crc, v);
            }
            true
        })?;
        Ok(HashKv {
            hash: crc,
            compact_revision: self.compacted,
            hash_revision: rev,
        })
    }

    /// Backend sizes (walks every tree).
    pub fn size(&self) -> Result<BackendSize, MvccError> {
        Ok(self.backend.size()?)
    }

    /// The whole state as bytes [`MvccStore::restore`] accepts (on any
    /// backend). Finishes a pending compaction first so the dump does not
    /// carry half-removed history.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, MvccError> {
        self.finish_compaction()?;
        Ok(self.backend.snapshot()?)
    }

    /// Replaces the whole state with a snapshot (for a follower too far
    /// behind to catch up from the log), then reloads.
    pub fn restore(&mut self, dump: &[u8]) -> Result<(), MvccError> {
        self.backend.restore(dump)?;
        self.uncommitted = 0;
        self.load()
    }
}

/// Planted bug `compaction-drops-delete` (the robustness suite must catch
/// it): compaction removes a tombstone made at the compaction revision
/// itself, as etcd did before its issue 18089 was fixed, so a watch
/// starting there misses the delete. On when the process starts with
/// `CAIRN_PLANTED_BUG=compaction-drops-delete`.
#[cfg(feature = "planted-bugs")]
fn planted_compaction_drops_delete() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("CAIRN_PLANTED_BUG").is_ok_and(|v| v == "compaction-drops-delete")
    })
}
