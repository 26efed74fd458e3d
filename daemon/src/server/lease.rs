//! The server's side of leases: [`ServerLeases`] implements the Lease
//! service's [`LeaseApi`] over raft and the shared lessor, and
//! [`expiry_loop`] revokes expired leases while this member leads.
//!
//! Owns: fixing a new lease's id and TTL before proposing it (so every
//! member applies the same values), answering renewals and remaining TTLs
//! on the leader, and forwarding them to the leader from a follower (over
//! the peer port, `peer_calls`). Must
//! never: expire a lease except through a raft proposal, or expire one from
//! a member that is not the leader.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::{
    LeaseCheckpoint, LeaseCheckpointRequest, LeaseGrantRequest, LeaseGrantResponse,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader,
};
use cairn_proto::internal::request::Op;
use tokio::sync::watch;
use tonic::Status;

use super::auth::requester;
use super::kv::{propose_for, propose_internal};
use super::node::fill_header;
use super::peer_calls::PeerCalls;
use super::state::{Outcome, Shared};
use crate::auth::{Access, AuthInfo};
use crate::etcd_error::EtcdError;
use crate::lease::{LeaseApi, LeaseError};

/// Expired leases revoked per round, as etcd does.
const REVOKES_PER_ROUND: usize = 500;
/// How often the leader looks for expired leases.
const EXPIRY_CHECK: Duration = Duration::from_millis(500);

/// [`LeaseApi`] for one member.
#[derive(Debug)]
pub struct ServerLeases {
    shared: Arc<Shared>,
    /// Calls to the leader, for what a follower forwards.
    peers: Arc<PeerCalls>,
}

impl ServerLeases {
    pub fn new(shared: Arc<Shared>, peers: Arc<PeerCalls>) -> ServerLeases {
        ServerLeases { shared, peers }
    }

    /// Renews lease `id` here, as the leader: its new remaining TTL, `None`
    /// when it does not exist; "not leader" on a follower.
    pub async fn renew_as_leader(&self, id: i64) -> Result<Option<i64>, Status> {
        match self.renew_here(id) {
            Err(LeaseError::NotLeader) => Err(EtcdError::NotLeader.into()),
            local => self.finish_renew(id, local).await,
        }
    }

    /// Lease `id`'s remaining time here, as the leader (`None`: not found);
    /// "not leader" on a follower.
    pub fn time_to_live_as_leader(
        &self,
        req: LeaseTimeToLiveRequest,
    ) -> Result<Option<LeaseTimeToLiveResponse>, Status> {
        match self.time_to_live_here(&req) {
            Err(LeaseError::NotLeader) => Err(EtcdError::NotLeader.into()),
            other => other.map_err(|e| EtcdError::from(e).into()),
        }
    }

    /// Renewal by this member's lessor, which only the leader's does:
    /// the new TTL, and whether the lease had a checkpoint.
    fn renew_here(&self, id: i64) -> Result<(i64, bool), LeaseError> {
        let mut lessor = self.shared.lock_lessor();
        lessor
            .renew(id, Instant::now())
            .map(|ttl| (ttl, lessor.checkpointed(id)))
    }

    /// What the client hears of a renewal made here.
    async fn finish_renew(
        &self,
        id: i64,
        local: Result<(i64, bool), LeaseError>,
    ) -> Result<Option<i64>, Status> {
        match local {
            Ok((ttl, checkpointed)) => {
                if checkpointed {
                    // A later leader must not start from the old remaining
                    // TTL: forget it, as etcd does on renewal.
                    propose_checkpoints(&self.shared, vec![(id, 0)]);
                }
                Ok(Some(ttl))
            }
            Err(LeaseError::NotFound) => Ok(None),
            Err(LeaseError::Expired) => self.wait_revoked(id).await,
            Err(e) => Err(EtcdError::from(e).into()),
        }
    }

    /// Remaining time from this member's lessor (only the leader's knows).
    fn time_to_live_here(
        &self,
        req: &LeaseTimeToLiveRequest,
    ) -> Result<Option<LeaseTimeToLiveResponse>, LeaseError> {
        let local = self
            .shared
            .lock_lessor()
            .time_to_live(req.id, Instant::now());
        match local {
            Ok(t) => Ok(Some(LeaseTimeToLiveResponse {
                header: Some(self.shared.header()),
                id: req.id,
                ttl: t.ttl,
                granted_ttl: t.granted_ttl,
                keys: if req.keys { t.keys } else { Vec::new() },
            })),
            Err(LeaseError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// etcd makes a renewal of an expired lease wait until its revoke is
    /// applied (then: not found) or leadership moves (then: retry there).
    async fn wait_revoked(&self, id: i64) -> Result<Option<i64>, Status> {
        let deadline = Instant::now() + self.shared.limits.request_timeout;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut lessor = self.shared.lock_lessor();
            match lessor.renew(id, Instant::now()) {
                Ok(ttl) => return Ok(Some(ttl)),
                Err(LeaseError::NotFound) => return Ok(None),
                Err(LeaseError::Expired) => {}
                Err(e) => return Err(EtcdError::from(e).into()),
            }
        }
        Err(EtcdError::Timeout.into())
    }
}

#[tonic::async_trait]
impl LeaseApi for ServerLeases {
    async fn requester<T: Sync>(&self, request: &tonic::Request<T>) -> Result<AuthInfo, Status> {
        Ok(requester(&self.shared, request).await?)
    }

    async fn grant(
        &self,
        mut req: LeaseGrantRequest,
        who: &AuthInfo,
    ) -> Result<LeaseGrantResponse, Status> {
        super::kv::check_quota(&self.shared, 0)?;
        if req.id == 0 {
            req.id = self.shared.next_id();
        }
        req.ttl = self
            .shared
            .lock_lessor()
            .proposed_ttl(req.ttl)
            .map_err(EtcdError::from)?;
        match propose_for(&self.shared, Op::LeaseGrant(req), who).await? {
            Outcome::LeaseGrant(mut resp) => {
                fill_header(&self.shared, &mut resp.header);
                Ok(resp)
            }
            other => Err(Status::internal(format!("unexpected outcome {other:?}"))),
        }
    }

    async fn revoke(
        &self,
        req: LeaseRevokeRequest,
        who: &AuthInfo,
    ) -> Result<LeaseRevokeResponse, Status> {
        match propose_for(&self.shared, Op::LeaseRevoke(req), who).await? {
            Outcome::LeaseRevoke(mut resp) => {
                fill_header(&self.shared, &mut resp.header);
                Ok(resp)
            }
            other => Err(Status::internal(format!("unexpected outcome {other:?}"))),
        }
    }

    async fn renew(&self, id: i64) -> Result<Option<i64>, Status> {
        match self.renew_here(id) {
            Err(LeaseError::NotLeader) => self.peers.renew_on_leader(id).await,
            local => self.finish_renew(id, local).await,
        }
    }

    async fn time_to_live(
        &self,
        req: LeaseTimeToLiveRequest,
        who: &AuthInfo,
    ) -> Result<Option<LeaseTimeToLiveResponse>, Status> {
        let resp = match self.time_to_live_here(&req) {
            Err(LeaseError::NotLeader) => {
                let resp = self.peers.time_to_live_on_leader(req).await?;
                (resp.ttl >= 0).then_some(resp)
            }
            other => other.map_err(EtcdError::from)?,
        };
        // etcd refuses the keys of a lease to a user who cannot read them
        // all.
        if let Some(resp) = &resp {
            let auth = self.shared.auth();
            for key in &resp.keys {
                auth.check_keys(who, key, &[], Access::Read)?;
            }
        }
        Ok(resp)
    }

    async fn leases(&self) -> Result<LeaseLeasesResponse, Status> {
        let leases = self
            .shared
            .lock_lessor()
            .leases()
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect();
        Ok(LeaseLeasesResponse {
            header: Some(self.shared.header()),
            leases,
        })
    }

    fn header(&self) -> ResponseHeader {
        self.shared.header()
    }
}

/// Checkpoints proposed together, at most (etcd's batch).
const CHECKPOINTS_PER_PROPOSAL: usize = 1000;

/// Proposes LeaseCheckpoints for `(lease, remaining TTL)` pairs without
/// waiting: one lost is made good by the next round.
fn propose_checkpoints(shared: &Arc<Shared>, checkpoints: Vec<(i64, i64)>) {
    for chunk in checkpoints.chunks(CHECKPOINTS_PER_PROPOSAL) {
        let req = LeaseCheckpointRequest {
            checkpoints: chunk
                .iter()
                .map(|&(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                .collect(),
        };
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            if let Err(e) = propose_internal(&shared, Op::LeaseCheckpoint(req)).await {
                tracing::debug!(error = %e.message(), "proposing lease checkpoints");
            }
        });
    }
}

/// While this member leads, records every long lease's remaining TTL
/// through raft each `interval` (etcd's
/// `--experimental-lease-checkpoint-interval`), so that a new leader, or
/// the cluster after a restart, counts down from there instead of from
/// the full TTL.
pub async fn checkpoint_loop(
    shared: Arc<Shared>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let interval = interval.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !shared.raft.is_leader.load(Ordering::Relaxed) {
            continue;
        }
        let due = shared.lock_lessor().checkpoints(Instant::now(), interval);
        if !due.is_empty() {
            propose_checkpoints(&shared, due);
        }
    }
}

/// While this member leads, proposes a revoke for every expired lease.
/// Proposals are not awaited one by one: a lost one comes back after the
/// lessor's retry interval.
pub async fn expiry_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_CHECK) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !shared.raft.is_leader.load(Ordering::Relaxed) {
            continue;
        }
        let expired = shared
            .lock_lessor()
            .expired(Instant::now(), REVOKES_PER_ROUND);
        for id in expired {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let req = LeaseRevokeRequest { id };
                if let Err(e) = propose_internal(&shared, Op::LeaseRevoke(req)).await {
                    tracing::debug!(lease = id, error = %e.message(), "revoking an expired lease");
                }
            });
        }
    }
}
