//! Calls between members on the peer port (`cairn.peer.v1.Member`, see
//! proto/proto/cairn/peer/v1/member.proto): a follower asks the leader to
//! renew a lease, to report a lease's remaining time or to promote a
//! learner; the leader asks every member for its hash (the corruption
//! check). Both sides live here: [`PeerCalls`] makes the calls,
//! [`MemberService`] answers them.
//!
//! They use peer URLs, as etcd does, not client URLs: peer URLs are where
//! members are configured to reach each other, client URLs are what clients
//! reach (a container publishes its client port on the host's address,
//! which inside the container is the container itself), and under TLS the
//! peer port is where members prove who they are.
//!
//! Owns: one lazily connected channel per peer URL. Must never: do the
//! leader's work on a member that is not the leader (it would forward
//! again, and two members that each believe the other leads would pass a
//! call back and forth), or answer a member of another cluster.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::{
    HashKvRequest, HashKvResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, Member, MemberPromoteRequest,
    MemberPromoteResponse,
};
use cairn_proto::peer::member_client::MemberClient;
use cairn_proto::peer::member_server::{self, MemberServer};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use super::cluster::ClusterService;
use super::lease::ServerLeases;
use super::maintenance;
use super::state::Shared;
use super::store_status;
use crate::etcd_error::EtcdError;
use crate::peer::dial::PeerDialer;

/// The metadata entry that carries the caller's cluster id (hexadecimal).
const CLUSTER_ID_KEY: &str = "cairn-cluster-id";

/// How long connecting to a member may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between attempts while the leader is changing.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The calling side: channels to the other members' peer URLs.
#[derive(Debug)]
pub struct PeerCalls {
    shared: Arc<Shared>,
    dialer: PeerDialer,
    channels: Mutex<HashMap<String, Channel>>,
}

impl PeerCalls {
    pub fn new(shared: Arc<Shared>, dialer: PeerDialer) -> PeerCalls {
        PeerCalls {
            shared,
            dialer,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// A client of member `m`, at its first peer URL.
    pub fn member(&self, m: &Member) -> Result<MemberClient<Channel>, Status> {
        let url = m
            .peer_ur_ls
            .first()
            .ok_or_else(|| Status::unavailable(format!("member {:x} has no peer URL", m.id)))?;
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let channel = match channels.get(url) {
            Some(c) => c.clone(),
            None => {
                let c = self
                    .dialer
                    .endpoint(url)
                    .map_err(|e| Status::unavailable(e.to_string()))?
                    .map(|e| e.connect_timeout(CONNECT_TIMEOUT))
                    .lazy();
                channels.insert(url.clone(), c.clone());
                c
            }
        };
        Ok(MemberClient::new(channel))
    }

    /// A client of the current leader; "no leader" when there is none or
    /// its record is not known here yet.
    fn leader(&self) -> Result<MemberClient<Channel>, Status> {
        let leader = self.shared.raft.leader.load(Ordering::Relaxed);
        if leader == 0 || leader == self.shared.member_id {
            return Err(EtcdError::NoLeader.into());
        }
        let member = self
            .shared
            .read_store()
            .members()
            .map_err(|e| store_status(&e))?
            .into_iter()
            .find(|m| m.id == leader)
            .ok_or_else(|| Status::from(EtcdError::NoLeader))?;
        self.member(&member)
    }

    /// `message` as a request stamped with this member's cluster id.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let id = MetadataValue::from_str(&format!("{:x}", self.shared.cluster_id))
            .expect("hex digits are valid metadata");
        request.metadata_mut().insert(CLUSTER_ID_KEY, id);
        request
    }

    /// Runs `call` against the leader, again while leadership is moving
    /// (no leader, the leader unreachable or no longer leading), until the
    /// request timeout.
    async fn on_leader<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(MemberClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.shared.limits.request_timeout;
        loop {
            let answer = match self.leader() {
                Ok(client) => call(client).await.map(Response::into_inner),
                Err(e) => Err(e),
            };
            match answer {
                // This member took over meanwhile: the caller's client
                // retries, and lands on the leader's own path.
                Err(_) if self.shared.raft.is_leader.load(Ordering::Relaxed) => {
                    return Err(EtcdError::LeaderChanged.into());
                }
                Err(e) if leadership_moving(&e) && Instant::now() < deadline => {
                    if self.shared.raft.leader.load(Ordering::Relaxed) == 0 {
                        self.shared.wait_for_leader().await?;
                    } else {
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Renews lease `id` on the leader: its new remaining TTL, or `None`
    /// when the lease does not exist.
    pub async fn renew_on_leader(&self, id: i64) -> Result<Option<i64>, Status> {
        let resp = self
            .on_leader(|mut c| {
                let request = self.request(LeaseKeepAliveRequest { id });
                async move { c.lease_renew(request).await }
            })
            .await?;
        Ok((resp.ttl > 0).then_some(resp.ttl))
    }

    /// A lease's remaining time, from the leader (TTL -1: not found).
    pub async fn time_to_live_on_leader(
        &self,
        req: LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse, Status> {
        self.on_leader(|mut c| {
            let request = self.request(req);
            async move { c.lease_time_to_live(request).await }
        })
        .await
    }

    /// Has the leader promote a learner.
    pub async fn promote_on_leader(
        &self,
        req: MemberPromoteRequest,
    ) -> Result<MemberPromoteResponse, Status> {
        self.on_leader(|mut c| {
            let request = self.request(req);
            async move { c.promote_learner(request).await }
        })
        .await
    }
}

/// Errors that mean "ask again": no leader, a member that no longer leads,
/// a leader that cannot be reached. etcd gives all of them UNAVAILABLE.
fn leadership_moving(e: &Status) -> bool {
    e.code() == Code::Unavailable
}

/// The answering side, mounted on the peer port.
#[derive(Debug, Clone)]
pub struct MemberService {
    shared: Arc<Shared>,
    leases: Arc<ServerLeases>,
    membership: ClusterService,
}

impl MemberService {
    pub fn new(
        shared: Arc<Shared>,
        leases: Arc<ServerLeases>,
        membership: ClusterService,
    ) -> MemberServer<MemberService> {
        MemberServer::new(MemberService {
            shared,
            leases,
            membership,
        })
    }

    /// Refuses a caller that is not of this cluster.
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let theirs = request
            .metadata()
            .get(CLUSTER_ID_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| u64::from_str_radix(v, 16).ok());
        match theirs {
            Some(id) if id == self.shared.cluster_id => Ok(()),
            Some(id) => Err(Status::failed_precondition(format!(
                "cluster id mismatch: the caller belongs to cluster {id:x}, this member to \
                 cluster {:x}",
                self.shared.cluster_id
            ))),
            None => Err(Status::failed_precondition(format!(
                "a call between members needs the {CLUSTER_ID_KEY} metadata entry"
            ))),
        }
    }

    /// Refuses the leader's work on a member that is not the leader.
    fn leading(&self) -> Result<(), Status> {
        if self.shared.raft.is_leader.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(EtcdError::NotLeader.into())
        }
    }
}

#[tonic::async_trait]
impl member_server::Member for MemberService {
    async fn lease_renew(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        self.check(&request)?;
        self.leading()?;
        let id = request.into_inner().id;
        let ttl = self.leases.renew_as_leader(id).await?;
        Ok(Response::new(LeaseKeepAliveResponse {
            header: Some(self.shared.header()),
            id,
            ttl: ttl.unwrap_or(0),
        }))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        self.check(&request)?;
        self.leading()?;
        let req = request.into_inner();
        let id = req.id;
        let answer = self.leases.time_to_live_as_leader(req)?;
        Ok(Response::new(answer.unwrap_or(LeaseTimeToLiveResponse {
            header: Some(self.shared.header()),
            id,
            ttl: -1,
            ..Default::default()
        })))
    }

    async fn promote_learner(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.check(&request)?;
        self.leading()?;
        let resp = self
            .membership
            .promote_as_leader(request.into_inner())
            .await?;
        Ok(Response::new(resp))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        self.check(&request)?;
        let revision = request.into_inner().revision;
        Ok(Response::new(maintenance::hash_kv(&self.shared, revision)?))
    }
}
