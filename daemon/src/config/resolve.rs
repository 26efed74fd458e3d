//! From what the user said ([`Flags`]) to what the server runs with
//! ([`ServerConfig`]): every value parsed, defaulted and checked.
//!
//! Resolution is pure: no files, no sockets, no clock. Checks that depend
//! on the disk (is there already a WAL? does it belong to this cluster?)
//! are the server's; so are the membership checks in
//! [`ServerConfig::verify_bootstrap`], which etcd applies only when a member
//! bootstraps a new cluster and not when it restarts from its data dir.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::ciphers;
use super::compat;
use super::defaults;
use super::error::{ConfigError, ValueError};
use super::flags::Flags;
use super::flags::parse_go_bool;
use super::ids;
use super::urls::{self, ClusterMember, EtcdUrl, join_cluster, join_urls};
use cairn_client::duration::parse_go_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Bootstrap a new cluster from `initial_cluster`.
    New,
    /// Join a cluster that is already running.
    Existing,
}

/// What `--quota-backend-bytes` resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendQuota {
    /// A negative value: no quota at all.
    Disabled,
    Bytes(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// A retention of zero (in either mode).
    Disabled,
    /// Keep this much history, by time.
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Panic,
    Fatal,
}

/// TLS settings for one side (clients or peers), served on its `https://`
/// listen URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    /// Certificates listed here are refused (checked where certificates
    /// are verified: clients' with `client_cert_auth`).
    pub crl_file: Option<PathBuf>,
    /// TLS 1.2 suites by Go's name, those rustls offers; empty: all.
    pub cipher_suites: Vec<String>,
    /// The TLS versions spoken (`--tls-min-version`, `--tls-max-version`).
    pub versions: TlsVersions,
    /// With `client_cert_auth`: the common name every connecting
    /// certificate must carry (`--peer-cert-allowed-cn`).
    pub allowed_cn: Option<String>,
    /// With `client_cert_auth`: a host name every connecting certificate
    /// must be valid for (`--client-cert-allowed-hostname`,
    /// `--peer-cert-allowed-hostname`).
    pub allowed_hostname: Option<String>,
    pub client_cert_auth: bool,
    pub auto_tls: bool,
    /// A connecting party's certificate must be valid for the address it
    /// connects from (etcd's rule on the peer port, unless
    /// `--experimental-peer-skip-client-san-verification`).
    pub check_client_san: bool,
}

/// Which TLS versions a port or connection speaks: TLS 1.2, TLS 1.3 or
/// both (rustls has no older one; etcd takes no older one either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsVersions {
    pub tls12: bool,
    pub tls13: bool,
}

impl Default for TlsVersions {
    fn default() -> TlsVersions {
        TlsVersions {
            tls12: true,
            tls13: true,
        }
    }
}

/// `TLS1.2` → 12, `TLS1.3` → 13, `""` (only for the maximum) → `None`.
fn tls_version(text: &str, empty_ok: bool) -> Result<Option<u8>, ConfigError> {
    match text {
        "TLS1.2" => Ok(Some(12)),
        "TLS1.3" => Ok(Some(13)),
        "" if empty_ok => Ok(None),
        other => Err(ConfigError::UnknownTlsVersion(other.to_owned())),
    }
}

/// What `--auth-token` resolves to: which tokens `Authenticate` hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthToken {
    /// `--auth-token ""`: none. etcd then refuses every password login
    /// (`Authenticate` fails); only client certificates name users.
    Off,
    /// etcd's simple tokens (random, kept by the member that issued them,
    /// valid while used at least once per `auth_token_ttl`).
    Simple,
    /// Signed JSON Web Tokens, valid on every member.
    Jwt(JwtOptions),
}

/// The options of `--auth-token jwt,...`. Only their syntax is checked
/// here; the key files are read (and their kind matched with
/// `sign_method`) when the server loads them (`auth::jwt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtOptions {
    /// `pub-key=`: with no `priv_key`, tokens are only verified.
    pub pub_key: Option<PathBuf>,
    /// `priv-key=`: the signing key; for HS* the file's bytes are the
    /// shared secret.
    pub priv_key: Option<PathBuf>,
    /// `sign-method=`, one of [`SIGN_METHODS`], exactly as written.
    pub sign_method: String,
    /// `ttl=` (a Go duration; 5m when not given): how long a token lasts.
    pub ttl: Duration,
}

/// The JWT signing methods cairn takes: etcd 3.5.1's, but ES512 (P-521
/// has no implementation in ring). etcd 3.5.1 has no EdDSA either.
pub const SIGN_METHODS: &str =
    "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, HS256, HS384, HS512";

/// `--auth-token`, as etcd splits it: the token type, then `,name=value`
/// options, each name at most once. Simple tokens ignore their options,
/// as etcd does; unknown jwt options are ignored with a warning (pushed
/// onto `warnings`).
fn auth_token(text: &str, warnings: &mut Vec<String>) -> Result<AuthToken, ConfigError> {
    let bad = |problem: ValueError| invalid("auth-token", text, problem);
    let mut parts = text.split(',');
    let kind = parts.next().unwrap_or_default();
    let mut options: Vec<(&str, &str)> = Vec::new();
    for part in parts {
        let mut pair = part.split('=');
        let (Some(name), Some(value), None) = (pair.next(), pair.next(), pair.next()) else {
            return Err(bad(ValueError::TokenOptionSyntax(part.to_owned())));
        };
        if options.iter().any(|(n, _)| *n == name) {
            return Err(bad(ValueError::TokenOptionTwice(name.to_owned())));
        }
        options.push((name, value));
    }
    match kind {
        "" => return Ok(AuthToken::Off),
        "simple" => return Ok(AuthToken::Simple),
        "jwt" => {}
        other => return Err(bad(ValueError::UnknownTokenType(other.to_owned()))),
    }
    let option = |name: &str| {
        options
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
    };
    let unknown: Vec<&str> = options
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !["pub-key", "priv-key", "sign-method", "ttl"].contains(n))
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "--auth-token: unknown jwt options {}, ignored",
            unknown.join(", ")
        ));
    }
    let ttl = parse_go_duration(option("ttl").unwrap_or(defaults::JWT_TTL))
        .map_err(|e| bad(ValueError::JwtTtl(e)))?;
    let sign_method = option("sign-method").ok_or_else(|| bad(ValueError::NoSignMethod))?;
    if sign_method == "ES512" {
        return Err(bad(ValueError::Es512NotSupported));
    }
    if !SIGN_METHODS.split(", ").any(|m| m == sign_method) {
        return Err(bad(ValueError::UnknownSignMethod(sign_method.to_owned())));
    }
    let pub_key = option("pub-key").map(PathBuf::from);
    let priv_key = option("priv-key").map(PathBuf::from);
    if priv_key.is_none() {
        if sign_method.starts_with("HS") {
            return Err(bad(ValueError::NoSecret(sign_method.to_owned())));
        }
        if pub_key.is_none() {
            return Err(bad(ValueError::NoJwtKey(sign_method.to_owned())));
        }
    }
    Ok(AuthToken::Jwt(JwtOptions {
        pub_key,
        priv_key,
        sign_method: sign_method.to_owned(),
        ttl,
    }))
}

/// The resolved configuration of one cairn member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub name: String,
    pub data_dir: PathBuf,
    /// `None`: the WAL lives inside the data dir.
    pub wal_dir: Option<PathBuf>,
    /// Where the settings came from when they came from a file.
    pub config_file: Option<PathBuf>,
    pub listen_client_urls: Vec<EtcdUrl>,
    pub advertise_client_urls: Vec<EtcdUrl>,
    pub listen_peer_urls: Vec<EtcdUrl>,
    pub initial_advertise_peer_urls: Vec<EtcdUrl>,
    pub listen_metrics_urls: Vec<EtcdUrl>,
    /// Members in the order first named; each member's URLs sorted.
    pub initial_cluster: Vec<ClusterMember>,
    pub initial_cluster_state: ClusterState,
    pub initial_cluster_token: String,
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    pub snapshot_count: u64,
    pub max_snapshots: u64,
    pub max_wals: u64,
    pub quota_backend_bytes: BackendQuota,
    pub max_txn_ops: u64,
    pub max_request_bytes: u64,
    pub pre_vote: bool,
    pub strict_reconfig_check: bool,
    pub auto_compaction: AutoCompaction,
    pub log_level: LogLevel,
    pub log_outputs: Vec<String>,
    pub experimental_enable_lease_checkpoint: bool,
    pub experimental_lease_checkpoint_interval: Duration,
    /// `--experimental-corrupt-check-time`; zero: no periodic check.
    pub experimental_corrupt_check_time: Duration,
    pub experimental_watch_progress_notify_interval: Duration,
    /// Accepted, no effect (see the flag's help).
    pub experimental_initial_corrupt_check: bool,
    pub force_new_cluster: bool,
    /// Years a self-signed certificate lasts (`--self-signed-cert-validity`).
    pub self_signed_cert_validity: u32,
    /// `--cipher-suites` names etcd knows and rustls does not offer; the
    /// server warns about them.
    pub cipher_suites_not_offered: Vec<String>,
    /// etcd flags set to something cairn does not act on (see `compat`)
    /// or replaces as etcd does (a bcrypt cost out of range, unknown jwt
    /// options), one line each; the server logs them.
    pub ignored_flags: Vec<String>,
    pub client_tls: TlsConfig,
    pub peer_tls: TlsConfig,
    /// `--auth-token`.
    pub auth_token: AuthToken,
    /// `--auth-token-ttl`: how long a simple token lives unused (0 given
    /// means etcd's 300 seconds).
    pub auth_token_ttl: Duration,
    /// `--bcrypt-cost`, within bcrypt's 4..=31 (etcd's 10 replaces any
    /// other value, with a warning in `ignored_flags`).
    pub bcrypt_cost: u32,
}

fn invalid(flag: &'static str, value: &str, problem: impl Into<ValueError>) -> ConfigError {
    ConfigError::InvalidValue {
        flag,
        value: value.to_owned(),
        problem: problem.into(),
    }
}

fn unsigned(flag: &'static str, value: &str) -> Result<u64, ConfigError> {
    // Only plain decimal digits: Rust's parser would also take a leading '+'.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(flag, value, ValueError::NotUnsigned));
    }
    value
        .parse()
        .map_err(|_| invalid(flag, value, ValueError::NotUnsigned))
}

fn url_list(flag: &'static str, value: &str) -> Result<Vec<EtcdUrl>, ConfigError> {
    urls::parse_url_list(value).map_err(|e| invalid(flag, value, e))
}

fn required_url_list(flag: &'static str, value: &str) -> Result<Vec<EtcdUrl>, ConfigError> {
    let list = url_list(flag, value)?;
    if list.is_empty() {
        return Err(invalid(flag, value, ValueError::NoUrls));
    }
    Ok(list)
}

fn auto_compaction(mode: &str, retention: &str) -> Result<AutoCompaction, ConfigError> {
    const FLAG: &str = "auto-compaction-retention";
    match mode {
        "periodic" => {
            // A bare number means hours; anything else is a Go duration.
            let period = if !retention.is_empty() && retention.bytes().all(|b| b.is_ascii_digit()) {
                let hours = unsigned(FLAG, retention)?;
                let secs = hours
                    .checked_mul(3600)
                    .ok_or_else(|| invalid(FLAG, retention, ValueError::TooManyHours))?;
                Duration::from_secs(secs)
            } else {
                parse_go_duration(retention).map_err(|e| invalid(FLAG, retention, e))?
            };
            Ok(if period.is_zero() {
                AutoCompaction::Disabled
            } else {
                AutoCompaction::Periodic(period)
            })
        }
        "revision" => {
            // etcd would read a duration here as a count of nanoseconds'
            // worth of revisions; that is never what was meant.
            let revisions = unsigned(FLAG, retention)
                .map_err(|_| invalid(FLAG, retention, ValueError::RevisionNotANumber))?;
            Ok(if revisions == 0 {
                AutoCompaction::Disabled
            } else {
                AutoCompaction::Revision(revisions)
            })
        }
        _ => Err(invalid(
            "auto-compaction-mode",
            mode,
            ValueError::NotOneOf("periodic, revision"),
        )),
    }
}

fn log_level(value: &str) -> Result<LogLevel, ConfigError> {
    Ok(match value {
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        "panic" => LogLevel::Panic,
        "fatal" => LogLevel::Fatal,
        _ => {
            return Err(invalid(
                "log-level",
                value,
                ValueError::NotOneOf("debug, info, warn, error, panic, fatal"),
            ));
        }
    })
}

/// One port's TLS settings; `files` are the certificate, key, trusted CA
/// and CRL files.
fn tls(
    [cert_file, key_file, trusted_ca_file, crl_file]: [&Option<PathBuf>; 4],
    client_cert_auth: bool,
    auto_tls: bool,
    cipher_suites: &[String],
    versions: TlsVersions,
) -> TlsConfig {
    let given = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    TlsConfig {
        cert_file: given(cert_file),
        key_file: given(key_file),
        trusted_ca_file: given(trusted_ca_file),
        crl_file: given(crl_file),
        cipher_suites: cipher_suites.to_vec(),
        versions,
        client_cert_auth,
        auto_tls,
        allowed_cn: None,
        allowed_hostname: None,
        check_client_san: false,
    }
}

/// Resolves and checks every value. See the module docs for what is left to
/// [`ServerConfig::verify_bootstrap`] and to the server.
pub fn resolve(flags: &Flags) -> Result<ServerConfig, ConfigError> {
    let name = flags.name.clone();

    let heartbeat_ms = unsigned("heartbeat-interval", &flags.heartbeat_interval)?;
    let election_ms = unsigned("election-timeout", &flags.election_timeout)?;
    if heartbeat_ms == 0 {
        return Err(ConfigError::ZeroHeartbeat);
    }
    if election_ms == 0 {
        return Err(ConfigError::ZeroElectionTimeout);
    }
    if election_ms < heartbeat_ms.saturating_mul(defaults::MIN_ELECTION_TO_HEARTBEAT_RATIO) {
        return Err(ConfigError::ElectionTimeoutTooShort {
            election_ms,
            heartbeat_ms,
        });
    }
    if election_ms > defaults::MAX_ELECTION_TIMEOUT_MS {
        return Err(ConfigError::ElectionTimeoutTooLong(election_ms));
    }

    let listen_client_urls = required_url_list(
        "listen-client-urls",
        flags
            .listen_client_urls
            .as_deref()
            .unwrap_or(defaults::LISTEN_CLIENT_URLS),
    )?;
    let advertise_client_urls = url_list(
        "advertise-client-urls",
        flags
            .advertise_client_urls
            .as_deref()
            .unwrap_or(defaults::ADVERTISE_CLIENT_URLS),
    )?;
    // etcd insists on advertised client URLs only when the listen URLs were
    // set explicitly; with the defaults the default advertisement fits.
    if flags.listen_client_urls.is_some() && flags.advertise_client_urls.is_none() {
        return Err(ConfigError::AdvertiseClientUrlsRequired);
    }
    let listen_peer_urls = required_url_list("listen-peer-urls", &flags.listen_peer_urls)?;
    let initial_advertise_peer_urls = required_url_list(
        "initial-advertise-peer-urls",
        &flags.initial_advertise_peer_urls,
    )?;
    let listen_metrics_urls = url_list("listen-metrics-urls", &flags.listen_metrics_urls)?;

    // etcd's defaulting rule: a member given a name of its own but no initial
    // cluster (or exactly the default one) bootstraps a cluster of itself,
    // at its advertised peer URLs.
    let initial_cluster_text = match flags.initial_cluster.as_deref() {
        Some(given) if given != defaults::INITIAL_CLUSTER => given.to_owned(),
        _ if name != defaults::NAME => initial_advertise_peer_urls
            .iter()
            .map(|url| format!("{name}={url}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => defaults::INITIAL_CLUSTER.to_owned(),
    };
    let initial_cluster = urls::parse_initial_cluster(&initial_cluster_text)
        .map_err(|e| invalid("initial-cluster", &initial_cluster_text, e))?;

    let initial_cluster_state = match flags.initial_cluster_state.as_str() {
        "new" => ClusterState::New,
        "existing" => ClusterState::Existing,
        other => {
            return Err(invalid(
                "initial-cluster-state",
                other,
                ValueError::NotOneOf("new, existing"),
            ));
        }
    };

    let quota_backend_bytes = match flags.quota_backend_bytes.parse::<i64>() {
        Ok(n) if n < 0 => BackendQuota::Disabled,
        Ok(0) => BackendQuota::Bytes(defaults::BACKEND_QUOTA_BYTES),
        Ok(n) => BackendQuota::Bytes(n.unsigned_abs()),
        Err(_) => {
            return Err(invalid(
                "quota-backend-bytes",
                &flags.quota_backend_bytes,
                ValueError::NotInteger,
            ));
        }
    };

    let auto_compaction = auto_compaction(
        &flags.auto_compaction_mode,
        &flags.auto_compaction_retention,
    )?;

    match flags.logger.as_str() {
        "zap" => {}
        other => return Err(ConfigError::UnsupportedLogger(other.to_owned())),
    }
    let log_level = log_level(&flags.log_level)?;
    let log_outputs: Vec<String> = flags
        .log_outputs
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if log_outputs.is_empty() {
        return Err(invalid(
            "log-outputs",
            &flags.log_outputs,
            ValueError::NoLogOutputs,
        ));
    }

    let lease_checkpoint = parse_go_duration(&flags.experimental_lease_checkpoint_interval)
        .map_err(|e| {
            invalid(
                "experimental-lease-checkpoint-interval",
                &flags.experimental_lease_checkpoint_interval,
                e,
            )
        })?;
    let corrupt_check = parse_go_duration(&flags.experimental_corrupt_check_time).map_err(|e| {
        invalid(
            "experimental-corrupt-check-time",
            &flags.experimental_corrupt_check_time,
            e,
        )
    })?;
    let watch_progress = parse_go_duration(&flags.experimental_watch_progress_notify_interval)
        .map_err(|e| {
            invalid(
                "experimental-watch-progress-notify-interval",
                &flags.experimental_watch_progress_notify_interval,
                e,
            )
        })?;

    if flags.enable_v2 {
        return Err(ConfigError::V2NotSupported);
    }

    let mut ignored_flags = Vec::new();
    for (name, value) in &flags.compat {
        let Some(c) = compat::find(name) else {
            continue;
        };
        let differs = if c.boolean {
            let given =
                parse_go_bool(value).map_err(|_| invalid(c.name, value, ValueError::NotBool))?;
            given != parse_go_bool(c.default).unwrap_or(false)
        } else {
            value != c.default
        };
        if !differs {
            continue;
        }
        match c.effect {
            compat::Effect::None(why) => {
                ignored_flags.push(format!("--{name}={value} has no effect in cairn: {why}"));
            }
            compat::Effect::Refused(why) => {
                return Err(ConfigError::CompatRefused {
                    flag: c.name,
                    value: value.clone(),
                    why,
                });
            }
        }
    }
    let mut cipher_suites = Vec::new();
    let mut suites_not_offered = Vec::new();
    for name in flags
        .cipher_suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match ciphers::known(name) {
            None => return Err(ConfigError::UnknownCipherSuite(name.to_owned())),
            Some(true) => cipher_suites.push(name.to_owned()),
            Some(false) => suites_not_offered.push(name.to_owned()),
        }
    }
    if !suites_not_offered.is_empty() && cipher_suites.is_empty() {
        return Err(ConfigError::NoCipherSuiteOffered(
            suites_not_offered.join(","),
        ));
    }
    let min = tls_version(&flags.tls_min_version, true)?.unwrap_or(12);
    let max = tls_version(&flags.tls_max_version, true)?.unwrap_or(13);
    if min > max {
        return Err(ConfigError::TlsVersionsReversed {
            min: flags.tls_min_version.clone(),
            max: flags.tls_max_version.clone(),
        });
    }
    if min == 13 && !flags.cipher_suites.trim().is_empty() {
        return Err(ConfigError::CipherSuitesWithTls13Only);
    }
    let versions = TlsVersions {
        tls12: min <= 12,
        tls13: max >= 13,
    };
    let client_tls = tls(
        [
            &flags.cert_file,
            &flags.key_file,
            &flags.trusted_ca_file,
            &flags.client_crl_file,
        ],
        flags.client_cert_auth,
        flags.auto_tls,
        &cipher_suites,
        versions,
    );
    let peer_tls = tls(
        [
            &flags.peer_cert_file,
            &flags.peer_key_file,
            &flags.peer_trusted_ca_file,
            &flags.peer_crl_file,
        ],
        flags.peer_client_cert_auth,
        flags.peer_auto_tls,
        &cipher_suites,
        versions,
    );
    let named = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    let client_tls = TlsConfig {
        allowed_hostname: named(&flags.client_cert_allowed_hostname),
        ..client_tls
    };
    let peer_tls = TlsConfig {
        allowed_cn: named(&flags.peer_cert_allowed_cn),
        allowed_hostname: named(&flags.peer_cert_allowed_hostname),
        check_client_san: !flags.experimental_peer_skip_client_san_verification,
        ..peer_tls
    };
    if let (Some(cn), Some(hostname)) = (&peer_tls.allowed_cn, &peer_tls.allowed_hostname) {
        return Err(ConfigError::AllowedCnAndHostname {
            cn: cn.clone(),
            hostname: hostname.clone(),
        });
    }
    let self_signed_cert_validity = u32::try_from(unsigned(
        "self-signed-cert-validity",
        &flags.self_signed_cert_validity,
    )?)
    .map_err(|_| {
        invalid(
            "self-signed-cert-validity",
            &flags.self_signed_cert_validity,
            ValueError::NotUnsigned,
        )
    })?;
    if (client_tls.auto_tls || peer_tls.auto_tls) && self_signed_cert_validity == 0 {
        return Err(ConfigError::ZeroCertValidity);
    }
    let needs_cert = |t: &TlsConfig, urls: &[&EtcdUrl]| {
        urls.iter()
            .find(|u| u.scheme().is_tls())
            .filter(|_| !t.auto_tls && (t.cert_file.is_none() || t.key_file.is_none()))
            .map(ToString::to_string)
    };
    let client_side: Vec<&EtcdUrl> = listen_client_urls
        .iter()
        .chain(&listen_metrics_urls)
        .collect();
    if let Some(url) = needs_cert(&client_tls, &client_side) {
        return Err(ConfigError::ClientCertMissing { url });
    }
    let peer_side: Vec<&EtcdUrl> = listen_peer_urls.iter().collect();
    if let Some(url) = needs_cert(&peer_tls, &peer_side) {
        // etcd names the address, not the URL.
        let url = url.trim_start_matches("https://").to_owned();
        return Err(ConfigError::PeerCertMissing { url });
    }
    if client_tls.client_cert_auth && client_tls.trusted_ca_file.is_none() {
        return Err(ConfigError::ClientCertAuthWithoutCa);
    }
    if peer_tls.client_cert_auth && peer_tls.trusted_ca_file.is_none() {
        return Err(ConfigError::PeerCertAuthWithoutCa);
    }

    let auth_token = auth_token(&flags.auth_token, &mut ignored_flags)?;
    let auth_token_ttl = match unsigned("auth-token-ttl", &flags.auth_token_ttl)? {
        0 => defaults::AUTH_TOKEN_TTL_SECS,
        secs => secs,
    };
    let bcrypt_cost = match unsigned("bcrypt-cost", &flags.bcrypt_cost)? {
        cost if defaults::BCRYPT_COST_RANGE.contains(&cost) => {
            u32::try_from(cost).unwrap_or(defaults::BCRYPT_COST_DEFAULT)
        }
        cost => {
            ignored_flags.push(format!(
                "--bcrypt-cost={cost} is outside bcrypt's 4..31; using {}, as etcd does",
                defaults::BCRYPT_COST_DEFAULT
            ));
            defaults::BCRYPT_COST_DEFAULT
        }
    };

    let data_dir = flags
        .data_dir
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(format!("{name}{}", defaults::DATA_DIR_SUFFIX)));

    Ok(ServerConfig {
        data_dir,
        wal_dir: flags.wal_dir.clone().filter(|p| !p.as_os_str().is_empty()),
        config_file: flags.config_file.clone(),
        listen_client_urls,
        advertise_client_urls,
        listen_peer_urls,
        initial_advertise_peer_urls,
        listen_metrics_urls,
        initial_cluster,
        initial_cluster_state,
        initial_cluster_token: flags.initial_cluster_token.clone(),
        heartbeat_interval: Duration::from_millis(heartbeat_ms),
        election_timeout: Duration::from_millis(election_ms),
        snapshot_count: unsigned("snapshot-count", &flags.snapshot_count)?,
        max_snapshots: unsigned("max-snapshots", &flags.max_snapshots)?,
        max_wals: unsigned("max-wals", &flags.max_wals)?,
        quota_backend_bytes,
        max_txn_ops: unsigned("max-txn-ops", &flags.max_txn_ops)?,
        max_request_bytes: unsigned("max-request-bytes", &flags.max_request_bytes)?,
        pre_vote: flags.pre_vote,
        strict_reconfig_check: flags.strict_reconfig_check,
        auto_compaction,
        log_level,
        log_outputs,
        experimental_enable_lease_checkpoint: flags.experimental_enable_lease_checkpoint,
        experimental_lease_checkpoint_interval: lease_checkpoint,
        experimental_corrupt_check_time: corrupt_check,
        experimental_watch_progress_notify_interval: watch_progress,
        experimental_initial_corrupt_check: flags.experimental_initial_corrupt_check,
        force_new_cluster: flags.force_new_cluster,
        self_signed_cert_validity,
        cipher_suites_not_offered: suites_not_offered,
        ignored_flags,
        client_tls,
        peer_tls,
        auth_token,
        auth_token_ttl: Duration::from_secs(auth_token_ttl),
        bcrypt_cost,
        name,
    })
}

impl ServerConfig {
    /// This member's entry in the initial cluster, if it has one.
    pub fn local_member(&self) -> Option<&ClusterMember> {
        self.initial_cluster.iter().find(|(n, _)| *n == self.name)
    }

    /// The checks etcd makes before bootstrapping from `--initial-cluster`
    /// (no data dir yet): this member must be listed, and when bootstrapping
    /// a new cluster its entry must be exactly its advertised peer URLs.
    /// cairn compares the URLs as written; etcd also resolves host names
    /// first, which is I/O and left to the server.
    pub fn verify_bootstrap(&self) -> Result<(), ConfigError> {
        let Some((_, listed)) = self.local_member() else {
            return Err(ConfigError::NameNotInInitialCluster {
                name: self.name.clone(),
                initial_cluster: join_cluster(&self.initial_cluster),
            });
        };
        if self.initial_cluster_state == ClusterState::New {
            let mut advertised = self.initial_advertise_peer_urls.clone();
            advertised.sort();
            if &advertised != listed {
                return Err(ConfigError::AdvertisedPeerUrlsMismatch {
                    name: self.name.clone(),
                    advertised: join_urls(&self.initial_advertise_peer_urls),
                    listed: join_urls(listed),
                });
            }
        }
        Ok(())
    }

    /// Every initial member's name and ID, in `initial_cluster` order.
    pub fn initial_member_ids(&self) -> Vec<(String, u64)> {
        self.initial_cluster
            .iter()
            .map(|(name, urls)| {
                (
                    name.clone(),
                    ids::member_id(urls, &self.initial_cluster_token, None),
                )
            })
            .collect()
    }

    /// This member's ID when it bootstraps with the initial cluster: the
    /// same ID etcd would give it.
    pub fn local_member_id(&self) -> Option<u64> {
        self.local_member()
            .map(|(_, urls)| ids::member_id(urls, &self.initial_cluster_token, None))
    }

    /// The ID of the cluster bootstrapped from `initial_cluster`.
    pub fn initial_cluster_id(&self) -> u64 {
        let member_ids: Vec<u64> = self
            .initial_member_ids()
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        ids::cluster_id(&member_ids)
    }
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterState::New => "new",
            ClusterState::Existing => "existing",
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Panic => "panic",
            LogLevel::Fatal => "fatal",
        })
    }
}

/// A multi-line `key: value` summary for the operator, one setting a line.
impl fmt::Display for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("-".to_owned(), |p| p.display().to_string())
        };
        if let Some(file) = &self.config_file {
            writeln!(f, "config-file: {}", file.display())?;
        }
        writeln!(f, "name: {}", self.name)?;
        writeln!(f, "data-dir: {}", self.data_dir.display())?;
        writeln!(f, "wal-dir: {}", path(&self.wal_dir))?;
        writeln!(
            f,
            "listen-client-urls: {}",
            join_urls(&self.listen_client_urls)
        )?;
        writeln!(
            f,
            "advertise-client-urls: {}",
            join_urls(&self.advertise_client_urls)
        )?;
        writeln!(f, "listen-peer-urls: {}", join_urls(&self.listen_peer_urls))?;
        writeln!(
            f,
            "initial-advertise-peer-urls: {}",
            join_urls(&self.initial_advertise_peer_urls)
        )?;
        writeln!(
            f,
            "listen-metrics-urls: {}",
            join_urls(&self.listen_metrics_urls)
        )?;
        writeln!(
            f,
            "initial-cluster: {}",
            join_cluster(&self.initial_cluster)
        )?;
        writeln!(f, "initial-cluster-state: {}", self.initial_cluster_state)?;
        writeln!(f, "initial-cluster-token: {}", self.initial_cluster_token)?;
        match self.local_member_id() {
            Some(id) => writeln!(f, "member-id: {id:x}")?,
            None => writeln!(f, "member-id: - (not in the initial cluster)")?,
        }
        writeln!(f, "cluster-id: {:x}", self.initial_cluster_id())?;
        writeln!(f, "heartbeat-interval: {:?}", self.heartbeat_interval)?;
        writeln!(f, "election-timeout: {:?}", self.election_timeout)?;
        writeln!(f, "snapshot-count: {}", self.snapshot_count)?;
        writeln!(f, "max-snapshots: {}", self.max_snapshots)?;
        writeln!(f, "max-wals: {}", self.max_wals)?;
        match self.quota_backend_bytes {
            BackendQuota::Disabled => writeln!(f, "quota-backend-bytes: disabled")?,
            BackendQuota::Bytes(n) => writeln!(f, "quota-backend-bytes: {n}")?,
        }
        writeln!(f, "max-txn-ops: {}", self.max_txn_ops)?;
        writeln!(f, "max-request-bytes: {}", self.max_request_bytes)?;
        writeln!(f, "pre-vote: {}", self.pre_vote)?;
        writeln!(f, "strict-reconfig-check: {}", self.strict_reconfig_check)?;
        match self.auto_compaction {
            AutoCompaction::Disabled => writeln!(f, "auto-compaction: disabled")?,
            AutoCompaction::Periodic(d) => writeln!(f, "auto-compaction: periodic, {d:?}")?,
            AutoCompaction::Revision(n) => writeln!(f, "auto-compaction: revision, {n}")?,
        }
        if self.client_tls.auto_tls || self.peer_tls.auto_tls {
            writeln!(
                f,
                "self-signed-cert-validity: {} years",
                self.self_signed_cert_validity
            )?;
        }
        match &self.auth_token {
            AuthToken::Off => writeln!(f, "auth-token: none (password logins refused)")?,
            AuthToken::Simple => writeln!(f, "auth-token: simple")?,
            AuthToken::Jwt(jwt) => writeln!(
                f,
                "auth-token: jwt, sign-method {}, pub-key {}, priv-key {}, ttl {:?}",
                jwt.sign_method,
                path(&jwt.pub_key),
                path(&jwt.priv_key),
                jwt.ttl
            )?,
        }
        writeln!(f, "auth-token-ttl: {:?}", self.auth_token_ttl)?;
        writeln!(f, "bcrypt-cost: {}", self.bcrypt_cost)?;
        writeln!(f, "log-level: {}", self.log_level)?;
        writeln!(f, "log-outputs: {}", self.log_outputs.join(","))?;
        writeln!(
            f,
            "experimental-enable-lease-checkpoint: {}",
            self.experimental_enable_lease_checkpoint
        )?;
        writeln!(
            f,
            "experimental-corrupt-check-time: {:?}",
            self.experimental_corrupt_check_time
        )?;
        writeln!(
            f,
            "experimental-lease-checkpoint-interval: {:?}",
            self.experimental_lease_checkpoint_interval
        )?;
        writeln!(
            f,
            "experimental-watch-progress-notify-interval: {:?}",
            self.experimental_watch_progress_notify_interval
        )?;
        write!(f, "force-new-cluster: {}", self.force_new_cluster)
    }
}
