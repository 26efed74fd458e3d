//! Everything that can be wrong with a configuration, each in one line that
//! names the setting, the value and the reason.

use std::path::PathBuf;

use super::urls::{ClusterListError, UrlError};
use cairn_client::duration::DurationError;

/// Why one value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Cluster(#[from] ClusterListError),
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error("at least one URL is required")]
    NoUrls,
    #[error("not a non-negative integer")]
    NotUnsigned,
    #[error("not an integer")]
    NotInteger,
    #[error("not a boolean (true, false, 1, 0, t, f)")]
    NotBool,
    #[error("must be one of {0}")]
    NotOneOf(&'static str),
    #[error("in revision mode the retention is a number of revisions")]
    RevisionNotANumber,
    #[error("a bare number is hours, and this many hours is too long")]
    TooManyHours,
    #[error("at least one log output is required")]
    NoLogOutputs,
    #[error("unknown token type {0:?}: must be simple or jwt,sign-method=...,priv-key=...")]
    UnknownTokenType(String),
    #[error("token option {0:?} is not name=value")]
    TokenOptionSyntax(String),
    #[error("token option {0:?} is given twice")]
    TokenOptionTwice(String),
    #[error("jwt needs sign-method=<{methods}>", methods = super::resolve::SIGN_METHODS)]
    NoSignMethod,
    #[error("sign-method {0:?} is not one of {methods}", methods = super::resolve::SIGN_METHODS)]
    UnknownSignMethod(String),
    #[error(
        "sign-method ES512 is not supported: cairn's crypto library has no P-521 curve; use \
         ES256 or ES384"
    )]
    Es512NotSupported,
    #[error("ttl: {0}")]
    JwtTtl(DurationError),
    #[error("sign-method {0} needs priv-key=<file>, the shared secret")]
    NoSecret(String),
    #[error("sign-method {0} needs priv-key=<file>, or pub-key=<file> to only verify tokens")]
    NoJwtKey(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for flag --{flag}: {problem}")]
    InvalidValue {
        flag: &'static str,
        value: String,
        problem: ValueError,
    },
    #[error("--heartbeat-interval must be greater than 0")]
    ZeroHeartbeat,
    #[error("--election-timeout must be greater than 0")]
    ZeroElectionTimeout,
    #[error(
        "--election-timeout ({election_ms}ms) must be at least 5 times --heartbeat-interval \
         ({heartbeat_ms}ms)"
    )]
    ElectionTimeoutTooShort { election_ms: u64, heartbeat_ms: u64 },
    #[error("--election-timeout ({0}ms) is too long: it must be at most 50000ms")]
    ElectionTimeoutTooLong(u64),
    #[error("--advertise-client-urls is required when --listen-client-urls is given")]
    AdvertiseClientUrlsRequired,
    #[error("--enable-v2 is not supported: cairn serves only the v3 API")]
    V2NotSupported,
    #[error("--logger={0} is not supported: zap is the only logger")]
    UnsupportedLogger(String),
    #[error(
        "--self-signed-cert-validity must be at least 1 (year) with --auto-tls or --peer-auto-tls"
    )]
    ZeroCertValidity,
    #[error(
        "AllowedCN and AllowedHostname are mutually exclusive (cn={cn:?}, hostname={hostname:?})"
    )]
    AllowedCnAndHostname { cn: String, hostname: String },
    #[error("--{flag}={value} is not supported: {why}")]
    CompatRefused {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("unexpected TLS cipher suite {0:?}")]
    UnknownCipherSuite(String),
    #[error("unexpected TLS version {0:?} (must be one of: TLS1.2, TLS1.3)")]
    UnknownTlsVersion(String),
    #[error("min version ({min}) is greater than max version ({max})")]
    TlsVersionsReversed { min: String, max: String },
    #[error("cipher suites cannot be configured when only TLS1.3 is enabled")]
    CipherSuitesWithTls13Only,
    #[error(
        "--cipher-suites names none that cairn offers ({0}); add an ECDHE suite with AES-GCM \
         or ChaCha20-Poly1305"
    )]
    NoCipherSuiteOffered(String),
    #[error(
        "TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"
    )]
    ClientCertMissing { url: String },
    #[error("--client-cert-auth needs --trusted-ca-file, the CA that signs client certificates")]
    ClientCertAuthWithoutCa,
    #[error(
        "cannot listen on TLS for {url}: KeyFile and CertFile are not presented \
         (--peer-cert-file, --peer-key-file)"
    )]
    PeerCertMissing { url: String },
    #[error(
        "--peer-client-cert-auth needs --peer-trusted-ca-file, the CA that signs members' \
         certificates"
    )]
    PeerCertAuthWithoutCa,
    #[error("this member's name {name:?} is missing from --initial-cluster {initial_cluster:?}")]
    NameNotInInitialCluster {
        name: String,
        initial_cluster: String,
    },
    #[error(
        "--initial-advertise-peer-urls {advertised:?} does not match member {name:?} in \
         --initial-cluster, which lists {listed:?}"
    )]
    AdvertisedPeerUrlsMismatch {
        name: String,
        advertised: String,
        listed: String,
    },
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {source}", path.display())]
    ParseFile {
        path: PathBuf,
        source: serde_norway::Error,
    },
    #[error("config file {}: {source}", path.display())]
    InFile {
        path: PathBuf,
        source: Box<ConfigError>,
    },
}
