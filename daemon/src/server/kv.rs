//! etcd's KV service: Range, Put, DeleteRange, Txn, Compact.
//!
//! Owns: checking a request before it is proposed (the checks that depend
//! on this member's configuration happen here and only here), choosing
//! between a linearizable and a serializable read, and wrapping writes in
//! the `cairn.internal.v1.Request` envelope. Must never: change the store
//! itself — every write goes through raft.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
use cairn_proto::etcdserverpb::kv_server::Kv;
use cairn_proto::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest,
    TxnResponse,
};
use cairn_proto::internal::{Request as Envelope, Requester, request::Op};
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::auth::requester;
use super::node::fill_header;
use super::read::Reads;
use super::state::{Outcome, Shared};
use super::store_status;
use crate::auth::{AuthInfo, check};
use crate::etcd_error::EtcdError;
use crate::mvcc::{
    check_request_size, txn_is_read_only, validate_delete, validate_put, validate_range,
    validate_txn,
};

/// Serves the KV service of one member.
#[derive(Debug, Clone)]
pub struct KvService {
    shared: Arc<Shared>,
    reads: Reads,
}

impl KvService {
    pub fn new(shared: Arc<Shared>, reads: Reads) -> KvService {
        KvService { shared, reads }
    }
}

/// Proposes `op` for the client `who`: at apply, every member checks it
/// against the auth state of that point in the log.
pub async fn propose_for(shared: &Shared, op: Op, who: &AuthInfo) -> Result<Outcome, Status> {
    let requester = Requester {
        user: who.user.clone(),
        auth_revision: who.revision,
    };
    propose_envelope(shared, op, Some(requester)).await
}

/// Proposes `op` as the server itself (lease expiry, alarms, compaction,
/// member attributes, logins whose password was checked): no permission
/// check applies to it. Never for a client's request.
pub async fn propose_internal(shared: &Shared, op: Op) -> Result<Outcome, Status> {
    propose_envelope(shared, op, None).await
}

/// Wraps `op` in an envelope, checks its size and proposes it.
async fn propose_envelope(
    shared: &Shared,
    op: Op,
    requester: Option<Requester>,
) -> Result<Outcome, Status> {
    let id = shared.next_id() as u64;
    // tests/poison_entry.rs: a put whose entry no member can decode (a
    // Txn field whose bytes end early), as a bug in encoding would make.
    #[cfg(feature = "failpoints")]
    let poison =
        matches!(op, Op::Put(_)) && fail::eval("kv::undecodable-proposal", |_| ()).is_some();
    let envelope = Envelope {
        id,
        op: Some(op),
        requester,
    };
    #[cfg_attr(not(feature = "failpoints"), allow(unused_mut))]
    let mut data = envelope.encode_to_vec();
    #[cfg(feature = "failpoints")]
    if poison {
        data = vec![0x22, 0x05];
    }
    check_request_size(data.len(), &shared.limits.request).map_err(|e| store_status(&e))?;
    Ok(shared.propose(id, Bytes::from(data)).await?)
}

/// etcd's quota check before a write that can grow the store: past
/// `--quota-backend-bytes` (counting `cost`, the request's size), the
/// member raises NOSPACE through raft and the write fails with "database
/// space exceeded".
pub fn check_quota(shared: &Arc<Shared>, cost: usize) -> Result<(), Status> {
    let Some(quota) = shared.limits.quota_bytes else {
        return Ok(());
    };
    let size = shared.metrics.db_size_bytes.load(Ordering::Relaxed);
    if size.saturating_add(cost as u64) <= quota {
        return Ok(());
    }
    let req = AlarmRequest {
        action: AlarmAction::Activate as i32,
        member_id: shared.member_id,
        alarm: AlarmType::Nospace as i32,
    };
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        if let Err(e) = propose_internal(&shared, Op::Alarm(req)).await {
            tracing::warn!(error = %e.message(), "raising the NOSPACE alarm");
        }
    });
    Err(EtcdError::NoSpace.into())
}

/// The outcome of a proposal that can only have one shape.
fn unexpected(outcome: &Outcome) -> Status {
    Status::internal(format!("unexpected outcome {outcome:?}"))
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let r = request.into_inner();
        validate_range(&r).map_err(|e| store_status(&e))?;
        if !r.serializable {
            // A learner serves only serializable reads (etcd's rule; the
            // server's learner gate lets Range through for this check).
            if self.shared.raft.is_learner.load(Ordering::Relaxed) {
                return Err(EtcdError::NotSupportedForLearner.into());
            }
            self.reads.linearizable().await?;
        }
        check::range(&self.shared.auth(), &who, &r)?;
        let mut resp = self
            .shared
            .read_store()
            .range(&r)
            .map_err(|e| store_status(&e))?;
        fill_header(&self.shared, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let r = request.into_inner();
        validate_put(&r).map_err(|e| store_status(&e))?;
        check_quota(&self.shared, r.encoded_len())?;
        match propose_for(&self.shared, Op::Put(r), &who).await? {
            Outcome::Put(mut resp) => {
                fill_header(&self.shared, &mut resp.header);
                Ok(Response::new(resp))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let r = request.into_inner();
        validate_delete(&r).map_err(|e| store_status(&e))?;
        match propose_for(&self.shared, Op::DeleteRange(r), &who).await? {
            Outcome::DeleteRange(mut resp) => {
                fill_header(&self.shared, &mut resp.header);
                Ok(Response::new(resp))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let r = request.into_inner();
        validate_txn(&r, &self.shared.limits.request).map_err(|e| store_status(&e))?;
        if !txn_is_read_only(&r) {
            check_quota(&self.shared, r.encoded_len())?;
        }
        match propose_for(&self.shared, Op::Txn(r), &who).await? {
            Outcome::Txn(mut resp) => {
                fill_header(&self.shared, &mut resp.header);
                Ok(Response::new(resp))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let who = requester(&self.shared, &request).await?;
        let r = request.into_inner();
        match propose_for(&self.shared, Op::Compaction(r), &who).await? {
            Outcome::Compaction(mut resp) => {
                fill_header(&self.shared, &mut resp.header);
                Ok(Response::new(resp))
            }
            other => Err(unexpected(&other)),
        }
    }
}
