//! Membership changes with the real etcdctl 3.5.1, the same test body
//! against etcd 3.5.1 and against cairn (`etcd::` and `cairn::`).
//!
//! * `grow_through_a_learner_and_shrink`: a 3-member cluster takes a
//!   fourth member as a learner (`member add --learner`, then the new
//!   process starts with `--initial-cluster-state existing`), promotes it
//!   once it has caught up, serves a write through it, and removes it
//!   again: the removed process exits, the three remaining agree on
//!   HashKV. A writer keeps putting through the founding members the whole
//!   time and no write fails. While a learner, the new member answers
//!   Status and serializable reads only.
//! * `joins_through_a_snapshot`: a learner added after the leader
//!   compacted its log gets the store as a snapshot, keys and members.
//! * `cairnctl_member_commands_print_as_etcdctl`: member add, update,
//!   promote (refused: the learner never started) and remove, twice, print
//!   the same with cairnctl as with etcdctl, ids aside.
//! * `refused_changes_say_why`: the requests etcd refuses (promoting a
//!   voter, removing or updating an unknown member, reusing a peer URL, a
//!   second learner) fail with etcd's messages, and `member update`
//!   changes a member's peer URLs.

mod support;

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::PutRequest;
use cairn_proto::etcdserverpb::kv_client::KvClient;
use support::cluster::Cluster;
use support::{Ctl, Server};
use tonic::transport::Endpoint;

/// Runs etcdctl 3.5.1 off the async workers, so the writer keeps going.
async fn ctl(endpoints: String, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ctl::V3_5.run(&endpoints, &args, None)
    })
    .await
    .expect("etcdctl task")
}

/// A membership change through etcdctl. etcd refuses changes with
/// "unhealthy cluster" until it has been connected to every voter for a
/// few seconds, so a fresh cluster is asked again for a while.
async fn change(endpoints: &str, args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = ctl(endpoints.to_owned(), args).await;
        let unhealthy =
            String::from_utf8_lossy(&o.stderr).contains("etcdserver: unhealthy cluster");
        if !unhealthy || Instant::now() > deadline {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `member add <name> --learner` for a new member slot, through etcdctl;
/// the slot and what etcdctl printed.
async fn add_learner(cluster: &mut Cluster, endpoints: &str) -> (usize, Output) {
    let new = cluster.add_member_slot();
    let peer = format!("--peer-urls={}", cluster.peer_url(new));
    let added = change(
        endpoints,
        &["member", "add", cluster.name(new), "--learner", &peer],
    )
    .await;
    assert!(added.status.success(), "member add: {}", text(&added));
    (new, added)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The hex member id from `member add`'s first line ("Member <id> added
/// to cluster <id>").
fn added_id(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert!(
        words.len() > 2 && words[0] == "Member" && words[2] == "added",
        "member add printed: {}",
        text(o)
    );
    words[1].to_owned()
}

/// `member list -w simple` lines, each "id, status, name, peer, client,
/// is-learner".
async fn member_list(endpoints: &str) -> Vec<String> {
    let o = ctl(endpoints.to_owned(), &["member", "list"]).await;
    assert!(o.status.success(), "member list: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Puts through the given members round-robin until told to stop,
/// counting successes and keeping the first failures.
struct Writer {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Writer {
    fn start(urls: Vec<String>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (s, d) = (Arc::clone(&stop), Arc::clone(&done));
        let task = tokio::spawn(async move {
            let clients: Vec<KvClient<_>> = urls
                .iter()
                .map(|u| {
                    KvClient::new(
                        Endpoint::from_shared(u.clone())
                            .expect("url")
                            .timeout(Duration::from_secs(10))
                            .connect_lazy(),
                    )
                })
                .collect();
            let mut failures = Vec::new();
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                let mut c = clients[(n as usize) % clients.len()].clone();
                let put = c
                    .put(PutRequest {
                        key: format!("w/{:06}", n % 1000).into_bytes(),
                        value: n.to_string().into_bytes(),
                        ..Default::default()
                    })
                    .await;
                match put {
                    Ok(_) => {
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if failures.len() < 5 => failures.push(format!("put {n}: {e}")),
                    Err(_) => {}
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            failures
        });
        Writer { stop, done, task }
    }

    /// Waits until some more writes succeeded: the cluster still serves.
    async fn progresses(&self, step: &str) {
        let before = self.done.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.done.load(Ordering::Relaxed) < before + 5 {
            assert!(Instant::now() < deadline, "no writes succeed {step}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self.task.await.expect("writer");
        (self.done.load(Ordering::Relaxed), failures)
    }
}

async fn grow_through_a_learner_and_shrink(kind: Server) {
    let mut cluster = Cluster::start(kind, 3).await;
    let founders = cluster.endpoints();
    let writer = Writer::start((0..3).map(|i| cluster.client_url(i)).collect());
    writer.progresses("before the change").await;

    // Announce the learner, then start its process.
    let (new, added) = add_learner(&mut cluster, &founders).await;
    let out = String::from_utf8_lossy(&added.stdout).to_string();
    assert!(
        out.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""),
        "member add output: {out}"
    );
    let id = added_id(&added);
    let listed = member_list(&founders).await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|l| l.starts_with(&id) && l.contains("unstarted") && l.ends_with("true")),
        "the learner is listed unstarted: {listed:?}"
    );
    cluster.start_joining(new).await;
    writer.progresses("with a learner").await;

    // A learner answers Status and serializable reads, nothing else.
    let learner = cluster.client_url(new);
    let status = ctl(learner.clone(), &["endpoint", "status", "-w", "json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(json[0]["Status"]["isLearner"], true, "{json}");
    let read = ctl(
        learner.clone(),
        &["get", "w/", "--prefix", "--consistency=s"],
    )
    .await;
    assert!(
        read.status.success(),
        "serializable read on the learner: {}",
        text(&read)
    );
    for args in [
        &["get", "w/", "--prefix"][..],
        &["put", "on-learner", "x"][..],
    ] {
        let o = ctl(learner.clone(), args).await;
        assert!(
            !o.status.success()
                && String::from_utf8_lossy(&o.stderr)
                    .contains("etcdserver: rpc not supported for learner"),
            "{args:?} on the learner: {}",
            text(&o)
        );
    }

    // Promote once the learner has caught up (a learner behind is refused
    // with etcd's message; keep asking).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let promoted = change(&founders, &["member", "promote", &id]).await;
        if promoted.status.success() {
            let out = String::from_utf8_lossy(&promoted.stdout).to_string();
            assert!(out.contains("promoted"), "member promote: {out}");
            break;
        }
        let err = String::from_utf8_lossy(&promoted.stderr).to_string();
        assert!(
            err.contains("can only promote a learner member which is in sync with leader"),
            "member promote: {}",
            text(&promoted)
        );
        assert!(Instant::now() < deadline, "learner never caught up: {err}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let listed = member_list(&cluster.endpoints()).await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|l| l.contains(", started, ") && l.ends_with("false")),
        "four started voters: {listed:?}"
    );
    writer.progresses("with four voters").await;

    // The new voter serves writes and reads.
    let put = ctl(cluster.client_url(new), &["put", "via-new", "yes"]).await;
    assert!(
        put.status.success(),
        "put via the new member: {}",
        text(&put)
    );
    let get = ctl(founders.clone(), &["get", "via-new", "--print-value-only"]).await;
    assert_eq!(
        String::from_utf8_lossy(&get.stdout),
        "yes\n",
        "{}",
        text(&get)
    );

    // Shrink back: the removed member stops by itself.
    let removed = change(&founders, &["member", "remove", &id]).await;
    assert!(
        removed.status.success(),
        "member remove: {}",
        text(&removed)
    );
    assert!(
        // etcdctl pads the id to 16 columns (%16x): an id with a leading
        // zero digit comes out with a space before it.
        String::from_utf8_lossy(&removed.stdout).contains(&format!("Member {id:>16} removed")),
        "{}",
        text(&removed)
    );
    // A removed member stops by itself, cleanly, so that a supervisor
    // does not restart it into a cluster that no longer knows it.
    match cluster.wait_exit(new, Duration::from_secs(20)).await {
        Ok(status) => assert_eq!(status, "exit status: 0", "the removed member's exit"),
        Err(e) => {
            cluster.print_logs();
            panic!("{e}");
        }
    }
    assert_eq!(member_list(&founders).await.len(), 3);
    writer.progresses("after the removal").await;

    let (done, failures) = writer.finish().await;
    assert!(
        failures.is_empty(),
        "writes failed during the changes ({done} succeeded): {failures:?}"
    );
    let hashes = ctl(founders, &["endpoint", "hashkv", "--cluster", "-w", "json"]).await;
    assert!(hashes.status.success(), "hashkv: {}", text(&hashes));
    let json: serde_json::Value = serde_json::from_slice(&hashes.stdout).expect("hashkv json");
    let values: Vec<u64> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["HashKV"]["hash"].as_u64().expect("hash"))
        .collect();
    assert_eq!(values.len(), 3, "{json}");
    assert!(
        values.windows(2).all(|w| w[0] == w[1]),
        "HashKV differs: {json}"
    );
}

async fn refused_changes_say_why(kind: Server) {
    let mut cluster = Cluster::start(kind, 3).await;
    let all = cluster.endpoints();
    let voter = format!("{:x}", cluster.member_id(1));
    let expect_error = |o: &Output, message: &str| {
        assert!(!o.status.success(), "expected a refusal: {}", text(o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(message),
            "expected {message:?}: {}",
            text(o)
        );
    };
    let o = change(&all, &["member", "promote", &voter]).await;
    expect_error(&o, "etcdserver: can only promote a learner member");
    let o = change(&all, &["member", "remove", "1234"]).await;
    expect_error(&o, "etcdserver: member not found");
    let o = change(
        &all,
        &["member", "update", "1234", "--peer-urls=http://127.0.0.1:1"],
    )
    .await;
    expect_error(&o, "etcdserver: member not found");
    let taken = format!("--peer-urls={}", cluster.peer_url(0));
    let o = change(&all, &["member", "add", "x", &taken]).await;
    expect_error(&o, "etcdserver: Peer URLs already exists");

    // One learner at a time.
    let first = cluster.add_member_slot();
    let second = cluster.add_member_slot();
    let peer = format!("--peer-urls={}", cluster.peer_url(first));
    let o = change(&all, &["member", "add", "l1", "--learner", &peer]).await;
    assert!(o.status.success(), "member add: {}", text(&o));
    let learner = added_id(&o);
    let peer = format!("--peer-urls={}", cluster.peer_url(second));
    let o = change(&all, &["member", "add", "l2", "--learner", &peer]).await;
    expect_error(&o, "etcdserver: too many learner members in cluster");

    // An unstarted learner's address can be corrected, then it goes.
    let moved = format!("--peer-urls={}", cluster.peer_url(second));
    let o = change(&all, &["member", "update", &learner, &moved]).await;
    assert!(o.status.success(), "member update: {}", text(&o));
    let listed = member_list(&all).await;
    assert!(
        listed
            .iter()
            .any(|l| l.starts_with(&learner) && l.contains(&cluster.peer_url(second))),
        "{listed:?}"
    );
    let o = change(&all, &["member", "remove", &learner]).await;
    assert!(o.status.success(), "member remove: {}", text(&o));
    assert_eq!(member_list(&all).await.len(), 3);
}

/// A member joining after the leader compacted its log past the
/// beginning gets the store as a snapshot, and with it the keys and the
/// member list.
async fn joins_through_a_snapshot(kind: Server) {
    let mut cluster = Cluster::start_with(kind, 3, &["--snapshot-count=100"]).await;
    let founders = cluster.endpoints();
    let mut kv = KvClient::new(cluster.channel(0).await.expect("channel"));
    for i in 0..400 {
        kv.put(PutRequest {
            key: format!("early/{i:04}").into_bytes(),
            value: b"v".to_vec(),
            ..Default::default()
        })
        .await
        .expect("put");
    }
    let (new, _) = add_learner(&mut cluster, &founders).await;
    cluster.start_joining(new).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = ctl(
            cluster.client_url(new),
            &[
                "get",
                "early/",
                "--prefix",
                "--count-only",
                "--consistency=s",
                "-w",
                "fields",
            ],
        )
        .await;
        if String::from_utf8_lossy(&count.stdout).contains("\"Count\" : 400") {
            break;
        }
        if Instant::now() > deadline {
            cluster.print_logs();
            panic!("the learner never got the keys: {}", text(&count));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let marker = match kind {
        Server::Cairn => "installing snapshot",
        Server::Etcd => "applied snapshot",
    };
    assert!(
        cluster.log(new).contains(marker),
        "the new member caught up without a snapshot (no {marker:?} in its log)"
    );
    assert_eq!(member_list(&founders).await.len(), 4);
}

/// Replaces member and cluster ids (16 hex digits, or long decimals) in
/// `text`, so two runs that differ only in the ids compare equal.
fn mask_ids(text: &str) -> String {
    text.split_inclusive(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let (body, tail) = word.split_at(
                word.find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(word.len()),
            );
            let hex_id = body.len() >= 12 && body.chars().all(|c| c.is_ascii_hexdigit());
            if hex_id {
                format!("<id>{tail}")
            } else {
                word.to_owned()
            }
        })
        .collect()
}

/// `ETCD_INITIAL_CLUSTER="a=..,b=.."` with its members sorted, and runs
/// of spaces made one: both tools list members in id order and pad ids
/// to 16 columns, and a new member's id differs from run to run.
fn sort_initial_cluster(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let line = line
                .split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            match line.strip_prefix("ETCD_INITIAL_CLUSTER=\"") {
                Some(rest) => {
                    let mut parts: Vec<&str> =
                        rest.trim_end().trim_end_matches('"').split(',').collect();
                    parts.sort_unstable();
                    format!("ETCD_INITIAL_CLUSTER=\"{}\"\n", parts.join(","))
                }
                None => line,
            }
        })
        .collect()
}

/// cairnctl's member commands print what etcdctl 3.5.1's print, errors
/// included, one after the other on the same cluster.
async fn cairnctl_member_commands_print_as_etcdctl(kind: Server) {
    let mut cluster = Cluster::start(kind, 3).await;
    let all = cluster.endpoints();
    let slots = [cluster.add_member_slot(), cluster.add_member_slot()];
    let run = |ctl: Ctl, args: Vec<String>| {
        let all = all.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let o = ctl.run(&all, &args, None);
                let stderr: String = String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .filter(|l| !l.starts_with("{\"level\""))
                    .collect::<Vec<_>>()
                    .join("\n");
                (
                    mask_ids(&String::from_utf8_lossy(&o.stdout)),
                    mask_ids(&stderr),
                    o.status.code(),
                )
            })
            .await
            .expect("ctl task")
        }
    };
    let mut expected: Vec<String> = Vec::new();
    for (round, ctl) in [Ctl::V3_5, Ctl::Cairnctl].into_iter().enumerate() {
        // Each round its own addresses (a member added again in the same
        // second would get the removed one's id), masked below.
        let (new_peer, moved_peer) = (
            cluster.peer_url(slots[round]),
            cluster.peer_url(slots[1 - round]),
        );
        let mask_peers = |step: (String, String, Option<i32>)| {
            let m = |t: String| {
                let t = t
                    .replace(&new_peer, "<new-peer>")
                    .replace(&moved_peer, "<moved-peer>");
                sort_initial_cluster(&t)
            };
            (m(step.0), m(step.1), step.2)
        };
        let peer = format!("--peer-urls={new_peer}");
        let add: Vec<String> = vec![
            "member".into(),
            "add".into(),
            "newbie".into(),
            "--learner".into(),
            peer,
        ];
        let mut added = run(ctl, add.clone()).await;
        // etcd refuses changes for its first seconds ("unhealthy cluster").
        for _ in 0..40 {
            if !added.1.contains("unhealthy cluster") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            added = run(ctl, add.clone()).await;
        }
        let id = String::from_utf8_lossy(&ctl.run(&all, &["member", "list"], None).stdout)
            .lines()
            .find(|l| l.contains("unstarted"))
            .and_then(|l| l.split(',').next())
            .unwrap_or_else(|| panic!("no unstarted learner after {added:?}"))
            .to_owned();
        let moved = format!("--peer-urls={moved_peer}");
        let steps = vec![
            added,
            run(
                ctl,
                vec!["member".into(), "update".into(), id.clone(), moved],
            )
            .await,
            run(ctl, vec!["member".into(), "promote".into(), id.clone()]).await,
            run(ctl, vec!["member".into(), "remove".into(), id.clone()]).await,
            run(ctl, vec!["member".into(), "remove".into(), id.clone()]).await,
        ];
        let text: Vec<String> = steps
            .into_iter()
            .map(|s| format!("{:?}", mask_peers(s)))
            .collect();
        match round {
            0 => {
                eprintln!("etcdctl's member commands printed:\n{}", text.join("\n"));
                expected = text;
            }
            _ => {
                for (i, (got, want)) in text.iter().zip(&expected).enumerate() {
                    assert_eq!(
                        got, want,
                        "{kind:?}: step {i}: cairnctl differs from etcdctl"
                    );
                }
            }
        }
    }
}

macro_rules! membership_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn grow_through_a_learner_and_shrink() {
                super::grow_through_a_learner_and_shrink($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn joins_through_a_snapshot() {
                super::joins_through_a_snapshot($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cairnctl_member_commands_print_as_etcdctl() {
                super::cairnctl_member_commands_print_as_etcdctl($server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn refused_changes_say_why() {
                super::refused_changes_say_why($server).await;
            }
        }
    };
}

membership_tests!(etcd, Server::Etcd);
membership_tests!(cairn, Server::Cairn);
