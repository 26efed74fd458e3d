//! Opening connections to other members' peer URLs: in plain text for
//! `http://` URLs, under TLS for `https://` ones, with this member's peer
//! certificate as its client identity (`--peer-cert-file`, `--peer-key-file`)
//! and the peer CA (`--peer-trusted-ca-file`) to check the other member's.
//!
//! Every connection to a peer URL goes through a [`PeerDialer`]: the raft
//! stream and snapshot transfers, the calls that need a particular member
//! (`server::peer_calls`), and a new member asking the cluster who its
//! members are. The TLS handshake is done here rather than by tonic so that
//! the rustls configuration is ours (certificates read again when their
//! files change, the checks etcd makes) and so that one dialer serves both
//! kinds of URL.
//!
//! Must never: send anything in plain text to an `https://` URL.

use std::fmt;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The client side of peer TLS: what `https://` peer URLs are dialled with.
pub type PeerClientTls = Arc<rustls::ClientConfig>;

/// Opens channels to peer URLs. Cheap to clone.
#[derive(Clone, Default)]
pub struct PeerDialer {
    tls: Option<PeerClientTls>,
}

impl fmt::Debug for PeerDialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerDialer")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why a peer URL cannot be dialled.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{url} is not a valid peer URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "{url} needs TLS, and this member has no peer certificate (--peer-cert-file, \
         --peer-key-file, or --peer-auto-tls)"
    )]
    NoTls { url: String },
}

impl PeerDialer {
    /// A dialer for `http://` peer URLs only.
    pub fn plain() -> PeerDialer {
        PeerDialer::default()
    }

    /// A dialer that uses `tls` for `https://` peer URLs.
    pub fn with_tls(tls: PeerClientTls) -> PeerDialer {
        PeerDialer { tls: Some(tls) }
    }

    /// The endpoint for `url`, which the caller tunes (timeouts,
    /// keep-alive) and hands back to [`connect`](Self::connect) or
    /// [`lazy`](Self::lazy).
    pub fn endpoint(&self, url: &str) -> Result<PeerEndpoint, DialError> {
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
        Ok(PeerEndpoint {
            endpoint,
            target: Target { host, port, tls },
        })
    }
}

/// An endpoint made by [`PeerDialer::endpoint`]: tune it with
/// [`map`](Self::map), then connect.
#[derive(Clone, Debug)]
pub struct PeerEndpoint {
    endpoint: Endpoint,
    target: Target,
}

#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    tls: Option<PeerClientTls>,
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

impl PeerEndpoint {
    /// Applies tonic's endpoint settings.
    pub fn map(mut self, f: impl FnOnce(Endpoint) -> Endpoint) -> PeerEndpoint {
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
    // Raft messages are small and latency-bound: no Nagle delay.
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn plain(target: Target) -> std::io::Result<TokioIo<TcpStream>> {
    Ok(TokioIo::new(tcp(&target).await?))
}

async fn secure(
    target: Target,
    tls: PeerClientTls,
) -> std::io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = tcp(&target).await?;
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await?;
    Ok(TokioIo::new(tls))
}
