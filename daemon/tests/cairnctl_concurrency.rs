//! `cairnctl lock` and `cairnctl elect` share locks and elections with
//! etcdctl 3.5.1 (same keys, same algorithm): a lock etcdctl holds keeps
//! cairnctl waiting until etcdctl lets go, and a cairnctl observer sees the
//! leader an etcdctl candidate became. Against cairn and etcd alike.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

use support::cluster::Cluster;
use support::{Ctl, Server};

/// Lines a child prints, read on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}

const WAIT: Duration = Duration::from_secs(15);

/// Waits for `child` to exit, failing with `what` if it still runs after
/// WAIT (a process that missed its SIGINT would otherwise hang the test
/// until the runner kills it, saying nothing).
fn exits(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} still runs {WAIT:?} after it should have exited");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn lock_waits_for_etcdctl(kind: Server) {
    let cluster = Cluster::start(kind, 1).await;
    let eps = cluster.endpoints();
    let mut holder = Ctl::V3_5
        .command(&eps, &["lock", "L"])
        .spawn()
        .expect("etcdctl lock");
    let held = lines_of(&mut holder);
    let key = held.recv_timeout(WAIT).expect("etcdctl took the lock");
    assert!(key.starts_with("L/"), "holder key {key:?}");

    let mut waiter = Ctl::Cairnctl
        .command(
            &eps,
            &["lock", "L", "sh", "-c", "echo acquired $ETCD_LOCK_KEY"],
        )
        .spawn()
        .expect("cairnctl lock");
    let got = lines_of(&mut waiter);
    assert!(
        got.recv_timeout(Duration::from_secs(1)).is_err(),
        "cairnctl took a lock etcdctl holds"
    );
    interrupt(&holder);
    let line = got
        .recv_timeout(WAIT)
        .expect("cairnctl got the lock once released");
    assert!(line.starts_with("acquired L/"), "{line:?}");
    assert_ne!(line, format!("acquired {key}"));
    let status = exits(&mut waiter, "cairnctl lock with a command");
    assert!(status.success(), "cairnctl lock with a command exits 0");
    exits(&mut holder, "etcdctl lock after SIGINT");

    // The command's lock is released: etcdctl can take it again at once.
    let out = Ctl::V3_5.run(&eps, &["lock", "L", "echo", "again"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "again\n");
}

async fn observer_sees_etcdctl_leader(kind: Server) {
    let cluster = Cluster::start(kind, 1).await;
    let eps = cluster.endpoints();
    let mut observer = Ctl::Cairnctl
        .command(&eps, &["elect", "-l", "E"])
        .spawn()
        .expect("observer");
    let seen = lines_of(&mut observer);
    let mut first = Ctl::V3_5
        .command(&eps, &["elect", "E", "one"])
        .spawn()
        .expect("candidate one");
    let first_out = lines_of(&mut first);
    let key = first_out.recv_timeout(WAIT).expect("etcdctl elected");
    assert_eq!(seen.recv_timeout(WAIT).expect("observer: leader key"), key);
    assert_eq!(
        seen.recv_timeout(WAIT).expect("observer: leader value"),
        "one"
    );

    // A cairnctl candidate waits behind it, and leads once it resigns.
    let mut second = Ctl::Cairnctl
        .command(&eps, &["elect", "E", "two"])
        .spawn()
        .expect("candidate two");
    let second_out = lines_of(&mut second);
    assert!(
        second_out.recv_timeout(Duration::from_secs(1)).is_err(),
        "two leaders at once"
    );
    interrupt(&first);
    let key2 = second_out
        .recv_timeout(WAIT)
        .expect("cairnctl elected after resign");
    assert_eq!(second_out.recv_timeout(WAIT).expect("value"), "two");
    assert_eq!(seen.recv_timeout(WAIT).expect("observer: new leader"), key2);
    assert_eq!(seen.recv_timeout(WAIT).expect("observer: new value"), "two");
    interrupt(&second);
    assert!(exits(&mut second, "cairnctl elect after SIGINT").success());
    exits(&mut first, "etcdctl elect after SIGINT");
    let _ = observer.kill();
    let _ = observer.wait();
}

#[tokio::test]
async fn cairn_lock() {
    lock_waits_for_etcdctl(Server::Cairn).await;
}

#[tokio::test]
async fn etcd_lock() {
    lock_waits_for_etcdctl(Server::Etcd).await;
}

#[tokio::test]
async fn cairn_elect() {
    observer_sees_etcdctl_leader(Server::Cairn).await;
}

#[tokio::test]
async fn etcd_elect() {
    observer_sees_etcdctl_leader(Server::Etcd).await;
}
