//! `cairnutl`, etcdutl's counterpart, on real files: `snapshot status`
//! prints what etcdutl 3.5.1 prints for a snapshot etcd saved, in every
//! output format; `hashkv` and `defrag` on a stopped cairn member's data
//! dir agree with what the running member answered and lose nothing; a
//! running member's data dir and a missing one are refused with one
//! `Error:` line, untouched. (`snapshot restore` runs through `cairnctl
//! snapshot restore` in snapshot_restore.rs.)

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::cluster::Cluster;
use support::{Ctl, Server, etcdutl, workspace_binary};

fn cairnutl(args: &[&str]) -> Output {
    Command::new(workspace_binary("cairnutl"))
        .args(args)
        .output()
        .expect("run cairnutl")
}

fn stdout_of(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn put_keys(cluster: &Cluster, range: std::ops::Range<usize>) {
    for i in range {
        let out = cluster.etcdctl(Ctl::V3_5, &["put", &format!("/k/{i:03}"), &"v".repeat(i)]);
        stdout_of("put", out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_status_prints_what_etcdutl_prints() {
    let cluster = Cluster::start(Server::Etcd, 1).await;
    put_keys(&cluster, 0..50);
    stdout_of(
        "compaction",
        cluster.etcdctl(Ctl::V3_5, &["compaction", "20"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etcd.db");
    let file = file.to_str().unwrap();
    stdout_of(
        "snapshot save",
        cluster.etcdctl(Ctl::V3_5, &["snapshot", "save", file]),
    );
    for format in ["simple", "json", "table", "fields"] {
        let args = ["snapshot", "status", file, "-w", format];
        let theirs = Command::new(etcdutl()).args(args).output().unwrap();
        let ours = cairnutl(&args);
        assert_eq!(
            stdout_of("cairnutl snapshot status", ours),
            stdout_of("etcdutl snapshot status", theirs),
            "-w {format}"
        );
    }

    let missing = dir.path().join("missing.db");
    let out = cairnutl(&["snapshot", "status", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// The hash `etcdctl endpoint hashkv` reports for member 0.
fn served_hash(cluster: &Cluster) -> u64 {
    let out = stdout_of(
        "endpoint hashkv",
        cluster.etcdctl_at(Ctl::V3_5, 0, &["endpoint", "hashkv", "-w", "json"]),
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    json[0]["HashKV"]["hash"].as_u64().expect("a hash")
}

fn offline_hash(data_dir: &Path) -> u64 {
    let out = cairnutl(&[
        "hashkv",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "-w",
        "json",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of("cairnutl hashkv", out)).expect("json");
    json["hash"].as_u64().expect("a hash")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashkv_and_defrag_work_on_a_stopped_member_and_refuse_a_running_one() {
    let mut cluster = Cluster::start(Server::Cairn, 1).await;
    put_keys(&cluster, 0..200);
    stdout_of(
        "del",
        cluster.etcdctl(Ctl::V3_5, &["del", "/k/1", "--prefix"]),
    );
    stdout_of(
        "compaction",
        cluster.etcdctl(Ctl::V3_5, &["compaction", "150"]),
    );
    put_keys(&cluster, 200..220);
    let want_keys = stdout_of(
        "get",
        cluster.etcdctl(Ctl::V3_5, &["get", "/k/", "--prefix", "--keys-only"]),
    );
    let hash = served_hash(&cluster);
    let data_dir = cluster.data_dir(0).to_path_buf();
    let data = data_dir.to_str().unwrap();

    // The member holds its store: nothing offline may touch it.
    let refused = cairnutl(&["defrag", "--data-dir", data]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("Error: ") && stderr.lines().count() == 1 && stderr.contains("lock"),
        "{stderr}"
    );

    cluster.terminate(0).await;
    assert_eq!(offline_hash(&data_dir), hash, "hashkv offline vs served");
    let defrag = cairnutl(&["defrag", "--data-dir", data]);
    assert!(
        defrag.status.success() && defrag.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&defrag.stderr)
    );
    assert_eq!(offline_hash(&data_dir), hash, "hashkv after defrag");

    cluster.restart(0).await;
    assert_eq!(served_hash(&cluster), hash, "served hash after defrag");
    let keys = stdout_of(
        "get",
        cluster.etcdctl(Ctl::V3_5, &["get", "/k/", "--prefix", "--keys-only"]),
    );
    assert_eq!(keys, want_keys);

    // A path with no member data is an error, and stays empty.
    let empty = tempfile::tempdir().unwrap();
    let out = cairnutl(&["defrag", "--data-dir", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no member data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}
