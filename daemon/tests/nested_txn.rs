//! Regression test: one Txn nested 50 levels deep used to stop every
//! member of a cairn cluster for good. The gRPC layer decoded it, raft
//! committed it, and the entry (the Txn wrapped once more) crossed prost's
//! nesting limit when applied; each restart replayed it and stopped again.
//!
//! The same body runs against etcd 3.5.1 and cairn: nested Txns up to the
//! deepest that etcd's default `--max-txn-ops` (128) allows apply on every
//! member, one level more is refused with etcd's error, and the members
//! keep serving, also after all of them restart and replay their logs.

mod support;

use std::time::Duration;

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::{PutRequest, StatusRequest, maintenance_client::MaintenanceClient};
use cairn_proto::etcdserverpb::{
    RangeRequest, RequestOp, TxnRequest, TxnResponse, request_op, response_op,
};
use support::cluster::Cluster;
use support::{Ctl, Server};

/// The deepest Txn etcd 3.5.1 accepts with its default `--max-txn-ops`:
/// each level takes one op of its parent's budget of 128.
const ETCD_DEEPEST: usize = 128;

/// A Txn `depth` levels deep (itself the first), whose innermost level puts
/// `key`.
fn nested(depth: usize, key: &str) -> TxnRequest {
    let mut txn = TxnRequest {
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: key.into(),
                value: format!("depth {depth}").into(),
                ..PutRequest::default()
            })),
        }],
        ..TxnRequest::default()
    };
    for _ in 1..depth {
        txn = TxnRequest {
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestTxn(txn)),
            }],
            ..TxnRequest::default()
        };
    }
    txn
}

/// How many levels of Txn a response nests, itself the first.
fn response_depth(resp: &TxnResponse) -> usize {
    let inner = resp.responses.iter().find_map(|r| match &r.response {
        Some(response_op::Response::ResponseTxn(t)) => Some(response_depth(t)),
        _ => None,
    });
    1 + inner.unwrap_or(0)
}

async fn kv(cluster: &Cluster, i: usize) -> KvClient<tonic::transport::Channel> {
    let channel = cluster.channel(i).await.expect("connect");
    KvClient::new(channel).max_decoding_message_size(64 << 20)
}

/// Every member answers Status and serves `key` with `value` (a
/// serializable read of its own store).
async fn all_serve(cluster: &Cluster, key: &str, value: &str) {
    for i in 0..cluster.size() {
        let channel = cluster.channel(i).await.expect("connect");
        MaintenanceClient::new(channel)
            .status(StatusRequest {})
            .await
            .unwrap_or_else(|e| panic!("member {i} is down: {e}"));
        // A follower may apply a moment after the leader answered.
        let mut got = String::new();
        for _ in 0..50 {
            let resp = kv(cluster, i)
                .await
                .range(RangeRequest {
                    key: key.into(),
                    serializable: true,
                    ..RangeRequest::default()
                })
                .await
                .expect("range")
                .into_inner();
            got = resp
                .kvs
                .first()
                .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
                .unwrap_or_default();
            if got == value {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got, value, "member {i}, key {key}");
    }
}

/// A Txn `depth` levels deep sent to member `i` gets etcd's error for a
/// txn over its ops budget.
async fn assert_refused(cluster: &Cluster, i: usize, depth: usize) {
    let refused = kv(cluster, i)
        .await
        .txn(nested(depth, "/too-deep"))
        .await
        .expect_err("refused");
    assert_eq!(
        refused.code(),
        tonic::Code::InvalidArgument,
        "depth {depth}"
    );
    assert_eq!(
        refused.message(),
        "etcdserver: too many operations in txn request"
    );
}

async fn nested_txns_apply_everywhere(kind: Server) {
    let mut cluster = Cluster::start(kind, 3).await;
    for (depth, member) in [(50, 0), (ETCD_DEEPEST, 1)] {
        let key = format!("/nested/{depth}");
        let resp = kv(&cluster, member)
            .await
            .txn(nested(depth, &key))
            .await
            .unwrap_or_else(|e| panic!("depth {depth}: {e}"))
            .into_inner();
        assert!(resp.succeeded);
        assert_eq!(response_depth(&resp), depth);
        all_serve(&cluster, &key, &format!("depth {depth}")).await;
    }

    // One level deeper than the ops budget allows.
    assert_refused(&cluster, 2, ETCD_DEEPEST + 1).await;

    // Every member replays the nested entries from its own log.
    for i in 0..3 {
        cluster.kill(i);
    }
    cluster.restart_all(&[0, 1, 2]).await;
    all_serve(&cluster, "/nested/50", "depth 50").await;
    all_serve(&cluster, "/nested/128", "depth 128").await;
    let out = cluster.etcdctl(Ctl::V3_5, &["put", "/after", "restart"]);
    assert!(out.status.success(), "{out:?}");
}

/// cairn's own ceiling: with a budget that allows any depth, Txns up to
/// `MAX_TXN_DEPTH` levels apply (on debug builds, whose stack frames are
/// the largest), and one level more gets etcd's ops error. etcd has no
/// such ceiling; `MAX_TXN_DEPTH` is four times its default reach.
#[test]
fn cairn_applies_txns_up_to_its_depth_limit() {
    // This process encodes and decodes the deepest txn too; a debug
    // build's recursion through it needs the stack the server's own
    // threads have, more than tokio's default.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(::cairn::server::THREAD_STACK_BYTES)
        .enable_all()
        .build()
        .expect("runtime");
    let body = runtime.spawn(deepest_txns());
    if let Err(e) = runtime.block_on(body) {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn deepest_txns() {
    use cairn_proto::nesting::MAX_TXN_DEPTH;
    let cluster = Cluster::start_with(Server::Cairn, 3, &["--max-txn-ops=100000"]).await;
    let resp = kv(&cluster, 0)
        .await
        .txn(nested(MAX_TXN_DEPTH, "/deepest"))
        .await
        .expect("the deepest txn cairn accepts")
        .into_inner();
    assert_eq!(response_depth(&resp), MAX_TXN_DEPTH);
    all_serve(&cluster, "/deepest", &format!("depth {MAX_TXN_DEPTH}")).await;

    assert_refused(&cluster, 1, MAX_TXN_DEPTH + 1).await;
    all_serve(&cluster, "/deepest", &format!("depth {MAX_TXN_DEPTH}")).await;
}

macro_rules! nested_txn_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nested_txns_apply_everywhere() {
                super::nested_txns_apply_everywhere($server).await;
            }
        }
    };
}

nested_txn_tests!(etcd, Server::Etcd);
nested_txn_tests!(cairn, Server::Cairn);
