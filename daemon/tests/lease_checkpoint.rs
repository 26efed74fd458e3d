//! Lease checkpoints (`--experimental-enable-lease-checkpoint`): a lease
//! keeps its remaining time, not its full TTL, across a restart of the
//! whole cluster.
//!
//! cairn only: etcd 3.5.1 checkpoints every 5 minutes with no flag to
//! change it, too slow for a test; cairn's
//! `--experimental-lease-checkpoint-interval` makes it 1 s here.
//!
//! Without checkpoints a restarted leader gives every lease its full TTL
//! again (plus an election timeout), so a lease that nobody keeps alive
//! could outlive its owner by a whole TTL per restart.

mod support;

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::lease_client::LeaseClient;
use cairn_proto::etcdserverpb::{LeaseGrantRequest, LeaseTimeToLiveRequest};
use support::Server;
use support::cluster::Cluster;

const TTL: i64 = 30;
/// Time the lease spends counting down before the restart.
const BEFORE_RESTART: Duration = Duration::from_secs(5);

async fn remaining_ttl(cluster: &Cluster, id: i64) -> i64 {
    let channel = cluster.channel(0).await.expect("channel");
    LeaseClient::new(channel)
        .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false })
        .await
        .expect("time to live")
        .into_inner()
        .ttl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_remaining_ttl() {
    let mut cluster = Cluster::start_with(
        Server::Cairn,
        3,
        &[
            "--experimental-enable-lease-checkpoint",
            "--experimental-lease-checkpoint-interval=1s",
        ],
    )
    .await;
    let channel = cluster.channel(0).await.expect("channel");
    let granted = Instant::now();
    let id = LeaseClient::new(channel)
        .lease_grant(LeaseGrantRequest { ttl: TTL, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id;
    tokio::time::sleep(BEFORE_RESTART).await;
    let before = remaining_ttl(&cluster, id).await;
    for i in 0..3 {
        cluster.kill(i);
    }
    cluster.restart_all(&[0, 1, 2]).await;
    let after = remaining_ttl(&cluster, id).await;
    let elapsed = granted.elapsed().as_secs() as i64;
    // At most one checkpoint interval behind, plus the election timeout a
    // new leader adds, plus rounding: never the full TTL again.
    assert!(
        after <= TTL - BEFORE_RESTART.as_secs() as i64 + 3,
        "remaining TTL {after} s after the restart ({before} s before it, \
         {elapsed} s after the grant): the countdown started over"
    );
    assert!(after > 0, "the lease lost its time: {after}");
}
