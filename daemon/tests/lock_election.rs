//! The v3lock and v3election services on a real 3-member cluster, the same
//! test body against etcd 3.5.1 and against cairn (`etcd::` and `cairn::`),
//! with calls spread over different members and etcdctl 3.5.1's
//! client-side `lock` and `elect` contending for the same keys.
//!
//! * `lock_excludes_until_released`: a second Lock, and then `etcdctl
//!   lock`, wait while the lock is held; each gets it in turn when the
//!   holder unlocks or its lease is revoked; a waiter that gives up leaves
//!   no key; keys are `<name>/<lease hex>`.
//! * `lock_refuses_a_lease_that_does_not_exist`: etcd's message, with code
//!   Unknown as etcd's (its recipe's client error is passed on as a plain
//!   error).
//! * `election_follows_the_oldest_candidate`: Campaign, Leader, Proclaim,
//!   Observe and Resign, a stale leader refused, etcd's error messages, and
//!   `etcdctl elect` waiting its turn behind a gRPC candidate.
//! * `etcdctl_lock_and_elect_contend`: two etcdctl processes never hold
//!   one lock at once, and a second `etcdctl elect` leads once the first
//!   resigns.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::lease_client::LeaseClient;
use cairn_proto::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest, RangeRequest};
use cairn_proto::v3electionpb::election_client::ElectionClient;
use cairn_proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, ProclaimRequest, ResignRequest,
};
use cairn_proto::v3lockpb::lock_client::LockClient;
use cairn_proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest};
use support::cluster::Cluster;
use support::{Ctl, Server};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// Generous bound for anything that just has to happen eventually.
const EVENTUALLY: Duration = Duration::from_secs(20);
/// How long a waiter is watched to make sure it keeps waiting.
const STILL_WAITING: Duration = Duration::from_millis(800);

/// A channel to member `i` without a request timeout: Lock and Campaign
/// block for as long as they wait.
fn channel(cluster: &Cluster, i: usize) -> Channel {
    Endpoint::from_shared(cluster.client_url(i))
        .expect("url")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy()
}

async fn grant(cluster: &Cluster, i: usize, ttl: i64) -> i64 {
    LeaseClient::new(channel(cluster, i))
        .lease_grant(LeaseGrantRequest { ttl, id: 0 })
        .await
        .expect("lease grant")
        .into_inner()
        .id
}

fn lock(cluster: &Cluster, i: usize, name: &str, lease: i64) -> JoinHandle<LockResponse> {
    let mut client = LockClient::new(channel(cluster, i));
    let name = name.as_bytes().to_vec();
    tokio::spawn(async move {
        client
            .lock(LockRequest { name, lease })
            .await
            .expect("lock")
            .into_inner()
    })
}

fn campaign(
    cluster: &Cluster,
    i: usize,
    name: &str,
    value: &str,
    lease: i64,
) -> JoinHandle<CampaignResponse> {
    let mut client = ElectionClient::new(channel(cluster, i));
    let req = CampaignRequest {
        name: name.as_bytes().to_vec(),
        lease,
        value: value.as_bytes().to_vec(),
    };
    tokio::spawn(async move { client.campaign(req).await.expect("campaign").into_inner() })
}

async fn key_exists(cluster: &Cluster, key: &[u8]) -> bool {
    let resp = KvClient::new(channel(cluster, 0))
        .range(RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
        .await
        .expect("range");
    resp.into_inner().count > 0
}

async fn done<T>(task: JoinHandle<T>, what: &str) -> T {
    tokio::time::timeout(EVENTUALLY, task)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {EVENTUALLY:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn keeps_waiting<T>(task: &JoinHandle<T>, what: &str) {
    tokio::time::sleep(STILL_WAITING).await;
    assert!(!task.is_finished(), "{what} did not wait");
}

fn spawn_ctl(cluster: &Cluster, args: &[&str]) -> Child {
    Ctl::V3_5
        .command(&cluster.endpoints(), args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn etcdctl")
}

/// Waits for a child etcdctl to exit on its own; its stdout.
fn ctl_output(child: Child, what: &str) -> String {
    let started = Instant::now();
    let mut child = child;
    loop {
        if child.try_wait().expect("poll etcdctl").is_some() {
            let out = child.wait_with_output().expect("etcdctl output");
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        if started.elapsed() > EVENTUALLY {
            let _ = child.kill();
            panic!("{what}: etcdctl still running after {EVENTUALLY:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn lock_excludes_until_released(kind: Server) {
    let cluster = Cluster::start(kind, 3).await;
    let (l1, l2) = (grant(&cluster, 0, 60).await, grant(&cluster, 1, 60).await);

    let first = done(lock(&cluster, 0, "job", l1), "first lock").await;
    assert_eq!(first.key, format!("job/{l1:x}").into_bytes());
    let second = lock(&cluster, 1, "job", l2);
    keeps_waiting(&second, "a second Lock while the lock is held").await;
    // A waiter that gives up leaves no key behind.
    let l3 = grant(&cluster, 2, 60).await;
    let quitter = lock(&cluster, 2, "job", l3);
    keeps_waiting(&quitter, "a third Lock").await;
    quitter.abort();
    let quitter_key = format!("job/{l3:x}").into_bytes();
    let deadline = Instant::now() + EVENTUALLY;
    while key_exists(&cluster, &quitter_key).await {
        assert!(Instant::now() < deadline, "a cancelled Lock left its key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ctl = spawn_ctl(&cluster, &["lock", "job", "--", "echo", "etcdctl-held"]);
    tokio::time::sleep(STILL_WAITING).await;
    assert!(
        ctl.try_wait().unwrap().is_none(),
        "etcdctl lock did not wait"
    );

    LockClient::new(channel(&cluster, 2))
        .unlock(UnlockRequest {
            key: first.key.clone(),
        })
        .await
        .expect("unlock");
    let second = done(second, "the second Lock after Unlock").await;
    assert_eq!(second.key, format!("job/{l2:x}").into_bytes());
    let rev = |r: &LockResponse| r.header.as_ref().map_or(0, |h| h.revision);
    assert!(rev(&second) > rev(&first), "{second:?} after {first:?}");
    tokio::time::sleep(STILL_WAITING).await;
    assert!(
        ctl.try_wait().unwrap().is_none(),
        "etcdctl lock got the lock while the second Lock held it"
    );

    // A holder whose lease ends releases the lock.
    LeaseClient::new(channel(&cluster, 0))
        .lease_revoke(LeaseRevokeRequest { id: l2 })
        .await
        .expect("revoke");
    assert_eq!(ctl_output(ctl, "etcdctl lock"), "etcdctl-held\n");

    // Lease 0: the lock takes a lease of its own.
    let own = done(lock(&cluster, 2, "job", 0), "lock without a lease").await;
    let key = String::from_utf8(own.key).unwrap();
    assert!(key.starts_with("job/") && key.len() > 4, "{key}");
}

async fn lock_refuses_a_lease_that_does_not_exist(kind: Server) {
    let cluster = Cluster::start(kind, 1).await;
    let err = LockClient::new(channel(&cluster, 0))
        .lock(LockRequest {
            name: b"job".to_vec(),
            lease: 0x1234,
        })
        .await
        .expect_err("lock with an unknown lease");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unknown, "etcdserver: requested lease not found"),
        "etcd runs the recipe on its own client: the error arrives as a plain one"
    );
}

async fn election_follows_the_oldest_candidate(kind: Server) {
    let cluster = Cluster::start(kind, 3).await;
    let mut e0 = ElectionClient::new(channel(&cluster, 0));
    let vote = || LeaderRequest {
        name: b"vote".to_vec(),
    };

    let err = e0.leader(vote()).await.expect_err("no candidate yet");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unknown, "election: no leader")
    );
    let err = e0
        .proclaim(ProclaimRequest {
            leader: None,
            value: b"x".to_vec(),
        })
        .await
        .expect_err("proclaim without a leader key");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unknown, "\"leader\" field must be provided")
    );

    let (l1, l2) = (grant(&cluster, 0, 60).await, grant(&cluster, 1, 60).await);
    let first = done(campaign(&cluster, 0, "vote", "a", l1), "first campaign").await;
    let leader: LeaderKey = first.leader.clone().expect("leader key");
    assert_eq!(leader.key, format!("vote/{l1:x}").into_bytes());
    assert_eq!(leader.name, b"vote".to_vec());
    assert_eq!(leader.lease, l1);
    assert_eq!(leader.rev, first.header.as_ref().unwrap().revision);

    let mut observed = ElectionClient::new(channel(&cluster, 2))
        .observe(vote())
        .await
        .expect("observe")
        .into_inner();
    let mut next_value = async || {
        let resp = tokio::time::timeout(EVENTUALLY, observed.message())
            .await
            .expect("an observed leader in time")
            .expect("observe stream")
            .expect("observe stream open");
        String::from_utf8(resp.kv.expect("kv").value).unwrap()
    };
    assert_eq!(next_value().await, "a");

    let second = campaign(&cluster, 1, "vote", "b", l2);
    keeps_waiting(&second, "a second candidate").await;
    let mut ctl = spawn_ctl(&cluster, &["elect", "vote", "c"]);

    e0.proclaim(ProclaimRequest {
        leader: Some(leader.clone()),
        value: b"a2".to_vec(),
    })
    .await
    .expect("proclaim");
    let now = e0.leader(vote()).await.expect("leader").into_inner();
    assert_eq!(now.kv.expect("kv").value, b"a2".to_vec());
    assert_eq!(next_value().await, "a2");

    let stale = LeaderKey {
        rev: leader.rev + 1000,
        ..leader.clone()
    };
    let err = e0
        .proclaim(ProclaimRequest {
            leader: Some(stale),
            value: b"x".to_vec(),
        })
        .await
        .expect_err("proclaim as a stale leader");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unknown, "election: not leader")
    );

    e0.resign(ResignRequest {
        leader: Some(leader),
    })
    .await
    .expect("resign");
    let second = done(second, "the second campaign after Resign").await;
    assert_eq!(
        second.leader.expect("leader key").key,
        format!("vote/{l2:x}").into_bytes()
    );
    assert_eq!(next_value().await, "b");
    assert!(
        ctl.try_wait().unwrap().is_none(),
        "etcdctl elect jumped the queue"
    );

    // etcdctl's candidate leads once the second one's lease ends.
    LeaseClient::new(channel(&cluster, 0))
        .lease_revoke(LeaseRevokeRequest { id: l2 })
        .await
        .expect("revoke");
    assert_eq!(next_value().await, "c");
    let _ = ctl.kill();
    let _ = ctl.wait();
}

async fn etcdctl_lock_and_elect_contend(kind: Server) {
    let cluster = Cluster::start(kind, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("holders");
    let holder = |n: &str| {
        let script = format!(
            "echo start-{n} >> {log}; sleep 0.7; echo end-{n} >> {log}",
            log = log.display()
        );
        spawn_ctl(&cluster, &["lock", "shared", "--", "sh", "-c", &script])
    };
    let (a, b) = (holder("a"), holder("b"));
    ctl_output(a, "first etcdctl lock");
    ctl_output(b, "second etcdctl lock");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for pair in lines.chunks(2) {
        let (start, end) = (&pair[0], &pair[1]);
        assert_eq!(
            start.strip_prefix("start-"),
            end.strip_prefix("end-"),
            "two holders at once: {lines:?}"
        );
    }

    let first = spawn_ctl(&cluster, &["elect", "poll", "one"]);
    let second = spawn_ctl(&cluster, &["elect", "poll", "two"]);
    let leader_value = async || {
        let deadline = Instant::now() + EVENTUALLY;
        let mut client = ElectionClient::new(channel(&cluster, 1));
        loop {
            if let Ok(resp) = client
                .leader(LeaderRequest {
                    name: b"poll".to_vec(),
                })
                .await
            {
                return String::from_utf8(resp.into_inner().kv.unwrap().value).unwrap();
            }
            assert!(Instant::now() < deadline, "no leader for poll");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let lead = leader_value().await;
    let (mut winner, mut loser, next) = if lead == "one" {
        (first, second, "two")
    } else {
        (second, first, "one")
    };
    // etcdctl elect resigns on SIGINT only once it has printed the leader
    // (a signal while it still reads its key back ends it without
    // resigning, against etcd too): wait for that line first.
    let printed = {
        use std::io::BufRead;
        let stdout = winner.stdout.take().expect("etcdctl stdout");
        let lead = lead.clone();
        std::thread::spawn(move || {
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line == lead)
        })
    };
    let deadline = Instant::now() + EVENTUALLY;
    while !printed.is_finished() {
        assert!(
            Instant::now() < deadline,
            "etcdctl elect never printed {lead}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        printed.join().unwrap(),
        "etcdctl elect ended without printing {lead}"
    );
    // SIGINT: etcdctl elect resigns on its way out.
    std::process::Command::new("kill")
        .args(["-INT", &winner.id().to_string()])
        .status()
        .unwrap();
    let _ = winner.wait();
    let deadline = Instant::now() + EVENTUALLY;
    while leader_value().await != next {
        if Instant::now() > deadline {
            let keys = cluster.etcdctl(Ctl::V3_5, &["get", "--prefix", "poll", "-w", "json"]);
            let _ = loser.kill();
            let out = loser.wait_with_output().unwrap();
            panic!(
                "{next} never led; keys: {}; its etcdctl: {} {}",
                String::from_utf8_lossy(&keys.stdout),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = loser.kill();
    let _ = loser.wait();
}

macro_rules! lock_election_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn lock_excludes_until_released() {
                super::lock_excludes_until_released($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn lock_refuses_a_lease_that_does_not_exist() {
                super::lock_refuses_a_lease_that_does_not_exist($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn election_follows_the_oldest_candidate() {
                super::election_follows_the_oldest_candidate($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn etcdctl_lock_and_elect_contend() {
                super::etcdctl_lock_and_elect_contend($server).await;
            }
        }
    };
}

lock_election_tests!(etcd, Server::Etcd);
lock_election_tests!(cairn, Server::Cairn);
