//! The Lease gRPC service: etcd's five lease RPCs over the server's
//! [`LeaseApi`].
//!
//! Owns: the RPC-level behaviour etcd 3.5 shows clients — headers filled
//! from the member (the revision taken before a keep-alive renews), an
//! unknown lease answered in-band (TTL 0 on the keep-alive stream, TTL -1
//! from TimeToLive) rather than as an error, any other keep-alive failure
//! ending the stream with its status. Must never: propose, renew or read the
//! lessor itself (the [`LeaseApi`] implementation does, with the server's
//! raft and locks), or hold a lock across an await.

use cairn_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader, lease_server::Lease,
};
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::auth::AuthInfo;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// What the server does for the Lease service. Errors are client-facing
/// statuses (build them from `EtcdError`).
#[tonic::async_trait]
pub trait LeaseApi: Send + Sync + 'static {
    /// Picks the id when the request's is 0 and the TTL (see
    /// `Lessor::proposed_ttl`), proposes a LeaseGrant and answers once it is
    /// applied.
    async fn grant(
        &self,
        req: LeaseGrantRequest,
        who: &AuthInfo,
    ) -> Result<LeaseGrantResponse, Status>;

    /// Proposes a LeaseRevoke for `who` and answers once it is applied
    /// (revoking needs write permission on every attached key).
    async fn revoke(
        &self,
        req: LeaseRevokeRequest,
        who: &AuthInfo,
    ) -> Result<LeaseRevokeResponse, Status>;

    /// Renews lease `id` on the leader (forwarding from a follower) and
    /// returns its TTL; `Ok(None)` when no such lease exists (including one
    /// that expired and whose revoke has now been applied).
    async fn renew(&self, id: i64) -> Result<Option<i64>, Status>;

    /// The leader's view of lease `req.id`; `Ok(None)` when no such lease
    /// exists. Keys only when `req.keys`, and then only if `who` may read
    /// each of them.
    async fn time_to_live(
        &self,
        req: LeaseTimeToLiveRequest,
        who: &AuthInfo,
    ) -> Result<Option<LeaseTimeToLiveResponse>, Status>;

    /// Who a request is for, from its credentials (token or certificate).
    async fn requester<T: Sync>(&self, request: &Request<T>) -> Result<AuthInfo, Status>;

    /// Every lease's id.
    async fn leases(&self) -> Result<LeaseLeasesResponse, Status>;

    /// This member's header now: cluster id, member id, raft term and the
    /// store's current revision.
    fn header(&self) -> ResponseHeader;
}

/// etcd's `etcdserverpb.Lease` service; serve it with
/// `LeaseServer::new(LeaseService::new(api))`.
#[derive(Debug)]
pub struct LeaseService<A> {
    api: Arc<A>,
}

impl<A> Clone for LeaseService<A> {
    fn clone(&self) -> Self {
        LeaseService {
            api: Arc::clone(&self.api),
        }
    }
}

impl<A: LeaseApi> LeaseService<A> {
    pub fn new(api: Arc<A>) -> Self {
        LeaseService { api }
    }

    /// Completes a header the apply path produced: member fields from now,
    /// the revision from the apply unless it left none.
    fn fill(&self, header: Option<ResponseHeader>) -> Option<ResponseHeader> {
        let mut now = self.api.header();
        if let Some(rev) = header.map(|h| h.revision).filter(|&r| r != 0) {
            now.revision = rev;
        }
        Some(now)
    }
}

/// Messages buffered towards a keep-alive client before the loop waits.
const KEEP_ALIVE_BUFFER: usize = 16;

async fn keep_alive<A: LeaseApi>(
    api: Arc<A>,
    mut inbound: Streaming<LeaseKeepAliveRequest>,
    tx: mpsc::Sender<Result<LeaseKeepAliveResponse, Status>>,
) {
    loop {
        let next = tokio::select! {
            biased;
            _ = tx.closed() => return,
            next = inbound.message() => next,
        };
        let req = match next {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(status) => {
                let _ = tx.send(Err(status)).await;
                return;
            }
        };
        // The header is taken before renewing, so the revision a client sees
        // with a successful renewal is never past a revoke of that lease.
        let header = Some(api.header());
        let ttl = tokio::select! {
            biased;
            _ = tx.closed() => return,
            ttl = api.renew(req.id) => ttl,
        };
        let msg = ttl.map(|ttl| LeaseKeepAliveResponse {
            header,
            id: req.id,
            ttl: ttl.unwrap_or(0),
        });
        let failed = msg.is_err();
        if tx.send(msg).await.is_err() || failed {
            return;
        }
    }
}

#[tonic::async_trait]
impl<A: LeaseApi> Lease for LeaseService<A> {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let who = self.api.requester(&request).await?;
        let mut resp = self.api.grant(request.into_inner(), &who).await?;
        resp.header = self.fill(resp.header);
        Ok(Response::new(resp))
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let who = self.api.requester(&request).await?;
        let mut resp = self.api.revoke(request.into_inner(), &who).await?;
        resp.header = self.fill(resp.header);
        Ok(Response::new(resp))
    }

    type LeaseKeepAliveStream = ReceiverStream<Result<LeaseKeepAliveResponse, Status>>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let (tx, rx) = mpsc::channel(KEEP_ALIVE_BUFFER);
        tokio::spawn(keep_alive(Arc::clone(&self.api), request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let who = self.api.requester(&request).await?;
        let req = request.into_inner();
        let id = req.id;
        let mut resp = match self.api.time_to_live(req, &who).await? {
            Some(resp) => resp,
            None => LeaseTimeToLiveResponse {
                id,
                ttl: -1,
                ..Default::default()
            },
        };
        resp.header = self.fill(resp.header);
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        _request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let mut resp = self.api.leases().await?;
        resp.header = self.fill(resp.header);
        Ok(Response::new(resp))
    }
}
