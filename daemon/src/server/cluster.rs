//! etcd's Cluster service: listing members and changing membership.
//!
//! Owns: validating a membership request against the member records
//! (addresses in use, learner limit, etcd's strict reconfiguration rules),
//! giving a new member its id, and proposing the change through raft.
//! Must never: report a member that raft has not applied, or answer a
//! change before this member applied it.
//!
//! The strict check (etcd's `--strict-reconfig-check`, on by default)
//! refuses a change that would leave the cluster short of a quorum of
//! started members, or that is made while some voter is unreachable from
//! here. A member counts as started once it has published its name.
//!
//! The same service is mounted on the peer listener, so a member joining
//! with `--initial-cluster-state existing` can learn the cluster's id and
//! its own from the peer URLs it was given (see `server::join`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cairn_proto::etcdserverpb::cluster_server::Cluster;
use cairn_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::peer_calls::PeerCalls;
use super::read::Reads;
use super::state::{Input, Shared};
use super::store_status;
use crate::config::ids;
use crate::config::urls::EtcdUrl;
use crate::etcd_error::EtcdError;
use crate::peer::transport::Transport;
use crate::raft::{ConfChange, ConfChangeType};

/// etcd allows one learner at a time.
const MAX_LEARNERS: usize = 1;

/// What membership changes are checked against, besides the records.
#[derive(Debug, Clone)]
pub struct MembershipRules {
    /// `--initial-cluster-token`: part of a new member's id.
    pub token: String,
    /// `--strict-reconfig-check`.
    pub strict: bool,
}

#[derive(Debug, Clone)]
pub struct ClusterService {
    shared: Arc<Shared>,
    reads: Reads,
    transport: Arc<Transport>,
    rules: MembershipRules,
    peers: Arc<PeerCalls>,
}

impl ClusterService {
    pub fn new(
        shared: Arc<Shared>,
        reads: Reads,
        transport: Arc<Transport>,
        rules: MembershipRules,
        peers: Arc<PeerCalls>,
    ) -> ClusterService {
        ClusterService {
            shared,
            reads,
            transport,
            rules,
            peers,
        }
    }

    /// Promotes a learner, on the leader (the caller has checked that
    /// this member leads).
    pub async fn promote_as_leader(
        &self,
        req: MemberPromoteRequest,
    ) -> Result<MemberPromoteResponse, Status> {
        let members = self.members()?;
        let learner = members
            .iter()
            .find(|m| m.id == req.id)
            .ok_or_else(|| Status::from(EtcdError::MemberNotFound))?;
        if !learner.is_learner {
            return Err(EtcdError::MemberNotLearner.into());
        }
        self.check_add_voter(&members, true)?;
        let id = self.shared.next_id() as u64;
        self.shared
            .submit(
                id,
                Input::PromoteLearner {
                    id,
                    learner: req.id,
                },
            )
            .await?;
        let (header, members) = self.after_change()?;
        Ok(MemberPromoteResponse {
            header: Some(header),
            members,
        })
    }

    fn members(&self) -> Result<Vec<Member>, Status> {
        self.shared
            .read_store()
            .members()
            .map_err(|e| store_status(&e))
    }

    /// Proposes `cc` and waits until this member has applied it.
    async fn change(&self, cc: ConfChange) -> Result<(), Status> {
        let id = self.shared.next_id() as u64;
        self.shared
            .submit(id, Input::ProposeConfChange { id, cc })
            .await?;
        Ok(())
    }

    /// Whether this member has an open stream to every voter.
    fn voters_connected(&self, members: &[Member]) -> bool {
        let stats = self.transport.stats();
        members
            .iter()
            .filter(|m| !m.is_learner && m.id != self.shared.member_id)
            .all(|m| stats.peers.iter().any(|p| p.id == m.id && p.active))
    }

    /// Whether member `id` is reachable from here (this member always is).
    fn is_active(&self, id: u64) -> bool {
        id == self.shared.member_id
            || self
                .transport
                .stats()
                .peers
                .iter()
                .any(|p| p.id == id && p.active)
    }

    /// The strict check for adding a voter, or promoting a learner (which
    /// counts as started): after the change, started voters are a quorum.
    fn check_add_voter(&self, members: &[Member], newcomer_started: bool) -> Result<(), Status> {
        if !self.rules.strict {
            return Ok(());
        }
        let voters = members.iter().filter(|m| !m.is_learner);
        let (count, started) = voters.fold((1, usize::from(newcomer_started)), |(n, s), m| {
            (n + 1, s + usize::from(is_started(m)))
        });
        if started < count / 2 + 1 {
            return Err(EtcdError::MemberNotEnoughStarted.into());
        }
        if !self.voters_connected(members) {
            return Err(EtcdError::Unhealthy.into());
        }
        Ok(())
    }

    /// The strict check for removing voter `id`.
    fn check_remove_voter(&self, members: &[Member], id: u64) -> Result<(), Status> {
        if !self.rules.strict {
            return Ok(());
        }
        let voters: Vec<&Member> = members.iter().filter(|m| !m.is_learner).collect();
        let remaining: Vec<&&Member> = voters.iter().filter(|m| m.id != id).collect();
        let started = remaining.iter().filter(|m| is_started(m)).count();
        if started < remaining.len() / 2 + 1 {
            return Err(EtcdError::MemberNotEnoughStarted.into());
        }
        // A member that is down is not part of the working quorum: taking
        // it out cannot hurt. Otherwise the others must still make one.
        if !self.is_active(id) {
            return Ok(());
        }
        let active = voters.iter().filter(|m| self.is_active(m.id)).count();
        if active - 1 < 1 + (voters.len() - 1) / 2 {
            return Err(EtcdError::Unhealthy.into());
        }
        Ok(())
    }

    /// Answers after a change: the header and the members as applied here.
    fn after_change(
        &self,
    ) -> Result<(cairn_proto::etcdserverpb::ResponseHeader, Vec<Member>), Status> {
        Ok((self.shared.header_at(0), self.members()?))
    }
}

/// etcd's notion of a started member: it has published its name.
fn is_started(m: &Member) -> bool {
    !m.name.is_empty()
}

/// Peer URLs as etcd keeps them: parsed, written out canonically, sorted.
fn parse_peer_urls(given: &[String]) -> Result<(Vec<EtcdUrl>, Vec<String>), Status> {
    if given.is_empty() {
        return Err(EtcdError::MemberBadUrls.into());
    }
    let mut urls = given
        .iter()
        .map(|u| EtcdUrl::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Status::from(EtcdError::MemberBadUrls))?;
    urls.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let texts = urls.iter().map(ToString::to_string).collect();
    Ok((urls, texts))
}

/// Whether a member other than `except` already uses one of `urls`.
fn urls_taken(members: &[Member], urls: &[String], except: u64) -> bool {
    members
        .iter()
        .filter(|m| m.id != except)
        .any(|m| m.peer_ur_ls.iter().any(|u| urls.contains(u)))
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        let req = request.into_inner();
        let (urls, texts) = parse_peer_urls(&req.peer_ur_ls)?;
        let members = self.members()?;
        if urls_taken(&members, &texts, 0) {
            return Err(EtcdError::PeerUrlExist.into());
        }
        if req.is_learner {
            if members.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS {
                return Err(EtcdError::TooManyLearners.into());
            }
            if self.rules.strict && !self.voters_connected(&members) {
                return Err(EtcdError::Unhealthy.into());
            }
        } else {
            self.check_add_voter(&members, false)?;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let id = ids::member_id(&urls, &self.rules.token, Some(now));
        let removed = self
            .shared
            .read_store()
            .is_removed_member(id)
            .map_err(|e| store_status(&e))?;
        if removed {
            return Err(EtcdError::MemberNotFound.into());
        }
        if members.iter().any(|m| m.id == id) {
            return Err(EtcdError::MemberExist.into());
        }
        let member = Member {
            id,
            peer_ur_ls: texts,
            is_learner: req.is_learner,
            ..Member::default()
        };
        let change_type = if req.is_learner {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::AddNode
        };
        self.change(ConfChange {
            change_type,
            node_id: id,
            context: Bytes::from(member.encode_to_vec()),
        })
        .await?;
        let (header, members) = self.after_change()?;
        Ok(Response::new(MemberAddResponse {
            header: Some(header),
            member: Some(member),
            members,
        }))
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        let id = request.into_inner().id;
        let members = self.members()?;
        let target = members
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| Status::from(EtcdError::MemberNotFound))?;
        if !target.is_learner {
            self.check_remove_voter(&members, id)?;
        }
        self.change(ConfChange {
            change_type: ConfChangeType::RemoveNode,
            node_id: id,
            context: Bytes::new(),
        })
        .await?;
        let (header, members) = self.after_change()?;
        Ok(Response::new(MemberRemoveResponse {
            header: Some(header),
            members,
        }))
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        let req = request.into_inner();
        let members = self.members()?;
        let mut member = members
            .iter()
            .find(|m| m.id == req.id)
            .cloned()
            .ok_or_else(|| Status::from(EtcdError::MemberNotFound))?;
        let (_, texts) = parse_peer_urls(&req.peer_ur_ls)?;
        if urls_taken(&members, &texts, req.id) {
            return Err(EtcdError::PeerUrlExist.into());
        }
        member.peer_ur_ls = texts;
        self.change(ConfChange {
            change_type: ConfChangeType::UpdateNode,
            node_id: req.id,
            context: Bytes::from(member.encode_to_vec()),
        })
        .await?;
        let (header, members) = self.after_change()?;
        Ok(Response::new(MemberUpdateResponse {
            header: Some(header),
            members,
        }))
    }

    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        if request.into_inner().linearizable {
            self.reads.linearizable().await?;
        }
        Ok(Response::new(MemberListResponse {
            // Membership is not versioned by the key space: like etcd, the
            // header carries no revision.
            header: Some(self.shared.header_at(0)),
            members: self.members()?,
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let req = request.into_inner();
        // Only the leader knows how far the learner's log is: ask it.
        let resp = if self.shared.raft.is_leader.load(Ordering::Relaxed) {
            self.promote_as_leader(req).await?
        } else {
            self.peers.promote_on_leader(req).await?
        };
        Ok(Response::new(resp))
    }
}
