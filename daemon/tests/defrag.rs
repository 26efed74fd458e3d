//! Defragmentation with the real etcdctl 3.5.1, the same test body against
//! etcd 3.5.1 and against cairn (`etcd::` and `cairn::`).
//!
//! * `defrag_gives_back_the_space_of_deleted_keys`: a member that held
//!   8 MiB of values, all deleted and compacted away, is defragmented with
//!   `etcdctl defrag`; its reported db size drops below half of what it
//!   was, and what it still holds reads back the same, also after a
//!   restart (cairn then opens the defragmented copy).

mod support;

use std::time::Duration;

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::{CompactionRequest, DeleteRangeRequest, PutRequest};
use support::cluster::Cluster;
use support::{Ctl, Server};

const KEYS: usize = 2048;
const VALUE_BYTES: usize = 4096;

fn status_json(cluster: &Cluster) -> serde_json::Value {
    let out = cluster.etcdctl(Ctl::V3_5, &["endpoint", "status", "-w", "json"]);
    assert!(out.status.success(), "endpoint status: {out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    json[0]["Status"].clone()
}

fn db_size(cluster: &Cluster) -> u64 {
    status_json(cluster)["dbSize"].as_u64().expect("dbSize")
}

/// Waits until the reported size stops moving (both servers write their
/// file in the background a little after a write is acknowledged).
async fn settled_db_size(cluster: &Cluster) -> u64 {
    let mut last = db_size(cluster);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = db_size(cluster);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

async fn defrag_gives_back_the_space_of_deleted_keys(kind: Server) {
    let mut cluster = Cluster::start(kind, 1).await;
    let mut kv = KvClient::new(cluster.channel(0).await.expect("channel"));
    let value = vec![b'x'; VALUE_BYTES];
    for i in 0..KEYS {
        kv.put(PutRequest {
            key: format!("big/{i:05}").into_bytes(),
            value: value.clone(),
            ..Default::default()
        })
        .await
        .expect("put");
    }
    let deleted = kv
        .delete_range(DeleteRangeRequest {
            key: b"big/".to_vec(),
            range_end: b"big0".to_vec(),
            ..Default::default()
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.deleted, KEYS as i64);
    let keep = kv
        .put(PutRequest {
            key: b"kept".to_vec(),
            value: b"still here".to_vec(),
            ..Default::default()
        })
        .await
        .expect("put")
        .into_inner();
    let rev = keep.header.expect("header").revision;
    kv.compact(CompactionRequest {
        revision: rev,
        physical: true,
    })
    .await
    .expect("compact");
    let before = settled_db_size(&cluster).await;
    assert!(
        before > (KEYS * VALUE_BYTES) as u64 / 2,
        "{kind:?}: the db should still hold the deleted values' space, reports {before} bytes"
    );

    let out = cluster.etcdctl(Ctl::V3_5, &["defrag"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Finished defragmenting etcd member["),
        "{kind:?}: defrag: {out:?}"
    );
    let after = settled_db_size(&cluster).await;
    eprintln!("{kind:?}: db size {before} bytes before defrag, {after} after");
    assert!(
        after < before / 2,
        "{kind:?}: defrag left {after} of {before} bytes"
    );

    // What is left reads back, and keeps working after a restart.
    let get = |cluster: &Cluster| {
        let out = cluster.etcdctl(Ctl::V3_5, &["get", "kept", "--print-value-only"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(get(&cluster), "still here\n");
    let put = cluster.etcdctl(Ctl::V3_5, &["put", "after", "defrag"]);
    assert!(put.status.success(), "{put:?}");
    cluster.kill(0);
    cluster.restart(0).await;
    assert_eq!(get(&cluster), "still here\n");
    let out = cluster.etcdctl(Ctl::V3_5, &["get", "after", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "defrag\n");
    assert!(
        db_size(&cluster) < before / 2,
        "{kind:?}: the space came back after a restart"
    );
}

mod etcd {
    #[tokio::test]
    async fn defrag_gives_back_the_space_of_deleted_keys() {
        super::defrag_gives_back_the_space_of_deleted_keys(super::Server::Etcd).await;
    }
}

mod cairn {
    #[tokio::test]
    async fn defrag_gives_back_the_space_of_deleted_keys() {
        super::defrag_gives_back_the_space_of_deleted_keys(super::Server::Cairn).await;
    }
}
