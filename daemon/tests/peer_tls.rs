//! TLS between members: three members on `https://` peer URLs with
//! `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file` and
//! `--peer-client-cert-auth` (given as ETCD_* variables, which both servers
//! read), the same steps against etcd 3.5.1 and cairn with etcdctl 3.5.1
//! as the client, on plain client URLs:
//!
//! - a write on the leader is read linearizably on a follower (raft and
//!   ReadIndex over mutual TLS);
//! - a lease granted and kept alive through a follower (the renewal and
//!   the remaining-time query forwarded to the leader on the peer port);
//! - a member restarted with a certificate from another CA is shut out:
//!   the others refuse it and it refuses them, so a later write never
//!   reaches it; cairn's members say why in their logs. The same for a
//!   certificate of the right CA with a CN `--peer-cert-allowed-cn` does
//!   not allow.
//!
//! Which steps succeed, and their output (lease ids masked), must be the
//! same for both servers. Also `--peer-auto-tls` clusters of both.

mod support;

use std::time::Duration;

use support::Ctl;
use support::Server;
use support::cluster::{Cluster, Options};
use support::pki::{Pair, Pki};

/// The ETCD_* variables of a member whose peer certificate is `pair`.
fn peer_env(pki: &Pki, pair: &Pair) -> Vec<(String, String)> {
    [
        ("ETCD_PEER_CERT_FILE", pair.cert.display().to_string()),
        ("ETCD_PEER_KEY_FILE", pair.key.display().to_string()),
        ("ETCD_PEER_TRUSTED_CA_FILE", pki.ca.display().to_string()),
        ("ETCD_PEER_CLIENT_CERT_AUTH", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// etcdctl 3.5.1 at member `i`: whether it succeeded, and its stdout with
/// `id` (a lease id, random per run) masked.
fn step(c: &Cluster, i: usize, args: &[&str], id: &str) -> (bool, String) {
    let out = c.etcdctl_at(Ctl::V3_5, i, args);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !id.is_empty() {
        text = text.replace(id, "<lease>");
    }
    (out.status.success(), text)
}

/// The steps against a `kind` cluster whose members also get `extra`
/// variables, with `outsider` the certificate a member comes back with;
/// what each step gave, and the cluster, for its logs.
async fn transcript(
    kind: Server,
    pki: &Pki,
    extra: &[(&str, &str)],
    outsider_pair: &Pair,
) -> (Vec<(String, bool, String)>, Cluster) {
    let env_of = |pair: &Pair| {
        let mut env = peer_env(pki, pair);
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    };
    let mut c = Cluster::start_opts(
        kind,
        3,
        Options {
            peer_https: true,
            env: vec![env_of(&pki.peer); 3],
            ..Options::default()
        },
    )
    .await;
    let members =
        String::from_utf8_lossy(&c.etcdctl(Ctl::V3_5, &["member", "list"]).stdout).into_owned();
    assert_eq!(
        members.matches(", https://127.0.0.1:").count(),
        3,
        "every peer URL is https:\n{members}"
    );
    let leader = c.leader().await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let (follower, outsider) = (followers[0], followers[1]);

    let mut steps = Vec::new();
    let mut record = |name: &str, result: (bool, String)| {
        steps.push((name.to_owned(), result.0, result.1));
    };
    record(
        "put on the leader",
        step(&c, leader, &["put", "/k", "v"], ""),
    );
    record("get on a follower", step(&c, follower, &["get", "/k"], ""));

    let granted = step(&c, follower, &["lease", "grant", "30"], "");
    let id = granted
        .1
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{kind:?}: no lease id in {granted:?}"))
        .to_owned();
    record(
        "lease grant on a follower",
        (granted.0, granted.1.replace(&id, "<lease>")),
    );
    record(
        "keep-alive on a follower",
        step(&c, follower, &["lease", "keep-alive", "--once", &id], &id),
    );
    record(
        "timetolive on a follower",
        step(&c, follower, &["lease", "timetolive", &id], &id),
    );

    // The outsider comes back with a certificate the others refuse.
    c.kill(outsider);
    c.set_env(outsider, env_of(outsider_pair));
    c.relaunch(outsider);
    record("put after", step(&c, leader, &["put", "/after", "1"], ""));
    tokio::time::sleep(Duration::from_secs(3)).await;
    // etcd's outsider does not serve clients at all (it waits to publish
    // its name through raft, which cairn does not yet: issue 21); what
    // matters here is that it never got the write.
    let (_, seen) = step(
        &c,
        outsider,
        &["get", "/after", "--consistency=s", "--print-value-only"],
        "",
    );
    record(
        "the outsider lacks the write",
        (seen != "1\n", String::new()),
    );
    record(
        "the others' get",
        step(&c, follower, &["get", "/after", "--print-value-only"], ""),
    );
    (steps, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_mutual_tls_works_and_shuts_out_another_cas_member_as_etcd_does() {
    let pki = Pki::new();
    let (etcd, _etcd_cluster) = transcript(Server::Etcd, &pki, &[], &pki.stranger_peer).await;
    let (cairn, cairn_cluster) = transcript(Server::Cairn, &pki, &[], &pki.stranger_peer).await;
    if cairn != etcd {
        cairn_cluster.print_logs();
    }
    assert_eq!(cairn, etcd);
    // Not vacuous: the follower read the write, the lease was kept alive,
    // and the others took the last write the outsider never got.
    assert_eq!(etcd[1].2, "/k\nv\n");
    assert_eq!(etcd[3].2, "lease <lease> keepalived with TTL(30)\n");
    assert_eq!(
        etcd[6],
        ("the outsider lacks the write".into(), true, String::new())
    );
    assert_eq!(etcd[7].2, "1\n");
    // cairn's members say why they refused the outsider.
    let said_why = (0..3).any(|i| {
        let log = cairn_cluster.log(i);
        log.contains("peer TLS handshake failed") && log.contains("UnknownIssuer")
    });
    assert!(said_why, "no member logged why it refused the outsider");
}

/// `--peer-cert-allowed-cn`: a member whose certificate is from the right
/// CA but names another CN is shut out, as etcd shuts it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_cert_allowed_cn_shuts_out_another_cn_as_etcd_does() {
    let pki = Pki::new();
    let allowed = [("ETCD_PEER_CERT_ALLOWED_CN", "member")];
    let (etcd, _etcd_cluster) = transcript(Server::Etcd, &pki, &allowed, &pki.intruder_peer).await;
    let (cairn, cairn_cluster) =
        transcript(Server::Cairn, &pki, &allowed, &pki.intruder_peer).await;
    if cairn != etcd {
        cairn_cluster.print_logs();
    }
    assert_eq!(cairn, etcd);
    assert_eq!(etcd[1].2, "/k\nv\n");
    assert_eq!(
        etcd[6],
        ("the outsider lacks the write".into(), true, String::new())
    );
    let said_why = (0..3).any(|i| {
        cairn_cluster
            .log(i)
            .contains("client certificate authentication failed: its CN Some(\"intruder\")")
    });
    assert!(said_why, "no member logged why it refused the intruder");
}

/// `--peer-auto-tls` (what etcd's own end-to-end tests start their
/// clusters with): each member makes itself a certificate and the members
/// replicate over TLS without checking each other's, on both servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_auto_tls_clusters_work_as_etcd_does() {
    let mut outputs = Vec::new();
    for kind in [Server::Etcd, Server::Cairn] {
        let c = Cluster::start_opts(
            kind,
            3,
            Options {
                peer_https: true,
                extra: vec!["--peer-auto-tls".to_owned()],
                ..Options::default()
            },
        )
        .await;
        let leader = c.leader().await;
        let follower = (leader + 1) % 3;
        let steps = vec![
            step(&c, leader, &["put", "/k", "v"], ""),
            step(&c, follower, &["get", "/k"], ""),
        ];
        let made = (0..3).all(|i| c.data_dir(i).join("fixtures/peer/cert.pem").exists());
        outputs.push((steps, made));
    }
    assert_eq!(outputs[1], outputs[0]);
    assert_eq!(outputs[0].0[1], (true, "/k\nv\n".to_owned()));
    assert!(outputs[0].1, "etcd keeps its certificates in the data dir");
}

/// Connects to `port` on 127.0.0.1 from the local address `from`, as a
/// member would (trusting the CA, presenting `pair`), and says whether the
/// server kept the connection open after the handshake (it waits for the
/// member's first request) or closed it.
async fn kept_open(pki: &Pki, pair: &Pair, from: &str, port: u16) -> bool {
    use rustls::pki_types::ServerName;
    use tokio::io::AsyncReadExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let tcp = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect to the peer port");
    let mut tls = tokio_rustls::TlsConnector::from(pki.client_config(pair))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("the TLS handshake");
    let mut byte = [0u8; 1];
    // Either server waits for the member's first request; a refusal ends
    // the connection at once.
    match tokio::time::timeout(Duration::from_secs(2), tls.read(&mut byte)).await {
        Err(_) => true,
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
    }
}

/// etcd checks the certificate a member presents on the peer port against
/// the address it connects from, so a member certificate (valid for
/// 127.0.0.1) used from 127.0.0.2 is turned away after the handshake;
/// `--experimental-peer-skip-client-san-verification` switches the check
/// off. The same for both servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_certificate_used_from_another_address_is_refused_as_etcd_does() {
    let pki = Pki::new();
    let mut outcomes = Vec::new();
    for kind in [Server::Etcd, Server::Cairn] {
        for skip in [false, true] {
            let mut env = peer_env(&pki, &pki.peer);
            env.push((
                "ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION".to_owned(),
                skip.to_string(),
            ));
            let c = Cluster::start_opts(
                kind,
                1,
                Options {
                    peer_https: true,
                    env: vec![env],
                    ..Options::default()
                },
            )
            .await;
            let port = c.peer_port(0);
            let from_member = kept_open(&pki, &pki.peer, "127.0.0.1", port).await;
            let from_elsewhere = kept_open(&pki, &pki.peer, "127.0.0.2", port).await;
            if kind == Server::Cairn && !skip {
                assert!(
                    c.log(0).contains("does not match the certificate")
                        || c.log(0).contains("is valid for"),
                    "cairn does not say why:\n{}",
                    c.log(0)
                );
            }
            outcomes.push((kind, skip, from_member, from_elsewhere));
        }
    }
    let etcd: Vec<_> = outcomes[..2].iter().map(|o| (o.1, o.2, o.3)).collect();
    let cairn: Vec<_> = outcomes[2..].iter().map(|o| (o.1, o.2, o.3)).collect();
    assert_eq!(cairn, etcd);
    // Not vacuous: the check refused, and skipping it let the same in.
    assert_eq!(etcd, [(false, true, false), (true, true, true)]);
}
