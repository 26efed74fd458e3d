//! Crash tests with the real server: a one-member `cairn` takes puts from
//! concurrent clients through its whole durable path (the write group,
//! Raft, the WAL's fdatasync, the MVCC store on sled, snapshots every 300
//! entries and the WAL segments they release) and is killed with SIGKILL
//! at random moments, many times. After every kill it must start again on
//! its data dir and serve every write it acknowledged, at the revision it
//! acknowledged; revisions never go backwards.
//!
//! `CRASH_KILLS=N` changes the number of kills (default 40);
//! `CRASH_SEED=S` replays the kill timings of one run.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::watch_client::WatchClient;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest, WatchCreateRequest, WatchRequest};
use support::ports::{self, PortClaim};
use tonic::transport::Channel;

/// Clients writing at once: enough that writes share a write group and
/// an fdatasync, and some do not.
const WRITERS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    key: Vec<u8>,
    value: Vec<u8>,
    rev: i64,
}

/// The one member, on ports claimed for the whole test.
struct Member {
    client: PortClaim,
    peer: PortClaim,
    dir: tempfile::TempDir,
}

impl Member {
    fn new() -> Member {
        Member {
            client: ports::claim(),
            peer: ports::claim(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client.port)
    }

    /// Starts `cairn` on the data dir, its log appended to `cairn.log`.
    fn start(&self) -> Child {
        let peer = format!("http://127.0.0.1:{}", self.peer.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("cairn.log"))
            .expect("open the log");
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .env_clear()
            .args(["--name", "solo", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("solo={peer}")])
            .args(["--snapshot-count", "300"])
            // A lone member elects itself sooner after each restart.
            .args(["--heartbeat-interval", "10", "--election-timeout", "100"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cairn")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cairn.log")).unwrap_or_default()
    }

    /// A channel once the member serves linearizable reads, and its
    /// current revision.
    async fn ready(&self, child: &mut Child) -> (Channel, i64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("cairn exited with {status}:\n{}", self.log());
            }
            if let Ok(channel) = Channel::from_shared(self.url()).unwrap().connect().await {
                let read = KvClient::new(channel.clone())
                    .range(RangeRequest {
                        key: b"probe".to_vec(),
                        ..Default::default()
                    })
                    .await;
                if let Ok(resp) = read {
                    let rev = resp.into_inner().header.map_or(0, |h| h.revision);
                    return (channel, rev);
                }
            }
            assert!(
                Instant::now() < deadline,
                "cairn never served a read:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Puts until the member dies; every answered put is an acknowledgement.
async fn write(channel: Channel, run: u64, writer: usize, acks: Arc<Mutex<Vec<Ack>>>) {
    let mut kv = KvClient::new(channel);
    for n in 0u64.. {
        let req = PutRequest {
            key: format!("key{}", (n * WRITERS as u64 + writer as u64) % 500).into_bytes(),
            value: format!("r{run}-{writer}-{n}").into_bytes(),
            ..Default::default()
        };
        let Ok(resp) = kv.put(req.clone()).await else {
            return;
        };
        let rev = resp.into_inner().header.map_or(0, |h| h.revision);
        acks.lock().unwrap().push(Ack {
            key: req.key,
            value: req.value,
            rev,
        });
    }
}

/// Every put from `from` to `to` (revisions), read back through a watch
/// of the history.
async fn history(channel: Channel, from: i64, to: i64) -> BTreeMap<i64, (Vec<u8>, Vec<u8>)> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: b"key".to_vec(),
            range_end: b"kez".to_vec(),
            start_revision: from,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut stream = WatchClient::new(channel)
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("open a watch")
        .into_inner();
    let mut seen = BTreeMap::new();
    while seen.last_key_value().is_none_or(|(rev, _)| *rev < to) {
        let resp = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("history arrives")
            .expect("watch stream")
            .expect("watch stream open");
        assert!(!resp.canceled, "history watch cancelled: {resp:?}");
        for kv in resp.events.into_iter().filter_map(|e| e.kv) {
            seen.insert(kv.mod_revision, (kv.key, kv.value));
        }
    }
    drop(tx);
    seen
}

/// Each acknowledged write is in the history at its revision.
async fn verify(channel: Channel, acks: &[Ack], seed: u64) {
    let (Some(from), Some(to)) = (
        acks.iter().map(|a| a.rev).min(),
        acks.iter().map(|a| a.rev).max(),
    ) else {
        return;
    };
    let seen = history(channel, from, to).await;
    for a in acks {
        let found = seen.get(&a.rev);
        assert_eq!(
            found,
            Some(&(a.key.clone(), a.value.clone())),
            "acknowledged write lost or changed: {a:?} (CRASH_SEED={seed})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let kills: u64 = std::env::var("CRASH_KILLS")
        .map(|s| s.parse().expect("CRASH_KILLS is a number"))
        .unwrap_or(40);
    let seed: u64 = std::env::var("CRASH_SEED")
        .map(|s| s.parse().expect("CRASH_SEED is a number"))
        .unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos() as u64
        });
    eprintln!("crash test: {kills} kills, CRASH_SEED={seed}");
    let member = Member::new();
    let mut x = seed | 1;
    let started = Instant::now();
    let mut all: Vec<Ack> = Vec::new();
    let mut high_water = 0i64;
    let mut runs_with_acks = 0;
    let mut child = member.start();
    let (mut channel, _) = member.ready(&mut child).await;
    for run in 0..kills {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ms = 40 + x % 400;
        let acks = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(write(channel.clone(), run, w, Arc::clone(&acks))))
            .collect();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        // Child::kill sends SIGKILL: no chance to flush or clean up.
        child.kill().expect("SIGKILL");
        child.wait().expect("reap cairn");
        for w in writers {
            w.await.expect("writer task");
        }
        let acks = std::mem::take(&mut *acks.lock().unwrap());
        if !acks.is_empty() {
            runs_with_acks += 1;
        }
        let acked = acks.iter().map(|a| a.rev).max().unwrap_or(0);
        high_water = high_water.max(acked);

        child = member.start();
        let (restarted, rev) = member.ready(&mut child).await;
        channel = restarted;
        assert!(
            rev >= high_water,
            "run {run}: restarted at revision {rev}, below acknowledged {high_water} \
             (CRASH_SEED={seed})"
        );
        high_water = rev;
        verify(channel.clone(), &acks, seed).await;
        all.extend(acks);
    }
    // Once more at the end, every write of every run.
    verify(channel, &all, seed).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap cairn");
    eprintln!(
        "crash test: {kills} kills in {:.1?}, {} acknowledged writes, final revision {high_water}",
        started.elapsed(),
        all.len(),
    );
    assert!(
        runs_with_acks * 2 >= kills,
        "most runs should acknowledge writes before the kill ({runs_with_acks} of {kills} did)"
    );
}
