//! etcd's Cluster service. MemberList answers from the member records the
//! store holds; changing membership arrives with the membership issue and
//! is refused until then with a clear Unimplemented status.
//!
//! Owns: turning member records into MemberList answers. Must never: report
//! a member that raft has not applied.

use std::sync::Arc;

use cairn_proto::etcdserverpb::cluster_server::Cluster;
use cairn_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use tonic::{Request, Response, Status};

use super::read::Reads;
use super::state::Shared;
use super::{not_yet, store_status};

#[derive(Debug, Clone)]
pub struct ClusterService {
    shared: Arc<Shared>,
    reads: Reads,
}

impl ClusterService {
    pub fn new(shared: Arc<Shared>, reads: Reads) -> ClusterService {
        ClusterService { shared, reads }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        Err(not_yet("member add"))
    }

    async fn member_remove(
        &self,
        _: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(not_yet("member remove"))
    }

    async fn member_update(
        &self,
        _: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(not_yet("member update"))
    }

    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        if request.into_inner().linearizable {
            self.reads.linearizable().await?;
        }
        let members = self
            .shared
            .read_store()
            .members()
            .map_err(|e| store_status(&e))?;
        Ok(Response::new(MemberListResponse {
            // Membership is not versioned by the key space: like etcd, the
            // header carries no revision.
            header: Some(self.shared.header_at(0)),
            members,
        }))
    }

    async fn member_promote(
        &self,
        _: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(not_yet("member promote"))
    }
}
