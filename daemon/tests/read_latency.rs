//! Guards on reads, not benchmarks (the figures come from
//! `scripts/bench-compare`), each against etcd 3.5.1 and cairn:
//!
//! - Sequential Range calls to a 3-member cluster take well under 5 ms
//!   each at the median. Regression: the client port's sockets lacked
//!   TCP_NODELAY, so Nagle's algorithm and the client's delayed ACK held
//!   every small response about 40 ms; each read took 44 ms and nothing in
//!   the suite noticed. A healthy member answers in about a millisecond.
//!   cairn's release build is measured, as operators run it (and as
//!   etcd's binary is built).
//! - Linearizable reads through every member at once never wait for a
//!   ReadIndex round to be asked again. Regression: members numbered their
//!   rounds from 1 alike, the leader kept one pending read per number and
//!   dropped the others, and their readers waited 500 ms for the retry
//!   (p99 509 ms at 100 clients).

mod support;

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::RangeRequest;
use cairn_proto::etcdserverpb::kv_client::KvClient;
use support::Server;
use support::cluster::{Cluster, Options};

const CALLS: usize = 200;
const MEDIAN_BOUND: Duration = Duration::from_millis(5);

/// The median of `CALLS` sequential Range calls to member `i` on one
/// connection.
async fn median_range(cluster: &Cluster, i: usize, serializable: bool) -> Duration {
    let mut kv = KvClient::new(cluster.channel(i).await.expect("connect"));
    let mut took = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        kv.range(RangeRequest {
            key: b"guard".to_vec(),
            serializable,
            ..RangeRequest::default()
        })
        .await
        .expect("range");
        took.push(start.elapsed());
    }
    took.sort_unstable();
    took[CALLS / 2]
}

async fn sequential_reads_are_fast(kind: Server) {
    let opts = Options {
        binary: (kind == Server::Cairn).then(support::release_cairn),
        ..Options::default()
    };
    let cluster = Cluster::start_opts(kind, 3, opts).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    for (member, serializable) in [(leader, false), (follower, false), (follower, true)] {
        let median = median_range(&cluster, member, serializable).await;
        eprintln!("{kind:?} member {member} serializable={serializable}: median {median:?}");
        assert!(
            median < MEDIAN_BOUND,
            "{kind:?}: the median of {CALLS} sequential Range calls (serializable: \
             {serializable}) to member {member} is {median:?}"
        );
    }
}

/// Reads through all three members at once, then every member's count of
/// ReadIndex rounds that had to be asked again (etcd's metric name; cairn
/// counts the same) must be zero.
async fn concurrent_reads_never_retry(kind: Server) {
    const READERS_PER_MEMBER: usize = 10;
    const READS: usize = 100;
    let cluster = Cluster::start(kind, 3).await;
    let mut tasks = Vec::new();
    for i in 0..3 {
        let channel = cluster.channel(i).await.expect("connect");
        for _ in 0..READERS_PER_MEMBER {
            let mut kv = KvClient::new(channel.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..READS {
                    kv.range(RangeRequest {
                        key: b"guard".to_vec(),
                        ..RangeRequest::default()
                    })
                    .await
                    .expect("range");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("reader");
    }
    for i in 0..3 {
        let retried = cluster
            .metric(i, "etcd_server_slow_read_indexes_total")
            .expect("metric");
        assert_eq!(retried, 0.0, "{kind:?} member {i} asked ReadIndex again");
    }
}

macro_rules! guard_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sequential_reads_are_fast() {
                super::sequential_reads_are_fast($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_reads_never_retry() {
                super::concurrent_reads_never_retry($server).await;
            }
        }
    };
}

guard_tests!(etcd, Server::Etcd);
guard_tests!(cairn, Server::Cairn);
