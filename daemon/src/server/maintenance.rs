//! etcd's Maintenance service: Status, Hash, HashKV, Alarm (list) and
//! MoveLeader now; Defragment, Snapshot and Downgrade arrive with the
//! maintenance issue and are refused until then with Unimplemented.
//!
//! Owns: reporting this member's view of raft and of its store. Must never:
//! block the raft thread (it reads the published [`RaftView`] and takes the
//! store's read lock only).
//!
//! [`RaftView`]: super::state::RaftView

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_proto::etcdserverpb::maintenance_server::Maintenance;
use cairn_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::state::{Input, Shared};
use super::{ETCD_VERSION, not_yet, store_status};
use crate::etcd_error::EtcdError;

#[derive(Debug, Clone)]
pub struct MaintenanceService {
    shared: Arc<Shared>,
}

impl MaintenanceService {
    pub fn new(shared: Arc<Shared>) -> MaintenanceService {
        MaintenanceService { shared }
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        // No alarm can be raised yet (NOSPACE and CORRUPT arrive with the
        // maintenance issue), so the list is empty and there is nothing to
        // activate or disarm.
        let _ = request.into_inner();
        Ok(Response::new(AlarmResponse {
            header: Some(self.shared.header()),
            alarms: Vec::new(),
        }))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let raft = &self.shared.raft;
        let size = self
            .shared
            .read_store()
            .size()
            .map_err(|e| store_status(&e))?;
        Ok(Response::new(StatusResponse {
            header: Some(self.shared.header()),
            version: ETCD_VERSION.to_string(),
            db_size: size.on_disk as i64,
            leader: raft.leader.load(Ordering::Relaxed),
            raft_index: raft.commit.load(Ordering::Relaxed),
            raft_term: raft.term.load(Ordering::Relaxed),
            raft_applied_index: raft.applied.load(Ordering::Relaxed),
            errors: Vec::new(),
            db_size_in_use: size.in_use as i64,
            is_learner: raft.is_learner.load(Ordering::Relaxed),
        }))
    }

    async fn defragment(
        &self,
        _: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        Err(not_yet("defragment"))
    }

    async fn hash(&self, _: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        let store = self.shared.read_store();
        let hash = store.hash().map_err(|e| store_status(&e))?;
        let header = self.shared.header_at(store.current_revision());
        Ok(Response::new(HashResponse {
            header: Some(header),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let rev = request.into_inner().revision;
        let store = self.shared.read_store();
        let h = store.hash_kv(rev).map_err(|e| store_status(&e))?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.shared.header_at(h.hash_revision)),
            hash: h.hash,
            // etcd reports -1 for a store that was never compacted.
            compact_revision: if h.compact_revision == 0 {
                -1
            } else {
                h.compact_revision
            },
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(not_yet("snapshot"))
    }

    /// Hands leadership to `target_id`, a voting member, and answers once
    /// it leads. Only the leader takes the request (etcdctl move-leader
    /// finds it among the endpoints); raft catches the target up first.
    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let target = request.into_inner().target_id;
        if !self.shared.raft.is_leader.load(Ordering::Relaxed) {
            return Err(EtcdError::NotLeader.into());
        }
        let voter = self
            .shared
            .read_store()
            .members()
            .map_err(|e| store_status(&e))?
            .iter()
            .any(|m| m.id == target && !m.is_learner);
        if !voter {
            return Err(EtcdError::BadLeaderTransferee.into());
        }
        if target != self.shared.member_id {
            self.shared.send_input(Input::TransferLeader(target))?;
            let timeout = self.shared.limits.request_timeout;
            if !self.shared.wait_for_leader_to_be(target, timeout).await {
                return Err(EtcdError::TimeoutLeaderTransfer.into());
            }
        }
        // etcd answers with no header at all.
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    async fn downgrade(
        &self,
        _: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(not_yet("downgrade"))
    }
}
