//! The endpoint set: one lazily connected gRPC channel per endpoint, a
//! round-robin cursor over the healthy ones, and per-endpoint health with
//! exponential backoff.
//!
//! Invariants: [`Endpoints::pick`] always returns an endpoint (if all are
//! backing off, the one whose backoff ends first), so a call never fails
//! only because every member failed once; an endpoint that answers is
//! healthy again at once. The set can be replaced (auto-sync) without
//! disturbing calls in flight: they hold their own channel clone.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::config::{ClientConfig, Credentials};
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
    /// The TLS settings every channel uses, its files read once.
    tls: Option<ClientTlsConfig>,
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
        match &config.credentials {
            Credentials::Insecure => {}
            Credentials::Tls {
                skip_verify: true, ..
            } => return Err(Error::Unsupported("--insecure-skip-tls-verify")),
            Credentials::Tls { .. } => {}
            Credentials::User { .. } => return Err(Error::Unsupported("user authentication")),
        }
        let tls = tls_config(&config.credentials)?;
        let members = config
            .endpoints
            .iter()
            .map(|e| connect(config, tls.as_ref(), e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Endpoints {
            inner: Mutex::new(Inner { members, next: 0 }),
            config: config.clone(),
            tls,
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
        Ok(connect(&self.config, self.tls.as_ref(), url)?.channel)
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
                None => members.push(connect(&self.config, self.tls.as_ref(), &url)?),
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

/// The TLS settings of `credentials` for tonic: the CA to trust (else the
/// system's roots) and the client certificate to present.
fn tls_config(credentials: &Credentials) -> Result<Option<ClientTlsConfig>, Error> {
    let Credentials::Tls { ca, cert, key, .. } = credentials else {
        return Ok(None);
    };
    let read =
        |path: &str| std::fs::read(path).map_err(|e| Error::Tls(format!("open {path}: {e}")));
    let mut tls = ClientTlsConfig::new();
    tls = match ca {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
        None => tls.with_native_roots(),
    };
    match (cert, key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        (None, None) => {}
        _ => return Err(Error::Tls("--cert and --key must be given together".into())),
    }
    Ok(Some(tls))
}

fn connect(
    config: &ClientConfig,
    tls: Option<&ClientTlsConfig>,
    endpoint: &str,
) -> Result<Member, Error> {
    let url = normalize(endpoint, config.tls())?;
    let invalid = |reason: String| Error::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let mut channel = Endpoint::from_shared(url.clone()).map_err(|e| invalid(e.to_string()))?;
    if let Some(tls) = tls {
        channel = channel
            .tls_config(tls.clone())
            .map_err(|e| Error::Tls(e.to_string()))?;
    }
    let channel = channel
        .connect_timeout(config.dial_timeout)
        .http2_keep_alive_interval(config.keepalive_time.max(MIN_KEEPALIVE_TIME))
        .keep_alive_timeout(config.keepalive_timeout)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .connect_lazy();
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
