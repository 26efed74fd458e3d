//! `cairnctl make-mirror` copies a prefix from one cluster to another and
//! keeps following it: the keys present at start, then puts and deletes
//! made while it runs, arrive under the destination prefix. Between cairn
//! and etcd in both directions.

mod support;

use std::time::{Duration, Instant};

use support::cluster::Cluster;
use support::{Ctl, Server};

/// The destination's keys and values under `/copy/`, via etcdctl (simple
/// output: a key line, then a value line).
fn copied(dest: &Cluster) -> Vec<(String, String)> {
    let out = Ctl::V3_5.run(&dest.endpoints(), &["get", "--prefix", "/copy/"], None);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|kv| {
            (
                kv[0].to_owned(),
                kv.get(1).copied().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn mirror(from: Server, to: Server) {
    let (source, dest) = tokio::join!(Cluster::start(from, 1), Cluster::start(to, 1));
    let put = |k: &str, v: &str| {
        let out = Ctl::V3_5.run(&source.endpoints(), &["put", k, v], None);
        assert!(out.status.success());
    };
    put("/m/a", "1");
    put("/m/b", "2");
    put("/other", "x");
    let mut child = Ctl::Cairnctl
        .command(
            &source.endpoints(),
            &[
                "make-mirror",
                "--prefix=/m/",
                "--dest-prefix=/copy/",
                &dest.endpoints(),
            ],
        )
        .spawn()
        .expect("spawn make-mirror");
    let want_base = vec![
        ("/copy/a".to_owned(), "1".to_owned()),
        ("/copy/b".to_owned(), "2".to_owned()),
    ];
    wait_for(&dest, &want_base);
    put("/m/c", "3");
    put("/m/a", "11");
    let out = Ctl::V3_5.run(&source.endpoints(), &["del", "/m/b"], None);
    assert!(out.status.success());
    let want = vec![
        ("/copy/a".to_owned(), "11".to_owned()),
        ("/copy/c".to_owned(), "3".to_owned()),
    ];
    wait_for(&dest, &want);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "make-mirror stopped"
    );
    let _ = child.kill();
    let out = child.wait_with_output().expect("reap");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(dest: &Cluster, want: &[(String, String)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = copied(dest);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "destination has {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn cairn_to_etcd() {
    mirror(Server::Cairn, Server::Etcd).await;
}

#[tokio::test]
async fn etcd_to_cairn() {
    mirror(Server::Etcd, Server::Cairn).await;
}
