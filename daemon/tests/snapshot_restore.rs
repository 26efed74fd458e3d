//! Backup and restore: `etcdctl snapshot save` from one member of a
//! 3-member cairn cluster, `cairnctl snapshot restore` into a new data dir,
//! and a new single-member cluster started on it serves every key with the
//! same values, revisions, versions and leases, and takes writes.
//!
//! Also: a damaged file and an existing data dir are refused with one
//! clear line.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster::Cluster;
use support::{Ctl, Server, ports};

/// The `kvs` of `etcdctl get "" --from-key -w json`: every key with its
/// revisions, version, value and lease; the header (which names the
/// cluster and member) left out.
fn all_kvs(endpoints: &str) -> serde_json::Value {
    let out = Ctl::V3_5.run(endpoints, &["get", "", "--from-key", "-w", "json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    json["kvs"].clone()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A single cairn member started on `data_dir` with the restore's flags.
struct Restored {
    child: Child,
    endpoint: String,
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_snapshot_restores_into_a_new_cluster_with_every_key() {
    let cluster = Cluster::start(Server::Cairn, 3).await;
    let eps = cluster.endpoints();
    for i in 0..200 {
        ok(&Ctl::V3_5.run(
            &eps,
            &["put", &format!("/k/{i:03}"), &format!("v{i}")],
            None,
        ));
    }
    ok(&Ctl::V3_5.run(&eps, &["put", "/k/007", "rewritten"], None));
    ok(&Ctl::V3_5.run(&eps, &["del", "/k/1", "--prefix"], None));
    let lease = ok(&Ctl::V3_5.run(&eps, &["lease", "grant", "600"], None));
    let lease_id = lease
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    ok(&Ctl::V3_5.run(&eps, &["put", "/leased", "x", "--lease", &lease_id], None));
    let want = all_kvs(&eps);
    assert_eq!(want.as_array().map(Vec::len), Some(101));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    let file = file.to_str().unwrap();
    let saved = Ctl::V3_5.run(&cluster.client_url(1), &["snapshot", "save", file], None);
    ok(&saved);

    // A damaged copy is refused.
    let mut damaged = std::fs::read(file).unwrap();
    damaged[100] ^= 0xff;
    let damaged_file = dir.path().join("damaged.db");
    std::fs::write(&damaged_file, damaged).unwrap();

    let (client, peer) = (ports::claim(), ports::claim());
    let client_url = format!("http://127.0.0.1:{}", client.port);
    let peer_url = format!("http://127.0.0.1:{}", peer.port);
    let data_dir = dir.path().join("restored");
    let member_flags = [
        "--name=solo".to_string(),
        format!("--initial-cluster=solo={peer_url}"),
        "--initial-cluster-token=restored".to_string(),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--data-dir={}", data_dir.display()),
    ];
    let restore = |from: &str| {
        let mut args = vec![
            "snapshot".to_string(),
            "restore".to_string(),
            from.to_string(),
        ];
        args.extend(member_flags.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ctl::Cairnctl.run(&client_url, &args, None)
    };
    let refused = restore(damaged_file.to_str().unwrap());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("checksum"), "{stderr}");
    assert!(!data_dir.exists(), "a refused restore wrote {data_dir:?}");

    ok(&restore(file));
    let again = restore(file);
    assert!(!again.status.success(), "restored twice into one data dir");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    drop((client, peer));
    let mut restored = Restored {
        child: Command::new(Server::Cairn.binary())
            .args(&member_flags)
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the restored member"),
        endpoint: client_url.clone(),
    };
    let started = Instant::now();
    while !Ctl::V3_5
        .run(&restored.endpoint, &["endpoint", "health"], None)
        .status
        .success()
    {
        assert!(
            restored.child.try_wait().unwrap().is_none(),
            "the restored member exited"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the restored member never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert_eq!(all_kvs(&restored.endpoint), want, "restored keys differ");
    let members = ok(&Ctl::V3_5.run(&restored.endpoint, &["member", "list"], None));
    assert_eq!(members.lines().count(), 1, "{members}");
    assert!(members.contains(", solo, "), "{members}");
    let ttl = ok(&Ctl::V3_5.run(
        &restored.endpoint,
        &["lease", "timetolive", &lease_id, "--keys"],
        None,
    ));
    assert!(ttl.contains("attached keys([/leased])"), "{ttl}");
    let put = ok(&Ctl::V3_5.run(
        &restored.endpoint,
        &["put", "/after", "1", "-w", "json"],
        None,
    ));
    let rev = serde_json::from_str::<serde_json::Value>(&put).unwrap()["header"]["revision"]
        .as_i64()
        .unwrap();
    let last = want
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|kv| kv["mod_revision"].as_i64())
        .max()
        .unwrap();
    assert!(rev > last, "revisions went backwards: {rev} after {last}");
}
