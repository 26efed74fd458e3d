//! How to reach a cluster: endpoints, timeouts, keepalive and credentials.
//! This is resolved configuration (durations, not flag strings); the
//! command line turns its flags into one of these.
//!
//! [`Credentials`] is the seam for TLS and user authentication: call sites
//! build a [`ClientConfig`] and never a channel, so adding a variant here
//! and handling it in the connector changes no caller.

use std::time::Duration;

/// How the client authenticates itself and the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Plain HTTP/2, no user.
    #[default]
    Insecure,
    /// TLS: trust the CA in `ca` (else the system's roots), present the
    /// client certificate `cert` with `key` if given; with `skip_verify`,
    /// accept any server certificate (etcdctl's
    /// `--insecure-skip-tls-verify`: encrypted, not authenticated).
    Tls {
        ca: Option<String>,
        cert: Option<String>,
        key: Option<String>,
        skip_verify: bool,
    },
    /// A user and password. Not wired yet, like TLS.
    User { name: String, password: String },
}

/// Everything the client needs to reach a cluster.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` or `http://host:port`, one per member.
    pub endpoints: Vec<String>,
    /// How long to wait for a TCP connection to one endpoint.
    pub dial_timeout: Duration,
    /// The deadline of one call, retries included.
    pub command_timeout: Duration,
    /// HTTP/2 ping interval on an idle connection.
    pub keepalive_time: Duration,
    /// How long a ping may go unanswered before the connection is dropped.
    pub keepalive_timeout: Duration,
    /// If set, the endpoint list is refreshed from MemberList this often.
    pub auto_sync_interval: Option<Duration>,
    pub credentials: Credentials,
}

impl ClientConfig {
    /// Whether the client speaks TLS.
    pub fn tls(&self) -> bool {
        matches!(self.credentials, Credentials::Tls { .. })
    }

    /// etcdctl's defaults for `endpoints`.
    pub fn new(endpoints: Vec<String>) -> ClientConfig {
        ClientConfig {
            endpoints,
            dial_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
            keepalive_time: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(6),
            auto_sync_interval: None,
            credentials: Credentials::Insecure,
        }
    }
}
