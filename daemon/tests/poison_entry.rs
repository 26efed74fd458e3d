//! A committed entry that no member can decode must not take the cluster
//! down. The proposal checks make such an entry impossible for any request
//! a client can send (tests/nested_txn.rs, proto/tests/nesting.rs); this
//! plants one, as a bug in encoding would, through the fail point
//! `kv::undecodable-proposal` on one member.
//!
//! Every member applies it as a no-op, says so in its log, keeps serving,
//! and the stores stay equal; the members restart over it as well. The
//! write that carried it is not acknowledged.
//!
//! The other side: a member whose raft thread fails (here its disk refuses
//! the log, through `raft::persist-fails`) must not keep answering. It
//! stops, exits 1 and says why on one line; the others go on.

mod support;

use std::time::Duration;

use cairn_proto::etcdserverpb::PutRequest;
use cairn_proto::etcdserverpb::kv_client::KvClient;
use support::Server;
use support::cluster::{Cluster, Options};

const SKIPPED: &str = "a committed entry does not decode; applying it as a no-op";

async fn put(cluster: &Cluster, i: usize, key: &str) -> Result<i64, String> {
    let mut client = KvClient::new(cluster.channel(i).await?);
    let call = client.put(PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
        ..PutRequest::default()
    });
    match tokio::time::timeout(Duration::from_secs(3), call).await {
        Ok(Ok(resp)) => Ok(resp.into_inner().header.map_or(0, |h| h.revision)),
        Ok(Err(status)) => Err(status.to_string()),
        Err(_) => Err("no answer in 3 s".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_entry_is_skipped_by_every_member() {
    let poisoned = vec![(
        "FAILPOINTS".to_owned(),
        "kv::undecodable-proposal=1*return".to_owned(),
    )];
    let opts = Options {
        env: vec![poisoned, vec![], vec![]],
        ..Options::default()
    };
    let mut cluster = Cluster::start_opts(Server::Cairn, 3, opts).await;

    let carried = put(&cluster, 0, "/poisoned").await;
    assert!(carried.is_err(), "the poisoned put was acknowledged");
    for i in 0..3 {
        for _ in 0..100 {
            if cluster.log(i).contains(SKIPPED) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            cluster.log(i).contains(SKIPPED),
            "member {i} did not skip it"
        );
        assert_eq!(cluster.reap_if_exited(i), None, "member {i} stopped");
    }

    let mut rev = 0;
    for i in 0..3 {
        rev = put(&cluster, i, &format!("/after/{i}"))
            .await
            .unwrap_or_else(|e| panic!("a put through member {i}: {e}"));
    }
    cluster
        .assert_hashes_agree_at(rev, Duration::from_secs(20))
        .await;

    for i in 0..3 {
        cluster.kill(i);
    }
    cluster.restart_all(&[0, 1, 2]).await;
    let rev = put(&cluster, 1, "/after/restart").await.expect("put");
    cluster
        .assert_hashes_agree_at(rev, Duration::from_secs(20))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_persist_stops_with_its_cause() {
    let mut cluster = Cluster::start(Server::Cairn, 3).await;
    put(&cluster, 0, "/before").await.expect("a put before");
    cluster.kill(2);
    cluster.set_env(
        2,
        vec![(
            "FAILPOINTS".to_owned(),
            "raft::persist-fails=return".to_owned(),
        )],
    );
    let restarted = cluster.try_restart(2, Duration::from_secs(5)).await;
    assert!(restarted.is_err(), "a member that cannot persist came back");
    let status = cluster
        .wait_exit(2, Duration::from_secs(20))
        .await
        .expect("the failing member exits");
    assert_eq!(status, "exit status: 1");
    let log = cluster.log(2);
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("cairn: ") && last.contains("raft::persist-fails"),
        "the last line names the cause: {last}"
    );
    // The others go on (after electing a leader, if it was the one).
    let mut last = Err(String::new());
    for _ in 0..10 {
        last = put(&cluster, 0, "/after").await;
        if last.is_ok() {
            break;
        }
    }
    last.expect("the others go on");
}
