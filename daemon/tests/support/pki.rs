//! Certificates made by the tests themselves (rcgen), written as PEM files
//! into a temp dir, valid for a day: two unrelated CAs, a server
//! certificate for 127.0.0.1 and localhost, client certificates (CN
//! `root`) from each CA, and member (peer) certificates from each CA,
//! good for both ends of a connection as etcd's peer certificates are.
//! Also the bad ones a server must refuse: expired, revoked, another CA's.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of one test PKI.
#[derive(Debug)]
pub struct Pki {
    _dir: tempfile::TempDir,
    /// The CA that signed `server` and `client`.
    pub ca: PathBuf,
    pub server: Pair,
    pub client: Pair,
    /// A client of our CA whose common name, "ghost", names no user.
    pub ghost: Pair,
    /// A client certificate from another CA.
    pub stranger: Pair,
    /// A member's certificate: server and client use, 127.0.0.1.
    pub peer: Pair,
    /// The same from another CA.
    pub stranger_peer: Pair,
    /// The other CA.
    pub other_ca: PathBuf,
    /// A server certificate like `server`, from the other CA.
    pub other_server: Pair,
    /// Both CAs in one file.
    pub both_cas: PathBuf,
    /// A member certificate of our CA with another CN (`intruder`).
    pub intruder_peer: Pair,
    /// A client certificate of our CA that `crl` revokes.
    pub revoked: Pair,
    /// Our CA's revocation list, naming `revoked`.
    pub crl: PathBuf,
    /// A client certificate of our CA that expired yesterday.
    pub expired: Pair,
}

fn params(cn: &str, sans: &[&str]) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    params_valid(
        cn,
        sans,
        now - time::Duration::hours(1),
        now + time::Duration::days(1),
    )
}

fn params_valid(
    cn: &str,
    sans: &[&str],
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("certificate parameters");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = not_before;
    p.not_after = not_after;
    p
}

fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = params(cn, &[]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(p, KeyPair::generate().expect("CA key")).expect("CA certificate")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a PEM file");
    path
}

fn leaf(
    dir: &Path,
    name: &str,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    sans: &[&str],
    usage: &[ExtendedKeyUsagePurpose],
) -> Pair {
    let mut p = params(cn, sans);
    p.extended_key_usages = usage.to_vec();
    let key = KeyPair::generate().expect("leaf key");
    let cert = p.signed_by(&key, issuer).expect("leaf certificate");
    Pair {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
    }
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ours = ca("cairn test CA");
        let theirs = ca("another CA");
        let server = leaf(
            dir.path(),
            "server",
            &ours,
            "server",
            &["127.0.0.1", "localhost"],
            &[ExtendedKeyUsagePurpose::ServerAuth],
        );
        let client = leaf(
            dir.path(),
            "client",
            &ours,
            "root",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let ghost = leaf(
            dir.path(),
            "ghost",
            &ours,
            "ghost",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let stranger = leaf(
            dir.path(),
            "stranger",
            &theirs,
            "root",
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let both = [
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let peer = leaf(dir.path(), "peer", &ours, "member", &["127.0.0.1"], &both);
        let intruder_peer = leaf(
            dir.path(),
            "intruder-peer",
            &ours,
            "intruder",
            &["127.0.0.1"],
            &both,
        );
        let stranger_peer = leaf(
            dir.path(),
            "stranger-peer",
            &theirs,
            "member",
            &["127.0.0.1"],
            &both,
        );
        let other_server = leaf(
            dir.path(),
            "other-server",
            &theirs,
            "server",
            &["127.0.0.1", "localhost"],
            &[ExtendedKeyUsagePurpose::ServerAuth],
        );
        // The revoked client: a serial number of its own, named in the list.
        let revoked_serial = rcgen::SerialNumber::from(0x5eed_u64);
        let revoked = {
            let mut p = params("root", &[]);
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            p.serial_number = Some(revoked_serial.clone());
            let key = KeyPair::generate().expect("leaf key");
            let cert = p.signed_by(&key, &ours).expect("revoked certificate");
            Pair {
                cert: write(dir.path(), "revoked.pem", &cert.pem()),
                key: write(dir.path(), "revoked-key.pem", &key.serialize_pem()),
            }
        };
        let now = time::OffsetDateTime::now_utc();
        let expired = {
            let mut p = params_valid(
                "root",
                &[],
                now - time::Duration::days(3),
                now - time::Duration::days(1),
            );
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let key = KeyPair::generate().expect("leaf key");
            let cert = p.signed_by(&key, &ours).expect("expired certificate");
            Pair {
                cert: write(dir.path(), "expired.pem", &cert.pem()),
                key: write(dir.path(), "expired-key.pem", &key.serialize_pem()),
            }
        };
        let crl = rcgen::CertificateRevocationListParams {
            this_update: now - time::Duration::hours(1),
            next_update: now + time::Duration::days(1),
            crl_number: rcgen::SerialNumber::from(1_u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: revoked_serial,
                revocation_time: now - time::Duration::minutes(5),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&ours)
        .expect("revocation list");
        Pki {
            crl: write(dir.path(), "crl.pem", &crl.pem().expect("CRL PEM")),
            expired,
            revoked,
            intruder_peer,
            other_ca: write(dir.path(), "other-ca.pem", &theirs.pem()),
            both_cas: write(
                dir.path(),
                "both-cas.pem",
                &format!("{}{}", ours.pem(), theirs.pem()),
            ),
            other_server,
            ca: write(dir.path(), "ca.pem", &ours.pem()),
            server,
            client,
            ghost,
            stranger,
            peer,
            stranger_peer,
            _dir: dir,
        }
    }
}

impl Pki {
    /// A rustls client that trusts the CA and presents `pair`, offering
    /// HTTP/2 as gRPC clients and members do.
    pub fn client_config(&self, pair: &Pair) -> std::sync::Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca).expect("CA file") {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pair.cert)
            .expect("certificate file")
            .map(|c| c.expect("certificate PEM"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pair.key).expect("key file");
        // ring, as the server uses (deprecated only for lacking
        // post-quantum key exchange).
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("certificate and key");
        config.alpn_protocols = vec![b"h2".to_vec()];
        std::sync::Arc::new(config)
    }

    /// A blocking TLS client on `tcp` (to 127.0.0.1) that trusts the CA
    /// and presents the client certificate, speaking HTTP/1.1.
    pub fn tls_stream(
        &self,
        tcp: std::net::TcpStream,
    ) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
        let mut config = (*self.client_config(&self.client)).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("an IP address");
        let conn =
            rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("TLS client");
        rustls::StreamOwned::new(conn, tcp)
    }
}
