//! The building blocks the Lock and Election services share: a member's
//! own KV, lease and watch calls, and the waits etcd's mutex and election
//! recipes are made of.
//!
//! etcd serves v3lock and v3election by running its client library's
//! recipes (a mutex, an election) inside the server. cairn does the same
//! with these blocks, with the same keys (`<name>/<lease id in hex>`) and
//! the same requests, so etcdctl's client-side `lock` and `elect`, other
//! etcd clients and these services contend for the very same keys.
//!
//! Owns: issuing KV requests exactly as a client would (through the KV
//! service, so every check and the raft path apply), and waiting for keys
//! to go away. Must never: write the store directly or hold a lock across
//! an await.

use std::sync::Arc;

use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::kv_server::Kv;
use cairn_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use cairn_proto::etcdserverpb::request_op::Request as OpRequest;
use cairn_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseGrantRequest, PutRequest, RangeRequest,
    RangeResponse, RequestOp, TxnRequest, TxnResponse, WatchCreateRequest,
};
use cairn_proto::mvccpb::event::EventType;
use tonic::{Request, Status};

use super::kv::KvService;
use super::lease::ServerLeases;
use super::read::Reads;
use super::state::Shared;
use crate::lease::LeaseApi;
use crate::mvcc::key_index::prefix_end;

/// The TTL of the lease a recipe grants itself when the caller gives none
/// (etcd's default session TTL, in seconds).
const SESSION_TTL: i64 = 60;

/// A member's own client: what the lock and election recipes call.
#[derive(Debug, Clone)]
pub struct Recipes {
    shared: Arc<Shared>,
    kv: KvService,
    leases: Arc<ServerLeases>,
}

impl Recipes {
    pub fn new(shared: Arc<Shared>, reads: Reads, leases: Arc<ServerLeases>) -> Recipes {
        let kv = KvService::new(Arc::clone(&shared), reads);
        Recipes { shared, kv, leases }
    }

    /// A header for a response this member makes up itself.
    pub fn header(&self) -> cairn_proto::etcdserverpb::ResponseHeader {
        self.shared.header()
    }

    /// The lease a session runs on: `lease`, or a new one with etcd's
    /// default session TTL when it is 0. etcd's recipes do not check that
    /// a given lease exists; the put that uses it does.
    pub async fn session_lease(&self, lease: i64) -> Result<i64, Status> {
        if lease != 0 {
            return Ok(lease);
        }
        let granted = self
            .leases
            .grant(LeaseGrantRequest {
                ttl: SESSION_TTL,
                id: 0,
            })
            .await
            .map_err(plain)?;
        Ok(granted.id)
    }

    pub async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, Status> {
        Ok(self
            .kv
            .txn(Request::new(req))
            .await
            .map_err(plain)?
            .into_inner())
    }

    pub async fn range(&self, req: RangeRequest) -> Result<RangeResponse, Status> {
        Ok(self
            .kv
            .range(Request::new(req))
            .await
            .map_err(plain)?
            .into_inner())
    }

    pub async fn delete(&self, key: Vec<u8>) -> Result<DeleteRangeResponse, Status> {
        let req = DeleteRangeRequest {
            key,
            ..Default::default()
        };
        Ok(self
            .kv
            .delete_range(Request::new(req))
            .await
            .map_err(plain)?
            .into_inner())
    }

    /// The key under `prefix` created first (etcd's `WithFirstCreate`).
    pub async fn first_created(&self, prefix: &[u8]) -> Result<RangeResponse, Status> {
        self.range(by_create_revision(prefix, SortOrder::Ascend, 0))
            .await
    }

    /// Waits until no key under `prefix` has a create revision at or below
    /// `max_create_rev`: each time, the newest such key is waited out, as
    /// etcd's recipes do, so that a waiter only ever watches the one key
    /// just ahead of it.
    pub async fn wait_deletes(&self, prefix: &[u8], max_create_rev: i64) -> Result<(), Status> {
        loop {
            let resp = self
                .range(by_create_revision(
                    prefix,
                    SortOrder::Descend,
                    max_create_rev,
                ))
                .await?;
            let Some(last) = resp.kvs.first() else {
                return Ok(());
            };
            let revision = resp.header.map_or(0, |h| h.revision);
            self.wait_delete(last.key.clone(), revision).await?;
        }
    }

    /// Waits for a DELETE of `key` at or after `revision`.
    async fn wait_delete(&self, key: Vec<u8>, revision: i64) -> Result<(), Status> {
        let mut watch = self
            .watch(WatchCreateRequest {
                key,
                start_revision: revision,
                ..Default::default()
            })
            .await;
        loop {
            let resp = watch.next().await?;
            if resp
                .events
                .iter()
                .any(|e| e.r#type == EventType::Delete as i32)
            {
                return Ok(());
            }
        }
    }

    /// Opens a watch on this member's hub.
    pub async fn watch(&self, req: WatchCreateRequest) -> Watch {
        let (stream, rx) = self.shared.hub.open_stream();
        stream.watch(&req).await;
        Watch {
            _stream: stream,
            rx,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// One watch opened by a recipe; closed when dropped.
#[derive(Debug)]
pub struct Watch {
    _stream: crate::watch::WatchStream,
    rx: tokio::sync::mpsc::Receiver<crate::watch::Outgoing>,
    shared: Arc<Shared>,
}

/// What a recipe gets from a watch: its events and the header revision.
#[derive(Debug)]
pub struct WatchBatch {
    pub events: Vec<cairn_proto::mvccpb::Event>,
    pub revision: i64,
}

impl Watch {
    /// The next response carrying events. A cancelled watch (its start
    /// revision was compacted) or a closed hub is an error, as a client's
    /// watch channel closing is for etcd's recipes.
    pub async fn next(&mut self) -> Result<WatchBatch, Status> {
        loop {
            let Some(out) = self.rx.recv().await else {
                return Err(Status::unknown("etcdserver: server stopped"));
            };
            let resp = out.response;
            if resp.canceled {
                return Err(Status::unknown(
                    "etcdserver: mvcc: required revision has been compacted",
                ));
            }
            if !resp.events.is_empty() {
                let revision = out
                    .revision
                    .unwrap_or_else(|| self.shared.header().revision);
                return Ok(WatchBatch {
                    events: resp.events,
                    revision,
                });
            }
        }
    }
}

/// etcd runs its recipes on its own client, so a failed call reaches the
/// caller as a plain error: code Unknown, the message kept.
fn plain(status: Status) -> Status {
    Status::unknown(status.message())
}

/// A range over `prefix` sorted by create revision, one key, optionally
/// only keys created at or below `max_create_rev` (0: any).
fn by_create_revision(prefix: &[u8], order: SortOrder, max_create_rev: i64) -> RangeRequest {
    RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        max_create_revision: max_create_rev,
        ..Default::default()
    }
}

/// `key`'s create revision equals `rev` (0: the key does not exist).
pub fn created_at(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(TargetUnion::CreateRevision(rev)),
        ..Default::default()
    }
}

pub fn put_op(key: &[u8], value: Vec<u8>, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(OpRequest::RequestPut(PutRequest {
            key: key.to_vec(),
            value,
            lease,
            ..Default::default()
        })),
    }
}

pub fn get_op(req: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(OpRequest::RequestRange(req)),
    }
}

pub fn get_key_op(key: &[u8]) -> RequestOp {
    get_op(RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    })
}

pub fn delete_op(key: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(OpRequest::RequestDeleteRange(DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })),
    }
}

/// The first-created key under `prefix`, as a txn operation.
pub fn first_created_op(prefix: &[u8]) -> RequestOp {
    get_op(by_create_revision(prefix, SortOrder::Ascend, 0))
}

/// The session key of `lease` under `prefix`: etcd's `<prefix><id in hex>`.
pub fn session_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key
}

/// The range response of a txn's `i`th operation.
pub fn range_at(resp: &TxnResponse, i: usize) -> Option<&RangeResponse> {
    use cairn_proto::etcdserverpb::response_op::Response;
    match resp.responses.get(i)?.response.as_ref()? {
        Response::ResponseRange(r) => Some(r),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_use_the_lease_id_in_lower_case_hex() {
        assert_eq!(
            session_key(b"mylock/", 0x12c8a20e1a69e302),
            b"mylock/12c8a20e1a69e302".to_vec()
        );
    }
}
