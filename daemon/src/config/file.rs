//! etcd's YAML configuration file (`--config-file`).
//!
//! Keys are the flag names; URL lists and the initial cluster are
//! comma-separated strings; numbers, booleans and `log-outputs` (a list)
//! must have their YAML types, and `auto-compaction-retention` must be a
//! string, as etcd requires. TLS settings sit under
//! `client-transport-security` and `peer-transport-security`. The keys of
//! the flags cairn takes without acting on are judged as those flags are
//! (`config::compat`); keys cairn does not know are ignored, as etcd
//! ignores them. A key left out, or given with no value, keeps its default.
//!
//! The file is converted into [`Flags`] so that one resolver judges both
//! sources. Must never: look at the command line or the environment once a
//! file is in use (etcd ignores both then).

use std::path::PathBuf;

use serde::Deserialize;

use super::defaults;
use super::flags::Flags;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct FileConfig {
    pub name: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub wal_dir: Option<PathBuf>,
    pub snapshot_count: Option<u64>,
    pub heartbeat_interval: Option<u64>,
    pub election_timeout: Option<u64>,
    pub listen_peer_urls: Option<String>,
    pub listen_client_urls: Option<String>,
    pub listen_metrics_urls: Option<String>,
    pub max_snapshots: Option<u64>,
    pub max_wals: Option<u64>,
    pub quota_backend_bytes: Option<i64>,
    pub max_txn_ops: Option<u64>,
    pub max_request_bytes: Option<u64>,
    pub initial_advertise_peer_urls: Option<String>,
    pub initial_cluster: Option<String>,
    pub initial_cluster_state: Option<String>,
    pub initial_cluster_token: Option<String>,
    pub advertise_client_urls: Option<String>,
    pub strict_reconfig_check: Option<bool>,
    pub pre_vote: Option<bool>,
    pub auto_compaction_mode: Option<String>,
    pub auto_compaction_retention: Option<String>,
    pub enable_v2: Option<bool>,
    pub client_transport_security: Option<FileTls>,
    pub peer_transport_security: Option<FileTls>,
    pub logger: Option<String>,
    pub log_outputs: Option<Vec<String>>,
    pub log_level: Option<String>,
    pub experimental_enable_lease_checkpoint: Option<bool>,
    /// A Go duration in a file is an integer count of nanoseconds.
    pub experimental_lease_checkpoint_interval: Option<u64>,
    /// A Go duration in a file is an integer count of nanoseconds.
    pub experimental_corrupt_check_time: Option<u64>,
    /// A Go duration in a file is an integer count of nanoseconds.
    pub experimental_watch_progress_notify_interval: Option<u64>,
    pub experimental_initial_corrupt_check: Option<bool>,
    pub force_new_cluster: Option<bool>,
    pub self_signed_cert_validity: Option<u64>,
    pub cipher_suites: Option<Vec<String>>,
    pub tls_min_version: Option<String>,
    pub tls_max_version: Option<String>,
    pub client_cert_allowed_hostname: Option<String>,
    pub peer_cert_allowed_cn: Option<String>,
    pub peer_cert_allowed_hostname: Option<String>,
    pub experimental_peer_skip_client_san_verification: Option<bool>,
    pub auth_token: Option<String>,
    /// Seconds, as on the command line (a plain integer in etcd's file).
    pub auth_token_ttl: Option<u64>,
    pub bcrypt_cost: Option<u64>,
    /// Every other key: those of the flags cairn takes without acting on
    /// (`config::compat`), judged as on the command line; the rest are
    /// ignored, as etcd ignores keys it does not know.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct FileTls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_cert_auth: Option<bool>,
    pub trusted_ca_file: Option<PathBuf>,
    pub auto_tls: Option<bool>,
}

/// An empty path in the file means "not set", as an empty string does for
/// etcd's path flags.
fn non_empty(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

fn text_or(value: Option<String>, default: &str) -> String {
    value.unwrap_or_else(|| default.to_owned())
}

fn number_or<N: ToString>(value: Option<N>, default: &str) -> String {
    value.map_or_else(|| default.to_owned(), |n| n.to_string())
}

impl FileConfig {
    pub fn from_yaml(text: &str) -> Result<FileConfig, serde_norway::Error> {
        // An empty file (or one holding only comments) is an empty mapping.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(FileConfig::default());
        }
        serde_norway::from_str(text)
    }

    /// The file's settings with defaults filled in, in the form the resolver
    /// takes. `config_file` is kept so the summary can say where they came
    /// from.
    pub fn into_flags(self, path: PathBuf) -> Flags {
        let client = self.client_transport_security.unwrap_or_default();
        let peer = self.peer_transport_security.unwrap_or_default();
        // In a file, leaving out advertise-client-urls keeps its default even
        // when listen-client-urls is set (only the command line insists on
        // both), so the default is filled in here.
        let advertise_client_urls = Some(text_or(
            self.advertise_client_urls,
            defaults::ADVERTISE_CLIENT_URLS,
        ));
        Flags {
            version: false,
            print_config: false,
            config_file: Some(path),
            name: text_or(self.name, defaults::NAME),
            data_dir: non_empty(self.data_dir),
            wal_dir: non_empty(self.wal_dir),
            snapshot_count: number_or(self.snapshot_count, defaults::SNAPSHOT_COUNT),
            heartbeat_interval: number_or(self.heartbeat_interval, defaults::HEARTBEAT_INTERVAL_MS),
            election_timeout: number_or(self.election_timeout, defaults::ELECTION_TIMEOUT_MS),
            listen_peer_urls: text_or(self.listen_peer_urls, defaults::LISTEN_PEER_URLS),
            listen_client_urls: self.listen_client_urls,
            listen_metrics_urls: text_or(self.listen_metrics_urls, defaults::LISTEN_METRICS_URLS),
            max_snapshots: number_or(self.max_snapshots, defaults::MAX_SNAPSHOTS),
            max_wals: number_or(self.max_wals, defaults::MAX_WALS),
            quota_backend_bytes: number_or(self.quota_backend_bytes, defaults::QUOTA_BACKEND_BYTES),
            max_txn_ops: number_or(self.max_txn_ops, defaults::MAX_TXN_OPS),
            max_request_bytes: number_or(self.max_request_bytes, defaults::MAX_REQUEST_BYTES),
            initial_advertise_peer_urls: text_or(
                self.initial_advertise_peer_urls,
                defaults::INITIAL_ADVERTISE_PEER_URLS,
            ),
            initial_cluster: self.initial_cluster,
            initial_cluster_state: text_or(
                self.initial_cluster_state,
                defaults::INITIAL_CLUSTER_STATE,
            ),
            initial_cluster_token: text_or(
                self.initial_cluster_token,
                defaults::INITIAL_CLUSTER_TOKEN,
            ),
            advertise_client_urls,
            strict_reconfig_check: self.strict_reconfig_check.unwrap_or(true),
            pre_vote: self.pre_vote.unwrap_or(true),
            auto_compaction_mode: text_or(
                self.auto_compaction_mode,
                defaults::AUTO_COMPACTION_MODE,
            ),
            auto_compaction_retention: text_or(
                self.auto_compaction_retention,
                defaults::AUTO_COMPACTION_RETENTION,
            ),
            enable_v2: self.enable_v2.unwrap_or(false),
            cert_file: non_empty(client.cert_file),
            key_file: non_empty(client.key_file),
            client_cert_auth: client.client_cert_auth.unwrap_or(false),
            trusted_ca_file: non_empty(client.trusted_ca_file),
            auto_tls: client.auto_tls.unwrap_or(false),
            cipher_suites: self.cipher_suites.map(|l| l.join(",")).unwrap_or_default(),
            tls_min_version: text_or(self.tls_min_version, "TLS1.2"),
            tls_max_version: self.tls_max_version.unwrap_or_default(),
            client_cert_allowed_hostname: self.client_cert_allowed_hostname.unwrap_or_default(),
            peer_cert_allowed_cn: self.peer_cert_allowed_cn.unwrap_or_default(),
            peer_cert_allowed_hostname: self.peer_cert_allowed_hostname.unwrap_or_default(),
            auth_token: text_or(self.auth_token, defaults::AUTH_TOKEN),
            auth_token_ttl: number_or(self.auth_token_ttl, defaults::AUTH_TOKEN_TTL),
            bcrypt_cost: number_or(self.bcrypt_cost, defaults::BCRYPT_COST),
            compat: super::compat::from_file(&self.other),
            // etcd's file has no CRL keys.
            client_crl_file: None,
            peer_crl_file: None,
            self_signed_cert_validity: number_or(
                self.self_signed_cert_validity,
                defaults::SELF_SIGNED_CERT_VALIDITY,
            ),
            peer_cert_file: non_empty(peer.cert_file),
            peer_key_file: non_empty(peer.key_file),
            peer_client_cert_auth: peer.client_cert_auth.unwrap_or(false),
            experimental_peer_skip_client_san_verification: self
                .experimental_peer_skip_client_san_verification
                .unwrap_or(false),
            peer_trusted_ca_file: non_empty(peer.trusted_ca_file),
            peer_auto_tls: peer.auto_tls.unwrap_or(false),
            logger: text_or(self.logger, defaults::LOGGER),
            log_outputs: self
                .log_outputs
                .map_or_else(|| defaults::LOG_OUTPUTS.to_owned(), |list| list.join(",")),
            log_level: text_or(self.log_level, defaults::LOG_LEVEL),
            experimental_enable_lease_checkpoint: self
                .experimental_enable_lease_checkpoint
                .unwrap_or(false),
            experimental_lease_checkpoint_interval: self
                .experimental_lease_checkpoint_interval
                .map_or_else(
                    || defaults::LEASE_CHECKPOINT_INTERVAL.to_owned(),
                    |nanos| format!("{nanos}ns"),
                ),
            experimental_corrupt_check_time: self.experimental_corrupt_check_time.map_or_else(
                || defaults::CORRUPT_CHECK_TIME.to_owned(),
                |nanos| format!("{nanos}ns"),
            ),
            experimental_watch_progress_notify_interval: self
                .experimental_watch_progress_notify_interval
                .map_or_else(
                    || defaults::WATCH_PROGRESS_NOTIFY_INTERVAL.to_owned(),
                    |nanos| format!("{nanos}ns"),
                ),
            experimental_initial_corrupt_check: self
                .experimental_initial_corrupt_check
                .unwrap_or(false),
            force_new_cluster: self.force_new_cluster.unwrap_or(false),
        }
    }
}
