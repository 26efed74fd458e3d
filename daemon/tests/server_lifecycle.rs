//! A single `cairn` process through its life: bootstrap, serving, SIGKILL
//! and restart from its data dir, clean shutdown on SIGTERM, and a restart
//! whose bootstrap flags no longer describe the data dir's member.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::kv_client::KvClient;
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest};
use support::ports::{self, PortClaim};

struct Member {
    client: PortClaim,
    peer: PortClaim,
}

impl Member {
    fn new() -> Member {
        Member {
            client: ports::claim(),
            peer: ports::claim(),
        }
    }

    fn command(&self, dir: &Path, token: &str) -> Command {
        let client = format!("http://127.0.0.1:{}", self.client.port);
        let peer = format!("http://127.0.0.1:{}", self.peer.port);
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.env_clear()
            .args(["--name", "solo", "--data-dir"])
            .arg(dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("solo={peer}")])
            .args(["--initial-cluster-token", token]);
        c
    }

    fn start(&self, dir: &Path, token: &str) -> Child {
        // Logs are not read here; a pipe nobody drains would stall cairn.
        self.command(dir, token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cairn starts")
    }

    async fn client(&self) -> KvClient<tonic::transport::Channel> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = format!("http://127.0.0.1:{}", self.client.port);
            if let Ok(c) = KvClient::connect(url).await {
                return c;
            }
            assert!(Instant::now() < deadline, "cairn never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn put(kv: &mut KvClient<tonic::transport::Channel>, key: &str, value: &str) -> i64 {
    let req = PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match kv.put(req.clone()).await {
            Ok(r) => return r.into_inner().header.unwrap().revision,
            // Until the member has elected itself.
            Err(e) if Instant::now() < deadline => {
                eprintln!("put: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("put never succeeded: {e}"),
        }
    }
}

async fn get(kv: &mut KvClient<tonic::transport::Channel>, key: &str) -> Option<String> {
    let req = RangeRequest {
        key: key.into(),
        ..Default::default()
    };
    let resp = kv.range(req).await.unwrap().into_inner();
    resp.kvs
        .first()
        .map(|kv| String::from_utf8(kv.value.clone()).unwrap())
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let m = Member::new();
    let mut child = m.start(dir.path(), "t");
    let mut kv = m.client().await;
    let mut last = 0;
    for i in 0..50 {
        last = put(&mut kv, &format!("k{i}"), &format!("v{i}")).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = m.start(dir.path(), "t");
    let mut kv = m.client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Reads wait for a leader; retry until the restarted member has one.
    let value = loop {
        let req = RangeRequest {
            key: b"k49".to_vec(),
            ..Default::default()
        };
        match kv.range(req).await {
            Ok(r) => break r.into_inner(),
            Err(e) => {
                assert!(Instant::now() < deadline, "no read after restart: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(value.kvs[0].value, b"v49");
    for i in 0..50 {
        assert_eq!(get(&mut kv, &format!("k{i}")).await, Some(format!("v{i}")));
    }
    let next = put(&mut kv, "after", "restart").await;
    assert_eq!(next, last + 1, "revisions continue where they stopped");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGTERM is a clean stop. A restart with bootstrap flags that describe
/// another member (here another `--initial-cluster-token`; after `member
/// update` changed a member's peer URLs, its old flags do too) starts the
/// data dir's member, as etcd 3.5.1 does, and warns that the flags were
/// ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_a_restart_ignores_the_bootstrap_flags() {
    let dir = tempfile::tempdir().unwrap();
    let m = Member::new();
    let child = m.start(dir.path(), "first");
    let mut kv = m.client().await;
    put(&mut kv, "k", "v").await;
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "SIGTERM is a clean stop");

    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("second.log");
    // The data dir from the first start, under flags naming another cluster.
    let mut child = m
        .command(dir.path(), "second")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("cairn starts");
    let mut kv = m.client().await;
    assert_eq!(
        get(&mut kv, "k").await.as_deref(),
        Some("v"),
        "the data is kept"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("the data dir holds another member"),
        "no warning about the ignored flags: {log}"
    );
}

/// A start-up error names its cause: with the peer port taken, cairn used
/// to print only "listening for peers on http://...", leaving out why.
#[test]
fn a_taken_port_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let m = Member::new();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", m.peer.port)).unwrap();
    let out = m.command(dir.path(), "taken").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "cairn: listening for peers on http://127.0.0.1:{}: ",
            m.peer.port
        )) && last.to_lowercase().contains("address already in use"),
        "{err}"
    );
}
