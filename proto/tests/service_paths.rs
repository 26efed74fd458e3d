//! gRPC paths: every generated client must call exactly the HTTP/2 path
//! etcd serves (`/etcdserverpb.KV/Range`, ...), every generated server must
//! be named like etcd's, and a client wired straight into a server must get
//! its calls routed and decoded.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use cairn_proto::{etcdserverpb as pb, peer, v3electionpb as el, v3lockpb as lk};
use prost::Message as _;
use tonic::codegen::http;
use tonic::codegen::tokio_stream;
use tonic::server::NamedService;
use tonic::{Request, Response, Status, Streaming};

/// A fake channel that records the path of each request and answers
/// UNIMPLEMENTED.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Recorder {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        self.0.lock().unwrap().push(req.uri().path().to_owned());
        ready(Ok(Status::unimplemented("recorder").into_http()))
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Calls one RPC through a recording client and asserts the path it used.
macro_rules! expect_path {
    ($rec:expr, $call:expr, $path:literal) => {{
        let result = $call.await;
        assert!(result.is_err(), "recorder answers every call with an error");
        assert_eq!($rec.take(), [$path]);
        $path
    }};
}

fn empty<T: Send + 'static>() -> impl tokio_stream::Stream<Item = T> + Send + 'static {
    tokio_stream::iter(Vec::<T>::new())
}

/// Every RPC in the descriptor set, as `/<package>.<Service>/<Method>`.
fn all_paths_in_descriptors() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = BTreeSet::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                paths.insert(format!(
                    "/{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    paths
}

#[tokio::test]
async fn clients_use_etcd_paths() {
    let rec = Recorder::default();
    let mut seen = BTreeSet::new();

    let mut kv = pb::kv_client::KvClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        kv.range(pb::RangeRequest::default()),
        "/etcdserverpb.KV/Range"
    ));
    seen.insert(expect_path!(
        rec,
        kv.put(pb::PutRequest::default()),
        "/etcdserverpb.KV/Put"
    ));
    seen.insert(expect_path!(
        rec,
        kv.delete_range(pb::DeleteRangeRequest::default()),
        "/etcdserverpb.KV/DeleteRange"
    ));
    seen.insert(expect_path!(
        rec,
        kv.txn(pb::TxnRequest::default()),
        "/etcdserverpb.KV/Txn"
    ));
    seen.insert(expect_path!(
        rec,
        kv.compact(pb::CompactionRequest::default()),
        "/etcdserverpb.KV/Compact"
    ));

    let mut watch = pb::watch_client::WatchClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        watch.watch(empty::<pb::WatchRequest>()),
        "/etcdserverpb.Watch/Watch"
    ));

    let mut lease = pb::lease_client::LeaseClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        lease.lease_grant(pb::LeaseGrantRequest::default()),
        "/etcdserverpb.Lease/LeaseGrant"
    ));
    seen.insert(expect_path!(
        rec,
        lease.lease_revoke(pb::LeaseRevokeRequest::default()),
        "/etcdserverpb.Lease/LeaseRevoke"
    ));
    seen.insert(expect_path!(
        rec,
        lease.lease_keep_alive(empty::<pb::LeaseKeepAliveRequest>()),
        "/etcdserverpb.Lease/LeaseKeepAlive"
    ));
    seen.insert(expect_path!(
        rec,
        lease.lease_time_to_live(pb::LeaseTimeToLiveRequest::default()),
        "/etcdserverpb.Lease/LeaseTimeToLive"
    ));
    seen.insert(expect_path!(
        rec,
        lease.lease_leases(pb::LeaseLeasesRequest::default()),
        "/etcdserverpb.Lease/LeaseLeases"
    ));

    let mut cluster = pb::cluster_client::ClusterClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        cluster.member_add(pb::MemberAddRequest::default()),
        "/etcdserverpb.Cluster/MemberAdd"
    ));
    seen.insert(expect_path!(
        rec,
        cluster.member_remove(pb::MemberRemoveRequest::default()),
        "/etcdserverpb.Cluster/MemberRemove"
    ));
    seen.insert(expect_path!(
        rec,
        cluster.member_update(pb::MemberUpdateRequest::default()),
        "/etcdserverpb.Cluster/MemberUpdate"
    ));
    seen.insert(expect_path!(
        rec,
        cluster.member_list(pb::MemberListRequest::default()),
        "/etcdserverpb.Cluster/MemberList"
    ));
    seen.insert(expect_path!(
        rec,
        cluster.member_promote(pb::MemberPromoteRequest::default()),
        "/etcdserverpb.Cluster/MemberPromote"
    ));

    let mut mt = pb::maintenance_client::MaintenanceClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        mt.alarm(pb::AlarmRequest::default()),
        "/etcdserverpb.Maintenance/Alarm"
    ));
    seen.insert(expect_path!(
        rec,
        mt.status(pb::StatusRequest::default()),
        "/etcdserverpb.Maintenance/Status"
    ));
    seen.insert(expect_path!(
        rec,
        mt.defragment(pb::DefragmentRequest::default()),
        "/etcdserverpb.Maintenance/Defragment"
    ));
    seen.insert(expect_path!(
        rec,
        mt.hash(pb::HashRequest::default()),
        "/etcdserverpb.Maintenance/Hash"
    ));
    seen.insert(expect_path!(
        rec,
        mt.hash_kv(pb::HashKvRequest::default()),
        "/etcdserverpb.Maintenance/HashKV"
    ));
    seen.insert(expect_path!(
        rec,
        mt.snapshot(pb::SnapshotRequest::default()),
        "/etcdserverpb.Maintenance/Snapshot"
    ));
    seen.insert(expect_path!(
        rec,
        mt.move_leader(pb::MoveLeaderRequest::default()),
        "/etcdserverpb.Maintenance/MoveLeader"
    ));
    seen.insert(expect_path!(
        rec,
        mt.downgrade(pb::DowngradeRequest::default()),
        "/etcdserverpb.Maintenance/Downgrade"
    ));

    let mut auth = pb::auth_client::AuthClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        auth.auth_enable(pb::AuthEnableRequest::default()),
        "/etcdserverpb.Auth/AuthEnable"
    ));
    seen.insert(expect_path!(
        rec,
        auth.auth_disable(pb::AuthDisableRequest::default()),
        "/etcdserverpb.Auth/AuthDisable"
    ));
    seen.insert(expect_path!(
        rec,
        auth.auth_status(pb::AuthStatusRequest::default()),
        "/etcdserverpb.Auth/AuthStatus"
    ));
    seen.insert(expect_path!(
        rec,
        auth.authenticate(pb::AuthenticateRequest::default()),
        "/etcdserverpb.Auth/Authenticate"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_add(pb::AuthUserAddRequest::default()),
        "/etcdserverpb.Auth/UserAdd"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_get(pb::AuthUserGetRequest::default()),
        "/etcdserverpb.Auth/UserGet"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_list(pb::AuthUserListRequest::default()),
        "/etcdserverpb.Auth/UserList"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_delete(pb::AuthUserDeleteRequest::default()),
        "/etcdserverpb.Auth/UserDelete"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_change_password(pb::AuthUserChangePasswordRequest::default()),
        "/etcdserverpb.Auth/UserChangePassword"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_grant_role(pb::AuthUserGrantRoleRequest::default()),
        "/etcdserverpb.Auth/UserGrantRole"
    ));
    seen.insert(expect_path!(
        rec,
        auth.user_revoke_role(pb::AuthUserRevokeRoleRequest::default()),
        "/etcdserverpb.Auth/UserRevokeRole"
    ));
    seen.insert(expect_path!(
        rec,
        auth.role_add(pb::AuthRoleAddRequest::default()),
        "/etcdserverpb.Auth/RoleAdd"
    ));
    seen.insert(expect_path!(
        rec,
        auth.role_get(pb::AuthRoleGetRequest::default()),
        "/etcdserverpb.Auth/RoleGet"
    ));
    seen.insert(expect_path!(
        rec,
        auth.role_list(pb::AuthRoleListRequest::default()),
        "/etcdserverpb.Auth/RoleList"
    ));
    seen.insert(expect_path!(
        rec,
        auth.role_delete(pb::AuthRoleDeleteRequest::default()),
        "/etcdserverpb.Auth/RoleDelete"
    ));
    seen.insert(expect_path!(
        rec,
        auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest::default()),
        "/etcdserverpb.Auth/RoleGrantPermission"
    ));
    seen.insert(expect_path!(
        rec,
        auth.role_revoke_permission(pb::AuthRoleRevokePermissionRequest::default()),
        "/etcdserverpb.Auth/RoleRevokePermission"
    ));

    let mut lock = lk::lock_client::LockClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        lock.lock(lk::LockRequest::default()),
        "/v3lockpb.Lock/Lock"
    ));
    seen.insert(expect_path!(
        rec,
        lock.unlock(lk::UnlockRequest::default()),
        "/v3lockpb.Lock/Unlock"
    ));

    let mut election = el::election_client::ElectionClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        election.campaign(el::CampaignRequest::default()),
        "/v3electionpb.Election/Campaign"
    ));
    seen.insert(expect_path!(
        rec,
        election.proclaim(el::ProclaimRequest::default()),
        "/v3electionpb.Election/Proclaim"
    ));
    seen.insert(expect_path!(
        rec,
        election.leader(el::LeaderRequest::default()),
        "/v3electionpb.Election/Leader"
    ));
    seen.insert(expect_path!(
        rec,
        election.observe(el::LeaderRequest::default()),
        "/v3electionpb.Election/Observe"
    ));
    seen.insert(expect_path!(
        rec,
        election.resign(el::ResignRequest::default()),
        "/v3electionpb.Election/Resign"
    ));

    let mut peer_client = peer::peer_client::PeerClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        peer_client.identify(peer::IdentifyRequest::default()),
        "/cairn.peer.v1.Peer/Identify"
    ));
    seen.insert(expect_path!(
        rec,
        peer_client.send_messages(empty::<peer::MessageBatch>()),
        "/cairn.peer.v1.Peer/SendMessages"
    ));
    seen.insert(expect_path!(
        rec,
        peer_client.send_snapshot(empty::<peer::SnapshotChunk>()),
        "/cairn.peer.v1.Peer/SendSnapshot"
    ));

    let mut member = peer::member_client::MemberClient::new(rec.clone());
    seen.insert(expect_path!(
        rec,
        member.lease_renew(pb::LeaseKeepAliveRequest::default()),
        "/cairn.peer.v1.Member/LeaseRenew"
    ));
    seen.insert(expect_path!(
        rec,
        member.lease_time_to_live(pb::LeaseTimeToLiveRequest::default()),
        "/cairn.peer.v1.Member/LeaseTimeToLive"
    ));
    seen.insert(expect_path!(
        rec,
        member.promote_learner(pb::MemberPromoteRequest::default()),
        "/cairn.peer.v1.Member/PromoteLearner"
    ));
    seen.insert(expect_path!(
        rec,
        member.hash_kv(pb::HashKvRequest::default()),
        "/cairn.peer.v1.Member/HashKV"
    ));

    // The list above covers every RPC we define, no more and no fewer.
    let seen: BTreeSet<String> = seen.into_iter().map(str::to_owned).collect();
    assert_eq!(seen, all_paths_in_descriptors());
}

/// Generic over the service type so the servers need no implementation here.
fn name_of<S: NamedService>() -> &'static str {
    S::NAME
}

#[test]
fn servers_carry_etcd_service_names() {
    use pb::{
        auth_server::AuthServer, cluster_server::ClusterServer, kv_server::KvServer,
        lease_server::LeaseServer, maintenance_server::MaintenanceServer,
        watch_server::WatchServer,
    };
    assert_eq!(name_of::<KvServer<()>>(), "etcdserverpb.KV");
    assert_eq!(name_of::<WatchServer<()>>(), "etcdserverpb.Watch");
    assert_eq!(name_of::<LeaseServer<()>>(), "etcdserverpb.Lease");
    assert_eq!(name_of::<ClusterServer<()>>(), "etcdserverpb.Cluster");
    assert_eq!(
        name_of::<MaintenanceServer<()>>(),
        "etcdserverpb.Maintenance"
    );
    assert_eq!(name_of::<AuthServer<()>>(), "etcdserverpb.Auth");
    assert_eq!(
        name_of::<lk::lock_server::LockServer<()>>(),
        "v3lockpb.Lock"
    );
    assert_eq!(
        name_of::<el::election_server::ElectionServer<()>>(),
        "v3electionpb.Election"
    );
    assert_eq!(
        name_of::<peer::peer_server::PeerServer<()>>(),
        "cairn.peer.v1.Peer"
    );
    assert_eq!(
        name_of::<peer::member_server::MemberServer<()>>(),
        "cairn.peer.v1.Member"
    );
    assert_eq!(pb::kv_server::SERVICE_NAME, "etcdserverpb.KV");
}

/// A KV server that echoes the request key back in a Range response.
#[derive(Debug)]
struct EchoKv;

#[tonic::async_trait]
impl pb::kv_server::Kv for EchoKv {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(pb::RangeResponse {
            header: Some(pb::ResponseHeader {
                revision: 42,
                ..Default::default()
            }),
            kvs: vec![cairn_proto::mvccpb::KeyValue {
                key: req.key,
                value: b"echo".to_vec(),
                ..Default::default()
            }],
            more: false,
            count: 1,
        }))
    }
    async fn put(&self, _: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        Err(Status::aborted("put"))
    }
    async fn delete_range(
        &self,
        _: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        Err(Status::aborted("delete_range"))
    }
    async fn txn(&self, _: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        Err(Status::aborted("txn"))
    }
    async fn compact(
        &self,
        _: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        Err(Status::aborted("compact"))
    }
}

#[tokio::test]
async fn kv_client_reaches_kv_server_in_process() {
    let mut client = pb::kv_client::KvClient::new(pb::kv_server::KvServer::new(EchoKv));
    let resp = client
        .range(pb::RangeRequest {
            key: b"hello".to_vec(),
            ..Default::default()
        })
        .await
        .expect("range succeeds")
        .into_inner();
    assert_eq!(resp.header.unwrap().revision, 42);
    assert_eq!(resp.kvs[0].key, b"hello");
    assert_eq!(resp.kvs[0].value, b"echo");

    // Other methods are routed to their own handlers.
    let err = client.txn(pb::TxnRequest::default()).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (tonic::Code::Aborted, "txn"));
}

/// A peer server that counts the raft messages it receives and refuses
/// batches from another cluster.
#[derive(Debug)]
struct CountingPeer {
    cluster_id: u64,
}

#[tonic::async_trait]
impl peer::peer_server::Peer for CountingPeer {
    async fn identify(
        &self,
        _: Request<peer::IdentifyRequest>,
    ) -> Result<Response<peer::IdentifyResponse>, Status> {
        Ok(Response::new(peer::IdentifyResponse {
            cluster_id: self.cluster_id,
            member_id: 2,
            version: "test".to_owned(),
        }))
    }

    async fn send_messages(
        &self,
        request: Request<Streaming<peer::MessageBatch>>,
    ) -> Result<Response<peer::SendMessagesResponse>, Status> {
        let mut stream = request.into_inner();
        let mut received = 0;
        while let Some(batch) = stream.message().await? {
            if batch.cluster_id != self.cluster_id {
                return Err(Status::failed_precondition("cluster id mismatch"));
            }
            received += batch.messages.len() as u64;
        }
        Ok(Response::new(peer::SendMessagesResponse { received }))
    }

    async fn send_snapshot(
        &self,
        _: Request<Streaming<peer::SnapshotChunk>>,
    ) -> Result<Response<peer::SendSnapshotResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

#[tokio::test]
async fn peer_client_streams_to_peer_server_in_process() {
    let mut client =
        peer::peer_client::PeerClient::new(peer::peer_server::PeerServer::new(CountingPeer {
            cluster_id: 7,
        }));

    let id = client
        .identify(peer::IdentifyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((id.cluster_id, id.member_id), (7, 2));

    let batch = |cluster_id, n| peer::MessageBatch {
        cluster_id,
        from_member_id: 1,
        to_member_id: 2,
        messages: vec![peer::Message::default(); n],
    };
    let resp = client
        .send_messages(tokio_stream::iter(vec![batch(7, 2), batch(7, 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.received, 5);

    let err = client
        .send_messages(tokio_stream::iter(vec![batch(7, 1), batch(8, 1)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
}
