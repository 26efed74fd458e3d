//! Opening gRPC connections to `http://` and `https://` URLs, with a
//! rustls configuration the caller builds: the client library uses it for
//! every endpoint, and the server for its peers.
//!
//! The TLS handshake is done here rather than by tonic so that the rustls
//! configuration is the caller's own: certificates read again when their
//! files change, the checks etcd makes, or none at all where the operator
//! asked for that (`--insecure-skip-tls-verify`, `--peer-auto-tls`, see
//! [`AnyCertificate`]). One dialer serves both kinds of URL.
//!
//! Must never: send anything in plain text to an `https://` URL.

use std::fmt;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The client side of TLS: what `https://` URLs are dialled with.
pub type ClientTls = Arc<rustls::ClientConfig>;

/// Opens channels to URLs. Cheap to clone.
#[derive(Clone, Default)]
pub struct Dialer {
    tls: Option<ClientTls>,
    /// Which settings would give TLS, for the error on an `https://` URL
    /// when there is none (the flags differ between client and peer).
    tls_hint: &'static str,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why a URL cannot be dialled.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{url} is not a valid URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url} needs TLS, and there are no TLS settings ({hint})")]
    NoTls { url: String, hint: &'static str },
}

impl Dialer {
    /// A dialer for `http://` URLs only; an `https://` URL is refused
    /// naming `tls_hint`, the settings that would give TLS.
    pub fn plain(tls_hint: &'static str) -> Dialer {
        Dialer {
            tls: None,
            tls_hint,
        }
    }

    /// A dialer that uses `tls` for `https://` URLs.
    pub fn with_tls(tls: ClientTls) -> Dialer {
        Dialer {
            tls: Some(tls),
            tls_hint: "",
        }
    }

    /// The endpoint for `url`, which the caller tunes (timeouts,
    /// keep-alive) and hands back to [`connect`](DialEndpoint::connect) or
    /// [`lazy`](DialEndpoint::lazy).
    pub fn endpoint(&self, url: &str) -> Result<DialEndpoint, DialError> {
        let bad = |reason: String| DialError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: tonic::codegen::http::uri::InvalidUri| bad(e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("https") => Some(self.tls.clone().ok_or_else(|| DialError::NoTls {
                url: url.to_owned(),
                hint: self.tls_hint,
            })?),
            Some("http") => None,
            other => return Err(bad(format!("unsupported scheme {other:?}"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().ok_or_else(|| bad("no port".into()))?;
        // tonic would wrap an https URI in its own TLS; it is given the
        // plain form, and the connector below does the TLS.
        let plain = format!("http://{}", uri.authority().map_or("", |a| a.as_str()));
        let endpoint = Endpoint::from_shared(plain).map_err(|e| bad(e.to_string()))?;
        Ok(DialEndpoint {
            endpoint,
            target: Target { host, port, tls },
        })
    }
}

/// An endpoint made by [`Dialer::endpoint`]: tune it with
/// [`map`](Self::map), then connect.
#[derive(Clone, Debug)]
pub struct DialEndpoint {
    endpoint: Endpoint,
    target: Target,
}

#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    tls: Option<ClientTls>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}",
            if self.tls.is_some() { "https" } else { "http" },
            self.host,
            self.port
        )
    }
}

impl DialEndpoint {
    /// Applies tonic's endpoint settings.
    pub fn map(mut self, f: impl FnOnce(Endpoint) -> Endpoint) -> DialEndpoint {
        self.endpoint = f(self.endpoint);
        self
    }

    /// Connects now.
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        let target = self.target.clone();
        match target.tls.clone() {
            None => {
                self.endpoint
                    .connect_with_connector(tower::service_fn(move |_: Uri| plain(target.clone())))
                    .await
            }
            Some(tls) => {
                self.endpoint
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        secure(target.clone(), Arc::clone(&tls))
                    }))
                    .await
            }
        }
    }

    /// A channel that connects on first use (and again after a failure).
    pub fn lazy(&self) -> Channel {
        let target = self.target.clone();
        match target.tls.clone() {
            None => self
                .endpoint
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    plain(target.clone())
                })),
            Some(tls) => {
                self.endpoint
                    .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                        secure(target.clone(), Arc::clone(&tls))
                    }))
            }
        }
    }
}

async fn tcp(target: &Target) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    // Requests and raft messages are small and latency-bound: no Nagle.
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn plain(target: Target) -> std::io::Result<TokioIo<TcpStream>> {
    Ok(TokioIo::new(tcp(&target).await?))
}

async fn secure(
    target: Target,
    tls: ClientTls,
) -> std::io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = tcp(&target).await?;
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await?;
    Ok(TokioIo::new(tls))
}

/// Checks nothing of the certificate a server presents: what a client
/// told to skip verification (`--insecure-skip-tls-verify`) accepts, and
/// what a member with a self-signed certificate (`--peer-auto-tls`)
/// accepts from the others, as etcd does (their certificates are signed
/// by nobody it could know). The connection is encrypted, not
/// authenticated.
///
/// The handshake's signature is not checked either: it would prove only
/// that the server holds the key of a certificate nobody vouches for, and
/// etcd's own self-signed certificates use P-521 keys, which ring cannot
/// verify (checking would refuse every etcd `--auto-tls` member). The
/// provider's schemes are offered, and P-521's, so such a server can sign.
#[derive(Debug)]
pub struct AnyCertificate(pub Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        let mut schemes = self.0.signature_verification_algorithms.supported_schemes();
        if !schemes.contains(&rustls::SignatureScheme::ECDSA_NISTP521_SHA512) {
            schemes.push(rustls::SignatureScheme::ECDSA_NISTP521_SHA512);
        }
        schemes
    }
}
