//! etcd 3.5's defaults, in one place, so the flag definitions, the config
//! file reader and the resolver cannot drift apart. Values are kept as the
//! text a user would type, because that is what both sources start from.

pub const NAME: &str = "default";
/// The data dir defaults to `${name}` plus this suffix (etcd uses `.etcd`).
pub const DATA_DIR_SUFFIX: &str = ".cairn";
pub const LISTEN_CLIENT_URLS: &str = "http://localhost:2379";
pub const ADVERTISE_CLIENT_URLS: &str = "http://localhost:2379";
pub const LISTEN_PEER_URLS: &str = "http://localhost:2380";
pub const INITIAL_ADVERTISE_PEER_URLS: &str = "http://localhost:2380";
/// What `--initial-cluster` means when it is not given and the name is
/// still `default`. With any other name the resolver derives
/// `<name>=<initial-advertise-peer-urls>` instead, as etcd does.
pub const INITIAL_CLUSTER: &str = "default=http://localhost:2380";
pub const INITIAL_CLUSTER_STATE: &str = "new";
/// The token feeds the member IDs, so it must equal etcd's for the two to
/// agree on the IDs of an identically configured cluster.
pub const INITIAL_CLUSTER_TOKEN: &str = "etcd-cluster";
pub const HEARTBEAT_INTERVAL_MS: &str = "100";
pub const ELECTION_TIMEOUT_MS: &str = "1000";
pub const SNAPSHOT_COUNT: &str = "100000";
pub const MAX_SNAPSHOTS: &str = "5";
pub const MAX_WALS: &str = "5";
pub const QUOTA_BACKEND_BYTES: &str = "0";
pub const MAX_TXN_OPS: &str = "128";
pub const MAX_REQUEST_BYTES: &str = "1572864";
pub const PRE_VOTE: &str = "true";
pub const STRICT_RECONFIG_CHECK: &str = "true";
pub const AUTO_COMPACTION_MODE: &str = "periodic";
pub const AUTO_COMPACTION_RETENTION: &str = "0";
pub const LISTEN_METRICS_URLS: &str = "";
pub const LOG_LEVEL: &str = "info";
pub const LOGGER: &str = "zap";
pub const LOG_OUTPUTS: &str = "default";
pub const WATCH_PROGRESS_NOTIFY_INTERVAL: &str = "10m";
/// `--experimental-lease-checkpoint-interval` (cairn's own flag): etcd 3.5.1's
/// fixed checkpoint interval.
pub const LEASE_CHECKPOINT_INTERVAL: &str = "5m0s";
/// `--experimental-corrupt-check-time`: etcd's default is 0 (never); cairn
/// checks that members agree every five minutes unless told otherwise.
pub const CORRUPT_CHECK_TIME: &str = "5m0s";

/// The backend quota that `--quota-backend-bytes 0` stands for: 2 GiB.
pub const BACKEND_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// etcd refuses election timeouts above this many milliseconds.
pub const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;
/// The election timeout must be at least this many heartbeat intervals.
pub const MIN_ELECTION_TO_HEARTBEAT_RATIO: u64 = 5;

/// Years a self-signed certificate (`--auto-tls`, `--peer-auto-tls`) lasts.
pub const SELF_SIGNED_CERT_VALIDITY: &str = "1";

/// `--auth-token`: etcd's simple tokens.
pub const AUTH_TOKEN: &str = "simple";
/// `--auth-token-ttl`, in seconds; 0 stands for this too, as in etcd.
pub const AUTH_TOKEN_TTL: &str = "300";
pub const AUTH_TOKEN_TTL_SECS: u64 = 300;
/// A JWT's lifetime when `--auth-token jwt,...` names no `ttl`.
pub const JWT_TTL: &str = "5m";
/// `--bcrypt-cost`: Go's bcrypt default, and what etcd uses instead of a
/// cost outside bcrypt's range.
pub const BCRYPT_COST: &str = "10";
pub const BCRYPT_COST_DEFAULT: u32 = 10;
pub const BCRYPT_COST_RANGE: std::ops::RangeInclusive<u64> = 4..=31;
