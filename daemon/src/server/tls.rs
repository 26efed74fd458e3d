//! TLS on every port (`https://` listen URLs), with rustls (ring). The
//! client and metrics ports take the server certificate and key from
//! `--cert-file` and `--key-file`, and with `--client-cert-auth` the CA of
//! `--trusted-ca-file`, which every client certificate must chain to
//! (without it, as in etcd, no client certificate is asked for). The peer
//! port does the same with the `--peer-*` flags, and the same certificate
//! is this member's identity when it dials other members (`peer_dialer`).
//! Certificate and key files are read again when they change, at the next
//! handshake (`CertFiles`), so rotating them needs no restart; with
//! `--auto-tls` / `--peer-auto-tls` the member makes its own
//! (`self_signed`).
//!
//! Connections are accepted here rather than by tonic so that ALPN offers
//! both `h2` (gRPC) and `http/1.1` (/health, /version, /metrics and their
//! HTTP/1.1 clients), and so that each handshake runs on its own task: a
//! slow or failing client holds up no other. tonic serves the established
//! streams.
//!
//! Must never: serve plain text on an `https://` URL, or start with
//! certificate files that do not load (start-up stops with one line naming
//! the file).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use cairn_client::dial::AnyCertificate;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsConfig;
use crate::config::ciphers;
use crate::config::urls::EtcdUrl;
use crate::peer::dial::PeerDialer;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Established connections waiting for tonic to pick them up.
const ACCEPTED_QUEUE: usize = 64;

/// Every PEM item of one kind (`what`, for messages) in `path`; at least
/// one.
fn pem_items<T: PemObject>(path: &Path, what: &str) -> anyhow::Result<Vec<T>> {
    let items = T::pem_file_iter(path)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading {what}s from {}", path.display()))?;
    if items.is_empty() {
        bail!("{} holds no PEM {what}", path.display());
    }
    Ok(items)
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    pem_items(path, "certificate")
}

/// The rustls versions `t` allows (`--tls-min-version`,
/// `--tls-max-version`; resolution keeps at least one).
fn versions(t: &TlsConfig) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut out = Vec::new();
    if t.versions.tls13 {
        out.push(&rustls::version::TLS13);
    }
    if t.versions.tls12 {
        out.push(&rustls::version::TLS12);
    }
    out
}

/// ring, as tonic's `tls-ring` uses: rustls 0.23.48 deprecates it for
/// lacking post-quantum key exchange, which etcd 3.5's Go clients do not
/// offer either; aws-lc-rs would add a C and CMake build.
///
/// With `--cipher-suites`, TLS 1.2 offers only the suites named; TLS 1.3's
/// are always offered, as Go does.
fn provider(t: &TlsConfig) -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let wanted: Vec<String> = t
            .cipher_suites
            .iter()
            .map(|n| ciphers::iana_name(n))
            .collect();
        provider.cipher_suites.retain(|s| {
            matches!(s, rustls::SupportedCipherSuite::Tls13(_))
                || wanted.contains(&format!("{:?}", s.suite()))
        });
    }
    Arc::new(provider)
}

fn crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    pem_items(path, "revocation list")
}

/// The CA certificates of `ca`, as a root store.
fn roots(ca: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in certificates(ca)? {
        roots
            .add(c)
            .with_context(|| format!("adding a CA certificate of {}", ca.display()))?;
    }
    Ok(roots)
}

/// The certificate chain and key of `cert` and `key`.
fn identity(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    Ok((certificates(cert)?, key_der))
}

fn key_mismatch(cert: &Path, key: &Path) -> String {
    format!(
        "the key {} does not fit the certificate {}",
        key.display(),
        cert.display()
    )
}

/// When a file was last changed, and its size: a rotation changes one.
type Stamp = [(Option<SystemTime>, u64); 2];

/// A certificate and its key read from their files, and read again when
/// either file changes (checked at every handshake), so a rotated
/// certificate is used from the next connection on without a restart, as
/// etcd does. A pair that does not load (a file half-written, a key that
/// does not fit its certificate yet) leaves the previous pair in use and
/// is tried again at the next handshake.
#[derive(Debug)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    stamp: Stamp,
    pair: Arc<CertifiedKey>,
    /// The stamp of files that failed to load, so each failure is logged
    /// once.
    failed: Option<Stamp>,
}

impl CertFiles {
    /// Loads the pair; at start-up a failure is an error naming the file.
    fn open(
        cert: &Path,
        key: &Path,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> anyhow::Result<CertFiles> {
        let stamp = stamp(cert, key);
        let pair = load(cert, key, &provider)?;
        Ok(CertFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: Mutex::new(Loaded {
                stamp,
                pair,
                failed: None,
            }),
        })
    }

    /// The pair to present now, read again if the files changed.
    fn pair(&self) -> Arc<CertifiedKey> {
        let stamp = stamp(&self.cert, &self.key);
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.stamp != stamp && current.failed != Some(stamp) {
            match load(&self.cert, &self.key, &self.provider) {
                Ok(pair) => {
                    tracing::info!(cert = %self.cert.display(), "certificate files changed; using them");
                    *current = Loaded {
                        stamp,
                        pair,
                        failed: None,
                    };
                }
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "certificate files changed but do not load; keeping the previous pair"
                    );
                    current.failed = Some(stamp);
                }
            }
        }
        Arc::clone(&current.pair)
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let of = |p: &Path| std::fs::metadata(p).map_or((None, 0), |m| (m.modified().ok(), m.len()));
    [of(cert), of(key)]
}

fn load(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let (chain, key_der) = identity(cert, key)?;
    let pair = CertifiedKey::from_der(chain, key_der, provider)
        .with_context(|| key_mismatch(cert, key))?;
    Ok(Arc::new(pair))
}

impl rustls::server::ResolvesServerCert for CertFiles {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pair())
    }
}

impl rustls::client::ResolvesClientCert for CertFiles {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.pair())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The acceptor for `https://` URLs of one port kind (client or peer), or
/// `None` when no certificate is configured (resolution has made sure no
/// `https://` URL needs one). With `client_cert_auth` every connecting
/// party must present a certificate chaining to the trusted CA; without
/// it, as in etcd, none is asked for.
pub fn acceptor(t: &TlsConfig) -> anyhow::Result<Option<ServerTls>> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Ok(None);
    };
    let provider = provider(t);
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(t))
        .context("choosing TLS versions")?;
    let builder = match (&t.trusted_ca_file, t.client_cert_auth) {
        (Some(ca), true) => {
            let mut verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                Arc::clone(&provider),
            );
            if let Some(crl) = &t.crl_file {
                // etcd refuses the certificates a list names and lets
                // through those of issuers no list covers.
                verifier = verifier
                    .with_crls(crls(crl)?)
                    .allow_unknown_revocation_status();
            }
            let verifier = verifier
                .build()
                .with_context(|| format!("using {} to verify clients", ca.display()))?;
            match AllowedIdentity::new(t) {
                Some(rule) => builder.with_client_cert_verifier(Arc::new(AllowedClients {
                    inner: verifier,
                    rule,
                })),
                None => builder.with_client_cert_verifier(verifier),
            }
        }
        _ => builder.with_no_client_auth(),
    };
    let files = CertFiles::open(cert, key, Arc::clone(&provider))?;
    let mut config = builder.with_cert_resolver(Arc::new(files));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(ServerTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        check_client_san: t.check_client_san,
    }))
}

/// What a connecting certificate must name besides chaining to the CA:
/// etcd's `--peer-cert-allowed-cn` and `--*-cert-allowed-hostname`.
#[derive(Debug, Clone)]
enum AllowedIdentity {
    CommonName(String),
    Hostname(String),
}

impl AllowedIdentity {
    fn new(t: &TlsConfig) -> Option<AllowedIdentity> {
        t.allowed_cn
            .clone()
            .map(AllowedIdentity::CommonName)
            .or_else(|| t.allowed_hostname.clone().map(AllowedIdentity::Hostname))
    }

    /// Why `cert` does not qualify, if it does not.
    fn refuses(&self, cert: &CertificateDer<'_>) -> Option<String> {
        match self {
            AllowedIdentity::CommonName(allowed) => {
                let cn = common_name(cert);
                (cn.as_deref() != Some(allowed.as_str()))
                    .then(|| format!("its CN {cn:?} is not the allowed {allowed:?}"))
            }
            AllowedIdentity::Hostname(host) => {
                let valid = rustls::pki_types::ServerName::try_from(host.as_str())
                    .ok()
                    .zip(webpki::EndEntityCert::try_from(cert).ok())
                    .is_some_and(|(name, ee)| ee.verify_is_valid_for_subject_name(&name).is_ok());
                (!valid).then(|| format!("it is not valid for the allowed host name {host:?}"))
            }
        }
    }
}

/// Who a client is by the certificate it presented on a TLS client port:
/// with `--client-cert-auth`, etcd takes the certificate's common name as
/// the user when authentication is on. Every request on the client port
/// carries one in its extensions (see `server::identify`), for the auth
/// checks to read. It holds the connection's certificates (shared, not
/// copied); the name is parsed only when asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    chain: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl ClientIdentity {
    /// The identity of the connection a request with `extensions` came on.
    pub fn of(extensions: &axum::http::Extensions) -> ClientIdentity {
        use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
        ClientIdentity {
            chain: extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs),
        }
    }

    /// The CN of the client's certificate; `None` in plain text, without
    /// a client certificate, or for a certificate without a CN.
    pub fn common_name(&self) -> Option<String> {
        self.chain.as_ref()?.first().and_then(common_name)
    }
}

/// The common name of a certificate's subject, if it has one.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// A client-certificate verifier that also applies an [`AllowedIdentity`].
#[derive(Debug)]
struct AllowedClients {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    rule: AllowedIdentity,
}

impl rustls::server::danger::ClientCertVerifier for AllowedClients {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match self.rule.refuses(end_entity) {
            None => Ok(verified),
            // etcd's words, and why.
            Some(why) => Err(rustls::Error::General(format!(
                "client certificate authentication failed: {why}"
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// With `--auto-tls` (or `--peer-auto-tls`) and no certificate files: the
/// configuration `t` naming a self-signed certificate for the hosts of
/// `urls`, valid for `years`, made once into `dir` (`cert.pem`, `key.pem`;
/// etcd keeps them in `<data-dir>/fixtures/client` and `/peer`) and used
/// again on later starts. `t` unchanged otherwise; with files given as
/// well, the files win, as in etcd, and the flag is reported ignored.
pub fn self_signed(
    t: &TlsConfig,
    dir: &Path,
    urls: &[EtcdUrl],
    years: u32,
    flag: &str,
) -> anyhow::Result<TlsConfig> {
    if !t.auto_tls {
        return Ok(t.clone());
    }
    if t.cert_file.is_some() || t.key_file.is_some() {
        tracing::warn!("ignoring {flag} since certificate files are given");
        return Ok(TlsConfig {
            auto_tls: false,
            ..t.clone()
        });
    }
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !(cert.exists() && key.exists()) {
        make_self_signed(dir, &cert, &key, urls, years)
            .with_context(|| format!("{flag}: making a certificate in {}", dir.display()))?;
        tracing::info!(flag, dir = %dir.display(), "made a self-signed certificate");
    }
    Ok(TlsConfig {
        cert_file: Some(cert),
        key_file: Some(key),
        ..t.clone()
    })
}

fn make_self_signed(
    dir: &Path,
    cert: &Path,
    key: &Path,
    urls: &[EtcdUrl],
    years: u32,
) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut hosts: Vec<String> = urls
        .iter()
        .map(|u| {
            u.host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    let mut params = rcgen::CertificateParams::new(hosts)?;
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "cairn");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(365 * i64::from(years));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    // A member's certificate serves both ends of a peer connection.
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key_pair = rcgen::KeyPair::generate()?;
    let certificate = params.self_signed(&key_pair)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let write = |path: &Path, text: String, mode: u32| -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    };
    write(key, key_pair.serialize_pem(), 0o600)?;
    write(cert, certificate.pem(), 0o644)?;
    Ok(())
}

/// The dialer for other members' peer URLs. With a peer certificate it
/// dials `https://` URLs presenting that certificate as this member's
/// identity and checks the other member's against `--peer-trusted-ca-file`
/// (the system's roots when none is given, as etcd does) and the host name
/// or address in its URL; with `--peer-auto-tls`, not at all (see
/// [`AnyCertificate`]).
pub fn peer_dialer(t: &TlsConfig) -> anyhow::Result<PeerDialer> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Ok(crate::peer::dial::plain());
    };
    let provider = provider(t);
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(t))
        .context("choosing TLS versions")?;
    let builder = if t.auto_tls {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(Arc::clone(&provider))))
    } else {
        let roots = match &t.trusted_ca_file {
            Some(ca) => roots(ca)?,
            None => {
                let mut roots = RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                roots
            }
        };
        builder.with_root_certificates(roots)
    };
    let files = CertFiles::open(cert, key, provider)?;
    let mut config = builder.with_client_cert_resolver(Arc::new(files));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(PeerDialer::with_tls(Arc::new(config)))
}

/// The server side of TLS on one kind of port: the handshake, and whether
/// a client certificate must also be valid for the address it connects
/// from (see [`client_san_refusal`]).
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    check_client_san: bool,
}

/// Why a connecting party's certificate `cert` is not valid for the
/// address `remote` it connects from, if it is not: etcd's check on the
/// peer port, so that a certificate copied from a member does not let in
/// a machine that is not that member. A certificate naming no address and
/// no host name passes; one naming addresses must name `remote`, unless it
/// also names host names, one of which must resolve to `remote` (etcd also
/// tries the reverse lookup of `remote`, which cairn does not, so wildcard
/// names never match here).
pub async fn client_san_refusal(
    cert: &CertificateDer<'_>,
    remote: std::net::IpAddr,
) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Some("its certificate does not parse".to_owned());
    };
    let (mut ips, mut names) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => ips.push(std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?)),
                    16 => ips.push(std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?)),
                    _ => {}
                },
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                _ => {}
            }
        }
    }
    if ips.is_empty() && names.is_empty() || ips.contains(&remote) {
        return None;
    }
    for name in names.iter().filter(|n| !n.starts_with("*.")) {
        if let Ok(found) = tokio::net::lookup_host((name.as_str(), 0)).await {
            if found.into_iter().any(|a| a.ip() == remote) {
                return None;
            }
        }
    }
    Some(if names.is_empty() {
        format!("its certificate is valid for {ips:?}, not {remote}")
    } else {
        format!(
            "{remote} does not match the certificate's addresses {ips:?} or host names {names:?}"
        )
    })
}

/// Which port a listener serves, for what its failed handshakes log: on
/// the peer port a failure is a member shut out (an operator must hear
/// why), on the client port it is usually a client's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Client,
    Peer,
}

/// Accepts connections on `listener` until `stop`, runs each handshake on
/// its own task, and hands the established streams to the receiver.
pub fn accept(
    listener: TcpListener,
    tls: ServerTls,
    port: Port,
    mut stop: watch::Receiver<bool>,
) -> mpsc::Receiver<std::io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(ACCEPTED_QUEUE);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(error = %e, "accepting a TLS client failed");
                    continue;
                }
            };
            // As on the plain ports: no Nagle delay on small responses.
            let _ = tcp.set_nodelay(true);
            let tls = tls.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let established = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                    let stream = tls.acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
                    let presented = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first());
                    if let (true, Some(cert)) = (tls.check_client_san, presented) {
                        if let Some(why) = client_san_refusal(cert, peer.ip()).await {
                            return Err(why);
                        }
                    }
                    Ok(stream)
                })
                .await;
                match established {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) if port == Port::Peer => {
                        tracing::warn!(remote = %peer, error = %e, "peer TLS handshake failed");
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate with common name `cn` valid for `sans`.
    fn cert(cn: &str, sans: &[&str]) -> CertificateDer<'static> {
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn the_allowed_cn_and_host_name_are_checked() {
        let member = cert("member", &["10.0.0.1", "m1.example"]);
        let cn = AllowedIdentity::CommonName("member".into());
        assert_eq!(cn.refuses(&member), None);
        let other = cn.refuses(&cert("intruder", &["10.0.0.1"]));
        assert!(other.unwrap().contains("\"intruder\""));

        for host in ["10.0.0.1", "m1.example"] {
            assert_eq!(
                AllowedIdentity::Hostname(host.into()).refuses(&member),
                None
            );
        }
        for host in ["10.0.0.2", "m2.example", "not a host"] {
            let why = AllowedIdentity::Hostname(host.into()).refuses(&member);
            assert!(why.is_some(), "{host} allowed");
        }
        assert_eq!(common_name(&member).as_deref(), Some("member"));
    }
}
