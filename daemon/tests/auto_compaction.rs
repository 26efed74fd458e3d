//! `--auto-compaction-mode=periodic`: the same test body against etcd
//! 3.5.1 and against cairn. Under steady writes with a 2 s retention, the
//! history gets compacted on its own, never past what was written within
//! the retention.

mod support;

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use cairn_proto::etcdserverpb::{HashKvRequest, PutRequest};
use support::Server;
use support::cluster::Cluster;

const RETENTION: Duration = Duration::from_secs(2);
/// Long enough for three compactions.
const WRITING: Duration = Duration::from_secs(7);

async fn periodic_compaction_keeps_the_retention(kind: Server) {
    let cluster = Cluster::start_with(
        kind,
        1,
        &[
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=2s",
        ],
    )
    .await;
    let channel = cluster.channel(0).await.expect("channel");
    let mut kv = KvClient::new(channel.clone());
    let started = Instant::now();
    let mut written: Vec<(Instant, i64)> = Vec::new();
    while started.elapsed() < WRITING {
        let resp = kv
            .put(PutRequest {
                key: b"tick".to_vec(),
                value: format!("{}", written.len()).into_bytes(),
                ..Default::default()
            })
            .await
            .expect("put")
            .into_inner();
        written.push((Instant::now(), resp.header.expect("header").revision));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let compacted = MaintenanceClient::new(channel)
        .hash_kv(HashKvRequest { revision: 0 })
        .await
        .expect("hashkv")
        .into_inner()
        .compact_revision;
    let now = Instant::now();
    let first = written[0].1;
    // Nothing written within (a little less than) the retention is gone.
    let recent = written
        .iter()
        .find(|(at, _)| now.duration_since(*at) < RETENTION - Duration::from_millis(500))
        .expect("recent writes")
        .1;
    assert!(
        compacted > first,
        "no compaction in {WRITING:?}: compact revision {compacted}, first write {first}"
    );
    assert!(
        compacted < recent,
        "compacted to {compacted}, past revision {recent} written within the retention"
    );
}

macro_rules! compaction_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn periodic_compaction_keeps_the_retention() {
                super::periodic_compaction_keeps_the_retention($server).await;
            }
        }
    };
}

compaction_tests!(etcd, Server::Etcd);
compaction_tests!(cairn, Server::Cairn);
