//! Faults on a real 3-member cluster, the same test body against etcd 3.5.1
//! and against cairn (`etcd::` and `cairn::` test modules).
//!
//! * `leader_failure`: under continuous writes from several gRPC clients
//!   spread over all members, the leader is SIGKILLed. A new leader must be
//!   elected within three election timeouts of the kill, writes must resume,
//!   no acknowledged write may be lost, and once the killed member is back
//!   and caught up every member must report the same HashKV at the same
//!   revision. `cairn_leader_failure_over_tls` does the same with TLS on
//!   both ports (mutual, client certificates required).
//! * `lagging_follower_catches_up_by_snapshot`: a follower down while the
//!   leader writes and compacts its log past it catches up from a snapshot.
//! * `follower_watch_across_leader_change`: a prefix watch opened on a
//!   follower while the leader is killed and restarted under writes must
//!   deliver every put exactly once, in revision order, with no gap.
//!
//! Every key is written once (writer id and sequence number in the key), so
//! the final keyspace is the complete history of puts.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest, WatchCreateRequest, WatchRequest};
use cairn_proto::mvccpb::event::EventType;
use support::Server;
use support::cluster::{Cluster, ELECTION_TIMEOUT_MS, Options, Tls};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Concurrent writers of the load.
const WRITERS: usize = 6;
/// `--snapshot-count` of the snapshot test's members.
const SNAPSHOT_COUNT: u64 = 1000;
/// Writes a follower misses in the snapshot test: more than etcd keeps for
/// slow followers after a snapshot (5000 entries) plus one snapshot's worth.
const LAGGING_WRITES: usize = 7000;
/// Generous bound for anything that just has to happen eventually.
const EVENTUALLY: Duration = Duration::from_secs(30);

/// One acknowledged put.
#[derive(Debug, Clone)]
struct Ack {
    key: String,
    value: String,
    rev: i64,
    at: Instant,
}

/// Writers putting unique keys under a prefix until stopped, each starting
/// on a different member and moving to the next one after an error.
struct Load {
    acks: Arc<Mutex<Vec<Ack>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(cluster: &Cluster, prefix: &str) -> Load {
        let channels: Vec<Channel> = (0..cluster.size())
            .map(|i| lazy_channel(cluster, i))
            .collect();
        let acks = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..WRITERS)
            .map(|w| {
                let (channels, acks, stop) = (channels.clone(), acks.clone(), stop.clone());
                let prefix = prefix.to_owned();
                tokio::spawn(async move {
                    let mut member = w % channels.len();
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("{prefix}{w}/{seq:06}");
                        let value = format!("v{w}-{seq}");
                        let mut kv = KvClient::new(channels[member].clone());
                        let put = PutRequest {
                            key: key.clone().into_bytes(),
                            value: value.clone().into_bytes(),
                            ..Default::default()
                        };
                        match kv.put(put).await {
                            Ok(resp) => {
                                let rev = resp.into_inner().header.expect("header").revision;
                                let at = Instant::now();
                                acks.lock().unwrap().push(Ack {
                                    key,
                                    value,
                                    rev,
                                    at,
                                });
                            }
                            Err(_) => {
                                member = (member + 1) % channels.len();
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                        // A key whose put failed may still have been
                        // committed: never reuse it.
                        seq += 1;
                    }
                })
            })
            .collect();
        Load { acks, stop, tasks }
    }

    fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap().clone()
    }

    /// Waits until `n` puts acknowledged after `after` exist. Thousands of
    /// puts to a debug build on a busy 2-core machine can take longer than
    /// [`EVENTUALLY`]; how fast they go is not what these tests check.
    async fn wait_acks_after(&self, after: Instant, n: usize) {
        let deadline = Instant::now() + 3 * EVENTUALLY;
        loop {
            let count = self.acks().iter().filter(|a| a.at > after).count();
            if count >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {count} writes acknowledged, wanted {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> Vec<Ack> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("writer task");
        }
        self.acks.lock().unwrap().clone()
    }
}

fn lazy_channel(cluster: &Cluster, i: usize) -> Channel {
    cluster
        .endpoint(i)
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(3))
        .connect_lazy()
}

/// Everything under `prefix`, read linearizably from member `i`.
async fn read_prefix(
    cluster: &Cluster,
    i: usize,
    prefix: &str,
) -> (i64, BTreeMap<String, (String, i64)>) {
    let mut kv = KvClient::new(cluster.channel(i).await.expect("channel"));
    let resp = kv
        .range(RangeRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: prefix_end(prefix),
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    let kvs = resp
        .kvs
        .into_iter()
        .map(|kv| {
            assert_eq!(
                kv.create_revision, kv.mod_revision,
                "every key is written once"
            );
            let key = String::from_utf8(kv.key).expect("utf8 key");
            (
                key,
                (
                    String::from_utf8(kv.value).expect("utf8 value"),
                    kv.mod_revision,
                ),
            )
        })
        .collect();
    (resp.header.expect("header").revision, kvs)
}

fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("non-empty prefix") += 1;
    end
}

/// Kills the leader under load and checks election time, resumed writes
/// and that the acked writes survive; then restarts the old leader.
/// Returns the acks and the index of the killed member.
async fn kill_leader_under_load(cluster: &mut Cluster, load: &Load) -> usize {
    load.wait_acks_after(Instant::now(), 50).await;
    let old = cluster.leader().await;
    let killed_at = Instant::now();
    cluster.kill(old);
    let survivors: Vec<usize> = (0..cluster.size()).filter(|&i| i != old).collect();
    let bound = Duration::from_millis(3 * ELECTION_TIMEOUT_MS);
    let new = cluster
        .leader_among(&survivors, EVENTUALLY)
        .await
        .unwrap_or_else(|e| panic!("no new leader after killing member {old}: {e}"));
    let elected_in = killed_at.elapsed();
    eprintln!(
        "{:?}: member {new} leads {elected_in:?} after the kill",
        cluster.kind()
    );
    assert!(
        elected_in <= bound,
        "new leader took {elected_in:?}, more than three election timeouts ({bound:?})"
    );
    load.wait_acks_after(killed_at, 50).await;
    cluster.restart(old).await;
    load.wait_acks_after(Instant::now(), 50).await;
    old
}

/// `tls`: TLS on both ports, client certificates required.
async fn leader_failure(kind: Server, tls: bool) {
    let opts = Options {
        tls: tls.then(Tls::mutual),
        ..Options::default()
    };
    let mut cluster = Cluster::start_opts(kind, 3, opts).await;
    let load = Load::start(&cluster, "/load/");
    let killed = kill_leader_under_load(&mut cluster, &load).await;
    let acks = load.stop().await;

    // No two acks share a revision; every ack is in the final keyspace with
    // its value at its revision.
    let mut revs: Vec<i64> = acks.iter().map(|a| a.rev).collect();
    revs.sort_unstable();
    revs.dedup();
    assert_eq!(
        revs.len(),
        acks.len(),
        "two acknowledged puts share a revision"
    );
    let (rev, kvs) = read_prefix(&cluster, (killed + 1) % 3, "/load/").await;
    for ack in &acks {
        assert_eq!(
            kvs.get(&ack.key),
            Some(&(ack.value.clone(), ack.rev)),
            "acknowledged put of {} at revision {} was lost",
            ack.key,
            ack.rev
        );
    }

    // The restarted member catches up; all members hash alike at `rev`.
    cluster.assert_hashes_agree_at(rev, EVENTUALLY).await;
    eprintln!(
        "{kind:?}: {} acked writes, all present; HashKV at {rev} agrees",
        acks.len()
    );
}

/// A follower that misses more history than the leader keeps in its log
/// (`--snapshot-count` is small, so the leader has compacted past it) must
/// catch up from a snapshot sent by the leader, and then hash like the rest.
async fn lagging_follower_catches_up_by_snapshot(kind: Server) {
    let mut cluster =
        Cluster::start_with(kind, 3, &[&format!("--snapshot-count={SNAPSHOT_COUNT}")]).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    cluster.kill(follower);
    let load = Load::start(&cluster, "/snap/");
    load.wait_acks_after(Instant::now(), LAGGING_WRITES).await;
    let acks = load.stop().await;
    cluster.restart(follower).await;
    let (rev, kvs) = read_prefix(&cluster, follower, "/snap/").await;
    for ack in &acks {
        assert_eq!(
            kvs.get(&ack.key),
            Some(&(ack.value.clone(), ack.rev)),
            "acknowledged put of {} missing on the caught-up member",
            ack.key
        );
    }
    cluster.assert_hashes_agree_at(rev, EVENTUALLY).await;
    let marker = match kind {
        Server::Cairn => "installing snapshot",
        Server::Etcd => "applied snapshot",
    };
    assert!(
        cluster.log(follower).contains(marker),
        "member {follower} caught up without a snapshot (no {marker:?} in its log)"
    );
    eprintln!(
        "{kind:?}: member {follower} missed {} writes and caught up by snapshot",
        acks.len()
    );
}

async fn follower_watch_across_leader_change(kind: Server) {
    let mut cluster = Cluster::start(kind, 3).await;
    let leader = cluster.leader().await;
    let follower = (leader + 1) % 3;
    let prefix = "/watched/";

    // Open the watch on the follower before any write: from the next
    // revision, so nothing is missed while it is being created.
    let (start_rev, _) = read_prefix(&cluster, follower, prefix).await;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let create = WatchCreateRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: prefix_end(prefix),
        start_revision: start_rev + 1,
        ..Default::default()
    };
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(create)),
    })
    .await
    .expect("queue create");
    let mut watch = WatchClient::new(lazy_channel_no_timeout(&cluster, follower));
    let mut stream = watch
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("open watch stream")
        .into_inner();
    let created = stream
        .message()
        .await
        .expect("watch response")
        .expect("stream open");
    assert!(
        created.created,
        "first watch response must confirm creation: {created:?}"
    );

    // Collect events in the background while the leader dies and returns.
    let events = tokio::spawn(async move {
        let _keep_open = tx;
        let mut seen = Vec::new();
        while let Ok(Some(resp)) = stream.message().await {
            assert!(!resp.canceled, "watch canceled: {}", resp.cancel_reason);
            for e in resp.events {
                let kv = e.kv.expect("event kv");
                let kind = EventType::try_from(e.r#type).expect("event type");
                seen.push((
                    kind,
                    String::from_utf8(kv.key).expect("utf8"),
                    kv.mod_revision,
                ));
            }
            if seen.last().is_some_and(|(_, k, _)| k == "/watched/~end") {
                break;
            }
        }
        seen
    });

    let load = Load::start(&cluster, prefix);
    kill_leader_under_load(&mut cluster, &load).await;
    let acks = load.stop().await;
    // A last put marks the end of the history.
    let mut kv = KvClient::new(cluster.channel(follower).await.expect("channel"));
    kv.put(PutRequest {
        key: b"/watched/~end".to_vec(),
        value: b"end".to_vec(),
        ..Default::default()
    })
    .await
    .expect("final put");
    let (_, history) = read_prefix(&cluster, follower, prefix).await;

    let seen = tokio::time::timeout(EVENTUALLY, events)
        .await
        .expect("watch delivered the final put in time")
        .expect("watch task");
    assert!(
        seen.iter().all(|(kind, _, _)| *kind == EventType::Put),
        "only puts happened"
    );
    for pair in seen.windows(2) {
        assert!(
            pair[0].2 < pair[1].2,
            "events out of order or repeated: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let watched: BTreeMap<String, i64> = seen.iter().map(|(_, k, r)| (k.clone(), *r)).collect();
    let expected: BTreeMap<String, i64> =
        history.iter().map(|(k, (_, r))| (k.clone(), *r)).collect();
    assert_eq!(watched.len(), seen.len(), "a key was delivered twice");
    if watched != expected {
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, _)| !watched.contains_key(*k))
            .collect();
        let extra: Vec<_> = watched
            .iter()
            .filter(|(k, _)| !expected.contains_key(*k))
            .collect();
        panic!("watch differs from history: missing {missing:?}, unexpected {extra:?}");
    }
    for ack in &acks {
        assert_eq!(
            watched.get(&ack.key),
            Some(&ack.rev),
            "acked put {} not watched",
            ack.key
        );
    }
    eprintln!(
        "{kind:?}: watch on member {follower} saw all {} puts in order",
        seen.len()
    );
}

/// A channel without a per-request timeout, for a long-lived stream.
fn lazy_channel_no_timeout(cluster: &Cluster, i: usize) -> Channel {
    cluster
        .endpoint(i)
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy()
}

macro_rules! fault_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn leader_failure() {
                super::leader_failure($server, false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn lagging_follower_catches_up_by_snapshot() {
                super::lagging_follower_catches_up_by_snapshot($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn follower_watch_across_leader_change() {
                super::follower_watch_across_leader_change($server).await;
            }
        }
    };
}

fault_tests!(etcd, Server::Etcd);
fault_tests!(cairn, Server::Cairn);

/// The leader kill with TLS on both ports, cairn only: etcd 3.5.1 over TLS
/// sometimes takes a little over three election timeouts to elect on a
/// loaded CI machine (3.37 s seen), and the bound is cairn's promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cairn_leader_failure_over_tls() {
    leader_failure(Server::Cairn, true).await;
}
