//! The endpoint set: one lazily connected gRPC channel per endpoint, a
//! round-robin cursor over the healthy ones, and per-endpoint health with
//! exponential backoff.
//!
//! Invariants: [`Endpoints::pick`] always returns an endpoint (if all are
//! backing off, the one whose backoff ends first), so a call never fails
//! only because every member failed once; an endpoint that answers is
//! healthy again at once. The set can be replaced (auto-sync) without
//! disturbing calls in flight: they hold their own channel clone.
//!
//! Channels carry no identity: the login token is added per call by the
//! client (`auth`), so one token serves every endpoint.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::Channel;

use super::config::{ClientConfig, Credentials};
use super::dial::{AnyCertificate, Dialer};
use super::error::Error;

/// First backoff after a failure; doubles per consecutive failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest an endpoint is avoided after failures.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Shortest HTTP/2 ping interval. etcd's server (grpc-go) answers pings
/// more frequent than its enforcement policy allows with GOAWAY
/// `too_many_pings`, and grpc-go clients raise any shorter setting to 10 s
/// for that reason; etcdctl's default of 2 s is raised the same way.
const MIN_KEEPALIVE_TIME: Duration = Duration::from_secs(10);

/// One endpoint and what the balancer knows about it.
#[derive(Debug)]
struct Member {
    url: String,
    channel: Channel,
    failures: u32,
    avoid_until: Option<Instant>,
}

/// A channel picked for one attempt, and where it goes.
#[derive(Debug, Clone)]
pub struct Picked {
    pub index: usize,
    pub url: String,
    pub channel: Channel,
}

/// The balancer over a list of endpoints.
#[derive(Debug)]
pub struct Endpoints {
    inner: Mutex<Inner>,
    config: ClientConfig,
    /// Dials every channel, with the TLS settings (files read once).
    dialer: Dialer,
}

#[derive(Debug)]
struct Inner {
    members: Vec<Member>,
    next: usize,
}

impl Endpoints {
    /// Channels for every endpoint of `config`; none is dialled yet.
    pub fn new(config: &ClientConfig) -> Result<Endpoints, Error> {
        if config.endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        let dialer = match &config.credentials {
            Credentials::Tls {
                ca,
                cert,
                key,
                skip_verify,
            } => Dialer::with_tls(Arc::new(tls_config(
                ca.as_deref(),
                cert.as_deref(),
                key.as_deref(),
                *skip_verify,
            )?)),
            // An `https://` endpoint gets TLS even without TLS settings,
            // with the system's roots, as etcdctl does. Only then are they
            // read: most invocations dial plain endpoints.
            _ if config
                .endpoints
                .iter()
                .any(|e| e.trim().starts_with("https://")) =>
            {
                Dialer::with_tls(Arc::new(tls_config(None, None, None, false)?))
            }
            _ => Dialer::plain("--cacert, --cert and --key"),
        };
        let members = config
            .endpoints
            .iter()
            .map(|e| connect(config, &dialer, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Endpoints {
            inner: Mutex::new(Inner { members, next: 0 }),
            config: config.clone(),
            dialer,
        })
    }

    /// The next endpoint in round-robin order that is not backing off.
    pub fn pick(&self) -> Picked {
        let mut inner = self.inner.lock().expect("endpoints lock");
        let now = Instant::now();
        let n = inner.members.len();
        let start = inner.next;
        let healthy = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| inner.members[i].avoid_until.is_none_or(|t| t <= now));
        let index = healthy.unwrap_or_else(|| {
            (0..n)
                .min_by_key(|&i| inner.members[i].avoid_until)
                .unwrap_or(0)
        });
        inner.next = (index + 1) % n;
        let m = &inner.members[index];
        Picked {
            index,
            url: m.url.clone(),
            channel: m.channel.clone(),
        }
    }

    /// A channel to endpoint `url`, for calls aimed at one member (endpoint
    /// status, hashkv, snapshot): the set's own channel if `url` is one of
    /// its endpoints, else a new one (`--cluster` reaches members the
    /// flags did not name).
    pub fn channel_for(&self, url: &str) -> Result<Channel, Error> {
        let wanted = normalize(url, self.config.tls())?;
        let inner = self.inner.lock().expect("endpoints lock");
        if let Some(m) = inner.members.iter().find(|m| m.url == wanted) {
            return Ok(m.channel.clone());
        }
        drop(inner);
        Ok(connect(&self.config, &self.dialer, url)?.channel)
    }

    /// Records that an attempt on endpoint `index` failed as if the member
    /// were gone: it is avoided for a backoff that grows per failure.
    pub fn failed(&self, index: usize) {
        let mut inner = self.inner.lock().expect("endpoints lock");
        if let Some(m) = inner.members.get_mut(index) {
            m.failures = m.failures.saturating_add(1);
            let shift = m.failures.saturating_sub(1).min(16);
            let backoff = BACKOFF_START.saturating_mul(1u32 << shift).min(BACKOFF_MAX);
            m.avoid_until = Some(Instant::now() + backoff);
        }
    }

    /// Records that endpoint `index` answered.
    pub fn succeeded(&self, index: usize) {
        let mut inner = self.inner.lock().expect("endpoints lock");
        if let Some(m) = inner.members.get_mut(index) {
            m.failures = 0;
            m.avoid_until = None;
        }
    }

    /// The endpoint URLs, in configuration order.
    pub fn urls(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("endpoints lock");
        inner.members.iter().map(|m| m.url.clone()).collect()
    }

    /// How many endpoints there are.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("endpoints lock").members.len()
    }

    /// Never true: a set is built from at least one endpoint.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the endpoint list (auto-sync), keeping the channel and
    /// health of endpoints that stay.
    pub fn replace(&self, urls: &[String]) -> Result<(), Error> {
        if urls.is_empty() {
            return Ok(());
        }
        let mut inner = self.inner.lock().expect("endpoints lock");
        let mut old = std::mem::take(&mut inner.members);
        let mut members = Vec::new();
        for url in urls {
            let url = normalize(url, self.config.tls())?;
            match old.iter().position(|m| m.url == url) {
                Some(i) => members.push(old.swap_remove(i)),
                None => members.push(connect(&self.config, &self.dialer, &url)?),
            }
        }
        inner.next %= members.len();
        inner.members = members;
        Ok(())
    }
}

/// `host:port` → `http://host:port`, or `https://host:port` when the
/// client speaks TLS (as etcdctl dials a bare endpoint); URLs with a
/// scheme are kept.
pub fn normalize(endpoint: &str, tls: bool) -> Result<String, Error> {
    let e = endpoint.trim();
    if e.is_empty() {
        return Err(Error::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: "empty".to_owned(),
        });
    }
    if e.starts_with("http://") || e.starts_with("https://") {
        Ok(e.trim_end_matches('/').to_owned())
    } else if e.starts_with("unix://") || e.starts_with("unixs://") {
        Err(Error::Unsupported("unix socket endpoints"))
    } else {
        let scheme = if tls { "https" } else { "http" };
        Ok(format!("{scheme}://{}", e.trim_end_matches('/')))
    }
}

/// The rustls settings of TLS credentials: the CA to trust (else the
/// system's roots), or none with `skip_verify` (etcdctl's
/// `--insecure-skip-tls-verify`), and the client certificate to present.
fn tls_config(
    ca: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
    skip_verify: bool,
) -> Result<rustls::ClientConfig, Error> {
    let file_error =
        |path: &str, e: &dyn std::fmt::Display| Error::Tls(format!("open {path}: {e}"));
    // ring, as the server uses: rustls deprecates it only for lacking
    // post-quantum key exchange, which etcd's Go clients lack too.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(ca) => {
                let certs = CertificateDer::pem_file_iter(ca)
                    .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| file_error(ca, &e))?;
                if certs.is_empty() {
                    return Err(Error::Tls(format!("{ca} holds no PEM certificate")));
                }
                for c in certs {
                    roots.add(c).map_err(|e| Error::Tls(format!("{ca}: {e}")))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                .map_err(|e| file_error(cert, &e))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, &e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| Error::Tls(format!("{cert} and {key}: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(Error::Tls("--cert and --key must be given together".into())),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn connect(config: &ClientConfig, dialer: &Dialer, endpoint: &str) -> Result<Member, Error> {
    let url = normalize(endpoint, config.tls())?;
    let invalid = |reason: String| Error::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let channel = dialer
        .endpoint(&url)
        .map_err(|e| match e {
            super::dial::DialError::NoTls { .. } => Error::Tls(e.to_string()),
            super::dial::DialError::BadUrl { reason, .. } => invalid(reason),
        })?
        .map(|e| {
            e.connect_timeout(config.dial_timeout)
                .http2_keep_alive_interval(config.keepalive_time.max(MIN_KEEPALIVE_TIME))
                .keep_alive_timeout(config.keepalive_timeout)
                .keep_alive_while_idle(true)
                .tcp_nodelay(true)
        })
        .lazy();
    Ok(Member {
        url,
        channel,
        failures: 0,
        avoid_until: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_robin_skips_endpoints_backing_off() {
        let config = ClientConfig::new(vec!["a:1".into(), "b:1".into(), "c:1".into()]);
        let eps = Endpoints::new(&config).unwrap();
        let order: Vec<usize> = (0..4).map(|_| eps.pick().index).collect();
        assert_eq!(order, [0, 1, 2, 0]);
        eps.failed(1);
        let order: Vec<usize> = (0..3).map(|_| eps.pick().index).collect();
        assert_eq!(order, [2, 0, 2]);
        eps.succeeded(1);
        assert_eq!(eps.pick().index, 0);
        assert_eq!(eps.pick().index, 1);
    }

    #[tokio::test]
    async fn all_backing_off_still_picks_the_soonest() {
        let config = ClientConfig::new(vec!["a:1".into(), "b:1".into()]);
        let eps = Endpoints::new(&config).unwrap();
        eps.failed(1);
        eps.failed(0);
        eps.failed(0);
        assert_eq!(eps.pick().index, 1);
    }

    #[test]
    fn endpoints_without_a_scheme_get_http_or_https() {
        assert_eq!(
            normalize("127.0.0.1:2379", false).unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            normalize("127.0.0.1:2379", true).unwrap(),
            "https://127.0.0.1:2379"
        );
        assert_eq!(normalize("http://h:1/", true).unwrap(), "http://h:1");
        assert_eq!(normalize("https://h:1", false).unwrap(), "https://h:1");
    }
}
