//! The write view: one request or txn turning into one revision.
//!
//! Owns: how puts and deletes become `key`-tree entries, key index updates
//! and watch events, and etcd's apply rules for Put, DeleteRange and Txn
//! (the checks made against the state, the order ops run in, what each
//! response reports). Must never: flush, touch meta keys, or decide whether
//! a request is well formed (`validate.rs` does, before this runs).
//!
//! Invariants: everything one [`WriteTxn`] writes shares the main revision
//! `begin + 1`, with sub revisions counting up from 0 in write order; a txn
//! that writes nothing creates no revision. The key index is updated as each
//! write happens, so later ops in the txn read earlier ones' effects through
//! the ordinary read view; values not yet in the backend are found in
//! `pending`.

use super::MvccError;
use super::backend::{Backend, WriteBatch};
use super::key_index::{KeyIndex, KeyRange};
use super::read::{Pending, ReadView};
use super::revision::Revision;
use super::schema::Tree;
use super::store::LeaseCheck;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    ResponseHeader, ResponseOp, TxnRequest, TxnResponse, request_op::Request,
    response_op::Response,
};
use cairn_proto::mvccpb::{Event, KeyValue, event::EventType};
use prost::Message;

pub(crate) struct WriteTxn<'a> {
    index: &'a mut KeyIndex,
    backend: &'a dyn Backend,
    compacted: i64,
    begin: i64,
    pending: Pending,
    batch: WriteBatch,
    writes: i64,
    events: Vec<Event>,
}

/// What a finished [`WriteTxn`] leaves for the store to commit.
pub(crate) struct Written {
    pub batch: WriteBatch,
    pub events: Vec<Event>,
    /// The store revision after the txn.
    pub rev: i64,
}

impl<'a> WriteTxn<'a> {
    pub fn new(
        index: &'a mut KeyIndex,
        backend: &'a dyn Backend,
        begin: i64,
        compacted: i64,
    ) -> Self {
        WriteTxn {
            index,
            backend,
            compacted,
            begin,
            pending: Pending::new(),
            batch: WriteBatch::new(),
            writes: 0,
            events: Vec::new(),
        }
    }

    /// The revision reads inside the txn see and responses report: the new
    /// one once anything has been written.
    pub fn rev(&self) -> i64 {
        if self.writes > 0 {
            self.begin + 1
        } else {
            self.begin
        }
    }

    pub fn view(&self) -> ReadView<'_> {
        ReadView {
            index: self.index,
            backend: self.backend,
            pending: Some(&self.pending),
            current: self.rev(),
            compacted: self.compacted,
        }
    }

    fn next_rev(&mut self) -> Revision {
        let r = Revision::new(self.begin + 1, self.writes);
        self.writes += 1;
        r
    }

    pub fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> Result<(), MvccError> {
        let prev = self.view().get(key)?;
        let rev = self.next_rev();
        let (create_revision, version) = self.index.put(key, rev);
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: rev.main,
            version,
            value,
            lease,
        };
        let encoded = kv.encode_to_vec();
        self.batch
            .put(Tree::Key, rev.to_key(false), encoded.clone());
        self.pending.insert(rev.to_bytes(), encoded);
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev,
        });
        Ok(())
    }

    /// Deletes every live key in `range`; returns how many. With
    /// `with_prev` each DELETE event carries the deleted KeyValue, read from
    /// the store; without, nothing is read (as in etcd, a prefix delete of
    /// many keys must not read all their values): a watcher that wants the
    /// previous value has the hub fetch it.
    pub fn delete_range(&mut self, range: &KeyRange, with_prev: bool) -> Result<i64, MvccError> {
        let view = self.view();
        let live: Vec<(Vec<u8>, Option<KeyValue>)> = self
            .index
            .range(range, view.current)
            .map(|(key, v)| {
                let prev = if with_prev { Some(view.kv(&v)?) } else { None };
                Ok((key.to_vec(), prev))
            })
            .collect::<Result<_, MvccError>>()?;
        let deleted = live.len() as i64;
        self.events.reserve(live.len());
        for (key, prev) in live {
            let rev = self.next_rev();
            let removed = self.index.tombstone(&key, rev);
            debug_assert!(removed, "a live key takes a tombstone");
            // The stored tombstone carries only the key: enough to rebuild
            // the index on open.
            let stored = KeyValue {
                key: key.clone(),
                ..Default::default()
            };
            self.batch
                .put(Tree::Key, rev.to_key(true), stored.encode_to_vec());
            self.events.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key,
                    mod_revision: rev.main,
                    ..Default::default()
                }),
                prev_kv: prev,
            });
        }
        Ok(deleted)
    }

    pub fn finish(self) -> Written {
        let rev = self.rev();
        Written {
            batch: self.batch,
            events: self.events,
            rev,
        }
    }
}

fn header(rev: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision: rev,
        ..Default::default()
    })
}

/// Applies a Put whose lease has been checked. `ignore_value` and
/// `ignore_lease` need the key to exist (`KeyNotFound`).
pub(crate) fn put(w: &mut WriteTxn<'_>, p: &PutRequest) -> Result<PutResponse, MvccError> {
    let prev = if p.ignore_value || p.ignore_lease || p.prev_kv {
        w.view().get(&p.key)?
    } else {
        None
    };
    if (p.ignore_value || p.ignore_lease) && prev.is_none() {
        return Err(MvccError::KeyNotFound);
    }
    let value = match (&prev, p.ignore_value) {
        (Some(kv), true) => kv.value.clone(),
        _ => p.value.clone(),
    };
    let lease = match (&prev, p.ignore_lease) {
        (Some(kv), true) => kv.lease,
        _ => p.lease,
    };
    w.put(&p.key, value, lease)?;
    Ok(PutResponse {
        header: header(w.rev()),
        prev_kv: if p.prev_kv { prev } else { None },
    })
}

pub(crate) fn delete_range(
    w: &mut WriteTxn<'_>,
    d: &DeleteRangeRequest,
) -> Result<DeleteRangeResponse, MvccError> {
    let range = KeyRange::new(&d.key, &d.range_end);
    let before = w.events.len();
    let deleted = w.delete_range(&range, d.prev_kv)?;
    let prev_kvs = if d.prev_kv {
        w.events[before..]
            .iter()
            .filter_map(|e| e.prev_kv.clone())
            .collect()
    } else {
        Vec::new()
    };
    Ok(DeleteRangeResponse {
        header: header(w.rev()),
        deleted,
        prev_kvs,
    })
}

pub(crate) fn range(w: &WriteTxn<'_>, r: &RangeRequest) -> Result<RangeResponse, MvccError> {
    w.view().range(r)
}

/// Checks a txn against the state before it, for the branches `path` says
/// it takes, before anything is written: first every put (its key must exist
/// for `ignore_value`/`ignore_lease`; its lease must exist), then every range
/// with an explicit revision (not compacted, not in the future). A failure
/// here rejects the whole txn with nothing applied.
pub(crate) fn check_txn(
    view: &ReadView<'_>,
    t: &TxnRequest,
    path: &[bool],
    leases: Option<&dyn LeaseCheck>,
) -> Result<(), MvccError> {
    // Deletes met so far, in apply order. A from-key delete passes the
    // duplicate check (see `validate.rs`) yet can remove the key a later
    // `ignore_value` put needs; etcd 3.5 crashes the member on such a txn.
    // cairn refuses it here, before anything is written.
    let mut deleted: Vec<KeyRange> = Vec::new();
    walk_chosen(t, path, &mut 0, &mut |op| match op {
        Request::RequestDeleteRange(d) => {
            deleted.push(KeyRange::new(&d.key, &d.range_end));
            Ok(())
        }
        Request::RequestPut(p) => {
            let needs_key = p.ignore_value || p.ignore_lease;
            if needs_key
                && (view.get(&p.key)?.is_none() || deleted.iter().any(|r| r.contains(&p.key)))
            {
                return Err(MvccError::KeyNotFound);
            }
            if p.lease != 0 && leases.is_some_and(|l| !l.lease_exists(p.lease)) {
                return Err(MvccError::LeaseNotFound);
            }
            Ok(())
        }
        _ => Ok(()),
    })?;
    walk_chosen(t, path, &mut 0, &mut |op| match op {
        Request::RequestRange(r) if r.revision != 0 => {
            if r.revision > view.current {
                Err(MvccError::FutureRev)
            } else if r.revision < view.compacted {
                Err(MvccError::Compacted)
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    })
}

/// Calls `f` on every non-txn op of the branches taken, depth first.
fn walk_chosen(
    t: &TxnRequest,
    path: &[bool],
    at: &mut usize,
    f: &mut dyn FnMut(&Request) -> Result<(), MvccError>,
) -> Result<(), MvccError> {
    let ops = if path[*at] { &t.success } else { &t.failure };
    *at += 1;
    for op in ops {
        match &op.request {
            Some(Request::RequestTxn(inner)) => walk_chosen(inner, path, at, f)?,
            Some(other) => f(other)?,
            None => {}
        }
    }
    Ok(())
}

/// Runs the branches `path` chose, in order. Only the outermost response's
/// header is filled in by the caller; nested txns report an empty header,
/// as etcd's do.
pub(crate) fn txn(
    w: &mut WriteTxn<'_>,
    t: &TxnRequest,
    path: &[bool],
    at: &mut usize,
) -> Result<TxnResponse, MvccError> {
    let succeeded = path[*at];
    *at += 1;
    let ops = if succeeded { &t.success } else { &t.failure };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => Some(Response::ResponseRange(range(w, r)?)),
            Some(Request::RequestPut(p)) => Some(Response::ResponsePut(put(w, p)?)),
            Some(Request::RequestDeleteRange(d)) => {
                Some(Response::ResponseDeleteRange(delete_range(w, d)?))
            }
            Some(Request::RequestTxn(inner)) => {
                Some(Response::ResponseTxn(txn(w, inner, path, at)?))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok(TxnResponse {
        header: Some(ResponseHeader::default()),
        succeeded,
        responses,
    })
}
