//! NOSPACE: the same test body against etcd 3.5.1 and cairn, driven by
//! etcdctl 3.5.1. With a quota smaller than the backend, a put fails with
//! "database space exceeded" and raises the alarm; while it is raised,
//! writes that could grow the store fail, reads and deletes work, and the
//! alarm survives a restart; once the quota is raised and the alarm
//! disarmed, writes work again.

mod support;

use support::cluster::Cluster;
use support::{Ctl, Server};

const NO_SPACE: &str = "Error: etcdserver: mvcc: database space exceeded";

/// etcdctl's error line (it logs a JSON retry warning before it).
fn error_line(stderr: &str) -> &str {
    stderr.lines().last().unwrap_or("")
}

fn run(cluster: &Cluster, args: &[&str]) -> (bool, String, String) {
    let out = cluster.etcdctl(Ctl::V3_5, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn nospace_stops_writes_until_disarmed(kind: Server) {
    let mut cluster = Cluster::start_with(kind, 1, &["--quota-backend-bytes=1"]).await;
    let member = format!("{:x}", cluster.member_id(0));
    let alarm_line = format!("memberID:{} alarm:NOSPACE \n", cluster.member_id(0));

    let (ok, _, err) = run(&cluster, &["put", "k", "v"]);
    assert!(!ok && error_line(&err) == NO_SPACE, "first put: {err}");
    // The alarm goes through raft; give it a moment to apply.
    let mut listed = String::new();
    for _ in 0..50 {
        listed = run(&cluster, &["alarm", "list"]).1;
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listed, alarm_line, "member {member}");

    for write in [
        vec!["put", "k2", "v"],
        vec!["lease", "grant", "60"],
        vec!["txn"],
    ] {
        let stdin = (write[0] == "txn").then_some("\n\nput k3 v\n\n");
        let out = Ctl::V3_5.run(&cluster.endpoints(), &write, stdin);
        assert!(
            !out.status.success(),
            "{write:?} succeeded while NOSPACE is raised"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        // etcdctl words it per command ("failed to grant lease (...)").
        assert!(
            error_line(&err).contains("etcdserver: mvcc: database space exceeded"),
            "{write:?}: {err}"
        );
    }
    let (ok, _, err) = run(&cluster, &["get", "k"]);
    assert!(ok, "a read while NOSPACE is raised: {err}");
    let (ok, out, err) = run(&cluster, &["del", "k"]);
    assert!(ok, "a delete while NOSPACE is raised: {err}");
    assert_eq!(out, "0\n");

    // Raise the quota; the alarm is still there after the restart.
    cluster.kill(0);
    cluster.set_extra_args(&[]);
    cluster.restart(0).await;
    assert_eq!(run(&cluster, &["alarm", "list"]).1, alarm_line);
    let (ok, _, err) = run(&cluster, &["put", "k", "v"]);
    assert!(
        !ok && error_line(&err) == NO_SPACE,
        "put before disarming: {err}"
    );

    let (ok, out, err) = run(&cluster, &["alarm", "disarm"]);
    assert!(ok, "{err}");
    assert_eq!(out, alarm_line);
    assert_eq!(run(&cluster, &["alarm", "list"]).1, "");
    let (ok, out, err) = run(&cluster, &["put", "k", "v"]);
    assert!(ok && out == "OK\n", "put after disarming: {err}");
}

macro_rules! alarm_tests {
    ($kind:ident, $server:expr) => {
        mod $kind {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nospace_stops_writes_until_disarmed() {
                super::nospace_stops_writes_until_disarmed($server).await;
            }
        }
    };
}

alarm_tests!(etcd, Server::Etcd);
alarm_tests!(cairn, Server::Cairn);
