//! The denial matrix: every RPC the client port serves (read from the
//! service definitions, so a new RPC without an entry here fails this
//! test) called by every kind of caller that must be refused, on a cairn
//! member with auth enabled. Each refusal must carry etcd's code and
//! message; the callers with the right must get through.
//!
//! Callers refused: nobody (no credentials); a token from no login (what a
//! client left with after a wrong password has); an expired simple token;
//! a user whose roles give no permission on the keys named; a user whose
//! role was revoked just before; a client certificate whose common name
//! names no user (`--client-cert-auth`). Callers let through: root, and a
//! user holding read-write on the keys the requests name. Wrong passwords
//! themselves are refused by Authenticate (checked once).
//!
//! cairn only: etcd 3.5.1 leaves several of these open (nested Txns,
//! LeaseTimeToLive, Alarm, MoveLeader, ...); cairn checks them as etcd's
//! later 3.5 releases do. Where the two agree, `auth.rs` compares them.

mod support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, BufMut};
use cairn_proto::authpb::Permission;
use cairn_proto::etcdserverpb::{self as pb, watch_request::RequestUnion};
use cairn_proto::v3electionpb as el;
use cairn_proto::v3lockpb as lk;
use prost::Message;
use support::Server;
use support::cluster::{Cluster, Options, Tls};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

// ------------------------------------------------------------ raw calls

/// A codec that sends and receives encoded messages as they are, so one
/// client can call any path.
#[derive(Debug, Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n).to_vec()))
    }
}

/// How a call came out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    /// Answered (for a stream: its first message arrived, or nothing
    /// arrived in time, which for a stream that waits is no refusal).
    Answered,
    /// Refused with this status.
    Status(Code, String),
    /// A watch created and cancelled at once, with this reason.
    WatchCancelled(String),
}

/// What a path is: how to call it.
#[derive(Debug, Clone, Copy)]
struct Shape {
    client_streaming: bool,
    server_streaming: bool,
}

async fn call(
    channel: &Channel,
    path: &str,
    shape: Shape,
    body: Vec<u8>,
    token: Option<&str>,
) -> Got {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(e) = grpc.ready().await {
        return Got::Status(Code::Unavailable, e.to_string());
    }
    let path_q = tonic::codegen::http::uri::PathAndQuery::from_str(path).unwrap();
    let first = |r: Result<tonic::Response<tonic::Streaming<Vec<u8>>>, tonic::Status>| async move {
        match r {
            Err(s) => Err(s),
            Ok(resp) => {
                let mut stream = resp.into_inner();
                match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                    Ok(Ok(Some(m))) => Ok(Some(m)),
                    Ok(Ok(None)) => Ok(None),
                    Ok(Err(s)) => Err(s),
                    // Still waiting (a lock held, an election with no
                    // leader): not refused.
                    Err(_) => Ok(None),
                }
            }
        }
    };
    let result = match (shape.client_streaming, shape.server_streaming) {
        (false, false) => grpc
            .unary(with_token(tonic::Request::new(body), token), path_q, Raw)
            .await
            .map(|r| Some(r.into_inner())),
        (false, true) => {
            first(
                grpc.server_streaming(with_token(tonic::Request::new(body), token), path_q, Raw)
                    .await,
            )
            .await
        }
        (true, _) => {
            // Keep the sending side open, as clients do.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tx.send(body).await.unwrap();
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            let got = first(
                grpc.streaming(with_token(tonic::Request::new(stream), token), path_q, Raw)
                    .await,
            )
            .await;
            drop(tx);
            got
        }
    };
    match result {
        Err(s) => Got::Status(s.code(), s.message().to_owned()),
        Ok(Some(m)) if path == "/etcdserverpb.Watch/Watch" => {
            let resp = pb::WatchResponse::decode(m.as_slice()).unwrap();
            if resp.canceled {
                Got::WatchCancelled(resp.cancel_reason)
            } else {
                Got::Answered
            }
        }
        Ok(_) => Got::Answered,
    }
}

/// `req` carrying `token`, if any.
fn with_token<T>(mut req: tonic::Request<T>, token: Option<&str>) -> tonic::Request<T> {
    if let Some(t) = token {
        req.metadata_mut().insert("token", t.parse().unwrap());
    }
    req
}

/// Every RPC of the client port's services, with its shape.
fn rpcs() -> BTreeMap<String, Shape> {
    let set = prost_types::FileDescriptorSet::decode(cairn_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut all = BTreeMap::new();
    for file in &set.file {
        if file.package().starts_with("cairn.") {
            continue;
        }
        for service in &file.service {
            for m in &service.method {
                all.insert(
                    format!("/{}.{}/{}", file.package(), service.name(), m.name()),
                    Shape {
                        client_streaming: m.client_streaming(),
                        server_streaming: m.server_streaming(),
                    },
                );
            }
        }
    }
    all
}

// ------------------------------------------------------------ the requests

/// Keys every sample request names; the permitted user holds read-write
/// on the prefix.
const KEY: &[u8] = b"k/1";

/// A representative request for `path`, naming [`KEY`] where a request
/// names keys. `lease` is a lease with [`KEY`] attached; `member` an id
/// that is not a member. `None`: a path this test has no request for yet,
/// which fails it.
fn sample(path: &str, lease: i64) -> Option<Vec<u8>> {
    let no_member = 0x1234_u64;
    let key = KEY.to_vec();
    let put = pb::PutRequest {
        key: key.clone(),
        value: b"v".to_vec(),
        ..Default::default()
    };
    let fake_leader = el::LeaderKey {
        name: b"k".to_vec(),
        key: b"k/0".to_vec(),
        rev: 1,
        lease: 1,
    };
    Some(match path {
        "/etcdserverpb.KV/Range" => pb::RangeRequest {
            key,
            ..Default::default()
        }
        .encode_to_vec(),
        "/etcdserverpb.KV/Put" => put.encode_to_vec(),
        "/etcdserverpb.KV/DeleteRange" => pb::DeleteRangeRequest {
            key,
            ..Default::default()
        }
        .encode_to_vec(),
        // A nested txn: the inner put is what needs the permission.
        "/etcdserverpb.KV/Txn" => pb::TxnRequest {
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestTxn(pb::TxnRequest {
                    success: vec![pb::RequestOp {
                        request: Some(pb::request_op::Request::RequestPut(put)),
                    }],
                    ..Default::default()
                })),
            }],
            ..Default::default()
        }
        .encode_to_vec(),
        "/etcdserverpb.KV/Compact" => pb::CompactionRequest {
            revision: 1,
            physical: false,
        }
        .encode_to_vec(),
        "/etcdserverpb.Watch/Watch" => pb::WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(pb::WatchCreateRequest {
                key,
                ..Default::default()
            })),
        }
        .encode_to_vec(),
        "/etcdserverpb.Lease/LeaseGrant" => {
            pb::LeaseGrantRequest { ttl: 60, id: 0 }.encode_to_vec()
        }
        "/etcdserverpb.Lease/LeaseRevoke" => pb::LeaseRevokeRequest { id: lease }.encode_to_vec(),
        "/etcdserverpb.Lease/LeaseKeepAlive" => {
            pb::LeaseKeepAliveRequest { id: lease }.encode_to_vec()
        }
        "/etcdserverpb.Lease/LeaseTimeToLive" => pb::LeaseTimeToLiveRequest {
            id: lease,
            keys: true,
        }
        .encode_to_vec(),
        "/etcdserverpb.Lease/LeaseLeases" => pb::LeaseLeasesRequest {}.encode_to_vec(),
        "/etcdserverpb.Cluster/MemberAdd" => pb::MemberAddRequest {
            peer_ur_ls: vec!["http://127.0.0.1:9".into()],
            is_learner: true,
        }
        .encode_to_vec(),
        "/etcdserverpb.Cluster/MemberRemove" => {
            pb::MemberRemoveRequest { id: no_member }.encode_to_vec()
        }
        "/etcdserverpb.Cluster/MemberUpdate" => pb::MemberUpdateRequest {
            id: no_member,
            peer_ur_ls: vec!["http://127.0.0.1:9".into()],
        }
        .encode_to_vec(),
        "/etcdserverpb.Cluster/MemberList" => pb::MemberListRequest::default().encode_to_vec(),
        "/etcdserverpb.Cluster/MemberPromote" => {
            pb::MemberPromoteRequest { id: no_member }.encode_to_vec()
        }
        "/etcdserverpb.Maintenance/Alarm" => pb::AlarmRequest::default().encode_to_vec(),
        "/etcdserverpb.Maintenance/Status" => pb::StatusRequest {}.encode_to_vec(),
        "/etcdserverpb.Maintenance/Defragment" => pb::DefragmentRequest {}.encode_to_vec(),
        "/etcdserverpb.Maintenance/Hash" => pb::HashRequest {}.encode_to_vec(),
        "/etcdserverpb.Maintenance/HashKV" => pb::HashKvRequest { revision: 0 }.encode_to_vec(),
        "/etcdserverpb.Maintenance/Snapshot" => pb::SnapshotRequest {}.encode_to_vec(),
        "/etcdserverpb.Maintenance/MoveLeader" => pb::MoveLeaderRequest {
            target_id: no_member,
        }
        .encode_to_vec(),
        "/etcdserverpb.Maintenance/Downgrade" => pb::DowngradeRequest {
            action: 0,
            version: "3.5.0".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/AuthEnable" => pb::AuthEnableRequest {}.encode_to_vec(),
        // Root's own call is made last, and auth enabled again after it.
        "/etcdserverpb.Auth/AuthDisable" => pb::AuthDisableRequest {}.encode_to_vec(),
        "/etcdserverpb.Auth/AuthStatus" => pb::AuthStatusRequest {}.encode_to_vec(),
        "/etcdserverpb.Auth/Authenticate" => pb::AuthenticateRequest {
            name: "alice".into(),
            password: "alicepw".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/UserAdd" => pb::AuthUserAddRequest {
            name: "added".into(),
            password: "pw".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/UserGet" => pb::AuthUserGetRequest {
            name: "root".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/UserList" => pb::AuthUserListRequest {}.encode_to_vec(),
        "/etcdserverpb.Auth/UserDelete" => pb::AuthUserDeleteRequest {
            name: "nobody".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/UserChangePassword" => pb::AuthUserChangePasswordRequest {
            name: "nobody".into(),
            password: "pw".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/UserGrantRole" => pb::AuthUserGrantRoleRequest {
            user: "nobody".into(),
            role: "rw".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/UserRevokeRole" => pb::AuthUserRevokeRoleRequest {
            name: "nobody".into(),
            role: "rw".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/RoleAdd" => pb::AuthRoleAddRequest {
            name: "added".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/RoleGet" => pb::AuthRoleGetRequest {
            role: "root".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/RoleList" => pb::AuthRoleListRequest {}.encode_to_vec(),
        "/etcdserverpb.Auth/RoleDelete" => pb::AuthRoleDeleteRequest {
            role: "nope".into(),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/RoleGrantPermission" => pb::AuthRoleGrantPermissionRequest {
            name: "nope".into(),
            perm: Some(Permission {
                perm_type: 0,
                key: b"x".to_vec(),
                range_end: Vec::new(),
            }),
        }
        .encode_to_vec(),
        "/etcdserverpb.Auth/RoleRevokePermission" => pb::AuthRoleRevokePermissionRequest {
            role: "nope".into(),
            key: b"x".to_vec(),
            range_end: Vec::new(),
        }
        .encode_to_vec(),
        "/v3lockpb.Lock/Lock" => lk::LockRequest {
            name: b"k".to_vec(),
            lease,
        }
        .encode_to_vec(),
        "/v3lockpb.Lock/Unlock" => lk::UnlockRequest { key }.encode_to_vec(),
        "/v3electionpb.Election/Campaign" => el::CampaignRequest {
            name: b"k".to_vec(),
            lease,
            value: b"v".to_vec(),
        }
        .encode_to_vec(),
        "/v3electionpb.Election/Proclaim" => el::ProclaimRequest {
            leader: Some(fake_leader),
            value: b"v".to_vec(),
        }
        .encode_to_vec(),
        "/v3electionpb.Election/Leader" => el::LeaderRequest {
            name: b"k".to_vec(),
        }
        .encode_to_vec(),
        "/v3electionpb.Election/Observe" => el::LeaderRequest {
            name: b"k".to_vec(),
        }
        .encode_to_vec(),
        "/v3electionpb.Election/Resign" => el::ResignRequest {
            leader: Some(fake_leader),
        }
        .encode_to_vec(),
        _ => return None,
    })
}

// ------------------------------------------------------------ the verdicts

/// The callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Nobody,
    UnknownToken,
    ExpiredToken,
    NoPermission,
    JustRevoked,
    GhostCommonName,
    Root,
    Permitted,
}

const REFUSED: [Caller; 6] = [
    Caller::Nobody,
    Caller::UnknownToken,
    Caller::ExpiredToken,
    Caller::NoPermission,
    Caller::JustRevoked,
    Caller::GhostCommonName,
];

/// How a path decides who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Anyone; credentials are not even looked at.
    Ignores,
    /// Anyone, but a token given must be valid.
    AnyValid,
    /// Any user (not nobody), token valid.
    AnyUser,
    /// Permissions on the keys.
    Keys,
    /// The root role.
    Root,
}

fn kind(path: &str) -> Kind {
    match path {
        "/etcdserverpb.Maintenance/Status"
        | "/etcdserverpb.Cluster/MemberList"
        | "/etcdserverpb.Lease/LeaseKeepAlive"
        | "/etcdserverpb.Lease/LeaseLeases"
        | "/etcdserverpb.Auth/Authenticate" => Kind::Ignores,
        "/etcdserverpb.KV/Compact" | "/etcdserverpb.Lease/LeaseGrant" => Kind::AnyValid,
        "/etcdserverpb.Maintenance/Alarm" => Kind::AnyUser,
        p if p.starts_with("/etcdserverpb.Auth/")
            || p.starts_with("/etcdserverpb.Cluster/")
            || p.starts_with("/etcdserverpb.Maintenance/") =>
        {
            Kind::Root
        }
        _ => Kind::Keys,
    }
}

const USER_EMPTY: (Code, &str) = (Code::InvalidArgument, "etcdserver: user name is empty");
const BAD_TOKEN: (Code, &str) = (Code::Unauthenticated, "etcdserver: invalid auth token");
const DENIED: (Code, &str) = (Code::PermissionDenied, "etcdserver: permission denied");
const NOT_FOUND: (Code, &str) = (Code::FailedPrecondition, "etcdserver: user name not found");
const WATCH_DENIED: &str =
    "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/// What `caller` must get from `path`: `None` when it must get through.
fn verdict(path: &str, caller: Caller) -> Option<Got> {
    use Caller::*;
    let refusal = match (kind(path), caller) {
        (Kind::Root, Permitted) => Some(DENIED),
        (_, Root | Permitted) | (Kind::Ignores, _) => None,
        (Kind::AnyValid | Kind::AnyUser, UnknownToken | ExpiredToken) => Some(BAD_TOKEN),
        (Kind::AnyValid, _) => None,
        (Kind::AnyUser, Nobody) => Some(USER_EMPTY),
        (Kind::AnyUser, _) => None,
        (_, Nobody) => Some(USER_EMPTY),
        (_, UnknownToken | ExpiredToken) => Some(BAD_TOKEN),
        (Kind::Root, GhostCommonName) => Some(NOT_FOUND),
        (_, NoPermission | JustRevoked | GhostCommonName) => Some(DENIED),
    }?;
    Some(if path == "/etcdserverpb.Watch/Watch" {
        Got::WatchCancelled(WATCH_DENIED.into())
    } else if path.starts_with("/v3lockpb.") || path.starts_with("/v3electionpb.") {
        // etcd serves these through its own client: the error arrives as
        // code Unknown with the message kept.
        Got::Status(Code::Unknown, refusal.1.into())
    } else {
        Got::Status(refusal.0, refusal.1.into())
    })
}

/// Whether `got` is an auth refusal of any kind.
fn is_auth_refusal(got: &Got) -> bool {
    match got {
        Got::WatchCancelled(_) => true,
        // ("user name not found" is also what root hears about a missing
        // user, so it is no sign of a refusal; the ghost's verdicts are
        // exact.)
        Got::Status(_, m) => [USER_EMPTY.1, BAD_TOKEN.1, DENIED.1].iter().any(|r| m == r),
        Got::Answered => false,
    }
}

// ------------------------------------------------------------ the run

struct Member {
    /// Kept so the member runs until the test ends.
    _cluster: Cluster,
    channel: Channel,
}

async fn login(channel: &Channel, user: &str, password: &str) -> Result<String, tonic::Status> {
    let mut auth = pb::auth_client::AuthClient::new(channel.clone());
    let resp = auth
        .authenticate(pb::AuthenticateRequest {
            name: user.into(),
            password: password.into(),
        })
        .await?;
    Ok(resp.into_inner().token)
}

/// Root, alice (read-write on `k/`), bob (read on `other/`), carol (whose
/// read-write role is revoked by [`revoke_carol`]); auth on.
async fn set_up(channel: &Channel, root_token: Option<&str>) {
    let mut auth = pb::auth_client::AuthClient::new(channel.clone());
    for (user, pw) in [
        ("root", "rootpw"),
        ("alice", "alicepw"),
        ("bob", "bobpw"),
        ("carol", "carolpw"),
    ] {
        auth.user_add(with_token(
            tonic::Request::new(pb::AuthUserAddRequest {
                name: user.into(),
                password: pw.into(),
                ..Default::default()
            }),
            root_token,
        ))
        .await
        .unwrap();
    }
    auth.user_grant_role(with_token(
        tonic::Request::new(pb::AuthUserGrantRoleRequest {
            user: "root".into(),
            role: "root".into(),
        }),
        root_token,
    ))
    .await
    .unwrap();
    for (role, key, end, user) in [
        ("rw", b"k/".to_vec(), b"k0".to_vec(), "alice"),
        ("rw", b"k/".to_vec(), b"k0".to_vec(), "carol"),
        ("other", b"other/".to_vec(), b"other0".to_vec(), "bob"),
    ] {
        let _ = auth
            .role_add(with_token(
                tonic::Request::new(pb::AuthRoleAddRequest { name: role.into() }),
                root_token,
            ))
            .await;
        auth.role_grant_permission(with_token(
            tonic::Request::new(pb::AuthRoleGrantPermissionRequest {
                name: role.into(),
                perm: Some(Permission {
                    perm_type: 2,
                    key,
                    range_end: end,
                }),
            }),
            root_token,
        ))
        .await
        .unwrap();
        auth.user_grant_role(with_token(
            tonic::Request::new(pb::AuthUserGrantRoleRequest {
                user: user.into(),
                role: role.into(),
            }),
            root_token,
        ))
        .await
        .unwrap();
    }
    auth.auth_enable(with_token(
        tonic::Request::new(pb::AuthEnableRequest {}),
        root_token,
    ))
    .await
    .unwrap();
}

/// A lease of root's with [`KEY`] attached.
async fn lease_with_key(channel: &Channel, root: &str) -> i64 {
    let mut lease = pb::lease_client::LeaseClient::new(channel.clone());
    let mut r = tonic::Request::new(pb::LeaseGrantRequest { ttl: 600, id: 0 });
    r.metadata_mut().insert("token", root.parse().unwrap());
    let id = lease.lease_grant(r).await.unwrap().into_inner().id;
    let mut kv = pb::kv_client::KvClient::new(channel.clone());
    let mut r = tonic::Request::new(pb::PutRequest {
        key: KEY.to_vec(),
        value: b"v".to_vec(),
        lease: id,
        ..Default::default()
    });
    r.metadata_mut().insert("token", root.parse().unwrap());
    kv.put(r).await.unwrap();
    id
}

async fn plain_member() -> Member {
    let cluster = Cluster::start_opts(
        Server::Cairn,
        1,
        Options {
            extra: vec!["--auth-token-ttl=2".into(), "--bcrypt-cost=4".into()],
            ..Options::default()
        },
    )
    .await;
    let channel = cluster.channel(0).await.unwrap();
    set_up(&channel, None).await;
    Member {
        _cluster: cluster,
        channel,
    }
}

/// A member with `--client-cert-auth`, reached with the "ghost"
/// certificate; set up over the harness's own certificate (CN root).
async fn tls_member() -> (Member, Channel) {
    let tls = Tls::mutual();
    let cluster = Cluster::start_opts(
        Server::Cairn,
        1,
        Options {
            tls: Some(tls.clone()),
            extra: vec!["--bcrypt-cost=4".into()],
            ..Options::default()
        },
    )
    .await;
    let channel = cluster.channel(0).await.unwrap();
    set_up(&channel, None).await;
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let ghost = cluster
        .endpoint(0)
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read(&tls.pki.ca)))
                .identity(Identity::from_pem(
                    read(&tls.pki.ghost.cert),
                    read(&tls.pki.ghost.key),
                )),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    (
        Member {
            _cluster: cluster,
            channel,
        },
        ghost,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_refuses_every_caller_without_the_right() {
    let all = rpcs();
    let missing: Vec<&String> = all.keys().filter(|p| sample(p, 1).is_none()).collect();
    assert!(
        missing.is_empty(),
        "no sample request (and verdicts) for {missing:?}: add them"
    );

    let plain = plain_member().await;
    let (tls, ghost) = tls_member().await;
    let ch = &plain.channel;
    // Tokens logged in now expire (TTL 2 s) while the rest runs.
    let expired = login(ch, "bob", "bobpw").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        login(ch, "bob", "wrong")
            .await
            .map_err(|s| (s.code(), s.message().to_owned())),
        Err((
            Code::InvalidArgument,
            "etcdserver: authentication failed, invalid user ID or password".into()
        )),
        "a wrong password"
    );

    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, &shape) in &all {
        for caller in REFUSED.iter().chain(&[Caller::Root, Caller::Permitted]) {
            let (channel, token) = match caller {
                Caller::Nobody => (ch.clone(), None),
                Caller::UnknownToken => (ch.clone(), Some("NoSuchToken.1".to_owned())),
                Caller::ExpiredToken => (ch.clone(), Some(expired.clone())),
                Caller::NoPermission => {
                    (ch.clone(), Some(login(ch, "bob", "bobpw").await.unwrap()))
                }
                Caller::JustRevoked => {
                    let root = login(ch, "root", "rootpw").await.unwrap();
                    let carol = login(ch, "carol", "carolpw").await.unwrap();
                    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
                    let revoke = pb::AuthUserRevokeRoleRequest {
                        name: "carol".into(),
                        role: "rw".into(),
                    };
                    let r = with_token(tonic::Request::new(revoke), Some(&root));
                    auth.user_revoke_role(r).await.unwrap();
                    (ch.clone(), Some(carol))
                }
                Caller::GhostCommonName => (ghost.clone(), None),
                Caller::Root => (ch.clone(), Some(login(ch, "root", "rootpw").await.unwrap())),
                Caller::Permitted => (
                    ch.clone(),
                    Some(login(ch, "alice", "alicepw").await.unwrap()),
                ),
            };
            // The member the call goes to makes the lease it names.
            let home = if *caller == Caller::GhostCommonName {
                &tls.channel
            } else {
                ch
            };
            let root = login(home, "root", "rootpw").await.unwrap();
            let lease = lease_with_key(home, &root).await;
            let root = login(ch, "root", "rootpw").await.unwrap();
            let body = sample(path, lease).unwrap();
            let got = call(&channel, path, shape, body, token.as_deref()).await;
            // Carol gets her role back for the next path.
            if *caller == Caller::JustRevoked {
                let mut auth = pb::auth_client::AuthClient::new(ch.clone());
                let grant = pb::AuthUserGrantRoleRequest {
                    user: "carol".into(),
                    role: "rw".into(),
                };
                let r = with_token(tonic::Request::new(grant), Some(&root));
                auth.user_grant_role(r).await.unwrap();
            }
            // Root's AuthDisable worked: switch auth back on.
            if path == "/etcdserverpb.Auth/AuthDisable" && *caller == Caller::Root {
                let mut auth = pb::auth_client::AuthClient::new(ch.clone());
                auth.auth_enable(pb::AuthEnableRequest {}).await.unwrap();
            }
            checked += 1;
            match verdict(path, *caller) {
                Some(want) if got != want => {
                    failures.push(format!("{path} by {caller:?}: want {want:?}, got {got:?}"));
                }
                None if is_auth_refusal(&got) => {
                    failures.push(format!("{path} by {caller:?}: must pass, got {got:?}"));
                }
                _ => {}
            }
        }
    }
    eprintln!(
        "denial matrix: {} RPCs x {} callers = {checked} calls, {} wrong",
        all.len(),
        REFUSED.len() + 2,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
