//! Backup and restore: `etcdctl snapshot save` from one member of a
//! 3-member cairn cluster, `cairnctl snapshot restore` into a new data dir,
//! and a new single-member cluster started on it serves every key with the
//! same values, revisions, versions and leases, and takes writes.
//!
//! Also: a damaged file and an existing data dir are refused with one
//! clear line.

mod support;

use support::cluster::Cluster;
use support::restored::Restore;
use support::{Ctl, Server};

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

    let restore = Restore::new(dir.path());
    let data_dir = restore.data_dir.clone();
    let refused = restore.run(damaged_file.to_str().unwrap());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("checksum"), "{stderr}");
    assert!(!data_dir.exists(), "a refused restore wrote {data_dir:?}");

    ok(&restore.run(file));
    let again = restore.run(file);
    assert!(!again.status.success(), "restored twice into one data dir");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let restored = restore.start().await;

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
