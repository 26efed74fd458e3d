//! Leases across a leader failure, the same test body against etcd 3.5.1
//! and against cairn (`etcd::` and `cairn::`), 3 members.
//!
//! * `kept_alive_lease_survives_leader_kill`: a 5 s lease kept alive
//!   through a follower outlives the SIGKILL of the leader (the follower
//!   forwards keep-alives to whichever member leads), its key intact long
//!   after the TTL would have run out.
//! * `lease_left_alone_expires_and_its_keys_are_deleted`: a lease nobody
//!   keeps alive is revoked within TTL + 1 s, and a watcher on another
//!   member sees a DELETE for each of its keys.

mod support;

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::lease_client::LeaseClient;
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, WatchCreateRequest,
    WatchRequest,
};
use cairn_proto::mvccpb::event::EventType;
use support::Server;
use support::cluster::Cluster;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

fn channel(cluster: &Cluster, i: usize) -> Channel {
    Endpoint::from_shared(cluster.client_url(i))
        .expect("url")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy()
}

async fn grant(ch: Channel, ttl: i64) -> i64 {
    LeaseClient::new(ch)
        .lease_grant(LeaseGrantRequest { ttl, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id
}

async fn put(ch: Channel, key: &str, lease: i64) {
    KvClient::new(ch)
        .put(PutRequest {
            key: key.as_bytes().to_vec(),
            value: b"v".to_vec(),
            lease,
            ..Default::default()
        })
        .await
        .expect("put");
}

async fn kept_alive_lease_survives_leader_kill(kind: Server) {
    const TTL: i64 = 5;
    let mut cluster = Cluster::start(kind, 3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let ch = channel(&cluster, follower);
    let id = grant(ch.clone(), TTL).await;
    put(ch.clone(), "owned", id).await;

    // One keep-alive a second through the follower, each on a stream of
    // its own (a client reopens a stream the leader change broke; this is
    // the simplest way to do the same), answers counted.
    let keeper = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let mut renewed = 0;
            for _ in 0..(3 * TTL) {
                let once = tokio_stream::once(LeaseKeepAliveRequest { id });
                let answer = tokio::time::timeout(Duration::from_secs(3), async {
                    let mut stream = LeaseClient::new(ch.clone())
                        .lease_keep_alive(once)
                        .await?
                        .into_inner();
                    stream.message().await
                })
                .await;
                if let Ok(Ok(Some(resp))) = answer
                    && resp.ttl > 0
                {
                    renewed += 1;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            renewed
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill(leader);
    let renewed = keeper.await.expect("keeper");
    assert!(renewed > 0, "no keep-alive was answered");

    // 3 TTLs after the grant, the key is only there if the keep-alives
    // reached the new leader.
    let resp = KvClient::new(ch)
        .range(RangeRequest {
            key: b"owned".to_vec(),
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(
        resp.count, 1,
        "the kept-alive lease's key is gone ({renewed} keep-alives answered)"
    );
}

async fn lease_left_alone_expires_and_its_keys_are_deleted(kind: Server) {
    const TTL: i64 = 3;
    let cluster = Cluster::start(kind, 3).await;
    let leader = cluster.leader().await;
    let (writer, watcher) = ((leader + 1) % 3, (leader + 2) % 3);

    let (tx, rx) = mpsc::channel(1);
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: b"doomed/".to_vec(),
            range_end: b"doomed0".to_vec(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut events = WatchClient::new(channel(&cluster, watcher))
        .watch(ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let created = events.message().await.expect("watch").expect("created");
    assert!(created.created);

    let ch = channel(&cluster, writer);
    let id = grant(ch.clone(), TTL).await;
    let granted = Instant::now();
    put(ch.clone(), "doomed/a", id).await;
    put(ch, "doomed/b", id).await;

    let mut deleted = Vec::new();
    let deadline = Duration::from_secs(TTL as u64 + 1);
    while deleted.len() < 2 {
        let left = deadline.saturating_sub(granted.elapsed());
        let resp = tokio::time::timeout(left, events.message())
            .await
            .unwrap_or_else(|_| {
                panic!("DELETE events {deleted:?} after TTL + 1 s; expected both keys")
            })
            .expect("watch stream")
            .expect("watch open");
        for ev in resp.events {
            if ev.r#type == EventType::Delete as i32 {
                deleted.push(String::from_utf8(ev.kv.expect("kv").key).unwrap());
            }
        }
    }
    deleted.sort();
    assert_eq!(deleted, ["doomed/a", "doomed/b"]);
    drop(tx);
}

macro_rules! lease_fault_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kept_alive_lease_survives_leader_kill() {
                super::kept_alive_lease_survives_leader_kill($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn lease_left_alone_expires_and_its_keys_are_deleted() {
                super::lease_left_alone_expires_and_its_keys_are_deleted($server).await;
            }
        }
    };
}

lease_fault_tests!(etcd, Server::Etcd);
lease_fault_tests!(cairn, Server::Cairn);
