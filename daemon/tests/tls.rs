//! TLS on the client port, the same steps against etcd 3.5.1 and cairn
//! with etcdctl 3.5.1 as the client: a member serving `https://` with
//! `--cert-file`/`--key-file` answers a client that trusts its CA, and
//! refuses (promptly, never hanging) a plain-text client and one that does
//! not trust it; with `--client-cert-auth` it also refuses a client with
//! no certificate or one from another CA. Which commands succeed, and
//! their output, must be the same for both servers; cairnctl with the same
//! flags reads what etcdctl reads.
//!
//! Also cairn only: a key that does not match its certificate, or a
//! missing file, stops start-up with one line naming the file.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::pki::Pki;
use support::ports::{self, PortClaim};
use support::{Ctl, Server};

/// One member serving clients on https only.
struct Member {
    child: Child,
    client: PortClaim,
    _peer: PortClaim,
    dir: tempfile::TempDir,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Member {
    fn start(server: Server, pki: &Pki, extra: &[String]) -> Member {
        let mut flags = vec![
            flag("cert-file", &pki.server.cert),
            flag("key-file", &pki.server.key),
        ];
        flags.extend_from_slice(extra);
        Member::spawn(server, &flags)
    }

    /// A member serving https on its client URL, configured by `flags`.
    fn spawn(server: Server, flags: &[String]) -> Member {
        let (client, peer) = (ports::claim(), ports::claim());
        let dir = tempfile::tempdir().unwrap();
        let client_url = format!("https://127.0.0.1:{}", client.port);
        let peer_url = format!("http://127.0.0.1:{}", peer.port);
        let child = Command::new(server.binary())
            .arg("--name=solo")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=solo={peer_url}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        Member {
            child,
            client,
            _peer: peer,
            dir,
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.client.port)
    }
}

/// etcdctl 3.5.1 against `endpoint` with `tls` flags; whether it
/// succeeded, and its stdout. It must finish well within its timeouts.
fn etcdctl(endpoint: &str, tls: &[String], args: &[&str]) -> (bool, String) {
    run_ctl(Ctl::V3_5, endpoint, tls, args)
}

fn run_ctl(ctl: Ctl, endpoint: &str, tls: &[String], args: &[&str]) -> (bool, String) {
    let started = Instant::now();
    let out = Command::new(ctl.binary())
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .args(["--dial-timeout=2s", "--command-timeout=3s"])
        .args(tls)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "etcdctl {args:?} hung for {:?}",
        started.elapsed()
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// GET `url` over HTTP/1.1 (ALPN `http/1.1` only, as HTTP/1.1 clients
/// offer), trusting `ca`, presenting `client` if given; the body, or
/// `None` if the request failed.
fn https_get(
    url: &str,
    ca: &std::path::Path,
    client: Option<&support::pki::Pair>,
) -> Option<String> {
    let cert = client.map_or(String::new(), |p| {
        format!("ctx.load_cert_chain({:?}, {:?})", p.cert, p.key)
    });
    let script = format!(
        "import ssl, urllib.request\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         ctx.set_alpn_protocols(['http/1.1'])\n\
         {cert}\n\
         print(urllib.request.urlopen({url:?}, context=ctx, timeout=5).read().decode(), end='')\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("run python3");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn flag(name: &str, path: &std::path::Path) -> String {
    format!("--{name}={}", path.display())
}

/// Waits until the member answers a client with the right credentials.
fn wait_healthy(m: &Member, tls: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !etcdctl(&m.url("https"), tls, &["endpoint", "health"]).0 {
        assert!(Instant::now() < deadline, "never healthy over TLS");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The steps, and what each gave: `(step, succeeded, stdout)`.
fn transcript(server: Server, pki: &Pki, client_cert_auth: bool) -> Vec<(String, bool, String)> {
    let extra = if client_cert_auth {
        vec![
            flag("trusted-ca-file", &pki.ca),
            "--client-cert-auth".to_owned(),
        ]
    } else {
        Vec::new()
    };
    let m = Member::start(server, pki, &extra);
    let trusting = vec![flag("cacert", &pki.ca)];
    let mut with_cert = trusting.clone();
    with_cert.push(flag("cert", &pki.client.cert));
    with_cert.push(flag("key", &pki.client.key));
    let mut stranger = trusting.clone();
    stranger.push(flag("cert", &pki.stranger.cert));
    stranger.push(flag("key", &pki.stranger.key));
    let good = if client_cert_auth {
        with_cert.clone()
    } else {
        trusting.clone()
    };
    wait_healthy(&m, &good);

    let https = m.url("https");
    let mut steps = Vec::new();
    let mut step = |name: &str, endpoint: &str, tls: &[String], args: &[&str]| {
        let (ok, out) = etcdctl(endpoint, tls, args);
        steps.push((name.to_owned(), ok, out));
    };
    step("put", &https, &good, &["put", "/k", "v"]);
    step("get", &https, &good, &["get", "/k"]);
    step("plain text", &m.url("http"), &[], &["get", "/k"]);
    step("untrusted server", &https, &[], &["get", "/k"]);
    step("no client certificate", &https, &trusting, &["get", "/k"]);
    step("another CA's client", &https, &stranger, &["get", "/k"]);
    for (name, tls) in [
        ("cairnctl get", &good),
        ("cairnctl, untrusting", &Vec::new()),
    ] {
        let (ok, out) = run_ctl(Ctl::Cairnctl, &https, tls, &["get", "/k"]);
        steps.push((name.to_owned(), ok, out));
    }
    let client = client_cert_auth.then_some(&pki.client);
    let health = https_get(&format!("{https}/health"), &pki.ca, client);
    steps.push((
        "/health over HTTP/1.1".to_owned(),
        health.is_some(),
        health.unwrap_or_default(),
    ));
    steps
}

#[test]
fn server_tls_answers_trusting_clients_and_refuses_the_rest_as_etcd_does() {
    let pki = Pki::new();
    let etcd = transcript(Server::Etcd, &pki, false);
    let cairn = transcript(Server::Cairn, &pki, false);
    assert_eq!(cairn, etcd);
    // Not vacuous: the trusting client got through.
    assert_eq!(etcd[1], ("get".to_owned(), true, "/k\nv\n".to_owned()));
    assert!(!etcd[2].1 && !etcd[3].1, "{etcd:?}");
    assert!(etcd[6].1 && !etcd[7].1, "{etcd:?}");
    assert_eq!(etcd[6].2, "/k\nv\n");
    assert!(etcd[8].1, "{etcd:?}");
}

#[test]
fn client_cert_auth_refuses_clients_without_a_certificate_of_the_ca() {
    let pki = Pki::new();
    let etcd = transcript(Server::Etcd, &pki, true);
    let cairn = transcript(Server::Cairn, &pki, true);
    assert_eq!(cairn, etcd);
    assert!(etcd[1].1, "{etcd:?}");
    assert!(!etcd[4].1 && !etcd[5].1, "{etcd:?}");
    assert!(etcd[6].1, "cairnctl with a client certificate: {etcd:?}");
}

#[test]
fn bad_certificate_files_stop_start_up_with_one_line() {
    let pki = Pki::new();
    for (cert, key, names) in [
        (&pki.server.cert, &pki.client.key, "client-key.pem"),
        (
            &pki.server.cert,
            &pki.server.cert.with_file_name("missing-key.pem"),
            "missing-key.pem",
        ),
    ] {
        let (client, peer) = (ports::claim(), ports::claim());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("https://127.0.0.1:{}", client.port);
        let out = Command::new(Server::Cairn.binary())
            .arg(format!("--data-dir={}", dir.path().display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{}", peer.port))
            .arg(flag("cert-file", cert))
            .arg(flag("key-file", key))
            .output()
            .expect("run cairn");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("cairn: ") && last.contains(names),
            "{stderr}"
        );
    }
}

/// `--auto-tls`: the member makes itself a certificate; etcdctl reaches it
/// only when told not to verify it, from both servers alike, and cairn
/// keeps the certificate in the data dir as etcd does.
#[test]
fn auto_tls_serves_a_self_signed_certificate_as_etcd_does() {
    let run = |server: Server| {
        let m = Member::spawn(server, &["--auto-tls".to_owned()]);
        let skip = vec![
            "--insecure-skip-tls-verify".to_owned(),
            "--insecure-transport=false".to_owned(),
        ];
        wait_healthy(&m, &skip);
        let steps = vec![
            etcdctl(&m.url("https"), &skip, &["put", "/k", "v"]),
            etcdctl(&m.url("https"), &skip, &["get", "/k"]),
            etcdctl(&m.url("https"), &[], &["get", "/k"]),
        ];
        let fixtures = m.dir.path().join("data/fixtures/client");
        (
            steps,
            fixtures.join("cert.pem").exists() && fixtures.join("key.pem").exists(),
        )
    };
    let etcd = run(Server::Etcd);
    let cairn = run(Server::Cairn);
    assert_eq!(cairn, etcd);
    assert_eq!(etcd.0[1], (true, "/k\nv\n".to_owned()), "not vacuous");
    assert!(!etcd.0[2].0, "a verifying client is refused");
    assert!(etcd.1, "etcd keeps its certificate in the data dir");
}

/// Rotation without a restart: while a client keeps writing (a new
/// connection per write, trusting both CAs), the server's certificate and
/// key files are replaced by a pair from another CA. Afterwards a client
/// trusting only the new CA gets through and one trusting only the old one
/// is refused; no write failed. The same on etcd 3.5.1, which reads its
/// certificate files at every handshake.
#[test]
fn rotated_certificate_files_are_used_without_a_restart_as_etcd_does() {
    let pki = Pki::new();
    let run = |server: Server| {
        let files = tempfile::tempdir().unwrap();
        let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
        std::fs::copy(&pki.server.cert, &cert).unwrap();
        std::fs::copy(&pki.server.key, &key).unwrap();
        let m = Member::spawn(server, &[flag("cert-file", &cert), flag("key-file", &key)]);
        let ours = vec![flag("cacert", &pki.ca)];
        let theirs = vec![flag("cacert", &pki.other_ca)];
        wait_healthy(&m, &ours);
        let https = m.url("https");
        let before = (
            etcdctl(&https, &ours, &["get", "/k"]).0,
            etcdctl(&https, &theirs, &["get", "/k"]).0,
        );

        let stop = std::sync::atomic::AtomicBool::new(false);
        let (writes, failures) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let both = vec![flag("cacert", &pki.both_cas)];
                let (mut writes, mut failures) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (ok, _) = etcdctl(&https, &both, &["put", "/k", &writes.to_string()]);
                    if !ok {
                        failures.push(writes);
                    }
                    writes += 1;
                }
                (writes, failures)
            });
            std::thread::sleep(Duration::from_millis(500));
            // As a careful operator (or cert-manager) does: new files
            // renamed into place, the key first.
            for (from, to) in [
                (&pki.other_server.key, &key),
                (&pki.other_server.cert, &cert),
            ] {
                let staged = to.with_extension("new");
                std::fs::copy(from, &staged).unwrap();
                std::fs::rename(&staged, to).unwrap();
            }
            std::thread::sleep(Duration::from_millis(1500));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            writer.join().unwrap()
        });
        let after = (
            etcdctl(&https, &ours, &["get", "/k"]).0,
            etcdctl(&https, &theirs, &["get", "/k"]).0,
        );
        assert!(
            writes >= 3,
            "{server:?}: only {writes} writes during the rotation"
        );
        (before, after, failures)
    };
    let etcd = run(Server::Etcd);
    let cairn = run(Server::Cairn);
    assert_eq!(etcd, ((true, false), (false, true), Vec::new()));
    assert_eq!(cairn, etcd);
}

/// `--client-crl-file`: with client-certificate auth, a client whose
/// certificate the list revokes is refused, and one it does not name gets
/// through; the same from etcd 3.5.1.
#[test]
fn a_revoked_client_certificate_is_refused_as_etcd_does() {
    let pki = Pki::new();
    let run = |server: Server| {
        let m = Member::start(
            server,
            &pki,
            &[
                flag("trusted-ca-file", &pki.ca),
                "--client-cert-auth".to_owned(),
                flag("client-crl-file", &pki.crl),
            ],
        );
        let client = |pair: &support::pki::Pair| {
            vec![
                flag("cacert", &pki.ca),
                flag("cert", &pair.cert),
                flag("key", &pair.key),
            ]
        };
        wait_healthy(&m, &client(&pki.client));
        let https = m.url("https");
        vec![
            etcdctl(&https, &client(&pki.client), &["put", "/k", "v"]),
            etcdctl(&https, &client(&pki.revoked), &["get", "/k"]),
            run_ctl(Ctl::Cairnctl, &https, &client(&pki.revoked), &["get", "/k"]),
        ]
    };
    let etcd = run(Server::Etcd);
    let cairn = run(Server::Cairn);
    assert_eq!(etcd[0], (true, "OK\n".to_owned()), "not vacuous");
    assert!(!etcd[1].0, "etcd refuses the revoked client");
    assert_eq!(cairn, etcd);
}

/// Whether a TLS 1.2 handshake offering only `cipher` (OpenSSL's name)
/// succeeds against `port`, trusting `ca`.
fn tls12_handshake(port: u16, ca: &std::path::Path, cipher: &str) -> bool {
    let script = format!(
        "import socket, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n\
         ctx.set_ciphers({cipher:?})\n\
         ctx.set_alpn_protocols(['h2'])\n\
         with socket.create_connection(('127.0.0.1', {port}), timeout=5) as s:\n\
         \x20   with ctx.wrap_socket(s, server_hostname='127.0.0.1') as t:\n\
         \x20       print(t.cipher()[0])\n"
    );
    Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("run python3")
        .status
        .success()
}

/// `--cipher-suites` limits the TLS 1.2 suites offered, as in etcd: a
/// client offering only a suite left out is refused, one offering the
/// named suite gets through.
#[test]
fn cipher_suites_limit_tls12_as_etcd_does() {
    let pki = Pki::new();
    let run = |server: Server| {
        let m = Member::start(
            server,
            &pki,
            // etcd 3.5.1 stops at once unless an AES-128-GCM suite is
            // listed (Go's HTTP/2 requires one); cairn has no such rule.
            &["--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_owned()],
        );
        wait_healthy(&m, &[flag("cacert", &pki.ca)]);
        (
            tls12_handshake(m.client.port, &pki.ca, "ECDHE-ECDSA-AES128-GCM-SHA256"),
            tls12_handshake(m.client.port, &pki.ca, "ECDHE-ECDSA-AES256-GCM-SHA384"),
        )
    };
    let etcd = run(Server::Etcd);
    let cairn = run(Server::Cairn);
    assert_eq!(etcd, (true, false));
    assert_eq!(cairn, etcd);
}
