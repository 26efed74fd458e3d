//! How to reach a cluster: endpoints, timeouts, keepalive and credentials.
//! This is resolved configuration (durations, not flag strings); the
//! command line turns its flags into one of these.
//!
//! Transport and identity are separate settings, as they are for etcdctl:
//! [`Credentials`] says how the connection is secured (plain or TLS, with
//! or without a client certificate), [`ClientConfig::user`] who logs in
//! over it; any combination works. Call sites build a [`ClientConfig`] and
//! never a channel.

use std::time::Duration;

/// How the connection is secured: how the client checks the server and
/// which certificate, if any, it presents.
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
}

/// A user the client logs in as (see [`crate::auth`]).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password: configurations end up in logs.
        f.debug_struct("User").field("name", &self.name).finish()
    }
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
    /// Log in as this user; `None`: send no token.
    pub user: Option<User>,
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
            user: None,
        }
    }
}
