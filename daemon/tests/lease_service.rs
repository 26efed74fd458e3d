//! The Lease gRPC service on a real tonic server (127.0.0.1, port 0), over a
//! `LeaseApi` that applies straight to a real lessor and MVCC store — a
//! single member standing in for raft, wired the way the server wires them
//! (ids picked and TTLs raised before "proposing", store then lessor when
//! applying, an expiry loop proposing revokes).

use cairn::auth::AuthInfo;
use cairn::etcd_error::EtcdError;
use cairn::lease::{LeaseApi, LeaseError, LeaseIdGen, LeaseService, Lessor, LessorConfig};
use cairn::mvcc::{EntryId, MemBackend, MvccStore, StoreConfig};
use cairn_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseLeasesRequest,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, PutRequest, RangeRequest, ResponseHeader,
    lease_client::LeaseClient, lease_server::LeaseServer,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::Status;
use tonic::transport::Channel;

const MEMBER: u64 = 0xbdae_9bbc_11dd_390d;
const CLUSTER: u64 = 0x1234;
/// Generous: the machine running the tests may be loaded.
const PATIENCE: Duration = Duration::from_secs(60);

struct State {
    store: MvccStore,
    lessor: Lessor,
    next: u64,
}

impl State {
    fn at(&mut self) -> EntryId {
        self.next += 1;
        EntryId {
            index: self.next - 1,
            term: 1,
        }
    }

    /// The apply loop's LeaseRevoke.
    fn apply_revoke(&mut self, id: i64) -> Result<LeaseRevokeResponse, Status> {
        let keys = self.lessor.revoke(id).unwrap_or_default();
        let at = self.at();
        let applied = self
            .store
            .lease_revoke(id, &keys, at)
            .map_err(|e| Status::from(EtcdError::from(&e)))?;
        self.lessor.observe(&applied.events);
        Ok(applied.response)
    }
}

struct Node {
    state: Mutex<State>,
    ids: LeaseIdGen,
}

fn status(e: LeaseError) -> Status {
    EtcdError::from(e).into()
}

impl Node {
    fn new() -> Arc<Self> {
        let cfg = LessorConfig::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut lessor = Lessor::new(cfg);
        lessor.promote(Instant::now(), Duration::from_secs(1));
        let store = MvccStore::open(Box::new(MemBackend::new()), StoreConfig::default()).unwrap();
        Arc::new(Node {
            state: Mutex::new(State {
                store,
                lessor,
                next: 1,
            }),
            ids: LeaseIdGen::new(MEMBER, 0x12_3456_789a),
        })
    }

    fn put(&self, key: &str, lease: i64) {
        let mut s = self.state.lock().unwrap();
        let req = PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease,
            ..Default::default()
        };
        let at = s.at();
        let State { store, lessor, .. } = &mut *s;
        let applied = store.put(&req, at, Some(&*lessor)).unwrap();
        lessor.observe(&applied.events);
    }

    fn keys(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let req = RangeRequest {
            key: b"\0".to_vec(),
            range_end: b"\0".to_vec(),
            ..Default::default()
        };
        let resp = s.store.range(&req).unwrap();
        resp.kvs
            .into_iter()
            .map(|kv| String::from_utf8(kv.key).unwrap())
            .collect()
    }

    fn revision(&self) -> i64 {
        self.state.lock().unwrap().store.current_revision()
    }

    /// What the server's expiry loop does: revoke every expired lease (here
    /// applied at once instead of proposed).
    fn expire(&self) {
        let mut s = self.state.lock().unwrap();
        for id in s.lessor.expired(Instant::now(), 500) {
            s.apply_revoke(id).unwrap();
        }
    }
}

#[tonic::async_trait]
impl LeaseApi for Node {
    async fn requester<T: Sync>(&self, _: &tonic::Request<T>) -> Result<AuthInfo, Status> {
        Ok(AuthInfo::anonymous())
    }

    async fn grant(
        &self,
        req: LeaseGrantRequest,
        _: &AuthInfo,
    ) -> Result<LeaseGrantResponse, Status> {
        let mut s = self.state.lock().unwrap();
        // Fixed before proposing: every member must apply the same id and TTL.
        let id = if req.id == 0 { self.ids.next() } else { req.id };
        let ttl = s.lessor.proposed_ttl(req.ttl).map_err(status)?;
        let at = s.at();
        let resp = s
            .store
            .lease_grant(id, ttl, at)
            .map_err(|e| Status::from(EtcdError::from(&e)))?;
        s.lessor
            .grant(id, ttl, Instant::now())
            .expect("the lessor agrees with the store");
        Ok(resp)
    }

    async fn revoke(
        &self,
        req: LeaseRevokeRequest,
        _: &AuthInfo,
    ) -> Result<LeaseRevokeResponse, Status> {
        self.state.lock().unwrap().apply_revoke(req.id)
    }

    async fn renew(&self, id: i64) -> Result<Option<i64>, Status> {
        let mut s = self.state.lock().unwrap();
        match s.lessor.renew(id, Instant::now()) {
            Ok(ttl) => Ok(Some(ttl)),
            Err(LeaseError::NotFound) => Ok(None),
            Err(LeaseError::Expired) => {
                // The server waits for the pending revoke; this stand-in
                // applies it on the spot.
                s.apply_revoke(id)?;
                Ok(None)
            }
            Err(e) => Err(status(e)),
        }
    }

    async fn time_to_live(
        &self,
        req: LeaseTimeToLiveRequest,
        _: &AuthInfo,
    ) -> Result<Option<LeaseTimeToLiveResponse>, Status> {
        let s = self.state.lock().unwrap();
        match s.lessor.time_to_live(req.id, Instant::now()) {
            Ok(t) => Ok(Some(LeaseTimeToLiveResponse {
                header: None,
                id: req.id,
                ttl: t.ttl,
                granted_ttl: t.granted_ttl,
                keys: if req.keys { t.keys } else { Vec::new() },
            })),
            Err(LeaseError::NotFound) => Ok(None),
            Err(e) => Err(status(e)),
        }
    }

    async fn leases(&self) -> Result<LeaseLeasesResponse, Status> {
        let s = self.state.lock().unwrap();
        Ok(LeaseLeasesResponse {
            header: None,
            leases: s
                .lessor
                .leases()
                .into_iter()
                .map(|id| LeaseStatus { id })
                .collect(),
        })
    }

    fn header(&self) -> ResponseHeader {
        ResponseHeader {
            cluster_id: CLUSTER,
            member_id: MEMBER,
            revision: self.revision(),
            raft_term: 1,
        }
    }
}

async fn serve(node: Arc<Node>) -> LeaseClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LeaseServer::new(LeaseService::new(node)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    LeaseClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn grant(
    c: &mut LeaseClient<Channel>,
    id: i64,
    ttl: i64,
) -> Result<LeaseGrantResponse, Status> {
    c.lease_grant(LeaseGrantRequest { ttl, id })
        .await
        .map(|r| r.into_inner())
}

fn assert_etcd(s: &Status, e: EtcdError) {
    let (code, msg) = e.code_and_message();
    assert_eq!((s.code(), s.message()), (code, msg), "{s:?}");
}

#[tokio::test]
async fn grant_with_id_zero_picks_a_member_id_and_raises_the_ttl_to_the_minimum() {
    let node = Node::new();
    let mut c = serve(node.clone()).await;
    let a = grant(&mut c, 0, 0).await.unwrap();
    let b = grant(&mut c, 0, 60).await.unwrap();
    assert_eq!(a.id as u64 >> 48, 0x390d);
    assert_ne!(a.id, b.id);
    assert_eq!((a.ttl, b.ttl), (2, 60));
    let h = a.header.unwrap();
    assert_eq!(
        (h.cluster_id, h.member_id, h.raft_term),
        (CLUSTER, MEMBER, 1)
    );
    assert_eq!(h.revision, 1);
    assert!(a.error.is_empty());
}

#[tokio::test]
async fn grant_with_a_chosen_id_then_again_is_refused_as_existing() {
    let node = Node::new();
    let mut c = serve(node).await;
    let got = grant(&mut c, 4660, 30).await.unwrap();
    assert_eq!((got.id, got.ttl), (4660, 30));
    let again = grant(&mut c, 4660, 10).await.unwrap_err();
    assert_etcd(&again, EtcdError::LeaseExist);
    let huge = grant(&mut c, 7, 9_000_000_001).await.unwrap_err();
    assert_etcd(&huge, EtcdError::LeaseTtlTooLarge);
    assert_eq!(
        grant(&mut c, 8, 9_000_000_000).await.unwrap().ttl,
        9_000_000_000
    );
}

#[tokio::test]
async fn revoke_deletes_the_attached_keys_in_one_revision() {
    let node = Node::new();
    let mut c = serve(node.clone()).await;
    let l = grant(&mut c, 0, 60).await.unwrap().id;
    node.put("a", l);
    node.put("b", l);
    node.put("keep", 0);
    let before = node.revision();
    let resp = c
        .lease_revoke(LeaseRevokeRequest { id: l })
        .await
        .unwrap()
        .into_inner();
    let h = resp.header.unwrap();
    assert_eq!((h.revision, h.member_id), (before + 1, MEMBER));
    assert_eq!(node.keys(), ["keep"]);
    let again = c
        .lease_revoke(LeaseRevokeRequest { id: l })
        .await
        .unwrap_err();
    assert_etcd(&again, EtcdError::LeaseNotFound);
}

#[tokio::test]
async fn keep_alive_renews_and_answers_an_unknown_lease_with_ttl_zero_in_band() {
    let node = Node::new();
    let mut c = serve(node.clone()).await;
    let l = grant(&mut c, 0, 60).await.unwrap().id;
    node.put("k", l);
    let (tx, rx) = mpsc::channel(4);
    let mut replies = c
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for id in [l, 4660, l] {
        tx.send(LeaseKeepAliveRequest { id }).await.unwrap();
        let r = tokio::time::timeout(PATIENCE, replies.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(r.id, id);
        assert_eq!(r.ttl, if id == l { 60 } else { 0 });
        let h = r.header.unwrap();
        assert_eq!((h.member_id, h.revision), (MEMBER, node.revision()));
    }
    drop(tx);
    let end = tokio::time::timeout(PATIENCE, replies.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
}

#[tokio::test]
async fn keep_alive_on_a_member_that_cannot_renew_ends_the_stream_with_the_error() {
    let node = Node::new();
    let mut c = serve(node.clone()).await;
    let l = grant(&mut c, 0, 60).await.unwrap().id;
    node.state.lock().unwrap().lessor.demote();
    let (tx, rx) = mpsc::channel(4);
    let mut replies = c
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(LeaseKeepAliveRequest { id: l }).await.unwrap();
    let err = tokio::time::timeout(PATIENCE, replies.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_etcd(&err, EtcdError::NotLeader);
}

#[tokio::test]
async fn time_to_live_reports_granted_and_remaining_ttl_and_keys_on_request() {
    let node = Node::new();
    let mut c = serve(node.clone()).await;
    let l = grant(&mut c, 0, 600).await.unwrap().id;
    node.put("z", l);
    node.put("a", l);
    let with = c
        .lease_time_to_live(LeaseTimeToLiveRequest { id: l, keys: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((with.id, with.granted_ttl), (l, 600));
    // Whole seconds left, truncated: below the grant, and far from zero.
    assert!((1..600).contains(&with.ttl), "{}", with.ttl);
    assert_eq!(with.keys, [b"a".to_vec(), b"z".to_vec()]);
    assert_eq!(with.header.unwrap().member_id, MEMBER);
    let without = c
        .lease_time_to_live(LeaseTimeToLiveRequest { id: l, keys: false })
        .await
        .unwrap()
        .into_inner();
    assert!(without.keys.is_empty());
    let unknown = c
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: 4660,
            keys: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (unknown.id, unknown.ttl, unknown.granted_ttl),
        (4660, -1, 0)
    );
    assert!(unknown.keys.is_empty());
    assert_eq!(unknown.header.unwrap().member_id, MEMBER);
}

#[tokio::test]
async fn leases_lists_every_lease_soonest_expiry_first() {
    let node = Node::new();
    let mut c = serve(node).await;
    let empty = c
        .lease_leases(LeaseLeasesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(empty.leases.is_empty());
    assert_eq!(empty.header.unwrap().member_id, MEMBER);
    grant(&mut c, 3, 3000).await.unwrap();
    grant(&mut c, 1, 1000).await.unwrap();
    grant(&mut c, 2, 2000).await.unwrap();
    let got = c
        .lease_leases(LeaseLeasesRequest {})
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<i64> = got.leases.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[tokio::test]
async fn an_expired_lease_is_revoked_with_its_keys_and_keep_alive_then_reports_ttl_zero() {
    let node = Node::new();
    let mut c = serve(node.clone()).await;
    // Asking for 1 s gets the minimum, 2 s.
    let l = grant(&mut c, 0, 1).await.unwrap().id;
    node.put("ephemeral", l);
    node.put("durable", 0);
    let deadline = Instant::now() + PATIENCE;
    loop {
        node.expire();
        let ttl = c
            .lease_time_to_live(LeaseTimeToLiveRequest { id: l, keys: false })
            .await
            .unwrap()
            .into_inner()
            .ttl;
        if ttl == -1 {
            break;
        }
        assert!(Instant::now() < deadline, "lease {l} never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.keys(), ["durable"]);
    let (tx, rx) = mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id: l }).await.unwrap();
    let mut replies = c
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let r = tokio::time::timeout(PATIENCE, replies.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((r.id, r.ttl), (l, 0));
}
