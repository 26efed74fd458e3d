//! The command line and the `ETCD_*` environment, as etcd spells them.
//!
//! [`Flags`] is what the user said, unresolved: URL lists and numbers stay
//! text here so that [`super::resolve`] judges every value by one set of
//! rules and names the flag at fault in one message, whichever source the
//! value came from. clap supplies the environment fallback (a flag on the
//! command line wins over its `ETCD_*` variable), unknown-flag errors and
//! `--help`.
//!
//! Go's flag package, which etcd uses, also accepts `-name x` with a single
//! dash, and takes booleans only as `--flag` or `--flag=value`. The first is
//! handled by [`normalize_go_args`] before clap sees argv; the second by
//! declaring booleans with `require_equals`.
//!
//! Must never: validate or default beyond what clap does, read files, or
//! touch the data dir.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use super::defaults;

/// Any text is a path; an empty one means "not set", as in etcd (clap's own
/// path parser would refuse it).
fn any_path(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(text))
}

/// Go's `strconv.ParseBool`, which etcd uses for boolean flags and their
/// environment variables.
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {text:?}")),
    }
}

/// What cairn is, in one line (the man page's NAME).
const ABOUT: &str = "an etcd-compatible coordination store (speaks the etcd v3.5 API)";

/// How the three sources of settings combine.
const SOURCES: &str = "\
Every flag may also be set through ETCD_<FLAG> in the environment (upper case, dashes as
underscores); a flag on the command line wins over its variable. With --config-file, all
other flags and variables are ignored.";

fn help_template() -> String {
    format!("{{name}}: {ABOUT}\n\n{{usage-heading}} {{usage}}\n\n{SOURCES}\n\n{{all-args}}")
}

/// etcd's server flags. Field docs are the `--help` text.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "cairn",
    about = ABOUT,
    disable_version_flag = true,
    allow_hyphen_values = true,
    help_template = help_template()
)]
pub struct Flags {
    /// Print the version and exit.
    #[arg(long, action = ArgAction::SetTrue)]
    pub version: bool,

    /// cairn only: resolve the configuration (flags, ETCD_* variables or the config file), run
    /// the checks made before bootstrapping, print the result and exit without serving.
    #[arg(long, action = ArgAction::SetTrue)]
    pub print_config: bool,

    /// Path to a YAML configuration file with the same keys as these flags. When it is given,
    /// every other flag and ETCD_* variable is ignored.
    #[arg(long, env = "ETCD_CONFIG_FILE", value_name = "PATH", value_parser = any_path)]
    pub config_file: Option<PathBuf>,

    // ----- Member -----
    /// Human-readable name for this member.
    #[arg(long, env = "ETCD_NAME", default_value = defaults::NAME, help_heading = "Member")]
    pub name: String,

    /// Path to the data directory [default: ${name}.cairn].
    #[arg(
        long,
        env = "ETCD_DATA_DIR",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Member"
    )]
    pub data_dir: Option<PathBuf>,

    /// Path to a dedicated WAL directory [default: inside the data directory].
    #[arg(
        long,
        env = "ETCD_WAL_DIR",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Member"
    )]
    pub wal_dir: Option<PathBuf>,

    /// Number of committed transactions that triggers a snapshot to disk.
    #[arg(long, env = "ETCD_SNAPSHOT_COUNT", value_name = "N", default_value = defaults::SNAPSHOT_COUNT, help_heading = "Member")]
    pub snapshot_count: String,

    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, env = "ETCD_HEARTBEAT_INTERVAL", value_name = "MS", default_value = defaults::HEARTBEAT_INTERVAL_MS, help_heading = "Member")]
    pub heartbeat_interval: String,

    /// Time (in milliseconds) for an election to time out; at least 5 heartbeat intervals.
    #[arg(long, env = "ETCD_ELECTION_TIMEOUT", value_name = "MS", default_value = defaults::ELECTION_TIMEOUT_MS, help_heading = "Member")]
    pub election_timeout: String,

    /// Comma-separated URLs to listen on for peer traffic.
    #[arg(long, env = "ETCD_LISTEN_PEER_URLS", value_name = "URLS", default_value = defaults::LISTEN_PEER_URLS, help_heading = "Member")]
    pub listen_peer_urls: String,

    /// Comma-separated URLs to listen on for client traffic [default: http://localhost:2379].
    #[arg(
        long,
        env = "ETCD_LISTEN_CLIENT_URLS",
        value_name = "URLS",
        help_heading = "Member"
    )]
    pub listen_client_urls: Option<String>,

    /// Comma-separated URLs to listen on for the metrics and health endpoints.
    #[arg(long, env = "ETCD_LISTEN_METRICS_URLS", value_name = "URLS", default_value = defaults::LISTEN_METRICS_URLS, help_heading = "Member")]
    pub listen_metrics_urls: String,

    /// Maximum number of snapshot files to retain (0 is unlimited).
    #[arg(long, env = "ETCD_MAX_SNAPSHOTS", value_name = "N", default_value = defaults::MAX_SNAPSHOTS, help_heading = "Member")]
    pub max_snapshots: String,

    /// Maximum number of WAL files to retain (0 is unlimited).
    #[arg(long, env = "ETCD_MAX_WALS", value_name = "N", default_value = defaults::MAX_WALS, help_heading = "Member")]
    pub max_wals: String,

    /// Raise alarms when the backend exceeds this many bytes (0: 2 GiB; negative: no quota).
    #[arg(long, env = "ETCD_QUOTA_BACKEND_BYTES", value_name = "BYTES", default_value = defaults::QUOTA_BACKEND_BYTES, help_heading = "Member")]
    pub quota_backend_bytes: String,

    /// Maximum number of operations permitted in a transaction.
    #[arg(long, env = "ETCD_MAX_TXN_OPS", value_name = "N", default_value = defaults::MAX_TXN_OPS, help_heading = "Member")]
    pub max_txn_ops: String,

    /// Maximum client request size in bytes the server will accept.
    #[arg(long, env = "ETCD_MAX_REQUEST_BYTES", value_name = "BYTES", default_value = defaults::MAX_REQUEST_BYTES, help_heading = "Member")]
    pub max_request_bytes: String,

    // ----- Clustering -----
    /// Comma-separated peer URLs of this member to advertise to the rest of the cluster.
    #[arg(long, env = "ETCD_INITIAL_ADVERTISE_PEER_URLS", value_name = "URLS", default_value = defaults::INITIAL_ADVERTISE_PEER_URLS, help_heading = "Clustering")]
    pub initial_advertise_peer_urls: String,

    /// Initial cluster configuration for bootstrapping, as name=URL pairs [default:
    /// default=http://localhost:2380, or ${name}=<initial-advertise-peer-urls> when --name is
    /// set].
    #[arg(
        long,
        env = "ETCD_INITIAL_CLUSTER",
        value_name = "NAME=URL,...",
        help_heading = "Clustering"
    )]
    pub initial_cluster: Option<String>,

    /// Initial cluster state: new or existing.
    #[arg(long, env = "ETCD_INITIAL_CLUSTER_STATE", value_name = "STATE", default_value = defaults::INITIAL_CLUSTER_STATE, help_heading = "Clustering")]
    pub initial_cluster_state: String,

    /// Initial cluster token, which keeps clusters bootstrapped from the same URLs apart.
    #[arg(long, env = "ETCD_INITIAL_CLUSTER_TOKEN", value_name = "TOKEN", default_value = defaults::INITIAL_CLUSTER_TOKEN, help_heading = "Clustering")]
    pub initial_cluster_token: String,

    /// Comma-separated client URLs of this member to advertise to the public [default:
    /// http://localhost:2379; required when --listen-client-urls is given].
    #[arg(
        long,
        env = "ETCD_ADVERTISE_CLIENT_URLS",
        value_name = "URLS",
        help_heading = "Clustering"
    )]
    pub advertise_client_urls: Option<String>,

    /// Reject reconfiguration requests that would cause quorum loss.
    #[arg(long, env = "ETCD_STRICT_RECONFIG_CHECK", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = defaults::STRICT_RECONFIG_CHECK, value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Clustering")]
    pub strict_reconfig_check: bool,

    /// Run an additional Raft election phase (pre-vote) before campaigning.
    #[arg(long, env = "ETCD_PRE_VOTE", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = defaults::PRE_VOTE, value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Clustering")]
    pub pre_vote: bool,

    /// How --auto-compaction-retention is read: periodic or revision.
    #[arg(long, env = "ETCD_AUTO_COMPACTION_MODE", value_name = "MODE", default_value = defaults::AUTO_COMPACTION_MODE, help_heading = "Clustering")]
    pub auto_compaction_mode: String,

    /// Auto compaction retention (0 disables it): in periodic mode a duration such as 30m or a
    /// bare number of hours; in revision mode a number of revisions.
    #[arg(long, env = "ETCD_AUTO_COMPACTION_RETENTION", value_name = "RETENTION", default_value = defaults::AUTO_COMPACTION_RETENTION, help_heading = "Clustering")]
    pub auto_compaction_retention: String,

    /// Accept etcd v2 requests. Accepted for compatibility; cairn serves v3 only, so it must be
    /// false.
    #[arg(long, env = "ETCD_ENABLE_V2", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Clustering")]
    pub enable_v2: bool,

    // ----- Security -----
    /// Path to the client server TLS cert file.
    #[arg(
        long,
        env = "ETCD_CERT_FILE",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Security"
    )]
    pub cert_file: Option<PathBuf>,

    /// Path to the client server TLS key file.
    #[arg(
        long,
        env = "ETCD_KEY_FILE",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Security"
    )]
    pub key_file: Option<PathBuf>,

    /// Enable client cert authentication.
    #[arg(long, env = "ETCD_CLIENT_CERT_AUTH", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Security")]
    pub client_cert_auth: bool,

    /// Path to the client server TLS trusted CA cert file.
    #[arg(
        long,
        env = "ETCD_TRUSTED_CA_FILE",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Security"
    )]
    pub trusted_ca_file: Option<PathBuf>,

    /// Client TLS using generated certificates.
    #[arg(long, env = "ETCD_AUTO_TLS", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Security")]
    pub auto_tls: bool,

    /// Path to the client certificate revocation list file.
    #[arg(long, env = "ETCD_CLIENT_CRL_FILE", value_name = "PATH", value_parser = any_path, help_heading = "Security")]
    pub client_crl_file: Option<PathBuf>,

    /// Path to the peer certificate revocation list file.
    #[arg(long, env = "ETCD_PEER_CRL_FILE", value_name = "PATH", value_parser = any_path, help_heading = "Security")]
    pub peer_crl_file: Option<PathBuf>,

    /// Comma-separated list of supported TLS 1.2 cipher suites (Go's names; empty: the
    /// library's defaults). TLS 1.3 suites are always offered.
    #[arg(
        long,
        env = "ETCD_CIPHER_SUITES",
        value_name = "SUITES",
        default_value = "",
        help_heading = "Security"
    )]
    pub cipher_suites: String,

    /// Minimum TLS version on every TLS port and connection: TLS1.2 or
    /// TLS1.3 (etcd 3.5.x's later releases and 3.6 take it).
    #[arg(
        long,
        env = "ETCD_TLS_MIN_VERSION",
        value_name = "VERSION",
        default_value = "TLS1.2",
        help_heading = "Security"
    )]
    pub tls_min_version: String,

    /// Maximum TLS version: TLS1.2 or TLS1.3; empty: the newest.
    #[arg(
        long,
        env = "ETCD_TLS_MAX_VERSION",
        value_name = "VERSION",
        default_value = "",
        help_heading = "Security"
    )]
    pub tls_max_version: String,

    /// Allowed TLS hostname for client cert authentication.
    #[arg(
        long,
        env = "ETCD_CLIENT_CERT_ALLOWED_HOSTNAME",
        value_name = "HOST",
        default_value = "",
        help_heading = "Security"
    )]
    pub client_cert_allowed_hostname: String,

    /// Required CN for client certs connecting to the peer endpoint.
    #[arg(
        long,
        env = "ETCD_PEER_CERT_ALLOWED_CN",
        value_name = "CN",
        default_value = "",
        help_heading = "Security"
    )]
    pub peer_cert_allowed_cn: String,

    /// Allowed TLS hostname for inter peer authentication.
    #[arg(
        long,
        env = "ETCD_PEER_CERT_ALLOWED_HOSTNAME",
        value_name = "HOST",
        default_value = "",
        help_heading = "Security"
    )]
    pub peer_cert_allowed_hostname: String,

    /// Years a certificate made by --auto-tls or --peer-auto-tls stays valid.
    #[arg(long, env = "ETCD_SELF_SIGNED_CERT_VALIDITY", value_name = "YEARS", default_value = defaults::SELF_SIGNED_CERT_VALIDITY, help_heading = "Security")]
    pub self_signed_cert_validity: String,

    /// Path to the peer server TLS cert file.
    #[arg(
        long,
        env = "ETCD_PEER_CERT_FILE",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Security"
    )]
    pub peer_cert_file: Option<PathBuf>,

    /// Path to the peer server TLS key file.
    #[arg(
        long,
        env = "ETCD_PEER_KEY_FILE",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Security"
    )]
    pub peer_key_file: Option<PathBuf>,

    /// Enable peer client cert authentication.
    #[arg(long, env = "ETCD_PEER_CLIENT_CERT_AUTH", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Security")]
    pub peer_client_cert_auth: bool,

    /// Skip the check that a peer's client certificate is valid for the
    /// address it connects from.
    #[arg(long, env = "ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Security")]
    pub experimental_peer_skip_client_san_verification: bool,

    /// Path to the peer server TLS trusted CA file.
    #[arg(
        long,
        env = "ETCD_PEER_TRUSTED_CA_FILE",
        value_name = "PATH", value_parser = any_path,
        help_heading = "Security"
    )]
    pub peer_trusted_ca_file: Option<PathBuf>,

    /// Peer TLS using self-generated certificates.
    #[arg(long, env = "ETCD_PEER_AUTO_TLS", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Security")]
    pub peer_auto_tls: bool,

    // ----- Auth -----
    /// Auth token type and its options: simple, or jwt,sign-method=...,priv-key=...
    ///
    /// jwt,sign-method=<method>,priv-key=<file>[,pub-key=<file>][,ttl=<duration>], with methods
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, HS256, HS384 and HS512. HS* take
    /// the priv-key file's bytes as the secret; pub-key without priv-key only verifies tokens;
    /// ttl (a Go duration) defaults to 5m. Empty: no tokens (only client certificates name
    /// users).
    #[arg(long, env = "ETCD_AUTH_TOKEN", value_name = "TOKEN", default_value = defaults::AUTH_TOKEN, help_heading = "Auth")]
    pub auth_token: String,

    /// Time (in seconds) a simple token lives unused (0: 300).
    #[arg(long, env = "ETCD_AUTH_TOKEN_TTL", value_name = "SECONDS", default_value = defaults::AUTH_TOKEN_TTL, help_heading = "Auth")]
    pub auth_token_ttl: String,

    /// Cost of the bcrypt password hashes, 4 to 31 (another value: 10, as in etcd).
    #[arg(long, env = "ETCD_BCRYPT_COST", value_name = "COST", default_value = defaults::BCRYPT_COST, help_heading = "Auth")]
    pub bcrypt_cost: String,

    // ----- Logging -----
    /// Logger; zap is the only one.
    #[arg(long, env = "ETCD_LOGGER", value_name = "LOGGER", default_value = defaults::LOGGER, help_heading = "Logging")]
    pub logger: String,

    /// Comma-separated log targets: default, stderr, stdout, or file paths.
    #[arg(long, env = "ETCD_LOG_OUTPUTS", value_name = "TARGETS", default_value = defaults::LOG_OUTPUTS, help_heading = "Logging")]
    pub log_outputs: String,

    /// Log level: debug, info, warn, error, panic or fatal.
    #[arg(long, env = "ETCD_LOG_LEVEL", value_name = "LEVEL", default_value = defaults::LOG_LEVEL, help_heading = "Logging")]
    pub log_level: String,

    // ----- Experimental and unsafe -----
    /// Persist lease remaining TTLs at the primary lessor so long-lived leases do not renew
    /// themselves forever across leader changes.
    #[arg(long, env = "ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Experimental")]
    pub experimental_enable_lease_checkpoint: bool,

    /// How often the leader records leases' remaining TTLs (a Go duration such as 5m). A cairn
    /// extension: etcd 3.5.1 fixes it at 5 minutes.
    #[arg(long, env = "ETCD_EXPERIMENTAL_LEASE_CHECKPOINT_INTERVAL", value_name = "DURATION", default_value = defaults::LEASE_CHECKPOINT_INTERVAL, help_heading = "Experimental")]
    pub experimental_lease_checkpoint_interval: String,

    /// How often the leader compares its HashKV with every member's and raises CORRUPT on a
    /// mismatch (a Go duration; 0 turns the check off). etcd's default is 0; cairn's is on.
    #[arg(long, env = "ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME", value_name = "DURATION", default_value = defaults::CORRUPT_CHECK_TIME, help_heading = "Experimental")]
    pub experimental_corrupt_check_time: String,

    /// Interval between watch progress notifications (a Go duration such as 10m).
    #[arg(long, env = "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL", value_name = "DURATION", default_value = defaults::WATCH_PROGRESS_NOTIFY_INTERVAL, help_heading = "Experimental")]
    pub experimental_watch_progress_notify_interval: String,

    /// Accepted for etcd compatibility; no effect: cairn does not compare
    /// hashes with its peers before serving (the periodic check,
    /// --experimental-corrupt-check-time, runs from start-up on).
    #[arg(long, env = "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Experimental")]
    pub experimental_initial_corrupt_check: bool,

    /// Force a new one-member cluster from this member's data.
    #[arg(long, env = "ETCD_FORCE_NEW_CLUSTER", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool, action = ArgAction::Set, help_heading = "Unsafe")]
    pub force_new_cluster: bool,

    /// The flags of [`compat`](super::compat), by name, as given or
    /// defaulted (all defaulted when the settings come from a file).
    #[arg(skip)]
    pub compat: Vec<(&'static str, String)>,
}

/// The clap definition of cairn's command line, which its man page and
/// shell completions are generated from. It carries a long description for
/// the man page; `--help` keeps its one-screen layout (a long description
/// would switch clap to the long one).
pub fn command() -> clap::Command {
    Flags::command()
        .args(super::compat::args())
        .long_about(format!("cairn is {ABOUT}.\n\n{SOURCES}"))
}

impl Flags {
    /// Parses argv (including `argv[0]`) after [`normalize_go_args`], with
    /// the process environment as the fallback. On a usage error the clap
    /// error is returned for the caller to print and exit with.
    pub fn try_parse_go<I, T>(args: I) -> Result<Flags, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let matches = command().try_get_matches_from(normalize_go_args(args))?;
        let mut flags = Flags::from_arg_matches(&matches)?;
        flags.compat = super::compat::values(&matches);
        Ok(flags)
    }
}

/// Rewrites Go-style single-dash long flags (`-name x`, `-pre-vote=false`)
/// to the double-dash form clap expects. Only names of known long flags are
/// rewritten, never the value that follows a flag which takes one, and
/// nothing after a `--` terminator.
pub fn normalize_go_args<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let command = command();
    // Long name -> whether it takes the next argument as its value.
    let mut known: HashMap<&str, bool> = command
        .get_arguments()
        .filter_map(|arg| {
            let takes_next = arg.get_action().takes_values() && !arg.is_require_equals_set();
            arg.get_long().map(|long| (long, takes_next))
        })
        .collect();
    known.insert("help", false);

    let mut args = args.into_iter().map(Into::into);
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let mut next_is_value = false;
    while let Some(arg) = args.next() {
        if std::mem::take(&mut next_is_value) {
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        let body = match text.strip_prefix("--") {
            Some(body) => body,
            None => match text.strip_prefix('-') {
                Some(body) if !body.is_empty() => body,
                _ => {
                    out.push(arg);
                    continue;
                }
            },
        };
        let (name, has_inline_value) = match body.split_once('=') {
            Some((name, _)) => (name, true),
            None => (body, false),
        };
        match known.get(name) {
            Some(&takes_next) => {
                next_is_value = takes_next && !has_inline_value;
                out.push(format!("--{body}").into());
            }
            None => out.push(arg),
        }
    }
    out
}

/// `ETCD_*` variables that name no flag, for a warning: etcd warns about
/// them too, and a typo there otherwise goes unnoticed.
pub fn unrecognized_env_vars<I, K>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = K>,
    K: Into<OsString>,
{
    let command = command();
    let known: Vec<&std::ffi::OsStr> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .collect();
    names
        .into_iter()
        .map(Into::into)
        .filter(|name| {
            name.to_str().is_some_and(|n| n.starts_with("ETCD_"))
                && !known.contains(&name.as_os_str())
        })
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}
